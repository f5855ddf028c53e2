"""The Apprise channel against real local receivers (loopback HTTP servers started here):
Apprise's ``json://`` and ``ntfy://`` services post to them. What arrives (title, body, the
secondary-alarm notice, patient initials only, no answer links in a broadcast), how refusals
and a dead receiver map to ``DeliveryResult`` (retryable or not), that no secret of a URL
reaches an error or a log line, and the registry's ``"apprise"`` transport."""

from __future__ import annotations

import json
import logging
import queue
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from testsupport import free_port

from healthguard.models.notifications import NotificationStatus
from healthguard.notify.channels.apprise_channel import (
    BROADCAST,
    AppriseChannel,
    AppriseConfig,
    url_secrets,
)
from healthguard.notify.channels.base import (
    SECONDARY_ALARM_NOTICE,
    AnswerLinks,
    ChannelKind,
    OutgoingMessage,
    compose_message,
)
from healthguard.notify.channels.registry import (
    APPRISE,
    ChannelsConfig,
    ChannelUnavailable,
    build_channels,
    config_from_settings,
)
from healthguard.settings import Settings

pytestmark = pytest.mark.integration

LOOPBACK = "127.0.0.1"
PASSWORD = "pa55-w0rd-secret"
TOKEN = "tok3n-abcdef-0123456789"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A real HTTP server on a free loopback port; answers ``status`` (per path prefix)."""

    def __init__(self) -> None:
        self.received: queue.Queue[Received] = queue.Queue()
        self.status: dict[str, int] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                receiver.received.put(
                    Received(
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        self.rfile.read(length),
                    )
                )
                status = next(
                    (code for p, code in receiver.status.items() if self.path.startswith(p)), 200
                )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def next(self, timeout: float = 10.0) -> Received:
        return self.received.get(timeout=timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    try:
        yield server
    finally:
        server.close()


def alarm(address: str = BROADCAST, priority: Any = "P1") -> OutgoingMessage:
    return compose_message(
        notification_id=uuid.uuid4(),
        incident_id=uuid.uuid4(),
        staff_id=uuid.uuid4(),
        priority=priority,
        title="NEWS2 8 in ICU bed 4 (J.D.)",
        body="Patient J.D., ICU bed 4: NEWS2 8, SpO2 88 %.",
        address=address,
        links=AnswerLinks(ack="https://hg.test/a/ack-token-1"),
    )


def json_url(receiver: Receiver, path: str = "/hook") -> str:
    return f"json://alarm:{PASSWORD}@{LOOPBACK}:{receiver.port}{path}/{TOKEN}"


def test_a_broadcast_reaches_every_destination_as_a_secondary_alarm(receiver: Receiver) -> None:
    channel = AppriseChannel(
        AppriseConfig(
            urls=(json_url(receiver), f"ntfy://{LOOPBACK}:{receiver.port}/healthguard-icu"),
            timeout=5,
        )
    )
    result = channel.send(alarm())
    assert result.status is NotificationStatus.SENT, result.error

    posted = {r.path: r for r in (receiver.next(), receiver.next())}
    to_json = posted[f"/hook/{TOKEN}"]
    payload = to_json.json()
    assert payload["title"] == "[P1] NEWS2 8 in ICU bed 4 (J.D.)"
    assert payload["message"].startswith("Patient J.D., ICU bed 4: NEWS2 8")
    assert payload["message"].endswith(SECONDARY_ALARM_NOTICE)
    assert payload["type"] == "failure"  # P0 / P1
    assert "ack-token-1" not in payload["message"]  # links are personal: not in a room
    assert to_json.headers["authorization"].startswith("Basic ")  # the URL's credentials

    ntfy = posted["/"].json()
    assert ntfy["topic"] == "healthguard-icu"
    assert ntfy["title"] == "[P1] NEWS2 8 in ICU bed 4 (J.D.)"
    assert SECONDARY_ALARM_NOTICE in ntfy["message"]


def test_a_personal_apprise_url_gets_the_answer_links(receiver: Receiver) -> None:
    channel = AppriseChannel(AppriseConfig(urls=(), timeout=5))
    result = channel.send(alarm(address=f"json://{LOOPBACK}:{receiver.port}/me", priority="P3"))
    assert result.ok, result.error
    payload = receiver.next().json()
    assert "Acknowledge: https://hg.test/a/ack-token-1" in payload["message"]
    assert payload["message"].endswith(SECONDARY_ALARM_NOTICE)  # still last
    assert payload["type"] == "info"


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (429, True), (400, False)])
def test_refusals_map_to_retryable_or_not_without_secrets(
    receiver: Receiver, caplog: pytest.LogCaptureFixture, status: int, retryable: bool
) -> None:
    receiver.status["/hook"] = status
    channel = AppriseChannel(AppriseConfig(urls=(json_url(receiver),), timeout=5))
    caplog.set_level(logging.DEBUG)
    result = channel.send(alarm())
    receiver.next()  # it did reach the receiver
    assert result.status is NotificationStatus.FAILED
    assert result.retryable is retryable
    assert not result.permanent_address_problem
    assert result.error is not None
    assert f"error={status}" in result.error and "destination 1 (JSON)" in result.error
    for text in [result.error, *(r.getMessage() for r in caplog.records)]:
        assert PASSWORD not in text and TOKEN not in text


def test_a_dead_receiver_is_retryable_and_names_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()  # nobody listens
    url = f"json://alarm:{PASSWORD}@{LOOPBACK}:{port}/x/{TOKEN}"
    caplog.set_level(logging.DEBUG)
    result = AppriseChannel(AppriseConfig(urls=(url,), timeout=2)).send(alarm())
    assert result.status is NotificationStatus.FAILED and result.retryable
    assert result.error is not None and "1 of 1 Apprise destination(s) failed" in result.error
    for text in [result.error, *(r.getMessage() for r in caplog.records)]:
        assert PASSWORD not in text and TOKEN not in text and str(port) not in text


def test_all_must_accept(receiver: Receiver) -> None:
    receiver.status["/bad"] = 503
    urls = (f"json://{LOOPBACK}:{receiver.port}/good", f"json://{LOOPBACK}:{receiver.port}/bad")
    result = AppriseChannel(AppriseConfig(urls=urls, timeout=5)).send(alarm())
    assert {receiver.next().path, receiver.next().path} == {"/good", "/bad"}
    assert result.status is NotificationStatus.FAILED and result.retryable
    assert result.error is not None and result.error.startswith("1 of 2 Apprise")
    assert "destination 2" in result.error


def test_unusable_urls_and_addresses(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret_url = f"nosuchservice://{TOKEN}@example/{PASSWORD}"
    with pytest.raises(ValueError, match=r"HEALTHGUARD_APPRISE_URLS\[0\]") as info:
        AppriseChannel(AppriseConfig(urls=(secret_url,)))
    assert TOKEN not in str(info.value) and PASSWORD not in str(info.value)

    channel = AppriseChannel(AppriseConfig(urls=()))
    result = channel.send(alarm(address=secret_url))
    assert not result.ok and result.permanent_address_problem and not result.retryable
    assert result.error is not None and TOKEN not in result.error
    no_room = channel.send(alarm())  # broadcast with no URL configured
    assert not no_room.ok and "HEALTHGUARD_APPRISE_URLS" in (no_room.error or "")
    assert all(TOKEN not in r.getMessage() for r in caplog.records)
    assert TOKEN not in repr(channel) and TOKEN not in repr(AppriseConfig(urls=(secret_url,)))


def test_url_secrets_cover_every_part_but_the_scheme() -> None:
    found = url_secrets(f"tgram://{TOKEN}/chat-42?token=q-{PASSWORD}&mode=x")
    assert TOKEN in found and "chat-42" in found and f"q-{PASSWORD}" in found
    assert "tgram" not in found


def test_the_registry_holds_apprise_as_a_transport_not_an_incident_channel(
    receiver: Receiver,
) -> None:
    registry = build_channels(
        ChannelsConfig(
            enabled=frozenset({ChannelKind.IN_APP}),
            apprise=AppriseConfig(urls=(json_url(receiver),), timeout=5),
        ),
        publish=lambda event: None,
    )
    assert registry.has(APPRISE) and APPRISE not in registry.available
    assert registry.available == {ChannelKind.IN_APP}
    assert any(line.startswith("apprise: ready") for line in registry.describe())
    assert all(PASSWORD not in line and TOKEN not in line for line in registry.describe())
    assert registry.send(APPRISE, alarm()).ok
    assert receiver.next().json()["title"].startswith("[P1]")

    off = build_channels(ChannelsConfig())
    assert not off.has(APPRISE)
    with pytest.raises(ChannelUnavailable, match="HEALTHGUARD_APPRISE_URLS"):
        off.get(APPRISE)
    failed = off.send(APPRISE, alarm())
    assert not failed.ok and not failed.retryable

    broken = build_channels(ChannelsConfig(apprise=AppriseConfig(urls=(f"bogus://{TOKEN}",))))
    problem = broken.transport_problems[APPRISE]
    assert "misconfigured" in problem and TOKEN not in problem
    assert any(line.startswith("apprise: unavailable") for line in broken.describe())
    assert not any(line.startswith("apprise") for line in off.describe())  # not configured


def test_settings_feed_the_apprise_config(receiver: Receiver) -> None:
    settings = Settings(
        apprise_urls=[json_url(receiver), "  "],
        apprise_timeout_seconds=3.5,
        notify_channels=["in_app"],
    )
    config = config_from_settings(settings)
    assert config.apprise is not None
    assert config.apprise.urls == (json_url(receiver),) and config.apprise.timeout == 3.5
    assert config_from_settings(Settings(notify_channels=["in_app"])).apprise is None
