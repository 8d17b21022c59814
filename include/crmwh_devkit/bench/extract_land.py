"""Benchmark: extract + land rows per second per source, next to plain COPY of the same rows.

Runs on the embedded server in its own databases (``crm_bench``,
``crm_bench_sales``) and its own source folders under ``$CRM_HOME/bench``, so a
demo warehouse is left alone. Autovacuum is off for the bench's tables: it would
otherwise start on the rows one side just wrote while the other side is timed,
and each timed step starts after a checkpoint.
The service simulator runs without rate limiting or injected failures here: the
figure is the pipeline's throughput, not the simulator's throttle.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg

from crmwh import database, settings, source_entities
from crmwh.settings import PROJECT_ROOT
from crmwh.warehouse import ensure_schemas, ensure_warehouse
from crmwh_devkit.simulators import fill, service_api
from crmwh_devkit.simulators.population import GeneratorConfig


def fresh_db(admin_dsn: str, name: str) -> str:
    with psycopg.connect(database.with_database(admin_dsn, "postgres"), autocommit=True) as c:
        c.execute(f'drop database if exists "{name}" with (force)')
        c.execute(f'create database "{name}"')
    return database.with_database(admin_dsn, name)


def checkpoint(conn: psycopg.Connection) -> None:
    """Write out what earlier steps left dirty, so the next timed step starts clean
    (needs superuser or pg_checkpoint, as the embedded server's user has)."""
    with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
        conn.execute("checkpoint")


def copy_baseline(dsn: str, entities: list[source_entities.Entity]) -> tuple[int, float]:
    """Plain COPY of exactly the rows the pipeline landed, into bare tables of the same shape."""
    rows, seconds = 0, 0.0
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create schema if not exists bench_copy")
        for e in entities:
            cols = ", ".join(f'"{c}"' for c in e.column_names)
            conn.execute(f"drop table if exists bench_copy.{e.table}")
            conn.execute(f"create table bench_copy.{e.table} (like {e.qualified}) "
                         "with (autovacuum_enabled = false)")
            buf = io.BytesIO()
            with conn.cursor().copy(f"copy (select {cols} from {e.qualified}) to stdout") as cp:
                for block in cp:
                    buf.write(block)
            data = buf.getvalue()
            n = conn.execute(f"select count(*) from {e.qualified}").fetchone()[0]
            checkpoint(conn)
            started = time.perf_counter()
            with conn.cursor().copy(f"copy bench_copy.{e.table} ({cols}) from stdin") as cp:
                cp.write(data)
            seconds += time.perf_counter() - started
            rows += n
    return rows, seconds


def _timed(source: str, last: date, warehouse: str) -> tuple[int, float, int, float]:
    """Extract + land one source into ``warehouse``, then the plain COPY of what landed:
    (rows extracted, seconds, rows copied, seconds of the COPY)."""
    from crmwh import pipeline

    with psycopg.connect(warehouse, autocommit=True) as conn:
        checkpoint(conn)
    started = time.perf_counter()
    batches = pipeline.extract_and_land(source, last, "bench")
    seconds = time.perf_counter() - started
    copy_rows, copy_s = copy_baseline(warehouse, source_entities.entities_of(source))
    return sum(b["rows_extracted"] for b in batches), seconds, copy_rows, copy_s


def _prepare(warehouse: str) -> None:
    with database.connect(warehouse, autocommit=True) as conn:
        ensure_schemas(conn)
        # no autovacuum kicking in on one side's freshly written tables mid-measurement
        for e in source_entities.ENTITIES:
            conn.execute(f"alter table {e.qualified} set (autovacuum_enabled = false)")


def summarise(runs: list[tuple[int, float, int, float]]) -> dict:
    """Best of the rounds for each side (the least disturbed by other work on the
    machine), and every round's times."""
    extracted, _, copy_rows, _ = runs[0]
    seconds = min(r[1] for r in runs)
    copy_s = min(r[3] for r in runs)
    return {
        "rows": extracted,
        "seconds": round(seconds, 2),
        "rows_per_s": round(extracted / seconds),
        "copy_rows": copy_rows,
        "copy_seconds": round(copy_s, 2),
        "copy_rows_per_s": round(copy_rows / copy_s) if copy_s else None,
        "ratio_to_copy": round((extracted / seconds) / (copy_rows / copy_s), 3)
        if copy_s else None,
        "rounds": [{"seconds": round(r[1], 2), "copy_seconds": round(r[3], 2),
                    "ratio_to_copy": round((r[0] / r[1]) / (r[2] / r[3]), 3)} for r in runs],
    }


def run(customers: int = 100_000, days: int = 90, seed: int = 42, progress=print,
        repeat: int = 1) -> dict:
    """Generate the sources once, then land them ``repeat`` times into fresh warehouse
    databases; each round also times the plain COPY of what it landed. With more than
    one load worker configured (``CRM_LOAD_WORKERS``), each round also lands everything
    with one worker, reported as ``one_worker``."""
    from crmwh import pipeline

    base = settings.load()
    ensure_warehouse(base)
    bench_home = base.home / "bench"
    warehouse = fresh_db(base.admin_dsn, "crm_bench")
    sales = fresh_db(base.admin_dsn, "crm_bench_sales")
    server = None
    saved = {k: os.environ.get(k) for k in ("CRM_HOME", "CRM_WAREHOUSE_DSN", "CRM_SALES_DSN",
                                            "CRM_BILLING_DIR", "CRM_SERVICE_URL",
                                            "CRM_LOAD_WORKERS")}
    try:
        os.environ.update({"CRM_HOME": str(bench_home), "CRM_WAREHOUSE_DSN": warehouse,
                           "CRM_SALES_DSN": sales,
                           "CRM_BILLING_DIR": str(bench_home / "sources" / "billing")})
        os.environ.pop("CRM_SERVICE_URL", None)
        cfg = settings.load()
        started = time.perf_counter()
        config = GeneratorConfig(seed=seed, customers=customers, days=days)
        fill.fill(cfg, config, progress=progress)
        generate_s = time.perf_counter() - started
        server = service_api.make_server(cfg.sources_dir / "service", port=0,
                                         token=cfg.service_token, rate=0, fail_every=0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        os.environ["CRM_SERVICE_URL"] = f"http://127.0.0.1:{server.server_address[1]}"
        last = config.start + timedelta(days=days - 1)
        workers = cfg.load_workers
        # the configured workers, and one worker (entities one after another) beside it
        counts = [workers] if workers == 1 else [workers, 1]
        runs: dict[int, dict[str, list[tuple[int, float, int, float]]]] = {
            n: {s: [] for s in pipeline.SOURCES} for n in counts}
        for round_ in range(repeat):
            for n in counts:
                if round_ or n != counts[0]:
                    warehouse = fresh_db(base.admin_dsn, "crm_bench")
                    os.environ["CRM_WAREHOUSE_DSN"] = warehouse
                os.environ["CRM_LOAD_WORKERS"] = str(n)
                _prepare(warehouse)
                for source in pipeline.SOURCES:
                    progress(f"extract + land {source}, {n} worker(s) "
                             f"(round {round_ + 1} of {repeat})")
                    runs[n][source].append(_timed(source, last, warehouse))
                    extracted, seconds, copy_rows, copy_s = runs[n][source][-1]
                    progress(f"  {source}: {extracted:,} rows in {seconds:.2f} s, plain COPY "
                             f"{copy_rows:,} rows in {copy_s:.2f} s")
        results = {source: summarise(r) for source, r in runs[workers].items()}
        if workers != 1:
            for source, r in runs[1].items():
                results[source]["one_worker"] = summarise(r)
        return {
            "benchmark": "extract+land vs plain COPY",
            "date": date.today().isoformat(),
            "customers": customers,
            "days": days,
            "repeat": repeat,
            "load_workers": workers,
            "generate_seconds": round(generate_s, 1),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                       f"{platform.python_version()}",
            "sources": results,
        }
    finally:
        if server is not None:
            server.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def record(result: dict, folder: Path = PROJECT_ROOT / "benchmarks") -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "extract_land.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path
