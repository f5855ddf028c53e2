"""NEWS2 (Royal College of Physicians, 2017), exactly as Charts 1, 3 and 4. Pure: no I/O, no
clock of its own (``news2_from_readings`` takes ``now``).

Rounding (Chart 1 bands are whole numbers, temperature tenths): before scoring, respiration
rate, SpO2, systolic BP and pulse are rounded to whole numbers and temperature to 0.1 C, half
away from zero (20.5 -> 21, 35.05 -> 35.1). Rounding works on the shortest decimal text of the
value (``repr``), so 35.05 is 35.05 and not the binary 35.04999...

Partial scores: a parameter that was not measured scores nothing and is named in ``missing``;
``partial`` is then true. Because every missing sub-score is >= 0, a partial total is a LOWER
BOUND of the real one: the risk band is computed from what is present (a partial 7 is certainly
high), but a partial score is never a confident low one: ``monitoring`` and ``response`` then
start with "Incomplete score" and ask for the missing observations now. Without ``on_oxygen``
the air/oxygen row is missing and SpO2 Scale 2 values >= 93 % score as on air (0), again the
lower bound.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from healthguard.clinical.vitals import ACVPU, NUMERIC, Parameter, Reading

Risk = Literal["low", "low-medium", "medium", "high"]

# The scored parameters, in Chart 1 order: also the keys of `subscores` and `missing`.
PARAMETERS: tuple[str, ...] = (
    "resp_rate",
    "spo2",
    "on_oxygen",
    "systolic_bp",
    "heart_rate",
    "consciousness",
    "temperature_c",
)

LABELS: dict[str, str] = {
    "resp_rate": "RR",
    "spo2": "SpO2",
    "on_oxygen": "O2",
    "systolic_bp": "SBP",
    "heart_rate": "HR",
    "consciousness": "ACVPU",
    "temperature_c": "Temp",
}

MONITORING: dict[str, str] = {
    "zero": "minimum 12-hourly",
    "low": "minimum 4-6-hourly",
    "low-medium": "minimum 1-hourly",
    "medium": "minimum 1-hourly",
    "high": "continuous monitoring of vital signs",
}
RESPONSE: dict[str, str] = {
    "zero": "Continue routine NEWS2 monitoring.",
    "low": (
        "Inform the registered nurse, who must assess the patient and decide whether "
        "increased frequency of monitoring or escalation of care is required."
    ),
    "low-medium": (
        "Red score: the registered nurse informs the medical team caring for the patient, "
        "who will review and decide whether escalation of care is necessary (urgent "
        "ward-based response)."
    ),
    "medium": (
        "Urgent response: the registered nurse immediately informs the medical team; urgent "
        "assessment by a clinician or team with core competencies in the care of acutely ill "
        "patients; provide clinical care in an environment with monitoring facilities."
    ),
    "high": (
        "Emergency response: the registered nurse immediately informs the medical team (at "
        "least specialist registrar level); emergency assessment by a team with critical-care "
        "competencies, including airway management; consider transfer to HDU/ICU."
    ),
}


@dataclass(frozen=True)
class News2Input:
    """One set of observations; any parameter may be missing (None)."""

    resp_rate: float | None = None
    spo2: float | None = None
    spo2_scale: int = 1
    on_oxygen: bool | None = None
    systolic_bp: float | None = None
    heart_rate: float | None = None
    consciousness: str | None = None
    temperature_c: float | None = None


@dataclass(frozen=True)
class News2Result:
    total: int
    subscores: dict[str, int | None]  # every key of PARAMETERS; None = not measured
    red_flag: bool
    risk: Risk
    monitoring: str
    response: str
    partial: bool
    missing: tuple[str, ...]
    values: dict[str, float | str | bool | None] = field(default_factory=dict)  # as scored

    def answer(self) -> dict[str, Any]:
        """The JSON answer of POST /api/v1/news2 and `healthguard news2`."""
        return {
            "total": self.total,
            "subscores": dict(self.subscores),
            "red_flag": self.red_flag,
            "risk": self.risk,
            "monitoring": self.monitoring,
            "response": self.response,
            "partial": self.partial,
            "missing": list(self.missing),
        }

    def summary(self) -> str:
        """Nurse words: "NEWS2 8: RR 26, SpO2 90" (the parameters that score)."""
        parts = [
            "on O2" if name == "on_oxygen" else f"{LABELS[name]} {_show(self.values.get(name))}"
            for name in PARAMETERS
            if (self.subscores.get(name) or 0) > 0
        ]
        text = f"NEWS2 {self.total}"
        if self.partial:
            text += " (partial)"
        return text + (": " + ", ".join(parts) if parts else "")


def _show(value: float | str | bool | None) -> str:
    if isinstance(value, bool):
        return "on oxygen" if value else "air"
    if isinstance(value, float):
        return f"{value:g}"
    return "?" if value is None else str(value)


# --- rounding ----------------------------------------------------------------------------


def round_half_away(value: float, places: int = 0) -> float:
    """Round half away from zero on the value's shortest decimal text (documented above)."""
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    return _round_half_away(float(value), places)


