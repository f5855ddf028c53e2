"""Escalation policies: who is notified, in which order, after how many seconds."""

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from healthguard.models.base import PRIORITIES, created_at_field, fk, in_check, uuid_pk


class TargetKind(StrEnum):
    """What an escalation step's ``target_ref`` names.

    person: a staff id; schedule: a schedule name; ward_role: a StaffRole on shift on the
    incident's ward (e.g. "charge_nurse"); team: a hospital-wide StaffRole (e.g.
    "rapid_response"); round_robin: a StaffRole rotated among those on shift; everyone: all
    staff on shift on the ward (target_ref may be empty).
    """

    PERSON = "person"
    SCHEDULE = "schedule"
    WARD_ROLE = "ward_role"
    TEAM = "team"
    ROUND_ROBIN = "round_robin"
    EVERYONE = "everyone"


class EscalationPolicy(SQLModel, table=True):
    """An ordered list of steps, chosen by priority (and optionally ward; null = any ward).

    ``repeat_count``: how many times the whole list runs again after its last step when
    nobody has acknowledged.
    """

    __tablename__ = "escalation_policies"
    __table_args__ = (
        in_check("priority", PRIORITIES, "priority_valid"),
        sa.CheckConstraint("repeat_count >= 0", name="repeat_count_non_negative"),
    )

    id: uuid.UUID = uuid_pk()
    name: str = Field(max_length=200, unique=True)
    priority: str | None = Field(default=None, max_length=2)
    ward_id: uuid.UUID | None = fk("wards.id", "CASCADE", nullable=True, index=True)
    repeat_count: int = Field(default=0)
    created_at: datetime = created_at_field()


class EscalationStep(SQLModel, table=True):
    """One step: notify ``target`` ``delay_seconds`` after the incident opened, and then
    every ``repeat_every_seconds`` (when set) until acknowledged."""

    __tablename__ = "escalation_steps"
    __table_args__ = (
        sa.UniqueConstraint("policy_id", "position"),
        sa.CheckConstraint("delay_seconds >= 0", name="delay_non_negative"),
        sa.CheckConstraint(
            "repeat_every_seconds IS NULL OR repeat_every_seconds > 0",
            name="repeat_every_positive",
        ),
        in_check("target_kind", [t.value for t in TargetKind], "target_kind_valid"),
    )

    id: uuid.UUID = uuid_pk()
    policy_id: uuid.UUID = fk("escalation_policies.id", "CASCADE", nullable=False)
    position: int
    delay_seconds: int = Field(default=0)
    target_kind: str = Field(max_length=16, description="A TargetKind value.")
    target_ref: str = Field(default="", max_length=200)
    repeat_every_seconds: int | None = None
