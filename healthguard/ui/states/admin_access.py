"""Who may open the admin page: the check shared by every admin section's state.

The page has one on_load (``AdminAccessState.on_load``): it checks the admin permissions once
per visit. Someone signed in without them reads "not allowed" in words, one ``access.denied``
row is written for the visit and no section loads anything; an admin's visit then loads each
section, whose state checks its own permission again in its loader and in every event handler
(healthguard/ui/admin_actions.check)."""

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


def page_access(principal: Principal, origin: Origin, now: datetime) -> str:
    """The visit's access: "allowed" with every admin permission; else "refused", the visit's
    one refusal audited (``access.denied`` naming the first permission missing)."""
    for permission in ADMIN_PERMISSIONS:
        if not allows(principal, permission):
            try:
                actions.check(principal, permission, origin, now)
            except actions.NotAllowed:
                return "refused"
    return "allowed"


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
        """The page's only loader: one check, then (for an admin) each section's loader."""
        # Imported here: every section's state imports this module for its checks.
        from healthguard.ui.states.admin_integrations import AdminIntegrationsState
        from healthguard.ui.states.admin_policies import AdminPoliciesState
        from healthguard.ui.states.admin_rules import AdminRulesState
        from healthguard.ui.states.admin_users import AdminUsersState

        principal, origin, now = await signed_in(self)
        if principal is None:
            self.access = "checking"
            return rx.redirect(routes.LOGIN)
        self.access = await asyncio.to_thread(page_access, principal, origin, now)
        if self.access != "allowed":
            return None
        return [
            AdminIntegrationsState.on_load,
            AdminUsersState.on_load,
            AdminPoliciesState.on_load,
            AdminRulesState.on_load,
        ]
