"""Point-in-time churn features for the customers active on a date, read from ``core``.

Every fact is filtered to events dated on or before ``as_of_date``, so features for a past
date can be computed from today's warehouse (a training snapshot or a backtest date). What a
rebuild of ``core`` as of that date would show differently: late status changes of rows dated
before it (an order cancelled after it is already left out). The population is the active
base on ``as_of_date`` (:mod:`crmwh.churn.labels`).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import date

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from crmwh import as_of
from crmwh.churn import labels, renewals
from crmwh.churn.signals import FEATURE_NAMES
from crmwh.clv import bgnbd
from crmwh.clv.summary import day_number, summarise_orders
from crmwh.modelling.orders import read_orders
from crmwh.settings import dbt_vars

FEATURES_SQL = """
with
base as ({population}),
orders as (
    select customer_key, order_date, has_promotion
    from core.fct_orders
    where customer_key is not null and not is_cancelled and not is_deleted
      and order_date <= %(as_of_date)s and {sample}
),
order_stats as (
    select customer_key,
        max(order_date) as last_order_date,
        count(*) filter (where order_date > %(as_of_date)s::date - 90) as orders_90d,
        count(*) filter (where order_date > %(as_of_date)s::date - 180
                           and order_date <= %(as_of_date)s::date - 90) as orders_prev_90d,
        count(*) filter (where order_date > %(as_of_date)s::date - 365) as orders_365d,
        count(*) filter (where order_date > %(as_of_date)s::date - 365 and has_promotion)
            as promo_365d
    from orders group by customer_key
),
tickets as (
    select customer_key,
        count(*) filter (where is_complaint) as complaints_90d,
        count(*) filter (where created_at + make_interval(hours => %(sla)s) <= %(as_of_end)s
                           and (first_response_at is null or first_response_at > %(as_of_end)s
                                or first_response_at > created_at
                                                       + make_interval(hours => %(sla)s)))
            as sla_missed_90d
    from core.fct_tickets
    where customer_key is not null and created_on <= %(as_of_date)s
      and created_on > %(as_of_date)s::date - 90 and {sample}
    group by customer_key
),
rep_at_t as (
    select distinct on (customer_key) customer_key, sales_rep_id
    from core.dim_customer
    where valid_from < %(as_of_end)s and {sample}
    order by customer_key, valid_from desc
),
reps as (
    select rep_at_t.customer_key, coalesce(bool_or(r.left_on <= %(as_of_date)s), false) as rep_left
    from rep_at_t join core.dim_sales_rep as r on r.sales_rep_id = rep_at_t.sales_rep_id
    group by rep_at_t.customer_key
),
receivables as (
    select customer_key, sum(overdue_amount) as overdue_amount,
        sum(overdue_amount - overdue_1_30) > 0 as overdue_over_30
    from core.fct_receivables_daily
    where date_day = %(as_of_date)s and customer_key is not null and {sample}
    group by customer_key
),
surveys as (
    select customer_key, avg(satisfaction_c) as satisfaction_c
    from core.fct_surveys
    where customer_key is not null and answered_on <= %(as_of_date)s
      and answered_on > %(as_of_date)s::date - 180 and satisfaction_c is not null
      and {sample}
    group by customer_key
)
select base.customer_key, base.first_active_date, base.has_contract, base.contract_ends_90d,
    base.contract_end_date,
    order_stats.last_order_date,
    coalesce(order_stats.orders_90d, 0) as orders_90d,
    coalesce(order_stats.orders_prev_90d, 0) as orders_prev_90d,
    coalesce(order_stats.orders_365d, 0) as orders_365d,
    coalesce(order_stats.promo_365d, 0) as promo_365d,
    coalesce(tickets.complaints_90d, 0) as complaints_90d,
    coalesce(tickets.sla_missed_90d, 0) as sla_missed_90d,
    coalesce(reps.rep_left, false) as rep_left,
    coalesce(receivables.overdue_amount, 0)::double precision as overdue_amount,
    coalesce(receivables.overdue_over_30, false) as overdue_over_30,
    surveys.satisfaction_c::double precision as satisfaction_c
