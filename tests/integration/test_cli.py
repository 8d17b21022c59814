"""The CLI on the test server's warehouse: exact values, SQL errors as one line, ``crmwh
status`` and connection strings that connect. (Help and configuration errors:
tests/unit/test_cli.py.) Commands run in-process (``crmwh.cli.main``) to keep them quick."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

from crmwh.cli import main

VALUES = """select 2026 as year, 0.0012 as share, 0.94123456789012345678 as p,
                   1/3::float8 as third, 12345678901::bigint as big, date '2026-03-31' as day,
                   null::text as nothing, true as flag"""


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_sql_prints_values_exactly_as_postgres_does(cfg, capsys):
    with psycopg.connect(cfg.admin_dsn) as conn:  # PostgreSQL's own text of each value
        texts = conn.execute(f"select t.*::text from ({VALUES}) t").fetchone()[0]
    want = next(csv.reader([texts.strip("()")]))
    want[-1] = "true"  # a row's text spells a boolean t
    code, out, _ = run(capsys, "sql", VALUES, "--format", "csv")
    assert code == 0
    header, row = list(csv.reader(io.StringIO(out)))
    assert header == ["year", "share", "p", "third", "big", "day", "nothing", "flag"]
    assert row == want and row[:3] == ["2026", "0.0012", "0.94123456789012345678"]
    code, out, _ = run(capsys, "sql", VALUES, "--format", "json")
    got = json.loads(out, parse_float=Decimal)[0]
    assert (got["share"], got["p"], got["third"], got["nothing"]) == (
        Decimal("0.0012"), Decimal("0.94123456789012345678"), Decimal(want[3]), None)
    code, out, _ = run(capsys, "sql", VALUES)
    assert out.splitlines()[2].split() == [v for v in row if v]
    assert out.splitlines()[-1] == "(1 rows)"


@pytest.mark.parametrize(("sql", "role", "words"), [
    ("selec 1", "analyst", ['syntax error at or near "selec" (position 1)', "fix the SQL"]),
    ("select * from marts.no_such_mart", "analyst",
     ['relation "marts.no_such_mart" does not exist (position 15)']),
    ("select 1/0", "analyst", ["division by zero"]),
    ("select * from audit.run_history", "bi_reader",
     ["permission denied for schema audit", "--role"]),
    ("create table marts.x (a int)", "analyst", ["the statement writes", "--write"]),
    ("select 1; select 2", "analyst", ["more than one statement"]),
])
def test_sql_errors_are_postgres_message_and_position_on_one_line(cfg, capsys, sql, role,
                                                                   words):
    code, out, err = run(capsys, "sql", sql, "--role", role)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("crmwh: error: "), err
    for word in words:
        assert word in err


def test_sql_limit_says_what_it_left_out(cfg, capsys):
    many = "select g from generate_series(1, 5) g"
    code, out, err = run(capsys, "sql", many, "--limit", "2", "--format", "csv")
    assert out.splitlines() == ["g", "1", "2"] and "more not shown" in err
    code, out, err = run(capsys, "sql", many, "--limit", "0", "--format", "csv")
    assert out.splitlines() == ["g", "1", "2", "3", "4", "5"] and err == ""


def test_status_before_and_after_runs(drops, capsys):
    from crmwh.warehouse import publication

    dsn, _ = drops
    code, out, _ = run(capsys, "status")
    assert code == 0 and "no nightly run yet" in out and "not published yet" in out
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("""insert into audit.run_history (run_id, as_of_date, status, failed_task,
                            error, summary, finished_at) values
            ('scheduled__2026-03-30', '2026-03-30', 'success', null, null, '{}',
             now() - interval '1 day'),
            ('scheduled__2026-03-31', '2026-03-31', 'failed', 'gate_sales',
             'QualityGateFailed: orders', '{}', now())""")
        conn.execute("""insert into audit.dq_results (run_id, source, entity, check_name,
                            severity, status, observed) values
            ('scheduled__2026-03-31', 'sales', 'orders', 'amount_not_null', 'blocking', 'fail',
             '3'),
            ('scheduled__2026-03-31', 'sales', 'orders', 'rows_present', 'blocking', 'pass',
             '9')""")
        conn.execute("""insert into quarantine.rows (batch_id, source, entity, reason, payload)
                        select 'b1', 'sales', 'orders', 'amount is null', '{}'
                        from generate_series(1, 3)""")
        conn.execute("create schema if not exists marts")
        marker = publication.create_marker(conn, "marts")
        conn.execute(psycopg.sql.SQL("insert into {} values ('2026-03-30', "
                                     "'scheduled__2026-03-30', now(), '{{}}')").format(marker))
    code, out, _ = run(capsys, "status")
    assert code == 0
    assert "the marts hold as-of 2026-03-30 (run scheduled__2026-03-30" in out
    assert "failed in task gate_sales" in out and "QualityGateFailed: orders" in out
    assert "amount_not_null" in out and "rows_present" not in out
    assert "3 rows in quarantine" in out
    code, out, _ = run(capsys, "status", "--format", "json", "--runs", "1")
    got = json.loads(out)
    assert got["published"]["as_of_date"] == "2026-03-30"
    assert [(r["as_of_date"], r["status"]) for r in got["runs"]] == [("2026-03-31", "failed")]
    assert [c["check_name"] for c in got["failed_checks"]] == ["amount_not_null"]
    assert got["quarantined"] == [{**got["quarantined"][0], "entity": "sales.orders",
                                   "rows": 3, "reasons": 1}]


def test_db_url_formats_connect_as_the_role(cfg, capsys):
    from sqlalchemy import create_engine, text

    urls = {}
    for fmt in ("libpq", "sqlalchemy", "jdbc"):
        code, out, _ = run(capsys, "db", "url", "--role", "analyst", "--format", fmt)
        assert code == 0
        urls[fmt] = out.strip()
    with psycopg.connect(urls["libpq"]) as conn:
        assert conn.execute("select current_user").fetchone()[0] == "analyst"
    engine = create_engine(urls["sqlalchemy"])
    try:
        with engine.connect() as conn:
            assert conn.execute(text("select current_user")).scalar() == "analyst"
    finally:
        engine.dispose()
    libpq, jdbc = urlsplit(urls["libpq"]), urlsplit(urls["jdbc"].removeprefix("jdbc:"))
    assert (jdbc.scheme, jdbc.hostname, jdbc.port, jdbc.path) == (
        "postgresql", libpq.hostname, libpq.port, libpq.path)
    assert parse_qs(jdbc.query) == {"user": ["analyst"], "password": [cfg.secrets["analyst"]]}
