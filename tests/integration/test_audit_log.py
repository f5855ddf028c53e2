"""The audit log against a real Postgres: hash chain, append-only triggers, tamper detection,
concurrent writers, secrets guard, queries, exports and the CLI functions."""

from __future__ import annotations

import csv
import io
import itertools
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from healthguard.db import get_engine, session_scope
from healthguard.migrations import pending_model_changes
from healthguard.models import AuditLog
from healthguard.security.audit import (
    GENESIS_HASH,
    AuditAction,
    AuditEntry,
    AuditFilter,
    export_and_record,
    export_audit,
    query_audit,
    record_audit,
    verify_chain,
)
from healthguard.security.audit_cli import cmd_audit_export, cmd_audit_verify
from healthguard.settings import Settings

pytestmark = pytest.mark.integration

T0 = datetime(2030, 6, 1, 12, 0, 0, 250000, tzinfo=UTC)


def tamper(url: str, *statements: str) -> None:
    """What a superuser (or the table owner) could do: switch the triggers off, change
    rows, switch them back on, in one transaction."""
    with session_scope(url) as session:
        session.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        for statement in statements:
            session.execute(sa.text(statement))
        session.execute(sa.text("ALTER TABLE audit_log ENABLE TRIGGER USER"))


@pytest.fixture(autouse=True)
def empty_log(database_url: str) -> None:
    """Each test starts from an empty audit log (the reset itself needs the triggers off)."""
    tamper(database_url, "TRUNCATE audit_log RESTART IDENTITY")


def add_rows(url: str, count: int, *, start: datetime = T0, **fields: Any) -> list[int]:
    """``count`` audit rows, each in its own transaction; returns their ids."""
    ids: list[int] = []
    for i in range(count):
        with session_scope(url) as session:
            row = record_audit(
                session,
                actor=fields.get("actor", f"user{i % 3}"),
                action=fields.get("action", AuditAction.PATIENT_READ),
                record_type=fields.get("record_type", "patient"),
                record_id=fields.get("record_id", f"p{i}"),
                now=start + timedelta(minutes=i),
                ip="10.1.2.3",
                user_agent="pytest",
                details={"i": i},
            )
            assert row.id is not None
            ids.append(row.id)
    return ids


def all_rows(url: str) -> list[AuditLog]:
    with Session(get_engine(url)) as session:
        return list(session.execute(sa.select(AuditLog).order_by(AuditLog.id)).scalars())  # type: ignore[arg-type]


def verify(url: str, batch_size: int = 1000) -> Any:
    with Session(get_engine(url)) as session:
        return verify_chain(session, batch_size=batch_size)


# --- the chain -----------------------------------------------------------------------------


def test_models_match_the_migrations_for_the_audit_log(database_url: str) -> None:
    diffs = [d for d in pending_model_changes(database_url) if "audit_log" in repr(d)]
    assert diffs == []


