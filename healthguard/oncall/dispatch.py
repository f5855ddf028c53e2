"""Run an incident's escalation policy: the adapter around ``healthguard.oncall.escalation``.

The incident workflow calls these in its own transaction (the caller commits):

- ``on_incident_opened``: choose the policy (the ward's own policy of that priority, else the
  hospital's, else the shipped default; an empty definition means the shipped one), assign
  the incident (``assign_service``), start the policy run, store its state
  (``IncidentEscalation``) and carry out what the plan says;
- ``on_incident_changed``: acknowledge / start, resolve / close, reopen (a new run), escalate
  (the next step at once, or the person named), reassign (the new assignee is notified),
  change of priority (a new run of the new priority's policy);
- ``decline``: a notified person declines: the next step at once.

The RQ side (``workers.escalation``):

- ``fire_timer(incident_id, key)``: a timer is due: locks the incident and its escalation row
  (``SELECT ... FOR UPDATE``, the incident first like every writer), runs the pure
  ``on_timer`` and carries out the result in its own transaction. Idempotent: the pure engine
  ignores a key that is not pending, so a second run of a key (a retried job, the sweep and
  the job both) writes nothing and notifies nobody;
- ``sweep_due(now=...)``: fires every pending timer overdue by more than ``SWEEP_GRACE``
  (its job was lost), found through ``IncidentEscalation.next_due_at``.

Carrying out the plan's actions, in the same transaction:

- ``Notify``: the targets are resolved to people on shift now (``targets.resolve``); an
  ``escalation`` timeline entry says why ("no acknowledgement after 120 s: notifying the
  charge nurse of ICU (step 2 of 3): Rachel Stein"), then
  ``healthguard.notify.service.notify_people`` (idempotent by the notify key) creates the
  notifications; targets that resolve to nobody go back to the engine
  (``on_target_unresolvable``: the next step or the fallback chain, with the reason);
- ``ScheduleTimer``: after the commit, an rq-scheduler job ``workers.escalation.fire_timer``
  on the ``alerts`` queue, due to the millisecond (``workers.queues.schedule_jobs``), job id
  derived from the timer key (``timer_job_id``; RQ ids take no ``:``); ``CancelTimer``: the
  job is unscheduled after the commit (optional: a stale key does nothing anyway);
- ``TimelineNote``: an ``escalation`` timeline entry (``data.alarm``: nobody could be told);
- ``incident.escalation_step`` follows the latest step notified (for the screens).

The state (``IncidentEscalation.state``) is the truth; ``next_due_at`` is its earliest
pending timer, which the sweep reads. An acknowledgement or a resolution also cancels the
incident's queued notifications (``notify.service.cancel_pending``: the SMS still due in 30 s
is not sent).
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from healthguard.db import after_commit, session_scope
from healthguard.incidents.lifecycle import Action, IncidentState, TimelineEntry
from healthguard.incidents.timeline import write_entries
from healthguard.models import (
    EscalationPolicy,
    Incident,
    IncidentEscalation,
    IncidentEvent,
    Staff,
    User,
    Ward,
)
from healthguard.models.incidents import DONE_STATUSES, OPEN_STATUSES
from healthguard.models.staff import StaffRole
from healthguard.notify.service import Recipient, cancel_pending, notify_people
from healthguard.oncall.assign_service import assign_incident
from healthguard.oncall.default_policies import InvalidPolicy, default_policy, parse_policy
from healthguard.oncall.escalation import (
    CancelTimer,
    EscalationAction,
    EscalationState,
    EscalationStatus,
    IncidentFacts,
    Notify,
    NotifyKind,
    Person,
    Policy,
    ScheduleTimer,
    StepMode,
    Target,
    TargetKind,
    TimelineNote,
    Timer,
    describe_targets,
    on_acknowledged,
    on_declined,
    on_escalate_now,
    on_priority_changed,
    on_resolved,
    on_target_unresolvable,
    on_timer,
    start,
)
from healthguard.oncall.targets import Responder, resolve_all, ward_name_of
from healthguard.realtime import ChangeEvent, publish_change
from workers.queues import ALERTS, TimedJob, cancel_jobs, redis_connection, schedule_jobs

__all__ = [
    "ESCALATION_KIND",
    "FIRE_TIMER",
    "SWEEP_GRACE",
    "choose_policy",
    "decline",
    "fire_timer",
    "on_incident_changed",
    "on_incident_opened",
    "sweep_due",
    "timer_job_id",
]

log = logging.getLogger(__name__)

FIRE_TIMER = "workers.escalation.fire_timer"
ESCALATION_KIND = "escalation"  # timeline entries written here
DECLINED_KIND = "declined"
ACTOR = "system"
ESCALATED_EVENT = "incident.escalated"  # the live update after a timer fired
SWEEP_GRACE = timedelta(seconds=1)  # a timer this late has lost its job
SWEEP_BATCH = 500  # escalations per sweep run (the oldest overdue first)

_EVENTS: Any = IncidentEvent.__table__  # type: ignore[attr-defined]
_WARD_ROLES = frozenset(
    {StaffRole.NURSE, StaffRole.CHARGE_NURSE, StaffRole.RESIDENT, StaffRole.ATTENDING}
)
_HANDLED = frozenset(
    {
        Action.ACKNOWLEDGE,
        Action.START,
        Action.RESOLVE,
        Action.CLOSE,
        Action.REOPEN,
        Action.ESCALATE,
        Action.REASSIGN,
        Action.CHANGE_PRIORITY,
    }
)


def timer_job_id(key: str) -> str:
    """The RQ job id of a timer key ("esc:<id>:run1:r0:s1" -> "esc_<id>_run1_r0_s1")."""
    return key.replace(":", "_").replace(".", "-")


# --- the policy -----------------------------------------------------------------------------


def choose_policy(
    session: Session, incident: Incident, priority: str | None = None
) -> tuple[uuid.UUID | None, Policy, str | None]:
    """(policy row id, the policy, a problem to note) for the incident's ward and
    ``priority`` (default: the incident's): the ward's own policy wins over the hospital's;
    none stored, or an empty definition: the shipped policy of the priority; a stored
    definition that does not validate: the shipped one too, and the problem says why."""
    priority = priority or incident.priority
    ward: sa.ColumnElement[bool] = col(EscalationPolicy.ward_id).is_(None)
    if incident.ward_id is not None:
        ward = sa.or_(ward, col(EscalationPolicy.ward_id) == incident.ward_id)
    row = session.exec(
        select(EscalationPolicy)
        .where(col(EscalationPolicy.priority) == priority, ward)
        .order_by(
            col(EscalationPolicy.ward_id).is_(None),  # the ward's own first
            col(EscalationPolicy.created_at),
            col(EscalationPolicy.name),
        )
        .limit(1)
    ).first()
    if row is None:
        return None, default_policy(priority), None
    if not row.definition or not row.definition.get("steps"):
        return row.id, default_policy(priority), None
    try:
        return row.id, parse_policy(row.definition), None
    except InvalidPolicy as exc:
        log.error("escalation policy %s (%s) is invalid: %s", row.name, row.id, exc)
        return (
            row.id,
            default_policy(priority),
            f"the {row.name} policy cannot be used ({exc}): using the shipped {priority} policy",
        )


def _describe_policy(policy: Policy, facts: IncidentFacts) -> str:
    steps = "; ".join(
        f"{describe_targets(step.targets, facts)} at {step.delay_seconds} s"
        for step in policy.steps
    )
    return f"escalating with the {policy.name} policy: {steps}"


# --- reading the incident -----------------------------------------------------------------


def _facts(session: Session, incident: Incident, ward_name: str | None) -> IncidentFacts:
    assignee_name = None
    if incident.assignee_staff_id is not None:
        staff = session.get(Staff, incident.assignee_staff_id)
        assignee_name = staff.display_name if staff is not None else None
    return IncidentFacts(
        incident_id=str(incident.id),
        priority=incident.priority,
        ward_name=ward_name or "the ward",
        status=IncidentState(incident.status),
        number=incident.number,
        assignee_name=assignee_name,
        acknowledged_by=incident.acknowledged_by,
        acknowledged_at=incident.acknowledged_at,
    )


def _staff_of(session: Session, name: str | None) -> Staff | None:
    """The staff member a username (of a linked account), staff id or display name names."""
    raw = (name or "").strip()
    if not raw:
        return None
    try:
        return session.get(Staff, uuid.UUID(raw))
    except ValueError:
        pass
    staff_id = session.execute(
        sa.select(col(User.staff_id)).where(col(User.username) == raw)
    ).scalar_one_or_none()
    if staff_id is not None:
        return session.get(Staff, staff_id)
    return session.exec(select(Staff).where(col(Staff.display_name) == raw)).first()


def _person(session: Session, actor: str | None) -> Person | None:
    """Who acted, as the engine names people (None: not a staff member, e.g. an
    integration; its reminders then go to the latest step's targets)."""
    staff = _staff_of(session, actor)
    return Person(str(staff.id), staff.display_name) if staff is not None else None


def _lock_incident(
    session: Session, incident_id: uuid.UUID, *, skip_locked: bool = False
) -> Incident | None:
    return session.exec(
        select(Incident)
        .where(col(Incident.id) == incident_id)
        .with_for_update(skip_locked=skip_locked)
        .execution_options(populate_existing=True)
    ).first()


def _lock_row(session: Session, incident_id: uuid.UUID) -> IncidentEscalation | None:
    return session.exec(
        select(IncidentEscalation)
        .where(col(IncidentEscalation.incident_id) == incident_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


# --- carrying out the plan --------------------------------------------------------------------


@dataclass
class _Run:
    """One transaction's work on one escalation."""

    session: Session
    incident: Incident
    row: IncidentEscalation
    state: EscalationState
    facts: IncidentFacts
    now: datetime
    ward_name: str | None
    fired: Timer | None = None  # the timer being fired, if any
    scheduled: dict[str, datetime] = field(default_factory=dict)
    cancelled: set[str] = field(default_factory=set)
    acted: bool = False

    def note(
        self,
        message: str,
        data: dict[str, Any] | None = None,
        *,
        kind: str = ESCALATION_KIND,
        actor: str = ACTOR,
        at: datetime | None = None,
    ) -> None:
        write_entries(
            self.session,
            self.incident.id,
            [TimelineEntry(kind, actor, at or self.now, message, data or {})],
        )
        self.acted = True


def _carry_out(run: _Run, actions: Iterable[EscalationAction]) -> None:
    todo: deque[EscalationAction] = deque(actions)
    while todo:
        action = todo.popleft()
        if isinstance(action, Notify):
            todo.extend(_notify(run, action))
        elif isinstance(action, ScheduleTimer):
            run.scheduled[action.key] = action.at
        elif isinstance(action, CancelTimer):
            run.cancelled.add(action.key)
        elif isinstance(action, TimelineNote):
            run.note(action.reason, {"alarm": action.alarm}, at=action.at)


def _recipients_json(people: Sequence[tuple[Responder, Target]]) -> list[dict[str, Any]]:
    return [
        {"staff_id": str(p.staff_id), "name": p.name, "reason": p.reason, "target": t.to_json()}
        for p, t in people
    ]


def _notify(run: _Run, action: Notify, *, engine: bool = True) -> tuple[EscalationAction, ...]:
    """Resolve, write why, notify; what the engine says about targets that reach nobody."""
    resolutions = resolve_all(run.session, run.incident, action.targets, now=run.now)
    people: dict[uuid.UUID, tuple[Responder, Target]] = {}
    for resolution in resolutions:
        for person in resolution.people:
            people.setdefault(person.staff_id, (person, resolution.target))
    nobody = [r for r in resolutions if not r.people]
    data: dict[str, Any] = {
        "key": action.key,
        "notify": action.kind.value,
        "round": action.round,
        "step": action.step,
        "recipients": _recipients_json(list(people.values())),
        "unreachable": [{"target": r.target.to_json(), "why": r.why_nobody} for r in nobody],
    }
    fired = run.fired
    if fired is not None and fired.key == action.key:
        data["due_at"] = fired.due_at.isoformat()
        data["late_ms"] = round((run.now - fired.due_at).total_seconds() * 1000)
    message = action.reason
    if people:
        message += ": " + ", ".join(p.name for p, _ in people.values())
    run.note(message, data)
    if people:
        notify_people(
            run.session,
            run.incident,
            [Recipient(p.staff_id, p.reason) for p, _ in people.values()],
            key=action.key,
            now=run.now,
            reminder=action.kind is NotifyKind.REMINDER,
        )
    if not nobody:
        return ()
    why = "; ".join(dict.fromkeys(r.why_nobody for r in nobody))
    if not engine:
        run.note(f"{describe_targets([r.target for r in nobody], run.facts)}: {why}")
        return ()
    run.state, more = on_target_unresolvable(
        run.state,
        action.key,
        run.facts,
        run.now,
        targets=[r.target for r in nobody],
        why=why,
    )
    return more


def _store(run: _Run) -> None:
    """Write the state, the step for the screens, and the timer jobs after the commit."""
    state = run.state
    run.row.state = state.to_json()
    run.row.next_due_at = min((t.due_at for t in state.pending), default=None)
    run.row.updated_at = run.now
    run.session.add(run.row)
    step = max(state.step, 0)
    if run.incident.escalation_step != step:
        run.incident.escalation_step = step
        run.session.add(run.incident)
    pending = {t.key for t in state.pending}
    incident_id = str(run.incident.id)
    jobs = [
        TimedJob(timer_job_id(key), FIRE_TIMER, (incident_id, key), at, ALERTS)
        for key, at in run.scheduled.items()
        if key in pending
    ]
    stale = [timer_job_id(key) for key in sorted(run.cancelled) if key not in pending]
    if jobs or stale:

        def sync() -> None:
            connection = redis_connection()
            cancel_jobs(stale, connection)
            schedule_jobs(jobs, connection)

        after_commit(run.session, sync)
    run.session.flush()


def _begin(session: Session, incident: Incident, row: IncidentEscalation, now: datetime) -> _Run:
    ward_name = ward_name_of(session, incident)
    state = EscalationState.from_json(row.state)
    return _Run(session, incident, row, state, _facts(session, incident, ward_name), now, ward_name)


def _start_run(
    session: Session,
    incident: Incident,
    *,
    now: datetime,
    run_number: int,
    row: IncidentEscalation | None = None,
    head: str | None = None,
    stale: Iterable[str] = (),
) -> None:
    policy_id, policy, problem = choose_policy(session, incident)
    incident.escalation_policy_id = policy_id
    session.add(incident)
    if incident.assignee_staff_id is None and incident.status not in DONE_STATUSES:
        assign_incident(session, incident, now=now)
    ward_name = ward_name_of(session, incident)
    facts = _facts(session, incident, ward_name)
    state, actions = start(policy, facts, now, run=run_number)
    if row is None:
        row = IncidentEscalation(incident_id=incident.id, state={}, updated_at=now)
    row.policy_id = policy_id
    run = _Run(session, incident, row, state, facts, now, ward_name)
    run.cancelled.update(stale)
    words = _describe_policy(policy, facts)
    if head:
        words = f"{head}: {words}"
    if problem:
        words += f" ({problem})"
    run.note(words, {"policy_id": str(policy_id) if policy_id else None, "run": run_number})
    _carry_out(run, actions)
    _store(run)


# --- what the incident workflow calls -----------------------------------------------------------


def on_incident_opened(session: Session, incident: Incident, *, now: datetime) -> None:
    """A new incident: policy, assignment, the first step (in the caller's transaction).
    Called twice, the second call does nothing."""
    if session.get(IncidentEscalation, incident.id) is not None:
        return
    if incident.status in DONE_STATUSES:
        return
    _start_run(session, incident, now=now, run_number=1)


def on_incident_changed(
    session: Session,
    incident: Incident,
    *,
    action: str,
    actor: str,
    now: datetime,
    previous_priority: str,
    previous_status: str,
) -> None:
    """The workflow did ``action`` (a ``lifecycle.Action`` value) to the incident, which the
    caller holds locked and has already updated; other actions are ignored."""
    try:
        done = Action(action)
    except ValueError:
        return
    if done not in _HANDLED:
        return
    row = _lock_row(session, incident.id)
    if row is None:
        # An incident from before escalations existed (or opened without the hook): start
        # one when it needs people now.
        if done in (Action.REOPEN, Action.ESCALATE, Action.CHANGE_PRIORITY) and (
            incident.status in OPEN_STATUSES
        ):
            _start_run(session, incident, now=now, run_number=1)
        return
    run = _begin(session, incident, row, now)
    state, facts = run.state, run.facts
    actions: tuple[EscalationAction, ...] = ()
    if done in (Action.ACKNOWLEDGE, Action.START):
        by = _person(session, actor)
        run.state, actions = on_acknowledged(
            state, facts, now, by=by, via=_via(session, incident, state, by)
        )
        if (
            state.status is EscalationStatus.ESCALATING
            and run.state.status is EscalationStatus.ACKNOWLEDGED
        ):
            cancel_pending(
                session, incident.id, now=now, reason=f"the incident was acknowledged by {actor}"
            )
    elif done in (Action.RESOLVE, Action.CLOSE):
        run.state, actions = on_resolved(state, facts, now)
        word = "resolved" if done is Action.RESOLVE else "closed"
        cancel_pending(
            session,
            incident.id,
            now=now,
            reason=f"the incident was {word} by {actor}",
            include_reminders=True,
        )
    elif done is Action.REOPEN:
        _start_run(
            session,
            incident,
            now=now,
            run_number=state.run + 1,
            row=row,
            head=f"reopened by {actor} (was {previous_status}): a new escalation run",
            stale=[t.key for t in state.pending],
        )
        return
    elif done is Action.ESCALATE:
        named = _escalated_to(session, incident)
        if named is not None:
            _notify_named(run, named, actor)
        else:
            run.state, actions = on_escalate_now(state, facts, now, by=_person(session, actor))
    elif done is Action.REASSIGN:
        _notify_assignee(run, actor)
    elif done is Action.CHANGE_PRIORITY:
        if incident.priority == previous_priority:
            return
        policy_id, policy, problem = choose_policy(session, incident)
        incident.escalation_policy_id = policy_id
        row.policy_id = policy_id
        session.add(incident)
        if problem:
            run.note(problem)
        run.state, actions = on_priority_changed(state, policy, facts, now)
    _carry_out(run, actions)
    if run.state != state or run.acted or run.scheduled or run.cancelled:
        _store(run)


def decline(session: Session, incident: Incident, *, staff_id: uuid.UUID, now: datetime) -> None:
    """``staff_id`` declines the incident they were notified about: a timeline entry, and the
    next step is notified at once (in the caller's transaction)."""
    locked = _lock_incident(session, incident.id)
    if locked is None or locked.status in DONE_STATUSES:
        return
    row = _lock_row(session, incident.id)
    staff = session.get(Staff, staff_id)
    name = staff.display_name if staff is not None else str(staff_id)
    username = session.execute(
        sa.select(col(User.username)).where(col(User.staff_id) == staff_id).limit(1)
    ).scalar_one_or_none()
    if row is None:
        write_entries(
            session,
            locked.id,
            [
                TimelineEntry(
                    DECLINED_KIND,
                    username or name,
                    now,
                    f"{name} declined",
                    {"staff_id": str(staff_id)},
                )
            ],
        )
        _start_run(session, locked, now=now, run_number=1)
        return
    run = _begin(session, locked, row, now)
    run.note(
        f"{name} declined", {"staff_id": str(staff_id)}, kind=DECLINED_KIND, actor=username or name
    )
    state = run.state
    run.state, actions = on_declined(state, run.facts, now, by=Person(str(staff_id), name))
    _carry_out(run, actions)
    _store(run)


def _via(
    session: Session, incident: Incident, state: EscalationState, by: Person | None
) -> Target | None:
    """The target of the current ``all_must_ack`` step through which ``by`` was notified (as
    the step's timeline entry recorded it)."""
    if by is None or state.step < 0:
        return None
    if state.policy.steps[state.step].mode is not StepMode.ALL_MUST_ACK:
        return None
    key = f"{state.key_prefix}:r{state.round}:s{state.step}"
    rows = session.execute(
        sa.select(col(IncidentEvent.data))
        .where(
            col(IncidentEvent.incident_id) == incident.id,
            col(IncidentEvent.kind) == ESCALATION_KIND,
            _EVENTS.c.data["key"].astext.like(f"{key}%"),
        )
        .order_by(col(IncidentEvent.id).desc())
    ).scalars()
    for data in rows:
        if data.get("key") != key and not str(data.get("key")).startswith(f"{key}:rep"):
            continue  # "...:s1" also matches "...:s10"
        for recipient in data.get("recipients", []):
            if recipient.get("staff_id") == by.staff_id:
                return Target.from_json(recipient["target"])
    return None


def _escalated_to(session: Session, incident: Incident) -> str | None:
    """The person or team named by the escalation just recorded ("Escalated by X to Y"),
    None when it asked for the next step of the policy."""
    data = session.execute(
        sa.select(col(IncidentEvent.data))
        .where(
            col(IncidentEvent.incident_id) == incident.id, col(IncidentEvent.kind) == "escalated"
        )
        .order_by(col(IncidentEvent.id).desc())
        .limit(1)
    ).scalar_one_or_none()
    if not data or not data.get("to"):
        return None
    return str(data["to"])


def _notify_named(run: _Run, named: str, actor: str) -> None:
    staff = _staff_of(run.session, named)
    target: Target | None = None
    if staff is not None:
        target = Target(TargetKind.PERSON, str(staff.id), staff.display_name)
    elif named in {r.value for r in StaffRole}:
        kind = TargetKind.WARD_ROLE if named in _WARD_ROLES else TargetKind.TEAM
        target = Target(kind, named)
    if target is None:
        run.note(
            f"escalated by {actor} to {named}, who is not a staff member or a role HealthGuard "
            "can page: call them directly",
            {"to": named},
        )
        return
    words = describe_targets([target], run.facts)
    _notify_direct(run, target, f"escalated by {actor}: notifying {words}", "escalate")


def _notify_assignee(run: _Run, actor: str) -> None:
    staff_id = run.incident.assignee_staff_id
    if staff_id is None:
        return
    staff = run.session.get(Staff, staff_id)
    name = staff.display_name if staff is not None else str(staff_id)
    target = Target(TargetKind.PERSON, str(staff_id), name)
    _notify_direct(run, target, f"reassigned by {actor}: notifying {name}", "reassign")


def _notify_direct(run: _Run, target: Target, reason: str, what: str) -> None:
    """Notify one target outside the policy's steps (once per incident version)."""
    key = f"{run.state.key_prefix}:v{run.incident.version}:{what}"
    action = Notify(key, run.now, NotifyKind.STEP, (target,), reason, run.state.round, None)
    _notify(run, action, engine=False)


# --- timers -------------------------------------------------------------------------------------


def _fire(incident_id: uuid.UUID, keys: Sequence[str], *, now: datetime, skip_locked: bool) -> int:
    """Fire the pending ``keys`` of one incident in one transaction; how many fired."""
    fired = 0
    ward_code: str | None = None
    with session_scope() as session:
        incident = _lock_incident(session, incident_id, skip_locked=skip_locked)
        if incident is None:
            return 0
        row = _lock_row(session, incident_id)
        if row is None:
            return 0
        run = _begin(session, incident, row, now)
        before = run.state
        for key in keys:
            timer = run.state.timer(key)
            if timer is None:
                continue  # stale, already fired, or of an older run: nothing to do
            run.fired = timer
            run.state, actions = on_timer(run.state, key, run.facts, now)
            _carry_out(run, actions)
            fired += 1
            late = (now - timer.due_at).total_seconds()
            log.info("escalation timer %s fired %.3f s after its due time", key, late)
        run.fired = None
        if run.state == before and not run.acted:
            return 0
        _store(run)
        if run.acted and incident.ward_id is not None:
            ward = session.get(Ward, incident.ward_id)
            ward_code = ward.code if ward is not None else None
        if run.acted:
            event = ChangeEvent(
                kind=ESCALATED_EVENT, entity_id=str(incident_id), ward_code=ward_code
            )
            after_commit(session, lambda: publish_change(redis_connection(), event))
    return fired


def fire_timer(incident_id: str, key: str) -> None:
    """The escalation timer ``key`` of the incident is due (the RQ job's work)."""
    _fire(uuid.UUID(str(incident_id)), [key], now=datetime.now(UTC), skip_locked=False)


def sweep_due(*, now: datetime) -> int:
    """Fire every pending timer overdue by more than ``SWEEP_GRACE`` at ``now`` (its job was
    lost); an escalation being worked on right now (locked) is left to its worker. Returns
    how many timers fired."""
    cutoff = now - SWEEP_GRACE
    with session_scope() as session:
        rows = session.execute(
            sa.select(col(IncidentEscalation.incident_id), col(IncidentEscalation.state))
            .where(col(IncidentEscalation.next_due_at) <= cutoff)
            .order_by(col(IncidentEscalation.next_due_at))
            .limit(SWEEP_BATCH)
        ).all()
    total = 0
    for incident_id, state in rows:
        pending = sorted(
            (datetime.fromisoformat(t["due_at"]), str(t["key"])) for t in state.get("pending", [])
        )
        keys = [key for due, key in pending if due <= cutoff]
        if not keys:
            continue
        try:
            fired = _fire(incident_id, keys, now=now, skip_locked=True)
        except Exception:  # one broken escalation must not stop the others
            log.exception("escalation sweep: incident %s failed", incident_id)
            continue
        if fired:
            log.warning(
                "escalation sweep: fired %d overdue timer(s) of incident %s (job lost?)",
                fired,
                incident_id,
            )
        total += fired
    return total
