"""What every command group shares: the progress line and the date argument."""

from __future__ import annotations

import argparse
from datetime import date


def iso_date(text: str) -> date:
    """An argparse type: a date like 2026-03-31."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-03-31") from None


def say(msg: str) -> None:
    print(f"[crmwh] {msg}", flush=True)
