"""The CLI without a database: help on every command, and bad configuration as one clear
line. (A command on the database: tests/integration/test_cli.py.)"""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

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
