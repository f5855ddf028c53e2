"""Demo data: enough of everything, staffed around the clock, and idempotent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool
from sqlmodel import Session, col, func, select

from healthguard.models import (
    Admission,
    Bed,
    EscalationPolicy,
    Incident,
    Observation,
    Patient,
    Shift,
    Staff,
    StaffSkill,
    User,
    Ward,
    metadata,
)
from healthguard.patients.phi import keyring_from_settings, read_identity
from healthguard.seed import DEMO_USERS, PATIENTS, seed_demo_data

pytestmark = pytest.mark.integration

WARD_ROLES = {"nurse", "charge_nurse", "resident", "attending"}


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(database_url, poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def seeded(engine: sa.Engine, app_env: dict[str, str]) -> tuple[datetime, dict[str, int]]:
    # app_env: demo mode, so the settings hold the PHI keyring and the blind index key.
    now = datetime.now(UTC)
    with Session(engine) as session:
        created = seed_demo_data(session, now)
        session.commit()
    return now, created


def _row_counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            name: conn.execute(sa.select(func.count()).select_from(table)).scalar_one()
            for name, table in metadata.tables.items()
        }


def _on_shift(session: Session, at: datetime) -> list[tuple[Any, str]]:
    """(ward_id, role) of everyone on duty at ``at``."""
    stmt = (
        select(Shift.ward_id, Staff.role)
        .join(Staff, col(Staff.id) == col(Shift.staff_id))
        .where(Shift.starts_at <= at, Shift.ends_at > at)
    )
    return list(session.exec(stmt).all())


def test_counts_meet_minimums(engine: sa.Engine, seeded: tuple[datetime, dict[str, int]]) -> None:
    _, created = seeded
    counts = _row_counts(engine)
    assert created["wards"] == counts["wards"] == 3
    assert created["beds"] == counts["beds"] >= 20
    assert created["patients"] == counts["patients"] >= 12
    assert created["admissions"] == counts["admissions"] == counts["patients"]
    assert created["users"] == counts["users"] == len(DEMO_USERS)
    assert counts["escalation_policies"] == 5
    assert counts["incidents"] == 0
    with Session(engine) as session:
        codes = set(session.exec(select(Ward.code)).all())
        assert codes == {"CARD", "MED", "ICU"}
        for ward in session.exec(select(Ward)).all():
            beds = session.exec(select(Bed).where(Bed.ward_id == ward.id)).all()
            assert len(beds) >= 4, ward.code
            assert all(bed.room_id is not None for bed in beds)
            staff = session.exec(select(Staff.role).where(Staff.home_ward_id == ward.id)).all()
            assert len(staff) >= 5, ward.code
            assert set(staff) >= WARD_ROLES, ward.code
        roles = session.exec(select(Staff.role).where(col(Staff.home_ward_id).is_(None))).all()
        assert sorted(roles).count("rapid_response") == 3
        assert "operator" in roles


def test_patients_are_admitted_with_profiles(
    engine: sa.Engine, seeded: tuple[datetime, dict[str, int]]
) -> None:
    with Session(engine) as session:
        patients = session.exec(select(Patient)).all()
        keyring = keyring_from_settings()
        for p in patients:
            who = read_identity(p, keyring)
            assert who.family_name and who.given_name and who.notes and who.allergies, p.id
            assert who.date_of_birth.year < 2010, p.id
        assert {read_identity(p, keyring).mrn for p in patients} == {p.mrn for p in PATIENTS}
        current = session.exec(
            select(Admission).where(col(Admission.discharged_at).is_(None))
        ).all()
        assert {a.patient_id for a in current} == {p.id for p in patients}
        assert len({a.bed_id for a in current}) == len(current)


def test_exactly_one_patient_on_spo2_scale_2(
    engine: sa.Engine, seeded: tuple[datetime, dict[str, int]]
) -> None:
    with Session(engine) as session:
        scale2 = session.exec(select(Patient).where(Patient.spo2_scale == 2)).all()
        assert len(scale2) == 1
        patient = scale2[0]
        notes = read_identity(patient, keyring_from_settings()).notes
        assert "hypercapnic" in notes and "88-92" in notes
        spo2 = session.exec(
            select(Observation.value).where(
                Observation.patient_id == patient.id, Observation.parameter == "spo2"
            )
        ).all()
        assert spo2 and all(v is not None and 88 <= v <= 92 for v in spo2)


def test_recent_vitals_for_every_patient(
    engine: sa.Engine, seeded: tuple[datetime, dict[str, int]]
) -> None:
    now, _ = seeded
    params = {
        "heart_rate", "spo2", "resp_rate", "systolic_bp",
        "diastolic_bp", "temperature_c", "consciousness", "on_oxygen",
    }  # fmt: skip
    with Session(engine) as session:
        rows = session.exec(select(Observation)).all()
        patients = session.exec(select(Patient.id)).all()
    assert {o.patient_id for o in rows} == set(patients)
    assert {o.parameter for o in rows} == params
    assert all(now - timedelta(hours=2) <= o.observed_at <= now for o in rows)
    assert all((o.value is None) != (o.value_text is None) for o in rows)

    # One patient is deteriorating: respiratory and heart rate up, systolic pressure down.
    def series(patient_id: Any, parameter: str) -> list[float]:
        points = sorted(
            (o.observed_at, o.value)
            for o in rows
            if o.patient_id == patient_id and o.parameter == parameter and o.value is not None
        )
        return [v for _, v in points]

    deteriorating = [
        pid
        for pid in patients
        if series(pid, "resp_rate")[-1] - series(pid, "resp_rate")[0] >= 4
        and series(pid, "heart_rate")[-1] - series(pid, "heart_rate")[0] >= 15
        and series(pid, "systolic_bp")[0] - series(pid, "systolic_bp")[-1] >= 15
    ]
    assert len(deteriorating) == 1


def test_every_ward_staffed_now_and_in_twelve_hours(
    engine: sa.Engine, seeded: tuple[datetime, dict[str, int]]
) -> None:
    now, _ = seeded
    with Session(engine) as session:
        wards = session.exec(select(Ward)).all()
        for at in (now, now + timedelta(hours=12)):
            on_duty = _on_shift(session, at)
            for ward in wards:
                roles = {role for ward_id, role in on_duty if ward_id == ward.id}
                assert roles >= WARD_ROLES, (ward.code, at)
            hospital_wide = [role for ward_id, role in on_duty if ward_id is None]
            assert hospital_wide.count("rapid_response") == 3
            assert "operator" in hospital_wide


def test_skills_include_acls_expiring_soon(
    engine: sa.Engine, seeded: tuple[datetime, dict[str, int]]
) -> None:
    now, _ = seeded
    with Session(engine) as session:
        skills = session.exec(select(StaffSkill)).all()
    names = {s.skill for s in skills}
    assert {"BLS", "ACLS", "PALS"} <= names
    soon = [
        s
        for s in skills
        if s.skill == "ACLS" and s.expires_on and s.expires_on <= now.date() + timedelta(days=30)
    ]
    assert 1 <= len(soon) < len([s for s in skills if s.skill == "ACLS"])


def test_demo_users_match_roles_and_staff(
    engine: sa.Engine, seeded: tuple[datetime, dict[str, int]]
) -> None:
    with Session(engine) as session:
        users = {u.username: u for u in session.exec(select(User)).all()}
        assert set(users) == {name for name, _, _ in DEMO_USERS}
        for username, role, staff_name in DEMO_USERS:
            user = users[username]
            assert user.role == role and user.is_active and user.password_hash is None
            if staff_name is None:
                assert user.staff_id is None
            else:
                staff = session.get(Staff, user.staff_id)
                assert staff is not None and staff.display_name == staff_name


def test_default_escalation_policies(
    engine: sa.Engine, seeded: tuple[datetime, dict[str, int]]
) -> None:
    with Session(engine) as session:
        policies = {
            p.priority: p for p in session.exec(select(EscalationPolicy)).all() if p.ward_id is None
        }
        assert set(policies) == {"P0", "P1", "P2", "P3", "P4"}

        def steps(priority: str) -> list[tuple[int, list[tuple[str, str]], int | None]]:
            return [
                (
                    step["delay_seconds"],
                    [(t["kind"], t["ref"]) for t in step["targets"]],
                    step["repeat_every_seconds"],
                )
                for step in policies[priority].definition["steps"]
            ]

        assert steps("P0") == [
            (0, [("team", "rapid_response"), ("ward_role", "charge_nurse")], 30),
            (60, [("ward_role", "attending"), ("team", "operator")], None),
        ]
        assert [d for d, _, _ in steps("P1")] == [0, 120, 300]
        assert [d for d, _, _ in steps("P2")] == [0, 300, 900]
        assert [d for d, _, _ in steps("P3")] == [0, 1800]
        assert steps("P4") == [(0, [("assignee", "")], None)]


def test_seeding_twice_changes_nothing(
    engine: sa.Engine, seeded: tuple[datetime, dict[str, int]]
) -> None:
    now, _ = seeded
    before = _row_counts(engine)
    with Session(engine) as session:
        created = seed_demo_data(session, now)
        session.commit()
    assert set(created.values()) == {0}
    assert _row_counts(engine) == before
    # No incidents are seeded, ever.
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Incident)).one() == 0
