"""What the staff screens load, per role, on real Postgres (healthguard.ui.states.staff): the
roster wards follow the ward scope (an admin sees every ward), coverage gaps only for those
who may read the gap report, the staff panel refuses a ward outside the scope."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from authsupport import principal

from healthguard.db import session_scope
from healthguard.oncall import roster
from healthguard.ui.states.staff import staff_page, staff_status

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def icu_requirement(seeded: dict[str, int]) -> None:
    with session_scope() as session:
        roster.create_requirement(
            session,
            principal("admin"),
            roster.RequirementInput("ICU", "nurse", 1, "ACLS"),
            now=datetime.now(UTC),
        )


def test_a_nurse_sees_only_her_wards_roster_and_no_gaps() -> None:
    page = staff_page(principal("nurse.card"), "ICU", datetime.now(UTC))
    assert [w.code for w in page.wards] == ["CARD"]
    assert page.ward == "CARD"  # asked for ICU: not hers
    assert not page.gaps_shown and page.gaps == []
    names = {c.who for d in page.days for c in d.cells}
    assert "James Carter" in names
    assert not names & {"Marco Rossi", "Zoe Taylor", "Rachel Stein"}
    assert len(page.days) == 7
    assert page.my_shifts and all("CARD" in s for s in page.my_shifts)


def test_the_icu_charge_nurse_sees_the_gap_in_words() -> None:
    page = staff_page(principal("charge.icu"), "ICU", datetime.now(UTC))
    assert page.ward == "ICU" and page.gaps_shown
    assert page.gaps and page.gaps[0].startswith("ICU has no ACLS-certified nurse")
    assert page.days[0].gap_count == 1
    gap_cells = [c for c in page.days[0].cells if c.is_gap]
    assert gap_cells[0].message == page.gaps[0]


def test_an_admin_sees_every_ward_and_its_gaps() -> None:
    page = staff_page(principal("admin"), "ICU", datetime.now(UTC))
    assert {w.code for w in page.wards} == {"CARD", "ICU", "MED"}
    assert page.ward == "ICU" and page.gaps_shown and page.gaps
    assert page.my_staff_id == "" and page.my_shifts == []


def test_the_staff_panel_refuses_a_ward_outside_the_scope() -> None:
    now = datetime.now(UTC)
    with pytest.raises(PermissionError, match="ward ICU"):
        staff_status(principal("nurse.card"), "ICU", now)
    with pytest.raises(PermissionError, match="whole hospital"):
        staff_status(principal("nurse.card"), "ALL", now)
    rows, change = staff_status(principal("nurse.card"), "CARD", now)
    assert rows and {r.ward for r in rows} == {"CARD"}
    assert change  # the day or night shift ends at 07:00 or 19:00
    everyone, _ = staff_status(principal("dr.attending"), "ALL", now)
    assert {r.ward for r in everyone} == {"CARD", "ICU", "MED"}