@lru_cache(maxsize=8192)
def _round_half_away(value: float, places: int) -> float:
    # Cached: monitors repeat the same few hundred values, and Decimal is slow on the hot path
    # (a third of the scoring time in the profile).
    quantum = Decimal(1).scaleb(-places)
    return float(Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP))


# --- Chart 1 -------------------------------------------------------------------------------


def score_resp_rate(rr: float) -> int:
    rr = round_half_away(rr)
    if rr <= 8:
        return 3
    if rr <= 11:
        return 1
    if rr <= 20:
        return 0
    if rr <= 24:
        return 2
    return 3


def score_spo2(spo2: float, scale: int = 1, on_oxygen: bool | None = None) -> int:
    spo2 = round_half_away(spo2)
    if scale == 1:
        if spo2 <= 91:
            return 3
        if spo2 <= 93:
            return 2
        if spo2 <= 95:
            return 1
        return 0
    if scale != 2:
        raise ValueError(f"spo2_scale must be 1 or 2, got {scale!r}")
    if spo2 <= 83:
        return 3
    if spo2 <= 85:
        return 2
    if spo2 <= 87:
        return 1
    if spo2 <= 92 or not on_oxygen:  # 88-92, or >= 93 on air (or air/oxygen unknown)
        return 0
    if spo2 <= 94:
        return 1
    if spo2 <= 96:
        return 2
    return 3


def score_on_oxygen(on_oxygen: bool) -> int:
    return 2 if on_oxygen else 0


def score_systolic_bp(sbp: float) -> int:
    sbp = round_half_away(sbp)
    if sbp <= 90:
        return 3
    if sbp <= 100:
        return 2
    if sbp <= 110:
        return 1
    if sbp <= 219:
        return 0
    return 3


def score_heart_rate(hr: float) -> int:
    hr = round_half_away(hr)
    if hr <= 40:
        return 3
    if hr <= 50:
        return 1
    if hr <= 90:
        return 0
    if hr <= 110:
        return 1
    if hr <= 130:
        return 2
    return 3


def score_consciousness(acvpu: str) -> int:
    value = acvpu.strip().upper()
    if value not in ACVPU:
        raise ValueError(f"consciousness must be one of {', '.join(ACVPU)}, got {acvpu!r}")
    return 0 if value == "A" else 3


def score_temperature(temp_c: float) -> int:
    t = round_half_away(temp_c, 1)
    if t <= 35.0:
        return 3
    if t <= 36.0:
        return 1
    if t <= 38.0:
        return 0
    if t <= 39.0:
        return 1
    return 2


# --- Charts 3 and 4 --------------------------------------------------------------------------


def risk_of(total: int, red_flag: bool) -> Risk:
    if total >= 7:
        return "high"
    if total >= 5:
        return "medium"
    if red_flag:
        return "low-medium"
    return "low"


