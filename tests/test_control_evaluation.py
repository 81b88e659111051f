"""Control evaluation (workbench.evaluation): status, Section 4 result text, statistics, exceptions."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from test_testing import changes
from test_testing import make_engagement as make_test_engagement

import sampling
from conftest import as_scoped
from workbench.engagement import load_engagement
from workbench.evaluation import NOT_OCCURRING_TEXT, evaluate_control
from workbench.procedures import get_procedure
from workbench.results import ResultsStore
from workbench.sample import plan_sample, select_sample
from workbench.testing import test_attributes

TZ = "America/New_York"
PROCEDURE = get_procedure("change_management")

CONTROLS = [
    "CM-01,Changes are approved by someone other than the author before deployment,CC8.1;CC6.1,Ops,as_needed,manual,"
    "change_management,changes,ticket_before_deployment;approved_before_deployment;approver_not_author",
    "CM-02,Changes are tested before deployment,CC8.1,Ops,as_needed,manual,change_management,changes,testing_evidenced",
    "CM-W,Weekly change review,CC8.1,Ops,weekly,manual,change_management,changes,approved_before_deployment",
]


def make_engagement(folder: Path, *, report_type: str = "type2"):
    return make_test_engagement(folder, report_type=report_type, controls=CONTROLS, engagement_id="TEST-EVAL")


@pytest.fixture
def engagement(tmp_path):
    return make_engagement(tmp_path / "eng")


def run(engagement, control_id: str, frame: pd.DataFrame, *, keys: list[str] | None = None, seed: int = 7):
    """Every stage for one control; ``keys`` forces the selection (drawn through sampling.select)."""
    control = engagement.control(control_id)
    plan = plan_sample(engagement, control, as_scoped(frame))
    if keys is None:
        selection = select_sample(as_scoped(frame), plan, seed=seed)
    else:
        selection = sampling.select(keys, len(keys), seed=seed, method="random")
    testing = test_attributes(PROCEDURE, control, as_scoped(frame), selection, engagement)
    return plan, selection, testing, evaluate_control(engagement, control, plan, selection, testing)


def clean_keys(frame: pd.DataFrame, exclude: set[str], count: int) -> list[str]:
    return [k for k in frame["change_id"] if k not in exclude][:count]


# -- results -----------------------------------------------------------------------------------------

def test_no_exceptions(engagement):
    frame = changes(300)
    plan, selection, testing, evaluation = run(engagement, "CM-01", frame)
    assert evaluation.status == "no_exceptions"
    assert evaluation.result_text == "No exceptions noted."
    assert (evaluation.sample_size, evaluation.items_tested, evaluation.deviations) == (22, 22, 0)
    assert evaluation.population_count == 300 and evaluation.population_exceptions == 0
    assert evaluation.criteria == ("CC8.1", "CC6.1")
    # Clopper-Pearson with k = 0 has the closed form 1 - (1 - confidence)^(1/n) (AICPA Table A-3 row n = 22: 10.0 %)
    assert evaluation.upper_limit == pytest.approx(1 - 0.10 ** (1 / 22), rel=1e-12)
    assert evaluation.evaluation.table_upper_limit == pytest.approx(0.100)
    assert evaluation.supports_reliance is True
    assert evaluation.conclusion == evaluation.evaluation.conclusion
    assert evaluation.test_performed == (
        "Inspected the change ticket for a sample of 22 production changes deployed during the period to "
        "determine that the change was documented in a ticket before deployment, approval was documented before "
        "deployment and the approver was someone other than the change's author. Recomputed the attributes "
        "ticket before deployment, approved before deployment and approver not author for all 300 changes in "
        "scope (full-population analysis).")
    assert evaluation.exceptions.empty


def test_sample_deviations_read_as_section4_sentences(engagement):
    planted = {1005: {"approved_at": None}, 1010: {"approved_at": "2026-06-30 09:00"},
               1020: {"approver": "dev5", "author": "DEV5"}}
    frame = changes(100, planted)
    keys = ["CHG-1005", "CHG-1010", "CHG-1020"] + clean_keys(frame, {"CHG-1005", "CHG-1010", "CHG-1020"}, 19)
    plan, selection, testing, evaluation = run(engagement, "CM-01", frame, keys=keys)
    assert evaluation.status == "exceptions"
    assert evaluation.result_text == (
        "For 2 of 22 sampled changes, approval was not documented before deployment. "
        "For 1 of 22 sampled changes, the change was not approved by someone other than its author.")
    assert evaluation.deviations == 3
    assert evaluation.deviations_by_attribute == (
        ("ticket_before_deployment", "Ticket before deployment", 0),
        ("approved_before_deployment", "Approved before deployment", 2),
        ("approver_not_author", "Approver not author", 1))
    assert evaluation.population_exceptions == 3 and evaluation.population_exceptions_outside_sample == 0
    assert evaluation.supports_reliance is False
    assert evaluation.conclusion.startswith("The upper deviation limit of ")
    table = evaluation.exceptions
    assert list(table.columns) == ["item", "sample_no", "item_date", "attribute_id", "attribute", "description",
                                   "reason", "evidence_ref", "found_by"]
    assert sorted(table["item"]) == ["CHG-1005", "CHG-1010", "CHG-1020"]
    assert set(table["found_by"]) == {"sample"}
    assert table.set_index("item").loc["CHG-1005", "reason"] == "no approval recorded"


def test_full_population_sentence_names_exceptions_outside_the_sample(engagement):
    planted = {1005: {"approved_at": None}, 1040: {"approved_at": "2026-06-30 09:00"},
               1050: {"approver": None}}
    frame = changes(80, planted)
    keys = ["CHG-1005"] + clean_keys(frame, {"CHG-1005", "CHG-1040", "CHG-1050"}, 21)
    _, _, _, evaluation = run(engagement, "CM-01", frame, keys=keys)
    assert evaluation.status == "exceptions"
    assert evaluation.result_text == (
        "For 1 of 22 sampled changes, approval was not documented before deployment. "
        "Full-population analysis of 80 changes: 2 deployed without approval documented before deployment "
        "(CHG-1005, CHG-1040); 1 without an approver independent of the author (CHG-1050).")
    assert (evaluation.population_exceptions, evaluation.population_exceptions_outside_sample) == (3, 2)
    table = evaluation.exceptions
    assert table[["item", "found_by"]].values.tolist() == [
        ["CHG-1005", "sample"], ["CHG-1040", "full-population analysis"], ["CHG-1050", "full-population analysis"]]
    assert table["sample_no"].isna().tolist() == [False, True, True]


def test_population_exceptions_alone_are_not_no_exceptions(engagement):
    planted = {number: {"approver": "DEV1", "author": "dev1"} for number in range(1031, 1043)}
    frame = changes(60, planted)
    keys = clean_keys(frame, {f"CHG-{n}" for n in planted}, 22)
    _, _, _, evaluation = run(engagement, "CM-01", frame, keys=keys)
    assert evaluation.status == "exceptions"
    assert evaluation.deviations == 0
    assert evaluation.result_text == (
        "No exceptions noted for the 22 sampled changes. Full-population analysis of 60 changes: 12 without an "
        "approver independent of the author (CHG-1031, CHG-1032, CHG-1033, CHG-1034, CHG-1035, CHG-1036, "
        "CHG-1037, CHG-1038, CHG-1039, CHG-1040 and 2 more).")
    assert len(evaluation.exceptions) == 12


def test_untested_manual_attribute_is_in_progress_never_no_exceptions(engagement):
    frame = changes(200)
    plan, selection, testing, evaluation = run(engagement, "CM-02", frame)
    assert evaluation.status == "in_progress"
    assert evaluation.result_text == "Testing in progress (0 of 22 items tested)."
    assert evaluation.evaluation is None and evaluation.supports_reliance is None
    assert evaluation.conclusion == ("Testing in progress: no conclusion until every sampled item is tested "
                                     "(not tested yet: testing_evidenced 22).")
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
    assert evaluation.status == "in_progress"
    assert evaluation.result_text == (
        "Testing in progress (3 of 22 items tested). Exceptions noted so far: For 1 of 22 sampled changes, "
        "testing before deployment was not evidenced.")

    with ResultsStore.open(engagement) as store:
        for key in keys[3:]:
            store.record("CM-02", key, "testing_evidenced", "pass", tested_by="DR", evidence_ref=f"EV-{key}")
    _, _, _, evaluation = run(engagement, "CM-02", frame)
    assert evaluation.status == "exceptions"
    assert evaluation.result_text == "For 1 of 22 sampled changes, testing before deployment was not evidenced."
    assert evaluation.exceptions[["item", "reason"]].values.tolist() == [[keys[2], "no CI run"]]


def test_all_manual_results_pass_reads_no_exceptions(engagement):
    frame = changes(50)
    _, selection, _, _ = run(engagement, "CM-02", frame)
    with ResultsStore.open(engagement) as store:
        for key in selection.keys:
            store.record("CM-02", key, "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV")
    _, _, _, evaluation = run(engagement, "CM-02", frame)
    assert (evaluation.status, evaluation.result_text, evaluation.items_tested) == (
        "no_exceptions", "No exceptions noted.", 22)


def test_periodic_control_with_no_instance_did_not_operate(engagement):
    # workflow.md 1.9: for a periodic control a missing instance is a deviation, never "not occurring"
    _, selection, _, evaluation = run(engagement, "CM-W", changes(0))
    assert selection.keys == ()
    assert evaluation.status == "exceptions"
    assert evaluation.result_text == ("No changes were found for the period, although the control is performed "
                                      "weekly: the control did not operate as described.")
    assert evaluation.supports_reliance is False


def test_not_occurring(engagement):
    _, selection, _, evaluation = run(engagement, "CM-01", changes(0))
    assert selection.keys == ()
    assert evaluation.status == "not_occurring"
    assert evaluation.result_text == NOT_OCCURRING_TEXT
    assert (evaluation.sample_size, evaluation.deviations, evaluation.population_count) == (0, 0, 0)
    assert evaluation.test_performed == ("Inspected the population of production changes deployed during the "
                                         "period to determine whether the control operated; no changes occurred.")


def test_frequency_plan_shows_achieved_confidence_not_a_statistical_conclusion(engagement):
    _, _, _, evaluation = run(engagement, "CM-W", changes(52))
    assert (evaluation.plan_kind, evaluation.statistical, evaluation.sample_size) == ("frequency", False, 5)
    assert evaluation.status == "no_exceptions"
    assert evaluation.evaluation is None and evaluation.upper_limit is None
    assert evaluation.conclusion.startswith("Non-statistical sample from the firm's frequency table: 0 deviation(s) "
                                            "in 5 items. The size is judgemental, so no statistical upper limit "
                                            "is concluded; with no deviation it gives ")


def test_every_item_tested_has_no_sampling_risk(engagement):
    frame = changes(3, {1002: {"approved_at": None}})
    _, _, _, evaluation = run(engagement, "CM-W", frame)
    assert evaluation.test_all
    assert evaluation.result_text == "For 1 of 3 changes tested, approval was not documented before deployment."
    assert evaluation.upper_limit == pytest.approx(1 / 3)
    assert evaluation.conclusion == ("Every item in scope was tested (3 changes), so there is no sampling risk: "
                                     "1 deviation(s), a rate of 33.33%.")
    assert evaluation.test_performed.startswith("Inspected the change ticket for all 3 production changes deployed "
                                                "during the period to determine")


def test_type1_walkthrough(tmp_path):
    engagement = make_engagement(tmp_path / "t1", report_type="type1")
    frame = changes(1, {1001: {"approved_at": None}})
    _, _, _, evaluation = run(engagement, "CM-01", frame)
    assert evaluation.plan_kind == "type1"
    assert evaluation.result_text == "For the change inspected, approval was not documented before deployment."
    assert evaluation.test_performed.startswith("Inspected the change ticket for one production change deployed on "
                                                "or before 2026-06-30 (walkthrough) to determine")
    assert evaluation.conclusion.startswith("Type 1 walkthrough: the instance inspected did not operate as designed")


def test_to_record_is_json_safe_and_complete(engagement):
    planted = {1005: {"approved_at": None}, 1040: {"approver": None}}
    frame = changes(80, planted)
    keys = ["CHG-1005"] + clean_keys(frame, set(), 30)[5:26]
    _, _, _, evaluation = run(engagement, "CM-01", frame, keys=keys)
    record = json.loads(json.dumps(evaluation.to_record(), allow_nan=False))
    for key in ("control_id", "criteria", "test_performed", "sample_size", "deviations", "result_text", "status",
                "population_count"):
        assert key in record
    assert record["control_id"] == "CM-01" and record["criteria"] == ["CC8.1", "CC6.1"]
    assert (record["sample_size"], record["deviations"], record["status"]) == (22, 1, "exceptions")
    assert record["deviations_by_attribute"] == {"ticket_before_deployment": 0, "approved_before_deployment": 1,
                                                 "approver_not_author": 0}
    assert [e["item"] for e in record["exceptions"]] == ["CHG-1005", "CHG-1040"]
    assert record["exceptions"][1]["sample_no"] is None
    assert record["exceptions"][0]["item_date"].startswith("2025-")
    assert math.isfinite(record["upper_limit"])
    lines = evaluation.summary().splitlines()
    assert lines[0].startswith("CM-01 (CC8.1, CC6.1) [exceptions]: For 1 of 22 sampled changes")
    assert dict(evaluation.to_table())["Sample size"] == "22"


def test_selection_and_testing_must_match(engagement):
    frame = changes(100)
    control = engagement.control("CM-01")
    plan = plan_sample(engagement, control, as_scoped(frame))
    selection = select_sample(as_scoped(frame), plan, seed=1)
    other = select_sample(as_scoped(frame), plan, seed=2)
    testing = test_attributes(PROCEDURE, control, as_scoped(frame), selection, engagement)
    with pytest.raises(ValueError, match="the selection and the testing results hold different items"):
        evaluate_control(engagement, control, plan, other, testing)


# -- the demo engagements (sample_data; planted exceptions listed in sample_data/README.md) -------------

#: The change-management exceptions planted in acme-type2 (sample_data/generate.py, sample_data/README.md).
DEMO_PLANTED = {
    "ticket_before_deployment": {"CHG-2151", "CHG-2359"},
    "approved_before_deployment": {"CHG-1458", "CHG-1496", "CHG-1597", "CHG-1705", "CHG-2060", "CHG-2151",
                                   "CHG-2207", "CHG-2319", "CHG-2359", "CHG-2536", "CHG-2538"},
    "approver_not_author": {"CHG-1153", "CHG-2220", "CHG-2319", "CHG-2411"},
}


def run_demo(folder: Path, control_id: str, seed: int = 20260630):
    from workbench.population import load_population
    from workbench.scope import scope_population

    engagement = load_engagement(folder)
    control = engagement.control(control_id)
    procedure = get_procedure(control.procedure)
    population = load_population(engagement, control.populations[0])
    scoped = scope_population(population, engagement, date_column=procedure.date_column)
    plan = plan_sample(engagement, control, scoped)
    selection = select_sample(scoped, plan, seed=seed)
    testing = test_attributes(procedure, control, scoped, selection, engagement)
    return plan, selection, testing, evaluate_control(engagement, control, plan, selection, testing)


def test_demo_type2_full_population_finds_exactly_the_planted_changes(demo_type2):
    plan, selection, testing, evaluation = run_demo(demo_type2, "CM-01")
    found: dict[str, set[str]] = {}
    for row in testing.full_population_exceptions.itertuples():
        found.setdefault(row.attribute_id, set()).add(row.item_key)
    assert found == DEMO_PLANTED
    assert (plan.sample_size, plan.method, evaluation.population_count) == (22, "stratified", 1500)
    planted_any = set().union(*DEMO_PLANTED.values())
    assert evaluation.population_exceptions == len(planted_any) == 14
    in_sample = planted_any & set(selection.keys)
    assert evaluation.deviations == len(in_sample)
    assert evaluation.population_exceptions_outside_sample == 14 - len(in_sample)
    assert evaluation.status == "exceptions"
    assert evaluation.result_text.endswith(
        "Full-population analysis of 1,500 changes: 2 documented after deployment or without a creation time "
        "(CHG-2151, CHG-2359); 11 deployed without approval documented before deployment (CHG-1458, CHG-1496, "
        "CHG-1597, CHG-1705, CHG-2060, CHG-2151, CHG-2207, CHG-2319, CHG-2359, CHG-2536 and 1 more); 4 without "
        "an approver independent of the author (CHG-1153, CHG-2220, CHG-2319, CHG-2411).")
    assert set(evaluation.exceptions["item"]) == planted_any


def test_demo_type2_testing_control_reads_in_progress(type2_copy):
    _, selection, _, evaluation = run_demo(type2_copy, "CM-02")
    assert evaluation.status == "in_progress"
    assert evaluation.result_text == "Testing in progress (0 of 22 items tested)."
    with ResultsStore.open(type2_copy) as store:
        for number, key in enumerate(selection.keys):
            outcome = "fail" if number == 4 else "pass"
            store.record("CM-02", key, "testing_evidenced", outcome, tested_by="DR", evidence_ref=f"CI-{key}",
                         comment="no test evidence before deploy" if outcome == "fail" else None)
    _, _, _, evaluation = run_demo(type2_copy, "CM-02")
    assert evaluation.result_text == "For 1 of 22 sampled changes, testing before deployment was not evidenced."
    assert evaluation.exceptions["item"].tolist() == [selection.keys[4]]


def test_demo_type1_walkthrough_and_analytics(demo_type1):
    plan, selection, testing, evaluation = run_demo(demo_type1, "CM-01")
    assert (plan.kind, len(selection.keys)) == ("type1", 1)
    assert set(testing.full_population_exceptions["item_key"]) == {"CHG-2536", "CHG-2538"}
    assert evaluation.plan_kind == "type1"
    # CHG-2536 and CHG-2538 were deployed before approval (sample_data/README.md): a clean walkthrough
    # instance cannot confirm design and implementation while the data contradicts it
    assert evaluation.supports_reliance is False
    assert evaluation.conclusion.startswith("Type 1 walkthrough: the instance inspected operated as designed, but "
                                            "the full-population analysis")
    assert "Design and implementation are not confirmed" in evaluation.conclusion
