"""Alarm rules as data, and their evaluation over one patient's recent readings. Pure: no
I/O; the time is `PatientWindow.now`.

A `Rule` is a kind, parameters and a priority (stored by the lead's rules store, edited by
admins, checked with `validate_rule`). `evaluate(rules, window)` returns the `Finding`s of the
rules whose condition holds NOW: a rule keeps firing (with the observed_at of its latest
trigger reading) for as long as its condition holds, and the incident logic
(healthguard.clinical.triage) absorbs the repeats as evidence of one incident.

Kinds and their params (defaults in brackets):

- ``threshold``: parameter, op (< <= > >=), value, persist_seconds [0]. Fires when the latest
  reading of a run meets the limit AND every reading of that run back to its start met it,
  the run spanning at least persist_seconds (first to latest trigger reading). One normal
  reading restarts the run: a 5 s dip repeated every minute never fires a 15 s rule. The
  span is measured between readings, never stretched to `now`, so a monitor that stops
  sending cannot make a dip look sustained. Runs are PER SOURCE (Reading.source: a monitor,
  a gateway, a manual entry): another source's readings never break one source's run (a
  nurse's normal spot check, or a second monitor, in the middle of a monitor's sustained
  desaturation does not hide it). The run of all sources' readings taken together counts
  too, as it always did (a probe moved to another monitor mid-desaturation is still one
  run): any one run that meets the rule fires it. The finding reports the run with the
  latest trigger reading (then the longest); `evidence.sources` names its sources.
  spo2_scales [1, 2]: the rule applies only to patients on those NEWS2 SpO2 scales (a COPD
  patient on Scale 2 with a target of 88-92 % must not alarm at 89 %).
- ``rate_of_change``: parameter, delta (signed: +30 a rise, -40 a fall), within_seconds. Fires
  when the latest reading differs from the lowest (for a rise) or highest (for a fall)
  reading of the previous within_seconds by at least delta.
- ``news2``: min_total and/or red_flag (either met fires). NEWS2 from the freshest value of
  each parameter within `window.news2_freshness`, each streamed parameter scored by the value
  it has sustained for `window.news2_sustain` [15 s] (so a 5 s probe dip is no red score);
  a partial total is a lower bound, so a partial score that reaches min_total is a true
  trigger.
- ``news2_trend``: rise, within_seconds, min_total [none]. The current NEWS2 minus the lowest
  COMPLETE score of `news2_history` in the previous within_seconds (partial scores are lower
  bounds and would fake a rise, so they are never the baseline).
- ``arrest``: pattern = ``no_pulse`` (heart rate 0, persist_seconds [0]), ``rhythm`` (latest
  rhythm alarm in rhythms [VF, VT, ASYSTOLE, PEA]), ``apnoea`` (RR 0 for >= seconds [20]) or
  ``hypoxic_bradycardia`` (SpO2 < spo2_below [80] for >= persist_seconds [10] with the latest
  heart rate < heart_rate_below [40], taken within 60 s of that run). Their runs (HR 0,
  RR 0, low SpO2) are per source as for ``threshold``; for hypoxic bradycardia each
  source's latest heart rate counts, one below the limit is enough (a normal manual pulse
  does not cancel the monitor's bradycardia).
- ``technical``: alarms [all of vitals.TECHNICAL_ALARMS], within_seconds [120]: one finding per
  alarm text whose latest report is at most within_seconds old.
- ``silent_monitor``: seconds. A monitored patient with no reading of any kind for `seconds`.

Condition grouping (one open incident per patient and condition):

- ``deterioration``: threshold, rate_of_change, news2 and news2_trend: one worsening patient is
  one incident whose priority rises with the evidence;
- ``arrest``: every arrest pattern (one code blue);
- ``technical:<ALARM>``: e.g. ``technical:LEAD_OFF``, one per technical alarm;
- ``silent_monitor``.
Physiological findings (deterioration, arrest) are IEC 60601-1-8 physiological alarms; the
technical and silent-monitor ones are technical alarms.
"""

from __future__ import annotations

import math
import operator
import uuid
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from healthguard.clinical.news2 import News2Result, latest_observed_at, news2_from_readings
from healthguard.clinical.vitals import (
    NUMERIC,
    RHYTHMS,
    TECHNICAL_ALARMS,
    FieldError,
    Parameter,
    Reading,
)
from healthguard.models.base import PRIORITIES

if TYPE_CHECKING:
    from healthguard.clinical.history import PatientHistory

