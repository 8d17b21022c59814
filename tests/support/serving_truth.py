"""Known answers to the managers' questions (DOMAIN §7), computed with pandas from the
generator's output: the source systems' rows as generated, never the warehouse's tables or SQL.

The rules mirror what the questions mean (docs/serving.md): the warehouse sees a source row
when it was last updated by the end of the as-of date; counted orders are not cancelled and
not deleted; live customers are not deleted and were created by the as-of date.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from crmwh.settings import dbt_vars

VARS = dbt_vars()  # the project's business-rule parameters, read, never copied
LAPSED_DAYS = VARS["one_time_buyer_lapsed_days"]
TICKET_COST = VARS["ticket_cost_by_type"]


class Truth:
    def __init__(self, generated, as_of_date: date, unmatched_tickets: frozenset[int] = frozenset()
                 ) -> None:
        self.as_of_date = as_of_date
        end = pd.Timestamp(as_of_date + timedelta(days=1))
        sales = generated.sales

        def seen(df: pd.DataFrame) -> pd.DataFrame:
            return df[_naive(df["updated_at"]) < end]

        customers = seen(sales["customers"])
        customers = customers[customers["deleted_at"].isna()
                              & (_naive(customers["created_at"]) < end)]
        self.customers = customers.set_index("customer_id")
        orders = seen(sales["orders"]).copy()
        orders["order_date"] = _naive(orders["ordered_at"]).dt.normalize()
        orders = orders[orders["order_date"] < end]
        orders = orders[orders["customer_id"].isin(self.customers.index)]
        self.orders_placed = orders
        self.orders = orders[(orders["status"] != "cancelled") & orders["deleted_at"].isna()]
        lines = seen(sales["order_lines"]).merge(
            self.orders[["order_id", "customer_id", "order_date", "channel"]], on="order_id")
        products = sales["products"].set_index("product_id")
        lines["department"] = products.loc[lines["product_id"], "category"].to_numpy()
        unit_cost = products.loc[lines["product_id"], "unit_cost"].astype(float).to_numpy()
        gross = lines["quantity"] * lines["unit_price"].astype(float)
        net = gross - (gross * lines["discount_pct"].astype(float)).round(4)
        lines["net_revenue"] = net
        lines["gross_margin"] = net - lines["quantity"] * unit_cost
        self.lines = lines
        opps = seen(sales["opportunities"])
        self.opportunities = opps[_naive(opps["created_at"]) < end]
        # billing and service, resolved to customers by the generator's ground truth
        account_of = generated.truth["identity"].set_index("billing_account_id")["customer_id"]
        notes = seen(generated.billing["credit_notes"]).copy()
        notes["customer_id"] = notes["account_id"].map(account_of)
        notes["day"] = pd.to_datetime(notes["issued_on"])
        self.credit_notes = notes[notes["day"] < end]
        tickets = seen(generated.service["tickets"]).copy()
        tickets = tickets[tickets["priority"].notna()]  # quarantined on landing (missing value)
        # tickets the warehouse reported it could not match to a customer carry no customer's
        # cost (DOMAIN §1: it "reports what it could not match")
        tickets = tickets[~tickets["ticket_id"].isin(unmatched_tickets)]
        tickets["customer_id"] = tickets["ticket_id"].map(
            generated.truth["service_tickets"].set_index("ticket_id")["customer_id"])
        tickets["day"] = _naive(tickets["created_at"]).dt.normalize()
        self.tickets = tickets[tickets["day"] < end]

    # --- per question --------------------------------------------------------------------
    def orders_per_customer(self) -> pd.Series:
        return self.orders.groupby("customer_id").size().reindex(self.customers.index,
                                                                 fill_value=0)

    def buying_customers(self) -> int:
        return int((self.orders_per_customer() >= 1).sum())

    def repeat_buyers(self) -> int:
        return int((self.orders_per_customer() >= 2).sum())

    def bought_once_and_stopped(self) -> int:
        counts = self.orders_per_customer()
        once = counts[counts == 1].index
        last = self.orders[self.orders["customer_id"].isin(once)].groupby("customer_id")[
            "order_date"].max()
        days = (pd.Timestamp(self.as_of_date) - last).dt.days
        return int((days > LAPSED_DAYS).sum())

    def never_contacted_by_channel(self) -> dict[str, int]:
        touched = set(self.orders_placed["customer_id"]) | set(self.opportunities["customer_id"])
        never = self.customers[~self.customers.index.isin(touched)]
        return never.groupby("acquisition_channel").size().to_dict()

    def margin_by_customer(self) -> pd.Series:
        return self.lines.groupby("customer_id")["gross_margin"].sum()

    def net_profit_12m(self) -> pd.Series:
        """DOMAIN §2 net profit over the trailing 12 calendar months to the as-of date (the
        as-of month and the 11 before): gross margin - credit notes - cost to serve."""
        since = pd.Timestamp(self.as_of_date).to_period("M").start_time - pd.DateOffset(months=11)
        margin = self.lines[self.lines["order_date"] >= since].groupby("customer_id")[
            "gross_margin"].sum()
        notes = self.credit_notes[self.credit_notes["day"] >= since].groupby("customer_id")[
            "amount"].sum()
        t = self.tickets[self.tickets["day"] >= since]
        serve = t["ticket_type"].map(TICKET_COST).groupby(t["customer_id"]).sum()
        live = self.customers.index
        return (margin.reindex(live, fill_value=0) - notes.reindex(live, fill_value=0)
                - serve.reindex(live, fill_value=0))

    def by_channel(self) -> pd.DataFrame:
        return self.lines.groupby("channel").agg(
            net_revenue=("net_revenue", "sum"), gross_margin=("gross_margin", "sum"),
            buying_customers=("customer_id", "nunique"))

    def sales_report(self, grain: str) -> pd.DataFrame:
        period = {"day": "D", "month": "M", "year": "Y"}[grain]
        lines = self.lines.assign(
            period_start=self.lines["order_date"].dt.to_period(period).dt.start_time.dt.date)
        return lines.groupby(["period_start", "customer_id", "department"]).agg(
            net_revenue=("net_revenue", "sum"), gross_margin=("gross_margin", "sum"),
            quantity=("quantity", "sum"), lines_count=("order_line_id", "size"))


def _naive(s: pd.Series) -> pd.Series:
    s = pd.to_datetime(s)
    return s.dt.tz_convert("UTC").dt.tz_localize(None) if s.dt.tz is not None else s
