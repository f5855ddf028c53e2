"""The dashboard's key metrics as figures and words: alerts per hour by priority (24 h), time
to acknowledge and to resolve by priority (today vs the previous 7 days, p50 and p90),
escalations and the false-alarm share. Pure: no I/O, no clock (``now`` is passed in).

It reads the same numbers as ``GET /api/v1/incident-metrics`` and ``/incident-metrics/hourly``:
``incidents.metrics.summarize`` and ``hourly_histogram`` over ``metrics_query.incident_facts``
(one load covering :attr:`MetricsWindows.load_from` to now). Percentiles are passed through
as the service computed them (nearest rank), never recomputed here.

Windows (all in the hospital's time zone, DST-correct):

- last 24 h: the current hour (partial) and the 23 real hours before it, one bar each; on the
  day the clocks go back a wall-clock hour repeats, and its two bars are told apart by the
  zone abbreviation ("01:00 BST", "01:00 GMT").
- today: from local midnight to now.
- previous 7 days: the 7 whole local days before today (a DST day is 23 or 25 h long), so
  today is compared with a baseline it is not part of; escalations per day are their total / 7.

Incidents count in the window they were OPENED in (as in the API): an incident opened
yesterday and resolved today counts for yesterday.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any

from healthguard.incidents.metrics import (
    DurationStats,
    GroupMetrics,
    HourBucket,
    IncidentFacts,
    hourly_histogram,
    summarize,
)
from healthguard.incidents.priority import PRIORITIES, PRIORITY_STYLES

__all__ = [
    "BASELINE_DAYS",
    "ChartColours",
    "HourRow",
    "KeyMetricsView",
    "MetricsWindows",
    "ResponseRow",
    "format_duration",
    "format_share",
    "hour_labels",
    "hourly_figure",
    "key_metrics_view",
    "metrics_windows",
    "response_figure",
    "response_rows",
]

BASELINE_DAYS = 7
HOUR = timedelta(hours=1)
NO_DATA = "no data"


@dataclass(frozen=True)
class ChartColours:
    """Bar colours per priority: ``fill`` and ``outline`` (the outline keeps 3:1 contrast
    against white for light fills such as alarm yellow), a hatch pattern per priority so that
    two priorities sharing an alarm colour (P0/P1 red, P3/P4 cyan) stay apart without colour,
    and neutral colours for the charts that are not by priority."""

    fill: Mapping[str, str]
    outline: Mapping[str, str]
    pattern: Mapping[str, str] = field(
        default_factory=lambda: {"P0": "x", "P1": "", "P2": "", "P3": "", "P4": "."}
    )
    neutral: str = "#334155"
    neutral_light: str = "#94a3b8"
    text: str = "#111827"


# --- windows ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricsWindows:
    """The time windows of the key metrics, in UTC."""

    now: datetime
    last_24h_start: datetime
    today_start: datetime
    baseline_start: datetime

    @property
    def load_from(self) -> datetime:
        """Where one load of incidents must start to cover every window."""
        return min(self.last_24h_start, self.baseline_start)


def _local_midnight(day: Any, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def metrics_windows(now: datetime, zone: tzinfo) -> MetricsWindows:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    local = now.astimezone(zone)
    hour_start = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    if hour_start > now:  # a zone whose offset is not whole hours, in a repeated hour
        hour_start -= HOUR
    today = local.date()
    return MetricsWindows(
        now=now,
        last_24h_start=hour_start - 23 * HOUR,
        today_start=_local_midnight(today, zone),
        baseline_start=_local_midnight(today - timedelta(days=BASELINE_DAYS), zone),
    )


# --- formatting ---------------------------------------------------------------------------


def format_duration(seconds: float | None) -> str:
    """'45 s', '3 min 20 s', '12 min', '1 h 05 min'; 'no data' for None."""
    if seconds is None:
        return NO_DATA
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs and minutes < 10 else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_share(share: float | None) -> str:
    return NO_DATA if share is None else f"{share * 100:.0f}%"


def _plural(n: int | float, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _label(priority: str) -> str:
    style = PRIORITY_STYLES.get(priority)
    return style.label if style else priority


# --- alerts per hour ----------------------------------------------------------------------


def hour_labels(buckets: Sequence[HourBucket]) -> list[str]:
    """'HH:00' in the bucket's zone, with the zone abbreviation when two buckets would read
    the same (the repeated hour when the clocks go back)."""
    plain = [b.local_start.strftime("%H:%M") for b in buckets]
    if len(set(plain)) == len(plain):
        return plain
    return [f"{b.local_start.strftime('%H:%M')} {b.local_start.tzname()}" for b in buckets]


@dataclass(frozen=True)
class HourRow:
    """One hour of the 24 h chart as a table row: counts in PRIORITIES order."""

    hour: str
    counts: tuple[int, ...]
    total: int


def _bar_marker(colours: ChartColours, priority: str) -> dict[str, Any]:
    return {
        "color": colours.fill.get(priority, colours.neutral),
        "line": {"color": colours.outline.get(priority, colours.text), "width": 1},
        "pattern": {
            "shape": colours.pattern.get(priority, ""),
            "fgcolor": colours.outline.get(priority, colours.text),
            "solidity": 0.3,
        },
    }


def _layout(y_title: str, **extra: Any) -> dict[str, Any]:
    """The common layout; no title: the chart's card names it in a heading."""
    return {
        "height": 280,
        "autosize": True,
        "margin": {"l": 48, "r": 8, "t": 12, "b": 40},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "font": {"color": "#111827", "size": 12},
        "legend": {"orientation": "h", "y": -0.2},
        "xaxis": {"type": "category", "automargin": True},
        "yaxis": {"title": {"text": y_title}, "rangemode": "tozero", "gridcolor": "#e5e7eb"},
        **extra,
    }


