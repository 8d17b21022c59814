"""The sales system's contacts, opportunities and shipments, and its soft deletes.

Behaviour of the generated rows (checked independently of the generator's own
arithmetic where it matters) and determinism. Landing them through the real extractor into a
scratch warehouse: tests/integration/test_source_sales.py.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from crmwh import source_entities
from crmwh_devkit.simulators import gen_sales
from crmwh_devkit.simulators.generator import GeneratorConfig, generate
from tests.support.entities import SALES_NEW as NEW

CONFIG = GeneratorConfig(seed=21, customers=4000, start=date(2026, 1, 1), days=120,
                         dirt_rate=0.01)
START = np.datetime64(CONFIG.start.isoformat(), "s")
END = START + np.timedelta64(CONFIG.days, "D")


@pytest.fixture(scope="module")
def data():
    return generate(CONFIG)


def _contract_customer(frame: pd.DataFrame, customers: pd.DataFrame) -> pd.Series:
    """The billing helper's rule: organisations and every customer id divisible by 7."""
    org = frame["customer_id"].map(customers.set_index("customer_id")["customer_type"])
    return (org == "organisation") | (frame["customer_id"] % 7 == 0)


def _order_net(data) -> pd.Series:
    lines = data.sales["order_lines"]
    net = lines["quantity"] * lines["unit_price"] * (1 - lines["discount_pct"])
    return net.groupby(lines["order_id"]).sum()


# --- shape -----------------------------------------------------------------------


@pytest.mark.parametrize("entity", NEW)
def test_frames_match_the_landing_contract(data, entity):
    frame = data.sales[entity]
    contract = source_entities.BY_TABLE[f"sales__{entity}"]
    assert list(frame.columns) == contract.column_names
    assert frame[contract.key].is_unique and len(frame) > 0
    for col in contract.columns:
        if col.type == "timestamptz":
            assert str(frame[col.name].dtype) == "datetime64[s]", col.name
        if col.accepted:
            assert set(frame[col.name].dropna()) <= set(col.accepted), col.name
        if col.min_value is not None:
            assert (frame[col.name] >= col.min_value).all(), col.name
        if col.required and not (entity == "contacts" and col.name == "name"):  # dirt
            assert frame[col.name].notna().all(), col.name
    assert (frame["updated_at"] < END).all()


# --- contacts --------------------------------------------------------------------


def test_one_primary_contact_per_customer_orgs_have_one_to_four(data):
    contacts, customers = data.sales["contacts"], data.sales["customers"]
    per = contacts.groupby("customer_id").agg(n=("contact_id", "size"),
                                              primaries=("is_primary", "sum"))
    assert set(per.index) == set(customers["customer_id"])
    assert (per["primaries"] == 1).all()
    kind = customers.set_index("customer_id")["customer_type"]
    assert (per.loc[kind[kind == "individual"].index, "n"] == 1).all()
    org_n = per.loc[kind[kind == "organisation"].index, "n"]
    assert org_n.between(1, 4).all() and set(org_n) == {1, 2, 3, 4}
    # the primary contact writes e-mail and phone exactly as the customer does
    prim = contacts[contacts["is_primary"]].merge(customers, on="customer_id",
                                                  suffixes=("", "_cust"))
    assert (prim["email"] == prim["email_cust"]).all()
    assert (prim["phone"] == prim["phone_cust"]).all()
    ind = prim[prim["customer_type"] == "individual"].dropna(subset=["name"])
    assert (ind["name"] == ind["name_cust"]).all()  # individuals are their own contact
    # other contacts have their own addresses and numbers
    others = contacts[~contacts["is_primary"]]
    assert others["email"].dropna().is_unique and others["phone"].dropna().is_unique
    assert not set(others["email"].dropna()) & set(customers["email"])
    assert not set(others["phone"].dropna()) & set(customers["phone"])


def test_contacts_who_leave_are_soft_deleted(data):
    contacts, customers = data.sales["contacts"], data.sales["customers"]
    gone = contacts[contacts["deleted_at"].notna()]
    assert 0.02 < len(gone) / len(contacts) < 0.15
    assert (gone["updated_at"] == gone["deleted_at"]).all()
    assert (gone["deleted_at"] < END).all()
    assert (gone["deleted_at"] >= START).mean() > 0.3  # people also left before the window
    # a deleted customer's contacts go with it; otherwise the primary stays
    deleted_cust = customers.loc[customers["deleted_at"].notna(), "customer_id"]
    of_deleted = contacts[contacts["customer_id"].isin(deleted_cust)]
    assert of_deleted["deleted_at"].notna().all()
    live = contacts[~contacts["customer_id"].isin(deleted_cust)]
    assert live.loc[live["is_primary"], "deleted_at"].isna().all()