from base
left join order_stats using (customer_key)
left join tickets using (customer_key)
left join reps using (customer_key)
left join receivables using (customer_key)
left join surveys using (customer_key)
order by base.customer_key
"""


RAW_DTYPES = {"orders_90d": "int64", "orders_prev_90d": "int64", "orders_365d": "int64",
              "promo_365d": "int64", "complaints_90d": "int64", "sla_missed_90d": "int64",
              "overdue_amount": "float64", "satisfaction_c": "float64"}
RAW_BOOLS = ("has_contract", "contract_ends_90d", "rep_left", "overdue_over_30")
RAW_DATES = ("first_active_date", "last_order_date", "contract_end_date")


SAMPLE_BUCKETS = 1 << 20


def sample_condition(share: float) -> str:
    """SQL condition on ``customer_key`` keeping a fixed share of the customers, the same ones
    in every table and every query (a hash of the key); ``true`` for a share of 1."""
    if share >= 1:
        return "true"
    return (f"(hashtext(customer_key::text)::bigint & {SAMPLE_BUCKETS - 1}) "
            f"< {max(1, round(share * SAMPLE_BUCKETS))}")


# the tables the feature and population queries filter by the customer sample
SAMPLED_TABLES = ("core.fct_orders", "core.fct_tickets", "core.dim_customer",
                  "core.fct_surveys", "core.fct_receivables_daily", "core.dim_contract")


@contextmanager
def sampled_core(conn: psycopg.Connection, share: float, days: list[date]
                 ) -> Iterator[dict[str, str]]:
    """With ``share`` < 1: the sample's rows of :data:`SAMPLED_TABLES` (of the receivables,
    only ``days``) copied once into temporary tables, so that the training snapshots read a
    fifth of a scan each instead of every fact table again; yields the names to read them by
    (``{}`` with ``share`` 1, nothing to copy). Dropped on the way out."""
    if share >= 1:
        yield {}
        return
    sample = sample_condition(share)
    names = {table: f"pg_temp.churn_sample_{table.split('.')[1]}" for table in SAMPLED_TABLES}
    try:
        for table, copy in names.items():
            where = sample
            if table == "core.fct_receivables_daily":
                where += " and date_day = any(%(days)s)"
            conn.execute(f"create temporary table {copy.split('.')[1]} as "
                         f"select * from {table} where {where}", {"days": days})
            conn.execute(f"analyze {copy}")
        yield names
    finally:  # a broken connection drops them itself; its own error is the one to see
        with suppress(psycopg.Error):
            for copy in names.values():
                conn.execute(f"drop table if exists {copy}")


def _reading(query: str, tables: Mapping[str, str]) -> str:
    """``query`` reading each table of ``tables`` from its copy."""
    for table, copy in tables.items():
        query = re.sub(rf"\b{re.escape(table)}\b", copy, query)
    return query


def raw_signals(conn: psycopg.Connection, as_of_date: date, sla_hours: int = 24,
                share: float = 1.0, tables: Mapping[str, str] | None = None,
                orders: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per customer active on ``as_of_date`` (with ``share`` < 1, of a fixed sample
    of the customers, :func:`sample_condition`): the raw signal values (counts, amounts,
    flags). ``tables``: the sample's copies to read (:func:`sampled_core`); ``orders``: the
    sample's orders already read (:func:`crmwh.modelling.orders.read_orders`), up to
    ``as_of_date`` or later (later ones are left out here).
    Streamed with COPY (CSV) rather than fetched row by row: 1,000,000 customers stay cheap."""
    sample = sample_condition(share)
    query = _reading(FEATURES_SQL.format(
        population=labels.POPULATION_SQL.format(sample=sample), sample=sample), tables or {})
    literals = {"as_of_date": sql.Literal(as_of_date),
                "as_of_end": sql.Literal(as_of.end_of(as_of_date)),
                "sla": sql.Literal(int(sla_hours))}
    for name, literal in literals.items():
        query = query.replace(f"%({name})s", literal.as_string(conn))
    buf = io.BytesIO()
    with conn.transaction(), conn.cursor() as cur, cur.copy(
        sql.SQL("copy ({}) to stdout with (format csv, header true)").format(sql.SQL(query))
    ) as copy:
        for chunk in copy:
            buf.write(chunk)
    buf.seek(0)
    frame = pd.read_csv(buf, dtype={**RAW_DTYPES, "customer_key": object},
                        keep_default_na=False, na_values={"satisfaction_c": [""]})
    for name in RAW_BOOLS:
        frame[name] = frame[name].eq("t")
    for name in RAW_DATES:
        frame[name] = pd.to_datetime(frame[name].replace("", None)).dt.date
    if orders is None:
        orders = read_orders(conn, as_of_date, sql.SQL(sample))
    else:
        orders = orders[orders["day"] <= day_number(as_of_date)]
    model = purchase_model(orders, as_of_date, frame["customer_key"], purchase_horizon())
    for name in PURCHASE_COLUMNS:
        frame[name] = model[name]
    frame["p_contract_lapse"] = renewals.contract_lapse(
        conn, as_of_date, as_of.end_of(as_of_date), frame, CONTRACT_WINDOW_DAYS)
    return frame