def hourly_figure(
    buckets: Sequence[HourBucket], colours: ChartColours, priorities: Sequence[str] = PRIORITIES
) -> dict[str, Any]:
    """Stacked bars: incidents opened per hour, one trace per priority (legend in words)."""
    labels = hour_labels(buckets)
    data = [
        {
            "type": "bar",
            "name": _label(p),
            "x": labels,
            "y": [b.counts.get(p, 0) for b in buckets],
            "marker": _bar_marker(colours, p),
            "hovertemplate": f"%{{x}}: %{{y}} {_label(p)}<extra></extra>",
        }
        for p in priorities
    ]
    return {
        "data": data,
        "layout": _layout(
            "Alerts",
            barmode="stack",
            # Every third hour labelled, level: 24 slanted labels crowd a narrow card.
            xaxis={"type": "category", "tickvals": labels[::3], "tickangle": 0},
            legend={"orientation": "h", "y": -0.2, "traceorder": "normal"},
        ),
    }


def _hourly_summary(buckets: Sequence[HourBucket], priorities: Sequence[str]) -> str:
    total = sum(b.total for b in buckets)
    if total == 0:
        return "No incidents in the last 24 h."
    by_priority = [
        f"{n} {_label(p)}" for p in priorities if (n := sum(b.counts.get(p, 0) for b in buckets))
    ]
    labels = hour_labels(buckets)
    busiest = max(range(len(buckets)), key=lambda i: (buckets[i].total, i))
    return (
        f"{_plural(total, 'alert')} in the last 24 h: {', '.join(by_priority)}. "
        f"Busiest hour: {labels[busiest]} with {_plural(buckets[busiest].total, 'alert')}."
    )


# --- response times -----------------------------------------------------------------------


@dataclass(frozen=True)
class ResponseRow:
    """One priority's time to acknowledge or to resolve (seconds; None: no data), today and
    over the previous 7 days, as the metrics service computed them."""

    priority: str
    label: str
    today_n: int
    today_p50: float | None
    today_p90: float | None
    baseline_n: int
    baseline_p50: float | None
    baseline_p90: float | None

    @property
    def today_text(self) -> str:
        return _pair_text(self.today_p50, self.today_p90, self.today_n)

    @property
    def baseline_text(self) -> str:
        return _pair_text(self.baseline_p50, self.baseline_p90, self.baseline_n)


def _pair_text(p50: float | None, p90: float | None, n: int) -> str:
    if not n:
        return NO_DATA
    return f"{format_duration(p50)} / {format_duration(p90)} (n={n})"


def _by_priority(groups: Iterable[GroupMetrics]) -> dict[str, GroupMetrics]:
    return {str(g.labels.get("priority")): g for g in groups}


