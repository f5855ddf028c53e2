"""Clinical staff, their skills, the wards they cover and their shifts."""

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from healthguard.models.base import created_at_field, fk, in_check, optional_ts_field, uuid_pk


class StaffRole(StrEnum):
    """The clinical role of a staff member (stored as plain text)."""

    NURSE = "nurse"
    CHARGE_NURSE = "charge_nurse"
    RESIDENT = "resident"
    ATTENDING = "attending"
    RAPID_RESPONSE = "rapid_response"
    OPERATOR = "operator"


class Availability(StrEnum):
    """Whether a staff member can take a new incident right now."""

    AVAILABLE = "available"
    BUSY = "busy"
    ON_BREAK = "on_break"
    OFF = "off"


class Skill(StrEnum):
    """Common certifications; other skill names are allowed."""

    BLS = "BLS"
    ACLS = "ACLS"
    PALS = "PALS"
    CRITICAL_CARE = "critical_care"


class Staff(SQLModel, table=True):
    """A person who can be assigned, notified and escalated to."""

    __tablename__ = "staff"
    __table_args__ = (
        in_check("role", [r.value for r in StaffRole], "role_valid"),
        in_check("availability", [a.value for a in Availability], "availability_valid"),
    )

    id: uuid.UUID = uuid_pk()
    display_name: str = Field(max_length=200, index=True)
    role: str = Field(max_length=32, description="A StaffRole value.")
    home_ward_id: uuid.UUID | None = fk("wards.id", "SET NULL", nullable=True, index=True)
    availability: str = Field(default=Availability.AVAILABLE.value, max_length=16)
    # Busy / on break until this time (then available again), or until the shift ends.
    availability_until: datetime | None = optional_ts_field()
    time_zone: str | None = Field(
        default=None, max_length=64, description="IANA zone for quiet hours; null: hospital's."
    )
    # healthguard.notify.rules.RuleSet as JSON; null: the defaults.
    notification_rules: dict[str, Any] | None = Field(default=None, sa_type=JSONB, nullable=True)
    last_assigned_at: datetime | None = optional_ts_field()
    phone: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=254)
    pager_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = created_at_field()


class StaffSkill(SQLModel, table=True):
    """A skill or certification of a staff member, possibly expiring."""

    __tablename__ = "staff_skills"
    __table_args__ = (sa.UniqueConstraint("staff_id", "skill"),)

    id: uuid.UUID = uuid_pk()
    staff_id: uuid.UUID = fk("staff.id", "CASCADE", nullable=False)
    skill: str = Field(max_length=64, description="e.g. BLS, ACLS, PALS, critical_care.")
    expires_on: date | None = None


class StaffWardCover(SQLModel, table=True):
    """A ward a staff member covers besides their home ward."""

    __tablename__ = "staff_ward_covers"

    staff_id: uuid.UUID = Field(foreign_key="staff.id", ondelete="CASCADE", primary_key=True)
    ward_id: uuid.UUID = Field(
        foreign_key="wards.id", ondelete="CASCADE", primary_key=True, index=True
    )


class Shift(SQLModel, table=True):
    """A period a staff member is on duty. ``ward_id`` null means hospital-wide (the rapid
    response team, the operator)."""

    __tablename__ = "shifts"
    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        sa.UniqueConstraint("staff_id", "starts_at"),
        sa.Index("ix_shifts_ward_id_starts_at_ends_at", "ward_id", "starts_at", "ends_at"),
    )

    id: uuid.UUID = uuid_pk()
    staff_id: uuid.UUID = fk("staff.id", "CASCADE", nullable=False)
    ward_id: uuid.UUID | None = fk("wards.id", "CASCADE", nullable=True)
    starts_at: datetime = Field(sa_type=sa.DateTime(timezone=True), nullable=False)
    ends_at: datetime = Field(sa_type=sa.DateTime(timezone=True), nullable=False)
    # Set when the shift comes from a schedule (re-derived when the schedule changes).
    schedule_id: uuid.UUID | None = fk("schedules.id", "CASCADE", nullable=True, index=True)
    role: str | None = Field(default=None, max_length=32)
