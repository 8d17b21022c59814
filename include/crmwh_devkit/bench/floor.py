"""The floor of billing's landing: how close to plain COPY can any landing come that keeps
the raw contract's row hash? (``python -m crmwh_devkit.bench.floor``, after ``crmwh bench``)

Lands the billing files ``crmwh bench`` generated as cheaply as PostgreSQL allows, on
two sessions (the pipeline's default load workers), three ways:

* ``copy_only``: COPY straight into raw-shaped tables, nothing else: no row hash;
* ``hash``: the same, with the contract's row hash
  (:func:`crmwh.source_entities.row_hash_sql`) computed by COPY as a stored generated
  column, and a plain index on it for the next night's lookups;
* ``contract``: also what raw promises: identical rows land once (second copies
  within the batch removed) and the hash index is unique.

Left out on every side, so each figure is an upper bound for a real landing: value
checks and reasons, quarantine, ``_extra`` for unknown fields, the batch records, and
all Python work (files are read and malformed CSV lines cut out before the clock
starts). CSV files are copied with ``ON_ERROR ignore``; JSON lines are parsed into
``jsonb``, split by ``jsonb_to_record`` and typed (a value its type does not accept
is NULL). Next to each way, in the same round, a plain COPY of exactly the rows it landed
into bare tables (:mod:`crmwh_devkit.bench.extract_land`'s baseline, one session).
"""

from __future__ import annotations

import argparse
import json
import platform
import threading
import time
from datetime import date
from pathlib import Path

import psycopg

from crmwh import settings, source_entities
from crmwh.extract.base import Extraction
from crmwh.extract.billing import MANIFEST, PARSERS
from crmwh.pgcopy import quote_ident
from crmwh.settings import PROJECT_ROOT
from crmwh.source_entities import row_hash_sql
from crmwh_devkit.bench import extract_land

WAYS = ("copy_only", "hash", "contract")
WORKERS = 2
DATABASE = "crm_bench_floor"


def _files(folder: Path) -> dict[str, list[tuple[str, bytes, tuple[str, ...]]]]:
    """Every billing file in ``folder``, per entity: (format, body, CSV header), with
    malformed CSV lines already cut out by the extractor's own parser."""
    out: dict[str, list[tuple[str, bytes, tuple[str, ...]]]] = {}
    for manifest in sorted(folder.glob(f"*/{MANIFEST}")):
        for item in json.loads(manifest.read_text())["files"]:
            body = (manifest.parent / item["name"]).read_bytes()
            parts = out.setdefault(item["entity"], [])
            if item["format"] == "csv":
                extraction = Extraction()
                PARSERS["csv"](extraction, body, item["name"])
                parts += [("csv", p.body, p.header) for p in extraction.csv if p.rows]
            else:
                parts.append(("jsonl", body, ()))
    return out


def _ddl(entity: source_entities.Entity, extra: list[str], way: str) -> str:
    """A raw-shaped table: metadata as defaults, the row hash generated (but for
    ``copy_only``), a text column for each field the contract does not know."""
    cols = [f"{quote_ident(c.name)} {source_entities.PG_TYPES[c.type]}" for c in entity.columns]
    cols += [f"{quote_ident('+' + x)} text" for x in extra]
    hashed = row_hash_sql([quote_ident(c) for c in entity.column_names], "_extra")
    row_hash = "" if way == "copy_only" else f" generated always as ({hashed}) stored"
    return (f"create table {entity.qualified} ({', '.join(cols)}, "
            "_batch_id text default 'floor', _extracted_at timestamptz default now(), "
            "_source_ref text default 'floor', _extra jsonb, "
            f"_row_hash bytea{row_hash}) with (autovacuum_enabled = false)")


def _typed(col: source_entities.Column) -> str:
    """A JSON value (as text, in ``r``) in its contract type; NULL where it does not parse."""
    value, pg = f"r.{quote_ident(col.name)}", source_entities.PG_TYPES[col.type]
    if col.type == "text":
        return value
    return f"case when pg_input_is_valid({value}, '{pg}') then {value}::{pg} end"


