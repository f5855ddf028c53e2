"""API authentication and authorisation dependencies.

Every route declares its permission with `secured(...)` (or `public()`); the declaration
shows in the OpenAPI document as `x-permission`, which the authorisation-matrix test walks.
Credentials: `Authorization: Bearer <access token or integration key>` or `X-API-Key`.
401: no or bad credentials; 403: valid but not allowed. Every refusal is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, HTTPException, Request

from healthguard.db import session_scope
from healthguard.security.accounts import (
    Origin,
    active_user,
    authenticate_api_key,
    integration_principal,
    principal_of,
)
from healthguard.security.audit import record_audit
from healthguard.security.permissions import Permission, Principal, allows
from healthguard.security.tokens import TokenError, decode_access_token, looks_like_jwt
from healthguard.settings import get_settings

PUBLIC = "public"
AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="healthguard"'}


def request_origin(request: Request) -> Origin:
    return Origin(
        ip=request.client.host if request.client else None,
        user_agent=(request.headers.get("user-agent") or "")[:500] or None,
    )


def _credential(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return (request.headers.get("x-api-key") or "").strip() or None


def _refuse(request: Request, action: str, reason: str, actor: str = "anonymous") -> None:
    with session_scope() as session:
        origin = request_origin(request)
        record_audit(
            session,
            actor=actor,
            action=action,
            record_type="request",
            record_id=f"{request.method} {request.url.path}",
            outcome="denied",
            ip=origin.ip,
            user_agent=origin.user_agent,
            details={"reason": reason},
            now=datetime.now(UTC),
        )


def current_principal(request: Request) -> Principal:
    """Who is calling, or 401. Stored on request.state for handlers and audit."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    credential = _credential(request)
    if credential is None:
        raise HTTPException(401, "Authentication required.", headers=AUTHENTICATE)
    settings = get_settings()
    now = datetime.now(UTC)
    refusal: tuple[str, str, str] | None = None
    principal: Principal | None = None
    if looks_like_jwt(credential):
        try:
            claims = decode_access_token(
                credential,
                key=settings.secret("secret_key"),
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
            )
        except TokenError as exc:
            refusal = ("token.refused", exc.reason, "anonymous")
        else:
            with session_scope() as session:
                user = active_user(session, claims.user_id, claims.issued_at)
                if user is None:
                    refusal = (
                        "token.refused",
                        "user unknown, disabled, or credentials changed since the token",
                        claims.user_id,
                    )
                else:
                    principal = principal_of(user)
    else:
        with session_scope() as session:
            key = authenticate_api_key(session, credential, now=now)
            if key is None:
                refusal = ("apikey.refused", "unknown or revoked integration key", "anonymous")
            else:
                principal = integration_principal(key)
    if principal is None:
        action, reason, actor = refusal or ("token.refused", "invalid credentials", "anonymous")
        _refuse(request, action, reason, actor)
        raise HTTPException(401, "The credentials are not valid.", headers=AUTHENTICATE)
    request.state.principal = principal
    return principal


def require(permission: Permission) -> Callable[[Request], Principal]:
    def dependency(
        request: Request, principal: Principal = Depends(current_principal)
    ) -> Principal:
        if not allows(principal, permission):
            _refuse(request, "access.denied", f"needs {permission.value}", principal.audit_name)
            raise HTTPException(403, f"Your role may not do this (needs {permission.value}).")
        return principal

    return dependency


def secured(permission: Permission) -> dict[str, Any]:
    """Route keyword arguments: enforce `permission` and declare it in the OpenAPI document."""
    return {
        "dependencies": [Depends(require(permission))],
        "openapi_extra": {"x-permission": permission.value},
    }


def public() -> dict[str, Any]:
    """Route keyword arguments for a route that needs no credentials (declared as such)."""
    return {"openapi_extra": {"x-permission": PUBLIC}}
