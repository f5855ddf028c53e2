"""Web Push in a real Chromium against the prod-built app: the /my page's "Turn on alerts on
this phone" control registers /sw.js at scope "/"; the service worker's push handler shows a
payload built by our Python payload builder for a real incident (title, tag, buttons) and
reports the receipt (delivered_at); its notificationclick handler answers through POST
/answer (the one answer service): acknowledged by that nurse, then "already acknowledged by"
for the next nurse, "already used" for a replayed button; a tap on the body opens /my.

No push service is reachable offline, so the push event itself is not delivered by a push
service: the test calls the same handler function the ``push`` listener calls."""

from __future__ import annotations

import base64
import json
import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from e2e_support import PHONE, session_cookie, ward_with_two_nurses
from playwright.sync_api import Browser, BrowserContext, Page, Worker, expect
from pushsupport import payload_for
from sqlmodel import Session, select

from healthguard.db import get_engine, session_scope
from healthguard.incidents.service import open_incident
from healthguard.incidents.timeline import read_timeline
from healthguard.models import Incident, Notification
from healthguard.models.oncall import PushSubscription
from healthguard.notify.channels.webpush import generate_vapid_keys
from healthguard.runtime.embedded import wait_until

pytestmark = pytest.mark.e2e

ACTIONS = ["ack", "escalate", "decline"]


@pytest.fixture(scope="module")
def child_env(child_env: dict[str, str]) -> dict[str, str]:
    """The app with Web Push configured (a VAPID key of its own)."""
    keys = generate_vapid_keys()
    return {
        **child_env,
        "HEALTHGUARD_VAPID_PRIVATE_KEY": keys.private_key_b64,
        "HEALTHGUARD_VAPID_SUBJECT": "mailto:switchboard@hospital.example",
    }


def sent_push(incident_id: uuid.UUID, staff_id: uuid.UUID) -> uuid.UUID:
    """A push notification the push service took (as delivery records it)."""
    now = datetime.now(UTC)
    with session_scope() as session:
        row = Notification(
            incident_id=incident_id,
            staff_id=staff_id,
            channel="push",
            status="sent",
            created_at=now,
            sent_at=now,
            due_at=now,
            escalation_key=f"e2e:{uuid.uuid4().hex}",
            reason="e2e: notified by push",
        )
        session.add(row)
        session.flush()
        return row.id


@pytest.fixture()
def phone(browser: Browser, web_app: str) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    context.grant_permissions(["notifications"], origin=web_app)
    try:
        yield context
    finally:
        context.close()


#: The registration at scope "/" once its worker is activated: [scope, state].
ACTIVE = """async () => {
    const r = await navigator.serviceWorker.ready;
    const w = r.active;
    if (w.state !== "activated") {
        await new Promise((done) => w.addEventListener("statechange", () => {
            if (w.state === "activated") done();
        }));
    }
    return [r.scope, w.state];
}"""


def registered_worker(context: BrowserContext, page: Page, base: str) -> Worker:
    """The active service worker at scope "/" (the page registers it if it has not)."""
    page.evaluate("navigator.serviceWorker.register('/sw.js', {scope: '/'})")
    state = page.evaluate(ACTIVE)
    assert state == [f"{base}/", "activated"]
    workers = [w for w in context.service_workers if w.url.endswith("/sw.js")]
    return workers[0] if workers else context.wait_for_event("serviceworker", timeout=30_000)


def notifications(worker: Worker) -> list[dict[str, Any]]:
    return worker.evaluate(
        """async () => (await self.registration.getNotifications()).map(n => ({
            title: n.title, body: n.body, tag: n.tag, requireInteraction: n.requireInteraction,
            renotify: n.renotify, actions: n.actions.map(a => a.action),
            links: Object.keys((n.data && n.data.links) || {}),
        }))"""
    )


