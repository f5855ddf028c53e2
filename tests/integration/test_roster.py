"""The roster against real Postgres and Redis: schedules as JSON, shifts derived from them
(DST nights, history kept, manual shifts taken over, clashes left out), availability (set,
mirrored to Redis after commit, read back with a Postgres fallback, reset at shift end and
start), and the periodic jobs (materialise, reset, handoff, certification reminders, gap
report through a real RQ worker). The clock is injected wherever a job looks at time."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
import sqlalchemy as sa
from authsupport import audit_rows_after, last_audit_id, principal
from rq import Queue, SimpleWorker
from rq.job import JobStatus
from sqlmodel import col, select
from testsupport import free_port

import workers.oncall as jobs
from healthguard.db import session_scope
from healthguard.incidents.service import open_incident
from healthguard.models import (
    CoverageRequirement,
    Incident,
    IncidentEvent,
    Notification,
    Shift,
    Staff,
    StaffSkill,
    Ward,
)
from healthguard.models import Schedule as ScheduleRow
from healthguard.oncall import availability as avail
from healthguard.oncall import roster
from healthguard.oncall.assign_service import assign_incident
from healthguard.oncall.rotations import Handoff, Layer, Rotation, TimeWindow
from healthguard.oncall.schedule_json import LayersInvalid, layers_from_json, layers_to_json
from workers.queues import DEFAULT

pytestmark = pytest.mark.integration

_created_staff: list[uuid.UUID] = []


# --- helpers --------------------------------------------------------------------------------


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def ward_id(code: str) -> uuid.UUID:
    with session_scope() as session:
        ward = session.exec(select(Ward).where(Ward.code == code)).one()
        return ward.id


def new_staff(
    name: str,
    *,
    role: str = "nurse",
    ward: str | None = "ICU",
    skills: dict[str, date | None] | None = None,
) -> uuid.UUID:
    """A staff member of this test (removed afterwards), BLS valid unless told."""
    with session_scope() as session:
        home = session.exec(select(Ward).where(Ward.code == ward)).one().id if ward else None
        person = Staff(
            display_name=f"{name} {uuid.uuid4().hex[:6]}",
            role=role,
            home_ward_id=home,
            email=f"{name.lower().replace(' ', '.')}.{uuid.uuid4().hex[:6]}@test.example",
        )
        session.add(person)
        session.flush()
        for skill, expires in (skills if skills is not None else {"BLS": None}).items():
            session.add(StaffSkill(staff_id=person.id, skill=skill, expires_on=expires))
        _created_staff.append(person.id)
        return person.id


def layer_json(
    people: list[uuid.UUID],
    anchor: str,
    *,
    handoff: str = "shift",
    shift_hours: float | None = 12,
    windows: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "name": "Rota",
        "mode": "replace",
        "rotation": {
            "participants": [str(p) for p in people],
            "anchor": anchor,
            "handoff": handoff,
            "shift_hours": shift_hours if handoff == "shift" else None,
            "custom_hours": [],
        },
        "windows": windows or [],
    }


def create(
    name: str,
    layers: list[dict[str, Any]],
    *,
    ward: str | None = "ICU",
    role: str = "nurse",
    now: datetime | None = None,
) -> uuid.UUID:
    with session_scope() as session:
        row = roster.create_schedule(
            session,
            principal("admin"),
            roster.ScheduleInput(name, ward, role, "Europe/London", layers),
            now=now or datetime.now(UTC),
        )
        return row.id


def shifts_of(schedule_id: uuid.UUID) -> list[tuple[uuid.UUID, datetime, datetime]]:
    with session_scope() as session:
        rows = session.exec(
            select(Shift).where(Shift.schedule_id == schedule_id).order_by(col(Shift.starts_at))
        ).all()
        return [(r.staff_id, r.starts_at, r.ends_at) for r in rows]


def staff_row(staff_id: uuid.UUID) -> Staff:
    with session_scope() as session:
        row = session.get(Staff, staff_id)
        assert row is not None
        return row


def add_shift(
    staff_id: uuid.UUID, start: datetime, end: datetime, ward: str | None = "ICU"
) -> None:
    with session_scope() as session:
        session.add(
            Shift(
                staff_id=staff_id,
                ward_id=ward_id(ward) if ward else None,
                starts_at=start,
                ends_at=end,
                role=staff_row(staff_id).role,
            )
        )


@pytest.fixture(scope="module")
def conn(seeded: dict[str, int], redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def clean(seeded: dict[str, int], conn: redis.Redis) -> Iterator[None]:
    """Each test starts without schedules, requirements or the staff of earlier tests."""
    yield
    with session_scope() as session:
        session.execute(sa.delete(ScheduleRow))
        session.execute(sa.delete(CoverageRequirement))
        if _created_staff:
            session.execute(sa.delete(Shift).where(col(Shift.staff_id).in_(_created_staff)))
            session.execute(
                sa.update(Incident)
                .where(col(Incident.assignee_staff_id).in_(_created_staff))
                .values(status="closed")
            )
            session.execute(sa.delete(Staff).where(col(Staff.id).in_(_created_staff)))
    _created_staff.clear()
    conn.delete(jobs.RESET_MARK_KEY, jobs.GAPS_KEY, avail.AVAILABILITY_KEY)


# --- layers as JSON (pure) ------------------------------------------------------------------


def test_layers_round_trip_through_json() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    layers = (
        Layer("Base", Rotation((a, b), datetime(2026, 3, 2, 7, 0), Handoff.SHIFT, shift_hours=12)),
        Layer(
            "Nights",
            Rotation((b,), datetime(2026, 3, 2, 19, 30), Handoff.CUSTOM, custom_hours=(10.5, 13.5)),
            windows=(TimeWindow(time(19), time(7), frozenset({5, 6})),),
            mode="add",  # type: ignore[arg-type]
        ),
    )
    data = layers_to_json(layers)
    assert data[0]["rotation"]["anchor"] == "2026-03-02T07:00"
    assert data[1]["windows"] == [{"start": "19:00", "end": "07:00", "weekdays": [5, 6]}]
    assert layers_from_json(json.loads(json.dumps(data))) == layers


def test_layer_problems_name_every_field() -> None:
    bad = [
        {
            "name": "",
            "mode": "sideways",
            "rotation": {
                "participants": ["not-a-uuid"],
                "anchor": "2026-03-02T07:00+01:00",
                "handoff": "hourly",
            },
            "windows": [{"start": "7pm", "end": "07:00", "weekdays": [7]}],
        },
        {
            "name": "Ok",
            "rotation": {
                "participants": [str(uuid.uuid4())],
                "anchor": "2026-03-02T07:00",
                "handoff": "shift",
                "shift_hours": 0.5,
            },
        },
    ]
    with pytest.raises(LayersInvalid) as refused:
        layers_from_json(bad)
    fields = {p.field for p in refused.value.problems}
    assert fields == {
        "layers.0.name",
        "layers.0.mode",
        "layers.0.rotation.participants.0",
        "layers.0.rotation.anchor",
        "layers.0.rotation.handoff",
        "layers.0.windows.0.start",
        "layers.0.windows.0.weekdays",
        "layers.1.rotation.shift_hours",
    }
    with pytest.raises(LayersInvalid, match="at least one layer"):
        layers_from_json([])


# --- shifts derived from schedules ----------------------------------------------------------


def test_night_rota_shifts_follow_the_wall_clock_across_both_dst_changes(conn: Any) -> None:
    ann, ben = new_staff("Ann Night"), new_staff("Ben Night")
    nights = [{"start": "19:00", "end": "07:00", "weekdays": list(range(7))}]
    schedule = create(
        "ICU nights",
        [layer_json([ann, ben], "2027-03-26T19:00", handoff="daily", windows=nights)],
        now=utc(2027, 3, 1),
    )
    with session_scope() as session:
        result = roster.materialize_schedule(session, schedule, now=utc(2027, 3, 26, 12))
    assert result.written == 14  # 14 days ahead, a night each
    march = shifts_of(schedule)[:4]
    assert march == [
        (ann, utc(2027, 3, 26, 19), utc(2027, 3, 27, 7)),  # GMT
        (ben, utc(2027, 3, 27, 19), utc(2027, 3, 28, 6)),  # clocks forward: 11 h
        (ann, utc(2027, 3, 28, 18), utc(2027, 3, 29, 6)),  # BST: 19:00-07:00 local
        (ben, utc(2027, 3, 29, 18), utc(2027, 3, 30, 6)),
    ]
    with session_scope() as session:
        roster.materialize_schedule(session, schedule, now=utc(2027, 10, 29, 12))
    october = [s for s in shifts_of(schedule) if s[1] >= utc(2027, 10, 29)][:4]
    assert [(end - start) for _, start, end in october] == [
        timedelta(hours=12),
        timedelta(hours=13),  # 30-31 Oct: clocks back, still 19:00-07:00 on the wall
        timedelta(hours=12),
        timedelta(hours=12),
    ]
    assert october[1][1:] == (utc(2027, 10, 30, 18), utc(2027, 10, 31, 7))
    assert october[2][1:] == (utc(2027, 10, 31, 19), utc(2027, 11, 1, 7))  # GMT again
    # The March shifts are history: kept as they were.
    assert shifts_of(schedule)[:4] == march


def test_rematerialising_keeps_the_past_and_the_running_shift_start() -> None:
    ann, ben, cat = new_staff("Ann Day"), new_staff("Ben Day"), new_staff("Cat Day")
    schedule = create("ICU days", [layer_json([ann, ben], "2027-01-04T07:00")], now=utc(2027, 1, 1))
    now = utc(2027, 1, 6, 12)  # Ann's day shift 07:00-19:00 is running
    with session_scope() as session:
        roster.materialize_schedule(session, schedule, now=now)
    before = shifts_of(schedule)
    assert (ann, utc(2027, 1, 6, 7), utc(2027, 1, 6, 19)) in before
    with session_scope() as session:
        roster.update_schedule(
            session,
            principal("admin"),
            schedule,
            roster.ScheduleInput(
                "ICU days", "ICU", "nurse", "Europe/London", [layer_json([cat], "2027-01-06T19:00")]
            ),
            now=now,
        )
    after = shifts_of(schedule)
    # Finished shifts stay; the running one is gone (the new rota has nobody before 19:00).
    assert [s for s in after if s[2] <= now] == [s for s in before if s[2] <= now]
    assert (ann, utc(2027, 1, 6, 7), utc(2027, 1, 6, 19)) not in after
    assert all(s[0] == cat for s in after if s[1] >= utc(2027, 1, 6, 19))
    assert (cat, utc(2027, 1, 6, 19), utc(2027, 1, 20, 12)) in after  # one person: one span


def test_a_hand_entered_shift_is_taken_over_and_a_clash_is_left_out() -> None:
    ann, ben = new_staff("Ann Manual"), new_staff("Ben Clash")
    add_shift(ann, utc(2027, 2, 1, 7), utc(2027, 2, 1, 17))  # typed in by hand earlier
    first = create(
        "ICU A", [layer_json([ann], "2027-02-01T07:00", shift_hours=24)], now=utc(2027, 1, 1)
    )
    second = create(
        "ICU B", [layer_json([ben, ann], "2027-02-01T07:00", shift_hours=24)], now=utc(2027, 1, 1)
    )
    now = utc(2027, 2, 1, 6)
    with session_scope() as session:
        a = roster.materialize_schedule(session, first, now=now)
        b = roster.materialize_schedule(session, second, now=now)
    assert (a.clashes, b.clashes) == (0, 0)
    with session_scope() as session:
        manual = session.exec(
            select(Shift).where(Shift.staff_id == ann, Shift.starts_at == utc(2027, 2, 1, 7))
        ).one()
        assert (manual.schedule_id, manual.ends_at) == (first, utc(2027, 2, 15, 6))
    # Ann runs through schedule A and takes turns in B: her B turns start inside her A span,
    # never at the same instant, so none clashes; a third schedule starting with her does.
    third = create(
        "ICU C", [layer_json([ann], "2027-02-01T07:00", shift_hours=24)], now=utc(2027, 1, 1)
    )
    with session_scope() as session:
        c = roster.materialize_schedule(session, third, now=now)
    assert c.clashes == 1 and c.written == 0


def test_materialize_job_rederives_every_schedule_at_the_real_now() -> None:
    ann = new_staff("Ann Job")
    today = datetime.now(UTC).date()
    schedule = create(
        "ICU job", [layer_json([ann], f"{today - timedelta(days=1)}T07:00", shift_hours=24)]
    )
    broken = create("ICU broken", [layer_json([ann], "2030-01-01T07:00")])
    with session_scope() as session:  # changes made behind the service's back
        row = session.get(ScheduleRow, schedule)
        assert row is not None
        row.layers = [layer_json([ann], f"{today - timedelta(days=1)}T08:00", shift_hours=24)]
        session.add(row)
        bad = session.get(ScheduleRow, broken)
        assert bad is not None
        bad.layers = [{"name": "no rotation"}]
        session.add(bad)
    started = datetime.now(UTC)
    assert jobs.materialize_shifts() == 1  # the broken one is logged and skipped
    yesterday_8 = datetime.combine(
        today - timedelta(days=1), time(8), tzinfo=ZoneInfo("Europe/London")
    ).astimezone(UTC)
    [(person, start, end)] = [s for s in shifts_of(schedule) if s[2] > started]
    assert (person, start) == (ann, yesterday_8)
    assert end >= started + timedelta(days=14)


# --- on call and gaps (services) ------------------------------------------------------------


def test_on_call_follows_layers_and_overrides() -> None:
    ann, ben, cat = new_staff("Ann Oc"), new_staff("Ben Oc"), new_staff("Cat Oc")
    schedule = create("ICU oc", [layer_json([ann, ben], "2027-04-05T07:00")], now=utc(2027, 4, 1))
    at = utc(2027, 4, 5, 10)  # 11:00 BST, Ann's day
    with session_scope() as session:
        assert [
            s.staff_id for s in roster.on_call(session, ward_id=ward_id("ICU"), role="nurse", at=at)
        ] == [ann]
        assert roster.on_call(session, ward_id=ward_id("ICU"), role="charge_nurse", at=at) == []
        roster.add_override(
            session,
            principal("admin"),
            schedule,
            roster.OverrideInput(
                "replace", cat, at - timedelta(hours=1), at + timedelta(hours=1), ann, "sick"
            ),
            now=utc(2027, 4, 1),
        )
    with session_scope() as session:
        spans = roster.on_call(session, ward_id=ward_id("ICU"), role="nurse", at=at)
    assert [(s.staff_id, s.start, s.end) for s in spans] == [
        (cat, at - timedelta(hours=1), at + timedelta(hours=1))
    ]


def test_gap_report_names_the_ward_skill_and_period() -> None:
    day_nurse = new_staff("Ann Acls", skills={"BLS": None, "ACLS": None})
    night_nurse = new_staff("Ben Bls")  # BLS only
    create(
        "ICU gaps",
        [layer_json([day_nurse, night_nurse], "2027-05-03T07:00")],  # Ann days, Ben nights
        now=utc(2027, 5, 1),
    )
    with session_scope() as session:
        roster.create_requirement(
            session,
            principal("admin"),
            roster.RequirementInput("ICU", "nurse", 1, "ACLS"),
            now=utc(2027, 5, 1),
        )
        gaps = roster.gap_report(session, start=utc(2027, 5, 3, 6), end=utc(2027, 5, 4, 6))
        card_only = roster.gap_report(
            session, start=utc(2027, 5, 3, 6), end=utc(2027, 5, 4, 6), ward_ids=[ward_id("CARD")]
        )
    assert [g.message for g in gaps] == [
        "ICU has no ACLS-certified nurse from 3 May 19:00 to 4 May 07:00"
    ]
    assert (gaps[0].start, gaps[0].end) == (utc(2027, 5, 3, 18), utc(2027, 5, 4, 6))
    assert card_only == []


def test_gap_report_and_assignment_agree_on_the_night_a_certificate_expires() -> None:
    """ACLS "expires 2027-08-10": valid through 23:59 BST on 10 Aug, not from 00:00 BST on
    11 Aug (23:00 UTC). The gap report and the assignment, each through its service and the
    hospital's time zone, agree on either side of that instant."""
    ann = new_staff("Ann Expiring", skills={"BLS": None, "ACLS": date(2027, 8, 10)})
    bea = new_staff("Bea Days")  # BLS only: not counted for ACLS, nor for a P1
    create(
        "ICU nights",
        [layer_json([ann, bea], "2027-08-10T19:00")],  # Ann nights 19-07, Bea days
        now=utc(2027, 8, 9),
    )
    boundary = utc(2027, 8, 10, 23)  # 00:00 BST on 11 Aug
    with session_scope() as session:
        roster.create_requirement(
            session,
            principal("admin"),
            roster.RequirementInput("ICU", "nurse", 1, "ACLS"),
            now=utc(2027, 8, 9),
        )
        gaps = roster.gap_report(session, start=utc(2027, 8, 10, 18), end=utc(2027, 8, 11, 6))
    assert [(g.start, g.end) for g in gaps] == [(boundary, utc(2027, 8, 11, 6))]
    assert gaps[0].message == "ICU has no ACLS-certified nurse on 11 Aug 00:00-07:00"

    def assigned_at(at: datetime) -> uuid.UUID | None:
        with session_scope() as session:
            incident = open_incident(
                session, title="Certificate boundary", priority="P1", now=at, ward_code="ICU"
            )
            incident.assignee_staff_id = None
            assign_incident(session, incident, now=at)
            assignee = incident.assignee_staff_id
            incident.status = "closed"
            session.add(incident)
            # The escalation's notifications to this test's staff (removed afterwards).
            session.execute(
                sa.delete(Notification).where(col(Notification.incident_id) == incident.id)
            )
            return assignee

    for at in (boundary - timedelta(minutes=1), boundary, boundary + timedelta(hours=3)):
        in_gap = any(g.start <= at < g.end for g in gaps)
        assert (assigned_at(at) is None) is in_gap, at
    assert assigned_at(boundary - timedelta(minutes=1)) == ann


