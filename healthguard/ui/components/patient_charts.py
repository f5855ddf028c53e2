"""Plotly figures of the patient page (PatientVitals): plain functions, no state, no I/O.

Each vital sign's chart shades its NEWS2 sub-score bands, derived from the scoring code
(healthguard.clinical.news2_bands), with the score written in each shaded band so colour is
not the only signal. The NEWS2 chart marks partial scores (some parameters not measured) as
open diamonds named "partial" and shades the medium (5-6) and high (7+) risk totals, again
derived from healthguard.clinical.news2.risk_of.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import plotly.graph_objects as go

from healthguard.clinical.news2 import risk_of
from healthguard.clinical.news2_bands import ScoreBand
from healthguard.patients.detail import News2Point, TrendPoint

# Shading per sub-score (NEWS2 chart colours, light enough for AA text on top).
BAND_FILL: dict[int, str] = {1: "#fef3c7", 2: "#fed7aa", 3: "#fecaca"}
RISK_FILL: dict[str, str] = {"medium": "#fed7aa", "high": "#fecaca"}
LINE = "#1d4ed8"
ENVELOPE = "rgba(29, 78, 216, 0.18)"
PARTIAL = "#92400e"
CONFIG = {"displayModeBar": False, "responsive": True}


def local(at: datetime, zone: ZoneInfo) -> str:
    """A time as the hospital's wall clock (Plotly draws naive times as given)."""
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def y_range(points: list[TrendPoint], bands: tuple[ScoreBand, ...]) -> tuple[float, float]:
    """What the chart shows: the readings and the whole score-0 band, with some margin,
    kept inside the plausible range."""
    normal = [b for b in bands if b.score == 0]
    lows = [p.low for p in points] + [b.low for b in normal]
    highs = [p.high for p in points] + [b.high for b in normal]
    low, high = min(lows), max(highs)
    pad = max((high - low) * 0.15, 1.0)
    return max(bands[0].low, low - pad), min(bands[-1].high, high + pad)


def _base_layout(since: str, until: str, height: int) -> dict:
    return {
        "height": height,
        "autosize": True,
        "margin": {"l": 44, "r": 10, "t": 8, "b": 36},
        "showlegend": False,
        "xaxis": {"range": [since, until], "type": "date", "fixedrange": True},
        "yaxis": {"fixedrange": True},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "font": {"color": "#111827", "size": 12},
        "template": "none",  # small state; the page's Plotly component adds its own template
    }


def trend_figure(
    label: str,
    unit: str,
    points: list[TrendPoint],
    bands: tuple[ScoreBand, ...],
    *,
    since: datetime,
    until: datetime,
    zone: ZoneInfo,
    height: int = 210,
) -> go.Figure:
    """One vital sign over the window: the mean per bucket as a line, lowest-highest as a
    band around it, and the NEWS2 sub-score bands shaded behind (score written in each)."""
    low, high = y_range(points, bands)
    layout = _base_layout(local(since, zone), local(until, zone), height)
    layout["yaxis"].update({"range": [low, high], "title": {"text": unit}})
    shapes, annotations = [], []
    for band in bands:
        if band.high <= low or band.low >= high:
            continue
        if band.score:
            shapes.append(
                {
                    "type": "rect",
                    "xref": "paper",
                    "x0": 0,
                    "x1": 1,
                    "yref": "y",
                    "y0": max(band.low, low),
                    "y1": min(band.high, high),
                    "fillcolor": BAND_FILL[band.score],
                    "line": {"width": 0},
                    "layer": "below",
                }
            )
        annotations.append(
            {
                "xref": "paper",
                "x": 1,
                "xanchor": "right",
                "yref": "y",
                "y": (max(band.low, low) + min(band.high, high)) / 2,
                "text": f"score {band.score}",
                "showarrow": False,
                "font": {"size": 10, "color": "#374151"},
            }
        )
    layout["shapes"], layout["annotations"] = shapes, annotations
    xs = [local(p.at, zone) for p in points]
    data: list[go.Scatter] = []
    if any(p.high > p.low for p in points):
        data.append(
            go.Scatter(
                x=xs,
                y=[p.high for p in points],
                mode="lines",
                line={"width": 0},
                hoverinfo="skip",
                name="highest",
            )
        )
        data.append(
            go.Scatter(
                x=xs,
                y=[p.low for p in points],
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor=ENVELOPE,
                hoverinfo="skip",
                name="lowest",
            )
        )
    data.append(
        go.Scatter(
            x=xs,
            y=[round(p.mean, 1) for p in points],
            mode="lines+markers",
            line={"color": LINE, "width": 2},
            marker={"size": 5, "color": LINE},
            name=label,
            hovertemplate=f"%{{x}}<br>{label} %{{y}} {unit}<extra></extra>",
        )
    )
    return go.Figure(data=data, layout=layout)


def news2_figure(
    points: list[News2Point],
    *,
    since: datetime,
    until: datetime,
    zone: ZoneInfo,
    height: int = 230,
) -> go.Figure:
    """NEWS2 totals over the window; partial scores as open diamonds named "partial"."""
    top = max([p.total for p in points] + [9]) + 1
    layout = _base_layout(local(since, zone), local(until, zone), height)
    layout["yaxis"].update({"range": [-0.5, top], "title": {"text": "NEWS2"}, "dtick": 1})
    shapes = []
    for risk, fill in RISK_FILL.items():
        totals = [t for t in range(0, top + 1) if risk_of(t, False) == risk]
        if totals:
            shapes.append(
                {
                    "type": "rect",
                    "xref": "paper",
                    "x0": 0,
                    "x1": 1,
                    "yref": "y",
                    "y0": min(totals) - 0.5,
                    "y1": max(totals) + 0.5,
                    "fillcolor": fill,
                    "line": {"width": 0},
                    "layer": "below",
                }
            )
    layout["shapes"] = shapes
    complete = [p for p in points if not p.partial]
    partial = [p for p in points if p.partial]
    data = [
        go.Scatter(
            x=[local(p.at, zone) for p in points],
            y=[p.total for p in points],
            mode="lines",
            line={"color": "#6b7280", "width": 1, "shape": "hv"},
            hoverinfo="skip",
            name="trend",
        ),
        go.Scatter(
            x=[local(p.at, zone) for p in complete],
            y=[p.total for p in complete],
            mode="markers",
            marker={"size": 8, "color": LINE, "symbol": "circle"},
            name="complete",
            hovertemplate="%{x}<br>NEWS2 %{y}<extra></extra>",
        ),
        go.Scatter(
            x=[local(p.at, zone) for p in partial],
            y=[p.total for p in partial],
            mode="markers",
            marker={
                "size": 9,
                "color": "#ffffff",
                "symbol": "diamond-open",
                "line": {"color": PARTIAL, "width": 2},
            },
            name="partial",
            hovertemplate="%{x}<br>NEWS2 %{y} (partial: some not measured)<extra></extra>",
        ),
    ]
    return go.Figure(data=data, layout=layout)
