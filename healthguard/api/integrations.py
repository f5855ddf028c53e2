"""Inbound integrations: machine events in, and their administration.

Events (each authenticated by the integration's key; every accepted event is recorded in
``inbound_events`` with what became of it):

- ``POST /api/v2/enqueue``, ``POST /v2/enqueue`` and ``POST /api/v1/integrations/events``:
  PagerDuty Events API v2. No credentials header: the ``routing_key`` in the body is the
  integration's key. 202 ``{"status": "success", "message": "Event processed",
  "dedup_key"}``; 400 PagerDuty's ``{"status": "invalid event", "message", "errors"}``
  naming each field; 404 the same body for every unknown, revoked or other-kind key; 413
  over 512 KiB; 429 over the integration's rate limit, with ``Retry-After``.
- ``POST /api/v1/integrations/alertmanager/{key}``: Alertmanager webhook (payload version
  4), the key in the path. 200 with one result per alert, also when some alerts were
  refused (Alertmanager does not retry a 4xx; the refused ones are logged and listed); 400
  only for an envelope that is not a version 4 notification.
- ``POST /api/v1/integrations/webhook`` (generic JSON) and ``POST
  /api/v1/integrations/heartbeat``: the key in ``Authorization: Bearer`` or ``X-API-Key``
  (never in the URL).

Administration: ``/api/v1/integrations`` (``integration_keys:manage``: create, shown the key
once; list; revoke) and ``/api/v1/silences`` (``silences:manage``).

Every route parses, authenticates, and calls one function of
``healthguard.integrations.service`` in a worker thread; the change is published after the
commit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select
from starlette.routing import compile_path

from healthguard.api.errors import error_body
from healthguard.api.group_commit import GroupCommit
from healthguard.api.security import PUBLIC, current_principal, request_origin, secured
from healthguard.api.vitals import BodyTooLarge, inline_schema, read_limited_body
from healthguard.db import session_scope
from healthguard.integrations import alertmanager, generic, pagerduty
from healthguard.integrations import service as svc
from healthguard.integrations.events import FieldError, InvalidEvent
from healthguard.integrations.heartbeat import heartbeat_state
from healthguard.integrations.silences import SilenceScope
from healthguard.models.integrations import InboundEventLog, Integration, Silence
from healthguard.security.accounts import Origin
from healthguard.security.audit import record_audit
from healthguard.security.permissions import Permission, Principal
from workers.queues import redis_connection

log = logging.getLogger(__name__)

router = APIRouter(tags=["integrations"])

V1 = "/api/v1"
MAX_EVENT_BYTES = 512 * 1024  # PagerDuty's limit for one event
EVENTS_PER_COMMIT = 64  # at most, per transaction (group commit)
MAX_NOTIFICATION_BYTES = 4 * 1024 * 1024  # an Alertmanager group can hold many alerts
ENQUEUE_PATHS = ("/api/v2/enqueue", "/v2/enqueue", f"{V1}/integrations/events")
UNKNOWN_KEY_MESSAGE = "No such integration."
THROTTLE_BODY = {
    "status": "throttle event",
    "message": "Requests for this integration are arriving too quickly. Please retry later.",
}


def by_key(where: str) -> dict[str, Any]:
    """Route keyword arguments of a route authenticated by the integration key in the
    request itself (``where``: ``body.routing_key`` or ``path.key``), not by a header: no
    credentials header is needed (``public``), and an unknown key answers 404."""
    return {"openapi_extra": {"x-permission": PUBLIC, "x-integration-key": where}}


# --- shared helpers ------------------------------------------------------------------------


def _refuse_key(session: Session, request: Request, origin: Origin, now: datetime) -> None:
    """Audit a request with an unknown, revoked or other-kind key (never the key itself)."""
    record_audit(
        session,
        actor="anonymous",
        action="apikey.refused",
        record_type="request",
        record_id=f"{request.method} {_route_path(request)}",
        outcome="denied",
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={"reason": "unknown, revoked or other-kind integration key"},
        now=now,
    )


def _route_path(request: Request) -> str:
    """The route's template (``/api/v1/integrations/alertmanager/{key}``): never the key."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "") or request.url.path)


def _throttled(retry_after: int, body: dict[str, Any] | None = None) -> JSONResponse:
    return JSONResponse(
        body
        or error_body(
            "rate_limited", f"Too many requests for this integration; retry in {retry_after} s."
        ),
        status_code=429,
        headers={"Retry-After": str(retry_after)},
    )


