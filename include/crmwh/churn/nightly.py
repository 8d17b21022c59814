"""The nightly churn step: fit the candidates on the warehouse's history, score the active base
on the as-of date with the chosen one, write ``ml.churn_scores`` and one
``audit.model_runs`` row (model ``churn``: the chosen candidate, its parameters and every
candidate's out-of-fold figures). The candidate is the one the latest backtest
(``crmwh backtest-churn``, model ``churn_backtest``) picked against the real outcome (a
learned candidate only where it beats every baseline, else the best baseline); without a
backtest, the one that validates best out of fold on the warehouse's own labels.

Called from ``pipeline.fit_models`` after the CLV fit, between dbt_core and dbt_marts;
``marts.mart_customer_churn_risk`` reads the scores. Rerunning a date replaces its scores.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from crmwh.churn import backtest, store, train
from crmwh.churn.signals import FEATURE_NAMES, SIGNALS
from crmwh.modelling.model_runs import UPSERT, json_safe, model_run_id
from crmwh.warehouse import ml

LATEST_BACKTEST = """
    select run_id, as_of_date, metrics->'summary'->'scores' from audit.model_runs
    where model = 'churn_backtest' and status = 'fitted' and as_of_date <= %s
    order by as_of_date desc, created_at desc limit 1
"""


def backtest_choice(conn: psycopg.Connection, as_of_date: date) -> tuple[str | None, str]:
    """What the latest backtest up to ``as_of_date`` (``crmwh backtest-churn``) picked
    (:func:`backtest.pick`: the best learned candidate that beats every baseline, else the
    best baseline), and how; (None, "validation") without one."""
    row = conn.execute(LATEST_BACKTEST, (as_of_date,)).fetchone()
    if row is None or not row[2]:
        return None, "validation"
    name, reason = backtest.pick(row[2])
    return name, f"backtest {row[0]} up to {row[1].isoformat()}: {reason}"


def run(conn: psycopg.Connection, as_of_date: date, run_id: str, **fit_kwargs: Any) -> dict:
    began = time.perf_counter()
    ml.ensure_tables(conn)
    prefer, chosen_by = backtest_choice(conn, as_of_date)
    scored = train.fit_and_score(conn, as_of_date, prefer=prefer, **fit_kwargs)
    model = scored.model
    run_model_id = model_run_id(as_of_date, run_id, "churn")
    t = time.perf_counter()
    written = store.write_scores(conn, as_of_date, run_model_id, scored.frame)
    scored.seconds["write"] = time.perf_counter() - t
    reason_counts = scored.frame["reason_1"].value_counts().to_dict()
    logistic_fit = getattr(model, "converged", None)
    with conn.transaction():
        conn.execute(UPSERT, {
            "model_run_id": run_model_id, "run_id": run_id, "model": "churn",
            "as_of_date": as_of_date, "n_customers": written,
            "params": Jsonb(json_safe({"chosen": scored.chosen, "chosen_by": chosen_by,
                                       **model.params(),
                                       "l2": fit_kwargs.get("l2", train.L2),
                                       "features": list(FEATURE_NAMES)})),
            "log_likelihood": None, "converged": logistic_fit,
            "iterations": getattr(model, "iterations", None), "fit_seconds": scored.seconds["fit"],
            "score_seconds": scored.seconds["score"],
            "status": "fitted",
            "metrics": Jsonb(json_safe({
                "chosen": scored.chosen, "chosen_by": chosen_by,
                "validation": scored.validation,
                "training": scored.training,
                "train_positive_rate": model.positive_rate,
                "score_mean": float(scored.frame["score"].mean()) if written else None,
                "top_reason_counts": {k: int(v) for k, v in reason_counts.items()},
                "signals": list(SIGNALS), "seconds": scored.seconds})),
        })
    return {"as_of_date": as_of_date.isoformat(), "run_id": run_id,
            "model_run_id": run_model_id, "rows_written": written, "chosen": scored.chosen,
            "chosen_by": chosen_by,
            "training": scored.training, "converged": logistic_fit,
            "seconds": {**scored.seconds, "total": time.perf_counter() - began}}


def record_skipped(conn: psycopg.Connection, as_of_date: date, run_id: str,
                   reason: str) -> str:
    """Record the churn fit as skipped for ``as_of_date`` and drop that date's scores (the
    risk mart is then empty for the date rather than stale). Returns the model run id."""
    ml.ensure_tables(conn)
    row_id = model_run_id(as_of_date, run_id, "churn")
    with conn.transaction():
        conn.execute(f"delete from {ml.SCORES} where as_of_date = %s", (as_of_date,))
        conn.execute(UPSERT, {
            "model_run_id": row_id, "run_id": run_id, "model": "churn",
            "as_of_date": as_of_date, "n_customers": None, "params": None,
            "log_likelihood": None, "converged": None, "iterations": None,
            "fit_seconds": None, "score_seconds": None, "status": "skipped",
            "metrics": Jsonb({"skipped_reason": reason, "status": "skipped"})})
    return row_id