def test_records_form_a_valid_chain(database_url: str) -> None:
    ids = add_rows(database_url, 12)
    rows = all_rows(database_url)
    assert [r.id for r in rows] == ids
    assert rows[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(rows):
        assert after.prev_hash == before.hash
    for row in rows:
        assert AuditEntry.from_row(row.model_dump()).digest() == row.hash
    report = verify(database_url)
    assert report.ok, report.reason
    assert report.rows_checked == 12
    assert report.head_id == ids[-1]
    assert report.head_hash == rows[-1].hash
    # Batches do not change the outcome.
    assert verify(database_url, batch_size=5) == report
    assert verify(database_url, batch_size=1) == report


def test_empty_log_is_intact(database_url: str) -> None:
    report = verify(database_url)
    assert report.ok and report.rows_checked == 0 and report.head_hash is None


def test_stored_values_round_trip_exactly(database_url: str) -> None:
    """Time to the microsecond and JSONB numbers come back as they were hashed."""
    odd = uuid.uuid4()
    with session_scope(database_url) as session:
        record_audit(
            session,
            actor="nurse.ada",
            action="vitals.read",
            record_type="patient",
            now=T0.astimezone(ZoneInfo("Europe/London")),
            details={
                "big": 1e20,
                "whole": 2.0,
                "tiny": 1.5e-7,
                "text": "naïve \x00 ✓",
                "patient": odd,
                "when": T0,
                "nested": {"list": [1, 2.5, None, True]},
            },
        )
    (row,) = all_rows(database_url)
    assert row.at == T0
    assert row.details["patient"] == str(odd)
    assert row.details["big"] == 10**20
    assert verify(database_url).ok


def test_bad_input_is_refused(database_url: str) -> None:
    with session_scope(database_url) as session:
        with pytest.raises(ValueError, match="timezone-aware"):
            record_audit(
                session,
                actor="a",
                action="logout",
                record_type="user",
                now=datetime(2030, 1, 1),
            )
        with pytest.raises(ValueError, match="unknown audit action"):
            record_audit(session, actor="a", action="log.out", record_type="user", now=T0)
        with pytest.raises(ValueError, match="actor"):
            record_audit(session, actor=" ", action="logout", record_type="user", now=T0)
        with pytest.raises(ValueError, match="bad audit outcome"):
            record_audit(
                session, actor="a", action="logout", record_type="user", now=T0, outcome="OK!"
            )
    assert all_rows(database_url) == []


def test_repeatable_read_sessions_are_refused(database_url: str) -> None:
    engine = get_engine(database_url).execution_options(isolation_level="REPEATABLE READ")
    with Session(engine) as session, pytest.raises(RuntimeError, match="READ COMMITTED"):
        record_audit(session, actor="a", action="logout", record_type="user", now=T0)


def test_long_outside_values_are_cut_not_fatal(database_url: str) -> None:
    with session_scope(database_url) as session:
        row = record_audit(
            session,
            actor="x" * 1000,
            action="login.failure",
            record_type="user",
            now=T0,
            outcome="failure",
            ip="1" * 100,
            user_agent="=cmd|' /C calc'!A0" + "u" * 1000,
        )
    assert len(row.actor) == 200 and len(row.user_agent or "") == 500 and len(row.ip or "") == 64
    assert verify(database_url).ok


def test_a_rolled_back_transaction_leaves_no_row_and_the_chain_intact(database_url: str) -> None:
    add_rows(database_url, 2)
    with pytest.raises(RuntimeError, match="boom"), session_scope(database_url) as session:
        record_audit(session, actor="a", action="logout", record_type="user", now=T0)
        raise RuntimeError("boom")
    add_rows(database_url, 2)
    report = verify(database_url)
    assert report.ok and report.rows_checked == 4  # ids have a gap, the chain does not


# --- append-only in Postgres ---------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET details = '{}'::jsonb WHERE id = (SELECT min(id) FROM audit_log)",
        "UPDATE audit_log SET outcome = outcome",
        "DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ],
)
def test_the_application_cannot_change_or_remove_rows(database_url: str, statement: str) -> None:
    add_rows(database_url, 3)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), session_scope(database_url) as s:
        s.execute(sa.text(statement))
    assert len(all_rows(database_url)) == 3
    assert verify(database_url).ok


def test_orm_updates_and_deletes_are_refused_too(database_url: str) -> None:
    add_rows(database_url, 1)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), session_scope(database_url) as s:
        row = s.execute(sa.select(AuditLog)).scalars().one()
        row.actor = "someone.else"
        s.flush()
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), session_scope(database_url) as s:
        s.delete(s.execute(sa.select(AuditLog)).scalars().one())
        s.flush()
    assert all_rows(database_url)[0].actor == "user0"


# --- tampering with the triggers off -------------------------------------------------------


def test_an_edited_row_is_named(database_url: str) -> None:
    ids = add_rows(database_url, 10)
    assert verify(database_url).ok
    tamper(
        database_url,
        f"UPDATE audit_log SET details = '{{\"i\": 999}}'::jsonb WHERE id = {ids[4]}",
    )
    report = verify(database_url)
    assert not report.ok
    assert report.first_bad_id == ids[4]
    assert report.reason == f"row {ids[4]} was edited: its contents no longer match its hash"
    assert report.head_id == ids[3]
    assert report.rows_checked == 5


@pytest.mark.parametrize(
    "column_sql",
    [
        "actor = 'someone.else'",
        "at = at + interval '1 microsecond'",
        "outcome = 'failure'",
        "record_id = NULL",
        "ip = '192.168.0.1'",
        "hash = repeat('0', 64)",
        "prev_hash = repeat('1', 64)",
    ],
)
def test_editing_any_column_is_detected(database_url: str, column_sql: str) -> None:
    ids = add_rows(database_url, 5)
    tamper(database_url, f"UPDATE audit_log SET {column_sql} WHERE id = {ids[2]}")
    report = verify(database_url)
    assert not report.ok and report.first_bad_id == ids[2]
    assert f"row {ids[2]} was edited" in (report.reason or "")


