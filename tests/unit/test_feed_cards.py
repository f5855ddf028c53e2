"""The pre-formatted rows of the live feed (incident cards and bed cards)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from healthguard.incidents.service import OpenIncidentRow, QueueExtras
from healthguard.ui.components.bed_card import NEWS2_RISK_COLOURS
from healthguard.ui.states.feed import bed_card, incident_card, ward_code_of_token
from healthguard.wards.service import BedRow, LatestValue, News2Value

pytestmark = pytest.mark.unit

OPENED = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))


def row(priority: str = "P1", acknowledged: bool = False, **kw: object) -> OpenIncidentRow:
    values: dict[str, object] = {
        "id": "id-1",
        "number": 7,
        "priority": priority,
        "status": "acknowledged" if acknowledged else "triggered",
        "title": "SpO2 falling",
        "summary": "SpO2 88%",
        "ward_code": "CARD",
        "bed_label": "B1",
        "patient_initials": "H.W.",
        "opened_at": OPENED,
        "acknowledged": acknowledged,
    }
    values.update(kw)
    return OpenIncidentRow(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("priority", "label", "colour"),
    [
        ("P0", "P0 Cardiac arrest", "red"),
        ("P1", "P1 Emergency", "red"),
        ("P2", "P2 Urgent", "yellow"),
        ("P3", "P3 Review", "cyan"),
        ("P4", "P4 Routine", "cyan"),
    ],
)
def test_priority_label_is_words(priority: str, label: str, colour: str) -> None:
    card = incident_card(row(priority))
    assert card.priority == priority
    assert card.priority_label == label
    assert card.colour == colour


@pytest.mark.parametrize(
    ("priority", "acknowledged", "flashing"),
    [
        ("P0", False, True),
        ("P1", False, True),
        ("P2", False, True),
        ("P3", False, False),
        ("P4", False, False),
        ("P0", True, False),
        ("P1", True, False),
        ("P2", True, False),
        ("P3", True, False),
    ],
)
def test_only_unacknowledged_high_and_medium_flash(
    priority: str, acknowledged: bool, flashing: bool
) -> None:
    assert incident_card(row(priority, acknowledged)).flashing is flashing


def test_status_words() -> None:
    assert incident_card(row(acknowledged=False)).status == "Not acknowledged"
    assert incident_card(row(acknowledged=True)).status == "Acknowledged"


def test_location_with_ward_and_bed() -> None:
    assert incident_card(row()).location == "CARD · bed B1"


def test_location_with_ward_only() -> None:
    assert incident_card(row(bed_label="")).location == "CARD"


def test_location_hospital_wide() -> None:
    assert incident_card(row(ward_code="", bed_label="")).location == "Hospital-wide"


def test_incident_card_copies_fields_and_uses_utc() -> None:
    card = incident_card(row())
    assert (card.id, card.number, card.title, card.summary, card.patient) == (
        "id-1",
        7,
        "SpO2 falling",
        "SpO2 88%",
        "H.W.",
    )
    assert card.opened_at == "2025-01-02T01:04:05+00:00"


def vitals_text(card: object) -> str:
    """The vitals as one line (the card may carry them as one string or as chips)."""
    vitals = card.vitals  # type: ignore[attr-defined]
    return vitals if isinstance(vitals, str) else " · ".join(vitals)


def latest(value: float | None, at: datetime, text: str | None = None) -> LatestValue:
    return LatestValue(value=value, value_text=text, unit="", observed_at=at)


def test_bed_card_vitals_string_in_fixed_order() -> None:
    t0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    bed = BedRow(
        ward_code="ICU",
        bed_label="B2",
        patient_id="p-1",
        patient_initials="A.L.",
        spo2_scale=1,
        latest={
            "temperature_c": latest(37.25, t0),
            "systolic_bp": latest(118.4, t0),
            "spo2": latest(96.0, t0),
            "heart_rate": latest(88.6, t0 + timedelta(minutes=5)),
            "resp_rate": latest(18.0, t0),
            "consciousness": latest(None, t0, "A"),
        },
    )
    card = bed_card(bed)
    assert vitals_text(card) == "HR 89 · SpO2 96% · RR 18 · SBP 118 · T 37.2°C · ACVPU A"
    assert card.occupied is True
    assert card.scale2 is False
    assert (card.ward, card.bed, card.patient) == ("ICU", "B2", "A.L.")
    assert card.last_vitals_at == "2025-01-01T12:05:00+00:00"


def test_bed_card_skips_missing_values() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    bed = BedRow(
        ward_code="MED",
        bed_label="B3",
        patient_id="p",
        patient_initials="X.",
        spo2_scale=2,
        latest={"spo2": latest(91.0, t0), "heart_rate": latest(None, t0)},
    )
    card = bed_card(bed)
    assert vitals_text(card) == "SpO2 91%"
    assert card.scale2 is True


def test_empty_bed_card() -> None:
    bed = BedRow(
        ward_code="CARD", bed_label="B8", patient_id=None, patient_initials="", spo2_scale=None
    )
    card = bed_card(bed)
    assert card.occupied is False
    assert card.scale2 is False
    assert vitals_text(card) == ""
    assert card.last_vitals_at == ""


@pytest.mark.parametrize(
    ("token", "code"), [("ward-all", None), ("ward-card", "CARD"), ("ward-icu", "ICU")]
)
def test_ward_code_of_token(token: str, code: str | None) -> None:
    assert ward_code_of_token(token) == code


# --- who has it and where its escalation stands ------------------------------------------

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2025, 7, 1, 13, 0, tzinfo=UTC)


def extras(**kw: object) -> QueueExtras:
    values: dict[str, object] = {
        "assignee": "Nia Okafor",
        "acknowledged_by": "",
        "escalation_step": 1,
        "escalation_steps": 3,
        "has_escalation": True,
        "escalating": True,
        "next_step_at": NOW + timedelta(seconds=40),
    }
    values.update(kw)
    return QueueExtras(**values)  # type: ignore[arg-type]


def test_card_without_extras_says_nothing_about_assignment_or_escalation() -> None:
    card = incident_card(row())
    assert (card.assignee, card.acknowledged_by, card.escalation, card.next_step_at) == (
        "",
        "",
        "",
        "",
    )


def test_escalating_card_shows_assignee_step_and_next_step_in_hospital_time() -> None:
    card = incident_card(row(), extras(), now=NOW, zone=LONDON)
    assert card.assignee == "Nia Okafor"
    assert card.escalation == "Step 2 of 3; escalating"
    assert card.next_step_at == "2025-07-01T13:00:40+00:00"
    assert card.next_step_local == "14:00:40"  # British Summer Time
    assert card.status == "Not acknowledged" and card.acknowledged_by == ""


def test_acknowledged_card_names_who_and_has_no_next_step() -> None:
    card = incident_card(
        row(acknowledged=True),
        extras(acknowledged_by="Nia Okafor", escalating=False, next_step_at=None),
        now=NOW,
        zone=LONDON,
    )
    assert card.status == "Acknowledged"
    assert card.acknowledged_by == "Nia Okafor"
    assert card.escalation == "Step 2 of 3; stopped: acknowledged"
    assert card.next_step_at == "" and card.next_step_local == ""


def test_unacknowledged_card_never_names_an_acknowledger() -> None:
    card = incident_card(row(), extras(acknowledged_by="Old Name"), now=NOW, zone=LONDON)
    assert card.acknowledged_by == ""


def test_card_without_an_escalation_run_or_policy_has_no_step() -> None:
    card = incident_card(
        row(),
        extras(
            assignee="",
            escalation_steps=None,
            has_escalation=False,
            escalating=False,
            next_step_at=None,
        ),
        now=NOW,
        zone=LONDON,
    )
    assert card.assignee == "" and card.escalation == ""


# --- NEWS2 on the bed card --------------------------------------------------------------------


def scored(*scores: tuple[int, bool, str]) -> BedRow:
    t0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    return BedRow(
        ward_code="MED",
        bed_label="B4",
        patient_id="p-4",
        patient_initials="R.S.",
        spo2_scale=1,
        news2=tuple(
            News2Value(total, partial, risk, t0 - timedelta(minutes=5 * n))
            for n, (total, partial, risk) in enumerate(scores)
        ),
    )


def test_bed_card_news2_total_risk_in_words_and_partial() -> None:
    card = bed_card(scored((8, True, "high"), (3, False, "low")))
    assert card.has_news2 is True
    assert card.news2 == "NEWS2 8 · high risk"
    assert card.news2_risk == "high"
    assert card.news2_partial is True


@pytest.mark.parametrize(
    ("latest", "before", "arrow", "words"),
    [
        (8, 3, "↑ from 3", "NEWS2 up from 3"),
        (2, 5, "↓ from 5", "NEWS2 down from 5"),
        (4, 4, "→ steady", "NEWS2 steady at 4"),
    ],
)
def test_bed_card_news2_trend_against_the_score_before(
    latest: int, before: int, arrow: str, words: str
) -> None:
    card = bed_card(scored((latest, False, "medium"), (before, False, "low")))
    assert card.news2_trend == arrow
    assert card.news2_trend_words == words


def test_bed_card_with_one_score_has_no_arrow() -> None:
    card = bed_card(scored((5, False, "medium")))
    assert card.news2 == "NEWS2 5 · medium risk"
    assert card.news2_partial is False
    assert card.news2_trend == "" and card.news2_trend_words == ""


def test_bed_card_without_a_current_score() -> None:
    card = bed_card(scored())
    assert card.has_news2 is False
    assert (card.news2, card.news2_risk, card.news2_trend) == ("", "", "")


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_news2_risk_bands_cover_every_risk_with_aa_contrast() -> None:
    assert set(NEWS2_RISK_COLOURS) == {"low", "low-medium", "medium", "high"}
    for risk, colours in NEWS2_RISK_COLOURS.items():
        assert contrast(colours["text"], colours["bg"]) >= 4.5, risk
    backgrounds = {c["bg"] for c in NEWS2_RISK_COLOURS.values()}
    assert len(backgrounds) == 4  # each band its own colour (and its words)
