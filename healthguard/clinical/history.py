"""A patient's recent readings kept between scorings, so that scoring costs what is new.

Scoring a patient needs the readings of the rules' look-back (16 minutes with the shipped
rules) plus, for NEWS2, the freshest reading of each parameter and source within the
freshness window (1 hour). At one set of vital signs per second that is about 4,800
readings; re-reading and re-sorting them on every scoring made a patient cost ~140 ms. A
`PatientHistory` keeps them, already sorted in the shapes the rules read, and takes new
readings as they come (`add`: an append for a reading newer than the last, an ordered insert
for a late one), so a scoring only adds what arrived since the last one and drops what left
the look-back (`prune`).

Exactly the same readings as a fresh load (tested as a property): after
``prune(now, lookback, freshness)`` the history holds, for every (parameter, source), its
readings observed in [now - lookback, ...] and, when freshness > lookback, its newest reading
before that if observed within freshness (what the triage worker's query loads), in the
order they were added among readings of the same instant.

Pure: no I/O, no clock. The worker owns one history per patient; `serves(now)` is False when
the history holds a reading observed after `now` (a monitor clock ahead of the worker's):
the caller then scores from `all_readings()` the classic way.
"""

from __future__ import annotations

import math
import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TypeVar

from healthguard.clinical.news2 import NEWS2_READING_PARAMETERS, usable_value
from healthguard.clinical.rules import LABEL
from healthguard.clinical.vitals import Parameter, Reading

_TEXTS = (Parameter.RHYTHM.value, Parameter.TECHNICAL.value)
Point = tuple[datetime, float]
T = TypeVar("T")


def _observed(reading: Reading) -> datetime:
    return reading.observed_at


def _time(point: Point) -> datetime:
    return point[0]


