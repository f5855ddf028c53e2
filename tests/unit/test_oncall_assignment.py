"""Assignment (healthguard.oncall.assignment): who ranks first and why, who is left out and
why, the fallback when nobody qualifies, the tie-breaks, and properties over random rosters.
The clock is a fixed datetime."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthguard.models.staff import Availability, StaffRole
from healthguard.oncall.assignment import (
    REQUIREMENTS,
    Candidate,
    ExclusionCode,
    IncidentNeed,
    Proximity,
    Requirement,
    rank_candidates,
)
from healthguard.oncall.escalation import CHARGE_NURSE, HOSPITAL_OPERATOR

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
CARD, ICU, MED = "ward-card", "ward-icu", "ward-med"
CARDIOLOGY = IncidentNeed("P1", CARD, "Cardiology", bed="C-12")
VALID = {"BLS": date(2027, 6, 30), "ACLS": date(2027, 3, 31)}


def nurse(staff_id: str, name: str | None = None, **changes: object) -> Candidate:
    """A nurse on shift and available on Cardiology (her home ward), BLS and ACLS valid."""
    base = Candidate(
        staff_id=staff_id,
        display_name=name or f"Nurse {staff_id}",
        role=StaffRole.NURSE,
        skills=dict(VALID),
        home_ward_id=CARD,
        on_shift=True,
        shift_ward_id=CARD,
        shift_ward_name="Cardiology",
        last_assigned_at=NOW - timedelta(hours=3),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def ids(ranking_items: tuple[object, ...]) -> list[str]:
    return [item.staff_id for item in ranking_items]  # type: ignore[attr-defined]


# --- who ranks first, for each reason -------------------------------------------------------


def test_on_the_ward_ranks_before_home_ward_before_covering_before_hospital_wide() -> None:
    on_ward = nurse("a", home_ward_id=MED)  # floated in: on shift on Cardiology today
    home = nurse("b", shift_ward_id=MED, shift_ward_name="General Medicine")
    covering = nurse(
        "c",
        home_ward_id=MED,
        shift_ward_id=MED,
        shift_ward_name="General Medicine",
        covered_ward_ids=frozenset({CARD}),
    )
    float_pool = nurse("d", home_ward_id=None, shift_ward_id=None, shift_ward_name=None)
    ranking = rank_candidates(CARDIOLOGY, [float_pool, covering, home, on_ward], NOW, top=None)

    assert ids(ranking.ranked) == ["a", "b", "c", "d"]
    assert [r.proximity for r in ranking.ranked] == [
        Proximity.ON_WARD,
        Proximity.HOME_WARD,
        Proximity.COVERING,
        Proximity.HOSPITAL_WIDE,
    ]
    assert [r.score.proximity for r in ranking.ranked] == [30, 20, 15, 10]
    assert ranking.ranked[1].reason.startswith("home ward Cardiology (on shift in General Med")
    assert ranking.ranked[2].reason.startswith("covers Cardiology (on shift in General Medicine)")
    assert ranking.ranked[3].reason.startswith("on shift hospital-wide")
    assert ranking.excluded == ()
    assert ranking.fallback is None


def test_the_reason_reads_like_a_charge_nurse_would_say_it() -> None:
    james = nurse(
        "james",
        "James Carter",
        open_incidents={"P3": 1},
        last_assigned_at=NOW - timedelta(minutes=45),
    )
    ranking = rank_candidates(CARDIOLOGY, [james], NOW)

    assert ranking.first is not None
    assert ranking.first.reason == (
        "on shift in Cardiology, ACLS valid to 2027-03, 1 open P3, last assigned 45 min ago"
    )
    assert ranking.first.display_name == "James Carter"
    assert ranking.first.role is StaffRole.NURSE


def test_workload_counts_open_incidents_weighted_by_priority() -> None:
    idle = nurse("idle")
    one_p2 = nurse("one-p2", open_incidents={"P2": 1})
    one_p0 = nurse("one-p0", open_incidents={"P0": 1})
    three_p4 = nurse("three-p4", open_incidents={"P4": 3})
    ranking = rank_candidates(CARDIOLOGY, [one_p0, three_p4, one_p2, idle], NOW, top=None)

    # a P0 weighs 10, a P2 3, a P4 1: three routine checks are less work than one arrest
    assert ids(ranking.ranked) == ["idle", "one-p2", "three-p4", "one-p0"]
    assert [r.score.workload for r in ranking.ranked] == [0, -3, -3, -10]
    assert "1 open P0" in ranking.ranked[3].reason
    assert "3 open P4" in ranking.ranked[2].reason


def test_equal_scores_break_on_open_workload_before_fairness() -> None:
    # one-p2 holds a P2 (-3) but was last assigned 3 h ago (+6); the other was assigned 30
    # minutes ago (+3) and holds nothing: both total 33, the lower workload goes first.
    busy_but_rested = nurse("rested", open_incidents={"P2": 1})
    recent = nurse("recent", last_assigned_at=NOW - timedelta(minutes=30))
    ranking = rank_candidates(CARDIOLOGY, [busy_but_rested, recent], NOW, top=None)

    assert [r.score.total for r in ranking.ranked] == [38, 38]
    assert ids(ranking.ranked) == ["recent", "rested"]


def test_fairness_least_recently_assigned_goes_first() -> None:
    five_min = nurse("five", last_assigned_at=NOW - timedelta(minutes=5))
    fifty_min = nurse("fifty", last_assigned_at=NOW - timedelta(minutes=50))
    ranking = rank_candidates(CARDIOLOGY, [five_min, fifty_min], NOW, top=None)

    assert ids(ranking.ranked) == ["fifty", "five"]
    assert [r.score.fairness for r in ranking.ranked] == [5, 0]


def test_fairness_beyond_its_cap_still_breaks_ties_by_last_assignment() -> None:
    never = nurse("never", "Zed", last_assigned_at=None)
    two_hours = nurse("two", "Amy", last_assigned_at=NOW - timedelta(hours=2))
    five_hours = nurse("five", "Bea", last_assigned_at=NOW - timedelta(hours=5))
    ranking = rank_candidates(CARDIOLOGY, [two_hours, never, five_hours], NOW, top=None)

    assert {r.score.fairness for r in ranking.ranked} == {6}  # all at the cap
    assert ids(ranking.ranked) == ["never", "five", "two"]
    assert ranking.first is not None and "no assignment yet" in ranking.first.reason


def test_full_ties_break_by_name_then_id_whatever_the_input_order() -> None:
    people = [nurse("b2", "Bea"), nurse("a1", "amy"), nurse("b1", "Bea"), nurse("c1", "Cleo")]
    first = rank_candidates(CARDIOLOGY, people, NOW, top=None)
    second = rank_candidates(CARDIOLOGY, list(reversed(people)), NOW, top=None)

    assert ids(first.ranked) == ["a1", "b1", "b2", "c1"]
    assert first.ranked == second.ranked


def test_p1_prefers_acls_over_critical_care_alone() -> None:
    critical_care = nurse("cc", skills={"BLS": date(2027, 1, 1), "critical_care": None})
    acls = nurse("acls", last_assigned_at=NOW - timedelta(minutes=20))  # fairness 2 < 6
    ranking = rank_candidates(CARDIOLOGY, [critical_care, acls], NOW, top=None)

    assert ids(ranking.ranked) == ["acls", "cc"]
    assert [r.score.skills for r in ranking.ranked] == [5, 0]
    assert "critical care (no expiry)" in ranking.ranked[1].reason


def test_p0_goes_to_the_rapid_response_team_holding_acls() -> None:
    need = IncidentNeed("P0", ICU, "ICU")
    rrt = nurse(
        "alex",
        "Alex Morgan",
        role=StaffRole.RAPID_RESPONSE,
        home_ward_id=None,
        shift_ward_id=None,
        shift_ward_name=None,
        covered_ward_ids=frozenset({CARD, ICU, MED}),
    )
    icu_nurse = nurse("zoe", home_ward_id=ICU, shift_ward_id=ICU, shift_ward_name="ICU")
    ranking = rank_candidates(need, [icu_nurse, rrt], NOW)

    assert ids(ranking.ranked) == ["alex"]
    assert ranking.ranked[0].proximity is Proximity.COVERING
    (excluded,) = ranking.excluded
    assert excluded.codes == (ExclusionCode.ROLE,)
    assert excluded.reason == "nurse: a P0 goes to a rapid-response team member"


# --- skills and their expiry -----------------------------------------------------------------


def test_an_expired_acls_does_not_count() -> None:
    expired = nurse("old", "Olivia", skills={"BLS": date(2027, 1, 1), "ACLS": date(2026, 10, 1)})
    ranking = rank_candidates(CARDIOLOGY, [expired, nurse("ok")], NOW)

    assert ids(ranking.ranked) == ["ok"]
    (excluded,) = ranking.excluded
    assert excluded.codes == (ExclusionCode.MISSING_SKILL,)
    assert excluded.reason == "missing ACLS or critical care (ACLS expired 2026-10-01)"


def test_p0_names_the_expired_acls() -> None:
    need = IncidentNeed("P0", ICU, "ICU")
    rrt = nurse(
        "r", role=StaffRole.RAPID_RESPONSE, shift_ward_id=None, skills={"ACLS": date(2026, 10, 1)}
    )
    ranking = rank_candidates(need, [rrt], NOW)

    assert ranking.ranked == ()
    assert ranking.excluded[0].reason == "missing ACLS (expired 2026-10-01)"
    assert ranking.fallback is not None
    assert ranking.fallback.reason == "no rapid-response team member on shift holds a valid ACLS"


def test_a_certification_is_valid_through_its_expiry_date() -> None:
    today = nurse("today", skills={"BLS": NOW.date(), "ACLS": NOW.date()})
    yesterday = nurse("yesterday", skills={"BLS": NOW.date(), "ACLS": date(2026, 11, 25)})
    ranking = rank_candidates(CARDIOLOGY, [today, yesterday], NOW)

    assert ids(ranking.ranked) == ["today"]
    assert ids(ranking.excluded) == ["yesterday"]
    assert "ACLS valid to 2026-11" in ranking.ranked[0].reason


def test_p2_needs_bls_and_p4_needs_nothing() -> None:
    no_bls = nurse("no-bls", skills={})
    p2 = rank_candidates(IncidentNeed("P2", CARD, "Cardiology"), [no_bls], NOW)
    p4 = rank_candidates(IncidentNeed("P4", CARD, "Cardiology"), [no_bls], NOW)

    assert p2.ranked == () and p2.excluded[0].reason == "missing BLS"
    assert ids(p4.ranked) == ["no-bls"]


def test_the_skills_table_is_data() -> None:
    paediatric = dict(REQUIREMENTS)
    paediatric["P4"] = Requirement(frozenset({StaffRole.NURSE}), "nurse", all_of=("PALS",))
    people = [nurse("adult"), nurse("child", skills={"PALS": None})]
    ranking = rank_candidates(
        IncidentNeed("P4", CARD, "Cardiology"), people, NOW, requirements=paediatric
    )

    assert ids(ranking.ranked) == ["child"]
    assert ranking.excluded[0].reason == "missing PALS"


# --- who is left out and why -----------------------------------------------------------------


def test_every_exclusion_names_its_reasons() -> None:
    people = [
        nurse("off", "Off Shift", on_shift=False),
        nurse("break", "On Break", availability=Availability.ON_BREAK),
        nurse("busy", "Busy", availability="busy"),  # as stored
        nurse("off-av", "Marked Off", availability=Availability.OFF),
        nurse(
            "med",
            "Other Ward",
            home_ward_id=MED,
            shift_ward_id=MED,
            shift_ward_name="General Medicine",
        ),
        nurse("doc", "Doctor", role="attending"),  # as stored
        nurse("many", "Many Reasons", role=StaffRole.RESIDENT, on_shift=False, skills={}),
    ]
    ranking = rank_candidates(CARDIOLOGY, people, NOW)

    reasons = {e.staff_id: (e.codes, e.reason) for e in ranking.excluded}
    assert reasons == {
        "off": ((ExclusionCode.OFF_SHIFT,), "off shift"),
        "break": ((ExclusionCode.ON_BREAK,), "on break"),
        "busy": ((ExclusionCode.BUSY,), "busy"),
        "off-av": ((ExclusionCode.OFF_SHIFT,), "off shift"),
        "med": (
            (ExclusionCode.OTHER_WARD,),
            "on shift in General Medicine, does not cover Cardiology",
        ),
        "doc": ((ExclusionCode.ROLE,), "attending: a P1 goes to a nurse"),
        "many": (
            (ExclusionCode.ROLE, ExclusionCode.OFF_SHIFT, ExclusionCode.MISSING_SKILL),
            "resident: a P1 goes to a nurse; off shift; missing ACLS or critical care",
        ),
    }
    # listed by name
    assert [e.display_name for e in ranking.excluded] == sorted(
        (p.display_name for p in people), key=str.casefold
    )
    assert ranking.fallback is not None


# --- nobody qualifies: the fallback -----------------------------------------------------------


def test_nobody_with_valid_acls_in_icu_falls_back_to_charge_nurse_then_operator() -> None:
    need = IncidentNeed("P1", ICU, "ICU")
    icu = {"home_ward_id": ICU, "shift_ward_id": ICU, "shift_ward_name": "ICU"}
    people = [
        nurse("marco", skills={"BLS": date(2027, 1, 1)}, **icu),
        nurse("zoe", skills={"BLS": date(2027, 1, 1), "ACLS": date(2026, 1, 1)}, **icu),
        nurse("cardio", on_shift=False),
    ]
    ranking = rank_candidates(need, people, NOW)

    assert ranking.ranked == () and ranking.qualified == 0 and ranking.first is None
    assert ranking.fallback is not None
    assert ranking.fallback.targets == (CHARGE_NURSE, HOSPITAL_OPERATOR)
    assert ranking.fallback.reason == "no nurse on shift in ICU holds a valid ACLS or critical care"
    assert ranking.fallback.plan == (
        "escalate straight to the charge nurse of ICU, then the hospital operator"
    )


def test_fallback_when_nobody_is_on_shift() -> None:
    ranking = rank_candidates(CARDIOLOGY, [nurse("a", on_shift=False)], NOW)

    assert ranking.fallback is not None
    assert ranking.fallback.reason == "no nurse is on shift in or covering Cardiology"
    empty = rank_candidates(IncidentNeed("P0", ICU, "ICU"), [], NOW)
    assert empty.fallback is not None
    assert empty.fallback.reason == "no rapid-response team member is on shift"


def test_fallback_when_everyone_qualified_is_busy_or_on_break() -> None:
    people = [nurse("a", availability=Availability.BUSY), nurse("b", availability="on_break")]
    ranking = rank_candidates(CARDIOLOGY, people, NOW)

    assert ranking.fallback is not None
    assert ranking.fallback.reason == (
        "every nurse on shift in Cardiology with a valid ACLS or critical care is busy or on a "
        "break"
    )


# --- shape of the answer ---------------------------------------------------------------------


def test_top_limits_the_ranking_but_counts_everyone_who_qualifies() -> None:
    people = [nurse(f"n{i}", open_incidents={"P3": i}) for i in range(6)]
    ranking = rank_candidates(CARDIOLOGY, people, NOW)

    assert ids(ranking.ranked) == ["n0", "n1", "n2"]
    assert ranking.qualified == 6
    assert ranking.excluded == ()
    assert ids(rank_candidates(CARDIOLOGY, people, NOW, top=1).ranked) == ["n0"]


def test_refuses_a_naive_clock_a_duplicate_and_a_bad_top() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        rank_candidates(CARDIOLOGY, [], NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="listed twice"):
        rank_candidates(CARDIOLOGY, [nurse("a"), nurse("a")], NOW)
    with pytest.raises(ValueError, match="top"):
        rank_candidates(CARDIOLOGY, [], NOW, top=0)
    with pytest.raises(ValueError, match="priority"):
        IncidentNeed("P9", CARD, "Cardiology")


# --- properties over random rosters ----------------------------------------------------------

WARDS = (CARD, ICU, MED)
skill_dates = st.one_of(st.none(), st.dates(date(2026, 10, 1), date(2027, 2, 1)))


def candidate_strategy(staff_id: str) -> st.SearchStrategy[Candidate]:
    return st.builds(
        Candidate,
        staff_id=st.just(staff_id),
        display_name=st.sampled_from(["Amy", "Bea", "Cleo", "Dan"]),
        role=st.sampled_from(list(StaffRole)),
        skills=st.dictionaries(st.sampled_from(["BLS", "ACLS", "critical_care"]), skill_dates),
        home_ward_id=st.sampled_from((*WARDS, None)),
        covered_ward_ids=st.frozensets(st.sampled_from(WARDS), max_size=2),
        on_shift=st.booleans(),
        shift_ward_id=st.sampled_from((*WARDS, None)),
        availability=st.sampled_from(list(Availability)),
        open_incidents=st.dictionaries(st.sampled_from(["P0", "P2", "P4"]), st.integers(0, 3)),
        last_assigned_at=st.one_of(
            st.none(), st.integers(0, 600).map(lambda m: NOW - timedelta(minutes=m))
        ),
    )


@st.composite
def rosters(draw: st.DrawFn) -> list[Candidate]:
    size = draw(st.integers(0, 12))
    return [draw(candidate_strategy(f"s{i}")) for i in range(size)]


@settings(max_examples=80, deadline=None)
@given(
    roster=rosters(),
    priority=st.sampled_from(["P0", "P1", "P2", "P3", "P4"]),
    ward=st.sampled_from(WARDS),
    seed=st.integers(0, 2**16),
)
def test_ranking_is_a_permutation_of_exactly_those_who_qualify(
    roster: list[Candidate], priority: str, ward: str, seed: int
) -> None:
    need = IncidentNeed(priority, ward, "Ward")
    requirement = REQUIREMENTS[priority]
    ranking = rank_candidates(need, roster, NOW, top=None)

    ranked, excluded = ids(ranking.ranked), ids(ranking.excluded)
    assert len(set(ranked)) == len(ranked) == ranking.qualified
    assert set(ranked).isdisjoint(excluded)
    assert sorted(ranked + excluded) == sorted(c.staff_id for c in roster)
    by_id = {c.staff_id: c for c in roster}
    for item in ranking.ranked:
        c = by_id[item.staff_id]
        assert c.on_shift and c.availability is Availability.AVAILABLE
        assert c.role in requirement.roles
        for skill in requirement.all_of:
            assert skill in c.skills and (c.skills[skill] or NOW.date()) >= NOW.date()
    for exclusion in ranking.excluded:
        assert exclusion.codes and len(exclusion.codes) == len(exclusion.reasons)
    totals = [r.score.total for r in ranking.ranked]
    assert totals == sorted(totals, reverse=True)
    assert (ranking.fallback is None) == bool(ranked)

    shuffled = list(roster)
    random.Random(seed).shuffle(shuffled)
    again = rank_candidates(need, shuffled, NOW, top=None)
    assert again.ranked == ranking.ranked
    assert again.excluded == ranking.excluded
    assert rank_candidates(need, shuffled, NOW, top=2).ranked == ranking.ranked[:2]
