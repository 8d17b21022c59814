"""How the generator cuts the population into chunks, so memory stays bounded at any size.

Customers are generated ``config.chunk_customers`` at a time, each chunk with everything
that hangs off them (orders, lines, invoices, tickets, ...), and written out before the
next chunk is drawn. What the chunks share is drawn once: the sales reps (before the first
chunk) and the products (by the first chunk, at their place in its stream).

* **Random streams.** The first chunk draws from exactly the streams a single run used
  before chunking (``default_rng(seed)`` and ``default_rng([seed, j])`` for the sources'
  further entities), so a population of at most one chunk (the demo, every test) is
  generated row for row as it always was. Chunk ``k >= 1`` draws from
  ``default_rng([seed, j, k])``. The chunk size is therefore part of what the seed
  produces, like the seed itself: the default is fixed and recorded in generation.json.
* **Ids.** Customer ids are dense (chunk k holds the customers after the earlier chunks').
  Every other id sequence continues from one past the largest id an earlier chunk used
  *or pointed at*: dirt makes up references just past a chunk's own ids (interactions
  of tickets that do not exist, credit notes of unknown invoices), and no later chunk may
  turn them into real ones.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from crmwh_devkit.simulators.population import GeneratedData, GeneratorConfig, IdBase

BASE, SALES, BILLING, SERVICE, IDENTITY = range(5)  # the random streams of a chunk

# where each id sequence's ids appear, and the references dirt makes up past them:
# (source, entity, column, text before the number)
_SEQUENCES = {
    "orders": (("sales", "orders", "order_id", ""),
               ("billing", "credit_notes", "invoice_id", "INV-")),
    "order_lines": (("sales", "order_lines", "order_line_id", ""),),
    "tickets": (("service", "tickets", "ticket_id", ""),
                ("service", "interactions", "ticket_id", "")),
    "shipments": (("sales", "shipments", "shipment_id", ""),),
    "opportunities": (("sales", "opportunities", "opportunity_id", ""),),
    "contacts": (("sales", "contacts", "contact_id", ""),),
    "interactions": (("service", "interactions", "interaction_id", ""),),
    "follow_ups": (("service", "follow_ups", "follow_up_id", ""),),
    "surveys": (("service", "surveys", "survey_id", ""),),
    "credit_notes": (("billing", "credit_notes", "credit_note_id", "CN-"),),
}


def spans(config: GeneratorConfig) -> list[tuple[int, int]]:
    """(index of the first customer, customers) of each chunk."""
    if config.chunk_customers < 1:
        raise ValueError(f"chunk_customers must be 1 or more, not {config.chunk_customers}")
    size = config.chunk_customers
    return [(first, min(size, config.customers - first))
            for first in range(0, config.customers, size)]


def stream(seed: int, kind: int, chunk: int) -> np.random.Generator:
    """Chunk ``chunk``'s random stream of one kind (not BASE of the first chunk: that one
    continues the generator's own ``default_rng(seed)``)."""
    if chunk == 0:
        return np.random.default_rng([seed, kind])
    return np.random.default_rng([seed, kind, chunk])  # never [.., 0]: equal to [seed, kind]


def _largest(frame: pd.DataFrame, column: str, prefix: str) -> int:
    values = frame[column].dropna()
    if values.empty:
        return 0
    if prefix:
        values = values[values.str.startswith(prefix)].str.slice(len(prefix))
    return int(pd.to_numeric(values).max()) if len(values) else 0


def next_base(data: GeneratedData, base: IdBase) -> IdBase:
    """Where the next chunk's ids start: past every id ``data`` used or pointed at."""
    largest = {}
    for name, places in _SEQUENCES.items():
        found = [_largest(getattr(data, source)[entity], column, prefix)
                 for source, entity, column, prefix in places
                 if entity in getattr(data, source)]
        largest[name] = max([getattr(base, name), *found])
    return IdBase(**largest)


def concat(parts: Iterable[GeneratedData]) -> GeneratedData:
    """One GeneratedData holding every chunk's rows, chunk after chunk."""
    parts = list(parts)
    if len(parts) == 1:
        return parts[0]
    out = GeneratedData(parts[0].config)
    for source in ("sales", "billing", "service", "truth"):
        names = dict.fromkeys(name for part in parts for name in getattr(part, source))
        getattr(out, source).update({
            name: pd.concat([getattr(part, source)[name] for part in parts
                             if name in getattr(part, source)], ignore_index=True)
            for name in names})
    return out
