"""Login accounts: Argon2id password hash, failed-sign-in counter and lockout."""

import uuid
from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from healthguard.models.base import created_at_field, fk, in_check, optional_ts_field, uuid_pk


class UserRole(StrEnum):
    """What a login may do (RBAC role)."""

    NURSE = "nurse"
    CHARGE_NURSE = "charge_nurse"
    PHYSICIAN = "physician"
    RAPID_RESPONSE = "rapid_response"
    ADMIN = "admin"
    AUDITOR = "auditor"


class User(SQLModel, table=True):
    """A login, optionally linked to the staff member it belongs to."""

    __tablename__ = "users"
    __table_args__ = (in_check("role", [r.value for r in UserRole], "role_valid"),)

    id: uuid.UUID = uuid_pk()
    username: str = Field(max_length=64, unique=True)
    role: str = Field(max_length=32, description="A UserRole value.")
    staff_id: uuid.UUID | None = fk("staff.id", "SET NULL", nullable=True, index=True)
    password_hash: str | None = Field(
        default=None, max_length=255, description="Argon2id; null: cannot sign in."
    )
    is_active: bool = Field(default=True, description="False: disabled, every token refused.")
    failed_logins: int = Field(default=0, description="Failed sign-ins in the current window.")
    first_failed_login_at: datetime | None = optional_ts_field()
    locked_until: datetime | None = optional_ts_field()
    last_login_at: datetime | None = optional_ts_field()
    password_changed_at: datetime | None = optional_ts_field()
    tokens_valid_after: datetime | None = optional_ts_field()
    created_at: datetime = created_at_field()