# --- availability ---------------------------------------------------------------------------


def test_availability_is_mirrored_to_redis_only_after_commit(conn: redis.Redis) -> None:
    ann = new_staff("Ann Busy")
    now = datetime.now(UTC)
    before = last_audit_id()
    with session_scope() as session:
        avail.set_availability(
            session, ann, "busy", until=now + timedelta(hours=1), actor="pytest", now=now
        )
        assert avail.cached_state(conn, ann) is None  # not committed yet
    assert avail.cached_state(conn, ann) == {
        "status": "busy",
        "until": (now + timedelta(hours=1)).isoformat(),
    }
    assert avail.availability_of(conn, [ann]) == {ann: "busy"}
    [row] = [r for r in audit_rows_after(before) if r.record_id == str(ann)]
    assert row.action == roster.AUDIT["availability_set"]
    assert row.details["after"]["status"] == "busy"
    assert row.details["before"]["status"] == "available"
    # A refused change stores nothing and mirrors nothing.
    with pytest.raises(avail.AvailabilityError), session_scope() as session:
        avail.set_availability(
            session, ann, "busy", until=now + timedelta(hours=13), actor="x", now=now
        )
    assert avail.cached_state(conn, ann)["status"] == "busy"  # type: ignore[index]
    assert staff_row(ann).availability == "busy"