def _land(dsn: str, entity: source_entities.Entity, parts: list, way: str) -> int:
    """Land one entity in one transaction; return the rows it holds."""
    table = entity.qualified
    with psycopg.connect(dsn) as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute("set local work_mem = '256MB'")
        cur.execute("set local maintenance_work_mem = '512MB'")
        for fmt, body, header in parts:
            if fmt == "csv":
                cols = ", ".join(quote_ident(h if h in entity.column_names else "+" + h)
                                 for h in header)
                with cur.copy(f"copy {table} ({cols}) from stdin (format csv, "
                              "on_error ignore)") as copy:
                    copy.write(body)
        lines = b"".join(body for fmt, body, _ in parts if fmt == "jsonl")
        if lines:
            cur.execute("create temp table _objects (j jsonb) on commit drop")
            with cur.copy("copy _objects (j) from stdin "
                          "(format csv, delimiter e'\\x01', quote e'\\x02')") as copy:
                copy.write(lines)
            cols = ", ".join(quote_ident(c) for c in entity.column_names)
            as_text = ", ".join(f"{quote_ident(c)} text" for c in entity.column_names)
            typed = ", ".join(_typed(c) for c in entity.columns)
            cur.execute(f"""
                insert into {table} ({cols})
                select {typed} from _objects o, jsonb_to_record(o.j) as r({as_text})
                where jsonb_typeof(o.j) = 'object'""")
        if way == "contract":  # the copied hashes as a constant: a hashed lookup per row
            copied = cur.execute(f"select array_agg(_row_hash) from (select _row_hash from "
                                 f"{table} group by 1 having count(*) > 1) d").fetchone()[0]
            cur.execute(f"""
                delete from {table} t where t.ctid = any(array(
                    select ctid from (
                        select ctid, row_number() over (partition by _row_hash
                                                        order by ctid) as n
                        from {table} where _row_hash = any(%s)) c
                    where n > 1))""", (copied or [],))
        if way != "copy_only":
            unique = "unique " if way == "contract" else ""
            cur.execute(f"create {unique}index on {table} (_row_hash)")
        if way == "contract":
            cur.execute(f"create index on {table} using brin (_batch_id)")
        return cur.execute(f"select count(*) from {table}").fetchone()[0]


def _sessions(files: dict, sizes: dict[str, int]) -> list[list[str]]:
    """The entities split over the sessions, longest first onto the least loaded."""
    sessions: list[list[str]] = [[] for _ in range(WORKERS)]
    load = [0] * WORKERS
    for name in sorted(files, key=lambda n: -sizes[n]):
        i = load.index(min(load))
        sessions[i].append(name)
        load[i] += sizes[name]
    return sessions


def _round(admin_dsn: str, files: dict, way: str) -> tuple[int, float, int, float]:
    """Land every file one way into a fresh database, then the plain COPY of what
    landed: (rows landed, seconds, rows copied, seconds of the COPY)."""
    dsn = extract_land.fresh_db(admin_dsn, DATABASE)
    entities = [e for e in source_entities.entities_of("billing") if e.name in files]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create schema raw")
        for e in entities:
            extra = sorted({h for fmt, _, header in files[e.name] for h in header
                            if h not in e.column_names})
            conn.execute(_ddl(e, extra, way))
        extract_land.checkpoint(conn)
    sizes = {n: sum(len(body) for _, body, _ in parts) for n, parts in files.items()}
    landed: dict[str, int] = {}
    errors: list[Exception] = []

    def work(names: list[str]) -> None:
        try:
            for e in entities:
                if e.name in names:
                    landed[e.name] = _land(dsn, e, files[e.name], way)
        except Exception as exc:  # re-raised in the caller's thread
            errors.append(exc)

    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(names,))
               for names in _sessions(files, sizes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    copy_rows, copy_s = extract_land.copy_baseline(dsn, entities)
    return sum(landed.values()), seconds, copy_rows, copy_s


def run(folder: Path, admin_dsn: str, repeat: int = 1, progress=print) -> dict:
    """Land ``folder``'s billing files each way, ``repeat`` rounds; per way the best
    round of each side, and every round, as ``crmwh bench`` reports them."""
    files = _files(folder)
    if not files:
        raise SystemExit(f"no billing drops in {folder}: run `crmwh bench` first")
    rounds: dict[str, list[tuple[int, float, int, float]]] = {way: [] for way in WAYS}
    for n in range(repeat):
        for way in WAYS:
            rounds[way].append(_round(admin_dsn, files, way))
            rows, seconds, _, copy_s = rounds[way][-1]
            progress(f"round {n + 1}, {way}: {rows:,} rows in {seconds:.2f} s, "
                     f"plain COPY {copy_s:.2f} s")
    result = {way: extract_land.summarise(got) for way, got in rounds.items()}
    return {"benchmark": "billing landing floor vs plain COPY", "date": date.today().isoformat(),
            "workers": WORKERS, "repeat": repeat, "folder": str(folder),
            "machine": f"{platform.machine()}, {platform.python_version()}", "ways": result}


def main(argv: list[str] | None = None) -> int:
    cfg = settings.load()
    parser = argparse.ArgumentParser(prog="python -m crmwh_devkit.bench.floor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--billing-dir", type=Path,
                        default=cfg.home / "bench" / "sources" / "billing")
    parser.add_argument("--dsn", default=cfg.admin_dsn, help="a server to create the "
                        f"scratch database {DATABASE} on (default: the warehouse's)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--record", action="store_true",
                        help="write benchmarks/billing_floor.json")
    args = parser.parse_args(argv)
    result = run(args.billing_dir, args.dsn, args.repeat)
    for way, got in result["ways"].items():
        print(f"{way:10} {got['rows']:>10,} rows  {got['seconds']:6.2f} s   plain COPY "
              f"{got['copy_seconds']:5.2f} s   ratio {got['ratio_to_copy']:.2f}")
    if args.record:
        path = PROJECT_ROOT / "benchmarks" / "billing_floor.json"
        path.write_text(json.dumps(result, indent=1) + "\n")
        print(f"recorded in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
