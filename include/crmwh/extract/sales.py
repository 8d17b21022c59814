"""Sales: incremental by ``updated_at`` watermark with a look-back window.

Rows committed late (an ``updated_at`` a little before the last watermark) are
caught by re-reading the look-back window; rows already landed unchanged are
recognised by their hash and not landed again.

Rows stream from the source's ``COPY TO`` straight into the loader's staging
table, without passing through Python objects. Columns the contract does not
know yet are folded into ``_extra`` by the source query itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from crmwh.contracts import Entity
from crmwh.errors import CrmwhError
from crmwh.extract.base import Extraction, empty_frame


def _connect(dsn: str) -> psycopg.Connection:
    try:
        conn = psycopg.connect(dsn, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise CrmwhError(
            f"cannot reach the sales database: {str(exc).strip().splitlines()[-1]}",
            "check CRM_SALES_DSN or run `crmwh generate` for the simulator",
        ) from None
    conn.execute("set timezone = 'UTC'")
    return conn


# source column types that can only hold values the contract type accepts
SAFE_TYPES = {
    "int": {"bigint", "integer", "smallint"},
    "bool": {"boolean"},
    "date": {"date"},
    "timestamptz": {"timestamp with time zone"},
}


def _select(conn: psycopg.Connection, entity: Entity, lower: datetime | None,
            until: datetime) -> tuple[str, frozenset[str]]:
    types = dict(conn.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = current_schema() and table_name = %s", (entity.name,)).fetchall())
    present = set(types)
    trusted = frozenset(c.name for c in entity.columns
                        if types.get(c.name) in SAFE_TYPES.get(c.type, ()))
    if not present:
        raise CrmwhError(
            f"the sales database has no table {entity.name!r}",
            "point CRM_SALES_DSN at the sales system or run `crmwh generate`",
        )
    missing = [c.name for c in entity.columns if c.required and c.name not in present]
    if missing:
        raise CrmwhError(
            f"the sales table {entity.name} lacks required column(s) {', '.join(missing)}",
            "the source's schema changed: update include/crmwh/contracts.py or fix the source",
        )
    picked = [f't."{c}"' if c in present else f'null::text as "{c}"' for c in entity.column_names]
    where = "t.updated_at < %(until)s" + (" and t.updated_at >= %(lower)s" if lower else "")
    sql = (f"select {', '.join(picked)}, "
           f"nullif(to_jsonb(t) - %(known)s::text[], '{{}}'::jsonb) as _extra, "
           f"%(ref)s as _source_ref from {entity.name} t where {where}")
    with psycopg.ClientCursor(conn) as cur:
        return cur.mogrify(sql, {"until": until, "lower": lower, "known": entity.column_names,
                                 "ref": f"sales:{entity.name}"}), trusted


def extract(dsn: str, entity: Entity, watermark: str | None, until: datetime,
            lookback: timedelta) -> Extraction:
    """Rows of ``entity`` with ``updated_at`` in [watermark - lookback, until)."""
    lower = datetime.fromisoformat(watermark) - lookback if watermark else None
    with _connect(dsn) as conn:
        query, trusted = _select(conn, entity, lower, until)
        # the watermark is read before the rows: a row committed meanwhile is re-read next
        # time (and recognised as unchanged), never skipped
        newest = conn.execute(f"select max(updated_at) from ({query}) q").fetchone()[0]
    after = watermark
    if newest is not None and (after is None or newest > datetime.fromisoformat(after)):
        after = newest.isoformat()

    def copy_into(cur: psycopg.Cursor, table: str, columns: list[str]) -> int:
        names = ", ".join(f'"{c}"' for c in columns)
        with _connect(dsn) as src, src.cursor() as scur:
            with scur.copy(f"copy ({query}) to stdout") as out, \
                    cur.copy(f"copy {table} ({names}) from stdin") as into:
                for block in out:
                    into.write(block)
        return cur.rowcount

    return Extraction(frame=empty_frame(), watermark_after=after, copy_into=copy_into,
                      source_ref=f"sales:{entity.name}", trusted_columns=trusted)
