"""The patient page's services on the real Postgres and Redis: reading a patient (scope, the
same audit rows as the API, break-the-glass flagged), the SpO2 scale and alarm pauses as a
signed-in person (permission, ward scope, audit row, change event), and the bed board's
pause indicator."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
from authsupport import audit_rows_after, last_audit_id, patient_in_ward
from sqlmodel import select

from healthguard.alarms.pauses import active_pauses
from healthguard.clinical.vitals import Reading
from healthguard.db import session_scope
from healthguard.ingest.store import store_readings
from healthguard.models import Patient, User
from healthguard.patients.actions import (
    ALARM_PAUSE_CHANGED,
    ActionRefused,
    end_pause_as,
    pause_alarms_as,
    set_spo2_scale_as,
)
from healthguard.patients.detail import WINDOWS, load_patient_page
from healthguard.realtime.events import ChangeEvent
from healthguard.security.accounts import principal_of
from healthguard.security.permissions import Principal
from healthguard.security.scope import grant_break_glass
from healthguard.settings import get_settings
from healthguard.ui.states.feed import load_feed_rows

pytestmark = pytest.mark.integration

REASON = "Confirmed type 2 respiratory failure (ABG); target 88-92 %"


def who(username: str) -> Principal:
    with session_scope() as session:
        user = session.exec(select(User).where(User.username == username)).one()
        return principal_of(user)


def read_page(username: str, pid: str, *, audit: bool = True):  # type: ignore[no-untyped-def]
    with session_scope() as session:
        return load_patient_page(
            session,
            who(username),
            uuid.UUID(pid),
            window=WINDOWS["2h"],
            now=datetime.now(UTC),
            audit=audit,
            ip="10.0.0.7",
        )


def test_reading_the_page_is_audited_like_the_api(seeded: dict[str, int]) -> None:
    pid = patient_in_ward("CARD")
    now = datetime.now(UTC)
    # Three readings 20-22 s into the previous minute: one chart bucket, whatever the
    # clock (readings 3-5 s ago were split when a minute began between them).
    minute = now.replace(second=0, microsecond=0) - timedelta(minutes=1)
    with session_scope() as session:
        store_readings(
            session,
            [
                Reading(
                    uuid.UUID(pid),
                    "spo2",
                    v,
                    None,
                    "%",
                    "it-monitor",
                    minute + timedelta(seconds=s),
                )
                for v, s in ((91.0, 20), (85.0, 21), (93.0, 22))
            ],
            now,
        )
    since = last_audit_id()
    page = read_page("nurse.card", pid)
    assert page is not None and page.access == "scope" and page.mrn.startswith("HG")
    rows = [r for r in audit_rows_after(since) if r.record_id == pid]
    assert [(r.action, r.actor, r.details) for r in rows] == [
        ("patient.read", "nurse.card", {"access": "scope"}),
        ("vitals.read", "nurse.card", {"access": "scope"}),
    ]
    # The dip between normal readings survives the downsampling.
    last = page.trends["spo2"][-1]
    assert last.low == 85.0 and last.high >= 93.0

    since = last_audit_id()
    assert read_page("nurse.card", pid, audit=False) is not None  # the live refresh
    assert [r for r in audit_rows_after(since) if r.record_id == pid] == []


def test_a_patient_outside_the_scope_is_not_read_and_not_audited(seeded: dict[str, int]) -> None:
    pid = patient_in_ward("CARD")
    since = last_audit_id()
    assert read_page("nurse.icu", pid) is None
    assert read_page("auditor", pid) is None
    assert [r for r in audit_rows_after(since) if r.record_id == pid] == []


def test_break_the_glass_reads_are_flagged(seeded: dict[str, int]) -> None:
    pid = patient_in_ward("CARD")
    nurse = who("nurse.icu")
    with session_scope() as session:
        grant_break_glass(
            session,
            nurse,
            uuid.UUID(pid),
            "Covering the cardiology ward during an emergency",
            duration_seconds=600,
            now=datetime.now(UTC),
        )
    since = last_audit_id()
    page = read_page("nurse.icu", pid)
    assert page is not None and page.access == "break_glass"
    actions = [(r.action, r.outcome) for r in audit_rows_after(since) if r.record_id == pid]
    assert ("break_glass.used", "flagged") in actions and ("patient.read", "success") in actions
    with pytest.raises(ActionRefused) as refused:  # the glass opens reads only
        pause_alarms_as(nurse, uuid.UUID(pid), minutes=10, reason="Bathing", now=datetime.now(UTC))
    assert refused.value.field == "patient"


def test_scale_2_needs_a_clinical_decision_maker_and_is_audited(seeded: dict[str, int]) -> None:
    pid = uuid.UUID(patient_in_ward("CARD"))
    since = last_audit_id()
    with pytest.raises(ActionRefused) as nurse:
        set_spo2_scale_as(who("nurse.card"), pid, scale=2, reason=REASON, now=datetime.now(UTC))
    assert nurse.value.field == "permission"
    with pytest.raises(ActionRefused) as no_reason:
        set_spo2_scale_as(who("dr.attending"), pid, scale=2, reason=" ", now=datetime.now(UTC))
    assert no_reason.value.field == "reason"
    assert [r for r in audit_rows_after(since) if r.record_id == str(pid)] == []

    change = set_spo2_scale_as(
        who("dr.attending"), pid, scale=2, reason=REASON, now=datetime.now(UTC), ip="10.0.0.8"
    )
    assert change.changed and change.previous == 1
    with session_scope() as session:
        assert session.get(Patient, pid).spo2_scale == 2  # type: ignore[union-attr]
    [row] = [r for r in audit_rows_after(since) if r.record_id == str(pid)]
    assert (row.action, row.actor) == ("patient.spo2_scale_set", "dr.attending")
    assert row.details == {"from": 1, "to": 2, "reason": REASON}
    again = set_spo2_scale_as(who("dr.attending"), pid, scale=1, reason=None, now=datetime.now(UTC))
    assert again.changed and again.previous == 2


def wait_for_event(pubsub: redis.client.PubSub, kind: str) -> ChangeEvent:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=1)
        if message and message["type"] == "message":
            event = ChangeEvent.from_json(message["data"])
            if event.kind == kind:
                return event
    raise AssertionError(f"no {kind} event published")


def test_a_pause_needs_permission_scope_a_reason_and_a_bound(seeded: dict[str, int]) -> None:
    pid = uuid.UUID(patient_in_ward("CARD"))
    now = datetime.now(UTC)
    cases = [
        ("auditor", 20, "Bathing", "permission"),
        ("nurse.icu", 20, "Bathing", "patient"),
        ("nurse.card", 20, "  ", "reason"),
        ("nurse.card", 61, "Bathing", "minutes"),
        ("nurse.card", 0, "Bathing", "minutes"),
    ]
    since = last_audit_id()
    for username, minutes, reason, field in cases:
        with pytest.raises(ActionRefused) as refused:
            pause_alarms_as(who(username), pid, minutes=minutes, reason=reason, now=now)
        assert refused.value.field == field, (username, minutes, reason)
    assert [r for r in audit_rows_after(since) if r.record_id == str(pid)] == []
    with session_scope() as session:
        assert active_pauses(session, [pid], now=now) == {}


def test_a_pause_is_audited_published_and_shown_on_the_bed_board(
    seeded: dict[str, int],
) -> None:
    pid = uuid.UUID(patient_in_ward("CARD"))
    settings = get_settings()
    pubsub = redis.Redis.from_url(settings.effective_redis_url()).pubsub()
    pubsub.subscribe(settings.realtime_channel)
    since = last_audit_id()
    now = datetime.now(UTC)

    done = pause_alarms_as(
        who("nurse.card"), pid, minutes=20, reason="Bathing", now=now, ip="10.0.0.9"
    )
    assert done.ends_at == now + timedelta(minutes=20) and done.reason == "Bathing"
    [row] = [r for r in audit_rows_after(since) if r.record_id == str(pid)]
    assert (row.action, row.actor) == ("patient.updated", "nurse.card")
    assert row.details == {"alarm_pause": "started", "minutes": 20, "reason": "Bathing"}
    event = wait_for_event(pubsub, ALARM_PAUSE_CHANGED)
    assert (event.entity_id, event.ward_code) == (str(pid), "CARD")

    _, beds = load_feed_rows("CARD")
    [bed] = [b for b in beds if b.patient_href == f"/patients/{pid}"]
    assert bed.paused and bed.paused_until
    page = read_page("nurse.card", str(pid), audit=False)
    assert page is not None and page.pause is not None and page.pause.reason == "Bathing"

    assert end_pause_as(who("nurse.card"), pid, now=datetime.now(UTC)) is True
    wait_for_event(pubsub, ALARM_PAUSE_CHANGED)
    assert end_pause_as(who("nurse.card"), pid, now=datetime.now(UTC)) is False
    _, beds = load_feed_rows("CARD")
    [bed] = [b for b in beds if b.patient_href == f"/patients/{pid}"]
    assert not bed.paused
    ended = [r.details for r in audit_rows_after(since) if r.record_id == str(pid)]
    assert {"alarm_pause": "ended early"} in ended
    pubsub.close()
