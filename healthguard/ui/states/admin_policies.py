"""Admin page, escalation policies: each policy's steps per priority and ward; edit one as
JSON, checked by ``validate_policy`` (every error names its field)."""

from __future__ import annotations

import asyncio

import reflex as rx

from healthguard.oncall.default_policies import InvalidPolicy
from healthguard.security.permissions import Permission
from healthguard.ui import admin_actions as actions
from healthguard.ui.admin_actions import PolicyRow
from healthguard.ui.states.admin_access import admin_check, signed_in

MANAGE = Permission.RULES_MANAGE


class AdminPoliciesState(rx.State):
    rows: list[PolicyRow] = []
    loaded: bool = False
    error: str = ""
    field_errors: list[str] = []  # "steps[1].delay_seconds: must not be negative, got -5"
    notice: str = ""
    editing_id: str = ""
    editing_name: str = ""
    draft: str = ""  # the JSON in the editor (kept after a refused save)
    draft_version: int = 0  # changes when another draft is loaded into the editor

    async def _reload(self) -> None:
        principal, origin, now = await signed_in(self)
        self.rows = await asyncio.to_thread(actions.list_policies, principal, origin, now)
        self.loaded = True

    @rx.event
    async def on_load(self):
        self.error = self.notice = self.editing_id = self.draft = ""
        self.field_errors = []
        self.rows, self.loaded = [], False
        try:
            await self._reload()
        except actions.NotAllowed as exc:
            self.error, self.loaded = str(exc), True

    @rx.event
    async def edit(self, policy_id: str):
        self.error = self.notice = ""
        self.field_errors = []
        try:
            await admin_check(self, MANAGE)
        except actions.NotAllowed as exc:
            self.error = str(exc)
            return
        row = next((r for r in self.rows if r.id == policy_id), None)
        if row is None:
            self.error = "policy: no such escalation policy"
            return
        self.editing_id, self.editing_name, self.draft = row.id, row.name, row.definition
        self.draft_version += 1

    @rx.event
    async def cancel_edit(self):
        try:
            await admin_check(self, MANAGE)
        except actions.NotAllowed as exc:
            self.error = str(exc)
        self.editing_id = self.draft = ""
        self.field_errors = []

    @rx.event
    async def save(self, form: dict):
        self.error = self.notice = ""
        self.field_errors = []
        text = str(form.get("definition", ""))
        principal, origin, now = await signed_in(self)
        try:
            name = await asyncio.to_thread(
                actions.save_policy, principal, self.editing_id, text, origin, now
            )
        except actions.NotAllowed as exc:
            self.error = str(exc)
            return
        except InvalidPolicy as exc:
            self.draft = text
            self.error = "Not saved: correct the fields below."
            self.field_errors = [f"{e.field}: {e.message}" for e in exc.errors]
            return
        self.notice = f"Saved {name}. New incidents use it; running escalations keep theirs."
        self.editing_id = self.draft = ""
        await self._reload()
