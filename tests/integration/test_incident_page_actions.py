"""The incident page's newer actions on the real Postgres and Redis, through the functions its
event handlers call (``run_action``: the workflow's ``perform_as``, the API's path, with the
version the page shows) and the page read that decides which forms are shown: changing the
priority (a downgrade needs a note), naming the lead, removing a responder, closing, and
reopening within the window (and when that window ends). Each refusal is re-checked on the
server, whatever the page showed, and said in words naming the field."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from authsupport import audit_rows_after, last_audit_id, open_incident_in
from sqlmodel import select

from healthguard.db import session_scope
from healthguard.incidents import lifecycle as lc
from healthguard.models import Incident, User
from healthguard.security.accounts import Origin, principal_of
from healthguard.security.permissions import Principal
from healthguard.ui.incident_view import TimelineRowData
from healthguard.ui.states.incident_detail import PageContent, load_page, run_action

pytestmark = pytest.mark.integration

NURSE = "nurse.card"
CHARGE = "charge.card"
ORIGIN = Origin("10.0.0.9", "pytest")


def who(username: str) -> Principal:
    with session_scope() as session:
        user = session.exec(select(User).where(User.username == username)).one()
        return principal_of(user)


def page_for(username: str, incident_id: uuid.UUID) -> PageContent:
    page = load_page(who(username), incident_id, now=datetime.now(UTC), audit_origin=None)
    assert page.found
    return page


def stored(incident_id: uuid.UUID) -> Incident:
    with session_scope() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        session.expunge(incident)
        return incident


def new_incident(bed: str, priority: str) -> uuid.UUID:
    return uuid.UUID(
        open_incident_in("CARD", bed, f"Page actions {uuid.uuid4().hex[:6]}", priority)
    )


def act(username: str, incident_id: uuid.UUID, command: lc.Command, version: int | None = None):
    return run_action(who(username), incident_id, command, origin=ORIGIN, expected_version=version)


def last(page: PageContent, kind: str) -> TimelineRowData:
    """The newest timeline entry of ``kind`` (escalation and notification entries come
    with some changes)."""
    rows = [row for row in page.timeline if row.kind == kind]
    assert rows, f"no {kind} entry in {[row.kind for row in page.timeline]}"
    return rows[-1]


def test_priority_choices_follow_the_permissions_and_a_raise_is_written(
    seeded: dict[str, int],
) -> None:
    incident_id = new_incident("B7", "P2")
    nurse = page_for(NURSE, incident_id)
    charge = page_for(CHARGE, incident_id)
    # A nurse may raise only; a charge nurse may lower too (with a note).
    assert "change_priority" in nurse.allowed and "change_priority" in charge.allowed
    assert [o.value for o in nurse.priority_options] == ["P0", "P1"]
    assert [o.value for o in charge.priority_options] == ["P0", "P1", "P3", "P4"]
    labels = {o.value: o.label for o in charge.priority_options}
    assert labels["P1"] == "P1 Emergency (raise)"
    assert labels["P3"] == "P3 Review (lower: a note is required)"

    since = last_audit_id()
    message, error = act(
        CHARGE, incident_id, lc.ChangePriority(priority="P1"), version=charge.version
    )
    assert error == "" and message.endswith("is now P1 Emergency."), (message, error)
    assert stored(incident_id).priority == "P1"
    after = page_for(CHARGE, incident_id)
    assert (after.priority, after.priority_label, after.colour) == ("P1", "P1 Emergency", "red")
    assert "Raised from P2 to P1 by charge.card" in last(after, "priority_changed").what
    assert "P1" not in [o.value for o in after.priority_options]
    audits = [r for r in audit_rows_after(since) if r.action == "incident.priority_changed"]
    assert [(r.actor, r.record_id, r.details["from"], r.details["to"]) for r in audits] == [
        (CHARGE, str(incident_id), "P2", "P1")
    ]


def test_a_downgrade_without_a_note_is_refused_naming_the_field(seeded: dict[str, int]) -> None:
    incident_id = new_incident("B8", "P2")
    version = page_for(CHARGE, incident_id).version
    message, error = act(CHARGE, incident_id, lc.ChangePriority(priority="P3"), version=version)
    assert message == ""
    assert error == "Note (required to lower the priority): must not be empty."
    message, error = act(CHARGE, incident_id, lc.ChangePriority(priority=""), version=version)
    assert error == "New priority: give one of P0, P1, P2, P3, P4."
    assert stored(incident_id).priority == "P2"
    # A nurse cannot lower it at all, whatever the browser sends: the server says why.
    message, error = act(
        NURSE, incident_id, lc.ChangePriority(priority="P3", note="settled"), version=version
    )
    assert message == "" and "incidents:downgrade" in error, error
    # With the note, it is lowered and the note is on the timeline.
    message, error = act(
        CHARGE,
        incident_id,
        lc.ChangePriority(priority="P3", note="Reviewed at the bedside: stable"),
        version=version,
    )
    assert error == "" and message.endswith("is now P3 Review."), (message, error)
    entry = last(page_for(CHARGE, incident_id), "priority_changed")
    assert "Lowered from P2 to P3" in entry.what
    assert entry.note == "Reviewed at the bedside: stable"


def test_a_change_on_a_stale_page_is_refused_in_words(seeded: dict[str, int]) -> None:
    incident_id = new_incident("B7", "P3")
    seen = page_for(CHARGE, incident_id).version
    message, error = act(NURSE, incident_id, lc.Acknowledge())
    assert error == "", error
    message, error = act(CHARGE, incident_id, lc.ChangePriority(priority="P1"), version=seen)
    assert message == ""
    assert "was changed by someone else since this page showed it" in error, error
    assert "acknowledged by nurse.card" in error
    assert "Nothing was changed. The page now shows it as it is" in error
    assert "version" not in error and "+00:00" not in error, error
    assert stored(incident_id).priority == "P3"


def test_the_lead_is_chosen_among_the_responders_and_removing_them_clears_it(
    seeded: dict[str, int],
) -> None:
    incident_id = new_incident("B8", "P1")
    page = page_for(CHARGE, incident_id)
    assert "set_lead" not in page.allowed and "remove_responder" not in page.allowed
    message, error = act(CHARGE, incident_id, lc.AddResponder(person=NURSE, role="primary_nurse"))
    assert error == "", error
    page = page_for(CHARGE, incident_id)
    assert "set_lead" in page.allowed and "remove_responder" in page.allowed
    assert [(o.value, o.label) for o in page.lead_options] == [
        (NURSE, "nurse.card (Primary nurse)")
    ]
    # A nurse may not name the lead: no form for her, and the server refuses it anyway.
    nurse_page = page_for(NURSE, incident_id)
    assert "set_lead" not in nurse_page.allowed and "remove_responder" in nurse_page.allowed
    message, error = act(NURSE, incident_id, lc.SetLead(person=NURSE), version=page.version)
    assert message == "" and "incidents:reassign" in error, error
    # Someone who is not a responder cannot lead: the field is named as on the form.
    message, error = act(CHARGE, incident_id, lc.SetLead(person=CHARGE), version=page.version)
    assert error.startswith("Lead: the lead must be one of the responders"), error

    message, error = act(CHARGE, incident_id, lc.SetLead(person=NURSE), version=page.version)
    assert error == "" and message.endswith(": nurse.card is the lead."), (message, error)
    page = page_for(CHARGE, incident_id)
    assert page.lead == NURSE and page.lead_options == []
    assert "set_lead" not in page.allowed  # the only responder already leads
    assert [o.label for o in page.responder_options] == ["nurse.card (Primary nurse, the lead)"]
    assert "nurse.card is the incident lead" in last(page, "lead_set").what

    message, error = act(
        CHARGE, incident_id, lc.RemoveResponder(person=NURSE), version=page.version
    )
    assert error == "" and message.endswith("responder removed."), (message, error)
    page = page_for(CHARGE, incident_id)
    assert page.lead == "" and page.responders == [] and page.responder_options == []
    assert "remove_responder" not in page.allowed
    assert "there is no lead now" in last(page, "responder_left").what


def test_close_after_resolve_is_for_coordinators_and_final(seeded: dict[str, int]) -> None:
    incident_id = new_incident("B7", "P2")
    assert "close" not in page_for(CHARGE, incident_id).allowed
    message, error = act(CHARGE, incident_id, lc.Resolve(reason="treated"))
    assert error == "", error
    charge = page_for(CHARGE, incident_id)
    nurse = page_for(NURSE, incident_id)
    assert "close" in charge.allowed and "close" not in nurse.allowed
    message, error = act(NURSE, incident_id, lc.Close(), version=nurse.version)
    assert message == "" and "incidents:close" in error, error

    message, error = act(
        CHARGE, incident_id, lc.Close(note="Reviewed at handover"), version=charge.version
    )
    assert error == "" and message.endswith(" closed."), (message, error)
    page = page_for(CHARGE, incident_id)
    assert page.status == "closed" and page.allowed == []
    assert page.status_text.startswith("Closed by charge.card")
    assert last(page, "closed").note == "Reviewed at handover"
    message, error = act(CHARGE, incident_id, lc.Reopen(), version=page.version)
    assert message == "" and "a closed incident is final" in error, error


def test_reopen_within_the_window_says_when_it_ends(seeded: dict[str, int]) -> None:
    incident_id = new_incident("B8", "P2")
    act(NURSE, incident_id, lc.Resolve(reason="treated"))
    resolved_at = stored(incident_id).resolved_at
    assert resolved_at is not None
    page = page_for(NURSE, incident_id)
    assert "reopen" in page.allowed
    until = resolved_at + lc.REOPEN_WINDOW
    assert datetime.fromisoformat(page.reopen_until) == until
    assert page.reopen_until_local and ":" in page.reopen_until_local

    message, error = act(
        NURSE, incident_id, lc.Reopen(reason="Desaturating again"), version=page.version
    )
    assert error == "" and message.endswith("reopened: triggered again."), (message, error)
    page = page_for(NURSE, incident_id)
    assert page.status == "triggered" and page.status_text == "Not acknowledged"
    assert page.reopen_until == "" and "reopen" not in page.allowed
    assert last(page, "reopened").note == "Desaturating again"
    assert stored(incident_id).reopened_count == 1


def test_reopen_after_the_window_is_refused_with_its_end(seeded: dict[str, int]) -> None:
    incident_id = new_incident("B7", "P3")
    act(NURSE, incident_id, lc.Resolve(reason="treated"))
    long_ago = datetime.now(UTC) - lc.REOPEN_WINDOW - timedelta(hours=1)
    with session_scope() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        incident.resolved_at = long_ago
        session.add(incident)
    page = page_for(NURSE, incident_id)
    assert "reopen" not in page.allowed and page.reopen_until == ""
    message, error = act(NURSE, incident_id, lc.Reopen(), version=page.version)
    assert message == ""
    assert "can no longer be reopened" in error and "window of 24 h ended at" in error, error
    assert "+00:00" not in error  # the time is hospital local time
    assert stored(incident_id).status == "resolved"
