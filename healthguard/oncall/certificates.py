"""When a certificate stops counting: the one rule every part of the on-call core uses.

Pure: no I/O, no clock.

**A certificate that "expires 2027-03-31" is valid through the end of that day, in the
hospital's local time zone** (the usual reading of the date printed on a BLS, ACLS or PALS
card): it counts at 23:59:59 on 31 March and no longer at 00:00 on 1 April, local time. A
certificate without a date does not expire.

- :func:`valid_until` gives the first instant (UTC) at which it no longer counts: 00:00 local
  on the day after ``expires_on`` (on a day whose midnight is skipped by a clock change, the
  first instant of that day). Coverage gaps (``healthguard.oncall.gaps``) cut a person's
  on-call span there.
- :func:`certificate_valid_at` says whether it counts at an instant; the automatic assignment
  (``healthguard.oncall.assignment``) asks it for ``now``.
- :func:`certificate_valid_on` says whether it counts on a local date (all of that day, by the
  rule above); reminders (``healthguard.oncall.cert_reminders``: "expires today" is still
  valid) and the staff screens (``staff_service.skill_status``) use it.

The three agree by construction: ``certificate_valid_at(e, at, tz)`` is
``certificate_valid_on(e, local_date(at, tz))``, which is ``at < valid_until(e, tz)``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo

from healthguard.oncall.rotations import local_to_utc, zone_from_name

__all__ = [
    "certificate_valid_at",
    "certificate_valid_on",
    "local_date",
    "valid_until",
]


def _zone(tz: str | tzinfo) -> tzinfo:
    return zone_from_name(tz) if isinstance(tz, str) else tz


def local_date(at: datetime, tz: str | tzinfo) -> date:
    """The hospital's local date at the aware instant ``at``."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be timezone-aware")
    return at.astimezone(_zone(tz)).date()


def certificate_valid_on(expires_on: date | None, day: date) -> bool:
    """Whether the certificate counts on the local date ``day`` (the whole day)."""
    return expires_on is None or day <= expires_on


def valid_until(expires_on: date | None, tz: str | tzinfo) -> datetime | None:
    """The first instant (UTC) at which the certificate no longer counts: 00:00 in ``tz`` on
    the day after ``expires_on``; None when it does not expire."""
    if expires_on is None:
        return None
    if expires_on >= date.max:
        return None
    wall = datetime.combine(expires_on + timedelta(days=1), time(0))
    return local_to_utc(wall, _zone(tz)).astimezone(UTC)


def certificate_valid_at(expires_on: date | None, at: datetime, tz: str | tzinfo) -> bool:
    """Whether the certificate counts at the aware instant ``at`` (hospital zone ``tz``)."""
    return certificate_valid_on(expires_on, local_date(at, tz))
