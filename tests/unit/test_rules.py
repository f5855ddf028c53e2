"""Alarm rules: every default rule fires when it should and not otherwise (persistence above
all: a repeated 5 s dip never fires the 15 s SpO2 rule), validation, and properties."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthguard.clinical.rules import (
    DEFAULT_RULES,
    MIN_LOOKBACK,
    Finding,
    PatientWindow,
    Rule,
    default_rules,
    evaluate,
    lookback_for,
    validate_rule,
)
from healthguard.clinical.vitals import Reading

pytestmark = pytest.mark.unit

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
PATIENT = uuid.uuid4()
RULES = {rule.key: rule for rule in DEFAULT_RULES}


def r(parameter: str, value: float | None, second: float, text: str | None = None) -> Reading:
    return Reading(PATIENT, parameter, value, text, "", "mon-7", T0 + timedelta(seconds=second))


def series(
    parameter: str, values: Iterable[float], start: float = 0, step: float = 1
) -> list[Reading]:
    return [r(parameter, v, start + i * step) for i, v in enumerate(values)]


def window(
    readings: list[Reading],
    now: float | None = None,
    *,
    scale: int = 1,
    history: list[tuple[datetime, int, bool]] | None = None,
    monitored: bool = True,
    last: datetime | None = None,
) -> PatientWindow:
    at = T0 + timedelta(
        seconds=now
        if now is not None
        else max(((x.observed_at - T0).total_seconds() for x in readings), default=0)
    )
    return PatientWindow(
        patient_id=PATIENT,
        readings=sorted(readings, key=lambda x: x.observed_at),
        news2_history=history or [],
        spo2_scale=scale,
        now=at,
        last_reading_at=last
        if last is not None
        else max((x.observed_at for x in readings), default=None),
        monitored=monitored,
    )


def fired(key: str, w: PatientWindow) -> list[Finding]:
    return evaluate([RULES[key]], w)


# --- the default set is valid and covers the issue ---------------------------------------------


def test_default_rules_are_valid_and_unique() -> None:
    for rule in DEFAULT_RULES:
        assert validate_rule(rule) == [], rule.key
    assert len(RULES) == len(DEFAULT_RULES)
    kinds = {rule.kind for rule in DEFAULT_RULES}
    assert kinds == {
        "threshold",
        "rate_of_change",
        "news2",
        "news2_trend",
        "arrest",
        "technical",
        "silent_monitor",
    }
    assert all(r.priority == "P0" for r in DEFAULT_RULES if r.kind == "arrest")
    assert all(
        r.priority == "P4" for r in DEFAULT_RULES if r.kind in ("technical", "silent_monitor")
    )


def test_silent_monitor_minutes_are_configurable() -> None:
    rule = {r.key: r for r in default_rules(silent_monitor_seconds=600)}["silent_monitor"]
    assert rule.params["seconds"] == 600


# --- SpO2 < 90 % for 15 s: persistence ---------------------------------------------------------


def test_spo2_sustained_20_s_dip_fires() -> None:
    readings = series("spo2", [97] * 5 + [88] * 21 + [])  # 88 from t=5 to t=25
    found = fired("spo2_low", window(readings))
    assert len(found) == 1
    f = found[0]
    assert f.priority == "P2" and f.condition == "deterioration" and f.kind == "physiological"
    assert f.evidence["held_seconds"] == 20
    assert f.observed_at == T0 + timedelta(seconds=25)
    assert f.summary.startswith("SpO2 below 90 % for 20 s")
    assert f.evidence["news2"]["subscores"]["spo2"] == 3


def test_spo2_repeated_5_s_dips_never_fire() -> None:
    values: list[float] = []
    for _ in range(10):  # ten cycles: 5 s at 86 %, 10 s at 96 %
        values += [86] * 5 + [96] * 10
    readings = series("spo2", values)
    for now in range(len(values)):  # evaluated after every reading
        visible = [x for x in readings if (x.observed_at - T0).total_seconds() <= now]
        assert fired("spo2_low", window(visible, now)) == []


def test_spo2_dip_of_exactly_15_s_fires_and_14_s_does_not() -> None:
    assert fired("spo2_low", window(series("spo2", [88] * 16)))  # t=0..15: 15 s
    assert not fired("spo2_low", window(series("spo2", [88] * 15)))  # 14 s


def test_spo2_one_normal_reading_restarts_the_run() -> None:
    readings = series("spo2", [88] * 10 + [91] + [88] * 10)
    assert not fired("spo2_low", window(readings))


def test_spo2_rule_does_not_stretch_a_dip_to_now_when_readings_stop() -> None:
    readings = series("spo2", [88] * 5)
    assert not fired("spo2_low", window(readings, now=600))


def test_spo2_rule_on_scale_2_patient_uses_the_scale_2_limit() -> None:
    readings = series("spo2", [88] * 30)  # within a COPD target of 88-92 %
    assert not fired("spo2_low", window(readings, scale=2))
    assert not fired("spo2_low_scale2", window(readings, scale=2))
    low = series("spo2", [82] * 30)
    assert fired("spo2_low_scale2", window(low, scale=2))
    assert not fired("spo2_low_scale2", window(low, scale=1))


def test_rrt_spo2_below_85_needs_5_minutes() -> None:
    four_min = series("spo2", [83] * 25, step=10)  # 240 s
    assert not fired("rrt_spo2_low", window(four_min))
    six_min = series("spo2", [83] * 37, step=10)  # 360 s
    found = fired("rrt_spo2_low", window(six_min))
    assert found and found[0].priority == "P1"


# --- rapid-response thresholds -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "parameter", "bad", "good", "seconds"),
    [
        ("rrt_resp_rate_low", "resp_rate", 4, 6, 60),
        ("rrt_resp_rate_high", "resp_rate", 38, 30, 60),
        ("rrt_heart_rate_low", "heart_rate", 35, 45, 60),
        ("rrt_heart_rate_high", "heart_rate", 125, 115, 300),
        ("rrt_heart_rate_very_high", "heart_rate", 170, 150, 15),
    ],
)
def test_rrt_thresholds(key: str, parameter: str, bad: float, good: float, seconds: int) -> None:
    long_enough = series(parameter, [bad] * (seconds // 5 + 1), step=5)
    assert [f.priority for f in fired(key, window(long_enough))] == ["P1"]
    too_short = series(parameter, [bad] * (seconds // 5), step=5)
    assert not fired(key, window(too_short))
    normal = series(parameter, [good] * (seconds // 5 + 5), step=5)
    assert not fired(key, window(normal))


def test_rrt_systolic_below_90_fires_on_one_cuff_reading() -> None:
    found = fired("rrt_systolic_low", window([r("systolic_bp", 85, 0)]))
    assert found and found[0].summary == "SBP 85 mmHg (below 90)"
    assert not fired("rrt_systolic_low", window([r("systolic_bp", 95, 0)]))


# --- rate of change ----------------------------------------------------------------------------


def test_heart_rate_up_30_within_10_min_fires() -> None:
    readings = series("heart_rate", [80, 82, 85, 95, 105, 112], step=60)
    found = fired("heart_rate_rise", window(readings))
    assert found and found[0].priority == "P3"
    assert found[0].evidence["from"] == 80 and found[0].evidence["to"] == 112
    assert found[0].summary == "HR up 32 /min in 5 min (80 → 112)"


def test_heart_rate_up_30_over_more_than_10_min_does_not_fire() -> None:
    readings = series("heart_rate", [80, 85, 90, 95, 100, 105, 112], step=120)  # 12 min
    # Within the last 10 min the lowest is 85: a rise of 27.
    assert not fired("heart_rate_rise", window(readings))


def test_heart_rate_falling_does_not_fire_the_rise_rule() -> None:
    readings = series("heart_rate", [120, 100, 80], step=60)
    assert not fired("heart_rate_rise", window(readings))


def test_systolic_down_40_within_15_min_fires() -> None:
    readings = series("systolic_bp", [130, 120, 105, 88], step=300)
    found = fired("systolic_drop", window(readings))
    assert found and found[0].priority == "P2"
    assert found[0].evidence["change"] == -42
    assert not fired("systolic_drop", window(series("systolic_bp", [130, 115, 100], step=300)))


# --- NEWS2 bands and trend ---------------------------------------------------------------------


def vitals(at: float, **values: float | str) -> list[Reading]:
    out = []
    for name, value in values.items():
        if name == "consciousness":
            out.append(r(name, None, at, text=str(value)))
        else:
            out.append(r(name, float(value), at))
    return out


NORMAL: dict[str, float | str] = {
    "resp_rate": 16,
    "spo2": 97,
    "on_oxygen": 0,
    "systolic_bp": 125,
    "heart_rate": 70,
    "consciousness": "A",
    "temperature_c": 37.0,
}


def test_news2_emergency_fires_at_7_or_more() -> None:
    w = window(vitals(0, **{**NORMAL, "resp_rate": 26, "spo2": 90, "heart_rate": 115}))
    found = fired("news2_emergency", w)
    assert found and found[0].summary == "NEWS2 8: RR 26, SpO2 90, HR 115"
    assert found[0].priority == "P1"
    assert found[0].evidence["news2"]["total"] == 8
    assert not fired("news2_emergency", window(vitals(0, **{**NORMAL, "resp_rate": 22})))


def test_news2_urgent_fires_at_5() -> None:
    five = vitals(0, **{**NORMAL, "resp_rate": 22, "heart_rate": 115, "temperature_c": 38.5})
    assert fired("news2_urgent", window(five))
    four = vitals(0, **{**NORMAL, "resp_rate": 22, "heart_rate": 115})
    assert not fired("news2_urgent", window(four))


def test_news2_red_score_fires_on_a_single_3() -> None:
    w = window(vitals(0, **{**NORMAL, "consciousness": "V"}))
    found = fired("news2_red_score", w)
    assert found and found[0].summary.startswith("Red score (consciousness)")
    assert not fired("news2_red_score", window(vitals(0, **NORMAL)))


def test_partial_news2_names_itself_partial() -> None:
    w = window(vitals(0, resp_rate=26, spo2=90, heart_rate=135))
    found = fired("news2_emergency", w)
    assert found and "(partial)" in found[0].summary
    assert found[0].evidence["news2"]["partial"] is True


def test_news2_uses_the_freshness_window() -> None:
    old = vitals(0, **{**NORMAL, "resp_rate": 30, "spo2": 85, "heart_rate": 140})
    assert not fired("news2_emergency", window(old, now=2 * 3600))


def test_news2_rising_by_2_within_4_hours() -> None:
    history = [(T0 - timedelta(hours=3), 1, False), (T0 - timedelta(hours=1), 2, False)]
    now_3 = vitals(0, **{**NORMAL, "resp_rate": 22, "heart_rate": 95})  # 3
    found = fired("news2_rising", window(now_3, history=history))
    assert found and found[0].priority == "P3"
    assert found[0].summary.startswith("NEWS2 rising: 1 → 3 in 3 h")
    # Partial scores are never the baseline (they are lower bounds).
    partial_history = [(T0 - timedelta(hours=1), 0, True)]
    assert not fired("news2_rising", window(now_3, history=partial_history))
    # Too old a baseline.
    assert not fired("news2_rising", window(now_3, history=[(T0 - timedelta(hours=5), 0, False)]))


# --- arrest patterns ---------------------------------------------------------------------------


def test_no_pulse_fires_p0_at_once() -> None:
    readings = series("heart_rate", [80] * 10 + [0])
    found = fired("arrest_no_pulse", window(readings))
    assert [f.priority for f in found] == ["P0"]
    assert found[0].condition == "arrest"
    assert not fired("arrest_no_pulse", window(series("heart_rate", [0, 80])))


@pytest.mark.parametrize("rhythm", ["VF", "VT", "ASYSTOLE", "PEA"])
def test_arrest_rhythms_fire_p0(rhythm: str) -> None:
    readings = [r("rhythm", None, 0, "SINUS"), r("rhythm", None, 5, rhythm)]
    found = fired("arrest_rhythm", window(readings))
    assert found and found[0].summary == f"Arrest rhythm alarm: {rhythm}"


def test_a_rhythm_back_to_sinus_does_not_fire() -> None:
    readings = [
        r("rhythm", None, 0, "VF"),
        r("rhythm", None, 5, "SINUS"),
        r("rhythm", None, 6, "AF"),
    ]
    assert not fired("arrest_rhythm", window(readings))


def test_apnoea_rr_0_for_20_s() -> None:
    assert fired("arrest_apnoea", window(series("resp_rate", [14] + [0] * 5, step=5)))  # 20 s
    assert not fired("arrest_apnoea", window(series("resp_rate", [14] + [0] * 4, step=5)))


def test_hypoxic_bradycardia() -> None:
    readings = series("spo2", [75] * 11) + series("heart_rate", [35], start=10)
    found = fired("arrest_hypoxic_bradycardia", window(readings))
    assert found and found[0].priority == "P0"
    # SpO2 low but heart rate normal: not this pattern.
    normal_hr = series("spo2", [75] * 11) + series("heart_rate", [70], start=10)
    assert not fired("arrest_hypoxic_bradycardia", window(normal_hr))
    # Heart rate low but SpO2 dip too short.
    short = series("spo2", [75] * 5) + series("heart_rate", [35], start=4)
    assert not fired("arrest_hypoxic_bradycardia", window(short))


# --- technical and silent monitor --------------------------------------------------------------


def test_technical_alarms_are_p4_one_condition_each() -> None:
    readings = [
        r("technical", None, 0, "LEAD_OFF"),
        r("technical", None, 5, "LOW_BATTERY"),
        r("technical", None, 8, "LEAD_OFF"),
    ]
    found = fired("technical_alarm", window(readings))
    assert [(f.condition, f.priority, f.kind) for f in found] == [
        ("technical:LEAD_OFF", "P4", "technical"),
        ("technical:LOW_BATTERY", "P4", "technical"),
    ]
    assert found[0].observed_at == T0 + timedelta(seconds=8)
    assert "ECG lead off" in found[0].summary
    assert "news2" not in found[0].evidence


def test_old_technical_alarms_are_over() -> None:
    assert not fired("technical_alarm", window([r("technical", None, 0, "PROBE_OFF")], now=600))


def test_silent_monitor() -> None:
    readings = [r("heart_rate", 70, 0)]
    assert not fired("silent_monitor", window(readings, now=299))
    found = fired("silent_monitor", window(readings, now=400))
    assert found and found[0].condition == "silent_monitor" and found[0].priority == "P4"
    # observed_at: when the silence crossed the limit (stable across evaluations).
    assert found[0].observed_at == T0 + timedelta(seconds=300)
    assert fired("silent_monitor", window(readings, now=500))[0].observed_at == found[0].observed_at
    assert not fired("silent_monitor", window(readings, now=400, monitored=False))


def test_silent_monitor_with_no_reading_ever() -> None:
    found = fired("silent_monitor", window([], now=0))
    assert found and found[0].evidence["last_reading_at"] is None


# --- the whole default set on a normal patient -------------------------------------------------


def test_a_stable_patient_raises_nothing() -> None:
    readings: list[Reading] = []
    for second in range(0, 600, 5):
        readings += series("heart_rate", [72], start=second) + series("spo2", [97], start=second)
        readings += series("resp_rate", [15], start=second)
    readings += vitals(0, systolic_bp=125, temperature_c=37.0, consciousness="A", on_oxygen=0)
    assert evaluate(DEFAULT_RULES, window(readings)) == []


def test_disabled_rules_do_not_fire() -> None:
    rule = RULES["arrest_no_pulse"]
    off = Rule(rule.key, rule.name, rule.kind, rule.priority, rule.params, enabled=False)
    assert evaluate([off], window(series("heart_rate", [0]))) == []


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        (Rule("", "x", "threshold", "P2", {"parameter": "spo2", "op": "<", "value": 90}), "key"),
        (
            Rule("k", "x", "threshold", "P9", {"parameter": "spo2", "op": "<", "value": 90}),
            "priority",
        ),
        (Rule("k", "x", "magic", "P2", {}), "kind"),
        (
            Rule("k", "x", "threshold", "P2", {"parameter": "pulse", "op": "<", "value": 90}),
            "params.parameter",
        ),
        (
            Rule("k", "x", "threshold", "P2", {"parameter": "spo2", "op": "!=", "value": 90}),
            "params.op",
        ),
        (Rule("k", "x", "threshold", "P2", {"parameter": "spo2", "op": "<"}), "params.value"),
        (
            Rule(
                "k",
                "x",
                "threshold",
                "P2",
                {"parameter": "spo2", "op": "<", "value": 90, "persist_seconds": -1},
            ),
            "params.persist_seconds",
        ),
        (
            Rule(
                "k",
                "x",
                "threshold",
                "P2",
                {"parameter": "spo2", "op": "<", "value": 90, "persist": 15},
            ),
            "params.persist",
        ),
        (
            Rule(
                "k",
                "x",
                "threshold",
                "P2",
                {"parameter": "spo2", "op": "<", "value": 90, "spo2_scales": [3]},
            ),
            "params.spo2_scales",
        ),
        (
            Rule(
                "k",
                "x",
                "rate_of_change",
                "P2",
                {"parameter": "heart_rate", "delta": 0, "within_seconds": 60},
            ),
            "params.delta",
        ),
        (
            Rule("k", "x", "rate_of_change", "P2", {"parameter": "heart_rate", "delta": 30}),
            "params.within_seconds",
        ),
        (Rule("k", "x", "news2", "P2", {}), "params.min_total"),
        (Rule("k", "x", "news2", "P2", {"min_total": 21}), "params.min_total"),
        (Rule("k", "x", "news2", "P2", {"min_total": 5.5}), "params.min_total"),
        (Rule("k", "x", "news2", "P2", {"red_flag": "yes"}), "params.red_flag"),
        (Rule("k", "x", "news2_trend", "P3", {"within_seconds": 60}), "params.rise"),
        (Rule("k", "x", "arrest", "P0", {"pattern": "faint"}), "params.pattern"),
        (
            Rule("k", "x", "arrest", "P0", {"pattern": "rhythm", "rhythms": ["VX"]}),
            "params.rhythms",
        ),
        (Rule("k", "x", "arrest", "P0", {"pattern": "rhythm", "seconds": 5}), "params.seconds"),
        (Rule("k", "x", "technical", "P4", {"alarms": ["SMOKE"]}), "params.alarms"),
        (Rule("k", "x", "silent_monitor", "P4", {"seconds": 0}), "params.seconds"),
        (Rule("k", "x", "silent_monitor", "P4", {"seconds": True}), "params.seconds"),
    ],
)
def test_validate_rule_names_the_bad_field(rule: Rule, field: str) -> None:
    errors = validate_rule(rule)
    assert field in [e.field for e in errors], errors
    assert all(e.message for e in errors)


# --- properties --------------------------------------------------------------------------------

NAMES = (
    "heart_rate",
    "spo2",
    "resp_rate",
    "systolic_bp",
    "diastolic_bp",
    "temperature_c",
    "on_oxygen",
    "consciousness",
    "rhythm",
    "technical",
    "unknown",
)
TEXTS = ("A", "C", "V", "VF", "VT", "SINUS", "ASYSTOLE", "LEAD_OFF", "PROBE_OFF", "", "junk")


@st.composite
def windows(draw: st.DrawFn) -> PatientWindow:
    readings = []
    for _ in range(draw(st.integers(0, 60))):
        readings.append(
            Reading(
                PATIENT,
                draw(st.sampled_from(NAMES)),
                draw(st.none() | st.floats(-50, 500, allow_nan=False)),
                draw(st.none() | st.sampled_from(TEXTS)),
                "",
                "m",
                T0 + timedelta(seconds=draw(st.integers(-20000, 600))),
            )
        )
    history = [
        (
            T0 + timedelta(seconds=draw(st.integers(-20000, 600))),
            draw(st.integers(0, 20)),
            draw(st.booleans()),
        )
        for _ in range(draw(st.integers(0, 5)))
    ]
    return PatientWindow(
        patient_id=PATIENT,
        readings=readings,  # deliberately unsorted
        news2_history=history,
        spo2_scale=draw(st.sampled_from([1, 2])),
        now=T0 + timedelta(seconds=draw(st.integers(-100, 700))),
        last_reading_at=draw(st.none() | st.just(T0)),
        monitored=draw(st.booleans()),
    )


@settings(max_examples=300, deadline=None)
@given(windows())
def test_rules_never_raise_and_findings_are_well_formed(w: PatientWindow) -> None:
    import json

    for f in evaluate(DEFAULT_RULES, w):
        assert f.priority in ("P0", "P1", "P2", "P3", "P4")
        assert f.kind in ("physiological", "technical")
        assert f.condition and len(f.condition) <= 64
        assert f.summary and len(f.summary) <= 500
        json.dumps(f.evidence)
        if f.kind == "technical" and f.condition != "silent_monitor":
            assert f.observed_at <= w.now


# --- several sources: persistence is per source --------------------------------------------------


def src(
    source: str, parameter: str, values: Iterable[float], start: float = 0, step: float = 1
) -> list[Reading]:
    return [
        Reading(PATIENT, parameter, v, None, "", source, T0 + timedelta(seconds=start + i * step))
        for i, v in enumerate(values)
    ]


def test_a_spot_check_of_another_source_does_not_break_a_sustained_spo2_run() -> None:
    monitor = src("monitor", "spo2", [88] * 21)  # t=0..20
    nurse = src("nurse", "spo2", [97], start=10)  # a normal manual reading in the middle
    found = fired("spo2_low", window(monitor + nurse))
    assert len(found) == 1
    assert found[0].evidence["held_seconds"] == 20
    assert found[0].evidence["sources"] == ["monitor"]
    assert found[0].observed_at == T0 + timedelta(seconds=20)
    # Likewise a second device streaming normal values all along.
    other = src("second-monitor", "spo2", [97] * 21, start=0.5)
    assert fired("spo2_low", window(monitor + other))


def test_a_normal_reading_of_the_same_source_still_restarts_the_run() -> None:
    monitor = src("monitor", "spo2", [88] * 10 + [91] + [88] * 10)
    nurse = src("nurse", "spo2", [88], start=5)
    assert not fired("spo2_low", window(monitor + nurse))


def test_repeated_short_dips_of_two_probes_never_fire() -> None:
    values: list[float] = []
    for _ in range(6):  # 5 s at 86 %, 10 s at 96 %
        values += [86] * 5 + [96] * 10
    a = src("a", "spo2", values)
    b = src("b", "spo2", values, start=7.5)  # out of phase: together they never hold 15 s
    readings = sorted(a + b, key=lambda x: x.observed_at)
    for now in range(len(values) + 8):
        visible = [x for x in readings if (x.observed_at - T0).total_seconds() <= now]
        assert fired("spo2_low", window(visible, now)) == []


def test_a_run_across_two_sources_still_counts_as_before() -> None:
    # The probe moved to another monitor mid-desaturation: all sources together held 16 s.
    readings = src("a", "spo2", [88] * 9) + src("b", "spo2", [88] * 8, start=9)
    found = fired("spo2_low", window(readings))
    assert found and found[0].evidence["sources"] == ["a", "b"]
    assert found[0].evidence["held_seconds"] == 16


def test_rrt_heart_rate_run_is_per_source() -> None:
    monitor = src("monitor", "heart_rate", [170] * 16)
    nurse = src("nurse", "heart_rate", [90], start=8)
    assert fired("rrt_heart_rate_very_high", window(monitor + nurse))


def test_arrest_runs_are_per_source() -> None:
    apnoea = src("monitor", "resp_rate", [0] * 25) + src("nurse", "resp_rate", [16], start=12)
    found = fired("arrest_apnoea", window(apnoea))
    assert found and found[0].evidence["sources"] == ["monitor"]
    no_pulse = src("monitor", "heart_rate", [0] * 3) + src("pleth", "heart_rate", [60], start=1)
    assert fired("arrest_no_pulse", window(no_pulse, now=2))
    # Hypoxic bradycardia: a manual normal pulse after the monitor's HR 35 does not cancel it.
    hypoxic = (
        src("monitor", "spo2", [75] * 13)
        + src("monitor", "heart_rate", [35], start=12)
        + src("nurse", "heart_rate", [80], start=12.5)
        + src("nurse", "spo2", [96], start=6)
    )
    found = fired("arrest_hypoxic_bradycardia", window(hypoxic))
    assert found and found[0].evidence["heart_rate"] == 35
    # Still needs a heart rate below the limit from some source.
    normal = src("monitor", "spo2", [75] * 13) + src("nurse", "heart_rate", [80], start=12)
    assert not fired("arrest_hypoxic_bradycardia", window(normal))


PERSISTENT = [
    key for key, rule in RULES.items() if rule.kind == "threshold" or rule.kind == "arrest"
]


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["spo2", "heart_rate", "resp_rate", "systolic_bp"]),
    st.lists(st.sampled_from([0.0, 30.0, 75.0, 86.0, 88.0, 97.0, 130.0, 170.0]), max_size=40),
    st.lists(
        st.tuples(
            st.sampled_from(["spo2", "heart_rate", "resp_rate", "systolic_bp"]),
            st.sampled_from([0.0, 60.0, 97.0, 16.0, 120.0]),
            st.floats(0, 400, allow_nan=False),
        ),
        max_size=10,
    ),
    st.sampled_from([1, 5]),
)
def test_another_source_never_stops_an_alarm_of_one_source(
    parameter: str,
    values: list[float],
    extra: list[tuple[str, float, float]],
    step: int,
) -> None:
    mine = src("monitor", parameter, values, step=step)
    others = [
        Reading(PATIENT, name, value, None, "", "other", T0 + timedelta(seconds=second))
        for name, value, second in extra
    ]
    now = max(((x.observed_at - T0).total_seconds() for x in mine + others), default=0)
    before = {f.rule_key for f in evaluate(DEFAULT_RULES, window(mine, now))}
    after = {f.rule_key for f in evaluate(DEFAULT_RULES, window(mine + others, now))}
    assert {k for k in before if k in PERSISTENT and k != "arrest_rhythm"} <= after


def test_the_look_back_is_the_longest_enabled_rule_window_plus_tolerances() -> None:
    # The default set's longest window: systolic down 40 within 15 min.
    longest = max(
        float(rule.params.get("within_seconds", 0)) for rule in DEFAULT_RULES
        if rule.kind == "rate_of_change"
    )  # fmt: skip
    assert longest == 900
    assert lookback_for(DEFAULT_RULES) == timedelta(seconds=900 + 60 + 15)
    shorter = [rule for rule in DEFAULT_RULES if rule.kind != "rate_of_change"]
    # then the 5 min persistence of the rapid-response thresholds is the longest
    assert lookback_for(shorter) == timedelta(seconds=300 + 75)
    quick = [rule for rule in shorter if rule.kind in ("arrest", "technical")]
    assert lookback_for(quick) == MIN_LOOKBACK
    spo2 = {"parameter": "spo2", "op": "<", "value": 85}
    long_rule = Rule("x", "x", "threshold", "P2", {**spo2, "persist_seconds": 1800})
    assert lookback_for([*shorter, long_rule]) == timedelta(seconds=1800 + 75)
    disabled = Rule("y", "y", "threshold", "P2", {**spo2, "persist_seconds": 7200}, enabled=False)
    assert lookback_for([*quick, disabled]) == MIN_LOOKBACK
