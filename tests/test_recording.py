"""workbench.recording: every validation rule with its message, overrides, all-or-nothing, ``workbench record``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from openpyxl import load_workbook

from conftest import SAMPLE_DATA, copy_engagement
from workbench import cli
from workbench.engagement import load_engagement
from workbench.judgements import choose_seed
from workbench.pipeline import run_control_test
from workbench.recording import (
    ProposedResult,
    RecordRefused,
    ResultProblem,
    check_result,
    items_to_test,
    manual_attributes,
    record_result,
    record_evaluation,
    record_results,
)
from workbench.results import ResultsStore
from workbench.workpaper import write_workpaper

PREPARERS = "DR Dana Reyes, JO Jamie Okoro"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A copy of the demo Type 2 engagement shared by this module's tests (each writes its own items)."""
    return copy_engagement(SAMPLE_DATA / "acme-type2", tmp_path_factory.mktemp("recording") / "acme-type2")


@pytest.fixture(scope="module")
def cm02(folder):
    """CM-02 (change management): one manual attribute, testing_evidenced, compared with deployed_at."""
    return run_control_test(load_engagement(folder), "CM-02")


def deployed(test, key: str) -> dt.date:
    frame = test.scope.frame
    stamp = frame.loc[frame["change_id"] == key, "deployed_at"].iloc[0]
    return stamp.tz_convert(test.engagement.timezone).date()


def problems(test, tester="DR", **fields) -> list[tuple[str, str]]:
    return [(p.field, p.message) for p in check_result(test, ProposedResult(**fields), tester=tester)]


def trail_length(folder: Path) -> int:
    with ResultsStore.open(folder) as store:
        return len(store.history())


# ------------------------------------------------------------------------------------------------
# What the tester records
# ------------------------------------------------------------------------------------------------

def test_manual_attributes_and_items_to_test(cm02):
    assert [a.id for a in manual_attributes(cm02)] == ["testing_evidenced"]
    assert items_to_test(cm02) == tuple(cm02.selection.keys)
    assert len(items_to_test(cm02)) == cm02.sample_plan.sample_size


def test_attributes_decided_by_conclusions_are_not_manual_attributes(folder):
    test = run_control_test(load_engagement(folder), "AC-05")
    assert [a.id for a in manual_attributes(test)] == ["configuration_enforces", "configuration_unchanged"]
    key = items_to_test(test)[0]
    label = test.procedure.attribute("itgc_reliance").label
    assert problems(test, item_key=key, attribute_id="itgc_reliance", outcome="pass", evidence_ref="x") == [
        ("attribute_id", f"AC-05 / {key} / itgc_reliance: {label} (itgc_reliance) is decided by the recorded "
                         f"conclusions of the controls it relies on (policy itgc_controls), not by a tester's result; "
                         f"record those controls' conclusions instead.")]


def test_a_valid_result_has_no_problem(cm02):
    key = items_to_test(cm02)[0]
    assert problems(cm02, item_key=key, attribute_id="testing_evidenced", outcome="Pass", evidence_ref="CI run 1",
                    evidence_date=deployed(cm02, key)) == []


# ------------------------------------------------------------------------------------------------
# Each rule, with its message
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("outcome", ["passed", "ok", "", "yes"])
def test_only_pass_fail_or_na_are_outcomes(cm02, outcome):
    key = items_to_test(cm02)[0]
    assert problems(cm02, item_key=key, attribute_id="testing_evidenced", outcome=outcome) == [
        ("outcome", f"CM-02 / {key} / testing_evidenced: outcome {outcome!r} is not allowed; write pass, fail or n/a "
                    f"(any case).")]


@pytest.mark.parametrize("outcome", ["PASS", "Fail", "N/A", " n/a "])
def test_outcomes_are_accepted_in_any_case(cm02, outcome):
    key = items_to_test(cm02)[0]
    assert problems(cm02, item_key=key, attribute_id="testing_evidenced", outcome=outcome, evidence_ref="CI",
                    evidence_date=deployed(cm02, key)) == []


