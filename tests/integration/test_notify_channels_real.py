"""The delivery channels against real servers on 127.0.0.1 (no Postgres, no Redis):

- e-mail: a real SMTP server (aiosmtpd), plain, STARTTLS with login, implicit TLS, refusals
  (550 / 451), a server that is down, an untrusted certificate;
- pager: an HTTP server playing a WCTP 1.3 gateway (success and failure confirmations,
  failure with an HTTP error status, malformed answer, HTTP errors, a gateway that hangs);
- webhook: a receiver checking the HMAC-SHA256 signature with its own code;
- Web Push: pywebpush posts to a local push-service receiver that decrypts the RFC 8291
  ``aes128gcm`` body with the subscriber's private key and auth secret (its own
  implementation, from the RFC) and verifies the VAPID JWT (RFC 8292); 201, then 410...

Every wait is bounded; the "hanging" servers are released at teardown.
"""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import hashlib
import hmac
import ipaddress
import json
import os
import queue
import ssl
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import NameOID
from testsupport import free_port

from healthguard.models.notifications import NotificationStatus
from healthguard.notify.channels.base import (
    SECONDARY_ALARM_NOTICE,
    AnswerLinks,
    DeliveryResult,
    OutgoingMessage,
    Priority,
    compose_message,
)
from healthguard.notify.channels.email import EmailChannel, EmailConfig, SmtpSecurity
from healthguard.notify.channels.wctp import WctpChannel, WctpConfig
from healthguard.notify.channels.webhook import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookChannel,
    WebhookConfig,
)
from healthguard.notify.channels.webpush import (
    WebPushChannel,
    WebPushConfig,
    generate_vapid_keys,
)

pytestmark = pytest.mark.integration

LOOPBACK = "127.0.0.1"
WAIT = 5.0  # upper bound of every wait on a server thread
LINKS = AnswerLinks(
    ack="https://hg.example/answer/ack?t=abc",
    escalate="https://hg.example/answer/escalate?t=def",
    decline="https://hg.example/answer/decline?t=ghi",
)


def make_message(address: Any, priority: Priority = "P1") -> OutgoingMessage:
    return compose_message(
        notification_id=uuid.uuid4(),
        incident_id=uuid.uuid4(),
        staff_id=uuid.uuid4(),
        priority=priority,
        title="NEWS2 8 in Ward 3 bed 12",
        body="Respiratory rate 28/min, SpO2 89 % on air.",
        address=address,
        links=LINKS,
    )


def assert_failed(result: DeliveryResult, *, retryable: bool, address: bool = False) -> str:
    assert result.status is NotificationStatus.FAILED, result
    assert result.retryable is retryable, result
    assert result.permanent_address_problem is address, result
    assert result.error
    return result.error


# --- an HTTP server in a thread ------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


Reply = tuple[int, dict[str, str], bytes]


class HttpReceiver:
    """A real HTTP/1.1 server on a free loopback port. Each POST is recorded in ``received``
    and answered by ``respond`` (set by the test); ``hang()`` makes it hold answers until
    teardown."""

    def __init__(self) -> None:
        self.received: queue.Queue[Received] = queue.Queue()
        self.respond: Callable[[Received], Reply] = lambda request: (200, {}, b"")
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                request = Received(
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                )
                receiver.received.put(request)
                status, headers, body = receiver.respond(request)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def url(self, path: str = "/") -> str:
        return f"http://{LOOPBACK}:{self.port}{path}"

    def hang(self) -> None:
        def respond(request: Received) -> Reply:
            self.release.wait(WAIT)
            return 503, {}, b""

        self.respond = respond

    def next_request(self) -> Received:
        return self.received.get(timeout=WAIT)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(WAIT)


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


def closed_port() -> int:
    """A loopback port with nothing listening (connection refused)."""
    return free_port()


# --- e-mail --------------------------------------------------------------------------------


