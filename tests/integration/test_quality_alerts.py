"""The failure alert: one clear message naming check, object and batch, delivered to
a real loopback HTTP webhook, built from a real gate failure recorded in a private database."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest

from crmwh import settings, source_entities
from crmwh.errors import CrmwhError, QualityGateFailed
from crmwh.quality import enforce, notify, validate_batch
from crmwh.warehouse import ensure_schemas
from tests.support.databases import drop_database, fresh_database

ORDERS = source_entities.BY_TABLE["sales__orders"]
T0 = datetime(2026, 2, 20, 9, tzinfo=UTC)


@pytest.fixture()
def webhook():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server API)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "type": self.headers["Content-Type"],
                             "json": json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/crm", received
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def dsn(cfg):
    dsn = fresh_database(cfg, "crm_alerts")
    yield dsn
    drop_database(cfg, "crm_alerts")


def test_gate_failure_alert_names_check_object_and_batch(dsn, webhook, monkeypatch, cfg):
    url, received = webhook
    monkeypatch.setenv("CRM_ALERT_WEBHOOK_URL", url)
    batch = "sales__orders_20260220_alerttest"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("insert into raw.sales__customers (customer_id, _batch_id) values (1, 'p')")
        for i in range(1, 4):
            conn.execute(
                """insert into raw.sales__orders (order_id, customer_id, ordered_at, channel,
                       status, updated_at, _batch_id, _row_hash)
                   values (%s, 1, %s, %s, 'placed', %s, %s, %s)""",
                (i, T0, "tiktok" if i == 2 else "web", T0, batch, f"h{i}"))
        result = validate_batch(conn, ORDERS, batch, "alert-run", as_of_date=date(2026, 2, 20))
    with pytest.raises(QualityGateFailed) as failed:
        enforce(result, ORDERS, batch)

    alert = notify.failure_message("2026-02-20", "alert-run", "gate_sales", failed.value, dsn)
    reached = notify.send_alert(alert)

    assert reached == ["log", "webhook"]
    assert alert.check == "expect_column_values_to_be_in_set(channel)"
    assert alert.object == "raw.sales__orders.channel"
    assert alert.batch == batch
    text = alert.text
    assert "\n" not in text
    for part in ("alert-run", "gate_sales", "2026-02-20", "blocking check "
                 "expect_column_values_to_be_in_set(channel) failed on raw.sales__orders.channel",
                 f"in batch {batch}", "'tiktok'", "marts were not published"):
        assert part in text, part
    assert len(received) == 1
    assert received[0]["path"] == "/hooks/crm"
    assert received[0]["type"] == "application/json"
    assert received[0]["json"]["text"] == text
    assert received[0]["json"]["batch"] == batch
    log_lines = (settings.load().home / "alerts.log").read_text().splitlines()
    assert log_lines[-1].endswith(text)


def test_failure_without_a_failed_check_reports_the_exception(dsn, webhook, monkeypatch):
    url, received = webhook
    monkeypatch.setenv("CRM_ALERT_WEBHOOK_URL", url)
    error = RuntimeError("billing delivered invoices without required column(s) amount")
    alert = notify.failure_message("2026-02-21", "other-run", "extract_billing", error, dsn)
    assert notify.send_alert(alert) == ["log", "webhook"]
    assert alert.check is None
    assert "extract_billing" in alert.text and "without required column(s) amount" in alert.text
    assert received[0]["json"]["task"] == "extract_billing"


def test_a_dead_webhook_never_hides_the_failure(dsn, monkeypatch):
    monkeypatch.setenv("CRM_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/nothing-listens")
    alert = notify.failure_message(None, "dead-run", "publish_marts", RuntimeError("x"), dsn)
    assert notify.send_alert(alert) == ["log"]  # logged, not raised


def test_a_bad_smtp_port_is_logged_and_the_webhook_still_alerts(dsn, webhook, monkeypatch,
                                                                caplog):
    url, received = webhook
    monkeypatch.setenv("CRM_ALERT_WEBHOOK_URL", url)
    monkeypatch.setenv("CRM_ALERT_EMAIL_TO", "data-team@example.com")
    monkeypatch.setenv("CRM_SMTP_PORT", "smtp")
    alert = notify.failure_message(None, "port-run", "publish_marts", RuntimeError("x"), dsn)
    with caplog.at_level("WARNING", logger=notify.log.name):
        assert notify.send_alert(alert) == ["log", "webhook"]  # not raised in the callback
    assert "CRM_SMTP_PORT='smtp' is not a TCP port number" in caplog.text
    assert received[0]["json"]["dag_run"] == "port-run"


def test_each_failed_task_is_alerted_with_its_own_error(dsn):
    """A run whose billing gate recorded a blocking failure, then whose service extract
    failed: the service task's alert names the service error, not the billing check; the
    billing gate's names its check; dbt's only dbt's tests."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        ensure_schemas(conn)
        conn.execute(
            """insert into audit.dq_results (run_id, batch_id, source, entity, check_name,
                   object_name, severity, status, observed)
               values ('mixed-run', 'billing__payments_1', 'billing', 'payments',
                       'file checksum', '2026-01-02/payments.csv', 'blocking', 'fail', 'x'),
                      ('mixed-run', null, 'crm_warehouse', 'fct_orders', 'unique(order_id)',
                       'core.fct_orders', 'blocking', 'fail', '2 rows')""")
    error = CrmwhError('service API page 1 of http://svc/api/v1/tickets has "data" as a str, '
                       'not a list of records', "check that CRM_SERVICE_URL points at it")
    own = notify.failure_message("2026-02-22", "mixed-run", "extract_service", error, dsn)
    assert own.check is None and "file checksum" not in own.text
    assert "extract_service" in own.text and '"data" as a str' in own.text
    assert "http://svc/api/v1/tickets" in own.text
    gate = notify.failure_message("2026-02-22", "mixed-run", "gate_billing", None, dsn)
    assert gate.check == "file checksum" and gate.object == "2026-01-02/payments.csv"
    other_gate = notify.failure_message("2026-02-22", "mixed-run", "gate_sales",
                                        RuntimeError("sales gate broke"), dsn)
    assert other_gate.check is None and "sales gate broke" in other_gate.text
    dbt = notify.failure_message("2026-02-22", "mixed-run", "dbt_core.run_tests", None, dsn)
    assert dbt.check == "unique(order_id)"
