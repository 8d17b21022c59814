"""``crmwh sql``: run one SQL statement on the warehouse and print its rows.

It runs as ``analyst`` in a read-only transaction unless told otherwise: ``--write`` commits
what the statement changes, ``--role`` logs in as another role (``pipeline`` reads audit and
quarantine). Values print exactly as PostgreSQL returns them, as a table, CSV or JSON. One
statement per call; a failing one is one line on stderr (PostgreSQL's message and where in
the statement), exit code 2.
"""

from __future__ import annotations

import argparse

import psycopg

from crmwh import settings
from crmwh.cli.common import add_format, note, say
from crmwh.cli.db import ROLES, role_dsn
from crmwh.errors import CrmwhError


def register(sub: argparse._SubParsersAction) -> None:
    sql = sub.add_parser("sql", help="run one SQL statement on the warehouse and print its rows",
                         description="Run one SQL statement as analyst, read-only, and print "
                                     "its rows exactly; --write to change data, --role for "
                                     "another role.")
    sql.add_argument("query", help="one SQL statement")
    sql.add_argument("--limit", type=int, default=50,
                     help="print at most this many rows (0: every row)")
    sql.add_argument("--role", choices=list(ROLES), default="analyst",
                     help="log in as this role")
    sql.add_argument("--write", action="store_true",
                     help="run read-write and commit (without it: a read-only transaction)")
    add_format(sql)
    sql.set_defaults(func=cmd_sql)


def failure(exc: psycopg.Error, write: bool) -> CrmwhError:
    """The error of a failed statement as one line: PostgreSQL's message, where in the
    statement (1-based character position) and the fix."""
    diag = exc.diag
    reason = diag.message_primary or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if diag.statement_position:
        reason += f" (position {diag.statement_position})"
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction) and not write:
        return CrmwhError(f"the statement writes: {reason}",
                          "add --write to run it read-write (in the role's own schemas)")
    if "multiple commands" in reason:
        return CrmwhError("more than one statement given", "run one statement per call")
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return CrmwhError(reason, "pick another --role (`crmwh sql --help` lists them)")
    return CrmwhError(reason, "fix the SQL and run it again")


def cmd_sql(args: argparse.Namespace) -> int:
    from crmwh import database
    from crmwh.cli import printout

    if args.limit < 0:
        raise CrmwhError(f"--limit {args.limit} is negative", "give 0 (every row) or more")
    cfg = settings.load()
    with database.connect(role_dsn(cfg, args.role)) as conn:
        conn.read_only = not args.write
        try:
            # prepared: the server refuses a second statement instead of running it unseen
            cur = conn.execute(args.query, prepare=True)
            cols = [d.name for d in cur.description] if cur.description else None
            if cols is None:
                rows = []
            else:
                rows = cur.fetchmany(args.limit + 1) if args.limit else cur.fetchall()
            conn.commit()
        except psycopg.Error as exc:
            raise failure(exc, args.write) from None
    if cols is None:
        say("done" if cur.rowcount < 0 else f"{cur.rowcount} rows affected")
        return 0
    more = bool(args.limit) and len(rows) > args.limit
    shown = rows[: args.limit] if args.limit else rows
    printout.emit(cols, shown, args.format)
    count = f"({len(shown)} rows{'; more not shown, see --limit' if more else ''})"
    if args.format == "table":
        print(count)
    elif more:
        note(count)
    return 0
