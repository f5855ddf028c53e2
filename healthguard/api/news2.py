"""POST /api/v1/news2: the NEWS2 calculator (RCP 2017) for any signed-in person or key.

Body: any subset of resp_rate, spo2, spo2_scale (1|2), on_oxygen, systolic_bp, heart_rate,
consciousness (A|C|V|P|U), temperature_c; unknown fields and implausible values are a 422
naming the field. Answer: total, subscores, red_flag, risk, monitoring, response, plus partial
and missing (a score with missing parameters is a lower bound, never a confident low)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from healthguard.api.security import secured
from healthguard.clinical.news2 import News2Body, score_news2
from healthguard.security.permissions import Permission

router = APIRouter(tags=["clinical"])


class News2Subscores(BaseModel):
    resp_rate: int | None
    spo2: int | None
    on_oxygen: int | None
    systolic_bp: int | None
    heart_rate: int | None
    consciousness: int | None
    temperature_c: int | None


class News2Out(BaseModel):
    total: int
    subscores: News2Subscores
    red_flag: bool
    risk: Literal["low", "low-medium", "medium", "high"]
    monitoring: str
    response: str
    partial: bool
    missing: list[str]


@router.post(
    "/news2",
    response_model=News2Out,
    summary="Score NEWS2 (RCP 2017) from one set of observations",
    **secured(Permission.SELF_READ),
)
def post_news2(body: News2Body) -> News2Out:
    return News2Out.model_validate(score_news2(body.to_input()).answer())
