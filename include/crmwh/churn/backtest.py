"""Honest evaluation of the churn model against the generator's ground truth.

For each backtest date T the model is trained and scores exactly as the nightly run would
on T (:func:`crmwh.churn.train.fit_and_score` reads only what the warehouse knew on T). The
outcome comes from the generator's ground truth (``churn.csv`` in the ground-truth
directory), which nothing else reads: a scored customer is positive when the true churn time
falls in (T, T + 90 days]. Customers whose true churn lies on or before T (already gone, the
warehouse just has not noticed yet) are left out of the primary evaluation and reported as a
second population ("incl. already gone": positive when truly churned by T + 90 days).
The baseline ranks the same customers by recency only (days since the last order, or since
the first activity without orders). Results go to ``audit.model_runs`` (model
``churn_backtest``) and are returned.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from crmwh.churn import metrics, train
from crmwh.modelling.model_runs import UPSERT, json_safe, model_run_id
from crmwh.warehouse.ml import ensure_tables


def truth(ground_truth_dir: Path) -> pd.DataFrame:
    """sales customer id -> true churn time (NaT when alive at the end of the data)."""
    frame = pd.read_csv(ground_truth_dir / "churn.csv", parse_dates=["churned_at"])
    return frame.rename(columns={"customer_id": "sales_customer_id"})


def sales_ids(conn: psycopg.Connection) -> pd.DataFrame:
    cur = conn.execute("select customer_key, sales_customer_id from core.dim_customer "
                       "where is_current and sales_customer_id is not null")
    return pd.DataFrame(cur.fetchall(), columns=["customer_key", "sales_customer_id"])


def recency_baseline(frame: pd.DataFrame, t: date) -> np.ndarray:
    last = pd.to_datetime(frame["last_order_date"]).fillna(
        pd.to_datetime(frame["first_active_date"]))
    return (pd.Timestamp(t) - last).dt.days.to_numpy(dtype=np.float64)


def evaluate_date(conn: psycopg.Connection, t: date, gt: pd.DataFrame, ids: pd.DataFrame,
                  horizon: int = train.HORIZON_DAYS, **fit_kwargs) -> dict:
    scored = train.fit_and_score(conn, t, horizon=horizon, **fit_kwargs)
    frame = scored.frame.merge(ids, on="customer_key", how="inner").merge(
        gt, on="sales_customer_id", how="left")
    start = pd.Timestamp(t) + pd.Timedelta(days=1)  # outcome window (T, T + horizon]
    stop = start + pd.Timedelta(days=horizon)
    churned = frame["churned_at"]
    gone = (churned < start).fillna(False).to_numpy()
    label = ((churned >= start) & (churned < stop)).fillna(False).to_numpy()
    baseline = recency_baseline(frame, t)
    model = frame["score"].to_numpy()
    keep = ~gone
    result = {
        "as_of_date": t.isoformat(),
        "scored": int(len(frame)),
        "already_gone": int(gone.sum()),
        "evaluated": int(keep.sum()),
        "positives": int(label[keep].sum()),
        "churn_rate": float(label[keep].mean()) if keep.any() else None,
        "auc_model": metrics.auc(label[keep], model[keep]),
        "auc_recency": metrics.auc(label[keep], baseline[keep]),
        "lift10_model": metrics.top_decile_lift(label[keep], model[keep]),
        "lift10_recency": metrics.top_decile_lift(label[keep], baseline[keep]),
        "incl_gone_auc_model": metrics.auc(label | gone, model),
        "incl_gone_auc_recency": metrics.auc(label | gone, baseline),
        "incl_gone_lift10_model": metrics.top_decile_lift(label | gone, model),
        "incl_gone_lift10_recency": metrics.top_decile_lift(label | gone, baseline),
        "training": scored.training,
        "coefficients": scored.model.params(),
    }
    return result


def default_dates(conn: psycopg.Connection, last_truth: date, n: int = 4,
                  spacing: int = 30, horizon: int = train.HORIZON_DAYS) -> list[date]:
    """``n`` dates ``spacing`` days apart, the latest leaving a full outcome horizon before
    the end of the ground truth."""
    latest = last_truth - timedelta(days=horizon)
    return sorted(latest - timedelta(days=spacing * i) for i in range(n))


def run(conn: psycopg.Connection, ground_truth_dir: Path, dates: list[date] | None = None,
        run_id: str = "backtest", horizon: int = train.HORIZON_DAYS, **fit_kwargs) -> dict:
    """Backtest over ``dates`` (default: :func:`default_dates` before the data's last order
    date) and record one ``audit.model_runs`` row (model ``churn_backtest``)."""
    began = time.perf_counter()
    ensure_tables(conn)
    gt = truth(ground_truth_dir)
    ids = sales_ids(conn)
    if dates is None:
        last = conn.execute("select max(order_date) from core.fct_orders").fetchone()[0]
        dates = default_dates(conn, last, horizon=horizon)
    per_date = [evaluate_date(conn, t, gt, ids, horizon, **fit_kwargs) for t in dates]

    def mean(key: str) -> float:
        values = [r[key] for r in per_date if r[key] is not None and np.isfinite(r[key])]
        return float(np.mean(values)) if values else float("nan")

    summary = {k: mean(k) for k in ("auc_model", "auc_recency", "lift10_model",
                                    "lift10_recency", "incl_gone_auc_model",
                                    "incl_gone_auc_recency", "incl_gone_lift10_model",
                                    "incl_gone_lift10_recency")}
    summary["beats_baseline_auc"] = summary["auc_model"] > summary["auc_recency"]
    summary["beats_baseline_lift10"] = summary["lift10_model"] > summary["lift10_recency"]
    summary["dates_model_beats_baseline_auc"] = sum(
        r["auc_model"] > r["auc_recency"] for r in per_date)
    result = {"run_id": run_id, "horizon_days": horizon, "dates": [d.isoformat() for d in dates],
              "summary": summary, "per_date": per_date,
              "seconds": time.perf_counter() - began}
    latest = max(dates)
    with conn.transaction():
        conn.execute(UPSERT, {
            "model_run_id": model_run_id(latest, run_id, "churn_backtest"),
            "run_id": run_id, "model": "churn_backtest", "as_of_date": latest,
            "n_customers": sum(r["evaluated"] for r in per_date),
            "params": Jsonb(json_safe({"horizon_days": horizon, "dates": result["dates"]})),
            "log_likelihood": None, "converged": None, "iterations": None,
            "fit_seconds": result["seconds"], "score_seconds": None, "status": "fitted",
            "metrics": Jsonb(json_safe({"summary": summary, "per_date": per_date})),
        })
    return result
