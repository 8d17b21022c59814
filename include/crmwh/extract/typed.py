"""Typing and checking: the extracted rows as ``_typed``, each with why it cannot land.

``_typed`` holds a batch's rows with the entity's types, plus, for delivered
text, the text of every non-text value (``<column>:raw``), so a value that is
there but does not parse (bad) is told from one that is not there (missing).
Values are parsed with ``pg_input_is_valid`` (PostgreSQL 16+), so the rule is
exactly what the typed raw column accepts. Rows that fail a check get their
reasons, in column order, in ``_reason``.
"""

from __future__ import annotations

import re
from dataclasses import replace

import psycopg

from crmwh.errors import CrmwhError
from crmwh.extract.base import CsvPart, Extraction
from crmwh.extract.scratch import ScratchRows, fill_scratch
from crmwh.pgcopy import copy_bytes, quote_ident, quote_literal
from crmwh.source_entities import PG_TYPES, Column, Entity, row_hash_sql


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


def _type_rows(cur: psycopg.Cursor, entity: Entity, rel: ScratchRows) -> int:
    """Type text rows held in scratch into ``_typed``; a value that does not parse is NULL there.

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


ON_ERROR = 170000  # COPY ... (ON_ERROR ignore, LOG_VERBOSITY verbose): PostgreSQL 17+
SKIPPED = re.compile(r"skipping row due to data type incompatibility at line (\d+) ")


def _copy_csv_typed(cur: psycopg.Cursor, entity: Entity, parts: list[CsvPart],
                    extra: list[str]) -> tuple[int, list[CsvPart]]:
    """COPY plain CSV parts straight into the typed columns of ``_typed``.

    ``ON_ERROR ignore`` skips a record with a value its column's type does not
    accept, and ``LOG_VERBOSITY verbose`` names its line in a notice: those
    records come back as parts of their own, to be copied as text and typed with
    their reasons. Values are parsed once, by the same input functions the text
    path's ``pg_input_is_valid`` uses, under the same session settings.
    """
    known = set(entity.column_names)
    skipped: list[int] = []

    def notice(diag: psycopg.errors.Diagnostic) -> None:
        found = SKIPPED.match(diag.message_primary or "")
        if found:
            skipped.append(int(found[1]))

    rows, failing = 0, []
    conn = cur.connection
    conn.add_notice_handler(notice)
    try:
        for part in parts:
            cols = ", ".join(quote_ident(h) if h in known else quote_ident("+" + h)
                             for h in part.header)
            cur.execute("select set_config('crmwh.source_ref', %s, true)", (part.ref,))
            skipped.clear()
            copied = copy_bytes(cur, f"copy _typed ({cols}) from stdin (format csv, "
                                f"force_null ({cols}), on_error ignore, "
                                "log_verbosity verbose)", part.body)
            if copied + len(skipped) != part.rows:
                raise CrmwhError(f"the typed copy took {copied} rows and skipped {len(skipped)} "
                                 f"where {part.rows} were delivered in {part.ref}",
                                 "report this: a delivered file was read differently")
            rows += copied
            if skipped:
                lines = part.body.split(b"\n")
                body = b"".join(lines[n - 1] + b"\n" for n in sorted(skipped))
                failing.append(CsvPart(part.ref, part.header, body, len(skipped)))
    finally:
        conn.remove_notice_handler(notice)
    if extra:
        pairs = ", ".join(f"{quote_literal(c)}, t.{quote_ident('+' + c)}" for c in extra)
        given = ", ".join(f"t.{quote_ident('+' + c)}" for c in extra)
        cur.execute(f"update _typed t set _extra = jsonb_strip_nulls(jsonb_build_object({pairs})) "
                    f"where num_nonnulls({given}) > 0")
    return rows, failing


def fill_typed(cur: psycopg.Cursor, entity: Entity, extraction: Extraction) -> int:
    """Copy and type the extraction's rows into ``_typed``, each with its reason not to
    land, if any; return the rows (the extraction's rejects not counted)."""
    typed = ", ".join(f"{quote_ident(c.name)} {PG_TYPES[c.type]}" for c in entity.columns)
    raw = "".join(f", {raw_column(c)} text" for c in entity.columns if c.type != "text")
    # plain CSV is copied typed; only its failing records take the text path
    fast = [p for p in extraction.csv if p.plain and p.rows] \
        if extraction.typed is None and cur.connection.info.server_version >= ON_ERROR else []
    extra = list(dict.fromkeys(h for p in fast for h in p.header
                               if h not in entity.column_names))
    added = "".join(f", {quote_ident('+' + c)} text" for c in extra)
    cur.execute("create temp sequence if not exists _ord_seq")  # outlives the batch
    cur.execute(f"create temp table _typed ({typed}{raw}, _extra jsonb, "
                f"_source_ref text default current_setting('crmwh.source_ref', true), "
                f"_row_hash bytea, _reason text, _ord bigint default nextval('_ord_seq'){added}) "
                "on commit drop")
    if extraction.typed is None:
        rows, failing = _copy_csv_typed(cur, entity, fast, extra) if fast else (0, [])
        copied = {id(p) for p in fast}
        rest = replace(extraction, csv=[p for p in extraction.csv if id(p) not in copied] + failing)
        headers = frozenset(h for p in fast for h in p.header)
        held = fill_scratch(cur, entity, rest, headers)
        rows += sum(_type_rows(cur, entity, rel) for rel in held)
    else:
        rows = extraction.typed(cur, "_typed", [*entity.column_names, "_extra", "_source_ref",
                                                "_row_hash"], {})
    conditions = checks(entity, True, extraction.non_null)
    cur.execute(f"update _typed t set _reason = {reason_sql(conditions)} "
                f"where {failing_sql(conditions)}")
    return rows
