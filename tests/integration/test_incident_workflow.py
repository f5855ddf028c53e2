"""The incident workflow through the API on a real Postgres: every lifecycle action, the
timeline in order with its actors, notes encrypted at rest and decrypted for the reader,
refusals (409 with the current status and allowed actions, 403, 404 out of scope, 422),
reopen within and after the window, close, responders, the lead, staff-raised incidents,
filters and cursor pagination that neither repeats nor skips while incidents are opened,
and a transition that dies before its commit leaving the incident as it was."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from authsupport import (
    CheckedClient,
    assert_error,
    audit_rows_after,
    bearer,
    last_audit_id,
    open_incident_in,
    patient_in_ward,
    sign_in,
    staff_id_of,
)
from sqlalchemy.exc import IntegrityError
from testsupport import people_and_rules

from healthguard.api import build_api
from healthguard.db import get_engine, session_scope
from healthguard.incidents import lifecycle as lc
from healthguard.incidents import workflow
from healthguard.incidents.service import open_incident
from healthguard.models import Incident, IncidentResponder
from healthguard.security.permissions import ROLE_PERMISSIONS

pytestmark = pytest.mark.integration

NURSE = "nurse.card"  # Cardiology
CHARGE = "charge.card"  # Cardiology, coordinates (reassign, close, downgrade)
DOCTOR = "dr.attending"  # the whole hospital
RRT = "rrt.lead"
ICU_NURSE = "nurse.icu"
USERS = (NURSE, CHARGE, DOCTOR, RRT, ICU_NURSE, "admin", "auditor")


@dataclass
class Api:
    client: CheckedClient
    headers: dict[str, dict[str, str]]

    def post(self, user: str, path: str, body: Any = None, **headers: str) -> httpx.Response:
        return self.client.post(
            f"/api/v1/incidents{path}", json=body, headers={**self.headers[user], **headers}
        )

    def act(self, user: str, incident: str, action: str, body: Any = None) -> httpx.Response:
        return self.post(user, f"/{incident}/{action}", body)

    def ok(self, user: str, incident: str, action: str, body: Any = None) -> dict[str, Any]:
        response = self.act(user, incident, action, body)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def get(self, user: str, incident: str) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/incidents/{incident}", headers=self.headers[user])
        assert response.status_code == 200, response.text
        return dict(response.json())

    def list(self, user: str, **params: Any) -> httpx.Response:
        return self.client.get("/api/v1/incidents", params=params, headers=self.headers[user])


@pytest.fixture(scope="module")
def api(seeded: dict[str, int]) -> Iterator[Api]:
    with CheckedClient(build_api()) as client:
        headers = {name: bearer(sign_in(client, name)["access_token"]) for name in USERS}
        yield Api(client, headers)


def card(title: str, priority: str = "P2", bed: str = "B1") -> str:
    return open_incident_in("CARD", bed, title, priority)


def refusal(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    error = assert_error(response, status, code)
    assert set(error) == {"code", "message", "field", "current_status", "allowed_actions"}
    return error


def allowed_for(role: str, incident: str) -> list[str]:
    with session_scope() as session:
        found = session.get(Incident, uuid.UUID(incident))
        assert found is not None
        view = workflow.build_view(session, found)
    return [
        a.value for a in lc.allowed_actions(view, ROLE_PERMISSIONS[role], now=datetime.now(UTC))
    ]


def raw(sql: str, **params: Any) -> list[Any]:
    with get_engine().connect() as conn:
        return list(conn.execute(sa.text(sql), params).all())


def stored(incident: str) -> Incident:
    with session_scope() as session:
        found = session.get(Incident, uuid.UUID(incident))
        assert found is not None
        return found


# --- the whole lifecycle, with its timeline -------------------------------------------------


def test_every_action_in_order_with_its_timeline_and_audit(api: Api) -> None:
    incident = card("Workflow: NEWS2 7", priority="P1")
    before = last_audit_id()

    acked = api.ok(NURSE, incident, "acknowledge")
    assert (acked["status"], acked["acknowledged_by"], acked["version"]) == (
        "acknowledged",
        NURSE,
        2,
    )
    assert api.act(NURSE, incident, "start").json()["status"] == "in_progress"
    api.ok(NURSE, incident, "escalate", {"to": "rapid response team"})
    api.ok(NURSE, incident, "responders", {"person": RRT, "role": "rapid_response_team"})
    assert api.ok(CHARGE, incident, "lead", {"person": RRT})["lead"] == RRT
    api.ok(NURSE, incident, "notes", {"text": "Fluids started"})
    reassigned = api.ok(CHARGE, incident, "reassign", {"to": CHARGE, "reason": "Handover"})
    assert reassigned["assignee"] == CHARGE
    assert api.ok(NURSE, incident, "priority", {"priority": "P0"})["priority"] == "P0"
    resolved = api.ok(DOCTOR, incident, "resolve", {"reason": "transferred_to_icu"})
    assert (resolved["status"], resolved["resolved_by"], resolved["resolution_reason"]) == (
        "resolved",
        DOCTOR,
        "transferred_to_icu",
    )
    api.ok(NURSE, incident, "notes", {"text": "Handed over to ICU at 14:05"})
    closed = api.ok(CHARGE, incident, "close", {"note": "Reviewed"})
    assert (closed["status"], closed["closed_by"], closed["version"]) == ("closed", CHARGE, 12)
    assert closed["allowed_actions"] == []

    detail = api.get(NURSE, incident)
    # The people's actions; the on-call's own entries (assignment, escalation steps,
    # notifications: actor "system") are interleaved and checked below.
    timeline = people_and_rules(detail["timeline"])
    oncall = [e["kind"] for e in detail["timeline"] if e not in timeline]
    assert oncall and oncall[0] in ("assigned", "not_assigned")
    steps = [(e["kind"], e["actor"]) for e in timeline]
    assert steps == [
        ("opened", "system"),
        ("acknowledged", NURSE),
        ("started", NURSE),
        ("escalated", NURSE),
        ("responder_joined", NURSE),
        ("lead_set", CHARGE),
        ("note", NURSE),
        ("reassigned", CHARGE),
        ("priority_changed", NURSE),
        ("resolved", DOCTOR),
        ("note", NURSE),
        ("closed", CHARGE),
    ]
    times = [datetime.fromisoformat(e["at"]) for e in detail["timeline"]]
    assert times == sorted(times)
    notes = [e["note"] for e in timeline]
    assert notes[6] == "Fluids started"
    assert notes[7] == "Handover"
    assert notes[10] == "Handed over to ICU at 14:05"
    assert notes[11] == "Reviewed"
    assert [(r["person"], r["role"]) for r in detail["responders"]] == [
        (RRT, "rapid_response_team")
    ]

    rows = [r for r in audit_rows_after(before) if r.record_id == incident]
    assert [(r.action, r.actor) for r in rows] == [
        ("incident.acknowledged", NURSE),
        ("incident.started", NURSE),
        ("incident.escalated", NURSE),
        ("incident.responder_added", NURSE),
        ("incident.lead_set", CHARGE),
        ("incident.note_added", NURSE),
        ("incident.assigned", CHARGE),
        ("incident.priority_changed", NURSE),
        ("incident.resolved", DOCTOR),
        ("incident.note_added", NURSE),
        ("incident.closed", CHARGE),
    ]
    assert [r.details["version"] for r in rows] == list(range(2, 13))
    assert rows[-1].details["status_to"] == "closed"


def test_start_from_triggered_acknowledges_at_the_same_time(api: Api) -> None:
    incident = card("Workflow: start straight away")
    detail = api.ok(NURSE, incident, "start")
    assert detail["status"] == "in_progress"
    assert detail["acknowledged_at"] == detail["started_at"]
    assert detail["acknowledged_by"] == detail["started_by"] == NURSE
    timeline = people_and_rules(detail["timeline"])
    assert [e["kind"] for e in timeline] == ["opened", "acknowledged", "started"]
    assert timeline[1]["data"] == {"implicit": True, "by": "start"}


def test_get_shows_allowed_actions_for_the_caller_and_an_etag(api: Api) -> None:
    incident = card("Workflow: allowed actions")
    response = api.client.get(f"/api/v1/incidents/{incident}", headers=api.headers[NURSE])
    assert response.headers["etag"] == '"1"'
    assert response.json()["allowed_actions"] == allowed_for("nurse", incident)
    assert api.get(CHARGE, incident)["allowed_actions"] == allowed_for("charge_nurse", incident)
    assert "reassign" not in response.json()["allowed_actions"]
    assert "reassign" in api.get(CHARGE, incident)["allowed_actions"]


# --- encryption of free text ---------------------------------------------------------------


def test_free_text_is_encrypted_at_rest_and_decrypted_for_the_reader(api: Api) -> None:
    incident = card("Workflow: encryption")
    secret = f"Chest pain 7/10, says wife Ilse {uuid.uuid4().hex}"
    reason = f"Handover to the night team {uuid.uuid4().hex}"
    false_alarm = f"Probe off during wash {uuid.uuid4().hex}"
    api.ok(NURSE, incident, "notes", {"text": secret})
    api.ok(CHARGE, incident, "reassign", {"to": CHARGE, "reason": reason})
    api.ok(NURSE, incident, "resolve", {"reason": "false_alarm", "text": false_alarm})

    dump = "\n".join(
        str(row)
        for sql in (
            "SELECT * FROM incident_events WHERE incident_id = :i",
            "SELECT * FROM incidents WHERE id = :i",
            "SELECT * FROM audit_log WHERE record_id = :s",
        )
        for row in raw(sql, i=uuid.UUID(incident), s=incident)
    )
    for text in (secret, reason, false_alarm):
        assert text not in dump
        assert text.split()[-1] not in dump  # not even the random part
    tokens = [
        r[0]
        for r in raw(
            "SELECT note_enc FROM incident_events WHERE incident_id = :i AND note_enc IS NOT NULL",
            i=uuid.UUID(incident),
        )
    ]
    assert len(tokens) == 3 and all(t.startswith("v1.") for t in tokens)
    assert raw("SELECT resolution_text_enc FROM incidents WHERE id = :i", i=uuid.UUID(incident))[0][
        0
    ].startswith("v1.")

    detail = api.get(NURSE, incident)
    assert [e["note"] for e in detail["timeline"] if e["note"]] == [secret, reason, false_alarm]
    assert detail["resolution_text"] == false_alarm
    assert all(secret not in e["message"] for e in detail["timeline"])


def test_a_note_moved_to_another_row_does_not_decrypt(api: Api) -> None:
    incident = card("Workflow: moved note")
    api.ok(NURSE, incident, "notes", {"text": "first"})
    api.ok(NURSE, incident, "notes", {"text": "second"})
    (first, _), (second, token) = raw(
        "SELECT id, note_enc FROM incident_events WHERE incident_id = :i AND "
        "note_enc IS NOT NULL ORDER BY id",
        i=uuid.UUID(incident),
    )
    move = "UPDATE incident_events SET note_enc = :t WHERE id = :b"
    with get_engine().begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE incident_events SET note_enc = "
                "(SELECT note_enc FROM incident_events WHERE id = :a) WHERE id = :b"
            ),
            {"a": first, "b": second},
        )
    notes = [e["note"] for e in api.get(NURSE, incident)["timeline"] if e["note"]]
    assert notes == ["first", "?"]
    with get_engine().begin() as conn:  # put it back (key rotation refuses damaged values)
        conn.execute(sa.text(move), {"t": token, "b": second})
    notes = [e["note"] for e in api.get(NURSE, incident)["timeline"] if e["note"]]
    assert notes == ["first", "second"]


# --- refusals -------------------------------------------------------------------------------


def test_illegal_transitions_answer_409_with_status_and_allowed_actions(api: Api) -> None:
    incident = card("Workflow: illegal")
    error = refusal(api.act(CHARGE, incident, "close"), 409, "illegal_transition")
    assert error["current_status"] == "triggered"
    assert error["allowed_actions"] == allowed_for("charge_nurse", incident)
    assert "resolve it first" in error["message"]

    acked = api.ok(NURSE, incident, "acknowledge")
    again = refusal(api.act(CHARGE, incident, "acknowledge"), 409, "illegal_transition")
    at = datetime.fromisoformat(acked["acknowledged_at"]).isoformat(timespec="seconds")
    assert f"already acknowledged by {NURSE} at {at}" in again["message"]
    assert again["current_status"] == "acknowledged"
    assert again["allowed_actions"] == allowed_for("charge_nurse", incident)
    refusal(api.act(NURSE, incident, "reopen"), 409, "illegal_transition")
    assert stored(incident).version == 2  # refusals wrote nothing


def test_missing_or_wrong_input_answers_422_naming_the_field(api: Api) -> None:
    incident = card("Workflow: bad input")
    cases = [
        ("resolve", {"reason": "false_alarm"}, "missing_reason", "text"),
        ("resolve", {"reason": "fixed"}, "invalid", "reason"),
        ("resolve", {}, "missing_reason", "reason"),
        ("resolve", {"reason": "duplicate"}, "missing_reason", "duplicate_of"),
        ("resolve", {"reason": "duplicate", "duplicate_of": 999999}, "invalid", "duplicate_of"),
        ("notes", {"text": "   "}, "invalid", "text"),
        ("responders", {"person": DOCTOR, "role": "surgeon"}, "invalid", "role"),
        ("reassign", {"to": "nobody.here", "reason": "x"}, "invalid", "to"),
        ("reassign", {"to": NURSE}, "missing_reason", "reason"),
        ("priority", {"priority": "P9"}, "invalid", "priority"),
        ("lead", {"person": DOCTOR}, "invalid", "person"),  # P2: no lead
    ]
    for action, body, code, field in cases:
        error = refusal(api.act(CHARGE, incident, action, body), 422, code)
        assert error["field"] == field, (action, body, error)
        assert error["current_status"] == "triggered"
    # Unknown body fields are refused by the schema, as everywhere in the API.
    assert_error(api.act(NURSE, incident, "notes", {"txt": "x"}), 422, "invalid_request")
    assert stored(incident).version == 1


def test_duplicate_of_must_be_an_incident_the_person_may_see(api: Api) -> None:
    original = card("Workflow: the original")
    icu = open_incident_in("ICU", "B2", "Workflow: ICU incident")
    incident = card("Workflow: the duplicate")
    icu_number = stored(icu).number
    hidden = refusal(
        api.act(NURSE, incident, "resolve", {"reason": "duplicate", "duplicate_of": icu_number}),
        422,
        "invalid",
    )
    unknown = refusal(
        api.act(NURSE, incident, "resolve", {"reason": "duplicate", "duplicate_of": 987654}),
        422,
        "invalid",
    )
    assert hidden["message"].replace(str(icu_number), "N") == unknown["message"].replace(
        "987654", "N"
    )
    number = stored(original).number
    done = api.ok(NURSE, incident, "resolve", {"reason": "duplicate", "duplicate_of": f"#{number}"})
    assert (done["duplicate_of"], done["duplicate_of_number"]) == (original, number)


def test_403_without_the_permission(api: Api) -> None:
    incident = card("Workflow: permissions", priority="P1")
    # The route's permission: a nurse may not close, an admin may not acknowledge.
    assert_error(api.act(NURSE, incident, "close"), 403, "forbidden")
    assert_error(api.act("admin", incident, "acknowledge"), 403, "forbidden")
    assert_error(api.act("auditor", incident, "notes", {"text": "x"}), 403, "forbidden")
    assert_error(
        api.act(NURSE, incident, "reassign", {"to": CHARGE, "reason": "x"}), 403, "forbidden"
    )
    # The lifecycle's: lowering the priority needs incidents:downgrade (audited).
    before = last_audit_id()
    error = refusal(
        api.act(NURSE, incident, "priority", {"priority": "P3", "note": "better"}),
        403,
        "forbidden",
    )
    assert "incidents:downgrade" in error["message"]
    assert error["allowed_actions"] == allowed_for("nurse", incident)
    denied = [r for r in audit_rows_after(before) if r.action == "access.denied"]
    assert [(r.actor, r.record_id, r.outcome) for r in denied] == [(NURSE, incident, "denied")]
    assert stored(incident).version == 1


ACTIONS = [
    ("POST", "acknowledge", None),
    ("POST", "start", None),
    ("POST", "escalate", {}),
    ("POST", "reassign", {"to": ICU_NURSE, "reason": "x"}),
    ("POST", "notes", {"text": "probe"}),
    ("POST", "responders", {"person": CHARGE, "role": "charge_nurse"}),
    ("DELETE", "responders/nobody", None),
    ("POST", "lead", {"person": CHARGE}),
    ("POST", "priority", {"priority": "P0"}),
    ("POST", "resolve", {"reason": "treated"}),
    ("POST", "close", None),
    ("POST", "reopen", None),
]


def test_out_of_scope_answers_404_like_a_missing_id_and_changes_nothing(api: Api) -> None:
    icu = open_incident_in("ICU", "B3", "Workflow: ICU, not Cardiology")
    for method, action, body in ACTIONS:
        answers = []
        for target in (icu, str(uuid.uuid4())):
            response = api.client.request(
                method,
                f"/api/v1/incidents/{target}/{action}",
                json=body,
                headers=api.headers[CHARGE],
            )
            answers.append((response.status_code, response.json()))
        assert (
            answers[0]
            == answers[1]
            == (404, {"error": {"code": "not_found", "message": "No such incident."}})
        ), (
            action,
            answers,
        )
    response = api.client.get(f"/api/v1/incidents/{icu}", headers=api.headers[CHARGE])
    assert_error(response, 404, "not_found")
    assert stored(icu).version == 1
    # The ICU nurse sees it.
    assert api.get(ICU_NURSE, icu)["status"] == "triggered"


def test_expected_version_in_the_body_or_if_match(api: Api) -> None:
    incident = card("Workflow: versions")
    stale = refusal(
        api.act(NURSE, incident, "acknowledge", {"expected_version": 7}), 409, "conflict"
    )
    assert stale["field"] == "expected_version" and "since version 7" in stale["message"]
    response = api.post(NURSE, f"/{incident}/notes", {"text": "a"}, **{"If-Match": '"1"'})
    assert response.status_code == 200 and response.headers["etag"] == '"2"'
    refusal(
        api.post(NURSE, f"/{incident}/notes", {"text": "b"}, **{"If-Match": '"1"'}), 409, "conflict"
    )
    assert_error(
        api.post(
            NURSE, f"/{incident}/notes", {"text": "b", "expected_version": 2}, **{"If-Match": "3"}
        ),
        422,
        "invalid_request",
    )
    assert_error(
        api.post(NURSE, f"/{incident}/notes", {"text": "b"}, **{"If-Match": "v2"}),
        422,
        "invalid_request",
    )
    done = api.post(NURSE, f"/{incident}/acknowledge", None, **{"If-Match": 'W/"2"'})
    assert done.status_code == 200 and done.json()["version"] == 3


# --- reopen, close --------------------------------------------------------------------------


def test_reopen_within_the_window_and_not_after(api: Api) -> None:
    incident = card("Workflow: reopen")
    api.ok(NURSE, incident, "start")
    api.ok(NURSE, incident, "resolve", {"reason": "treated"})
    reopened = api.ok(NURSE, incident, "reopen", {"reason": "Desaturating again"})
    assert reopened["status"] == "triggered"
    assert reopened["reopened_count"] == 1
    for cleared in (
        "acknowledged_at",
        "acknowledged_by",
        "started_at",
        "resolved_at",
        "resolved_by",
        "resolution_reason",
    ):
        assert reopened[cleared] is None, cleared
    assert people_and_rules(reopened["timeline"])[-1]["kind"] == "reopened"
    assert people_and_rules(reopened["timeline"])[-1]["note"] == "Desaturating again"
    assert people_and_rules(reopened["timeline"])[-1]["data"]["previous_reason"] == "treated"

    api.ok(NURSE, incident, "resolve", {"reason": "treated"})
    with get_engine().begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE incidents SET resolved_at = resolved_at - interval '25 hours' WHERE id = :i"
            ),
            {"i": uuid.UUID(incident)},
        )
    late = refusal(api.act(NURSE, incident, "reopen"), 409, "illegal_transition")
    assert "can no longer be reopened" in late["message"]
    assert "reopen" not in late["allowed_actions"]
    assert stored(incident).reopened_count == 1


def test_close_is_final_and_frees_the_dedup_key() -> None:
    now = datetime.now(UTC)
    with session_scope() as session:
        first = open_incident(
            session,
            title="Dedup",
            priority="P3",
            now=now,
            ward_code="CARD",
            dedup_key="workflow:dedup",
        )
        first_id = first.id
    with pytest.raises(IntegrityError), session_scope() as session:  # still open
        open_incident(
            session,
            title="Dedup",
            priority="P3",
            now=now,
            ward_code="CARD",
            dedup_key="workflow:dedup",
        )
    actor = "charge.card"
    for command in (lc.Start(), lc.Resolve(reason="treated"), lc.Close()):
        with session_scope() as session:
            found = workflow.lock_incident(session, first_id)
            assert found is not None
            result = workflow.apply_command(
                session,
                found,
                command,
                actor=actor,
                permissions=ROLE_PERMISSIONS["charge_nurse"],
                now=now,
            )
            assert isinstance(result, Incident), result
    assert stored(str(first_id)).status == "closed"
    with session_scope() as session:  # closed counts as done for the open-incident index
        second = open_incident(
            session,
            title="Dedup",
            priority="P3",
            now=now,
            ward_code="CARD",
            dedup_key="workflow:dedup",
        )
        assert second.id != first_id
    with session_scope() as session:
        found = workflow.lock_incident(session, first_id)
        assert found is not None
        closed = workflow.apply_command(
            session,
            found,
            lc.AddNote(text="late"),
            actor=actor,
            permissions=ROLE_PERMISSIONS["charge_nurse"],
            now=now,
        )
        assert isinstance(closed, lc.Refusal)
        assert closed.code is lc.RefusalCode.ILLEGAL_TRANSITION
        assert "final" in closed.message and closed.allowed_actions == ()


# --- responders and the lead ----------------------------------------------------------------


def test_responders_join_and_leave(api: Api) -> None:
    incident = card("Workflow: responders")
    api.ok(NURSE, incident, "responders", {"person": NURSE, "role": "primary_nurse"})
    api.ok(NURSE, incident, "responders", {"person": DOCTOR, "role": "physician"})
    twice = refusal(
        api.act(NURSE, incident, "responders", {"person": DOCTOR, "role": "physician"}),
        422,
        "invalid",
    )
    assert "already a responder" in twice["message"]
    response = api.client.delete(
        f"/api/v1/incidents/{incident}/responders/{DOCTOR}", headers=api.headers[NURSE]
    )
    assert response.status_code == 200, response.text
    assert [(r["person"], r["role"]) for r in response.json()["responders"]] == [
        (NURSE, "primary_nurse")
    ]
    gone = api.client.delete(
        f"/api/v1/incidents/{incident}/responders/{DOCTOR}", headers=api.headers[NURSE]
    )
    refusal(gone, 422, "invalid")
    api.ok(NURSE, incident, "responders", {"person": DOCTOR, "role": "physician"})  # back

    rows = raw(
        "SELECT person, role, left_at IS NULL FROM incident_responders "
        "WHERE incident_id = :i ORDER BY id",
        i=uuid.UUID(incident),
    )
    assert [tuple(r) for r in rows] == [
        (NURSE, "primary_nurse", True),
        (DOCTOR, "physician", False),
        (DOCTOR, "physician", True),
    ]
    timeline = people_and_rules(api.get(NURSE, incident)["timeline"])
    assert [(e["kind"], e["data"].get("person")) for e in timeline[1:]] == [
        ("responder_joined", NURSE),
        ("responder_joined", DOCTOR),
        ("responder_left", DOCTOR),
        ("responder_joined", DOCTOR),
    ]
    assert timeline[2]["message"] == f"{DOCTOR} (added by {NURSE}) joined as physician"
    with pytest.raises(IntegrityError), session_scope() as session:  # one active row each
        session.add(
            IncidentResponder(
                incident_id=uuid.UUID(incident),
                person=NURSE,
                role="other",
                joined_at=datetime.now(UTC),
            )
        )
        session.flush()


def test_a_lead_for_p0_and_p1_only(api: Api) -> None:
    incident = card("Workflow: lead")
    api.ok(NURSE, incident, "responders", {"person": RRT, "role": "rapid_response_team"})
    refusal(api.act(CHARGE, incident, "lead", {"person": RRT}), 422, "invalid")
    api.ok(NURSE, incident, "priority", {"priority": "P1"})
    refusal(api.act(CHARGE, incident, "lead", {"person": DOCTOR}), 422, "invalid")  # no responder
    assert api.ok(CHARGE, incident, "lead", {"person": RRT})["lead"] == RRT
    lowered = api.ok(CHARGE, incident, "priority", {"priority": "P3", "note": "Settled"})
    assert (lowered["priority"], lowered["lead"]) == ("P3", None)
    assert people_and_rules(lowered["timeline"])[-1]["data"]["lead_cleared"] is True
    assert people_and_rules(lowered["timeline"])[-1]["note"] == "Settled"


def test_reassigning_makes_the_incident_visible_to_the_new_assignee(api: Api) -> None:
    icu = open_incident_in("ICU", "B4", "Workflow: ICU handed to a Cardiology nurse")
    assert api.act(NURSE, icu, "acknowledge").status_code == 404
    done = api.ok(DOCTOR, icu, "reassign", {"to": staff_id_of(NURSE), "reason": "Outreach"})
    assert done["assignee"] == NURSE
    assert api.get(NURSE, icu)["assignee"] == NURSE
    assert api.ok(NURSE, icu, "acknowledge")["acknowledged_by"] == NURSE
    same = refusal(api.act(DOCTOR, icu, "reassign", {"to": NURSE, "reason": "x"}), 422, "invalid")
    assert "already assigned" in same["message"]


def test_handing_over_an_incident_out_of_your_wards_still_answers_the_handover(api: Api) -> None:
    icu = open_incident_in("ICU", "B1", "Workflow: ICU, assigned to the Cardiology charge nurse")
    api.ok(DOCTOR, icu, "reassign", {"to": CHARGE, "reason": "Covering ICU for an hour"})
    handed = api.ok(CHARGE, icu, "reassign", {"to": ICU_NURSE, "reason": "ICU nurse is back"})
    assert handed["assignee"] == ICU_NURSE
    refused = api.client.get(f"/api/v1/incidents/{icu}", headers=api.headers[CHARGE])
    assert_error(refused, 404, "not_found")  # no longer hers to see


# --- staff-raised incidents -----------------------------------------------------------------


def test_staff_raise_an_incident_about_a_patient(api: Api) -> None:
    patient = patient_in_ward("CARD")
    worry = f"Looks grey, more confused than an hour ago {uuid.uuid4().hex}"
    before = last_audit_id()
    response = api.post(NURSE, "", {"patient_id": patient, "summary": worry})
    assert response.status_code == 201, response.text
    detail = response.json()
    assert response.headers["location"].endswith(detail["id"])
    assert detail["title"] == "Staff concerned about patient"
    assert (detail["priority"], detail["status"], detail["source"]) == ("P2", "triggered", "staff")
    assert detail["raised_by"] == NURSE and detail["ward"] == "CARD" and detail["bed"]
    assert detail["summary"] == f"Raised by {NURSE}"
    assert detail["timeline"][0]["note"] == worry
    assert detail["timeline"][0]["actor"] == NURSE
    assert stored(detail["id"]).patient_id == uuid.UUID(patient)
    assert worry not in str(
        raw("SELECT * FROM incident_events WHERE incident_id = :i", i=uuid.UUID(detail["id"]))
    )
    opened = [r for r in audit_rows_after(before) if r.action == "incident.opened"]
    assert [(r.actor, r.record_id) for r in opened] == [(NURSE, detail["id"])]

    bed = api.post(CHARGE, "", {"ward": "card", "bed": "B2", "title": "Fall", "priority": "P1"})
    assert bed.status_code == 201, bed.text
    assert (bed.json()["title"], bed.json()["priority"], bed.json()["bed"]) == ("Fall", "P1", "B2")


def test_raising_is_checked(api: Api) -> None:
    icu_patient = patient_in_ward("ICU")
    cases = [
        ({}, "ward"),
        ({"ward": "ICU"}, "ward"),  # not a ward the Cardiology nurse covers
        ({"ward": "NOPE"}, "ward"),
        ({"ward": "CARD", "bed": "B99"}, "bed"),
        ({"patient_id": icu_patient}, "patient_id"),
        ({"patient_id": str(uuid.uuid4())}, "patient_id"),
        ({"ward": "CARD", "priority": "P7"}, "priority"),
    ]
    messages = {}
    for body, field in cases:
        error = assert_error(api.post(NURSE, "", body), 422, "invalid_request")
        assert error["message"].startswith(f"{field}:"), (body, error)
        messages[str(body)] = error["message"]
    # An ICU patient and a made-up one get the same answer.
    assert messages[str(cases[4][0])] == messages[str(cases[5][0])]
    assert_error(api.post("admin", "", {"ward": "CARD"}), 403, "forbidden")
    assert api.post(DOCTOR, "", {"ward": "ICU"}).status_code == 201  # hospital-wide


# --- the list: filters and pagination -------------------------------------------------------


def ids_of(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()]


def test_pagination_is_stable_while_incidents_are_opened(api: Api) -> None:
    for n in range(7):
        card(f"Workflow: page {n}", bed=f"B{n % 4 + 1}")
    everything = ids_of(api.list(DOCTOR, status="all", limit=200))
    assert len(everything) >= 7 and len(set(everything)) == len(everything)

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"status": "all", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        response = api.list(DOCTOR, **params)
        seen += ids_of(response)
        pages += 1
        # Incidents opened meanwhile sort before the first page: never repeated or skipped.
        card(f"Workflow: opened during paging {pages}")
        cursor = response.headers.get("x-next-cursor")
        if cursor is None:
            assert "link" not in response.headers
            break
        assert response.headers["link"].endswith('; rel="next"')
        assert f"cursor={cursor}" in response.headers["link"]
    assert seen == everything
    assert pages == -(-len(everything) // 3)

    rows = api.list(DOCTOR, status="all", limit=200).json()
    keys = [(r["opened_at"], r["id"]) for r in rows]
    assert keys == sorted(keys, reverse=True)


def test_filters(api: Api) -> None:
    start = datetime.now(UTC)
    p0 = card("Workflow: filter P0", priority="P0", bed="B3")
    acked = card("Workflow: filter acked", priority="P4", bed="B4")
    api.ok(NURSE, acked, "acknowledge")
    icu = open_incident_in("ICU", "B5", "Workflow: filter ICU", priority="P0")
    assigned = card("Workflow: filter assigned")
    api.ok(CHARGE, assigned, "reassign", {"to": NURSE, "reason": "Yours"})
    resolved = card("Workflow: filter resolved")
    api.ok(NURSE, resolved, "resolve", {"reason": "treated"})
    end = datetime.now(UTC)
    window = {"opened_from": start.isoformat(), "opened_to": end.isoformat()}

    mine = set(ids_of(api.list(DOCTOR, **window)))
    assert mine == {p0, acked, icu, assigned}  # open ones by default
    assert set(ids_of(api.list(DOCTOR, status="all", **window))) == mine | {resolved}
    assert set(ids_of(api.list(DOCTOR, status=["resolved", "acknowledged"], **window))) == {
        resolved,
        acked,
    }
    assert set(ids_of(api.list(DOCTOR, status="triggered,acknowledged", **window))) == {
        p0,
        acked,
        icu,
        assigned,
    }
    assert set(ids_of(api.list(DOCTOR, priority="P0", **window))) == {p0, icu}
    assert set(ids_of(api.list(DOCTOR, priority=["P0", "P4"], ward="ICU", **window))) == {icu}
    assert set(ids_of(api.list(NURSE, priority="P0", **window))) == {p0}  # scope still applies
    assert set(ids_of(api.list(NURSE, assignee="me", **window))) == {assigned}
    assert set(ids_of(api.list(DOCTOR, assignee=NURSE, **window))) == {assigned}
    patient = str(stored(p0).patient_id)
    assert p0 in ids_of(api.list(DOCTOR, patient=patient, status="all"))
    assert all(
        stored(i).patient_id == uuid.UUID(patient)
        for i in ids_of(api.list(DOCTOR, patient=patient, status="all"))
    )
    assert ids_of(api.list(DOCTOR, opened_from=end.isoformat(), opened_to=end.isoformat())) == []
    row = next(r for r in api.list(DOCTOR, **window).json() if r["id"] == acked)
    assert (row["status"], row["acknowledged_by"], row["version"]) == ("acknowledged", NURSE, 2)

    for params in (
        {"status": "done"},
        {"priority": "P5"},
        {"ward": "NOPE"},
        {"assignee": "nobody.here"},
        {"cursor": "not-a-cursor"},
        {"opened_from": "2026-01-01T00:00:00"},  # no offset
        {"limit": 201},
        {"limit": 0},
    ):
        assert_error(api.list(DOCTOR, **params), 422, "invalid_request")
    assert_error(api.list("admin"), 403, "forbidden")


# --- a transition that dies before its commit ----------------------------------------------


def test_a_failure_after_the_update_rolls_everything_back(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident = card("Workflow: dies mid-transition")
    api.ok(NURSE, incident, "acknowledge")
    events_before = raw(
        "SELECT count(*) FROM incident_events WHERE incident_id = :i", i=uuid.UUID(incident)
    )[0][0]

    def broken(*args: Any, **kwargs: Any) -> None:
        # The incident row, the responder and the timeline entry are written by now.
        raise RuntimeError("process died before the commit")

    monkeypatch.setattr(workflow, "record_audit", broken)
    principal = _principal(NURSE)
    for command in (
        lc.AddResponder(person=NURSE, role="primary_nurse"),
        lc.Resolve(reason="false_alarm", text="artefact"),
    ):
        with pytest.raises(RuntimeError, match="died"):
            workflow.perform_as(principal, uuid.UUID(incident), command, now=datetime.now(UTC))
    monkeypatch.undo()

    after = stored(incident)
    assert (after.status, after.version, after.resolution_reason) == ("acknowledged", 2, None)
    assert (
        raw("SELECT count(*) FROM incident_events WHERE incident_id = :i", i=uuid.UUID(incident))[
            0
        ][0]
        == events_before
    )
    assert (
        raw(
            "SELECT count(*) FROM incident_responders WHERE incident_id = :i", i=uuid.UUID(incident)
        )[0][0]
        == 0
    )
    # And the incident is not left locked: the next action goes through.
    assert api.ok(NURSE, incident, "start")["version"] == 3


def test_a_process_killed_before_its_commit_leaves_the_incident_as_it_was(api: Api) -> None:
    incident = card("Workflow: killed")
    script = textwrap.dedent(
        f"""
        import os, uuid
        from datetime import UTC, datetime
        from healthguard.db import session_scope
        from healthguard.incidents import lifecycle as lc, workflow
        from healthguard.security.permissions import Principal
        from sqlmodel import select
        from healthguard.models import User
        with session_scope() as session:
            user = session.exec(select(User).where(User.username == {NURSE!r})).one()
            principal = Principal(kind="user", id=str(user.id), name=user.username,
                                  role=user.role, staff_id=str(user.staff_id))
            result = workflow.perform(session, uuid.UUID({incident!r}), lc.Start(),
                                      principal=principal, now=datetime.now(UTC))
            assert not isinstance(result, lc.Refusal), result
            session.flush()
            print("written, not committed", flush=True)
            os._exit(9)  # killed: no commit, no rollback, the connection just drops
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
    )
    assert done.returncode == 9, done.stderr
    assert "written, not committed" in done.stdout
    after = stored(incident)
    assert (after.status, after.version, after.started_at) == ("triggered", 1, None)
    assert [e["kind"] for e in people_and_rules(api.get(NURSE, incident)["timeline"])] == ["opened"]
    assert api.ok(NURSE, incident, "acknowledge")["version"] == 2  # not left locked


