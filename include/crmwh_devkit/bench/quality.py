"""Benchmark of the data-quality guard: the gate and the publish swap.

``python -m crmwh_devkit.bench.quality --rows 200000`` builds a scratch database on the
warehouse server, lands a synthetic orders batch of ``rows`` rows (and the customers it
references), and times, each next to a baseline measured in the same run:

* the gate (``validate_batch``: read, referential SQL, GX suite) against reading the same
  batch into pandas (the floor any Python-side validation pays);
* the gate with GX Data Docs rendered;
* the write-audit-publish of a mart of ``rows`` rows with an incremental history of the
  same size: ``prepare`` (copying the history) and ``publish`` (the swap) against
  ``create table as`` of the same mart (what building it costs anyway).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import date
from pathlib import Path

import psycopg

from crmwh import database, settings, warehouse
from crmwh.quality import batch as quality_batch
from crmwh.quality import gate
from crmwh.quality.suites import resolve_entity
from crmwh_devkit.bench import extract_land
from crmwh_devkit.bench.quality_data import SCRATCH_DB, fill


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run(rows: int) -> dict:
    cfg = settings.load()
    admin = database.with_database(cfg.admin_dsn, "postgres")
    dsn = extract_land.fresh_db(cfg.admin_dsn, SCRATCH_DB)
    out: dict = {"rows": rows}
    try:
        with database.connect(dsn, autocommit=True) as conn:
            warehouse.ensure_schemas(conn)
            batch = fill(conn, rows)
            gate.validate_batch(conn, "sales__orders", batch, "warm-up")  # GX import paid
            out["read_batch_s"] = _timed(lambda: quality_batch.read_batch(
                conn, resolve_entity("sales__orders"), batch, {}))
            out["gate_s"] = _timed(lambda: gate.validate_batch(
                conn, "sales__orders", batch, "bench", as_of_date=date(2026, 3, 1)))
            with tempfile.TemporaryDirectory() as docs:
                out["gate_with_docs_s"] = _timed(lambda: gate.validate_batch(
                    conn, "sales__orders", batch, "bench-docs", as_of_date=date(2026, 3, 1),
                    docs_dir=Path(docs)))
            out.update(_publish(conn, rows))
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'drop database if exists "{SCRATCH_DB}" with (force)')
    out["gate_ratio_to_read"] = round(out["gate_s"] / out["read_batch_s"], 2)
    out["publish_ratio_to_build"] = round(
        (out["prepare_s"] + out["publish_s"]) / out["build_mart_s"], 2)
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}


def _publish(conn, rows: int) -> dict:
    from crmwh import publish

    models = [publish.MartModel("mart_bench", "mart_bench", "table"),
              publish.MartModel("mart_bench_history", "mart_bench_history", "incremental")]
    build = ("create table {s}.mart_bench as select g as customer_key, g * 1.5 as value "
             "from generate_series(1, %s) g")
    conn.execute("create schema if not exists marts")
    conn.execute(build.format(s="marts"), (rows,))
    conn.execute("create table marts.mart_bench_history as select date '2026-02-28' as "
                 "as_of_date, * from marts.mart_bench")
    out = {"prepare_s": _timed(lambda: publish.prepare(conn, models, date(2026, 3, 1)))}
    out["build_mart_s"] = _timed(lambda: conn.execute(build.format(s="marts__candidate"),
                                                      (rows,)))
    conn.execute("insert into marts__candidate.mart_bench_history select date '2026-03-01', * "
                 "from marts__candidate.mart_bench")
    out["publish_s"] = _timed(lambda: publish.publish(conn, date(2026, 3, 1), "bench", models))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    print(json.dumps(run(parser.parse_args().rows), indent=2))


if __name__ == "__main__":
    main()
