"""Shared look of the admin page's sections: cards, buttons, fields, messages, tables."""

from __future__ import annotations

import reflex as rx

from healthguard.ui import styles
from healthguard.ui.pages.login import FIELD_STYLE

BUTTON = {
    "min_height": "44px",
    "min_width": "44px",
    "padding": "0 0.9rem",
    "border": "none",
    "border_radius": "6px",
    "font_weight": "700",
    "cursor": "pointer",
    "color": "#ffffff",
    "background": styles.HEADER_BG,
    "white_space": "nowrap",
}
DANGER_BUTTON = {**BUTTON, "background": "#b91c1c"}
QUIET_BUTTON = {
    **BUTTON,
    "background": "#ffffff",
    "color": "#111827",
    "border": f"1px solid {styles.CARD_BORDER}",
}
FIELD = FIELD_STYLE
CARD = {
    "background": "#ffffff",
    "border": f"1px solid {styles.CARD_BORDER}",
    "border_radius": "8px",
    "padding": "0.75rem 1rem",
    "margin_bottom": "1rem",
    "min_width": "0",
}
CELL = {
    "padding": "0.4rem 0.5rem",
    "border_bottom": "1px solid #e5e7eb",
    "text_align": "left",
    "vertical_align": "top",
    "overflow_wrap": "break-word",
}
ROW_GAP = {"display": "flex", "gap": "0.5rem", "flex_wrap": "wrap", "align_items": "flex-end"}


def section(anchor: str, title: str, *children: rx.Component) -> rx.Component:
    return rx.el.section(
        rx.el.h2(title, style={"font_size": "1.15rem", "margin": "0 0 0.5rem"}),
        *children,
        id=anchor,
        aria_label=title,
        style=CARD,
    )


def messages(error: rx.Var, notice: rx.Var, testid: str) -> rx.Component:
    """The section's error (in words) and its last success, read out by screen readers."""
    return rx.fragment(
        rx.cond(
            error != "",
            rx.el.p(
                error,
                role="alert",
                data_testid=f"{testid}-error",
                style={"color": "#7f1d1d", "background": "#fde8e8", "padding": "0.5rem"},
            ),
        ),
        rx.cond(
            notice != "",
            rx.el.p(
                notice,
                role="status",
                data_testid=f"{testid}-notice",
                style={"color": "#14532d", "background": "#dcfce7", "padding": "0.5rem"},
            ),
        ),
    )


def field(label: str, control: rx.Component, grow: str = "1 1 12rem") -> rx.Component:
    return rx.el.label(
        rx.el.span(label, style={"display": "block", "font_size": "0.85rem"}),
        control,
        style={"flex": grow, "min_width": "0"},
    )


def table(label: str, headers: list[str], body: rx.Component) -> rx.Component:
    """A table that scrolls sideways inside its card on a narrow screen (never the page);
    focusable so the keyboard can scroll it."""
    return rx.el.div(
        rx.el.table(
            rx.el.thead(rx.el.tr(*[rx.el.th(h, scope="col", style=CELL) for h in headers])),
            body,
            style={"border_collapse": "collapse", "width": "100%", "font_size": "0.9rem"},
        ),
        role="region",
        aria_label=label,
        tab_index=0,
        style={"overflow_x": "auto", "max_width": "100%", "margin_top": "0.75rem"},
    )


def loading_or(loaded: rx.Var, empty: rx.Var, empty_text: str, content: rx.Component):
    return rx.cond(
        ~loaded,
        rx.el.p("Loading…", role="status"),
        rx.cond(empty, rx.el.p(empty_text, style={"color": styles.MUTED_TEXT}), content),
    )
