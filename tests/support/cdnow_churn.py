"""The churn backtest on the CDNOW log (as the ``lifetimes`` wheel ships it), without a
warehouse: crmwh.churn's feature, training, fit, choice and pick functions applied to pandas
frames built from the file.

What the warehouse computes in SQL is computed here from the file alone, independently:
the customers active on a date and the training label follow the non-contract inactivity
churn of ``core.fct_churn_events`` (DOMAIN §4, docs/churn_model.md §1: after a purchase
day, no purchase for clamp(ceil(3 x mean gap so far), 60, 180) days, 180 after a single
purchase), and the order-signal columns of ``features.raw_signals`` (CDNOW has no service,
billing or contract data: those columns are empty). The outcome is the one
``crmwh backtest-churn --outcome orders`` reads: no order in (T, T + 90 days].
"""

from __future__ import annotations

import importlib.util
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from crmwh.churn import backtest, features, labels, metrics, train
from crmwh.clv.summary import EPOCH, day_number
from crmwh.settings import dbt_vars

CDNOW = Path(importlib.util.find_spec("lifetimes").origin).parent / "datasets" / "CDNOW_master.txt"
HORIZON = 90
DATES = (date(1998, 1, 1), date(1998, 1, 31), date(1998, 3, 2), date(1998, 4, 1))


@cache
def orders() -> pd.DataFrame:
    """One row per line of the log (an order), as ``read_orders`` returns orders."""
    log = pd.read_csv(CDNOW, sep=r"\s+", dtype={"customer_id": str, "date": str})
    day = (pd.to_datetime(log["date"], format="%Y%m%d").to_numpy().astype("datetime64[D]")
           - EPOCH).astype(np.int64)
    return pd.DataFrame({"customer_key": ("c" + log["customer_id"]).to_numpy(dtype=object),
                         "day": day, "gross_margin": np.nan,
                         "amount": log["dollar_value"].to_numpy(np.float64)})


