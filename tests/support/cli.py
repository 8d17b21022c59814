"""The command line run as a user runs it (a subprocess), and its one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys

CRMWH = [sys.executable, "-m", "crmwh.cli"]


def crmwh(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env}
    return subprocess.run([*CRMWH, *args], capture_output=True, text=True, env=full, timeout=120)


def assert_one_clear_line(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, done
    err = done.stderr.strip().splitlines()
    assert len(err) == 1, done.stderr  # no traceback wall
    assert err[0].startswith("crmwh: error: ")
    assert "Traceback" not in done.stderr
    for w in words:
        assert w in err[0], err[0]
