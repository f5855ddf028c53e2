"""Route constants: one place to change a URL."""

from __future__ import annotations

from healthguard.security.permissions import Permission, Principal, allows

DASHBOARD = "/"
LOGIN = "/login"
AUDIT = "/audit"
MY_ALARMS = "/my"


def home_for(principal: Principal | None) -> str:
    """Where a person lands after signing in: what their role is for."""
    if principal is None:
        return LOGIN
    if allows(principal, Permission.DASHBOARD_VIEW):
        return DASHBOARD
    if allows(principal, Permission.AUDIT_READ):
        return AUDIT
    return LOGIN
