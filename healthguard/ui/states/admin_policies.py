"""Admin page, escalation policies: each policy's steps per priority and ward; edit one as
JSON, checked by ``validate_policy`` (every error names its field)."""

from __future__ import annotations

from datetime import datetime

import reflex as rx

from healthguard.oncall.default_policies import InvalidPolicy
from healthguard.security.accounts import Origin
from healthguard.security.permissions import Permission, Principal
from healthguard.ui import admin_actions as actions
from healthguard.ui.admin_actions import PolicyRow
from healthguard.ui.states.admin_editor import AdminEditorState

MANAGE = Permission.RULES_MANAGE


class AdminPoliciesState(AdminEditorState, rx.State):
    rows: list[PolicyRow] = []

    def _permission(self) -> Permission:
        return MANAGE

    def _list(self, principal: Principal | None, origin: Origin, now: datetime) -> list[PolicyRow]:
        return actions.list_policies(principal, origin, now)

    def _draft_of(self, key: str) -> tuple[str, str] | None:
        return next(((r.name, r.definition) for r in self.rows if r.id == key), None)

    def _missing(self) -> str:
        return "policy: no such escalation policy"

    def _not_saved(self, exc: Exception, text: str) -> None:
        if isinstance(exc, InvalidPolicy):
            self.draft = text
            self.error = "Not saved: correct the fields below."
            self.field_errors = [f"{e.field}: {e.message}" for e in exc.errors]
        else:
            self.error = str(exc)

    @rx.event
    async def save(self, form: dict):
        text = str(form.get("definition", ""))
        name = await self._save_draft(text, actions.save_policy, (InvalidPolicy,))
        if name is None:
            return
        self.notice = f"Saved {name}. New incidents use it; running escalations keep theirs."
        await self._reload()
