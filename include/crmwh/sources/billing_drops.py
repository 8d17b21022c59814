"""The billing system: daily file drops (CSV and JSON lines) with a manifest and checksums.

Folder layout, one folder per arrival day::

    <billing_dir>/2026-01-05/accounts_20260105.csv
    <billing_dir>/2026-01-05/invoices_20260105.jsonl
    <billing_dir>/2026-01-05/manifest.json   {"files": [{"name", "entity", "rows", "sha256"}]}

A file covers the rows changed on its business date. Some files arrive a day
or two late (they sit in a later folder under their own business date) and
some are delivered again, byte for byte, in a later folder.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

FORMATS = {"accounts": "csv", "invoices": "jsonl", "payments": "csv"}
MANIFEST = "manifest.json"


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
            frame.loc[values.isna(), col] = None
    return frame


def _render(frame: pd.DataFrame, fmt: str) -> bytes:
    if fmt == "csv":
        return frame.to_csv(index=False, lineterminator="\n").encode()
    records = frame.to_dict(orient="records")
    lines = [json.dumps({k: (None if v is None or v != v else v) for k, v in r.items()},
                        sort_keys=True, default=str) for r in records]
    return ("\n".join(lines) + "\n").encode() if lines else b""


def write(folder: Path, frames: dict[str, pd.DataFrame], start: date, days: int,
          seed: int, late_rate: float, redelivery_rate: float) -> dict[str, int]:
    rng = np.random.default_rng(seed + 7)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    last = start + timedelta(days=days - 1)
    drops: dict[date, list[tuple[str, str, bytes, int]]] = {}
    counts = {}
    for entity, fmt in FORMATS.items():
        frame = frames[entity]
        business = frame["updated_at"].dt.date.clip(lower=start)
        counts[entity] = 0
        for day in sorted(set(business)):
            if day > last:
                continue
            part = frame[business == day]
            east8 = bool(rng.random() < 0.3)
            body = _render(_format_times(part, east8), fmt)
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