RuleKind = Literal[
    "threshold", "rate_of_change", "news2", "news2_trend", "arrest", "technical", "silent_monitor"
]
RULE_KINDS: tuple[str, ...] = (
    "threshold",
    "rate_of_change",
    "news2",
    "news2_trend",
    "arrest",
    "technical",
    "silent_monitor",
)
ARREST_PATTERNS: tuple[str, ...] = ("no_pulse", "rhythm", "apnoea", "hypoxic_bradycardia")
ARREST_RHYTHMS: tuple[str, ...] = ("VF", "VT", "ASYSTOLE", "PEA")
OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
DETERIORATION = "deterioration"
ARREST = "arrest"
SILENT_MONITOR = "silent_monitor"
TECHNICAL_PREFIX = "technical:"
DEFAULT_NEWS2_FRESHNESS = timedelta(hours=1)
# NEWS2 rules score each streamed parameter by the value it has sustained this long (the same
# 15 s persistence that cuts false SpO2 alarms; see news2_from_readings).
DEFAULT_NEWS2_SUSTAIN = timedelta(seconds=15)
DEFAULT_SILENT_MONITOR_SECONDS = 300
# hypoxic bradycardia: the heart rate must be taken this close to the low-SpO2 run.
CO_READING_TOLERANCE = timedelta(seconds=60)

NUMERIC_PARAMETERS: tuple[str, ...] = tuple(p.value for p in NUMERIC)
LABEL: dict[str, tuple[str, str]] = {
    "heart_rate": ("HR", "/min"),
    "spo2": ("SpO2", "%"),
    "resp_rate": ("RR", "/min"),
    "systolic_bp": ("SBP", "mmHg"),
    "diastolic_bp": ("DBP", "mmHg"),
    "temperature_c": ("Temp", "°C"),
}
TECHNICAL_WORDS: dict[str, str] = {
    "LEAD_OFF": "ECG lead off",
    "PROBE_OFF": "SpO2 probe off",
    "LOW_BATTERY": "monitor battery low",
    "NO_SIGNAL": "no signal from the sensor",
    "ARTIFACT": "signal artifact",
}
OP_WORDS: dict[str, str] = {"<": "below", "<=": "at or below", ">": "above", ">=": "at or above"}


@dataclass(frozen=True)
class Rule:
    key: str
    name: str
    kind: str
    priority: str
    params: Mapping[str, Any]
    enabled: bool = True


@dataclass(frozen=True)
class Finding:
    rule_key: str
    condition: str
    priority: str
    kind: Literal["physiological", "technical"]
    summary: str  # nurse words, e.g. "NEWS2 8: RR 26, SpO2 90"
    evidence: dict[str, Any]  # JSON-ready: trigger values and NEWS2 sub-scores
    observed_at: datetime  # of the triggering reading


@dataclass(frozen=True)
class PatientWindow:
    patient_id: uuid.UUID
    readings: Sequence[Reading]  # sorted by observed_at (evaluate re-sorts defensively)
    news2_history: Sequence[tuple[datetime, int, bool]]  # (observed_at, total, partial)
    spo2_scale: int
    now: datetime
    last_reading_at: datetime | None
    monitored: bool
    news2_freshness: timedelta = DEFAULT_NEWS2_FRESHNESS
    news2_sustain: timedelta = DEFAULT_NEWS2_SUSTAIN
    # The caller's NEWS2 of exactly these readings, now, freshness, scale and sustain (saves
    # computing it twice); None: computed here.
    news2: News2Result | None = None
    # The patient's kept history (clinical.history): when it serves `now`, the rules read its
    # series instead of sorting `readings`, which then need only hold the readings NEWS2
    # reads (PatientHistory.news2_readings).
    history: PatientHistory | None = None


def condition_of(rule: Rule) -> str:
    """The incident grouping of a rule's findings (technical: per alarm, see evaluate)."""
    if rule.kind == "arrest":
        return ARREST
    if rule.kind == "silent_monitor":
        return SILENT_MONITOR
    if rule.kind == "technical":
        return TECHNICAL_PREFIX.rstrip(":")
    return DETERIORATION


# --- validation ------------------------------------------------------------------------------

