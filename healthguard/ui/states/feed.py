"""The live ward feed: one shared state per ward (and one for the whole hospital).

Browsers on the dashboard link to the feed of the ward they look at. When a change event
arrives, one web worker reloads that feed from Postgres inside `app.modify_state`, and
Reflex pushes the new rows to every linked browser, whichever worker its socket is on.
Rows are small, pre-formatted and carry patient initials only (shared screens).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import reflex as rx

from healthguard.alarms.pauses import active_pauses
from healthguard.db import session_scope
from healthguard.incidents.priority import PRIORITY_STYLES
from healthguard.incidents.service import (
    OpenIncidentRow,
    QueueExtras,
    list_open_incidents,
    queue_extras,
)
from healthguard.models import AlarmPause, Ward
from healthguard.realtime.events import ALL_WARDS_FEED, ward_feed_token
from healthguard.security.permissions import Permission, Principal, allows
from healthguard.security.scope import ward_scope
from healthguard.settings import get_settings
from healthguard.ui.incident_view import escalation_words, local_time
from healthguard.ui.routes import patient_path
from healthguard.ui.states.auth import AuthState
from healthguard.wards.service import BedRow, News2Value, ward_board

VITAL_LABELS: tuple[tuple[str, str, str], ...] = (
    ("heart_rate", "HR", ""),
    ("spo2", "SpO2", "%"),
    ("resp_rate", "RR", ""),
    ("systolic_bp", "SBP", ""),
    ("temperature_c", "T", "°C"),
)


@dataclasses.dataclass
class IncidentCardData:
    id: str = ""
    number: int = 0
    priority: str = ""
    priority_label: str = ""
    colour: str = "cyan"
    flashing: bool = False
    title: str = ""
    summary: str = ""
    location: str = ""
    patient: str = ""
    status: str = ""
    opened_at: str = ""  # ISO 8601, shown in local time and as a live age by the browser
    assignee: str = ""  # the assigned staff member's name ("" when unassigned)
    acknowledged_by: str = ""  # who acknowledged it, by name ("" when not acknowledged)
    escalation: str = ""  # "Step 2 of 3; escalating" ("" when it has no escalation)
    next_step_at: str = ""  # ISO 8601 while escalating: the live "in 40 seconds"
    next_step_local: str = ""  # "14:32:10", hospital time


@dataclasses.dataclass
class BedCardData:
    ward: str = ""
    bed: str = ""
    patient: str = ""
    occupied: bool = False
    scale2: bool = False
    vitals: list[str] = dataclasses.field(default_factory=list)
    last_vitals_at: str = ""
    patient_href: str = ""  # the patient page ("" for an empty bed)
    patient_id: str = ""  # opens the patient in the dashboard's drawer
    paused: bool = False  # the patient's alarms are paused (healthguard.alarms.pauses)
    paused_until: str = ""  # "14:30", hospital time
    has_news2: bool = False  # a NEWS2 score within the freshness window
    news2: str = ""  # "NEWS2 8 · high risk", the total with its risk in words
    news2_risk: str = ""  # low / low-medium / medium / high: the colour band
    news2_partial: bool = False  # some parameters missing: the real score may be higher
    news2_trend: str = ""  # "↑ from 3", "↓ from 5", "→ steady" ("" without an earlier score)
    news2_trend_words: str = ""  # the arrow for screen readers: "NEWS2 up from 3"


def incident_card(
    row: OpenIncidentRow,
    extras: QueueExtras | None = None,
    *,
    now: datetime | None = None,
    zone: ZoneInfo | None = None,
) -> IncidentCardData:
    """A queue card; with `extras` (healthguard.incidents.service.queue_extras) it also says
    who has it, who acknowledged it and where its escalation stands."""
    style = PRIORITY_STYLES[row.priority]
    location = " · ".join(p for p in (row.ward_code, row.bed_label and f"bed {row.bed_label}") if p)
    card = IncidentCardData(
        id=row.id,
        number=row.number,
        priority=row.priority,
        priority_label=style.label,
        colour=style.colour,
        flashing=style.flashing and not row.acknowledged,
        title=row.title,
        summary=row.summary,
        location=location or "Hospital-wide",
        patient=row.patient_initials,
        status="Acknowledged" if row.acknowledged else "Not acknowledged",
        opened_at=row.opened_at.astimezone(UTC).isoformat(),
    )
    if extras is None:
        return card
    card.assignee = extras.assignee
    card.acknowledged_by = extras.acknowledged_by if row.acknowledged else ""
    if extras.has_escalation or extras.escalation_steps:
        card.escalation = escalation_words(
            extras.escalation_step, extras.escalation_steps, extras.escalating, row.status
        )
    if extras.next_step_at is not None:
        card.next_step_at = extras.next_step_at.astimezone(UTC).isoformat()
        card.next_step_local = local_time(
            extras.next_step_at,
            zone or ZoneInfo(get_settings().timezone),
            now or datetime.now(UTC),
        )
    return card


def set_news2(card: BedCardData, scores: tuple[News2Value, ...]) -> None:
    """The bed card's NEWS2: the latest score (newest first in `scores`), its risk band in
    words and whether it is partial, and the arrow against the score before it."""
    if not scores:
        return
    latest = scores[0]
    card.has_news2 = True
    card.news2 = f"NEWS2 {latest.total} · {latest.risk} risk"
    card.news2_risk = latest.risk
    card.news2_partial = latest.partial
    if len(scores) < 2:
        return
    before = scores[1].total
    if latest.total > before:
        card.news2_trend, card.news2_trend_words = f"↑ from {before}", f"NEWS2 up from {before}"
    elif latest.total < before:
        card.news2_trend, card.news2_trend_words = f"↓ from {before}", f"NEWS2 down from {before}"
    else:
        card.news2_trend, card.news2_trend_words = "→ steady", f"NEWS2 steady at {before}"


def bed_card(row: BedRow, pause_ends_at: datetime | None = None) -> BedCardData:
    parts = []
    for key, label, unit in VITAL_LABELS:
        latest = row.latest.get(key)
        if latest is not None and latest.value is not None:
            value = f"{latest.value:.1f}" if key == "temperature_c" else f"{latest.value:.0f}"
            parts.append(f"{label} {value}{unit}")
    consciousness = row.latest.get("consciousness")
    if consciousness is not None and consciousness.value_text:
        parts.append(f"ACVPU {consciousness.value_text}")
    last = row.last_observed_at
    card = BedCardData(
        ward=row.ward_code,
        bed=row.bed_label,
        patient=row.patient_initials,
        occupied=row.patient_id is not None,
        scale2=row.spo2_scale == 2,
        vitals=parts,
        last_vitals_at=last.astimezone(UTC).isoformat() if last else "",
        patient_href=patient_path(row.patient_id) if row.patient_id else "",
        patient_id=row.patient_id or "",
        paused=pause_ends_at is not None,
        paused_until=(
            pause_ends_at.astimezone(ZoneInfo(get_settings().timezone)).strftime("%H:%M")
            if pause_ends_at
            else ""
        ),
    )
    set_news2(card, row.news2)
    return card


#: What a reload reads: everything (a screen that opens, the periodic resync), the incident
#: queue alone (an incident changed) or the bed board alone (vital signs, an alarm pause).
#: Reading only the part that changed keeps the other list out of the delta Reflex sends:
#: a 200-bed board is not re-sent to every screen for each incident.
FEED_PARTS = ("all", "queue", "beds")


def load_feed_rows(
    ward_code: str | None, part: str = "all"
) -> tuple[list[IncidentCardData] | None, list[BedCardData] | None]:
    """Read a feed's rows from Postgres (blocking: call through a thread): (incident cards,
    bed cards), None for the part not read."""
    from sqlmodel import select

    if part not in FEED_PARTS:
        raise ValueError(f"part must be one of {FEED_PARTS}, not {part!r}")
    now = datetime.now(UTC)
    zone = ZoneInfo(get_settings().timezone)
    incidents: list[IncidentCardData] | None = None
    beds: list[BedCardData] | None = None
    with session_scope() as session:
        ward_id = None
        if ward_code:
            ward = session.exec(select(Ward).where(Ward.code == ward_code)).first()
            if ward is None:
                return [], []
            ward_id = ward.id
        if part in ("all", "queue"):
            open_rows = list_open_incidents(session, ward_id=ward_id)
            extras = queue_extras(session, [r.id for r in open_rows])
            incidents = [incident_card(r, extras.get(r.id), now=now, zone=zone) for r in open_rows]
        if part in ("all", "beds"):
            rows = ward_board(session, ward_code, now=now)
            pauses = active_pauses(
                session,
                [uuid.UUID(r.patient_id) for r in rows if r.patient_id],
                now=now,
            )
            beds = [bed_card(r, _pause_end(pauses, r.patient_id)) for r in rows]
    return incidents, beds


def _pause_end(pauses: dict[uuid.UUID, AlarmPause], patient_id: str | None) -> datetime | None:
    pause = pauses.get(uuid.UUID(patient_id)) if patient_id else None
    return pause.ends_at if pause else None


def ward_code_of_token(token: str) -> str | None:
    if token == ALL_WARDS_FEED:
        return None
    return token.removeprefix("ward-").upper()


def may_watch(principal: Principal, ward_code: str) -> bool:
    """May this person watch this ward's feed ('' = the whole hospital)?"""
    from sqlmodel import select

    if not allows(principal, Permission.DASHBOARD_VIEW):
        return False
    with session_scope() as session:
        scope = ward_scope(session, principal, now=datetime.now(UTC))
        if not ward_code:
            return scope.all_wards
        ward = session.exec(select(Ward).where(Ward.code == ward_code)).first()
        return ward is not None and scope.covers(ward.id)