def _principal(username: str) -> Any:
    from sqlmodel import select

    from healthguard.models import User
    from healthguard.security.accounts import principal_of

    with session_scope() as session:
        return principal_of(session.exec(select(User).where(User.username == username)).one())


def test_the_ui_acknowledge_path_shares_the_workflow(api: Api) -> None:
    from healthguard.incidents.access import acknowledge_as
    from healthguard.incidents.errors import IncidentStateError

    incident = card("Workflow: UI acknowledge")
    done = acknowledge_as(_principal(NURSE), uuid.UUID(incident), now=datetime.now(UTC))
    assert done.number == stored(incident).number and done.ward_code == "CARD"
    with pytest.raises(IncidentStateError) as again:
        acknowledge_as(_principal(CHARGE), uuid.UUID(incident), now=datetime.now(UTC))
    assert again.value.code == "illegal_transition"
    assert f"already acknowledged by {NURSE}" in again.value.message
    icu = open_incident_in("ICU", "B6", "Workflow: UI out of scope")
    with pytest.raises(IncidentStateError) as hidden:
        acknowledge_as(_principal(NURSE), uuid.UUID(icu), now=datetime.now(UTC))
    assert hidden.value.code == "not_found"
    timeline = people_and_rules(api.get(NURSE, incident)["timeline"])
    assert [e["actor"] for e in timeline] == ["system", NURSE]


