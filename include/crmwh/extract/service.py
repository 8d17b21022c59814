"""Service desk: incremental by ``updated_since`` over a paginated HTTP API.

Retries 429 and 5xx with exponential backoff, honouring ``Retry-After``. Every page must be
a JSON object with a ``data`` list (and an optional ``next_cursor``); anything else stops the
extraction with one error naming the URL and the page. Paging is bounded: a cursor returned
twice, or more than :data:`MAX_PAGES` pages, stops it too.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import date, datetime
from urllib.parse import urlencode

import psycopg

from crmwh.as_of import end_of
from crmwh.errors import CrmwhError
from crmwh.extract import mapped
from crmwh.extract.base import Extraction, JsonPart, Reject, plain
from crmwh.mapping import model
from crmwh.settings import Settings
from crmwh.source_entities import Entity

PAGE_SIZE = 1000
RETRYABLE = {429, 500, 502, 503, 504}
# 10,000,000 records at the page size: far above any night, and an API that keeps paging
# stops here instead of running forever
MAX_PAGES = 10_000
FIX = ("check that CRM_SERVICE_URL points at the service desk API (not a proxy, login or "
       "maintenance page), then rerun the date")


def _page(raw: bytes, url: str, page: int) -> tuple[list, object]:
    """The records and the next cursor of one page, or one clear error naming it."""
    where = f"service API page {page} of {url}"
    try:
        body = json.loads(raw)
    except ValueError:
        start = raw[:40].decode("utf-8", "replace").split("\n")[0]
        raise CrmwhError(f"{where} is not JSON (it starts {start!r})", FIX) from None
    if not isinstance(body, dict) or "data" not in body:
        raise CrmwhError(f"{where} has no \"data\" list (a JSON {type(body).__name__} "
                         f"without it)", FIX)
    data = body["data"]
    if not isinstance(data, list):
        raise CrmwhError(f"{where} has \"data\" as a {type(data).__name__}, not a list of "
                         f"records", FIX)
    return data, body.get("next_cursor")


def get_body(url: str, token: str, max_attempts: int = 8, base_delay: float = 0.2) -> bytes:
    """GET a document, retrying rate limits and server errors."""
    sleep = time.sleep
    delay = base_delay
    for attempt in range(1, max_attempts + 1):
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}",
                                                       "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.read()
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
            until: datetime, page_size: int = PAGE_SIZE,
            emap: model.EntityMap | None = None, max_pages: int = MAX_PAGES) -> Extraction:
    """Every page changed in [watermark, until) of the entity's endpoint (its mapping's);
    each page goes to the warehouse as delivered (converted when the mapping is not the
    identity), and the loader moves the watermark to the newest ``updated_at``."""
    emap = emap or model.default_entity(entity)
    params = {"updated_before": until.strftime("%Y-%m-%dT%H:%M:%SZ"), "limit": page_size}
    if watermark:
        params["updated_since"] = watermark
    out = Extraction(watermark_after=watermark, watermark_column="updated_at")
    page, cursor, seen = 0, None, set()
    url = f"{base_url}/{emap.where.strip('/')}"
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        raw = get_body(f"{url}?{urlencode(query)}", token)
        page += 1
        data, cursor = _page(raw, url, page)
        ref = f"api:{entity.name}:page{page}"
        odd = [r for r in data if not isinstance(r, dict)]
        out.rejects.extend(Reject(ref, "malformed JSON record: not an object", {"record": r})
                           for r in odd)
        if not emap.identity:
            data = mapped.page_records(emap, data)
        if odd or not emap.identity or not plain(raw):  # as delivered, unless it needs work
            raw = json.dumps({"data": [r for r in data if isinstance(r, dict)]}).encode()
        if len(data) > len(odd):
            out.json.append(JsonPart(ref, raw, page=True))
        if not cursor:
            return out
        if str(cursor) in seen:
            raise CrmwhError(f"service API {url} returned next_cursor {str(cursor)[:40]!r} "
                             f"again after page {page}: its paging would never end",
                             "report it to the service desk's owners; rerun the date once it "
                             "pages correctly")
        if page >= max_pages:
            raise CrmwhError(f"service API {url} still had a next page after {max_pages} pages",
                             "report it to the service desk's owners (or extract a shorter "
                             "range: rerun earlier dates first)")
        seen.add(str(cursor))


def extract_for(cfg: Settings, conn: psycopg.Connection, entity: Entity, as_of_date: date,
                watermark: str | None) -> Extraction:
    """The pipeline's extraction: pages changed up to the end of the as-of date."""
    source = model.load(cfg).source("service")
    return extract(source.url(cfg), source.token(cfg), entity, watermark, end_of(as_of_date),
                   emap=source.entities[entity.name])