CONTRACT_WINDOW_DAYS = 90  # as contract_ends_90d
PURCHASE_COLUMNS = ("repeat_purchases", "p_alive", "p_no_purchase", "expected_purchases")


def purchase_horizon() -> int:
    """H of P(no purchase in the next H days): the dbt var ``churn_purchase_horizon_days``."""
    return int(dbt_vars()["churn_purchase_horizon_days"])


FIT_CUSTOMERS = 200_000


def fit_sample(n: int, limit: int = FIT_CUSTOMERS) -> np.ndarray:
    """Indices of the customers the purchase model's four parameters are fitted on: all up
    to ``limit``, else a seeded random ``limit`` of them (the closed forms then score all)."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, limit, replace=False))


def purchase_model(orders: pd.DataFrame, as_of_date: date, customer_keys: pd.Series,
                   horizon: int) -> pd.DataFrame:
    """Per customer key, from a BG/NBD fitted on ``orders`` up to ``as_of_date`` (the CLV
    engine's reader output and fit, crmwh.clv; on :func:`fit_sample` of the customers):
    repeat purchase days x, P(alive), P(no purchase in the next ``horizon`` days) and the
    expected purchases in them.

    P(alive) is NaN for one-time buyers: BG/NBD puts it at 1 for them (they can only drop
    out after a repeat purchase), which is no evidence of being alive. Customers without
    orders get NaN everywhere but x = 0; with fewer than 20 repeat buyers (no fit) the three
    model columns are NaN."""
    keys, summary = summarise_orders(orders, as_of_date)
    x = summary.frequency.astype(np.float64)
    out = pd.DataFrame({"repeat_purchases": x}, index=pd.Index(keys, dtype=object))
    fit_rows = fit_sample(len(x))
    if (x[fit_rows] > 0).sum() >= 20:
        params = bgnbd.fit(x[fit_rows], summary.recency[fit_rows], summary.T[fit_rows]).params
        alive = bgnbd.p_alive(params, x, summary.recency, summary.T)
        out["p_alive"] = np.where(x > 0, alive, np.nan)
        out["p_no_purchase"] = bgnbd.p_no_purchase(params, horizon, x, summary.recency,
                                                   summary.T)
        out["expected_purchases"] = bgnbd.conditional_expected_purchases(
            params, horizon, x, summary.recency, summary.T)
    else:
        for name in PURCHASE_COLUMNS[1:]:
            out[name] = np.nan
    found = out.reindex(customer_keys.to_numpy())
    found["repeat_purchases"] = found["repeat_purchases"].fillna(0).astype("int64")
    found.index = customer_keys.index
    return found


def to_features(raw: pd.DataFrame, as_of_date: date) -> pd.DataFrame:
    """The model's features (``signals.FEATURES``) from :func:`raw_signals` output."""
    day = pd.Timestamp(as_of_date)
    last = pd.to_datetime(raw["last_order_date"])
    first = pd.to_datetime(raw["first_active_date"])
    recency = (day - last.fillna(first)).dt.days.clip(lower=0).astype(float)
    orders_365 = raw["orders_365d"].astype(float)
    promo_share = raw["promo_365d"].astype(float) / orders_365.where(orders_365 > 0, 1.0)
    out = pd.DataFrame({
        "volume_drop": np.log1p(raw["orders_prev_90d"].astype(float))
        - np.log1p(raw["orders_90d"].astype(float)),
        "log_recency": np.log1p(recency),
        "log_complaints_90d": np.log1p(raw["complaints_90d"].astype(float)),
        "log_sla_missed_90d": np.log1p(raw["sla_missed_90d"].astype(float)),
        "rep_left": raw["rep_left"].astype(float),
        "log_overdue_amount": np.log1p(raw["overdue_amount"].astype(float).clip(lower=0)),
        "overdue_over_30": raw["overdue_over_30"].astype(float),
        "dissatisfaction": (1.0 - raw["satisfaction_c"].astype(float)).clip(lower=0).fillna(0.0),
        "promo_share": promo_share,
        "p_no_purchase": raw["p_no_purchase"].astype(float).fillna(
            last.isna().map({True: 1.0, False: 0.5})),
        "p_contract_lapse": raw["p_contract_lapse"].astype(float),
        "log_orders_365d": np.log1p(orders_365),
        "log_tenure": np.log1p((day - first).dt.days.clip(lower=0).astype(float)),
        "has_contract": raw["has_contract"].astype(float),
        "contract_ends_90d": raw["contract_ends_90d"].astype(float),
        "no_orders": last.isna().astype(float),
    }, index=raw.index)
    return out[list(FEATURE_NAMES)]