def _invalid(errors: list[FieldError], status: int = 422) -> JSONResponse:
    fields = [e.as_dict() for e in errors]
    message = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return JSONResponse(error_body("invalid_request", message, fields), status_code=status)


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(
        error_body("payload_too_large", f"The body is larger than the limit of {limit} bytes."),
        status_code=413,
    )


def _parse_json(raw: bytes) -> Any:
    """The JSON body; ``InvalidEvent`` naming ``body`` when it is not JSON."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidEvent("body", f"is not valid JSON ({exc})") from None


# --- PagerDuty Events API v2 ---------------------------------------------------------------


class PagerDutyPayload(BaseModel):
    summary: str = Field(max_length=1024, examples=["Monitor gateway ICU-2 unreachable"])
    source: str = Field(examples=["gw-icu-2.hospital.local"])
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: str | None = Field(None, examples=["2025-01-06T13:10:00.000+0000"])
    component: str | None = None
    group: str | None = None
    class_: str | None = Field(None, alias="class")
    custom_details: Any = Field(None, description="Any JSON; at most 512 KiB.")


class PagerDutyLink(BaseModel):
    href: str
    text: str | None = None


class PagerDutyImage(BaseModel):
    src: str = Field(description="https only")
    href: str | None = None
    alt: str | None = None


class PagerDutyEvent(BaseModel):
    """An alert event of the PagerDuty Events API v2."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "routing_key": "0123456789abcdef0123456789abcdef",
                    "event_action": "trigger",
                    "dedup_key": "gw-icu-2/down",
                    "payload": {
                        "summary": "Monitor gateway ICU-2 unreachable",
                        "source": "gw-icu-2.hospital.local",
                        "severity": "critical",
                    },
                }
            ]
        }
    )
    routing_key: str = Field(description="The integration's key (shown once at creation).")
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: str | None = Field(
        None, max_length=255, description="Required to acknowledge or resolve."
    )
    payload: PagerDutyPayload | None = Field(None, description="Required for a trigger.")
    links: list[PagerDutyLink] | None = None
    images: list[PagerDutyImage] | None = None
    client: str | None = None
    client_url: str | None = None


class PagerDutyAccepted(BaseModel):
    status: Literal["success"] = "success"
    message: str = Field(examples=["Event processed"])
    dedup_key: str


def _pd_invalid(problem: InvalidEvent | list[FieldError], status: int = 400) -> JSONResponse:
    return JSONResponse(pagerduty.error_body(problem), status_code=status)


UNKNOWN_ROUTING_KEY = {
    "status": "invalid event",
    "message": "Unknown routing key",
    "errors": ["'routing_key' does not match an integration (unknown or revoked)"],
}


@dataclass
class _EventRequest:
    """One POST of the Events API, waiting for the group commit."""

    body: Any
    routing_key: str
    request: Request
    origin: Origin
    now: datetime
    counted: bool = False  # already counted by the rate limiter (a batch retried alone)


_Answer = tuple[JSONResponse, list[svc.Outcome]]


def _accepted(event: Any, outcome: svc.Outcome) -> _Answer:
    return JSONResponse(pagerduty.success_body(event.dedup_key), status_code=202), [outcome]


def _enqueue_batch(items: list[_EventRequest]) -> list[_Answer | BaseException]:
    """A group commit of Events API requests, in two parts:

    1. one transaction: the keys (one look-up per key), the rate limit (one Redis round
       trip per integration), the parsing, and every trigger that repeats an open incident
       (``svc.accept_repeats``: one statement); the refused keys' audit rows last;
    2. every other event (opening, acknowledging or resolving an incident: audited, and
       locking incident rows) in a transaction of its own, in the order
       ``accept_repeats`` gives.

    If part 1 fails (a lost connection, a bad event that slipped through validation), each
    request is done again alone, so one event never fails the others; an event of part 2
    that fails fails only its own request. Every request is answered after the commit
    that holds it."""
    try:
        with session_scope() as session:
            answers, rest = _enqueue_first(session, items)
    except Exception as exc:
        if len(items) == 1:
            return [exc]
        log.warning("events: a batch of %d failed (%s); each retried alone", len(items), exc)
        return [_enqueue_batch([item])[0] for item in items]
    done: list[_Answer | BaseException | None] = list(answers)
    for n, integration, event in rest:
        try:
            with session_scope() as session:
                outcome = svc.accept_event(session, integration, event, now=items[n].now)
            done[n] = _accepted(event, outcome)
        except Exception as exc:
            log.exception("events: an event of integration key %s... failed",
                          items[n].routing_key[:8])  # fmt: skip
            done[n] = exc
    assert all(answer is not None for answer in done), "every request of a batch is answered"
    return [answer for answer in done if answer is not None]


