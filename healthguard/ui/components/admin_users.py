"""Users: every account with its role and ward; change the role, deactivate (confirm step)
or reactivate."""

from __future__ import annotations

import reflex as rx

from healthguard.ui.components.admin_common import (
    CELL,
    DANGER_BUTTON,
    FIELD,
    QUIET_BUTTON,
    ROW_GAP,
    loading_or,
    messages,
    section,
    table,
)
from healthguard.ui.states.admin_users import AdminUsersState as S
from healthguard.ui.states.admin_users import UserRow


def role_form(row: UserRow) -> rx.Component:
    return rx.el.form(
        rx.el.input(type="hidden", name="username", value=row.username),
        rx.el.select(
            rx.foreach(S.roles, lambda r: rx.el.option(r, value=r)),
            name="role",
            default_value=row.role,
            key=row.username + row.role,
            aria_label="Role of " + row.username,
            style={**FIELD, "width": "auto"},
        ),
        rx.el.button("Change role", type="submit", style=QUIET_BUTTON),
        on_submit=S.change_role,
        style=ROW_GAP,
    )


def active_action(row: UserRow) -> rx.Component:
    return rx.cond(
        row.active,
        rx.cond(
            S.confirming == row.username,
            rx.el.div(
                rx.el.span("Deactivate ", row.username, "? They are signed out everywhere."),
                rx.el.button(
                    "Yes, deactivate",
                    on_click=S.set_active(row.username, False),
                    style=DANGER_BUTTON,
                ),
                rx.el.button("Cancel", on_click=S.cancel_deactivate, style=QUIET_BUTTON),
                style=ROW_GAP,
            ),
            rx.el.button(
                "Deactivate",
                on_click=S.ask_deactivate(row.username),
                aria_label="Deactivate " + row.username,
                style=QUIET_BUTTON,
            ),
        ),
        rx.el.button(
            "Reactivate",
            on_click=S.set_active(row.username, True),
            aria_label="Reactivate " + row.username,
            style=QUIET_BUTTON,
        ),
    )


def user_row(row: UserRow) -> rx.Component:
    return rx.el.tr(
        rx.el.td(rx.el.strong(row.username), rx.el.br(), row.staff_name, style=CELL),
        rx.el.td(role_form(row), style=CELL),
        rx.el.td(row.ward, style=CELL),
        rx.el.td(row.status, style=CELL),
        rx.el.td(active_action(row), style=CELL),
        data_testid="user-row",
    )


def admin_users() -> rx.Component:
    return section(
        "users",
        "Users",
        rx.el.p(
            "A role change or a deactivation ends the person's sessions at once. New accounts "
            "and password resets: healthguard user create / reset-password.",
            style={"font_size": "0.9rem"},
        ),
        messages(S.error, S.notice, "users"),
        loading_or(
            S.loaded,
            S.rows.length() == 0,
            "No accounts.",
            table(
                "Users",
                ["Account", "Role", "Ward", "State", "Action"],
                rx.el.tbody(rx.foreach(S.rows, user_row)),
            ),
        ),
    )
