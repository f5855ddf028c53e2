"""Liveness, readiness and Prometheus metrics (for load balancers and monitoring)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from healthguard.api.security import public
from healthguard.runtime.checks import readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive", **public())
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Database and Redis reachable, migrations at head",
    responses={503: {"description": "A dependency is not ready; the failing part is named"}},
    **public(),
)
def readyz() -> JSONResponse:
    checks = readiness()
    ready = all(c.ok for c in checks)
    body = {
        "status": "ready" if ready else "unavailable",
        "checks": {c.name: ("ok" if c.ok else c.detail) for c in checks},
    }
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics of this web worker", include_in_schema=False)
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
