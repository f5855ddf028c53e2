"""The auditor's view of the audit log: filter, read, export (the export is audited)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime, timedelta

import reflex as rx

from healthguard.db import session_scope
from healthguard.security.audit import AuditFilter, export_and_record, query_audit
from healthguard.security.permissions import Permission
from healthguard.ui.states.auth import AuthState


@dataclasses.dataclass
class AuditRow:
    id: int = 0
    at: str = ""
    actor: str = ""
    action: str = ""
    record: str = ""
    outcome: str = ""
    origin: str = ""
    details: str = ""


def parse_day(value: str, field: str) -> datetime | None:
    """A date from the page's date input (YYYY-MM-DD), as midnight UTC."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"{field}: give a date as YYYY-MM-DD") from None


def load_rows(
    actor: str, action: str, record_id: str, since: str = "", until: str = ""
) -> list[AuditRow]:
    start = parse_day(since, "From")
    end = parse_day(until, "To")
    with session_scope() as session:
        rows = query_audit(
            session,
            actor=actor or None,
            action=action or None,
            record_id=record_id or None,
            since=start,
            until=end + timedelta(days=1) if end else None,  # the whole last day
            limit=200,
        )
        return [
            AuditRow(
                id=int(r.id or 0),
                at=r.at.astimezone(UTC).isoformat(),
                actor=r.actor,
                action=r.action,
                record=f"{r.record_type} {r.record_id or ''}".strip(),
                outcome=r.outcome,
                origin=r.ip or "",
                details=json.dumps(r.details, sort_keys=True)[:300],
            )
            for r in rows
        ]


class AuditState(rx.State):
    rows: list[AuditRow] = []
    actor: str = ""
    action: str = ""
    record_id: str = ""
    since: str = ""
    until: str = ""
    error: str = ""
    loaded: bool = False

    async def _allowed(self, permission: Permission):  # type: ignore[no-untyped-def]
        auth = await self.get_state(AuthState)
        return await auth.require(permission)

    @rx.event
    async def on_load(self):
        principal, redirect = await self._allowed(Permission.AUDIT_READ)
        if principal is None:
            return redirect
        await self._search()
        return None

    async def _search(self) -> None:
        try:
            self.rows = await asyncio.to_thread(
                load_rows, self.actor, self.action, self.record_id, self.since, self.until
            )
            self.error = ""
        except ValueError as exc:
            self.error = str(exc)
        self.loaded = True

    @rx.event
    async def search(self, form: dict):
        principal, redirect = await self._allowed(Permission.AUDIT_READ)
        if principal is None:
            return redirect
        self.actor = str(form.get("actor", "")).strip()
        self.action = str(form.get("action", "")).strip()
        self.record_id = str(form.get("record_id", "")).strip()
        self.since = str(form.get("since", "")).strip()
        self.until = str(form.get("until", "")).strip()
        await self._search()
        return None

    @rx.event
    async def show_break_glass(self):
        principal, redirect = await self._allowed(Permission.AUDIT_READ)
        if principal is None:
            return redirect
        self.actor, self.action, self.record_id = "", "break_glass.*", ""
        self.since = self.until = ""
        await self._search()
        return None

    @rx.event
    async def export_csv(self):
        principal, redirect = await self._allowed(Permission.AUDIT_EXPORT)
        if principal is None:
            return redirect
        auth = await self.get_state(AuthState)
        origin = auth._origin()
        try:
            start, end = parse_day(self.since, "From"), parse_day(self.until, "To")
        except ValueError as exc:
            self.error = str(exc)
            return None
        flt = AuditFilter(
            actor=self.actor or None,
            action=self.action or None,
            record_id=self.record_id or None,
            since=start,
            until=end + timedelta(days=1) if end else None,
        )

        def export() -> str:
            with session_scope() as session:
                return export_and_record(
                    session,
                    principal.audit_name,
                    "csv",
                    flt,
                    datetime.now(UTC),
                    ip=origin.ip,
                    user_agent=origin.user_agent,
                )

        text = await asyncio.to_thread(export)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        return rx.download(data=text, filename=f"audit-{stamp}.csv")
