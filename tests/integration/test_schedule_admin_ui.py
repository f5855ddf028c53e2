"""Changing the rota on the /staff page on real Postgres (healthguard.ui.states.schedule_admin):
reading the form's local times (hospital wall clock, a skipped time refused in words), building
the override service's input with every field's problem named, adding and removing an override
through the same service as the API (the page's roster and Overrides list follow), the refusal
for a nurse and for a charge nurse of another ward, and the all-or-nothing iCalendar import."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from authsupport import principal
from sqlmodel import select

from healthguard.db import session_scope
from healthguard.models import ScheduleOverride, Staff, Ward
from healthguard.oncall import roster
from healthguard.security.accounts import Origin
from healthguard.settings import get_settings
from healthguard.ui.states.schedule_admin import (
    NOT_ALLOWED,
    FormError,
    add_override,
    import_roster_text,
    override_request,
    parse_local,
    remove_override,
    rota_panel,
    rotation_text,
    save_rotation,
    ward_overrides,
)
from healthguard.ui.states.staff import staff_page

pytestmark = pytest.mark.integration

ORIGIN = Origin("127.0.0.1")
LONDON = ZoneInfo("Europe/London")


def staff_id(name: str) -> uuid.UUID:
    with session_scope() as session:
        return session.exec(select(Staff).where(Staff.display_name == name)).one().id


def zone() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def today() -> date:
    return datetime.now(UTC).astimezone(zone()).date()


def local_input(days_ahead: int, hour: int) -> str:
    """A ``datetime-local`` value ``days_ahead`` hospital days from today."""
    return f"{(today() + timedelta(days=days_ahead)).isoformat()}T{hour:02d}:00"


def overrides_of(schedule_id: uuid.UUID) -> list[ScheduleOverride]:
    with session_scope() as session:
        rows = session.exec(
            select(ScheduleOverride).where(ScheduleOverride.schedule_id == schedule_id)
        ).all()
        for r in rows:
            session.expunge(r)
        return list(rows)


@pytest.fixture(scope="module")
def rota(seeded: dict[str, int]) -> Iterator[dict[str, Any]]:
    """An ICU nurse rota of 12 h shifts in turn from tomorrow, 07:00: Marco Rossi days 1, 3,
    ...; Zoe Taylor nights 1, 3, ...; Nadia Petrova days 2, 4, ...; Ivy Reed nights 2, 4."""
    now = datetime.now(UTC)
    marco, zoe, nadia = (staff_id(n) for n in ("Marco Rossi", "Zoe Taylor", "Nadia Petrova"))
    with session_scope() as session:
        icu = session.exec(select(Ward).where(Ward.code == "ICU")).one()
        ivy = Staff(display_name="Ivy Reed", role="nurse", home_ward_id=icu.id)
        session.add(ivy)
        session.flush()
        layer = {
            "name": "ICU nurses",
            "mode": "replace",
            "rotation": {
                "participants": [str(p) for p in (marco, zoe, nadia, ivy.id)],
                "anchor": f"{(today() + timedelta(days=1)).isoformat()}T07:00",
                "handoff": "shift",
                "shift_hours": 12,
                "custom_hours": [],
            },
            "windows": [],
        }
        schedule = roster.create_schedule(
            session,
            principal("admin"),
            roster.ScheduleInput("ICU nurses (rota UI)", "ICU", "nurse", zone().key, [layer]),
            now=now,
        )
        schedule_id = schedule.id
    yield {"schedule_id": schedule_id, "ivy": ivy.id}


# --- pure helpers ---------------------------------------------------------------------------


def test_parse_local_reads_the_hospital_wall_clock() -> None:
    winter = parse_local("2026-12-03T19:00", "Start", LONDON)
    assert winter == datetime(2026, 12, 3, 19, 0, tzinfo=LONDON)
    assert winter.astimezone(UTC) == datetime(2026, 12, 3, 19, 0, tzinfo=UTC)
    summer = parse_local(" 2026-07-01T07:00 ", "Start", LONDON)
    assert summer.astimezone(UTC) == datetime(2026, 7, 1, 6, 0, tzinfo=UTC)  # BST


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "End: give a date and time."),
        ("tomorrow", "End: 'tomorrow' is not a date and time"),
        ("2026-12-03T19:00+01:00", "End: give the hospital's local time without a time zone."),
        # The clocks go forward at 01:00 on 29 March 2026: 01:30 never happens in London.
        ("2026-03-29T01:30", "End: 29 Mar 01:30 does not exist on the hospital's clock"),
    ],
)
def test_parse_local_refuses_in_words_naming_the_field(text: str, words: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_local(text, "End", LONDON)
    assert str(refused.value).startswith(words)


def test_override_request_builds_the_service_input() -> None:
    schedule, marco, ivy = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    form = {
        "schedule_id": str(schedule),
        "kind": "replace",
        "staff_id": str(ivy),
        "replaces_staff_id": str(marco),
        "starts_at": "2026-12-03T19:00",
        "ends_at": "2026-12-04T07:00",
        "reason": "  Off sick  ",
    }
    wanted, data = override_request(form, LONDON)
    assert wanted == schedule
    assert data == roster.OverrideInput(
        kind="replace",
        staff_id=ivy,
        starts_at=datetime(2026, 12, 3, 19, tzinfo=LONDON),
        ends_at=datetime(2026, 12, 4, 7, tzinfo=LONDON),
        replaces_staff_id=marco,
        reason="Off sick",
    )
    # "Replaces" belongs to a replace override only: an add ignores a stale choice.
    _, added = override_request({**form, "kind": "add"}, LONDON)
    assert added.kind == "add" and added.replaces_staff_id is None


def test_override_request_names_every_field_it_cannot_use() -> None:
    person = str(uuid.uuid4())
    with pytest.raises(FormError) as refused:
        override_request(
            {
                "schedule_id": "",
                "kind": "swap",
                "staff_id": person,
                "starts_at": "2026-12-04T07:00",
                "ends_at": "2026-12-03T19:00",
                "reason": "x" * 501,
            },
            LONDON,
        )
    assert refused.value.problems == (
        "Rota: choose the rota to change.",
        "Kind: choose replace, add or remove a person.",
        "End: must be after the start.",
        "Reason: at most 500 characters.",
    )
    with pytest.raises(FormError) as refused:
        override_request(
            {
                "schedule_id": str(uuid.uuid4()),
                "kind": "replace",
                "staff_id": person,
                "replaces_staff_id": person,
                "starts_at": "",
                "ends_at": "2026-12-03T19:00",
            },
            LONDON,
        )
    assert refused.value.problems == (
        "Replaces: a person cannot replace themselves.",
        "Start: give a date and time.",
    )


# --- through the service --------------------------------------------------------------------


def test_rota_forms_only_for_those_who_may_change_the_ward(rota: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    charge = rota_panel(principal("charge.icu"), "ICU", now)
    assert charge.can_manage and charge.ward == "ICU"
    assert [s.label for s in charge.schedules if s.id == str(rota["schedule_id"])] == [
        "ICU nurses (rota UI) · nurse"
    ]
    people = {p.label.split(" · ")[0] for p in charge.people}
    assert {"Marco Rossi", "Zoe Taylor", "Nadia Petrova", "Ivy Reed"} <= people
    assert "James Carter" not in people  # a cardiology nurse
    assert rota_panel(principal("admin"), "ICU", now).can_manage
    for username, ward in (("nurse.icu", "ICU"), ("charge.icu", "CARD")):
        panel = rota_panel(principal(username), ward, now)
        assert not panel.can_manage and panel.schedules == [] and panel.people == []


def test_a_nurse_is_refused_and_nothing_is_written(rota: dict[str, Any]) -> None:
    before = len(overrides_of(rota["schedule_id"]))
    form = {
        "schedule_id": str(rota["schedule_id"]),
        "kind": "add",
        "staff_id": str(staff_id("Zoe Taylor")),
        "starts_at": local_input(3, 7),
        "ends_at": local_input(3, 19),
    }
    outcome = add_override(principal("nurse.icu"), "ICU", form, datetime.now(UTC), ORIGIN)
    assert not outcome.ok and outcome.message == NOT_ALLOWED
    # A charge nurse of ICU for another ward's rota: refused the same way.
    other = add_override(principal("charge.icu"), "CARD", form, datetime.now(UTC), ORIGIN)
    assert not other.ok and other.message == NOT_ALLOWED
    imported = import_roster_text(
        principal("nurse.icu"), "ICU", str(rota["schedule_id"]), "BEGIN:VCALENDAR",
        datetime.now(UTC), ORIGIN,
    )  # fmt: skip
    assert not imported.ok and imported.message == NOT_ALLOWED
    assert len(overrides_of(rota["schedule_id"])) == before


def test_refusals_name_the_field(rota: dict[str, Any]) -> None:
    charge, now = principal("charge.icu"), datetime.now(UTC)
    form = {
        "schedule_id": str(rota["schedule_id"]),
        "kind": "replace",
        "staff_id": str(staff_id("James Carter")),  # not ICU staff
        "starts_at": local_input(3, 7),
        "ends_at": local_input(3, 19),
    }
    outcome = add_override(charge, "ICU", form, now, ORIGIN)
    assert not outcome.ok
    assert outcome.problems == ("Person: choose someone who works on ward ICU.",)
    # The service's own refusal (an override wholly in the past), with the field in words.
    past = {
        **form,
        "staff_id": str(rota["ivy"]),
        "starts_at": local_input(-2, 7),
        "ends_at": local_input(-2, 19),
    }
    outcome = add_override(charge, "ICU", past, now, ORIGIN)
    assert not outcome.ok and outcome.message == "Not added: check the fields below."
    assert outcome.problems == ("End: is in the past; an override changes the rota ahead",)
    outcome = add_override(charge, "ICU", {**form, "schedule_id": str(uuid.uuid4())}, now, ORIGIN)
    assert outcome.problems == ("Rota: choose one of the rotas of ward ICU.",)


def test_charge_nurse_adds_and_removes_a_replacement(rota: dict[str, Any]) -> None:
    charge = principal("charge.icu")
    now = datetime.now(UTC)
    form = {
        "schedule_id": str(rota["schedule_id"]),
        "kind": "replace",
        "staff_id": str(staff_id("Nadia Petrova")),
        "replaces_staff_id": str(staff_id("Marco Rossi")),
        "starts_at": local_input(3, 7),  # Marco's second day shift; Nadia is off then
        "ends_at": local_input(3, 19),
        "reason": "Study day",
    }
    outcome = add_override(charge, "ICU", form, now, ORIGIN)
    assert outcome.ok, outcome
    assert outcome.message.startswith("Override added: Nadia Petrova replaces Marco Rossi, ")
    rows = [r for r in overrides_of(rota["schedule_id"]) if r.reason == "Study day"]
    assert len(rows) == 1
    start = datetime.combine(today() + timedelta(days=3), time(7), tzinfo=zone())
    assert rows[0].starts_at == start and rows[0].ends_at == start + timedelta(hours=12)
    assert rows[0].created_by == "charge.icu"

    # The page's roster and Overrides list follow; the lines are the ones the form removes.
    page = staff_page(charge, "ICU", datetime.now(UTC))
    day = next(d for d in page.days if d.iso_date == (today() + timedelta(days=3)).isoformat())
    assert "Nadia Petrova" in [c.who for c in day.cells]
    assert "Marco Rossi" not in [c.who for c in day.cells]
    with session_scope() as session:
        icu = roster.ward_by_code(session, "ICU")
        assert icu is not None
        lines = [line for _, line in ward_overrides(session, icu, datetime.now(UTC), zone())]
    assert lines == page.overrides
    line = next(o for o in page.overrides if o.reason == "Study day")
    assert line.text == "Nadia Petrova replaces Marco Rossi"
    assert line.id == str(rows[0].id)

    # A nurse cannot remove it; an override of another ward (or none) removes nothing.
    refused = remove_override(principal("nurse.icu"), "ICU", line.id, datetime.now(UTC), ORIGIN)
    assert not refused.ok and refused.message == NOT_ALLOWED
    for other in (str(uuid.uuid4()), "not-an-id"):
        stale = remove_override(charge, "ICU", other, datetime.now(UTC), ORIGIN)
        assert not stale.ok and "no longer in this ward's list" in stale.message
    assert len([r for r in overrides_of(rota["schedule_id"]) if r.reason == "Study day"]) == 1

    removed = remove_override(charge, "ICU", line.id, datetime.now(UTC), ORIGIN)
    assert removed.ok and removed.message.startswith("Override removed: Nadia Petrova replaces")
    assert [r for r in overrides_of(rota["schedule_id"]) if r.reason == "Study day"] == []
    page = staff_page(charge, "ICU", datetime.now(UTC))
    day = next(d for d in page.days if d.iso_date == (today() + timedelta(days=3)).isoformat())
    assert "Marco Rossi" in [c.who for c in day.cells]
    assert "Nadia Petrova replaces Marco Rossi" not in [o.text for o in page.overrides]


def _ics(*events: tuple[str, str, str]) -> str:
    """A calendar of (SUMMARY, local start, local end) events in the hospital's zone."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//roster//EN"]
    for n, (summary, start, end) in enumerate(events):
        lines += [
            "BEGIN:VEVENT",
            f"UID:rota-ui-{n}@test",
            f"SUMMARY:{summary}",
            f"DTSTART;TZID={zone().key}:{start}",
            f"DTEND;TZID={zone().key}:{end}",
            "END:VEVENT",
        ]
    return "\r\n".join([*lines, "END:VCALENDAR"]) + "\r\n"


