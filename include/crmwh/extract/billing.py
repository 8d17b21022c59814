"""Billing: every file exactly once, by manifest and checksum.

All drop folders up to the run's date are scanned; a file whose (name,
sha256) was already loaded is skipped (re-deliveries), a file arriving late in
a later folder is picked up there. A file whose checksum does not match its
manifest is left for the next run and reported.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd

from crmwh.contracts import Entity
from crmwh.errors import CrmwhError
from crmwh.extract.base import Extraction, Reject, SourceFile, empty_frame

MANIFEST = "manifest.json"


def _parse_csv(body: bytes, ref: str) -> tuple[pd.DataFrame, list[Reject]]:
    rows = list(csv.reader(io.StringIO(body.decode("utf-8", errors="replace"))))
    if not rows:
        return empty_frame(), []
    header, good, rejects = rows[0], [], []
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            rejects.append(Reject(ref, f"malformed CSV line {lineno}: {len(row)} fields, "
                                       f"header has {len(header)}", {"line": ",".join(row)}))
        else:
            good.append([v if v != "" else None for v in row])
    frame = pd.DataFrame(good, columns=header, dtype=object)
    return frame, rejects


def _parse_jsonl(body: bytes, ref: str) -> tuple[pd.DataFrame, list[Reject]]:
    good, rejects = [], []
    for lineno, line in enumerate(body.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            rejects.append(Reject(ref, f"malformed JSON line {lineno}: {exc}", {"line": line}))
            continue
        good.append({k: (None if v is None or v == "" else str(v)) for k, v in record.items()})
    return pd.DataFrame(good, dtype=object), rejects


PARSERS = {"csv": _parse_csv, "jsonl": _parse_jsonl}


def extract(folder: Path, entity: Entity, until: date,
            already_loaded: Callable[[str, str], bool]) -> Extraction:
    if not folder.is_dir():
        raise CrmwhError(f"the billing drop folder {folder} does not exist",
                         "set CRM_BILLING_DIR or run `crmwh generate`")
    frames, rejects, files, notes = [], [], [], []
    seen: set[tuple[str, str]] = set()
    for drop in sorted(p for p in folder.iterdir() if p.is_dir()):
        try:
            drop_date = date.fromisoformat(drop.name)
        except ValueError:
            continue
        if drop_date > until or not (drop / MANIFEST).exists():
            continue
        manifest = json.loads((drop / MANIFEST).read_text())
        for item in manifest["files"]:
            if item["entity"] != entity.name:
                continue
            key = (item["name"], item["sha256"])
            if key in seen or already_loaded(*key):
                notes.append(f"skipped re-delivered {drop.name}/{item['name']}")
                continue
            body = (drop / item["name"]).read_bytes()
            if hashlib.sha256(body).hexdigest() != item["sha256"]:
                notes.append(f"checksum mismatch in {drop.name}/{item['name']}: left for next run")
                continue
            ref = f"{drop.name}/{item['name']}"
            frame, bad = PARSERS[item["format"]](body, ref)
            frame["_source_ref"] = ref
            frames.append(frame)
            rejects.extend(bad)
            files.append(SourceFile(item["name"], item["sha256"], drop.name,
                                    len(frame) + len(bad)))
            seen.add(key)
    frame = pd.concat(frames, ignore_index=True) if frames else empty_frame()
    frame = frame.astype(object).where(frame.notna(), None)
    return Extraction(frame=frame, rejects=rejects, files=files, notes=notes)
