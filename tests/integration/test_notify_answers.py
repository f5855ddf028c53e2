"""Answering a notification (healthguard.notify.answers) on a real Postgres and Redis: the one
service function behind every channel (acknowledge and escalate through the incident
workflow as the person's own account, decline through the escalation), what it marks, what
the timeline and the audit log say, answers that no longer apply, refusals that change
nothing; the single-use store of answer links (used_tokens), and SMS replies resolved against
the person's open notifications."""

from __future__ import annotations

import itertools
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from authsupport import (
    assign_incident,
    audit_rows_after,
    incident_row,
    last_audit_id,
    open_incident_in,
    record_notification,
)
from sqlmodel import Session, select

from healthguard.db import get_engine, session_scope
from healthguard.incidents.timeline import read_timeline
from healthguard.models import Incident, Notification, Staff, User, Ward
from healthguard.models.oncall import UsedAnswerToken
from healthguard.notify import answers
from healthguard.notify.delivery import incident_short_code
from healthguard.notify.used_tokens import PostgresUsedTokens, delete_expired, is_used
from healthguard.security.accounts import Origin

pytestmark = pytest.mark.integration

WAIT = 10.0
_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def _data(seeded: dict[str, int]) -> None:
    """Every test runs on the module's seeded database."""


@dataclass(frozen=True)
class Person:
    staff_id: uuid.UUID
    username: str
    phone: str  # as stored: with spaces
    e164: str


def new_person(role: str = "nurse", ward: str = "CARD", *, active: bool = True) -> Person:
    """A fresh staff member of ``ward`` with an account: nobody else notifies them, so each
    test sees only the notifications it made."""
    n = next(_numbers)
    tag = uuid.uuid4().hex[:8]
    phone = f"+44 7911 1{n:05d}"
    with session_scope() as session:
        ward_id = session.exec(select(Ward.id).where(Ward.code == ward)).one()
        staff = Staff(
            display_name=f"Answer Tester {tag}", role="nurse", home_ward_id=ward_id, phone=phone
        )
        session.add(staff)
        session.flush()
        session.add(User(username=f"answer.{tag}", role=role, staff_id=staff.id, is_active=active))
        return Person(staff.id, f"answer.{tag}", phone, phone.replace(" ", ""))


def notifications_of(person: Person, incident: str) -> list[Notification]:
    with session_scope() as session:
        return list(
            session.exec(
                select(Notification).where(
                    Notification.staff_id == person.staff_id,
                    Notification.incident_id == uuid.UUID(incident),
                )
            ).all()
        )


