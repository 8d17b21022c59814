"""Writes ``ml.churn_scores`` (the table: crmwh.warehouse.ml)."""

from __future__ import annotations

import io
from datetime import date

import pandas as pd
import psycopg

from crmwh.warehouse.ml import CHURN_SCORE_COLUMNS, SCORES


def write_scores(conn: psycopg.Connection, as_of_date: date, run_model_id: str,
                 frame: pd.DataFrame) -> int:
    """Replace the as-of date's scores with ``frame`` (one transaction). Returns rows written."""
    names = [name for name, _ in CHURN_SCORE_COLUMNS]
    out = frame[names].copy()
    for name, kind in CHURN_SCORE_COLUMNS:
        if kind.startswith("integer"):
            out[name] = out[name].astype("Int64")
    buf = io.StringIO()
    out.to_csv(buf, index=False, header=False, na_rep="")
    data = buf.getvalue().encode()
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(f"delete from {SCORES} where as_of_date = %s", (as_of_date,))
        cur.execute("create temporary table churn_scratch (like ml.churn_scores) on commit drop")
        cur.execute("alter table churn_scratch drop column as_of_date, drop column model_run_id")
        with cur.copy(f"copy churn_scratch ({', '.join(names)}) from stdin (format csv)") as copy:
            copy.write(data)
        cur.execute(f"insert into {SCORES} (as_of_date, model_run_id, {', '.join(names)}) "
                    f"select %s, %s, {', '.join(names)} from churn_scratch",
                    (as_of_date, run_model_id))
        written = cur.rowcount
        # statistics now: the marts read this date's rows next, before autovacuum would
        cur.execute(f"analyze {SCORES}")
        return written
