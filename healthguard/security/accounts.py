"""Sign-in, tokens, UI sessions, integration keys and user administration.

One service function per action, each taking a session, an explicit clock and where the
request came from; each writes its audit record. The API, the UI and the CLI call these.
Messages to the person signing in are generic: they never say whether a username exists.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from healthguard.models import ApiKey, RefreshToken, UiSession, User
from healthguard.security.audit import record_audit
from healthguard.security.passwords import (
    hash_password,
    needs_rehash,
    password_problems,
    verify_password,
)
from healthguard.security.permissions import Principal, validate_scopes
from healthguard.security.tokens import issue_access_token, new_secret, secret_hash
from healthguard.settings import Settings

GENERIC_LOGIN_ERROR = "Sign-in failed: check the username and password."
LOCKED_MESSAGE = (
    "This account is locked after too many failed sign-ins. Try again later or ask an "
    "administrator to unlock it."
)
API_KEY_PREFIX = "hgk_"
#: PagerDuty's integration keys are 32 hexadecimal characters, and some stock clients and
#: tools check that; keys of PagerDuty-compatible integrations have that shape (128 bits).
PAGERDUTY_KEY_HEX_BYTES = 16


class AuthError(Exception):
    """Refused; `message` is safe to show, `reason` is for the audit log only."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or message