@cache
def episodes() -> pd.DataFrame:
    """Inactivity churn episodes: last_active, churn and returned day numbers."""
    v = dbt_vars()
    days = orders()[["customer_key", "day"]].drop_duplicates().sort_values(
        ["customer_key", "day"], ignore_index=True)
    g = days.groupby("customer_key")["day"]
    n = g.cumcount().to_numpy() + 1
    span = days["day"].to_numpy() - g.transform("min").to_numpy()
    gaps = np.maximum(n - 1, 1)
    ceil = -(-int(v["churn_inactivity_multiplier"]) * span // gaps)  # exact integer ceil
    threshold = np.where(n == 1, int(v["churn_single_purchase_threshold_days"]),
                         np.clip(ceil, int(v["churn_inactivity_floor_days"]),
                                 int(v["churn_inactivity_cap_days"])))
    churn = days["day"].to_numpy() + threshold
    following = g.shift(-1).to_numpy()
    episode = np.isnan(following) | (following > churn)
    return pd.DataFrame({"customer_key": days["customer_key"].to_numpy()[episode],
                         "last_active": days["day"].to_numpy()[episode],
                         "churn": churn[episode], "returned": following[episode]})


def active(t: date) -> pd.Series:
    """Customers with a purchase by ``t`` and not in a churn episode known on ``t`` they have
    not come back from."""
    d = day_number(t)
    log = orders()
    bought = pd.Index(pd.unique(log.loc[log["day"] <= d, "customer_key"]), dtype=object)
    e = episodes()
    gone = e.loc[(e["churn"] <= d) & ~(e["returned"] <= d), "customer_key"]
    return pd.Series(bought[~bought.isin(gone)].sort_values(), dtype=object)


def churn_label(keys: pd.Series, s: date, t: date) -> np.ndarray:
    """The training label of ``crmwh.churn.labels`` known on ``t``."""
    e = episodes()
    ended = e.loc[(e["churn"] > day_number(s)) & (e["churn"] <= day_number(t))
                  & (e["last_active"] <= day_number(s) + HORIZON), "customer_key"]
    return keys.isin(set(ended)).to_numpy(dtype=np.float64)


def no_order(keys: pd.Series, t: date) -> np.ndarray:
    """The outcome: no order in (t, t + HORIZON]."""
    log = orders()
    d = day_number(t)
    later = log.loc[(log["day"] > d) & (log["day"] <= d + HORIZON), "customer_key"]
    return ~keys.isin(set(later)).to_numpy(dtype=bool)


def rfm_risk(keys: pd.Series, t: date) -> np.ndarray:
    """The backtest's RFM baseline: 15 - (R + F + M), ranked among the customers who ordered
    by ``t``, F and M over the trailing 365 days."""
    log = orders()
    d = day_number(t)
    past = log[log["day"] <= d]
    window = past[past["day"] > d - backtest.RFM_WINDOW_DAYS]
    last = past.groupby("customer_key")["day"].max()
    frequency = window.groupby("customer_key").size().reindex(last.index, fill_value=0)
    monetary = window.groupby("customer_key")["amount"].sum().reindex(last.index,
                                                                       fill_value=0.0)
    total = (backtest.rfm_score(d - last, ascending=False)
             + backtest.rfm_score(frequency, True) + backtest.rfm_score(monetary, True))
    return (15 - total).reindex(keys.to_numpy()).fillna(12.0).to_numpy(np.float64)


def raw_signals(keys: pd.Series, t: date) -> pd.DataFrame:
    """``features.raw_signals`` columns for ``keys`` on ``t`` from the orders alone."""
    log = orders()
    d = day_number(t)
    past = log[log["day"] <= d]
    age = d - past["day"]
    per = pd.DataFrame({"first": past["day"], "last": past["day"], "orders_90d": age < 90,
                        "orders_prev_90d": (age >= 90) & (age < 180),
                        "orders_365d": age < 365}).groupby(past["customer_key"]).agg(
        {"first": "min", "last": "max", "orders_90d": "sum", "orders_prev_90d": "sum",
         "orders_365d": "sum"}).reindex(keys.to_numpy())

    def as_date(values: pd.Series) -> np.ndarray:
        return (EPOCH + values.to_numpy(np.int64)).astype("datetime64[D]").astype(object)

    n = len(keys)
    raw = pd.DataFrame({
        "customer_key": keys.to_numpy(dtype=object),
        "first_active_date": as_date(per["first"]), "has_contract": False,
        "contract_ends_90d": False, "contract_end_date": None,
        "last_order_date": as_date(per["last"]),
        **{c: per[c].to_numpy(np.int64) for c in ("orders_90d", "orders_prev_90d",
                                                  "orders_365d")},
        "promo_365d": 0, "complaints_90d": 0, "sla_missed_90d": 0, "rep_left": False,
        "overdue_amount": 0.0, "overdue_over_30": False, "satisfaction_c": np.full(n, np.nan),
        "p_contract_lapse": 0.0})
    model = features.purchase_model(past, t, raw["customer_key"], HORIZON)
    for name in features.PURCHASE_COLUMNS:
        raw[name] = model[name].to_numpy()
    return raw


def evaluate(t: date) -> dict[str, dict]:
    """One backtest date: the candidates trained on snapshots before ``t`` and chosen out of
    fold as the nightly does, then every scorer's figures against the outcome."""
    first = date(1997, 1, 1)
    dates, _ = labels.training_dates(t, first, HORIZON, labels.maturity_days(dbt_vars()),
                                     train.SNAPSHOTS, train.SNAPSHOT_SPACING_DAYS)
    xs, ys, keys, past = [], [], [], []
    for s in dates:
        population = active(s)
        xs.append(features.to_features(raw_signals(population, s), s).to_numpy())
        ys.append(churn_label(population, s, t))
        keys.append(population.to_numpy(dtype=object))
        past.append(no_order(population, s))
    x, y, key = np.vstack(xs), np.concatenate(ys), np.concatenate(keys)
    fitted = train.fit_candidates(x, y, key, train.CANDIDATES, train.L2)
    validation = {n: metrics.summary(y[np.isfinite(oof)], oof[np.isfinite(oof)])
                  for n, (_, oof) in fitted.items()}
    chosen = train.choose(validation)

    population = active(t)
    raw = raw_signals(population, t)
    x_now = features.to_features(raw, t).to_numpy()
    outcome = no_order(population, t)
    scores = {"model": fitted[chosen][0].predict(x_now)}
    scores.update({n: m.predict(x_now) for n, (m, _) in fitted.items()})
    recency = (pd.Timestamp(t) - pd.to_datetime(raw["last_order_date"])).dt.days
    scores["recency"] = recency.to_numpy(np.float64)
    scores["rfm"] = rfm_risk(population, t)
    scores["bgnbd_p_no_purchase"] = raw["p_no_purchase"].to_numpy(np.float64)
    scores["bgnbd_expected_purchases"] = -raw["expected_purchases"].to_numpy(np.float64)
    scores["past_rate"] = np.full(len(raw), np.concatenate(past).mean())
    scores["base_rate"] = np.full(len(raw), outcome.mean())
    return {name: {k: v for k, v in metrics.summary(
        outcome, s, probability=name in backtest.PROBABILITIES).items() if k != "calibration"}
        for name, s in scores.items()} | {"_chosen": chosen, "_rows": len(y),
                                          "_evaluated": len(raw), "_rate": outcome.mean()}


def run(dates: tuple[date, ...] = DATES) -> dict:
    """Mean figures per scorer over ``dates`` and what the marts would use."""
    per_date = [evaluate(t) for t in dates]
    names = [n for n in per_date[0] if not n.startswith("_")]
    scores = {n: {k: float(np.mean([p[n][k] for p in per_date])) for k in per_date[0][n]}
              for n in names}
    picked, reason = backtest.pick(scores)
    return {"scores": scores, "pick": picked, "reason": reason,
            "chosen": [p["_chosen"] for p in per_date],
            "rows": [p["_rows"] for p in per_date],
            "evaluated": [p["_evaluated"] for p in per_date],
            "rate": [p["_rate"] for p in per_date],
            "dates": [t.isoformat() for t in dates],
            "until": (max(dates) + timedelta(days=HORIZON)).isoformat()}
