"""``crmwh run --from D1 --to D2 [--every ...]``: the dates it runs, the resume command and the
argument errors (one line, exit code 2). No DAG runs: the errors come before anything starts."""

from __future__ import annotations

import argparse
import subprocess
import sys
from datetime import date

import pytest

from crmwh.cli import main
from crmwh.cli.run import backfill_dates, resume_command, run_dates
from crmwh.errors import CrmwhError

D = date.fromisoformat


def days(*texts: str) -> list[date]:
    return [D(t) for t in texts]


@pytest.mark.parametrize(("first", "last", "every", "expected"), [
    ("2026-02-01", "2026-02-04", "day", days("2026-02-01", "2026-02-02", "2026-02-03",
                                             "2026-02-04")),
    ("2026-02-01", "2026-02-01", "day", days("2026-02-01")),
    ("2026-02-01", "2026-02-22", "week", days("2026-02-01", "2026-02-08", "2026-02-15",
                                              "2026-02-22")),
    # the last step would pass D2: D2 itself ends the run
    ("2026-02-01", "2026-02-20", "week", days("2026-02-01", "2026-02-08", "2026-02-15",
                                              "2026-02-20")),
    ("2026-01-15", "2026-04-01", "month", days("2026-01-15", "2026-02-15", "2026-03-15",
                                               "2026-04-01")),
    # a month end steps through month ends; another day is kept (clamped in short months)
    ("2026-01-31", "2026-05-31", "month", days("2026-01-31", "2026-02-28", "2026-03-31",
                                               "2026-04-30", "2026-05-31")),
    ("2026-01-30", "2026-04-30", "month", days("2026-01-30", "2026-02-28", "2026-03-30",
                                               "2026-04-30")),
    ("1997-12-15", "1998-02-15", "month", days("1997-12-15", "1998-01-15", "1998-02-15")),
])
def test_backfill_dates(first, last, every, expected):
    assert backfill_dates(D(first), D(last), every) == expected


def test_backfill_dates_refuses_bad_ranges():
    with pytest.raises(CrmwhError, match="before --from"):
        backfill_dates(D("2026-02-02"), D("2026-02-01"))
    with pytest.raises(CrmwhError, match="unknown --every 'year'"):
        backfill_dates(D("2026-02-01"), D("2026-03-01"), "year")


def ns(date=None, first=None, last=None, every=None,  # noqa: A002
       scheduler=False, rewind=False) -> argparse.Namespace:
    return argparse.Namespace(date=date, first=first, last=last, every=every,
                              scheduler=scheduler, rewind=rewind)


def test_run_dates_keeps_the_given_dates_in_order():
    assert run_dates(ns(date=days("2026-03-02", "2026-03-01"))) == days("2026-03-02",
                                                                          "2026-03-01")
    assert run_dates(ns(first=D("2026-03-01"), last=D("2026-03-02"))) == days("2026-03-01",
                                                                               "2026-03-02")


@pytest.mark.parametrize(("every", "failed", "expected"), [
    (None, 2, "crmwh run --from 2026-02-03 --to 2026-02-05"),
    ("week", 1, "crmwh run --from 2026-01-08 --to 2026-02-05 --every week"),
    ("month", 1, "crmwh run --from 2026-02-28 --to 2026-05-31 --every month"),
])
def test_resume_command_starts_at_the_failed_date(every, failed, expected):
    first = {"week": "2026-01-01", "month": "2026-01-31"}.get(every, "2026-02-01")
    last = {"month": "2026-05-31"}.get(every, "2026-02-05")
    args = ns(first=D(first), last=D(last), every=every)
    dates = run_dates(args)
    command = resume_command(args, dates, failed)
    assert command == expected
    # the command runs exactly the dates not run yet
    resumed = ns(first=dates[failed], last=D(last), every=every)
    assert run_dates(resumed) == dates[failed:]


def test_resume_command_keeps_the_scheduler():
    args = ns(date=[D("2026-02-01"), D("2026-02-02")], scheduler=True)
    assert resume_command(args, run_dates(args), 1) == "crmwh run --date 2026-02-02 --scheduler"
    args = ns(first=D("2026-02-01"), last=D("2026-02-03"), scheduler=True)
    assert resume_command(args, run_dates(args), 1) == (
        "crmwh run --from 2026-02-02 --to 2026-02-03 --scheduler")


