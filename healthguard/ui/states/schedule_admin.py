"""Changing the rota on the /staff page (charge nurses for their wards, administrators for
every ward): add an override to one of the shown ward's schedules, remove one from the
Overrides list, import an iCalendar roster (pasted as text), and edit a schedule's rotation
(its layers) as JSON.

The same service functions as the API (healthguard/api/oncall.py): ``roster.add_override``
(POST /schedules/{id}/overrides), ``roster.remove_override`` (DELETE .../overrides/{id}),
``roster.import_roster_file`` (POST /schedules/{id}/import, all or nothing, the window now
to a year ahead) and ``roster.update_schedule`` (PUT /schedules/{id}, the layers only), so
every refusal (not your ward, an end before the start, an event that names nobody on the
staff list, a rotation the planner cannot use) comes back as the service's sentence, with
the field named in words. Every handler checks the session and ``schedules:manage`` (the
permission those routes check) on the server; the service checks the ward. Nothing chosen
in the browser is taken unchecked: the schedule must be one of the shown ward's, the people
staff of that ward (home ward, covering it, or on shift there), re-read from Postgres; an
override to remove is found again by its place in the list and must still read as the line
the person clicked.

Times typed in the form (``datetime-local``, no offset) are hospital local time
(``settings.timezone``), as the roster shows them; a wall-clock time that does not exist
(the clocks go forward) is refused in words.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import reflex as rx
from sqlmodel import Session, col, select

from healthguard.db import session_scope
from healthguard.models import Schedule as ScheduleRow
from healthguard.models import ScheduleOverride as OverrideRow
from healthguard.models import Staff, Ward
from healthguard.oncall import roster
from healthguard.oncall import staff_service as staff_svc
from healthguard.oncall.ical import MAX_FILE_BYTES
from healthguard.oncall.rotations import role_words
from healthguard.oncall.schedule_json import Problem
from healthguard.security.accounts import Origin
from healthguard.security.permissions import Permission, Principal, allows
from healthguard.settings import get_settings
from healthguard.ui.states.auth import AuthState
from healthguard.ui.states.staff import OverrideData, StaffPageState, describe_override

log = logging.getLogger(__name__)

IMPORT_DAYS = 366  # as the API's import route: now to a year ahead
KINDS = ("replace", "add", "remove")
NOT_ALLOWED = "Only a charge nurse of this ward or an administrator can change its rota."
DATABASE_DOWN = "Could not reach the database; nothing was changed. Try again."
FIELD_WORDS = {
    "schedule_id": "Rota",
    "kind": "Kind",
    "staff_id": "Person",
    "replaces_staff_id": "Replaces",
    "starts_at": "Start",
    "ends_at": "End",
    "reason": "Reason",
    "body": "Roster",
}
API_WORDS = {"starts_at": "the start", "ends_at": "the end"}


def hospital_zone() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


@dataclasses.dataclass
class ScheduleOption:
    id: str = ""
    label: str = ""  # "ICU nurses · nurse"


@dataclasses.dataclass
class PersonOption:
    id: str = ""
    label: str = ""  # "Marco Rossi · nurse"


@dataclasses.dataclass
class RotaPanel:
    can_manage: bool
    ward: str
    schedules: list[ScheduleOption]
    people: list[PersonOption]


@dataclasses.dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str
    problems: tuple[str, ...] = ()  # "Start: ..." one per field


class FormError(ValueError):
    """The form cannot be used; ``problems`` names every field in words."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


# --- pure helpers ---------------------------------------------------------------------------


def parse_local(text: str, label: str, zone: ZoneInfo) -> datetime:
    """A ``datetime-local`` value ("2026-12-03T19:00") as an aware time on the hospital's
    wall clock; ValueError naming the field in words when empty, unreadable or a time the
    clocks skip."""
    text = text.strip()
    if not text:
        raise ValueError(f"{label}: give a date and time.")
    try:
        naive = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{label}: {text!r} is not a date and time (e.g. 2026-12-03T19:00)."
        ) from None
    if naive.tzinfo is not None:
        raise ValueError(f"{label}: give the hospital's local time without a time zone.")
    local = naive.replace(tzinfo=zone)
    back = local.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if back != naive:
        raise ValueError(
            f"{label}: {naive:%d %b %H:%M} does not exist on the hospital's clock "
            "(the clocks go forward then); pick another time."
        )
    return local


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value.strip())
    except (ValueError, AttributeError):
        return None


