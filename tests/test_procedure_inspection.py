"""The inspection procedure: periodic manual controls with no client export (GOV-01, GOV-02, RA-01, BC-01, BK-02,
CAP-01, CF-01 of the demo).

Their occurrences are derived from the frequency over the period (or listed in engagement.toml), sampled with the
firm's frequency table, and tested on the control matrix's Manual attributes. Expected counts are computed here
from the calendar and the raw control matrix, never from the engine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from conftest import SAMPLE_DATA, copy_engagement, run_stages
from workbench.engagement import load_engagement
from workbench.errors import EngagementError
from workbench.evaluation import NO_INSTANCE_KEY
from workbench.judgements import evaluate_exception, record_walkthrough
from workbench.library import procedure_of
from workbench.occurrences import TYPE1_WINDOW_DAYS, derive_occurrences
from workbench.pipeline import run_control_test
from workbench.procedures.inspection import attribute_id, for_control, manual_attributes, split_lines
from workbench.receipt import receipts
from workbench.results import ResultsStore
from workbench.sample import derive_seed
from workbench.scope import TYPE1_LOOKBACK_DAYS
from workbench.workpaper import write_workpaper

INSPECTION_CONTROLS = {"GOV-01": "annual", "GOV-02": "quarterly", "RA-01": "annual", "BC-01": "annual",
                       "BK-02": "annual", "CAP-01": "monthly", "CF-01": "quarterly"}
#: Occurrences per frequency over a 12-month period, and the firm's frequency table of the demo.
PER_YEAR = {"annual": 1, "quarterly": 4, "monthly": 12}
TABLE = {"annual": 1, "quarterly": 2, "monthly": 2}


def raw_matrix(engagement: str = "acme-type2") -> dict[str, dict[str, str]]:
    """The demo's control matrix as written (openpyxl), by control id."""
    sheet = openpyxl.load_workbook(SAMPLE_DATA / engagement / "controls.xlsx", read_only=True)["Controls"]
    rows = list(sheet.iter_rows(values_only=True))
    header = [str(h) for h in rows[0]]
    return {str(r[0]): {h: ("" if v is None else str(v)) for h, v in zip(header, r)} for r in rows[1:] if r[0]}


def with_toml(folder: Path, text: str) -> Path:
    toml = folder / "engagement.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")
    return folder


# --------------------------------------------------------------------------------------------------
# Occurrences derived from the frequency
# --------------------------------------------------------------------------------------------------
def test_a_year_of_each_frequency():
    start, end = dt.date(2025, 7, 1), dt.date(2026, 6, 30)
    annual = derive_occurrences("annual", start, end)
    assert [(o.id, o.starts, o.due) for o in annual] == [("2025-07-01..2026-06-30", start, end)]
    quarters = derive_occurrences("quarterly", start, end)
    assert [o.id for o in quarters] == ["2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2"]
    assert [o.due for o in quarters] == [dt.date(2025, 9, 30), dt.date(2025, 12, 31), dt.date(2026, 3, 31), end]
    months = derive_occurrences("monthly", start, end)
    assert [o.id for o in months] == [f"{y}-{m:02d}" for y, m in [(2025, m) for m in range(7, 13)]
                                      + [(2026, m) for m in range(1, 7)]]
    weeks = derive_occurrences("weekly", start, end)
    assert len(weeks) == 52 == (end - start).days // 7
    assert weeks[-1].due == end and (weeks[-1].due - weeks[-1].starts).days == 7   # the 365th day joins week 52
    days = derive_occurrences("daily", start, end)
    weekdays = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    assert [o.id for o in days] == [d.isoformat() for d in weekdays if d.weekday() < 5]
    assert len(days) == int(np.busday_count(start, end + dt.timedelta(days=1)))


