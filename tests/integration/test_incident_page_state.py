"""The incident page's reads on the real Postgres and Redis: what a nurse, a charge nurse and
a nurse of another ward get (the same service as GET /api/v1/incidents/{id}), the trigger
from the incident's alert with the values behind each NEWS2 sub-score, the vital-signs read
audited like the API's, and the cheap live check."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from authsupport import audit_rows_after, last_audit_id, open_incident_in, patient_in_ward
from sqlmodel import select

from healthguard.clinical.vitals import Reading
from healthguard.db import session_scope
from healthguard.incidents import lifecycle as lc
from healthguard.incidents.workflow import perform_as
from healthguard.ingest.store import store_readings
from healthguard.models import Alert, Incident, User
from healthguard.security.accounts import Origin, principal_of
from healthguard.security.permissions import Principal
from healthguard.ui.states.incident_detail import changed_since, load_page

pytestmark = pytest.mark.integration


def who(username: str) -> Principal:
    with session_scope() as session:
        user = session.exec(select(User).where(User.username == username)).one()
        return principal_of(user)


def p1_with_evidence() -> tuple[uuid.UUID, str]:
    """A P1 on Cardiology about a patient, with its triage alert and the readings behind it."""
    incident_id = uuid.UUID(open_incident_in("CARD", "B1", "Deteriorating: NEWS2 11", "P1"))
    pid = patient_in_ward("CARD")
    now = datetime.now(UTC)
    at = now - timedelta(minutes=2)
    values = {"resp_rate": 26.0, "spo2": 90.0, "systolic_bp": 95.0, "heart_rate": 121.0}
    with session_scope() as session:
        store_readings(
            session,
            [
                *(
                    Reading(uuid.UUID(pid), p, v, None, "", "it-incident-page", at)
                    for p, v in values.items()
                ),
                Reading(uuid.UUID(pid), "consciousness", None, "A", "", "it-incident-page", at),
            ],
            now,
        )
        incident = session.get(Incident, incident_id)
        assert incident is not None
        incident.patient_id = uuid.UUID(pid)
        session.add(incident)
        session.add(
            Alert(
                patient_id=uuid.UUID(pid),
                ward_id=incident.ward_id,
                priority="P1",
                kind="physiological",
                rule="news2_emergency",
                news2_score=11,
                summary="NEWS2 11: RR 26, SpO2 90, SBP 95, HR 121",
                details={
                    "rule": "news2_emergency",
                    "rule_name": "NEWS2 7 or more (emergency response)",
                    "news2": {
                        "total": 11,
                        "subscores": {
                            "resp_rate": 3,
                            "spo2": 3,
                            "on_oxygen": None,
                            "systolic_bp": 2,
                            "heart_rate": 2,
                            "consciousness": 0,
                            "temperature_c": None,
                        },
                        "red_flag": True,
                        "risk": "high",
                        "partial": True,
                        "observed_at": at.isoformat(),
                    },
                },
                condition="deterioration",
                observed_at=at,
                incident_id=incident_id,
            )
        )
    return incident_id, pid


def test_a_nurse_of_the_ward_sees_trigger_chart_timeline_and_her_actions(
    seeded: dict[str, int],
) -> None:
    incident_id, pid = p1_with_evidence()
    since = last_audit_id()
    page = load_page(
        who("nurse.card"), incident_id, now=datetime.now(UTC), audit_origin=Origin("10.0.0.9")
    )
    assert page.found and page.priority_label == "P1 Emergency" and page.colour == "red"
    assert page.status_text == "Not acknowledged" and page.ward == "CARD" and page.bed == "B1"
    assert page.trigger.summary.startswith("NEWS2 11")
    rows = {r.label: (r.value, r.score) for r in page.trigger.rows}
    assert rows["RR"] == ("26", "3") and rows["HR"] == ("121", "2") and rows["ACVPU"] == ("A", "0")
    assert page.figure is not None and len(page.figure.data) >= 4
    assert "HR (/min)" in page.chart_summary and "RR (/min)" in page.chart_summary
    assert page.timeline and page.timeline[0].kind == "opened"
    # A nurse acknowledges, starts, escalates, notes, joins, resolves; she does not reassign.
    assert {"acknowledge", "start", "escalate", "add_note", "add_responder", "resolve"} <= set(
        page.allowed
    )
    assert "reassign" not in page.allowed
    # The vital signs are patient data: audited like GET /api/v1/patients/{id}/vitals.
    reads = [r for r in audit_rows_after(since) if r.action == "vitals.read"]
    assert [(r.actor, r.record_id, r.details["access"]) for r in reads] == [
        ("nurse.card", pid, "scope")
    ]
    # A live reload of the open page is not a second read of the record.
    since = last_audit_id()
    load_page(who("nurse.card"), incident_id, now=datetime.now(UTC), audit_origin=None)
    assert not [r for r in audit_rows_after(since) if r.action == "vitals.read"]


def test_a_charge_nurse_may_reassign_to_the_people_around_the_ward(
    seeded: dict[str, int],
) -> None:
    incident_id, _ = p1_with_evidence()
    page = load_page(who("charge.card"), incident_id, now=datetime.now(UTC), audit_origin=None)
    assert "reassign" in page.allowed
    assert page.people, "nobody to hand the incident to"
    assert "nurse.card" in {p.value for p in page.people}
    assert all(p.label for p in page.people)


def test_a_nurse_of_another_ward_gets_nothing_and_nothing_is_audited(
    seeded: dict[str, int],
) -> None:
    incident_id, _ = p1_with_evidence()
    since = last_audit_id()
    page = load_page(
        who("nurse.icu"), incident_id, now=datetime.now(UTC), audit_origin=Origin("10.0.0.9")
    )
    assert not page.found
    assert (page.title, page.patient, page.trigger.summary, page.timeline) == ("", "", "", [])
    assert not [r for r in audit_rows_after(since) if r.action == "vitals.read"]
    missing = load_page(who("nurse.card"), uuid.uuid4(), now=datetime.now(UTC), audit_origin=None)
    assert not missing.found


def test_the_live_check_sees_a_change_and_only_a_change(seeded: dict[str, int]) -> None:
    incident_id, _ = p1_with_evidence()
    page = load_page(who("nurse.card"), incident_id, now=datetime.now(UTC), audit_origin=None)
    assert not changed_since(incident_id, page.version, page.latest_reading)
    done = perform_as(who("nurse.card"), incident_id, lc.Acknowledge(), now=datetime.now(UTC))
    assert not isinstance(done, lc.Refusal)
    assert changed_since(incident_id, page.version, page.latest_reading)
    again = load_page(who("nurse.card"), incident_id, now=datetime.now(UTC), audit_origin=None)
    assert again.status_text.startswith("Acknowledged by nurse.card at ")
    assert "acknowledge" not in again.allowed


def test_escalating_moves_the_page_to_the_next_step(seeded: dict[str, int]) -> None:
    incident_id, _ = p1_with_evidence()
    charge = who("charge.card")
    before = load_page(charge, incident_id, now=datetime.now(UTC), audit_origin=None)
    step = int(before.escalation.split()[1])
    done = perform_as(charge, incident_id, lc.Escalate(), now=datetime.now(UTC))
    assert not isinstance(done, lc.Refusal), done
    after = load_page(charge, incident_id, now=datetime.now(UTC), audit_origin=None)
    assert after.escalation.startswith(f"Step {step + 1} of 3"), after.escalation
    assert after.timeline[-1].kind == "escalated" or any(
        r.kind == "escalated" and r.actor == "charge.card" for r in after.timeline
    )
