"""The dashboard's bulk loaders against a seeded Postgres: the queue card's assignee,
acknowledgement and escalation step (``queue_extras``) and the bed card's NEWS2 with its
trend (``latest_news2`` / ``ward_board``), each one query for the whole list, and the cards
``load_feed_rows`` builds from them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from healthguard.db import get_engine, session_scope
from healthguard.incidents.access import acknowledge_as
from healthguard.incidents.service import open_incident, queue_extras
from healthguard.models import (
    Admission,
    Bed,
    EscalationPolicy,
    Incident,
    IncidentEscalation,
    News2Score,
    Patient,
    Staff,
    User,
    Ward,
)
from healthguard.security.accounts import principal_of
from healthguard.settings import get_settings
from healthguard.ui.states.feed import bed_card, load_feed_rows
from healthguard.wards.service import latest_news2, ward_board

pytestmark = pytest.mark.integration


@contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL statements sent to Postgres inside the block."""
    sent: list[str] = []

    def record(*args: Any) -> None:  # conn, cursor, statement, parameters, context, many
        sent.append(args[2])

    engine = get_engine()
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def occupied_beds(session: Session, ward_code: str | None = None) -> list[tuple[str, Patient]]:
    """(ward code + bed label, patient) of the occupied beds of a ward (or of all wards)."""
    stmt = (
        select(Ward.code, Bed, Patient)
        .join(Ward, Ward.id == Bed.ward_id)  # type: ignore[arg-type]
        .join(Admission, Admission.bed_id == Bed.id)  # type: ignore[arg-type]
        .join(Patient, Patient.id == Admission.patient_id)  # type: ignore[arg-type]
        .where(Admission.discharged_at.is_(None))  # type: ignore[union-attr]
        .order_by(Ward.code, Bed.label)
    )
    if ward_code:
        stmt = stmt.where(Ward.code == ward_code)
    return [(f"{code} {bed.label}", patient) for code, bed, patient in session.exec(stmt).all()]


def open_in_card(title: str, priority: str = "P2") -> uuid.UUID:
    """An incident in Cardiology (a P2 is assigned to the nurse on shift and escalates)."""
    with session_scope() as session:
        bed, _ = occupied_beds(session, "CARD")[0]
        incident = open_incident(
            session,
            title=title,
            priority=priority,
            now=datetime.now(UTC),
            ward_code="CARD",
            bed_label=bed.split()[1],
        )
        return incident.id


def staff_name_of(session: Session, username: str) -> str:
    user = session.exec(select(User).where(User.username == username)).one()
    staff = session.get(Staff, user.staff_id)
    assert staff is not None
    return staff.display_name


def test_queue_card_names_assignee_escalation_step_and_next_step(seeded: dict[str, int]) -> None:
    incident_id = open_in_card(f"Queue extras {uuid.uuid4().hex[:6]}")
    with session_scope() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None and incident.assignee_staff_id is not None
        assignee = session.get(Staff, incident.assignee_staff_id)
        run = session.get(IncidentEscalation, incident_id)
        assert run is not None and run.state["status"] == "escalating"
        assert run.next_due_at is not None
        policy = session.get(EscalationPolicy, incident.escalation_policy_id)
        assert policy is not None
        steps = len(policy.definition["steps"])
        extras = queue_extras(session, [str(incident_id)])[str(incident_id)]
        next_due_at, step = run.next_due_at, incident.escalation_step
    assert assignee is not None
    assert extras.assignee == assignee.display_name
    assert extras.acknowledged_by == ""
    assert (extras.escalation_step, extras.escalation_steps) == (step, steps)
    assert extras.has_escalation and extras.escalating
    assert extras.next_step_at == next_due_at

    cards, _ = load_feed_rows("CARD")
    card = next(c for c in cards if c.id == str(incident_id))
    assert card.assignee == assignee.display_name
    assert card.escalation == f"Step {step + 1} of {steps}; escalating"
    assert card.next_step_at == next_due_at.astimezone(UTC).isoformat()
    assert card.next_step_local  # "14:32:10", hospital time
    assert card.status == "Not acknowledged" and card.acknowledged_by == ""


def test_acknowledging_names_who_and_stops_the_next_step(seeded: dict[str, int]) -> None:
    incident_id = open_in_card(f"Acknowledged extras {uuid.uuid4().hex[:6]}")
    with session_scope() as session:
        nurse = principal_of(session.exec(select(User).where(User.username == "nurse.card")).one())
        nurse_name = staff_name_of(session, "nurse.card")
    acknowledge_as(nurse, incident_id, now=datetime.now(UTC))

    with session_scope() as session:
        extras = queue_extras(session, [str(incident_id)])[str(incident_id)]
    assert extras.acknowledged_by == nurse_name  # the staff member's name, not the login
    assert nurse_name != "nurse.card"
    assert not extras.escalating and extras.next_step_at is None

    cards, _ = load_feed_rows("CARD")
    card = next(c for c in cards if c.id == str(incident_id))
    assert card.status == "Acknowledged"
    assert card.acknowledged_by == nurse_name
    assert card.escalation.endswith("stopped: acknowledged")
    assert card.next_step_at == "" and card.next_step_local == ""


