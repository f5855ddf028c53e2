"""Answering a notification from any channel: ONE service function, ``answer``.

The app's buttons, the action buttons of a push notification, an email's answer link and an
SMS reply ("1 4821") all end in ``answer(session, staff_id=..., incident_id=...,
action=..., via=..., now=...)``, in the caller's transaction (the caller commits; the live
update is sent after the commit):

- ``acknowledge`` and ``escalate`` go through the incident workflow
  (``healthguard.incidents.workflow.perform``, what the API and the dashboard call) as the
  staff member's own account: the same permission checks, the same refusal ("Incident #12
  is already acknowledged by nurse.card at ..."), the same timeline entry and audit record;
- ``decline`` goes through ``healthguard.oncall.dispatch.decline`` (the next step of the
  escalation is notified at once);
- then the person's notifications of the incident are marked answered
  (``healthguard.notify.service.mark_answered``: their pending deliveries stop) and one
  timeline entry says who answered through which channel ("nurse.card answered by SMS:
  acknowledge").

The answer is an ``AnswerResult`` whose ``outcome`` is one of:

- ``done``: it happened;
- ``no_longer_applies``: the incident moved on first (acknowledged by someone else, resolved,
  changed at the same moment): a clear answer for the person, not an error. Their
  notifications are still marked answered (they did answer) and the timeline says so;
- ``refused``: not theirs to answer (neither notified about it nor its assignee, no active
  account, the role may not, no further escalation step): nothing changes.

Every outcome is audited: the workflow audits what it does (``incident.acknowledged``,
``incident.escalated``, ``access.denied``); a decline is audited here as
``incident.escalated`` (details ``answer: decline``; the escalation itself does not audit);
an answer that no longer applied as that action with outcome ``failure``; a refusal as
``access.denied``. The details name the channel (``via``).

A decline counts only while nobody has acknowledged the incident: afterwards it no longer
applies and nobody else is paged for it.

Around it, the channels' front doors (each used by one route of
``healthguard.api.notifications``):

- ``preview_link`` (GET of an answer link: verifies, never spends) and ``answer_by_link``
  (the POST: redeems the single-use token, then ``answer``); refused links are audited as
  ``token.refused`` and change nothing;
- ``answer_sms``: the SMS provider's inbound message: the sender's number finds the person,
  ``healthguard.notify.sms_reply.resolve_reply`` picks the notification (by its code, or the
  only open one), then ``answer``; it always returns a short text to send back;
- the links the messages carry come from ``healthguard.notify.delivery`` (``answer_links``),
  with the same derived keys as the checks here; the reply codes are each person's own,
  stored by ``healthguard.notify.reply_codes`` (never two live ones alike for one person).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from healthguard.db import after_commit
from healthguard.incidents.errors import IncidentNotFound
from healthguard.incidents.lifecycle import (
    Acknowledge,
    Action,
    Escalate,
    IncidentState,
    Refusal,
    RefusalCode,
    TimelineEntry,
    describe,
)
from healthguard.incidents.service import incident_rows_query, initials
from healthguard.incidents.timeline import write_entries
from healthguard.incidents.workflow import (
    AUDIT_ACTION,
    build_view,
    lock_incident,
    perform,
    ward_code_of,
)
from healthguard.models import Incident, Notification, Staff, User
from healthguard.models.incidents import OPEN_STATUSES
from healthguard.models.notifications import NotificationStatus
from healthguard.notify import reply_codes, tokens
from healthguard.notify.delivery import answer_link_secret
from healthguard.notify.service import mark_answered
from healthguard.notify.sms_reply import (
    SMS_LIMIT,
    OpenNotification,
    ReplyMatch,
    ReplyRefusal,
    resolve_reply,
)
from healthguard.notify.used_tokens import PostgresUsedTokens, is_used
from healthguard.oncall.dispatch import decline
from healthguard.patients.phi import display_names
from healthguard.realtime import ChangeEvent, publish_change
from healthguard.security.accounts import Origin, principal_of
from healthguard.security.audit import record_audit
from healthguard.settings import get_settings

__all__ = [
    "KIND_ANSWER",
    "VIA_LABELS",
    "AnswerOutcome",
    "AnswerResult",
    "LinkAnswer",
    "LinkPreview",
    "SmsAnswer",
    "answer",
    "answer_by_link",
    "answer_sms",
    "link_secrets",
    "normalise_phone",
    "open_notifications",
    "preview_link",
    "staff_with_phone",
]

#: The timeline kind of "who answered through which channel".
KIND_ANSWER = "answered"

#: Channels an answer comes through, and how the timeline names them.
VIA_LABELS: dict[str, str] = {
    "app": "in the app",
    "push": "from a push notification",
    "sms": "by SMS",
    "link": "by answer link",
    "voice": "by voice call",
    "pager": "by pager",
}

_ACTIONS: dict[tokens.AnswerAction, Action | None] = {
    tokens.AnswerAction.ACKNOWLEDGE: Action.ACKNOWLEDGE,
    tokens.AnswerAction.ESCALATE: Action.ESCALATE,
    tokens.AnswerAction.DECLINE: None,
}
_NO_LONGER_APPLIES = frozenset({RefusalCode.ILLEGAL_TRANSITION, RefusalCode.CONFLICT})
_DONE_WORDS: dict[tokens.AnswerAction, str] = {
    tokens.AnswerAction.ACKNOWLEDGE: "acknowledged",
    tokens.AnswerAction.ESCALATE: "escalated",
    tokens.AnswerAction.DECLINE: "declined",
}
_NEXT: dict[tokens.AnswerAction, str] = {
    tokens.AnswerAction.ACKNOWLEDGE: "Further alarm messages to you about it stop; the bedside "
    "monitor remains the primary alarm.",
    tokens.AnswerAction.ESCALATE: "The next step of the escalation is being notified now.",
    tokens.AnswerAction.DECLINE: "The next step of the escalation is being notified now.",
}
#: Notification states that reached the person and may still be answered.
_ANSWERABLE = (
    NotificationStatus.SENT.value,
    NotificationStatus.DELIVERED.value,
    NotificationStatus.READ.value,
)


class AnswerOutcome(StrEnum):
    DONE = "done"
    NO_LONGER_APPLIES = "no_longer_applies"
    REFUSED = "refused"


@dataclass(frozen=True)
class AnswerResult:
    """What became of an answer. ``message``: for the person, in a sentence or two.
    ``code``: ``acknowledged``, ``escalated`` or ``declined`` when done; else why
    (``illegal_transition``, ``conflict``, ``forbidden``, ``invalid``, ``not_found``,
    ``no_account``). ``refusal``: the workflow's own refusal, when it refused (the API
    answers it as the incident routes do: 409 with the current status and allowed actions).
    """

    outcome: AnswerOutcome
    action: tokens.AnswerAction
    via: str
    incident_id: uuid.UUID
    incident_number: int | None
    status: str | None
    code: str
    message: str
    refusal: Refusal | None = None

    @property
    def changed(self) -> bool:
        return self.outcome is AnswerOutcome.DONE

    @property
    def http_status(self) -> int:
        if self.refusal is not None:
            return self.refusal.http_status
        if self.outcome is AnswerOutcome.DONE:
            return 200
        if self.code == "not_found":
            return 404
        return 409 if self.outcome is AnswerOutcome.NO_LONGER_APPLIES else 403


def _aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _via(via: str) -> str:
    value = (via or "").strip().lower()
    if value not in VIA_LABELS:
        raise ValueError(f"via must be one of {', '.join(VIA_LABELS)}, not {via!r}")
    return value


def _uuid(name: str, value: uuid.UUID | str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValueError(f"{name} must be a UUID") from None


# --- the one service function -----------------------------------------------------------------


def answer(
    session: Session,
    *,
    staff_id: uuid.UUID | str,
    incident_id: uuid.UUID | str,
    action: tokens.AnswerAction | str,
    via: str,
    now: datetime,
    origin: Origin | None = None,
) -> AnswerResult:
    """The staff member answers their notification about the incident (see the module
    docstring). Raises ``ValueError`` for an unknown action or channel (a programming error:
    the routes validate what people send). The caller commits."""
    _aware("now", now)
    chosen = tokens.AnswerAction(action)
    channel = _via(via)
    staff_uuid = _uuid("staff_id", staff_id)
    incident_uuid = _uuid("incident_id", incident_id)
    origin = origin or Origin()
    ctx = _Answering(session, staff_uuid, incident_uuid, chosen, channel, now, origin)

    user, problem, name = _account(session, staff_uuid)
    ctx.actor = name
    incident = lock_incident(session, incident_uuid)
    if incident is None or not (
        incident.assignee_staff_id == staff_uuid
        or _was_notified(session, incident_uuid, staff_uuid)
    ):
        return ctx.refuse(None, "not_found", "You have no alarm about this incident.")
    if user is None:
        return ctx.refuse(incident, "no_account", problem)

    if chosen is tokens.AnswerAction.DECLINE:
        return _decline(ctx, incident)

    command = Acknowledge() if chosen is tokens.AnswerAction.ACKNOWLEDGE else Escalate()
    try:
        result = perform(
            session, incident_uuid, command, principal=principal_of(user), now=now, origin=origin
        )
    except IncidentNotFound:
        return ctx.refuse(incident, "not_found", "You may no longer see this incident.")
    if isinstance(result, Refusal):
        if result.code in _NO_LONGER_APPLIES:
            return ctx.too_late(incident, result.code.value, result.message, result)
        # forbidden (audited by the workflow) or invalid (no further step to escalate to)
        audited = result.code is RefusalCode.FORBIDDEN
        return ctx.refuse(incident, result.code.value, result.message, result, audited=audited)
    return ctx.done(result, kind=AUDIT_ACTION[command.action])


def _decline(ctx: _Answering, incident: Incident) -> AnswerResult:
    """Only while nobody has acknowledged it: once someone has, there is nothing to decline
    (the answer no longer applies) and nobody else is paged for it."""
    if incident.status != IncidentState.TRIGGERED.value:
        view = build_view(ctx.session, incident)
        message = f"{view.name} is already {describe(view)}; nothing to decline."
        return ctx.too_late(incident, RefusalCode.ILLEGAL_TRANSITION.value, message, None)
    step_before = incident.escalation_step
    decline(ctx.session, incident, staff_id=ctx.staff_id, now=ctx.now)
    ctx.session.flush()
    ctx.session.refresh(incident)
    # The escalation does not audit; the decline is audited here, as the escalation it is.
    ctx.audit(
        incident,
        "success",
        "declined",
        "declined: the next step of the escalation is notified now",
        extra={"step_from": step_before, "step_to": incident.escalation_step},
    )
    return ctx.done(incident, kind="incident.escalated")


@dataclass
class _Answering:
    session: Session
    staff_id: uuid.UUID
    incident_id: uuid.UUID
    action: tokens.AnswerAction
    via: str
    now: datetime
    origin: Origin
    actor: str | None = None

    @property
    def who(self) -> str:
        return self.actor or f"staff:{self.staff_id}"

    def _result(
        self,
        incident: Incident | None,
        outcome: AnswerOutcome,
        code: str,
        message: str,
        refusal: Refusal | None = None,
    ) -> AnswerResult:
        return AnswerResult(
            outcome=outcome,
            action=self.action,
            via=self.via,
            incident_id=self.incident_id,
            incident_number=int(incident.number or 0) if incident is not None else None,
            status=incident.status if incident is not None else None,
            code=code,
            message=message,
            refusal=refusal,
        )

    def done(self, incident: Incident, *, kind: str) -> AnswerResult:
        number = int(incident.number or 0)
        word = _DONE_WORDS[self.action]
        self._answered(incident, f"{word}", {"outcome": AnswerOutcome.DONE.value})
        self._publish(incident, kind)
        message = f"Incident #{number} {word} by you. {_NEXT[self.action]}"
        return self._result(incident, AnswerOutcome.DONE, word, message)

    def too_late(
        self, incident: Incident, code: str, message: str, refusal: Refusal | None
    ) -> AnswerResult:
        self.session.refresh(incident)
        self._answered(
            incident,
            f"{self.action.value}, which no longer applied: {message}",
            {"outcome": AnswerOutcome.NO_LONGER_APPLIES.value, "reason": code},
        )
        self.audit(incident, "failure", code, message)
        self._publish(incident, "incident.updated")
        return self._result(
            incident,
            AnswerOutcome.NO_LONGER_APPLIES,
            code,
            f"{message} Nothing was changed by your answer.",
            refusal,
        )

    def refuse(
        self,
        incident: Incident | None,
        code: str,
        message: str,
        refusal: Refusal | None = None,
        *,
        audited: bool = False,
    ) -> AnswerResult:
        if not audited:
            self.audit(incident, "denied", code, message, action="access.denied")
        return self._result(
            incident, AnswerOutcome.REFUSED, code, f"{message} Nothing was changed.", refusal
        )

    def _answered(self, incident: Incident, what: str, data: dict[str, Any]) -> None:
        """Mark the person's notifications answered and say in the timeline who answered
        through which channel."""
        mark_answered(self.session, incident.id, self.staff_id, self.action.value, self.now)
        write_entries(
            self.session,
            incident.id,
            [
                TimelineEntry(
                    kind=KIND_ANSWER,
                    actor=self.who,
                    at=self.now,
                    message=f"{self.who} answered {VIA_LABELS[self.via]}: {what}",
                    data={
                        "staff_id": str(self.staff_id),
                        "answer": self.action.value,
                        "via": self.via,
                        **data,
                    },
                )
            ],
        )

    def audit(
        self,
        incident: Incident | None,
        outcome: str,
        code: str,
        message: str,
        *,
        action: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        audit_action = action or _audit_action(self.action)
        record_audit(
            self.session,
            actor=self.who,
            action=audit_action,
            record_type="incident",
            record_id=str(self.incident_id),
            outcome=outcome,
            ip=self.origin.ip,
            user_agent=self.origin.user_agent,
            details={
                "answer": self.action.value,
                "via": self.via,
                "staff_id": str(self.staff_id),
                "reason": code,
                "message": message,
                **({"number": int(incident.number or 0)} if incident is not None else {}),
                **(extra or {}),
            },
            now=self.now,
        )

    def _publish(self, incident: Incident, kind: str) -> None:
        event = ChangeEvent(
            kind=kind, entity_id=str(incident.id), ward_code=ward_code_of(self.session, incident)
        )

        def send() -> None:
            from workers.queues import redis_connection

            publish_change(redis_connection(), event)

        after_commit(self.session, send)


def _audit_action(action: tokens.AnswerAction) -> str:
    mapped = _ACTIONS[action]
    # A decline notifies the next step at once: audited as the escalation it is.
    return AUDIT_ACTION[mapped if mapped is not None else Action.ESCALATE]


def _was_notified(session: Session, incident_id: uuid.UUID, staff_id: uuid.UUID) -> bool:
    found = session.exec(
        select(Notification.id).where(
            Notification.incident_id == incident_id, Notification.staff_id == staff_id
        )
    ).first()
    return found is not None


def _account(session: Session, staff_id: uuid.UUID) -> tuple[User | None, str, str | None]:
    """The staff member's active account (the first by username), or why there is none; and
    the username to audit under (a disabled account's too; None without any)."""
    users = session.exec(
        select(User).where(User.staff_id == staff_id).order_by(col(User.username))
    ).all()
    for user in users:
        if user.is_active:
            return user, "", user.username
    if users:
        return (
            None,
            "Your HealthGuard account is disabled: answer by phone to the ward.",
            users[0].username,
        )
    return (
        None,
        "You have no HealthGuard account to answer with: answer by phone to the ward.",
        None,
    )


# --- answer links (email) ---------------------------------------------------------------------


def link_secrets() -> tuple[bytes]:
    """The keys answer links are verified with: the one ``healthguard.notify.delivery`` signs
    them with (derived from ``HEALTHGUARD_SECRET_KEY`` for this purpose only)."""
    return (answer_link_secret(),)


@dataclass(frozen=True)
class LinkPreview:
    """What the confirmation page of a valid, unused link shows: patient initials only."""

    action: tokens.AnswerAction
    incident_id: uuid.UUID
    number: int
    priority: str
    title: str
    ward: str
    bed: str
    patient_initials: str
    status: str
    status_text: str
    opened_at_local: str
    expires_at_local: str
    staff_name: str


def _local(at: datetime | None) -> str:
    if at is None:
        return ""
    zone = ZoneInfo(get_settings().timezone)
    return at.astimezone(zone).strftime("%d %b %Y %H:%M %Z")


def preview_link(session: Session, token: str, now: datetime) -> LinkPreview | tokens.TokenRefusal:
    """The GET of an answer link: verify it and show what it would do. Never spends it (mail
    scanners and link previews open links); a link already used is refused here too. Reads
    only: nothing is written (refusals are audited when someone presses the button)."""
    _aware("now", now)
    verified = tokens.verify(link_secrets(), token, now)
    if isinstance(verified, tokens.TokenRefusal):
        return verified
    if is_used(session, verified.jti):
        return tokens.TokenRefusal(
            tokens.RefusalReason.ALREADY_USED,
            "This link was already used. Open HealthGuard to see the incident.",
            verified.incident_id,
        )
    row = session.execute(
        incident_rows_query().where(col(Incident.id) == verified.incident_id)
    ).first()
    if row is None:
        return tokens.TokenRefusal(
            tokens.RefusalReason.BAD_SIGNATURE,
            "This link is about an incident that no longer exists. Open HealthGuard.",
        )
    incident, ward_code, bed_label, given_enc, family_enc = row
    given, family = display_names(incident.patient_id, given_enc, family_enc)
    staff = session.get(Staff, verified.staff_id)
    return LinkPreview(
        action=verified.action,
        incident_id=incident.id,
        number=int(incident.number or 0),
        priority=incident.priority,
        title=incident.title,
        ward=ward_code or "",
        bed=bed_label or "",
        patient_initials=initials(given, family),
        status=incident.status,
        status_text=describe(build_view(session, incident)),
        opened_at_local=_local(incident.opened_at),
        expires_at_local=_local(verified.expires_at),
        staff_name=staff.display_name if staff is not None else "",
    )


@dataclass(frozen=True)
class LinkAnswer:
    """The POST of an answer link: ``refusal`` when the token was refused (nothing changed),
    else ``result``."""

    refusal: tokens.TokenRefusal | None = None
    result: AnswerResult | None = None


def answer_by_link(
    session: Session, token: str, now: datetime, origin: Origin, *, via: str = "link"
) -> LinkAnswer:
    """Redeem the single-use token (in this transaction) and answer as the staff member it
    was issued to, via ``link`` (emails and push notifications carry links; a push
    notification's action button, which posts the same token, answers via ``push``). A
    refused token is audited (``token.refused``) and changes nothing else. The caller
    commits."""
    _aware("now", now)
    if via not in ("link", "push"):
        raise ValueError(f"via must be link or push, not {via!r}")
    redeemed = tokens.redeem(link_secrets(), token, now, PostgresUsedTokens(session, now))
    if isinstance(redeemed, tokens.TokenRefusal):
        record_audit(
            session,
            actor="anonymous",
            action="token.refused",
            record_type="answer_link",
            record_id=str(redeemed.incident_id) if redeemed.incident_id else None,
            outcome="denied",
            ip=origin.ip,
            user_agent=origin.user_agent,
            details={"reason": redeemed.reason.value},
            now=now,
        )
        return LinkAnswer(refusal=redeemed)
    result = answer(
        session,
        staff_id=redeemed.staff_id,
        incident_id=redeemed.incident_id,
        action=redeemed.action,
        via=via,
        now=now,
        origin=origin,
    )
    return LinkAnswer(result=result)


# --- SMS replies --------------------------------------------------------------------------------


_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def normalise_phone(raw: str | None) -> str | None:
    """``+447700900001`` from ``+44 7700 900001``, ``0044-7700-900001``...; None when it is
    not an E.164 number."""
    text = _PHONE_SEPARATORS.sub("", raw or "")
    if text.startswith("00"):
        text = "+" + text[2:]
    return text if _E164.fullmatch(text) else None


def staff_with_phone(session: Session, e164: str) -> list[Staff]:
    """The staff members whose phone is this E.164 number (written with or without spaces,
    dashes, dots, brackets, or 00 for +)."""
    stored = sa.func.regexp_replace(col(Staff.phone), r"[\s\-().]", "", "g")
    normalised = sa.case(
        (stored.startswith("00"), sa.literal("+") + sa.func.substr(stored, 3)), else_=stored
    )
    return list(
        session.exec(select(Staff).where(col(Staff.phone).is_not(None), normalised == e164)).all()
    )


def open_notifications(session: Session, staff_id: uuid.UUID) -> list[OpenNotification]:
    """The person's notifications an SMS reply may answer: one per incident that is still
    open (triggered, acknowledged or in progress) and about which a notification reached them
    and was not answered yet; oldest first, each with the person's reply code for it
    (``reply_codes``: never the same for two of them) and a short summary without patient
    data ("P1 CARD bed B1")."""
    rows = session.execute(
        incident_rows_query()
        .where(
            col(Incident.status).in_(OPEN_STATUSES),
            sa.exists(
                sa.select(col(Notification.id)).where(
                    col(Notification.incident_id) == col(Incident.id),
                    col(Notification.staff_id) == staff_id,
                    col(Notification.answered_at).is_(None),
                    col(Notification.status).in_(_ANSWERABLE),
                )
            ),
        )
        .order_by(col(Incident.opened_at), col(Incident.id))
    ).all()
    codes = reply_codes.live_codes(session, staff_id, (row[0].id for row in rows))
    items: list[OpenNotification] = []
    for incident, ward_code, bed_label, _given, _family in rows:
        place = " ".join(p for p in (ward_code, f"bed {bed_label}" if bed_label else None) if p)
        summary = " ".join(p for p in (incident.priority, place) if p)
        # No code yet (the message that reached them was composed before codes were
        # stored): allocate one now, in its own short transaction, so it can be listed.
        code = codes.get(incident.id) or reply_codes.allocate(staff_id, incident.id)
        items.append(OpenNotification(str(incident.id), code, summary))
    return items


@dataclass(frozen=True)
class SmsAnswer:
    """The text to send back (at most 160 characters) and, when an answer was given, what
    became of it."""

    reply: str
    result: AnswerResult | None = None


def _fit(text: str) -> str:
    return text if len(text) <= SMS_LIMIT else text[: SMS_LIMIT - 3].rstrip() + "..."


def _masked(e164: str) -> str:
    return e164[:3] + "*" * max(len(e164) - 6, 0) + e164[-3:]


def answer_sms(
    session: Session,
    *,
    sender: str,
    text: str,
    now: datetime,
    received_by: str,
    origin: Origin | None = None,
) -> SmsAnswer:
    """One inbound SMS (``sender``: the number it came from; ``received_by``: the audit name
    of the provider's integration key). The number is the authentication: an unknown or
    shared number, a reply that cannot be read, an unknown code or several open alarms
    without a code get a helpful text back and change nothing (audited as
    ``access.denied``). Otherwise ``answer`` via ``sms``. The caller commits."""
    _aware("now", now)
    origin = origin or Origin()
    e164 = normalise_phone(sender)

    def refuse(reason: str, reply: str, details: dict[str, Any]) -> SmsAnswer:
        record_audit(
            session,
            actor=received_by,
            action="access.denied",
            record_type="sms_reply",
            record_id=_masked(e164) if e164 else None,
            outcome="denied",
            ip=origin.ip,
            user_agent=origin.user_agent,
            details={"reason": reason, **details},
            now=now,
        )
        return SmsAnswer(_fit(reply))

    if e164 is None:
        return refuse(
            "not_e164", "HealthGuard could not read your number. Nothing was changed.", {}
        )
    people = staff_with_phone(session, e164)
    if not people:
        return refuse(
            "unknown_number",
            "HealthGuard does not know this number, so it cannot take answers from it. Answer "
            "in the HealthGuard app. Nothing was changed.",
            {},
        )
    if len(people) > 1:
        return refuse(
            "shared_number",
            "This number belongs to more than one person in HealthGuard, so it cannot take "
            "answers. Answer in the HealthGuard app. Nothing was changed.",
            {"staff_ids": sorted(str(p.id) for p in people)},
        )
    person = people[0]
    items = open_notifications(session, person.id)
    resolved = resolve_reply(text, items)
    if isinstance(resolved, ReplyRefusal):
        return refuse(
            resolved.problem.value,
            resolved.answer_text,
            {"staff_id": str(person.id), "open": [n.code for n in items]},
        )
    assert isinstance(resolved, ReplyMatch)
    result = answer(
        session,
        staff_id=person.id,
        incident_id=resolved.incident_id,
        action=resolved.action.value,
        via="sms",
        now=now,
        origin=origin,
    )
    if result.outcome is AnswerOutcome.DONE:
        return SmsAnswer(resolved.answer_text, result)
    return SmsAnswer(_fit(f"{resolved.code}: {result.message}"), result)
