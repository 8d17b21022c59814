"""Private databases on the test server: (re)create one, drop it, read a query into a frame;
the DSN of another home's embedded warehouse."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import psycopg

from crmwh import credentials, database
from crmwh.settings import Settings, embedded_dsn
from crmwh.warehouse import ensure_schemas


def fresh_database(cfg: Settings, name: str, template: str | None = None,
                   warehouse: bool = True) -> str:
    """(Re)create database ``name`` on the test server, optionally copied from a template,
    with the warehouse schemas when ``warehouse`` (and no template). Returns its DSN."""
    admin = database.with_database(cfg.admin_dsn, "postgres")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'drop database if exists "{name}" with (force)')
        c.execute(f'create database "{name}"' + (f' template "{template}"' if template else ""))
    dsn = database.with_database(cfg.admin_dsn, name)
    if warehouse and template is None:
        with database.connect(dsn, autocommit=True) as c:
            ensure_schemas(c)
    return dsn


def home_dsn(env: dict[str, str]) -> str:
    """The embedded warehouse's superuser DSN of the home in ``env`` (``CRM_HOME``,
    ``CRM_PG_PORT``), its password read from the home."""
    password = credentials.generated(Path(env["CRM_HOME"]))[credentials.ADMIN]
    return embedded_dsn(int(env["CRM_PG_PORT"]), password)


def drop_database(cfg: Settings, name: str) -> None:
    with psycopg.connect(database.with_database(cfg.admin_dsn, "postgres"),
                         autocommit=True) as c:
        c.execute(f'drop database if exists "{name}" with (force)')


def frame(dsn: str, sql: str) -> pd.DataFrame:
    """The rows of ``sql`` on the database at ``dsn``, with their column names."""
    with psycopg.connect(dsn) as c:
        cur = c.execute(sql)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
