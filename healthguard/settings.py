"""Every knob of HealthGuard Ops, its default and what it does.

One pydantic-settings object, read from the environment (and `.env` when present).
Variables are prefixed `HEALTHGUARD_`, except the two standard service URLs
`DATABASE_URL` and `REDIS_URL`. `.env.example` lists them all.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Secrets that must be given explicitly outside demo mode: field name -> env variable.
REQUIRED_SECRETS: dict[str, str] = {
    "secret_key": "HEALTHGUARD_SECRET_KEY",
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
    scheduler_interval_seconds: float = Field(
        1.0, description="How often rq-scheduler moves due jobs to their queue (seconds)."
    )

    secret_key: str | None = Field(
        None, description="Signs sessions and tokens. Required outside demo mode."
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

    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level of HealthGuard's own processes."
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
        for field, env_name in REQUIRED_SECRETS.items():
            if getattr(self, field):
                continue
            if self.is_demo:
                setattr(self, field, _demo_secret(self.data_dir, field))
                continue
            raise MissingSecretError(
                f"{env_name} is not set. HealthGuard Ops has no production default for "
                f"secrets: set {env_name} in the environment or in .env, or run in demo "
                "mode with HEALTHGUARD_MODE=demo."
            )


def normalise_database_url(url: str) -> str:
    """Accept the usual spellings of a Postgres URL and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _demo_secret(data_dir: Path, name: str) -> str:
    """A random secret generated once per installation and kept under data_dir."""
    path = data_dir / "demo-secrets" / name
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    path.write_text(value)
    path.chmod(0o600)
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