_KNOWN_PARAMS: dict[str, set[str]] = {
    "threshold": {"parameter", "op", "value", "persist_seconds", "spo2_scales"},
    "rate_of_change": {"parameter", "delta", "within_seconds"},
    "news2": {"min_total", "red_flag"},
    "news2_trend": {"rise", "within_seconds", "min_total"},
    "arrest": {
        "pattern",
        "persist_seconds",
        "rhythms",
        "seconds",
        "spo2_below",
        "heart_rate_below",
    },
    "technical": {"alarms", "within_seconds"},
    "silent_monitor": {"seconds"},
}
_ARREST_PARAMS: dict[str, set[str]] = {
    "no_pulse": {"pattern", "persist_seconds"},
    "rhythm": {"pattern", "rhythms"},
    "apnoea": {"pattern", "seconds"},
    "hypoxic_bradycardia": {"pattern", "spo2_below", "heart_rate_below", "persist_seconds"},
}


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def validate_rule(rule: Rule) -> list[FieldError]:
    """Every problem of the rule, each naming the field (``params.<name>`` for params)."""
    errors: list[FieldError] = []

    def bad(name: str, message: str) -> None:
        errors.append(FieldError(name, message))

    if not isinstance(rule.key, str) or not rule.key.strip() or len(rule.key) > 64:
        bad("key", "must be 1 to 64 characters")
    if not isinstance(rule.name, str) or not rule.name.strip() or len(rule.name) > 200:
        bad("name", "must be 1 to 200 characters")
    if rule.priority not in PRIORITIES:
        bad("priority", f"must be one of {', '.join(PRIORITIES)}")
    if not isinstance(rule.enabled, bool):
        bad("enabled", "must be true or false")
    if rule.kind not in RULE_KINDS:
        bad("kind", f"must be one of {', '.join(RULE_KINDS)}")
        return errors
    if not isinstance(rule.params, Mapping):
        bad("params", "must be an object")
        return errors
    params = rule.params
    known = _KNOWN_PARAMS[rule.kind]
    if rule.kind == "arrest" and params.get("pattern") in _ARREST_PARAMS:
        known = _ARREST_PARAMS[params["pattern"]]
    for name in params:
        if name not in known:
            bad(
                f"params.{name}",
                f"is not a parameter of a {rule.kind} rule (known: {', '.join(sorted(known))})",
            )

    def number(
        name: str,
        *,
        required: bool,
        low: float | None = None,
        positive: bool = False,
        integer: bool = False,
        high: float | None = None,
    ) -> None:
        if name not in params:
            if required:
                bad(f"params.{name}", "is required")
            return
        value = params[name]
        if integer and not (isinstance(value, int) and not isinstance(value, bool)):
            bad(f"params.{name}", "must be a whole number")
            return
        if not _is_number(value):
            bad(f"params.{name}", "must be a number")
            return
        if positive and value <= 0:
            bad(f"params.{name}", "must be greater than 0")
        if low is not None and value < low:
            bad(f"params.{name}", f"must be at least {low:g}")
        if high is not None and value > high:
            bad(f"params.{name}", f"must be at most {high:g}")

    def parameter() -> None:
        value = params.get("parameter")
        if value not in NUMERIC_PARAMETERS:
            bad("params.parameter", f"must be one of {', '.join(NUMERIC_PARAMETERS)}")

    def choices(name: str, allowed: Sequence[str]) -> None:
        if name not in params:
            return
        value = params[name]
        if (
            not isinstance(value, list | tuple)
            or not value
            or any(item not in allowed for item in value)
        ):
            bad(f"params.{name}", f"must be a non-empty list of {', '.join(allowed)}")

    if rule.kind == "threshold":
        parameter()
        if params.get("op") not in OPS:
            bad("params.op", f"must be one of {' '.join(OPS)}")
        number("value", required=True)
        number("persist_seconds", required=False, low=0)
        scales = params.get("spo2_scales", [1, 2])
        if (
            not isinstance(scales, list | tuple)
            or not scales
            or any(s not in (1, 2) or isinstance(s, bool) for s in scales)
        ):
            bad("params.spo2_scales", "must be a non-empty list of 1 and/or 2")
    elif rule.kind == "rate_of_change":
        parameter()
        number("delta", required=True)
        if _is_number(params.get("delta")) and params["delta"] == 0:
            bad("params.delta", "must not be 0 (+30 for a rise, -40 for a fall)")
        number("within_seconds", required=True, positive=True)
    elif rule.kind == "news2":
        number("min_total", required=False, integer=True, low=0, high=20)
        if "red_flag" in params and not isinstance(params["red_flag"], bool):
            bad("params.red_flag", "must be true or false")
        if "min_total" not in params and params.get("red_flag") is not True:
            bad("params.min_total", "is required unless red_flag is true")
    elif rule.kind == "news2_trend":
        number("rise", required=True, integer=True, low=1, high=20)
        number("within_seconds", required=True, positive=True)
        number("min_total", required=False, integer=True, low=0, high=20)
    elif rule.kind == "arrest":
        pattern = params.get("pattern")
        if pattern not in ARREST_PATTERNS:
            bad("params.pattern", f"must be one of {', '.join(ARREST_PATTERNS)}")
        choices("rhythms", RHYTHMS)
        number("persist_seconds", required=False, low=0)
        number("seconds", required=False, low=0)
        number("spo2_below", required=False, low=0, high=100)
        number("heart_rate_below", required=False, low=0, high=350)
    elif rule.kind == "technical":
        choices("alarms", TECHNICAL_ALARMS)
        number("within_seconds", required=False, positive=True)
    elif rule.kind == "silent_monitor":
        number("seconds", required=True, positive=True)
    return errors


