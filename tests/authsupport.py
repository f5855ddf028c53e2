"""Helpers for the security tests: a test client that refuses tracebacks, sign-in, audit-log
look-ups and the ids of demo records (import as `from authsupport import ...`).

Everything here runs inside the `app_env`/`seeded` fixtures (settings point at the module's
database)."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import col, select

from healthguard.db import session_scope
from healthguard.models import (
    Admission,
    ApiKey,
    AuditLog,
    Bed,
    Incident,
    Notification,
    User,
    Ward,
)
from healthguard.security.accounts import Origin, create_api_key, issue_tokens, principal_of
from healthguard.security.demo import DEMO_PASSWORD
from healthguard.security.permissions import Principal
from healthguard.settings import get_settings

# One demo login per role (DEMO_USERS in healthguard.seed); the clinical ones are in
# Cardiology (the physician and rapid response see the hospital anyway).
USER_OF_ROLE: dict[str, str] = {
    "nurse": "nurse.card",
    "charge_nurse": "charge.card",
    "physician": "dr.attending",
    "rapid_response": "rrt.lead",
    "admin": "admin",
    "auditor": "auditor",
}


class CheckedClient(TestClient):
    """A TestClient whose every answer is checked: no stack trace ever reaches a client."""

    def request(self, *args: Any, **kwargs: Any) -> httpx.Response:
        response = super().request(*args, **kwargs)
        assert "Traceback" not in response.text, response.text
        return response


def principal(username: str) -> Principal:
    """The principal of a seeded login, as the app builds it after sign-in."""
    with session_scope() as session:
        return principal_of(session.exec(select(User).where(User.username == username)).one())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_in(client: TestClient, username: str, password: str = DEMO_PASSWORD) -> dict[str, Any]:
    """The token answer of POST /api/v1/auth/token (asserts success)."""
    response = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return dict(response.json())


def fresh_tokens(username: str) -> tuple[str, str]:
    """(access, refresh) for a user without the Argon2 sign-in (a new refresh family)."""
    with session_scope() as session:
        user = session.exec(select(User).where(User.username == username)).one()
        pair = issue_tokens(
            session, user, settings=get_settings(), now=datetime.now(UTC), origin=Origin()
        )
        return pair.access_token, pair.refresh_token


def new_integration_key(name: str, scopes: list[str]) -> tuple[str, str]:
    """(id, plaintext) of a new integration key."""
    with session_scope() as session:
        key, plaintext = create_api_key(
            session,
            name=name,
            scopes=scopes,
            created_by="pytest",
            now=datetime.now(UTC),
            origin=Origin(),
        )
        return str(key.id), plaintext


def api_key_revoked(key_id: str) -> bool:
    with session_scope() as session:
        key = session.get(ApiKey, uuid.UUID(key_id))
        return key is not None and key.revoked_at is not None


# --- audit log ------------------------------------------------------------------------------


def last_audit_id() -> int:
    with session_scope() as session:
        return int(session.exec(select(sa.func.coalesce(sa.func.max(AuditLog.id), 0))).one() or 0)


@dataclass(frozen=True)
class AuditRow:
    id: int
    actor: str
    action: str
    record_type: str
    record_id: str | None
    outcome: str
    details: dict[str, Any]


def audit_rows_after(last_id: int) -> list[AuditRow]:
    """The audit rows written after row `last_id`, oldest first."""
    with session_scope() as session:
        rows = session.exec(
            select(AuditLog).where(col(AuditLog.id) > last_id).order_by(col(AuditLog.id))
        ).all()
        return [
            AuditRow(
                id=int(r.id or 0),
                actor=r.actor,
                action=r.action,
                record_type=r.record_type,
                record_id=r.record_id,
                outcome=r.outcome,
                details=dict(r.details or {}),
            )
            for r in rows
        ]


def actions_after(last_id: int) -> Counter[str]:
    return Counter(row.action for row in audit_rows_after(last_id))


# --- demo records ---------------------------------------------------------------------------


def patient_in_ward(ward_code: str) -> str:
    """The id of a patient admitted now to a bed of the ward."""
    with session_scope() as session:
        patient_id = session.exec(
            select(Admission.patient_id)
            .join(Bed, col(Bed.id) == col(Admission.bed_id))
            .join(Ward, col(Ward.id) == col(Bed.ward_id))
            .where(Ward.code == ward_code, col(Admission.discharged_at).is_(None))
            .order_by(col(Bed.label))
        ).first()
        assert patient_id is not None, f"no patient admitted in {ward_code}"
        return str(patient_id)


def open_incident_in(ward_code: str, bed_label: str, title: str, priority: str = "P2") -> str:
    """A new incident (through the worker job, as the product opens them); its id."""
    from workers.jobs import open_incident_job

    return open_incident_job(title, priority, ward_code, bed_label)


def incident_status(incident_id: str) -> str:
    with session_scope() as session:
        incident = session.get(Incident, uuid.UUID(incident_id))
        assert incident is not None
        return incident.status


def staff_id_of(username: str) -> str:
    with session_scope() as session:
        user = session.exec(select(User).where(User.username == username)).one()
        assert user.staff_id is not None, f"{username} is not linked to a staff member"
        return str(user.staff_id)


def assign_incident(incident_id: str, staff_id: str) -> None:
    with session_scope() as session:
        incident = session.get(Incident, uuid.UUID(incident_id))
        assert incident is not None
        incident.assignee_staff_id = uuid.UUID(staff_id)
        session.add(incident)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The answer is `status` with the JSON error shape {"error": {"code", "message"}}."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    return dict(body["error"])


def incident_row(incident: str) -> Incident:
    """The incident as stored now."""
    with session_scope() as session:
        row = session.get(Incident, uuid.UUID(incident))
        assert row is not None
        return row


def record_notification(
    staff_id: uuid.UUID, incident: str, channel: str = "sms", status: str = "sent"
) -> uuid.UUID:
    """A notification about ``incident`` that reached ``staff_id`` (as delivery records it)."""
    now = datetime.now(UTC)
    with session_scope() as session:
        row = Notification(
            incident_id=uuid.UUID(incident),
            staff_id=staff_id,
            channel=channel,
            status=status,
            created_at=now,
            sent_at=now if status != "queued" else None,
            due_at=now,
            escalation_key=f"test:{uuid.uuid4().hex}",
            reason="test: primary nurse",
        )
        session.add(row)
        session.flush()
        return row.id
