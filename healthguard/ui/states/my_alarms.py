"""My alarms (the phone's quick-action view): the open incidents the signed-in person was
notified about or is assigned to, live, with ACK / ESCALATE / DECLINE.

One shared feed per staff member (token ``staff-<id>``), reloaded by a web worker when a
change event concerns one of its incidents; each answer goes through the one service
function every channel uses (healthguard.notify.answers.answer), checked on the server.

The same feed carries the header's notification bell (healthguard.ui.components.
notification_bell): my unread alarms, the highest unread priority, the newest unread P0/P1
(the alarm tone's key) and my recent notifications, loaded with the incidents in one thread
call (``load_my_feed``) and reloaded on the same change events, so a browser follows one
shared state per person, not two."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
import reflex as rx
from redis.exceptions import RedisError

from healthguard.db import session_scope
from healthguard.incidents.priority import PRIORITY_STYLES
from healthguard.incidents.service import list_open_incidents
from healthguard.notify.bell import BellItem, BellSnapshot, bell_snapshot
from healthguard.notify.delivery import answer_links
from healthguard.notify.service import my_notifications
from healthguard.realtime.events import staff_feed_token
from healthguard.realtime.followed import remember_followed
from healthguard.security.permissions import Permission, Principal, allows
from healthguard.security.tokens import issue_access_token
from healthguard.settings import Settings, get_settings
from healthguard.ui.states.auth import AuthState
from healthguard.ui.states.feed import IncidentCardData, incident_card

ANSWERS = {"acknowledge", "escalate", "decline"}

log = logging.getLogger(__name__)


def load_my_alarms(staff_id: uuid.UUID) -> list[IncidentCardData]:
    """The person's open incidents, P0 first (blocking: call through a thread)."""
    with session_scope() as session:
        return [incident_card(r) for r in list_open_incidents(session, for_staff=staff_id)]


#: My notifications read per reload (newest first) for the bell.
BELL_ROWS_PER_RELOAD = 100


def load_my_feed(staff_id: uuid.UUID) -> tuple[list[IncidentCardData], BellSnapshot]:
    """My open incidents and my bell, in one session (blocking: call through a thread)."""
    now = datetime.now(UTC)
    with session_scope() as session:
        cards = [incident_card(r) for r in list_open_incidents(session, for_staff=staff_id)]
        found = my_notifications(session, staff_id, limit=BELL_ROWS_PER_RELOAD)
    patients = {c.id: c.patient for c in cards if c.patient}
    zone = ZoneInfo(get_settings().timezone)
    return cards, bell_snapshot(found, zone, now, patients)


async def stamp_followed(staff_id: uuid.UUID) -> None:
    """Tell the periodic resync that a browser follows this person's feed (see
    healthguard.realtime.followed). Redis being away only costs the safety net: logged."""
    client = aioredis.Redis.from_url(get_settings().effective_redis_url())
    try:
        await remember_followed(client, staff_id)
    except (RedisError, OSError):
        log.warning("could not record that staff %s follows their feed", staff_id, exc_info=True)
    finally:
        await client.aclose()


