"""The admin page's Reflex states on the real Postgres and Redis, their handlers run in-process
with a real sign-in session: one visit by a nurse writes one access.denied row (the page's
single loader; no section loads), an admin's visit loads every section with no refusal, and
"Add a user" creates an account through ``accounts.create_user`` (audited user.created) whose
password then signs in, with errors naming the form's field."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import reflex as rx
from authsupport import audit_rows_after, last_audit_id
from sqlmodel import select

from healthguard.db import session_scope
from healthguard.models import AlarmRule, Staff, User
from healthguard.security.accounts import Origin, authenticate, principal_of, start_ui_session
from healthguard.security.permissions import Principal
from healthguard.settings import get_settings
from healthguard.ui import admin_actions as actions
from healthguard.ui.states.admin_access import AdminAccessState, page_access
from healthguard.ui.states.admin_integrations import AdminIntegrationsState
from healthguard.ui.states.admin_policies import AdminPoliciesState
from healthguard.ui.states.admin_rules import AdminRulesState
from healthguard.ui.states.admin_users import AdminUsersState
from healthguard.ui.states.auth import AuthState

pytestmark = pytest.mark.integration

ORIGIN = Origin("127.0.0.1", "pytest")
PASSWORD = "Ward round at seven"


def now() -> datetime:
    return datetime.now(UTC)


def who(username: str) -> Principal:
    with session_scope() as session:
        return principal_of(session.exec(select(User).where(User.username == username)).one())


class Browser:
    """One browser's state tree, signed in as ``username`` with a real UI session."""

    def __init__(self, username: str) -> None:
        self.root = rx.State(_reflex_internal_init=True)
        with session_scope() as session:
            user = session.exec(select(User).where(User.username == username)).one()
            token = start_ui_session(session, user, now=now(), origin=ORIGIN)
        self.of(AuthState).session_token = token

    def of(self, state_cls: type[Any]) -> Any:
        return self.root.get_substate(state_cls._get_substate_path())

    def send(self, handler: Any, *args: Any) -> Any:
        """Run one event handler as Reflex does, then the handlers it returns, in order."""
        return asyncio.run(self._send(handler, *args))

    async def _send(self, handler: Any, *args: Any) -> Any:
        result = await handler.fn(self.of(handler.state), *args)
        for follow in result if isinstance(result, list) else []:
            await self._send(follow)
        return result


@pytest.fixture
def mark(seeded: dict[str, int]) -> Iterator[int]:
    yield last_audit_id()


def denials(after: int) -> list[tuple[str, str]]:
    return [
        (r.actor, r.record_id or "") for r in audit_rows_after(after) if r.action == "access.denied"
    ]


def test_a_nurse_visiting_admin_writes_one_denial_and_loads_nothing(mark: int) -> None:
    browser = Browser("nurse.card")
    browser.send(AdminAccessState.on_load)

    assert browser.of(AdminAccessState).access == "refused"
    assert denials(mark) == [("nurse.card", "admin")]
    for section in (AdminIntegrationsState, AdminUsersState, AdminPoliciesState, AdminRulesState):
        assert browser.of(section).rows == [], section

    # The next visit is one more row, not four or five.
    browser.send(AdminAccessState.on_load)
    assert denials(mark) == [("nurse.card", "admin")] * 2


def test_the_admin_page_has_one_loader() -> None:
    """Every section loads from the page's one check, so a refused visit is one denial."""
    from healthguard.healthguard import app

    assert app._load_events["admin"] == [AdminAccessState.on_load]


def test_an_admin_visit_loads_every_section_without_a_refusal(mark: int) -> None:
    browser = Browser("admin")
    browser.send(AdminAccessState.on_load)

    assert browser.of(AdminAccessState).access == "allowed"
    assert denials(mark) == []
    users = browser.of(AdminUsersState)
    assert users.loaded and "nurse.card" in {r.username for r in users.rows}
    assert browser.of(AdminPoliciesState).rows and browser.of(AdminRulesState).rows
    assert browser.of(AdminIntegrationsState).loaded
    assert set(users.roles) == {
        "nurse",
        "charge_nurse",
        "physician",
        "rapid_response",
        "admin",
        "auditor",
    }


def test_page_access_audits_only_a_refusal(mark: int) -> None:
    assert page_access(who("admin"), ORIGIN, now()) == "allowed"
    assert page_access(who("auditor"), ORIGIN, now()) == "refused"
    rows = [r for r in audit_rows_after(mark) if r.action == "access.denied"]
    assert [(r.actor, r.outcome) for r in rows] == [("auditor", "denied")]


