"""Tables the model fits write: ``ml.clv_predictions``, ``ml.churn_scores`` and
``audit.model_runs``.

Plain DDL without NumPy or pandas, so :func:`crmwh.warehouse.ensure_schemas` creates them on
every warehouse: dbt declares them as sources and the marts join them even before the first
fit (a fresh warehouse builds with NULL predictions and an empty churn risk mart).
"""

from __future__ import annotations

import psycopg

from crmwh.warehouse import audit, ddl

PREDICTIONS = "ml.clv_predictions"
SCORES = "ml.churn_scores"
CLV_DDL_LOCK = 727_101  # advisory lock keys for the DDL below
CHURN_DDL_LOCK = 727_106

CLV_DDL = (
    "create schema if not exists ml",
    "create schema if not exists audit",
    """create table if not exists ml.clv_predictions (
        as_of_date date not null,
        customer_key text not null,
        model_run_id text not null,
        frequency integer not null,
        recency_days numeric not null,
        tenure_days numeric not null,
        avg_margin numeric,
        p_alive double precision,
        expected_purchases_90d double precision,
        expected_purchases_365d double precision,
        expected_avg_margin double precision,
        expected_margin_365d double precision,
        clv_predicted double precision,
        primary key (as_of_date, customer_key)
    )""",
    """comment on table ml.clv_predictions is
        'Predictive CLV per customer and as-of date: BG/NBD + Gamma-Gamma, time unit days '
        '(crmwh.clv, benchmarks/clv.md)'""",
    """comment on column ml.clv_predictions.frequency is
        'repeat purchase days (distinct purchase days - 1) up to as_of_date'""",
    """comment on column ml.clv_predictions.recency_days is
        'BG/NBD t_x: days from the first to the last purchase day (not days since last)'""",
    """comment on column ml.clv_predictions.tenure_days is
        'BG/NBD T: days from the first purchase day to as_of_date'""",
    """comment on column ml.clv_predictions.avg_margin is
        'mean gross margin of the repeat purchase days (null without repeats)'""",
    """comment on column ml.clv_predictions.clv_predicted is
        'expected margin over the horizon, discounted monthly at the annual rate'""",
    *audit.MODEL_RUNS_DDL,
)

# the columns of ml.churn_scores after (as_of_date, model_run_id), in table order
CHURN_SCORE_COLUMNS: tuple[tuple[str, str], ...] = (
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
    ("repeat_purchases", "integer"),
    ("p_no_purchase", "double precision"),
    ("expected_purchases", "double precision"),
    ("contract_end_date", "date"),
    ("p_contract_lapse", "double precision"),
    ("scored_by", "text"),
)
# columns added after the table's first release (existing warehouses get them on next start)
CHURN_ADDED = ("repeat_purchases", "p_no_purchase", "expected_purchases", "contract_end_date",
               "p_contract_lapse", "scored_by")

CHURN_DDL = (
    "create schema if not exists ml",
    f"""create table if not exists {SCORES} (
        as_of_date date not null,
        model_run_id text not null,
        {", ".join(f"{name} {kind}" for name, kind in CHURN_SCORE_COLUMNS)},
        primary key (as_of_date, customer_key)
    )""",
    f"""comment on table {SCORES} is
        'Churn risk per customer active on as_of_date: P(relationship ends within 90 days) '
        'from the model the fit chose (crmwh.churn, docs/churn_model.md), top three '
        'DOMAIN §4 warning signals as reasons, and the raw signal values'""",
    *(f"alter table {SCORES} add column if not exists {name} {kind}"
      for name, kind in CHURN_SCORE_COLUMNS if name in CHURN_ADDED),
    f"comment on column {SCORES}.reason_1_push is "
    "'the reason''s push on the log-odds against the average customer'",
    f"comment on column {SCORES}.p_alive is "
    "'BG/NBD P(alive); null for one-time buyers (the model cannot tell) and without orders'",
    f"comment on column {SCORES}.p_no_purchase is "
    "'BG/NBD P(no purchase in the next churn_purchase_horizon_days days)'",
    f"comment on column {SCORES}.scored_by is "
    "'the model whose score this is (churn_gbm, churn_logistic or a baseline)'",
)


def _run(conn: psycopg.Connection, lock: int, statements: tuple[str, ...]) -> None:
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (lock,))
        for statement in statements:
            ddl.execute(conn, statement)


def ensure_clv_tables(conn: psycopg.Connection) -> None:
    """Schema ``ml``, ``ml.clv_predictions`` and ``audit.model_runs`` if missing."""
    _run(conn, CLV_DDL_LOCK, CLV_DDL)


def ensure_tables(conn: psycopg.Connection) -> None:
    """Every table the fits write: the CLV ones, then ``ml.churn_scores``."""
    ensure_clv_tables(conn)
    _run(conn, CHURN_DDL_LOCK, CHURN_DDL)
