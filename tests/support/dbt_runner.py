"""The project's dbt, run as a user runs it, against one test database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from crmwh import airflow_env
from crmwh.settings import PROJECT_ROOT

DBT = Path(sys.executable).with_name("dbt")
PROJECT = PROJECT_ROOT / "dbt_project"


def run(dsn: str, command: str, *args: str, as_of: date | None = None,
        dbt_vars: dict | None = None, target: Path | None = None, logs: Path | None = None,
        project: Path = PROJECT, timeout: int = 1200) -> subprocess.CompletedProcess[str]:
    """``dbt <command> *args`` on the database at ``dsn`` (``as_of`` sets var as_of_date) with
    the project at ``project`` (the repository's by default); the completed process, whatever
    its exit code."""
    given = {**({"as_of_date": str(as_of)} if as_of else {}), **(dbt_vars or {})}
    cmd = [str(DBT), command, "--project-dir", str(project), "--profiles-dir", str(project)]
    if target is not None:
        cmd += ["--target-path", str(target)]
    if logs is not None:
        cmd += ["--log-path", str(logs)]
    if given:
        cmd += ["--vars", json.dumps(given)]
    return subprocess.run([*cmd, *args], env={**os.environ, **airflow_env.dbt_env(dsn)},
                          capture_output=True, text=True, timeout=timeout)


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
