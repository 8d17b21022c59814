"""Further sales entities for the generator (see
:class:`~crmwh_devkit.simulators.population.Population`).

Adds, from the shared latent population and with its own random stream:

* ``contacts``: the people at each customer. Organisations have 1-4, individuals
  one (themselves); exactly one primary per customer, whose e-mail and phone are
  the customer's own. Contacts who leave are soft-deleted, and so are all the
  contacts of a customer that is soft-deleted.
* ``opportunities``: a sales pipeline per customer, each deal moving
  prospecting -> qualification -> proposal -> negotiation -> won / lost.
  Customers who churn lose most deals in their last months; won deals are sized
  on the order volume that follows them.
* ``shipments``: one delivery note per shipped order, issued when the order
  becomes ``shipped``. A small share ships a quantity that differs from the
  order, and a small share of contract customers' shipments carry no contract
  (both are business-rule violations, DOMAIN §5, that later checks must catch).

It also soft-deletes ~1 % of customers and ~0.5 % of orders in the frames the
generator already built (``pop.frames``, mutated in place), and injects dirt at
``pop.config.dirt_rate``: shipments pointing at an order that does not exist and
contacts without a name.

Everything is vectorised; the only randomness is the ``rng`` passed in, drawn in
a fixed order, so the same seed gives the same rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crmwh_devkit.simulators.population import CITIES, DAY, FIRST, LAST, SEC, Population

# --- knobs (project defaults of the simulation) --------------------------------
CUSTOMER_DELETE_RATE = 0.01  # customers soft-deleted during the window
ORDER_DELETE_RATE = 0.005  # orders soft-deleted during the window
CONTACT_LEAVE_RATE = 0.10  # non-primary organisation contacts who leave (soft-deleted)
QUANTITY_MISMATCH_RATE = 0.02  # shipments whose quantity differs from the order
NO_CONTRACT_RATE = 0.03  # contract customers' shipments made without a contract reference
OTHER_CITY_RATE = 0.03  # shipments sent to another city than the customer's
UNKNOWN_ORDER_BASE = 9_000_000_000  # order ids from here on do not exist (dirt)

STAGES = np.array(["prospecting", "qualification", "proposal", "negotiation", "won", "lost"])
OPEN_STAGES = 4  # prospecting .. negotiation
LOST_AT_P = np.array([0.35, 0.30, 0.20, 0.15])  # the stage a lost deal was lost from
P_WIN = 0.55  # win rate while the customer is healthy
P_WIN_DYING = 0.12  # win rate in a churning customer's last months
DYING_DAYS = 90  # "last months": deals created this close to (or after) the churn time
PURSUE_AFTER_CHURN_DAYS = 30  # reps keep pursuing a churned customer for a while
ATTRIBUTION_DAYS = 90  # a won deal is realised by the orders of the next 90 days
ROLES = np.array(["purchasing", "finance", "operations", "management", "it"])

NAT = np.datetime64("NaT", "s")
BIG = np.int64(10**10)  # per-customer key stride for (customer, seconds) sort keys


def generate(pop: Population, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """Return the extra sales entities as DataFrames keyed by entity name.

    Also soft-deletes customers and orders in ``pop.frames`` (in place).
    """
    orders = pop.frames["sales.orders"]
    order_upd = orders["updated_at"].to_numpy().astype("datetime64[s]").copy()  # before deletes

    shipments = _shipments(pop, rng, order_upd)
    opportunities = _opportunities(pop, rng)

    # Customers soft-deleted are dead records: never ordered, no pipeline (duplicates, junk
    # leads). The sales database holds only each row's latest version, so deleting a customer
    # who bought would hide it from every extraction before the delete while its orders land,
    # and the warehouse's customer references would break.
    n = pop.ids.size
    active = np.bincount(pop.order_cust, minlength=n) > 0
    active |= np.bincount(_index_of(pop, opportunities["customer_id"].to_numpy()),
                          minlength=n) > 0
    rate = min(1.0, CUSTOMER_DELETE_RATE * n / max(int((~active).sum()), 1))
    cust_deleted = _soft_delete(
        rng, pop.frames["sales.customers"], rate,
        np.maximum(pop.created.astype("datetime64[s]"), pop.start), pop.end, candidates=~active,
    )
    _soft_delete(rng, orders, ORDER_DELETE_RATE, np.maximum(order_upd, pop.start), pop.end)

    contacts = _contacts(pop, rng, cust_deleted)
    _inject_dirt(pop, rng, contacts, shipments)
    return {"contacts": contacts, "opportunities": opportunities, "shipments": shipments}


def _index_of(pop: Population, customer_ids: np.ndarray) -> np.ndarray:
    """Customer index of each customer id (ids are 1..n in index order)."""
    return customer_ids.astype(np.int64) - int(pop.ids[0])


def _zero_padded(values: np.ndarray, width: int, prefix: str = "") -> np.ndarray:
    """``prefix`` + each non-negative int as ``width`` zero-padded digits (fast, no per-row
    formatting): _zero_padded([1234], 8, "DN-") -> ["DN-00001234"]."""
    rest = np.asarray(values, dtype=np.int64).copy()
    if rest.size:  # never cut a number: widen when one has more digits
        width = max(width, len(str(int(rest.max()))))
    digits = np.empty((rest.size, width), dtype=np.uint8)  # ASCII, one byte per digit
    for pos in range(width - 1, -1, -1):
        digits[:, pos] = rest % 10 + 48
        rest //= 10
    text = digits.view(f"S{width}").ravel().astype(f"U{width}")
    return np.char.add(prefix, text) if prefix else text


def _uniform_between(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """A random whole-second time in [lo, hi) per row (lo where the interval is empty)."""
    span = np.maximum((hi - lo) / SEC, 0)
    return (lo + (rng.random(lo.size) * span).astype(np.int64) * SEC).astype("datetime64[s]")


def _soft_delete(
    rng: np.random.Generator, frame: pd.DataFrame, rate: float, after: np.ndarray,
    end: np.datetime64, candidates: np.ndarray | None = None,
) -> np.ndarray:
    """Mark ~``rate`` of ``frame``'s (candidate) rows deleted at a time in (after, end);
    updated_at follows.

    Returns the deleted_at column (NaT where live). Rows whose ``after`` leaves less
    than an hour before the end of the window are never picked.
    """
    picked = rng.random(len(frame)) < rate
    if candidates is not None:
        picked &= candidates
    lo = after.astype("datetime64[s]") + SEC
    hi = np.full(lo.size, end - SEC)
    when = _uniform_between(rng, lo, hi)
    picked &= lo < end - 3600 * SEC
    deleted = np.where(picked, when, NAT).astype("datetime64[s]")
    frame["deleted_at"] = deleted
    frame["updated_at"] = np.where(
        picked, deleted, frame["updated_at"].to_numpy().astype("datetime64[s]")
    )
    return deleted


# --- shipments -------------------------------------------------------------------


def _shipments(pop: Population, rng: np.random.Generator, order_upd: np.ndarray) -> pd.DataFrame:
    """One delivery note per shipped order, issued when the order became ``shipped``."""
    idx = np.nonzero(pop.order_status == "shipped")[0]
    # the order's status change to shipped (1 h to 3 days after ordering) is the dispatch
    shipped_at = order_upd[idx]
    idx = idx[np.lexsort((pop.order_ids[idx], shipped_at))]  # notes are numbered in dispatch order
    shipped_at = order_upd[idx]
    s = idx.size
    ship_ids = pop.id_base.shipments + np.arange(1, s + 1, dtype=np.int64)
    cust = pop.order_cust[idx]
    cust_ids = pop.ids[cust]

    qty = pop.order_quantity[idx].astype(np.int64)
    mismatch = rng.random(s) < QUANTITY_MISMATCH_RATE
    delta = rng.choice(np.array([-2, -1, 1, 2]), s)
    shipped_qty = qty + delta
    shipped_qty = np.where(shipped_qty < 1, qty + np.abs(delta), shipped_qty)  # never <1
    quantity = np.where(mismatch, shipped_qty, qty)

    contract_customer = pop.is_org[cust] | (cust_ids % 7 == 0)
    without = rng.random(s) < NO_CONTRACT_RATE
    ref = np.char.add(_zero_padded(pop.ids, 7, "CT-"), "-1")  # billing's contract id
    contract_ref = np.where(contract_customer & ~without, ref[cust], None)

    other = rng.random(s) < OTHER_CITY_RATE
    city = np.where(other, CITIES[rng.integers(0, CITIES.size, s)], pop.city[cust])
    lag = rng.integers(0, 7200, s) * SEC
    updated = np.minimum(shipped_at + lag, pop.end - SEC)
    return pd.DataFrame(
        {
            "shipment_id": ship_ids,
            "order_id": pop.order_ids[idx].astype(np.int64),
            "customer_id": cust_ids.astype(np.int64),
            "delivery_note_no": _zero_padded(ship_ids, 8, "DN-"),
            "contract_ref": contract_ref,
            "shipped_at": shipped_at.astype("datetime64[s]"),
            "quantity": quantity,
            "ship_to_city": city,
            "updated_at": updated.astype("datetime64[s]"),
        }
    )


# --- opportunities ---------------------------------------------------------------


def _opportunities(pop: Population, rng: np.random.Generator) -> pd.DataFrame:
    n = pop.ids.size
    start, end = pop.start, pop.end
    created = pop.created.astype("datetime64[s]")
    dropout = pop.dropout_at.astype("datetime64[s]")
    lo = np.maximum(created, start - 30 * DAY)
    hi = np.minimum(dropout + PURSUE_AFTER_CHURN_DAYS * DAY, end)
    days = np.maximum((hi - lo) / DAY, 0)
    opp_rate = (0.004 + 0.3 * pop.rate) * np.where(pop.is_org, 1.5, 1.0)
    counts = rng.poisson(opp_rate * days)
    cust = np.repeat(np.arange(n), counts)
    k = cust.size
    c_at = _uniform_between(rng, lo[cust], hi[cust])
    order = np.lexsort((cust, c_at))
    cust, c_at = cust[order], c_at[order]

    # stage durations (seconds): organisations decide more slowly
    mean_days = np.where(pop.is_org[cust], 8.0, 5.0)
    dur = (rng.exponential(1.0, (k, OPEN_STAGES)) * mean_days[:, None] * 86400).astype(np.int64)
    dur += 3600
    cum = np.cumsum(dur, axis=1)  # time from creation to leaving stage 1..4

    dying = c_at >= dropout[cust] - DYING_DAYS * DAY
    won = rng.random(k) < np.where(dying, P_WIN_DYING, P_WIN)
    lost_at = rng.choice(OPEN_STAGES, k, p=LOST_AT_P)  # 0-based stage the deal is lost from
    last = np.where(won, OPEN_STAGES - 1, lost_at)
    close = c_at + cum[np.arange(k), last] * SEC
    closed = close < end
    # still open at the end of the window: the stages entered so far
    entered = c_at[:, None] + cum[:, : OPEN_STAGES - 1] * SEC  # entry into stages 2..4
    n_entered = (entered < end).sum(axis=1)  # 0 = still prospecting
    last_entry = np.where(
        n_entered == 0, c_at, entered[np.arange(k), np.maximum(n_entered - 1, 0)]
    )
    stage_idx = np.where(closed, np.where(won, 4, 5), n_entered)
    updated = np.where(closed, close, last_entry).astype("datetime64[s]")

    # deal size: the customer's usual 90-day order volume, with noise
    live = pop.order_status != "cancelled"
    n_orders = np.bincount(pop.order_cust[live], minlength=n)
    volume = np.bincount(pop.order_cust[live], weights=pop.order_net[live], minlength=n)
    global_mean = volume.sum() / max(n_orders.sum(), 1) if n_orders.sum() else 100.0
    mean_net = np.where(n_orders > 0, volume / np.maximum(n_orders, 1), global_mean)
    expected = (mean_net * np.maximum(1.0, pop.rate * ATTRIBUTION_DAYS))[cust]
    amount = expected * rng.lognormal(0.0, 0.35, k)
    # won deals are realised by the orders that follow them (until the next won deal)
    realised = _later_volume(pop, cust, close, closed & won)
    noise = rng.lognormal(0.0, 0.05, k)
    amount = np.where(closed & won & (realised > 0), realised * noise, amount)

    planned = (c_at + (4 * mean_days * rng.uniform(0.7, 1.4, k) * 86400).astype(np.int64) * SEC)
    expected_close = np.where(closed, close, np.where(stage_idx == 0, NAT, planned))
    return pd.DataFrame(
        {
            "opportunity_id": pop.id_base.opportunities + np.arange(1, k + 1, dtype=np.int64),
            "customer_id": pop.ids[cust].astype(np.int64),
            "sales_rep_id": pop.rep[cust].astype(np.int64),
            "stage": STAGES[stage_idx],
            "amount": np.round(amount, 2),
            "expected_close_date": expected_close.astype("datetime64[D]"),
            "created_at": c_at,
            "updated_at": updated,
        }
    )


def _later_volume(
    pop: Population, cust: np.ndarray, close: np.ndarray, won: np.ndarray
) -> np.ndarray:
    """Per deal: net value of the customer's orders in (close, close + 90 days], cut at the
    customer's next won deal; zero for deals that are not won."""
    out = np.zeros(cust.size)
    wi = np.nonzero(won)[0]
    if wi.size == 0:
        return out
    base = pop.start - 3000 * DAY  # keeps the seconds positive and below BIG
    secs = ((close[wi] - base) / SEC).astype(np.int64)
    wc = cust[wi].astype(np.int64)
    order = np.lexsort((secs, wc))
    wi, secs, wc = wi[order], secs[order], wc[order]
    same_next = np.r_[wc[1:] == wc[:-1], False]
    nxt = np.r_[secs[1:], 0]
    upper = secs + ATTRIBUTION_DAYS * 86400
    upper = np.where(same_next, np.minimum(upper, nxt), upper)

    live = pop.order_status != "cancelled"
    okey = pop.order_cust[live].astype(np.int64) * BIG + (
        (pop.ordered_at[live] - base) / SEC
    ).astype(np.int64)
    onet = pop.order_net[live]
    srt = np.argsort(okey, kind="stable")
    okey, cum = okey[srt], np.r_[0.0, np.cumsum(onet[srt])]
    a = np.searchsorted(okey, wc * BIG + secs, side="right")  # strictly after the close
    b = np.searchsorted(okey, wc * BIG + upper, side="right")  # up to the upper bound
    out[wi] = cum[b] - cum[a]
    return out