def timeline(incident: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    with session_scope() as session:
        return [
            (e.kind, e.actor, e.message, e.data)
            for e in read_timeline(session, uuid.UUID(incident))
        ]


def answered_entries(incident: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [e for e in timeline(incident) if e[0] == answers.KIND_ANSWER]


def do_answer(person: Person, incident: str, action: str, via: str = "app") -> answers.AnswerResult:
    with session_scope() as session:
        return answers.answer(
            session,
            staff_id=person.staff_id,
            incident_id=incident,
            action=action,
            via=via,
            now=datetime.now(UTC),
            origin=Origin(ip="10.0.0.7", user_agent="pytest"),
        )


def notify(person: Person, incident: str, channel: str = "sms", status: str = "sent") -> uuid.UUID:
    return record_notification(person.staff_id, incident, channel, status)


def card_incident(title: str, priority: str = "P2", bed: str = "B2") -> str:
    return open_incident_in("CARD", bed, title, priority)


# --- the one service function -------------------------------------------------------------------


def test_acknowledge_goes_through_the_workflow_and_says_the_channel() -> None:
    nurse = new_person()
    incident = card_incident("Answer: SpO2 88 %")
    sms = notify(nurse, incident, "sms")
    push = notify(nurse, incident, "push", status="delivered")
    pending = notify(nurse, incident, "voice", status="queued")
    mark = last_audit_id()

    result = do_answer(nurse, incident, "acknowledge", via="sms")

    assert result.outcome is answers.AnswerOutcome.DONE and result.changed
    assert result.code == "acknowledged" and result.status == "acknowledged"
    number = incident_row(incident).number
    assert result.incident_number == number
    assert f"Incident #{number} acknowledged by you" in result.message
    after = incident_row(incident)
    assert (after.status, after.acknowledged_by, after.version) == (
        "acknowledged",
        nurse.username,
        2,
    )
    rows = {n.id: n for n in notifications_of(nurse, incident)}
    assert {rows[sms].status, rows[push].status} == {"answered"}
    assert rows[sms].answer == rows[push].answer == "acknowledge"
    assert rows[sms].answered_at is not None
    assert rows[pending].status == "cancelled"  # the person answered: no voice call
    kinds = [(kind, actor) for kind, actor, _, _ in timeline(incident)]
    assert ("acknowledged", nurse.username) in kinds
    entry = answered_entries(incident)
    assert len(entry) == 1
    assert entry[0][1] == nurse.username
    assert entry[0][2] == f"{nurse.username} answered by SMS: acknowledged"
    assert entry[0][3]["via"] == "sms" and entry[0][3]["outcome"] == "done"
    audit = audit_rows_after(mark)
    acked = [r for r in audit if r.action == "incident.acknowledged"]
    assert [(r.actor, r.outcome, r.record_id) for r in acked] == [
        (nurse.username, "success", incident)
    ]


def test_an_answer_after_someone_else_acknowledged_is_a_clear_answer_not_an_error() -> None:
    first, second = new_person(), new_person()
    incident = card_incident("Answer: two nurses")
    notify(first, incident)
    notify(second, incident, "push")
    assert do_answer(first, incident, "acknowledge", via="app").changed
    mark = last_audit_id()

    late = do_answer(second, incident, "acknowledge", via="push")

    assert late.outcome is answers.AnswerOutcome.NO_LONGER_APPLIES and not late.changed
    assert late.code == "illegal_transition" and late.http_status == 409
    assert late.refusal is not None and late.refusal.current_status.value == "acknowledged"
    assert f"already acknowledged by {first.username} at " in late.message
    assert late.message.endswith("Nothing was changed by your answer.")
    after = incident_row(incident)
    assert (after.acknowledged_by, after.version) == (first.username, 2)
    # They did answer: their notification stops, and the timeline shows it came too late.
    assert [n.status for n in notifications_of(second, incident)] == ["answered"]
    entries = answered_entries(incident)
    assert [(actor, data["via"], data["outcome"]) for _, actor, _, data in entries] == [
        (first.username, "app", "done"),
        (second.username, "push", "no_longer_applies"),
    ]
    assert "no longer applied" in entries[1][2]
    audit = audit_rows_after(mark)
    assert [(r.action, r.actor, r.outcome) for r in audit] == [
        ("incident.acknowledged", second.username, "failure")
    ]
    assert audit[0].details["via"] == "push" and audit[0].details["reason"] == "illegal_transition"


def test_escalate_goes_to_the_next_step() -> None:
    nurse = new_person()
    incident = card_incident("Answer: escalate me", priority="P1")
    notify(nurse, incident, "email")
    mark = last_audit_id()
    step_before = incident_row(incident).escalation_step

    result = do_answer(nurse, incident, "escalate", via="link")

    assert result.outcome is answers.AnswerOutcome.DONE and result.code == "escalated"
    assert "next step of the escalation" in result.message
    after = incident_row(incident)
    assert (after.status, after.escalation_step) == ("triggered", step_before + 1)
    assert ("escalated", nurse.username) in [(k, a) for k, a, _, _ in timeline(incident)]
    assert answered_entries(incident)[0][2] == (
        f"{nurse.username} answered by answer link: escalated"
    )
    assert [n.answer for n in notifications_of(nurse, incident)] == ["escalate"]
    assert ("incident.escalated", nurse.username, "success") in [
        (r.action, r.actor, r.outcome) for r in audit_rows_after(mark)
    ]


def test_someone_never_notified_about_it_is_refused_and_nothing_changes() -> None:
    stranger = new_person()
    incident = card_incident("Answer: not yours")
    mark = last_audit_id()

    result = do_answer(stranger, incident, "acknowledge")

    assert result.outcome is answers.AnswerOutcome.REFUSED
    assert (result.code, result.http_status) == ("not_found", 404)
    assert result.message.endswith("Nothing was changed.")
    after = incident_row(incident)
    assert (after.status, after.version) == ("triggered", 1)
    assert answered_entries(incident) == []
    audit = audit_rows_after(mark)
    assert [(r.action, r.actor, r.outcome, r.details["reason"]) for r in audit] == [
        ("access.denied", stranger.username, "denied", "not_found")
    ]


def test_a_disabled_account_cannot_answer() -> None:
    disabled = new_person(active=False)
    incident = card_incident("Answer: disabled account")
    notify(disabled, incident)

    result = do_answer(disabled, incident, "acknowledge", via="sms")

    assert result.outcome is answers.AnswerOutcome.REFUSED and result.code == "no_account"
    assert "disabled" in result.message
    assert incident_row(incident).status == "triggered"
    assert [n.status for n in notifications_of(disabled, incident)] == ["sent"]


def test_the_role_must_allow_the_action_as_in_the_api() -> None:
    """An auditor's account linked to the staff member the incident is assigned to: the
    workflow refuses (forbidden) and audits it once; the answer changes nothing."""
    auditor = new_person(role="auditor")
    incident = card_incident("Answer: auditor")
    assign_incident(incident, str(auditor.staff_id))
    notify(auditor, incident)
    mark = last_audit_id()

    result = do_answer(auditor, incident, "acknowledge")

    assert result.outcome is answers.AnswerOutcome.REFUSED
    assert (result.code, result.http_status) == ("forbidden", 403)
    assert result.refusal is not None
    assert incident_row(incident).status == "triggered"
    assert [n.status for n in notifications_of(auditor, incident)] == ["sent"]
    denied = [r for r in audit_rows_after(mark) if r.action == "access.denied"]
    assert [r.actor for r in denied] == [auditor.username]


def test_unknown_action_or_channel_is_a_programming_error() -> None:
    nurse = new_person()
    incident = card_incident("Answer: bad input")
    with pytest.raises(ValueError):
        do_answer(nurse, incident, "resolve")
    with pytest.raises(ValueError, match="via must be one of"):
        do_answer(nurse, incident, "acknowledge", via="carrier pigeon")


# --- the single-use store of answer links ---------------------------------------------------------


def test_a_token_id_is_used_once() -> None:
    jti = uuid.uuid4().hex[:18]
    now = datetime.now(UTC)
    until = now + timedelta(minutes=15)
    with session_scope() as session:
        assert not is_used(session, jti)
        assert PostgresUsedTokens(session, now).mark_used(jti, until) is True
    with session_scope() as session:
        assert is_used(session, jti)
        assert PostgresUsedTokens(session, now).mark_used(jti, until) is False
        row = session.get(UsedAnswerToken, jti)
        assert row is not None and row.expires_at == until


def test_a_failed_transaction_leaves_the_token_unused() -> None:
    jti = uuid.uuid4().hex[:18]
    now = datetime.now(UTC)
    with pytest.raises(RuntimeError), session_scope() as session:
        assert PostgresUsedTokens(session, now).mark_used(jti, now + timedelta(minutes=5))
        raise RuntimeError("the answer failed")
    with session_scope() as session:
        assert not is_used(session, jti)


def test_two_redeems_at_the_same_moment_let_one_through() -> None:
    """The second insert waits for the first transaction, then finds the token used."""
    from healthguard.runtime.embedded import wait_until

    jti = uuid.uuid4().hex[:18]
    now = datetime.now(UTC)
    until = now + timedelta(minutes=5)
    second: dict[str, Any] = {}

    def later() -> None:
        with session_scope() as session:
            second["pid"] = session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            second["result"] = PostgresUsedTokens(session, now).mark_used(jti, until)

    with Session(get_engine()) as first:
        assert PostgresUsedTokens(first, now).mark_used(jti, until) is True
        thread = threading.Thread(target=later)
        thread.start()

        def waiting() -> bool:
            pid = second.get("pid")
            if pid is None:
                return False
            with get_engine().connect() as conn:
                event = conn.execute(
                    sa.text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :p"),
                    {"p": pid},
                ).scalar()
            return bool(event == "Lock")

        try:
            assert wait_until(waiting, WAIT, interval=0.01), "the second did not wait"
            first.commit()
        finally:
            thread.join(WAIT)
    assert second["result"] is False


def test_cleanup_removes_only_rows_expired_beyond_the_grace() -> None:
    now = datetime.now(UTC)
    old, recent, live = (uuid.uuid4().hex[:18] for _ in range(3))
    with session_scope() as session:
        store = PostgresUsedTokens(session, now)
        store.mark_used(old, now - timedelta(minutes=30))
        store.mark_used(recent, now - timedelta(minutes=1))  # within the 5 min grace
        store.mark_used(live, now + timedelta(minutes=10))
    with session_scope() as session:
        assert delete_expired(session, now) >= 1
    with session_scope() as session:
        assert (is_used(session, old), is_used(session, recent), is_used(session, live)) == (
            False,
            True,
            True,
        )
        with pytest.raises(ValueError):
            delete_expired(session, now, grace=timedelta(minutes=-1))


# --- SMS replies ----------------------------------------------------------------------------------


def sms(person: Person | str, text: str) -> answers.SmsAnswer:
    sender = person.e164 if isinstance(person, Person) else person
    with session_scope() as session:
        return answers.answer_sms(
            session,
            sender=sender,
            text=text,
            now=datetime.now(UTC),
            received_by="integration:sms test",
            origin=Origin(ip="10.0.0.9"),
        )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+44 7700 900123", "+447700900123"),
        ("0044 7700 900123", "+447700900123"),
        ("+1 (555) 010-9999", "+15550109999"),
        ("07700 900123", None),
        ("HOSPITAL", None),
        ("", None),
        (None, None),
    ],
)
def test_phone_numbers_normalise_to_e164(raw: str | None, expected: str | None) -> None:
    assert answers.normalise_phone(raw) == expected