def test_import_is_all_or_nothing_in_words(rota: dict[str, Any]) -> None:
    charge = principal("charge.icu")
    day = (today() + timedelta(days=5)).strftime("%Y%m%d")
    before = len(overrides_of(rota["schedule_id"]))
    bad = _ics(
        ("Nadia Petrova", f"{day}T070000", f"{day}T190000"),
        ("Nobody Known", f"{day}T190000", f"{day}T235900"),
    )
    outcome = import_roster_text(
        charge, "ICU", str(rota["schedule_id"]), bad, datetime.now(UTC), ORIGIN
    )
    assert not outcome.ok
    assert outcome.message == "Nothing was imported: 1 event cannot be imported."
    assert outcome.problems == (
        'Event "Nobody Known" (UID rota-ui-1@test): nobody on the staff list is called '
        "'Nobody Known'",
    )
    assert len(overrides_of(rota["schedule_id"])) == before
    empty = import_roster_text(
        charge, "ICU", str(rota["schedule_id"]), "  ", datetime.now(UTC), ORIGIN
    )
    assert empty.problems == ("Roster: paste the text of an .ics file (BEGIN:VCALENDAR ...).",)

    good = _ics(("Nadia Petrova", f"{day}T070000", f"{day}T190000"))
    outcome = import_roster_text(
        charge, "ICU", str(rota["schedule_id"]), good, datetime.now(UTC), ORIGIN
    )
    assert outcome.ok, outcome
    assert outcome.message == "Imported 1 shift as 1 override. The roster shows them."
    rows = [r for r in overrides_of(rota["schedule_id"]) if r.reason.startswith("roster import")]
    assert [(r.kind, r.staff_id) for r in rows] == [("replace", staff_id("Nadia Petrova"))]


