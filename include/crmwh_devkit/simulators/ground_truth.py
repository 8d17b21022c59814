"""The ground truth files: who is who across the systems, who churned when (never read by
the warehouse; tests compare the marts against them). Written chunk by chunk."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from crmwh_devkit.simulators import timetext

PART = ".part"  # a file being written; renamed into place by finish()


class Writer:
    """``<folder>/<name>.csv`` per truth table, each chunk's rows appended; the files
    replace the old ones only when :meth:`finish` is reached."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.names: list[str] = []

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc) -> None:
        for name in self.names:  # left over after an error
            (self.folder / f"{name}.csv{PART}").unlink(missing_ok=True)

    def append(self, frames: dict[str, pd.DataFrame]) -> None:
        for name, frame in frames.items():
            first = name not in self.names
            if first:
                self.names.append(name)
            _as_text(frame).to_csv(self.folder / f"{name}.csv{PART}", index=False,
                                   header=first, mode="w" if first else "a")

    def finish(self) -> None:
        for name in self.names:
            (self.folder / f"{name}.csv{PART}").replace(self.folder / f"{name}.csv")
        self.names = []


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Timestamps written the same way in every chunk (to_csv would drop the time of a
    column that happens to hold only midnights)."""
    times = [c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])]
    if not times:
        return frame
    frame = frame.copy()
    for col in times:
        frame[col] = timetext.iso(frame[col], sep=" ")
    return frame
