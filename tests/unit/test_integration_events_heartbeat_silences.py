"""Heartbeats and silences / maintenance windows: pure logic, the clock passed in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthguard.integrations.events import InboundEvent
from healthguard.integrations.heartbeat import (
    HeartbeatPolicy,
    HeartbeatState,
    heartbeat_dedup_key,
    heartbeat_state,
    transition_event,
)
from healthguard.integrations.silences import (
    EventContext,
    InvalidSilence,
    Silence,
    SilenceScope,
    active_silence,
    reminders_due,
    silence_matches,
    validate_silence,
)

pytestmark = pytest.mark.unit

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
US = timedelta(microseconds=1)
GATEWAY = "7d4f0c1e-2b3a-4c5d-8e9f-0a1b2c3d4e5f"
POLICY = HeartbeatPolicy(interval=timedelta(seconds=60), grace=timedelta(seconds=30))


# --- heartbeats ---------------------------------------------------------------------------------


def test_heartbeat_deadline_boundary() -> None:
    deadline = T0 + timedelta(seconds=90)
    ok = heartbeat_state(POLICY, last_heartbeat_at=T0, monitoring_since=T0, now=deadline - US)
    assert (ok.status, ok.deadline, ok.missed_since) == ("ok", deadline, None)
    missed = heartbeat_state(POLICY, last_heartbeat_at=T0, monitoring_since=T0, now=deadline)
    assert missed.missed and missed.missed_since == deadline
    assert missed.silent_since == T0


def test_heartbeat_baseline_when_none_yet_or_monitoring_enabled_later() -> None:
    never = heartbeat_state(
        POLICY, last_heartbeat_at=None, monitoring_since=T0, now=T0 + timedelta(seconds=89)
    )
    assert not never.missed and never.deadline == T0 + timedelta(seconds=90)
    month_ago = T0 - timedelta(days=30)
    enabled_now = heartbeat_state(
        POLICY, last_heartbeat_at=month_ago, monitoring_since=T0, now=T0 + timedelta(seconds=1)
    )
    assert not enabled_now.missed  # enabling monitoring does not page at once
    assert enabled_now.silent_since == month_ago  # but the message tells the truth
    future = heartbeat_state(  # a gateway clock ahead of ours: still ok
        POLICY, last_heartbeat_at=T0 + timedelta(minutes=5), monitoring_since=T0, now=T0
    )
    assert not future.missed
    with pytest.raises(ValueError, match="now"):
        heartbeat_state(
            POLICY, last_heartbeat_at=None, monitoring_since=T0, now=datetime(2025, 3, 1)
        )


def test_heartbeat_policy_validation() -> None:
    assert HeartbeatPolicy(interval=timedelta(seconds=10)).allowance == timedelta(seconds=10)
    assert HeartbeatPolicy(interval=timedelta(days=7), grace=timedelta(days=1)).severity == (
        "critical"
    )
    cases: tuple[tuple[dict[str, Any], str], ...] = (
        ({"interval": timedelta(seconds=9)}, "interval"),
        ({"interval": timedelta(days=7, seconds=1)}, "interval"),
        ({"interval": timedelta(0)}, "interval"),
        ({"interval": timedelta(minutes=1), "grace": timedelta(seconds=-1)}, "grace"),
        ({"interval": timedelta(minutes=1), "grace": timedelta(days=2)}, "grace"),
        ({"interval": timedelta(minutes=1), "severity": "fatal"}, "severity"),
    )
    for kwargs, field in cases:
        with pytest.raises(ValueError, match=field):
            HeartbeatPolicy(**kwargs)


def test_heartbeat_transitions_trigger_then_resolve_same_key() -> None:
    def event(
        was_missed: bool, last: datetime | None, now: datetime
    ) -> tuple[HeartbeatState, InboundEvent | None]:
        state = heartbeat_state(POLICY, last_heartbeat_at=last, monitoring_since=T0, now=now)
        return state, transition_event(
            integration_id=GATEWAY,
            integration_name="Ward 7 monitor gateway",
            policy=POLICY,
            was_missed=was_missed,
            state=state,
            now=now,
        )

    # ok -> ok: nothing
    state, emitted = event(False, T0, T0 + timedelta(seconds=60))
    assert emitted is None and not state.missed
    # ok -> missed: trigger
    state, trigger = event(False, T0, T0 + timedelta(seconds=90))
    assert state.missed and trigger is not None
    assert trigger.source_kind == "heartbeat"
    assert trigger.action == "trigger"
    assert trigger.dedup_key == f"heartbeat:{GATEWAY}" == heartbeat_dedup_key(GATEWAY)
    assert trigger.summary == (
        "No heartbeat from Ward 7 monitor gateway since 2025-03-01T08:00:00Z (expected every 1 min)"
    )
    assert trigger.occurred_at == T0 + timedelta(seconds=90)
    assert (trigger.severity, trigger.priority) == ("critical", "P1")
    assert trigger.details["last_heartbeat_at"] == "2025-03-01T08:00:00Z"
    # missed -> missed: nothing more (one incident)
    assert event(True, T0, T0 + timedelta(hours=1))[1] is None
    # the next heartbeat: missed -> ok, resolve the same key
    back = T0 + timedelta(hours=1, seconds=3)
    state, resolve = event(True, back, back)
    assert not state.missed and resolve is not None
    assert (resolve.action, resolve.dedup_key) == ("resolve", trigger.dedup_key)
    assert resolve.occurred_at == back
    assert resolve.summary == (
        "Heartbeat from Ward 7 monitor gateway received again at 2025-03-01T09:00:03Z"
    )


def test_heartbeat_never_received_and_overrides() -> None:
    policy = HeartbeatPolicy(interval=timedelta(hours=2), severity="error")
    state = heartbeat_state(
        policy, last_heartbeat_at=None, monitoring_since=T0, now=T0 + timedelta(hours=3)
    )
    event = transition_event(
        integration_id="hl7",
        integration_name="  ",
        policy=policy,
        was_missed=False,
        state=state,
        now=T0 + timedelta(hours=3),
        severity_map={"error": "P3"},
    )
    assert event is not None
    assert event.summary == (
        "No heartbeat from hl7 since monitoring started at 2025-03-01T08:00:00Z "
        "(expected every 2 h)"
    )
    assert event.priority == "P3"
    assert heartbeat_dedup_key("a") != heartbeat_dedup_key("b")


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=10, max_value=7 * 86400),
    st.integers(min_value=0, max_value=86400),
    st.integers(min_value=-10, max_value=10 * 86400),
)
def test_heartbeat_missed_exactly_from_the_deadline(interval: int, grace: int, after: int) -> None:
    policy = HeartbeatPolicy(interval=timedelta(seconds=interval), grace=timedelta(seconds=grace))
    now = T0 + timedelta(seconds=after)
    state = heartbeat_state(policy, last_heartbeat_at=T0, monitoring_since=T0, now=now)
    assert state.missed == (after >= interval + grace)


# --- silences -------------------------------------------------------------------------------


def silence(
    *,
    id: str = "s1",
    scope: SilenceScope | None = None,
    starts: datetime = T0,
    length: timedelta = timedelta(hours=2),
    reason: str = "Gateway firmware update",
    by: str = "charge-nurse-7",
) -> Silence:
    return Silence(
        id=id,
        scope=scope if scope is not None else SilenceScope(ward_code="W7"),
        starts_at=starts,
        ends_at=starts + length,
        reason=reason,
        created_by=by,
    )


def test_validate_silence_accepts_a_scheduled_window() -> None:
    validate_silence(silence(starts=T0 + timedelta(days=3)), now=T0)
    validate_silence(silence(length=timedelta(days=7)), now=T0)  # exactly the maximum
    validate_silence(silence(starts=T0 - timedelta(hours=1)), now=T0)  # already running


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (silence(scope=SilenceScope()), "scope"),
        (silence(scope=SilenceScope(ward_code=" ")), "scope.ward_code"),
        (silence(length=timedelta(0)), "ends_at"),
        (silence(length=-timedelta(minutes=5)), "ends_at"),
        (silence(length=timedelta(days=7, seconds=1)), "ends_at"),
        (silence(starts=T0 - timedelta(hours=3)), "ends_at"),  # already over
        (silence(starts=T0 + timedelta(days=91)), "starts_at"),
        (silence(reason="  "), "reason"),
        (silence(reason="r" * 501), "reason"),
        (silence(by=""), "created_by"),
        (silence(starts=datetime(2025, 3, 1, 8, 0)), "starts_at"),
    ],
)
def test_validate_silence_names_the_field(bad: Silence, field: str) -> None:
    with pytest.raises(InvalidSilence) as exc:
        validate_silence(bad, now=T0)
    assert exc.value.field == field
    assert exc.value.errors[0].field == field


def test_validate_silence_reports_everything_and_max_override() -> None:
    bad = Silence(
        id="x",
        scope=SilenceScope(),
        starts_at=T0,
        ends_at=T0,
        reason="",
        created_by="",
    )
    with pytest.raises(InvalidSilence) as exc:
        validate_silence(bad, now=T0)
    assert [e.field for e in exc.value.errors] == [
        "scope",
        "ends_at",
        "ends_at",
        "reason",
        "created_by",
    ]
    with pytest.raises(InvalidSilence, match="the most is 4 h"):
        validate_silence(
            silence(length=timedelta(hours=5)), now=T0, max_duration=timedelta(hours=4)
        )


def test_scope_from_json() -> None:
    assert SilenceScope.from_mapping({"ward_code": "W7", "rule": None}) == SilenceScope(
        ward_code="W7"
    )
    with pytest.raises(InvalidSilence) as exc:
        SilenceScope.from_mapping({"ward": "W7", "patient_id": 5})
    assert [e.field for e in exc.value.errors] == ["scope.ward", "scope.patient_id"]
    with pytest.raises(InvalidSilence) as exc:
        SilenceScope.from_mapping(["W7"])
    assert exc.value.field == "scope"


def test_scope_matching_all_given_fields_wildcards_otherwise() -> None:
    patient = uuid.UUID("6f1c2a3e-0000-4000-8000-000000000001")
    ward7_news = SilenceScope(ward_code="W7", rule="news2_high")
    assert silence_matches(ward7_news, EventContext(ward_code="W7", rule="news2_high"))
    assert silence_matches(
        ward7_news,
        EventContext(integration_id="i", ward_code="W7", patient_id=patient, rule="news2_high"),
    )
    assert not silence_matches(ward7_news, EventContext(ward_code="W7", rule="spo2_low"))
    assert not silence_matches(ward7_news, EventContext(ward_code="W8", rule="news2_high"))
    assert not silence_matches(ward7_news, EventContext(rule="news2_high"))  # no ward: no match
    by_patient = SilenceScope(patient_id=str(patient))
    assert silence_matches(by_patient, EventContext(patient_id=patient))  # UUID vs str
    assert silence_matches(SilenceScope(patient_id=patient), EventContext(patient_id=str(patient)))
    assert not silence_matches(SilenceScope(), EventContext(ward_code="W7"))  # never all
    by_integration = SilenceScope(integration_id=GATEWAY)
    assert silence_matches(by_integration, EventContext(integration_id=GATEWAY, ward_code="W1"))


def test_silence_window_starts_inclusive_ends_exclusive() -> None:
    s = silence(starts=T0 + timedelta(hours=1))  # scheduled ahead: 09:00-11:00
    event = EventContext(ward_code="W7")
    assert active_silence(event, [s], T0 + timedelta(hours=1) - US) is None
    assert active_silence(event, [s], T0 + timedelta(hours=1)) is s
    assert active_silence(event, [s], s.ends_at - US) is s
    assert active_silence(event, [s], s.ends_at) is None  # expired by itself
    assert active_silence(event, [], T0) is None


def test_active_silence_picks_the_longest_running_match() -> None:
    short = silence(id="b", length=timedelta(hours=1))
    long = silence(id="c", length=timedelta(hours=3))
    long_twin = silence(id="a", length=timedelta(hours=3))
    other_ward = silence(id="d", length=timedelta(hours=5), scope=SilenceScope(ward_code="W8"))
    now = T0 + timedelta(minutes=30)
    context = EventContext(ward_code="W7")
    assert active_silence(context, [short, long, other_ward], now) is long
    assert active_silence(context, [short, long, long_twin], now) is long_twin  # smallest id
    assert active_silence(context, iter([short]), now) is short  # any iterable


def test_reminders_before_a_long_silence_ends() -> None:
    long = silence(id="long", length=timedelta(hours=4))  # 08:00-12:00
    exactly_threshold = silence(id="hour", length=timedelta(hours=1))  # not "longer than"
    later = silence(id="later", length=timedelta(hours=4, minutes=10))
    ends = long.ends_at
    silences = [long, exactly_threshold, later]
    assert reminders_due(silences, ends - timedelta(minutes=15) - US) == []
    assert reminders_due(silences, ends - timedelta(minutes=15)) == [long]
    assert reminders_due(silences, ends - US) == [long, later]
    assert reminders_due(silences, ends) == [later]  # over: no reminder
    assert reminders_due(silences, ends - US, already_reminded=["long"]) == [later]
    assert (
        reminders_due([exactly_threshold], exactly_threshold.ends_at - timedelta(minutes=1)) == []
    )
    assert reminders_due(
        [exactly_threshold],
        exactly_threshold.ends_at - timedelta(minutes=1),
        long_threshold=timedelta(minutes=30),
    ) == [exactly_threshold]
    # scheduled ahead and not started: no reminder even if "ending soon" by the clock
    ahead = silence(id="ahead", starts=T0 + timedelta(days=1), length=timedelta(hours=2))
    assert reminders_due([ahead], T0) == []
    assert reminders_due([long], ends - timedelta(minutes=40), lead=timedelta(hours=1)) == [long]
