"""Who is scored on a date (the active base) and the training label, both from the
warehouse's own churn definitions in ``core.fct_churn_events`` (DOMAIN §4), never from the
generator's ground truth.

Because an episode's ``churn_date`` is the day its definition is first met, what was known
about churn on an ``as_of_date`` is the episodes with ``churn_date <= as_of_date`` (and
returns with ``returned_on <= as_of_date``), so labels and populations for past dates come
from today's table.

* Active on ``as_of_date``: first activity (a non-cancelled order or a recurring contract
  start) on or before it, and not in a churn episode known on it that the customer has not
  come back from by then.
* Label of a customer active on ``snapshot_date``, known on ``as_of_date``: 1 when a churn
  episode known on ``as_of_date`` with ``churn_date > snapshot_date`` has its last activity
  within ``horizon`` days of ``snapshot_date`` (the relationship ends within the horizon: for
  inactivity, no purchase after ``snapshot_date + horizon`` before the churn; for contracts,
  cancelled or ended unrenewed within the horizon). Labels are complete when
  ``snapshot_date + horizon + maturity <= as_of_date`` (the longest lag between last activity
  and churn date: inactivity cap, single-purchase threshold, grace period).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import psycopg

POPULATION_SQL = """
    select coalesce(o.customer_key, k.customer_key) as customer_key,
        least(o.first_order_date, k.first_start_date) as first_active_date,
        coalesce(k.in_force, false) as has_contract,
        coalesce(k.ends_90d, false) as contract_ends_90d,
        k.end_date as contract_end_date
    from (
        select customer_key, min(order_date) as first_order_date
        from core.fct_orders
        where customer_key is not null and not is_cancelled and not is_deleted
          and order_date <= %(as_of_date)s and {sample}
        group by customer_key
    ) as o
    full join (
        select customer_key, min(start_date) as first_start_date,
            bool_or(in_force) as in_force,
            bool_or(in_force and end_date > %(as_of_date)s
                    and end_date <= %(as_of_date)s::date + 90) as ends_90d,
            min(end_date) filter (where in_force) as end_date
        from (
            select customer_key, start_date, end_date,
                (cancelled_at is null or cancelled_at >= %(as_of_end)s)
                and (end_date is null or end_date >= %(as_of_date)s) as in_force
            from core.dim_contract
            where is_current and is_recurring and customer_key is not null
              and start_date <= %(as_of_date)s and {sample}
        ) as c
        group by customer_key
    ) as k on o.customer_key = k.customer_key
    where not exists (
        select 1 from core.fct_churn_events as e
        where e.customer_key = coalesce(o.customer_key, k.customer_key)
          and e.churn_date <= %(as_of_date)s
          and (e.returned_on is null or e.returned_on > %(as_of_date)s)
    )
"""

LABELS_SQL = """
    select distinct customer_key
    from core.fct_churn_events
    where churn_date > %(snapshot_date)s and churn_date <= %(as_of_date)s
      and last_active_date <= %(snapshot_date)s::date + %(horizon)s
"""

MATURITY_VARS = (
    "churn_inactivity_cap_days",
    "churn_single_purchase_threshold_days",
    "churn_contract_grace_days",
)


def active_customers(conn: psycopg.Connection, as_of_date: date, as_of_end: object
                     ) -> pd.DataFrame:
    """The customers active on ``as_of_date`` (customer_key), as the scoring reads them."""
    query = POPULATION_SQL.format(sample="true")
    cur = conn.execute(f"select customer_key from ({query}) as active order by 1",
                       {"as_of_date": as_of_date, "as_of_end": as_of_end})
    return pd.DataFrame(cur.fetchall(), columns=["customer_key"])


def maturity_days(dbt_vars: dict) -> int:
    """Longest lag between a churn's last activity and its churn date under the dbt vars."""
    return int(max(int(dbt_vars[name]) for name in MATURITY_VARS))


def labels(conn: psycopg.Connection, customer_keys: pd.Series, snapshot_date: date,
           as_of_date: date, horizon: int) -> np.ndarray:
    """0/1 per customer key: the relationship ends within ``horizon`` days of
    ``snapshot_date``, as known on ``as_of_date``."""
    cur = conn.execute(LABELS_SQL, {"snapshot_date": snapshot_date, "as_of_date": as_of_date,
                                    "horizon": horizon})
    churned = {row[0] for row in cur.fetchall()}
    return customer_keys.isin(churned).to_numpy(dtype=np.float64)


def training_dates(
    as_of_date: date, first_data: date, horizon: int, maturity: int, snapshots: int,
    spacing: int = 30, min_history: int = 90,
) -> tuple[list[date], bool]:
    """Snapshot dates for training when the warehouse knows up to ``as_of_date``: the latest dates
    with complete labels, ``spacing`` days apart, each with at least ``min_history`` days of
    data before it. When none has complete labels, the latest dates with a full horizon
    (labels then miss churn not yet recognised). Returns (dates, labels_complete)."""
    earliest = first_data + timedelta(days=min_history)
    for lag, complete in ((horizon + maturity, True), (horizon, False)):
        latest = as_of_date - timedelta(days=lag)
        dates = [latest - timedelta(days=spacing * i) for i in range(snapshots)]
        dates = [d for d in dates if d >= earliest]
        if dates:
            return sorted(dates), complete
    return [], False
