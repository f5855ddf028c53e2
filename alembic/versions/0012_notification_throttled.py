"""Notifications: the status ``throttled`` (held by a send throttle for the next digest)

A P2-P4 message a per-person, per-channel throttle holds back is no longer cancelled: it is
kept as ``throttled`` and sent in one digest when the window has room again
(healthguard/notify/digests.py).

Revision ID: 0012_notification_throttled
Revises: 0011_sms_reply_codes
Create Date: 2026-11-26 15:45:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0012_notification_throttled'
down_revision: str | None = '0011_sms_reply_codes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f('ck_notifications_status_valid'), 'notifications', type_='check')
    op.create_check_constraint(
        op.f('ck_notifications_status_valid'),
        'notifications',
        "status IN ('queued', 'sent', 'delivered', 'failed', 'read', 'answered', 'cancelled', "
        "'throttled')",
    )


def downgrade() -> None:
    op.execute("UPDATE notifications SET status = 'cancelled' WHERE status = 'throttled'")
    op.drop_constraint(op.f('ck_notifications_status_valid'), 'notifications', type_='check')
    op.create_check_constraint(
        op.f('ck_notifications_status_valid'),
        'notifications',
        "status IN ('queued', 'sent', 'delivered', 'failed', 'read', 'answered', 'cancelled')",
    )
