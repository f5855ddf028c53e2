"""The patient page's state (/patients/[patient_id]): one patient for one signed-in person.

Every handler re-reads who is signed in and re-checks on the server that the patient is one
they may see (healthguard.security.scope.patient_access, the API's rule); the patient id
comes from the URL on load and is kept server-side only (``_pid``). Opening the page and
choosing another window are PHI reads audited exactly like the API's (``patient.read`` and
``vitals.read``); the live refresh every few seconds re-checks access but is not audited
again (it is the same view, kept current). Changes go through healthguard.patients.actions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import reflex as rx

from healthguard.alarms.pauses import MAX_PAUSE
from healthguard.clinical.news2_bands import TRENDED, score_bands
from healthguard.db import session_scope
from healthguard.incidents.priority import PRIORITY_STYLES
from healthguard.patients.actions import (
    ActionRefused,
    end_pause_as,
    pause_alarms_as,
    set_spo2_scale_as,
)
from healthguard.patients.detail import (
    DEFAULT_WINDOW,
    WINDOWS,
    PatientPage,
    load_patient_page,
    window_of,
)
from healthguard.security.permissions import Permission, Principal, allows
from healthguard.settings import get_settings
from healthguard.ui import routes
from healthguard.ui.components.patient_charts import news2_figure, trend_figure
from healthguard.ui.figures import empty_figure, figure_json
from healthguard.ui.states.auth import AuthState

# How often the open page re-reads the patient (milliseconds, rx.moment interval).
REFRESH_MS = 5_000
PAUSE_MINUTES: tuple[int, ...] = tuple(
    m for m in (10, 20, 30, 45, 60, 90, 120) if m <= MAX_PAUSE.total_seconds() // 60
)
NOT_ALLOWED = (
    "You may not see this patient: they are not on a ward you work on now, or there is no "
    "such patient."
)
VALUE_LABELS: dict[str, tuple[str, str]] = {p: (label, unit) for p, label, unit in TRENDED}


@dataclasses.dataclass
class LatestRow:
    label: str = ""
    value: str = ""
    at: str = ""


@dataclasses.dataclass
class News2Row:
    at: str = ""
    total: int = 0
    partial: str = ""
    risk: str = ""


@dataclasses.dataclass
class HistoryRow:
    kind: str = ""
    at: str = ""
    priority: str = ""
    priority_label: str = ""
    colour: str = "cyan"
    text: str = ""
    status: str = ""
    href: str = ""
    number: str = ""


def hospital_zone() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def _clock(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%d %b %H:%M")


def _number(value: float, parameter: str) -> str:
    return f"{value:.1f}" if parameter == "temperature_c" else f"{value:.0f}"


def chart_summary(page: PatientPage, parameter: str, window: str, zone: ZoneInfo) -> str:
    """The words next to a chart: its last reading and range over the window."""
    label, unit = VALUE_LABELS[parameter]
    points = page.trends.get(parameter, [])
    if not points:
        return f"No {label.lower()} readings in the last {window}."
    last = points[-1]
    low = min(p.low for p in points)
    high = max(p.high for p in points)
    return (
        f"Last {_number(last.mean, parameter)} {unit} ({_clock(last.at, zone)}); "
        f"{_number(low, parameter)}-{_number(high, parameter)} {unit} in the last {window}."
    )


def pause_text(page: PatientPage, zone: ZoneInfo) -> str:
    if page.pause is None:
        return ""
    until = page.pause.ends_at.astimezone(zone).strftime("%H:%M")
    return (
        f"Alarms paused until {until}: {page.pause.reason} (by {page.pause.paused_by}). "
        "A P0 (cardiac arrest) still alarms."
    )


class PatientDetailState(rx.State):
    _pid: str = ""
    _figures_key: str = ""
    loading: bool = True
    allowed: bool = True
    error: str = ""
    message: str = ""
    action_error: str = ""
    # Header
    name: str = ""
    initials: str = ""
    mrn: str = ""
    date_of_birth: str = ""
    sex: str = ""
    allergies: str = ""
    ward: str = ""
    bed: str = ""
    break_glass: bool = False
    spo2_scale: int = 1
    oxygen_text: str = ""
    latest: list[LatestRow] = []
    # Charts
    window: str = DEFAULT_WINDOW
    fig_resp_rate: dict = empty_figure()  # healthguard/ui/figures.py
    fig_spo2: dict = empty_figure()  # healthguard/ui/figures.py
    fig_systolic_bp: dict = empty_figure()  # healthguard/ui/figures.py
    fig_heart_rate: dict = empty_figure()  # healthguard/ui/figures.py
    fig_temperature_c: dict = empty_figure()  # healthguard/ui/figures.py
    fig_news2: dict = empty_figure()  # healthguard/ui/figures.py
    chart_summaries: dict[str, str] = {}
    news2_rows: list[News2Row] = []
    history: list[HistoryRow] = []
    updated_at: str = ""
    # Actions
    can_set_scale: bool = False
    can_pause: bool = False
    paused: bool = False
    pause_summary: str = ""
    saving: bool = False
    # The dashboard's patient drawer (tablets): the same view, opened over the bed board.
    drawer_open: bool = False
    drawer_href: str = ""  # the full patient page of the patient in the drawer

    async def _principal(self) -> Principal | None:
        auth = await self.get_state(AuthState)
        return await auth.current_principal()

    def _origin(self) -> tuple[str | None, str | None]:
        return self.router.session.client_ip or None, self.router.headers.user_agent

    def _patient_uuid(self) -> uuid.UUID | None:
        try:
            return uuid.UUID(self._pid)
        except ValueError:
            return None

    @rx.event
    async def on_load(self):
        principal = await self._principal()
        if principal is None:
            yield rx.redirect(routes.LOGIN)
            return
        self._pid = routes.patient_id_of(str(self.router.url.path))
        self.loading, self.error, self.message, self.action_error = True, "", "", ""
        self.window = DEFAULT_WINDOW
        yield
        await self._load(principal, audit=True)

    @rx.event
    async def open_drawer(self, patient_id: str):
        """Show a patient from the bed board in the drawer (access checked and audited as
        on the patient page)."""
        principal = await self._principal()
        if principal is None:
            yield rx.redirect(routes.LOGIN)
            return
        self._pid = patient_id
        self.drawer_open, self.drawer_href = True, routes.patient_path(patient_id)
        self.loading, self.error, self.message, self.action_error = True, "", "", ""
        self.window = DEFAULT_WINDOW
        yield
        await self._load(principal, audit=True)

    @rx.event
    def close_drawer(self):
        self.drawer_open = False
        self._pid = ""

    @rx.event
    def drawer_key(self, key: str):
        """Escape closes the drawer (keyboard users)."""
        if key == "Escape":
            self.drawer_open = False
            self._pid = ""

    @rx.event
    async def refresh(self, _tick: str = ""):
        """The page's clock tick: re-read (access re-checked, not audited again)."""
        if not self.allowed or self.loading or not self._pid:
            return None
        principal = await self._principal()
        if principal is None:
            return rx.redirect(routes.LOGIN)
        await self._load(principal, audit=False)
        return None

    @rx.event
    async def choose_window(self, window: str):
        principal = await self._principal()
        if principal is None:
            return rx.redirect(routes.LOGIN)
        if window not in WINDOWS:
            self.action_error = f"window: must be one of {', '.join(WINDOWS)}"
            return None
        self.window = window
        await self._load(principal, audit=True)
        return None

    async def _load(self, principal: Principal, *, audit: bool) -> None:
        pid = self._patient_uuid()
        if pid is None or not allows(principal, Permission.PATIENTS_READ):
            self._refuse()
            return
        window, now = window_of(self.window), datetime.now(UTC)
        ip, agent = self._origin()

        def read() -> PatientPage | None:
            with session_scope() as session:
                return load_patient_page(
                    session,
                    principal,
                    pid,
                    window=window,
                    now=now,
                    audit=audit,
                    ip=ip,
                    user_agent=agent,
                )

        try:
            page = await asyncio.to_thread(read)
        except Exception:
            self.loading = False
            self.error = "The patient could not be loaded; the database did not answer. Retrying."
            return
        if page is None:
            self._refuse()
            return
        self._show(page, principal, now)

    def _refuse(self) -> None:
        self.allowed, self.loading = False, False
        self.name = self.initials = self.mrn = self.date_of_birth = self.allergies = ""
        self.ward = self.bed = self.sex = ""
        self.latest, self.history, self.news2_rows, self.chart_summaries = [], [], [], {}
        empty = empty_figure()
        self.fig_resp_rate = self.fig_spo2 = self.fig_systolic_bp = empty
        self.fig_heart_rate = self.fig_temperature_c = self.fig_news2 = empty
        self.can_set_scale = self.can_pause = self.paused = False
        self._figures_key = ""
        self.error = NOT_ALLOWED

    def _show(self, page: PatientPage, principal: Principal, now: datetime) -> None:
        zone = hospital_zone()
        since = now - window_of(self.window)
        self.allowed, self.loading, self.error = True, False, ""
        self.name, self.initials, self.mrn = page.name, page.initials, page.mrn
        self.date_of_birth = page.date_of_birth.strftime("%d %b %Y")
        self.sex, self.allergies = page.sex, page.allergies
        self.ward = page.ward_name or page.ward_code or "Not admitted"
        self.bed = page.bed_label
        self.break_glass = page.access == "break_glass"
        self.spo2_scale = page.spo2_scale
        self.oxygen_text = {True: "on oxygen", False: "on air"}.get(
            page.on_oxygen, "air or oxygen not recorded"
        )
        rows = []
        for parameter, label, unit in TRENDED:
            got = page.latest.get(parameter)
            if got is not None and got[0] is not None:
                rows.append(
                    LatestRow(label, f"{_number(got[0], parameter)} {unit}", _clock(got[2], zone))
                )
        acvpu = page.latest.get("consciousness")
        if acvpu is not None and acvpu[1]:
            rows.append(LatestRow("ACVPU", acvpu[1], _clock(acvpu[2], zone)))
        self.latest = rows
        # Rebuild the figures only when what they draw changed (or once a minute, to move
        # the window): a refresh then sends a few bytes instead of every chart again.
        key = repr(
            (
                self.window,
                page.spo2_scale,
                page.on_oxygen,
                sorted(page.trends.items()),
                page.news2,
                now.replace(second=0, microsecond=0),
            )
        )
        if key != self._figures_key:
            self._figures_key = key
            self._draw(page, since, now, zone)
        self.news2_rows = [
            News2Row(
                at=_clock(p.at, zone),
                total=p.total,
                partial="partial (some not measured)" if p.partial else "complete",
                risk=p.risk,
            )
            for p in reversed(page.news2[-8:])
        ]
        self.history = [
            HistoryRow(
                kind=item.kind,
                at=_clock(item.at, zone),
                priority=item.priority,
                priority_label=item.priority_label,
                colour=PRIORITY_STYLES[item.priority].colour,
                text=item.text,
                status=item.status,
                href=routes.incident_path(item.incident_id) if item.incident_id else "",
                number=f"#{item.incident_number}" if item.incident_number else "",
            )
            for item in page.history
        ]
        in_scope = page.access == "scope"
        self.can_set_scale = in_scope and allows(principal, Permission.PATIENTS_SET_SPO2_SCALE)
        self.can_pause = in_scope and allows(principal, Permission.ALARMS_PAUSE)
        self.paused = page.pause is not None
        self.pause_summary = pause_text(page, zone)
        self.updated_at = now.astimezone(zone).strftime("%H:%M:%S")

    def _draw(self, page: PatientPage, since: datetime, now: datetime, zone: ZoneInfo) -> None:
        figures: dict[str, dict] = {}
        summaries: dict[str, str] = {}
        for parameter, label, unit in TRENDED:
            bands = score_bands(
                parameter,
                spo2_scale=page.spo2_scale if parameter == "spo2" else 1,
                on_oxygen=page.on_oxygen if parameter == "spo2" else None,
            )
            figures[parameter] = figure_json(
                trend_figure(
                    label,
                    unit,
                    page.trends.get(parameter, []),
                    bands,
                    since=since,
                    until=now,
                    zone=zone,
                )
            )
            summaries[parameter] = chart_summary(page, parameter, self.window, zone)
        self.fig_resp_rate = figures["resp_rate"]
        self.fig_spo2 = figures["spo2"]
        self.fig_systolic_bp = figures["systolic_bp"]
        self.fig_heart_rate = figures["heart_rate"]
        self.fig_temperature_c = figures["temperature_c"]
        self.fig_news2 = figure_json(news2_figure(page.news2, since=since, until=now, zone=zone))
        self.chart_summaries = summaries

    @rx.event
    async def set_scale(self, form: dict):
        principal = await self._principal()
        if principal is None:
            yield rx.redirect(routes.LOGIN)
            return
        pid = self._patient_uuid()
        self.message = self.action_error = ""
        raw = str(form.get("scale", "")).strip()
        if raw not in ("1", "2") or pid is None:
            self.action_error = "scale: choose Scale 1 or Scale 2."
            return
        reason = str(form.get("reason", ""))
        ip, agent = self._origin()
        now = datetime.now(UTC)

        def act() -> str:
            try:
                change = set_spo2_scale_as(
                    principal, pid, scale=int(raw), reason=reason, now=now, ip=ip, user_agent=agent
                )
            except ActionRefused as exc:
                return f"!{exc.field}: {exc.message}"
            if not change.changed:
                return f"The patient is already on SpO2 Scale {raw}."
            return f"SpO2 Scale {raw} set (recorded in the audit log); NEWS2 is being rescored."

        self.saving = True
        yield
        result = await asyncio.to_thread(act)
        self.saving = False
        if result.startswith("!"):
            self.action_error = result[1:]
            return
        self.message = result
        await self._load(principal, audit=False)

    @rx.event
    async def pause_alarms(self, form: dict):
        principal = await self._principal()
        if principal is None:
            yield rx.redirect(routes.LOGIN)
            return
        pid = self._patient_uuid()
        self.message = self.action_error = ""
        try:
            minutes = int(str(form.get("minutes", "")).strip())
        except ValueError:
            self.action_error = "minutes: choose how long to pause."
            return
        if pid is None:
            self._refuse()
            return
        reason = str(form.get("reason", ""))
        ip, agent = self._origin()
        now = datetime.now(UTC)

        def act() -> str:
            try:
                done = pause_alarms_as(
                    principal, pid, minutes=minutes, reason=reason, now=now, ip=ip, user_agent=agent
                )
            except ActionRefused as exc:
                return f"!{exc.field}: {exc.message}"
            until = (
                done.ends_at.astimezone(hospital_zone()).strftime("%H:%M") if done.ends_at else ""
            )
            return f"Alarms paused until {until}. A P0 (cardiac arrest) still alarms."

        self.saving = True
        yield
        result = await asyncio.to_thread(act)
        self.saving = False
        if result.startswith("!"):
            self.action_error = result[1:]
            return
        self.message = result
        await self._load(principal, audit=False)

    @rx.event
    async def end_pause(self):
        principal = await self._principal()
        if principal is None:
            return rx.redirect(routes.LOGIN)
        pid = self._patient_uuid()
        self.message = self.action_error = ""
        if pid is None:
            self._refuse()
            return None
        now = datetime.now(UTC)

        def act() -> str:
            try:
                ended = end_pause_as(principal, pid, now=now)
            except ActionRefused as exc:
                return f"!{exc.field}: {exc.message}"
            return "Alarms are on again." if ended else "No pause was running."

        result = await asyncio.to_thread(act)
        if result.startswith("!"):
            self.action_error = result[1:]
            return None
        self.message = result
        await self._load(principal, audit=False)
        return None
