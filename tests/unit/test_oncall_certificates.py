"""When a certificate stops counting (healthguard.oncall.certificates): valid through the end
of its expiry date in the hospital's time zone, not from 00:00 on the next day; on clock-change
days; and the coverage gaps, the automatic assignment, the reminders and the staff screens
all agree at the same instant (a test here fails if any of them uses another rule)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthguard.oncall.assignment import Candidate, IncidentNeed, rank_candidates
from healthguard.oncall.cert_reminders import Certificate, Person, plan_reminders
from healthguard.oncall.certificates import (
    certificate_valid_at,
    certificate_valid_on,
    local_date,
    valid_until,
)
from healthguard.oncall.gaps import Certification, CoverageRequirement, find_gaps
from healthguard.oncall.rotations import OnCallSpan
from healthguard.oncall.staff_service import skill_status

pytestmark = pytest.mark.unit

LONDON = "Europe/London"
ANA = uuid.UUID(int=1)
ICU = uuid.UUID(int=100)
ICU_NURSES = uuid.UUID(int=200)


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))  # type: ignore[misc]


def test_valid_through_2359_on_the_expiry_date_not_at_0000_the_next_day() -> None:
    expires = date(2027, 3, 31)  # London is on BST: 00:00 on 1 Apr is 23:00 UTC on 31 Mar
    assert valid_until(expires, LONDON) == datetime(2027, 3, 31, 23, 0, tzinfo=UTC)
    assert certificate_valid_at(expires, local(LONDON, 2027, 3, 31, 23, 59, 59), LONDON)
    assert not certificate_valid_at(expires, local(LONDON, 2027, 4, 1, 0, 0), LONDON)
    # The same instants written in UTC: the rule is about the hospital's local day.
    assert certificate_valid_at(expires, datetime(2027, 3, 31, 22, 59, tzinfo=UTC), LONDON)
    assert not certificate_valid_at(expires, datetime(2027, 3, 31, 23, 0, tzinfo=UTC), LONDON)
    assert certificate_valid_on(expires, date(2027, 3, 31))
    assert not certificate_valid_on(expires, date(2027, 4, 1))


def test_no_date_never_expires() -> None:
    assert valid_until(None, LONDON) is None
    assert certificate_valid_at(None, datetime(2099, 1, 1, tzinfo=UTC), LONDON)
    assert certificate_valid_on(None, date.max)


def test_on_the_day_the_clocks_go_back_and_forward() -> None:
    # 25 Oct 2026: London goes back from BST to GMT at 02:00; the day has 25 hours.
    assert valid_until(date(2026, 10, 24), LONDON) == datetime(2026, 10, 24, 23, tzinfo=UTC)
    assert valid_until(date(2026, 10, 25), LONDON) == datetime(2026, 10, 26, 0, tzinfo=UTC)
    late = datetime(2026, 10, 25, 23, 59, tzinfo=UTC)  # 23:59 GMT on the expiry date
    assert certificate_valid_at(date(2026, 10, 25), late, LONDON)
    # 28 Mar 2027: London goes forward at 01:00 GMT; 00:00 on 28 Mar is still GMT.
    assert valid_until(date(2027, 3, 27), LONDON) == datetime(2027, 3, 28, 0, tzinfo=UTC)
    assert valid_until(date(2027, 3, 28), LONDON) == datetime(2027, 3, 28, 23, tzinfo=UTC)


def test_a_day_whose_midnight_is_skipped_starts_when_the_clocks_jump() -> None:
    # Santiago: on 6 Sep 2026 the clocks jump from 00:00 -04 to 01:00 -03 (04:00 UTC).
    zone = "America/Santiago"
    until = valid_until(date(2026, 9, 5), zone)
    assert until == datetime(2026, 9, 6, 4, tzinfo=UTC)
    assert certificate_valid_at(date(2026, 9, 5), until - timedelta(seconds=1), zone)
    assert not certificate_valid_at(date(2026, 9, 5), until, zone)


def test_an_unknown_zone_and_a_naive_instant_are_refused_in_words() -> None:
    with pytest.raises(ValueError, match="time_zone: unknown IANA time zone"):
        valid_until(date(2027, 1, 1), "Mars/Olympus")
    with pytest.raises(ValueError, match="at must be timezone-aware"):
        certificate_valid_at(date(2027, 1, 1), datetime(2027, 1, 1), LONDON)


@settings(max_examples=300, deadline=None)
@given(
    expires=st.dates(date(2026, 1, 1), date(2027, 12, 31)),
    offset_minutes=st.integers(-36 * 60, 36 * 60),
    zone=st.sampled_from([LONDON, "America/Santiago", "America/New_York", "Australia/Sydney"]),
)
def test_valid_at_is_exactly_before_valid_until(
    expires: date, offset_minutes: int, zone: str
) -> None:
    until = valid_until(expires, zone)
    assert until is not None
    at = until + timedelta(minutes=offset_minutes)
    assert certificate_valid_at(expires, at, zone) == (at < until)
    assert certificate_valid_at(expires, at, zone) == (local_date(at, zone) <= expires)


# --- every user of the rule agrees at the same instant --------------------------------------


def _gap_at(expires: date, at: datetime, zone: str) -> bool:
    """The coverage gaps: is ICU without an ACLS nurse at ``at``? Ana is on call around it."""
    start, end = at - timedelta(hours=6), at + timedelta(hours=6)
    requirement = CoverageRequirement(ICU, "ICU", "nurse", zone, skill="ACLS")
    spans = [OnCallSpan(ANA, start, end, ICU_NURSES, ICU, "nurse")]
    gaps = find_gaps([requirement], spans, [Certification(ANA, "ACLS", expires)], start, end)
    return any(g.start <= at < g.end for g in gaps)


def _assignable_at(expires: date, at: datetime, zone: str) -> bool:
    """The automatic assignment: does Ana (ACLS only) qualify for a P1 on ICU at ``at``?
    ``now`` is passed in UTC, as the workers do: the hospital's zone decides the day."""
    ana = Candidate(
        str(ANA),
        "Ana",
        "nurse",
        skills={"ACLS": expires},
        on_shift=True,
        shift_ward_id=str(ICU),
    )
    need = IncidentNeed("P1", str(ICU), "ICU")
    ranking = rank_candidates(need, [ana], at.astimezone(UTC), time_zone=zone)
    return ranking.first is not None