@pytest.mark.parametrize("outcome", ["pass", "fail"])
def test_a_pass_or_a_fail_needs_an_evidence_reference(cm02, outcome):
    key = items_to_test(cm02)[0]
    assert problems(cm02, item_key=key, attribute_id="testing_evidenced", outcome=outcome, evidence_ref="  ",
                    evidence_date=deployed(cm02, key)) == [
        ("evidence_ref", f"CM-02 / {key} / testing_evidenced: a {outcome} needs an evidence reference: where the "
                         f"evidence of this item is (the ticket, document, screenshot or link the workpaper cites, "
                         f"e.g. '{key} approval screenshot'). An attribute that does not apply to the item is "
                         f"recorded as n/a with a comment.")]


def test_na_needs_no_evidence(cm02):
    key = items_to_test(cm02)[0]
    assert problems(cm02, item_key=key, attribute_id="testing_evidenced", outcome="n/a", comment="not deployed") == []


def test_an_attribute_compared_with_a_date_needs_the_evidence_date(cm02):
    key = items_to_test(cm02)[0]
    assert problems(cm02, item_key=key, attribute_id="testing_evidenced", outcome="pass", evidence_ref="CI") == [
        ("evidence_date", f"CM-02 / {key} / testing_evidenced: Testing evidenced compares the evidence with the "
                          f"item's deployed_at, so a pass needs the evidence date (YYYY-MM-DD: the date the evidence "
                          f"shows).")]


def test_a_pass_dated_after_the_deployment_is_refused_and_a_fail_accepted(cm02):
    key = items_to_test(cm02)[0]
    day = deployed(cm02, key)
    later = (day + dt.timedelta(days=1)).isoformat()
    assert problems(cm02, item_key=key, attribute_id="testing_evidenced", outcome="pass", evidence_ref="CI",
                    evidence_date=later) == [
        ("evidence_date", f"CM-02 / {key} / testing_evidenced: a pass is refused: the evidence is dated {later}, "
                          f"after the item's deployed_at {day.isoformat()}, so it does not show that testing was "
                          f"evidenced before deployment. Record a fail instead (with this evidence reference and "
                          f"date), or cite evidence dated on or before {day.isoformat()}.")]
    assert problems(cm02, item_key=key, attribute_id="testing_evidenced", outcome="fail", evidence_ref="CI",
                    evidence_date=later) == []
    # the same day cannot be told apart: accepted
    assert problems(cm02, item_key=key, attribute_id="testing_evidenced", outcome="pass", evidence_ref="CI",
                    evidence_date=day) == []


def test_a_review_dated_before_the_deployment_is_refused(folder):
    test = run_control_test(load_engagement(folder), "CM-03")
    key = items_to_test(test)[0]
    day = deployed(test, key)
    earlier = (day - dt.timedelta(days=1)).isoformat()
    assert problems(test, item_key=key, attribute_id="post_implementation_review", outcome="pass",
                    evidence_ref="PIR", evidence_date=earlier) == [
        ("evidence_date", f"CM-03 / {key} / post_implementation_review: a pass is refused: the evidence is dated "
                          f"{earlier}, before the item's deployed_at {day.isoformat()}, so it does not show that a "
                          f"post-implementation review was evidenced. Record a fail instead (with this evidence "
                          f"reference and date), or cite evidence dated on or after {day.isoformat()}.")]


@pytest.mark.parametrize("value, words", [
    ("2025/07/01", "'2025/07/01' is not a date written YYYY-MM-DD (e.g. 2026-03-14)"),
    ("2025-02-30", "'2025-02-30' is not a calendar date; write the date the evidence shows as YYYY-MM-DD"),
    (dt.datetime(2025, 7, 1, 9, 0), "datetime.datetime(2025, 7, 1, 9, 0) is a date and time; give the date only "
                                    "(YYYY-MM-DD)"),
])
def test_an_evidence_date_must_be_a_calendar_date(cm02, value, words):
    key = items_to_test(cm02)[0]
    found = problems(cm02, item_key=key, attribute_id="testing_evidenced", outcome="n/a", evidence_date=value)
    assert found == [("evidence_date", f"CM-02 / {key} / testing_evidenced: evidence date {words}.")]


