"""Integration keys for machines (monitor gateways, Alertmanager, paging gateways)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select

from healthguard.api.security import current_principal, request_origin, secured
from healthguard.db import session_scope
from healthguard.models import ApiKey
from healthguard.security.accounts import AccountError, create_api_key, revoke_api_key
from healthguard.security.permissions import Permission, Principal

router = APIRouter(prefix="/integration-keys", tags=["integration keys"])


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, examples=["ICU monitor gateway"])
    scopes: list[str] = Field(min_length=1, examples=[["ingest:vitals"]])


class KeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class CreatedKey(KeyOut):
    key: str = Field(description="The key itself. Shown only now: store it in the gateway.")


def _out(key: ApiKey) -> KeyOut:
    return KeyOut(
        id=str(key.id),
        name=key.name,
        prefix=key.prefix,
        scopes=list(key.scopes),
        created_by=key.created_by,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


@router.post(
    "",
    response_model=CreatedKey,
    status_code=201,
    summary="Create an integration key (the key is shown once)",
    **secured(Permission.INTEGRATION_KEYS_MANAGE),
)
def create_key(
    body: NewKey, request: Request, principal: Principal = Depends(current_principal)
) -> CreatedKey:
    try:
        with session_scope() as session:
            key, plaintext = create_api_key(
                session,
                name=body.name,
                scopes=body.scopes,
                created_by=principal.audit_name,
                now=datetime.now(UTC),
                origin=request_origin(request),
            )
            out = _out(key)
    except AccountError as exc:
        raise HTTPException(422, f"{exc.field}: {exc.message}") from None
    return CreatedKey(**out.model_dump(), key=plaintext)


@router.get(
    "",
    response_model=list[KeyOut],
    summary="List integration keys (never the keys themselves)",
    **secured(Permission.INTEGRATION_KEYS_MANAGE),
)
def list_keys() -> list[KeyOut]:
    with session_scope() as session:
        keys = session.exec(select(ApiKey).order_by(col(ApiKey.created_at).desc())).all()
        return [_out(k) for k in keys]


@router.delete(
    "/{key_id}",
    response_model=KeyOut,
    summary="Revoke an integration key (it stops working at once)",
    responses={404: {"description": "No such key"}},
    **secured(Permission.INTEGRATION_KEYS_MANAGE),
)
def revoke_key(
    key_id: uuid.UUID, request: Request, principal: Principal = Depends(current_principal)
) -> KeyOut:
    with session_scope() as session:
        key = revoke_api_key(
            session,
            key_id,
            actor=principal.audit_name,
            now=datetime.now(UTC),
            origin=request_origin(request),
        )
        if key is None:
            raise HTTPException(404, "No such integration key.")
        return _out(key)
