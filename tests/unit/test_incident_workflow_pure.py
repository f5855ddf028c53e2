"""The pure parts around the incident workflow: the stored vocabularies follow the state
machine's, every action has its audit action, the list cursor round-trips and refuses what it
did not make, and If-Match is read as the API documents."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi import HTTPException

from healthguard.api.incidents import expected_version_of
from healthguard.incidents import lifecycle as lc
from healthguard.incidents.reads import Cursor, CursorError
from healthguard.incidents.workflow import AUDIT_ACTION
from healthguard.models.incidents import (
    DONE_STATUSES,
    OPEN_STATUSES,
    RESOLUTION_REASONS,
    RESPONDER_ROLES,
    IncidentStatus,
)
from healthguard.security.audit import KNOWN_ACTIONS

pytestmark = pytest.mark.unit


def test_stored_statuses_are_the_state_machines() -> None:
    assert [s.value for s in IncidentStatus] == [s.value for s in lc.IncidentState]
    assert set(OPEN_STATUSES) == {s.value for s in lc.OPEN_STATES}
    assert set(OPEN_STATUSES) | set(DONE_STATUSES) == {s.value for s in lc.IncidentState}
    assert not set(OPEN_STATUSES) & set(DONE_STATUSES)


def test_stored_reasons_and_roles_are_the_state_machines() -> None:
    assert tuple(r.value for r in lc.ResolutionReason) == RESOLUTION_REASONS
    assert tuple(r.value for r in lc.ResponderRole) == RESPONDER_ROLES


def test_every_action_has_a_known_audit_action() -> None:
    assert set(AUDIT_ACTION) == set(lc.Action)
    assert set(AUDIT_ACTION.values()) <= KNOWN_ACTIONS
    assert len(set(AUDIT_ACTION.values())) == len(AUDIT_ACTION)


@pytest.mark.parametrize(
    "opened_at",
    [
        datetime(2026, 11, 26, 4, 20, 0, 123456, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=1))),
    ],
)
def test_cursor_round_trips(opened_at: datetime) -> None:
    cursor = Cursor(opened_at, uuid.uuid4())
    text = cursor.encode()
    assert "=" not in text and "/" not in text and "+" not in text  # safe in a URL
    assert Cursor.decode(text) == cursor


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not-a-cursor",
        "e30",  # {}
        Cursor(datetime(2026, 1, 1, tzinfo=UTC), uuid.uuid4()).encode()[:-3],
        # a time without an offset
        "eyJvIjoiMjAyNi0wMS0wMVQwMDowMDowMCIsImkiOiIwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDAifQ",
    ],
)
def test_cursor_refuses_what_it_did_not_make(text: str) -> None:
    with pytest.raises(CursorError):
        Cursor.decode(text)


@pytest.mark.parametrize(
    ("body", "header", "expected"),
    [
        (None, None, None),
        (3, None, 3),
        (None, '"3"', 3),
        (None, 'W/"3"', 3),
        (None, "3", 3),
        (None, "*", None),
        (3, '"3"', 3),
    ],
)
def test_expected_version(body: int | None, header: str | None, expected: int | None) -> None:
    assert expected_version_of(body, header) == expected


@pytest.mark.parametrize(("body", "header"), [(None, "v3"), (None, '"three"'), (2, '"3"')])
def test_expected_version_refused(body: int | None, header: str) -> None:
    with pytest.raises(HTTPException) as refused:
        expected_version_of(body, header)
    assert refused.value.status_code == 422
