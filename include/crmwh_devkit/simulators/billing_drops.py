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
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

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
            values = frame[col]
            if col.endswith("_at"):
                if east8:
                    shifted = values + pd.Timedelta(hours=8)
                    frame[col] = shifted.dt.strftime("%Y-%m-%dT%H:%M:%S+08:00")
                else:
                    frame[col] = values.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            else:
                frame[col] = values.dt.strftime("%Y-%m-%d")
            missing = values.isna()
            if missing.any():
                frame.loc[missing, col] = None
    return frame


def _render(frame: pd.DataFrame, fmt: str) -> bytes:
    if fmt == "csv":
        return frame.to_csv(index=False, lineterminator="\n").encode()
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


def _malform(body: bytes, rate: float, rng: np.random.Generator) -> tuple[bytes, int]:
    """Make some data lines of a CSV body have the wrong number of fields; return the count.

    Kind 0 drops the last field (a truncated line), kind 1 doubles the delimiter
    after the first field (a stray delimiter). A line is only touched when the
    result is still one physical line with a wrong field count.
    """
    if rate <= 0 or not body:
        return body, 0
    lines = body.decode().split("\n")
    header = next(csv.reader([lines[0]]))
    data = len(lines) - 2  # header and the empty string after the final newline
    if data <= 0:
        return body, 0
    hit = np.nonzero(rng.random(data) < rate)[0] + 1
    kinds = rng.integers(0, 2, hit.size)
    done = 0
    for i, kind in zip(hit.tolist(), kinds.tolist(), strict=True):
        line = lines[i]
        cut = line.rfind(",") if kind == 0 else line.find(",")
        if cut < 0:
            continue
        bad = line[:cut] if kind == 0 else line[:cut] + "," + line[cut:]
        rows = list(csv.reader(io.StringIO(bad)))
        if len(rows) == 1 and len(rows[0]) != len(header):
            lines[i] = bad
            done += 1
    return "\n".join(lines).encode(), done


def write(folder: Path, frames: dict[str, pd.DataFrame], start: date, days: int,
          seed: int, late_rate: float, redelivery_rate: float, *,
          malformed_rate: float = MALFORMED_RATE, drift: Drift | None = DRIFT) -> dict[str, int]:
    """Write the drop folders; return the rows written per entity.

    ``malformed_rate`` and ``drift`` set the file-level dirt (see the module doc);
    ``malformed_rate=0, drift=None`` writes clean files.
    """
    rng = np.random.default_rng(seed + 7)
    dirt = np.random.default_rng([seed, 7, 1])  # own stream: dirt never moves late files
    drift_from = None
    if drift is not None:
        drift_from = drift.starts or drift_start(start, days, seed)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    last = start + timedelta(days=days - 1)
    drops: dict[date, list[tuple[str, str, bytes, int]]] = {}
    counts = {}
    for entity, fmt in FORMATS.items():
        if entity not in frames:  # an entity the generator does not fill (yet)
            continue
        frame = frames[entity]
        # rows by business date (updated_at's UTC date, older rows in the first file),
        # in their original order within a day
        business = np.maximum(frame["updated_at"].to_numpy().astype("datetime64[D]"),
                              np.datetime64(start, "D"))
        order = np.argsort(business, kind="stable")
        days_sorted = business[order]
        firsts = np.flatnonzero(np.r_[True, days_sorted[1:] != days_sorted[:-1]])
        bounds = np.r_[firsts, days_sorted.size]
        counts[entity] = 0
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            if np.isnat(days_sorted[lo]):
                continue
            day = days_sorted[lo].astype(date)
            if day > last:
                continue
            part = frame.iloc[order[lo:hi]]
            east8 = bool(rng.random() < 0.3)
            if drift is not None and entity == drift.entity and day >= drift_from:
                part = _with_drift(part, drift)
            body = _render(_format_times(part, east8), fmt)
            if fmt == "csv":
                body, _ = _malform(body, malformed_rate, dirt)
            name = f"{entity}_{day:%Y%m%d}.{fmt}"
            arrival = day
            if rng.random() < late_rate:
                arrival = min(last, day + timedelta(days=int(rng.integers(1, 3))))
            drops.setdefault(arrival, []).append((name, entity, body, len(part)))
            if rng.random() < redelivery_rate:
                again = min(last, arrival + timedelta(days=int(rng.integers(1, 4))))
                if again != arrival:
                    drops.setdefault(again, []).append((name, entity, body, len(part)))
            counts[entity] += len(part)
    for arrival, files in sorted(drops.items()):
        target = folder / arrival.isoformat()
        target.mkdir()
        manifest = []
        for name, entity, body, rows in files:
            (target / name).write_bytes(body)
            manifest.append({"name": name, "entity": entity, "format": FORMATS[entity],
                             "rows": rows, "sha256": hashlib.sha256(body).hexdigest()})
        (target / MANIFEST).write_text(json.dumps({"drop_date": arrival.isoformat(),
                                                   "files": manifest}, indent=1) + "\n")
    return counts
