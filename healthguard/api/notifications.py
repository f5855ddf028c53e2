"""A person's notifications, and answering them from any channel.

Every answer, whatever the channel, goes through ``healthguard.notify.answers.answer`` (the
incident workflow for acknowledge and escalate, the escalation's ``decline``), so the
permission checks, the "already acknowledged by X at T" answer, the timeline and the audit
record are the same as the incident routes'.

Signed in (``Authorization: Bearer``):

- ``GET /api/v1/notifications/mine``: your notifications, newest first, with the incident's
  number, priority, ward and status, and how many are unread;
- ``POST /api/v1/notifications/{id}/read``: mark one of yours read (anyone else's: 404);
- ``POST /api/v1/notifications/mine/read-all``: mark all of yours read (the bell's "Mark all
  read"); both through ``healthguard.notify.bell.mark_my_notifications_read``;
- ``POST /api/v1/notifications/answer``: ``{"incident_id", "action", "via"}`` from the app's
  buttons and a push notification's action buttons; a refusal answers like the incident
  routes (409 with the current status and the actions you may take);
- ``POST`` / ``DELETE /api/v1/notifications/push-subscriptions``: this browser's Web Push
  subscription (yours only); ``GET /api/v1/notifications/vapid-public-key``: the
  ``applicationServerKey`` to subscribe with.

The service worker (no sign-in: the receipt token of the push payload is the credential):
``POST /api/v1/notifications/push-receipts`` with ``{"token"}``: the push message reached the
device; a ``sent`` push notification becomes ``delivered`` (never a step backwards).

The SMS provider (an integration key with the ``notify:sms_inbound`` scope, or Twilio's
``X-Twilio-Signature``: ``healthguard.api.sms_auth``; anything else: 404, audited):
``POST /api/v1/notifications/sms-inbound`` with ``{"from": "+447700900123", "text": "1 4821"}``
answers ``{"reply": "<the SMS to send back>"}`` (Twilio's form ``From``/``Body``: TwiML
``<Response><Message>``), 200 also for an unknown number or a reply
that cannot be read (nothing changes, it is audited, and the text says what to do).

Answer links (no sign-in: the token is the credential), at the app root: ``GET /answer?token=``
shows a confirmation page (what the link does, the incident, the patient's initials only, one
button) and never spends the token, since mail scanners and link previews open links; the
button posts the token to ``POST /answer``, which spends it and answers. A push
notification's action button posts the same token with ``via=push`` and
``Accept: application/json`` and gets the answer as JSON. Forged or damaged
links answer 400, expired or used ones 410, each with a page that says so; nothing changes.
The POST needs no CSRF token: the single-use answer token in the form is the only credential
(no cookie or session is involved), so a forged cross-site post would have to know it.
"""

from __future__ import annotations

import asyncio
import binascii
import html
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter, Body, Depends, Form, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlmodel import Session, col, select

from healthguard.api import sms_auth
from healthguard.api.errors import error_body
from healthguard.api.security import current_principal, public, request_origin, secured
from healthguard.db import session_scope
from healthguard.incidents.priority import PRIORITY_STYLES
from healthguard.models import Notification
from healthguard.models.oncall import PushSubscription
from healthguard.notify import answers, push_receipts
from healthguard.notify.bell import NotYours, mark_my_notifications_read
from healthguard.notify.service import (
    MyNotificationRow,
    notification_rows,
)
from healthguard.notify.service import (
    my_notifications as load_my_notifications,
)
from healthguard.notify.tokens import AnswerAction, RefusalReason, TokenRefusal
from healthguard.security.audit import record_audit
from healthguard.security.permissions import Permission, Principal
from healthguard.settings import get_settings

router = APIRouter(tags=["notifications"])

V1 = "/api/v1/notifications"
NOT_FOUND = "No such notification of yours."
NOT_LINKED = (
    "Your account is not linked to a staff member, so HealthGuard sends you no notifications."
)
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def _staff_id(principal: Principal) -> uuid.UUID | None:
    return uuid.UUID(principal.staff_id) if principal.staff_id else None


def _require_staff(principal: Principal) -> uuid.UUID:
    staff_id = _staff_id(principal)
    if staff_id is None:
        raise HTTPException(422, NOT_LINKED)
    return staff_id


