"""What the patient page shows, read with the same access rule and audit as the API.

Reading a patient's identity or vitals history is a PHI access: `record_phi_read` writes the
same audit rows as GET /api/v1/patients/{id} and /vitals (``patient.read`` / ``vitals.read``
with ``{"access": "scope" | "break_glass"}``, plus a flagged ``break_glass.used``); the API
uses it too. `load_patient_page` answers None for a patient the person may not see, exactly
as for one that does not exist.

Trends are downsampled in Postgres (``date_bin``): per parameter and time bucket the mean,
lowest and highest reading, so a dip between normal readings still shows. NEWS2 over time is
the highest stored score (news2_scores, written by the triage worker) per bucket, with its
``partial`` flag.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on
from sqlmodel import Session, col, select

from healthguard.alarms.pauses import active_pauses
from healthguard.clinical.news2_bands import TRENDED
from healthguard.incidents.priority import PRIORITY_STYLES
from healthguard.incidents.service import initials
from healthguard.models import (
    Admission,
    Alert,
    Bed,
    Incident,
    News2Score,
    Observation,
    Patient,
    Ward,
)
from healthguard.patients.phi import keyring_from_settings, read_identity
from healthguard.security.audit import AuditAction, record_audit
from healthguard.security.permissions import Principal
from healthguard.security.scope import patient_access
from healthguard.wards.service import latest_vitals

# The chart windows a nurse can choose, and the bucket each is drawn in (<= 240 points).
WINDOWS: dict[str, timedelta] = {
    "2h": timedelta(hours=2),
    "12h": timedelta(hours=12),
    "24h": timedelta(hours=24),
}
DEFAULT_WINDOW = "2h"
MAX_POINTS = 240
HISTORY_LIMIT = 50


def window_of(text: str) -> timedelta:
    """The chart window named `text` ("2h", "12h", "24h"); ValueError naming the field."""
    try:
        return WINDOWS[text]
    except KeyError:
        raise ValueError(f"window: must be one of {', '.join(WINDOWS)}") from None


def bucket_seconds(window: timedelta, max_points: int = MAX_POINTS) -> int:
    """Bucket length so that a window holds at most `max_points` buckets (at least 10 s)."""
    return max(10, -(-int(window.total_seconds()) // max_points))


def record_phi_read(
    session: Session,
    principal: Principal,
    action: str,
    patient_id: uuid.UUID,
    via: str,
    *,
    now: datetime,
    ip: str | None = None,
    user_agent: str | None = None,
) -> None:
    """Audit one read of a patient's PHI (the API's and the patient page's rows)."""
    record_audit(
        session,
        actor=principal.audit_name,
        action=action,
        record_type="patient",
        record_id=str(patient_id),
        ip=ip,
        user_agent=user_agent,
        details={"access": via},
        now=now,
    )
    if via == "break_glass":
        record_audit(
            session,
            actor=principal.audit_name,
            action="break_glass.used",
            record_type="patient",
            record_id=str(patient_id),
            outcome="flagged",
            ip=ip,
            user_agent=user_agent,
            details={"read": action},
            now=now,
        )


@dataclass(frozen=True)
class TrendPoint:
    at: datetime  # the start of the bucket
    mean: float
    low: float
    high: float
    count: int


@dataclass(frozen=True)
class News2Point:
    at: datetime
    total: int
    partial: bool
    risk: str


@dataclass(frozen=True)
class HistoryItem:
    """One line of the alerts and incidents history."""

    kind: str  # "incident" or "alert"
    at: datetime
    priority: str
    priority_label: str
    text: str
    status: str
    incident_id: str | None = None
    incident_number: int | None = None


@dataclass(frozen=True)
class PauseInfo:
    reason: str
    paused_by: str
    ends_at: datetime


