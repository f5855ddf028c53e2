"""Certification reminders, the pure planner (``healthguard.oncall.cert_reminders``): the
stages, who is told at each, once only, catching up after missed runs, renewals, the charge
nurse of an expired certificate, and a hypothesis property over random run calendars."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthguard.oncall.cert_reminders import (
    EXPIRED,
    EXPIRED_LOOKBACK_DAYS,
    Audience,
    Certificate,
    Person,
    Plan,
    assignment_effect,
    keep_until,
    plan_reminders,
    stage_for,
)

pytestmark = pytest.mark.unit

EXPIRY = date(2026, 3, 31)


def person(name: str, email: str | None = None) -> Person:
    return Person(uuid.uuid5(uuid.NAMESPACE_DNS, name), name, email)


HOLDER = person("Jane Doe", "jane@hospital.example")
CHARGE = person("Rachel Stein", "rachel@hospital.example")
CHARGE_2 = person("Victor Hale")


def cert(
    skill: str = "ACLS",
    expires_on: date | None = EXPIRY,
    *,
    holder: Person = HOLDER,
    nurses: tuple[Person, ...] = (CHARGE,),
    record: str = "r1",
) -> Certificate:
    return Certificate(uuid.uuid5(uuid.NAMESPACE_URL, record), skill, expires_on, holder, nurses)


def day(days_left: int) -> date:
    return EXPIRY - timedelta(days=days_left)


def told(plan: Plan) -> list[tuple[str, Audience, int]]:
    return [(r.recipient.name, r.audience, r.stage) for r in plan.reminders]


@pytest.mark.parametrize(
    ("days_left", "stage"),
    [
        (31, None),
        (30, 30),
        (15, 30),
        (14, 14),
        (8, 14),
        (7, 7),
        (2, 7),
        (1, 1),
        (0, 0),
        (-1, EXPIRED),
        (-EXPIRED_LOOKBACK_DAYS, EXPIRED),
        (-EXPIRED_LOOKBACK_DAYS - 1, None),
    ],
)
def test_stage_for(days_left: int, stage: int | None) -> None:
    assert stage_for(days_left) == stage


def test_holder_alone_until_seven_days_then_charge_nurse_too() -> None:
    assert told(plan_reminders([cert()], day(30))) == [("Jane Doe", Audience.HOLDER, 30)]
    assert told(plan_reminders([cert()], day(14))) == [("Jane Doe", Audience.HOLDER, 14)]
    assert told(plan_reminders([cert()], day(7))) == [
        ("Jane Doe", Audience.HOLDER, 7),
        ("Rachel Stein", Audience.CHARGE_NURSE, 7),
    ]
    assert told(plan_reminders([cert()], day(0))) == [
        ("Jane Doe", Audience.HOLDER, 0),
        ("Rachel Stein", Audience.CHARGE_NURSE, 0),
    ]
    assert plan_reminders([cert()], day(31)).reminders == ()


def test_each_stage_once_then_the_next_stage() -> None:
    sent: set[str] = set()
    first = plan_reminders([cert()], day(30), sent)
    sent |= {r.key for r in first.reminders}
    assert plan_reminders([cert()], day(30), sent).reminders == ()  # same day, again
    assert plan_reminders([cert()], day(20), sent).reminders == ()  # same stage, later
    second = plan_reminders([cert()], day(14), sent)
    assert told(second) == [("Jane Doe", Audience.HOLDER, 14)]


def test_a_missed_run_catches_up_with_the_current_stage_only() -> None:
    # The job was down from day 30 to day 10: the 14-day reminder, not the 30-day one.
    assert told(plan_reminders([cert()], day(10))) == [("Jane Doe", Audience.HOLDER, 14)]


def test_an_expired_acls_reaches_every_charge_nurse_and_says_p0_no_longer() -> None:
    plan = plan_reminders([cert(nurses=(CHARGE, CHARGE_2))], day(-3))
    assert {(r.recipient.name, r.audience) for r in plan.reminders} == {
        ("Jane Doe", Audience.HOLDER),
        ("Rachel Stein", Audience.CHARGE_NURSE),
        ("Victor Hale", Audience.CHARGE_NURSE),
    }
    for reminder in plan.reminders:
        assert reminder.stage == EXPIRED and not reminder.counts_for_assignment
        assert "expired on 2026-03-31" in reminder.title
        assert "not counted for P0 assignment" in reminder.body
        assert "This reminder concerns no patient." in reminder.body
    nurse = next(r for r in plan.reminders if r.audience is Audience.CHARGE_NURSE)
    assert nurse.title == "Jane Doe's ACLS certificate expired on 2026-03-31"
    assert "Jane Doe is not counted for P0 assignment" in nurse.body


def test_texts_name_skill_date_days_and_effect() -> None:
    [reminder] = plan_reminders([cert("BLS")], day(14)).reminders
    assert reminder.title == "Your BLS certificate expires in 14 days (2026-03-31)"
    assert "expires on 2026-03-31 (in 14 days)" in reminder.body
    assert "from 00:00 on 2026-04-01, you are not counted for P2 and P3 assignment" in reminder.body
    assert reminder.shared_title == f"For Jane Doe: {reminder.title}"
    [today] = [r for r in plan_reminders([cert()], day(0)).reminders if r.audience == "holder"]
    assert today.title == "Your ACLS certificate expires today (2026-03-31)"
    assert today.counts_for_assignment  # valid up to and including its expiry date


def test_assignment_effect_follows_the_assignment_requirements() -> None:
    assert assignment_effect("ACLS") == (
        "not counted for P0 assignment and counted for P1 only with a valid critical_care"
    )
    assert assignment_effect("critical_care") == "counted for P1 only with a valid ACLS"
    assert assignment_effect("BLS") == "not counted for P2 and P3 assignment"
    assert assignment_effect("PALS") == ""
    [pals] = plan_reminders([cert("PALS")], day(30)).reminders
    assert "The automatic assignment does not use PALS." in pals.body


def test_only_the_four_certifications_any_case() -> None:
    certificates = [
        cert("acls", record="a"),
        cert("IV cannulation", record="b"),
        cert("Critical_Care", record="c"),
    ]
    skills = sorted(r.title.split()[1] for r in plan_reminders(certificates, day(30)).reminders)
    assert skills == ["ACLS", "critical_care"]


def test_a_renewal_recorded_beside_the_old_certificate_silences_it() -> None:
    old = cert(expires_on=EXPIRY, record="old")
    renewed = cert(expires_on=EXPIRY + timedelta(days=730), record="new")
    assert plan_reminders([old, renewed], day(-2)).reminders == ()
    never = cert(expires_on=None, record="forever")
    assert plan_reminders([old, never], day(3)).reminders == ()


def test_a_new_expiry_date_on_the_same_record_starts_afresh() -> None:
    sent = {r.key for r in plan_reminders([cert()], day(7)).reminders}
    moved = cert(expires_on=EXPIRY + timedelta(days=7))  # same record, date corrected
    assert told(plan_reminders([moved], day(7), sent)) == [
        ("Jane Doe", Audience.HOLDER, 14)  # 14 days left of the corrected date
    ]


def test_no_charge_nurse_is_unreached_at_the_stages_that_need_one() -> None:
    lonely = cert(nurses=())
    assert plan_reminders([lonely], day(14)).unreached == ()
    plan = plan_reminders([lonely], day(-1))
    assert [u.stage for u in plan.unreached] == [EXPIRED]
    assert "no charge nurse" in plan.unreached[0].reason
    sent = {r.key for r in plan.reminders}
    assert plan_reminders([lonely], day(-2), sent).unreached == ()  # said once


def test_a_charge_nurse_holder_is_not_told_twice() -> None:
    own = cert(holder=CHARGE, nurses=(CHARGE, CHARGE_2))
    assert told(plan_reminders([own], day(7))) == [
        ("Rachel Stein", Audience.HOLDER, 7),
        ("Victor Hale", Audience.CHARGE_NURSE, 7),
    ]


def test_keep_until_outlives_the_last_stage() -> None:
    until = keep_until(cert())
    assert until is not None and stage_for((EXPIRY - until).days) is None
    assert keep_until(cert(expires_on=None)) is None


# --- property -------------------------------------------------------------------------------

START = date(2026, 1, 1)
SKILLS = st.sampled_from(["BLS", "ACLS", "PALS", "critical_care", "acls", "Phlebotomy"])
PEOPLE = [person(f"Person {i}") for i in range(5)]


@st.composite
def certificates(draw: st.DrawFn) -> list[Certificate]:
    found = []
    for n in range(draw(st.integers(1, 6))):
        holder = draw(st.sampled_from(PEOPLE))
        nurses = tuple(draw(st.lists(st.sampled_from(PEOPLE), max_size=3)))
        offset = draw(st.one_of(st.none(), st.integers(-10, 120)))
        expires = None if offset is None else START + timedelta(days=offset)
        found.append(cert(draw(SKILLS), expires, holder=holder, nurses=nurses, record=str(n)))
    return found


run_days = st.lists(st.integers(0, 3), min_size=1, max_size=60).map(
    lambda steps: [START + timedelta(days=sum(steps[: i + 1])) for i in range(len(steps))]
)


@settings(max_examples=300, deadline=None)
@given(certificates(), run_days)
def test_each_stage_at_most_once_and_expired_always_reaches_the_charge_nurse(
    certs: list[Certificate], days: list[date]
) -> None:
    sent: set[str] = set()
    history: list[tuple[date, str, uuid.UUID, int, Audience]] = []
    for today in days:  # runs in order, some days twice, some days missed
        plan = plan_reminders(certs, today, sent)
        keys = [r.key for r in plan.reminders]
        assert len(keys) == len(set(keys)), "a reminder twice in one plan"
        assert not set(keys) & sent, "a reminder sent again"
        for r in plan.reminders:
            history.append(
                (today, str(r.certificate.record_id), r.recipient.id, r.stage, r.audience)
            )
            assert (r.stage == EXPIRED) == (r.days_left < 0) == (not r.counts_for_assignment)
            if r.audience is Audience.CHARGE_NURSE:
                assert r.days_left <= 7 and r.recipient.id != r.certificate.holder.id
        sent |= set(keys)

    # Per certificate and person: the stages come in order, each once.
    seen: dict[tuple[str, uuid.UUID], list[int]] = {}
    for _, record, recipient, stage, _ in history:
        seen.setdefault((record, recipient), []).append(stage)
    for stages in seen.values():
        assert stages == sorted(set(stages), reverse=True)

    # An expired certificate (the latest of its holder's skill) reaches every charge nurse
    # when a run falls within the look-back after its expiry.
    latest: dict[tuple[uuid.UUID, str], Certificate] = {}
    for c in certs:
        key = (c.holder.id, c.skill.casefold())
        if key[1] not in {"bls", "acls", "pals", "critical_care"}:
            continue
        held = latest.get(key)
        if held is None or (
            held.expires_on is not None
            and (
                c.expires_on is None
                or (c.expires_on, str(c.record_id)) > (held.expires_on, str(held.record_id))
            )
        ):
            latest[key] = c
    for c in latest.values():
        if c.expires_on is None:
            continue
        expired_run = any(-EXPIRED_LOOKBACK_DAYS <= (c.expires_on - d).days < 0 for d in days)
        if not expired_run:
            continue
        told_expired = {
            recipient
            for _, record, recipient, stage, audience in history
            if record == str(c.record_id) and stage == EXPIRED and audience is Audience.CHARGE_NURSE
        }
        nurses = {n.id for n in c.charge_nurses} - {c.holder.id}
        assert nurses <= told_expired
