"""How the other systems really know a customer: identity noise, and its ground truth.

Billing and the service desk were set up by other teams and keep their own copies
of a customer's e-mail, phone, tax id and name. Some are missing, some are a
different address (accounts payable, a second mobile), and a few belong to
somebody else (a shared household phone). The warehouse has to resolve them to
one customer anyway (DOMAIN §1); the ground truth written here says what the
right answer is, and nothing in the warehouse reads it.

Runs on its own random stream, so the rest of the generated data is unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crmwh_devkit.simulators.population import GeneratedData, Population

# shares of billing accounts (per kind of noise); project defaults for the simulator
ACCOUNT_OTHER_EMAIL = 0.06
ACCOUNT_NO_EMAIL = 0.04
ACCOUNT_NO_PHONE = 0.05
ACCOUNT_OTHER_PHONE = 0.02
ACCOUNT_SHARED_PHONE = 0.01  # the phone of another customer (household, shared office line)
ACCOUNT_NO_TAX_ID = 0.03  # organisations only
# shares of service tickets
TICKET_NO_EMAIL = 0.08
TICKET_NO_PHONE = 0.10
TICKET_OTHER_EMAIL = 0.02


def apply(rng: np.random.Generator, pop: Population, out: GeneratedData) -> None:
    """Add identity noise to billing accounts and service tickets, in place."""
    _accounts(rng, pop, out.billing["accounts"])
    _tickets(rng, out.service["tickets"], pop.id_base.tickets)


def _pick(rng: np.random.Generator, size: int, share: float) -> np.ndarray:
    return rng.random(size) < share


def _accounts(rng: np.random.Generator, pop: Population, accounts: pd.DataFrame) -> None:
    n = len(accounts)
    email = accounts["email"].to_numpy(dtype=object).copy()
    other = _pick(rng, n, ACCOUNT_OTHER_EMAIL)
    email[other] = np.where(
        pop.is_org[other],
        [f"ap{i}@finance.example.com" for i in pop.ids[other]],
        [f"{i}.pay@othermail.example.com" for i in pop.ids[other]],
    )
    email[_pick(rng, n, ACCOUNT_NO_EMAIL)] = None

    phone = accounts["phone"].to_numpy(dtype=object).copy()
    other_phone = _pick(rng, n, ACCOUNT_OTHER_PHONE)
    phone[other_phone] = [f"021{x:08d}" for x in rng.integers(0, 10**8, other_phone.sum())]
    shared = _pick(rng, n, ACCOUNT_SHARED_PHONE) & (n > 1)
    somebody = (np.nonzero(shared)[0] + rng.integers(1, max(2, n), shared.sum())) % n
    phone[shared] = pop.phone[somebody]
    phone[_pick(rng, n, ACCOUNT_NO_PHONE)] = None

    tax = accounts["tax_id"].to_numpy(dtype=object).copy()
    tax[_pick(rng, n, ACCOUNT_NO_TAX_ID) & pop.is_org] = ""
    # billing writes tax ids with separators now and then
    dashed = _pick(rng, n, 0.3) & pop.is_org
    tax[dashed] = [f"{t[:6]}-{t[6:]}" for t in tax[dashed]]
    accounts["email"], accounts["phone"], accounts["tax_id"] = email, phone, tax


def _tickets(rng: np.random.Generator, tickets: pd.DataFrame, id_base: int) -> None:
    n = len(tickets)
    email = tickets["requester_email"].to_numpy(dtype=object).copy()
    phone = tickets["requester_phone"].to_numpy(dtype=object).copy()
    other = _pick(rng, n, TICKET_OTHER_EMAIL)
    email[other] = [f"caller{i}@mailbox.example.com" for i in id_base + np.nonzero(other)[0]]
    email[_pick(rng, n, TICKET_NO_EMAIL)] = None
    phone[_pick(rng, n, TICKET_NO_PHONE)] = None
    tickets["requester_email"], tickets["requester_phone"] = email, phone
