"""Who may call the SMS provider's webhooks: an integration key or a Twilio signature.

The SMS status callback (``POST /api/v1/notifications/sms/status``) and the SMS reply
webhook (``POST /api/v1/notifications/sms-inbound``) are called by the SMS provider. A
provider that can send a header uses an integration key with the ``notify:sms_inbound``
scope (``X-API-Key`` or ``Authorization: Bearer``). Twilio cannot: it signs each request
instead (``X-Twilio-Signature``, ``healthguard.security.twilio_signature``) with the account's
auth token, ``HEALTHGUARD_TWILIO_AUTH_TOKEN``, over the URL it called. Behind a proxy that is
the public URL, so the URL checked is ``HEALTHGUARD_PUBLIC_URL`` + the request's path and
query string (the URL the app sees when ``HEALTHGUARD_PUBLIC_URL`` is unset).

A request is accepted when either credential is valid. Otherwise the routes answer 404 with
one fixed body (:func:`refusal`), whatever was wrong, so a caller cannot tell a bad
signature from a bad key or from an unconfigured token (404: the status of every public
route for bad credentials; the authorisation matrix forbids 401/403 on public routes). Each
refusal is audited (``access.denied`` with what failed, for the hospital's own eyes),
logged and counted (``healthguard_sms_webhook_refused_total{route}``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from pydantic import BaseModel, ValidationError

from healthguard.api.errors import error_body
from healthguard.api.security import current_principal, public, request_origin
from healthguard.api.vitals import BodyTooLarge, read_limited_body
from healthguard.db import session_scope
from healthguard.security import twilio_signature
from healthguard.security.audit import record_audit
from healthguard.security.permissions import Permission, allows
from healthguard.settings import Settings, get_settings

__all__ = [
    "CREDENTIALS_DOC",
    "REFUSED",
    "SmsCaller",
    "authenticate_sms_provider",
    "form_pairs",
    "is_form",
    "provider_request",
    "refusal",
    "signed_url",
    "sms_reply_fields",
    "sms_webhook_route",
    "twiml_message",
    "validated",
]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-twilio-signature"

REFUSED = Counter(
    "healthguard_sms_webhook_refused_total",
    "SMS provider webhook requests refused for a missing or bad integration key or "
    "Twilio signature",
    ["route"],
)

#: What the OpenAPI document says about the credentials (``x-credentials``).
CREDENTIALS_DOC = (
    "An integration key with the notify:sms_inbound scope (X-API-Key or Authorization: "
    "Bearer), or X-Twilio-Signature signed with HEALTHGUARD_TWILIO_AUTH_TOKEN over "
    "HEALTHGUARD_PUBLIC_URL + path + query and the form parameters."
)

_REFUSAL_MESSAGE = (
    "Not found. An SMS provider calls this with an integration key that has the "
    "notify:sms_inbound scope, or with a valid X-Twilio-Signature."
)


@dataclass(frozen=True)
class SmsCaller:
    """Who called: the audit name and how they proved it."""

    name: str
    via: Literal["integration_key", "twilio_signature"]


def signed_url(request: Request, settings: Settings) -> str:
    """The URL Twilio signed: the public base URL + path (+ ``?query``), or the request's
    own URL when no public URL is configured."""
    if not settings.public_url:
        return str(request.url)
    url = settings.public_url.rstrip("/") + request.url.path
    query = request.url.query
    return f"{url}?{query}" if query else url


def form_pairs(raw: bytes) -> list[tuple[str, str]] | None:
    """The (name, value) pairs of a form body; None when it is not UTF-8."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return parse_qsl(text, keep_blank_values=True)


def _signature_check(request: Request, raw: bytes, settings: Settings) -> str:
    """``valid``, or what is wrong: ``missing``, ``not_configured``, ``invalid``."""
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        return "missing"
    token = settings.twilio_auth_token
    if not token:
        return "not_configured"
    url = signed_url(request, settings)
    if "json" in request.headers.get("content-type", "").lower():
        ok = twilio_signature.verify(token, url, (), signature, json_body=raw)
    else:
        pairs = form_pairs(raw)
        ok = pairs is not None and twilio_signature.verify(token, url, pairs, signature)
    return "valid" if ok else "invalid"


