"""The pieces the incident page's action forms share: button and field styles (touch targets
of at least 44 px), a boxed form, a visible label tied to its field, and a select of people."""

from __future__ import annotations

from typing import Any

import reflex as rx

from healthguard.ui import styles
from healthguard.ui.states.incident_detail import IncidentDetailState as S
from healthguard.ui.states.incident_detail import PersonOption

BUTTON = {
    "min_height": "44px",
    "padding": "0 1rem",
    "border": "none",
    "border_radius": "6px",
    "cursor": "pointer",
    "color": "#ffffff",
    "font_weight": "700",
    "font_size": "1rem",
}
FIELD = {
    "min_height": "44px",
    "padding": "0.35rem 0.5rem",
    "border": "1px solid #6b7280",
    "border_radius": "6px",
    "font_size": "1rem",
    "width": "100%",
    "box_sizing": "border-box",
    "background": "#ffffff",
    "color": "#111827",
}
BOX = {
    "border": f"1px solid {styles.CARD_BORDER}",
    "border_radius": "6px",
    "padding": "0.6rem",
    "display": "flex",
    "flex_direction": "column",
    "gap": "0.4rem",
    "min_width": "0",
}
HINT = {"color": styles.MUTED_TEXT, "margin": 0, "font_size": "0.9rem"}


def allowed(action: str) -> rx.Var:
    """Whether the server listed ``action`` for this person now (it checks again on submit)."""
    return S.allowed.contains(action)


def action_button(label: str, testid: str, background: str, **props) -> rx.Component:
    return rx.el.button(
        label,
        disabled=S.busy,
        data_testid=testid,
        style={**BUTTON, "background": background},
        **props,
    )


def field_label(text: str, for_id: str) -> rx.Component:
    return rx.el.label(text, html_for=for_id, style={"font_weight": "600"})


def _option(p: PersonOption) -> rx.Component:
    return rx.el.option(p.label, value=p.value)


def choice_select(id_: str, name: str, options: rx.Var | list[Any], prompt: str) -> rx.Component:
    """A select of ``options`` (a state list of value/label items) that starts on ``prompt``
    (no choice)."""
    return rx.el.select(
        rx.el.option(prompt, value=""),
        rx.foreach(options, _option),
        id=id_,
        name=name,
        default_value="",
        style=FIELD,
    )


def people_select(id_: str, name: str) -> rx.Component:
    return choice_select(id_, name, S.people, "Choose a person")
