"""The REST JSON batch of ``POST /api/v1/vitals`` -> readings (pure: no I/O, no clock).

Body: ``{"observations": [{"patient", "observed_at", "source", "values"}, ...]}``.

- At most ``MAX_BATCH_ITEMS`` (5,000) observations per request (``BatchTooLarge``); the
  router also caps the raw body at ``MAX_BODY_BYTES`` (10 MiB) before parsing.
- Each item is checked on its own: good items are kept when others are bad.
- An item whose ``patient``, ``observed_at`` or ``source`` is unacceptable is rejected whole.
  An item with some bad ``values`` keeps its good values (a plausible heart rate is not lost
  because the thermometer sent 60 C); it is listed in ``rejected`` with one error per bad
  value and, under ``"accepted"``, the names of the values that were kept.
- Late and out-of-order readings are accepted and carry their own ``observed_at``; a time
  more than ``MAX_FUTURE_SKEW`` ahead of the server clock is refused.

Only ``BodyShapeError`` and ``BatchTooLarge`` are raised, for any input whatsoever.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from healthguard.clinical.vitals import FieldError, Reading, check_observed_at, validate_values

MAX_BATCH_ITEMS = 5_000
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_SOURCE_LENGTH = 128
MAX_IDENTIFIER_ECHO = 80
ITEM_FIELDS = ("patient", "observed_at", "source", "values")

# Given every patient identifier of a batch, the ones naming a known patient -> its id.
PatientResolver = Callable[[Iterable[str]], Mapping[str, uuid.UUID]]


class BodyShapeError(ValueError):
    """The body is not the documented shape (answered 422 as a whole)."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class BatchTooLarge(ValueError):
    """More observations than ``MAX_BATCH_ITEMS`` (answered 413)."""

    def __init__(self, count: int, limit: int = MAX_BATCH_ITEMS) -> None:
        super().__init__(
            f"{count} observations in one request; the limit is {limit} per request: "
            "split the batch"
        )
        self.count = count
        self.limit = limit


@dataclass
class Rejection:
    index: int
    errors: list[FieldError]
    accepted: list[str] = field(default_factory=list)  # values kept from this item

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.index,
            "errors": [{"field": e.field, "message": e.message} for e in self.errors],
        }
        if self.accepted:
            out["accepted"] = self.accepted
        return out


@dataclass
class ParsedBatch:
    readings: list[Reading]
    rejected: list[Rejection]
    accepted_items: int  # items with at least one reading kept
    total_items: int


def echo(identifier: str) -> str:
    text = identifier if len(identifier) <= MAX_IDENTIFIER_ECHO else identifier[:80] + "..."
    return repr(text)


def parse_timestamp(
    raw: object, where: str, now: datetime
) -> tuple[datetime | None, FieldError | None]:
    """An ISO 8601 time with a UTC offset, not too far in the future."""
    if not isinstance(raw, str) or not raw.strip():
        return None, FieldError(where, "is required: an ISO 8601 time with offset")
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None, FieldError(
            where, f"{echo(raw)} is not an ISO 8601 time, e.g. 2026-11-26T08:00:00Z"
        )
    try:
        problem = check_observed_at(value, now)
        if problem is not None:
            return None, FieldError(where, problem.message)
        return value.astimezone(UTC), None
    except (OverflowError, ValueError):  # e.g. year 1 with a positive offset
        return None, FieldError(where, f"{echo(raw)} is out of the supported range")


def parse_vitals_batch(
    body: object, *, resolve_patients: PatientResolver, now: datetime
) -> ParsedBatch:
    """Readings of every acceptable item and one rejection per unacceptable item."""
    if not isinstance(body, dict):
        raise BodyShapeError([FieldError("body", 'must be an object {"observations": [...]}')])
    items = body.get("observations")
    if not isinstance(items, list):
        raise BodyShapeError([FieldError("observations", "is required: a list of observations")])
    unknown = sorted(str(k) for k in body if k != "observations")
    if unknown:
        raise BodyShapeError([FieldError(k, "is not a known field") for k in unknown])
    if not items:
        raise BodyShapeError([FieldError("observations", "holds no observation")])
    if len(items) > MAX_BATCH_ITEMS:
        raise BatchTooLarge(len(items))

    identifiers = {
        item["patient"].strip()
        for item in items
        if isinstance(item, dict) and isinstance(item.get("patient"), str)
    }
    known = resolve_patients(sorted(i for i in identifiers if i))

    readings: list[Reading] = []
    rejected: list[Rejection] = []
    accepted_items = 0
    for index, item in enumerate(items):
        kept, errors = _item(item, known, now)
        readings.extend(kept)
        if kept:
            accepted_items += 1
        if errors:
            rejected.append(Rejection(index, errors, sorted({r.parameter for r in kept})))
    return ParsedBatch(readings, rejected, accepted_items, len(items))


def _item(
    item: object, known: Mapping[str, uuid.UUID], now: datetime
) -> tuple[list[Reading], list[FieldError]]:
    if not isinstance(item, dict):
        return [], [FieldError("observation", "must be an object {patient, observed_at, ...}")]
    errors = [
        FieldError(str(k), f"is not a known field (known: {', '.join(ITEM_FIELDS)})")
        for k in item
        if k not in ITEM_FIELDS
    ]
    patient_id: uuid.UUID | None = None
    raw_patient = item.get("patient")
    if not isinstance(raw_patient, str) or not raw_patient.strip():
        errors.append(FieldError("patient", "is required: a patient id or MRN"))
    else:
        patient_id = known.get(raw_patient.strip())
        if patient_id is None:
            errors.append(
                FieldError("patient", f"unknown patient {echo(raw_patient)} (no such id or MRN)")
            )
    observed_at, problem = parse_timestamp(item.get("observed_at"), "observed_at", now)
    if problem is not None:
        errors.append(problem)
    source = item.get("source")
    if not isinstance(source, str) or not source.strip():
        errors.append(FieldError("source", "is required: the device or gateway id"))
        source = None
    elif len(source.strip()) > MAX_SOURCE_LENGTH:
        errors.append(FieldError("source", f"is longer than {MAX_SOURCE_LENGTH} characters"))
        source = None
    values = item.get("values")
    if not isinstance(values, dict):
        errors.append(FieldError("values", "is required: an object of parameter -> value"))
        return [], errors
    if errors or patient_id is None or observed_at is None or source is None:
        return [], errors
    kept, value_errors = validate_values(
        {str(k): v for k, v in values.items()},
        patient_id=patient_id,
        source=source.strip(),
        observed_at=observed_at,
    )
    return kept, value_errors
