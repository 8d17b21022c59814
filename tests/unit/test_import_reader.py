"""Reading a transactions file: dates, and the records of an aligned (whitespace) log."""

from __future__ import annotations

import io
from pathlib import Path

from crmwh.imports import reader


def test_dates_parse_as_iso_or_by_the_given_format():
    assert reader._parse_date("2026-03-31", None) == "2026-03-31T00:00:00"
    assert reader._parse_date("20260331", None) == "2026-03-31T00:00:00"
    assert reader._parse_date("2026-03-31T10:00:00+02:00", None) == "2026-03-31T10:00:00+02:00"
    assert reader._parse_date("31/03/2026", "%d/%m/%Y") == "2026-03-31T00:00:00"
    assert reader._parse_date("31/03/2026", None) is None
    assert reader._parse_date("2026-02-30", None) is None
    assert reader._parse_date("", "%Y%m%d") is None


def test_whitespace_records_split_on_runs_of_blanks_and_ignore_line_ends():
    spec = reader.TransactionsFile(Path("log.txt"), {}, delimiter=reader.WHITESPACE)
    text = " customer_id  date number_of_cds  dollar_value\r\n 00001 19970101  1   11.77\r\n"
    assert list(reader._records(spec, io.StringIO(text, newline=None))) == [
        ["customer_id", "date", "number_of_cds", "dollar_value"],
        ["00001", "19970101", "1", "11.77"]]
