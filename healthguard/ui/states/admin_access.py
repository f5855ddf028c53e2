"""Who may open the admin page: the check shared by every admin section's state.

The page itself only says "not allowed" in words to a signed-in person without an admin
permission (no data is loaded); each section's state checks its own permission again in its
on_load and in every event handler (healthguard/ui/admin_actions.check)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import reflex as rx

from healthguard.security.accounts import Origin
from healthguard.security.permissions import Permission, Principal, allows
from healthguard.ui import admin_actions as actions
from healthguard.ui import routes
from healthguard.ui.states.auth import AuthState

ADMIN_PERMISSIONS = (
    Permission.INTEGRATION_KEYS_MANAGE,
    Permission.USERS_MANAGE,
    Permission.RULES_MANAGE,
)
REFUSED_TEXT = "Not allowed: the administration page is for administrators only."


async def signed_in(state: rx.State) -> tuple[Principal | None, Origin, datetime]:
    """(principal or None when not signed in, origin, now) of the browser sending an event."""
    auth = await state.get_state(AuthState)
    return await auth.current_principal(), auth._origin(), datetime.now(UTC)


async def admin_check(
    state: rx.State, permission: Permission
) -> tuple[Principal, Origin, datetime]:
    """The signed-in principal when allowed; else NotAllowed (the refusal audited)."""
    principal, origin, now = await signed_in(state)
    checked = await asyncio.to_thread(actions.check, principal, permission, origin, now)
    return checked, origin, now


class AdminAccessState(rx.State):
    access: str = "checking"  # checking, allowed, refused

    @rx.event
    async def on_load(self):
        principal, _, _ = await signed_in(self)
        if principal is None:
            return rx.redirect(routes.LOGIN)
        allowed = all(allows(principal, p) for p in ADMIN_PERMISSIONS)
        self.access = "allowed" if allowed else "refused"
        return None
