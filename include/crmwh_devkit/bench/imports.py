"""Benchmark of ``crmwh import transactions`` at scale (``python -m crmwh_devkit.bench.imports``).

Generates a transactions file (default 10 million records: 1 million customers over two
years, one record in a thousand with a bad amount), then, each in a fresh warehouse
database on the embedded server:

* ``import``: the real command line in a child process, timed, its peak RSS read from
  ``/proc`` (the importer must stay under 1 GB whatever the file's size: it streams);
* ``copy``: a plain COPY of the same file into one bare table of text columns (no index,
  no check), streamed from this process: the floor any landing of the file is held to.

The machine's load average is sampled every second throughout (the machine is shared).
``--record`` writes ``benchmarks/imports.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg

from crmwh import settings
from crmwh.settings import PROJECT_ROOT
from crmwh.warehouse import ensure_warehouse
from crmwh_devkit.bench.extract_land import checkpoint, fresh_db

HEADER = "customer,day,amount,quantity\n"
CHUNK_ROWS = 500_000
START = date(2024, 1, 1)
RSS_LIMIT_MB = 1024


def write_file(path: Path, rows: int, customers: int, seed: int = 42) -> int:
    """Write ``rows`` records in chunks (the file never sits in memory); return its bytes."""
    rng = np.random.default_rng(seed)
    days = np.array([(START + timedelta(days=int(d))).isoformat() for d in range(730)])
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for begin in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - begin)
            cust = rng.integers(1, customers + 1, n)
            day = days[rng.integers(0, len(days), n)]
            qty = rng.integers(1, 5, n)
            amount = np.char.mod("%.2f", np.round(rng.gamma(2.0, 20.0, n) * qty, 2))
            amount[rng.random(n) < 0.001] = "n/a"  # bad amounts, quarantined with a reason
            lines = np.char.add(np.char.add(np.char.add(np.char.add(
                cust.astype(str), ","), day), ","), amount)
            lines = np.char.add(np.char.add(lines, ","), qty.astype(str))
            out.write("\n".join(lines.tolist()) + "\n")
    return path.stat().st_size


class LoadSampler:
    """The 1-minute load average, sampled every second while running."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(1.0)

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        return {"min": round(min(self.samples), 2), "max": round(max(self.samples), 2),
                "mean": round(sum(self.samples) / len(self.samples), 2)}


def _high_water_kb(pid: int) -> int:
    """The process's peak resident set so far (``VmHWM``; 0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def time_import(path: Path, warehouse: str) -> dict:
    """The real ``crmwh import transactions`` in a child process: wall time, and its peak
    RSS read from ``/proc/<pid>/status`` (``VmHWM``, every 0.2 s: ``getrusage`` would
    report this process's own peak, which a child started by vfork inherits)."""
    env = {**os.environ, "CRM_WAREHOUSE_DSN": warehouse}
    cmd = [sys.executable, "-m", "crmwh.cli", "import", "transactions", str(path),
           "--customer-col", "customer", "--date-col", "day", "--amount-col", "amount",
           "--quantity-col", "quantity"]
    started = time.perf_counter()
    peak_kb = 0
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        while proc.poll() is None:
            peak_kb = max(peak_kb, _high_water_kb(proc.pid))
            time.sleep(0.2)
        stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"the import failed: {stderr.strip()}")
    with psycopg.connect(warehouse) as conn:
        batches = {r[0]: dict(zip(("extracted", "loaded", "unchanged", "quarantined"), r[1:],
                                  strict=True)) for r in conn.execute(
            """select entity, rows_extracted, rows_loaded, rows_unchanged, rows_quarantined
               from audit.load_batches order by entity""")}
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(peak_kb / 1024, 1),
            "batches": batches, "stdout": stdout.strip().splitlines()[-6:]}


def time_copy(path: Path, dsn: str) -> dict:
    """A plain COPY of the file into one bare table of text columns."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create table bare (customer text, day text, amount text, quantity text)")
        checkpoint(conn)
        started = time.perf_counter()
        with conn.cursor() as cur, path.open("rb") as src:
            with cur.copy("copy bare from stdin (format csv, header true)") as copy:
                while block := src.read(1 << 20):
                    copy.write(block)
            rows = cur.rowcount
        seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": round(seconds, 1)}


def run(rows: int, customers: int, progress=print) -> dict:
    cfg = settings.load()
    ensure_warehouse(cfg)
    folder = cfg.home / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"transactions_{rows}.csv"
    with LoadSampler() as load:
        progress(f"writing {rows:,} records to {path}")
        t = time.perf_counter()
        size = write_file(path, rows, customers)
        progress(f"  {size / 1e6:,.0f} MB in {time.perf_counter() - t:.0f} s")
        warehouse = fresh_db(cfg.admin_dsn, "crm_bench_imports")
        ensure_warehouse(replace(cfg, warehouse_dsn=warehouse, warehouse_embedded=False))
        with psycopg.connect(warehouse, autocommit=True) as conn:
            checkpoint(conn)
        progress("crmwh import transactions (child process)")
        imported = time_import(path, warehouse)
        progress(f"  {imported['seconds']} s, peak RSS {imported['peak_rss_mb']} MB")
        progress("plain COPY of the same file into a bare table")
        copied = time_copy(path, fresh_db(cfg.admin_dsn, "crm_bench_imports_copy"))
        progress(f"  {copied['seconds']} s")
    path.unlink()
    import_rps = rows / imported["seconds"]
    copy_rps = copied["rows"] / copied["seconds"]
    return {
        "benchmark": "crmwh import transactions vs plain COPY",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "rows": rows, "customers": customers, "file_mb": round(size / 1e6, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}",
        "load_average_1m": load.summary(),
        "import": {**imported, "rows_per_s": round(import_rps)},
        "copy": {**copied, "rows_per_s": round(copy_rps)},
        "ratio_to_copy": round(import_rps / copy_rps, 3),
        "peak_rss_under_1gb": imported["peak_rss_mb"] < RSS_LIMIT_MB,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--record", action="store_true", help="write benchmarks/imports.json")
    args = parser.parse_args(argv)
    result = run(args.rows, args.customers, progress=lambda m: print(f"[bench] {m}", flush=True))
    print(json.dumps(result, indent=1))
    if args.record:
        path = PROJECT_ROOT / "benchmarks" / "imports.json"
        path.write_text(json.dumps(result, indent=1) + "\n")
        print(f"[bench] recorded in {path}")
    return 0 if result["peak_rss_under_1gb"] else 1


if __name__ == "__main__":
    sys.exit(main())
