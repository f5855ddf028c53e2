"""The header: product name, ward selector and the notification bell."""

from __future__ import annotations

import reflex as rx

from healthguard.settings import get_settings
from healthguard.ui import styles
from healthguard.ui.states.auth import AuthState
from healthguard.ui.states.dashboard import ALL_WARDS, DashboardState


def ward_selector() -> rx.Component:
    return rx.el.label(
        rx.el.span("Ward", style={"margin_right": "0.5rem"}),
        rx.el.select(
            rx.cond(DashboardState.hospital_wide, rx.el.option("All wards", value=ALL_WARDS)),
            rx.foreach(
                DashboardState.wards,
                lambda w: rx.el.option(w.name, value=w.code),
            ),
            value=DashboardState.selected_ward,
            on_change=DashboardState.select_ward,
            id="ward-selector",
            style={
                "min_height": "44px",
                "padding": "0 0.5rem",
                "border_radius": "6px",
                "color": "#111827",
                "background": "#ffffff",
                "max_width": "60vw",
            },
        ),
        style={"display": "flex", "align_items": "center", "color": styles.HEADER_TEXT},
    )


def notification_bell() -> rx.Component:
    """Placeholder until personal notifications exist: says so instead of a fake count."""
    return rx.el.button(
        rx.icon("bell", size=22),
        aria_label="Notifications (personal notifications arrive with on-call paging)",
        title="Personal notifications arrive with on-call paging.",
        style={
            "min_width": "44px",
            "min_height": "44px",
            "background": "transparent",
            "border": "1px solid rgba(255,255,255,0.5)",
            "border_radius": "6px",
            "color": styles.HEADER_TEXT,
            "display": "flex",
            "align_items": "center",
            "justify_content": "center",
        },
    )


BUTTON_STYLE = {
    "min_height": "44px",
    "padding": "0 0.75rem",
    "background": "transparent",
    "border": "1px solid rgba(255,255,255,0.6)",
    "border_radius": "6px",
    "color": styles.HEADER_TEXT,
    "cursor": "pointer",
}


def signed_in_as() -> rx.Component:
    """Who is signed in, the sign-out button, and the idle-session heartbeat."""
    return rx.el.div(
        rx.el.span(
            AuthState.username,
            rx.el.span(" · ", AuthState.role_label, style={"opacity": 0.85}),
            data_testid="signed-in-as",
            style={"font_size": "0.9rem"},
        ),
        rx.el.button(
            "Sign out", on_click=AuthState.logout, style=BUTTON_STYLE, data_testid="sign-out"
        ),
        # A hidden clock whose tick asks the server whether the session has gone idle.
        rx.moment(
            format="HH:mm:ss",
            interval=10_000,
            on_change=AuthState.heartbeat,
            style={"display": "none"},
        ),
        style={"display": "flex", "gap": "0.5rem", "align_items": "center"},
    )


def header(with_ward_selector: bool = True) -> rx.Component:
    return rx.el.header(
        rx.el.div(
            rx.el.strong("HealthGuard Ops", style={"font_size": "1.25rem"}),
            rx.el.span(
                get_settings().hospital_name,
                style={"font_size": "0.85rem", "opacity": 0.9},
            ),
            style={"display": "flex", "flex_direction": "column"},
        ),
        rx.el.div(
            ward_selector() if with_ward_selector else rx.fragment(),
            notification_bell(),
            signed_in_as(),
            style={
                "display": "flex",
                "gap": "0.75rem",
                "align_items": "center",
                "flex_wrap": "wrap",
            },
        ),
        style={
            "display": "flex",
            "justify_content": "space-between",
            "align_items": "center",
            "flex_wrap": "wrap",
            "gap": "0.75rem",
            "padding": "0.75rem 1rem",
            "background": styles.HEADER_BG,
            "color": styles.HEADER_TEXT,
        },
    )
