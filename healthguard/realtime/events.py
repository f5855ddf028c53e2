"""The change event: what changed, where, when. Pure data, no I/O."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

ALL_WARDS_FEED = "ward-all"
# New vital signs were scored for patients of a ward (entity_id and ward_code: the ward).
VITALS_UPDATED = "vitals.updated"
# Something changed in one person's notifications (entity_id: the staff id): their "my
# alarms" list reloads; no ward feed does.
NOTIFICATION_EVENT_PREFIX = "notification."


@dataclass(frozen=True)
class ChangeEvent:
    kind: str  # e.g. "incident.opened"
    entity_id: str
    ward_code: str | None = None
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> ChangeEvent:
        """Parse an event; raises ValueError naming the problem when it is not one."""
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"change event is not JSON: {exc.msg}") from exc
        if not isinstance(data, dict):
            raise ValueError("change event must be a JSON object")
        for key in ("kind", "entity_id", "id"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise ValueError(f"change event field '{key}' is missing or not a string")
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def ward_feed_token(ward_code: str | None) -> str:
    """The shared-state token of a ward's live feed (Reflex tokens may not contain '_')."""
    if not ward_code:
        return ALL_WARDS_FEED
    return "ward-" + ward_code.lower().replace("_", "-")


def staff_feed_token(staff_id: uuid.UUID | str) -> str:
    """The shared-state token of one staff member's "my alarms" feed."""
    return f"staff-{uuid.UUID(str(staff_id))}"


def feed_tokens_for(event: ChangeEvent) -> list[str]:
    """Which live feeds must reload after this event: the hospital-wide one and its ward's."""
    tokens = [ALL_WARDS_FEED]
    if event.ward_code:
        tokens.append(ward_feed_token(event.ward_code))
    return tokens
