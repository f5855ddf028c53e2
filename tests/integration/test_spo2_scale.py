"""Setting a patient's NEWS2 SpO2 scale (PUT /api/v1/patients/{id}/spo2-scale) on the real
Postgres and Redis: who may, the ward scope, validation naming the field, exactly one audit
row per change (none for a repeat), the rescore request, and NEWS2 then scoring SpO2 on
Scale 2 in the triage worker (SpO2 90 % on air: 3 on Scale 1, 0 on Scale 2)."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from authsupport import (
    USER_OF_ROLE,
    AuditRow,
    CheckedClient,
    assert_error,
    audit_rows_after,
    bearer,
    fresh_tokens,
    last_audit_id,
)
from sqlmodel import col, select

from healthguard.api import build_api
from healthguard.clinical.vitals import Reading
from healthguard.db import session_scope
from healthguard.ingest.store import store_readings
from healthguard.models import Admission, Bed, News2Score, Observation, Patient, Ward
from healthguard.patients.scale import ScaleError, set_spo2_scale
from workers import triage

pytestmark = pytest.mark.integration

ACTION = "patient.spo2_scale_set"
REASON = "Confirmed type 2 respiratory failure (ABG pCO2 7.9 kPa); target 88-92 %"
NORMAL_ON_AIR = {
    "resp_rate": 16,
    "spo2": 90,  # 3 on Scale 1, 0 on Scale 2 (on air)
    "on_oxygen": False,
    "systolic_bp": 125,
    "heart_rate": 78,
    "consciousness": "A",
    "temperature_c": 36.9,
}


@pytest.fixture(scope="module")
def client(seeded: dict[str, int]) -> Iterator[CheckedClient]:
    with CheckedClient(build_api()) as client:
        yield client


@pytest.fixture(scope="module")
def headers(client: CheckedClient) -> dict[str, dict[str, str]]:
    """Authorization headers per role (tokens issued directly: no Argon2 sign-in each)."""
    return {role: bearer(fresh_tokens(user)[0]) for role, user in USER_OF_ROLE.items()}


@pytest.fixture
def redis_client(redis_url: str, app_env: dict[str, str]) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    for key in (triage.DIRTY, triage.PROCESSING, triage.PENDING):
        connection.delete(key)
    yield connection


_TAKEN: set[uuid.UUID] = set()


def fresh_patient(ward_code: str) -> uuid.UUID:
    """An admitted Scale 1 patient of the ward that no other test of this module has used."""
    with session_scope() as session:
        query = (
            select(Admission.patient_id, Ward.code)
            .join(Bed, col(Bed.id) == col(Admission.bed_id))
            .join(Ward, col(Ward.id) == col(Bed.ward_id))
            .join(Patient, col(Patient.id) == col(Admission.patient_id))
            .where(col(Admission.discharged_at).is_(None), Patient.spo2_scale == 1)
            .order_by(col(Ward.code), col(Bed.label))
        )
        rows = session.exec(query).all()
    free = [pid for pid, code in rows if pid not in _TAKEN and code == ward_code]
    assert free, f"no untouched admitted Scale 1 patient left in {ward_code}"
    _TAKEN.add(free[0])
    return free[0]


@pytest.fixture
def patient(seeded: dict[str, int]) -> uuid.UUID:
    """A patient of its own for a test that changes it (General Medicine: physicians and
    the rapid-response team see every ward)."""
    return fresh_patient("MED")


@pytest.fixture(scope="module")
def unchanged(seeded: dict[str, int]) -> uuid.UUID:
    """One Cardiology patient (the demo nurses' own ward) shared by the tests whose requests
    are all refused: each checks it is still on Scale 1."""
    return fresh_patient("CARD")


def put_scale(client: CheckedClient, headers: dict[str, str], patient_id: object, body: Any) -> Any:
    return client.put(f"/api/v1/patients/{patient_id}/spo2-scale", json=body, headers=headers)


def stored_scale(patient_id: uuid.UUID) -> int:
    with session_scope() as session:
        patient = session.get(Patient, patient_id)
        assert patient is not None
        return patient.spo2_scale


def rows_of(before: int) -> list[AuditRow]:
    return audit_rows_after(before)


def assert_field_error(response: Any, field: str) -> dict[str, Any]:
    error = assert_error(response, 422, "invalid_request")
    assert [f["field"] for f in error.get("fields", [])] == [field], error
    assert error["message"].startswith(f"{field}: "), error
    return error


# --- the change, its audit row and its rescore ------------------------------------------------


def test_physician_sets_scale_2_with_a_reason(
    client: CheckedClient,
    headers: dict[str, dict[str, str]],
    patient: uuid.UUID,
    redis_client: redis.Redis,
) -> None:
    before = last_audit_id()
    response = put_scale(client, headers["physician"], patient, {"scale": 2, "reason": REASON})
    assert response.status_code == 200, response.text
    assert response.json() == {"patient_id": str(patient), "spo2_scale": 2, "changed": True}
    assert stored_scale(patient) == 2

    rows = rows_of(before)
    assert Counter(r.action for r in rows) == {ACTION: 1}, rows
    [row] = rows
    assert (row.actor, row.record_type, row.record_id, row.outcome) == (
        USER_OF_ROLE["physician"],
        "patient",
        str(patient),
        "success",
    )
    assert row.details == {"from": 1, "to": 2, "reason": REASON}
    # The reason is in the audit row only: the answer does not echo it.
    assert REASON not in response.text

    # A rescore was requested after the commit (the triage worker drains this set).
    assert redis_client.sismember(triage.DIRTY, str(patient))

    # The same scale again: answered, nothing changed, no audit row, no rescore.
    redis_client.delete(triage.DIRTY)
    before = last_audit_id()
    again = put_scale(client, headers["physician"], patient, {"scale": 2, "reason": REASON})
    assert again.status_code == 200, again.text
    assert again.json() == {"patient_id": str(patient), "spo2_scale": 2, "changed": False}
    assert rows_of(before) == []
    assert not redis_client.sismember(triage.DIRTY, str(patient))

    # Back to Scale 1: no reason needed; audited with reason null.
    before = last_audit_id()
    back = put_scale(client, headers["rapid_response"], patient, {"scale": 1})
    assert back.status_code == 200, back.text
    assert back.json() == {"patient_id": str(patient), "spo2_scale": 1, "changed": True}
    [row] = rows_of(before)
    assert (row.action, row.actor) == (ACTION, USER_OF_ROLE["rapid_response"])
    assert row.details == {"from": 2, "to": 1, "reason": None}
    assert stored_scale(patient) == 1


def test_a_redis_outage_does_not_fail_the_change(
    client: CheckedClient,
    headers: dict[str, dict[str, str]],
    patient: uuid.UUID,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def redis_down(_: set[uuid.UUID]) -> None:
        raise redis.ConnectionError("Error 111 connecting to localhost:6379. Connection refused.")

    monkeypatch.setattr(triage, "request_scoring", redis_down)
    before = last_audit_id()
    with caplog.at_level(logging.ERROR):
        response = put_scale(client, headers["physician"], patient, {"scale": 2, "reason": REASON})
    assert response.status_code == 200, response.text
    assert response.json()["changed"] is True
    assert stored_scale(patient) == 2
    assert [r.action for r in rows_of(before)] == [ACTION]
    assert any("could not request scoring" in r.getMessage() for r in caplog.records)
    assert REASON not in caplog.text


# --- who may ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["nurse", "charge_nurse", "admin", "auditor"])
def test_roles_that_are_not_clinical_decision_makers_get_403(
    client: CheckedClient, headers: dict[str, dict[str, str]], unchanged: uuid.UUID, role: str
) -> None:
    # In the nurses' own ward: the role alone refuses.
    before = last_audit_id()
    response = put_scale(client, headers[role], unchanged, {"scale": 2, "reason": REASON})
    error = assert_error(response, 403, "forbidden")
    assert "patients:set_spo2_scale" in error["message"]
    assert stored_scale(unchanged) == 1
    assert [(r.action, r.details.get("reason")) for r in rows_of(before)] == [
        ("access.denied", "needs patients:set_spo2_scale")
    ]


def test_no_credentials_get_401(client: CheckedClient, unchanged: uuid.UUID) -> None:
    response = put_scale(client, {}, unchanged, {"scale": 2, "reason": REASON})
    assert_error(response, 401, "unauthorized")
    assert stored_scale(unchanged) == 1


def test_role_is_checked_before_the_body(
    client: CheckedClient, headers: dict[str, dict[str, str]], unchanged: uuid.UUID
) -> None:
    assert_error(put_scale(client, headers["nurse"], unchanged, {"scale": 3}), 403, "forbidden")


def test_unknown_patient_is_404(client: CheckedClient, headers: dict[str, dict[str, str]]) -> None:
    before = last_audit_id()
    response = put_scale(client, headers["physician"], uuid.uuid4(), {"scale": 2, "reason": REASON})
    error = assert_error(response, 404, "not_found")
    assert error["message"] == "No such patient, or not one you may see."
    assert rows_of(before) == []


def test_outside_the_ward_scope_is_404_even_with_break_the_glass(
    client: CheckedClient,
    headers: dict[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Physicians see the whole hospital by design, so the scope check cannot refuse one
    today; with that turned off here, dr.attending's scope is their own ward (Cardiology),
    which shows the route enforces the ward scope like the other patient writes: an ICU
    patient answers 404 like one that does not exist, and break-the-glass (which opens reads
    only) does not open the change."""
    monkeypatch.setattr("healthguard.security.scope.HOSPITAL_WIDE_ROLES", frozenset())
    icu, card = fresh_patient("ICU"), fresh_patient("CARD")
    doctor = headers["physician"]

    response = put_scale(client, doctor, icu, {"scale": 2, "reason": REASON})
    error = assert_error(response, 404, "not_found")
    assert error["message"] == "No such patient, or not one you may see."

    glass = client.post(
        f"/api/v1/patients/{icu}/break-glass",
        json={"reason": "Covering ICU during a rapid response call"},
        headers=doctor,
    )
    assert glass.status_code == 201, glass.text
    assert client.get(f"/api/v1/patients/{icu}", headers=doctor).json()["access"] == "break_glass"
    before = last_audit_id()
    assert_error(put_scale(client, doctor, icu, {"scale": 2, "reason": REASON}), 404, "not_found")
    assert rows_of(before) == []
    assert stored_scale(icu) == 1

    in_scope = put_scale(client, doctor, card, {"scale": 2, "reason": REASON})
    assert in_scope.status_code == 200, in_scope.text
    assert stored_scale(card) == 2


# --- validation names the field ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scale": 2}, "reason"),
        ({"scale": 2, "reason": None}, "reason"),
        ({"scale": 2, "reason": "   \n\t "}, "reason"),
        ({"scale": 2, "reason": "x" * 501}, "reason"),
        ({"scale": 1, "reason": "x" * 501}, "reason"),
        ({"scale": 3, "reason": REASON}, "scale"),
        ({"scale": 0}, "scale"),
        ({"scale": "2", "reason": REASON}, "scale"),
        ({"scale": 2.0, "reason": REASON}, "scale"),
        ({"scale": True, "reason": REASON}, "scale"),
        ({"reason": REASON}, "scale"),
        ({"scale": 2, "reason": REASON, "target": "88-92"}, "target"),
    ],
    ids=[
        "no-reason",
        "null-reason",
        "blank-reason",
        "long-reason",
        "long-reason-scale-1",
        "scale-3",
        "scale-0",
        "scale-string",
        "scale-float",
        "scale-bool",
        "no-scale",
        "unknown-field",
    ],
)
def test_bad_bodies_answer_422_naming_the_field(
    client: CheckedClient,
    headers: dict[str, dict[str, str]],
    unchanged: uuid.UUID,
    body: dict[str, Any],
    field: str,
) -> None:
    before = last_audit_id()
    assert_field_error(put_scale(client, headers["physician"], unchanged, body), field)
    assert stored_scale(unchanged) == 1
    assert rows_of(before) == []


