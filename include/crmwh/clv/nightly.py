"""The nightly CLV task: fit both models on ``core.fct_orders`` up to the as-of date,
write per-customer predictions to ``ml.clv_predictions`` and one row per model to
``audit.model_runs``.

Rerunning an as-of date replaces that date's predictions (delete + COPY in one
transaction); other dates are untouched. ``audit.model_runs`` keeps one row per
(run, model); the model run id is ``<as_of_date>/<run_id>/<model>``, so a rerun with
the same Airflow run id overwrites its rows and a new run id adds rows. Predictions
carry the BG/NBD model run id; the Gamma-Gamma row of the same fit has the same
``run_id`` and ``as_of_date``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import date
from typing import Any

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from crmwh.clv import bgnbd, gamma_gamma, pgbinary
from crmwh.clv.optim import FitResult
from crmwh.clv.score import PREDICTION_COLUMNS, score
from crmwh.clv.summary import summarise_orders
from crmwh.errors import CrmwhError, InsufficientData
from crmwh.modelling.model_runs import UPSERT, json_safe, model_run_id
from crmwh.modelling.orders import read_orders
from crmwh.warehouse.ml import PREDICTIONS, ensure_clv_tables

__all__ = ["record_skipped", "run"]

log = logging.getLogger(__name__)

MIN_REPEAT_BUYERS = 20

SCRATCH_DDL = """
    create temporary table clv_scratch (
        frequency integer,
        recency_days double precision,
        tenure_days double precision,
        avg_margin double precision,
        p_alive double precision,
        expected_purchases_90d double precision,
        expected_purchases_365d double precision,
        expected_avg_margin double precision,
        expected_margin_365d double precision,
        clv_predicted double precision,
        customer_key text
    ) on commit drop"""

INSERT_FROM_SCRATCH = f"""
    insert into {PREDICTIONS} (as_of_date, customer_key, model_run_id, frequency,
        recency_days, tenure_days, avg_margin, p_alive, expected_purchases_90d,
        expected_purchases_365d, expected_avg_margin, expected_margin_365d, clv_predicted)
    select %(as_of_date)s, customer_key, %(model_run_id)s, frequency,
        recency_days::numeric, tenure_days::numeric, nullif(avg_margin, 'NaN')::numeric,
        p_alive, expected_purchases_90d, expected_purchases_365d, expected_avg_margin,
        expected_margin_365d, clv_predicted
    from clv_scratch"""


def run(
    conn: psycopg.Connection,
    as_of_date: date,
    run_id: str,
    *,
    horizon_years: float = 3.0,
    annual_discount: float = 0.10,
) -> dict[str, Any]:
    """Fit, score and write one as-of date. Returns a summary of the run.

    Raises ``InsufficientData`` when fewer than ``MIN_REPEAT_BUYERS`` customers have a repeat
    purchase with a positive mean margin (nothing is written then). Each step runs in
    its own ``conn.transaction()``: committed at once on an autocommit or idle
    connection, or left to the caller's transaction when one is open.
    """
    began = time.perf_counter()
    ensure_clv_tables(conn)

    t0 = time.perf_counter()
    keys, customers = summarise_orders(read_orders(conn, as_of_date), as_of_date)
    read_seconds = time.perf_counter() - t0

    x = customers.frequency.astype(np.float64)
    t_x, T, m = customers.recency, customers.T, customers.avg_margin
    n_usable = int(gamma_gamma.usable(x, m).sum())
    if n_usable < MIN_REPEAT_BUYERS:
        raise InsufficientData(
            f"too few repeat buyers to fit the CLV models as of {as_of_date}: {n_usable} "
            f"customers of {len(keys)} have a repeat purchase with a positive margin, "
            f"at least {MIN_REPEAT_BUYERS} are needed",
            "load more order history into core.fct_orders (or pick a later as-of date)",
        )

    bg, gg = _fit_both(as_of_date, x, t_x, T, m)
    scored = score(bg.params, gg.params, x, t_x, T, m,
                   horizon_years=horizon_years, annual_discount=annual_discount)
    bg_id = model_run_id(as_of_date, run_id, "bgnbd")
    gg_id = model_run_id(as_of_date, run_id, "gamma_gamma")

    settings = {"horizon_years": horizon_years, "annual_discount": annual_discount,
                "time_unit": "day", "discounting": "monthly steps of 365/12 days"}
    x_m_corr = _corr(x, m, gamma_gamma.usable(x, m))
    runs = [
        _model_run_row(bg_id, run_id, "bgnbd", as_of_date, bg,
                       scored.seconds["bgnbd"] + scored.seconds["clv"],
                       {**settings, "expected_purchases_365d_total":
                        float(scored.columns["expected_purchases_365d"].sum()),
                        "p_alive_mean": float(scored.columns["p_alive"].mean())}),
        _model_run_row(gg_id, run_id, "gamma_gamma", as_of_date, gg,
                       scored.seconds["gamma_gamma"],
                       {**settings, "population_mean_margin":
                        gamma_gamma.population_mean(gg.params),
                        "corr_frequency_avg_margin": x_m_corr,
                        "customers_scored_with_nonpositive_margin":
                        int(((x >= 1) & np.isfinite(m) & (m <= 0)).sum())}),
    ]

    t0 = time.perf_counter()
    floats = [t_x, T, m, *(scored.columns[c] for c in PREDICTION_COLUMNS)]
    written = _write(conn, as_of_date, bg_id, pgbinary.rows([customers.frequency], floats, keys),
                     runs)
    write_seconds = time.perf_counter() - t0

    return {
        "as_of_date": as_of_date.isoformat(),
        "run_id": run_id,
        "n_customers": len(keys),
        "rows_written": written,
        "bgnbd": _fit_summary(bg_id, bg, scored.seconds["bgnbd"] + scored.seconds["clv"]),
        "gamma_gamma": _fit_summary(gg_id, gg, scored.seconds["gamma_gamma"]),
        "read_seconds": read_seconds,
        "write_seconds": write_seconds,
        "total_seconds": time.perf_counter() - began,
    }


def _fit_both(as_of_date: date, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, m: np.ndarray
              ) -> tuple[FitResult, FitResult]:
    """BG/NBD and Gamma-Gamma fitted; non-finite parameters are an error, no convergence a
    warning."""
    bg = bgnbd.fit(x, t_x, T)
    gg = gamma_gamma.fit(x, m)
    for name, fitted in (("BG/NBD", bg), ("Gamma-Gamma", gg)):
        if not all(np.isfinite(v) for v in fitted.params):
            raise CrmwhError(f"the {name} fit as of {as_of_date} gave non-finite parameters "
                             f"({fitted.message})", "inspect the order history for outliers")
        if not fitted.converged:
            log.warning("%s fit as of %s did not converge: %s", name, as_of_date, fitted.message)
    return bg, gg


def _write(conn: psycopg.Connection, as_of_date: date, predictions_run_id: str,
           rows: Iterable[bytes], runs: list[dict[str, Any]]) -> int:
    """Replace the as-of date's predictions with ``rows`` (binary COPY) and upsert the model
    runs, in one transaction; returns the predictions written."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("drop table if exists pg_temp.clv_scratch")
        cur.execute(SCRATCH_DDL)
        with cur.copy("copy clv_scratch from stdin (format binary)") as copy:
            for chunk in rows:
                copy.write(chunk)
        cur.execute(f"delete from {PREDICTIONS} where as_of_date = %s", (as_of_date,))
        cur.execute(INSERT_FROM_SCRATCH, {"as_of_date": as_of_date,
                                        "model_run_id": predictions_run_id})
        written = cur.rowcount
        # statistics now: the marts read this date's rows next, before autovacuum would
        cur.execute(f"analyze {PREDICTIONS}")
        for row in runs:
            cur.execute(UPSERT, row)
    return written


