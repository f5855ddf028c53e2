"""Administering sign-in accounts from the admin page: list them, and change a role.

Locking and unlocking (deactivating) is ``accounts.set_locked``; creating and password resets
are ``accounts.create_user`` / ``reset_password`` (also the CLI's). A role change ends the
person's sessions and refresh tokens, like a lock, so the new role applies at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from healthguard.models import Staff, User, Ward
from healthguard.models.users import UserRole
from healthguard.security.accounts import (
    AccountError,
    Origin,
    _audit,
    _end_all_sessions,
    _revoke_refresh_tokens,
    _user_by_name,
)


@dataclass(frozen=True)
class AccountInfo:
    username: str
    role: str
    ward: str  # the home ward's code of the staff member, "" when none
    staff_name: str
    active: bool


def list_accounts(session: Session) -> list[AccountInfo]:
    """Every account, by username, with its role and the home ward of its staff member."""
    rows = session.exec(
        select(User, Staff, Ward)
        .join(Staff, col(Staff.id) == col(User.staff_id), isouter=True)
        .join(Ward, col(Ward.id) == col(Staff.home_ward_id), isouter=True)
        .order_by(col(User.username))
    ).all()
    return [
        AccountInfo(
            username=user.username,
            role=user.role,
            ward=ward.code if ward else "",
            staff_name=staff.display_name if staff else "",
            active=user.is_active,
        )
        for user, staff, ward in rows
    ]


def set_role(
    session: Session, *, username: str, role: str, actor: str, now: datetime, origin: Origin
) -> User:
    """Give an account another role (AccountError naming ``role`` or ``username``)."""
    if role not in {r.value for r in UserRole}:
        raise AccountError("role", f"must be one of {', '.join(r.value for r in UserRole)}")
    user = _user_by_name(session, username)
    if user.role == role:
        return user
    before = user.role
    user.role = role
    user.tokens_valid_after = now
    session.add(user)
    _end_all_sessions(session, user, now=now, reason="role_changed")
    _revoke_refresh_tokens(session, user, now=now)
    _audit(
        session,
        "user.updated",
        actor=actor,
        now=now,
        origin=origin,
        record_id=str(user.id),
        details={"username": user.username, "role": {"before": before, "after": role}},
    )
    return user
