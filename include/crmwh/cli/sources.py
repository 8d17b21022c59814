"""``crmwh sources check``: the mapping file read and checked against the live sources."""

from __future__ import annotations

import argparse

from crmwh import settings
from crmwh.cli.common import say


def register(sub: argparse._SubParsersAction) -> None:
    sources = sub.add_parser(
        "sources", help="check how your own systems are mapped onto the source contract",
        description="Read the mapping file (CRM_SOURCES_FILE, default $CRM_HOME/sources.yml) "
                    "and check every mapped table, file and column against the live sources.")
    sources.add_argument("action", choices=["check"])
    sources.set_defaults(func=cmd_sources)


def cmd_sources(args: argparse.Namespace) -> int:
    from crmwh.extract import mapping_check

    cfg = settings.load()
    mapping = mapping_check.check(cfg)
    if not mapping.sources:
        say(f"no mapping file at {cfg.sources_file}: every source reads the default mapping "
            "(the simulators)")
        return 0
    say(f"mapping file {mapping.file}: OK")
    for name, source in mapping.by_source.items():
        if name in mapping.sources:
            mapped = sum(not e.identity for e in source.entities.values())
            live = "" if name == "service" else ", checked against the live source"
            say(f"  {name}: {len(source.entities)} entities, {mapped} renamed or "
                f"converted{live}")
        else:
            say(f"  {name}: not in the file: the default mapping (the simulators)")
    return 0
