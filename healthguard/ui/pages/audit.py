"""The auditor's audit-log page."""

from __future__ import annotations

import reflex as rx

from healthguard.ui import styles
from healthguard.ui.components.header import BUTTON_STYLE, header
from healthguard.ui.pages.login import FIELD_STYLE
from healthguard.ui.states.audit import AuditRow, AuditState

CELL = {
    "padding": "0.35rem 0.5rem",
    "border_bottom": "1px solid #e5e7eb",
    "text_align": "left",
    "vertical_align": "top",
    "overflow_wrap": "anywhere",
}
DARK_BUTTON = {**BUTTON_STYLE, "background": styles.HEADER_BG, "border": "none"}


def filter_field(label: str, name: str, value: rx.Var, placeholder: str) -> rx.Component:
    return rx.el.label(
        rx.el.span(label, style={"display": "block", "font_size": "0.85rem"}),
        rx.el.input(name=name, default_value=value, placeholder=placeholder, style=FIELD_STYLE),
        style={"flex": "1 1 12rem"},
    )


def date_field(label: str, name: str, value: rx.Var) -> rx.Component:
    return rx.el.label(
        rx.el.span(label, style={"display": "block", "font_size": "0.85rem"}),
        rx.el.input(name=name, type="date", default_value=value, style=FIELD_STYLE),
        style={"flex": "0 1 10rem"},
    )


def audit_row(row: AuditRow) -> rx.Component:
    return rx.el.tr(
        rx.el.td(row.id, style=CELL),
        rx.el.td(rx.moment(row.at, format="YYYY-MM-DD HH:mm:ss", local=True), style=CELL),
        rx.el.td(row.actor, style=CELL),
        rx.el.td(row.action, style=CELL),
        rx.el.td(row.record, style=CELL),
        rx.el.td(row.outcome, style=CELL),
        rx.el.td(row.origin, style=CELL),
        rx.el.td(rx.el.code(row.details, style={"font_size": "0.8rem"}), style=CELL),
        data_testid="audit-row",
    )


def audit() -> rx.Component:
    return rx.el.div(
        header(with_ward_selector=False),
        rx.el.main(
            rx.el.h1("Audit log", style={"font_size": "1.3rem"}),
            rx.el.form(
                filter_field("Actor", "actor", AuditState.actor, "e.g. nurse.card"),
                filter_field("Action", "action", AuditState.action, "e.g. login.* or patient.read"),
                filter_field(
                    "Record id", "record_id", AuditState.record_id, "a patient or incident id"
                ),
                rx.el.button("Search", type="submit", style=DARK_BUTTON),
                on_submit=AuditState.search,
                style={
                    "display": "flex",
                    "gap": "0.5rem",
                    "flex_wrap": "wrap",
                    "align_items": "flex-end",
                },
            ),
            rx.el.div(
                rx.el.button(
                    "Break-the-glass accesses",
                    on_click=AuditState.show_break_glass,
                    style=DARK_BUTTON,
                ),
                rx.el.button(
                    "Export CSV",
                    on_click=AuditState.export_csv,
                    style=DARK_BUTTON,
                    data_testid="audit-export",
                ),
                style={
                    "display": "flex",
                    "gap": "0.5rem",
                    "margin": "0.75rem 0",
                    "flex_wrap": "wrap",
                },
            ),
            rx.cond(AuditState.error != "", rx.el.p(AuditState.error, role="alert")),
            rx.cond(
                ~AuditState.loaded,
                rx.el.p("Loading…", role="status"),
                rx.el.div(
                    rx.el.table(
                        rx.el.thead(
                            rx.el.tr(
                                *[
                                    rx.el.th(h, style=CELL)
                                    for h in (
                                        "#",
                                        "When",
                                        "Who",
                                        "Action",
                                        "Record",
                                        "Outcome",
                                        "From",
                                        "Details",
                                    )
                                ]
                            )
                        ),
                        rx.el.tbody(rx.foreach(AuditState.rows, audit_row)),
                        style={
                            "border_collapse": "collapse",
                            "width": "100%",
                            "font_size": "0.85rem",
                            "background": "#ffffff",
                        },
                    ),
                    style={"overflow_x": "auto", "max_width": "100%"},
                ),
            ),
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
            "color": "#111827",
            "font_family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
        },
    )
