"""Build the FastAPI app that carries /api/v1, /healthz, /readyz and /metrics."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.routing import compile_path

from healthguard import __version__
from healthguard.api import (
    alarm_pauses,
    alarm_rules,
    audit,
    auth,
    docs,
    fhir,
    health,
    incident_metrics,
    incidents,
    integration_keys,
    integrations,
    news2,
    notifications,
    oncall,
    patients,
    receipts,
    vitals,
    wards,
)
from healthguard.api.errors import error_body, install_error_handlers

API_PREFIX = "/api/v1"


def build_api() -> FastAPI:
    api = FastAPI(
        title="HealthGuard Ops API",
        version=__version__,
        description=(
            "Vital signs in, incidents out. Every answer that is not a success carries "
            '`{"error": {"code", "message"}}`. Authenticate with `Authorization: Bearer '
            "<access token>` (from POST /api/v1/auth/token) or an integration key "
            "(`Authorization: Bearer <key>` or `X-API-Key`); each operation's "
            "`x-permission` names what it needs. Notifications sent by HealthGuard are "
            "secondary alarms: the bedside monitor stays the primary alarm."
        ),
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # the stock pages load scripts from a CDN; ours is self-contained
        redoc_url=None,
    )
    install_error_handlers(api)
    api.include_router(health.router)
    # The machine-fed routes first: a request is matched against the routes in order, so
    # the busiest paths (vital signs, inbound events) skip the scan of every other route.
    # No path of theirs overlaps another router's.
    api.include_router(integrations.router)  # /api/v1/integrations..., /api/v2/enqueue, /v2/enqueue
    api.include_router(vitals.router, prefix=API_PREFIX)
    api.include_router(fhir.router, prefix=API_PREFIX)
    api.include_router(auth.router, prefix=API_PREFIX)
    api.include_router(auth.me_router, prefix=API_PREFIX)
    api.include_router(wards.router, prefix=API_PREFIX)
    api.include_router(incidents.router, prefix=API_PREFIX)
    api.include_router(incident_metrics.router, prefix=API_PREFIX)
    api.include_router(patients.router, prefix=API_PREFIX)
    api.include_router(integration_keys.router, prefix=API_PREFIX)
    api.include_router(audit.router, prefix=API_PREFIX)
    api.include_router(alarm_rules.router, prefix=API_PREFIX)
    api.include_router(alarm_pauses.router, prefix=API_PREFIX)
    api.include_router(news2.router, prefix=API_PREFIX)
    api.include_router(docs.router, prefix=API_PREFIX)
    api.include_router(oncall.router, prefix=API_PREFIX)
    api.include_router(notifications.router)  # /api/v1/notifications/...
    api.include_router(notifications.answer_pages)  # /answer: answer links (no sign-in)
    api.include_router(receipts.router)  # /api/v1/notifications/sms/status and /wctp
    api.include_router(not_found_router)
    return api


# Everything else is the Reflex app (mounted behind this one), so an unknown /api path
# would get the HTML page of the UI; answer it in the API's own error shape instead.
not_found_router = APIRouter(include_in_schema=False)


@not_found_router.api_route(
    API_PREFIX + "/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"]
)
def unknown_api_path(path: str, request: Request) -> JSONResponse:
    allowed = _methods_for_path(request)
    if allowed:
        return JSONResponse(
            error_body(
                "method_not_allowed",
                f"{request.method} is not allowed on {request.url.path}; "
                f"use {', '.join(sorted(allowed))}.",
            ),
            status_code=405,
            headers={"Allow": ", ".join(sorted(allowed))},
        )
    return JSONResponse(
        error_body("not_found", f"No API route {API_PREFIX}/{path}; see {API_PREFIX}/docs."),
        status_code=404,
    )


def _methods_for_path(request: Request) -> set[str]:
    """Methods the documented routes accept on this path (empty: no such path)."""
    allowed: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        regex, _, _ = compile_path(template)
        if regex.match(request.url.path):
            allowed |= {method.upper() for method in operations}
    return allowed