def test_rotation_is_edited_as_json_through_the_schedule_service(rota: dict[str, Any]) -> None:
    charge, schedule = principal("charge.icu"), str(rota["schedule_id"])
    name, text = rotation_text(charge, "ICU", schedule, datetime.now(UTC))
    assert name == "ICU nurses (rota UI)"
    layers = json.loads(text)
    assert layers[0]["rotation"]["shift_hours"] == 12
    with pytest.raises(PermissionError):
        rotation_text(principal("nurse.icu"), "ICU", schedule, datetime.now(UTC))
    with pytest.raises(LookupError):
        rotation_text(charge, "ICU", str(uuid.uuid4()), datetime.now(UTC))

    # Not JSON, and JSON the rota cannot use: refused in words, nothing changed.
    broken = save_rotation(charge, "ICU", schedule, "[{", datetime.now(UTC), ORIGIN)
    assert not broken.ok
    assert broken.problems[0].startswith("Rotation: not valid JSON at line 1, column 3")
    bad = json.loads(text)
    bad[0]["rotation"]["anchor"] = "2026-03-02T07:00Z"
    refused = save_rotation(charge, "ICU", schedule, json.dumps(bad), datetime.now(UTC), ORIGIN)
    assert not refused.ok and refused.message == "Not saved: check the rotation."
    assert refused.problems[0].startswith("layers.0.rotation.anchor: ")
    nurse = save_rotation(principal("nurse.icu"), "ICU", schedule, text, datetime.now(UTC), ORIGIN)
    assert not nurse.ok and nurse.message == NOT_ALLOWED
    assert json.loads(rotation_text(charge, "ICU", schedule, datetime.now(UTC))[1]) == layers

    # 8 h shifts: saved through roster.update_schedule, the roster follows.
    layers[0]["rotation"]["shift_hours"] = 8
    saved = save_rotation(charge, "ICU", schedule, json.dumps(layers), datetime.now(UTC), ORIGIN)
    assert (
        saved.ok
        and saved.message == "Rotation of ICU nurses (rota UI) saved; the roster follows it."
    )
    assert json.loads(rotation_text(charge, "ICU", schedule, datetime.now(UTC))[1]) == layers
    page = staff_page(charge, "ICU", datetime.now(UTC))
    first = next(d for d in page.days if d.iso_date == (today() + timedelta(days=1)).isoformat())
    assert "07:00-15:00" in [c.when for c in first.cells]
