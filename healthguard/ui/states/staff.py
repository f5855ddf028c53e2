"""Staff and schedules: the staff status panel of the dashboard and the /staff page.

Both call the same service functions as the API (healthguard/api/oncall.py):
``staff_service.list_staff`` / ``staff_detail``, ``assign_service.load_candidates`` (open
load and skills, as the assignment ranking sees them), ``roster.load_schedules`` /
``manual_spans`` / ``gap_report`` / ``staff_calendar``. Every handler checks the session
and the permission on the server. No handler takes a ward or a person chosen by the browser
without checking it:

- the status panel reads the ward the dashboard shows (``DashboardState.selected_ward``, set
  only by its checked ``select_ward``) and checks it against the ward scope again;
- the roster shows the wards of the person's ward scope (an admin: every ward); coverage gaps
  only to those who may read the gap report (``schedules:manage``: a charge nurse for their
  wards, an admin). Swap requests have their own state (healthguard.ui.states.swaps).

Live: the status panel re-reads every 15 s (a hidden ``rx.moment`` tick; availability changes
publish no change event) and at once when the dashboard's ward changes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import reflex as rx
import sqlalchemy as sa
from sqlmodel import Session, col, select

from healthguard.db import session_scope
from healthguard.models import ScheduleOverride as OverrideRow
from healthguard.models import Shift, Staff, StaffRole, Ward
from healthguard.oncall import roster
from healthguard.oncall import staff_service as staff_svc
from healthguard.oncall.assign_service import load_candidates
from healthguard.oncall.rotations import role_words, spans_between
from healthguard.security.permissions import Permission, Principal, allows
from healthguard.security.scope import ward_scope
from healthguard.settings import get_settings
from healthguard.ui import staff_view as view
from healthguard.ui.states.auth import AuthState
from healthguard.ui.states.dashboard import ALL_WARDS, DashboardState, WardOption

log = logging.getLogger(__name__)

DATABASE_DOWN = "Could not reach the database; the staff list may be out of date."
CALENDAR_BACK = timedelta(days=7)
CALENDAR_AHEAD = timedelta(days=56)


def hospital_zone() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def _names(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = session.exec(select(Staff).where(col(Staff.id).in_(list(ids)))).all()
    return {s.id: s.display_name for s in rows}


# --- the staff status panel -----------------------------------------------------------------


@dataclasses.dataclass
class StaffStatusRow:
    staff_id: str = ""
    name: str = ""
    role: str = ""
    ward: str = ""
    availability: str = ""  # available, busy, on_break, off
    availability_text: str = ""
    until_text: str = ""
    load_text: str = ""
    urgent: bool = False  # holds a P0 or P1
    skills: list[str] = dataclasses.field(default_factory=list)
    expiring: list[str] = dataclasses.field(default_factory=list)  # "ACLS (expires 5 Dec)"
    shift_text: str = ""  # "on shift until 19:00"


def staff_status(
    principal: Principal, ward_code: str, now: datetime
) -> tuple[list[StaffStatusRow], str]:
    """Who is on shift now in the ward (``ALL``: every ward in the person's scope), and the
    next shift change there, in words (blocking; raises PermissionError outside the scope)."""
    zone = hospital_zone()
    today = now.astimezone(zone).date()
    with session_scope() as session:
        scope = ward_scope(session, principal, now=now)
        wards = session.exec(select(Ward).order_by(col(Ward.code))).all()
        if ward_code == ALL_WARDS:
            chosen = [w for w in wards if scope.covers(w.id)]
            if not scope.all_wards:
                raise PermissionError("You cannot watch the whole hospital.")
        else:
            chosen = [w for w in wards if w.code == ward_code and scope.covers(w.id)]
            if not chosen:
                raise PermissionError(f"You cannot watch ward {ward_code}.")
        on_shift = {info.id: info for info in staff_svc.list_staff(session, now=now, on_shift=True)}
        rows: list[StaffStatusRow] = []
        ends: list[datetime] = []
        for ward in chosen:
            for c in load_candidates(session, ward.id, now):
                if not c.on_shift or c.shift_ward_id != str(ward.id):
                    continue
                info = on_shift.get(uuid.UUID(c.staff_id))
                shift = info.current_shift if info else None
                if shift is not None:
                    ends.append(shift.ends_at)
                skills = sorted(c.skills.items(), key=lambda kv: kv[0].casefold())
                texts = [
                    view.skill_words(s, e, staff_svc.skill_status(e, today)) for s, e in skills
                ]
                status = str(c.availability.value)
                until = info.availability_until if info else None
                rows.append(
                    StaffStatusRow(
                        staff_id=c.staff_id,
                        name=c.display_name,
                        role=role_words(str(c.role.value)),
                        ward=ward.code,
                        availability=status,
                        availability_text=view.availability_words(status),
                        until_text=(
                            f"until {view.change_words(until, zone, now)}" if until else ""
                        ),
                        load_text=view.load_words(c.open_incidents),
                        urgent=any(c.open_incidents.get(p, 0) for p in ("P0", "P1")),
                        skills=[t for t in texts if "(" not in t],
                        expiring=[t for t in texts if "(" in t],
                        shift_text=(
                            f"on shift until {view.change_words(shift.ends_at, zone, now)}"
                            if shift
                            else "on shift"
                        ),
                    )
                )
        upcoming = session.exec(
            select(sa.func.min(Shift.starts_at)).where(
                col(Shift.ward_id).in_([w.id for w in chosen]), col(Shift.starts_at) > now
            )
        ).first()
    rows.sort(key=lambda r: (r.ward, r.name.casefold()))
    change = view.next_change(ends, [upcoming] if upcoming else [], now)
    return rows, view.change_words(change, zone, now)


class StaffStatusState(rx.State):
    rows: list[StaffStatusRow] = []
    next_change: str = ""
    loaded: bool = False
    ward: str = ""
    error: str = ""

    @rx.event
    async def load(self, _tick: str = ""):
        """On mount, when the dashboard's ward changes, and every 15 s: who is on shift in
        the ward the dashboard shows (checked against the ward scope on the server)."""
        auth = await self.get_state(AuthState)
        principal = await auth.current_principal(activity=False)
        if principal is None or not allows(principal, Permission.STAFF_READ):
            self.rows, self.loaded = [], True
            self.error = "" if principal is None else "Your role may not see the staff list."
            return
        dashboard = await self.get_state(DashboardState)
        ward = dashboard.selected_ward
        if not ward:
            self.rows, self.loaded, self.ward = [], True, ""
            return
        now = datetime.now(UTC)
        try:
            rows, change = await asyncio.to_thread(staff_status, principal, ward, now)
        except PermissionError as exc:
            self.rows, self.error, self.loaded, self.ward = [], str(exc), True, ward
            return
        except Exception:
            log.warning("staff status: could not load %s", ward, exc_info=True)
            self.error, self.loaded, self.ward = DATABASE_DOWN, True, ward
            return
        self.rows, self.next_change, self.ward = rows, change, ward
        self.error, self.loaded = "", True

    @rx.var
    def on_shift_count(self) -> int:
        return len(self.rows)


# --- the /staff page ------------------------------------------------------------------------


@dataclasses.dataclass
class RosterCellData:
    when: str = ""
    who: str = ""
    role: str = ""
    is_gap: bool = False
    message: str = ""


@dataclasses.dataclass
class RosterDayData:
    label: str = ""
    iso_date: str = ""
    gap_count: int = 0
    cells: list[RosterCellData] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class OverrideData:
    id: str = ""  # the override (Remove acts on it, within the ward, on the server)
    text: str = ""
    when: str = ""
    reason: str = ""


def describe_override(
    row: OverrideRow, names: Mapping[uuid.UUID, str], zone: ZoneInfo
) -> OverrideData:
    """An override as the Overrides list words it."""
    who = names.get(row.staff_id, "A colleague")
    replaced = names.get(row.replaces_staff_id) if row.replaces_staff_id else None
    text = {
        "replace": f"{who} replaces {replaced}" if replaced else f"{who} takes over",
        "add": f"{who} is added",
        "remove": f"{who} is off",
    }.get(row.kind, f"{who}: {row.kind}")
    return OverrideData(
        id=str(row.id),
        text=text,
        when=view.local_when(row.starts_at, row.ends_at, zone),
        reason=row.reason,
    )


def roster_wards(session: Session, principal: Principal, now: datetime) -> list[WardOption]:
    """The wards whose roster a person sees: an admin every ward, others their ward scope
    (the whole hospital for physicians and the rapid response team)."""
    wards = session.exec(select(Ward).order_by(col(Ward.code))).all()
    if roster.is_admin(principal):
        return [WardOption(code=w.code, name=w.name) for w in wards]
    scope = ward_scope(session, principal, now=now)
    return [WardOption(code=w.code, name=w.name) for w in wards if scope.covers(w.id)]


@dataclasses.dataclass
class StaffPage:
    wards: list[WardOption]
    ward: str
    days: list[RosterDayData]
    gaps: list[str]
    gaps_shown: bool
    overrides: list[OverrideData]
    my_shifts: list[str]
    my_staff_id: str


def staff_page(principal: Principal, wanted: str, now: datetime) -> StaffPage:
    """Everything the /staff page shows for ``wanted`` (a ward code; falls back to the first
    ward the person may see). Blocking."""
    zone = hospital_zone()
    first_day = now.astimezone(zone).date()
    start, end = view.roster_window(first_day, zone)
    with session_scope() as session:
        wards = roster_wards(session, principal, now)
        codes = [w.code for w in wards]
        ward_code = wanted if wanted in codes else (codes[0] if codes else "")
        ward = roster.ward_by_code(session, ward_code) if ward_code else None
        days: list[RosterDayData] = []
        gaps: list[str] = []
        overrides: list[OverrideData] = []
        gaps_shown = False
        if ward is not None:
            schedules = [s for s in roster.load_schedules(session) if s.ward_id == ward.id]
            spans = [span for s in schedules for span in spans_between(s, start, end)]
            roles = {r.value for r in StaffRole}
            spans += [
                s for s in roster.manual_spans(session, start, end, roles) if s.ward_id == ward.id
            ]
            managed = roster.managed_ward_ids(session, principal, now=now)
            found = []
            if allows(principal, Permission.SCHEDULES_MANAGE) and (
                managed is None or ward.id in managed
            ):
                gaps_shown = True
                found = roster.gap_report(
                    session, start=max(now, start), end=end, ward_ids=[ward.id]
                )
                gaps = [g.message for g in found]
            override_rows = (
                session.exec(
                    select(OverrideRow)
                    .where(
                        col(OverrideRow.schedule_id).in_([s.id for s in schedules]),
                        col(OverrideRow.ends_at) > now,
                    )
                    .order_by(col(OverrideRow.starts_at))
                ).all()
                if schedules
                else []
            )
            names = _names(
                session,
                {s.staff_id for s in spans}
                | {o.staff_id for o in override_rows}
                | {o.replaces_staff_id for o in override_rows if o.replaces_staff_id},
            )
            grid = view.build_roster_grid(
                spans,
                names,
                [view.GapLike(g.start, g.end, g.message) for g in found],
                first_day=first_day,
                zone=zone,
            )
            days = [
                RosterDayData(
                    label=d.label,
                    iso_date=d.iso_date,
                    gap_count=d.gap_count,
                    cells=[
                        RosterCellData(c.when, c.who, c.role, c.is_gap, c.message) for c in d.cells
                    ],
                )
                for d in grid
            ]
            overrides = [describe_override(o, names, zone) for o in override_rows]
        my_shifts: list[str] = []
        if principal.staff_id:
            detail = staff_svc.staff_detail(
                session, uuid.UUID(principal.staff_id), now=now, today=first_day
            )
            my_shifts = [
                " · ".join(
                    part
                    for part in (
                        view.local_when(s.starts_at, s.ends_at, zone),
                        s.ward or "Hospital-wide",
                        role_words(s.role) if s.role else "",
                    )
                    if part
                )
                for s in detail.next_shifts
            ]
    return StaffPage(
        wards=wards,
        ward=ward_code,
        days=days,
        gaps=gaps,
        gaps_shown=gaps_shown,
        overrides=overrides,
        my_shifts=my_shifts,
        my_staff_id=principal.staff_id or "",
    )


def my_calendar(staff_id: uuid.UUID, now: datetime) -> bytes:
    with session_scope() as session:
        staff = session.get(Staff, staff_id)
        if staff is None:
            raise LookupError("No such staff member.")
        return roster.staff_calendar(
            session, staff, start=now - CALENDAR_BACK, end=now + CALENDAR_AHEAD, now=now
        )


class StaffPageState(rx.State):
    wards: list[WardOption] = []
    ward: str = ""
    days: list[RosterDayData] = []
    gaps: list[str] = []
    gaps_shown: bool = False
    overrides: list[OverrideData] = []
    my_shifts: list[str] = []
    my_staff_id: str = ""
    loaded: bool = False
    loading: bool = False
    error: str = ""
    message: str = ""

    async def _principal(self, permission: Permission) -> Principal | None:
        return await (await self.get_state(AuthState)).allowed_principal(permission)

    async def _reload(self, principal: Principal, wanted: str) -> None:
        try:
            page = await asyncio.to_thread(staff_page, principal, wanted, datetime.now(UTC))
        except Exception:
            log.warning("staff page: could not load", exc_info=True)
            self.error = "The roster could not be loaded; is the database running? Try again."
            self.loaded = True
            return
        self.wards, self.ward, self.days = page.wards, page.ward, page.days
        self.gaps, self.gaps_shown, self.overrides = page.gaps, page.gaps_shown, page.overrides
        self.my_shifts, self.my_staff_id = page.my_shifts, page.my_staff_id
        self.error = "" if page.wards or page.my_staff_id else "You do not see any ward's roster."
        self.loaded = True

    @rx.event
    async def on_load(self):
        auth = await self.get_state(AuthState)
        principal, redirect = await auth.require(Permission.STAFF_READ)
        if principal is None:
            yield redirect
            return
        self.loading, self.message = True, ""
        yield
        wanted = (self.router.url.query_parameters.get("ward") or self.ward or "").upper()
        await self._reload(principal, wanted)
        if wanted and self.ward != wanted:
            self.message = f"You cannot see the roster of ward {wanted}."
        self.loading = False

    @rx.event
    async def select_ward(self, code: str):
        principal = await self._principal(Permission.STAFF_READ)
        if principal is None:
            return rx.redirect("/login")
        code = code.upper()
        if code not in {w.code for w in self.wards}:
            self.message = f"You cannot see the roster of ward {code}."
            return None
        self.loading, self.message = True, ""
        await self._reload(principal, code)
        self.loading = False
        return None

    @rx.event
    async def download_calendar(self):
        """My on call as an iCalendar file (the same service as the calendar.ics route)."""
        principal = await self._principal(Permission.STAFF_READ)
        if principal is None or not principal.staff_id:
            self.message = "Your account is not linked to a staff member, so it has no calendar."
            return None
        try:
            data = await asyncio.to_thread(
                my_calendar, uuid.UUID(principal.staff_id), datetime.now(UTC)
            )
        except Exception:
            log.warning("staff page: calendar failed", exc_info=True)
            self.message = "Your calendar could not be made; try again."
            return None
        return rx.download(data=data, filename="my-shifts.ics", mime_type="text/calendar")

    @rx.var
    def ical_route(self) -> str:
        return f"/api/v1/staff/{self.my_staff_id}/calendar.ics" if self.my_staff_id else ""

    @rx.var
    def ward_name(self) -> str:
        for ward in self.wards:
            if ward.code == self.ward:
                return ward.name
        return ""
