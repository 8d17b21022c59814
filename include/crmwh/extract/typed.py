"""Typing and checking: the extracted rows as ``_typed``, each with why it cannot land.

``_typed`` holds a batch's rows with the contract's types, plus, for delivered
text, the text of every non-text value (``<column>:raw``), so a value that is
there but does not parse (bad) is told from one that is not there (missing).
Values are parsed with ``pg_input_is_valid`` (PostgreSQL 16+), so the rule is
exactly what the typed raw column accepts. Rows that fail a check get their
reasons, in column order, in ``_reason``.
"""

from __future__ import annotations

import psycopg

from crmwh.contracts import PG_TYPES, Column, Entity
from crmwh.extract.base import Extraction, row_hash_sql
from crmwh.extract.stage import Relation, stage
from crmwh.pgcopy import quote_ident


def raw_column(col: Column) -> str:
    """The column of ``_typed`` keeping a non-text value's delivered text."""
    return quote_ident(col.name + ":raw")


def _checks(col: Column, delivered: bool, non_null: frozenset[str]) -> list[tuple[str, str]]:
    """(condition, reason) pairs for one column of a typed row ``t``.

    With ``delivered``, ``t`` also has the delivered text of non-text columns: a
    value that is there but did not parse is bad, a blank one is missing. A
    column in ``non_null`` cannot be missing (the source guarantees it).
    """
    typed = f"t.{quote_ident(col.name)}"
    raw = f"t.{raw_column(col)}" if delivered and col.type != "text" else None
    out = []
    if col.required and col.name not in non_null:
        blank = f" and ({raw} is null or btrim({raw}) = '')" if raw else ""
        out.append((f"{typed} is null{blank}", f"missing {col.name}"))
    odd = [f"{typed} is null and btrim({raw}) <> ''"] if raw else []
    if col.type == "numeric":
        odd.append(f"{typed} = 'NaN'")
    elif col.type in ("timestamptz", "date"):
        odd.append(f"not isfinite({typed})")
    if odd:
        out.append((" or ".join(f"({o})" for o in odd), f"bad {col.type} in {col.name}"))
    if col.min_value is not None:
        out.append((f"{typed} < {col.min_value!r}", f"{col.name} below {col.min_value:g}"))
    return out


def checks(entity: Entity, delivered: bool, non_null: frozenset[str]) -> list[tuple[str, str]]:
    """Every (condition, reason) for a row ``t`` of ``entity``, in column order."""
    return [c for col in entity.columns for c in _checks(col, delivered, non_null)]


def failing_sql(conditions: list[tuple[str, str]]) -> str:
    """SQL true for a row that cannot land (cheap: no reason text is built)."""
    return " or ".join(f"({c})" for c, _ in conditions) or "false"


def reason_sql(conditions: list[tuple[str, str]]) -> str:
    """SQL giving why a row cannot land (NULL when it can)."""
    parts = ", ".join(f"case when {c} then '{why}' end" for c, why in conditions)
    return f"nullif(concat_ws('; ', {parts}), '')" if parts else "null::text"


def payload_sql(entity: Entity) -> str:
    """A row ``t`` of ``_typed`` as delivered: the text where there is one, else the value."""
    pairs = ", ".join(
        f"'{c.name}', t.{quote_ident(c.name)}" if c.type == "text" else
        f"'{c.name}', coalesce(to_jsonb(t.{raw_column(c)}), to_jsonb(t.{quote_ident(c.name)}))"
        for c in entity.columns)
    return f"jsonb_build_object({pairs}, '_extra', t._extra)"


def hash_sql(entity: Entity) -> str:
    """The row hash of a row ``t`` of ``_typed`` (the one a typed source brought, else
    computed here)."""
    values = [f"t.{quote_ident(c)}" for c in entity.column_names]
    return f"coalesce(t._row_hash, {row_hash_sql(values, 't._extra')})"


def _type_rows(cur: psycopg.Cursor, entity: Entity, rel: Relation) -> int:
    """Type staged text rows into ``_typed``; a value that does not parse is NULL there.

    Empty text is NULL; text values are kept as delivered.
    """
    typed, raw = [], []
    for c in entity.columns:
        value, pg = rel.values[c.name], PG_TYPES[c.type]
        if c.type == "text":
            typed.append(f"nullif({value}, '')")
        else:
            typed.append(f"case when pg_input_is_valid({value}, '{pg}') then ({value})::{pg} end")
            raw.append(f"nullif({value}, '')")
    names = [quote_ident(c) for c in entity.column_names]
    names += [raw_column(c) for c in entity.columns if c.type != "text"]
    cur.execute(f"""
        insert into _typed ({', '.join(names)}, _extra, _source_ref)
        select {', '.join(typed + raw)}, {rel.extra}, {rel.ref} from {rel.source}""")
    return cur.rowcount


def fill_typed(cur: psycopg.Cursor, entity: Entity, extraction: Extraction) -> int:
    """Stage and type the extraction's rows into ``_typed``, each with its reason not to
    land, if any; return the rows (the extraction's rejects not counted)."""
    typed = ", ".join(f"{quote_ident(c.name)} {PG_TYPES[c.type]}" for c in entity.columns)
    raw = "".join(f", {raw_column(c)} text" for c in entity.columns if c.type != "text")
    cur.execute("create temp sequence if not exists _ord_seq")  # outlives the batch
    cur.execute(f"create temp table _typed ({typed}{raw}, _extra jsonb, _source_ref text, "
                "_row_hash text, _reason text, _ord bigint default nextval('_ord_seq')) "
                "on commit drop")
    if extraction.typed is None:
        rows = sum(_type_rows(cur, entity, rel) for rel in stage(cur, entity, extraction))
    else:
        rows = extraction.typed(cur, "_typed", [*entity.column_names, "_extra", "_source_ref",
                                                "_row_hash"], {})
    conditions = checks(entity, True, extraction.non_null)
    cur.execute(f"update _typed t set _reason = {reason_sql(conditions)} "
                f"where {failing_sql(conditions)}")
    return rows