# --- how far back the rules look ---------------------------------------------------------------

MIN_LOOKBACK = timedelta(minutes=5)


def lookback_for(rules: Sequence[Rule], sustain: timedelta = DEFAULT_NEWS2_SUSTAIN) -> timedelta:
    """How much reading history the enabled rules need: their longest window (rate of change,
    persistence, apnoea, technical alarms), plus the co-reading tolerance and the NEWS2
    sustain, never less than MIN_LOOKBACK. The triage worker loads this much (the NEWS2
    freshness window and the NEWS2 history are loaded separately). A persistence run longer
    than this is reported as lasting at least this long."""
    longest = 0.0
    for rule in rules:
        if not rule.enabled or rule.kind in ("news2_trend", "silent_monitor"):
            continue
        for key in ("within_seconds", "persist_seconds", "seconds"):
            value = rule.params.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                longest = max(longest, float(value))
    needed = timedelta(seconds=longest) + CO_READING_TOLERANCE + sustain
    return max(MIN_LOOKBACK, needed)


# --- evaluation ------------------------------------------------------------------------------


@dataclass
class _Context:
    window: PatientWindow
    now: datetime
    series: dict[str, list[tuple[datetime, float]]]  # numeric, by parameter, sorted
    series_sources: dict[str, list[str]]  # the Reading.source of each point of `series`
    # numeric, by parameter then source (Reading.source), sorted: persistence runs are per source
    by_source: dict[str, dict[str, list[tuple[datetime, float]]]]
    texts: dict[str, list[Reading]]  # rhythm and technical readings, sorted
    readings: list[Reading]
    _news2: News2Result | None = None
    _news2_at: datetime | None = None
    _news2_done: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def news2(self) -> tuple[News2Result | None, datetime | None]:
        """The current NEWS2 (None when no NEWS2 parameter is fresh)."""
        if not self._news2_done:
            self._news2_done = True
            w = self.window
            at = latest_observed_at(self.readings, self.now, w.news2_freshness)
            if at is not None:
                self._news2 = w.news2 or news2_from_readings(
                    self.readings,
                    self.now,
                    w.news2_freshness,
                    w.spo2_scale,
                    sustain=w.news2_sustain,
                )
                self._news2_at = at
        return self._news2, self._news2_at

    def news2_evidence(self) -> dict[str, Any] | None:
        result, at = self.news2()
        if result is None or at is None:
            return None
        return {
            "total": result.total,
            "subscores": dict(result.subscores),
            "red_flag": result.red_flag,
            "risk": result.risk,
            "partial": result.partial,
            "missing": list(result.missing),
            "observed_at": at.isoformat(),
        }


def _context(window: PatientWindow) -> _Context:
    h = window.history
    if h is not None and h.serves(window.now):
        return _Context(
            window,
            window.now,
            h.series,
            h.series_sources,
            h.by_source,
            h.texts,
            sorted(window.readings, key=lambda r: r.observed_at),
        )
    readings = sorted(
        (r for r in window.readings if r.observed_at <= window.now), key=lambda r: r.observed_at
    )
    series: dict[str, list[tuple[datetime, float]]] = {}
    series_sources: dict[str, list[str]] = {}
    by_source: dict[str, dict[str, list[tuple[datetime, float]]]] = {}
    texts: dict[str, list[Reading]] = {}
    for r in readings:
        if r.parameter in LABEL:
            if r.value is not None and math.isfinite(r.value):
                series.setdefault(r.parameter, []).append((r.observed_at, r.value))
                series_sources.setdefault(r.parameter, []).append(r.source)
                by_source.setdefault(r.parameter, {}).setdefault(r.source, []).append(
                    (r.observed_at, r.value)
                )
        elif r.parameter in (Parameter.RHYTHM.value, Parameter.TECHNICAL.value) and r.value_text:
            texts.setdefault(r.parameter, []).append(r)
    return _Context(window, window.now, series, series_sources, by_source, texts, readings)


def _fmt(value: float) -> str:
    return f"{value:g}"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _run(
    points: list[tuple[datetime, float]], holds: Callable[[float], bool]
) -> tuple[int, float] | None:
    """(index of the first point, span in seconds) of the run of points meeting `holds` that
    ends with the latest point; None when the latest point does not meet it."""
    if not points or not holds(points[-1][1]):
        return None
    start = len(points) - 1
    while start > 0 and holds(points[start - 1][1]):
        start -= 1
    return start, (points[-1][0] - points[start][0]).total_seconds()


