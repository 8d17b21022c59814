"""The warehouse's schemas (``ml`` comes with the model tables, :mod:`crmwh.warehouse.ml`)."""

from __future__ import annotations

import psycopg

SCHEMAS = ("raw", "staging", "core", "marts", "audit", "quarantine", "snapshots")
# left by older versions: marts__staging was the candidate schema's earlier name
RETIRED_SCHEMAS = ("marts__staging",)


def create_schemas(conn: psycopg.Connection) -> None:
    for schema in SCHEMAS:
        conn.execute(f"create schema if not exists {schema}")
    for schema in RETIRED_SCHEMAS:
        conn.execute(f"drop schema if exists {schema} cascade")
