"""A P1 nobody acknowledges escalates to the charge nurse, who acknowledges it from a phone:
open incident -> first step (the assigned nurse) -> no answer -> the scheduler fires the
second step -> the charge nurse's in-app notification reaches their phone's "my alarms" list
live -> one tap on ACK -> acknowledged by them, and the escalation stops."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from e2e_support import PHONE, session_cookie
from playwright.sync_api import Browser, expect
from sqlmodel import Session, col, select

from healthguard.db import get_engine, session_scope
from healthguard.incidents.service import open_incident
from healthguard.models import (
    EscalationPolicy,
    Incident,
    IncidentEscalation,
    IncidentEvent,
    Notification,
    Shift,
    Staff,
    StaffSkill,
    User,
    Ward,
)
from healthguard.oncall.escalation import EscalationState, EscalationStatus
from healthguard.runtime.embedded import wait_until

pytestmark = pytest.mark.e2e

SECOND_STEP_SECONDS = 3


def ward_with_charge_nurse() -> tuple[str, str, uuid.UUID, uuid.UUID]:
    """A ward of its own: a nurse and a charge nurse on shift, both with logins, and a P1
    policy whose second step (the charge nurse) comes after SECOND_STEP_SECONDS."""
    now = datetime.now(UTC)
    suffix = uuid.uuid4().hex[:6].upper()
    code = f"E{suffix}"
    with session_scope() as session:
        ward = Ward(code=code, name=f"Ward {suffix}")
        session.add(ward)
        session.flush()
        ids = {}
        for name, role in (("nia", "nurse"), ("ada", "charge_nurse")):
            staff = Staff(display_name=f"{name.title()} {suffix}", role=role, home_ward_id=ward.id)
            session.add(staff)
            session.flush()
            ids[name] = staff.id
            session.add(User(username=f"{name}.{suffix.lower()}", role=role, staff_id=staff.id))
            for skill in ("BLS", "ACLS"):
                session.add(
                    StaffSkill(
                        staff_id=staff.id, skill=skill, expires_on=date.today() + timedelta(300)
                    )
                )
            session.add(
                Shift(
                    staff_id=staff.id,
                    ward_id=ward.id,
                    role=role,
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
                    "steps": [
                        {"delay_seconds": 0, "targets": [{"kind": "assignee", "ref": ""}]},
                        {
                            "delay_seconds": SECOND_STEP_SECONDS,
                            "targets": [{"kind": "ward_role", "ref": "charge_nurse"}],
                        },
                    ],
                    "ack_timeout_seconds": 600,
                },
            )
        )
    return code, f"ada.{suffix.lower()}", ids["nia"], ids["ada"]


def test_an_unacknowledged_p1_escalates_to_the_charge_nurse_who_acks_from_a_phone(
    web_app: str, alerts_workers, browser: Browser, screenshots
) -> None:
    code, charge_user, nurse_id, charge_id = ward_with_charge_nurse()
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    context.add_cookies([session_cookie(web_app, charge_user)])  # type: ignore[list-item]
    page = context.new_page()
    page.goto(f"{web_app}/my")
    expect(page.get_by_test_id("my-alarms-empty")).to_be_visible(timeout=60_000)

    with session_scope() as session:
        incident = open_incident(
            session,
            title=f"NEWS2 8: RR 26, SpO2 90 ({code})",
            priority="P1",
            now=datetime.now(UTC),
            ward_code=code,
        )
        incident_id = incident.id
    with Session(get_engine()) as session:
        assert session.get(Incident, incident_id).assignee_staff_id == nurse_id  # type: ignore[union-attr]

    # Nobody answers the nurse: the scheduler fires step 2, the charge nurse's phone shows it.
    card = page.locator(f'[data-testid="my-alarm"][data-incident-id="{incident_id}"]')
    expect(card).to_be_visible(timeout=60_000)
    expect(card.get_by_test_id("alarm-status")).to_have_text("Not acknowledged")
    box = card.get_by_test_id("answer-acknowledge").bounding_box()
    assert box is not None and box["height"] >= 44  # one thumb
    page.screenshot(path=str(screenshots / "phone-escalated-p1.png"))
    with Session(get_engine()) as session:
        reached = session.exec(
            select(Notification.staff_id).where(Notification.incident_id == incident_id)
        ).all()
        steps = [
            e.message
            for e in session.exec(
                select(IncidentEvent)
                .where(IncidentEvent.incident_id == incident_id, IncidentEvent.kind == "escalation")
                .order_by(col(IncidentEvent.id))
            )
        ]
    assert nurse_id in reached and charge_id in reached
    assert any("charge nurse" in m.lower() for m in steps), steps

    card.get_by_test_id("answer-acknowledge").tap()
    expect(page.get_by_test_id("my-alarms-message")).to_contain_text("cknowledged", timeout=30_000)
    expect(card.get_by_test_id("alarm-status")).to_have_text("Acknowledged", timeout=30_000)

    def escalation_stopped() -> bool:
        with Session(get_engine()) as session:
            row = session.get(IncidentEscalation, incident_id)
            assert row is not None
            return EscalationState.from_json(row.state).status is not EscalationStatus.ESCALATING

    assert wait_until(escalation_stopped, 30, interval=0.1)
    with Session(get_engine()) as session:
        stored = session.get(Incident, incident_id)
        assert stored is not None
        assert (stored.status, stored.acknowledged_by) == ("acknowledged", charge_user)
    # Patient details one tap away: the card's title opens the incident page.
    card.get_by_test_id("incident-link").tap()
    page.wait_for_url(f"**/incidents/{incident_id}**", timeout=30_000)
    expect(page.get_by_text(f"NEWS2 8: RR 26, SpO2 90 ({code})").first).to_be_visible(
        timeout=60_000
    )
    context.close()
