"""The table the churn fit writes, ``ml.churn_scores`` (``audit.model_runs`` comes from the
CLV engine's DDL, crmwh.clv.ddl).

Plain DDL without NumPy or pandas, so ``crmwh.database.ensure_schemas`` creates it on every
warehouse: dbt declares it as a source and mart_customer_churn_risk builds (empty) even
before the first fit.
"""

from __future__ import annotations

import psycopg

from crmwh.clv import ddl as clv_ddl

SCORES = "ml.churn_scores"
DDL_LOCK = 727_106  # advisory lock key for the DDL below

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
    clv_ddl.ensure_tables(conn)
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (DDL_LOCK,))
        for statement in DDL:
            conn.execute(statement)
