"""EXPLAIN guard: every query the quality gate runs for a batch has a linear plan at night-1
size and the default ``work_mem``.

Raw tables of a first load at 100,000 customers (400,000 orders, 1,000,000 order lines,
every other referenced entity 400,000 rows: :mod:`crmwh_devkit.bench.gate_scale`) are
filled in SQL and analysed. Then the gate (:func:`crmwh.quality.gate.validate_batch`, Great
Expectations left out) and its rejection (:func:`crmwh.quality.verdict.judge`) run on the
batch of each entity with references, on a connection whose cursor EXPLAINs each statement
first and fails on

* a ``SubPlan`` that is not hashed, so runs again for every row (``col in (select ...)``
  over more keys than fit in ``work_mem`` became one and stalled night 1 in ``gate_sales``);
* a ``Nested Loop`` with more than ``plans.LARGE`` rows estimated on both sides.

Writes and selects returning many rows are explained, not run: the plan is what is tested,
and the test stays fast (``read_batch``'s time at this size is a benchmark,
benchmarks/data_quality.md). The gate sets its own ``work_mem``; the cursor skips that, so
the plans are those of the server default, 4 MB.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from psycopg import sql

from crmwh import database
from crmwh.quality import gate, verdict
from crmwh.quality.results import Failure, GateResult
from crmwh.quality.suites import load_suite_json
from crmwh.source_entities import BY_TABLE
from crmwh_devkit.bench import gate_scale
from crmwh_devkit.bench.plans import nodes, plan_problems
from tests.support.databases import drop_database, fresh_database

DB_NAME = "crm_gate_plans"
RUN_UP_TO = 10_000  # a select estimated to return more is explained, not run
DEFAULT_WORK_MEM = "4MB"
CATALOGS = {"pg_catalog", "information_schema"}


@pytest.fixture(scope="module")
def scale_dsn(cfg):
    dsn = fresh_database(cfg, DB_NAME)
    with database.connect(dsn, autocommit=True) as conn:
        gate_scale.fill(conn)
    yield dsn
    drop_database(cfg, DB_NAME)


def _schemas(plan: dict[str, Any]) -> set[str]:
    return {n["Schema"] for n in nodes(plan) if "Schema" in n}


class ExplainingCursor(psycopg.Cursor):
    """Explains every statement before it runs, records it, and fails on a bad plan.

    Runs only reads estimated to return few rows; the others are explained only.
    ``set local work_mem`` is skipped (the session's setting stays)."""

    connection: ExplainingConnection

    def execute(self, query, params=None, **kwargs):
        text = query if isinstance(query, str) else query.as_string(self)
        words = text.lower().split()
        if words[:2] == ["set", "local"] and "work_mem" in text:
            self.connection.skipped.append(text)
            return self
        if words[0] not in ("select", "with", "insert", "update", "delete"):
            return super().execute(query, params, **kwargs)
        with psycopg.Cursor(self.connection) as cur:
            cur.execute(sql.SQL("explain (verbose, format json) {}").format(sql.SQL(text)),
                        params)
            found = cur.fetchone()[0]
        plan = (json.loads(found) if isinstance(found, str) else found)[0]["Plan"]
        if _schemas(plan) - CATALOGS:
            self.connection.explained.append((text, plan))
            problems = plan_problems(plan)
            if problems:
                pytest.fail(f"{'; '.join(problems)} in: {' '.join(text.split())[:600]}")
        if any(n["Node Type"] == "ModifyTable" for n in nodes(plan)):
            return self
        if plan["Plan Rows"] > RUN_UP_TO:  # the columns of the result, none of its rows
            query = sql.SQL("select * from ({}) q limit 0").format(sql.SQL(text))
        return super().execute(query, params, **kwargs)

    def executemany(self, query, params_seq, **kwargs):
        for params in list(params_seq)[:1]:
            self.execute(query, params)


class ExplainingConnection(psycopg.Connection):
    """A connection whose cursors explain (:class:`ExplainingCursor`), and what they did."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cursor_factory = ExplainingCursor
        self.explained: list[tuple[str, dict[str, Any]]] = []  # (statement, plan)
        self.skipped: list[str] = []


@pytest.mark.parametrize("table", [e.table for e in gate_scale.referencing()])
def test_gate_queries_are_linear_at_default_work_mem(scale_dsn, table, monkeypatch):
    entity = BY_TABLE[table]
    batch = gate_scale.batch_id(entity)
    monkeypatch.setattr(gate, "run_suite", lambda *args, **kwargs: [])  # no query in GX
    with ExplainingConnection.connect(scale_dsn, autocommit=True) as conn:
        conn.execute(f"set work_mem = '{DEFAULT_WORK_MEM}'")
        result = gate.validate_batch(conn, entity, batch, "plans")
        failed = GateResult(False, [Failure("a blocking check", "blocking", "failed")])
        verdict.judge(conn, failed, entity, batch)
        assert conn.execute("show work_mem").fetchone()[0] == DEFAULT_WORK_MEM

    assert result.rows_checked == 0  # the batch select was explained, not run
    assert conn.skipped, "the gate sets its own work_mem"
    statements = [s for s, _ in conn.explained]
    derived = load_suite_json(entity)["derived_columns"]
    for name in derived:  # the referential columns were in what was explained
        assert any(f'"{name}"' in s for s in statements), name
    assert any(s.lstrip().startswith("insert into quarantine.rows") for s in statements)


@pytest.mark.parametrize("table", [e.table for e in gate_scale.referencing()])
def test_parking_queries_are_linear_at_default_work_mem(scale_dsn, table):
    """Parking a night-1 batch's orphans (one in a hundred references points at no row)
    and checking parked rows again: left joins to the referenced keys, never a subplan
    run once per row."""
    from crmwh.quality import parking

    entity = BY_TABLE[table]
    derived = load_suite_json(entity)["derived_columns"]
    params = {"batch": gate_scale.batch_id(entity), "source": entity.source,
              "entity": entity.name, "day": gate_scale.AS_OF_DATE,
              "expire_on": gate_scale.AS_OF_DATE}
    with ExplainingConnection.connect(scale_dsn, autocommit=True) as conn:
        conn.execute(f"set work_mem = '{DEFAULT_WORK_MEM}'")
        refs = parking._references(conn, entity, derived)
        assert len(refs) == len(derived)
        with conn.transaction(force_rollback=True), conn.cursor() as cur:
            cur.execute(parking.park_statement(entity, refs), params)
            cur.execute(parking.waiting_statement(entity, refs), params)
    statements = [s for s, _ in conn.explained]
    assert len(statements) == 2 and "delete from" in statements[0]
