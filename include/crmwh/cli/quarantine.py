"""``crmwh quarantine release``: re-land quarantined rows after a fix."""

from __future__ import annotations

import argparse

from crmwh import settings
from crmwh.cli.common import say


def register(sub: argparse._SubParsersAction) -> None:
    quarantine = sub.add_parser(
        "quarantine", help="re-release quarantined rows after a fix",
        description="Re-land the quarantined rows of a batch through the normal landing checks "
                    "and its quality gate; counts are reconciled (docs/data_quality.md).")
    quarantine.add_argument("action", choices=["release"])
    quarantine.add_argument("--batch", required=True, help="the batch id the rows came from")
    quarantine.add_argument("--reason", help="only rows whose reason contains this text")
    quarantine.set_defaults(func=cmd_quarantine)


def cmd_quarantine(args: argparse.Namespace) -> int:
    from crmwh import database
    from crmwh.quality import release

    cfg = settings.load()
    with database.connect(cfg.warehouse_dsn, autocommit=True) as conn:
        done = release.release(conn, args.batch, args.reason)
    say(f"released {done.rows_selected} rows of batch {done.batch_id} as "
        f"{done.release_batch_id}: {done.rows_loaded} loaded, {done.rows_unchanged} unchanged, "
        f"{done.rows_quarantined} quarantined again, {done.rows_not_releasable} not releasable "
        f"(reconciles: {done.reconciles}); gate {done.gate}")
    return 0