def test_missing_reason_message_says_what_to_record(
    client: CheckedClient, headers: dict[str, dict[str, str]], unchanged: uuid.UUID
) -> None:
    error = assert_field_error(
        put_scale(client, headers["physician"], unchanged, {"scale": 2}), "reason"
    )
    assert "hypercapnic" in error["message"]


def test_the_service_refuses_bad_input_with_the_field(patient: uuid.UUID) -> None:
    now = datetime.now(UTC)
    cases: list[tuple[uuid.UUID, int, str | None, str]] = [
        (patient, 3, REASON, "scale"),
        (patient, 2, "", "reason"),
        (patient, 2, "y" * 501, "reason"),
        (uuid.uuid4(), 2, REASON, "patient"),
    ]
    for pid, scale, reason, field in cases:
        with session_scope() as session, pytest.raises(ScaleError) as caught:
            set_spo2_scale(session, pid, scale=scale, reason=reason, actor="pytest", now=now)
        assert caught.value.field == field
    with session_scope() as session:
        result = set_spo2_scale(
            session, patient, scale=2, reason=f"  {REASON}  ", actor="pytest", now=now
        )
        assert isinstance(result, Patient) and result.spo2_scale == 2
    [row] = [r for r in audit_rows_after(0) if r.record_id == str(patient) and r.action == ACTION]
    assert (row.action, row.actor, row.details["reason"]) == (ACTION, "pytest", REASON)


