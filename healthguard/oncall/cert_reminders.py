"""Certification reminders: who is told what, and when, about an expiring BLS, ACLS, PALS or
critical-care certificate.

Pure: no I/O, no clock (``today``, the hospital's local date, is passed in). The adapter
(``workers.oncall.certification_reminders``, daily) loads the certificates, asks Redis which
reminders were already sent, calls :func:`plan_reminders`, sends each reminder and records
it. Runs may be repeated, late or missed: the plan depends only on ``today`` and on what was
sent.

**Stages** of a certificate, from its days left ``d`` (``expires_on - today``; a certificate
is valid through the end of its expiry date in the hospital's time zone and stops counting at
00:00 on the next day: the one rule of ``healthguard.oncall.certificates``, which the
assignment and the coverage gaps use too, so "expires today" still counts today):

=========================  ================  ===========================================
days left                  stage             who is told
=========================  ================  ===========================================
30 ... 15                  30                the holder
14 ... 8                   14                the holder
7 ... 2                    7                 the holder and their ward's charge nurse(s)
1                          1                 the holder and the charge nurse(s)
0 (expires today)          0                 the holder and the charge nurse(s)
-1 ... -30 (expired)       ``EXPIRED``       the holder and the charge nurse(s)
=========================  ================  ===========================================

Each (certificate, person, stage) is told **once**: its :attr:`Reminder.key` is the
idempotency key the adapter records. A missed run catches up with the current stage only (a
job that was down on day 7 tells the 7-day reminder on day 5; the 30-day one is then
skipped, never sent late). An expired certificate is told once, within
``EXPIRED_LOOKBACK_DAYS`` of its expiry; older ones are left to the staff screens.

**The ward's charge nurse(s)**: the charge nurses whose home ward is the holder's home ward;
for a holder without a home ward (the rapid-response team) those of the wards they cover
(the adapter resolves them into :attr:`Certificate.charge_nurses`). A holder who is a charge
nurse is not told twice. Nobody to tell at a stage that needs a charge nurse is an
:class:`Unreached` entry (the adapter logs a warning and audits it).

**What they are told**: the skill, the expiry date, the days left, and what it means for the
automatic assignment (``assignment.REQUIREMENTS``): an expired ACLS no longer counts for P0
(and counts for P1 only with a valid critical-care certificate). The texts name staff only, never a
patient.

Several records of one skill for one person (a renewal recorded beside the old certificate):
the latest expiry wins (no date: it does not expire), as in ``healthguard.oncall.gaps``; an
old record superseded by a renewal reminds nobody.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from healthguard.models.staff import Skill
from healthguard.oncall.assignment import REQUIREMENTS
from healthguard.oncall.certificates import certificate_valid_on

__all__ = [
    "CHARGE_NURSE_STAGES",
    "EXPIRED",
    "EXPIRED_LOOKBACK_DAYS",
    "HOLDER_STAGES",
    "REMINDED_SKILLS",
    "REMINDER_DAYS",
    "Audience",
    "Certificate",
    "Person",
    "Plan",
    "Reminder",
    "Unreached",
    "assignment_effect",
    "keep_until",
    "plan_reminders",
    "reminder_key",
    "stage_for",
]

REMINDER_DAYS = 30
#: The stages (days left when each is told) of the holder's reminders.
HOLDER_STAGES: tuple[int, ...] = (30, 14, 7, 1, 0)
#: The stage of an expired certificate.
EXPIRED = -1
#: The stages told to the ward's charge nurse(s) as well.
CHARGE_NURSE_STAGES: frozenset[int] = frozenset({7, 1, 0, EXPIRED})
#: An expired certificate is told within this many days of its expiry.
EXPIRED_LOOKBACK_DAYS = 30
#: The certifications reminded of (compared ignoring case).
REMINDED_SKILLS: tuple[str, ...] = (Skill.BLS, Skill.ACLS, Skill.PALS, Skill.CRITICAL_CARE)

_REMINDED = {s.casefold(): s for s in REMINDED_SKILLS}


class Audience(StrEnum):
    HOLDER = "holder"
    CHARGE_NURSE = "charge_nurse"


@dataclass(frozen=True)
class Person:
    id: uuid.UUID
    name: str
    email: str | None = None


@dataclass(frozen=True)
class Certificate:
    """One skill record of one person, with the charge nurse(s) to tell about it."""

    record_id: uuid.UUID
    skill: str
    expires_on: date | None  # None: does not expire
    holder: Person
    charge_nurses: tuple[Person, ...] = ()


@dataclass(frozen=True)
class Reminder:
    """One message to one person about one certificate at one stage."""

    certificate: Certificate
    recipient: Person
    audience: Audience
    stage: int  # a HOLDER_STAGES value or EXPIRED
    days_left: int  # negative once expired
    title: str
    body: str

    @property
    def key(self) -> str:
        return reminder_key(self.certificate, self.recipient.id, self.stage)

    @property
    def counts_for_assignment(self) -> bool:
        """Whether the certificate still counts for the automatic assignment today."""
        expires_on = self.certificate.expires_on
        if expires_on is None:
            return True
        return certificate_valid_on(expires_on, expires_on - timedelta(days=self.days_left))

    @property
    def shared_title(self) -> str:
        """The title for a destination many people read (a ward's chat room)."""
        return f"For {self.recipient.name}: {self.title}"

    @property
    def shared_body(self) -> str:
        return f"For {self.recipient.name}:\n\n{self.body}"


@dataclass(frozen=True)
class Unreached:
    """A stage that should reach a charge nurse, but the holder's ward has none."""

    certificate: Certificate
    stage: int
    reason: str


@dataclass(frozen=True)
class Plan:
    reminders: tuple[Reminder, ...] = ()
    unreached: tuple[Unreached, ...] = ()

    def by_certificate(self) -> dict[uuid.UUID, list[Reminder]]:
        """The reminders grouped by certificate record, in plan order."""
        grouped: dict[uuid.UUID, list[Reminder]] = {}
        for reminder in self.reminders:
            grouped.setdefault(reminder.certificate.record_id, []).append(reminder)
        return grouped


def reminder_key(certificate: Certificate, recipient_id: uuid.UUID, stage: int) -> str:
    """``<record id>:<expiry date>:<recipient id>:<stage>``: a renewed certificate (a new
    expiry date on the same record) starts its reminders afresh."""
    expires = certificate.expires_on.isoformat() if certificate.expires_on else "never"
    return f"{certificate.record_id}:{expires}:{recipient_id}:{stage}"


def keep_until(certificate: Certificate) -> date | None:
    """Until when a sent reminder must be remembered: after this day the certificate is past
    every stage (None: it does not expire)."""
    if certificate.expires_on is None:
        return None
    return certificate.expires_on + timedelta(days=EXPIRED_LOOKBACK_DAYS + 1)


def stage_for(days_left: int) -> int | None:
    """The stage of a certificate with ``days_left`` (None: nothing to tell)."""
    if days_left > REMINDER_DAYS or days_left < -EXPIRED_LOOKBACK_DAYS:
        return None
    if days_left < 0:
        return EXPIRED
    return min(stage for stage in HOLDER_STAGES if stage >= days_left)


def reminded_skill(skill: str) -> str | None:
    """The canonical name of a reminded certification (``"acls"`` -> ``"ACLS"``)."""
    return _REMINDED.get(skill.strip().casefold())


def assignment_effect(skill: str) -> str:
    """What an invalid ``skill`` means for the automatic assignment
    (``assignment.REQUIREMENTS``), e.g. "not counted for P0 assignment and counted for P1
    only with a valid critical_care"; "" when the assignment does not use it."""
    name = skill.strip().casefold()
    parts: list[str] = []
    required = [p for p, r in REQUIREMENTS.items() if name in {s.casefold() for s in r.all_of}]
    if required:
        parts.append(f"not counted for {' and '.join(required)} assignment")
    for priority, requirement in REQUIREMENTS.items():
        if name in {s.casefold() for s in requirement.any_of}:
            others = [s for s in requirement.any_of if s.casefold() != name]
            if others:
                parts.append(f"counted for {priority} only with a valid {' or '.join(others)}")
            else:
                parts.append(f"not counted for {priority} assignment")
    return " and ".join(parts)


def _latest(certificates: Iterable[Certificate]) -> list[Certificate]:
    """The latest record of each (holder, reminded skill); no expiry beats any date."""
    best: dict[tuple[uuid.UUID, str], Certificate] = {}
    for cert in certificates:
        skill = reminded_skill(cert.skill)
        if skill is None:
            continue
        key = (cert.holder.id, skill)
        held = best.get(key)
        if held is None or _later(cert, held):
            best[key] = cert
    return sorted(
        best.values(),
        key=lambda c: (c.expires_on or date.max, c.holder.name, str(c.record_id)),
    )


def _later(a: Certificate, b: Certificate) -> bool:
    if a.expires_on is None or b.expires_on is None:
        return a.expires_on is None and b.expires_on is not None
    if a.expires_on != b.expires_on:
        return a.expires_on > b.expires_on
    return str(a.record_id) > str(b.record_id)  # same date twice: one, stably


def _when(days_left: int) -> str:
    if days_left > 1:
        return f"in {days_left} days"
    if days_left == 1:
        return "tomorrow"
    if days_left == 0:
        return "today"
    return "expired"


def _texts(cert: Certificate, audience: Audience, days_left: int) -> tuple[str, str]:
    assert cert.expires_on is not None
    skill = reminded_skill(cert.skill) or cert.skill
    on = cert.expires_on.isoformat()
    holder = cert.holder.name
    mine = audience is Audience.HOLDER
    whose = "Your" if mine else f"{holder}'s"
    who_is = "you are" if mine else f"{holder} is"
    effect = assignment_effect(skill)
    if days_left < 0:
        title = f"{whose} {skill} certificate expired on {on}"
        first = f"{whose} {skill} certification expired on {on}."
        condition = "Until a renewed certificate is recorded"
    else:
        title = f"{whose} {skill} certificate expires {_when(days_left)} ({on})"
        first = f"{whose} {skill} certification expires on {on} ({_when(days_left)})."
        after = (cert.expires_on + timedelta(days=1)).isoformat()
        condition = f"Unless it is renewed, from 00:00 on {after}"
    consequence = (
        f"{condition}, {who_is} {effect}."
        if effect
        else f"(The automatic assignment does not use {skill}.)"
    )
    action = (
        "Please book the renewal and send the new certificate to the staff office."
        if mine
        else "Please plan cover for their shifts that need it."
    )
    return title, f"{first} {consequence}\n\n{action}\n\nThis reminder concerns no patient."


def plan_reminders(
    certificates: Iterable[Certificate], today: date, sent: Collection[str] = ()
) -> Plan:
    """The reminders due ``today`` that were not sent yet (``sent``: the :attr:`Reminder.key`
    values already sent), and the stages that have nobody to reach."""
    reminders: list[Reminder] = []
    unreached: list[Unreached] = []
    for cert in _latest(certificates):
        if cert.expires_on is None:
            continue
        days_left = (cert.expires_on - today).days
        stage = stage_for(days_left)
        if stage is None:
            continue
        holder_key = reminder_key(cert, cert.holder.id, stage)
        if holder_key not in sent:
            title, body = _texts(cert, Audience.HOLDER, days_left)
            reminders.append(
                Reminder(cert, cert.holder, Audience.HOLDER, stage, days_left, title, body)
            )
        if stage not in CHARGE_NURSE_STAGES:
            continue
        nurses = _unique(n for n in cert.charge_nurses if n.id != cert.holder.id)
        if not nurses:
            if holder_key not in sent:
                unreached.append(
                    Unreached(
                        cert,
                        stage,
                        f"no charge nurse to tell: {cert.holder.name} has no ward with a "
                        "charge nurse (home ward or covered wards)",
                    )
                )
            continue
        title, body = _texts(cert, Audience.CHARGE_NURSE, days_left)
        for nurse in nurses:
            if reminder_key(cert, nurse.id, stage) in sent:
                continue
            reminders.append(
                Reminder(cert, nurse, Audience.CHARGE_NURSE, stage, days_left, title, body)
            )
    return Plan(tuple(reminders), tuple(unreached))


def _unique(people: Iterable[Person]) -> list[Person]:
    seen: set[uuid.UUID] = set()
    found: list[Person] = []
    for person in sorted(people, key=lambda p: (p.name, str(p.id))):
        if person.id not in seen:
            seen.add(person.id)
            found.append(person)
    return found
