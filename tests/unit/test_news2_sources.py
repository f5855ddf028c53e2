"""NEWS2 from readings of several sources (monitors, gateways, manual entries): sustain is per
source, the freshest source wins, sources reporting together give the MORE abnormal value,
and ties at one instant go to the more abnormal reading, whatever the input order."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthguard.clinical.news2 import (
    News2Input,
    freshest_values,
    news2_from_readings,
    score_news2,
)
from healthguard.clinical.vitals import Reading

pytestmark = pytest.mark.unit

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
PATIENT = uuid.uuid4()
FRESH = timedelta(minutes=15)
SUSTAIN = timedelta(seconds=15)


def _r(
    parameter: str, value: float | None, seconds_ago: float, source: str, text: str | None = None
) -> Reading:
    return Reading(
        PATIENT, parameter, value, text, "", source, NOW - timedelta(seconds=seconds_ago)
    )


def _stream(parameter: str, value: float, start: int, end: int, source: str) -> list[Reading]:
    """One reading a second from `start` to `end` seconds ago (both included)."""
    return [_r(parameter, value, s, source) for s in range(start, end - 1, -1)]


def _hr(readings: list[Reading], sustain: timedelta = SUSTAIN) -> int | None:
    return news2_from_readings(readings, NOW, FRESH, sustain=sustain).subscores["heart_rate"]


# --- the two-source example --------------------------------------------------------------------


def test_a_manual_normal_hr_at_the_same_instant_does_not_hide_the_monitor_tachycardia() -> None:
    monitor = _stream("heart_rate", 130, 30, 0, "monitor")
    manual = [_r("heart_rate", 80, 0, "nurse-spot-check")]
    for readings in (monitor + manual, manual + monitor):  # any arrival order
        assert _hr(readings) == 2  # not 0
        assert _hr(readings, timedelta(0)) == 2  # the tie at NOW goes to the more abnormal
        result = news2_from_readings(readings, NOW, FRESH, sustain=SUSTAIN)
        assert result.values["heart_rate"] == 130


def test_a_second_monitor_reporting_in_the_sustain_window_does_not_lower_the_score() -> None:
    monitor = _stream("heart_rate", 130, 30, 0, "monitor")
    assert _hr([*monitor, _r("heart_rate", 80, 5, "second-monitor")]) == 2
    assert _hr(monitor + _stream("heart_rate", 80, 30, 3, "second-monitor")) == 2
    # The abnormal source may be the one that reports less often.
    normal = _stream("heart_rate", 80, 30, 0, "monitor")
    assert _hr([*normal, _r("heart_rate", 135, 10, "nurse")]) == 3


def test_a_source_superseded_by_a_newer_one_no_longer_counts() -> None:
    # The monitor stopped 20 s ago (more than `sustain`); the nurse's reading now is the value.
    monitor = _stream("heart_rate", 130, 60, 20, "monitor")
    assert _hr([*monitor, _r("heart_rate", 80, 0, "nurse")]) == 0
    # And with sustain 0 the freshest reading wins, from whichever source.
    assert _hr([*monitor, _r("heart_rate", 80, 1, "nurse")], timedelta(0)) == 0


def test_sustain_is_per_source_a_probe_dip_is_still_suppressed() -> None:
    # One probe: 97 % then a 5 s dip to 85 %: the sustained value scores 0.
    probe = _stream("spo2", 97, 30, 6, "monitor") + _stream("spo2", 85, 5, 0, "monitor")
    result = news2_from_readings(probe, NOW, FRESH, sustain=SUSTAIN)
    assert result.subscores["spo2"] == 0
    # A second, normal source changes nothing.
    other = _stream("spo2", 98, 30, 0, "second-monitor")
    result = news2_from_readings(probe + other, NOW, FRESH, sustain=SUSTAIN)
    assert result.subscores["spo2"] == 0
    # But one source's normal readings never dilute another's SUSTAINED desaturation.
    low = _stream("spo2", 85, 30, 0, "monitor")
    result = news2_from_readings(low + other, NOW, FRESH, sustain=SUSTAIN)
    assert result.subscores["spo2"] == 3


def test_another_sources_dip_does_not_shorten_the_sustain_of_a_normal_source() -> None:
    # Each source is sustained on its own readings: source B's 3 s dip is a dip, and A is
    # normal, so nothing scores (the old cross-source minimum agreed; this must stay).
    a = _stream("spo2", 97, 30, 0, "a")
    b = _stream("spo2", 97, 30, 3, "b") + _stream("spo2", 85, 2, 0, "b")
    assert news2_from_readings(a + b, NOW, FRESH, sustain=SUSTAIN).subscores["spo2"] == 0


# --- ties at one instant -------------------------------------------------------------------------


def test_freshest_values_breaks_ties_toward_the_more_abnormal_reading() -> None:
    readings = [
        _r("heart_rate", 80, 0, "b"),
        _r("heart_rate", 130, 0, "a"),
        _r("spo2", 97, 0, "a"),
        _r("spo2", 93, 0, "b"),
        _r("on_oxygen", 0.0, 0, "a"),
        _r("on_oxygen", 1.0, 0, "b"),
        _r("consciousness", None, 0, "a", "A"),
        _r("consciousness", None, 0, "b", "V"),
        _r("resp_rate", 19, 0, "a"),
        _r("resp_rate", 13, 0, "b"),  # same sub-score 0: the farther from 16 wins
    ]
    for order in (readings, list(reversed(readings))):
        fresh = {name: value for name, (_, value) in freshest_values(order, NOW, FRESH).items()}
        assert fresh == {
            "heart_rate": 130,
            "spo2": 93,
            "on_oxygen": True,
            "consciousness": "V",
            "resp_rate": 19,
        }
        result = news2_from_readings(order, NOW, FRESH)
        assert result.subscores["heart_rate"] == 2
        assert result.subscores["spo2"] == 2
        assert result.subscores["on_oxygen"] == 2
        assert result.subscores["consciousness"] == 3


def test_scale_2_ties_rank_with_the_chosen_air_or_oxygen() -> None:
    # On oxygen on Scale 2, 97 % scores 3 and 90 % scores 0: the tie goes to 97.
    readings = [
        _r("spo2", 90, 0, "a"),
        _r("spo2", 97, 0, "b"),
        _r("on_oxygen", 1.0, 60, "nurse"),
    ]
    fresh = freshest_values(readings, NOW, FRESH, spo2_scale=2)
    assert fresh["spo2"][1] == 97
    assert news2_from_readings(readings, NOW, FRESH, 2).subscores["spo2"] == 3


def test_a_single_source_improving_scores_its_newest_value() -> None:
    # Sustain filters brief abnormal values, never a recovery: the least abnormal wins.
    readings = [*_stream("heart_rate", 130, 30, 1, "monitor"), _r("heart_rate", 70, 0, "monitor")]
    assert _hr(readings, timedelta(0)) == 0
    assert _hr(readings) == 0


# --- properties ---------------------------------------------------------------------------------

NAMES = ("heart_rate", "spo2", "resp_rate", "systolic_bp", "temperature_c", "on_oxygen")
SOURCES = ("mon-1", "mon-2", "nurse")
VALUES = {
    "heart_rate": (0.0, 350.0),
    "spo2": (0.0, 100.0),
    "resp_rate": (0.0, 100.0),
    "systolic_bp": (0.0, 300.0),
    "temperature_c": (25.0, 45.0),
    "on_oxygen": (0.0, 1.0),
}

TYPICAL = {
    "heart_rate": (35.0, 45.0, 70.0, 100.0, 120.0, 140.0),
    "spo2": (83.0, 85.0, 87.0, 90.0, 93.0, 95.0, 97.0),
    "resp_rate": (7.0, 10.0, 16.0, 22.0, 30.0),
    "systolic_bp": (85.0, 95.0, 105.0, 150.0, 230.0),
    "temperature_c": (34.5, 35.5, 37.0, 38.5, 39.5),
    "on_oxygen": (0.0, 1.0),
}


@st.composite
def a_reading(draw: st.DrawFn, sources: tuple[str, ...] = SOURCES) -> Reading:
    name = draw(st.sampled_from((*NAMES, "consciousness")))
    source = draw(st.sampled_from(sources))
    # Mostly within 30 s (sources and instants collide), a few after NOW or out of the window.
    seconds_ago = draw(st.integers(-2, 30) | st.sampled_from([-60, 150]))
    if name == "consciousness":
        return _r(name, None, seconds_ago, source, draw(st.sampled_from(["A", "C", "V", "U"])))
    return _r(name, draw(a_value(name)), seconds_ago, source)


def a_value(name: str) -> st.SearchStrategy[float]:
    """Mostly values around the band edges (so that sub-scores differ), sometimes any value."""
    low, high = VALUES[name]
    return st.sampled_from(TYPICAL[name]) | st.floats(
        min_value=low, max_value=high, allow_nan=False
    )


settings_ = settings(max_examples=200, deadline=None)
FRESHNESS = timedelta(seconds=100)
sustains = st.sampled_from([timedelta(0), timedelta(seconds=5), SUSTAIN])


def _freshest_at(readings: list[Reading]) -> dict[str, datetime]:
    """The freshest in-window observed_at of each parameter."""
    out: dict[str, datetime] = {}
    for r in readings:
        if NOW - FRESHNESS <= r.observed_at <= NOW:
            out[r.parameter] = max(out.get(r.parameter, r.observed_at), r.observed_at)
    return out


def _never_lower(before: list[Reading], after: list[Reading], sustain: timedelta) -> None:
    for scale in (1, 2):
        old = news2_from_readings(before, NOW, FRESHNESS, scale, sustain=sustain)
        new = news2_from_readings(after, NOW, FRESHNESS, scale, sustain=sustain)
        assert new.total >= old.total
        for name, score in old.subscores.items():
            if score is not None:
                got = new.subscores[name]
                assert got is not None and got >= score, name


def _new_reading(data: st.DataObject, name: str, when: datetime) -> Reading:
    if name == "consciousness":
        return Reading(PATIENT, name, None, data.draw(st.sampled_from("ACVPU")), "", "new", when)
    return Reading(PATIENT, name, data.draw(a_value(name)), None, "", "new", when)


@settings_
@given(
    st.lists(a_reading(), min_size=1, max_size=15),
    st.lists(a_reading(("new",)), max_size=4),
    st.data(),
    sustains,
)
def test_a_new_source_at_older_instants_never_lowers_the_score(
    existing: list[Reading], anywhere: list[Reading], data: st.DataObject, sustain: timedelta
) -> None:
    freshest = _freshest_at(existing)
    # Readings of the new source older than the freshest reading of their parameter: mostly
    # just before it (inside the sustain window), plus any reading of a parameter not measured.
    older = [
        r for r in anywhere if r.parameter not in freshest or r.observed_at < freshest[r.parameter]
    ]
    for _ in range(data.draw(st.integers(0, 6 if freshest else 0))):
        name = data.draw(st.sampled_from(sorted(freshest)))
        before = timedelta(seconds=data.draw(st.integers(1, 20)))
        older.append(_new_reading(data, name, freshest[name] - before))
    _never_lower(existing, existing + older, sustain)
    _never_lower(existing, older + existing, sustain)


@settings_
@given(
    st.lists(a_reading(), min_size=1, max_size=25),
    st.data(),
    sustains,
)
def test_a_new_source_at_the_freshest_instant_never_lowers_the_score(
    existing: list[Reading], data: st.DataObject, sustain: timedelta
) -> None:
    freshest = _freshest_at(existing)
    if not freshest:
        return
    name = data.draw(st.sampled_from(sorted(freshest)))
    extra = _new_reading(data, name, freshest[name])
    _never_lower(existing, [*existing, extra], sustain)
    _never_lower(existing, [extra, *existing], sustain)


@settings_
@given(st.lists(a_reading(), max_size=30), sustains, st.sampled_from([1, 2]), st.randoms())
def test_the_result_never_depends_on_the_input_order(
    readings: list[Reading], sustain: timedelta, scale: int, rnd: random.Random
) -> None:
    shuffled = list(readings)
    rnd.shuffle(shuffled)
    one = news2_from_readings(readings, NOW, FRESHNESS, scale, sustain=sustain)
    two = news2_from_readings(shuffled, NOW, FRESHNESS, scale, sustain=sustain)
    assert one == two


@settings_
@given(st.lists(a_reading(), max_size=30), st.sampled_from([1, 2]))
def test_sustain_0_scores_exactly_the_freshest_values(readings: list[Reading], scale: int) -> None:
    fresh = {
        n: v for n, (_, v) in freshest_values(readings, NOW, FRESHNESS, spo2_scale=scale).items()
    }

    def number(name: str) -> float | None:
        return None if name not in fresh else float(fresh[name])

    expected = score_news2(
        News2Input(
            resp_rate=number("resp_rate"),
            spo2=number("spo2"),
            spo2_scale=scale,
            on_oxygen=None if "on_oxygen" not in fresh else bool(fresh["on_oxygen"]),
            systolic_bp=number("systolic_bp"),
            heart_rate=number("heart_rate"),
            consciousness=None if "consciousness" not in fresh else str(fresh["consciousness"]),
            temperature_c=number("temperature_c"),
        )
    )
    assert news2_from_readings(readings, NOW, FRESHNESS, scale) == expected


@settings_
@given(st.lists(a_reading(), max_size=30), sustains)
def test_sustained_score_is_never_above_the_exact_one_for_a_single_source(
    readings: list[Reading], sustain: timedelta
) -> None:
    # With one source, sustain only ever LOWERS a sub-score (it is the probe-dip filter).
    single = [
        Reading(r.patient_id, r.parameter, r.value, r.value_text, r.unit, "m", r.observed_at)
        for r in readings
    ]
    exact = news2_from_readings(single, NOW, FRESHNESS)
    held = news2_from_readings(single, NOW, FRESHNESS, sustain=sustain)
    for name, score in held.subscores.items():
        assert (score is None) == (exact.subscores[name] is None)
        if score is not None:
            assert score <= (exact.subscores[name] or 0), name
