"""Alarm rules: each rule's priority, on/off state and thresholds; turn on or off; edit the
thresholds (errors name the parameter)."""

from __future__ import annotations

import reflex as rx

from healthguard.ui.admin_actions import RuleRow
from healthguard.ui.components.admin_common import (
    BUTTON,
    CELL,
    FIELD,
    QUIET_BUTTON,
    ROW_GAP,
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
                    "Edit thresholds",
                    on_click=S.edit(row.key),
                    aria_label="Edit the thresholds of " + row.name,
                    style=QUIET_BUTTON,
                ),
                style={"display": "flex", "flex_direction": "column", "gap": "0.4rem"},
            ),
            style=CELL,
        ),
        data_testid="rule-row",
    )


def editor() -> rx.Component:
    return rx.cond(
        S.editing_key != "",
        rx.el.form(
            rx.el.h3(
                "Thresholds of ", S.editing_name, style={"font_size": "1rem", "margin": "0.5rem 0"}
            ),
            rx.el.textarea(
                name="params",
                default_value=S.draft,
                key=S.draft_version,
                rows=8,
                aria_label="Rule thresholds JSON",
                spell_check=False,
                style={**FIELD, "font_family": "monospace", "font_size": "0.85rem"},
            ),
            rx.el.div(
                rx.el.button("Save thresholds", type="submit", style=BUTTON),
                rx.el.button("Cancel", type="button", on_click=S.cancel_edit, style=QUIET_BUTTON),
                style={**ROW_GAP, "margin_top": "0.5rem"},
            ),
            on_submit=S.save,
            aria_label="Edit alarm rule thresholds",
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
