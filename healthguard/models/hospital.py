"""Wards, rooms and beds: where a patient is and where an alarm comes from."""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from healthguard.models.base import created_at_field, fk, uuid_pk


class Ward(SQLModel, table=True):
    """A hospital ward (unit), identified on screens and in HL7 PV1-3 by its short code."""

    __tablename__ = "wards"

    id: uuid.UUID = uuid_pk()
    code: str = Field(max_length=16, unique=True, description='Short code, e.g. "CARD".')
    name: str = Field(max_length=200)
    created_at: datetime = created_at_field()


class Room(SQLModel, table=True):
    """A room (or bay) of a ward."""

    __tablename__ = "rooms"
    __table_args__ = (sa.UniqueConstraint("ward_id", "name"),)

    id: uuid.UUID = uuid_pk()
    ward_id: uuid.UUID = fk("wards.id", "CASCADE", nullable=False)
    name: str = Field(max_length=100)


class Bed(SQLModel, table=True):
    """A bed; its label (e.g. "B12") is unique within its ward."""

    __tablename__ = "beds"
    __table_args__ = (sa.UniqueConstraint("ward_id", "label"),)

    id: uuid.UUID = uuid_pk()
    ward_id: uuid.UUID = fk("wards.id", "CASCADE", nullable=False)
    room_id: uuid.UUID | None = fk("rooms.id", "SET NULL", nullable=True, index=True)
    label: str = Field(max_length=32)
