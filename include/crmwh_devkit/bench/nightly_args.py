"""The options of ``crmwh bench nightly`` (kept apart so ``crmwh --help`` imports nothing heavy)."""

from __future__ import annotations

import argparse
from pathlib import Path

EXECUTIONS = ("local", "watcher")
ORCHESTRATORS = ("test", "scheduler")


def _choices(text: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(m.strip().lower() for m in text.split(",") if m.strip()))
    if not chosen or any(m not in allowed for m in chosen):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give one or more of {', '.join(allowed)}, comma-separated")
    return chosen


def executions(text: str) -> tuple[str, ...]:
    """``--execution``: a comma-separated list of DAG execution modes."""
    return _choices(text, EXECUTIONS)


def orchestrators(text: str) -> tuple[str, ...]:
    """``--orchestrator``: a comma-separated list of ways to run the DAG."""
    return _choices(text, ORCHESTRATORS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--execution", type=executions, default=("watcher",),
                        help="DAG execution modes to run, e.g. local,watcher (default watcher)")
    parser.add_argument("--orchestrator", type=orchestrators, default=("test",),
                        help="how Airflow runs the DAG: test (`airflow dags test`, one task at "
                             "a time, as `crmwh run`), scheduler (triggered in the real "
                             "scheduler, LocalExecutor, as `crmwh run --scheduler`), or "
                             "test,scheduler (default test)")
    parser.add_argument("--no-plain", dest="plain", action="store_false",
                        help="skip the plain one-process baseline (no overhead figure)")
    parser.add_argument("--home", type=Path, default=None,
                        help="the bench's home (default $CRM_HOME/bench/nightly_<N>)")
    parser.add_argument("--no-record", dest="record", action="store_false",
                        help="do not write benchmarks/nightly_<N>.json and nightly.md")