def test_a_deleted_middle_row_is_named(database_url: str) -> None:
    ids = add_rows(database_url, 10)
    tamper(database_url, f"DELETE FROM audit_log WHERE id = {ids[5]}")
    report = verify(database_url)
    assert not report.ok
    assert report.first_bad_id == ids[6]
    assert report.reason == (
        f"row {ids[6]} does not follow row {ids[4]}: a row was deleted or the rows were reordered"
    )


def test_a_deleted_first_row_is_named(database_url: str) -> None:
    ids = add_rows(database_url, 4)
    tamper(database_url, f"DELETE FROM audit_log WHERE id = {ids[0]}")
    report = verify(database_url)
    assert not report.ok and report.first_bad_id == ids[1]
    assert f"row {ids[1]} does not start the chain" in (report.reason or "")


SWAPPED = (
    "at",
    "actor",
    "action",
    "record_type",
    "record_id",
    "ip",
    "user_agent",
    "outcome",
    "details",
    "prev_hash",
    "hash",
)


def swap_sql(a: int, b: int) -> str:
    cols = ", ".join(SWAPPED)
    other = ", ".join(f"o.{c}" for c in SWAPPED)
    return (
        f"UPDATE audit_log t SET ({cols}) = (SELECT {other} FROM audit_log o "
        f"WHERE o.id = CASE t.id WHEN {a} THEN {b} ELSE {a} END) WHERE t.id IN ({a}, {b})"
    )


def test_two_swapped_rows_are_named(database_url: str) -> None:
    ids = add_rows(database_url, 10)
    tamper(database_url, swap_sql(ids[2], ids[7]))
    rows = all_rows(database_url)
    assert json.loads(json.dumps(rows[2].details)) == {"i": 7}  # the swap happened
    report = verify(database_url)
    assert not report.ok
    assert report.first_bad_id == ids[2]
    assert report.reason == (
        f"row {ids[2]} does not follow row {ids[1]}: a row was deleted or the rows were reordered"
    )


def test_two_swapped_neighbours_are_named(database_url: str) -> None:
    ids = add_rows(database_url, 6)
    tamper(database_url, swap_sql(ids[3], ids[4]))
    report = verify(database_url)
    assert not report.ok and report.first_bad_id == ids[3]
    assert "does not follow" in (report.reason or "")


def test_an_edit_with_a_recomputed_row_hash_breaks_the_next_link(database_url: str) -> None:
    ids = add_rows(database_url, 6)
    (victim,) = [r for r in all_rows(database_url) if r.id == ids[2]]
    forged = AuditEntry.from_row({**victim.model_dump(), "actor": "someone.else"})
    tamper(
        database_url,
        f"UPDATE audit_log SET actor = 'someone.else', hash = '{forged.digest()}' "
        f"WHERE id = {ids[2]}",
    )
    report = verify(database_url)
    assert not report.ok and report.first_bad_id == ids[3]
    assert f"row {ids[3]} does not follow row {ids[2]}" in (report.reason or "")


# --- concurrency ---------------------------------------------------------------------------


