"""Find the Chromium the end-to-end tests drive.

Order: HEALTHGUARD_CHROMIUM, the system Chromium (/usr/bin/chromium or on PATH), then the
browser Playwright installed for itself. Run as a script, it exits 0 when one is found.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

# The three screens the product is built for.
DESKTOP = {"width": 1440, "height": 900}
TABLET = {"width": 820, "height": 1180}
PHONE = {"width": 390, "height": 844}

# Flags for a headless Chromium on a closed network, run as root in CI.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def system_chromium() -> str | None:
    configured = os.environ.get("HEALTHGUARD_CHROMIUM")
    if configured and Path(configured).exists():
        return configured
    for candidate in (
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def playwright_chromium() -> str | None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        path = p.chromium.executable_path
    return path if path and Path(path).exists() else None


def chromium_executable() -> str | None:
    """The system Chromium, or None to let Playwright use its own."""
    return system_chromium()


if __name__ == "__main__":
    found = system_chromium() or playwright_chromium()
    if found:
        print(f"Chromium for the e2e tests: {found}")
        sys.exit(0)
    print("No Chromium found; installing Playwright's own.")
    sys.exit(1)
