#!/usr/bin/env python3
"""Regenerate the two generated tables of docs/SECURITY.md in place.

- between <!-- permission-table:start --> and <!-- permission-table:end -->: the permission
  matrix, from healthguard.security.permissions.permission_table_markdown();
- between <!-- route-table:start --> and <!-- route-table:end -->: every API operation with
  its declared permission, from route_table_markdown(build_api().openapi()).

Usage: python scripts/update-security-tables.py           rewrite docs/SECURITY.md
       python scripts/update-security-tables.py --check   exit 1 (and say which) if stale
tests/unit/test_security_doc.py fails when the file differs from what this would write.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECURITY_DOC = ROOT / "docs" / "SECURITY.md"
BLOCKS = ("permission-table", "route-table")


class MarkerError(ValueError):
    """A block's start or end marker is missing, repeated or out of order."""


def generated_tables() -> dict[str, str]:
    """The text each block must hold, by block name."""
    from healthguard.api import build_api
    from healthguard.security.permissions import (
        permission_table_markdown,
        route_table_markdown,
    )

    return {
        "permission-table": permission_table_markdown(),
        "route-table": route_table_markdown(build_api().openapi()),
    }


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def render_block(name: str, body: str) -> str:
    """A block as it stands in the file: the markers around the body, a blank line each side
    (so the table is a table in every markdown renderer)."""
    start, end = markers(name)
    return f"{start}\n\n{body.rstrip(chr(10))}\n\n{end}"


def _pattern(name: str) -> re.Pattern[str]:
    start, end = (re.escape(m) for m in markers(name))
    return re.compile(f"{start}.*?{end}", re.DOTALL)


def current_block(text: str, name: str) -> str:
    """The block as it is in ``text``, markers included (MarkerError when not exactly one)."""
    start, end = markers(name)
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise MarkerError(f"docs/SECURITY.md needs exactly one '{start}' followed by one '{end}'")
    match = _pattern(name).search(text)
    assert match is not None
    return match.group(0)


def update(text: str, tables: dict[str, str]) -> str:
    """``text`` with every block replaced by its generated table."""
    for name in BLOCKS:
        current_block(text, name)  # checks the markers
        block = render_block(name, tables[name])
        text = _pattern(name).sub(lambda _m, b=block: b, text, count=1)
    return text


def stale_blocks(text: str, tables: dict[str, str]) -> list[str]:
    """Names of the blocks whose text differs from the generated one."""
    return [n for n in BLOCKS if current_block(text, n) != render_block(n, tables[n])]


def main() -> int:
    parser = argparse.ArgumentParser(description="Regenerate the tables of docs/SECURITY.md.")
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when stale")
    args = parser.parse_args()
    text = SECURITY_DOC.read_text(encoding="utf-8")
    tables = generated_tables()
    try:
        stale = stale_blocks(text, tables)
    except MarkerError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.check:
        if stale:
            print(
                f"docs/SECURITY.md is stale ({', '.join(stale)}): run "
                "python scripts/update-security-tables.py",
                file=sys.stderr,
            )
            return 1
        print("docs/SECURITY.md tables are up to date.")
        return 0
    if not stale:
        print("docs/SECURITY.md tables are already up to date.")
        return 0
    SECURITY_DOC.write_text(update(text, tables), encoding="utf-8")
    print(f"docs/SECURITY.md: regenerated {', '.join(stale)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
