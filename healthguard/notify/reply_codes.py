"""SMS reply codes: one per person and incident, never two live ones alike for one person.

A nurse answers an alarm by text with its code ("1 4821"). Codes used to be derived from
the incident id alone, so two open incidents of one person shared a code about once in
9,000 pairs, and a reply could acknowledge the wrong patient's alarm. Now each person gets
their own code for each incident, stored in ``sms_reply_codes``:

- :func:`reply_code` returns the person's code for the incident, allocating one the first
  time (:func:`allocate` does it in its own short transaction: what
  ``delivery.incident_facts`` calls when a message is composed for the person).
  Allocation holds a per-person transaction lock
  (``pg_advisory_xact_lock(LOCK_NAMESPACE, hashtext(staff id))``): two workers composing
  for the same person at once take turns, and the second sees the first's code. It first
  *releases* (``released_at``) the person's codes of incidents no longer open (resolved,
  closed), then picks a code not among the person's live codes. The partial unique index
  ``uq_sms_reply_codes_staff_id_code_live`` (staff_id, code) WHERE released_at IS NULL
  makes a clash impossible even for a writer that skipped the lock;
- a code released less than :data:`REUSE_AFTER` ago is not handed out again while another
  code is free, so a late reply to an alarm that was just closed is answered "not one of
  your open alarms" rather than landing on a new one;
- a reopened incident whose code was released gets a fresh code (its old one may be live
  for another incident by then);
- :func:`live_codes` reads the codes for the SMS webhook (no lock, no writes).

Which code: the chooser (injectable; tests use a tiny code space) gets the incident id and
the codes not to use. The default (:func:`hmac_chooser`) is ``sms_reply.incident_code``: the
first candidate is the HMAC of the incident id with a key derived from the secret key (4
digits, no leading zero; the same as ``delivery.incident_short_code``), stepping to the next
candidate on a clash, then to 5 and 6 digits if every 4-digit code is taken.

:func:`reply_code`'s caller commits (the lock is held until then).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from healthguard.models.incidents import OPEN_STATUSES, Incident
from healthguard.models.reply_codes import SmsReplyCode
from healthguard.notify.sms_reply import MAX_CODE_DIGITS, MIN_CODE_DIGITS, incident_code

__all__ = [
    "LOCK_NAMESPACE",
    "REUSE_AFTER",
    "CodeChooser",
    "NoFreeCode",
    "allocate",
    "code_space_chooser",
    "hmac_chooser",
    "live_codes",
    "reply_code",
]

#: First key of the two-key advisory lock (the second is the person's id hashed): "HGRC".
LOCK_NAMESPACE = 0x48475243
#: A released code is not handed out again within this time while another code is free.
REUSE_AFTER = timedelta(hours=24)


class NoFreeCode(RuntimeError):
    """Every code of the code space is live for this person."""


#: (incident id, codes not to use) -> a code not among them, or :class:`NoFreeCode`.
CodeChooser = Callable[[uuid.UUID, frozenset[str]], str]


def hmac_chooser(secret: bytes) -> CodeChooser:
    """The default chooser: ``sms_reply.incident_code`` with 4, then 5, then 6 digits."""

    def choose(incident_id: uuid.UUID, taken: frozenset[str]) -> str:
        for digits in range(MIN_CODE_DIGITS, MAX_CODE_DIGITS + 1):
            span = 9 * 10 ** (digits - 1)
            if sum(1 for c in taken if len(c) == digits and c.isdigit()) >= span:
                continue
            return incident_code(secret, incident_id, digits=digits, taken=taken)
        raise NoFreeCode("every reply code is in use for this person")

    return choose


def code_space_chooser(codes: Sequence[str]) -> CodeChooser:
    """A chooser over a fixed list of codes: the first one not taken (for tests and small
    deployments that want a predictable space)."""

    def choose(incident_id: uuid.UUID, taken: frozenset[str]) -> str:
        for code in codes:
            if code not in taken:
                return code
        raise NoFreeCode(f"all {len(codes)} reply codes are in use for this person")

    return choose


def _default_chooser() -> CodeChooser:
    from healthguard.notify.delivery import SMS_CODE_LABEL, derive_key
    from healthguard.settings import get_settings

    return hmac_chooser(derive_key(get_settings().secret("secret_key"), SMS_CODE_LABEL))


def _lock(session: Session, staff_id: uuid.UUID) -> None:
    session.execute(
        sa.text("SELECT pg_advisory_xact_lock(:ns, hashtext(:staff))"),
        {"ns": LOCK_NAMESPACE, "staff": str(staff_id)},
    )


def _release_closed(session: Session, staff_id: uuid.UUID, now: datetime) -> None:
    """Release the person's live codes of incidents that are no longer open."""
    still_open = sa.select(col(Incident.id)).where(col(Incident.status).in_(OPEN_STATUSES))
    session.execute(
        sa.update(SmsReplyCode)
        .where(
            col(SmsReplyCode.staff_id) == staff_id,
            col(SmsReplyCode.released_at).is_(None),
            col(SmsReplyCode.incident_id).not_in(still_open),
        )
        .values(released_at=now)
        .execution_options(synchronize_session=False)
    )