def test_a_reply_with_a_code_acknowledges_that_incident() -> None:
    nurse = new_person()
    first = card_incident("SMS: first alarm", bed="B3")
    second = card_incident("SMS: second alarm", bed="B4")
    notify(nurse, first)
    notify(nurse, second)
    code = incident_short_code(uuid.UUID(second))
    mark = last_audit_id()

    done = sms(nurse, f"1 {code}")

    assert done.result is not None and done.result.outcome is answers.AnswerOutcome.DONE
    assert done.reply.startswith(f"Acknowledged: {code}")
    assert len(done.reply) <= 160
    assert incident_row(second).acknowledged_by == nurse.username
    assert incident_row(first).status == "triggered"
    assert answered_entries(second)[0][3]["via"] == "sms"
    assert "incident.acknowledged" in [r.action for r in audit_rows_after(mark)]


def test_a_reply_without_a_code_and_two_open_alarms_asks_which() -> None:
    nurse = new_person()
    first = card_incident("SMS: ambiguous one", bed="B3")
    second = card_incident("SMS: ambiguous two", bed="B4")
    notify(nurse, first)
    notify(nurse, second, "pager")
    mark = last_audit_id()

    done = sms(nurse, "2")

    assert done.result is None
    codes = [incident_short_code(uuid.UUID(i)) for i in (first, second)]
    assert "2 open alarms: add the code" in done.reply
    assert all(code in done.reply for code in codes)
    assert done.reply.endswith("Nothing was changed.")
    for incident in (first, second):
        row = incident_row(incident)
        assert (row.status, row.escalation_step, row.version) == ("triggered", 0, 1)
        assert answered_entries(incident) == []
    audit = audit_rows_after(mark)
    assert [(r.action, r.actor, r.details["reason"]) for r in audit] == [
        ("access.denied", "integration:sms test", "ambiguous")
    ]
    assert audit[0].details["staff_id"] == str(nurse.staff_id)
    assert nurse.e164 not in str(audit[0].record_id)  # the number is masked


