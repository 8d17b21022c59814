"""The service system: a paginated JSON HTTP API served on loopback by a real process.

``GET /api/v1/<entity>?updated_since=ISO&updated_before=ISO&limit=N&cursor=C``
(entity: tickets, interactions, follow_ups, surveys) returns
``{"data": [...], "next_cursor": C | null}`` ordered by (updated_at, key). A
bearer token is required. The server limits the request rate (429 with
``Retry-After``) and fails every Nth request with 503, as real APIs do now and
then. ``GET /health`` answers without a token (and says whether the one sent is right).
"""

from __future__ import annotations

import base64
import heapq
import json
import os
import shutil
import tempfile
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd

from crmwh_devkit.simulators import timetext

MAX_LIMIT = 1000
SORT_WIDTH = 20 + 20  # updated_at (ISO, UTC) and the key, zero-padded, before each row


def _key(entity: str) -> str:
    from crmwh.source_entities import BY_TABLE

    return BY_TABLE[f"service__{entity}"].key


class Writer:
    """The ticket store, written from the generator's chunks: :meth:`append` sorts a chunk's
    rows and parks them on disk, :meth:`finish` merges every chunk's rows per entity into
    ``<entity>.jsonl`` in (updated_at, key) order, the order the server pages in."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.spool = Path(tempfile.mkdtemp(prefix=".spool-", dir=folder))
        self.runs: dict[str, list[Path]] = {}
        self.counts: dict[str, int] = {}

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.spool, ignore_errors=True)

    def append(self, frames: dict[str, pd.DataFrame]) -> None:
        for entity, frame in frames.items():
            run = self.spool / f"{entity}.{len(self.runs.get(entity, []))}"
            run.write_text(_sortable_lines(entity, frame))
            self.runs.setdefault(entity, []).append(run)
            self.counts[entity] = self.counts.get(entity, 0) + len(frame)

    def finish(self) -> dict[str, int]:
        """Replace the store's files; return the rows written per entity."""
        for old in self.folder.glob("*.jsonl"):
            old.unlink()
        for entity, runs in self.runs.items():
            with ExitStack() as stack, (self.folder / f"{entity}.jsonl").open("w") as out:
                files = [stack.enter_context(run.open()) for run in runs]
                written = False
                for line in heapq.merge(*files):
                    out.write(line[SORT_WIDTH:])
                    written = True
                if not written:
                    out.write("\n")  # what to_json writes for no rows
        return dict(self.counts)


def _sortable_lines(entity: str, frame: pd.DataFrame) -> str:
    """The rows as JSON lines in (updated_at, key) order, each behind its sort key."""
    frame = frame.copy()
    for col in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[col]):
            frame[col] = timetext.iso(frame[col], suffix="Z")
    key = _key(entity)
    frame = frame.sort_values(["updated_at", key], kind="stable")
    if frame.empty:
        return ""
    if (frame[key] < 0).any() or frame["updated_at"].str.len().ne(20).any():
        raise ValueError(f"service.{entity} has a negative key or an odd updated_at")
    prefix = frame["updated_at"] + frame[key].astype(str).str.zfill(20)
    rows = frame.to_json(orient="records", lines=True).split("\n")[:-1]
    return "".join(p + r + "\n" for p, r in zip(prefix.tolist(), rows, strict=True))


