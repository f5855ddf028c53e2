"""Delivery receipts from SMS providers and WCTP pager gateways (machines, not people).

- ``POST /api/v1/notifications/sms/status``: an SMS provider's status callback, a
  Twilio-style form body (or the same fields as JSON): ``MessageSid``, ``MessageStatus``
  (queued, sent, delivered, undelivered, failed, read...), ``ErrorCode``. Authenticated like
  the SMS reply webhook (``healthguard.api.sms_auth``): an integration key with the
  ``notify:sms_inbound`` scope (``X-API-Key`` or ``Authorization: Bearer``) or Twilio's
  ``X-Twilio-Signature`` (``HEALTHGUARD_TWILIO_AUTH_TOKEN``); declared ``public`` since
  Twilio sends no credentials header. 200 ``{"notification_id", "status", "outcome",
  "message"}``, also for a duplicate or a report that changes nothing (the message says
  why); 404 with one fixed body for missing or bad credentials (audited, logged, counted)
  and 404 for a message id we never sent (logged); 422 naming the field.
- ``POST /api/v1/notifications/wctp?key=<HEALTHGUARD_WCTP_CALLBACK_KEY>``: a WCTP 1.3
  gateway's ``wctp-StatusInfo`` (XML). Gateways are configured with a URL only, so the
  shared secret is in the URL (compared in constant time); the route is declared ``public``
  (no credentials header). Every answer is a ``wctp-Confirmation``: 200 ``wctp-Success``;
  404 ``wctp-Failure`` 402 for a missing or wrong key (audited as ``access.denied``; the
  same answer whether or not receipts are configured, so a caller learns nothing) and 403
  for an unknown message id (logged); 422 ``wctp-Failure`` 301/302/300 naming the element or
  attribute.

Each route parses, authenticates and calls ``receipts_service.record_receipt`` in a worker
thread (one transaction; the live update and the jobs of a retry or fallback after the
commit). Neither route is rate-limited (nor is the SMS reply webhook): the callers are the
hospital's own provider and gateway, authenticated by their secret.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from healthguard.api.errors import error_body
from healthguard.api.security import public, request_origin
from healthguard.api.sms_auth import provider_request, sms_webhook_route
from healthguard.api.vitals import BodyTooLarge, read_limited_body
from healthguard.db import session_scope
from healthguard.models.notifications import Channel
from healthguard.notify.channels import wctp
from healthguard.notify.channels.sms import StatusCallbackError, parse_status_callback
from healthguard.notify.receipts import Receipt
from healthguard.notify.receipts_service import ReceiptOutcome, UnknownMessage, record_receipt
from healthguard.security.audit import record_audit
from healthguard.settings import get_settings

log = logging.getLogger(__name__)

router = APIRouter(tags=["notifications"])

V1 = "/api/v1/notifications"
MAX_BODY_BYTES = 64 * 1024
XML = "text/xml; charset=utf-8"


class ReceiptOut(BaseModel):
    notification_id: str
    status: str = Field(description="The notification's status now")
    outcome: str = Field(
        description="advanced, failed, filled, duplicate, unchanged or ignored (see message)"
    )
    message: str
    next_action: str | None = Field(
        None, description="After a failure: retry, fall_back or give_up"
    )


def _record(channel: Channel, ids: str | tuple[str, ...], receipt: Receipt) -> ReceiptOutcome:
    with session_scope() as session:
        return record_receipt(session, channel, ids, receipt, datetime.now(UTC))


def _out(outcome: ReceiptOutcome) -> ReceiptOut:
    return ReceiptOut(
        notification_id=str(outcome.notification_id),
        status=outcome.status,
        outcome=outcome.effect.value,
        message=outcome.note,
        next_action=outcome.next_action,
    )


def _fields(raw: bytes, content_type: str) -> dict[str, str]:
    """The body's fields: a JSON object or a form (``application/x-www-form-urlencoded``);
    StatusCallbackError naming ``body`` otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise StatusCallbackError("body", "is not UTF-8") from None
    if "json" in content_type:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise StatusCallbackError("body", f"is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise StatusCallbackError("body", "must be a JSON object")
        return {str(k): str(v) for k, v in data.items() if isinstance(v, str | int)}
    if text.strip() and "=" not in text:
        raise StatusCallbackError("body", "is not a form (name=value&...) nor JSON")
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


def _with_body(route: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """Route keyword arguments (``secured``/``public``) plus the OpenAPI request body of a
    route that reads its body itself (form or XML)."""
    return {**route, "openapi_extra": {**route["openapi_extra"], "requestBody": body}}


_SMS_BODY = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "required": ["MessageSid", "MessageStatus"],
                "properties": {
                    "MessageSid": {"type": "string", "description": "The provider's id"},
                    "MessageStatus": {
                        "type": "string",
                        "enum": [
                            "accepted",
                            "scheduled",
                            "queued",
                            "sending",
                            "sent",
                            "delivered",
                            "read",
                            "undelivered",
                            "failed",
                            "canceled",
                        ],
                    },
                    "ErrorCode": {"type": "string", "description": "e.g. 30003"},
                    "RawDlrDoneDate": {"type": "string", "description": "YYMMDDhhmm, UTC"},
                },
            },
            "example": "MessageSid=SM1f0e...&MessageStatus=undelivered&ErrorCode=30003",
        }
    },
}


