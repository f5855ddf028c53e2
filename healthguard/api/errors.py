"""One error shape for every API answer: {"error": {"code", "message", "fields"?}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


def error_body(code: str, message: str, fields: list[dict[str, str]] | None = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _field_error(error: Any) -> dict[str, str]:
    if error.get("type") == "json_invalid":
        # loc is ("body", <character position>): the position is not a field name.
        position = error["loc"][-1] if len(error["loc"]) > 1 else None
        where = f" at character {position}" if isinstance(position, int) else ""
        return {"field": "body", "message": f"is not valid JSON ({error['msg']}{where})"}
    return {"field": _field_name(error["loc"]), "message": error["msg"]}


def install_error_handlers(api: FastAPI) -> None:
    @api.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [_field_error(e) for e in exc.errors()]
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        return JSONResponse(
            error_body("invalid_request", summary or "invalid request", fields), status_code=422
        )

    @api.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            409: "conflict",
            422: "invalid_request",
        }
        return JSONResponse(
            error_body(code.get(exc.status_code, "error"), str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @api.exception_handler(OperationalError)
    async def _database_down(request: Request, exc: OperationalError) -> JSONResponse:
        # SQLSTATE class 40, "transaction rollback": a deadlock victim, a serialization
        # failure. The database is fine; this transaction lost a race and changed nothing.
        if str(getattr(exc.orig, "sqlstate", "") or "").startswith("40"):
            log.warning("collision on %s %s: %s", request.method, request.url.path, exc)
            return JSONResponse(
                error_body(
                    "collision",
                    "This change collided with another one made at the same moment and was "
                    "not made (nothing was changed). Try again.",
                ),
                status_code=503,
                headers={"Retry-After": "1"},
            )
        log.warning("database unreachable on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            error_body(
                "service_unavailable",
                "The database is unreachable right now; nothing was changed. Try again shortly.",
            ),
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @api.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body("internal_error", "Something went wrong on our side; it has been logged."),
            status_code=500,
        )
