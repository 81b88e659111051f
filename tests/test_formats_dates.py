"""Dates that do not exist, the file-wide day/month order, very long fields and unreadable workbooks."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pyarrow as pa
import pytest

from workbench.errors import PopulationError
from workbench.formats.dates import (DAY_FIRST, MONTH_FIRST, day_month_evidence, parse_timestamp_columns,
                                      parse_timestamps)
from workbench.population import load_population_file
from workbench.validation import check_population

NY = "America/New_York"
UTC = "UTC"
CH_HEADER = "change_id,title,change_type,status,author,approver,created_at,approved_at,deployed_at,system"


def changes_file(path: Path, rows: list[str]) -> Path:
    """A changes export: the canonical header, then ``rows`` (CSV lines), one a line."""
    path.write_text("\n".join([CH_HEADER, *rows]) + "\n")
    return path


def changes_csv(path: Path, created: list[str], other: str) -> Path:
    """A changes export whose created_at holds ``created`` and whose other date columns hold ``other``."""
    return changes_file(path, [f'CHG-{i},Change {i},normal,Done,dev{i},lead,"{c}","{other}","{other}",web'
                               for i, c in enumerate(created, start=1)])


# ---- 1. impossible dates are unparsed, never rolled into the next month ------------------------

# (impossible value, a valid value in the same format, what the valid value reads as)
IMPOSSIBLE = [
    ("2025-02-29 10:00:00", "2025-02-28 10:00:00", "2025-02-28 10:00:00"),
    ("29/Feb/25 3:29 PM", "28/Feb/25 3:29 PM", "2025-02-28 15:29"),
    ("6/31/2025 16:14", "6/30/2025 16:14", "2025-06-30 16:14"),
    ("31/06/2025 10:00", "30/06/2025 10:00", "2025-06-30 10:00"),
    ("2025-06-31T10:00:00Z", "2025-06-30T10:00:00Z", "2025-06-30T10:00:00Z"),
    ("Jun 31, 2025", "Jun 30, 2025", "2025-06-30"),
]


@pytest.mark.parametrize("bad, good, expected", IMPOSSIBLE)
def test_impossible_date_is_a_date_parse_error_with_row_and_column(tmp_path, bad, good, expected):
    path = changes_csv(tmp_path / "changes.csv", [good, bad, good], good)
    population, report = check_population(path, kind="changes", timezone=UTC)
    assert population is not None and not report.usable
    errors = report.errors[report.errors["rule"] == "date_parse"]
    assert errors[["row", "column", "value"]].values.tolist() == [[3, "created_at", bad]]
    created = population.frame["created_at"]
    assert pd.isna(created.iloc[1])                                   # not 1 March / 1 July
    assert created.iloc[0] == created.iloc[2] == pd.Timestamp(expected, tz=UTC)


@pytest.mark.parametrize("bad, good, expected", IMPOSSIBLE)
def test_impossible_date_is_unparsed_in_the_parser(bad, good, expected):
    parsed = parse_timestamps(pa.array([good, bad, None, good]), UTC)
    assert parsed.unparsed.tolist() == [1]
    assert parsed.values.isna().tolist() == [False, True, True, False]
    assert parsed.values[0] == pd.Timestamp(expected, tz=UTC)


def test_leap_day_of_a_leap_year_still_parses():
    for text, expected in (("29/Feb/24 3:29 PM", "2024-02-29 15:29"), ("29/02/2024 10:00", "2024-02-29 10:00"),
                           ("2/29/2024 10:00", "2024-02-29 10:00"), ("Feb 29, 2024", "2024-02-29")):
        parsed = parse_timestamps(pa.array([text]), UTC)
        assert parsed.unparsed.tolist() == []
        assert parsed.values[0] == pd.Timestamp(expected, tz=UTC)


def test_many_rows_with_one_impossible_date():
    values = [f"{d:02d}/06/2025 10:00" for d in range(13, 31)] * 500 + ["31/06/2025 10:00"]
    parsed = parse_timestamps(pa.array(values), UTC)
    assert parsed.unparsed.tolist() == [len(values) - 1]
    assert parsed.values[17] == pd.Timestamp("2025-06-30 10:00", tz=UTC)


# ---- 2. the day/month order is decided once per file --------------------------------------------

def test_mixed_file_is_read_day_first_in_every_column():
    # Created proves day first (13/02); Deployed alone (days <= 12) would have read 04/03 as 4 March... or April
    parsed = parse_timestamp_columns({
        "created_at": pa.array(["13/02/2026 09:15", "01/03/2026 10:00"]),
        "deployed_at": pa.array(["04/03/2026 16:20", "05/03/2026 08:00"]),
        "approved_at": pa.array(["2026-02-13T10:00:00Z", None]),
    }, UTC, labels={"created_at": "created_at ('Created')"})
    assert parsed["created_at"].values.tolist() == [pd.Timestamp("2026-02-13 09:15", tz=UTC),
                                                    pd.Timestamp("2026-03-01 10:00", tz=UTC)]
    assert parsed["deployed_at"].values.tolist() == [pd.Timestamp("2026-03-04 16:20", tz=UTC),
                                                     pd.Timestamp("2026-03-05 08:00", tz=UTC)]
    assert parsed["deployed_at"].formats == ("%d/%m/%Y %H:%M",)
    assert all(p.ambiguous_order is None and p.order_conflict is None for p in parsed.values())
    assert parsed["deployed_at"].notes == (
        "day/month order: day first (dd/mm) for every date column of the file, shown by '13/02/2026 09:15' "
        "in created_at ('Created')",)


def test_month_first_evidence_in_one_column_sets_the_whole_file():
    parsed = parse_timestamp_columns({"created_at": pa.array(["04/03/2026 16:20"]),
                                      "deployed_at": pa.array(["02/13/2026 10:00"])}, UTC)
    assert parsed["created_at"].values[0] == pd.Timestamp("2026-04-03 16:20", tz=UTC)
    assert parsed["deployed_at"].values[0] == pd.Timestamp("2026-02-13 10:00", tz=UTC)


def test_contradictory_order_evidence_is_a_conflict_naming_columns_and_values():
    parsed = parse_timestamp_columns({"created_at": pa.array(["13/02/2026 09:15", "01/02/2026 10:00"]),
                                      "deployed_at": pa.array(["02/14/2026 10:00", "02/01/2026 10:00"]),
                                      "approved_at": pa.array(["2026-02-13T10:00:00Z", None])}, UTC)
    conflict = parsed["created_at"].order_conflict
    assert conflict is not None and conflict == parsed["deployed_at"].order_conflict
    assert "created_at: '13/02/2026 09:15'" in conflict and "deployed_at: '02/14/2026 10:00'" in conflict
    assert parsed["approved_at"].order_conflict is None                # ISO: not part of the contradiction


def test_whole_file_ambiguous_is_reported_with_the_order_taken_and_why():
    parsed = parse_timestamp_columns({"created_at": pa.array(["01/02/2026 09:15"]),
                                      "deployed_at": pa.array(["03/04/2026 10:00"])}, UTC,
                                     assume=DAY_FIRST, assume_reason="the convention of this export's locale")
    assert parsed["created_at"].values[0] == pd.Timestamp("2026-02-01 09:15", tz=UTC)
    assert parsed["deployed_at"].values[0] == pd.Timestamp("2026-04-03 10:00", tz=UTC)
    message = parsed["deployed_at"].ambiguous_order
    assert "cannot be told" in message and "any date column of the file" in message
    assert "day first" in message and "the convention of this export's locale" in message


def test_ambiguous_column_is_not_reported_when_another_column_decides():
    parsed = parse_timestamp_columns({"created_at": pa.array(["01/02/2026 09:15"]),
                                      "deployed_at": pa.array(["03/14/2026 10:00"])}, UTC)
    assert parsed["created_at"].ambiguous_order is None
    assert parsed["created_at"].values[0] == pd.Timestamp("2026-01-02 09:15", tz=UTC)


def test_one_column_uses_evidence_beyond_its_sample():
    # 5,000 ambiguous values then one day-first value: the sample may miss it, the evidence does not
    values = ["01/02/2026 10:00"] * 5000 + ["13/02/2026 10:00"]
    parsed = parse_timestamps(pa.array(values), UTC)
    assert parsed.unparsed.tolist() == []
    assert parsed.ambiguous_order is None
    assert parsed.values[0] == pd.Timestamp("2026-02-01 10:00", tz=UTC)
    assert parsed.values[5000] == pd.Timestamp("2026-02-13 10:00", tz=UTC)


def test_explicit_order_is_applied():
    parsed = parse_timestamps(pa.array(["04/03/2026 16:20"]), UTC, order=MONTH_FIRST)
    assert parsed.values[0] == pd.Timestamp("2026-04-03 16:20", tz=UTC)
    parsed = parse_timestamps(pa.array(["04/03/2026 16:20"]), UTC, order=DAY_FIRST)
    assert parsed.values[0] == pd.Timestamp("2026-03-04 16:20", tz=UTC)
    with pytest.raises(ValueError, match="order must be"):
        parse_timestamps(pa.array(["04/03/2026"]), UTC, order="dmy")


def test_day_month_evidence_examples():
    evidence = day_month_evidence(pa.array(["13/02/2026", "02/14/2026", "01/01/2026", "16/Feb/26", None]))
    assert evidence.numeric
    assert evidence.day_first == ("13/02/2026",) and evidence.month_first == ("02/14/2026",)
    assert evidence.order is None
    assert not day_month_evidence(pa.array(["16/Feb/26 3:29 PM", "2026-02-13"])).numeric


# end to end: load_population_file decides one order for the whole file
def test_mixed_file_loads_day_first_end_to_end(tmp_path):
    path = changes_file(tmp_path / "changes.csv", [
        "CHG-1,One,normal,Done,a,b,13/02/2026 09:15,13/02/2026 10:00,04/03/2026 16:20,web",
        "CHG-2,Two,normal,Done,a,b,01/03/2026 10:00,01/03/2026 11:00,05/03/2026 08:00,web",
    ])
    population = load_population_file(path, kind="changes", timezone=UTC)
    assert population.frame["deployed_at"].tolist() == [pd.Timestamp("2026-03-04 16:20", tz=UTC),
                                                        pd.Timestamp("2026-03-05 08:00", tz=UTC)]
    assert not [f for f in population.findings if f[0] == "date_order_ambiguous"]


def test_contradictory_file_is_an_error_finding(tmp_path):
    path = changes_file(tmp_path / "changes.csv", [
        "CHG-1,One,normal,Done,a,b,13/02/2026 09:15,13/02/2026 10:00,02/14/2026 16:20,web",
        "CHG-2,Two,normal,Done,a,b,01/03/2026 10:00,01/03/2026 11:00,03/05/2026 08:00,web",
    ])
    population, report = check_population(path, kind="changes", timezone=UTC)
    assert not report.usable
    errors = report.errors[report.errors["message"].str.contains("show both day/month orders")]
    assert sorted(errors["column"]) == ["approved_at", "created_at", "deployed_at"]
    assert "'13/02/2026 09:15'" in errors["message"].iloc[0] and "'02/14/2026 16:20'" in errors["message"].iloc[0]


def test_a_value_impossible_in_both_orders_proves_nothing():
    evidence = day_month_evidence(pa.array(["31/31/2025 10:00", "01/02/2025 10:00"]))
    assert evidence.numeric and evidence.day_first == () and evidence.month_first == ()


# ---- 3. a field larger than 128 KB --------------------------------------------------------------

@pytest.mark.parametrize("size, blank_line, quoted", [
    (200_000, True, False),       # the csv-module fallback (a blank line), 200 KB > its 128 KB limit
    (200_000, False, True),       # pyarrow, quoted field with a line break
    (3_000_000, False, True),     # a row longer than pyarrow's 1 MB block
])
def test_very_long_field_loads(tmp_path, size, blank_line, quoted):
    text = "x" * size
    cell = f'"{text}\nend"' if quoted else text
    rows = [CH_HEADER,
            f"CHG-1,{cell},normal,Done,a,b,2025-07-01 10:00,2025-07-01 11:00,2025-07-01 12:00,web"]
    if blank_line:
        rows.append("")
    rows.append("CHG-2,short,normal,Done,a,b,2025-07-02 10:00,2025-07-02 11:00,2025-07-02 12:00,web")
    path = tmp_path / "changes.csv"
    path.write_text("\n".join(rows) + "\n")
    population = load_population_file(path, kind="changes", timezone=UTC)
    assert population.frame["change_id"].tolist() == ["CHG-1", "CHG-2"]
    assert len(population.frame["title"].iloc[0]) == size + (4 if quoted else 0)
    assert population.frame["source_row"].tolist() == ([2, 4] if blank_line else [2, 3])


# ---- 4. unreadable and oddly shaped workbooks ---------------------------------------------------

@pytest.mark.parametrize("content", [
    b"this was a workbook once\x01\x02 but the bytes are now text\n",
    b"PK\x05\x06" + b"\x00" * 18,                       # an empty zip
    bytes(range(256)) * 4,                              # binary garbage
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504, # an OLE2 file (password-protected .xlsx)
])
def test_corrupt_xlsx_is_named_as_such(tmp_path, content):
    path = tmp_path / "changes.xlsx"
    path.write_bytes(content)
    with pytest.raises(PopulationError, match=r"not a readable Excel workbook \(corrupt or not an \.xlsx\)") as info:
        load_population_file(path, kind="changes", timezone=UTC)
    assert str(path) in str(info.value) and "delimiter" not in str(info.value)


def test_csv_saved_as_xlsx_is_read_with_a_note(tmp_path):
    path = tmp_path / "changes.xlsx"
    path.write_text(CH_HEADER + "\nCHG-1,One,normal,Done,a,b,2025-07-01 10:00,2025-07-01 11:00,2025-07-01 12:00,web\n")
    population = load_population_file(path, kind="changes", timezone=UTC)
    assert population.frame["change_id"].tolist() == ["CHG-1"]
    assert "the file is named .xlsx but holds delimited text; read as CSV" in population.notes


def _workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


CHANGE_ROWS = [CH_HEADER.split(","),
               ["CHG-1", "One", "normal", "Done", "a", "b", "2025-07-01 10:00", "2025-07-01 11:00",
                "2025-07-01 12:00", "web"]]


def test_empty_first_sheet_reads_the_only_sheet_with_data(tmp_path):
    path = _workbook(tmp_path / "changes.xlsx", {"Cover": [], "Changes": CHANGE_ROWS})
    population = load_population_file(path, kind="changes", timezone=UTC)
    assert population.frame["change_id"].tolist() == ["CHG-1"]
    assert population.frame["source_row"].tolist() == [2]
    assert "the first sheet, 'Cover', is empty; read the only sheet with data, 'Changes'" in population.notes


def test_empty_first_sheet_with_several_others_names_them(tmp_path):
    path = _workbook(tmp_path / "changes.xlsx", {"Cover": [], "Changes": CHANGE_ROWS, "Old": CHANGE_ROWS})
    with pytest.raises(PopulationError, match=r"the first sheet, 'Cover', is empty and 2 other sheets hold "
                                              r"data \('Changes', 'Old'\)"):
        load_population_file(path, kind="changes", timezone=UTC)


def test_first_sheet_with_data_is_still_read_first(tmp_path):
    path = _workbook(tmp_path / "changes.xlsx", {"Changes": CHANGE_ROWS, "Notes": [["prepared by", "IT"]]})
    population = load_population_file(path, kind="changes", timezone=UTC)
    assert population.frame["change_id"].tolist() == ["CHG-1"]
    assert "workbook has 2 sheets; read the first, 'Changes'" in population.notes
