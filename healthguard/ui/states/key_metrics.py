"""The key-metrics panel's private state: the numbers of the dashboard's selected ward,
re-read every 30 s and when the ward changes.

The numbers come from the same service as ``GET /api/v1/incident-metrics`` (``incident_facts``
then ``incidents.metrics``), with the same permission (``incidents:read``) checked on the
server at every refresh, and the ward scope narrowed to the ward the dashboard shows. One
refresh is one load (the ward scope, then two queries: incidents, their timelines).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
import reflex as rx
from sqlmodel import select

from healthguard.db import session_scope
from healthguard.incidents.metrics_query import TooManyIncidents, incident_facts
from healthguard.incidents.metrics_view import (
    ChartColours,
    KeyMetricsView,
    format_share,
    key_metrics_view,
    metrics_windows,
)
from healthguard.incidents.priority import PRIORITY_STYLES
from healthguard.models import Ward
from healthguard.security.permissions import Permission, Principal, WardScope, allows
from healthguard.security.scope import ward_scope
from healthguard.settings import get_settings
from healthguard.ui import styles
from healthguard.ui.figures import figure_json
from healthguard.ui.states.auth import AuthState
from healthguard.ui.states.dashboard import ALL_WARDS, DashboardState

REFRESH_MS = 30_000
STALE_SECONDS = 120.0

# The alarm colours of the incident cards (styles.ALARM_COLOURS), per priority.
CHART_COLOURS = ChartColours(
    fill={p: styles.ALARM_COLOURS[s.colour]["border"] for p, s in PRIORITY_STYLES.items()},
    outline={p: styles.ALARM_COLOURS[s.colour]["text"] for p, s in PRIORITY_STYLES.items()},
)


class NotYourWard(Exception):
    """The selected ward is outside the person's ward scope."""


def _narrowed(session, scope: WardScope, ward_code: str) -> WardScope:  # type: ignore[no-untyped-def]
    """`scope` limited to the dashboard's selected ward (ALL: the whole scope, when it is the
    whole hospital)."""
    if ward_code == ALL_WARDS:
        if not scope.all_wards:
            raise NotYourWard("You cannot see the whole hospital's metrics.")
        return scope
    ward = session.exec(select(Ward).where(Ward.code == ward_code)).first()
    if ward is None or not scope.covers(ward.id):
        raise NotYourWard(f"You cannot see the metrics of ward {ward_code}.")
    return WardScope(ward_ids=frozenset({str(ward.id)}))


CHARTS = ("hourly", "acknowledge", "resolve", "escalations", "false_alarms")


def chart_json(view: KeyMetricsView) -> dict[str, dict]:
    """The view's charts as the JSON Plotly.js takes (healthguard/ui/figures.py): {chart
    name: figure dict}, validated by plotly once."""
    return {name: figure_json(go.Figure(getattr(view, name))) for name in CHARTS}


@dataclasses.dataclass(frozen=True)
class LoadedMetrics:
    view: KeyMetricsView
    charts: dict[str, dict]  # chart_json(view)


# The numbers of a ward do not depend on who looks (only whether they may): every screen on
# the same ward within CACHE_SECONDS shares one load, charts included, per web worker.
CACHE_SECONDS = 10.0
_recent: dict[str, LoadedMetrics] = {}


def load_key_metrics_and_charts(
    principal: Principal, ward_code: str, now: datetime, *, max_age: float = CACHE_SECONDS
) -> LoadedMetrics:
    """The panel's numbers and charts for `ward_code` (or ALL) as `principal` may see them
    (blocking: call through a thread). The person's scope is checked at every call; the
    incidents are loaded again, and the charts drawn, when the last load of this ward is
    older than `max_age` seconds. Raises NotYourWard, TooManyIncidents."""
    zone = ZoneInfo(get_settings().timezone)
    windows = metrics_windows(now, zone)
    with session_scope() as session:
        scope = _narrowed(session, ward_scope(session, principal, now=now), ward_code)
        recent = _recent.get(ward_code)
        if recent is not None and 0 <= (now - recent.view.windows.now).total_seconds() < max_age:
            return recent
        facts = incident_facts(session, scope, opened_from=windows.load_from, opened_to=windows.now)
    view = key_metrics_view(facts, now=now, zone=zone, colours=CHART_COLOURS)
    loaded = LoadedMetrics(view, chart_json(view))
    _recent[ward_code] = loaded
    return loaded


@dataclasses.dataclass
class HourTableRow:
    hour: str = ""
    counts: list[int] = dataclasses.field(default_factory=list)
    total: int = 0


@dataclasses.dataclass
class ResponseTableRow:
    priority: str = ""
    label: str = ""
    colour: str = "cyan"
    today: str = ""
    previous: str = ""


