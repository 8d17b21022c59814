"""Sales: incremental by ``updated_at`` watermark with a look-back window.

Rows committed late (an ``updated_at`` a little before the last watermark) are
caught by re-reading the look-back window; rows already landed unchanged are
recognised by their hash and not landed again.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import pandas as pd
import psycopg

from crmwh.contracts import Entity
from crmwh.errors import CrmwhError
from crmwh.extract.base import Extraction

NULL = r"\N"


def _fmt(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def extract(
    dsn: str, entity: Entity, watermark: str | None, until: datetime, lookback: timedelta
) -> Extraction:
    """Rows of ``entity`` with ``updated_at`` in [watermark - lookback, until)."""
    lower = None
    if watermark:
        lower = datetime.fromisoformat(watermark) - lookback
    where = "updated_at < %(until)s" + (" and updated_at >= %(lower)s" if lower else "")
    params = {"until": until, "lower": lower}
    try:
        conn = psycopg.connect(dsn, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise CrmwhError(
            f"cannot reach the sales database: {str(exc).strip().splitlines()[-1]}",
            "check CRM_SALES_DSN or run `crmwh generate` for the simulator",
        ) from None
    with conn, psycopg.ClientCursor(conn) as cur:
        cur.execute("set timezone = 'UTC'")
        query = cur.mogrify(
            f"select * from {entity.name} where {where} order by updated_at, {entity.key}", params
        )
        buf = io.BytesIO()
        try:
            with cur.copy(
                f"copy ({query}) to stdout with (format csv, header, null '{NULL}')"
            ) as cp:
                for block in cp:
                    buf.write(block)
        except psycopg.errors.UndefinedTable:
            raise CrmwhError(
                f"the sales database has no table {entity.name!r}",
                "point CRM_SALES_DSN at the sales system or run `crmwh generate`",
            ) from None
    buf.seek(0)
    frame = pd.read_csv(buf, dtype=str, keep_default_na=False, na_values=[NULL])
    frame = frame.astype(object).where(frame.notna(), None)
    frame["_source_ref"] = f"sales:{entity.name}"
    after = watermark
    if len(frame):
        newest = pd.to_datetime(frame["updated_at"], utc=True, format="ISO8601").max()
        if after is None or newest.to_pydatetime() > datetime.fromisoformat(after):
            after = newest.isoformat()
    return Extraction(frame=frame, watermark_after=after)
