"""The order history the models are fitted on, read from ``core.fct_orders``."""

from __future__ import annotations

import io
from datetime import date

import pandas as pd
import psycopg
from psycopg import sql

ORDERS_SQL = """
    copy (
        select customer_key,
               order_date - date '1970-01-01' as day,
               gross_margin::double precision
        from core.fct_orders
        where customer_key is not null
          and order_date <= {as_of_date}
          and not coalesce(is_cancelled, false)
          and not coalesce(is_deleted, false)
          and {sample}
    ) to stdout with (format csv)
"""
# Same-day orders are merged by crmwh.clv.summary in NumPy: a SQL "group by customer, day"
# spills to disk at default work_mem and took longer than the whole fit at 1M customers.


EVERY_CUSTOMER = sql.SQL("true")


def read_orders(conn: psycopg.Connection, as_of_date: date,
                sample: sql.Composable = EVERY_CUSTOMER) -> pd.DataFrame:
    """Non-cancelled, non-deleted orders up to ``as_of_date`` (of the customers ``sample``
    selects, a condition on customer_key): customer_key (object), day (int64, days since
    1970-01-01), gross_margin (float64, NaN when null)."""
    query = sql.SQL(ORDERS_SQL).format(as_of_date=sql.Literal(as_of_date), sample=sample)
    buf = io.BytesIO()
    with conn.transaction(), conn.cursor() as cur, cur.copy(query) as copy:
        for chunk in copy:
            buf.write(chunk)
    if buf.tell() == 0:
        return pd.DataFrame({"customer_key": pd.Series(dtype=object),
                             "day": pd.Series(dtype="int64"),
                             "gross_margin": pd.Series(dtype="float64")})
    buf.seek(0)
    return pd.read_csv(
        buf, header=None, names=["customer_key", "day", "gross_margin"],
        dtype={"customer_key": object, "day": "int64", "gross_margin": "float64"},
        keep_default_na=False, na_values={"gross_margin": [""]},
    )
