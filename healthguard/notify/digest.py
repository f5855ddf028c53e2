"""The digest of throttled messages: what one person is told on one channel when its throttle
window ends ("3 more alarms while you were throttled: P3 bed 12 ...").

Pure: no I/O, no clock. Nothing accepted is lost: a P2-P4 message the throttle holds back
(``healthguard.notify.throttle``) is recorded as ``throttled`` with a timeline entry, and when
the channel has room again the adapter (``healthguard.notify.digests.send_digest``) loads
every message still held for that person and channel, says for each whether it is still
needed (``HeldMessage.stop``: ``delivery.stop_reason``, the same rule as for any delivery) and
calls :func:`plan_digest`, which decides:

- **skipped**: a message whose incident was acknowledged or resolved since, or that the person
  already answered (``stop`` set); the digest says how many ("2 skipped: already
  acknowledged or resolved");
- **included**: one line per incident (several held messages about one incident are one
  line), the most urgent first, then the oldest: "P3 bed 12, Ward 7: NEWS2 5 (#41)";
- nothing left: no digest is sent (the skipped messages are closed as cancelled).

The texts: ``title`` "3 more alarms while you were throttled"; ``body`` one line per incident;
``short_text`` (SMS, pager) the title and as many incidents as fit in ``SHORT_LIMIT``
characters, then "and N more"; ``spoken_text`` for a voice call. The channel adds that it is a
secondary alarm (``channels.base.compose_message``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from healthguard.incidents.priority import PRIORITIES

__all__ = ["SHORT_LIMIT", "DigestPlan", "HeldMessage", "plan_digest"]

#: Characters of the short text (SMS, pager) before the channel's secondary-alarm notice.
SHORT_LIMIT = 110


@dataclass(frozen=True)
class HeldMessage:
    """One message the throttle held back, as the adapter loaded it."""

    notification_id: uuid.UUID
    incident_id: uuid.UUID
    priority: str
    held_at: datetime
    ward: str = ""
    bed: str | None = None
    trigger: str = ""
    number: int | None = None
    stop: str | None = None  # why it is no longer needed ("the incident was acknowledged")

    def line(self) -> str:
        """ "P3 bed 12, Ward 7: NEWS2 5 (#41)"."""
        where = ", ".join(p for p in (f"bed {self.bed}" if self.bed else "", self.ward) if p)
        head = f"{self.priority} {where}".strip()
        text = f"{head}: {self.trigger}" if self.trigger else head
        return f"{text} (#{self.number})" if self.number is not None else text


@dataclass(frozen=True)
class DigestPlan:
    included: tuple[HeldMessage, ...]  # one per incident, the most urgent first, then oldest
    covered: tuple[HeldMessage, ...]  # every held message the digest answers for
    skipped: tuple[HeldMessage, ...]  # no longer needed (``stop`` set)
    title: str
    body: str
    short_text: str
    spoken_text: str

    @property
    def empty(self) -> bool:
        """Nothing to send (everything held was skipped, or nothing was held)."""
        return not self.included

    @property
    def priority(self) -> str:
        """The most urgent priority in the digest (for the channel and the throttle)."""
        return self.included[0].priority if self.included else PRIORITIES[-1]


def _rank(priority: str) -> int:
    return PRIORITIES.index(priority) if priority in PRIORITIES else len(PRIORITIES)


def _alarms(count: int) -> str:
    return "1 more alarm" if count == 1 else f"{count} more alarms"


def plan_digest(held: Iterable[HeldMessage]) -> DigestPlan:
    """What the digest of ``held`` (one person, one channel) says, and which messages it
    covers or skips."""
    messages = sorted(held, key=lambda m: (m.held_at, str(m.notification_id)))
    skipped = tuple(m for m in messages if m.stop is not None)
    needed = [m for m in messages if m.stop is None]
    firsts: dict[uuid.UUID, HeldMessage] = {}
    for message in needed:
        known = firsts.get(message.incident_id)
        if known is None or _rank(message.priority) < _rank(known.priority):
            firsts[message.incident_id] = message
    included = tuple(
        sorted(firsts.values(), key=lambda m: (_rank(m.priority), m.held_at, m.incident_id))
    )
    title = f"{_alarms(len(included))} while you were throttled"
    skipped_incidents = len({m.incident_id for m in skipped} - set(firsts))
    note = (
        f"{skipped_incidents} skipped: already acknowledged or resolved"
        if skipped_incidents
        else ""
    )
    lines = [f"- {m.line()}" for m in included]
    body = "\n".join([f"{title}:", *lines, *([note] if note else [])])
    return DigestPlan(
        included=included,
        covered=tuple(needed),
        skipped=skipped,
        title=title,
        body=body,
        short_text=_short(title, included, f"{skipped_incidents} skipped" if note else ""),
        spoken_text=_spoken(title, included, note),
    )


def _short(title: str, included: tuple[HeldMessage, ...], note: str) -> str:
    """The title, as many incidents as fit, "and N more", then "(N skipped)"."""
    tail = f" ({note})" if note else ""
    limit = SHORT_LIMIT - len(tail)
    text = f"{title}:"
    shown = 0
    for message in included:
        rest = len(included) - shown - 1
        more = f"; and {rest} more" if rest else ""
        candidate = f"{text}{' ' if shown == 0 else '; '}{message.line()}"
        if len(candidate) + len(more) > limit and shown > 0:
            break
        text = candidate
        shown += 1
    if shown < len(included):
        text += f"; and {len(included) - shown} more"
    return text[:limit] + tail


def _spoken(title: str, included: tuple[HeldMessage, ...], note: str) -> str:
    parts = [f"{title}."]
    for message in included:
        where = f"bed {message.bed}, {message.ward}" if message.bed else message.ward
        parts.append(f"Priority {message.priority[1:]}, {where}: {message.trigger}.".strip())
    if note:
        parts.append(f"{note}.")
    return " ".join(parts)
