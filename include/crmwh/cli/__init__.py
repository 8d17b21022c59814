"""``crmwh``: run the CRM warehouse from the command line.

Errors a user can fix print one line (problem — fix) and exit 2; anything else prints one
line too (exit 1), and its traceback with ``crmwh --debug``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from importlib.metadata import version

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
    status,
)
from crmwh.cli.common import Parser
from crmwh.errors import CrmwhError

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

GROUPS = (db, run, scheduler, sources, imports, sql, status, quarantine, serving, churn,
          metrics)


def build_parser() -> argparse.ArgumentParser:
    """The runtime's command groups, then each installed plugin's commands."""
    parser = Parser(prog="crmwh", description=__doc__.splitlines()[0].replace("``", ""))
    parser.add_argument("--version", action="version", version=f"crmwh {version('crmwh')}")
    parser.add_argument("--debug", action="store_true",
                        help="on an unexpected error, show its traceback")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in (*GROUPS, *plugins.load()):
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except CrmwhError as exc:
        print(f"crmwh: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`crmwh sql ... | head`): nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # a bug or an unforeseen failure: one line, the traceback on ask
        if args.debug:
            raise
        reason = " ".join(str(exc).split())[:300] or "no message"
        print(f"crmwh: unexpected error: {type(exc).__name__}: {reason} — rerun as "
              f"`crmwh --debug {args.command} ...` for the traceback", file=sys.stderr)
        return 1
