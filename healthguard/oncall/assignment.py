"""Who should go: rank the staff who can take an incident now, and say why in plain words.

Pure: no I/O, no clock (``now`` is passed in). The adapter loads the roster (staff, skills,
covered wards, the shift each person is on now, open incidents per priority, when each was
last assigned), calls ``rank_candidates(need, candidates, now)`` and assigns
``ranking.first`` or, when nobody qualifies, follows ``ranking.fallback``.

**Who qualifies** (everything must hold; an excluded person gets every reason that applies):

1. the role the priority goes to (``REQUIREMENTS``): a P0 goes to the rapid-response team,
   P1-P4 to a nurse (the primary nurse; the charge nurse and the doctors are the escalation
   steps behind them, not the first call);
2. on shift now and ``available`` (not busy, on a break or off);
3. near the patient: on shift on the patient's ward, or the patient's ward is their home
   ward, or they cover it, or they are on a hospital-wide shift (``shift_ward_id`` None: the
   rapid-response team, float nurses);
4. the skills the priority needs, valid at ``now``: a certification counts through the end
   of its expiry date in the hospital's time zone (``time_zone``; without it, ``now``'s own
   zone) and not from 00:00 on the next day, the one rule of
   ``healthguard.oncall.certificates`` that the coverage gaps use too; an expired one does
   not count.

The skills table (data, ``REQUIREMENTS``):

| priority | goes to | needs (valid) | preferred (bonus) |
| --- | --- | --- | --- |
| P0 cardiac arrest | rapid-response team | ACLS | - |
| P1 emergency | nurse | ACLS or critical care | ACLS |
| P2 urgent | nurse | BLS | - |
| P3 review | nurse | BLS | - |
| P4 routine | nurse | - | - |

A P1 may turn into an arrest within minutes: either certification lets the nurse start
advanced care, and an ACLS holder is preferred. Where no nurse holds either, the fallback
pages the charge nurse at once, which is what a ward would do.

**Score** (points, higher is better; ``AssignmentWeights``, data too):

- proximity: on shift on the ward 30, home ward (on shift elsewhere) 20, covers the ward 15,
  hospital-wide 10;
- workload: minus 10 per open P0, 6 per P1, 3 per P2, 2 per P3, 1 per P4 they hold;
- fairness: 1 per 10 minutes since their last assignment, at most 6 (an hour or never);
- preferred skill: 5 per preferred skill held valid.

So a nurse on the ward wins over a covering nurse unless already holding a lot (a P0 and a
P1), and between equals the one with less open work, then the least recently assigned, goes.
Ties are broken, in order, by: the higher score, the nearer, the lower open workload, the
least recently assigned (never assigned first), the name, the staff id; the ranking does not
depend on the order of the candidates.

Cost: one pass over the candidates with constant work each, then a partial sort of those who
qualify (``heapq.nsmallest`` for the top N); sentences are written only for the top N, and
the excluded list (``Ranking.excluded``) only when it is read. 500 candidates take about
0.2 ms to rank (a few ms more when the excluded list is read).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum
from functools import cached_property

from healthguard.incidents.priority import PRIORITIES, validate_priority
from healthguard.models.staff import Availability, Skill, StaffRole
from healthguard.oncall.certificates import certificate_valid_on, local_date
from healthguard.oncall.escalation import FALLBACK_CHAIN, Target

__all__ = [
    "DEFAULT_WEIGHTS",
    "REQUIREMENTS",
    "AssignmentWeights",
    "Candidate",
    "Exclusion",
    "ExclusionCode",
    "Fallback",
    "IncidentNeed",
    "Proximity",
    "RankedCandidate",
    "Ranking",
    "Requirement",
    "ScoreParts",
    "rank_candidates",
]


class Proximity(StrEnum):
    ON_WARD = "on_ward"  # on shift on the patient's ward
    HOME_WARD = "home_ward"  # the patient's ward is their home ward; on shift elsewhere
    COVERING = "covering"  # covers the patient's ward from another ward
    HOSPITAL_WIDE = "hospital_wide"  # on a hospital-wide shift


class ExclusionCode(StrEnum):
    ROLE = "role"
    OFF_SHIFT = "off_shift"
    BUSY = "busy"
    ON_BREAK = "on_break"
    OTHER_WARD = "other_ward"
    MISSING_SKILL = "missing_skill"


@dataclass(frozen=True)
class Requirement:
    """Who may take an incident of one priority. ``any_of``: at least one of them (empty: no
    condition); ``all_of``: every one; ``preferred``: a score bonus each. ``responder``: the
    noun for sentences ("nurse")."""

    roles: frozenset[StaffRole]
    responder: str
    all_of: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    preferred: tuple[str, ...] = ()


_NURSE = frozenset({StaffRole.NURSE})
REQUIREMENTS: dict[str, Requirement] = {
    "P0": Requirement(
        frozenset({StaffRole.RAPID_RESPONSE}), "rapid-response team member", all_of=(Skill.ACLS,)
    ),
    "P1": Requirement(
        _NURSE, "nurse", any_of=(Skill.ACLS, Skill.CRITICAL_CARE), preferred=(Skill.ACLS,)
    ),
    "P2": Requirement(_NURSE, "nurse", all_of=(Skill.BLS,)),
    "P3": Requirement(_NURSE, "nurse", all_of=(Skill.BLS,)),
    "P4": Requirement(_NURSE, "nurse"),
}


@dataclass(frozen=True)
class AssignmentWeights:
    proximity: Mapping[Proximity, int] = field(
        default_factory=lambda: {
            Proximity.ON_WARD: 30,
            Proximity.HOME_WARD: 20,
            Proximity.COVERING: 15,
            Proximity.HOSPITAL_WIDE: 10,
        }
    )
    per_open_incident: Mapping[str, int] = field(
        default_factory=lambda: {"P0": 10, "P1": 6, "P2": 3, "P3": 2, "P4": 1}
    )
    fairness_minutes_per_point: int = 10
    fairness_max_points: int = 6
    preferred_skill: int = 5


DEFAULT_WEIGHTS = AssignmentWeights()


@dataclass(frozen=True)
class IncidentNeed:
    priority: str
    ward_id: str
    ward_name: str
    bed: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "priority", validate_priority(self.priority))


@dataclass(frozen=True)
class Candidate:
    """A staff member as the roster sees them now.

    ``skills``: skill name -> expiry date (None: does not expire). ``shift_ward_id``: the ward
    of the shift they are on now, None for a hospital-wide shift (only read when
    ``on_shift``). ``open_incidents``: priority -> how many open incidents they hold.
    """

    staff_id: str
    display_name: str
    role: StaffRole
    skills: Mapping[str, date | None] = field(default_factory=dict)
    home_ward_id: str | None = None
    covered_ward_ids: frozenset[str] = frozenset()
    on_shift: bool = False
    shift_ward_id: str | None = None
    shift_ward_name: str | None = None
    availability: Availability = Availability.AVAILABLE
    open_incidents: Mapping[str, int] = field(default_factory=dict)
    last_assigned_at: datetime | None = None

    def __post_init__(self) -> None:
        # Accept the columns as stored ("nurse", "on_break").
        object.__setattr__(self, "role", StaffRole(self.role))
        object.__setattr__(self, "availability", Availability(self.availability))
        object.__setattr__(self, "covered_ward_ids", frozenset(self.covered_ward_ids))


@dataclass(frozen=True)
class ScoreParts:
    proximity: int
    workload: int  # zero or negative
    fairness: int
    skills: int  # preferred skills

    @property
    def total(self) -> int:
        return self.proximity + self.workload + self.fairness + self.skills


@dataclass(frozen=True)
class RankedCandidate:
    staff_id: str
    display_name: str
    role: StaffRole
    proximity: Proximity
    score: ScoreParts
    reason: str  # "on shift in Cardiology, ACLS valid to 2027-03, 1 open P3, ..."


@dataclass(frozen=True)
class Exclusion:
    staff_id: str
    display_name: str
    codes: tuple[ExclusionCode, ...]
    reasons: tuple[str, ...]  # one per code, in the same order

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


@dataclass(frozen=True)
class Fallback:
    """Nobody qualifies: page these at once, in order (the charge nurse of the ward, then the
    hospital operator)."""

    targets: tuple[Target, ...]
    reason: str  # "nobody on shift in ICU holds a valid ACLS"
    plan: str  # "escalate straight to the charge nurse of ICU, then the hospital operator"


@dataclass(frozen=True)
class Ranking:
    """The answer. ``excluded`` (everyone who does not qualify, by name, with every reason)
    is written when first read: a charge nurse asking "why not her?" reads it, the
    assignment job does not need it."""

    need: IncidentNeed
    ranked: tuple[RankedCandidate, ...]  # the best first, at most ``top``
    qualified: int  # how many qualify (ranked may be fewer)
    fallback: Fallback | None  # set exactly when nobody qualifies
    left_out: tuple[Candidate, ...] = field(default=(), repr=False)
    requirement: Requirement | None = field(default=None, repr=False)
    today: date | None = field(default=None, repr=False)

    @property
    def first(self) -> RankedCandidate | None:
        return self.ranked[0] if self.ranked else None

    @cached_property
    def excluded(self) -> tuple[Exclusion, ...]:
        if self.requirement is None or self.today is None:
            return ()
        people = sorted(self.left_out, key=lambda c: (c.display_name.casefold(), c.staff_id))
        return tuple(_exclusion(c, self.need, self.requirement, self.today) for c in people)


def rank_candidates(
    need: IncidentNeed,
    candidates: Sequence[Candidate],
    now: datetime,
    *,
    top: int | None = 3,
    requirements: Mapping[str, Requirement] = REQUIREMENTS,
    weights: AssignmentWeights = DEFAULT_WEIGHTS,
    time_zone: str | tzinfo | None = None,
) -> Ranking:
    """Rank who can take ``need`` now (``top`` None: every qualified candidate).
    ``time_zone``: the hospital's, for the certificates' expiry dates (None: ``now``'s)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if top is not None and top < 1:
        raise ValueError("top must be 1 or more (or None for everyone)")
    requirement = requirements[need.priority]
    today = now.date() if time_zone is None else local_date(now, time_zone)
    ward = need.ward_id
    roles = requirement.roles
    all_of, any_of = requirement.all_of, requirement.any_of
    proximity_points = weights.proximity
    per_open = weights.per_open_incident
    now_ts = now.timestamp()
    seconds_per_point = weights.fairness_minutes_per_point * 60
    fairness_max = weights.fairness_max_points
    available, off = Availability.AVAILABLE, Availability.OFF

    qualified: list[_Entry] = []
    left_out: list[Candidate] = []
    on_shift_here = 0  # the right role, on shift near the patient
    skilled_here = 0  # ... and holding the skills
    for c in candidates:
        proximity: Proximity | None = None
        if c.on_shift and c.availability is not off and c.role in roles:
            if c.shift_ward_id == ward:
                proximity = Proximity.ON_WARD
            elif c.home_ward_id == ward:
                proximity = Proximity.HOME_WARD
            elif ward in c.covered_ward_ids:
                proximity = Proximity.COVERING
            elif c.shift_ward_id is None:
                proximity = Proximity.HOSPITAL_WIDE
        if proximity is None:
            left_out.append(c)
            continue
        on_shift_here += 1
        if not _holds(c.skills, all_of, any_of, today):
            left_out.append(c)
            continue
        skilled_here += 1
        if c.availability is not available:
            left_out.append(c)
            continue
        load = 0
        for priority, count in c.open_incidents.items():
            load += per_open.get(priority, 0) * count
        last = c.last_assigned_at
        if last is None:
            fairness = fairness_max
            last_ts = float("-inf")
        else:
            last_ts = last.timestamp()
            fairness = min(fairness_max, max(0, int(now_ts - last_ts) // seconds_per_point))
        bonus = 0
        for skill in requirement.preferred:
            if _valid(c.skills, skill, today):
                bonus += weights.preferred_skill
        parts = ScoreParts(proximity_points[proximity], -load, fairness, bonus)
        key = (-parts.total, -parts.proximity, load, last_ts, c.display_name.casefold(), c.staff_id)
        qualified.append((key, c, proximity, parts))

    if len({c.staff_id for c in candidates}) != len(candidates):
        raise ValueError("a staff id is listed twice among the candidates")
    best = sorted(qualified, key=_key) if top is None else heapq.nsmallest(top, qualified, _key)
    ranked = tuple(
        RankedCandidate(
            c.staff_id,
            c.display_name,
            c.role,
            proximity,
            parts,
            _reason(c, proximity, need, requirement, now, today),
        )
        for _, c, proximity, parts in best
    )
    fallback = None
    if not qualified:
        fallback = _fallback(need, requirement, on_shift_here, skilled_here)
    return Ranking(need, ranked, len(qualified), fallback, tuple(left_out), requirement, today)


def _exclusion(
    c: Candidate, need: IncidentNeed, requirement: Requirement, today: date
) -> Exclusion:
    """Every reason ``c`` does not qualify for ``need``, in the order a charge nurse checks."""
    codes: list[ExclusionCode] = []
    reasons: list[str] = []
    if c.role not in requirement.roles:
        codes.append(ExclusionCode.ROLE)
        noun = _ROLE_NOUNS.get(c.role, c.role)
        reasons.append(f"{noun}: a {need.priority} goes to a {requirement.responder}")
    if not c.on_shift or c.availability is Availability.OFF:
        codes.append(ExclusionCode.OFF_SHIFT)
        reasons.append("off shift")
    else:
        if c.availability is Availability.BUSY:
            codes.append(ExclusionCode.BUSY)
            reasons.append("busy")
        elif c.availability is Availability.ON_BREAK:
            codes.append(ExclusionCode.ON_BREAK)
            reasons.append("on break")
        ward = need.ward_id
        near = (
            c.shift_ward_id in (ward, None) or c.home_ward_id == ward or ward in c.covered_ward_ids
        )
        if not near:
            codes.append(ExclusionCode.OTHER_WARD)
            reasons.append(
                f"on shift in {c.shift_ward_name or 'another ward'}, "
                f"does not cover {need.ward_name}"
            )
    missing = _missing_skills(c.skills, requirement, today)
    if missing:
        codes.append(ExclusionCode.MISSING_SKILL)
        reasons.append(missing)
    return Exclusion(c.staff_id, c.display_name, tuple(codes), tuple(reasons))


# --- helpers ---------------------------------------------------------------------------------

_ROLE_NOUNS: dict[str, str] = {
    StaffRole.NURSE: "nurse",
    StaffRole.CHARGE_NURSE: "charge nurse",
    StaffRole.RESIDENT: "resident",
    StaffRole.ATTENDING: "attending",
    StaffRole.RAPID_RESPONSE: "rapid-response team",
    StaffRole.OPERATOR: "operator",
}

_HOSPITAL_WIDE_ROLES = frozenset({StaffRole.RAPID_RESPONSE, StaffRole.OPERATOR})

_SKILL_WORDS: dict[str, str] = {Skill.CRITICAL_CARE: "critical care"}


_Entry = tuple[tuple[object, ...], Candidate, Proximity, ScoreParts]  # (sort key, ...)


def _key(entry: _Entry) -> tuple[object, ...]:
    return entry[0]


def _skill(name: str) -> str:
    return _SKILL_WORDS.get(name, name)


def _valid(skills: Mapping[str, date | None], name: str, today: date) -> bool:
    """Held, and valid on the hospital's local date ``today`` (through its expiry date)."""
    if name not in skills:
        return False
    return certificate_valid_on(skills[name], today)


def _holds(
    skills: Mapping[str, date | None],
    all_of: tuple[str, ...],
    any_of: tuple[str, ...],
    today: date,
) -> bool:
    for name in all_of:
        if not _valid(skills, name, today):
            return False
    if not any_of:
        return True
    return any(_valid(skills, name, today) for name in any_of)


def _missing_skills(
    skills: Mapping[str, date | None], requirement: Requirement, today: date
) -> str:
    """What is missing, e.g. "missing ACLS (expired 2026-10-01)"; empty when nothing is."""
    missing: list[str] = []
    for name in requirement.all_of:
        if not _valid(skills, name, today):
            missing.append(_missing_one(skills, name))
    if requirement.any_of and not any(_valid(skills, n, today) for n in requirement.any_of):
        expired = [f"{_skill(n)} expired {skills[n]}" for n in requirement.any_of if skills.get(n)]
        words = " or ".join(_skill(n) for n in requirement.any_of)
        missing.append(words + (f" ({', '.join(expired)})" if expired else ""))
    if not missing:
        return ""
    return "missing " + ", ".join(missing)


def _missing_one(skills: Mapping[str, date | None], name: str) -> str:
    expires = skills.get(name)
    return f"{_skill(name)} (expired {expires})" if expires is not None else _skill(name)


def _reason(
    c: Candidate,
    proximity: Proximity,
    need: IncidentNeed,
    requirement: Requirement,
    now: datetime,
    today: date,
) -> str:
    """The sentence a charge nurse reads, e.g. "on shift in Cardiology, ACLS valid to 2027-03,
    1 open P3, last assigned 2 h ago"."""
    if proximity is Proximity.ON_WARD:
        where = f"on shift in {need.ward_name}"
    elif proximity is Proximity.HOME_WARD:
        elsewhere = c.shift_ward_name or ("hospital-wide" if c.shift_ward_id is None else None)
        where = f"home ward {need.ward_name}" + (
            f" (on shift {_in(elsewhere)})" if elsewhere else ""
        )
    elif proximity is Proximity.COVERING:
        where = f"covers {need.ward_name}"
        if c.shift_ward_name:
            where += f" (on shift in {c.shift_ward_name})"
    else:
        where = "on shift hospital-wide"
    parts = [where]
    shown = [n for n in (*requirement.all_of, *requirement.any_of) if _valid(c.skills, n, today)]
    for name in requirement.preferred:
        if name not in shown and _valid(c.skills, name, today):
            shown.append(name)
    for name in shown:
        expires = c.skills[name]
        parts.append(
            f"{_skill(name)} valid to {expires:%Y-%m}" if expires else f"{_skill(name)} (no expiry)"
        )
    held = [(p, c.open_incidents.get(p, 0)) for p in PRIORITIES if c.open_incidents.get(p, 0)]
    if held:
        parts.append(", ".join(f"{count} open {p}" for p, count in held))
    else:
        parts.append("no open incidents")
    if c.last_assigned_at is None:
        parts.append("no assignment yet")
    else:
        parts.append(f"last assigned {_ago(now - c.last_assigned_at)}")
    return ", ".join(parts)


def _in(where: str) -> str:
    return where if where == "hospital-wide" else f"in {where}"


def _ago(span: timedelta) -> str:
    minutes = max(0, int(span.total_seconds() // 60))
    if minutes < 1:
        return "just now"
    if minutes < 120:
        return f"{minutes} min ago"
    return f"{minutes // 60} h ago"


def _fallback(
    need: IncidentNeed, requirement: Requirement, on_shift_here: int, skilled_here: int
) -> Fallback:
    ward = need.ward_name
    noun = requirement.responder
    skills = [_skill(n) for n in requirement.all_of]
    if requirement.any_of:
        skills.append(" or ".join(_skill(n) for n in requirement.any_of))
    needs = " and ".join(skills)
    hospital_wide = requirement.roles <= _HOSPITAL_WIDE_ROLES
    if on_shift_here == 0:
        where = "" if hospital_wide else f" in or covering {ward}"
        reason = f"no {noun} is on shift{where}"
    elif skilled_here == 0:
        where = "" if hospital_wide else f" in {ward}"
        reason = f"no {noun} on shift{where} holds a valid {needs}"
    else:
        where = "" if hospital_wide else f" in {ward}"
        holding = f" with a valid {needs}" if needs else ""
        reason = f"every {noun} on shift{where}{holding} is busy or on a break"
    plan = "escalate straight to " + ", then ".join(t.describe(ward) for t in FALLBACK_CHAIN)
    return Fallback(FALLBACK_CHAIN, reason, plan)
