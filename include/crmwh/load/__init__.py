"""Landing: check extracted rows, land the good ones in ``raw``, quarantine the rest.

Every extracted row ends in exactly one place, and the batch record says so:

* ``loaded``       — a new row version, appended to ``raw.<source>__<entity>``;
* ``unchanged``    — the identical version (same row hash) was already landed,
                     e.g. re-read by the sales look-back window or a rerun;
* ``quarantined``  — in ``quarantine.rows`` with the reason and the batch;
* ``parked``       — its parent not in ``raw`` yet: the gate moves it from raw to
                     ``quarantine.parked`` after the batch passed (:mod:`crmwh.quality.parking`).

``rows_extracted = rows_loaded + rows_unchanged + rows_parked + rows_quarantined`` holds
for every batch. Landing, quarantine, the batch record and the consumed billing
files commit in one transaction: a load killed midway leaves nothing, and the
watermark only moves when the rows it covers are in.

All of it is set-based SQL in one session:

1. the rows are copied as delivered into scratch tables (:mod:`crmwh.extract.scratch`)
   and typed and checked into ``_typed`` (:mod:`crmwh.extract.typed`), or come typed
   and hashed by the source itself (sales); each row carries the reason it cannot
   land, if any;
2. rows with a reason go to quarantine (:mod:`.quarantine`);
3. the good rows get their row hash (:func:`crmwh.source_entities.row_hash_sql`) and
   are appended to raw (:mod:`.append`), except versions raw already has (unchanged)
   and second copies within the batch (quarantined as duplicates).

A first load into an empty raw table is landed in bulk (:mod:`.bulk`): the table is
locked, its indexes are dropped, rows are appended without per-row index upkeep (a
typed source streams them straight into raw), copies within the batch are found
with one hash aggregate, and the indexes are built again at the end.

Modules: :mod:`.landing` (the one transaction of a batch), :mod:`.batches` (batch
ids, watermarks, ``audit.load_batches``), :mod:`.files` (billing file bookkeeping),
:mod:`.quarantine`, :mod:`.append`, :mod:`.bulk`.
"""
