"""The sign-in form's state, its handlers run in-process on the real Postgres: a refusal
just given survives an on_load of the sign-in page that arrives after it (a quick sign-in
on a busy machine reaches the server before the on_load of the redirect to /login), and a
refusal from an earlier visit is cleared."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import reflex as rx

from healthguard.ui.states import auth
from healthguard.ui.states.auth import AuthState

pytestmark = pytest.mark.integration

REFUSED = "Sign-in failed: check the username and password."


def sign_in_state() -> Any:
    root = rx.State(_reflex_internal_init=True)
    return root.get_substate(AuthState._get_substate_path())


async def run(handler: Any, state: Any, *args: Any) -> None:
    result = handler.fn(state, *args)
    if hasattr(result, "__aiter__"):
        async for _ in result:
            pass
    else:
        await result


def test_a_refusal_just_given_survives_a_late_on_load(seeded: dict[str, int]) -> None:
    state = sign_in_state()
    form = {"username": "charge.card", "password": "not the password"}
    asyncio.run(run(AuthState.login, state, form))
    assert state.login_error == REFUSED
    asyncio.run(run(AuthState.on_login_page, state))
    assert state.login_error == REFUSED


def test_a_refusal_from_an_earlier_visit_is_cleared(seeded: dict[str, int]) -> None:
    state = sign_in_state()
    asyncio.run(run(AuthState.login, state, {"username": "", "password": ""}))
    assert state.login_error == "Enter your username and password."
    state._login_error_at -= auth.LOGIN_ERROR_KEPT_SECONDS + 1  # the person came back later
    asyncio.run(run(AuthState.on_login_page, state))
    assert state.login_error == ""
