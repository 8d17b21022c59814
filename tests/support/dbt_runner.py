"""The project's dbt, run as a user runs it, against one test database."""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

import pytest

from crmwh import dbt_runner, settings

PROJECT = dbt_runner.PROJECT


def run(dsn: str, command: str, *args: str, as_of_date: date | None = None,
        dbt_vars: dict | None = None, target: Path | None = None, logs: Path | None = None,
        project: Path = PROJECT, timeout: int = 1200) -> subprocess.CompletedProcess[str]:
    """``dbt <command> *args`` on the database at ``dsn`` through the project's dbt runner
    (:mod:`crmwh.dbt_runner`); the completed process, whatever its exit code.

    Target and logs default to the test home, never the project's own ``target/``: the
    nightly's DAG loads its manifest from there, maybe in another test process."""
    home = settings.load().home
    target = target or home / "dbt_target"
    logs = logs or home / "dbt_logs"
    return dbt_runner.run(dsn, command, *args, as_of_date=as_of_date, dbt_vars=dbt_vars,
                          target=target, logs=logs, project=project, timeout=timeout)


def check(done: subprocess.CompletedProcess[str]) -> str:
    """dbt's output; the test fails with the failing nodes' lines when dbt failed."""
    if done.returncode != 0:
        lines = done.stdout.splitlines()
        bad = [i for i, line in enumerate(lines) if "Failure in" in line or "Error in" in line]
        detail = "\n".join("\n".join(lines[i:i + 8]) for i in bad[:5])
        pytest.fail(f"{' '.join(done.args[1:2])} failed:\n{detail or done.stdout[-3000:]}\n"
                    f"{done.stderr}")
    return done.stdout


def ok(dsn: str, command: str, *args: str, **kwargs) -> str:
    """:func:`run`, failing the test when dbt fails."""
    return check(run(dsn, command, *args, **kwargs))
