"""The as-of date of a crm_nightly run, from its run type and dates (crmwh.as_of)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import Enum
from types import SimpleNamespace

import pytest

from crmwh import as_of


def at(day: str, hour: int = 0, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC)


def test_the_reporting_time_zone_is_the_dbt_var():
    assert as_of.reporting_timezone() == "UTC"


def test_a_scheduled_run_builds_the_last_complete_day():
    # CronTriggerTimetable: logical date = the 02:00 trigger, zero-width data interval
    run = at("2026-12-06", 2)
    assert as_of.as_of_date("scheduled", run, run) == date(2026, 12, 5)
    assert as_of.as_of_date("scheduled", run) == date(2026, 12, 5)  # run_after defaults


def test_a_manual_run_builds_its_logical_date():
    assert as_of.as_of_date("manual", at("2026-03-31")) == date(2026, 3, 31)
    # triggered later than its logical date: still that date
    assert as_of.as_of_date("manual", at("2026-03-31"), at("2026-04-02", 9)) == date(2026, 3, 31)


def test_each_backfill_run_builds_the_day_before_its_logical_date():
    days = [as_of.as_of_date("backfill", at(f"2026-03-0{d}", 2)) for d in (1, 2, 3)]
    assert days == [date(2026, 2, 28), date(2026, 3, 1), date(2026, 3, 2)]


def test_a_data_interval_timetable_run_builds_the_day_its_interval_ends_after():
    # CronDataIntervalTimetable: logical date = interval start, run_after = interval end
    assert as_of.as_of_date("scheduled", at("2026-12-05", 2), at("2026-12-06", 2)) == date(
        2026, 12, 5)


def test_a_scheduled_run_just_after_midnight():
    assert as_of.as_of_date("scheduled", at("2026-12-06", 0, 30)) == date(2026, 12, 5)
    assert as_of.as_of_date("scheduled", at("2026-12-06")) == date(2026, 12, 5)
    # 00:30 UTC is still the evening of 5 December in New York: 4 December is the last
    # complete day there
    assert as_of.as_of_date("scheduled", at("2026-12-06", 0, 30),
                            timezone="America/New_York") == date(2026, 12, 4)
    # and already 6 December in Tokyo (09:30): the last complete day is 5 December
    assert as_of.as_of_date("scheduled", at("2026-12-06", 0, 30),
                            timezone="Asia/Tokyo") == date(2026, 12, 5)


def test_a_run_without_a_logical_date_builds_like_a_scheduled_one():
    assert as_of.as_of_date("asset_triggered", None, at("2026-12-06", 7)) == date(2026, 12, 5)
    with pytest.raises(ValueError, match="neither a logical date nor run_after"):
        as_of.as_of_date("manual", None)


def test_an_airflow_dag_run():
    # like the task SDK's DagRunType: str() gives 'RunType.SCHEDULED', not the value
    class RunType(str, Enum):  # noqa: UP042
        SCHEDULED = "scheduled"
        MANUAL = "manual"

    scheduled = SimpleNamespace(run_type=RunType.SCHEDULED, logical_date=at("2026-12-06", 2),
                                run_after=at("2026-12-06", 2))
    manual = SimpleNamespace(run_type=RunType.MANUAL, logical_date=at("2026-03-31"),
                             run_after=at("2026-04-01", 10))
    assert as_of.of_run(scheduled) == date(2026, 12, 5)
    assert as_of.of_run(manual) == date(2026, 3, 31)


def test_the_end_of_a_day_is_midnight_after_it_in_the_reporting_time_zone(monkeypatch):
    assert as_of.end_of(date(2026, 12, 5)) == at("2026-12-06")
    monkeypatch.setattr(as_of, "reporting_timezone", lambda: "Asia/Shanghai")
    assert as_of.end_of(date(2026, 12, 5)) == at("2026-12-05", 16)
