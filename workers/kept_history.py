"""The triage worker's kept patient histories: load a patient's look-back once, then only
what arrived since.

A patient scored for the first time by this worker process (or whose history is older than
`REBUILD`, or when the rules' look-back or the NEWS2 freshness changed, or when asked to score
at an earlier time than last) is loaded in full by `workers.triage.load_contexts` ("cold").
After that (warm), one query per batch reads the readings RECEIVED since the patient's
watermark (the newest `received_at` seen) minus `OVERLAP`, leaving out (in Postgres) the ids
already seen (`recent_ids`), so only new rows come back.

Why received_at and an overlap: readings arrive out of order (a late reading is observed long
ago and received now), and a write that began before a newer one may commit after it; any
reading whose insert commits within `OVERLAP` (10 s; an ingest request commits in
milliseconds) of its received_at is therefore seen. The overlap is re-read on every scoring
(profiled: at 30 s it was most of a warm scoring's database time). A write
slower than that (not expected: one ingest statement) is still seen at the next full reload,
at most `REBUILD` (30 min) later. Every history is reloaded in full every `REBUILD`
regardless, so a kept history can never drift for long; a restarted worker starts cold (a
cold load costs about 50-100 ms per patient at one set of vital signs per second, which is
why the rebuild is not more frequent).

NEWS2 history (for the rising-trend rule) is kept the same way: loaded in full when cold, then
the scores stored since the newest one kept (by either worker) are added.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from healthguard.clinical.history import PatientHistory
from healthguard.clinical.vitals import Reading

OVERLAP = timedelta(seconds=10)
REBUILD = timedelta(minutes=30)
FORGET_AFTER = timedelta(minutes=10)  # a patient not scored for this long is dropped
NEWS2_STORE_EVERY = timedelta(seconds=60)  # an unchanged NEWS2 is stored at most this often

News2Point = tuple[datetime, int, bool]  # (observed_at, total, partial)


@dataclass
class KeptPatient:
    history: PatientHistory
    watermark: datetime  # the newest received_at seen
    recent_ids: dict[int, datetime]  # observation id -> received_at, within OVERLAP
    loaded_at: datetime
    lookback: timedelta
    freshness: timedelta
    scored_at: datetime
    last_seen: datetime | None  # the newest observed_at seen that was not in the future
    news2_history: list[News2Point] = field(default_factory=list)
    # (observed_at, signature) of the last NEWS2 stored by this worker
    last_stored: tuple[datetime, tuple[Any, ...]] | None = None
    last_published: datetime | None = None  # last_reading_at when last scored


_KEPT: dict[uuid.UUID, KeptPatient] = {}


def kept() -> dict[uuid.UUID, KeptPatient]:
    return _KEPT


def forget_all() -> None:
    _KEPT.clear()


def warm(
    patient_ids: Iterable[uuid.UUID],
    *,
    now: datetime,
    lookback: timedelta,
    freshness: timedelta,
) -> dict[uuid.UUID, KeptPatient]:
    """The kept histories usable for a scoring at `now`; the others are to be loaded cold."""
    usable: dict[uuid.UUID, KeptPatient] = {}
    for pid in patient_ids:
        kp = _KEPT.get(pid)
        if (
            kp is not None
            and kp.lookback == lookback
            and kp.freshness == freshness
            and kp.loaded_at > now - REBUILD
            and kp.scored_at <= now
        ):
            usable[pid] = kp
    return usable


def remember_cold(
    pid: uuid.UUID,
    rows: list[tuple[int | None, Reading, datetime | None]],
    *,
    now: datetime,
    lookback: timedelta,
    freshness: timedelta,
    last_seen: datetime | None,
    news2_history: list[News2Point],
) -> KeptPatient:
    """Keep a patient loaded in full: rows are (observation id, reading, received_at), id
    and received_at given at least for the rows received within 3 x OVERLAP of `now`."""
    history = PatientHistory(pid)
    history.add(reading for _, reading, _ in rows)
    recent = [(i, rec) for i, _, rec in rows if i is not None and rec is not None]
    # Not earlier than now - 2 x OVERLAP: the next catch-up re-reads from the watermark minus
    # OVERLAP, and every row received after now - 3 x OVERLAP has its id in `rows`.
    watermark = max([now - 2 * OVERLAP, *(rec for _, rec in recent)])
    kp = KeptPatient(
        history=history,
        watermark=watermark,
        recent_ids={i: rec for i, rec in recent if rec > watermark - OVERLAP},
        loaded_at=now,
        lookback=lookback,
        freshness=freshness,
        scored_at=now,
        last_seen=last_seen,
        news2_history=list(news2_history),
    )
    _KEPT[pid] = kp
    return kp


# The ids already seen within the overlap are left out by Postgres (`seen`): re-reading the
# overlap cost most of a warm scoring's time when its rows came back to Python (profiled:
# about 120 us per row fetched, and the overlap is most of the rows at steady state).
#
# LATERAL (OFFSET 0 keeps the planner from flattening it back into a join): one index range
# scan per patient, (patient_id, received_at). As a plain join,
# Postgres cannot see how few rows jsonb_to_recordset gives (it assumes 100) and chose a
# hash join over a parallel scan of the whole observations table: 0.3 s at 4 million rows,
# about 1 s at the 12 million of a 2,000-patient steady state, for every batch and for every
# arrest in the urgent lane (bench/clinical_pipeline.py: P0 p50 1.0-1.2 s).
_NEW_READINGS = sa.text(
    """
    SELECT o.id, m.i, o.parameter, o.value, o.value_text, o.unit, o.source,
           o.observed_at, o.received_at
    FROM jsonb_to_recordset(CAST(:marks AS jsonb))
         AS m(i int, patient_id uuid, since timestamptz, seen bigint[])
    CROSS JOIN LATERAL (
        SELECT * FROM observations
        WHERE patient_id = m.patient_id AND received_at > m.since AND id <> ALL(m.seen)
        OFFSET 0
    ) AS o
    """
)

_NEW_NEWS2 = sa.text(
    """
    SELECT s.patient_id, s.observed_at, s.total, s.partial
    FROM jsonb_to_recordset(CAST(:marks AS jsonb)) AS m(patient_id uuid, since timestamptz)
    CROSS JOIN LATERAL (
        SELECT * FROM news2_scores
        WHERE patient_id = m.patient_id AND observed_at > m.since
        OFFSET 0
    ) AS s
    """
)


def catch_up(
    session: Session,
    patients: dict[uuid.UUID, KeptPatient],
    *,
    now: datetime,
    news2_horizon: timedelta,
) -> None:
    """Add what arrived since each kept history's watermark, then prune to `now`."""
    if not patients:
        return
    order = list(patients.items())
    marks = [
        {
            "i": i,
            "patient_id": str(pid),
            "since": (kp.watermark - OVERLAP).isoformat(),
            "seen": list(kp.recent_ids),
        }
        for i, (pid, kp) in enumerate(order)
    ]
    rows = session.connection().execute(_NEW_READINGS, {"marks": json.dumps(marks)}).all()
    fresh: dict[uuid.UUID, list[Reading]] = {}
    for oid, i, parameter, value, text, unit, source, observed_at, received in rows:
        pid, kp = order[i]
        if oid in kp.recent_ids:  # (left out by the query already; kept as a guard)
            continue
        kp.recent_ids[oid] = received
        if received > kp.watermark:
            kp.watermark = received
        fresh.setdefault(pid, []).append(
            Reading(pid, parameter, value, text, unit, source, observed_at)
        )
        if observed_at <= now and (kp.last_seen is None or observed_at > kp.last_seen):
            kp.last_seen = observed_at
    news2_marks = [
        {
            "patient_id": str(pid),
            "since": (
                kp.news2_history[-1][0] if kp.news2_history else now - news2_horizon
            ).isoformat(),
        }
        for pid, kp in patients.items()
    ]
    for pid, observed_at, total, partial in session.connection().execute(
        _NEW_NEWS2, {"marks": json.dumps(news2_marks)}
    ):
        add_news2(patients[pid], (observed_at, total, partial))
    for pid, kp in patients.items():
        # Readings of one batch in the order they were observed (ties: as stored).
        kp.history.add(sorted(fresh.get(pid, []), key=lambda r: r.observed_at))
        horizon = kp.watermark - OVERLAP
        if len(kp.recent_ids) > 64:
            kp.recent_ids = {i: rec for i, rec in kp.recent_ids.items() if rec > horizon}
        kp.scored_at = now


