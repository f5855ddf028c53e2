"""SMS reply codes on a real Postgres: a person's live codes never clash (exhaustively over
a tiny injected code space, and as a hypothesis property over random open/close
sequences), two connections allocating for one person at once take turns and get distinct
codes, the database refuses a clash even without the lock, and a reply with the code of an
alarm that was closed is answered clearly, naming the open alarms' codes."""

from __future__ import annotations

import itertools
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from authsupport import record_notification
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from healthguard.db import session_scope
from healthguard.models import Incident, Staff, Ward
from healthguard.models.incidents import OPEN_STATUSES
from healthguard.models.reply_codes import SmsReplyCode
from healthguard.notify import answers
from healthguard.notify.reply_codes import (
    LOCK_NAMESPACE,
    NoFreeCode,
    allocate,
    code_space_chooser,
    live_codes,
    reply_code,
)
from healthguard.runtime.embedded import wait_until
from healthguard.security.accounts import Origin

pytestmark = pytest.mark.integration

_numbers = itertools.count(1)
SPACE = ["1001", "1002", "1003"]


def new_person() -> tuple[uuid.UUID, str]:
    """A staff member with a phone of their own: (id, E.164)."""
    n = next(_numbers)
    phone = f"+4479113{n:05d}"
    with session_scope() as session:
        ward_id = session.exec(select(Ward.id).where(Ward.code == "CARD")).one()
        staff = Staff(
            display_name=f"Code Tester {n}", role="nurse", home_ward_id=ward_id, phone=phone
        )
        session.add(staff)
        session.flush()
        return staff.id, phone


def new_incident(title: str = "Codes") -> uuid.UUID:
    with session_scope() as session:
        ward_id = session.exec(select(Ward.id).where(Ward.code == "CARD")).one()
        incident = Incident(title=f"{title} {uuid.uuid4().hex[:6]}", priority="P2", source="test")
        incident.ward_id = ward_id
        session.add(incident)
        session.flush()
        return incident.id


def set_status(incident_id: uuid.UUID, status: str) -> None:
    """Close (resolved) or reopen (triggered) an incident: all the codes look at."""
    with session_scope() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        incident.status = status
        incident.resolved_at = datetime.now(UTC) if status == "resolved" else None
        session.add(incident)


def open_codes(staff_id: uuid.UUID) -> list[str]:
    """The person's live codes of incidents that are open now."""
    with session_scope() as session:
        rows = session.exec(
            select(SmsReplyCode.code)
            .join(Incident, col(Incident.id) == col(SmsReplyCode.incident_id))
            .where(
                col(SmsReplyCode.staff_id) == staff_id,
                col(SmsReplyCode.released_at).is_(None),
                col(Incident.status).in_(OPEN_STATUSES),
            )
        ).all()
        return list(rows)


@pytest.fixture(scope="module", autouse=True)
def _database(seeded: dict[str, int]) -> None:
    """Every test here needs the seeded wards."""


def test_the_whole_code_space_is_handed_out_without_a_repeat() -> None:
    chooser = code_space_chooser(SPACE)
    staff_id, _ = new_person()
    incidents = [new_incident() for _ in SPACE]
    codes = [allocate(staff_id, i, chooser=chooser) for i in incidents]
    assert sorted(codes) == SPACE
    # asking again gives the same code (each message about an incident carries one code)
    assert [allocate(staff_id, i, chooser=chooser) for i in incidents] == codes
    # a fourth open alarm: no code is free, and none is reused
    with pytest.raises(NoFreeCode):
        allocate(staff_id, new_incident(), chooser=chooser)
    # someone else has their own codes: the same digits are fine for them
    other, _ = new_person()
    assert allocate(other, incidents[0], chooser=chooser) == "1001"


def test_a_closed_alarms_code_is_freed_but_not_reused_while_another_is_free() -> None:
    chooser = code_space_chooser([*SPACE, "1004"])
    staff_id, _ = new_person()
    first, second, third = (new_incident() for _ in range(3))
    assert [allocate(staff_id, i, chooser=chooser) for i in (first, second, third)] == SPACE
    set_status(first, "resolved")
    # 1001 was just released: a late reply to the closed alarm must not land on a new one
    fourth = new_incident()
    assert allocate(staff_id, fourth, chooser=chooser) == "1004"
    # only when nothing else is free is a recently released code handed out again
    assert allocate(staff_id, new_incident(), chooser=chooser) == "1001"
    with pytest.raises(NoFreeCode):
        allocate(staff_id, new_incident(), chooser=chooser)
    # the first alarm reopens: its old code is live for another alarm now, so it needs a
    # new one, and there is none free
    set_status(first, "triggered")
    with pytest.raises(NoFreeCode):
        allocate(staff_id, first, chooser=chooser)
    set_status(second, "resolved")
    assert allocate(staff_id, first, chooser=chooser) == "1002"
    assert sorted(open_codes(staff_id)) == ["1001", "1002", "1003", "1004"]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.lists(
        st.tuples(st.sampled_from(["open", "close", "reopen", "ask"]), st.integers(0, 20)),
        min_size=1,
        max_size=14,
    )
)
def test_property_open_alarms_never_share_a_code(steps: list[tuple[str, int]]) -> None:
    """Whatever the order of alarms opening, closing, reopening and being asked about
    again, a person's open alarms never share a code, and a code is refused (NoFreeCode)
    only when every code is held by an open alarm."""
    space = ["2001", "2002", "2003", "2004"]
    chooser = code_space_chooser(space)
    staff_id, _ = new_person()
    open_ids: list[uuid.UUID] = []
    closed_ids: list[uuid.UUID] = []
    coded: dict[uuid.UUID, str] = {}
    for action, pick in steps:
        if action == "open" or (action == "ask" and not open_ids):
            incident = new_incident("Property")
            open_ids.append(incident)
        elif action == "close" and open_ids:
            incident = open_ids.pop(pick % len(open_ids))
            set_status(incident, "resolved")
            closed_ids.append(incident)
            coded.pop(incident, None)
            continue
        elif action == "reopen" and closed_ids:
            incident = closed_ids.pop(pick % len(closed_ids))
            set_status(incident, "triggered")
            open_ids.append(incident)
        elif open_ids:
            incident = open_ids[pick % len(open_ids)]
        else:
            continue
        held = {c for i, c in coded.items() if i != incident and i in open_ids}
        try:
            code = allocate(staff_id, incident, chooser=chooser)
        except NoFreeCode:
            assert len(held) == len(space), (held, space)
            continue
        assert code not in held
        if incident in coded:
            assert code == coded[incident]  # stable while the alarm stays open
        coded[incident] = code
        current = open_codes(staff_id)
        assert len(current) == len(set(current)), current


