"""Build the Reflex app: pages, the REST API (api_transformer) and the realtime listener."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
import reflex as rx
from redis.exceptions import RedisError

from healthguard.api import build_api
from healthguard.patients.actions import ALARM_PAUSE_CHANGED
from healthguard.realtime import ChangeEvent, ChangeListener, feed_tokens_for
from healthguard.realtime.coalesce import CoalescedReloads
from healthguard.realtime.events import (
    ALL_WARDS_FEED,
    NOTIFICATION_EVENT_PREFIX,
    VITALS_UPDATED,
    staff_feed_token,
    ward_feed_token,
)
from healthguard.realtime.followed import followed_recently
from healthguard.realtime.metrics import FEED_RELOAD_SECONDS, FEED_RELOADS, REALTIME_EVENTS
from healthguard.security.headers import security_headers
from healthguard.settings import get_settings
from healthguard.ui import routes, styles
from healthguard.ui.pages.admin import admin as admin_page
from healthguard.ui.pages.audit import audit
from healthguard.ui.pages.dashboard import dashboard
from healthguard.ui.pages.incident import incident_page
from healthguard.ui.pages.login import login
from healthguard.ui.pages.my_alarms import my_alarms
from healthguard.ui.pages.patient import patient_page
from healthguard.ui.pages.staff import staff
from healthguard.ui.states.admin_access import AdminAccessState
from healthguard.ui.states.audit import AuditState
from healthguard.ui.states.auth import AuthState
from healthguard.ui.states.dashboard import DashboardState
from healthguard.ui.states.feed import WardFeed, ward_code_of_token
from healthguard.ui.states.incident_detail import IncidentDetailState
from healthguard.ui.states.my_alarms import MyAlarmsFeed, MyAlarmsState, staff_of_token
from healthguard.ui.states.patient_detail import PatientDetailState
from healthguard.ui.states.staff import StaffPageState

log = logging.getLogger(__name__)

RESYNC_CLAIM_KEY = "healthguard:resync-claim"


# One reload of a feed at a time in this process: a shared state's reload also updates every
# linked browser's state under Reflex's Redis locks, and concurrent reloads of one feed (the
# coalesced vital-sign and incident reloads run as tasks) made those locks expire.
_FEED_LOCKS: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)


async def refresh_feed(token: str, part: str = "all") -> None:
    """Reload one shared feed (or one part of it: FEED_PARTS) from Postgres; Reflex pushes
    the delta to linked browsers."""
    async with _FEED_LOCKS[token]:
        await _refresh_feed(token, part)


async def refresh_queue(token: str) -> None:
    """An incident changed: reload the feed's incident queue only."""
    await refresh_feed(token, "queue")


async def refresh_beds(token: str) -> None:
    """Vital signs or an alarm pause changed: reload the feed's bed board only."""
    await refresh_feed(token, "beds")


async def _refresh_feed(token: str, part: str) -> None:
    with FEED_RELOAD_SECONDS.time():
        async with app.modify_state(rx.BaseStateToken(ident=token, cls=WardFeed)) as state:
            feed = await state.get_state(WardFeed)
            await feed._reload(ward_code_of_token(token), part)
    FEED_RELOADS.inc()


# The coalesced reloads of this process, made on first use (the settings are read then):
# {name: CoalescedReloads}. Vital signs reload a bed board at most every 2 s; incident
# changes, alarm pauses (someone's action) and a person's own feed ("my alarms", the bell;
# token: the staff id) at once after a quiet spell, then at most every 0.25 s in a burst
# (an integration storm, hundreds of changes a second).
_RELOADS: dict[str, CoalescedReloads] = {}


def _coalesced(
    name: str, reload: Callable[[str], Awaitable[None]], interval: float
) -> CoalescedReloads:
    if name not in _RELOADS:
        _RELOADS[name] = CoalescedReloads(reload, min_interval=interval)
    return _RELOADS[name]