def unlinked_staff_id() -> uuid.UUID:
    with session_scope() as session:
        linked = {u.staff_id for u in session.exec(select(User)).all() if u.staff_id}
        staff = next(s for s in session.exec(select(Staff)).all() if s.id not in linked)
        return staff.id


def test_an_admin_adds_a_user_who_can_then_sign_in(mark: int) -> None:
    browser = Browser("admin")
    browser.send(AdminAccessState.on_load)
    users = browser.of(AdminUsersState)
    staff_id = unlinked_staff_id()
    assert str(staff_id) in {c.id for c in users.staff_choices}
    version = users.form_version

    form = {
        "username": "Nurse.New",
        "role": "nurse",
        "staff_id": str(staff_id),
        "password": PASSWORD,
        "password_repeat": PASSWORD,
    }
    browser.send(AdminUsersState.create, form)

    assert users.error == ""
    assert users.notice.startswith("Added nurse.new (nurse)")
    assert users.form_version == version + 1  # the form is emptied
    assert "nurse.new" in {r.username for r in users.rows}
    assert str(staff_id) not in {c.id for c in users.staff_choices}  # linked now
    with session_scope() as session:
        user = session.exec(select(User).where(User.username == "nurse.new")).one()
        assert user.role == "nurse" and user.staff_id == staff_id and user.is_active
        signed_in = authenticate(
            session, "nurse.new", PASSWORD, settings=get_settings(), now=now(), origin=ORIGIN
        )
        assert signed_in.id == user.id
    created = [r for r in audit_rows_after(mark) if r.action == "user.created"]
    assert [(r.actor, r.record_id) for r in created] == [("admin", str(user.id))]


def test_add_user_errors_name_the_field_and_change_nothing(mark: int) -> None:
    browser = Browser("admin")
    browser.send(AdminAccessState.on_load)
    users = browser.of(AdminUsersState)
    good = {"username": "porter.one", "role": "nurse", "password": PASSWORD}
    cases = [
        ({**good, "username": "nurse.card"}, "Username: is already taken"),
        ({**good, "username": ""}, "Username: must be 1 to 64 characters"),
        ({**good, "role": "superuser"}, "Role: must be one of"),
        ({**good, "role": ""}, "Role: must be one of"),
        ({**good, "password": "short"}, "Initial password: must be at least 12 characters"),
        ({**good, "password": "porter.one-2026!"}, "Initial password: must not contain"),
        ({**good, "password_repeat": "something else"}, "Repeat the password: differs"),
        ({**good, "staff_id": "not-a-staff-id"}, "Staff member: no such staff member"),
        ({**good, "staff_id": str(uuid.uuid4())}, "Staff member: no such staff member"),
        (
            {**good, "staff_id": linked_staff_id("nurse.card")},
            "Staff member: already has an account",
        ),
    ]
    for form, expected in cases:
        form.setdefault("password_repeat", form["password"])
        browser.send(AdminUsersState.create, form)
        assert users.error.startswith(expected), (form, users.error)
        assert users.notice == ""
    with session_scope() as session:
        assert session.exec(select(User).where(User.username == "porter.one")).first() is None
    assert [r.action for r in audit_rows_after(mark) if r.action.startswith("user.")] == []


def linked_staff_id(username: str) -> str:
    with session_scope() as session:
        user = session.exec(select(User).where(User.username == username)).one()
        return str(user.staff_id)


def test_a_nurse_sending_add_user_is_refused_and_audited(mark: int) -> None:
    browser = Browser("nurse.card")
    form = {
        "username": "sneaky",
        "role": "admin",
        "password": PASSWORD,
        "password_repeat": PASSWORD,
    }
    browser.send(AdminUsersState.create, form)
    assert browser.of(AdminUsersState).error == actions.NOT_ALLOWED
    with session_scope() as session:
        assert session.exec(select(User).where(User.username == "sneaky")).first() is None
    assert denials(mark) == [("nurse.card", "admin")]
    with pytest.raises(actions.NotAllowed):
        actions.unlinked_staff(who("nurse.card"), ORIGIN, now())


