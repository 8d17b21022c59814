"""Revenue, margin and orders per sales customer as of a date, computed in pandas from the
simulator's own frames: the truth the end-to-end tests check the value mart against."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd


def expected_customer_value(generated, as_of_date: date) -> pd.DataFrame:
    """An independent pandas computation of revenue and margin per customer as of a date."""
    s = generated.sales
    cutoff = np.datetime64(as_of_date + timedelta(days=1))
    # visible to the extractor by the cutoff, and not soft-deleted (the mart leaves those out)
    customers = s["customers"][(s["customers"]["updated_at"] < cutoff)
                               & s["customers"]["deleted_at"].isna()]
    orders = s["orders"]
    visible = orders[(orders["updated_at"] < cutoff) & (orders["ordered_at"] < cutoff)
                     & (orders["status"] != "cancelled") & orders["deleted_at"].isna()]
    lines = s["order_lines"].merge(visible[["order_id", "customer_id"]], on="order_id")
    lines = lines.merge(s["products"][["product_id", "unit_cost"]], on="product_id")
    lines["revenue"] = lines["quantity"] * lines["unit_price"] * (1 - lines["discount_pct"])
    lines["cost"] = lines["quantity"] * lines["unit_cost"]
    per = lines.groupby("customer_id").agg(revenue=("revenue", "sum"), cost=("cost", "sum"),
                                           orders=("order_id", "nunique"))
    out = customers[["customer_id"]].set_index("customer_id").join(per).fillna(0)
    out["margin"] = out["revenue"] - out["cost"]
    return out