# --- your notifications -----------------------------------------------------------------------


class NotificationOut(BaseModel):
    id: str
    incident_id: str
    incident_number: int
    priority: str
    title: str
    ward: str | None
    bed: str | None
    incident_status: str = Field(description="triggered, acknowledged, in_progress, resolved...")
    channel: str = Field(description="in_app, push, sms, voice, email or pager")
    status: str = Field(description="sent, delivered, read, answered, failed, cancelled")
    unread: bool
    reason: str = Field(description="Why you were told")
    created_at: datetime
    sent_at: datetime | None
    read_at: datetime | None
    answered_at: datetime | None
    answer: str | None = Field(description="acknowledge, escalate or decline")


class MyNotifications(BaseModel):
    unread: int = Field(description="Notifications that reached you and that you have not opened")
    unread_incidents: int = Field(
        0, description="How many incidents those unread notifications are about"
    )
    highest_unread_priority: str | None = Field(
        None, description="The highest priority among them (P0 highest); null when none"
    )
    notifications: list[NotificationOut]


def _out(found: MyNotificationRow) -> Any:
    row, incident = found.notification, found.incident
    return NotificationOut(
        id=str(row.id),
        incident_id=str(incident.id),
        incident_number=int(incident.number or 0),
        priority=incident.priority,
        title=incident.title,
        ward=found.ward,
        bed=found.bed,
        incident_status=incident.status,
        channel=row.channel,
        status=row.status,
        unread=found.unread,
        reason=row.reason,
        created_at=row.created_at,
        sent_at=row.sent_at,
        read_at=row.read_at,
        answered_at=row.answered_at,
        answer=row.answer,
    )


@router.get(
    f"{V1}/mine",
    response_model=MyNotifications,
    summary="Your notifications, newest first, and how many are unread",
    description=(
        "Notifications sent to you (queued ones, not sent yet, are left out), each with its "
        "incident's number, priority, title, ward, bed and status. `unread`: those that "
        "reached you (sent, delivered) and that you have neither opened nor answered. An "
        "account not linked to a staff member has none."
    ),
    **secured(Permission.SELF_READ),
)
def my_notifications(
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    unread_only: bool = Query(False, description="Only the unread ones"),
    principal: Principal = Depends(current_principal),
) -> MyNotifications:
    staff_id = _staff_id(principal)
    if staff_id is None:
        return MyNotifications(unread=0, notifications=[])
    with session_scope() as session:
        found = load_my_notifications(session, staff_id, limit=limit, unread_only=unread_only)
        rows = [_out(row) for row in found.rows]
    return MyNotifications(
        unread=found.unread,
        unread_incidents=found.unread_incidents,
        highest_unread_priority=found.highest_unread_priority,
        notifications=rows,
    )


_EXAMPLE_INCIDENT = "6f1c2b9e-4d1a-4c53-9d8e-2a1f0b7c3e55"


@router.post(
    f"{V1}/{{notification_id}}/read",
    response_model=NotificationOut,
    summary="Mark one of your notifications read",
    responses={404: {"description": "No such notification, or not yours"}},
    **secured(Permission.SELF_READ),
)
def read_notification(
    notification_id: uuid.UUID, principal: Principal = Depends(current_principal)
) -> NotificationOut:
    staff_id = _staff_id(principal)
    if staff_id is None:
        raise HTTPException(404, NOT_FOUND)
    with session_scope() as session:
        try:
            mark_my_notifications_read(
                session, staff_id, datetime.now(UTC), notification_ids=[notification_id]
            )
        except NotYours:
            raise HTTPException(404, NOT_FOUND) from None
        found = session.execute(
            notification_rows().where(col(Notification.id) == notification_id)
        ).one()
        out: NotificationOut = _out(MyNotificationRow(*found))
    return out


class ReadAllOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"marked": 3, "incident_ids": [_EXAMPLE_INCIDENT]}]}
    )
    marked: int = Field(description="How many of your notifications were marked read now")
    incident_ids: list[str] = Field(description="The incidents they were about")