def _enqueue_first(
    session: Session, items: list[_EventRequest]
) -> tuple[list[_Answer | None], list[tuple[int, Integration, Any]]]:
    """Part 1 of ``_enqueue_batch``: the answers it gives (None: not yet), and the events
    left for part 2 (position, integration, parsed event), in the order to apply them."""
    answers: list[_Answer | None] = [None] * len(items)
    integrations: dict[str, Integration | None] = {}
    for item in items:
        if item.routing_key not in integrations:
            integrations[item.routing_key] = svc.find_by_key(
                session, item.routing_key, now=item.now, kinds=("pagerduty",)
            )
    refused: list[_EventRequest] = []
    by_integration: dict[uuid.UUID, list[int]] = {}
    for n, item in enumerate(items):
        integration = integrations[item.routing_key]
        if integration is None:
            refused.append(item)
            answers[n] = (JSONResponse(UNKNOWN_ROUTING_KEY, status_code=404), [])
        elif not item.counted:
            by_integration.setdefault(integration.id, []).append(n)
    client = redis_connection() if by_integration else None
    for positions in by_integration.values():
        integration = integrations[items[positions[0]].routing_key]
        assert integration is not None
        now = max(items[n].now for n in positions)
        retries = svc.rate_limited_many(client, integration, len(positions), now=now)
        for n, retry in zip(positions, retries, strict=True):
            items[n].counted = True
            if retry is not None:
                answers[n] = (_throttled(retry, THROTTLE_BODY), [])
    parsed: list[tuple[int, Integration, Any]] = []
    for n, item in enumerate(items):
        integration = integrations[item.routing_key]
        if answers[n] is not None or integration is None:
            continue
        try:
            event = pagerduty.parse_enqueue(
                item.body, severity_map=integration.severity_map, allow_p0=integration.allow_p0
            )
        except InvalidEvent as exc:
            answers[n] = (_pd_invalid(exc), [])
            continue
        parsed.append((n, integration, event))
    repeats, rest = svc.accept_repeats(
        session, [(integration, event, items[n].now) for n, integration, event in parsed]
    )
    for position, outcome in repeats.items():
        n, _, event = parsed[position]
        answers[n] = _accepted(event, outcome)
    for item in refused:  # audited last: the audit chain's lock is held to the commit
        _refuse_key(session, item.request, item.origin, item.now)
    return answers, [parsed[position] for position in rest]


_event_commits: GroupCommit[_EventRequest, _Answer] | None = None


def event_commits() -> GroupCommit[_EventRequest, _Answer]:
    """This process's group commit of Events API requests."""
    global _event_commits
    if _event_commits is None:
        _event_commits = GroupCommit(_enqueue_batch, max_batch=EVENTS_PER_COMMIT)
    return _event_commits


async def enqueue(request: Request) -> JSONResponse:
    try:
        raw = await read_limited_body(request, MAX_EVENT_BYTES)
    except BodyTooLarge:
        return JSONResponse(
            {
                "status": "invalid event",
                "message": "Event object is too large",
                "errors": [f"'body' is larger than {MAX_EVENT_BYTES} bytes (512 KiB)"],
            },
            status_code=413,
        )
    try:
        body = _parse_json(raw)
        routing_key = pagerduty.routing_key_of(body)
    except InvalidEvent as exc:
        return _pd_invalid(exc)
    item = _EventRequest(body, routing_key, request, request_origin(request), datetime.now(UTC))
    response, outcomes = await event_commits().submit(item)
    if any(o.change_kind for o in outcomes):
        await asyncio.to_thread(svc.publish_outcomes, outcomes)
    return response


_PD_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": PagerDutyAccepted, "description": "Accepted (and recorded)."},
    400: {"description": "Invalid event: PagerDuty's body, naming each field."},
    404: {"description": "Unknown or revoked routing key (the same answer for every key)."},
    413: {"description": "The body is over 512 KiB."},
    429: {"description": "Over the integration's rate limit; see Retry-After."},
}
for _path in ENQUEUE_PATHS:
    router.add_api_route(
        _path,
        enqueue,
        methods=["POST"],
        status_code=202,
        summary="PagerDuty Events API v2: trigger, acknowledge or resolve (routing_key)",
        description=(
            "Compatible with PagerDuty's `POST https://events.pagerduty.com/v2/enqueue`: point "
            "a stock client at this server. The routing_key is the integration's key."
        ),
        responses=_PD_RESPONSES,
        name=f"enqueue_{_path.strip('/').replace('/', '_')}",
        openapi_extra={
            **by_key("body.routing_key")["openapi_extra"],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": inline_schema(PagerDutyEvent)}},
            },
        },
    )


