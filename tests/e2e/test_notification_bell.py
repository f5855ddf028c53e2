"""The header's notification bell in Chromium, against the prod-built app with the real
alerts worker and scheduler: a P1 opened for a nurse's ward is assigned to her and delivered
in-app by the worker (the real service path); her bell, on the live dashboard next to the
ward feed, counts it without a reload, red and with "P1" in words, and sounds the alarm
tone once; the panel (a button with aria-expanded, Escape closes) shows the incident, the
priority and the state; "Mark read" lowers the count and is stored with a timeline entry; a
muted device counts a second P1 silently; "Mark all read" on the desktop clears the bell on
her phone too (390 x 844, no horizontal scroll). An auditor (no staff record) sees a
disabled bell that says why. The web log shows no expired Reflex state lock."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from e2e_support import DESKTOP, PHONE, TABLET, session_cookie, wait_for_page
from playwright.sync_api import Browser, Page, expect
from sqlmodel import Session, select

from healthguard.db import get_engine, session_scope
from healthguard.incidents.service import open_incident
from healthguard.models import (
    EscalationPolicy,
    IncidentEvent,
    Notification,
    Shift,
    Staff,
    StaffSkill,
    User,
    Ward,
)
from healthguard.realtime import ChangeEvent, publish_change
from workers.queues import redis_connection

pytestmark = pytest.mark.e2e

RED_BADGE = "rgb(200, 30, 30)"  # styles.ALARM_COLOURS["red"]["badge"], #c81e1e
WEB_LOG = Path(__file__).resolve().parents[2] / "test-artifacts" / "web.log"


def ward_with_a_nurse() -> tuple[str, str, uuid.UUID]:
    """A ward of its own with one nurse on shift (a login, ACLS) and a one-step P1 policy
    that notifies the assignee: (ward code, username, staff id)."""
    now = datetime.now(UTC)
    suffix = uuid.uuid4().hex[:6].upper()
    code = f"B{suffix}"
    with session_scope() as session:
        ward = Ward(code=code, name=f"Bell ward {suffix}")
        session.add(ward)
        session.flush()
        staff = Staff(display_name=f"Nia {suffix}", role="nurse", home_ward_id=ward.id)
        session.add(staff)
        session.flush()
        username = f"nia.{suffix.lower()}"
        session.add(User(username=username, role="nurse", staff_id=staff.id))
        for skill in ("BLS", "ACLS"):
            session.add(
                StaffSkill(staff_id=staff.id, skill=skill, expires_on=date.today() + timedelta(300))
            )
        session.add(
            Shift(
                staff_id=staff.id,
                ward_id=ward.id,
                role="nurse",
                starts_at=now - timedelta(hours=1),
                ends_at=now + timedelta(hours=11),
            )
        )
        session.add(
            EscalationPolicy(
                name=f"{code} P1",
                priority="P1",
                ward_id=ward.id,
                definition={
                    "name": f"{code} P1",
                    "priority": "P1",
                    "steps": [{"delay_seconds": 0, "targets": [{"kind": "assignee", "ref": ""}]}],
                    "ack_timeout_seconds": 600,
                },
            )
        )
        return code, username, staff.id


def open_p1(code: str, title: str) -> tuple[uuid.UUID, int]:
    """Open a P1 through the incident service (assignment, escalation, delivery follow),
    then tell the screens, as every opener does after its commit (raise_as, the triage
    worker, the integrations)."""
    with session_scope() as session:
        incident = open_incident(
            session, title=title, priority="P1", now=datetime.now(UTC), ward_code=code
        )
        opened = incident.id, int(incident.number or 0)
    event = ChangeEvent(kind="incident.opened", entity_id=str(opened[0]), ward_code=code)
    publish_change(redis_connection(), event)
    return opened


def in_app_rows(staff_id: uuid.UUID, incident_id: uuid.UUID) -> list[Notification]:
    with Session(get_engine()) as session:
        return list(
            session.exec(
                select(Notification).where(
                    Notification.staff_id == staff_id,
                    Notification.incident_id == incident_id,
                    Notification.channel == "in_app",
                )
            ).all()
        )


def read_entries(incident_id: uuid.UUID) -> list[IncidentEvent]:
    with Session(get_engine()) as session:
        return list(
            session.exec(
                select(IncidentEvent).where(
                    IncidentEvent.incident_id == incident_id,
                    IncidentEvent.kind == "notification.read",
                )
            ).all()
        )


def wait_for_js(page: Page, condition: str, timeout: float = 10) -> None:
    """Wait until the page's `condition` (an expression) holds."""
    wait_for_page(page, f"() => Boolean({condition})", timeout)


