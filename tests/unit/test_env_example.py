""".env.example lists every setting, with its default and a description, and nothing else.

The file is parsed as written: each setting is a line `# NAME=default` (commented out) or
`NAME=value`, with a comment line directly above it saying what it does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import AliasChoices
from pydantic.fields import FieldInfo

from healthguard.settings import PROJECT_ROOT, Settings

pytestmark = pytest.mark.unit

ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
VARIABLE_LINE = re.compile(r"^(?:# )?([A-Z][A-Z0-9_]*)=(.*)$")


def env_name(name: str, field: FieldInfo) -> str:
    """The variable a setting is read from (the first alias for DATABASE_URL / REDIS_URL)."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        first = alias.choices[0]
        assert isinstance(first, str), f"{name}: unexpected alias {first!r}"
        return first
    if isinstance(alias, str):
        return alias
    return f"{Settings.model_config.get('env_prefix', '')}{name}".upper()


def expected_variables() -> dict[str, tuple[str, FieldInfo]]:
    return {env_name(name, f): (name, f) for name, f in Settings.model_fields.items()}


def parse_env_example() -> dict[str, tuple[str, str]]:
    """Variable -> (value as written, the line above it)."""
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    found: dict[str, tuple[str, str]] = {}
    for i, line in enumerate(lines):
        match = VARIABLE_LINE.match(line.strip())
        if match is None:
            continue
        name, value = match.groups()
        assert name not in found, f".env.example lists {name} twice"
        found[name] = (value.strip(), lines[i - 1].strip() if i else "")
    return found


def test_env_example_exists() -> None:
    assert ENV_EXAMPLE.is_file(), f"{ENV_EXAMPLE} is missing"


def test_every_setting_is_listed() -> None:
    missing = sorted(set(expected_variables()) - set(parse_env_example()))
    assert not missing, f".env.example is missing {missing}; add them from healthguard/settings.py"


def test_nothing_unknown_is_listed() -> None:
    unknown = sorted(set(parse_env_example()) - set(expected_variables()))
    assert not unknown, f".env.example lists {unknown}, which healthguard/settings.py does not read"


def test_every_variable_has_a_description_above_it() -> None:
    for name, (_, above) in parse_env_example().items():
        is_comment = above.startswith("#") and len(above) > 2
        assert is_comment and not VARIABLE_LINE.match(above), (
            f"{name} in .env.example needs a comment line directly above it saying what it does"
        )


def test_listed_defaults_match_the_settings() -> None:
    listed = parse_env_example()
    for variable, (name, field) in expected_variables().items():
        value, _ = listed[variable]
        default = field.get_default(call_default_factory=True)
        if isinstance(default, dict | list):
            assert json.loads(value) == default, (
                f"{variable}: .env.example says {value!r}, the default of {name} is {default!r}"
            )
        elif default is None:
            assert value == "", f"{variable} has no default; leave it empty in .env.example"
        elif isinstance(default, bool):
            assert value in ("true", "false"), f"{variable}: write true or false"
            assert (value == "true") == default, f"{variable}: the default is {default}"
        elif isinstance(default, Path):
            assert (PROJECT_ROOT / value).resolve() == default.resolve(), (
                f"{variable}: .env.example says {value!r}, the default is {default}"
            )
        else:
            assert type(default)(value) == default, (
                f"{variable}: .env.example says {value!r}, the default of {name} is {default!r}"
            )
