"""``crmwh docs``: the dbt documentation site as one static HTML file.

Runs ``dbt docs generate --static`` against the warehouse (the catalog reads column types from
the live database, so run it after a build) into a private target path, so it never disturbs
the manifest Airflow renders the DAG from, then copies ``static_index.html`` (manifest and
catalog inlined: opens from disk, no server) and the JSON artifacts to ``$CRM_HOME/docs``.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

from crmwh import dbt_runner, warehouse
from crmwh.errors import CrmwhError
from crmwh.settings import Settings

ARTIFACTS = ("manifest.json", "catalog.json", "index.html")


def generate(cfg: Settings, as_of_date: date | None = None, out_dir: Path | None = None,
             dsn: str | None = None) -> Path:
    """Generate the docs (catalog read from ``dsn``, default the configured warehouse); return
    the path of the static single-file site."""
    dsn = dsn or warehouse.ensure_warehouse(cfg)
    out = out_dir or cfg.home / "docs"
    target = cfg.home / "dbt_docs_target"
    done = dbt_runner.run(dsn, "docs generate", "--static", as_of_date=as_of_date,
                          target=target, project=cfg.dbt_project_dir)
    static = target / "static_index.html"
    if done.returncode != 0 or not static.exists():
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
        raise CrmwhError(f"dbt docs generate failed: {tail}",
                         "build the warehouse first (`crmwh demo` or `crmwh run`)")
    out.mkdir(parents=True, exist_ok=True)
    for name in ARTIFACTS:
        if (target / name).exists():
            shutil.copy2(target / name, out / name)
    site = out / "crm_warehouse_docs.html"
    shutil.copy2(static, site)
    return site