# --- soft deletes on customers and orders ----------------------------------------


@pytest.mark.parametrize(("entity", "rate"), [("customers", gen_sales.CUSTOMER_DELETE_RATE),
                                              ("orders", gen_sales.ORDER_DELETE_RATE)])
def test_soft_deletes_on_customers_and_orders(data, entity, rate):
    frame = data.sales[entity]
    gone = frame[frame["deleted_at"].notna()]
    assert 0.4 * rate < len(gone) / len(frame) < 1.6 * rate
    assert (gone["updated_at"] == gone["deleted_at"]).all()
    assert ((gone["deleted_at"] >= START) & (gone["deleted_at"] < END)).all()
    since = "created_at" if entity == "customers" else "ordered_at"
    assert (gone["deleted_at"] > gone[since]).all()


def test_deleted_customers_are_dead_records_without_sales(data):
    # the sales database keeps only a row's latest version: a deleted customer first shows
    # up at its deletion, so it must not have orders, deals or shipments landing before that
    s = data.sales
    gone = s["customers"].set_index("customer_id")["deleted_at"].dropna()
    for entity in ("orders", "opportunities", "shipments"):
        assert not s[entity]["customer_id"].isin(gone.index).any(), entity
    contacts = s["contacts"][s["contacts"]["customer_id"].isin(gone.index)]
    assert (contacts["deleted_at"] == contacts["customer_id"].map(gone)).all()  # with it
    assert (contacts["updated_at"] == contacts["deleted_at"]).all()
    # and no contact, deal or shipment of a live customer precedes the customer's own row
    visible = s["customers"].set_index("customer_id")["updated_at"]
    for entity in ("contacts", "opportunities", "shipments"):
        frame = s[entity]
        assert (frame["updated_at"] >= frame["customer_id"].map(visible)).all(), entity


# --- shipments -------------------------------------------------------------------


def test_one_shipment_per_shipped_order_0_to_3_days_after_ordering(data):
    s = data.sales
    ships, orders = s["shipments"], s["orders"].set_index("order_id")
    known = ships[ships["order_id"].isin(orders.index)]
    assert known["order_id"].is_unique
    assert (orders.loc[known["order_id"], "status"] == "shipped").all()
    unknown = ships[~ships["order_id"].isin(orders.index)]
    shipped = orders.index[orders["status"] == "shipped"]
    assert len(known) + len(unknown) == len(shipped)  # every shipped order has its note
    assert len(set(shipped) - set(known["order_id"])) == len(unknown) > 0
    delay = known["shipped_at"].to_numpy() - orders.loc[known["order_id"], "ordered_at"].to_numpy()
    assert (delay >= np.timedelta64(0)).all() and (delay <= np.timedelta64(3, "D")).all()
    assert (orders.loc[known["order_id"], "customer_id"].to_numpy()
            == known["customer_id"].to_numpy()).all()
    assert ships["delivery_note_no"].str.fullmatch(r"DN-\d{8}").all()
    assert ships["delivery_note_no"].is_unique
    assert (ships["updated_at"] >= ships["shipped_at"]).all()


def test_mismatched_quantities_at_the_configured_share(data):
    s = data.sales
    ships = s["shipments"]
    order_qty = s["order_lines"].groupby("order_id")["quantity"].sum()
    known = ships[ships["order_id"].isin(order_qty.index)]
    differs = known["quantity"].to_numpy() != order_qty.loc[known["order_id"]].to_numpy()
    share = differs.mean()
    assert share == pytest.approx(gen_sales.QUANTITY_MISMATCH_RATE, abs=0.006)
    assert (known["quantity"] >= 1).all()


def test_contract_refs_follow_the_billing_rule_with_a_few_missing(data):
    s = data.sales
    ships = s["shipments"]
    contract = _contract_customer(ships, s["customers"])
    assert ships.loc[~contract, "contract_ref"].isna().all()
    with_ref = ships[contract & ships["contract_ref"].notna()]
    want = "CT-" + with_ref["customer_id"].map("{:07d}".format) + "-1"
    assert (with_ref["contract_ref"] == want).all()
    missing = ships.loc[contract, "contract_ref"].isna().mean()
    assert missing == pytest.approx(gen_sales.NO_CONTRACT_RATE, abs=0.015)
    assert missing > 0
    # mostly shipped to the customer's own city
    city = ships["customer_id"].map(s["customers"].set_index("customer_id")["city"])
    assert 0.9 < (ships["ship_to_city"] == city).mean() < 1.0


# --- opportunities ---------------------------------------------------------------


