"""The incident page in words: pure formatting for healthguard/ui/states/incident_detail.py.

No I/O, no clock of its own: the caller passes ``now`` and the hospital's time zone
(``settings.timezone``). Everything a nurse reads on the page is made here, so it is unit
tested without a browser: the status in words, the trigger (the values and NEWS2
sub-scores that opened the incident), the timeline rows in hospital local time, a refusal
with its times in local time, and the vital-signs chart (a plotly Figure).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import plotly.graph_objects as go

from healthguard.clinical.news2 import LABELS as NEWS2_LABELS
from healthguard.clinical.news2 import PARAMETERS as NEWS2_PARAMETERS

#: How far before the incident the vital-signs chart starts.
CHART_BEFORE = timedelta(hours=2)

#: Chart traces: parameter -> (label, unit, colour); one trace per parameter.
CHART_PARAMETERS: dict[str, tuple[str, str, str]] = {
    "heart_rate": ("HR", "/min", "#b91c1c"),
    "spo2": ("SpO2", "%", "#1d4ed8"),
    "resp_rate": ("RR", "/min", "#047857"),
    "systolic_bp": ("SBP", "mmHg", "#7c3aed"),
    "diastolic_bp": ("DBP", "mmHg", "#a16207"),
    "temperature_c": ("Temp", "°C", "#be185d"),
}

RESOLUTION_WORDS: dict[str, str] = {
    "treated": "Treated",
    "transferred_to_icu": "Transferred to ICU",
    "false_alarm": "False alarm",
    "duplicate": "Duplicate",
    "patient_deceased": "Patient deceased",
    "other": "Other",
}

ROLE_WORDS: dict[str, str] = {
    "primary_nurse": "Primary nurse",
    "charge_nurse": "Charge nurse",
    "physician": "Physician",
    "rapid_response_team": "Rapid response team",
    "other": "Other",
}

_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})")


# --- times --------------------------------------------------------------------------------


def local_time(at: datetime, zone: ZoneInfo, now: datetime) -> str:
    """A time as the ward reads it: "14:03:12" today, "25 Nov 14:03" on another day."""
    local, today = at.astimezone(zone), now.astimezone(zone).date()
    if local.date() == today:
        return f"{local:%H:%M:%S}"
    return f"{local.day} {local:%b %H:%M}"


def times_in_words(message: str, zone: ZoneInfo, now: datetime) -> str:
    """A service message with its ISO 8601 times in hospital local time ("already
    acknowledged by nurse.card at 2026-11-26T14:03:12+00:00" -> "... at 14:03:12")."""

    def local(match: re.Match[str]) -> str:
        try:
            at = datetime.fromisoformat(match.group(0).replace("Z", "+00:00"))
        except ValueError:
            return match.group(0)
        return local_time(at, zone, now)

    return _ISO_TIME.sub(local, message)


# --- the status ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StatusFacts:
    status: str
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    started_at: datetime | None = None
    started_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution_reason: str | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None


def status_words(facts: StatusFacts, zone: ZoneInfo, now: datetime) -> str:
    """E.g. "Acknowledged by nurse.card at 14:03:12"."""

    def by(who: str | None, at: datetime | None) -> str:
        parts = []
        if who:
            parts.append(f"by {who}")
        if at is not None:
            parts.append(f"at {local_time(at, zone, now)}")
        return (" " + " ".join(parts)) if parts else ""

    status = facts.status
    if status == "triggered":
        return "Not acknowledged"
    if status == "acknowledged":
        return "Acknowledged" + by(facts.acknowledged_by, facts.acknowledged_at)
    if status == "in_progress":
        return "In progress: started" + by(facts.started_by, facts.started_at)
    if status == "resolved":
        reason = RESOLUTION_WORDS.get(facts.resolution_reason or "", "")
        return f"Resolved{f' ({reason})' if reason else ''}" + by(
            facts.resolved_by, facts.resolved_at
        )
    if status == "closed":
        return "Closed" + by(facts.closed_by, facts.closed_at)
    return status.replace("_", " ").capitalize()


# --- the trigger ---------------------------------------------------------------------------


@dataclasses.dataclass
class SubScoreRow:
    """One NEWS2 parameter at the trigger: its value then and its sub-score."""

    label: str = ""
    value: str = ""
    score: str = ""  # "0".."3", or "not measured"
    scoring: bool = False  # sub-score above 0
    red: bool = False  # sub-score 3 (a red score)


@dataclasses.dataclass
class TriggerData:
    """What opened the incident, as the page shows it."""

    found: bool = False
    summary: str = ""  # "NEWS2 11: RR 26, SpO2 90, ..."
    rule: str = ""  # "NEWS2 7 or more (emergency response)"
    observed_at: str = ""  # the trigger reading, hospital local time
    news2: str = ""  # "NEWS2 11, high risk (red score)"
    rows: list[SubScoreRow] = dataclasses.field(default_factory=list)
    detail: str = ""  # a threshold rule's values ("latest 36, limit 30")
    also: list[str] = dataclasses.field(default_factory=list)  # other rules that fired


Reading = tuple[str, datetime, float | None, str | None]  # parameter, observed_at, value, text


def value_at(readings: Iterable[Reading], parameter: str, at: datetime) -> str:
    """The latest value of ``parameter`` measured at or before ``at``, as a nurse writes it
    ("26", "37.9", "A", "on O2"/"air"); "" when none."""
    best: Reading | None = None
    for reading in readings:
        if reading[0] != parameter or reading[1] > at:
            continue
        if best is None or reading[1] >= best[1]:
            best = reading
    if best is None:
        return ""
    _, _, value, text = best
    if parameter == "on_oxygen":
        if value is None and text is None:
            return ""
        on = bool(value) if value is not None else str(text).lower() in ("true", "1", "yes")
        return "on O2" if on else "air"
    if value is None:
        return text or ""
    if parameter == "temperature_c":
        return f"{value:.1f}"
    return f"{value:.0f}"


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else None
    return None


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:g}"


