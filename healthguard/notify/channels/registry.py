"""Which channels this installation can use, built once from plain configuration.

The worker looks a channel up by the ``Channel`` value stored on the notification::

    registry = build_channels(config_from_settings(get_settings()), publish=publish_change)
    result = registry.send(Channel(notification.channel), message)

A channel that is disabled, enabled but not configured, or misconfigured (an unreadable
VAPID key...) is not built; :meth:`ChannelRegistry.get` raises :class:`ChannelUnavailable`
naming the reason and the settings to fix, :meth:`ChannelRegistry.send` answers a failed,
not retryable :class:`DeliveryResult` with that reason (so the notification fails over to
the next step instead of being retried forever), and :attr:`ChannelRegistry.problems`
lists every reason for the start-up log and the health page.

Besides the per-person channels of an incident (one per ``Channel`` value), the registry
holds *transports* under their own names, for messages that are not an incident's: today
``"apprise"`` (:data:`APPRISE`; the hospital's chat and push destinations, built when
``HEALTHGUARD_APPRISE_URLS`` is set), used by certification reminders and operator
broadcasts through the same ``send``::

    registry.send("apprise", message)   # message.address: "broadcast" or an Apprise URL

A transport is never in :attr:`ChannelRegistry.available`, so an incident's delivery never
picks it: the ``notifications.channel`` column accepts the six ``Channel`` values only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from healthguard.notify.channels.apprise_channel import AppriseChannel, AppriseConfig
from healthguard.notify.channels.base import Channel, ChannelKind, DeliveryResult, OutgoingMessage
from healthguard.notify.channels.email import EmailChannel, EmailConfig, SmtpSecurity
from healthguard.notify.channels.in_app import InAppChannel, Publish
from healthguard.notify.channels.sms import (
    ConsoleSmsProvider,
    SmsChannel,
    SmsProvider,
    VoiceChannel,
)
from healthguard.notify.channels.wctp import WctpChannel, WctpConfig
from healthguard.notify.channels.webhook import WebhookChannel, WebhookConfig
from healthguard.notify.channels.webpush import WebPushChannel, WebPushConfig

PagerTransport = Literal["wctp", "webhook"]
SmsProviderName = Literal["none", "console"]

SMS_LOGGER = "healthguard.notify.sms"
#: The registry name of the Apprise transport (reminders, operator broadcasts).
APPRISE = "apprise"
_OFF = {
    APPRISE: "The apprise transport is off: set HEALTHGUARD_APPRISE_URLS (a JSON list of "
    "Apprise URLs).",
}
_SMTP_SECURITY: dict[str, SmtpSecurity] = {"none": "none", "starttls": "starttls", "tls": "tls"}


@dataclass(frozen=True)
class ChannelsConfig:
    """Which channels are enabled and their parameters (None: not configured)."""

    enabled: frozenset[ChannelKind] = frozenset({ChannelKind.IN_APP})
    email: EmailConfig | None = None
    wctp: WctpConfig | None = None
    webhook: WebhookConfig | None = None
    #: How the PAGER channel reaches the devices: a WCTP gateway or the signed JSON webhook.
    pager_transport: PagerTransport = "wctp"
    web_push: WebPushConfig | None = None
    #: "console": demo provider printing each SMS/call; "none": no provider (unless one is
    #: passed to build_channels).
    sms_provider: SmsProviderName = "none"
    #: The hospital's Apprise destinations (None: the apprise transport is off).
    apprise: AppriseConfig | None = None


class ChannelUnavailable(LookupError):
    """A channel that cannot be used here; ``reason`` says why and what to set."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True)
