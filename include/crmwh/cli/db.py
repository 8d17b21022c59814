"""``crmwh db``: start, stop or inspect the warehouse database."""

from __future__ import annotations

import argparse
import time

from crmwh import settings
from crmwh.cli.common import say


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="manage the warehouse database",
                        description="Start, stop or inspect the embedded PostgreSQL "
                                    "(or check CRM_WAREHOUSE_DSN when set).")
    db.add_argument("action", choices=["start", "stop", "status", "url"])
    db.set_defaults(func=cmd_db)


def cmd_db(args: argparse.Namespace) -> int:
    from crmwh import database, warehouse

    cfg = settings.load()
    if args.action == "url":
        print(cfg.warehouse_dsn)
        return 0
    if not cfg.warehouse_embedded and args.action in ("start", "stop"):
        say(f"CRM_WAREHOUSE_DSN is set ({database.describe(cfg.warehouse_dsn)}): "
            "that server is managed outside crmwh")
        if args.action == "start":
            warehouse.ensure_warehouse(cfg)
            say("reachable; schemas ensured")
        return 0
    if args.action == "start":
        t = time.monotonic()
        warehouse.ensure_warehouse(cfg)
        say(f"embedded PostgreSQL up at {database.describe(cfg.warehouse_dsn)} "
            f"(data in {cfg.pgdata}, {time.monotonic() - t:.1f} s)")
    elif args.action == "stop":
        say("stopped" if database.stop_embedded(cfg) else "not running")
    elif args.action == "status":
        if cfg.warehouse_embedded:
            up = database.embedded_running(cfg)
            say(f"embedded PostgreSQL {'running' if up else 'stopped'} on "
                f"127.0.0.1:{cfg.pg_port}, data in {cfg.pgdata}")
            return 0 if up else 1
        with database.connect(cfg.warehouse_dsn) as conn:
            version = conn.execute("show server_version").fetchone()[0]
        say(f"{database.describe(cfg.warehouse_dsn)} reachable (PostgreSQL {version})")
    return 0
