"""End-to-end helpers: find the Chromium the tests drive; make a signed-in browser.

Order: HEALTHGUARD_CHROMIUM, the system Chromium (/usr/bin/chromium or on PATH), then the
browser Playwright installed for itself. Run as a script, it exits 0 when one is found.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

# The three screens the product is built for.
DESKTOP = {"width": 1440, "height": 900}
TABLET = {"width": 820, "height": 1180}
PHONE = {"width": 390, "height": 844}

# Flags for a headless Chromium on a closed network, run as root in CI.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def wait_for_page(page, function: str, timeout: float = 30) -> None:
    """Wait until the JavaScript `function` (a "() => ..." or "async () => ..." source)
    returns something truthy in the page, polled from the test.

    Playwright's own wait_for_function evaluates a string inside the page while it polls,
    which our Content-Security-Policy (no 'unsafe-eval') forbids once it has to retry."""
    from playwright.sync_api import Error as PlaywrightError

    from healthguard.runtime.embedded import wait_until

    def holds() -> bool:
        try:
            return bool(page.evaluate(function))
        except PlaywrightError:  # the page is navigating: its context is being replaced
            return False

    assert wait_until(holds, timeout, 0.1), f"not true within {timeout} s: {function}"


def system_chromium() -> str | None:
    configured = os.environ.get("HEALTHGUARD_CHROMIUM")
    if configured and Path(configured).exists():
        return configured
    for candidate in (
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def playwright_chromium() -> str | None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        path = p.chromium.executable_path
    return path if path and Path(path).exists() else None


def chromium_executable() -> str | None:
    """The system Chromium, or None to let Playwright use its own."""
    return system_chromium()


def card_patient(bed_label: str) -> tuple[str, str]:
    """(patient id, MRN) of the patient in a Cardiology bed."""
    from sqlmodel import col, select

    from healthguard.db import session_scope
    from healthguard.models import Admission, Bed, Patient, Ward
    from healthguard.patients.phi import keyring_from_settings, read_identity

    with session_scope() as session:
        patient = session.exec(
            select(Patient)
            .join(Admission, col(Admission.patient_id) == col(Patient.id))
            .join(Bed, col(Bed.id) == col(Admission.bed_id))
            .join(Ward, col(Ward.id) == col(Bed.ward_id))
            .where(
                Ward.code == "CARD", Bed.label == bed_label, col(Admission.discharged_at).is_(None)
            )
        ).one()
        return str(patient.id), read_identity(patient, keyring_from_settings()).mrn


def session_cookie(base_url: str, username: str) -> dict[str, str]:
    """A real UI session for `username`, made by the same service the sign-in page uses, as
    the cookie the browser would hold (tests that are not about signing in skip the form)."""
    from datetime import UTC, datetime

    from sqlmodel import select

    from healthguard.db import session_scope
    from healthguard.models import User
    from healthguard.security.accounts import Origin, start_ui_session

    with session_scope() as session:
        user = session.exec(select(User).where(User.username == username)).one()
        token = start_ui_session(session, user, now=datetime.now(UTC), origin=Origin("127.0.0.1"))
    return {"name": "hg_session", "value": token, "url": base_url, "sameSite": "Strict"}


if __name__ == "__main__":
    found = system_chromium() or playwright_chromium()
    if found:
        print(f"Chromium for the e2e tests: {found}")
        sys.exit(0)
    print("No Chromium found; installing Playwright's own.")
    sys.exit(1)


def ward_with_two_nurses(
    prefix: str = "W",
) -> tuple[str, dict[str, tuple[uuid.UUID, str]]]:
    """A new ward (its code starts with `prefix`) with two ACLS nurses on shift now, nia and
    ada: {name: (staff id, username)}."""
    from healthguard.db import session_scope
    from healthguard.models import Shift, Staff, StaffSkill, User, Ward

    now = datetime.now(UTC)
    suffix = uuid.uuid4().hex[:6].upper()
    code = f"{prefix}{suffix}"
    people: dict[str, tuple[uuid.UUID, str]] = {}
    with session_scope() as session:
        ward = Ward(code=code, name=f"Ward {suffix}")
        session.add(ward)
        session.flush()
        for name in ("nia", "ada"):
            staff = Staff(
                display_name=f"{name.title()} {suffix}", role="nurse", home_ward_id=ward.id
            )
            session.add(staff)
            session.flush()
            username = f"{name}.{suffix.lower()}"
            session.add(User(username=username, role="nurse", staff_id=staff.id))
            session.add(
                StaffSkill(
                    staff_id=staff.id, skill="ACLS", expires_on=date.today() + timedelta(300)
                )
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
            people[name] = (staff.id, username)
    return code, people
