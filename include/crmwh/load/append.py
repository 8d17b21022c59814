"""Appending the good rows of ``_typed`` to a raw table, with their row hash."""

from __future__ import annotations

import psycopg

from crmwh.extract.typed import hash_sql
from crmwh.pgcopy import quote_ident
from crmwh.source_entities import Entity

META = ("_batch_id", "_extracted_at", "_source_ref", "_row_hash")


def cols(entity: Entity, alias: str = "") -> str:
    return ", ".join(alias + quote_ident(c) for c in entity.column_names)


def _insert(entity: Entity, select: str) -> str:
    return (f"insert into {entity.qualified} ({cols(entity)}, _batch_id, _extracted_at, "
            f"_source_ref, _row_hash, _extra) {select}")


def append_all(cur: psycopg.Cursor, entity: Entity, meta: dict) -> int:
    """Append every good row (bulk: the table was empty and has no indexes)."""
    cur.execute(_insert(entity, f"""
        select {cols(entity)}, %(batch)s, now(), _source_ref,
               {hash_sql(entity)}, _extra
        from _typed t where _reason is null"""), meta)
    return cur.rowcount


def append_new(cur: psycopg.Cursor, entity: Entity, meta: dict) -> int:
    """Append the good rows raw does not have yet; return how many.

    The good rows are kept in ``_good``, numbered per row hash (``_rn``) and marked
    when raw already has them (``_seen``): second copies are quarantined from there
    (:func:`crmwh.load.quarantine.quarantine_good_copies`).
    """
    cur.execute(f"""
        create temp table _good on commit drop as
        select g.*, row_number() over (partition by g._row_hash order by g._ord) as _rn,
               exists (select 1 from {entity.qualified} r
                       where r._row_hash = g._row_hash) as _seen
        from (select {cols(entity, 't.')}, t._extra, t._source_ref, t._ord,
                     {hash_sql(entity)} as _row_hash
              from _typed t where t._reason is null) g""")
    cur.execute(_insert(entity, f"""
        select {cols(entity)}, %(batch)s, now(), _source_ref, _row_hash, _extra
        from _good where _rn = 1 and not _seen
        on conflict (_row_hash) do nothing"""), meta)
    return cur.rowcount
