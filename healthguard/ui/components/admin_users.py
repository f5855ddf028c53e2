"""Users: add an account (username, role, optional staff member, initial password); every
account with its role and ward; change the role, deactivate (confirm step) or reactivate."""

from __future__ import annotations

import reflex as rx

from healthguard.security.passwords import MIN_PASSWORD_LENGTH
from healthguard.ui import styles
from healthguard.ui.components.admin_common import (
    BUTTON,
    CELL,
    DANGER_BUTTON,
    FIELD,
    QUIET_BUTTON,
    ROW_GAP,
    field,
    loading_or,
    messages,
    section,
    table,
)
from healthguard.ui.states.admin_users import AdminUsersState as S
from healthguard.ui.states.admin_users import UserRow


def password_input(name: str) -> rx.Component:
    return rx.el.input(
        type="password",
        name=name,
        id=f"new-user-{name.replace('_', '-')}",
        required=True,
        auto_complete="new-password",
        style=FIELD,
    )


def create_form() -> rx.Component:
    """Add a user: the account signs in with the initial password given here."""
    return rx.el.form(
        rx.el.h3("Add a user", style={"font_size": "1rem", "margin": "0.25rem 0 0.5rem"}),
        rx.el.div(
            field(
                "Username",
                rx.el.input(
                    name="username",
                    id="new-user-username",
                    required=True,
                    max_length=64,
                    auto_complete="off",
                    auto_capitalize="none",
                    spell_check=False,
                    style=FIELD,
                ),
            ),
            field(
                "Role",
                rx.el.select(
                    rx.el.option("Choose a role", value=""),
                    rx.foreach(S.roles, lambda r: rx.el.option(r, value=r)),
                    name="role",
                    id="new-user-role",
                    required=True,
                    default_value="",
                    style=FIELD,
                ),
                "0 1 11rem",
            ),
            field(
                "Staff member (optional)",
                rx.el.select(
                    rx.el.option("None", value=""),
                    rx.foreach(S.staff_choices, lambda c: rx.el.option(c.label, value=c.id)),
                    name="staff_id",
                    id="new-user-staff",
                    default_value="",
                    style=FIELD,
                ),
            ),
            style=ROW_GAP,
        ),
        rx.el.div(
            field("Initial password", password_input("password")),
            field("Repeat the password", password_input("password_repeat")),
            rx.el.button("Add user", type="submit", style=BUTTON),
            style={**ROW_GAP, "margin_top": "0.5rem"},
        ),
        rx.el.p(
            f"The password needs at least {MIN_PASSWORD_LENGTH} characters and must not contain "
            "the username; give it to the person yourself. The name shown for an account is "
            "its staff member's.",
            style={"font_size": "0.85rem", "color": styles.MUTED_TEXT, "margin": "0.4rem 0 0"},
        ),
        on_submit=S.create,
        key=S.form_version,
        aria_label="Add a user",
        data_testid="add-user-form",
        style={"border_bottom": "1px solid #e5e7eb", "padding_bottom": "0.75rem"},
    )


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
            "A role change or a deactivation ends the person's sessions at once. Password "
            "resets: healthguard user reset-password.",
            style={"font_size": "0.9rem"},
        ),
        messages(S.error, S.notice, "users"),
        create_form(),
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
