"""The admin page's actions on the real Postgres (healthguard/ui/admin_actions.py, what the
Reflex states call): the same services and audit rows as the API, and a non-admin who sends
the event is refused (audited as access.denied) with nothing changed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from authsupport import audit_rows_after, last_audit_id
from sqlmodel import col, select

from healthguard.db import session_scope
from healthguard.integrations import service as integrations
from healthguard.models import EscalationPolicy, Integration, UiSession, User
from healthguard.oncall.default_policies import InvalidPolicy
from healthguard.security.accounts import Origin, principal_of, start_ui_session
from healthguard.security.permissions import Principal
from healthguard.ui import admin_actions as actions

pytestmark = pytest.mark.integration

ORIGIN = Origin("127.0.0.1", "pytest")


def who(username: str) -> Principal:
    with session_scope() as session:
        return principal_of(session.exec(select(User).where(User.username == username)).one())


def now() -> datetime:
    return datetime.now(UTC)


def test_admin_creates_lists_and_revokes_an_integration(seeded: dict[str, int]) -> None:
    admin, mark = who("admin"), last_audit_id()
    form = {"name": "ICU gateway", "kind": "pagerduty", "severity_map": "critical=P2"}
    name, key = actions.create_integration(admin, form, ORIGIN, now())
    assert name == "ICU gateway" and len(key) == 32 and int(key, 16) >= 0
    rows = {r.name: r for r in actions.list_integrations(admin, ORIGIN, now())}
    row = rows["ICU gateway"]
    assert row.enabled and row.kind == "pagerduty"
    assert row.rule == "critical P2 · error P2 · warning P3 · info P4"
    assert key.startswith(row.key_prefix) and len(row.key_prefix) < len(key)
    with session_scope() as session:
        assert integrations.find_by_key(session, key, now=now(), kinds=("pagerduty",))

    assert actions.revoke_integration(admin, row.id, ORIGIN, now()) == "ICU gateway"
    with session_scope() as session:
        assert integrations.find_by_key(session, key, now=now(), kinds=("pagerduty",)) is None
    assert not {r.name: r for r in actions.list_integrations(admin, ORIGIN, now())}[name].enabled
    audited = [(r.actor, r.action) for r in audit_rows_after(mark)]
    assert ("admin", "integration.created") in audited
    assert ("admin", "integration.revoked") in audited


def test_bad_integration_input_names_the_field(seeded: dict[str, int]) -> None:
    admin = who("admin")
    cases = [
        ({"name": "", "kind": "generic"}, "name"),
        ({"name": "x1", "kind": "fax"}, "kind"),
        ({"name": "x2", "kind": "generic", "severity_map": "critical"}, "severity_map"),
        ({"name": "x3", "kind": "generic", "severity_map": "critical=P9"}, "severity_map"),
        ({"name": "x4", "kind": "generic", "default_ward_code": "NOPE"}, "default_ward_code"),
        ({"name": "x5", "kind": "heartbeat"}, "heartbeat_interval_seconds"),
        (
            {"name": "x6", "kind": "heartbeat", "heartbeat_interval_seconds": "soon"},
            "heartbeat_interval_seconds",
        ),
    ]
    for form, field in cases:
        with pytest.raises(actions.AdminInputError) as caught:
            actions.create_integration(admin, form, ORIGIN, now())
        assert caught.value.field == field, form
        assert str(caught.value).startswith(f"{field}: ")


def test_a_nurse_is_refused_every_admin_action_and_nothing_changes(seeded: dict[str, int]):
    admin, nurse = who("admin"), who("nurse.card")
    _, key = actions.create_integration(
        admin, {"name": "Lab feed", "kind": "generic"}, ORIGIN, now()
    )
    lab = {r.name: r for r in actions.list_integrations(admin, ORIGIN, now())}["Lab feed"]
    with session_scope() as session:
        policy = session.exec(
            select(EscalationPolicy).where(EscalationPolicy.priority == "P1")
        ).first()
        assert policy is not None
        policy_id, before = str(policy.id), dict(policy.definition)
        integrations_before = len(session.exec(select(Integration)).all())
    mark = last_audit_id()
    refused = [
        lambda: actions.list_integrations(nurse, ORIGIN, now()),
        lambda: actions.create_integration(
            nurse, {"name": "Evil", "kind": "generic"}, ORIGIN, now()
        ),
        lambda: actions.revoke_integration(nurse, lab.id, ORIGIN, now()),
        lambda: actions.list_accounts(nurse, ORIGIN, now()),
        lambda: actions.change_role(nurse, "nurse.card", "admin", ORIGIN, now()),
        lambda: actions.set_active(nurse, "charge.card", False, ORIGIN, now()),
        lambda: actions.list_policies(nurse, ORIGIN, now()),
        lambda: actions.save_policy(nurse, policy_id, '{"name": "x"}', ORIGIN, now()),
        lambda: actions.list_integrations(None, ORIGIN, now()),
    ]
    for attempt in refused:
        with pytest.raises(actions.NotAllowed):
            attempt()
    with session_scope() as session:
        assert len(session.exec(select(Integration)).all()) == integrations_before
        assert integrations.find_by_key(session, key, now=now(), kinds=("generic",)) is not None
        user = session.exec(select(User).where(User.username == "nurse.card")).one()
        assert user.role == "nurse"
        charge = session.exec(select(User).where(User.username == "charge.card")).one()
        assert charge.is_active
        stored = session.get(EscalationPolicy, policy.id)
        assert stored is not None and stored.definition == before
    rows = audit_rows_after(mark)
    assert [(r.action, r.outcome) for r in rows] == [("access.denied", "denied")] * len(refused)
    assert {r.actor for r in rows} == {"nurse.card", "anonymous"}


def test_admin_changes_a_role_and_deactivates_a_user(seeded: dict[str, int]) -> None:
    admin, mark = who("admin"), last_audit_id()
    accounts = {a.username: a for a in actions.list_accounts(admin, ORIGIN, now())}
    assert accounts["nurse.card"].role == "nurse" and accounts["nurse.card"].ward == "CARD"
    assert accounts["admin"].ward == "" and accounts["nurse.card"].active
    with session_scope() as session:
        user = session.exec(select(User).where(User.username == "nurse.med")).one()
        token = start_ui_session(session, user, now=now(), origin=ORIGIN)
        assert token

    actions.change_role(admin, "nurse.med", "charge_nurse", ORIGIN, now())
    with session_scope() as session:
        user = session.exec(select(User).where(User.username == "nurse.med")).one()
        assert user.role == "charge_nurse"
        open_sessions = session.exec(
            select(UiSession).where(UiSession.user_id == user.id, col(UiSession.ended_at).is_(None))
        ).all()
        assert open_sessions == []  # the new role applies at once
    with pytest.raises(actions.AdminInputError, match=r"^role: must be one of"):
        actions.change_role(admin, "nurse.med", "superuser", ORIGIN, now())
    with pytest.raises(actions.AdminInputError, match=r"^username: no user"):
        actions.change_role(admin, "nobody.here", "nurse", ORIGIN, now())
    with pytest.raises(actions.AdminInputError, match="own role"):
        actions.change_role(admin, "admin", "nurse", ORIGIN, now())
    with pytest.raises(actions.AdminInputError, match="own account"):
        actions.set_active(admin, "admin", False, ORIGIN, now())

    actions.set_active(admin, "nurse.med", False, ORIGIN, now())
    assert not {a.username: a for a in actions.list_accounts(admin, ORIGIN, now())}[
        "nurse.med"
    ].active
    actions.set_active(admin, "nurse.med", True, ORIGIN, now())
    actions.change_role(admin, "nurse.med", "nurse", ORIGIN, now())
    audited = [r.action for r in audit_rows_after(mark) if r.actor == "admin"]
    assert audited == ["user.updated", "user.locked", "user.unlocked", "user.updated"]


def test_admin_edits_a_policy_errors_name_the_field(seeded: dict[str, int]) -> None:
    admin, mark = who("admin"), last_audit_id()
    rows = actions.list_policies(admin, ORIGIN, now())
    p1 = next(r for r in rows if r.priority == "P1")
    assert p1.ward == "All wards"
    assert p1.steps[0] == "after 0 s: assignee" and "120 s" in p1.steps[1]
    edited = p1.definition.replace('"delay_seconds": 120', '"delay_seconds": -5')
    with pytest.raises(InvalidPolicy) as caught:
        actions.save_policy(admin, p1.id, edited, ORIGIN, now())
    assert [e.field for e in caught.value.errors] == ["steps[1].delay_seconds"]
    with pytest.raises(InvalidPolicy) as not_json:
        actions.save_policy(admin, p1.id, "{not json", ORIGIN, now())
    assert not_json.value.errors[0].field == "policy"

    valid = p1.definition.replace('"delay_seconds": 120', '"delay_seconds": 90')
    assert actions.save_policy(admin, p1.id, valid, ORIGIN, now()) == p1.name
    again = next(r for r in actions.list_policies(admin, ORIGIN, now()) if r.id == p1.id)
    assert "after 90 s" in again.steps[1]
    rows_after = audit_rows_after(mark)
    assert [(r.action, r.record_id) for r in rows_after] == [("policy.updated", p1.id)]


def test_admin_turns_a_rule_off_and_edits_its_thresholds(seeded: dict[str, int]) -> None:
    import redis

    from healthguard.alarms.rules import CACHE_KEY, cached_rules
    from workers.queues import redis_connection

    admin, nurse, mark = who("admin"), who("nurse.card"), last_audit_id()
    client: redis.Redis = redis_connection()
    rules = {r.key: r for r in actions.list_rules(admin, ORIGIN, now())}
    urgent = rules["news2_urgent"]
    assert urgent.enabled and urgent.thresholds == "min_total=5" and urgent.priority == "P2"
    with session_scope() as session:
        assert "news2_urgent" in {r.key for r in cached_rules(client, session, now=now())}
    assert client.exists(CACHE_KEY)

    assert actions.set_rule_enabled(admin, "news2_urgent", False, ORIGIN, now()) == urgent.name
    assert not client.exists(CACHE_KEY)  # invalidated: the workers reload on their next batch
    with session_scope() as session:
        assert "news2_urgent" not in {r.key for r in cached_rules(client, session, now=now())}

    with pytest.raises(actions.AdminInputError) as caught:
        actions.save_rule_thresholds(
            admin, "news2_urgent", '{"min_total": 5, "loud": 1}', ORIGIN, now()
        )
    assert caught.value.field == "params.loud"
    with pytest.raises(actions.AdminInputError) as not_json:
        actions.save_rule_thresholds(admin, "news2_urgent", "{min_total", ORIGIN, now())
    assert not_json.value.field == "params"
    with pytest.raises(actions.NotAllowed):
        actions.save_rule_thresholds(nurse, "news2_urgent", '{"min_total": 3}', ORIGIN, now())
    actions.save_rule_thresholds(admin, "news2_urgent", '{"min_total": 6}', ORIGIN, now())
    actions.set_rule_enabled(admin, "news2_urgent", True, ORIGIN, now())
    after = {r.key: r for r in actions.list_rules(admin, ORIGIN, now())}["news2_urgent"]
    assert after.enabled and after.thresholds == "min_total=6" and after.updated == "admin"
    audited = [(r.actor, r.action, r.record_id) for r in audit_rows_after(mark)]
    assert audited == [
        ("admin", "rule.updated", "news2_urgent"),
        ("nurse.card", "access.denied", "admin"),
        ("admin", "rule.updated", "news2_urgent"),
        ("admin", "rule.updated", "news2_urgent"),
    ]


def test_the_api_puts_rules_through_the_same_service(seeded: dict[str, int]) -> None:
    from authsupport import CheckedClient, bearer, fresh_tokens

    from healthguard.api import build_api

    token, _ = fresh_tokens("admin")
    with CheckedClient(build_api()) as client:
        bad = client.put(
            "/api/v1/alarm-rules/news2_red_score",
            json={"name": "Red", "kind": "news2", "priority": "P2", "params": {"loud": 1}},
            headers=bearer(token),
        )
        assert bad.status_code == 422 and "params.loud" in bad.text
        bad_key = client.put(
            "/api/v1/alarm-rules/no%20spaces",
            json={"name": "x", "kind": "news2", "priority": "P2", "params": {}},
            headers=bearer(token),
        )
        assert bad_key.status_code == 422 and "key:" in bad_key.text
        good = client.put(
            "/api/v1/alarm-rules/news2_red_score",
            json={
                "name": "Red score",
                "kind": "news2",
                "priority": "P2",
                "params": {"red_flag": True},
            },
            headers=bearer(token),
        )
        assert good.status_code == 200, good.text
        assert good.json()["updated_by"] == "admin" and good.json()["name"] == "Red score"