@dataclass(frozen=True)
class _Run:
    """A run of readings meeting a condition that ends with the latest reading of its series."""

    sources: tuple[str, ...]  # the Reading.source values of its readings, sorted
    points: list[tuple[datetime, float]]  # oldest first

    @property
    def held(self) -> float:
        return (self.points[-1][0] - self.points[0][0]).total_seconds()


def _runs(ctx: _Context, name: str, holds: Callable[[float], bool], persist: float) -> list[_Run]:
    """The runs of `name` meeting `holds` for at least `persist` seconds, most relevant first
    (latest trigger reading, then longest, then by source).

    Persistence is PER SOURCE: each source (Reading.source) has the `_run` of ITS OWN readings,
    which other sources' readings neither break nor extend, so a nurse's normal spot check (or
    a second monitor) in the middle of a monitor's sustained desaturation cannot hide it. The
    run of all sources' readings taken together counts too (as it always did: a probe moved
    to another monitor in the middle of a desaturation is still one run). Any one run that
    spans `persist` is enough."""
    runs = []
    merged = ctx.series.get(name, [])
    run = _run(merged, holds)
    if run is not None and run[1] >= persist:
        sources = tuple(sorted(set(ctx.series_sources[name][run[0] :])))
        runs.append(_Run(sources, merged[run[0] :]))
    for source, points in ctx.by_source.get(name, {}).items():
        run = _run(points, holds)
        if run is not None and run[1] >= persist:
            runs.append(_Run((source,), points[run[0] :]))
    runs.sort(key=lambda r: r.sources)
    runs.sort(key=lambda r: (r.points[-1][0], r.held), reverse=True)
    return runs


def _finding(
    ctx: _Context,
    rule: Rule,
    summary: str,
    evidence: dict[str, Any],
    observed_at: datetime,
    *,
    condition: str | None = None,
) -> Finding:
    physiological = rule.kind not in ("technical", "silent_monitor")
    full = {"rule": rule.key, "rule_name": rule.name, **evidence}
    if physiological:
        news2 = ctx.news2_evidence()
        if news2 is not None:
            full["news2"] = news2
    return Finding(
        rule_key=rule.key,
        condition=condition or condition_of(rule),
        priority=rule.priority,
        kind="physiological" if physiological else "technical",
        summary=summary[:500],
        evidence=full,
        observed_at=observed_at,
    )


def _threshold(ctx: _Context, rule: Rule) -> list[Finding]:
    p = rule.params
    name, op, limit = str(p["parameter"]), str(p["op"]), float(p["value"])
    persist = float(p.get("persist_seconds", 0))
    if ctx.window.spo2_scale not in tuple(p.get("spo2_scales", (1, 2))):
        return []
    compare = OPS[op]
    runs = _runs(ctx, name, lambda v: compare(v, limit), persist)
    if not runs:
        return []
    points, held = runs[0].points, runs[0].held
    values = [v for _, v in points]
    worst = min(values) if op in ("<", "<=") else max(values)
    label, unit = LABEL[name]
    latest = points[-1][1]
    if persist > 0:
        extreme = "lowest" if op in ("<", "<=") else "highest"
        summary = (
            f"{label} {OP_WORDS[op]} {_fmt(limit)} {unit} for {_duration(held)} "
            f"(now {_fmt(latest)}, {extreme} {_fmt(worst)})"
        )
    else:
        summary = f"{label} {_fmt(latest)} {unit} ({OP_WORDS[op]} {_fmt(limit)})"
    evidence = {
        "parameter": name,
        "op": op,
        "limit": limit,
        "persist_seconds": persist,
        "held_seconds": held,
        "since": points[0][0].isoformat(),
        "latest": latest,
        "worst": worst,
        "readings": len(values),
        "sources": list(runs[0].sources),
    }
    return [_finding(ctx, rule, summary, evidence, points[-1][0])]


def _point_time(point: tuple[datetime, float]) -> datetime:
    return point[0]


_point_value = operator.itemgetter(1)