def test_resume_command_lists_dates_when_a_range_cannot_say_them():
    # 2026-01-30 monthly: 02-28 is a clamped date, --from 02-28 would step to month ends
    args = ns(first=D("2026-01-30"), last=D("2026-04-30"), every="month")
    dates = run_dates(args)
    assert resume_command(args, dates, 1) == (
        "crmwh run --date 2026-02-28 --date 2026-03-30 --date 2026-04-30")
    given = ns(date=days("2026-01-01", "2026-01-05"))
    assert resume_command(given, run_dates(given), 1) == "crmwh run --date 2026-01-05"


@pytest.mark.parametrize(("argv", "words"), [
    (["--from", "2026-02-05", "--to", "2026-02-01"], ["--to 2026-02-01 is before --from"]),
    (["--from", "2026-02-01", "--to", "2026-02-05", "--every", "fortnight"],
     ["unknown --every 'fortnight'", "day, week, month"]),
    (["--date", "2026-02-01", "--from", "2026-02-01", "--to", "2026-02-05"],
     ["cannot be combined"]),
    (["--date", "2026-02-01", "--every", "week"], ["cannot be combined"]),
    (["--from", "2026-02-01"], ["needs both --from and --to"]),
    (["--to", "2026-02-01"], ["needs both --from and --to"]),
    ([], ["no date to run"]),
])
def test_argument_errors_are_one_line_and_exit_2(argv, words, capsys):
    assert main(["run", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("crmwh: error: "), err
    for word in words:
        assert word in err[0]


def test_bad_range_from_the_command_line():
    done = subprocess.run([sys.executable, "-m", "crmwh.cli", "run", "--from", "2026-02-05",
                           "--to", "2026-02-01"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done
    lines = [line for line in done.stderr.splitlines() if "XDG_RUNTIME_DIR" not in line]
    assert lines == ["crmwh: error: --to 2026-02-01 is before --from 2026-02-05 — give --to on "
                     "or after --from"]


def test_backfill_stops_at_the_first_failure_and_says_how_to_resume(monkeypatch, capsys):
    from crmwh import airflow_env, warehouse
    from crmwh.cli import plugins
    from crmwh.cli import run as run_cli

    ran: list[str] = []
    written: dict[date, int] = {}

    def run_dag(cfg, logical_date, log, rewind, watch=None):
        ran.append(logical_date)
        if logical_date == "2026-01-15":
            log.write_text("ERROR - QualityGateFailed: sales__orders blocking check\n")
            return 1
        written[D(logical_date)] = written.get(D(logical_date), 0) + 1
        return 0

    for module, name, value in [
        (warehouse, "ensure_warehouse", lambda cfg: ""), (plugins, "prepare_run", lambda cfg: None),
        (airflow_env, "migrate", lambda cfg: None), (airflow_env, "dbt_manifest", lambda cfg: None),
        (airflow_env, "run_dag", run_dag), (run_cli, "_print_run", lambda cfg, day: None),
        (run_cli, "_last_summary", lambda cfg, day: written.get(day)),
    ]:
        monkeypatch.setattr(module, name, value)
    assert main(["run", "--from", "2026-01-01", "--to", "2026-01-31", "--every", "week"]) == 1
    assert ran == ["2026-01-01", "2026-01-08", "2026-01-15"]
    out = capsys.readouterr().out
    assert "[1/6] 2026-01-01" in out and "[3/6] 2026-01-15: crm_nightly FAILED" in out
    assert "QualityGateFailed" in out
    assert "to resume: crmwh run --from 2026-01-15 --to 2026-01-31 --every week" in out


def test_a_run_that_ran_no_task_is_a_failure(monkeypatch, capsys):
    # `airflow dags test` of a date before the DAG's start_date says success, runs nothing
    from crmwh import airflow_env, warehouse
    from crmwh.cli import plugins
    from crmwh.cli import run as run_cli

    for module, name, value in [
        (warehouse, "ensure_warehouse", lambda cfg: ""), (plugins, "prepare_run", lambda cfg: None),
        (airflow_env, "migrate", lambda cfg: None), (airflow_env, "dbt_manifest", lambda cfg: None),
        (airflow_env, "run_dag", lambda cfg, day, log, rewind, watch=None: 0),
        (run_cli, "_last_summary", lambda cfg, day: None),
    ]:
        monkeypatch.setattr(module, name, value)
    assert main(["run", "--date", "1899-06-01"]) == 1
    out = capsys.readouterr().out
    assert "Airflow ran no task" in out and "to resume: crmwh run --date 1899-06-01" in out