def score_news2(inp: News2Input) -> News2Result:
    """Sub-scores, total, red flag, risk, monitoring and response (see the module doc).

    Raises ValueError naming the parameter for a non-finite number, an unknown ACVPU letter
    or a scale other than 1 or 2; never for any finite number."""
    if inp.spo2_scale not in (1, 2):
        raise ValueError(f"spo2_scale must be 1 or 2, got {inp.spo2_scale!r}")
    values: dict[str, float | str | bool | None] = {}
    subscores: dict[str, int | None] = {}
    numeric = {
        "resp_rate": (inp.resp_rate, score_resp_rate, 0),
        "systolic_bp": (inp.systolic_bp, score_systolic_bp, 0),
        "heart_rate": (inp.heart_rate, score_heart_rate, 0),
        "temperature_c": (inp.temperature_c, score_temperature, 1),
    }
    for name in PARAMETERS:
        if name in numeric:
            raw, scorer, places = numeric[name]
            if raw is None:
                subscores[name], values[name] = None, None
                continue
            _check_number(name, raw)
            subscores[name] = scorer(raw)
            values[name] = round_half_away(raw, places)
        elif name == "spo2":
            if inp.spo2 is None:
                subscores[name], values[name] = None, None
                continue
            _check_number(name, inp.spo2)
            subscores[name] = score_spo2(inp.spo2, inp.spo2_scale, inp.on_oxygen)
            values[name] = round_half_away(inp.spo2)
        elif name == "on_oxygen":
            subscores[name] = None if inp.on_oxygen is None else score_on_oxygen(inp.on_oxygen)
            values[name] = inp.on_oxygen
        else:  # consciousness
            if inp.consciousness is None:
                subscores[name], values[name] = None, None
                continue
            subscores[name] = score_consciousness(inp.consciousness)
            values[name] = inp.consciousness.strip().upper()
    present = [s for s in subscores.values() if s is not None]
    total = sum(present)
    red_flag = any(s == 3 for s in present)
    risk = risk_of(total, red_flag)
    missing = tuple(name for name in PARAMETERS if subscores[name] is None)
    band = "zero" if total == 0 and risk == "low" else risk
    monitoring, response = MONITORING[band], RESPONSE[band]
    if missing:
        names = ", ".join(missing)
        lead = (
            f"Incomplete score: {names} not measured, so the total {total} is a lower bound. "
            "Measure the missing parameters now."
        )
        response = f"{lead} Until then: {response}"
        monitoring = f"Incomplete score: measure {names} now; then {monitoring}"
    return News2Result(
        total=total,
        subscores=subscores,
        red_flag=red_flag,
        risk=risk,
        monitoring=monitoring,
        response=response,
        partial=bool(missing),
        missing=missing,
        values=values,
    )


