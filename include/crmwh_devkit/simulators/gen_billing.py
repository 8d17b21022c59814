"""Further billing entities for the generator (see
:class:`~crmwh_devkit.simulators.population.Population`).

Four entities, all vectorised and driven only by the ``rng`` handed in:

* ``invoice_lines`` — the lines of every invoice, built from the order's lines in
  sales (invoice ``INV-<order_id:08d>`` bills that order): net unit price after
  the order line's discount, line amounts that sum to the invoice amount to the
  cent (the rounding residue sits on the last line). Lines carry their invoice's
  ``updated_at``, so they arrive in the same drop as the invoice.
* ``contracts`` — contract customers are exactly those with ``is_org`` or
  ``customer_id % 7 == 0`` (the sales generator uses the same rule for the
  shipments' ``contract_ref = CT-<id:07d>-1``). Each gets ``CT-<id:07d>-1`` starting
  near its creation, 12-month terms; at the end of a term the contract is renewed
  (``CT-<id:07d>-<k+1>``, ``renewal_of`` set, the old one ``renewed``) unless the
  customer churned (``dropout_at`` before the term end): then it is ``cancelled``
  near the dropout for some and ``expired`` at the term end for the others. Status
  and ``updated_at`` show the latest change up to the window end, never later. A
  few ``one_off`` contracts (``CT-<id:07d>-OT1``) for non-contract customers.
* ``credit_notes`` — returns, price adjustments and goodwill on a small share of
  invoices, and a ``write_off`` note for every written-off invoice; never more than
  the invoice amount.
* ``credit_lines`` — per recurring contract term an annual line (``CL-<id:07d>-<k>``,
  valid for the term), sized to the customer's typical monthly billing times a
  term factor (term 30/45/60 days); late payers get lower limits so they run over
  them; some temporary lines (``CL-<id:07d>-T1``: short, higher limit); about 5 % of
  contract customers have no credit line at all.

Dirt at ``config.dirt_rate`` per kind: negative amounts and unknown invoice
references in credit notes, missing required values in invoice lines, credit
notes and credit lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crmwh_devkit.simulators.population import DAY, SEC, Population

HOUR = 3600

CONTRACT_SHARE_NO_CREDIT_LINE = 0.05
AUTO_RENEW_SHARE = 0.8
CANCEL_SHARE = 0.55  # of churned contract customers; the others let the contract expire
TEMPORARY_LINE_SHARE = 0.15
ONE_OFF_SHARE = 0.03  # of non-contract customers with orders
NOTE_P = {"return": 0.02, "price_adjustment": 0.015, "goodwill": 0.005}  # share of invoices
TERM_DAYS = np.array([30, 45, 60])


def contract_customers(pop: Population) -> np.ndarray:
    """Mask over customers: those who buy under a contract (organisations, every 7th id)."""
    return pop.is_org | (pop.ids % 7 == 0)


def _text(n: int, *parts) -> np.ndarray:
    """Fixed-width ids without a Python loop per row.

    ``parts`` are constant strings or ``(numbers, width)`` for zero-padded numbers:
    ``_text(n, "CT-", (ids, 7), "-", (seq, 1))``.
    """
    if any(not isinstance(p, str) and np.size(p[0]) and np.max(p[0]) >= 10 ** p[1]
           for p in parts):  # wider than the padding: format as Python does ({:0Nd})
        cells = [[p] * n if isinstance(p, str) else [f"{v:0{p[1]}d}" for v in p[0].tolist()]
                 for p in parts]
        return np.array(["".join(row) for row in zip(*cells, strict=True)], dtype=str)
    cols = []
    for part in parts:
        if isinstance(part, str):
            raw = np.frombuffer(part.encode("ascii"), np.uint8)
            cols.append(np.broadcast_to(raw, (n, raw.size)))
        else:
            nums, width = part
            x = np.asarray(nums, dtype=np.int64).copy()
            digits = np.empty((n, width), np.uint8)
            for i in range(width - 1, -1, -1):
                digits[:, i] = x % 10
                x //= 10
            cols.append(digits + 48)
    if n == 0:
        return np.array([], dtype=str)
    arr = np.ascontiguousarray(np.hstack(cols))
    return arr.view(f"S{arr.shape[1]}").ravel().astype(f"U{arr.shape[1]}")


def _add_year(days: np.ndarray) -> np.ndarray:
    """The same calendar day a year later (Feb 29 -> Feb 28)."""
    month = days.astype("datetime64[M]")
    offset = days - month.astype("datetime64[D]")
    target = month + 12
    month_end = (target + 1).astype("datetime64[D]") - DAY
    return np.minimum(target.astype("datetime64[D]") + offset, month_end)


def _secs(rng: np.random.Generator, low: int, high: int, size: int) -> np.ndarray:
    return rng.integers(low, high, size) * SEC


def _with_missing(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``values`` as an object array with None where ``mask`` (a missing required value)."""
    out = values.astype(object)
    out[mask] = None
    return out


