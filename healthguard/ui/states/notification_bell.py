"""The header bell's own state in this browser: whether the signed-in person gets notifications
(an account without a staff record gets none, and the bell says so), "Mark read" and "Mark
all read" with their answer in words.

The bell's data (unread alarms, the list) lives in the person's shared feed
``MyAlarmsFeed`` (healthguard/ui/states/my_alarms.py); marking read goes through
``healthguard.notify.bell.mark_my_notifications_read`` (the API's function too), which checks
on the server that the notifications are the caller's and publishes ``notification.read``:
the web worker then reloads the feed and every browser of that person updates.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime

import reflex as rx

from healthguard.db import session_scope
from healthguard.notify.bell import NotYours, mark_my_notifications_read
from healthguard.security.permissions import Permission, allows
from healthguard.ui.states.auth import AuthState
from healthguard.ui.states.my_alarms import MyAlarmsFeed

log = logging.getLogger(__name__)

NO_STAFF_REASON = (
    "No notifications: your account is not linked to a staff member, so HealthGuard sends you none."
)
DATABASE_DOWN = "Could not reach the database; nothing was marked read. Try again."


def mark_read_blocking(staff_id: uuid.UUID, incident_id: uuid.UUID | None) -> int:
    """Mark my notifications about one incident (or all of mine) read; how many changed."""
    with session_scope() as session:
        done = mark_my_notifications_read(
            session, staff_id, datetime.now(UTC), incident_id=incident_id
        )
    return done.marked


class BellState(rx.State):
    no_staff: bool = False
    message: str = ""

    async def _staff_id(self) -> tuple[bool, uuid.UUID | None]:
        """(signed in with self:read, the person's staff id or None)."""
        auth = await self.get_state(AuthState)
        principal = await auth.current_principal()
        if principal is None or not allows(principal, Permission.SELF_READ):
            return False, None
        return True, uuid.UUID(principal.staff_id) if principal.staff_id else None

    @rx.event
    async def start(self):
        """On every page: follow my own feed (the bell's data), or say why there is none."""
        signed_in, staff_id = await self._staff_id()
        if not signed_in:
            return None  # the page's own on_load sends the browser to sign in
        self.no_staff = staff_id is None
        return None if staff_id is None else MyAlarmsFeed.follow()

    async def _mark(self, incident_id: str | None):
        signed_in, staff_id = await self._staff_id()
        if not signed_in:
            return rx.redirect("/login")
        if staff_id is None:
            self.message = NO_STAFF_REASON
            return None
        target: uuid.UUID | None = None
        if incident_id is not None:
            try:
                target = uuid.UUID(incident_id)
            except ValueError:
                self.message = "incident_id: that is not an incident of yours."
                return None
        try:
            marked = await asyncio.to_thread(mark_read_blocking, staff_id, target)
        except NotYours:
            self.message = "That alarm is not yours: nothing was marked read."
            return None
        except Exception:
            log.warning("bell: could not mark read for %s", staff_id, exc_info=True)
            self.message = DATABASE_DOWN
            return None
        self.message = "" if marked else "Nothing unread there (already read or answered)."
        return None

    @rx.event
    async def mark_read(self, incident_id: str):
        """Mark my notifications about this alarm read (mine only: checked on the server)."""
        return await self._mark(incident_id)

    @rx.event
    async def mark_all_read(self):
        """Mark every unread notification of mine read."""
        return await self._mark(None)
