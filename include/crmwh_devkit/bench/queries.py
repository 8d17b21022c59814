"""Benchmark of the managers' questions and the dashboards' lookups at 1,000,000 customers.

Method (benchmarks/queries.md says it with the figures): a warehouse built for real at N
customers (100,000: generate, land, dbt) is scaled x10 in SQL. Every mart with a
``customer_key`` is copied ten times with offset keys (``customer_key || '~' || k``,
``sales_customer_id + k * 10^9``, ``value_rank`` interleaved so it stays a 1..10N ranking);
aggregate marts (month x segment grain, whose size does not grow with customers) are copied
as they are. The copies get the same indexes as the originals (read from ``pg_indexes``) and
are analysed. The scaled schema is swapped in as ``marts`` (the question files run unchanged)
and every question and lookup is timed at 10N, then at N on the original marts in the same
run: the ratio is the cost of x10 customers. Lookups are also timed with index scans disabled:
the ratio is what the indexes buy.

    python -m crmwh_devkit.bench.queries --dsn postgresql://... [--record]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

from crmwh.settings import PROJECT_ROOT

SCALE = 10
SCALED = "marts_x10"
ORIGINAL = "marts_base"
QUESTIONS = PROJECT_ROOT / "sql" / "questions"
RESULTS = PROJECT_ROOT / "benchmarks" / "queries.json"
REPEAT = 3


def _columns(conn: psycopg.Connection, schema: str, table: str) -> list[str]:
    return [r[0] for r in conn.execute(
        """select column_name from information_schema.columns
           where table_schema = %s and table_name = %s order by ordinal_position""",
        (schema, table)).fetchall()]


def scale_marts(conn: psycopg.Connection, factor: int = SCALE) -> dict[str, int]:
    """Build ``marts_x10`` from ``marts``; return row counts."""
    conn.execute(f"drop schema if exists {SCALED} cascade")
    conn.execute(f"create schema {SCALED}")
    tables = [r[0] for r in conn.execute(
        "select tablename from pg_tables where schemaname = 'marts' order by 1").fetchall()]
    counts = {}
    for table in tables:
        cols = _columns(conn, "marts", table)
        exprs = []
        for c in cols:
            ident = sql.Identifier(c)
            if c == "customer_key":
                exprs.append(sql.SQL("case when k = 0 then {c} else {c} || '~' || k end as {c}")
                             .format(c=ident))
            elif c == "sales_customer_id":
                exprs.append(sql.SQL("{c} + k * 1000000000::bigint as {c}").format(c=ident))
            elif c == "value_rank" and "customer_key" in cols:
                exprs.append(sql.SQL("({c} - 1) * {f} + k + 1 as {c}").format(
                    c=ident, f=sql.Literal(factor)))
            else:
                exprs.append(ident)
        n = factor if "customer_key" in cols else 1
        order = sql.SQL(" order by order_date") if "order_date" in cols else sql.SQL("")
        conn.execute(sql.SQL("create table {dst} as select {exprs} from {src} "
                             "cross join generate_series(0, {last}) as k{order}").format(
            dst=sql.Identifier(SCALED, table), exprs=sql.SQL(", ").join(exprs),
            src=sql.Identifier("marts", table), last=sql.Literal(n - 1), order=order))
        for (definition,) in conn.execute(
                "select indexdef from pg_indexes where schemaname = 'marts' and tablename = %s",
                (table,)).fetchall():
            on = definition.split(" ON ", 1)[1].replace("marts.", f"{SCALED}.", 1)
            unique = "unique " if definition.upper().startswith("CREATE UNIQUE") else ""
            conn.execute(f"create {unique}index on {on}")
        conn.execute(sql.SQL("analyze {}").format(sql.Identifier(SCALED, table)))
        counts[table] = conn.execute(sql.SQL("select count(*) from {}").format(
            sql.Identifier(SCALED, table))).fetchone()[0]
    return counts


def swap(conn: psycopg.Connection, to_scaled: bool) -> None:
    if to_scaled:
        conn.execute(f"alter schema marts rename to {ORIGINAL}")
        conn.execute(f"alter schema {SCALED} rename to marts")
    else:
        conn.execute(f"alter schema marts rename to {SCALED}")
        conn.execute(f"alter schema {ORIGINAL} rename to marts")


def _time(conn: psycopg.Connection, query: str, params: tuple = ()) -> dict:
    """Server time of the query: wrapped in a count so shipping millions of result rows to
    this client is not what gets measured (a BI tool pages them)."""
    wrapped = f"select count(*) from ({query.strip().rstrip(';')}) as q"
    rows = conn.execute(wrapped, params).fetchone()[0]  # warm the cache
    times = []
    for _ in range(REPEAT):
        t = time.perf_counter()
        conn.execute(wrapped, params).fetchone()
        times.append((time.perf_counter() - t) * 1000)
    return {"median_ms": round(statistics.median(times), 2), "min_ms": round(min(times), 2),
            "rows": rows}


def lookups(conn: psycopg.Connection) -> dict[str, tuple[str, tuple]]:
    """The dashboards' point reads, with a key picked from the data (the last customer)."""
    key, sales_id = conn.execute(
        "select customer_key, sales_customer_id from marts.mart_customer_directory "
        "where sales_customer_id is not null order by sales_customer_id desc limit 1").fetchone()
    as_of_date = conn.execute(
        "select max(as_of_date) from marts.mart_customer_churn_risk").fetchone()[0]
    month = conn.execute("select max(order_month) from marts.mart_sales_daily").fetchone()[0]
    return {
        "lookup directory by customer_key": (
            "select * from marts.mart_customer_directory where customer_key = %s", (key,)),
        "lookup directory by sales_customer_id": (
            "select * from marts.mart_customer_directory where sales_customer_id = %s",
            (sales_id,)),
        "lookup value by customer_key": (
            "select * from marts.mart_customer_value where customer_key = %s", (key,)),
        "lookup churn risk by customer_key": (
            "select * from marts.mart_customer_churn_risk where customer_key = %s "
            "and as_of_date = %s", (key, as_of_date)),
        "one company's sales history": (
            "select order_month, sum(net_revenue) from marts.mart_sales_daily "
            "where customer_key = %s group by 1 order by 1", (key,)),
        "one month's sales by department": (
            "select department, sum(net_revenue), sum(gross_margin) from marts.mart_sales_daily "
            "where order_date between %s and %s + interval '1 month' - interval '1 day' "
            "group by 1", (month, month)),
    }


