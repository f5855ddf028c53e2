"""The one internal observation type, and the validation every way in (REST, FHIR, HL7)
goes through before anything else happens. Pure: no I/O, no clock of its own.

Plausibility ranges reject values no living patient can have (a heart rate of 900, a
temperature of 60 C) with the range in the message; they are not alarm limits. Values are
stored as received; NEWS2 rounds them (see healthguard.clinical.news2).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Parameter(StrEnum):
    HEART_RATE = "heart_rate"
    SPO2 = "spo2"
    RESP_RATE = "resp_rate"
    SYSTOLIC_BP = "systolic_bp"
    DIASTOLIC_BP = "diastolic_bp"
    TEMPERATURE_C = "temperature_c"
    CONSCIOUSNESS = "consciousness"
    ON_OXYGEN = "on_oxygen"
    # Technical and rhythm alarms reported by the monitor (value_text), IEC 60601-1-8
    # technical alarms are a separate type from physiological ones.
    RHYTHM = "rhythm"  # e.g. "VF", "VT", "ASYSTOLE", "SINUS"
    TECHNICAL = "technical"  # e.g. "LEAD_OFF", "PROBE_OFF", "LOW_BATTERY"


@dataclass(frozen=True)
class NumericSpec:
    unit: str  # UCUM
    low: float
    high: float
    label: str


NUMERIC: dict[Parameter, NumericSpec] = {
    Parameter.HEART_RATE: NumericSpec("/min", 0, 350, "heart rate"),
    Parameter.SPO2: NumericSpec("%", 0, 100, "SpO2"),
    Parameter.RESP_RATE: NumericSpec("/min", 0, 100, "respiration rate"),
    Parameter.SYSTOLIC_BP: NumericSpec("mm[Hg]", 0, 300, "systolic blood pressure"),
    Parameter.DIASTOLIC_BP: NumericSpec("mm[Hg]", 0, 250, "diastolic blood pressure"),
    Parameter.TEMPERATURE_C: NumericSpec("Cel", 25, 45, "temperature"),
}
ACVPU = ("A", "C", "V", "P", "U")
RHYTHMS = ("SINUS", "VF", "VT", "ASYSTOLE", "PEA", "AF", "BRADY", "TACHY")
TECHNICAL_ALARMS = ("LEAD_OFF", "PROBE_OFF", "LOW_BATTERY", "NO_SIGNAL", "ARTIFACT")
FAHRENHEIT = "temperature_f"
# A reading may be stamped a little ahead of the server clock (device clocks drift).
MAX_FUTURE_SKEW = timedelta(minutes=2)


@dataclass(frozen=True)
class Reading:
    """One value of one parameter of one patient at one time, from one source."""

    patient_id: uuid.UUID
    parameter: str
    value: float | None
    value_text: str | None
    unit: str
    source: str
    observed_at: datetime


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


def fahrenheit_to_celsius(value: float) -> float:
    return (value - 32.0) * 5.0 / 9.0


def check_observed_at(observed_at: datetime, now: datetime) -> FieldError | None:
    if observed_at.tzinfo is None:
        return FieldError("observed_at", "needs a time zone offset, e.g. 2026-11-26T08:00:00Z")
    if observed_at > now + MAX_FUTURE_SKEW:
        return FieldError(
            "observed_at",
            f"is {int((observed_at - now).total_seconds())} s in the future; readings may be at "
            f"most {int(MAX_FUTURE_SKEW.total_seconds())} s ahead of the server clock",
        )
    return None


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def validate_values(
    values: dict[str, object],
    *,
    patient_id: uuid.UUID,
    source: str,
    observed_at: datetime,
    field_prefix: str = "values",
) -> tuple[list[Reading], list[FieldError]]:
    """Readings for every acceptable value, and an error naming each unacceptable one.

    `values` may hold any subset of the parameters (monitors report at different rates),
    plus `temperature_f` (converted to Celsius)."""
    readings: list[Reading] = []
    errors: list[FieldError] = []
    if not values:
        errors.append(FieldError(field_prefix, "holds no values"))
    for key, raw in values.items():
        where = f"{field_prefix}.{key}"
        if key == FAHRENHEIT:
            number = _number(raw)
            if number is None:
                errors.append(FieldError(where, "must be a number (degrees Fahrenheit)"))
                continue
            key, raw = Parameter.TEMPERATURE_C.value, fahrenheit_to_celsius(number)
        try:
            parameter = Parameter(key)
        except ValueError:
            known = ", ".join([*(p.value for p in Parameter), FAHRENHEIT])
            errors.append(FieldError(where, f"is not a known parameter (known: {known})"))
            continue
        reading, error = _one(parameter, raw, where, patient_id, source, observed_at)
        if error is not None:
            errors.append(error)
        elif reading is not None:
            readings.append(reading)
    return readings, errors


def _one(
    parameter: Parameter,
    raw: object,
    where: str,
    patient_id: uuid.UUID,
    source: str,
    observed_at: datetime,
) -> tuple[Reading | None, FieldError | None]:
    def reading(value: float | None, text: str | None, unit: str) -> Reading:
        return Reading(patient_id, parameter.value, value, text, unit, source, observed_at)

    if parameter in NUMERIC:
        spec = NUMERIC[parameter]
        number = _number(raw)
        if number is None:
            return None, FieldError(where, f"must be a number ({spec.unit})")
        if not spec.low <= number <= spec.high:
            return None, FieldError(
                where,
                f"{number:g} is outside the plausible range of {spec.label}, "
                f"{spec.low:g} to {spec.high:g} {spec.unit}",
            )
        return reading(number, None, spec.unit), None
    if parameter is Parameter.ON_OXYGEN:
        if not isinstance(raw, bool):
            return None, FieldError(where, "must be true (on oxygen) or false (on air)")
        return reading(1.0 if raw else 0.0, None, ""), None
    choices = {
        Parameter.CONSCIOUSNESS: ACVPU,
        Parameter.RHYTHM: RHYTHMS,
        Parameter.TECHNICAL: TECHNICAL_ALARMS,
    }[parameter]
    text = raw.strip().upper() if isinstance(raw, str) else None
    if text not in choices:
        return None, FieldError(where, f"must be one of {', '.join(choices)}")
    return reading(None, text, ""), None
