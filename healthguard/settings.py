"""Every knob of HealthGuard Ops, its default and what it does.

One pydantic-settings object, read from the environment (and `.env` when present).
Variables are prefixed `HEALTHGUARD_`, except the two standard service URLs
`DATABASE_URL` and `REDIS_URL`. `.env.example` lists them all.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _random_token() -> str:
    return secrets.token_urlsafe(48)


def _random_keyring() -> str:
    return "demo1=" + base64.b64encode(secrets.token_bytes(32)).decode()


# Secrets that must be given explicitly outside demo mode:
# field name -> (env variable, how demo mode generates one).
REQUIRED_SECRETS: dict[str, tuple[str, Callable[[], str]]] = {
    "secret_key": ("HEALTHGUARD_SECRET_KEY", _random_token),
    "phi_keyring": ("HEALTHGUARD_PHI_KEYRING", _random_keyring),
    "blind_index_key": ("HEALTHGUARD_BLIND_INDEX_KEY", _random_token),
}


class MissingSecretError(RuntimeError):
    """A secret has no value and the product is not in demo mode."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HEALTHGUARD_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    mode: Literal["demo", "production"] = Field(
        "production",
        description="demo: embedded services, demo users and generated secrets; "
        "production: every secret must be set.",
    )
    hospital_name: str = Field("HealthGuard General Hospital", description="Shown in the header.")
    timezone: str = Field("Europe/London", description="Hospital local time zone for screens.")

    # Where embedded services keep their data (Postgres cluster, Redis AOF, logs, pid files).
    data_dir: Path = Field(
        PROJECT_ROOT / ".healthguard",
        description="Folder for the embedded Postgres and Redis data, logs and pid files.",
    )

    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("DATABASE_URL", "HEALTHGUARD_DATABASE_URL"),
        description="Postgres URL (postgresql+psycopg://...). Unset: start the embedded Postgres.",
    )
    redis_url: str | None = Field(
        None,
        validation_alias=AliasChoices("REDIS_URL", "HEALTHGUARD_REDIS_URL"),
        description="Redis URL (redis://host:port/db). Unset: start the embedded Redis.",
    )
    embedded_postgres_port: int = Field(
        54329, description="Loopback port of the embedded Postgres."
    )
    embedded_redis_port: int = Field(63799, description="Loopback port of the embedded Redis.")

    web_host: str = Field("0.0.0.0", description="Address the web app listens on.")
    web_port: int = Field(3000, description="The one port serving the UI, the API and websockets.")
    web_workers: int = Field(2, description="Web (Granian) worker processes.")
    public_url: str | None = Field(
        None, description="URL printed to users; defaults to http://localhost:<web_port>."
    )
    rq_workers: int = Field(1, description="RQ worker processes started by `healthguard up`.")
    triage_workers: int = Field(
        2,
        ge=1,
        description="Triage workers started by `healthguard up` (non-forking; each takes the "
        "urgent lane first, between batches).",
    )
    urgent_triage_workers: int = Field(
        1,
        ge=0,
        description="Urgent-lane workers started by `healthguard up` (non-forking; they score "
        "only possible cardiac arrests, so an arrest never waits behind a batch being scored).",
    )
    alerts_workers: int = Field(
        2,
        ge=1,
        description="Alerts workers started by `healthguard up` (non-forking; escalation "
        "timers and notification deliveries: with 2 a timer never waits behind a slow send).",
    )
    scheduler_interval_seconds: float = Field(
        1.0, description="How often rq-scheduler moves due jobs to their queue (seconds)."
    )

    secret_key: str | None = Field(
        None, description="Signs sessions and tokens (HS256). Required outside demo mode."
    )
    phi_keyring: str | None = Field(
        None,
        description="Patient-data encryption keys, 'id=base64(32 bytes)' separated by commas; "
        "the first encrypts, all decrypt. Required outside demo mode.",
    )
    blind_index_key: str | None = Field(
        None,
        description="Key of the HMAC-SHA256 blind index used to look up MRNs. Required "
        "outside demo mode; never rotate it without re-indexing.",
    )

    access_token_ttl_seconds: int = Field(900, description="Lifetime of an API access token.")
    refresh_token_ttl_seconds: int = Field(
        43200, description="Lifetime of an API refresh token (rotated at every use)."
    )
    jwt_issuer: str = Field("healthguard-ops", description="The `iss` of issued tokens.")
    jwt_audience: str = Field("healthguard-api", description="The `aud` of issued tokens.")
    login_max_failures: int = Field(
        5, description="Failed sign-ins within the window that lock an account."
    )
    login_failure_window_seconds: int = Field(
        900, description="Window in which failed sign-ins are counted."
    )
    lockout_seconds: int = Field(900, description="How long a locked account stays locked.")
    session_idle_seconds: int = Field(
        900, description="A UI session ends after this long without activity."
    )
    session_max_seconds: int = Field(
        43200, description="A UI session ends this long after sign-in, active or not."
    )
    session_idle_seconds_by_role: dict[str, int] = Field(
        default_factory=dict,
        description='Per-role idle limits overriding the default, JSON, e.g. {"admin": 600}.',
    )
    break_glass_seconds: int = Field(
        3600, description="How long break-the-glass access to one patient lasts."
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Other origins allowed to call the API from a browser, JSON list. "
        "Empty: same origin only.",
    )

    realtime_channel: str = Field(
        "healthguard:changes", description="Redis pub/sub channel carrying change events."
    )
    realtime_claim_ttl_seconds: int = Field(
        60, description="How long a worker's claim on a change event is kept (dedup window)."
    )
    realtime_max_backoff_seconds: float = Field(
        10.0, description="Longest wait between reconnects of the realtime bridge to Redis."
    )

    realtime_resync_seconds: float = Field(
        30.0,
        description="Every this many seconds one web worker reloads every live feed from "
        "Postgres (safety net for a lost change event).",
    )
    realtime_followed_feed_hours: float = Field(
        12.0,
        gt=0,
        description="The resync also reloads the own feed (my alarms, bell) of each person "
        "whose browser opened a page within this many hours.",
    )
    realtime_vitals_reload_seconds: float = Field(
        2.0,
        ge=0,
        description="New vital signs reload a ward's bed board at most this often (seconds).",
    )
    realtime_incident_reload_seconds: float = Field(
        0.25,
        ge=0,
        le=5,
        description="Incident changes reload a feed (incident queue, my alarms) at once, "
        "then at most this often during a burst (seconds).",
    )

    news2_freshness_seconds: int = Field(
        3600,
        description="NEWS2 uses the freshest value of each parameter no older than this; older "
        "parameters count as missing (partial score).",
    )
    triage_open_priorities: list[str] = Field(
        default_factory=lambda: ["P0", "P1", "P2"],
        description='Priorities whose alerts open incidents, JSON list (add "P3" to open '
        "incidents for worsening low scores too).",
    )
    triage_hysteresis_seconds: int = Field(
        300,
        description="An alarm of a condition resolved less than this long ago does not re-open "
        "it at the same or a lower priority (flapping values).",
    )
    mllp_host: str = Field("0.0.0.0", description="Address the HL7 v2 MLLP listener binds.")
    mllp_port: int = Field(2575, description="Port of the HL7 v2 MLLP listener (0: off).")
    mllp_allowed_networks: list[str] = Field(
        default_factory=list,
        description="Networks (CIDR, JSON list) the HL7 listener accepts connections from, "
        'e.g. ["10.20.0.0/16"] for the monitor gateways. Empty: any address.',
    )

    # --- On-call and notifications (docs/NOTIFICATION_FLOW.md) -------------------------------
    escalation_sweep_seconds: float = Field(
        2.0,
        description="Every this many seconds a sweep fires any escalation timer whose "
        "scheduled job was lost (a restarted scheduler or worker loses no escalation).",
    )
    shifts_ahead_days: int = Field(
        14, ge=1, le=90, description="Shifts are derived from the schedules this many days ahead."
    )
    swap_min_rest_hours: float = Field(
        11.0,
        ge=0,
        le=48,
        description="Minimum rest in hours between two shifts of one person: a swap that "
        "leaves less is warned about when asked for and refused at approval (EU Working Time "
        "Directive: 11 h).",
    )
    notify_channels: list[str] = Field(
        default_factory=lambda: ["in_app", "push", "sms", "voice", "email", "pager"],
        description="Enabled channels, JSON list of in_app, push, sms, voice, email, pager. "
        "A channel whose settings below are missing is reported and skipped (the next "
        "channel of the person's rule is used).",
    )
    answer_link_minutes: int = Field(
        15, ge=1, le=240, description="Answer links in SMS and email work this long, once."
    )
    smtp_host: str | None = Field(None, description="SMTP relay for email notifications.")
    smtp_port: int = Field(587, description="SMTP port.")
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        "starttls", description="none, starttls, or tls (implicit TLS, usually port 465)."
    )
    smtp_username: str | None = Field(None, description="SMTP login (optional).")
    smtp_password: str | None = Field(None, description="SMTP password (optional).")
    smtp_from: str | None = Field(
        None, description='Sender, e.g. "HealthGuard Ops <healthguard@hospital.org>".'
    )
    smtp_timeout_seconds: float = Field(10.0, description="SMTP connect and send timeout.")
    wctp_url: str | None = Field(
        None, description="WCTP 1.3 endpoint of the pager / communicator gateway."
    )
    wctp_sender_id: str | None = Field(None, description="WCTP senderID (wctp-Originator).")
    wctp_security_code: str | None = Field(None, description="WCTP securityCode (secret).")
    wctp_timeout_seconds: float = Field(10.0, description="WCTP request timeout.")
    wctp_notify_when_delivered: bool = Field(True, description="Ask the gateway for delivery.")
    wctp_notify_when_read: bool = Field(False, description="Ask for read receipts.")
    wctp_callback_key: str | None = Field(
        None,
        description="Secret (16+ characters) the WCTP gateway sends in the receipts URL, "
        "/api/v1/notifications/wctp?key=...; unset: WCTP receipts are refused.",
    )
    pager_transport: Literal["wctp", "webhook"] = Field(
        "wctp", description="How pager notifications leave: WCTP gateway or signed webhook."
    )
    webhook_url: str | None = Field(None, description="Signed JSON webhook for notifications.")
    webhook_secret: str | None = Field(None, description="HMAC secret of the webhook (16+).")
    webhook_timeout_seconds: float = Field(5.0, description="Webhook request timeout.")
    vapid_private_key: str | None = Field(
        None, description="Web Push VAPID private key (PEM or base64url); see docs/SECURITY.md."
    )
    vapid_subject: str | None = Field(
        None, description="Web Push VAPID subject, mailto: or https: of the hospital."
    )
    push_timeout_seconds: float = Field(10.0, description="Web Push request timeout.")
    push_ttl_seconds: dict[str, int] = Field(
        default_factory=dict,
        description='Web Push TTL per priority, JSON, e.g. {"P0": 600}; defaults per priority.',
    )
    sms_provider: Literal["none", "console"] = Field(
        "console",
        description="SMS and voice provider: console writes them to the log (demos); a paid "
        "provider adapter plugs in behind the same interface.",
    )
    twilio_auth_token: str | None = Field(
        None,
        description="Twilio auth token (secret): verifies X-Twilio-Signature on the SMS status "
        "callback and the SMS reply webhook, signed for HEALTHGUARD_PUBLIC_URL + the path. "
        "Unset: those routes take an integration key only.",
    )
    apprise_urls: list[str] = Field(
        default_factory=list,
        description="Apprise URLs (JSON list; they hold secrets) of the hospital's chat and "
        'push destinations, e.g. ["msteams://...", "ntfy://ntfy.hospital.org/healthguard"]: '
        "certification reminders for people with no e-mail and operator broadcasts. "
        "Empty: off.",
    )
    apprise_timeout_seconds: float = Field(
        10.0, description="Connect and read timeout of each Apprise destination."
    )

    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level of HealthGuard's own processes."
    )
    grafana_url: str | None = Field(
        None,
        pattern=r"^(https?://\S+)?$",  # empty: no link, as unset
        description="Address (http:// or https://) of the hospital's Grafana dashboards, "
        "linked from the dashboard's key metrics. Unset: no link.",
    )

    @property
    def is_demo(self) -> bool:
        return self.mode == "demo"

    @property
    def url(self) -> str:
        return self.public_url or f"http://localhost:{self.web_port}"

    def effective_database_url(self) -> str:
        """The database URL in use: the configured one or the embedded server's."""
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.embedded_postgres_port}/healthguard"

    def effective_redis_url(self) -> str:
        if self.redis_url:
            return self.redis_url
        return f"redis://127.0.0.1:{self.embedded_redis_port}/0"

    def uses_embedded_postgres(self) -> bool:
        return not self.database_url

    def uses_embedded_redis(self) -> bool:
        return not self.redis_url

    def require_secrets(self) -> None:
        """Fill demo secrets, or stop with a message naming the first missing secret."""
        for field, (env_name, generate) in REQUIRED_SECRETS.items():
            if getattr(self, field):
                continue
            if self.is_demo:
                setattr(self, field, _demo_secret(self.data_dir, field, generate))
                continue
            raise MissingSecretError(
                f"{env_name} is not set. HealthGuard Ops has no production default for "
                f"secrets: set {env_name} in the environment or in .env, or run in demo "
                "mode with HEALTHGUARD_MODE=demo."
            )

    def secret(self, field: str) -> str:
        """A required secret's value, or MissingSecretError naming its variable."""
        value = getattr(self, field)
        if not value:
            self.require_secrets()
            value = getattr(self, field)
        return str(value)

    def idle_seconds_for(self, role: str) -> int:
        return self.session_idle_seconds_by_role.get(role, self.session_idle_seconds)


def normalise_database_url(url: str) -> str:
    """Accept the usual spellings of a Postgres URL and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _demo_secret(data_dir: Path, name: str, generate: Callable[[], str] = _random_token) -> str:
    """A random secret generated once per installation and kept under data_dir."""
    path = data_dir / "demo-secrets" / name
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = generate()
    path.write_text(value)
    path.chmod(0o600)
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = Settings()
    if settings.is_demo:
        settings.require_secrets()  # demo secrets are files, the same in every process
    return settings
