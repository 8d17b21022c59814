"""The simulated world every source system's rows are drawn from.

The vocabulary (names, cities, channels, ...), the generator's knobs, the result
container, and the latent per-customer behaviour: customers buy till they die
(a latent purchase rate per customer and a dropout time, DOMAIN §2). The
per-source modules (``gen_*``) read a :class:`Population`; the orchestration is
in :mod:`crmwh_devkit.simulators.generator`.
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
    chunk_customers: int = 50_000  # customers generated and written at a time (see chunks)


@dataclass
class GeneratedData:
    config: GeneratorConfig
    sales: dict[str, pd.DataFrame] = field(default_factory=dict)
    billing: dict[str, pd.DataFrame] = field(default_factory=dict)
    service: dict[str, pd.DataFrame] = field(default_factory=dict)
    truth: dict[str, pd.DataFrame] = field(default_factory=dict)


@dataclass(frozen=True)
class IdBase:
    """Per id sequence, the id before a chunk's first: its rows are numbered base + 1, + 2, ...
    (all zero for the first chunk; see :func:`crmwh_devkit.simulators.chunks.next_base`)."""

    orders: int = 0
    order_lines: int = 0
    tickets: int = 0
    shipments: int = 0
    opportunities: int = 0
    contacts: int = 0
    interactions: int = 0
    follow_ups: int = 0
    surveys: int = 0
    credit_notes: int = 0


@dataclass(frozen=True)
class Behaviour:
    """The latent buy-till-you-die state per customer (index i)."""

    rate: np.ndarray  # purchases per day while alive
    rep_left: np.ndarray  # the customer's rep left the firm
    alive_from: np.ndarray
    dropout_at: np.ndarray  # true churn time (may lie after the window)
    active_end: np.ndarray  # the earlier of dropout and the window's end
    active_days: np.ndarray
    promo_only: np.ndarray
    late_payer: np.ndarray


@dataclass
class Customers:
    """The customers' identity fields, one entry per customer (index i, id ``ids[i]``)."""

    ids: np.ndarray
    created: np.ndarray
    is_org: np.ndarray
    name: np.ndarray
    email: np.ndarray
    phone: np.ndarray
    tax_id: np.ndarray
    city: np.ndarray
    rep: np.ndarray  # sales_rep_id per customer


@dataclass
class Population(Customers):
    """The latent state behind every system's rows, shared by the per-source generators.

    It covers one chunk of customers (:mod:`crmwh_devkit.simulators.chunks`): every
    index below counts within the chunk, every id is global.
    Per customer (index i, id ``ids[i]``): identity fields, acquisition time,
    latent purchase rate, dropout time (true churn), behaviour flags. Per order
    (index j): the customer index, time, status and net amount.
    """

    config: GeneratorConfig
    start: np.datetime64
    end: np.datetime64
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
    id_base: IdBase = IdBase()  # where this chunk's row ids start


def timestamp(day: date) -> np.datetime64:
    return np.datetime64(day.isoformat(), "s")


def draw_behaviour(rng: np.random.Generator, start: np.datetime64, end: np.datetime64,
                   created: np.ndarray, is_org: np.ndarray, rep_left: np.ndarray) -> Behaviour:
    """Buy till you die: a purchase rate and a dropout time per customer."""
    n = created.size
    rate = rng.gamma(shape=0.9, scale=1 / 18.0, size=n)  # purchases per day
    rate *= np.where(is_org, 1.6, 1.0)
    dropout_days = rng.exponential(scale=240.0, size=n)
    dropout_days = np.where(rep_left, dropout_days * 0.5, dropout_days)  # reps leaving hurts
    alive_from = np.maximum(created, start - 365 * DAY)
    dropout_at = (alive_from + (dropout_days * 86400).astype(np.int64) * SEC).astype(
        "datetime64[s]"
    )
    active_end = np.minimum(dropout_at, end)
    active_days = np.maximum((active_end - alive_from) / DAY, 0)
    promo_only = rng.random(n) < 0.08
    late_payer = rng.random(n) < 0.12
    return Behaviour(rate=rate, rep_left=rep_left, alive_from=alive_from, dropout_at=dropout_at,
                     active_end=active_end, active_days=active_days, promo_only=promo_only,
                     late_payer=late_payer)


def email_variants(rng: np.random.Generator, emails: np.ndarray) -> np.ndarray:
    """The same address as another system writes it: case and spaces differ."""
    style = rng.integers(0, 3, emails.size)
    upper = np.char.upper(emails.astype(str))
    padded = np.char.add(np.char.add(" ", emails.astype(str)), " ")
    return np.where(style == 0, emails, np.where(style == 1, upper, padded))


def phone_variants(rng: np.random.Generator, digits: np.ndarray) -> np.ndarray:
    """The same phone number as another system writes it: plain, dashed or +86 spaced."""
    d = digits.astype(str)
    style = rng.integers(0, 3, d.size)
    a, b, c = (np.char.ljust(np.char.rstrip(x), 1) for x in (d, d, d))
    dashed = np.char.add(
        np.char.add(np.char.add(np.array([s[:3] for s in a]), "-"), np.array([s[3:7] for s in b])),
        np.char.add("-", np.array([s[7:] for s in c])),
    )
    spaced = np.char.add("+86 ", np.array([f"{s[:3]} {s[3:7]} {s[7:]}" for s in d]))
    return np.where(style == 0, d, np.where(style == 1, dashed, spaced))