def write(folder: Path, frames: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Write each entity's rows to ``<entity>.jsonl``, the store the server reads."""
    with Writer(folder) as writer:
        writer.append(frames)
        return writer.finish()


def _parse_ts(text: str) -> str:
    """Normalise an ISO timestamp to the server's sort key (UTC, second precision)."""
    ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EntityStore:
    """One entity's rows in (updated_at, key) order, paged by cursor. Only each row's sort
    key and place in the file stay in memory (a million customers' interactions would not
    fit as dicts); a page's rows are read from the file when asked for."""

    def __init__(self, path: Path, key: str) -> None:
        self.key = key
        stamps, keys, starts = [], [], []
        self.fd = None
        if path.exists():
            with path.open("rb") as f:
                at = 0
                for line in f:
                    if line.strip():
                        row = json.loads(line)
                        stamps.append(row["updated_at"].encode())
                        keys.append(row[key])
                        starts.append(at)
                    at += len(line)
            self.fd = os.open(path, os.O_RDONLY)
            starts.append(at)  # the end of the last row
        self.stamps = np.array(stamps, dtype="S20")
        self.keys = np.array(keys, dtype=np.int64)
        self.starts = np.array(starts or [0], dtype=np.int64)

    @property
    def count(self) -> int:
        return self.stamps.size

    def _position(self, stamp: str, key: int) -> int:
        """Index of the first row at or after (stamp, key)."""
        lo = int(np.searchsorted(self.stamps, stamp.encode(), "left"))
        hi = int(np.searchsorted(self.stamps, stamp.encode(), "right"))
        return lo + int(np.searchsorted(self.keys[lo:hi], key, "left"))

    def _rows(self, first: int, end: int) -> list[dict]:
        if first >= end:
            return []
        start = int(self.starts[first])
        body = os.pread(self.fd, int(self.starts[end]) - start, start)
        return [json.loads(line) for line in body.split(b"\n") if line.strip()]

    def page(self, since: str | None, before: str | None, cursor: str | None,
             limit: int) -> tuple[list[dict], str | None]:
        if cursor:
            ts, tid = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
            pos = self._position(ts, int(tid) + 1)
        else:
            pos = int(np.searchsorted(self.stamps, since.encode(), "left")) if since else 0
        stop = int(np.searchsorted(self.stamps, before.encode(), "left")) if before else self.count
        end = max(pos, min(pos + limit, stop))
        out = self._rows(pos, end)
        nxt = None
        if out and end < stop:
            last = out[-1]
            nxt = base64.urlsafe_b64encode(f"{last['updated_at']}|{last[self.key]}".encode())
            nxt = nxt.decode()
        return out, nxt


class _Limiter:
    """Token bucket: ``rate`` requests per second with a burst of ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> float:
        """0 if allowed, else seconds to wait."""
        if self.rate <= 0:
            return 0.0
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


def make_server(folder: Path, host: str = "127.0.0.1", port: int = 8765, token: str = "",
                rate: float = 50.0, burst: int = 20, fail_every: int = 0) -> ThreadingHTTPServer:
    from crmwh.source_entities import entities_of

    stores = {e.name: EntityStore(folder / f"{e.name}.jsonl", e.key)
              for e in entities_of("service")}
    limiter = _Limiter(rate, burst)
    counter = {"n": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            if url.path == "/health":
                counts = {name: st.count for name, st in stores.items()}
                # whether the caller's token is this server's: a client finds a stranger's
                return self._send(200, {"status": "ok", "entities": counts, "pid": os.getpid(),
                                        "token_ok": self.headers.get("Authorization")
                                        == f"Bearer {token}" if token else True})
            prefix = "/api/v1/"
            store = stores.get(url.path[len(prefix):]) if url.path.startswith(prefix) else None
            if store is None:
                return self._send(404, {"error": f"no such resource {url.path}"})
            if token and self.headers.get("Authorization") != f"Bearer {token}":
                return self._send(401, {"error": "missing or wrong bearer token"})
            wait = limiter.take()
            if wait > 0:
                return self._send(429, {"error": "rate limited"},
                                  {"Retry-After": str(max(1, round(wait + 0.5)))})
            with lock:
                counter["n"] += 1
                n = counter["n"]
            if fail_every and n % fail_every == 0:
                return self._send(503, {"error": "temporarily unavailable"})
            q = {k: v[-1] for k, v in parse_qs(url.query).items()}
            try:
                limit = min(MAX_LIMIT, max(1, int(q.get("limit", 500))))
                since = _parse_ts(q["updated_since"]) if q.get("updated_since") else None
                before = _parse_ts(q["updated_before"]) if q.get("updated_before") else None
                rows, nxt = store.page(since, before, q.get("cursor"), limit)
            except (ValueError, KeyError) as exc:
                return self._send(400, {"error": f"bad request: {exc}"})
            return self._send(200, {"data": rows, "next_cursor": nxt})

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
