"""Conclusions a reviewer would sign: the result text, routing by type, the shared sample, the sample as evidence
of the population, exception evaluations and the proposed conclusion, recorded conclusions, seeds, extension,
rounds and Type 1.

Expected values come from the raw demo files and sample_data/README.md, never from the engine.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import openpyxl
import pytest

from conftest import SAMPLE_DATA, copy_engagement, run_stages
from workbench.conclusion import record_conclusion
from workbench.engagement import load_engagement
from workbench.errors import EngagementError, ResultsError
from workbench.judgements import choose_seed, evaluate_exception, extend_sample, record_walkthrough
from workbench.results import ResultsStore
from workbench.sample import sample_id
from workbench.workpaper import read_summary, write_workpaper

CHANGES = "populations/jira_changes_FY26.csv"
# sample_data/README.md, planted changes: the CM-01 rules over standard and normal changes only (the emergency
# changes CHG-1705, CHG-2060, CHG-2538 belong to CM-03).
TICKET_AFTER = {"CHG-2151", "CHG-2359"}
APPROVED_AFTER = {"CHG-1458", "CHG-1496", "CHG-1597", "CHG-2151", "CHG-2207", "CHG-2319", "CHG-2359", "CHG-2536"}
SELF_APPROVED = {"CHG-1153", "CHG-2220", "CHG-2319", "CHG-2411"}
CM01_EXCEPTIONS = TICKET_AFTER | APPROVED_AFTER | SELF_APPROVED
EMERGENCY_PLANTED = {"CHG-1705", "CHG-2060", "CHG-2538"}


def raw_changes(folder: Path) -> list[dict[str, str]]:
    """The Jira export as a list of rows (first of each duplicated header)."""
    text = (folder / CHANGES).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = rows[0]
    first = {name: header.index(name) for name in header}
    return [{name: row[i] for name, i in first.items()} for row in rows[1:] if row]


def deployed(row: dict[str, str]) -> dt.datetime:
    return dt.datetime.strptime(row["Custom field (Deployed)"], "%d/%b/%y %I:%M %p")


def in_period(row: dict[str, str]) -> bool:
    return dt.datetime(2025, 7, 1) <= deployed(row) < dt.datetime(2026, 7, 1)


# ---- the demo: result text, routing, shared sample, summary ------------------------------------------------

def test_cm01_result_states_the_distinct_count_and_never_opens_with_no_exceptions(demo_run):
    raw = raw_changes(SAMPLE_DATA / "acme-type2")
    standard_normal = [r for r in raw if in_period(r) and r["Custom field (Change type)"] in ("Standard", "Normal")]
    record = json.loads((demo_run["out"] / "records" / "CM-01.json").read_text())
    assert record["population_count"] == len(standard_normal) == 1467
    assert set(record["exception_items"]) == CM01_EXCEPTIONS and len(CM01_EXCEPTIONS) == 11
    text = record["result_text"]
    assert "No exceptions noted" not in text
    assert ("For 11 of 1,467 standard and normal changes deployed during the period, a deviation was noted: the "
            "change was not documented in a ticket before deployment (2), approval was not documented before "
            "deployment (8) and the change was not approved by someone other than its author (4); 3 of them had "
            "more than one of these deviations.") in text
    assert record["test_performed"].startswith(
        "Compared the ticket creation time of each change with its deployment time, the approval time of each "
        "change with its deployment time and the approver of each change with its author for all 1,467 standard "
        "and normal changes deployed during the period (full-population analysis).")


def test_cm01_leaves_emergency_changes_out(demo_run):
    raw = raw_changes(SAMPLE_DATA / "acme-type2")
    emergency = {r["Issue key"] for r in raw if in_period(r) and r["Custom field (Change type)"] == "Emergency"}
    assert EMERGENCY_PLANTED <= emergency
    record = json.loads((demo_run["out"] / "records" / "CM-01.json").read_text())
    assert not emergency & set(record["exception_items"])
    assert not emergency & set(record["selected_keys"])
    book = openpyxl.load_workbook(demo_run["out"] / "CM-01.xlsx", read_only=True)
    excluded = {row[0]: row[3] for row in book["Population"].iter_rows(values_only=True)
                if row and isinstance(row[0], str) and row[0] in emergency}
    assert set(excluded) == emergency
    assert set(excluded.values()) == {"change_type not standard or normal: not tested by this control"}


def test_cm01_and_cm02_share_one_selection(demo_run):
    one = json.loads((demo_run["out"] / "records" / "CM-01.json").read_text())
    two = json.loads((demo_run["out"] / "records" / "CM-02.json").read_text())
    assert one["sample_id"] == two["sample_id"] == "changes[change_type in standard, normal]"
    assert one["selected_keys"] == two["selected_keys"] and len(one["selected_keys"]) == 22
    assert one["shared_with"] == ["CM-02"] and two["shared_with"] == ["CM-01"]


def test_summary_deviation_columns_agree_with_the_exceptions_sheets(demo_run):
    rows = demo_run["rows"]
    for control_id in ("CM-01", "CM-02"):
        book = openpyxl.load_workbook(demo_run["out"] / f"{control_id}.xlsx", read_only=True)
        sheet = list(book["Exceptions"].iter_rows(values_only=True))
        header = next(i for i, row in enumerate(sheet) if row and row[0] == "Item")
        items = {row[0] for row in sheet[header + 1:] if row and row[0] and row[0] != "None: no item deviated."}
        assert rows[control_id]["exceptions_distinct"] == len(items)
        assert rows[control_id]["unevaluated"] == 0      # the demo's filled templates evaluate every exception
    assert (rows["CM-01"]["exceptions_distinct"], rows["CM-02"]["exceptions_distinct"]) == (11, 1)


def test_reconciliation_differences_point_to_the_control_that_covers_them(demo_run):
    book = openpyxl.load_workbook(demo_run["out"] / "CM-01.xlsx", read_only=True)
    texts = [row[0] for row in book["Population"].iter_rows(values_only=True) if row and isinstance(row[0], str)]
    note = next(t for t in texts if "reconciliation difference(s)" in t)
    assert "deployment_reconciliation" in note


# ---- recording on a private copy -------------------------------------------------------------------------

@pytest.fixture
def cm01(type2_copy):
    """CM-01 with every manual result recorded (agreed to source) and the walkthrough recorded."""
    stages = run_stages(type2_copy, "CM-01")
    engagement = stages["engagement"]
    with ResultsStore.open(engagement) as store:
        for key in stages["selection"].keys:
            store.record("CM-01", key, "agreed_to_source", "pass", tested_by="DR", evidence_ref=f"JIRA {key} history",
                         evidence_date="2026-07-20")
    record_walkthrough(engagement, "CM-01", by="DR", instance="CHG-2401", inquiry_of="Priya Shah, Release Manager",
                       inquiry_date="2026-07-15", inspected="Jira ticket CHG-2401 and its approval history",
                       observed="an approval in Jira before the production deployment", design="suitably designed")
    return type2_copy


def test_evaluation_pending_until_every_exception_is_evaluated(cm01):
    engagement = load_engagement(cm01)
    stages = run_stages(cm01, "CM-01")
    assert stages["evaluation"].status == "evaluation_pending"
    assert set(stages["evaluation"].unevaluated) == CM01_EXCEPTIONS
    for key in sorted(CM01_EXCEPTIONS)[:-1]:
        evaluate_exception(engagement, "CM-01", key, by="DR", type="operating", extent="isolated",
                           why="a one-off: a different approver each time, no pattern", root_cause="late approval",
                           effect_on_criteria="none: CC8.1 still met")
    stages = run_stages(cm01, "CM-01")
    assert stages["evaluation"].status == "evaluation_pending"
    assert stages["evaluation"].unevaluated == (sorted(CM01_EXCEPTIONS)[-1],)
    evaluate_exception(engagement, "CM-01", sorted(CM01_EXCEPTIONS)[-1], by="JO", type="operating", extent="isolated",
                       why="a one-off", root_cause="self-approval in a hurry", effect_on_criteria="none",
                       management_response="Approver rules tightened in Jira.")
    stages = run_stages(cm01, "CM-01")
    evaluation = stages["evaluation"]
    assert evaluation.status == "exceptions_noted" and evaluation.unevaluated == ()
    assert evaluation.result_text.startswith("For 11 of 1,467 standard and normal changes deployed during the period")
    # the Exceptions sheet shows the evaluation of each, with who
    path = write_workpaper(cm01 / "out", stages["test"])
    sheet = list(openpyxl.load_workbook(path, read_only=True)["Exceptions"].iter_rows(values_only=True))
    header = next(row for row in sheet if row and row[0] == "Item")
    rows = [dict(zip(header, row)) for row in sheet[sheet.index(header) + 1:] if row and row[0]]
    assert {r["Item"] for r in rows} == CM01_EXCEPTIONS
    assert {r["Type"] for r in rows} == {"operating"}
    assert {r["Evaluated by"][:2] for r in rows} == {"DR", "JO"}


def test_a_systematic_exception_proposes_not_operating_effectively_and_conclusions_are_validated(cm01):
    engagement = load_engagement(cm01)
    for key in sorted(CM01_EXCEPTIONS):
        evaluate_exception(engagement, "CM-01", key, by="DR", type="operating",
                           extent="systematic" if key == "CHG-2319" else "isolated", why="see root cause",
                           root_cause="approvals skipped under pressure", effect_on_criteria="CC8.1 not met")
    test = run_stages(cm01, "CM-01")["test"]
    assert test.evaluation.status == "not_operating_effectively"
    with pytest.raises(ResultsError, match="11 exception\\(s\\) were found, so \"no exceptions noted\" cannot be"):
        record_conclusion(test, "no_exceptions_noted", by="DR", reason="judged fine")
    with pytest.raises(ResultsError, match="softer than the proposal"):
        record_conclusion(test, "exceptions_noted", by="DR")
    recorded = record_conclusion(test, "exceptions_noted", by="DR", reason="CHG-2319 was a known migration, "
                                                                               "compensated by the weekly review")
    assert (recorded.conclusion, recorded.proposed, recorded.by) == ("exceptions_noted", "not_operating_effectively",
                                                                     "DR")
    again = run_stages(cm01, "CM-01")["test"]
    assert again.conclusion.status == "exceptions_noted" and not again.conclusion.stale
    assert again.conclusion.text.startswith("Exceptions noted (recorded by DR on ")
    # a change to what the conclusion rests on makes it stale until recorded again
    evaluate_exception(engagement, "CM-01", "CHG-2319", by="DR", type="design", extent="systematic",
                       why="no control for migrations", root_cause="design gap", effect_on_criteria="CC8.1 not met")
    stale = run_stages(cm01, "CM-01")["test"]
    assert stale.conclusion.stale and stale.conclusion.changed == ("evaluations",)
    assert stale.conclusion.status == "not_operating_effectively"
    assert "is stale: evaluations changed since" in stale.conclusion.text


def test_conclusion_refused_while_anything_is_pending(type2_copy):
    test = run_stages(type2_copy, "CM-01")["test"]
    with pytest.raises(ResultsError, match="not yet: the control reads \"Testing in progress\""):
        record_conclusion(test, "exceptions_noted", by="DR")
    with pytest.raises(ResultsError, match="is not a conclusion of a SOC 2 Type 2 control"):
        record_conclusion(test, "suitably_designed_and_implemented", by="DR")


def test_an_agreed_to_source_mismatch_is_a_population_finding_not_a_deviation(cm01):
    engagement = load_engagement(cm01)
    stages = run_stages(cm01, "CM-01")
    key = stages["selection"].keys[3]
    with ResultsStore.open(engagement) as store:
        store.record("CM-01", key, "agreed_to_source", "fail", tested_by="DR", evidence_ref=f"JIRA {key} history",
                     evidence_date="2026-07-21", comment="approval time in Jira 14:02, export 13:02")
    stages = run_stages(cm01, "CM-01")
    testing, evaluation = stages["testing"], stages["evaluation"]
    assert not testing.census_relied_on and evaluation.accuracy_mismatches == 1
    assert evaluation.deviations == testing.deviations                       # not a deviation of the control
    assert key not in evaluation.exception_items or key in CM01_EXCEPTIONS
    assert evaluation.status == "population_not_relied_on"
    assert "the data used in the full-population analysis did not agree with the source system" in \
        evaluation.result_text
    path = write_workpaper(cm01 / "out", stages["test"])
    book = openpyxl.load_workbook(path, read_only=True)
    population = {row[0]: row[1] for row in book["Population"].iter_rows(values_only=True) if row and row[0]}
    assert population["Population data relied on"].startswith("no: the export did not agree with the source")
    assert any(row and row[1] == key and row[3] == "approval time in Jira 14:02, export 13:02"
               for row in book["Population"].iter_rows(values_only=True))
    lead = {row[0]: row[1] for row in book["Lead"].iter_rows(values_only=True) if row and row[0]}
    assert lead["Proposed by the tool"] == "Population data not relied on"


# ---- policy, seeds, extension ----------------------------------------------------------------------------

def with_toml(folder: Path, text: str) -> Path:
    toml = folder / "engagement.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")
    return folder


def test_policy_values_come_from_the_engagement_with_their_source(type2_copy):
    with_toml(type2_copy, "[policy.change_management]\nmin_sample_size = 25\n\n"
                          "[controls.CM-02.policy]\nmin_sample_size = 30\n")
    one = run_stages(type2_copy, "CM-01")
    assert one["policy"].value("min_sample_size") == 25
    assert one["policy"].sources["min_sample_size"] == "engagement.toml [policy.change_management]"
    assert one["policy"].sources["extension"] == "procedure default"
    # shared with CM-02, whose own minimum is 30: the larger size is drawn for both
    assert one["sample_plan"].sample_size == 30
    assert any("Raised from 22 to 25 items" in note or "CM-02, whose plan needs 30" in note
               for note in one["sample_plan"].notes)
    two = run_stages(type2_copy, "CM-02")
    assert two["policy"].sources["min_sample_size"] == "engagement.toml [controls.CM-02.policy]"
    assert two["selection"].keys == one["selection"].keys
    path = write_workpaper(type2_copy / "out", one["test"])
    rows = list(openpyxl.load_workbook(path, read_only=True)["Sampling"].iter_rows(values_only=True))
    assert ("min_sample_size", "25 items", "engagement.toml [policy.change_management]") in \
        [tuple(r[:3]) for r in rows if r and r[0] == "min_sample_size"]


def test_a_bad_policy_setting_is_named_with_file_line_and_fix(type2_copy):
    with_toml(type2_copy, "[policy.change_management]\nextension = \"two_stages\"\n")
    with pytest.raises(EngagementError, match=r"engagement.toml, line \d+, \[policy.change_management\] extension: "
                                              r"'two_stages' is not allowed; use one of: none, two_stage, extend"):
        load_engagement(type2_copy)


def test_a_chosen_seed_is_labelled_and_a_redraw_after_results_needs_a_reason(type2_copy):
    engagement = load_engagement(type2_copy)
    derived = run_stages(type2_copy, "CM-02")
    assert not derived["selection"].seeds[0].chosen
    sample = sample_id(engagement, engagement.control("CM-02"))
    choice = choose_seed(engagement, sample, 20260630, by="dr", reason="seed agreed with the client's IT auditor")
    assert choice.chosen_by == "DR"
    chosen = run_stages(type2_copy, "CM-02")
    assert chosen["selection"].seed == 20260630
    assert chosen["selection"].seeds[0].describe().startswith("chosen by DR on ")
    assert chosen["selection"].keys != derived["selection"].keys
    with ResultsStore.open(engagement) as store:
        store.record("CM-02", chosen["selection"].keys[0], "testing_evidenced", "pass", tested_by="DR",
                     evidence_ref="CI run 101", evidence_date="2026-07-20")
    with pytest.raises(ResultsError, match="results are already recorded in this engagement, and a new seed draws "
                                           "other items; give reason="):
        choose_seed(engagement, sample, 7, by="DR")
    choose_seed(engagement, sample, 7, by="DR", reason="first draw used the interim file by mistake")
    with ResultsStore.open(engagement) as store:
        reasons = [e.reason for e in store.history("seed")]
    assert reasons[-1] == "first draw used the interim file by mistake"
    path = write_workpaper(type2_copy / "out", run_stages(type2_copy, "CM-02")["test"])
    sampling = {row[0]: row[1] for row in openpyxl.load_workbook(path, read_only=True)["Sampling"]
                .iter_rows(values_only=True) if row and row[0]}
    assert sampling["Seed"].startswith("7 (chosen by DR on ") and "interim file by mistake" in sampling["Seed"]


def test_two_stage_extension_keeps_the_first_items_and_evaluates_both_stages(type2_copy):
    with_toml(type2_copy, "[policy.change_management]\nextension = \"two_stage\"\n")
    engagement = load_engagement(type2_copy)
    first = run_stages(type2_copy, "CM-02")
    plan = first["sample_plan"]
    assert plan.kind == "two_stage" and plan.sample_size == 24 and plan.extension_items == 24  # sampling.md §4.5
    keys = first["selection"].keys
    with ResultsStore.open(engagement) as store:
        for number, key in enumerate(keys):
            store.record("CM-02", key, "testing_evidenced", "fail" if number == 5 else "pass", tested_by="DR",
                         evidence_ref=f"CI {key}", evidence_date="2026-07-20",
                         comment="no CI run before the deployment" if number == 5 else None)
    record_walkthrough(engagement, "CM-02", by="DR", instance=keys[0], inquiry_of="Priya Shah", inquiry_date="2026-07-15",
                       inspected="the CI run linked on the ticket", observed="a deployment blocked by a failed run",
                       design="suitably designed")
    one_deviation = run_stages(type2_copy, "CM-02")
    assert one_deviation["evaluation"].status == "testing_in_progress"
    assert "second stage of the two-stage plan: 24 more items" in one_deviation["evaluation"].extension_proposed
    extend_sample(engagement, plan.sample_id, items=24, by="DR", reason="isolated: one engineer skipped CI once")
    extended = run_stages(type2_copy, "CM-02")
    selection = extended["selection"]
    assert selection.keys[:24] == keys and len(selection.keys) == 48 and selection.stage_sizes == (24, 24)
    assert extended["evaluation"].status == "testing_in_progress"          # the second stage is not tested yet
    with ResultsStore.open(engagement) as store:
        for key in selection.keys[24:]:
            store.record("CM-02", key, "testing_evidenced", "pass", tested_by="JO", evidence_ref=f"CI {key}",
                         evidence_date="2026-07-22")
    evaluate_exception(engagement, "CM-02", keys[5], by="DR", type="operating", extent="isolated", why="one engineer, once",
                       root_cause="CI skipped", effect_on_criteria="none")
    done = run_stages(type2_copy, "CM-02")["evaluation"]
    assert done.supports_reliance is True and done.status == "exceptions_noted"
    assert "Two-stage plan: one deviation in the first stage, 0 in the second (24 items)" in done.conclusion
    assert done.result_text == "For 1 of 48 sampled changes, testing before deployment was not evidenced."


# ---- rounds -------------------------------------------------------------------------------------------------

def split_changes(folder: Path, cut: dt.datetime) -> None:
    """Write the interim export (deployed before ``cut``) and the roll-forward export (from ``cut``)."""
    text = (folder / CHANGES).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, records = rows[0], [r for r in rows[1:] if r]
    column = header.index("Custom field (Deployed)")
    for name, keep in (("jira_changes_interim.csv", lambda d: d < cut), ("jira_changes_rollforward.csv",
                                                                          lambda d: d >= cut)):
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(r for r in records if keep(dt.datetime.strptime(r[column], "%d/%b/%y %I:%M %p")))
        (folder / "populations" / name).write_text(buffer.getvalue(), encoding="utf-8")


ROUNDS = """
[populations.changes_interim]
file = "populations/jira_changes_interim.csv"
kind = "changes"
format = "jira"