# --- Alertmanager --------------------------------------------------------------------------


class AlertResult(BaseModel):
    index: int = Field(description="The alert's position in the notification.")
    dedup_key: str
    outcome: str = Field(examples=["opened"])
    incident_id: str | None
    incident_number: int | None
    reason: str | None


class AlertmanagerAccepted(BaseModel):
    status: Literal["success"] = "success"
    group_key: str | None
    results: list[AlertResult]
    errors: list[dict[str, str]] = Field(description="Alerts refused, each naming its field.")


def _alertmanager(
    body: Any, key: str, request: Request, origin: Origin, now: datetime
) -> tuple[JSONResponse, list[svc.Outcome]]:
    with session_scope() as session:
        integration = svc.find_by_key(session, key, now=now, kinds=("alertmanager",))
        if integration is None:
            _refuse_key(session, request, origin, now)
            return JSONResponse(error_body("not_found", UNKNOWN_KEY_MESSAGE), 404), []
        retry = svc.rate_limited(redis_connection(), integration, now=now)
        if retry is not None:
            return _throttled(retry), []
        try:
            notification = alertmanager.parse_webhook(
                body,
                integration_id=str(integration.id),
                severity_map=integration.severity_map,
                allow_p0=integration.allow_p0,
            )
        except InvalidEvent as exc:
            if not all(e.field.startswith("alerts[") for e in exc.errors):
                return _invalid(exc.errors, status=400), []
            notification = alertmanager.AlertmanagerNotification(
                version=alertmanager.SUPPORTED_VERSION,
                group_key=body.get("groupKey") if isinstance(body, dict) else None,
                status=None,
                receiver=None,
                external_url=None,
                truncated_alerts=0,
                errors=tuple(exc.errors),
            )
        if notification.errors:
            log.warning(
                "integration %s: Alertmanager alerts refused: %s",
                integration.name,
                "; ".join(str(e) for e in notification.errors),
            )
        outcomes = svc.accept_notification(session, integration, notification, now=now)
    indexes = _alert_indexes(body, len(outcomes), notification.errors)
    answer = AlertmanagerAccepted(
        group_key=notification.group_key,
        results=[
            AlertResult(
                index=index,
                dedup_key=o.dedup_key,
                outcome=o.outcome,
                incident_id=str(o.incident_id) if o.incident_id else None,
                incident_number=o.incident_number,
                reason=o.reason,
            )
            for index, o in zip(indexes, outcomes, strict=True)
        ],
        errors=[e.as_dict() for e in notification.errors],
    )
    return JSONResponse(answer.model_dump(mode="json"), status_code=200), outcomes


def _alert_indexes(body: Any, accepted: int, errors: tuple[FieldError, ...]) -> list[int]:
    """The positions of the accepted alerts (the refused ones are named by their errors)."""
    refused = {e.field.split("]")[0] + "]" for e in errors if e.field.startswith("alerts[")}
    total = (
        len(body["alerts"])
        if isinstance(body, dict) and isinstance(body.get("alerts"), list)
        else 0
    )
    indexes = [i for i in range(total) if f"alerts[{i}]" not in refused]
    return indexes if len(indexes) == accepted else list(range(accepted))


@router.post(
    f"{V1}/integrations/alertmanager/{{key}}",
    response_model=AlertmanagerAccepted,
    summary="Prometheus Alertmanager webhook (payload version 4); the key is in the path",
    responses={
        400: {"description": "Not an Alertmanager version 4 notification."},
        404: {"description": "Unknown or revoked key (the same answer for every key)."},
        413: {"description": "The body is over 4 MiB."},
        429: {"description": "Over the integration's rate limit; see Retry-After."},
    },
    **by_key("path.key"),
)
async def alertmanager_webhook(key: str, request: Request) -> JSONResponse:
    try:
        raw = await read_limited_body(request, MAX_NOTIFICATION_BYTES)
    except BodyTooLarge:
        return _too_large(MAX_NOTIFICATION_BYTES)
    try:
        body = _parse_json(raw)
    except InvalidEvent as exc:
        return _invalid(exc.errors, status=400)
    now = datetime.now(UTC)
    response, outcomes = await asyncio.to_thread(
        _alertmanager, body, key, request, request_origin(request), now
    )
    if any(o.change_kind for o in outcomes):
        await asyncio.to_thread(svc.publish_outcomes, outcomes)
    return response


