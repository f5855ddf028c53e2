"""Response metrics for dashboards: MTTA, time to bedside, MTTR, escalations, notifications
and the false-alarm share, with percentiles, grouped by priority, ward, shift or person, for
a time range; and incidents per hour by priority. Limited to the caller's wards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from healthguard.api.errors import error_body
from healthguard.api.security import current_principal, secured
from healthguard.db import session_scope
from healthguard.incidents.metrics import DIMENSIONS, GroupMetrics, hourly_histogram, summarize
from healthguard.incidents.metrics_query import TooManyIncidents, incident_facts
from healthguard.security.permissions import Permission, Principal
from healthguard.security.scope import ward_scope
from healthguard.settings import get_settings

router = APIRouter(prefix="/incident-metrics", tags=["incident metrics"])
MAX_RANGE = timedelta(days=92)


class BadQuery(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _bad(exc: BadQuery) -> JSONResponse:
    fields = [{"field": exc.field, "message": exc.message}]
    return JSONResponse(
        error_body("invalid_request", f"{exc.field}: {exc.message}", fields), status_code=422
    )


def _range(opened_from: datetime | None, opened_to: datetime | None) -> tuple[datetime, datetime]:
    to = opened_to or datetime.now(UTC)
    start = opened_from or to - timedelta(hours=24)
    for name, value in (("from", start), ("to", to)):
        if value.tzinfo is None:
            raise BadQuery(name, "needs a UTC offset, e.g. 2026-11-26T08:00:00Z")
    if to <= start:
        raise BadQuery("to", "must be after from")
    if to - start > MAX_RANGE:
        raise BadQuery("from", f"the range may span at most {MAX_RANGE.days} days")
    return start, to


def _zone(name: str | None) -> ZoneInfo:
    name = name or get_settings().timezone
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadQuery("zone", f"{name!r} is not a known time zone, e.g. Europe/London") from None


def _stats(stats: Any) -> dict[str, Any]:
    return {k: getattr(stats, k) for k in ("n", "p50", "p90", "p95", "p99", "mean", "min", "max")}


def group_json(group: GroupMetrics) -> dict[str, Any]:
    return {
        "group": group.labels,
        "count": group.count,
        "open": group.open,
        "acknowledged": group.acknowledged,
        "unacknowledged": group.unacknowledged,
        "resolved": group.resolved,
        "false_alarms": group.false_alarms,
        "false_alarm_share": group.false_alarm_share,
        "time_to_acknowledge_seconds": _stats(group.time_to_acknowledge),
        "time_to_bedside_seconds": _stats(group.time_to_bedside),
        "time_to_resolve_seconds": _stats(group.time_to_resolve),
        "escalations": group.escalations,
        "escalations_per_incident": group.escalations_per_incident,
        "notifications": group.notifications,
        "notifications_per_incident": group.notifications_per_incident,
        "reopened": group.reopened,
    }


EXAMPLE = {
    "from": "2026-11-25T08:00:00+00:00",
    "to": "2026-11-26T08:00:00+00:00",
    "group_by": ["priority"],
    "groups": [
        {
            "group": {"priority": "P1"},
            "count": 12,
            "open": 1,
            "acknowledged": 12,
            "unacknowledged": 0,
            "resolved": 11,
            "false_alarms": 2,
            "false_alarm_share": 0.18,
            "time_to_acknowledge_seconds": {
                "n": 12,
                "p50": 41.0,
                "p90": 95.0,
                "p95": 120.0,
                "p99": 120.0,
                "mean": 52.3,
                "min": 12.0,
                "max": 120.0,
            },
        }
    ],
}


@router.get(
    "",
    summary="Response metrics (MTTA, time to bedside, MTTR, percentiles) for a time range",
    responses={200: {"content": {"application/json": {"example": EXAMPLE}}}, 422: {}},
    **secured(Permission.INCIDENTS_READ),
)
def metrics(
    opened_from: datetime | None = Query(None, alias="from", description="Default: to - 24 h"),
    opened_to: datetime | None = Query(None, alias="to", description="Default: now"),
    group_by: str = Query("", description="Comma-separated: priority, ward, shift, person"),
    zone: str | None = Query(None, description="Time zone of the shifts (default: hospital's)"),
    principal: Principal = Depends(current_principal),
) -> Any:
    """Incidents OPENED in [from, to) within your wards (the whole hospital for roles that see
    it). Durations in seconds; percentiles are nearest-rank; a statistic with no value is
    null, never 0."""
    try:
        start, to = _range(opened_from, opened_to)
        dimensions = tuple(d.strip() for d in group_by.split(",") if d.strip())
        bad = [d for d in dimensions if d not in DIMENSIONS]
        if bad or len(set(dimensions)) != len(dimensions):
            raise BadQuery("group_by", f"distinct values among {', '.join(DIMENSIONS)}")
        tz = _zone(zone)
        with session_scope() as session:
            scope = ward_scope(session, principal, now=datetime.now(UTC))
            facts = incident_facts(session, scope, opened_from=start, opened_to=to)
    except BadQuery as exc:
        return _bad(exc)
    except TooManyIncidents as exc:
        return _bad(BadQuery("from", f"{exc}; narrow the range"))
    groups = summarize(facts, dimensions, zone=tz)  # type: ignore[arg-type]
    return {
        "from": start.isoformat(),
        "to": to.isoformat(),
        "group_by": list(dimensions),
        "zone": tz.key,
        "groups": [group_json(g) for g in groups],
    }


@router.get(
    "/hourly",
    summary="Incidents opened per hour and priority (the 24 h chart)",
    **secured(Permission.INCIDENTS_READ),
)
def hourly(
    opened_from: datetime | None = Query(None, alias="from", description="Default: to - 24 h"),
    opened_to: datetime | None = Query(None, alias="to", description="Default: now"),
    zone: str | None = Query(None, description="Time zone of the hour labels"),
    principal: Principal = Depends(current_principal),
) -> Any:
    try:
        start, to = _range(opened_from, opened_to)
        tz = _zone(zone)
        with session_scope() as session:
            scope = ward_scope(session, principal, now=datetime.now(UTC))
            facts = incident_facts(session, scope, opened_from=start, opened_to=to)
    except BadQuery as exc:
        return _bad(exc)
    except TooManyIncidents as exc:
        return _bad(BadQuery("from", f"{exc}; narrow the range"))
    buckets = hourly_histogram(facts, start, to, zone=tz)
    return {
        "zone": tz.key,
        "hours": [
            {
                "start": b.start.isoformat(),
                "local_start": b.local_start.isoformat(),
                "counts": b.counts,
                "total": b.total,
            }
            for b in buckets
        ],
    }
