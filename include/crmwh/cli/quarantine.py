"""``crmwh quarantine``: re-land quarantined rows after a fix; show the rows parked for a
late parent."""

from __future__ import annotations

import argparse

from crmwh import settings
from crmwh.cli.common import add_format, say
from crmwh.errors import CrmwhError

PARKED = """
    select source || '__' || entity, reason, count(*), min(parked_on), max(parked_on)
    from quarantine.parked where settled_at is null
    group by 1, 2 order by 1, 3 desc, 2"""


def register(sub: argparse._SubParsersAction) -> None:
    quarantine = sub.add_parser(
        "quarantine", help="re-release quarantined rows after a fix; show parked rows",
        description="release: re-land the quarantined rows of a batch through the normal "
                    "landing checks and its quality gate; counts are reconciled. parked: the "
                    "rows waiting for a parent that has not arrived yet, by entity and reason "
                    "(docs/data_quality.md).")
    quarantine.add_argument("action", choices=["release", "parked"])
    quarantine.add_argument("--batch", help="release: the batch id the rows came from")
    quarantine.add_argument("--reason", help="release: only rows whose reason contains this text")
    add_format(quarantine)
    quarantine.set_defaults(func=cmd_quarantine)


def cmd_quarantine(args: argparse.Namespace) -> int:
    from crmwh import database

    cfg = settings.load()
    if args.action == "parked":
        return _parked(cfg, args.format)
    if not args.batch:
        raise CrmwhError("crmwh quarantine release needs the batch to release",
                         "add --batch <batch_id> (see quarantine.rows.batch_id)")
    from crmwh.quality import release

    with database.connect(cfg.warehouse_dsn, autocommit=True) as conn:
        done = release.release(conn, args.batch, args.reason)
    say(f"released {done.rows_selected} rows of batch {done.batch_id} as "
        f"{done.release_batch_id}: {done.rows_loaded} loaded, {done.rows_unchanged} unchanged, "
        f"{done.rows_quarantined} quarantined again, {done.rows_not_releasable} not releasable "
        f"(reconciles: {done.reconciles}); gate {done.gate}")
    return 0


def _parked(cfg: settings.Settings, fmt: str) -> int:
    """Print the rows waiting in ``quarantine.parked``, by entity and reason."""
    from crmwh import database, warehouse
    from crmwh.cli.printout import emit

    dsn = warehouse.ensure_warehouse(cfg)
    with database.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(PARKED).fetchall()
    columns = ["entity", "reason", "rows", "first_parked", "last_parked"]
    if fmt != "table":
        emit(columns, rows, fmt)
        return 0
    if not rows:
        say("no rows parked: every landed row's parent is in raw")
        return 0
    say(f"{sum(r[2] for r in rows)} rows parked, waiting for their parent (released when it "
        f"lands, quarantined after CRM_PARK_DAYS={cfg.park_days} nights):")
    emit(columns, rows)
    return 0
