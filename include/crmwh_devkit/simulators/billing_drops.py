"""The billing system: daily file drops (CSV and JSON lines) with a manifest and checksums.

Folder layout, one folder per arrival day::

    <billing_dir>/2026-01-05/accounts_20260105.csv
    <billing_dir>/2026-01-05/invoices_20260105.jsonl
    <billing_dir>/2026-01-05/manifest.json   {"files": [{"name", "entity", "rows", "sha256"}]}

A file covers the rows changed on its business date. Some files arrive a day
or two late (they sit in a later folder under their own business date) and
some are delivered again, byte for byte, in a later folder.

File-level dirt, as real drops have it (the manifest's checksum is over the file
as delivered, dirt included):

* malformed CSV lines: at ``malformed_rate`` per data line of a CSV file, a line
  loses its last field (a truncated write) or gains one (a stray delimiter after
  the key); the extractor quarantines such lines with the reason;
* a new column appearing: from :func:`drift_start` on (derived from the seed, or
  passed in), one entity's files (:data:`DRIFT`) carry an extra column the
  contract does not know yet; the loader keeps it in raw ``_extra``.

The generator hands its rows over a chunk of customers at a time (:class:`Writer`); a
day's file holds every chunk's rows, so they wait on disk until the last chunk is in.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from crmwh_devkit.simulators import timetext
from crmwh_devkit.simulators.spool import FrameSpool

FORMATS = {
    "accounts": "csv",
    "invoices": "jsonl",
    "payments": "csv",
    "invoice_lines": "csv",
    "contracts": "jsonl",
    "credit_notes": "csv",
    "credit_lines": "jsonl",
}
MANIFEST = "manifest.json"
MALFORMED_RATE = 0.002  # share of CSV data lines written malformed (project default)
BATCH_ROWS = 200_000  # rows of a file rendered at a time


@dataclass(frozen=True)
class Drift:
    """A column the contract does not know, carried by ``entity``'s files from a date on."""

    entity: str = "invoice_lines"
    column: str = "po_number"
    share: float = 0.6  # rows that carry a value (the others leave it empty)
    starts: date | None = None  # None: derived from the seed, see drift_start


DRIFT = Drift()


def drift_start(start: date, days: int, seed: int) -> date:
    """The first business date whose files carry the drift column (40-70 % into the window)."""
    frac = np.random.default_rng([seed, 7, 2]).uniform(0.4, 0.7)
    return start + timedelta(days=int(days * frac))


def _format_times(frame: pd.DataFrame, east8: bool) -> pd.DataFrame:
    """Timestamps as ISO strings; some files are written in UTC+8 (mixed time zones)."""
    frame = frame.copy()
    for col in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[col]):
            if not col.endswith("_at"):
                frame[col] = timetext.iso(frame[col], unit="D")
            elif east8:
                frame[col] = timetext.iso(frame[col], suffix="+08:00", shift_hours=8)
            else:
                frame[col] = timetext.iso(frame[col], suffix="Z")
    return frame


def _render(frame: pd.DataFrame, fmt: str, header: bool = True) -> bytes:
    if fmt == "csv":
        return frame.to_csv(index=False, header=header, lineterminator="\n").encode()
    names = list(frame.columns)
    columns = [frame[c].tolist() for c in names]  # native Python values, as to_dict gives
    lines = [json.dumps({k: (None if v is None or v != v else v)
                         for k, v in zip(names, row, strict=True)},
                        sort_keys=True, default=str) for row in zip(*columns, strict=True)]
    return ("\n".join(lines) + "\n").encode() if lines else b""


def _with_drift(part: pd.DataFrame, drift: Drift) -> pd.DataFrame:
    """The rows with the drift column appended (a value for ``share`` of them, by key)."""
    key = "invoice_id" if "invoice_id" in part.columns else part.columns[0]
    h = pd.util.hash_array(part[key].astype(str).to_numpy(dtype=object))
    has = (h % 1000) < drift.share * 1000
    value = np.char.add("PO-", np.char.zfill((h % 10**6).astype(str), 6))
    part = part.copy()
    part[drift.column] = np.where(has, value, None)
    return part


