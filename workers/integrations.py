"""Periodic jobs of the inbound integrations (scheduled by ``workers.run``):

- ``check_heartbeats`` (every 30 s): an integration whose heartbeat is overdue gets a
  missed-heartbeat incident (once; the next heartbeat resolves it);
- ``silence_reminders`` (every 60 s): a long silence ending within 15 minutes is announced
  once ("silence X ends in N min": an audit record and a log line, until notifications
  exist).

Each integration is checked in its own transaction; changes are published after commit.
``now`` is injectable (tests drive the clock).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from healthguard.db import session_scope
from healthguard.integrations import service as svc

log = logging.getLogger(__name__)

HEARTBEAT_JOB_ID = "healthguard-integrations-heartbeats"
HEARTBEAT_SECONDS = 30
SILENCE_REMINDER_JOB_ID = "healthguard-integrations-silence-reminders"
SILENCE_REMINDER_SECONDS = 60


def check_heartbeats(now: datetime | None = None) -> dict[str, int]:
    """Check every integration with a heartbeat interval; the count of each outcome."""
    now = now or datetime.now(UTC)
    with session_scope() as session:
        ids = svc.heartbeat_integration_ids(session)
    outcomes: list[svc.Outcome] = []
    for integration_id in ids:
        try:
            with session_scope() as session:
                outcome = svc.check_heartbeat(session, integration_id, now=now)
        except Exception:  # one broken integration must not stop the others' checks
            log.exception("heartbeat check of integration %s failed", integration_id)
            continue
        if outcome is not None:
            svc.publish_outcomes([outcome])
            outcomes.append(outcome)
    return {"checked": len(ids), **svc.outcomes_summary(outcomes)}


def silence_reminders(now: datetime | None = None) -> list[str]:
    """Remind of long silences ending soon; the ids reminded."""
    now = now or datetime.now(UTC)
    with session_scope() as session:
        return [str(row.id) for row in svc.silence_reminders(session, now=now)]
