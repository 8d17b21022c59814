"""``crmwh db``: start, stop or inspect the warehouse database; ``db url`` prints a role's
connection string for a BI tool, psql, pandas or a JDBC client.

``--format`` of ``db url``: ``libpq`` is the URI psql, psycopg and most tools take
(``postgresql://user:password@host:port/db``); ``sqlalchemy`` the same with psycopg 3 as the
driver (``postgresql+psycopg://...``, for pandas and SQLAlchemy); ``jdbc`` the PostgreSQL
JDBC driver's URL (``jdbc:postgresql://host:port/db?user=...&password=...``, for DBeaver,
DataGrip and Java tools). The password is printed on purpose: the role's secret from
``$CRM_HOME/credentials.json`` (or the environment), never logged.
"""

from __future__ import annotations

import argparse
import time
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from crmwh import settings
from crmwh.cli.common import say

# the roles whose DSN the CLI hands out, by the name the options take (crmwh.warehouse.roles)
ROLES = {"bi_reader": "bi_reader", "analyst": "analyst", "pipeline": "crm_pipeline",
         "admin": None}
URL_FORMATS = ("libpq", "sqlalchemy", "jdbc")


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="manage the warehouse database",
                        description="Start, stop or inspect the embedded PostgreSQL "
                                    "(or check CRM_WAREHOUSE_DSN when set); `url` prints a "
                                    "DSN for a BI tool (--role bi_reader, the default), an "
                                    "analyst's psql or notebook (--role analyst).")
    db.add_argument("action", choices=["start", "stop", "status", "url"])
    db.add_argument("--role", choices=list(ROLES), default="bi_reader",
                    help="url: whose connection string (bi_reader reads the marts only)")
    db.add_argument("--format", choices=URL_FORMATS, default="libpq",
                    help="url: postgresql:// (psql, psycopg), postgresql+psycopg:// "
                         "(SQLAlchemy, pandas) or jdbc:postgresql:// (JDBC tools)")
    db.set_defaults(func=cmd_db)


def role_dsn(cfg: settings.Settings, role: str) -> str:
    """The warehouse DSN of one of :data:`ROLES`: ``admin`` is the login that sets it up (the
    embedded superuser, or ``CRM_WAREHOUSE_DSN``); the others log in as their role."""
    return cfg.admin_dsn if role == "admin" else cfg.role_dsn(ROLES[role])


def url_as(dsn: str, fmt: str) -> str:
    """A ``postgresql://`` DSN in one of :data:`URL_FORMATS`."""
    parts = urlsplit(dsn)
    if fmt == "libpq":
        return dsn
    if fmt == "sqlalchemy":
        return parts._replace(scheme="postgresql+psycopg").geturl()
    login = [(key, unquote(value)) for key, value in (("user", parts.username),
                                                       ("password", parts.password)) if value]
    query = urlencode([*login, *parse_qsl(parts.query)])
    return f"jdbc:postgresql://{parts.hostname}:{parts.port or 5432}{parts.path}" + (
        f"?{query}" if query else "")


def cmd_db(args: argparse.Namespace) -> int:
    from crmwh import database, warehouse

    cfg = settings.load()
    if args.action == "url":
        print(url_as(role_dsn(cfg, args.role), args.format))
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
