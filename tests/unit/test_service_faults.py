"""The service API extract against an API that misbehaves: each fault stops the extraction
with one error naming the URL and the page, and paging is bounded."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from crmwh import source_entities
from crmwh.errors import CrmwhError
from crmwh.extract import service

TICKETS = source_entities.BY_TABLE["service__tickets"]
UNTIL = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture()
def api() -> Iterator[tuple[str, dict]]:
    """An API answering every page with ``answer(cursor) -> (content type, body)``."""
    script: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            cursor = parse_qs(urlparse(self.path).query).get("cursor", [None])[0]
            script["requests"] = script.get("requests", 0) + 1
            kind, body = script["answer"](cursor)
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", script
    server.shutdown()


def _json(doc: object) -> tuple[str, bytes]:
    return "application/json", json.dumps(doc).encode()


def _extract(url: str, **kwargs):
    return service.extract(url, "tok", TICKETS, None, UNTIL, **kwargs)


def test_a_cursor_that_comes_back_stops_the_paging(api):
    url, script = api
    # (the 50th page ends it, so code without the guard finishes and fails the test)
    script["answer"] = lambda cursor: _json(
        {"data": [], "next_cursor": "abc" if script["requests"] < 50 else None})
    with pytest.raises(CrmwhError) as err:
        _extract(url)
    assert "returned next_cursor 'abc' again after page 2" in str(err.value)
    assert f"{url}/api/v1/tickets" in str(err.value) and script["requests"] == 2


def test_paging_stops_at_the_page_limit(api):
    url, script = api
    script["answer"] = lambda cursor: _json({"data": [], "next_cursor": str(int(cursor or 0) + 1)})
    with pytest.raises(CrmwhError, match="still had a next page after 5 pages"):
        _extract(url, max_pages=5)
    assert script["requests"] == 5
    assert service.MAX_PAGES * service.PAGE_SIZE >= 10_000_000  # far above any night


@pytest.mark.parametrize(("answer", "says"), [
    (("text/html", b"<html><body>Please log in</body></html>"),
     "is not JSON (it starts '<html><body>Please log in</body></html>')"),
    (_json({"items": []}), 'has no "data" list (a JSON dict without it)'),
    (_json([1, 2]), 'has no "data" list (a JSON list without it)'),
    (_json({"data": "maintenance"}), 'has "data" as a str, not a list of records'),
])
def test_a_page_of_the_wrong_shape_is_one_error_naming_the_url(api, answer, says):
    url, script = api
    script["answer"] = lambda cursor: answer
    with pytest.raises(CrmwhError) as err:
        _extract(url)
    assert str(err.value).startswith(f"service API page 1 of {url}/api/v1/tickets {says}")
    assert "CRM_SERVICE_URL" in err.value.fix and "\n" not in str(err.value)


def test_a_simulator_of_another_home_on_the_port_is_one_error_naming_its_pid(tmp_path):
    """`crmwh run` reuses a simulator already answering on the port; one started by another
    home (another token) is refused up front, with the process to stop, instead of a 401
    mid-night."""
    import dataclasses
    import os

    from crmwh import settings
    from crmwh_devkit.simulators import service_api, service_process

    service_api.write(tmp_path, {})
    server = service_api.make_server(tmp_path, port=0, token="theirs")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        cfg = dataclasses.replace(settings.load(), home=tmp_path, service_url=url,
                                  service_token="ours")
        with pytest.raises(CrmwhError, match=f"another home .*pid {os.getpid()}"):
            service_process.start(cfg)
        assert service_process.start(dataclasses.replace(cfg, service_token="theirs")) == url
    finally:
        server.shutdown()
