"""The warehouse the serving tests read (issue 8): the session's generated sources landed as of
the last generated day into a private database, the project's roles ensured first (as the admin
of a managed Postgres would, before the pipeline builds), then a real ``dbt build`` of the whole
project. Shared by test_roles, test_questions and test_report through the ``served`` fixture.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import psycopg
import pytest

from crmwh import database, pipeline
from crmwh.warehouse import roles
from tests import dbt_runner
from tests.conftest import DAYS, START, drop_database, fresh_database

AS_OF = START + timedelta(days=DAYS - 1)
DB_NAME = "crm_serve"
RUN_ID = f"serve-{AS_OF}"


class Served:
    def __init__(self, dsn: str, as_of: date) -> None:
        self.dsn = dsn
        self.as_of = as_of
        self.run_id = RUN_ID

    def dbt(self, command: str, *args: str) -> str:
        return dbt_runner.ok(self.dsn, command, *args, as_of=self.as_of,
                             dbt_vars={"dq_run_id": RUN_ID})

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
