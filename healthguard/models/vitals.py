"""Vital-sign observations as stored after ingest (REST, FHIR and HL7 all end up here)."""

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from healthguard.models.base import fk, utcnow


class VitalParameter(StrEnum):
    """The parameters HealthGuard scores. ``consciousness`` uses ``value_text`` (ACVPU
    letter); ``on_oxygen`` is 1.0 on supplemental oxygen, 0.0 on air."""

    HEART_RATE = "heart_rate"
    SPO2 = "spo2"
    RESP_RATE = "resp_rate"
    SYSTOLIC_BP = "systolic_bp"
    DIASTOLIC_BP = "diastolic_bp"
    TEMPERATURE_C = "temperature_c"
    CONSCIOUSNESS = "consciousness"
    ON_OXYGEN = "on_oxygen"


class Observation(SQLModel, table=True):
    """One measured value of one parameter for one patient at one time.

    Ingest is idempotent: the same (source, patient, parameter, observed_at) is stored once,
    so a replayed message or job inserts nothing new (INSERT ... ON CONFLICT DO NOTHING).
    """

    __tablename__ = "observations"
    __table_args__ = (sa.UniqueConstraint("source", "patient_id", "parameter", "observed_at"),)

    id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True),
    )
    patient_id: uuid.UUID = fk("patients.id", "CASCADE", nullable=False)
    parameter: str = Field(max_length=32, description="A VitalParameter value.")
    value: float | None = None
    value_text: str | None = Field(default=None, max_length=64)
    unit: str = Field(default="", max_length=32, description='UCUM unit, e.g. "/min", "%".')
    source: str = Field(max_length=128, description="Device or gateway id.")
    observed_at: datetime = Field(
        default_factory=utcnow, sa_type=sa.DateTime(timezone=True), nullable=False
    )
    received_at: datetime = Field(
        default_factory=utcnow, sa_type=sa.DateTime(timezone=True), nullable=False
    )


# "Latest vitals per patient": newest first within (patient, parameter).
sa.Index(
    "ix_observations_patient_id_parameter_observed_at",
    Observation.__table__.c.patient_id,  # type: ignore[attr-defined]
    Observation.__table__.c.parameter,  # type: ignore[attr-defined]
    Observation.__table__.c.observed_at.desc(),  # type: ignore[attr-defined]
)

# "What arrived since": the triage worker's kept histories read new readings by received_at.
sa.Index(
    "ix_observations_patient_id_received_at",
    Observation.__table__.c.patient_id,  # type: ignore[attr-defined]
    Observation.__table__.c.received_at,  # type: ignore[attr-defined]
)
