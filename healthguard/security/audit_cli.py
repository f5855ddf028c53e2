"""`healthguard audit verify` and `healthguard audit export`, as plain functions.

``healthguard.cli`` wires them to the command line; they print for people and return the
exit code. Both are themselves audited (``audit.verified`` / ``audit.exported``).
"""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from healthguard.security.audit import (
    AuditAction,
    AuditFilter,
    AuditOutcome,
    ExportFormat,
    export_and_record,
    record_audit,
    verify_chain,
)
from healthguard.settings import Settings


def cli_actor() -> str:
    """Who runs the command: ``cli:<operating-system user>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in some containers
        return "cli"


def cmd_audit_verify(
    settings: Settings,
    *,
    now: datetime | None = None,
    actor: str | None = None,
    out: TextIO | None = None,
) -> int:
    """Check the whole hash chain; print "Audit log intact: N rows, head <hash prefix>" and
    return 0, or "Audit log TAMPERED: <reason naming the first bad row>" and return 1.

    The check is recorded as an ``audit.verified`` row (outcome success/failure, the row
    count, the head hash and, when tampered, the first bad row and the reason), appended
    after the check.
    """
    from healthguard.db import session_scope

    stream = out if out is not None else sys.stdout
    with session_scope(settings.effective_database_url()) as session:
        report = verify_chain(session)
        details: dict[str, object] = {
            "rows_checked": report.rows_checked,
            "head_id": report.head_id,
            "head_hash": report.head_hash,
        }
        if not report.ok:
            details["first_bad_id"] = report.first_bad_id
            details["reason"] = report.reason
        record_audit(
            session,
            actor=actor or cli_actor(),
            action=AuditAction.AUDIT_VERIFIED,
            record_type="audit_log",
            record_id=str(report.first_bad_id) if report.first_bad_id is not None else None,
            now=now or datetime.now(UTC),
            outcome=AuditOutcome.SUCCESS if report.ok else AuditOutcome.FAILURE,
            details=details,
        )
    print(report.summary(), file=stream, flush=True)
    return 0 if report.ok else 1


def cmd_audit_export(
    settings: Settings,
    fmt: ExportFormat,
    output_path: str | Path | None,
    *,
    actor_filter: str | None = None,
    action: str | None = None,
    record_type: str | None = None,
    record_id: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
    actor: str | None = None,
    out: TextIO | None = None,
) -> int:
    """Export the matching audit rows as CSV or JSON to ``output_path`` (or to standard
    output when None) and record one ``audit.exported`` row.

    ``actor_filter`` filters on the rows' actor (``--actor`` on the command line); ``actor``
    is who runs the export (default ``cli:<os user>``). The file is written before the
    transaction commits: if writing fails, nothing is recorded as exported.
    """
    from healthguard.db import session_scope

    stream = out if out is not None else sys.stdout
    filters = AuditFilter(
        actor=actor_filter,
        action=action,
        record_type=record_type,
        record_id=record_id,
        outcome=outcome,
        since=since,
        until=until,
    )
    with session_scope(settings.effective_database_url()) as session:
        text = export_and_record(
            session,
            actor=actor or cli_actor(),
            fmt=fmt,
            filters=filters,
            now=now or datetime.now(UTC),
        )
        if output_path is None:
            stream.write(text)
            stream.flush()
        else:
            path = Path(output_path)
            path.write_text(text, encoding="utf-8", newline="")
    if output_path is not None:
        print(f"Audit log exported ({fmt}) to {output_path}", file=stream, flush=True)
    return 0
