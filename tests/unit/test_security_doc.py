"""docs/SECURITY.md holds the permission matrix and the route table exactly as generated.

The blocks between the marker comments must be what scripts/update-security-tables.py
writes from healthguard.security.permissions and the API's OpenAPI document; when a role,
permission or route changes, run that script.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from healthguard.settings import PROJECT_ROOT

pytestmark = pytest.mark.unit

SCRIPT = PROJECT_ROOT / "scripts" / "update-security-tables.py"
FIX = "run: python scripts/update-security-tables.py"


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("update_security_tables", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def doc_text(tool: ModuleType) -> str:
    path: Path = tool.SECURITY_DOC
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def tables(tool: ModuleType) -> dict[str, str]:
    generated: dict[str, str] = tool.generated_tables()
    return generated


@pytest.mark.parametrize("name", ["permission-table", "route-table"])
def test_block_matches_generated_text(
    tool: ModuleType, doc_text: str, tables: dict[str, str], name: str
) -> None:
    block = tool.current_block(doc_text, name)
    assert block == tool.render_block(name, tables[name]), f"{name} in docs/SECURITY.md: {FIX}"


def test_every_permission_and_route_is_documented(doc_text: str) -> None:
    from healthguard.api import build_api
    from healthguard.security.permissions import Permission

    for permission in Permission:
        assert f"`{permission.value}`" in doc_text, f"{permission.value} is not in SECURITY.md"
    for path in build_api().openapi()["paths"]:
        assert f"`{path}`" in doc_text, f"{path} is not in SECURITY.md: {FIX}"


def test_update_replaces_a_stale_block(tool: ModuleType, tables: dict[str, str]) -> None:
    stale = "\n".join(
        [
            "intro",
            "<!-- permission-table:start -->",
            "| old |",
            "<!-- permission-table:end -->",
            "middle",
            "<!-- route-table:start -->",
            "<!-- route-table:end -->",
            "outro",
        ]
    )
    assert tool.stale_blocks(stale, tables) == ["permission-table", "route-table"]
    fresh = tool.update(stale, tables)
    assert tool.stale_blocks(fresh, tables) == []
    assert fresh.startswith("intro\n") and fresh.endswith("\noutro")
    assert "middle" in fresh and "| old |" not in fresh
    assert tool.update(fresh, tables) == fresh


def test_missing_marker_is_refused(tool: ModuleType) -> None:
    with pytest.raises(tool.MarkerError, match="permission-table:start"):
        tool.current_block("no markers here", "permission-table")
