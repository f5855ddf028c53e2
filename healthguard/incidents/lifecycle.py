"""The incident lifecycle: which action is legal from which state, for whom, and with what.

Pure: no I/O, no database, no clock (``now`` is passed in). A service function loads the
incident, builds an ``IncidentView``, calls ``plan(view, request, now=...)`` and then either
writes what the ``Plan`` says (``plan.after``: status, timestamps, fields, version + 1; and
``plan.entries`` as timeline rows) in ONE transaction, with ``UPDATE ... WHERE version =
view.version``, or answers the ``Refusal`` (``refusal.http_status``: 403 forbidden, 409
illegal transition or stale version, 422 missing reason or invalid input; always with the
current status and the actions this person may take now)::

    triggered --acknowledge--> acknowledged --start--> in_progress --resolve--> resolved
        |   \\                        |                                    |  |
        |    \\--start (acknowledges too, same time)-->                    |  +--close--> closed
        +--resolve (false alarm...)   +--resolve                          |       (final)
        ^------------------- reopen (within 24 h of resolved_at) ---------+

Escalate, reassign, add a note, add or remove a responder, set the lead and change the
priority are events: they leave the status as it is (and are refused once the incident is
resolved, except a note, documentation after the fact, which a closed incident also refuses).

Every action names the ``Permission`` it needs (``RULES``; creating an incident needs
``incidents:create`` and starts it as triggered). Integration keys hold no incident
permission: a key with the ``events:write`` scope triggers, acknowledges and resolves
through the integrations service, which calls ``plan`` on the key's behalf with
``INTEGRATION_EVENT_PERMISSIONS`` (a machine resolution is reason ``other`` with a text
such as "resolved by Alertmanager").
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from healthguard.incidents.priority import PRIORITIES, validate_priority
from healthguard.security.permissions import Permission

REOPEN_WINDOW = timedelta(hours=24)
MAX_TEXT_LENGTH = 10_000  # a note, a reason, a resolution text
MAX_NAME_LENGTH = 200  # a person or team (the timeline's actor column)
LEAD_PRIORITIES: tuple[str, ...] = ("P0", "P1")

_E = TypeVar("_E", bound=StrEnum)


class IncidentState(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"  # someone is at the bedside
    RESOLVED = "resolved"
    CLOSED = "closed"  # reviewed; final


OPEN_STATES = frozenset(
    {IncidentState.TRIGGERED, IncidentState.ACKNOWLEDGED, IncidentState.IN_PROGRESS}
)


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    START = "start"
    ESCALATE = "escalate"
    REASSIGN = "reassign"
    ADD_NOTE = "add_note"
    ADD_RESPONDER = "add_responder"
    REMOVE_RESPONDER = "remove_responder"
    SET_LEAD = "set_lead"
    CHANGE_PRIORITY = "change_priority"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"


class ResolutionReason(StrEnum):
    TREATED = "treated"
    TRANSFERRED_TO_ICU = "transferred_to_icu"
    FALSE_ALARM = "false_alarm"  # artefact, probe off, ...: needs a text
    DUPLICATE = "duplicate"  # needs the incident it duplicates
    PATIENT_DECEASED = "patient_deceased"
    OTHER = "other"  # needs a text


REASONS_NEEDING_TEXT = frozenset({ResolutionReason.FALSE_ALARM, ResolutionReason.OTHER})


class ResponderRole(StrEnum):
    PRIMARY_NURSE = "primary_nurse"
    CHARGE_NURSE = "charge_nurse"
    PHYSICIAN = "physician"
    RAPID_RESPONSE_TEAM = "rapid_response_team"
    OTHER = "other"


class RefusalCode(StrEnum):
    FORBIDDEN = "forbidden"  # the person lacks the permission
    ILLEGAL_TRANSITION = "illegal_transition"  # not from this state (or window over)
    CONFLICT = "conflict"  # the incident changed since the version the person saw
    MISSING_REASON = "missing_reason"  # a required reason, note or duplicate is missing
    INVALID = "invalid"  # a value is wrong (unknown role, too long, lead on a P3, ...)


HTTP_STATUS: dict[RefusalCode, int] = {
    RefusalCode.FORBIDDEN: 403,
    RefusalCode.ILLEGAL_TRANSITION: 409,
    RefusalCode.CONFLICT: 409,
    RefusalCode.MISSING_REASON: 422,
    RefusalCode.INVALID: 422,
}

# What the integrations service passes for an integration key with the events:write scope.
INTEGRATION_EVENT_PERMISSIONS = frozenset(
    {Permission.INCIDENTS_ACKNOWLEDGE, Permission.INCIDENTS_RESOLVE}
)


# --- the incident as the state machine sees it ---------------------------------------------


@dataclass(frozen=True)
class Responder:
    person: str
    role: ResponderRole


@dataclass(frozen=True)
class Resolution:
    reason: ResolutionReason
    text: str | None = None
    duplicate_of: int | str | None = None  # an incident number, or an incident id (UUID)


@dataclass(frozen=True)
class IncidentView:
    """What the lifecycle needs to know of an incident. Timestamps are timezone-aware."""

    status: IncidentState
    priority: str
    version: int = 1
    number: int | None = None  # "#123" in messages
    id: str | None = None
    assignee: str | None = None
    escalation_step: int = 0  # 0: the first step of the escalation policy
    escalation_steps: int | None = None  # steps in the policy; None: not known here
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    started_at: datetime | None = None
    started_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution: Resolution | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    lead: str | None = None  # P0 / P1 only; always one of the responders
    responders: tuple[Responder, ...] = ()

    def __post_init__(self) -> None:
        # Accept the status column as stored ("acknowledged"); refuse what cannot be.
        object.__setattr__(self, "status", IncidentState(self.status))
        if self.priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {', '.join(PRIORITIES)}")

    @property
    def name(self) -> str:
        return f"Incident #{self.number}" if self.number is not None else "The incident"

    def responder(self, person: str) -> Responder | None:
        return next((r for r in self.responders if r.person == person), None)


# --- what a person asks for (one dataclass per action; raw values, validated by plan) -----


@dataclass(frozen=True)
class Acknowledge:
    action: ClassVar[Action] = Action.ACKNOWLEDGE


@dataclass(frozen=True)
class Start:
    """A responder is at the bedside (acknowledges too when nobody had)."""

    action: ClassVar[Action] = Action.START


@dataclass(frozen=True)
class Escalate:
    """To the next step of the escalation policy (``to`` None) or to a named person/team."""

    action: ClassVar[Action] = Action.ESCALATE
    to: str | None = None


@dataclass(frozen=True)
class Reassign:
    action: ClassVar[Action] = Action.REASSIGN
    to: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class AddNote:
    action: ClassVar[Action] = Action.ADD_NOTE
    text: str | None = None


@dataclass(frozen=True)
class AddResponder:
    action: ClassVar[Action] = Action.ADD_RESPONDER
    person: str | None = None
    role: str | None = None


@dataclass(frozen=True)
class RemoveResponder:
    action: ClassVar[Action] = Action.REMOVE_RESPONDER
    person: str | None = None


@dataclass(frozen=True)
class SetLead:
    action: ClassVar[Action] = Action.SET_LEAD
    person: str | None = None


@dataclass(frozen=True)
class ChangePriority:
    """Raising needs nothing more; lowering needs incidents:downgrade and a note."""

    action: ClassVar[Action] = Action.CHANGE_PRIORITY
    priority: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Resolve:
    action: ClassVar[Action] = Action.RESOLVE
    reason: str | None = None
    text: str | None = None
    duplicate_of: int | str | None = None


@dataclass(frozen=True)
class Close:
    action: ClassVar[Action] = Action.CLOSE
    note: str | None = None


@dataclass(frozen=True)
class Reopen:
    action: ClassVar[Action] = Action.REOPEN
    reason: str | None = None


Command = (
    Acknowledge
    | Start
    | Escalate
    | Reassign
    | AddNote
    | AddResponder
    | RemoveResponder
    | SetLead
    | ChangePriority
    | Resolve
    | Close
    | Reopen
)


@dataclass(frozen=True)
class ActionRequest:
    """``actor`` does ``command``, holding ``permissions``; ``expected_version``: the version
    the person saw (None: do not check)."""

    command: Command
    actor: str
    permissions: Collection[Permission]
    expected_version: int | None = None

    @property
    def action(self) -> Action:
        return self.command.action


# --- the answer -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    """A timeline row to write with the change. ``note``: free text typed by a person, to be
    stored encrypted; ``message`` and ``data`` never contain it."""

    kind: str
    actor: str
    at: datetime
    message: str
    data: dict[str, Any] = field(default_factory=dict)
    note: str | None = None


@dataclass(frozen=True)
class Plan:
    """What to write. ``after`` is the whole incident after the action (version + 1);
    ``stamps`` the timestamp columns to set to ``now`` (a start from triggered stamps
    ``acknowledged_at`` too), ``clears`` the fields to empty (a reopen); ``notify``: page
    people again (``notify_to`` a named person or team, else the escalation policy at
    ``after.escalation_step``)."""

    action: Action
    actor: str
    before: IncidentState
    after: IncidentView
    stamps: dict[str, datetime]
    clears: frozenset[str]
    entries: tuple[TimelineEntry, ...]
    notify: bool = False
    notify_to: str | None = None

    @property
    def status(self) -> IncidentState:
        return self.after.status

    @property
    def changes_status(self) -> bool:
        return self.after.status != self.before


@dataclass(frozen=True)
class Refusal:
    code: RefusalCode
    message: str  # names the field and says what would be accepted
    field: str | None
    current_status: IncidentState
    allowed_actions: tuple[Action, ...]  # legal now, for this person

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code.value,
            "message": self.message,
            "field": self.field,
            "current_status": self.current_status.value,
            "allowed_actions": [a.value for a in self.allowed_actions],
        }


# --- the rules ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionRule:
    permission: Permission
    from_states: frozenset[IncidentState]
    to: str  # the status after, in words for the docs
    requires: str  # what the request must carry, in words for the docs


_S = IncidentState
RULES: dict[Action, ActionRule] = {
    Action.ACKNOWLEDGE: ActionRule(
        Permission.INCIDENTS_ACKNOWLEDGE, frozenset({_S.TRIGGERED}), "acknowledged", "-"
    ),
    Action.START: ActionRule(
        Permission.INCIDENTS_RESPOND,
        frozenset({_S.TRIGGERED, _S.ACKNOWLEDGED}),
        "in_progress",
        "- (from triggered it acknowledges too, at the same time)",
    ),
    Action.ESCALATE: ActionRule(
        Permission.INCIDENTS_ESCALATE,
        OPEN_STATES,
        "unchanged",
        "`to` a person or team, or nothing for the next step of the policy; re-notifies",
    ),
    Action.REASSIGN: ActionRule(
        Permission.INCIDENTS_REASSIGN,
        OPEN_STATES,
        "unchanged",
        "`to` (not the current assignee) and a `reason`; notifies the new assignee",
    ),
    Action.ADD_NOTE: ActionRule(
        Permission.INCIDENTS_RESPOND,
        OPEN_STATES | {_S.RESOLVED},
        "unchanged",
        f"`text`, not empty, at most {MAX_TEXT_LENGTH} characters",
    ),
    Action.ADD_RESPONDER: ActionRule(
        Permission.INCIDENTS_RESPOND,
        OPEN_STATES,
        "unchanged",
        "`person` (not already a responder) and `role`: "
        + ", ".join(r.value for r in ResponderRole),
    ),
    Action.REMOVE_RESPONDER: ActionRule(
        Permission.INCIDENTS_RESPOND,
        OPEN_STATES,
        "unchanged",
        "`person`, a responder (removing the lead leaves no lead)",
    ),
    Action.SET_LEAD: ActionRule(
        Permission.INCIDENTS_REASSIGN,
        OPEN_STATES,
        "unchanged",
        "P0 or P1 only; `person`, one of the responders",
    ),
    Action.CHANGE_PRIORITY: ActionRule(
        Permission.INCIDENTS_ESCALATE,
        OPEN_STATES,
        "unchanged",
        "`priority`; raising re-notifies; lowering needs `incidents:downgrade` and a `note` "
        "(below P1 it leaves no lead)",
    ),
    Action.RESOLVE: ActionRule(
        Permission.INCIDENTS_RESOLVE,
        OPEN_STATES,
        "resolved",
        "`reason`: " + ", ".join(r.value for r in ResolutionReason) + "; `text` for "
        "false_alarm and other; `duplicate_of` (number or id) for duplicate",
    ),
    Action.CLOSE: ActionRule(
        Permission.INCIDENTS_CLOSE, frozenset({_S.RESOLVED}), "closed (final)", "-"
    ),
    Action.REOPEN: ActionRule(
        Permission.INCIDENTS_REOPEN,
        frozenset({_S.RESOLVED}),
        "triggered",
        "within the reopen window (default 24 h from resolved_at, inclusive); re-notifies",
    ),
}


def required_permission(view: IncidentView, command: Command) -> Permission:
    """The permission ``command`` needs on ``view`` (lowering the priority needs
    incidents:downgrade; everything else the permission of its rule)."""
    if isinstance(command, ChangePriority):
        target = _priority_or_none(command.priority)
        if target is not None and _rank(target) > _rank(view.priority):
            return Permission.INCIDENTS_DOWNGRADE
    return RULES[command.action].permission


def allowed_actions(
    view: IncidentView,
    permissions: Collection[Permission],
    *,
    now: datetime,
    reopen_window: timedelta = REOPEN_WINDOW,
) -> list[Action]:
    """The actions this person may take now (the buttons to show), in ``Action`` order: legal
    from the status, permitted, and possible with some input (no "set lead" on a P3, no
    "reopen" once the window is over, no "remove responder" without responders)."""
    _check_clock(now, reopen_window)
    held = frozenset(permissions)
    result: list[Action] = []
    for action, rule in RULES.items():
        if view.status not in rule.from_states:
            continue
        if action is Action.CHANGE_PRIORITY:
            rank = _rank(view.priority)
            can_raise = Permission.INCIDENTS_ESCALATE in held and rank > 0
            can_lower = Permission.INCIDENTS_DOWNGRADE in held and rank < len(PRIORITIES) - 1
            if can_raise or can_lower:
                result.append(action)
            continue
        if rule.permission not in held:
            continue
        if action is Action.REOPEN and not _within_reopen_window(view, now, reopen_window):
            continue
        if action is Action.REMOVE_RESPONDER and not view.responders:
            continue
        if action is Action.SET_LEAD and (
            view.priority not in LEAD_PRIORITIES
            or all(r.person == view.lead for r in view.responders)
        ):
            continue
        result.append(action)
    return result


def plan(
    view: IncidentView,
    request: ActionRequest,
    *,
    now: datetime,
    reopen_window: timedelta = REOPEN_WINDOW,
) -> Plan | Refusal:
    """What ``request`` does to ``view`` at ``now``, or why not. Checked in this order:
    the actor is named, the permission, ``expected_version``, the status, then the input."""
    _check_clock(now, reopen_window)
    held = frozenset(request.permissions)

    def refuse(code: RefusalCode, message: str, field_name: str | None = None) -> Refusal:
        return Refusal(
            code=code,
            message=message,
            field=field_name,
            current_status=view.status,
            allowed_actions=tuple(
                allowed_actions(view, held, now=now, reopen_window=reopen_window)
            ),
        )

    command = request.command
    action = command.action
    actor = (request.actor or "").strip()
    if not actor:
        return refuse(RefusalCode.INVALID, "actor: say who is acting.", "actor")
    needed = required_permission(view, command)
    if needed not in held:
        return refuse(
            RefusalCode.FORBIDDEN,
            f"{_verb(action).capitalize()} needs the permission {needed.value}, which "
            f"{actor} does not have.",
        )
    expected = request.expected_version
    if expected is not None and expected != view.version:
        return refuse(
            RefusalCode.CONFLICT,
            f"{view.name} has changed since version {expected} (now version "
            f"{view.version}): it is {describe(view)}. Reload it and try again.",
            "expected_version",
        )
    if view.status not in RULES[action].from_states:
        return refuse(RefusalCode.ILLEGAL_TRANSITION, _illegal_message(view, action))
    if action is Action.REOPEN and not _within_reopen_window(view, now, reopen_window):
        until = view.resolved_at + reopen_window if view.resolved_at else None
        return refuse(
            RefusalCode.ILLEGAL_TRANSITION,
            f"{view.name} can no longer be reopened: it was resolved at "
            f"{_time(view.resolved_at)} and the reopen window of {_duration(reopen_window)} "
            f"ended at {_time(until)}. Open a new incident instead.",
        )
    try:
        return _HANDLERS[action](_Context(view, command, actor, now))
    except _Refuse as refusal:
        return refuse(refusal.code, refusal.message, refusal.field)


def describe(view: IncidentView) -> str:
    """The status in words with who and when, e.g. "acknowledged by ana.lopez at
    2025-01-06T14:02:00+00:00"."""
    status = view.status
    if status is IncidentState.TRIGGERED:
        return "triggered and not acknowledged yet"
    if status is IncidentState.ACKNOWLEDGED:
        return f"acknowledged by {_who(view.acknowledged_by)} at {_time(view.acknowledged_at)}"
    if status is IncidentState.IN_PROGRESS:
        return (
            f"in progress since {_time(view.started_at)} (started by {_who(view.started_by)}; "
            f"acknowledged by {_who(view.acknowledged_by)} at {_time(view.acknowledged_at)})"
        )
    reason = f" ({view.resolution.reason.value})" if view.resolution else ""
    resolved = f"resolved by {_who(view.resolved_by)} at {_time(view.resolved_at)}{reason}"
    if status is IncidentState.RESOLVED:
        return resolved
    return f"closed by {_who(view.closed_by)} at {_time(view.closed_at)}, {resolved}"