def record_skipped(conn: psycopg.Connection, as_of_date: date, run_id: str,
                   reason: str) -> list[str]:
    """Record both models as skipped for ``as_of_date`` and drop that date's predictions,
    so the marts build with NULL predictions instead of stale ones. Returns the run ids."""
    ensure_clv_tables(conn)
    ids = []
    with conn.transaction():
        conn.execute(f"delete from {PREDICTIONS} where as_of_date = %s", (as_of_date,))
        for model in ("bgnbd", "gamma_gamma"):
            row_id = model_run_id(as_of_date, run_id, model)
            conn.execute(UPSERT, {
                "model_run_id": row_id, "run_id": run_id, "model": model,
                "as_of_date": as_of_date, "n_customers": None, "params": None,
                "log_likelihood": None, "converged": None, "iterations": None,
                "fit_seconds": None, "score_seconds": None,
                "metrics": Jsonb({"skipped_reason": reason}), "status": "skipped"})
            ids.append(row_id)
    return ids


def _corr(x: np.ndarray, m: np.ndarray, keep: np.ndarray) -> float | None:
    if keep.sum() < 3:
        return None
    value = float(np.corrcoef(x[keep], m[keep])[0, 1])
    return value if np.isfinite(value) else None


def _model_run_row(
    model_run_id: str, run_id: str, model: str, as_of_date: date, fitted: FitResult,
    score_seconds: float, extra: dict[str, Any],
) -> dict[str, Any]:
    return {
        "model_run_id": model_run_id,
        "run_id": run_id,
        "model": model,
        "as_of_date": as_of_date,
        "n_customers": fitted.n_customers,
        "params": Jsonb(json_safe(fitted.params_dict())),
        "log_likelihood": fitted.log_likelihood,
        "converged": fitted.converged,
        "iterations": fitted.iterations,
        "fit_seconds": fitted.fit_seconds,
        "score_seconds": score_seconds,
        "metrics": Jsonb(json_safe({**fitted.metrics(), **extra})),
        "status": "fitted",
    }


def _fit_summary(model_run_id: str, fitted: FitResult, score_seconds: float) -> dict[str, Any]:
    return {
        "model_run_id": model_run_id,
        "params": fitted.params_dict(),
        "log_likelihood": fitted.log_likelihood,
        "n_customers": fitted.n_customers,
        "converged": fitted.converged,
        "iterations": fitted.iterations,
        "fit_seconds": fitted.fit_seconds,
        "score_seconds": score_seconds,
    }
