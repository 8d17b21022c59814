"""``crmwh import transactions`` through the real CLI, on a warehouse of its own (its own home
and port: imported rows would otherwise join the suite's shared sales data).

Bad input gives one clear line, exit code 2 and lands nothing; bad records are quarantined
with their reasons and counts reconcile; importing the same file again lands nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support.cli import assert_one_clear_line, crmwh
from tests.support.databases import home_dsn
from tests.support.ports import free_port

COLS = ("--customer-col", "cust", "--date-col", "day", "--amount-col", "amount")
GOOD = ("cust,day,amount,qty\n"
        "1,2026-01-02,10.50,1\n"
        "1,2026-01-09,4.25,2\n"
        "2,2026-01-03,7.00,1\n"
        "acme,2026-01-05,3.00,1\n"
        "1,2026-01-02,10.50,1\n")  # the same as line 2 again: a second order


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Iterator[dict[str, str]]:
    """The environment of a warehouse of the module's own; stopped at the end."""
    env = {"CRM_HOME": str(tmp_path_factory.mktemp("import")), "CRM_PG_PORT": str(free_port()),
           "CRM_SERVICE_URL": ""}
    yield env
    crmwh("db", "stop", **env)


def _counts(env: dict[str, str]) -> dict[str, int]:
    with psycopg.connect(home_dsn(env)) as conn:
        return {table: conn.execute(f"select count(*) from {table}").fetchone()[0]
                for table in ("raw.sales__customers", "raw.sales__orders",
                              "raw.sales__order_lines", "raw.sales__products",
                              "audit.load_batches", "quarantine.rows")}


def _write(folder: Path, name: str, body: str | bytes) -> Path:
    path = folder / name
    if isinstance(body, bytes):
        path.write_bytes(body)
    else:
        path.write_text(body, encoding="utf-8")
    return path


def _import(env: dict[str, str], path: Path, *extra: str):
    return crmwh("import", "transactions", str(path), *COLS, *extra, **env)


@pytest.mark.parametrize(("name", "body", "extra", "words"), [
    ("missing_column.csv", "customer,day,amount\n1,2026-01-02,3\n", (), ("no column 'cust'",)),
    ("bad_dates.csv", "cust,day,amount\n1,02/01/2026,3\n2,03/01/2026,4\n", (),
     ("no date in column 'day' parses", "--date-format")),
    ("latin1.csv", "cust,day,amount\n1,2026-01-02,3\nJos\u00e9,2026-01-03,4\n".encode("latin-1"),
     (), ("not UTF-8",)),
    ("empty.csv", b"", (), ("is empty",)),
    ("header_only.csv", "cust,day,amount\n", (), ("no transactions",)),
    ("nowhere.csv", None, (), ("no file",)),
    ("semicolons.csv", "cust;day;amount\n1;2026-01-02;3\n", ("--delimiter", ";;"),
     ("not one character",)),
    ("semicolons.csv", "cust;day;amount\n1;2026-01-02;3\n", (), ("no column 'cust'",)),
])
def test_bad_input_is_one_line_exit_2_and_lands_nothing(home, tmp_path, name, body, extra,
                                                       words):
    path = tmp_path / name if body is None else _write(tmp_path, name, body)
    _import(home, _write(tmp_path, "warm.csv", "cust,day,amount\n"))  # starts the warehouse
    before = _counts(home)
    done = _import(home, path, *extra)
    assert_one_clear_line(done, *words)
    assert _counts(home) == before


def test_a_file_failing_late_lands_nothing(home, tmp_path):
    """Invalid UTF-8 after a megabyte of good records: the records streamed before are
    rolled back with the rest."""
    good = "".join(f"{n},2026-01-02,1.00\n" for n in range(200_000))
    path = _write(tmp_path, "late.csv", ("cust,day,amount\n" + good).encode() + b"9,\xff,1\n")
    before = _counts(home)
    assert_one_clear_line(_import(home, path), "not UTF-8")
    assert _counts(home) == before


def _batches(env: dict[str, str], run_id: str) -> dict[str, tuple]:
    with psycopg.connect(home_dsn(env)) as conn:
        return {r[0]: r[1:] for r in conn.execute(
            """select entity, rows_extracted, rows_loaded, rows_unchanged, rows_quarantined
               from audit.load_batches where run_id = %s""", (run_id,))}


def _run_id(done) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout.split("(run ")[1].split(")")[0]


def test_bad_records_are_quarantined_and_a_reimport_lands_nothing_twice(home, tmp_path):
    body = GOOD + ("3,not-a-date,1.00,1\n"
                   ",2026-01-04,2.00,1\n"
                   "4,2026-01-04,12,5,1\n"
                   "5,2026-01-04,abc,1\n"
                   "6,2026-01-04,1.00,0\n")
    path = _write(tmp_path, "shop.csv", body)
    first = _batches(home, _run_id(_import(home, path, "--quantity-col", "qty")))
    # (extracted, loaded, unchanged, quarantined)
    assert first["order_lines"] == (10, 5, 0, 5)
    assert first["orders"] == (5, 5, 0, 0)
    assert first["customers"] == (3, 3, 0, 0)
    assert first["products"] == (1, 1, 0, 0)
    for counts in first.values():
        assert counts[0] == counts[1] + counts[2] + counts[3]
    with psycopg.connect(home_dsn(home)) as conn:
        reasons = sorted(r[0] for r in conn.execute(
            "select reason from quarantine.rows where source_ref = 'import:shop.csv'"))
        revenue = conn.execute(
            "select sum(quantity * unit_price) from raw.sales__order_lines "
            "where _source_ref = 'import:shop.csv'").fetchone()[0]
    assert reasons == ["bad amount 'abc'", "bad quantity '0' (a whole number from 1)",
                       "malformed line 9: 5 fields, header has 4", "missing customer",
                       "unparseable date 'not-a-date'"]
    assert float(revenue) == pytest.approx(10.50 + 4.25 + 7.00 + 3.00 + 10.50)

    before = _counts(home)
    again = _batches(home, _run_id(_import(home, path, "--quantity-col", "qty")))
    assert again["order_lines"] == (10, 0, 5, 5)
    assert again["orders"] == (5, 0, 5, 0)
    assert again["customers"] == (3, 0, 3, 0)
    after = _counts(home)
    for table in ("raw.sales__customers", "raw.sales__orders", "raw.sales__order_lines",
                  "raw.sales__products"):
        assert after[table] == before[table], table
