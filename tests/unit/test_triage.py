"""Triage: the P0-P4 table, and decide(): one action per condition, upgrade only, pauses
(never for P0), the opening threshold, hysteresis, arrest covering deterioration."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthguard.clinical.news2 import News2Input, score_news2
from healthguard.clinical.rules import Finding
from healthguard.clinical.triage import (
    TRIAGE_TABLE,
    AppendEvidence,
    OpenIncident,
    OpenIncidentState,
    PauseState,
    Suppress,
    UpgradeIncident,
    decide,
    is_urgent,
    news2_priority,
    rank,
)
from healthguard.incidents.priority import PRIORITIES, PRIORITY_STYLES

pytestmark = pytest.mark.unit

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
INCIDENT = uuid.uuid4()


def finding(
    priority: str = "P2",
    condition: str = "deterioration",
    rule: str = "news2_urgent",
    seconds: float = 0,
    summary: str = "NEWS2 5: RR 22",
) -> Finding:
    return Finding(
        rule_key=rule,
        condition=condition,
        priority=priority,
        kind="technical" if condition.startswith(("technical", "silent")) else "physiological",
        summary=summary,
        evidence={"rule": rule},
        observed_at=NOW + timedelta(seconds=seconds),
    )


def open_(priority: str, condition: str = "deterioration") -> dict[str, OpenIncidentState]:
    return {condition: OpenIncidentState(INCIDENT, priority, NOW - timedelta(minutes=5))}


# --- the table ---------------------------------------------------------------------------------


def test_triage_table_covers_every_priority_with_the_iec_level() -> None:
    assert tuple(level.priority for level in TRIAGE_TABLE) == PRIORITIES
    for level in TRIAGE_TABLE:
        assert level.alarm_level == PRIORITY_STYLES[level.priority].alarm_level
        assert level.meaning and level.triggers and level.reference
    assert [lv.alarm_level for lv in TRIAGE_TABLE] == ["high", "high", "medium", "low", "low"]


@pytest.mark.parametrize(
    ("inp", "rising", "expected"),
    [
        (News2Input(resp_rate=26, spo2=90, heart_rate=115), False, "P1"),  # 8
        (News2Input(resp_rate=22, heart_rate=115, temperature_c=38.5), False, "P2"),  # 5
        (News2Input(consciousness="V"), False, "P2"),  # red score 3
        (News2Input(resp_rate=22), True, "P3"),  # 2 and rising
        (News2Input(resp_rate=22), False, None),
        (News2Input(resp_rate=16), True, None),  # 0
    ],
)
def test_news2_priority(inp: News2Input, rising: bool, expected: str | None) -> None:
    assert news2_priority(score_news2(inp), rising) == expected


# --- decide ------------------------------------------------------------------------------------


def test_opens_an_incident_for_p0_to_p2() -> None:
    for priority in ("P0", "P1", "P2"):
        [action] = decide([finding(priority)], {}, {}, None, NOW)
        assert isinstance(action, OpenIncident)
        assert action.priority == priority and action.condition == "deterioration"
        assert action.title == "Deteriorating: NEWS2 5: RR 22"


@pytest.mark.parametrize("priority", ["P3", "P4"])
def test_p3_p4_do_not_open_by_default_but_are_recorded(priority: str) -> None:
    [action] = decide([finding(priority)], {}, {}, None, NOW)
    assert isinstance(action, Suppress)
    assert action.reason == "below the priority that opens incidents"


def test_open_from_is_configurable() -> None:
    [action] = decide([finding("P3")], {}, {}, None, NOW, open_from={"P0", "P1", "P2", "P3"})
    assert isinstance(action, OpenIncident)


def test_p0_opens_even_if_open_from_forgets_it() -> None:
    [action] = decide([finding("P0", "arrest")], {}, {}, None, NOW, open_from={"P2"})
    assert isinstance(action, OpenIncident)


def test_higher_priority_upgrades_the_open_incident() -> None:
    [action] = decide([finding("P1")], open_("P2"), {}, None, NOW)
    assert action == UpgradeIncident(INCIDENT, "P2", "P1", finding("P1"))


@pytest.mark.parametrize("priority", ["P2", "P3", "P4"])
def test_equal_or_lower_priority_only_appends_evidence(priority: str) -> None:
    [action] = decide([finding(priority)], open_("P2"), {}, None, NOW)
    assert isinstance(action, AppendEvidence) and action.incident_id == INCIDENT


def test_one_action_per_condition_the_highest_wins_the_rest_ride_along() -> None:
    findings = [
        finding("P2", rule="spo2_low", summary="SpO2 below 90 % for 20 s"),
        finding("P1", rule="news2_emergency", summary="NEWS2 8"),
        finding("P2", rule="news2_red_score", summary="Red score"),
        finding("P4", "technical:LEAD_OFF", "technical_alarm", summary="lead off"),
    ]
    actions = decide(findings, {}, {}, None, NOW)
    assert len(actions) == 2
    deterioration = next(a for a in actions if isinstance(a, OpenIncident))
    assert deterioration.priority == "P1"
    assert deterioration.finding.rule_key == "news2_emergency"
    also = deterioration.finding.evidence["also_triggered"]
    assert [a["rule"] for a in also] == ["news2_red_score", "spo2_low"]
    technical = next(a for a in actions if isinstance(a, Suppress))
    assert technical.finding.condition == "technical:LEAD_OFF"


def test_a_tie_goes_to_the_latest_reading() -> None:
    findings = [finding("P2", rule="a", seconds=0), finding("P2", rule="b", seconds=5)]
    [action] = decide(findings, {}, {}, None, NOW)
    assert isinstance(action, OpenIncident) and action.finding.rule_key == "b"


def test_pause_suppresses_below_p0_with_the_reason_and_end() -> None:
    pause = PauseState(until=NOW + timedelta(minutes=20), reason="bathing")
    [action] = decide([finding("P1")], {}, {}, pause, NOW)
    assert isinstance(action, Suppress)
    assert action.reason == "alarms paused: bathing until 2025-01-01 12:20:00 UTC"
    [upgrade] = decide([finding("P1")], open_("P2"), {}, pause, NOW)
    assert isinstance(upgrade, Suppress)


def test_pause_never_suppresses_p0() -> None:
    pause = PauseState(until=NOW + timedelta(minutes=20), reason="transport")
    [action] = decide([finding("P0", "arrest", "arrest_rhythm")], {}, {}, pause, NOW)
    assert isinstance(action, OpenIncident) and action.priority == "P0"


def test_an_expired_pause_does_nothing() -> None:
    pause = PauseState(until=NOW - timedelta(seconds=1), reason="bathing")
    [action] = decide([finding("P2")], {}, {}, pause, NOW)
    assert isinstance(action, OpenIncident)


def test_flapping_within_the_hysteresis_window_is_suppressed() -> None:
    resolved = {"deterioration": (NOW - timedelta(seconds=90), "P2")}
    [action] = decide([finding("P2")], {}, resolved, None, NOW, hysteresis=timedelta(minutes=10))
    assert isinstance(action, Suppress)
    assert action.reason == "flapping: resolved 90 s ago within the hysteresis window"


def test_after_the_hysteresis_window_it_opens_again() -> None:
    resolved = {"deterioration": (NOW - timedelta(minutes=11), "P2")}
    [action] = decide([finding("P2")], {}, resolved, None, NOW, hysteresis=timedelta(minutes=10))
    assert isinstance(action, OpenIncident)


def test_worse_than_when_resolved_is_not_flapping() -> None:
    resolved = {"deterioration": (NOW - timedelta(seconds=30), "P2")}
    [action] = decide([finding("P1")], {}, resolved, None, NOW)
    assert isinstance(action, OpenIncident) and action.priority == "P1"
    [arrest] = decide(
        [finding("P0", "arrest")], {}, {"arrest": (NOW - timedelta(seconds=30), "P0")}, None, NOW
    )
    assert isinstance(arrest, OpenIncident)


def test_arrest_covers_deterioration() -> None:
    findings = [
        finding("P1", rule="rrt_heart_rate_low"),
        finding("P0", "arrest", "arrest_no_pulse"),
    ]
    actions = decide(findings, {}, {}, None, NOW)
    assert isinstance(actions[0], OpenIncident) and actions[0].condition == "arrest"
    assert isinstance(actions[1], Suppress)
    assert actions[1].reason == "covered by the arrest incident opened now"
    # With the arrest incident open, deterioration is appended to it.
    [append] = decide([finding("P1")], open_("P0", "arrest"), {}, None, NOW)
    assert isinstance(append, AppendEvidence) and append.incident_id == INCIDENT


def test_an_open_deterioration_incident_still_gets_its_evidence_during_an_arrest() -> None:
    other = uuid.uuid4()
    incidents = {
        "deterioration": OpenIncidentState(other, "P2", NOW),
        "arrest": OpenIncidentState(INCIDENT, "P0", NOW),
    }
    [action] = decide([finding("P1")], incidents, {}, None, NOW)
    assert action == UpgradeIncident(other, "P2", "P1", finding("P1"))


# --- properties --------------------------------------------------------------------------------

CONDITIONS = ("deterioration", "arrest", "technical:LEAD_OFF", "silent_monitor")
priorities = st.sampled_from(PRIORITIES)


@st.composite
def findings(draw: st.DrawFn) -> list[Finding]:
    return [
        finding(
            draw(priorities), draw(st.sampled_from(CONDITIONS)), f"r{i}", draw(st.integers(-600, 0))
        )
        for i in range(draw(st.integers(0, 8)))
    ]


@settings(max_examples=300)
@given(
    findings(),
    st.dictionaries(st.sampled_from(CONDITIONS), priorities, max_size=4),
    st.dictionaries(
        st.sampled_from(CONDITIONS), st.tuples(st.integers(0, 3600), priorities), max_size=4
    ),
    st.none() | st.tuples(st.integers(-600, 3600), st.sampled_from(["bathing", "transport"])),
    st.frozensets(priorities),
)
def test_decide_never_lowers_a_priority_and_acts_once_per_condition(
    fs: list[Finding],
    open_priorities: dict[str, str],
    resolved_raw: dict[str, tuple[int, str]],
    pause_raw: tuple[int, str] | None,
    open_from: frozenset[str],
) -> None:
    incidents = {
        c: OpenIncidentState(uuid.uuid5(uuid.NAMESPACE_DNS, c), p, NOW)
        for c, p in open_priorities.items()
    }
    by_id = {i.incident_id: i for i in incidents.values()}
    resolved = {c: (NOW - timedelta(seconds=s), p) for c, (s, p) in resolved_raw.items()}
    pause = (
        None
        if pause_raw is None
        else PauseState(NOW + timedelta(seconds=pause_raw[0]), pause_raw[1])
    )
    actions = decide(fs, incidents, resolved, pause, NOW, open_from=open_from)
    conditions = [a.finding.condition for a in actions]
    assert len(conditions) == len(set(conditions)) == len({f.condition for f in fs})
    for action in actions:
        if isinstance(action, UpgradeIncident):
            assert rank(action.to_priority) < rank(action.from_priority)
            assert by_id[action.incident_id].priority == action.from_priority
        if isinstance(action, OpenIncident):
            assert action.condition not in incidents
        if isinstance(action, AppendEvidence):
            assert action.incident_id in by_id
        # A P0 is never suppressed, whatever the pause, the hysteresis or open_from.
        if action.finding.priority == "P0":
            assert not isinstance(action, Suppress)
        # The winner of each condition is its highest priority.
        same = [f for f in fs if f.condition == action.finding.condition]
        assert action.finding.priority == min((f.priority for f in same), key=rank)


@pytest.mark.parametrize(
    ("parameter", "value", "text", "urgent"),
    [
        ("heart_rate", 0.0, None, True),
        ("heart_rate", 39.0, None, True),
        ("heart_rate", 40.0, None, False),
        ("heart_rate", 150.0, None, False),
        ("rhythm", None, "vf", True),
        ("rhythm", None, "ASYSTOLE", True),
        ("rhythm", None, "AF", False),
        ("resp_rate", 0.0, None, True),
        ("resp_rate", 6.0, None, False),
        ("spo2", 79.0, None, True),
        ("spo2", 80.0, None, False),
        ("systolic_bp", 60.0, None, False),
        ("heart_rate", None, None, False),
    ],
)
def test_only_readings_that_may_meet_an_arrest_rule_take_the_urgent_lane(
    parameter: str, value: float | None, text: str | None, urgent: bool
) -> None:
    assert is_urgent(parameter, value, text) is urgent
