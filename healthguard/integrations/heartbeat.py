"""Heartbeats (monitor gateways, the HL7 feed): pure logic, the clock is passed in.

An integration with a :class:`HeartbeatPolicy` must send a heartbeat at least every
``interval``; ``grace`` absorbs jitter. With ``baseline`` the last heartbeat (or, when there
has been none since monitoring was enabled, the time it was enabled: enabling monitoring on an
integration silent for a month does not page instantly), the **deadline** is
``baseline + interval + grace``: the state is ``ok`` while ``now < deadline`` and ``missed``
from the deadline on (a scheduler checking exactly at the deadline sees it missed).

On a transition, :func:`transition_event` gives the event to feed the incident pipeline:

- ok -> missed: a ``trigger`` "No heartbeat from <integration> since <last heartbeat>",
  ``occurred_at`` the deadline;
- missed -> ok (the next heartbeat): a ``resolve`` of the same dedup key, ``occurred_at``
  the heartbeat;
- otherwise nothing.

One dedup key per integration (``heartbeat:<integration id>``), so a flapping gateway
re-triggers and resolves one incident key, never piles up incidents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from healthguard.integrations.events import (
    MAX_LABEL_CHARS,
    MAX_SUMMARY_CHARS,
    SEVERITIES,
    InboundEvent,
    Severity,
    clean_text,
    iso,
    resolve_severity_map,
)

HeartbeatStatus = Literal["ok", "missed"]
MIN_INTERVAL = timedelta(seconds=10)
MAX_INTERVAL = timedelta(days=7)
MAX_GRACE = timedelta(days=1)


@dataclass(frozen=True)
class HeartbeatPolicy:
    """Raises ``ValueError`` naming the field for an unusable policy (checked when saved).

    ``severity`` of the missed-heartbeat incident defaults to ``critical``: a silent monitor
    gateway means unmonitored patients.
    """

    interval: timedelta
    grace: timedelta = timedelta(0)
    severity: Severity = "critical"

    def __post_init__(self) -> None:
        if not isinstance(self.interval, timedelta) or not (
            MIN_INTERVAL <= self.interval <= MAX_INTERVAL
        ):
            raise ValueError(
                f"interval must be between {_duration(MIN_INTERVAL)} and "
                f"{_duration(MAX_INTERVAL)}, got {self.interval!r}"
            )
        if not isinstance(self.grace, timedelta) or not (timedelta(0) <= self.grace <= MAX_GRACE):
            raise ValueError(
                f"grace must be between 0 and {_duration(MAX_GRACE)}, got {self.grace!r}"
            )
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"severity must be one of {', '.join(SEVERITIES)}, got {self.severity!r}"
            )

    @property
    def allowance(self) -> timedelta:
        return self.interval + self.grace


@dataclass(frozen=True)
class HeartbeatState:
    status: HeartbeatStatus
    deadline: datetime  # missed from this instant on, unless a heartbeat comes first
    silent_since: datetime  # the last heartbeat, else when monitoring started
    last_heartbeat_at: datetime | None

    @property
    def missed(self) -> bool:
        return self.status == "missed"

    @property
    def missed_since(self) -> datetime | None:
        return self.deadline if self.missed else None


def heartbeat_state(
    policy: HeartbeatPolicy,
    *,
    last_heartbeat_at: datetime | None,
    monitoring_since: datetime,
    now: datetime,
) -> HeartbeatState:
    """The state at ``now`` (all times timezone-aware; ``ValueError`` otherwise)."""
    for name, value in (
        ("last_heartbeat_at", last_heartbeat_at),
        ("monitoring_since", monitoring_since),
        ("now", now),
    ):
        if value is not None and value.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware")
    baseline = (
        monitoring_since if last_heartbeat_at is None else max(last_heartbeat_at, monitoring_since)
    )
    deadline = baseline + policy.allowance
    return HeartbeatState(
        status="missed" if now >= deadline else "ok",
        deadline=deadline,
        silent_since=last_heartbeat_at if last_heartbeat_at is not None else monitoring_since,
        last_heartbeat_at=last_heartbeat_at,
    )


def heartbeat_dedup_key(integration_id: str) -> str:
    return f"heartbeat:{integration_id}"


def transition_event(
    *,
    integration_id: str,
    integration_name: str,
    policy: HeartbeatPolicy,
    was_missed: bool,
    state: HeartbeatState,
    now: datetime,
    severity_map: Mapping[str, str] | None = None,
    allow_p0: bool = False,
) -> InboundEvent | None:
    """The event for a change between the stored ``was_missed`` and ``state``, or ``None``."""
    if was_missed == state.missed:
        return None
    name = clean_text(integration_name.strip())[:MAX_LABEL_CHARS] or integration_id
    priority = resolve_severity_map(severity_map, allow_p0=allow_p0)[policy.severity]
    details = {
        "integration_id": integration_id,
        "expected_interval_seconds": policy.interval.total_seconds(),
        "grace_seconds": policy.grace.total_seconds(),
        "last_heartbeat_at": iso(state.last_heartbeat_at),
        "deadline": iso(state.deadline),
    }
    if state.missed:
        since = (
            f"since {_time(state.silent_since)}"
            if state.last_heartbeat_at is not None
            else f"since monitoring started at {_time(state.silent_since)}"
        )
        summary = f"No heartbeat from {name} {since} (expected every {_duration(policy.interval)})"
        action: Literal["trigger", "resolve"] = "trigger"
        occurred_at = state.deadline
    else:
        occurred_at = state.last_heartbeat_at or now
        summary = f"Heartbeat from {name} received again at {_time(occurred_at)}"
        action = "resolve"
    return InboundEvent(
        source_kind="heartbeat",
        action=action,
        dedup_key=heartbeat_dedup_key(integration_id),
        summary=summary[:MAX_SUMMARY_CHARS],
        source=name,
        severity=policy.severity,
        priority=priority,
        occurred_at=occurred_at,
        component="heartbeat",
        class_="missed heartbeat",
        details=details,
    )


def _time(value: datetime) -> str:
    return iso(value.replace(microsecond=0)) or ""


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds and seconds % 86400 == 0:
        return f"{seconds // 86400} d"
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds and seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"
