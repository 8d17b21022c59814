"""What every command group shares: the parser (one-line errors, defaults in ``--help``), the
progress line, the date and output-format arguments."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from typing import NoReturn

FORMATS = ("table", "csv", "json")


def _shown(default: object) -> bool:
    """Whether ``--help`` shows a default: not for none (None, a flag's False)."""
    return default not in (None, False, argparse.SUPPRESS)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` with each option's default, unless it has none or its help already says
    what it is."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not _shown(action.default) or "default" in text:
            return text
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit code 2) and whose help
    shows the defaults; its sub-commands' parsers are of the same kind."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def add_argument(self, *args, **kwargs) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        if action.help is None and action.option_strings and _shown(action.default):
            action.help = "(default: %(default)s)"  # an option without help shows its default
        return action

    def error(self, message: str) -> NoReturn:
        name = self.prog.split()[0]
        self.exit(2, f"{name}: error: {message} — see `{self.prog} --help`\n")


def iso_date(text: str) -> date:
    """An argparse type: a date like 2026-03-31."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-03-31") from None


def add_format(parser: argparse.ArgumentParser) -> None:
    """``--format table|csv|json`` for a command that prints rows."""
    parser.add_argument("--format", choices=FORMATS, default="table",
                        help="how rows are printed: an aligned table, CSV with a header line, "
                             "or a JSON array of objects (numbers exact, dates ISO 8601)")


def say(msg: str) -> None:
    print(f"[crmwh] {msg}", flush=True)


def note(msg: str) -> None:
    """A progress or side note on stderr, so that stdout stays the command's data."""
    print(f"[crmwh] {msg}", file=sys.stderr, flush=True)
