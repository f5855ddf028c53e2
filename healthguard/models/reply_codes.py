"""SMS reply codes: the short code one person texts back to answer one incident.

One row per (person, incident), written when a message about the incident is composed for
the person (``healthguard.notify.reply_codes``). A code is *live* until the incident is
closed for good: ``released_at`` is set (lazily, by the next allocation for that person)
once the incident is resolved or closed. The partial unique index
``uq_sms_reply_codes_staff_id_code_live`` makes two live codes of one person impossible.
"""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from healthguard.models.base import created_at_field, optional_ts_field


class SmsReplyCode(SQLModel, table=True):
    """The reply code of one incident for one person (``released_at``: no longer live)."""

    __tablename__ = "sms_reply_codes"
    __table_args__ = (
        sa.Index(
            "uq_sms_reply_codes_staff_id_code_live",
            "staff_id",
            "code",
            unique=True,
            postgresql_where=sa.text("released_at IS NULL"),
        ),
        sa.CheckConstraint("code ~ '^[1-9][0-9]{3,5}$'", name="code_digits"),
    )

    staff_id: uuid.UUID = Field(foreign_key="staff.id", ondelete="CASCADE", primary_key=True)
    incident_id: uuid.UUID = Field(
        foreign_key="incidents.id", ondelete="CASCADE", primary_key=True, index=True
    )
    code: str = Field(max_length=6)
    allocated_at: datetime = created_at_field()
    released_at: datetime | None = optional_ts_field()
