"""Route constants: one place to change a URL."""

from __future__ import annotations

from healthguard.security.permissions import ROLE_PERMISSIONS, Permission, Principal, allows

DASHBOARD = "/"
LOGIN = "/login"
AUDIT = "/audit"
MY_ALARMS = "/my"
STAFF = "/staff"
ADMIN = "/admin"
PATIENT = "/patients/[patient_id]"
PATIENT_PREFIX = "/patients/"


def patient_path(patient_id: object) -> str:
    """The patient page of one patient."""
    return f"{PATIENT_PREFIX}{patient_id}"


def patient_id_of(path: str) -> str:
    """The patient id in a patient page's path ("" when it is not one)."""
    path = path.split("?", 1)[0].rstrip("/")
    return path.removeprefix(PATIENT_PREFIX) if path.startswith(PATIENT_PREFIX) else ""


INCIDENT = "/incidents/[incident_id]"
INCIDENT_PREFIX = "/incidents/"


def incident_path(incident_id: object) -> str:
    """The incident page of one incident."""
    return f"{INCIDENT_PREFIX}{incident_id}"


# The pages in the header's navigation: (label, route, what a role needs to use the page).
# Showing a link is only a convenience: every page checks the permission on the server.
NAVIGATION: tuple[tuple[str, str, frozenset[Permission]], ...] = (
    ("Dashboard", DASHBOARD, frozenset({Permission.DASHBOARD_VIEW})),
    ("Staff and rota", STAFF, frozenset({Permission.STAFF_READ})),
    (
        "Administration",
        ADMIN,
        frozenset(
            {
                Permission.INTEGRATION_KEYS_MANAGE,
                Permission.USERS_MANAGE,
                Permission.RULES_MANAGE,
            }
        ),
    ),
    ("Audit log", AUDIT, frozenset({Permission.AUDIT_READ})),
)


def pages_for_role(role: str) -> list[dict[str, str]]:
    """The navigation links a role can use, in header order ({"label", "href"})."""
    granted = ROLE_PERMISSIONS.get(role, frozenset())
    return [{"label": label, "href": href} for label, href, needs in NAVIGATION if needs <= granted]


def home_for(principal: Principal | None) -> str:
    """Where a person lands after signing in: what their role is for."""
    if principal is None:
        return LOGIN
    if allows(principal, Permission.DASHBOARD_VIEW):
        return DASHBOARD
    if allows(principal, Permission.AUDIT_READ):
        return AUDIT
    return LOGIN
