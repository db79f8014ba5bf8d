"""Integration tests use real components (nginx with Lua, Chromium, Hugo, Spark).

Where one is missing, the test is skipped, unless RECSYS_REQUIRE_INTEGRATION=1 (set by .ci/run):
then it fails, so CI never passes by skipping. ``tests/`` is not a package: import this module as
``from integration import need, need_program``.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

REQUIRED = os.environ.get("RECSYS_REQUIRE_INTEGRATION") == "1"


def need(ok: bool, what: str) -> None:
    """Skip (or fail under RECSYS_REQUIRE_INTEGRATION=1) when ``ok`` is false."""
    if ok:
        return
    message = f"{what} is not available (.ci/run installs it)"
    if REQUIRED:
        pytest.fail(message + "; RECSYS_REQUIRE_INTEGRATION=1 requires it", pytrace=False)
    pytest.skip(message)


def need_program(name: str, *alternatives: str) -> str:
    """The path of the first program found among ``name`` and ``alternatives``."""
    for candidate in (name, *alternatives):
        path = shutil.which(candidate)
        if path:
            return path
    need(False, f"the program {name}")
    return ""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ROOT = Path(__file__).resolve().parents[1]
#: Where the shared real-world data sets live (never copied into the project; RECSYS_SHARED_DATA overrides).
SHARED_CANDIDATES = [Path(p) for p in (os.environ.get("RECSYS_SHARED_DATA", ""), ROOT.parent / "shared" / "data",
                                       "/work/shared/data") if p]


def shared_data(*parts: str) -> Path:
    """A path under ``../shared/data``; skipped with the reason when absent, failing under ``CI=true``."""
    for base in SHARED_CANDIDATES:
        path = base.joinpath(*parts)
        if path.exists():
            return path
    message = (f"{'/'.join(parts)} of the shared data is not on this machine "
               f"(looked in {', '.join(map(str, SHARED_CANDIDATES))})")
    if os.environ.get("CI") == "true":
        pytest.fail(message + "; CI=true requires it", pytrace=False)
    pytest.skip(message)
    raise AssertionError("unreachable")