def response_rows(
    today: Iterable[GroupMetrics],
    baseline: Iterable[GroupMetrics],
    duration: str,
    priorities: Sequence[str] = PRIORITIES,
) -> list[ResponseRow]:
    """Rows for ``duration`` (``time_to_acknowledge`` or ``time_to_resolve``) from groups by
    priority, for every priority seen in either window (in PRIORITIES order)."""
    if duration not in ("time_to_acknowledge", "time_to_bedside", "time_to_resolve"):
        raise ValueError(f"duration: not a response time: {duration!r}")
    now_groups, base_groups = _by_priority(today), _by_priority(baseline)
    empty = DurationStats(0, None, None, None, None, None, None, None)
    rows = []
    for p in [*priorities, *sorted((set(now_groups) | set(base_groups)) - set(priorities))]:
        if p not in now_groups and p not in base_groups:
            continue
        a = getattr(now_groups[p], duration) if p in now_groups else empty
        b = getattr(base_groups[p], duration) if p in base_groups else empty
        if a.n == 0 and b.n == 0:
            continue
        rows.append(ResponseRow(p, _label(p), a.n, a.p50, a.p90, b.n, b.p50, b.p90))
    return rows


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 2)


def response_figure(rows: Sequence[ResponseRow], title: str, colours: ChartColours) -> dict:
    """Grouped bars per priority: today (solid) and previous 7 days (light, hatched); the bar
    is the median (p50), its whisker reaches the 90th percentile (p90). Minutes."""

    def trace(name: str, when: str, opacity: float, shape: str | None) -> dict[str, Any]:
        p50 = [_minutes(getattr(r, f"{when}_p50")) for r in rows]
        p90 = [_minutes(getattr(r, f"{when}_p90")) for r in rows]
        return {
            "type": "bar",
            "name": name,
            "x": [r.label for r in rows],
            "y": p50,
            "error_y": {
                "type": "data",
                "symmetric": False,
                "array": [
                    None if a is None or b is None else round(b - a, 2)
                    for a, b in zip(p50, p90, strict=True)
                ],
                "arrayminus": [0 for _ in rows],
                "color": colours.text,
                "thickness": 1.5,
            },
            "customdata": p90,
            "opacity": opacity,
            "marker": {
                "color": [colours.fill.get(r.priority, colours.neutral) for r in rows],
                "line": {
                    "color": [colours.outline.get(r.priority, colours.text) for r in rows],
                    "width": 1,
                },
                "pattern": {"shape": shape or "", "fgcolor": colours.text, "solidity": 0.25},
            },
            "hovertemplate": (
                f"%{{x}}, {name}: median %{{y}} min, p90 %{{customdata}} min<extra></extra>"
            ),
        }

    return {
        "data": [
            trace("Today", "today", 1.0, None),
            trace("Previous 7 days", "baseline", 0.55, "/"),
        ],
        "layout": _layout("Minutes (bar p50, line p90)", barmode="group", meta={"title": title}),
    }


# --- escalations and false alarms ---------------------------------------------------------


def _pair_figure(
    title: str,
    y_title: str,
    values: Sequence[float | None],
    names: Sequence[str],
    colours: ChartColours,
    percent: bool = False,
) -> dict:
    return {
        "data": [
            {
                "type": "bar",
                "x": list(names),
                "y": list(values),
                "text": [
                    "" if v is None else (f"{v:.0f}%" if percent else f"{v:g}") for v in values
                ],
                "textposition": "outside",
                "marker": {
                    "color": [colours.neutral, colours.neutral_light],
                    "line": {"color": colours.text, "width": 1},
                    "pattern": {"shape": ["", "/"], "fgcolor": colours.text, "solidity": 0.25},
                },
                "hovertemplate": "%{x}: %{y}<extra></extra>",
            }
        ],
        "layout": _layout(y_title, showlegend=False, height=240, meta={"title": title}),
    }


# --- the whole panel ----------------------------------------------------------------------


@dataclass(frozen=True)
class KeyMetricsView:
    """Everything the key-metrics panel shows: figures (Plotly dicts) and their words."""

    windows: MetricsWindows
    incidents_24h: int
    hourly: dict[str, Any]
    hourly_summary: str
    hour_rows: list[HourRow]
    acknowledge_rows: list[ResponseRow]
    acknowledge: dict[str, Any]
    resolve_rows: list[ResponseRow]
    resolve: dict[str, Any]
    escalations_today: int
    escalations_baseline_total: int
    escalations_per_day: float
    escalations: dict[str, Any]
    escalations_summary: str
    false_alarms_today: int
    resolved_today: int
    false_alarm_share_today: float | None
    false_alarms_baseline: int
    resolved_baseline: int
    false_alarm_share_baseline: float | None
    false_alarms: dict[str, Any]
    false_alarms_summary: str


