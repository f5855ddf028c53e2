"""What people (and machines) do to an incident: one path for every action, called by the
API, the UI and (later) webhooks alike, so each writes the same rows, timeline entries and
audit record.

``perform(session, incident_id, command, principal=..., now=...)``:

1. loads the incident ``FOR UPDATE`` (a second writer waits for the first to commit, then
   sees what it did) and checks that the person may see it (``IncidentNotFound`` otherwise,
   exactly like an incident that does not exist);
2. builds the ``IncidentView`` (with the active responders) and asks the pure state machine
   (``healthguard.incidents.lifecycle.plan``);
3. on a ``Plan``, writes in the caller's transaction: the incident's new columns with
   ``UPDATE incidents SET ..., version = version + 1 WHERE id = :id AND version = :seen``
   (no row: a ``conflict`` refusal, nothing written), the responders who joined or left, the
   timeline entries (free text encrypted, healthguard/incidents/timeline.py) and one audit
   record; on a ``Refusal``, writes nothing (a ``forbidden`` one is audited as
   ``access.denied``).

The caller commits. ``perform_as`` and ``raise_as`` do the whole thing for one request:
transaction, commit, then the live update (``publish_change``) after the commit.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from healthguard.db import session_scope
from healthguard.incidents.access import can_see
from healthguard.incidents.errors import IncidentNotFound
from healthguard.incidents.lifecycle import (
    REOPEN_WINDOW,
    Action,
    ActionRequest,
    Command,
    IncidentState,
    IncidentView,
    Plan,
    Reassign,
    Refusal,
    RefusalCode,
    Resolution,
    ResolutionReason,
    Responder,
    ResponderRole,
    allowed_actions,
    plan,
)
from healthguard.incidents.priority import validate_priority
from healthguard.incidents.service import IncidentInputError, open_incident
from healthguard.incidents.timeline import encrypt_resolution_text, write_entries
from healthguard.models import (
    Admission,
    Bed,
    EscalationPolicy,
    Incident,
    IncidentResponder,
    Staff,
    User,
    Ward,
)
from healthguard.realtime import ChangeEvent, publish_change
from healthguard.security.accounts import Origin
from healthguard.security.audit import record_audit
from healthguard.security.permissions import Permission, Principal, permissions_of
from healthguard.security.scope import ward_scope

log = logging.getLogger(__name__)

STAFF_CONCERN_TITLE = "Staff concerned about patient"
STAFF_SOURCE = "staff"

#: The audit action (and the live change event's kind) of each lifecycle action.
AUDIT_ACTION: dict[Action, str] = {
    Action.ACKNOWLEDGE: "incident.acknowledged",
    Action.START: "incident.started",
    Action.ESCALATE: "incident.escalated",
    Action.REASSIGN: "incident.assigned",
    Action.ADD_NOTE: "incident.note_added",
    Action.ADD_RESPONDER: "incident.responder_added",
    Action.REMOVE_RESPONDER: "incident.responder_removed",
    Action.SET_LEAD: "incident.lead_set",
    Action.CHANGE_PRIORITY: "incident.priority_changed",
    Action.RESOLVE: "incident.resolved",
    Action.CLOSE: "incident.closed",
    Action.REOPEN: "incident.reopened",
}

# IncidentView fields stored in an incidents column of the same name.
_SAME_NAME_FIELDS = (
    "escalation_step",
    "acknowledged_at",
    "acknowledged_by",
    "started_at",
    "started_by",
    "resolved_at",
    "resolved_by",
    "closed_at",
    "closed_by",
    "lead",
)


# --- reading an incident into the state machine's view ------------------------------------


def lock_incident(session: Session, incident_id: uuid.UUID) -> Incident | None:
    """The incident, locked until the transaction ends (SELECT ... FOR UPDATE), read afresh
    from the database even when the session already holds it."""
    return session.exec(
        select(Incident)
        .where(Incident.id == incident_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def active_responders(session: Session, incident_id: uuid.UUID) -> list[IncidentResponder]:
    return list(
        session.exec(
            select(IncidentResponder)
            .where(
                IncidentResponder.incident_id == incident_id,
                col(IncidentResponder.left_at).is_(None),
            )
            .order_by(col(IncidentResponder.joined_at), col(IncidentResponder.id))
        ).all()
    )


def staff_name(session: Session, staff_id: uuid.UUID | None) -> str | None:
    """How an assignee is named: the username of the staff member's account, else the
    staff id."""
    if staff_id is None:
        return None
    username = session.exec(
        select(User.username).where(User.staff_id == staff_id).order_by(col(User.username))
    ).first()
    return username or str(staff_id)


def resolve_staff(session: Session, name: str | None) -> tuple[str, uuid.UUID] | None:
    """(name as ``staff_name`` gives it, staff id) for a username with a linked staff member
    or a staff id; None when it names nobody."""
    raw = (name or "").strip()
    if not raw:
        return None
    try:
        staff_id = uuid.UUID(raw)
    except ValueError:
        user = session.exec(select(User).where(User.username == raw)).first()
        if user is None or user.staff_id is None:
            return None
        staff_id = user.staff_id
    if session.get(Staff, staff_id) is None:
        return None
    return staff_name(session, staff_id) or str(staff_id), staff_id


def build_view(session: Session, incident: Incident) -> IncidentView:
    """The incident as the lifecycle sees it (with its active responders)."""
    steps: int | None = None
    if incident.escalation_policy_id is not None:
        policy = session.get(EscalationPolicy, incident.escalation_policy_id)
        if policy is not None and policy.definition.get("steps"):
            steps = len(policy.definition["steps"])
    resolution = None
    if incident.resolution_reason:
        resolution = Resolution(
            ResolutionReason(incident.resolution_reason),
            None,  # the text stays encrypted: the lifecycle never needs it
            str(incident.duplicate_of) if incident.duplicate_of else None,
        )
    return IncidentView(
        status=IncidentState(incident.status),
        priority=incident.priority,
        version=incident.version,
        number=incident.number,
        id=str(incident.id),
        assignee=staff_name(session, incident.assignee_staff_id),
        escalation_step=incident.escalation_step,
        escalation_steps=steps,
        acknowledged_at=incident.acknowledged_at,
        acknowledged_by=incident.acknowledged_by,
        started_at=incident.started_at,
        started_by=incident.started_by,
        resolved_at=incident.resolved_at,
        resolved_by=incident.resolved_by,
        resolution=resolution,
        closed_at=incident.closed_at,
        closed_by=incident.closed_by,
        lead=incident.lead,
        responders=tuple(
            Responder(r.person, ResponderRole(r.role))
            for r in active_responders(session, incident.id)
        ),
    )


def _refusal(
    view: IncidentView,
    permissions: Collection[Permission],
    now: datetime,
    code: RefusalCode,
    message: str,
    field: str | None,
    reopen_window: timedelta,
) -> Refusal:
    return Refusal(
        code=code,
        message=message,
        field=field,
        current_status=view.status,
        allowed_actions=tuple(
            allowed_actions(view, permissions, now=now, reopen_window=reopen_window)
        ),
    )


# --- one action -----------------------------------------------------------------------------


def perform(
    session: Session,
    incident_id: uuid.UUID,
    command: Command,
    *,
    principal: Principal,
    now: datetime,
    expected_version: int | None = None,
    origin: Origin | None = None,
    reopen_window: timedelta = REOPEN_WINDOW,
) -> Incident | Refusal:
    """``principal`` does ``command`` to the incident (see the module docstring). Raises
    ``IncidentNotFound`` when it does not exist or the person may not see it. The caller
    commits (and publishes after the commit; ``perform_as`` does both)."""
    incident = lock_incident(session, incident_id)
    if incident is None or (
        principal.kind == "user" and not can_see(session, principal, incident, now=now)
    ):
        raise IncidentNotFound()
    return apply_command(
        session,
        incident,
        command,
        actor=principal.audit_name,
        permissions=permissions_of(principal),
        now=now,
        expected_version=expected_version,
        origin=origin,
        viewer=principal,
        reopen_window=reopen_window,
    )


def apply_command(
    session: Session,
    incident: Incident,
    command: Command,
    *,
    actor: str,
    permissions: Collection[Permission],
    now: datetime,
    expected_version: int | None = None,
    origin: Origin | None = None,
    viewer: Principal | None = None,
    reopen_window: timedelta = REOPEN_WINDOW,
) -> Incident | Refusal:
    """The part of ``perform`` after loading: for callers that loaded (and locked) the
    incident and checked who may act themselves, such as the integrations service acting for
    an integration key with ``INTEGRATION_EVENT_PERMISSIONS``. ``viewer``: whose scope an
    incident named as ``duplicate_of`` must be in (None: any incident)."""
    held = frozenset(permissions)
    origin = origin or Origin()
    view = build_view(session, incident)

    # A reassignment names a person by username or staff id; compare it as the view names
    # the current assignee (whether it names anybody is checked after the plan, so that the
    # permission and the status are refused first).
    assignee: tuple[str, uuid.UUID] | None = None
    if isinstance(command, Reassign):
        assignee = resolve_staff(session, command.to)
        if assignee is not None:
            command = replace(command, to=assignee[0])

    result = plan(
        view,
        ActionRequest(command, actor, held, expected_version),
        now=now,
        reopen_window=reopen_window,
    )
    if isinstance(result, Refusal):
        if result.code is RefusalCode.FORBIDDEN:
            record_audit(
                session,
                actor=actor,
                action="access.denied",
                record_type="incident",
                record_id=str(incident.id),
                outcome="denied",
                ip=origin.ip,
                user_agent=origin.user_agent,
                details={"action": command.action.value, "reason": result.message},
                now=now,
            )
        return result

    def refuse(code: RefusalCode, message: str, field: str | None) -> Refusal:
        return _refusal(view, held, now, code, message, field, reopen_window)

    values: dict[str, Any] = {}
    after = result.after
    if after.status != view.status:
        values["status"] = after.status.value
    if after.priority != view.priority:
        values["priority"] = after.priority
    for name in _SAME_NAME_FIELDS:
        if getattr(after, name) != getattr(view, name):
            values[name] = getattr(after, name)
    if after.assignee != view.assignee:
        if assignee is None:
            return refuse(
                RefusalCode.INVALID,
                f"to: no staff member is named {after.assignee!r} (give a username linked to "
                "a staff member, or a staff id).",
                "to",
            )
        values["assignee_staff_id"] = assignee[1]
    if after.resolution != view.resolution:
        resolution = after.resolution
        values["resolution_reason"] = resolution.reason.value if resolution else None
        values["resolution_text_enc"] = (
            encrypt_resolution_text(incident.id, resolution.text) if resolution else None
        )
        duplicate: uuid.UUID | None = None
        if resolution is not None and resolution.duplicate_of is not None:
            found = _find_incident(session, resolution.duplicate_of)
            if (
                found is None
                or found.id == incident.id
                or (viewer is not None and not can_see(session, viewer, found, now=now))
            ):
                return refuse(
                    RefusalCode.INVALID,
                    f"duplicate_of: there is no incident {_reference(resolution.duplicate_of)} "
                    "that you may see.",
                    "duplicate_of",
                )
            duplicate = found.id
        values["duplicate_of"] = duplicate
    if result.action is Action.REOPEN:
        values["reopened_count"] = Incident.__table__.c.reopened_count + 1  # type: ignore[attr-defined]
    values["updated_at"] = now
    values["version"] = Incident.__table__.c.version + 1  # type: ignore[attr-defined]

    table = Incident.__table__  # type: ignore[attr-defined]
    written = session.execute(
        sa.update(table)
        .where(table.c.id == incident.id, table.c.version == view.version)
        .values(**values)
    )
    if written.rowcount != 1:  # type: ignore[attr-defined]
        # Changed since it was read (a caller that did not lock it, or a writer that does
        # not lock): nothing is written.
        session.expire(incident)
        return refuse(
            RefusalCode.CONFLICT,
            f"{view.name} changed while {actor} was acting on version {view.version}; "
            "nothing was changed. Reload it and try again.",
            "expected_version",
        )

    _write_responders(session, incident.id, view, result, now)
    write_entries(session, incident.id, result.entries)
    record_audit(
        session,
        actor=actor,
        action=AUDIT_ACTION[result.action],
        record_type="incident",
        record_id=str(incident.id),
        ip=origin.ip,
        user_agent=origin.user_agent,
        details=_audit_details(incident, view, result),
        now=now,
    )
    session.flush()
    session.refresh(incident)
    # The escalation follows every change in the same transaction (an acknowledgement stops
    # it, a priority upgrade restarts it...), whoever made it: API, UI, SMS, link, webhook.
    from healthguard.oncall import dispatch

    dispatch.on_incident_changed(
        session,
        incident,
        action=result.action.value,
        actor=actor,
        now=now,
        previous_priority=view.priority,
        previous_status=view.status.value,
    )
    return incident


def _write_responders(
    session: Session, incident_id: uuid.UUID, view: IncidentView, result: Plan, now: datetime
) -> None:
    before = {r.person: r for r in view.responders}
    after = {r.person: r for r in result.after.responders}
    for person in before.keys() - after.keys():
        session.execute(
            sa.update(IncidentResponder.__table__)  # type: ignore[attr-defined]
            .where(
                IncidentResponder.__table__.c.incident_id == incident_id,  # type: ignore[attr-defined]
                IncidentResponder.__table__.c.person == person,  # type: ignore[attr-defined]
                IncidentResponder.__table__.c.left_at.is_(None),  # type: ignore[attr-defined]
            )
            .values(left_at=now)
        )
    for person in after.keys() - before.keys():
        session.add(
            IncidentResponder(
                incident_id=incident_id,
                person=person,
                role=after[person].role.value,
                joined_at=now,
            )
        )


def _audit_details(incident: Incident, view: IncidentView, result: Plan) -> dict[str, Any]:
    """What the audit row says: the incident, the version written, the status before and
    after, and the entries' structured data (never the free text)."""
    details: dict[str, Any] = {
        "number": incident.number,
        "version": result.after.version,
        "status_from": view.status.value,
        "status_to": result.after.status.value,
    }
    for entry in result.entries:
        details.update({k: v for k, v in entry.data.items() if k not in details})
    if any(entry.note is not None for entry in result.entries):
        details["with_note"] = True  # the text itself is encrypted in the timeline only
    return details


