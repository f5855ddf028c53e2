"""VitalsChart: the patient's vital signs from 2 h before the incident to now (Plotly, one
trace per parameter, hospital local time), or why it is not shown."""

from __future__ import annotations

import reflex as rx

from healthguard.ui import styles
from healthguard.ui.figures import as_figure
from healthguard.ui.states.incident_detail import IncidentDetailState as S


def vitals_chart() -> rx.Component:
    return rx.el.section(
        rx.el.h2(
            "Vital signs around the event (2 h before to now)",
            style={"font_size": "1.1rem", "margin": "0 0 0.5rem"},
        ),
        rx.cond(
            S.has_chart,
            rx.el.div(
                rx.plotly(
                    data=as_figure(S.figure),
                    config={"displaylogo": False, "responsive": True},
                    use_resize_handler=True,
                    style={"width": "100%", "min_height": "340px"},
                ),
                rx.el.p(
                    S.chart_summary,
                    data_testid="vitals-chart-summary",
                    style={"color": styles.MUTED_TEXT, "font_size": "0.85rem", "margin": 0},
                ),
                data_testid="vitals-chart",
                style={"width": "100%", "min_width": "0", "overflow": "hidden"},
            ),
            rx.el.p(
                S.chart_note, data_testid="vitals-chart-note", style={"color": styles.MUTED_TEXT}
            ),
        ),
        aria_label="Vital signs chart",
        style={
            "background": "#ffffff",
            "border": f"1px solid {styles.CARD_BORDER}",
            "border_radius": "6px",
            "padding": "0.75rem",
            "min_width": "0",
        },
    )
