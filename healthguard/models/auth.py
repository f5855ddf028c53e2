"""Credentials that outlive one request: refresh tokens, UI sessions, integration keys, and
break-the-glass grants. Secrets are stored only as SHA-256 hashes."""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from healthguard.models.base import created_at_field, fk, optional_ts_field, uuid_pk


class RefreshToken(SQLModel, table=True):
    """One refresh token of a family. Using it rotates it (used_at, replaced_by); using a
    used one again revokes the whole family (token theft detection)."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (sa.Index("ix_refresh_tokens_family_id", "family_id"),)

    id: uuid.UUID = uuid_pk()
    user_id: uuid.UUID = fk("users.id", "CASCADE", nullable=False, index=True)
    family_id: uuid.UUID
    token_hash: str = Field(max_length=64, unique=True)
    issued_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True), nullable=False)
    used_at: datetime | None = optional_ts_field()
    revoked_at: datetime | None = optional_ts_field()
    replaced_by: uuid.UUID | None = None


class UiSession(SQLModel, table=True):
    """A browser sign-in. Ends at logout, at the idle limit of its role, or when revoked."""

    __tablename__ = "ui_sessions"

    id: uuid.UUID = uuid_pk()
    user_id: uuid.UUID = fk("users.id", "CASCADE", nullable=False, index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = created_at_field()
    last_activity_at: datetime = created_at_field()
    ended_at: datetime | None = optional_ts_field()
    end_reason: str | None = Field(default=None, max_length=32)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=500)


class ApiKey(SQLModel, table=True):
    """An integration key for a machine (monitor gateway, Alertmanager, pager gateway).

    Shown once at creation; only its SHA-256 is kept, with a short prefix to recognise it."""

    __tablename__ = "api_keys"

    id: uuid.UUID = uuid_pk()
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16, index=True)
    key_hash: str = Field(max_length=64, unique=True)
    scopes: list[str] = Field(default_factory=list, sa_type=JSONB, nullable=False)
    created_by: str = Field(max_length=64)
    created_at: datetime = created_at_field()
    last_used_at: datetime | None = optional_ts_field()
    revoked_at: datetime | None = optional_ts_field()


class BreakGlassGrant(SQLModel, table=True):
    """Time-limited access of one clinician to one patient outside their scope, with the
    reason they gave. Flagged for the auditor."""

    __tablename__ = "break_glass_grants"
    __table_args__ = (
        sa.Index("ix_break_glass_grants_user_id_patient_id", "user_id", "patient_id"),
    )

    id: uuid.UUID = uuid_pk()
    user_id: uuid.UUID = fk("users.id", "CASCADE", nullable=False)
    patient_id: uuid.UUID = fk("patients.id", "CASCADE", nullable=False)
    reason: str = Field(sa_type=sa.Text, nullable=False)
    granted_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True), nullable=False)
