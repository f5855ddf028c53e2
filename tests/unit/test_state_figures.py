"""Charts kept in Reflex state as JSON (healthguard/ui/figures.py): exactly what Reflex would
send for the ``go.Figure``, plain data that reading a state back rebuilds without plotly,
and the key-metrics charts (drawn once per load of a ward: test_key_metrics_load.py)."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
from reflex_base.utils.serializers import serialize

from healthguard.incidents.metrics_view import key_metrics_view
from healthguard.ui.figures import empty_figure, figure_json
from healthguard.ui.states import key_metrics

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def test_a_chart_is_kept_as_the_json_reflex_would_send() -> None:
    figure = go.Figure(
        data=[go.Scatter(x=[NOW.isoformat()], y=[91], name="SpO2")],
        layout={"title": {"text": "SpO2"}},
    )
    kept = figure_json(figure)
    assert kept == serialize(figure)
    assert kept["data"][0]["y"] == [91] and kept["layout"]["title"]["text"] == "SpO2"
    assert empty_figure() == {}  # not plotly's 6.5 kB default template, in every state
    # Reading it back is plain data: no plotly object is rebuilt.
    assert "plotly" not in str(pickle.dumps(kept))


def test_the_key_metrics_charts_are_the_views_charts_as_json() -> None:
    view = key_metrics_view(
        [], now=NOW, zone=ZoneInfo("Europe/London"), colours=key_metrics.CHART_COLOURS
    )
    charts = key_metrics.chart_json(view)
    assert set(charts) == set(key_metrics.CHARTS)
    for name in key_metrics.CHARTS:
        assert charts[name] == serialize(go.Figure(getattr(view, name)))
