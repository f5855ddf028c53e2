"""Escalation planning: who is notified about an incident, when, and what changes the plan.

Pure: no I/O, no clock (``now`` is passed in), no Redis, no database. An adapter loads the
incident, builds ``IncidentFacts``, loads the ``EscalationState`` it stored (as JSON, see
``EscalationState.to_json``), calls one of the functions below, stores the new state and
carries out the actions in the same transaction:

- ``Notify``: page these targets now (the adapter resolves a target to people: the charge
  nurse on shift on the ward, whoever the schedule says is on call...); ``Notify.key`` is
  unique per notification, an idempotency key for the sender;
- ``ScheduleTimer``: run ``on_timer(state, key, ...)`` at ``at``; the key is unique per
  (incident, policy run, round, step, repeat) and can be the RQ job id;
- ``CancelTimer``: the job is no longer needed (cancelling is optional: a timer that is not
  pending in the state gives no action when it fires);
- ``TimelineNote``: a line for the incident timeline (``alarm``: a person must act now).

Every action carries a reason a nurse can read ("no acknowledgement after 60 s: notifying the
attending of ICU and the hospital operator").

A policy is data: ordered ``Step``s. **Delays count from the start of the round** (the start
of the policy for the first round), as in ``EscalationStep.delay_seconds`` ("after the incident
opened"): the shipped P1 policy says primary nurse at 0 s, charge nurse at 120 s, physician at
300 s. Delays never decrease from one step to the next. When a step fires late (the scheduler
was down) or early (a decline, the escalate button), the round is re-based on that moment:
the next step stays ``delay[next] - delay[this]`` seconds away, so every step keeps its full
window to answer and a clock jump never causes a burst of missed steps or repeats.

- A step notifies all its targets at once. ``first_ack_wins``: any acknowledgement stops the
  escalation. ``all_must_ack``: it goes on (repeats to the targets who have not answered, the
  next steps on time) until every target of the step has acknowledged (``on_acknowledged``
  with ``via``).
- ``repeat_every_seconds``: the step's targets are notified again every N s until the incident
  is acknowledged, also after later steps have fired (the P0 rapid-response page every 30 s);
  repeats stop when a new round starts.
- Policy ``repeat_count``: after the last step the policy runs again, up to N more rounds,
  starting at ``repeat_from_step``, ``repeat_after_seconds`` after the last step.
- ``ack_timeout_seconds``: an acknowledged but unresolved incident reminds the person who
  acknowledged (the targets of the latest step when unknown) after that time, and again every
  ``ack_timeout_seconds`` until resolved.
- A decline or the escalate button notifies the next step at once (after the last step: the
  next round, else the fallback chain).
- A step whose targets all resolve to nobody (a schedule gap, nobody on shift) escalates at
  once to the next step, and after the last step to the fallback chain: the charge nurse of the
  ward, then the hospital operator (``FALLBACK_CHAIN``), each given ``FALLBACK_WAIT_SECONDS``
  before the next; when nobody at all can be reached, an alarm note.
- A priority change starts a new policy run (run + 1; the keys of the old run become stale).
  **Upgrade**: the new policy starts at its first step that has a target not yet notified
  about this incident (in any run), notified at once (every target of that step: the new
  priority is news to them too); when every target was already notified, its last step. Steps
  before it count as passed. An acknowledged incident stays acknowledged: the new step is
  notified once, with no automatic steps after it, and the reminder switches to the new
  policy's ack timeout. **Downgrade** (or the same priority with an edited policy): nobody is
  notified now; the new policy continues from its first step with a target not yet notified,
  on the original schedule (delays from when escalation first started; a step already due is
  due now).

``on_timer`` is idempotent: a key that is not pending (stale, already fired, from an old run)
gives no action and leaves the state unchanged; a step or repeat timer of an acknowledged or
resolved incident gives no notification; an ack-timeout timer of a resolved incident neither.
If the incident facts say acknowledged but ``on_acknowledged`` has not been called yet (a
race), a ``first_ack_wins`` escalation counts the acknowledgement then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from healthguard.incidents.lifecycle import IncidentState
from healthguard.incidents.priority import PRIORITIES, validate_priority

__all__ = [
    "ASSIGNEE",
    "ATTENDING",
    "CHARGE_NURSE",
    "FALLBACK_CHAIN",
    "FALLBACK_WAIT_SECONDS",
    "HOSPITAL_OPERATOR",
    "PHYSICIAN_ON_CALL",
    "RAPID_RESPONSE_TEAM",
    "CancelTimer",
    "EscalationAction",
    "EscalationState",
    "EscalationStatus",
    "IncidentFacts",
    "Notify",
    "NotifyKind",
    "Outcome",
    "Person",
    "Policy",
    "ScheduleTimer",
    "Step",
    "StepMode",
    "Target",
    "TargetKind",
    "TimelineNote",
    "Timer",
    "TimerPurpose",
    "describe_targets",
    "on_acknowledged",
    "on_declined",
    "on_escalate_now",
    "on_priority_changed",
    "on_resolved",
    "on_target_unresolvable",
    "on_timer",
    "start",
]

FALLBACK_WAIT_SECONDS = 60  # from one fallback (charge nurse) to the next (operator)


class TargetKind(StrEnum):
    """What a target names (``Target.ref``). The values of ``models.escalation.TargetKind``,
    plus ``assignee``: the person assignment chose (the primary nurse), ``ref`` empty.

    person: a staff id; schedule: a schedule name (whoever is on call in it); ward_role: a
    StaffRole on shift on the incident's ward ("charge_nurse"); team: a hospital-wide StaffRole
    ("rapid_response", "operator"); round_robin: the next of a StaffRole on shift, in turn;
    everyone: every staff member on shift on the ward (``ref`` empty) or every one of a role.
    """

    PERSON = "person"
    SCHEDULE = "schedule"
    WARD_ROLE = "ward_role"
    TEAM = "team"
    ROUND_ROBIN = "round_robin"
    EVERYONE = "everyone"
    ASSIGNEE = "assignee"


class StepMode(StrEnum):
    FIRST_ACK_WINS = "first_ack_wins"  # any acknowledgement stops the escalation
    ALL_MUST_ACK = "all_must_ack"  # every target of the step must acknowledge


class EscalationStatus(StrEnum):
    ESCALATING = "escalating"
    ACKNOWLEDGED = "acknowledged"  # no automatic steps; ack-timeout reminders only
    RESOLVED = "resolved"  # final: nothing more


class TimerPurpose(StrEnum):
    STEP = "step"  # the next step (or the first step of the next round) is due
    REPEAT = "repeat"  # a step's targets are due to be notified again
    FALLBACK = "fallback"  # the next of the fallback chain is due
    ACK_TIMEOUT = "ack_timeout"  # acknowledged for too long without being resolved


class NotifyKind(StrEnum):
    STEP = "step"
    REPEAT = "repeat"
    FALLBACK = "fallback"
    REMINDER = "reminder"  # the ack timeout


_ROLE_WORDS = {
    "nurse": "nurse",
    "charge_nurse": "charge nurse",
    "resident": "resident (physician on call)",
    "attending": "attending",
    "rapid_response": "rapid-response team",
    "operator": "hospital operator",
}


def _role_words(role: str) -> str:
    return _ROLE_WORDS.get(role, role.replace("_", " "))


# --- the policy as data -------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Who to notify. ``label`` is display text only (a person's name) and is not part of the
    identity: two targets with the same kind and ref are the same target."""

    kind: TargetKind
    ref: str = ""
    label: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", TargetKind(self.kind))

    def describe(self, ward_name: str | None = None, assignee_name: str | None = None) -> str:
        ward = ward_name or "the ward"
        kind = self.kind
        if kind is TargetKind.ASSIGNEE:
            return f"the primary nurse ({assignee_name})" if assignee_name else "the primary nurse"
        if kind is TargetKind.PERSON:
            return self.label or f"staff member {self.ref}"
        if kind is TargetKind.SCHEDULE:
            return f"whoever is on call in the {self.label or self.ref} schedule"
        if kind is TargetKind.WARD_ROLE:
            return f"the {_role_words(self.ref)} of {ward}"
        if kind is TargetKind.TEAM:
            words = _role_words(self.ref)
            return f"the {words}" if words.endswith(("team", "operator")) else f"the {words} team"
        if kind is TargetKind.ROUND_ROBIN:
            return f"the next {_role_words(self.ref)} in turn"
        if self.ref:
            return f"every {_role_words(self.ref)} on shift in {ward}"
        return f"everyone on shift in {ward}"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind.value, "ref": self.ref}
        if self.label:
            data["label"] = self.label
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Target:
        return cls(TargetKind(data["kind"]), str(data.get("ref", "")), str(data.get("label", "")))


