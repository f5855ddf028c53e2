"""Access tokens (JWT, HS256) and opaque secrets (refresh tokens, session tokens, API keys).

Access tokens are checked strictly: only HS256 (so `alg=none` and any other algorithm are
refused), and `exp`, `iat`, `aud`, `iss`, `sub` and `jti` must all be present and valid.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "iat", "aud", "iss", "sub", "jti"]


class TokenError(Exception):
    """An access token was refused; `reason` is safe to log and audit (no token material)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    role: str
    token_id: str
    issued_at: datetime
    expires_at: datetime


def issue_access_token(
    *,
    user_id: str,
    role: str,
    key: str,
    issuer: str,
    audience: str,
    ttl_seconds: int,
    now: datetime,
) -> str:
    payload = {
        "sub": user_id,
        "role": role,
        "iss": issuer,
        "aud": audience,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl_seconds)).timestamp()),
        "jti": uuid.uuid4().hex,
        "typ": "access",
        # `iat` has whole seconds; this orders a token against a credential change precisely.
        "iat_ms": int(now.timestamp() * 1000),
    }
    return jwt.encode(payload, key, algorithm=ALGORITHM)


def decode_access_token(token: str, *, key: str, issuer: str, audience: str) -> AccessClaims:
    """The claims of a valid access token, or TokenError saying why it is refused."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenError("malformed token") from exc
    if header.get("alg") != ALGORITHM:
        raise TokenError(f"algorithm {header.get('alg')!r} is not accepted")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token expired") from exc
    except jwt.InvalidAudienceError as exc:
        raise TokenError("wrong audience") from exc
    except jwt.InvalidIssuerError as exc:
        raise TokenError("wrong issuer") from exc
    except jwt.InvalidSignatureError as exc:
        raise TokenError("bad signature") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise TokenError(f"missing claim {exc.claim}") from exc
    except jwt.PyJWTError as exc:
        raise TokenError(f"invalid token ({exc.__class__.__name__})") from exc
    if claims.get("typ") != "access":
        raise TokenError("not an access token")
    return AccessClaims(
        user_id=str(claims["sub"]),
        role=str(claims.get("role", "")),
        token_id=str(claims["jti"]),
        issued_at=datetime.fromtimestamp(
            claims["iat_ms"] / 1000 if isinstance(claims.get("iat_ms"), int) else claims["iat"],
            UTC,
        ),
        expires_at=datetime.fromtimestamp(claims["exp"], UTC),
    )


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def new_secret(prefix: str = "") -> str:
    """A random opaque secret (256 bits), optionally with a readable prefix."""
    return prefix + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    """How opaque secrets are stored: SHA-256 hex (they are random, so no salt is needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()
