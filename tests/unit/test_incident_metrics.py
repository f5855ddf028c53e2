"""Incident response metrics (healthguard.incidents.metrics): crafted timelines with exact
expected seconds, nearest-rank percentiles on known lists, reopened and never-acknowledged
incidents, shifts across the Europe/London DST changes, the hourly histogram, Prometheus
samples, and hypothesis properties."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthguard.incidents.lifecycle import (
    Acknowledge,
    ActionRequest,
    Command,
    Escalate,
    IncidentState,
    IncidentView,
    Plan,
    Reopen,
    Resolve,
    Start,
    plan,
)
from healthguard.incidents.metrics import (
    DEFAULT_SHIFTS,
    DIMENSIONS,
    Dimension,
    IncidentFacts,
    Sample,
    Shift,
    duration_stats,
    hourly_histogram,
    incident_metrics,
    opened_between,
    percentile,
    prometheus_samples,
    shift_at,
    summarize,
    with_timelines,
)
from healthguard.security.permissions import Permission

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 6, 10, 0, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")
ANA, BEN, CARA = "ana.lopez", "ben.okafor", "cara.wu"


def utc(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def at(seconds: float, base: datetime = T0) -> datetime:
    return base + timedelta(seconds=seconds)


def incident(
    timeline: Sequence[tuple[float, str, str, dict[str, Any] | None]] = (),
    *,
    priority: str = "P2",
    ward: str | None = "4B",
    opened: datetime = T0,
    number: int = 1,
) -> IncidentFacts:
    """An incident opened at ``opened``; ``timeline``: (seconds after opening, kind, actor,
    data), after an "opened" entry."""
    rows: list[tuple[datetime, str, str, dict[str, Any] | None]]
    rows = [(opened, "opened", "triage", {"source": "triage"})]
    rows += [(at(s, opened), kind, actor, data) for s, kind, actor, data in timeline]
    return IncidentFacts(
        id=f"inc-{number}",
        number=number,
        priority=priority,
        ward_code=ward,
        opened_at=opened,
        timeline=rows,
    )


# --- per incident -------------------------------------------------------------------------


def test_a_full_response_gives_exact_seconds() -> None:
    facts = incident(
        [
            (5, "evidence", "triage", {"rule": "news2"}),
            (90, "acknowledged", ANA, {}),
            (120, "escalated", "system", {"step": 1}),
            (200, "escalated", ANA, {"to": "rapid-response"}),
            (300, "started", BEN, {}),
            (400, "note", BEN, {"after_resolution": False}),
            (1800.5, "resolved", BEN, {"reason": "treated", "duplicate_of": None}),
            (4000, "closed", CARA, {}),
        ]
    )
    m = incident_metrics(facts)
    assert m.time_to_acknowledge == 90
    assert m.acknowledged_by == ANA
    assert m.time_to_bedside == 300
    assert m.started_by == BEN
    assert m.time_to_resolve == 1800.5
    assert m.resolved_at == at(1800.5)
    assert m.resolution_reason == "treated"
    assert m.escalations == 2
    assert m.notifications == 0
    assert m.status is IncidentState.CLOSED
    assert (m.open, m.resolved, m.false_alarm, m.reopened) == (False, True, False, 0)


def test_the_entries_written_by_the_lifecycle_are_understood() -> None:
    """Drive the real state machine and feed its timeline entries: start from triggered (an
    implicit acknowledgement at the same instant), escalate, resolve, reopen, resolve."""
    view = IncidentView(status=IncidentState.TRIGGERED, priority="P1", number=7, id="x")
    rows: list[tuple[datetime, str, str, dict[str, Any]]] = [(T0, "opened", ANA, {})]

    def do(command: Command, actor: str, seconds: float) -> None:
        nonlocal view
        result = plan(view, ActionRequest(command, actor, frozenset(Permission)), now=at(seconds))
        assert isinstance(result, Plan), result
        rows.extend((e.at, e.kind, e.actor, e.data) for e in result.entries)
        view = result.after

    do(Start(), BEN, 240)
    do(Escalate(), BEN, 250)
    do(Resolve(reason="false_alarm", text="probe off"), BEN, 900)
    do(Reopen(reason="desaturating again"), CARA, 1500)
    do(Acknowledge(), ANA, 1560)
    do(Resolve(reason="transferred_to_icu"), ANA, 5000)
    assert [r[1] for r in rows] == [
        "opened",
        "acknowledged",
        "started",
        "escalated",
        "resolved",
        "reopened",
        "acknowledged",
        "resolved",
    ]
    m = incident_metrics(
        IncidentFacts("x", 7, "P1", "ICU", T0, assignee=ANA, lead=BEN, timeline=rows)
    )
    assert (m.time_to_acknowledge, m.acknowledged_by) == (240, BEN)
    assert (m.time_to_bedside, m.started_by) == (240, BEN)
    assert m.time_to_resolve == 5000  # the LAST resolution
    assert m.resolution_reason == "transferred_to_icu"
    assert not m.false_alarm  # the false alarm was undone by the reopen
    assert (m.escalations, m.reopened, m.status) == (1, 1, IncidentState.RESOLVED)
    assert (m.assignee, m.lead, m.ward_code) == (ANA, BEN, "ICU")


def test_a_reopened_incident_not_resolved_again_is_open() -> None:
    m = incident_metrics(
        incident(
            [
                (60, "acknowledged", BEN, {}),
                (600, "resolved", BEN, {"reason": "false_alarm"}),
                (1200, "reopened", CARA, {"previous_reason": "false_alarm"}),
            ]
        )
    )
    assert m.status is IncidentState.TRIGGERED
    assert (m.open, m.resolved, m.false_alarm) == (True, False, False)
    assert m.time_to_resolve is None and m.resolved_at is None
    assert m.resolution_reason is None
    assert (m.time_to_acknowledge, m.acknowledged_by, m.reopened) == (60, BEN, 1)


def test_never_acknowledged_incidents() -> None:
    still_open = incident_metrics(incident([(30, "escalated", "system", {"step": 1})]))
    assert still_open.status is IncidentState.TRIGGERED
    assert (still_open.acknowledged, still_open.open) == (False, True)
    assert still_open.time_to_acknowledge is None
    assert still_open.acknowledged_by is None
    assert still_open.time_to_bedside is None
    assert still_open.time_to_resolve is None
    assert still_open.escalations == 1

    artefact = incident_metrics(
        incident([(45, "resolved", ANA, {"reason": "false_alarm", "duplicate_of": None})])
    )
    assert (artefact.acknowledged, artefact.resolved, artefact.false_alarm) == (False, True, True)
    assert artefact.time_to_acknowledge is None
    assert artefact.time_to_resolve == 45


def test_notifications_count_distinct_ids_or_sent_events() -> None:
    with_ids = incident(
        [
            (1, "notification.sent", "system", {"notification_id": "n1", "channel": "push"}),
            (2, "notification.delivered", "system", {"notification_id": "n1"}),
            (3, "notification.sent", "system", {"notification_id": "n2", "channel": "sms"}),
            (9, "notification.failed", "system", {"notification_id": "n2"}),
            (20, "notification.read", ANA, {"notification_id": "n1"}),
        ]
    )
    assert incident_metrics(with_ids).notifications == 2
    without_ids = incident(
        [
            (1, "notification.sent", "system", None),
            (2, "notification.sent", "system", {}),
            (3, "notification.delivered", "system", {}),
            (4, "notification.sent", "system", {}),
        ]
    )
    assert incident_metrics(without_ids).notifications == 3


def test_timeline_is_ordered_by_time_stably_and_skew_is_clamped() -> None:
    facts = IncidentFacts(
        "a",
        1,
        "P1",
        None,
        T0,
        timeline=[
            (at(100), "resolved", ANA, {"reason": "treated"}),
            (at(-3), "acknowledged", ANA, {}),  # written by a clock 3 s behind
            (at(50), "started", BEN, {}),
            (at(50), "escalated", BEN, {}),
        ],
    )
    assert [i.kind for i in facts.items] == ["acknowledged", "started", "escalated", "resolved"]
    m = incident_metrics(facts)
    assert (m.time_to_acknowledge, m.time_to_bedside, m.time_to_resolve) == (0, 50, 100)


def test_local_times_across_dst_give_elapsed_seconds() -> None:
    """Opened 00:30 GMT, acknowledged 02:30 BST on 2026-03-29: one hour, not two (two aware
    datetimes sharing a ZoneInfo subtract by wall clock in Python)."""
    opened = datetime(2026, 3, 29, 0, 30, tzinfo=LONDON)
    acked = datetime(2026, 3, 29, 2, 30, tzinfo=LONDON)
    facts = IncidentFacts("a", 1, "P1", None, opened, timeline=[(acked, "acknowledged", ANA, {})])
    assert incident_metrics(facts).time_to_acknowledge == 3600
    assert facts.opened_at == utc(2026, 3, 29, 0, 30) and facts.opened_at.tzinfo is UTC
    # The range filter compares instants too: 01:30 BST (first) is before 01:10 GMT (second).
    first = IncidentFacts("b", 2, "P1", None, datetime(2026, 10, 25, 1, 30, tzinfo=LONDON))
    second_start = datetime(2026, 10, 25, 1, 10, tzinfo=LONDON, fold=1)
    assert opened_between([first], None, second_start) == [first]


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="opened_at"):
        IncidentFacts("a", 1, "P1", None, datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timeline"):
        IncidentFacts("a", 1, "P1", None, T0, timeline=[(datetime(2026, 1, 1), "x", "y", {})])


def test_with_timelines_attaches_events_by_incident_id() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    heads = [
        IncidentFacts(str(first), 1, "P1", "4B", T0),
        IncidentFacts(str(second), 2, "P3", "4B", T0),
    ]
    rows = [
        (first, at(10), "acknowledged", ANA, {}),
        (second, at(20), "acknowledged", BEN, None),
        (first, at(30), "resolved", ANA, {"reason": "treated"}),
        (uuid.uuid4(), at(5), "acknowledged", CARA, {}),
    ]
    a, b = (incident_metrics(f) for f in with_timelines(heads, rows))
    assert (a.time_to_acknowledge, a.time_to_resolve, a.acknowledged_by) == (10, 30, ANA)
    assert (b.time_to_acknowledge, b.time_to_resolve, b.acknowledged_by) == (20, None, BEN)


# --- percentiles --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        # The nearest-rank examples of the Wikipedia "Percentile" article.
        ([15, 20, 35, 40, 50], 5, 15),
        ([15, 20, 35, 40, 50], 30, 20),
        ([15, 20, 35, 40, 50], 40, 20),
        ([15, 20, 35, 40, 50], 50, 35),
        ([15, 20, 35, 40, 50], 100, 50),
        ([3, 6, 7, 8, 8, 10, 13, 15, 16, 20], 25, 7),
        ([3, 6, 7, 8, 8, 10, 13, 15, 16, 20], 50, 8),
        ([3, 6, 7, 8, 8, 10, 13, 15, 16, 20], 75, 15),
        ([20, 16, 15, 13, 10, 8, 8, 7, 6, 3], 100, 20),  # order does not matter
        (list(range(1, 101)), 50, 50),
        (list(range(1, 101)), 90, 90),
        (list(range(1, 101)), 95, 95),
        (list(range(1, 101)), 99, 99),
        (list(range(1, 11)), 90, 9),
        (list(range(1, 11)), 95, 10),  # rank ceil(9.5) = 10
        (list(range(1, 21)), 95, 19),  # rank exactly 19, no float rounding up to 20
        ([42.0], 0, 42.0),
        ([42.0], 99, 42.0),
        ([5, 1, 9], 0, 1),
    ],
)
def test_nearest_rank_percentiles(values: list[float], p: float, expected: float) -> None:
    assert percentile(values, p) == expected


def test_percentile_of_nothing_is_none_and_p_is_checked() -> None:
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1.0], 101)
    with pytest.raises(ValueError):
        percentile([1.0], -1)


def test_duration_stats() -> None:
    s = duration_stats([40, 10, 30, 20])
    assert (s.n, s.p50, s.p90, s.p95, s.p99, s.mean, s.min, s.max) == (
        4,
        20,
        40,
        40,
        40,
        25,
        10,
        40,
    )
    assert s.total == 100
    empty = duration_stats([])
    assert empty.n == 0
    assert [empty.p50, empty.p90, empty.p95, empty.p99, empty.mean, empty.min, empty.max] == [
        None
    ] * 7
    assert empty.total == 0


# --- groups -------------------------------------------------------------------------------


def crafted() -> list[IncidentFacts]:
    """Five incidents on 2026-01-06 (winter: London time is UTC)."""
    return [
        incident(  # P1 4B: ack 60 s by ana, bedside 180 s, resolved 1200 s, 1 escalation
            [
                (30, "notification.sent", "system", {"notification_id": "n1"}),
                (60, "acknowledged", ANA, {}),
                (100, "escalated", ANA, {"to": "rrt"}),
                (180, "started", ANA, {}),
                (1200, "resolved", ANA, {"reason": "treated"}),
            ],
            priority="P1",
            number=1,
        ),
        incident(  # P1 4B: ack 120 s by ben, false alarm at 600 s, 2 escalations
            [
                (10, "escalated", "system", {"step": 1}),
                (20, "escalated", "system", {"step": 2}),
                (30, "notification.sent", "system", {"notification_id": "n2"}),
                (31, "notification.sent", "system", {"notification_id": "n3"}),
                (120, "acknowledged", BEN, {}),
                (600, "resolved", BEN, {"reason": "false_alarm"}),
            ],
            priority="P1",
            number=2,
            opened=T0 + timedelta(hours=6),  # 16:00: evening
        ),
        incident(  # P1 ICU: never acknowledged, still open
            [(15, "notification.sent", "system", {"notification_id": "n4"})],
            priority="P1",
            ward="ICU",
            number=3,
        ),
        incident(  # P3 ICU: started from triggered at 900 s by ana, open
            [(900, "acknowledged", ANA, {"implicit": True}), (900, "started", ANA, {})],
            priority="P3",
            ward="ICU",
            number=4,
            opened=T0 + timedelta(hours=14),  # 00:00 next day: night
        ),
        incident(  # P0, no ward: ack 30 s by ana, resolved 300 s
            [(30, "acknowledged", ANA, {}), (300, "resolved", ANA, {"reason": "treated"})],
            priority="P0",
            ward=None,
            number=5,
        ),
    ]


def test_the_whole_without_grouping() -> None:
    (whole,) = summarize(crafted())
    assert whole.key == ()
    assert (whole.count, whole.acknowledged, whole.unacknowledged) == (5, 4, 1)
    assert (whole.open, whole.resolved, whole.false_alarms) == (2, 3, 1)
    assert whole.false_alarm_share == pytest.approx(1 / 3)
    tta = whole.time_to_acknowledge  # 30, 60, 120, 900: the unacknowledged one is excluded
    assert (tta.n, tta.p50, tta.p90, tta.p99, tta.mean, tta.min, tta.max) == (
        4,
        60,
        900,
        900,
        277.5,
        30,
        900,
    )
    ttb = whole.time_to_bedside  # 180, 900
    assert (ttb.n, ttb.p50, ttb.p95, ttb.mean, ttb.max) == (2, 180, 900, 540, 900)
    ttr = whole.time_to_resolve  # 300, 600, 1200
    assert (ttr.n, ttr.p50, ttr.p90, ttr.mean, ttr.max) == (3, 600, 1200, 700, 1200)
    assert (whole.escalations, whole.escalations_per_incident) == (3, 0.6)
    assert (whole.notifications, whole.notifications_per_incident) == (4, 0.8)


def test_by_priority() -> None:
    groups = summarize(crafted(), ["priority"])
    assert [g.labels for g in groups] == [
        {"priority": "P0"},
        {"priority": "P1"},
        {"priority": "P3"},
    ]
    p0, p1, p3 = groups
    assert (p0.count, p0.time_to_acknowledge.p50, p0.time_to_resolve.max) == (1, 30, 300)
    assert (p1.count, p1.acknowledged, p1.unacknowledged, p1.open) == (3, 2, 1, 1)
    assert (p1.time_to_acknowledge.n, p1.time_to_acknowledge.mean) == (2, 90)
    assert (p1.time_to_acknowledge.p50, p1.time_to_acknowledge.p90) == (60, 120)
    assert (p1.false_alarms, p1.false_alarm_share) == (1, 0.5)
    assert (p1.escalations, p1.escalations_per_incident) == (3, 1.0)
    assert p1.notifications_per_incident == pytest.approx(4 / 3)
    # Nothing resolved and nothing at the bedside: None, never 0.
    assert p3.false_alarm_share is None
    assert p3.time_to_resolve.n == 0
    assert p3.time_to_resolve.p50 is None and p3.time_to_resolve.mean is None
    assert p3.time_to_bedside.p50 == 900


def test_by_ward_and_person() -> None:
    by_ward = summarize(crafted(), ["ward"])
    assert [(g.labels["ward"], g.count) for g in by_ward] == [("4B", 2), ("ICU", 2), (None, 1)]
    by_person = summarize(crafted(), ["person"])
    assert [(g.labels["person"], g.count) for g in by_person] == [
        (ANA, 3),
        (BEN, 1),
        (None, 1),  # never acknowledged
    ]
    nobody = by_person[-1]
    assert (nobody.unacknowledged, nobody.open, nobody.time_to_acknowledge.mean) == (1, 1, None)


def test_by_several_dimensions() -> None:
    groups = summarize(crafted(), ("priority", "ward", "shift"), zone=LONDON)
    assert [g.key for g in groups] == [
        (("priority", "P0"), ("ward", None), ("shift", "day")),
        (("priority", "P1"), ("ward", "4B"), ("shift", "day")),
        (("priority", "P1"), ("ward", "4B"), ("shift", "evening")),
        (("priority", "P1"), ("ward", "ICU"), ("shift", "day")),
        (("priority", "P3"), ("ward", "ICU"), ("shift", "night")),
    ]
    assert sum(g.count for g in groups) == 5


def test_time_range_is_half_open() -> None:
    facts = crafted()
    start, end = T0, T0 + timedelta(hours=6)  # the 16:00 one is at `end`: excluded
    assert [f.number for f in opened_between(facts, start, end)] == [1, 3, 5]
    (whole,) = summarize(facts, opened_from=start, opened_to=end)
    assert whole.count == 3
    assert [f.number for f in opened_between(facts, end, None)] == [2, 4]
    (nothing,) = summarize(facts, opened_from=end, opened_to=end)
    assert nothing.count == 0
    assert nothing.time_to_acknowledge.p50 is None
    assert nothing.escalations_per_incident is None
    assert nothing.false_alarm_share is None
    assert summarize([], ["priority"]) == []


def test_bad_grouping_is_refused() -> None:
    with pytest.raises(ValueError, match="zone"):
        summarize(crafted(), ["shift"])
    with pytest.raises(ValueError, match="group_by"):
        summarize(crafted(), ["bed"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="group_by"):
        summarize(crafted(), ["ward", "ward"])


# --- shifts across DST (Europe/London) ------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "shift"),
    [
        (utc(2026, 3, 28, 6, 30), "night"),  # 06:30 GMT
        (utc(2026, 3, 29, 0, 59), "night"),  # 00:59 GMT, just before the clocks go forward
        (utc(2026, 3, 29, 1, 0), "night"),  # 02:00 BST
        (utc(2026, 3, 29, 5, 59, 59), "night"),  # 06:59:59 BST
        (utc(2026, 3, 29, 6, 0), "day"),  # 07:00 BST
        (utc(2026, 3, 29, 6, 30), "day"),  # 07:30 BST: in UTC terms it would be night
        (utc(2026, 3, 29, 14, 30), "evening"),  # 15:30 BST
        (utc(2026, 3, 29, 22, 30), "night"),  # 23:30 BST
        (utc(2026, 10, 24, 6, 30), "day"),  # 07:30 BST
        (utc(2026, 10, 25, 0, 30), "night"),  # 01:30 BST, first time
        (utc(2026, 10, 25, 1, 30), "night"),  # 01:30 GMT, second time
        (utc(2026, 10, 25, 6, 30), "night"),  # 06:30 GMT
        (utc(2026, 10, 25, 7, 0), "day"),  # 07:00 GMT
        (utc(2026, 10, 24, 21, 59), "evening"),  # 22:59 BST
        (utc(2026, 10, 24, 22, 0), "night"),  # 23:00 BST
    ],
)
def test_shift_follows_the_local_clock(instant: datetime, shift: str) -> None:
    assert shift_at(instant, LONDON).name == shift


def test_night_shifts_are_7_and_9_hours_on_dst_nights() -> None:
    spring = shift_at(utc(2026, 3, 29, 3, 0), LONDON)
    assert (spring.name, spring.local_date.isoformat(), spring.hours) == ("night", "2026-03-28", 7)
    assert spring.starts_at == utc(2026, 3, 28, 23, 0)
    assert spring.ends_at == utc(2026, 3, 29, 6, 0)
    autumn = shift_at(utc(2026, 10, 25, 3, 0), LONDON)
    assert (autumn.name, autumn.local_date.isoformat(), autumn.hours) == ("night", "2026-10-24", 9)
    assert autumn.starts_at == utc(2026, 10, 24, 22, 0)
    assert autumn.ends_at == utc(2026, 10, 25, 7, 0)
    assert autumn.starts_at.tzinfo is UTC
    ordinary = shift_at(utc(2026, 1, 6, 12, 0), LONDON)
    assert (ordinary.name, ordinary.hours) == ("day", 8)


def test_shift_starts_in_a_dst_gap_or_a_repeated_hour() -> None:
    shifts = (Shift("early", time(1, 30)), Shift("late", time(13, 30)))
    # 01:30 does not exist on 2026-03-29: the shift starts when the clocks go forward.
    assert shift_at(utc(2026, 3, 29, 0, 59, 59), LONDON, shifts).name == "late"
    early = shift_at(utc(2026, 3, 29, 1, 0), LONDON, shifts)
    assert (early.name, early.starts_at, early.hours) == ("early", utc(2026, 3, 29, 1, 0), 11.5)
    # 01:30 happens twice on 2026-10-25: the shift starts at the first one (BST).
    assert shift_at(utc(2026, 10, 25, 0, 29), LONDON, shifts).name == "late"
    autumn = shift_at(utc(2026, 10, 25, 1, 10), LONDON, shifts)  # 01:10 GMT, the second time
    assert (autumn.name, autumn.starts_at, autumn.hours) == ("early", utc(2026, 10, 25, 0, 30), 13)


def test_grouping_by_shift_across_both_dst_changes() -> None:
    openings = [
        utc(2026, 3, 28, 6, 30),  # night (06:30 GMT)
        utc(2026, 3, 29, 6, 30),  # day (07:30 BST)
        utc(2026, 3, 29, 14, 30),  # evening (15:30 BST)
        utc(2026, 3, 29, 22, 30),  # night (23:30 BST)
        utc(2026, 10, 24, 6, 30),  # day (07:30 BST)
        utc(2026, 10, 25, 0, 30),  # night (01:30 BST)
        utc(2026, 10, 25, 1, 30),  # night (01:30 GMT)
        utc(2026, 10, 25, 6, 30),  # night (06:30 GMT)
        utc(2026, 10, 25, 14, 30),  # day (14:30 GMT)
    ]
    facts = [
        incident([(60 * (i + 1), "acknowledged", ANA, {})], opened=o, number=i)
        for i, o in enumerate(openings)
    ]
    groups = summarize(facts, ["shift"], zone=LONDON)
    assert [(g.labels["shift"], g.count) for g in groups] == [
        ("day", 3),
        ("evening", 1),
        ("night", 5),
    ]
    night = groups[-1]  # acknowledged after 1, 4, 6, 7, 8 minutes
    assert (night.time_to_acknowledge.p50, night.time_to_acknowledge.max) == (360, 480)
    # Two 12 h shifts, listed night first: groups follow the configured order.
    twelve = (Shift("night", time(19, 0)), Shift("day", time(7, 0)))
    assert [
        (g.labels["shift"], g.count)
        for g in summarize(facts, ["shift"], zone=LONDON, shifts=twelve)
    ] == [
        ("night", 5),
        ("day", 4),
    ]


def test_bad_shifts_are_refused() -> None:
    for shifts in (
        (),
        (Shift("a", time(7)), Shift("a", time(19))),
        (Shift("a", time(7)), Shift("b", time(7))),
        (Shift("a", time(7, tzinfo=UTC)),),
    ):
        with pytest.raises(ValueError, match="shifts"):
            shift_at(T0, LONDON, shifts)


def test_default_shifts() -> None:
    assert [(s.name, s.start) for s in DEFAULT_SHIFTS] == [
        ("day", time(7)),
        ("evening", time(15)),
        ("night", time(23)),
    ]


# --- hourly histogram -----------------------------------------------------------------------


def test_hourly_histogram_for_24_hours() -> None:
    facts = [
        incident(priority="P1", opened=T0, number=1),  # 10:00:00, first bucket
        incident(priority="P1", opened=T0 + timedelta(minutes=59), number=2),
        incident(priority="P3", opened=T0 + timedelta(hours=1), number=3),
        incident(priority="P0", opened=T0 + timedelta(hours=23, minutes=59), number=4),
        incident(priority="P0", opened=T0 + timedelta(hours=24), number=5),  # at the end: out
        incident(priority="P2", opened=T0 - timedelta(seconds=1), number=6),  # before: out
    ]
    buckets = hourly_histogram(facts, T0, T0 + timedelta(hours=24))
    assert len(buckets) == 24
    assert buckets[0].start == T0 and buckets[0].end == T0 + timedelta(hours=1)
    assert buckets[0].counts == {"P0": 0, "P1": 2, "P2": 0, "P3": 0, "P4": 0}
    assert buckets[1].counts["P3"] == 1 and buckets[1].total == 1
    assert buckets[23].counts["P0"] == 1
    assert sum(b.total for b in buckets) == 4


def test_hourly_histogram_rounds_the_start_down_to_the_hour() -> None:
    start = T0 + timedelta(minutes=30)
    facts = [
        incident(priority="P2", opened=T0 + timedelta(minutes=10), number=1),  # before start
        incident(priority="P2", opened=T0 + timedelta(minutes=40), number=2),
    ]
    buckets = hourly_histogram(facts, start, start + timedelta(hours=2))
    assert [b.start for b in buckets] == [T0 + timedelta(hours=h) for h in range(3)]
    assert [b.total for b in buckets] == [1, 0, 0]


def test_hourly_histogram_of_local_days_across_dst() -> None:
    def local_midnight(y: int, m: int, d: int) -> datetime:
        return datetime(y, m, d, tzinfo=LONDON)

    spring = hourly_histogram(
        [], local_midnight(2026, 3, 29), local_midnight(2026, 3, 30), zone=LONDON
    )
    assert len(spring) == 23
    assert [b.local_start.hour for b in spring[:3]] == [0, 2, 3]  # 01:00 does not exist
    autumn_facts = [
        incident(opened=utc(2026, 10, 25, 0, 30), number=1),  # 01:30 BST
        incident(opened=utc(2026, 10, 25, 1, 30), number=2, priority="P4"),  # 01:30 GMT
    ]
    autumn = hourly_histogram(
        autumn_facts, local_midnight(2026, 10, 25), local_midnight(2026, 10, 26), zone=LONDON
    )
    assert len(autumn) == 25
    assert [b.local_start.hour for b in autumn[:4]] == [0, 1, 1, 2]  # 01:00 twice
    assert [b.total for b in autumn[:4]] == [0, 1, 1, 0]
    assert autumn[2].counts["P4"] == 1


def test_hourly_histogram_bounds_are_checked() -> None:
    with pytest.raises(ValueError):
        hourly_histogram([], T0, T0)
    with pytest.raises(ValueError):
        hourly_histogram([], T0, T0 + timedelta(days=400))
    with pytest.raises(ValueError):
        hourly_histogram([], datetime(2026, 1, 1), T0)


# --- Prometheus ---------------------------------------------------------------------------


def test_prometheus_samples() -> None:
    groups = summarize(crafted(), ["priority", "ward"])
    samples = prometheus_samples(groups)
    by_key = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in samples}

    def value(name: str, **labels: str) -> float | None:
        return by_key.get((name, tuple(sorted(labels.items()))))

    assert value("healthguard_incidents", priority="P1", ward="4B") == 2
    assert value("healthguard_incidents_open", priority="P1", ward="ICU") == 1
    assert value("healthguard_incidents_unacknowledged", priority="P1", ward="ICU") == 1
    assert value("healthguard_incidents_false_alarm_ratio", priority="P1", ward="4B") == 0.5
    assert value("healthguard_incidents_escalations", priority="P1", ward="4B") == 3
    assert (
        value(
            "healthguard_incident_time_to_acknowledge_seconds",
            priority="P1",
            ward="4B",
            quantile="0.5",
        )
        == 60
    )
    assert (
        value(
            "healthguard_incident_time_to_acknowledge_seconds",
            priority="P1",
            ward="4B",
            quantile="0.99",
        )
        == 120
    )
    assert (
        value("healthguard_incident_time_to_resolve_seconds_sum", priority="P1", ward="4B") == 1800
    )
    assert (
        value("healthguard_incident_time_to_resolve_seconds_count", priority="P1", ward="4B") == 2
    )
    assert value("healthguard_incidents", priority="P0", ward="") == 1  # no ward: ""
    # Nothing acknowledged in P1/ICU: no quantile samples, a count of 0, no None anywhere.
    assert value("healthguard_incidents_false_alarm_ratio", priority="P1", ward="ICU") is None
    assert (
        value(
            "healthguard_incident_time_to_acknowledge_seconds",
            priority="P1",
            ward="ICU",
            quantile="0.5",
        )
        is None
    )
    assert (
        value("healthguard_incident_time_to_acknowledge_seconds_count", priority="P1", ward="ICU")
        == 0
    )
    assert all(isinstance(s, Sample) and isinstance(s.value, float) for s in samples)
    assert prometheus_samples([], namespace="x") == []
    (whole,) = summarize(crafted())
    assert prometheus_samples([whole], namespace="hg")[0] == Sample("hg_incidents", {}, 5.0)


# --- properties -----------------------------------------------------------------------------

durations = st.lists(
    st.floats(min_value=0, max_value=7 * 24 * 3600, allow_nan=False, allow_infinity=False)
    | st.integers(min_value=0, max_value=10**6),
    min_size=1,
    max_size=300,
)


@settings(max_examples=300)
@given(durations)
def test_percentiles_are_ordered_observed_values(values: list[float]) -> None:
    s = duration_stats(values)
    assert s.p50 is not None and s.p90 is not None and s.p95 is not None and s.p99 is not None
    assert s.min is not None and s.max is not None and s.mean is not None
    assert s.min <= s.p50 <= s.p90 <= s.p95 <= s.p99 <= s.max
    assert (s.min, s.max) == (min(values), max(values))
    for p in (s.p50, s.p90, s.p95, s.p99):
        assert p in values
    assert s.min - 1e-6 <= s.mean <= s.max + 1e-6
    assert s.n == len(values)


@settings(max_examples=150)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["P0", "P1", "P2"]),
            st.sampled_from(["4B", "ICU", None]),
            st.integers(min_value=0, max_value=14 * 24 * 3600),  # opened, seconds after T0
            st.lists(
                st.tuples(
                    st.integers(min_value=0, max_value=7200),
                    st.sampled_from(
                        ["acknowledged", "started", "escalated", "resolved", "reopened", "note"]
                    ),
                    st.sampled_from([ANA, BEN]),
                ),
                max_size=8,
            ),
        ),
        max_size=25,
    ),
    st.lists(st.sampled_from(DIMENSIONS), unique=True, max_size=4),
)
def test_groups_partition_the_incidents(
    raw: list[tuple[str, str | None, int, list[tuple[int, str, str]]]],
    group_by: list[Dimension],
) -> None:
    facts = [
        incident(
            [(s, kind, actor, {"reason": "false_alarm"}) for s, kind, actor in events],
            priority=priority,
            ward=ward,
            opened=at(opened),
            number=n,
        )
        for n, (priority, ward, opened, events) in enumerate(raw)
    ]
    groups = summarize(facts, group_by, zone=LONDON)
    (whole,) = summarize(facts, zone=LONDON)
    assert sum(g.count for g in groups) == whole.count == len(facts)
    assert sum(g.open for g in groups) == whole.open
    assert sum(g.escalations for g in groups) == whole.escalations
    assert sum(g.time_to_acknowledge.n for g in groups) == whole.time_to_acknowledge.n
    assert len({g.key for g in groups}) == len(groups)
    for g in groups:
        assert g.count > 0 or not group_by  # no dimension: always the one group, maybe empty
        assert g.open + g.resolved == g.count
        assert g.acknowledged + g.unacknowledged == g.count
        assert g.time_to_acknowledge.n == g.acknowledged
        assert g.time_to_resolve.n == g.resolved
        assert g.false_alarms <= g.resolved
        share = g.false_alarm_share
        if g.resolved == 0:
            assert share is None
        else:
            assert share is not None and 0 <= share <= 1
        for stats in (g.time_to_acknowledge, g.time_to_bedside, g.time_to_resolve):
            if stats.n:
                assert stats.min is not None and stats.max is not None
                assert stats.p50 is not None and stats.p99 is not None
                assert 0 <= stats.min <= stats.p50 <= stats.p99 <= stats.max
            else:
                assert stats.p50 is None and stats.mean is None and stats.max is None
