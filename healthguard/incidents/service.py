"""Incident service functions: one per action, each taking a session and an explicit clock.

The API, the UI, the RQ jobs and (later) webhooks all call these, so every path writes the
same rows and timeline entries. Callers commit; change events are published after commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from healthguard.incidents.lifecycle import TimelineEntry
from healthguard.incidents.priority import PRIORITIES, validate_priority
from healthguard.incidents.timeline import write_entries
from healthguard.models import Bed, Incident, Notification, Patient, Ward
from healthguard.models.incidents import DONE_STATUSES, IncidentStatus
from healthguard.models.notifications import NotificationStatus
from healthguard.patients.phi import display_names
from healthguard.security.audit import record_audit


class IncidentInputError(ValueError):
    """Bad input for an incident action; `field` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class OpenIncidentRow:
    """What a queue card shows. Patient identity is reduced to initials on shared screens."""

    id: str
    number: int
    priority: str
    status: str
    title: str
    summary: str
    ward_code: str
    bed_label: str
    patient_initials: str
    opened_at: datetime
    acknowledged: bool


def open_incident(
    session: Session,
    *,
    title: str,
    priority: str,
    now: datetime,
    summary: str = "",
    ward_code: str | None = None,
    bed_label: str | None = None,
    source: str = "manual",
    actor: str = "system",
    dedup_key: str | None = None,
    note: str | None = None,
    raised_by: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
) -> Incident:
    """Open an incident (and its first timeline entry, with ``note``, free text typed by a
    person, encrypted). Flushes; the caller commits."""
    title = (title or "").strip()
    if not title:
        raise IncidentInputError("title", "must not be empty")
    if len(title) > 300:
        raise IncidentInputError("title", "must be at most 300 characters")
    try:
        priority = validate_priority(priority)
    except ValueError as exc:
        raise IncidentInputError("priority", str(exc)) from exc
    if now.tzinfo is None:
        raise IncidentInputError("now", "must be timezone-aware")

    ward: Ward | None = None
    bed: Bed | None = None
    patient_id: uuid.UUID | None = None
    if ward_code:
        ward = session.exec(select(Ward).where(Ward.code == ward_code.upper())).first()
        if ward is None:
            raise IncidentInputError("ward_code", f"no ward with code {ward_code!r}")
    if bed_label:
        if ward is None:
            raise IncidentInputError("bed_label", "needs a ward_code")
        bed = session.exec(
            select(Bed).where(Bed.ward_id == ward.id, Bed.label == bed_label)
        ).first()
        if bed is None:
            raise IncidentInputError("bed_label", f"no bed {bed_label!r} in ward {ward.code}")
        patient_id = current_patient_in_bed(session, bed.id)

    incident = Incident(
        title=title,
        summary=summary,
        priority=priority,
        status=IncidentStatus.TRIGGERED.value,
        ward_id=ward.id if ward else None,
        bed_id=bed.id if bed else None,
        patient_id=patient_id,
        source=source,
        dedup_key=dedup_key,
        raised_by=raised_by,
        opened_at=now,
        updated_at=now,
    )
    session.add(incident)
    session.flush()
    data: dict[str, Any] = {"source": source}
    if raised_by:
        data["raised_by"] = raised_by
    write_entries(
        session,
        incident.id,
        [TimelineEntry("opened", actor, now, f"{priority} opened: {title}", data, note)],
    )
    record_audit(
        session,
        actor=actor,
        action="incident.opened",
        record_type="incident",
        record_id=str(incident.id),
        ip=ip,
        user_agent=user_agent,
        details={"priority": priority, "source": source, "number": incident.number},
        now=now,
    )
    session.flush()
    # Someone must come: assignment and the first escalation step, in this transaction
    # (notifications leave after the commit; docs/NOTIFICATION_FLOW.md).
    from healthguard.oncall import dispatch

    dispatch.on_incident_opened(session, incident, now=now)
    return incident


