"""The warehouse's schemas (``ml`` comes with the model tables, :mod:`crmwh.warehouse.ml`)."""

from __future__ import annotations

import psycopg

SCHEMAS = ("raw", "staging", "core", "marts", "audit", "quarantine", "snapshots")


def create_schemas(conn: psycopg.Connection) -> None:
    for schema in SCHEMAS:
        conn.execute(f"create schema if not exists {schema}")
