"""Deterministic generator of the three source systems' data.

Same seed and knobs give byte-identical output. Everything is vectorised with
NumPy: customer behaviour follows a buy-till-you-die process (a latent purchase
rate per customer and a dropout time, DOMAIN §2), with acquisition over time,
promotions, late updates, tickets rising before churn, and dirty rows at
configurable rates. Ground truth (identity mapping, churn dates) is returned
separately and never read by the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

FIRST = np.array(
    """Wei Fang Min Jing Li Na Lei Yan Tao Hui Jun Ying Bo Xin Hao Mei Chen Lan Qiang
Anna Ben Carla David Elena Farid Grace Hugo Ines Jonas Kira Liam Maya Noah Olga Pavel Quinn Rosa Sam
Tara Umar Vera Will Xena Yusuf Zoe""".split()
)
LAST = np.array(
    """Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo He Lin Luo
Smith Jones Garcia Muller Rossi Silva Kim Novak Berg Costa Ivanov Jensen Kowalski Lopez Moreau Nagy
Olsen Petrov Quist Reyes Sato Tanaka Ueda Vargas Weber Young Zeller""".split()
)
ORG_WORDS = np.array(
    """Apex Blue Cedar Delta Ever Fusion Granite Harbor Iron Jade Kestrel Lumen