class PatientHistory:
    """The readings of one patient that its scoring reads, in the shapes the rules read.

    ``series[p]``: the finite numeric points of parameter p from every source, oldest first,
    with ``series_sources[p]`` the source of each point; ``by_source[p][s]``: the points of
    one source; ``texts[p]``: rhythm and technical alarm readings (with a text), oldest first.
    """

    def __init__(self, patient_id: uuid.UUID) -> None:
        self.patient_id = patient_id
        self.by_key: dict[tuple[str, str], list[Reading]] = {}
        self.series: dict[str, list[Point]] = {}
        self.series_sources: dict[str, list[str]] = {}
        self.by_source: dict[str, dict[str, list[Point]]] = {}
        self.texts: dict[str, list[Reading]] = {}
        self.newest: datetime | None = None  # the newest observed_at ever added
        self.size = 0

    # --- taking readings ------------------------------------------------------------------

    def add(self, readings: Iterable[Reading]) -> None:
        """Take readings in any order (each once: the caller de-duplicates). Written for
        speed (a cold load adds ~5,000 readings per patient): a reading newer than the last
        of its lists is appended; an older one is inserted after its equals."""
        by_key, by_source, series = self.by_key, self.by_source, self.series
        series_sources, texts = self.series_sources, self.texts
        newest, count = self.newest, 0
        for r in readings:
            count += 1
            t, name, source = r.observed_at, r.parameter, r.source
            if newest is None or t > newest:
                newest = t
            key = (name, source)
            items = by_key.get(key)
            if items is None:
                by_key[key] = [r]
            elif items[-1].observed_at <= t:
                items.append(r)
            else:
                items.insert(bisect_right(items, t, key=_observed), r)
            if name in LABEL:
                value = r.value
                if value is None or not math.isfinite(value):
                    continue
                point = (t, value)
                per_source = by_source.get(name)
                if per_source is None:
                    per_source = by_source[name] = {}
                _insert(per_source.setdefault(source, []), point, t, _time)
                merged = series.get(name)
                if merged is None:
                    series[name], series_sources[name] = [point], [source]
                elif merged[-1][0] <= t:
                    merged.append(point)
                    series_sources[name].append(source)
                else:
                    at = bisect_right(merged, t, key=_time)
                    merged.insert(at, point)
                    series_sources[name].insert(at, source)
            elif name in _TEXTS and r.value_text:
                _insert(texts.setdefault(name, []), r, t, _observed)
        self.newest, self.size = newest, self.size + count

    # --- forgetting what left the look-back -----------------------------------------------

    def prune(self, now: datetime, lookback: timedelta, freshness: timedelta) -> None:
        """Keep what a fresh load at `now` would load (see the module docstring)."""
        cutoff = now - lookback
        keep_older = freshness > lookback
        fresh_from = now - freshness
        kept_older: set[tuple[str, str, datetime]] = set()  # (parameter, source, observed_at)
        for (name, source), readings in list(self.by_key.items()):
            start = bisect_left(readings, cutoff, key=_observed)
            if start == 0:
                continue
            older = readings[start - 1]
            keep = keep_older and older.observed_at >= fresh_from
            drop = start - 1 if keep else start
            if keep:
                kept_older.add((name, source, older.observed_at))
            if drop:
                del readings[:drop]
                self.size -= drop
            if not readings:
                del self.by_key[(name, source)]
            points = self.by_source.get(name, {}).get(source)
            if points:
                cut = bisect_left(points, cutoff, key=_time)
                if keep and cut and points[cut - 1][0] == older.observed_at:
                    cut -= 1
                del points[:cut]
                if not points:
                    del self.by_source[name][source]
        for name, merged in list(self.series.items()):
            cut = bisect_left(merged, cutoff, key=_time)
            if cut:
                sources = self.series_sources[name]
                keep_at = [i for i in range(cut) if (name, sources[i], merged[i][0]) in kept_older]
                merged[:cut] = [merged[i] for i in keep_at]
                sources[:cut] = [sources[i] for i in keep_at]
            if not merged:
                del self.series[name], self.series_sources[name]
        for name, texts in list(self.texts.items()):
            cut = bisect_left(texts, cutoff, key=_observed)
            if cut:
                texts[:cut] = [
                    r for r in texts[:cut] if (name, r.source, r.observed_at) in kept_older
                ]
            if not texts:
                del self.texts[name]

    # --- reading -------------------------------------------------------------------------

    def serves(self, now: datetime) -> bool:
        """True when no reading held was observed after `now`."""
        return self.newest is None or self.newest <= now

    def all_readings(self) -> list[Reading]:
        """Every reading held, oldest first (the classic scoring input)."""
        readings = [r for rs in self.by_key.values() for r in rs]
        readings.sort(key=_observed)
        return readings

    def last_observed_at(self, now: datetime) -> datetime | None:
        """The newest observed_at held that is not after `now`."""
        best: datetime | None = None
        for readings in self.by_key.values():
            at = bisect_right(readings, now, key=_observed)
            if at and (best is None or readings[at - 1].observed_at > best):
                best = readings[at - 1].observed_at
        return best

    def news2_readings(
        self, now: datetime, freshness: timedelta, sustain: timedelta
    ) -> list[Reading]:
        """The readings NEWS2 at `now` depends on, oldest first: per NEWS2 parameter and source,
        those observed in [latest - sustain, latest], where latest is the source's freshest
        scorable reading in [now - freshness, now]. `news2_from_readings` of these equals
        `news2_from_readings` of all readings held (it reads no other)."""
        since = now - freshness
        sustain = max(sustain, timedelta(0))
        out: list[Reading] = []
        for (name, _source), readings in self.by_key.items():
            if name not in NEWS2_READING_PARAMETERS:
                continue
            end = bisect_right(readings, now, key=_observed)
            latest = end - 1
            while latest >= 0 and readings[latest].observed_at >= since:
                if usable_value(readings[latest]) is not None:
                    break
                latest -= 1
            if latest < 0 or readings[latest].observed_at < since:
                continue
            start = max(since, readings[latest].observed_at - sustain)
            first = bisect_left(readings, start, 0, latest + 1, key=_observed)
            out.extend(readings[first:end])
        out.sort(key=_observed)
        return out


def _insert(items: list[T], item: T, t: datetime, key: Callable[[T], datetime]) -> None:
    """Append (the usual case: newer than the last) or insert after equal times."""
    if not items or key(items[-1]) <= t:
        items.append(item)
    else:
        items.insert(bisect_right(items, t, key=key), item)
