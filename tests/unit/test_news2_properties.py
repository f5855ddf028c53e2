"""Properties of NEWS2 over every plausible input (hypothesis)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthguard.clinical.news2 import (
    PARAMETERS,
    News2Input,
    freshest_values,
    latest_observed_at,
    news2_from_readings,
    score_heart_rate,
    score_news2,
    score_resp_rate,
    score_spo2,
    score_systolic_bp,
    score_temperature,
)
from healthguard.clinical.vitals import Reading

pytestmark = pytest.mark.unit

RISK_ORDER = ("low", "low-medium", "medium", "high")


def _maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.none() | strategy


def _num(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)


inputs = st.builds(
    News2Input,
    resp_rate=_maybe(_num(0, 100)),
    spo2=_maybe(_num(0, 100)),
    spo2_scale=st.sampled_from([1, 2]),
    on_oxygen=_maybe(st.booleans()),
    systolic_bp=_maybe(_num(0, 300)),
    heart_rate=_maybe(_num(0, 350)),
    consciousness=_maybe(st.sampled_from(["A", "C", "V", "P", "U"])),
    temperature_c=_maybe(_num(25, 45)),
)


@given(inputs)
def test_total_is_the_sum_of_subscores_within_0_and_20(inp: News2Input) -> None:
    result = score_news2(inp)
    present = [s for s in result.subscores.values() if s is not None]
    assert result.total == sum(present)
    assert 0 <= result.total <= 20
    assert set(result.subscores) == set(PARAMETERS)
    assert all(s in (0, 1, 2, 3) for s in present)


@given(inputs)
def test_red_flag_iff_a_subscore_is_3(inp: News2Input) -> None:
    result = score_news2(inp)
    assert result.red_flag == any(s == 3 for s in result.subscores.values())


@given(inputs)
def test_risk_follows_the_total_and_the_red_flag(inp: News2Input) -> None:
    result = score_news2(inp)
    if result.total >= 7:
        assert result.risk == "high"
    elif result.total >= 5:
        assert result.risk == "medium"
    elif result.red_flag:
        assert result.risk == "low-medium"
    else:
        assert result.risk == "low"


@given(inputs)
def test_partial_iff_something_is_missing_and_then_never_confident(inp: News2Input) -> None:
    result = score_news2(inp)
    missing = tuple(n for n in PARAMETERS if getattr(inp, n) is None)
    assert result.missing == missing
    assert result.partial == bool(missing)
    if result.partial:
        assert result.response.startswith("Incomplete score")


@given(inputs)
def test_scale_1_and_2_differ_only_on_spo2(inp: News2Input) -> None:
    one = score_news2(replace(inp, spo2_scale=1))
    two = score_news2(replace(inp, spo2_scale=2))
    for name in PARAMETERS:
        if name != "spo2":
            assert one.subscores[name] == two.subscores[name], name


@given(_num(0, 100), _num(0, 100), st.sampled_from([1, 2]), st.booleans())
def test_spo2_lower_never_scores_less_below_the_target(
    a: float, b: float, scale: int, on_oxygen: bool
) -> None:
    # Below the target range (<= 96 on Scale 1, <= 92 on Scale 2) lower saturation is worse.
    low, high = sorted((a, b))
    top = 96 if scale == 1 else 92
    if high <= top:
        assert score_spo2(low, scale, on_oxygen) >= score_spo2(high, scale, on_oxygen)


@given(_num(0, 350), _num(0, 350))
def test_bands_are_monotonic_away_from_normal(a: float, b: float) -> None:
    # Each band score never decreases moving away from the normal range, on both sides.
    for scorer, normal_low, normal_high in (
        (score_resp_rate, 12, 20),
        (score_systolic_bp, 111, 219),
        (score_heart_rate, 51, 90),
    ):
        low, high = sorted((a, b))
        if high <= normal_high:
            assert scorer(low) >= scorer(high)
        if low >= normal_low:
            assert scorer(high) >= scorer(low)


@given(_num(25, 45), _num(25, 45))
def test_temperature_band_is_monotonic_away_from_normal(a: float, b: float) -> None:
    low, high = sorted((a, b))
    if high <= 38.0:
        assert score_temperature(low) >= score_temperature(high)
    if low >= 36.1:
        assert score_temperature(high) >= score_temperature(low)


@given(inputs, _num(0, 350))
def test_adding_a_parameter_never_lowers_the_total(inp: News2Input, hr: float) -> None:
    # A partial total is a lower bound of the complete one.
    without = score_news2(replace(inp, heart_rate=None))
    with_hr = score_news2(replace(inp, heart_rate=hr))
    assert with_hr.total >= without.total


PATIENT = uuid.uuid4()
NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
NAMES = (
    "heart_rate",
    "spo2",
    "resp_rate",
    "systolic_bp",
    "temperature_c",
    "on_oxygen",
    "consciousness",
    "rhythm",
    "technical",
    "diastolic_bp",
)


@st.composite
def readings(draw: st.DrawFn) -> list[Reading]:
    out = []
    for _ in range(draw(st.integers(0, 30))):
        name = draw(st.sampled_from(NAMES))
        value = draw(st.none() | _num(-10, 400))
        text = draw(st.none() | st.sampled_from(["A", "V", "x", "VF", "LEAD_OFF", ""]))
        at = NOW + timedelta(seconds=draw(st.integers(-7200, 300)))
        out.append(Reading(PATIENT, name, value, text, "", "m", at))
    return out


@settings(max_examples=200)
@given(readings(), st.sampled_from([1, 2]), st.integers(1, 7200))
def test_scoring_from_any_readings_never_raises(
    rs: list[Reading], scale: int, freshness: int
) -> None:
    result = news2_from_readings(rs, NOW, timedelta(seconds=freshness), scale)
    assert 0 <= result.total <= 20
    # The order of arrival does not matter.
    again = news2_from_readings(list(reversed(rs)), NOW, timedelta(seconds=freshness), scale)
    assert again.subscores == result.subscores or _has_ties(rs)


@settings(max_examples=200)
@given(readings(), st.integers(1, 7200))
def test_latest_observed_at_is_the_newest_of_the_freshest_values(
    rs: list[Reading], freshness: int
) -> None:
    """The one-pass `latest_observed_at` (run on every scoring) agrees with its definition."""
    window = timedelta(seconds=freshness)
    fresh = freshest_values(rs, NOW, window)
    expected = max((r.observed_at for r, _ in fresh.values()), default=None)
    assert latest_observed_at(rs, NOW, window) == expected


def _has_ties(rs: list[Reading]) -> bool:
    seen = [(r.parameter, r.observed_at) for r in rs]
    return len(seen) != len(set(seen))
