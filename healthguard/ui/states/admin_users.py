"""Admin page, users: add an account (initial password, optional staff member); every account
with role and ward; change a role, deactivate (with a confirm step) or reactivate."""

from __future__ import annotations

import asyncio
import dataclasses

import reflex as rx

from healthguard.security.permissions import Permission
from healthguard.ui import admin_actions as actions
from healthguard.ui.admin_actions import StaffChoice
from healthguard.ui.states.admin_access import admin_check, signed_in

MANAGE = Permission.USERS_MANAGE
ROLES = actions.ROLES
# The add-a-user form's labels, so an error names the field as the form does.
FIELD_LABELS = {
    "username": "Username",
    "role": "Role",
    "staff_id": "Staff member",
    "password": "Initial password",
    "password_repeat": "Repeat the password",
}


def in_words(exc: actions.AdminInputError) -> str:
    """The error naming the field as the form labels it: "Username: is already taken"."""
    return f"{FIELD_LABELS.get(exc.field, exc.field)}: {exc.message}"


@dataclasses.dataclass
class UserRow:
    username: str = ""
    role: str = ""
    ward: str = ""
    staff_name: str = ""
    active: bool = True
    status: str = ""


class AdminUsersState(rx.State):
    rows: list[UserRow] = []
    roles: list[str] = ROLES
    loaded: bool = False
    error: str = ""
    notice: str = ""
    confirming: str = ""  # username whose deactivation awaits a "yes"
    staff_choices: list[StaffChoice] = []  # staff members without an account yet
    form_version: int = 0  # changes after an account is added, so the form is emptied

    async def _reload(self) -> None:
        principal, origin, now = await signed_in(self)
        accounts = await asyncio.to_thread(actions.list_accounts, principal, origin, now)
        self.staff_choices = await asyncio.to_thread(actions.unlinked_staff, principal, origin, now)
        self.rows = [
            UserRow(
                username=a.username,
                role=a.role,
                ward=a.ward or "—",
                staff_name=a.staff_name,
                active=a.active,
                status="Active" if a.active else "Deactivated",
            )
            for a in accounts
        ]
        self.loaded = True

    @rx.event
    async def on_load(self):
        self.error = self.notice = self.confirming = ""
        self.rows, self.loaded = [], False
        try:
            await self._reload()
        except actions.NotAllowed as exc:
            self.error, self.loaded = str(exc), True

    @rx.event
    async def create(self, form: dict):
        self.error = self.notice = self.confirming = ""
        principal, origin, now = await signed_in(self)
        try:
            username, role = await asyncio.to_thread(
                actions.create_account, principal, form, origin, now
            )
        except actions.NotAllowed as exc:
            self.error = str(exc)
            return
        except actions.AdminInputError as exc:
            self.error = in_words(exc)
            return
        self.notice = f"Added {username} ({role}): they can sign in now with the initial password."
        self.form_version += 1
        await self._reload()

    @rx.event
    async def change_role(self, form: dict):
        self.error = self.notice = ""
        username, role = str(form.get("username", "")), str(form.get("role", ""))
        principal, origin, now = await signed_in(self)
        try:
            await asyncio.to_thread(actions.change_role, principal, username, role, origin, now)
        except (actions.NotAllowed, actions.AdminInputError) as exc:
            self.error = str(exc)
            return
        self.notice = f"{username} is now {role}; their sessions were ended."
        await self._reload()

    @rx.event
    async def ask_deactivate(self, username: str):
        self.error = self.notice = ""
        try:
            await admin_check(self, MANAGE)
        except actions.NotAllowed as exc:
            self.error = str(exc)
            return
        self.confirming = username

    @rx.event
    async def cancel_deactivate(self):
        try:
            await admin_check(self, MANAGE)
        except actions.NotAllowed as exc:
            self.error = str(exc)
        self.confirming = ""

    @rx.event
    async def set_active(self, username: str, active: bool):
        self.error = self.notice = ""
        self.confirming = ""
        principal, origin, now = await signed_in(self)
        try:
            await asyncio.to_thread(actions.set_active, principal, username, active, origin, now)
        except (actions.NotAllowed, actions.AdminInputError) as exc:
            self.error = str(exc)
            return
        self.notice = (
            f"{username} can sign in again."
            if active
            else f"{username} is deactivated: every session and token of theirs has ended."
        )
        await self._reload()