@router.post(
    f"{V1}/mine/read-all",
    response_model=ReadAllOut,
    summary="Mark all your unread notifications read",
    description=(
        "The bell's Mark all read: every notification of yours that reached you (sent, "
        "delivered) and that you have neither opened nor answered becomes `read` (an answered "
        "one stays answered), with one timeline entry per incident; your other browsers "
        "update live. `marked` is 0 when nothing was unread. An account not linked to a "
        "staff member has none."
    ),
    **secured(Permission.SELF_READ),
)
def read_all_notifications(principal: Principal = Depends(current_principal)) -> ReadAllOut:
    staff_id = _staff_id(principal)
    if staff_id is None:
        return ReadAllOut(marked=0, incident_ids=[])
    with session_scope() as session:
        done = mark_my_notifications_read(session, staff_id, datetime.now(UTC))
    return ReadAllOut(marked=done.marked, incident_ids=[str(i) for i in done.incident_ids])


# --- answering in the app or from a push notification -----------------------------------------


class AnswerIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"incident_id": "6f1c2b9e-4d1a-4c53-9d8e-2a1f0b7c3e55", "action": "acknowledge"},
                {
                    "incident_id": "6f1c2b9e-4d1a-4c53-9d8e-2a1f0b7c3e55",
                    "action": "decline",
                    "via": "push",
                },
            ]
        },
    )
    incident_id: uuid.UUID = Field(description="The incident you were notified about")
    action: Literal["acknowledge", "escalate", "decline"]
    via: Literal["app", "push"] = Field(
        "app", description="Where you answered: the app, or a push notification's button"
    )


class AnswerOut(BaseModel):
    outcome: str = Field(description="done")
    action: str
    via: str
    incident_id: str
    incident_number: int | None
    status: str | None = Field(description="The incident's status now")
    message: str


_ANSWER_REFUSED = {
    "error": {
        "code": "illegal_transition",
        "message": "Incident #12 is already acknowledged by nurse.card at "
        "2026-11-26T04:21:07+00:00.",
        "field": None,
        "current_status": "acknowledged",
        "allowed_actions": ["start", "escalate", "add_note", "add_responder", "resolve"],
    }
}


def _result_out(result: answers.AnswerResult) -> AnswerOut:
    return AnswerOut(
        outcome=result.outcome.value,
        action=result.action.value,
        via=result.via,
        incident_id=str(result.incident_id),
        incident_number=result.incident_number,
        status=result.status,
        message=result.message,
    )


def _refused_json(result: answers.AnswerResult) -> JSONResponse:
    if result.refusal is not None:
        body = {"error": result.refusal.as_json()}
    else:
        body = error_body(result.code, result.message)
        body["error"]["current_status"] = result.status
    return JSONResponse(body, status_code=result.http_status)


@router.post(
    f"{V1}/answer",
    response_model=AnswerOut,
    summary="Answer a notification: acknowledge, escalate or decline",
    description=(
        "From the app's buttons and a push notification's action buttons (`via`). The same "
        "path as every other channel: acknowledge and escalate go through the incident "
        "workflow as you, decline notifies the next step of the escalation at once; your "
        "notifications of the incident are marked answered and the timeline says who "
        "answered from where. When the incident moved on first (acknowledged by someone "
        "else, resolved), the answer is 409 with the current status, like the incident "
        "routes, and nothing was changed."
    ),
    responses={
        404: {"description": "You have no notification about this incident"},
        409: {
            "description": "It no longer applies: already acknowledged by someone else, "
            "resolved, or changed at the same moment",
            "content": {"application/json": {"example": _ANSWER_REFUSED}},
        },
        422: {"description": "A field is missing or wrong, or no further escalation step"},
    },
    **secured(Permission.INCIDENTS_ACKNOWLEDGE),
)
def answer_notification(
    body: AnswerIn, request: Request, principal: Principal = Depends(current_principal)
) -> Any:
    staff_id = _require_staff(principal)
    with session_scope() as session:
        result = answers.answer(
            session,
            staff_id=staff_id,
            incident_id=body.incident_id,
            action=body.action,
            via=body.via,
            now=datetime.now(UTC),
            origin=request_origin(request),
        )
    if result.outcome is not answers.AnswerOutcome.DONE:
        return _refused_json(result)
    return _result_out(result)


# --- SMS replies from the provider --------------------------------------------------------------


class SmsIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"examples": [{"from": "+447700900123", "text": "1 4821"}]},
    )
    sender: str = Field(
        alias="from", min_length=1, max_length=64, description="The sender's E.164 number"
    )
    text: str = Field(max_length=1600, description="The message as received")


class SmsReply(BaseModel):
    reply: str = Field(description="The SMS to send back to the sender (at most 160 characters)")


@router.post(
    f"{V1}/sms-inbound",
    response_model=SmsReply,
    summary="An SMS reply from a staff member (the SMS provider posts it)",
    description=(
        "Authenticated by an integration key with the `notify:sms_inbound` scope or by "
        "Twilio's `X-Twilio-Signature` (HEALTHGUARD_TWILIO_AUTH_TOKEN, over "
        "HEALTHGUARD_PUBLIC_URL + path and the form parameters); missing or bad credentials "
        "answer 404 (one fixed answer, audited). The body is JSON `{from, text}` or Twilio's "
        "form (`From`, `Body`; answered with TwiML `<Response><Message>`). The "
        "sender's number finds the staff member; the text is read as `1` acknowledge, `2` "
        "escalate or `3` decline, with the alarm's reply code when they have several open "
        'alarms (e.g. `1 4821`). The answer is always 200 with the text to send back: "'
        'Acknowledged: 4821 ..." or, for an unknown number, an unknown or closed code or a '
        "reply that cannot be read, what to do instead, naming the open alarms' codes "
        "(nothing changes; it is audited)."
    ),
    responses={
        200: {"content": {"text/xml": {"example": "<Response><Message>...</Message></Response>"}}},
        404: {"description": "Missing or bad credentials (one fixed answer; audited)"},
        413: {"description": "The body is larger than 64 KiB"},
        422: {"description": "from or text is missing or too long"},
    },
    **sms_auth.sms_webhook_route(
        {
            "required": True,
            "content": {
                "application/json": {"schema": SmsIn.model_json_schema(by_alias=True)},
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["From", "Body"],
                        "properties": {
                            "From": {"type": "string", "description": "The sender (E.164)"},
                            "Body": {"type": "string", "description": "The message"},
                        },
                    },
                    "example": "From=%2B447700900123&Body=1+4821&MessageSid=SM...",
                },
            },
        }
    ),
)
async def sms_inbound(request: Request) -> Any:
    checked = await sms_auth.provider_request(request, "sms_inbound")
    if isinstance(checked, Response):
        return checked
    raw, caller = checked
    body = sms_auth.validated(SmsIn, sms_auth.sms_reply_fields(request, raw))
    origin = request_origin(request)

    def answer_it() -> answers.SmsAnswer:
        with session_scope() as session:
            return answers.answer_sms(
                session,
                sender=body.sender,
                text=body.text,
                now=datetime.now(UTC),
                received_by=caller.name,
                origin=origin,
            )

    done = await asyncio.to_thread(answer_it)
    if sms_auth.is_form(request):
        return sms_auth.twiml_message(done.reply)
    return SmsReply(reply=done.reply)


# --- Web Push subscriptions ----------------------------------------------------------------------


def _b64url(value: str) -> bytes:
    text = value.strip().rstrip("=")
    if not text or any(c not in _B64URL for c in text):
        raise ValueError("must be base64url")
    try:
        return binascii.a2b_base64(
            text.translate(str.maketrans("-_", "+/")) + "=" * (-len(text) % 4), strict_mode=True
        )
    except binascii.Error:
        raise ValueError("must be base64url") from None


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/")


class PushKeys(BaseModel):
    model_config = ConfigDict(extra="forbid")
    p256dh: str = Field(max_length=200, description="base64url of the P-256 public key")
    auth: str = Field(max_length=100, description="base64url of the 16-byte auth secret")

    @field_validator("p256dh")
    @classmethod
    def _p256dh(cls, value: str) -> str:
        raw = _b64url(value)
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
        except ValueError:
            raise ValueError("is not a P-256 public key (65 bytes, base64url)") from None
        return value.strip()

    @field_validator("auth")
    @classmethod
    def _auth(cls, value: str) -> str:
        if len(_b64url(value)) != 16:
            raise ValueError("must be 16 bytes, base64url")
        return value.strip()