def no_horizontal_scroll(page: Page) -> None:
    width = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert width[0] <= width[1], f"horizontal scroll: {width}"


def test_bell_counts_live_marks_read_sounds_and_mutes(
    web_app: str, alerts_workers, browser: Browser, screenshots
) -> None:
    code, username, staff_id = ward_with_a_nurse()
    context = browser.new_context(viewport=DESKTOP)
    context.add_cookies([session_cookie(web_app, username)])  # type: ignore[list-item]
    page = context.new_page()
    page.goto(web_app)
    bell = page.get_by_test_id("bell")
    expect(bell).to_have_attribute("aria-label", "Notifications: none unread", timeout=120_000)
    expect(bell).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_test_id("bell-count")).to_have_count(0)
    box = bell.bounding_box()
    assert box is not None and box["height"] >= 44 and box["width"] >= 44

    # Sound: the browser keeps audio off until a tap, and the control says so in words.
    sound = page.locator("hg-bell-sound")
    sound_button = sound.get_by_test_id("bell-sound")
    expect(sound_button).to_be_visible(timeout=30_000)
    if sound.get_attribute("data-sound") == "locked":
        expect(sound_button).to_have_text("Tap to enable sound")
        sound_button.click()
    expect(sound).to_have_attribute("data-sound", "on", timeout=10_000)
    expect(sound_button).to_have_text("Mute sound 15 min")

    # A P1 for her ward: assigned to her, delivered in-app by the alerts worker, live.
    first, number = open_p1(code, f"NEWS2 7: SpO2 89 ({code})")
    expect(page.get_by_test_id("bell-count")).to_have_text("1", timeout=60_000)
    expect(page.get_by_test_id("bell-priority")).to_contain_text("P1")
    expect(bell).to_have_attribute(
        "aria-label", "Notifications: 1 unread alarm, highest P1 Emergency"
    )
    expect(page.get_by_test_id("bell-badge")).to_have_css("background-color", RED_BADGE)
    wait_for_js(page, "window.hgBellTones === 1")

    # Keyboard: Enter opens, Escape closes and the bell says so.
    bell.focus()
    page.keyboard.press("Enter")
    expect(bell).to_have_attribute("aria-expanded", "true")
    item = page.locator(f'[data-testid="bell-item"][data-incident-id="{first}"]')
    expect(item).to_be_visible(timeout=10_000)
    page.keyboard.press("Escape")
    expect(item).to_have_count(0)
    expect(bell).to_have_attribute("aria-expanded", "false")

    bell.click()
    expect(item).to_be_visible(timeout=10_000)
    expect(item).to_contain_text(f"#{number}")
    expect(item.get_by_test_id("bell-item-priority")).to_have_text("P1 Emergency")
    expect(item).to_contain_text(f"NEWS2 7: SpO2 89 ({code})")
    expect(item.get_by_test_id("bell-item-channels")).to_contain_text("in-app: ")
    expect(item).to_contain_text("Incident: Not acknowledged")
    expect(item.get_by_test_id("bell-item-status")).to_have_text("Unread")
    expect(item.locator("a").first).to_have_attribute("href", f"/incidents/{first}")
    expect(page.get_by_test_id("bell-open-my")).to_have_attribute("href", "/my")
    page.screenshot(path=str(screenshots / "bell-open-p1-desktop.png"), animations="disabled")

    # Mark read: the count drops live; stored as read, with a timeline entry.
    mark = item.get_by_test_id("bell-mark-read")
    mark_box = mark.bounding_box()
    assert mark_box is not None and mark_box["height"] >= 44
    mark.click()
    expect(page.get_by_test_id("bell-count")).to_have_count(0, timeout=30_000)
    expect(item.get_by_test_id("bell-item-status")).to_have_text("Read")
    rows = in_app_rows(staff_id, first)
    assert rows and all(r.status == "read" and r.read_at is not None for r in rows), rows
    assert len(read_entries(first)) == 1
    page.keyboard.press("Escape")

    # Muted for 15 minutes on this device: a second P1 is counted, the tone is skipped.
    sound_button.click()
    expect(sound).to_have_attribute("data-sound", "muted")
    expect(sound_button).to_contain_text("Sound off until")
    second, _ = open_p1(code, f"NEWS2 8: RR 27 ({code})")
    expect(page.get_by_test_id("bell-count")).to_have_text("1", timeout=60_000)
    wait_for_js(page, "window.hgBellTonesMuted === 1")
    assert page.evaluate("window.hgBellTones") == 1

    # Her phone at the same time: the bell shows the unread P1, nothing scrolls sideways.
    phone = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    phone.add_cookies([session_cookie(web_app, username)])  # type: ignore[list-item]
    phone_page = phone.new_page()
    phone_page.goto(f"{web_app}/my")
    expect(phone_page.get_by_test_id("bell-count")).to_have_text("1", timeout=60_000)
    no_horizontal_scroll(phone_page)
    phone_page.get_by_test_id("bell").tap()
    phone_item = phone_page.locator(f'[data-testid="bell-item"][data-incident-id="{second}"]')
    expect(phone_item).to_be_visible(timeout=10_000)
    expect(phone_item.get_by_test_id("bell-item-priority")).to_have_text("P1 Emergency")
    no_horizontal_scroll(phone_page)
    phone_page.screenshot(path=str(screenshots / "bell-open-phone.png"), animations="disabled")

    # "Mark all read" on the desktop: the phone's bell clears without a reload.
    bell.click()
    page.get_by_test_id("bell-mark-all-read").click()
    expect(page.get_by_test_id("bell-count")).to_have_count(0, timeout=30_000)
    expect(phone_page.get_by_test_id("bell-count")).to_have_count(0, timeout=30_000)
    expect(phone_item.get_by_test_id("bell-item-status")).to_have_text("Read", timeout=30_000)
    assert all(r.read_at is not None for r in in_app_rows(staff_id, second))
    no_horizontal_scroll(page)  # desktop, the panel open
    page.set_viewport_size(TABLET)
    expect(page.get_by_test_id("bell-list")).to_be_visible()
    no_horizontal_scroll(page)
    phone.close()
    context.close()

    log = WEB_LOG.read_text(encoding="utf-8", errors="replace")
    assert "Lock expired" not in log and "Error updating linked client" not in log


