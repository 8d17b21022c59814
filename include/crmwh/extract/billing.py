"""Billing: every file exactly once, by manifest and checksum.

All drop folders up to the run's date are scanned; a file whose (name,
sha256) was already loaded is passed over (a copy in another drop is a
re-delivery, logged and recorded in ``audit.billing_deliveries`` once), a file
arriving late in a later folder is picked up there. A file that does not match
its manifest (checksum, declared row count) is held: nothing of it is consumed,
it is recorded as held with the batch, and the gate fails the batch on it. A
file is decoded from its manifest's ``encoding`` (default UTF-8, a byte-order
mark dropped); a line that does not decode is quarantined with the reason. (A
file of a mapped entity is decoded by its mapping's ``encoding`` instead.)

Files go to the warehouse as delivered: a CSV body is copied by its header, a
JSON-lines body line by line, and both are parsed there. Python only looks for
CSV lines with the wrong number of fields (they are quarantined with the
reason). A file with quotes, carriage returns, NUL bytes or invalid UTF-8 is
parsed in Python instead and handed on re-encoded.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from datetime import date
from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np
import psycopg

from crmwh.errors import CrmwhError
from crmwh.extract import mapped
from crmwh.extract.base import (
    CsvPart,
    Extraction,
    FileEvent,
    JsonPart,
    Reject,
    SourceFile,
    plain,
)
from crmwh.load.files import billing_file_loaded, known_redeliveries
from crmwh.mapping import model
from crmwh.settings import Settings
from crmwh.source_entities import Entity

MANIFEST = "manifest.json"


def _malformed(ref: str, lineno: int, fields: list[str], header: list[str]) -> Reject:
    return Reject(ref, f"malformed CSV line {lineno}: {len(fields)} fields, "
                       f"header has {len(header)}", {"line": ",".join(fields)})


def _lines(body: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each line of ``body`` starts and ends (newline excluded), and how many
    commas it holds, found with numpy in one pass over the bytes."""
    raw = np.frombuffer(body, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)
    if not len(ends) or ends[-1] != raw.size - 1:  # the last line has no newline
        ends = np.append(ends, raw.size)
    starts = np.concatenate(([0], ends[:-1] + 1))
    commas = np.diff(np.searchsorted(np.flatnonzero(raw == 44), ends), prepend=0)
    return starts, ends, commas


def _plain_csv(out: Extraction, body: bytes, ref: str) -> int:
    """A CSV body without quotes: one record per line, fields counted by their commas.

    Lines with the wrong number of fields (or empty) are cut out of the body by
    position; the records between them are handed on as they are.
    """
    if not body:
        return 0
    starts, ends, commas = _lines(body)
    header = body[:ends[0]].decode().split(",")
    records = len(ends) - 1
    bad = np.flatnonzero((commas != len(header) - 1) | (ends == starts))
    bad = bad[bad > 0].tolist()
    for i in bad:
        line = body[starts[i]:ends[i]]
        out.rejects.append(_malformed(ref, i + 1, line.decode().split(",") if line else [],
                                      header))
    pieces, at = [], int(starts[1]) if records else len(body)
    for i in bad:
        pieces.append(body[at:starts[i]])
        at = int(starts[i + 1]) if i + 1 < len(starts) else len(body)
    pieces.append(body[at:])
    kept = b"".join(pieces)
    if kept and not kept.endswith(b"\n"):
        kept += b"\n"
    out.csv.append(CsvPart(ref, tuple(header), kept, records - len(bad), plain=True))
    return records


def _parsed_csv(out: Extraction, body: bytes, ref: str) -> int:
    """Any other CSV body: parsed here, the good records written out again."""
    rows = list(csv.reader(io.StringIO(body.decode("utf-8", errors="replace"))))
    if not rows:
        return 0
    header, good, kept = rows[0], io.StringIO(), 0
    writer = csv.writer(good, lineterminator="\n")
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) == len(header):
            writer.writerow(row)
            kept += 1
        else:
            out.rejects.append(_malformed(ref, lineno, row, header))
    out.csv.append(CsvPart(ref, tuple(header), good.getvalue().encode(), kept))
    return len(rows) - 1


def _add_csv(out: Extraction, body: bytes, ref: str) -> int:
    """Queue a CSV body's records minus the malformed ones; return its data records."""
    return (_plain_csv if plain(body, b'"') else _parsed_csv)(out, body, ref)


