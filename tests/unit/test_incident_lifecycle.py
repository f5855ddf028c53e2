"""The incident state machine (healthguard.incidents.lifecycle): every (state, action) pair
against a literal matrix, every permission, every requirement, the reopen window, optimistic
concurrency, and random action sequences (hypothesis) that must keep the invariants."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthguard.incidents.lifecycle import (
    MAX_TEXT_LENGTH,
    RULES,
    Acknowledge,
    Action,
    ActionRequest,
    AddNote,
    AddResponder,
    ChangePriority,
    Close,
    Command,
    Escalate,
    IncidentState,
    IncidentView,
    Plan,
    Reassign,
    Refusal,
    RefusalCode,
    RemoveResponder,
    Reopen,
    Resolution,
    ResolutionReason,
    Resolve,
    Responder,
    ResponderRole,
    SetLead,
    Start,
    action_table_markdown,
    allowed_actions,
    plan,
    required_permission,
)
from healthguard.security.permissions import ROLE_PERMISSIONS, Permission
from healthguard.settings import PROJECT_ROOT

pytestmark = pytest.mark.unit

NOW = datetime(2025, 1, 6, 14, 2, tzinfo=UTC)
EVERYTHING = frozenset(Permission)
S = IncidentState
A = Action

ANA = "ana.lopez"
BEN = "ben.okafor"


def view_in(state: IncidentState, **overrides: object) -> IncidentView:
    """A P1 incident #42 in ``state`` with two responders (ana leads), as the service would
    load it: the timestamps of the states it went through are set."""
    fields: dict[str, object] = {
        "status": state,
        "priority": "P1",
        "version": 7,
        "number": 42,
        "id": "7b0f6f1e-3d1c-4a55-9d7e-0c6f0a1b2c3d",
        "assignee": ANA,
        "escalation_steps": 3,
        "lead": ANA,
        "responders": (
            Responder(ANA, ResponderRole.PRIMARY_NURSE),
            Responder(BEN, ResponderRole.PHYSICIAN),
        ),
    }
    if state is not S.TRIGGERED:
        fields |= {"acknowledged_at": NOW - timedelta(minutes=52), "acknowledged_by": ANA}
    if state in (S.IN_PROGRESS, S.RESOLVED, S.CLOSED):
        fields |= {"started_at": NOW - timedelta(minutes=50), "started_by": BEN}
    if state in (S.RESOLVED, S.CLOSED):
        fields |= {
            "resolved_at": NOW - timedelta(hours=1),
            "resolved_by": BEN,
            "resolution": Resolution(ResolutionReason.TREATED),
        }
    if state is S.CLOSED:
        fields |= {"closed_at": NOW - timedelta(minutes=30), "closed_by": "cara.wu"}
    fields |= overrides
    return IncidentView(**fields)  # type: ignore[arg-type]


def ask(
    command: Command,
    *,
    permissions: frozenset[Permission] = EVERYTHING,
    actor: str = "dana.roy",
    expected_version: int | None = None,
) -> ActionRequest:
    return ActionRequest(command, actor, permissions, expected_version)


def planned(view: IncidentView, command: Command, **kwargs: object) -> Plan:
    result = plan(view, ask(command), now=NOW, **kwargs)  # type: ignore[arg-type]
    assert isinstance(result, Plan), result
    return result


def refused(
    view: IncidentView, command: Command, code: RefusalCode, field: str | None = None
) -> Refusal:
    result = plan(view, ask(command), now=NOW)
    assert isinstance(result, Refusal), result
    assert result.code is code, result
    assert result.field == field, result
    assert result.current_status is view.status
    return result


# A valid request of every action for the views of view_in().
VALID: dict[Action, Command] = {
    A.ACKNOWLEDGE: Acknowledge(),
    A.START: Start(),
    A.ESCALATE: Escalate(),
    A.REASSIGN: Reassign(to="carl.nguyen", reason="Shift change at 19:00"),
    A.ADD_NOTE: AddNote("RR 28, SpO2 89 % on 2 L/min, drowsy"),
    A.ADD_RESPONDER: AddResponder("dana.roy", "rapid_response_team"),
    A.REMOVE_RESPONDER: RemoveResponder(BEN),
    A.SET_LEAD: SetLead(BEN),
    A.CHANGE_PRIORITY: ChangePriority("P0"),
    A.RESOLVE: Resolve("treated"),
    A.CLOSE: Close(),
    A.REOPEN: Reopen(),
}

STATES = list(IncidentState)  # triggered, acknowledged, in_progress, resolved, closed

# THE MATRIX. 1: legal from that state (for a person holding the permission). A change to
# the state machine must change this table.
LEGAL: dict[Action, tuple[int, int, int, int, int]] = {
    #                    trig  ack  prog  resv  closed
    A.ACKNOWLEDGE: (1, 0, 0, 0, 0),
    A.START: (1, 1, 0, 0, 0),
    A.ESCALATE: (1, 1, 1, 0, 0),
    A.REASSIGN: (1, 1, 1, 0, 0),
    A.ADD_NOTE: (1, 1, 1, 1, 0),
    A.ADD_RESPONDER: (1, 1, 1, 0, 0),
    A.REMOVE_RESPONDER: (1, 1, 1, 0, 0),
    A.SET_LEAD: (1, 1, 1, 0, 0),
    A.CHANGE_PRIORITY: (1, 1, 1, 0, 0),
    A.RESOLVE: (1, 1, 1, 0, 0),
    A.CLOSE: (0, 0, 0, 1, 0),
    A.REOPEN: (0, 0, 0, 1, 0),
}

# The transitions that change the status; every other legal action leaves it as it is.
MOVES: dict[tuple[IncidentState, Action], IncidentState] = {
    (S.TRIGGERED, A.ACKNOWLEDGE): S.ACKNOWLEDGED,
    (S.TRIGGERED, A.START): S.IN_PROGRESS,
    (S.ACKNOWLEDGED, A.START): S.IN_PROGRESS,
    (S.TRIGGERED, A.RESOLVE): S.RESOLVED,
    (S.ACKNOWLEDGED, A.RESOLVE): S.RESOLVED,
    (S.IN_PROGRESS, A.RESOLVE): S.RESOLVED,
    (S.RESOLVED, A.CLOSE): S.CLOSED,
    (S.RESOLVED, A.REOPEN): S.TRIGGERED,
}

# What each action needs, literally (RULES must agree).
PERMISSION_OF: dict[Action, Permission] = {
    A.ACKNOWLEDGE: Permission.INCIDENTS_ACKNOWLEDGE,
    A.START: Permission.INCIDENTS_RESPOND,
    A.ESCALATE: Permission.INCIDENTS_ESCALATE,
    A.REASSIGN: Permission.INCIDENTS_REASSIGN,
    A.ADD_NOTE: Permission.INCIDENTS_RESPOND,
    A.ADD_RESPONDER: Permission.INCIDENTS_RESPOND,
    A.REMOVE_RESPONDER: Permission.INCIDENTS_RESPOND,
    A.SET_LEAD: Permission.INCIDENTS_REASSIGN,
    A.CHANGE_PRIORITY: Permission.INCIDENTS_ESCALATE,  # raising; lowering: downgrade
    A.RESOLVE: Permission.INCIDENTS_RESOLVE,
    A.CLOSE: Permission.INCIDENTS_CLOSE,
    A.REOPEN: Permission.INCIDENTS_REOPEN,
}


def legal_from(state: IncidentState) -> list[Action]:
    return [a for a in Action if LEGAL[a][STATES.index(state)]]


def test_the_matrix_covers_every_action_and_state() -> None:
    assert set(LEGAL) == set(Action) == set(VALID) == set(RULES)
    assert [s.value for s in STATES] == [
        "triggered",
        "acknowledged",
        "in_progress",
        "resolved",
        "closed",
    ]


@pytest.mark.parametrize(
    ("state", "action"),
    list(product(STATES, Action)),
    ids=[f"{s.value}-{a.value}" for s, a in product(STATES, Action)],
)
def test_every_state_action_pair(state: IncidentState, action: Action) -> None:
    view = view_in(state)
    result = plan(view, ask(VALID[action]), now=NOW)
    if LEGAL[action][STATES.index(state)]:
        assert isinstance(result, Plan), result
        assert result.action is action
        assert result.before is state
        assert result.status is MOVES.get((state, action), state)
        assert result.after.version == view.version + 1
        assert result.entries, "every change writes a timeline entry"
        assert all(e.at == NOW and e.actor == "dana.roy" for e in result.entries)
    else:
        assert isinstance(result, Refusal), result
        assert result.code is RefusalCode.ILLEGAL_TRANSITION
        assert result.http_status == 409
        assert result.current_status is state
        assert result.allowed_actions == tuple(legal_from(state))
        assert action not in result.allowed_actions
        assert "#42" in result.message


@pytest.mark.parametrize("state", STATES, ids=[s.value for s in STATES])
def test_allowed_actions_for_someone_holding_every_permission(state: IncidentState) -> None:
    assert allowed_actions(view_in(state), EVERYTHING, now=NOW) == legal_from(state)


def test_closed_is_final_for_every_action() -> None:
    for action in Action:
        refusal = refused(view_in(S.CLOSED), VALID[action], RefusalCode.ILLEGAL_TRANSITION)
        assert "final" in refusal.message
        assert "new incident" in refusal.message
        assert refusal.allowed_actions == ()


# --- permissions ----------------------------------------------------------------------------


def test_rules_name_the_literal_permissions() -> None:
    assert {a: r.permission for a, r in RULES.items()} == PERMISSION_OF


@pytest.mark.parametrize("action", list(Action), ids=[a.value for a in Action])
def test_every_action_without_its_permission_is_forbidden(action: Action) -> None:
    state = STATES[LEGAL[action].index(1)]
    view = view_in(state)
    needed = PERMISSION_OF[action]
    result = plan(view, ask(VALID[action], permissions=EVERYTHING - {needed}), now=NOW)
    assert isinstance(result, Refusal)
    assert result.code is RefusalCode.FORBIDDEN
    assert result.http_status == 403
    assert needed.value in result.message
    assert "dana.roy" in result.message
    assert action not in result.allowed_actions or action is A.CHANGE_PRIORITY


def test_lowering_the_priority_needs_the_downgrade_permission() -> None:
    view = view_in(S.ACKNOWLEDGED)
    lower = ChangePriority("P3", note="NEWS2 back to 2 after fluids")
    assert required_permission(view, lower) is Permission.INCIDENTS_DOWNGRADE
    assert required_permission(view, ChangePriority("P0")) is Permission.INCIDENTS_ESCALATE
    without = EVERYTHING - {Permission.INCIDENTS_DOWNGRADE}
    result = plan(view, ask(lower, permissions=without), now=NOW)
    assert isinstance(result, Refusal) and result.code is RefusalCode.FORBIDDEN
    assert "incidents:downgrade" in result.message
    # raising still works without it
    assert isinstance(plan(view, ask(ChangePriority("P0"), permissions=without), now=NOW), Plan)
    # lowering works without incidents:escalate
    without_escalate = EVERYTHING - {Permission.INCIDENTS_ESCALATE}
    assert isinstance(plan(view, ask(lower, permissions=without_escalate), now=NOW), Plan)


INCIDENT_ACTIONS_PERMISSIONS = {
    Permission.INCIDENTS_CREATE,
    Permission.INCIDENTS_ACKNOWLEDGE,
    Permission.INCIDENTS_RESPOND,
    Permission.INCIDENTS_ESCALATE,
    Permission.INCIDENTS_REASSIGN,
    Permission.INCIDENTS_RESOLVE,
    Permission.INCIDENTS_CLOSE,
    Permission.INCIDENTS_REOPEN,
    Permission.INCIDENTS_DOWNGRADE,
}
EVERY_CLINICIAN = {"create", "acknowledge", "respond", "escalate", "resolve", "reopen"}
COORDINATOR = EVERY_CLINICIAN | {"reassign", "close", "downgrade"}


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("nurse", EVERY_CLINICIAN),
        ("charge_nurse", COORDINATOR),
        ("physician", COORDINATOR),
        ("rapid_response", COORDINATOR),
        ("admin", set()),
        ("auditor", set()),
    ],
)
def test_roles_hold_the_incident_permissions(role: str, expected: set[str]) -> None:
    held = ROLE_PERMISSIONS[role] & INCIDENT_ACTIONS_PERMISSIONS
    assert {p.value.removeprefix("incidents:") for p in held} == expected


def test_what_each_role_may_do_with_an_acknowledged_p1() -> None:
    view = view_in(S.ACKNOWLEDGED)
    nurse = allowed_actions(view, ROLE_PERMISSIONS["nurse"], now=NOW)
    assert nurse == [
        A.START,
        A.ESCALATE,
        A.ADD_NOTE,
        A.ADD_RESPONDER,
        A.REMOVE_RESPONDER,
        A.CHANGE_PRIORITY,  # raising only
        A.RESOLVE,
    ]
    charge = allowed_actions(view, ROLE_PERMISSIONS["charge_nurse"], now=NOW)
    assert charge == legal_from(S.ACKNOWLEDGED)
    assert allowed_actions(view, ROLE_PERMISSIONS["auditor"], now=NOW) == []
    assert allowed_actions(view, ROLE_PERMISSIONS["admin"], now=NOW) == []
    # a nurse may not lower the priority, nor close a resolved one
    p0 = view_in(S.ACKNOWLEDGED, priority="P0")
    assert A.CHANGE_PRIORITY not in allowed_actions(p0, ROLE_PERMISSIONS["nurse"], now=NOW)
    assert allowed_actions(view_in(S.RESOLVED), ROLE_PERMISSIONS["nurse"], now=NOW) == [
        A.ADD_NOTE,
        A.REOPEN,
    ]


def test_refusals_list_the_actions_of_this_person() -> None:
    nurse = ROLE_PERMISSIONS["nurse"]
    result = plan(view_in(S.RESOLVED), ask(Close(), permissions=nurse), now=NOW)
    assert isinstance(result, Refusal) and result.code is RefusalCode.FORBIDDEN
    assert result.allowed_actions == (A.ADD_NOTE, A.REOPEN)


def test_forbidden_comes_before_conflict_and_conflict_before_illegal() -> None:
    view = view_in(S.ACKNOWLEDGED)
    stale = ActionRequest(Close(), "dana.roy", ROLE_PERMISSIONS["nurse"], expected_version=3)
    result = plan(view, stale, now=NOW)
    assert isinstance(result, Refusal) and result.code is RefusalCode.FORBIDDEN
    stale = ActionRequest(Close(), "dana.roy", EVERYTHING, expected_version=3)
    result = plan(view, stale, now=NOW)
    assert isinstance(result, Refusal) and result.code is RefusalCode.CONFLICT


# --- optimistic concurrency and messages ---------------------------------------------------


def test_a_stale_version_is_a_conflict_naming_who_did_what() -> None:
    """Two tablets loaded version 6; the first acknowledgement made it 7."""
    view = view_in(S.ACKNOWLEDGED)
    result = plan(view, ask(Acknowledge(), expected_version=6), now=NOW)
    assert isinstance(result, Refusal)
    assert result.code is RefusalCode.CONFLICT
    assert result.field == "expected_version"
    assert result.http_status == 409
    assert "version 6" in result.message and "version 7" in result.message
    assert "acknowledged by ana.lopez at 2025-01-06T13:10:00+00:00" in result.message
    assert result.allowed_actions == tuple(legal_from(S.ACKNOWLEDGED))


def test_the_current_version_is_accepted_and_bumped() -> None:
    view = view_in(S.TRIGGERED)
    result = plan(view, ask(Acknowledge(), expected_version=7), now=NOW)
    assert isinstance(result, Plan)
    assert result.after.version == 8


def test_acknowledging_twice_says_by_whom_and_when() -> None:
    refusal = refused(view_in(S.ACKNOWLEDGED), Acknowledge(), RefusalCode.ILLEGAL_TRANSITION)
    assert refusal.message == (
        "Incident #42 is already acknowledged by ana.lopez at 2025-01-06T13:10:00+00:00."
    )
    in_progress = refused(view_in(S.IN_PROGRESS), Acknowledge(), RefusalCode.ILLEGAL_TRANSITION)
    assert "already in progress since 2025-01-06T13:12:00+00:00 (started by ben.okafor" in (
        in_progress.message
    )
    assert "acknowledged by ana.lopez at 2025-01-06T13:10:00+00:00" in in_progress.message


def test_resolved_and_closed_messages_name_who_when_and_why() -> None:
    resolved = refused(view_in(S.RESOLVED), Escalate(), RefusalCode.ILLEGAL_TRANSITION)
    assert "resolved by ben.okafor at 2025-01-06T13:02:00+00:00 (treated)" in resolved.message
    closed = refused(view_in(S.CLOSED), AddNote("late"), RefusalCode.ILLEGAL_TRANSITION)
    assert "closed by cara.wu at 2025-01-06T13:32:00+00:00" in closed.message
    close_early = refused(view_in(S.IN_PROGRESS), Close(), RefusalCode.ILLEGAL_TRANSITION)
    assert "resolve it first" in close_early.message


def test_the_actor_must_be_named() -> None:
    result = plan(view_in(S.TRIGGERED), ask(Acknowledge(), actor="  "), now=NOW)
    assert isinstance(result, Refusal)
    assert (result.code, result.field) == (RefusalCode.INVALID, "actor")


def test_refusal_as_json() -> None:
    refusal = refused(view_in(S.CLOSED), Reopen(), RefusalCode.ILLEGAL_TRANSITION)
    assert refusal.as_json() == {
        "code": "illegal_transition",
        "message": refusal.message,
        "field": None,
        "current_status": "closed",
        "allowed_actions": [],
    }


def test_the_clock_must_be_timezone_aware_and_the_window_positive() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        plan(view_in(S.TRIGGERED), ask(Acknowledge()), now=NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="positive"):
        allowed_actions(view_in(S.RESOLVED), EVERYTHING, now=NOW, reopen_window=timedelta(0))


# --- acknowledge and start ------------------------------------------------------------------


def test_acknowledge_stamps_who_and_when() -> None:
    result = planned(view_in(S.TRIGGERED), Acknowledge())
    assert result.stamps == {"acknowledged_at": NOW}
    assert result.after.acknowledged_at == NOW
    assert result.after.acknowledged_by == "dana.roy"
    assert [e.kind for e in result.entries] == ["acknowledged"]
    assert result.notify is False


def test_start_from_triggered_counts_as_acknowledged_at_the_same_time() -> None:
    result = planned(view_in(S.TRIGGERED), Start())
    assert result.status is S.IN_PROGRESS
    assert result.stamps == {"acknowledged_at": NOW, "started_at": NOW}
    assert result.after.acknowledged_by == result.after.started_by == "dana.roy"
    assert [e.kind for e in result.entries] == ["acknowledged", "started"]
    assert result.entries[0].data == {"implicit": True, "by": "start"}


def test_start_after_acknowledging_keeps_the_acknowledgement() -> None:
    view = view_in(S.ACKNOWLEDGED)
    result = planned(view, Start())
    assert result.stamps == {"started_at": NOW}
    assert result.after.acknowledged_at == view.acknowledged_at
    assert result.after.acknowledged_by == ANA
    assert [e.kind for e in result.entries] == ["started"]


# --- escalate and reassign ------------------------------------------------------------------


def test_escalate_to_the_next_step_renotifies() -> None:
    result = planned(view_in(S.TRIGGERED), Escalate())
    assert result.after.escalation_step == 1
    assert result.status is S.TRIGGERED
    assert (result.notify, result.notify_to) == (True, None)
    assert result.entries[0].data == {"step": 1}


def test_escalate_past_the_last_step_needs_a_name() -> None:
    view = view_in(S.TRIGGERED, escalation_step=2, escalation_steps=3)
    refusal = refused(view, Escalate(), RefusalCode.INVALID, "to")
    assert "last step" in refusal.message and "3 of 3" in refusal.message
    result = planned(view, Escalate(to="  team:rapid-response "))
    assert result.notify_to == "team:rapid-response"
    assert result.after.escalation_step == 2
    # a policy of unknown length: the service decides
    assert isinstance(planned(view_in(S.TRIGGERED, escalation_steps=None), Escalate()), Plan)


def test_reassign_needs_a_target_and_a_reason() -> None:
    view = view_in(S.IN_PROGRESS)
    refused(view, Reassign(reason="handover"), RefusalCode.INVALID, "to")
    refused(view, Reassign(to="carl.nguyen"), RefusalCode.MISSING_REASON, "reason")
    refused(view, Reassign(to="carl.nguyen", reason="   "), RefusalCode.MISSING_REASON, "reason")
    refused(view, Reassign(to=ANA, reason="handover"), RefusalCode.INVALID, "to")
    refused(view, Reassign(to="x" * 201, reason="handover"), RefusalCode.INVALID, "to")
    result = planned(view, Reassign(to="carl.nguyen", reason="Handover at 19:00"))
    assert result.after.assignee == "carl.nguyen"
    assert (result.notify, result.notify_to) == (True, "carl.nguyen")
    entry = result.entries[0]
    assert entry.kind == "reassigned"
    assert entry.data == {"from": ANA, "to": "carl.nguyen"}
    assert entry.note == "Handover at 19:00"


# --- notes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"])
def test_a_note_must_not_be_empty(text: str | None) -> None:
    refused(view_in(S.ACKNOWLEDGED), AddNote(text), RefusalCode.INVALID, "text")


def test_a_note_is_at_most_10000_characters() -> None:
    assert MAX_TEXT_LENGTH == 10_000
    view = view_in(S.ACKNOWLEDGED)
    assert planned(view, AddNote("x" * 10_000)).entries[0].note == "x" * 10_000
    refusal = refused(view, AddNote("x" * 10_001), RefusalCode.INVALID, "text")
    assert "10000" in refusal.message and "10001" in refusal.message


def test_a_note_after_resolution_is_documentation() -> None:
    result = planned(view_in(S.RESOLVED), AddNote("Family informed at 15:10"))
    assert result.status is S.RESOLVED
    assert result.entries[0].data == {"after_resolution": True}
    assert result.notify is False


def test_free_text_goes_in_the_note_never_in_message_or_data() -> None:
    secret = "Patient says she fell at home"
    cases: list[tuple[IncidentView, Command]] = [
        (view_in(S.ACKNOWLEDGED), AddNote(secret)),
        (view_in(S.ACKNOWLEDGED), Reassign(to="carl.nguyen", reason=secret)),
        (view_in(S.ACKNOWLEDGED), ChangePriority("P3", note=secret)),
        (view_in(S.ACKNOWLEDGED), Resolve("other", text=secret)),
        (view_in(S.RESOLVED), Close(note=secret)),
        (view_in(S.RESOLVED), Reopen(reason=secret)),
    ]
    for view, command in cases:
        entry = planned(view, command).entries[-1]
        assert entry.note == secret
        assert secret not in entry.message
        assert secret not in repr(entry.data)


# --- responders and lead --------------------------------------------------------------------


@pytest.mark.parametrize("role", list(ResponderRole), ids=[r.value for r in ResponderRole])
def test_add_responder_with_each_role(role: ResponderRole) -> None:
    result = planned(view_in(S.IN_PROGRESS), AddResponder("dana.roy", role.value))
    assert result.after.responders[-1] == Responder("dana.roy", role)
    assert result.entries[0].kind == "responder_joined"
    assert result.entries[0].data == {"person": "dana.roy", "role": role.value}


def test_role_names_are_the_ones_nurses_use() -> None:
    assert [r.value for r in ResponderRole] == [
        "primary_nurse",
        "charge_nurse",
        "physician",
        "rapid_response_team",
        "other",
    ]


def test_add_responder_requirements() -> None:
    view = view_in(S.IN_PROGRESS)
    refused(view, AddResponder("dana.roy"), RefusalCode.INVALID, "role")
    refusal = refused(view, AddResponder("dana.roy", "surgeon"), RefusalCode.INVALID, "role")
    assert "primary_nurse, charge_nurse, physician, rapid_response_team, other" in (refusal.message)
    refused(view, AddResponder(None, "physician"), RefusalCode.INVALID, "person")
    already = refused(view, AddResponder(BEN, "other"), RefusalCode.INVALID, "person")
    assert "already a responder (physician)" in already.message


def test_remove_responder() -> None:
    view = view_in(S.IN_PROGRESS)
    refused(view, RemoveResponder("zoe.fox"), RefusalCode.INVALID, "person")
    result = planned(view, RemoveResponder(BEN))
    assert [r.person for r in result.after.responders] == [ANA]
    assert result.after.lead == ANA
    removing_lead = planned(view, RemoveResponder(ANA))
    assert removing_lead.after.lead is None
    assert removing_lead.entries[0].data["was_lead"] is True
    assert "no lead" in removing_lead.entries[0].message


def test_no_remove_responder_button_without_responders() -> None:
    view = view_in(S.IN_PROGRESS, responders=(), lead=None)
    assert A.REMOVE_RESPONDER not in allowed_actions(view, EVERYTHING, now=NOW)
    assert A.SET_LEAD not in allowed_actions(view, EVERYTHING, now=NOW)


@pytest.mark.parametrize("priority", ["P0", "P1"])
def test_a_lead_for_p0_and_p1(priority: str) -> None:
    result = planned(view_in(S.IN_PROGRESS, priority=priority), SetLead(BEN))
    assert result.after.lead == BEN
    assert result.entries[0].data == {"from": ANA, "to": BEN}


@pytest.mark.parametrize("priority", ["P2", "P3", "P4"])
def test_no_lead_below_p1(priority: str) -> None:
    view = view_in(S.IN_PROGRESS, priority=priority, lead=None)
    refusal = refused(view, SetLead(BEN), RefusalCode.INVALID, "person")
    assert "P0 and P1" in refusal.message and priority in refusal.message
    assert A.SET_LEAD not in allowed_actions(view, EVERYTHING, now=NOW)


def test_the_lead_is_a_responder_and_not_set_twice() -> None:
    view = view_in(S.IN_PROGRESS)
    refusal = refused(view, SetLead("zoe.fox"), RefusalCode.INVALID, "person")
    assert "add zoe.fox as a responder first" in refusal.message
    refused(view, SetLead(ANA), RefusalCode.INVALID, "person")


# --- priority -------------------------------------------------------------------------------


def test_raising_the_priority_needs_nothing_and_renotifies() -> None:
    result = planned(view_in(S.ACKNOWLEDGED, priority="P2", lead=None), ChangePriority("p0"))
    assert result.after.priority == "P0"
    assert result.notify is True
    assert result.entries[0].data["direction"] == "upgrade"


def test_lowering_the_priority_needs_a_note() -> None:
    view = view_in(S.ACKNOWLEDGED)
    refused(view, ChangePriority("P2"), RefusalCode.MISSING_REASON, "note")
    refused(view, ChangePriority("P2", note=" "), RefusalCode.MISSING_REASON, "note")
    result = planned(view, ChangePriority("P2", note="Sats 95 % on air after nebuliser"))
    assert result.after.priority == "P2"
    assert result.notify is False
    assert result.entries[0].data == {
        "from": "P1",
        "to": "P2",
        "direction": "downgrade",
        "lead_cleared": True,
    }
    assert result.after.lead is None  # a lead is for P0 / P1 only
    assert "no longer the lead" in result.entries[0].message
    kept = planned(view, ChangePriority("P0"))
    assert kept.after.lead == ANA


@pytest.mark.parametrize("bad", [None, "", "P5", "urgent"])
def test_an_unknown_priority_is_invalid(bad: str | None) -> None:
    refusal = refused(view_in(S.TRIGGERED), ChangePriority(bad), RefusalCode.INVALID, "priority")
    assert "P0, P1, P2, P3, P4" in refusal.message


def test_the_same_priority_is_no_change() -> None:
    refused(view_in(S.TRIGGERED), ChangePriority("P1"), RefusalCode.INVALID, "priority")


# --- resolve --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reason", ["treated", "transferred_to_icu", "patient_deceased", "TREATED "]
)
def test_reasons_needing_nothing_more(reason: str) -> None:
    result = planned(view_in(S.IN_PROGRESS), Resolve(reason))
    assert result.after.resolution == Resolution(ResolutionReason(reason.strip().lower()))
    assert result.stamps == {"resolved_at": NOW}
    assert result.after.resolved_by == "dana.roy"


@pytest.mark.parametrize("reason", ["false_alarm", "other"])
def test_false_alarm_and_other_need_a_text(reason: str) -> None:
    view = view_in(S.TRIGGERED)
    refused(view, Resolve(reason), RefusalCode.MISSING_REASON, "text")
    refused(view, Resolve(reason, text="  "), RefusalCode.MISSING_REASON, "text")
    result = planned(view, Resolve(reason, text="SpO2 probe off the finger"))
    assert result.after.resolution == Resolution(
        ResolutionReason(reason), "SpO2 probe off the finger"
    )
    assert result.after.acknowledged_at is None  # never acknowledged: a false alarm at once


def test_resolution_reasons_are_the_six() -> None:
    assert [r.value for r in ResolutionReason] == [
        "treated",
        "transferred_to_icu",
        "false_alarm",
        "duplicate",
        "patient_deceased",
        "other",
    ]


def test_a_reason_is_required_and_known() -> None:
    view = view_in(S.ACKNOWLEDGED)
    refused(view, Resolve(), RefusalCode.MISSING_REASON, "reason")
    refusal = refused(view, Resolve("fixed"), RefusalCode.INVALID, "reason")
    assert "false_alarm" in refusal.message
    refused(view, Resolve("treated", text="y" * 10_001), RefusalCode.INVALID, "text")


INCIDENT_ID = str(uuid.uuid4())


@pytest.mark.parametrize(
    ("given", "stored"),
    [(12, 12), ("12", 12), ("#12", 12), (" #12 ", 12), (INCIDENT_ID, INCIDENT_ID)],
)
def test_a_duplicate_names_the_incident_it_duplicates(given: int | str, stored: int | str) -> None:
    result = planned(view_in(S.TRIGGERED), Resolve("duplicate", duplicate_of=given))
    assert result.after.resolution == Resolution(ResolutionReason.DUPLICATE, None, stored)
    assert result.entries[0].data["duplicate_of"] == stored


@pytest.mark.parametrize(
    "bad", [0, -3, "#", "abc", True, 42, "#42", "7b0f6f1e-3d1c-4a55-9d7e-0c6f0a1b2c3d"]
)
def test_a_duplicate_of_nothing_or_of_itself_is_invalid(bad: int | str) -> None:
    refused(
        view_in(S.TRIGGERED),
        Resolve("duplicate", duplicate_of=bad),
        RefusalCode.INVALID,
        "duplicate_of",
    )


def test_duplicate_of_is_required_for_a_duplicate_and_only_then() -> None:
    view = view_in(S.TRIGGERED)
    refused(view, Resolve("duplicate"), RefusalCode.MISSING_REASON, "duplicate_of")
    refused(
        view, Resolve("duplicate", duplicate_of=" "), RefusalCode.MISSING_REASON, "duplicate_of"
    )
    refused(view, Resolve("treated", duplicate_of=12), RefusalCode.INVALID, "duplicate_of")


# --- close and reopen -----------------------------------------------------------------------


def test_close_stamps_closed_at() -> None:
    result = planned(view_in(S.RESOLVED), Close())
    assert result.stamps == {"closed_at": NOW}
    assert result.after.closed_by == "dana.roy"
    assert result.after.resolved_at == NOW - timedelta(hours=1)


def test_reopen_goes_back_to_triggered_and_renotifies() -> None:
    view = view_in(S.RESOLVED, escalation_step=2)
    result = planned(view, Reopen(reason="NEWS2 7 again"))
    after = result.after
    assert after.status is S.TRIGGERED
    assert result.notify is True and result.notify_to is None
    assert after.escalation_step == 0
    assert after.resolved_at is None and after.resolution is None and after.resolved_by is None
    assert after.acknowledged_at is None and after.started_at is None
    assert "resolved_at" in result.clears and "acknowledged_at" in result.clears
    assert after.responders == view.responders and after.lead == view.lead
    assert result.entries[0].data == {
        "previous_reason": "treated",
        "resolved_at": "2025-01-06T13:02:00+00:00",
        "resolved_by": BEN,
    }


@pytest.mark.parametrize(
    ("since_resolved", "legal"),
    [
        (timedelta(0), True),
        (timedelta(hours=23, minutes=59, seconds=59), True),
        (timedelta(hours=24), True),  # exactly 24 h still counts
        (timedelta(hours=24, microseconds=1), False),
        (timedelta(days=3), False),
        (-timedelta(seconds=5), True),  # the resolving server's clock a little ahead
    ],
)
def test_the_reopen_window_boundary(since_resolved: timedelta, legal: bool) -> None:
    view = view_in(S.RESOLVED, resolved_at=NOW - since_resolved)
    result = plan(view, ask(Reopen()), now=NOW)
    assert isinstance(result, Plan) is legal
    assert (A.REOPEN in allowed_actions(view, EVERYTHING, now=NOW)) is legal
    if not legal:
        assert isinstance(result, Refusal)
        assert result.code is RefusalCode.ILLEGAL_TRANSITION
        assert "reopen window of 24 h ended at" in result.message
        assert (NOW - since_resolved + timedelta(hours=24)).isoformat(timespec="seconds") in (
            result.message
        )
        assert "new incident" in result.message
        assert result.allowed_actions == (A.ADD_NOTE, A.CLOSE)


def test_the_reopen_window_is_a_parameter() -> None:
    view = view_in(S.RESOLVED, resolved_at=NOW - timedelta(hours=3))
    two_hours = timedelta(hours=2)
    result = plan(view, ask(Reopen()), now=NOW, reopen_window=two_hours)
    assert isinstance(result, Refusal) and "reopen window of 2 h" in result.message
    assert A.REOPEN not in allowed_actions(view, EVERYTHING, now=NOW, reopen_window=two_hours)
    assert isinstance(plan(view, ask(Reopen()), now=NOW, reopen_window=timedelta(hours=3)), Plan)


# --- documentation --------------------------------------------------------------------------


def test_docs_show_the_generated_action_table() -> None:
    text = (PROJECT_ROOT / "docs" / "INCIDENTS.md").read_text(encoding="utf-8")
    assert action_table_markdown() in text, (
        "docs/INCIDENTS.md must hold healthguard.incidents.lifecycle.action_table_markdown() "
        "verbatim"
    )


# --- random sequences -----------------------------------------------------------------------

PEOPLE = st.sampled_from([None, "", ANA, BEN, "carl.nguyen", "team:rapid-response"])
TEXTS = st.sampled_from([None, "", "  ", "Looks better after fluids", "x" * 10_001])

RANDOM_COMMANDS: st.SearchStrategy[Command] = st.one_of(
    st.just(Acknowledge()),
    st.just(Start()),
    st.builds(Escalate, to=st.sampled_from([None, "dr.kim", "team:rapid-response"])),
    st.builds(Reassign, to=PEOPLE, reason=TEXTS),
    st.builds(AddNote, text=TEXTS),
    st.builds(
        AddResponder,
        person=PEOPLE,
        role=st.sampled_from([None, "surgeon", *(r.value for r in ResponderRole)]),
    ),
    st.builds(RemoveResponder, person=PEOPLE),
    st.builds(SetLead, person=PEOPLE),
    st.builds(
        ChangePriority,
        priority=st.sampled_from([None, "P9", "P0", "P1", "P2", "P3", "P4"]),
        note=TEXTS,
    ),
    st.builds(
        Resolve,
        reason=st.sampled_from([None, "fixed", *(r.value for r in ResolutionReason)]),
        text=TEXTS,
        duplicate_of=st.sampled_from([None, 7, "#8", "abc"]),
    ),
    st.builds(Close, note=TEXTS),
    st.builds(Reopen, reason=TEXTS),
)
# Requests that are valid often enough to walk the whole machine (resolve, close, reopen,
# the lead and responders) rather than collect refusals of bad input.
LIKELY_COMMANDS: st.SearchStrategy[Command] = st.sampled_from(
    [
        Acknowledge(),
        Start(),
        Escalate(to="dr.kim"),
        AddNote("Obs repeated"),
        AddResponder(ANA, "primary_nurse"),
        AddResponder(BEN, "physician"),
        RemoveResponder(ANA),
        SetLead(ANA),
        SetLead(BEN),
        ChangePriority("P0"),
        ChangePriority("P1"),
        ChangePriority("P3", note="Better after fluids"),
        Resolve("treated"),
        Resolve("false_alarm", text="Probe off"),
        Resolve("duplicate", duplicate_of="#7"),
        Close(),
        Reopen(),
    ]
)
COMMANDS = st.one_of(RANDOM_COMMANDS, LIKELY_COMMANDS, LIKELY_COMMANDS, LIKELY_COMMANDS)
ROLES = st.one_of(
    st.just(EVERYTHING), st.sampled_from([ROLE_PERMISSIONS[r] for r in ROLE_PERMISSIONS])
)
WAITS = st.one_of(
    st.sampled_from([0, 120, 24 * 3600, 24 * 3600 + 1]),  # seconds: the reopen boundary
    st.integers(min_value=0, max_value=30 * 3600),
).map(lambda seconds: timedelta(seconds=seconds))
STEPS = st.lists(
    st.tuples(
        COMMANDS,
        ROLES,
        WAITS,
        st.booleans(),  # send the version the person saw (True: current; False: none)
    ),
    min_size=10,
    max_size=50,
)


def check_invariants(view: IncidentView) -> None:
    assert view.status in set(IncidentState)
    assert (view.resolved_at is not None) is (view.status in (S.RESOLVED, S.CLOSED))
    assert (view.resolution is not None) is (view.status in (S.RESOLVED, S.CLOSED))
    assert (view.closed_at is not None) is (view.status is S.CLOSED)
    if view.status is S.TRIGGERED:
        assert view.acknowledged_at is None and view.started_at is None
    if view.status in (S.ACKNOWLEDGED, S.IN_PROGRESS):
        assert view.acknowledged_at is not None and view.acknowledged_by is not None
    if view.status is S.IN_PROGRESS:
        assert view.started_at is not None
    if view.started_at is not None:
        assert view.acknowledged_at is not None
        assert view.acknowledged_at <= view.started_at
    assert view.lead is None or view.priority in ("P0", "P1")
    assert view.lead is None or view.responder(view.lead) is not None
    persons = [r.person for r in view.responders]
    assert len(persons) == len(set(persons))


@settings(max_examples=200, deadline=None)
@given(steps=STEPS, priority=st.sampled_from(["P0", "P1", "P2", "P3", "P4"]))
def test_random_sequences_keep_the_invariants(
    steps: list[tuple[Command, frozenset[Permission], timedelta, bool]], priority: str
) -> None:
    view = IncidentView(status=S.TRIGGERED, priority=priority, number=1)
    now = NOW
    for command, permissions, wait, send_version in steps:
        now += wait
        request = ActionRequest(
            command, "someone", permissions, view.version if send_version else None
        )
        allowed = allowed_actions(view, permissions, now=now)
        result = plan(view, request, now=now)
        if view.status is S.CLOSED:
            assert isinstance(result, Refusal), "closed is absorbing"
            assert allowed == []
        if isinstance(result, Plan):
            assert command.action in allowed
            assert result.before is view.status
            assert result.after.version == view.version + 1
            assert result.status is MOVES.get((view.status, command.action), view.status)
            assert all(getattr(result.after, name) == now for name in result.stamps)
            view = result.after
        else:
            assert result.current_status is view.status
            assert result.allowed_actions == tuple(allowed)
            if result.code is RefusalCode.ILLEGAL_TRANSITION:
                assert command.action not in allowed
            if result.code is RefusalCode.FORBIDDEN:
                assert required_permission(view, command) not in permissions
            assert result.code is not RefusalCode.CONFLICT  # the version sent was current
        check_invariants(view)


def test_the_view_takes_the_stored_status_and_refuses_nonsense() -> None:
    stored = IncidentView(status="acknowledged", priority="P2")  # type: ignore[arg-type]
    assert stored.status is S.ACKNOWLEDGED
    with pytest.raises(ValueError):
        IncidentView(status="escalated", priority="P2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="priority"):
        IncidentView(status=S.TRIGGERED, priority="P7")
