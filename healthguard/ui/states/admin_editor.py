"""What the admin page's list-and-edit sections share (escalation policies, alarm rules): load
the rows, open one in the editor as text, close it, save it. Each state says how to list, which
row to edit and what a refused save shows; every handler checks the permission again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

import reflex as rx

from healthguard.security.accounts import Origin
from healthguard.security.permissions import Permission, Principal
from healthguard.ui import admin_actions as actions
from healthguard.ui.states.admin_access import admin_check, signed_in

# (principal, key of the edited row, edited text, origin, now) -> the saved row's name
SaveAction = Callable[[Principal | None, str, str, Origin, datetime], str]


class AdminEditorState(rx.State, mixin=True):
    rows: list[Any] = []  # each state narrows the type
    loaded: bool = False
    error: str = ""
    field_errors: list[str] = []  # "steps[1].delay_seconds: must not be negative, got -5"
    notice: str = ""
    editing: str = ""  # key of the row in the editor; "" when the editor is closed
    editing_name: str = ""
    draft: str = ""  # the text in the editor (kept after a refused save)
    draft_version: int = 0  # changes when another draft is loaded into the editor

    # --- what each section says --------------------------------------------------------------

    def _permission(self) -> Permission:
        raise NotImplementedError

    def _list(self, principal: Principal | None, origin: Origin, now: datetime) -> list[Any]:
        """The rows (called in a worker thread; checks the permission)."""
        raise NotImplementedError

    def _draft_of(self, key: str) -> tuple[str, str] | None:
        """(name, text to edit) of the row with this key; None when there is none."""
        raise NotImplementedError

    def _missing(self) -> str:
        """The error when the row to edit is gone, "field: message"."""
        raise NotImplementedError

    def _not_saved(self, exc: Exception, text: str) -> None:
        """Show a refused save (NotAllowed or the section's input error)."""
        raise NotImplementedError

    def _opened(self, key: str) -> None:
        """After a row is opened in the editor: a section with more fields fills them."""

    # --- shared steps --------------------------------------------------------------------------

    def _clear(self) -> None:
        self.error = self.notice = ""
        self.field_errors = []

    def _close_editor(self) -> None:
        self.editing = self.draft = ""
        self.field_errors = []

    async def _reload(self) -> None:
        principal, origin, now = await signed_in(self)
        self.rows = await asyncio.to_thread(self._list, principal, origin, now)
        self.loaded = True

    async def _refused(self) -> bool:
        """True (the error shown, the refusal audited) unless the permission is held."""
        try:
            await admin_check(self, self._permission())
        except actions.NotAllowed as exc:
            self.error = str(exc)
            return True
        return False

    async def _save_draft(
        self, text: str, save: SaveAction, errors: tuple[type[Exception], ...]
    ) -> str | None:
        """Save the edited text; the saved row's name (the editor closed, the rows reloaded),
        or None when refused (``_not_saved`` shows why)."""
        self._clear()
        refusals: tuple[type[Exception], ...] = (actions.NotAllowed, *errors)
        principal, origin, now = await signed_in(self)
        try:
            name = await asyncio.to_thread(save, principal, self.editing, text, origin, now)
        except refusals as exc:
            self._not_saved(exc, text)
            return None
        self._close_editor()
        return name

    # --- events --------------------------------------------------------------------------------

    @rx.event
    async def on_load(self):
        self._clear()
        self._close_editor()
        self.rows, self.loaded = [], False
        try:
            await self._reload()
        except actions.NotAllowed as exc:
            self.error, self.loaded = str(exc), True

    @rx.event
    async def edit(self, key: str):
        self._clear()
        if await self._refused():
            return
        found = self._draft_of(key)
        if found is None:
            self.error = self._missing()
            return
        self.editing, (self.editing_name, self.draft) = key, found
        self._opened(key)
        self.draft_version += 1

    @rx.event
    async def cancel_edit(self):
        await self._refused()
        self._close_editor()
