"""Who can log into the warehouse, as an unprivileged local user would try it: no role takes a
guessable password, the generated ones are kept private in the home, and the roles the
command line uses by default can neither write nor run programs. (Each role's reach inside the
warehouse: tests/integration/test_roles.py.)
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from crmwh import credentials
from crmwh.warehouse import roles
from tests.support.cli import assert_one_clear_line, crmwh

LOGINS = ("crm", roles.BI_READER, roles.ANALYST, roles.PIPELINE)
GUESSES = ("crm", "postgres", "password", "admin", "demo-token", "crmwh")


def _login(cfg, user: str, password: str) -> None:
    with psycopg.connect(host="127.0.0.1", port=cfg.pg_port, user=user, password=password,
                         dbname="crm", connect_timeout=5) as conn:
        conn.execute("select 1")


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("user", LOGINS)
def test_no_role_takes_a_guessable_password(cfg, user):
    for guess in (*GUESSES, user):
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            _login(cfg, user, guess)
    secret = cfg.secrets[credentials.ADMIN if user == "crm" else user]
    _login(cfg, user, secret)  # the generated password is the one the server knows


def test_the_generated_secrets_are_random_and_private(cfg):
    kept = cfg.home / credentials.FILE_NAME
    assert _mode(kept) == 0o600
    secrets = credentials.generated(cfg.home)
    assert len(set(secrets.values())) == len(secrets)  # no two alike
    assert all(len(value) >= 24 for value in secrets.values())
    assert cfg.service_token == secrets[credentials.SERVICE_TOKEN]
    assert urlsplit(cfg.admin_dsn).password == secrets[credentials.ADMIN]
    pipeline = urlsplit(cfg.warehouse_dsn)  # the nightly logs in as its own role
    assert (pipeline.username, pipeline.password) == (roles.PIPELINE, secrets[roles.PIPELINE])


def test_the_home_is_closed_to_other_users(cfg):
    home = cfg.home.stat()
    assert stat.S_IMODE(home.st_mode) & 0o067 == 0  # others nothing, the group at most passes
    if home.st_mode & stat.S_IXGRP:
        assert home.st_gid != 0  # ... and only the server's own group, never root's


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another OS user")
def test_another_os_user_reads_nothing_in_the_home(cfg):
    (cfg.home / "alerts.log").touch()
    for path in (cfg.home / credentials.FILE_NAME, cfg.home / "alerts.log", cfg.home):
        done = subprocess.run(["cat" if path.is_file() else "ls", str(path)], user="nobody",
                              capture_output=True, text=True)
        assert done.returncode != 0 and "Permission denied" in done.stderr, path


def test_the_embedded_server_runs_outside_the_root_group(cfg):
    pid = int((cfg.pgdata / "postmaster.pid").read_text().splitlines()[0])
    status = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    gids = {int(g) for g in status["Gid"].split()} | {int(g) for g in status["Groups"].split()}
    assert 0 not in gids, status["Gid"] + " / " + status["Groups"]
    if os.geteuid() == 0:  # started by root: as the server's own account
        assert int(status["Uid"].split()[0]) != 0


def _user(dsn: str) -> str:
    return urlsplit(dsn).username


def test_the_cli_hands_out_a_readers_dsn_unless_asked(cfg):
    assert _user(crmwh("db", "url").stdout.strip()) == roles.BI_READER
    for option, role in (("analyst", roles.ANALYST), ("pipeline", roles.PIPELINE),
                         ("admin", "crm")):
        done = crmwh("db", "url", "--role", option)
        assert _user(done.stdout.strip()) == role
    _login(cfg, roles.BI_READER, urlsplit(crmwh("db", "url").stdout.strip()).password)


def test_cli_sql_runs_read_only_as_analyst_one_statement_at_a_time(cfg):
    done = crmwh("sql", "select current_user as who")
    assert done.returncode == 0 and "analyst" in done.stdout, done.stderr
    with psycopg.connect(cfg.admin_dsn, autocommit=True) as conn:
        conn.execute(f"drop table if exists {roles.ANALYST_SANDBOX}.cli_probe, public.cli_probe")
    # a second statement is refused, not run unseen
    done = crmwh("sql", "select 1 as first; create table public.cli_probe (x int)")
    assert_one_clear_line(done, "one statement")
    # writing needs --write, and then only where analyst may write
    assert_one_clear_line(crmwh("sql", f"create table {roles.ANALYST_SANDBOX}.cli_probe (x int)"),
                          "--write")
    assert_one_clear_line(crmwh("sql", "--write", "create table public.cli_probe (x int)"),
                          "permission denied")
    done = crmwh("sql", "--write", f"create table {roles.ANALYST_SANDBOX}.cli_probe (x int)")
    assert done.returncode == 0, done.stderr
    # no program runs on the server, read-only or not
    assert_one_clear_line(crmwh("sql", "--write", "copy (select 1) to program 'id'"),
                          "permission denied")
    with psycopg.connect(cfg.admin_dsn, autocommit=True) as conn:
        made = conn.execute("select to_regclass('public.cli_probe'), "
                            f"to_regclass('{roles.ANALYST_SANDBOX}.cli_probe')").fetchone()
        conn.execute(f"drop table if exists {roles.ANALYST_SANDBOX}.cli_probe")
    assert made == (None, f"{roles.ANALYST_SANDBOX}.cli_probe")


def test_the_nightly_logs_in_as_its_own_role_which_owns_the_warehouse(cfg):
    from crmwh import airflow_env
    from crmwh.warehouse import ensure_warehouse

    env = airflow_env.environment(cfg)
    assert _user(env["AIRFLOW_CONN_CRM_WAREHOUSE"]) == env["CRM_DBT_USER"] == roles.PIPELINE
    assert _user(cfg.sales_dsn) == roles.PIPELINE  # the simulated sales system's reader too
    with psycopg.connect(cfg.sales_dsn) as sales:
        assert sales.execute("select pg_get_userbyid(datdba) from pg_database "
                             "where datname = current_database()").fetchone() == (roles.PIPELINE,)
    with psycopg.connect(cfg.admin_dsn, autocommit=True) as conn:
        conn.execute("drop table if exists audit.made_by_hand")
        conn.execute("create table audit.made_by_hand (id serial, x int)")  # as the superuser
    ensure_warehouse(cfg)  # hands what another role owns over to the pipeline
    with psycopg.connect(cfg.warehouse_dsn) as conn:
        assert conn.execute("select rolsuper or rolcreaterole or rolcreatedb from pg_roles "
                            "where rolname = current_user").fetchone() == (False,)
        foreign = conn.execute(
            """select n.nspname || coalesce('.' || c.relname, '') from pg_namespace n
               left join pg_class c on c.relnamespace = n.oid and c.relowner <> n.nspowner
               where n.nspname not in ('public', %s, 'information_schema')
                 and n.nspname not like 'pg\\_%%'
                 and (n.nspowner <> current_user::regrole or c.oid is not null)""",
            (roles.ANALYST_SANDBOX,)).fetchall()
        conn.execute("drop table audit.made_by_hand")  # its own now
    assert foreign == []
