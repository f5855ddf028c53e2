"""The kept patient history (healthguard.clinical.history) scores exactly like a fresh load.

The property: readings arriving in any order (late ones included) over several scorings, a
history that only adds what is new and prunes what left the look-back gives the same NEWS2 and
the same findings of every shipped rule as scoring the readings the worker's query would load
at that moment, sorted the classic way."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthguard.clinical.history import PatientHistory
from healthguard.clinical.news2 import news2_from_readings
from healthguard.clinical.rules import PatientWindow, default_rules, evaluate, lookback_for
from healthguard.clinical.vitals import Reading

pytestmark = pytest.mark.unit

PID = uuid.UUID(int=7)
BASE = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
RULES = default_rules(silent_monitor_seconds=120)
SUSTAIN = timedelta(seconds=15)
LOOKBACK = lookback_for(RULES, SUSTAIN)
FRESHNESS = timedelta(hours=1)

VALUES: dict[str, list[float | None]] = {
    "heart_rate": [0, 35, 72, 125, 170, float("nan")],
    "spo2": [75, 84, 89, 95],
    "resp_rate": [0, 4, 16, 26, 40],
    "systolic_bp": [45, 85, 120, 200],
    "temperature_c": [35.0, 37.0, 39.5],
    "on_oxygen": [0, 1],
}
TEXTS = {
    "consciousness": ["A", "V", "U", "?"],
    "rhythm": ["SINUS", "VF", "ASYSTOLE"],
    "technical": ["LEAD_OFF", "PROBE_OFF", "LOW_BATTERY"],
}
SOURCES = ["monitor-1", "monitor-2", "manual"]


@st.composite
def reading(draw: st.DrawFn) -> Reading:
    parameter = draw(st.sampled_from([*VALUES, *TEXTS]))
    # Most readings in the last 25 minutes, some up to 2 h back (older than the look-back and
    # than the NEWS2 freshness window).
    seconds = draw(st.one_of(st.integers(0, 1500), st.integers(0, 7200)))
    at = BASE + timedelta(hours=2) - timedelta(seconds=seconds)
    source = draw(st.sampled_from(SOURCES))
    if parameter in VALUES:
        value, text = draw(st.sampled_from(VALUES[parameter])), None
    else:
        value, text = None, draw(st.sampled_from(TEXTS[parameter]))
    return Reading(PID, parameter, value, text, "", source, at)


@st.composite
def stream(draw: st.DrawFn) -> list[Reading]:
    """A monitor streaming one numeric parameter every second for a while (sustain windows,
    persistence runs and probe dips need dense readings)."""
    parameter = draw(st.sampled_from(["heart_rate", "spo2", "resp_rate"]))
    source = draw(st.sampled_from(SOURCES[:2]))
    end = BASE + timedelta(hours=2) - timedelta(seconds=draw(st.integers(0, 1500)))
    values = draw(st.lists(st.sampled_from(VALUES[parameter]), min_size=1, max_size=40))
    return [
        Reading(PID, parameter, v, None, "", source, end - timedelta(seconds=i))
        for i, v in enumerate(values)
    ]


def fresh_load(received: list[Reading], now: datetime) -> list[Reading]:
    """What workers.triage.load_contexts loads at `now`: the look-back, plus the newest older
    reading of each (parameter, source) within the freshness window; ties kept in arrival
    order (the history keeps readings of one instant in the order they came)."""
    cutoff = now - LOOKBACK
    window = [r for r in received if cutoff <= r.observed_at <= now]
    newest_older: dict[tuple[str, str], Reading] = {}
    for r in received:
        if now - FRESHNESS <= r.observed_at < cutoff:
            key = (r.parameter, r.source)
            if key not in newest_older or r.observed_at > newest_older[key].observed_at:
                newest_older[key] = r
    chosen = {id(r) for r in [*window, *newest_older.values()]}
    return sorted((r for r in received if id(r) in chosen), key=lambda r: r.observed_at)


def window_of(readings: list[Reading], now: datetime, **extra: object) -> PatientWindow:
    news2 = news2_from_readings(readings, now, FRESHNESS, 1, sustain=SUSTAIN)
    return PatientWindow(
        patient_id=PID,
        readings=readings,
        news2_history=[(now - timedelta(hours=1), 1, False)],
        spo2_scale=1,
        now=now,
        monitored=True,
        news2_freshness=FRESHNESS,
        news2_sustain=SUSTAIN,
        news2=news2,
        **extra,  # type: ignore[arg-type]
    )


@settings(max_examples=150, deadline=None)
@given(
    singles=st.lists(reading(), min_size=1, max_size=80),
    streams=st.lists(stream(), max_size=4),
    steps=st.lists(st.integers(0, 1800), min_size=1, max_size=6),
    data=st.data(),
)
def test_kept_history_scores_like_a_fresh_load(
    singles: list[Reading], streams: list[list[Reading]], steps: list[int], data: st.DataObject
) -> None:
    readings = singles + [r for s in streams for r in s]
    # Unique (parameter, source, observed_at), as the database keeps them.
    unique = list({(r.parameter, r.source, r.observed_at): r for r in readings}.values())
    nows = sorted(BASE + timedelta(hours=2, seconds=s) for s in steps)
    history = PatientHistory(PID)
    received: list[Reading] = []
    pending = unique
    for i, now in enumerate(nows):
        due = [r for r in pending if r.observed_at <= now]
        # Arrival order is free (late readings); some due readings wait for a later scoring.
        due = data.draw(st.permutations(due))
        held_back = data.draw(st.integers(0, len(due))) if i < len(nows) - 1 else 0
        arriving, waiting = due[held_back:], due[:held_back]
        pending = [r for r in pending if r.observed_at > now] + waiting
        history.add(arriving)
        received.extend(arriving)
        history.prune(now, LOOKBACK, FRESHNESS)

        expected = fresh_load(received, now)

        def order(r: Reading) -> tuple[datetime, str, str]:
            return (r.observed_at, r.parameter, r.source)

        assert sorted(history.all_readings(), key=order) == sorted(expected, key=order)
        assert history.serves(now)
        news2_input = history.news2_readings(now, FRESHNESS, SUSTAIN)
        last = max((r.observed_at for r in expected), default=None)
        assert history.last_observed_at(now) == last
        kept = window_of(news2_input, now, history=history, last_reading_at=last)
        classic = window_of(expected, now, last_reading_at=last)
        assert kept.news2 == classic.news2
        assert evaluate(RULES, kept) == evaluate(RULES, classic)


def test_a_reading_after_now_makes_the_history_decline_to_serve() -> None:
    history = PatientHistory(PID)
    history.add([Reading(PID, "heart_rate", 80, None, "/min", "m", BASE + timedelta(seconds=5))])
    assert not history.serves(BASE)
    assert history.serves(BASE + timedelta(seconds=5))
    assert history.last_observed_at(BASE) is None


def test_pruning_keeps_the_newest_older_reading_for_news2_only_within_freshness() -> None:
    history = PatientHistory(PID)
    old_bp = Reading(PID, "systolic_bp", 85, None, "mmHg", "manual", BASE)
    older_bp = Reading(PID, "systolic_bp", 120, None, "mmHg", "manual", BASE - timedelta(minutes=5))
    history.add([older_bp, old_bp])
    history.prune(BASE + timedelta(minutes=40), LOOKBACK, FRESHNESS)
    assert history.all_readings() == [old_bp]
    assert history.series["systolic_bp"] == [(BASE, 85)]
    history.prune(BASE + timedelta(minutes=61), LOOKBACK, FRESHNESS)
    assert history.all_readings() == []
    assert "systolic_bp" not in history.series
