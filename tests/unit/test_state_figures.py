"""Charts kept in Reflex state as JSON (healthguard/ui/figures.py): exactly what Reflex would
send for the ``go.Figure``, plain data that reading a state back rebuilds without plotly,
and the key-metrics charts converted once per load of a ward."""

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


def test_the_key_metrics_charts_are_converted_once_per_load() -> None:
    view = key_metrics_view(
        [], now=NOW, zone=ZoneInfo("Europe/London"), colours=key_metrics.CHART_COLOURS
    )
    first = key_metrics.plain_figures("ICU", view)
    assert set(first) == set(key_metrics.CHARTS)
    assert first["hourly"] == serialize(go.Figure(view.hourly))
    assert key_metrics.plain_figures("ICU", view) is first  # every screen of the ward
    again = key_metrics_view(
        [], now=NOW, zone=ZoneInfo("Europe/London"), colours=key_metrics.CHART_COLOURS
    )
    assert key_metrics.plain_figures("ICU", again) is not first  # a new load: new charts
