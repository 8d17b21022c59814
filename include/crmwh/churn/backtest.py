"""Honest evaluation of the churn model against simple baselines on the same customers.

For each backtest date T the candidates are trained, one is chosen and it scores exactly as
the nightly run would on T (:func:`crmwh.churn.train.fit_and_score` reads only what the
warehouse knew on T). The outcome is read from what nothing else reads:

* ``truth``: the generator's ground truth (``churn.csv`` in the ground-truth directory): a
  scored customer is positive when the true churn time falls in (T, T + horizon]. Customers
  whose true churn lies on or before T (already gone, the warehouse has not noticed yet) are
  left out of the main figures and reported as a second population ("incl. already gone").
* ``orders``: for a transaction log without ground truth (a public data set loaded through
  ``crmwh import transactions``): positive when the customer places no order in
  (T, T + horizon], read from ``core.fct_orders`` after T.

Baselines, scored on the same customers and date: recency (days since the last order, or
since the first activity without orders), the RFM score (R, F, M 1-5 by percent rank as the
value mart scores them, trailing 12 months; risk = 15 - R - F - M), BG/NBD's probability of
no purchase in the purchase horizon and its expected purchases (fitted on T), for contract
customers the contract's end date, and three constants for the Brier score: the outcome's
rate in the training period (pooled over the training snapshot dates s, each s + horizon on
or before T: "predict the base rate" as the warehouse could on T), the outcome's own rate on
T (known only afterwards: the strict reference) and the training rows' churn-label rate.

Ranking metrics (ROC AUC, PR AUC, top-decile lift) are on the customers still there at T.
Probabilities (Brier score, calibration table pooled over the dates) are judged on every
scored customer against the event they are of, the relationship ended by T + horizon: the
customers already gone at T count positive (the warehouse cannot tell them apart, and its
churn label counts them too). For ``orders`` nobody is already gone, so both are the same.

:func:`pick` then decides what the marts score with: a learned candidate only where it beats
every baseline on ROC AUC and top-decile lift and the training period's base rate on the
Brier score, else the best baseline. Results go to ``audit.model_runs`` (model
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

from crmwh import as_of
from crmwh.churn import features, labels, metrics, train
from crmwh.modelling.model_runs import UPSERT, json_safe, model_run_id
from crmwh.warehouse.ml import ensure_tables

BASELINES = ("recency", "rfm", "bgnbd_p_no_purchase", "bgnbd_expected_purchases")
PROBABILITIES = ("model", *train.CANDIDATES, "bgnbd_p_no_purchase", "base_rate",
                 "past_rate", "training_rate")
# what the marts may score with: a learned candidate where it beats every baseline, else the
# best of the purchase model's two probabilities (calibrated to the churn label, or raw)
FALLBACKS = ("bgnbd_no_purchase", "bgnbd_p_no_purchase")
RFM_WINDOW_DAYS = 365

RFM_SQL = """
    select customer_key, max(order_date) as last_order_date,
        count(*) filter (where order_date > %(t)s::date - %(window)s) as frequency,
        coalesce(sum(net_revenue) filter (where order_date > %(t)s::date - %(window)s), 0)
            ::double precision as monetary
    from core.fct_orders
    where customer_key is not null and not is_cancelled and not is_deleted
      and order_date <= %(t)s
    group by customer_key
"""

BOUGHT_SQL = """
    select distinct customer_key from core.fct_orders
    where customer_key is not null and not is_cancelled and not is_deleted
      and order_date > %(t)s and order_date <= %(t)s::date + %(horizon)s
