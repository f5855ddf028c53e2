"""Incident and ward-board service functions against a migrated, seeded Postgres."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, func, select
from testsupport import people_and_rules

from healthguard.db import get_engine, session_scope
from healthguard.incidents.service import (
    IncidentInputError,
    list_open_incidents,
    open_incident,
)
from healthguard.models import (
    Admission,
    Bed,
    Incident,
    IncidentEvent,
    Observation,
    Patient,
    Ward,
)
from healthguard.models.incidents import IncidentStatus
from healthguard.patients.phi import keyring_from_settings, read_identity
from healthguard.wards.service import ward_board

pytestmark = pytest.mark.integration

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def session(seeded: dict[str, int]) -> Iterator[Session]:
    """A session whose work is rolled back: each test sees only the seeded hospital."""
    with Session(get_engine()) as session:
        try:
            yield session
        finally:
            session.rollback()


def counts() -> tuple[int, int]:
    with Session(get_engine()) as s:
        return (
            s.exec(select(func.count()).select_from(Incident)).one(),
            s.exec(
                select(func.count())
                .select_from(IncidentEvent)
                .where(col(IncidentEvent.kind) == "opened")
            ).one(),
        )


def occupied_bed(session: Session, ward_code: str) -> tuple[Bed, Patient]:
    bed, patient = session.exec(
        select(Bed, Patient)
        .join(Ward, Ward.id == Bed.ward_id)  # type: ignore[arg-type]
        .join(Admission, Admission.bed_id == Bed.id)  # type: ignore[arg-type]
        .join(Patient, Patient.id == Admission.patient_id)  # type: ignore[arg-type]
        .where(Ward.code == ward_code, Admission.discharged_at.is_(None))  # type: ignore[union-attr]
        .order_by(Bed.label)
    ).first()  # type: ignore[misc]
    return bed, patient


def test_open_incident_writes_incident_and_opened_event(seeded: dict[str, int]) -> None:
    before = counts()
    with session_scope() as s:
        bed, patient = occupied_bed(s, "CARD")
        incident = open_incident(
            s,
            title="  SpO2 falling  ",
            priority=" p1 ",
            now=NOW,
            summary="SpO2 88% on 2 L",
            ward_code="card",
            bed_label=bed.label,
            source="triage",
            actor="alice",
        )
        incident_id = incident.id
        expected_patient = patient.id
    assert counts() == (before[0] + 1, before[1] + 1)

    with Session(get_engine()) as s:
        stored = s.get(Incident, incident_id)
        assert stored is not None
        assert stored.title == "SpO2 falling"
        assert stored.priority == "P1"
        assert stored.status == IncidentStatus.TRIGGERED.value
        assert stored.opened_at == NOW
        assert stored.source == "triage"
        assert stored.number is not None and stored.number > 0
        assert stored.patient_id == expected_patient
        ward = s.get(Ward, stored.ward_id)
        assert ward is not None and ward.code == "CARD"
        assert stored.bed_id == bed.id
        events = people_and_rules(
            s.exec(select(IncidentEvent).where(IncidentEvent.incident_id == incident_id)).all()
        )
        assert len(events) == 1
        assert events[0].kind == "opened"
        assert events[0].actor == "alice"
        assert events[0].at == NOW
        assert "P1" in events[0].message and "SpO2 falling" in events[0].message
        assert events[0].data == {"source": "triage"}


def test_open_incident_hospital_wide_has_no_place(session: Session) -> None:
    incident = open_incident(session, title="Pager gateway down", priority="P3", now=NOW)
    assert (incident.ward_id, incident.bed_id, incident.patient_id) == (None, None, None)


def test_empty_bed_links_no_patient(session: Session) -> None:
    occupied = sa.select(Admission.bed_id).where(Admission.discharged_at.is_(None))  # type: ignore[union-attr]
    empty = session.exec(
        select(Bed, Ward.code)
        .join(Ward, Ward.id == Bed.ward_id)  # type: ignore[arg-type]
        .where(Bed.id.not_in(occupied))  # type: ignore[union-attr]
    ).first()
    assert empty is not None, "the demo hospital has at least one empty bed"
    bed, code = empty
    incident = open_incident(
        session, title="Call bell", priority="P4", now=NOW, ward_code=code, bed_label=bed.label
    )
    assert incident.bed_id == bed.id
    assert incident.patient_id is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"ward_code": "NOPE"}, "ward_code"),
        ({"ward_code": "CARD", "bed_label": "B999"}, "bed_label"),
        ({"bed_label": "B1"}, "bed_label"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 301}, "title"),
        ({"priority": "P5"}, "priority"),
        ({"priority": ""}, "priority"),
        ({"now": datetime(2030, 1, 1)}, "now"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(
    seeded: dict[str, int], kwargs: dict[str, object], field: str
) -> None:
    values: dict[str, object] = {"title": "Check patient", "priority": "P2", "now": NOW}
    values.update(kwargs)
    before = counts()
    with pytest.raises(IncidentInputError) as info, session_scope() as s:
        open_incident(s, **values)  # type: ignore[arg-type]
    assert info.value.field == field
    assert str(info.value).startswith(field + ":")
    assert counts() == before


def test_bad_priority_message_lists_the_accepted_values(session: Session) -> None:
    with pytest.raises(IncidentInputError) as info:
        open_incident(session, title="x", priority="urgent", now=NOW)
    assert "P0, P1, P2, P3, P4" in info.value.message


def test_open_incidents_queue_order_and_filters(session: Session) -> None:
    t = NOW
    made = {
        "p3-old": open_incident(session, title="a", priority="P3", now=t, ward_code="MED"),
        "p1-new": open_incident(
            session, title="b", priority="P1", now=t + timedelta(minutes=5), ward_code="ICU"
        ),
        "p0-newest": open_incident(
            session, title="c", priority="P0", now=t + timedelta(minutes=9), ward_code="MED"
        ),
        "p1-old": open_incident(
            session, title="d", priority="P1", now=t + timedelta(minutes=1), ward_code="MED"
        ),
        "p2-resolved": open_incident(session, title="e", priority="P2", now=t, ward_code="MED"),
        "p4-acked": open_incident(session, title="f", priority="P4", now=t),
    }
    made["p2-resolved"].status = IncidentStatus.RESOLVED.value
    made["p4-acked"].status = IncidentStatus.ACKNOWLEDGED.value
    session.flush()
    name_of = {str(i.id): name for name, i in made.items()}

    rows = [r for r in list_open_incidents(session) if r.id in name_of]
    assert [name_of[r.id] for r in rows] == ["p0-newest", "p1-old", "p1-new", "p3-old", "p4-acked"]
    acked = next(r for r in rows if name_of[r.id] == "p4-acked")
    assert acked.acknowledged is True and acked.ward_code == ""
    assert all(not r.acknowledged for r in rows if r is not acked)

    med = session.exec(select(Ward).where(Ward.code == "MED")).one()
    med_rows = list_open_incidents(session, ward_id=med.id)
    assert {r.ward_code for r in med_rows} == {"MED"}
    assert [name_of[r.id] for r in med_rows if r.id in name_of] == ["p0-newest", "p1-old", "p3-old"]


def test_open_incident_row_shows_initials_only(session: Session) -> None:
    bed, patient = occupied_bed(session, "ICU")
    incident = open_incident(
        session, title="HR 150", priority="P1", now=NOW, ward_code="ICU", bed_label=bed.label
    )
    row = next(r for r in list_open_incidents(session) if r.id == str(incident.id))
    assert row.bed_label == bed.label
    who = read_identity(patient, keyring_from_settings())
    assert row.patient_initials == f"{who.given_name[0]}.{who.family_name[0]}."
    assert who.family_name not in row.patient_initials


def test_ward_board_lists_every_bed(session: Session) -> None:
    board = ward_board(session)
    beds = session.exec(
        select(Ward.code, Bed.label).join(Ward, Ward.id == Bed.ward_id)  # type: ignore[arg-type]
    ).all()
    assert sorted((r.ward_code, r.bed_label) for r in board) == sorted(beds)
    assert {r.ward_code for r in board} == {"CARD", "ICU", "MED"}
    assert any(r.patient_id for r in board) and any(r.patient_id is None for r in board)

    card = ward_board(session, "card")
    assert {r.ward_code for r in card} == {"CARD"}
    assert len(card) == sum(1 for code, _ in beds if code == "CARD")


def test_ward_board_latest_value_is_the_newest_observation(session: Session) -> None:
    obs = Observation.__table__  # type: ignore[attr-defined]
    newest_at = (
        sa.select(obs.c.patient_id, obs.c.parameter, sa.func.max(obs.c.observed_at).label("at"))
        .group_by(obs.c.patient_id, obs.c.parameter)
        .subquery()
    )
    expected = {
        (str(pid), parameter): (value, text, at)
        for pid, parameter, value, text, at in session.execute(
            sa.select(
                obs.c.patient_id, obs.c.parameter, obs.c.value, obs.c.value_text, obs.c.observed_at
            ).join(
                newest_at,
                sa.and_(
                    newest_at.c.patient_id == obs.c.patient_id,
                    newest_at.c.parameter == obs.c.parameter,
                    newest_at.c.at == obs.c.observed_at,
                ),
            )
        )
    }
    board = ward_board(session)
    seen = {}
    for bed in board:
        for parameter, latest in (bed.latest or {}).items():
            seen[(bed.patient_id, parameter)] = (
                latest.value,
                latest.value_text,
                latest.observed_at,
            )
    assert seen, "the demo patients have vitals"
    assert seen == {k: v for k, v in expected.items() if k[0] in {b.patient_id for b in board}}

    # A newer reading replaces the shown value; an older (late) one does not.
    bed = next(b for b in board if b.patient_id and "heart_rate" in b.latest)
    shown = bed.latest["heart_rate"]
    session.add_all(
        [
            Observation(
                patient_id=bed.patient_id,  # type: ignore[arg-type]
                parameter="heart_rate",
                value=171.0,
                unit="/min",
                source="test",
                observed_at=shown.observed_at + timedelta(seconds=30),
            ),
            Observation(
                patient_id=bed.patient_id,  # type: ignore[arg-type]
                parameter="spo2",
                value=50.0,
                unit="%",
                source="test",
                observed_at=shown.observed_at - timedelta(days=1),
            ),
        ]
    )
    session.flush()
    again = next(b for b in ward_board(session, bed.ward_code) if b.bed_label == bed.bed_label)
    assert again.latest["heart_rate"].value == 171.0
    assert again.last_observed_at == shown.observed_at + timedelta(seconds=30)
    assert again.latest["spo2"].value == bed.latest["spo2"].value
