"""The incident page (/incidents/<id>): patient context, priority in colour and words,
status, what triggered it (values and NEWS2 sub-scores), vital signs around the event, the
full timeline, responders and escalation, and the actions this person may take now.

Live: a hidden clock asks the server every few seconds whether the incident (or its
patient's vital signs) changed, and the page reloads its data only then (no page reload)."""

from __future__ import annotations

import reflex as rx

from healthguard.ui import routes, styles
from healthguard.ui.components.header import header
from healthguard.ui.components.incident_actions import incident_actions
from healthguard.ui.components.incident_responders import incident_responders
from healthguard.ui.components.incident_timeline import incident_timeline
from healthguard.ui.components.trigger_evidence import trigger_evidence
from healthguard.ui.components.vitals_chart import vitals_chart
from healthguard.ui.states.incident_detail import NOT_FOUND
from healthguard.ui.states.incident_detail import IncidentDetailState as S

#: How often an open incident page checks for changes (milliseconds).
LIVE_CHECK_MS = 4000


def _colour(key: str) -> rx.Var:
    return rx.match(
        S.colour,
        ("red", styles.ALARM_COLOURS["red"][key]),
        ("yellow", styles.ALARM_COLOURS["yellow"][key]),
        styles.ALARM_COLOURS["cyan"][key],
    )


def incident_summary() -> rx.Component:
    return rx.el.section(
        rx.el.div(
            rx.el.span(
                S.priority_label,
                class_name=rx.cond(S.flashing, "hg-flash", ""),
                data_testid="incident-priority",
                style={
                    "background": _colour("badge"),
                    "color": "#ffffff",
                    "font_weight": "700",
                    "padding": "0.15rem 0.5rem",
                    "border_radius": "4px",
                    "animation": rx.cond(S.flashing, "hg-flash 1s step-end infinite", "none"),
                },
            ),
            rx.el.span("Incident #", S.number, data_testid="incident-number"),
            rx.el.strong(S.status_text, data_testid="incident-status"),
            style={
                "display": "flex",
                "gap": "0.75rem",
                "align_items": "center",
                "flex_wrap": "wrap",
            },
        ),
        rx.el.h1(
            S.title,
            data_testid="incident-title",
            style={"font_size": "1.3rem", "margin": "0.4rem 0", "overflow_wrap": "anywhere"},
        ),
        rx.el.div(
            rx.el.span("Ward ", rx.cond(S.ward != "", S.ward, "none (hospital-wide)")),
            rx.cond(S.bed != "", rx.el.span("Bed ", S.bed)),
            rx.cond(S.patient != "", rx.el.span("Patient ", S.patient)),
            rx.el.span(
                "Opened ",
                S.opened_local,
                " (",
                rx.moment(S.opened_at, from_now=True, interval=15000),
                ")",
            ),
            data_testid="incident-context",
            style={"display": "flex", "gap": "1rem", "flex_wrap": "wrap", "color": _colour("text")},
        ),
        rx.cond(
            S.resolution_text != "",
            rx.el.p(
                "Resolution: ",
                S.resolution_text,
                data_testid="resolution-text",
                style={"margin": "0.4rem 0 0"},
            ),
        ),
        aria_label="Incident",
        data_testid="incident-summary",
        data_priority=S.priority,
        style={
            "background": _colour("bg"),
            "border_left": "6px solid",
            "border_color": _colour("border"),
            "border_radius": "6px",
            "padding": "0.6rem 0.8rem",
            "color": "#111827",
        },
    )


def incident_body() -> rx.Component:
    return rx.el.div(
        incident_summary(),
        rx.el.div(
            rx.el.div(
                trigger_evidence(),
                vitals_chart(),
                style={
                    "display": "flex",
                    "flex_direction": "column",
                    "gap": "0.75rem",
                    "flex": "2 1 26rem",
                    "min_width": "0",
                },
            ),
            rx.el.div(
                incident_actions(),
                incident_responders(),
                style={
                    "display": "flex",
                    "flex_direction": "column",
                    "gap": "0.75rem",
                    "flex": "1 1 20rem",
                    "min_width": "0",
                },
            ),
            style={
                "display": "flex",
                "flex_wrap": "wrap",
                "gap": "0.75rem",
                "align_items": "flex-start",
            },
        ),
        incident_timeline(),
        rx.moment(
            format="HH:mm:ss",
            interval=LIVE_CHECK_MS,
            on_change=S.refresh,
            style={"display": "none"},
        ),
        data_testid="incident-page",
        style={"display": "flex", "flex_direction": "column", "gap": "0.75rem"},
    )


def incident_page() -> rx.Component:
    return rx.el.div(
        header(with_ward_selector=False),
        rx.el.main(
            rx.el.nav(
                rx.el.a(
                    "← Dashboard",
                    href=routes.DASHBOARD,
                    style={
                        "min_height": "44px",
                        "display": "inline-flex",
                        "align_items": "center",
                        "color": "#0b3d5c",
                    },
                ),
                rx.el.a(
                    "My alarms",
                    href=routes.MY_ALARMS,
                    style={
                        "min_height": "44px",
                        "display": "inline-flex",
                        "align_items": "center",
                        "color": "#0b3d5c",
                    },
                ),
                aria_label="Back",
                style={"display": "flex", "gap": "1.25rem"},
            ),
            rx.cond(
                S.load_error != "",
                rx.el.p(
                    S.load_error,
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
                S.loading,
                rx.el.p("Loading the incident…", role="status", data_testid="incident-loading"),
                rx.cond(
                    S.not_found,
                    rx.el.p(
                        NOT_FOUND,
                        role="alert",
                        data_testid="incident-not-found",
                        style={
                            "background": "#fee2e2",
                            "color": "#7f1d1d",
                            "padding": "0.75rem",
                            "border_radius": "6px",
                        },
                    ),
                    incident_body(),
                ),
            ),
            style={
                "padding": "0.5rem 1rem 1rem",
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
