"""Command plugins: objects named in the entry-point group ``crmwh.plugins``.

A plugin exposes ``register(subparsers)`` (adds its commands) and may expose
``prepare_run(cfg)`` (called by ``crmwh run`` before the nightly, e.g. to start a
simulated source).
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from typing import Any

from crmwh.settings import Settings

GROUP = "crmwh.plugins"


@cache
def load() -> tuple[Any, ...]:
    """Every installed plugin, in entry-point name order."""
    return tuple(ep.load() for ep in sorted(entry_points(group=GROUP), key=lambda ep: ep.name))


def prepare_run(cfg: Settings) -> None:
    """Each plugin's ``prepare_run`` hook, before ``crmwh run`` starts the nightly."""
    for plugin in load():
        hook = getattr(plugin, "prepare_run", None)
        if hook is not None:
            hook(cfg)
