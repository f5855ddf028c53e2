"""Admin page, integrations and keys: list, create (the key shown once), revoke."""

from __future__ import annotations

import asyncio

import reflex as rx

from healthguard.security.permissions import Permission
from healthguard.ui import admin_actions as actions
from healthguard.ui.admin_actions import IntegrationRow
from healthguard.ui.states.admin_access import admin_check, signed_in

MANAGE = Permission.INTEGRATION_KEYS_MANAGE


class AdminIntegrationsState(rx.State):
    rows: list[IntegrationRow] = []
    loaded: bool = False
    error: str = ""
    notice: str = ""
    new_key: str = ""  # the key just created: shown once, cleared by the next event
    new_key_name: str = ""
    new_key_kind: str = ""
    confirming: str = ""  # id of the integration whose revocation awaits a "yes"
    form_version: int = 0  # changes after a create, so the form is emptied

    async def _reload(self) -> None:
        principal, origin, now = await signed_in(self)
        self.rows = await asyncio.to_thread(actions.list_integrations, principal, origin, now)
        self.loaded = True

    def _clear(self) -> None:
        self.error = self.notice = self.new_key = self.new_key_name = self.new_key_kind = ""

    @rx.event
    async def on_load(self):
        self._clear()
        self.confirming = ""
        self.rows, self.loaded = [], False
        try:
            await self._reload()
        except actions.NotAllowed as exc:
            self.error, self.loaded = str(exc), True

    @rx.event
    async def create(self, form: dict):
        self._clear()
        principal, origin, now = await signed_in(self)
        try:
            name, key = await asyncio.to_thread(
                actions.create_integration, principal, form, origin, now
            )
        except (actions.NotAllowed, actions.AdminInputError) as exc:
            self.error = str(exc)
            return
        self.new_key, self.new_key_name = key, name
        self.new_key_kind = str(form.get("kind", ""))
        self.form_version += 1
        await self._reload()

    @rx.event
    async def ask_revoke(self, integration_id: str):
        self._clear()
        try:
            await admin_check(self, MANAGE)
        except actions.NotAllowed as exc:
            self.error = str(exc)
            return
        self.confirming = integration_id

    @rx.event
    async def cancel_revoke(self):
        try:
            await admin_check(self, MANAGE)
        except actions.NotAllowed as exc:
            self.error = str(exc)
        self.confirming = ""

    @rx.event
    async def revoke(self, integration_id: str):
        self._clear()
        self.confirming = ""
        principal, origin, now = await signed_in(self)
        try:
            name = await asyncio.to_thread(
                actions.revoke_integration, principal, integration_id, origin, now
            )
        except (actions.NotAllowed, actions.AdminInputError) as exc:
            self.error = str(exc)
            return
        self.notice = f"{name} is disabled and its key revoked: its requests are refused now."
        await self._reload()