# --- generic webhook and heartbeats (key in a header) ---------------------------------------


class GenericEvent(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "summary": "Oxygen supply pressure low, ward 7",
                    "action": "trigger",
                    "dedup": "o2-ward7",
                    "severity": "critical",
                    "details": {"bar": 3.1},
                }
            ]
        }
    )
    summary: str | None = Field(None, description="Required for a trigger.")
    action: Literal["trigger", "acknowledge", "resolve"] = "trigger"
    dedup: str | None = Field(None, max_length=255, description="Required to ack / resolve.")
    severity: Literal["critical", "error", "warning", "info"] | None = None
    details: Any = None
    source: str | None = None
    timestamp: str | None = None


class WebhookAccepted(BaseModel):
    status: Literal["success"] = "success"
    dedup: str
    outcome: str
    incident_id: str | None
    incident_number: int | None
    reason: str | None


_events_write = secured(Permission.EVENTS_WRITE)


def _generic(body: Any, principal: Principal, now: datetime) -> tuple[JSONResponse, list[Any]]:
    with session_scope() as session:
        integration = svc.integration_of_key(session, principal, now=now, kinds=("generic",))
        if integration is None:
            return JSONResponse(
                error_body("not_found", "No generic-webhook integration uses this key."), 404
            ), []
        retry = svc.rate_limited(redis_connection(), integration, now=now)
        if retry is not None:
            return _throttled(retry), []
        try:
            event = generic.parse_generic(
                body, severity_map=integration.severity_map, allow_p0=integration.allow_p0
            )
        except InvalidEvent as exc:
            return _invalid(exc.errors), []
        outcome = svc.accept_event(session, integration, event, now=now)
    data = outcome.as_dict()
    answer = WebhookAccepted(
        dedup=event.dedup_key,
        outcome=outcome.outcome,
        incident_id=data["incident_id"],
        incident_number=outcome.incident_number,
        reason=outcome.reason,
    )
    return JSONResponse(answer.model_dump(mode="json"), status_code=202), [outcome]


@router.post(
    f"{V1}/integrations/webhook",
    status_code=202,
    response_model=WebhookAccepted,
    summary="Generic JSON webhook: summary, action, dedup, severity, details",
    responses={
        404: {"description": "This key belongs to no generic-webhook integration."},
        413: {"description": "The body is over 512 KiB."},
        429: {"description": "Over the integration's rate limit; see Retry-After."},
    },
    dependencies=_events_write["dependencies"],
    openapi_extra={
        **_events_write["openapi_extra"],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline_schema(GenericEvent)}},
        },
    },
)
async def generic_webhook(
    request: Request, principal: Principal = Depends(current_principal)
) -> JSONResponse:
    try:
        raw = await read_limited_body(request, MAX_EVENT_BYTES)
    except BodyTooLarge:
        return _too_large(MAX_EVENT_BYTES)
    try:
        body = _parse_json(raw)
    except InvalidEvent as exc:
        return _invalid(exc.errors)
    response, outcomes = await asyncio.to_thread(_generic, body, principal, datetime.now(UTC))
    if any(o.change_kind for o in outcomes):
        await asyncio.to_thread(svc.publish_outcomes, outcomes)
    return response


class HeartbeatOut(BaseModel):
    status: Literal["ok"] = "ok"
    integration: str
    last_heartbeat_at: datetime
    expected_before: datetime = Field(description="Missed from this time on without another.")
    resolved_incident_id: str | None = Field(
        description="The missed-heartbeat incident this heartbeat resolved, if any."
    )


