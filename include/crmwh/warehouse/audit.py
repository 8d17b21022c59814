"""Audit tables in schema ``audit``: landed batches, billing files, nightly runs, the sources
present for each run, data-quality results and model runs.

``audit.dq_results`` holds one row per data-quality check, written by the Great Expectations
gate (crmwh.quality.gate) and by dbt's on-run-end hook (dbt_project/macros/dq_results.sql).
"""

from __future__ import annotations

import psycopg

from crmwh.warehouse import ddl

MODEL_RUNS = "audit.model_runs"

DDL = (
    """create table if not exists audit.load_batches (
        batch_id text primary key,
        run_id text,
        source text not null,
        entity text not null,
        as_of_date date,
        status text not null,
        rows_extracted bigint not null default 0,
        rows_loaded bigint not null default 0,
        rows_unchanged bigint not null default 0,
        rows_quarantined bigint not null default 0,
        watermark_before text,
        watermark_after text,
        source_refs text[],
        started_at timestamptz not null default now(),
        finished_at timestamptz,
        duration_s double precision,
        error text
    )""",
    """create table if not exists audit.billing_files (
        file_name text not null,
        sha256 text not null,
        drop_date date not null,
        entity text not null,
        batch_id text not null,
        rows bigint not null,
        loaded_at timestamptz not null default now(),
        primary key (file_name, sha256)
    )""",
    # billing files not consumed: held (checksum or row count against the manifest; the
    # batch fails its gate on them) or re-delivered (the same bytes as a loaded file)
    """create table if not exists audit.billing_deliveries (
        drop_date date not null,
        file_name text not null,
        sha256 text not null,
        entity text not null,
        batch_id text not null,
        outcome text not null,
        check_name text not null,
        detail text not null,
        seen_at timestamptz not null default now(),
        primary key (batch_id, drop_date, file_name, sha256)
    )""",
    """create table if not exists audit.run_summary (
        run_id text primary key,
        as_of_date date not null,
        finished_at timestamptz not null default now(),
        status text not null,
        batches integer not null,
        rows_extracted bigint not null,
        rows_loaded bigint not null,
        rows_quarantined bigint not null,
        mart_rows jsonb not null,
        details jsonb
    )""",
    # every summary ever written, failed runs' too: a rerun replaces its run's row in
    # audit.run_summary (Airflow reuses a date's run id), never a row here
    """create table if not exists audit.run_history (
        id bigserial primary key,
        run_id text not null,
        as_of_date date not null,
        status text not null,
        finished_at timestamptz not null default now(),
        failed_task text,
        error text,
        summary jsonb not null
    )""",
    # whether each source was present for a run, and why (an absent source is skipped)
    """create table if not exists audit.source_presence (
        run_id text not null,
        as_of_date date not null,
        source text not null,
        present boolean not null,
        reason text not null,
        checked_at timestamptz not null default now(),
        primary key (run_id, source)
    )""",
    # the sources absent from a run and the marts they leave partial
    "alter table audit.run_summary add column if not exists absent_sources jsonb",
    "alter table audit.run_summary add column if not exists partial_marts jsonb",
    """create table if not exists audit.dq_results (
        id bigserial primary key,
        run_id text,
        batch_id text,
        checked_at timestamptz not null default now(),
        source text,
        entity text,
        check_name text,
        object_name text,
        severity text,
        status text,
        observed text,
        expected text,
        as_of_date date
    )""",
    "alter table audit.dq_results add column if not exists as_of_date date",
    # the check's Great Expectations page, relative to $CRM_HOME/data_docs (GX gate checks)
    "alter table audit.dq_results add column if not exists docs_page text",
    # rows of the batch waiting for their parent in quarantine.parked (crmwh.quality.parking)
    "alter table audit.load_batches add column if not exists rows_parked bigint not null default 0",
    "alter table audit.run_summary add column if not exists rows_parked bigint not null default 0",
    *(f"""do $$ begin
        if exists (select 1 from information_schema.columns where table_schema = 'audit'
                   and table_name = '{table}' and column_name = 'logical_date') then
            alter table audit.{table} rename column logical_date to as_of_date;
        end if;
    end $$""" for table in ("load_batches", "run_summary")),  # the as-of date's one name
    # each batch's gate state: pending (landed, not gated yet), passed, rejected; batches
    # landed before the gate state was kept had passed their gate (or were rejected)
    """do $$ begin
        if not exists (select 1 from information_schema.columns where table_schema = 'audit'
                       and table_name = 'load_batches' and column_name = 'gate_state') then
            alter table audit.load_batches add column gate_state text not null default 'passed';
            update audit.load_batches set gate_state = 'rejected' where status = 'rejected';
            alter table audit.load_batches alter column gate_state set default 'pending';
        end if;
    end $$""",
    "create index if not exists dq_results_batch_idx "
    "on audit.dq_results (source, entity, batch_id)",
)

# One row per model fit (CLV, churn, backtests); a dbt source of the marts.
MODEL_RUNS_DDL = (
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


def create_tables(conn: psycopg.Connection) -> None:
    """The audit tables but ``audit.model_runs`` (:mod:`crmwh.warehouse.ml` creates that one
    with the tables the fits write)."""
    for statement in DDL:
        ddl.execute(conn, statement)
