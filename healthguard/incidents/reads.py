"""Reading incidents for a person: the filtered, cursor-paginated list and one incident in
full (timeline with notes decrypted, responders, the actions this person may take now).

Callers pass the person's ward scope; an incident outside it (and not assigned to them) is
never listed, and ``incident_detail`` is only called for an incident ``visible_incident``
returned.

Ordering of the list: newest first, ``opened_at`` descending then ``id`` descending. Both are
fixed when the incident is opened, so the order never changes: a cursor (the last row's
``opened_at`` and ``id``, opaque to clients) continues exactly after that row, with no
duplicates and no gaps however many incidents are opened (they sort before the first page)
or change meanwhile. Filters on what can change (status, priority, assignee) are applied to
each page as the incidents are when it is read.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from healthguard.incidents.lifecycle import Action, allowed_actions
from healthguard.incidents.service import incident_rows_query, initials, visible_to
from healthguard.incidents.timeline import TimelineRow, decrypt_resolution_text, read_timeline
from healthguard.incidents.workflow import active_responders, build_view, staff_name
from healthguard.models import Bed, Incident, Patient, User, Ward
from healthguard.models.incidents import OPEN_STATUSES
from healthguard.patients.phi import display_names
from healthguard.security.permissions import Permission, WardScope

MAX_PAGE = 200
DEFAULT_PAGE = 100


# --- the cursor -----------------------------------------------------------------------------


class CursorError(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the last row's (opened_at, id)."""

    opened_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        raw = json.dumps(
            {"o": self.opened_at.isoformat(), "i": str(self.id)}, separators=(",", ":")
        )
        return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode("ascii")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Raises CursorError when ``text`` is not a cursor this API gave out."""
        try:
            padded = text + "=" * (-len(text) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
            opened_at = datetime.fromisoformat(data["o"])
            incident_id = uuid.UUID(data["i"])
        except (binascii.Error, ValueError, TypeError, KeyError, UnicodeError) as exc:
            raise CursorError(
                "not a cursor from a previous page (use next_cursor as given)"
            ) from exc
        if opened_at.tzinfo is None:
            raise CursorError("not a cursor from a previous page (use next_cursor as given)")
        return cls(opened_at, incident_id)


# --- the list -------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentFilter:
    """Empty tuples and None mean "any". ``opened_from`` inclusive, ``opened_to`` exclusive."""

    statuses: tuple[str, ...] = OPEN_STATUSES
    priorities: tuple[str, ...] = ()
    ward_codes: tuple[str, ...] = ()
    patient_id: uuid.UUID | None = None
    assignee_staff_id: uuid.UUID | None = None
    opened_from: datetime | None = None
    opened_to: datetime | None = None


@dataclass(frozen=True)
class IncidentRow:
    id: str
    number: int
    priority: str
    status: str
    title: str
    summary: str
    ward: str
    bed: str
    patient_initials: str
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    assignee: str | None
    lead: str | None
    version: int


@dataclass(frozen=True)
class Page:
    rows: list[IncidentRow]
    next_cursor: str | None


def search_incidents(
    session: Session,
    *,
    scope: WardScope,
    or_assigned_to: str | None,
    filters: IncidentFilter,
    cursor: Cursor | None = None,
    limit: int = DEFAULT_PAGE,
) -> Page:
    """One page of the incidents the person may see (their wards, or assigned to them)."""
    limit = max(1, min(limit, MAX_PAGE))
    stmt = (
        incident_rows_query()
        .order_by(col(Incident.opened_at).desc(), col(Incident.id).desc())
        .limit(limit + 1)
    )
    if not scope.all_wards:
        stmt = stmt.where(visible_to(scope.ward_ids, or_assigned_to))
    if filters.statuses:
        stmt = stmt.where(col(Incident.status).in_(filters.statuses))
    if filters.priorities:
        stmt = stmt.where(col(Incident.priority).in_(filters.priorities))
    if filters.ward_codes:
        stmt = stmt.where(col(Ward.code).in_(filters.ward_codes))
    if filters.patient_id is not None:
        stmt = stmt.where(col(Incident.patient_id) == filters.patient_id)
    if filters.assignee_staff_id is not None:
        stmt = stmt.where(col(Incident.assignee_staff_id) == filters.assignee_staff_id)
    if filters.opened_from is not None:
        stmt = stmt.where(col(Incident.opened_at) >= filters.opened_from)
    if filters.opened_to is not None:
        stmt = stmt.where(col(Incident.opened_at) < filters.opened_to)
    if cursor is not None:
        stmt = stmt.where(
            sa.tuple_(col(Incident.opened_at), col(Incident.id))
            < sa.tuple_(sa.literal(cursor.opened_at), sa.literal(cursor.id, sa.Uuid()))
        )
    found = session.execute(stmt).all()
    more = len(found) > limit
    found = found[:limit]
    names = _assignee_names(session, {r[0].assignee_staff_id for r in found} - {None})
    rows: list[IncidentRow] = []
    for incident, ward_code, bed_label, given_enc, family_enc in found:
        given, family = display_names(incident.patient_id, given_enc, family_enc)
        rows.append(
            IncidentRow(
                id=str(incident.id),
                number=int(incident.number or 0),
                priority=incident.priority,
                status=incident.status,
                title=incident.title,
                summary=incident.summary,
                ward=ward_code or "",
                bed=bed_label or "",
                patient_initials=initials(given, family),
                opened_at=incident.opened_at,
                acknowledged_at=incident.acknowledged_at,
                acknowledged_by=incident.acknowledged_by,
                resolved_at=incident.resolved_at,
                assignee=names.get(incident.assignee_staff_id)
                if incident.assignee_staff_id
                else None,
                lead=incident.lead,
                version=incident.version,
            )
        )
    next_cursor = None
    if more and found:
        last = found[-1][0]
        next_cursor = Cursor(last.opened_at, last.id).encode()
    return Page(rows, next_cursor)


def _assignee_names(
    session: Session, staff_ids: Collection[uuid.UUID | None]
) -> dict[uuid.UUID | None, str]:
    ids = [s for s in staff_ids if s is not None]
    if not ids:
        return {}
    usernames = dict(
        session.execute(
            sa.select(col(User.staff_id), sa.func.min(col(User.username)))
            .where(col(User.staff_id).in_(ids))
            .group_by(col(User.staff_id))
        ).all()
    )
    return {s: usernames.get(s) or str(s) for s in ids}


# --- one incident in full -------------------------------------------------------------------


@dataclass(frozen=True)
class ResponderRow:
    person: str
    role: str
    joined_at: datetime


@dataclass(frozen=True)
class IncidentDetail:
    id: str
    number: int
    priority: str
    status: str
    title: str
    summary: str
    ward: str | None
    bed: str | None
    patient_initials: str
    source: str
    raised_by: str | None
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    started_at: datetime | None
    started_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_reason: str | None
    resolution_text: str | None
    duplicate_of: str | None
    duplicate_of_number: int | None
    closed_at: datetime | None
    closed_by: str | None
    assignee: str | None
    lead: str | None
    escalation_step: int
    reopened_count: int
    version: int
    responders: list[ResponderRow] = field(default_factory=list)
    allowed_actions: list[Action] = field(default_factory=list)
    timeline: list[TimelineRow] = field(default_factory=list)


def incident_detail(
    session: Session,
    incident: Incident,
    *,
    permissions: Collection[Permission],
    now: datetime,
) -> IncidentDetail:
    """The incident with its timeline (notes decrypted), responders and the actions a person
    holding ``permissions`` may take now. Only for a person who may see it."""
    ward = session.get(Ward, incident.ward_id) if incident.ward_id else None
    bed = session.get(Bed, incident.bed_id) if incident.bed_id else None
    patient = session.get(Patient, incident.patient_id) if incident.patient_id else None
    given, family = (
        display_names(patient.id, patient.given_name_enc, patient.family_name_enc)
        if patient is not None
        else (None, None)
    )
    duplicate = session.get(Incident, incident.duplicate_of) if incident.duplicate_of else None
    view = build_view(session, incident)
    return IncidentDetail(
        id=str(incident.id),
        number=int(incident.number or 0),
        priority=incident.priority,
        status=incident.status,
        title=incident.title,
        summary=incident.summary,
        ward=ward.code if ward else None,
        bed=bed.label if bed else None,
        patient_initials=initials(given, family),
        source=incident.source,
        raised_by=incident.raised_by,
        opened_at=incident.opened_at,
        acknowledged_at=incident.acknowledged_at,
        acknowledged_by=incident.acknowledged_by,
        started_at=incident.started_at,
        started_by=incident.started_by,
        resolved_at=incident.resolved_at,
        resolved_by=incident.resolved_by,
        resolution_reason=incident.resolution_reason,
        resolution_text=decrypt_resolution_text(incident.id, incident.resolution_text_enc),
        duplicate_of=str(incident.duplicate_of) if incident.duplicate_of else None,
        duplicate_of_number=int(duplicate.number or 0) if duplicate else None,
        closed_at=incident.closed_at,
        closed_by=incident.closed_by,
        assignee=staff_name(session, incident.assignee_staff_id),
        lead=incident.lead,
        escalation_step=incident.escalation_step,
        reopened_count=incident.reopened_count,
        version=incident.version,
        responders=[
            ResponderRow(r.person, r.role, r.joined_at)
            for r in active_responders(session, incident.id)
        ],
        allowed_actions=allowed_actions(view, permissions, now=now),
        timeline=read_timeline(session, incident.id),
    )


def staff_id_for(session: Session, name: str) -> uuid.UUID | None:
    """The staff id a list filter names: a staff id, or a username linked to a staff
    member (None: nobody)."""
    raw = name.strip()
    try:
        return uuid.UUID(raw)
    except ValueError:
        pass
    return session.exec(select(User.staff_id).where(User.username == raw)).first()
