"""The pure parts of the patient page: NEWS2 band shading derived from the scoring code, the
chart windows, the figures, and the alarm-pause rule the page describes."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from healthguard.alarms.pauses import MAX_PAUSE
from healthguard.clinical.news2 import (
    score_heart_rate,
    score_resp_rate,
    score_spo2,
    score_systolic_bp,
    score_temperature,
)
from healthguard.clinical.news2_bands import TRENDED, band_of, score_bands
from healthguard.clinical.rules import Finding
from healthguard.clinical.triage import OpenIncident, PauseState, Suppress, decide
from healthguard.clinical.vitals import NUMERIC, Parameter
from healthguard.patients.detail import (
    WINDOWS,
    News2Point,
    TrendPoint,
    bucket_seconds,
    window_of,
)
from healthguard.ui.components.patient_charts import news2_figure, trend_figure
from healthguard.ui.routes import patient_id_of, patient_path
from healthguard.ui.states.patient_detail import PAUSE_MINUTES

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ZONE = ZoneInfo("Europe/London")

SCORERS = {
    "resp_rate": score_resp_rate,
    "systolic_bp": score_systolic_bp,
    "heart_rate": score_heart_rate,
    "temperature_c": score_temperature,
}
CASES = [(p, 1, None) for p in SCORERS] + [
    ("spo2", 1, None),
    ("spo2", 2, None),
    ("spo2", 2, False),
    ("spo2", 2, True),
]


def scorer(parameter: str, scale: int, on_oxygen: bool | None):  # type: ignore[no-untyped-def]
    if parameter == "spo2":
        return lambda v: score_spo2(v, scale, on_oxygen)
    return SCORERS[parameter]


@pytest.mark.parametrize(("parameter", "scale", "on_oxygen"), CASES)
def test_every_value_is_shaded_with_the_score_the_scoring_code_gives(
    parameter: str, scale: int, on_oxygen: bool | None
) -> None:
    bands = score_bands(parameter, spo2_scale=scale, on_oxygen=on_oxygen)
    spec = NUMERIC[Parameter(parameter)]
    score = scorer(parameter, scale, on_oxygen)
    tenths = parameter == "temperature_c"
    steps = (
        range(int(spec.low * 10), int(spec.high * 10) + 1)
        if tenths
        else range(int(spec.low), int(spec.high) + 1)
    )
    for n in steps:
        value = n / 10 if tenths else float(n)
        band = band_of(bands, value)
        assert band is not None and band.score == score(value), (parameter, value)
    # Contiguous, covering the plausible range, neighbours always differ.
    assert bands[0].low == spec.low and bands[-1].high == spec.high
    for left, right in itertools.pairwise(bands):
        assert left.high == right.low and left.score != right.score


@given(
    case=st.sampled_from(CASES),
    fraction=st.floats(min_value=0, max_value=1, allow_nan=False),
)
def test_unrounded_readings_fall_in_the_band_of_their_rounded_score(
    case: tuple[str, int, bool | None], fraction: float
) -> None:
    parameter, scale, on_oxygen = case
    spec = NUMERIC[Parameter(parameter)]
    value = spec.low + (spec.high - spec.low) * fraction
    band = band_of(score_bands(parameter, spo2_scale=scale, on_oxygen=on_oxygen), value)
    assert band is not None
    assert band.score == scorer(parameter, scale, on_oxygen)(value)


def test_the_known_chart_1_edges_come_out_of_the_derivation() -> None:
    rr = [(b.low, b.high, b.score) for b in score_bands("resp_rate")]
    assert rr == [(0, 8.5, 3), (8.5, 11.5, 1), (11.5, 20.5, 0), (20.5, 24.5, 2), (24.5, 100, 3)]
    scale2_on_o2 = [b.score for b in score_bands("spo2", spo2_scale=2, on_oxygen=True)]
    assert scale2_on_o2 == [3, 2, 1, 0, 1, 2, 3]
    scale2_on_air = [b.score for b in score_bands("spo2", spo2_scale=2, on_oxygen=False)]
    assert scale2_on_air == [3, 2, 1, 0]


def test_bands_refuse_what_news2_does_not_score() -> None:
    with pytest.raises(ValueError, match="parameter"):
        score_bands("diastolic_bp")
    with pytest.raises(ValueError, match="spo2_scale"):
        score_bands("spo2", spo2_scale=3)
    assert {p for p, _, _ in TRENDED} == {
        "resp_rate",
        "spo2",
        "systolic_bp",
        "heart_rate",
        "temperature_c",
    }


def test_windows_and_buckets() -> None:
    assert set(WINDOWS) == {"2h", "12h", "24h"}
    assert bucket_seconds(WINDOWS["2h"]) == 30
    assert bucket_seconds(WINDOWS["24h"]) == 360
    for window in WINDOWS.values():
        assert window.total_seconds() / bucket_seconds(window) <= 240
    assert bucket_seconds(timedelta(minutes=5)) == 10  # never finer than 10 s
    with pytest.raises(ValueError, match="window"):
        window_of("3d")


def test_the_trend_figure_shades_scored_bands_and_names_their_score() -> None:
    points = [
        TrendPoint(NOW - timedelta(minutes=10), 94.0, 90.0, 97.0, 20),
        TrendPoint(NOW - timedelta(minutes=5), 87.0, 87.0, 87.0, 1),
    ]
    bands = score_bands("spo2")
    figure = trend_figure(
        "SpO2", "%", points, bands, since=NOW - timedelta(hours=2), until=NOW, zone=ZONE
    )
    layout = figure.layout
    shaded = {(round(s.y0, 1), round(s.y1, 1)) for s in layout.shapes}
    assert (93.5, 95.5) in shaded and (91.5, 93.5) in shaded  # score 1 and 2 bands
    assert {a.text for a in layout.annotations} >= {"score 0", "score 1", "score 2", "score 3"}
    line = figure.data[-1]
    assert list(line.y) == [94.0, 87.0]
    assert line.x[0] == "2026-11-26 11:50:00"  # hospital local time (GMT in November)
    low, high = layout.yaxis.range
    assert low <= 87 and high >= 100 - 1e-9  # readings and the whole normal band visible


def test_the_news2_figure_marks_partial_scores_and_shades_risk_from_the_code() -> None:
    points = [
        News2Point(NOW - timedelta(minutes=30), 3, False, "low"),
        News2Point(NOW - timedelta(minutes=20), 5, True, "medium"),
        News2Point(NOW - timedelta(minutes=10), 8, False, "high"),
    ]
    figure = news2_figure(points, since=NOW - timedelta(hours=2), until=NOW, zone=ZONE)
    by_name = {trace.name: trace for trace in figure.data}
    assert list(by_name["partial"].y) == [5]
    assert list(by_name["complete"].y) == [3, 8]
    shaded = sorted((s.y0, s.y1) for s in figure.layout.shapes)
    assert shaded[0] == (4.5, 6.5)  # medium: 5-6
    assert shaded[1][0] == 6.5  # high: 7 and more


def finding(priority: str, condition: str = "deterioration") -> Finding:
    return Finding(
        rule_key=f"rule_{priority.lower()}",
        condition=condition,
        priority=priority,
        kind="physiological",
        summary=f"a {priority} finding",
        observed_at=NOW,
        evidence={},
    )


def test_the_pause_the_page_offers_follows_the_triage_rule() -> None:
    """What the page says of a pause ("P1-P4 page nobody, a P0 still alarms") is what triage
    does, and the durations offered never exceed the service's maximum."""
    pause = PauseState(until=NOW + timedelta(minutes=20), reason="Bathing")
    for priority in ("P1", "P2", "P3", "P4"):
        [action] = decide([finding(priority)], {}, {}, pause, NOW)
        assert isinstance(action, Suppress) and "alarms paused: Bathing" in action.reason
    [arrest] = decide([finding("P0", "arrest")], {}, {}, pause, NOW)
    assert isinstance(arrest, OpenIncident)
    [after] = decide([finding("P2")], {}, {}, pause, NOW + timedelta(minutes=21))
    assert isinstance(after, OpenIncident)
    assert PAUSE_MINUTES and max(PAUSE_MINUTES) * 60 <= MAX_PAUSE.total_seconds()
    assert timedelta(hours=2) >= MAX_PAUSE


def test_patient_paths() -> None:
    pid = uuid.uuid4()
    assert patient_path(pid) == f"/patients/{pid}"
    assert patient_id_of(patient_path(pid)) == str(pid)
    assert patient_id_of(f"/patients/{pid}/?x=1") == str(pid)
    assert patient_id_of("/incidents/abc") == ""
