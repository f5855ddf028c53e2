"""Ingestion end to end against real Postgres and Redis: the bulk idempotent store, the
REST and FHIR routers (on a small app including them and the common error handlers), and
the MLLP listener driven by python-hl7's `mllp_send` and by a raw socket."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from authsupport import CheckedClient, assert_error, new_integration_key
from fastapi import FastAPI
from fastapi.testclient import TestClient

from healthguard.api import fhir as fhir_api
from healthguard.api import vitals as vitals_api
from healthguard.api.errors import install_error_handlers
from healthguard.clinical.vitals import Reading
from healthguard.db import session_scope
from healthguard.ingest.mllp import background_mllp_server
from healthguard.ingest.store import store_readings
from healthguard.settings import get_settings

pytestmark = pytest.mark.integration

MRN = "HG100001"  # seeded: CARD bed B1
SAMPLE = (Path(__file__).parent.parent / "data" / "oru_r01_sample.hl7").read_text()
MLLP_SEND = Path(sys.executable).parent / "mllp_send"


def patient_id() -> uuid.UUID:
    with session_scope() as session:
        from healthguard.ingest.store import resolve_patients

        return resolve_patients(session, [MRN])[MRN]


def count(source: str) -> int:
    with session_scope() as session:
        return int(
            session.connection()
            .execute(sa.text("SELECT count(*) FROM observations WHERE source = :s"), {"s": source})
            .scalar_one()
        )


@pytest.fixture(scope="module")
def client(seeded: dict[str, int]) -> Iterator[TestClient]:
    api = FastAPI()
    install_error_handlers(api)
    api.include_router(vitals_api.router, prefix="/api/v1")
    api.include_router(fhir_api.router, prefix="/api/v1")
    _, key = new_integration_key("pytest-monitor-gateway", ["ingest:vitals"])
    with CheckedClient(api) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client


def now_iso(minutes: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


# --- store ------------------------------------------------------------------------------------


def test_store_readings_is_idempotent(seeded: dict[str, int]) -> None:
    pid = patient_id()
    at = datetime.now(UTC) - timedelta(minutes=1)
    readings = [
        Reading(pid, "heart_rate", 80.0, None, "/min", "store-test", at),
        Reading(pid, "spo2", 97.0, None, "%", "store-test", at),
        Reading(pid, "spo2", 97.0, None, "%", "store-test", at),  # repeat within the batch
    ]
    with session_scope() as session:
        assert len(store_readings(session, readings, datetime.now(UTC))) == 2
    with session_scope() as session:
        assert len(store_readings(session, readings, datetime.now(UTC))) == 0
    assert count("store-test") == 2


# --- REST -------------------------------------------------------------------------------------


def test_rest_batch_good_and_bad_items(client: TestClient) -> None:
    at = now_iso(-1)
    body = {
        "observations": [
            {
                "patient": MRN,
                "observed_at": at,
                "source": "rest-1",
                "values": {"heart_rate": 112, "spo2": 93, "temperature_f": 101.3},
            },
            {"patient": MRN, "observed_at": at, "source": "rest-1", "values": {"resp_rate": 400}},
            {
                "patient": "NO-SUCH-MRN",
                "observed_at": at,
                "source": "rest-1",
                "values": {"heart_rate": 80},
            },
            {
                "patient": patient_id().hex,
                "observed_at": now_iso(30),
                "source": "rest-1",
                "values": {"heart_rate": 80},
            },
        ]
    }
    response = client.post("/api/v1/vitals", json=body)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert (answer["accepted"], answer["readings"], answer["stored"]) == (1, 3, 3)
    rejected = {r["index"]: r["errors"] for r in answer["rejected"]}
    assert rejected[1][0]["field"] == "values.resp_rate"
    assert "NO-SUCH-MRN" in rejected[2][0]["message"]
    assert rejected[3][0]["field"] == "observed_at" and "future" in rejected[3][0]["message"]
    with session_scope() as session:
        temp = (
            session.connection()
            .execute(
                sa.text(
                    "SELECT value, unit FROM observations WHERE source = 'rest-1' "
                    "AND parameter = 'temperature_c'"
                )
            )
            .one()
        )
    assert temp[0] == pytest.approx(38.5) and temp[1] == "Cel"

    replay = client.post("/api/v1/vitals", json=body).json()
    assert (replay["accepted"], replay["stored"]) == (1, 0)
    assert count("rest-1") == 3


def test_rest_nothing_acceptable_or_wrong_shape_is_422(client: TestClient) -> None:
    bad = {
        "observations": [
            {
                "patient": "ghost",
                "observed_at": now_iso(),
                "source": "s",
                "values": {"heart_rate": 80},
            }
        ]
    }
    error = assert_error(client.post("/api/v1/vitals", json=bad), 422, "invalid_request")
    assert error["fields"][0]["field"] == "observations[0].patient"
    assert_error(client.post("/api/v1/vitals", json={"readings": []}), 422, "invalid_request")
    response = client.post(
        "/api/v1/vitals", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert assert_error(response, 422, "invalid_request")["fields"][0]["field"] == "body"


def test_rest_oversized_batch_and_body_refused(client: TestClient) -> None:
    one = {"patient": MRN, "observed_at": now_iso(), "source": "s", "values": {"spo2": 97}}
    error = assert_error(
        client.post("/api/v1/vitals", json={"observations": [one] * 5001}), 413, "payload_too_large"
    )
    assert "5000" in error["message"]
    big = b'{"observations": [' + b" " * (50 * 1024 * 1024) + b"]}"
    error = assert_error(client.post("/api/v1/vitals", content=big), 413, "payload_too_large")
    assert "10485760" in error["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: refused while streaming
        yield b'{"observations": ['
        for _ in range(12):
            yield b" " * (1024 * 1024)

    assert_error(client.post("/api/v1/vitals", content=chunks()), 413, "payload_too_large")


def test_rest_needs_the_ingest_scope(client: TestClient) -> None:
    _, other = new_integration_key("pytest-no-scope", ["events:write"])
    response = client.post(
        "/api/v1/vitals", json={"observations": []}, headers={"Authorization": f"Bearer {other}"}
    )
    assert response.status_code == 403


# --- FHIR -------------------------------------------------------------------------------------


def fhir_hr(value: float = 101, code: str = "8867-4", unit: str = "/min") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"identifier": {"value": MRN}},
        "device": {"display": "fhir-mon-1"},
        "effectiveDateTime": now_iso(-2),
        "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": unit},
    }


FHIR_HEADERS = {"Content-Type": "application/fhir+json"}


def test_fhir_observation_created_then_operation_outcome_on_errors(client: TestClient) -> None:
    import json

    response = client.post(
        "/api/v1/fhir/Observation", content=json.dumps(fhir_hr()), headers=FHIR_HEADERS
    )
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.json()["resourceType"] == "OperationOutcome"
    assert count("fhir-mon-1") == 1

    response = client.post("/api/v1/fhir/Observation", json=fhir_hr(unit="kg"))
    assert response.status_code == 422
    issue = response.json()["issue"][0]
    assert (issue["severity"], issue["code"]) == ("error", "not-supported")
    assert issue["expression"] == ["Observation.valueQuantity.code"]
    response = client.post("/api/v1/fhir/Observation", json=fhir_hr(code="0000-0"))
    assert response.json()["issue"][0]["expression"] == ["Observation.code.coding"]


def test_fhir_bundles(client: TestClient) -> None:
    good, bad = fhir_hr(90), fhir_hr(code="0000-0")
    good["device"] = {"display": "fhir-bundle"}
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"resource": good}, {"resource": bad}],
    }
    response = client.post("/api/v1/fhir", json=batch)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "batch-response"
    assert [e["response"]["status"] for e in body["entry"]] == [
        "201 Created",
        "422 Unprocessable Entity",
    ]
    assert count("fhir-bundle") == 1

    tx = {**batch, "type": "transaction"}
    good["effectiveDateTime"] = now_iso(-3)  # a new reading, yet refused with its bundle
    response = client.post("/api/v1/fhir", json=tx)
    assert response.status_code == 422
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry[1].resource.code.coding"]
    assert count("fhir-bundle") == 1


# --- HL7 over MLLP ----------------------------------------------------------------------------


def sample_for_seeded_patient(control_id: str, minutes_ago: int, bed: str = "CARD^^B1") -> str:
    stamp = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).strftime("%Y%m%d%H%M%S+0000")
    return (
        SAMPLE.replace("MRN1^^^H^MR", f"{MRN}^^^H^MR")
        .replace("W7^^B12", bed)
        .replace("20250101120000+0000", stamp)
        .replace("|M1|P|", f"|{control_id}|P|")
        .replace("GW^0012340000000001", f"GW^{control_id}")
    )


def framed(text: str) -> bytes:
    return b"\x0b" + text.replace("\n", "\r").encode() + b"\x1c\r"


def read_ack(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\x1c\r"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode()


def msa(ack: str) -> list[str]:
    line = next(s for s in ack.strip("\x0b\x1c\r").split("\r") if s.startswith("MSA"))
    return line.split("|")


@pytest.fixture(scope="module")
def mllp(seeded: dict[str, int]) -> Iterator[int]:
    with background_mllp_server(get_settings()) as server:
        yield server.port


def test_mllp_send_tool_delivers_and_gets_aa(mllp: int, tmp_path: Path) -> None:
    path = tmp_path / "two.hl7"
    path.write_text(sample_for_seeded_patient("T1", 5) + "\n" + sample_for_seeded_patient("T2", 4))
    result = subprocess.run(
        [str(MLLP_SEND), "--port", str(mllp), "--loose", "--file", str(path), "localhost"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.count("MSA|AA|") == 2, result.stdout
    assert "MSA|AA|T1|6 reading(s) stored" in result.stdout
    assert count("GW^T1^EUI-64") == 6 and count("GW^T2^EUI-64") == 6
    # resent: idempotent, AA again, nothing new
    subprocess.run(
        [str(MLLP_SEND), "--port", str(mllp), "--loose", "--file", str(path), "localhost"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert count("GW^T1^EUI-64") == 6


def test_mllp_send_framed_file(mllp: int, tmp_path: Path) -> None:
    # mllp_send's stdin mode fails in python-hl7 0.4.5 (it concatenates str and bytes), so
    # MLLP-framed messages go through --file as well.
    path = tmp_path / "framed.mllp"
    path.write_bytes(framed(sample_for_seeded_patient("T3", 3)))
    result = subprocess.run(
        [str(MLLP_SEND), "--port", str(mllp), "--file", str(path), "localhost"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert b"MSA|AA|T3|" in result.stdout


def test_mllp_raw_socket_ae_and_ar(mllp: int) -> None:
    with socket.create_connection(("127.0.0.1", mllp), timeout=30) as sock:
        partly = sample_for_seeded_patient("T4", 2).replace("|24|", "|fast|")
        sock.sendall(framed(partly))
        ack = read_ack(sock)
        assert msa(ack)[1:3] == ["AE", "T4"], ack
        assert "ERR||OBX^3^5|102" in ack and "'fast' is not a number" in ack
        assert count("GW^T4^EUI-64") == 5  # the good OBX are kept

        sock.sendall(framed(sample_for_seeded_patient("T5", 2).replace(MRN, "NOBODY")))
        ack = read_ack(sock)
        assert msa(ack)[1:3] == ["AE", "T5"] and "NOBODY" in ack

        sock.sendall(framed(sample_for_seeded_patient("T6", 2, bed="CARD^^B2")))
        ack = read_ack(sock)
        assert msa(ack)[1:3] == ["AE", "T6"] and "PV1-3" in ack
        assert count("GW^T6^EUI-64") == 0

        adt = "MSH|^~\\&|A|B|||20250101120000+0000||ADT^A01|T7|P|2.6\rPID|||X"
        sock.sendall(framed(adt))
        assert msa(read_ack(sock))[1:3] == ["AR", "T7"]

        bad_utf8 = framed(sample_for_seeded_patient("T8", 2)).replace(b"JANE", b"J\xffNE")
        sock.sendall(bad_utf8)
        ack = read_ack(sock)
        assert msa(ack)[1:3] == ["AR", "T8"] and "UTF-8" in ack
        assert count("GW^T8^EUI-64") == 0

        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")  # broken framing: AR, then closed
        ack = read_ack(sock)
        assert msa(ack)[1] == "AR" and "framing" in ack
        assert sock.recv(10) == b""


def test_mllp_oversized_message_refused_and_server_still_up(mllp: int) -> None:
    with socket.create_connection(("127.0.0.1", mllp), timeout=30) as sock:
        sock.sendall(b"\x0bMSH|^~\\&|" + b"x" * (1024 * 1024 + 10))
        ack = read_ack(sock)
        assert msa(ack)[1] == "AR" and "limit" in ack
    with socket.create_connection(("127.0.0.1", mllp), timeout=30) as sock:
        sock.sendall(b"\x0bMSH|^~\\&|half a message")  # closed mid-frame: logged only
    with socket.create_connection(("127.0.0.1", mllp), timeout=30) as sock:
        sock.sendall(framed(sample_for_seeded_patient("T9", 1)))
        assert msa(read_ack(sock))[1:3] == ["AA", "T9"]


def test_mllp_many_connections_at_once(mllp: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def send(n: int) -> str:
        with socket.create_connection(("127.0.0.1", mllp), timeout=30) as sock:
            sock.sendall(framed(sample_for_seeded_patient(f"C{n}", 10 + n)))
            return msa(read_ack(sock))[1]

    with ThreadPoolExecutor(10) as pool:
        assert list(pool.map(send, range(10))) == ["AA"] * 10


def test_mllp_refuses_a_peer_outside_the_allowed_networks(seeded: dict[str, int]) -> None:
    """HEALTHGUARD_MLLP_ALLOWED_NETWORKS: a connection from elsewhere is closed unanswered and
    stores nothing; one from inside is served."""
    message = framed(sample_for_seeded_patient("NET1", 1))
    elsewhere = get_settings().model_copy(update={"mllp_allowed_networks": ["10.20.0.0/16"]})
    with (
        background_mllp_server(elsewhere) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock,
    ):
        sock.sendall(message)
        try:
            answer = read_ack(sock)
        except ConnectionResetError:  # closed while our message was still unread
            answer = ""
        assert answer == ""  # closed without an ACK
    assert count("GW^NET1^EUI-64") == 0
    loopback = get_settings().model_copy(update={"mllp_allowed_networks": ["127.0.0.0/8"]})
    with (
        background_mllp_server(loopback) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock,
    ):
        sock.sendall(message)
        assert msa(read_ack(sock))[1] == "AA"
    assert count("GW^NET1^EUI-64") > 0
