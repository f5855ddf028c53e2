"""The patient page in real Chromium: readings sent through the API appear in its charts
without a reload; Scale 2 is set by a physician and not offered to a nurse; a pause with a
reason shows on the bed board; a nurse of another ward sees nothing; it fits three screens."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from authsupport import audit_rows_after, last_audit_id, new_integration_key
from e2e_support import DESKTOP, PHONE, TABLET, card_patient, session_cookie, wait_for_page
from playwright.sync_api import Browser, Locator, Page, expect

pytestmark = pytest.mark.e2e

LIVE_TIMEOUT_MS = 20_000


def open_page(browser: Browser, url: str, viewport: dict[str, int], username: str) -> Page:
    base = re.match(r"https?://[^/]+", url)
    assert base is not None
    context = browser.new_context(viewport=viewport)
    context.add_cookies([session_cookie(base.group(0), username)])  # type: ignore[list-item]
    page = context.new_page()
    page.goto(url)
    return page


def open_patient(
    browser: Browser, base: str, pid: str, viewport: dict[str, int], user: str
) -> Page:
    page = open_page(browser, f"{base}/patients/{pid}", viewport, user)
    expect(page.get_by_test_id("patient-name")).to_be_visible(timeout=60_000)
    return page


def bed_card_of(board: Page, pid: str) -> Locator:
    """The bed board's card of the bed the patient lies in (found by its patient link)."""
    return board.locator(f'[data-testid="bed-card"]:has(a[href="/patients/{pid}"])')


def post_vitals(base: str, key: str, pid: str, values: dict[str, float]) -> None:
    body = {
        "observations": [
            {
                "patient": uuid.UUID(pid).hex,
                "observed_at": datetime.now(UTC).isoformat(),
                "source": "e2e-monitor",
                "values": values,
            }
        ]
    }
    response = httpx.post(
        f"{base}/api/v1/vitals", json=body, headers={"X-API-Key": key}, timeout=10
    )
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 1, response.text


def chart_values(page: Page, testid: str) -> list[float]:
    """Every y value the chart's traces hold (what Plotly draws)."""
    return page.evaluate(
        """(id) => {
            const plot = document.querySelector(`[data-testid="${id}"] .js-plotly-plot`);
            if (!plot || !plot.data) return [];
            return plot.data.flatMap((trace) => Array.from(trace.y || []));
        }""",
        testid,
    )


@pytest.fixture(scope="module")
def vitals_key(seeded: dict[str, int]) -> str:
    return new_integration_key("e2e-patient-page", ["ingest:vitals"])[1]


def test_readings_sent_through_the_api_appear_in_the_chart_without_reload(
    web_app: str, browser: Browser, vitals_key: str, screenshots: Path
) -> None:
    pid, mrn = card_patient("B1")
    page = open_patient(browser, web_app, pid, DESKTOP, "dr.attending")
    expect(page.get_by_test_id("patient-mrn")).to_have_text(mrn)  # decrypted for this reader
    page.evaluate("window.__noReloadMarker = 'still here'")

    post_vitals(web_app, vitals_key, pid, {"spo2": 87, "heart_rate": 123})

    expect(page.get_by_test_id("trend-spo2")).to_contain_text("Last 87 %", timeout=LIVE_TIMEOUT_MS)
    expect(page.get_by_test_id("trend-heart-rate")).to_contain_text("Last 123 /min")
    wait_for_page(
        page,
        """() => {
            const plot = document.querySelector('[data-testid="trend-spo2"] .js-plotly-plot');
            return plot && plot.data && plot.data.some((t) => Array.from(t.y || []).includes(87));
        }""",
        timeout=LIVE_TIMEOUT_MS / 1000,
    )
    assert 87 in chart_values(page, "trend-spo2")
    assert page.evaluate("window.__noReloadMarker") == "still here"
    # The NEWS2 bands are drawn: SpO2 87 % on Scale 1 lies in the shaded score-3 band.
    expect(page.get_by_test_id("trend-spo2")).to_contain_text("score 3")
    page.screenshot(path=str(screenshots / "patient-desktop-live-reading.png"), full_page=True)


def test_opening_the_page_is_audited_like_the_api(web_app: str, browser: Browser) -> None:
    pid, _ = card_patient("B2")
    since = last_audit_id()
    page = open_patient(browser, web_app, pid, DESKTOP, "nurse.card")
    expect(page.get_by_test_id("patient-ward")).to_contain_text("Cardiology")

    def reads() -> list[str]:
        return [
            r.action
            for r in audit_rows_after(since)
            if r.record_id == pid and r.actor == "nurse.card"
        ]

    assert sorted(reads()) == ["patient.read", "vitals.read"]