def add_news2(kp: KeptPatient, point: News2Point) -> None:
    """Add a stored NEWS2 score to the kept history (kept sorted, one per observed_at)."""
    scores = kp.news2_history
    if not scores or scores[-1][0] < point[0]:
        scores.append(point)
    elif all(t != point[0] for t, _, _ in scores):
        scores.append(point)
        scores.sort(key=lambda s: s[0])


def prune(kp: KeptPatient, *, now: datetime, news2_horizon: timedelta) -> None:
    kp.history.prune(now, kp.lookback, kp.freshness)
    cut = 0
    while cut < len(kp.news2_history) and kp.news2_history[cut][0] < now - news2_horizon:
        cut += 1
    if cut:
        del kp.news2_history[:cut]


def should_store_news2(kp: KeptPatient | None, at: datetime, signature: tuple[Any, ...]) -> bool:
    """Store a NEWS2 row when the score changed, or it was last stored NEWS2_STORE_EVERY ago
    (so the newest stored score is never older than that while readings flow)."""
    if kp is None or kp.last_stored is None:
        return True
    last_at, last_signature = kp.last_stored
    if at <= last_at:
        return False
    return signature != last_signature or at - last_at >= NEWS2_STORE_EVERY


def forget_idle(now: datetime) -> None:
    for pid in [p for p, kp in _KEPT.items() if kp.scored_at < now - FORGET_AFTER]:
        del _KEPT[pid]
