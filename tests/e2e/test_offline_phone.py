"""The phone's "my alarms" when the network drops, in a real Chromium at 390 x 844 against the
prod-built app (assets/offline.js, assets/sw.js, the /my page's offline kit):

- online, the list shows; offline (Playwright's ``context.set_offline``), a banner says so
  with the time of the last update in hospital local time and the kept list replaces the
  live one; ACK is queued on the phone; back online it is replayed through POST /answer: the
  incident is acknowledged in Postgres and the page says so;
- the conflict: while the phone is offline with a queued ACK, another nurse acknowledges
  through the API; back online the phone says "Already acknowledged by <them> at <time> —
  nothing to do", and nothing changed twice;
- a reload without network still shows the kept list (the service worker's app shell);
  the service worker's ``pushsubscriptionchange`` handler makes /my say alerts are off;
  signing out deletes what the phone kept;
- the web app manifest is served as JSON with what installability needs, and Chromium finds
  the page installable."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from e2e_support import PHONE, session_cookie, wait_for_page, ward_with_two_nurses
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlmodel import Session, select

from healthguard.db import get_engine, session_scope
from healthguard.incidents.service import open_incident
from healthguard.models import Incident, Notification, User
from healthguard.security.tokens import issue_access_token
from healthguard.settings import get_settings

pytestmark = pytest.mark.e2e

#: The kept list, read from the phone's Cache Storage (where assets/offline.js keeps it).
KEPT_KIT = """async () => {
    const cache = await caches.open("hg-device-v1");
    const found = await cache.match("/__hg/offline/kit");
    return found ? await found.json() : null;
}"""

#: The service worker controls the page and has kept /my (the app shell).
SHELL_KEPT = """async () => {
    if (!navigator.serviceWorker.controller) return false;
    const cache = await caches.open("hg-shell-v1");
    return Boolean(await cache.match("/my"));
}"""


def alarm_for(code: str, staff_ids: list[uuid.UUID]) -> uuid.UUID:
    """An open P1 in the ward, about which each of `staff_ids` was notified in the app."""
    now = datetime.now(UTC)
    with session_scope() as session:
        incident = open_incident(
            session, title=f"NEWS2 7: RR 25 ({code})", priority="P1", now=now, ward_code=code
        )
        for staff_id in staff_ids:
            session.add(
                Notification(
                    incident_id=incident.id,
                    staff_id=staff_id,
                    channel="in_app",
                    status="sent",
                    created_at=now,
                    sent_at=now,
                    due_at=now,
                    escalation_key=f"e2e:{uuid.uuid4().hex}",
                    reason="e2e: notified in the app",
                )
            )
        return incident.id


def stored(incident_id: uuid.UUID) -> Incident:
    with Session(get_engine()) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        return incident


def local_hhmm(at: datetime | str) -> str:
    value = datetime.fromisoformat(at) if isinstance(at, str) else at
    return value.astimezone(ZoneInfo(get_settings().timezone)).strftime("%H:%M")


@pytest.fixture()
def phone(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    try:
        yield context
    finally:
        context.close()


def open_my_alarms(
    context: BrowserContext, base: str, username: str, incident_id: uuid.UUID
) -> Page:
    """/my online with the alarm on it, its kit kept and the app shell cached."""
    context.add_cookies([session_cookie(base, username)])  # type: ignore[list-item]
    page = context.new_page()
    page.goto(f"{base}/my")
    card = page.locator(f'[data-testid="my-alarm"][data-incident-id="{incident_id}"]')
    expect(card).to_be_visible(timeout=60_000)
    wait_for_page(
        page,
        f"""async () => {{
            const cache = await caches.open("hg-device-v1");
            const found = await cache.match("/__hg/offline/kit");
            if (!found) return false;
            const kit = await found.json();
            return kit.alarms.some((a) => a.id === "{incident_id}");
        }}""",
        timeout=30,
    )
    wait_for_page(page, SHELL_KEPT, timeout=30)
    return page


def offline_card(page: Page, incident_id: uuid.UUID) -> Any:
    return page.locator(f'[data-testid="offline-alarm"][data-incident-id="{incident_id}"]')


def no_horizontal_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_an_ack_tapped_offline_is_replayed_when_back_online(
    web_app: str, phone: BrowserContext, screenshots
) -> None:
    code, people = ward_with_two_nurses("O")
    nia_id, nia = people["nia"]
    incident_id = alarm_for(code, [nia_id])
    page = open_my_alarms(phone, web_app, nia, incident_id)
    expect(page.get_by_test_id("offline-banner")).to_be_hidden()
    kit = page.evaluate(KEPT_KIT)
    assert kit["user"] and kit["timezone"] == get_settings().timezone
    kept = next(a for a in kit["alarms"] if a["id"] == str(incident_id))
    assert set(kept["answers"]) == {"acknowledge", "escalate", "decline"}
    assert "patient_name" not in kept and "mrn" not in kept

    phone.set_offline(True)
    banner = page.get_by_test_id("offline-banner")
    expect(banner).to_be_visible(timeout=10_000)
    expect(banner).to_contain_text("Offline")
    expect(banner).to_contain_text(f"as they were at {local_hhmm(kit['updated_at'])}")
    expect(page.get_by_test_id("my-alarms")).to_be_hidden()  # the live list: stale now
    card = offline_card(page, incident_id)
    expect(card).to_be_visible()
    ack = card.get_by_test_id("offline-answer-acknowledge")
    box = ack.bounding_box()
    assert box is not None and box["height"] >= 44
    ack.tap()
    expect(card.get_by_test_id("offline-alarm-status")).to_contain_text("ACK queued on this phone")
    expect(banner).to_contain_text("1 answer waiting to be sent")
    no_horizontal_scroll(page)
    page.screenshot(path=str(screenshots / "phone-offline-ack-queued.png"))
    assert stored(incident_id).status == "triggered"  # nothing reached the server

    phone.set_offline(False)
    result = page.get_by_test_id("offline-result")
    expect(result).to_contain_text("Acknowledged (sent when back online at", timeout=30_000)
    expect(banner).to_be_hidden()
    after = stored(incident_id)
    assert (after.status, after.acknowledged_by) == ("acknowledged", nia)
    live = page.locator(f'[data-testid="my-alarm"][data-incident-id="{incident_id}"]')
    expect(live.get_by_test_id("alarm-status")).to_have_text("Acknowledged", timeout=30_000)
    no_horizontal_scroll(page)
    page.screenshot(path=str(screenshots / "phone-offline-ack-replayed.png"))

    # The token was single-use: sending the same answer again changes nothing.
    again = httpx.post(
        f"{web_app}/answer",
        data={"token": kept["answers"]["acknowledge"], "via": "link"},
        headers={"Accept": "application/json"},
        timeout=30,
    )
    assert again.status_code == 410 and again.json()["code"] == "already_used"

    # Signing out deletes the list and the queue kept on the phone.
    page.get_by_test_id("sign-out").click()
    page.wait_for_url("**/login", timeout=30_000)
    wait_for_page(page, 'async () => !(await caches.keys()).includes("hg-device-v1")', timeout=10)


def test_an_ack_queued_offline_after_someone_else_acknowledged_says_so(
    web_app: str, phone: BrowserContext, screenshots
) -> None:
    code, people = ward_with_two_nurses("O")
    (nia_id, nia), (ada_id, ada) = people["nia"], people["ada"]
    incident_id = alarm_for(code, [nia_id, ada_id])
    page = open_my_alarms(phone, web_app, nia, incident_id)

    phone.set_offline(True)
    card = offline_card(page, incident_id)
    expect(card).to_be_visible(timeout=10_000)
    card.get_by_test_id("offline-answer-acknowledge").tap()
    expect(card.get_by_test_id("offline-alarm-status")).to_contain_text("queued")

    # Meanwhile Ada acknowledges from her own device, through the API.
    settings = get_settings()
    with Session(get_engine()) as session:
        ada_user = session.exec(select(User).where(User.username == ada)).one()
        token = issue_access_token(
            user_id=str(ada_user.id),
            role="nurse",
            key=settings.secret("secret_key"),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=300,
            now=datetime.now(UTC),
        )
    answered = httpx.post(
        f"{web_app}/api/v1/notifications/answer",
        json={"incident_id": str(incident_id), "action": "acknowledge"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answered.status_code == 200, answered.text
    acked = stored(incident_id)
    assert acked.acknowledged_by == ada and acked.acknowledged_at is not None

    phone.set_offline(False)
    result = page.get_by_test_id("offline-result")
    expect(result).to_contain_text(
        f"Already acknowledged by {ada} at {local_hhmm(acked.acknowledged_at)} — nothing to do",
        timeout=30_000,
    )
    expect(result).to_have_class("conflict")
    after = stored(incident_id)
    assert (after.status, after.acknowledged_by) == ("acknowledged", ada)  # not Nia's, not twice
    page.screenshot(path=str(screenshots / "phone-offline-ack-conflict.png"))


def test_a_reload_without_network_shows_the_kept_list(
    web_app: str, phone: BrowserContext, screenshots
) -> None:
    code, people = ward_with_two_nurses("O")
    nia_id, nia = people["nia"]
    incident_id = alarm_for(code, [nia_id])
    page = open_my_alarms(phone, web_app, nia, incident_id)
    kit = page.evaluate(KEPT_KIT)

    phone.set_offline(True)
    page.reload()
    banner = page.get_by_test_id("offline-banner")
    expect(banner).to_be_visible(timeout=30_000)
    expect(banner).to_contain_text(f"as they were at {local_hhmm(kit['updated_at'])}")
    card = offline_card(page, incident_id)
    expect(card).to_contain_text(f"NEWS2 7: RR 25 ({code})")
    expect(card.get_by_test_id("offline-answer-acknowledge")).to_be_visible()
    # The page's own (empty, never loaded) live list and count are not shown.
    expect(page.locator("h1")).to_have_text("My alarms", use_inner_text=True)
    expect(page.get_by_text("Loading…")).to_be_hidden()
    no_horizontal_scroll(page)
    page.screenshot(path=str(screenshots / "phone-offline-reload.png"))

    # Another page of the app without network: a page in words, not the browser's error.
    other = phone.new_page()
    other.goto(f"{web_app}/audit")
    expect(other.get_by_role("heading", name="No network")).to_be_visible()
    other.close()


def test_a_dropped_push_subscription_asks_to_turn_alerts_on_again(
    web_app: str, phone: BrowserContext
) -> None:
    code, people = ward_with_two_nurses("O")
    nia_id, nia = people["nia"]
    incident_id = alarm_for(code, [nia_id])
    page = open_my_alarms(phone, web_app, nia, incident_id)
    expect(page.get_by_test_id("push-lost")).to_be_hidden()
    workers = [w for w in phone.service_workers if w.url.endswith("/sw.js")]
    worker = workers[0] if workers else phone.wait_for_event("serviceworker", timeout=30_000)
    note = worker.evaluate(
        "self.hg.handleSubscriptionChange({oldSubscription: {endpoint: 'https://push.example/1'}})"
    )
    assert note["endpoint"] == "https://push.example/1"
    page.reload()
    expect(page.get_by_test_id("push-lost")).to_contain_text(
        "Alerts turned off on this phone", timeout=30_000
    )


def test_the_manifest_makes_my_alarms_installable(web_app: str, phone: BrowserContext) -> None:
    response = httpx.get(f"{web_app}/manifest.webmanifest", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/manifest+json")
    assert "manifest-src 'self'" in response.headers["content-security-policy"]
    manifest = json.loads(response.text)
    assert manifest["start_url"] == "/my" and manifest["display"] == "standalone"
    assert manifest["name"] and manifest["short_name"] and manifest["theme_color"]
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        png = httpx.get(f"{web_app}{icon['src']}", timeout=30)
        assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(png.content[16:20]), int.from_bytes(png.content[20:24])
        assert f"{width}x{height}" == icon["sizes"]

    phone.add_cookies([session_cookie(web_app, "nurse.card")])  # type: ignore[list-item]
    page = phone.new_page()
    page.goto(f"{web_app}/my")
    expect(page.locator('link[rel="manifest"]')).to_have_attribute("href", "/manifest.webmanifest")
    wait_for_page(page, "() => navigator.serviceWorker.controller !== null", timeout=30)
    cdp = phone.new_cdp_session(page)
    parsed = cdp.send("Page.getAppManifest")
    assert parsed["errors"] == [], parsed["errors"]
    # Playwright's contexts are incognito (never installable); nothing else may be missing.
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    assert [e["errorId"] for e in errors if e["errorId"] != "in-incognito"] == [], errors
