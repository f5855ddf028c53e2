"""Build the FastAPI app that carries /api/v1, /healthz, /readyz and /metrics."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse

from healthguard import __version__
from healthguard.api import docs, health, wards
from healthguard.api.errors import error_body, install_error_handlers

API_PREFIX = "/api/v1"


def build_api() -> FastAPI:
    api = FastAPI(
        title="HealthGuard Ops API",
        version=__version__,
        description=(
            "Vital signs in, incidents out. Every answer that is not a success carries "
            '`{"error": {"code", "message"}}`. Notifications sent by HealthGuard are '
            "secondary alarms: the bedside monitor stays the primary alarm."
        ),
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # the stock pages load scripts from a CDN; ours is self-contained
        redoc_url=None,
    )
    install_error_handlers(api)
    api.include_router(health.router)
    api.include_router(wards.router, prefix=API_PREFIX)
    api.include_router(docs.router, prefix=API_PREFIX)
    api.include_router(not_found_router)
    return api


# Everything else is the Reflex app (mounted behind this one), so an unknown /api path
# would get the HTML page of the UI; answer it in the API's own error shape instead.
not_found_router = APIRouter(include_in_schema=False)


@not_found_router.api_route(
    API_PREFIX + "/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"]
)
def unknown_api_path(path: str) -> JSONResponse:
    return JSONResponse(
        error_body("not_found", f"No API route {API_PREFIX}/{path}; see {API_PREFIX}/docs."),
        status_code=404,
    )
