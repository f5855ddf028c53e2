"""Alerts: the output of the clinical engine (NEWS2, alarm rules) before deduplication
into incidents."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from healthguard.models.base import PRIORITIES, created_at_field, fk, in_check, jsonb_field, uuid_pk


class AlertKind(StrEnum):
    """IEC 60601-1-8 / IHE ACM alarm type."""

    PHYSIOLOGICAL = "physiological"
    TECHNICAL = "technical"
    ADVISORY = "advisory"
    EXTERNAL = "external"


class Alert(SQLModel, table=True):
    """One triaged alarm. ``priority`` P0 (immediate) .. P4 (information)."""

    __tablename__ = "alerts"
    __table_args__ = (
        in_check("priority", PRIORITIES, "priority_valid"),
        in_check("kind", [k.value for k in AlertKind], "kind_valid"),
        sa.Index("ix_alerts_patient_id_created_at", "patient_id", "created_at"),
    )

    id: uuid.UUID = uuid_pk()
    patient_id: uuid.UUID | None = fk("patients.id", "SET NULL", nullable=True)
    ward_id: uuid.UUID | None = fk("wards.id", "SET NULL", nullable=True, index=True)
    priority: str = Field(max_length=2)
    kind: str = Field(max_length=16, description="An AlertKind value.")
    rule: str = Field(max_length=100, description="Rule that fired, e.g. news2_emergency.")
    news2_score: int | None = None
    summary: str = Field(max_length=500)
    details: dict[str, Any] = jsonb_field()
    condition: str = Field(default="", max_length=64, description="Incident grouping key.")
    dedup_key: str | None = Field(
        default=None,
        max_length=300,
        unique=True,
        description="patient:rule:observed_at; a retried batch stores the alert once.",
    )
    observed_at: datetime | None = Field(
        default=None, sa_type=sa.DateTime(timezone=True), description="Of the trigger reading."
    )
    suppressed_reason: str | None = Field(
        default=None, sa_type=sa.Text, description="Why it opened no incident (pause, ...)."
    )
    created_at: datetime = created_at_field()
    incident_id: uuid.UUID | None = fk("incidents.id", "SET NULL", nullable=True, index=True)