def test_an_evidence_date_in_the_future_is_refused(cm02):
    key = items_to_test(cm02)[0]
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    assert problems(cm02, item_key=key, attribute_id="testing_evidenced", outcome="n/a", evidence_date=tomorrow) == [
        ("evidence_date", f"CM-02 / {key} / testing_evidenced: evidence date {tomorrow.isoformat()} is in the future "
                          f"(today is {dt.date.today().isoformat()}); give the date the evidence shows.")]


@pytest.mark.parametrize("tester, message", [
    ("", "the tester is required; give the initials (or name) of the preparer who performed the test."),
    ("ZZ", f"'ZZ' is not on the staff list of engagement ACME-SOC2-T2-FY26; a result is recorded by a preparer "
           f"({PREPARERS}). Give their initials or name, or add the person to [[staff]] in engagement.toml."),
    ("me", f"Morgan Ellis (ME) is the engagement's reviewer, who signs off the workpaper of CM-02, and may not be "
           f"its tester. Record the result as the preparer who did the work ({PREPARERS})."),
    ("Sam Whitaker", f"Sam Whitaker (SW) is on the staff as manager; a result is recorded by a preparer "
                     f"({PREPARERS}). Record it as the preparer who did the work."),
])
def test_the_tester_is_a_preparer_on_the_staff_and_never_the_reviewer(cm02, tester, message):
    key = items_to_test(cm02)[0]
    assert problems(cm02, tester=tester, item_key=key, attribute_id="testing_evidenced", outcome="n/a") == [
        ("tester", f"CM-02 / {key} / testing_evidenced: {message}")]


def test_a_preparer_is_named_by_initials_or_name_in_any_case(cm02):
    key = items_to_test(cm02)[0]
    for tester in ("dr", "Dana Reyes", "JO"):
        assert problems(cm02, tester=tester, item_key=key, attribute_id="testing_evidenced", outcome="n/a") == []


def test_an_unknown_attribute_names_the_ones_recorded(cm02):
    key = items_to_test(cm02)[0]
    assert problems(cm02, item_key=key, attribute_id="tested", outcome="n/a") == [
        ("attribute_id", f"CM-02 / {key} / tested: control CM-02 does not test an attribute 'tested'; the attributes "
                         f"a tester records for it are: testing_evidenced.")]


def test_an_automated_attribute_needs_an_override_reason(folder):
    test = run_control_test(load_engagement(folder), "CM-01")
    key = items_to_test(test)[0]
    assert problems(test, item_key=key, attribute_id="approved_before_deployment", outcome="pass",
                    evidence_ref="x") == [
        ("override_reason", f"CM-01 / {key} / approved_before_deployment: Approved before deployment "
                            f"(approved_before_deployment) is an automated attribute, computed from the population "
                            f"for every record; it is not recorded by a tester. To override the computed outcome for "
                            f"this item, give an override reason (why the computed outcome is wrong for it); it is "
                            f"shown on the workpaper with its own tickmark.")]


def test_a_manual_attribute_takes_no_override_reason(cm02):
    key = items_to_test(cm02)[0]
    assert problems(cm02, item_key=key, attribute_id="testing_evidenced", outcome="n/a", override_reason="because") == [
        ("override_reason", f"CM-02 / {key} / testing_evidenced: an override reason is only for an automated "
                            f"attribute; Testing evidenced (testing_evidenced) is manual: record its result without "
                            f"one and put any remark in the comment.")]