class WardFeed(rx.SharedState):
    """Open incidents and beds of one ward (or all), shared by every browser showing it."""

    scope: str = ""
    incidents: list[IncidentCardData] = []
    beds: list[BedCardData] = []
    loaded_at: str = ""
    load_error: str = ""

    async def _reload(self, ward_code: str | None, part: str = "all") -> None:
        """Reload `part` (FEED_PARTS) from Postgres; keep the last rows and say so when the
        database fails."""
        try:
            incidents, beds = await asyncio.to_thread(load_feed_rows, ward_code, part)
        except Exception:  # a screen must keep showing the last known rows
            self.load_error = "Could not reach the database; showing the last known list."
            return
        self.scope = ward_code or ""
        if incidents is not None:
            self.incidents = incidents
        if beds is not None:
            self.beds = beds
        self.load_error = ""
        self.loaded_at = datetime.now(UTC).isoformat()

    @rx.event
    async def follow(self, ward_code: str = ""):
        """Link this browser to the live feed of `ward_code` ('' = whole hospital), after
        checking on the server that the signed-in person may watch it."""
        ward_code = ward_code.upper()
        auth = await self.get_state(AuthState)
        principal = await auth.current_principal()
        if principal is None:
            return rx.redirect("/login")
        if not await asyncio.to_thread(may_watch, principal, ward_code):
            return None
        feed = await self._link_to(ward_feed_token(ward_code or None))
        # Always reload: a screen that opens never shows rows older than the database.
        await feed._reload(ward_code or None)

    @rx.var
    def alarm_tone_key(self) -> str:
        """The newest open P0/P1 of this feed nobody has acknowledged yet ("" when none):
        the command centre's alarm sound and browser notification follow it."""
        waiting = [
            i
            for i in self.incidents
            if i.priority in ("P0", "P1") and i.status == "Not acknowledged"
        ]
        if not waiting:
            return ""
        return max(waiting, key=lambda i: i.opened_at).id  # the incident id

    @rx.var
    def alarm_tone_message(self) -> str:
        """What the browser notification of `alarm_tone_key` says."""
        waiting = [
            i
            for i in self.incidents
            if i.priority in ("P0", "P1") and i.status == "Not acknowledged"
        ]
        if not waiting:
            return ""
        newest = max(waiting, key=lambda i: i.opened_at)
        return f"{newest.priority_label} · {newest.location}: {newest.title} (secondary alarm)"

    @rx.var
    def incident_count(self) -> int:
        return len(self.incidents)