def _rate(ctx: _Context, rule: Rule) -> list[Finding]:
    p = rule.params
    name, delta, within = str(p["parameter"]), float(p["delta"]), float(p["within_seconds"])
    points = ctx.series.get(name, [])
    if len(points) < 2:
        return []
    last_t, last_v = points[-1]
    since = last_t - timedelta(seconds=within)
    # The points in [since, last_t), found by bisection (the series is sorted by time); min
    # and max keep the first of equals, so ties go to the earliest point.
    earlier = points[
        bisect_left(points, since, key=_point_time) : bisect_left(points, last_t, key=_point_time)
    ]
    if not earlier:
        return []
    if delta > 0:
        base_t, base_v = min(earlier, key=_point_value)
        change = last_v - base_v
        fired = change >= delta
    else:
        base_t, base_v = max(earlier, key=_point_value)
        change = last_v - base_v
        fired = change <= delta
    if not fired:
        return []
    label, unit = LABEL[name]
    direction = "up" if delta > 0 else "down"
    summary = (
        f"{label} {direction} {_fmt(abs(change))} {unit} in "
        f"{_duration((last_t - base_t).total_seconds())} ({_fmt(base_v)} → {_fmt(last_v)})"
    )
    evidence = {
        "parameter": name,
        "delta": delta,
        "within_seconds": within,
        "change": change,
        "from": base_v,
        "from_observed_at": base_t.isoformat(),
        "to": last_v,
    }
    return [_finding(ctx, rule, summary, evidence, last_t)]


def _news2(ctx: _Context, rule: Rule) -> list[Finding]:
    result, at = ctx.news2()
    if result is None or at is None:
        return []
    min_total = rule.params.get("min_total")
    by_total = min_total is not None and result.total >= int(min_total)
    by_red = rule.params.get("red_flag") is True and result.red_flag
    if not (by_total or by_red):
        return []
    summary = result.summary()
    if by_red and not by_total:
        reds = [n for n, s in result.subscores.items() if s == 3]
        summary = f"Red score ({', '.join(reds)}): {summary}"
    evidence = {"min_total": min_total, "red_flag_rule": rule.params.get("red_flag") is True}
    return [_finding(ctx, rule, summary, evidence, at)]


def _news2_trend(ctx: _Context, rule: Rule) -> list[Finding]:
    result, at = ctx.news2()
    if result is None or at is None:
        return []
    p = rule.params
    rise, within = int(p["rise"]), float(p["within_seconds"])
    min_total = p.get("min_total")
    if min_total is not None and result.total < int(min_total):
        return []
    since = at - timedelta(seconds=within)
    baseline = [
        (t, total)
        for t, total, partial in ctx.window.news2_history
        if not partial and since <= t < at
    ]
    if not baseline:
        return []
    base_t, base_total = min(baseline, key=lambda x: (x[1], x[0]))
    if result.total - base_total < rise:
        return []
    summary = (
        f"NEWS2 rising: {base_total} → {result.total} in "
        f"{_duration((at - base_t).total_seconds())} ({result.summary()})"
    )
    evidence = {
        "rise": rise,
        "within_seconds": within,
        "from": base_total,
        "from_observed_at": base_t.isoformat(),
        "to": result.total,
    }
    return [_finding(ctx, rule, summary, evidence, at)]


def _arrest(ctx: _Context, rule: Rule) -> list[Finding]:
    p = rule.params
    pattern = p["pattern"]
    if pattern == "no_pulse":
        persist = float(p.get("persist_seconds", 0))
        runs = _runs(ctx, "heart_rate", lambda v: v <= 0, persist)
        if not runs:
            return []
        run = runs[0]
        held = run.held
        summary = "No pulse: heart rate 0" + (f" for {_duration(held)}" if held > 0 else "")
        evidence = {
            "pattern": pattern,
            "heart_rate": run.points[-1][1],
            "held_seconds": held,
            "sources": list(run.sources),
        }
        return [_finding(ctx, rule, summary, evidence, run.points[-1][0])]
    if pattern == "rhythm":
        rhythms = tuple(p.get("rhythms", ARREST_RHYTHMS))
        seen = ctx.texts.get(Parameter.RHYTHM.value, [])
        if not seen or (seen[-1].value_text or "").upper() not in rhythms:
            return []
        rhythm = (seen[-1].value_text or "").upper()
        evidence = {"pattern": pattern, "rhythm": rhythm, "source": seen[-1].source}
        return [
            _finding(ctx, rule, f"Arrest rhythm alarm: {rhythm}", evidence, seen[-1].observed_at)
        ]
    if pattern == "apnoea":
        seconds = float(p.get("seconds", 20))
        runs = _runs(ctx, "resp_rate", lambda v: v <= 0, seconds)
        if not runs:
            return []
        run = runs[0]
        evidence = {
            "pattern": pattern,
            "resp_rate": run.points[-1][1],
            "held_seconds": run.held,
            "sources": list(run.sources),
        }
        summary = f"Apnoea: RR 0 for {_duration(run.held)}"
        return [_finding(ctx, rule, summary, evidence, run.points[-1][0])]
    if pattern == "hypoxic_bradycardia":
        spo2_below = float(p.get("spo2_below", 80))
        hr_below = float(p.get("heart_rate_below", 40))
        persist = float(p.get("persist_seconds", 10))
        runs = _runs(ctx, "spo2", lambda v: v < spo2_below, persist)
        # The latest heart rate of EACH source (a normal manual pulse must not cancel the
        # monitor's bradycardia), taken no earlier than CO_READING_TOLERANCE before the run.
        hearts = [pts[-1] for pts in ctx.by_source.get("heart_rate", {}).values()]
        pairs = [
            (run, hr)
            for run in runs
            for hr in hearts
            if hr[1] < hr_below and hr[0] >= run.points[0][0] - CO_READING_TOLERANCE
        ]
        if not pairs:
            return []
        run, (hr_t, hr_v) = max(
            pairs,
            key=lambda x: (max(x[1][0], x[0].points[-1][0]), x[0].held, -x[1][1], x[0].sources),
        )
        spo2_t, spo2_v = run.points[-1]
        summary = (
            f"SpO2 {_fmt(spo2_v)} % for {_duration(run.held)} with HR {_fmt(hr_v)}/min "
            "(hypoxic bradycardia, peri-arrest)"
        )
        evidence = {
            "pattern": pattern,
            "spo2": spo2_v,
            "heart_rate": hr_v,
            "held_seconds": run.held,
            "spo2_below": spo2_below,
            "heart_rate_below": hr_below,
            "sources": list(run.sources),
        }
        return [_finding(ctx, rule, summary, evidence, max(hr_t, spo2_t))]
    return []