class PushSubscriptionIn(BaseModel):
    """What the browser's ``PushSubscription.toJSON()`` gives."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "endpoint": "https://fcm.googleapis.com/fcm/send/dZ...",
                    "expirationTime": None,
                    "keys": {"p256dh": "BNc...", "auth": "tBH..."},
                }
            ]
        },
    )
    endpoint: str = Field(max_length=1000, description="The push service URL (https)")
    expirationTime: int | None = Field(None, description="Ignored (the browser sends it)")
    keys: PushKeys

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return _https_url(value)


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    endpoint: str = Field(max_length=1000, description="The subscription's endpoint")


def _https_url(value: str) -> str:
    from urllib.parse import urlsplit

    text = value.strip()
    parts = urlsplit(text)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("must be an https:// URL of a push service")
    return text


class PushSubscriptionOut(BaseModel):
    id: str
    endpoint: str
    created_at: datetime


def _audit_subscription(
    session: Session,
    principal: Principal,
    request: Request,
    change: str,
    subscription: PushSubscription,
    now: datetime,
    **details: Any,
) -> None:
    from urllib.parse import urlsplit

    origin = request_origin(request)
    record_audit(
        session,
        actor=principal.audit_name,
        action="user.updated",
        record_type="push_subscription",
        record_id=str(subscription.id),
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={
            "change": change,
            "staff_id": str(subscription.staff_id),
            "push_service": urlsplit(subscription.endpoint).hostname,
            **details,
        },
        now=now,
    )


@router.post(
    f"{V1}/push-subscriptions",
    response_model=PushSubscriptionOut,
    status_code=201,
    summary="Register this browser's Web Push subscription for you",
    description=(
        "The object `PushSubscription.toJSON()` gives (endpoint, keys.p256dh, keys.auth). "
        "201 when new; 200 when the endpoint was known (its keys are updated, and on a shared "
        "device it now notifies you instead of whoever subscribed on it before)."
    ),
    responses={
        200: {"description": "Already registered: updated"},
        422: {"description": "An endpoint or key is not valid (the field is named)"},
    },
    **secured(Permission.SELF_READ),
)
def add_push_subscription(
    body: PushSubscriptionIn,
    request: Request,
    response: Response,
    principal: Principal = Depends(current_principal),
) -> PushSubscriptionOut:
    staff_id = _require_staff(principal)
    now = datetime.now(UTC)
    with session_scope() as session:
        row = session.exec(
            select(PushSubscription)
            .where(PushSubscription.endpoint == body.endpoint)
            .with_for_update()
        ).first()
        if row is None:
            row = PushSubscription(
                staff_id=staff_id,
                endpoint=body.endpoint,
                p256dh=body.keys.p256dh,
                auth=body.keys.auth,
                created_at=now,
            )
            session.add(row)
            session.flush()
            _audit_subscription(session, principal, request, "push_subscription.added", row, now)
        else:
            previous = row.staff_id
            row.staff_id, row.p256dh, row.auth = staff_id, body.keys.p256dh, body.keys.auth
            session.add(row)
            session.flush()
            moved = {"from_staff_id": str(previous)} if previous != staff_id else {}
            _audit_subscription(
                session, principal, request, "push_subscription.updated", row, now, **moved
            )
            response.status_code = 200
        out = PushSubscriptionOut(id=str(row.id), endpoint=row.endpoint, created_at=row.created_at)
    return out


@router.delete(
    f"{V1}/push-subscriptions",
    status_code=204,
    summary="Remove one of your Web Push subscriptions (this browser no longer notifies you)",
    responses={404: {"description": "No such subscription of yours"}},
    **secured(Permission.SELF_READ),
)
def remove_push_subscription(
    request: Request,
    body: EndpointIn = Body(...),
    principal: Principal = Depends(current_principal),
) -> Response:
    staff_id = _require_staff(principal)
    now = datetime.now(UTC)
    with session_scope() as session:
        row = session.exec(
            select(PushSubscription).where(
                PushSubscription.endpoint == body.endpoint.strip(),
                PushSubscription.staff_id == staff_id,
            )
        ).first()
        if row is None:
            raise HTTPException(404, "No such push subscription of yours.")
        _audit_subscription(session, principal, request, "push_subscription.removed", row, now)
        session.delete(row)
    return Response(status_code=204)


class VapidKeyOut(BaseModel):
    public_key: str = Field(description="base64url: pushManager.subscribe's applicationServerKey")


@router.get(
    f"{V1}/vapid-public-key",
    response_model=VapidKeyOut,
    summary="The Web Push public key (applicationServerKey) to subscribe with",
    responses={
        404: {"description": "Web Push is not configured"},
        503: {"description": "The configured VAPID key cannot be read"},
    },
    **secured(Permission.SELF_READ),
)
def vapid_public_key() -> Any:
    from healthguard.notify.channels.webpush import load_vapid_key, public_key_b64

    private = (get_settings().vapid_private_key or "").strip()
    if not private:
        raise HTTPException(
            404,
            "Web Push is not configured on this server (HEALTHGUARD_VAPID_PRIVATE_KEY is not "
            "set); notifications reach you in the app and on your other channels.",
        )
    try:
        vapid = load_vapid_key(private)
    except ValueError:
        return JSONResponse(
            error_body(
                "service_unavailable",
                "The Web Push key of this server cannot be read (HEALTHGUARD_VAPID_PRIVATE_KEY); "
                "tell the administrator.",
            ),
            status_code=503,
        )
    return VapidKeyOut(public_key=public_key_b64(vapid))


class PushReceiptIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"token": "q1Zk0y...Xw"}]}
    )
    token: str = Field(
        min_length=1, max_length=200, description="The `receipt` of the push payload"
    )


class PushReceiptOut(BaseModel):
    outcome: str = Field(
        description="delivered (it was sent, now delivered), already (delivered, read or "
        "answered before: kept) or not_applicable (queued, failed or cancelled)"
    )
    notification_id: str
    status: str = Field(description="The notification's status now")
    delivered_at: datetime | None


@router.post(
    f"{V1}/push-receipts",
    response_model=PushReceiptOut,
    summary="The service worker: this push message reached the device",
    description=(
        "No sign-in: the `receipt` token of the push payload (an HMAC of the notification id) "
        "is the credential. A `sent` push notification becomes `delivered` with "
        "`delivered_at`; a status never moves backwards (read and answered stay, and only "
        "gain a missing `delivered_at`). Replaying a receipt changes nothing."
    ),
    responses={
        400: {"description": "The token is forged or damaged (nothing changed; audited)"},
        404: {"description": "The notification no longer exists"},
        422: {"description": "token is missing or too long"},
    },
    **public(),
)
def push_receipt(body: PushReceiptIn, request: Request) -> Any:
    now = datetime.now(UTC)
    try:
        notification_id = push_receipts.verify_receipt_token(body.token)
    except ValueError as exc:
        origin = request_origin(request)
        with session_scope() as session:
            record_audit(
                session,
                actor="anonymous",
                action="token.refused",
                record_type="push_receipt",
                outcome="denied",
                ip=origin.ip,
                user_agent=origin.user_agent,
                details={"reason": str(exc)},
                now=now,
            )
        return JSONResponse(
            error_body(
                "invalid_token",
                f"token {exc}; nothing was changed.",
                [{"field": "token", "message": str(exc)}],
            ),
            # 400, not 403: the route needs no credentials; a bad token is bad input.
            status_code=400,
        )
    with session_scope() as session:
        try:
            result = push_receipts.record_push_receipt(session, notification_id, now)
        except LookupError:
            raise HTTPException(404, "That notification no longer exists.") from None
    return PushReceiptOut(
        outcome=result.outcome.value,
        notification_id=str(result.notification_id),
        status=result.status,
        delivered_at=result.delivered_at,
    )


# --- answer links: the confirmation page and its button ---------------------------------------

answer_pages = APIRouter(tags=["notifications"])
ANSWER_PATH = "/answer"
PAGE_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}
_VERBS = {
    AnswerAction.ACKNOWLEDGE: ("Acknowledge", "I have it: stop the escalation"),
    AnswerAction.ESCALATE: ("Escalate", "Notify the next step of the escalation now"),
    AnswerAction.DECLINE: ("Decline", "I cannot take it: notify the next person now"),
}
_REFUSAL_STATUS = {
    RefusalReason.MALFORMED: 400,
    RefusalReason.WRONG_VERSION: 400,
    RefusalReason.BAD_SIGNATURE: 400,
    RefusalReason.EXPIRED: 410,
    RefusalReason.ALREADY_USED: 410,
}
_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f4f6f8;
color:#1b2733}main{max-width:32rem;margin:2rem auto;padding:1.5rem;background:#fff;
border-radius:12px;box-shadow:0 1px 4px rgba(0,0,0,.12)}h1{font-size:1.4rem;margin:0 0 1rem}
dl{display:grid;grid-template-columns:auto 1fr;gap:.4rem 1rem;margin:0 0 1.25rem}dt{color:#5b6b7a}
dd{margin:0;font-weight:600}.p{display:inline-block;padding:.1rem .5rem;border-radius:6px;
color:#fff}button{width:100%;font-size:1.2rem;padding:1rem;border:0;border-radius:10px;
background:#0b5cad;color:#fff;cursor:pointer}.note{color:#5b6b7a;font-size:.9rem}
.ok{border-left:6px solid #1b7f3b;padding-left:1rem}.warn{border-left:6px solid #b26a00;
padding-left:1rem}.bad{border-left:6px solid #b00020;padding-left:1rem}
"""
_SECONDARY = (
    "HealthGuard notifications are secondary alarms: the bedside monitor remains the primary alarm."
)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    page = (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{html.escape(title)} · HealthGuard Ops</title><style>{_STYLE}</style></head>"
        f'<body><main>{body}<p class="note">{html.escape(_SECONDARY)}</p></main></body></html>'
    )
    return HTMLResponse(page, status_code=status, headers=PAGE_HEADERS)


