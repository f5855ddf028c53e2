"""What the admin page does, as the signed-in principal: the permission check and one
service call per action (the same services, checks and audit rows as the API).

The Reflex states (healthguard/ui/states/admin_*.py) only call these, in a worker thread;
tests call them directly with a nurse's principal to show the refusal. A refusal is audited
like the API's (``access.denied``) and changes nothing.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from healthguard.alarms import rules as alarm_rules
from healthguard.clinical.rules import Rule
from healthguard.db import session_scope
from healthguard.integrations import service as integrations
from healthguard.integrations.events import DEFAULT_SEVERITY_PRIORITY, resolve_severity_map
from healthguard.models import AlarmRule, Integration, Staff, User, Ward
from healthguard.oncall import policy_admin
from healthguard.oncall.default_policies import InvalidPolicy, PolicyError
from healthguard.security import accounts, user_admin
from healthguard.security.accounts import Origin
from healthguard.security.audit import record_audit
from healthguard.security.permissions import ROLE_PERMISSIONS, Permission, Principal, allows
from workers.queues import redis_connection

NOT_ALLOWED = "Not allowed: only an administrator may change this."


class NotAllowed(PermissionError):
    """The principal's role may not do this; nothing was changed."""


class AdminInputError(ValueError):
    """Bad input; ``field`` names it (shown as "field: message")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def check(
    principal: Principal | None, permission: Permission, origin: Origin, now: datetime
) -> Principal:
    """The principal when allowed; else the refusal is audited and NotAllowed raised."""
    if principal is not None and allows(principal, permission):
        return principal
    with session_scope() as session:
        record_audit(
            session,
            actor=principal.audit_name if principal else "anonymous",
            action="access.denied",
            record_type="ui",
            record_id="admin",
            outcome="denied",
            ip=origin.ip,
            user_agent=origin.user_agent,
            details={"reason": f"needs {permission.value}"},
            now=now,
        )
    raise NotAllowed(NOT_ALLOWED)


# --- integrations and keys -------------------------------------------------------------------


@dataclass
class IntegrationRow:
    id: str = ""
    name: str = ""
    kind: str = ""
    rule: str = ""  # severity -> priority, e.g. "critical P1 · error P2 · warning P3 · info P4"
    ward: str = ""
    key_prefix: str = ""
    enabled: bool = True
    status: str = ""


def severity_rule(severity_map: dict[str, str], allow_p0: bool) -> str:
    """The severity -> priority rule in words (the defaults merged with the overrides)."""
    merged = resolve_severity_map(severity_map or {}, allow_p0=allow_p0)
    return " · ".join(f"{severity} {merged[severity]}" for severity in DEFAULT_SEVERITY_PRIORITY)


def parse_severity_map(text: str) -> dict[str, str]:
    """``"critical=P0, warning=P2"`` as a mapping (the service checks the values)."""
    result: dict[str, str] = {}
    for part in (text or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        severity, sep, priority = part.partition("=")
        if not sep or not severity.strip() or not priority.strip():
            raise AdminInputError(
                "severity_map", f"write severity=priority pairs, e.g. critical=P1 (got {part!r})"
            )
        result[severity.strip().lower()] = priority.strip().upper()
    return result


def _optional_int(value: Any, field: str) -> int | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise AdminInputError(field, f"whole seconds, got {text!r}") from None


def list_integrations(
    principal: Principal | None, origin: Origin, now: datetime
) -> list[IntegrationRow]:
    check(principal, Permission.INTEGRATION_KEYS_MANAGE, origin, now)
    with session_scope() as session:
        rows = session.exec(select(Integration).order_by(col(Integration.created_at))).all()
        return [
            IntegrationRow(
                id=str(row.id),
                name=row.name,
                kind=row.kind,
                rule=severity_rule(dict(row.severity_map), row.allow_p0),
                ward=row.default_ward_code or "",
                key_prefix=integrations.key_prefix(session, row) or "",
                enabled=row.enabled,
                status="Active" if row.enabled else "Revoked",
            )
            for row in rows
        ]


def create_integration(
    principal: Principal | None, form: dict[str, Any], origin: Origin, now: datetime
) -> tuple[str, str]:
    """(name, key) of the new integration; the key is never shown again."""
    who = check(principal, Permission.INTEGRATION_KEYS_MANAGE, origin, now)
    severity_map = parse_severity_map(str(form.get("severity_map", "")))
    interval = _optional_int(form.get("heartbeat_interval_seconds"), "heartbeat_interval_seconds")
    try:
        with session_scope() as session:
            integration, key = integrations.create_integration(
                session,
                name=str(form.get("name", "")),
                kind=str(form.get("kind", "")),
                created_by=who.audit_name,
                now=now,
                origin=origin,
                severity_map=severity_map or None,
                allow_p0=str(form.get("allow_p0", "")).lower() in {"on", "true", "1"},
                default_ward_code=str(form.get("default_ward_code", "")) or None,
                heartbeat_interval_seconds=interval,
            )
            return integration.name, key
    except integrations.IntegrationInputError as exc:
        raise AdminInputError(exc.field, exc.message) from None


def revoke_integration(
    principal: Principal | None, integration_id: str, origin: Origin, now: datetime
) -> str:
    """Disable the integration and revoke its key; its name."""
    who = check(principal, Permission.INTEGRATION_KEYS_MANAGE, origin, now)
    try:
        key = uuid.UUID(integration_id)
    except ValueError:
        raise AdminInputError("integration", "no such integration") from None
    with session_scope() as session:
        integration = integrations.revoke_integration(
            session, key, actor=who.audit_name, now=now, origin=origin
        )
        if integration is None:
            raise AdminInputError("integration", "no such integration")
        return integration.name


# --- users -----------------------------------------------------------------------------------


def list_accounts(
    principal: Principal | None, origin: Origin, now: datetime
) -> list[user_admin.AccountInfo]:
    check(principal, Permission.USERS_MANAGE, origin, now)
    with session_scope() as session:
        return user_admin.list_accounts(session)


def change_role(
    principal: Principal | None, username: str, role: str, origin: Origin, now: datetime
) -> None:
    who = check(principal, Permission.USERS_MANAGE, origin, now)
    if username.strip().lower() == who.name:
        raise AdminInputError("role", "you cannot change your own role")
    try:
        with session_scope() as session:
            user_admin.set_role(
                session, username=username, role=role, actor=who.audit_name, now=now, origin=origin
            )
    except accounts.AccountError as exc:
        raise AdminInputError(exc.field, exc.message) from None


def set_active(
    principal: Principal | None, username: str, active: bool, origin: Origin, now: datetime
) -> None:
    """Reactivate, or deactivate (every session and token of the account ends)."""
    who = check(principal, Permission.USERS_MANAGE, origin, now)
    if not active and username.strip().lower() == who.name:
        raise AdminInputError("username", "you cannot deactivate your own account")
    try:
        with session_scope() as session:
            accounts.set_locked(
                session,
                username=username,
                locked=not active,
                actor=who.audit_name,
                now=now,
                origin=origin,
            )
    except accounts.AccountError as exc:
        raise AdminInputError(exc.field, exc.message) from None


ROLES = [str(role) for role in ROLE_PERMISSIONS]  # the roles the permission matrix knows


@dataclass
class StaffChoice:
    id: str = ""
    label: str = ""  # "Maria Santos · charge_nurse · CARD"


def unlinked_staff(principal: Principal | None, origin: Origin, now: datetime) -> list[StaffChoice]:
    """The staff members no account is linked to yet, by name (for a new account's link)."""
    check(principal, Permission.USERS_MANAGE, origin, now)
    with session_scope() as session:
        linked = select(User.staff_id).where(col(User.staff_id).is_not(None))
        rows = session.exec(
            select(Staff, Ward)
            .join(Ward, col(Ward.id) == col(Staff.home_ward_id), isouter=True)
            .where(col(Staff.id).not_in(linked))
            .order_by(col(Staff.display_name))
        ).all()
        return [
            StaffChoice(
                id=str(staff.id),
                label=" · ".join(
                    p for p in (staff.display_name, staff.role, ward.code if ward else "") if p
                ),
            )
            for staff, ward in rows
        ]


def _staff_to_link(session: Any, value: Any) -> uuid.UUID | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        staff_id = uuid.UUID(text)
    except ValueError:
        raise AdminInputError("staff_id", "no such staff member") from None
    if session.get(Staff, staff_id) is None:
        raise AdminInputError("staff_id", "no such staff member")
    if session.exec(select(User).where(User.staff_id == staff_id)).first() is not None:
        raise AdminInputError("staff_id", "already has an account")
    return staff_id


def create_account(
    principal: Principal | None, form: dict[str, Any], origin: Origin, now: datetime
) -> tuple[str, str]:
    """Create a sign-in account with an initial password (``accounts.create_user``, as the
    CLI's ``healthguard user create``; audited ``user.created``); (username, role)."""
    who = check(principal, Permission.USERS_MANAGE, origin, now)
    password = str(form.get("password", ""))
    if password != str(form.get("password_repeat", "")):
        raise AdminInputError("password_repeat", "differs from the password")
    try:
        with session_scope() as session:
            user = accounts.create_user(
                session,
                username=str(form.get("username", "")),
                role=str(form.get("role", "")),
                password=password,
                actor=who.audit_name,
                now=now,
                origin=origin,
                staff_id=_staff_to_link(session, form.get("staff_id")),
            )
            return user.username, user.role
    except accounts.AccountError as exc:
        raise AdminInputError(exc.field, exc.message) from None


# --- escalation policies ---------------------------------------------------------------------


@dataclass
class PolicyRow:
    id: str = ""
    name: str = ""
    priority: str = ""
    ward: str = ""
    steps: list[str] = field(default_factory=list)  # "after 120 s: ward_role charge_nurse"
    repeat: str = ""
    definition: str = ""  # pretty JSON for editing


def _target_words(target: dict[str, Any]) -> str:
    ref = str(target.get("ref") or "")
    return f"{target.get('kind', '?')} {ref}".strip()


def _again(every: Any) -> str:
    return f" (again every {every} s)" if every else ""


def policy_row(info: policy_admin.PolicyInfo) -> PolicyRow:
    definition = info.definition
    steps = [
        f"after {step.get('delay_seconds')} s: "
        + ", ".join(_target_words(t) for t in step.get("targets") or [])
        + (
            f" (again every {step['repeat_every_seconds']} s)"
            if step.get("repeat_every_seconds")
            else ""
        )
        for step in definition.get("steps") or []
    ]
    count = int(definition.get("repeat_count", 0) or 0)
    repeat = (
        "no repeat"
        if count == 0
        else f"repeats {count} times from step {definition.get('repeat_from_step', 0)}, "
        f"{definition.get('repeat_after_seconds', 300)} s after the last step"
    )
    return PolicyRow(
        id=info.id,
        name=info.name,
        priority=info.priority or "any",
        ward=info.ward or "All wards",
        steps=steps,
        repeat=repeat,
        definition=json.dumps(definition, indent=2, sort_keys=True),
    )


def list_policies(principal: Principal | None, origin: Origin, now: datetime) -> list[PolicyRow]:
    check(principal, Permission.RULES_MANAGE, origin, now)
    with session_scope() as session:
        return [policy_row(info) for info in policy_admin.list_policies(session)]


def parse_policy_json(text: str) -> Any:
    """The edited policy's JSON; InvalidPolicy naming ``policy`` with the line when not JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidPolicy(
            [PolicyError("policy", f"not valid JSON (line {exc.lineno}: {exc.msg})")]
        ) from None


def save_policy(
    principal: Principal | None, policy_id: str, text: str, origin: Origin, now: datetime
) -> str:
    """Store the edited definition; its name. InvalidPolicy lists every field error."""
    who = check(principal, Permission.RULES_MANAGE, origin, now)
    definition = parse_policy_json(text)
    with session_scope() as session:
        row = policy_admin.save_policy(
            session, policy_id, definition, actor=who.audit_name, now=now, origin=origin
        )
        return row.name


# --- alarm rules -----------------------------------------------------------------------------


@dataclass
class RuleRow:
    key: str = ""
    name: str = ""
    kind: str = ""
    priority: str = ""
    enabled: bool = True
    status: str = ""
    thresholds: str = ""  # "score_at_least=7"
    params: str = ""  # JSON for editing
    updated: str = ""  # "by admin"


def rule_row(rule: Rule, updated_by: str) -> RuleRow:
    return RuleRow(
        key=rule.key,
        name=rule.name,
        kind=rule.kind,
        priority=rule.priority,
        enabled=rule.enabled,
        status="On" if rule.enabled else "Off",
        thresholds=", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(rule.params.items())),
        params=json.dumps(dict(rule.params), indent=2, sort_keys=True),
        updated=updated_by,
    )


def list_rules(principal: Principal | None, origin: Origin, now: datetime) -> list[RuleRow]:
    check(principal, Permission.RULES_MANAGE, origin, now)
    with session_scope() as session:
        alarm_rules.ensure_default_rules(session, now=now)
        rows = session.exec(select(AlarmRule).order_by(col(AlarmRule.key))).all()
        return [rule_row(alarm_rules.rule_of(row), row.updated_by) for row in rows]


def _change_rule(
    principal: Principal | None,
    key: str,
    origin: Origin,
    now: datetime,
    *,
    enabled: bool | None = None,
    params: Any = None,
    name: str | None = None,
    priority: str | None = None,
) -> str:
    who = check(principal, Permission.RULES_MANAGE, origin, now)
    with session_scope() as session:
        row = session.exec(select(AlarmRule).where(AlarmRule.key == key)).first()
        if row is None:
            raise AdminInputError("rule", f"no alarm rule {key!r}")
        rule = alarm_rules.rule_of(row)
        changed = Rule(
            key=rule.key,
            name=rule.name if name is None else name.strip(),
            kind=rule.kind,
            priority=rule.priority if priority is None else priority,
            params=rule.params if params is None else params,
            enabled=rule.enabled if enabled is None else enabled,
        )
        try:
            alarm_rules.save_rule(session, changed, actor=who.audit_name, now=now, origin=origin)
        except alarm_rules.InvalidRule as exc:
            raise AdminInputError(exc.errors[0][0], str(exc).split(": ", 1)[1]) from None
        saved = changed.name
    alarm_rules.invalidate_rules(redis_connection())  # as the API: after the commit
    return saved


def set_rule_enabled(
    principal: Principal | None, key: str, enabled: bool, origin: Origin, now: datetime
) -> str:
    """Turn an alarm rule on or off; its name."""
    return _change_rule(principal, key, origin, now, enabled=enabled)


def save_rule_thresholds(
    principal: Principal | None, key: str, text: str, origin: Origin, now: datetime
) -> str:
    """Replace an alarm rule's parameters (its thresholds) with the edited JSON; its name.
    AdminInputError names the field (``params.<name>``)."""
    return _change_rule(principal, key, origin, now, params=_params_json(text))


def _params_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise AdminInputError("params", f"not valid JSON (line {exc.lineno}: {exc.msg})") from None


def save_rule(
    principal: Principal | None,
    key: str,
    text: str,
    origin: Origin,
    now: datetime,
    *,
    name: str,
    priority: str,
    enabled: bool,
) -> str:
    """Change an alarm rule's name, priority, on/off state and (the edited JSON) thresholds
    at once, as ``PUT /alarm-rules/{key}`` does; its (new) name. AdminInputError names the
    field (``name``, ``priority``, ``params.<name>``)."""
    check(principal, Permission.RULES_MANAGE, origin, now)
    return _change_rule(
        principal,
        key,
        origin,
        now,
        params=_params_json(text),
        name=name,
        priority=priority,
        enabled=enabled,
    )
