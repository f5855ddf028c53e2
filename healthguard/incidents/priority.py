"""Priorities P0 (cardiac arrest) to P4 and their IEC 60601-1-8 alarm presentation. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from healthguard.models.base import PRIORITIES

__all__ = ["PRIORITIES", "PRIORITY_STYLES", "PriorityStyle", "queue_order_key", "validate_priority"]


@dataclass(frozen=True)
class PriorityStyle:
    label: str  # the words on screen: colour is never the only signal
    alarm_level: str  # IEC 60601-1-8: high, medium, low
    colour: str
    flashing: bool


PRIORITY_STYLES: dict[str, PriorityStyle] = {
    "P0": PriorityStyle("P0 Cardiac arrest", "high", "red", True),
    "P1": PriorityStyle("P1 Emergency", "high", "red", True),
    "P2": PriorityStyle("P2 Urgent", "medium", "yellow", True),
    "P3": PriorityStyle("P3 Review", "low", "cyan", False),
    "P4": PriorityStyle("P4 Routine", "low", "cyan", False),
}


def validate_priority(value: str) -> str:
    """Return the normalised priority or raise ValueError naming the accepted values."""
    normalised = value.strip().upper() if isinstance(value, str) else ""
    if normalised not in PRIORITIES:
        raise ValueError(f"priority must be one of {', '.join(PRIORITIES)}, got {value!r}")
    return normalised


def queue_order_key(priority: str, opened_at_epoch: float) -> tuple[int, float]:
    """Queue order: P0 first, then the oldest first within a priority."""
    return (PRIORITIES.index(priority), opened_at_epoch)
