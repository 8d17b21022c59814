"""Transactions -> the per-customer summary the models are fitted on, as of a date.

Per customer, counting **purchase days** (several orders on one day are one purchase,
their margins summed), with t = 0 at the first purchase day:

- ``frequency`` x: repeat purchase days (purchase days - 1)
- ``recency`` t_x: days from the first to the last purchase day (0 when x = 0).
  This is the BTYD "recency", *not* days since the last purchase.
- ``T``: days from the first purchase day to the as-of date
- ``avg_margin``: mean margin of the repeat purchase days (NaN when x = 0, or when no
  repeat day has a known margin); the first purchase day is left out.

Transactions after the as-of date are ignored.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

COLUMNS = ("frequency", "recency", "T", "avg_margin")


def summary(
    transactions: pd.DataFrame,
    as_of_date: date,
    *,
    customer_col: str = "customer_key",
    date_col: str = "order_date",
    value_col: str = "gross_margin",
) -> pd.DataFrame:
    """One row per customer with a purchase on or before ``as_of_date``, indexed by customer.

    Columns: frequency (int64), recency, T (float64 days), avg_margin (float64).
    """
    days = pd.to_datetime(transactions[date_col]).to_numpy().astype("datetime64[D]")
    as_of = np.datetime64(as_of_date, "D")
    keep = days <= as_of
    frame = pd.DataFrame({
        "customer": transactions[customer_col].to_numpy()[keep],
        "day": days[keep].astype(np.int64),
        "value": pd.to_numeric(transactions[value_col], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan)[keep],
    })
    if frame.empty:
        out = pd.DataFrame({c: pd.Series(dtype="float64") for c in COLUMNS})
        out["frequency"] = out["frequency"].astype("int64")
        out.index.name = customer_col
        return out
    # one row per purchase day; a day's margin is the sum of its known margins
    daily = (
        frame.groupby(["customer", "day"], sort=True)["value"].sum(min_count=1).reset_index()
    )
    first_of_customer = ~daily["customer"].duplicated(keep="first").to_numpy()
    grouped = daily.groupby("customer", sort=True)
    first = grouped["day"].min()
    last = grouped["day"].max()
    n_days = grouped["day"].size()
    repeat_values = daily["value"].where(~first_of_customer)
    avg = repeat_values.groupby(daily["customer"], sort=True).mean()
    as_of_day = int(as_of.astype(np.int64))
    out = pd.DataFrame({
        "frequency": (n_days - 1).astype("int64"),
        "recency": (last - first).astype("float64"),
        "T": (as_of_day - first).astype("float64"),
        "avg_margin": avg.astype("float64"),
    })
    out.index.name = customer_col
    return out