def _add_jsonl(out: Extraction, body: bytes, ref: str) -> int:
    """Queue a JSON-lines body; return its (non-blank) lines."""
    if plain(body, b"\x01", b"\x02"):
        if body and not body.endswith(b"\n"):
            body += b"\n"
        out.json.append(JsonPart(ref, body))
        return sum(1 for line in body.split(b"\n") if line.strip())
    good, rows = [], 0
    for lineno, line in enumerate(body.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        rows += 1
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            out.rejects.append(Reject(ref, f"malformed JSON line {lineno}: {exc}",
                                      {"line": line}))
            continue
        good.append(json.dumps(record))
    out.json.append(JsonPart(ref, "".join(g + "\n" for g in good).encode()))
    return rows


PARSERS: dict[str, Callable[[Extraction, bytes, str], int]] = {"csv": _add_csv,
                                                              "jsonl": _add_jsonl}


FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl"}


def _listing(drop: Path) -> dict:
    """A manifest for a drop folder that has none: its files, their checksums computed."""
    return {"files": [{"name": p.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
                       "format": FORMATS.get(p.suffix.lower())}
                      for p in sorted(drop.iterdir()) if p.is_file()]}


def _drops(folder: Path, as_of_date: date, manifest: bool = True):
    """(drop folder, manifest) of every drop dated up to ``as_of_date``, oldest first.
    Without ``manifest``, every file of a drop folder is listed with its checksum."""
    if not folder.is_dir():
        raise CrmwhError(f"the billing drop folder {folder} does not exist",
                         "set CRM_BILLING_DIR or run `crmwh generate`")
    for drop in sorted(p for p in folder.iterdir() if p.is_dir()):
        try:
            drop_date = date.fromisoformat(drop.name)
        except ValueError:
            continue
        if drop_date > as_of_date:
            continue
        if not manifest:
            yield drop, _listing(drop)
        elif (drop / MANIFEST).exists():
            yield drop, json.loads((drop / MANIFEST).read_text())


def _format(item: dict) -> str | None:
    return item.get("format") or FORMATS.get(Path(item["name"]).suffix.lower())


def pending_rows(folder: Path, as_of_date: date, already_loaded: Callable[[str, str], str | None],
                 files: dict[str, str], manifest: bool = True) -> dict[str, int]:
    """The rows each entity (by the glob of its ``files``) has waiting in files not loaded
    yet, as their manifests count them: how big its next batch will be, without reading
    a file."""
    out: dict[str, int] = {}
    for _, listing in _drops(folder, as_of_date, manifest):
        for item in listing["files"]:
            entity = next((e for e, glob in files.items() if fnmatchcase(item["name"], glob)),
                          None)
            if entity and not already_loaded(item["name"], item["sha256"]):
                out[entity] = out.get(entity, 0) + int(item.get("rows") or 0)
    return out


def _add_mapped(out: Extraction, emap: model.EntityMap, fmt: str, body: bytes,
                ref: str) -> int:
    """Queue a mapped entity's file, rewritten onto the contract; return its records."""
    if fmt == "csv":
        converted, rejects, records = mapped.csv_body(emap, body, ref)
        out.rejects.extend(rejects)
        _add_csv(out, converted, ref)
        return records
    return _add_jsonl(out, mapped.jsonl_body(emap, body), ref)


BOM = b"\xef\xbb\xbf"


def _utf8(out: Extraction, body: bytes, encoding: str | None, ref: str) -> tuple[bytes, int]:
    """The body as UTF-8 without a byte-order mark, decoded from the manifest's
    ``encoding`` (default UTF-8), and how many lines could not be decoded: those are
    quarantined with the reason, the others handed on."""
    codec = (encoding or "utf-8").lower()
    if codec.replace("-", "").replace("_", "") in ("utf8", "utf8sig"):
        codec = "utf-8"
        body = body.removeprefix(BOM)
    try:
        text = body.decode(codec)
    except LookupError:
        raise CrmwhError(f"billing file {ref} declares the unknown encoding {encoding!r}",
                         "give a codec name such as utf-8 or latin-1 in its manifest") from None
    except UnicodeDecodeError:
        pass
    else:
        return (body if codec == "utf-8" else text.encode()), 0
    kept, bad = [], 0
    for lineno, line in enumerate(body.split(b"\n"), start=1):
        try:
            kept.append(line.decode(codec).encode())
        except UnicodeDecodeError as exc:
            bad += 1
            out.rejects.append(Reject(
                ref, f"line {lineno} is not valid {codec} (byte 0x{line[exc.start]:02x} at "
                     f"position {exc.start + 1}): declare the file's encoding in its manifest",
                {"line": line.decode(codec, "backslashreplace")}))
    return b"\n".join(kept), bad


def _read(drop: Path, item: dict, emap: model.EntityMap, ref: str,
          held: Callable[[str, str, str], None]) -> tuple[Extraction, int] | None:
    """One file checked against its manifest item and parsed: its records queued in an
    extraction of its own and their count, or None when it is held (``held`` called with
    the check it failed, what was found and what the manifest says)."""
    body = (drop / item["name"]).read_bytes()
    digest = hashlib.sha256(body).hexdigest()
    if digest != item["sha256"]:
        held("checksum", f"sha256 {digest} ({len(body)} bytes)",
             f"sha256 {item['sha256']} as its manifest says")
        return None
    fmt = _format(item)
    if fmt not in PARSERS:
        raise CrmwhError(f"billing file {ref} is neither CSV nor JSON lines",
                         "give it a .csv or .jsonl name, or a format in the manifest")
    part = Extraction()
    if emap.identity:
        body, undecodable = _utf8(part, body, item.get("encoding"), ref)
        rows = undecodable + PARSERS[fmt](part, body, ref)
    else:  # decoded by its mapping's declared encoding (crmwh.extract.mapped)
        if emap.dialect.encoding.lower().replace("-", "").replace("_", "") == "utf8":
            body = body.removeprefix(BOM)
        rows = _add_mapped(part, emap, fmt, body, ref)
    declared = item.get("rows")
    if declared is not None and rows != int(declared):
        held("row count", f"{rows} records", f"{declared} records as its manifest says")
        return None
    return part, rows


def extract(folder: Path, entity: Entity, as_of_date: date,
            already_loaded: Callable[[str, str], str | None],
            emap: model.EntityMap | None = None, manifest: bool = True,
            known_redeliveries: frozenset[str] = frozenset()) -> Extraction:
    """The files of ``entity`` (those its mapping's ``files`` glob names) not loaded yet.

    ``already_loaded(name, sha256)`` is the drop a file was loaded from (None: never);
    ``known_redeliveries`` are the drop/name refs already recorded as re-delivered.
    A file loaded from its own drop is passed over without a word; the same bytes in
    another drop are a re-delivery, noted and recorded once. A file that does not match its
    manifest (checksum, row count) is held: nothing of it is consumed, and the gate fails
    the batch on it.
    """
    emap = emap or model.default_entity(entity)
    out = Extraction()
    seen: dict[tuple[str, str], str] = {}
    passed_over = 0
    for drop, listing in _drops(folder, as_of_date, manifest):
        for item in listing["files"]:
            if not fnmatchcase(item["name"], emap.where):
                continue
            key = (item["name"], item["sha256"])
            ref = f"{drop.name}/{item['name']}"
            first = seen.get(key) or already_loaded(*key)
            if first:
                if first == drop.name or ref in known_redeliveries:
                    passed_over += 1
                    continue
                detail = f"the same bytes as {first}/{item['name']}, loaded already"
                out.notes.append(f"re-delivered {ref}: {detail}; skipped")
                out.file_events.append(FileEvent(drop.name, item["name"], item["sha256"],
                                                 "re-delivered", "re-delivery", detail))
                continue

            def held(check: str, observed: str, expected: str, ref=ref, item=item,
                     drop=drop) -> None:
                out.notes.append(f"held {ref}: {check} {observed}, expected {expected}")
                out.file_events.append(FileEvent(drop.name, item["name"], item["sha256"],
                                                 "held", check,
                                                 f"{observed}; expected {expected}"))

            read = _read(drop, item, emap, ref, held)
            if read is None:
                continue
            part, rows = read
            out.csv.extend(part.csv)
            out.json.extend(part.json)
            out.rejects.extend(part.rejects)
            out.files.append(SourceFile(item["name"], item["sha256"], drop.name, rows))
            seen[key] = drop.name
    if passed_over:
        out.notes.append(f"{passed_over} files loaded by earlier runs passed over")
    return out


def extract_for(cfg: Settings, conn: psycopg.Connection, entity: Entity, as_of_date: date,
                watermark: str | None) -> Extraction:
    """The pipeline's extraction: the files dropped up to the as-of date not loaded yet
    (billing has no watermark)."""
    source = model.load(cfg).source("billing")
    return extract(source.folder(cfg), entity, as_of_date, billing_file_loaded(conn),
                   source.entities[entity.name], source.manifest, known_redeliveries(conn))


def pending_rows_for(cfg: Settings, conn: psycopg.Connection, entities: list[Entity],
                     as_of_date: date) -> dict[str, int]:
    """A guess at the rows of each entity's next batch: the manifests' counts."""
    source = model.load(cfg).source("billing")
    files = {e.name: source.entities[e.name].where for e in entities}
    return pending_rows(source.folder(cfg), as_of_date, billing_file_loaded(conn), files,
                        source.manifest)
