"""Index observations by (patient, received_at)

The triage worker keeps each patient's recent readings between scorings and reads only what
was received since (workers/kept_history.py).

Revision ID: 0008_observations_received
Revises: 0007_integrations
Create Date: 2026-11-26 09:50:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0008_observations_received'
down_revision: str | None = '0007_integrations'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        'ix_observations_patient_id_received_at',
        'observations',
        ['patient_id', 'received_at'],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index('ix_observations_patient_id_received_at', table_name='observations')
