"""``crmwh``: run the CRM warehouse from the command line.

Errors a user can fix print one line (problem — fix) and exit 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings

from crmwh.cli import (
    churn,
    db,
    imports,
    metrics,
    plugins,
    quarantine,
    run,
    scheduler,
    serving,
    sources,
    sql,
)
from crmwh.errors import CrmwhError

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

GROUPS = (db, run, scheduler, sources, imports, sql, quarantine, serving, churn, metrics)


def build_parser() -> argparse.ArgumentParser:
    """The runtime's command groups, then each installed plugin's commands."""
    parser = argparse.ArgumentParser(prog="crmwh", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (*GROUPS, *plugins.load()):
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CrmwhError as exc:
        print(f"crmwh: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130

