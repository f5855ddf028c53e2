"""No lost updates: truly concurrent requests on one incident, each from its own thread with
its own HTTP client and database session, released together by a barrier. Exactly one
acknowledgement wins and the others are told who acknowledged and when; a resolve and a note
planned from the same version give one success and one conflict; and two writers planned
from the same view cannot both win even without the row lock (the conditional update)."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from authsupport import (
    CheckedClient,
    audit_rows_after,
    bearer,
    last_audit_id,
    open_incident_in,
    sign_in,
)
from sqlmodel import Session, select

from healthguard.api import build_api
from healthguard.db import get_engine, session_scope
from healthguard.incidents import lifecycle as lc
from healthguard.incidents import workflow
from healthguard.models import Incident, IncidentEvent
from healthguard.security.permissions import ROLE_PERMISSIONS

pytestmark = pytest.mark.integration

USERS = ("nurse.card", "charge.card", "dr.attending", "rrt.lead")
WAIT = 30  # seconds: a bound for a broken test, never a synchronisation


@dataclass(frozen=True)
class Tokens:
    headers: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def tokens(seeded: dict[str, int]) -> Tokens:
    with CheckedClient(build_api()) as client:
        return Tokens({u: bearer(sign_in(client, u)["access_token"]) for u in USERS})


@pytest.fixture(scope="module")
def clients(tokens: Tokens) -> Iterator[list[CheckedClient]]:
    """One HTTP client per thread (each request also gets its own database session)."""
    opened = [CheckedClient(build_api()) for _ in USERS]
    for client in opened:
        client.__enter__()
        # Warm up (FastAPI builds some of its per-route machinery on first use).
        assert client.get("/api/v1/incidents/00000000-0000-0000-0000-000000000000").status_code
    try:
        yield opened
    finally:
        for client in opened:
            client.__exit__(None, None, None)


def together(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Run every call on its own thread, all released at the same moment."""
    barrier = threading.Barrier(len(calls))
    results: list[httpx.Response | BaseException | None] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=WAIT)
            results[i] = calls[i]()
        except BaseException as exc:  # reported below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT)
        assert not thread.is_alive(), "a request hung"
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [r for r in results if isinstance(r, httpx.Response)]


def stored(incident: str) -> Incident:
    with session_scope() as session:
        found = session.get(Incident, uuid.UUID(incident))
        assert found is not None
        return found


def events(incident: str, kind: str) -> list[IncidentEvent]:
    with session_scope() as session:
        return list(
            session.exec(
                select(IncidentEvent).where(
                    IncidentEvent.incident_id == uuid.UUID(incident), IncidentEvent.kind == kind
                )
            ).all()
        )


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_acknowledgements_one_wins_the_others_are_told_by_whom(
    tokens: Tokens, clients: list[CheckedClient], round_: int
) -> None:
    incident = open_incident_in("CARD", "B1", f"Concurrency: two tablets {round_}", "P1")
    before = last_audit_id()
    url = f"/api/v1/incidents/{incident}/acknowledge"
    responses = together(
        [
            lambda c=client, u=user: c.post(url, headers=tokens.headers[u])
            for client, user in zip(clients, USERS, strict=True)
        ]
    )
    codes = Counter(r.status_code for r in responses)
    assert codes == Counter({200: 1, 409: len(USERS) - 1}), [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 200).json()
    who, at = winner["acknowledged_by"], datetime.fromisoformat(winner["acknowledged_at"])
    assert who in USERS
    for loser in (r for r in responses if r.status_code == 409):
        error = loser.json()["error"]
        assert error["code"] == "illegal_transition"
        assert error["current_status"] == "acknowledged"
        assert (
            f"already acknowledged by {who} at {at.isoformat(timespec='seconds')}"
            in (error["message"])
        )
    # One acknowledgement everywhere: the row, the timeline, the audit log.
    assert (stored(incident).status, stored(incident).version) == ("acknowledged", 2)
    assert [e.actor for e in events(incident, "acknowledged")] == [who]
    acks = [r for r in audit_rows_after(before) if r.action == "incident.acknowledged"]
    assert [(r.actor, r.record_id) for r in acks] == [(who, incident)]