def test_an_item_outside_the_population_is_refused(cm02):
    words = (f"sample {cm02.selection.sample_id} (round period: seed {cm02.selection.seed}, population changes "
             f"SHA-256 {cm02.population.sha256[:12]}...)")
    assert problems(cm02, item_key="CHG-0000", attribute_id="testing_evidenced", outcome="n/a") == [
        ("item_key", f"CM-02 / CHG-0000 / testing_evidenced: item 'CHG-0000' is not in the current selection of "
                     f"CM-02, {words}: no item with this key is in the population tested (changes). Record results "
                     f"only for the items of the current selection.")]


def test_an_item_in_scope_but_not_selected_is_refused(cm02):
    keys = cm02.scope.frame["change_id"].astype(str)
    key = next(k for k in keys if k not in set(items_to_test(cm02)))
    [(field, message)] = problems(cm02, item_key=key, attribute_id="testing_evidenced", outcome="n/a")
    assert field == "item_key"
    assert message.endswith(f": it is in the population in scope in round period but was not selected. Record "
                            f"results only for the items of the current selection.")


def test_an_item_outside_the_period_is_refused(cm02):
    everything = cm02.population.frame["change_id"].astype(str)
    key = next(k for k in everything if k not in set(cm02.scope.frame["change_id"].astype(str)))
    [(field, message)] = problems(cm02, item_key=key, attribute_id="testing_evidenced", outcome="n/a")
    assert field == "item_key" and "it is in population changes but outside the records tested (the period or the " \
                                   "record filter), so it was not selected." in message


def test_an_item_of_a_superseded_seed_names_that_selection(type2_copy):
    engagement = load_engagement(type2_copy)
    before = run_control_test(engagement, "CM-02")
    choose_seed(engagement, before.selection.sample_id, 12345, by="DR", reason="the test")
    after = run_control_test(engagement, "CM-02")
    key = next(k for k in items_to_test(before) if k not in set(items_to_test(after)))
    [(field, message)] = problems(after, item_key=key, attribute_id="testing_evidenced", outcome="n/a")
    assert field == "item_key"
    assert (f": it belongs to the selection drawn with seed {before.selection.seed} (derived from the engagement, "
            f"the sample and the population's SHA-256) in round period, which seed 12345 (chosen by DR on "
            f"{dt.date.today().isoformat()}: the test) superseded. ") in message


def test_every_problem_is_reported_at_once_in_field_order(cm02):
    found = check_result(cm02, ProposedResult("CHG-0000", "testing_evidenced", "passed", evidence_date="2099-01-01"),
                         tester="ME")
    assert [p.field for p in found] == ["item_key", "outcome", "evidence_date", "tester"]
    assert all(isinstance(p, ResultProblem) and p.message.startswith("CM-02 / CHG-0000 / testing_evidenced: ")
               for p in found)


# ------------------------------------------------------------------------------------------------
# Writing
# ------------------------------------------------------------------------------------------------

def test_record_result_writes_once_and_is_idempotent(folder, cm02):
    key = items_to_test(cm02)[1]
    day = deployed(cm02, key)
    result = record_result(cm02, ProposedResult(key, "testing_evidenced", "PASS", "CI run 88", day, "green"),
                           tester="dana reyes")
    assert (result.control_id, result.item_key, result.attribute_id, result.outcome, result.evidence_ref,
            result.evidence_date, result.comment, result.tested_by, result.override_reason) == \
        ("CM-02", key, "testing_evidenced", "pass", "CI run 88", day.isoformat(), "green", "DR", None)
    length = trail_length(folder)
    again = record_result(cm02, ProposedResult(key, "testing_evidenced", "pass", "CI run 88", day.isoformat(),
                                               "green"), tester="DR")
    assert again == result and trail_length(folder) == length


