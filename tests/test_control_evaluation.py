"""Control evaluation (workbench.evaluation): proposed conclusion, Section 4 result text, statistics, exceptions.

Rules (issue "Conclusions a reviewer would sign"): the result states the distinct count of items with a
deviation out of what was tested, census first, and never opens with "No exceptions noted" when anything
deviated; known deviations are evaluated one by one, never compared with the tolerable rate; the sample's
upper limit covers only what only the sample tested (manual attributes); the control reads "exceptions noted,
evaluation pending" until every exception carries its evaluation, and "testing in progress" until the manual
results and the walkthrough are recorded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from test_testing import changes
from test_testing import make_engagement as make_test_engagement

import sampling
from conftest import (agree_to_source, as_selection, chosen_seed, copy_engagement, raw_changes, raw_in_scope,
                      record_walkthrough_of, run_stages, scope_of)
from workbench.evaluation import NO_INSTANCE_KEY, NOT_OCCURRING_TEXT, evaluate_control
from workbench.judgements import evaluate_exception
from workbench.procedures import get_procedure
from workbench.results import ResultsStore
from workbench.sample import plan_sample, select_sample
from workbench.testing import test_attributes

TZ = "America/New_York"
PROCEDURE = get_procedure("change_management")

#: CM-01 and CM-02 share one sample (same population, no record filter); CM-W, a weekly review that tests an
#: automated and a manual attribute, has a sample of its own (Shared sample = no) sized by the frequency table;
#: CM-03 tests every attribute on a sample of its own.
CONTROLS = [
    "CM-01,Changes are approved by someone other than the author before deployment,CC8.1;CC6.1,Ops,as_needed,manual,"
    "change_management,changes,ticket_before_deployment;approved_before_deployment;approver_not_author,",
    "CM-02,Changes are tested before deployment,CC8.1,Ops,as_needed,manual,change_management,changes,"
    "testing_evidenced,",
    "CM-W,Weekly change review,CC8.1,Ops,weekly,manual,change_management,changes,"
    "approved_before_deployment;testing_evidenced,no",
    "CM-03,Changes are approved and tested,CC8.1,Ops,as_needed,manual,change_management,changes,,no",
]
#: Section 4 wording of each change-management attribute (workbench/procedures/change_management.py).
WORDING = {
    "ticket_before_deployment": "the change was not documented in a ticket before deployment",
    "approved_before_deployment": "approval was not documented before deployment",
    "approver_not_author": "the change was not approved by someone other than its author",
    "testing_evidenced": "testing before deployment was not evidenced",
}
CM01_TEST = ("Compared the ticket creation time of each change with its deployment time, the approval time of each "
             "change with its deployment time and the approver of each change with its author for all {count} "
             "production changes deployed during the period (full-population analysis). Inspected the change "
             "ticket for a sample of 22 of them to determine that the exported change data agreed with the ticket "
             "history and deployment record.")
PENDING_EVALUATION = ("evaluate {count} (type, isolated or systematic and why, root cause, compensating "
                      "control, effect on the criteria, management's response)")


def make_engagement(folder: Path, *, report_type: str = "type2"):
    return make_test_engagement(folder, report_type=report_type, controls=CONTROLS, engagement_id="TEST-EVAL")


@pytest.fixture
def engagement(tmp_path):
    return make_engagement(tmp_path / "eng")


def run(engagement, control_id: str, frame: pd.DataFrame, *, keys: list[str] | None = None,
        seed: int | None = None):
    """Every stage for one control; ``keys`` forces the selection (drawn through sampling.select), ``seed``
    chooses the seed (else the derived one)."""
    control = engagement.control(control_id)
    scope = scope_of(frame, engagement, control_id)
    plan = plan_sample(engagement, control, scope)
    if keys is None:
        selection = select_sample(engagement, control, scope, plan,
                                  decisions=None if seed is None else chosen_seed(seed))
    else:
        selection = as_selection(sampling.select(keys, len(keys), seed=7, method="random"))
    testing = test_attributes(PROCEDURE, control, scope, selection, engagement)
    return plan, selection, testing, evaluate_control(engagement, control, plan, selection, testing)


def walk_and_agree(engagement, control_id: str, keys) -> None:
    """What a preparer records before concluding: the walkthrough, and each sampled item agreed to source."""
    record_walkthrough_of(engagement, control_id)
    agree_to_source(engagement, control_id, keys)


def evaluate(engagement, control_id: str, item: str, extent: str = "isolated", type_: str = "operating"):
    return evaluate_exception(engagement, control_id, item, by="DR", type=type_, extent=extent,
                              why="one release on a holiday weekend; no other change by this team" if
                              extent == "isolated" else "the same team skipped the step all quarter",
                              root_cause="the release manager was on leave",
                              effect_on_criteria="CC8.1 still met: the change was reviewed after deployment"
                              if extent == "isolated" else "CC8.1 not met for these changes",
                              management_response="Deputies now approve when the release manager is away.")


def clean_keys(frame: pd.DataFrame, exclude: set[str], count: int) -> list[str]:
    return [k for k in frame["change_id"] if k not in exclude][:count]


# -- results -----------------------------------------------------------------------------------------

def test_no_exceptions(engagement):
    frame = changes(300)
    plan, selection, testing, evaluation = run(engagement, "CM-01", frame)
    # nothing recorded yet: the sample is not agreed to source and there is no walkthrough
    assert evaluation.status == "testing_in_progress"
    assert evaluation.result_text == "Testing in progress (0 of 22 items tested)."
    assert evaluation.pending == ("record the manual results: agreed to source for 22 items",
                                  "record the walkthrough of one instance and the design evaluation")
    assert not evaluation.final

    walk_and_agree(engagement, "CM-01", selection.keys)
    plan, selection, testing, evaluation = run(engagement, "CM-01", frame)
    assert evaluation.status == "no_exceptions_noted" and evaluation.final
    assert evaluation.status_text == "No exceptions noted"
    assert evaluation.result_text == "No exceptions noted."
    assert (evaluation.sample_size, evaluation.items_tested, evaluation.deviations) == (22, 22, 0)
    assert evaluation.population_count == 300 and evaluation.population_exceptions == 0
    assert evaluation.exception_items == () and evaluation.pending == ()
    assert evaluation.criteria == ("CC8.1", "CC6.1")
    # every attribute of CM-01 was computed for the full population: no sampling risk, no upper limit
    assert evaluation.evaluation is None and evaluation.upper_limit is None
    assert evaluation.supports_reliance is None
    assert evaluation.conclusion == "No deviation found by the full-population analysis or the sample."
    assert evaluation.census_relied_on is True and evaluation.accuracy_mismatches == 0
    assert evaluation.test_performed == CM01_TEST.format(count=300)
    assert evaluation.exceptions.empty


def test_deviations_in_the_sample_are_stated_as_the_distinct_count_of_what_was_tested(engagement):
    planted = {1005: {"approved_at": None}, 1010: {"approved_at": "2026-06-30 09:00"},
               1020: {"approver": "dev5", "author": "DEV5"}}
    frame = changes(100, planted)
    keys = ["CHG-1005", "CHG-1010", "CHG-1020"] + clean_keys(frame, {"CHG-1005", "CHG-1010", "CHG-1020"}, 19)
    walk_and_agree(engagement, "CM-01", keys)
    plan, selection, testing, evaluation = run(engagement, "CM-01", frame, keys=keys)
    # the automated attributes were tested over all 100 changes: that is the result, sampled or not
    assert evaluation.result_text == (
        "For 3 of 100 production changes deployed during the period, a deviation was noted: approval was not "
        "documented before deployment (2) and the change was not approved by someone other than its author (1).")
    assert evaluation.deviations == 3
    assert evaluation.deviations_by_attribute == (
        ("ticket_before_deployment", "Ticket before deployment", 0),
        ("approved_before_deployment", "Approved before deployment", 2),
        ("approver_not_author", "Approver not author", 1))
    assert evaluation.population_exceptions == 3 and evaluation.population_exceptions_outside_sample == 0
    assert evaluation.exception_items == ("CHG-1005", "CHG-1010", "CHG-1020")
    # known deviations are not compared with the tolerable rate: no statistics, each is evaluated
    assert evaluation.evaluation is None and evaluation.supports_reliance is None
    assert evaluation.status == "evaluation_pending"
    assert evaluation.status_text == "Exceptions noted, evaluation pending"
    assert evaluation.conclusion == (
        "3 items with a deviation (3 found by the full-population analysis of 100); 3 not evaluated yet. Known "
        "deviations are not compared with the tolerable rate: each is evaluated (type, isolated or systematic "
        "and why, root cause, compensating control, effect on the criteria) before the control is concluded.")
    assert evaluation.pending == (PENDING_EVALUATION.format(count="3 exceptions"),)
    table = evaluation.exceptions
    assert list(table.columns) == ["item", "sample_no", "item_date", "attribute_id", "attribute", "description",
                                   "reason", "evidence_ref", "found_by", "round"]
    assert table[["item", "attribute_id"]].values.tolist() == [
        ["CHG-1005", "approved_before_deployment"], ["CHG-1010", "approved_before_deployment"],
        ["CHG-1020", "approver_not_author"]]
    assert set(table["found_by"]) == {"full-population analysis"}
    assert table["sample_no"].tolist() == [selection.keys.index(k) + 1 for k in table["item"]]
    assert table.set_index("item").loc["CHG-1005", "reason"] == "no approval recorded"


def test_conclusion_waits_for_every_exception_to_be_evaluated(engagement):
    planted = {1005: {"approved_at": None}, 1040: {"approver": None}}
    frame = changes(80, planted)
    _, selection, _, _ = run(engagement, "CM-01", frame)
    walk_and_agree(engagement, "CM-01", selection.keys)
    evaluate(engagement, "CM-01", "CHG-1005")
    _, _, _, evaluation = run(engagement, "CM-01", frame)
    assert evaluation.status == "evaluation_pending"
    assert (tuple(evaluation.evaluations), evaluation.unevaluated) == (("CHG-1005",), ("CHG-1040",))
    assert evaluation.pending == (PENDING_EVALUATION.format(count="1 exception"),)
    evaluated = evaluation.evaluations["CHG-1005"]
    assert (evaluated.type, evaluated.extent, evaluated.by) == ("operating", "isolated", "DR")

    evaluate(engagement, "CM-01", "CHG-1040")
    _, _, _, evaluation = run(engagement, "CM-01", frame)
    assert evaluation.status == "exceptions_noted" and evaluation.final
    assert evaluation.conclusion == ("2 exceptions, each evaluated as isolated: the control still meets its "
                                     "objective.")
    assert evaluation.result_text == (
        "For 2 of 80 production changes deployed during the period, a deviation was noted: approval was not "
        "documented before deployment (1) and the change was not approved by someone other than its author (1).")

    evaluate(engagement, "CM-01", "CHG-1040", extent="systematic")
    _, _, _, evaluation = run(engagement, "CM-01", frame)
    assert evaluation.status == "not_operating_effectively"
    assert evaluation.conclusion == ("1 exception evaluated as systematic or of design type: the control did not "
                                     "meet its objective.")


def test_full_population_sentence_names_exceptions_outside_the_sample(engagement):
    planted = {1005: {"approved_at": None}, 1040: {"approved_at": "2026-06-30 09:00"},
               1050: {"approver": None}}
    frame = changes(80, planted)
    keys = ["CHG-1005"] + clean_keys(frame, {"CHG-1005", "CHG-1040", "CHG-1050"}, 21)
    _, _, _, evaluation = run(engagement, "CM-01", frame, keys=keys)
    result = ("For 3 of 80 production changes deployed during the period, a deviation was noted: approval was "
              "not documented before deployment (2) and the change was not approved by someone other than its "
              "author (1).")
    # before the sample is agreed to source, the census exceptions are shown as found so far
    assert evaluation.status == "testing_in_progress"
    assert evaluation.result_text == "Testing in progress (0 of 22 items tested). Exceptions noted so far: " + result
    walk_and_agree(engagement, "CM-01", keys)
    _, _, _, evaluation = run(engagement, "CM-01", frame, keys=keys)
    assert evaluation.status == "evaluation_pending"
    assert evaluation.result_text == result
    assert (evaluation.population_exceptions, evaluation.population_exceptions_outside_sample) == (3, 2)
    assert evaluation.deviations == 1
    table = evaluation.exceptions
    assert table[["item", "found_by"]].values.tolist() == [
        ["CHG-1005", "full-population analysis"], ["CHG-1040", "full-population analysis"],
        ["CHG-1050", "full-population analysis"]]
    assert table["sample_no"].isna().tolist() == [False, True, True]


def test_population_exceptions_alone_are_not_no_exceptions(engagement):
    planted = {number: {"approver": "DEV1", "author": "dev1"} for number in range(1031, 1043)}
    frame = changes(60, planted)
    keys = clean_keys(frame, {f"CHG-{n}" for n in planted}, 22)
    walk_and_agree(engagement, "CM-01", keys)
    _, _, _, evaluation = run(engagement, "CM-01", frame, keys=keys)
    assert evaluation.status == "evaluation_pending"
    assert evaluation.deviations == 0
    assert evaluation.result_text == ("For 12 of 60 production changes deployed during the period, the change was "
                                      "not approved by someone other than its author.")
    assert not evaluation.result_text.startswith("No exceptions noted")
    # every id is kept (the Exceptions sheet lists them all); only the console cuts the list
    ids = tuple(f"CHG-{n}" for n in range(1031, 1043))
    assert evaluation.exception_items == ids and evaluation.unevaluated == ids
    assert len(evaluation.exceptions) == 12
    assert evaluation.to_record()["exception_items"] == list(ids)
    assert ("  items with a deviation: " + ", ".join(ids[:10]) + " and 2 more (Exceptions sheet)"
            in evaluation.summary().splitlines())


def test_untested_manual_attribute_is_in_progress_never_no_exceptions(engagement):
    frame = changes(200)
    plan, selection, testing, evaluation = run(engagement, "CM-02", frame)
    assert evaluation.status == "testing_in_progress"
    assert evaluation.result_text == "Testing in progress (0 of 22 items tested)."
    assert evaluation.evaluation is None and evaluation.supports_reliance is None
    assert evaluation.conclusion == ("No conclusion yet: manual results are not all recorded and the walkthrough "
                                     "and design evaluation are not recorded.")
    assert evaluation.pending == ("record the manual results: testing evidenced for 22 items",
                                  "record the walkthrough of one instance and the design evaluation")
    assert evaluation.test_performed == (
        "Inspected the change ticket for a sample of 22 production changes deployed during the period to "
        "determine that testing was evidenced before deployment.")

    keys = list(selection.keys)
    with ResultsStore.open(engagement) as store:
        store.record("CM-02", keys[0], "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-1")
        store.record("CM-02", keys[1], "testing_evidenced", "n/a", tested_by="DR", comment="config only")
        store.record("CM-02", keys[2], "testing_evidenced", "fail", tested_by="DR", evidence_ref="EV-3",
                     comment="no CI run")
    _, _, _, evaluation = run(engagement, "CM-02", frame)
    assert evaluation.status == "testing_in_progress"
    assert evaluation.result_text == (
        "Testing in progress (3 of 22 items tested). Exceptions noted so far: For 1 of 22 sampled changes, "
        "testing before deployment was not evidenced.")

    with ResultsStore.open(engagement) as store:
        for key in keys[3:]:
            store.record("CM-02", key, "testing_evidenced", "pass", tested_by="DR", evidence_ref=f"EV-{key}")
    record_walkthrough_of(engagement, "CM-02")
    _, _, _, evaluation = run(engagement, "CM-02", frame)
    assert evaluation.status == "evaluation_pending"
    assert evaluation.result_text == "For 1 of 22 sampled changes, testing before deployment was not evidenced."
    assert evaluation.exceptions[["item", "reason", "found_by"]].values.tolist() == [[keys[2], "no CI run", "sample"]]
    # testing was tested by the sample only: its statistics apply (1 deviation in 22 exceeds what 22 items
    # with none would support at 10 %)
    assert evaluation.evaluation is not None and evaluation.supports_reliance is False
    evaluate(engagement, "CM-02", keys[2])
    _, _, _, evaluation = run(engagement, "CM-02", frame)
    assert evaluation.status == "not_operating_effectively"
    assert evaluation.conclusion == (f"{evaluation.evaluation.conclusion} What only the sample tested does not "
                                     f"support reliance.")


def test_all_manual_results_pass_reads_no_exceptions(engagement):
    frame = changes(50)
    _, selection, _, _ = run(engagement, "CM-02", frame)
    with ResultsStore.open(engagement) as store:
        for key in selection.keys:
            store.record("CM-02", key, "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV")
    record_walkthrough_of(engagement, "CM-02")
    _, _, _, evaluation = run(engagement, "CM-02", frame)
    assert (evaluation.status, evaluation.result_text, evaluation.items_tested) == (
        "no_exceptions_noted", "No exceptions noted.", 22)
    # Clopper-Pearson with k = 0 has the closed form 1 - (1 - confidence)^(1/n) (AICPA Table A-3 row n = 22: 10.0 %)
    assert evaluation.upper_limit == pytest.approx(1 - 0.10 ** (1 / 22), rel=1e-12)
    assert evaluation.evaluation.table_upper_limit == pytest.approx(0.100)
    assert evaluation.supports_reliance is True
    assert evaluation.conclusion == ("No deviation found by the full-population analysis or the sample. "
                                     + evaluation.evaluation.conclusion)


def test_periodic_control_with_no_instance_did_not_operate(engagement):
    # workflow.md 1.9: for a periodic control a missing instance is a deviation, never "not occurring"
    _, selection, _, evaluation = run(engagement, "CM-W", changes(0))
    assert selection.keys == ()
    assert evaluation.status == "evaluation_pending"
    assert evaluation.result_text == ("No changes were found for the period, although the control is performed "
                                      "weekly: the control did not operate as described.")
    assert evaluation.exception_items == (NO_INSTANCE_KEY,) == ("(no instance in the period)",)
    assert evaluation.exceptions[["item", "found_by", "description"]].values.tolist() == [
        [NO_INSTANCE_KEY, "population", "the control did not operate in the period"]]
    evaluate(engagement, "CM-W", NO_INSTANCE_KEY, extent="systematic")
    _, _, _, evaluation = run(engagement, "CM-W", changes(0))
    assert evaluation.status == "not_operating_effectively"


def test_not_occurring(engagement):
    _, selection, _, evaluation = run(engagement, "CM-01", changes(0))
    assert selection.keys == ()
    assert evaluation.status == "not_occurring" and evaluation.final
    assert evaluation.result_text == NOT_OCCURRING_TEXT
    assert (evaluation.sample_size, evaluation.deviations, evaluation.population_count) == (0, 0, 0)
    assert evaluation.pending == ()
    assert evaluation.test_performed == ("Inspected the population of production changes deployed during the "
                                         "period to determine whether the control operated; no changes occurred.")


def test_frequency_plan_shows_achieved_confidence_not_a_statistical_conclusion(engagement):
    frame = changes(52)
    _, selection, _, evaluation = run(engagement, "CM-W", frame)
    assert (evaluation.plan_kind, evaluation.statistical, evaluation.sample_size) == ("frequency", False, 5)
    with ResultsStore.open(engagement) as store:
        for key in selection.keys:
            store.record("CM-W", key, "testing_evidenced", "pass", tested_by="DR", evidence_ref=f"EV-{key}")
    walk_and_agree(engagement, "CM-W", selection.keys)
    _, _, _, evaluation = run(engagement, "CM-W", frame)
    assert evaluation.status == "no_exceptions_noted"
    assert evaluation.evaluation is None and evaluation.upper_limit is None
    assert evaluation.conclusion.startswith(
        "No deviation found by the full-population analysis or the sample. Non-statistical sample from the "
        "firm's frequency table: 0 deviation(s) in 5 items. The size is judgemental, so no statistical upper "
        "limit is concluded; with no deviation it gives ")


def test_every_item_tested_has_no_sampling_risk(engagement):
    frame = changes(3)
    _, selection, _, _ = run(engagement, "CM-W", frame)
    with ResultsStore.open(engagement) as store:
        for key in selection.keys:
            failed = key == "CHG-1002"
            store.record("CM-W", key, "testing_evidenced", "fail" if failed else "pass", tested_by="DR",
                         evidence_ref=f"EV-{key}", comment="no test evidence" if failed else None)
    walk_and_agree(engagement, "CM-W", selection.keys)
    _, _, _, evaluation = run(engagement, "CM-W", frame)
    assert evaluation.test_all
    assert evaluation.result_text == "For 1 of 3 changes tested, testing before deployment was not evidenced."
    assert evaluation.upper_limit == pytest.approx(1 / 3)
    assert evaluation.supports_reliance is None
    assert evaluation.status == "evaluation_pending"
    evaluate(engagement, "CM-W", "CHG-1002")
    _, _, _, evaluation = run(engagement, "CM-W", frame)
    assert evaluation.status == "exceptions_noted"
    assert evaluation.conclusion == ("1 exception, evaluated as isolated: the control still meets its "
                                     "objective. Every item in scope was tested (3), so there is no sampling risk: "
                                     "1 deviation(s).")
    assert evaluation.test_performed == (
        "Compared the approval time of each change with its deployment time for all 3 production changes deployed "
        "during the period (full-population analysis). Inspected the change ticket for each of them to determine "
        "that testing was evidenced before deployment and the exported change data agreed with the ticket history "
        "and deployment record.")


def test_census_deviation_in_the_sample_is_not_counted_in_the_sample_statistics(engagement):
    # CM-03 tests approval (computed for every change) and testing (by the sample only). A census exception that
    # happens to be sampled is a known deviation, evaluated one by one, never compared with the tolerable rate;
    # the sample's statistics cover what only the sample tested: testing, no deviation in 22 items.
    frame = changes(100, {1005: {"approved_at": None}})
    keys = ["CHG-1005"] + clean_keys(frame, {"CHG-1005"}, 21)
    with ResultsStore.open(engagement) as store:
        for key in keys:
            store.record("CM-03", key, "testing_evidenced", "pass", tested_by="DR", evidence_ref=f"EV-{key}")
    walk_and_agree(engagement, "CM-03", keys)
    evaluate(engagement, "CM-03", "CHG-1005")
    _, _, testing, evaluation = run(engagement, "CM-03", frame, keys=keys)
    assert testing.deviations_by_attribute()["testing_evidenced"] == 0
    assert evaluation.result_text == ("For 1 of 100 production changes deployed during the period, approval was "
                                      "not documented before deployment.")
    # Clopper-Pearson, k = 0 of n = 22: 1 - 0.10^(1/22) (AICPA Table A-3: 10.0 %)
    assert evaluation.upper_limit == pytest.approx(1 - 0.10 ** (1 / 22), rel=1e-12)
    assert evaluation.supports_reliance is True
    assert evaluation.status == "exceptions_noted"


def test_type1_walkthrough(tmp_path):
    engagement = make_engagement(tmp_path / "t1", report_type="type1")
    frame = changes(1, {1001: {"approved_at": None}})
    plan, selection, _, evaluation = run(engagement, "CM-01", frame)
    assert evaluation.plan_kind == "type1" and selection.rounds == ("as of",)
    assert evaluation.result_text == ""   # a Type 1 report gives no results of tests
    assert evaluation.test_performed == (
        "Compared the ticket creation time of each change with its deployment time, the approval time of each "
        "change with its deployment time and the approver of each change with its author for the one production "
        "change deployed on or before 2026-06-30 (full-population analysis). Inspected the change ticket for one "
        "production change deployed on or before 2026-06-30 (walkthrough) to determine that the exported change "
        "data agreed with the ticket history and deployment record.")
    assert evaluation.status == "testing_in_progress"
    walk_and_agree(engagement, "CM-01", selection.keys)
    _, _, _, evaluation = run(engagement, "CM-01", frame)
    # a clean walkthrough never confirms what the population data contradicts
    assert evaluation.status == "evaluation_pending" and evaluation.result_text == ""
    assert evaluation.exception_items == ("CHG-1001",)
    evaluate(engagement, "CM-01", "CHG-1001", extent="systematic")
    _, _, _, evaluation = run(engagement, "CM-01", frame)
    assert evaluation.status == "not_implemented" and evaluation.status_text == "Not implemented"
    assert evaluation.conclusion == ("1 exception evaluated as systematic: the control is not implemented as "
                                     "described.")
    evaluate(engagement, "CM-01", "CHG-1001")
    _, _, _, evaluation = run(engagement, "CM-01", frame)
    assert evaluation.status == "suitably_designed_and_implemented" and evaluation.result_text == ""
    assert evaluation.conclusion == ("The walkthrough found the control suitably designed and implemented as of "
                                     "2026-06-30; the 1 exception in the window was evaluated as isolated.")
    record_walkthrough_of(engagement, "CM-01", design="not suitably designed")
    _, _, _, evaluation = run(engagement, "CM-01", frame)
    assert evaluation.status == "not_suitably_designed"


def test_to_record_is_json_safe_and_complete(engagement):
    planted = {1005: {"approved_at": None}, 1040: {"approver": None}}
    frame = changes(80, planted)
    keys = ["CHG-1005"] + clean_keys(frame, set(), 30)[5:26]
    walk_and_agree(engagement, "CM-01", keys)
    _, _, _, evaluation = run(engagement, "CM-01", frame, keys=keys)
    record = json.loads(json.dumps(evaluation.to_record(), allow_nan=False))
    for key in ("control_id", "criteria", "test_performed", "sample_size", "deviations", "result_text", "status",
                "status_text", "population_count", "exceptions_distinct", "exception_items", "unevaluated",
                "pending", "census_relied_on"):
        assert key in record
    assert record["control_id"] == "CM-01" and record["criteria"] == ["CC8.1", "CC6.1"]
    assert (record["sample_size"], record["deviations"], record["status"]) == (22, 1, "evaluation_pending")
    assert record["status_text"] == "Exceptions noted, evaluation pending"
    assert (record["exceptions_distinct"], record["exception_items"], record["unevaluated"]) == (
        2, ["CHG-1005", "CHG-1040"], ["CHG-1005", "CHG-1040"])
    assert record["deviations_by_attribute"] == {"ticket_before_deployment": 0, "approved_before_deployment": 1,
                                                 "approver_not_author": 0}
    assert [e["item"] for e in record["exceptions"]] == ["CHG-1005", "CHG-1040"]
    assert record["exceptions"][1]["sample_no"] is None
    assert record["exceptions"][0]["item_date"].startswith("2025-")
    assert record["upper_limit"] is None and record["census_relied_on"] is True
    lines = evaluation.summary().splitlines()
    assert lines[0] == "CM-01 (CC8.1, CC6.1) [Exceptions noted, evaluation pending]"
    assert lines[1] == ("  For 2 of 80 production changes deployed during the period, a deviation was noted: "
                        "approval was not documented before deployment (1) and the change was not approved by "
                        "someone other than its author (1).")
    assert dict(evaluation.to_table())["Sample size"] == "22"
    assert dict(evaluation.to_table())["Exceptions evaluated"] == "0 of 2"


def test_source_mismatch_is_a_population_finding_not_a_deviation(engagement):
    frame = changes(60)
    _, selection, _, _ = run(engagement, "CM-01", frame)
    record_walkthrough_of(engagement, "CM-01")
    mismatched = selection.keys[6]
    agree_to_source(engagement, "CM-01", selection.keys,
                    failing={mismatched: "the ticket history shows approval a day later than the export"})
    _, _, testing, evaluation = run(engagement, "CM-01", frame)
    assert (evaluation.deviations, evaluation.exception_items) == (0, ())
    assert (evaluation.census_relied_on, evaluation.accuracy_mismatches) == (False, 1)
    assert evaluation.status == "population_not_relied_on"
    assert evaluation.status_text == "Population data not relied on"
    assert evaluation.result_text == ("For 1 of 22 sampled changes, the data used in the full-population analysis "
                                      "did not agree with the source system, so that analysis was not relied on.")
    assert dict(evaluation.to_table())["Population data relied on"] == ("no: 1 sampled item did not agree to "
                                                                         "the source")


def test_selection_and_testing_must_match(engagement):
    frame = changes(100)
    control = engagement.control("CM-01")
    scope = scope_of(frame, engagement, "CM-01")
    plan = plan_sample(engagement, control, scope)
    selection = select_sample(engagement, control, scope, plan, decisions=chosen_seed(1))
    other = select_sample(engagement, control, scope, plan, decisions=chosen_seed(2))
    assert selection.keys != other.keys
    testing = test_attributes(PROCEDURE, control, scope, selection, engagement)
    with pytest.raises(ValueError, match="the selection and the testing results hold different items"):
        evaluate_control(engagement, control, plan, other, testing)


# -- the demo engagements (sample_data; planted exceptions listed in sample_data/README.md) -------------

#: The change-management exceptions planted in acme-type2 (sample_data/README.md), per attribute.
README_PLANTED = {
    "ticket_before_deployment": {"CHG-2151", "CHG-2359"},
    "approved_before_deployment": {"CHG-1458", "CHG-1496", "CHG-1597", "CHG-1705", "CHG-2060", "CHG-2151",
                                   "CHG-2207", "CHG-2319", "CHG-2359", "CHG-2536", "CHG-2538"},
    "approver_not_author": {"CHG-1153", "CHG-2220", "CHG-2319", "CHG-2411"},
}
#: The emergency changes among them: CM-03 tests those, CM-01 (record filter: standard, normal) does not.
EMERGENCY = {"CHG-1705", "CHG-2060", "CHG-2538"}
#: What CM-01 finds over its 1,467 standard and normal changes.
DEMO_PLANTED = {attribute: ids - EMERGENCY for attribute, ids in README_PLANTED.items()}


def test_demo_type2_full_population_finds_exactly_the_planted_changes(demo_type2):
    raw = {c["key"]: c["type"] for c in raw_changes(demo_type2)}
    assert {k for ids in README_PLANTED.values() for k in ids if raw[k] == "Emergency"} == EMERGENCY
    stages = run_stages(demo_type2, "CM-01")
    plan, selection, testing, evaluation = (stages["sample_plan"], stages["selection"], stages["testing"],
                                            stages["evaluation"])
    # CM-01 tests the standard and normal changes deployed in the period, read here from the raw export
    in_scope = raw_in_scope(demo_type2, "2025-07-01", "2026-06-30")
    assert len(in_scope) == 1467
    assert set(stages["scope"].frame["change_id"]) == in_scope
    assert not EMERGENCY & set(stages["scope"].frame["change_id"])
    found: dict[str, set[str]] = {}
    for row in testing.full_population_exceptions.itertuples():
        found.setdefault(row.attribute_id, set()).add(row.item_key)
    assert found == DEMO_PLANTED
    assert (plan.sample_size, plan.method, evaluation.population_count) == (22, "stratified", 1467)
    planted_any = set().union(*DEMO_PLANTED.values())
    assert evaluation.population_exceptions == len(planted_any) == evaluation.distinct_exceptions == 11
    assert set(evaluation.exception_items) == planted_any
    in_sample = planted_any & set(selection.keys)
    assert evaluation.deviations == len(in_sample)
    assert evaluation.population_exceptions_outside_sample == 11 - len(in_sample)
    overlap = {k for k in planted_any if sum(k in ids for ids in DEMO_PLANTED.values()) > 1}
    assert overlap == {"CHG-2151", "CHG-2359", "CHG-2319"}
    result = (
        f"For {len(planted_any)} of 1,467 standard and normal changes deployed during the period, a deviation was "
        f"noted: {WORDING['ticket_before_deployment']} ({len(DEMO_PLANTED['ticket_before_deployment'])}), "
        f"{WORDING['approved_before_deployment']} ({len(DEMO_PLANTED['approved_before_deployment'])}) and "
        f"{WORDING['approver_not_author']} ({len(DEMO_PLANTED['approver_not_author'])}); {len(overlap)} of them "
        f"had more than one of these deviations.")
    assert result == (
        "For 11 of 1,467 standard and normal changes deployed during the period, a deviation was noted: the change "
        "was not documented in a ticket before deployment (2), approval was not documented before deployment (8) "
        "and the change was not approved by someone other than its author (4); 3 of them had more than one of "
        "these deviations.")
    # nothing recorded in the demo: the sample is not agreed to source yet, so testing is in progress
    assert evaluation.status == "testing_in_progress"
    assert evaluation.result_text == f"Testing in progress (0 of 22 items tested). Exceptions noted so far: {result}"
    assert set(evaluation.exceptions["item"]) == planted_any
    # CM-02 tests the same standard and normal changes: one shared selection
    cm02 = run_stages(demo_type2, "CM-02")
    assert cm02["selection"].keys == selection.keys
    assert (plan.sample_id, plan.shared_with, cm02["sample_plan"].shared_with) == (
        "changes[change_type in standard, normal]", ("CM-02",), ("CM-01",))


def test_demo_type2_testing_control_reads_in_progress(type2_copy):
    stages = run_stages(type2_copy, "CM-02")
    selection, evaluation = stages["selection"], stages["evaluation"]
    assert evaluation.status == "testing_in_progress"
    assert evaluation.result_text == "Testing in progress (0 of 22 items tested)."
    with ResultsStore.open(type2_copy) as store:
        for number, key in enumerate(selection.keys):
            outcome = "fail" if number == 4 else "pass"
            store.record("CM-02", key, "testing_evidenced", outcome, tested_by="DR", evidence_ref=f"CI-{key}",
                         comment="no test evidence before deploy" if outcome == "fail" else None)
    record_walkthrough_of(stages["engagement"], "CM-02", instance=selection.keys[0])
    evaluation = run_stages(type2_copy, "CM-02")["evaluation"]
    assert evaluation.status == "evaluation_pending"
    assert evaluation.result_text == "For 1 of 22 sampled changes, testing before deployment was not evidenced."
    assert evaluation.exceptions["item"].tolist() == [selection.keys[4]]


def test_demo_type1_walkthrough_and_analytics(tmp_path, demo_type1):
    folder = copy_engagement(demo_type1, tmp_path / "acme-type1")
    stages = run_stages(folder, "CM-01")
    plan, selection, testing, evaluation = (stages["sample_plan"], stages["selection"], stages["testing"],
                                            stages["evaluation"])
    assert (plan.kind, len(selection.keys)) == ("type1", 1)
    # as of 2026-06-30 with a 90-day look-back, standard and normal changes only: CHG-2538 is an emergency change
    in_window = raw_in_scope(folder, "2026-04-02", "2026-06-30")
    assert set(stages["scope"].frame["change_id"]) == in_window
    assert set(testing.full_population_exceptions["item_key"]) == {"CHG-2536"}
    assert evaluation.plan_kind == "type1" and evaluation.result_text == ""
    record_walkthrough_of(stages["engagement"], "CM-01", instance=selection.keys[0])
    agree_to_source(stages["engagement"], "CM-01", selection.keys)
    evaluation = run_stages(folder, "CM-01")["evaluation"]
    # CHG-2536 was deployed before approval (sample_data/README.md): a clean walkthrough instance cannot
    # confirm design and implementation while the data contradicts it
    assert evaluation.status == "evaluation_pending"
    assert evaluation.exception_items == ("CHG-2536",)
    assert evaluation.conclusion.startswith(f"1 item with a deviation (1 found by the full-population analysis "
                                            f"of {len(in_window):,}); 1 not evaluated yet.")