class Mailbox:
    """aiosmtpd handler: keeps accepted messages; ``rcpt_reply`` refuses recipients."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.rcpt_reply: str | None = None

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    mailbox: Mailbox
    port: int
    controller: Controller


@pytest.fixture
def tls_material(tmp_path: Any) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1: (server context, client context trusting it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "healthguard-test-smtp")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_file = tmp_path / "cert.pem"
    key_file = tmp_path / "key.pem"
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return server, client


def start_smtp(**smtp_parameters: Any) -> SmtpServer:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname=LOOPBACK, port=port, **smtp_parameters)
    controller.start()
    return SmtpServer(mailbox, port, controller)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = start_smtp()
    try:
        yield server
    finally:
        server.controller.stop()


def email_channel(
    port: int,
    security: SmtpSecurity = "none",
    context: ssl.SSLContext | None = None,
    **extra: Any,
) -> EmailChannel:
    config = EmailConfig(
        host=LOOPBACK,
        port=port,
        from_address="HealthGuard Ops <healthguard@hospital.example>",
        security=security,
        timeout=WAIT,
        **extra,
    )
    return EmailChannel(config, ssl_context=context)


def parse(envelope: Envelope) -> EmailMessage:
    assert isinstance(envelope.content, bytes)
    parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_email_reaches_a_real_smtp_server(smtp: SmtpServer) -> None:
    message = make_message("charge.nurse@hospital.example")
    result = email_channel(smtp.port).send(message)

    assert result.status is NotificationStatus.SENT, result
    (envelope,) = smtp.mailbox.envelopes
    assert envelope.mail_from == "healthguard@hospital.example"
    assert envelope.rcpt_tos == ["charge.nurse@hospital.example"]
    received = parse(envelope)
    assert received["Subject"] == "[P1] NEWS2 8 in Ward 3 bed 12"
    assert received["To"] == "charge.nurse@hospital.example"
    assert received["Message-ID"] == result.provider_message_id
    assert received["X-HealthGuard-Notification-Id"] == str(message.notification_id)
    text = received.get_content()
    assert "Respiratory rate 28/min" in text
    assert f"Acknowledge: {LINKS.ack}" in text
    assert f"Escalate: {LINKS.escalate}" in text
    assert f"Decline: {LINKS.decline}" in text
    assert text.rstrip().endswith(SECONDARY_ALARM_NOTICE)


def test_email_server_down_is_retryable() -> None:
    result = email_channel(closed_port()).send(make_message("nurse@hospital.example"))
    error = assert_failed(result, retryable=True)
    assert "Cannot reach SMTP relay 127.0.0.1" in error


def test_unknown_mailbox_550_is_permanent(smtp: SmtpServer) -> None:
    smtp.mailbox.rcpt_reply = "550 5.1.1 <gone@hospital.example>: user unknown"
    result = email_channel(smtp.port).send(make_message("gone@hospital.example"))
    error = assert_failed(result, retryable=False, address=True)
    assert "550" in error and "user unknown" in error
    assert smtp.mailbox.envelopes == []


def test_policy_550_is_not_retryable_but_not_an_address_problem(smtp: SmtpServer) -> None:
    smtp.mailbox.rcpt_reply = "550 5.7.1 Relaying denied"
    result = email_channel(smtp.port).send(make_message("nurse@elsewhere.example"))
    assert "Relaying denied" in assert_failed(result, retryable=False, address=False)


def test_temporary_451_is_retryable(smtp: SmtpServer) -> None:
    smtp.mailbox.rcpt_reply = "451 4.3.0 Mailbox busy, try later"
    result = email_channel(smtp.port).send(make_message("nurse@hospital.example"))
    assert "451" in assert_failed(result, retryable=True)


def test_starttls_refused_by_a_plain_server_is_a_configuration_error(smtp: SmtpServer) -> None:
    result = email_channel(smtp.port, security="starttls").send(make_message("n@h.example"))
    assert "STARTTLS" in assert_failed(result, retryable=False)
    assert smtp.mailbox.envelopes == []


def test_starttls_and_login(tls_material: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_context, client_context = tls_material
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(
        server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        ok = data.login == b"hg" and data.password == b"correct horse"
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535

    server = start_smtp(
        tls_context=server_context,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    try:
        good = email_channel(
            server.port, "starttls", client_context, username="hg", password="correct horse"
        ).send(make_message("nurse@hospital.example"))
        assert good.status is NotificationStatus.SENT, good
        assert len(server.mailbox.envelopes) == 1
        assert logins == [(b"hg", b"correct horse")]

        bad = email_channel(
            server.port, "starttls", client_context, username="hg", password="battery staple"
        ).send(make_message("nurse@hospital.example"))
        error = assert_failed(bad, retryable=False)
        assert "535" in error and "battery staple" not in error

        untrusted = email_channel(server.port, "starttls", ssl.create_default_context()).send(
            make_message("nurse@hospital.example")
        )
        assert "TLS" in assert_failed(untrusted, retryable=False)
        assert len(server.mailbox.envelopes) == 1
    finally:
        server.controller.stop()


def test_implicit_tls(tls_material: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_context, client_context = tls_material
    server = start_smtp(ssl_context=server_context)
    try:
        result = email_channel(server.port, "tls", client_context).send(
            make_message("nurse@hospital.example")
        )
        assert result.status is NotificationStatus.SENT, result
        assert parse(server.mailbox.envelopes[0])["Subject"] == "[P1] NEWS2 8 in Ward 3 bed 12"
    finally:
        server.controller.stop()


# --- WCTP ----------------------------------------------------------------------------------

SECURITY_CODE = "wctp-s3cret-code"


def wctp_answer(inner: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE wctp-Operation SYSTEM "http://dtd.wctp.org/wctp-dtd-v1r3.dtd">\n'
        f'<wctp-Operation wctpVersion="wctp-dtd-v1r3"><wctp-Confirmation>{inner}'
        "</wctp-Confirmation></wctp-Operation>"
    ).encode()


XML = {"Content-Type": "text/xml; charset=utf-8"}


def wctp_channel(http: HttpReceiver, timeout: float = WAIT) -> WctpChannel:
    return WctpChannel(
        WctpConfig(
            url=http.url("/wctp"),
            sender_id="healthguard",
            security_code=SECURITY_CODE,
            timeout=timeout,
        )
    )


def test_wctp_gateway_accepts_the_page(http: HttpReceiver) -> None:
    def gateway(request: Received) -> Reply:
        root = ET.fromstring(request.body)
        ok = root.tag == "wctp-Operation" and root.find("wctp-SubmitRequest") is not None
        if not ok:
            return 200, XML, wctp_answer('<wctp-Failure errorCode="300" errorText="?"/>')
        return 200, XML, wctp_answer('<wctp-Success successCode="200" successText="Accepted"/>')

    http.respond = gateway
    message = make_message("4471", priority="P0")
    result = wctp_channel(http).send(message)

    assert result.status is NotificationStatus.SENT, result
    assert result.provider_message_id == message.notification_id.hex
    request = http.next_request()
    assert request.path == "/wctp"
    assert request.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(request.body)
    assert root.get("wctpVersion") == "wctp-dtd-v1r3"
    header = root.find("wctp-SubmitRequest/wctp-SubmitHeader")
    assert header is not None
    originator = header.find("wctp-Originator")
    control = header.find("wctp-MessageControl")
    recipient = header.find("wctp-Recipient")
    assert originator is not None and control is not None and recipient is not None
    assert originator.get("senderID") == "healthguard"
    assert originator.get("securityCode") == SECURITY_CODE
    assert recipient.get("recipientID") == "4471"
    assert control.get("messageID") == message.notification_id.hex
    assert control.get("notifyWhenDelivered") == "true"
    assert control.get("deliveryPriority") == "HIGH"
    text = root.findtext("wctp-SubmitRequest/wctp-Payload/wctp-Alphanumeric")
    assert text == message.short_text
    assert "Secondary alarm" in text


def test_wctp_invalid_recipient_is_a_permanent_address_problem(http: HttpReceiver) -> None:
    # The gateway echoes the security code: it must not reach the stored error.
    http.respond = lambda request: (
        200,
        XML,
        wctp_answer(
            f'<wctp-Failure errorCode="403" errorText="Invalid recipientID for {SECURITY_CODE}"/>'
        ),
    )
    result = wctp_channel(http).send(make_message("9999"))
    error = assert_failed(result, retryable=False, address=True)
    assert "WCTP 403 Invalid recipientID" in error
    assert SECURITY_CODE not in error


def test_wctp_temporary_failure_is_retryable(http: HttpReceiver) -> None:
    http.respond = lambda request: (
        200,
        XML,
        wctp_answer('<wctp-Failure errorCode="604" errorText="Internal Server Error"/>'),
    )
    error = assert_failed(wctp_channel(http).send(make_message("4471")), retryable=True)
    assert "604" in error


def test_wctp_failure_inside_an_http_error_decides(http: HttpReceiver) -> None:
    http.respond = lambda request: (
        400,
        XML,
        wctp_answer('<wctp-Failure errorCode="302" errorText="XML validation error"/>'),
    )
    error = assert_failed(wctp_channel(http).send(make_message("4471")), retryable=False)
    assert "302 XML validation error" in error


def test_wctp_malformed_answer_is_a_retryable_failure(http: HttpReceiver) -> None:
    http.respond = lambda request: (200, XML, b"<wctp-Operation><wctp-Confirmation>")
    error = assert_failed(wctp_channel(http).send(make_message("4471")), retryable=True)
    assert "not well-formed XML" in error


@pytest.mark.parametrize(("status", "retryable"), [(503, True), (429, True), (401, False)])
def test_wctp_http_errors_without_confirmation(
    http: HttpReceiver, status: int, retryable: bool
) -> None:
    http.respond = lambda request: (status, {"Content-Type": "text/html"}, b"<h1>no</h1>")
    error = assert_failed(wctp_channel(http).send(make_message("4471")), retryable=retryable)
    assert f"HTTP {status}" in error


def test_wctp_gateway_that_hangs_times_out(http: HttpReceiver) -> None:
    http.hang()
    started = time.monotonic()
    result = wctp_channel(http, timeout=0.5).send(make_message("4471"))
    assert time.monotonic() - started < WAIT
    assert "did not answer within 0.5 s" in assert_failed(result, retryable=True)


def test_wctp_gateway_down_is_retryable() -> None:
    channel = WctpChannel(
        WctpConfig(url=f"http://{LOOPBACK}:{closed_port()}/wctp", sender_id="hg", timeout=WAIT)
    )
    assert "Cannot reach" in assert_failed(channel.send(make_message("4471")), retryable=True)


# --- webhook -------------------------------------------------------------------------------

WEBHOOK_SECRET = "webhook-shared-secret-0123456789"


def receiver_checks_signature(request: Received) -> bool:
    """The receiver's side, written from the documented scheme (not our helper)."""
    timestamp = request.headers[TIMESTAMP_HEADER.lower()]
    expected = hmac.new(
        WEBHOOK_SECRET.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    fresh = abs(time.time() - int(timestamp)) < 300
    return fresh and hmac.compare_digest(
        request.headers[SIGNATURE_HEADER.lower()], f"sha256={expected}"
    )


def test_webhook_is_signed_and_received(http: HttpReceiver) -> None:
    def receiver(request: Received) -> Reply:
        if not receiver_checks_signature(request):
            return 401, {}, b"bad signature"
        return 202, {"Content-Type": "application/json"}, b'{"id": "evt-42"}'

    http.respond = receiver
    message = make_message("pager-4471")
    channel = WebhookChannel(WebhookConfig(secret=WEBHOOK_SECRET, url=http.url("/hook")))
    result = channel.send(message)

    assert result.status is NotificationStatus.SENT, result
    assert result.provider_message_id == "evt-42"
    request = http.next_request()
    assert request.headers["content-type"] == "application/json"
    assert request.headers[DELIVERY_HEADER.lower()] == str(message.notification_id)
    body = json.loads(request.body)
    assert body["recipient"] == "pager-4471"
    assert body["incident_id"] == str(message.incident_id)
    assert body["links"] == {"ack": LINKS.ack, "escalate": LINKS.escalate, "decline": LINKS.decline}
    assert body["body"].endswith(SECONDARY_ALARM_NOTICE)


def test_webhook_with_the_wrong_secret_is_refused_by_the_receiver(http: HttpReceiver) -> None:
    http.respond = lambda request: (
        (200, {}, b"") if receiver_checks_signature(request) else (401, {}, b"bad signature")
    )
    channel = WebhookChannel(WebhookConfig(secret="another-secret-0123456789", url=http.url()))
    assert "HTTP 401" in assert_failed(channel.send(make_message("x")), retryable=False)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (403, False), (404, False), (408, True), (429, True), (500, True), (502, True)],
)
def test_webhook_status_mapping(http: HttpReceiver, status: int, retryable: bool) -> None:
    http.respond = lambda request: (status, {}, b"")
    channel = WebhookChannel(WebhookConfig(secret=WEBHOOK_SECRET, url=http.url("/hook")))
    assert f"HTTP {status}" in assert_failed(channel.send(make_message("x")), retryable=retryable)


