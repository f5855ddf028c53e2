"""The kept histories' catch-up reads each patient's new readings through the index, not by
scanning the observations table: at 12 million rows the scan took about 1 s for every batch
and for every arrest in the urgent lane. Checked on the real Postgres planner with a table
large enough for the scan to look cheaper than 100 index look-ups (the planner's guess of
the rows of jsonb_to_recordset)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from healthguard.db import session_scope
from healthguard.models import Patient
from workers.kept_history import _NEW_NEWS2, _NEW_READINGS

pytestmark = pytest.mark.integration

ROWS = 300_000


@pytest.fixture(scope="module")
def big_observations(seeded: dict[str, int]) -> str:
    with session_scope() as session:
        ids = [str(p) for p in session.exec(select(Patient.id)).all()]
        session.execute(
            sa.text(
                """
                INSERT INTO observations
                    (patient_id, parameter, value, unit, source, observed_at, received_at)
                SELECT (CAST(:ids AS uuid[]))[1 + g % cardinality(CAST(:ids AS uuid[]))],
                       'heart_rate', 70, '/min', 'plan-test',
                       now() - g * interval '100 milliseconds',
                       now() - g * interval '100 milliseconds'
                FROM generate_series(1, :rows) AS g
                """
            ),
            {"ids": ids, "rows": ROWS},
        )
        session.execute(sa.text("ANALYZE observations"))
        session.execute(sa.text("ANALYZE news2_scores"))
    return ids[0]


def plan_of(query: sa.TextClause, marks: list[dict[str, object]]) -> str:
    with session_scope() as session:
        rows = session.execute(
            sa.text("EXPLAIN " + query.text), {"marks": json.dumps(marks)}
        ).scalars()
        return "\n".join(rows)


def test_new_readings_are_read_through_the_patient_index(big_observations: str) -> None:
    since = (datetime.now(UTC) - timedelta(seconds=10)).isoformat()
    plan = plan_of(
        _NEW_READINGS, [{"i": 0, "patient_id": big_observations, "since": since, "seen": []}]
    )
    assert "ix_observations_patient_id_received_at" in plan, plan
    assert "Seq Scan on observations" not in plan, plan


def test_new_news2_scores_are_read_per_patient(big_observations: str) -> None:
    since = (datetime.now(UTC) - timedelta(hours=6)).isoformat()
    plan = plan_of(_NEW_NEWS2, [{"patient_id": big_observations, "since": since}])
    assert plan.splitlines()[0].startswith("Nested Loop"), plan  # per patient, never a hash
