"""Shared conventions for every table: constraint names, UTC timestamps, helpers.

Importing this module sets the naming convention on ``SQLModel.metadata`` so that every
index and constraint gets a stable, predictable name (migrations depend on it). It must be
imported before any table class is defined; every model module does so.
"""

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLModel.metadata.naming_convention = NAMING_CONVENTION

PRIORITIES: tuple[str, ...] = ("P0", "P1", "P2", "P3", "P4")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the default of every timestamp column)."""
    return datetime.now(UTC)


def uuid_pk() -> Any:
    """A UUID primary key generated in Python (uuid4)."""
    return Field(default_factory=uuid.uuid4, primary_key=True)


def created_at_field() -> Any:
    """A non-null timestamptz column defaulting to now (UTC)."""
    return Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True), nullable=False)


def optional_ts_field() -> Any:
    """A nullable timestamptz column (set when the event happens)."""
    return Field(default=None, sa_type=sa.DateTime(timezone=True), nullable=True)


def jsonb_field() -> Any:
    """A non-null JSONB object column defaulting to ``{}``."""
    return Field(default_factory=dict, sa_type=JSONB, nullable=False)


OnDelete = Literal["CASCADE", "SET NULL", "RESTRICT"]


def fk(target: str, ondelete: OnDelete, *, nullable: bool, index: bool = False) -> Any:
    """A foreign key column with an explicit ON DELETE rule."""
    return Field(
        default=None if nullable else ...,
        foreign_key=target,
        ondelete=ondelete,
        nullable=nullable,
        index=index,
    )


def in_check(column: str, values: Iterable[str], name: str) -> sa.CheckConstraint:
    """CHECK (column IN (...)): a text column limited to a fixed vocabulary."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({quoted})", name=name)
