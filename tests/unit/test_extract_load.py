"""The service API client against the simulator's flaky HTTP server on the loopback: rate
limits and server errors retried, Retry-After honoured, nothing lost; a wrong token refused.
(Extraction and landing into warehouses: tests/integration/test_extract_load.py.)"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import pytest

from crmwh import source_entities
from crmwh.errors import CrmwhError
from crmwh.extract import service
from crmwh_devkit.simulators import service_api


@pytest.fixture()
def flaky_api(tmp_path, demo_data):
    folder = tmp_path / "svc"
    service_api.write(folder, {"tickets": demo_data.service["tickets"].head(250)})
    server = service_api.make_server(folder, port=0, token="tok", rate=5.0, burst=2, fail_every=3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()


def test_429_and_5xx_are_retried_and_retry_after_respected(flaky_api, monkeypatch):
    url, _ = flaky_api
    waits: list[float] = []
    real_sleep = time.sleep
    monkeypatch.setattr(service.time, "sleep", lambda s: (waits.append(s), real_sleep(s)))
    entity = source_entities.BY_TABLE["service__tickets"]
    got = service.extract(url, "tok", entity, None, datetime(2030, 1, 1, tzinfo=UTC),
                          page_size=20)
    rows = [r for part in got.json for r in json.loads(part.body)["data"]]
    assert len(rows) == 250  # nothing lost despite 429s and 503s
    assert len({r["ticket_id"] for r in rows}) == 250
    assert any(w >= 1 for w in waits), "Retry-After of the 429 must be honoured"
    assert len(waits) >= 2
    assert got.source_refs[-1].startswith("api:tickets:page") and len(got.source_refs) == 13


def test_service_api_rejects_wrong_token(flaky_api):
    url, _ = flaky_api
    with pytest.raises(CrmwhError, match="401"):
        service.get_body(f"{url}/api/v1/tickets?limit=1", "wrong")