def test_availability_falls_back_to_postgres_and_refills_the_cache(conn: redis.Redis) -> None:
    ann, ben = new_staff("Ann Cache"), new_staff("Ben Cache")
    now = datetime.now(UTC)
    with session_scope() as session:
        avail.set_availability(session, ben, "on_break", until=None, actor="pytest", now=now)
    conn.delete(avail.AVAILABILITY_KEY)  # Redis restarted, flushed...
    assert avail.availability_of(conn, [ann, ben]) == {ann: "available", ben: "on_break"}
    assert avail.cached_state(conn, ben)["status"] == "on_break"  # type: ignore[index]
    dead = redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    assert avail.availability_of(dead, [ann, ben]) == {ann: "available", ben: "on_break"}
    # A passed `until` counts as available before the reset job has run.
    assert avail.availability_of(conn, [ben], now=now + timedelta(hours=3)) == {ben: "available"}


def test_reset_at_shift_end_and_start(conn: redis.Redis) -> None:
    ann = new_staff("Ann Reset")
    end = utc(2027, 6, 1, 19)
    next_start = utc(2027, 6, 2, 7)
    add_shift(ann, utc(2027, 6, 1, 7), end)
    add_shift(ann, next_start, utc(2027, 6, 2, 19))
    with session_scope() as session:
        avail.set_availability(
            session, ann, "busy", until=None, actor="pytest", now=utc(2027, 6, 1, 18)
        )
    assert (staff_row(ann).availability, staff_row(ann).availability_until) == ("busy", end)

    with session_scope() as session:  # the shift ended a minute ago
        changes = avail.reset_expired(
            session, now=end + timedelta(minutes=1), since=end - timedelta(minutes=1)
        )
    assert [(c.staff_id, c.after, c.rule) for c in changes] == [(ann, "off", "shift_ended")]
    assert (staff_row(ann).availability, staff_row(ann).availability_until) == ("off", next_start)
    assert avail.cached_state(conn, ann) == {"status": "off", "until": next_start.isoformat()}

    with session_scope() as session:  # nothing else happens overnight
        assert avail.reset_expired(session, now=utc(2027, 6, 2, 3), since=utc(2027, 6, 2, 2)) == []
    with session_scope() as session:  # the next shift starts
        changes = avail.reset_expired(
            session, now=next_start + timedelta(minutes=1), since=next_start - timedelta(minutes=1)
        )
    assert [(c.after, c.rule) for c in changes] == [("available", "until_passed")]
    assert (staff_row(ann).availability, staff_row(ann).availability_until) == ("available", None)

    # Off with no end, at the start of a shift: available.
    with session_scope() as session:
        avail.set_availability(session, ann, "off", until=None, actor="pytest", now=utc(2027, 6, 3))
    assert staff_row(ann).availability_until is None  # no next shift known
    add_shift(ann, utc(2027, 6, 4, 7), utc(2027, 6, 4, 19))
    with session_scope() as session:
        changes = avail.reset_expired(
            session, now=utc(2027, 6, 4, 7, 1), since=utc(2027, 6, 4, 6, 59)
        )
    assert [(c.after, c.rule) for c in changes] == [("available", "shift_started")]