def test_concurrent_writers_keep_one_chain(database_url: str) -> None:
    threads_count, per_thread = 4, 25
    start = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            start.wait(timeout=30)
            for i in range(per_thread):
                with session_scope(database_url) as session:
                    record_audit(
                        session,
                        actor=f"writer{n}",
                        action=AuditAction.INCIDENT_UPDATED,
                        record_type="incident",
                        record_id=str(i),
                        now=datetime.now(UTC),
                        details={"writer": n, "i": i},
                    )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(threads_count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    report = verify(database_url)
    assert report.ok, report.reason
    assert report.rows_checked == threads_count * per_thread
    rows = all_rows(database_url)
    assert len({r.prev_hash for r in rows}) == len(rows)  # no fork: every link used once
    for n in range(threads_count):
        assert sum(1 for r in rows if r.actor == f"writer{n}") == per_thread


# --- secrets -------------------------------------------------------------------------------


def test_secret_looking_keys_are_dropped_and_listed(database_url: str) -> None:
    with session_scope(database_url) as session:
        record_audit(
            session,
            actor="anonymous",
            action=AuditAction.LOGIN_FAILURE,
            record_type="user",
            now=T0,
            outcome="failure",
            details={
                "username": "ada",
                "password": "hunter2-secret-value",
                "refresh_token": "rt-should-not-be-here",
                "client": {"api_key": "ak-should-not-be-here", "name": "gw"},
                "token_type": "bearer",
            },
        )
    (row,) = all_rows(database_url)
    assert row.details == {
        "username": "ada",
        "client": {"name": "gw"},
        "token_type": "bearer",
        "_redacted": ["client.api_key", "password", "refresh_token"],
    }
    with Session(get_engine(database_url)) as session:
        raw = session.execute(sa.text("SELECT details::text FROM audit_log")).scalar_one()
    for secret in ("hunter2", "rt-should", "ak-should"):
        assert secret not in raw
    assert verify(database_url).ok


# --- queries and exports -------------------------------------------------------------------


@pytest.fixture
def mixed_log(database_url: str) -> dict[str, list[int]]:
    """A small hospital morning: reads, incident changes, a failed login."""
    ids: dict[str, list[int]] = {"reads": [], "incidents": [], "failures": []}
    entries: list[tuple[str, str, str, str | None, str]] = [
        ("nurse.ada", "patient.read", "patient", "p1", "reads"),
        ("nurse.ada", "vitals.read", "patient", "p1", "reads"),
        ("dr.bob", "patient.read", "patient", "p2", "reads"),
        ("dr.bob", "incident.acknowledged", "incident", "i1", "incidents"),
        ("nurse.ada", "incident.resolved", "incident", "i1", "incidents"),
        ("eve", "login.failure", "user", None, "failures"),
    ]
    with session_scope(database_url) as session:
        for minute, (actor, action, rtype, rid, group) in enumerate(entries):
            row = record_audit(
                session,
                actor=actor,
                action=action,
                record_type=rtype,
                record_id=rid,
                now=T0 + timedelta(minutes=minute),
                outcome="failure" if group == "failures" else "success",
                ip="10.0.0.1",
                user_agent='=HYPERLINK("http://evil")' if actor == "eve" else "Firefox",
            )
            assert row.id is not None
            ids[group].append(row.id)
    return ids


def ids_of(rows: list[AuditLog]) -> list[int]:
    return [r.id for r in rows if r.id is not None]


def test_query_filters(database_url: str, mixed_log: dict[str, list[int]]) -> None:
    with Session(get_engine(database_url)) as s:
        everything = query_audit(s)
        assert len(everything) == 6
        assert ids_of(everything) == sorted(ids_of(everything), reverse=True)  # newest first
        assert {r.actor for r in query_audit(s, actor="nurse.ada")} == {"nurse.ada"}
        assert len(query_audit(s, actor="nurse.ada")) == 3
        assert ids_of(query_audit(s, action="patient.read")) == [
            mixed_log["reads"][2],
            mixed_log["reads"][0],
        ]
        assert ids_of(query_audit(s, action="incident.*")) == mixed_log["incidents"][::-1]
        assert len(query_audit(s, record_type="patient", record_id="p1")) == 2
        assert ids_of(query_audit(s, outcome="failure")) == mixed_log["failures"]
        window = query_audit(s, since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3))
        assert ids_of(window) == [mixed_log["reads"][2], mixed_log["reads"][1]]
        assert query_audit(s, actor="nurse.ada", action="incident.*")[0].action == (
            "incident.resolved"
        )
        assert ids_of(query_audit(s, limit=2)) == ids_of(everything)[:2]
        assert ids_of(query_audit(s, limit=2, offset=2)) == ids_of(everything)[2:4]
        assert query_audit(s, actor="nobody") == []
        with pytest.raises(ValueError, match="limit"):
            query_audit(s, limit=0)
        with pytest.raises(ValueError, match="timezone-aware"):
            query_audit(s, since=datetime(2030, 1, 1))


def test_csv_export_contains_the_filtered_rows(
    database_url: str, mixed_log: dict[str, list[int]]
) -> None:
    with Session(get_engine(database_url)) as s:
        text = export_audit(s, "csv", AuditFilter(actor="nurse.ada"))
        everything = export_audit(s, "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [int(r["id"]) for r in rows] == sorted(
        mixed_log["reads"][:2] + mixed_log["incidents"][1:]
    )
    assert {r["actor"] for r in rows} == {"nurse.ada"}
    assert rows[0]["at"] == "2030-06-01T12:00:00.250000Z"
    assert rows[0]["record_type"] == "patient" and rows[0]["outcome"] == "success"
    assert json.loads(rows[0]["details"]) == {}
    assert len(rows[0]["hash"]) == 64
    (eve,) = [r for r in csv.DictReader(io.StringIO(everything)) if r["actor"] == "eve"]
    assert eve["user_agent"].startswith("'=HYPERLINK")  # no formula for a spreadsheet
    assert eve["record_id"] == ""