def test_an_auditor_sees_a_disabled_bell_that_says_why(web_app: str, browser: Browser) -> None:
    context = browser.new_context(viewport=DESKTOP)
    context.add_cookies([session_cookie(web_app, "auditor")])  # type: ignore[list-item]
    page = context.new_page()
    page.goto(f"{web_app}/audit")
    disabled = page.get_by_test_id("bell-disabled")
    expect(disabled).to_be_visible(timeout=120_000)
    expect(disabled).to_be_disabled()
    expect(disabled).to_have_attribute(
        "title",
        "No notifications: your account is not linked "
        "to a staff member, so HealthGuard sends you none.",
    )
    expect(page.get_by_test_id("bell")).to_have_count(0)
    context.close()


def test_the_command_centre_sounds_and_notifies_a_new_p1_of_its_ward(
    web_app: str, alerts_workers, browser: Browser
) -> None:
    """A physician watching a ward on the dashboard (not on shift: never the assignee) hears
    the alarm tone and gets a browser notification when a new P1 of that ward opens: the
    sound follows the watched ward, not only the person's own notifications."""
    code, _, _ = ward_with_a_nurse()
    suffix = uuid.uuid4().hex[:6]
    with session_scope() as session:
        doctor = Staff(display_name=f"Dr Ray {suffix}", role="attending")
        session.add(doctor)
        session.flush()
        session.add(User(username=f"ray.{suffix}", role="physician", staff_id=doctor.id))
    context = browser.new_context(viewport=DESKTOP, permissions=["notifications"])
    context.add_cookies([session_cookie(web_app, f"ray.{suffix}")])  # type: ignore[list-item]
    page = context.new_page()
    page.goto(web_app)
    expect(page.locator(f'#ward-selector option[value="{code}"]')).to_be_attached(timeout=120_000)
    page.select_option("#ward-selector", code)
    sound = page.locator("hg-bell-sound")
    sound_button = sound.get_by_test_id("bell-sound")
    expect(sound_button).to_be_visible(timeout=30_000)
    page.keyboard.press("Shift")  # any key or tap lets the page play sound (browser rule)
    expect(sound).to_have_attribute("data-sound", "on", timeout=10_000)
    before = page.evaluate("() => [window.hgBellTones || 0, window.hgBellNotices || 0]")

    title = f"NEWS2 7: RR 25 ({code})"
    open_p1(code, title)
    tones, notices = before
    wait_for_js(
        page,
        f"(window.hgBellTones || 0) > {tones} && (window.hgBellNotices || 0) > {notices}",
        timeout=60,
    )
    expect(sound).to_have_attribute("message", f"P1 Emergency · {code}: {title} (secondary alarm)")
    context.close()