class AccountError(ValueError):
    """Bad input for an administration action; `field` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Origin:
    """Where a request came from, for the audit log."""

    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def principal_of(user: User) -> Principal:
    return Principal(
        kind="user",
        id=str(user.id),
        name=user.username,
        role=user.role,
        staff_id=str(user.staff_id) if user.staff_id else None,
    )


def _audit(
    session: Session,
    action: str,
    *,
    actor: str,
    now: datetime,
    origin: Origin,
    record_type: str = "user",
    record_id: str | None = None,
    outcome: str = "success",
    details: dict | None = None,
) -> None:
    record_audit(
        session,
        actor=actor,
        action=action,
        record_type=record_type,
        record_id=record_id,
        outcome=outcome,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details=details,
        now=now,
    )


# --- sign-in ------------------------------------------------------------------------------


def authenticate(
    session: Session,
    username: str,
    password: str,
    *,
    settings: Settings,
    now: datetime,
    origin: Origin,
) -> User:
    """The user, or AuthError with a generic message. Counts failures and locks."""
    user = session.exec(select(User).where(User.username == username.strip().lower())).first()
    password_ok = verify_password(user.password_hash if user else None, password)
    if user is None:
        name = username.strip().lower()[:64]
        _audit(
            session,
            "login.failure",
            actor=name,
            now=now,
            origin=origin,
            outcome="failure",
            details={"reason": "unknown user"},
        )
        # Answer exactly as for a real account, lockout included: no user enumeration.
        if (
            _recent_failures(session, name, settings=settings, now=now)
            >= settings.login_max_failures
        ):
            raise AuthError(LOCKED_MESSAGE, "unknown user, locked look-alike")
        raise AuthError(GENERIC_LOGIN_ERROR, "unknown user")
    if user.locked_until and user.locked_until > now:
        _audit(
            session,
            "login.failure",
            actor=user.username,
            now=now,
            origin=origin,
            record_id=str(user.id),
            outcome="failure",
            details={"reason": "locked"},
        )
        raise AuthError(LOCKED_MESSAGE, "locked")
    if not user.is_active:
        _audit(
            session,
            "login.failure",
            actor=user.username,
            now=now,
            origin=origin,
            record_id=str(user.id),
            outcome="failure",
            details={"reason": "disabled"},
        )
        raise AuthError(GENERIC_LOGIN_ERROR, "disabled")
    if not password_ok:
        _register_failure(session, user, settings=settings, now=now, origin=origin)
        if user.locked_until and user.locked_until > now:
            raise AuthError(LOCKED_MESSAGE, "locked now")
        raise AuthError(GENERIC_LOGIN_ERROR, "wrong password")
    user.failed_logins = 0
    user.first_failed_login_at = None
    user.locked_until = None
    user.last_login_at = now
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    session.add(user)
    _audit(
        session,
        "login.success",
        actor=user.username,
        now=now,
        origin=origin,
        record_id=str(user.id),
    )
    return user


def _recent_failures(session: Session, name: str, *, settings: Settings, now: datetime) -> int:
    """Failed sign-ins under this name within the window, counted from the audit log."""
    from sqlalchemy import func

    from healthguard.models import AuditLog

    since = now - timedelta(seconds=settings.login_failure_window_seconds)
    return int(
        session.exec(
            select(func.count())
            .select_from(AuditLog)
            .where(
                AuditLog.action == "login.failure",
                AuditLog.actor == name,
                col(AuditLog.at) >= since,
            )
        ).one()
    )


def _register_failure(
    session: Session, user: User, *, settings: Settings, now: datetime, origin: Origin
) -> None:
    window = timedelta(seconds=settings.login_failure_window_seconds)
    if user.first_failed_login_at is None or now - user.first_failed_login_at > window:
        user.first_failed_login_at = now
        user.failed_logins = 0
    user.failed_logins += 1
    _audit(
        session,
        "login.failure",
        actor=user.username,
        now=now,
        origin=origin,
        record_id=str(user.id),
        outcome="failure",
        details={"reason": "wrong password", "failures_in_window": user.failed_logins},
    )
    if user.failed_logins >= settings.login_max_failures:
        user.locked_until = now + timedelta(seconds=settings.lockout_seconds)
        _audit(
            session,
            "login.lockout",
            actor=user.username,
            now=now,
            origin=origin,
            record_id=str(user.id),
            outcome="locked",
            details={"locked_until": user.locked_until.isoformat()},
        )
    session.add(user)


# --- API tokens ---------------------------------------------------------------------------


def issue_tokens(
    session: Session,
    user: User,
    *,
    settings: Settings,
    now: datetime,
    origin: Origin,
    family_id: uuid.UUID | None = None,
) -> TokenPair:
    """A new access token and a refresh token (of a new family unless one is given)."""
    access = issue_access_token(
        user_id=str(user.id),
        role=user.role,
        key=settings.secret("secret_key"),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.access_token_ttl_seconds,
        now=now,
    )
    refresh = new_secret("hgr_")
    row = RefreshToken(
        user_id=user.id,
        family_id=family_id or uuid.uuid4(),
        token_hash=secret_hash(refresh),
        issued_at=now,
        expires_at=now + timedelta(seconds=settings.refresh_token_ttl_seconds),
    )
    session.add(row)
    session.flush()
    _audit(
        session,
        "token.issued",
        actor=user.username,
        now=now,
        origin=origin,
        record_type="refresh_token",
        record_id=str(row.id),
        details={"family": str(row.family_id)},
    )
    return TokenPair(access, refresh, settings.access_token_ttl_seconds)


def _refresh_row(session: Session, refresh_token: str) -> RefreshToken | None:
    return session.exec(
        select(RefreshToken).where(RefreshToken.token_hash == secret_hash(refresh_token))
    ).first()


def refresh_tokens(
    session: Session, refresh_token: str, *, settings: Settings, now: datetime, origin: Origin
) -> TokenPair:
    """Rotate a refresh token. Reusing an already used one revokes its whole family."""
    row = _refresh_row(session, refresh_token)
    user = session.get(User, row.user_id) if row is not None else None
    actor = user.username if user else ("unknown" if row is not None else "anonymous")

    def refuse(action: str, message: str, reason: str, details: dict[str, object]) -> AuthError:
        _audit(
            session,
            action,
            actor=actor,
            now=now,
            origin=origin,
            record_type="refresh_token",
            record_id=str(row.id) if row is not None else None,
            outcome="denied",
            details=details,
        )
        return AuthError(message, reason)

    invalid = "The refresh token is not valid."
    if row is None:
        raise refuse(
            "token.refused", invalid, "unknown refresh token", {"reason": "unknown refresh token"}
        )
    if row.used_at is not None or row.revoked_at is not None:
        revoked = revoke_family(session, row.family_id, now=now)
        raise refuse(
            "token.reuse_detected",
            invalid,
            "refresh token reused",
            {"family": str(row.family_id), "revoked": revoked},
        )
    if row.expires_at <= now:
        raise refuse(
            "token.refused",
            "The refresh token has expired; sign in again.",
            "expired",
            {"reason": "refresh token expired"},
        )
    if user is None or not user.is_active:
        revoke_family(session, row.family_id, now=now)
        raise refuse("token.refused", invalid, "user disabled", {"reason": "user disabled"})
    row.used_at = now
    pair = issue_tokens(
        session, user, settings=settings, now=now, origin=origin, family_id=row.family_id
    )
    newest = _refresh_row(session, pair.refresh_token)
    row.replaced_by = newest.id if newest is not None else None
    session.add(row)
    _audit(
        session,
        "token.refreshed",
        actor=actor,
        now=now,
        origin=origin,
        record_type="refresh_token",
        record_id=str(row.id),
    )
    return pair


def revoke_family(session: Session, family_id: uuid.UUID, *, now: datetime) -> int:
    rows = session.exec(
        select(RefreshToken).where(
            RefreshToken.family_id == family_id, col(RefreshToken.revoked_at).is_(None)
        )
    ).all()
    for row in rows:
        row.revoked_at = now
        session.add(row)
    return len(rows)


def revoke_refresh_token(
    session: Session, refresh_token: str, *, actor: str, now: datetime, origin: Origin
) -> None:
    """Sign out of the API: the token's whole family stops working."""
    row = _refresh_row(session, refresh_token)
    if row is not None:
        revoke_family(session, row.family_id, now=now)
    _audit(
        session,
        "logout",
        actor=actor,
        now=now,
        origin=origin,
        record_type="refresh_token",
        record_id=str(row.id) if row else None,
    )