def _customer_typicals(pop: Population) -> tuple[np.ndarray, np.ndarray]:
    """Per customer: average order net amount and quantity (population mean if no orders)."""
    n = pop.ids.size
    count = np.bincount(pop.order_cust, minlength=n).astype(float)
    net = np.bincount(pop.order_cust, weights=pop.order_net, minlength=n)
    qty = np.bincount(pop.order_cust, weights=pop.order_quantity, minlength=n)
    mean_net = pop.order_net.mean() if pop.order_net.size else 100.0
    mean_qty = pop.order_quantity.mean() if pop.order_quantity.size else 3.0
    with np.errstate(invalid="ignore", divide="ignore"):
        avg_net = np.where(count > 0, net / count, mean_net)
        avg_qty = np.where(count > 0, qty / count, mean_qty)
    return avg_net, avg_qty


# --- invoice lines ---------------------------------------------------------


def _invoice_order(inv_ids: np.ndarray) -> np.ndarray:
    """The order id of each invoice ``INV-<order_id:08d>``."""
    width = inv_ids.dtype.itemsize // 4
    if width == 12 and inv_ids.size and np.char.startswith(inv_ids, "INV-").all():
        digits = inv_ids.view(np.uint32).reshape(-1, 12)[:, 4:].astype(np.int64) - 48
        if ((digits >= 0) & (digits <= 9)).all():
            return digits @ (10 ** np.arange(7, -1, -1, dtype=np.int64))
    return pd.Series(inv_ids).str.slice(4).astype("int64").to_numpy()


