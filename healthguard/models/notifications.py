"""Notifications sent to staff about incidents, with delivery tracking per channel.

Phone, pager and SMS notifications are secondary alarms: the bedside monitor stays primary.
"""

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from healthguard.models.base import created_at_field, fk, in_check, optional_ts_field, uuid_pk


class Channel(StrEnum):
    """How a notification reaches a person."""

    IN_APP = "in_app"
    PUSH = "push"
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"
    PAGER = "pager"


class NotificationStatus(StrEnum):
    """Delivery state of one notification attempt."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    READ = "read"
    ANSWERED = "answered"
    CANCELLED = "cancelled"  # no longer needed when due (acknowledged, resolved)
    THROTTLED = "throttled"  # held by a send throttle: goes out in the next digest


class Notification(SQLModel, table=True):
    """One message to one staff member on one channel about one incident."""

    __tablename__ = "notifications"
    __table_args__ = (
        in_check("channel", [c.value for c in Channel], "channel_valid"),
        in_check("status", [s.value for s in NotificationStatus], "status_valid"),
        sa.Index("ix_notifications_staff_id_status", "staff_id", "status"),
        # Delivery receipts find their notification by the provider's message id.
        sa.Index(
            "ix_notifications_channel_provider_message_id",
            "channel",
            "provider_message_id",
            postgresql_where=sa.text("provider_message_id IS NOT NULL"),
        ),
        sa.UniqueConstraint("escalation_key", "staff_id", "channel", "attempt"),
    )

    id: uuid.UUID = uuid_pk()
    incident_id: uuid.UUID = fk("incidents.id", "CASCADE", nullable=False, index=True)
    staff_id: uuid.UUID = fk("staff.id", "RESTRICT", nullable=False)
    channel: str = Field(max_length=16, description="A Channel value.")
    status: str = Field(default=NotificationStatus.QUEUED.value, max_length=16)
    attempt: int = Field(default=1)
    created_at: datetime = created_at_field()
    sent_at: datetime | None = optional_ts_field()
    delivered_at: datetime | None = optional_ts_field()
    read_at: datetime | None = optional_ts_field()
    error: str | None = Field(default=None, sa_type=sa.Text, nullable=True)
    # The escalation step that sent it (healthguard.oncall.escalation.Notify.key): with the
    # person, channel and attempt, an idempotency key (a retried job sends nothing twice).
    escalation_key: str | None = Field(default=None, max_length=200)
    due_at: datetime | None = optional_ts_field()
    failed_at: datetime | None = optional_ts_field()
    answered_at: datetime | None = optional_ts_field()
    answer: str | None = Field(default=None, max_length=16)
    provider_message_id: str | None = Field(default=None, max_length=200)
    reason: str = Field(default="", max_length=500, description="Why this person was told.")
