"""The quality gate on raw tables of night-1 size: synthetic data, and a ``read_batch`` timing.

:func:`fill` lands one batch per entity straight into the warehouse's own raw tables with
``generate_series`` (set-based SQL, seconds for a million rows): every entity whose suite
checks references, and every entity they reference. Orders (400,000) and order lines
(1,000,000) are a first load at 100,000 customers; every other referenced entity gets
:data:`REFERENCED_ROWS` (more keys than a hash takes at the default 4 MB ``work_mem``), the
rest :data:`DEFAULT_ROWS`. Keys are ``1..n``; a reference column points at a key of the
referenced entity (one row in a hundred at a key that does not exist, one in a hundred is
NULL when the column may be), so the referential columns see all three answers.

``python -m crmwh_devkit.bench.gate_scale`` builds that in a scratch database on the
warehouse server and times :func:`crmwh.quality.batch.read_batch` of the order lines batch
at the default ``work_mem`` and at the gate's own (results: benchmarks/data_quality.md).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date

import psycopg
from psycopg import sql

from crmwh import database, settings, warehouse
from crmwh.quality.suites import load_suite_json
from crmwh.source_entities import BY_TABLE, ENTITIES, Entity
from crmwh_devkit.bench import extract_land

SCRATCH_DB = "crm_bench_gate_scale"
AS_OF_DATE = date(2026, 3, 1)
ROWS = {"sales__orders": 400_000, "sales__order_lines": 1_000_000}
REFERENCED_ROWS = 400_000  # an entity other entities reference, unless in ROWS
DEFAULT_ROWS = 50_000  # any other entity
MISSING_EVERY = 100  # one reference in this many points at no row, one more is NULL


def referencing() -> list[Entity]:
    """The entities whose suite has referential (derived) columns."""
    return [e for e in ENTITIES if load_suite_json(e).get("derived_columns")]


def references(entity: Entity) -> dict[str, str]:
    """The entity's referencing columns and the raw table each references, per its suite."""
    derived = load_suite_json(entity).get("derived_columns") or {}
    return {spec["column"]: spec["references"].split(".")[0] for spec in derived.values()}


def batch_id(entity: Entity) -> str:
    return f"{entity.table}_{AS_OF_DATE:%Y%m%d}_scale"


def _value(entity: Entity, column, rows: dict[str, int]) -> str:
    """The SQL of one column's value for row ``g`` of ``entity``."""
    if column.name == entity.key:
        return "g"
    ref = references(entity).get(column.name)
    if ref is not None:
        n = rows[ref]
        null = "null" if not column.required else f"{n} + g"
        return (f"case when g % {MISSING_EVERY} = 0 then {n} + g "
                f"when g % {MISSING_EVERY} = 1 then {null} else 1 + (g * 7919) % {n} end")
    if column.accepted:
        values = ", ".join(f"'{v}'" for v in column.accepted)
        return f"(array[{values}])[1 + g % {len(column.accepted)}]"
    return {
        "int": "1 + g % 5",
        "numeric": "(g % 1000) / 10.0",
        "bool": "g % 2 = 0",
        "date": "date '2025-01-01' + (g % 365)::int",
        "timestamptz": "timestamptz '2026-02-28 00:00+00' + (g % 86400) * interval '1 second'",
        "text": f"'{column.name}-' || g",
    }[column.type]


def sizes() -> dict[str, int]:
    """The rows :func:`fill` lands per raw table (see module doc)."""
    referenced = {t for e in referencing() for t in references(e).values()}
    tables = referenced | {e.table for e in referencing()}
    return {t: ROWS.get(t, REFERENCED_ROWS if t in referenced else DEFAULT_ROWS)
            for t in sorted(tables)}


def fill(conn: psycopg.Connection) -> dict[str, int]:
    """One analysed batch per entity involved in a reference (see module doc); its row
    counts by table. ``conn``: autocommit, on a scratch database with the warehouse
    schemas (the tables filled are made unlogged)."""
    rows = sizes()
    for table, n in rows.items():
        entity = BY_TABLE[table]
        # scratch data: no WAL to write (the plans and the reads are the same)
        conn.execute(sql.SQL("alter table {} set unlogged").format(sql.Identifier("raw", table)))
        values = [_value(entity, c, rows) for c in entity.columns]
        conn.execute(sql.SQL(
            "insert into {t} ({cols}, _batch_id, _extracted_at, _source_ref, _row_hash, _extra) "
            "select {values}, {batch}, now(), 'scale', int8send(g), '{{}}' "
            "from generate_series(1::bigint, {n}) g").format(
                t=sql.Identifier("raw", table),
                cols=sql.SQL(", ").join(sql.Identifier(c) for c in entity.column_names),
                values=sql.SQL(", ".join(values)), batch=batch_id(entity), n=n))
        conn.execute(
            """insert into audit.load_batches (batch_id, run_id, source, entity, as_of_date,
                   status, rows_extracted, rows_loaded)
               values (%s, 'scale', %s, %s, %s, 'loaded', %s, %s)""",
            (batch_id(entity), entity.source, entity.name, AS_OF_DATE, n, n))
        conn.execute(sql.SQL("analyze {}").format(sql.Identifier("raw", table)))
    conn.execute("analyze audit.load_batches")
    return rows


def _read_seconds(conn: psycopg.Connection, entity: Entity, work_mem: str, timeout_s: int,
                  references: bool = True) -> float | str:
    """Seconds :func:`read_batch` takes on the entity's batch at ``work_mem`` (with the
    suite's referential columns, or without: the floor of reading the rows)."""
    from crmwh.quality.batch import read_batch

    derived = (load_suite_json(entity).get("derived_columns") or {}) if references else {}
    with conn.transaction():
        conn.execute(f"set local work_mem = '{work_mem}'")
        conn.execute(f"set local statement_timeout = '{timeout_s}s'")
        started = time.perf_counter()
        try:
            with conn.transaction():
                frame = read_batch(conn, entity, batch_id(entity), derived)
        except psycopg.errors.QueryCanceled:
            return f"> {timeout_s} (cancelled)"
        seconds = time.perf_counter() - started
    assert len(frame) == sizes()[entity.table]
    return round(seconds, 2)


def run(table: str, work_mems: list[str], timeout_s: int) -> dict:
    cfg = settings.load()
    admin = database.with_database(cfg.admin_dsn, "postgres")
    dsn = extract_land.fresh_db(cfg.admin_dsn, SCRATCH_DB)
    entity = BY_TABLE[table]
    out: dict = {"table": table}
    try:
        with database.connect(dsn, autocommit=True) as conn:
            warehouse.ensure_schemas(conn)
            started = time.perf_counter()
            out["rows"] = fill(conn)[table]
            out["fill_s"] = round(time.perf_counter() - started, 2)
            out["read_batch_s without references"] = _read_seconds(
                conn, entity, work_mems[-1], timeout_s, references=False)
            for work_mem in work_mems:
                out[f"read_batch_s at work_mem {work_mem}"] = _read_seconds(
                    conn, entity, work_mem, timeout_s)
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'drop database if exists "{SCRATCH_DB}" with (force)')
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default="sales__order_lines")
    parser.add_argument("--work-mem", nargs="+", default=["4MB", "128MB"])
    parser.add_argument("--timeout", type=int, default=900, help="per read, seconds")
    args = parser.parse_args()
    print(json.dumps(run(args.table, args.work_mem, args.timeout), indent=2))


if __name__ == "__main__":
    main()
