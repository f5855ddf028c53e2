"""The dashboard's key-metrics panel in real Chromium: charts and numbers from seeded incidents
(opened and acted on through the incident service, at past times), scoped to the charge
nurse's ward, and a false alarm resolved through the API showing up in the share within one
refresh."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from authsupport import bearer, fresh_tokens
from e2e_support import DESKTOP, PHONE, session_cookie
from playwright.sync_api import Browser, Page, expect

from healthguard.db import session_scope
from healthguard.incidents.lifecycle import Acknowledge, Escalate, Refusal, Resolve
from healthguard.incidents.metrics_view import metrics_windows
from healthguard.incidents.service import open_incident
from healthguard.incidents.workflow import apply_command, lock_incident
from healthguard.security.permissions import Permission

pytestmark = pytest.mark.e2e

GRAFANA = "https://grafana.example.org/d/healthguard-incidents"
REFRESH_TIMEOUT_MS = 45_000  # the panel re-reads every 30 s
ALL = {
    Permission.INCIDENTS_ACKNOWLEDGE,
    Permission.INCIDENTS_ESCALATE,
    Permission.INCIDENTS_RESOLVE,
}


@pytest.fixture(scope="module")
def child_env(child_env: dict[str, str]) -> dict[str, str]:
    return {**child_env, "HEALTHGUARD_GRAFANA_URL": GRAFANA}


def incident(
    ward: str,
    bed: str,
    priority: str,
    opened: datetime,
    *,
    ack_after: float | None = None,
    escalate_after: float | None = None,
    resolve_after: float | None = None,
    reason: str = "treated",
) -> str:
    """One incident through the incident service, each step at its own (past) time."""
    steps: list[tuple[float, object]] = []
    if ack_after is not None:
        steps.append((ack_after, Acknowledge()))
    if escalate_after is not None:
        steps.append((escalate_after, Escalate(to="Rapid response team")))
    if resolve_after is not None:
        text = "Probe off the finger" if reason == "false_alarm" else None
        steps.append((resolve_after, Resolve(reason=reason, text=text)))
    with session_scope() as session:
        row = open_incident(
            session, title=f"Metrics {priority} {uuid.uuid4().hex[:6]}", priority=priority,
            now=opened, ward_code=ward, bed_label=bed, source="manual", actor="test",
        )  # fmt: skip
        incident_id = row.id
    for seconds, command in sorted(steps, key=lambda s: s[0]):
        with session_scope() as session:
            locked = lock_incident(session, incident_id)
            assert locked is not None
            done = apply_command(
                session, locked, command, actor="charge.card", permissions=ALL,
                now=opened + timedelta(seconds=seconds),
            )  # fmt: skip
            assert not isinstance(done, Refusal), done
    return str(incident_id)


@pytest.fixture(scope="module")
def incidents(seeded: dict[str, int]) -> dict[str, str]:
    """Cardiology: four incidents three days ago (one false alarm of three resolved, one
    escalation), two today (one resolved, treated; one open, escalated); and an ICU P0 today,
    which the cardiology panel must not count."""
    now = datetime.now(UTC)
    windows = metrics_windows(now, ZoneInfo("Europe/London"))
    earlier = windows.today_start - timedelta(days=3) + timedelta(hours=10)
    incident("CARD", "B1", "P1", earlier, ack_after=60, resolve_after=1200)
    incident("CARD", "B2", "P1", earlier, ack_after=120, resolve_after=900, reason="false_alarm")
    incident("CARD", "B3", "P2", earlier, ack_after=300, escalate_after=200, resolve_after=3000)
    incident("CARD", "B4", "P2", earlier)
    # Today, between midnight and now whatever the time of day.
    span = min(timedelta(minutes=10), (now - windows.today_start) / 2)
    today = now - span
    step = span.total_seconds() / 10
    incident("CARD", "B5", "P1", today, ack_after=step, resolve_after=2 * step)
    open_one = incident("CARD", "B6", "P1", today, ack_after=3 * step, escalate_after=4 * step)
    incident("ICU", "B1", "P0", today, ack_after=step)
    return {"open": open_one}


def open_panel(browser: Browser, base: str, viewport: dict[str, int]) -> Page:
    context = browser.new_context(viewport=viewport)
    context.add_cookies([session_cookie(base, "charge.card")])  # type: ignore[list-item]
    page = context.new_page()
    page.goto(f"{base}/")
    expect(page.get_by_test_id("key-metrics-grid")).to_be_visible(timeout=60_000)
    return page


def test_the_panel_shows_charts_and_numbers_and_follows_a_false_alarm(
    web_app: str, incidents: dict[str, str], browser: Browser, screenshots: Path
) -> None:
    page = open_panel(browser, web_app, DESKTOP)
    panel = page.get_by_test_id("key-metrics")
    expect(page.locator("#ward-selector")).to_have_value("CARD")
    expect(panel).to_contain_text(
        re.compile(r"Cardiology — updated \d\d:\d\d, refreshed every 30 s")
    )

    # Alerts per hour: a chart (Plotly drew its bars) and its words; the ICU P0 is not counted.
    expect(
        panel.get_by_test_id("key-metrics-hourly-chart").locator("g.bars").first
    ).to_be_attached()
    expect(panel.get_by_test_id("key-metrics-hourly-summary")).to_contain_text(
        "2 alerts in the last 24 h: 2 P1 Emergency."
    )
    expect(panel).not_to_contain_text("P0 Cardiac arrest 1")

    # Time to acknowledge by priority, percentiles in words: today P1 p50 (of two) and p90.
    ack = panel.get_by_test_id("key-metrics-acknowledge-table")
    p1 = ack.locator("tr[data-priority='P1']")
    expect(p1).to_contain_text("P1 Emergency")
    expect(p1).to_contain_text("(n=2)")
    expect(p1).to_contain_text("1 min / 2 min (n=2)")  # previous 7 days: 60 s and 120 s
    expect(ack.locator("tr[data-priority='P2']")).to_contain_text("5 min / 5 min (n=1)")
    expect(ack.locator("tr[data-priority='P0']")).to_have_count(0)
    resolve = panel.get_by_test_id("key-metrics-resolve-table")
    expect(resolve.locator("tr[data-priority='P1']")).to_contain_text("15 min / 20 min (n=2)")
    expect(
        panel.get_by_test_id("key-metrics-acknowledge-chart").locator("g.bars").first
    ).to_be_attached()

    # Escalations today vs the previous week's daily average; false alarms today vs the week.
    expect(panel.get_by_test_id("escalations-today")).to_have_text("1")
    expect(panel.get_by_test_id("escalations-per-day")).to_have_text("0.1")
    expect(panel.get_by_test_id("key-metrics-escalations-summary")).to_contain_text(
        "1 escalation today; previous 7 days: 0.1 a day on average (1 in total)."
    )
    expect(panel.get_by_test_id("false-alarm-share-today")).to_have_text("0%")
    expect(panel.get_by_test_id("false-alarm-share-previous")).to_have_text("33%")
    expect(panel.get_by_test_id("key-metrics-false-alarms-summary")).to_contain_text(
        "0% today (0 of 1 resolved incident)"
    )
    link = panel.get_by_test_id("grafana-link")
    expect(link).to_have_attribute("href", GRAFANA)
    expect(link).to_have_text("Open the Grafana dashboards")
    page.screenshot(path=str(screenshots / "key-metrics-desktop.png"), full_page=True)

    # A physician resolves the open one as a false alarm through the API: the share moves on
    # the next refresh, without a reload.
    page.evaluate("window.__noReloadMarker = 'still here'")
    access, _ = fresh_tokens("dr.attending")
    response = httpx.post(
        f"{web_app}/api/v1/incidents/{incidents['open']}/resolve",
        json={"reason": "false_alarm", "text": "Lead off during a wash"},
        headers=bearer(access),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    expect(panel.get_by_test_id("false-alarm-share-today")).to_have_text(
        "50%", timeout=REFRESH_TIMEOUT_MS
    )
    expect(panel.get_by_test_id("key-metrics-false-alarms-summary")).to_contain_text(
        "50% today (1 of 2 resolved incidents)"
    )
    assert page.evaluate("window.__noReloadMarker") == "still here"
    panel.screenshot(path=str(screenshots / "key-metrics-desktop-after-false-alarm.png"))


def test_on_a_phone_the_charts_stack_without_horizontal_scrolling(
    web_app: str, incidents: dict[str, str], browser: Browser, screenshots: Path
) -> None:
    page = open_panel(browser, web_app, PHONE)
    cards = page.get_by_test_id("key-metrics-grid").locator(":scope > article")
    expect(cards).to_have_count(5)
    expect(page.get_by_test_id("key-metrics-hourly-chart").locator("g.bars").first).to_be_attached()
    boxes = [cards.nth(i).bounding_box() for i in range(5)]
    assert all(b is not None for b in boxes)
    lefts = {round(b["x"]) for b in boxes if b}
    assert len(lefts) == 1, f"the cards should stack in one column, got lefts {lefts}"
    tops = [b["y"] for b in boxes if b]
    assert tops == sorted(tops)
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page is {overflow}px wider than the phone"
    page.get_by_test_id("key-metrics").screenshot(path=str(screenshots / "key-metrics-phone.png"))


def test_the_hourly_table_names_every_priority_in_words(
    web_app: str, incidents: dict[str, str], browser: Browser
) -> None:
    page = open_panel(browser, web_app, DESKTOP)
    hourly = page.get_by_test_id("key-metrics-hourly")
    hourly.get_by_text("Alerts per hour and priority (table)").click()
    header = hourly.locator("thead")
    for label in ("P0 Cardiac arrest", "P1 Emergency", "P2 Urgent", "P3 Review", "P4 Routine"):
        expect(header).to_contain_text(label)
    expect(hourly.locator("tbody tr")).to_have_count(24)
    totals = hourly.locator("tbody tr td:last-child")
    expect(totals.filter(has_text=re.compile(r"^2$"))).to_have_count(1)  # both of today's


def test_choosing_another_ward_shows_its_metrics_at_once(
    web_app: str, incidents: dict[str, str], browser: Browser
) -> None:
    context = browser.new_context(viewport=DESKTOP)
    context.add_cookies([session_cookie(web_app, "dr.attending")])  # type: ignore[list-item]
    page = context.new_page()
    page.goto(f"{web_app}/?ward=CARD")
    summary = page.get_by_test_id("key-metrics-hourly-summary")
    expect(summary).to_contain_text("2 P1 Emergency", timeout=60_000)
    page.locator("#ward-selector").select_option("ICU")
    # Well within the 30 s refresh: the change of ward itself re-reads the numbers.
    expect(summary).to_contain_text(
        "1 alert in the last 24 h: 1 P0 Cardiac arrest.", timeout=10_000
    )
    ack = page.get_by_test_id("key-metrics-acknowledge-table")
    expect(ack.locator("tr[data-priority='P0']")).to_contain_text("P0 Cardiac arrest")
    expect(ack.locator("tr[data-priority='P1']")).to_have_count(0)