def test_a_single_open_alarm_needs_no_code_and_answered_ones_no_longer_count() -> None:
    nurse = new_person()
    done_before = card_incident("SMS: answered before", bed="B5")
    open_now = card_incident("SMS: the open one", bed="B6")
    notify(nurse, done_before)
    notify(nurse, open_now)
    assert do_answer(nurse, done_before, "acknowledge", via="app").changed

    done = sms(nurse, "ack")

    assert done.result is not None and done.result.incident_id == uuid.UUID(open_now)
    assert incident_row(open_now).acknowledged_by == nurse.username


def test_a_late_sms_answer_says_who_acknowledged_first() -> None:
    first, second = new_person(), new_person()
    incident = card_incident("SMS: too late")
    notify(first, incident, "push")
    notify(second, incident)
    assert do_answer(first, incident, "acknowledge", via="push").changed
    code = incident_short_code(uuid.UUID(incident))

    done = sms(second, f"ACK {code}")

    assert done.result is not None
    assert done.result.outcome is answers.AnswerOutcome.NO_LONGER_APPLIES
    assert done.reply.startswith(f"{code}: Incident #")
    assert f"already acknowledged by {first.username}" in done.reply
    assert len(done.reply) <= 160
    assert incident_row(incident).acknowledged_by == first.username


