"""Who may do what: the permission matrix, the single source of truth for authorisation.

Enforced on the server in API dependencies, in every Reflex event handler and on_load, and
in jobs; the UI only hides what this module already forbids. docs/SECURITY.md shows the same
matrix as a table (a test keeps the two in step). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from healthguard.models.users import UserRole


class Permission(StrEnum):
    # Hospital structure and live screens
    WARDS_READ = "wards:read"
    DASHBOARD_VIEW = "dashboard:view"
    # Incidents, within the ward scope (or assigned to the person)
    INCIDENTS_READ = "incidents:read"
    INCIDENTS_ACKNOWLEDGE = "incidents:acknowledge"
    INCIDENTS_CREATE = "incidents:create"
    INCIDENTS_RESPOND = "incidents:respond"  # start, add a note, join / leave as responder
    INCIDENTS_ESCALATE = "incidents:escalate"  # also raising the priority
    INCIDENTS_REASSIGN = "incidents:reassign"  # also naming the lead of a P0 / P1
    INCIDENTS_RESOLVE = "incidents:resolve"
    INCIDENTS_CLOSE = "incidents:close"
    INCIDENTS_REOPEN = "incidents:reopen"
    INCIDENTS_DOWNGRADE = "incidents:downgrade"  # lowering the priority (with a note)
    # Patient data (PHI), within the ward scope or through break-the-glass
    PATIENTS_READ = "patients:read"
    BREAK_GLASS = "patients:break_glass"
    ALARMS_PAUSE = "alarms:pause"
    # A clinical decision about one patient (NEWS2 SpO2 Scale 2), within the ward scope
    PATIENTS_SET_SPO2_SCALE = "patients:set_spo2_scale"
    # Machines (integration keys carry these as scopes)
    INGEST_VITALS = "ingest:vitals"
    EVENTS_WRITE = "events:write"
    NOTIFY_SMS_INBOUND = "notify:sms_inbound"  # the SMS provider delivers staff replies
    # Silences (maintenance windows) of machine events, within the ward scope
    SILENCES_MANAGE = "silences:manage"
    # Staff, rotas and on call (healthguard/api/oncall.py)
    STAFF_READ = "staff:read"  # the staff directory, schedules, who is on call, calendars
    AVAILABILITY_SET = "availability:set"  # own; a charge nurse their wards' staff; admins
    SWAPS_REQUEST = "swaps:request"  # ask to swap or give away one's own shift
    SWAPS_DECIDE = "swaps:decide"  # approve or decline swaps, within the ward scope
    SCHEDULES_MANAGE = "schedules:manage"  # rotas, overrides, imports, gap reports (wards)
    COVERAGE_MANAGE = "coverage:manage"  # the coverage requirements of every ward
    # Administration
    INTEGRATION_KEYS_MANAGE = "integration_keys:manage"
    USERS_MANAGE = "users:manage"
    RULES_MANAGE = "rules:manage"
    # Compliance
    AUDIT_READ = "audit:read"
    AUDIT_EXPORT = "audit:export"
    # Any signed-in person or machine (their own identity)
    SELF_READ = "self:read"


CLINICAL = frozenset(
    {
        Permission.SELF_READ,
        Permission.WARDS_READ,
        Permission.DASHBOARD_VIEW,
        Permission.INCIDENTS_READ,
        Permission.INCIDENTS_ACKNOWLEDGE,
        Permission.INCIDENTS_CREATE,
        Permission.INCIDENTS_RESPOND,
        Permission.INCIDENTS_ESCALATE,
        Permission.INCIDENTS_RESOLVE,
        Permission.INCIDENTS_REOPEN,
        Permission.PATIENTS_READ,
        Permission.BREAK_GLASS,
        Permission.ALARMS_PAUSE,
        Permission.STAFF_READ,
        Permission.AVAILABILITY_SET,
        Permission.SWAPS_REQUEST,
    }
)

# Who coordinates a response (charge nurses, physicians, the rapid-response team): hand an
# incident over, name the lead, lower its priority, close it after review
# (healthguard/incidents/lifecycle.py says which action needs which permission).
INCIDENT_COORDINATION = frozenset(
    {
        Permission.INCIDENTS_REASSIGN,
        Permission.INCIDENTS_CLOSE,
        Permission.INCIDENTS_DOWNGRADE,
        Permission.SILENCES_MANAGE,  # silences of their wards' machine events
    }
)

# Who runs a ward's rota (charge nurses, for the wards they are in charge of): schedules,
# overrides, roster imports, coverage gaps, and approving shift swaps
# (healthguard.oncall.swaps: only a charge nurse of the ward approves a swap).
ROTA_MANAGEMENT = frozenset({Permission.SCHEDULES_MANAGE, Permission.SWAPS_DECIDE})

# Clinical decision makers: RCP NEWS2 (2017) has a competent clinical decision maker decide
# and record SpO2 Scale 2 (a prescribed 88-92 % target), so not nurses or charge nurses.
CLINICAL_DECISION_MAKER = CLINICAL | {Permission.PATIENTS_SET_SPO2_SCALE}

ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    UserRole.NURSE: CLINICAL,
    UserRole.CHARGE_NURSE: CLINICAL | INCIDENT_COORDINATION | ROTA_MANAGEMENT,
    UserRole.PHYSICIAN: CLINICAL_DECISION_MAKER | INCIDENT_COORDINATION,
    UserRole.RAPID_RESPONSE: CLINICAL_DECISION_MAKER | INCIDENT_COORDINATION,
    # Admins configure; their ward scope is empty, so they read patient data only through
    # break-the-glass.
    UserRole.ADMIN: frozenset(
        {
            Permission.SELF_READ,
            Permission.WARDS_READ,
            Permission.DASHBOARD_VIEW,
            Permission.PATIENTS_READ,
            Permission.BREAK_GLASS,
            Permission.INTEGRATION_KEYS_MANAGE,
            Permission.USERS_MANAGE,
            Permission.RULES_MANAGE,
            Permission.SILENCES_MANAGE,  # maintenance windows of integrations
            Permission.STAFF_READ,
            Permission.AVAILABILITY_SET,  # of anybody (a called-in or sick colleague)
            Permission.SCHEDULES_MANAGE,  # every ward's and the hospital-wide rotas
            Permission.COVERAGE_MANAGE,
        }
    ),
    UserRole.AUDITOR: frozenset(
        {
            Permission.SELF_READ,
            Permission.WARDS_READ,
            Permission.AUDIT_READ,
            Permission.AUDIT_EXPORT,
        }
    ),
}

# Roles that see the whole hospital; nurses and charge nurses see the wards they cover now;
# admins see no ward (break-the-glass only).
HOSPITAL_WIDE_ROLES: frozenset[str] = frozenset({UserRole.PHYSICIAN, UserRole.RAPID_RESPONSE})

# What an integration key may be given.
INTEGRATION_SCOPES: frozenset[Permission] = frozenset(
    {Permission.INGEST_VITALS, Permission.EVENTS_WRITE, Permission.NOTIFY_SMS_INBOUND}
)


@dataclass(frozen=True)
class Principal:
    """Who is asking: a signed-in person or an integration key."""

    kind: str  # "user" or "integration"
    id: str
    name: str
    role: str | None = None
    staff_id: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def audit_name(self) -> str:
        return self.name if self.kind == "user" else f"integration:{self.name}"


def permissions_of(principal: Principal) -> frozenset[Permission]:
    if principal.kind == "integration":
        return frozenset(p for p in INTEGRATION_SCOPES if p.value in principal.scopes) | {
            Permission.SELF_READ
        }
    return ROLE_PERMISSIONS.get(principal.role or "", frozenset())


def allows(principal: Principal, permission: Permission) -> bool:
    return permission in permissions_of(principal)


def validate_scopes(scopes: list[str]) -> list[str]:
    """Integration key scopes: only the machine permissions; raises ValueError naming one."""
    allowed = {p.value for p in INTEGRATION_SCOPES}
    for scope in scopes:
        if scope not in allowed:
            raise ValueError(
                f"unknown scope {scope!r}; integration keys take {', '.join(sorted(allowed))}"
            )
    if not scopes:
        raise ValueError("give at least one scope")
    return sorted(set(scopes))


@dataclass(frozen=True)
class WardScope:
    """The wards whose patients and incidents a person may see now."""

    all_wards: bool = False
    ward_ids: frozenset[str] = frozenset()

    def covers(self, ward_id: object) -> bool:
        return self.all_wards or (ward_id is not None and str(ward_id) in self.ward_ids)


NO_WARDS = WardScope()
ALL_WARDS = WardScope(all_wards=True)


# --- documentation tables (docs/SECURITY.md includes these verbatim; a test checks) --------

INTEGRATION_KEY_COLUMN = "integration key"
_YES, _NO = "yes", "\u2013"  # an en dash for "no"


def permission_table_markdown() -> str:
    """The permission matrix as a GitHub markdown table: one row per permission, one column
    per role plus "integration key" (what a key can be given as a scope, and its own
    identity), cells "yes" or an en dash. Generated from ROLE_PERMISSIONS, so the docs cannot drift.
    """
    roles = list(ROLE_PERMISSIONS)
    key_permissions = INTEGRATION_SCOPES | {Permission.SELF_READ}
    header = ["Permission", *(f"`{role}`" for role in roles), INTEGRATION_KEY_COLUMN]
    lines = [_row(header), _row(["---"] * len(header))]
    for permission in Permission:
        cells = [_YES if permission in ROLE_PERMISSIONS[role] else _NO for role in roles]
        cells.append(_YES if permission in key_permissions else _NO)
        lines.append(_row([f"`{permission.value}`", *cells]))
    return "\n".join(lines) + "\n"


_METHOD_ORDER = ("get", "post", "put", "patch", "delete", "head", "options")


def route_table_markdown(openapi: dict[str, Any]) -> str:
    """Every operation of an OpenAPI document with the permission it declares
    (`x-permission`; "public" needs no credentials, a missing one shows as "(none)"), as a
    GitHub markdown table sorted by path then method."""
    lines = [_row(["Method", "Path", "Permission"]), _row(["---"] * 3)]
    for path, operations in sorted(openapi.get("paths", {}).items()):
        for method in sorted(
            (m for m in operations if m in _METHOD_ORDER), key=_METHOD_ORDER.index
        ):
            permission = operations[method].get("x-permission")
            lines.append(
                _row(
                    [
                        method.upper(),
                        f"`{path}`",
                        f"`{permission}`" if permission else "(none)",
                    ]
                )
            )
    return "\n".join(lines) + "\n"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"
