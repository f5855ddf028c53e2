"""Wards: the hospital's structure (no patient data)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from healthguard.api.security import secured
from healthguard.db import session_scope
from healthguard.security.permissions import Permission
from healthguard.wards.service import list_wards

router = APIRouter(tags=["wards"])


class WardOut(BaseModel):
    id: str
    code: str
    name: str


@router.get(
    "/wards",
    response_model=list[WardOut],
    summary="List the wards",
    **secured(Permission.WARDS_READ),
)
def get_wards() -> list[WardOut]:
    with session_scope() as session:
        return [WardOut(id=w.id, code=w.code, name=w.name) for w in list_wards(session)]