def test_per_person_webhook_that_is_gone(http: HttpReceiver) -> None:
    http.respond = lambda request: (410, {}, b"")
    channel = WebhookChannel(WebhookConfig(secret=WEBHOOK_SECRET))  # the address is the URL
    result = channel.send(make_message(http.url("/people/42")))
    assert_failed(result, retryable=False, address=True)
    assert json.loads(http.next_request().body)["recipient"] is None


def test_webhook_timeout_and_refused_connection(http: HttpReceiver) -> None:
    http.hang()
    slow = WebhookChannel(WebhookConfig(secret=WEBHOOK_SECRET, url=http.url(), timeout=0.5))
    assert "within 0.5 s" in assert_failed(slow.send(make_message("x")), retryable=True)
    down = WebhookChannel(
        WebhookConfig(secret=WEBHOOK_SECRET, url=f"http://{LOOPBACK}:{closed_port()}/")
    )
    assert "Cannot reach" in assert_failed(down.send(make_message("x")), retryable=True)


# --- Web Push ------------------------------------------------------------------------------


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Subscriber:
    """A browser's side of a push subscription: a P-256 key pair and a 16-byte auth secret."""

    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    endpoint: str

    @classmethod
    def new(cls, endpoint: str) -> Subscriber:
        return cls(ec.generate_private_key(ec.SECP256R1()), os.urandom(16), endpoint)

    @property
    def public_bytes(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    def subscription(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "keys": {"p256dh": b64url(self.public_bytes), "auth": b64url(self.auth_secret)},
        }

    def decrypt(self, body: bytes) -> bytes:
        """RFC 8291 + RFC 8188 (aes128gcm), one record."""
        salt, record_size, id_length = body[:16], int.from_bytes(body[16:20], "big"), body[20]
        sender_public = body[21 : 21 + id_length]
        ciphertext = body[21 + id_length :]
        assert id_length == 65 and len(ciphertext) <= record_size
        shared = self.private_key.exchange(
            ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sender_public)
        )
        key_info = b"WebPush: info\x00" + self.public_bytes + sender_public
        ikm = HKDF(hashes.SHA256(), 32, salt=self.auth_secret, info=key_info).derive(shared)
        cek = HKDF(hashes.SHA256(), 16, salt=salt, info=b"Content-Encoding: aes128gcm\x00").derive(
            ikm
        )
        nonce = HKDF(hashes.SHA256(), 12, salt=salt, info=b"Content-Encoding: nonce\x00").derive(
            ikm
        )
        padded = AESGCM(cek).decrypt(nonce, ciphertext, None).rstrip(b"\x00")
        assert padded.endswith(b"\x02")  # the last-record delimiter
        return padded[:-1]