def active_user(session: Session, user_id: str, issued_at: datetime | None = None) -> User | None:
    """The user behind a token, if it may still act: exists, is enabled, and the token was
    issued after the account's last credential change (reset, lock, unlock)."""
    try:
        user = session.get(User, uuid.UUID(user_id))
    except ValueError:
        return None
    if user is None or not user.is_active:
        return None
    cutoff = user.tokens_valid_after
    if issued_at is not None and cutoff is not None and issued_at < cutoff:
        return None
    return user


# --- UI sessions --------------------------------------------------------------------------


def start_ui_session(session: Session, user: User, *, now: datetime, origin: Origin) -> str:
    token = new_secret("hgs_")
    session.add(
        UiSession(
            user_id=user.id,
            token_hash=secret_hash(token),
            created_at=now,
            last_activity_at=now,
            ip=origin.ip,
            user_agent=(origin.user_agent or "")[:500] or None,
        )
    )
    return token


@dataclass(frozen=True)
class SessionCheck:
    principal: Principal | None
    ended_reason: str | None = None  # "expired", "logged_out", "disabled", "unknown"


def check_ui_session(
    session: Session,
    token: str,
    *,
    settings: Settings,
    now: datetime,
    activity: bool,
    origin: Origin | None = None,
) -> SessionCheck:
    """Is this browser still signed in? `activity`: the person did something (resets the
    idle clock); a background check passes False so it never keeps a session alive."""
    if not token:
        return SessionCheck(None, "unknown")
    row = session.exec(select(UiSession).where(UiSession.token_hash == secret_hash(token))).first()
    if row is None:
        return SessionCheck(None, "unknown")
    if row.ended_at is not None:
        return SessionCheck(None, row.end_reason or "ended")
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        row.ended_at, row.end_reason = now, "disabled"
        session.add(row)
        return SessionCheck(None, "disabled")
    idle = timedelta(seconds=settings.idle_seconds_for(user.role))
    reason = None
    if now - row.created_at > timedelta(seconds=settings.session_max_seconds):
        reason = "session lifetime reached"
    elif now - row.last_activity_at > idle:
        reason = "idle timeout"
    if reason is not None:
        row.ended_at, row.end_reason = now, "expired"
        session.add(row)
        _audit(
            session,
            "logout",
            actor=user.username,
            now=now,
            origin=origin or Origin(),
            record_type="ui_session",
            record_id=str(row.id),
            details={"reason": reason},
        )
        return SessionCheck(None, "expired")
    if activity:
        row.last_activity_at = now
        session.add(row)
    return SessionCheck(principal_of(user))


def end_ui_session(session: Session, token: str, *, now: datetime, origin: Origin) -> None:
    row = session.exec(select(UiSession).where(UiSession.token_hash == secret_hash(token))).first()
    if row is None or row.ended_at is not None:
        return
    row.ended_at, row.end_reason = now, "logged_out"
    session.add(row)
    user = session.get(User, row.user_id)
    _audit(
        session,
        "logout",
        actor=user.username if user else "unknown",
        now=now,
        origin=origin,
        record_type="ui_session",
        record_id=str(row.id),
    )


# --- integration keys ---------------------------------------------------------------------


def create_api_key(
    session: Session,
    *,
    name: str,
    scopes: list[str],
    created_by: str,
    now: datetime,
    origin: Origin,
    pagerduty_shaped: bool = False,
) -> tuple[ApiKey, str]:
    """A new integration key; the plaintext is returned once and never stored.

    ``pagerduty_shaped``: 32 hexadecimal characters like PagerDuty's own keys (128 bits)
    instead of ``hgk_`` and 43 characters (256 bits), for clients that check the shape."""
    name = (name or "").strip()
    if not name:
        raise AccountError("name", "must not be empty")
    try:
        scopes = validate_scopes(scopes)
    except ValueError as exc:
        raise AccountError("scopes", str(exc)) from exc
    if pagerduty_shaped:
        plaintext = secrets.token_hex(PAGERDUTY_KEY_HEX_BYTES)
    else:
        plaintext = new_secret(API_KEY_PREFIX)
    key = ApiKey(
        name=name[:100],
        prefix=plaintext[: len(API_KEY_PREFIX) + 6],
        key_hash=secret_hash(plaintext),
        scopes=scopes,
        created_by=created_by,
        created_at=now,
    )
    session.add(key)
    session.flush()
    _audit(
        session,
        "apikey.created",
        actor=created_by,
        now=now,
        origin=origin,
        record_type="api_key",
        record_id=str(key.id),
        details={"name": key.name, "scopes": scopes},
    )
    return key, plaintext