def trigger_data(
    summary: str,
    details: Mapping[str, Any] | None,
    observed_at: datetime | None,
    readings: Sequence[Reading],
    zone: ZoneInfo,
    now: datetime,
) -> TriggerData:
    """The trigger of an incident from its first alert (``summary``, ``details``: the rule's
    evidence with the NEWS2 sub-scores, ``observed_at``: of the trigger reading) and the
    patient's readings around it (for the values behind each sub-score)."""
    details = dict(details or {})
    news2 = details.get("news2") if isinstance(details.get("news2"), dict) else None
    at = observed_at
    if news2 is not None:
        at = _parse_time(news2.get("observed_at")) or at
    data = TriggerData(
        found=True,
        summary=summary,
        rule=str(details.get("rule_name") or details.get("rule") or ""),
        observed_at=local_time(observed_at, zone, now) if observed_at else "",
    )
    if news2 is not None:
        subscores = news2.get("subscores") or {}
        red = bool(news2.get("red_flag"))
        words = f"NEWS2 {news2.get('total')}"
        if news2.get("risk"):
            words += f", {news2['risk']} risk"
        if red:
            words += " (red score)"
        if news2.get("partial"):
            words += " (partial: some parameters not measured)"
        data.news2 = words
        for name in NEWS2_PARAMETERS:
            score = subscores.get(name)
            value = value_at(readings, name, at) if at is not None else ""
            data.rows.append(
                SubScoreRow(
                    label=NEWS2_LABELS.get(name, name),
                    value=value or ("not measured" if score is None else ""),
                    score="not measured" if score is None else str(score),
                    scoring=bool(score),
                    red=score == 3,
                )
            )
    parameter = details.get("parameter")
    if isinstance(parameter, str) and parameter in CHART_PARAMETERS:
        label, unit, _ = CHART_PARAMETERS[parameter]
        parts = []
        for key, words in (("latest", "now"), ("worst", "worst"), ("limit", "limit")):
            if key in details:
                parts.append(f"{words} {_number(details[key])} {unit}")
        if "from" in details and "to" in details:
            parts.append(f"{_number(details['from'])} → {_number(details['to'])} {unit}")
        if parts:
            data.detail = f"{label}: " + ", ".join(parts)
    for other in details.get("also_triggered") or []:
        if isinstance(other, dict) and other.get("summary"):
            data.also.append(f"{other.get('priority', '')} {other['summary']}".strip())
    return data


