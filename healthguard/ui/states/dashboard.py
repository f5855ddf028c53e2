"""The dashboard's private state: which ward this browser looks at, and what the signed-in
person may do there. Every handler re-checks the session and the ward scope on the server."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime

import reflex as rx

from healthguard.db import session_scope
from healthguard.incidents.access import acknowledge_as
from healthguard.incidents.actions import IncidentStateError
from healthguard.security.permissions import Permission, Principal, allows
from healthguard.security.scope import ward_scope
from healthguard.ui.states.auth import AuthState
from healthguard.ui.states.feed import WardFeed
from healthguard.wards.service import list_wards

ALL_WARDS = "ALL"


@dataclasses.dataclass
class WardOption:
    code: str = ""
    name: str = ""


def wards_in_scope(principal: Principal) -> tuple[list[WardOption], bool]:
    """The wards this person may watch, and whether they may watch the whole hospital."""
    with session_scope() as session:
        scope = ward_scope(session, principal, now=datetime.now(UTC))
        wards = [
            WardOption(code=w.code, name=w.name) for w in list_wards(session) if scope.covers(w.id)
        ]
    return wards, scope.all_wards


class DashboardState(rx.State):
    wards: list[WardOption] = []
    hospital_wide: bool = False
    can_acknowledge: bool = False
    selected_ward: str = ""
    error: str = ""
    message: str = ""

    async def _principal(self, permission: Permission) -> Principal | None:
        return await (await self.get_state(AuthState)).allowed_principal(permission)

    @rx.event
    async def on_load(self):
        principal = await self._principal(Permission.DASHBOARD_VIEW)
        if principal is None:
            return rx.redirect("/login")
        try:
            self.wards, self.hospital_wide = await asyncio.to_thread(wards_in_scope, principal)
            self.error = ""
        except Exception:
            self.error = "The ward list could not be loaded; is the database running?"
            return None
        self.can_acknowledge = allows(principal, Permission.INCIDENTS_ACKNOWLEDGE)
        requested = (self.router.url.query_parameters.get("ward") or "").upper()
        codes = [w.code for w in self.wards]
        if requested in codes or (requested == ALL_WARDS and self.hospital_wide):
            self.selected_ward = requested
        elif self.selected_ward not in codes and not (
            self.selected_ward == ALL_WARDS and self.hospital_wide
        ):
            self.selected_ward = ALL_WARDS if self.hospital_wide else (codes[0] if codes else "")
        if not self.selected_ward:
            self.error = "You are not on shift in, or covering, any ward right now."
            return None
        return WardFeed.follow(self._feed_ward())

    @rx.event
    async def select_ward(self, code: str):
        code = code.upper()
        allowed = {w.code for w in self.wards} | ({ALL_WARDS} if self.hospital_wide else set())
        if code not in allowed:
            self.error = f"You cannot watch ward {code}."
            return None
        self.selected_ward = code
        self.error = ""
        return WardFeed.follow(self._feed_ward())

    @rx.event
    async def acknowledge(self, incident_id: str):
        principal = await self._principal(Permission.INCIDENTS_ACKNOWLEDGE)
        if principal is None:
            self.message = "Your role may not acknowledge incidents."
            return
        auth = await self.get_state(AuthState)
        origin = auth._origin()

        def act() -> str:
            try:
                done = acknowledge_as(
                    principal,
                    uuid.UUID(incident_id),
                    now=datetime.now(UTC),
                    ip=origin.ip,
                    user_agent=origin.user_agent,
                )
            except ValueError:
                return "No such incident."
            except IncidentStateError as exc:
                return exc.message
            return f"Incident #{done.number} acknowledged."

        self.message = await asyncio.to_thread(act)

    def _feed_ward(self) -> str:
        return "" if self.selected_ward == ALL_WARDS else self.selected_ward

    @rx.var
    def selected_ward_name(self) -> str:
        if self.selected_ward == ALL_WARDS:
            return "All wards"
        for ward in self.wards:
            if ward.code == self.selected_ward:
                return ward.name
        return ""
