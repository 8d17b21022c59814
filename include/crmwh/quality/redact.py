"""Personal data kept out of what the gate shows: its log lines, alerts, ``audit.dq_results``
and the GX Data Docs.

The suites run on the batch with its personal columns (:data:`PII`: e-mails, phones, tax ids,
names) masked: every character but ``@``, ``.`` and whitespace becomes ``x``. What the checks
on those columns look at (null or not, the shape of an address: its ``@``, dots and spaces)
is unchanged, so each check passes or fails exactly as on the real values, and the unexpected
values it shows read like ``xxxx@@xxxxx.xx``: the defect without the person. A unit test holds
every suite's expectations on these columns to that.
"""

from __future__ import annotations

import re
from typing import Any

PII = re.compile(r"(^|_)(email|phone|tax_id|name)$")
HIDDEN = r"[^@.\s]"


def pii_columns(columns: Any) -> list[str]:
    """The personal columns among ``columns`` (by name)."""
    return [c for c in columns if PII.search(str(c))]


def mask(text: str) -> str:
    """One value as the gate shows it."""
    return re.sub(HIDDEN, "x", text)


def masked(df):
    """A copy of the batch frame with its personal columns masked (nulls stay null)."""
    personal = pii_columns(df.columns)
    if not personal:
        return df
    return df.assign(**{c: df[c].where(df[c].isna(), df[c].astype("string")
                                       .str.replace(HIDDEN, "x", regex=True))
                        for c in personal})
