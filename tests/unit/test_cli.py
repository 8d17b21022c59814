"""The CLI without a database: help on every command, and bad configuration as one clear
line. (A command on the database: tests/integration/test_cli.py.)"""

from __future__ import annotations

import socket
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from crmwh import settings
from crmwh.errors import CrmwhError
from tests.support.cli import assert_one_clear_line, crmwh
from tests.support.ports import free_port


@pytest.mark.parametrize("command", [[], ["db"], ["generate"], ["run"], ["sql"], ["service-api"],
                                     ["demo"], ["scheduler"]])
def test_help_on_every_command(command):
    done = crmwh(*command, "--help")
    assert done.returncode == 0
    assert "usage: crmwh" in done.stdout


def test_unreachable_dsn_names_problem_and_fix():
    port = free_port()
    done = crmwh("sql", "select 1", CRM_WAREHOUSE_DSN=f"postgresql://u:w@127.0.0.1:{port}/x",
                 CRM_ANALYST_PASSWORD="p")
    assert_one_clear_line(done, "cannot connect", f"127.0.0.1:{port}", "CRM_WAREHOUSE_DSN")
    assert ":p@" not in done.stderr  # the password is not printed


def test_port_in_use_names_port_and_fix(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = crmwh("db", "start", CRM_HOME=str(tmp_path / "home"), CRM_PG_PORT=str(port))
    assert_one_clear_line(done, f"port {port}", "CRM_PG_PORT")


def test_unwritable_home_names_folder_and_fix(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    done = crmwh("db", "start", CRM_HOME=str(blocker / "home"), CRM_PG_PORT=str(free_port()))
    assert_one_clear_line(done, str(blocker / "home"), "CRM_HOME")


def test_missing_billing_folder_names_folder_and_fix(tmp_path):
    from datetime import date

    from crmwh import source_entities
    from crmwh.errors import CrmwhError
    from crmwh.extract import billing

    missing = Path(tmp_path / "nowhere")
    with pytest.raises(CrmwhError) as err:
        billing.extract(missing, source_entities.BY_TABLE["billing__invoices"], date(2026, 1, 1),
                        lambda *_: False)
    assert str(missing) in str(err.value) and "CRM_BILLING_DIR" in str(err.value)


@pytest.mark.parametrize("value", ["fifty", "70000"])
def test_bad_port_setting_is_one_line(value):
    done = crmwh("db", "status", CRM_PG_PORT=value)
    assert_one_clear_line(done, "CRM_PG_PORT")


def test_bad_load_workers_setting_is_one_line():
    done = crmwh("db", "status", CRM_LOAD_WORKERS="0")
    assert_one_clear_line(done, "CRM_LOAD_WORKERS")


@pytest.mark.parametrize("value", ["an hour", "-5", "\u00b2"])
def test_bad_sales_lookback_setting_is_one_line(value):
    done = crmwh("db", "status", CRM_SALES_LOOKBACK_MINUTES=value)
    assert_one_clear_line(done, "CRM_SALES_LOOKBACK_MINUTES")


@pytest.mark.parametrize(("name", "value"), [
    ("CRM_PARK_DAYS", "0"), ("CRM_PARK_DAYS", "three"),
    ("CRM_ORPHAN_REJECT_SHARE", "1.5"), ("CRM_ORPHAN_REJECT_SHARE", "half"),
    ("CRM_ORPHAN_REJECT_SHARE", "nan")])
def test_bad_parking_setting_is_one_line(name, value):
    done = crmwh("db", "status", **{name: value})
    assert_one_clear_line(done, name)


def test_parking_settings_default_and_take_their_bounds(monkeypatch):
    got = settings.load()
    assert (got.park_days, got.orphan_reject_share) == (3, 0.5)
    monkeypatch.setenv("CRM_PARK_DAYS", "1")
    monkeypatch.setenv("CRM_ORPHAN_REJECT_SHARE", " 0 ")  # every orphan of a big batch rejects
    got = settings.load()
    assert (got.park_days, got.orphan_reject_share) == (1, 0.0)


def test_whole_number_settings_take_their_bounds(monkeypatch):
    monkeypatch.setenv("CRM_SALES_LOOKBACK_MINUTES", "0")  # no look-back is a valid choice
    monkeypatch.setenv("CRM_LOAD_WORKERS", " 3 ")
    monkeypatch.setenv("CRM_PG_PORT", "65535")
    got = settings.load()
    assert (got.sales_lookback_minutes, got.load_workers, got.pg_port) == (0, 3, 65535)


@pytest.mark.parametrize(("name", "value"), [
    ("CRM_AIRFLOW_API_PORT", "0"), ("CRM_AIRFLOW_API_PORT", "http"),
    ("CRM_AIRFLOW_PARALLELISM", "0")])
def test_bad_scheduler_setting_is_one_line(name, value):
    done = crmwh("scheduler", "status", **{name: value})
    assert_one_clear_line(done, name)


def test_scheduler_settings_default_to_the_embedded_server(monkeypatch):
    monkeypatch.setenv("CRM_PG_PORT", "54400")
    got = settings.load()
    assert got.airflow_db_embedded
    meta = urlsplit(got.airflow_db_dsn)
    assert (meta.username, meta.hostname, meta.port, meta.path) == (
        "airflow", "127.0.0.1", 54400, "/airflow")
    assert meta.password == got.secrets["airflow"] != "airflow"  # generated in the home
    assert (got.airflow_api_port, got.airflow_parallelism) == (8080, 4)
    monkeypatch.setenv("CRM_AIRFLOW_DB_DSN", "postgresql://af:secret@db.example:5432/meta")
    got = settings.load()
    assert not got.airflow_db_embedded and got.airflow_db_dsn.endswith("@db.example:5432/meta")


@pytest.mark.parametrize(("value", "schedule"), [
    (None, "0 2 * * *"), ("none", None), (" NONE ", None), ("30  1 * * 1-5", "30 1 * * 1-5")])
def test_nightly_schedule_setting(monkeypatch, value, schedule):
    if value is None:
        monkeypatch.delenv("CRM_NIGHTLY_SCHEDULE", raising=False)
    else:
        monkeypatch.setenv("CRM_NIGHTLY_SCHEDULE", value)
    assert settings.schedule_setting("CRM_NIGHTLY_SCHEDULE", "0 2 * * *") == schedule


def test_a_bad_nightly_schedule_names_the_setting(monkeypatch):
    monkeypatch.setenv("CRM_NIGHTLY_SCHEDULE", "nightly")
    with pytest.raises(CrmwhError, match="CRM_NIGHTLY_SCHEDULE='nightly' is not a cron"):
        settings.schedule_setting("CRM_NIGHTLY_SCHEDULE", "0 2 * * *")


def test_devkit_commands_come_from_its_plugin():
    import crmwh_devkit.cli
    from crmwh.cli import build_parser, plugins

    assert crmwh_devkit.cli in plugins.load()
    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"generate", "service-api", "bench", "demo"} <= set(commands)


def test_run_prepares_every_plugin(monkeypatch):
    from types import SimpleNamespace

    from crmwh.cli import plugins

    prepared = []
    with_hook = SimpleNamespace(register=lambda sub: None, prepare_run=prepared.append)
    without_hook = SimpleNamespace(register=lambda sub: None)
    monkeypatch.setattr(plugins, "load", lambda: (with_hook, without_hook))
    plugins.prepare_run("the settings")
    assert prepared == ["the settings"]


def test_a_managed_warehouse_needs_each_roles_password_from_the_environment(tmp_path):
    managed = {"CRM_HOME": str(tmp_path / "home"),
               "CRM_WAREHOUSE_DSN": "postgresql://crm_pipeline:pw@db.example:5432/crm",
               "CRM_ANALYST_PASSWORD": "", "CRM_BI_READER_PASSWORD": "s3cret"}
    assert_one_clear_line(crmwh("db", "url", "--role", "analyst", **managed),
                          "CRM_ANALYST_PASSWORD")
    done = crmwh("db", "url", **managed)
    assert done.stdout.strip() == "postgresql://bi_reader:s3cret@db.example:5432/crm"


def test_the_demo_runs_crmwh_run_with_every_option_at_its_default():
    from crmwh_devkit.cli import run_args

    args = run_args("--date", "2026-03-30", "--date", "2026-03-31")
    assert [str(d) for d in args.date] == ["2026-03-30", "2026-03-31"]
    assert (args.scheduler, args.rewind, args.first, args.last) == (False, False, None, None)


def _parsers(parser, name="crmwh"):
    """Every parser of the command line, with its command."""
    import argparse

    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                yield from _parsers(child, f"{name} {sub}")


def test_bare_crmwh_prints_the_commands(capsys):
    from crmwh.cli import main

    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: crmwh") and " status " in out and " demo " in out


def test_version_is_the_installed_package(capsys):
    from importlib.metadata import version

    from crmwh.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"crmwh {version('crmwh')}"


def test_every_option_with_a_default_shows_it_in_help():
    import argparse

    from crmwh.cli import build_parser

    missing = []
    for name, parser in _parsers(build_parser()):
        formatter = parser._get_formatter()
        for action in parser._actions:
            if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
                shown = " ".join(formatter._format_action(action).split())
                if f"default: {action.default}" not in shown and "default" not in action.help:
                    missing.append(f"{name} {action.option_strings[0]}")
    assert not missing
    assert "(default: analyst)" in " ".join(
        dict(_parsers(build_parser()))["crmwh sql"].format_help().split())


@pytest.mark.parametrize("argv", [["sql", "select 1", "--role", "root"],
                                  ["run", "--date", "2026-02-30"], ["status", "--runs", "x"],
                                  ["nonsense"], ["import"]])
def test_argument_errors_are_one_line_and_exit_2(capsys, argv):
    from crmwh.cli import main

    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("crmwh: error: ") and "--help" in err[0], err


def test_an_unexpected_error_is_one_line_exit_1_and_debug_shows_the_traceback(monkeypatch,
                                                                              capsys):
    from types import SimpleNamespace

    from crmwh.cli import main, plugins

    def boom(args):
        return {}["no such key"]

    def register(sub):
        sub.add_parser("boom").set_defaults(func=boom)

    monkeypatch.setattr(plugins, "load", lambda: (SimpleNamespace(register=register),))
    assert main(["boom"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "KeyError" in err[0] and "crmwh --debug boom" in err[0]
    with pytest.raises(KeyError):
        main(["--debug", "boom"])


VALUES = ("year", "share", "p", "tiny", "day", "at", "none", "flag", "doc", "text")
ROW = (2026, Decimal("0.0012"), 0.9412345678901234, 1e-9, date(2026, 3, 31),
       datetime(2026, 3, 31, 2, 5, 1, 250, tzinfo=UTC), None, True, {"a": [1, 2]}, "[bold]x")
EXACT = ("2026", "0.0012", "0.9412345678901234", "1e-09", "2026-03-31",
         "2026-03-31T02:05:01.000250+00:00", "", "true", '{"a": [1, 2]}', "[bold]x")


def test_table_prints_every_value_exactly():
    from crmwh.cli.printout import table

    lines = table(VALUES, [ROW, (1, Decimal("12345.5"), *ROW[2:])]).splitlines()
    assert lines[0].split() == list(VALUES)
    assert lines[2].split() == " ".join(EXACT).split()  # the markup-like text stays as it is
    assert lines[3].split()[:2] == ["1", "12345.5"]
    # numbers to the right: the year's column ends where its values end
    assert lines[2].index("2026") + 4 == lines[3].index("1") + 1


def test_csv_and_json_print_every_value_exactly():
    import csv
    import io
    import json

    from crmwh.cli.printout import emit

    out = io.StringIO()
    emit(VALUES, [ROW], "csv", out)
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [list(VALUES), list(EXACT)]
    out = io.StringIO()
    emit(VALUES, [ROW, (None,) * len(VALUES)], "json", out)
    got = json.loads(out.getvalue(), parse_float=Decimal)
    assert got[0] == {"year": 2026, "share": Decimal("0.0012"),
                      "p": Decimal("0.9412345678901234"), "tiny": Decimal("1e-09"),
                      "day": "2026-03-31", "at": "2026-03-31T02:05:01.000250+00:00",
                      "none": None, "flag": True, "doc": {"a": [1, 2]}, "text": "[bold]x"}
    assert got[1] == dict.fromkeys(VALUES)
    out = io.StringIO()
    emit(["x"], [(float("inf"),), (Decimal("NaN"),)], "json", out)
    assert json.loads(out.getvalue()) == [{"x": "Infinity"}, {"x": "NaN"}]


SECRET = "p@ss:w/rd&=?#"
DSN = f"postgresql://bi_reader:{quote(SECRET, safe='')}@db.example:6543/crm?sslmode=require"


def test_db_url_formats_keep_every_field():
    from psycopg.conninfo import conninfo_to_dict
    from sqlalchemy.engine import make_url

    from crmwh.cli.db import url_as

    assert conninfo_to_dict(url_as(DSN, "libpq")) == {
        "user": "bi_reader", "password": SECRET, "host": "db.example", "port": "6543",
        "dbname": "crm", "sslmode": "require"}
    url = make_url(url_as(DSN, "sqlalchemy"))
    assert (url.drivername, url.username, url.password, url.host, url.port, url.database,
            dict(url.query)) == ("postgresql+psycopg", "bi_reader", SECRET, "db.example", 6543,
                                 "crm", {"sslmode": "require"})
    jdbc = url_as(DSN, "jdbc")
    assert jdbc.startswith("jdbc:postgresql://db.example:6543/crm?")
    assert parse_qs(urlsplit(jdbc.removeprefix("jdbc:")).query) == {
        "user": ["bi_reader"], "password": [SECRET], "sslmode": ["require"]}


# lines of a real `airflow dags test` log of crm_nightly (a few of its tasks)
DAG_TEST_LOG = (Path(__file__).parents[1] / "support" / "dag_test.log").read_bytes()


@pytest.mark.parametrize("piece", [1, 7, 100_000])
def test_dag_progress_reads_task_n_of_m_from_the_log(piece):
    import io

    from crmwh.cli.progress import DagProgress

    asked, out = [], io.StringIO()
    progress = DagProgress("crm_nightly", lambda run_id: asked.append(run_id) or 72, out)
    for start in range(0, len(DAG_TEST_LOG), piece):  # the log as it grows, in any pieces
        progress(DAG_TEST_LOG[start:start + piece])
    progress.close()
    assert out.getvalue().splitlines() == [
        "[crmwh]   task 1 of 72: extract_service", "[crmwh]   task 2 of 72: extract_sales",
        "[crmwh]   task 3 of 72: dbt_core.dbt_producer_watcher"]
    assert asked == ["manual__2026-12-06T20:45:58.618391+00:00"]  # the count is read once


def test_dag_progress_without_the_task_count_still_names_the_task():
    import io

    from crmwh.cli.progress import DagProgress

    out = io.StringIO()
    progress = DagProgress("crm_nightly", lambda run_id: None, out)
    progress(DAG_TEST_LOG)
    progress.close()
    assert out.getvalue().splitlines()[-1] == "[crmwh]   task 3: dbt_core.dbt_producer_watcher"


def test_follow_hands_over_what_a_process_appends_to_its_log(tmp_path):
    import subprocess
    import sys

    from crmwh.airflow_env import follow

    log = tmp_path / "run.log"
    log.write_bytes(b"an earlier run\n")
    script = ("import sys, time\nfor i in range(3):\n    print('line', i, flush=True)\n"
              "    time.sleep(0.3)\nsys.exit(3)")
    seen = []
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-c", script], stdout=out)
        code = follow(process, log, seen.append, every_s=0.1)
    assert code == 3
    assert b"".join(seen) == b"line 0\nline 1\nline 2\n" and len(seen) > 1


@pytest.mark.parametrize("command", [["status"], ["sql", "select 1"]])
def test_a_database_not_started_is_one_line(monkeypatch, capsys, command):
    from crmwh.cli import main

    monkeypatch.setenv("CRM_WAREHOUSE_DSN", f"postgresql://u:w@127.0.0.1:{free_port()}/x")
    monkeypatch.setenv("CRM_ANALYST_PASSWORD", "p")
    assert main(command) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot connect" in err[0] and "crmwh db start" in err[0], err
