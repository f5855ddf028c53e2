"""POST /api/v1/vitals: a batch of vital-sign observations from a monitor or gateway.

Answer 202 ``{"accepted", "readings", "stored", "rejected"}`` once the readings are
committed in Postgres (durable). ``accepted`` counts observation ITEMS with at least one
reading kept; ``readings`` the readings kept; ``stored`` the ones new to the database (a
replay stores nothing twice, so it answers the same ``accepted`` with ``stored`` 0);
``rejected`` one entry per item with an error (``index``, ``errors`` [{field, message}] and,
for an item whose other values were kept, ``accepted`` naming them).

422: the body is not JSON or not the documented shape, or no item is acceptable.
413: the body is over 10 MiB (refused while reading, before parsing) or holds more than
5,000 observations.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from healthguard.api.errors import error_body
from healthguard.api.security import secured
from healthguard.db import session_scope
from healthguard.ingest.rest import (
    MAX_BATCH_ITEMS,
    MAX_BODY_BYTES,
    BatchTooLarge,
    BodyShapeError,
    ParsedBatch,
    parse_vitals_batch,
)
from healthguard.ingest.store import after_commit_scoring, resolve_patients, store_readings
from healthguard.security.permissions import Permission

router = APIRouter(prefix="/vitals", tags=["vitals"])


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is larger than the limit of {limit} bytes")
        self.limit = limit


class BodyNotJson(Exception):
    pass


async def read_limited_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refusing (BodyTooLarge) as soon as it exceeds `limit` bytes: by the
    Content-Length header if sent, else while streaming."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int = MAX_BODY_BYTES) -> Any:
    raw = await read_limited_body(request, limit)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BodyNotJson(f"is not valid JSON ({exc})") from None


def too_large(message: str) -> JSONResponse:
    return JSONResponse(error_body("payload_too_large", message), status_code=413)


class VitalsItem(BaseModel):
    patient: str = Field(description="Patient id (UUID) or MRN.")
    observed_at: datetime = Field(description="ISO 8601 with offset, when it was measured.")
    source: str = Field(max_length=128, description="Device or gateway id.")
    values: dict[str, Any] = Field(
        description="Any subset of heart_rate, spo2, resp_rate, systolic_bp, diastolic_bp, "
        "temperature_c (or temperature_f, converted), consciousness (A/C/V/P/U), on_oxygen, "
        "rhythm, technical."
    )


class VitalsBatch(BaseModel):
    observations: list[VitalsItem] = Field(max_length=MAX_BATCH_ITEMS)


class VitalsAccepted(BaseModel):
    accepted: int = Field(description="Observation items with at least one reading kept.")
    readings: int = Field(description="Readings kept (stored now or before).")
    stored: int = Field(description="Readings new to the database (0 for a replay).")
    rejected: list[dict[str, Any]]


def _ingest(body: Any, now: datetime) -> tuple[ParsedBatch, int]:
    """Parse, resolve, store and commit (in a worker thread); then request scoring."""
    with session_scope() as session:

        def resolver(identifiers: Iterable[str]) -> Mapping[str, uuid.UUID]:
            return resolve_patients(session, identifiers)

        parsed = parse_vitals_batch(body, resolve_patients=resolver, now=now)
        new = store_readings(session, parsed.readings, now)
    after_commit_scoring(new.patient_ids, new.urgent)
    return parsed, len(new)


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its `$defs` inlined: a `#/$defs/...` reference inside an
    OpenAPI document would point at the document's root, where there is no `$defs`."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


_permission = secured(Permission.INGEST_VITALS)


@router.post(
    "",
    status_code=202,
    response_model=VitalsAccepted,
    summary="Ingest a batch of vital-sign observations",
    dependencies=_permission["dependencies"],
    openapi_extra={
        **_permission["openapi_extra"],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline_schema(VitalsBatch)}},
        },
    },
    responses={413: {"description": "Body over 10 MiB or more than 5,000 observations."}},
)
async def ingest_vitals(request: Request) -> JSONResponse:
    try:
        body = await read_json(request)
    except BodyTooLarge as exc:
        return too_large(f"{exc}; send at most {MAX_BATCH_ITEMS} observations per request")
    except BodyNotJson as exc:
        field = [{"field": "body", "message": str(exc)}]
        return JSONResponse(error_body("invalid_request", f"body: {exc}", field), status_code=422)
    now = datetime.now(UTC)
    try:
        parsed, stored = await asyncio.to_thread(_ingest, body, now)
    except BatchTooLarge as exc:
        return too_large(str(exc))
    except BodyShapeError as exc:
        fields = [{"field": e.field, "message": e.message} for e in exc.errors]
        return JSONResponse(error_body("invalid_request", str(exc), fields), status_code=422)
    rejected = [r.as_dict() for r in parsed.rejected]
    if not parsed.readings:
        fields = [
            {"field": f"observations[{r['index']}].{e['field']}", "message": e["message"]}
            for r in rejected
            for e in r["errors"]
        ]
        return JSONResponse(
            error_body(
                "invalid_request",
                f"no observation was acceptable ({len(rejected)} rejected); see fields",
                fields,
            ),
            status_code=422,
        )
    return JSONResponse(
        {
            "accepted": parsed.accepted_items,
            "readings": len(parsed.readings),
            "stored": stored,
            "rejected": rejected,
        },
        status_code=202,
    )
