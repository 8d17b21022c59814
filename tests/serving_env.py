"""The warehouse the serving tests read (issue 8): the session's generated sources landed as of
the last generated day into a private database, the project's roles ensured first (as the admin
of a managed Postgres would, before the pipeline builds), then a real ``dbt build`` of the whole
project. Shared by test_roles, test_questions and test_report through the ``served`` fixture.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from crmwh import airflow_env, database, pipeline, roles
from crmwh.settings import PROJECT_ROOT
from tests.conftest import DAYS, START, drop_database, fresh_database

AS_OF = START + timedelta(days=DAYS - 1)
DBT = Path(sys.executable).with_name("dbt")
DB_NAME = "crm_serve"
RUN_ID = f"serve-{AS_OF}"


class Served:
    def __init__(self, dsn: str, as_of: date) -> None:
        self.dsn = dsn
        self.as_of = as_of
        self.run_id = RUN_ID

    def dbt(self, command: str, *args: str) -> str:
        done = subprocess.run(
            [str(DBT), command, "--project-dir", str(PROJECT_ROOT / "dbt_project"),
             "--profiles-dir", str(PROJECT_ROOT / "dbt_project"),
             "--vars", f"{{as_of_date: '{self.as_of}', dq_run_id: '{RUN_ID}'}}", *args],
            env={**os.environ, **airflow_env.dbt_env(self.dsn)}, capture_output=True, text=True)
        if done.returncode != 0:
            lines = done.stdout.splitlines()
            bad = [i for i, line in enumerate(lines) if "Failure in" in line or "Error in" in line]
            detail = "\n".join("\n".join(lines[i:i + 8]) for i in bad[:5])
            pytest.fail(f"dbt {command} failed:\n{detail or done.stdout[-3000:]}\n{done.stderr}")
        return done.stdout

    def login_dsn(self, role: str) -> str:
        """The DSN of this database logged in as ``role`` (the roles' demo passwords)."""
        from urllib.parse import urlsplit

        parts = urlsplit(self.dsn)
        netloc = f"{role}:{roles.passwords()[role]}@{parts.hostname}:{parts.port}"
        return parts._replace(netloc=netloc).geturl()

    def frame(self, sql: str, dsn: str | None = None) -> pd.DataFrame:
        with psycopg.connect(dsn or self.dsn) as c:
            cur = c.execute(sql)
            return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


@pytest.fixture(scope="session")
def served(cfg, generated, service_up):
    dsn = fresh_database(cfg, DB_NAME)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRM_WAREHOUSE_DSN", dsn)
        for source in pipeline.SOURCES:  # land and gate, as the nightly does
            pipeline.quality_gate(pipeline.extract_and_land(source, AS_OF, RUN_ID), RUN_ID)
    with database.connect(dsn, autocommit=True) as conn:
        roles.ensure_roles(conn)
    warehouse = Served(dsn, AS_OF)
    # the nightly's order: core, the model fits (CLV, churn scores), then the marts
    warehouse.dbt("build", "--exclude", "path:models/marts")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRM_WAREHOUSE_DSN", dsn)
        pipeline.fit_models(AS_OF, RUN_ID)
    warehouse.dbt("build", "--select", "path:models/marts")
    with database.connect(dsn, autocommit=True) as conn:
        roles.ensure_roles(conn)  # what the nightly's last step does after the marts are published
    yield warehouse
    drop_database(cfg, DB_NAME)
