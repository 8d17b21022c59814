"""Transactions -> the per-customer summary the models are fitted on, as of a date.

Per customer, counting **purchase days** (several orders on one day are one purchase,
their margins summed), with t = 0 at the first purchase day:

- ``frequency`` x: repeat purchase days (purchase days - 1)
- ``recency`` t_x: days from the first to the last purchase day (0 when x = 0).
  This is the BTYD "recency", *not* days since the last purchase.
- ``T``: days from the first purchase day to the as-of date
- ``avg_margin``: mean margin of the repeat purchase days (NaN when x = 0, or when no
  repeat day has a known margin); the first purchase day is left out. A day whose
  orders all lack a margin still counts as a purchase day.

Transactions after the as-of date are ignored. The work is done in NumPy on integer
customer codes and day numbers (``summarise_days``); ``summary`` wraps it for a frame,
``summarise_orders`` for the order history the nightly fits read.
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

import numpy as np
import pandas as pd

COLUMNS = ("frequency", "recency", "T", "avg_margin")
EPOCH = np.datetime64("1970-01-01", "D")


class DaySummary(NamedTuple):
    customer: np.ndarray  # the codes of the customers with a purchase, ascending
    frequency: np.ndarray  # int64
    recency: np.ndarray  # float64 days
    T: np.ndarray  # float64 days
    avg_margin: np.ndarray  # float64, NaN when unknown


def day_number(value: date) -> int:
    """Days since 1970-01-01."""
    return int((np.datetime64(value, "D") - EPOCH).astype(np.int64))


def summarise_days(
    codes: np.ndarray, days: np.ndarray, values: np.ndarray, as_of_day: int
) -> DaySummary:
    """The summary from integer customer ``codes``, integer ``days`` and margins
    (NaN = unknown), one entry per order (or per customer and day)."""
    codes = np.asarray(codes, dtype=np.int64)
    days = np.asarray(days, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    keep = days <= as_of_day
    codes, days, values = codes[keep], days[keep], values[keep]
    if len(codes) == 0:
        empty = np.empty(0)
        return DaySummary(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64),
                          empty, empty, empty)
    order = np.lexsort((values, days, codes))  # same-day margins summed in one order
    codes, days, values = codes[order], days[order], values[order]

    # purchase days: distinct (customer, day), with the sum of the known margins
    new_day = np.ones(len(codes), dtype=bool)
    new_day[1:] = (codes[1:] != codes[:-1]) | (days[1:] != days[:-1])
    day_id = np.cumsum(new_day) - 1
    known = ~np.isnan(values)
    day_sum = np.bincount(day_id, weights=np.where(known, values, 0.0))
    day_known = np.bincount(day_id, weights=known.astype(np.float64))
    day_value = np.where(day_known > 0, day_sum, np.nan)
    day_code = codes[new_day]
    day_day = days[new_day]

    # customers
    first_of_customer = np.ones(len(day_code), dtype=bool)
    first_of_customer[1:] = day_code[1:] != day_code[:-1]
    last_of_customer = np.ones(len(day_code), dtype=bool)
    last_of_customer[:-1] = first_of_customer[1:]
    customer_id = np.cumsum(first_of_customer) - 1
    first = day_day[first_of_customer]
    last = day_day[last_of_customer]
    n_days = np.bincount(customer_id)
    repeat = ~first_of_customer & ~np.isnan(day_value)
    repeat_sum = np.bincount(customer_id, weights=np.where(repeat, day_value, 0.0))
    repeat_n = np.bincount(customer_id, weights=repeat.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = np.where(repeat_n > 0, repeat_sum / repeat_n, np.nan)
    return DaySummary(
        customer=day_code[first_of_customer],
        frequency=(n_days - 1).astype(np.int64),
        recency=(last - first).astype(np.float64),
        T=(as_of_day - first).astype(np.float64),
        avg_margin=avg,
    )


def summary(
    transactions: pd.DataFrame,
    as_of_date: date,
    *,
    customer_col: str = "customer_key",
    date_col: str = "order_date",
    value_col: str = "gross_margin",
) -> pd.DataFrame:
    """One row per customer with a purchase on or before ``as_of_date``, indexed by customer
    in order of first appearance. Columns: frequency (int64), recency, T (float64 days),
    avg_margin (float64)."""
    codes, keys = pd.factorize(transactions[customer_col], sort=False)
    days = (pd.to_datetime(transactions[date_col]).to_numpy().astype("datetime64[D]")
            - EPOCH).astype(np.int64)
    values = pd.to_numeric(transactions[value_col], errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan)
    known = codes >= 0  # rows without a customer are left out
    result = summarise_days(codes[known], days[known], values[known], day_number(as_of_date))
    index = pd.Index(np.asarray(keys)[result.customer], name=customer_col)
    return pd.DataFrame(
        {"frequency": result.frequency, "recency": result.recency, "T": result.T,
         "avg_margin": result.avg_margin},
        index=index,
    )


def summarise_orders(orders: pd.DataFrame, as_of_date: date) -> tuple[np.ndarray, DaySummary]:
    """(customer keys, summary) from :func:`crmwh.modelling.orders.read_orders` output, in
    order of customer key: the rows come in whatever order the database scanned them, and
    the fit's sums must not depend on it (a rerun's predictions equal the first run's)."""
    codes, keys = pd.factorize(orders["customer_key"], sort=True)
    result = summarise_days(codes, orders["day"].to_numpy(), orders["gross_margin"].to_numpy(),
                            day_number(as_of_date))
    return np.asarray(keys, dtype=object)[result.customer], result
