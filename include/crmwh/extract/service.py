"""Service desk: incremental by ``updated_since`` over a paginated HTTP API.

Retries 429 and 5xx with exponential backoff, honouring ``Retry-After``.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import datetime
from urllib.parse import urlencode

import pandas as pd

from crmwh.contracts import Entity
from crmwh.errors import CrmwhError
from crmwh.extract.base import Extraction, empty_frame

PAGE_SIZE = 1000
RETRYABLE = {429, 500, 502, 503, 504}


def get_json(url: str, token: str, max_attempts: int = 8, base_delay: float = 0.2) -> dict:
    """GET a JSON document, retrying rate limits and server errors."""
    sleep = time.sleep
    delay = base_delay
    for attempt in range(1, max_attempts + 1):
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}",
                                                       "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code not in RETRYABLE or attempt == max_attempts:
                raise CrmwhError(f"service API answered {exc.code} for {url.split('?')[0]}",
                                 "check CRM_SERVICE_URL and CRM_SERVICE_TOKEN") from None
            retry_after = exc.headers.get("Retry-After")
            wait = float(retry_after) if retry_after else delay
            sleep(wait)
            delay = min(delay * 2, 10.0)
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            if attempt == max_attempts:
                raise CrmwhError(
                    f"cannot reach the service API at {url.split('/api')[0]}: "
                    f"{getattr(exc, 'reason', exc)}",
                    "start the simulator with `crmwh service-api start` or set CRM_SERVICE_URL",
                ) from None
            sleep(delay)
            delay = min(delay * 2, 10.0)
    raise AssertionError("unreachable")


def extract(base_url: str, token: str, entity: Entity, watermark: str | None,
            until: datetime, page_size: int = PAGE_SIZE) -> Extraction:
    params = {"updated_before": until.strftime("%Y-%m-%dT%H:%M:%SZ"), "limit": page_size}
    if watermark:
        params["updated_since"] = watermark
    records, page = [], 0
    cursor = None
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        body = get_json(f"{base_url}/api/v1/{entity.name}?{urlencode(query)}", token)
        page += 1
        for row in body["data"]:
            row = {k: (None if v is None else str(v)) for k, v in row.items()}
            row["_source_ref"] = f"api:{entity.name}:page{page}"
            records.append(row)
        cursor = body.get("next_cursor")
        if not cursor:
            break
    frame = pd.DataFrame(records, dtype=object) if records else empty_frame()
    after = watermark
    if records:
        newest = pd.to_datetime(frame["updated_at"], utc=True, format="ISO8601").max()
        after = newest.strftime("%Y-%m-%dT%H:%M:%SZ")
        if watermark and after < watermark:
            after = watermark
    return Extraction(frame=frame, watermark_after=after)