# --- the handlers, one per action (status and permission already checked) ----------------


class _Refuse(Exception):
    def __init__(self, code: RefusalCode, message: str, field_name: str | None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field_name


@dataclass(frozen=True)
class _Context:
    view: IncidentView
    command: Command
    actor: str
    now: datetime

    def entry(
        self, kind: str, message: str, data: dict[str, Any] | None = None, note: str | None = None
    ) -> TimelineEntry:
        return TimelineEntry(kind, self.actor, self.now, message, data or {}, note)

    def done(
        self,
        changes: dict[str, Any],
        entries: tuple[TimelineEntry, ...],
        *,
        stamps: tuple[str, ...] = (),
        clears: tuple[str, ...] = (),
        notify: bool = False,
        notify_to: str | None = None,
    ) -> Plan:
        updates: dict[str, Any] = {"version": self.view.version + 1}
        updates.update({name: self.now for name in stamps})
        updates.update({name: None for name in clears})
        updates.update(changes)
        after = replace(self.view, **updates)
        return Plan(
            action=self.command.action,
            actor=self.actor,
            before=self.view.status,
            after=after,
            stamps={name: self.now for name in stamps},
            clears=frozenset(clears),
            entries=entries,
            notify=notify,
            notify_to=notify_to,
        )


def _acknowledge(c: _Context) -> Plan:
    return c.done(
        {"status": IncidentState.ACKNOWLEDGED, "acknowledged_by": c.actor},
        (c.entry("acknowledged", f"Acknowledged by {c.actor}"),),
        stamps=("acknowledged_at",),
    )


def _start(c: _Context) -> Plan:
    changes: dict[str, Any] = {"status": IncidentState.IN_PROGRESS, "started_by": c.actor}
    entries: tuple[TimelineEntry, ...] = ()
    stamps: tuple[str, ...] = ("started_at",)
    if c.view.status is IncidentState.TRIGGERED:  # at the bedside without acknowledging
        changes["acknowledged_by"] = c.actor
        stamps = ("acknowledged_at", "started_at")
        entries = (
            c.entry(
                "acknowledged",
                f"Acknowledged by {c.actor} on arrival at the bedside",
                {"implicit": True, "by": "start"},
            ),
        )
    entries += (c.entry("started", f"{c.actor} is at the bedside: in progress"),)
    return c.done(changes, entries, stamps=stamps)


def _escalate(c: _Context) -> Plan:
    assert isinstance(c.command, Escalate)
    to = _name(c.command.to, "to", required=False)
    if to is not None:
        return c.done(
            {},
            (c.entry("escalated", f"Escalated by {c.actor} to {to}", {"to": to}),),
            notify=True,
            notify_to=to,
        )
    step = c.view.escalation_step + 1
    total = c.view.escalation_steps
    if total is not None and step >= total:
        raise _Refuse(
            RefusalCode.INVALID,
            f"to: {c.view.name} is already at the last step of its escalation policy "
            f"(step {c.view.escalation_step + 1} of {total}); name a person or team to "
            "escalate to.",
            "to",
        )
    return c.done(
        {"escalation_step": step},
        (
            c.entry(
                "escalated",
                f"Escalated by {c.actor} to step {step + 1} of the escalation policy",
                {"step": step},
            ),
        ),
        notify=True,
    )


def _reassign(c: _Context) -> Plan:
    assert isinstance(c.command, Reassign)
    to = _name(c.command.to, "to", required=True)
    assert to is not None
    reason = _text(c.command.reason, "reason", missing=RefusalCode.MISSING_REASON)
    if to == c.view.assignee:
        raise _Refuse(RefusalCode.INVALID, f"to: {c.view.name} is already assigned to {to}.", "to")
    before = c.view.assignee
    return c.done(
        {"assignee": to},
        (
            c.entry(
                "reassigned",
                f"Reassigned by {c.actor} from {before or 'nobody'} to {to}",
                {"from": before, "to": to},
                note=reason,
            ),
        ),
        notify=True,
        notify_to=to,
    )


def _add_note(c: _Context) -> Plan:
    assert isinstance(c.command, AddNote)
    text = _text(c.command.text, "text", missing=RefusalCode.INVALID)
    after_resolution = c.view.status is IncidentState.RESOLVED
    message = f"Note by {c.actor}" + (" (after resolution)" if after_resolution else "")
    return c.done(
        {}, (c.entry("note", message, {"after_resolution": after_resolution}, note=text),)
    )


def _add_responder(c: _Context) -> Plan:
    assert isinstance(c.command, AddResponder)
    person = _name(c.command.person, "person", required=True)
    assert person is not None
    role = _enum(ResponderRole, c.command.role, "role", missing=RefusalCode.INVALID)
    present = c.view.responder(person)
    if present is not None:
        raise _Refuse(
            RefusalCode.INVALID,
            f"person: {person} is already a responder ({present.role.value}).",
            "person",
        )
    who = person if person == c.actor else f"{person} (added by {c.actor})"
    return c.done(
        {"responders": (*c.view.responders, Responder(person, role))},
        (
            c.entry(
                "responder_joined",
                f"{who} joined as {role.value}",
                {"person": person, "role": role.value},
            ),
        ),
    )


def _remove_responder(c: _Context) -> Plan:
    assert isinstance(c.command, RemoveResponder)
    person = _name(c.command.person, "person", required=True)
    assert person is not None
    present = c.view.responder(person)
    if present is None:
        raise _Refuse(
            RefusalCode.INVALID,
            f"person: {person} is not a responder of {c.view.name.lower()}"
            + _responder_list(c.view),
            "person",
        )
    was_lead = c.view.lead == person
    who = person if person == c.actor else f"{person} (removed by {c.actor})"
    changes: dict[str, Any] = {"responders": tuple(r for r in c.view.responders if r != present)}
    if was_lead:
        changes["lead"] = None
    return c.done(
        changes,
        (
            c.entry(
                "responder_left",
                f"{who} left ({present.role.value})"
                + ("; there is no lead now" if was_lead else ""),
                {"person": person, "role": present.role.value, "was_lead": was_lead},
            ),
        ),
    )


def _set_lead(c: _Context) -> Plan:
    assert isinstance(c.command, SetLead)
    if c.view.priority not in LEAD_PRIORITIES:
        raise _Refuse(
            RefusalCode.INVALID,
            f"person: an incident lead is named for P0 and P1 incidents only; "
            f"{c.view.name.lower()} is {c.view.priority}.",
            "person",
        )
    person = _name(c.command.person, "person", required=True)
    assert person is not None
    if c.view.responder(person) is None:
        raise _Refuse(
            RefusalCode.INVALID,
            f"person: the lead must be one of the responders; add {person} as a responder "
            "first" + _responder_list(c.view),
            "person",
        )
    if c.view.lead == person:
        raise _Refuse(RefusalCode.INVALID, f"person: {person} is already the lead.", "person")
    return c.done(
        {"lead": person},
        (
            c.entry(
                "lead_set",
                f"{person} is the incident lead (named by {c.actor})",
                {"from": c.view.lead, "to": person},
            ),
        ),
    )


def _change_priority(c: _Context) -> Plan:
    assert isinstance(c.command, ChangePriority)
    raw = c.command.priority
    if raw is None or not str(raw).strip():
        raise _Refuse(
            RefusalCode.INVALID, f"priority: give one of {', '.join(PRIORITIES)}.", "priority"
        )
    try:
        target = validate_priority(raw)
    except ValueError as exc:
        raise _Refuse(RefusalCode.INVALID, str(exc) + ".", "priority") from exc
    current = c.view.priority
    if target == current:
        raise _Refuse(
            RefusalCode.INVALID, f"priority: {c.view.name} is already {current}.", "priority"
        )
    lowering = _rank(target) > _rank(current)
    if lowering:
        note = _text(c.command.note, "note", missing=RefusalCode.MISSING_REASON)
    else:
        note = _text(c.command.note, "note", missing=None)
    changes: dict[str, Any] = {"priority": target}
    lead_cleared = c.view.lead is not None and target not in LEAD_PRIORITIES
    if lead_cleared:
        changes["lead"] = None
    verb = "Lowered" if lowering else "Raised"
    message = f"{verb} from {current} to {target} by {c.actor}"
    if lead_cleared:
        message += f"; {c.view.lead} is no longer the lead"
    return c.done(
        changes,
        (
            c.entry(
                "priority_changed",
                message,
                {
                    "from": current,
                    "to": target,
                    "direction": "downgrade" if lowering else "upgrade",
                    "lead_cleared": lead_cleared,
                },
                note=note,
            ),
        ),
        notify=not lowering,
    )


def _resolve(c: _Context) -> Plan:
    assert isinstance(c.command, Resolve)
    reason = _enum(ResolutionReason, c.command.reason, "reason", missing=RefusalCode.MISSING_REASON)
    needs_text = reason in REASONS_NEEDING_TEXT
    text = _text(c.command.text, "text", missing=RefusalCode.MISSING_REASON if needs_text else None)
    duplicate_of = _duplicate_of(c.view, c.command.duplicate_of, reason)
    resolution = Resolution(reason, text, duplicate_of)
    label = reason.value.replace("_", " ")
    if duplicate_of is not None:
        label += f" of {_incident_ref(duplicate_of)}"
    return c.done(
        {"status": IncidentState.RESOLVED, "resolved_by": c.actor, "resolution": resolution},
        (
            c.entry(
                "resolved",
                f"Resolved by {c.actor}: {label}",
                {"reason": reason.value, "duplicate_of": duplicate_of},
                note=text,
            ),
        ),
        stamps=("resolved_at",),
    )


def _close(c: _Context) -> Plan:
    assert isinstance(c.command, Close)
    note = _text(c.command.note, "note", missing=None)
    return c.done(
        {"status": IncidentState.CLOSED, "closed_by": c.actor},
        (c.entry("closed", f"Closed by {c.actor}", {}, note=note),),
        stamps=("closed_at",),
    )


def _reopen(c: _Context) -> Plan:
    assert isinstance(c.command, Reopen)
    reason = _text(c.command.reason, "reason", missing=None)
    previous = c.view.resolution
    return c.done(
        {"status": IncidentState.TRIGGERED, "escalation_step": 0},
        (
            c.entry(
                "reopened",
                f"Reopened by {c.actor}: triggered again, notifying from the first step",
                {
                    "previous_reason": previous.reason.value if previous else None,
                    "resolved_at": _time(c.view.resolved_at),
                    "resolved_by": c.view.resolved_by,
                },
                note=reason,
            ),
        ),
        clears=(
            "acknowledged_at",
            "acknowledged_by",
            "started_at",
            "started_by",
            "resolved_at",
            "resolved_by",
            "resolution",
        ),
        notify=True,
    )


_HANDLERS = {
    Action.ACKNOWLEDGE: _acknowledge,
    Action.START: _start,
    Action.ESCALATE: _escalate,
    Action.REASSIGN: _reassign,
    Action.ADD_NOTE: _add_note,
    Action.ADD_RESPONDER: _add_responder,
    Action.REMOVE_RESPONDER: _remove_responder,
    Action.SET_LEAD: _set_lead,
    Action.CHANGE_PRIORITY: _change_priority,
    Action.RESOLVE: _resolve,
    Action.CLOSE: _close,
    Action.REOPEN: _reopen,
}


# --- validation and wording helpers --------------------------------------------------------


def _text(value: str | None, field_name: str, *, missing: RefusalCode | None) -> str | None:
    """Stripped text; ``missing`` is the refusal when empty (None: optional)."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        if missing is None:
            return None
        raise _Refuse(missing, f"{field_name}: must not be empty.", field_name)
    if len(text) > MAX_TEXT_LENGTH:
        raise _Refuse(
            RefusalCode.INVALID,
            f"{field_name}: at most {MAX_TEXT_LENGTH} characters (got {len(text)}).",
            field_name,
        )
    return text


def _name(value: str | None, field_name: str, *, required: bool) -> str | None:
    name = value.strip() if isinstance(value, str) else ""
    if not name:
        if not required:
            return None
        raise _Refuse(RefusalCode.INVALID, f"{field_name}: name a person or team.", field_name)
    if len(name) > MAX_NAME_LENGTH:
        raise _Refuse(
            RefusalCode.INVALID,
            f"{field_name}: at most {MAX_NAME_LENGTH} characters (got {len(name)}).",
            field_name,
        )
    return name


def _enum(kind: type[_E], value: str | None, field_name: str, *, missing: RefusalCode) -> _E:
    accepted = ", ".join(e.value for e in kind)
    raw = value.strip().lower() if isinstance(value, str) else ""
    if not raw:
        raise _Refuse(missing, f"{field_name}: give one of {accepted}.", field_name)
    try:
        return kind(raw)
    except ValueError:
        raise _Refuse(
            RefusalCode.INVALID,
            f"{field_name}: must be one of {accepted}, got {value!r}.",
            field_name,
        ) from None


def _duplicate_of(
    view: IncidentView, value: int | str | None, reason: ResolutionReason
) -> int | str | None:
    """The incident this one duplicates: a number (123, "123", "#123") or an id (UUID)."""
    given = value is not None and not (isinstance(value, str) and not value.strip())
    if reason is not ResolutionReason.DUPLICATE:
        if given:
            raise _Refuse(
                RefusalCode.INVALID,
                "duplicate_of: only for the reason duplicate.",
                "duplicate_of",
            )
        return None
    if not given:
        raise _Refuse(
            RefusalCode.MISSING_REASON,
            "duplicate_of: give the number (e.g. #123) or id of the incident this one duplicates.",
            "duplicate_of",
        )
    reference: int | str
    if isinstance(value, bool):
        reference = -1
    elif isinstance(value, int):
        reference = value
    else:
        raw = str(value).strip().removeprefix("#")
        if raw.isdigit():
            reference = int(raw)
        else:
            try:
                reference = str(uuid.UUID(raw))
            except ValueError:
                reference = -1
    if isinstance(reference, int) and reference < 1:
        raise _Refuse(
            RefusalCode.INVALID,
            f"duplicate_of: an incident number (e.g. #123) or id, got {value!r}.",
            "duplicate_of",
        )
    if reference in (view.number, view.id):
        raise _Refuse(
            RefusalCode.INVALID,
            "duplicate_of: an incident cannot duplicate itself.",
            "duplicate_of",
        )
    return reference


def _illegal_message(view: IncidentView, action: Action) -> str:
    status = view.status
    if status is IncidentState.CLOSED:
        return (
            f"{view.name} is {describe(view)}; a closed incident is final. Open a new "
            "incident instead."
        )
    if action is Action.ACKNOWLEDGE and view.acknowledged_at is not None:
        return f"{view.name} is already {describe(view)}."
    if action is Action.START and status is IncidentState.IN_PROGRESS:
        return f"{view.name} is already {describe(view)}."
    if status is IncidentState.RESOLVED:
        return f"Cannot {_verb(action)}: {view.name.lower()} is {describe(view)}."
    if action is Action.CLOSE:
        return f"Cannot close: {view.name.lower()} is {describe(view)}; resolve it first."
    if action is Action.REOPEN:
        return f"Cannot reopen: {view.name.lower()} is {describe(view)}, not resolved."
    return f"Cannot {_verb(action)}: {view.name.lower()} is {describe(view)}."


_VERBS = {
    Action.ACKNOWLEDGE: "acknowledge",
    Action.START: "start (mark in progress)",
    Action.ESCALATE: "escalate",
    Action.REASSIGN: "reassign",
    Action.ADD_NOTE: "add a note",
    Action.ADD_RESPONDER: "add a responder",
    Action.REMOVE_RESPONDER: "remove a responder",
    Action.SET_LEAD: "set the lead",
    Action.CHANGE_PRIORITY: "change the priority",
    Action.RESOLVE: "resolve",
    Action.CLOSE: "close",
    Action.REOPEN: "reopen",
}


def _verb(action: Action) -> str:
    return _VERBS[action]


def _responder_list(view: IncidentView) -> str:
    if not view.responders:
        return " (it has no responders)."
    return " (responders: " + ", ".join(r.person for r in view.responders) + ")."


def _incident_ref(reference: int | str) -> str:
    return f"#{reference}" if isinstance(reference, int) else reference


def _priority_or_none(value: str | None) -> str | None:
    try:
        return validate_priority(value) if value is not None else None
    except ValueError:
        return None


def _rank(priority: str) -> int:
    """0 for P0 (the most urgent) to 4 for P4."""
    return PRIORITIES.index(priority)


def _within_reopen_window(view: IncidentView, now: datetime, window: timedelta) -> bool:
    """Exactly ``window`` after resolved_at still counts."""
    return view.resolved_at is not None and now - view.resolved_at <= window


def _who(name: str | None) -> str:
    return name or "someone"


def _time(at: datetime | None) -> str:
    """ISO 8601 to the second, e.g. 2025-01-06T14:02:00+00:00."""
    return at.isoformat(timespec="seconds") if at is not None else "an unknown time"


def _duration(span: timedelta) -> str:
    hours, rest = divmod(int(span.total_seconds()), 3600)
    return f"{hours} h" if rest == 0 else f"{hours} h {rest // 60} min"


def _check_clock(now: datetime, reopen_window: timedelta) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if reopen_window <= timedelta(0):
        raise ValueError("reopen_window must be positive")


# --- documentation --------------------------------------------------------------------------


def action_table_markdown() -> str:
    """The rules as a GitHub markdown table (docs/INCIDENTS.md holds it verbatim)."""
    lines = [
        "| Action | From | To | Permission | Requires |",
        "| --- | --- | --- | --- | --- |",
    ]
    for action, rule in RULES.items():
        from_states = ", ".join(s.value for s in IncidentState if s in rule.from_states)
        lines.append(
            f"| `{action.value}` | {from_states} | {rule.to} | `{rule.permission.value}` "
            f"| {rule.requires} |"
        )
    return "\n".join(lines) + "\n"
