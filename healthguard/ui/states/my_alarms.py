"""My alarms (the phone's quick-action view): the open incidents the signed-in person was
notified about or is assigned to, live, with ACK / ESCALATE / DECLINE.

One shared feed per staff member (token ``staff-<id>``), reloaded by a web worker when a
change event concerns one of its incidents; each answer goes through the one service
function every channel uses (healthguard.notify.answers.answer), checked on the server."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import reflex as rx

from healthguard.db import session_scope
from healthguard.incidents.service import list_open_incidents
from healthguard.realtime.events import staff_feed_token
from healthguard.security.permissions import Permission, Principal, allows
from healthguard.security.tokens import issue_access_token
from healthguard.settings import get_settings
from healthguard.ui.states.auth import AuthState
from healthguard.ui.states.feed import IncidentCardData, incident_card

ANSWERS = {"acknowledge", "escalate", "decline"}


def load_my_alarms(staff_id: uuid.UUID) -> list[IncidentCardData]:
    """The person's open incidents, P0 first (blocking: call through a thread)."""
    with session_scope() as session:
        return [incident_card(r) for r in list_open_incidents(session, for_staff=staff_id)]


def staff_of_token(token: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(token.removeprefix("staff-"))
    except ValueError:
        return None


class MyAlarmsFeed(rx.SharedState):
    """One staff member's open incidents, shared by every browser of that person."""

    incidents: list[IncidentCardData] = []
    loaded_at: str = ""
    load_error: str = ""

    async def _reload(self, staff_id: uuid.UUID) -> None:
        """Reload from Postgres (private: a public method would be an event handler any
        browser could call with somebody else's staff id)."""
        try:
            incidents = await asyncio.to_thread(load_my_alarms, staff_id)
        except Exception:  # keep showing the last known list
            self.load_error = "Could not reach the database; showing the last known list."
            return
        self.incidents = incidents
        self.load_error = ""
        self.loaded_at = datetime.now(UTC).isoformat()

    @rx.event
    async def follow(self):
        """Link this browser to the signed-in person's own feed (never anybody else's)."""
        auth = await self.get_state(AuthState)
        principal = await auth.current_principal()
        if principal is None:
            return rx.redirect("/login")
        if principal.staff_id is None:
            return None
        staff_id = uuid.UUID(principal.staff_id)
        feed = await self._link_to(staff_feed_token(staff_id))
        await feed._reload(staff_id)

    @rx.var
    def open_count(self) -> int:
        return len(self.incidents)


def push_api_token(principal: Principal) -> str:
    """A short-lived API access token of the signed-in person for the page's "Turn on alerts
    on this phone" control (assets/push.js), which calls the push-subscription routes; the
    routes check the permissions. Empty for a person without a staff record."""
    if principal.kind != "user" or principal.staff_id is None:
        return ""
    settings = get_settings()
    return issue_access_token(
        user_id=principal.id,
        role=principal.role or "",
        key=settings.secret("secret_key"),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.access_token_ttl_seconds,
        now=datetime.now(UTC),
    )


class MyAlarmsState(rx.State):
    message: str = ""
    error: str = ""
    no_staff: bool = False
    #: For assets/push.js only (see push_api_token); renewed on each tap of the control.
    push_token: str = ""

    @rx.event
    async def on_load(self):
        auth = await self.get_state(AuthState)
        principal = await auth.current_principal()
        if principal is None or not allows(principal, Permission.INCIDENTS_READ):
            return rx.redirect("/login")
        self.no_staff = principal.staff_id is None
        self.message = ""
        self.push_token = push_api_token(principal)
        return MyAlarmsFeed.follow()

    @rx.event
    async def renew_push_token(self):
        """A fresh token for the push control (a tap on it), so a page open all shift works."""
        auth = await self.get_state(AuthState)
        principal = await auth.current_principal()
        if principal is None:
            self.push_token = ""
            return rx.redirect("/login")
        self.push_token = push_api_token(principal)
        return None

    @rx.event
    async def answer(self, incident_id: str, action: str):
        """ACK / ESCALATE / DECLINE from the phone: the same service as SMS, email and push."""
        from healthguard.notify.answers import answer

        auth = await self.get_state(AuthState)
        principal = await auth.current_principal()
        if principal is None:
            return rx.redirect("/login")
        if action not in ANSWERS or principal.staff_id is None:
            self.message = "That answer is not possible here."
            return None
        staff_id = principal.staff_id
        origin = auth._origin()

        def act() -> str:
            try:
                target = uuid.UUID(incident_id)
            except ValueError:
                return "No such incident."
            with session_scope() as session:
                result = answer(
                    session,
                    staff_id=staff_id,
                    incident_id=target,
                    action=action,
                    via="app",
                    now=datetime.now(UTC),
                    origin=origin,
                )
            return result.message

        self.message = await asyncio.to_thread(act)
        return None
