"""My availability, set from the header of every page: available, busy with a patient, on a
break, off duty, with its automatic reset time ("until 19:00").

The same path as ``PUT /api/v1/staff/{id}/availability`` (healthguard/api/oncall.py):
``staff_service.may_set_availability`` then ``availability.set_availability`` (rules, Postgres,
audit record, Redis cache after commit). The handlers check the session and the
``availability:set`` permission on the server; the choice is the only input and is checked by
the service (an unknown one is refused naming the field). The header re-reads it every minute,
so an automatic reset (the end of a break, of a shift) shows without a reload.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import reflex as rx

from healthguard.db import session_scope
from healthguard.oncall import availability as avail
from healthguard.oncall import staff_service as staff_svc
from healthguard.security.permissions import Permission, Principal, allows
from healthguard.settings import get_settings
from healthguard.ui.states.auth import AuthState

log = logging.getLogger(__name__)

#: The choices, in the words a nurse uses.
AVAILABILITY_LABELS: dict[str, str] = {
    "available": "Available",
    "busy": "Busy with a patient",
    "on_break": "On a break",
    "off": "Off duty",
}
DATABASE_DOWN = "Could not reach the database; your availability was not changed. Try again."


def hospital_zone() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def until_words(until: datetime | None, zone: ZoneInfo, now: datetime) -> str:
    """``until 19:00`` (today, hospital time), ``until tomorrow 07:00``, ``until 3 Dec 07:00``;
    empty when open-ended."""
    if until is None:
        return ""
    local, today = until.astimezone(zone), now.astimezone(zone).date()
    if local.date() == today:
        return f"until {local:%H:%M}"
    if local.date() == today + timedelta(days=1):
        return f"until tomorrow {local:%H:%M}"
    return f"until {local.day} {local:%b %H:%M}"


def read_availability(staff_id: uuid.UUID, now: datetime) -> tuple[str, datetime | None]:
    """(effective status, until) of the person from Postgres (blocking)."""
    with session_scope() as session:
        state = avail.states_from_postgres(session, [staff_id]).get(staff_id)
    if state is None:
        raise LookupError("No such staff member.")
    status = avail.effective_status(state.status, state.until, now)
    return status, (state.until if status == state.status else None)


class MyAvailabilityState(rx.State):
    can_set: bool = False
    status: str = ""
    until_text: str = ""
    error: str = ""
    saving: bool = False

    async def _me(self) -> tuple[Principal | None, uuid.UUID | None]:
        auth = await self.get_state(AuthState)
        principal = await auth.current_principal()
        if principal is None:
            return None, None
        if not allows(principal, Permission.AVAILABILITY_SET) or not principal.staff_id:
            return principal, None
        return principal, uuid.UUID(principal.staff_id)

    def _show(self, status: str, until: datetime | None, now: datetime) -> None:
        self.status = status
        self.until_text = until_words(until, hospital_zone(), now)

    @rx.event
    async def load(self, _tick: str = ""):
        """On mount and once a minute: my availability now (an expired break shows as
        available, before the reset job has written it)."""
        principal, staff_id = await self._me()
        if principal is None:
            self.can_set = False
            return None
        self.can_set = staff_id is not None
        if staff_id is None:
            return None
        now = datetime.now(UTC)
        try:
            status, until = await asyncio.to_thread(read_availability, staff_id, now)
        except LookupError:
            self.can_set = False
            return None
        except Exception:
            log.warning("availability: could not read %s", staff_id, exc_info=True)
            self.error = "Could not reach the database; your availability may be out of date."
            return None
        self._show(status, until, now)
        return None

    @rx.event
    async def choose(self, status: str):
        """Set my availability through the same service as the API."""
        auth = await self.get_state(AuthState)
        principal, staff_id = await self._me()
        if principal is None:
            yield rx.redirect("/login")
            return
        if staff_id is None:
            self.error = "Only staff members set an availability; your account is not one."
            return
        now, origin = datetime.now(UTC), auth._origin()
        actor = principal.audit_name

        def store() -> tuple[str, datetime | None] | str:
            with session_scope() as session:
                if not staff_svc.may_set_availability(session, principal, staff_id, now=now):
                    return "You can set your own availability only."
                try:
                    staff = avail.set_availability(
                        session,
                        staff_id,
                        status,
                        until=None,
                        actor=actor,
                        now=now,
                        ip=origin.ip,
                        user_agent=origin.user_agent,
                    )
                except avail.AvailabilityError as exc:
                    return f"Availability not changed: {exc.field} {exc.message}."
                except LookupError:
                    return "Availability not changed: your staff record was not found."
                return staff.availability, staff.availability_until

        self.saving = True
        self.error = ""
        yield
        try:
            result = await asyncio.to_thread(store)
        except Exception:
            log.warning("availability: could not set %s", staff_id, exc_info=True)
            result = DATABASE_DOWN
        self.saving = False
        if isinstance(result, str):
            self.error = result
            return
        self._show(result[0], result[1], now)

    @rx.var
    def label(self) -> str:
        return AVAILABILITY_LABELS.get(self.status, "")