def test_reset_job_remembers_where_it_stopped(conn: redis.Redis) -> None:
    ann = new_staff("Ann Mark")
    end = utc(2027, 7, 1, 19)
    add_shift(ann, utc(2027, 7, 1, 7), end)
    conn.set(jobs.RESET_MARK_KEY, (end - timedelta(minutes=1)).isoformat())
    result = jobs.reset_availability(now=end + timedelta(minutes=1))
    assert result["changed"] == 1 and result["cached"] >= 1
    assert conn.get(jobs.RESET_MARK_KEY) == (end + timedelta(minutes=1)).isoformat().encode()
    assert staff_row(ann).availability == "off"
    # The whole hash mirrors Postgres.
    assert avail.cached_state(conn, ann)["status"] == "off"  # type: ignore[index]
    # Run again: nothing more (idempotent).
    assert jobs.reset_availability(now=end + timedelta(minutes=2))["changed"] == 0


# --- jobs -----------------------------------------------------------------------------------


def test_shift_handoff_gives_open_incidents_to_the_incoming_nurse() -> None:
    leaving = new_staff("Lea Leaving")
    arriving = new_staff("Art Arriving")
    now = datetime.now(UTC) + timedelta(days=40)
    handover = now - timedelta(minutes=5)
    add_shift(leaving, handover - timedelta(hours=12), handover)
    add_shift(arriving, handover, handover + timedelta(hours=12))
    with session_scope() as session:
        incident = open_incident(
            session, title="Handoff test", priority="P3", now=datetime.now(UTC), ward_code="ICU"
        )
        incident.assignee_staff_id = leaving
        session.add(incident)
        incident_id, version = incident.id, incident.version
    before = last_audit_id()
    assert jobs.shift_handoffs(now=now) == [str(incident_id)]
    with session_scope() as session:
        row = session.get(Incident, incident_id)
        assert row is not None and row.assignee_staff_id == arriving
        assert row.version == version + 1
        entries = session.exec(
            select(IncidentEvent).where(
                IncidentEvent.incident_id == incident_id, IncidentEvent.kind == "handover"
            )
        ).all()
        assert [e.message for e in entries] == [
            f"Handed over at shift change from {staff_row(leaving).display_name} to "
            f"{staff_row(arriving).display_name}"
        ]
    assert [r.action for r in audit_rows_after(before)] == ["incident.assigned"]
    assert jobs.shift_handoffs(now=now + timedelta(minutes=1)) == []  # done once