def _find_incident(session: Session, reference: int | str) -> Incident | None:
    if isinstance(reference, int):
        return session.exec(select(Incident).where(Incident.number == reference)).first()
    try:
        return session.get(Incident, uuid.UUID(reference))
    except ValueError:
        return None


def _reference(reference: int | str) -> str:
    return f"#{reference}" if isinstance(reference, int) else reference


# --- a whole request: transaction, commit, then the live update -------------------------------


@dataclass(frozen=True)
class Performed:
    """A committed action: the incident as written and its ward (for the live update)."""

    incident: Incident
    ward_code: str | None
    kind: str  # "incident.acknowledged", "incident.opened", ...


def ward_code_of(session: Session, incident: Incident) -> str | None:
    ward = session.get(Ward, incident.ward_id) if incident.ward_id else None
    return ward.code if ward else None


def perform_as(
    principal: Principal,
    incident_id: uuid.UUID,
    command: Command,
    *,
    now: datetime,
    expected_version: int | None = None,
    origin: Origin | None = None,
) -> Performed | Refusal:
    """``perform`` in its own transaction; after the commit, every screen watching the
    incident's ward is told. Raises ``IncidentNotFound`` like ``perform``."""
    with session_scope() as session:
        result = perform(
            session,
            incident_id,
            command,
            principal=principal,
            now=now,
            expected_version=expected_version,
            origin=origin,
        )
        if isinstance(result, Refusal):
            return result
        done = Performed(result, ward_code_of(session, result), AUDIT_ACTION[command.action])
    _publish(done)
    return done


