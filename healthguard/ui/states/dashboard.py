"""The dashboard's private state: which ward this browser is looking at."""

from __future__ import annotations

import asyncio
import dataclasses

import reflex as rx

from healthguard.db import session_scope
from healthguard.ui.states.feed import WardFeed
from healthguard.wards.service import list_wards

ALL_WARDS = "ALL"


@dataclasses.dataclass
class WardOption:
    code: str = ""
    name: str = ""


def _load_wards() -> list[WardOption]:
    with session_scope() as session:
        return [WardOption(code=w.code, name=w.name) for w in list_wards(session)]


class DashboardState(rx.State):
    wards: list[WardOption] = []
    selected_ward: str = ALL_WARDS
    error: str = ""

    @rx.event
    async def on_load(self):
        try:
            self.wards = await asyncio.to_thread(_load_wards)
            self.error = ""
        except Exception:
            self.error = "The ward list could not be loaded; is the database running?"
        requested = (self.router.url.query_parameters.get("ward") or "").upper()
        codes = {w.code for w in self.wards}
        if requested in codes or requested == ALL_WARDS:
            self.selected_ward = requested
        elif self.selected_ward not in codes:
            self.selected_ward = ALL_WARDS
        return WardFeed.follow(self._feed_ward())

    @rx.event
    def select_ward(self, code: str):
        code = code.upper()
        if code != ALL_WARDS and code not in {w.code for w in self.wards}:
            self.error = f"Unknown ward {code}."
            return None
        self.selected_ward = code
        self.error = ""
        return WardFeed.follow(self._feed_ward())

    def _feed_ward(self) -> str:
        return "" if self.selected_ward == ALL_WARDS else self.selected_ward

    @rx.var
    def selected_ward_name(self) -> str:
        for ward in self.wards:
            if ward.code == self.selected_ward:
                return ward.name
        return "All wards"
