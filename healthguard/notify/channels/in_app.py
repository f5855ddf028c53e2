"""The in-app channel: the notification appears live in HealthGuard's own screens.

It publishes :func:`in_app_event` through an injected callable (the realtime layer wires
it to its Redis pub/sub path) and answers ``sent``: the event reached the fan-out, not
necessarily a screen (read receipts come back through the UI, not through this channel).

The publisher may raise for transport trouble; give the exception types that mean "the
fan-out is unreachable" (e.g. ``(redis.RedisError,)``) as ``delivery_errors``: those become a
failed, retryable result; anything else is a bug and propagates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from healthguard.notify.channels.base import (
    ChannelKind,
    DeliveryResult,
    OutgoingMessage,
    message_payload,
)

EVENT_TYPE = "notification"

Publish = Callable[[dict[str, Any]], object]


def in_app_event(message: OutgoingMessage) -> dict[str, Any]:
    """The JSON-ready event: ``{"type": "notification", ...message_payload}``."""
    return {"type": EVENT_TYPE, **message_payload(message)}


class InAppChannel:
    """Publishes the notification to the live UI."""

    name = ChannelKind.IN_APP

    def __init__(
        self,
        publish: Publish,
        *,
        delivery_errors: tuple[type[Exception], ...] = (OSError,),
    ):
        self._publish = publish
        self._delivery_errors = delivery_errors

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        try:
            self._publish(in_app_event(message))
        except self._delivery_errors as exc:
            reason = str(exc) or type(exc).__name__
            return DeliveryResult.failed(f"Live update not published: {reason}", retryable=True)
        return DeliveryResult.sent(str(message.notification_id))
