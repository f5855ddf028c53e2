"""A bedside reading sent over MLLP by a real MLLP client (python-hl7's `mllp_send`) becomes
an incident on the dashboard, live: HL7 listener -> Postgres -> triage worker -> browser."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from e2e_support import DESKTOP, session_cookie
from playwright.sync_api import Browser, expect

pytestmark = pytest.mark.e2e

MLLP_SEND = Path(sys.executable).parent / "mllp_send"
MRN = "HG100001"  # seeded: Cardiology, bed B1


def oru_r01(
    control_id: str, mrn: str = MRN, bed: str = "B1", heart_rate: int = 112, rest: bool = True
) -> str:
    """The IHE PCD-01 sample of the clinical reference (NEWS2 9 on air and alert), now; with
    `rest` False only its heart rate."""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
    segments = [
        f"MSH|^~\\&|GW^{control_id}^EUI-64|W7|||{stamp}||ORU^R01^ORU_R01|{control_id}|P|2.6"
        "|||NE|AL||UNICODE UTF-8",
        f"PID|||{mrn}^^^H^MR||DOE^JANE",
        f"PV1||I|CARD^^{bed}",
        f"OBR|1|{control_id}^GW|{control_id}^GW|182777000^monitoring of patient^SCT|||{stamp}",
        f"OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|{heart_rate}"
        "|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R",
    ]
    if not rest:
        return "\n".join(segments)
    segments += [
        "OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.2.1.1|93|262688^MDC_DIM_PERCENT^MDC|||||R",
        "OBX|3|NM|151562^MDC_RESP_RATE^MDC|1.3.1.1|24|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R",
        "OBX|4|NM|150301^MDC_PRESS_CUFF_SYS^MDC|1.4.1.1|98|266016^MDC_DIM_MMHG^MDC|||||R",
        "OBX|5|NM|150302^MDC_PRESS_CUFF_DIA^MDC|1.4.1.2|60|266016^MDC_DIM_MMHG^MDC|||||R",
        "OBX|6|NM|150364^MDC_TEMP_BODY^MDC|1.5.1.1|38.4|268192^MDC_DIM_DEGC^MDC|||||R",
    ]
    return "\n".join(segments)


def test_mllp_reading_becomes_a_live_incident(
    web_app: str,
    triage_worker,
    mllp_port: int,
    browser: Browser,
    tmp_path: Path,
    screenshots: Path,
) -> None:
    context = browser.new_context(viewport=DESKTOP)
    context.add_cookies([session_cookie(web_app, "nurse.card")])  # type: ignore[list-item]
    page = context.new_page()
    page.goto(f"{web_app}/")
    expect(page.get_by_test_id("bed-card").first).to_be_visible(timeout=60_000)
    page.evaluate("window.__noReloadMarker = 'still here'")

    message = tmp_path / "oru.hl7"
    message.write_text(oru_r01("E2E1"))
    sent = subprocess.run(
        [str(MLLP_SEND), "--port", str(mllp_port), "--loose", "--file", str(message), "localhost"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "MSA|AA|E2E1" in sent.stdout, sent.stdout

    card = page.get_by_test_id("incident-card").filter(has_text="bed B1")
    expect(card).to_be_visible(timeout=30_000)
    expect(card).to_contain_text("P1 Emergency")  # NEWS2 9: emergency response threshold
    expect(card).to_contain_text("NEWS2")
    assert page.evaluate("window.__noReloadMarker") == "still here"
    page.screenshot(path=str(screenshots / "dashboard-mllp-incident.png"))


def test_new_vital_signs_update_the_bed_board_live_without_an_incident(
    web_app: str,
    triage_worker,
    mllp_port: int,
    browser: Browser,
    tmp_path: Path,
) -> None:
    """A heart rate from the monitor of bed B2 (nothing alarming) shows on its bed card
    through the "vitals updated" change event, with no incident and no page reload (the
    safety-net resync is off in these tests)."""
    context = browser.new_context(viewport=DESKTOP)
    context.add_cookies([session_cookie(web_app, "nurse.card")])  # type: ignore[list-item]
    page = context.new_page()
    page.goto(f"{web_app}/")
    bed = page.get_by_test_id("bed-card").filter(has_text="B2")
    expect(bed).to_be_visible(timeout=60_000)
    expect(bed).not_to_contain_text("HR 73")
    page.evaluate("window.__noReloadMarker = 'still here'")
    incidents_before = page.get_by_test_id("incident-card").count()

    message = tmp_path / "oru-b2.hl7"
    message.write_text(oru_r01("E2E2", mrn="HG100002", bed="B2", heart_rate=73, rest=False))
    sent = subprocess.run(
        [str(MLLP_SEND), "--port", str(mllp_port), "--loose", "--file", str(message), "localhost"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "MSA|AA|E2E2" in sent.stdout, sent.stdout

    expect(bed).to_contain_text("HR 73", timeout=20_000)
    assert page.evaluate("window.__noReloadMarker") == "still here"
    assert page.get_by_test_id("incident-card").count() == incidents_before