def _waiting_for_the_code_lock() -> bool:
    with session_scope() as session:
        waiting = session.execute(
            sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND classid::bigint = :ns"
            ),
            {"ns": LOCK_NAMESPACE},
        ).scalar_one()
        return int(waiting) > 0


def test_two_connections_allocating_for_one_person_get_distinct_codes() -> None:
    """The first connection allocates and holds the person's lock (not committed); the
    second, on its own connection and thread, must wait for it, then sees its code."""
    chooser = code_space_chooser(SPACE)  # both would take 1001 without the lock
    staff_id, _ = new_person()
    first, second = new_incident(), new_incident()
    result: dict[str, object] = {}

    def other_worker() -> None:
        try:
            result["code"] = allocate(staff_id, second, chooser=chooser)
        except Exception as exc:  # reported below
            result["error"] = exc

    with session_scope() as session:
        code = reply_code(session, staff_id, first, chooser=chooser)
        thread = threading.Thread(target=other_worker)
        thread.start()
        assert wait_until(_waiting_for_the_code_lock, 10.0), "the second allocation did not wait"
        assert "code" not in result
    # committed: the second allocation goes ahead
    thread.join(timeout=10.0)
    assert not thread.is_alive()
    assert "error" not in result, result
    assert (code, result["code"]) == ("1001", "1002")


def test_two_threads_at_once_get_distinct_codes() -> None:
    """Both start together (a barrier) and allocate with the default chooser."""
    staff_id, _ = new_person()
    incidents = [new_incident() for _ in range(2)]
    barrier = threading.Barrier(2)
    codes: dict[uuid.UUID, str] = {}
    errors: list[BaseException] = []

    def run(incident: uuid.UUID) -> None:
        try:
            barrier.wait(timeout=10)
            codes[incident] = allocate(staff_id, incident, chooser=code_space_chooser(SPACE))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in incidents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert not errors, errors
    assert sorted(codes.values()) == ["1001", "1002"]


def test_the_database_refuses_two_live_codes_alike_for_one_person() -> None:
    staff_id, _ = new_person()
    first, second = new_incident(), new_incident()
    with pytest.raises(IntegrityError), session_scope() as session:
        session.add(SmsReplyCode(staff_id=staff_id, incident_id=first, code="4821"))
        session.add(SmsReplyCode(staff_id=staff_id, incident_id=second, code="4821"))
        session.flush()
    # a released code may be held again
    now = datetime.now(UTC)
    with session_scope() as session:
        session.add(
            SmsReplyCode(
                staff_id=staff_id, incident_id=first, code="4821", released_at=now - timedelta(1)
            )
        )
        session.add(SmsReplyCode(staff_id=staff_id, incident_id=second, code="4821"))
    with session_scope() as session:
        assert live_codes(session, staff_id, [first, second]) == {second: "4821"}


def _sms(phone: str, text: str) -> str:
    with session_scope() as session:
        done = answers.answer_sms(
            session,
            sender=phone,
            text=text,
            now=datetime.now(UTC),
            received_by="integration:test sms",
            origin=Origin(),
        )
        return done.reply


def _status(incident_id: uuid.UUID) -> str:
    with session_scope() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        return incident.status


def test_a_reply_with_a_closed_alarms_code_is_answered_with_the_open_codes() -> None:
    staff_id, phone = new_person()
    closed, still_open = new_incident("Closed"), new_incident("Open")
    for incident in (closed, still_open):
        record_notification(staff_id, str(incident), "sms", "sent")
    old_code, open_code = allocate(staff_id, closed), allocate(staff_id, still_open)
    assert old_code != open_code
    set_status(closed, "resolved")

    reply = _sms(phone, f"1 {old_code}")

    assert reply.startswith(f"Code {old_code} is not one of your open alarms. Open: {open_code}")
    assert reply.endswith("Nothing was changed.") and len(reply) <= 160
    assert _status(still_open) == "triggered"  # the other alarm was not acknowledged

    set_status(still_open, "resolved")
    assert _sms(phone, f"1 {open_code}") == "You have no open alarms. Nothing was changed."


def test_an_ambiguous_reply_lists_each_open_alarm_with_its_own_code() -> None:
    staff_id, phone = new_person()
    incidents = [new_incident("Ambiguous") for _ in range(2)]
    for incident in incidents:
        record_notification(staff_id, str(incident), "sms", "sent")

    reply = _sms(phone, "1")  # no code: which one?

    with session_scope() as session:
        codes = live_codes(session, staff_id, incidents)
    assert len(set(codes.values())) == 2  # allocated for the listing, distinct
    assert all(code in reply for code in codes.values()), reply
    assert reply.startswith("2 open alarms: add the code")
    assert all(_status(i) == "triggered" for i in incidents)
