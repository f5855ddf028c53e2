"""Publishing change events (call only after the transaction that made the change commits)."""

from __future__ import annotations

import logging

import redis

from healthguard.realtime.events import ChangeEvent
from healthguard.settings import get_settings

log = logging.getLogger(__name__)


def publish_change(client: redis.Redis, event: ChangeEvent, channel: str | None = None) -> bool:
    """Publish `event`. Returns False (and logs) when Redis is unreachable.

    The change itself is already durable in Postgres, and every screen reloads from
    Postgres when it (re)connects, so a lost publish delays a screen, never loses data.
    """
    channel = channel or get_settings().realtime_channel
    try:
        client.publish(channel, event.to_json())
    except redis.RedisError as exc:
        log.warning("could not publish %s for %s: %s", event.kind, event.entity_id, exc)
        return False
    return True
