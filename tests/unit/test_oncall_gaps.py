"""Coverage gaps (healthguard.oncall.gaps): missing skills, certifications expiring mid-window,
minimum counts, hospital-wide cover, merging of adjacent pieces, the messages a charge nurse
reads (local time, across midnight, over days), and a property (hypothesis): an instant is in
a gap exactly when fewer qualified people than needed are on call."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthguard.models.staff import StaffSkill
from healthguard.oncall.gaps import Certification, CoverageRequirement, Gap, find_gaps
from healthguard.oncall.rotations import (
    Handoff,
    Layer,
    OnCallSpan,
    Rotation,
    Schedule,
    TimeWindow,
    spans_between,
)

pytestmark = pytest.mark.unit

ANN, BEN, CAT, DAN = (uuid.UUID(int=n) for n in (1, 2, 3, 4))
ICU, WARD_7 = uuid.UUID(int=100), uuid.UUID(int=107)
ICU_NURSES, WARD_7_NURSES, RAPID = (uuid.UUID(int=n) for n in (200, 207, 299))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def span(
    person: uuid.UUID,
    start: datetime,
    end: datetime,
    *,
    ward: uuid.UUID | None = ICU,
    role: str = "nurse",
    schedule: uuid.UUID = ICU_NURSES,
) -> OnCallSpan:
    return OnCallSpan(person, start, end, schedule, ward, role)


def acls_nurse(minimum: int = 1, **changes: Any) -> CoverageRequirement:
    fields: dict[str, Any] = {
        "ward_id": ICU,
        "ward_name": "ICU",
        "role": "nurse",
        "time_zone": "Europe/London",
        "minimum": minimum,
        "skill": "ACLS",
    }
    fields.update(changes)
    return CoverageRequirement(**fields)


def summary(gaps: list[Gap]) -> list[tuple[datetime, datetime, int, str]]:
    return [(g.start, g.end, g.missing, g.message) for g in gaps]


NIGHT = (utc(2026, 12, 2, 19), utc(2026, 12, 3, 7))  # London is on GMT (= UTC) in December


def test_the_night_without_an_acls_nurse() -> None:
    spans = [span(ANN, utc(2026, 12, 2, 19), utc(2026, 12, 3, 2)), span(BEN, *NIGHT)]
    skills = [Certification(ANN, "ACLS"), Certification(BEN, "BLS")]
    gaps = find_gaps([acls_nurse()], spans, skills, *NIGHT)
    assert summary(gaps) == [
        (
            utc(2026, 12, 3, 2),
            utc(2026, 12, 3, 7),
            1,
            "ICU has no ACLS-certified nurse on 3 Dec 02:00-07:00",
        )
    ]
    (gap,) = gaps
    assert (gap.ward_id, gap.ward_name, gap.on_call, gap.requirement) == (
        ICU,
        "ICU",
        0,
        acls_nurse(),
    )


def test_a_certification_counts_through_its_expiry_date_and_stops_at_midnight() -> None:
    spans = [span(ANN, *NIGHT)]
    # Expires on 2 Dec: valid through the evening of 2 Dec, not after 00:00 on 3 Dec.
    expiring = [Certification(ANN, "ACLS", expires_on=date(2026, 12, 2))]
    assert summary(find_gaps([acls_nurse()], spans, expiring, *NIGHT)) == [
        (
            utc(2026, 12, 3, 0),
            utc(2026, 12, 3, 7),
            1,
            "ICU has no ACLS-certified nurse on 3 Dec 00:00-07:00",
        )
    ]
    valid_through_the_night = [Certification(ANN, "ACLS", expires_on=date(2026, 12, 3))]
    assert find_gaps([acls_nurse()], spans, valid_through_the_night, *NIGHT) == []


def test_expiry_midnight_is_local_time_in_summer() -> None:
    night = (utc(2026, 7, 2, 18), utc(2026, 7, 3, 6))  # 19:00-07:00 BST
    spans = [span(ANN, *night)]
    skills = [Certification(ANN, "ACLS", expires_on=date(2026, 7, 2))]
    assert summary(find_gaps([acls_nurse()], spans, skills, *night)) == [
        (
            utc(2026, 7, 2, 23),  # 00:00 BST
            utc(2026, 7, 3, 6),
            1,
            "ICU has no ACLS-certified nurse on 3 Jul 00:00-07:00",
        )
    ]


def test_an_already_expired_certification_never_counts_and_the_latest_record_wins() -> None:
    spans = [span(ANN, *NIGHT)]
    expired = [Certification(ANN, "ACLS", expires_on=date(2026, 11, 30))]
    assert [g.start for g in find_gaps([acls_nurse()], spans, expired, *NIGHT)] == [NIGHT[0]]
    renewed = [*expired, Certification(ANN, "acls", expires_on=date(2027, 11, 30))]
    assert find_gaps([acls_nurse()], spans, renewed, *NIGHT) == []
    no_expiry = [*expired, Certification(ANN, "ACLS", expires_on=None)]
    assert find_gaps([acls_nurse()], spans, no_expiry, *NIGHT) == []


def test_staff_skill_rows_are_accepted_as_they_are() -> None:
    rows = [StaffSkill(staff_id=ANN, skill="ACLS", expires_on=date(2026, 12, 2))]
    (gap,) = find_gaps([acls_nurse()], [span(ANN, *NIGHT)], rows, *NIGHT)
    assert gap.start == utc(2026, 12, 3)


def test_a_gap_across_midnight_and_one_over_days() -> None:
    spans = [span(ANN, utc(2026, 12, 2, 19), utc(2026, 12, 2, 23))]
    skills = [Certification(ANN, "ACLS")]
    assert [g.message for g in find_gaps([acls_nurse()], spans, skills, *NIGHT)] == [
        "ICU has no ACLS-certified nurse from 2 Dec 23:00 to 3 Dec 07:00"
    ]
    days = (utc(2026, 12, 2, 19), utc(2026, 12, 4, 7))
    assert [g.message for g in find_gaps([acls_nurse()], [], [], *days)] == [
        "ICU has no ACLS-certified nurse from 2 Dec 19:00 to 4 Dec 07:00"
    ]
    whole_days = (utc(2026, 12, 3), utc(2026, 12, 5))
    assert [g.message for g in find_gaps([acls_nurse()], [], [], *whole_days)] == [
        "ICU has no ACLS-certified nurse all day from 3 Dec to 4 Dec"
    ]


def test_adjacent_pieces_are_merged_across_a_handoff_between_unqualified_nurses() -> None:
    spans = [
        span(ANN, utc(2026, 12, 2, 19), utc(2026, 12, 2, 23)),
        span(BEN, utc(2026, 12, 2, 23), utc(2026, 12, 3, 3)),
        span(CAT, utc(2026, 12, 3, 3), utc(2026, 12, 3, 7)),
    ]
    (gap,) = find_gaps([acls_nurse()], spans, [Certification(DAN, "ACLS")], *NIGHT)
    assert (gap.start, gap.end) == NIGHT


def test_minimum_counts_and_a_changing_shortfall() -> None:
    spans = [span(ANN, *NIGHT), span(BEN, utc(2026, 12, 2, 19), utc(2026, 12, 3, 1))]
    skills = [Certification(ANN, "ACLS"), Certification(BEN, "ACLS")]
    assert summary(find_gaps([acls_nurse(2)], spans, skills, *NIGHT)) == [
        (
            utc(2026, 12, 3, 1),
            utc(2026, 12, 3, 7),
            1,
            "ICU has only 1 of the 2 ACLS-certified nurses needed on 3 Dec 01:00-07:00",
        )
    ]
    only_ann_until_3 = [span(ANN, utc(2026, 12, 2, 19), utc(2026, 12, 3, 3))]
    assert summary(find_gaps([acls_nurse(2)], only_ann_until_3, skills, *NIGHT)) == [
        (
            utc(2026, 12, 2, 19),
            utc(2026, 12, 3, 3),
            1,
            "ICU has only 1 of the 2 ACLS-certified nurses needed from 2 Dec 19:00 to 3 Dec 03:00",
        ),
        (
            utc(2026, 12, 3, 3),
            utc(2026, 12, 3, 7),
            2,
            "ICU has no ACLS-certified nurses (2 needed) on 3 Dec 03:00-07:00",
        ),
    ]


def test_a_person_on_call_twice_at_once_counts_once() -> None:
    spans = [span(ANN, *NIGHT), span(ANN, *NIGHT, schedule=uuid.UUID(int=201))]
    gaps = find_gaps([acls_nurse(2)], spans, [Certification(ANN, "ACLS")], *NIGHT)
    assert [(g.on_call, g.missing) for g in gaps] == [(1, 1)]


def test_only_spans_of_the_ward_and_role_count() -> None:
    spans = [
        span(ANN, *NIGHT, ward=WARD_7, schedule=WARD_7_NURSES),
        span(BEN, *NIGHT, role="charge_nurse"),
    ]
    skills = [Certification(ANN, "ACLS"), Certification(BEN, "ACLS")]
    assert [g.missing for g in find_gaps([acls_nurse()], spans, skills, *NIGHT)] == [1]


def test_hospital_wide_cover_counts_for_a_ward_unless_told_otherwise() -> None:
    rapid = [span(CAT, *NIGHT, ward=None, role="rapid_response", schedule=RAPID)]
    need = CoverageRequirement(ICU, "ICU", "rapid_response", "Europe/London")
    assert find_gaps([need], rapid, [], *NIGHT) == []
    strict = CoverageRequirement(
        ICU, "ICU", "rapid_response", "Europe/London", hospital_wide_counts=False
    )
    assert [g.message for g in find_gaps([strict], rapid, [], *NIGHT)] == [
        "ICU has no rapid response team member from 2 Dec 19:00 to 3 Dec 07:00"
    ]
    hospital = CoverageRequirement(None, "The hospital", "rapid_response", "Europe/London")
    assert find_gaps([hospital], rapid, [], *NIGHT) == []
    ward_only = [span(CAT, *NIGHT, ward=ICU, role="rapid_response")]
    assert [g.ward_name for g in find_gaps([hospital], ward_only, [], *NIGHT)] == ["The hospital"]


def test_a_skill_that_is_not_a_certification_reads_as_words() -> None:
    need = acls_nurse(skill="critical_care")
    assert [g.message for g in find_gaps([need], [], [], *NIGHT)] == [
        "ICU has no nurse with critical care from 2 Dec 19:00 to 3 Dec 07:00"
    ]


def test_no_skill_asked_for_counts_every_nurse() -> None:
    need = acls_nurse(skill=None)
    assert find_gaps([need], [span(ANN, *NIGHT)], [], *NIGHT) == []


def test_gaps_of_several_requirements_are_sorted_by_start() -> None:
    spans = [span(ANN, utc(2026, 12, 2, 19), utc(2026, 12, 3, 2))]
    need_2 = CoverageRequirement(WARD_7, "Ward 7", "nurse", "Europe/London")
    gaps = find_gaps([acls_nurse(skill=None), need_2], spans, [], *NIGHT)
    assert [(g.ward_name, g.start) for g in gaps] == [
        ("Ward 7", utc(2026, 12, 2, 19)),
        ("ICU", utc(2026, 12, 3, 2)),
    ]


def test_gaps_from_a_real_schedule_with_a_weekend_hole() -> None:
    # Weekday-only day shifts: the weekend days are gaps, in local (BST) time.
    weekdays_only = Layer(
        "weekdays",
        Rotation((ANN, BEN), datetime(2026, 6, 1, 7, 0), Handoff.DAILY),
        windows=(TimeWindow(time(7), time(19), frozenset(range(5))),),
    )
    schedule = Schedule(
        ICU_NURSES, "nurse", ICU, "Europe/London", (weekdays_only,), ward_name="ICU"
    )
    window = (utc(2026, 6, 5, 6), utc(2026, 6, 8, 18))  # Fri 07:00 to Mon 19:00 BST
    need = CoverageRequirement(ICU, "ICU", "nurse", "Europe/London")
    gaps = find_gaps([need], spans_between(schedule, *window), [], *window)
    assert [g.message for g in gaps] == ["ICU has no nurse from 5 Jun 19:00 to 8 Jun 07:00"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"minimum": 0}, "minimum: from 1 to 100"),
        ({"ward_name": " "}, "ward_name"),
        ({"time_zone": "Europe/Londn"}, "unknown IANA time zone"),
        ({"skill": ""}, "skill"),
    ],
)
def test_invalid_requirements_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        acls_nurse(**changes)


def test_naive_and_unbounded_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        find_gaps([acls_nurse()], [], [], datetime(2026, 12, 2), utc(2026, 12, 3))
    with pytest.raises(ValueError, match="at most 400 days"):
        find_gaps([acls_nurse()], [], [], utc(2026, 1, 1), utc(2027, 3, 1))


# --- property -------------------------------------------------------------------------------

BASE = utc(2026, 12, 1)
PEOPLE = [ANN, BEN, CAT, DAN]


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[OnCallSpan], list[Certification], int]:
    spans = []
    for _ in range(draw(st.integers(0, 8))):
        a = draw(st.integers(0, 48))
        b = draw(st.integers(a + 1, 49))
        spans.append(
            span(
                draw(st.sampled_from(PEOPLE)),
                BASE + timedelta(hours=a),
                BASE + timedelta(hours=b),
                schedule=draw(st.sampled_from([ICU_NURSES, uuid.UUID(int=201)])),
            )
        )
    skills = [
        Certification(
            person,
            "ACLS",
            draw(st.none() | st.dates(date(2026, 11, 30), date(2026, 12, 4))),
        )
        for person in draw(st.lists(st.sampled_from(PEOPLE), unique=True))
    ]
    return spans, skills, draw(st.integers(1, 3))


@settings(max_examples=200, deadline=None)
@given(cases(), st.integers(0, 48 * 4 - 1))
def test_an_instant_is_in_a_gap_exactly_when_too_few_qualified_people_are_on(
    case: tuple[list[OnCallSpan], list[Certification], int], quarter: int
) -> None:
    spans, skills, minimum = case
    start, end = BASE, BASE + timedelta(hours=48)
    gaps = find_gaps([acls_nurse(minimum)], spans, skills, start, end)
    for before, after in pairwise(gaps):
        assert before.end <= after.start
        assert before.end < after.start or before.missing != after.missing  # merged otherwise
    at = start + timedelta(minutes=15 * quarter)
    valid_until = {c.staff_id: c.expires_on for c in skills}
    qualified = {
        s.staff_id
        for s in spans
        if s.start <= at < s.end
        and s.staff_id in valid_until
        and (
            valid_until[s.staff_id] is None
            # London is on GMT (= UTC) in these days: valid through the expiry date.
            or at.date() <= valid_until[s.staff_id]  # type: ignore[operator]
        )
    }
    containing = [g for g in gaps if g.start <= at < g.end]
    if len(qualified) >= minimum:
        assert containing == []
    else:
        (gap,) = containing
        assert gap.missing == minimum - len(qualified)
        assert gap.on_call == len(qualified)