# --- contacts --------------------------------------------------------------------


def _contacts(pop: Population, rng: np.random.Generator, cust_deleted: np.ndarray) -> pd.DataFrame:
    n = pop.ids.size
    per = np.where(pop.is_org, rng.integers(1, 5, n), 1)
    cust = np.repeat(np.arange(n), per)
    k = cust.size
    first_of = np.r_[0, np.cumsum(per)[:-1]]
    rank = np.arange(k) - np.repeat(first_of, per)
    primary = rank == 0
    org = pop.is_org[cust]
    cust_ids = pop.ids[cust].astype(np.int64)
    contact_ids = pop.id_base.contacts + np.arange(1, k + 1, dtype=np.int64)

    # the primary is the person behind the customer's own e-mail and phone
    local = np.strings.partition(pop.email.astype(str), "@")[0]
    given, _, family = np.strings.partition(np.strings.rstrip(local, "0123456789"), ".")
    email_name = np.char.add(
        np.char.add(np.strings.capitalize(given), " "), np.strings.capitalize(family)
    )
    first = FIRST[rng.integers(0, FIRST.size, k)]
    last = LAST[rng.integers(0, LAST.size, k)]
    other_name = np.char.add(np.char.add(first, " "), last)
    name = np.where(
        ~org, pop.name[cust].astype(str), np.where(primary, email_name[cust], other_name)
    ).astype(object)

    handle = np.char.lower(np.char.add(np.char.add(first, "."), last))
    other_email = np.char.add(
        np.char.add(np.char.add(handle, pop.ids.astype(str)[cust]), _zero_padded(rank, 1, "-")),
        "@mail.example.com",
    )
    # "15..." never collides with the customers' own "13..." numbers
    other_phone = _zero_padded(contact_ids * 7919 % 10**9, 9, "15")
    no_email = rng.random(k) < 0.05
    no_phone = rng.random(k) < 0.10
    email = np.where(
        primary, pop.email[cust].astype(str), np.where(no_email, None, other_email)
    ).astype(object)
    phone = np.where(
        primary, pop.phone[cust].astype(str), np.where(no_phone, None, other_phone)
    ).astype(object)
    role = np.where(
        org,
        np.where(primary & (rng.random(k) < 0.6), "purchasing",
                 ROLES[rng.integers(0, ROLES.size, k)]),
        None,
    ).astype(object)

    # added when the customer was created (primary) or later; never after the customer's deletion
    created = pop.created.astype("datetime64[s]")[cust]
    gone = cust_deleted[cust]
    upper = np.where(np.isnat(gone), pop.end - SEC, gone)
    added = np.where(primary, created, _uniform_between(rng, created, upper))
    # people leave: non-primary organisation contacts, soft-deleted
    leaves = ~primary & org & (rng.random(k) < CONTACT_LEAVE_RATE)
    left_at = _uniform_between(rng, added + SEC, upper)
    leaves &= left_at < upper
    deleted = np.where(leaves, left_at, NAT)
    # a deleted customer takes its contacts with it (in one change, so none shows up before it)
    deleted = np.where(np.isnat(gone), deleted, gone)
    updated = np.where(np.isnat(deleted), added, deleted)
    return pd.DataFrame(
        {
            "contact_id": contact_ids,
            "customer_id": cust_ids,
            "name": name,
            "role": role,
            "email": email,
            "phone": phone,
            "is_primary": primary,
            "updated_at": updated.astype("datetime64[s]"),
            "deleted_at": deleted.astype("datetime64[s]"),
        }
    )


# --- dirt --------------------------------------------------------------------------


def _inject_dirt(
    pop: Population, rng: np.random.Generator, contacts: pd.DataFrame, shipments: pd.DataFrame
) -> None:
    rate = pop.config.dirt_rate
    if rate <= 0:
        return
    nameless = rng.random(len(contacts)) < rate  # missing required value: quarantined on landing
    contacts.loc[nameless, "name"] = None
    unknown = rng.random(len(shipments)) < rate  # unknown reference: lands, dbt flags it
    ids = shipments["order_id"].to_numpy().copy()
    ids[unknown] = UNKNOWN_ORDER_BASE + shipments["shipment_id"].to_numpy()[unknown]
    shipments["order_id"] = ids
