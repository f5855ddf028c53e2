"""Audit log is append-only

A trigger function refuses every UPDATE and DELETE of an audit_log row (BEFORE ... FOR EACH
ROW) and every TRUNCATE of the table (BEFORE ... FOR EACH STATEMENT), with the message
"audit_log is append-only". INSERT and SELECT are untouched.

What this does not stop, on purpose documented: a superuser (or the table owner) can still
`ALTER TABLE audit_log DISABLE TRIGGER USER`, set `session_replication_role = replica`, or
drop the table. That is exactly what the hash chain (prev_hash -> hash, checked by
`healthguard audit verify`) detects: any edit, deletion or reordering done with the triggers
off names the first bad row. In production run the application as a role that does not own
audit_log and holds only INSERT and SELECT on it, so only the owner/superuser can do so.

No columns or indexes change (healthguard/models/audit.py needs no update; autogenerate does
not compare triggers).

Revision ID: 0003_audit_append_only
Revises: 0002_phi_encryption
Create Date: 2026-11-26 04:20:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003_audit_append_only"
down_revision: str | None = "0002_phi_encryption"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION audit_log_refuse_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'Audit rows can only be inserted (healthguard.security.audit).';
        END;
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER audit_log_no_update_delete
        BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change()
        """
    )
    op.execute(
        """
        CREATE TRIGGER audit_log_no_truncate
        BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
    op.execute("DROP TRIGGER IF EXISTS audit_log_no_update_delete ON audit_log")
    op.execute("DROP FUNCTION IF EXISTS audit_log_refuse_change()")