ASSIGNEE = Target(TargetKind.ASSIGNEE)  # the primary nurse chosen by assignment
CHARGE_NURSE = Target(TargetKind.WARD_ROLE, "charge_nurse")
ATTENDING = Target(TargetKind.WARD_ROLE, "attending")
PHYSICIAN_ON_CALL = Target(TargetKind.WARD_ROLE, "resident")
RAPID_RESPONSE_TEAM = Target(TargetKind.TEAM, "rapid_response")
HOSPITAL_OPERATOR = Target(TargetKind.TEAM, "operator")

# When a step resolves to nobody after the last step, or nobody is left: in this order.
FALLBACK_CHAIN: tuple[Target, ...] = (CHARGE_NURSE, HOSPITAL_OPERATOR)


@dataclass(frozen=True)
class Step:
    """Notify ``targets`` ``delay_seconds`` after the start of the round; then every
    ``repeat_every_seconds`` (when set) until acknowledged."""

    delay_seconds: int
    targets: tuple[Target, ...]
    mode: StepMode = StepMode.FIRST_ACK_WINS
    repeat_every_seconds: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", StepMode(self.mode))
        object.__setattr__(self, "targets", tuple(self.targets))
        if self.delay_seconds < 0:
            raise ValueError("delay_seconds must not be negative")
        if not self.targets:
            raise ValueError("a step needs at least one target")
        if self.repeat_every_seconds is not None and self.repeat_every_seconds <= 0:
            raise ValueError("repeat_every_seconds must be positive")

    def to_json(self) -> dict[str, Any]:
        return {
            "delay_seconds": self.delay_seconds,
            "targets": [t.to_json() for t in self.targets],
            "mode": self.mode.value,
            "repeat_every_seconds": self.repeat_every_seconds,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Step:
        return cls(
            delay_seconds=int(data["delay_seconds"]),
            targets=tuple(Target.from_json(t) for t in data["targets"]),
            mode=StepMode(data.get("mode", StepMode.FIRST_ACK_WINS.value)),
            repeat_every_seconds=data.get("repeat_every_seconds"),
        )


@dataclass(frozen=True)
class Policy:
    """Ordered steps; see the module docstring for the meaning of every field.
    ``default_policies.validate_policy`` checks admin-edited data field by field; this class
    only refuses what the planner cannot run."""

    name: str
    steps: tuple[Step, ...]
    priority: str | None = None
    repeat_count: int = 0  # more rounds after the first when nobody acknowledges
    repeat_from_step: int = 0  # where a repeated round starts (0-based)
    repeat_after_seconds: int = 300  # from the last step to the next round
    ack_timeout_seconds: int | None = None  # remind after this long acknowledged, unresolved

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        if self.priority is not None:
            object.__setattr__(self, "priority", validate_priority(self.priority))
        if not self.steps:
            raise ValueError("a policy needs at least one step")
        for before, after in zip(self.steps, self.steps[1:], strict=False):
            if after.delay_seconds < before.delay_seconds:
                raise ValueError("step delays count from the start of the round: never decrease")
        if self.repeat_count < 0 or self.repeat_after_seconds < 0:
            raise ValueError("repeat_count and repeat_after_seconds must not be negative")
        if not 0 <= self.repeat_from_step < len(self.steps):
            raise ValueError("repeat_from_step must name a step")
        if self.ack_timeout_seconds is not None and self.ack_timeout_seconds <= 0:
            raise ValueError("ack_timeout_seconds must be positive")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "priority": self.priority,
            "steps": [s.to_json() for s in self.steps],
            "repeat_count": self.repeat_count,
            "repeat_from_step": self.repeat_from_step,
            "repeat_after_seconds": self.repeat_after_seconds,
            "ack_timeout_seconds": self.ack_timeout_seconds,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Policy:
        return cls(
            name=str(data["name"]),
            priority=data.get("priority"),
            steps=tuple(Step.from_json(s) for s in data["steps"]),
            repeat_count=int(data.get("repeat_count", 0)),
            repeat_from_step=int(data.get("repeat_from_step", 0)),
            repeat_after_seconds=int(data.get("repeat_after_seconds", 300)),
            ack_timeout_seconds=data.get("ack_timeout_seconds"),
        )


# --- the incident as escalation sees it, and who acts ----------------------------------------


@dataclass(frozen=True)
class IncidentFacts:
    """What the planner needs to know of the incident, re-read by every job."""

    incident_id: str
    priority: str
    ward_name: str = "the ward"
    status: IncidentState = IncidentState.TRIGGERED
    number: int | None = None
    assignee_name: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", IncidentState(self.status))
        object.__setattr__(self, "priority", validate_priority(self.priority))

    @property
    def resolved(self) -> bool:
        return self.status in (IncidentState.RESOLVED, IncidentState.CLOSED)

    @property
    def acknowledged(self) -> bool:
        return self.status in (IncidentState.ACKNOWLEDGED, IncidentState.IN_PROGRESS)


@dataclass(frozen=True)
class Person:
    """Someone who acknowledged, declined or pressed escalate."""

    staff_id: str
    name: str

    def as_target(self) -> Target:
        return Target(TargetKind.PERSON, self.staff_id, self.name)


# --- actions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notify:
    """Notify ``targets`` now. ``step`` is the policy step (None for a fallback or a
    reminder); ``round`` counts from 0."""

    key: str
    at: datetime
    kind: NotifyKind
    targets: tuple[Target, ...]
    reason: str
    round: int = 0
    step: int | None = None


@dataclass(frozen=True)
class ScheduleTimer:
    key: str
    at: datetime
    reason: str


@dataclass(frozen=True)
class CancelTimer:
    key: str
    reason: str


@dataclass(frozen=True)
class TimelineNote:
    at: datetime
    reason: str
    alarm: bool = False  # a person must act: nobody could be notified


EscalationAction = Notify | ScheduleTimer | CancelTimer | TimelineNote


# --- the state ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timer:
    """A pending timer. ``step`` is the fallback level for FALLBACK, -1 for ACK_TIMEOUT;
    ``number`` counts repeats and reminders from 1."""

    key: str
    due_at: datetime
    purpose: TimerPurpose
    round: int = 0
    step: int = 0
    number: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "due_at": self.due_at.isoformat(),
            "purpose": self.purpose.value,
            "round": self.round,
            "step": self.step,
            "number": self.number,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Timer:
        return cls(
            key=str(data["key"]),
            due_at=datetime.fromisoformat(data["due_at"]),
            purpose=TimerPurpose(data["purpose"]),
            round=int(data["round"]),
            step=int(data["step"]),
            number=int(data["number"]),
        )


@dataclass(frozen=True)
class EscalationState:
    """One incident's escalation, persisted by the adapter as JSON between calls.

    ``origin``: step i of the current round is due at ``origin + delay[i]`` (re-based when a
    step fires early or late). ``step``: the latest step notified in the round (-1: none yet).
    ``notified``: every target notified about this incident, in every run (a priority upgrade
    skips steps whose targets all know). ``acked_targets``: who has acknowledged the current
    ``all_must_ack`` step. ``unresolvable``: targets that resolved to nobody in this run.
    ``fallback_level``: 0 none, 1 the charge nurse, 2 the operator, 3 nobody left.
    """

    incident_id: str
    run: int
    policy: Policy
    priority: str
    status: EscalationStatus
    started_at: datetime  # of this run
    first_started_at: datetime  # of the first run
    origin: datetime
    round: int = 0
    step: int = -1
    pending: tuple[Timer, ...] = ()
    acked_targets: tuple[Target, ...] = ()
    notified: tuple[Target, ...] = ()
    unresolvable: tuple[Target, ...] = ()
    fallback_level: int = 0
    acknowledged_at: datetime | None = None
    acknowledged_by: Person | None = None
    acks: int = 0  # acknowledgements in this run (numbers the ack-timeout keys)

    @property
    def key_prefix(self) -> str:
        return f"esc:{self.incident_id}:run{self.run}"

    def timer(self, key: str) -> Timer | None:
        return next((t for t in self.pending if t.key == key), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "incident_id": self.incident_id,
            "run": self.run,
            "policy": self.policy.to_json(),
            "priority": self.priority,
            "status": self.status.value,
            "started_at": self.started_at.isoformat(),
            "first_started_at": self.first_started_at.isoformat(),
            "origin": self.origin.isoformat(),
            "round": self.round,
            "step": self.step,
            "pending": [t.to_json() for t in self.pending],
            "acked_targets": [t.to_json() for t in self.acked_targets],
            "notified": [t.to_json() for t in self.notified],
            "unresolvable": [t.to_json() for t in self.unresolvable],
            "fallback_level": self.fallback_level,
            "acknowledged_at": _iso(self.acknowledged_at),
            "acknowledged_by": (
                None
                if self.acknowledged_by is None
                else {"staff_id": self.acknowledged_by.staff_id, "name": self.acknowledged_by.name}
            ),
            "acks": self.acks,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EscalationState:
        by = data.get("acknowledged_by")
        acknowledged_at = data.get("acknowledged_at")
        return cls(
            incident_id=str(data["incident_id"]),
            run=int(data["run"]),
            policy=Policy.from_json(data["policy"]),
            priority=str(data["priority"]),
            status=EscalationStatus(data["status"]),
            started_at=datetime.fromisoformat(data["started_at"]),
            first_started_at=datetime.fromisoformat(data["first_started_at"]),
            origin=datetime.fromisoformat(data["origin"]),
            round=int(data["round"]),
            step=int(data["step"]),
            pending=tuple(Timer.from_json(t) for t in data["pending"]),
            acked_targets=tuple(Target.from_json(t) for t in data["acked_targets"]),
            notified=tuple(Target.from_json(t) for t in data["notified"]),
            unresolvable=tuple(Target.from_json(t) for t in data["unresolvable"]),
            fallback_level=int(data["fallback_level"]),
            acknowledged_at=datetime.fromisoformat(acknowledged_at) if acknowledged_at else None,
            acknowledged_by=None if by is None else Person(str(by["staff_id"]), str(by["name"])),
            acks=int(data["acks"]),
        )


Outcome = tuple[EscalationState, tuple[EscalationAction, ...]]


# --- the public functions -------------------------------------------------------------------


def start(policy: Policy, facts: IncidentFacts, now: datetime, *, run: int = 1) -> Outcome:
    """Start escalating ``facts``' incident with ``policy``. ``run``: 1 for a new incident;
    after a reopen, the previous state's run + 1 (so no timer key is ever reused)."""
    _check_now(now)
    if run < 1:
        raise ValueError("run must be 1 or more")
    state = EscalationState(
        incident_id=facts.incident_id,
        run=run,
        policy=policy,
        priority=facts.priority,
        status=EscalationStatus.ESCALATING,
        started_at=now,
        first_started_at=now,
        origin=now,
    )
    w = _Work(state, facts, now)
    if facts.resolved:
        w.s = replace(w.s, status=EscalationStatus.RESOLVED)
        return w.done()
    if facts.acknowledged:
        _acknowledge(w, _person_from_facts(facts), None, facts.acknowledged_at or now)
        return w.done()
    first = policy.steps[0]
    if first.delay_seconds == 0:
        _fire_step(w, 0, 0, f"{facts.priority} incident opened in {facts.ward_name}")
    else:
        _schedule_step(w, 0, 0, now + _seconds(first.delay_seconds))
    return w.done()


def on_timer(
    state: EscalationState, timer_key: str, facts: IncidentFacts, now: datetime
) -> Outcome:
    """A scheduled timer fired. Idempotent: see the module docstring."""
    w = _begin(state, facts, now)
    timer = state.timer(timer_key)
    if timer is None or state.status is EscalationStatus.RESOLVED:
        return state, ()
    w.s = replace(w.s, pending=tuple(t for t in state.pending if t.key != timer_key))
    if facts.resolved:
        w.s = replace(w.s, status=EscalationStatus.RESOLVED, pending=())
        return w.s, ()
    if timer.purpose is TimerPurpose.ACK_TIMEOUT:
        if w.s.status is EscalationStatus.ACKNOWLEDGED:
            _remind(w, timer)
        return w.done()
    if w.s.status is EscalationStatus.ACKNOWLEDGED:
        return w.done()
    if facts.acknowledged and _current_mode(w.s) is StepMode.FIRST_ACK_WINS:
        # Acknowledged, but on_acknowledged has not reached us yet: count it now.
        _acknowledge(w, _person_from_facts(facts), None, facts.acknowledged_at or now)
        return w.done()
    elapsed = _duration(now - w.s.started_at)
    if timer.purpose is TimerPurpose.STEP:
        _fire_step(w, timer.round, timer.step, f"no acknowledgement after {elapsed}")
    elif timer.purpose is TimerPurpose.REPEAT:
        _repeat(w, timer, elapsed)
    else:
        _fallback(w, f"no acknowledgement after {elapsed}", skip=timer.step - 1)
    return w.done()


def on_acknowledged(
    state: EscalationState,
    facts: IncidentFacts,
    now: datetime,
    *,
    by: Person | None = None,
    via: Target | None = None,
) -> Outcome:
    """``by`` acknowledged, reached through ``via`` (a target of the step that notified them;
    needed for ``all_must_ack`` steps). Stops the escalation (once every target of an
    ``all_must_ack`` step has acknowledged) and schedules the ack-timeout reminder."""
    w = _begin(state, facts, now)
    if facts.resolved or state.status is not EscalationStatus.ESCALATING:
        return state, ()
    _acknowledge(w, by, via, now)
    return w.done()


def on_declined(
    state: EscalationState, facts: IncidentFacts, now: datetime, *, by: Person | None = None
) -> Outcome:
    """``by`` declined: the next step is notified at once (after the last step, the next
    round, else the fallback chain). On an acknowledged incident the next step is notified
    once and the incident stays acknowledged."""
    who = by.name if by is not None else "a responder"
    return _jump(state, facts, now, f"{who} declined")


def on_escalate_now(
    state: EscalationState, facts: IncidentFacts, now: datetime, *, by: Person | None = None
) -> Outcome:
    """``by`` pressed escalate: the next step at once, as for a decline."""
    who = by.name if by is not None else "someone"
    return _jump(state, facts, now, f"{who} pressed escalate")


def on_priority_changed(
    state: EscalationState, policy: Policy, facts: IncidentFacts, now: datetime
) -> Outcome:
    """The incident is now ``facts.priority`` and escalates with ``policy`` (a new run; see
    the module docstring for the upgrade and downgrade rules)."""
    w = _begin(state, facts, now)
    if facts.resolved or state.status is EscalationStatus.RESOLVED:
        return state, ()
    before, after = state.priority, facts.priority
    upgrade = PRIORITIES.index(after) < PRIORITIES.index(before)
    _cancel(w, state.pending, f"priority changed {before} → {after}: a new policy run")
    acknowledged = state.status is EscalationStatus.ACKNOWLEDGED
    w.s = replace(
        state,
        run=state.run + 1,
        policy=policy,
        priority=after,
        started_at=now,
        origin=now,
        round=0,
        step=-1,
        pending=(),
        acked_targets=(),
        unresolvable=(),
        fallback_level=0,
        acks=1 if acknowledged else 0,
    )
    fresh = next(
        (i for i, s in enumerate(policy.steps) if any(t not in state.notified for t in s.targets)),
        None,
    )
    if upgrade:
        index = fresh if fresh is not None else len(policy.steps) - 1
        passed = _passed_note(policy, index, facts)
        _fire_step(w, 0, index, f"priority raised {before} → {after}{passed}")
        if acknowledged:
            w.note(
                f"the incident stays acknowledged by {_acknowledger(w.s)}: no further "
                "automatic steps"
            )
            _schedule_reminder(w, now, 1)
        return w.done()
    if acknowledged:
        assert state.acknowledged_at is not None
        _schedule_reminder(w, state.acknowledged_at, 1)
        w.note(f"priority lowered {before} → {after}: the incident stays acknowledged")
        return w.done()
    if fresh is None:
        w.s = replace(w.s, step=len(policy.steps) - 1)
        w.note(
            f"priority lowered {before} → {after}: every step of the {after} policy was already "
            "notified; no further automatic steps"
        )
        return w.done()
    w.s = replace(w.s, step=fresh - 1, origin=state.first_started_at)
    due = max(now, state.first_started_at + _seconds(policy.steps[fresh].delay_seconds))
    _schedule_step(w, 0, fresh, due)
    w.note(
        f"priority lowered {before} → {after}: next, "
        f"{describe_targets(policy.steps[fresh].targets, facts)} at {_clock(due)}"
    )
    return w.done()


def on_resolved(state: EscalationState, facts: IncidentFacts, now: datetime) -> Outcome:
    """The incident is resolved: stop everything (idempotent)."""
    w = _begin(state, facts, now)
    if state.status is EscalationStatus.RESOLVED:
        return state, ()
    _cancel(w, state.pending, "resolved")
    w.s = replace(w.s, status=EscalationStatus.RESOLVED, pending=())
    w.note("resolved: escalation stopped")
    return w.done()


def on_target_unresolvable(
    state: EscalationState,
    notify_key: str,
    facts: IncidentFacts,
    now: datetime,
    *,
    targets: Sequence[Target] = (),
    why: str = "nobody on shift",
) -> Outcome:
    """The notification ``notify_key`` reached nobody for ``targets`` (empty: all of its
    targets), e.g. a schedule gap. When every target of the current step is unreachable, the
    next step is notified at once (after the last step: the fallback chain, no new round).
    A report about an older notification only adds a timeline note, or nothing when stale."""
    w = _begin(state, facts, now)
    prefix = state.key_prefix + ":"
    if facts.resolved or state.status is EscalationStatus.RESOLVED:
        return state, ()
    if not notify_key.startswith(prefix):
        return state, ()
    part = notify_key[len(prefix) :]
    if part.startswith("fb"):
        level = int(part[2:])
        target = FALLBACK_CHAIN[level - 1]
        if level != state.fallback_level or target in state.unresolvable:
            return state, ()
        w.s = replace(w.s, unresolvable=_merge(state.unresolvable, (target,)))
        head = f"{target.describe(facts.ward_name)} could not be reached ({why})"
        if state.status is EscalationStatus.ACKNOWLEDGED:
            w.note(head)
        else:
            _cancel(w, [t for t in state.pending if t.purpose is TimerPurpose.FALLBACK], head)
            _fallback(w, head, skip=level)
        return w.done()
    if part.startswith("ack"):
        if state.status is EscalationStatus.ACKNOWLEDGED:
            w.note(f"the reminder to {_acknowledger(state)} reached nobody ({why})", alarm=True)
        return w.done()
    round_, step = _round_and_step(part, notify_key)
    if (round_, step) != (state.round, state.step):
        return state, ()
    step_targets = state.policy.steps[step].targets
    bad = tuple(targets) or step_targets
    if all(t in state.unresolvable for t in bad):
        return state, ()  # the same report again
    w.s = replace(w.s, unresolvable=_merge(state.unresolvable, bad))
    head = f"{describe_targets(bad, facts)} could not be reached ({why})"
    live = [t for t in step_targets if t not in w.s.unresolvable]
    if live:
        w.note(f"{head}; {describe_targets(live, facts)} notified")
    elif state.status is EscalationStatus.ACKNOWLEDGED:
        w.note(head)
    else:
        stale = [t for t in state.pending if t.purpose is TimerPurpose.REPEAT and t.step == step]
        _cancel(w, stale, "nobody to repeat to")
        _advance(w, head, new_round=False)
    return w.done()


def describe_targets(targets: Iterable[Target], facts: IncidentFacts | None = None) -> str:
    """Targets in words, e.g. "the rapid-response team and the charge nurse of ICU"."""
    ward = facts.ward_name if facts is not None else None
    assignee = facts.assignee_name if facts is not None else None
    words = [t.describe(ward, assignee) for t in targets]
    if not words:
        return "nobody"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " and " + words[-1]


# --- the planner's working parts ------------------------------------------------------------


class _Work:
    """The state being built and the actions so far (one public call)."""

    def __init__(self, state: EscalationState, facts: IncidentFacts, now: datetime) -> None:
        self.s = state
        self.facts = facts
        self.now = now
        self.actions: list[EscalationAction] = []

    def note(self, reason: str, *, alarm: bool = False) -> None:
        self.actions.append(TimelineNote(self.now, reason, alarm))

    def schedule(self, timer: Timer, reason: str) -> None:
        self.s = replace(self.s, pending=(*self.s.pending, timer))
        self.actions.append(ScheduleTimer(timer.key, timer.due_at, reason))

    def done(self) -> Outcome:
        return self.s, tuple(self.actions)


def _begin(state: EscalationState, facts: IncidentFacts, now: datetime) -> _Work:
    _check_now(now)
    if facts.incident_id != state.incident_id:
        raise ValueError(
            f"facts are about incident {facts.incident_id}, the state about {state.incident_id}"
        )
    return _Work(state, facts, now)


def _jump(state: EscalationState, facts: IncidentFacts, now: datetime, head: str) -> Outcome:
    w = _begin(state, facts, now)
    if facts.resolved or state.status is EscalationStatus.RESOLVED:
        return state, ()
    _advance(w, head, new_round=True)
    return w.done()


def _advance(w: _Work, head: str, *, new_round: bool) -> None:
    """Notify what comes after the latest step now: the next step, else (when allowed) the
    next round, else the next of the fallback chain."""
    s = w.s
    if s.step + 1 < len(s.policy.steps):
        _fire_step(w, s.round, s.step + 1, head)
    elif new_round and s.round < s.policy.repeat_count:
        _fire_step(w, s.round + 1, s.policy.repeat_from_step, head)
    else:
        tried = s.policy.steps[s.step].targets if s.step >= 0 else ()
        _fallback(w, head, skip=s.fallback_level, tried=tried)


def _fire_step(w: _Work, round_: int, index: int, head: str) -> None:
    s = w.s
    policy = s.policy
    step = policy.steps[index]
    dropped = [t for t in s.pending if t.purpose in (TimerPurpose.STEP, TimerPurpose.FALLBACK)]
    if round_ != s.round:
        dropped += [t for t in s.pending if t.purpose is TimerPurpose.REPEAT]
    _cancel(w, dropped, f"step {index + 1} notified now")
    w.s = replace(
        w.s,
        round=round_,
        step=index,
        origin=w.now - _seconds(step.delay_seconds),
        acked_targets=(),
        notified=_merge(s.notified, step.targets),
    )
    last = index == len(policy.steps) - 1 and round_ >= policy.repeat_count
    where = f"step {index + 1} of {len(policy.steps)}"
    if policy.repeat_count:
        where += f", round {round_ + 1} of {policy.repeat_count + 1}"
    reason = f"{head}: notifying {describe_targets(step.targets, w.facts)} ({where})"
    if last:
        reason += "; the last step of the policy"
    w.actions.append(
        Notify(
            _step_key(w.s, round_, index),
            w.now,
            NotifyKind.STEP,
            step.targets,
            reason,
            round_,
            index,
        )
    )
    if w.s.status is not EscalationStatus.ESCALATING:
        return
    if step.repeat_every_seconds:
        _schedule_repeat(w, round_, index, 1, w.now + _seconds(step.repeat_every_seconds))
    if index + 1 < len(policy.steps):
        due = w.s.origin + _seconds(policy.steps[index + 1].delay_seconds)
        _schedule_step(w, round_, index + 1, due)
    elif round_ < policy.repeat_count:
        due = w.now + _seconds(policy.repeat_after_seconds)
        _schedule_step(w, round_ + 1, policy.repeat_from_step, due)


def _repeat(w: _Work, timer: Timer, elapsed: str) -> None:
    s = w.s
    if timer.round != s.round:
        return
    step = s.policy.steps[timer.step]
    answered = s.acked_targets if timer.step == s.step else ()
    targets = tuple(t for t in step.targets if t not in answered and t not in s.unresolvable)
    if not targets:
        return
    every = step.repeat_every_seconds
    assert every is not None
    w.actions.append(
        Notify(
            timer.key,
            w.now,
            NotifyKind.REPEAT,
            targets,
            f"still no acknowledgement after {elapsed}: notifying "
            f"{describe_targets(targets, w.facts)} again (repeat {timer.number}, every "
            f"{_duration(timedelta(seconds=every))})",
            timer.round,
            timer.step,
        )
    )
    _schedule_repeat(w, timer.round, timer.step, timer.number + 1, w.now + _seconds(every))


def _fallback(w: _Work, head: str, *, skip: int, tried: tuple[Target, ...] = ()) -> None:
    """Notify the first of the fallback chain after level ``skip`` that can be reached and
    was not ``tried`` just now (the step that declined or reached nobody)."""
    s = w.s
    for level in range(max(skip, s.fallback_level) + 1, len(FALLBACK_CHAIN) + 1):
        target = FALLBACK_CHAIN[level - 1]
        if target in s.unresolvable or target in tried:
            continue
        w.s = replace(w.s, fallback_level=level, notified=_merge(s.notified, (target,)))
        w.actions.append(
            Notify(
                f"{s.key_prefix}:fb{level}",
                w.now,
                NotifyKind.FALLBACK,
                (target,),
                f"{head}: falling back to {target.describe(w.facts.ward_name)}",
                s.round,
                None,
            )
        )
        if level < len(FALLBACK_CHAIN) and s.status is EscalationStatus.ESCALATING:
            w.schedule(
                Timer(
                    f"{s.key_prefix}:fb{level + 1}",
                    w.now + _seconds(FALLBACK_WAIT_SECONDS),
                    TimerPurpose.FALLBACK,
                    s.round,
                    level + 1,
                ),
                f"{FALLBACK_CHAIN[level].describe(w.facts.ward_name)} if nobody acknowledges",
            )
        return
    w.s = replace(w.s, fallback_level=len(FALLBACK_CHAIN) + 1)
    w.note(
        f"{head}: nobody left to notify ({describe_targets(FALLBACK_CHAIN, w.facts)} cannot be "
        "reached or were already tried); call the ward by phone",
        alarm=True,
    )


def _acknowledge(w: _Work, by: Person | None, via: Target | None, at: datetime) -> None:
    s = w.s
    who = by.name if by is not None else "someone"
    if s.step >= 0 and _current_mode(s) is StepMode.ALL_MUST_ACK:
        targets = s.policy.steps[s.step].targets
        acked = s.acked_targets
        if via is not None and via in targets:
            acked = _merge(acked, (via,))
        w.s = replace(w.s, acked_targets=acked)
        waiting = [t for t in targets if t not in acked and t not in s.unresolvable]
        if waiting:
            w.note(
                f"{who} acknowledged; every target of this step must acknowledge: waiting for "
                f"{describe_targets(waiting, w.facts)}"
            )
            return
    _cancel(w, w.s.pending, f"acknowledged by {who}")
    w.s = replace(
        w.s,
        status=EscalationStatus.ACKNOWLEDGED,
        pending=(),
        acknowledged_at=at,
        acknowledged_by=by,
        acks=s.acks + 1,
    )
    timeout = s.policy.ack_timeout_seconds
    later = f"; reminder after {_duration(timedelta(seconds=timeout))}" if timeout else ""
    w.note(f"acknowledged by {who}: escalation stopped{later} if not resolved")
    _schedule_reminder(w, at, 1)


def _schedule_reminder(w: _Work, since: datetime, number: int) -> None:
    timeout = w.s.policy.ack_timeout_seconds
    if timeout is None:
        return
    due = max(w.now, since + _seconds(timeout))
    w.schedule(
        Timer(
            f"{w.s.key_prefix}:ack{w.s.acks}.{number}",
            due,
            TimerPurpose.ACK_TIMEOUT,
            w.s.round,
            -1,
            number,
        ),
        f"remind {_acknowledger(w.s)} if not resolved",
    )


def _remind(w: _Work, timer: Timer) -> None:
    s = w.s
    by = s.acknowledged_by
    if by is not None:
        targets: tuple[Target, ...] = (by.as_target(),)
    elif s.step >= 0:
        targets = s.policy.steps[s.step].targets
    else:
        targets = s.policy.steps[0].targets
    since = s.acknowledged_at or s.started_at
    w.actions.append(
        Notify(
            timer.key,
            w.now,
            NotifyKind.REMINDER,
            targets,
            f"acknowledged by {_acknowledger(s)} {_duration(w.now - since)} ago and not "
            f"resolved: reminding {describe_targets(targets, w.facts)}",
            s.round,
            None,
        )
    )
    timeout = s.policy.ack_timeout_seconds
    if timeout is not None:
        w.schedule(
            Timer(
                f"{s.key_prefix}:ack{s.acks}.{timer.number + 1}",
                w.now + _seconds(timeout),
                TimerPurpose.ACK_TIMEOUT,
                s.round,
                -1,
                timer.number + 1,
            ),
            f"remind {_acknowledger(s)} again if not resolved",
        )


def _schedule_step(w: _Work, round_: int, index: int, due: datetime) -> None:
    step = w.s.policy.steps[index]
    w.schedule(
        Timer(_step_key(w.s, round_, index), due, TimerPurpose.STEP, round_, index),
        f"step {index + 1}: {describe_targets(step.targets, w.facts)} if nobody acknowledges",
    )


def _schedule_repeat(w: _Work, round_: int, index: int, number: int, due: datetime) -> None:
    w.schedule(
        Timer(
            f"{_step_key(w.s, round_, index)}:rep{number}",
            due,
            TimerPurpose.REPEAT,
            round_,
            index,
            number,
        ),
        f"step {index + 1} again if nobody acknowledges",
    )


def _cancel(w: _Work, timers: Iterable[Timer], reason: str) -> None:
    keys = {t.key for t in timers}
    if not keys:
        return
    w.s = replace(w.s, pending=tuple(t for t in w.s.pending if t.key not in keys))
    w.actions.extend(CancelTimer(key, reason) for key in sorted(keys))


def _current_mode(s: EscalationState) -> StepMode:
    return s.policy.steps[s.step].mode if s.step >= 0 else StepMode.FIRST_ACK_WINS


def _passed_note(policy: Policy, index: int, facts: IncidentFacts) -> str:
    if index == 0:
        return ""
    known = _merge((), (t for s in policy.steps[:index] for t in s.targets))
    return f" ({describe_targets(known, facts)} already notified)"


def _round_and_step(part: str, key: str) -> tuple[int, int]:
    """(round, step) of a step or repeat key's tail, "r0:s1" or "r0:s1:rep2"."""
    fields = part.split(":")
    try:
        if fields[0].startswith("r") and fields[1].startswith("s"):
            return int(fields[0][1:]), int(fields[1][1:])
    except (IndexError, ValueError):
        pass
    raise ValueError(f"not a notification key of this escalation: {key!r}")


def _step_key(s: EscalationState, round_: int, index: int) -> str:
    return f"{s.key_prefix}:r{round_}:s{index}"


def _merge(known: tuple[Target, ...], more: Iterable[Target]) -> tuple[Target, ...]:
    result = list(known)
    for target in more:
        if target not in result:
            result.append(target)
    return tuple(result)


def _person_from_facts(facts: IncidentFacts) -> Person | None:
    by = facts.acknowledged_by
    return Person(by, by) if by else None


def _acknowledger(s: EscalationState) -> str:
    return s.acknowledged_by.name if s.acknowledged_by is not None else "whoever acknowledged"


def _seconds(n: int) -> timedelta:
    return timedelta(seconds=n)


def _duration(span: timedelta) -> str:
    """A span in seconds, with minutes from 2 min on: "45 s", "300 s (5 min)"."""
    seconds = int(span.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours == 0:
        words = f"{minutes} min"
    else:
        words = f"{hours} h" + (f" {minutes} min" if minutes else "")
    return f"{seconds} s ({words})"


def _clock(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _check_now(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