def test_calendar_years_and_partial_periods():
    assert [o.id for o in derive_occurrences("annual", dt.date(2025, 1, 1), dt.date(2025, 12, 31))] == ["2025"]
    # six months of an annual control: one occurrence (the only one there is)
    assert len(derive_occurrences("annual", dt.date(2025, 7, 1), dt.date(2025, 12, 31))) == 1
    # a trailing part shorter than half an interval joins the last one; a longer one is an occurrence
    short = derive_occurrences("monthly", dt.date(2025, 7, 1), dt.date(2025, 8, 10))
    assert [(o.starts, o.due) for o in short] == [(dt.date(2025, 7, 1), dt.date(2025, 8, 10))]
    long = derive_occurrences("monthly", dt.date(2025, 7, 1), dt.date(2025, 8, 20))
    assert [o.due for o in long] == [dt.date(2025, 7, 31), dt.date(2025, 8, 20)]
    # a period that does not start on the 1st: intervals are not calendar months, the ids say so
    shifted = derive_occurrences("quarterly", dt.date(2025, 8, 15), dt.date(2026, 8, 14))
    assert [o.id for o in shifted][0] == "2025-08-15..2025-11-14" and len(shifted) == 4


def test_type1_counts_back_from_the_as_of_date():
    assert TYPE1_WINDOW_DAYS == TYPE1_LOOKBACK_DAYS
    as_of = dt.date(2026, 6, 30)
    start = as_of - dt.timedelta(days=TYPE1_WINDOW_DAYS - 1)
    assert [(o.starts, o.due) for o in derive_occurrences("annual", start, as_of, backwards=True)] == \
        [(dt.date(2025, 7, 1), as_of)]
    assert [o.id for o in derive_occurrences("quarterly", start, as_of, backwards=True)] == ["2026-Q2"]
    assert [o.id for o in derive_occurrences("monthly", start, as_of, backwards=True)] == \
        ["2026-04", "2026-05", "2026-06"]
    assert len(derive_occurrences("weekly", start, as_of, backwards=True)) == 13


@pytest.mark.parametrize("frequency", ["many_times_a_day", "as_needed"])
def test_frequencies_that_cannot_be_derived(frequency):
    with pytest.raises(EngagementError, match="cannot be derived"):
        derive_occurrences(frequency, dt.date(2025, 7, 1), dt.date(2026, 6, 30))


# --------------------------------------------------------------------------------------------------
# Manual attributes from the control matrix
# --------------------------------------------------------------------------------------------------
def test_manual_attribute_lines_give_ids_wording_and_deviations():
    lines = split_lines("- The information security policies were reviewed and approved by management.\n\n"
                        "published: The approved policies were published to personnel\n"
                        "2. The CISO signed the minutes | the minutes were not signed by the CISO")
    assert len(lines) == 3
    first, second, third = manual_attributes(lines)
    assert first.id == attribute_id(lines[0]) == "information_security_policies_reviewed"
    assert first.label == "Information security policies reviewed"
    assert first.objective == "the information security policies were reviewed and approved by management"
    assert first.deviation_wording == ("it was not evidenced that the information security policies were reviewed "
                                       "and approved by management")
    assert first.kind == "manual" and not first.automated
    assert (second.id, second.objective) == ("published", "the approved policies were published to personnel")
    assert third.objective == "the CISO signed the minutes"          # an acronym keeps its capitals
    assert third.deviation_wording == "the minutes were not signed by the CISO"
    assert third.evidence_request == "evidence that the CISO signed the minutes"


@pytest.mark.parametrize("lines, message", [
    (["Approved"], "line 1 .* does not say what the evidence shows"),
    (["one: The committee met in the quarter", "one: Minutes were kept and approved"], "line 2: id 'one'"),
    (["The committee met in the quarter |"], "line 1: nothing after '\\|'"),
])
def test_bad_manual_attribute_lines(lines, message):
    with pytest.raises(ValueError, match=message):
        manual_attributes(lines)


def test_repeated_wording_gets_distinct_ids_and_a_blank_cell_the_default_attribute():
    twice = manual_attributes(["The committee met and minutes were kept", "The committee met and minutes were kept"])
    assert [a.id for a in twice] == ["committee_met_minutes_kept", "committee_met_minutes_kept_2"]
    assert [a.id for a in for_control((), "quarterly").attributes] == ["performed_as_described"]
    assert for_control((), "quarterly").item_description_plural == "quarterly occurrences of the control"


