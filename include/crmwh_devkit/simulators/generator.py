"""Deterministic generator of the three source systems' data.

Same seed and knobs give byte-identical output. Everything is vectorised with
NumPy: customer behaviour follows a buy-till-you-die process
(:func:`~crmwh_devkit.simulators.population.draw_behaviour`), with acquisition
over time, promotions, late updates, tickets rising before churn, and dirty rows
at configurable rates. Ground truth (identity mapping, churn dates) is returned
separately and never read by the warehouse.

Customers come in chunks (:mod:`~crmwh_devkit.simulators.chunks`), so that a million
of them fit in a few GB: :func:`generate_chunks` yields one chunk's rows at a time,
:func:`generate` concatenates them. Within a chunk, the base rows (customers, orders,
order lines, billing's accounts, invoices and payments, service tickets; reps and
products once) and the dirt come from one random stream, drawn in a fixed order: the
steps of :func:`_chunk` must keep their order. Each source's further entities
(``gen_*``) have their own stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from crmwh_devkit.simulators import chunks, gen_billing, gen_identity, gen_sales, gen_service
from crmwh_devkit.simulators.population import (
    ACQ_CHANNELS,
    ACQ_P,
    AGENTS,
    CATEGORIES,
    CITIES,
    DAY,
    FIRST,
    LAST,
    ORDER_CHANNELS,
    ORG_SUFFIX,
    ORG_WORDS,
    PAY_METHODS,
    PRIORITIES,
    ROOT_CAUSES,
    SEC,
    TICKET_CHANNELS,
    TICKET_TYPES,
    Behaviour,
    Customers,
    GeneratedData,
    GeneratorConfig,
    IdBase,
    Population,
    draw_behaviour,
    email_variants,
    phone_variants,
    timestamp,
)


@dataclass
class _Customers(Customers):
    frame: pd.DataFrame  # sales.customers as generated


@dataclass(frozen=True)
class _Orders:
    cust_idx: np.ndarray  # customer index per order
    ordered: np.ndarray
    order_ids: np.ndarray
    promo: np.ndarray
    cancelled: np.ndarray
    status: np.ndarray
    frame: pd.DataFrame


def generate(config: GeneratorConfig) -> GeneratedData:
    """Every row at once: the chunks of :func:`generate_chunks`, concatenated (for small
    populations; large ones are written chunk by chunk, see ``fill``)."""
    return chunks.concat(generate_chunks(config))


def generate_chunks(config: GeneratorConfig) -> Iterator[GeneratedData]:
    """The rows of ``config.chunk_customers`` customers at a time (:mod:`.chunks`); the
    first chunk also holds the shared sales reps and products."""
    rng = np.random.default_rng(config.seed)
    start = timestamp(config.start)
    shared = _Shared(start=start, end=start + config.days * DAY,
                     reps=_sales_reps(rng, config, start))
    base = IdBase()
    for k, (first, size) in enumerate(chunks.spans(config)):
        chunk_rng = rng if k == 0 else chunks.stream(config.seed, chunks.BASE, k)
        out = _chunk(chunk_rng, config, _Span(k, first, size), shared, base)
        base = chunks.next_base(out, base)
        yield out
        del out


@dataclass
class _Shared:
    """What every chunk uses: the window, the sales reps, the products (drawn by the first
    chunk)."""

    start: np.datetime64
    end: np.datetime64
    reps: pd.DataFrame
    products: pd.DataFrame | None = None


@dataclass(frozen=True)
class _Span:
    chunk: int
    first: int  # index of the chunk's first customer
    size: int


def _chunk(rng: np.random.Generator, config: GeneratorConfig, span: _Span, shared: _Shared,
           base: IdBase) -> GeneratedData:
    """One chunk's rows. The steps draw from ``rng`` in a fixed order: keep it."""
    out = GeneratedData(config)
    start, end, reps = shared.start, shared.end, shared.reps
    people = _customers(rng, config, start, span, reps["sales_rep_id"].to_numpy())
    rep_left = ~pd.isna(reps.set_index("sales_rep_id").loc[people.rep, "left_on"].to_numpy())
    life = draw_behaviour(rng, start, end, people.created, people.is_org, rep_left)
    orders = _orders(rng, people, life, end, base.orders)
    if shared.products is None:
        shared.products = _products(rng, config, start)
        out.sales = {"sales_reps": reps, "products": shared.products}
    lines, order_net, order_qty = _order_lines(rng, orders, shared.products, base.order_lines)
    out.sales.update({"customers": people.frame, "orders": orders.frame, "order_lines": lines})
    acct_ids = np.array([f"BA-{(i * 2654435761) % 10**8:08d}" for i in people.ids])
    out.billing = _billing(rng, people, life, orders, order_net, acct_ids, end)
    tickets, ticket_cust = _tickets(rng, people, life, end, base.tickets)
    out.service["tickets"] = tickets
    out.truth = _truth(people, life, acct_ids, tickets["ticket_id"].to_numpy(), ticket_cust, end)
    pop = Population(
        config=config, start=start, end=end,
        **{f.name: getattr(people, f.name) for f in fields(Customers)},
        rep_left=life.rep_left, rate=life.rate, alive_from=life.alive_from,
        dropout_at=life.dropout_at, promo_only=life.promo_only, late_payer=life.late_payer,
        account_ids=acct_ids, order_cust=orders.cust_idx, order_ids=orders.order_ids,
        ordered_at=orders.ordered, order_status=orders.status, order_net=order_net,
        order_quantity=order_qty.astype(np.int64),
        frames={"sales.products": shared.products,
                **{f"sales.{k}": v for k, v in out.sales.items()},
                **{f"billing.{k}": v for k, v in out.billing.items()},
                **{f"service.{k}": v for k, v in out.service.items()}},
        id_base=base,
    )
    _further_entities(pop, out, span.chunk)
    _inject_dirt(rng, out, config)
    return out


