"""FHIR R4 ingestion: POST /api/v1/fhir/Observation and POST /api/v1/fhir (a Bundle).

Bodies are ``application/fhir+json`` (``application/json`` accepted too), at most 10 MiB.
Answers are FHIR JSON (``application/fhir+json``):

- Observation: 201 with an OperationOutcome (severity ``information``) saying how many
  readings were stored; 422 with an OperationOutcome (severity ``error``) naming each
  problem (diagnostics) and where (expression, FHIRPath).
- Bundle ``batch`` or ``collection``: 200 with a ``batch-response`` Bundle, one entry per
  entry in order: ``response.status`` "201 Created" or "422 Unprocessable Entity", with its
  OperationOutcome in ``response.outcome``.
- Bundle ``transaction``: all or nothing: 200 ``transaction-response`` when every entry is
  acceptable, else 422 with an OperationOutcome listing every problem and nothing stored.
- 413 (OperationOutcome ``too-costly``): over 10 MiB or more than 5,000 entries.

Authentication errors (401/403) use the API's common error shape.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from healthguard.api.security import secured
from healthguard.api.vitals import BodyNotJson, BodyTooLarge, read_json
from healthguard.db import session_scope
from healthguard.ingest.fhir import (
    FhirInputError,
    Issue,
    ObservationResult,
    operation_outcome,
    parse_bundle,
    parse_observation,
)
from healthguard.ingest.rest import MAX_BODY_BYTES
from healthguard.ingest.store import after_commit_scoring, resolve_patients, store_readings
from healthguard.security.permissions import Permission

router = APIRouter(prefix="/fhir", tags=["fhir"])
FHIR_JSON = "application/fhir+json"
DEFAULT_SOURCE = "fhir"


def fhir_response(body: dict[str, Any], status: int) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON)


def outcome_response(issues: list[Issue], status: int) -> JSONResponse:
    return fhir_response(operation_outcome(issues), status)


def _information(stored: int, new: int) -> dict[str, Any]:
    return operation_outcome(
        [
            Issue(
                "informational",
                f"{stored} reading(s) accepted, {new} new (the rest were already stored)",
                "Observation",
                severity="information",
            )
        ]
    )


async def _body(request: Request) -> Any:
    try:
        return await read_json(request)
    except BodyTooLarge as exc:
        raise FhirInputError([Issue("too-costly", str(exc), "Resource")], status=413) from None
    except BodyNotJson as exc:
        raise FhirInputError([Issue("invalid", f"body: {exc}", "Resource")]) from None


def _resolver(session: Any) -> Any:
    def resolve(identifiers: Iterable[str]) -> Mapping[str, uuid.UUID]:
        return resolve_patients(session, identifiers)

    return resolve


def _store_observation(data: Any, now: datetime) -> tuple[ObservationResult, int]:
    with session_scope() as session:
        result = parse_observation(
            data, resolve_patients=_resolver(session), now=now, default_source=DEFAULT_SOURCE
        )
        new = store_readings(session, result.readings if result.ok else [], now)
    after_commit_scoring(new.patient_ids, new.urgent)
    return result, len(new)


def _store_bundle(data: Any, now: datetime) -> tuple[str, list[tuple[ObservationResult, int]]]:
    with session_scope() as session:
        bundle = parse_bundle(
            data, resolve_patients=_resolver(session), now=now, default_source=DEFAULT_SOURCE
        )
        if bundle.type == "transaction" and any(not e.ok for e in bundle.entries):
            raise FhirInputError([i for e in bundle.entries for i in e.issues])
        out: list[tuple[ObservationResult, int]] = []
        every_new: set[uuid.UUID] = set()
        urgent: set[uuid.UUID] = set()
        for entry in bundle.entries:
            new = store_readings(session, entry.readings if entry.ok else [], now)
            every_new |= new.patient_ids
            urgent |= new.urgent
            out.append((entry, len(new)))
    after_commit_scoring(every_new, urgent)
    return bundle.type, out


_permission = secured(Permission.INGEST_VITALS)


def _openapi(schema_ref: str) -> dict[str, Any]:
    body = {"type": "object", "description": f"A FHIR R4 {schema_ref} (JSON)."}
    return {
        **_permission["openapi_extra"],
        "requestBody": {
            "required": True,
            "content": {FHIR_JSON: {"schema": body}, "application/json": {"schema": body}},
        },
    }


@router.post(
    "/Observation",
    status_code=201,
    summary="Ingest one FHIR R4 vital-signs Observation",
    dependencies=_permission["dependencies"],
    openapi_extra=_openapi("Observation"),
)
async def post_observation(request: Request) -> JSONResponse:
    now = datetime.now(UTC)
    try:
        data = await _body(request)
        result, new = await asyncio.to_thread(_store_observation, data, now)
    except FhirInputError as exc:
        return outcome_response(exc.issues, exc.status)
    if not result.ok:
        return outcome_response(result.issues, 422)
    return fhir_response(_information(len(result.readings), new), 201)


@router.post(
    "",
    status_code=200,
    summary="Ingest a FHIR R4 Bundle (transaction, batch or collection) of Observations",
    dependencies=_permission["dependencies"],
    openapi_extra=_openapi("Bundle"),
)
async def post_bundle(request: Request) -> JSONResponse:
    now = datetime.now(UTC)
    try:
        data = await _body(request)
        kind, entries = await asyncio.to_thread(_store_bundle, data, now)
    except FhirInputError as exc:
        return outcome_response(exc.issues, exc.status)
    response_entries = []
    for result, new in entries:
        if result.ok:
            response = {
                "status": "201 Created",
                "outcome": _information(len(result.readings), new),
            }
        else:
            response = {
                "status": "422 Unprocessable Entity",
                "outcome": operation_outcome(result.issues),
            }
        response_entries.append({"response": response})
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction-response" if kind == "transaction" else "batch-response",
        "entry": response_entries,
    }
    return fhir_response(bundle, 200)


__all__ = ["MAX_BODY_BYTES", "router"]