def override_request(
    form: Mapping[str, object], zone: ZoneInfo
) -> tuple[uuid.UUID, roster.OverrideInput]:
    """The schedule and the service's input from the form's fields (``schedule_id``, ``kind``,
    ``staff_id``, ``replaces_staff_id``, ``starts_at``, ``ends_at``, ``reason``); FormError
    naming every field that cannot be used."""
    problems: list[str] = []
    field = {k: str(form.get(k, "") or "") for k in FIELD_WORDS}
    schedule_id = _uuid(field["schedule_id"])
    if schedule_id is None:
        problems.append("Rota: choose the rota to change.")
    kind = field["kind"]
    if kind not in KINDS:
        problems.append("Kind: choose replace, add or remove a person.")
    staff_id = _uuid(field["staff_id"])
    if staff_id is None:
        problems.append("Person: choose who the override is for.")
    replaces: uuid.UUID | None = None
    if kind == "replace" and field["replaces_staff_id"].strip():
        replaces = _uuid(field["replaces_staff_id"])
        if replaces is None:
            problems.append("Replaces: choose a person on the list.")
        elif replaces == staff_id:
            problems.append("Replaces: a person cannot replace themselves.")
    times: list[datetime] = []
    for name in ("starts_at", "ends_at"):
        try:
            times.append(parse_local(field[name], FIELD_WORDS[name], zone))
        except ValueError as exc:
            problems.append(str(exc))
    if len(times) == 2 and times[1] <= times[0]:
        problems.append("End: must be after the start.")
    reason = field["reason"].strip()
    if len(reason) > roster.MAX_REASON:
        problems.append(f"Reason: at most {roster.MAX_REASON} characters.")
    if problems:
        raise FormError(problems)
    assert schedule_id is not None and staff_id is not None
    return schedule_id, roster.OverrideInput(
        kind=kind,
        staff_id=staff_id,
        starts_at=times[0],
        ends_at=times[1],
        replaces_staff_id=replaces,
        reason=reason,
    )


def problem_words(problems: Sequence[Problem]) -> tuple[str, ...]:
    """The service's problems with the field named as the form names it."""
    words = []
    for p in problems:
        name = str(p.loc[0]) if p.loc else "body"
        message = p.message
        for api, plain in API_WORDS.items():
            message = message.replace(api, plain)
        words.append(f"{FIELD_WORDS.get(name, name)}: {message}")
    return tuple(words)


def refused(exc: roster.OncallError, verb: str) -> Outcome:
    if isinstance(exc, roster.Invalid) and exc.problems:
        return Outcome(False, f"Not {verb}: check the fields below.", problem_words(exc.problems))
    return Outcome(False, f"Not {verb}: {exc.message}")


# --- reading the ward -----------------------------------------------------------------------


def may_manage(session: Session, principal: Principal, ward: Ward, now: datetime) -> bool:
    """Whether ``principal`` may change the ward's rotas (the service's own rule)."""
    if not allows(principal, Permission.SCHEDULES_MANAGE):
        return False
    managed = roster.managed_ward_ids(session, principal, now=now)
    return managed is None or ward.id in managed


def ward_schedules(session: Session, ward: Ward) -> list[ScheduleRow]:
    return list(
        session.exec(
            select(ScheduleRow)
            .where(ScheduleRow.ward_id == ward.id)
            .order_by(col(ScheduleRow.name))
        ).all()
    )


