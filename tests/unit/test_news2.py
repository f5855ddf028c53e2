"""NEWS2 exactly as RCP 2017 Chart 1 (bands, Scale 2, rounding), Charts 3-4 (risk), partial
scores, scoring from stored readings, and the `healthguard news2` line protocol."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from healthguard.clinical.news2 import (
    PARAMETERS,
    News2Input,
    news2_from_readings,
    round_half_away,
    score_consciousness,
    score_heart_rate,
    score_news2,
    score_resp_rate,
    score_spo2,
    score_systolic_bp,
    score_temperature,
)
from healthguard.clinical.news2_cli import run_news2_lines
from healthguard.clinical.vitals import Reading

pytestmark = pytest.mark.unit

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
PATIENT = uuid.uuid4()


# --- the REFERENCE worked examples -------------------------------------------------------------


def test_worked_example_11_high() -> None:
    result = score_news2(
        News2Input(
            resp_rate=22,
            spo2=94,
            spo2_scale=1,
            on_oxygen=True,
            systolic_bp=105,
            heart_rate=45,
            temperature_c=35.5,
            consciousness="C",
        )
    )
    assert result.total == 11
    assert result.risk == "high"
    assert result.red_flag is True
    assert result.partial is False and result.missing == ()
    assert result.subscores == {
        "resp_rate": 2,
        "spo2": 1,
        "on_oxygen": 2,
        "systolic_bp": 1,
        "heart_rate": 1,
        "consciousness": 3,
        "temperature_c": 1,
    }
    assert "critical-care" in result.response
    assert result.monitoring == "continuous monitoring of vital signs"


def test_worked_example_9_high() -> None:
    result = score_news2(
        News2Input(
            resp_rate=24,
            spo2=93,
            on_oxygen=True,
            systolic_bp=105,
            heart_rate=105,
            consciousness="A",
            temperature_c=38.5,
        )
    )
    assert result.total == 9
    assert result.risk == "high"
    assert result.red_flag is False


def test_spo2_90_on_air_scores_3_on_scale_1_and_0_on_scale_2() -> None:
    assert score_spo2(90, 1, on_oxygen=False) == 3
    assert score_spo2(90, 2, on_oxygen=False) == 0
    one = score_news2(News2Input(spo2=90, spo2_scale=1, on_oxygen=False))
    two = score_news2(News2Input(spo2=90, spo2_scale=2, on_oxygen=False))
    assert one.subscores["spo2"] == 3 and two.subscores["spo2"] == 0


def test_hl7_sample_set_scores_9() -> None:
    # REFERENCE.md HL7 ORU^R01 sample, on air and Alert.
    result = score_news2(
        News2Input(
            heart_rate=112,
            spo2=93,
            resp_rate=24,
            systolic_bp=98,
            temperature_c=38.4,
            on_oxygen=False,
            consciousness="A",
        )
    )
    assert result.total == 9
    assert result.subscores == {
        "resp_rate": 2,
        "spo2": 2,
        "on_oxygen": 0,
        "systolic_bp": 2,
        "heart_rate": 2,
        "consciousness": 0,
        "temperature_c": 1,
    }
    assert result.risk == "high"


def test_hl7_sample_from_readings_scores_9() -> None:
    values = {
        "heart_rate": 112,
        "spo2": 93,
        "resp_rate": 24,
        "systolic_bp": 98,
        "diastolic_bp": 60,
        "temperature_c": 38.4,
        "on_oxygen": 0.0,
    }
    readings = [_r(name, v, NOW) for name, v in values.items()]
    readings.append(_r("consciousness", None, NOW, text="A"))
    result = news2_from_readings(readings, NOW, timedelta(minutes=15), spo2_scale=1)
    assert result.total == 9 and not result.partial


# --- Chart 1, every boundary -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rr", "score"),
    [(0, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (60, 3)],
)
def test_resp_rate_bands(rr: float, score: int) -> None:
    assert score_resp_rate(rr) == score


@pytest.mark.parametrize(
    ("spo2", "score"), [(70, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)]
)
def test_spo2_scale_1_bands(spo2: float, score: int) -> None:
    assert score_spo2(spo2, 1, on_oxygen=False) == score
    assert score_spo2(spo2, 1, on_oxygen=True) == score  # oxygen scores on its own row


@pytest.mark.parametrize(
    ("spo2", "on_oxygen", "score"),
    [
        (83, False, 3),
        (84, False, 2),
        (85, True, 2),
        (86, False, 1),
        (87, True, 1),
        (88, True, 0),
        (92, True, 0),
        (93, False, 0),
        (100, False, 0),
        (93, True, 1),
        (94, True, 1),
        (95, True, 2),
        (96, True, 2),
        (97, True, 3),
        (100, True, 3),
        (97, None, 0),  # air/oxygen unknown: the lower bound (partial score)
    ],
)
def test_spo2_scale_2_bands(spo2: float, on_oxygen: bool | None, score: int) -> None:
    assert score_spo2(spo2, 2, on_oxygen=on_oxygen) == score


@pytest.mark.parametrize(
    ("sbp", "score"),
    [(50, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3)],
)
def test_systolic_bands(sbp: float, score: int) -> None:
    assert score_systolic_bp(sbp) == score


@pytest.mark.parametrize(
    ("hr", "score"),
    [
        (0, 3),
        (40, 3),
        (41, 1),
        (50, 1),
        (51, 0),
        (90, 0),
        (91, 1),
        (110, 1),
        (111, 2),
        (130, 2),
        (131, 3),
    ],
)
def test_pulse_bands(hr: float, score: int) -> None:
    assert score_heart_rate(hr) == score


@pytest.mark.parametrize(
    ("temp", "score"),
    [
        (34.0, 3),
        (35.0, 3),
        (35.1, 1),
        (36.0, 1),
        (36.1, 0),
        (38.0, 0),
        (38.1, 1),
        (39.0, 1),
        (39.1, 2),
        (41.0, 2),
    ],
)
def test_temperature_bands(temp: float, score: int) -> None:
    assert score_temperature(temp) == score


@pytest.mark.parametrize(("acvpu", "score"), [("A", 0), ("C", 3), ("V", 3), ("P", 3), ("U", 3)])
def test_consciousness(acvpu: str, score: int) -> None:
    assert score_consciousness(acvpu) == score


def test_on_oxygen_scores_2() -> None:
    assert score_news2(News2Input(on_oxygen=True)).subscores["on_oxygen"] == 2
    assert score_news2(News2Input(on_oxygen=False)).subscores["on_oxygen"] == 0


# --- rounding ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "places", "rounded"),
    [(20.5, 0, 21.0), (20.49, 0, 20.0), (91.5, 0, 92.0), (35.05, 1, 35.1), (36.04, 1, 36.0)],
)
def test_rounding_half_away_from_zero(value: float, places: int, rounded: float) -> None:
    assert round_half_away(value, places) == rounded


def test_rounding_is_applied_before_the_bands() -> None:
    assert score_resp_rate(20.5) == 2  # 21
    assert score_resp_rate(20.4) == 0  # 20
    assert score_spo2(95.5, 1) == 0  # 96
    assert score_spo2(91.4, 1) == 3  # 91
    assert score_systolic_bp(90.5) == 2  # 91
    assert score_heart_rate(90.5) == 1  # 91
    assert score_temperature(35.05) == 1  # 35.1
    assert score_temperature(35.04) == 3  # 35.0
    assert score_temperature(38.04) == 0  # 38.0
    assert score_temperature(38.05) == 1  # 38.1


# --- Charts 3 and 4 ----------------------------------------------------------------------------


def _complete(**changes: object) -> News2Input:
    base: dict[str, object] = {
        "resp_rate": 16,
        "spo2": 98,
        "on_oxygen": False,
        "systolic_bp": 125,
        "heart_rate": 70,
        "consciousness": "A",
        "temperature_c": 37.0,
    }
    base.update(changes)
    return News2Input(**base)  # type: ignore[arg-type]


def test_risk_bands() -> None:
    zero = score_news2(_complete())
    assert (zero.total, zero.risk, zero.monitoring) == (0, "low", "minimum 12-hourly")
    low = score_news2(_complete(heart_rate=100))
    assert (low.total, low.risk, low.monitoring) == (1, "low", "minimum 4-6-hourly")
    red = score_news2(_complete(consciousness="V"))
    assert (red.total, red.risk, red.red_flag) == (3, "low-medium", True)
    assert red.monitoring == "minimum 1-hourly"
    medium = score_news2(_complete(resp_rate=22, heart_rate=115, temperature_c=38.5))
    assert (medium.total, medium.risk) == (5, "medium")
    high = score_news2(_complete(resp_rate=26, spo2=90, heart_rate=115))
    assert (high.total, high.risk) == (8, "high")
    assert high.summary() == "NEWS2 8: RR 26, SpO2 90, HR 115"


def test_a_red_score_within_5_or_more_is_medium_not_low_medium() -> None:
    result = score_news2(_complete(consciousness="U", heart_rate=115))
    assert result.total == 5 and result.red_flag and result.risk == "medium"


# --- partial scores ----------------------------------------------------------------------------


def test_partial_score_is_flagged_and_never_a_confident_low() -> None:
    result = score_news2(News2Input(heart_rate=72, spo2=98))
    assert result.partial is True
    assert result.total == 0 and result.risk == "low"
    assert result.missing == (
        "resp_rate",
        "on_oxygen",
        "systolic_bp",
        "consciousness",
        "temperature_c",
    )
    assert result.subscores["resp_rate"] is None
    assert result.response.startswith("Incomplete score")
    assert result.monitoring.startswith("Incomplete score")
    assert "lower bound" in result.response
    assert "(partial)" in result.summary()


def test_partial_high_is_still_high() -> None:
    result = score_news2(News2Input(resp_rate=30, spo2=85, heart_rate=140))
    assert result.partial and result.total == 9 and result.risk == "high"


def test_answer_has_the_documented_keys() -> None:
    answer = score_news2(_complete()).answer()
    assert set(answer) == {
        "total",
        "subscores",
        "red_flag",
        "risk",
        "monitoring",
        "response",
        "partial",
        "missing",
    }
    assert set(answer["subscores"]) == set(PARAMETERS)
    json.dumps(answer)


def test_bad_inputs_raise_naming_the_field() -> None:
    with pytest.raises(ValueError, match="consciousness"):
        score_news2(News2Input(consciousness="X"))
    with pytest.raises(ValueError, match="spo2_scale"):
        score_news2(News2Input(spo2=95, spo2_scale=3))
    with pytest.raises(ValueError, match="heart_rate"):
        score_news2(News2Input(heart_rate=float("nan")))


# --- from readings -----------------------------------------------------------------------------


def _r(parameter: str, value: float | None, at: datetime, text: str | None = None) -> Reading:
    return Reading(PATIENT, parameter, value, text, "", "mon-1", at)


def test_freshest_value_wins_whatever_the_arrival_order() -> None:
    readings = [
        _r("heart_rate", 140, NOW - timedelta(seconds=10)),  # newest, arrives first
        _r("heart_rate", 70, NOW - timedelta(minutes=5)),  # older, arrives late
    ]
    result = news2_from_readings(readings, NOW, timedelta(minutes=15))
    assert result.subscores["heart_rate"] == 3


def test_readings_outside_the_freshness_window_are_missing() -> None:
    readings = [
        _r("heart_rate", 70, NOW - timedelta(minutes=20)),
        _r("resp_rate", 30, NOW - timedelta(minutes=1)),
        _r("spo2", 80, NOW + timedelta(seconds=30)),  # after `now`: not used
    ]
    result = news2_from_readings(readings, NOW, timedelta(minutes=15))
    assert result.subscores["heart_rate"] is None
    assert result.subscores["spo2"] is None
    assert result.subscores["resp_rate"] == 3
    assert "heart_rate" in result.missing and result.partial


def test_readings_scale_2_and_oxygen() -> None:
    readings = [
        _r("spo2", 97, NOW),
        _r("on_oxygen", 1.0, NOW - timedelta(minutes=2)),
    ]
    two = news2_from_readings(readings, NOW, timedelta(minutes=15), spo2_scale=2)
    assert two.subscores["spo2"] == 3 and two.subscores["on_oxygen"] == 2
    one = news2_from_readings(readings, NOW, timedelta(minutes=15), spo2_scale=1)
    assert one.subscores["spo2"] == 0


# --- healthguard news2 -------------------------------------------------------------------------


def test_cli_answers_one_line_per_line_and_goes_on_after_errors() -> None:
    lines = [
        json.dumps(
            {
                "resp_rate": 24,
                "spo2": 93,
                "on_oxygen": True,
                "systolic_bp": 105,
                "heart_rate": 105,
                "consciousness": "A",
                "temperature_c": 38.5,
            }
        ),
        "not json",
        json.dumps({"spo2": 90, "colour": "blue"}),
        "",
        json.dumps([1, 2]),
        json.dumps({"heart_rate": 900}),
        json.dumps({"spo2": 90, "spo2_scale": 2, "on_oxygen": False}),
    ]
    out = io.StringIO()
    status = run_news2_lines(io.StringIO("\n".join(lines) + "\n"), out)
    answers = [json.loads(line) for line in out.getvalue().splitlines()]
    assert status == 1
    assert len(answers) == 6  # the blank line gets no answer
    assert answers[0]["total"] == 9 and answers[0]["risk"] == "high"
    assert answers[1]["error"]["line"] == 2 and "JSON" in answers[1]["error"]["message"]
    assert answers[2]["error"]["fields"][0]["field"] == "colour"
    assert "object" in answers[3]["error"]["message"]
    assert answers[4]["error"]["fields"][0]["field"] == "heart_rate"
    assert answers[5]["subscores"]["spo2"] == 0 and answers[5]["partial"] is True


def test_cli_all_good_exits_0() -> None:
    out = io.StringIO()
    assert run_news2_lines(io.StringIO('{"spo2": 97}\n'), out) == 0
    assert json.loads(out.getvalue())["total"] == 0


def test_sustain_scores_the_value_held_for_that_long() -> None:
    # SpO2 97 for 20 s, then a 5 s dip to 85: the freshest value scores 3, the sustained 0.
    readings = [_r("spo2", 97, NOW - timedelta(seconds=s)) for s in range(25, 5, -1)]
    readings += [_r("spo2", 85, NOW - timedelta(seconds=s)) for s in range(5, -1, -1)]
    exact = news2_from_readings(readings, NOW, timedelta(minutes=15))
    sustained = news2_from_readings(
        readings, NOW, timedelta(minutes=15), sustain=timedelta(seconds=15)
    )
    assert exact.subscores["spo2"] == 3
    assert sustained.subscores["spo2"] == 0
    # Sustained for 20 s: it scores.
    low = [_r("spo2", 85, NOW - timedelta(seconds=s)) for s in range(20, -1, -1)]
    assert (
        news2_from_readings(
            low, NOW, timedelta(minutes=15), sustain=timedelta(seconds=15)
        ).subscores["spo2"]
        == 3
    )
    # A single manual observation scores exactly its value.
    one = [_r("temperature_c", 39.5, NOW - timedelta(minutes=10))]
    assert (
        news2_from_readings(
            one, NOW, timedelta(minutes=15), sustain=timedelta(seconds=15)
        ).subscores["temperature_c"]
        == 2
    )
