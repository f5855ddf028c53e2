"""The safety net for a lost change event, in Chromium against the prod-built app: with the
periodic resync every 2 s, an incident assigned to a nurse and an in-app notification
stored without any change event (as if the event had been lost on the way) reach her bell
and her "my alarms" list without a reload. Without the resync of per-person feeds both
stay as they were: no event ever names her."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from e2e_support import PHONE, session_cookie, ward_with_two_nurses
from playwright.sync_api import Browser, expect
from sqlmodel import select

from healthguard.db import session_scope
from healthguard.models import Incident, Notification, Ward

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def child_env(child_env: dict[str, str]) -> dict[str, str]:
    return {**child_env, "HEALTHGUARD_REALTIME_RESYNC_SECONDS": "2"}


def store_without_an_event(code: str, staff_id: uuid.UUID) -> uuid.UUID:
    """A P1 assigned to the nurse and its delivered in-app notification, written straight
    to Postgres: no service function runs, so no change event is published."""
    now = datetime.now(UTC)
    with session_scope() as session:
        ward = session.exec(select(Ward).where(Ward.code == code)).one()
        incident = Incident(
            title=f"NEWS2 7: RR 25 ({code})",
            priority="P1",
            source="test",
            ward_id=ward.id,
            assignee_staff_id=staff_id,
        )
        session.add(incident)
        session.flush()
        session.add(
            Notification(
                incident_id=incident.id,
                staff_id=staff_id,
                channel="in_app",
                status="delivered",
                sent_at=now,
                delivered_at=now,
                reason="resync test",
            )
        )
        return incident.id


def test_a_lost_event_still_reaches_the_bell_and_my_alarms(web_app: str, browser: Browser) -> None:
    code, people = ward_with_two_nurses("R")
    staff_id, username = people["nia"]
    context = browser.new_context(viewport=PHONE)
    context.add_cookies([session_cookie(web_app, username)])  # type: ignore[list-item]
    page = context.new_page()
    page.goto(f"{web_app}/my")
    bell = page.get_by_test_id("bell")
    expect(bell).to_have_attribute("aria-label", "Notifications: none unread", timeout=120_000)
    expect(page.get_by_test_id("my-alarms-empty")).to_be_visible(timeout=30_000)

    incident_id = store_without_an_event(code, staff_id)

    expect(page.get_by_test_id("bell-count")).to_have_text("1", timeout=30_000)
    expect(bell).to_have_attribute(
        "aria-label", "Notifications: 1 unread alarm, highest P1 Emergency"
    )
    card = page.locator(f'[data-testid="my-alarm"][data-incident-id="{incident_id}"]')
    expect(card).to_contain_text(f"NEWS2 7: RR 25 ({code})", timeout=10_000)
    context.close()
