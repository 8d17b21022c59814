"""``ml.churn_scores`` and the churn rows of ``audit.model_runs`` (the CLV engine's table and
upsert, crmwh.clv.nightly, are reused)."""

from __future__ import annotations

import io
from datetime import date

import pandas as pd
import psycopg

from crmwh.clv import nightly as clv_nightly

SCORES = "ml.churn_scores"
MODEL_RUNS_UPSERT = clv_nightly.UPSERT_MODEL_RUN
model_run_id = clv_nightly.model_run_id
DDL_LOCK = 727_106

COLUMNS: tuple[tuple[str, str], ...] = (
    ("customer_key", "text not null"),
    ("score", "double precision not null"),
    ("reason_1", "text"),
    ("reason_2", "text"),
    ("reason_3", "text"),
    ("reason_1_push", "double precision"),
    ("reason_2_push", "double precision"),
    ("reason_3_push", "double precision"),
    ("first_active_date", "date"),
    ("last_order_date", "date"),
    ("has_contract", "boolean"),
    ("contract_ends_90d", "boolean"),
    ("orders_90d", "integer"),
    ("orders_prev_90d", "integer"),
    ("orders_365d", "integer"),
    ("promo_365d", "integer"),
    ("complaints_90d", "integer"),
    ("sla_missed_90d", "integer"),
    ("rep_left", "boolean"),
    ("overdue_amount", "double precision"),
    ("overdue_over_30", "boolean"),
    ("satisfaction_c", "double precision"),
    ("p_alive", "double precision"),
)

DDL = (
    "create schema if not exists ml",
    f"""create table if not exists {SCORES} (
        as_of_date date not null,
        model_run_id text not null,
        {", ".join(f"{name} {kind}" for name, kind in COLUMNS)},
        primary key (as_of_date, customer_key)
    )""",
    f"""comment on table {SCORES} is
        'Churn risk per customer active on as_of_date: P(relationship ends within 90 days) '
        'from a regularised logistic regression (crmwh.churn, docs/churn_model.md), top three '
        'DOMAIN §4 warning signals as reasons, and the raw signal values'""",
    f"comment on column {SCORES}.reason_1_push is "
    "'the reason''s push on the log-odds against the average customer'",
)


def ensure_tables(conn: psycopg.Connection) -> None:
    """``ml.churn_scores`` plus ``audit.model_runs`` (created by the CLV engine's DDL)."""
    clv_nightly.ensure_tables(conn)
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (DDL_LOCK,))
        for statement in DDL:
            conn.execute(statement)


def write_scores(conn: psycopg.Connection, as_of: date, run_model_id: str,
                 frame: pd.DataFrame) -> int:
    """Replace the as-of date's scores with ``frame`` (one transaction). Returns rows written."""
    names = [name for name, _ in COLUMNS]
    out = frame[names].copy()
    for name, kind in COLUMNS:
        if kind.startswith("integer"):
            out[name] = out[name].astype("Int64")
    buf = io.StringIO()
    out.to_csv(buf, index=False, header=False, na_rep="")
    data = buf.getvalue().encode()
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(f"delete from {SCORES} where as_of_date = %s", (as_of,))
        cur.execute("create temporary table churn_stage (like ml.churn_scores) on commit drop")
        cur.execute("alter table churn_stage drop column as_of_date, drop column model_run_id")
        with cur.copy(f"copy churn_stage ({', '.join(names)}) from stdin (format csv)") as copy:
            copy.write(data)
        cur.execute(f"insert into {SCORES} (as_of_date, model_run_id, {', '.join(names)}) "
                    f"select %s, %s, {', '.join(names)} from churn_stage", (as_of, run_model_id))
        return cur.rowcount