@dataclass(frozen=True)
class PatientPage:
    id: str
    access: str  # "scope" or "break_glass"
    name: str
    initials: str
    mrn: str
    date_of_birth: date
    sex: str
    allergies: str
    ward_code: str
    ward_name: str
    bed_label: str
    spo2_scale: int
    on_oxygen: bool | None
    latest: dict[str, tuple[float | None, str | None, datetime]]
    trends: dict[str, list[TrendPoint]] = field(default_factory=dict)
    news2: list[News2Point] = field(default_factory=list)
    history: list[HistoryItem] = field(default_factory=list)
    pause: PauseInfo | None = None


def _bucket(seconds: int, column: str) -> sa.ColumnElement[datetime]:
    """date_bin over a constant origin (no bound parameter, so GROUP BY and DISTINCT ON
    repeat exactly the same expression)."""
    return sa.literal_column(
        f"date_bin(interval '{int(seconds)} seconds', {column}, "
        "timestamptz '2000-01-01 00:00:00+00')",
        type_=sa.DateTime(timezone=True),
    )


def vital_trends(
    session: Session, patient_id: uuid.UUID, *, since: datetime, until: datetime, bucket: int
) -> dict[str, list[TrendPoint]]:
    """Per charted parameter, the readings in [since, until] by bucket of `bucket` seconds."""
    obs = Observation.__table__  # type: ignore[attr-defined]
    binned = _bucket(bucket, "observed_at")
    stmt = (
        sa.select(
            obs.c.parameter,
            binned,
            sa.func.avg(obs.c.value),
            sa.func.min(obs.c.value),
            sa.func.max(obs.c.value),
            sa.func.count(obs.c.value),
        )
        .where(
            obs.c.patient_id == patient_id,
            obs.c.parameter.in_([p for p, _, _ in TRENDED]),
            obs.c.observed_at >= since,
            obs.c.observed_at <= until,
            obs.c.value.is_not(None),
            obs.c.value != float("nan"),
        )
        .group_by(obs.c.parameter, binned)
        .order_by(obs.c.parameter, binned)
    )
    out: dict[str, list[TrendPoint]] = {p: [] for p, _, _ in TRENDED}
    for parameter, at, mean, low, high, count in session.execute(stmt):
        out[parameter].append(TrendPoint(at, float(mean), float(low), float(high), int(count)))
    return out


def news2_trend(
    session: Session, patient_id: uuid.UUID, *, since: datetime, until: datetime, bucket: int
) -> list[News2Point]:
    """The highest stored NEWS2 per bucket (the most worrying one), oldest first."""
    scores = News2Score.__table__  # type: ignore[attr-defined]
    binned = _bucket(bucket, "observed_at")
    stmt = (
        sa.select(scores.c.observed_at, scores.c.total, scores.c.partial, scores.c.risk)
        .where(
            scores.c.patient_id == patient_id,
            scores.c.observed_at >= since,
            scores.c.observed_at <= until,
        )
        .ext(distinct_on(binned))
        .order_by(binned, scores.c.total.desc(), scores.c.observed_at.desc())
    )
    return [
        News2Point(at, int(total), bool(partial), risk)
        for at, total, partial, risk in session.execute(stmt)
    ]


