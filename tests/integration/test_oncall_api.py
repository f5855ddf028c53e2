"""The on-call API, signed in as the demo users: the staff directory, availability (own,
a charge nurse's wards, admins), schedules (a nurse may not edit one; a charge nurse only
their ward's; admins the hospital-wide ones), validation naming every field, overrides
changing who is on call, swaps from request to approval with the shifts swapped, coverage
gaps, iCalendar export parsed back and a roster import refused as a whole naming each event.
Every change is audited and re-derives the schedule's shifts in the same transaction."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis
import sqlalchemy as sa
from authsupport import (
    CheckedClient,
    assert_error,
    audit_rows_after,
    bearer,
    fresh_tokens,
    last_audit_id,
    staff_id_of,
)
from icalendar import Calendar
from sqlmodel import col, select

from healthguard.api import build_api
from healthguard.db import session_scope
from healthguard.models import (
    Availability,
    CoverageRequirement,
    ScheduleOverride,
    Shift,
    Staff,
)
from healthguard.models import Schedule as ScheduleRow
from healthguard.oncall import availability as avail
from healthguard.oncall import staff_service as staff_svc
from healthguard.oncall.roster import AUDIT

pytestmark = pytest.mark.integration

LONDON = ZoneInfo("Europe/London")
USERS = (
    "nurse.icu",
    "nurse.card",
    "charge.icu",
    "charge.card",
    "dr.attending",
    "admin",
    "auditor",
)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@pytest.fixture(scope="module")
def client(seeded: dict[str, int]) -> Iterator[CheckedClient]:
    with CheckedClient(build_api()) as client:
        yield client


@pytest.fixture(scope="module")
def auth(client: CheckedClient) -> dict[str, dict[str, str]]:
    return {user: bearer(fresh_tokens(user)[0]) for user in USERS}


@pytest.fixture(scope="module")
def conn(seeded: dict[str, int], redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def clean(seeded: dict[str, int]) -> Iterator[None]:
    """Each test starts without schedules or requirements, everybody available."""
    yield
    with session_scope() as session:
        session.execute(sa.delete(ScheduleRow))
        session.execute(sa.delete(CoverageRequirement))
        session.execute(
            sa.update(Staff).values(
                availability=Availability.AVAILABLE.value, availability_until=None
            )
        )


# --- helpers --------------------------------------------------------------------------------


def staff_named(name: str) -> str:
    with session_scope() as session:
        return str(session.exec(select(Staff).where(Staff.display_name == name)).one().id)


def local(day: date, hour: int) -> datetime:
    """``hour``:00 on ``day`` in London, as UTC."""
    return datetime.combine(day, time(hour), tzinfo=LONDON).astimezone(UTC)


def ahead(days: int) -> date:
    return datetime.now(LONDON).date() + timedelta(days=days)


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def schedule_body(
    people: list[str],
    anchor: date,
    *,
    name: str = "ICU nurses",
    ward: str | None = "ICU",
    role: str = "nurse",
    shift_hours: float = 12,
) -> dict[str, Any]:
    return {
        "name": name,
        "ward": ward,
        "role": role,
        "time_zone": "Europe/London",
        "layers": [
            {
                "name": "Day and night",
                "rotation": {
                    "participants": people,
                    "anchor": f"{anchor.isoformat()}T07:00",
                    "handoff": "shift",
                    "shift_hours": shift_hours,
                },
            }
        ],
    }


def create_schedule(
    client: CheckedClient, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    response = client.post("/api/v1/schedules", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def on_call(client: CheckedClient, headers: dict[str, str], at: datetime) -> list[str]:
    response = client.get(
        "/api/v1/on-call", params={"ward": "ICU", "role": "nurse", "at": iso(at)}, headers=headers
    )
    assert response.status_code == 200, response.text
    return [row["name"] for row in response.json()]


def shifts(schedule_id: str) -> list[tuple[str, datetime, datetime]]:
    with session_scope() as session:
        rows = session.exec(
            select(Shift, Staff.display_name)
            .join(Staff, col(Staff.id) == col(Shift.staff_id))
            .where(Shift.schedule_id == uuid.UUID(schedule_id))
            .order_by(col(Shift.starts_at))
        ).all()
        return [(name, s.starts_at, s.ends_at) for s, name in rows]


def fields_of(response: httpx.Response) -> dict[str, str]:
    error = assert_error(response, 422, "invalid_request")
    return {f["field"]: f["message"] for f in error.get("fields", [])}


def audited(before: int) -> Counter[str]:
    return Counter(r.action for r in audit_rows_after(before) if r.action != "access.denied")


# --- staff and availability -----------------------------------------------------------------


def test_staff_directory_and_detail(client: CheckedClient, auth: dict[str, dict[str, str]]) -> None:
    response = client.get(
        "/api/v1/staff", params={"ward": "icu", "role": "nurse"}, headers=auth["nurse.card"]
    )
    assert response.status_code == 200, response.text
    names = {row["name"] for row in response.json()}
    assert names == {"Marco Rossi", "Zoe Taylor", "Nadia Petrova"}
    on_shift = client.get(
        "/api/v1/staff", params={"on_shift": "true"}, headers=auth["nurse.card"]
    ).json()
    assert on_shift and all(row["on_shift"] and row["current_shift"] for row in on_shift)
    assert_error(
        client.get("/api/v1/staff", params={"ward": "NOPE"}, headers=auth["nurse.card"]),
        404,
        "not_found",
    )
    assert_error(client.get("/api/v1/staff", headers=auth["auditor"]), 403, "forbidden")

    victor = client.get(f"/api/v1/staff/{staff_named('Victor Hale')}", headers=auth["admin"])
    assert victor.status_code == 200, victor.text
    detail = victor.json()
    assert (detail["home_ward"], detail["role"], detail["availability"]) == (
        "ICU",
        "charge_nurse",
        "available",
    )
    skills = {s["skill"]: s for s in detail["skills"]}
    assert skills["ACLS"]["status"] == "expiring"  # 27 days left in the demo
    assert skills["BLS"]["status"] == "valid"
    assert skills["critical_care"]["expires_on"] is None
    assert detail["next_shifts"] and detail["email"].endswith("@healthguard.example")
    assert_error(
        client.get(f"/api/v1/staff/{uuid.uuid4()}", headers=auth["admin"]), 404, "not_found"
    )


def test_availability_own_charge_nurse_of_the_ward_and_admin(
    client: CheckedClient, auth: dict[str, dict[str, str]], conn: redis.Redis
) -> None:
    james, priya, marco = (
        staff_id_of("nurse.card"),
        staff_named("Priya Nair"),
        staff_id_of("nurse.icu"),
    )
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    before = last_audit_id()

    def put(user: str, staff_id: str, body: dict[str, Any]) -> httpx.Response:
        return client.put(f"/api/v1/staff/{staff_id}/availability", json=body, headers=auth[user])

    own = put("nurse.card", james, {"status": "busy", "until": iso(until)})
    assert own.status_code == 200, own.text
    assert own.json()["availability"] == "busy"
    assert avail.cached_state(conn, uuid.UUID(james)) == {
        "status": "busy",
        "until": until.isoformat(),
    }
    listed = client.get("/api/v1/staff", params={"ward": "CARD"}, headers=auth["nurse.card"])
    assert {r["name"]: r["availability"] for r in listed.json()}["James Carter"] == "busy"

    refused = put("nurse.card", priya, {"status": "busy"})
    assert_error(refused, 403, "forbidden")
    assert put("charge.card", priya, {"status": "on_break"}).status_code == 200
    assert_error(put("charge.card", marco, {"status": "off"}), 403, "forbidden")
    assert put("admin", marco, {"status": "off"}).status_code == 200
    assert_error(put("auditor", marco, {"status": "off"}), 403, "forbidden")
    assert audited(before) == Counter({AUDIT["availability_set"]: 3})

    too_long = put(
        "nurse.card", james, {"status": "busy", "until": iso(until + timedelta(hours=12))}
    )
    assert "until" in fields_of(too_long)
    assert "status" in fields_of(put("nurse.card", james, {"status": "asleep"}))
    naive = put("nurse.card", james, {"status": "busy", "until": "2026-12-01T10:00:00"})
    assert "offset" in fields_of(naive)["until"]
    assert "until" in fields_of(
        put("nurse.card", james, {"status": "available", "until": iso(until)})
    )
    assert_error(put("admin", str(uuid.uuid4()), {"status": "off"}), 404, "not_found")


# --- schedules ------------------------------------------------------------------------------


def test_who_may_change_a_schedule(client: CheckedClient, auth: dict[str, dict[str, str]]) -> None:
    marco, zoe = staff_id_of("nurse.icu"), staff_named("Zoe Taylor")
    body = schedule_body([marco, zoe], ahead(3))
    assert_error(
        client.post("/api/v1/schedules", json=body, headers=auth["nurse.icu"]), 403, "forbidden"
    )
    other_ward = client.post("/api/v1/schedules", json=body, headers=auth["charge.card"])
    assert "ICU" in assert_error(other_ward, 403, "forbidden")["message"]

    before = last_audit_id()
    created = create_schedule(client, auth["charge.icu"], body)
    assert audited(before) == Counter({"schedule.created": 1})
    assert shifts(created["id"])[0] == ("Marco Rossi", local(ahead(3), 7), local(ahead(3), 19))

    path = f"/api/v1/schedules/{created['id']}"
    assert_error(client.put(path, json=body, headers=auth["charge.card"]), 403, "forbidden")
    assert_error(client.delete(path, headers=auth["charge.card"]), 403, "forbidden")
    override = {
        "kind": "add",
        "staff_id": zoe,
        "starts_at": iso(local(ahead(3), 8)),
        "ends_at": iso(local(ahead(3), 9)),
    }
    assert_error(
        client.post(f"{path}/overrides", json=override, headers=auth["charge.card"]),
        403,
        "forbidden",
    )
    # A charge nurse may not move their ward's rota to another ward either.
    moved = client.put(path, json={**body, "ward": "CARD"}, headers=auth["charge.icu"])
    assert_error(moved, 403, "forbidden")

    hospital = schedule_body(
        [staff_named("Alex Morgan")], ahead(3), name="RRT", ward=None, role="rapid_response"
    )
    assert_error(
        client.post("/api/v1/schedules", json=hospital, headers=auth["charge.icu"]),
        403,
        "forbidden",
    )
    assert create_schedule(client, auth["admin"], hospital)["ward"] is None
    # The hospital-wide team is on call for every ward.
    rrt = client.get(
        "/api/v1/on-call",
        params={"ward": "ICU", "role": "rapid_response", "at": iso(local(ahead(3), 10))},
        headers=auth["nurse.icu"],
    )
    assert [(r["name"], r["ward"]) for r in rrt.json()] == [("Alex Morgan", None)]

    # Anyone clinical reads them.
    listed = client.get("/api/v1/schedules", params={"ward": "ICU"}, headers=auth["nurse.card"])
    assert [s["name"] for s in listed.json()] == ["ICU nurses"]
    detail = client.get(path, headers=auth["dr.attending"]).json()
    assert detail["layers"][0]["rotation"]["participants"] == [marco, zoe]
    assert detail["next_spans"][0]["name"] in ("Marco Rossi", "Zoe Taylor")

    # Change and delete, as the ward's charge nurse.
    before = last_audit_id()
    changed = client.put(
        path, json=schedule_body([zoe, marco], ahead(3)), headers=auth["charge.icu"]
    )
    assert changed.status_code == 200, changed.text
    assert shifts(created["id"])[0][0] == "Zoe Taylor"  # re-derived in the same request
    assert client.delete(path, headers=auth["charge.icu"]).status_code == 204
    assert audited(before) == Counter({"schedule.updated": 1, "schedule.deleted": 1})
    assert shifts(created["id"]) == []
    assert_error(client.get(path, headers=auth["nurse.icu"]), 404, "not_found")


def test_schedule_validation_names_every_field(
    client: CheckedClient, auth: dict[str, dict[str, str]]
) -> None:
    body = schedule_body([staff_id_of("nurse.icu")], ahead(3), ward="NOPE", role="surgeon")
    body["time_zone"] = "Mars/Olympus"
    body["layers"][0]["rotation"]["anchor"] = "2026-12-01T07:00:00+01:00"
    body["layers"][0]["windows"] = [{"start": "07:00", "end": "19:00", "weekdays": [9]}]
    fields = fields_of(client.post("/api/v1/schedules", json=body, headers=auth["admin"]))
    assert set(fields) == {
        "ward",
        "role",
        "time_zone",
        "layers.0.rotation.anchor",
        "layers.0.windows.0.weekdays",
    }
    assert "NOPE" in fields["ward"] and "Mars/Olympus" in fields["time_zone"]

    unknown = schedule_body([str(uuid.uuid4())], ahead(3))
    unknown["layers"][0]["rotation"]["shift_hours"] = 0.25
    fields = fields_of(client.post("/api/v1/schedules", json=unknown, headers=auth["admin"]))
    assert set(fields) == {"layers.0.rotation.shift_hours"}  # then the people are checked
    unknown["layers"][0]["rotation"]["shift_hours"] = 12
    fields = fields_of(client.post("/api/v1/schedules", json=unknown, headers=auth["admin"]))
    assert set(fields) == {"layers.0.rotation.participants.0"}

    missing = {k: v for k, v in schedule_body([], ahead(3)).items() if k != "layers"}
    assert "layers" in fields_of(
        client.post("/api/v1/schedules", json=missing, headers=auth["admin"])
    )

    create_schedule(client, auth["admin"], schedule_body([staff_id_of("nurse.icu")], ahead(3)))
    again = client.post(
        "/api/v1/schedules",
        json=schedule_body([staff_id_of("nurse.icu")], ahead(3)),
        headers=auth["admin"],
    )
    assert "already exists" in fields_of(again)["name"]


def test_an_override_changes_who_is_on_call(
    client: CheckedClient, auth: dict[str, dict[str, str]]
) -> None:
    marco, zoe, nadia = (
        staff_id_of("nurse.icu"),
        staff_named("Zoe Taylor"),
        staff_named("Nadia Petrova"),
    )
    day = ahead(4)
    created = create_schedule(client, auth["charge.icu"], schedule_body([marco, zoe], day))
    at = local(day, 10)
    assert on_call(client, auth["nurse.icu"], at) == ["Marco Rossi"]

    path = f"/api/v1/schedules/{created['id']}/overrides"
    body = {
        "kind": "replace",
        "staff_id": nadia,
        "replaces_staff_id": marco,
        "starts_at": iso(local(day, 9)),
        "ends_at": iso(local(day, 13)),
        "reason": "Marco on a course",
    }
    before = last_audit_id()
    response = client.post(path, json=body, headers=auth["charge.icu"])
    assert response.status_code == 201, response.text
    override = response.json()
    assert (override["staff"], override["created_by"]) == ("Nadia Petrova", "charge.icu")
    assert on_call(client, auth["nurse.icu"], at) == ["Nadia Petrova"]
    assert ("Nadia Petrova", local(day, 9), local(day, 13)) in shifts(created["id"])
    assert ("Marco Rossi", local(day, 7), local(day, 9)) in shifts(created["id"])
    detail = client.get(f"/api/v1/schedules/{created['id']}", headers=auth["nurse.icu"]).json()
    assert [o["id"] for o in detail["overrides"]] == [override["id"]]

    assert client.delete(f"{path}/{override['id']}", headers=auth["charge.icu"]).status_code == 204
    assert on_call(client, auth["nurse.icu"], at) == ["Marco Rossi"]
    assert audited(before) == Counter([AUDIT["override_added"], AUDIT["override_removed"]])
    assert_error(
        client.delete(f"{path}/{override['id']}", headers=auth["charge.icu"]), 404, "not_found"
    )

    bad = {**body, "kind": "add", "ends_at": iso(local(day, 8))}
    assert set(fields_of(client.post(path, json=bad, headers=auth["charge.icu"]))) == {
        "replaces_staff_id",
        "ends_at",
    }
    naive = {**body, "starts_at": f"{day.isoformat()}T09:00:00"}
    assert "starts_at" in fields_of(client.post(path, json=naive, headers=auth["charge.icu"]))


def test_on_call_query_checks_its_parameters(
    client: CheckedClient, auth: dict[str, dict[str, str]]
) -> None:
    assert client.get("/api/v1/on-call", headers=auth["nurse.icu"]).json() == []
    naive = client.get(
        "/api/v1/on-call",
        params={"ward": "ICU", "at": "2026-12-01T10:00:00"},
        headers=auth["nurse.icu"],
    )
    assert "at" in fields_of(naive)
    assert_error(
        client.get("/api/v1/on-call", params={"ward": "NOPE"}, headers=auth["nurse.icu"]),
        404,
        "not_found",
    )


# --- swaps ----------------------------------------------------------------------------------


def test_swap_request_then_approval_swaps_the_shifts(
    client: CheckedClient, auth: dict[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Days and nights back to back leave no rest between shifts: the rest rule (tested in
    # test_a_swap_leaving_too_little_rest_is_warned_then_refused) is off here.
    monkeypatch.setattr(staff_svc, "min_rest", lambda: timedelta(0))
    marco, zoe = staff_id_of("nurse.icu"), staff_named("Zoe Taylor")
    day = ahead(5)  # Marco: days 07-19; Zoe: nights 19-07
    created = create_schedule(client, auth["charge.icu"], schedule_body([marco, zoe], day))
    giving = (local(day, 7), local(day, 19))
    taking = (local(day + timedelta(days=1), 19), local(day + timedelta(days=2), 7))
    body = {
        "schedule_id": created["id"],
        "colleague_id": zoe,
        "give_starts_at": iso(giving[0]),
        "give_ends_at": iso(giving[1]),
        "take_starts_at": iso(taking[0]),
        "take_ends_at": iso(taking[1]),
    }
    before = last_audit_id()
    requested = client.post("/api/v1/swaps", json=body, headers=auth["nurse.icu"])
    assert requested.status_code == 201, requested.text
    swap = requested.json()
    assert (swap["status"], swap["requester"], swap["colleague"]) == (
        "requested",
        "Marco Rossi",
        "Zoe Taylor",
    )
    assert on_call(client, auth["nurse.icu"], local(day, 10)) == ["Marco Rossi"]  # not yet

    approve = f"/api/v1/swaps/{swap['id']}/approve"
    assert_error(client.post(approve, headers=auth["nurse.card"]), 403, "forbidden")
    assert_error(client.post(approve, headers=auth["charge.card"]), 403, "forbidden")
    approved = client.post(approve, headers=auth["charge.icu"])
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["decided_by"]) == ("approved", "charge.icu")

    assert on_call(client, auth["nurse.icu"], local(day, 10)) == ["Zoe Taylor"]
    assert on_call(client, auth["nurse.icu"], taking[0] + timedelta(hours=1)) == ["Marco Rossi"]
    derived = shifts(created["id"])
    assert ("Zoe Taylor", giving[0], giving[1] + timedelta(hours=12)) in derived  # day + night
    # Marco's own day, the night he took, his next day: one stretch (the rest rule is off).
    assert ("Marco Rossi", taking[0] - timedelta(hours=12), taking[1] + timedelta(hours=12)) in (
        derived
    )
    assert not [s for s in derived if s[0] == "Marco Rossi" and s[1] == giving[0]]
    assert audited(before) == Counter([AUDIT["swap_requested"], AUDIT["swap_approved"]])

    again = client.post(f"/api/v1/swaps/{swap['id']}/cancel", headers=auth["nurse.icu"])
    assert "already approved" in assert_error(again, 409, "conflict")["message"]
    listed = client.get("/api/v1/swaps", params={"status": "approved"}, headers=auth["charge.icu"])
    assert [s["id"] for s in listed.json()] == [swap["id"]]
    assert client.get("/api/v1/swaps", headers=auth["charge.card"]).json() == []


def test_a_swap_leaving_too_little_rest_is_warned_then_refused(
    client: CheckedClient, auth: dict[str, dict[str, str]]
) -> None:
    marco, zoe = staff_id_of("nurse.icu"), staff_named("Zoe Taylor")
    day = ahead(5)  # Marco: days 07-19; Zoe: nights 19-07
    created = create_schedule(client, auth["charge.icu"], schedule_body([marco, zoe], day))
    body = {
        "schedule_id": created["id"],
        "colleague_id": zoe,
        "give_starts_at": iso(local(day, 7)),
        "give_ends_at": iso(local(day, 19)),
    }
    when = f"{day.day} {MONTHS[day.month - 1]}"
    # The rota starts on ``day``: Zoe's first night follows the day she would take.
    expected = [
        f"Zoe Taylor would work 19:00-07:00 on {when} after 07:00-19:00 on {when}: 0 h rest, "
        "needs 11 h"
    ]
    before = last_audit_id()
    requested = client.post("/api/v1/swaps", json=body, headers=auth["nurse.icu"])
    assert requested.status_code == 201, requested.text  # asked for, with a warning
    swap = requested.json()
    assert (swap["status"], swap["warnings"]) == ("requested", expected)

    refused = client.post(f"/api/v1/swaps/{swap['id']}/approve", headers=auth["charge.icu"])
    message = assert_error(refused, 409, "conflict")["message"]
    assert message == f"Cannot approve: {'; '.join(expected)}."
    assert on_call(client, auth["nurse.icu"], local(day, 10)) == ["Marco Rossi"]  # unchanged
    listed = client.get("/api/v1/swaps", params={"status": "requested"}, headers=auth["charge.icu"])
    assert [s["id"] for s in listed.json()] == [swap["id"]]  # still pending, to decline
    (row,) = [r for r in audit_rows_after(before) if r.action == AUDIT["swap_requested"]]
    assert row.details["warnings"] == expected
    assert audited(before) == Counter([AUDIT["swap_requested"]])  # the refusal changed nothing


def test_swap_decline_cancel_and_refusals(
    client: CheckedClient, auth: dict[str, dict[str, str]]
) -> None:
    marco, zoe = staff_id_of("nurse.icu"), staff_named("Zoe Taylor")
    day = ahead(6)
    created = create_schedule(client, auth["charge.icu"], schedule_body([marco, zoe], day))
    give_away = {
        "schedule_id": created["id"],
        "colleague_id": zoe,
        "give_starts_at": iso(local(day, 7)),
        "give_ends_at": iso(local(day, 19)),
    }
    first = client.post("/api/v1/swaps", json=give_away, headers=auth["nurse.icu"]).json()
    declined = client.post(
        f"/api/v1/swaps/{first['id']}/decline",
        json={"reason": "Zoe is on nights that week"},
        headers=auth["charge.icu"],
    )
    assert (declined.json()["status"], declined.json()["reason"]) == (
        "declined",
        "Zoe is on nights that week",
    )
    second = client.post("/api/v1/swaps", json=give_away, headers=auth["nurse.icu"]).json()
    cancelled = client.post(f"/api/v1/swaps/{second['id']}/cancel", headers=auth["nurse.icu"])
    assert cancelled.json()["status"] == "cancelled"
    assert_error(
        client.post(
            f"/api/v1/swaps/{second['id']}/decline",
            json={"reason": "x"},
            headers=auth["charge.icu"],
        ),
        409,
        "conflict",
    )
    # Not Marco's shift to give; a shift in the past; with themselves; not a staff member.
    nights = {
        **give_away,
        "give_starts_at": iso(local(day, 19)),
        "give_ends_at": iso(local(day, 23)),
    }
    not_his = client.post("/api/v1/swaps", json=nights, headers=auth["nurse.icu"])
    assert "not on call" in assert_error(not_his, 409, "conflict")["message"]
    past = {
        **give_away,
        "give_starts_at": iso(local(ahead(-1), 7)),
        "give_ends_at": iso(local(ahead(-1), 19)),
    }
    assert_error(
        client.post("/api/v1/swaps", json=past, headers=auth["nurse.icu"]), 409, "conflict"
    )
    self_swap = {**give_away, "colleague_id": marco}
    assert_error(
        client.post("/api/v1/swaps", json=self_swap, headers=auth["nurse.icu"]),
        422,
        "invalid_request",
    )
    assert_error(
        client.post("/api/v1/swaps", json=give_away, headers=auth["admin"]), 403, "forbidden"
    )
    half = {**give_away, "take_starts_at": iso(local(day, 19))}
    assert "take_ends_at" in fields_of(
        client.post("/api/v1/swaps", json=half, headers=auth["nurse.icu"])
    )
    assert_error(
        client.post(f"/api/v1/swaps/{uuid.uuid4()}/approve", headers=auth["charge.icu"]),
        404,
        "not_found",
    )


# --- coverage and gaps ----------------------------------------------------------------------


def test_gap_report_shows_icu_has_no_acls_certified_nurse(
    client: CheckedClient, auth: dict[str, dict[str, str]]
) -> None:
    day = ahead(4)
    if day.month == 12 and day.day == 31:
        day = ahead(5)
    marco = staff_id_of("nurse.icu")  # BLS, no ACLS
    create_schedule(client, auth["charge.icu"], schedule_body([marco], day, shift_hours=24))
    before = last_audit_id()
    acls = client.post(
        "/api/v1/coverage-requirements",
        json={"ward": "ICU", "role": "nurse", "skill": "ACLS"},
        headers=auth["admin"],
    )
    assert acls.status_code == 201, acls.text
    anyone = client.post(
        "/api/v1/coverage-requirements",
        json={"ward": "ICU", "role": "nurse", "minimum": 1},
        headers=auth["admin"],
    ).json()
    assert audited(before) == Counter({AUDIT["coverage_created"]: 2})

    window = {"from": iso(local(day, 7)), "to": iso(local(day + timedelta(days=1), 7))}
    response = client.get("/api/v1/schedules/gaps", params=window, headers=auth["charge.icu"])
    assert response.status_code == 200, response.text
    report = response.json()
    nxt = day + timedelta(days=1)
    assert [g["message"] for g in report["gaps"]] == [
        f"ICU has no ACLS-certified nurse from {day.day} {MONTHS[day.month - 1]} 07:00 "
        f"to {nxt.day} {MONTHS[nxt.month - 1]} 07:00"
    ]  # Marco is on call (no gap for "a nurse"), but without ACLS
    gap = report["gaps"][0]
    assert (gap["ward"], gap["skill"], gap["on_call"], gap["missing"]) == ("ICU", "ACLS", 0, 1)
    assert report["from"].startswith(local(day, 7).date().isoformat())

    other_ward = client.get("/api/v1/schedules/gaps", params=window, headers=auth["charge.card"])
    assert other_ward.json()["gaps"] == []
    admin = client.get("/api/v1/schedules/gaps", params=window, headers=auth["admin"])
    assert len(admin.json()["gaps"]) == 1
    assert_error(client.get("/api/v1/schedules/gaps", headers=auth["nurse.icu"]), 403, "forbidden")
    backwards = {"from": window["to"], "to": window["from"]}
    assert "to" in fields_of(
        client.get("/api/v1/schedules/gaps", params=backwards, headers=auth["admin"])
    )

    # Coverage requirements: admins change them, charge nurses read them.
    listed = client.get("/api/v1/coverage-requirements", headers=auth["charge.icu"]).json()
    assert {(r["ward"], r["skill"]) for r in listed} == {("ICU", "ACLS"), ("ICU", None)}
    assert_error(
        client.post(
            "/api/v1/coverage-requirements",
            json={"ward": "ICU", "role": "nurse"},
            headers=auth["charge.icu"],
        ),
        403,
        "forbidden",
    )
    bad = client.post(
        "/api/v1/coverage-requirements",
        json={"ward": "NOPE", "role": "surgeon", "minimum": 0},
        headers=auth["admin"],
    )
    assert set(fields_of(bad)) == {"ward", "role", "minimum"}
    path = f"/api/v1/coverage-requirements/{anyone['id']}"
    changed = client.put(
        path, json={"ward": "ICU", "role": "nurse", "minimum": 2}, headers=auth["admin"]
    )
    assert changed.json()["minimum"] == 2
    two = client.get("/api/v1/schedules/gaps", params=window, headers=auth["charge.icu"]).json()
    assert "ICU has only 1 of the 2 nurses needed" in {g["message"][:37] for g in two["gaps"]}
    assert client.delete(path, headers=auth["admin"]).status_code == 204
    assert_error(client.delete(path, headers=auth["admin"]), 404, "not_found")


# --- calendars ------------------------------------------------------------------------------


def events_of(response: httpx.Response) -> list[Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    return sorted(calendar.walk("VEVENT"), key=lambda e: e.decoded("dtstart"))


def test_ical_export_parses_back(client: CheckedClient, auth: dict[str, dict[str, str]]) -> None:
    marco, zoe = staff_id_of("nurse.icu"), staff_named("Zoe Taylor")
    day = ahead(3)
    create_schedule(client, auth["charge.icu"], schedule_body([marco, zoe], day))
    window = {"from": iso(local(day, 0)), "to": iso(local(day + timedelta(days=2), 0))}
    mine = events_of(
        client.get(f"/api/v1/staff/{marco}/calendar.ics", params=window, headers=auth["nurse.icu"])
    )
    assert [(e.decoded("dtstart"), e.decoded("dtend")) for e in mine] == [
        (local(day, 7), local(day, 19)),
        (local(day + timedelta(days=1), 7), local(day + timedelta(days=1), 19)),
    ]
    assert {str(e["summary"]) for e in mine} == {"On call: ICU nurse"}
    assert {str(e["attendee"]) for e in mine} == {"mailto:marco.rossi@healthguard.example"}
    assert len({str(e["uid"]) for e in mine}) == 2

    ward = events_of(
        client.get("/api/v1/wards/ICU/calendar.ics", params=window, headers=auth["nurse.card"])
    )
    # Nobody before the rota's first day; the last night is clipped at the window's end.
    assert [str(e["summary"]) for e in ward] == [
        "On call: ICU nurse (Marco Rossi)",
        "On call: ICU nurse (Zoe Taylor)",
        "On call: ICU nurse (Marco Rossi)",
        "On call: ICU nurse (Zoe Taylor)",
    ]
    assert ward[-1].decoded("dtend") == local(day + timedelta(days=2), 0)
    assert {str(e["location"]) for e in ward} == {"ICU"}
    assert {str(e["uid"]) for e in mine} <= {str(e["uid"]) for e in ward}
    assert_error(
        client.get("/api/v1/wards/NOPE/calendar.ics", headers=auth["nurse.card"]), 404, "not_found"
    )
    naive = client.get(
        f"/api/v1/staff/{marco}/calendar.ics",
        params={"from": "2026-12-01T00:00:00"},
        headers=auth["nurse.icu"],
    )
    assert "from" in fields_of(naive)


# --- roster import --------------------------------------------------------------------------


def ics(*events: str) -> bytes:
    body = "\r\n".join(
        ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Test//Roster//EN", *events, "END:VCALENDAR"]
    )
    return (body + "\r\n").encode()


def vevent(uid: str, summary: str, start: str, end: str | None, attendee: str | None) -> str:
    lines = ["BEGIN:VEVENT", f"UID:{uid}", f"SUMMARY:{summary}", f"DTSTART:{start}"]
    if end:
        lines.append(f"DTEND:{end}")
    if attendee:
        lines.append(f"ATTENDEE:mailto:{attendee}")
    lines.append("END:VEVENT")
    return "\r\n".join(lines)


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def test_roster_import_all_or_nothing(
    client: CheckedClient, auth: dict[str, dict[str, str]]
) -> None:
    marco, zoe = staff_id_of("nurse.icu"), staff_named("Zoe Taylor")
    day = ahead(7)
    created = create_schedule(client, auth["charge.icu"], schedule_body([marco, zoe], day))
    path = f"/api/v1/schedules/{created['id']}/import"
    calendar_type = {"Content-Type": "text/calendar"}

    def post(user: str, data: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        return client.post(path, content=data, headers={**auth[user], **(headers or calendar_type)})

    def overrides() -> int:
        with session_scope() as session:
            return len(
                session.exec(
                    select(ScheduleOverride.id).where(
                        ScheduleOverride.schedule_id == uuid.UUID(created["id"])
                    )
                ).all()
            )

    bad = ics(
        vevent("n1@roster", "Night", f"{day:%Y%m%d}", None, None).replace(
            "DTSTART:", "DTSTART;VALUE=DATE:"
        ),
        vevent("n2@roster", "Late", stamp(local(day, 19)), None, "zoe.taylor@healthguard.example"),
        vevent(
            "n3@roster",
            "Fine",
            stamp(local(day, 19)),
            stamp(local(day, 23)),
            "zoe.taylor@healthguard.example",
        ),
    )
    refused = post("charge.icu", bad)
    error = assert_error(refused, 422, "invalid_roster")
    assert error["message"].startswith("Nothing was imported: 2 events cannot be imported.")
    assert 'Event "Night" (UID n1@roster): it is an all-day event' in error["message"]
    assert 'Event "Late" (UID n2@roster): it has no end' in error["message"]
    assert len(error["fields"]) == 2 and "Fine" not in error["message"]
    assert overrides() == 0

    stranger = ics(
        vevent(
            "s1@roster",
            "Night",
            stamp(local(day, 19)),
            stamp(local(day + timedelta(days=1), 7)),
            "nobody@elsewhere.example",
        ),
        vevent(
            "s2@roster",
            "Ok",
            stamp(local(day, 19)),
            stamp(local(day + timedelta(days=1), 7)),
            "zoe.taylor@healthguard.example",
        ),
    )
    error = assert_error(post("charge.icu", stranger), 422, "invalid_roster")
    assert (
        'Event "Night" (UID s1@roster): nobody on the staff list has the email '
        "nobody@elsewhere.example" in error["message"]
    )
    assert overrides() == 0

    # Nadia and Zoe both rostered on the first night (Marco's day shift stays from the rota).
    good = ics(
        vevent(
            "g1@roster",
            "Night",
            stamp(local(day, 19)),
            stamp(local(day + timedelta(days=1), 7)),
            "nadia.petrova@healthguard.example",
        ),
        vevent(
            "g2@roster",
            "Night",
            stamp(local(day, 19)),
            stamp(local(day + timedelta(days=1), 7)),
            "zoe.taylor@healthguard.example",
        ),
    )
    assert_error(post("charge.card", good), 403, "forbidden")
    assert post("charge.icu", good, {"Content-Type": "application/json"}).status_code == 415
    before = last_audit_id()
    imported = post("charge.icu", good)
    assert imported.status_code == 200, imported.text
    assert (imported.json()["shifts_read"], imported.json()["overrides_written"]) == (2, 2)
    assert audited(before) == Counter({AUDIT["roster_imported"]: 1})
    assert sorted(on_call(client, auth["nurse.icu"], local(day, 22))) == [
        "Nadia Petrova",
        "Zoe Taylor",
    ]
    assert on_call(client, auth["nurse.icu"], local(day, 10)) == ["Marco Rossi"]
    assert ("Nadia Petrova", local(day, 19), local(day + timedelta(days=1), 7)) in shifts(
        created["id"]
    )
    # Importing the same roster again replaces the earlier import (no duplicates).
    again = post("charge.icu", good).json()
    assert (again["overrides_written"], again["overrides_replaced"]) == (2, 2)
    assert overrides() == 2