def _check_number(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


# --- from stored readings -------------------------------------------------------------------

_NUMERIC_READING = {
    Parameter.RESP_RATE.value: "resp_rate",
    Parameter.SPO2.value: "spo2",
    Parameter.SYSTOLIC_BP.value: "systolic_bp",
    Parameter.HEART_RATE.value: "heart_rate",
    Parameter.TEMPERATURE_C.value: "temperature_c",
}


NEWS2_READING_PARAMETERS = frozenset(
    {*_NUMERIC_READING, Parameter.ON_OXYGEN.value, Parameter.CONSCIOUSNESS.value}
)


def _usable(reading: Reading) -> float | str | bool | None:
    """The value a NEWS2 parameter reading scores with, or None when it cannot be scored."""
    name = reading.parameter
    if name in _NUMERIC_READING:
        if reading.value is not None and math.isfinite(reading.value):
            return reading.value
    elif name == Parameter.ON_OXYGEN.value:
        if reading.value is not None:
            return reading.value >= 0.5
    elif name == Parameter.CONSCIOUSNESS.value:
        text = (reading.value_text or "").strip().upper()
        if text in ACVPU:
            return text
    return None


usable_value = _usable


# The middle of each numeric parameter's 0 band: among readings of the same sub-score, the one
# farther from it is the more abnormal (only a tie-break, so that choices are deterministic).
_NORMAL_MIDDLE: dict[str, float] = {
    "resp_rate": 16.0,
    "systolic_bp": 165.0,
    "heart_rate": 70.5,
    "temperature_c": 37.05,
}

_SCORERS = {
    "resp_rate": score_resp_rate,
    "systolic_bp": score_systolic_bp,
    "heart_rate": score_heart_rate,
    "temperature_c": score_temperature,
}


_Rank = tuple[int, float, float, str, str]


def _rank(
    reading: Reading,
    value: float | str | bool,
    spo2_scale: int,
    on_oxygen: bool | None,
) -> _Rank:
    """How abnormal one reading is, as a total order within its parameter: the sub-score, then
    the distance from the normal band (on oxygen over air; ACVPU order), then the value and
    the source, so that the choice never depends on the order of the input."""
    name = reading.parameter
    if name == Parameter.ON_OXYGEN.value:
        return (score_on_oxygen(bool(value)), float(bool(value)), 0.0, reading.source, "")
    if name == Parameter.CONSCIOUSNESS.value:
        text = str(value)
        return (score_consciousness(text), float(ACVPU.index(text)), 0.0, reading.source, "")
    number = float(value)
    if name == "spo2":
        score = score_spo2(number, spo2_scale, on_oxygen)
        middle = 100.0 if spo2_scale == 1 else 90.0
    else:
        score = _SCORERS[name](number)
        middle = _NORMAL_MIDDLE[name]
    return (score, abs(number - middle), number, reading.source, reading.unit)


_Usable = dict[str, list[tuple[Reading, float | str | bool]]]


def _usable_by_parameter(
    readings: Iterable[Reading], now: datetime, freshness: timedelta
) -> _Usable:
    """The scorable readings observed in [now - freshness, now], by parameter."""
    since = now - freshness
    out: _Usable = {}
    for reading in readings:
        if not since <= reading.observed_at <= now:
            continue
        value = _usable(reading)
        if value is not None:
            out.setdefault(reading.parameter, []).append((reading, value))
    return out


def freshest_values(
    readings: Iterable[Reading],
    now: datetime,
    freshness: timedelta,
    *,
    spo2_scale: int = 1,
) -> dict[str, tuple[Reading, float | str | bool]]:
    """The freshest usable reading of each NEWS2 parameter observed in [now - freshness, now].

    Readings may arrive in any order: the choice is by observed_at. Several readings of a
    parameter at the same newest observed_at (two sources, or one gateway sending the ECG
    heart rate and the pulse-oximeter pulse rate) are a tie broken toward the MORE ABNORMAL
    reading: the higher sub-score (SpO2 on `spo2_scale`, with the air/oxygen chosen here; on
    oxygen beats air; C/V/P/U beat A), then the value farther from the middle of the normal
    band, then the value and the source, so the answer never depends on the order of the
    input. Readings observed after `now` are not used."""
    return _freshest(_usable_by_parameter(readings, now, freshness), spo2_scale)


def _freshest(usable: _Usable, spo2_scale: int) -> dict[str, tuple[Reading, float | str | bool]]:
    best: dict[str, tuple[Reading, float | str | bool]] = {}
    on_oxygen: bool | None = None
    # Air/oxygen first: it decides how a Scale 2 SpO2 ranks.
    order = [Parameter.ON_OXYGEN.value, *(n for n in usable if n != Parameter.ON_OXYGEN.value)]
    for name in order:
        items = usable.get(name)
        if not items:
            continue
        newest = max(r.observed_at for r, _ in items)
        best[name] = max(
            ((r, v) for r, v in items if r.observed_at == newest),
            key=lambda item: _rank(item[0], item[1], spo2_scale, on_oxygen),
        )
        if name == Parameter.ON_OXYGEN.value:
            on_oxygen = bool(best[name][1])
    return best


def news2_from_readings(
    readings: Iterable[Reading],
    now: datetime,
    freshness: timedelta,
    spo2_scale: int = 1,
    *,
    sustain: timedelta = timedelta(0),
) -> News2Result:
    """NEWS2 of one patient from the freshest value of each parameter within `freshness`.

    Air/oxygen and ACVPU (manual observations) score their freshest reading
    (`freshest_values`: a tie at the same instant goes to the more abnormal one).

    Each numeric parameter (RR, SpO2, SBP, pulse, temperature) is chosen PER SOURCE (a
    `Reading.source`: a monitor, a gateway, a manual entry), so that one source's normal value
    can never dilute another source's abnormal one:

    1. For each source, its freshest reading of the parameter in [now - freshness, now] is at
       `latest`. With `sustain` > 0 the source's SUSTAINED value is the least abnormal
       (lowest sub-score; the freshest among equals, then the value nearest normal) of ITS
       readings taken in [latest - sustain, latest] (clipped to the freshness window). A 5 s
       SpO2 dip between normal readings thus scores nothing with sustain=15 s, while a
       parameter measured once (a cuff BP, a temperature) scores exactly its one value. With
       `sustain` 0 it is exactly the source's freshest value (several readings of the source
       at that instant: the more abnormal one).
    2. Across sources: let T be the newest `latest` of all sources. Every source whose
       `latest` is in [T - sustain, T] is still reporting (two monitors attached at once,
       or a spot check taken while the monitor streams) and the parameter scores the MOST
       abnormal of their sustained values (highest sub-score; then the freshest source,
       then farther from the middle of the normal band, then value and source name:
       deterministic). A source whose
       freshest reading is older than T - sustain has been superseded by a newer one.
       With `sustain` 0 only the sources reporting at the instant T compete.

    Consequences (tested as properties): adding readings from a new source at an instant
    older than a parameter's freshest reading, or at the same instant, never lowers any
    sub-score or the total; the result never depends on the order of the input."""
    usable = _usable_by_parameter(readings, now, freshness)
    fresh = _freshest(usable, spo2_scale)
    oxygen = fresh.get(Parameter.ON_OXYGEN.value)
    on_oxygen = None if oxygen is None else bool(oxygen[1])
    fresh.update(_per_source(usable, now - freshness, sustain, spo2_scale, on_oxygen))

    def number(name: str) -> float | None:
        got = fresh.get(name)
        return None if got is None else float(got[1])

    consciousness = fresh.get(Parameter.CONSCIOUSNESS.value)
    return score_news2(
        News2Input(
            resp_rate=number("resp_rate"),
            spo2=number("spo2"),
            spo2_scale=spo2_scale,
            on_oxygen=on_oxygen,
            systolic_bp=number("systolic_bp"),
            heart_rate=number("heart_rate"),
            consciousness=None if consciousness is None else str(consciousness[1]),
            temperature_c=number("temperature_c"),
        )
    )


def _per_source(
    usable: _Usable,
    since: datetime,
    sustain: timedelta,
    spo2_scale: int,
    on_oxygen: bool | None,
) -> dict[str, tuple[Reading, float | str | bool]]:
    """The chosen reading of each numeric parameter (rules 1 and 2 of news2_from_readings)."""
    sustain = max(sustain, timedelta(0))
    chosen: dict[str, tuple[Reading, float | str | bool]] = {}
    for name in _NUMERIC_READING.values():
        by_source: dict[str, list[tuple[Reading, float | str | bool]]] = {}
        for item in usable.get(name, []):
            by_source.setdefault(item[0].source, []).append(item)
        if not by_source:
            continue

        def rank(item: tuple[Reading, float | str | bool]) -> _Rank:
            return _rank(item[0], item[1], spo2_scale, on_oxygen)

        held: list[tuple[datetime, _Rank, tuple[Reading, float | str | bool]]] = []
        for items in by_source.values():
            latest = max(r.observed_at for r, _ in items)
            if sustain > timedelta(0):
                # The least abnormal sub-score it held over the window; the freshest among
                # equals (then the value nearest normal).
                start = max(since, latest - sustain)
                ranked = [(rank(it), it) for it in items if start <= it[0].observed_at <= latest]
                _, item = min(
                    ranked,
                    key=lambda ri: (ri[0][0], -ri[1][0].observed_at.timestamp(), ri[0]),
                )
            else:
                # Exactly its freshest value; a tie at that instant goes to the more abnormal.
                item = max((it for it in items if it[0].observed_at == latest), key=rank)
            held.append((latest, rank(item), item))
        newest = max(latest for latest, _, _ in held)
        contenders = [h for h in held if h[0] >= newest - sustain]
        best = max(contenders, key=lambda h: (h[1][0], h[0], h[1]))
        chosen[name] = best[2]
    return chosen


def latest_observed_at(
    readings: Iterable[Reading], now: datetime, freshness: timedelta
) -> datetime | None:
    """observed_at of the freshest reading a NEWS2 score from these readings uses: the
    newest scorable reading in [now - freshness, now] (the newest of the freshest of each
    parameter; one pass, no ranking: this runs on every scoring)."""
    since, newest = now - freshness, None
    for reading in readings:
        t = reading.observed_at
        if (newest is None or t > newest) and since <= t <= now and _usable(reading) is not None:
            newest = t
    return newest


# --- the request body of POST /api/v1/news2 and `healthguard news2` ---------------------------


def _range(parameter: Parameter) -> Any:
    spec = NUMERIC[parameter]
    return Field(
        default=None,
        ge=spec.low,
        le=spec.high,
        strict=True,
        description=f"{spec.label}, {spec.unit} (plausible {spec.low:g}-{spec.high:g})",
    )


class News2Body(BaseModel):
    """Any subset of the NEWS2 parameters (at least one); unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    resp_rate: Annotated[float | None, _range(Parameter.RESP_RATE)] = None
    spo2: Annotated[float | None, _range(Parameter.SPO2)] = None
    spo2_scale: Literal[1, 2] = Field(
        default=1, description="2 only for confirmed hypercapnic respiratory failure"
    )
    on_oxygen: bool | None = Field(default=None, strict=True)
    systolic_bp: Annotated[float | None, _range(Parameter.SYSTOLIC_BP)] = None
    heart_rate: Annotated[float | None, _range(Parameter.HEART_RATE)] = None
    consciousness: Literal["A", "C", "V", "P", "U"] | None = None
    temperature_c: Annotated[float | None, _range(Parameter.TEMPERATURE_C)] = None

    @model_validator(mode="after")
    def _at_least_one(self) -> News2Body:
        if all(getattr(self, name) is None for name in PARAMETERS):
            raise ValueError(f"holds none of the NEWS2 parameters ({', '.join(PARAMETERS)})")
        return self

    def to_input(self) -> News2Input:
        return News2Input(
            resp_rate=self.resp_rate,
            spo2=self.spo2,
            spo2_scale=self.spo2_scale,
            on_oxygen=self.on_oxygen,
            systolic_bp=self.systolic_bp,
            heart_rate=self.heart_rate,
            consciousness=self.consciousness,
            temperature_c=self.temperature_c,
        )