def ward_people(session: Session, ward: Ward, now: datetime) -> list[PersonOption]:
    """The ward's staff (home ward, covering it, on shift there now), by name."""
    return [
        PersonOption(id=str(s.id), label=f"{s.name} · {role_words(s.role)}")
        for s in staff_svc.list_staff(session, now=now, ward_id=ward.id)
    ]


def ward_overrides(
    session: Session, ward: Ward, now: datetime, zone: ZoneInfo
) -> list[tuple[OverrideRow, OverrideData]]:
    """The ward's overrides running or ahead, in the Overrides list's order, each with its
    line as the list shows it."""
    ids = [s.id for s in ward_schedules(session, ward)]
    if not ids:
        return []
    rows = session.exec(
        select(OverrideRow)
        .where(col(OverrideRow.schedule_id).in_(ids), col(OverrideRow.ends_at) > now)
        .order_by(col(OverrideRow.starts_at))
    ).all()
    wanted = {r.staff_id for r in rows} | {r.replaces_staff_id for r in rows if r.replaces_staff_id}
    names = {
        s.id: s.display_name
        for s in session.exec(select(Staff).where(col(Staff.id).in_(list(wanted)))).all()
    }
    return [(r, describe_override(r, names, zone)) for r in rows]


def rota_panel(principal: Principal, ward_code: str, now: datetime) -> RotaPanel:
    """What the rota forms offer for the ward shown (blocking)."""
    with session_scope() as session:
        ward = roster.ward_by_code(session, ward_code) if ward_code else None
        if ward is None or not may_manage(session, principal, ward, now):
            return RotaPanel(False, ward_code, [], [])
        schedules = [
            ScheduleOption(id=str(s.id), label=f"{s.name} · {role_words(s.role)}")
            for s in ward_schedules(session, ward)
        ]
        return RotaPanel(True, ward.code, schedules, ward_people(session, ward, now))


def _managed_ward(session: Session, principal: Principal, ward_code: str, now: datetime) -> Ward:
    ward = roster.ward_by_code(session, ward_code) if ward_code else None
    if ward is None or not may_manage(session, principal, ward, now):
        raise PermissionError(NOT_ALLOWED)
    return ward


# --- actions, through the service -----------------------------------------------------------


def add_override(
    principal: Principal,
    ward_code: str,
    form: Mapping[str, object],
    now: datetime,
    origin: Origin,
) -> Outcome:
    """Add the override of the form to one of the ward's schedules (``roster.add_override``,
    as the API's override route); the outcome in words."""
    zone = hospital_zone()
    try:
        schedule_id, data = override_request(form, zone)
    except FormError as exc:
        return Outcome(False, "Not added: check the fields below.", exc.problems)
    with session_scope() as session:
        try:
            ward = _managed_ward(session, principal, ward_code, now)
        except PermissionError as exc:
            return Outcome(False, str(exc))
        if schedule_id not in {s.id for s in ward_schedules(session, ward)}:
            return Outcome(
                False, "Not added.", (f"Rota: choose one of the rotas of ward {ward.code}.",)
            )
        people = {p.id: p.label.split(" · ")[0] for p in ward_people(session, ward, now)}
        problems = []
        if str(data.staff_id) not in people:
            problems.append(f"Person: choose someone who works on ward {ward.code}.")
        if data.replaces_staff_id and str(data.replaces_staff_id) not in people:
            problems.append(f"Replaces: choose someone who works on ward {ward.code}.")
        if problems:
            return Outcome(False, "Not added: check the fields below.", tuple(problems))
        try:
            row = roster.add_override(session, principal, schedule_id, data, now=now, origin=origin)
        except roster.OncallError as exc:
            session.rollback()
            return refused(exc, "added")
        names = {uuid.UUID(k): v for k, v in people.items()}
        line = describe_override(row, names, zone)
    return Outcome(True, f"Override added: {line.text}, {line.when}. The roster shows it.")


