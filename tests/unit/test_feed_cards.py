"""The pre-formatted rows of the live feed (incident cards and bed cards)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from healthguard.incidents.service import OpenIncidentRow
from healthguard.ui.states.feed import bed_card, incident_card, ward_code_of_token
from healthguard.wards.service import BedRow, LatestValue

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
