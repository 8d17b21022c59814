"""Bulk loading with COPY: the fast path for every write of many rows."""

from __future__ import annotations

import io
import struct

import pandas as pd
import psycopg
from psycopg import pq

NULL = r"\N"
BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
CHUNK = 1 << 20  # bytes per write into a COPY FROM


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def copy_frame(
    cur: psycopg.Cursor, table: str, frame: pd.DataFrame, chunk_rows: int = 200_000
) -> int:
    """COPY a DataFrame into ``table`` (columns by name) as CSV; NaN/None/NaT become NULL."""
    if frame.empty:
        return 0
    cols = ", ".join(f'"{c}"' for c in frame.columns)
    sql = f"copy {table} ({cols}) from stdin with (format csv, null '{NULL}')"
    with cur.copy(sql) as copy:
        for begin in range(0, len(frame), chunk_rows):
            buf = io.StringIO()
            frame.iloc[begin : begin + chunk_rows].to_csv(
                buf, header=False, index=False, na_rep=NULL, date_format="%Y-%m-%dT%H:%M:%S%z"
            )
            copy.write(buf.getvalue())
    return len(frame)


def binary_rows(values: list[bytes]) -> bytes:
    """A binary COPY stream of one-column rows holding ``values`` (text): no byte of
    the values needs scanning for delimiters or quotes."""
    rows = b"".join(struct.pack("!hi", 1, len(v)) + v for v in values)
    return BINARY_HEADER + rows + struct.pack("!h", -1)


def copy_bytes(cur: psycopg.Cursor, sql: str, body: bytes) -> int:
    """Run a ``COPY ... FROM STDIN`` fed with ``body``; return the rows copied."""
    with cur.copy(sql) as copy:
        for begin in range(0, len(body), CHUNK):
            copy.write(body[begin : begin + CHUNK])
    return cur.rowcount


def _expect(pgconn: pq.abc.PGconn, status: pq.ExecStatus) -> None:
    """The next result of ``pgconn`` has ``status``, else it becomes the error raised
    (the connection is left idle either way, unless the COPY goes on)."""
    result = pgconn.get_result()
    if result is not None and result.status == status == pq.ExecStatus.COPY_OUT:
        return
    while pgconn.get_result() is not None:
        pass
    if result is not None and result.status == status:
        return
    message = result.error_message.decode(errors="replace") if result else "no result"
    code = result.error_field(pq.DiagnosticField.SQLSTATE) if result else None
    raise (psycopg.errors.lookup(code.decode()) if code else psycopg.OperationalError)(message)


def pipe(source: psycopg.Connection, copy_out: str, cur: psycopg.Cursor, copy_in: str) -> int:
    """Stream ``COPY ... TO STDOUT`` on ``source`` into ``COPY ... FROM STDIN`` on ``cur``.

    ``source`` is an idle connection of the caller's own. The source sends one
    message per row: they are read straight from libpq (the per-row cost in
    Python is what limits the stream) and gathered into large writes, so both
    servers work at once while Python only moves bytes. Returns the rows copied.
    """
    pgconn = source.pgconn
    with cur.copy(copy_in) as into:
        pgconn.send_query(copy_out.encode())
        _expect(pgconn, pq.ExecStatus.COPY_OUT)
        get, buf = pgconn.get_copy_data, bytearray()
        while (got := get(0))[0] > 0:
            buf += got[1]
            if len(buf) >= CHUNK:
                into.write(buf)
                buf = bytearray()
        if buf:
            into.write(buf)
        _expect(pgconn, pq.ExecStatus.COMMAND_OK)
    return cur.rowcount
