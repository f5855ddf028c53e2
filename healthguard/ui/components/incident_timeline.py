"""IncidentTimeline: every entry of the incident, oldest first: time (hospital local time),
who, what happened, and a note typed by a person."""

from __future__ import annotations

import reflex as rx

from healthguard.ui import styles
from healthguard.ui.incident_view import TimelineRowData
from healthguard.ui.states.incident_detail import IncidentDetailState as S

NARROW = "@media (max-width: 640px)"


def _entry(row: TimelineRowData) -> rx.Component:
    return rx.el.li(
        rx.el.time(
            row.at, date_time=row.at_iso, style={"font_weight": "700", "white_space": "nowrap"}
        ),
        rx.el.span(row.actor, style={"color": styles.MUTED_TEXT, "overflow_wrap": "anywhere"}),
        rx.el.span(
            row.what,
            # On a phone the message takes its own line under the time and the actor.
            style={"overflow_wrap": "anywhere", NARROW: {"grid_column": "1 / -1"}},
        ),
        rx.cond(
            row.note != "",
            rx.el.blockquote(
                row.note,
                style={
                    "margin": "0.25rem 0 0",
                    "padding": "0.25rem 0.5rem",
                    "border_left": "3px solid #0b3d5c",
                    "background": "#f3f4f6",
                    "grid_column": "1 / -1",
                    "overflow_wrap": "anywhere",
                    "white_space": "pre-wrap",
                },
            ),
        ),
        data_testid="timeline-entry",
        data_kind=row.kind,
        style={
            "display": "grid",
            "grid_template_columns": "minmax(4.5rem, auto) minmax(0, 8rem) minmax(0, 1fr)",
            NARROW: {"grid_template_columns": "auto minmax(0, 1fr)"},
            "gap": "0.25rem 0.75rem",
            "padding": "0.4rem 0",
            "border_bottom": f"1px solid {styles.CARD_BORDER}",
        },
    )


def incident_timeline() -> rx.Component:
    return rx.el.section(
        rx.el.h2("Timeline", style={"font_size": "1.1rem", "margin": "0 0 0.5rem"}),
        rx.cond(
            S.timeline.length() > 0,
            rx.el.ol(
                rx.foreach(S.timeline, _entry),
                data_testid="timeline",
                style={"list_style": "none", "padding": 0, "margin": 0},
            ),
            rx.el.p("No entries yet.", style={"color": styles.MUTED_TEXT}),
        ),
        aria_label="Timeline",
        style={
            "background": "#ffffff",
            "border": f"1px solid {styles.CARD_BORDER}",
            "border_radius": "6px",
            "padding": "0.75rem",
            "min_width": "0",
        },
    )