#: A stand-in for the browser's PushManager: checks what our code asks for and hands back a
#: subscription shaped like Chromium's (a real P-256 key, a 16-byte auth secret).
STAND_IN_PUSH_MANAGER = """(() => {
  const endpoint = ENDPOINT;
  const subscription = {
    endpoint,
    toJSON: () => ({endpoint, expirationTime: null, keys: {
      p256dh: "P256DH",
      auth: "AUTH"}}),
    unsubscribe: async () => { window.__hgSubscribed = false; return true; },
  };
  PushManager.prototype.subscribe = async function (options) {
    if (!options.userVisibleOnly || options.applicationServerKey.length !== 65) {
      throw new Error("bad subscribe options");
    }
    window.__hgSubscribed = true;
    return subscription;
  };
  PushManager.prototype.getSubscription = async function () {
    return window.__hgSubscribed ? subscription : null;
  };
})();"""

CLICK = """async ([tag, action]) => {
    const [n] = await self.registration.getNotifications({tag});
    return self.hg.handleNotificationClick(n, action);
}"""


def test_turn_on_alerts_registers_the_service_worker_and_the_subscription(
    web_app: str, phone: BrowserContext, screenshots
) -> None:
    _, people = ward_with_two_nurses()
    staff_id, username = people["nia"]
    # Offline headless Chromium has no push service to subscribe with: stand in for the
    # browser's PushManager (a browser API, not ours) so the rest of the path runs for real.
    endpoint = f"https://push.example/e2e/{uuid.uuid4().hex}"
    script = (
        STAND_IN_PUSH_MANAGER.replace("ENDPOINT", json.dumps(endpoint))
        .replace("AUTH", base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode())
        .replace("P256DH", generate_vapid_keys().public_key_b64)
    )
    phone.add_init_script(script)
    phone.add_cookies([session_cookie(web_app, username)])  # type: ignore[list-item]
    page = phone.new_page()
    page.goto(f"{web_app}/my")

    state = page.get_by_test_id("push-state")
    toggle = page.get_by_test_id("push-toggle")
    expect(state).to_have_text("Alerts on this phone: off.", timeout=60_000)
    expect(toggle).to_have_text("Turn on alerts on this phone")
    box = toggle.bounding_box()
    assert box is not None and box["height"] >= 44
    toggle.tap()

    expect(state).to_contain_text("Alerts on this phone: on.", timeout=30_000)
    expect(toggle).to_have_text("Turn off alerts on this phone")
    assert page.evaluate(ACTIVE) == [f"{web_app}/", "activated"]
    script = page.evaluate(
        "navigator.serviceWorker.getRegistration('/').then((r) => r.active.scriptURL)"
    )
    assert script == f"{web_app}/sw.js"
    with Session(get_engine()) as session:
        rows = session.exec(
            select(PushSubscription).where(PushSubscription.endpoint == endpoint)
        ).all()
        assert [r.staff_id for r in rows] == [staff_id]
    page.screenshot(path=str(screenshots / "phone-push-on.png"))

    toggle.tap()
    expect(state).to_have_text("Alerts on this phone: off.", timeout=30_000)

    def removed() -> bool:
        with Session(get_engine()) as session:
            return not session.exec(
                select(PushSubscription).where(PushSubscription.endpoint == endpoint)
            ).all()

    assert wait_until(removed, 10, interval=0.1)


def test_blocked_notifications_are_said_in_words(web_app: str, browser: Browser) -> None:
    _, people = ward_with_two_nurses()
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    try:
        context.add_init_script(
            "Notification.requestPermission = async () => 'denied';"  # the person said no
        )
        context.add_cookies([session_cookie(web_app, people["ada"][1])])  # type: ignore[list-item]
        page = context.new_page()
        page.goto(f"{web_app}/my")
        toggle = page.get_by_test_id("push-toggle")
        expect(toggle).to_be_enabled(timeout=60_000)
        # The page's own state arrives over the websocket after the toggle is ready, and the
        # header and the list then grow. In one full CI run the page signed out instead (it
        # ended on the sign-in form, "You have signed out"): most likely the tap meant for
        # the toggle landed on "Sign out". Tap once the page has settled.
        expect(page.get_by_test_id("signed-in-as")).to_contain_text(people["ada"][1])
        expect(page.get_by_test_id("my-alarms-empty")).to_be_visible()
        toggle.tap()
        expect(page.get_by_test_id("push-state")).to_contain_text(
            "blocked by the browser", timeout=30_000
        )
    finally:
        context.close()