# --- NEWS2 then scores SpO2 on Scale 2 --------------------------------------------------------


def _readings(pid: uuid.UUID, at: datetime) -> list[Reading]:
    out = []
    for name, value in NORMAL_ON_AIR.items():
        if isinstance(value, bool):
            out.append(Reading(pid, name, 1.0 if value else 0.0, None, "", "bench-1", at))
        elif isinstance(value, str):
            out.append(Reading(pid, name, None, value, "", "bench-1", at))
        else:
            out.append(Reading(pid, name, float(value), None, "", "bench-1", at))
    return out


def _score_at(pid: uuid.UUID, at: datetime, client: redis.Redis) -> dict[str, Any]:
    with session_scope() as session:
        store_readings(session, _readings(pid, at), datetime.now(UTC))
    triage.score_patients([pid], now=at + timedelta(seconds=1), client=client)
    with session_scope() as session:
        score = session.exec(
            select(News2Score).where(News2Score.patient_id == pid, News2Score.observed_at == at)
        ).one()
        return {"total": score.total, **dict(score.subscores)}


def test_news2_scores_spo2_on_scale_2_after_the_switch(
    client: CheckedClient,
    headers: dict[str, dict[str, str]],
    patient: uuid.UUID,
    redis_client: redis.Redis,
) -> None:
    with session_scope() as session:  # only this test's readings are scored
        session.execute(sa.delete(Observation).where(col(Observation.patient_id) == patient))
    now = datetime.now(UTC)

    on_scale_1 = _score_at(patient, now - timedelta(minutes=5), redis_client)
    assert (on_scale_1["spo2"], on_scale_1["total"]) == (3, 3)

    response = put_scale(client, headers["physician"], patient, {"scale": 2, "reason": REASON})
    assert response.status_code == 200, response.text
    assert redis_client.sismember(triage.DIRTY, str(patient))

    on_scale_2 = _score_at(patient, now - timedelta(minutes=1), redis_client)
    assert (on_scale_2["spo2"], on_scale_2["total"]) == (0, 0)