def test_no_handoff_while_nobody_has_come_on_shift() -> None:
    leaving = new_staff("Lea Alone")
    now = datetime.now(UTC) + timedelta(days=50)
    add_shift(leaving, now - timedelta(hours=12), now - timedelta(minutes=5))
    with session_scope() as session:
        incident = open_incident(
            session, title="Nobody yet", priority="P3", now=datetime.now(UTC), ward_code="ICU"
        )
        incident.assignee_staff_id = leaving
        session.add(incident)
        incident_id = incident.id
    assert jobs.shift_handoffs(now=now) == []
    with session_scope() as session:
        row = session.get(Incident, incident_id)
        assert row is not None and row.assignee_staff_id == leaving
        assert (
            session.exec(
                select(IncidentEvent.id).where(
                    IncidentEvent.incident_id == incident_id,
                    col(IncidentEvent.kind).in_(["handover", "not_assigned"]),
                )
            ).first()
            is None
        )


def test_certification_reminders_once_a_day(conn: redis.Redis) -> None:
    now = datetime.now(UTC)
    for key in conn.scan_iter("healthguard:oncall:certification-reminder:*"):
        conn.delete(key)
    before = last_audit_id()
    reminded = jobs.certification_reminders(now=now)
    rows = [r for r in audit_rows_after(before) if r.record_type == "staff_skill"]
    # The demo has three ACLS certifications expiring within 30 days.
    assert {r.details["staff"] for r in rows} >= {"Dr. Lucy Adams", "Kwame Asante", "Victor Hale"}
    assert len(rows) == len(reminded)
    assert all(r.action == roster.AUDIT["certification_expiring"] for r in rows)
    assert all(0 <= r.details["days_left"] <= 30 for r in rows)
    assert jobs.certification_reminders(now=now) == []  # not twice the same day


