"""Migrations: the chain applies to an empty database, matches the models, reverts cleanly,
and a database migrated by a newer version is recognised."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from healthguard import migrations
from healthguard.models import metadata

pytestmark = pytest.mark.integration


def _exec(url: str, sql: str, **params: object) -> None:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql), params)
    finally:
        engine.dispose()


def test_head_is_a_single_known_revision() -> None:
    script = ScriptDirectory.from_config(migrations.alembic_config())
    assert len(script.get_heads()) == 1  # one line of history, no forgotten branch
    assert migrations.head_revision() == script.get_heads()[0]


def test_upgrade_downgrade_upgrade_cycle(empty_database_url: str) -> None:
    url = empty_database_url
    assert migrations.current_revision(url) is None
    assert migrations.check_schema(url) == "empty"
    # Sanity: against an empty database the comparison does find every table missing.
    missing = migrations.pending_model_changes(url)
    added_tables = {diff[1].name for diff in missing if diff[0] == "add_table"}
    assert added_tables == set(metadata.tables)

    migrations.upgrade_to_head(url)
    assert migrations.current_revision(url) == migrations.head_revision()
    assert migrations.check_schema(url) == "current"
    assert migrations.pending_model_changes(url) == []
    assert set(migrations.table_names(url)) == set(metadata.tables) | {"alembic_version"}

    migrations.downgrade_to_base(url)
    assert migrations.table_names(url) == ["alembic_version"]
    assert migrations.current_revision(url) is None
    assert migrations.check_schema(url) == "empty"

    migrations.upgrade_to_head(url)
    assert migrations.check_schema(url) == "current"
    assert migrations.pending_model_changes(url) == []

    # Upgrading an up-to-date database is a no-op.
    migrations.upgrade_to_head(url)
    assert migrations.current_revision(url) == migrations.head_revision()


def test_unknown_revision_reports_ahead(empty_database_url: str) -> None:
    url = empty_database_url
    migrations.upgrade_to_head(url)
    head = migrations.head_revision()
    _exec(url, "UPDATE alembic_version SET version_num = '9999_from_a_newer_release'")
    try:
        assert migrations.current_revision(url) == "9999_from_a_newer_release"
        assert migrations.check_schema(url) == "ahead"
    finally:
        _exec(url, "UPDATE alembic_version SET version_num = :head", head=head)
    assert migrations.check_schema(url) == "current"


def test_schema_enforces_key_constraints(empty_database_url: str) -> None:
    """The constraints other code relies on exist in the migrated database."""
    url = empty_database_url
    migrations.upgrade_to_head(url)
    engine = sa.create_engine(url, poolclass=NullPool)
    now = datetime.now(UTC)

    def fails(sql: str, **params: object) -> bool:
        with engine.connect() as conn:
            try:
                conn.execute(sa.text(sql), params)
            except IntegrityError:
                return True
            finally:
                conn.rollback()
        return False

    try:
        ward, bed, patient, other = (uuid.uuid4() for _ in range(4))
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO wards (id, code, name, created_at) VALUES (:w, 'TST', 'T', :n)"
                ),
                {"w": ward, "n": now},
            )
            conn.execute(
                sa.text("INSERT INTO beds (id, ward_id, label) VALUES (:b, :w, 'B1')"),
                {"b": bed, "w": ward},
            )
            for pid, mrn in ((patient, "T1"), (other, "T2")):
                conn.execute(
                    sa.text(
                        "INSERT INTO patients (id, mrn_index, mrn_enc, family_name_enc,"
                        " given_name_enc, date_of_birth_enc, sex, allergies_enc, notes_enc,"
                        " spo2_scale, created_at)"
                        " VALUES (:p, :mrn, 'x', 'x', 'x', 'x', 'unknown', 'x', 'x', 1, :n)"
                    ),
                    {"p": pid, "mrn": mrn, "n": now},
                )
            conn.execute(
                sa.text(
                    "INSERT INTO admissions (id, patient_id, bed_id, admitted_at)"
                    " VALUES (:a, :p, :b, :n)"
                ),
                {"a": uuid.uuid4(), "p": patient, "b": bed, "n": now},
            )

        # One current admission per bed; a discharged one does not count.
        second = (
            "INSERT INTO admissions (id, patient_id, bed_id, admitted_at, discharged_at)"
            " VALUES (gen_random_uuid(), :p, :b, :n, :d)"
        )
        assert fails(second, p=other, b=bed, n=now, d=None)
        assert not fails(second, p=other, b=bed, n=now - timedelta(days=2), d=now)
        # SpO2 scale is 1 or 2.
        assert fails("UPDATE patients SET spo2_scale = 3 WHERE id = :p", p=patient)

        # A shift ends after it starts.
        staff = uuid.uuid4()
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO staff (id, display_name, role, availability, created_at)"
                    " VALUES (:s, 'Test Nurse', 'nurse', 'available', :n)"
                ),
                {"s": staff, "n": now},
            )
        assert fails(
            "INSERT INTO shifts (id, staff_id, ward_id, starts_at, ends_at)"
            " VALUES (gen_random_uuid(), :s, :w, :n, :n)",
            s=staff, w=ward, n=now,
        )  # fmt: skip

        # Incident numbers come from the database; one open incident per dedup key.
        incident = (
            "INSERT INTO incidents (id, title, summary, priority, status, dedup_key, source,"
            " escalation_step, version, opened_at, updated_at)"
            " VALUES (gen_random_uuid(), 't', '', :prio, :status, 'k1', 'test', 0, 1, :n, :n)"
        )
        with engine.begin() as conn:
            conn.execute(sa.text(incident), {"prio": "P1", "status": "resolved", "n": now})
            conn.execute(sa.text(incident), {"prio": "P1", "status": "triggered", "n": now})
            numbers = conn.execute(sa.text("SELECT number FROM incidents ORDER BY number"))
            assert [row[0] for row in numbers] == [1, 2]
        assert fails(incident, prio="P1", status="acknowledged", n=now)
        assert fails(incident.replace("'k1'", "'k2'"), prio="P5", status="triggered", n=now)
    finally:
        engine.dispose()


def test_incident_lifecycle_migration_keeps_the_data(empty_database_url: str) -> None:
    """0006: acknowledged_by is filled from the timeline on upgrade; closed frees the dedup
    key; downgrade maps in_progress and closed back to statuses 0005 knows."""
    from alembic import command

    url = empty_database_url
    migrations.upgrade_to_head(url)  # (other tests of the module may have used it)
    migrations._run_command(url, command.downgrade, "0005_clinical")
    now = datetime.now(UTC)
    acked, started, closed = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    insert = (
        "INSERT INTO incidents (id, title, summary, priority, status, dedup_key, source,"
        " escalation_step, version, opened_at, acknowledged_at, updated_at)"
        " VALUES (:id, 't', '', 'P2', :status, :key, 'test', 0, 1, :n, :ack, :n)"
    )
    _exec(url, insert, id=acked, status="acknowledged", key="m1", n=now, ack=now)
    _exec(url, insert, id=started, status="acknowledged", key="m2", n=now, ack=now)
    _exec(url, insert, id=closed, status="resolved", key="m3", n=now, ack=None)
    _exec(
        url,
        "INSERT INTO incident_events (incident_id, at, kind, actor, message, data)"
        " VALUES (:i, :n, 'acknowledged', 'ana.lopez', 'Acknowledged by ana.lopez', '{}')",
        i=acked,
        n=now,
    )
    migrations.upgrade_to_head(url)
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            rows = dict(conn.execute(sa.text("SELECT id, acknowledged_by FROM incidents")).all())
            assert (rows[acked], rows[started], rows[closed]) == ("ana.lopez", None, None)
            conn.execute(
                sa.text("UPDATE incidents SET status = 'in_progress' WHERE id = :i"), {"i": started}
            )
            conn.execute(
                sa.text("UPDATE incidents SET status = 'closed' WHERE id = :i"), {"i": closed}
            )
            # A closed incident no longer holds its dedup key; an in-progress one does.
            conn.execute(sa.text(insert), dict(id=uuid.uuid4(), status="triggered", key="m3",
                                               n=now, ack=None))  # fmt: skip
        with engine.connect() as conn, pytest.raises(IntegrityError):
            conn.execute(sa.text(insert), dict(id=uuid.uuid4(), status="triggered", key="m2",
                                               n=now, ack=None))  # fmt: skip
    finally:
        engine.dispose()
    migrations._run_command(url, command.downgrade, "0005_clinical")
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            statuses = dict(conn.execute(sa.text("SELECT id, status FROM incidents")).all())
    finally:
        engine.dispose()
    assert (statuses[acked], statuses[started], statuses[closed]) == (
        "acknowledged",
        "acknowledged",
        "resolved",
    )
    migrations.upgrade_to_head(url)
    assert migrations.check_schema(url) == "current"