def test_opportunity_pipeline_stages_and_times(data):
    opps = data.sales["opportunities"]
    stage = next(c for c in source_entities.BY_TABLE["sales__opportunities"].columns
                 if c.name == "stage")
    assert set(opps["stage"]) == set(stage.accepted)
    assert (opps["updated_at"] >= opps["created_at"]).all()
    assert (opps["updated_at"] < END).all() and (opps["created_at"] < END).all()
    closed = opps["stage"].isin(["won", "lost"])
    # a closed deal's expected close date is its close; prospecting deals are not estimated yet
    assert (opps.loc[closed, "expected_close_date"]
            == opps.loc[closed, "updated_at"].dt.floor("D")).all()
    assert opps.loc[opps["stage"] == "prospecting", "expected_close_date"].isna().all()
    assert opps.loc[~closed & (opps["stage"] != "prospecting"), "expected_close_date"].notna().all()
    # every customer's deals are owned by the customer's rep
    rep = data.sales["customers"].set_index("customer_id")["sales_rep_id"]
    assert (opps["sales_rep_id"] == opps["customer_id"].map(rep)).all()
    won_share = (opps.loc[closed, "stage"] == "won").mean()
    assert 0.2 < won_share < 0.6


def test_churners_lose_more_opportunities_in_their_last_months(data):
    opps = data.sales["opportunities"]
    churned = data.truth["churn"].set_index("customer_id")["churned_at"]
    closed = opps[opps["stage"].isin(["won", "lost"])].copy()
    closed["churned_at"] = closed["customer_id"].map(churned)
    closed["lost"] = closed["stage"] == "lost"
    churner = closed[closed["churned_at"].notna()]
    late = churner["created_at"] >= churner["churned_at"] - pd.Timedelta(days=90)
    assert late.sum() > 50
    lost_late = churner.loc[late, "lost"].mean()
    lost_other_churner = churner.loc[~late, "lost"].mean()
    lost_non_churner = closed.loc[closed["churned_at"].isna(), "lost"].mean()
    assert lost_late > lost_non_churner + 0.2
    assert lost_late > lost_other_churner + 0.2


def test_won_opportunities_match_the_order_volume_that_follows(data):
    opps, orders = data.sales["opportunities"], data.sales["orders"]
    won = opps[opps["stage"] == "won"].sort_values(["customer_id", "updated_at"]).copy()
    won["close"] = won["updated_at"]
    nxt = won.groupby("customer_id")["close"].shift(-1)
    won["upper"] = np.minimum(won["close"] + pd.Timedelta(days=90),
                              nxt.fillna(pd.Timestamp("2100-01-01")))
    live = orders[orders["status"] != "cancelled"].copy()
    live["net"] = live["order_id"].map(_order_net(data))
    pairs = won[["opportunity_id", "customer_id", "close", "upper"]].merge(
        live[["customer_id", "ordered_at", "net"]], on="customer_id")
    pairs = pairs[(pairs["ordered_at"] > pairs["close"]) & (pairs["ordered_at"] <= pairs["upper"])]
    later = pairs.groupby("opportunity_id")["net"].sum()
    won = won.set_index("opportunity_id")
    matched = won.loc[later.index]
    ratio = matched["amount"] / later
    assert len(ratio) > 100
    assert ratio.median() == pytest.approx(1.0, abs=0.05)
    assert ratio.between(0.8, 1.25).mean() > 0.95
    # and, overall, the won pipeline is about the volume that followed it
    assert matched["amount"].sum() / later.sum() == pytest.approx(1.0, abs=0.05)


# --- dirt and determinism --------------------------------------------------------


def test_dirt_at_the_configured_rate(data):
    s = data.sales
    nameless = s["contacts"]["name"].isna().mean()
    unknown = (~s["shipments"]["order_id"].isin(s["orders"]["order_id"])).mean()
    for share in (nameless, unknown):
        assert 0.4 * CONFIG.dirt_rate < share < 1.8 * CONFIG.dirt_rate
    clean = generate(GeneratorConfig(seed=21, customers=500, days=60, dirt_rate=0.0))
    assert clean.sales["contacts"]["name"].notna().all()
    assert clean.sales["shipments"]["order_id"].isin(clean.sales["orders"]["order_id"]).all()


def test_same_seed_same_rows_other_seed_other_rows(data):
    small = GeneratorConfig(seed=21, customers=600, days=90)
    a, b = generate(small), generate(small)
    c = generate(GeneratorConfig(seed=22, customers=600, days=90))
    for name in (*NEW, "customers", "orders"):
        pd.testing.assert_frame_equal(a.sales[name], b.sales[name])
        assert not a.sales[name].equals(c.sales[name]), name