def vitals_reloads() -> CoalescedReloads:
    return _coalesced("vitals", refresh_beds, get_settings().realtime_vitals_reload_seconds)


def incident_reloads() -> CoalescedReloads:
    return _coalesced("incidents", refresh_queue, get_settings().realtime_incident_reload_seconds)


def pause_reloads() -> CoalescedReloads:
    return _coalesced("pauses", refresh_beds, get_settings().realtime_incident_reload_seconds)


def staff_reloads() -> CoalescedReloads:
    interval = get_settings().realtime_incident_reload_seconds
    return _coalesced("staff", _refresh_staff_of_token, interval)


async def _refresh_staff_of_token(token: str) -> None:
    await refresh_staff_feed(uuid.UUID(token))


async def refresh_staff_feed(staff_id: uuid.UUID) -> None:
    """Reload one person's "my alarms" feed (the phone view)."""
    ident = staff_feed_token(staff_id)
    async with _FEED_LOCKS[ident]:
        await _refresh_staff_feed(staff_id, ident)


async def _refresh_staff_feed(staff_id: uuid.UUID, ident: str) -> None:
    async with app.modify_state(rx.BaseStateToken(ident=ident, cls=MyAlarmsFeed)) as state:
        feed = await state.get_state(MyAlarmsFeed)
        await feed._reload(staff_id)


def staff_concerned(incident_id: str) -> list[uuid.UUID]:
    """The people whose "my alarms" list shows this incident: notified about it or assigned."""
    from healthguard.db import session_scope
    from healthguard.incidents.service import staff_concerned_by

    try:
        incident = uuid.UUID(incident_id)
    except ValueError:
        return []
    with session_scope() as session:
        return staff_concerned_by(session, incident)


async def on_change(event: ChangeEvent) -> None:
    REALTIME_EVENTS.labels(kind=event.kind).inc()
    if event.kind == ALARM_PAUSE_CHANGED:  # a person's action: shown at once
        for token in feed_tokens_for(event):
            pause_reloads().request(token)
        return
    if event.kind == VITALS_UPDATED:
        for token in feed_tokens_for(event):
            vitals_reloads().request(token)
        return
    if event.kind.startswith(NOTIFICATION_EVENT_PREFIX):  # entity_id: the person notified
        staff_id = staff_of_token(staff_feed_token(event.entity_id))
        if staff_id is not None:
            staff_reloads().request(str(staff_id))
        return
    for token in feed_tokens_for(event):
        incident_reloads().request(token)
    if event.kind.startswith("incident."):
        for staff_id in await asyncio.to_thread(staff_concerned, event.entity_id):
            staff_reloads().request(str(staff_id))


async def on_connected() -> None:
    """After (re)subscribing, catch up on anything published while we were away: every
    ward feed, then the own feed (my alarms, bell) of each person followed lately."""
    try:
        wards = await asyncio.to_thread(_ward_codes)
    except Exception:
        log.warning("realtime: could not list wards for the catch-up reload", exc_info=True)
        wards = []
    for token in [ALL_WARDS_FEED, *(ward_feed_token(code) for code in wards)]:
        await refresh_feed(token)
    for staff_id in await _followed_staff():
        try:
            await refresh_staff_feed(staff_id)
        except Exception:
            log.warning("realtime: could not resync the feed of staff %s", staff_id, exc_info=True)


async def _followed_staff() -> list[uuid.UUID]:
    settings = get_settings()
    client = aioredis.Redis.from_url(settings.effective_redis_url())
    try:
        return await followed_recently(client, settings.realtime_followed_feed_hours * 3600)
    except (RedisError, OSError):
        log.warning("realtime: could not list the followed staff feeds", exc_info=True)
        return []
    finally:
        await client.aclose()


def _ward_codes() -> list[str]:
    from healthguard.db import session_scope
    from healthguard.wards.service import list_wards

    with session_scope() as session:
        return [w.code for w in list_wards(session)]