def _heartbeat(principal: Principal, now: datetime) -> tuple[JSONResponse, list[Any]]:
    with session_scope() as session:
        integration = svc.integration_of_key(session, principal, now=now)
        if integration is None or integration.heartbeat_interval_seconds is None:
            return JSONResponse(
                error_body("not_found", "No integration with a heartbeat interval uses this key."),
                404,
            ), []
        retry = svc.rate_limited(redis_connection(), integration, now=now)
        if retry is not None:
            return _throttled(retry), []
        outcome = svc.record_heartbeat(session, integration, now=now)
        policy = svc.heartbeat_policy(integration)
        assert policy is not None and integration.last_heartbeat_at is not None
        state = heartbeat_state(
            policy,
            last_heartbeat_at=integration.last_heartbeat_at,
            monitoring_since=integration.created_at,
            now=now,
        )
        answer = HeartbeatOut(
            integration=integration.name,
            last_heartbeat_at=integration.last_heartbeat_at,
            expected_before=state.deadline,
            resolved_incident_id=(
                str(outcome.incident_id)
                if outcome is not None and outcome.outcome == "resolved"
                else None
            ),
        )
    return JSONResponse(answer.model_dump(mode="json")), [outcome] if outcome else []


@router.post(
    f"{V1}/integrations/heartbeat",
    response_model=HeartbeatOut,
    summary="A heartbeat of an integration with a heartbeat interval (key in a header)",
    responses={
        404: {"description": "This key belongs to no integration with a heartbeat interval."}
    },
    **_events_write,
)
async def heartbeat(
    request: Request, principal: Principal = Depends(current_principal)
) -> JSONResponse:
    response, outcomes = await asyncio.to_thread(_heartbeat, principal, datetime.now(UTC))
    if any(o.change_kind for o in outcomes):
        await asyncio.to_thread(svc.publish_outcomes, outcomes)
    return response


# --- administration: integrations ----------------------------------------------------------


class NewIntegration(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Prometheus Alertmanager",
                    "kind": "alertmanager",
                    "severity_map": {"critical": "P1", "warning": "P3"},
                    "default_ward_code": "ICU",
                }
            ]
        },
    )
    name: str = Field(min_length=1, max_length=100)
    kind: Literal["pagerduty", "alertmanager", "generic", "heartbeat"]
    severity_map: dict[str, str] | None = Field(
        None, description="Severity -> priority over the default (critical P1 ... info P4)."
    )
    allow_p0: bool = Field(False, description="Let a severity map to P0 (clinical arrest).")
    default_ward_code: str | None = Field(None, description="The ward its incidents belong to.")
    heartbeat_interval_seconds: int | None = Field(None, ge=10, le=7 * 86400)
    heartbeat_grace_seconds: int | None = Field(None, ge=0, le=86400)
    rate_limit_per_minute: int = Field(1200, ge=1, le=svc.MAX_RATE_LIMIT_PER_MINUTE)


class IntegrationOut(BaseModel):
    id: str
    name: str
    kind: str
    key_prefix: str | None
    severity_map: dict[str, str]
    allow_p0: bool
    default_ward_code: str | None
    heartbeat_interval_seconds: int | None
    heartbeat_grace_seconds: int | None
    last_heartbeat_at: datetime | None
    heartbeat_missed: bool
    rate_limit_per_minute: int
    enabled: bool
    created_by: str
    created_at: datetime
    disabled_at: datetime | None


class CreatedIntegration(IntegrationOut):
    key: str = Field(description="The integration's key. Shown only now.")
    endpoints: dict[str, str] = Field(description="Where this integration sends (paths).")


def _integration_out(session: Session, integration: Integration) -> IntegrationOut:
    return IntegrationOut(
        id=str(integration.id),
        name=integration.name,
        kind=integration.kind,
        key_prefix=svc.key_prefix(session, integration),
        severity_map=dict(integration.severity_map),
        allow_p0=integration.allow_p0,
        default_ward_code=integration.default_ward_code,
        heartbeat_interval_seconds=integration.heartbeat_interval_seconds,
        heartbeat_grace_seconds=integration.heartbeat_grace_seconds,
        last_heartbeat_at=integration.last_heartbeat_at,
        heartbeat_missed=integration.heartbeat_missed,
        rate_limit_per_minute=integration.rate_limit_per_minute,
        enabled=integration.enabled,
        created_by=integration.created_by,
        created_at=integration.created_at,
        disabled_at=integration.disabled_at,
    )


def _endpoints(integration: Integration, key: str) -> dict[str, str]:
    endpoints = {
        "pagerduty": {"events": "/v2/enqueue (routing_key in the body)"},
        "alertmanager": {"webhook": f"{V1}/integrations/alertmanager/{key}"},
        "generic": {"webhook": f"{V1}/integrations/webhook (key in X-API-Key)"},
        "heartbeat": {},
    }[integration.kind]
    if integration.heartbeat_interval_seconds is not None:
        endpoints["heartbeat"] = f"{V1}/integrations/heartbeat (key in X-API-Key)"
    return endpoints


