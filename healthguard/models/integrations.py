"""Inbound integrations: the machines that send events (PagerDuty Events API v2 clients,
Prometheus Alertmanager, generic webhooks, heartbeats), every event they sent that was
accepted, the silences (maintenance windows) that suppress them, and the last time seen per
Alertmanager alert (out-of-order notifications).

Each integration authenticates with one integration key (``api_keys``; only its SHA-256 is
stored): the PagerDuty ``routing_key``, the key in the Alertmanager webhook URL, or the
``Authorization``/``X-API-Key`` header of the generic webhook and heartbeats.
"""

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from healthguard.models.base import (
    created_at_field,
    fk,
    in_check,
    jsonb_field,
    optional_ts_field,
    uuid_pk,
)

INTEGRATION_KINDS: tuple[str, ...] = ("pagerduty", "alertmanager", "generic", "heartbeat")
EVENT_ACTIONS: tuple[str, ...] = ("trigger", "acknowledge", "resolve")
EVENT_OUTCOMES: tuple[str, ...] = (
    "opened",  # a new incident
    "updated",  # a repeated trigger: evidence added to the open incident
    "acknowledged",
    "resolved",
    "suppressed",  # a silence covered it (reason names the silence)
    "ignored",  # nothing to do (reason says why: no open incident, out of order, ...)
)
DEFAULT_RATE_LIMIT_PER_MINUTE = 1200


class Integration(SQLModel, table=True):
    """A machine that sends events, with how its events become incidents.

    ``severity_map`` overrides the default severity -> priority mapping (critical P1, error
    P2, warning P3, info P4). ``default_ward_code``: the ward its incidents belong to (whose
    staff see them); none: only hospital-wide roles see them. With
    ``heartbeat_interval_seconds`` it must send a heartbeat at least that often (plus
    ``heartbeat_grace_seconds``); ``heartbeat_missed`` is what the last check found.
    Revoking it revokes its key and disables it (``disabled_at``); it is never deleted, so its
    events stay."""

    __tablename__ = "integrations"
    __table_args__ = (
        in_check("kind", INTEGRATION_KINDS, "kind_valid"),
        sa.CheckConstraint("rate_limit_per_minute > 0", name="rate_limit_positive"),
        sa.CheckConstraint(
            "heartbeat_interval_seconds IS NULL OR heartbeat_interval_seconds > 0",
            name="heartbeat_interval_positive",
        ),
        sa.CheckConstraint(
            "heartbeat_grace_seconds IS NULL OR heartbeat_grace_seconds >= 0",
            name="heartbeat_grace_non_negative",
        ),
    )

    id: uuid.UUID = uuid_pk()
    name: str = Field(max_length=100, unique=True)
    kind: str = Field(max_length=16)
    api_key_id: uuid.UUID = Field(
        foreign_key="api_keys.id", ondelete="RESTRICT", nullable=False, unique=True
    )
    severity_map: dict[str, Any] = jsonb_field()
    allow_p0: bool = Field(default=False)
    default_ward_code: str | None = Field(default=None, max_length=16)
    heartbeat_interval_seconds: int | None = Field(default=None)
    heartbeat_grace_seconds: int | None = Field(default=None)
    last_heartbeat_at: datetime | None = optional_ts_field()
    heartbeat_missed: bool = Field(default=False)
    rate_limit_per_minute: int = Field(default=DEFAULT_RATE_LIMIT_PER_MINUTE)
    enabled: bool = Field(default=True)
    created_by: str = Field(max_length=200)
    created_at: datetime = created_at_field()
    disabled_at: datetime | None = optional_ts_field()

    @property
    def actor(self) -> str:
        """How it is named in the timeline and the audit log."""
        return f"integration:{self.name}"


class InboundEventLog(SQLModel, table=True):
    """Every event an integration sent that was accepted (answered 2xx), whatever became of
    it: ``outcome`` opened / updated / acknowledged / resolved / suppressed / ignored, with a
    ``reason`` for the last two. ``payload`` is the normalised event (its details capped)."""

    __tablename__ = "inbound_events"
    __table_args__ = (
        in_check("action", EVENT_ACTIONS, "action_valid"),
        in_check("outcome", EVENT_OUTCOMES, "outcome_valid"),
        sa.Index("ix_inbound_events_integration_id_received_at", "integration_id", "received_at"),
        sa.Index("ix_inbound_events_incident_id", "incident_id"),
    )

    id: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True)
    )
    integration_id: uuid.UUID = fk("integrations.id", "CASCADE", nullable=False)
    dedup_key: str = Field(max_length=300, description="The key as the sender knows it.")
    action: str = Field(max_length=16)
    received_at: datetime = created_at_field()
    occurred_at: datetime | None = optional_ts_field()
    summary: str = Field(default="", sa_type=sa.Text, nullable=False)
    severity: str | None = Field(default=None, max_length=16)
    payload: dict[str, Any] = jsonb_field()
    outcome: str = Field(max_length=16)
    reason: str | None = Field(default=None, sa_type=sa.Text, nullable=True)
    incident_id: uuid.UUID | None = fk("incidents.id", "SET NULL", nullable=True)
    silence_id: uuid.UUID | None = fk("silences.id", "SET NULL", nullable=True)


class Silence(SQLModel, table=True):
    """A maintenance window: events of its scope (any of integration, ward, patient, rule)
    are suppressed from ``starts_at`` (inclusive) to ``ends_at`` (exclusive), or until it is
    ended early (``ended_at``). ``reminded_at``: when the "ends in 15 min" reminder went."""

    __tablename__ = "silences"
    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        sa.Index("ix_silences_ends_at", "ends_at"),
    )

    id: uuid.UUID = uuid_pk()
    integration_id: uuid.UUID | None = fk("integrations.id", "CASCADE", nullable=True)
    ward_code: str | None = Field(default=None, max_length=16)
    patient_id: uuid.UUID | None = fk("patients.id", "CASCADE", nullable=True)
    rule: str | None = Field(default=None, max_length=255)
    starts_at: datetime = Field(sa_type=sa.DateTime(timezone=True), nullable=False)
    ends_at: datetime = Field(sa_type=sa.DateTime(timezone=True), nullable=False)
    reason: str = Field(sa_type=sa.Text, nullable=False)
    created_by: str = Field(max_length=200)
    created_at: datetime = created_at_field()
    ended_at: datetime | None = optional_ts_field()
    ended_by: str | None = Field(default=None, max_length=200)
    reminded_at: datetime | None = optional_ts_field()


class AlertmanagerSeen(SQLModel, table=True):
    """Per alert (incident dedup key), the latest time of the Alertmanager events applied:
    an older one arriving later is out of order and ignored
    (healthguard.integrations.alertmanager.is_stale)."""

    __tablename__ = "alertmanager_seen"

    dedup_key: str = Field(max_length=200, primary_key=True)
    integration_id: uuid.UUID = fk("integrations.id", "CASCADE", nullable=False, index=True)
    last_seen_at: datetime = Field(sa_type=sa.DateTime(timezone=True), nullable=False)