def remove_override(
    principal: Principal,
    ward_code: str,
    override_id: str,
    now: datetime,
    origin: Origin,
) -> Outcome:
    """Remove one of the ward's overrides (``roster.remove_override``, as the API's delete
    route); an id that is not an override of this ward running or ahead removes nothing."""
    zone = hospital_zone()
    with session_scope() as session:
        try:
            ward = _managed_ward(session, principal, ward_code, now)
        except PermissionError as exc:
            return Outcome(False, str(exc))
        listed = {
            str(row.id): (row, line) for row, line in ward_overrides(session, ward, now, zone)
        }
        if override_id not in listed:
            return Outcome(
                False,
                "Not removed: that override is no longer in this ward's list; the list is "
                "re-read, check it and try again.",
            )
        row, line = listed[override_id]
        try:
            roster.remove_override(
                session, principal, row.schedule_id, row.id, now=now, origin=origin
            )
        except roster.OncallError as exc:
            session.rollback()
            return refused(exc, "removed")
    return Outcome(True, f"Override removed: {line.text}, {line.when}.")


def import_roster_text(
    principal: Principal,
    ward_code: str,
    schedule_id: str,
    text: str,
    now: datetime,
    origin: Origin,
) -> Outcome:
    """Import pasted iCalendar text into one of the ward's schedules, all or nothing
    (``roster.import_roster_file``, as the API's import route, window now to a year ahead)."""
    problems = []
    wanted = _uuid(schedule_id)
    if wanted is None:
        problems.append("Rota: choose the rota to import into.")
    data = text.strip().encode("utf-8")
    if not data:
        problems.append("Roster: paste the text of an .ics file (BEGIN:VCALENDAR ...).")
    elif len(data) > MAX_FILE_BYTES:
        problems.append(
            f"Roster: over {MAX_FILE_BYTES // 1024 // 1024} MiB; import a shorter period."
        )
    if problems:
        return Outcome(False, "Nothing was imported.", tuple(problems))
    assert wanted is not None
    with session_scope() as session:
        try:
            ward = _managed_ward(session, principal, ward_code, now)
        except PermissionError as exc:
            return Outcome(False, str(exc))
        if wanted not in {s.id for s in ward_schedules(session, ward)}:
            return Outcome(
                False,
                "Nothing was imported.",
                (f"Rota: choose one of the rotas of ward {ward.code}.",),
            )
        try:
            result = roster.import_roster_file(
                session,
                principal,
                wanted,
                data,
                window_start=now,
                window_end=now + timedelta(days=IMPORT_DAYS),
                now=now,
                origin=origin,
            )
        except roster.Invalid as exc:
            session.rollback()
            first = exc.message.split("\n")[0]
            if not first.startswith("Nothing was imported"):
                first = f"Nothing was imported: {first}"
            return Outcome(False, first, tuple(p.message for p in exc.problems))
        except roster.OncallError as exc:
            session.rollback()
            return Outcome(False, f"Nothing was imported: {exc.message}")
    message = f"Imported {_count(result.shifts, 'shift')} as {_count(result.overrides, 'override')}"
    if result.replaced:
        message += f" (replacing {result.replaced} from an earlier import)"
    return Outcome(True, message + ". The roster shows them.")


def rotation_text(
    principal: Principal, ward_code: str, schedule_id: str, now: datetime
) -> tuple[str, str]:
    """(name, layers as indented JSON) of one of the ward's schedules, for the rotation
    editor; PermissionError outside the ward scope, LookupError for another ward's rota."""
    wanted = _uuid(schedule_id)
    with session_scope() as session:
        ward = _managed_ward(session, principal, ward_code, now)
        rows = {s.id: s for s in ward_schedules(session, ward)}
        if wanted is None or wanted not in rows:
            raise LookupError(f"Rota: choose one of the rotas of ward {ward.code}.")
        row = rows[wanted]
        return row.name, json.dumps(row.layers, indent=2, ensure_ascii=False)


