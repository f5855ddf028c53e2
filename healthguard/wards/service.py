"""Read-side queries for the ward bed board (latest vitals per patient)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on
from sqlmodel import Session, select

from healthguard.incidents.service import initials
from healthguard.models import Admission, Bed, Observation, Patient, Ward
from healthguard.patients.phi import display_names


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
class BedRow:
    ward_code: str
    bed_label: str
    patient_id: str | None
    patient_initials: str
    spo2_scale: int | None
    latest: dict[str, LatestValue] = field(default_factory=dict)

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


def ward_board(session: Session, ward_code: str | None = None) -> list[BedRow]:
    """Every bed of a ward (or of all wards) with its patient and latest vitals."""
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
    vitals = latest_vitals(session, [p.id for _, _, p in rows if p is not None])
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
        )
        for bed, code, patient in rows
    ]
