"""Idempotent DDL that locks nothing when there is nothing to do.

``create index if not exists`` takes a share lock on its table, and ``alter table ... add
column if not exists`` an exclusive one, before they find the index or column already there.
Every extract task makes sure of the warehouse first, and under the scheduler the three
extracts run side by side: such a statement then waits for another source's landing
transaction (or deadlocks with it). :func:`execute` looks the index or column up in the
catalog first and runs the statement only when it is missing.
"""

from __future__ import annotations

import re

import psycopg

INDEX = re.compile(r"\s*create\s+(?:unique\s+)?index\s+if\s+not\s+exists\s+(\w+)\s+on\s+"
                   r"(?:only\s+)?(\w+)\.\w+", re.IGNORECASE)
COLUMN = re.compile(r"\s*alter\s+table\s+(\w+)\.(\w+)\s+add\s+column\s+if\s+not\s+exists\s+"
                    r"(\w+)\s", re.IGNORECASE)


def needed(conn: psycopg.Connection, statement: str) -> bool:
    """False when ``statement`` makes an index or column that exists already."""
    if index := INDEX.match(statement):
        name, schema = index.groups()
        return conn.execute("select to_regclass(%s) is null",
                            (f"{schema}.{name}",)).fetchone()[0]
    if column := COLUMN.match(statement):
        return not conn.execute(
            """select exists (select 1 from information_schema.columns
               where table_schema = %s and table_name = %s and column_name = %s)""",
            column.groups()).fetchone()[0]
    return True


def execute(conn: psycopg.Connection, statement: str) -> None:
    """Run ``statement`` unless it would make what exists already."""
    if needed(conn, statement):
        conn.execute(statement)
