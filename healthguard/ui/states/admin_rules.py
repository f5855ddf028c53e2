"""Admin page, alarm rules: each rule's state and thresholds; turn one on or off; edit one:
its name, priority and on/off state in a form, its thresholds as JSON (validated; the
workers' rule cache in Redis invalidated like the API)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import reflex as rx

from healthguard.models.base import PRIORITIES
from healthguard.security.accounts import Origin
from healthguard.security.permissions import Permission, Principal
from healthguard.ui import admin_actions as actions
from healthguard.ui.admin_actions import RuleRow
from healthguard.ui.states.admin_access import signed_in
from healthguard.ui.states.admin_editor import AdminEditorState

MANAGE = Permission.RULES_MANAGE


class AdminRulesState(AdminEditorState, rx.State):
    rows: list[RuleRow] = []
    priorities: list[str] = list(PRIORITIES)
    draft_name: str = ""  # the edited rule's fields besides its thresholds (``draft``)
    draft_priority: str = ""
    draft_enabled: bool = True

    def _permission(self) -> Permission:
        return MANAGE

    def _list(self, principal: Principal | None, origin: Origin, now: datetime) -> list[RuleRow]:
        return actions.list_rules(principal, origin, now)

    def _draft_of(self, key: str) -> tuple[str, str] | None:
        return next(((r.name, r.params) for r in self.rows if r.key == key), None)

    def _missing(self) -> str:
        return "rule: no such alarm rule"

    def _opened(self, key: str) -> None:
        row = next(r for r in self.rows if r.key == key)
        self.draft_name, self.draft_priority, self.draft_enabled = (
            row.name,
            row.priority,
            row.enabled,
        )

    def _not_saved(self, exc: Exception, text: str) -> None:
        self.draft = text
        self.error = f"Not saved: {exc}"

    @rx.event
    async def set_enabled(self, key: str, enabled: bool):
        self._clear()
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
    async def save(self, form: dict):
        """Name, priority, on/off and the thresholds (JSON) of the rule in the editor."""
        text = str(form.get("params", ""))
        name_text = str(form.get("name", ""))
        priority = str(form.get("priority", ""))
        enabled = str(form.get("enabled", "")).lower() in {"on", "true", "1"}
        self.draft_name, self.draft_priority, self.draft_enabled = name_text, priority, enabled

        def store(
            principal: Principal | None, key: str, text: str, origin: Origin, now: datetime
        ) -> str:
            return actions.save_rule(
                principal,
                key,
                text,
                origin,
                now,
                name=name_text,
                priority=priority,
                enabled=enabled,
            )

        name = await self._save_draft(text, store, (actions.AdminInputError,))
        if name is None:
            return
        self.notice = f"Saved {name}; the workers use it from their next batch."
        await self._reload()
