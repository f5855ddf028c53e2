"""The Web Push payload of a stored push notification, built the way delivery builds it:
signed answer links (``delivery.answer_links``), the message's words (``message.compose``
from ``delivery.incident_facts``), the channel message (``compose_message``) and the JSON the
service worker receives (``webpush.push_payload``, with the receipt token)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, cast

from healthguard.db import session_scope
from healthguard.models import Incident, Notification
from healthguard.notify.channels.base import AnswerLinks as ChannelLinks
from healthguard.notify.channels.base import Priority, compose_message
from healthguard.notify.channels.webpush import push_payload
from healthguard.notify.delivery import answer_links, incident_facts
from healthguard.notify.message import compose
from healthguard.notify.push_receipts import receipt_token
from healthguard.settings import get_settings


def payload_for(notification_id: uuid.UUID) -> dict[str, Any]:
    settings, now = get_settings(), datetime.now(UTC)
    with session_scope() as session:
        row = session.get(Notification, notification_id)
        assert row is not None
        incident = session.get(Incident, row.incident_id)
        assert incident is not None
        links = answer_links(settings, incident.id, row.staff_id, incident.priority, now)
        content = compose(incident_facts(session, incident, settings, links), now)
        message = compose_message(
            notification_id=row.id,
            incident_id=row.incident_id,
            staff_id=row.staff_id,
            priority=cast(Priority, incident.priority),
            title=content.title,
            body=content.body,
            address={"endpoint": "https://push.example/unused", "keys": {}},
            links=ChannelLinks(
                ack=links.acknowledge, escalate=links.escalate, decline=links.decline
            ),
            short_text=content.short_text,
            spoken_text=content.spoken_text,
        )
        return push_payload(message, receipt=receipt_token(row.id))
