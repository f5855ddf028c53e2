"""The sign-in page."""

from __future__ import annotations

import reflex as rx

from healthguard.settings import get_settings
from healthguard.ui import styles
from healthguard.ui.states.auth import AuthState

FIELD_STYLE = {
    "min_height": "44px",
    "padding": "0 0.6rem",
    "border": "1px solid #6b7280",
    "border_radius": "6px",
    "font_size": "1rem",
    "width": "100%",
    "box_sizing": "border-box",
    "color": "#111827",
    "background": "#ffffff",
}


def field(label: str, name: str, kind: str, autocomplete: str) -> rx.Component:
    return rx.el.label(
        rx.el.span(label, style={"display": "block", "margin_bottom": "0.25rem"}),
        rx.el.input(
            name=name,
            id=name,
            type=kind,
            required=True,
            auto_complete=autocomplete,
            style=FIELD_STYLE,
        ),
        style={"display": "block", "margin_bottom": "0.9rem"},
    )


def login() -> rx.Component:
    return rx.el.main(
        rx.el.div(
            rx.el.h1("HealthGuard Ops", style={"margin": "0 0 0.25rem", "font_size": "1.5rem"}),
            rx.el.p(
                get_settings().hospital_name,
                style={"margin": "0 0 1rem", "color": styles.MUTED_TEXT},
            ),
            rx.cond(
                AuthState.notice != "",
                rx.el.p(
                    AuthState.notice,
                    role="status",
                    data_testid="login-notice",
                    style={
                        "background": "#e0f2fe",
                        "color": "#0c4a6e",
                        "padding": "0.5rem",
                        "border_radius": "6px",
                    },
                ),
            ),
            rx.el.form(
                field("Username", "username", "text", "username"),
                field("Password", "password", "password", "current-password"),
                rx.cond(
                    AuthState.login_error != "",
                    rx.el.p(
                        AuthState.login_error,
                        role="alert",
                        data_testid="login-error",
                        style={"color": "#991b1b", "margin": "0 0 0.75rem"},
                    ),
                ),
                rx.el.button(
                    rx.cond(AuthState.signing_in, "Signing in…", "Sign in"),
                    type="submit",
                    disabled=AuthState.signing_in,
                    style={
                        "min_height": "44px",
                        "width": "100%",
                        "background": styles.HEADER_BG,
                        "color": "#ffffff",
                        "border": "none",
                        "border_radius": "6px",
                        "font_size": "1rem",
                        "cursor": "pointer",
                    },
                ),
                on_submit=AuthState.login,
                reset_on_submit=False,
            ),
            rx.el.p(
                "HealthGuard notifications are secondary alarms: the bedside monitor stays the "
                "primary alarm. Access is logged.",
                style={"font_size": "0.8rem", "color": styles.MUTED_TEXT, "margin_top": "1rem"},
            ),
            style={
                "width": "100%",
                "max_width": "22rem",
                "background": "#ffffff",
                "padding": "1.5rem",
                "border_radius": "10px",
                "box_shadow": "0 1px 3px rgba(0,0,0,0.15)",
                "box_sizing": "border-box",
            },
        ),
        style={
            "min_height": "100vh",
            "display": "flex",
            "align_items": "center",
            "justify_content": "center",
            "background": "#f3f4f6",
            "padding": "1rem",
            "box_sizing": "border-box",
            "font_family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
        },
    )