def _response_table(rows) -> list[ResponseTableRow]:  # type: ignore[no-untyped-def]
    return [
        ResponseTableRow(
            priority=r.priority,
            label=r.label,
            colour=PRIORITY_STYLES[r.priority].colour if r.priority in PRIORITY_STYLES else "cyan",
            today=r.today_text,
            previous=r.baseline_text,
        )
        for r in rows
    ]


class KeyMetricsState(rx.State):
    error: str = ""
    ward_name: str = ""
    updated_at: str = ""  # ISO 8601
    updated_at_local: str = ""  # HH:MM in the hospital's time zone
    load_ms: int = 0
    grafana_url: str = ""
    incidents_24h: int = 0
    hourly_figure: dict = {}
    hourly_summary: str = ""
    hour_rows: list[HourTableRow] = []
    acknowledge_figure: dict = {}
    acknowledge_rows: list[ResponseTableRow] = []
    resolve_figure: dict = {}
    resolve_rows: list[ResponseTableRow] = []
    escalations_figure: dict = {}
    escalations_summary: str = ""
    escalations_today: int = 0
    escalations_per_day: str = ""
    false_alarm_figure: dict = {}
    false_alarm_summary: str = ""
    false_alarm_share_today: str = ""
    false_alarm_share_previous: str = ""

    _running_since: float = 0.0  # time.time() when the refresh in flight began; 0: none
    _again: bool = False

    @rx.event(background=True)
    async def refresh(self, _tick: str = ""):
        """Re-read the metrics of the dashboard's selected ward (the clock tick's value is
        ignored: the ward and the person come from the server-side session)."""
        async with self:
            # One refresh at a time per browser; a tick during one asks for one more. A
            # refresh left marked by a restarted server stops counting after STALE_SECONDS.
            if time.time() - self._running_since < STALE_SECONDS:
                self._again = True
                return
            self._running_since = time.time()
        try:
            again = True
            while again:
                await self._refresh_once()
                async with self:
                    again, self._again = self._again, False
        finally:
            async with self:
                self._running_since = 0.0

    async def _refresh_once(self) -> None:
        async with self:
            auth = await self.get_state(AuthState)
            # A clock tick is not activity: the idle-session limit keeps working.
            principal = await auth.current_principal(activity=False)
            dashboard = await self.get_state(DashboardState)
            ward_code, ward_name = dashboard.selected_ward, dashboard.selected_ward_name
            if principal is None or not allows(principal, Permission.INCIDENTS_READ):
                self.error = (
                    "Your session has ended; sign in again to see the metrics."
                    if principal is None
                    else "Your role may not see incident metrics."
                )
                self.updated_at = ""  # hide the numbers shown so far
                return
            if not ward_code:  # the dashboard has not chosen a ward yet
                return
        started = time.perf_counter()
        error, hide = "", False
        loaded: LoadedMetrics | None = None
        try:
            loaded = await asyncio.to_thread(
                load_key_metrics_and_charts, principal, ward_code, datetime.now(UTC)
            )
        except NotYourWard as exc:  # no longer this person's ward: hide its numbers
            error, hide = str(exc), True
        except TooManyIncidents:
            error = "Too many incidents to summarise here; use the Grafana dashboards."
        except Exception:  # a wall screen keeps the last numbers and says why
            error = "The key metrics could not be loaded; showing the last known numbers."
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        async with self:
            self.error = error
            self.grafana_url = get_settings().grafana_url or ""
            if hide:
                self.updated_at = ""
            if loaded is not None:
                self._show(loaded.view, ward_name, loaded.charts)
                self.load_ms = elapsed_ms

    def _show(self, view: KeyMetricsView, ward_name: str, figures: dict[str, dict]) -> None:
        self.ward_name = ward_name
        self.updated_at = view.windows.now.isoformat()
        zone = ZoneInfo(get_settings().timezone)
        self.updated_at_local = view.windows.now.astimezone(zone).strftime("%H:%M")
        self.incidents_24h = view.incidents_24h
        self.hourly_figure = figures["hourly"]
        self.hourly_summary = view.hourly_summary
        self.hour_rows = [
            HourTableRow(hour=r.hour, counts=list(r.counts), total=r.total) for r in view.hour_rows
        ]
        self.acknowledge_figure = figures["acknowledge"]
        self.acknowledge_rows = _response_table(view.acknowledge_rows)
        self.resolve_figure = figures["resolve"]
        self.resolve_rows = _response_table(view.resolve_rows)
        self.escalations_figure = figures["escalations"]
        self.escalations_summary = view.escalations_summary
        self.escalations_today = view.escalations_today
        self.escalations_per_day = f"{view.escalations_per_day:g}"
        self.false_alarm_figure = figures["false_alarms"]
        self.false_alarm_summary = view.false_alarms_summary
        self.false_alarm_share_today = format_share(view.false_alarm_share_today)
        self.false_alarm_share_previous = format_share(view.false_alarm_share_baseline)
