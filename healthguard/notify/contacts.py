"""Where and how one person is reached: their contact methods, notification rules and zone.

The thin database side of ``healthguard.notify.rules``: ``load_person`` reads a ``Staff`` row
and its ``PushSubscription`` rows and gives the pure planner its inputs
(``ContactMethods``, ``RuleSet``, the IANA zone of the quiet hours); ``address_for`` gives a
channel the address to send to.

``Staff.notification_rules`` (JSONB, null: the defaults of ``rules.DEFAULT_RULE_SET``)::

    {"high":   [{"channel": "in_app", "delay_seconds": 0}, {"channel": "sms", "delay_seconds": 30}],
     "medium": [...],
     "low":    [...],
     "quiet_hours": {"start": "22:00", "end": "07:00"}}

Each of ``high``, ``medium``, ``low`` and ``quiet_hours`` may be left out (the default for
that urgency; no quiet hours). A rule that cannot be read (unknown channel, negative delay,
a malformed time) is never a reason to notify nobody: the defaults are used and
``PersonContacts.rules_problem`` says why, for the timeline.

Time zone: ``Staff.time_zone`` when it names a known IANA zone, else the hospital's
(``settings.timezone``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session, col, select

from healthguard.models.notifications import Channel
from healthguard.models.oncall import PushSubscription
from healthguard.models.staff import Staff
from healthguard.notify.channels.base import Address
from healthguard.notify.rules import (
    DEFAULT_RULE_SET,
    ContactMethods,
    QuietHours,
    RuleSet,
    Step,
)
from healthguard.settings import get_settings

__all__ = [
    "PersonContacts",
    "address_for",
    "load_person",
    "push_address",
    "rule_set_from_json",
    "rule_set_to_json",
    "zone_for",
]

_URGENCIES = ("high", "medium", "low")


def _time(value: object, name: str) -> time:
    if not isinstance(value, str):
        raise ValueError(f"quiet_hours.{name} must be a time such as 22:00")
    try:
        parsed = time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"quiet_hours.{name} {value!r} is not a time such as 22:00") from None
    return parsed.replace(tzinfo=None)


def rule_set_from_json(data: Mapping[str, Any] | None) -> RuleSet:
    """The ``RuleSet`` of a ``Staff.notification_rules`` value (None: the defaults).
    ``ValueError`` naming the problem when it cannot be read."""
    if data is None:
        return DEFAULT_RULE_SET
    if not isinstance(data, Mapping):
        raise ValueError("notification rules must be a JSON object")
    unknown = sorted(set(data) - {*_URGENCIES, "quiet_hours"})
    if unknown:
        raise ValueError(f"unknown notification rule key(s): {', '.join(unknown)}")
    steps: dict[str, tuple[Step, ...]] = {}
    for urgency in _URGENCIES:
        if urgency not in data:
            continue
        raw = data[urgency]
        if not isinstance(raw, list):
            raise ValueError(f"{urgency} must be a list of steps")
        parsed: list[Step] = []
        for item in raw:
            if not isinstance(item, Mapping) or "channel" not in item:
                raise ValueError(f"{urgency}: each step needs a channel")
            try:
                channel = Channel(str(item["channel"]))
            except ValueError:
                raise ValueError(f"{urgency}: unknown channel {item['channel']!r}") from None
            parsed.append(Step(channel, item.get("delay_seconds", 0)))
        steps[urgency] = tuple(parsed)
    quiet: QuietHours | None = None
    raw_quiet = data.get("quiet_hours")
    if raw_quiet is not None:
        if not isinstance(raw_quiet, Mapping):
            raise ValueError("quiet_hours must be an object with start and end")
        quiet = QuietHours(
            _time(raw_quiet.get("start"), "start"), _time(raw_quiet.get("end"), "end")
        )
    return RuleSet(
        high=steps.get("high", DEFAULT_RULE_SET.high),
        medium=steps.get("medium", DEFAULT_RULE_SET.medium),
        low=steps.get("low", DEFAULT_RULE_SET.low),
        quiet_hours=quiet,
    )


def rule_set_to_json(rule_set: RuleSet) -> dict[str, Any]:
    """The JSON of a ``RuleSet`` (what ``rule_set_from_json`` reads back)."""
    data: dict[str, Any] = {
        urgency: [
            {"channel": s.channel.value, "delay_seconds": s.delay_seconds}
            for s in getattr(rule_set, urgency)
        ]
        for urgency in _URGENCIES
    }
    if rule_set.quiet_hours is not None:
        data["quiet_hours"] = {
            "start": rule_set.quiet_hours.start.strftime("%H:%M"),
            "end": rule_set.quiet_hours.end.strftime("%H:%M"),
        }
    return data


def zone_for(name: str | None, fallback: str) -> str:
    """``name`` when it is a known IANA zone, else ``fallback``."""
    if name:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return fallback
        return name
    return fallback


@dataclass(frozen=True)
class PersonContacts:
    """One person as the notify service sees them."""

    staff: Staff
    contacts: ContactMethods
    rules: RuleSet
    time_zone: str
    push_subscriptions: tuple[PushSubscription, ...] = ()
    rules_problem: str | None = None  # why the defaults are used instead of their rules

    @property
    def name(self) -> str:
        return self.staff.display_name


def load_person(session: Session, staff_id: uuid.UUID) -> PersonContacts | None:
    """The person's contacts, rules and zone; None when there is no such staff member."""
    staff = session.get(Staff, staff_id)
    if staff is None:
        return None
    subs = tuple(
        session.exec(
            select(PushSubscription)
            .where(PushSubscription.staff_id == staff_id)
            .order_by(col(PushSubscription.created_at))
        ).all()
    )
    problem: str | None = None
    try:
        rules = rule_set_from_json(staff.notification_rules)
    except ValueError as exc:
        rules = DEFAULT_RULE_SET
        problem = f"their notification rules cannot be read ({exc}): the defaults are used"
    contacts = ContactMethods(
        phone=staff.phone,
        email=staff.email,
        pager_id=staff.pager_id,
        push_subscriptions=tuple(s.endpoint for s in subs),
    )
    return PersonContacts(
        staff=staff,
        contacts=contacts,
        rules=rules,
        time_zone=zone_for(staff.time_zone, get_settings().timezone),
        push_subscriptions=subs,
        rules_problem=problem,
    )


def push_address(subscription: PushSubscription) -> dict[str, Any]:
    """A Web Push subscription as the push channel wants it."""
    return {
        "endpoint": subscription.endpoint,
        "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
    }


def address_for(person: PersonContacts, channel: Channel) -> Address | None:
    """Where ``channel`` delivers for this person (None: nothing on file). Push has one
    address per subscription: use ``person.push_subscriptions`` and ``push_address``."""
    staff = person.staff
    if channel is Channel.IN_APP:
        return str(staff.id)
    if channel in (Channel.SMS, Channel.VOICE):
        return staff.phone.strip() if staff.phone and staff.phone.strip() else None
    if channel is Channel.EMAIL:
        return staff.email.strip() if staff.email and staff.email.strip() else None
    if channel is Channel.PAGER:
        return staff.pager_id.strip() if staff.pager_id and staff.pager_id.strip() else None
    if channel is Channel.PUSH:
        return push_address(person.push_subscriptions[0]) if person.push_subscriptions else None
    return None