def test_record_results_is_all_or_nothing(folder, cm02):
    keys = items_to_test(cm02)[2:5]
    bad = items_to_test(cm02)[5]
    good = [ProposedResult(k, "testing_evidenced", "n/a", comment="not deployed") for k in keys]
    length = trail_length(folder)
    with pytest.raises(RecordRefused) as refused:
        record_results(cm02, [*good, ProposedResult(bad, "testing_evidenced", "passed")], tester="DR")
    assert refused.value.problems == (ResultProblem("outcome", f"CM-02 / {bad} / testing_evidenced: outcome "
                                                               f"'passed' is not allowed; write pass, fail or n/a "
                                                               f"(any case)."),)
    assert str(refused.value) == refused.value.problems[0].message
    assert trail_length(folder) == length      # nothing written
    written = record_results(cm02, good, tester="DR")
    assert [r.item_key for r in written] == list(keys)
    assert trail_length(folder) == length + 3
    with ResultsStore.open(folder) as store:   # one transaction: consecutive entries
        seqs = [e.seq for e in store.history("result")][-3:]
    assert seqs == list(range(seqs[0], seqs[0] + 3))


def test_one_item_and_attribute_proposed_twice_differently_is_refused(folder, cm02):
    key = items_to_test(cm02)[8]
    length = trail_length(folder)
    with pytest.raises(RecordRefused) as refused:
        record_results(cm02, [ProposedResult(key, "testing_evidenced", "n/a"),
                              ProposedResult(key, "testing_evidenced", "n/a", comment="other")], tester="DR")
    assert [(p.field, p.message) for p in refused.value.problems] == [
        ("item_key", f"CM-02 / {key} / testing_evidenced: proposed twice with different values; keep one.")]
    assert trail_length(folder) == length


def test_an_override_is_stored_with_its_reason_and_marked_on_the_workpaper(type2_copy, tmp_path):
    engagement = load_engagement(type2_copy)
    test = run_control_test(engagement, "CM-01")
    key = items_to_test(test)[0]
    computed = test.testing.item_results.set_index(["item_key", "attribute_id"]).loc[
        (key, "approved_before_deployment"), "outcome"]
    outcome = "fail" if computed == "pass" else "pass"
    result = record_result(test, ProposedResult(key, "approved_before_deployment", outcome, "email of 2025-07-01",
                                                override_reason="approved by email outside Jira"), tester="DR")
    assert result.override_reason == "approved by email outside Jira"
    with ResultsStore.open(type2_copy) as store:
        assert store.latest("result", {"control_id": "CM-01", "item_key": key,
                                       "attribute_id": "approved_before_deployment"}).reason == \
            "approved by email outside Jira"
    again = run_control_test(engagement, "CM-01")
    row = again.testing.item_results.set_index(["item_key", "attribute_id"]).loc[(key, "approved_before_deployment")]
    assert (row["outcome"], row["source"], row["tested_by"]) == (outcome, "override", "DR")
    assert row["reason"].startswith(f"overridden by DR: approved by email outside Jira; computed {computed}")
    # a new reason for the same outcome is a new entry; the same again writes nothing
    length = trail_length(type2_copy)
    proposed = ProposedResult(key, "approved_before_deployment", outcome, "email of 2025-07-01",
                              override_reason="approved by email outside Jira (CAB chair)")
    assert record_result(again, proposed, tester="DR").override_reason == "approved by email outside Jira (CAB chair)"
    record_result(again, proposed, tester="DR")
    assert trail_length(type2_copy) == length + 1
    # the exceptions follow the override: a computed pass overridden to a fail is a deviation of the sample
    listed = again.evaluation.exceptions
    found = listed.loc[(listed["item"] == key) & (listed["attribute_id"] == "approved_before_deployment")]
    if outcome == "fail":
        assert found["found_by"].tolist() == ["sample"] and again.testing.deviations == test.testing.deviations + 1
    else:
        assert found.empty
    book = load_workbook(write_workpaper(tmp_path, again))
    cells = [c.value for r in book["Testing"].iter_rows() for c in r]
    assert ("O✓" if outcome == "pass" else "OX") in cells
    legend = [tuple(c.value for c in r[:2]) for r in book["Legend"].iter_rows()]
    assert any(mark == "O" and meaning.startswith("Override: the tester replaced the outcome computed")
               for mark, meaning in legend if isinstance(meaning, str))


