"""``crmwh db``: start, stop or inspect the warehouse database."""

from __future__ import annotations

import argparse
import time

from crmwh import settings
from crmwh.cli.common import say

# the roles whose DSN the CLI hands out, by the name the options take (crmwh.warehouse.roles)
ROLES = {"bi_reader": "bi_reader", "analyst": "analyst", "pipeline": "crm_pipeline",
         "admin": None}


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="manage the warehouse database",
                        description="Start, stop or inspect the embedded PostgreSQL "
                                    "(or check CRM_WAREHOUSE_DSN when set); `url` prints a "
                                    "DSN for a BI tool (--role bi_reader, the default), an "
                                    "analyst's psql or notebook (--role analyst).")
    db.add_argument("action", choices=["start", "stop", "status", "url"])
    db.add_argument("--role", choices=list(ROLES), default="bi_reader",
                    help="url: whose DSN (default bi_reader, which reads the marts only)")
    db.set_defaults(func=cmd_db)


def role_dsn(cfg: settings.Settings, role: str) -> str:
    """The warehouse DSN of one of :data:`ROLES`: ``admin`` is the login that sets it up (the
    embedded superuser, or ``CRM_WAREHOUSE_DSN``); the others log in as their role."""
    return cfg.admin_dsn if role == "admin" else cfg.role_dsn(ROLES[role])


def cmd_db(args: argparse.Namespace) -> int:
    from crmwh import database, warehouse

    cfg = settings.load()
    if args.action == "url":
        print(role_dsn(cfg, args.role))
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