def reply_code(
    session: Session,
    staff_id: uuid.UUID,
    incident_id: uuid.UUID,
    *,
    now: datetime | None = None,
    chooser: CodeChooser | None = None,
) -> str:
    """The person's reply code for the incident, allocated on first use (module
    docstring). Raises :class:`NoFreeCode` when the chooser has no free code."""
    now = now or datetime.now(UTC)
    _lock(session, staff_id)
    _release_closed(session, staff_id, now)
    rows = session.exec(
        select(SmsReplyCode)
        .where(col(SmsReplyCode.staff_id) == staff_id)
        .where(
            sa.or_(
                col(SmsReplyCode.incident_id) == incident_id,
                col(SmsReplyCode.released_at).is_(None),
                col(SmsReplyCode.released_at) > now - REUSE_AFTER,
            )
        )
        .execution_options(populate_existing=True)
    ).all()
    mine = next((r for r in rows if r.incident_id == incident_id), None)
    if mine is not None and mine.released_at is None:
        return mine.code
    live = frozenset(r.code for r in rows if r.released_at is None)
    recent = frozenset(r.code for r in rows if r.released_at is not None)
    choose = chooser or _default_chooser()
    try:
        code = choose(incident_id, live | recent)
    except NoFreeCode:
        code = choose(incident_id, live)  # better a recently closed code than none
    if mine is None:
        mine = SmsReplyCode(staff_id=staff_id, incident_id=incident_id, code=code)
        mine.allocated_at = now
    else:  # the incident was reopened after its code was released
        mine.code, mine.allocated_at, mine.released_at = code, now, None
    session.add(mine)
    session.flush()
    return code


def allocate(
    staff_id: uuid.UUID,
    incident_id: uuid.UUID,
    *,
    now: datetime | None = None,
    chooser: CodeChooser | None = None,
) -> str:
    """:func:`reply_code` in its own short transaction, committed at once: the per-person
    lock is held only for the allocation, never across a send (a slow SMTP server must not
    hold up the push to the same person). Idempotent, so a send that fails afterwards
    leaves a code that is simply reused."""
    from healthguard.db import session_scope

    with session_scope() as session:
        return reply_code(session, staff_id, incident_id, now=now, chooser=chooser)


def live_codes(
    session: Session, staff_id: uuid.UUID, incident_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The person's live codes of these incidents (an incident without one is absent)."""
    ids = list(incident_ids)
    if not ids:
        return {}
    rows = session.exec(
        select(SmsReplyCode).where(
            col(SmsReplyCode.staff_id) == staff_id,
            col(SmsReplyCode.incident_id).in_(ids),
            col(SmsReplyCode.released_at).is_(None),
        )
    ).all()
    return {r.incident_id: r.code for r in rows}


def codes_in_use(session: Session, staff_id: uuid.UUID) -> Collection[str]:
    """Every live code of the person (for tests and diagnostics)."""
    return set(
        session.exec(
            select(col(SmsReplyCode.code)).where(
                col(SmsReplyCode.staff_id) == staff_id, col(SmsReplyCode.released_at).is_(None)
            )
        ).all()
    )