# ------------------------------------------------------------------------------------------------
# workbench record
# ------------------------------------------------------------------------------------------------

def test_cli_record_exit_codes_and_output(folder, cm02, capsys):
    key = items_to_test(cm02)[6]
    day = deployed(cm02, key).isoformat()
    arguments = ["record", str(folder), "--control", "CM-02", "--item", key, "--attribute", "testing_evidenced",
                 "--result", "Pass", "--evidence", "CI run 7", "--evidence-date", day, "--tester", "DR"]
    assert cli.main(arguments) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Recorded: CM-02 / {key} / testing_evidenced = pass (by DR at ")
    assert out.rstrip().endswith(f", evidence CI run 7 dated {day})")
    assert cli.main(arguments) == 0
    assert capsys.readouterr().out.startswith(f"Already recorded, nothing changed: CM-02 / {key} / testing_evidenced "
                                              f"= pass (by DR at ")


def test_cli_record_prints_every_problem_and_exits_1(folder, cm02, capsys):
    key = items_to_test(cm02)[7]
    length = trail_length(folder)
    code = cli.main(["record", str(folder), "--control", "CM-02", "--item", key, "--attribute", "testing_evidenced",
                     "--result", "passed", "--tester", "ME"])
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    assert captured.err.splitlines() == [
        "workbench record: not recorded (2 problem(s)):",
        f"CM-02 / {key} / testing_evidenced: outcome 'passed' is not allowed; write pass, fail or n/a (any case).",
        f"CM-02 / {key} / testing_evidenced: Morgan Ellis (ME) is the engagement's reviewer, who signs off the "
        f"workpaper of CM-02, and may not be its tester. Record the result as the preparer who did the work "
        f"({PREPARERS}).",
    ]
    assert trail_length(folder) == length


def test_cli_record_of_an_unknown_control_exits_2_without_a_traceback(folder, capsys):
    code = cli.main(["record", str(folder), "--control", "XX-99", "--item", "CHG-1", "--attribute", "a",
                     "--result", "pass", "--tester", "DR"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("workbench record: ") and "XX-99" in err and "Traceback" not in err


def test_the_cli_records_only_through_recording():
    source = Path(cli.__file__).read_text(encoding="utf-8")
    assert "record_result(test, proposed" in source and "store.record(" not in source


# ------------------------------------------------------------------------------------------------
# Exception evaluations
# ------------------------------------------------------------------------------------------------

def test_an_evaluation_concerns_an_item_of_the_population_in_scope(type2_copy):
    test = run_control_test(load_engagement(type2_copy), "CM-01")
    census = test.testing.full_population_exceptions
    key = str(census.loc[~census["in_sample"].astype(bool), "item_key"].iloc[0])   # a census exception
    fields = dict(type="operating", extent="isolated", why="one approver on leave", root_cause="leave cover",
                  effect_on_criteria="none: approved next day")
    evaluation = record_evaluation(test, key, by="DR", **fields)
    assert (evaluation.item_key, evaluation.type, evaluation.by) == (key, "operating", "DR")
    with pytest.raises(RecordRefused) as refused:
        record_evaluation(test, "CHG-0000", by="DR", **fields)
    assert [(p.field, p.message) for p in refused.value.problems] == [
        ("item_key", "CM-01 / CHG-0000 / exception evaluation: item 'CHG-0000' is not in the population in scope of "
                     "CM-01; an evaluation concerns one of its exceptions (the Exceptions sheet lists them).")]
    with pytest.raises(RecordRefused) as refused:
        record_evaluation(test, key, by="DR", **{**fields, "type": "bad luck"})
    assert [p.field for p in refused.value.problems] == ["type"]
    with pytest.raises(RecordRefused) as refused:
        record_evaluation(test, key, by="ME", **fields)
    assert [p.field for p in refused.value.problems] == ["tester"]