def _key_check(request: Request) -> tuple[str, str | None]:
    """(``valid``, audit name) or (what is wrong, None): ``missing``, ``invalid``,
    ``lacks_scope``. An invalid credential is audited by ``current_principal`` too."""
    if not (request.headers.get("authorization") or request.headers.get("x-api-key")):
        return "missing", None
    try:
        principal = current_principal(request)
    except HTTPException:
        return "invalid", None
    if not allows(principal, Permission.NOTIFY_SMS_INBOUND):
        return "lacks_scope", None
    return "valid", principal.audit_name


def authenticate_sms_provider(request: Request, raw: bytes, route: str) -> SmsCaller | None:
    """The caller when the Twilio signature or the integration key is valid; None (audited,
    logged and counted) otherwise. Blocking (database): run it in a worker thread."""
    settings = get_settings()
    signature = _signature_check(request, raw, settings)
    if signature == "valid":
        return SmsCaller("twilio", "twilio_signature")
    key, name = _key_check(request)
    if key == "valid" and name is not None:
        return SmsCaller(name, "integration_key")
    origin = request_origin(request)
    details = {
        "reason": "SMS webhook without a valid integration key or Twilio signature",
        "signature": signature,
        "key": key,
    }
    with session_scope() as session:
        record_audit(
            session,
            actor="anonymous",
            action="access.denied",
            record_type="request",
            record_id=f"{request.method} {request.url.path}",
            outcome="denied",
            ip=origin.ip,
            user_agent=origin.user_agent,
            details=details,
            now=datetime.now(UTC),
        )
    REFUSED.labels(route=route).inc()
    log.warning(
        "SMS webhook %s refused from %s: signature %s, integration key %s",
        route,
        origin.ip,
        signature,
        key,
    )
    return None


def sms_webhook_route(request_body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Route keyword arguments: ``public()`` (no credentials header is required, since
    Twilio sends none) plus where the credentials are (``x-credentials``, for the reader)
    and, for a route that reads its body itself, the OpenAPI ``requestBody``."""
    route = public()
    extra = {**route["openapi_extra"], "x-credentials": CREDENTIALS_DOC}
    if request_body is not None:
        extra["requestBody"] = request_body
    return {**route, "openapi_extra": extra}


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: dict[str, Any]) -> M:
    """``model`` from ``data``, or the API's usual 422 naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors) from None


def refusal() -> JSONResponse:
    """The one answer to a refused caller (module docstring)."""
    return JSONResponse(error_body("not_found", _REFUSAL_MESSAGE), status_code=404)


MAX_BODY_BYTES = 64 * 1024


async def provider_request(request: Request, route: str) -> tuple[bytes, SmsCaller] | Response:
    """The body (at most 64 KiB: 413 otherwise) and the authenticated caller, or the answer
    to send (the 404 :func:`refusal`). The body is read before the check because the
    Twilio signature covers it; nothing in it is parsed before the caller is known."""
    try:
        raw = await read_limited_body(request, MAX_BODY_BYTES)
    except BodyTooLarge as exc:
        return JSONResponse(
            error_body("payload_too_large", f"The body is larger than {exc.limit} bytes."), 413
        )
    caller = await asyncio.to_thread(authenticate_sms_provider, request, raw, route)
    if caller is None:
        return refusal()
    return raw, caller


def is_form(request: Request) -> bool:
    """A form body (how Twilio posts); anything else is read as JSON."""
    return "json" not in request.headers.get("content-type", "").lower()


def sms_reply_fields(request: Request, raw: bytes) -> dict[str, Any]:
    """The inbound SMS as ``{"from", "text"}``: a JSON object as sent, or Twilio's form
    fields ``From`` and ``Body``. ``RequestValidationError`` naming ``body`` when the body
    is neither (the API's usual 422)."""
    if is_form(request):
        pairs = form_pairs(raw)
        if pairs is None or (raw.strip() and not pairs):
            raise RequestValidationError(
                [{"loc": ("body",), "msg": "is not a form (From=...&Body=...) nor JSON"}]
            )
        fields = dict(reversed(pairs))  # the first value of a repeated name
        return {"from": fields.get("From", ""), "text": fields.get("Body", "")}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise RequestValidationError(
            [{"loc": ("body",), "msg": f"is not valid JSON ({exc})"}]
        ) from None
    if not isinstance(data, dict):
        raise RequestValidationError([{"loc": ("body",), "msg": "must be a JSON object"}])
    return data


def twiml_message(text: str) -> Response:
    """Twilio's answer format: the reply as one SMS (``<Response><Message>``)."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Message>{escape(text)}</Message></Response>"
    )
    return Response(body, media_type="text/xml; charset=utf-8")