_manage = secured(Permission.INTEGRATION_KEYS_MANAGE)


@router.post(
    f"{V1}/integrations",
    response_model=CreatedIntegration,
    status_code=201,
    summary="Create an integration (its key is shown once)",
    responses={409: {"description": "An integration of that name exists."}},
    **_manage,
)
def create_integration(
    body: NewIntegration, request: Request, principal: Principal = Depends(current_principal)
) -> CreatedIntegration:
    try:
        with session_scope() as session:
            integration, key = svc.create_integration(
                session,
                name=body.name,
                kind=body.kind,
                created_by=principal.audit_name,
                now=datetime.now(UTC),
                origin=request_origin(request),
                severity_map=body.severity_map,
                allow_p0=body.allow_p0,
                default_ward_code=body.default_ward_code,
                heartbeat_interval_seconds=body.heartbeat_interval_seconds,
                heartbeat_grace_seconds=body.heartbeat_grace_seconds,
                rate_limit_per_minute=body.rate_limit_per_minute,
            )
            out = _integration_out(session, integration)
    except svc.IntegrationInputError as exc:
        status = 409 if "exists already" in exc.message else 422
        raise HTTPException(status, f"{exc.field}: {exc.message}") from None
    return CreatedIntegration(**out.model_dump(), key=key, endpoints=_endpoints(integration, key))


@router.get(
    f"{V1}/integrations",
    response_model=list[IntegrationOut],
    summary="List integrations (never their keys)",
    **_manage,
)
def list_integrations() -> list[IntegrationOut]:
    with session_scope() as session:
        rows = session.exec(select(Integration).order_by(col(Integration.created_at))).all()
        return [_integration_out(session, row) for row in rows]


@router.delete(
    f"{V1}/integrations/{{integration_id}}",
    response_model=IntegrationOut,
    summary="Revoke an integration: its key stops working at once (its events stay)",
    responses={404: {"description": "No such integration"}},
    **_manage,
)
def revoke_integration(
    integration_id: uuid.UUID, request: Request, principal: Principal = Depends(current_principal)
) -> IntegrationOut:
    with session_scope() as session:
        integration = svc.revoke_integration(
            session,
            integration_id,
            actor=principal.audit_name,
            now=datetime.now(UTC),
            origin=request_origin(request),
        )
        if integration is None:
            raise HTTPException(404, UNKNOWN_KEY_MESSAGE)
        return _integration_out(session, integration)


class InboundEventOut(BaseModel):
    id: int
    dedup_key: str
    action: str
    received_at: datetime
    occurred_at: datetime | None
    summary: str
    severity: str | None
    outcome: str
    reason: str | None
    incident_id: str | None
    silence_id: str | None


@router.get(
    f"{V1}/integrations/{{integration_id}}/events",
    response_model=list[InboundEventOut],
    summary="The events an integration sent, newest first, with what became of each",
    responses={404: {"description": "No such integration"}},
    **_manage,
)
def integration_events(
    integration_id: uuid.UUID,
    limit: int = Query(100, ge=1, le=1000),
    outcome: str | None = Query(None, description="Only this outcome (ignored, suppressed...)"),
) -> list[InboundEventOut]:
    with session_scope() as session:
        if session.get(Integration, integration_id) is None:
            raise HTTPException(404, UNKNOWN_KEY_MESSAGE)
        stmt = (
            select(InboundEventLog)
            .where(InboundEventLog.integration_id == integration_id)
            .order_by(col(InboundEventLog.id).desc())
            .limit(limit)
        )
        if outcome:
            stmt = stmt.where(InboundEventLog.outcome == outcome)
        return [
            InboundEventOut(
                id=int(row.id or 0),
                dedup_key=row.dedup_key,
                action=row.action,
                received_at=row.received_at,
                occurred_at=row.occurred_at,
                summary=row.summary,
                severity=row.severity,
                outcome=row.outcome,
                reason=row.reason,
                incident_id=str(row.incident_id) if row.incident_id else None,
                silence_id=str(row.silence_id) if row.silence_id else None,
            )
            for row in session.exec(stmt).all()
        ]


# --- administration: silences ---------------------------------------------------------------


class ScopeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    integration_id: str | None = None
    ward_code: str | None = Field(None, examples=["ICU"])
    patient_id: str | None = None
    rule: str | None = Field(None, description="PagerDuty class or Alertmanager alertname.")


