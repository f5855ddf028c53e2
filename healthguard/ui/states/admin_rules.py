"""Admin page, alarm rules: each rule's state and thresholds; turn one on or off, edit its
thresholds as JSON (validated; the workers' rule cache in Redis invalidated like the API)."""

from __future__ import annotations

import asyncio

import reflex as rx

from healthguard.security.permissions import Permission
from healthguard.ui import admin_actions as actions
from healthguard.ui.admin_actions import RuleRow
from healthguard.ui.states.admin_access import admin_check, signed_in

MANAGE = Permission.RULES_MANAGE


class AdminRulesState(rx.State):
    rows: list[RuleRow] = []
    loaded: bool = False
    error: str = ""
    notice: str = ""
    editing_key: str = ""
    editing_name: str = ""
    draft: str = ""
    draft_version: int = 0

    async def _reload(self) -> None:
        principal, origin, now = await signed_in(self)
        self.rows = await asyncio.to_thread(actions.list_rules, principal, origin, now)
        self.loaded = True

    @rx.event
    async def on_load(self):
        self.error = self.notice = self.editing_key = self.draft = ""
        self.rows, self.loaded = [], False
        try:
            await self._reload()
        except actions.NotAllowed as exc:
            self.error, self.loaded = str(exc), True

    @rx.event
    async def set_enabled(self, key: str, enabled: bool):
        self.error = self.notice = ""
        principal, origin, now = await signed_in(self)
        try:
            name = await asyncio.to_thread(
                actions.set_rule_enabled, principal, key, bool(enabled), origin, now
            )
        except (actions.NotAllowed, actions.AdminInputError) as exc:
            self.error = str(exc)
            return
        self.notice = f"{name} is {'on' if enabled else 'off'}."
        await self._reload()

    @rx.event
    async def edit(self, key: str):
        self.error = self.notice = ""
        try:
            await admin_check(self, MANAGE)
        except actions.NotAllowed as exc:
            self.error = str(exc)
            return
        row = next((r for r in self.rows if r.key == key), None)
        if row is None:
            self.error = "rule: no such alarm rule"
            return
        self.editing_key, self.editing_name, self.draft = row.key, row.name, row.params
        self.draft_version += 1

    @rx.event
    async def cancel_edit(self):
        try:
            await admin_check(self, MANAGE)
        except actions.NotAllowed as exc:
            self.error = str(exc)
        self.editing_key = self.draft = ""

    @rx.event
    async def save(self, form: dict):
        self.error = self.notice = ""
        text = str(form.get("params", ""))
        principal, origin, now = await signed_in(self)
        try:
            name = await asyncio.to_thread(
                actions.save_rule_thresholds, principal, self.editing_key, text, origin, now
            )
        except (actions.NotAllowed, actions.AdminInputError) as exc:
            self.draft = text
            self.error = f"Not saved: {exc}"
            return
        self.notice = f"Saved the thresholds of {name}; the workers use them from their next batch."
        self.editing_key = self.draft = ""
        await self._reload()
