"""The audit log for the auditor role: search and export (the export is itself audited)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from healthguard.api.security import current_principal, request_origin, secured
from healthguard.db import session_scope
from healthguard.security.audit import AuditFilter, export_and_record, query_audit
from healthguard.security.permissions import Permission, Principal

router = APIRouter(prefix="/audit", tags=["audit"])


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise HTTPException(422, f"{field}: give a time zone offset, e.g. 2026-11-26T08:00:00Z")
    return value


@router.get(
    "",
    summary="Search the audit log (newest first)",
    **secured(Permission.AUDIT_READ),
)
def search(
    actor: str | None = None,
    action: str | None = Query(None, description='An action or a family, e.g. "login.*"'),
    record_type: str | None = None,
    record_id: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(200, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> list[dict[str, Any]]:
    with session_scope() as session:
        rows = query_audit(
            session,
            actor=actor,
            action=action,
            record_type=record_type,
            record_id=record_id,
            outcome=outcome,
            since=_aware(since, "since"),
            until=_aware(until, "until"),
            limit=limit,
            offset=offset,
        )
        return [
            {
                "id": r.id,
                "at": r.at.isoformat(),
                "actor": r.actor,
                "action": r.action,
                "record_type": r.record_type,
                "record_id": r.record_id,
                "ip": r.ip,
                "user_agent": r.user_agent,
                "outcome": r.outcome,
                "details": r.details,
                "hash": r.hash,
            }
            for r in rows
        ]


@router.get(
    "/export",
    summary="Export the (filtered) audit log as CSV or JSON; the export is audited",
    response_class=Response,
    **secured(Permission.AUDIT_EXPORT),
)
def export(
    request: Request,
    format: Literal["csv", "json"] = "csv",
    actor: str | None = None,
    action: str | None = None,
    record_type: str | None = None,
    record_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    principal: Principal = Depends(current_principal),
) -> Response:
    origin = request_origin(request)
    flt = AuditFilter(
        actor=actor,
        action=action,
        record_type=record_type,
        record_id=record_id,
        since=_aware(since, "since"),
        until=_aware(until, "until"),
    )
    with session_scope() as session:
        text = export_and_record(
            session,
            principal.audit_name,
            format,
            flt,
            datetime.now(UTC),
            ip=origin.ip,
            user_agent=origin.user_agent,
        )
    media = "text/csv" if format == "csv" else "application/json"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Response(
        text,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.{format}"'},
    )
