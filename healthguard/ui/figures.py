"""Plotly charts kept in Reflex state as plain JSON, not as ``go.Figure`` vars.

A browser's whole state tree is read back from Redis for every event it sends and every
shared-feed update it receives. A ``go.Figure`` var is rebuilt, and re-validated by plotly,
at each of those reads, empty or not: with 50 dashboards open that was a quarter of a web
worker's time (py-spy). The browser gets JSON anyway (Reflex's figure serializer is
``json.loads(plotly.io.to_json(figure))``), so the states keep that JSON: the same chart,
validated once when it is drawn.
"""

from __future__ import annotations

import json
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import reflex as rx


def figure_json(figure: go.Figure) -> dict[str, Any]:
    """The chart as the JSON Plotly.js draws, exactly what Reflex would send for it."""
    return dict(json.loads(str(pio.to_json(figure))))


def empty_figure() -> dict[str, Any]:
    """No chart yet: an empty object (Plotly.js draws empty axes). Not the JSON of an empty
    ``go.Figure``, which carries plotly's whole default template (6.5 kB): that would be
    kept, read and written back with every browser's state, for nothing."""
    return {}


def as_figure(chart: rx.Var) -> rx.Var:
    """A JSON chart var for ``rx.plotly(data=...)``, which takes a figure: the same JSON in
    the page, typed as the figure it is."""
    return chart.to(go.Figure)
