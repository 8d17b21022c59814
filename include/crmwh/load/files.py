"""Billing file bookkeeping: every consumed file once, in ``audit.billing_files``."""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from crmwh.extract.base import SourceFile
from crmwh.source_entities import Entity


def billing_file_loaded(conn: psycopg.Connection) -> Callable[[str, str], bool]:
    """Whether a file (name, sha256) was already loaded, as of now."""
    loaded = {(n, s) for n, s in conn.execute("select file_name, sha256 from audit.billing_files")}
    return lambda name, sha: (name, sha) in loaded


def record_files(cur: psycopg.Cursor, entity: Entity, batch_id: str,
                 files: list[SourceFile]) -> None:
    """The files a batch consumed, so they are never loaded again."""
    cur.executemany(
        """insert into audit.billing_files
           (file_name, sha256, drop_date, entity, batch_id, rows)
           values (%s, %s, %s, %s, %s, %s)""",
        [(f.name, f.sha256, f.drop_date, entity.name, batch_id, f.rows) for f in files])


def forget_files(cur: psycopg.Cursor, batch_id: str) -> None:
    """Make the files of a rejected batch loadable again."""
    cur.execute("delete from audit.billing_files where batch_id = %s", (batch_id,))