Meridian Nova Orbit Pioneer Quartz River Summit Titan Unity Vertex Willow Zenith""".split()
)
ORG_SUFFIX = np.array(["Trading Co", "Industries", "Holdings", "Logistics", "Retail", "Labs"])
CITIES = np.array(
    [
        "Shanghai",
        "Beijing",
        "Shenzhen",
        "Hangzhou",
        "Chengdu",
        "Berlin",
        "Lisbon",
        "Austin",
        "Toronto",
        "Osaka",
    ]
)
CATEGORIES = np.array(["hardware", "software", "consumables", "services", "spare_parts"])
ACQ_CHANNELS = np.array(["web", "referral", "field_sales", "partner", "event"])
ACQ_P = np.array([0.38, 0.22, 0.18, 0.12, 0.10])
ORDER_CHANNELS = np.array(["web", "phone", "field_sales", "partner"])
TICKET_TYPES = np.array(["complaint", "inquiry", "repair", "request"])
TICKET_CHANNELS = np.array(["phone", "email", "web", "chat"])
PRIORITIES = np.array(["low", "normal", "high", "urgent"])
ROOT_CAUSES = np.array(["product_defect", "delivery", "billing", "communication", "usage", "other"])
AGENTS = np.array([f"agent{i:02d}" for i in range(1, 25)])
PAY_METHODS = np.array(["bank_transfer", "card", "direct_debit"])
DAY = np.timedelta64(1, "D")
SEC = np.timedelta64(1, "s")


@dataclass(frozen=True)
class GeneratorConfig:
    seed: int = 42
    customers: int = 500
    start: date = date(2026, 1, 1)
    days: int = 120
    products: int = 40
    dirt_rate: float = 0.005  # share of rows made dirty per dirt kind
    late_file_rate: float = 0.05  # billing files that arrive a day or two late
    redelivery_rate: float = 0.03  # billing files delivered again later


@dataclass
class GeneratedData:
    config: GeneratorConfig
    sales: dict[str, pd.DataFrame] = field(default_factory=dict)
    billing: dict[str, pd.DataFrame] = field(default_factory=dict)
    service: dict[str, pd.DataFrame] = field(default_factory=dict)
    truth: dict[str, pd.DataFrame] = field(default_factory=dict)


@dataclass
class Population:
    """The latent state behind every system's rows, shared by the per-source generators.

    Per customer (index i, id ``ids[i]``): identity fields, acquisition time,
    latent purchase rate, dropout time (true churn), behaviour flags. Per order
    (index j): the customer index, time, status and net amount.
    """

    config: GeneratorConfig
    start: np.datetime64
    end: np.datetime64
    ids: np.ndarray
    created: np.ndarray
    is_org: np.ndarray
    name: np.ndarray
    email: np.ndarray
    phone: np.ndarray
    tax_id: np.ndarray
    city: np.ndarray
    rep: np.ndarray  # sales_rep_id per customer
    rep_left: np.ndarray  # the customer's rep left the firm
    rate: np.ndarray  # purchases per day while alive
    alive_from: np.ndarray
    dropout_at: np.ndarray  # true churn time (may lie after the window)
    promo_only: np.ndarray
    late_payer: np.ndarray
    account_ids: np.ndarray  # billing's own key per customer
    order_cust: np.ndarray  # customer index per order
    order_ids: np.ndarray
    ordered_at: np.ndarray
    order_status: np.ndarray
    order_net: np.ndarray
    order_quantity: np.ndarray
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)  # generated so far


def _ts(start: date) -> np.datetime64:
    return np.datetime64(start.isoformat(), "s")


def _email_variants(rng: np.random.Generator, emails: np.ndarray) -> np.ndarray:
    """The same address as another system writes it: case and spaces differ."""
    style = rng.integers(0, 3, emails.size)
    upper = np.char.upper(emails.astype(str))
    padded = np.char.add(np.char.add(" ", emails.astype(str)), " ")
    return np.where(style == 0, emails, np.where(style == 1, upper, padded))


def _phone_variants(rng: np.random.Generator, digits: np.ndarray) -> np.ndarray:
    d = digits.astype(str)
    style = rng.integers(0, 3, d.size)
    a, b, c = (np.char.ljust(np.char.rstrip(x), 1) for x in (d, d, d))
    dashed = np.char.add(
        np.char.add(np.char.add(np.array([s[:3] for s in a]), "-"), np.array([s[3:7] for s in b])),
        np.char.add("-", np.array([s[7:] for s in c])),
    )
    spaced = np.char.add("+86 ", np.array([f"{s[:3]} {s[3:7]} {s[7:]}" for s in d]))
    return np.where(style == 0, d, np.where(style == 1, dashed, spaced))


def generate(config: GeneratorConfig) -> GeneratedData:
    rng = np.random.default_rng(config.seed)
    out = GeneratedData(config)
    start = _ts(config.start)
    end = start + config.days * DAY
    n = config.customers

    # --- sales reps --------------------------------------------------------
    n_reps = max(3, n // 60)
    rep_ids = np.arange(1, n_reps + 1)
    hired = start - rng.integers(60, 1500, n_reps) * DAY
    leaves = rng.random(n_reps) < 0.2
    left_on = np.where(
        leaves, start + rng.integers(5, max(6, config.days), n_reps) * DAY, np.datetime64("NaT")
    )
    rep_first = FIRST[rng.integers(0, FIRST.size, n_reps)]
    rep_last = LAST[rng.integers(0, LAST.size, n_reps)]
    reps = pd.DataFrame(
        {
            "sales_rep_id": rep_ids,
            "name": np.char.add(np.char.add(rep_first, " "), rep_last),
            "email": [f"rep{i}@sales.example.com" for i in rep_ids],
            "hired_on": hired.astype("datetime64[D]"),
            "left_on": pd.to_datetime(left_on).date,
            "updated_at": np.where(leaves, left_on, hired),
        }
    )

    # --- customers ---------------------------------------------------------
    ids = np.arange(1, n + 1)
    # a third existed before the window, the rest are acquired over it
    pre = rng.random(n) < 0.35
    created = np.where(
        pre,
        start - rng.integers(30, 720, n) * DAY,
        start + (rng.random(n) * config.days * 86400).astype(np.int64) * SEC,
    ).astype("datetime64[s]")
    order = np.argsort(created, kind="stable")
    created = created[order]
    is_org = rng.random(n) < 0.25
    first = FIRST[rng.integers(0, FIRST.size, n)]
    last = LAST[rng.integers(0, LAST.size, n)]
    org_name = np.char.add(
        np.char.add(ORG_WORDS[rng.integers(0, ORG_WORDS.size, n)], " "),
        ORG_SUFFIX[rng.integers(0, ORG_SUFFIX.size, n)],
    )
    person = np.char.add(np.char.add(first, " "), last)
    name = np.where(is_org, np.char.add(np.char.add(org_name, " "), ids.astype(str)), person)
    local = np.char.lower(np.char.add(np.char.add(first, "."), last))
    email = np.char.add(np.char.add(local, ids.astype(str)), "@mail.example.com")
    phone = np.char.add("13", np.char.zfill((ids * 7919 % 10**9).astype(str), 9))
    tax_id = np.where(
        is_org, np.char.add("91310", np.char.zfill((ids * 104729).astype(str), 13)), ""
    )
    acq = ACQ_CHANNELS[rng.choice(ACQ_CHANNELS.size, n, p=ACQ_P)]
    # referrals point at an earlier customer
    referrer = np.where(
        (acq == "referral") & (np.arange(n) > 0),
        ids[np.maximum(0, (rng.random(n) * np.arange(n)).astype(int))],
        0,
    )
    rep = rep_ids[rng.integers(0, n_reps, n)]
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "customer_type": np.where(is_org, "organisation", "individual"),
            "name": name,
            "email": email,
            "phone": phone,
            "tax_id": tax_id,
            "city": CITIES[rng.integers(0, CITIES.size, n)],
            "acquisition_channel": acq,
            "referrer_customer_id": referrer,
            "sales_rep_id": rep,
            "created_at": created,
            "updated_at": created,
            "deleted_at": np.full(n, np.datetime64("NaT"), dtype="datetime64[s]"),
        }
    )

    # --- latent behaviour (buy till you die) -------------------------------
    rate = rng.gamma(shape=0.9, scale=1 / 18.0, size=n)  # purchases per day
    rate *= np.where(is_org, 1.6, 1.0)
    dropout_days = rng.exponential(scale=240.0, size=n)
    rep_left = ~pd.isna(reps.set_index("sales_rep_id").loc[rep, "left_on"].to_numpy())
    dropout_days = np.where(rep_left, dropout_days * 0.5, dropout_days)  # reps leaving hurts
    alive_from = np.maximum(created, start - 365 * DAY)
    dropout_at = (alive_from + (dropout_days * 86400).astype(np.int64) * SEC).astype(
        "datetime64[s]"
    )
    active_end = np.minimum(dropout_at, end)
    active_days = np.maximum((active_end - alive_from) / DAY, 0)
    promo_only = rng.random(n) < 0.08
    late_payer = rng.random(n) < 0.12
    # --- orders ------------------------------------------------------------
    n_orders = rng.poisson(rate * active_days)
    cust_idx = np.repeat(np.arange(n), n_orders)
    m = cust_idx.size
    offs = rng.random(m) * active_days[cust_idx]
    # seasonality: thin out orders in quiet weeks
    ordered = alive_from[cust_idx] + (offs * 86400).astype(np.int64) * SEC
    dow = (ordered.astype("datetime64[D]").astype(np.int64) + 3) % 7
    keep = ~((dow >= 5) & (rng.random(m) < 0.4))
    cust_idx, ordered = cust_idx[keep], ordered[keep]
    sort = np.lexsort((cust_idx, ordered))
    cust_idx, ordered = cust_idx[sort], ordered[sort]
    m = cust_idx.size
    order_ids = np.arange(1, m + 1)
    promo = np.where(promo_only[cust_idx], True, rng.random(m) < 0.15)
    cancelled = rng.random(m) < 0.04
    status = np.where(
        cancelled, "cancelled", np.where(ordered < end - 3 * DAY, "shipped", "placed")
    )
    # status changes arrive later: updated_at after ordered_at (late updates)
    lag = np.where(status == "placed", 0, rng.integers(3600, 3 * 86400, m)) * SEC
    upd = np.minimum(ordered + lag, end - SEC)
    orders = pd.DataFrame(
        {
            "order_id": order_ids,
            "customer_id": ids[cust_idx],
            "sales_rep_id": rep[cust_idx],
            "ordered_at": ordered,
            "channel": ORDER_CHANNELS[rng.choice(4, m, p=[0.45, 0.2, 0.25, 0.1])],
            "promotion_code": np.where(
                promo, "PROMO" + pd.Series(ordered).dt.strftime("%y%m").to_numpy(dtype=str), ""
            ),
            "status": status,
            "updated_at": upd,
            "deleted_at": np.full(m, np.datetime64("NaT"), dtype="datetime64[s]"),
        }
    )

    # --- products ----------------------------------------------------------
    p = config.products
    list_price = np.round(rng.lognormal(4.0, 0.8, p), 2)
    products = pd.DataFrame(
        {
            "product_id": np.arange(1, p + 1),
            "sku": [f"SKU-{i:05d}" for i in range(1, p + 1)],
            "name": [
                f"{CATEGORIES[i % CATEGORIES.size].title()} item {i}" for i in range(1, p + 1)
            ],
            "category": CATEGORIES[np.arange(p) % CATEGORIES.size],
            "list_price": list_price,
            "unit_cost": np.round(list_price * rng.uniform(0.45, 0.8, p), 2),
            "sole_supplier": rng.random(p) < 0.1,
            "updated_at": np.full(p, start - 400 * DAY),
        }
    )

    # --- order lines -------------------------------------------------------
    n_lines = rng.integers(1, 5, m)
    line_order = np.repeat(np.arange(m), n_lines)
    k = line_order.size
    prod_idx = rng.integers(0, p, k)
    discount = np.where(promo[line_order], rng.choice([0.1, 0.15, 0.2], k), 0.0)
    lines = pd.DataFrame(
        {
            "order_line_id": np.arange(1, k + 1),
            "order_id": order_ids[line_order],
            "product_id": prod_idx + 1,
            "quantity": rng.integers(1, 6, k),
            "unit_price": list_price[prod_idx],
            "discount_pct": discount,
            "updated_at": ordered[line_order],
        }
    )
    line_net = lines["quantity"].to_numpy() * lines["unit_price"].to_numpy() * (1 - discount)
    order_net = np.bincount(line_order, weights=line_net, minlength=m)
    order_qty = np.bincount(line_order, weights=lines["quantity"].to_numpy(), minlength=m)

    out.sales = {
        "sales_reps": reps,
        "customers": customers,
        "products": products,
        "orders": orders,
        "order_lines": lines,
    }

    # --- billing -----------------------------------------------------------
    acct_ids = np.array([f"BA-{(i * 2654435761) % 10**8:08d}" for i in ids])
    acct_created = created + rng.integers(0, 86400, n) * SEC
    out.billing["accounts"] = pd.DataFrame(
        {
            "account_id": acct_ids,
            "account_name": np.char.upper(name.astype(str)),
            "email": _email_variants(rng, email),
            "phone": _phone_variants(rng, phone),
            "tax_id": tax_id,
            "created_at": acct_created,
            "updated_at": acct_created,
        }
    )
    inv_mask = ~cancelled
    inv_orders = np.nonzero(inv_mask)[0]
    q = inv_orders.size
    inv_date = (ordered[inv_orders] + rng.integers(0, 2, q) * DAY).astype("datetime64[D]")
    pay_delay = np.where(
        late_payer[cust_idx[inv_orders]], rng.integers(35, 120, q), rng.integers(1, 30, q)
    )
    paid_at = inv_date.astype("datetime64[s]") + pay_delay * DAY + rng.integers(0, 86400, q) * SEC
    is_paid = paid_at < end
    written_off = late_payer[cust_idx[inv_orders]] & ~is_paid & (rng.random(q) < 0.1)
    inv_status = np.where(is_paid, "paid", np.where(written_off, "written_off", "open"))
    inv_ids = np.array([f"INV-{i:08d}" for i in order_ids[inv_orders]])
    inv_upd = np.where(is_paid, paid_at, inv_date.astype("datetime64[s]") + 3600 * SEC)
    out.billing["invoices"] = pd.DataFrame(
        {
            "invoice_id": inv_ids,
            "account_id": acct_ids[cust_idx[inv_orders]],
            "invoice_date": inv_date,
            "due_date": inv_date + 30 * DAY,
            "amount": np.round(order_net[inv_orders], 2),
            "currency": "CNY",
            "status": inv_status,
            "updated_at": inv_upd,
        }
    )
    pi = np.nonzero(is_paid)[0]
    out.billing["payments"] = pd.DataFrame(
        {
            "payment_id": np.array([f"PAY-{i:08d}" for i in order_ids[inv_orders[pi]]]),
            "invoice_id": inv_ids[pi],
            "account_id": acct_ids[cust_idx[inv_orders[pi]]],
            "paid_at": paid_at[pi],
            "amount": np.round(order_net[inv_orders[pi]], 2),
            "method": PAY_METHODS[rng.integers(0, 3, pi.size)],
            "updated_at": paid_at[pi],
        }
    )

    # --- service tickets: more, and more complaints, before churn ----------
    t_rate = 0.006 + 0.01 * rng.random(n)
    near = np.clip((dropout_at - 60 * DAY), alive_from, end)
    base_days = np.maximum((near - alive_from) / DAY, 0)
    pre_days = np.maximum((active_end - near) / DAY, 0)
    n_base = rng.poisson(t_rate * base_days)
    n_pre = rng.poisson(t_rate * 4 * pre_days)
    t_cust = np.concatenate([np.repeat(np.arange(n), n_base), np.repeat(np.arange(n), n_pre)])
    t_start = np.concatenate([np.repeat(alive_from, n_base), np.repeat(near, n_pre)])
    t_len = np.concatenate([np.repeat(base_days, n_base), np.repeat(pre_days, n_pre)])
    t_pre = np.concatenate([np.zeros(n_base.sum(), bool), np.ones(n_pre.sum(), bool)])
    t_created = t_start + (rng.random(t_cust.size) * t_len * 86400).astype(np.int64) * SEC
    ts = np.lexsort((t_cust, t_created))
    t_cust, t_created, t_pre = t_cust[ts], t_created[ts], t_pre[ts]
    tn = t_cust.size
    t_type = np.where(
        t_pre & (rng.random(tn) < 0.6),
        "complaint",
        TICKET_TYPES[rng.choice(4, tn, p=[0.2, 0.45, 0.2, 0.15])],
    )
    first_resp = (
        t_created
        + np.where(t_pre, rng.integers(3600, 72 * 3600, tn), rng.integers(300, 20 * 3600, tn)) * SEC
    )
    resolved = first_resp + rng.integers(3600, 10 * 86400, tn) * SEC
    resolved_known = resolved < end
    t_upd = np.where(resolved_known, resolved, np.minimum(first_resp, end - SEC))
    out.service["tickets"] = pd.DataFrame(
        {
            "ticket_id": np.arange(1, tn + 1),
            "requester_email": _email_variants(rng, email[t_cust]),
            "requester_phone": _phone_variants(rng, phone[t_cust]),
            "requester_name": name[t_cust],
            "ticket_type": t_type,
            "channel": TICKET_CHANNELS[rng.integers(0, 4, tn)],
            "priority": PRIORITIES[rng.choice(4, tn, p=[0.3, 0.45, 0.18, 0.07])],
            "created_at": t_created,
            "first_response_at": np.where(first_resp < end, first_resp, np.datetime64("NaT")),
            "resolved_at": np.where(resolved_known, resolved, np.datetime64("NaT")),
            "root_cause": ROOT_CAUSES[rng.integers(0, ROOT_CAUSES.size, tn)],
            "agent": AGENTS[rng.integers(0, AGENTS.size, tn)],
            "updated_at": t_upd,
        }
    )

    out.truth["identity"] = pd.DataFrame(
        {
            "customer_id": ids,
            "billing_account_id": acct_ids,
            "email": email,
            "phone": phone,
        }
    )
    out.truth["service_tickets"] = pd.DataFrame(
        {"ticket_id": np.arange(1, tn + 1), "customer_id": ids[t_cust]}
    )
    out.truth["churn"] = pd.DataFrame(
        {
            "customer_id": ids,
            "churned_at": np.where(dropout_at < end, dropout_at, np.datetime64("NaT")),
        }
    )
    pop = Population(
        config=config, start=start, end=end, ids=ids, created=created, is_org=is_org,
        name=name, email=email, phone=phone, tax_id=tax_id,
        city=customers["city"].to_numpy(), rep=rep, rep_left=rep_left, rate=rate,
        alive_from=alive_from, dropout_at=dropout_at, promo_only=promo_only,
        late_payer=late_payer, account_ids=acct_ids, order_cust=cust_idx, order_ids=order_ids,
        ordered_at=ordered, order_status=status, order_net=order_net,
        order_quantity=order_qty.astype(np.int64),
        frames={**{f"sales.{k}": v for k, v in out.sales.items()},
                **{f"billing.{k}": v for k, v in out.billing.items()},
                **{f"service.{k}": v for k, v in out.service.items()}},
    )
    # each source's further entities, each with its own random stream (adding one
    # entity never changes the rows of another)
    from crmwh.sources import gen_billing, gen_identity, gen_sales, gen_service

    out.sales.update(gen_sales.generate(pop, np.random.default_rng([config.seed, 1])))
    out.billing.update(gen_billing.generate(pop, np.random.default_rng([config.seed, 2])))
    service = gen_service.generate(pop, np.random.default_rng([config.seed, 3]))
    out.truth["service_surveys"] = service.pop("truth_surveys")
    out.service.update(service)
    gen_identity.apply(np.random.default_rng([config.seed, 4]), pop, out)
    _inject_dirt(rng, out, config)
    return out


def _inject_dirt(rng: np.random.Generator, data: GeneratedData, config: GeneratorConfig) -> None:
    """Dirty rows at a configurable rate: the extractors must quarantine, not lose them."""
    rate = config.dirt_rate
    if rate <= 0:
        return

    def pick(df: pd.DataFrame) -> np.ndarray:
        return np.nonzero(rng.random(len(df)) < rate)[0]

    inv = data.billing["invoices"]
    inv["amount"] = inv["amount"].astype(object)
    inv.loc[inv.index[pick(inv)], "amount"] = -1.0  # negative amounts
    bad = pick(inv)
    inv.loc[inv.index[bad], "amount"] = "12,50 CNY"  # malformed number
    pay = data.billing["payments"]
    pay["invoice_id"] = pay["invoice_id"].astype(object)
    pay.loc[pay.index[pick(pay)], "invoice_id"] = None  # missing required value
    # exact duplicates: the same row delivered twice in a file
    data.billing["invoices"] = pd.concat([inv, inv.iloc[pick(inv)]]).sort_index(kind="stable")
    tickets = data.service["tickets"]
    tickets["priority"] = tickets["priority"].astype(object)
    tickets.loc[tickets.index[pick(tickets)], "priority"] = None  # missing required value
