"""A private test warehouse on the test server: land the simulated sources for a night, run the
project's dbt as of a date, read a query."""

from __future__ import annotations

from datetime import date

import pandas as pd

from crmwh import pipeline
from tests.support import dbt_runner
from tests.support.databases import frame


class Warehouse:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def land(self, day: date, run_id: str) -> None:
        """Extract, land and gate every source as of ``day``, as the nightly does
        (``CRM_WAREHOUSE_DSN`` must be this): staging reads only batches that passed."""
        run = f"{run_id}-{day}"
        for source in pipeline.SOURCES:
            pipeline.quality_gate(pipeline.extract_and_land(source, day, run), run, source)

    def dbt(self, command: str, day: date, *args: str) -> str:
        return dbt_runner.ok(self.dsn, command, *args, as_of_date=day)

    def frame(self, sql: str) -> pd.DataFrame:
        return frame(self.dsn, sql)