def _invoice_lines(pop: Population, rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    inv = pop.frames["billing.invoices"]
    lines = pop.frames["sales.order_lines"]
    products = pop.frames["sales.products"]
    inv_ids = inv["invoice_id"].to_numpy(dtype=str)
    inv_order = _invoice_order(inv_ids)
    inv_amount = inv["amount"].to_numpy(dtype=float)

    ol_order = lines["order_id"].to_numpy()
    sort = np.argsort(ol_order, kind="stable")
    ol_order = ol_order[sort]
    lo = np.searchsorted(ol_order, inv_order, "left")
    hi = np.searchsorted(ol_order, inv_order, "right")
    k = hi - lo
    total = int(k.sum())
    owner = np.repeat(np.arange(inv_ids.size), k)  # invoice index per line
    first = np.cumsum(k) - k
    within = np.arange(total) - first[owner]
    src = sort[lo[owner] + within]  # order line row per invoice line

    sku_of = dict(zip(products["product_id"].to_numpy(), products["sku"].to_numpy(dtype=str),
                      strict=True))
    pid = lines["product_id"].to_numpy()[src]
    uniq, inverse = np.unique(pid, return_inverse=True)
    sku = np.array([sku_of.get(p, "") for p in uniq], dtype=str)[inverse]
    quantity = lines["quantity"].to_numpy()[src].astype(np.int64)
    discount = lines["discount_pct"].to_numpy(dtype=float)[src]
    unit_price = np.round(lines["unit_price"].to_numpy(dtype=float)[src] * (1 - discount), 4)
    amount = np.round(quantity * unit_price, 2)
    # the invoice amount is the rounded order total: the last line takes the residue
    residue = inv_amount - np.bincount(owner, weights=amount, minlength=inv_ids.size)
    last = first + k - 1
    has = k > 0
    amount[last[has]] = np.round(amount[last[has]] + residue[has], 2)

    # billing delivers an invoice at its latest change (payment): its lines travel with it,
    # so a drop never holds lines whose invoice has not been delivered yet
    changed = inv["updated_at"].to_numpy().astype("datetime64[s]")
    line_no = within + 1
    frame = pd.DataFrame(
        {
            "invoice_line_id": np.char.add(np.char.add(inv_ids[owner], "-"),
                                           _text(total, (line_no, 2))),
            "invoice_id": inv_ids[owner],
            "line_no": line_no.astype(np.int64),
            "sku": sku,
            "quantity": quantity,
            "unit_price": unit_price,
            "amount": amount,
            "updated_at": changed[owner],
        }
    )
    info = {"first": first, "k": k, "amount": amount}
    return frame, info


# --- contracts and credit lines --------------------------------------------


@dataclass
class _Terms:
    """Per contract customer (index into ``cc``): the current term's start and signing
    time, and what carries over from term to term (mutated as contracts renew)."""

    cc: np.ndarray  # customer index of each contract customer
    cid: np.ndarray
    dropout: np.ndarray
    sign: np.ndarray
    start: np.ndarray
    ctype: np.ndarray
    auto: np.ndarray
    amount: np.ndarray
    qty: np.ndarray
    term_days: np.ndarray
    limit: np.ndarray
    no_line: np.ndarray


def _contracts(pop: Population, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    terms = _first_terms(pop, rng)
    first_sign = terms.sign.copy()
    rows, credit = _terms_and_renewals(pop, rng, terms)
    credit.append(_temporary_lines(pop, rng, terms, first_sign))
    rows.append(_one_off_contracts(pop, rng))
    contracts = pd.DataFrame({k: np.concatenate([r[k] for r in rows]) for k in rows[0]})
    credit_lines = pd.DataFrame({k: np.concatenate([r[k] for r in credit]) for k in credit[0]})
    return contracts, credit_lines


def _first_terms(pop: Population, rng: np.random.Generator) -> _Terms:
    cc = np.nonzero(contract_customers(pop))[0]
    c = cc.size
    avg_net, avg_qty = _customer_typicals(pop)
    yearly_orders = pop.rate[cc] * 365

    sign = np.minimum(pop.created[cc] + _secs(rng, 0, 2 * 86400, c), pop.end - SEC)
    start = sign.astype("datetime64[D]") + rng.integers(0, 11, c) * DAY
    ctype = np.where(rng.random(c) < np.where(pop.is_org[cc], 0.65, 0.2),
                     "framework", "subscription")
    auto = rng.random(c) < AUTO_RENEW_SHARE
    amount = np.maximum(np.round(yearly_orders * avg_net[cc] * rng.uniform(0.8, 1.25, c), -2),
                        500.0)
    qty = np.maximum(np.round(yearly_orders * avg_qty[cc] * rng.uniform(0.8, 1.2, c)), 1)
    term_days = TERM_DAYS[rng.integers(0, TERM_DAYS.size, c)]
    monthly = pop.rate[cc] * 30 * avg_net[cc]
    factor = term_days / 30 * rng.uniform(1.5, 2.5, c)
    factor = np.where(pop.late_payer[cc], factor * rng.uniform(0.3, 0.6, c), factor)
    limit = np.maximum(np.round(monthly * factor, -2), 1000.0)
    no_line = rng.random(c) < CONTRACT_SHARE_NO_CREDIT_LINE
    return _Terms(cc=cc, cid=pop.ids[cc], dropout=pop.dropout_at[cc], sign=sign, start=start,
                  ctype=ctype, auto=auto, amount=amount, qty=qty, term_days=term_days,
                  limit=limit, no_line=no_line)


def _terms_and_renewals(pop: Population, rng: np.random.Generator,
                        terms: _Terms) -> tuple[list[dict], list[dict]]:
    """Every recurring contract term (renewed until the customer churns) and its annual
    credit line. Updates ``terms`` as contracts renew."""
    last_ok = pop.end - SEC
    cc, cid, dropout, sign, start = terms.cc, terms.cid, terms.dropout, terms.sign, terms.start
    amount, limit = terms.amount, terms.limit
    c = cc.size
    rows: list[dict] = []
    credit: list[dict] = []
    idx = np.arange(c)  # contract customers with a contract of sequence ``seq``
    seq = 1
    prev_id = np.full(c, None, dtype=object)
    while idx.size:
        m = idx.size
        s = start[idx]
        e = _add_year(s) - DAY
        term_end = (e + DAY).astype("datetime64[s]")  # exclusive, midnight
        churned = dropout[idx] < term_end
        renew_at = np.where(
            terms.auto[idx],
            term_end + _secs(rng, 0, HOUR, m),  # renewed by the system at the term end
            term_end - rng.integers(1, 31, m) * DAY + _secs(rng, 0, 86400, m),  # signed before
        )
        renew_at = np.maximum(renew_at, sign[idx] + SEC)
        renews = ~churned & (renew_at <= last_ok)
        cancel = churned & (rng.random(m) < CANCEL_SHARE)
        cancel_at = np.clip(dropout[idx] + _secs(rng, 0, 14 * 86400, m),
                            sign[idx] + SEC, term_end - SEC)
        expire_at = term_end + _secs(rng, 0, 6 * HOUR, m)
        cancelled_seen = cancel & (cancel_at <= last_ok)
        expired_seen = churned & ~cancel & (expire_at <= last_ok)
        status = np.select([renews, cancelled_seen, expired_seen],
                           ["renewed", "cancelled", "expired"], "active")
        updated = np.where(renews, renew_at, np.where(
            cancelled_seen, cancel_at, np.where(expired_seen, expire_at, sign[idx])))
        ids = _text(m, "CT-", (cid[idx], 7), "-", (np.full(m, seq), len(str(seq))))
        rows.append({
            "contract_id": ids,
            "account_id": pop.account_ids[cc[idx]],
            "contract_type": terms.ctype[idx],
            "start_date": s,
            "end_date": e,
            "auto_renew": terms.auto[idx],
            "status": status,
            "amount": amount[idx],
            "contracted_quantity": terms.qty[idx].astype(np.int64),
            "renewal_of": prev_id[idx],
            "cancelled_at": np.where(cancelled_seen, cancel_at, np.datetime64("NaT", "s")),
            "updated_at": updated,
        })
        # the annual credit line of this contract term, approved with the contract
        has_line = ~terms.no_line[idx]
        li = idx[has_line]
        lm = li.size
        approved = np.minimum(sign[li] + _secs(rng, HOUR, 2 * 86400, lm), last_ok)
        credit.append({
            "credit_line_id": _text(lm, "CL-", (cid[li], 7), "-", (np.full(lm, seq),
                                                                    len(str(seq)))),
            "account_id": pop.account_ids[cc[li]],
            "line_type": np.full(lm, "annual"),
            "credit_limit": limit[li],
            "term_days": terms.term_days[li],
            "valid_from": s[has_line],
            "valid_to": e[has_line],
            "updated_at": approved,
        })
        # next term
        nxt = idx[renews]
        start[nxt] = (e[renews] + DAY)
        sign[nxt] = renew_at[renews]
        prev_id = np.full(c, None, dtype=object)
        prev_id[nxt] = ids[renews]
        amount[nxt] = np.round(amount[nxt] * rng.uniform(0.97, 1.12, nxt.size), -2)
        limit[nxt] = np.round(limit[nxt] * rng.uniform(1.0, 1.1, nxt.size), -2)
        idx = nxt
        seq += 1
    return rows, credit


def _temporary_lines(pop: Population, rng: np.random.Generator, terms: _Terms,
                     first_sign: np.ndarray) -> dict:
    """Short validity, a higher limit, inside the window, while the customer is alive."""
    end, cc = pop.end, terms.cc
    lined = np.nonzero(~terms.no_line)[0]
    tmp = lined[rng.random(lined.size) < TEMPORARY_LINE_SHARE]
    t = tmp.size
    first_day = np.maximum(pop.start, first_sign[tmp]).astype("datetime64[D]")  # any approval after
    window_days = np.maximum((end.astype("datetime64[D]") - first_day) / DAY, 1)
    valid_from = first_day + (rng.random(t) * window_days).astype(np.int64) * DAY
    approved = valid_from.astype("datetime64[s]") - _secs(rng, 0, 3 * 86400, t)
    approved = np.clip(approved, pop.created[cc[tmp]] + SEC, end - SEC)
    keep = (terms.dropout[tmp] > valid_from.astype("datetime64[s]")) & (valid_from < end)
    tmp, valid_from, approved = tmp[keep], valid_from[keep], approved[keep]
    t = tmp.size
    return {
        "credit_line_id": _text(t, "CL-", (terms.cid[tmp], 7), "-T1"),
        "account_id": pop.account_ids[cc[tmp]],
        "line_type": np.full(t, "temporary"),
        "credit_limit": np.round(terms.limit[tmp] * rng.uniform(1.3, 2.0, t), -2),
        "term_days": terms.term_days[tmp],
        "valid_from": valid_from,
        "valid_to": valid_from + rng.integers(14, 61, t) * DAY,
        "updated_at": approved,
    }


def _one_off_contracts(pop: Population, rng: np.random.Generator) -> dict:
    """A few one-off contracts for customers without a contract, at their first order."""
    others = ~contract_customers(pop)
    cust_first, first_order = np.unique(pop.order_cust, return_index=True)
    pick = others[cust_first] & (rng.random(cust_first.size) < ONE_OFF_SHARE)
    oc, oj = cust_first[pick], first_order[pick]
    o = oc.size
    o_sign = np.maximum(pop.ordered_at[oj] - _secs(rng, 0, 2 * 86400, o), pop.created[oc])
    o_start = pop.ordered_at[oj].astype("datetime64[D]")
    o_end = o_start + rng.integers(30, 91, o) * DAY
    o_expire = (o_end + DAY).astype("datetime64[s]") + _secs(rng, 0, 6 * HOUR, o)
    o_expired = o_expire <= pop.end - SEC
    return {
        "contract_id": _text(o, "CT-", (pop.ids[oc], 7), "-OT1"),
        "account_id": pop.account_ids[oc],
        "contract_type": np.full(o, "one_off"),
        "start_date": o_start,
        "end_date": o_end,
        "auto_renew": np.zeros(o, bool),
        "status": np.where(o_expired, "expired", "active"),
        "amount": np.round(pop.order_net[oj], 2),
        "contracted_quantity": pop.order_quantity[oj].astype(np.int64),
        "renewal_of": np.full(o, None, dtype=object),
        "cancelled_at": np.full(o, np.datetime64("NaT", "s")),
        "updated_at": np.where(o_expired, o_expire, o_sign),
    }


# --- credit notes ----------------------------------------------------------


def _credit_notes(pop: Population, rng: np.random.Generator, lines: dict) -> pd.DataFrame:
    inv = pop.frames["billing.invoices"]
    q = len(inv)
    inv_ids = inv["invoice_id"].to_numpy(dtype=str)
    account = inv["account_id"].to_numpy(dtype=str)
    amount = inv["amount"].to_numpy(dtype=float)
    inv_date = inv["invoice_date"].to_numpy().astype("datetime64[D]")
    due = inv["due_date"].to_numpy().astype("datetime64[D]")
    status = inv["status"].to_numpy(dtype=str)
    last_day = (pop.end - SEC).astype("datetime64[D]")

    # one draw per invoice decides return / price adjustment / goodwill / nothing
    u = rng.random(q)
    edges = np.cumsum(list(NOTE_P.values()))
    kind = np.searchsorted(edges, u, side="right")  # 0..2 a note kind, 3 none
    eligible = np.isin(status, ["open", "paid"]) & (amount > 0)
    kind = np.where(eligible, kind, 3)
    reasons = np.array([*NOTE_P, "none"])

    sel = np.nonzero(kind < 3)[0]
    s = sel.size
    reason = reasons[kind[sel]]
    # a return credits part of one line: returned quantity share of that line's amount
    k, first = lines["k"][sel], lines["first"][sel]
    line = first + (rng.random(s) * np.maximum(k, 1)).astype(np.int64)
    line_amount = np.where(k > 0, lines["amount"][np.minimum(line, lines["amount"].size - 1)],
                           amount[sel])
    ret = np.round(np.abs(line_amount) * rng.choice([0.25, 0.5, 1.0], s), 2)
    adj = np.round(amount[sel] * rng.uniform(0.03, 0.15, s), 2)
    good = np.round(rng.uniform(10, 100, s), 2)
    note_amount = np.select([reason == "return", reason == "price_adjustment"], [ret, adj], good)
    note_amount = np.clip(note_amount, 0.01, amount[sel])
    issued = inv_date[sel] + rng.integers(3, 41, s) * DAY

    wo = np.nonzero(status == "written_off")[0]
    w = wo.size
    wo_issued = np.maximum(np.minimum(due[wo] + rng.integers(0, 61, w) * DAY, last_day),
                           inv_date[wo])

    which = np.concatenate([sel, wo])
    issued_on = np.concatenate([issued, wo_issued])
    frame_reason = np.concatenate([reason, np.full(w, "write_off")])
    frame_amount = np.concatenate([note_amount, amount[wo]])
    updated = issued_on.astype("datetime64[s]") + _secs(rng, 8 * HOUR, 18 * HOUR, which.size)
    # a note issued after the window does not exist yet (write-offs always do: the invoice
    # already says written_off)
    keep = (issued_on <= last_day) | (frame_reason == "write_off")
    which, issued_on, frame_reason = which[keep], issued_on[keep], frame_reason[keep]
    frame_amount, updated = frame_amount[keep], updated[keep]
    order = np.lexsort((inv_ids[which], updated))
    which, issued_on, frame_reason = which[order], issued_on[order], frame_reason[order]
    frame_amount, updated = frame_amount[order], updated[order]
    n = which.size
    return pd.DataFrame(
        {
            "credit_note_id": _text(n, "CN-", (pop.id_base.credit_notes + np.arange(1, n + 1), 8)),
            "invoice_id": inv_ids[which],
            "account_id": account[which],
            "issued_on": issued_on,
            "amount": frame_amount,
            "reason": frame_reason,
            "updated_at": updated,
        }
    )


# --- dirt ------------------------------------------------------------------


def _dirty(pop: Population, rng: np.random.Generator, frames: dict[str, pd.DataFrame]) -> None:
    rate = pop.config.dirt_rate
    if rate <= 0:
        return

    def pick(frame: pd.DataFrame) -> np.ndarray:
        return rng.random(len(frame)) < rate

    notes = frames["credit_notes"]
    neg = pick(notes)
    notes["amount"] = np.where(neg, -notes["amount"].to_numpy(), notes["amount"].to_numpy())
    unknown = pick(notes)
    ref = notes["invoice_id"].to_numpy(dtype=object)
    top = int(pop.order_ids.max()) if pop.order_ids.size else pop.id_base.orders
    ref[unknown] = _text(int(unknown.sum()), "INV-", (top + 1 + np.arange(unknown.sum()), 8))
    notes["invoice_id"] = ref
    notes["account_id"] = _with_missing(notes["account_id"].to_numpy(), pick(notes))
    il = frames["invoice_lines"]
    il["quantity"] = _with_missing(il["quantity"].to_numpy(), pick(il))
    cl = frames["credit_lines"]
    term = cl["term_days"].to_numpy()
    cl["term_days"] = _with_missing(term, pick(cl))


def generate(pop: Population, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """Return the extra billing entities as DataFrames keyed by entity name."""
    invoice_lines, line_info = _invoice_lines(pop, rng)
    contracts, credit_lines = _contracts(pop, rng)
    credit_notes = _credit_notes(pop, rng, line_info)
    frames = {
        "invoice_lines": invoice_lines,
        "contracts": contracts,
        "credit_notes": credit_notes,
        "credit_lines": credit_lines,
    }
    _dirty(pop, rng, frames)
    return frames