@dataclass(frozen=True)
class _Totals:
    """The counts of a window summed over its priority groups (the service's own numbers;
    saves replaying every timeline a second time for the ungrouped whole)."""

    escalations: int
    false_alarms: int
    resolved: int

    @property
    def false_alarm_share(self) -> float | None:
        return self.false_alarms / self.resolved if self.resolved else None


def _totals(groups: Sequence[GroupMetrics]) -> _Totals:
    return _Totals(
        escalations=sum(g.escalations for g in groups),
        false_alarms=sum(g.false_alarms for g in groups),
        resolved=sum(g.resolved for g in groups),
    )


def _share_words(share: float | None, false_alarms: int, resolved: int, when: str) -> str:
    if share is None:
        return f"no incident opened {when} has been resolved yet"
    return (
        f"{format_share(share)} {when} ({false_alarms} of {_plural(resolved, 'resolved incident')})"
    )


def key_metrics_view(
    facts: Sequence[IncidentFacts],
    *,
    now: datetime,
    zone: tzinfo,
    colours: ChartColours,
    priorities: Sequence[str] = PRIORITIES,
) -> KeyMetricsView:
    """The panel from incidents loaded from ``metrics_windows(now, zone).load_from`` to
    ``now`` (incidents outside the windows are ignored)."""
    w = metrics_windows(now, zone)
    buckets = hourly_histogram(facts, w.last_24h_start, w.now, zone=zone, priorities=priorities)
    labels = hour_labels(buckets)
    today_p = summarize(facts, ("priority",), opened_from=w.today_start, opened_to=w.now)
    base_p = summarize(facts, ("priority",), opened_from=w.baseline_start, opened_to=w.today_start)
    today, base = _totals(today_p), _totals(base_p)

    ack_rows = response_rows(today_p, base_p, "time_to_acknowledge", priorities)
    res_rows = response_rows(today_p, base_p, "time_to_resolve", priorities)
    per_day = round(base.escalations / BASELINE_DAYS, 1)
    escalations_summary = (
        f"{_plural(today.escalations, 'escalation')} today; previous 7 days: {per_day:g} a day "
        f"on average ({base.escalations} in total)."
    )
    today_words = _share_words(today.false_alarm_share, today.false_alarms, today.resolved, "today")
    base_words = _share_words(
        base.false_alarm_share, base.false_alarms, base.resolved, "in the previous 7 days"
    )
    fa_summary = f"False alarms among resolved incidents: {today_words}; {base_words}."

    def pct(share: float | None) -> float | None:
        return None if share is None else round(share * 100, 1)

    return KeyMetricsView(
        windows=w,
        incidents_24h=sum(b.total for b in buckets),
        hourly=hourly_figure(buckets, colours, priorities),
        hourly_summary=_hourly_summary(buckets, priorities),
        hour_rows=[
            HourRow(label, tuple(b.counts.get(p, 0) for p in priorities), b.total)
            for label, b in zip(labels, buckets, strict=True)
        ],
        acknowledge_rows=ack_rows,
        acknowledge=response_figure(ack_rows, "Time to acknowledge by priority", colours),
        resolve_rows=res_rows,
        resolve=response_figure(res_rows, "Time to resolve by priority", colours),
        escalations_today=today.escalations,
        escalations_baseline_total=base.escalations,
        escalations_per_day=per_day,
        escalations=_pair_figure(
            "Escalations",
            "Escalations",
            [today.escalations, per_day],
            ["Today", "Previous 7 days, a day"],
            colours,
        ),
        escalations_summary=escalations_summary,
        false_alarms_today=today.false_alarms,
        resolved_today=today.resolved,
        false_alarm_share_today=today.false_alarm_share,
        false_alarms_baseline=base.false_alarms,
        resolved_baseline=base.resolved,
        false_alarm_share_baseline=base.false_alarm_share,
        false_alarms=_pair_figure(
            "False-alarm share",
            "% of resolved",
            [pct(today.false_alarm_share), pct(base.false_alarm_share)],
            ["Today", "Previous 7 days"],
            colours,
            percent=True,
        ),
        false_alarms_summary=fa_summary,
    )
