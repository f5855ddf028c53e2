"""IncidentCard: one open incident in the queue (priority in colour AND words)."""

from __future__ import annotations

import reflex as rx

from healthguard.ui import routes, styles
from healthguard.ui.states.dashboard import DashboardState
from healthguard.ui.states.feed import IncidentCardData


def alarm_colour(card: IncidentCardData, key: str) -> rx.Var:
    """The IEC 60601-1-8 colour of the card's priority, for `key` badge / bg / border / text."""
    return rx.match(
        card.colour,
        ("red", styles.ALARM_COLOURS["red"][key]),
        ("yellow", styles.ALARM_COLOURS["yellow"][key]),
        styles.ALARM_COLOURS["cyan"][key],
    )


def incident_page_link(card: IncidentCardData) -> rx.Component:
    """The card's title as a link to the incident page (a 44 px touch target)."""
    return rx.el.a(
        card.title,
        href=routes.INCIDENT_PREFIX + card.id,
        data_testid="incident-link",
        aria_label="Open incident #" + card.number.to_string() + ": " + card.title,
        style={
            "color": "inherit",
            "display": "inline-flex",
            "align_items": "center",
            "min_height": "44px",
        },
    )


def acknowledgement(card: IncidentCardData) -> rx.Component:
    """The acknowledgement in words: "Not acknowledged", or who did ("Acknowledged by ...")."""
    return rx.el.span(
        rx.cond(card.acknowledged_by != "", "Acknowledged by " + card.acknowledged_by, card.status),
        data_testid="incident-ack",
    )


def escalation_line(card: IncidentCardData) -> rx.Component:
    """Who has it, the escalation step and, while escalating, when the next step is due
    (a live "in 40 seconds", in the browser)."""
    return rx.el.div(
        rx.el.span(
            rx.cond(card.assignee != "", "Assigned to " + card.assignee, "Unassigned"),
            data_testid="incident-assignee",
        ),
        rx.cond(
            card.escalation != "",
            rx.el.span("Escalation: ", card.escalation, data_testid="incident-escalation"),
        ),
        rx.cond(
            card.next_step_at != "",
            rx.el.span(
                "next step at ",
                card.next_step_local,
                " (",
                rx.moment(card.next_step_at, from_now=True, interval=5000),
                ")",
                data_testid="incident-next-step",
            ),
        ),
        style={
            "display": "flex",
            "gap": "0.75rem",
            "flex_wrap": "wrap",
            "font_size": "0.9rem",
            "margin_top": "0.2rem",
            "color": alarm_colour(card, "text"),
        },
    )


def incident_card(card: IncidentCardData) -> rx.Component:
    return rx.el.article(
        rx.el.div(
            rx.el.span(
                card.priority_label,
                class_name=rx.cond(card.flashing, "hg-flash", ""),
                style={
                    "background": alarm_colour(card, "badge"),
                    "color": "#ffffff",
                    "font_weight": "700",
                    "padding": "0.15rem 0.5rem",
                    "border_radius": "4px",
                    "animation": rx.cond(card.flashing, "hg-flash 1s step-end infinite", "none"),
                },
            ),
            rx.el.span("#", card.number, style={"color": styles.MUTED_TEXT}),
            style={
                "display": "flex",
                "gap": "0.5rem",
                "align_items": "center",
                "flex_wrap": "wrap",
            },
        ),
        rx.el.h3(
            incident_page_link(card),
            style={"margin": "0.35rem 0", "font_size": "1.05rem", "overflow_wrap": "anywhere"},
        ),
        rx.cond(card.summary != "", rx.el.p(card.summary, style={"margin": "0 0 0.35rem"})),
        rx.el.div(
            rx.el.span(card.location),
            rx.cond(card.patient != "", rx.el.span("Patient ", card.patient)),
            acknowledgement(card),
            rx.el.span(
                "opened ",
                rx.moment(card.opened_at, format="HH:mm", local=True),
                " (",
                rx.moment(card.opened_at, from_now=True, interval=15000),
                ")",
            ),
            style={
                "display": "flex",
                "gap": "0.75rem",
                "flex_wrap": "wrap",
                "font_size": "0.9rem",
                "color": alarm_colour(card, "text"),
            },
        ),
        escalation_line(card),
        rx.cond(
            DashboardState.can_acknowledge & (card.status == "Not acknowledged"),
            rx.el.button(
                "Acknowledge",
                on_click=DashboardState.acknowledge(card.id),
                data_testid="acknowledge",
                aria_label="Acknowledge incident",
                style={"margin_top": "0.5rem", **styles.DARK_BUTTON},
            ),
        ),
        data_testid="incident-card",
        data_incident_id=card.id,
        data_priority=card.priority,
        style={
            "background": alarm_colour(card, "bg"),
            "border_left": "6px solid",
            "border_color": alarm_colour(card, "border"),
            "border_radius": "6px",
            "padding": "0.6rem 0.8rem",
            "color": "#111827",
        },
    )
