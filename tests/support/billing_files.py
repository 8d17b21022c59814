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