def test_gap_report_job_through_a_real_worker_caches_the_report(conn: redis.Redis) -> None:
    nurse = new_staff("Ann Gapjob")  # BLS only
    today = datetime.now(UTC).date()
    create("ICU gap job", [layer_json([nurse], f"{today}T07:00", shift_hours=24)])
    with session_scope() as session:
        roster.create_requirement(
            session,
            principal("admin"),
            roster.RequirementInput("ICU", "nurse", 1, "ACLS"),
            now=datetime.now(UTC),
        )
    queue = Queue(DEFAULT, connection=conn)
    job = queue.enqueue("workers.oncall.gap_report")
    SimpleWorker([queue], connection=conn).work(burst=True)
    assert job.get_status() == JobStatus.FINISHED
    report = jobs.cached_gap_report(conn)
    assert report is not None
    ttl: Any = conn.ttl(jobs.GAPS_KEY)
    assert 0 < ttl <= jobs.GAPS_TTL_SECONDS
    assert report["count"] == len(report["gaps"]) >= 1
    icu = [g for g in report["gaps"] if g["ward"] == "ICU"]
    assert icu and icu[0]["message"].startswith("ICU has no ACLS-certified nurse")
    assert set(icu[0]) == {
        "ward_id",
        "ward",
        "ward_name",
        "role",
        "skill",
        "minimum",
        "on_call",
        "missing",
        "start",
        "end",
        "message",
    }
    assert icu[0]["ward_name"] == "Intensive Care Unit"
    assert datetime.fromisoformat(report["to"]) - datetime.fromisoformat(
        report["from"]
    ) == timedelta(days=7)


def test_deleting_a_schedule_removes_its_shifts(conn: redis.Redis) -> None:
    ann = new_staff("Ann Delete")
    schedule = create("ICU del", [layer_json([ann], "2027-08-02T07:00")], now=utc(2027, 8, 1))
    with session_scope() as session:
        roster.materialize_schedule(session, schedule, now=utc(2027, 8, 1))
    assert shifts_of(schedule)
    with session_scope() as session:
        roster.delete_schedule(session, principal("admin"), schedule, now=utc(2027, 8, 1))
    assert shifts_of(schedule) == []
    with session_scope() as session:
        assert session.get(ScheduleRow, schedule) is None
