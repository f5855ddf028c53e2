"""SMS reply codes per person and incident, never two live ones alike for one person

Until now an incident's reply code was derived from its id (4 digits), so two open
incidents of one person shared a code about once in 9,000 pairs. ``sms_reply_codes`` stores
the code each person was given for each incident; the partial unique index over
(staff_id, code) WHERE released_at IS NULL makes a clash impossible among the codes a
person can still answer (healthguard/notify/reply_codes.py allocates under a per-person
lock and releases the codes of closed incidents).

Revision ID: 0011_sms_reply_codes
Revises: 0010_notification_receipts
Create Date: 2026-11-26 15:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0011_sms_reply_codes'
down_revision: str | None = '0010_notification_receipts'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'sms_reply_codes',
        sa.Column('staff_id', sa.Uuid(), nullable=False),
        sa.Column('incident_id', sa.Uuid(), nullable=False),
        sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column('allocated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "code ~ '^[1-9][0-9]{3,5}$'", name=op.f('ck_sms_reply_codes_code_digits')
        ),
        sa.ForeignKeyConstraint(
            ['incident_id'],
            ['incidents.id'],
            name=op.f('fk_sms_reply_codes_incident_id_incidents'),
            ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['staff_id'],
            ['staff.id'],
            name=op.f('fk_sms_reply_codes_staff_id_staff'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('staff_id', 'incident_id', name=op.f('pk_sms_reply_codes')),
    )
    op.create_index(
        op.f('ix_sms_reply_codes_incident_id'), 'sms_reply_codes', ['incident_id'], unique=False
    )
    op.create_index(
        'uq_sms_reply_codes_staff_id_code_live',
        'sms_reply_codes',
        ['staff_id', 'code'],
        unique=True,
        postgresql_where=sa.text('released_at IS NULL'),
    )


def downgrade() -> None:
    op.drop_index('uq_sms_reply_codes_staff_id_code_live', table_name='sms_reply_codes')
    op.drop_index(op.f('ix_sms_reply_codes_incident_id'), table_name='sms_reply_codes')
    op.drop_table('sms_reply_codes')
