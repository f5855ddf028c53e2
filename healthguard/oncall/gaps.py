"""Coverage gaps: when a ward has fewer qualified people on call than it needs.

Pure: no I/O, no clock. The adapter computes the on-call spans of the schedules concerned
(``healthguard.oncall.rotations.spans_between``) for a window, loads the staff skills, and
calls ``find_gaps(requirements, spans, skills, start, end)``.

A ``CoverageRequirement`` says "ward W needs at least N people of role R on call, each
holding skill S" (the skill is optional). Over the window, a person counts for it while they
are on call in a schedule of that ward and role and, when a skill is asked for, while their
certification is valid. A certification counts through the end of its ``expires_on`` date
and stops at 00:00 on the next day in the requirement's time zone (the hospital's), the one
rule of ``healthguard.oncall.certificates.valid_until`` that the assignment uses too (a BLS
that expires on 3 Dec covers the evening of 3 Dec, not the night after 00:00 on 4 Dec); no
date means it does not expire; of several records of one skill the latest expiry wins.
Skill names match ignoring case ("ACLS" and "acls"). Roles match exactly (a charge nurse is
not counted as a nurse: give a second requirement if that is wanted).

Hospital-wide schedules (``ward_id`` None, e.g. the rapid response team) count for every
ward's requirement of their role unless ``hospital_wide_counts=False``; a hospital-wide
requirement (``ward_id`` None) counts hospital-wide schedules only. A person on call twice
at once (in two schedules) counts once.

Each ``Gap`` is one unbroken stretch with the same shortfall (adjacent pieces are merged;
when the shortfall changes, a new gap starts), with a message a charge nurse reads, in the
ward's local time: "ICU has no ACLS-certified nurse on 3 Dec 02:00-07:00", "Ward 7 has only
1 of the 2 nurses needed from 2 Dec 23:00 to 3 Dec 07:00".
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from healthguard.oncall.certificates import valid_until as certificate_valid_until
from healthguard.oncall.rotations import (
    OnCallSpan,
    check_window,
    describe_period,
    role_words,
    zone_from_name,
)

MAX_MINIMUM = 100  # a requirement asking for more is a typing mistake


class SkillRecord(Protocol):
    """A skill or certification of a staff member (``models.StaffSkill`` fits)."""

    @property
    def staff_id(self) -> uuid.UUID: ...

    @property
    def skill(self) -> str: ...

    @property
    def expires_on(self) -> date | None: ...


@dataclass(frozen=True)
class Certification:
    """A plain ``SkillRecord``."""

    staff_id: uuid.UUID
    skill: str
    expires_on: date | None = None


@dataclass(frozen=True)
class CoverageRequirement:
    """``ward_name`` needs at least ``minimum`` people of ``role`` on call (holding
    ``skill`` if given); messages are in ``time_zone`` (IANA)."""

    ward_id: uuid.UUID | None
    ward_name: str
    role: str
    time_zone: str
    minimum: int = 1
    skill: str | None = None
    hospital_wide_counts: bool = True

    def __post_init__(self) -> None:
        zone_from_name(self.time_zone)
        if not self.ward_name or not self.ward_name.strip():
            raise ValueError('ward_name: the name a charge nurse knows, e.g. "ICU"')
        if not self.role or not self.role.strip():
            raise ValueError('role: e.g. "nurse"')
        if isinstance(self.minimum, bool) or not 1 <= self.minimum <= MAX_MINIMUM:
            raise ValueError(f"minimum: from 1 to {MAX_MINIMUM}, got {self.minimum!r}")
        if self.skill is not None and not self.skill.strip():
            raise ValueError("skill: a skill name (e.g. ACLS) or None")

    def who(self, count: int) -> str:
        """The people asked for, in words: "ACLS-certified nurse(s)"."""
        people = role_words(self.role, count)
        if self.skill is None:
            return people
        skill = self.skill.strip()
        if skill.isupper():  # a certification: ACLS, BLS, PALS
            return f"{skill}-certified {people}"
        return f"{people} with {skill.replace('_', ' ')}"


@dataclass(frozen=True)
class Gap:
    """From ``start`` to ``end`` (UTC), ``on_call`` qualified people of the ``minimum``."""

    requirement: CoverageRequirement
    start: datetime
    end: datetime
    on_call: int
    missing: int
    message: str

    @property
    def ward_id(self) -> uuid.UUID | None:
        return self.requirement.ward_id

    @property
    def ward_name(self) -> str:
        return self.requirement.ward_name


def find_gaps(
    requirements: Iterable[CoverageRequirement],
    spans: Iterable[OnCallSpan],
    skills: Iterable[SkillRecord],
    start: datetime,
    end: datetime,
) -> list[Gap]:
    """Every stretch of ``start``-``end`` (aware, at most 400 days) where a requirement is not
    met, sorted by start, then ward and role."""
    check_window(start, end)
    span_list = list(spans)
    skill_list = list(skills)
    gaps: list[Gap] = []
    for requirement in requirements:
        gaps.extend(_gaps_of(requirement, span_list, skill_list, start, end))
    return sorted(gaps, key=lambda g: (g.start, g.ward_name, g.requirement.role, g.end))


def _gaps_of(
    requirement: CoverageRequirement,
    spans: list[OnCallSpan],
    skills: list[SkillRecord],
    start: datetime,
    end: datetime,
) -> list[Gap]:
    zone = zone_from_name(requirement.time_zone)
    valid_until = _valid_until(requirement, skills) if requirement.skill else None
    # (instant, +1 / -1, person): when each qualified person comes on and goes off.
    events: list[tuple[datetime, int, uuid.UUID]] = []
    for span in spans:
        if span.role != requirement.role or not _counts_for_ward(span, requirement):
            continue
        a, b = max(span.start, start), min(span.end, end)
        if valid_until is not None:
            if span.staff_id not in valid_until:
                continue
            stops = certificate_valid_until(valid_until[span.staff_id], zone)
            if stops is not None:
                b = min(b, stops)
        if b > a:
            events += [(a, 1, span.staff_id), (b, -1, span.staff_id)]
    events.sort(key=lambda e: (e[0], e[1]))  # at one instant, goings-off before comings-on
    on: dict[uuid.UUID, int] = {}
    pieces: list[tuple[datetime, datetime, int]] = []  # (start, end, qualified people on call)
    cursor = start
    index = 0
    while cursor < end:
        while index < len(events) and events[index][0] <= cursor:
            _, step, person = events[index]
            on[person] = on.get(person, 0) + step
            if on[person] == 0:
                del on[person]
            index += 1
        until = events[index][0] if index < len(events) else end
        pieces.append((cursor, until, len(on)))
        cursor = until
    gaps: list[Gap] = []
    for a, b, count in pieces:
        if count >= requirement.minimum:
            continue
        if gaps and gaps[-1].end == a and gaps[-1].on_call == count:
            a = gaps.pop().start
        gaps.append(_gap(requirement, a, b, count))
    return gaps


def _counts_for_ward(span: OnCallSpan, requirement: CoverageRequirement) -> bool:
    if span.ward_id == requirement.ward_id:
        return True
    return (
        span.ward_id is None
        and requirement.ward_id is not None
        and requirement.hospital_wide_counts
    )


def _valid_until(
    requirement: CoverageRequirement, skills: list[SkillRecord]
) -> dict[uuid.UUID, date | None]:
    """Who holds the skill, and the date it stops counting (None: never)."""
    wanted = (requirement.skill or "").strip().casefold()
    holders: dict[uuid.UUID, date | None] = {}
    for record in skills:
        if record.skill.strip().casefold() != wanted:
            continue
        if record.staff_id in holders:
            known = holders[record.staff_id]
            if known is None or record.expires_on is None:
                holders[record.staff_id] = None
            else:
                holders[record.staff_id] = max(known, record.expires_on)
        else:
            holders[record.staff_id] = record.expires_on
    return holders


def _gap(requirement: CoverageRequirement, start: datetime, end: datetime, count: int) -> Gap:
    return Gap(
        requirement=requirement,
        start=start,
        end=end,
        on_call=count,
        missing=requirement.minimum - count,
        message=gap_message(requirement, start, end, count),
    )


def gap_message(
    requirement: CoverageRequirement, start: datetime, end: datetime, on_call: int
) -> str:
    """ "ICU has no ACLS-certified nurse on 3 Dec 02:00-07:00" (ward local time)."""
    when = describe_period(start, end, zone_from_name(requirement.time_zone))
    ward, needed = requirement.ward_name.strip(), requirement.minimum
    if on_call == 0 and needed == 1:
        return f"{ward} has no {requirement.who(1)} {when}"
    if on_call == 0:
        return f"{ward} has no {requirement.who(needed)} ({needed} needed) {when}"
    return f"{ward} has only {on_call} of the {needed} {requirement.who(needed)} needed {when}"