def verify_vapid(authorization: str) -> tuple[dict[str, Any], str]:
    """RFC 8292: ``vapid t=<JWT>, k=<public key>``; the ES256 signature must verify with k.
    Returns the claims and k."""
    scheme, _, params = authorization.partition(" ")
    assert scheme.lower() == "vapid"
    parts = dict(part.strip().split("=", 1) for part in params.split(","))
    token, public = parts["t"], parts["k"]
    signing_input, _, signature = token.rpartition(".")
    header = json.loads(b64url_decode(signing_input.split(".")[0]))
    assert header == {"typ": "JWT", "alg": "ES256"}
    raw = b64url_decode(signature)
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(public))
    key.verify(
        encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
        signing_input.encode(),
        ec.ECDSA(hashes.SHA256()),
    )  # raises InvalidSignature
    return json.loads(b64url_decode(signing_input.split(".")[1])), public


def push_channel(timeout: float = WAIT) -> WebPushChannel:
    keys = generate_vapid_keys()
    return WebPushChannel(
        WebPushConfig(
            vapid_private_key=keys.private_key_pem,
            vapid_subject="mailto:switchboard@hospital.example",
            timeout=timeout,
        )
    )


def test_push_is_encrypted_for_the_subscriber_and_signed_with_vapid(http: HttpReceiver) -> None:
    subscriber = Subscriber.new(http.url("/push/sub-abc"))
    location = http.url("/messages/m-1")
    http.respond = lambda request: (201, {"Location": location}, b"")
    channel = push_channel()
    message = make_message(subscriber.subscription(), priority="P1")

    result = channel.send(message)

    assert result.status is NotificationStatus.SENT, result
    assert result.provider_message_id == location
    request = http.next_request()
    assert request.path == "/push/sub-abc"
    assert request.headers["content-encoding"] == "aes128gcm"
    assert request.headers["ttl"] == "900"
    assert request.headers["urgency"] == "high"
    assert request.headers["topic"] == message.incident_id.hex

    claims, public = verify_vapid(request.headers["authorization"])
    assert public == channel.public_key
    assert claims["aud"] == f"http://{LOOPBACK}:{http.port}"
    assert claims["sub"] == "mailto:switchboard@hospital.example"
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600

    payload = json.loads(subscriber.decrypt(request.body))
    assert payload["title"] == "[P1] NEWS2 8 in Ward 3 bed 12"
    assert payload["incident_id"] == str(message.incident_id)
    assert payload["priority"] == "P1"
    assert payload["requireInteraction"] is True
    assert payload["tag"] == f"incident-{message.incident_id}"
    assert payload["body"].endswith(SECONDARY_ALARM_NOTICE)
    assert [(a["action"], a["url"]) for a in payload["actions"]] == [
        ("ack", LINKS.ack),
        ("escalate", LINKS.escalate),
        ("decline", LINKS.decline),
    ]


