"""Triage P0-P4 and the alert-to-incident decision. Pure: no I/O, `now` is a parameter.

`decide(findings, ...)` turns one patient's findings (healthguard.clinical.rules.evaluate)
into actions the incident service carries out. The rules, in the order they apply:

1. One action per condition per call. The highest-priority finding of a condition wins (a tie:
   the latest observed_at, then rule order); the others ride along in the winner's evidence
   under ``also_triggered`` (rule, priority, summary, observed_at), so nothing is dropped
   without a trace and the incident timeline gets one entry per evaluation, not five.
2. Arrest covers deterioration: while an ``arrest`` incident is open, or opens in this call, a
   ``deterioration`` finding that has no open incident of its own does not open a second one
   (one code blue, not two pages): it is appended to the open arrest incident, or suppressed
   with the reason "covered by the arrest incident opened now" (recorded).
3. A pause (bathing, transport) that has not expired suppresses every finding below P0 with
   "alarms paused: <reason> until <time>". A P0 (arrest) is NEVER paused: a patient in cardiac
   arrest during a wash is exactly when the page must go out.
4. An open incident of the condition: a higher priority gives UpgradeIncident (from, to);
   equal or lower gives AppendEvidence. Priority only goes up automatically; lowering it is a
   person's decision.
5. No open incident: a priority outside `open_from` (default P0-P2) is suppressed with "below
   the priority that opens incidents". P0 always opens, whatever `open_from` says.
6. Hysteresis: the condition was resolved less than `hysteresis` ago at the same or a higher
   priority: suppressed with "flapping: resolved <n> s ago within the hysteresis window". A
   finding of a higher priority than the resolved incident (the patient is worse than when it
   was closed) and any P0 open anyway.
7. Otherwise OpenIncident(condition, priority, title, finding).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from healthguard.clinical.news2 import News2Result
from healthguard.clinical.rules import (
    ARREST,
    ARREST_RHYTHMS,
    DETERIORATION,
    SILENT_MONITOR,
    TECHNICAL_PREFIX,
    Finding,
)
from healthguard.incidents.priority import PRIORITIES, PRIORITY_STYLES

DEFAULT_OPEN_FROM: frozenset[str] = frozenset({"P0", "P1", "P2"})
DEFAULT_HYSTERESIS = timedelta(minutes=10)


@dataclass(frozen=True)
class TriageLevel:
    priority: str
    meaning: str
    triggers: str
    reference: str
    alarm_level: str  # IEC 60601-1-8 display (healthguard.incidents.priority)


def _level(priority: str, meaning: str, triggers: str, reference: str) -> TriageLevel:
    return TriageLevel(
        priority, meaning, triggers, reference, PRIORITY_STYLES[priority].alarm_level
    )


TRIAGE_TABLE: tuple[TriageLevel, ...] = (
    _level(
        "P0",
        "Cardiac arrest or peri-arrest (code blue): minutes decide survival",
        "no pulse (HR 0), VF/VT/asystole/PEA rhythm alarm, apnoea (RR 0 for 20 s), "
        "SpO2 < 80 % sustained with HR < 40",
        "Resuscitation: defibrillate VF/pulseless VT within 2 min (REFERENCE.md)",
    ),
    _level(
        "P1",
        "Emergency: high clinical risk",
        "NEWS2 >= 7, or a sustained critical single parameter (rapid-response criteria: "
        "RR < 5 or > 36, HR < 40 or > 120 sustained, > 160, SBP < 90, SpO2 < 85 % for 5 min)",
        "RCP NEWS2 2017 Charts 3-4 (emergency response threshold); rapid-response criteria",
    ),
    _level(
        "P2",
        "Urgent: medium risk",
        "NEWS2 5-6, a red score (3 in one parameter), SpO2 < 90 % for 15 s, SBP down 40 in 15 min",
        "RCP NEWS2 2017 Charts 3-4 (urgent response threshold, red score)",
    ),
    _level(
        "P3",
        "Review: low risk with a worsening trend",
        "NEWS2 1-4 rising by 2 within 4 h, HR up 30/min within 10 min",
        "RCP NEWS2 2017 Chart 4 (low score: nurse assesses, decides frequency)",
    ),
    _level(
        "P4",
        "Technical or informational",
        "lead off, probe off, low battery, no signal, artifact; silent monitor",
        "IEC 60601-1-8 technical alarms (a separate type from physiological ones)",
    ),
)


def rank(priority: str) -> int:
    """0 for P0 (most urgent) .. 4 for P4."""
    return PRIORITIES.index(priority)


def higher(a: str, b: str) -> bool:
    """True when priority `a` is more urgent than `b`."""
    return rank(a) < rank(b)


def news2_priority(result: News2Result, rising: bool = False) -> str | None:
    """The default P0-P4 mapping of a NEWS2 score: >= 7 P1; 5-6 or a red score P2;
    1-4 with a worsening trend P3; otherwise None (no alarm)."""
    if result.total >= 7:
        return "P1"
    if result.total >= 5 or result.red_flag:
        return "P2"
    if result.total >= 1 and rising:
        return "P3"
    return None


# --- decide -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenIncidentState:
    incident_id: uuid.UUID
    priority: str
    opened_at: datetime


@dataclass(frozen=True)
class PauseState:
    until: datetime
    reason: str


@dataclass(frozen=True)
class OpenIncident:
    condition: str
    priority: str
    title: str
    finding: Finding


@dataclass(frozen=True)
class AppendEvidence:
    incident_id: uuid.UUID
    finding: Finding


@dataclass(frozen=True)
class UpgradeIncident:
    incident_id: uuid.UUID
    from_priority: str
    to_priority: str
    finding: Finding


@dataclass(frozen=True)
class Suppress:
    finding: Finding
    reason: str


Action = OpenIncident | AppendEvidence | UpgradeIncident | Suppress

CONDITION_TITLES: dict[str, str] = {
    ARREST: "Cardiac arrest",
    DETERIORATION: "Deteriorating",
    SILENT_MONITOR: "Silent monitor",
}


def incident_title(finding: Finding) -> str:
    if finding.condition.startswith(TECHNICAL_PREFIX):
        return finding.summary[:200]
    head = CONDITION_TITLES.get(finding.condition, finding.condition.replace("_", " ").title())
    if finding.condition == SILENT_MONITOR:
        return finding.summary[:200]
    return f"{head}: {finding.summary}"[:200]


def _winner(group: list[tuple[int, Finding]]) -> Finding:
    """Highest priority; then the latest observed_at; then the first rule."""
    order, best = min(
        group, key=lambda item: (rank(item[1].priority), -item[1].observed_at.timestamp(), item[0])
    )
    others = [f for i, f in group if i != order]
    if not others:
        return best
    evidence: dict[str, Any] = dict(best.evidence)
    evidence["also_triggered"] = [
        {
            "rule": f.rule_key,
            "priority": f.priority,
            "summary": f.summary,
            "observed_at": f.observed_at.isoformat(),
        }
        for f in sorted(others, key=lambda f: (rank(f.priority), f.rule_key))
    ]
    return replace(best, evidence=evidence)


def _time(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def decide(
    findings: list[Finding],
    open_incidents: dict[str, OpenIncidentState],
    recently_resolved: dict[str, tuple[datetime, str]],
    pause: PauseState | None,
    now: datetime,
    open_from: frozenset[str] | set[str] = DEFAULT_OPEN_FROM,
    hysteresis: timedelta = DEFAULT_HYSTERESIS,
) -> list[Action]:
    """At most one action per condition for one patient's findings (module doc)."""
    groups: dict[str, list[tuple[int, Finding]]] = {}
    for index, finding in enumerate(findings):
        groups.setdefault(finding.condition, []).append((index, finding))
    winners = {condition: _winner(group) for condition, group in groups.items()}
    paused = pause is not None and now < pause.until
    arrest_open = open_incidents.get(ARREST)
    arrest_opening = False
    actions: list[Action] = []
    # Arrest first, so deterioration knows whether an arrest incident opens in this call.
    ordered = sorted(winners, key=lambda c: (c != ARREST, rank(winners[c].priority), c))
    for condition in ordered:
        finding = winners[condition]
        action = _decide_one(
            finding,
            open_incidents.get(condition),
            recently_resolved.get(condition),
            pause if paused else None,
            now,
            open_from,
            hysteresis,
        )
        if (
            condition == DETERIORATION
            and isinstance(action, OpenIncident)
            and finding.priority != "P0"
        ):
            if arrest_open is not None:
                action = AppendEvidence(arrest_open.incident_id, finding)
            elif arrest_opening:
                action = Suppress(finding, "covered by the arrest incident opened now")
        if condition == ARREST and isinstance(action, OpenIncident):
            arrest_opening = True
        actions.append(action)
    return actions