def test_json_export_contains_the_filtered_rows_exactly(
    database_url: str, mixed_log: dict[str, list[int]]
) -> None:
    with Session(get_engine(database_url)) as s:
        text = export_audit(s, "json", AuditFilter(action="incident.*"))
    document = json.loads(text)
    assert document["count"] == 2
    assert document["filters"] == {"action": "incident.*"}
    assert [r["id"] for r in document["rows"]] == mixed_log["incidents"]
    for item in document["rows"]:
        item["at"] = datetime.fromisoformat(item["at"].replace("Z", "+00:00"))
        assert AuditEntry.from_row(item).digest() == item["hash"]  # checkable outside


def test_export_and_record_writes_exactly_one_audit_exported_row(
    database_url: str, mixed_log: dict[str, list[int]]
) -> None:
    with session_scope(database_url) as s:
        text = export_and_record(
            s,
            actor="auditor.carol",
            fmt="json",
            filters=AuditFilter(record_type="patient"),
            now=T0 + timedelta(hours=1),
            ip="10.9.9.9",
            user_agent="Firefox",
        )
    assert json.loads(text)["count"] == 3
    with Session(get_engine(database_url)) as s:
        exported = query_audit(s, action="audit.exported")
    assert len(exported) == 1
    (row,) = exported
    assert row.actor == "auditor.carol" and row.record_type == "audit_log"
    assert row.ip == "10.9.9.9" and row.outcome == "success"
    assert row.details == {"format": "json", "filters": {"record_type": "patient"}, "rows": 3}
    assert str(row.id) not in [str(r["id"]) for r in json.loads(text)["rows"]]
    assert verify(database_url).ok


# --- the CLI functions ---------------------------------------------------------------------


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings.model_validate({"DATABASE_URL": database_url, "mode": "demo"})


def test_cmd_audit_verify_passes_then_fails_after_tampering(
    database_url: str, settings: Settings
) -> None:
    ids = add_rows(database_url, 5)
    out = io.StringIO()
    assert cmd_audit_verify(settings, now=T0, actor="cli:test", out=out) == 0
    head = all_rows(database_url)[-2].hash  # the row before the audit.verified one
    assert out.getvalue() == f"Audit log intact: 5 rows, head {head[:16]}\n"
    with Session(get_engine(database_url)) as s:
        (verified,) = query_audit(s, action="audit.verified")
    assert verified.outcome == "success" and verified.details["rows_checked"] == 5

    tamper(database_url, f"UPDATE audit_log SET actor = 'mallory' WHERE id = {ids[3]}")
    out = io.StringIO()
    assert cmd_audit_verify(settings, now=T0, actor="cli:test", out=out) == 1
    assert out.getvalue() == (
        f"Audit log TAMPERED: row {ids[3]} was edited: its contents no longer match its hash\n"
    )
    with Session(get_engine(database_url)) as s:
        latest = query_audit(s, action="audit.verified", limit=1)[0]
    assert latest.outcome == "failure"
    assert latest.record_id == str(ids[3])
    assert latest.details["first_bad_id"] == ids[3]


def test_cmd_audit_export_to_a_file_and_to_stdout(
    database_url: str, settings: Settings, mixed_log: dict[str, list[int]], tmp_path: Path
) -> None:
    target = tmp_path / "audit.csv"
    out = io.StringIO()
    code = cmd_audit_export(
        settings, "csv", target, action="patient.read", now=T0, actor="cli:test", out=out
    )
    assert code == 0
    assert "exported (csv)" in out.getvalue()
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert [int(r["id"]) for r in rows] == [mixed_log["reads"][0], mixed_log["reads"][2]]

    out = io.StringIO()
    assert cmd_audit_export(settings, "json", None, actor_filter="eve", now=T0, out=out) == 0
    assert [r["actor"] for r in json.loads(out.getvalue())["rows"]] == ["eve"]
    with Session(get_engine(database_url)) as s:
        assert len(query_audit(s, action="audit.exported")) == 2
    assert verify(database_url).ok