def _app_link() -> str:
    url = html.escape(get_settings().url.rstrip("/") + "/", quote=True)
    return f'<p><a href="{url}">Open HealthGuard</a></p>'


def _refusal_page(refusal: TokenRefusal) -> HTMLResponse:
    body = (
        f'<div class="bad"><h1>This link cannot be used</h1>'
        f"<p>{html.escape(refusal.message)}</p><p>Nothing was changed.</p></div>{_app_link()}"
    )
    return _page("Link refused", body, _REFUSAL_STATUS[refusal.reason])


_BADGE_COLOURS = {"red": "#b00020", "yellow": "#8a6100", "cyan": "#006b7a"}


def _priority_badge(priority: str) -> str:
    """The priority in words (colour is never the only signal)."""
    style = PRIORITY_STYLES.get(priority)
    label = style.label if style else priority
    colour = _BADGE_COLOURS.get(style.colour if style else "", "#4a5560")
    return f'<span class="p" style="background:{colour}">{html.escape(label)}</span>'


def _confirm_page(token: str, preview: answers.LinkPreview) -> HTMLResponse:
    verb, explain = _VERBS[preview.action]
    place = ", ".join(p for p in (preview.ward, f"bed {preview.bed}" if preview.bed else "") if p)
    rows = [
        ("Incident", f"#{preview.number}"),
        ("Priority", None),
        ("What", preview.title),
        ("Where", place or "-"),
        ("Patient", preview.patient_initials or "-"),
        ("Opened", preview.opened_at_local),
        ("Status now", preview.status_text),
    ]
    items = "".join(
        f"<dt>{html.escape(k)}</dt><dd>"
        f"{_priority_badge(preview.priority) if v is None else html.escape(v)}</dd>"
        for k, v in rows
    )
    who = f" for {html.escape(preview.staff_name)}" if preview.staff_name else ""
    body = (
        f"<h1>{html.escape(verb)} incident #{preview.number}?</h1>"
        f"<dl>{items}</dl>"
        f'<form method="post" action="{ANSWER_PATH}">'
        f'<input type="hidden" name="token" value="{html.escape(token, quote=True)}">'
        f'<button type="submit">{html.escape(verb)} #{preview.number}</button></form>'
        f'<p class="note">{html.escape(explain)}. This link is{who}, works once and '
        f"until {html.escape(preview.expires_at_local)}.</p>"
    )
    return _page(f"{verb} incident #{preview.number}", body)