def save_rotation(
    principal: Principal,
    ward_code: str,
    schedule_id: str,
    text: str,
    now: datetime,
    origin: Origin,
) -> Outcome:
    """Save the edited layers of one of the ward's schedules (``roster.update_schedule``, as
    the API's PUT /schedules/{id}: name, ward, role and time zone unchanged); every problem
    named by its place in the JSON ("layers.0.rotation.anchor: ...")."""
    wanted = _uuid(schedule_id)
    try:
        layers = json.loads(text)
    except json.JSONDecodeError as exc:
        return Outcome(
            False,
            "Not saved.",
            (f"Rotation: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.",),
        )
    with session_scope() as session:
        try:
            ward = _managed_ward(session, principal, ward_code, now)
        except PermissionError as exc:
            return Outcome(False, str(exc))
        rows = {s.id: s for s in ward_schedules(session, ward)}
        if wanted is None or wanted not in rows:
            return Outcome(
                False, "Not saved.", (f"Rota: choose one of the rotas of ward {ward.code}.",)
            )
        row = rows[wanted]
        data = roster.ScheduleInput(
            name=row.name, ward=ward.code, role=row.role, time_zone=row.time_zone, layers=layers
        )
        try:
            roster.update_schedule(session, principal, row.id, data, now=now, origin=origin)
        except roster.OncallError as exc:
            session.rollback()
            if isinstance(exc, roster.Invalid) and exc.problems:
                return Outcome(
                    False, "Not saved: check the rotation.", tuple(str(p) for p in exc.problems)
                )
            return Outcome(False, f"Not saved: {exc.message}")
        name = row.name
    return Outcome(True, f"Rotation of {name} saved; the roster follows it.")


# --- the state ------------------------------------------------------------------------------


