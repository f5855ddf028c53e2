"""The incident page's private state: one incident in full, and the actions the signed-in
person may take on it.

Reads go through the service the API's ``GET /api/v1/incidents/{id}`` uses
(``visible_incident`` + ``incident_detail``: timeline with notes decrypted, responders, the
lifecycle's allowed actions for this person's permissions); every action goes through
``healthguard.incidents.workflow.perform_as`` like the API's action routes (permission,
ward scope, state machine and audit record on the server). An incident outside the
person's wards (and not assigned to them) reads exactly like one that does not exist.
Changing the priority, naming the lead, removing a responder, closing and reopening also
send the version the page shows (``expected_version``, like the API's If-Match): when the
incident changed meanwhile, nothing is written and the page says so in words.

The vital-signs chart shows patient data: it is shown only when the person may read the
patient (``patient_access``: ward scope or break-the-glass) and each page open is audited
as ``vitals.read``, like ``GET /api/v1/patients/{id}/vitals``. Shared screens' rule holds
here too: the patient is named by initials only.

Live: the page asks every few seconds (a hidden ``rx.moment`` tick, ``refresh``) whether the
incident's version or the patient's latest reading changed, and reloads only then.

Every handler acts on the incident this browser opened (``shown_id``, set by ``on_load``
after the visibility check); none takes an incident id from the browser.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import uuid
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
import reflex as rx
import sqlalchemy as sa
from sqlmodel import Session, col, select

from healthguard.db import session_scope
from healthguard.incidents import lifecycle as lc
from healthguard.incidents.access import visible_incident
from healthguard.incidents.errors import IncidentNotFound
from healthguard.incidents.priority import PRIORITIES, PRIORITY_STYLES
from healthguard.incidents.reads import incident_detail
from healthguard.incidents.workflow import Performed, build_view, perform_as
from healthguard.models import Alert, Incident, IncidentEscalation, Observation, User
from healthguard.security.accounts import Origin
from healthguard.security.audit import record_audit
from healthguard.security.permissions import Permission, Principal, allows, permissions_of
from healthguard.security.scope import patient_access
from healthguard.settings import get_settings
from healthguard.ui import routes
from healthguard.ui.figures import empty_figure, figure_json
from healthguard.ui.incident_view import (
    CHART_BEFORE,
    ROLE_WORDS,
    StatusFacts,
    SubScoreRow,
    TimelineRowData,
    TriggerData,
    chart_traces,
    escalation_words,
    local_time,
    status_words,
    timeline_rows,
    times_in_words,
    trigger_data,
    vitals_figure,
)
from healthguard.ui.states.auth import AuthState

NOT_FOUND = "No such incident, or it is not on a ward you work on. Nothing is shown."
MAX_READINGS = 5000


@dataclasses.dataclass
class ResponderData:
    person: str = ""
    role: str = ""


@dataclasses.dataclass
class PersonOption:
    value: str = ""  # a username (or a staff id for staff without a login)
    label: str = ""


@dataclasses.dataclass
class PriorityOption:
    value: str = ""  # "P1"
    label: str = ""  # "P1 Emergency (raise)"


@dataclasses.dataclass
class PageContent:
    """Everything the page shows, read in one go (blocking: call through a thread)."""

    found: bool = False
    version: int = 0
    number: int = 0
    title: str = ""
    summary: str = ""
    priority: str = ""
    priority_label: str = ""
    colour: str = "cyan"
    flashing: bool = False
    status: str = ""
    status_text: str = ""
    ward: str = ""
    bed: str = ""
    patient: str = ""
    opened_at: str = ""
    opened_local: str = ""
    assignee: str = ""
    lead: str = ""
    resolution_text: str = ""
    trigger: TriggerData = dataclasses.field(default_factory=TriggerData)
    timeline: list[TimelineRowData] = dataclasses.field(default_factory=list)
    responders: list[ResponderData] = dataclasses.field(default_factory=list)
    escalation: str = ""
    next_step_at: str = ""
    next_step_local: str = ""
    allowed: list[str] = dataclasses.field(default_factory=list)
    people: list[PersonOption] = dataclasses.field(default_factory=list)
    priority_options: list[PriorityOption] = dataclasses.field(default_factory=list)
    responder_options: list[PersonOption] = dataclasses.field(default_factory=list)
    lead_options: list[PersonOption] = dataclasses.field(default_factory=list)
    reopen_until: str = ""  # when the reopen window ends (ISO, UTC) while it is open
    reopen_until_local: str = ""
    figure: go.Figure | None = None
    chart_note: str = ""
    chart_summary: str = ""  # what the chart shows, in words (screen readers)
    latest_reading: str = ""  # the patient's latest reading time (for the live check)


def hospital_zone() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def incident_id_from_path(path: str) -> uuid.UUID | None:
    """The incident id of an /incidents/<id> path (None: not an id)."""
    tail = path.rstrip("/").rsplit("/", 1)[-1]
    try:
        return uuid.UUID(tail)
    except ValueError:
        return None


def _readings(
    session: Session, patient_id: uuid.UUID, since: datetime
) -> list[tuple[str, datetime, float | None, str | None]]:
    rows = session.exec(
        select(
            Observation.parameter,
            Observation.observed_at,
            Observation.value,
            Observation.value_text,
        )
        .where(Observation.patient_id == patient_id, col(Observation.observed_at) >= since)
        .order_by(col(Observation.observed_at))
        .limit(MAX_READINGS)
    ).all()
    return [(p, at, v, t) for p, at, v, t in rows]


def _latest_reading(session: Session, patient_id: uuid.UUID | None) -> str:
    if patient_id is None:
        return ""
    latest = session.exec(
        select(sa.func.max(col(Observation.observed_at))).where(
            Observation.patient_id == patient_id
        )
    ).one()
    return latest.isoformat() if latest else ""


def _people(session: Session, incident: Incident, now: datetime) -> list[PersonOption]:
    """Who the incident can be handed to or joined by: the roster around its ward (on shift
    here or hospital-wide, home ward, covering), on shift first."""
    from healthguard.oncall.assign_service import load_candidates

    candidates = load_candidates(session, incident.ward_id, now)
    ids = [uuid.UUID(c.staff_id) for c in candidates]
    usernames: dict[uuid.UUID, str] = {}
    if ids:
        for staff_id, username in session.exec(
            select(User.staff_id, User.username)
            .where(col(User.staff_id).in_(ids))
            .order_by(col(User.username))
        ).all():
            if staff_id is not None:
                usernames.setdefault(staff_id, username)
    options = []
    for c in sorted(candidates, key=lambda c: (not c.on_shift, c.display_name)):
        login = usernames.get(uuid.UUID(c.staff_id))
        role = ROLE_WORDS.get(str(c.role), str(c.role).replace("_", " ").capitalize())
        label = f"{c.display_name} ({role}{', on shift' if c.on_shift else ''})"
        if login:
            label += f" · {login}"
        options.append(PersonOption(value=login or c.staff_id, label=label))
    return options


def priority_options(
    view: lc.IncidentView, permissions: Collection[Permission]
) -> list[PriorityOption]:
    """The priorities this person may move the incident to: raising needs what the lifecycle
    asks for raising (incidents:escalate), lowering what it asks for lowering
    (incidents:downgrade, and a note), most urgent first."""
    held = frozenset(permissions)
    current = PRIORITIES.index(view.priority)
    options = []
    for index, target in enumerate(PRIORITIES):
        if index == current:
            continue
        if lc.required_permission(view, lc.ChangePriority(priority=target)) not in held:
            continue
        how = "raise" if index < current else "lower: a note is required"
        options.append(PriorityOption(target, f"{PRIORITY_STYLES[target].label} ({how})"))
    return options


def responder_options(
    responders: Sequence[tuple[str, str]], lead: str | None
) -> list[PersonOption]:
    """The active responders as choices, ``(person, role)`` in joining order; the lead is
    marked in words."""
    options = []
    for person, role in responders:
        words = ROLE_WORDS.get(role, role.replace("_", " ").capitalize())
        options.append(
            PersonOption(person, f"{person} ({words}{', the lead' if person == lead else ''})")
        )
    return options


def _trigger(
    session: Session,
    incident: Incident,
    readings: list[tuple[str, datetime, float | None, str | None]],
    zone: ZoneInfo,
    now: datetime,
) -> TriggerData:
    """The first alert that opened (or was linked to) the incident: its values and NEWS2
    sub-scores. Incidents raised by staff or a machine have none."""
    alert = session.exec(
        select(Alert)
        .where(Alert.incident_id == incident.id)
        .order_by(col(Alert.observed_at), col(Alert.created_at))
    ).first()
    if alert is None:
        return TriggerData()
    return trigger_data(alert.summary, alert.details, alert.observed_at, readings, zone, now)


def load_page(
    principal: Principal,
    incident_id: uuid.UUID,
    *,
    now: datetime,
    audit_origin: Origin | None,
) -> PageContent:
    """The page for ``principal`` (``found`` False: no such incident or not theirs to see).
    ``audit_origin``: record the patient-data read (a page open); None for a live reload of
    a page already open (its open was audited)."""
    zone = hospital_zone()
    with session_scope() as session:
        incident = visible_incident(session, principal, incident_id, now=now)
        if incident is None:
            return PageContent(found=False)
        detail = incident_detail(session, incident, permissions=permissions_of(principal), now=now)
        style = PRIORITY_STYLES[detail.priority]
        page = PageContent(
            found=True,
            version=detail.version,
            number=detail.number,
            title=detail.title,
            summary=detail.summary,
            priority=detail.priority,
            priority_label=style.label,
            colour=style.colour,
            flashing=style.flashing and detail.status == "triggered",
            status=detail.status,
            status_text=status_words(
                StatusFacts(
                    status=detail.status,
                    acknowledged_at=detail.acknowledged_at,
                    acknowledged_by=detail.acknowledged_by,
                    started_at=detail.started_at,
                    started_by=detail.started_by,
                    resolved_at=detail.resolved_at,
                    resolved_by=detail.resolved_by,
                    resolution_reason=detail.resolution_reason,
                    closed_at=detail.closed_at,
                    closed_by=detail.closed_by,
                ),
                zone,
                now,
            ),
            ward=detail.ward or "",
            bed=detail.bed or "",
            patient=detail.patient_initials,
            opened_at=detail.opened_at.astimezone(UTC).isoformat(),
            opened_local=times_in_words(detail.opened_at.isoformat(), zone, now),
            assignee=detail.assignee or "",
            lead=detail.lead or "",
            resolution_text=detail.resolution_text or "",
            timeline=timeline_rows(detail.timeline, zone, now),
            responders=[
                ResponderData(r.person, ROLE_WORDS.get(r.role, r.role)) for r in detail.responders
            ],
            allowed=[a.value for a in detail.allowed_actions],
        )
        view = build_view(session, incident)  # as the lifecycle sees it
        # Escalation: the step, and when the next one is due while it is escalating.
        escalation = session.get(IncidentEscalation, incident.id)
        escalating = escalation is not None and escalation.state.get("status") == "escalating"
        page.escalation = escalation_words(
            detail.escalation_step,
            view.escalation_steps,
            escalating,
            detail.status,
        )
        if escalating and escalation is not None and escalation.next_due_at is not None:
            page.next_step_at = escalation.next_due_at.astimezone(UTC).isoformat()
            page.next_step_local = local_time(escalation.next_due_at, zone, now)
        if {"reassign", "add_responder"} & set(page.allowed):
            page.people = _people(session, incident, now)
        if "change_priority" in page.allowed:
            page.priority_options = priority_options(view, permissions_of(principal))
        responders = [(r.person, r.role.value) for r in view.responders]
        if "remove_responder" in page.allowed:
            page.responder_options = responder_options(responders, view.lead)
        if "set_lead" in page.allowed:
            page.lead_options = [
                o for o in responder_options(responders, view.lead) if o.value != view.lead
            ]
        if "reopen" in page.allowed and detail.resolved_at is not None:
            until = detail.resolved_at + lc.REOPEN_WINDOW
            page.reopen_until = until.astimezone(UTC).isoformat()
            page.reopen_until_local = local_time(until, zone, now)

        readings: list[tuple[str, datetime, float | None, str | None]] = []
        via = (
            patient_access(session, principal, incident.patient_id, now=now)
            if incident.patient_id is not None
            else None
        )
        if incident.patient_id is None:
            page.chart_note = "This incident is not about one patient: no vital signs."
        elif via is None:
            page.chart_note = "Vital signs are not shown: the patient is not on a ward you work on."
        else:
            readings = _readings(session, incident.patient_id, incident.opened_at - CHART_BEFORE)
            page.figure = vitals_figure(readings, incident.opened_at, now, zone)
            traces = chart_traces(page.figure)
            page.chart_summary = (
                "One line per parameter: " + ", ".join(traces) + "; the dashed line is when "
                "the incident opened."
                if traces
                else "No vital signs were recorded in this time."
            )
            page.latest_reading = _latest_reading(session, incident.patient_id)
            if audit_origin is not None:
                record_audit(
                    session,
                    actor=principal.audit_name,
                    action="vitals.read",
                    record_type="patient",
                    record_id=str(incident.patient_id),
                    ip=audit_origin.ip,
                    user_agent=audit_origin.user_agent,
                    details={"access": via, "page": "incident", "incident": str(incident.id)},
                    now=now,
                )
        page.trigger = _trigger(session, incident, readings, zone, now)
    return page


def changed_since(incident_id: uuid.UUID, version: int, latest_reading: str) -> bool:
    """Has the incident (its version) or its patient's vital signs changed? (A cheap read for
    the live check; the full reload checks who may see it again.)"""
    with session_scope() as session:
        row = session.exec(
            select(Incident.version, Incident.patient_id).where(Incident.id == incident_id)
        ).first()
        if row is None:
            return True
        current, patient_id = row
        if current != version:
            return True
        return latest_reading != "" and _latest_reading(session, patient_id) != latest_reading


# What each form field is called on the page, for refusals that name a field.
FIELD_WORDS: dict[str, str] = {
    "to": "Person",
    "reason": "Reason",
    "text": "Reason text",
    "person": "Person",
    "role": "Role",
    "priority": "New priority",
    "note": "Note",
}

# Where one action's form calls a field otherwise.
ACTION_FIELD_WORDS: dict[tuple[lc.Action, str], str] = {
    (lc.Action.ADD_NOTE, "text"): "Note",
    (lc.Action.CHANGE_PRIORITY, "note"): "Note (required to lower the priority)",
    (lc.Action.SET_LEAD, "person"): "Lead",
    (lc.Action.REMOVE_RESPONDER, "person"): "Responder",
    (lc.Action.CLOSE, "note"): "Review note",
}

_VERSIONS = re.compile(r"has changed since version \d+ \(now version \d+\)")
_ACTING_ON = re.compile(r"was acting on version \d+")


def refusal_words(
    refusal: lc.Refusal,
    zone: ZoneInfo,
    now: datetime,
    note: bool = False,
    action: lc.Action | None = None,
) -> str:
    """A refusal as the page says it: the field named as on the form (``action``: the form's
    own names), times in local time; a conflict (the incident changed since the page showed
    it) says that nothing was changed and that the page now shows it as it is."""
    message = refusal.message
    field = refusal.field
    if field and message.startswith(f"{field}: "):
        if note and field == "text":
            label = "Note"
        else:
            label = ACTION_FIELD_WORDS.get((action, field), "") if action else ""
            label = label or FIELD_WORDS.get(field, field)
        message = f"{label}: " + message[len(field) + 2 :]
    if refusal.code is lc.RefusalCode.CONFLICT:
        message = _VERSIONS.sub("was changed by someone else since this page showed it", message)
        message = _ACTING_ON.sub("was acting on it", message)
        message = message.removesuffix("Reload it and try again.").rstrip()
        if "nothing was changed" not in message:
            message += " Nothing was changed."
        message += " The page now shows it as it is: check, then try again."
    return times_in_words(message, zone, now)


DONE_WORDS: dict[lc.Action, str] = {
    lc.Action.ACKNOWLEDGE: "acknowledged",
    lc.Action.START: "marked in progress",
    lc.Action.ESCALATE: "escalated",
    lc.Action.REASSIGN: "reassigned",
    lc.Action.ADD_NOTE: "note added",
    lc.Action.ADD_RESPONDER: "responder added",
    lc.Action.REMOVE_RESPONDER: "responder removed",
    lc.Action.SET_LEAD: "lead named",
    lc.Action.RESOLVE: "resolved",
    lc.Action.CLOSE: "closed",
    lc.Action.REOPEN: "reopened: triggered again",
}


def done_words(action: lc.Action, incident: Incident) -> str:
    """What the page says once an action is done."""
    number = int(incident.number or 0)
    if action is lc.Action.CHANGE_PRIORITY:
        label = PRIORITY_STYLES[incident.priority].label
        return f"Incident #{number} is now {label}."
    if action is lc.Action.SET_LEAD:
        return f"Incident #{number}: {incident.lead} is the lead."
    return f"Incident #{number} {DONE_WORDS.get(action, 'updated')}."


def run_action(
    principal: Principal,
    incident_id: uuid.UUID,
    command: lc.Command,
    *,
    origin: Origin | None,
    expected_version: int | None = None,
    note: bool = False,
) -> tuple[str, str]:
    """One action through the workflow, the API's path (``perform_as``: permission, ward
    scope, state machine, version check, audit record, live update): ``(message, error)``
    as the page shows them (blocking: call through a thread)."""
    zone = hospital_zone()
    now = datetime.now(UTC)
    try:
        result: Performed | lc.Refusal = perform_as(
            principal,
            incident_id,
            command,
            now=now,
            expected_version=expected_version,
            origin=origin,
        )
    except IncidentNotFound:
        return "", NOT_FOUND
    if isinstance(result, lc.Refusal):
        return "", refusal_words(result, zone, now, note=note, action=command.action)
    return done_words(command.action, result.incident), ""


def _text(form: dict[str, Any], name: str) -> str | None:
    value = form.get(name)
    return str(value) if value is not None else None


class IncidentDetailState(rx.State):
    shown_id: str = ""
    loading: bool = True
    not_found: bool = False
    load_error: str = ""
    version: int = 0
    number: int = 0
    title: str = ""
    summary: str = ""
    priority: str = ""
    priority_label: str = ""
    colour: str = "cyan"
    flashing: bool = False
    status: str = ""
    status_text: str = ""
    ward: str = ""
    bed: str = ""
    patient: str = ""
    opened_at: str = ""
    opened_local: str = ""
    assignee: str = ""
    lead: str = ""
    resolution_text: str = ""
    trigger: TriggerData = TriggerData()
    timeline: list[TimelineRowData] = []
    responders: list[ResponderData] = []
    escalation: str = ""
    next_step_at: str = ""
    next_step_local: str = ""
    allowed: list[str] = []
    people: list[PersonOption] = []
    priority_options: list[PriorityOption] = []
    responder_options: list[PersonOption] = []
    lead_options: list[PersonOption] = []
    reopen_until: str = ""
    reopen_until_local: str = ""
    figure: dict = empty_figure()  # healthguard/ui/figures.py
    has_chart: bool = False
    chart_note: str = ""
    chart_summary: str = ""
    latest_reading: str = ""
    message: str = ""
    error: str = ""
    busy: bool = False

    def _clear(self) -> None:
        self.not_found = False
        self.load_error = ""
        self.message = self.error = ""
        self.timeline, self.responders, self.allowed, self.people = [], [], [], []
        self.priority_options, self.responder_options, self.lead_options = [], [], []
        self.reopen_until = self.reopen_until_local = ""
        self.trigger = TriggerData()
        self.figure, self.has_chart = empty_figure(), False
        self.version = 0

    def _show(self, page: PageContent) -> None:
        if not page.found:
            self._clear()
            self.not_found = True
            return
        for item in dataclasses.fields(PageContent):
            if item.name in ("found", "figure"):
                continue
            setattr(self, item.name, getattr(page, item.name))
        self.has_chart = page.figure is not None
        self.figure = figure_json(page.figure) if page.figure is not None else empty_figure()
        self.not_found = False
        self.load_error = ""

    async def _principal(self, activity: bool = True) -> Principal | None:
        auth = await self.get_state(AuthState)
        principal = await auth.current_principal(activity=activity)
        if principal is None or not allows(principal, Permission.INCIDENTS_READ):
            return None
        return principal

    async def _reload(self, principal: Principal, *, audit: bool) -> None:
        target = incident_id_from_path(f"/{self.shown_id}")
        if target is None:
            self._clear()
            self.not_found = True
            return
        origin = (await self.get_state(AuthState))._origin() if audit else None
        try:
            page = await asyncio.to_thread(
                load_page, principal, target, now=datetime.now(UTC), audit_origin=origin
            )
        except Exception:  # keep what is on screen and say so
            self.load_error = "Could not reach the database; showing what was last loaded."
            return
        self._show(page)

    @rx.event
    async def on_load(self):
        self.loading = True
        self._clear()
        yield
        auth = await self.get_state(AuthState)
        principal = await auth.current_principal()
        if principal is None:
            self.loading = False
            yield rx.redirect(routes.LOGIN)
            return
        if not allows(principal, Permission.INCIDENTS_READ):
            self.loading = False
            auth.notice = "Your role may not open incidents."
            yield rx.redirect(routes.home_for(principal))
            return
        target = incident_id_from_path(self.router.url.path)
        self.shown_id = str(target) if target else ""
        await self._reload(principal, audit=True)
        self.loading = False

    @rx.event
    async def refresh(self, _tick: str = ""):
        """The live check (every few seconds while the page is open): reload only when the
        incident or its patient's readings changed. Not counted as activity."""
        if not self.shown_id or self.not_found or self.busy:
            return None
        principal = await self._principal(activity=False)
        if principal is None:
            return rx.redirect(routes.LOGIN)
        try:
            changed = await asyncio.to_thread(
                changed_since, uuid.UUID(self.shown_id), self.version, self.latest_reading
            )
        except Exception:
            self.load_error = "Could not reach the database; showing what was last loaded."
            return None
        if changed:
            await self._reload(principal, audit=False)
        elif self.load_error:
            self.load_error = ""
        return None

    async def _act(
        self, command: lc.Command, *, note: bool = False, versioned: bool = False
    ) -> Any:
        """One action through the workflow (the API's path), then a fresh read.
        ``versioned``: only if the incident is still at the version the page shows."""
        principal = await self._principal()
        if principal is None:
            return rx.redirect(routes.LOGIN)
        if not self.shown_id:
            self.error = NOT_FOUND
            return None
        origin = (await self.get_state(AuthState))._origin()
        target = uuid.UUID(self.shown_id)
        expected = self.version if versioned and self.version > 0 else None
        self.busy = True
        self.message = self.error = ""
        try:
            self.message, self.error = await asyncio.to_thread(
                run_action,
                principal,
                target,
                command,
                origin=origin,
                expected_version=expected,
                note=note,
            )
        except Exception:
            self.error = "Could not reach the database; nothing was changed. Try again."
        finally:
            self.busy = False
        await self._reload(principal, audit=False)
        return None

    @rx.event
    async def acknowledge(self):
        return await self._act(lc.Acknowledge())

    @rx.event
    async def start(self):
        return await self._act(lc.Start())

    @rx.event
    async def escalate(self, form: dict[str, Any]):
        to = (_text(form, "to") or "").strip() or None
        return await self._act(lc.Escalate(to=to))

    @rx.event
    async def reassign(self, form: dict[str, Any]):
        return await self._act(lc.Reassign(to=_text(form, "to"), reason=_text(form, "reason")))

    @rx.event
    async def add_note(self, form: dict[str, Any]):
        return await self._act(lc.AddNote(text=_text(form, "text")), note=True)

    @rx.event
    async def add_responder(self, form: dict[str, Any]):
        return await self._act(
            lc.AddResponder(person=_text(form, "person"), role=_text(form, "role"))
        )

    @rx.event
    async def resolve(self, form: dict[str, Any]):
        return await self._act(lc.Resolve(reason=_text(form, "reason"), text=_text(form, "text")))

    @rx.event
    async def change_priority(self, form: dict[str, Any]):
        command = lc.ChangePriority(priority=_text(form, "priority"), note=_text(form, "note"))
        return await self._act(command, versioned=True)

    @rx.event
    async def set_lead(self, form: dict[str, Any]):
        return await self._act(lc.SetLead(person=_text(form, "person")), versioned=True)

    @rx.event
    async def remove_responder(self, form: dict[str, Any]):
        return await self._act(lc.RemoveResponder(person=_text(form, "person")), versioned=True)

    @rx.event
    async def close(self, form: dict[str, Any]):
        return await self._act(lc.Close(note=_text(form, "note")), versioned=True)

    @rx.event
    async def reopen(self, form: dict[str, Any]):
        return await self._act(lc.Reopen(reason=_text(form, "reason")), versioned=True)

    @rx.var
    def subscore_rows(self) -> list[SubScoreRow]:
        return self.trigger.rows
