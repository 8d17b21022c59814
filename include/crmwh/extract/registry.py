"""Which extractor serves which source: one entry per source, in landing order.

Each source module offers the pipeline's call, ``extract_for(cfg, conn, entity,
as_of_date, watermark)``, and where the source can tell cheaply how many rows
wait, ``pending_rows_for(cfg, conn, entities, as_of_date)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import psycopg

from crmwh.extract import billing, sales, service
from crmwh.extract.base import Extraction
from crmwh.settings import Settings
from crmwh.source_entities import Entity

ExtractFor = Callable[[Settings, psycopg.Connection, Entity, date, str | None], Extraction]
PendingRowsFor = Callable[[Settings, psycopg.Connection, list[Entity], date], dict[str, int]]


@dataclass(frozen=True)
class Extractor:
    extract: ExtractFor
    pending_rows: PendingRowsFor | None = None  # None: the source tells no size


EXTRACTORS: dict[str, Extractor] = {
    "sales": Extractor(sales.extract_for, sales.pending_rows_for),
    "billing": Extractor(billing.extract_for, billing.pending_rows_for),
    "service": Extractor(service.extract_for),
}
