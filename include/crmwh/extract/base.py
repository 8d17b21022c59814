"""What an extractor hands to the loader."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class Reject:
    """A delivered record that could not be parsed into fields."""

    source_ref: str
    reason: str
    payload: dict


@dataclass(frozen=True)
class SourceFile:
    """A billing file consumed by an extraction (recorded so it is never loaded twice)."""

    name: str
    sha256: str
    drop_date: str
    rows: int


@dataclass
class Extraction:
    frame: pd.DataFrame  # string values (None for null) + "_source_ref"
    rejects: list[Reject] = field(default_factory=list)
    watermark_after: str | None = None
    files: list[SourceFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Instead of a frame, a source may stream its rows straight into the loader's
    # staging table: copy_into(cursor, table, columns) -> rows copied.
    copy_into: Callable | None = None
    source_ref: str | None = None
    # columns whose source type already guarantees the contract type (no parse check)
    trusted_columns: frozenset[str] = frozenset()

    @property
    def source_refs(self) -> list[str]:
        if self.source_ref:
            return [self.source_ref]
        if self.frame.empty:
            refs: set[str] = set()
        else:
            refs = set(self.frame["_source_ref"].unique())
        return sorted(refs | {r.source_ref for r in self.rejects})


def empty_frame() -> pd.DataFrame:
    return pd.DataFrame({"_source_ref": pd.Series([], dtype=object)})
