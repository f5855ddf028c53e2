"""Escalation policies: each policy's steps (delay in seconds and targets) and repeat, per
priority and ward; an editor for one policy's JSON with the errors naming their field."""

from __future__ import annotations

import reflex as rx

from healthguard.ui import styles
from healthguard.ui.admin_actions import PolicyRow
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
from healthguard.ui.states.admin_policies import AdminPoliciesState as S


def policy_row(row: PolicyRow) -> rx.Component:
    return rx.el.tr(
        rx.el.td(row.priority, style=CELL),
        rx.el.td(row.ward, style=CELL),
        rx.el.td(row.name, style=CELL),
        rx.el.td(
            rx.el.ol(
                rx.foreach(row.steps, lambda s: rx.el.li(s)),
                style={"margin": 0, "padding_left": "1.2rem"},
            ),
            style=CELL,
        ),
        rx.el.td(row.repeat, style=CELL),
        rx.el.td(
            rx.el.button(
                "Edit",
                on_click=S.edit(row.id),
                aria_label="Edit " + row.name,
                data_testid="edit-policy",
                style=QUIET_BUTTON,
            ),
            style=CELL,
        ),
        data_testid="policy-row",
    )


def editor() -> rx.Component:
    return rx.cond(
        S.editing != "",
        rx.el.form(
            rx.el.h3("Edit ", S.editing_name, style={"font_size": "1rem", "margin": "0.5rem 0"}),
            rx.el.p(
                "Delays are whole seconds from the start of the policy; each step's targets "
                "have a kind (assignee, ward_role, team, schedule, staff, round_robin) and a ref.",
                style={"font_size": "0.85rem", "color": styles.MUTED_TEXT},
            ),
            rx.cond(
                S.field_errors.length() > 0,
                rx.el.ul(
                    rx.foreach(S.field_errors, lambda e: rx.el.li(e)),
                    role="alert",
                    data_testid="policy-field-errors",
                    style={"color": "#7f1d1d", "background": "#fde8e8", "padding": "0.5rem 1.5rem"},
                ),
            ),
            rx.el.textarea(
                name="definition",
                default_value=S.draft,
                key=S.draft_version,
                rows=18,
                aria_label="Policy JSON",
                spell_check=False,
                data_testid="policy-json",
                style={**FIELD, "font_family": "monospace", "font_size": "0.85rem"},
            ),
            rx.el.div(
                rx.el.button("Save policy", type="submit", style=BUTTON),
                rx.el.button("Cancel", type="button", on_click=S.cancel_edit, style=QUIET_BUTTON),
                style={**ROW_GAP, "margin_top": "0.5rem"},
            ),
            on_submit=S.save,
            aria_label="Edit escalation policy",
            style={"margin_top": "0.75rem"},
        ),
    )


def admin_policies() -> rx.Component:
    return section(
        "policies",
        "Escalation policies",
        messages(S.error, S.notice, "policies"),
        editor(),
        loading_or(
            S.loaded,
            S.rows.length() == 0,
            "No escalation policies stored (the shipped defaults apply).",
            table(
                "Escalation policies",
                ["Priority", "Ward", "Policy", "Steps", "Repeat", "Action"],
                rx.el.tbody(rx.foreach(S.rows, policy_row)),
            ),
        ),
    )
