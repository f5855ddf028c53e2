"""The NEWS2 sub-score bands of each charted vital sign, derived from the scoring code.

A trend chart shades the value ranges that score 0, 1, 2 and 3. The ranges are not typed a
second time: every value a monitor can send (the plausible range of
healthguard.clinical.vitals.NUMERIC, in the resolution NEWS2 rounds to: whole numbers, and
tenths for temperature) is scored with the very functions of healthguard.clinical.news2, and
neighbouring values with the same sub-score are joined into one band. A band's edges lie
half a step outside its first and last value, which is exactly where rounding half away from
zero moves a reading into the next band (RR 8.5 rounds to 9 and scores 1).

SpO2 depends on the patient's scale and, on Scale 2, on air or oxygen (>= 93 % scores 0 on
air, 1-3 on oxygen); unknown air/oxygen is scored as air, as NEWS2 does. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from healthguard.clinical.news2 import (
    score_heart_rate,
    score_resp_rate,
    score_spo2,
    score_systolic_bp,
    score_temperature,
)
from healthguard.clinical.vitals import NUMERIC, Parameter

# The charted parameters, in NEWS2 Chart 1 order, with the words on screen.
TRENDED: tuple[tuple[str, str, str], ...] = (
    ("resp_rate", "Respiration rate", "/min"),
    ("spo2", "SpO2", "%"),
    ("systolic_bp", "Systolic blood pressure", "mmHg"),
    ("heart_rate", "Pulse", "/min"),
    ("temperature_c", "Temperature", "°C"),
)

# The resolution NEWS2 scores in (healthguard.clinical.news2 rounds before scoring).
_STEP: dict[str, Decimal] = {"temperature_c": Decimal("0.1")}


@dataclass(frozen=True)
class ScoreBand:
    """Readings in [low, high) score ``score`` (the last band of a range includes ``high``)."""

    low: float
    high: float
    score: int


def _scorer(parameter: str, spo2_scale: int, on_oxygen: bool | None) -> Callable[[float], int]:
    scorers: dict[str, Callable[[float], int]] = {
        "resp_rate": score_resp_rate,
        "systolic_bp": score_systolic_bp,
        "heart_rate": score_heart_rate,
        "temperature_c": score_temperature,
        "spo2": lambda v: score_spo2(v, spo2_scale, on_oxygen),
    }
    try:
        return scorers[parameter]
    except KeyError:
        raise ValueError(
            f"parameter: {parameter!r} has no NEWS2 bands; one of {', '.join(scorers)}"
        ) from None


@lru_cache(maxsize=64)
def score_bands(
    parameter: str, *, spo2_scale: int = 1, on_oxygen: bool | None = None
) -> tuple[ScoreBand, ...]:
    """The sub-score bands of `parameter` over its plausible range, lowest values first."""
    if spo2_scale not in (1, 2):
        raise ValueError(f"spo2_scale: must be 1 or 2, got {spo2_scale!r}")
    scorer = _scorer(parameter, spo2_scale, on_oxygen)
    spec = NUMERIC[Parameter(parameter)]
    step = _STEP.get(parameter, Decimal(1))
    low, high = Decimal(repr(float(spec.low))), Decimal(repr(float(spec.high)))
    first = (low / step).to_integral_value(rounding="ROUND_CEILING")
    last = (high / step).to_integral_value(rounding="ROUND_FLOOR")
    half = step / 2
    bands: list[ScoreBand] = []
    start: Decimal | None = None
    previous: Decimal | None = None
    current = -1
    n = first
    while n <= last:
        value = n * step
        score = scorer(float(value))
        if score != current:
            if start is not None and previous is not None:
                bands.append(_band(start, previous + half, current, low, high))
            start, current = value - half, score
        previous = value
        n += 1
    if start is not None and previous is not None:
        bands.append(_band(start, previous + half, current, low, high))
    return tuple(bands)


def _band(start: Decimal, end: Decimal, score: int, low: Decimal, high: Decimal) -> ScoreBand:
    return ScoreBand(low=float(max(start, low)), high=float(min(end, high)), score=score)


def band_of(bands: tuple[ScoreBand, ...], value: float) -> ScoreBand | None:
    """The band a (raw, unrounded) value falls in, or None outside the plausible range."""
    for band in bands:
        if band.low <= value < band.high or (band is bands[-1] and value == band.high):
            return band
    return None
