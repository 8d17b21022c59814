"""The warehouse roles, proven by connecting as each of them to a dbt-built warehouse:
bi_reader reads marts only, and holds no privilege on a table elsewhere; analyst reads core
and marts without core's PII (customers' and staff's), writes only in its sandbox and cannot
open it to anyone; crm_pipeline writes the warehouse but is no administrator. Tables rebuilt by dbt
and a marts schema swapped in by write-audit-publish stay readable. (The dbt project's PII
list against the roles module: tests/unit/test_roles.py.)
"""

from __future__ import annotations

import contextlib

import psycopg
import pytest
from psycopg import errors

from crmwh import database, publish
from crmwh.warehouse import roles

DENIED = errors.InsufficientPrivilege


def run(dsn: str, sql: str) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as c:
        cur = c.execute(sql)
        return cur.fetchall() if cur.description else []


def denied(dsn: str, sql: str) -> None:
    with pytest.raises(DENIED):
        run(dsn, sql)


def test_roles_are_created_idempotently_and_are_not_administrators(served, cfg):
    with database.connect(served.dsn, autocommit=True) as conn:
        # twice: no error, the same
        assert roles.ensure_roles(conn, cfg.secrets) == roles.ensure_roles(conn, cfg.secrets)
        flags = conn.execute(
            """select rolname, rolsuper, rolcreaterole, rolcreatedb, rolcanlogin from pg_roles
               where rolname = any(%s) order by 1""",
            ([roles.ANALYST, roles.BI_READER, roles.PIPELINE],)).fetchall()
    assert flags == [(r, False, False, False, True)
                     for r in sorted([roles.ANALYST, roles.BI_READER, roles.PIPELINE])]


def test_bi_reader_reads_marts_and_nothing_else(served):
    bi = served.login_dsn(roles.BI_READER)
    marts = [t for (t,) in run(served.dsn, "select tablename from pg_tables "
                                          "where schemaname = 'marts' order by 1")]
    assert {"mart_customer_value", "mart_customer_directory", "mart_sales_daily"} <= set(marts)
    for table in marts:  # every mart, including tables built after the roles were set up
        run(bi, f"select * from marts.{table} limit 1")
    assert run(bi, "select count(*) from marts.mart_customer_directory")[0][0] > 0
    for table in ("core.fct_orders", "core.dim_customer", "raw.sales__customers",
                  "audit.load_batches", "staging.stg_sales__customers"):
        denied(bi, f"select 1 from {table} limit 1")
    denied(bi, "create table marts.bi_scratch (x int)")
    denied(bi, "create table public.bi_scratch (x int)")
    denied(bi, f"create table {roles.ANALYST_SANDBOX}.bi_scratch (x int)")
    denied(bi, "delete from marts.mart_sales_daily")
    denied(bi, "drop table marts.mart_sales_daily")


def test_analyst_reads_core_and_marts_without_pii_and_writes_only_its_sandbox(served):
    an = served.login_dsn(roles.ANALYST)
    assert run(an, "select count(*) from core.fct_orders")[0][0] > 0
    assert run(an, "select count(*) from marts.mart_customer_value")[0][0] > 0
    # core's PII columns are not granted; the rest of dim_customer is
    assert run(an, "select count(customer_key), count(customer_name), count(city) "
                   "from core.dim_customer")[0][0] > 0
    assert run(an, "select count(sales_rep_name) from core.dim_sales_rep")[0][0] > 0
    for table, columns in roles.PII_COLUMNS.items():  # customers' and staff's
        for column in columns:
            denied(an, f"select {column} from {table} limit 1")
        denied(an, f"select * from {table} limit 1")
    # the marts show contact details masked only
    masked = run(an, "select email_masked, phone_masked from marts.mart_customer_directory "
                     "where email_masked is not null and phone_masked is not null limit 20")
    assert masked and all("***@" in e and p.startswith("*******") and len(p) == 11
                          for e, p in masked)
    real = {e for (e,) in run(served.dsn, "select email_normalised from core.dim_customer "
                                           "where email_normalised is not null")}
    assert not real & {e for e, _ in masked}
    # raw, staging (unmasked PII) and audit are closed
    for table in ("raw.sales__customers", "staging.stg_sales__customers", "audit.load_batches"):
        denied(an, f"select 1 from {table} limit 1")
    # the sandbox is theirs
    run(an, f"drop table if exists {roles.ANALYST_SANDBOX}.top_customers")
    run(an, f"create table {roles.ANALYST_SANDBOX}.top_customers as "
            "select customer_key, gross_margin from marts.mart_customer_value "
            "order by value_rank limit 5")
    assert run(an, f"select count(*) from {roles.ANALYST_SANDBOX}.top_customers")[0][0] == 5
    denied(an, "create table marts.analyst_scratch (x int)")
    denied(an, "create table core.analyst_scratch (x int)")
    denied(an, "update marts.mart_customer_value set revenue = 0")
    denied(served.login_dsn(roles.BI_READER),
           f"select 1 from {roles.ANALYST_SANDBOX}.top_customers")


def test_readers_hold_no_table_privilege_outside_their_schemas(served):
    reach = {roles.BI_READER: ["marts"], roles.ANALYST: ["core", "marts", roles.ANALYST_SANDBOX]}
    for role, schemas in reach.items():
        with psycopg.connect(served.dsn) as conn:
            outside = conn.execute(
                """select n.nspname || '.' || c.relname from pg_class c
                   join pg_namespace n on n.oid = c.relnamespace
                   where c.relkind in ('r', 'v', 'm', 'p', 'f') and n.nspname not like 'pg\\_%%'
                     and n.nspname <> 'information_schema' and not n.nspname = any(%s)
                     and has_table_privilege(%s, c.oid, 'select')""", (schemas, role)).fetchall()
        assert outside == [], f"{role} may select {len(outside)} tables outside {schemas}"