class ChannelRegistry:
    channels: Mapping[ChannelKind, Channel]
    problems: Mapping[ChannelKind, str] = field(default_factory=dict)
    #: Transports that are not an incident channel kind, by name (``APPRISE``), and why
    #: each missing one is missing.
    transports: Mapping[str, Channel] = field(default_factory=dict)
    transport_problems: Mapping[str, str] = field(default_factory=dict)

    @property
    def available(self) -> frozenset[ChannelKind]:
        return frozenset(self.channels)

    def has(self, kind: ChannelKind | str) -> bool:
        """Whether ``kind`` (a Channel value or a transport name) can be used."""
        return kind in self.transports or kind in self.channels

    def get(self, kind: ChannelKind | str) -> Channel:
        """The channel for ``kind`` (a Channel value, or a transport name such as
        ``"apprise"``); :class:`ChannelUnavailable` if none."""
        if not isinstance(kind, ChannelKind):
            transport = self.transports.get(str(kind))
            if transport is not None:
                return transport
            if str(kind) in self.transport_problems:
                raise ChannelUnavailable(str(kind), self.transport_problems[str(kind)])
        try:
            key = ChannelKind(kind)
        except ValueError:
            known = ", ".join([*(c.value for c in ChannelKind), APPRISE])
            raise ChannelUnavailable(
                str(kind), f"Unknown channel {kind!r} (known: {known})."
            ) from None
        channel = self.channels.get(key)
        if channel is None:
            reason = self.problems.get(key, f"The {key.value} channel is not available.")
            raise ChannelUnavailable(key.value, reason)
        return channel

    def send(self, kind: ChannelKind | str, message: OutgoingMessage) -> DeliveryResult:
        """``get(kind).send(message)``; an unavailable channel is a failed, not retryable
        result carrying the reason."""
        try:
            channel = self.get(kind)
        except ChannelUnavailable as exc:
            return DeliveryResult.failed(exc.reason, retryable=False)
        return channel.send(message)

    def describe(self) -> list[str]:
        """One line per channel, then one per configured transport, for the start-up log."""
        lines = []
        for kind in ChannelKind:
            if kind in self.channels:
                lines.append(f"{kind.value}: ready ({type(self.channels[kind]).__name__})")
            else:
                lines.append(f"{kind.value}: unavailable: {self.problems.get(kind, '?')}")
        for name, transport in self.transports.items():
            lines.append(f"{name}: ready ({transport!r})")
        for name, problem in self.transport_problems.items():
            if problem != _OFF.get(name):  # one nobody configured is not worth a line
                lines.append(f"{name}: unavailable: {problem}")
        return lines


def _missing(kind: ChannelKind, settings: str) -> str:
    return f"The {kind.value} channel is enabled but not configured: set {settings}."


def build_channels(
    config: ChannelsConfig,
    *,
    publish: Publish | None = None,
    in_app_delivery_errors: tuple[type[Exception], ...] = (OSError,),
    sms_provider: SmsProvider | None = None,
) -> ChannelRegistry:
    """Build every enabled, configured channel; record why each other one is unavailable.

    ``publish`` feeds the in-app channel (the realtime layer's publisher);
    ``sms_provider`` overrides ``config.sms_provider`` (a real provider adapter, or a
    :class:`~healthguard.notify.channels.sms.RecordingSmsProvider` in tests).
    """
    channels: dict[ChannelKind, Channel] = {}
    problems: dict[ChannelKind, str] = {}

    provider: SmsProvider | None = sms_provider
    if provider is None and config.sms_provider == "console":
        provider = ConsoleSmsProvider(logger=logging.getLogger(SMS_LOGGER))

    for kind in ChannelKind:
        if kind not in config.enabled:
            problems[kind] = (
                f"The {kind.value} channel is disabled "
                "(HEALTHGUARD_NOTIFY_CHANNELS does not list it)."
            )
            continue
        try:
            built = _build_one(kind, config, publish, in_app_delivery_errors, provider)
        except ValueError as exc:
            problems[kind] = f"The {kind.value} channel is misconfigured: {exc}."
            continue
        if isinstance(built, str):
            problems[kind] = built
        else:
            channels[kind] = built
    transports: dict[str, Channel] = {}
    transport_problems: dict[str, str] = {}
    if config.apprise is None or not config.apprise.urls:
        transport_problems[APPRISE] = _OFF[APPRISE]
    else:
        try:
            transports[APPRISE] = AppriseChannel(config.apprise)
        except ValueError as exc:
            transport_problems[APPRISE] = f"The apprise transport is misconfigured: {exc}."
    return ChannelRegistry(
        channels=channels,
        problems=problems,
        transports=transports,
        transport_problems=transport_problems,
    )


