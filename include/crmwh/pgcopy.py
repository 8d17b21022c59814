"""Bulk loading with COPY: the fast path for every write of many rows."""

from __future__ import annotations

import io

import pandas as pd
import psycopg

NULL = r"\N"


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
