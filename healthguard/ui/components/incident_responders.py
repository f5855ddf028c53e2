"""IncidentResponders: who is on the incident (assignee, lead, responders with their roles)
and where its escalation stands (step, time to the next step)."""

from __future__ import annotations

import reflex as rx

from healthguard.ui import styles
from healthguard.ui.states.incident_detail import IncidentDetailState as S
from healthguard.ui.states.incident_detail import ResponderData


def _responder(row: ResponderData) -> rx.Component:
    return rx.el.li(rx.el.strong(row.person), " · ", row.role, data_testid="responder")


def incident_responders() -> rx.Component:
    return rx.el.section(
        rx.el.h2("People and escalation", style={"font_size": "1.1rem", "margin": "0 0 0.5rem"}),
        rx.el.dl(
            rx.el.dt("Assigned to", style={"font_weight": "700"}),
            rx.el.dd(
                rx.cond(S.assignee != "", S.assignee, "Nobody"),
                data_testid="assignee",
                style={"margin": "0 0 0.5rem"},
            ),
            rx.cond(
                S.lead != "",
                rx.fragment(
                    rx.el.dt("Lead", style={"font_weight": "700"}),
                    rx.el.dd(S.lead, style={"margin": "0 0 0.5rem"}),
                ),
            ),
            rx.el.dt("Escalation", style={"font_weight": "700"}),
            rx.el.dd(
                S.escalation,
                rx.cond(
                    S.next_step_at != "",
                    rx.el.span(
                        " · next step at ",
                        S.next_step_local,
                        " (",
                        rx.moment(S.next_step_at, from_now=True, interval=5000),
                        ")",
                        data_testid="next-step",
                    ),
                ),
                data_testid="escalation",
                style={"margin": "0 0 0.5rem"},
            ),
            style={"margin": 0},
        ),
        rx.el.h3("Responders", style={"font_size": "1rem", "margin": "0.5rem 0 0.25rem"}),
        rx.cond(
            S.responders.length() > 0,
            rx.el.ul(
                rx.foreach(S.responders, _responder),
                data_testid="responders",
                style={"padding_left": "1.25rem", "margin": 0},
            ),
            rx.el.p("No responders yet.", style={"color": styles.MUTED_TEXT, "margin": 0}),
        ),
        aria_label="People and escalation",
        style={
            "background": "#ffffff",
            "border": f"1px solid {styles.CARD_BORDER}",
            "border_radius": "6px",
            "padding": "0.75rem",
            "min_width": "0",
        },
    )