def _technical(ctx: _Context, rule: Rule) -> list[Finding]:
    alarms = tuple(rule.params.get("alarms", TECHNICAL_ALARMS))
    since = ctx.now - timedelta(seconds=float(rule.params.get("within_seconds", 120)))
    latest: dict[str, Reading] = {}
    for r in ctx.texts.get(Parameter.TECHNICAL.value, []):
        text = (r.value_text or "").upper()
        if text in alarms and r.observed_at >= since:
            latest[text] = r  # sorted: the last one wins
    findings = []
    for text in sorted(latest):
        r = latest[text]
        words = TECHNICAL_WORDS.get(text, text.lower().replace("_", " "))
        summary = f"Technical alarm: {words} ({r.source}); check the monitor"
        evidence = {"alarm": text, "source": r.source}
        findings.append(
            _finding(ctx, rule, summary, evidence, r.observed_at, condition=TECHNICAL_PREFIX + text)
        )
    return findings


def _silent(ctx: _Context, rule: Rule) -> list[Finding]:
    w = ctx.window
    if not w.monitored:
        return []
    seconds = float(rule.params["seconds"])
    last = w.last_reading_at
    if last is None and ctx.readings:
        last = ctx.readings[-1].observed_at
    if last is None:
        summary = "Silent monitor: no reading received from this monitored patient"
        return [_finding(ctx, rule, summary, {"seconds": seconds, "last_reading_at": None}, w.now)]
    silent = (w.now - last).total_seconds()
    if silent < seconds:
        return []
    summary = f"Silent monitor: no reading for {_duration(silent)}; check the monitor"
    evidence = {
        "seconds": seconds,
        "silent_seconds": silent,
        "last_reading_at": last.isoformat(),
    }
    # observed_at: when the silence crossed the limit, the same on every evaluation.
    return [_finding(ctx, rule, summary, evidence, last + timedelta(seconds=seconds))]


_EVALUATORS: dict[str, Callable[[_Context, Rule], list[Finding]]] = {
    "threshold": _threshold,
    "rate_of_change": _rate,
    "news2": _news2,
    "news2_trend": _news2_trend,
    "arrest": _arrest,
    "technical": _technical,
    "silent_monitor": _silent,
}


def evaluate(rules: Sequence[Rule], window: PatientWindow) -> list[Finding]:
    """The findings of every enabled rule whose condition holds at `window.now`, in rule
    order. Rules must pass `validate_rule` (the rules store checks them on write); readings
    observed after `window.now` are ignored; any window is accepted."""
    ctx = _context(window)
    findings: list[Finding] = []
    for rule in rules:
        if rule.enabled:
            findings.extend(_EVALUATORS[rule.kind](ctx, rule))
    return findings


# --- the default set -------------------------------------------------------------------------


