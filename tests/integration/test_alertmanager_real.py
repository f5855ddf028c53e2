"""A real Prometheus Alertmanager (the Debian package ``prometheus-alertmanager``) with a
webhook receiver pointed at our API creates an incident for a firing alert and resolves it
when the alert ends; and the same Alertmanager's own PagerDuty notifier (``pagerduty_configs``,
a stock Events API v2 client) pointed at our ``/v2/enqueue`` does too.

Our API (``build_api()``) is served by Granian's embedded server in a background thread on a
free loopback port; Alertmanager runs as a child process with clustering off, also on
loopback. Alerts are posted to Alertmanager's own API (``/api/v2/alerts``), as Prometheus
does. Every wait is a condition with a timeout. The binary is required: without it this
test fails saying how to install it (``.ci/run`` installs it)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select
from testsupport import free_port

from healthguard.api import build_api
from healthguard.db import session_scope
from healthguard.integrations import service as svc
from healthguard.integrations.alertmanager import alert_fingerprint, dedup_key_for
from healthguard.models import Incident
from healthguard.models.integrations import InboundEventLog
from healthguard.runtime.embedded import wait_until
from healthguard.security.accounts import Origin

pytestmark = pytest.mark.integration

ALERTMANAGER = "prometheus-alertmanager"
INSTALL_HINT = (
    "the real-Alertmanager test needs the Debian package prometheus-alertmanager "
    "(/usr/bin/prometheus-alertmanager): install it with "
    "`sudo apt-get install -y --no-install-recommends prometheus-alertmanager` "
    "(.ci/run does this on CI)"
)
WAIT_SECONDS = 60


def alertmanager_binary() -> str:
    found = shutil.which(ALERTMANAGER) or (
        f"/usr/bin/{ALERTMANAGER}" if os.access(f"/usr/bin/{ALERTMANAGER}", os.X_OK) else None
    )
    if found is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    return found


@pytest.fixture(scope="module")
def api_url(seeded: dict[str, int]) -> Iterator[str]:
    """Our API served over real HTTP (Granian, embedded, in a thread) on a free port."""
    from granian.constants import Interfaces
    from granian.server.embed import Server

    port = free_port()
    server = Server(
        build_api(), address="127.0.0.1", port=port, interface=Interfaces.ASGI, log_enabled=False
    )
    loop = asyncio.new_event_loop()
    failure: list[BaseException] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.serve())
        except BaseException as exc:  # reported by the readiness wait below
            failure.append(exc)

    thread = threading.Thread(target=serve, name="granian-api", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: _answers(f"{base}/healthz"), WAIT_SECONDS), (
            f"the API did not start on {base}: {failure}"
        )
        yield base
    finally:
        loop.call_soon_threadsafe(server.stop)
        thread.join(30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _integration(kind: str) -> tuple[str, str]:
    """(id, key) of a new integration of the ICU."""
    with session_scope() as session:
        integration, key = svc.create_integration(
            session,
            name=f"{kind} {uuid.uuid4().hex[:6]}",
            kind=kind,
            created_by="pytest",
            now=datetime.now(UTC),
            origin=Origin(),
            default_ward_code="ICU",
        )
        return str(integration.id), key


@contextlib.contextmanager
def running_alertmanager(tmp_path: Path, receiver: str) -> Iterator[str]:
    """A real Alertmanager (its URL) whose only receiver, ``healthguard``, is ``receiver``
    (YAML lines of its configs), grouping quickly; clustering off; stopped at the end."""
    binary = alertmanager_binary()
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        "global:\n"
        "  resolve_timeout: 5m\n"
        "route:\n"
        "  receiver: healthguard\n"
        "  group_by: ['alertname']\n"
        "  group_wait: 1s\n"
        "  group_interval: 1s\n"
        "  repeat_interval: 1h\n"
        "receivers:\n"
        "  - name: healthguard\n" + receiver,
        encoding="utf-8",
    )
    port = free_port()
    log_path = tmp_path / "alertmanager.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                "--log.level=debug",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        ready = wait_until(
            lambda: process.poll() is None and _answers(f"{base}/-/ready"), WAIT_SECONDS
        )
        assert ready, f"Alertmanager did not start:\n{_tail(log_path)}"
        yield base
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(15)
        if os.environ.get("HEALTHGUARD_TEST_VERBOSE"):
            print(_tail(log_path))


@pytest.fixture()
def alertmanager(api_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(Alertmanager's URL, our integration's id): a real Alertmanager whose only receiver is
    our webhook with the integration's key."""
    integration_id, key = _integration("alertmanager")
    receiver = (
        "    webhook_configs:\n"
        f"      - url: '{api_url}/api/v1/integrations/alertmanager/{key}'\n"
        "        send_resolved: true\n"
    )
    with running_alertmanager(tmp_path, receiver) as base:
        yield base, integration_id


def _tail(path: Path, lines: int = 40) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


def _post_alert(base: str, alert: dict[str, Any]) -> None:
    response = httpx.post(f"{base}/api/v2/alerts", json=[alert], timeout=10)
    assert response.status_code == 200, response.text


def _incident(dedup_key: str) -> Incident | None:
    with session_scope() as session:
        return session.exec(
            select(Incident)
            .where(Incident.dedup_key == dedup_key)
            .order_by(col(Incident.opened_at).desc())
        ).first()


