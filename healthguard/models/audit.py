"""The audit log: who did what to which record, when, from where. Rows form a hash chain
(``prev_hash`` -> ``hash``); the chaining logic lives in the security package."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from healthguard.models.base import created_at_field, jsonb_field


class AuditLog(SQLModel, table=True):
    """One audited action. Append-only."""

    __tablename__ = "audit_log"
    __table_args__ = (
        sa.Index("ix_audit_log_at", "at"),
        sa.Index("ix_audit_log_record_type_record_id", "record_type", "record_id"),
    )

    id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True),
    )
    at: datetime = created_at_field()
    actor: str = Field(max_length=200)
    action: str = Field(max_length=100)
    record_type: str = Field(max_length=64)
    record_id: str | None = Field(default=None, max_length=200)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=500)
    outcome: str = Field(default="success", max_length=32)
    details: dict[str, Any] = jsonb_field()
    prev_hash: str = Field(default="", max_length=128)
    hash: str = Field(default="", max_length=128)
