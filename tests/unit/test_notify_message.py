"""Notification content (healthguard.notify.message): the four texts, the 160-character SMS
with its reply codes (hypothesis over long wards and triggers), the secondary-alarm sentence
everywhere, and no name or MRN in any output."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthguard.models.notifications import Channel
from healthguard.notify.message import (
    SECONDARY_ALARM,
    SHORT_TEXT_LIMIT,
    AnswerLinks,
    IncidentFacts,
    MessageContent,
    compose,
    mask_identifiers,
    to_initials,
)
from healthguard.notify.sms_reply import OpenNotification, ReplyAction, ReplyMatch, resolve_reply

pytestmark = pytest.mark.unit

NOW = datetime(2026, 2, 3, 3, 16, tzinfo=UTC)
LINKS = AnswerLinks(
    "https://hg.example/a/ACKTOKEN",
    "https://hg.example/a/ESCTOKEN",
    "https://hg.example/a/DECTOKEN",
)


def facts(**overrides: object) -> IncidentFacts:
    values: dict[str, object] = {
        "priority": "P1",
        "ward": "Ward 7B",
        "bed": "12",
        "patient_initials": "J.D.",
        "patient_age": 72,
        "trigger": "NEWS2 8: RR 26, SpO2 90",
        "code": "4821",
        "opened_at": NOW - timedelta(minutes=4),
        "number": 123,
    } | overrides
    return IncidentFacts(**values)  # type: ignore[arg-type]


def outputs(content: MessageContent) -> list[str]:
    return [content.title, content.body, content.short_text, content.spoken_text]


def test_the_four_texts() -> None:
    content = compose(facts(links=LINKS), NOW)
    assert content.title == "P1 Emergency: Ward 7B, bed 12"
    assert content.body == "\n".join(
        [
            "P1 Emergency #123: Ward 7B, bed 12",
            "Patient: J.D., 72y",
            "Trigger: NEWS2 8: RR 26, SpO2 90",
            "Open: 4 min",
            "Code: 4821",
            "Secondary alarm: check the bedside monitor.",
            "Acknowledge: https://hg.example/a/ACKTOKEN",
            "Escalate: https://hg.example/a/ESCTOKEN",
            "Decline: https://hg.example/a/DECTOKEN",
        ]
    )
    assert content.short_text == (
        "P1 Ward 7B bed 12 J.D. 72y: NEWS2 8: RR 26, SpO2 90 (4 min). "
        "Secondary alarm: check the bedside monitor. Reply 1 ACK, 2 ESC, 3 DECLINE + 4821"
    )
    assert content.spoken_text == (
        "HealthGuard. This is a secondary alarm. Check the bedside monitor. "
        "Priority 1, emergency. Ward 7B, bed 12. Patient J D. 72 years old. "
        "news score 8: respiratory rate 26, oxygen saturation 90. Open for 4 minutes. "
        "Incident code 4 8 2 1. Press 1 to acknowledge, 2 to escalate, 3 to decline."
    )


def test_links_only_in_the_body_and_only_when_given() -> None:
    with_links = compose(facts(links=LINKS), NOW)
    without = compose(facts(), NOW)
    assert "ACKTOKEN" in with_links.body and "DECTOKEN" in with_links.body
    assert "https://" not in without.body
    assert "https://" not in with_links.short_text
    assert "https://" not in with_links.spoken_text


def test_for_channel() -> None:
    content = compose(facts(), NOW)
    assert content.for_channel(Channel.SMS) == content.short_text
    assert content.for_channel(Channel.PAGER) == content.short_text
    assert content.for_channel(Channel.VOICE) == content.spoken_text
    assert content.for_channel("push") == content.body
    assert content.for_channel(Channel.EMAIL) == content.body
    assert content.for_channel(Channel.IN_APP) == content.body


@pytest.mark.parametrize("priority", ["P0", "P1", "P2", "P3", "P4"])
def test_every_output_says_secondary_alarm(priority: str) -> None:
    content = compose(facts(priority=priority), NOW)
    assert SECONDARY_ALARM in content.body
    assert SECONDARY_ALARM in content.short_text
    assert "secondary alarm" in content.spoken_text.lower()
    assert content.short_text.startswith(priority + " ")
    assert content.title.startswith(priority + " ")


def test_the_short_text_reply_line_answers_the_incident() -> None:
    content = compose(facts(code="55301"), NOW)
    assert content.short_text.endswith("Reply 1 ACK, 2 ESC, 3 DECLINE + 55301")
    open_ones = [OpenNotification("inc", "55301", "P1 7B bed 12")]
    result = resolve_reply("3 55301", open_ones)
    assert isinstance(result, ReplyMatch) and result.action is ReplyAction.DECLINE


@pytest.mark.parametrize(
    ("given_name", "initials", "absent"),
    [
        ("John Doe", "J.D.", ["John", "Doe"]),
        ("Jean-Luc Picard", "J.L.P.", ["Jean", "Luc", "Picard"]),
        ("Maria del Carmen Alvarez", "M.D.C.", ["Maria", "Carmen", "Alvarez"]),
        ("j.d.", "J.D.", []),
        ("", "", []),
    ],
)
def test_only_initials_ever_leave(given_name: str, initials: str, absent: list[str]) -> None:
    assert to_initials(given_name) == initials
    content = compose(facts(patient_initials=given_name, patient_age=None), NOW)
    for text in outputs(content):
        for word in absent:
            assert word not in text
    if initials:
        assert initials in content.short_text
    else:
        assert "Patient" not in content.body


def test_long_numbers_are_masked_everywhere() -> None:
    content = compose(
        facts(
            trigger="NEWS2 9 for MRN 12345678, call 015112345678",
            ward="Ward 4 (ext 7712345)",
            bed="9876543",
        ),
        NOW,
    )
    for text in outputs(content):
        for number in ("12345678", "015112345678", "7712345", "9876543"):
            assert number not in text
    assert "######" in content.body
    assert mask_identifiers("RR 26 SpO2 90 HR 130") == "RR 26 SpO2 90 HR 130"


def test_no_mrn_field_exists() -> None:
    with pytest.raises(TypeError):
        IncidentFacts(  # type: ignore[call-arg]
            priority="P1",
            ward="7B",
            trigger="x",
            code="4821",
            opened_at=NOW,
            mrn="12345678",
        )
    with pytest.raises(TypeError):
        facts(patient_name="John Doe")


def test_accents_and_symbols_are_plain_ascii_in_the_short_text() -> None:
    ward = "Station S\u00fcd \u2013 Intensiv"  # u-umlaut, en dash
    trigger = "NEWS2 \u22657, Temp 39.1\u00b0C"  # greater-or-equal, degree sign
    content = compose(facts(ward=ward, trigger=trigger), NOW)
    assert content.short_text.isascii()
    assert "Station Sud - Intensiv" in content.short_text
    assert "NEWS2 >=7, Temp 39.1C" in content.short_text
    assert "Station Süd" in content.body  # the body keeps the real spelling


def test_a_long_ward_and_trigger_are_shortened_but_the_essentials_stay() -> None:
    content = compose(
        facts(
            ward="Cardiothoracic Surgery High Dependency Unit North Wing Level 5",
            trigger="NEWS2 11: RR 32, SpO2 84 on O2, SBP 88, HR 141, Temp 39.6, new confusion " * 3,
        ),
        NOW,
    )
    assert len(content.short_text) <= SHORT_TEXT_LIMIT
    assert content.short_text.startswith("P1 Cardiothoracic Surger... bed 12 J.D. 72y: ")
    assert "NEWS2 11: RR 32, SpO2..." in content.short_text
    assert "..." in content.short_text
    assert "(4 min)." in content.short_text
    assert SECONDARY_ALARM in content.short_text
    assert content.short_text.endswith("Reply 1 ACK, 2 ESC, 3 DECLINE + 4821")


@pytest.mark.parametrize(
    ("minutes", "short", "spoken"),
    [
        (0, "just now", "Opened just now."),
        (1, "1 min", "Open for 1 minute."),
        (59, "59 min", "Open for 59 minutes."),
        (60, "1 h", "Open for 1 hour."),
        (135, "2 h 15 min", "Open for 2 hours 15 minutes."),
    ],
)
def test_incident_age(minutes: int, short: str, spoken: str) -> None:
    content = compose(facts(opened_at=NOW - timedelta(minutes=minutes, seconds=30)), NOW)
    assert f"Open: {short}" in content.body
    assert f"({short})." in content.short_text
    assert spoken in content.spoken_text


def test_optional_facts_may_be_missing() -> None:
    content = compose(facts(bed=None, patient_initials=None, patient_age=None, number=None), NOW)
    assert content.title == "P1 Emergency: Ward 7B"
    assert "Patient" not in content.body
    assert content.short_text.startswith("P1 Ward 7B: NEWS2 8")
    assert "#" not in content.body


def test_bed_prefix_is_not_doubled() -> None:
    assert compose(facts(bed="Bed 3"), NOW).title == "P1 Emergency: Ward 7B, Bed 3"


@pytest.mark.parametrize(
    "overrides",
    [
        {"code": "482"},
        {"code": "4821234"},
        {"code": "48a1"},
        {"priority": "P7"},
        {"opened_at": datetime(2026, 2, 3, 3, 0)},
        {"patient_age": 131},
    ],
)
def test_invalid_facts_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        facts(**overrides)


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError):
        compose(facts(), datetime(2026, 2, 3, 3, 16))


@settings(max_examples=300, deadline=None)
@given(
    priority=st.sampled_from(["P0", "P1", "P2", "P3", "P4"]),
    ward=st.text(max_size=300),
    bed=st.none() | st.text(max_size=80),
    initials=st.none() | st.text(max_size=60),
    age=st.none() | st.integers(0, 130),
    trigger=st.text(max_size=600),
    code=st.integers(1000, 999999).map(str),
    minutes=st.integers(0, 60 * 24 * 3),
)
def test_short_text_always_fits_and_always_carries_the_essentials(
    priority: str,
    ward: str,
    bed: str | None,
    initials: str | None,
    age: int | None,
    trigger: str,
    code: str,
    minutes: int,
) -> None:
    content = compose(
        facts(
            priority=priority,
            ward=ward,
            bed=bed,
            patient_initials=initials,
            patient_age=age,
            trigger=trigger,
            code=code,
            opened_at=NOW - timedelta(minutes=minutes),
        ),
        NOW,
    )
    assert len(content.short_text) <= SHORT_TEXT_LIMIT
    assert content.short_text.isascii()
    assert "\n" not in content.short_text
    assert content.short_text.startswith(priority)
    assert content.short_text.endswith(f"Reply 1 ACK, 2 ESC, 3 DECLINE + {code}")
    for text in outputs(content):
        assert "secondary alarm" in text.lower() or text is content.title
        # No MRN-like number survives anywhere (the code itself is ours, 4-6 digits).
        assert re.search(r"\d{6,}", text.replace(code, " ")) is None
    assert "\n" not in content.title


@settings(max_examples=200, deadline=None)
@given(
    mrn=st.integers(10**5, 10**12).map(str),
    before=st.text(max_size=40),
    after=st.text(max_size=40),
    field=st.sampled_from(["trigger", "ward", "bed"]),
)
def test_an_mrn_pasted_into_free_text_never_leaves(
    mrn: str, before: str, after: str, field: str
) -> None:
    content = compose(facts(**{field: f"{before} MRN {mrn} {after}"}), NOW)
    for text in outputs(content):
        assert mrn not in text