def _publish(done: Performed) -> None:
    from workers.queues import redis_connection

    publish_change(
        redis_connection(),
        ChangeEvent(kind=done.kind, entity_id=str(done.incident.id), ward_code=done.ward_code),
    )


# --- staff-raised incidents -------------------------------------------------------------------


def raise_incident(
    session: Session,
    *,
    principal: Principal,
    now: datetime,
    patient_id: uuid.UUID | None = None,
    ward_code: str | None = None,
    bed: str | None = None,
    title: str | None = None,
    summary: str | None = None,
    priority: str = "P2",
    origin: Origin | None = None,
) -> Incident:
    """A person raises an incident ("staff worried about a patient" is a rapid-response
    trigger in its own right): about a patient (found in their current bed), or a ward and
    optionally a bed. The place must be in the person's ward scope. ``summary`` is what the
    person typed: stored encrypted as the note of the "opened" timeline entry; the incident's
    shared summary only says who raised it. Raises ``IncidentInputError`` naming the field,
    ``PermissionError`` without ``incidents:create``. The caller commits."""
    if Permission.INCIDENTS_CREATE not in permissions_of(principal):
        raise PermissionError(f"{principal.audit_name} may not raise incidents")
    origin = origin or Origin()
    title = (title or "").strip() or STAFF_CONCERN_TITLE
    try:
        priority = validate_priority(priority)
    except ValueError as exc:
        raise IncidentInputError("priority", str(exc)) from exc
    note = (summary or "").strip() or None
    if note is not None and len(note) > 10_000:
        raise IncidentInputError("summary", f"at most 10000 characters (got {len(note)})")

    bed_label: str | None = (bed or "").strip() or None
    code: str | None = (ward_code or "").strip().upper() or None
    if patient_id is not None:
        if code or bed_label:
            raise IncidentInputError(
                "patient_id", "give either patient_id, or ward (and bed), not both"
            )
        place = session.exec(
            select(Ward.code, Bed.label)
            .join(Bed, col(Bed.ward_id) == col(Ward.id))
            .join(Admission, col(Admission.bed_id) == col(Bed.id))
            .where(Admission.patient_id == patient_id, col(Admission.discharged_at).is_(None))
        ).first()
        if place is None:
            raise IncidentInputError(
                "patient_id", "no admitted patient with this id on a ward you cover"
            )
        code, bed_label = place
    elif code is None:
        raise IncidentInputError("ward", "say where: give patient_id, or ward (and optionally bed)")
    ward = session.exec(select(Ward).where(Ward.code == code)).first()
    if ward is None:
        raise IncidentInputError("ward", f"no ward with code {code!r}")
    if not ward_scope(session, principal, now=now).covers(ward.id):
        if patient_id is not None:  # the same answer as a patient that does not exist
            raise IncidentInputError(
                "patient_id", "no admitted patient with this id on a ward you cover"
            )
        raise IncidentInputError("ward", f"ward {code} is not one you cover")
    if bed_label is not None and (
        session.exec(select(Bed).where(Bed.ward_id == ward.id, Bed.label == bed_label)).first()
        is None
    ):
        raise IncidentInputError("bed", f"no bed {bed_label!r} in ward {code}")
    incident = open_incident(
        session,
        title=title,
        priority=priority,
        now=now,
        summary=f"Raised by {principal.audit_name}",
        ward_code=code,
        bed_label=bed_label,
        source=STAFF_SOURCE,
        actor=principal.audit_name,
        note=note,
        raised_by=principal.audit_name,
        ip=origin.ip,
        user_agent=origin.user_agent,
    )
    if patient_id is not None:
        incident.patient_id = patient_id
        session.add(incident)
        session.flush()
    return incident


def raise_as(principal: Principal, *, now: datetime, **fields: Any) -> Performed:
    """``raise_incident`` in its own transaction; screens are told after the commit."""
    with session_scope() as session:
        incident = raise_incident(session, principal=principal, now=now, **fields)
        done = Performed(incident, ward_code_of(session, incident), "incident.opened")
    _publish(done)
    return done