@pytest.mark.parametrize("round_", range(3))
def test_resolve_and_note_from_the_same_version_one_conflicts(
    tokens: Tokens, clients: list[CheckedClient], round_: int
) -> None:
    incident = open_incident_in("CARD", "B2", f"Concurrency: resolve vs note {round_}")
    version = stored(incident).version
    base = f"/api/v1/incidents/{incident}"
    responses = together(
        [
            lambda: clients[0].post(
                f"{base}/resolve",
                json={"reason": "treated", "expected_version": version},
                headers=tokens.headers["nurse.card"],
            ),
            lambda: clients[1].post(
                f"{base}/notes",
                json={"text": "Obs repeated", "expected_version": version},
                headers=tokens.headers["charge.card"],
            ),
        ]
    )
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    conflict = next(r for r in responses if r.status_code == 409).json()["error"]
    assert (conflict["code"], conflict["field"]) == ("conflict", "expected_version")
    assert f"since version {version} (now version {version + 1})" in conflict["message"]
    won = next(r for r in responses if r.status_code == 200).json()
    assert won["version"] == stored(incident).version == version + 1
    written = len(events(incident, "resolved")) + len(events(incident, "note"))
    assert written == 1
    assert stored(incident).status == ("resolved" if won["status"] == "resolved" else "triggered")


def test_a_second_writer_waits_for_the_row_lock_then_sees_the_first(tokens: Tokens) -> None:
    """The first transaction holds the incident; the second, started meanwhile, is seen
    waiting on that lock by Postgres itself, and answers from the committed state."""
    incident = open_incident_in("CARD", "B3", "Concurrency: lock")
    written = threading.Event()
    release = threading.Event()
    second: dict[str, Any] = {}
    principal = _principal("charge.card")

    def first() -> None:
        with session_scope() as session:
            result = workflow.perform(
                session,
                uuid.UUID(incident),
                lc.Acknowledge(),
                principal=_principal("nurse.card"),
                now=datetime.now(UTC),
            )
            assert isinstance(result, Incident)
            written.set()
            assert release.wait(WAIT)

    def later() -> None:
        assert written.wait(WAIT)
        with session_scope() as session:
            second["pid"] = session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            second["result"] = workflow.perform(
                session,
                uuid.UUID(incident),
                lc.Acknowledge(),
                principal=principal,
                now=datetime.now(UTC),
            )

    threads = [threading.Thread(target=first), threading.Thread(target=later)]
    for thread in threads:
        thread.start()
    try:
        assert written.wait(WAIT)
        assert _waits_on_a_lock(second), "the second writer did not wait for the row lock"
    finally:
        release.set()
        for thread in threads:
            thread.join(WAIT)
    result = second["result"]
    assert isinstance(result, lc.Refusal)
    assert result.code is lc.RefusalCode.ILLEGAL_TRANSITION
    assert "already acknowledged by nurse.card" in result.message


def _waits_on_a_lock(second: dict[str, Any]) -> bool:
    """Postgres reports the second backend waiting on a lock (polled until it does)."""
    from healthguard.runtime.embedded import wait_until

    def waiting() -> bool:
        pid = second.get("pid")
        if pid is None:
            return False
        with get_engine().connect() as conn:
            event = conn.execute(
                sa.text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :p"),
                {"p": pid},
            ).scalar()
        return bool(event == "Lock")

    return wait_until(waiting, WAIT, interval=0.01)


def test_two_writers_planned_from_the_same_view_cannot_both_win() -> None:
    """Without the row lock (a caller that loaded the incident plainly), the conditional
    update still lets only one of two writers planned from the same version through."""
    incident = open_incident_in("CARD", "B4", "Concurrency: conditional update")
    permissions = ROLE_PERMISSIONS["charge_nurse"]
    engine = get_engine()
    with Session(engine, expire_on_commit=False) as first, Session(engine) as second:
        mine = first.get(Incident, uuid.UUID(incident))
        theirs = second.get(Incident, uuid.UUID(incident))
        assert mine is not None and theirs is not None and mine.version == theirs.version == 1
        won = workflow.apply_command(
            first, mine, lc.AddNote(text="first"), actor="nurse.card",
            permissions=permissions, now=datetime.now(UTC),
        )  # fmt: skip
        assert isinstance(won, Incident) and won.version == 2
        first.commit()
        lost = workflow.apply_command(
            second, theirs, lc.Resolve(reason="treated"), actor="charge.card",
            permissions=permissions, now=datetime.now(UTC),
        )  # fmt: skip
        assert isinstance(lost, lc.Refusal), lost
        assert lost.code is lc.RefusalCode.CONFLICT
        assert "nothing was changed" in lost.message
        second.commit()
    after = stored(incident)
    assert (after.status, after.version) == ("triggered", 2)
    assert events(incident, "resolved") == []


def _principal(username: str) -> Any:
    from healthguard.models import User
    from healthguard.security.accounts import principal_of

    with session_scope() as session:
        return principal_of(session.exec(select(User).where(User.username == username)).one())
