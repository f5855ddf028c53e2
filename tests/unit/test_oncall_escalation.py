"""Escalation planning (healthguard.oncall.escalation) and the shipped policies
(healthguard.oncall.default_policies): full timelines of every default with nobody answering,
acknowledgement, ack timeout, decline, escalate, priority changes, idempotent and stale timers,
clock jumps, unreachable targets and the fallback chain, policy validation, and random event
sequences (hypothesis) that must keep the invariants. The clock is a fixed datetime."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthguard.incidents.lifecycle import IncidentState
from healthguard.oncall.default_policies import (
    DEFAULT_ACK_TIMEOUT_SECONDS,
    DEFAULT_POLICIES,
    InvalidPolicy,
    PolicyError,
    default_policy,
    parse_policy,
    validate_policy,
)
from healthguard.oncall.escalation import (
    ASSIGNEE,
    ATTENDING,
    CHARGE_NURSE,
    FALLBACK_WAIT_SECONDS,
    HOSPITAL_OPERATOR,
    PHYSICIAN_ON_CALL,
    RAPID_RESPONSE_TEAM,
    CancelTimer,
    EscalationAction,
    EscalationState,
    EscalationStatus,
    IncidentFacts,
    Notify,
    NotifyKind,
    Outcome,
    Person,
    Policy,
    ScheduleTimer,
    Step,
    StepMode,
    Target,
    TimelineNote,
    on_acknowledged,
    on_declined,
    on_escalate_now,
    on_priority_changed,
    on_resolved,
    on_target_unresolvable,
    on_timer,
    start,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
INCIDENT = "inc-42"
MARCO = Person("staff-marco", "Marco Rossi")


def facts(priority: str = "P1", status: IncidentState = IncidentState.TRIGGERED, **kw: object):
    return IncidentFacts(INCIDENT, priority, "ICU", status, **kw)  # type: ignore[arg-type]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def notifications(actions: tuple[EscalationAction, ...]) -> list[Notify]:
    return [a for a in actions if isinstance(a, Notify)]


def scheduled(actions: tuple[EscalationAction, ...]) -> list[ScheduleTimer]:
    return [a for a in actions if isinstance(a, ScheduleTimer)]


@dataclass
class Run:
    """Plays an escalation: fires due timers in time order, as the RQ scheduler would."""

    state: EscalationState
    facts: IncidentFacts
    log: list[tuple[int, NotifyKind, tuple[Target, ...]]] = field(default_factory=list)
    actions: list[EscalationAction] = field(default_factory=list)

    @classmethod
    def begin(cls, policy: Policy, f: IncidentFacts, now: datetime = T0) -> Run:
        state, actions = start(policy, f, now)
        run = cls(state, f)
        run.record(actions)
        return run

    def record(self, actions: tuple[EscalationAction, ...]) -> tuple[EscalationAction, ...]:
        self.actions.extend(actions)
        for a in notifications(actions):
            self.log.append((round((a.at - T0).total_seconds()), a.kind, a.targets))
        return actions

    def until(self, seconds: float) -> Run:
        """Fire every timer due up to T0 + seconds, each at its due time."""
        while True:
            due = [t for t in self.state.pending if t.due_at <= at(seconds)]
            if not due:
                return self
            timer = min(due, key=lambda t: (t.due_at, t.key))
            self.fire(timer.key, timer.due_at)

    def fire(self, key: str, now: datetime) -> tuple[EscalationAction, ...]:
        self.state, actions = on_timer(self.state, key, self.facts, now)
        return self.record(actions)

    def do(
        self, handler: Callable[..., Outcome], now: datetime, *args: object, **kw: object
    ) -> tuple[EscalationAction, ...]:
        self.state, actions = handler(self.state, *args, self.facts, now, **kw)
        return self.record(actions)

    def since(self, mark: int) -> list[tuple[int, NotifyKind, tuple[Target, ...]]]:
        return self.log[mark:]


S, R, F, REM = NotifyKind.STEP, NotifyKind.REPEAT, NotifyKind.FALLBACK, NotifyKind.REMINDER
RRT_AND_CN = (RAPID_RESPONSE_TEAM, CHARGE_NURSE)
ATT_AND_OP = (ATTENDING, HOSPITAL_OPERATOR)


# --- the shipped defaults, nobody answering -------------------------------------------------


def test_p0_timeline_with_no_acknowledgement() -> None:
    run = Run.begin(DEFAULT_POLICIES["P0"], facts("P0")).until(150)

    assert run.log == [
        (0, S, RRT_AND_CN),
        (30, R, RRT_AND_CN),
        (60, R, RRT_AND_CN),
        (60, S, ATT_AND_OP),
        (90, R, RRT_AND_CN),
        (120, R, RRT_AND_CN),
        (150, R, RRT_AND_CN),
    ]
    first, *_ = notifications(tuple(run.actions))
    assert first.reason == (
        "P0 incident opened in ICU: notifying the rapid-response team and the charge nurse of "
        "ICU (step 1 of 2)"
    )
    attending = next(n for n in notifications(tuple(run.actions)) if n.step == 1)
    assert attending.reason == (
        "no acknowledgement after 60 s: notifying the attending of ICU and the hospital "
        "operator (step 2 of 2); the last step of the policy"
    )
    assert [t.due_at for t in run.state.pending] == [at(180)]  # the page repeats on


@pytest.mark.parametrize(
    ("priority", "expected"),
    [
        ("P1", [(0, S, (ASSIGNEE,)), (120, S, (CHARGE_NURSE,)), (300, S, (PHYSICIAN_ON_CALL,))]),
        ("P2", [(0, S, (ASSIGNEE,)), (300, S, (CHARGE_NURSE,)), (900, S, (PHYSICIAN_ON_CALL,))]),
        ("P3", [(0, S, (ASSIGNEE,)), (1800, S, (CHARGE_NURSE,))]),
        ("P4", [(0, S, (ASSIGNEE,))]),
    ],
)
def test_p1_to_p4_timelines_with_no_acknowledgement(
    priority: str, expected: list[tuple[int, NotifyKind, tuple[Target, ...]]]
) -> None:
    run = Run.begin(DEFAULT_POLICIES[priority], facts(priority)).until(24 * 3600)

    assert run.log == expected
    assert run.state.pending == ()  # the last step fired; nothing is left to schedule
    assert run.state.status is EscalationStatus.ESCALATING


def test_reasons_name_the_elapsed_time_and_who_is_notified() -> None:
    run = Run.begin(DEFAULT_POLICIES["P1"], facts("P1", assignee_name="Zoe Taylor")).until(300)
    reasons = [n.reason for n in notifications(tuple(run.actions))]

    assert reasons == [
        "P1 incident opened in ICU: notifying the primary nurse (Zoe Taylor) (step 1 of 3)",
        "no acknowledgement after 120 s (2 min): notifying the charge nurse of ICU (step 2 of 3)",
        "no acknowledgement after 300 s (5 min): notifying the resident (physician on call) of "
        "ICU (step 3 of 3); the last step of the policy",
    ]


def test_timer_keys_are_unique_per_incident_run_round_and_step() -> None:
    run = Run.begin(DEFAULT_POLICIES["P0"], facts("P0")).until(200)
    keys = [a.key for a in scheduled(tuple(run.actions))]

    assert len(keys) == len(set(keys))
    assert keys[:2] == ["esc:inc-42:run1:r0:s0:rep1", "esc:inc-42:run1:r0:s1"]
    assert all(k.startswith("esc:inc-42:run1:") for k in keys)
    again, _ = start(DEFAULT_POLICIES["P0"], facts("P0"), T0, run=2)  # after a reopen
    assert again.pending[0].key.startswith("esc:inc-42:run2:")


def test_a_first_step_with_a_delay_is_scheduled_not_notified() -> None:
    policy = Policy("late start", (Step(45, (CHARGE_NURSE,)),))
    state, actions = start(policy, facts(), T0)

    assert notifications(actions) == []
    assert [(a.key, a.at) for a in scheduled(actions)] == [("esc:inc-42:run1:r0:s0", at(45))]
    assert state.step == -1 and [t.key for t in state.pending] == ["esc:inc-42:run1:r0:s0"]


# --- acknowledgement and the ack timeout -----------------------------------------------------


def test_acknowledgement_stops_the_escalation() -> None:
    run = Run.begin(DEFAULT_POLICIES["P1"], facts("P1")).until(60)
    pending_before = [t.key for t in run.state.pending]
    actions = run.do(on_acknowledged, at(60), by=MARCO)

    assert run.state.status is EscalationStatus.ACKNOWLEDGED
    assert {a.key for a in actions if isinstance(a, CancelTimer)} == set(pending_before)
    assert any(
        isinstance(a, TimelineNote)
        and a.reason
        == "acknowledged by Marco Rossi: escalation stopped; reminder after 600 s "
        "(10 min) if not resolved"
        for a in actions
    )
    mark = len(run.log)
    run.facts = facts("P1", IncidentState.ACKNOWLEDGED)
    run.until(659)
    assert run.since(mark) == []  # neither the charge nurse nor the physician


def test_ack_timeout_reminds_whoever_acknowledged_until_resolved() -> None:
    run = Run.begin(DEFAULT_POLICIES["P1"], facts("P1")).until(30)
    run.do(on_acknowledged, at(30), by=MARCO)
    run.facts = facts("P1", IncidentState.IN_PROGRESS)
    mark = len(run.log)
    run.until(30 + 600 * 2)

    marco = (MARCO.as_target(),)
    assert run.since(mark) == [(630, REM, marco), (1230, REM, marco)]
    reminder = notifications(tuple(run.actions))[-2]
    assert reminder.reason == (
        "acknowledged by Marco Rossi 600 s (10 min) ago and not resolved: reminding Marco Rossi"
    )
    run.do(on_resolved, at(1300))
    run.until(10_000)
    assert len(run.log) == mark + 2


def test_default_ack_timeouts() -> None:
    assert DEFAULT_ACK_TIMEOUT_SECONDS == {"P0": 300, "P1": 600, "P2": 900, "P3": 1800, "P4": 3600}
    for priority, policy in DEFAULT_POLICIES.items():
        assert policy.ack_timeout_seconds == DEFAULT_ACK_TIMEOUT_SECONDS[priority]
        assert policy.priority == priority
        assert default_policy(priority) is policy
    with pytest.raises(KeyError, match="P0, P1"):
        default_policy("P7")


def test_no_reminder_without_an_ack_timeout() -> None:
    policy = Policy("quiet", (Step(0, (ASSIGNEE,)),), ack_timeout_seconds=None)
    run = Run.begin(policy, facts())
    run.do(on_acknowledged, at(5), by=MARCO)

    assert run.state.pending == ()
    assert run.until(100_000).log == [(0, S, (ASSIGNEE,))]


def test_an_acknowledgement_the_planner_missed_is_counted_when_a_timer_fires() -> None:
    run = Run.begin(DEFAULT_POLICIES["P1"], facts("P1"))
    run.facts = facts(
        "P1", IncidentState.ACKNOWLEDGED, acknowledged_by="Zoe Taylor", acknowledged_at=at(100)
    )
    actions = run.fire("esc:inc-42:run1:r0:s1", at(120))

    assert notifications(actions) == []
    assert run.state.status is EscalationStatus.ACKNOWLEDGED
    assert [(a.key, a.at) for a in scheduled(actions)] == [("esc:inc-42:run1:ack1.1", at(700))]


def test_acknowledging_twice_changes_nothing() -> None:
    run = Run.begin(DEFAULT_POLICIES["P2"], facts("P2"))
    run.do(on_acknowledged, at(10), by=MARCO)
    state = run.state

    assert on_acknowledged(state, facts("P2"), at(20), by=MARCO) == (state, ())


def test_all_must_ack_waits_for_every_target_and_repeats_to_the_missing_ones() -> None:
    policy = Policy(
        "both",
        (Step(0, RRT_AND_CN, StepMode.ALL_MUST_ACK, repeat_every_seconds=30),),
        ack_timeout_seconds=300,
    )
    run = Run.begin(policy, facts("P0"))
    actions = run.do(on_acknowledged, at(10), by=MARCO, via=RAPID_RESPONSE_TEAM)

    assert run.state.status is EscalationStatus.ESCALATING
    assert [a.reason for a in actions if isinstance(a, TimelineNote)] == [
        "Marco Rossi acknowledged; every target of this step must acknowledge: waiting for "
        "the charge nurse of ICU"
    ]
    run.facts = facts("P0", IncidentState.ACKNOWLEDGED)  # the incident itself is acknowledged
    run.until(30)
    assert run.log[-1] == (30, R, (CHARGE_NURSE,))
    run.do(on_acknowledged, at(40), by=Person("cn", "Rachel Stein"), via=CHARGE_NURSE)
    assert run.state.status is EscalationStatus.ACKNOWLEDGED
    run.until(299)
    assert run.log[-1][0] == 30


# --- decline, escalate now -------------------------------------------------------------------


def test_decline_escalates_at_once_and_re_bases_the_next_step() -> None:
    run = Run.begin(DEFAULT_POLICIES["P1"], facts("P1"))
    old_key = "esc:inc-42:run1:r0:s1"
    actions = run.do(on_declined, at(10), by=MARCO)

    assert run.log[-1] == (10, S, (CHARGE_NURSE,))
    assert notifications(actions)[0].reason.startswith(
        "Marco Rossi declined: notifying the charge nurse of ICU"
    )
    assert CancelTimer(old_key, "step 2 notified now") in actions
    assert run.fire(old_key, at(120)) == ()  # the cancelled timer fires anyway: nothing
    run.until(10_000)
    assert run.log[-1] == (190, S, (PHYSICIAN_ON_CALL,))  # 10 s + (300 - 120) s


def test_decline_at_the_last_step_goes_to_the_fallback_chain() -> None:
    run = Run.begin(DEFAULT_POLICIES["P3"], facts("P3")).until(1800)
    run.do(on_declined, at(1810), by=Person("cn", "Rachel Stein"))

    # the charge nurse just declined: the chain goes on to the operator
    assert run.log[-1] == (1810, F, (HOSPITAL_OPERATOR,))
    fallback = notifications(tuple(run.actions))[-1]
    assert fallback.reason == "Rachel Stein declined: falling back to the hospital operator"


def test_fallback_chain_moves_to_the_operator_when_the_charge_nurse_does_not_answer() -> None:
    policy = Policy("one", (Step(0, (ASSIGNEE,)),))
    run = Run.begin(policy, facts())
    run.do(on_declined, at(5), by=MARCO)
    assert run.log[-1] == (5, F, (CHARGE_NURSE,))

    run.until(5 + FALLBACK_WAIT_SECONDS)
    assert run.log[-1] == (65, F, (HOSPITAL_OPERATOR,))
    run.until(10_000)
    assert len(run.log) == 3


def test_escalate_now_notifies_the_next_step_at_once() -> None:
    run = Run.begin(DEFAULT_POLICIES["P2"], facts("P2"))
    actions = run.do(on_escalate_now, at(100), by=Person("n2", "Zoe Taylor"))

    assert notifications(actions)[0].reason.startswith(
        "Zoe Taylor pressed escalate: notifying the charge nurse of ICU (step 2 of 3)"
    )
    run.until(10_000)
    assert run.log == [
        (0, S, (ASSIGNEE,)),
        (100, S, (CHARGE_NURSE,)),
        (700, S, (PHYSICIAN_ON_CALL,)),  # 100 s + (900 - 300) s
    ]


def test_escalate_on_an_acknowledged_incident_notifies_once_and_stays_acknowledged() -> None:
    run = Run.begin(DEFAULT_POLICIES["P2"], facts("P2"))
    run.do(on_acknowledged, at(20), by=MARCO)
    run.do(on_escalate_now, at(40), by=MARCO)

    assert run.log[-1] == (40, S, (CHARGE_NURSE,))
    assert run.state.status is EscalationStatus.ACKNOWLEDGED
    assert [t.purpose.value for t in run.state.pending] == ["ack_timeout"]


# --- idempotent, stale and late timers --------------------------------------------------------


def test_a_duplicate_timer_gives_no_action() -> None:
    run = Run.begin(DEFAULT_POLICIES["P1"], facts("P1"))
    key = run.state.pending[0].key
    first = run.fire(key, at(120))
    state = run.state

    assert len(notifications(first)) == 1
    assert on_timer(state, key, run.facts, at(121)) == (state, ())


def test_unknown_and_old_run_keys_give_no_action() -> None:
    run = Run.begin(DEFAULT_POLICIES["P1"], facts("P1"))
    state = run.state

    assert on_timer(state, "esc:inc-42:run0:r0:s1", run.facts, at(120)) == (state, ())
    assert on_timer(state, "something else", run.facts, at(120)) == (state, ())


def test_stale_timers_after_an_acknowledgement_notify_nobody() -> None:
    run = Run.begin(DEFAULT_POLICIES["P0"], facts("P0"))
    keys = [t.key for t in run.state.pending]
    run.do(on_acknowledged, at(10), by=MARCO)
    state = run.state

    for key in keys:  # the adapter did not cancel the RQ jobs
        assert on_timer(state, key, facts("P0", IncidentState.ACKNOWLEDGED), at(60)) == (state, ())


def test_a_resolved_incident_gives_no_action_even_for_the_ack_timeout() -> None:
    run = Run.begin(DEFAULT_POLICIES["P1"], facts("P1"))
    run.do(on_acknowledged, at(10), by=MARCO)
    (reminder,) = run.state.pending
    resolved = facts("P1", IncidentState.RESOLVED)

    state, actions = on_timer(run.state, reminder.key, resolved, reminder.due_at)
    assert actions == ()
    assert state.status is EscalationStatus.RESOLVED
    assert on_timer(state, reminder.key, resolved, reminder.due_at) == (state, ())


def test_resolving_stops_everything() -> None:
    run = Run.begin(DEFAULT_POLICIES["P0"], facts("P0")).until(45)
    keys = {t.key for t in run.state.pending}
    actions = run.do(on_resolved, at(50))

    assert {a.key for a in actions if isinstance(a, CancelTimer)} == keys
    assert run.state.status is EscalationStatus.RESOLVED and run.state.pending == ()
    state = run.state
    assert on_resolved(state, run.facts, at(51)) == (state, ())
    assert on_declined(state, run.facts, at(51)) == (state, ())
    assert on_escalate_now(state, run.facts, at(51)) == (state, ())
    for key in keys:
        assert on_timer(state, key, run.facts, at(500)) == (state, ())


def test_a_clock_jump_fires_once_and_schedules_the_next_step_from_now() -> None:
    run = Run.begin(DEFAULT_POLICIES["P1"], facts("P1"))
    late = at(120 + 3600)  # the scheduler was down for an hour
    actions = run.fire("esc:inc-42:run1:r0:s1", late)

    assert len(notifications(actions)) == 1
    assert [a.at for a in scheduled(actions)] == [late + timedelta(seconds=180)]


def test_a_late_repeat_fires_once_never_a_burst() -> None:
    run = Run.begin(DEFAULT_POLICIES["P0"], facts("P0"))
    late = at(30 + 3600)
    actions = run.fire("esc:inc-42:run1:r0:s0:rep1", late)

    assert [n.kind for n in notifications(actions)] == [R]
    assert [(a.key, a.at) for a in scheduled(actions)] == [
        ("esc:inc-42:run1:r0:s0:rep2", late + timedelta(seconds=30))
    ]


# --- priority changes -------------------------------------------------------------------------


def test_upgrade_p2_to_p0_starts_the_p0_policy_at_once_in_a_new_run() -> None:
    run = Run.begin(DEFAULT_POLICIES["P2"], facts("P2"))
    old = [t.key for t in run.state.pending]
    run.facts = facts("P0")
    actions = run.do(on_priority_changed, at(100), DEFAULT_POLICIES["P0"])

    assert run.state.run == 2 and run.state.priority == "P0"
    assert {a.key for a in actions if isinstance(a, CancelTimer)} == set(old)
    (notify,) = notifications(actions)
    assert notify.targets == RRT_AND_CN and notify.key == "esc:inc-42:run2:r0:s0"
    assert notify.reason.startswith("priority raised P2 → P0: notifying the rapid-response team")
    for key in old:
        assert run.fire(key, at(300)) == ()
    run.until(160)
    assert run.log[1:] == [
        (100, S, RRT_AND_CN),
        (130, R, RRT_AND_CN),
        (160, R, RRT_AND_CN),
        (160, S, ATT_AND_OP),
    ]


def test_upgrade_jumps_to_the_first_step_with_someone_not_yet_notified() -> None:
    run = Run.begin(DEFAULT_POLICIES["P2"], facts("P2")).until(400)  # nurse, charge nurse
    run.facts = facts("P1")
    actions = run.do(on_priority_changed, at(400), DEFAULT_POLICIES["P1"])

    (notify,) = notifications(actions)
    assert notify.targets == (PHYSICIAN_ON_CALL,) and notify.step == 2
    assert notify.reason.startswith(
        "priority raised P2 → P1 (the primary nurse and the charge nurse of ICU already "
        "notified): notifying the resident"
    )


def test_upgrade_when_everyone_was_notified_restarts_at_the_last_step() -> None:
    run = Run.begin(DEFAULT_POLICIES["P2"], facts("P2")).until(900)
    run.facts = facts("P1")
    actions = run.do(on_priority_changed, at(1000), DEFAULT_POLICIES["P1"])

    assert [(n.step, n.targets) for n in notifications(actions)] == [(2, (PHYSICIAN_ON_CALL,))]


def test_upgrade_of_an_acknowledged_incident_notifies_once_and_stays_acknowledged() -> None:
    run = Run.begin(DEFAULT_POLICIES["P2"], facts("P2"))
    run.do(on_acknowledged, at(50), by=MARCO)
    run.facts = facts("P0", IncidentState.ACKNOWLEDGED)
    actions = run.do(on_priority_changed, at(100), DEFAULT_POLICIES["P0"])

    assert [n.targets for n in notifications(actions)] == [RRT_AND_CN]
    assert run.state.status is EscalationStatus.ACKNOWLEDGED
    assert [(t.purpose.value, t.due_at) for t in run.state.pending] == [("ack_timeout", at(400))]
    mark = len(run.log)
    run.until(399)
    assert run.since(mark) == []


def test_downgrade_notifies_nobody_and_keeps_the_original_schedule() -> None:
    run = Run.begin(DEFAULT_POLICIES["P1"], facts("P1"))
    run.facts = facts("P3")
    actions = run.do(on_priority_changed, at(60), DEFAULT_POLICIES["P3"])

    assert notifications(actions) == []
    assert [(t.key, t.due_at) for t in run.state.pending] == [("esc:inc-42:run2:r0:s1", at(1800))]
    run.until(10_000)
    assert run.log == [(0, S, (ASSIGNEE,)), (1800, S, (CHARGE_NURSE,))]


def test_priority_change_after_resolution_does_nothing() -> None:
    run = Run.begin(DEFAULT_POLICIES["P1"], facts("P1"))
    run.do(on_resolved, at(10))
    state = run.state

    assert on_priority_changed(state, DEFAULT_POLICIES["P0"], facts("P0"), at(20)) == (state, ())


# --- unreachable targets and the fallback chain -----------------------------------------------


def test_unreachable_steps_escalate_at_once_then_fall_back_then_raise_an_alarm() -> None:
    run = Run.begin(DEFAULT_POLICIES["P1"], facts("P1"))

    def unreachable(seconds: int) -> tuple[EscalationAction, ...]:
        key = notifications(tuple(run.actions))[-1].key
        return run.do(on_target_unresolvable, at(seconds), key, why="schedule gap")

    actions = unreachable(5)  # no primary nurse (assignment found nobody)
    assert run.log[-1] == (5, S, (CHARGE_NURSE,))
    assert notifications(actions)[0].reason.startswith(
        "the primary nurse could not be reached (schedule gap): notifying the charge nurse"
    )
    unreachable(6)
    assert run.log[-1] == (6, S, (PHYSICIAN_ON_CALL,))
    unreachable(7)  # no new round: the chain; the charge nurse is already known unreachable
    assert run.log[-1] == (7, F, (HOSPITAL_OPERATOR,))
    actions = unreachable(8)
    assert notifications(actions) == []
    (alarm,) = [a for a in actions if isinstance(a, TimelineNote)]
    assert alarm.alarm
    assert alarm.reason.startswith(
        "the hospital operator could not be reached (schedule gap): nobody left to notify"
    )


def test_a_step_with_one_reachable_target_does_not_escalate() -> None:
    run = Run.begin(DEFAULT_POLICIES["P0"], facts("P0"))
    key = notifications(tuple(run.actions))[0].key
    actions = run.do(on_target_unresolvable, at(2), key, targets=(CHARGE_NURSE,))

    assert notifications(actions) == []
    assert [a.reason for a in actions if isinstance(a, TimelineNote)] == [
        "the charge nurse of ICU could not be reached (nobody on shift); the rapid-response "
        "team notified"
    ]
    run.until(30)
    assert run.log[-1] == (30, R, (RAPID_RESPONSE_TEAM,))  # the repeat skips the gap


def test_the_same_unreachable_report_twice_escalates_once() -> None:
    run = Run.begin(DEFAULT_POLICIES["P3"], facts("P3"))
    key = notifications(tuple(run.actions))[0].key
    run.do(on_target_unresolvable, at(5), key)
    state = run.state

    assert run.log[-1] == (5, S, (CHARGE_NURSE,))
    assert on_target_unresolvable(state, key, run.facts, at(6)) == (state, ())
    fallback_key = "esc:inc-42:run1:fb1"
    assert on_target_unresolvable(state, fallback_key, run.facts, at(6)) == (state, ())


def test_a_report_about_an_older_step_is_stale() -> None:
    run = Run.begin(DEFAULT_POLICIES["P1"], facts("P1")).until(120)
    first_key = notifications(tuple(run.actions))[0].key
    state = run.state

    assert on_target_unresolvable(state, first_key, run.facts, at(130)) == (state, ())


# --- policy-level repeat ---------------------------------------------------------------------


def test_policy_repeats_from_the_chosen_step() -> None:
    policy = Policy(
        "repeat",
        (Step(0, (ASSIGNEE,)), Step(60, (CHARGE_NURSE,))),
        repeat_count=2,
        repeat_from_step=1,
        repeat_after_seconds=120,
    )
    run = Run.begin(policy, facts()).until(10_000)

    assert run.log == [
        (0, S, (ASSIGNEE,)),
        (60, S, (CHARGE_NURSE,)),
        (180, S, (CHARGE_NURSE,)),
        (300, S, (CHARGE_NURSE,)),
    ]
    keys = [n.key for n in notifications(tuple(run.actions))]
    assert keys[2:] == ["esc:inc-42:run1:r1:s1", "esc:inc-42:run1:r2:s1"]
    assert notifications(tuple(run.actions))[-1].reason.endswith(
        "(step 2 of 2, round 3 of 3); the last step of the policy"
    )


# --- persistence ------------------------------------------------------------------------------


def test_state_round_trips_through_json() -> None:
    run = Run.begin(DEFAULT_POLICIES["P0"], facts("P0")).until(70)
    run.do(on_acknowledged, at(75), by=MARCO)
    run.facts = facts("P0")
    run.do(on_escalate_now, at(80))
    text = json.dumps(run.state.to_json())

    assert EscalationState.from_json(json.loads(text)) == run.state
    assert Policy.from_json(DEFAULT_POLICIES["P2"].to_json()) == DEFAULT_POLICIES["P2"]


def test_refuses_a_naive_clock_and_facts_of_another_incident() -> None:
    state, _ = start(DEFAULT_POLICIES["P1"], facts(), T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        on_timer(state, "k", facts(), T0.replace(tzinfo=None))
    with pytest.raises(ValueError, match="incident"):
        on_timer(state, "k", IncidentFacts("other", "P1"), T0)
    with pytest.raises(ValueError, match="not a notification key"):
        on_target_unresolvable(state, "esc:inc-42:run1:garbage", facts(), T0)


# --- validation of admin-edited policies ------------------------------------------------------


def test_the_shipped_policies_are_valid_and_use_known_target_kinds() -> None:
    for policy in DEFAULT_POLICIES.values():
        assert validate_policy(policy) == []
        assert parse_policy(policy.to_json()) == policy


def _edited(**changes: object) -> dict[str, object]:
    data = DEFAULT_POLICIES["P1"].to_json()
    data.update(changes)
    return data


def _step(**changes: object) -> dict[str, object]:
    step: dict[str, object] = {"delay_seconds": 0, "targets": [{"kind": "assignee", "ref": ""}]}
    step.update(changes)
    return step


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_edited(steps=[]), [PolicyError("steps", "give at least one step")]),
        (
            _edited(steps=[_step(delay_seconds=-5)]),
            [PolicyError("steps[0].delay_seconds", "must not be negative, got -5")],
        ),
        (
            _edited(steps=[_step(delay_seconds=300), _step(delay_seconds=120)]),
            [
                PolicyError(
                    "steps[1].delay_seconds",
                    "120 s is before the step above (300 s): delays count from the start of "
                    "the policy",
                )
            ],
        ),
        (
            _edited(steps=[_step(targets=[{"kind": "pager", "ref": "x"}])]),
            [
                PolicyError(
                    "steps[0].targets[0].kind",
                    "unknown target kind 'pager'; use one of person, schedule, ward_role, team, "
                    "round_robin, everyone, assignee",
                )
            ],
        ),
        (
            _edited(repeat_from_step=3),
            [PolicyError("repeat_from_step", "out of range: the policy has steps 0 to 2, got 3")],
        ),
        (
            _edited(steps=[_step(targets=[])], repeat_count=True, ack_timeout_seconds=5),
            [
                PolicyError("steps[0].targets", "give at least one target"),
                PolicyError("repeat_count", "a whole number from 0 to 10, got True"),
                PolicyError("ack_timeout_seconds", "null (no reminder) or at least 60 s, got 5"),
            ],
        ),
        (
            _edited(
                steps=[
                    _step(
                        targets=[
                            {"kind": "ward_role", "ref": "janitor"},
                            {"kind": "person", "ref": " "},
                            {"kind": "assignee", "ref": "someone"},
                        ],
                        mode="loudest_wins",
                        repeat_every_seconds=2,
                    )
                ]
            ),
            [
                PolicyError(
                    "steps[0].targets[0].ref",
                    "ward_role needs a staff role (nurse, charge_nurse, resident, attending, "
                    "rapid_response, operator), got 'janitor'",
                ),
                PolicyError("steps[0].targets[1].ref", "person needs a staff id"),
                PolicyError("steps[0].targets[2].ref", "must be empty for assignee, got 'someone'"),
                PolicyError(
                    "steps[0].mode",
                    "must be one of first_ack_wins, all_must_ack, got 'loudest_wins'",
                ),
                PolicyError(
                    "steps[0].repeat_every_seconds",
                    "null (no repeat) or at least 10 s, got 2",
                ),
            ],
        ),
        (
            {"priority": "P9", "steps": "soon"},
            [
                PolicyError("name", "must not be empty"),
                PolicyError("priority", "must be one of P0, P1, P2, P3, P4 or null, got 'P9'"),
                PolicyError("steps", "give at least one step"),
            ],
        ),
    ],
)
def test_validation_names_the_field_of_every_problem(
    data: dict[str, object], expected: list[PolicyError]
) -> None:
    assert validate_policy(data) == expected
    with pytest.raises(InvalidPolicy) as refused:
        parse_policy(data)
    assert refused.value.errors == expected


# --- properties over random event sequences ----------------------------------------------------

targets_pool = (ASSIGNEE, CHARGE_NURSE, RAPID_RESPONSE_TEAM, ATTENDING, HOSPITAL_OPERATOR)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    count = draw(st.integers(1, 3))
    delays = sorted(draw(st.lists(st.integers(0, 300), min_size=count, max_size=count)))
    steps = tuple(
        Step(
            delay,
            tuple(
                draw(st.lists(st.sampled_from(targets_pool), min_size=1, max_size=2, unique=True))
            ),
            draw(st.sampled_from(list(StepMode))),
            draw(st.sampled_from([None, 20, 45])),
        )
        for delay in delays
    )
    return Policy(
        "random",
        steps,
        repeat_count=draw(st.integers(0, 2)),
        repeat_from_step=draw(st.integers(0, count - 1)),
        repeat_after_seconds=draw(st.integers(0, 200)),
        ack_timeout_seconds=draw(st.sampled_from([None, 60, 300])),
    )


EVENTS = (
    *("fire", "fire", "fire", "duplicate", "late"),
    *("ack", "decline", "escalate", "unreachable", "upgrade"),
)
events = st.lists(st.tuples(st.sampled_from(EVENTS), st.integers(0, 400)), max_size=30)


@settings(max_examples=150, deadline=None)
@given(policy=policies(), script=events)
def test_random_event_sequences_keep_the_invariants(
    policy: Policy, script: list[tuple[str, int]]
) -> None:
    f = facts("P2")
    state, actions = start(policy, f, T0)
    now = T0
    history = list(actions)
    fired: list[str] = []
    for event, number in script:
        now += timedelta(seconds=number)
        before = state
        if event in ("fire", "late") and state.pending:
            timer = min(state.pending, key=lambda t: (t.due_at, t.key))
            now = max(now, timer.due_at) + timedelta(hours=2 if event == "late" else 0)
            state, actions = on_timer(state, timer.key, f, now)
            fired.append(timer.key)
            assert len(notifications(actions)) <= 1  # a timer fires once, never a burst
            for s in scheduled(actions):
                assert s.at >= now
        elif event == "duplicate" and fired:
            key = fired[number % len(fired)]
            assert on_timer(state, key, f, now) == (state, ())
            continue
        elif event == "ack":
            via = state.policy.steps[max(state.step, 0)].targets[number % 2 - 1]
            state, actions = on_acknowledged(state, f, now, by=MARCO, via=via)
        elif event == "decline":
            state, actions = on_declined(state, f, now, by=MARCO)
        elif event == "escalate":
            state, actions = on_escalate_now(state, f, now)
        elif event == "unreachable" and notifications(tuple(history)):
            key = notifications(tuple(history))[-1].key
            state, actions = on_target_unresolvable(state, key, f, now)
        elif event == "upgrade" and f.priority != "P0":
            f = facts("P0")
            state, actions = on_priority_changed(state, DEFAULT_POLICIES["P0"], f, now)
        else:
            continue
        history.extend(actions)
        if before.status is EscalationStatus.ACKNOWLEDGED:  # only a resolution ends it
            assert state.status is EscalationStatus.ACKNOWLEDGED
        assert EscalationState.from_json(json.loads(json.dumps(state.to_json()))) == state

    sent = notifications(tuple(history))
    keys = [n.key for n in sent]
    assert len(keys) == len(set(keys))  # no notification twice
    first_of_step = [
        (n.key.split(":")[2], n.round, n.step) for n in sent if n.kind is NotifyKind.STEP
    ]
    assert len(first_of_step) == len(set(first_of_step))  # no step twice in the same round
    timer_keys = [a.key for a in scheduled(tuple(history))]
    assert len(timer_keys) == len(set(timer_keys))  # a key is never reused
    assert {t.key for t in state.pending} <= set(timer_keys)

    state, actions = on_resolved(state, f, now)
    for key in timer_keys:
        assert notifications(on_timer(state, key, f, now + timedelta(days=1))[1]) == []
