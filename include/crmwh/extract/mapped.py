"""Delivered bodies of a mapped entity rewritten onto the contract while they are read.

Only entities whose mapping is not the identity pass through here: a CSV file is
read in its own dialect and written out again as standard UTF-8 CSV with the
contract's column names, JSON lines and API pages have their objects converted.
Records that cannot be read keep the reasons the extractors give them.
"""

from __future__ import annotations

import csv
import io
import json

from crmwh.extract.base import Reject
from crmwh.mapping.convert import Converter
from crmwh.mapping.model import EntityMap


def csv_body(emap: EntityMap, body: bytes, ref: str) -> tuple[bytes, list[Reject], int]:
    """(the file as standard CSV with contract names, its malformed records, its records)."""
    d = emap.dialect
    text = body.decode(d.encoding, errors="replace")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=d.delimiter,
                           quotechar=d.quote))
    if not rows:
        return b"", [], 0
    header, convert = rows[0], Converter(emap)
    fields = convert.fields(header)
    out = io.StringIO()
    writer = csv.DictWriter(out, fields, lineterminator="\n")
    writer.writeheader()
    rejects = []
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            rejects.append(Reject(ref, f"malformed CSV line {lineno}: {len(row)} fields, "
                                       f"header has {len(header)}", {"line": ",".join(row)}))
            continue
        writer.writerow(convert.record(dict(zip(header, row, strict=True))))
    return out.getvalue().encode(), rejects, len(rows) - 1


def jsonl_body(emap: EntityMap, body: bytes) -> bytes:
    """JSON lines with their objects converted; other lines as delivered (the extractor
    rejects them with the line's reason)."""
    convert, lines = Converter(emap), []
    for line in body.decode(emap.dialect.encoding, errors="replace").split("\n"):
        try:
            record = json.loads(line) if line.strip() else None
        except ValueError:
            record = None
        lines.append(json.dumps(convert.record(record)) if isinstance(record, dict) else line)
    return "\n".join(lines).encode()


def page_records(emap: EntityMap, records: list) -> list:
    """An API page's records with their objects converted."""
    convert = Converter(emap)
    return [convert.record(r) if isinstance(r, dict) else r for r in records]