# --- the timeline --------------------------------------------------------------------------


@dataclasses.dataclass
class TimelineRowData:
    at: str = ""  # hospital local time
    at_iso: str = ""  # for <time datetime=...>
    actor: str = ""
    what: str = ""
    note: str = ""
    kind: str = ""


def timeline_rows(entries: Iterable[Any], zone: ZoneInfo, now: datetime) -> list[TimelineRowData]:
    """Every timeline entry (``at``, ``kind``, ``actor``, ``message``, ``note``), oldest
    first, with its time in hospital local time and its message's times too."""
    rows = []
    for entry in entries:
        what = times_in_words(entry.message or entry.kind.replace("_", " "), zone, now)
        rows.append(
            TimelineRowData(
                at=local_time(entry.at, zone, now),
                at_iso=entry.at.isoformat(),
                actor=entry.actor,
                what=what,
                note=entry.note or "",
                kind=entry.kind,
            )
        )
    return rows


# --- escalation ----------------------------------------------------------------------------


def escalation_words(step: int, steps: int | None, escalating: bool, status: str) -> str:
    """E.g. "Step 2 of 3 of the escalation policy", "Stopped: acknowledged"."""
    position = f"Step {step + 1}" + (f" of {steps}" if steps else "")
    if status in ("resolved", "closed"):
        return f"{position}; stopped: the incident is {status}"
    if not escalating:
        if status in ("acknowledged", "in_progress"):
            return f"{position}; stopped: acknowledged"
        return position
    return f"{position}; escalating"


# --- the chart -----------------------------------------------------------------------------


def vitals_figure(
    readings: Sequence[Reading], opened_at: datetime, now: datetime, zone: ZoneInfo
) -> go.Figure:
    """Vital signs from ``CHART_BEFORE`` before the incident to now, one trace per parameter,
    in hospital local time, with a line where the incident opened."""
    start = opened_at - CHART_BEFORE

    def local(at: datetime) -> datetime:
        return at.astimezone(zone).replace(tzinfo=None)

    figure = go.Figure()
    for parameter, (label, unit, colour) in CHART_PARAMETERS.items():
        points = sorted(
            (r[1], r[2])
            for r in readings
            if r[0] == parameter and r[2] is not None and start <= r[1] <= now
        )
        if not points:
            continue
        figure.add_trace(
            go.Scatter(
                x=[local(t) for t, _ in points],
                y=[v for _, v in points],
                mode="lines+markers",
                name=f"{label} ({unit})",
                line={"color": colour, "width": 2},
                marker={"size": 5},
                hovertemplate=f"{label} %{{y}} {unit}<br>%{{x|%H:%M:%S}}<extra></extra>",
            )
        )
    opened = local(opened_at)
    figure.add_shape(
        type="line",
        x0=opened,
        x1=opened,
        y0=0,
        y1=1,
        yref="paper",
        line={"color": "#111827", "width": 2, "dash": "dash"},
    )
    figure.add_annotation(
        x=opened,
        y=1,
        yref="paper",
        text="Incident opened",
        showarrow=False,
        xanchor="right",  # the incident is usually near "now", at the right edge
        yanchor="bottom",
        font={"color": "#111827", "size": 12},
    )
    figure.update_layout(
        height=340,
        margin={"l": 40, "r": 10, "t": 30, "b": 70},
        paper_bgcolor="#ffffff",
        plot_bgcolor="#ffffff",
        legend={"orientation": "h", "y": -0.32, "x": 0},
        hovermode="closest",
        xaxis={
            "title": {"text": "Hospital local time"},
            "range": [local(start), local(max(now, opened_at))],
            "gridcolor": "#e5e7eb",
        },
        yaxis={"gridcolor": "#e5e7eb"},
        font={"family": "system-ui, sans-serif", "color": "#111827"},
    )
    return figure


def chart_traces(figure: go.Figure) -> list[str]:
    """The names of the figure's traces (what the chart shows, for the page's summary)."""
    return [str(trace.name) for trace in figure.data]