def _sales_reps(rng: np.random.Generator, config: GeneratorConfig,
                start: np.datetime64) -> pd.DataFrame:
    n_reps = max(3, config.customers // 60)
    rep_ids = np.arange(1, n_reps + 1)
    hired = start - rng.integers(60, 1500, n_reps) * DAY
    leaves = rng.random(n_reps) < 0.2
    left_on = np.where(
        leaves, start + rng.integers(5, max(6, config.days), n_reps) * DAY, np.datetime64("NaT")
    )
    rep_first = FIRST[rng.integers(0, FIRST.size, n_reps)]
    rep_last = LAST[rng.integers(0, LAST.size, n_reps)]
    return pd.DataFrame(
        {
            "sales_rep_id": rep_ids,
            "name": np.char.add(np.char.add(rep_first, " "), rep_last),
            "email": [f"rep{i}@sales.example.com" for i in rep_ids],
            "hired_on": hired.astype("datetime64[D]"),
            "left_on": pd.to_datetime(left_on).date,
            "updated_at": np.where(leaves, left_on, hired),
        }
    )


def _customers(rng: np.random.Generator, config: GeneratorConfig, start: np.datetime64,
               span: _Span, rep_ids: np.ndarray) -> _Customers:
    n = span.size
    ids = np.arange(span.first + 1, span.first + n + 1)
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
    rep = rep_ids[rng.integers(0, rep_ids.size, n)]
    frame = pd.DataFrame(
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
    return _Customers(ids=ids, created=created, is_org=is_org, name=name, email=email,
                      phone=phone, tax_id=tax_id, city=frame["city"].to_numpy(), rep=rep,
                      frame=frame)


def _orders(rng: np.random.Generator, people: _Customers, life: Behaviour,
            end: np.datetime64, id_base: int) -> _Orders:
    n = people.ids.size
    n_orders = rng.poisson(life.rate * life.active_days)
    cust_idx = np.repeat(np.arange(n), n_orders)
    m = cust_idx.size
    offs = rng.random(m) * life.active_days[cust_idx]
    # seasonality: thin out orders in quiet weeks
    ordered = life.alive_from[cust_idx] + (offs * 86400).astype(np.int64) * SEC
    dow = (ordered.astype("datetime64[D]").astype(np.int64) + 3) % 7
    keep = ~((dow >= 5) & (rng.random(m) < 0.4))
    cust_idx, ordered = cust_idx[keep], ordered[keep]
    sort = np.lexsort((cust_idx, ordered))
    cust_idx, ordered = cust_idx[sort], ordered[sort]
    m = cust_idx.size
    order_ids = np.arange(id_base + 1, id_base + m + 1)
    promo = np.where(life.promo_only[cust_idx], True, rng.random(m) < 0.15)
    cancelled = rng.random(m) < 0.04
    status = np.where(
        cancelled, "cancelled", np.where(ordered < end - 3 * DAY, "shipped", "placed")
    )
    # status changes arrive later: updated_at after ordered_at (late updates)
    lag = np.where(status == "placed", 0, rng.integers(3600, 3 * 86400, m)) * SEC
    upd = np.minimum(ordered + lag, end - SEC)
    frame = pd.DataFrame(
        {
            "order_id": order_ids,
            "customer_id": people.ids[cust_idx],
            "sales_rep_id": people.rep[cust_idx],
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
    return _Orders(cust_idx=cust_idx, ordered=ordered, order_ids=order_ids, promo=promo,
                   cancelled=cancelled, status=status, frame=frame)


def _products(rng: np.random.Generator, config: GeneratorConfig,
              start: np.datetime64) -> pd.DataFrame:
    p = config.products
    list_price = np.round(rng.lognormal(4.0, 0.8, p), 2)
    return pd.DataFrame(
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


def _order_lines(rng: np.random.Generator, orders: _Orders, products: pd.DataFrame,
                 id_base: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The lines of every order, and per order its net amount and quantity."""
    m = orders.order_ids.size
    p = len(products)
    list_price = products["list_price"].to_numpy()
    n_lines = rng.integers(1, 5, m)
    line_order = np.repeat(np.arange(m), n_lines)
    k = line_order.size
    prod_idx = rng.integers(0, p, k)
    discount = np.where(orders.promo[line_order], rng.choice([0.1, 0.15, 0.2], k), 0.0)
    lines = pd.DataFrame(
        {
            "order_line_id": np.arange(id_base + 1, id_base + k + 1),
            "order_id": orders.order_ids[line_order],
            "product_id": prod_idx + 1,
            "quantity": rng.integers(1, 6, k),
            "unit_price": list_price[prod_idx],
            "discount_pct": discount,
            "updated_at": orders.ordered[line_order],
        }
    )
    line_net = lines["quantity"].to_numpy() * lines["unit_price"].to_numpy() * (1 - discount)
    order_net = np.bincount(line_order, weights=line_net, minlength=m)
    order_qty = np.bincount(line_order, weights=lines["quantity"].to_numpy(), minlength=m)
    return lines, order_net, order_qty


def _billing(rng: np.random.Generator, people: _Customers, life: Behaviour, orders: _Orders,
             order_net: np.ndarray, acct_ids: np.ndarray,
             end: np.datetime64) -> dict[str, pd.DataFrame]:
    """Billing's accounts, and an invoice per order that was not cancelled, paid or not."""
    n = people.ids.size
    acct_created = people.created + rng.integers(0, 86400, n) * SEC
    accounts = pd.DataFrame(
        {
            "account_id": acct_ids,
            "account_name": np.char.upper(people.name.astype(str)),
            "email": email_variants(rng, people.email),
            "phone": phone_variants(rng, people.phone),
            "tax_id": people.tax_id,
            "created_at": acct_created,
            "updated_at": acct_created,
        }
    )
    cust_idx, order_ids = orders.cust_idx, orders.order_ids
    inv_orders = np.nonzero(~orders.cancelled)[0]
    q = inv_orders.size
    inv_date = (orders.ordered[inv_orders] + rng.integers(0, 2, q) * DAY).astype("datetime64[D]")
    late = life.late_payer[cust_idx[inv_orders]]
    pay_delay = np.where(late, rng.integers(35, 120, q), rng.integers(1, 30, q))
    paid_at = inv_date.astype("datetime64[s]") + pay_delay * DAY + rng.integers(0, 86400, q) * SEC
    is_paid = paid_at < end
    written_off = late & ~is_paid & (rng.random(q) < 0.1)
    inv_status = np.where(is_paid, "paid", np.where(written_off, "written_off", "open"))
    inv_ids = np.array([f"INV-{i:08d}" for i in order_ids[inv_orders]])
    inv_upd = np.where(is_paid, paid_at, inv_date.astype("datetime64[s]") + 3600 * SEC)
    invoices = pd.DataFrame(
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
    payments = pd.DataFrame(
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
    return {"accounts": accounts, "invoices": invoices, "payments": payments}


def _tickets(rng: np.random.Generator, people: _Customers, life: Behaviour,
             end: np.datetime64, id_base: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Service tickets: more, and more complaints, before churn. Also the customer index
    per ticket (ground truth)."""
    n = people.ids.size
    alive_from = life.alive_from
    t_rate = 0.006 + 0.01 * rng.random(n)
    near = np.clip((life.dropout_at - 60 * DAY), alive_from, end)
    base_days = np.maximum((near - alive_from) / DAY, 0)
    pre_days = np.maximum((life.active_end - near) / DAY, 0)
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
    tickets = pd.DataFrame(
        {
            "ticket_id": np.arange(id_base + 1, id_base + tn + 1),
            "requester_email": email_variants(rng, people.email[t_cust]),
            "requester_phone": phone_variants(rng, people.phone[t_cust]),
            "requester_name": people.name[t_cust],
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
    return tickets, t_cust


def _truth(people: _Customers, life: Behaviour, acct_ids: np.ndarray, ticket_ids: np.ndarray,
           ticket_cust: np.ndarray, end: np.datetime64) -> dict[str, pd.DataFrame]:
    """Ground truth: who is who across the systems, and who churned when."""
    ids = people.ids
    return {
        "identity": pd.DataFrame(
            {
                "customer_id": ids,
                "billing_account_id": acct_ids,
                "email": people.email,
                "phone": people.phone,
            }
        ),
        "service_tickets": pd.DataFrame(
            {"ticket_id": ticket_ids, "customer_id": ids[ticket_cust]}
        ),
        "churn": pd.DataFrame(
            {
                "customer_id": ids,
                "churned_at": np.where(life.dropout_at < end, life.dropout_at,
                                       np.datetime64("NaT")),
            }
        ),
    }


def _further_entities(pop: Population, out: GeneratedData, chunk: int) -> None:
    """Each source's further entities, each with its own random stream (adding one entity
    never changes the rows of another)."""
    seed = pop.config.seed
    out.sales.update(gen_sales.generate(pop, chunks.stream(seed, chunks.SALES, chunk)))
    out.billing.update(gen_billing.generate(pop, chunks.stream(seed, chunks.BILLING, chunk)))
    service = gen_service.generate(pop, chunks.stream(seed, chunks.SERVICE, chunk))
    out.truth["service_surveys"] = service.pop("truth_surveys")
    out.service.update(service)
    gen_identity.apply(chunks.stream(seed, chunks.IDENTITY, chunk), pop, out)


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
