"""Administration in real Chromium: an admin creates an integration (its key shown once; the
key works against the real POST /api/v2/enqueue), revokes it (the same request is then
refused); edits an escalation policy with an invalid delay and reads the error naming the
field, then saves a valid one; adds a user (a taken username refused in words naming the
field) who then signs in on the sign-in page; a nurse opening /admin reads "not allowed", gets
no data, and the visit writes one access.denied row."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from e2e_support import DESKTOP, PHONE, TABLET, session_cookie
from playwright.sync_api import Browser, Page, expect
from sqlmodel import select

pytestmark = pytest.mark.e2e

LOAD_TIMEOUT_MS = 60_000


def open_page(browser: Browser, base: str, username: str, viewport: dict[str, int]) -> Page:
    context = browser.new_context(viewport=viewport)
    context.add_cookies([session_cookie(base, username)])  # type: ignore[list-item]
    page = context.new_page()
    page.goto(f"{base}/admin")
    return page


def no_horizontal_scroll(page: Page) -> int:
    return int(
        page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    )


def trigger(base: str, routing_key: str) -> httpx.Response:
    return httpx.post(
        f"{base}/api/v2/enqueue",
        json={
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": "gw-icu-9/down",
            "payload": {
                "summary": "Monitor gateway ICU-9 unreachable",
                "source": "gw-icu-9.hospital.local",
                "severity": "warning",
            },
        },
        timeout=30,
    )


def test_admin_creates_an_integration_whose_key_works_then_revokes_it(
    web_app: str, browser: Browser, screenshots: Path
) -> None:
    page = open_page(browser, web_app, "admin", DESKTOP)
    current = page.get_by_test_id("page-navigation").get_by_role("link", name="Administration")
    expect(current).to_have_attribute("aria-current", "page", timeout=LOAD_TIMEOUT_MS)
    section = page.locator("#integrations")
    expect(section.get_by_role("heading", name="Integrations and keys")).to_be_visible(
        timeout=LOAD_TIMEOUT_MS
    )
    page.fill("#integration-name", "ICU monitor gateway")
    page.select_option("#integration-kind", "pagerduty")
    section.get_by_role("button", name="Create integration").click()

    shown = page.get_by_test_id("new-integration-key")
    expect(shown).to_be_visible()
    key = shown.input_value()
    assert len(key) == 32 and all(c in "0123456789abcdef" for c in key)
    expect(section).to_contain_text("It is shown only this once")
    row = page.get_by_test_id("integration-row").filter(has_text="ICU monitor gateway")
    expect(row).to_contain_text("Active")
    expect(row).to_contain_text("critical P1 · error P2 · warning P3 · info P4")
    page.screenshot(path=str(screenshots / "admin-desktop-integration-key.png"), full_page=True)

    accepted = trigger(web_app, key)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["status"] == "success"

    # Never again: after a reload only the prefix is on the page.
    page.reload()
    expect(row).to_contain_text("Active", timeout=LOAD_TIMEOUT_MS)
    expect(page.get_by_test_id("new-integration-key")).to_have_count(0)
    assert key not in page.content()
    prefix = row.locator("code").inner_text().rstrip("…")
    assert prefix and key.startswith(prefix) and len(prefix) < len(key)

    row.get_by_test_id("revoke-integration").click()
    expect(row).to_contain_text("Its key stops working at once")
    row.get_by_test_id("confirm-revoke").click()
    expect(page.get_by_test_id("integrations-notice")).to_contain_text("key revoked")
    expect(row).to_contain_text("Revoked")
    expect(row.get_by_test_id("revoke-integration")).to_have_count(0)

    refused = trigger(web_app, key)
    assert refused.status_code == 404, refused.text


def test_admin_edits_an_escalation_policy(
    web_app: str, browser: Browser, screenshots: Path
) -> None:
    page = open_page(browser, web_app, "admin", DESKTOP)
    row = page.get_by_test_id("policy-row").filter(has_text="Default P1")
    expect(row).to_contain_text("after 120 s: ward_role charge_nurse", timeout=LOAD_TIMEOUT_MS)
    expect(row).to_contain_text("All wards")
    row.get_by_test_id("edit-policy").click()
    editor = page.get_by_test_id("policy-json")
    expect(editor).to_be_visible()
    policy = json.loads(editor.input_value())
    assert policy["steps"][1]["delay_seconds"] == 120

    policy["steps"][1]["delay_seconds"] = -5
    editor.fill(json.dumps(policy, indent=2))
    page.get_by_role("button", name="Save policy").click()
    errors = page.get_by_test_id("policy-field-errors")
    expect(errors).to_contain_text("steps[1].delay_seconds: must not be negative, got -5")
    expect(page.get_by_test_id("policies-error")).to_contain_text("Not saved")
    page.screenshot(path=str(screenshots / "admin-desktop-policy-error.png"), full_page=True)

    policy["steps"][1]["delay_seconds"] = 90
    editor.fill(json.dumps(policy, indent=2))
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_test_id("policies-notice")).to_contain_text("Saved Default P1")
    expect(row).to_contain_text("after 90 s: ward_role charge_nurse")
    expect(errors).to_have_count(0)

    from healthguard.db import session_scope
    from healthguard.models import EscalationPolicy

    with session_scope() as session:
        stored = session.exec(
            select(EscalationPolicy).where(EscalationPolicy.name.startswith("Default P1"))  # type: ignore[attr-defined]
        ).one()
        assert stored.definition["steps"][1]["delay_seconds"] == 90


def test_admin_turns_an_alarm_rule_off_and_on(web_app: str, browser: Browser) -> None:
    page = open_page(browser, web_app, "admin", DESKTOP)
    row = page.get_by_test_id("rule-row").filter(has_text="spo2_low_scale2")
    expect(row).to_contain_text("On", timeout=LOAD_TIMEOUT_MS)
    row.get_by_role("button", name="Turn off").click()
    expect(page.get_by_test_id("rules-notice")).to_contain_text("is off")
    expect(row.get_by_role("button", name="Turn on")).to_be_visible()

    from healthguard.db import session_scope
    from healthguard.models import AlarmRule

    with session_scope() as session:
        stored = session.exec(select(AlarmRule).where(AlarmRule.key == "spo2_low_scale2")).one()
        assert stored.enabled is False and stored.updated_by == "admin"
        priority = stored.priority
    row.get_by_role("button", name="Turn on").click()
    expect(row.get_by_role("button", name="Turn off")).to_be_visible()

    # The rule's common fields in a form, beside its thresholds' JSON.
    row.get_by_test_id("edit-rule").click()
    expect(page.locator("#rule-priority")).to_have_value(priority)
    expect(page.locator("#rule-enabled")).to_be_checked()
    page.fill("#rule-name", "")
    page.fill("#rule-name", "SpO2 low on Scale 2 (reviewed)")
    page.get_by_role("button", name="Save rule").click()
    expect(page.get_by_test_id("rules-notice")).to_contain_text(
        "Saved SpO2 low on Scale 2 (reviewed)"
    )
    expect(row).to_contain_text("SpO2 low on Scale 2 (reviewed)")
    expect(row).to_contain_text("On")


def admin_denials(username: str) -> list[int]:
    """Ids of the access.denied rows the admin page wrote for `username`."""
    from healthguard.db import session_scope
    from healthguard.models import AuditLog

    with session_scope() as session:
        rows = session.exec(
            select(AuditLog).where(
                AuditLog.actor == username,
                AuditLog.action == "access.denied",
                AuditLog.record_id == "admin",
            )
        ).all()
        return [int(r.id or 0) for r in rows]


def test_admin_adds_a_user_who_then_signs_in(
    web_app: str, browser: Browser, screenshots: Path
) -> None:
    page = open_page(browser, web_app, "admin", DESKTOP)
    form = page.get_by_test_id("add-user-form")
    expect(form.get_by_role("heading", name="Add a user")).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    expect(page.get_by_test_id("user-row").first).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    password = "Night shift 2026 cardio"

    def fill(username: str) -> None:
        page.fill("#new-user-username", username)
        page.select_option("#new-user-role", "nurse")
        page.fill("#new-user-password", password)
        page.fill("#new-user-password-repeat", password)
        form.get_by_role("button", name="Add user").click()

    fill("nurse.card")
    expect(page.get_by_test_id("users-error")).to_have_text("Username: is already taken")

    staff = page.locator("#new-user-staff option").nth(1)
    staff_name = staff.inner_text().split(" · ")[0]
    page.select_option("#new-user-staff", staff.get_attribute("value"))
    fill("nurse.e2e")
    expect(page.get_by_test_id("users-notice")).to_contain_text("Added nurse.e2e (nurse)")
    expect(page.get_by_test_id("users-error")).to_have_count(0)
    row = page.get_by_test_id("user-row").filter(has_text="nurse.e2e")
    expect(row).to_contain_text(staff_name)
    expect(row).to_contain_text("Active")
    expect(page.locator("#new-user-username")).to_have_value("")  # the form is emptied
    page.screenshot(path=str(screenshots / "admin-desktop-user-added.png"), full_page=True)

    signing_in = browser.new_context(viewport=DESKTOP).new_page()
    signing_in.goto(f"{web_app}/login")
    signing_in.fill("#username", "nurse.e2e")
    signing_in.fill("#password", password)
    signing_in.click("button[type=submit]")
    signing_in.wait_for_url(f"{web_app}/", timeout=LOAD_TIMEOUT_MS)
    expect(signing_in.get_by_test_id("signed-in-as")).to_contain_text("nurse.e2e")


def test_a_nurse_reads_not_allowed_and_no_data(
    web_app: str, browser: Browser, screenshots: Path
) -> None:
    before = admin_denials("nurse.card")
    page = open_page(browser, web_app, "nurse.card", DESKTOP)
    expect(page.get_by_test_id("admin-not-allowed")).to_have_text(
        "Not allowed: the administration page is for administrators only.",
        timeout=LOAD_TIMEOUT_MS,
    )
    # One visit, one denial: the page has a single loader, which has answered by now.
    assert len(admin_denials("nurse.card")) == len(before) + 1
    expect(page.get_by_test_id("integration-row")).to_have_count(0)
    expect(page.get_by_test_id("user-row")).to_have_count(0)
    expect(page.get_by_test_id("policy-row")).to_have_count(0)
    expect(page.get_by_test_id("rule-row")).to_have_count(0)
    # the header offers a nurse her pages only (each page checks on the server anyway)
    navigation = page.get_by_test_id("page-navigation")
    expect(navigation.get_by_role("link", name="Dashboard")).to_be_visible()
    expect(navigation.get_by_role("link", name="Administration")).to_have_count(0)
    page.screenshot(path=str(screenshots / "admin-desktop-nurse-not-allowed.png"))


@pytest.mark.parametrize(
    ("name", "viewport"), [("desktop", DESKTOP), ("tablet", TABLET), ("phone", PHONE)]
)
def test_admin_page_fits_every_screen(
    web_app: str, browser: Browser, screenshots: Path, name: str, viewport: dict[str, int]
) -> None:
    page = open_page(browser, web_app, "admin", viewport)
    expect(page.get_by_test_id("user-row").first).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    expect(page.get_by_test_id("policy-row").first).to_be_visible()
    assert no_horizontal_scroll(page) <= 0, f"{name}: the page scrolls sideways"
    page.screenshot(path=str(screenshots / f"admin-{name}.png"), full_page=True)