def test_the_demo_matrix_wires_each_inspection_control():
    matrix = raw_matrix()
    engagement = load_engagement(SAMPLE_DATA / "acme-type2")
    for control_id, frequency in INSPECTION_CONTROLS.items():
        row = matrix[control_id]
        assert (row["Procedure"], row["Frequency"], row["Populations"]) == ("inspection", frequency, "")
        lines = [line for line in row["Manual attributes"].split("\n") if line.strip()]
        assert len(lines) == 2
        procedure = procedure_of(engagement, engagement.control(control_id))
        assert [a.id for a in procedure.attributes] == [line.split(":")[0] for line in lines]
        assert all(not a.automated for a in procedure.attributes)
        # the Section 4 wording reads in "to determine that ..." and "For 1 of 2 sampled occurrences, ..."
        assert all(a.objective[0].islower() and not a.objective.endswith(".") for a in procedure.attributes)
        assert engagement.control(control_id).populations == (f"{control_id}-occurrences",)


def test_manual_attributes_on_another_procedure_or_a_bad_line_are_matrix_problems(type2_copy):
    book = openpyxl.load_workbook(type2_copy / "controls.xlsx")
    sheet = book["Controls"]
    header = [c.value for c in sheet[1]]
    column = header.index("Manual attributes") + 1
    rows = {sheet.cell(r, 1).value: r for r in range(2, sheet.max_row + 1)}
    sheet.cell(rows["CM-01"], column).value = "The change was approved before deployment"
    sheet.cell(rows["GOV-02"], column).value = "Met"
    book.save(type2_copy / "controls.xlsx")
    with pytest.raises(EngagementError) as raised:
        load_engagement(type2_copy)
    text = str(raised.value)
    assert f"controls.xlsx, row {rows['CM-01']}, column 'manual_attributes': Manual attributes are the attributes " \
           f"of a control tested with procedure inspection" in text
    assert f"controls.xlsx, row {rows['GOV-02']}, column 'manual_attributes': line 1 ('Met') does not say what" in text


# --------------------------------------------------------------------------------------------------
# The demo's inspection controls
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_tests(tmp_path_factory):
    folder = copy_engagement(SAMPLE_DATA / "acme-type2", tmp_path_factory.mktemp("inspection") / "acme-type2")
    engagement = load_engagement(folder)
    return {cid: run_control_test(engagement, cid) for cid in INSPECTION_CONTROLS}


def test_demo_occurrences_samples_and_status(demo_tests):
    for control_id, frequency in INSPECTION_CONTROLS.items():
        test = demo_tests[control_id]
        assert test.population.kind == "occurrences" and test.population.derived == "frequency"
        assert len(test.scope) == PER_YEAR[frequency], control_id
        assert test.sample_plan.sample_size == min(TABLE[frequency], PER_YEAR[frequency]), control_id
        assert test.sample_plan.kind == "frequency"
        # every attribute is manual: nothing is recorded yet, so the control is in progress (not "not yet tested")
        assert test.evaluation.status == "testing_in_progress", control_id
        assert test.evaluation.exception_items == ()
        assert test.evaluation.items_tested == 0


def test_demo_seed_is_derived_from_the_engagement_the_control_and_the_list_of_occurrences(demo_tests):
    test = demo_tests["GOV-02"]
    assert test.selection.sample_id == "GOV-02-occurrences"           # the sample names the control
    canonical = [{"occurrence_id": o.id, "control_id": "GOV-02", "description": o.description,
                  "starts_at": o.starts.isoformat(), "due_at": o.due.isoformat(),
                  "source": "derived from the frequency over the period"}
                 for o in derive_occurrences("quarterly", dt.date(2025, 7, 1), dt.date(2026, 6, 30))]
    sha = hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert test.population.sha256 == sha
    assert test.selection.seed == derive_seed(test.engagement, "GOV-02-occurrences", sha, "period")
    # a selection stratified by month would always take the first quarters: random over the occurrences instead
    assert test.selection.method == "random"
    assert test.fingerprint.components["populations"] != ""
    assert "GOV-02-occurrences" not in {r.population_id for r in receipts(test.engagement)}
    assert not test.receipts


