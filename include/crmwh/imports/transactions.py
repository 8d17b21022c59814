"""``crmwh import transactions``: a transactions file landed like any source, in one transaction.

The file streams into the session (:mod:`crmwh.imports.reader`), each record is checked
and the good ones become the sales contract's customers, products, orders and order
lines (:mod:`crmwh.imports.derive`). Each entity then lands through the loader as a typed
extraction, like the sales database's (:func:`crmwh.load.landing.land`): a batch in
``audit.load_batches``, row hashes, counts reconciled, rows raw already has counted
unchanged. The records that
cannot land are quarantined with their reasons in the order lines' batch, whose
extracted count is the file's records. Nothing lands unless everything does.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from crmwh import database, source_entities, warehouse
from crmwh.as_of import reporting_timezone
from crmwh.errors import CrmwhError
from crmwh.extract.base import Extraction
from crmwh.imports import derive
from crmwh.imports.reader import TransactionsFile, copy_file
from crmwh.load.batches import BatchResult, new_batch_id
from crmwh.load.landing import land
from crmwh.pgcopy import quote_ident
from crmwh.settings import Settings
from crmwh.source_entities import Entity, row_hash_sql

log = logging.getLogger(__name__)
ENTITIES = ("customers", "products", "orders", "order_lines")  # landing order
SCRATCH = ("_rejects", "_typed", "_rows", "_good")  # the loader's, dropped between entities
REJECTS = """insert into _rejects (source_ref, reason, payload)
    select %(ref)s, reason, jsonb_strip_nulls(jsonb_build_object(
        'line', line, 'customer', customer, 'date', date_raw, 'amount', amount,
        'quantity', quantity, 'order', order_ref, 'product', product))
    from _import where reason is not null"""


@dataclass(frozen=True)
class Imported:
    run_id: str
    records: int
    batches: list[BatchResult]


def _extraction(entity: Entity, ref: str) -> Extraction:
    """The derived rows of one entity as an extraction the loader takes typed, with their
    row hash, as a typed source's (sales) rows."""
    hashed = row_hash_sql([f"d.{quote_ident(c)}" for c in entity.column_names], "null::jsonb")

    def copy_typed(cur: psycopg.Cursor, table: str, columns: list[str],
                   constants: Mapping[str, object]) -> int:
        if entity.name == "order_lines":  # the records that cannot land, with their reasons
            cur.execute(REJECTS, {"ref": ref})
        special = {"_extra": "null::jsonb", "_source_ref": "%(ref)s", "_row_hash": hashed,
                   **{name: f"%({name})s" for name in constants}}
        picked = ", ".join(special.get(c, f"d.{quote_ident(c)}") for c in columns)
        cur.execute(f"insert into {table} ({', '.join(map(quote_ident, columns))}) "
                    f"select {picked} from ({derive.typed_select(entity)}) d",
                    {"ref": ref, **constants})
        return cur.rowcount

    return Extraction(typed=copy_typed, distinct_rows=True, source_ref=ref)


def _refuse_unusable(cur: psycopg.Cursor, spec: TransactionsFile, records: int) -> None:
    """No record at all, or no record whose date parses: the file is not what was said."""
    if records == 0:
        raise CrmwhError(f"{spec.path.name} has a header but no transactions",
                         "give a file with at least one transaction")
    good_dates, example = cur.execute(
        "select count(ordered_at), min(date_raw) from _import where problem is null").fetchone()
    if good_dates == 0 and example is not None:
        how = f"--date-format {spec.date_format!r}" if spec.date_format else "ISO 8601"
        raise CrmwhError(
            f"no date in column {spec.columns['date']!r} parses as {how} (e.g. {example!r})",
            "give --date-format in strptime notation, e.g. --date-format %d/%m/%Y")


def import_transactions(cfg: Settings, spec: TransactionsFile) -> Imported:
    """Land the file's transactions; every batch commits together or not at all."""
    dsn = warehouse.ensure_warehouse(cfg)
    run_id = f"import_{datetime.now(UTC):%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:8]}"
    today = datetime.now(UTC).date()
    started = time.monotonic()
    batches = []
    with database.connect(dsn) as conn:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("set local work_mem = '256MB'")
            # a date without a zone is that day in the reporting time zone (as the marts read it)
            cur.execute("select set_config('timezone', %s, true)", (reporting_timezone(),))
            records = copy_file(cur, spec)
            cur.execute("set local timezone = 'UTC'")
            _refuse_unusable(cur, spec, records)
            derive.check_records(cur)
            derive.derive(cur, by_order="order" in spec.columns)
            for name in ENTITIES:
                entity = source_entities.BY_TABLE[f"sales__{name}"]
                # passed as it lands: every record was checked as the file was read, and
                # the suites' freshness and volume judge a source's nightly deliveries, not
                # a history file of any age
                batches.append(land(conn, entity, _extraction(entity, spec.ref),
                                    batch_id=new_batch_id(entity, today), run_id=run_id,
                                    as_of_date=today, watermark_before=None, started=started,
                                    gate_state="passed"))
                cur.execute(f"drop table if exists {', '.join(SCRATCH)}")
                started = time.monotonic()
            if batches[-1].rows_extracted != records:
                raise CrmwhError(f"the order lines' batch counts {batches[-1].rows_extracted} "
                                 f"records where the file has {records}",
                                 "report this: the file was read differently than landed")
    for batch in batches:
        log.info("imported %s: %s", batch.entity, batch)
    return Imported(run_id, records, batches)
