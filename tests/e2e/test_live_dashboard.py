"""The dashboard in real Chromium: a worker-created incident shows up live, everywhere."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from e2e_support import DESKTOP, PHONE, TABLET, session_cookie
from playwright.sync_api import Browser, Page, expect
from rq import Queue
from sqlmodel import col, select

from healthguard.db import session_scope
from healthguard.models import Admission, Bed, Incident, News2Score, Staff, User, Ward
from healthguard.ui.routes import patient_path

pytestmark = pytest.mark.e2e

LIVE_TIMEOUT_MS = 20_000


def open_dashboard(
    browser: Browser, url: str, viewport: dict[str, int], username: str = "dr.attending"
) -> Page:
    """The dashboard as `username` sees it (a physician sees the whole hospital)."""
    context = browser.new_context(viewport=viewport)
    context.add_cookies([session_cookie(url.split("/?")[0].rstrip("/"), username)])  # type: ignore[list-item]
    page = context.new_page()
    page.goto(url)
    expect(page.get_by_test_id("bed-card").first).to_be_visible(timeout=60_000)
    return page


def enqueue_incident(redis_url: str, title: str, ward: str, bed: str, priority: str = "P1") -> None:
    queue = Queue("default", connection=redis.Redis.from_url(redis_url))
    queue.enqueue("workers.jobs.open_incident_job", title, priority, ward, bed)


def staff_name(staff_id: object) -> str:
    with session_scope() as session:
        staff = session.get(Staff, staff_id)
        assert staff is not None
        return staff.display_name


def assignee_name(incident_id: str) -> str:
    """The display name of the staff member the incident was assigned to on opening."""
    with session_scope() as session:
        incident = session.get(Incident, uuid.UUID(incident_id))
        assert incident is not None and incident.assignee_staff_id is not None
        staff_id = incident.assignee_staff_id
    return staff_name(staff_id)


def user_staff_name(username: str) -> str:
    with session_scope() as session:
        user = session.exec(select(User).where(User.username == username)).one()
        staff_id = user.staff_id
    return staff_name(staff_id)


def card_bed_patient(bed_label: str) -> uuid.UUID:
    with session_scope() as session:
        return session.exec(
            select(Admission.patient_id)
            .join(Bed, col(Bed.id) == col(Admission.bed_id))
            .join(Ward, col(Ward.id) == col(Bed.ward_id))
            .where(
                Ward.code == "CARD", Bed.label == bed_label, col(Admission.discharged_at).is_(None)
            )
        ).one()


def mark_page(page: Page) -> None:
    """A marker a reload would wipe: proves the update arrived without one."""
    page.evaluate("window.__noReloadMarker = 'still here'")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__noReloadMarker") == "still here"


def test_worker_incident_appears_in_two_pages_without_reload(
    web_app: str, rq_worker, browser: Browser, child_env: dict[str, str], screenshots: Path
) -> None:
    everything = open_dashboard(browser, f"{web_app}/", DESKTOP)  # a physician: all wards
    cardiology = open_dashboard(browser, f"{web_app}/", TABLET, username="nurse.card")
    expect(cardiology.locator("#ward-selector")).to_have_value("CARD")
    for page in (everything, cardiology):
        mark_page(page)

    title = f"Deteriorating patient {uuid.uuid4().hex[:6]}"
    enqueue_incident(child_env["REDIS_URL"], title, "CARD", "B2")

    for page in (everything, cardiology):
        card = page.get_by_test_id("incident-card").filter(has_text=title)
        expect(card).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        expect(card).to_contain_text("P1 Emergency")  # priority in words, not colour alone
        expect(card).to_contain_text("CARD · bed B2")
        expect(card).to_contain_text("Not acknowledged")
        assert_not_reloaded(page)
    everything.screenshot(path=str(screenshots / "dashboard-desktop-live-incident.png"))
    cardiology.screenshot(path=str(screenshots / "dashboard-tablet-cardiology.png"))


def test_ward_feed_shows_only_its_ward(
    web_app: str, rq_worker, browser: Browser, child_env: dict[str, str]
) -> None:
    everything = open_dashboard(browser, f"{web_app}/", DESKTOP)
    cardiology = open_dashboard(browser, f"{web_app}/?ward=CARD", DESKTOP, username="nurse.card")

    icu_title = f"ICU alarm {uuid.uuid4().hex[:6]}"
    enqueue_incident(child_env["REDIS_URL"], icu_title, "ICU", "B1", priority="P0")
    expect(everything.get_by_text(icu_title)).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    # P0 sorts before every P1 in the hospital-wide queue.
    expect(everything.get_by_test_id("incident-card").first).to_contain_text(icu_title)

    card_title = f"Cardiology alarm {uuid.uuid4().hex[:6]}"
    enqueue_incident(child_env["REDIS_URL"], card_title, "CARD", "B3")
    expect(cardiology.get_by_text(card_title)).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    # The nurse's cardiology feed reloaded after the ICU incident was committed, and still
    # omits it: she is not on shift in the ICU.
    expect(cardiology.get_by_text(icu_title)).to_have_count(0)
    assert set(cardiology.get_by_test_id("bed-card").all_inner_texts()) and all(
        text.startswith("CARD ") for text in cardiology.get_by_test_id("bed-card").all_inner_texts()
    )


def test_selecting_a_ward_switches_the_feed(web_app: str, browser: Browser) -> None:
    page = open_dashboard(browser, f"{web_app}/", DESKTOP)
    page.locator("#ward-selector").select_option("ICU")
    expect(page.get_by_test_id("bed-card").first).to_contain_text("ICU ")
    expect(page.get_by_test_id("bed-card").filter(has_text="CARD ")).to_have_count(0)


@pytest.mark.parametrize(
    ("name", "viewport"), [("desktop", DESKTOP), ("tablet", TABLET), ("phone", PHONE)]
)
def test_dashboard_fits_without_horizontal_scrolling(
    web_app: str, browser: Browser, screenshots: Path, name: str, viewport: dict[str, int]
) -> None:
    page = open_dashboard(browser, f"{web_app}/", viewport)
    expect(page.get_by_text("HealthGuard Ops").first).to_be_visible()
    expect(page.get_by_text("secondary alarms", exact=False)).to_be_visible()
    # Relative times ("5 minutes ago") render in the browser once its date library loads.
    expect(page.get_by_text(re.compile(r"\bago$")).first).to_be_visible()
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, (
        f"{name}: page is {overflow}px wider than the {viewport['width']}px screen"
    )
    page.screenshot(path=str(screenshots / f"dashboard-{name}.png"), full_page=True)


def test_nurse_acknowledges_on_the_tablet_and_the_desktop_follows(
    web_app: str, rq_worker, browser: Browser, child_env: dict[str, str], screenshots: Path
) -> None:
    desk = open_dashboard(browser, f"{web_app}/", DESKTOP)
    tablet = open_dashboard(browser, f"{web_app}/", TABLET, username="nurse.card")
    mark_page(desk)
    title = f"Needs a nurse {uuid.uuid4().hex[:6]}"
    enqueue_incident(child_env["REDIS_URL"], title, "CARD", "B5", priority="P2")

    card = tablet.get_by_test_id("incident-card").filter(has_text=title)
    expect(card).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    # Who has it, the escalation step and the live time to the next step.
    incident_id = card.get_attribute("data-incident-id")
    assert incident_id
    expect(card.get_by_test_id("incident-assignee")).to_have_text(
        f"Assigned to {assignee_name(incident_id)}"
    )
    expect(card.get_by_test_id("incident-escalation")).to_have_text(
        re.compile(r"^Escalation: Step 1 of \d; escalating$")
    )
    expect(card.get_by_test_id("incident-next-step")).to_have_text(
        re.compile(r"^next step at \d\d:\d\d:\d\d \(in .+\)$")
    )
    expect(card.get_by_test_id("incident-ack")).to_have_text("Not acknowledged")
    card.get_by_test_id("acknowledge").click()
    expect(tablet.get_by_test_id("dashboard-message")).to_contain_text("acknowledged")
    nurse = user_staff_name("nurse.card")
    expect(card.get_by_test_id("incident-ack")).to_have_text(
        f"Acknowledged by {nurse}", timeout=LIVE_TIMEOUT_MS
    )
    expect(card.get_by_test_id("acknowledge")).to_have_count(0)
    expect(card.get_by_test_id("incident-escalation")).to_contain_text("stopped: acknowledged")
    expect(card.get_by_test_id("incident-next-step")).to_have_count(0)

    desk_card = desk.get_by_test_id("incident-card").filter(has_text=title)
    expect(desk_card).to_contain_text(f"Acknowledged by {nurse}", timeout=LIVE_TIMEOUT_MS)
    assert_not_reloaded(desk)
    tablet.screenshot(path=str(screenshots / "dashboard-tablet-acknowledged.png"))


def test_bed_shows_news2_banded_by_risk_partial_and_trend(
    web_app: str, browser: Browser, screenshots: Path
) -> None:
    patient_id = card_bed_patient("B6")
    now = datetime.now(UTC)
    with session_scope() as session:
        for minutes, total, partial, risk in ((12, 4, False, "low"), (2, 7, True, "high")):
            session.add(
                News2Score(
                    patient_id=patient_id,
                    observed_at=now - timedelta(minutes=minutes),
                    total=total,
                    partial=partial,
                    risk=risk,
                    subscores={},
                )
            )

    page = open_dashboard(browser, f"{web_app}/?ward=CARD", TABLET, username="nurse.card")
    bed = page.get_by_test_id("bed-card").filter(
        has=page.locator(f'a[href="{patient_path(str(patient_id))}"]')
    )
    news2 = bed.get_by_test_id("bed-news2")
    expect(news2).to_have_text("NEWS2 7 · high risk")  # the band in words, not colour alone
    expect(news2).to_have_attribute("data-risk", "high")
    expect(news2).to_have_css("background-color", "rgb(254, 226, 226)")
    expect(bed.get_by_test_id("bed-news2-partial")).to_have_text("partial")
    trend = bed.get_by_role("img", name="NEWS2 up from 4")
    expect(trend).to_have_text("↑ from 4")
    # A bed whose patient has no score in the freshness window says so.
    expect(page.get_by_test_id("bed-news2-none").first).to_have_text("No current NEWS2")
    bed.screenshot(path=str(screenshots / "dashboard-bed-news2.png"))