def test_analyst_cannot_open_its_sandbox_or_core_to_others(served):
    an, bi = served.login_dsn(roles.ANALYST), served.login_dsn(roles.BI_READER)
    names = f"{roles.ANALYST_SANDBOX}.customer_names"
    run(an, f"drop view if exists {names}")
    run(an, f"create view {names} as select customer_name from core.dim_customer")
    run(an, f"grant select on {names} to {roles.BI_READER}")  # its own view: allowed...
    for grant in (f"grant usage on schema {roles.ANALYST_SANDBOX} to {roles.BI_READER}",
                  f"grant select on core.dim_customer to {roles.BI_READER}"):
        with contextlib.suppress(DENIED):  # refused, or "no privileges were granted"
            run(an, grant)
    denied(bi, f"select * from {names} limit 1")  # ... but bi_reader cannot reach it
    denied(bi, "select customer_name from core.dim_customer limit 1")
    run(an, f"drop view {names}")


def test_the_marts_swapped_out_are_closed_to_the_readers(served):
    readers = [served.login_dsn(roles.BI_READER), served.login_dsn(roles.ANALYST)]
    with database.connect(served.dsn, autocommit=True) as conn:
        tables = [t for (t,) in conn.execute(
            "select tablename from pg_tables where schemaname = 'marts'").fetchall()]
        conn.execute(f"drop schema if exists {publish.CANDIDATE} cascade")
        conn.execute(f"create schema {publish.CANDIDATE}")
        for table in tables:  # tonight's marts: a copy of the published ones
            conn.execute(f"create table {publish.CANDIDATE}.{table} as table marts.{table}")
        models = [publish.MartModel(table, table, "table") for table in tables]
        swapped = False
        try:
            publish.publish(conn, served.as_of_date, "roles-swap", models)
            swapped = True
            for dsn in readers:
                assert run(dsn, "select count(*) from marts.mart_sales_daily")[0][0] > 0
                denied(dsn, f"select 1 from {publish.PREVIOUS}.mart_sales_daily limit 1")
            publish.rollback(conn)  # the last version back, tonight's swapped out
            swapped = False
            for dsn in readers:
                assert run(dsn, "select count(*) from marts.mart_sales_daily")[0][0] > 0
                denied(dsn, f"select 1 from {publish.CANDIDATE}.mart_sales_daily limit 1")
        finally:
            if swapped:
                publish.rollback(conn)
            conn.execute(f"drop schema if exists {publish.CANDIDATE} cascade")
            conn.execute("delete from audit.mart_publications where run_id = 'roles-swap'")


def test_pipeline_role_writes_the_warehouse_but_administers_nothing(served):
    pipe = served.login_dsn(roles.PIPELINE)
    assert run(pipe, "select count(*) from raw.sales__customers")[0][0] > 0
    assert run(pipe, "select count(email_normalised) from core.dim_customer")[0][0] > 0
    run(pipe, "drop table if exists marts.pipeline_probe")
    run(pipe, "create table marts.pipeline_probe as select 1 as x")
    run(pipe, "insert into marts.pipeline_probe values (2)")
    # a table the pipeline creates is readable by the readers (default privileges)
    assert run(served.login_dsn(roles.BI_READER),
               "select count(*) from marts.pipeline_probe")[0][0] == 2
    run(pipe, "drop table marts.pipeline_probe")
    denied(pipe, "create role someone")
    denied(pipe, "alter role bi_reader superuser")
    with pytest.raises(DENIED):
        run(pipe, "create database pipeline_db")
    denied(pipe, f"create table {roles.ANALYST_SANDBOX}.pipeline_scratch (x int)")


def test_tables_rebuilt_by_dbt_stay_readable_and_pii_stays_masked(served):
    served.dbt("run", "--select", "dim_customer", "mart_sales_daily")
    an, bi = served.login_dsn(roles.ANALYST), served.login_dsn(roles.BI_READER)
    assert run(bi, "select count(*) from marts.mart_sales_daily")[0][0] > 0
    assert run(an, "select count(customer_name) from core.dim_customer")[0][0] > 0
    denied(an, "select email_normalised from core.dim_customer limit 1")
    denied(an, "select tax_id_normalised from core.dim_customer limit 1")


def test_a_swapped_in_marts_schema_is_readable_after_ensure_roles(served, cfg):
    """Write-audit-publish builds the marts in another schema and renames it to marts: the
    pipeline re-runs ensure_roles after the swap (the nightly's last step does)."""
    bi = served.login_dsn(roles.BI_READER)
    with database.connect(served.dsn, autocommit=True) as conn:
        conn.execute("drop schema if exists marts_wap cascade")
        conn.execute("create schema marts_wap")
        conn.execute("create table marts_wap.mart_probe as select 42 as answer")
        conn.execute("alter schema marts rename to marts_prev")
        conn.execute("alter schema marts_wap rename to marts")
        try:
            roles.ensure_roles(conn, cfg.secrets)
            assert run(bi, "select answer from marts.mart_probe") == [(42,)]
            denied(bi, "select 1 from marts_prev.mart_sales_daily limit 1")  # old marts closed
        finally:
            conn.execute("alter schema marts rename to marts_wap")
            conn.execute("alter schema marts_prev rename to marts")
            conn.execute("drop schema marts_wap cascade")
            roles.ensure_roles(conn, cfg.secrets)
    assert run(bi, "select count(*) from marts.mart_sales_daily")[0][0] > 0
