"""E-mail through an SMTP relay (``smtplib``): one plain-text message per notification.

Subject ``[P1] NEWS2 8 in Ward 3 bed 12``; the body, then the answer links, then the
secondary-alarm notice. Connection security: ``starttls`` (default; port 587), ``tls``
(implicit TLS, port 465) or ``none`` (a trusted relay inside the hospital network, port 25).

Outcome of ``send``:

=========================================  =============================================
SMTP answer / error                        result
=========================================  =============================================
message accepted (250)                     sent; provider id = our ``Message-ID``
4xx reply (greylisting, mailbox busy...)   failed, retryable
5xx reply (550 no such user, 554...)       failed, not retryable
5xx to RCPT with enhanced code ``5.1.x``   also ``permanent_address_problem`` (bad mailbox)
authentication refused (535)               failed, not retryable (check the credentials)
STARTTLS not offered, untrusted cert       failed, not retryable (configuration)
other TLS error (reset during handshake)   failed, retryable
refused / reset / timeout / disconnected   failed, retryable
=========================================  =============================================
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.headerregistry import Address as EmailAddress
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal

from healthguard.notify.channels.base import (
    ACTION_LABELS,
    SECONDARY_ALARM_NOTICE,
    ChannelKind,
    DeliveryResult,
    OutgoingMessage,
    states_secondary_alarm,
)

SmtpSecurity = Literal["none", "starttls", "tls"]


@dataclass(frozen=True)
class EmailConfig:
    host: str
    from_address: str
    port: int = 587
    security: SmtpSecurity = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 10.0
    #: The domain of generated Message-IDs (default: the part after @ of from_address).
    message_id_domain: str | None = None


def subject_for(message: OutgoingMessage) -> str:
    """``[P1] NEWS2 8 in Ward 3 bed 12``."""
    return f"[{message.priority}] {message.title}"


def email_text(message: OutgoingMessage) -> str:
    """The plain-text body: the message, the answer links (those the body does not already
    show), then :data:`SECONDARY_ALARM_NOTICE` unless the body already states it."""
    main = message.main_body
    parts = [main] if main else []
    links = [(action, url) for action, url in message.links.items() if url not in main]
    if links:
        parts.append("\n".join(f"{ACTION_LABELS[action]}: {url}" for action, url in links))
    if not states_secondary_alarm(main):
        parts.append(SECONDARY_ALARM_NOTICE)
    return "\n\n".join(parts) + "\n"


def build_email(message: OutgoingMessage, from_address: str, message_id: str) -> EmailMessage:
    """The e-mail for ``message`` (raises ``ValueError`` for an unusable address)."""
    if not isinstance(message.address, str):
        raise ValueError("an e-mail address is a string")
    to = parse_address(message.address)
    email = EmailMessage()
    email["Subject"] = subject_for(message)
    email["From"] = from_address
    email["To"] = to
    email["Date"] = formatdate(localtime=False, usegmt=True)
    email["Message-ID"] = message_id
    email["Auto-Submitted"] = "auto-generated"
    email["X-Auto-Response-Suppress"] = "All"
    email["X-HealthGuard-Notification-Id"] = str(message.notification_id)
    email["X-HealthGuard-Incident-Id"] = str(message.incident_id)
    email["X-HealthGuard-Priority"] = message.priority
    if message.priority in ("P0", "P1"):
        email["Importance"] = "high"
        email["X-Priority"] = "1"
    email.set_content(email_text(message))
    return email


def parse_address(address: str) -> EmailAddress:
    """One ``user@domain`` address; ``ValueError`` with a clear reason otherwise."""
    text = address.strip()
    if not text or any(c in text for c in '\r\n<>,;"') or text.count("@") != 1:
        raise ValueError(f"{address!r} is not a single e-mail address (user@domain)")
    user, domain = text.split("@")
    if not user or "." not in domain or domain.startswith(".") or domain.endswith("."):
        raise ValueError(f"{address!r} is not a single e-mail address (user@domain)")
    try:
        return EmailAddress(addr_spec=text)
    except (ValueError, IndexError) as exc:
        raise ValueError(f"{address!r} is not a valid e-mail address") from exc


def smtp_reply_retryable(code: int) -> bool:
    """4xx SMTP replies are temporary (retry); 5xx are permanent (do not)."""
    return 400 <= code < 500


def _decode(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


class EmailChannel:
    """Sends each notification as one plain-text e-mail through an SMTP relay."""

    name = ChannelKind.EMAIL

    def __init__(self, config: EmailConfig, *, ssl_context: ssl.SSLContext | None = None):
        if config.security not in ("none", "starttls", "tls"):
            raise ValueError(f"unknown SMTP security {config.security!r}")
        if bool(config.username) != bool(config.password):
            raise ValueError("SMTP username and password go together")
        from_spec = _addr_spec(config.from_address)
        self.config = config
        self._ssl_context = ssl_context
        self._domain = config.message_id_domain or from_spec.split("@")[1]

    def _context(self) -> ssl.SSLContext:
        return self._ssl_context or ssl.create_default_context()

    def _failed(self, error: str, *, retryable: bool, address: bool = False) -> DeliveryResult:
        return DeliveryResult.failed(
            error,
            retryable=retryable,
            permanent_address_problem=address,
            secrets=(self.config.password,),
        )

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        cfg = self.config
        message_id = make_msgid(idstring=message.notification_id.hex, domain=self._domain)
        try:
            email = build_email(message, cfg.from_address, message_id)
        except ValueError as exc:
            return self._failed(f"E-mail address unusable: {exc}", retryable=False, address=True)
        where = f"SMTP relay {cfg.host}:{cfg.port}"
        smtp: smtplib.SMTP | None = None
        try:
            if cfg.security == "tls":
                smtp = smtplib.SMTP_SSL(
                    cfg.host, cfg.port, timeout=cfg.timeout, context=self._context()
                )
            else:
                smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
            if cfg.security == "starttls":
                smtp.starttls(context=self._context())
            if cfg.username and cfg.password:
                smtp.login(cfg.username, cfg.password)
            smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()), (550, b"recipient refused"))
            text = _decode(reply)
            return self._failed(
                f"{where} refused the recipient: {code} {text}",
                retryable=smtp_reply_retryable(code),
                address=code >= 500 and text.strip().startswith("5.1."),
            )
        except smtplib.SMTPAuthenticationError as exc:
            return self._failed(
                f"{where} refused the login: {exc.smtp_code} {_decode(exc.smtp_error)}",
                retryable=smtp_reply_retryable(exc.smtp_code),
            )
        except smtplib.SMTPNotSupportedError as exc:
            return self._failed(f"{where}: {exc}", retryable=False)
        except smtplib.SMTPResponseException as exc:  # greeting, sender, data refused...
            return self._failed(
                f"{where} refused the message: {exc.smtp_code} {_decode(exc.smtp_error)}",
                retryable=smtp_reply_retryable(exc.smtp_code),
            )
        except smtplib.SMTPServerDisconnected as exc:
            return self._failed(f"{where} closed the connection: {exc}", retryable=True)
        except smtplib.SMTPException as exc:
            return self._failed(f"{where}: {exc}", retryable=True)
        except ssl.SSLCertVerificationError as exc:
            return self._failed(
                f"TLS with {where} failed: certificate not trusted ({exc.verify_message})",
                retryable=False,
            )
        except ssl.SSLError as exc:
            return self._failed(f"TLS with {where} failed: {exc.reason or exc}", retryable=True)
        except TimeoutError:
            return self._failed(f"{where} did not answer within {cfg.timeout:g} s", retryable=True)
        except OSError as exc:
            reason = exc.strerror or exc.__class__.__name__
            return self._failed(f"Cannot reach {where}: {reason}", retryable=True)
        finally:
            if smtp is not None:
                _close_quietly(smtp)
        return DeliveryResult.sent(message_id)


def _addr_spec(from_address: str) -> str:
    """The ``user@domain`` part of ``Name <user@domain>`` or of a bare address."""
    text = from_address.strip()
    if text.endswith(">") and "<" in text:
        text = text[text.rindex("<") + 1 : -1]
    parse_address(text)
    return text


def _close_quietly(smtp: smtplib.SMTP) -> None:
    """QUIT, or just drop the connection: the outcome of the send is already known."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