[populations.changes_rollforward]
file = "populations/jira_changes_rollforward.csv"
kind = "changes"
format = "jira"

[[rounds]]
name = "interim"
start = 2025-07-01
end = {interim_end}
populations = ["changes_interim"]

[[rounds]]
name = "roll-forward"
start = 2026-01-01
end = 2026-06-30
populations = ["changes_rollforward"]
"""


def with_rounds(folder: Path, interim_end: str = "2025-12-31") -> Path:
    split_changes(folder, dt.datetime(2026, 1, 1))
    workbook = openpyxl.load_workbook(folder / "controls.xlsx")
    sheet = workbook["Controls"]
    header = [c.value for c in sheet[1]]
    column = header.index("Populations") + 1
    for row in sheet.iter_rows(min_row=2):
        if row[0].value in ("CM-01", "CM-02"):
            sheet.cell(row=row[0].row, column=column, value="changes_interim;changes_rollforward")
    workbook.save(folder / "controls.xlsx")
    return with_toml(folder, ROUNDS.format(interim_end=interim_end))


def test_two_rounds_cover_the_period_each_with_its_own_selection(type2_copy):
    stages = run_stages(with_rounds(type2_copy), "CM-01")
    plan, selection, scope = stages["sample_plan"], stages["selection"], stages["scope"]
    assert [p.name for p in stages["populations"]] == ["changes_interim", "changes_rollforward"]
    # 22 items allocated by days: interim 184 days, roll-forward 181 days -> 11 and 11
    assert plan.allocation == (("interim", 184, 11), ("roll-forward", 181, 11))
    assert selection.rounds == ("interim", "roll-forward") and [len(p.keys) for p in selection.parts] == [11, 11]
    raw = {r["Issue key"]: r for r in raw_changes(SAMPLE_DATA / "acme-type2")}
    assert all(deployed(raw[k]) < dt.datetime(2026, 1, 1) for k in selection.parts[0].keys)
    assert all(deployed(raw[k]) >= dt.datetime(2026, 1, 1) for k in selection.parts[1].keys)
    assert len(scope) == 1467                                           # the rounds together: the whole period
    assert set(stages["evaluation"].exception_items) == CM01_EXCEPTIONS  # one conclusion covers both rounds
    # each round's selection is seeded from its own export
    assert selection.parts[0].seed != selection.parts[1].seed
    path = write_workpaper(type2_copy / "out", stages["test"])
    labels = [row[0] for row in openpyxl.load_workbook(path, read_only=True)["Population"].iter_rows(values_only=True)
              if row and row[0]]
    assert "Round interim: Source (as received from the client)" in labels
    assert "Round roll-forward: Source (as received from the client)" in labels


def test_a_gap_between_rounds_is_an_error(type2_copy):
    with_rounds(type2_copy, interim_end="2025-12-30")
    with pytest.raises(EngagementError, match="gap between round 'interim' \\(ends 2025-12-30\\) and round "
                                              "'roll-forward' \\(starts 2026-01-01\\): 1 day\\(s\\) of the period in "
                                              "no round"):
        load_engagement(type2_copy)


# ---- Type 1 -------------------------------------------------------------------------------------------------

def test_type1_summary_holds_no_test_results(demo_type1_run):
    rows = demo_type1_run["rows"]
    for control_id in ("CM-01", "CM-02"):
        row = rows[control_id]
        assert row["deviations"] is None and row["result_text"] is None and row["exceptions_distinct"] is None
    book = openpyxl.load_workbook(demo_type1_run["out"] / "summary.xlsx", read_only=True)
    texts = [row[0] for row in book["Summary"].iter_rows(values_only=True) if row and row[0]]
    assert "Type 1 report: design and implementation as of a date; no results of tests are reported." in texts


def test_type1_conclusion_reads_suitably_designed_and_implemented_as_of_the_date(tmp_path):
    folder = copy_engagement(SAMPLE_DATA / "acme-type1", tmp_path / "acme-type1")
    engagement = load_engagement(folder)
    stages = run_stages(folder, "CM-02")
    key = stages["selection"].keys[0]
    with ResultsStore.open(engagement) as store:
        store.record("CM-02", key, "testing_evidenced", "pass", tested_by="DR", evidence_ref=f"CI {key}",
                     evidence_date="2026-07-20")
    record_walkthrough(engagement, "CM-02", by="DR", instance=key, inquiry_of="Priya Shah", inquiry_date="2026-07-15",
                       inspected="the CI run linked on the ticket", observed="a deployment gated on CI",
                       design="suitably designed")
    stages = run_stages(folder, "CM-02")
    assert stages["evaluation"].status == "suitably_designed_and_implemented"
    assert stages["evaluation"].result_text == ""
    path = write_workpaper(folder / "out", stages["test"])
    lead = {row[0]: row[1] for row in openpyxl.load_workbook(path, read_only=True)["Lead"].iter_rows(values_only=True)
            if row and row[0]}
    assert lead["Section 4"] == ("A Type 1 report gives no results of tests: the control is reported as suitably "
                                 "designed and implemented as of 2026-06-30.")


def test_type1_population_sheet_says_the_export_covers_less_than_the_window(demo_type1_run):
    book = openpyxl.load_workbook(demo_type1_run["out"] / "CM-01.xlsx", read_only=True)
    rows = {row[0]: row[1] for row in book["Population"].iter_rows(values_only=True) if row and row[0]}
    # the Type 1 change export holds deployments from 2026-06-01 (sample_data/README.md), the window is 90 days
    assert rows["Export covers"] == ("the export holds records from 2026-06-01 only: it covers 30 of the 90 days of "
                                     "the window used to choose the as-of instance")


def test_summary_reads_back(demo_run):
    assert {row["control_id"] for row in read_summary(demo_run["out"] / "summary.xlsx")} >= {"CM-01", "CM-02"}
