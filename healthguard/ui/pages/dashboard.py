"""The command-centre dashboard: open incidents by priority and the ward bed board."""

from __future__ import annotations

import reflex as rx

from healthguard.ui import styles
from healthguard.ui.components.bed_card import bed_card
from healthguard.ui.components.header import header
from healthguard.ui.components.incident_card import incident_card
from healthguard.ui.components.key_metrics import key_metrics
from healthguard.ui.components.patient_drawer import patient_drawer
from healthguard.ui.components.staff_status import staff_status
from healthguard.ui.pages.patient import patient_body
from healthguard.ui.states.dashboard import DashboardState
from healthguard.ui.states.feed import WardFeed

SECONDARY_ALARM_NOTE = (
    "HealthGuard notifications are secondary alarms: the bedside monitor stays the primary alarm."
)


def section_title(*children: rx.Component | rx.Var | str) -> rx.Component:
    return rx.el.h2(*children, style={"font_size": "1.1rem", "margin": "0.5rem 0"})


def incident_queue() -> rx.Component:
    return rx.el.section(
        section_title("Open incidents (", WardFeed.incident_count, ")"),
        rx.cond(
            WardFeed.loaded_at == "",
            rx.el.p("Loading incidents…", role="status"),
            rx.cond(
                WardFeed.incidents.length() > 0,
                rx.el.div(
                    rx.foreach(WardFeed.incidents, incident_card),
                    data_testid="incident-queue",
                    style={"display": "flex", "flex_direction": "column", "gap": "0.5rem"},
                ),
                rx.el.p(
                    "No open incidents.",
                    data_testid="incident-queue-empty",
                    style={"color": styles.MUTED_TEXT},
                ),
            ),
        ),
        aria_label="Open incidents",
        style={"flex": "1 1 22rem", "min_width": "0"},
    )


def ward_board() -> rx.Component:
    return rx.el.section(
        section_title("Patients and latest vitals"),
        rx.cond(
            WardFeed.loaded_at == "",
            rx.el.p("Loading beds…", role="status"),
            rx.el.div(
                rx.foreach(WardFeed.beds, bed_card),
                data_testid="ward-board",
                style={
                    "display": "grid",
                    "grid_template_columns": "repeat(auto-fill, minmax(min(100%, 15rem), 1fr))",
                    "gap": "0.5rem",
                },
            ),
        ),
        aria_label="Ward bed board",
        style={"flex": "1 1 22rem", "min_width": "0"},
    )


def dashboard() -> rx.Component:
    return rx.el.div(
        header(),
        rx.el.main(
            rx.cond(
                (DashboardState.error != "") | (WardFeed.load_error != ""),
                rx.el.p(
                    DashboardState.error,
                    " ",
                    WardFeed.load_error,
                    role="alert",
                    style={
                        "background": "#fee2e2",
                        "color": "#7f1d1d",
                        "padding": "0.5rem",
                        "border_radius": "6px",
                    },
                ),
            ),
            rx.cond(
                DashboardState.message != "",
                rx.el.p(
                    DashboardState.message,
                    role="status",
                    data_testid="dashboard-message",
                    style={
                        "background": "#ecfdf5",
                        "color": "#065f46",
                        "padding": "0.5rem",
                        "border_radius": "6px",
                    },
                ),
            ),
            rx.el.p(
                DashboardState.selected_ward_name,
                " — ",
                SECONDARY_ALARM_NOTE,
                style={"color": styles.MUTED_TEXT, "font_size": "0.85rem", "margin": "0.5rem 0"},
            ),
            rx.el.div(
                incident_queue(),
                ward_board(),
                staff_status(),
                style={
                    "display": "flex",
                    "flex_wrap": "wrap",
                    "gap": "1rem",
                    "align_items": "flex-start",
                },
            ),
            key_metrics(),
            patient_drawer(patient_body()),
            style={
                "padding": "0.75rem 1rem",
                "max_width": styles.PAGE_MAX_WIDTH,
                "margin": "0 auto",
                "box_sizing": "border-box",
                "width": "100%",
            },
        ),
        style={
            "min_height": "100vh",
            "background": "#f3f4f6",
            "font_family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
        },
    )
