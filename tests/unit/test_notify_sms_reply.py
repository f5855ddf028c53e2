"""Inbound SMS replies (healthguard.notify.sms_reply): many spellings, clear refusals for
garbage, resolution against the person's open notifications, and incident short codes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthguard.notify.sms_reply import (
    SMS_LIMIT,
    OpenNotification,
    ParsedReply,
    ReplyAction,
    ReplyMatch,
    ReplyProblem,
    ReplyRefusal,
    incident_code,
    parse_reply,
    reply_instructions,
    resolve_reply,
)

pytestmark = pytest.mark.unit

ACK, ESC, DEC = ReplyAction.ACKNOWLEDGE, ReplyAction.ESCALATE, ReplyAction.DECLINE
SECRET = b"s" * 32
ONE = OpenNotification("inc-1", "4821", "P1 7B bed 12")
TWO = OpenNotification("inc-2", "5530", "P2 4A bed 3")
THREE = OpenNotification("inc-3", "7102", "P3 ICU bed 1")


@pytest.mark.parametrize(
    ("text", "action", "code"),
    [
        ("1 4821", ACK, "4821"),
        ("ACK 4821", ACK, "4821"),
        ("ack", ACK, None),
        ("Ack", ACK, None),
        ("  ACK  ", ACK, None),
        ("1", ACK, None),
        ("ok", ACK, None),
        ("Yes", ACK, None),
        ("y", ACK, None),
        ("acknowledged 4821", ACK, "4821"),
        ("ack4821", ACK, "4821"),
        ("4821 1", ACK, "4821"),
        ("1-4821", ACK, "4821"),
        ("#4821 ack", ACK, "4821"),
        ("ACK 4821, thanks", ACK, "4821"),
        ("ack ack 4821", ACK, "4821"),
        ("1 ack", ACK, None),
        ("2", ESC, None),
        ("esc 4821", ESC, "4821"),
        ("Escalate", ESC, None),
        ("ESCALATE incident 482100", ESC, "482100"),
        ("2 code 55301", ESC, "55301"),
        ("3 4821 decline", DEC, "4821"),
        ("3", DEC, None),
        ("decline", DEC, None),
        ("DEC 4821", DEC, "4821"),
        ("no", DEC, None),
        ("N 4821", DEC, "4821"),
        ("busy", DEC, None),
        ("declined 4821 please", DEC, "4821"),
    ],
)
def test_spellings(text: str, action: ReplyAction, code: str | None) -> None:
    assert parse_reply(text) == ParsedReply(action, code)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", ReplyProblem.EMPTY),
        ("   ", ReplyProblem.EMPTY),
        ("!!! ???", ReplyProblem.EMPTY),
        ("hello", ReplyProblem.NOT_UNDERSTOOD),
        ("on my way", ReplyProblem.NOT_UNDERSTOOD),
        ("don't ack", ReplyProblem.NOT_UNDERSTOOD),
        ("4", ReplyProblem.NOT_UNDERSTOOD),
        ("12", ReplyProblem.NOT_UNDERSTOOD),
        ("1 482", ReplyProblem.NOT_UNDERSTOOD),
        ("1 4821999", ReplyProblem.NOT_UNDERSTOOD),
        ("please", ReplyProblem.NOT_UNDERSTOOD),
        ("STOP", ReplyProblem.NOT_UNDERSTOOD),
        ("4821", ReplyProblem.NO_ACTION),
        ("1 4821 decline", ReplyProblem.CONFLICTING_ACTIONS),
        ("yes no", ReplyProblem.CONFLICTING_ACTIONS),
        ("1 2", ReplyProblem.CONFLICTING_ACTIONS),
        ("1 4821 5530", ReplyProblem.SEVERAL_CODES),
    ],
)
def test_garbage_gets_a_clear_refusal(text: str, problem: ReplyProblem) -> None:
    result = parse_reply(text)
    assert isinstance(result, ReplyRefusal)
    assert result.problem is problem
    assert result.answer_text.endswith("Nothing was changed.")
    assert len(result.answer_text) <= SMS_LIMIT


def test_refusal_texts_say_how_to_answer() -> None:
    not_understood = parse_reply("hello", example_code="5530")
    assert isinstance(not_understood, ReplyRefusal)
    assert not_understood.answer_text == (
        'Not understood. Reply 1 ACK, 2 ESC or 3 DECLINE + code, e.g. "1 5530". '
        "Nothing was changed."
    )
    no_action = parse_reply("4821")
    assert isinstance(no_action, ReplyRefusal)
    assert no_action.answer_text == (
        "Which answer for 4821? Reply 1 ACK, 2 ESC, 3 DECLINE + 4821. Nothing was changed."
    )
    conflicting = parse_reply("ack decline")
    assert isinstance(conflicting, ReplyRefusal)
    assert "Two different answers (ACK and DECLINE)" in conflicting.answer_text


# --- resolving against the open notifications ---------------------------------------------


def test_no_code_and_exactly_one_open() -> None:
    result = resolve_reply("ack", [ONE])
    assert isinstance(result, ReplyMatch)
    assert (result.action, result.incident_id, result.code) == (ACK, "inc-1", "4821")
    assert result.answer_text.startswith("Acknowledged: 4821 (P1 7B bed 12).")
    assert len(result.answer_text) <= SMS_LIMIT


def test_a_code_picks_the_notification() -> None:
    result = resolve_reply("esc 5530", [ONE, TWO, THREE])
    assert isinstance(result, ReplyMatch)
    assert (result.action, result.incident_id) == (ESC, "inc-2")
    assert result.answer_text.startswith("Escalated: 5530")
    declined = resolve_reply("3 7102 decline", [ONE, TWO, THREE])
    assert isinstance(declined, ReplyMatch)
    assert (declined.action, declined.incident_id) == (DEC, "inc-3")


def test_no_code_and_several_open_is_ambiguous_and_lists_the_codes() -> None:
    result = resolve_reply("1", [ONE, TWO, THREE])
    assert isinstance(result, ReplyRefusal)
    assert result.problem is ReplyProblem.AMBIGUOUS
    assert result.answer_text == (
        '3 open alarms: add the code, e.g. "1 4821". 4821 P1 7B bed 12; 5530 P2 4A bed 3; '
        "7102 P3 ICU bed 1. Nothing was changed."
    )
    assert len(result.answer_text) <= SMS_LIMIT


def test_unknown_code_lists_the_open_ones() -> None:
    result = resolve_reply("1 9999", [ONE, TWO])
    assert isinstance(result, ReplyRefusal)
    assert result.problem is ReplyProblem.UNKNOWN_CODE
    assert result.answer_text == (
        "Code 9999 is not one of your open alarms. Open: 4821 P1 7B bed 12; 5530 P2 4A bed 3. "
        "Nothing was changed."
    )


def test_nothing_open() -> None:
    result = resolve_reply("ack 4821", [])
    assert isinstance(result, ReplyRefusal)
    assert result.problem is ReplyProblem.NOTHING_OPEN
    assert result.answer_text == "You have no open alarms. Nothing was changed."


def test_a_code_shared_by_two_open_notifications_is_ambiguous() -> None:
    twin = OpenNotification("inc-9", "4821", "P2 9C bed 4")
    result = resolve_reply("1 4821", [ONE, twin])
    assert isinstance(result, ReplyRefusal)
    assert result.problem is ReplyProblem.AMBIGUOUS
    assert "Answer in the app" in result.answer_text


def test_a_garbage_reply_uses_an_open_code_as_the_example() -> None:
    result = resolve_reply("what?", [TWO])
    assert isinstance(result, ReplyRefusal)
    assert '"1 5530"' in result.answer_text


def test_many_open_notifications_still_fit_one_sms() -> None:
    many = [
        OpenNotification(f"inc-{i}", str(1000 + i), f"P2 Cardiology step-down unit bed {i}")
        for i in range(30)
    ]
    for text in ("1", "1 9999"):
        result = resolve_reply(text, many)
        assert isinstance(result, ReplyRefusal)
        assert len(result.answer_text) <= SMS_LIMIT
        assert "more" in result.answer_text
        assert "1000" in result.answer_text
        assert result.answer_text.endswith("Nothing was changed.")


def test_the_reply_line_of_a_message_resolves() -> None:
    # "Reply 1 ACK, 2 ESC, 3 DECLINE + 4821": each answer as a nurse would type it.
    assert reply_instructions("4821") == "Reply 1 ACK, 2 ESC, 3 DECLINE + 4821"
    for typed, action in (("1 4821", ACK), ("2 4821", ESC), ("3 4821", DEC)):
        result = resolve_reply(typed, [TWO, ONE])
        assert isinstance(result, ReplyMatch)
        assert (result.action, result.incident_id) == (action, "inc-1")


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(max_size=200),
    summaries=st.lists(st.text(max_size=80), max_size=12),
)
def test_any_reply_gets_one_short_answer(text: str, summaries: list[str]) -> None:
    items = [OpenNotification(f"i{n}", str(1000 + n), s) for n, s in enumerate(summaries)]
    result = resolve_reply(text, items)
    assert isinstance(result, ReplyMatch | ReplyRefusal)
    assert 0 < len(result.answer_text) <= SMS_LIMIT
    if isinstance(result, ReplyRefusal):
        assert result.answer_text.endswith("Nothing was changed.")


# --- incident codes -----------------------------------------------------------------------


def test_incident_code_is_deterministic_and_four_digits() -> None:
    code = incident_code(SECRET, "7b0f6f1e-3d1c-4a55-9d7e-0c6f0a1b2c3d")
    assert code == incident_code(SECRET, "7b0f6f1e-3d1c-4a55-9d7e-0c6f0a1b2c3d")
    assert len(code) == 4 and code.isdigit() and code[0] != "0"


def test_incident_codes_depend_on_the_secret_and_the_incident() -> None:
    ids = [f"incident-{i}" for i in range(200)]
    ours = [incident_code(SECRET, i) for i in ids]
    theirs = [incident_code(b"t" * 32, i) for i in ids]
    assert len(set(ours)) > 150  # spread over 9000 values
    assert sum(a == b for a, b in zip(ours, theirs, strict=True)) < 10
    assert all(1000 <= int(c) <= 9999 for c in ours)


def test_a_taken_code_is_never_given_again() -> None:
    first = incident_code(SECRET, "inc-1")
    other = incident_code(SECRET, "inc-1", taken={first})
    assert other != first and len(other) == 4
    taken = {str(c) for c in range(1000, 10000)} - {"5555"}
    assert incident_code(SECRET, "inc-1", taken=taken) == "5555"
    with pytest.raises(ValueError):
        incident_code(SECRET, "inc-1", taken=taken | {"5555"})


@pytest.mark.parametrize("digits", [4, 5, 6])
def test_code_length(digits: int) -> None:
    code = incident_code(SECRET, "inc-1", digits=digits)
    assert len(code) == digits and code[0] != "0"
    parsed = parse_reply(f"1 {code}")
    assert parsed == ParsedReply(ACK, code)


def test_code_input_is_checked() -> None:
    with pytest.raises(ValueError):
        incident_code(SECRET, "inc-1", digits=3)
    with pytest.raises(ValueError):
        incident_code(SECRET, "inc-1", digits=7)
    with pytest.raises(ValueError):
        incident_code(b"short", "inc-1")