@pytest.mark.parametrize(
    ("sender", "text", "reason", "says"),
    [
        ("+447700900999", "1", "unknown_number", "does not know this number"),
        ("HOSPITAL", "1", "not_e164", "could not read your number"),
    ],
)
def test_unknown_senders_get_a_helpful_text_and_nothing_changes(
    sender: str, text: str, reason: str, says: str
) -> None:
    mark = last_audit_id()
    done = sms(sender, text)
    assert done.result is None
    assert says in done.reply and done.reply.endswith("Nothing was changed.")
    assert len(done.reply) <= 160
    audit = audit_rows_after(mark)
    assert [(r.action, r.outcome, r.details["reason"]) for r in audit] == [
        ("access.denied", "denied", reason)
    ]


def test_garbage_from_a_known_number_explains_the_format() -> None:
    nurse = new_person()
    incident = card_incident("SMS: garbage")
    notify(nurse, incident)
    code = incident_short_code(uuid.UUID(incident))
    mark = last_audit_id()

    done = sms(nurse, "on my way, 5 minutes")

    assert done.result is None
    assert "Not understood" in done.reply and f'"1 {code}"' in done.reply
    assert incident_row(incident).status == "triggered"
    assert [r.details["reason"] for r in audit_rows_after(mark)] == ["not_understood"]


def test_a_number_shared_by_two_people_takes_no_answers() -> None:
    one, two = new_person(), new_person()
    with session_scope() as session:
        staff = session.get(Staff, two.staff_id)
        assert staff is not None
        staff.phone = one.phone.replace(" ", "-")  # the same number, written differently
        session.add(staff)
    incident = card_incident("SMS: shared phone")
    notify(one, incident)

    done = sms(one, "1")

    assert done.result is None and "more than one person" in done.reply
    assert incident_row(incident).status == "triggered"


def test_open_notifications_are_one_per_open_incident_with_its_code() -> None:
    nurse = new_person()
    incident = card_incident("SMS: listing", priority="P1", bed="B7")
    resolved = card_incident("SMS: resolved one", bed="B8")
    notify(nurse, incident, "sms")
    notify(nurse, incident, "push")  # two channels, one alarm
    notify(nurse, resolved)
    with session_scope() as session:
        row = session.get(Incident, uuid.UUID(resolved))
        assert row is not None
        row.status = "resolved"
        session.add(row)
    with session_scope() as session:
        items = answers.open_notifications(session, nurse.staff_id)
    assert [(i.incident_id, i.code, i.summary) for i in items] == [
        (incident, incident_short_code(uuid.UUID(incident)), "P1 CARD bed B7")
    ]