def current_patient_in_bed(session: Session, bed_id: uuid.UUID) -> uuid.UUID | None:
    from healthguard.models import Admission

    return session.exec(
        select(Admission.patient_id).where(
            Admission.bed_id == bed_id,
            Admission.discharged_at.is_(None),  # type: ignore[union-attr]
        )
    ).first()


def incident_rows_query() -> Any:
    """SELECT incident, ward code, bed label and the patient's encrypted names (for the
    initials): the base of every incident list (the dashboard queue and the API search)."""
    columns: list[Any] = [
        Incident,
        Ward.code,
        Bed.label,
        Patient.given_name_enc,
        Patient.family_name_enc,
    ]
    return (
        sa.select(*columns)
        .join(Ward, col(Ward.id) == col(Incident.ward_id), isouter=True)
        .join(Bed, col(Bed.id) == col(Incident.bed_id), isouter=True)
        .join(Patient, col(Patient.id) == col(Incident.patient_id), isouter=True)
    )


def visible_to(ward_ids: Collection[str], or_assigned_to: str | None) -> sa.ColumnElement[bool]:
    """Incidents of these wards (ids), widened by those assigned to staff `or_assigned_to`."""
    visible: sa.ColumnElement[bool] = col(Incident.ward_id).in_([uuid.UUID(w) for w in ward_ids])
    if or_assigned_to:
        visible = sa.or_(visible, col(Incident.assignee_staff_id) == uuid.UUID(or_assigned_to))
    return visible


def list_open_incidents(
    session: Session,
    *,
    ward_id: uuid.UUID | None = None,
    visible_wards: Collection[str] | None = None,
    or_assigned_to: str | None = None,
    for_staff: uuid.UUID | None = None,
    limit: int = 200,
) -> list[OpenIncidentRow]:
    """Open incidents, P0 first, then the oldest first (the dashboard queue).

    `ward_id`: one ward only. `visible_wards` (ward ids) limits the list to a person's ward
    scope, widened by the incidents assigned to staff member `or_assigned_to`. `for_staff`:
    only the incidents assigned to that staff member or about which they were notified (the
    phone's "my alarms")."""
    priority_rank = sa.case({p: i for i, p in enumerate(PRIORITIES)}, value=Incident.priority)
    stmt = (
        incident_rows_query()
        .where(col(Incident.status).not_in(DONE_STATUSES))
        .order_by(priority_rank, col(Incident.opened_at))
        .limit(limit)
    )
    if ward_id is not None:
        stmt = stmt.where(col(Incident.ward_id) == ward_id)
    if visible_wards is not None:
        stmt = stmt.where(visible_to(visible_wards, or_assigned_to))
    if for_staff is not None:
        notified = sa.exists(
            sa.select(col(Notification.id)).where(
                col(Notification.incident_id) == col(Incident.id),
                col(Notification.staff_id) == for_staff,
                col(Notification.status) != NotificationStatus.CANCELLED.value,
            )
        )
        stmt = stmt.where(sa.or_(col(Incident.assignee_staff_id) == for_staff, notified))
    rows = []
    for incident, ward_code, bed_label, given_enc, family_enc in session.execute(stmt).all():
        given, family = display_names(incident.patient_id, given_enc, family_enc)
        rows.append(
            OpenIncidentRow(
                id=str(incident.id),
                number=int(incident.number or 0),
                priority=incident.priority,
                status=incident.status,
                title=incident.title,
                summary=incident.summary,
                ward_code=ward_code or "",
                bed_label=bed_label or "",
                patient_initials=initials(given, family),
                opened_at=incident.opened_at,
                acknowledged=incident.status
                in (IncidentStatus.ACKNOWLEDGED.value, IncidentStatus.IN_PROGRESS.value),
            )
        )
    return rows


def initials(given: str | None, family: str | None) -> str:
    parts = [p for p in (given, family) if p]
    return "".join(p.strip()[0].upper() + "." for p in parts if p.strip())