def _decide_one(
    finding: Finding,
    incident: OpenIncidentState | None,
    resolved: tuple[datetime, str] | None,
    pause: PauseState | None,
    now: datetime,
    open_from: frozenset[str] | set[str],
    hysteresis: timedelta,
) -> Action:
    priority = finding.priority
    if pause is not None and priority != "P0":
        return Suppress(finding, f"alarms paused: {pause.reason} until {_time(pause.until)}")
    if incident is not None:
        if higher(priority, incident.priority):
            return UpgradeIncident(incident.incident_id, incident.priority, priority, finding)
        return AppendEvidence(incident.incident_id, finding)
    if priority != "P0" and priority not in open_from:
        return Suppress(finding, "below the priority that opens incidents")
    if resolved is not None and priority != "P0":
        resolved_at, resolved_priority = resolved
        ago = (now - resolved_at).total_seconds()
        if 0 <= ago < hysteresis.total_seconds() and not higher(priority, resolved_priority):
            return Suppress(
                finding,
                f"flapping: resolved {int(ago)} s ago within the hysteresis window",
            )
    return OpenIncident(finding.condition, priority, incident_title(finding), finding)


# --- the urgent lane ------------------------------------------------------------------------

URGENT_HEART_RATE_BELOW = 40.0
URGENT_SPO2_BELOW = 80.0


def is_urgent(parameter: str, value: float | None, text: str | None) -> bool:
    """A reading that may meet an arrest rule: heart rate under 40 (0 is no pulse), an
    arrest rhythm from the monitor, RR 0 (apnoea) or SpO2 under 80 %. Its patient is scored
    at once in the urgent lane instead of waiting for the running batch. Deliberately broad
    (the lane only changes WHEN a patient is scored, never how) and deliberately narrow
    enough that an ordinary sick ward does not flood the lane."""
    if parameter == "rhythm":
        return (text or "").upper() in ARREST_RHYTHMS
    if value is None:
        return False
    if parameter == "heart_rate":
        return value < URGENT_HEART_RATE_BELOW
    if parameter == "resp_rate":
        return value == 0
    if parameter == "spo2":
        return value < URGENT_SPO2_BELOW
    return False
