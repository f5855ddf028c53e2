"""Issue scenarios through the pure engine (rules.evaluate + triage.decide) with an in-memory
incident store: the right incidents, priorities and suppressions, and nothing else. The
database/worker half of these scenarios lives with the triage worker's tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from healthguard.clinical.news2 import news2_from_readings
from healthguard.clinical.rules import DEFAULT_RULES, PatientWindow, evaluate
from healthguard.clinical.triage import (
    AppendEvidence,
    OpenIncident,
    OpenIncidentState,
    PauseState,
    Suppress,
    UpgradeIncident,
    decide,
)
from healthguard.clinical.vitals import Reading

pytestmark = pytest.mark.unit

T0 = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
PATIENT = uuid.uuid4()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def reading(name: str, value: float | str, second: float) -> Reading:
    if isinstance(value, str):
        return Reading(PATIENT, name, None, value, "", "mon", at(second))
    return Reading(PATIENT, name, float(value), None, "", "mon", at(second))


@dataclass
class Engine:
    """The triage worker in miniature: evaluate on each tick, record new findings once,
    decide, apply."""

    spo2_scale: int = 1
    pause: PauseState | None = None
    readings: list[Reading] = field(default_factory=list)
    history: list[tuple[datetime, int, bool]] = field(default_factory=list)
    open: dict[str, OpenIncidentState] = field(default_factory=dict)
    seen: set[tuple[str, datetime]] = field(default_factory=set)
    log: list[object] = field(default_factory=list)

    def tick(self, now: datetime) -> None:
        visible = [r for r in self.readings if now - timedelta(hours=6) <= r.observed_at <= now]
        last = max((r.observed_at for r in visible), default=None)
        score = news2_from_readings(visible, now, timedelta(hours=1), self.spo2_scale)
        if last is not None and (not self.history or self.history[-1][0] != last):
            self.history.append((last, score.total, score.partial))
        window = PatientWindow(
            PATIENT, visible, list(self.history), self.spo2_scale, now, last, True
        )
        fresh = []
        for f in evaluate(DEFAULT_RULES, window):
            if (f.rule_key, f.observed_at) not in self.seen:
                self.seen.add((f.rule_key, f.observed_at))
                fresh.append(f)
        for action in decide(fresh, dict(self.open), {}, self.pause, now):
            self.log.append(action)
            if isinstance(action, OpenIncident):
                self.open[action.condition] = OpenIncidentState(uuid.uuid4(), action.priority, now)
            elif isinstance(action, UpgradeIncident):
                for condition, state in self.open.items():
                    if state.incident_id == action.incident_id:
                        self.open[condition] = OpenIncidentState(
                            state.incident_id, action.to_priority, state.opened_at
                        )

    def run(self, until: float, step: float = 5) -> None:
        second = 0.0
        while second <= until:
            self.tick(at(second))
            second += step

    def incidents(self) -> dict[str, str]:
        return {c: s.priority for c, s in self.open.items()}

    def suppressed(self) -> list[tuple[str, str]]:
        return [(a.finding.rule_key, a.reason) for a in self.log if isinstance(a, Suppress)]


def monitor_stream(engine: Engine, start: float, end: float, **values: float | str) -> None:
    second = start
    while second < end:
        for name, value in values.items():
            engine.readings.append(reading(name, value, second))
        second += 5


def test_cardiac_arrest_is_one_p0_incident() -> None:
    engine = Engine()
    monitor_stream(engine, 0, 600, heart_rate=75, spo2=97, resp_rate=15)
    monitor_stream(engine, 600, 720, heart_rate=0, spo2=70, resp_rate=0, rhythm="VF")
    engine.run(720)
    assert engine.incidents() == {"arrest": "P0"}
    opened = [a for a in engine.log if isinstance(a, OpenIncident)]
    assert len(opened) == 1 and opened[0].finding.observed_at == at(600)
    # Deterioration findings during the arrest went to the arrest incident, not a 2nd page.
    covered = [a for a in engine.log if isinstance(a, AppendEvidence | Suppress)]
    assert covered and all(isinstance(a, AppendEvidence) or "arrest" in a.reason for a in covered)


def full_set(engine: Engine, second: float, **changes: float | str) -> None:
    values: dict[str, float | str] = {
        "resp_rate": 16,
        "spo2": 97,
        "on_oxygen": 0,
        "systolic_bp": 125,
        "heart_rate": 70,
        "consciousness": "A",
        "temperature_c": 37.0,
    }
    values.update(changes)
    for name, value in values.items():
        engine.readings.append(reading(name, value, second))


def test_slow_sepsis_opens_p2_at_5_and_upgrades_to_p1_at_8() -> None:
    engine = Engine()
    hour = 3600
    full_set(engine, 0, heart_rate=95)  # 1
    full_set(engine, 1 * hour, heart_rate=95, resp_rate=22)  # 3
    full_set(engine, 2 * hour, heart_rate=115, resp_rate=22, temperature_c=38.5)  # 5
    full_set(
        engine, 3 * hour, heart_rate=115, resp_rate=26, temperature_c=38.5, spo2=94, systolic_bp=105
    )  # 8
    engine.run(3 * hour, step=1800)
    assert engine.incidents() == {"deterioration": "P1"}
    kinds = [type(a).__name__ for a in engine.log]
    assert kinds.count("OpenIncident") == 1 and kinds.count("UpgradeIncident") == 1
    opened = next(a for a in engine.log if isinstance(a, OpenIncident))
    assert opened.priority == "P2" and opened.finding.observed_at == at(2 * hour)
    upgrade = next(a for a in engine.log if isinstance(a, UpgradeIncident))
    assert (upgrade.from_priority, upgrade.to_priority) == ("P2", "P1")
    assert upgrade.finding.summary.startswith("NEWS2 8")
    # The rising trend at NEWS2 3 was recorded, not paged (P3 opens no incident by default).
    assert ("news2_rising", "below the priority that opens incidents") in engine.suppressed()


def test_copd_patient_on_scale_2_at_88_percent_raises_nothing() -> None:
    engine = Engine(spo2_scale=2)
    full_set(engine, 0)
    monitor_stream(engine, 0, 1800, spo2=88, heart_rate=78, resp_rate=18)
    engine.run(1800, step=30)
    assert engine.incidents() == {}
    assert engine.log == []


def test_the_same_stream_on_scale_1_opens_p2() -> None:
    engine = Engine(spo2_scale=1)
    full_set(engine, 0)
    monitor_stream(engine, 0, 1800, spo2=88, heart_rate=78, resp_rate=18)
    engine.run(1800, step=30)
    assert engine.incidents() == {"deterioration": "P2"}


def test_noisy_spo2_probe_dipping_5_s_raises_nothing() -> None:
    engine = Engine()
    full_set(engine, 0)
    for second in range(0, 1200):
        value = 85 if second % 60 < 5 else 97  # a 5 s dip every minute
        engine.readings.append(reading("spo2", value, second))
        if second % 5 == 0:
            engine.readings.append(reading("heart_rate", 76, second))
    engine.run(1200, step=1)
    assert engine.incidents() == {}
    assert engine.log == []


def test_silent_monitor_is_a_p4_alarm_recorded_not_paged_by_default() -> None:
    engine = Engine()
    monitor_stream(engine, 0, 60, heart_rate=75, spo2=97)
    engine.run(60 + 400, step=20)
    assert engine.incidents() == {}
    assert engine.suppressed() == [("silent_monitor", "below the priority that opens incidents")]


def test_a_pause_suppresses_deterioration_but_never_an_arrest() -> None:
    engine = Engine(pause=PauseState(until=at(3600), reason="bathing"))
    full_set(engine, 0, heart_rate=115, resp_rate=22, temperature_c=38.5)  # NEWS2 5
    engine.tick(at(0))
    assert engine.incidents() == {}
    assert all(r.startswith("alarms paused: bathing until") for _, r in engine.suppressed())
    engine.readings.append(reading("rhythm", "VF", 30))
    engine.tick(at(30))
    assert engine.incidents() == {"arrest": "P0"}
