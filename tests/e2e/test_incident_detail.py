"""The incident page (/incidents/<id>) in real Chromium, on incidents opened the real way:
vital signs POSTed to the REST API -> triage worker -> a P1 with its NEWS2 evidence.

Desktop (1440x900) and phone (390x844): the trigger values and sub-scores, the chart, the
timeline, a nurse acknowledges on the page and another open page follows without a reload.
Tablet (820x1180): a charge nurse escalates and reassigns. Desktop: a physician resolves as a
false alarm (a reason text is required). A nurse of another ward gets "not found" in words
and no data. Screenshots go to test-artifacts/screenshots/incident-*.png."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from authsupport import new_integration_key
from e2e_support import DESKTOP, PHONE, TABLET, session_cookie
from playwright.sync_api import Browser, Page, expect
from sqlmodel import col, select

from healthguard.db import session_scope
from healthguard.ingest.store import resolve_patients
from healthguard.models import AuditLog, Incident
from healthguard.models.incidents import OPEN_STATUSES
from healthguard.runtime.embedded import wait_until

pytestmark = pytest.mark.e2e

LIVE_TIMEOUT_MS = 20_000
PAGE_TIMEOUT_MS = 60_000


def trigger_p1(base: str, mrn: str) -> uuid.UUID:
    """Two hours of unremarkable observations, then a deteriorating set (NEWS2 11: RR 26,
    SpO2 90, SBP 95, HR 121, T 38.6), sent through POST /api/v1/vitals; the triage worker
    opens a P1. The incident's id."""
    _, key = new_integration_key(f"e2e-monitor-{uuid.uuid4().hex[:6]}", ["ingest:vitals"])
    now = datetime.now(UTC)
    normal = {"heart_rate": 82, "spo2": 97, "resp_rate": 16, "systolic_bp": 126}
    observations = [
        {
            "patient": mrn,
            "observed_at": (now - timedelta(minutes=minutes)).isoformat(),
            "source": "e2e-incident-page",
            "values": normal,
        }
        for minutes in (100, 70, 40)
    ]
    observations.append(
        {
            "patient": mrn,
            "observed_at": (now - timedelta(seconds=30)).isoformat(),
            "source": "e2e-incident-page",
            "values": {
                "heart_rate": 121,
                "spo2": 90,
                "resp_rate": 26,
                "systolic_bp": 95,
                "temperature_c": 38.6,
                "consciousness": "A",
                "on_oxygen": False,
            },
        }
    )
    response = httpx.post(
        f"{base}/api/v1/vitals",
        json={"observations": observations},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    with session_scope() as session:
        patient_id = resolve_patients(session, [mrn])[mrn]

    found: list[uuid.UUID] = []

    def opened() -> bool:
        with session_scope() as session:
            incident = session.exec(
                select(Incident).where(
                    Incident.patient_id == patient_id,
                    col(Incident.status).in_(OPEN_STATUSES),
                    Incident.priority == "P1",
                )
            ).first()
            if incident is not None:
                found.append(incident.id)
        return bool(found)

    assert wait_until(opened, 60, interval=0.2), f"no P1 opened for {mrn}"
    return found[0]


def open_page(browser: Browser, url: str, viewport: dict[str, int], username: str) -> Page:
    context = browser.new_context(
        viewport=viewport,
        has_touch=viewport is not DESKTOP,
        is_mobile=viewport is PHONE,
    )
    base = url.split("/incidents/")[0].split("/?")[0].rstrip("/")
    context.add_cookies([session_cookie(base, username)])  # type: ignore[list-item]
    page = context.new_page()
    page.goto(url)
    return page


def no_horizontal_scroll(page: Page, name: str) -> None:
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{name}: the page is {overflow}px wider than the screen"


def vitals_reads(username: str, incident_id: uuid.UUID) -> int:
    with session_scope() as session:
        rows = session.exec(
            select(AuditLog).where(AuditLog.actor == username, AuditLog.action == "vitals.read")
        ).all()
    return sum(1 for r in rows if (r.details or {}).get("incident") == str(incident_id))


def test_p1_page_shows_trigger_chart_and_timeline_and_a_nurse_acknowledges(
    web_app: str, triage_worker, browser: Browser, screenshots: Path
) -> None:
    incident_id = trigger_p1(web_app, "HG100001")  # Cardiology, bed B1

    # From the dashboard card to the page (desktop, a physician: the whole hospital).
    desk = open_page(browser, f"{web_app}/", DESKTOP, "dr.attending")
    card = desk.locator(f'[data-testid="incident-card"][data-incident-id="{incident_id}"]')
    expect(card).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    card.get_by_test_id("incident-link").click()
    desk.wait_for_url(f"**/incidents/{incident_id}")
    summary = desk.get_by_test_id("incident-summary")
    expect(summary).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    expect(desk.get_by_test_id("incident-priority")).to_have_text("P1 Emergency")
    expect(summary).to_have_attribute("data-priority", "P1")
    expect(desk.get_by_test_id("incident-status")).to_have_text("Not acknowledged")
    expect(desk.get_by_test_id("incident-context")).to_contain_text("Ward CARD")
    expect(desk.get_by_test_id("incident-context")).to_contain_text("Bed B1")
    expect(desk.get_by_test_id("incident-context")).to_contain_text("Patient H.W.")
    # The trigger: the values and the NEWS2 sub-scores.
    expect(desk.get_by_test_id("trigger-summary")).to_contain_text("RR 26")
    expect(desk.get_by_test_id("trigger-summary")).to_contain_text("SpO2 90")
    expect(desk.get_by_test_id("trigger-news2")).to_contain_text("high risk")
    rr = desk.get_by_test_id("subscore-row").filter(has_text="RR")
    expect(rr).to_contain_text("26")
    expect(rr).to_contain_text("3 (red score)")
    expect(desk.get_by_test_id("subscore-row").filter(has_text="HR")).to_contain_text("121")
    # The chart (Plotly drew its SVG), and the timeline from the triage entry on.
    expect(desk.get_by_test_id("vitals-chart").locator(".main-svg").first).to_be_visible()
    assert desk.get_by_test_id("vitals-chart").locator(".scatterlayer .trace").count() >= 4
    expect(desk.get_by_test_id("timeline-entry").first).to_contain_text("triage")
    desk.evaluate("window.__noReloadMarker = 'still here'")
    no_horizontal_scroll(desk, "desktop")
    desk.screenshot(path=str(screenshots / "incident-desktop-p1.png"), full_page=True)

    # The nurse on her phone acknowledges from the page.
    phone = open_page(browser, f"{web_app}/incidents/{incident_id}", PHONE, "nurse.card")
    expect(phone.get_by_test_id("trigger-summary")).to_contain_text(
        "NEWS2", timeout=PAGE_TIMEOUT_MS
    )
    expect(phone.get_by_test_id("vitals-chart").locator(".main-svg").first).to_be_visible()
    no_horizontal_scroll(phone, "phone")
    phone.screenshot(path=str(screenshots / "incident-phone-p1.png"), full_page=True)
    ack = phone.get_by_test_id("action-acknowledge")
    box = ack.bounding_box()
    assert box is not None and box["height"] >= 44
    ack.tap()
    expect(phone.get_by_test_id("action-message")).to_contain_text(
        "acknowledged", timeout=LIVE_TIMEOUT_MS
    )
    expect(phone.get_by_test_id("incident-status")).to_contain_text(
        "Acknowledged by nurse.card", timeout=LIVE_TIMEOUT_MS
    )
    expect(phone.get_by_test_id("action-acknowledge")).to_have_count(0)
    expect(phone.get_by_test_id("timeline-entry").filter(has_text="nurse.card")).not_to_have_count(
        0
    )
    phone.screenshot(path=str(screenshots / "incident-phone-acknowledged.png"), full_page=True)

    # The physician's open page follows without a reload.
    expect(desk.get_by_test_id("incident-status")).to_contain_text(
        "Acknowledged by nurse.card", timeout=LIVE_TIMEOUT_MS
    )
    assert desk.evaluate("window.__noReloadMarker") == "still here"
    expect(desk.get_by_test_id("action-acknowledge")).to_have_count(0)

    # The vital signs are patient data: each page open was audited.
    assert vitals_reads("nurse.card", incident_id) >= 1
    assert vitals_reads("dr.attending", incident_id) >= 1


def test_a_charge_nurse_escalates_and_reassigns_from_a_tablet(
    web_app: str, triage_worker, browser: Browser, screenshots: Path
) -> None:
    incident_id = trigger_p1(web_app, "HG100002")  # Cardiology, bed B2
    tablet = open_page(browser, f"{web_app}/incidents/{incident_id}", TABLET, "charge.card")
    expect(tablet.get_by_test_id("incident-summary")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    no_horizontal_scroll(tablet, "tablet")

    escalation = tablet.get_by_test_id("escalation")
    expect(escalation).to_contain_text("Step ")
    step = int(escalation.inner_text().split()[1].rstrip(";"))
    tablet.get_by_test_id("action-escalate").tap()
    expect(tablet.get_by_test_id("action-message")).to_contain_text(
        "escalated", timeout=LIVE_TIMEOUT_MS
    )
    expect(escalation).to_contain_text(f"Step {step + 1} of 3", timeout=LIVE_TIMEOUT_MS)
    escalated = tablet.locator('[data-testid="timeline-entry"][data-kind="escalated"]')
    expect(escalated).to_have_count(1)
    expect(escalated).to_contain_text("Escalated by charge.card")

    before = tablet.get_by_test_id("assignee").inner_text().strip()
    options = tablet.locator("#reassign-to option").evaluate_all(
        "options => options.map(o => o.value)"
    )
    target = next(v for v in options if v and v != before)
    tablet.locator("#reassign-to").select_option(target)
    tablet.locator("#reassign-reason").fill("Handover: Maria takes the bay")
    tablet.get_by_test_id("action-reassign").tap()
    expect(tablet.get_by_test_id("action-message")).to_contain_text(
        "reassigned", timeout=LIVE_TIMEOUT_MS
    )
    expect(tablet.get_by_test_id("assignee")).to_have_text(target, timeout=LIVE_TIMEOUT_MS)
    reassigned = tablet.locator('[data-testid="timeline-entry"][data-kind="reassigned"]')
    expect(reassigned).to_contain_text(f"to {target}")
    expect(reassigned).to_contain_text("Handover: Maria takes the bay")
    # Both entries, in order, with their times in hospital local time.
    kinds = tablet.get_by_test_id("timeline-entry").evaluate_all(
        "rows => rows.map(r => r.dataset.kind)"
    )
    assert kinds.index("escalated") < kinds.index("reassigned"), kinds
    no_horizontal_scroll(tablet, "tablet")
    tablet.screenshot(
        path=str(screenshots / "incident-tablet-escalated-reassigned.png"), full_page=True
    )


def test_a_physician_resolves_as_false_alarm_with_a_reason(
    web_app: str, triage_worker, browser: Browser, screenshots: Path
) -> None:
    incident_id = trigger_p1(web_app, "HG100003")  # Cardiology, bed B3
    page = open_page(browser, f"{web_app}/incidents/{incident_id}", DESKTOP, "dr.attending")
    expect(page.get_by_test_id("incident-summary")).to_be_visible(timeout=PAGE_TIMEOUT_MS)

    page.locator("#resolve-reason").select_option("false_alarm")
    page.get_by_test_id("action-resolve").click()
    expect(page.get_by_test_id("action-error")).to_have_text(
        "Reason text: must not be empty.", timeout=LIVE_TIMEOUT_MS
    )
    expect(page.get_by_test_id("incident-status")).to_have_text("Not acknowledged")

    page.locator("#resolve-reason").select_option("false_alarm")
    page.locator("#resolve-text").fill("SpO2 probe off the finger during the wash")
    page.get_by_test_id("action-resolve").click()
    expect(page.get_by_test_id("action-message")).to_contain_text(
        "resolved", timeout=LIVE_TIMEOUT_MS
    )
    expect(page.get_by_test_id("incident-status")).to_contain_text(
        "Resolved (False alarm) by dr.attending", timeout=LIVE_TIMEOUT_MS
    )
    expect(page.get_by_test_id("resolution-text")).to_contain_text("probe off the finger")
    resolved = page.locator('[data-testid="timeline-entry"][data-kind="resolved"]')
    expect(resolved).to_contain_text("Resolved by dr.attending: false alarm")
    expect(resolved).to_contain_text("SpO2 probe off the finger during the wash")
    expect(page.get_by_test_id("resolve-form")).to_have_count(0)
    page.screenshot(path=str(screenshots / "incident-desktop-false-alarm.png"), full_page=True)
    with session_scope() as session:
        stored = session.get(Incident, incident_id)
        assert stored is not None
        assert (stored.status, stored.resolution_reason) == ("resolved", "false_alarm")


def test_a_nurse_of_another_ward_cannot_see_it(
    web_app: str, triage_worker, browser: Browser, screenshots: Path
) -> None:
    incident_id = trigger_p1(web_app, "HG100004")  # Cardiology, bed B5
    page = open_page(browser, f"{web_app}/incidents/{incident_id}", PHONE, "nurse.icu")
    expect(page.get_by_test_id("incident-not-found")).to_have_text(
        "No such incident, or it is not on a ward you work on. Nothing is shown.",
        timeout=PAGE_TIMEOUT_MS,
    )
    body = page.locator("body").inner_text()
    for leaked in ("NEWS2", "B5", "L.K.", "Deteriorating"):
        assert leaked not in body, leaked
    expect(page.get_by_test_id("incident-actions")).to_have_count(0)
    assert vitals_reads("nurse.icu", incident_id) == 0
    page.screenshot(path=str(screenshots / "incident-phone-not-allowed.png"))
    # An id that does not exist answers the same.
    page.goto(f"{web_app}/incidents/{uuid.uuid4()}")
    expect(page.get_by_test_id("incident-not-found")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
