"""Read-side queries for the ward bed board (latest vitals and NEWS2 per patient)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on
from sqlmodel import Session, select

from healthguard.incidents.service import initials
from healthguard.models import Admission, Bed, News2Score, Observation, Patient, Ward
from healthguard.patients.phi import display_names
from healthguard.settings import get_settings


@dataclass(frozen=True)
class WardRow:
    id: str
    code: str
    name: str


@dataclass(frozen=True)
class LatestValue:
    value: float | None
    value_text: str | None
    unit: str
    observed_at: datetime


@dataclass(frozen=True)
class News2Value:
    """One stored NEWS2 score (healthguard.clinical.news2): total, partial, risk band."""

    total: int
    partial: bool
    risk: str  # low / low-medium / medium / high
    observed_at: datetime


@dataclass(frozen=True)
class BedRow:
    ward_code: str
    bed_label: str
    patient_id: str | None
    patient_initials: str
    spo2_scale: int | None
    latest: dict[str, LatestValue] = field(default_factory=dict)
    news2: tuple[News2Value, ...] = ()  # the latest two fresh scores, newest first

    @property
    def last_observed_at(self) -> datetime | None:
        return max((v.observed_at for v in self.latest.values()), default=None)


def list_wards(session: Session) -> list[WardRow]:
    wards = session.exec(select(Ward).order_by(Ward.code)).all()
    return [WardRow(id=str(w.id), code=w.code, name=w.name) for w in wards]


def latest_vitals(
    session: Session, patient_ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[str, LatestValue]]:
    """The newest value of every parameter for each patient (one indexed query)."""
    if not patient_ids:
        return {}
    obs = Observation.__table__  # type: ignore[attr-defined]
    stmt = (
        sa.select(
            obs.c.patient_id,
            obs.c.parameter,
            obs.c.value,
            obs.c.value_text,
            obs.c.unit,
            obs.c.observed_at,
        )
        .where(obs.c.patient_id.in_(patient_ids))
        .ext(distinct_on(obs.c.patient_id, obs.c.parameter))
        .order_by(obs.c.patient_id, obs.c.parameter, obs.c.observed_at.desc())
    )
    result: dict[uuid.UUID, dict[str, LatestValue]] = {}
    for pid, parameter, value, value_text, unit, observed_at in session.execute(stmt):
        result.setdefault(pid, {})[parameter] = LatestValue(value, value_text, unit, observed_at)
    return result


def latest_news2(
    session: Session, patient_ids: list[uuid.UUID], *, since: datetime, count: int = 2
) -> dict[uuid.UUID, tuple[News2Value, ...]]:
    """The `count` newest NEWS2 scores observed at or after `since` for each patient,
    newest first, in one query (a LATERAL top-`count` per patient, each an index scan of
    news2_scores' (patient_id, observed_at) key however many scores a patient has)."""
    if not patient_ids:
        return {}
    scores = News2Score.__table__  # type: ignore[attr-defined]
    patients = Patient.__table__  # type: ignore[attr-defined]
    newest = (
        sa.select(scores.c.total, scores.c.partial, scores.c.risk, scores.c.observed_at)
        .where(scores.c.patient_id == patients.c.id, scores.c.observed_at >= since)
        .order_by(scores.c.observed_at.desc())
        .limit(count)
        .lateral("newest")
    )
    stmt = (
        sa.select(
            patients.c.id, newest.c.total, newest.c.partial, newest.c.risk, newest.c.observed_at
        )
        .select_from(patients.join(newest, sa.true()))
        .where(patients.c.id.in_(patient_ids))
        .order_by(patients.c.id, newest.c.observed_at.desc())
    )
    found: dict[uuid.UUID, list[News2Value]] = {}
    for pid, total, partial, risk, observed_at in session.execute(stmt):
        found.setdefault(pid, []).append(News2Value(int(total), bool(partial), risk, observed_at))
    return {pid: tuple(values) for pid, values in found.items()}


def ward_board(
    session: Session, ward_code: str | None = None, *, now: datetime | None = None
) -> list[BedRow]:
    """Every bed of a ward (or of all wards) with its patient, latest vitals and latest two
    NEWS2 scores within the NEWS2 freshness window before `now` (default: the clock)."""
    stmt = (
        select(Bed, Ward.code, Patient)
        .join(Ward, Ward.id == Bed.ward_id)  # type: ignore[arg-type]
        .join(
            Admission,
            sa.and_(Admission.bed_id == Bed.id, Admission.discharged_at.is_(None)),  # type: ignore[union-attr,arg-type]
            isouter=True,
        )
        .join(Patient, Patient.id == Admission.patient_id, isouter=True)  # type: ignore[arg-type]
        # Natural order within a ward: B2 before B10.
        .order_by(Ward.code, sa.func.length(Bed.label), Bed.label)
    )
    if ward_code:
        stmt = stmt.where(Ward.code == ward_code.upper())
    rows = session.exec(stmt).all()
    patient_ids = [p.id for _, _, p in rows if p is not None]
    vitals = latest_vitals(session, patient_ids)
    freshness = timedelta(seconds=get_settings().news2_freshness_seconds)
    news2 = latest_news2(session, patient_ids, since=(now or datetime.now(UTC)) - freshness)
    return [
        BedRow(
            ward_code=code,
            bed_label=bed.label,
            patient_id=str(patient.id) if patient else None,
            patient_initials=(
                initials(
                    *display_names(patient.id, patient.given_name_enc, patient.family_name_enc)
                )
                if patient
                else ""
            ),
            spo2_scale=patient.spo2_scale if patient else None,
            latest=vitals.get(patient.id, {}) if patient else {},
            news2=news2.get(patient.id, ()) if patient else (),
        )
        for bed, code, patient in rows
    ]
