"""Inbound integrations: machine events in (PagerDuty Events API v2, Prometheus Alertmanager
webhooks, a generic JSON webhook, heartbeats), normalised to one
:class:`~healthguard.integrations.events.InboundEvent`, and maintenance windows / silences.

Everything here is pure (no database, no HTTP, no clock of its own); the routes and the
incident service do the I/O.
"""

from healthguard.integrations.events import (
    DEFAULT_SEVERITY_PRIORITY,
    FieldError,
    Image,
    InboundEvent,
    InvalidEvent,
    Link,
    priority_for,
    resolve_severity_map,
)

__all__ = [
    "DEFAULT_SEVERITY_PRIORITY",
    "FieldError",
    "Image",
    "InboundEvent",
    "InvalidEvent",
    "Link",
    "priority_for",
    "resolve_severity_map",
]
