"""Keep the last N runs' files, delete older ones (setting ``CRM_KEEP_RUNS``).

Each nightly run leaves a report (``$CRM_HOME/reports/crm_nightly_<as-of>.html``), a log
(``$CRM_HOME/logs/crm_nightly_<as-of>.log``, Airflow's task logs under
``$CRM_HOME/airflow/logs/dag_id=crm_nightly/run_id=<run>/``) and a GX Data Docs site
(``$CRM_HOME/data_docs/<run>/``). Without pruning they grow without end (the Data Docs by
megabytes a night). :func:`prune` keeps the newest ``keep`` of each kind: reports and logs by
as-of date in their name, run folders by modification time. ``latest.html`` stays.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from crmwh.settings import Settings


def _oldest(paths: list[Path], keep: int, *, by_name: bool) -> list[Path]:
    ordered = sorted(paths, key=(lambda p: p.name) if by_name else (lambda p: p.stat().st_mtime))
    return ordered[:-keep] if len(ordered) > keep else []


def prune(cfg: Settings, keep: int | None = None) -> dict[str, int]:
    """Delete all but the newest ``keep`` (default ``cfg.keep_runs``) reports, run logs,
    Airflow run log folders and Data Docs sites; returns how many of each were deleted."""
    keep = keep or cfg.keep_runs
    home = cfg.home
    kinds = {
        "reports": (list((home / "reports").glob("crm_nightly_*.html")), True),
        "logs": (list((home / "logs").glob("crm_nightly_*.log")), True),
        "airflow_logs": (
            [p for p in (cfg.airflow_home / "logs" / "dag_id=crm_nightly").glob("run_id=*")
             if p.is_dir()], False),
        "data_docs": ([p for p in (home / "data_docs").glob("*") if p.is_dir()], False),
    }
    deleted = {}
    for kind, (paths, by_name) in kinds.items():
        old = _oldest(paths, keep, by_name=by_name)
        for path in old:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        deleted[kind] = len(old)
    return deleted
