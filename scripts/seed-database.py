#!/usr/bin/env python3
"""Load the demo hospital into the configured database (idempotent).

Usage: python scripts/seed-database.py   (the database must be migrated: `healthguard migrate`)
The same data is loaded by `healthguard seed`.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from healthguard.db import session_scope
from healthguard.seed import seed_demo_data
from healthguard.settings import get_settings


def main() -> int:
    url = get_settings().effective_database_url()
    with session_scope(url) as session:
        created = seed_demo_data(session, datetime.now(UTC))
    summary = ", ".join(f"{n} {name}" for name, n in created.items() if n) or "nothing new"
    print(f"Demo data seeded: {summary}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
