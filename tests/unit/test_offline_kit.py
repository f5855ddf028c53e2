"""The offline kit of /my (healthguard.ui.states.my_alarms.offline_kit): what a phone keeps
for when the network drops. Pure: cards, settings and a clock in, a dict out."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from healthguard.notify import tokens
from healthguard.notify.delivery import answer_link_secret
from healthguard.settings import Settings
from healthguard.ui.states.feed import IncidentCardData
from healthguard.ui.states.my_alarms import offline_kit

NOW = datetime(2026, 11, 26, 14, 31, tzinfo=UTC)
SETTINGS = Settings(secret_key="k" * 48, timezone="Europe/Lisbon", answer_link_minutes=15)
STAFF = uuid.uuid4()


def card(status: str, priority: str = "P1") -> IncidentCardData:
    return IncidentCardData(
        id=str(uuid.uuid4()),
        number=12,
        priority=priority,
        priority_label="P1 Emergency",
        title="NEWS2 7",
        location="CARD · bed B1",
        patient="A.S.",
        status=status,
        opened_at=NOW.isoformat(),
    )


def test_each_card_carries_single_use_tokens_of_this_person_for_its_answers() -> None:
    waiting, acked = card("Not acknowledged"), card("Acknowledged")
    kit = offline_kit([waiting, acked], user_id="u1", staff_id=STAFF, settings=SETTINGS, now=NOW)
    first, second = kit["alarms"]
    assert set(first["answers"]) == {"acknowledge", "escalate", "decline"}
    assert set(second["answers"]) == {"escalate"}  # as the page offers: no ACK twice
    for alarm, source in ((first, waiting), (second, acked)):
        for action, token in alarm["answers"].items():
            verified = tokens.verify(answer_link_secret(SETTINGS), token, NOW)
            assert isinstance(verified, tokens.VerifiedToken), verified
            assert verified.staff_id == STAFF
            assert str(verified.incident_id) == source.id
            assert verified.action.value == action
            assert verified.expires_at == NOW + timedelta(minutes=15)
    assert kit["expires_at"] == (NOW + timedelta(minutes=15)).isoformat()
    assert (kit["user"], kit["timezone"], kit["updated_at"]) == (
        "u1",
        "Europe/Lisbon",
        NOW.isoformat(),
    )


def test_the_kit_holds_the_card_as_shown_and_nothing_more() -> None:
    kit = offline_kit(
        [card("Not acknowledged")], user_id="u1", staff_id=STAFF, settings=SETTINGS, now=NOW
    )
    alarm = kit["alarms"][0]
    assert set(alarm) == {
        "id",
        "number",
        "priority",
        "priority_label",
        "title",
        "location",
        "patient",
        "status",
        "opened_at",
        "answers",
    }
    assert alarm["patient"] == "A.S."  # initials only, as on the card
    text = json.dumps(kit)
    assert "access_token" not in text and "Bearer" not in text


def test_an_empty_list_is_kept_as_empty() -> None:
    kit = offline_kit([], user_id="u1", staff_id=STAFF, settings=SETTINGS, now=NOW)
    assert kit["alarms"] == [] and kit["version"] == 1