def patient_history(
    session: Session, patient_id: uuid.UUID, limit: int = HISTORY_LIMIT
) -> list[HistoryItem]:
    """The patient's incidents and alerts, newest first (alerts that joined an incident are
    listed too: they show what triggered it; suppressed ones say why)."""
    incidents = session.exec(
        select(Incident)
        .where(Incident.patient_id == patient_id)
        .order_by(col(Incident.opened_at).desc())
        .limit(limit)
    ).all()
    alerts = session.exec(
        select(Alert)
        .where(Alert.patient_id == patient_id)
        .order_by(col(Alert.created_at).desc())
        .limit(limit)
    ).all()
    numbers = {i.id: i.number for i in incidents}
    items = [
        HistoryItem(
            kind="incident",
            at=i.opened_at,
            priority=i.priority,
            priority_label=PRIORITY_STYLES[i.priority].label,
            text=i.title,
            status=i.status.replace("_", " "),
            incident_id=str(i.id),
            incident_number=i.number,
        )
        for i in incidents
    ]
    for a in alerts:
        if a.suppressed_reason:
            status = f"no incident: {a.suppressed_reason}"
        elif a.incident_id is not None:
            status = "part of an incident"
        else:
            status = "recorded"
        items.append(
            HistoryItem(
                kind="alert",
                at=a.created_at,
                priority=a.priority,
                priority_label=PRIORITY_STYLES[a.priority].label,
                text=a.summary,
                status=status,
                incident_id=str(a.incident_id) if a.incident_id else None,
                incident_number=numbers.get(a.incident_id) if a.incident_id else None,
            )
        )
    items.sort(key=lambda item: item.at, reverse=True)
    return items[:limit]


def _location(session: Session, patient_id: uuid.UUID) -> tuple[str, str, str]:
    row = session.exec(
        select(Ward.code, Ward.name, Bed.label)
        .join(Bed, col(Bed.ward_id) == col(Ward.id))
        .join(Admission, col(Admission.bed_id) == col(Bed.id))
        .where(Admission.patient_id == patient_id, col(Admission.discharged_at).is_(None))
    ).first()
    return (row[0], row[1], row[2]) if row else ("", "", "")


def patient_ward_code(session: Session, patient_id: uuid.UUID) -> str | None:
    """The code of the ward the patient is admitted to (None: not admitted)."""
    return _location(session, patient_id)[0] or None


def load_patient_page(
    session: Session,
    principal: Principal,
    patient_id: uuid.UUID,
    *,
    window: timedelta,
    now: datetime,
    audit: bool,
    ip: str | None = None,
    user_agent: str | None = None,
) -> PatientPage | None:
    """Everything the patient page shows, or None when the person may not see the patient.

    With ``audit`` the read is recorded like the API's two reads (``patient.read`` and
    ``vitals.read``); the page's live refresh of an already opened (and audited) view passes
    False, but still re-checks access every time."""
    via = patient_access(session, principal, patient_id, now=now)
    patient = session.get(Patient, patient_id) if via else None
    if patient is None or via is None:
        return None
    identity = read_identity(patient, keyring_from_settings())
    ward_code, ward_name, bed_label = _location(session, patient_id)
    latest = latest_vitals(session, [patient_id]).get(patient_id, {})
    oxygen = latest.get("on_oxygen")
    since, bucket = now - window, bucket_seconds(window)
    pause = active_pauses(session, [patient_id], now=now).get(patient_id)
    page = PatientPage(
        id=str(patient_id),
        access=via,
        name=f"{identity.given_name} {identity.family_name}".strip(),
        initials=initials(identity.given_name, identity.family_name),
        mrn=identity.mrn,
        date_of_birth=identity.date_of_birth,
        sex=patient.sex,
        allergies=identity.allergies,
        ward_code=ward_code,
        ward_name=ward_name,
        bed_label=bed_label,
        spo2_scale=patient.spo2_scale,
        on_oxygen=None if oxygen is None or oxygen.value is None else oxygen.value >= 0.5,
        latest={k: (v.value, v.value_text, v.observed_at) for k, v in latest.items()},
        trends=vital_trends(session, patient_id, since=since, until=now, bucket=bucket),
        news2=news2_trend(session, patient_id, since=since, until=now, bucket=bucket),
        history=patient_history(session, patient_id),
        pause=PauseInfo(pause.reason, pause.paused_by, pause.ends_at) if pause else None,
    )
    if audit:
        for action in (AuditAction.PATIENT_READ, AuditAction.VITALS_READ):
            record_phi_read(
                session, principal, action, patient_id, via, now=now, ip=ip, user_agent=user_agent
            )
    return page


def utc_iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()