def _broken_lines(data_lines: int, rate: float, rng: np.random.Generator) -> dict[int, int]:
    """Which data lines of a CSV file to write malformed (0-based), and how: kind 0 drops
    the last field (a truncated line), kind 1 doubles the delimiter after the first field
    (a stray delimiter)."""
    if rate <= 0 or data_lines <= 0:
        return {}
    hit = np.nonzero(rng.random(data_lines) < rate)[0]
    kinds = rng.integers(0, 2, hit.size)
    return dict(zip(hit.tolist(), kinds.tolist(), strict=True))


def _malform(body: bytes, broken: dict[int, int], header: bool, fields: int) -> bytes:
    """The CSV ``body`` with its ``broken`` data lines (index: kind) malformed. A line is
    only touched when the result is still one physical line with a wrong field count."""
    lines = body.decode().split("\n")
    skip = 1 if header else 0
    for i, kind in broken.items():
        line = lines[i + skip]
        cut = line.rfind(",") if kind == 0 else line.find(",")
        if cut < 0:
            continue
        bad = line[:cut] if kind == 0 else line[:cut] + "," + line[cut:]
        rows = list(csv.reader(io.StringIO(bad)))
        if len(rows) == 1 and len(rows[0]) != fields:
            lines[i + skip] = bad
    return "\n".join(lines).encode()