def test_nobody_else_is_found_by_a_number() -> None:
    nurse = new_person()
    with session_scope() as session:
        found = answers.staff_with_phone(session, nurse.e164)
        assert [s.id for s in found] == [nurse.staff_id]
        assert answers.staff_with_phone(session, "+15550100000") == []
        users = session.exec(select(User).where(User.staff_id == nurse.staff_id)).all()
        assert [u.username for u in users] == [nurse.username]


# --- decline ------------------------------------------------------------------------------------


def start_escalation(incident: str) -> int:
    """The incident's escalation run, as opening it starts it (idempotent); its step."""
    from healthguard.oncall.dispatch import on_incident_opened

    with session_scope() as session:
        row = session.get(Incident, uuid.UUID(incident))
        assert row is not None
        on_incident_opened(session, row, now=datetime.now(UTC))
    return incident_row(incident).escalation_step


def test_decline_notifies_the_next_step_at_once_and_says_so() -> None:
    nurse = new_person()
    incident = card_incident("Answer: decline", priority="P2", bed="B1")
    step = start_escalation(incident)
    notify(nurse, incident, "sms")
    mark = last_audit_id()

    result = do_answer(nurse, incident, "decline", via="app")

    assert result.outcome is answers.AnswerOutcome.DONE and result.code == "declined"
    assert "next step of the escalation is being notified now" in result.message
    after = incident_row(incident)
    assert after.status == "triggered" and after.escalation_step > step
    entries = timeline(incident)
    kinds = [kind for kind, _, _, _ in entries]
    declined_at = kinds.index("declined")
    assert entries[declined_at][1] == nurse.username
    assert "escalation" in kinds[declined_at + 1 :], "no next step after the decline"
    assert answered_entries(incident)[-1][2] == f"{nurse.username} answered in the app: declined"
    assert [n.answer for n in notifications_of(nurse, incident)] == ["decline"]
    audit = [r for r in audit_rows_after(mark) if r.actor == nurse.username]
    assert [(r.action, r.outcome, r.details["answer"], r.details["via"]) for r in audit] == [
        ("incident.escalated", "success", "decline", "app")
    ]


def test_decline_after_someone_acknowledged_pages_nobody() -> None:
    first, second = new_person(), new_person()
    incident = card_incident("Answer: decline too late", bed="B2")
    start_escalation(incident)
    notify(first, incident)
    notify(second, incident)
    assert do_answer(first, incident, "acknowledge").changed
    before = incident_row(incident)
    escalations = [e for e in timeline(incident) if e[0] == "escalation"]

    late = do_answer(second, incident, "decline", via="sms")

    assert late.outcome is answers.AnswerOutcome.NO_LONGER_APPLIES
    assert f"already acknowledged by {first.username}" in late.message
    assert "nothing to decline" in late.message
    after = incident_row(incident)
    assert (after.version, after.escalation_step) == (before.version, before.escalation_step)
    assert [e for e in timeline(incident) if e[0] == "escalation"] == escalations
    assert "declined" not in [kind for kind, _, _, _ in timeline(incident)]


def test_an_sms_decline_escalates_and_says_so() -> None:
    nurse = new_person()
    incident = card_incident("SMS: decline", priority="P1", bed="B3")
    step = start_escalation(incident)
    notify(nurse, incident)
    code = incident_short_code(uuid.UUID(incident))

    done = sms(nurse, f"3 {code}")

    assert done.result is not None and done.result.code == "declined"
    assert done.reply.startswith(f"Declined: {code}")
    assert "next person is being notified" in done.reply
    assert incident_row(incident).escalation_step > step


def test_the_assignee_may_answer_without_a_notification() -> None:
    nurse = new_person()
    incident = card_incident("Answer: assigned, not notified yet")
    assign_incident(incident, str(nurse.staff_id))

    result = do_answer(nurse, incident, "acknowledge", via="app")

    assert result.outcome is answers.AnswerOutcome.DONE
    assert incident_row(incident).acknowledged_by == nurse.username
