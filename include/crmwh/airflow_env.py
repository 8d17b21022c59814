"""Run Airflow for the project: a project-local home with SQLite metadata.

``crmwh run --date D`` runs the real ``crm_nightly`` DAG through Airflow
(``airflow dags test``), with the warehouse DSN mirrored into the Airflow
connection ``crm_warehouse``. Under the real scheduler (:mod:`crmwh.scheduler`) the same
environment gets Postgres metadata and LocalExecutor on top.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from crmwh import dbt_runner
from crmwh.errors import CrmwhError
from crmwh.settings import PROJECT_ROOT, WAREHOUSE_CONN_ID, Settings

DAG_ID = "crm_nightly"


def environment(cfg: Settings) -> dict[str, str]:
    """The environment Airflow, cosmos and dbt need, on top of the current one."""
    home = cfg.airflow_home
    env = os.environ.copy()
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(cfg.dags_dir),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__COSMOS__CACHE_DIR": str(cfg.home / "cosmos_cache"),
        "AIRFLOW__API__HOST": "127.0.0.1",
        f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}": cfg.warehouse_dsn,
        "CRM_HOME": str(cfg.home),
        "CRM_PG_PORT": str(cfg.pg_port),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        **dbt_runner.profile_env(cfg.warehouse_dsn),
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(PROJECT_ROOT / "include"), env.get("PYTHONPATH", "")) if p
        ),
    })
    return env


def apply(cfg: Settings) -> None:
    """Set the Airflow environment in this process (for in-process ``dag.test()``)."""
    os.environ.update(environment(cfg))


def executable() -> Path:
    """The ``airflow`` command of this Python environment."""
    return Path(sys.executable).with_name("airflow")


def command(cfg: Settings, *args: str, log: Path | None = None,
            env: dict[str, str] | None = None,
            watch: Callable[[bytes], None] | None = None) -> int:
    """Run ``airflow <args>`` in ``env`` (default :func:`environment`), its output appended
    to ``log`` (default: discarded), each new piece of it handed to ``watch`` while it runs;
    return its exit code."""
    cmd = [str(executable()), *args]
    env = env or environment(cfg)
    if log is None:
        return subprocess.run(cmd, env=env, capture_output=True).returncode
    with log.open("ab") as out:
        process = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        return process.wait() if watch is None else follow(process, log, watch)


def follow(process: subprocess.Popen, log: Path, watch: Callable[[bytes], None],
           every_s: float = 0.5) -> int:
    """Hand what ``process`` appends to ``log`` to ``watch`` until it ends; its exit code."""
    with log.open("rb") as tail:
        tail.seek(0, os.SEEK_END)
        while True:
            code = process.poll()
            chunk = tail.read()
            if chunk:
                watch(chunk)
            if code is not None:
                return code
            time.sleep(every_s)


def task_count(cfg: Settings, run_id: str) -> int | None:
    """How many tasks a run of ``airflow dags test`` has (its SQLite metadata); None when
    it cannot be read now."""
    db = cfg.airflow_home / "airflow.db"
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True,
                                                timeout=2)) as conn:
            row = conn.execute("select count(distinct task_id) from task_instance "
                               "where dag_id = ? and run_id = ?", (DAG_ID, run_id)).fetchone()
    except sqlite3.Error:
        return None
    return row[0] or None


def migrate(cfg: Settings) -> None:
    """``airflow db migrate`` once per Airflow home (and after upgrades)."""
    import airflow

    marker = cfg.airflow_home / f".migrated-{airflow.__version__}"
    if marker.exists():
        return
    cfg.airflow_home.mkdir(parents=True, exist_ok=True)
    log = cfg.airflow_home / "migrate.log"
    if command(cfg, "db", "migrate", log=log) != 0:
        raise CrmwhError("`airflow db migrate` failed", f"see {log}")
    marker.touch()


def dbt_manifest(cfg: Settings) -> Path:
    """Parse the dbt project when it changed, so cosmos loads the DAG from the manifest.

    dbt parses into a private folder and the manifest replaces the old one in one rename, so
    a DAG loading while another process parses never reads half a file."""
    project = cfg.dbt_project_dir
    manifest = project / "target" / "manifest.json"
    sources = [p for p in project.rglob("*") if p.suffix in (".sql", ".yml", ".yaml")
               and "target" not in p.parts and "logs" not in p.parts]
    newest = max((p.stat().st_mtime for p in sources), default=0)
    if manifest.exists() and manifest.stat().st_mtime >= newest:
        return manifest
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=manifest.parent, prefix=".parse-") as work:
        done = dbt_runner.run(cfg.warehouse_dsn, "parse", "--quiet", project=project,
                              target=Path(work), logs=Path(work) / "logs")
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
            raise CrmwhError(f"`dbt parse` failed: {' | '.join(tail)}", "fix the dbt project")
        os.replace(Path(work) / "manifest.json", manifest)
    return manifest


def run_dag(cfg: Settings, logical_date: str, log: Path, rewind: bool = False,
            watch: Callable[[bytes], None] | None = None) -> int:
    """Run ``crm_nightly`` for one logical date through Airflow (``rewind``: it may publish
    an as-of date older than the published one), its log handed to ``watch`` as it grows;
    return its exit code."""
    conf = ("-c", '{"rewind": true}') if rewind else ()
    return command(cfg, "dags", "test", DAG_ID, logical_date, *conf, log=log, watch=watch)