def test_demo_test_performed_and_workpaper(demo_tests, tmp_path):
    test = demo_tests["GOV-02"]
    assert test.evaluation.test_performed == (
        "Inspected evidence of the control's performance for a sample of 2 quarterly occurrences of the control due "
        "during the period to determine that the security committee met in the quarter and minutes were kept and "
        "the minutes showed review of security metrics, open risks and the status of remediation.")
    path = write_workpaper(tmp_path, test)
    book = openpyxl.load_workbook(path, read_only=True)
    population = [tuple(r[:2]) for r in book["Population"].iter_rows(values_only=True) if r and r[0]]
    assert ("Source", "derived from the frequency over the period") in population
    assert any(label == "Receipt" and "no file was received" in str(value) for label, value in population)
    sampling = [str(c) for r in book["Sampling"].iter_rows(values_only=True) for c in r if c]
    assert any("firm's frequency table" in c for c in sampling)


def test_recorded_results_carry_the_control_to_its_result(type2_copy):
    first = run_stages(type2_copy, "GOV-02")
    engagement, keys = first["engagement"], first["selection"].keys
    with ResultsStore.open(engagement) as store:
        for number, key in enumerate(keys):
            store.record("GOV-02", key, "committee_met", "pass", tested_by="DR", evidence_ref=f"minutes {key}",
                         evidence_date="2026-07-20")
            store.record("GOV-02", key, "metrics_and_risks_reviewed", "fail" if number == 0 else "pass",
                         tested_by="DR", evidence_ref=f"minutes {key}", evidence_date="2026-07-20",
                         comment="no security metrics in the minutes" if number == 0 else None)
    record_walkthrough(engagement, "GOV-02", by="DR", instance=keys[0], inquiry_of="Nadia Karimi, Head of Security",
                       inquiry_date="2026-07-15", inspected="the committee minutes", observed="a meeting",
                       design="suitably designed")
    again = run_stages(type2_copy, "GOV-02")["evaluation"]
    assert again.status == "evaluation_pending"
    assert again.exception_items == (keys[0],)
    assert again.result_text == ("For 1 of 2 sampled occurrences, it was not evidenced that the minutes showed "
                                 "review of security metrics, open risks and the status of remediation.")
    evaluate_exception(engagement, "GOV-02", keys[0], by="DR", type="operating", extent="isolated",
                       why="one meeting's minutes omitted the metrics", root_cause="template not used",
                       effect_on_criteria="none: metrics were reviewed at the next meeting")
    assert run_stages(type2_copy, "GOV-02")["evaluation"].status == "exceptions_noted"


def test_listed_occurrences_replace_the_derived_ones(type2_copy):
    with_toml(type2_copy, "[[controls.BC-01.occurrences]]\nid = \"DR-2026-03\"\ndate = 2026-03-14\n"
                          "description = \"Annual failover test to us-west-2\"\n\n"
                          "[[controls.BC-01.occurrences]]\nid = \"DR-2025-05\"\ndate = 2025-05-20\n")
    stages = run_stages(type2_copy, "BC-01")
    population, scope = stages["population"], stages["scope"]
    assert population.derived == "listed" and population.source_relative == "listed in engagement.toml"
    assert list(population.frame["occurrence_id"]) == ["DR-2026-03", "DR-2025-05"]
    assert list(scope.frame["occurrence_id"]) == ["DR-2026-03"]            # the 2025 test is before the period
    assert scope.counts["before"] == 1
    assert stages["selection"].keys == ("DR-2026-03",)