def _build_one(
    kind: ChannelKind,
    config: ChannelsConfig,
    publish: Publish | None,
    in_app_delivery_errors: tuple[type[Exception], ...],
    provider: SmsProvider | None,
) -> Channel | str:
    """The channel, or why it cannot be built (``ValueError``: misconfigured)."""
    if kind is ChannelKind.IN_APP:
        if publish is None:
            return (
                "The in_app channel is enabled but has no publisher "
                "(the worker must pass publish= to build_channels)."
            )
        return InAppChannel(publish, delivery_errors=in_app_delivery_errors)
    if kind is ChannelKind.EMAIL:
        if config.email is None:
            return _missing(kind, "HEALTHGUARD_SMTP_HOST and HEALTHGUARD_SMTP_FROM")
        return EmailChannel(config.email)
    if kind is ChannelKind.PAGER:
        if config.pager_transport == "webhook":
            if config.webhook is None:
                return _missing(
                    kind,
                    "HEALTHGUARD_WEBHOOK_URL and HEALTHGUARD_WEBHOOK_SECRET "
                    "(HEALTHGUARD_PAGER_TRANSPORT=webhook)",
                )
            return WebhookChannel(config.webhook, name=ChannelKind.PAGER)
        if config.wctp is None:
            return _missing(kind, "HEALTHGUARD_WCTP_URL and HEALTHGUARD_WCTP_SENDER_ID")
        return WctpChannel(config.wctp)
    if kind is ChannelKind.PUSH:
        if config.web_push is None:
            return _missing(kind, "HEALTHGUARD_VAPID_PRIVATE_KEY and HEALTHGUARD_VAPID_SUBJECT")
        return WebPushChannel(config.web_push)
    if kind in (ChannelKind.SMS, ChannelKind.VOICE):
        if provider is None:
            return _missing(
                kind,
                "HEALTHGUARD_SMS_PROVIDER (console for demos; a paid SMS/voice service "
                "needs its provider adapter passed to build_channels)",
            )
        return SmsChannel(provider) if kind is ChannelKind.SMS else VoiceChannel(provider)
    raise AssertionError(f"no builder for channel {kind}")  # a new Channel value


class NotifySettings(Protocol):
    """The settings :func:`config_from_settings` reads (``healthguard.settings.Settings``)."""

    @property
    def notify_channels(self) -> list[str]: ...
    @property
    def smtp_host(self) -> str | None: ...
    @property
    def smtp_port(self) -> int: ...
    @property
    def smtp_security(self) -> str: ...
    @property
    def smtp_username(self) -> str | None: ...
    @property
    def smtp_password(self) -> str | None: ...
    @property
    def smtp_from(self) -> str | None: ...
    @property
    def smtp_timeout_seconds(self) -> float: ...
    @property
    def wctp_url(self) -> str | None: ...
    @property
    def wctp_sender_id(self) -> str | None: ...
    @property
    def wctp_security_code(self) -> str | None: ...
    @property
    def wctp_timeout_seconds(self) -> float: ...
    @property
    def wctp_notify_when_delivered(self) -> bool: ...
    @property
    def wctp_notify_when_read(self) -> bool: ...
    @property
    def pager_transport(self) -> str: ...
    @property
    def webhook_url(self) -> str | None: ...
    @property
    def webhook_secret(self) -> str | None: ...
    @property
    def webhook_timeout_seconds(self) -> float: ...
    @property
    def vapid_private_key(self) -> str | None: ...
    @property
    def vapid_subject(self) -> str | None: ...
    @property
    def push_timeout_seconds(self) -> float: ...
    @property
    def push_ttl_seconds(self) -> dict[str, int]: ...
    @property
    def sms_provider(self) -> str: ...

    # Also read when present (older settings objects have no apprise): ``apprise_urls``
    # (list of str), ``apprise_timeout_seconds`` (float).