def test_push_subscription_gone_then_other_answers(http: HttpReceiver) -> None:
    subscriber = Subscriber.new(http.url("/push/sub-gone"))
    channel = push_channel()
    outcomes: list[tuple[int, bool, bool]] = [
        (410, False, True),
        (404, False, True),
        (429, True, False),
        (500, True, False),
        (400, False, False),
        (413, False, False),
    ]
    for status, retryable, gone in outcomes:

        def answer(request: Received, status: int = status) -> Reply:
            return status, {}, b""

        http.respond = answer
        result = channel.send(make_message(subscriber.subscription(), priority="P3"))
        error = assert_failed(result, retryable=retryable, address=gone)
        assert f"HTTP {status}" in error
        request = http.next_request()
        assert request.headers["ttl"] == "3600" and request.headers["urgency"] == "low"
        assert json.loads(subscriber.decrypt(request.body))["requireInteraction"] is False


def test_push_service_timeout_and_refused_connection(http: HttpReceiver) -> None:
    http.hang()
    slow = push_channel(timeout=0.5).send(
        make_message(Subscriber.new(http.url("/push/slow")).subscription())
    )
    assert "within 0.5 s" in assert_failed(slow, retryable=True)
    down = push_channel().send(
        make_message(Subscriber.new(f"http://{LOOPBACK}:{closed_port()}/push/x").subscription())
    )
    assert "Cannot reach" in assert_failed(down, retryable=True)