def staff_concerned_by(session: Session, incident_id: uuid.UUID) -> list[uuid.UUID]:
    """The staff whose own alarm list shows this incident: its assignee and everyone notified
    about it (a cancelled notification never reached them)."""
    notified = session.execute(
        sa.select(col(Notification.staff_id)).where(
            col(Notification.incident_id) == incident_id,
            col(Notification.status) != NotificationStatus.CANCELLED.value,
        )
    ).scalars()
    people: set[uuid.UUID] = set(notified)
    assignee = session.execute(
        sa.select(col(Incident.assignee_staff_id)).where(col(Incident.id) == incident_id)
    ).scalar()
    if assignee is not None:
        people.add(assignee)
    return sorted(people)


@dataclass(frozen=True)
class QueueExtras:
    """What a queue card adds to an `OpenIncidentRow`: who has it, who acknowledged it and
    where its escalation stands (staff names, never patient data)."""

    assignee: str  # the assigned staff member's display name ("" when unassigned)
    acknowledged_by: str  # who acknowledged, by display name ("" when not acknowledged)
    escalation_step: int  # 0-based, as `Incident.escalation_step`
    escalation_steps: int | None  # steps of its policy (None: no policy)
    has_escalation: bool  # an escalation run exists for it
    escalating: bool  # the run is escalating (not stopped by an acknowledgement)
    next_step_at: datetime | None  # when the next step is due, while escalating


def queue_extras(session: Session, incident_ids: Collection[str]) -> dict[str, QueueExtras]:
    """`QueueExtras` of these incidents (ids as strings), in one query whatever their
    number: the queue is reloaded on every change, so this stays one round trip."""
    from sqlalchemy.orm import aliased

    from healthguard.models import EscalationPolicy, IncidentEscalation, Staff, User

    if not incident_ids:
        return {}
    assignee = aliased(Staff)
    ack_user = aliased(User)
    ack_staff = aliased(Staff)
    state = col(IncidentEscalation.state)
    steps = sa.func.jsonb_array_length(col(EscalationPolicy.definition)["steps"])
    columns: list[Any] = [
        col(Incident.id),
        col(Incident.status),
        col(Incident.escalation_step),
        col(Incident.acknowledged_by),
        col(assignee.display_name),
        col(ack_staff.display_name),
        state["acknowledged_by"]["name"].astext,
        state["status"].astext,
        col(IncidentEscalation.incident_id),
        col(IncidentEscalation.next_due_at),
        sa.case(
            (sa.func.jsonb_typeof(col(EscalationPolicy.definition)["steps"]) == "array", steps),
            else_=None,
        ),
    ]
    stmt = (
        sa.select(*columns)
        .select_from(Incident)
        .join(assignee, col(assignee.id) == col(Incident.assignee_staff_id), isouter=True)
        .join(ack_user, col(ack_user.username) == col(Incident.acknowledged_by), isouter=True)
        .join(ack_staff, col(ack_staff.id) == col(ack_user.staff_id), isouter=True)
        .join(
            IncidentEscalation,
            col(IncidentEscalation.incident_id) == col(Incident.id),
            isouter=True,
        )
        .join(
            EscalationPolicy,
            col(EscalationPolicy.id) == col(Incident.escalation_policy_id),
            isouter=True,
        )
        .where(col(Incident.id).in_([uuid.UUID(i) for i in incident_ids]))
    )
    acknowledged = (IncidentStatus.ACKNOWLEDGED.value, IncidentStatus.IN_PROGRESS.value)
    extras: dict[str, QueueExtras] = {}
    for (
        incident_id,
        status,
        step,
        acked_by,
        assignee_name,
        ack_staff_name,
        ack_state_name,
        run_status,
        run_id,
        next_due_at,
        step_count,
    ) in session.execute(stmt).all():
        escalating = run_status == "escalating"
        extras[str(incident_id)] = QueueExtras(
            assignee=assignee_name or "",
            acknowledged_by=(ack_staff_name or ack_state_name or acked_by or "")
            if status in acknowledged
            else "",
            escalation_step=int(step or 0),
            escalation_steps=int(step_count) if step_count else None,
            has_escalation=run_id is not None,
            escalating=escalating,
            next_step_at=next_due_at if escalating else None,
        )
    return extras
