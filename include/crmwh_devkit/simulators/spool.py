"""Rows parked on disk between the generator's chunks, until a writer can put them in place.

A source whose files mix every chunk's rows (billing's daily drops) keeps each chunk's
rows for a file here, and writes the file piece by piece once the last chunk is in.
"""

from __future__ import annotations

import io
import pickle
import shutil
import tempfile
from collections.abc import Hashable, Iterator
from pathlib import Path

import pandas as pd


class FrameSpool:
    """DataFrames appended under a key, read back piece by piece in the order they came
    (one file on disk for all of them: removing many small files is slow on some disks)."""

    def __init__(self, near: Path) -> None:
        near.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix=".spool-", dir=near))
        self.file = (self.folder / "pieces.pickle").open("w+b")
        self.places: dict[Hashable, list[tuple[int, int]]] = {}  # (offset, rows) per piece

    def add(self, key: Hashable, frame: pd.DataFrame) -> None:
        self.file.seek(0, io.SEEK_END)
        offset = self.file.tell()
        pickle.dump(frame, self.file, protocol=pickle.HIGHEST_PROTOCOL)
        self.places.setdefault(key, []).append((offset, len(frame)))

    def keys(self) -> list[Hashable]:
        return list(self.places)

    def rows(self, key: Hashable) -> list[int]:
        """The rows of each piece under ``key``."""
        return [rows for _, rows in self.places[key]]

    def pieces(self, key: Hashable) -> Iterator[pd.DataFrame]:
        for offset, _ in self.places[key]:
            self.file.seek(offset)
            yield pickle.load(self.file)  # noqa: S301 (our own file, written just before)

    def close(self) -> None:
        self.file.close()
        shutil.rmtree(self.folder, ignore_errors=True)