"""


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


def rfm_score(values: pd.Series, ascending: bool) -> pd.Series:
    """1-5 by percent rank (the value mart's rfm_score): least(5, 1 + floor(5 x rank))."""
    ranked = values.rank(method="min", ascending=ascending) - 1
    pct = ranked / max(len(values) - 1, 1)
    return np.minimum(5, 1 + np.floor(5 * pct))


def rfm_baseline(conn: psycopg.Connection, frame: pd.DataFrame, t: date) -> np.ndarray:
    """15 - (R + F + M) at T, ranked among the customers who ordered by T (a low RFM score
    is the risk); customers without orders get the lowest scores (risk 12)."""
    cur = conn.execute(RFM_SQL, {"t": t, "window": RFM_WINDOW_DAYS})
    rfm = pd.DataFrame(cur.fetchall(), columns=["customer_key", "last_order_date", "frequency",
                                                "monetary"])
    recency = (pd.Timestamp(t) - pd.to_datetime(rfm["last_order_date"])).dt.days
    total = (rfm_score(recency, ascending=False) + rfm_score(rfm["frequency"], True)
             + rfm_score(rfm["monetary"], True))
    risk = pd.Series((15 - total).to_numpy(), index=rfm["customer_key"].to_numpy())
    return risk.reindex(frame["customer_key"].to_numpy()).fillna(12.0).to_numpy(np.float64)


def baselines(conn: psycopg.Connection, frame: pd.DataFrame, t: date) -> dict[str, np.ndarray]:
    """Each baseline's risk score per scored customer (higher = more risk)."""
    no_orders = frame["last_order_date"].isna().to_numpy()
    p0 = frame["p_no_purchase"].to_numpy(dtype=np.float64)
    expected = frame["expected_purchases"].to_numpy(dtype=np.float64)
    out = {"recency": recency_baseline(frame, t), "rfm": rfm_baseline(conn, frame, t)}
    if np.isfinite(p0).any():  # BG/NBD fitted on T; without orders nothing is expected
        out["bgnbd_p_no_purchase"] = np.where(no_orders, 1.0, np.nan_to_num(p0, nan=1.0))
        out["bgnbd_expected_purchases"] = -np.where(no_orders, 0.0,
                                                    np.nan_to_num(expected, nan=0.0))
    return out


def contract_end_baseline(frame: pd.DataFrame, t: date) -> np.ndarray:
    """Minus the days until the contract in force ends (open-ended: far in the future)."""
    end = pd.to_datetime(frame["contract_end_date"])
    days = (end - pd.Timestamp(t)).dt.days.to_numpy(dtype=np.float64)
    return -np.nan_to_num(days, nan=1e6)


def truth_outcome(frame: pd.DataFrame, t: date, horizon: int, gt: pd.DataFrame,
                  ids: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(label, already gone) per row of ``frame`` from the ground truth."""
    merged = frame[["customer_key"]].merge(ids, on="customer_key", how="left").merge(
        gt, on="sales_customer_id", how="left")
    start = pd.Timestamp(t) + pd.Timedelta(days=1)  # outcome window (T, T + horizon]
    stop = start + pd.Timedelta(days=horizon)
    churned = merged["churned_at"]
    gone = (churned < start).fillna(False).to_numpy(dtype=bool)
    label = ((churned >= start) & (churned < stop)).fillna(False).to_numpy(dtype=bool)
    return label, gone


def orders_outcome(conn: psycopg.Connection, frame: pd.DataFrame, t: date, horizon: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(no order in (T, T + horizon], nobody already gone) per row of ``frame``."""
    bought = {r[0] for r in conn.execute(BOUGHT_SQL, {"t": t, "horizon": horizon}).fetchall()}
    label = ~frame["customer_key"].isin(bought).to_numpy(dtype=bool)
    return label, np.zeros(len(frame), dtype=bool)


def outcome_at(conn: psycopg.Connection, frame: pd.DataFrame, t: date, outcome: str,
               horizon: int, gt: pd.DataFrame | None, ids: pd.DataFrame | None
               ) -> tuple[np.ndarray, np.ndarray]:
    if outcome == "truth":
        return truth_outcome(frame, t, horizon, gt, ids)
    return orders_outcome(conn, frame, t, horizon)


def past_rate(conn: psycopg.Connection, snapshots: list[date], outcome: str, horizon: int,
              gt: pd.DataFrame | None, ids: pd.DataFrame | None) -> tuple[float, float]:
    """The outcome's own rate in the training period: pooled over the training snapshot
    dates s (each s + horizon is on or before T, so it was known on T), among the customers
    active on s; (main population, including the customers already gone)."""
    main, every = [], []
    for s in snapshots:
        active = labels.active_customers(conn, s, as_of.end_of(s))
        label, gone = outcome_at(conn, active, s, outcome, horizon, gt, ids)
        main.append(label[~gone])
        every.append(label | gone)
    main_all, every_all = np.concatenate(main), np.concatenate(every)
    return (float(main_all.mean()) if len(main_all) else float("nan"),
            float(every_all.mean()) if len(every_all) else float("nan"))


def evaluate_date(conn: psycopg.Connection, t: date, outcome: str, horizon: int,
                  gt: pd.DataFrame | None = None, ids: pd.DataFrame | None = None,
                  **fit_kwargs) -> tuple[dict, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """One date's figures, and per probability scorer its (labels, probabilities) for the
    pooled calibration table."""
    scored = train.fit_and_score(conn, t, horizon=horizon, **fit_kwargs)
    frame = scored.frame
    label, gone = outcome_at(conn, frame, t, outcome, horizon, gt, ids)
    snapshots = [date.fromisoformat(d["date"]) for d in scored.training["snapshots"]]
    before, before_incl_gone = past_rate(conn, snapshots, outcome, horizon, gt, ids)
    keep = ~gone
    y = label[keep]
    # the event the probabilities are of: the relationship has ended by T + horizon, the
    # customers already gone at T (whom the warehouse still counts as active) included
    event = label | gone
    x_now = features.to_features(frame, t).to_numpy()
    scores = {"model": frame["score"].to_numpy(dtype=np.float64)}
    scores.update({name: m.predict(x_now) for name, m in scored.candidates.items()})
    scores.update(baselines(conn, frame, t))
    # constants: the event's rate in the training period (known on T: "predict the base
    # rate"), its own rate (known only afterwards: the strict reference) and the training
    # rows' churn-label rate
    scores["past_rate"] = np.full(len(frame), before_incl_gone)
    scores["base_rate"] = np.full(len(frame), event.mean() if len(event) else np.nan)
    scores["training_rate"] = np.full(len(frame), scored.model.positive_rate)
    figures = {}
    for name, score in scores.items():
        figures[name] = metrics.summary(y, score[keep], probability=False)
        if name in PROBABILITIES:  # probabilities: on every scored customer
            figures[name]["brier"] = metrics.brier(event, score)
            figures[name]["brier_still_there"] = metrics.brier(y, score[keep])
    pooled = {name: (event, s) for name, s in scores.items() if name in PROBABILITIES}

    contract = frame["has_contract"].to_numpy(dtype=bool) & keep
    yc = label[contract]
    contract_figures = {
        "customers": int(contract.sum()), "positives": int(yc.sum()),
        "model": metrics.summary(yc, scores["model"][contract], probability=False),
        "contract_end": metrics.summary(yc, contract_end_baseline(frame, t)[contract],
                                        probability=False)}
    result = {
        "as_of_date": t.isoformat(), "chosen": scored.chosen,
        "scored": int(len(frame)), "already_gone": int(gone.sum()),
        "evaluated": int(keep.sum()), "positives": int(y.sum()),
        "churn_rate": float(y.mean()) if len(y) else None,
        "event_rate": float(event.mean()) if len(event) else None,
        "past_rate": before_incl_gone, "past_churn_rate": before,
        "scores": figures, "contract": contract_figures,
        "validation": {n: {k: v for k, v in fig.items() if k != "calibration"}
                       for n, fig in scored.validation.items()},
        "training": scored.training,
    }
    if gone.any():
        every = label | gone
        result["incl_gone"] = {
            name: {"auc": metrics.auc(every, scores[name]),
                   "lift10": metrics.top_decile_lift(every, scores[name])}
            for name in ("model", *scored.candidates, "recency", "bgnbd_p_no_purchase")
            if name in scores}
    return result, pooled


def default_dates(conn: psycopg.Connection, last_truth: date, n: int = 4,
                  spacing: int = 30, horizon: int = train.HORIZON_DAYS) -> list[date]:
    """``n`` dates ``spacing`` days apart, the latest leaving a full outcome horizon before
    the end of the ground truth."""
    latest = last_truth - timedelta(days=horizon)
    return sorted(latest - timedelta(days=spacing * i) for i in range(n))


def summarise(per_date: list[dict], pooled: list[dict]) -> dict:
    """Mean figures over the dates per scorer, pooled calibration tables, the verdict (does
    the model beat every baseline on ROC AUC and top-decile lift, and the training period's
    base rate on the Brier score?) and what the marts use after it (:func:`pick`)."""

    def mean(values: list) -> float:
        values = [v for v in values if v is not None and np.isfinite(v)]
        return float(np.mean(values)) if values else float("nan")

    names = list(per_date[0]["scores"])
    scores = {name: {k: mean([r["scores"][name].get(k) for r in per_date])
                     for k in per_date[0]["scores"][name]} for name in names}
    for name in names:
        if name in PROBABILITIES:
            y = np.concatenate([p[name][0] for p in pooled])
            s = np.concatenate([p[name][1] for p in pooled])
            scores[name]["calibration"] = metrics.calibration(y, s)
    model = scores["model"]
    present = [b for b in BASELINES if b in scores]
    contract = {k: {m: mean([r["contract"][k][m] for r in per_date])
                    for m in ("auc", "pr_auc", "lift10")} for k in ("model", "contract_end")}
    out = {
        "scores": scores,
        "contract": contract,
        "chosen": sorted({r["chosen"] for r in per_date}),
        "beats_every_baseline_auc": all(model["auc"] > scores[b]["auc"] for b in present),
        "beats_every_baseline_lift10": all(model["lift10"] > scores[b]["lift10"]
                                           for b in present),
        "beats_base_rate_brier": model["brier"] < scores["past_rate"]["brier"],
        "beats_outcome_rate_brier": model["brier"] < scores["base_rate"]["brier"],
        "best_baseline_auc": max(present, key=lambda b: scores[b]["auc"]),
    }
    if all("incl_gone" in r for r in per_date):
        out["incl_gone"] = {name: {k: mean([r["incl_gone"][name][k] for r in per_date])
                                   for k in per_date[0]["incl_gone"][name]}
                            for name in per_date[0]["incl_gone"]}
    out["pick"], out["pick_reason"] = pick(scores)
    return out


def beats_baselines(scores: dict[str, dict], name: str) -> bool:
    """``name`` beats every baseline on ROC AUC and top-decile lift, and the training
    period's base rate on the Brier score."""
    present = [b for b in BASELINES if b in scores]
    fig, base = scores[name], scores.get("past_rate", {}).get("brier")
    return (all(fig["auc"] > scores[b]["auc"] and fig["lift10"] > scores[b]["lift10"]
                for b in present)
            and fig.get("brier") is not None and base is not None and fig["brier"] < base)


def pick(scores: dict[str, dict]) -> tuple[str, str]:
    """What the marts score with after this backtest (mean figures per scorer): the learned
    candidate with the best ROC AUC among those that beat every baseline (:func:`beats_
    baselines`); where none does, the best baseline the marts can show as a probability: of
    the purchase model's P(no purchase) calibrated to the churn label and P(no purchase)
    itself, the one with the lower Brier score."""
    learned = [n for n in train.CANDIDATES if n not in FALLBACKS and n in scores
               and beats_baselines(scores, n)]
    if learned:
        return max(learned, key=lambda n: scores[n]["auc"]), "beats every baseline"
    fallbacks = [n for n in FALLBACKS if n in scores and scores[n].get("brier") is not None]
    best = min(fallbacks, key=lambda n: scores[n]["brier"])
    return best, "no learned candidate beats every baseline: the best baseline"


def run(conn: psycopg.Connection, ground_truth_dir: Path | None, dates: list[date] | None = None,
        run_id: str = "backtest", horizon: int = train.HORIZON_DAYS, outcome: str = "truth",
        **fit_kwargs) -> dict:
    """Backtest over ``dates`` (default: :func:`default_dates` before the data's last order
    date) and record one ``audit.model_runs`` row (model ``churn_backtest``)."""
    began = time.perf_counter()
    ensure_tables(conn)
    gt = truth(ground_truth_dir) if outcome == "truth" else None
    ids = sales_ids(conn) if outcome == "truth" else None
    if dates is None:
        last = conn.execute("select max(order_date) from core.fct_orders").fetchone()[0]
        dates = default_dates(conn, last, horizon=horizon)
    per_date, pooled = [], []
    for t in dates:
        result, pool = evaluate_date(conn, t, outcome, horizon, gt, ids, **fit_kwargs)
        per_date.append(result)
        pooled.append(pool)
    summary = summarise(per_date, pooled)
    result = {"run_id": run_id, "outcome": outcome, "horizon_days": horizon,
              "dates": [d.isoformat() for d in dates], "summary": summary,
              "per_date": per_date, "seconds": time.perf_counter() - began}
    latest = max(dates)
    with conn.transaction():
        conn.execute(UPSERT, {
            "model_run_id": model_run_id(latest, run_id, "churn_backtest"),
            "run_id": run_id, "model": "churn_backtest", "as_of_date": latest,
            "n_customers": sum(r["evaluated"] for r in per_date),
            "params": Jsonb(json_safe({"horizon_days": horizon, "dates": result["dates"],
                                       "outcome": outcome})),
            "log_likelihood": None, "converged": None, "iterations": None,
            "fit_seconds": result["seconds"], "score_seconds": None, "status": "fitted",
            "metrics": Jsonb(json_safe({"summary": summary, "per_date": per_date})),
        })
    return json_safe(result)