class NewSilence(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "scope": {"ward_code": "ICU", "rule": "GatewayDown"},
                    "starts_at": "2025-01-06T22:00:00Z",
                    "ends_at": "2025-01-07T02:00:00Z",
                    "reason": "Gateway firmware update",
                }
            ]
        },
    )
    scope: ScopeIn
    starts_at: AwareDatetime | None = Field(None, description="Default: now.")
    ends_at: AwareDatetime | None = Field(None, description="Or duration_minutes.")
    duration_minutes: int | None = Field(None, ge=1, le=7 * 24 * 60)
    reason: str = Field(min_length=1, max_length=500)


class SilenceOut(BaseModel):
    id: str
    scope: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    created_at: datetime
    ended_at: datetime | None
    ended_by: str | None
    active: bool


def _silence_out(row: Silence, now: datetime) -> SilenceOut:
    rule = svc.silence_rule(row)
    return SilenceOut(
        id=str(row.id),
        scope=rule.scope.given(),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        reason=row.reason,
        created_by=row.created_by,
        created_at=row.created_at,
        ended_at=row.ended_at,
        ended_by=row.ended_by,
        active=rule.is_active(now),
    )


_silences = secured(Permission.SILENCES_MANAGE)


@router.post(
    f"{V1}/silences",
    response_model=SilenceOut,
    status_code=201,
    summary="Silence machine events of a scope for a while (a maintenance window)",
    responses={403: {"description": "Not a scope you may silence"}},
    **_silences,
)
def create_silence(
    body: NewSilence, request: Request, principal: Principal = Depends(current_principal)
) -> SilenceOut:
    now = datetime.now(UTC)
    starts_at = body.starts_at or now
    if (body.ends_at is None) == (body.duration_minutes is None):
        raise HTTPException(422, "ends_at: give either ends_at or duration_minutes")
    ends_at = body.ends_at or starts_at + timedelta(minutes=body.duration_minutes or 0)
    try:
        with session_scope() as session:
            row = svc.create_silence(
                session,
                principal=principal,
                scope=SilenceScope(**body.scope.model_dump()),
                starts_at=starts_at,
                ends_at=ends_at,
                reason=body.reason,
                now=now,
                origin=request_origin(request),
            )
            return _silence_out(row, now)
    except svc.IntegrationInputError as exc:
        raise HTTPException(422, f"{exc.field}: {exc.message}") from None
    except PermissionError as exc:
        raise HTTPException(403, str(exc)) from None


@router.get(
    f"{V1}/silences",
    response_model=list[SilenceOut],
    summary="Silences active now or scheduled (include_ended: the past ones too)",
    **_silences,
)
def list_silences(include_ended: bool = Query(False)) -> list[SilenceOut]:
    now = datetime.now(UTC)
    with session_scope() as session:
        return [
            _silence_out(row, now)
            for row in svc.list_silences(session, now=now, include_ended=include_ended)
        ]


@router.delete(
    f"{V1}/silences/{{silence_id}}",
    response_model=SilenceOut,
    summary="End a silence now (or cancel a scheduled one)",
    responses={404: {"description": "No such silence"}, 403: {"description": "Not yours to end"}},
    **_silences,
)
def end_silence(
    silence_id: uuid.UUID, request: Request, principal: Principal = Depends(current_principal)
) -> SilenceOut:
    now = datetime.now(UTC)
    try:
        with session_scope() as session:
            row = svc.end_silence(
                session, silence_id, principal=principal, now=now, origin=request_origin(request)
            )
            if row is None:
                raise HTTPException(404, "No such silence.")
            return _silence_out(row, now)
    except PermissionError as exc:
        raise HTTPException(403, str(exc)) from None


# --- /api/v2: only the PagerDuty route; anything else answers in the API's error shape -------


@router.api_route(
    "/api/v2/{path:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
def unknown_v2_path(path: str, request: Request) -> JSONResponse:
    allowed = {
        "POST"
        for template in ENQUEUE_PATHS
        if template.startswith("/api/v2/") and compile_path(template)[0].match(request.url.path)
    }
    if allowed:
        return JSONResponse(
            error_body(
                "method_not_allowed",
                f"{request.method} is not allowed on {request.url.path}; use POST.",
            ),
            status_code=405,
            headers={"Allow": "POST"},
        )
    return JSONResponse(
        error_body("not_found", f"No API route /api/v2/{path}; see {V1}/docs."), status_code=404
    )
