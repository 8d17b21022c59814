"""Extraction and landing: incremental, idempotent, nothing lost (scratch warehouses). (The
service API client's retries: tests/unit/test_extract_load.py.)"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from crmwh import database, pipeline, settings, source_entities, warehouse
from crmwh.errors import CrmwhError
from crmwh.extract import billing, sales
from crmwh.load.batches import last_watermark, new_batch_id
from crmwh.load.landing import land
from crmwh.load.quarantine import DUPLICATE
from tests.support.databases import drop_database, fresh_database
from tests.support.demo import LAST_DAY, START


@pytest.fixture()
def scratch(cfg, generated, service_up, monkeypatch, request):
    """A fresh warehouse database (and sales copy) for one test."""
    name = "t_" + request.node.name.lower()[:40]
    dsn = fresh_database(cfg, name)
    sales = fresh_database(cfg, name + "_sales", template="crm_sales")
    monkeypatch.setenv("CRM_WAREHOUSE_DSN", dsn)
    monkeypatch.setenv("CRM_SALES_DSN", sales)
    yield dsn, sales
    drop_database(cfg, name)
    drop_database(cfg, name + "_sales")


def land_all(day: date, run_id: str = "t") -> list[dict]:
    out = []
    for source in pipeline.SOURCES:
        out += pipeline.extract_and_land(source, day, run_id)
    return out


def test_every_row_is_loaded_or_quarantined_with_dirt(scratch, generated):
    dsn, _ = scratch
    day = START + timedelta(days=40)
    batches = land_all(day)
    with database.connect(dsn) as c:
        for b in batches:
            assert b["rows_extracted"] == (b["rows_loaded"] + b["rows_unchanged"]
                                           + b["rows_quarantined"]), b
            raw = c.execute(f"select count(*) from raw.{b['source']}__{b['entity']} "
                            "where _batch_id = %s", (b["batch_id"],)).fetchone()[0]
            q = c.execute("select count(*) from quarantine.rows where batch_id = %s",
                          (b["batch_id"],)).fetchone()[0]
            assert (raw, q) == (b["rows_loaded"], b["rows_quarantined"])
        reasons = {r for (r,) in c.execute("select distinct reason from quarantine.rows")}
    # the generator's dirt arrives and is caught with readable reasons
    assert any("amount below 0" in r for r in reasons)
    assert any("bad numeric in amount" in r for r in reasons)
    assert any("missing invoice_id" in r for r in reasons)
    assert any("duplicate" in r for r in reasons)


def test_watermark_lookback_catches_a_late_update(scratch):
    dsn, sales = scratch
    day = START + timedelta(days=30)
    pipeline.extract_and_land("sales", day, "first")
    entity = source_entities.BY_TABLE["sales__customers"]
    with database.connect(dsn) as c:
        mark = datetime.fromisoformat(last_watermark(c, entity))
    # a transaction that committed late: its updated_at lies 10 minutes before the watermark
    late = mark - timedelta(minutes=10)
    with psycopg.connect(sales, autocommit=True) as s:
        cid = s.execute("select customer_id from customers where updated_at < %s "
                        "order by customer_id limit 1", (late,)).fetchone()[0]
        s.execute("update customers set city = 'Late City', updated_at = %s "
                  "where customer_id = %s", (late, cid))
    results = pipeline.extract_and_land("sales", day + timedelta(days=1), "second")
    cust = next(r for r in results if r["entity"] == "customers")
    assert cust["rows_loaded"] >= 1
    with database.connect(dsn) as c:
        cities = [r[0] for r in c.execute(
            "select city from raw.sales__customers where customer_id = %s order by _extracted_at",
            (cid,))]
    assert cities[-1] == "Late City" and len(cities) == 2


def test_rerun_and_redelivered_files_land_nothing_twice(scratch, cfg):
    dsn, _ = scratch
    day = LAST_DAY
    first = pipeline.extract_and_land("billing", day, "a")
    again = pipeline.extract_and_land("billing", day, "b")
    assert sum(b["rows_loaded"] for b in first) > 0
    assert all(b["rows_extracted"] == 0 for b in again)
    with database.connect(dsn) as c:
        files = c.execute("select file_name, count(*) from audit.billing_files group by 1 "
                          "having count(*) > 1").fetchall()
        dup_rows = c.execute("""select count(*) from (select _row_hash from raw.billing__invoices
                                 group by 1 having count(*) > 1) d""").fetchone()[0]
    assert files == [] and dup_rows == 0
    # the generator re-delivers some files byte for byte in later folders: they were skipped
    names = [p.name for p in cfg.billing_dir.rglob("*_2026*")]
    assert len(names) > len(set(names)), "the demo data should contain re-deliveries"


def test_killed_load_leaves_nothing_and_rerun_has_no_gaps(scratch, monkeypatch):
    dsn, sales_dsn = scratch
    day = START + timedelta(days=20)
    entity = source_entities.BY_TABLE["sales__orders"]
    real_extract = sales.extract

    def dying_extract(*args, **kwargs):
        # the entities landing before or beside orders commit; the process dies right
        # after the orders rows were copied in (straight into raw: a first load), before
        # the commit
        got = real_extract(*args, **kwargs)
        copy = got.typed
        assert copy is not None, "the simulator's sales schema is typed"

        def dying_copy(cur, table, columns, constants):
            copied = copy(cur, table, columns, constants)
            if args[1].name == "orders":
                assert table == entity.qualified and copied > 0
                raise KeyboardInterrupt("killed midway")
            return copied

        got.typed = dying_copy
        return got

    monkeypatch.setattr(sales, "extract", dying_extract)
    with pytest.raises(KeyboardInterrupt):
        pipeline.extract_and_land("sales", day, "killed")
    monkeypatch.setattr(sales, "extract", real_extract)
    with database.connect(dsn) as c:
        partial = c.execute("select count(*) from raw.sales__orders").fetchone()[0]
        wm = last_watermark(c, entity)
        landed = {e: c.execute(f"select count(*) from raw.sales__{e}").fetchone()[0]
                  for (e,) in c.execute("select entity from audit.load_batches")}
        indexes = c.execute("select count(*) from pg_indexes where schemaname = 'raw' "
                            "and tablename = 'sales__orders'").fetchone()[0]
    assert partial == 0 and wm is None  # the half-copied batch rolled back whole
    assert indexes == 2  # the indexes the bulk load dropped are back
    assert landed and all(landed.values())  # batches beside the killed one committed
    results = pipeline.extract_and_land("sales", day, "rerun")
    with database.connect(dsn) as c:
        total, distinct = c.execute(
            "select count(*), count(distinct order_id) from raw.sales__orders").fetchone()
        landed_after = {e: c.execute(f"select count(*) from raw.sales__{e}").fetchone()[0]
                        for e in landed}
    until = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    with psycopg.connect(sales_dsn) as s:
        want = s.execute("select count(*) from orders where updated_at < %s",
                         (until,)).fetchone()[0]
    assert total == distinct == want  # no gaps, no duplicates
    assert landed_after == landed  # nothing landed twice
    assert all(r["rows_extracted"] == r["rows_loaded"] + r["rows_unchanged"]
               + r["rows_quarantined"] for r in results)


def test_typed_and_text_landing_hash_alike(scratch, monkeypatch):
    """The typed path (cast and hashed by the source, bulk into empty raw) and the text
    path (checked and hashed in the warehouse, deduplicated against raw) agree: every
    row the first landed is recognised as unchanged by the second."""
    dsn, sales_dsn = scratch
    day = LAST_DAY
    first = pipeline.extract_and_land("sales", day, "typed")
    monkeypatch.setattr(sales, "_fits", lambda *_: False)  # as if a column were untyped
    until = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    with database.connect(dsn, autocommit=True) as conn:
        for before in first:
            entity = source_entities.BY_TABLE[f"sales__{before['entity']}"]
            got = sales.extract(sales_dsn, entity, None, until, timedelta(0))
            assert got.typed is None and got.text is not None
            again = land(conn, entity, got, batch_id=new_batch_id(entity, day),
                         run_id="text", as_of_date=day, watermark_before=None)
            assert again.rows_loaded == 0, again
            assert again.rows_unchanged == before["rows_loaded"] > 0, (before, again)
            assert again.rows_quarantined == before["rows_quarantined"], (before, again)


def test_first_load_in_bulk_finds_copies_even_when_told_rows_are_distinct(scratch,
                                                                          monkeypatch):
    """A first load drops raw's indexes and builds them again; a source wrongly claiming
    distinct rows makes the unique index build fail, and the copies still end up in
    quarantine, as they do when the copies are looked for first."""
    dsn, _ = scratch
    day = LAST_DAY
    real = billing.extract

    def claiming(*args, **kwargs):
        got = real(*args, **kwargs)
        got.distinct_rows = True
        return got

    monkeypatch.setattr(billing, "extract", claiming)
    batches = pipeline.extract_and_land("billing", day, "claim")
    with database.connect(dsn) as c:
        copies = c.execute("select count(*) from quarantine.rows where reason = %s",
                           (DUPLICATE,)).fetchone()[0]
        for b in batches:
            table = f"raw.{b['source']}__{b['entity']}"
            raw, distinct = c.execute(f"select count(*), count(distinct _row_hash) from {table}"
                                      ).fetchone()
            q = c.execute("select count(*) from quarantine.rows where batch_id = %s",
                          (b["batch_id"],)).fetchone()[0]
            assert raw == distinct == b["rows_loaded"] and q == b["rows_quarantined"], b
            assert b["rows_unchanged"] == 0  # nothing was there before
            indexes = {r[0] for r in c.execute(
                "select indexdef from pg_indexes where schemaname = 'raw' and tablename = %s",
                (f"{b['source']}__{b['entity']}",))}
            assert any("UNIQUE" in i and "_row_hash" in i for i in indexes), indexes
            assert any("_batch_id" in i for i in indexes), indexes
    assert copies > 0  # the generator duplicates some billing rows


def test_upgrade_rehashes_landed_rows_once_and_a_rerun_lands_nothing_twice(scratch):
    """A warehouse landed before the row hash became 16 bytes (md5 text, with a view on
    raw as dbt's staging has) is rehashed once by ``ensure_schemas``; rerunning the
    landed date then finds every row unchanged."""
    dsn, sales_dsn = scratch
    day = LAST_DAY
    first = {b["entity"]: b for b in pipeline.extract_and_land("sales", day, "old")}
    old = source_entities.BY_TABLE["sales__orders"]
    with database.connect(dsn, autocommit=True) as c:  # back to the old contract
        c.execute("set timezone = 'UTC'")
        c.execute("set datestyle = 'ISO, MDY'")
        for e in source_entities.entities_of("sales"):
            cols = ", ".join(f'"{n}"' for n in e.column_names)
            c.execute(f"alter table {e.qualified} alter column _row_hash type text "
                      f"using md5(row({cols}, _extra)::text)")
        c.execute("delete from audit.schema_migrations")
        c.execute(f"create view public.v_orders as select * from {old.qualified}")
        c.execute("create view public.v_orders_2 as select order_id from public.v_orders")
        assert c.execute(f"select length(_row_hash) from {old.qualified} limit 1"
                         ).fetchone()[0] == 32
        warehouse.ensure_schemas(c)
        hashes = c.execute(f"select _row_hash from {old.qualified} order by order_id"
                           ).fetchall()
        warehouse.ensure_schemas(c)  # recorded: the second call changes nothing
        assert c.execute(f"select _row_hash from {old.qualified} order by order_id"
                         ).fetchall() == hashes
        assert c.execute("select count(*) from audit.schema_migrations").fetchone()[0] == 1
        assert len(hashes[0][0]) == 16
        # the views on raw survive
        assert c.execute("select count(*) from public.v_orders_2").fetchone()[0] == len(hashes)
    until = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    with database.connect(dsn, autocommit=True) as conn:
        for e in source_entities.entities_of("sales"):
            got = sales.extract(sales_dsn, e, None, until, timedelta(0))
            again = land(conn, e, got, batch_id=new_batch_id(e, day),
                         run_id="rerun", as_of_date=day, watermark_before=None)
            before = first[e.name]
            assert again.rows_loaded == 0, again
            assert again.rows_unchanged == before["rows_loaded"] > 0, (before, again)


def test_entities_land_side_by_side_and_one_failure_keeps_the_rest(scratch, monkeypatch):
    """With two load workers two entities are extracted at the same time (a barrier
    both must reach); when one entity fails, its error is raised, nothing of it lands,
    the batches that did land reconcile, and a rerun lands the rest exactly once."""
    dsn, _ = scratch
    day = LAST_DAY
    monkeypatch.setenv("CRM_LOAD_WORKERS", "2")
    real = billing.extract
    together = threading.Barrier(2, timeout=30)
    started: list[str] = []
    lock = threading.Lock()

    def failing(folder, entity, *args, **kwargs):
        with lock:
            started.append(entity.name)
            first_two = len(started) <= 2
        if first_two:
            together.wait()  # raises BrokenBarrierError if the other never comes
        if entity.name == "payments":
            raise CrmwhError("payments: the drop folder is unreadable", "fix it")
        return real(folder, entity, *args, **kwargs)

    monkeypatch.setattr(billing, "extract", failing)
    with pytest.raises(CrmwhError, match="payments"):
        pipeline.extract_and_land("billing", day, "first")
    assert len(started) >= 2
    with database.connect(dsn) as c:
        first = c.execute("select entity, rows_extracted, rows_loaded, rows_unchanged, "
                          "rows_quarantined from audit.load_batches").fetchall()
    assert "payments" not in {e for e, *_ in first} and first
    assert all(x == loaded + same + q for _, x, loaded, same, q in first)

    monkeypatch.setattr(billing, "extract", real)
    again = pipeline.extract_and_land("billing", day, "rerun")
    assert [b["entity"] for b in again] == [e.name for e in source_entities.entities_of("billing")]
    landed_before = {e for e, *_ in first}
    for b in again:
        # files are consumed once: entities landed by the failed run find nothing new
        assert (b["rows_extracted"] == 0) == (b["entity"] in landed_before), b
    with database.connect(dsn) as c:
        for b in again:
            table = f"raw.{b['source']}__{b['entity']}"
            rows, distinct = c.execute(f"select count(*), count(distinct _row_hash) "
                                       f"from {table}").fetchone()
            assert rows == distinct > 0, table


def test_the_longest_load_starts_first(scratch, cfg):
    """Entities are handed to the workers longest first: on a first load by the rows
    the source has waiting (billing manifests, sales tables), then by how long their
    last batch took."""
    dsn, _ = scratch
    day = LAST_DAY
    billing_entities = source_entities.entities_of("billing")
    settings_now = settings.load()
    first = [e.name for e in pipeline._longest_first(settings_now, dsn, billing_entities, day)]
    assert first[0] == "invoice_lines"  # the most rows
    waiting = billing.pending_rows(cfg.billing_dir, day, lambda *_: False,
                                   {e.name: f"{e.name}_*" for e in billing_entities})
    assert [waiting.get(n, 0) for n in first] == sorted(waiting.values(), reverse=True)
    sales_entities = source_entities.entities_of("sales")
    sales_first = pipeline._longest_first(settings_now, dsn, sales_entities, day)
    assert sales_first[0].name == "order_lines"  # the biggest table

    pipeline.extract_and_land("billing", day, "t")
    with database.connect(dsn) as c:
        took = dict(c.execute("select entity, duration_s from audit.load_batches"
                              ).fetchall())
    order = [e.name for e in pipeline._longest_first(settings_now, dsn, billing_entities, day)]
    assert [took[n] for n in order] == sorted(took.values(), reverse=True)


def test_batches_of_a_run_killed_before_its_gate_are_gated_by_the_next_run(scratch):
    """A run landed sales and died before its gate: its batches stay pending, staging reads
    none of their rows, and the rerun gates them (under its own run id) before its own."""
    from tests.support import dbt_runner

    dsn, _ = scratch
    day = START + timedelta(days=20)
    killed = pipeline.extract_and_land("sales", day, "killed")  # its gate never ran
    dbt_runner.ok(dsn, "run", "--select", "stg_sales__orders", as_of_date=day)
    with database.connect(dsn) as c:
        states = {s for (s,) in c.execute("select distinct gate_state from audit.load_batches")}
        staged = c.execute("select count(*) from staging.stg_sales__orders").fetchone()[0]
        landed = c.execute("select count(*) from raw.sales__orders").fetchone()[0]
    assert states == {"pending"} and landed > 0
    assert staged == 0  # a batch reaches dbt only after it passed its gate
    rerun = pipeline.extract_and_land("sales", day, "rerun")
    assert sum(b["rows_loaded"] for b in rerun) == 0
    pipeline.quality_gate(rerun, "rerun", "sales")
    with database.connect(dsn) as c:
        states = dict(c.execute("select batch_id, gate_state from audit.load_batches"))
        checked = {b for (b,) in c.execute(
            "select distinct batch_id from audit.dq_results where run_id = 'rerun'")}
        staged = c.execute("select count(*) from staging.stg_sales__orders").fetchone()[0]
        latest = c.execute("select count(distinct order_id) from raw.sales__orders "
                           "where updated_at < %s", (day + timedelta(days=1),)).fetchone()[0]
    assert set(states.values()) == {"passed"}
    assert {b["batch_id"] for b in killed} <= checked  # the killed run's batches were gated
    assert staged == latest > 0
