"""The as-of date a run of ``crm_nightly`` builds, from its run type and dates.

A **scheduled** or **backfill** run builds as of the last complete day in the reporting
time zone (the dbt var ``reporting_timezone``, project default UTC) before the moment it
was scheduled for (``run_after``): the 02:00 UTC run of 2026-12-06 builds as of
2026-12-05. Airflow 3's default cron timetable (``CronTriggerTimetable``) gives that run
the logical date 2026-12-06T02:00 and a zero-width data interval, so its logical date's
day is still in progress; a backfill creates one such run per logical date and each
builds the day before it, like the scheduled run would have.

Any other run with a logical date (``crmwh run --date D`` via ``airflow dags test``,
``dag.test(logical_date=D)``, a manual trigger) builds as of that date's day, Airflow's
``ds``. A run without a logical date (asset-triggered, or triggered without one) builds
like a scheduled one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from crmwh.settings import dbt_vars

# Airflow run types (``DagRunType`` values) that build the last complete day
DAY_BEFORE_RUN_TYPES = ("scheduled", "backfill")


@cache
def reporting_timezone() -> str:
    """The time zone in which an instant becomes a business date (dbt var
    ``reporting_timezone``, read once per process)."""
    return str(dbt_vars()["reporting_timezone"])


def end_of(day: date) -> datetime:
    """The first instant after the business date ``day`` in the reporting time zone, in UTC:
    what the dbt macro ``as_of_end()`` gives, so extracts, fits and models cut at one
    moment."""
    local = datetime.combine(day + timedelta(days=1), time(), tzinfo=ZoneInfo(reporting_timezone()))
    return local.astimezone(UTC)


def as_of_date(run_type: str, logical_date: datetime | None,
               run_after: datetime | None = None, timezone: str | None = None) -> date:
    """The as-of date of a run (see module doc). ``run_after`` defaults to
    ``logical_date``; ``timezone`` to :func:`reporting_timezone`."""
    run_type = str(getattr(run_type, "value", run_type))
    if logical_date is not None and run_type not in DAY_BEFORE_RUN_TYPES:
        return logical_date.date()
    moment = run_after or logical_date
    if moment is None:
        raise ValueError(f"a {run_type} run has neither a logical date nor run_after")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(ZoneInfo(timezone or reporting_timezone()))
    return local.date() - timedelta(days=1)


def of_run(dag_run: Any) -> date:
    """The as-of date of an Airflow DagRun (anything with ``run_type``, ``logical_date``
    and ``run_after``); also the DAG's ``as_of_date`` template macro."""
    return as_of_date(dag_run.run_type, dag_run.logical_date,
                      getattr(dag_run, "run_after", None))
