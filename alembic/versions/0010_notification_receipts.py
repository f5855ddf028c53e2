"""Index notifications by (channel, provider_message_id) for delivery receipts

SMS providers and WCTP gateways report delivery, reading and failure by their message id;
healthguard/notify/receipts_service.py finds the notification with this index.

Revision ID: 0010_notification_receipts
Revises: 0009_oncall
Create Date: 2026-11-27 10:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010_notification_receipts'
down_revision: str | None = '0009_oncall'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        'ix_notifications_channel_provider_message_id',
        'notifications',
        ['channel', 'provider_message_id'],
        unique=False,
        postgresql_where=sa.text('provider_message_id IS NOT NULL'),
    )


def downgrade() -> None:
    op.drop_index('ix_notifications_channel_provider_message_id', table_name='notifications')
