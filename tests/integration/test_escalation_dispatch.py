"""Escalation dispatch against the real Postgres and Redis, without workers: assignment with
its reason, the policy run stored, notifications created through the notify service, timers
scheduled after the commit (to the millisecond), and what acknowledging, declining,
escalating, a priority change, a schedule gap and the sweep do. Timers are fired by calling
``dispatch.fire_timer`` / ``dispatch.sweep_due`` (the engine fires a pending key whenever it
is called; the sweep takes its clock as an argument); the workers' module runs the same
through real RQ workers and the scheduler."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import redis
from sqlmodel import Session, col, select

from healthguard.db import get_engine, session_scope
from healthguard.incidents.service import open_incident
from healthguard.models import (
    EscalationPolicy,
    Incident,
    IncidentEscalation,
    IncidentEvent,
    Notification,
    Schedule,
    Shift,
    Staff,
    StaffSkill,
    User,
    Ward,
)
from healthguard.oncall import dispatch
from healthguard.oncall.escalation import EscalationState, EscalationStatus
from workers.queues import SCHEDULED_JOBS, scheduled_at

pytestmark = pytest.mark.integration

NEXT_YEAR = date.today() + timedelta(days=365)


@pytest.fixture
def conn(seeded: dict[str, int], redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.delete(SCHEDULED_JOBS)
    yield client
    client.close()


# --- a small hospital of its own per test -----------------------------------------------------


@dataclass
class WardStaff:
    ward_id: uuid.UUID
    code: str
    name: str
    people: dict[str, uuid.UUID]  # display name -> staff id


def make_ward(
    people: Sequence[tuple[str, str, Sequence[str], bool]],
    *,
    policies: dict[str, list[dict[str, Any]]] | None = None,
    ack_timeout: int | None = 600,
) -> WardStaff:
    """A ward with ``people`` (name, role, valid skills, on shift now) and optional ward
    policies (priority -> steps as JSON). Each person gets an account named like them."""
    now = datetime.now(UTC)
    suffix = uuid.uuid4().hex[:6].upper()
    code = f"E{suffix}"
    with session_scope() as session:
        ward = Ward(code=code, name=f"Ward {suffix}")
        session.add(ward)
        session.flush()
        ids: dict[str, uuid.UUID] = {}
        for name, role, skills, on_shift in people:
            staff = Staff(display_name=f"{name} {suffix}", role=role, home_ward_id=ward.id)
            session.add(staff)
            session.flush()
            ids[name] = staff.id
            session.add(
                User(username=f"{name.lower()}.{suffix.lower()}", role="nurse", staff_id=staff.id)
            )
            for skill in skills:
                session.add(StaffSkill(staff_id=staff.id, skill=skill, expires_on=NEXT_YEAR))
            if on_shift:
                session.add(
                    Shift(
                        staff_id=staff.id,
                        ward_id=ward.id,
                        starts_at=now - timedelta(hours=1),
                        ends_at=now + timedelta(hours=11),
                    )
                )
        for priority, steps in (policies or {}).items():
            session.add(
                EscalationPolicy(
                    name=f"{code} {priority}",
                    priority=priority,
                    ward_id=ward.id,
                    definition={
                        "name": f"{code} {priority} test",
                        "priority": priority,
                        "steps": steps,
                        "ack_timeout_seconds": ack_timeout,
                    },
                )
            )
    return WardStaff(ward.id, code, ward.name, ids)


def step(delay: int, *targets: tuple[str, str]) -> dict[str, Any]:
    return {"delay_seconds": delay, "targets": [{"kind": k, "ref": r} for k, r in targets]}


SHORT_P1 = [
    step(0, ("assignee", "")),
    step(1, ("ward_role", "charge_nurse")),
    step(2, ("ward_role", "resident")),
]
TEAM = [
    ("Nia", "nurse", ["BLS", "ACLS"], True),
    ("Ada", "charge_nurse", ["BLS", "ACLS"], True),
    ("Rex", "resident", ["BLS", "ACLS"], True),
]


def open_with_escalation(ward: WardStaff, priority: str = "P1") -> uuid.UUID:
    now = datetime.now(UTC)
    with session_scope() as session:
        incident = open_incident(
            session,
            title=f"NEWS2 8 ({ward.code})",
            priority=priority,
            now=now,
            ward_code=ward.code,
            dedup_key=f"test-{uuid.uuid4()}",
        )
        dispatch.on_incident_opened(session, incident, now=now)
        return incident.id


def change(
    incident_id: uuid.UUID,
    action: str,
    actor: str,
    *,
    now: datetime | None = None,
    event: tuple[str, dict[str, Any]] | None = None,
    **fields: Any,
) -> None:
    """What the workflow does: update the incident (version + 1, an optional timeline
    entry), then tell the dispatch, in one transaction."""
    now = now or datetime.now(UTC)
    with session_scope() as session:
        incident = session.exec(
            select(Incident).where(Incident.id == incident_id).with_for_update()
        ).one()
        previous_priority, previous_status = incident.priority, incident.status
        for name, value in fields.items():
            setattr(incident, name, value)
        incident.version += 1
        session.add(incident)
        if event is not None:
            session.add(
                IncidentEvent(
                    incident_id=incident_id, at=now, kind=event[0], actor=actor, data=event[1]
                )
            )
        session.flush()
        dispatch.on_incident_changed(
            session,
            incident,
            action=action,
            actor=actor,
            now=now,
            previous_priority=previous_priority,
            previous_status=previous_status,
        )


def state_of(incident_id: uuid.UUID) -> EscalationState:
    with Session(get_engine()) as session:
        row = session.get(IncidentEscalation, incident_id)
        assert row is not None
        return EscalationState.from_json(row.state)


def row_of(incident_id: uuid.UUID) -> IncidentEscalation:
    with Session(get_engine()) as session:
        row = session.get(IncidentEscalation, incident_id)
        assert row is not None
        return row


def incident_of(incident_id: uuid.UUID) -> Incident:
    with Session(get_engine()) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        return incident


def notified(incident_id: uuid.UUID, key_suffix: str | None = None) -> set[uuid.UUID]:
    """Who has notification rows about the incident (for the notify key ending so)."""
    with Session(get_engine()) as session:
        rows = session.exec(select(Notification).where(Notification.incident_id == incident_id))
        return {
            r.staff_id
            for r in rows
            if key_suffix is None or (r.escalation_key or "").split("~")[0].endswith(key_suffix)
        }


def notification_count(incident_id: uuid.UUID) -> int:
    with Session(get_engine()) as session:
        return len(
            session.exec(select(Notification).where(Notification.incident_id == incident_id)).all()
        )


def events(incident_id: uuid.UUID, kind: str | None = None) -> list[IncidentEvent]:
    with Session(get_engine()) as session:
        query = select(IncidentEvent).where(IncidentEvent.incident_id == incident_id)
        if kind is not None:
            query = query.where(IncidentEvent.kind == kind)
        return list(session.exec(query.order_by(col(IncidentEvent.id))).all())


def operators_on_shift() -> set[uuid.UUID]:
    now = datetime.now(UTC)
    with Session(get_engine()) as session:
        rows = session.exec(
            select(Staff.id)
            .join(Shift, col(Shift.staff_id) == col(Staff.id))
            .where(Staff.role == "operator", Shift.starts_at <= now, Shift.ends_at > now)
        )
        return set(rows)


# --- tests ----------------------------------------------------------------------------------


def test_opened_incident_is_assigned_with_the_reason_and_the_first_step_notified(
    conn: redis.Redis,
) -> None:
    ward = make_ward(
        [
            ("Nia", "nurse", ["BLS", "ACLS"], True),
            ("Bob", "nurse", ["BLS"], True),  # no ACLS / critical care: not for a P1
            ("Olga", "nurse", ["BLS", "ACLS"], False),  # off shift
            ("Ada", "charge_nurse", ["BLS", "ACLS"], True),
        ]
    )
    before = datetime.now(UTC)
    incident_id = open_with_escalation(ward, "P1")
    nia = ward.people["Nia"]

    incident = incident_of(incident_id)
    assert incident.assignee_staff_id == nia
    (assigned,) = events(incident_id, "assigned")
    assert assigned.actor == "system"
    assert assigned.message.startswith(f"Assigned to Nia {ward.code[1:]}: on shift in {ward.name}")
    assert "ACLS valid to" in assigned.message
    assert assigned.data["qualified"] == 1
    assert assigned.data["excluded"] >= 3  # Bob, Olga, Ada (and the hospital-wide teams)
    (top,) = assigned.data["candidates"]
    assert (top["staff_id"], top["proximity"]) == (str(nia), 30)
    assert top["score"] == top["proximity"] + top["workload"] + top["fairness"] + top["skills"]
    with Session(get_engine()) as session:
        staff = session.get(Staff, nia)
        assert staff is not None and staff.last_assigned_at is not None
        assert staff.last_assigned_at >= before

    # The hospital's P1 policy (seeded from the shipped one): the primary nurse at once.
    state = state_of(incident_id)
    assert incident.escalation_policy_id is not None
    assert (state.run, state.step, state.status) == (1, 0, EscalationStatus.ESCALATING)
    assert notified(incident_id, ":r0:s0") == {nia}
    (step1,) = state.pending
    assert step1.key == f"esc:{incident_id}:run1:r0:s1"
    assert step1.due_at == state.started_at + timedelta(seconds=120)
    assert row_of(incident_id).next_due_at == step1.due_at
    why = [e for e in events(incident_id, "escalation") if e.data.get("key")]
    assert why[0].message.startswith(f"P1 incident opened in {ward.name}: notifying the primary")
    assert why[0].data["recipients"][0]["staff_id"] == str(nia)

    # The timer's job is scheduled after the commit, due to the millisecond.
    due = scheduled_at(dispatch.timer_job_id(step1.key), conn)
    assert due is not None and abs(due - step1.due_at.timestamp()) < 0.001


def test_opened_twice_starts_one_escalation(conn: redis.Redis) -> None:
    ward = make_ward(TEAM, policies={"P1": SHORT_P1})
    incident_id = open_with_escalation(ward)
    count = notification_count(incident_id)
    state = state_of(incident_id)
    with session_scope() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        dispatch.on_incident_opened(session, incident, now=datetime.now(UTC))
    assert notification_count(incident_id) == count
    assert state_of(incident_id) == state
    assert len(events(incident_id, "assigned")) == 1


def test_nobody_qualifies_stays_unassigned_and_pages_the_charge_nurse_at_once(
    conn: redis.Redis,
) -> None:
    ward = make_ward(
        [("Bob", "nurse", ["BLS"], True), ("Ada", "charge_nurse", ["BLS", "ACLS"], True)]
    )
    incident_id = open_with_escalation(ward, "P1")

    assert incident_of(incident_id).assignee_staff_id is None
    (entry,) = events(incident_id, "not_assigned")
    assert entry.message == (
        f"Not assigned: no nurse on shift in {ward.name} holds a valid ACLS or critical care; "
        f"escalate straight to the charge nurse of {ward.name}, then the hospital operator"
    )
    # The first step (the primary nurse) reaches nobody: the charge nurse now, with why.
    assert notified(incident_id) == {ward.people["Ada"]}
    assert notified(incident_id, ":r0:s1") == {ward.people["Ada"]}
    messages = [e.message for e in events(incident_id, "escalation")]
    assert any(
        m.startswith(
            "the primary nurse could not be reached (nobody is assigned to the incident): "
            f"notifying the charge nurse of {ward.name} (step 2 of 3)"
        )
        for m in messages
    ), messages
    assert state_of(incident_id).step == 1
    assert incident_of(incident_id).escalation_step == 1


def test_a_timer_notifies_the_next_step_once_even_when_run_twice(conn: redis.Redis) -> None:
    ward = make_ward(TEAM, policies={"P1": SHORT_P1})
    incident_id = open_with_escalation(ward)
    key = state_of(incident_id).pending[0].key
    assert key.endswith(":r0:s1")

    dispatch.fire_timer(str(incident_id), key)
    after_first = (notification_count(incident_id), len(events(incident_id)), state_of(incident_id))
    assert notified(incident_id, ":r0:s1") == {ward.people["Ada"]}
    (why,) = [e for e in events(incident_id, "escalation") if e.data.get("key") == key]
    assert why.message.startswith("no acknowledgement after ")
    assert why.message.endswith(
        f"notifying the charge nurse of {ward.name} (step 2 of 3): Ada {ward.code[1:]}"
    )
    assert "late_ms" in why.data and why.data["due_at"]
    assert incident_of(incident_id).escalation_step == 1

    dispatch.fire_timer(str(incident_id), key)  # a retried job, or the sweep and the job
    after_second = (
        notification_count(incident_id),
        len(events(incident_id)),
        state_of(incident_id),
    )
    assert after_second == after_first


def test_acknowledging_stops_the_escalation(conn: redis.Redis) -> None:
    ward = make_ward(TEAM, policies={"P1": SHORT_P1})
    incident_id = open_with_escalation(ward)
    step1 = state_of(incident_id).pending[0].key
    dispatch.fire_timer(str(incident_id), step1)
    step2 = state_of(incident_id).pending[0].key
    assert step2.endswith(":r0:s2")
    assert scheduled_at(dispatch.timer_job_id(step2), conn) is not None

    now = datetime.now(UTC)
    ada = f"ada.{ward.code[1:].lower()}"
    change(
        incident_id, "acknowledge", ada, now=now,
        status="acknowledged", acknowledged_by=ada, acknowledged_at=now,
    )  # fmt: skip
    state = state_of(incident_id)
    assert state.status is EscalationStatus.ACKNOWLEDGED
    assert state.acknowledged_by is not None
    assert state.acknowledged_by.staff_id == str(ward.people["Ada"])
    # Only the reminder to whoever acknowledged is left (the ack timeout, 600 s).
    (reminder,) = state.pending
    assert reminder.key.endswith(":ack1.1")
    assert reminder.due_at == now + timedelta(seconds=600)
    assert scheduled_at(dispatch.timer_job_id(step2), conn) is None  # unscheduled
    notes = [e.message for e in events(incident_id, "escalation")]
    assert (
        f"acknowledged by Ada {ward.code[1:]}: escalation stopped; reminder after 600 s "
        "(10 min) if not resolved"
    ) in notes

    count = notification_count(incident_id)
    dispatch.fire_timer(str(incident_id), step2)  # the job ran anyway: nothing happens
    assert notification_count(incident_id) == count
    assert ward.people["Rex"] not in notified(incident_id)

    # The reminder goes to the person who acknowledged.
    dispatch.fire_timer(str(incident_id), reminder.key)
    assert notified(incident_id, reminder.key.split(":", 3)[-1]) == {ward.people["Ada"]}


def test_decline_notifies_the_next_step_at_once(conn: redis.Redis) -> None:
    ward = make_ward(TEAM, policies={"P1": SHORT_P1})
    incident_id = open_with_escalation(ward)
    nia = ward.people["Nia"]
    assert incident_of(incident_id).assignee_staff_id == nia
    now = datetime.now(UTC)
    with session_scope() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        dispatch.decline(session, incident, staff_id=nia, now=now)

    (declined,) = events(incident_id, "declined")
    assert declined.message == f"Nia {ward.code[1:]} declined"
    assert declined.actor == f"nia.{ward.code[1:].lower()}"
    assert notified(incident_id, ":r0:s1") == {ward.people["Ada"]}
    why = [e for e in events(incident_id, "escalation") if e.data.get("key", "").endswith(":r0:s1")]
    assert why[0].message.startswith(f"Nia {ward.code[1:]} declined: notifying the charge nurse")
    state = state_of(incident_id)
    assert state.step == 1
    # The next step keeps its full window from now (2 s - 1 s after the decline).
    (step2,) = state.pending
    assert step2.key.endswith(":r0:s2")
    assert step2.due_at == now + timedelta(seconds=1)
    assert incident_of(incident_id).escalation_step == 1


def test_a_schedule_gap_falls_back_to_the_charge_nurse_then_the_operator(
    conn: redis.Redis,
) -> None:
    gap = f"Night resident rota {uuid.uuid4().hex[:6]}"
    ward = make_ward(
        [("Ada", "charge_nurse", ["BLS"], True)],
        policies={"P3": [step(0, ("schedule", gap))]},
    )
    with session_scope() as session:
        session.add(Schedule(name=gap, ward_id=ward.ward_id, role="resident", time_zone="UTC"))
    incident_id = open_with_escalation(ward, "P3")

    messages = [e.message for e in events(incident_id, "escalation")]
    expected = (
        f"whoever is on call in the {gap} schedule could not be reached (nobody is on call in "
        f"the {gap} schedule now): falling back to the charge nurse of {ward.name}"
    )
    assert any(m.startswith(expected) for m in messages), messages
    assert notified(incident_id) == {ward.people["Ada"]}
    assert notified(incident_id, ":fb1") == {ward.people["Ada"]}

    # Nobody acknowledges within 60 s: the hospital operator (the sweep fires the timer).
    (fb2,) = state_of(incident_id).pending
    assert fb2.key.endswith(":fb2")
    operators = operators_on_shift()
    assert operators
    assert dispatch.sweep_due(now=fb2.due_at + timedelta(seconds=2)) >= 1
    assert notified(incident_id, ":fb2") == operators
    last = [e for e in events(incident_id, "escalation") if e.data.get("key") == fb2.key]
    assert last[0].message.startswith(
        "no acknowledgement after 62 s: falling back to the hospital operator"
    )


def test_a_schedule_gap_without_a_charge_nurse_goes_to_the_operator_at_once(
    conn: redis.Redis,
) -> None:
    gap = f"Empty rota {uuid.uuid4().hex[:6]}"
    ward = make_ward(
        [("Ada", "charge_nurse", ["BLS"], False)],  # the charge nurse is off shift
        policies={"P3": [step(0, ("schedule", gap))]},
    )
    incident_id = open_with_escalation(ward, "P3")  # the schedule does not even exist
    messages = [e.message for e in events(incident_id, "escalation")]
    expected = (
        f"the charge nurse of {ward.name} could not be reached (nobody is on shift as charge "
        f"nurse of {ward.name} now): falling back to the hospital operator"
    )
    assert any(m.startswith(expected) for m in messages), messages
    assert notified(incident_id) == operators_on_shift()
    assert state_of(incident_id).pending == ()


def test_escalate_now_then_resolve(conn: redis.Redis) -> None:
    ward = make_ward(TEAM, policies={"P1": SHORT_P1})
    incident_id = open_with_escalation(ward)
    nia = f"nia.{ward.code[1:].lower()}"
    change(incident_id, "escalate", nia, event=("escalated", {"step": 1}), escalation_step=1)
    assert notified(incident_id, ":r0:s1") == {ward.people["Ada"]}
    assert state_of(incident_id).step == 1

    # Escalated to a person by name: that person, outside the policy's steps.
    rex = f"rex.{ward.code[1:].lower()}"
    change(incident_id, "escalate", nia, event=("escalated", {"to": rex}))
    assert ward.people["Rex"] in notified(incident_id)
    assert state_of(incident_id).step == 1  # the policy did not move

    change(incident_id, "resolve", nia, status="resolved", resolved_at=datetime.now(UTC))
    state = state_of(incident_id)
    assert (state.status, state.pending) == (EscalationStatus.RESOLVED, ())
    assert row_of(incident_id).next_due_at is None
    assert "resolved: escalation stopped" in [e.message for e in events(incident_id)]


def test_a_priority_upgrade_starts_a_new_run_of_the_new_policy(conn: redis.Redis) -> None:
    ward = make_ward(TEAM, policies={"P1": SHORT_P1})
    incident_id = open_with_escalation(ward, "P3")  # the hospital's P3: the nurse, then 1800 s
    assert notified(incident_id) == {ward.people["Nia"]}

    change(incident_id, "change_priority", "ada", priority="P1")
    state = state_of(incident_id)
    assert (state.run, state.priority, state.step) == (2, "P1", 1)
    assert notified(incident_id, ":run2:r0:s1") == {ward.people["Ada"]}
    with Session(get_engine()) as session:
        policy = session.exec(
            select(EscalationPolicy).where(EscalationPolicy.name == f"{ward.code} P1")
        ).one()
    assert incident_of(incident_id).escalation_policy_id == policy.id
    assert any(
        e.message.startswith("priority raised P3 → P1") for e in events(incident_id, "escalation")
    )


def test_the_sweep_fires_only_overdue_timers(conn: redis.Redis) -> None:
    ward = make_ward(TEAM, policies={"P1": SHORT_P1})
    incident_id = open_with_escalation(ward)
    (timer,) = state_of(incident_id).pending
    # Due, but not yet a second late: its job may still be on its way.
    dispatch.sweep_due(now=timer.due_at + timedelta(milliseconds=500))
    assert state_of(incident_id).pending == (timer,)
    assert dispatch.sweep_due(now=timer.due_at + timedelta(seconds=1, milliseconds=100)) >= 1
    assert timer not in state_of(incident_id).pending
    assert notified(incident_id, ":r0:s1") == {ward.people["Ada"]}


def test_the_incident_workflow_drives_the_escalation(conn: redis.Redis) -> None:
    """Through ``workflow.apply_command``, as the API, the UI and the answer links act: each
    action reaches the dispatch in the same transaction."""
    from healthguard.incidents.lifecycle import (
        Acknowledge,
        Command,
        Escalate,
        Reassign,
        Reopen,
        Resolve,
    )
    from healthguard.incidents.workflow import apply_command
    from healthguard.security.permissions import Permission

    ward = make_ward(TEAM, policies={"P1": SHORT_P1})
    suffix = ward.code[1:].lower()
    with session_scope() as session:  # open_incident starts the escalation by itself
        incident = open_incident(
            session, title="NEWS2 7", priority="P1", now=datetime.now(UTC),
            ward_code=ward.code, dedup_key=f"test-{uuid.uuid4()}",
        )  # fmt: skip
        incident_id = incident.id
    assert notified(incident_id) == {ward.people["Nia"]}

    def act(command: Command, actor: str) -> None:
        with session_scope() as session:
            incident = session.exec(
                select(Incident).where(Incident.id == incident_id).with_for_update()
            ).one()
            result = apply_command(
                session, incident, command, actor=actor, permissions=set(Permission),
                now=datetime.now(UTC),
            )  # fmt: skip
            assert isinstance(result, Incident), result

    act(Reassign(to=f"rex.{suffix}", reason="Nia is with another patient"), f"ada.{suffix}")
    assert ward.people["Rex"] in notified(incident_id, ":reassign")
    act(Escalate(), f"rex.{suffix}")
    assert notified(incident_id, ":r0:s1") == {ward.people["Ada"]}
    assert state_of(incident_id).step == 1
    act(Acknowledge(), f"ada.{suffix}")
    assert state_of(incident_id).status is EscalationStatus.ACKNOWLEDGED
    act(Resolve(reason="treated"), f"ada.{suffix}")
    assert state_of(incident_id).status is EscalationStatus.RESOLVED
    assert row_of(incident_id).next_due_at is None

    act(Reopen(reason="deteriorated again"), f"ada.{suffix}")
    state = state_of(incident_id)
    assert (state.run, state.status, state.step) == (2, EscalationStatus.ESCALATING, 0)
    assert notified(incident_id, ":run2:r0:s0") == {ward.people["Rex"]}  # the assignee now
    assert state.pending[0].key == f"esc:{incident_id}:run2:r0:s1"
