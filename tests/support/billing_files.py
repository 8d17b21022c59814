"""Billing's drop folders as delivered: the files each manifest lists."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

from crmwh_devkit.simulators import billing_drops


def delivered(folder: Path, until: date) -> dict[tuple[str, str], tuple]:
    """Every distinct (name, sha256) file delivered up to ``until``: (entity, fmt, body,
    rows, drop)."""
    out = {}
    for drop in sorted(p for p in folder.iterdir() if p.is_dir()):
        if date.fromisoformat(drop.name) > until:
            continue
        manifest = json.loads((drop / billing_drops.MANIFEST).read_text())
        for item in manifest["files"]:
            body = (drop / item["name"]).read_bytes()
            assert hashlib.sha256(body).hexdigest() == item["sha256"], item["name"]
            out.setdefault((item["name"], item["sha256"]),
                           (item["entity"], item["format"], body, item["rows"], drop.name))
    return out


def write_drop(folder: Path, day: str, files: dict[str, tuple[str, str, bytes]],
               items: dict[str, dict] | None = None) -> None:
    """A drop folder with a manifest; files: name -> (entity, format, body); ``items``:
    what a file's manifest item says besides (rows, encoding, another sha256)."""
    target = folder / day
    target.mkdir(parents=True)
    listed = []
    for name, (entity, fmt, body) in files.items():
        (target / name).write_bytes(body)
        listed.append({"name": name, "entity": entity, "format": fmt,
                       "sha256": hashlib.sha256(body).hexdigest(), **(items or {}).get(name, {})})
    (target / billing_drops.MANIFEST).write_text(json.dumps({"drop_date": day, "files": listed}))
