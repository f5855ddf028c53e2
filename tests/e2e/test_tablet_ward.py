"""The tablet ward view in real Chromium, portrait (820x1180) and landscape (1180x820): the
bed board and the queue of my ward, touch targets of at least 44 px, no horizontal scroll,
and a patient opened in a drawer over the board (audited like the patient page), closed
with its button or Escape without leaving the ward view."""

from __future__ import annotations

from pathlib import Path

import pytest
from authsupport import audit_rows_after, last_audit_id
from e2e_support import TABLET, card_patient, session_cookie
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.e2e

TABLET_LANDSCAPE = {"width": TABLET["height"], "height": TABLET["width"]}

# Every control a nurse taps on the ward view: links, buttons and selects of the board and
# the queue, and of the drawer.
SMALL_TARGETS_JS = """(selector) => {
    const small = [];
    for (const root of document.querySelectorAll(selector)) {
        for (const el of root.querySelectorAll('a, button, select, input:not([type=hidden])')) {
            const box = el.getBoundingClientRect();
            if (box.width === 0 && box.height === 0) continue;  // not shown
            if (box.height < 44 || box.width < 44) {
                small.push(`${el.tagName} "${el.textContent.trim().slice(0, 30)}" `
                           + `${Math.round(box.width)}x${Math.round(box.height)}`);
            }
        }
    }
    return small;
}"""


def ward_view(browser: Browser, base: str, viewport: dict[str, int], username: str) -> Page:
    context = browser.new_context(viewport=viewport, has_touch=True)
    context.add_cookies([session_cookie(base, username)])  # type: ignore[list-item]
    page = context.new_page()
    page.goto(f"{base}/")
    expect(page.get_by_test_id("bed-card").first).to_be_visible(timeout=60_000)
    return page


def horizontal_overflow(page: Page) -> int:
    return int(
        page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
    )


@pytest.mark.parametrize(
    ("name", "viewport"), [("portrait", TABLET), ("landscape", TABLET_LANDSCAPE)]
)
def test_the_ward_view_on_a_tablet_opens_a_patient_in_a_drawer(
    web_app: str, browser: Browser, screenshots: Path, name: str, viewport: dict[str, int]
) -> None:
    pid, _ = card_patient("B2")
    page = ward_view(browser, web_app, viewport, "nurse.card")

    # My ward only: Cardiology's beds, nobody else's.
    beds = page.get_by_test_id("bed-card")
    expect(beds.filter(has_text="CARD ").first).to_be_visible()
    expect(beds.filter(has_text="ICU ")).to_have_count(0)
    queue = page.get_by_test_id("incident-queue").or_(page.get_by_test_id("incident-queue-empty"))
    expect(queue.first).to_be_visible()
    assert horizontal_overflow(page) <= 0
    small = page.evaluate(
        SMALL_TARGETS_JS, '[data-testid="ward-board"], [data-testid="incident-queue"]'
    )
    assert small == [], f"touch targets under 44 px on the {name} tablet: {small}"
    page.screenshot(path=str(screenshots / f"ward-tablet-{name}.png"), full_page=True)

    # Tap the patient: the drawer opens over the board; the page does not navigate.
    since = last_audit_id()
    page.locator(f'[data-testid="bed-patient-link"][href="/patients/{pid}"]').tap()
    drawer = page.get_by_test_id("patient-drawer")
    expect(drawer).to_be_visible(timeout=20_000)
    expect(drawer.get_by_test_id("patient-ward")).to_contain_text("Cardiology")
    expect(drawer.get_by_test_id("drawer-full-page")).to_have_attribute("href", f"/patients/{pid}")
    assert page.url.rstrip("/") == web_app.rstrip("/")
    assert horizontal_overflow(page) <= 0
    small = page.evaluate(SMALL_TARGETS_JS, '[data-testid="patient-drawer"] > div:first-child')
    assert small == [], f"drawer controls under 44 px: {small}"
    page.screenshot(path=str(screenshots / f"ward-tablet-{name}-patient-drawer.png"))

    # Read like the patient page: the same audit rows.
    reads = sorted(
        r.action for r in audit_rows_after(since) if r.record_id == pid and r.actor == "nurse.card"
    )
    assert reads == ["patient.read", "vitals.read"]

    # Escape closes it (keyboard); the close button does too.
    page.keyboard.press("Escape")
    expect(drawer).to_have_count(0)
    page.locator(f'[data-testid="bed-patient-link"][href="/patients/{pid}"]').tap()
    expect(drawer).to_be_visible(timeout=20_000)
    drawer.get_by_test_id("drawer-close").tap()
    expect(drawer).to_have_count(0)
    expect(page.get_by_test_id("bed-card").first).to_be_visible()
    page.context.close()
