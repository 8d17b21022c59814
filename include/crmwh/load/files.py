"""Billing file bookkeeping: every consumed file once, in ``audit.billing_files``; files
held (not matching their manifest) and re-deliveries in ``audit.billing_deliveries``."""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from crmwh.extract.base import FileEvent, SourceFile
from crmwh.source_entities import Entity


def billing_file_loaded(conn: psycopg.Connection) -> Callable[[str, str], str | None]:
    """The drop (ISO date) a file (name, sha256) was loaded from, as of now; None: never."""
    loaded = {(n, s): d for n, s, d in conn.execute(
        "select file_name, sha256, drop_date::text from audit.billing_files")}
    return lambda name, sha: loaded.get((name, sha))


def known_redeliveries(conn: psycopg.Connection) -> frozenset[str]:
    """The drop/name refs already recorded as re-deliveries of a loaded file."""
    return frozenset(r for (r,) in conn.execute(
        """select drop_date::text || '/' || file_name from audit.billing_deliveries
           where outcome = 're-delivered'"""))


def record_files(cur: psycopg.Cursor, entity: Entity, batch_id: str,
                 files: list[SourceFile]) -> None:
    """The files a batch consumed, so they are never loaded again."""
    cur.executemany(
        """insert into audit.billing_files
           (file_name, sha256, drop_date, entity, batch_id, rows)
           values (%s, %s, %s, %s, %s, %s)""",
        [(f.name, f.sha256, f.drop_date, entity.name, batch_id, f.rows) for f in files])


def record_file_events(cur: psycopg.Cursor, entity: Entity, batch_id: str,
                       events: list[FileEvent]) -> None:
    """The files a batch held (they fail its gate) or found re-delivered."""
    cur.executemany(
        """insert into audit.billing_deliveries
           (drop_date, file_name, sha256, entity, batch_id, outcome, check_name, detail)
           values (%s, %s, %s, %s, %s, %s, %s, %s)""",
        [(e.drop_date, e.name, e.sha256, entity.name, batch_id, e.outcome, e.check, e.detail)
         for e in events])


def forget_files(cur: psycopg.Cursor, batch_id: str) -> None:
    """Make the files of a rejected batch loadable again."""
    cur.execute("delete from audit.billing_files where batch_id = %s", (batch_id,))