def test_reopened_incidents_page_again_from_the_first_step(api: Api) -> None:
    incident = card("Workflow: escalation steps")
    api.ok(NURSE, incident, "escalate")
    assert stored(incident).escalation_step == 1
    api.ok(NURSE, incident, "resolve", {"reason": "treated"})
    api.ok(NURSE, incident, "reopen")
    assert stored(incident).escalation_step == 0


def test_key_rotation_re_encrypts_incident_text(
    api: Api, app_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from testsupport import env_override

    from healthguard.incidents.timeline import count_stale_text
    from healthguard.patients.phi import index_key_from_settings, keyring_from_settings
    from healthguard.security.crypto import key_id_of, new_key_entry
    from healthguard.security.rotation import cmd_keys_rotate
    from healthguard.settings import Settings

    incident = card("Workflow: rotation")
    api.ok(NURSE, incident, "notes", {"text": "Under the old key"})
    api.ok(NURSE, incident, "resolve", {"reason": "other", "text": "Resolved under the old key"})
    old = keyring_from_settings().current_id
    ring = new_key_entry("rot-notes") + "," + app_env["HEALTHGUARD_PHI_KEYRING"]

    def settings(keyring_text: str) -> Settings:
        return Settings(
            mode="production",
            database_url=app_env["DATABASE_URL"],
            redis_url=app_env["REDIS_URL"],
            secret_key="x" * 40,
            phi_keyring=keyring_text,
            blind_index_key=index_key_from_settings(),
        )

    rotated = keyring_from_settings(settings(ring))
    with session_scope() as session:
        assert count_stale_text(session, rotated) > 0
    assert cmd_keys_rotate(settings(ring), batch_size=2) == 0
    out = capsys.readouterr().out
    assert "incident text value(s) re-encrypted with key 'rot-notes'" in out
    with session_scope() as session:
        assert count_stale_text(session, rotated) == 0
    tokens = [r[0] for r in raw("SELECT note_enc FROM incident_events WHERE note_enc IS NOT NULL")]
    tokens += [
        r[0]
        for r in raw(
            "SELECT resolution_text_enc FROM incidents WHERE resolution_text_enc IS NOT NULL"
        )
    ]
    assert tokens and {key_id_of(t) for t in tokens} == {"rot-notes"}
    # Readable with the new key alone: the old one can go.
    only_new = ring.split(",")[0]
    with env_override(HEALTHGUARD_PHI_KEYRING=only_new):
        detail = api.get(NURSE, incident)
    assert old not in only_new
    assert [e["note"] for e in detail["timeline"] if e["note"]] == [
        "Under the old key",
        "Resolved under the old key",
    ]
    assert detail["resolution_text"] == "Resolved under the old key"
    # Back to the module's own key, for whatever runs after this test.
    back = app_env["HEALTHGUARD_PHI_KEYRING"] + "," + only_new
    assert cmd_keys_rotate(settings(back), batch_size=50) == 0
    assert api.get(NURSE, incident)["resolution_text"] == "Resolved under the old key"
