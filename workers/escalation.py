"""RQ jobs of the escalation (``healthguard.oncall.dispatch``):

- ``fire_timer(incident_id, key)``: one escalation timer is due. Scheduled after the commit
  that stored the timer in the incident's escalation state, through rq-scheduler (float due
  times, see ``workers.queues``), on the ``alerts`` queue (the non-forking alerts worker),
  job id derived from the key. Idempotent: a stale or already fired key does nothing.
- ``sweep()``: the safety net, every ``HEALTHGUARD_ESCALATION_SWEEP_SECONDS`` (2 s) on the
  general worker: fires every pending timer overdue by more than a second (its job was lost:
  a restarted Redis, scheduler or worker, an enqueue that failed after the commit).
"""

from __future__ import annotations

from datetime import UTC, datetime

from healthguard.oncall import dispatch

__all__ = ["SWEEP_JOB_ID", "fire_timer", "sweep"]

SWEEP_JOB_ID = "healthguard-escalation-sweep"


def fire_timer(incident_id: str, key: str) -> None:
    """RQ job: the escalation timer ``key`` of the incident is due."""
    dispatch.fire_timer(incident_id, key)


def sweep(now: datetime | None = None) -> int:
    """RQ job: fire the overdue timers whose job was lost; how many fired."""
    return dispatch.sweep_due(now=now or datetime.now(UTC))
