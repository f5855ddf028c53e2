"""The incident page (/incidents/<id>) in real Chromium, on incidents opened the real way:
vital signs POSTed to the REST API -> triage worker -> a P1 with its NEWS2 evidence.

Desktop (1440x900) and phone (390x844): the trigger values and sub-scores, the chart, the
timeline, a nurse acknowledges on the page and another open page follows without a reload.
Tablet (820x1180): a charge nurse escalates and reassigns. Desktop: a physician resolves as a
false alarm (a reason text is required). Phone: a charge nurse raises a P2 to P1 (another
open page follows), names the lead, resolves and closes it; a nurse reopens another resolved
incident within the window the page states. A nurse of another ward gets "not found" in
words and no data. Screenshots go to test-artifacts/screenshots/incident-*.png."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from authsupport import new_integration_key, open_incident_in
from e2e_support import DESKTOP, PHONE, TABLET, session_cookie
from playwright.sync_api import Browser, Page, expect
from sqlmodel import col, select

from healthguard.db import session_scope
from healthguard.incidents import lifecycle as lc
from healthguard.incidents.workflow import perform_as
from healthguard.ingest.store import resolve_patients
from healthguard.models import AuditLog, Incident, User
from healthguard.models.incidents import OPEN_STATUSES
from healthguard.runtime.embedded import wait_until
from healthguard.security.accounts import principal_of
from healthguard.settings import get_settings
from healthguard.ui.incident_view import local_time

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


# Every control of the actions panel: at least 44 px tall, and named (a button by its text,
# a field by its label). The ids of those that are not.
UNFIT_CONTROLS = """() => Array.from(document.querySelectorAll(
    '[data-testid="incident-actions"] :is(button, select, input, textarea)'
)).filter(e => {
    const named = e.tagName === 'BUTTON'
        ? e.textContent.trim() !== ''
        : (e.labels && e.labels.length > 0 && e.labels[0].textContent.trim() !== '');
    return e.getBoundingClientRect().height < 44 || !named;
}).map(e => e.id || e.dataset.testid || e.tagName)"""


def timeline_kinds(page: Page) -> list[str]:
    return page.get_by_test_id("timeline-entry").evaluate_all(
        "rows => rows.map(r => r.dataset.kind)"
    )


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


def test_a_charge_nurse_raises_names_the_lead_resolves_and_closes_and_a_nurse_reopens(
    web_app: str, triage_worker, browser: Browser, screenshots: Path
) -> None:
    incident_id = uuid.UUID(open_incident_in("CARD", "B7", "Staff concerned: confused", "P2"))
    phone = open_page(browser, f"{web_app}/incidents/{incident_id}", PHONE, "charge.card")
    badge = phone.get_by_test_id("incident-priority")
    expect(badge).to_have_text("P2 Urgent", timeout=PAGE_TIMEOUT_MS)
    # Another open page (the ward nurse's, on a desktop) follows without a reload.
    watcher = open_page(browser, f"{web_app}/incidents/{incident_id}", DESKTOP, "nurse.card")
    expect(watcher.get_by_test_id("incident-priority")).to_have_text(
        "P2 Urgent", timeout=PAGE_TIMEOUT_MS
    )
    watcher.evaluate("window.__noReloadMarker = 'still here'")
    # No lead on a P2, nothing to close or reopen yet; the controls fit a finger and say
    # what they are, and the phone does not scroll sideways.
    expect(phone.get_by_test_id("priority-form")).to_be_visible()
    for absent in ("lead-form", "remove-responder-form", "close-form", "reopen-form"):
        expect(phone.get_by_test_id(absent)).to_have_count(0)
    assert phone.evaluate(UNFIT_CONTROLS) == []
    no_horizontal_scroll(phone, "phone")

    # Raise P2 -> P1.
    phone.locator("#priority-to").select_option("P1")
    phone.get_by_test_id("action-change-priority").tap()
    expect(phone.get_by_test_id("action-message")).to_contain_text(
        "is now P1 Emergency", timeout=LIVE_TIMEOUT_MS
    )
    expect(badge).to_have_text("P1 Emergency")
    expect(phone.get_by_test_id("incident-summary")).to_have_attribute("data-priority", "P1")
    raised = phone.locator('[data-testid="timeline-entry"][data-kind="priority_changed"]')
    expect(raised).to_contain_text("Raised from P2 to P1 by charge.card")
    expect(watcher.get_by_test_id("incident-priority")).to_have_text(
        "P1 Emergency", timeout=LIVE_TIMEOUT_MS
    )
    expect(watcher.get_by_test_id("incident-summary")).to_have_attribute("data-priority", "P1")
    assert watcher.evaluate("window.__noReloadMarker") == "still here"

    # The lead is one of the responders: join first, then name them.
    options = phone.locator("#responder-person option").evaluate_all(
        "options => options.map(o => o.value)"
    )
    person = "charge.card" if "charge.card" in options else next(v for v in options if v)
    phone.locator("#responder-person").select_option(person)
    if person == "charge.card":
        phone.locator("#responder-role").select_option("charge_nurse")
    phone.get_by_test_id("action-add-responder").tap()
    expect(phone.get_by_test_id("action-message")).to_contain_text(
        "responder added", timeout=LIVE_TIMEOUT_MS
    )
    expect(phone.get_by_test_id("lead-form")).to_be_visible()
    expect(phone.get_by_test_id("remove-responder-form")).to_be_visible()
    phone.locator("#lead-person").select_option(person)
    phone.get_by_test_id("action-set-lead").tap()
    expect(phone.get_by_test_id("action-message")).to_contain_text(
        f"{person} is the lead", timeout=LIVE_TIMEOUT_MS
    )
    people = phone.get_by_label("People and escalation")
    expect(people.locator("dt:text-is('Lead') + dd")).to_have_text(person)
    expect(phone.get_by_test_id("lead-form")).to_have_count(0)  # the only responder leads
    lead = phone.locator('[data-testid="timeline-entry"][data-kind="lead_set"]')
    expect(lead).to_contain_text(f"{person} is the incident lead (named by charge.card)")
    assert phone.evaluate(UNFIT_CONTROLS) == []
    no_horizontal_scroll(phone, "phone with every form")
    phone.screenshot(path=str(screenshots / "incident-phone-p1-lead.png"), full_page=True)

    # Resolve, then close after review.
    phone.locator("#resolve-reason").select_option("treated")
    phone.get_by_test_id("action-resolve").tap()
    expect(phone.get_by_test_id("incident-status")).to_contain_text(
        "Resolved (Treated) by charge.card", timeout=LIVE_TIMEOUT_MS
    )
    expect(phone.get_by_test_id("close-form")).to_be_visible()
    expect(phone.get_by_test_id("priority-form")).to_have_count(0)
    phone.locator("#close-note").fill("Reviewed at handover")
    phone.get_by_test_id("action-close").tap()
    expect(phone.get_by_test_id("incident-status")).to_contain_text(
        "Closed by charge.card", timeout=LIVE_TIMEOUT_MS
    )
    expect(phone.get_by_test_id("no-actions")).to_be_visible()
    closed = phone.locator('[data-testid="timeline-entry"][data-kind="closed"]')
    expect(closed).to_contain_text("Closed by charge.card")
    expect(closed).to_contain_text("Reviewed at handover")
    kinds = timeline_kinds(phone)
    order = ["priority_changed", "responder_joined", "lead_set", "resolved", "closed"]
    assert [kinds.index(k) for k in order] == sorted(kinds.index(k) for k in order), kinds
    expect(watcher.get_by_test_id("incident-status")).to_contain_text(
        "Closed by charge.card", timeout=LIVE_TIMEOUT_MS
    )
    no_horizontal_scroll(phone, "phone closed")
    phone.screenshot(path=str(screenshots / "incident-phone-closed.png"), full_page=True)
    with session_scope() as session:
        stored = session.get(Incident, incident_id)
        assert stored is not None
        assert (stored.status, stored.priority, stored.lead) == ("closed", "P1", person)

    # Another incident, resolved a moment ago: the nurse reopens it within the window.
    other = uuid.UUID(open_incident_in("CARD", "B8", "Staff concerned: pale", "P3"))
    with session_scope() as session:
        nurse = principal_of(session.exec(select(User).where(User.username == "nurse.card")).one())
    done = perform_as(nurse, other, lc.Resolve(reason="treated"), now=datetime.now(UTC))
    assert not isinstance(done, lc.Refusal), done
    assert done.incident.resolved_at is not None
    until = local_time(
        done.incident.resolved_at + lc.REOPEN_WINDOW,
        ZoneInfo(get_settings().timezone),
        datetime.now(UTC),
    )
    reopen = open_page(browser, f"{web_app}/incidents/{other}", PHONE, "nurse.card")
    window = reopen.get_by_test_id("reopen-window")
    expect(window).to_contain_text(f"You can reopen it until {until}", timeout=PAGE_TIMEOUT_MS)
    expect(reopen.get_by_test_id("close-form")).to_have_count(0)  # a nurse does not close
    assert reopen.evaluate(UNFIT_CONTROLS) == []
    no_horizontal_scroll(reopen, "phone reopen")
    reopen.locator("#reopen-reason").fill("Pale and clammy again")
    reopen.get_by_test_id("action-reopen").tap()
    expect(reopen.get_by_test_id("action-message")).to_contain_text(
        "reopened", timeout=LIVE_TIMEOUT_MS
    )
    expect(reopen.get_by_test_id("incident-status")).to_have_text("Not acknowledged")
    expect(reopen.get_by_test_id("reopen-form")).to_have_count(0)
    expect(reopen.get_by_test_id("action-acknowledge")).to_be_visible()
    reopened = reopen.locator('[data-testid="timeline-entry"][data-kind="reopened"]')
    expect(reopened).to_contain_text("Reopened by nurse.card")
    expect(reopened).to_contain_text("Pale and clammy again")
    reopen.screenshot(path=str(screenshots / "incident-phone-reopened.png"), full_page=True)
