"""Settings: URL spellings, secrets per mode, embedded vs configured services."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from healthguard.settings import MissingSecretError, Settings, normalise_database_url

pytestmark = pytest.mark.unit

ENV_NAMES = [
    "DATABASE_URL",
    "REDIS_URL",
    "HEALTHGUARD_DATABASE_URL",
    "HEALTHGUARD_REDIS_URL",
    "HEALTHGUARD_MODE",
    "HEALTHGUARD_SECRET_KEY",
    "HEALTHGUARD_PHI_KEYRING",
    "HEALTHGUARD_BLIND_INDEX_KEY",
    "HEALTHGUARD_DATA_DIR",
    "HEALTHGUARD_EMBEDDED_POSTGRES_PORT",
    "HEALTHGUARD_EMBEDDED_REDIS_PORT",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def make(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", **values)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("postgres://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_normalise_database_url(raw: str, expected: str) -> None:
    assert normalise_database_url(raw) == expected


def test_production_is_the_default_mode(tmp_path: Path) -> None:
    settings = make(tmp_path)
    assert settings.mode == "production"
    assert not settings.is_demo


def test_production_without_secret_key_names_the_variable(tmp_path: Path) -> None:
    settings = make(tmp_path, mode="production")
    with pytest.raises(MissingSecretError) as info:
        settings.require_secrets()
    assert "HEALTHGUARD_SECRET_KEY" in str(info.value)
    assert settings.secret_key is None
    assert not (tmp_path / "data").exists()  # nothing generated outside demo mode


ALL_SECRETS = {"secret_key": "s3cret", "phi_keyring": "k1=a2V5", "blind_index_key": "idx"}


def test_production_with_every_secret_passes(tmp_path: Path) -> None:
    settings = make(tmp_path, mode="production", **ALL_SECRETS)
    settings.require_secrets()
    assert settings.secret_key == "s3cret"


def test_production_names_each_missing_secret(tmp_path: Path) -> None:
    for missing, variable in [
        ("phi_keyring", "HEALTHGUARD_PHI_KEYRING"),
        ("blind_index_key", "HEALTHGUARD_BLIND_INDEX_KEY"),
    ]:
        given = {k: v for k, v in ALL_SECRETS.items() if k != missing}
        settings = make(tmp_path, mode="production", **given)
        with pytest.raises(MissingSecretError, match=variable):
            settings.require_secrets()


def test_secret_key_is_read_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEALTHGUARD_SECRET_KEY", "from-env")
    settings = make(tmp_path, mode="production", phi_keyring="k1=a2V5", blind_index_key="i")
    settings.require_secrets()
    assert settings.secret_key == "from-env"


def test_demo_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    first = make(tmp_path, mode="demo")
    first.require_secrets()
    assert first.secret_key and len(first.secret_key) >= 32

    path = tmp_path / "data" / "demo-secrets" / "secret_key"
    assert path.read_text().strip() == first.secret_key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    second = make(tmp_path, mode="demo")
    second.require_secrets()
    assert second.secret_key == first.secret_key


def test_demo_secrets_differ_between_installations(tmp_path: Path) -> None:
    a = Settings(_env_file=None, mode="demo", data_dir=tmp_path / "a")  # type: ignore[call-arg]
    b = Settings(_env_file=None, mode="demo", data_dir=tmp_path / "b")  # type: ignore[call-arg]
    a.require_secrets()
    b.require_secrets()
    assert a.secret_key != b.secret_key


def test_demo_mode_keeps_an_explicit_secret(tmp_path: Path) -> None:
    settings = make(tmp_path, mode="demo", secret_key="given")
    settings.require_secrets()
    assert settings.secret_key == "given"
    assert not (tmp_path / "data" / "demo-secrets" / "secret_key").exists()
    # The secrets that were not given are generated, the keyring in its parseable form.
    assert settings.phi_keyring and settings.phi_keyring.startswith("demo1=")


def test_embedded_urls_use_the_configured_ports(tmp_path: Path) -> None:
    settings = make(tmp_path, embedded_postgres_port=15432, embedded_redis_port=16379)
    assert settings.uses_embedded_postgres()
    assert settings.uses_embedded_redis()
    assert (
        settings.effective_database_url()
        == "postgresql+psycopg://postgres@127.0.0.1:15432/healthguard"
    )
    assert settings.effective_redis_url() == "redis://127.0.0.1:16379/0"


def test_configured_urls_win_and_are_normalised(tmp_path: Path) -> None:
    settings = make(
        tmp_path, DATABASE_URL="postgres://hg:pw@db:5432/hg", REDIS_URL="redis://cache:6379/2"
    )
    assert not settings.uses_embedded_postgres()
    assert not settings.uses_embedded_redis()
    assert settings.effective_database_url() == "postgresql+psycopg://hg:pw@db:5432/hg"
    assert settings.effective_redis_url() == "redis://cache:6379/2"


def test_urls_from_the_standard_environment_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://x@y/z")
    monkeypatch.setenv("REDIS_URL", "redis://r:1/0")
    settings = make(tmp_path)
    assert settings.effective_database_url() == "postgresql+psycopg://x@y/z"
    assert settings.effective_redis_url() == "redis://r:1/0"


def test_public_url_defaults_to_the_web_port(tmp_path: Path) -> None:
    assert make(tmp_path, web_port=3123).url == "http://localhost:3123"
    assert make(tmp_path, public_url="https://hg.example").url == "https://hg.example"


def test_invalid_mode_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"):
        make(tmp_path, mode="staging")
