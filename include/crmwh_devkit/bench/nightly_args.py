"""The options of ``crmwh bench nightly`` (kept apart so ``crmwh --help`` imports nothing heavy)."""

from __future__ import annotations

import argparse
from pathlib import Path

EXECUTIONS = ("local", "watcher")


def executions(text: str) -> tuple[str, ...]:
    """``--execution``: a comma-separated list of DAG execution modes."""
    modes = tuple(dict.fromkeys(m.strip().lower() for m in text.split(",") if m.strip()))
    if not modes or any(m not in EXECUTIONS for m in modes):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give one or more of {', '.join(EXECUTIONS)}, comma-separated")
    return modes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--execution", type=executions, default=("watcher",),
                        help="DAG execution modes to run, e.g. local,watcher (default watcher)")
    parser.add_argument("--no-plain", dest="plain", action="store_false",
                        help="skip the plain one-process baseline (no overhead figure)")
    parser.add_argument("--home", type=Path, default=None,
                        help="the bench's home (default $CRM_HOME/bench/nightly_<N>)")
    parser.add_argument("--no-record", dest="record", action="store_false",
                        help="do not write benchmarks/nightly_<N>.json and nightly.md")
