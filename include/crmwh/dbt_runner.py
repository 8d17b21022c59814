"""The project's dbt command line, in one place: ``dbt <command>`` on the project, with the
profile pointed at one warehouse DSN, the as-of date and other vars, and optional target and
log paths. Used by the CLI (docs, the manifest cosmos loads), the benchmarks and the tests;
the nightly's dbt tasks run through cosmos with the same profile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from urllib.parse import unquote, urlsplit

from crmwh.settings import PROJECT_ROOT

PROJECT = PROJECT_ROOT / "dbt_project"


def executable() -> Path:
    """The dbt of this Python environment."""
    return Path(sys.executable).with_name("dbt")


def profile_env(dsn: str) -> dict[str, str]:
    """The DSN split into the variables the dbt profile (``dbt_project/profiles.yml``) reads."""
    parts = urlsplit(dsn)
    return {
        "CRM_DBT_HOST": parts.hostname or "127.0.0.1",
        "CRM_DBT_PORT": str(parts.port or 5432),
        "CRM_DBT_USER": unquote(parts.username or ""),
        "CRM_DBT_PASSWORD": unquote(parts.password or ""),
        "CRM_DBT_DBNAME": parts.path.lstrip("/") or "postgres",
    }


def command(command: str, *args: str, as_of_date: date | None = None,
            dbt_vars: dict | None = None, target: Path | None = None,
            logs: Path | None = None, project: Path = PROJECT) -> list[str]:
    """The argument list of ``dbt <command> *args`` on ``project`` (``command`` may be two
    words, e.g. ``"docs generate"``); ``as_of_date`` sets the var of that name, ``dbt_vars``
    any others."""
    given = {**({"as_of_date": as_of_date.isoformat()} if as_of_date else {}),
             **(dbt_vars or {})}
    cmd = [str(executable()), *command.split(), "--project-dir", str(project),
           "--profiles-dir", str(project)]
    if target is not None:
        cmd += ["--target-path", str(target)]
    if logs is not None:
        cmd += ["--log-path", str(logs)]
    if given:
        cmd += ["--vars", json.dumps(given, default=str)]
    return [*cmd, *args]


def run(dsn: str, command_name: str, *args: str, as_of_date: date | None = None,
        dbt_vars: dict | None = None, target: Path | None = None, logs: Path | None = None,
        project: Path = PROJECT, timeout: float | None = None, capture: bool = True,
        ) -> subprocess.CompletedProcess[str]:
    """Run ``dbt <command_name> *args`` against the warehouse at ``dsn``; the completed
    process, whatever its exit code (output captured as text unless ``capture`` is false)."""
    cmd = command(command_name, *args, as_of_date=as_of_date, dbt_vars=dbt_vars,
                  target=target, logs=logs, project=project)
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "False", **profile_env(dsn)}
    return subprocess.run(cmd, env=env, capture_output=capture, text=True, timeout=timeout)
