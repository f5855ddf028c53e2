"""The admin page's pure parts: the severity map typed in the form, the severity rule and a
policy's steps in words, and the handlers the admin states expose to browsers."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from healthguard.oncall.default_policies import DEFAULT_POLICIES, InvalidPolicy
from healthguard.oncall.policy_admin import PolicyInfo
from healthguard.ui import admin_actions as actions


def test_severity_map_from_the_form() -> None:
    assert actions.parse_severity_map("") == {}
    assert actions.parse_severity_map(" Critical = p2 ; warning=P4, ") == {
        "critical": "P2",
        "warning": "P4",
    }
    for bad in ("critical", "=P1", "critical="):
        with pytest.raises(actions.AdminInputError) as caught:
            actions.parse_severity_map(bad)
        assert caught.value.field == "severity_map"


def test_severity_rule_in_words() -> None:
    assert actions.severity_rule({}, False) == "critical P1 · error P2 · warning P3 · info P4"
    assert actions.severity_rule({"critical": "P0"}, True).startswith("critical P0 · error P2")


def test_policy_in_words() -> None:
    p0 = DEFAULT_POLICIES["P0"].to_json()
    info = PolicyInfo("id-1", "Default P0", "P0", "", 0, p0, datetime(2026, 1, 1, tzinfo=UTC))
    row = actions.policy_row(info)
    assert row.ward == "All wards" and row.priority == "P0" and row.repeat == "no repeat"
    assert row.steps[0].startswith("after 0 s: team rapid_response, ward_role charge_nurse")
    assert "(again every 30 s)" in row.steps[0]
    assert json.loads(row.definition) == p0
    repeating = {**p0, "repeat_count": 2, "repeat_from_step": 1, "repeat_after_seconds": 60}
    ward_row = actions.policy_row(
        PolicyInfo("id-2", "ICU P0", "P0", "ICU", 2, repeating, info.updated_at)
    )
    assert ward_row.ward == "ICU"
    assert ward_row.repeat == "repeats 2 times from step 1, 60 s after the last step"


def test_policy_json_errors_name_the_line() -> None:
    with pytest.raises(InvalidPolicy) as caught:
        actions.parse_policy_json('{\n  "name": "x",\n  steps: []\n}')
    assert caught.value.errors[0].field == "policy"
    assert "line 3" in caught.value.errors[0].message
    assert actions.parse_policy_json('{"name": "x"}') == {"name": "x"}


def test_admin_states_expose_only_checked_handlers() -> None:
    """Reflex makes every public method an event a browser can send: each of these checks the
    admin permission again (helpers are private)."""
    from healthguard.ui.states.admin_access import AdminAccessState
    from healthguard.ui.states.admin_integrations import AdminIntegrationsState
    from healthguard.ui.states.admin_policies import AdminPoliciesState
    from healthguard.ui.states.admin_rules import AdminRulesState
    from healthguard.ui.states.admin_users import AdminUsersState

    assert set(AdminAccessState.event_handlers) <= {"on_load", "setvar"}
    assert set(AdminIntegrationsState.event_handlers) <= {
        "on_load", "create", "ask_revoke", "cancel_revoke", "revoke", "setvar"
    }  # fmt: skip
    assert set(AdminUsersState.event_handlers) <= {
        "on_load", "create", "change_role", "ask_deactivate", "cancel_deactivate", "set_active",
        "setvar",
    }  # fmt: skip
    assert set(AdminPoliciesState.event_handlers) <= {
        "on_load", "edit", "cancel_edit", "save", "setvar"
    }  # fmt: skip
    assert set(AdminRulesState.event_handlers) <= {
        "on_load", "set_enabled", "edit", "cancel_edit", "save", "setvar"
    }  # fmt: skip
