"""On-call tables: schedules and their overrides, swap requests, coverage requirements, the
escalation state of each incident, push subscriptions and used answer links.

The planning itself is pure (healthguard/oncall, healthguard/notify); these tables hold its
inputs and its state, JSON where the pure module defines the shape (``to_json``)."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from healthguard.models.base import created_at_field, fk, in_check, jsonb_field, uuid_pk


class Schedule(SQLModel, table=True):
    """A rota of one role on one ward (or hospital-wide): layers of rotations
    (healthguard.oncall.rotations.Layer, in ``layers`` as JSON) in the schedule's time zone."""

    __tablename__ = "schedules"

    id: uuid.UUID = uuid_pk()
    name: str = Field(max_length=200, unique=True)
    ward_id: uuid.UUID | None = fk("wards.id", "CASCADE", nullable=True, index=True)
    role: str = Field(max_length=32, description="A StaffRole value, e.g. charge_nurse.")
    time_zone: str = Field(max_length=64, description="IANA zone, e.g. Europe/London.")
    layers: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class OverrideKind(StrEnum):
    REPLACE = "replace"
    ADD = "add"
    REMOVE = "remove"


class ScheduleOverride(SQLModel, table=True):
    """Replace, add or remove a person on a schedule for a period."""

    __tablename__ = "schedule_overrides"
    __table_args__ = (
        in_check("kind", [k.value for k in OverrideKind], "kind_valid"),
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
    )

    id: uuid.UUID = uuid_pk()
    schedule_id: uuid.UUID = fk("schedules.id", "CASCADE", nullable=False, index=True)
    kind: str = Field(max_length=16)
    staff_id: uuid.UUID = fk("staff.id", "CASCADE", nullable=False)
    replaces_staff_id: uuid.UUID | None = fk("staff.id", "CASCADE", nullable=True)
    starts_at: datetime = Field(sa_type=sa.DateTime(timezone=True), nullable=False)
    ends_at: datetime = Field(sa_type=sa.DateTime(timezone=True), nullable=False)
    reason: str = Field(default="", max_length=500)
    created_by: str = Field(max_length=200)
    created_at: datetime = created_at_field()


class SwapStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    DECLINED = "declined"
    CANCELLED = "cancelled"


class SwapRequest(SQLModel, table=True):
    """One staff member gives a shift to a colleague (and takes one back, for a swap);
    a charge nurse of the ward approves or declines."""

    __tablename__ = "swap_requests"
    __table_args__ = (in_check("status", [s.value for s in SwapStatus], "status_valid"),)

    id: uuid.UUID = uuid_pk()
    schedule_id: uuid.UUID = fk("schedules.id", "CASCADE", nullable=False, index=True)
    requester_staff_id: uuid.UUID = fk("staff.id", "CASCADE", nullable=False)
    colleague_staff_id: uuid.UUID = fk("staff.id", "CASCADE", nullable=False)
    give_starts_at: datetime = Field(sa_type=sa.DateTime(timezone=True), nullable=False)
    give_ends_at: datetime = Field(sa_type=sa.DateTime(timezone=True), nullable=False)
    take_starts_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    take_ends_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    status: str = Field(default=SwapStatus.REQUESTED.value, max_length=16)
    reason: str = Field(default="", max_length=500)
    decided_by: str | None = Field(default=None, max_length=200)
    decided_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = created_at_field()


class CoverageRequirement(SQLModel, table=True):
    """At least ``minimum`` people of ``role`` (holding ``skill`` when set) on shift on the
    ward at all times; gaps are reported to charge nurses and admins days ahead."""

    __tablename__ = "coverage_requirements"
    __table_args__ = (sa.CheckConstraint("minimum >= 1", name="minimum_positive"),)

    id: uuid.UUID = uuid_pk()
    ward_id: uuid.UUID = fk("wards.id", "CASCADE", nullable=False, index=True)
    role: str = Field(max_length=32)
    skill: str | None = Field(default=None, max_length=64)
    minimum: int = Field(default=1)


class IncidentEscalation(SQLModel, table=True):
    """The escalation of one incident: the policy run's state
    (healthguard.oncall.escalation.EscalationState.to_json) and when its next timer is due.
    The state is the truth; RQ scheduled jobs are the fast path and a periodic sweep fires
    any timer whose job was lost (a restarted scheduler loses no escalation)."""

    __tablename__ = "incident_escalations"

    incident_id: uuid.UUID = Field(foreign_key="incidents.id", ondelete="CASCADE", primary_key=True)
    policy_id: uuid.UUID | None = fk("escalation_policies.id", "SET NULL", nullable=True)
    state: dict[str, Any] = jsonb_field()
    next_due_at: datetime | None = Field(
        default=None, sa_type=sa.DateTime(timezone=True), nullable=True, index=True
    )
    updated_at: datetime = created_at_field()


class PushSubscription(SQLModel, table=True):
    """A browser's Web Push subscription for one staff member (removed when the push
    service answers 404/410)."""

    __tablename__ = "push_subscriptions"

    id: uuid.UUID = uuid_pk()
    staff_id: uuid.UUID = fk("staff.id", "CASCADE", nullable=False, index=True)
    endpoint: str = Field(max_length=1000, unique=True)
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)
    created_at: datetime = created_at_field()


class UsedAnswerToken(SQLModel, table=True):
    """An answer link (SMS / email) already used: each works once."""

    __tablename__ = "used_answer_tokens"

    jti: str = Field(primary_key=True, max_length=64)
    used_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True), nullable=False)