def measure(conn: psycopg.Connection) -> dict:
    out: dict = {"questions": {}, "lookups": {}}
    for f in sorted(QUESTIONS.glob("*.sql")):
        out["questions"][f.stem] = _time(conn, f.read_text())
    for name, (query, params) in lookups(conn).items():
        indexed = _time(conn, query, params)
        conn.execute("set enable_indexscan = off")
        conn.execute("set enable_bitmapscan = off")
        conn.execute("set enable_indexonlyscan = off")
        try:
            scan = _time(conn, query, params)
        finally:
            conn.execute("reset enable_indexscan")
            conn.execute("reset enable_bitmapscan")
            conn.execute("reset enable_indexonlyscan")
        out["lookups"][name] = {**indexed, "without_indexes_ms": scan["median_ms"],
                                "index_speedup": round(scan["median_ms"]
                                                       / max(indexed["median_ms"], 1e-3), 1)}
    return out


def run(dsn: str, reuse: bool = False) -> dict:
    with psycopg.connect(dsn, autocommit=True) as conn:
        base_customers = conn.execute(
            "select count(*) from marts.mart_customer_directory").fetchone()[0]
        t = time.perf_counter()
        exists = conn.execute("select to_regnamespace(%s) is not null", (SCALED,)).fetchone()[0]
        if reuse and exists:
            counts = {table: conn.execute(sql.SQL("select count(*) from {}").format(
                sql.Identifier(SCALED, table))).fetchone()[0] for (table,) in conn.execute(
                "select tablename from pg_tables where schemaname = %s", (SCALED,)).fetchall()}
        else:
            counts = scale_marts(conn)
        scale_s = time.perf_counter() - t
        swap(conn, to_scaled=True)
        try:
            scaled = measure(conn)
        finally:
            swap(conn, to_scaled=False)
        base = measure(conn)
        version = conn.execute("show server_version").fetchone()[0]
    for group in ("questions", "lookups"):
        for name, r in scaled[group].items():
            r["at_base_ms"] = base[group][name]["median_ms"]
            r["ratio_to_base"] = round(r["median_ms"] / max(r["at_base_ms"], 1e-3), 2)
    return {"recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "postgres": version, "base_customers": base_customers,
            "scaled_customers": counts.get("mart_customer_directory"), "scale": SCALE,
            "scaled_rows": counts, "scale_seconds": round(scale_s, 1),
            "repeat": REPEAT, **scaled}


def record(result: dict, path: Path = RESULTS) -> Path:
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return path


def markdown_table(result: dict) -> str:
    """The figures as the markdown tables benchmarks/queries.md shows."""
    n, big = result["base_customers"], result["scaled_customers"]
    lines = [f"| question | rows | median ms at {big:,} | median ms at {n:,} | ratio |",
             "|---|---:|---:|---:|---:|"]
    for name, r in result["questions"].items():
        lines.append(f"| `{name}` | {r['rows']:,} | {r['median_ms']:,.1f} | "
                     f"{r['at_base_ms']:,.1f} | {r['ratio_to_base']:.1f} |")
    lines += ["", f"| lookup | median ms at {big:,} | without indexes | index speed-up | "
                  f"median ms at {n:,} |", "|---|---:|---:|---:|---:|"]
    for name, r in result["lookups"].items():
        lines.append(f"| {name} | {r['median_ms']:,.2f} | {r['without_indexes_ms']:,.1f} | "
                     f"{r['index_speedup']:,.0f}x | {r['at_base_ms']:,.2f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dsn", required=True)
    p.add_argument("--record", action="store_true")
    p.add_argument("--reuse", action="store_true", help="reuse an existing marts_x10 schema")
    args = p.parse_args()
    result = run(args.dsn, reuse=args.reuse)
    print(json.dumps({k: v for k, v in result.items() if k in ("questions", "lookups")},
                     indent=2))
    if args.record:
        print(f"recorded in {record(result)}")
        print(markdown_table(result))


if __name__ == "__main__":
    main()
