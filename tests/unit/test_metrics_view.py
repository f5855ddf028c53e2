"""The key-metrics panel's figures and words (healthguard.incidents.metrics_view): windows in
the hospital's time zone across DST, hour labels, percentiles passed through from the
metrics service, empty input, and figures Plotly accepts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
import pytest

from healthguard.incidents.metrics import IncidentFacts, summarize
from healthguard.incidents.metrics_view import (
    ChartColours,
    format_duration,
    format_share,
    key_metrics_view,
    metrics_windows,
    response_rows,
)

pytestmark = pytest.mark.unit

LONDON = ZoneInfo("Europe/London")
COLOURS = ChartColours(
    fill={"P0": "#c81e1e", "P1": "#c81e1e", "P2": "#ca8a04", "P3": "#0e7490", "P4": "#0e7490"},
    outline={"P0": "#7f1d1d", "P1": "#7f1d1d", "P2": "#713f12", "P3": "#164e63", "P4": "#164e63"},
)


def incident(
    opened_at: datetime,
    priority: str = "P1",
    *,
    ack_after: float | None = None,
    resolve_after: float | None = None,
    reason: str = "treated",
    escalations: int = 0,
) -> IncidentFacts:
    timeline: list[tuple[datetime, str, str, dict | None]] = []
    if ack_after is not None:
        timeline.append((opened_at + timedelta(seconds=ack_after), "acknowledged", "nurse", {}))
    for i in range(escalations):
        timeline.append((opened_at + timedelta(seconds=1 + i), "escalated", "system", {}))
    if resolve_after is not None:
        at = opened_at + timedelta(seconds=resolve_after)
        timeline.append((at, "resolved", "doctor", {"reason": reason}))
    return IncidentFacts(
        id=str(uuid.uuid4()),
        number=None,
        priority=priority,
        ward_code="CARD",
        opened_at=opened_at,
        timeline=timeline,
    )


# --- windows ------------------------------------------------------------------------------


def test_windows_in_local_time_on_an_ordinary_day() -> None:
    now = datetime(2026, 7, 15, 13, 40, tzinfo=UTC)  # 14:40 BST
    w = metrics_windows(now, LONDON)
    assert w.today_start == datetime(2026, 7, 14, 23, 0, tzinfo=UTC)  # local midnight
    assert w.baseline_start == datetime(2026, 7, 7, 23, 0, tzinfo=UTC)
    assert w.last_24h_start == datetime(2026, 7, 14, 14, 0, tzinfo=UTC)  # 15:00 BST yesterday
    assert w.load_from == w.baseline_start


def test_the_seven_day_baseline_spans_the_dst_change_in_real_hours() -> None:
    # Sunday 25 October 2026 the clocks go back: the previous 7 days hold 7*24+1 hours.
    now = datetime(2026, 10, 28, 12, 0, tzinfo=UTC)  # 12:00 GMT
    w = metrics_windows(now, LONDON)
    assert w.today_start == datetime(2026, 10, 28, 0, 0, tzinfo=UTC)
    assert w.baseline_start == datetime(2026, 10, 20, 23, 0, tzinfo=UTC)  # midnight BST
    assert w.today_start - w.baseline_start == timedelta(hours=7 * 24 + 1)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="now"):
        metrics_windows(datetime(2026, 7, 15, 12, 0), LONDON)


# --- alerts per hour ----------------------------------------------------------------------


def test_alerts_are_bucketed_by_local_hour() -> None:
    now = datetime(2026, 7, 15, 13, 40, tzinfo=UTC)  # 14:40 BST
    facts = [
        incident(datetime(2026, 7, 15, 13, 5, tzinfo=UTC), "P0"),  # 14:05 BST
        incident(datetime(2026, 7, 15, 13, 30, tzinfo=UTC), "P2"),  # 14:30 BST
        incident(datetime(2026, 7, 15, 8, 59, tzinfo=UTC), "P2"),  # 09:59 BST
        incident(datetime(2026, 7, 14, 13, 59, tzinfo=UTC), "P1"),  # 14:59 BST yesterday: out
    ]
    view = key_metrics_view(facts, now=now, zone=LONDON, colours=COLOURS)
    rows = {r.hour: r for r in view.hour_rows}
    assert len(view.hour_rows) == 24
    assert view.hour_rows[0].hour == "15:00" and view.hour_rows[-1].hour == "14:00"
    assert rows["14:00"].counts == (1, 0, 1, 0, 0) and rows["14:00"].total == 2
    assert rows["09:00"].counts == (0, 0, 1, 0, 0)
    assert view.incidents_24h == 3
    assert view.hourly_summary == (
        "3 alerts in the last 24 h: 1 P0 Cardiac arrest, 2 P2 Urgent. "
        "Busiest hour: 14:00 with 2 alerts."
    )
    bars = {trace["name"]: trace["y"] for trace in view.hourly["data"]}
    assert bars["P0 Cardiac arrest"][-1] == 1 and bars["P2 Urgent"][-1] == 1
    assert view.hourly["layout"]["barmode"] == "stack"
    assert view.hourly["layout"]["xaxis"]["tickvals"] == [
        "15:00",
        "18:00",
        "21:00",
        "00:00",
        "03:00",
        "06:00",
        "09:00",
        "12:00",
    ]


def test_the_repeated_hour_when_the_clocks_go_back_is_two_labelled_bars() -> None:
    now = datetime(2026, 10, 25, 9, 30, tzinfo=UTC)  # 09:30 GMT, the day the clocks go back
    facts = [
        incident(datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "P1"),  # 01:30 BST
        incident(datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "P2"),  # 01:30 GMT, an hour later
    ]
    view = key_metrics_view(facts, now=now, zone=LONDON, colours=COLOURS)
    labels = [r.hour for r in view.hour_rows]
    assert len(labels) == 24 and len(set(labels)) == 24  # 24 real hours, none merged
    assert labels.index("01:00 BST") + 1 == labels.index("01:00 GMT")
    rows = {r.hour: r for r in view.hour_rows}
    assert rows["01:00 BST"].counts == (0, 1, 0, 0, 0)
    assert rows["01:00 GMT"].counts == (0, 0, 1, 0, 0)
    assert view.hourly["data"][0]["x"] == labels


def test_the_missing_hour_when_the_clocks_go_forward() -> None:
    now = datetime(2026, 3, 29, 11, 15, tzinfo=UTC)  # 12:15 BST; 01:00-02:00 GMT never was
    facts = [incident(datetime(2026, 3, 29, 1, 10, tzinfo=UTC), "P3")]  # 02:10 BST
    view = key_metrics_view(facts, now=now, zone=LONDON, colours=COLOURS)
    labels = [r.hour for r in view.hour_rows]
    # 24 real hours span 25 wall-clock hours: yesterday's 12:00 GMT and today's 12:00 BST
    # would read the same, so every label carries its zone.
    assert len(labels) == 24 and len(set(labels)) == 24
    assert (labels[0], labels[-1]) == ("12:00 GMT", "12:00 BST")
    assert labels[labels.index("00:00 GMT") + 1] == "02:00 BST"
    assert {r.hour: r for r in view.hour_rows}["02:00 BST"].counts == (0, 0, 0, 1, 0)


def test_no_incidents_gives_the_empty_words_and_no_invented_numbers() -> None:
    view = key_metrics_view(
        [], now=datetime(2026, 7, 15, 12, tzinfo=UTC), zone=LONDON, colours=COLOURS
    )
    assert view.incidents_24h == 0
    assert view.hourly_summary == "No incidents in the last 24 h."
    assert view.acknowledge_rows == [] and view.resolve_rows == []
    assert view.escalations_today == 0 and view.escalations_per_day == 0
    assert view.false_alarm_share_today is None and view.false_alarm_share_baseline is None
    assert "no incident opened today has been resolved yet" in view.false_alarms_summary
    assert format_share(None) == "no data"


# --- response times -----------------------------------------------------------------------


def test_percentiles_are_passed_through_from_the_metrics_service() -> None:
    now = datetime(2026, 7, 15, 13, 0, tzinfo=UTC)
    today = datetime(2026, 7, 15, 8, 0, tzinfo=UTC)
    last_week = datetime(2026, 7, 10, 8, 0, tzinfo=UTC)
    acks = [30, 60, 90, 120, 600]  # p50 90 s, p90 600 s (nearest rank); mean 180 s
    facts = [incident(today, "P1", ack_after=a, resolve_after=a + 900) for a in acks]
    facts += [incident(last_week, "P1", ack_after=45)]
    facts += [incident(last_week, "P2", ack_after=300, resolve_after=1800)]
    view = key_metrics_view(facts, now=now, zone=LONDON, colours=COLOURS)

    (service,) = [
        g
        for g in summarize(
            facts, ("priority",), opened_from=view.windows.today_start, opened_to=now
        )
        if g.labels["priority"] == "P1"
    ]
    p1, p2 = view.acknowledge_rows
    assert (p1.priority, p1.today_n, p1.today_p50, p1.today_p90) == ("P1", 5, 90.0, 600.0)
    assert (p1.today_p50, p1.today_p90) == (
        service.time_to_acknowledge.p50,
        service.time_to_acknowledge.p90,
    )
    assert (p1.baseline_n, p1.baseline_p50, p1.baseline_p90) == (1, 45.0, 45.0)
    assert (p2.today_n, p2.today_p50, p2.baseline_p50) == (0, None, 300.0)
    assert p1.today_text == "1 min 30 s / 10 min (n=5)"
    assert p2.today_text == "no data"
    assert view.resolve_rows[0].today_p50 == 990.0  # 90 + 900: the median, not the mean

    today_trace, baseline_trace = view.acknowledge["data"]
    assert today_trace["x"] == ["P1 Emergency", "P2 Urgent"]
    assert today_trace["y"] == [1.5, None]  # minutes
    assert today_trace["error_y"]["array"] == [8.5, None]  # whisker up to p90 = 10 min
    assert baseline_trace["y"] == [0.75, 5.0]
    assert today_trace["marker"]["color"] == ["#c81e1e", "#ca8a04"]


def test_response_rows_refuse_an_unknown_duration() -> None:
    with pytest.raises(ValueError, match="duration"):
        response_rows([], [], "time_to_lunch")


# --- escalations and false alarms ---------------------------------------------------------


def test_escalations_today_against_the_daily_average_of_the_previous_week() -> None:
    now = datetime(2026, 7, 15, 13, 0, tzinfo=UTC)
    facts = [
        incident(datetime(2026, 7, 15, 9, 0, tzinfo=UTC), escalations=2),
        incident(datetime(2026, 7, 15, 10, 0, tzinfo=UTC), escalations=1),
        incident(datetime(2026, 7, 9, 10, 0, tzinfo=UTC), escalations=5),
        incident(datetime(2026, 7, 12, 10, 0, tzinfo=UTC), escalations=2),
        incident(datetime(2026, 7, 1, 10, 0, tzinfo=UTC), escalations=9),  # older: out
    ]
    view = key_metrics_view(facts, now=now, zone=LONDON, colours=COLOURS)
    assert view.escalations_today == 3
    assert view.escalations_baseline_total == 7 and view.escalations_per_day == 1.0
    assert view.escalations_summary == (
        "3 escalations today; previous 7 days: 1 a day on average (7 in total)."
    )
    assert view.escalations["data"][0]["y"] == [3, 1.0]


def test_false_alarm_share_today_and_previous_week() -> None:
    now = datetime(2026, 7, 15, 13, 0, tzinfo=UTC)
    today = datetime(2026, 7, 15, 9, 0, tzinfo=UTC)
    facts = [
        incident(today, resolve_after=60, reason="false_alarm"),
        incident(today, resolve_after=60),
        incident(today, resolve_after=60),
        incident(today, resolve_after=60),
        incident(today),  # open: not in the share
        incident(datetime(2026, 7, 11, 9, 0, tzinfo=UTC), resolve_after=60),
    ]
    view = key_metrics_view(facts, now=now, zone=LONDON, colours=COLOURS)
    assert (view.false_alarms_today, view.resolved_today) == (1, 4)
    assert view.false_alarm_share_today == 0.25 and format_share(0.25) == "25%"
    assert view.false_alarm_share_baseline == 0.0
    assert view.false_alarms_summary == (
        "False alarms among resolved incidents: 25% today (1 of 4 resolved incidents); "
        "0% in the previous 7 days (0 of 1 resolved incident)."
    )
    assert view.false_alarms["data"][0]["y"] == [25.0, 0.0]
    # The totals (summed over the priority groups) are the service's ungrouped whole.
    (whole,) = summarize(facts, (), opened_from=view.windows.today_start, opened_to=now)
    assert (whole.false_alarms, whole.resolved, whole.false_alarm_share) == (1, 4, 0.25)


# --- words and figures --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (None, "no data"),
        (0.4, "0 s"),
        (45, "45 s"),
        (200, "3 min 20 s"),
        (720, "12 min"),
        (3900, "1 h 05 min"),
    ],
)
def test_durations_in_words(seconds: float | None, words: str) -> None:
    assert format_duration(seconds) == words


def test_every_figure_is_one_plotly_accepts() -> None:
    now = datetime(2026, 7, 15, 13, 0, tzinfo=UTC)
    facts = [
        incident(datetime(2026, 7, 15, 9, 0, tzinfo=UTC), p, ack_after=60, resolve_after=600)
        for p in ("P0", "P1", "P2", "P3", "P4")
    ]
    view = key_metrics_view(facts, now=now, zone=LONDON, colours=COLOURS)
    for figure in (
        view.hourly,
        view.acknowledge,
        view.resolve,
        view.escalations,
        view.false_alarms,
    ):
        go.Figure(figure)  # raises on an unknown property or a bad value
    patterns = [t["marker"]["pattern"]["shape"] for t in view.hourly["data"]]
    assert patterns[0] != patterns[1] and patterns[3] != patterns[4]  # same colour, told apart


def test_the_grafana_link_is_a_web_address_or_nothing() -> None:
    from pydantic import ValidationError

    from healthguard.settings import Settings

    url = "https://grafana.hospital.org/d/healthguard"
    assert Settings(grafana_url=url).grafana_url == url
    assert not Settings(grafana_url="").grafana_url  # empty: no link
    with pytest.raises(ValidationError, match="grafana_url"):
        Settings(grafana_url="javascript:alert(1)")