def _result_page(result: answers.AnswerResult) -> HTMLResponse:
    number = f"#{result.incident_number}" if result.incident_number else "the incident"
    if result.outcome is answers.AnswerOutcome.DONE:
        heading, css, status = f"Done: {number} {result.code}", "ok", 200
    elif result.outcome is answers.AnswerOutcome.NO_LONGER_APPLIES:
        heading, css, status = f"{number}: no longer needed", "warn", 200
    else:
        heading, css, status = "Your answer was not accepted", "bad", result.http_status
    body = (
        f'<div class="{css}"><h1>{html.escape(heading)}</h1>'
        f"<p>{html.escape(result.message)}</p></div>{_app_link()}"
    )
    return _page(heading, body, status)


@answer_pages.get(
    ANSWER_PATH,
    response_class=HTMLResponse,
    summary="Answer link: the confirmation page (does not use the link)",
    description=(
        "No sign-in: the signed, single-use, short-lived token is the credential. Shows what "
        "the link does (acknowledge, escalate or decline), the incident and the patient's "
        "initials only, and one button that posts the token to `POST /answer`. Opening the "
        "page never spends the token (mail scanners and link previews open links). 400 for "
        "a forged or damaged link, 410 for an expired or used one."
    ),
    responses={
        200: {"content": {"text/html": {}}, "description": "The confirmation page"},
        400: {"content": {"text/html": {}}, "description": "Forged or damaged link"},
        410: {"content": {"text/html": {}}, "description": "Expired or already used link"},
    },
    **public(),
)
def answer_page(token: str = Query(..., description="The token of the link")) -> HTMLResponse:
    with session_scope() as session:
        preview = answers.preview_link(session, token, datetime.now(UTC))
    if isinstance(preview, TokenRefusal):
        return _refusal_page(preview)
    return _confirm_page(token, preview)


