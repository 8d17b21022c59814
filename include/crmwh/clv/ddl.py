"""Tables the CLV fit writes: ``ml.clv_predictions`` and ``audit.model_runs``.

Plain DDL without NumPy or pandas, so ``crmwh.database.ensure_schemas`` can create them
on every warehouse: dbt declares both as sources and the marts join them even before the
first fit (a fresh warehouse builds with NULL predictions).
"""

from __future__ import annotations

import psycopg

PREDICTIONS = "ml.clv_predictions"
MODEL_RUNS = "audit.model_runs"
DDL_LOCK = 727_101  # advisory lock key for the DDL below

DDL = (
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
    """create table if not exists audit.model_runs (
        model_run_id text primary key,
        run_id text,
        model text not null,
        as_of_date date not null,
        n_customers integer,
        params jsonb,
        log_likelihood double precision,
        converged boolean,
        iterations integer,
        fit_seconds double precision,
        score_seconds double precision,
        metrics jsonb,
        created_at timestamptz not null default now()
    )""",
    # fitted | skipped (too few repeat buyers: the marts build with NULL predictions)
    "alter table audit.model_runs add column if not exists status text not null default 'fitted'",
    "create index if not exists model_runs_as_of_idx on audit.model_runs (as_of_date, model)",
)



def ensure_tables(conn: psycopg.Connection) -> None:
    """Create schema ``ml``, ``ml.clv_predictions`` and ``audit.model_runs`` if missing."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (DDL_LOCK,))
        for statement in DDL:
            conn.execute(statement)
