"""The warehouse the serving and churn tests read, built once per test run: the session's
generated sources landed and gated as of the last generated day into a private database, the
project's roles ensured first (as the admin of a managed Postgres would, before the pipeline
builds), then the nightly's order: ``dbt build`` of everything but the marts, the model fits
(CLV, churn scores), the marts. The ``served`` fixture (tests/integration/conftest.py) yields
it to test_roles, test_questions, test_report, test_marts_documented and test_churn_warehouse.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pandas as pd
import pytest

from crmwh import database, pipeline, settings
from crmwh.settings import Settings
from crmwh.warehouse import roles
from tests.support import dbt_runner
from tests.support.databases import frame as read
from tests.support.databases import fresh_database
from tests.support.demo import LAST_DAY

AS_OF = LAST_DAY
DB_NAME = "crm_serve"
RUN_ID = f"serve-{AS_OF}"


class Served:
    def __init__(self, dsn: str, as_of_date: date) -> None:
        self.dsn = dsn
        self.as_of_date = as_of_date
        self.run_id = RUN_ID
        self.fitted: dict = {}  # what the nightly's model fit returned

    def dbt(self, command: str, *args: str) -> str:
        return dbt_runner.ok(self.dsn, command, *args, as_of_date=self.as_of_date,
                             dbt_vars={"dq_run_id": RUN_ID})

    def login_dsn(self, role: str) -> str:
        """The DSN of this database logged in as ``role`` (its password from the home)."""
        return replace(settings.load(), warehouse_dsn=self.dsn).role_dsn(role)

    def frame(self, sql: str, dsn: str | None = None) -> pd.DataFrame:
        return read(dsn or self.dsn, sql)


def build(cfg: Settings) -> Served:
    """Land, gate and build the served warehouse (database ``DB_NAME``) on the test server."""
    dsn = fresh_database(cfg, DB_NAME)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRM_WAREHOUSE_DSN", dsn)
        for source in pipeline.SOURCES:  # land and gate, as the nightly does
            pipeline.quality_gate(pipeline.extract_and_land(source, AS_OF, RUN_ID), RUN_ID)
    with database.connect(dsn, autocommit=True) as conn:
        roles.ensure_roles(conn, cfg.secrets)
    warehouse = Served(dsn, AS_OF)
    # the nightly's order: core, the model fits (CLV, churn scores), then the marts
    warehouse.dbt("build", "--exclude", "path:models/marts")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRM_WAREHOUSE_DSN", dsn)
        warehouse.fitted = pipeline.fit_models(AS_OF, RUN_ID)
    warehouse.dbt("build", "--select", "path:models/marts")
    with database.connect(dsn, autocommit=True) as conn:
        # what the nightly's last step does after the marts are published
        roles.ensure_roles(conn, cfg.secrets)
    return warehouse