def test_queue_extras_is_one_query_for_the_whole_list(seeded: dict[str, int]) -> None:
    ids = [str(open_in_card(f"Bulk {n} {uuid.uuid4().hex[:6]}", "P3")) for n in range(4)]
    with session_scope() as session:
        session.connection()  # the session's own setup is not counted
        with statements() as sent:
            extras = queue_extras(session, ids)
            nothing = queue_extras(session, [])
    assert set(extras) == set(ids)
    assert nothing == {}
    assert len(sent) == 1


def test_incident_without_escalation_says_nothing_about_steps(seeded: dict[str, int]) -> None:
    with session_scope() as session:
        incident = open_incident(
            session, title="No escalation", priority="P4", now=datetime.now(UTC)
        )
        incident_id = incident.id
        session.execute(
            sa.delete(IncidentEscalation).where(col(IncidentEscalation.incident_id) == incident_id)
        )
        incident.escalation_policy_id = None
        incident.assignee_staff_id = None
        session.add(incident)
    cards, _ = load_feed_rows(None)
    card = next(c for c in cards if c.id == str(incident_id))
    assert card.assignee == "" and card.escalation == "" and card.next_step_at == ""


def test_a_feed_reloads_only_the_part_that_changed(seeded: dict[str, int]) -> None:
    """An incident change reads the queue alone, vital signs the bed board alone: the other
    list is neither read nor replaced (so Reflex does not re-send it to every screen)."""
    incident_id = str(open_in_card(f"Part {uuid.uuid4().hex[:6]}", "P3"))
    everything = load_feed_rows("CARD")
    with statements() as queue_sql:
        queue = load_feed_rows("CARD", "queue")
    with statements() as beds_sql:
        beds = load_feed_rows("CARD", "beds")
    assert queue[1] is None and beds[0] is None
    assert queue[0] == everything[0] and beds[1] == everything[1]
    assert any(c.id == incident_id for c in queue[0] or [])
    assert beds[1] and all(b.ward == "CARD" for b in beds[1])
    assert not any("admissions" in sql for sql in queue_sql)  # the bed board's join
    assert not any("incidents" in sql for sql in beds_sql)
    with pytest.raises(ValueError, match="part must be one of"):
        load_feed_rows("CARD", "everything")


# --- NEWS2 on the bed board -------------------------------------------------------------------


def add_scores(
    session: Session, patient_id: uuid.UUID, scores: list[tuple[datetime, int, bool, str]]
) -> None:
    for at, total, partial, risk in scores:
        session.add(
            News2Score(
                patient_id=patient_id,
                observed_at=at,
                total=total,
                partial=partial,
                risk=risk,
                subscores={},
            )
        )
    session.flush()


def test_bed_board_shows_the_latest_fresh_news2_and_the_one_before(seeded: dict[str, int]) -> None:
    now = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
    freshness = timedelta(seconds=get_settings().news2_freshness_seconds)
    with Session(get_engine()) as session:
        try:
            beds = occupied_beds(session)[:5]
            (rising_bed, rising), (falling_bed, falling), (steady_bed, steady) = beds[:3]
            (stale_bed, stale), (one_bed, one) = beds[3:]
            add_scores(
                session,
                rising.id,
                [
                    (now - timedelta(minutes=30), 1, False, "low"),  # older than the two newest
                    (now - timedelta(minutes=20), 3, False, "low"),
                    (now - timedelta(minutes=5), 8, True, "high"),
                ],
            )
            add_scores(
                session,
                falling.id,
                [
                    (now - timedelta(minutes=10), 6, False, "medium"),
                    (now - timedelta(minutes=2), 4, False, "low-medium"),
                ],
            )
            add_scores(
                session,
                steady.id,
                [
                    (now - timedelta(minutes=10), 2, False, "low"),
                    (now - timedelta(minutes=1), 2, False, "low"),
                ],
            )
            # Outside the freshness window: not a current score, and not a trend's base.
            add_scores(
                session, stale.id, [(now - freshness - timedelta(minutes=1), 9, False, "high")]
            )
            add_scores(
                session,
                one.id,
                [
                    (now - freshness - timedelta(minutes=5), 9, False, "high"),
                    (now - timedelta(minutes=3), 5, False, "medium"),
                ],
            )

            with statements() as sent:
                found = latest_news2(
                    session,
                    [rising.id, falling.id, steady.id, stale.id, one.id],
                    since=now - freshness,
                )
            assert len(sent) == 1
            assert [(s.total, s.partial, s.risk) for s in found[rising.id]] == [
                (8, True, "high"),
                (3, False, "low"),
            ]
            assert stale.id not in found
            assert [s.total for s in found[one.id]] == [5]

            board = {
                f"{b.ward_code} {b.bed_label}": bed_card(b) for b in ward_board(session, now=now)
            }
            card = board[rising_bed]
            assert card.has_news2 and card.news2 == "NEWS2 8 · high risk"
            assert card.news2_risk == "high" and card.news2_partial is True
            assert card.news2_trend == "↑ from 3"
            assert card.news2_trend_words == "NEWS2 up from 3"
            card = board[falling_bed]
            assert (card.news2, card.news2_risk, card.news2_partial) == (
                "NEWS2 4 · low-medium risk",
                "low-medium",
                False,
            )
            assert card.news2_trend == "↓ from 6"
            assert board[steady_bed].news2_trend == "→ steady"
            assert board[stale_bed].has_news2 is False
            assert board[stale_bed].news2 == ""
            assert board[one_bed].news2 == "NEWS2 5 · medium risk"
            assert board[one_bed].news2_trend == ""
        finally:
            session.rollback()