class ScheduleAdminState(rx.State):
    can_manage: bool = False
    ward: str = ""  # the ward the forms are for (the page's ward when loaded)
    schedules: list[ScheduleOption] = []
    people: list[PersonOption] = []
    kind: str = "replace"
    form_version: int = 0  # a new one empties the override form after a success
    error: str = ""
    problems: list[str] = []
    notice: str = ""
    remove_error: str = ""
    remove_notice: str = ""
    import_version: int = 0
    import_error: str = ""
    import_problems: list[str] = []
    import_notice: str = ""
    rotation_schedule: str = ""  # the rota in the rotation editor; "" when closed
    rotation_draft: str = ""
    rotation_version: int = 0  # changes when another draft is loaded into the editor
    rotation_error: str = ""
    rotation_problems: list[str] = []
    rotation_notice: str = ""

    async def _principal(self) -> Principal | None:
        return await (await self.get_state(AuthState)).allowed_principal(
            Permission.SCHEDULES_MANAGE
        )

    async def _origin(self) -> Origin:
        return (await self.get_state(AuthState))._origin()

    def _clear(self) -> None:
        self.error, self.problems, self.notice = "", [], ""
        self.remove_error, self.remove_notice = "", ""
        self.import_error, self.import_problems, self.import_notice = "", [], ""
        self.rotation_error, self.rotation_problems, self.rotation_notice = "", [], ""

    def _refuse(self) -> None:
        self._clear()
        self.can_manage, self.schedules, self.people = False, [], []
        self.error = NOT_ALLOWED

    async def _refresh(self, principal: Principal) -> None:
        """After a change: the roster, overrides and gaps of the ward shown, and the forms."""
        page = await self.get_state(StaffPageState)
        if page.loaded:
            await page._reload(principal, page.ward)
        await self._load_panel(principal, page.ward)

    async def _load_panel(self, principal: Principal, ward: str) -> None:
        try:
            panel = await asyncio.to_thread(rota_panel, principal, ward, datetime.now(UTC))
        except Exception:
            log.warning("rota forms: could not load %s", ward, exc_info=True)
            self.can_manage, self.ward = False, ward
            return
        self.can_manage, self.ward = panel.can_manage, panel.ward
        self.schedules, self.people = panel.schedules, panel.people

    @rx.event
    async def load(self):
        """On mount, and again whenever the page shows another ward: the forms for it, only
        for those who may change its rota."""
        page = await self.get_state(StaffPageState)
        principal = await self._principal()
        if principal is None:
            self.can_manage, self.schedules, self.people, self.ward = False, [], [], page.ward
            return
        if page.ward != self.ward:
            self._clear()
            self.rotation_schedule, self.rotation_draft = "", ""
        await self._load_panel(principal, page.ward)

    @rx.event
    async def choose_kind(self, kind: str):
        if await self._principal() is None:
            self._refuse()
            return
        self.kind = kind if kind in KINDS else "replace"

    @rx.event
    async def add(self, form: dict):
        """Add an override to the ward shown (``roster.add_override``)."""
        principal = await self._principal()
        if principal is None:
            self._refuse()
            return
        self._clear()
        outcome = await asyncio.to_thread(
            add_override,
            principal,
            self.ward,
            {**form, "kind": self.kind},
            datetime.now(UTC),
            await self._origin(),
        )
        self.error = "" if outcome.ok else outcome.message
        self.notice = outcome.message if outcome.ok else ""
        self.problems = list(outcome.problems)
        if outcome.ok:
            self.form_version += 1
            self.kind = "replace"
            await self._refresh(principal)

    @rx.event
    async def remove(self, override_id: str):
        """Remove the override on that line of the Overrides list (``roster.remove_override``)."""
        principal = await self._principal()
        if principal is None:
            self._refuse()
            return
        self._clear()
        outcome = await asyncio.to_thread(
            remove_override,
            principal,
            self.ward,
            str(override_id),
            datetime.now(UTC),
            await self._origin(),
        )
        self.remove_error = "" if outcome.ok else outcome.message
        self.remove_notice = outcome.message if outcome.ok else ""
        await self._refresh(principal)

    @rx.event
    async def import_roster(self, form: dict):
        """Import the pasted roster into the rota chosen (``roster.import_roster_file``)."""
        principal = await self._principal()
        if principal is None:
            self._refuse()
            return
        self._clear()
        outcome = await asyncio.to_thread(
            import_roster_text,
            principal,
            self.ward,
            str(form.get("schedule_id", "")),
            str(form.get("ics", "")),
            datetime.now(UTC),
            await self._origin(),
        )
        self.import_error = "" if outcome.ok else outcome.message
        self.import_notice = outcome.message if outcome.ok else ""
        self.import_problems = list(outcome.problems)
        if outcome.ok:
            self.import_version += 1
            await self._refresh(principal)

    @rx.event
    async def open_rotation(self, schedule_id: str):
        """Load the chosen rota's layers into the rotation editor ("" closes it)."""
        principal = await self._principal()
        if principal is None:
            self._refuse()
            return
        self._clear()
        if not schedule_id:
            self.rotation_schedule, self.rotation_draft = "", ""
            return
        try:
            _, text = await asyncio.to_thread(
                rotation_text, principal, self.ward, schedule_id, datetime.now(UTC)
            )
        except (PermissionError, LookupError) as exc:
            self.rotation_schedule, self.rotation_error = "", str(exc)
            return
        self.rotation_schedule, self.rotation_draft = schedule_id, text
        self.rotation_version += 1

    @rx.event
    async def save_rotation(self, form: dict):
        """Save the edited rotation (``roster.update_schedule``); kept in the editor if refused."""
        principal = await self._principal()
        if principal is None:
            self._refuse()
            return
        self._clear()
        text = str(form.get("layers", ""))
        outcome = await asyncio.to_thread(
            save_rotation,
            principal,
            self.ward,
            self.rotation_schedule,
            text,
            datetime.now(UTC),
            await self._origin(),
        )
        self.rotation_error = "" if outcome.ok else outcome.message
        self.rotation_notice = outcome.message if outcome.ok else ""
        self.rotation_problems = list(outcome.problems)
        self.rotation_draft = text
        if outcome.ok:
            await self._refresh(principal)

    @rx.var
    def person_label(self) -> str:
        return {"add": "Who is added", "remove": "Who is off"}.get(self.kind, "Who takes over")
