"""The incident page in words: trigger text, timeline rows, times in hospital local time,
refusals, escalation and the vital-signs chart (pure; no browser, no database)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from healthguard.incidents import lifecycle as lc
from healthguard.security.permissions import ROLE_PERMISSIONS
from healthguard.ui.incident_view import (
    StatusFacts,
    chart_traces,
    escalation_words,
    local_time,
    status_words,
    timeline_rows,
    times_in_words,
    trigger_data,
    value_at,
    vitals_figure,
)
from healthguard.ui.states.incident_detail import (
    IncidentDetailState,
    incident_id_from_path,
    priority_options,
    refusal_words,
    responder_options,
)

pytestmark = pytest.mark.unit

BERLIN = ZoneInfo("Europe/Berlin")  # UTC+1 in November: shows the conversion happens
NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
TRIGGER_AT = NOW - timedelta(minutes=10)

NEWS2_DETAILS = {
    "rule": "news2_emergency",
    "rule_name": "NEWS2 7 or more (emergency response)",
    "min_total": 7,
    "news2": {
        "total": 11,
        "subscores": {
            "resp_rate": 3,
            "spo2": 3,
            "on_oxygen": 0,
            "systolic_bp": 2,
            "heart_rate": 2,
            "consciousness": 0,
            "temperature_c": None,
        },
        "red_flag": True,
        "risk": "high",
        "partial": True,
        "missing": ["temperature_c"],
        "observed_at": TRIGGER_AT.isoformat(),
    },
    "also_triggered": [
        {"rule": "news2_red_score", "priority": "P2", "summary": "Red score (RR, SpO2)"}
    ],
}


def readings() -> list[tuple[str, datetime, float | None, str | None]]:
    return [
        ("resp_rate", TRIGGER_AT - timedelta(minutes=30), 18.0, None),
        ("resp_rate", TRIGGER_AT, 26.0, None),
        ("resp_rate", TRIGGER_AT + timedelta(minutes=5), 30.0, None),  # after the trigger
        ("spo2", TRIGGER_AT - timedelta(minutes=1), 90.0, None),
        ("on_oxygen", TRIGGER_AT - timedelta(minutes=1), 0.0, None),
        ("systolic_bp", TRIGGER_AT - timedelta(minutes=2), 95.0, None),
        ("heart_rate", TRIGGER_AT, 121.0, None),
        ("consciousness", TRIGGER_AT, None, "A"),
    ]


# --- times ---------------------------------------------------------------------------------


def test_local_time_is_the_hospital_clock_with_the_date_only_on_other_days() -> None:
    assert local_time(datetime(2026, 11, 26, 13, 5, 9, tzinfo=UTC), BERLIN, NOW) == "14:05:09"
    assert local_time(datetime(2026, 11, 25, 13, 5, tzinfo=UTC), BERLIN, NOW) == "25 Nov 14:05"


def test_times_in_a_service_message_are_shown_in_local_time() -> None:
    message = "Incident #12 is already acknowledged by nurse.card at 2026-11-26T13:21:07+00:00."
    assert times_in_words(message, BERLIN, NOW) == (
        "Incident #12 is already acknowledged by nurse.card at 14:21:07."
    )
    assert times_in_words("no time here", BERLIN, NOW) == "no time here"


def test_a_conflict_names_who_and_when_and_the_form_field() -> None:
    refusal = lc.Refusal(
        code=lc.RefusalCode.ILLEGAL_TRANSITION,
        message="Incident #3 is already acknowledged by nurse.card at 2026-11-26T13:00:00+00:00.",
        field=None,
        current_status=lc.IncidentState.ACKNOWLEDGED,
        allowed_actions=(),
    )
    assert refusal_words(refusal, BERLIN, NOW) == (
        "Incident #3 is already acknowledged by nurse.card at 14:00:00."
    )
    missing = lc.Refusal(
        code=lc.RefusalCode.MISSING_REASON,
        message="text: must not be empty.",
        field="text",
        current_status=lc.IncidentState.TRIGGERED,
        allowed_actions=(),
    )
    assert refusal_words(missing, BERLIN, NOW) == "Reason text: must not be empty."
    assert refusal_words(missing, BERLIN, NOW, note=True) == "Note: must not be empty."


def test_a_stale_version_says_nothing_changed_and_names_no_version_numbers() -> None:
    view = lc.IncidentView(
        status="acknowledged",
        priority="P2",
        version=4,
        number=12,
        acknowledged_by="nurse.card",
        acknowledged_at=datetime(2026, 11, 26, 13, 0, tzinfo=UTC),
    )
    request = lc.ActionRequest(
        lc.ChangePriority(priority="P1"), "charge.card", ROLE_PERMISSIONS["charge_nurse"], 3
    )
    refusal = lc.plan(view, request, now=NOW)
    assert isinstance(refusal, lc.Refusal) and refusal.code is lc.RefusalCode.CONFLICT
    assert refusal_words(refusal, BERLIN, NOW, action=lc.Action.CHANGE_PRIORITY) == (
        "Incident #12 was changed by someone else since this page showed it: it is "
        "acknowledged by nurse.card at 14:00:00. Nothing was changed. The page now shows it "
        "as it is: check, then try again."
    )


def test_each_new_form_names_its_own_field() -> None:
    def missing(field: str) -> lc.Refusal:
        return lc.Refusal(
            lc.RefusalCode.MISSING_REASON,
            f"{field}: must not be empty.",
            field,
            lc.IncidentState.TRIGGERED,
            (),
        )

    words = refusal_words(missing("note"), BERLIN, NOW, action=lc.Action.CHANGE_PRIORITY)
    assert words == "Note (required to lower the priority): must not be empty."
    assert refusal_words(missing("note"), BERLIN, NOW, action=lc.Action.CLOSE) == (
        "Review note: must not be empty."
    )
    assert refusal_words(missing("note"), BERLIN, NOW) == "Note: must not be empty."
    assert refusal_words(missing("person"), BERLIN, NOW, action=lc.Action.SET_LEAD) == (
        "Lead: must not be empty."
    )
    assert refusal_words(missing("person"), BERLIN, NOW, action=lc.Action.REMOVE_RESPONDER) == (
        "Responder: must not be empty."
    )


def test_priority_choices_are_what_the_lifecycle_lets_each_role_do() -> None:
    view = lc.IncidentView(status="triggered", priority="P2")
    nurse = priority_options(view, ROLE_PERMISSIONS["nurse"])
    charge = priority_options(view, ROLE_PERMISSIONS["charge_nurse"])
    assert [(o.value, o.label) for o in nurse] == [
        ("P0", "P0 Cardiac arrest (raise)"),
        ("P1", "P1 Emergency (raise)"),
    ]
    assert [o.value for o in charge] == ["P0", "P1", "P3", "P4"]
    assert charge[-1].label == "P4 Routine (lower: a note is required)"
    assert priority_options(lc.IncidentView(status="triggered", priority="P0"), set()) == []


def test_responder_choices_name_the_role_and_the_lead() -> None:
    options = responder_options(
        [("nurse.card", "primary_nurse"), ("dr.attending", "physician")], "dr.attending"
    )
    assert [(o.value, o.label) for o in options] == [
        ("nurse.card", "nurse.card (Primary nurse)"),
        ("dr.attending", "dr.attending (Physician, the lead)"),
    ]


def test_status_in_words_with_who_and_when() -> None:
    at = datetime(2026, 11, 26, 13, 1, 2, tzinfo=UTC)
    assert status_words(StatusFacts("triggered"), BERLIN, NOW) == "Not acknowledged"
    assert (
        status_words(
            StatusFacts("acknowledged", acknowledged_at=at, acknowledged_by="nurse.card"),
            BERLIN,
            NOW,
        )
        == "Acknowledged by nurse.card at 14:01:02"
    )
    assert (
        status_words(
            StatusFacts(
                "resolved",
                resolved_at=at,
                resolved_by="dr.attending",
                resolution_reason="false_alarm",
            ),
            BERLIN,
            NOW,
        )
        == "Resolved (False alarm) by dr.attending at 14:01:02"
    )


# --- the trigger ---------------------------------------------------------------------------


def test_value_at_takes_the_latest_reading_at_or_before_the_trigger() -> None:
    assert value_at(readings(), "resp_rate", TRIGGER_AT) == "26"
    assert value_at(readings(), "consciousness", TRIGGER_AT) == "A"
    assert value_at(readings(), "on_oxygen", TRIGGER_AT) == "air"
    assert value_at(readings(), "temperature_c", TRIGGER_AT) == ""


def test_trigger_shows_the_values_and_news2_subscores_that_opened_it() -> None:
    data = trigger_data(
        "NEWS2 11 (partial): RR 26, SpO2 90, SBP 95, HR 121",
        NEWS2_DETAILS,
        TRIGGER_AT,
        readings(),
        BERLIN,
        NOW,
    )
    assert data.found
    assert data.summary.startswith("NEWS2 11")
    assert data.rule == "NEWS2 7 or more (emergency response)"
    assert data.observed_at == "14:50:00"
    assert data.news2 == ("NEWS2 11, high risk (red score) (partial: some parameters not measured)")
    rows = {r.label: r for r in data.rows}
    assert list(rows) == ["RR", "SpO2", "O2", "SBP", "HR", "ACVPU", "Temp"]
    assert (rows["RR"].value, rows["RR"].score, rows["RR"].red) == ("26", "3", True)
    assert (rows["HR"].value, rows["HR"].score, rows["HR"].scoring) == ("121", "2", True)
    assert (rows["ACVPU"].value, rows["ACVPU"].score, rows["ACVPU"].scoring) == ("A", "0", False)
    assert (rows["Temp"].value, rows["Temp"].score) == ("not measured", "not measured")
    assert data.also == ["P2 Red score (RR, SpO2)"]


def test_a_threshold_trigger_states_its_values() -> None:
    details = {
        "rule_name": "Systolic BP below 90",
        "parameter": "systolic_bp",
        "latest": 84.0,
        "worst": 80.0,
        "limit": 90.0,
    }
    data = trigger_data("SBP 84 mmHg (below 90)", details, TRIGGER_AT, [], BERLIN, NOW)
    assert data.detail == "SBP: now 84 mmHg, worst 80 mmHg, limit 90 mmHg"
    assert data.rows == []


# --- the timeline --------------------------------------------------------------------------


@dataclass
class Entry:
    at: datetime
    kind: str
    actor: str
    message: str
    note: str | None = None


def test_timeline_rows_in_local_time_with_actor_what_and_note() -> None:
    entries = [
        Entry(TRIGGER_AT, "opened", "triage", "Opened: NEWS2 11"),
        Entry(
            TRIGGER_AT + timedelta(minutes=2),
            "reassigned",
            "charge.card",
            "Reassigned by charge.card from nurse.card to nurse.med",
            note="Handover",
        ),
        Entry(TRIGGER_AT + timedelta(minutes=3), "responder_joined", "x", ""),
    ]
    rows = timeline_rows(entries, BERLIN, NOW)
    assert [(r.at, r.actor, r.kind) for r in rows] == [
        ("14:50:00", "triage", "opened"),
        ("14:52:00", "charge.card", "reassigned"),
        ("14:53:00", "x", "responder_joined"),
    ]
    assert rows[1].what == "Reassigned by charge.card from nurse.card to nurse.med"
    assert rows[1].note == "Handover"
    assert rows[2].what == "responder joined"  # an entry without a message still says what


# --- escalation and chart ------------------------------------------------------------------


def test_escalation_in_words() -> None:
    assert escalation_words(0, 3, True, "triggered") == "Step 1 of 3; escalating"
    assert escalation_words(1, 3, False, "acknowledged") == "Step 2 of 3; stopped: acknowledged"
    assert (
        escalation_words(0, None, False, "resolved") == "Step 1; stopped: the incident is resolved"
    )


def test_vitals_chart_has_one_trace_per_parameter_from_two_hours_before() -> None:
    opened = TRIGGER_AT
    old = ("heart_rate", opened - timedelta(hours=3), 70.0, None)  # before the window
    figure = vitals_figure([*readings(), old], opened, NOW, BERLIN)
    assert chart_traces(figure) == ["HR (/min)", "SpO2 (%)", "RR (/min)", "SBP (mmHg)"]
    heart = figure.data[0]
    assert list(heart.y) == [121.0]  # the 3 h old reading is outside the chart
    # Two hours before the incident (13:50 UTC) to now (14:00 UTC), in Berlin time.
    assert list(figure.layout.xaxis.range) == [
        datetime(2026, 11, 26, 12, 50),
        datetime(2026, 11, 26, 15, 0),
    ]
    assert figure.layout.annotations[0].text == "Incident opened"


# --- the state ------------------------------------------------------------------------------


def test_incident_id_from_the_path() -> None:
    some = uuid.uuid4()
    assert incident_id_from_path(f"/incidents/{some}") == some
    assert incident_id_from_path(f"/incidents/{some}/") == some
    assert incident_id_from_path("/incidents/not-an-id") is None


def test_no_event_of_the_page_takes_an_incident_id_from_the_browser() -> None:
    """Reflex makes every public method an event a browser can send: the page's events act
    on the incident this browser opened (checked on load), never on one it names."""
    assert set(IncidentDetailState.event_handlers) <= {
        "on_load",
        "refresh",
        "acknowledge",
        "start",
        "escalate",
        "reassign",
        "add_note",
        "add_responder",
        "resolve",
        "change_priority",
        "set_lead",
        "remove_responder",
        "close",
        "reopen",
        "setvar",
    }, set(IncidentDetailState.event_handlers)
