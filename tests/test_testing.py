"""Testing stages (workbench.testing): plan_sample, select_sample, test_attributes.

Sizes asserted here come from the AICPA *Audit Sampling* guide, Appendix A, Table A-1 (0 expected
deviations): 10 % risk of overreliance and 10 % tolerable rate -> 22; 5 % risk and 5 % -> 59; and from the
firm frequency table in the engagement (workflow.md §1.6). Derived seeds are recomputed here from their
definition: the first 8 hex digits of SHA-256("<engagement_id>|<sample id>|<population SHA-256>|<round>").
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

import sampling
from conftest import agree_to_source, as_selection, scope_of
from workbench.engagement import load_engagement
from workbench.errors import PopulationError
from workbench.judgements import choose_seed
from workbench.procedures import get_procedure
from workbench.results import ResultsStore
from workbench.sample import plan_sample, sample_id, select_sample
from workbench.testing import test_attributes

TZ = "America/New_York"

CONTROLS_HEADER = ("control_id,description,criteria,owner,frequency,nature,procedure,populations,attributes,"
                   "shared_sample\n")
#: CM-01, CM-02 and CM-03 test the same population with no record filter, so they share one sample (the
#: largest of their plans, all 22 here); the periodic and automated controls opt out (Shared sample = no), so
#: each is sized by its own plan.
DEFAULT_CONTROLS = [
    "CM-01,Changes are approved,CC8.1,Ops,as_needed,manual,change_management,changes,"
    "ticket_before_deployment;approved_before_deployment;approver_not_author,",
    "CM-02,Changes are tested,CC8.1,Ops,as_needed,manual,change_management,changes,testing_evidenced,",
    "CM-03,All attributes,CC8.1,Ops,as_needed,manual,change_management,changes,,",
    "CM-W,Weekly review,CC8.1,Ops,weekly,manual,change_management,changes,testing_evidenced,no",
    "CM-D,Daily review,CC8.1,Ops,daily,manual,change_management,changes,testing_evidenced,no",
    "CM-A,Automated gate,CC8.1,Ops,daily,automated,change_management,changes,approved_before_deployment,no",
]


def make_engagement(folder: Path, *, report_type: str = "type2", sampling_lines: str = "",
                    controls: list[str] | None = None, engagement_id: str | None = None):
    """Write a small, valid engagement folder and load it with the real loader (also used by
    test_control_evaluation.py)."""
    engagement_id = engagement_id or f"TEST-{report_type.upper()}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "populations").mkdir(exist_ok=True)
    (folder / "populations" / "changes.csv").write_text("change_id\n", encoding="utf-8")
    dates = ("period_start = 2025-07-01\nperiod_end = 2026-06-30\n" if report_type == "type2"
             else "as_of = 2026-06-30\n")
    sampling_block = sampling_lines or "confidence = 0.90\ntolerable_rate = 0.10\nmethod = \"random\"\n"
    (folder / "engagement.toml").write_text(
        f"[engagement]\nclient = \"Test Client\"\nreport_type = \"{report_type}\"\n{dates}"
        f"timezone = \"{TZ}\"\ncriteria = [\"security\"]\nengagement_id = \"{engagement_id}\"\n\n"
        f"[sampling]\n{sampling_block}\n"
        "[[staff]]\nname = \"Dana Reyes\"\ninitials = \"DR\"\nrole = \"preparer\"\n\n"
        "[[staff]]\nname = \"Sam Lee\"\ninitials = \"SL\"\nrole = \"reviewer\"\n\n"
        "[populations.changes]\nfile = \"populations/changes.csv\"\nkind = \"changes\"\n",
        encoding="utf-8")
    (folder / "controls.csv").write_text(CONTROLS_HEADER + "\n".join(controls or DEFAULT_CONTROLS) + "\n",
                                         encoding="utf-8")
    return load_engagement(folder)


def changes(count: int, planted: dict[int, dict] | None = None, *, start: str = "2025-07-03 10:00",
            step_hours: int = 131) -> pd.DataFrame:
    """A canonical change frame of ``count`` clean changes spread over the period, with planted overrides."""
    deployed = pd.date_range(pd.Timestamp(start, tz=TZ), periods=count, freq=f"{step_hours}h")
    frame = pd.DataFrame({
        "change_id": [f"CHG-{1000 + i}" for i in range(1, count + 1)],
        "title": "Change", "change_type": "normal", "status": "Done",
        "author": [f"dev{i % 7}" for i in range(count)],
        "approver": "lead1",
        "created_at": deployed - pd.Timedelta(hours=48),
        "approved_at": deployed - pd.Timedelta(hours=2),
        "deployed_at": deployed,
        "system": "app",
        "source_row": range(2, count + 2),
    })
    for number, values in (planted or {}).items():
        index = number - 1001
        for column, value in values.items():
            if column.endswith("_at"):
                value = pd.NaT if value is None else pd.Timestamp(value, tz=TZ)
            frame.loc[index, column] = value
    return frame


PLANTED = {
    1005: {"approved_at": None},                               # no approval
    1010: {"approver": "DEV2", "author": "dev2"},              # self-approved (case differs)
    1020: {"approved_at": "2025-12-31 23:00"},                 # approved after deployment
    1033: {"approver": None},                                  # no approver
    1040: {"created_at": "2026-06-29 12:00"},                  # ticket raised after deployment
}


@pytest.fixture
def engagement(tmp_path):
    return make_engagement(tmp_path / "eng")


# -- plan_sample ------------------------------------------------------------------------------------

def derived_seed(engagement, sample: str, scope, round_name: str = "period") -> int:
    """The derived seed, recomputed from its definition (the scope's population SHA-256 is the test's own)."""
    text = f"{engagement.engagement_id}|{sample}|{scope.parts[0].population.sha256}|{round_name}"
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16)


def test_transaction_driven_control_gets_the_aicpa_statistical_size(engagement):
    plan = plan_sample(engagement, engagement.control("CM-01"), scope_of(changes(1500), engagement, "CM-01"))
    assert (plan.sample_size, plan.kind, plan.statistical, plan.test_all) == (22, "statistical", True, False)
    assert plan.plan.acceptance_number == 0
    assert plan.plan.population_size == 1500
    assert (plan.key_column, plan.date_column, plan.method) == ("change_id", "deployed_at", "random")
    assert plan.basis == ("Statistical attribute sample for a transaction-driven control (as needed) over 1,500 "
                          "changes (binomial model, confidence 90 %, tolerable deviation rate 10 %, expected "
                          "deviation rate 0 %): 22 items, accepting 0 deviations.")
    # CM-02 and CM-03 test the same changes: one sample, the largest of the three plans (22 each)
    assert (plan.sample_id, plan.shared_with) == ("changes", ("CM-02", "CM-03"))
    assert plan.notes == ("The sample is shared with CM-02, CM-03: one selection, tested by every control that "
                          "shares it (the largest of their plans: 22 items).",)
    assert plan.allocation == (("period", 365, 22),)
    table = dict(plan.to_table())
    assert table["Sample size"] == "22" and table["Why this size"] == plan.basis
    assert (table["Sample"], table["Shared with"]) == ("changes", "CM-02, CM-03")
    assert table["Extension after a deviation"] == "none: a deviation is reported and evaluated"


def test_shared_sample_takes_the_largest_plan(tmp_path):
    engagement = make_engagement(tmp_path / "e", controls=[
        "CM-01,Changes are approved,CC8.1,Ops,as_needed,manual,change_management,changes,approved_before_deployment,",
        "CM-D,Daily review,CC8.1,Ops,daily,manual,change_management,changes,testing_evidenced,",
    ])
    scope = scope_of(changes(1500), engagement, "CM-01")
    plan = plan_sample(engagement, engagement.control("CM-01"), scope)
    # CM-01 alone needs 22 (Table A-1); CM-D, daily, 25 from the frequency table: the sample is 25
    assert (plan.sample_size, plan.kind, plan.shared_with) == (25, "statistical", ("CM-D",))
    assert plan.notes == ("The sample is shared with CM-D, whose plan needs 25 items: the larger size is drawn, "
                          "and every control sharing the sample tests all of it.",)
    daily = plan_sample(engagement, engagement.control("CM-D"), scope)
    assert (daily.sample_size, daily.kind, daily.shared_with, daily.notes) == (
        25, "frequency", ("CM-01",),
        ("The sample is shared with CM-01: one selection, tested by every control that shares it (the largest "
         "of their plans: 25 items).",))
    # one selection: both controls draw the same items
    first = select_sample(engagement, engagement.control("CM-01"), scope, plan)
    second = select_sample(engagement, engagement.control("CM-D"), scope, daily)
    assert first.keys == second.keys and len(first.keys) == 25 and first.sample_id == second.sample_id == "changes"


def test_policy_confidence_and_rate_drive_the_size(tmp_path):
    engagement = make_engagement(tmp_path / "e", sampling_lines="confidence = 0.95\ntolerable_rate = 0.05\n")
    plan = plan_sample(engagement, engagement.control("CM-01"),
                       scope_of(changes(5000, step_hours=1), engagement, "CM-01"))
    assert plan.sample_size == 59  # Table A-1, 5 % risk, TDR 5 %
    assert plan.method == "stratified"  # the default for type 2


def test_hypergeometric_policy_uses_the_population_size(tmp_path):
    engagement = make_engagement(tmp_path / "e", sampling_lines=(
        "model = \"hypergeometric\"\nconfidence = 0.90\ntolerable_rate = 0.10\n"))
    plan = plan_sample(engagement, engagement.control("CM-01"), scope_of(changes(60), engagement, "CM-01"))
    assert plan.plan.model == "hypergeometric"
    assert plan.plan.population_size == 60
    assert plan.sample_size < 22  # a finite population never needs more than the binomial size


def test_periodic_manual_controls_use_the_frequency_table(engagement):
    weekly = plan_sample(engagement, engagement.control("CM-W"), scope_of(changes(52), engagement, "CM-W"))
    assert (weekly.sample_size, weekly.kind, weekly.statistical) == (5, "frequency", False)
    assert weekly.basis.startswith("Manual control operating weekly: 5 items from the firm's frequency table "
                                   "(non-statistical, judgemental size). With no deviation they give ")
    assert (weekly.sample_id, weekly.shared_with, weekly.notes) == ("changes/CM-W", (), ())
    daily = plan_sample(engagement, engagement.control("CM-D"), scope_of(changes(250), engagement, "CM-D"))
    assert daily.sample_size == 25


def test_the_engagements_own_frequency_table_is_used(tmp_path):
    engagement = make_engagement(tmp_path / "e", sampling_lines=(
        "confidence = 0.90\ntolerable_rate = 0.10\n\n[sampling.frequency_table]\nannual = 1\nquarterly = 2\n"
        "monthly = 3\nweekly = 10\ndaily = 30\nmany_times_a_day = 60\n"))
    assert plan_sample(engagement, engagement.control("CM-W"),
                       scope_of(changes(52), engagement, "CM-W")).sample_size == 10


def test_automated_control_is_sampled_statistically_even_when_periodic(engagement):
    plan = plan_sample(engagement, engagement.control("CM-A"),
                       scope_of(changes(365, step_hours=24), engagement, "CM-A"))
    assert (plan.sample_size, plan.kind) == (22, "statistical")
    assert "for an automated control" in plan.basis


def test_small_population_is_tested_in_full(engagement):
    plan = plan_sample(engagement, engagement.control("CM-W"), scope_of(changes(3), engagement, "CM-W"))
    assert (plan.sample_size, plan.test_all) == (3, True)
    assert plan.basis == ("Manual control operating weekly: the firm's frequency table gives 5, at least the 3 "
                          "changes in scope, so every item is tested.")
    statistical = plan_sample(engagement, engagement.control("CM-01"), scope_of(changes(15), engagement, "CM-01"))
    assert (statistical.sample_size, statistical.test_all) == (15, True)


def test_empty_population_is_not_occurring(engagement):
    plan = plan_sample(engagement, engagement.control("CM-01"), scope_of(changes(0), engagement, "CM-01"))
    assert plan.not_occurring and plan.plan is None
    assert (plan.sample_size, plan.kind, plan.test_all, plan.statistical) == (0, "not_occurring", False, False)
    assert plan.basis.startswith("No changes in scope (2025-07-01 to 2026-06-30): the control did not operate")


def test_type1_tests_one_instance(tmp_path):
    engagement = make_engagement(tmp_path / "t1", report_type="type1",
                                 sampling_lines="confidence = 0.90\ntolerable_rate = 0.10\n")
    plan = plan_sample(engagement, engagement.control("CM-01"), scope_of(changes(30), engagement, "CM-01"))
    assert (plan.sample_size, plan.kind, plan.method) == (1, "type1", "random")
    assert plan.basis.startswith("Type 1 report: design and implementation are tested as of 2026-06-30")


# -- select_sample ----------------------------------------------------------------------------------

def test_selection_goes_through_sampling_select_and_ignores_row_order(engagement):
    frame = changes(400, step_hours=20)
    control = engagement.control("CM-01")
    scope = scope_of(frame, engagement, "CM-01")
    plan = plan_sample(engagement, control, scope)
    # the derived seed: bound to the engagement, the sample and the population file, nobody chose it
    derived = select_sample(engagement, control, scope, plan)
    assert derived.seed == derived_seed(engagement, "changes", scope)
    assert not derived.seeds[0].chosen
    assert derived.keys == sampling.select(frame["change_id"].tolist(), 22, seed=derived.seed, method="random").keys
    # a seed chosen by the tester is recorded with who and why, and labelled as chosen
    assert sample_id(engagement, control) == plan.sample_id == "changes"
    choose_seed(engagement, plan.sample_id, 20260701, by="DR", reason="the seed of the interim sample")
    selection = select_sample(engagement, control, scope, plan)
    direct = sampling.select(frame["change_id"].tolist(), 22, seed=20260701, method="random")
    assert selection.keys == direct.keys
    assert len(selection.keys) == 22 and len(set(selection.keys)) == 22
    assert (selection.seed, selection.seeds[0].chosen_by, selection.seeds[0].reason) == (
        20260701, "DR", "the seed of the interim sample")
    assert dict(selection.to_table())["Seed"].startswith("20260701 (chosen by DR on ")
    shuffled = frame.sample(frac=1.0, random_state=3)
    assert select_sample(engagement, control, scope_of(shuffled, engagement, "CM-01"), plan).keys == selection.keys


def test_stratified_selection_uses_the_occurrence_dates(tmp_path):
    engagement = make_engagement(tmp_path / "e", sampling_lines=(
        "confidence = 0.90\ntolerable_rate = 0.10\nmethod = \"stratified\"\n"))
    frame = changes(1200, start="2025-07-01 08:00", step_hours=7)  # spread over 12 months
    scope = scope_of(frame, engagement, "CM-01")
    plan = plan_sample(engagement, engagement.control("CM-01"), scope)
    selection = select_sample(engagement, engagement.control("CM-01"), scope, plan)
    assert selection.method == "stratified"
    assert selection.seed == derived_seed(engagement, "changes", scope)
    months = frame.set_index("change_id").loc[list(selection.keys), "deployed_at"].dt.strftime("%Y-%m")
    assert months.nunique() == 12  # every month of the period is covered
    assert [label for label, _, _ in selection.parts[0].strata][:2] == ["2025-07", "2025-08"]


def test_test_all_selects_every_key(engagement):
    scope = scope_of(changes(4), engagement, "CM-W")
    plan = plan_sample(engagement, engagement.control("CM-W"), scope)
    selection = select_sample(engagement, engagement.control("CM-W"), scope, plan)
    assert sorted(selection.keys) == ["CHG-1001", "CHG-1002", "CHG-1003", "CHG-1004"]
    assert selection.sample_id == "changes/CM-W"   # an own sample: the control is part of its id and seed
    assert selection.seed == derived_seed(engagement, "changes/CM-W", scope)


def test_not_occurring_selects_nothing(engagement):
    scope = scope_of(changes(0), engagement, "CM-01")
    plan = plan_sample(engagement, engagement.control("CM-01"), scope)
    selection = select_sample(engagement, engagement.control("CM-01"), scope, plan)
    assert selection.keys == () and selection.population_size == 0
    assert selection.seed == derived_seed(engagement, "changes", scope)


# -- test_attributes --------------------------------------------------------------------------------

def test_full_population_analysis_finds_every_planted_exception(engagement):
    frame = changes(60, planted=PLANTED)
    control = engagement.control("CM-01")
    scope = scope_of(frame, engagement, "CM-01")
    plan = plan_sample(engagement, control, scope)
    selection = select_sample(engagement, control, scope, plan)
    testing = test_attributes(get_procedure("change_management"), control, scope, selection, engagement)
    # CM-01 tests automated attributes, so its sampled items are also agreed to source (an accuracy check)
    assert [a.id for a in testing.attributes] == ["ticket_before_deployment", "approved_before_deployment",
                                                  "approver_not_author", "agreed_to_source"]
    assert [a.id for a in testing.accuracy_attributes] == ["agreed_to_source"]
    exceptions = testing.full_population_exceptions
    found = {(row.item_key, row.attribute_id) for row in exceptions.itertuples()}
    assert found == {
        ("CHG-1040", "ticket_before_deployment"),
        ("CHG-1005", "approved_before_deployment"),
        ("CHG-1020", "approved_before_deployment"),
        ("CHG-1010", "approver_not_author"),
        ("CHG-1033", "approver_not_author"),
    }
    reasons = dict(zip(exceptions["item_key"] + "/" + exceptions["attribute_id"], exceptions["reason"]))
    deployed_1020 = frame.loc[frame["change_id"] == "CHG-1020", "deployed_at"].iloc[0]
    assert reasons["CHG-1020/approved_before_deployment"] == (
        f"approved 2025-12-31 23:00 after deployment {deployed_1020:%Y-%m-%d %H:%M}")
    assert reasons["CHG-1010/approver_not_author"] == "approved by its author (DEV2)"
    assert reasons["CHG-1033/approver_not_author"] == "no approver recorded"
    assert exceptions.loc[exceptions["item_key"] == "CHG-1040", "source_row"].tolist() == [41]
    in_sample = set(selection.keys)
    assert exceptions["in_sample"].tolist() == [k in in_sample for k in exceptions["item_key"]]
    population = testing.population_results.set_index("attribute_id")
    assert list(population.index) == ["ticket_before_deployment", "approved_before_deployment",
                                      "approver_not_author"]
    assert population.loc["approved_before_deployment", ["population", "pass", "fail"]].tolist() == [60, 58, 2]
    assert population["fail"].sum() == 5
    assert (population["fail_in_sample"] + population["fail_outside_sample"]).tolist() == population["fail"].tolist()


def test_matrix_has_one_row_per_selected_item_in_selection_order(engagement):
    frame = changes(60, planted=PLANTED)
    control = engagement.control("CM-03")  # every attribute: testing_evidenced manual, agreed_to_source accuracy
    keys = ["CHG-1020", "CHG-1001", "CHG-1010", "CHG-1002"]
    selection = as_selection(sampling.select(keys, 4, seed=2, method="random"))
    with ResultsStore.open(engagement) as store:
        store.record("CM-03", "CHG-1001", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-1")
        store.record("CM-03", "CHG-1010", "testing_evidenced", "fail", tested_by="DR", evidence_ref="EV-2",
                     comment="no test run")
        store.record("CM-03", "CHG-1059", "testing_evidenced", "pass", tested_by="DR",
                     evidence_ref="EV-3")  # not in the selection
    agree_to_source(engagement, "CM-03", ["CHG-1001", "CHG-1010", "CHG-1002"],
                    failing={"CHG-1002": "approved_at in the ticket history differs from the export"})
    testing = test_attributes(get_procedure("change_management"), control, scope_of(frame, engagement, "CM-03"),
                              selection, engagement)
    matrix = testing.to_frame()
    assert list(matrix.columns) == ["sample_no", "change_id", "deployed_at", "created_at", "approved_at", "author",
                                    "approver", "ticket_before_deployment",
                                    "approved_before_deployment", "approver_not_author", "testing_evidenced",
                                    "agreed_to_source", "deviation", "reason", "evidence_ref", "comment",
                                    "tested_by"]
    assert matrix["change_id"].tolist() == list(selection.keys)
    assert matrix["sample_no"].tolist() == [1, 2, 3, 4]
    by_key = matrix.set_index("change_id")
    assert by_key.loc["CHG-1001", ["approved_before_deployment", "testing_evidenced", "agreed_to_source",
                                   "deviation", "evidence_ref"]].tolist() == ["pass", "pass", "pass", "no",
                                                                              "EV-1; SRC-CHG-1001"]
    assert by_key.loc["CHG-1010", ["approver_not_author", "testing_evidenced", "agreed_to_source",
                                   "deviation"]].tolist() == ["fail", "fail", "pass", "yes"]
    assert by_key.loc["CHG-1010", "reason"] == ("approver_not_author: approved by its author (DEV2); "
                                                "testing_evidenced: no test run")
    assert by_key.loc["CHG-1020", ["approved_before_deployment", "testing_evidenced", "agreed_to_source",
                                   "deviation"]].tolist() == ["fail", "not tested", "not tested", "yes"]
    # a difference from the source is a finding on the population, not a deviation of the control
    assert by_key.loc["CHG-1002", ["testing_evidenced", "agreed_to_source", "deviation"]].tolist() == [
        "not tested", "fail", "source mismatch"]
    assert by_key.loc["CHG-1002", "reason"] == (
        "agreed_to_source: approved_at in the ticket history differs from the export")
    assert by_key.loc["CHG-1010", ["author", "approver"]].tolist() == ["dev2", "DEV2"]
    assert by_key.loc["CHG-1020", "approved_at"] == pd.Timestamp("2025-12-31 23:00", tz=TZ)
    assert by_key.loc["CHG-1020", "deployed_at"] == frame.set_index("change_id").loc["CHG-1020", "deployed_at"]
    assert (testing.items_tested, testing.deviations, testing.sample_size) == (2, 2, 4)
    assert testing.deviations_by_attribute() == {"ticket_before_deployment": 0, "approved_before_deployment": 1,
                                                 "approver_not_author": 1, "testing_evidenced": 1}
    assert testing.untested_by_attribute() == {"testing_evidenced": 2, "agreed_to_source": 1}
    assert testing.accuracy_failures()[["sample_no", "item_key", "attribute_id", "reason"]].values.tolist() == [
        [selection.keys.index("CHG-1002") + 1, "CHG-1002", "agreed_to_source",
         "approved_at in the ticket history differs from the export"]]
    assert testing.census_relied_on is False
    assert any("1 recorded result(s) are for items not in this selection (CHG-1059)" in n for n in testing.notes)
    exceptions = testing.sample_exceptions()
    assert exceptions[["item_key", "attribute_id"]].values.tolist() == [
        ["CHG-1020", "approved_before_deployment"], ["CHG-1010", "approver_not_author"],
        ["CHG-1010", "testing_evidenced"]]


def test_manual_only_control_without_results_is_untested(engagement):
    frame = changes(30)
    control = engagement.control("CM-02")
    scope = scope_of(frame, engagement, "CM-02")
    plan = plan_sample(engagement, control, scope)
    selection = select_sample(engagement, control, scope, plan)
    testing = test_attributes(get_procedure("change_management"), control, scope, selection, engagement)
    # no automated attribute: nothing computed from the data, so no accuracy check is added
    assert testing.attributes == (get_procedure("change_management").attribute("testing_evidenced"),)
    assert set(testing.to_frame()["testing_evidenced"]) == {"not tested"}
    assert (testing.items_tested, testing.sample_size) == (0, 22)
    assert testing.full_population_exceptions.empty and testing.population_results.empty
    assert testing.census_relied_on is True
    assert not (engagement.folder / "results.sqlite").exists()  # reading never creates the store


def test_results_for_automated_attributes_are_not_used(engagement):
    frame = changes(10, planted={1005: {"approved_at": None}})
    selection = as_selection(sampling.select(["CHG-1005"], 1, seed=1))
    with ResultsStore.open(engagement.folder) as store:
        store.record("CM-01", "CHG-1005", "approved_before_deployment", "pass", tested_by="DR", evidence_ref="EV-1")
    testing = test_attributes(get_procedure("change_management"), engagement.control("CM-01"),
                              scope_of(frame, engagement, "CM-01"), selection, engagement)
    assert testing.to_frame()["approved_before_deployment"].tolist() == ["fail"]
    assert any("1 recorded result(s) for automated attributes are not used: automated attributes are computed "
               "from the population." == n for n in testing.notes)


def test_selected_key_missing_from_the_population_is_an_error(engagement):
    selection = as_selection(sampling.select(["CHG-9999", "CHG-1001"], 2, seed=1))
    with pytest.raises(PopulationError, match=r"selected key\(s\) CHG-9999 are not in the population in scope"):
        test_attributes(get_procedure("change_management"), engagement.control("CM-01"),
                        scope_of(changes(5), engagement, "CM-01"), selection, engagement)


def test_summary_names_the_counts(engagement):
    frame = changes(60, planted=PLANTED)
    selection = as_selection(sampling.select(["CHG-1005", "CHG-1006"], 2, seed=1))
    agree_to_source(engagement, "CM-01", ["CHG-1005", "CHG-1006"])
    testing = test_attributes(get_procedure("change_management"), engagement.control("CM-01"),
                              scope_of(frame, engagement, "CM-01"), selection, engagement)
    lines = testing.summary().splitlines()
    assert lines[0] == ("CM-01 (change_management): 2 of 2 sampled items tested, 1 with a deviation; full "
                        "population 60 changes.")
    assert lines[2] == ("  approved_before_deployment [automated]: 1 failed in the sample; 2 in the full "
                        "population (1 outside the sample)")
    assert lines[4] == ("  agreed_to_source [manual] (accuracy: a failure is a population finding): 0 failed in "
                        "the sample; 0 not tested yet")


def test_duplicate_keys_are_refused(engagement):
    frame = pd.concat([changes(3), changes(1)], ignore_index=True)
    selection = as_selection(sampling.select(["CHG-1002"], 1, seed=1))
    with pytest.raises(PopulationError, match=r"key column 'change_id' has duplicate values \(CHG-1001\)"):
        test_attributes(get_procedure("change_management"), engagement.control("CM-01"),
                        scope_of(frame, engagement, "CM-01"), selection, engagement)


def test_empty_population_gives_an_empty_matrix(engagement):
    scope = scope_of(changes(0), engagement, "CM-01")
    plan = plan_sample(engagement, engagement.control("CM-01"), scope)
    selection = select_sample(engagement, engagement.control("CM-01"), scope, plan)
    testing = test_attributes(get_procedure("change_management"), engagement.control("CM-01"), scope, selection,
                              engagement)
    assert testing.to_frame().empty
    assert testing.full_population_exceptions.empty
    assert testing.population_results["population"].tolist() == [0, 0, 0]
    assert (testing.items_tested, testing.deviations, testing.population_count) == (0, 0, 0)
    assert testing.notes == ("The population in scope is empty: the control is not occurring.",)
