"""Signing in and out in real Chromium: errors, lockout, idle timeout, role-limited pages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_support import DESKTOP, PHONE, session_cookie
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.e2e

IDLE_SECONDS = 5


@pytest.fixture(scope="module")
def child_env(child_env: dict[str, str]) -> dict[str, str]:
    """This module's app signs auditors out after a few idle seconds (others keep 15 min)."""
    env = dict(child_env)
    env["HEALTHGUARD_SESSION_IDLE_SECONDS_BY_ROLE"] = json.dumps({"auditor": IDLE_SECONDS})
    return env


def sign_in_form(browser: Browser, base: str, username: str, password: str) -> Page:
    page = browser.new_context(viewport=DESKTOP).new_page()
    page.goto(f"{base}/")
    page.wait_for_url("**/login")
    submit(page, username, password)
    return page


def submit(page: Page, username: str, password: str) -> None:
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")


def test_sign_in_shows_only_the_nurses_wards(web_app: str, browser: Browser) -> None:
    page = sign_in_form(browser, web_app, "nurse.card", "wrong password here")
    expect(page.get_by_test_id("login-error")).to_have_text(
        "Sign-in failed: check the username and password."
    )
    submit(page, "nurse.card", "healthguard-demo")
    page.wait_for_url(f"{web_app}/")
    expect(page.get_by_test_id("signed-in-as")).to_contain_text("nurse.card")
    expect(page.get_by_test_id("bed-card").first).to_be_visible()
    # Her ward only: no "All wards", no other ward's beds.
    assert page.locator("#ward-selector option").all_inner_texts() == ["Cardiology"]
    assert all(t.startswith("CARD ") for t in page.get_by_test_id("bed-card").all_inner_texts())

    page.get_by_test_id("sign-out").click()
    page.wait_for_url("**/login")
    expect(page.get_by_test_id("login-notice")).to_have_text("You have signed out.")
    page.goto(f"{web_app}/")  # the old session is gone on the server too
    page.wait_for_url("**/login")


def test_unknown_user_and_wrong_password_get_the_same_answer(web_app: str, browser: Browser):
    ghost = sign_in_form(browser, web_app, "no.such.person", "whatever-password")
    real = sign_in_form(browser, web_app, "charge.card", "whatever-password")
    for page in (ghost, real):  # each answer waits for a password hash on a busy machine
        expect(page.get_by_test_id("login-error")).to_be_visible(timeout=20_000)
    assert (
        ghost.get_by_test_id("login-error").inner_text()
        == real.get_by_test_id("login-error").inner_text()
    )


def test_lockout_after_five_failures(web_app: str, browser: Browser, screenshots: Path) -> None:
    page = sign_in_form(browser, web_app, "charge.med", "not the password 1")
    for attempt in range(2, 6):
        expect(page.get_by_test_id("login-error")).to_be_visible()
        submit(page, "charge.med", f"not the password {attempt}")
    expect(page.get_by_test_id("login-error")).to_contain_text("locked")
    submit(page, "charge.med", "healthguard-demo")  # the right password no longer helps
    expect(page.get_by_test_id("login-error")).to_contain_text("locked")
    assert page.url.endswith("/login")
    page.screenshot(path=str(screenshots / "login-locked.png"))


def test_idle_session_returns_to_sign_in_with_a_message(
    web_app: str, browser: Browser, screenshots: Path
) -> None:
    context = browser.new_context(viewport=PHONE)
    context.add_cookies([session_cookie(web_app, "auditor")])  # type: ignore[list-item]
    page = context.new_page()
    page.goto(f"{web_app}/audit")
    expect(page.get_by_test_id("audit-row").first).to_be_visible()
    # Nothing is touched now; the page's heartbeat notices the idle limit on its own.
    page.wait_for_url("**/login", timeout=60_000)
    expect(page.get_by_test_id("login-notice")).to_contain_text("without activity")
    page.screenshot(path=str(screenshots / "login-idle-timeout-phone.png"))


def test_pages_a_role_may_not_use_are_neither_shown_nor_reachable(
    web_app: str, browser: Browser
) -> None:
    nurse = browser.new_context(viewport=DESKTOP)
    nurse.add_cookies([session_cookie(web_app, "nurse.med")])  # type: ignore[list-item]
    page = nurse.new_page()
    page.goto(f"{web_app}/audit")  # typed by hand: the nurse has no link to it
    page.wait_for_url(f"{web_app}/")
    expect(page.get_by_test_id("bed-card").first).to_be_visible()
    expect(page.get_by_test_id("audit-row")).to_have_count(0)
    expect(page.get_by_test_id("audit-export")).to_have_count(0)

    auditor = browser.new_context(viewport=DESKTOP)
    auditor.add_cookies([session_cookie(web_app, "auditor")])  # type: ignore[list-item]
    page = auditor.new_page()
    page.goto(f"{web_app}/")  # auditors see the log, not patients
    page.wait_for_url("**/audit")
    expect(page.get_by_test_id("audit-row").first).to_be_visible()
    expect(page.get_by_test_id("bed-card")).to_have_count(0)
    expect(page.get_by_test_id("acknowledge")).to_have_count(0)
