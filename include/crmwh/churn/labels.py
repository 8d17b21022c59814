"""Who is scored on a date (the active base) and the training label, both from the
warehouse's own churn definitions in ``core.fct_churn_events`` (DOMAIN §4), never from the
generator's ground truth.

Because an episode's ``churn_date`` is the day its definition is first met, what was known
about churn on a date ``k`` is the episodes with ``churn_date <= k`` (and returns with
``returned_on <= k``), so labels and populations for past dates come from today's table.

* Active on ``t``: first activity (a non-cancelled order or a recurring contract start) on or
  before ``t``, and not in a churn episode known on ``t`` that the customer has not come
  back from by ``t``.
* Label of a customer active on ``t0``, known on ``k``: 1 when a churn episode known on ``k``
  with ``churn_date > t0`` has its last activity within ``horizon`` days of ``t0`` (the
  relationship ends within the horizon: for inactivity, no purchase after ``t0 + horizon``
  before the churn; for contracts, cancelled or ended unrenewed within the horizon).
  Labels are complete when ``t0 + horizon + maturity <= k`` (the longest lag between last
  activity and churn date: inactivity cap, single-purchase threshold, grace period).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
import psycopg

POPULATION_SQL = """
    select coalesce(o.customer_key, k.customer_key) as customer_key,
        least(o.first_order_date, k.first_start_date) as first_active_date,
        coalesce(k.in_force, false) as has_contract,
        coalesce(k.ends_90d, false) as contract_ends_90d
    from (
        select customer_key, min(order_date) as first_order_date
        from core.fct_orders
        where customer_key is not null and not is_cancelled and not is_deleted
          and order_date <= %(t)s
        group by customer_key
    ) as o
    full join (
        select customer_key, min(start_date) as first_start_date,
            bool_or(in_force) as in_force,
            bool_or(in_force and end_date > %(t)s and end_date <= %(t)s::date + 90) as ends_90d
        from (
            select customer_key, start_date, end_date,
                (cancelled_at is null or cancelled_at >= %(t_end)s)
                and (end_date is null or end_date >= %(t)s) as in_force
            from core.dim_contract
            where is_current and is_recurring and customer_key is not null
              and start_date <= %(t)s
        ) as c
        group by customer_key
    ) as k on o.customer_key = k.customer_key
    where not exists (
        select 1 from core.fct_churn_events as e
        where e.customer_key = coalesce(o.customer_key, k.customer_key)
          and e.churn_date <= %(t)s
          and (e.returned_on is null or e.returned_on > %(t)s)
    )
"""

LABELS_SQL = """
    select distinct customer_key
    from core.fct_churn_events
    where churn_date > %(t0)s and churn_date <= %(known)s
      and last_active_date <= %(t0)s::date + %(horizon)s
"""

MATURITY_VARS = (
    "churn_inactivity_cap_days",
    "churn_single_purchase_threshold_days",
    "churn_contract_grace_days",
)


def end_of(day: date) -> datetime:
    """The first instant after ``day`` (UTC, the project's default reporting time zone)."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)


def maturity_days(dbt_vars: dict) -> int:
    """Longest lag between a churn's last activity and its churn date under the dbt vars."""
    return int(max(int(dbt_vars[name]) for name in MATURITY_VARS))


def labels(conn: psycopg.Connection, customer_keys: pd.Series, t0: date, known: date,
           horizon: int) -> np.ndarray:
    """0/1 per customer key: the relationship ends within ``horizon`` days of ``t0``, as known
    on ``known``."""
    cur = conn.execute(LABELS_SQL, {"t0": t0, "known": known, "horizon": horizon})
    churned = {row[0] for row in cur.fetchall()}
    return customer_keys.isin(churned).to_numpy(dtype=np.float64)


def training_dates(
    known: date, first_data: date, horizon: int, maturity: int, snapshots: int,
    spacing: int = 30, min_history: int = 90,
) -> tuple[list[date], bool]:
    """Snapshot dates for training when the warehouse knows up to ``known``: the latest dates
    with complete labels, ``spacing`` days apart, each with at least ``min_history`` days of
    data before it. When none has complete labels, the latest dates with a full horizon
    (labels then miss churn not yet recognised). Returns (dates, labels_complete)."""
    earliest = first_data + timedelta(days=min_history)
    for lag, complete in ((horizon + maturity, True), (horizon, False)):
        latest = known - timedelta(days=lag)
        dates = [latest - timedelta(days=spacing * i) for i in range(snapshots)]
        dates = [d for d in dates if d >= earliest]
        if dates:
            return sorted(dates), complete
    return [], False