def _reminded_as_valid(expires: date, at: datetime, zone: str) -> bool:
    holder = Person(ANA, "Ana")
    cert = Certificate(uuid.UUID(int=9), "ACLS", expires, holder)
    plan = plan_reminders([cert], local_date(at, zone))
    (reminder,) = [r for r in plan.reminders if r.recipient == holder]
    return reminder.counts_for_assignment


@pytest.mark.parametrize(
    ("zone", "expires", "instant", "valid"),
    [
        (LONDON, date(2027, 3, 31), (2027, 3, 31, 23, 59), True),
        (LONDON, date(2027, 3, 31), (2027, 4, 1, 0, 0), False),
        (LONDON, date(2026, 10, 25), (2026, 10, 25, 23, 59), True),  # 25-hour day
        (LONDON, date(2026, 10, 25), (2026, 10, 26, 0, 0), False),
        (LONDON, date(2027, 3, 28), (2027, 3, 28, 23, 59), True),  # 23-hour day
        (LONDON, date(2027, 3, 28), (2027, 3, 29, 0, 0), False),
        ("America/Santiago", date(2026, 9, 5), (2026, 9, 5, 23, 59), True),
        ("America/Santiago", date(2026, 9, 5), (2026, 9, 6, 1, 0), False),  # 00:00 skipped
    ],
)
def test_gaps_assignment_reminders_and_staff_screen_agree_at_the_boundary(
    zone: str, expires: date, instant: tuple[int, ...], valid: bool
) -> None:
    at = local(zone, *instant)
    assert _assignable_at(expires, at, zone) is valid
    assert _gap_at(expires, at, zone) is (not valid)
    assert _reminded_as_valid(expires, at, zone) is valid
    assert (skill_status(expires, local_date(at, zone)) == "expired") is (not valid)
    assert certificate_valid_at(expires, at, zone) is valid


@settings(max_examples=150, deadline=None)
@given(
    expires=st.dates(date(2026, 3, 1), date(2027, 11, 30)),
    offset_minutes=st.integers(-26 * 60, 26 * 60),
    zone=st.sampled_from([LONDON, "America/Santiago", "Asia/Kolkata"]),
)
def test_a_gap_report_and_an_assignment_at_the_same_instant_agree(
    expires: date, offset_minutes: int, zone: str
) -> None:
    until = valid_until(expires, zone)
    assert until is not None
    at = until + timedelta(minutes=offset_minutes)
    assert _assignable_at(expires, at, zone) is not _gap_at(expires, at, zone)