@answer_pages.post(
    ANSWER_PATH,
    response_class=HTMLResponse,
    summary="Answer link: use it (the confirmation page's button)",
    description=(
        "Form field `token`. Spends the single-use token and answers as the person it was "
        "sent to, through the same service as every other channel. 200 with what was done, "
        "or with why it no longer applies (acknowledged by someone else first); 400 / 410 "
        "for a forged, damaged, expired or used link (nothing changes, it is audited). No "
        "CSRF token: the single-use token is the only credential. A push notification's "
        "button (the service worker) sends `via=push` and `Accept: application/json` and "
        "gets JSON: `outcome`, `code`, `message`, `incident_number`, `status`."
    ),
    responses={
        200: {"content": {"text/html": {}}, "description": "Done, or no longer needed"},
        400: {"content": {"text/html": {}}, "description": "Forged or damaged link"},
        403: {"content": {"text/html": {}}, "description": "Not accepted (nothing changed)"},
        404: {"content": {"text/html": {}}, "description": "No alarm of yours about it"},
        410: {"content": {"text/html": {}}, "description": "Expired or already used link"},
    },
    **public(),
)
def answer_by_link(
    request: Request,
    token: str | None = Form(None, description="The token of the link"),
    via: Literal["link", "push"] = Form(
        "link", description="link (the confirmation page) or push (a notification's button)"
    ),
) -> Any:
    now = datetime.now(UTC)
    with session_scope() as session:
        done = answers.answer_by_link(session, token or "", now, request_origin(request), via=via)
    if "application/json" in request.headers.get("accept", ""):
        return _link_json(done)
    if done.refusal is not None:
        return _refusal_page(done.refusal)
    assert done.result is not None
    return _result_page(done.result)


def _link_json(done: answers.LinkAnswer) -> JSONResponse:
    """The answer for a service worker (``Accept: application/json``), same status codes."""
    if done.refusal is not None:
        refusal = done.refusal
        body: dict[str, Any] = {
            "outcome": "refused",
            "code": refusal.reason.value,
            "message": refusal.message,
            "incident_id": str(refusal.incident_id) if refusal.incident_id else None,
            "incident_number": None,
            "status": None,
        }
        return JSONResponse(body, _REFUSAL_STATUS[refusal.reason], headers=PAGE_HEADERS)
    result = done.result
    assert result is not None
    body = {
        "outcome": result.outcome.value,
        "code": result.code,
        "message": result.message,
        "action": result.action.value,
        "incident_id": str(result.incident_id),
        "incident_number": result.incident_number,
        "status": result.status,
    }
    status = 200 if result.outcome is not answers.AnswerOutcome.REFUSED else result.http_status
    return JSONResponse(body, status, headers=PAGE_HEADERS)
