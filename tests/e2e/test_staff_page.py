"""Staff and schedules in real Chromium: the ICU charge nurse sees a coverage gap highlighted
on the roster and approves a swap asked for through the service (the roster follows); a nurse
asks for swaps on the page and the charge nurse approves one there (the roster follows) while
the other is refused for too little rest, in words; a nurse of another ward never sees the ICU
roster; a charge nurse adds an override on the page and removes it (the roster follows), a
nurse sees neither the forms nor Remove; the dashboard's staff panel shows an availability
change made through the API without a reload; the page fits every screen."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from e2e_support import DESKTOP, PHONE, TABLET, session_cookie
from playwright.sync_api import Browser, Page, expect
from sqlmodel import select

pytestmark = pytest.mark.e2e

LIVE_TIMEOUT_MS = 45_000  # the staff panel re-reads every 15 s


def _principal(username: str) -> Any:
    from healthguard.db import session_scope
    from healthguard.models import User
    from healthguard.security.accounts import principal_of

    with session_scope() as session:
        return principal_of(session.exec(select(User).where(User.username == username)).one())


def _staff_id(name: str) -> uuid.UUID:
    from healthguard.db import session_scope
    from healthguard.models import Staff

    with session_scope() as session:
        return session.exec(select(Staff).where(Staff.display_name == name)).one().id


def _new_icu_nurse(name: str) -> uuid.UUID:
    from healthguard.db import session_scope
    from healthguard.models import Staff, Ward

    with session_scope() as session:
        icu = session.exec(select(Ward).where(Ward.code == "ICU")).one()
        person = Staff(display_name=name, role="nurse", home_ward_id=icu.id)
        session.add(person)
        session.flush()
        return person.id


@pytest.fixture(scope="module")
def icu_rota(seeded: dict[str, int]) -> Iterator[dict[str, Any]]:
    """An ICU nurse rota of four 12 h shifts in turn from the day after tomorrow (Marco
    Rossi and Nadia Petrova on alternate days, Zoe Taylor and Ivy Reed on alternate nights),
    an "ACLS-certified nurse" requirement nobody meets (a gap), and Marco's request to give
    his day shift four days ahead to Nadia (12 h rest either side of it), asked for through
    the swap service."""
    from healthguard.db import session_scope
    from healthguard.oncall import roster
    from healthguard.oncall import staff_service as staff_svc
    from healthguard.settings import get_settings

    zone = ZoneInfo(get_settings().timezone)
    now = datetime.now(UTC)
    today = now.astimezone(zone).date()
    marco, zoe, nadia = (_staff_id(n) for n in ("Marco Rossi", "Zoe Taylor", "Nadia Petrova"))
    ivy = _new_icu_nurse("Ivy Reed")
    anchor = today + timedelta(days=2)
    layer = {
        "name": "ICU nurses",
        "mode": "replace",
        "rotation": {
            "participants": [str(p) for p in (marco, zoe, nadia, ivy)],
            "anchor": f"{anchor.isoformat()}T07:00",
            "handoff": "shift",
            "shift_hours": 12,
            "custom_hours": [],
        },
        "windows": [],
    }
    swap_day = today + timedelta(days=4)  # Marco's second day shift
    give_start = datetime.combine(swap_day, time(7), tzinfo=zone)
    with session_scope() as session:
        admin = _principal("admin")
        schedule = roster.create_schedule(
            session,
            admin,
            roster.ScheduleInput(
                "ICU nurses (e2e)", "ICU", "nurse", get_settings().timezone, [layer]
            ),
            now=now,
        )
        roster.create_requirement(
            session, admin, roster.RequirementInput("ICU", "nurse", 1, "ACLS"), now=now
        )
        swap = staff_svc.request_swap(
            session,
            _principal("nurse.icu"),
            staff_svc.SwapInput(
                schedule_id=schedule.id,
                colleague_id=nadia,
                give_starts_at=give_start,
                give_ends_at=give_start + timedelta(hours=12),
            ),
            now=now,
        )
        swap_id = str(swap.id)
    yield {"swap_id": swap_id, "swap_day": swap_day.isoformat()}


def open_page(browser: Browser, base: str, path: str, username: str, viewport: dict) -> Page:
    context = browser.new_context(viewport=viewport)
    context.add_cookies([session_cookie(base, username)])  # type: ignore[list-item]
    page = context.new_page()
    page.goto(f"{base}{path}")
    return page


def no_horizontal_scroll(page: Page) -> int:
    return int(
        page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    )


def test_charge_nurse_sees_the_gap_and_approves_the_swap(
    web_app: str, browser: Browser, icu_rota: dict[str, Any], screenshots: Path
) -> None:
    page = open_page(browser, web_app, "/staff?ward=ICU", "charge.icu", DESKTOP)
    expect(page.locator("#roster-ward")).to_have_value("ICU", timeout=60_000)
    gap = page.get_by_test_id("roster-gap").first
    expect(gap).to_be_visible()
    expect(gap).to_contain_text("Coverage gap")
    expect(gap).to_contain_text("ICU has no ACLS-certified nurse")
    expect(page.get_by_test_id("gap-message").first).to_contain_text(
        "ICU has no ACLS-certified nurse"
    )

    swap_day = page.locator(f'[data-testid="roster-day"][data-date="{icu_rota["swap_day"]}"]')
    expect(swap_day).to_contain_text("Marco Rossi")
    swap = page.locator(f'[data-swap-id="{icu_rota["swap_id"]}"]')
    expect(swap).to_contain_text("Marco Rossi gives")
    expect(swap).to_contain_text("to Nadia Petrova")
    expect(swap.get_by_test_id("swap-status")).to_have_text("Waiting for a charge nurse")
    page.screenshot(path=str(screenshots / "staff-desktop-swap-requested.png"), full_page=True)

    swap.get_by_test_id("swap-approve").click()
    expect(page.get_by_test_id("swap-notice")).to_contain_text("Swap approved")
    expect(swap.get_by_test_id("swap-status")).to_have_text("Approved by charge.icu")
    expect(swap.get_by_test_id("swap-approve")).to_have_count(0)
    # The roster now has Nadia instead of Marco on that day shift; the override is listed.
    expect(swap_day).not_to_contain_text("Marco Rossi")
    expect(swap_day.get_by_test_id("roster-shift").first).to_contain_text("Nadia Petrova")
    expect(page.get_by_test_id("override").first).to_contain_text(
        "Nadia Petrova replaces Marco Rossi"
    )
    page.screenshot(path=str(screenshots / "staff-desktop-swap-approved.png"), full_page=True)


def test_charge_nurse_declines_with_a_reason_in_words(
    web_app: str, browser: Browser, icu_rota: dict[str, Any]
) -> None:
    from healthguard.db import session_scope
    from healthguard.models import Schedule
    from healthguard.oncall import staff_service as staff_svc
    from healthguard.settings import get_settings

    zone = ZoneInfo(get_settings().timezone)
    now = datetime.now(UTC)
    day = datetime.combine(now.astimezone(zone).date() + timedelta(days=6), time(7), tzinfo=zone)
    with session_scope() as session:
        schedule = session.exec(select(Schedule).where(Schedule.name == "ICU nurses (e2e)")).one()
        # Marco (nurse.icu) asks to give his day shift six days ahead to Nadia.
        swap = staff_svc.request_swap(
            session,
            _principal("nurse.icu"),
            staff_svc.SwapInput(
                schedule.id, _staff_id("Nadia Petrova"), day, day + timedelta(hours=12)
            ),
            now=now,
        )
        swap_id = str(swap.id)
    page = open_page(browser, web_app, "/staff?ward=ICU", "charge.icu", TABLET)
    item = page.locator(f'[data-swap-id="{swap_id}"]')
    expect(item.get_by_test_id("swap-status")).to_have_text(
        "Waiting for a charge nurse", timeout=60_000
    )
    item.get_by_test_id("swap-decline-reason").fill("Nadia is on a course that day")
    item.get_by_test_id("swap-decline").click()
    expect(page.get_by_test_id("swap-notice")).to_contain_text("Swap declined")
    expect(item.get_by_test_id("swap-status")).to_have_text(
        "Declined by charge.icu: Nadia is on a course that day"
    )


def _rota_day_key(days_ahead: int) -> str:
    """The swap form's value for Marco's 07:00 day shift ``days_ahead`` days from today."""
    from healthguard.db import session_scope
    from healthguard.models import Schedule
    from healthguard.settings import get_settings
    from healthguard.ui.states.swaps import shift_key

    zone = ZoneInfo(get_settings().timezone)
    day = datetime.now(UTC).astimezone(zone).date() + timedelta(days=days_ahead)
    with session_scope() as session:
        schedule = session.exec(select(Schedule).where(Schedule.name == "ICU nurses (e2e)")).one()
        return shift_key(schedule.id, datetime.combine(day, time(7), tzinfo=zone))


def test_nurse_asks_for_swaps_and_the_charge_nurse_decides_on_the_page(
    web_app: str, browser: Browser, icu_rota: dict[str, Any], screenshots: Path
) -> None:
    from healthguard.settings import get_settings

    zone = ZoneInfo(get_settings().timezone)
    day_two = (datetime.now(UTC).astimezone(zone).date() + timedelta(days=2)).isoformat()
    # Marco (nurse.icu), on a phone, gives his day shift the day after tomorrow to Ivy Reed.
    nurse = open_page(browser, web_app, "/staff?ward=ICU", "nurse.icu", PHONE)
    form = nurse.get_by_test_id("swap-request")
    expect(form).to_be_visible(timeout=60_000)
    nurse.get_by_label("Your shift").select_option(_rota_day_key(2))
    nurse.get_by_label("Colleague who takes it").select_option(label="Ivy Reed")
    # The ICU nurses who could take it; not Marco himself, not the charge nurses.
    colleagues = nurse.locator("#swap-colleague")
    expect(colleagues).to_contain_text("Nadia Petrova")
    expect(colleagues).to_contain_text("Zoe Taylor")
    expect(colleagues).not_to_contain_text("Marco Rossi")
    expect(colleagues).not_to_contain_text("Rachel Stein")
    nurse.get_by_test_id("swap-request-submit").click()
    expect(nurse.get_by_test_id("swap-notice")).to_contain_text("Asked Ivy Reed to take your shift")
    mine = nurse.get_by_test_id("my-swap").filter(has_text="Ivy Reed")
    expect(mine.get_by_test_id("swap-direction")).to_have_text("You asked")
    expect(mine.get_by_test_id("swap-status")).to_have_text("Waiting for a charge nurse")
    # His day shift six days ahead to Zoe Taylor, who works the night after it: asked, with
    # the warning in words.
    nurse.get_by_label("Your shift").select_option(_rota_day_key(6))
    nurse.get_by_label("Colleague who takes it").select_option(label="Zoe Taylor")
    nurse.get_by_test_id("swap-request-submit").click()
    expect(nurse.get_by_test_id("swap-notice")).to_contain_text("Asked Zoe Taylor")
    expect(nurse.get_by_test_id("swap-request-warning")).to_contain_text(
        "Zoe Taylor would work 19:00-07:00"
    )
    expect(nurse.get_by_test_id("swap-request-warning")).to_contain_text("0 h rest, needs 11 h")
    # His day shift eight days ahead to Nadia Petrova, for her day shift the day before: once
    # she is chosen, her shifts on the same rota are offered in return.
    nurse.get_by_label("Your shift").select_option(_rota_day_key(8))
    nurse.get_by_label("Colleague who takes it").select_option(label="Nadia Petrova")
    in_return = nurse.locator("#swap-in-return")
    expect(in_return.locator(f'option[value="{_rota_day_key(7)}"]')).to_have_count(1)
    expect(in_return.locator(f'option[value="{_rota_day_key(8)}"]')).to_have_count(0)
    nurse.get_by_label("In return (optional)").select_option(_rota_day_key(7))
    nurse.get_by_test_id("swap-request-submit").click()
    notice = nurse.get_by_test_id("swap-notice")
    expect(notice).to_contain_text("Asked Nadia Petrova to take your shift")
    expect(notice).to_contain_text("and give you their shift")
    swapped = nurse.get_by_test_id("my-swap").filter(has_text="you take their")
    expect(swapped).to_contain_text("Nadia Petrova")
    expect(swapped.get_by_test_id("swap-status")).to_have_text("Waiting for a charge nurse")
    assert no_horizontal_scroll(nurse) <= 0
    nurse.screenshot(path=str(screenshots / "staff-phone-swap-asked.png"), full_page=True)

    # The ICU charge nurse, on a tablet, approves the first: the roster shows Ivy on that day.
    charge = open_page(browser, web_app, "/staff?ward=ICU", "charge.icu", TABLET)
    to_ivy = charge.get_by_test_id("swap").filter(has_text="to Ivy Reed")
    expect(to_ivy.get_by_test_id("swap-status")).to_have_text(
        "Waiting for a charge nurse", timeout=60_000
    )
    day = charge.locator(f'[data-testid="roster-day"][data-date="{day_two}"]')
    expect(day).to_contain_text("Marco Rossi")
    to_ivy.get_by_test_id("swap-approve").click()
    expect(charge.get_by_test_id("swap-notice")).to_contain_text("Swap approved")
    expect(to_ivy.get_by_test_id("swap-status")).to_have_text("Approved by charge.icu")
    expect(day).to_contain_text("Ivy Reed")
    expect(day).not_to_contain_text("Marco Rossi")
    # The second is refused for too little rest, said in words; it stays waiting.
    to_zoe = charge.get_by_test_id("swap").filter(has_text="to Zoe Taylor")
    expect(to_zoe.get_by_test_id("swap-warning")).to_contain_text("0 h rest, needs 11 h")
    to_zoe.get_by_test_id("swap-approve").click()
    refusal = charge.get_by_test_id("swap-error")
    expect(refusal).to_contain_text("Not done: Cannot approve: Zoe Taylor would work 19:00-07:00")
    expect(refusal).to_contain_text("0 h rest, needs 11 h")
    expect(to_zoe.get_by_test_id("swap-status")).to_have_text("Waiting for a charge nurse")
    assert no_horizontal_scroll(charge) <= 0
    charge.screenshot(path=str(screenshots / "staff-tablet-swap-refused.png"), full_page=True)


def test_nurse_of_another_ward_does_not_see_the_icu_roster(
    web_app: str, browser: Browser, icu_rota: dict[str, Any], screenshots: Path
) -> None:
    page = open_page(browser, web_app, "/staff?ward=ICU", "nurse.card", PHONE)
    expect(page.get_by_test_id("staff-message")).to_have_text(
        "You cannot see the roster of ward ICU.", timeout=60_000
    )
    expect(page.locator("#roster-ward")).to_have_value("CARD")
    expect(page.locator("#roster-ward option")).to_have_count(1)
    expect(page.get_by_test_id("roster-grid")).to_be_visible()
    expect(page.get_by_test_id("roster-grid")).not_to_contain_text("Marco Rossi")
    expect(page.get_by_test_id("roster-grid")).not_to_contain_text("Zoe Taylor")
    expect(page.get_by_test_id("roster-gap")).to_have_count(0)  # gaps: charge nurses only
    expect(page.locator(f'[data-swap-id="{icu_rota["swap_id"]}"]')).to_have_count(0)
    # My schedule: James Carter's own shifts and the calendar feed route.
    expect(page.get_by_test_id("my-shift").first).to_contain_text("CARD")
    expect(page.get_by_test_id("ical-route")).to_contain_text(
        f"/api/v1/staff/{_staff_id('James Carter')}/calendar.ics"
    )
    assert no_horizontal_scroll(page) <= 0
    page.screenshot(path=str(screenshots / "staff-phone-nurse.png"), full_page=True)
    # The calendar download: the same iCalendar the calendar.ics route serves.
    with page.expect_download() as download:
        page.get_by_test_id("download-calendar").click()
    assert download.value.suggested_filename == "my-shifts.ics"
    content = Path(download.value.path()).read_text(encoding="utf-8")
    assert content.startswith("BEGIN:VCALENDAR")


@pytest.mark.parametrize(
    ("name", "viewport"), [("desktop", DESKTOP), ("tablet", TABLET), ("phone", PHONE)]
)
def test_staff_page_fits_every_screen(
    web_app: str,
    browser: Browser,
    icu_rota: dict[str, Any],
    screenshots: Path,
    name: str,
    viewport: dict[str, int],
) -> None:
    page = open_page(browser, web_app, "/staff?ward=ICU", "charge.icu", viewport)
    expect(page.get_by_test_id("roster-day")).to_have_count(7, timeout=60_000)
    assert no_horizontal_scroll(page) <= 0, f"{name}: the page scrolls sideways"
    page.screenshot(path=str(screenshots / f"staff-{name}.png"), full_page=True)


def test_staff_panel_shows_an_availability_change_without_reload(
    web_app: str, browser: Browser, screenshots: Path
) -> None:
    from healthguard.security.demo import DEMO_PASSWORD

    page = open_page(browser, web_app, "/", "charge.icu", DESKTOP)
    expect(page.locator("#ward-selector")).to_have_value("ICU", timeout=60_000)
    rows = page.get_by_test_id("staff-status-row")
    expect(rows.first).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("next-change")).not_to_have_text("")
    # A nurse on shift now (the day or the night team, whichever it is).
    nurse = rows.filter(has_text=" · nurse").first
    staff_id = nurse.get_attribute("data-staff-id")
    expect(nurse.get_by_test_id("staff-availability")).to_have_text("Available")
    page.evaluate("window.__noReloadMarker = 'still here'")

    token = httpx.post(
        f"{web_app}/api/v1/auth/token",
        json={"username": "charge.icu", "password": DEMO_PASSWORD},
        timeout=30,
    ).json()["access_token"]
    answer = httpx.put(
        f"{web_app}/api/v1/staff/{staff_id}/availability",
        json={"status": "on_break"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text

    row = page.locator(f'[data-testid="staff-status-row"][data-staff-id="{staff_id}"]')
    expect(row.get_by_test_id("staff-availability")).to_have_text(
        "On a break", timeout=LIVE_TIMEOUT_MS
    )
    assert page.evaluate("window.__noReloadMarker") == "still here"
    page.screenshot(path=str(screenshots / "dashboard-desktop-staff-status.png"), full_page=True)


def test_staff_panel_follows_the_dashboard_ward(web_app: str, browser: Browser) -> None:
    page = open_page(browser, web_app, "/", "dr.attending", DESKTOP)  # the whole hospital
    rows = page.get_by_test_id("staff-status-row")
    expect(rows.first).to_be_visible(timeout=60_000)
    page.locator("#ward-selector").select_option("CARD")
    # A cardiology charge nurse is on shift day and night; the ICU ones are not shown.
    expect(
        rows.filter(has_text="Maria Santos").or_(rows.filter(has_text="Olivia Grant"))
    ).to_be_visible()
    expect(rows.filter(has_text="Rachel Stein")).to_have_count(0)
    expect(rows.filter(has_text="Victor Hale")).to_have_count(0)
    page.locator("#ward-selector").select_option("ICU")
    expect(
        rows.filter(has_text="Rachel Stein").or_(rows.filter(has_text="Victor Hale"))
    ).to_be_visible()
    expect(rows.filter(has_text="Maria Santos")).to_have_count(0)
    expect(rows.filter(has_text="Olivia Grant")).to_have_count(0)


def test_charge_nurse_changes_the_rota_on_the_page_and_a_nurse_cannot(
    web_app: str, browser: Browser, icu_rota: dict[str, Any], screenshots: Path
) -> None:
    from healthguard.settings import get_settings

    zone = ZoneInfo(get_settings().timezone)
    day_six = datetime.now(UTC).astimezone(zone).date() + timedelta(days=6)  # Marco's day shift
    charge = open_page(browser, web_app, "/staff?ward=ICU", "charge.icu", PHONE)
    form = charge.get_by_test_id("override-form")
    expect(form).to_be_visible(timeout=60_000)
    expect(charge.get_by_test_id("import-form")).to_be_visible()
    day = charge.locator(f'[data-testid="roster-day"][data-date="{day_six.isoformat()}"]')
    expect(day).to_contain_text("Marco Rossi")
    expect(day).not_to_contain_text("Nadia Petrova")

    # Nadia Petrova covers Marco Rossi's day shift, typed in hospital time.
    charge.locator("#override-schedule").select_option(label="ICU nurses (e2e) · nurse")
    expect(charge.locator("#override-kind")).to_have_value("replace")
    expect(form).to_contain_text("Who takes over")
    charge.locator("#override-person").select_option(str(_staff_id("Nadia Petrova")))
    charge.locator("#override-replaces").select_option(str(_staff_id("Marco Rossi")))
    charge.get_by_label("Start (hospital time)", exact=True).fill(f"{day_six.isoformat()}T07:00")
    charge.get_by_label("End (hospital time)", exact=True).fill(f"{day_six.isoformat()}T19:00")
    charge.get_by_label("Reason (optional)", exact=True).fill("Study day (e2e)")
    charge.get_by_test_id("override-submit").click()
    expect(charge.get_by_test_id("override-notice")).to_contain_text(
        "Override added: Nadia Petrova replaces Marco Rossi"
    )
    expect(day).to_contain_text("Nadia Petrova")
    expect(day).not_to_contain_text("Marco Rossi")
    line = charge.get_by_test_id("override").filter(has_text="Study day (e2e)")
    expect(line).to_contain_text("Nadia Petrova replaces Marco Rossi")
    assert no_horizontal_scroll(charge) <= 0
    charge.screenshot(path=str(screenshots / "staff-phone-override-added.png"), full_page=True)

    # A nurse of the ward sees the override but neither the forms nor a Remove button.
    nurse = open_page(browser, web_app, "/staff?ward=ICU", "nurse.icu", PHONE)
    nurse_line = nurse.get_by_test_id("override").filter(has_text="Study day (e2e)")
    expect(nurse_line).to_contain_text("Nadia Petrova replaces Marco Rossi", timeout=60_000)
    expect(nurse.get_by_test_id("swap-request")).to_be_visible()
    expect(nurse.get_by_test_id("override-form")).to_have_count(0)
    expect(nurse.get_by_test_id("import-form")).to_have_count(0)
    expect(nurse.get_by_test_id("override-remove")).to_have_count(0)

    # The charge nurse removes it: the line is gone and Marco is back on the roster.
    line.get_by_test_id("override-remove").click()
    expect(charge.get_by_test_id("override-remove-notice")).to_contain_text(
        "Override removed: Nadia Petrova replaces Marco Rossi"
    )
    expect(line).to_have_count(0)
    expect(day).to_contain_text("Marco Rossi")
    expect(day).not_to_contain_text("Nadia Petrova")
