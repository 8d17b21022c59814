"""``crmwh sql``: run SQL on the warehouse and print a table."""

from __future__ import annotations

import argparse

from crmwh import settings
from crmwh.cli.common import say


def register(sub: argparse._SubParsersAction) -> None:
    sql = sub.add_parser("sql", help="run SQL on the warehouse and print a table")
    sql.add_argument("query")
    sql.add_argument("--limit", type=int, default=50)
    sql.set_defaults(func=cmd_sql)


def cmd_sql(args: argparse.Namespace) -> int:
    from crmwh import database
    from crmwh.cli import printout

    cfg = settings.load()
    with database.connect(cfg.warehouse_dsn) as conn:
        cur = conn.execute(args.query)
        if cur.description is None:
            conn.commit()
            say(f"{cur.rowcount} rows affected")
            return 0
        cols = [d.name for d in cur.description]
        rows = cur.fetchmany(args.limit + 1)
        print(printout.table(cols, rows[: args.limit]))
        more = " (more rows not shown)" if len(rows) > args.limit else ""
        print(f"({min(len(rows), args.limit)} rows{more})")
    return 0
