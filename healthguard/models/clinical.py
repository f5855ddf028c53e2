"""The clinical engine's own state: alarm rules (data, editable by admins), alarm pauses,
and the NEWS2 history that trend rules read."""

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
    optional_ts_field,
    uuid_pk,
)


class AlarmRule(SQLModel, table=True):
    """One alarm rule: a kind, its parameters and the priority it raises."""

    __tablename__ = "alarm_rules"
    __table_args__ = (in_check("priority", PRIORITIES, "priority_valid"),)

    id: uuid.UUID = uuid_pk()
    key: str = Field(max_length=64, unique=True, description='Stable name, e.g. "spo2_low".')
    name: str = Field(max_length=200)
    kind: str = Field(max_length=32, description="threshold, rate_of_change, news2, ...")
    priority: str = Field(max_length=2)
    params: dict[str, Any] = jsonb_field()
    enabled: bool = Field(default=True)
    updated_at: datetime = created_at_field()
    updated_by: str = Field(default="system", max_length=200)


class AlarmPause(SQLModel, table=True):
    """Alarms of one patient paused for a bounded time with a reason (bathing, transport).

    Ends by itself at ``ends_at``; suppressed alarms are still recorded as alerts."""

    __tablename__ = "alarm_pauses"
    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        sa.Index("ix_alarm_pauses_patient_id_ends_at", "patient_id", "ends_at"),
    )

    id: uuid.UUID = uuid_pk()
    patient_id: uuid.UUID = fk("patients.id", "CASCADE", nullable=False)
    reason: str = Field(sa_type=sa.Text, nullable=False)
    paused_by: str = Field(max_length=200)
    starts_at: datetime = created_at_field()
    ends_at: datetime = Field(sa_type=sa.DateTime(timezone=True), nullable=False)
    ended_at: datetime | None = optional_ts_field()
    ended_by: str | None = Field(default=None, max_length=200)


class News2Score(SQLModel, table=True):
    """A NEWS2 score of a patient, as of the freshest reading it used."""

    __tablename__ = "news2_scores"
    __table_args__ = (sa.UniqueConstraint("patient_id", "observed_at"),)

    id: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True)
    )
    patient_id: uuid.UUID = fk("patients.id", "CASCADE", nullable=False)
    observed_at: datetime = Field(sa_type=sa.DateTime(timezone=True), nullable=False)
    computed_at: datetime = created_at_field()
    total: int
    partial: bool
    risk: str = Field(max_length=16)
    subscores: dict[str, Any] = jsonb_field()