@router.post(
    f"{V1}/sms/status",
    response_model=ReceiptOut,
    summary="An SMS delivery receipt (the SMS provider's status callback)",
    description=(
        "Authenticated by an integration key with the `notify:sms_inbound` scope or by "
        "Twilio's `X-Twilio-Signature` (HEALTHGUARD_TWILIO_AUTH_TOKEN, over "
        "HEALTHGUARD_PUBLIC_URL + path and the form parameters); missing or bad credentials "
        "answer 404 (one fixed answer, audited). A "
        "Twilio-style form (or JSON) body: `MessageSid`, `MessageStatus`, `ErrorCode` for "
        "failures. `delivered` and `read` move the notification forward (never back); "
        "`undelivered` / `failed` mark it failed and retry it or fall back to the next "
        "channel, as a failed send does; queued / sending / sent change nothing. A "
        "duplicate changes nothing; a failure reported after delivery is ignored (the "
        "message says so)."
    ),
    responses={
        404: {
            "description": "Missing or bad credentials (audited), or no SMS notification "
            "has this MessageSid (logged)"
        },
        413: {"description": "The body is larger than 64 KiB"},
        422: {"description": "A field is missing or wrong (named in the error)"},
    },
    **_with_body(sms_webhook_route(), _SMS_BODY),
)
async def sms_status(request: Request) -> Any:
    checked = await provider_request(request, "sms_status")
    if isinstance(checked, Response):
        return checked
    raw, caller = checked
    try:
        callback = parse_status_callback(_fields(raw, request.headers.get("content-type", "")))
    except StatusCallbackError as exc:
        return JSONResponse(
            error_body(
                "invalid_request",
                str(exc),
                [{"field": exc.field, "message": exc.message}],
            ),
            status_code=422,
        )
    try:
        outcome = await asyncio.to_thread(
            _record, Channel.SMS, callback.message_id, callback.receipt
        )
    except UnknownMessage as exc:
        log.warning(
            "SMS status callback from %s for an unknown message id %r (%s): not recorded",
            caller.name,
            callback.message_id,
            callback.receipt.provider_status,
        )
        return JSONResponse(
            error_body(
                "not_found",
                f"{exc} Nothing was recorded; check that this provider account sends "
                "HealthGuard's messages.",
            ),
            status_code=404,
        )
    return _out(outcome)


# --- WCTP ---------------------------------------------------------------------------------


def _confirmation(http_status: int, code: int, text: str) -> Response:
    return Response(wctp.build_confirmation(code, text), status_code=http_status, media_type=XML)


MIN_KEY_CHARS = 16