def test_a_push_shows_the_alarm_and_its_buttons_answer_through_the_answer_service(
    web_app: str, phone: BrowserContext
) -> None:
    code, people = ward_with_two_nurses()
    (nia_id, nia), (ada_id, _) = people["nia"], people["ada"]
    with session_scope() as session:
        incident = open_incident(
            session,
            title=f"NEWS2 8: RR 26 ({code})",
            priority="P1",
            now=datetime.now(UTC),
            ward_code=code,
        )
        incident_id, number = incident.id, incident.number
    nia_push, ada_push = sent_push(incident_id, nia_id), sent_push(incident_id, ada_id)
    payload = payload_for(nia_push)
    tag = f"incident-{incident_id}"

    phone.add_cookies([session_cookie(web_app, nia)])  # type: ignore[list-item]
    page = phone.new_page()
    page.goto(f"{web_app}/login")
    worker = registered_worker(phone, page, web_app)
    max_actions = page.evaluate("Notification.maxActions")

    # (b) the push handler shows it; (d) and reports that it arrived.
    receipt = worker.evaluate("(p) => self.hg.handlePush(p)", payload)
    assert receipt["outcome"] == "delivered", receipt
    [shown] = notifications(worker)
    assert shown["title"] == payload["title"] and shown["title"].startswith("P1 Emergency: ")
    assert (shown["tag"], shown["requireInteraction"], shown["renotify"]) == (tag, True, True)
    assert "Secondary alarm" in shown["body"] and "token=" not in shown["body"]
    assert shown["actions"] == ACTIONS[: min(max_actions, 3)]  # Chromium shows 2
    assert shown["links"] == ACTIONS
    with Session(get_engine()) as session:
        row = session.get(Notification, nia_push)
        assert row is not None and row.status == "delivered" and row.delivered_at is not None

    # (c) ACKNOWLEDGE: through POST /answer and answers.answer(), as that nurse, via push.
    result = worker.evaluate(CLICK, [tag, "ack"])
    assert (result["outcome"], result["code"]) == ("done", "acknowledged"), result
    [done] = notifications(worker)
    assert done["title"] == f"Acknowledged #{number}" and done["actions"] == []
    with Session(get_engine()) as session:
        stored = session.get(Incident, incident_id)
        assert stored is not None and (stored.status, stored.acknowledged_by) == (
            "acknowledged",
            nia,
        )
    with session_scope() as session:
        vias = [
            e.data.get("via") for e in read_timeline(session, incident_id) if e.kind == "answered"
        ]
    assert vias == ["push"]

    # A second nurse's button: already acknowledged by nia; nothing changes.
    worker.evaluate("(p) => self.hg.handlePush(p)", payload_for(ada_push))
    late = worker.evaluate(CLICK, [tag, "ack"])
    assert late["outcome"] == "no_longer_applies", late
    assert f"already acknowledged by {nia}" in late["message"]
    [told] = notifications(worker)
    assert told["title"] == f"#{number}: no longer needed"
    assert f"already acknowledged by {nia}" in told["body"]

    # The first button again (replayed): refused as already used.
    worker.evaluate("(p) => self.hg.handlePush(p)", payload)
    again = worker.evaluate(CLICK, [tag, "ack"])
    assert (again["outcome"], again["code"]) == ("refused", "already_used"), again
    assert notifications(worker)[0]["title"] == "This button was already used"

    # A tap on the body opens /my in the page the service worker controls.
    worker.evaluate("(p) => self.hg.handlePush(p)", payload)
    opened = worker.evaluate(CLICK, [tag, ""])
    assert opened == {"outcome": "opened"}
    expect(page).to_have_url(re.compile(rf"^{re.escape(web_app)}/my/?$"), timeout=30_000)
    expect(page.get_by_test_id("push-state")).to_be_visible(timeout=30_000)
    assert notifications(worker) == []