def test_real_alertmanager_creates_and_resolves_an_incident(
    alertmanager: tuple[str, str], tmp_path: Path
) -> None:
    base, integration_id = alertmanager
    labels = {
        "alertname": "MonitorGatewayDown",
        "severity": "critical",
        "instance": f"gw-icu-{uuid.uuid4().hex[:4]}:9100",
    }
    starts_at = datetime.now(UTC) - timedelta(seconds=30)
    alert = {
        "labels": labels,
        "annotations": {"summary": f"Monitor gateway {labels['instance']} is down"},
        "startsAt": starts_at.isoformat(),
        "generatorURL": "http://prometheus.local/graph?g0.expr=up",
    }
    # The fingerprint Alertmanager computes is the one we compute (FNV-1a of the labels).
    key = svc.incident_dedup_key(
        integration_id, dedup_key_for(integration_id, alert_fingerprint(labels))
    )

    _post_alert(base, alert)
    assert wait_until(lambda: _incident(key) is not None, WAIT_SECONDS, interval=0.1), (
        f"no incident for the firing alert:\n{_tail(tmp_path / 'alertmanager.log')}"
    )
    incident = _incident(key)
    assert incident is not None
    assert (incident.status, incident.priority, incident.source) == (
        "triggered",
        "P1",
        "integration",
    )
    assert incident.title == f"Monitor gateway {labels['instance']} is down"

    # The alert ends: Alertmanager sends it resolved.
    _post_alert(base, {**alert, "endsAt": (datetime.now(UTC) - timedelta(seconds=1)).isoformat()})

    def resolved() -> bool:
        row = _incident(key)
        return row is not None and row.status == "resolved"

    assert wait_until(resolved, WAIT_SECONDS, interval=0.1), (
        f"the incident was not resolved:\n{_tail(tmp_path / 'alertmanager.log')}"
    )
    with session_scope() as session:
        outcomes = list(
            session.exec(
                select(InboundEventLog.outcome)
                .where(InboundEventLog.integration_id == uuid.UUID(integration_id))
                .order_by(col(InboundEventLog.id))
            ).all()
        )
    # Every notification recorded: opened once, then at most repeats (evidence), resolved.
    assert outcomes[0] == "opened" and outcomes[-1] == "resolved", outcomes
    assert set(outcomes[1:-1]) <= {"updated"}, outcomes


def test_alertmanager_as_a_stock_pagerduty_client(api_url: str, tmp_path: Path) -> None:
    """Alertmanager's own PagerDuty notifier (``pagerduty_configs``, Events API v2), pointed at
    our ``/v2/enqueue`` instead of events.pagerduty.com: a stock client, unchanged."""
    integration_id, key = _integration("pagerduty")
    receiver = (
        "    pagerduty_configs:\n"
        f"      - routing_key: '{key}'\n"
        f"        url: '{api_url}/v2/enqueue'\n"
        "        severity: critical\n"
        "        send_resolved: true\n"
    )
    labels = {"alertname": "OxygenPressureLow", "instance": f"o2-{uuid.uuid4().hex[:4]}"}
    alert = {
        "labels": labels,
        "annotations": {"summary": "Oxygen supply pressure low"},
        "startsAt": (datetime.now(UTC) - timedelta(seconds=30)).isoformat(),
    }
    prefix = f"int:{integration_id}:"

    def incident() -> Incident | None:
        with session_scope() as session:
            return session.exec(
                select(Incident).where(col(Incident.dedup_key).startswith(prefix))
            ).first()

    with running_alertmanager(tmp_path, receiver) as base:
        _post_alert(base, alert)
        assert wait_until(lambda: incident() is not None, WAIT_SECONDS, interval=0.1), (
            f"no incident from Alertmanager's PagerDuty notifier:\n"
            f"{_tail(tmp_path / 'alertmanager.log')}"
        )
        opened = incident()
        assert opened is not None and (opened.status, opened.priority) == ("triggered", "P1")
        assert opened.title.startswith("[FIRING:1] OxygenPressureLow")
        _post_alert(
            base, {**alert, "endsAt": (datetime.now(UTC) - timedelta(seconds=1)).isoformat()}
        )

        def resolved() -> bool:
            row = incident()
            return row is not None and row.status == "resolved"

        assert wait_until(resolved, WAIT_SECONDS, interval=0.1), (
            f"not resolved:\n{_tail(tmp_path / 'alertmanager.log')}"
        )


def test_pdpyras_events_client_triggers_acknowledges_and_resolves(api_url: str) -> None:
    """``pdpyras.EventsAPISession``, a stock Python PagerDuty Events API v2 client, with only
    its base URL changed: trigger, acknowledge and resolve reach one incident; the key has
    PagerDuty's shape (32 hexadecimal characters)."""
    import pdpyras

    _, key = _integration("pagerduty")
    assert len(key) == 32 and int(key, 16) >= 0
    session = pdpyras.EventsAPISession(key)
    session.url = api_url
    summary = f"Monitor gateway ICU-{uuid.uuid4().hex[:6]} is not sending"
    dedup_key = session.trigger(summary, "gw-icu", severity="critical", custom_details={"n": 1})
    assert dedup_key

    def status() -> str | None:
        with session_scope() as db:
            row = db.exec(
                select(Incident).where(col(Incident.dedup_key).endswith(f":{dedup_key}"))
            ).first()
            return None if row is None else row.status

    assert status() == "triggered"
    assert session.acknowledge(dedup_key) == dedup_key
    assert status() == "acknowledged"
    assert session.resolve(dedup_key) == dedup_key
    assert status() == "resolved"