def staff_of_token(token: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(token.removeprefix("staff-"))
    except ValueError:
        return None


class MyAlarmsFeed(rx.SharedState):
    """One staff member's open incidents, shared by every browser of that person."""

    incidents: list[IncidentCardData] = []
    loaded_at: str = ""
    load_error: str = ""
    # The bell (healthguard.notify.bell.bell_snapshot): unread alarms, not messages.
    bell_items: list[BellItem] = []
    bell_unread: int = 0
    bell_top_priority: str = ""
    bell_tone_key: str = ""

    async def _reload(self, staff_id: uuid.UUID) -> None:
        """Reload from Postgres (private: a public method would be an event handler any
        browser could call with somebody else's staff id)."""
        try:
            incidents, bell = await asyncio.to_thread(load_my_feed, staff_id)
        except Exception:  # keep showing the last known list
            self.load_error = "Could not reach the database; showing the last known list."
            return
        self.incidents = incidents
        self.bell_items = bell.items
        self.bell_unread = bell.unread
        self.bell_top_priority = bell.top_priority
        self.bell_tone_key = bell.tone_key
        self.load_error = ""
        self.loaded_at = datetime.now(UTC).isoformat()

    def _links_first(self, token: str) -> None:
        """Put this feed first in the browser's linked feeds. Reflex locks a browser's
        linked shared states in the order they were linked; a page that links the ward feed
        and this one in a different order from another page of the same person could make
        two events wait for each other's lock until it expires. One fixed order avoids it."""
        links = self._reflex_internal_links
        if links is None:
            return
        name = self.get_full_name()
        others = [(k, v) for k, v in links.items() if k != name]
        if name in links and not others:
            return
        links.clear()
        links[name] = token
        links.update(others)

    @rx.event
    async def follow(self):
        """Link this browser to the signed-in person's own feed (never anybody else's)."""
        auth = await self.get_state(AuthState)
        principal = await auth.current_principal()
        if principal is None:
            return rx.redirect("/login")
        if principal.staff_id is None:
            return None
        staff_id = uuid.UUID(principal.staff_id)
        token = staff_feed_token(staff_id)
        if self._linked_to != token:
            self._links_first(token)
        feed = await self._link_to(token)
        await feed._reload(staff_id)
        await stamp_followed(staff_id)

    @rx.var
    def open_count(self) -> int:
        return len(self.incidents)

    @rx.var
    def bell_colour(self) -> str:
        """IEC 60601-1-8 colour of the highest unread priority (also shown in words)."""
        style = PRIORITY_STYLES.get(self.bell_top_priority)
        return style.colour if style else "cyan"

    @rx.var
    def bell_count_text(self) -> str:
        return "99+" if self.bell_unread > 99 else str(self.bell_unread)

    @rx.var
    def bell_summary(self) -> str:
        """The bell's words (its accessible name and tooltip)."""
        if self.bell_unread == 0:
            return "Notifications: none unread"
        style = PRIORITY_STYLES.get(self.bell_top_priority)
        plural = "s" if self.bell_unread != 1 else ""
        highest = f", highest {style.label}" if style else ""
        return f"Notifications: {self.bell_unread} unread alarm{plural}{highest}"


def push_api_token(principal: Principal) -> str:
    """A short-lived API access token of the signed-in person for the page's "Turn on alerts
    on this phone" control (assets/push.js), which calls the push-subscription routes; the
    routes check the permissions. Empty for a person without a staff record."""
    if principal.kind != "user" or principal.staff_id is None:
        return ""
    settings = get_settings()
    return issue_access_token(
        user_id=principal.id,
        role=principal.role or "",
        key=settings.secret("secret_key"),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.access_token_ttl_seconds,
        now=datetime.now(UTC),
    )


#: What the offline list of /my (assets/offline.js) may answer for each status shown.
OFFLINE_ANSWERS = {
    "Not acknowledged": ("acknowledge", "escalate", "decline"),
    "Acknowledged": ("escalate",),
}


def offline_kit(
    cards: list[IncidentCardData],
    *,
    user_id: str,
    staff_id: uuid.UUID,
    settings: Settings,
    now: datetime,
) -> dict[str, Any]:
    """The last known list for the phone to keep for when the network drops
    (assets/offline.js): the cards as shown (patient initials only) and, per card and
    answer, a single-use answer token of this person (the same tokens as an email's or a
    push notification's buttons: one person, one incident, one action, used once, valid
    ``answer_link_minutes``). Nothing else: no API token, no patient name."""
    alarms = []
    for card in cards:
        links = answer_links(settings, uuid.UUID(card.id), staff_id, card.priority, now)
        tokens = {
            action: parse_qs(urlsplit(getattr(links, action)).query)["token"][0]
            for action in OFFLINE_ANSWERS.get(card.status, ())
        }
        alarms.append(
            {
                "id": card.id,
                "number": card.number,
                "priority": card.priority,
                "priority_label": card.priority_label,
                "title": card.title,
                "location": card.location,
                "patient": card.patient,
                "status": card.status,
                "opened_at": card.opened_at,
                "answers": tokens,
            }
        )
    return {
        "version": 1,
        "user": user_id,
        "updated_at": now.isoformat(),
        "expires_at": (now + timedelta(minutes=settings.answer_link_minutes)).isoformat(),
        "timezone": settings.timezone,
        "alarms": alarms,
    }


def load_offline_kit(principal: Principal) -> str:
    """The signed-in person's offline kit as JSON, or "" without a staff record (blocking:
    call through a thread)."""
    if principal.kind != "user" or principal.staff_id is None:
        return ""
    staff_id = uuid.UUID(principal.staff_id)
    kit = offline_kit(
        load_my_alarms(staff_id),
        user_id=principal.id,
        staff_id=staff_id,
        settings=get_settings(),
        now=datetime.now(UTC),
    )
    return json.dumps(kit, separators=(",", ":"))


class MyAlarmsState(rx.State):
    message: str = ""
    error: str = ""
    no_staff: bool = False
    #: For assets/push.js only (see push_api_token); renewed on each tap of the control.
    push_token: str = ""
    #: For assets/offline.js only (see offline_kit): the last known list and its single-use
    #: answer tokens, kept on the phone for when the network drops.
    offline_kit: str = ""

    @rx.event
    async def on_load(self):
        auth = await self.get_state(AuthState)
        principal = await auth.current_principal()
        if principal is None or not allows(principal, Permission.INCIDENTS_READ):
            return rx.redirect("/login")
        self.no_staff = principal.staff_id is None
        self.message = ""
        self.push_token = push_api_token(principal)
        self.offline_kit = await asyncio.to_thread(load_offline_kit, principal)
        return MyAlarmsFeed.follow()

    @rx.event
    async def renew_offline_kit(self):
        """A fresh offline kit for the signed-in person (never anybody else's): asked by
        assets/offline.js when the list on the screen changed or its tokens get old."""
        auth = await self.get_state(AuthState)
        principal = await auth.current_principal()
        if principal is None or not allows(principal, Permission.INCIDENTS_READ):
            self.offline_kit = ""
            return None
        self.offline_kit = await asyncio.to_thread(load_offline_kit, principal)
        return None

    @rx.event
    async def renew_push_token(self):
        """A fresh token for the push control (a tap on it), so a page open all shift works."""
        auth = await self.get_state(AuthState)
        principal = await auth.current_principal()
        if principal is None:
            self.push_token = ""
            return rx.redirect("/login")
        self.push_token = push_api_token(principal)
        return None

    @rx.event
    async def answer(self, incident_id: str, action: str):
        """ACK / ESCALATE / DECLINE from the phone: the same service as SMS, email and push."""
        from healthguard.notify.answers import answer

        auth = await self.get_state(AuthState)
        principal = await auth.current_principal()
        if principal is None:
            return rx.redirect("/login")
        if action not in ANSWERS or principal.staff_id is None:
            self.message = "That answer is not possible here."
            return None
        staff_id = principal.staff_id
        origin = auth._origin()

        def act() -> str:
            try:
                target = uuid.UUID(incident_id)
            except ValueError:
                return "No such incident."
            with session_scope() as session:
                result = answer(
                    session,
                    staff_id=staff_id,
                    incident_id=target,
                    action=action,
                    via="app",
                    now=datetime.now(UTC),
                    origin=origin,
                )
            return result.message

        self.message = await asyncio.to_thread(act)
        return None