def default_rules(silent_monitor_seconds: int = DEFAULT_SILENT_MONITOR_SECONDS) -> tuple[Rule, ...]:
    """The shipped rules (docs/TRIAGE_SYSTEM.md explains each)."""
    return (
        # P0: arrest and peri-arrest (code blue).
        Rule(
            "arrest_no_pulse",
            "No pulse (heart rate 0)",
            "arrest",
            "P0",
            {"pattern": "no_pulse", "persist_seconds": 0},
        ),
        Rule(
            "arrest_rhythm",
            "Arrest rhythm from the monitor (VF, VT, asystole, PEA)",
            "arrest",
            "P0",
            {"pattern": "rhythm", "rhythms": list(ARREST_RHYTHMS)},
        ),
        Rule(
            "arrest_apnoea",
            "Apnoea: RR 0 for 20 s",
            "arrest",
            "P0",
            {"pattern": "apnoea", "seconds": 20},
        ),
        Rule(
            "arrest_hypoxic_bradycardia",
            "SpO2 < 80 % for 10 s with HR < 40",
            "arrest",
            "P0",
            {
                "pattern": "hypoxic_bradycardia",
                "spo2_below": 80,
                "heart_rate_below": 40,
                "persist_seconds": 10,
            },
        ),
        # P1: NEWS2 emergency threshold and rapid-response criteria (sustained).
        Rule(
            "news2_emergency",
            "NEWS2 7 or more (emergency response)",
            "news2",
            "P1",
            {"min_total": 7},
        ),
        Rule(
            "rrt_resp_rate_low",
            "RR below 5 for 60 s",
            "threshold",
            "P1",
            {"parameter": "resp_rate", "op": "<", "value": 5, "persist_seconds": 60},
        ),
        Rule(
            "rrt_resp_rate_high",
            "RR above 36 for 60 s",
            "threshold",
            "P1",
            {"parameter": "resp_rate", "op": ">", "value": 36, "persist_seconds": 60},
        ),
        Rule(
            "rrt_heart_rate_low",
            "HR below 40 for 60 s",
            "threshold",
            "P1",
            {"parameter": "heart_rate", "op": "<", "value": 40, "persist_seconds": 60},
        ),
        Rule(
            "rrt_heart_rate_high",
            "HR above 120 for 5 min",
            "threshold",
            "P1",
            {"parameter": "heart_rate", "op": ">", "value": 120, "persist_seconds": 300},
        ),
        Rule(
            "rrt_heart_rate_very_high",
            "HR above 160 for 15 s",
            "threshold",
            "P1",
            {"parameter": "heart_rate", "op": ">", "value": 160, "persist_seconds": 15},
        ),
        Rule(
            "rrt_systolic_low",
            "Systolic BP below 90",
            "threshold",
            "P1",
            {"parameter": "systolic_bp", "op": "<", "value": 90, "persist_seconds": 0},
        ),
        Rule(
            "rrt_spo2_low",
            "SpO2 below 85 % for more than 5 min",
            "threshold",
            "P1",
            {"parameter": "spo2", "op": "<", "value": 85, "persist_seconds": 300},
        ),
        # P2: NEWS2 urgent threshold, red score, sustained desaturation, falling BP.
        Rule("news2_urgent", "NEWS2 5 or more (urgent response)", "news2", "P2", {"min_total": 5}),
        Rule(
            "news2_red_score",
            "NEWS2 red score (3 in one parameter)",
            "news2",
            "P2",
            {"red_flag": True},
        ),
        Rule(
            "spo2_low",
            "SpO2 below 90 % for 15 s (Scale 1)",
            "threshold",
            "P2",
            {
                "parameter": "spo2",
                "op": "<",
                "value": 90,
                "persist_seconds": 15,
                "spo2_scales": [1],
            },
        ),
        Rule(
            "spo2_low_scale2",
            "SpO2 below 84 % for 15 s (Scale 2, target 88-92 %)",
            "threshold",
            "P2",
            {
                "parameter": "spo2",
                "op": "<",
                "value": 84,
                "persist_seconds": 15,
                "spo2_scales": [2],
            },
        ),
        Rule(
            "systolic_drop",
            "Systolic BP down 40 within 15 min",
            "rate_of_change",
            "P2",
            {"parameter": "systolic_bp", "delta": -40, "within_seconds": 900},
        ),
        # P3: worsening trends.
        Rule(
            "heart_rate_rise",
            "HR up 30/min within 10 min",
            "rate_of_change",
            "P3",
            {"parameter": "heart_rate", "delta": 30, "within_seconds": 600},
        ),
        Rule(
            "news2_rising",
            "NEWS2 rising by 2 or more within 4 h",
            "news2_trend",
            "P3",
            {"rise": 2, "within_seconds": 4 * 3600},
        ),
        # P4: technical.
        Rule(
            "technical_alarm",
            "Technical alarm from the monitor",
            "technical",
            "P4",
            {"alarms": list(TECHNICAL_ALARMS), "within_seconds": 120},
        ),
        Rule(
            "silent_monitor",
            "Silent monitor",
            "silent_monitor",
            "P4",
            {"seconds": silent_monitor_seconds},
        ),
    )


DEFAULT_RULES: tuple[Rule, ...] = default_rules()