async def realtime_listener() -> None:
    settings = get_settings()
    listener = ChangeListener(
        redis_url=settings.effective_redis_url(),
        channel=settings.realtime_channel,
        on_event=on_change,
        on_connected=on_connected,
        claim_ttl_seconds=settings.realtime_claim_ttl_seconds,
        max_backoff_seconds=settings.realtime_max_backoff_seconds,
    )
    try:
        await listener.run()
    except asyncio.CancelledError:
        log.info("realtime listener stopped")
        raise


def allowed_socket_origin(origin: str | None, environ: dict) -> bool:
    """Websocket origin check: the page's own origin, or one of HEALTHGUARD_CORS_ORIGINS."""
    if not origin:
        return True  # not a browser
    host = environ.get("HTTP_HOST", "")
    forwarded = environ.get("HTTP_X_FORWARDED_HOST", "")
    own = {f"{scheme}://{h}" for scheme in ("http", "https") for h in (host, forwarded) if h}
    return origin in own or origin in get_settings().cors_origins


async def periodic_resync() -> None:
    """Safety net: every few seconds one web worker (whichever claims the period) reloads
    every feed, so a lost change event delays a screen by at most that long."""
    settings = get_settings()
    interval = settings.realtime_resync_seconds
    client = aioredis.Redis.from_url(settings.effective_redis_url())
    try:
        while True:
            await asyncio.sleep(interval)
            try:
                claimed = await client.set(RESYNC_CLAIM_KEY, "1", nx=True, px=int(interval * 900))
            except (RedisError, OSError):
                continue  # the listener reports Redis problems and resyncs on reconnect
            if claimed:
                await on_connected()
    finally:
        await client.aclose()


app = rx.App(
    # The REST API wraps the Reflex app; the security headers wrap both.
    api_transformer=[build_api(), security_headers],
    style=styles.GLOBAL_STYLE,
    head_components=[
        rx.el.meta(name="theme-color", content=styles.HEADER_BG),
        # Installable on a phone's home screen (opens /my); see assets/manifest.webmanifest.
        rx.el.link(rel="manifest", href="/manifest.webmanifest"),
        rx.el.link(rel="apple-touch-icon", href="/icons/icon-192.png"),
        # On every page: "Sign out" deletes what /my kept on the phone for offline use.
        rx.el.script(src="/offline.js", async_=True),
    ],
)
app.add_page(
    dashboard,
    route=routes.DASHBOARD,
    title="Dashboard · HealthGuard Ops",
    on_load=DashboardState.on_load,
)
app.add_page(
    login, route=routes.LOGIN, title="Sign in · HealthGuard Ops", on_load=AuthState.on_login_page
)
app.add_page(
    audit, route=routes.AUDIT, title="Audit log · HealthGuard Ops", on_load=AuditState.on_load
)
app.add_page(
    my_alarms,
    route=routes.MY_ALARMS,
    title="My alarms · HealthGuard Ops",
    on_load=MyAlarmsState.on_load,
)
app.add_page(
    staff,
    route=routes.STAFF,
    title="Staff and schedules · HealthGuard Ops",
    on_load=StaffPageState.on_load,
)
app.add_page(
    incident_page,
    route=routes.INCIDENT,
    title="Incident · HealthGuard Ops",
    on_load=IncidentDetailState.on_load,
)
app.add_page(
    patient_page,
    route=routes.PATIENT,
    title="Patient · HealthGuard Ops",
    on_load=PatientDetailState.on_load,
)
app.add_page(
    admin_page,
    route=routes.ADMIN,
    title="Administration · HealthGuard Ops",
    on_load=AdminAccessState.on_load,  # one check per visit, then each section's loader
)
if app.sio is not None:
    # Websockets: same origin (whatever host name a tablet used) plus the configured ones.
    app.sio.eio.cors_allowed_origins = allowed_socket_origin
app.register_lifespan_task(realtime_listener)
app.register_lifespan_task(periodic_resync)
