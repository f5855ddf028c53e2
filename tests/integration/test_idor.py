"""IDOR: a Cardiology nurse guessing ids of Intensive Care records learns nothing. Every
probe answers 404 with exactly the body a made-up id gets (no existence leak), changes
nothing, and lists nothing; hospital-wide roles see both wards; an admin reads a patient only
after breaking the glass (audited); an incident assigned to the nurse becomes hers to see."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from authsupport import (
    CheckedClient,
    assert_error,
    assign_incident,
    audit_rows_after,
    bearer,
    incident_status,
    last_audit_id,
    open_incident_in,
    patient_in_ward,
    sign_in,
    staff_id_of,
)

from healthguard.api import build_api

pytestmark = pytest.mark.integration

NURSE = "nurse.card"


@dataclass(frozen=True)
class World:
    client: CheckedClient
    headers: dict[str, dict[str, str]]  # username -> Authorization header
    card_incident: str
    icu_incidents: tuple[str, str]
    icu_assigned: str  # an ICU incident that a test assigns to the Cardiology nurse
    card_patient: str
    icu_patient: str


@pytest.fixture(scope="module")
def world(seeded: dict[str, int]) -> Iterator[World]:
    with CheckedClient(build_api()) as client:
        headers = {
            name: bearer(sign_in(client, name)["access_token"])
            for name in (NURSE, "dr.resident", "rrt.lead", "admin")
        }
        yield World(
            client=client,
            headers=headers,
            card_incident=open_incident_in("CARD", "B2", "Cardiology: heart rate high"),
            icu_incidents=(
                open_incident_in("ICU", "B1", "ICU: SpO2 low", priority="P1"),
                open_incident_in("ICU", "B2", "ICU: blood pressure low"),
            ),
            icu_assigned=open_incident_in("ICU", "B3", "ICU: respiratory rate high"),
            card_patient=patient_in_ward("CARD"),
            icu_patient=patient_in_ward("ICU"),
        )


def listed_ids(world: World, username: str) -> set[str]:
    response = world.client.get("/api/v1/incidents", headers=world.headers[username])
    assert response.status_code == 200, response.text
    return {incident["id"] for incident in response.json()}


def test_the_nurse_lists_cardiology_incidents_and_none_of_intensive_care(world: World) -> None:
    response = world.client.get("/api/v1/incidents", headers=world.headers[NURSE])
    assert response.status_code == 200, response.text
    incidents = response.json()
    ids = {incident["id"] for incident in incidents}
    assert world.card_incident in ids
    assert not ids & {*world.icu_incidents, world.icu_assigned}
    others = [i["ward"] for i in incidents if i["id"] != world.icu_assigned]  # see the last test
    assert set(others) == {"CARD"}


# Each probe: (method, path template, which id of the world it aims at).
PROBES = [
    ("GET", "/api/v1/incidents/{id}", "incident"),
    ("POST", "/api/v1/incidents/{id}/acknowledge", "incident"),
    ("GET", "/api/v1/patients/{id}", "patient"),
    ("GET", "/api/v1/patients/{id}/vitals", "patient"),
]


@pytest.mark.parametrize(("method", "template", "target"), PROBES)
def test_guessing_an_icu_id_answers_like_a_made_up_one(
    world: World, method: str, template: str, target: str
) -> None:
    icu_id = world.icu_incidents[0] if target == "incident" else world.icu_patient
    headers = world.headers[NURSE]
    real = world.client.request(method, template.format(id=icu_id), headers=headers)
    made_up = world.client.request(method, template.format(id=uuid.uuid4()), headers=headers)
    assert_error(real, 404, "not_found")
    assert_error(made_up, 404, "not_found")
    assert real.json() == made_up.json()
    assert real.content == made_up.content
    assert real.headers.get("content-length") == made_up.headers.get("content-length")


def test_the_refused_acknowledgement_changed_nothing(world: World) -> None:
    response = world.client.post(
        f"/api/v1/incidents/{world.icu_incidents[0]}/acknowledge", headers=world.headers[NURSE]
    )
    assert response.status_code == 404
    assert incident_status(world.icu_incidents[0]) == "triggered"
    # The probe is not an acknowledgement anywhere in the audit log either.
    before = last_audit_id()
    world.client.post(
        f"/api/v1/incidents/{world.icu_incidents[0]}/acknowledge", headers=world.headers[NURSE]
    )
    assert "incident.acknowledged" not in {r.action for r in audit_rows_after(before)}


def test_the_nurse_still_reads_her_own_ward(world: World) -> None:
    headers = world.headers[NURSE]
    assert world.client.get(f"/api/v1/incidents/{world.card_incident}", headers=headers).is_success
    patient = world.client.get(f"/api/v1/patients/{world.card_patient}", headers=headers)
    assert patient.status_code == 200, patient.text
    assert patient.json()["access"] == "scope"
    vitals = world.client.get(f"/api/v1/patients/{world.card_patient}/vitals", headers=headers)
    assert vitals.status_code == 200 and vitals.json(), vitals.text


@pytest.mark.parametrize("username", ["dr.resident", "rrt.lead"])
def test_physicians_and_rapid_response_see_the_hospital(world: World, username: str) -> None:
    ids = listed_ids(world, username)
    assert {world.card_incident, *world.icu_incidents} <= ids
    headers = world.headers[username]
    for incident in (world.card_incident, world.icu_incidents[1]):
        assert world.client.get(f"/api/v1/incidents/{incident}", headers=headers).is_success
    for patient in (world.card_patient, world.icu_patient):
        response = world.client.get(f"/api/v1/patients/{patient}", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["access"] == "scope"
        vitals = world.client.get(f"/api/v1/patients/{patient}/vitals", headers=headers)
        assert vitals.status_code == 200, vitals.text


def test_admin_reads_a_patient_only_after_breaking_the_glass(world: World) -> None:
    client, headers, patient = world.client, world.headers["admin"], world.icu_patient
    made_up = client.get(f"/api/v1/patients/{uuid.uuid4()}", headers=headers)
    refused = client.get(f"/api/v1/patients/{patient}", headers=headers)
    assert_error(refused, 404, "not_found")
    assert refused.json() == made_up.json()
    assert_error(
        client.get(f"/api/v1/patients/{patient}/vitals", headers=headers), 404, "not_found"
    )

    url = f"/api/v1/patients/{patient}/break-glass"
    too_short = assert_error(
        client.post(url, json={"reason": "look"}, headers=headers), 422, "invalid_request"
    )
    assert too_short["message"].startswith("reason")
    empty = assert_error(
        client.post(url, json={"reason": ""}, headers=headers), 422, "invalid_request"
    )
    assert [f["field"] for f in empty["fields"]] == ["reason"]
    missing = assert_error(client.post(url, json={}, headers=headers), 422, "invalid_request")
    assert [f["field"] for f in missing["fields"]] == ["reason"]
    # Breaking the glass on a made-up id does not tell real ids apart either.
    reason = {"reason": "Patient deteriorating, covering the ICU team during a code"}
    ghost = client.post(
        f"/api/v1/patients/{uuid.uuid4()}/break-glass", json=reason, headers=headers
    )
    assert_error(ghost, 404, "not_found")
    assert ghost.json() == made_up.json()
    assert_error(client.get(f"/api/v1/patients/{patient}", headers=headers), 404, "not_found")

    before = last_audit_id()
    granted = client.post(url, json=reason, headers=headers)
    assert granted.status_code == 201, granted.text
    assert granted.json()["patient_id"] == patient
    read = client.get(f"/api/v1/patients/{patient}", headers=headers)
    assert read.status_code == 200, read.text
    assert read.json()["id"] == patient and read.json()["access"] == "break_glass"
    assert client.get(f"/api/v1/patients/{patient}/vitals", headers=headers).status_code == 200

    rows = [r for r in audit_rows_after(before) if r.record_id == patient]
    assert [(r.action, r.actor, r.outcome) for r in rows] == [
        ("break_glass.granted", "admin", "granted"),
        ("patient.read", "admin", "success"),
        ("break_glass.used", "admin", "flagged"),
        ("vitals.read", "admin", "success"),
        ("break_glass.used", "admin", "flagged"),
    ]
    assert rows[0].details["reason"] == reason["reason"]
    assert rows[1].details == {"access": "break_glass"}

    # The grant is the admin's alone: the Cardiology nurse still gets "no such patient".
    nurse = client.get(f"/api/v1/patients/{patient}", headers=world.headers[NURSE])
    assert nurse.status_code == 404 and nurse.json() == made_up.json()


def test_an_icu_incident_assigned_to_the_nurse_becomes_visible_to_her(world: World) -> None:
    headers = world.headers[NURSE]
    url = f"/api/v1/incidents/{world.icu_assigned}"
    assert world.client.get(url, headers=headers).status_code == 404
    assert world.icu_assigned not in listed_ids(world, NURSE)

    assign_incident(world.icu_assigned, staff_id_of(NURSE))

    ids = listed_ids(world, NURSE)
    assert world.icu_assigned in ids
    assert not ids & set(world.icu_incidents)  # the other ICU incidents stay hidden
    detail = world.client.get(url, headers=headers)
    assert detail.status_code == 200, detail.text
    assert detail.json()["ward"] == "ICU"
    acknowledged = world.client.post(f"{url}/acknowledge", headers=headers)
    assert acknowledged.status_code == 200, acknowledged.text
    assert incident_status(world.icu_assigned) == "acknowledged"
