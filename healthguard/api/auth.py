"""Sign-in for API clients: tokens, refresh with rotation, sign-out, who am I."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from healthguard.api.security import current_principal, public, request_origin, secured
from healthguard.db import session_scope
from healthguard.security.accounts import (
    AuthError,
    TokenPair,
    authenticate,
    issue_tokens,
    refresh_tokens,
    revoke_refresh_token,
)
from healthguard.security.permissions import Permission, Principal, permissions_of
from healthguard.security.scope import ward_scope
from healthguard.settings import get_settings

T = TypeVar("T")

router = APIRouter(prefix="/auth", tags=["auth"])
me_router = APIRouter(tags=["auth"])


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(min_length=1, max_length=512)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str


class MeResponse(BaseModel):
    kind: str
    name: str
    role: str | None
    permissions: list[str]
    all_wards: bool
    ward_ids: list[str]


def _run(action: Callable[[Session], T]) -> T:
    """Run a sign-in action in one transaction; refusals are audited, then answered 401.

    The audit record of a refusal must be kept, so the transaction commits before the
    error is raised (session_scope would roll it back otherwise)."""
    refusal: AuthError | None = None
    with session_scope() as session:
        try:
            return_value = action(session)
        except AuthError as exc:
            refusal = exc
    if refusal is not None:
        raise HTTPException(401, refusal.message)
    return return_value


@router.post(
    "/token",
    response_model=TokenResponse,
    summary="Sign in with username and password; get an access and a refresh token",
    responses={401: {"description": "Sign-in refused (generic message)"}},
    **public(),
)
def token(body: Credentials, request: Request) -> TokenResponse:
    settings, now, origin = get_settings(), datetime.now(UTC), request_origin(request)

    def action(session: Session) -> TokenPair:
        user = authenticate(
            session, body.username, body.password, settings=settings, now=now, origin=origin
        )
        return issue_tokens(session, user, settings=settings, now=now, origin=origin)

    pair = _run(action)
    return TokenResponse(
        access_token=pair.access_token, expires_in=pair.expires_in, refresh_token=pair.refresh_token
    )


@router.post(
    "/refresh",
    response_model=TokenResponse,
    summary="Exchange a refresh token for new tokens (the old one stops working)",
    responses={401: {"description": "Unknown, expired or reused refresh token"}},
    **public(),
)
def refresh(body: RefreshRequest, request: Request) -> TokenResponse:
    settings, now, origin = get_settings(), datetime.now(UTC), request_origin(request)
    pair = _run(
        lambda session: refresh_tokens(
            session, body.refresh_token, settings=settings, now=now, origin=origin
        )
    )
    return TokenResponse(
        access_token=pair.access_token, expires_in=pair.expires_in, refresh_token=pair.refresh_token
    )


@router.post(
    "/logout",
    status_code=204,
    summary="Sign out: the refresh token and its whole family stop working",
    **secured(Permission.SELF_READ),
)
def logout(
    body: RefreshRequest, request: Request, principal: Principal = Depends(current_principal)
) -> None:
    with session_scope() as session:
        revoke_refresh_token(
            session,
            body.refresh_token,
            actor=principal.audit_name,
            now=datetime.now(UTC),
            origin=request_origin(request),
        )


@me_router.get(
    "/me",
    response_model=MeResponse,
    summary="Who the credentials belong to, what they may do and which wards they see",
    **secured(Permission.SELF_READ),
)
def me(principal: Principal = Depends(current_principal)) -> MeResponse:
    with session_scope() as session:
        scope = ward_scope(session, principal, now=datetime.now(UTC))
    return MeResponse(
        kind=principal.kind,
        name=principal.name,
        role=principal.role,
        permissions=sorted(p.value for p in permissions_of(principal)),
        all_wards=scope.all_wards,
        ward_ids=sorted(scope.ward_ids),
    )
