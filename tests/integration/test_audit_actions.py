"""Every audited action writes EXACTLY one audit record of its action (the audit rows are
counted before and after each one), refusals and repeats write none of the action they did
not do, and after all of it the hash chain verifies."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from authsupport import (
    AuditRow,
    CheckedClient,
    actions_after,
    assert_error,
    audit_rows_after,
    bearer,
    last_audit_id,
    open_incident_in,
    patient_in_ward,
    sign_in,
)

from healthguard.api import build_api
from healthguard.cli import main
from healthguard.db import session_scope
from healthguard.security.audit import verify_chain
from healthguard.security.audit_cli import cli_actor
from healthguard.security.demo import DEMO_PASSWORD

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(seeded: dict[str, int]) -> Iterator[CheckedClient]:
    with CheckedClient(build_api()) as client:
        yield client


@pytest.fixture(scope="module")
def tokens(client: CheckedClient) -> dict[str, dict[str, Any]]:
    """One sign-in per user the module needs."""
    return {name: sign_in(client, name) for name in ("nurse.card", "admin", "auditor")}


def auth(tokens: dict[str, dict[str, Any]], username: str) -> dict[str, str]:
    return bearer(tokens[username]["access_token"])


def audited(expected: dict[str, int], action: Callable[[], Any]) -> tuple[Any, list[AuditRow]]:
    """Run `action`; the audit rows it wrote must be exactly `expected` (action -> count)."""
    before = last_audit_id()
    result = action()
    rows = audit_rows_after(before)
    assert Counter(r.action for r in rows) == Counter(expected), [
        (r.action, r.actor, r.details) for r in rows
    ]
    return result, rows


def only(rows: list[AuditRow], action: str) -> AuditRow:
    [row] = [r for r in rows if r.action == action]
    return row


# --- sign-in, tokens, sign-out ---------------------------------------------------------------


def test_login_success(client: CheckedClient) -> None:
    _, rows = audited({"login.success": 1, "token.issued": 1}, lambda: sign_in(client, "nurse.med"))
    row = only(rows, "login.success")
    assert (row.actor, row.outcome, row.record_type) == ("nurse.med", "success", "user")


def test_login_failure(client: CheckedClient) -> None:
    wrong = {"username": "nurse.med", "password": "not-the-password"}
    response, rows = audited(
        {"login.failure": 1}, lambda: client.post("/api/v1/auth/token", json=wrong)
    )
    assert response.status_code == 401
    row = only(rows, "login.failure")
    assert (row.actor, row.outcome, row.details["reason"]) == (
        "nurse.med",
        "failure",
        "wrong password",
    )
    assert "not-the-password" not in json.dumps(row.details)  # never a password in the log


def test_token_refresh(client: CheckedClient) -> None:
    pair = sign_in(client, "nurse.icu")
    body = {"refresh_token": pair["refresh_token"]}
    response, rows = audited(
        {"token.refreshed": 1, "token.issued": 1},
        lambda: client.post("/api/v1/auth/refresh", json=body),
    )
    assert response.status_code == 200
    assert only(rows, "token.refreshed").actor == "nurse.icu"


def test_logout(client: CheckedClient) -> None:
    pair = sign_in(client, "charge.card")
    response, rows = audited(
        {"logout": 1},
        lambda: client.post(
            "/api/v1/auth/logout",
            json={"refresh_token": pair["refresh_token"]},
            headers=bearer(pair["access_token"]),
        ),
    )
    assert response.status_code == 204
    assert only(rows, "logout").actor == "charge.card"


def test_refused_token_and_forbidden_action(
    client: CheckedClient, tokens: dict[str, dict[str, Any]]
) -> None:
    response, _ = audited(
        {"token.refused": 1}, lambda: client.get("/api/v1/me", headers=bearer("a.b.c"))
    )
    assert response.status_code == 401
    response, rows = audited(
        {"access.denied": 1},
        lambda: client.get("/api/v1/audit", headers=auth(tokens, "nurse.card")),
    )
    assert response.status_code == 403
    assert only(rows, "access.denied").details == {"reason": "needs audit:read"}


# --- integration keys ------------------------------------------------------------------------


def test_apikey_create_and_revoke(client: CheckedClient, tokens: dict[str, dict[str, Any]]) -> None:
    headers = auth(tokens, "admin")
    body = {"name": "Alertmanager", "scopes": ["events:write"]}
    created, rows = audited(
        {"apikey.created": 1},
        lambda: client.post("/api/v1/integration-keys", json=body, headers=headers),
    )
    assert created.status_code == 201
    key = created.json()
    row = only(rows, "apikey.created")
    assert (row.actor, row.record_id) == ("admin", key["id"])
    assert key["key"] not in json.dumps(row.details)  # the key itself is never logged

    url = f"/api/v1/integration-keys/{key['id']}"
    revoked, rows = audited({"apikey.revoked": 1}, lambda: client.delete(url, headers=headers))
    assert revoked.status_code == 200
    assert only(rows, "apikey.revoked").record_id == key["id"]
    again, _ = audited({}, lambda: client.delete(url, headers=headers))  # already revoked
    assert again.status_code == 200


# --- patient data ----------------------------------------------------------------------------


def test_patient_and_vitals_reads(client: CheckedClient, tokens: dict[str, dict[str, Any]]) -> None:
    patient = patient_in_ward("CARD")
    headers = auth(tokens, "nurse.card")
    response, rows = audited(
        {"patient.read": 1}, lambda: client.get(f"/api/v1/patients/{patient}", headers=headers)
    )
    assert response.status_code == 200
    row = only(rows, "patient.read")
    assert (row.actor, row.record_type, row.record_id) == ("nurse.card", "patient", patient)
    assert row.details == {"access": "scope"}
    response, rows = audited(
        {"vitals.read": 1},
        lambda: client.get(f"/api/v1/patients/{patient}/vitals", headers=headers),
    )
    assert response.status_code == 200
    assert only(rows, "vitals.read").record_id == patient


def test_a_refused_patient_read_is_no_read(
    client: CheckedClient, tokens: dict[str, dict[str, Any]]
) -> None:
    patient = patient_in_ward("ICU")
    response, _ = audited(
        {}, lambda: client.get(f"/api/v1/patients/{patient}", headers=auth(tokens, "nurse.card"))
    )
    assert response.status_code == 404


def test_break_the_glass(client: CheckedClient, tokens: dict[str, dict[str, Any]]) -> None:
    patient = patient_in_ward("MED")
    headers = auth(tokens, "admin")
    reason = {"reason": "Checking a reported medication error on request of pharmacy"}
    granted, rows = audited(
        {"break_glass.granted": 1},
        lambda: client.post(
            f"/api/v1/patients/{patient}/break-glass", json=reason, headers=headers
        ),
    )
    assert granted.status_code == 201
    row = only(rows, "break_glass.granted")
    assert (row.actor, row.record_id, row.outcome) == ("admin", patient, "granted")
    assert row.details["reason"] == reason["reason"]
    read, _ = audited(
        {"patient.read": 1, "break_glass.used": 1},
        lambda: client.get(f"/api/v1/patients/{patient}", headers=headers),
    )
    assert read.json()["access"] == "break_glass"
    short, _ = audited(
        {},
        lambda: client.post(
            f"/api/v1/patients/{patient}/break-glass", json={"reason": "x"}, headers=headers
        ),
    )
    assert short.status_code == 422


# --- incidents -------------------------------------------------------------------------------


def test_incident_acknowledge(client: CheckedClient, tokens: dict[str, dict[str, Any]]) -> None:
    incident = open_incident_in("CARD", "B3", "Audit test: NEWS2 rising")
    url = f"/api/v1/incidents/{incident}/acknowledge"
    headers = auth(tokens, "nurse.card")
    response, rows = audited(
        {"incident.acknowledged": 1}, lambda: client.post(url, headers=headers)
    )
    assert response.status_code == 200
    row = only(rows, "incident.acknowledged")
    assert (row.actor, row.record_type, row.record_id) == ("nurse.card", "incident", incident)
    # A second acknowledgement is refused by the lifecycle (409, illegal_transition) and
    # audited as nothing.
    conflict, _ = audited({}, lambda: client.post(url, headers=headers))
    assert_error(conflict, 409, "illegal_transition")


# --- the audit log itself --------------------------------------------------------------------


def test_audit_export_through_the_api(
    client: CheckedClient, tokens: dict[str, dict[str, Any]]
) -> None:
    headers = auth(tokens, "auditor")
    response, rows = audited(
        {"audit.exported": 1},
        lambda: client.get("/api/v1/audit/export", params={"format": "json"}, headers=headers),
    )
    assert response.status_code == 200
    document = response.json()
    row = only(rows, "audit.exported")
    assert row.actor == "auditor"
    assert row.details["format"] == "json" and row.details["rows"] == document["count"]
    # Searching the log is not an export.
    search, _ = audited({}, lambda: client.get("/api/v1/audit", headers=headers))
    assert search.status_code == 200


def test_audit_export_through_the_cli(tmp_path: Path, seeded: dict[str, int]) -> None:
    target = tmp_path / "audit.csv"
    code, rows = audited(
        {"audit.exported": 1},
        lambda: main(["audit", "export", "--format", "csv", "--output", str(target)]),
    )
    assert code == 0 and target.read_text().startswith("id,at,actor,action")
    assert only(rows, "audit.exported").actor == cli_actor()


# --- user administration through the CLI -----------------------------------------------------


def run_cli(monkeypatch: pytest.MonkeyPatch, argv: list[str], stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(argv)


def test_user_administration_through_the_cli(
    client: CheckedClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = "Ward-round 7 Lantern", "Night-shift 9 Compass"
    argv = ["user", "create", "priya.nair", "--role", "nurse", "--staff", "Priya Nair"]
    code, rows = audited(
        {"user.created": 1}, lambda: run_cli(monkeypatch, [*argv, "--password-stdin"], first + "\n")
    )
    assert code == 0, capsys.readouterr().err
    row = only(rows, "user.created")
    assert row.actor == cli_actor()
    assert row.details == {"username": "priya.nair", "role": "nurse"}
    assert first not in json.dumps(row.details)
    pair = sign_in(client, "priya.nair", first)

    code, rows = audited(
        {"user.password_reset": 1},
        lambda: run_cli(
            monkeypatch,
            ["user", "reset-password", "priya.nair", "--password-stdin"],
            second + "\n",
        ),
    )
    assert code == 0, capsys.readouterr().err
    assert only(rows, "user.password_reset").actor == cli_actor()
    # The old password and the API sessions of before the reset stop working.
    old = client.post("/api/v1/auth/token", json={"username": "priya.nair", "password": first})
    assert old.status_code == 401
    stale = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert stale.status_code == 401
    sign_in(client, "priya.nair", second)

    code, rows = audited(
        {"user.locked": 1}, lambda: run_cli(monkeypatch, ["user", "lock", "priya.nair"])
    )
    assert code == 0
    locked = client.post("/api/v1/auth/token", json={"username": "priya.nair", "password": second})
    assert locked.status_code == 401

    code, rows = audited(
        {"user.unlocked": 1}, lambda: run_cli(monkeypatch, ["user", "unlock", "priya.nair"])
    )
    assert code == 0
    assert only(rows, "user.unlocked").actor == cli_actor()
    sign_in(client, "priya.nair", second)


def test_refused_cli_actions_write_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], seeded: dict[str, int]
) -> None:
    weak, _ = audited(
        {},
        lambda: run_cli(
            monkeypatch,
            ["user", "create", "x.weak", "--role", "nurse", "--password-stdin"],
            "short\n",
        ),
    )
    assert weak == 1 and "password" in capsys.readouterr().err
    unknown, _ = audited({}, lambda: run_cli(monkeypatch, ["user", "lock", "nobody.here"]))
    assert unknown == 1 and "nobody.here" in capsys.readouterr().err


# --- and the chain still holds ---------------------------------------------------------------


def test_the_hash_chain_verifies_after_all_of_it(
    client: CheckedClient, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sign_in(client, "dr.resident", DEMO_PASSWORD)  # one more ordinary action
    with session_scope() as session:
        report = verify_chain(session)
    assert report.ok, report.reason
    assert report.rows_checked == last_audit_id()
    assert len(actions_after(0)) >= 15  # the actions above, and more, are all in the chain
    code, _ = audited({"audit.verified": 1}, lambda: main(["audit", "verify"]))
    assert code == 0
    assert "Audit log intact" in capsys.readouterr().out
