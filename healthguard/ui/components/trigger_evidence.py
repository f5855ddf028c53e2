"""TriggerEvidence: what opened the incident, the values and NEWS2 sub-scores (red scores
marked in words, not colour alone)."""

from __future__ import annotations

import reflex as rx

from healthguard.ui import styles
from healthguard.ui.incident_view import SubScoreRow
from healthguard.ui.states.incident_detail import IncidentDetailState as S

CELL = {"padding": "0.35rem 0.5rem", "border_bottom": f"1px solid {styles.CARD_BORDER}"}


def _subscore_row(row: SubScoreRow) -> rx.Component:
    return rx.el.tr(
        rx.el.th(row.label, scope="row", style={**CELL, "text_align": "left"}),
        rx.el.td(row.value, style=CELL),
        rx.el.td(
            row.score,
            rx.cond(row.red, rx.el.span(" (red score)", style={"font_weight": "700"})),
            style={
                **CELL,
                "font_weight": rx.cond(row.scoring, "700", "400"),
                "color": rx.cond(row.red, "#7f1d1d", "#111827"),
                "background": rx.cond(row.red, "#fde8e8", "transparent"),
            },
        ),
        data_testid="subscore-row",
    )


def trigger_evidence() -> rx.Component:
    trigger = S.trigger
    return rx.el.section(
        rx.el.h2("What triggered it", style={"font_size": "1.1rem", "margin": "0 0 0.5rem"}),
        rx.cond(
            trigger.found,
            rx.el.div(
                rx.el.p(
                    trigger.summary,
                    data_testid="trigger-summary",
                    style={"font_weight": "700", "margin": "0 0 0.25rem"},
                ),
                rx.el.p(
                    trigger.rule,
                    rx.cond(trigger.observed_at != "", rx.el.span(" · reading of ")),
                    trigger.observed_at,
                    style={"color": styles.MUTED_TEXT, "margin": "0 0 0.5rem"},
                ),
                rx.cond(
                    trigger.detail != "", rx.el.p(trigger.detail, style={"margin": "0 0 0.5rem"})
                ),
                rx.cond(
                    trigger.news2 != "",
                    rx.el.div(
                        rx.el.p(
                            trigger.news2,
                            data_testid="trigger-news2",
                            style={"margin": "0 0 0.25rem"},
                        ),
                        rx.el.table(
                            rx.el.caption(
                                "NEWS2 sub-scores at the trigger",
                                style={"text_align": "left", "color": styles.MUTED_TEXT},
                            ),
                            rx.el.thead(
                                rx.el.tr(
                                    rx.el.th(
                                        "Parameter",
                                        scope="col",
                                        style={**CELL, "text_align": "left"},
                                    ),
                                    rx.el.th(
                                        "Value", scope="col", style={**CELL, "text_align": "left"}
                                    ),
                                    rx.el.th(
                                        "Sub-score",
                                        scope="col",
                                        style={**CELL, "text_align": "left"},
                                    ),
                                )
                            ),
                            rx.el.tbody(rx.foreach(S.subscore_rows, _subscore_row)),
                            data_testid="subscores",
                            style={
                                "border_collapse": "collapse",
                                "width": "100%",
                                "max_width": "28rem",
                            },
                        ),
                    ),
                ),
                rx.cond(
                    trigger.also.length() > 0,
                    rx.el.div(
                        rx.el.p("Also triggered:", style={"margin": "0.5rem 0 0.25rem"}),
                        rx.el.ul(rx.foreach(trigger.also, lambda a: rx.el.li(a))),
                    ),
                ),
            ),
            rx.el.p(
                S.summary,
                rx.cond(S.summary != "", " · ", ""),
                "Raised by a person or a connected system, not by a vital-sign rule: no "
                "NEWS2 sub-scores.",
                data_testid="trigger-none",
                style={"margin": 0},
            ),
        ),
        aria_label="What triggered the incident",
        data_testid="trigger",
        style={
            "background": "#ffffff",
            "border": f"1px solid {styles.CARD_BORDER}",
            "border_radius": "6px",
            "padding": "0.75rem",
            "min_width": "0",
        },
    )
