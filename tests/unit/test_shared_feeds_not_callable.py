"""The live feeds shared between browsers are reloaded by the server only. Reflex makes every
public method of a state an event a browser can send (with any arguments), so a public
`reload(ward_code)` would let one browser load another ward's incidents into a feed other
screens show. Only `follow` (which checks the signed-in person) may be public."""

from __future__ import annotations

import pytest
import reflex as rx

from healthguard.ui.states.feed import WardFeed
from healthguard.ui.states.my_alarms import MyAlarmsFeed

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("feed", "checked_actions"),
    [(WardFeed, set()), (MyAlarmsFeed, set())],
)
def test_a_browser_can_only_follow_a_shared_feed(feed: type, checked_actions: set[str]) -> None:
    # Reflex's generic `setvar` calls a var's `set_<name>` setter: with none (no automatic
    # setters in rxconfig), it can set nothing.
    allowed = {"follow", "setvar", *checked_actions}
    assert set(feed.event_handlers) <= allowed, set(feed.event_handlers)
    inherited = set(dir(rx.State))
    assert not [n for n in dir(feed) if n.startswith("set_") and n not in inherited]