def revoke_api_key(
    session: Session, key_id: uuid.UUID, *, actor: str, now: datetime, origin: Origin
) -> ApiKey | None:
    key = session.get(ApiKey, key_id)
    if key is None:
        return None
    if key.revoked_at is None:
        key.revoked_at = now
        session.add(key)
        _audit(
            session,
            "apikey.revoked",
            actor=actor,
            now=now,
            origin=origin,
            record_type="api_key",
            record_id=str(key.id),
        )
    return key


def authenticate_api_key(session: Session, plaintext: str, *, now: datetime) -> ApiKey | None:
    """The key if it exists and is not revoked (callers audit refusals)."""
    key = session.exec(select(ApiKey).where(ApiKey.key_hash == secret_hash(plaintext))).first()
    if key is None or key.revoked_at is not None:
        return None
    key.last_used_at = now
    session.add(key)
    return key


def integration_principal(key: ApiKey) -> Principal:
    return Principal(
        kind="integration", id=str(key.id), name=key.name, scopes=frozenset(key.scopes)
    )


# --- user administration ------------------------------------------------------------------


def create_user(
    session: Session,
    *,
    username: str,
    role: str,
    password: str,
    actor: str,
    now: datetime,
    origin: Origin,
    staff_id: uuid.UUID | None = None,
) -> User:
    from healthguard.models import UserRole

    username = (username or "").strip().lower()
    if not username or len(username) > 64:
        raise AccountError("username", "must be 1 to 64 characters")
    if role not in {r.value for r in UserRole}:
        raise AccountError("role", f"must be one of {', '.join(r.value for r in UserRole)}")
    if session.exec(select(User).where(User.username == username)).first() is not None:
        raise AccountError("username", "is already taken")
    problems = password_problems(password, username)
    if problems:
        raise AccountError("password", "; ".join(problems))
    user = User(
        username=username,
        role=role,
        staff_id=staff_id,
        password_hash=hash_password(password),
        password_changed_at=now,
        created_at=now,
    )
    session.add(user)
    session.flush()
    _audit(
        session,
        "user.created",
        actor=actor,
        now=now,
        origin=origin,
        record_id=str(user.id),
        details={"username": username, "role": role},
    )
    return user


def _user_by_name(session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username.strip().lower())).first()
    if user is None:
        raise AccountError("username", f"no user {username!r}")
    return user


def reset_password(
    session: Session, *, username: str, password: str, actor: str, now: datetime, origin: Origin
) -> User:
    user = _user_by_name(session, username)
    problems = password_problems(password, user.username)
    if problems:
        raise AccountError("password", "; ".join(problems))
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    user.failed_logins = 0
    user.locked_until = None
    session.add(user)
    # A reset is how a leaked password is answered: every session and refresh token of the
    # old password stops working too (access tokens run out within their short lifetime).
    _end_all_sessions(session, user, now=now, reason="password_reset")
    _revoke_refresh_tokens(session, user, now=now)
    user.tokens_valid_after = now
    _audit(
        session, "user.password_reset", actor=actor, now=now, origin=origin, record_id=str(user.id)
    )
    return user


def set_locked(
    session: Session, *, username: str, locked: bool, actor: str, now: datetime, origin: Origin
) -> User:
    """Lock (disable: every token and session stops working) or unlock an account."""
    user = _user_by_name(session, username)
    user.is_active = not locked
    user.locked_until = None
    user.failed_logins = 0
    # Access tokens issued before a lock stay refused after an unlock as well.
    user.tokens_valid_after = now
    session.add(user)
    if locked:
        _end_all_sessions(session, user, now=now, reason="disabled")
        _revoke_refresh_tokens(session, user, now=now)
    _audit(
        session,
        "user.locked" if locked else "user.unlocked",
        actor=actor,
        now=now,
        origin=origin,
        record_id=str(user.id),
    )
    return user


def _end_all_sessions(session: Session, user: User, *, now: datetime, reason: str) -> None:
    for row in session.exec(
        select(UiSession).where(UiSession.user_id == user.id, col(UiSession.ended_at).is_(None))
    ).all():
        row.ended_at, row.end_reason = now, reason
        session.add(row)


def _revoke_refresh_tokens(session: Session, user: User, *, now: datetime) -> None:
    for token in session.exec(
        select(RefreshToken).where(
            RefreshToken.user_id == user.id, col(RefreshToken.revoked_at).is_(None)
        )
    ).all():
        token.revoked_at = now
        session.add(token)