class Writer:
    """The drop folder, written from the generator's chunks. :meth:`append` parks a chunk's
    rows by file (entity and business date) on disk; :meth:`finish` writes the files in a
    fixed order (entities, then days), each piece by piece, so no file is ever whole in
    memory. The files' random choices (time zone, lateness, re-delivery, malformed lines)
    are drawn per file in that order: chunking never changes them."""

    def __init__(self, folder: Path, start: date, days: int, seed: int, late_rate: float,
                 redelivery_rate: float, *, malformed_rate: float = MALFORMED_RATE,
                 drift: Drift | None = DRIFT) -> None:
        self.folder, self.start = folder, start
        self.last = start + timedelta(days=days - 1)
        self.late_rate, self.redelivery_rate = late_rate, redelivery_rate
        self.malformed_rate, self.drift = malformed_rate, drift
        self.drift_from = None if drift is None else drift.starts or drift_start(start, days,
                                                                                 seed)
        self.rng = np.random.default_rng(seed + 7)
        self.dirt = np.random.default_rng([seed, 7, 1])  # own stream: dirt never moves files
        self.spool = FrameSpool(folder.parent)
        self.counts: dict[str, int] = {}

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc) -> None:
        self.spool.close()

    def append(self, frames: dict[str, pd.DataFrame]) -> None:
        """Park each entity's rows by business date (updated_at's UTC date, older rows in
        the first file), in their order within a day."""
        for entity in FORMATS:
            if entity not in frames:  # an entity the generator does not fill (yet)
                continue
            frame = frames[entity]
            self.counts.setdefault(entity, 0)
            business = np.maximum(frame["updated_at"].to_numpy().astype("datetime64[D]"),
                                  np.datetime64(self.start, "D"))
            order = np.argsort(business, kind="stable")
            days_sorted = business[order]
            firsts = np.flatnonzero(np.r_[True, days_sorted[1:] != days_sorted[:-1]])
            bounds = np.r_[firsts, days_sorted.size]
            for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
                if np.isnat(days_sorted[lo]) or days_sorted[lo].astype(date) > self.last:
                    continue
                self.spool.add((entity, days_sorted[lo].astype(date)), frame.iloc[order[lo:hi]])
                self.counts[entity] += hi - lo

    def finish(self) -> dict[str, int]:
        """Write every file and each drop's manifest; return the rows written per entity."""
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        manifests: dict[date, list[dict]] = {}
        files = self.spool.keys()
        for entity in FORMATS:
            for day in sorted(d for e, d in files if e == entity):
                self._deliver(entity, day, manifests)
        for arrival, items in sorted(manifests.items()):
            (self.folder / arrival.isoformat() / MANIFEST).write_text(json.dumps(
                {"drop_date": arrival.isoformat(), "files": items}, indent=1) + "\n")
        return dict(self.counts)

    def _deliver(self, entity: str, day: date, manifests: dict[date, list[dict]]) -> None:
        """One file into its arrival folder (late now and then), and again later for some."""
        east8 = bool(self.rng.random() < 0.3)
        arrival = day
        if self.rng.random() < self.late_rate:
            arrival = min(self.last, day + timedelta(days=int(self.rng.integers(1, 3))))
        again = arrival
        if self.rng.random() < self.redelivery_rate:
            again = min(self.last, arrival + timedelta(days=int(self.rng.integers(1, 4))))
        name = f"{entity}_{day:%Y%m%d}.{FORMATS[entity]}"
        path = self.folder / arrival.isoformat() / name
        path.parent.mkdir(exist_ok=True)
        item = {"name": name, "entity": entity, "format": FORMATS[entity],
                "rows": sum(self.spool.rows((entity, day))),
                "sha256": self._write_file(path, entity, day, east8)}
        manifests.setdefault(arrival, []).append(item)
        if again != arrival:  # delivered again, byte for byte
            (self.folder / again.isoformat()).mkdir(exist_ok=True)
            shutil.copyfile(path, self.folder / again.isoformat() / name)
            manifests.setdefault(again, []).append(item)

    def _write_file(self, path: Path, entity: str, day: date, east8: bool) -> str:
        """Write one file from its parked pieces; return its sha256."""
        fmt = FORMATS[entity]
        drifted = (self.drift is not None and entity == self.drift.entity
                   and day >= self.drift_from)
        broken = _broken_lines(sum(self.spool.rows((entity, day))), self.malformed_rate,
                               self.dirt) if fmt == "csv" else {}
        digest = hashlib.sha256()
        done = 0
        with path.open("wb") as f:
            for piece in _batches(self.spool.pieces((entity, day))):
                if drifted:
                    piece = _with_drift(piece, self.drift)
                body = _render(_format_times(piece, east8), fmt, header=done == 0)
                if body.count(b"\n") != len(piece) + (fmt == "csv" and done == 0):
                    raise ValueError(f"a value of {entity} holds a line break")
                mine = {i - done: k for i, k in broken.items() if done <= i < done + len(piece)}
                if mine:
                    body = _malform(body, mine, done == 0, len(piece.columns))
                f.write(body)
                digest.update(body)
                done += len(piece)
        return digest.hexdigest()


def _batches(pieces: Iterator[pd.DataFrame], rows: int = BATCH_ROWS) -> Iterator[pd.DataFrame]:
    """The pieces, consecutive small ones joined up to ``rows`` (fewer, larger renders)."""
    batch: list[pd.DataFrame] = []
    size = 0
    for piece in pieces:
        if batch and size + len(piece) > rows:
            yield batch[0] if len(batch) == 1 else pd.concat(batch)
            batch, size = [], 0
        batch.append(piece)
        size += len(piece)
    if batch:
        yield batch[0] if len(batch) == 1 else pd.concat(batch)


def write(folder: Path, frames: dict[str, pd.DataFrame], start: date, days: int,
          seed: int, late_rate: float, redelivery_rate: float, *,
          malformed_rate: float = MALFORMED_RATE, drift: Drift | None = DRIFT) -> dict[str, int]:
    """Write the drop folders from all rows at once; return the rows written per entity.

    ``malformed_rate`` and ``drift`` set the file-level dirt (see the module doc);
    ``malformed_rate=0, drift=None`` writes clean files.
    """
    with Writer(folder, start, days, seed, late_rate, redelivery_rate,
                malformed_rate=malformed_rate, drift=drift) as writer:
        writer.append(frames)
        return writer.finish()