def test_the_policy_editor_opens_refuses_with_field_errors_and_saves(mark: int) -> None:
    browser = Browser("admin")
    browser.send(AdminAccessState.on_load)
    policies = browser.of(AdminPoliciesState)
    row = next(r for r in policies.rows if r.name.startswith("Default P1"))
    version = policies.draft_version

    browser.send(AdminPoliciesState.edit, row.id)
    assert (policies.editing, policies.editing_name) == (row.id, row.name)
    assert policies.draft == row.definition and policies.draft_version == version + 1
    definition = json.loads(policies.draft)
    definition["steps"][1]["delay_seconds"] = -5
    bad = json.dumps(definition)
    browser.send(AdminPoliciesState.save, {"definition": bad})
    assert policies.error == "Not saved: correct the fields below."
    assert "steps[1].delay_seconds: must not be negative, got -5" in policies.field_errors
    assert policies.draft == bad and policies.editing == row.id  # kept for correcting

    definition["steps"][1]["delay_seconds"] = 100
    browser.send(AdminPoliciesState.save, {"definition": json.dumps(definition)})
    assert policies.error == "" and policies.field_errors == []
    assert policies.notice.startswith(f"Saved {row.name}.")
    assert policies.editing == "" and policies.draft == ""
    saved = next(r for r in policies.rows if r.id == row.id)
    assert "after 100 s: ward_role charge_nurse" in saved.steps

    browser.send(AdminPoliciesState.edit, "no-such-policy")
    assert policies.error == "policy: no such escalation policy" and policies.editing == ""
    assert denials(mark) == []


def test_the_rule_editor_changes_name_priority_state_and_thresholds(mark: int) -> None:
    browser = Browser("admin")
    browser.send(AdminAccessState.on_load)
    rules = browser.of(AdminRulesState)
    row = next(r for r in rules.rows if r.key == "spo2_low_scale2")

    browser.send(AdminRulesState.edit, row.key)
    assert (rules.editing, rules.draft_name, rules.draft) == (row.key, row.name, row.params)
    assert (rules.draft_priority, rules.draft_enabled) == (row.priority, row.enabled)
    form = {"name": row.name, "priority": row.priority, "enabled": "on", "params": "{ nope"}
    browser.send(AdminRulesState.save, form)
    assert rules.error.startswith("Not saved: params: not valid JSON (line 1")
    assert rules.draft == "{ nope" and rules.editing == row.key

    browser.send(AdminRulesState.save, {**form, "name": " ", "params": row.params})
    assert rules.error == "Not saved: name: must be 1 to 200 characters"

    browser.send(AdminRulesState.save, {**form, "priority": "P9", "params": row.params})
    assert rules.error.startswith("Not saved: priority: must be one of P0, P1")

    # unticked: the browser leaves "enabled" out of the form
    changed = {"name": "SpO2 low (Scale 2), checked", "priority": "P1", "params": row.params}
    browser.send(AdminRulesState.save, changed)
    assert rules.error == ""
    assert (
        rules.notice
        == "Saved SpO2 low (Scale 2), checked; the workers use it from their next batch."
    )
    assert rules.editing == ""
    saved = next(r for r in rules.rows if r.key == row.key)
    assert (saved.name, saved.priority, saved.enabled) == (changed["name"], "P1", False)
    assert saved.params == row.params
    with session_scope() as session:
        stored = session.exec(select(AlarmRule).where(AlarmRule.key == row.key)).one()
        assert (stored.name, stored.priority, stored.enabled) == (changed["name"], "P1", False)
        assert stored.updated_by == "admin"
    updated = [r for r in audit_rows_after(mark) if r.action == "rule.updated"]
    assert [(r.actor, r.record_id) for r in updated] == [("admin", row.key)]

    original = {"name": row.name, "priority": row.priority, "enabled": "on", "params": row.params}
    browser.send(AdminRulesState.save, original)  # the editor is closed: no rule to save
    assert rules.error.startswith("Not saved: rule: no alarm rule")
    browser.send(AdminRulesState.edit, row.key)
    assert (rules.draft_name, rules.draft_priority, rules.draft_enabled) == (
        changed["name"],
        "P1",
        False,
    )
    browser.send(AdminRulesState.save, original)
    restored = next(r for r in rules.rows if r.key == row.key)
    assert (restored.name, restored.priority, restored.enabled) == (row.name, row.priority, True)


def test_a_nurse_is_refused_each_editor_event_and_each_is_audited(mark: int) -> None:
    browser = Browser("nurse.card")
    for handler, args in [
        (AdminPoliciesState.edit, ("x",)),
        (AdminPoliciesState.cancel_edit, ()),
        (AdminPoliciesState.save, ({"definition": "{}"},)),
        (AdminRulesState.edit, ("news2_emergency",)),
        (AdminRulesState.cancel_edit, ()),
        (AdminRulesState.save, ({"name": "x", "priority": "P0", "params": "{}"},)),
        (AdminRulesState.set_enabled, ("news2_emergency", False)),
    ]:
        browser.send(handler, *args)
        assert actions.NOT_ALLOWED in browser.of(handler.state).error, handler
    assert denials(mark) == [("nurse.card", "admin")] * 7
