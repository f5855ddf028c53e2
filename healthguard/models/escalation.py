"""Escalation policies: who is notified, in which order, after how many seconds.

A policy is data: ``definition`` holds healthguard.oncall.escalation.Policy as JSON (its steps,
each with a delay in seconds and one or more targets, repeats and the acknowledgement timeout),
checked by healthguard.oncall.default_policies.validate_policy before it is stored.
"""

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from healthguard.models.base import (
    PRIORITIES,
    created_at_field,
    fk,
    in_check,
    jsonb_field,
    uuid_pk,
)


class EscalationPolicy(SQLModel, table=True):
    """The policy of a priority (and optionally a ward; null = any ward): a ward's own policy
    wins over the hospital's for that priority."""

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
    definition: dict[str, Any] = jsonb_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
