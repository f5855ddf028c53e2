"""Patients and their admissions to beds."""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from healthguard.models.base import (
    created_at_field,
    fk,
    in_check,
    optional_ts_field,
    utcnow,
    uuid_pk,
)

SEXES: tuple[str, ...] = ("female", "male", "other", "unknown")


class Patient(SQLModel, table=True):
    """A patient. ``spo2_scale`` is the NEWS2 SpO2 scale: 1 for everyone, 2 only for
    confirmed hypercapnic respiratory failure with a prescribed 88-92 % target.

    Identifiers (MRN, names, date of birth) and free-text clinical fields (allergies, notes)
    are stored only encrypted (AES-256-GCM tokens, see healthguard.security.crypto); read and
    write them with healthguard.patients.phi. The MRN is found through ``mrn_index``, a keyed
    blind index (HMAC-SHA256 of the normalised MRN). ``sex`` and ``spo2_scale`` are plain."""

    __tablename__ = "patients"
    __table_args__ = (
        sa.CheckConstraint("spo2_scale IN (1, 2)", name="spo2_scale_valid"),
        in_check("sex", SEXES, "sex_valid"),
    )

    id: uuid.UUID = uuid_pk()
    mrn_index: str = Field(
        max_length=64, unique=True, description="HMAC-SHA256 blind index of the MRN (hex)."
    )
    mrn_enc: str = Field(sa_type=sa.Text, nullable=False, description="Encrypted MRN.")
    family_name_enc: str = Field(sa_type=sa.Text, nullable=False)
    given_name_enc: str = Field(sa_type=sa.Text, nullable=False)
    date_of_birth_enc: str = Field(
        sa_type=sa.Text, nullable=False, description="Encrypted ISO date (YYYY-MM-DD)."
    )
    sex: str = Field(default="unknown", max_length=16)
    allergies_enc: str = Field(sa_type=sa.Text, nullable=False)
    notes_enc: str = Field(sa_type=sa.Text, nullable=False)
    spo2_scale: int = Field(default=1)
    created_at: datetime = created_at_field()


class Admission(SQLModel, table=True):
    """A stay of a patient in a bed. Current while ``discharged_at`` is null: a bed holds at
    most one current admission and a patient has at most one."""

    __tablename__ = "admissions"
    __table_args__ = (
        sa.Index(
            "uq_admissions_bed_id_current",
            "bed_id",
            unique=True,
            postgresql_where=sa.text("discharged_at IS NULL"),
        ),
        sa.Index(
            "uq_admissions_patient_id_current",
            "patient_id",
            unique=True,
            postgresql_where=sa.text("discharged_at IS NULL"),
        ),
        sa.CheckConstraint(
            "discharged_at IS NULL OR discharged_at >= admitted_at", name="discharge_after_admit"
        ),
    )

    id: uuid.UUID = uuid_pk()
    patient_id: uuid.UUID = fk("patients.id", "CASCADE", nullable=False, index=True)
    bed_id: uuid.UUID = fk("beds.id", "RESTRICT", nullable=False, index=True)
    admitted_at: datetime = Field(
        default_factory=utcnow, sa_type=sa.DateTime(timezone=True), nullable=False
    )
    discharged_at: datetime | None = optional_ts_field()