def test_an_annual_control_with_no_listed_occurrence_is_an_exception(type2_copy):
    with_toml(type2_copy, "[controls.BK-02]\noccurrences = []\n")
    evaluation = run_stages(type2_copy, "BK-02")["evaluation"]
    assert evaluation.status == "evaluation_pending"
    assert evaluation.exception_items == (NO_INSTANCE_KEY,)
    assert "performed annually: the control did not operate as described" in evaluation.result_text


def test_an_as_needed_control_with_no_occurrence_is_not_occurring(type2_copy):
    book = openpyxl.load_workbook(type2_copy / "controls.xlsx")
    sheet = book["Controls"]
    header = [c.value for c in sheet[1]]
    for r in range(2, sheet.max_row + 1):
        if sheet.cell(r, 1).value == "BK-02":
            sheet.cell(r, header.index("Frequency") + 1).value = "as_needed"
    book.save(type2_copy / "controls.xlsx")
    with pytest.raises(EngagementError, match=r"control BK-02 \(inspection\) operates as needed, so its occurrences "
                                              r"cannot be derived from its frequency; list them: add "
                                              r"\[\[controls.BK-02.occurrences\]\]"):
        load_engagement(type2_copy)
    with_toml(type2_copy, "[controls.BK-02]\noccurrences = []\n")
    evaluation = run_stages(type2_copy, "BK-02")["evaluation"]
    assert evaluation.status == "not_occurring"
    assert evaluation.exception_items == ()


@pytest.mark.parametrize("text, message", [
    ("[[controls.BC-01.occurrences]]\nid = \"DR-1\"\ndate = \"2026-03-14\"\n",
     r"line \d+, \[\[controls.BC-01.occurrences\]\] #1 date: must be a TOML date, got .*write it without quotes"),
    ("[[controls.BC-01.occurrences]]\nid = \"DR-1\"\n",
     r"\[\[controls.BC-01.occurrences\]\] #1 date: required: the day the control was performed"),
    ("[[controls.BC-01.occurrences]]\nid = \"DR 1\"\ndate = 2026-03-14\n",
     r"id: 'DR 1' may hold only letters, digits"),
    ("[[controls.BC-01.occurrences]]\nid = \"DR-1\"\ndate = 2026-03-14\n\n"
     "[[controls.BC-01.occurrences]]\nid = \"DR-1\"\ndate = 2026-04-14\n",
     r"#2 id: 'DR-1' is also occurrence #1"),
    ("[[controls.BC-01.occurrences]]\nid = \"DR-1\"\nwhen = 2026-03-14\n",
     r"#1 when: unknown key"),
    ("[[controls.CM-01.occurrences]]\nid = \"X\"\ndate = 2026-03-14\n",
     r"control CM-01 is tested with procedure 'change_management', which samples a population of the client's"),
])
def test_bad_listed_occurrences_name_the_line_and_the_fix(type2_copy, text, message):
    with_toml(type2_copy, text)
    with pytest.raises(EngagementError, match=message):
        load_engagement(type2_copy)


def test_type1_inspection_takes_the_latest_occurrence(tmp_path):
    folder = copy_engagement(SAMPLE_DATA / "acme-type1", tmp_path / "acme-type1")
    engagement = load_engagement(folder)
    quarterly = run_control_test(engagement, "GOV-02")
    assert list(quarterly.scope.frame["occurrence_id"]) == ["2026-Q2"]
    assert quarterly.sample_plan.kind == "type1" and quarterly.selection.keys == ("2026-Q2",)
    monthly = run_control_test(engagement, "CAP-01")
    assert list(monthly.scope.frame["occurrence_id"]) == ["2026-04", "2026-05", "2026-06"]
    assert len(monthly.selection.keys) == 1
    assert monthly.evaluation.status == "testing_in_progress" and monthly.evaluation.result_text == ""


def test_a_derived_population_cannot_be_read_as_a_file(type2_copy):
    engagement = load_engagement(type2_copy)
    source = engagement.population("GOV-01-occurrences")
    assert source.derived == "frequency" and source.kind == "occurrences"
    assert "GOV-01-occurrences" not in engagement.populations      # never listed with the client's files
    with pytest.raises(EngagementError):
        engagement.population("no-such-population")