def _key_ok(given: str | None) -> bool:
    """The key matches HEALTHGUARD_WCTP_CALLBACK_KEY (unset or shorter than 16 characters:
    nothing matches)."""
    expected = get_settings().wctp_callback_key
    if not expected or len(expected) < MIN_KEY_CHARS or not given:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _refuse_key(request: Request, reason: str) -> None:
    origin = request_origin(request)
    with session_scope() as session:
        record_audit(
            session,
            actor="anonymous",
            action="access.denied",
            record_type="request",
            record_id=f"{request.method} {request.url.path}",  # the path only: never the key
            outcome="denied",
            ip=origin.ip,
            user_agent=origin.user_agent,
            details={"reason": reason},
            now=datetime.now(UTC),
        )


_WCTP_BODY = {
    "required": True,
    "content": {
        "text/xml": {
            "schema": {"type": "string", "format": "xml"},
            "example": (
                '<?xml version="1.0" encoding="UTF-8"?>'
                '<wctp-Operation wctpVersion="wctp-dtd-v1r3"><wctp-StatusInfo>'
                '<wctp-ResponseHeader responseToMessageID="6f1c2b9e4d1a4c539d8e2a1f0b7c3e55" '
                'responseTimestamp="2026-11-26T04:21:07"/>'
                '<wctp-Notification type="delivered"/></wctp-StatusInfo></wctp-Operation>'
            ),
        }
    },
}


@router.post(
    f"{V1}/wctp",
    summary="A pager delivery receipt (a WCTP 1.3 gateway's wctp-StatusInfo)",
    description=(
        "The gateway posts `wctp-StatusInfo` (XML) to this URL with `?key=` the "
        "`HEALTHGUARD_WCTP_CALLBACK_KEY`. `wctp-Notification type` delivered / read move the "
        "page forward, failed / returned / deleted mark it failed (then retry or fall back "
        "to the next channel), queued changes nothing. The answer is always a "
        "`wctp-Confirmation`: success 200, or a `wctp-Failure` whose errorText names the "
        "problem (404: unknown key or message id; 422: unreadable document)."
    ),
    responses={
        200: {"description": "wctp-Success", "content": {"text/xml": {}}},
        404: {"description": "Wrong or missing key (WCTP 402), unknown message id (WCTP 403)"},
        413: {"description": "The document is larger than 64 KiB"},
        422: {"description": "Not a readable wctp-StatusInfo (WCTP 300/301/302)"},
    },
    **_with_body(public(), _WCTP_BODY),
)
async def wctp_status(
    request: Request,
    key: str | None = Query(
        None, description="The shared secret set at the gateway: HEALTHGUARD_WCTP_CALLBACK_KEY"
    ),
) -> Response:
    if not _key_ok(key):
        reason = "WCTP receipt with a missing or wrong key"
        configured = get_settings().wctp_callback_key or ""
        if len(configured) < MIN_KEY_CHARS:
            reason += " (HEALTHGUARD_WCTP_CALLBACK_KEY is unset or under 16 characters)"
        await asyncio.to_thread(_refuse_key, request, reason)
        log.warning("%s from %s", reason, request_origin(request).ip)
        return _confirmation(
            404,
            wctp.WCTP_BAD_SECURITY_CODE,
            "Unknown or missing key: check the receipts URL configured at the gateway.",
        )
    try:
        raw = await read_limited_body(request, MAX_BODY_BYTES)
    except BodyTooLarge as exc:
        too_large = f"The document is larger than {exc.limit} bytes."
        return _confirmation(413, wctp.WCTP_UNPARSABLE, too_large)
    try:
        info = wctp.parse_status_info(raw)
    except wctp.WctpStatusError as exc:
        return _confirmation(422, exc.code, f"{exc.field}: {exc.message}")
    try:
        outcome = await asyncio.to_thread(_record, Channel.PAGER, info.message_ids, info.receipt)
    except UnknownMessage as exc:
        log.warning(
            "WCTP status (%s) for unknown message id(s) %s: not recorded",
            info.receipt.provider_status,
            ", ".join(info.message_ids),
        )
        return _confirmation(404, wctp.WCTP_UNKNOWN_MESSAGE, f"{exc} Nothing was recorded.")
    return _confirmation(
        200,
        wctp.WCTP_OK,
        f"Receipt accepted: notification {outcome.notification_id} is {outcome.status} "
        f"({outcome.note}).",
    )
