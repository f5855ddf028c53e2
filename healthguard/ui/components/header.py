"""The header of every signed-in page: product name, ward selector, my availability, the
notification bell (live unread count, my notifications, mark read, alarm tone), a link to my
alarms, who is signed in."""

from __future__ import annotations

import reflex as rx

from healthguard.settings import get_settings
from healthguard.ui import routes, styles
from healthguard.ui.components.notification_bell import notification_bell
from healthguard.ui.states.auth import AuthState
from healthguard.ui.states.dashboard import ALL_WARDS, DashboardState
from healthguard.ui.states.my_availability import AVAILABILITY_LABELS, MyAvailabilityState


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
                "min_width": "8rem",
                "max_width": "60vw",
            },
        ),
        style={"display": "flex", "align_items": "center", "color": styles.HEADER_TEXT},
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


def availability_selector() -> rx.Component:
    """My availability (staff only): the choice, its automatic reset time, and why a change
    failed. Re-read every minute so an automatic reset shows without a reload."""
    return rx.el.div(
        rx.cond(
            MyAvailabilityState.can_set,
            rx.el.label(
                rx.el.span("My availability", style={"font_size": "0.8rem", "opacity": 0.9}),
                rx.el.div(
                    rx.el.select(
                        *[
                            rx.el.option(label, value=value)
                            for value, label in AVAILABILITY_LABELS.items()
                        ],
                        value=MyAvailabilityState.status,
                        on_change=MyAvailabilityState.choose,
                        disabled=MyAvailabilityState.saving,
                        id="availability-selector",
                        data_testid="availability-selector",
                        style={
                            "min_height": "44px",
                            "padding": "0 0.5rem",
                            "border_radius": "6px",
                            "color": "#111827",
                            "background": "#ffffff",
                        },
                    ),
                    rx.el.span(
                        MyAvailabilityState.until_text,
                        data_testid="availability-until",
                        style={"font_size": "0.85rem"},
                    ),
                    style={"display": "flex", "gap": "0.4rem", "align_items": "center"},
                ),
                style={"display": "flex", "flex_direction": "column"},
            ),
        ),
        rx.cond(
            MyAvailabilityState.error != "",
            rx.el.span(
                MyAvailabilityState.error,
                role="alert",
                data_testid="availability-error",
                style={
                    "background": "#fde8e8",
                    "color": "#7f1d1d",
                    "padding": "0.2rem 0.5rem",
                    "border_radius": "4px",
                    "font_size": "0.85rem",
                    "max_width": "22rem",
                },
            ),
        ),
        rx.moment(
            format="HH:mm",
            interval=60_000,
            on_change=MyAvailabilityState.load,
            style={"display": "none"},
        ),
        on_mount=MyAvailabilityState.load,
        style={
            "display": "flex",
            "gap": "0.5rem",
            "align_items": "center",
            "flex_wrap": "wrap",
            "color": styles.HEADER_TEXT,
        },
    )


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


def my_alarms_link() -> rx.Component:
    """The way to my alarms from every page (live, with ACK / ESCALATE / DECLINE); the bell
    next to it counts my unread notifications and lists them."""
    return rx.el.a(
        rx.el.span("My alarms"),
        href=routes.MY_ALARMS,
        aria_label="My alarms: my notifications and assigned incidents",
        style={
            "min_height": "44px",
            "padding": "0 0.75rem",
            "border": "1px solid rgba(255,255,255,0.5)",
            "border_radius": "6px",
            "color": styles.HEADER_TEXT,
            "display": "flex",
            "gap": "0.4rem",
            "align_items": "center",
            "text_decoration": "none",
        },
    )


def _is_current(href: rx.Var) -> rx.Var:
    """Whether the browser shows the page `href` (the server may add a trailing slash)."""
    path = AuthState.router.url.path
    return (path == href) | (path == href.to(str) + "/")


def page_navigation() -> rx.Component:
    """Links to the pages this person's role can use (Dashboard, Staff and rota,
    Administration, Audit log); the page being shown is marked for screen readers too."""
    return rx.el.nav(
        rx.foreach(
            AuthState.page_links,
            lambda link: rx.el.a(
                link["label"],
                href=link["href"],
                aria_current=rx.cond(_is_current(link["href"]), "page", "false"),
                style={
                    "min_height": "44px",
                    "padding": "0 0.6rem",
                    "display": "flex",
                    "align_items": "center",
                    "color": styles.HEADER_TEXT,
                    "text_decoration": rx.cond(_is_current(link["href"]), "underline", "none"),
                    "text_underline_offset": "4px",
                    "border_radius": "6px",
                },
            ),
        ),
        aria_label="Pages",
        data_testid="page-navigation",
        style={"display": "flex", "flex_wrap": "wrap", "gap": "0.25rem"},
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
        page_navigation(),
        rx.el.div(
            ward_selector() if with_ward_selector else rx.fragment(),
            availability_selector(),
            notification_bell(),
            my_alarms_link(),
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
