"""``crmwh sql``: run one SQL statement on the warehouse and print a table.

It runs as ``analyst`` in a read-only transaction unless told otherwise: ``--write`` commits
what the statement changes, ``--role`` logs in as another role (``pipeline`` reads audit and
quarantine). One statement per call; a failing one is one line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse

import psycopg

from crmwh import settings
from crmwh.cli.common import say
from crmwh.cli.db import ROLES, role_dsn
from crmwh.errors import CrmwhError


def register(sub: argparse._SubParsersAction) -> None:
    sql = sub.add_parser("sql", help="run one SQL statement on the warehouse and print a table",
                         description="Run one SQL statement as analyst, read-only, and print "
                                     "a table; --write to change data, --role for another role.")
    sql.add_argument("query")
    sql.add_argument("--limit", type=int, default=50)
    sql.add_argument("--role", choices=list(ROLES), default="analyst",
                     help="log in as this role (default analyst)")
    sql.add_argument("--write", action="store_true",
                     help="run read-write and commit (default: a read-only transaction)")
    sql.set_defaults(func=cmd_sql)


def _failed(exc: psycopg.Error, write: bool) -> CrmwhError:
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction) and not write:
        return CrmwhError(f"the statement writes: {reason}",
                          "add --write to run it read-write (in the role's own schemas)")
    if "multiple commands" in reason:
        return CrmwhError("more than one statement given", "run one statement per call")
    return CrmwhError(f"the statement failed: {reason}", "fix the SQL, or pick another --role")


def cmd_sql(args: argparse.Namespace) -> int:
    from crmwh import database
    from crmwh.cli import printout

    cfg = settings.load()
    with database.connect(role_dsn(cfg, args.role)) as conn:
        conn.read_only = not args.write
        try:
            # prepared: the server refuses a second statement instead of running it unseen
            cur = conn.execute(args.query, prepare=True)
            cols = [d.name for d in cur.description] if cur.description else None
            rows = cur.fetchmany(args.limit + 1) if cols else []
            conn.commit()
        except psycopg.Error as exc:
            raise _failed(exc, args.write) from None
    if cols is None:
        say("done" if cur.rowcount < 0 else f"{cur.rowcount} rows affected")
        return 0
    print(printout.table(cols, rows[: args.limit]))
    more = " (more rows not shown)" if len(rows) > args.limit else ""
    print(f"({min(len(rows), args.limit)} rows{more})")
    return 0
