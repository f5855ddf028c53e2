"""FHIR R4 vital-sign Observations and Bundles -> readings (pure: no I/O, no clock).

Validated with the ``fhir.resources`` models (package ``fhir.resources.R4B``: R4B is R4
with errata, and identical for Observation and Bundle), then mapped through the LOINC codes
of the vital-signs profile and UCUM units:

=========================  ======================  =====================================
LOINC                      parameter               UCUM unit(s)
=========================  ======================  =====================================
8867-4                     heart_rate              /min, {beats}/min
2708-6, 59408-5            spo2                    %
9279-1                     resp_rate               /min, {breaths}/min
8480-6 / 8462-4            systolic / diastolic    mm[Hg]
8310-5                     temperature_c           Cel, [degF] (converted to Cel)
85354-9 (BP panel)         its components          as above
85353-1 (vital signs)      its components          as above
=========================  ======================  =====================================

An Observation is stored whole or not at all (a FHIR resource is one unit): any error
rejects it, reported as OperationOutcome issues (severity ``error``; code ``invalid``,
``not-found`` or ``not-supported``; ``diagnostics`` naming the field and the reason;
``expression`` the FHIRPath, e.g. ``Bundle.entry[2].resource.valueQuantity.code``).

Subject: ``Patient/<patient id>`` or an identifier (``subject.identifier.value``, the MRN).
Time: ``effectiveDateTime`` or ``effectiveInstant`` with a UTC offset. Source: the
``device`` (reference, identifier or display), else the caller's default.

Only ``FhirInputError`` is raised, for any input whatsoever.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pydantic
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation

from healthguard.clinical.vitals import (
    Parameter,
    Reading,
    fahrenheit_to_celsius,
    validate_values,
)
from healthguard.ingest.rest import MAX_BATCH_ITEMS, PatientResolver, echo, parse_timestamp

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
BP_PANEL = "85354-9"
VITALS_PANEL = "85353-1"
PANELS = (BP_PANEL, VITALS_PANEL)
LOINC_PARAMETERS: dict[str, Parameter] = {
    "8867-4": Parameter.HEART_RATE,
    "2708-6": Parameter.SPO2,
    "59408-5": Parameter.SPO2,
    "9279-1": Parameter.RESP_RATE,
    "8480-6": Parameter.SYSTOLIC_BP,
    "8462-4": Parameter.DIASTOLIC_BP,
    "8310-5": Parameter.TEMPERATURE_C,
}
UNITS: dict[Parameter, tuple[str, ...]] = {
    Parameter.HEART_RATE: ("/min", "{beats}/min"),
    Parameter.RESP_RATE: ("/min", "{breaths}/min"),
    Parameter.SPO2: ("%",),
    Parameter.SYSTOLIC_BP: ("mm[Hg]",),
    Parameter.DIASTOLIC_BP: ("mm[Hg]",),
    Parameter.TEMPERATURE_C: ("Cel", "[degF]"),
}
ACCEPTED_STATUS = ("final", "amended", "corrected", "preliminary")
BUNDLE_TYPES = ("transaction", "batch", "collection")


@dataclass(frozen=True)
class Issue:
    code: str  # invalid | not-found | not-supported | processing | too-costly
    diagnostics: str
    expression: str
    severity: str = "error"

    def as_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.diagnostics,
            "expression": [self.expression],
        }


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [i.as_dict() for i in issues]}


class FhirInputError(ValueError):
    """The request as a whole is unacceptable (not a resource, not a Bundle, too many)."""

    def __init__(self, issues: list[Issue], status: int = 422) -> None:
        super().__init__("; ".join(i.diagnostics for i in issues))
        self.issues = issues
        self.status = status


@dataclass
class ObservationResult:
    readings: list[Reading] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues


@dataclass
class BundleResult:
    type: str
    entries: list[ObservationResult]


def subject_identifier(resource: object) -> str | None:
    """The patient id (from ``Patient/<id>``) or MRN of a raw Observation, if any."""
    if not isinstance(resource, dict):
        return None
    subject = resource.get("subject")
    if not isinstance(subject, dict):
        return None
    reference = subject.get("reference")
    if isinstance(reference, str) and reference.startswith("Patient/"):
        return reference.removeprefix("Patient/").strip() or None
    identifier = subject.get("identifier")
    if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
        return identifier["value"].strip() or None
    return None


def parse_observation(
    data: object, *, resolve_patients: PatientResolver, now: datetime, default_source: str
) -> ObservationResult:
    """The readings of one Observation, or the issues that reject it."""
    identifier = subject_identifier(data)
    known = resolve_patients([identifier] if identifier else [])
    return _observation(data, known, now, default_source, "Observation")


def parse_bundle(
    data: object, *, resolve_patients: PatientResolver, now: datetime, default_source: str
) -> BundleResult:
    """One result per entry (each Observation on its own). Raises FhirInputError when the
    body is not a Bundle of type transaction, batch or collection, or has too many entries."""
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise FhirInputError([Issue("invalid", "resourceType: must be Bundle", "Bundle")])
    entries = data.get("entry", [])
    if not isinstance(entries, list):
        raise FhirInputError([Issue("invalid", "entry: must be a list", "Bundle.entry")])
    if len(entries) > MAX_BATCH_ITEMS:
        raise FhirInputError(
            [
                Issue(
                    "too-costly",
                    f"entry: {len(entries)} entries; at most {MAX_BATCH_ITEMS} per Bundle",
                    "Bundle.entry",
                )
            ],
            status=413,
        )
    envelope = {**data, "entry": [_without_resource(e) for e in entries]}
    issues = _model_issues(Bundle, envelope, "Bundle")
    kind = data.get("type")
    if kind not in BUNDLE_TYPES:
        issues.append(
            Issue(
                "not-supported",
                f"type: {echo(str(kind))} is not accepted (use {', '.join(BUNDLE_TYPES)})",
                "Bundle.type",
            )
        )
    if not entries:
        issues.append(Issue("invalid", "entry: the Bundle holds no Observation", "Bundle.entry"))
    if issues:
        raise FhirInputError(issues)
    resources = [e.get("resource") if isinstance(e, dict) else None for e in entries]
    identifiers = {i for i in map(subject_identifier, resources) if i}
    known = resolve_patients(sorted(identifiers))
    results = [
        _observation(resource, known, now, default_source, f"Bundle.entry[{n}].resource")
        for n, resource in enumerate(resources)
    ]
    return BundleResult(str(kind), results)


def _without_resource(entry: object) -> object:
    if isinstance(entry, dict):
        return {k: v for k, v in entry.items() if k != "resource"}
    return entry


def _model_issues(model: type[pydantic.BaseModel], data: dict[str, Any], path: str) -> list[Issue]:
    try:
        model.model_validate(data)
    except pydantic.ValidationError as exc:
        issues = []
        for error in exc.errors():
            loc = ".".join(str(p) for p in error["loc"] if not isinstance(p, int))
            where = f"{path}.{loc}" if loc else path
            message = str(error["msg"])
            if loc.startswith("effective"):
                message += " (needs a date and time with offset, e.g. 2026-11-26T08:00:00Z)"
            issues.append(Issue("invalid", f"{loc or path}: {message}", where))
        return issues
    except Exception as exc:  # the model library must never take the request down
        return [Issue("invalid", f"not a valid {path}: {type(exc).__name__}", path)]
    return []


def _observation(
    data: object, known: Mapping[str, uuid.UUID], now: datetime, default_source: str, path: str
) -> ObservationResult:
    result = ObservationResult()
    issues = result.issues
    if not isinstance(data, dict) or data.get("resourceType") != "Observation":
        issues.append(Issue("not-supported", "resourceType: must be Observation", path))
        return result
    issues.extend(_model_issues(Observation, data, path))
    if issues:
        return result
    status = data.get("status")
    if status not in ACCEPTED_STATUS:
        issues.append(
            Issue(
                "invalid",
                f"status: {echo(str(status))} is not a usable result "
                f"(accepted: {', '.join(ACCEPTED_STATUS)})",
                f"{path}.status",
            )
        )
    identifier = subject_identifier(data)
    patient_id = known.get(identifier) if identifier else None
    if identifier is None:
        issues.append(
            Issue(
                "invalid",
                "subject: is required, as Patient/<id> or an identifier with the MRN",
                f"{path}.subject",
            )
        )
    elif patient_id is None:
        issues.append(
            Issue("not-found", f"subject: unknown patient {echo(identifier)}", f"{path}.subject")
        )
    observed_at = None
    effective = [k for k in ("effectiveDateTime", "effectiveInstant") if k in data]
    if not effective:
        issues.append(
            Issue(
                "invalid",
                "effective[x]: effectiveDateTime or effectiveInstant (with offset) is required",
                f"{path}.effective",
            )
        )
    else:
        observed_at, problem = parse_timestamp(data[effective[0]], effective[0], now)
        if problem is not None:
            issues.append(
                Issue("invalid", f"{problem.field}: {problem.message}", f"{path}.{effective[0]}")
            )
    source = _source(data) or default_source
    parts = _parts(data, path, issues)
    if issues or patient_id is None or observed_at is None:
        return result
    for parameter, value, where in parts:
        readings, errors = validate_values(
            {parameter.value: value},
            patient_id=patient_id,
            source=source,
            observed_at=observed_at.astimezone(UTC),
        )
        result.readings.extend(readings)
        issues.extend(
            Issue("invalid", f"{where.removeprefix(path + '.')}: {e.message}", where)
            for e in errors
        )
    if issues:
        result.readings.clear()
    return result


def _source(data: dict[str, Any]) -> str | None:
    device = data.get("device")
    if not isinstance(device, dict):
        return None
    identifier = device.get("identifier")
    for candidate in (
        device.get("reference"),
        identifier.get("value") if isinstance(identifier, dict) else None,
        device.get("display"),
    ):
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip()[:128]
    return None


def _loinc(code: object, where: str, issues: list[Issue]) -> str | None:
    """The first LOINC code we know (or a panel code), else an issue naming what came."""
    codings = code.get("coding") if isinstance(code, dict) else None
    seen: list[str] = []
    for coding in codings if isinstance(codings, list) else []:
        if not isinstance(coding, dict):
            continue
        system, value = coding.get("system"), coding.get("code")
        seen.append(f"{system}|{value}")
        if system == LOINC and (value in LOINC_PARAMETERS or value in PANELS):
            return str(value)
    issues.append(
        Issue(
            "not-supported",
            f"code: no supported LOINC vital-sign code (got {', '.join(seen) or 'none'}; "
            f"supported: {', '.join([*LOINC_PARAMETERS, *PANELS])} with system {LOINC})",
            f"{where}.coding",
        )
    )
    return None


def _quantity(
    parameter: Parameter, quantity: object, where: str, issues: list[Issue]
) -> float | None:
    if not isinstance(quantity, dict) or quantity.get("value") is None:
        issues.append(Issue("invalid", "valueQuantity: a value is required", where))
        return None
    system = quantity.get("system")
    unit = quantity.get("code") or quantity.get("unit")
    allowed = UNITS[parameter]
    if system not in (None, UCUM) or unit not in allowed:
        issues.append(
            Issue(
                "not-supported",
                f"valueQuantity.code: unit {echo(str(unit))} (system {system}) is not accepted "
                f"for {parameter.value}; use UCUM {' or '.join(allowed)}",
                f"{where}.code",
            )
        )
        return None
    try:
        value = float(quantity["value"])
    except (TypeError, ValueError, OverflowError):
        issues.append(Issue("invalid", "valueQuantity.value: must be a number", f"{where}.value"))
        return None
    return fahrenheit_to_celsius(value) if unit == "[degF]" else value


def _parts(
    data: dict[str, Any], path: str, issues: list[Issue]
) -> list[tuple[Parameter, float, str]]:
    """(parameter, value, FHIRPath of the value) of the Observation or of its components."""
    code = _loinc(data.get("code"), f"{path}.code", issues)
    if code is None:
        return []
    if code not in PANELS:
        value = _quantity(
            LOINC_PARAMETERS[code], data.get("valueQuantity"), f"{path}.valueQuantity", issues
        )
        return [] if value is None else [(LOINC_PARAMETERS[code], value, f"{path}.valueQuantity")]
    components = data.get("component")
    if not isinstance(components, list) or not components:
        issues.append(
            Issue(
                "invalid",
                f"component: panel {code} needs components, each with a code and valueQuantity",
                f"{path}.component",
            )
        )
        return []
    parts = []
    for n, component in enumerate(components):
        where = f"{path}.component[{n}]"
        if not isinstance(component, dict):
            continue
        part = _loinc(component.get("code"), f"{where}.code", issues)
        if part is None:
            continue
        if part in PANELS:
            issues.append(Issue("not-supported", "code: panels cannot nest", f"{where}.code"))
            continue
        parameter = LOINC_PARAMETERS[part]
        value = _quantity(
            parameter, component.get("valueQuantity"), f"{where}.valueQuantity", issues
        )
        if value is not None:
            parts.append((parameter, value, f"{where}.valueQuantity"))
    return parts