def test_scale_2_is_set_by_a_physician_and_not_by_a_nurse(web_app: str, browser: Browser) -> None:
    pid, _ = card_patient("B3")
    nurse = open_patient(browser, web_app, pid, TABLET, "nurse.card")
    expect(nurse.get_by_test_id("scale-not-allowed")).to_be_visible()
    expect(nurse.get_by_test_id("set-scale")).to_have_count(0)

    doctor = open_patient(browser, web_app, pid, DESKTOP, "dr.attending")
    since = last_audit_id()
    doctor.locator("#scale-choice").select_option("2")
    doctor.get_by_test_id("set-scale").click()  # no reason: refused, naming the field
    expect(doctor.get_by_test_id("patient-action-error")).to_contain_text(
        "reason", timeout=LIVE_TIMEOUT_MS
    )
    expect(doctor.get_by_test_id("patient-scale")).to_have_text("Scale 1")

    doctor.locator("#scale-choice").select_option("2")
    doctor.locator("#scale-reason").fill("Confirmed type 2 respiratory failure; target 88-92 %")
    doctor.get_by_test_id("set-scale").click()
    expect(doctor.get_by_test_id("patient-message")).to_contain_text(
        "SpO2 Scale 2 set", timeout=LIVE_TIMEOUT_MS
    )
    expect(doctor.get_by_test_id("patient-scale")).to_have_text("Scale 2")
    changes = [r for r in audit_rows_after(since) if r.action == "patient.spo2_scale_set"]
    assert [(r.actor, r.record_id) for r in changes] == [("dr.attending", pid)]
    # The nurse's open page follows without a reload.
    expect(nurse.get_by_test_id("patient-scale")).to_have_text("Scale 2", timeout=LIVE_TIMEOUT_MS)


def test_a_pause_with_a_reason_shows_on_the_bed_board(
    web_app: str, browser: Browser, screenshots: Path
) -> None:
    pid, _ = card_patient("B6")
    board = open_page(browser, f"{web_app}/?ward=CARD", DESKTOP, "charge.card")
    bed = bed_card_of(board, pid)
    expect(bed).to_have_count(1, timeout=60_000)
    expect(bed.get_by_test_id("bed-paused")).to_have_count(0)
    board.evaluate("window.__noReloadMarker = 'still here'")

    page = open_patient(browser, web_app, pid, TABLET, "nurse.card")
    page.get_by_test_id("pause-alarms").click()  # no reason: refused, naming the field
    expect(page.get_by_test_id("patient-action-error")).to_contain_text(
        "reason", timeout=LIVE_TIMEOUT_MS
    )
    page.locator("#pause-minutes").select_option("20")
    page.locator("#pause-reason").fill("Bathing")
    page.get_by_test_id("pause-alarms").click()
    expect(page.get_by_test_id("pause-summary")).to_contain_text("Bathing", timeout=LIVE_TIMEOUT_MS)
    expect(page.get_by_test_id("pause-summary")).to_contain_text("P0 (cardiac arrest) still")
    expect(page.get_by_test_id("patient-paused-badge")).to_be_visible()

    expect(bed.get_by_test_id("bed-paused")).to_contain_text(
        "Alarms paused until", timeout=LIVE_TIMEOUT_MS
    )
    assert board.evaluate("window.__noReloadMarker") == "still here"
    board.screenshot(path=str(screenshots / "dashboard-desktop-paused-bed.png"))
    page.screenshot(path=str(screenshots / "patient-tablet-paused.png"), full_page=True)

    page.get_by_test_id("end-pause").click()
    expect(page.get_by_test_id("patient-message")).to_contain_text(
        "Alarms are on again", timeout=LIVE_TIMEOUT_MS
    )
    expect(bed.get_by_test_id("bed-paused")).to_have_count(0, timeout=LIVE_TIMEOUT_MS)


def test_a_nurse_of_another_ward_is_not_allowed_and_sees_no_data(
    web_app: str, browser: Browser
) -> None:
    pid, mrn = card_patient("B1")
    page = open_page(browser, f"{web_app}/patients/{pid}", PHONE, "nurse.icu")
    expect(page.get_by_test_id("patient-not-allowed")).to_contain_text("You may not see")
    assert mrn not in page.content()
    expect(page.get_by_test_id("patient-name")).to_have_count(0)


def test_the_bed_card_opens_the_patient_in_a_drawer_then_the_page(
    web_app: str, browser: Browser
) -> None:
    pid, mrn = card_patient("B2")
    board = open_page(browser, f"{web_app}/?ward=CARD", DESKTOP, "nurse.card")
    bed = bed_card_of(board, pid)
    expect(bed).to_have_count(1, timeout=60_000)
    bed.get_by_test_id("bed-patient-link").click()
    drawer = board.get_by_test_id("patient-drawer")
    expect(drawer.get_by_test_id("patient-mrn")).to_have_text(mrn, timeout=60_000)
    drawer.get_by_test_id("drawer-full-page").click()
    expect(board).to_have_url(f"{web_app}/patients/{pid}")
    expect(board.get_by_test_id("patient-mrn")).to_have_text(mrn, timeout=60_000)


@pytest.mark.parametrize(
    ("name", "viewport"), [("desktop", DESKTOP), ("tablet", TABLET), ("phone", PHONE)]
)
def test_the_patient_page_fits_without_horizontal_scrolling(
    web_app: str,
    browser: Browser,
    vitals_key: str,
    screenshots: Path,
    name: str,
    viewport: dict[str, int],
) -> None:
    pid, _ = card_patient("B5")
    post_vitals(web_app, vitals_key, pid, {"resp_rate": 22, "spo2": 95, "heart_rate": 96})
    page = open_patient(browser, web_app, pid, viewport, "dr.attending")
    expect(page.locator('[data-testid="trend-spo2"] .js-plotly-plot')).to_be_visible(
        timeout=LIVE_TIMEOUT_MS
    )
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    wide = page.evaluate(
        """() => Array.from(document.querySelectorAll('body *'))
            .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth)
            .slice(0, 5)
            .map((e) => `${e.tagName} ${e.textContent.slice(0, 40)}`)"""
    )
    assert overflow <= 0, (
        f"{name}: page is {overflow}px wider than the {viewport['width']}px screen: {wide}"
    )
    page.screenshot(path=str(screenshots / f"patient-{name}.png"), full_page=True)
