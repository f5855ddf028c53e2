"""Alarm rules: each rule's priority, on/off state and thresholds; turn on or off; edit one:
name, priority and on/off in a form, the thresholds as JSON (errors name the field)."""

from __future__ import annotations

import reflex as rx

from healthguard.ui.admin_actions import RuleRow
from healthguard.ui.components.admin_common import (
    BUTTON,
    CELL,
    FIELD,
    QUIET_BUTTON,
    ROW_GAP,
    field,
    loading_or,
    messages,
    section,
    table,
)
from healthguard.ui.states.admin_rules import AdminRulesState as S


def rule_row(row: RuleRow) -> rx.Component:
    return rx.el.tr(
        rx.el.td(
            rx.el.strong(row.name),
            rx.el.br(),
            row.priority,
            " · ",
            row.kind,
            " · ",
            rx.el.code(row.key),
            style=CELL,
        ),
        rx.el.td(rx.el.code(row.thresholds, style={"font_size": "0.8rem"}), style=CELL),
        rx.el.td(row.status, style=CELL),
        rx.el.td(
            rx.el.div(
                rx.cond(
                    row.enabled,
                    rx.el.button(
                        "Turn off",
                        on_click=S.set_enabled(row.key, False),
                        aria_label="Turn off " + row.name,
                        style=QUIET_BUTTON,
                    ),
                    rx.el.button(
                        "Turn on",
                        on_click=S.set_enabled(row.key, True),
                        aria_label="Turn on " + row.name,
                        style=QUIET_BUTTON,
                    ),
                ),
                rx.el.button(
                    "Edit",
                    on_click=S.edit(row.key),
                    aria_label="Edit " + row.name,
                    data_testid="edit-rule",
                    style=QUIET_BUTTON,
                ),
                style={"display": "flex", "flex_direction": "column", "gap": "0.4rem"},
            ),
            style=CELL,
        ),
        data_testid="rule-row",
    )


def common_fields() -> rx.Component:
    """Name, priority and on/off of the rule in the editor (reset when another is opened)."""
    return rx.el.div(
        field(
            "Name",
            rx.el.input(
                name="name",
                id="rule-name",
                default_value=S.draft_name,
                required=True,
                max_length=200,
                style=FIELD,
            ),
            "1 1 16rem",
        ),
        field(
            "Priority",
            rx.el.select(
                rx.foreach(S.priorities, lambda p: rx.el.option(p, value=p)),
                name="priority",
                id="rule-priority",
                default_value=S.draft_priority,
                style=FIELD,
            ),
            "0 1 7rem",
        ),
        rx.el.label(
            rx.el.input(
                type="checkbox",
                name="enabled",
                id="rule-enabled",
                default_checked=S.draft_enabled,
                style={"width": "24px", "height": "24px", "margin": "0"},
            ),
            rx.el.span("On (raises alarms)"),
            style={
                "display": "inline-flex",
                "align_items": "center",
                "gap": "0.5rem",
                "min_height": "44px",
                "cursor": "pointer",
            },
        ),
        key=S.draft_version,
        style=ROW_GAP,
    )


def editor() -> rx.Component:
    return rx.cond(
        S.editing != "",
        rx.el.form(
            rx.el.h3("Edit ", S.editing_name, style={"font_size": "1rem", "margin": "0.5rem 0"}),
            common_fields(),
            rx.el.label(
                rx.el.span(
                    "Thresholds (JSON)",
                    style={"display": "block", "font_size": "0.85rem", "margin_top": "0.5rem"},
                ),
                rx.el.textarea(
                    name="params",
                    default_value=S.draft,
                    key=S.draft_version,
                    rows=8,
                    aria_label="Rule thresholds JSON",
                    spell_check=False,
                    data_testid="rule-json",
                    style={**FIELD, "font_family": "monospace", "font_size": "0.85rem"},
                ),
                style={"display": "block"},
            ),
            rx.el.div(
                rx.el.button("Save rule", type="submit", style=BUTTON),
                rx.el.button("Cancel", type="button", on_click=S.cancel_edit, style=QUIET_BUTTON),
                style={**ROW_GAP, "margin_top": "0.5rem"},
            ),
            on_submit=S.save,
            aria_label="Edit alarm rule",
            style={"margin_top": "0.75rem"},
        ),
    )


def admin_rules() -> rx.Component:
    return section(
        "rules",
        "Alarm rules",
        messages(S.error, S.notice, "rules"),
        editor(),
        loading_or(
            S.loaded,
            S.rows.length() == 0,
            "No alarm rules.",
            table(
                "Alarm rules",
                ["Rule (priority · kind · key)", "Thresholds", "State", "Action"],
                rx.el.tbody(rx.foreach(S.rows, rule_row)),
            ),
        ),
    )