def parse_enabled(names: Iterable[str]) -> frozenset[ChannelKind]:
    """Channel values (``["in_app", "push"]``) to Channel members; ``ValueError`` naming
    the unknown ones."""
    known = {c.value: c for c in ChannelKind}
    cleaned = [name.strip().lower() for name in names if name.strip()]
    unknown = sorted({name for name in cleaned if name not in known})
    if unknown:
        raise ValueError(
            f"Unknown notification channel(s) {', '.join(unknown)}; known: {', '.join(known)}"
        )
    return frozenset(known[name] for name in cleaned)


def config_from_settings(settings: NotifySettings) -> ChannelsConfig:
    """The channel configuration from the application settings. A channel's parameters are
    present only when its required settings are set."""
    security = _SMTP_SECURITY.get(settings.smtp_security)
    if security is None:
        raise ValueError(
            f"HEALTHGUARD_SMTP_SECURITY {settings.smtp_security!r} is not none, starttls or tls"
        )
    if settings.pager_transport not in ("wctp", "webhook"):
        raise ValueError(
            f"HEALTHGUARD_PAGER_TRANSPORT {settings.pager_transport!r} is not wctp or webhook"
        )
    if settings.sms_provider not in ("none", "console"):
        raise ValueError(
            f"HEALTHGUARD_SMS_PROVIDER {settings.sms_provider!r} is not none or console"
        )
    email = (
        EmailConfig(
            host=settings.smtp_host,
            from_address=settings.smtp_from,
            port=settings.smtp_port,
            security=security,
            username=settings.smtp_username or None,
            password=settings.smtp_password or None,
            timeout=settings.smtp_timeout_seconds,
        )
        if settings.smtp_host and settings.smtp_from
        else None
    )
    wctp = (
        WctpConfig(
            url=settings.wctp_url,
            sender_id=settings.wctp_sender_id,
            security_code=settings.wctp_security_code or None,
            timeout=settings.wctp_timeout_seconds,
            notify_when_delivered=settings.wctp_notify_when_delivered,
            notify_when_read=settings.wctp_notify_when_read,
        )
        if settings.wctp_url and settings.wctp_sender_id
        else None
    )
    webhook = (
        WebhookConfig(
            secret=settings.webhook_secret,
            url=settings.webhook_url,
            timeout=settings.webhook_timeout_seconds,
        )
        if settings.webhook_url and settings.webhook_secret
        else None
    )
    web_push = (
        WebPushConfig(
            vapid_private_key=settings.vapid_private_key,
            vapid_subject=settings.vapid_subject,
            timeout=settings.push_timeout_seconds,
            ttl_seconds=dict(settings.push_ttl_seconds),
        )
        if settings.vapid_private_key and settings.vapid_subject
        else None
    )
    pager: PagerTransport = "webhook" if settings.pager_transport == "webhook" else "wctp"
    sms: SmsProviderName = "console" if settings.sms_provider == "console" else "none"
    return ChannelsConfig(
        enabled=parse_enabled(settings.notify_channels),
        email=email,
        wctp=wctp,
        webhook=webhook,
        pager_transport=pager,
        web_push=web_push,
        sms_provider=sms,
        apprise=_apprise_config(settings),
    )


def _apprise_config(settings: NotifySettings) -> AppriseConfig | None:
    """The Apprise destinations of the settings (None: none configured)."""
    urls = tuple(u.strip() for u in getattr(settings, "apprise_urls", None) or () if u.strip())
    if not urls:
        return None
    return AppriseConfig(urls=urls, timeout=float(getattr(settings, "apprise_timeout_seconds", 10)))
