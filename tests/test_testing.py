"""Testing stages (workbench.testing): plan_sample, select_sample, test_attributes.

Sizes asserted here come from the AICPA *Audit Sampling* guide, Appendix A, Table A-1 (0 expected
deviations): 10 % risk of overreliance and 10 % tolerable rate -> 22; 5 % risk and 5 % -> 59; and from the
firm frequency table in the engagement (workflow.md §1.6).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import sampling
from conftest import as_scoped
from workbench.engagement import load_engagement
from workbench.errors import PopulationError
from workbench.procedures import get_procedure
from workbench.results import ResultsStore
from workbench.sample import plan_sample, select_sample
from workbench.testing import test_attributes

TZ = "America/New_York"

CONTROLS_HEADER = "control_id,description,criteria,owner,frequency,nature,procedure,populations,attributes\n"
DEFAULT_CONTROLS = [
    "CM-01,Changes are approved,CC8.1,Ops,as_needed,manual,change_management,changes,"
    "ticket_before_deployment;approved_before_deployment;approver_not_author",
    "CM-02,Changes are tested,CC8.1,Ops,as_needed,manual,change_management,changes,testing_evidenced",
    "CM-03,All attributes,CC8.1,Ops,as_needed,manual,change_management,changes,",
    "CM-W,Weekly review,CC8.1,Ops,weekly,manual,change_management,changes,testing_evidenced",
    "CM-D,Daily review,CC8.1,Ops,daily,manual,change_management,changes,testing_evidenced",
    "CM-A,Automated gate,CC8.1,Ops,daily,automated,change_management,changes,approved_before_deployment",
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

def test_transaction_driven_control_gets_the_aicpa_statistical_size(engagement):
    plan = plan_sample(engagement, engagement.control("CM-01"), as_scoped(changes(1500)))
    assert (plan.sample_size, plan.kind, plan.statistical, plan.test_all) == (22, "statistical", True, False)
    assert plan.plan.acceptance_number == 0
    assert plan.plan.population_size == 1500
    assert (plan.key_column, plan.date_column, plan.method) == ("change_id", "deployed_at", "random")
    assert plan.basis == ("Statistical attribute sample for a transaction-driven control (as needed) over 1,500 "
                          "changes (binomial model, confidence 90 %, tolerable deviation rate 10 %, expected "
                          "deviation rate 0 %): 22 items, accepting 0 deviations.")
    table = dict(plan.to_table())
    assert table["Sample size"] == "22" and table["Why this size"] == plan.basis


def test_policy_confidence_and_rate_drive_the_size(tmp_path):
    engagement = make_engagement(tmp_path / "e", sampling_lines="confidence = 0.95\ntolerable_rate = 0.05\n")
    plan = plan_sample(engagement, engagement.control("CM-01"), as_scoped(changes(5000, step_hours=1)))
    assert plan.sample_size == 59  # Table A-1, 5 % risk, TDR 5 %
    assert plan.method == "stratified"  # the default for type 2


def test_hypergeometric_policy_uses_the_population_size(tmp_path):
    engagement = make_engagement(tmp_path / "e", sampling_lines=(
        "model = \"hypergeometric\"\nconfidence = 0.90\ntolerable_rate = 0.10\n"))
    plan = plan_sample(engagement, engagement.control("CM-01"), as_scoped(changes(60)))
    assert plan.plan.model == "hypergeometric"
    assert plan.plan.population_size == 60
    assert plan.sample_size < 22  # a finite population never needs more than the binomial size


def test_periodic_manual_controls_use_the_frequency_table(engagement):
    weekly = plan_sample(engagement, engagement.control("CM-W"), as_scoped(changes(52)))
    assert (weekly.sample_size, weekly.kind, weekly.statistical) == (5, "frequency", False)
    assert weekly.basis.startswith("Manual control operating weekly: 5 items from the firm's frequency table "
                                   "(non-statistical, judgemental size). With no deviation they give ")
    daily = plan_sample(engagement, engagement.control("CM-D"), as_scoped(changes(250)))
    assert daily.sample_size == 25


def test_the_engagements_own_frequency_table_is_used(tmp_path):
    engagement = make_engagement(tmp_path / "e", sampling_lines=(
        "confidence = 0.90\ntolerable_rate = 0.10\n\n[sampling.frequency_table]\nannual = 1\nquarterly = 2\n"
        "monthly = 3\nweekly = 10\ndaily = 30\nmany_times_a_day = 60\n"))
    assert plan_sample(engagement, engagement.control("CM-W"), as_scoped(changes(52))).sample_size == 10


def test_automated_control_is_sampled_statistically_even_when_periodic(engagement):
    plan = plan_sample(engagement, engagement.control("CM-A"), as_scoped(changes(365, step_hours=24)))
    assert (plan.sample_size, plan.kind) == (22, "statistical")
    assert "for an automated control" in plan.basis


def test_small_population_is_tested_in_full(engagement):
    plan = plan_sample(engagement, engagement.control("CM-W"), as_scoped(changes(3)))
    assert (plan.sample_size, plan.test_all) == (3, True)
    assert plan.basis == ("Manual control operating weekly: the firm's frequency table gives 5, at least the 3 "
                          "changes in scope, so every item is tested.")
    statistical = plan_sample(engagement, engagement.control("CM-01"), as_scoped(changes(15)))
    assert (statistical.sample_size, statistical.test_all) == (15, True)


def test_empty_population_is_not_occurring(engagement):
    plan = plan_sample(engagement, engagement.control("CM-01"), as_scoped(changes(0)))
    assert plan.not_occurring and plan.plan is None
    assert (plan.sample_size, plan.kind, plan.test_all, plan.statistical) == (0, "not_occurring", False, False)
    assert plan.basis.startswith("No changes in scope (2025-07-01 to 2026-06-30): the control did not operate")


def test_type1_tests_one_instance(tmp_path):
    engagement = make_engagement(tmp_path / "t1", report_type="type1",
                                 sampling_lines="confidence = 0.90\ntolerable_rate = 0.10\n")
    plan = plan_sample(engagement, engagement.control("CM-01"), as_scoped(changes(30)))
    assert (plan.sample_size, plan.kind, plan.method) == (1, "type1", "random")
    assert plan.basis.startswith("Type 1 report: design and implementation are tested as of 2026-06-30")


# -- select_sample ----------------------------------------------------------------------------------

def test_selection_goes_through_sampling_select_and_ignores_row_order(engagement):
    frame = changes(400, step_hours=20)
    plan = plan_sample(engagement, engagement.control("CM-01"), as_scoped(frame))
    selection = select_sample(as_scoped(frame), plan, seed=20260701)
    direct = sampling.select(frame["change_id"].tolist(), 22, seed=20260701, method="random")
    assert selection.keys == direct.keys
    assert len(selection.keys) == 22 and len(set(selection.keys)) == 22
    shuffled = frame.sample(frac=1.0, random_state=3)
    assert select_sample(as_scoped(shuffled), plan, seed=20260701).keys == selection.keys


def test_stratified_selection_uses_the_occurrence_dates(tmp_path):
    engagement = make_engagement(tmp_path / "e", sampling_lines=(
        "confidence = 0.90\ntolerable_rate = 0.10\nmethod = \"stratified\"\n"))
    frame = changes(1200, start="2025-07-01 08:00", step_hours=7)  # spread over 12 months
    plan = plan_sample(engagement, engagement.control("CM-01"), as_scoped(frame))
    selection = select_sample(as_scoped(frame), plan, seed=11)
    assert selection.method == "stratified"
    months = frame.set_index("change_id").loc[list(selection.keys), "deployed_at"].dt.strftime("%Y-%m")
    assert months.nunique() == 12  # every month of the period is covered
    assert [label for label, _, _ in selection.strata][:2] == ["2025-07", "2025-08"]


def test_test_all_selects_every_key(engagement):
    frame = changes(4)
    plan = plan_sample(engagement, engagement.control("CM-W"), as_scoped(frame))
    assert sorted(select_sample(as_scoped(frame), plan, seed=1).keys) == ["CHG-1001", "CHG-1002", "CHG-1003", "CHG-1004"]


def test_not_occurring_selects_nothing(engagement):
    plan = plan_sample(engagement, engagement.control("CM-01"), as_scoped(changes(0)))
    selection = select_sample(as_scoped(changes(0)), plan, seed=5)
    assert selection.keys == () and selection.population_size == 0 and selection.seed == 5


# -- test_attributes --------------------------------------------------------------------------------

def test_full_population_analysis_finds_every_planted_exception(engagement):
    frame = changes(60, planted=PLANTED)
    control = engagement.control("CM-01")
    plan = plan_sample(engagement, control, as_scoped(frame))
    selection = select_sample(as_scoped(frame), plan, seed=99)
    testing = test_attributes(get_procedure("change_management"), control, as_scoped(frame), selection, engagement)
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
    assert population.loc["approved_before_deployment", ["population", "pass", "fail"]].tolist() == [60, 58, 2]
    assert population["fail"].sum() == 5
    assert (population["fail_in_sample"] + population["fail_outside_sample"]).tolist() == population["fail"].tolist()


def test_matrix_has_one_row_per_selected_item_in_selection_order(engagement):
    frame = changes(60, planted=PLANTED)
    control = engagement.control("CM-03")  # every attribute, testing_evidenced manual
    keys = ["CHG-1020", "CHG-1001", "CHG-1010", "CHG-1002"]
    selection = sampling.select(keys, 4, seed=2, method="random")
    with ResultsStore.open(engagement) as store:
        store.record("CM-03", "CHG-1001", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-1")
        store.record("CM-03", "CHG-1010", "testing_evidenced", "fail", tested_by="DR", evidence_ref="EV-2",
                     comment="no test run")
        store.record("CM-03", "CHG-1059", "testing_evidenced", "pass", tested_by="DR",
                     evidence_ref="EV-3")  # not in the selection
    testing = test_attributes(get_procedure("change_management"), control, as_scoped(frame), selection, engagement)
    matrix = testing.to_frame()
    assert list(matrix.columns) == ["sample_no", "change_id", "deployed_at", "created_at", "approved_at", "author",
                                    "approver", "ticket_before_deployment",
                                    "approved_before_deployment", "approver_not_author", "testing_evidenced",
                                    "deviation", "reason", "evidence_ref", "comment", "tested_by"]
    assert matrix["change_id"].tolist() == list(selection.keys)
    assert matrix["sample_no"].tolist() == [1, 2, 3, 4]
    by_key = matrix.set_index("change_id")
    assert by_key.loc["CHG-1001", ["approved_before_deployment", "testing_evidenced", "deviation",
                                   "evidence_ref"]].tolist() == ["pass", "pass", "no", "EV-1"]
    assert by_key.loc["CHG-1010", ["approver_not_author", "testing_evidenced", "deviation"]].tolist() == [
        "fail", "fail", "yes"]
    assert by_key.loc["CHG-1010", "reason"] == ("approver_not_author: approved by its author (DEV2); "
                                                "testing_evidenced: no test run")
    assert by_key.loc["CHG-1020", ["approved_before_deployment", "testing_evidenced", "deviation"]].tolist() == [
        "fail", "not tested", "yes"]
    assert by_key.loc["CHG-1002", ["testing_evidenced", "deviation"]].tolist() == ["not tested", "pending"]
    assert by_key.loc["CHG-1010", ["author", "approver"]].tolist() == ["dev2", "DEV2"]
    assert by_key.loc["CHG-1020", "approved_at"] == pd.Timestamp("2025-12-31 23:00", tz=TZ)
    assert by_key.loc["CHG-1020", "deployed_at"] == frame.set_index("change_id").loc["CHG-1020", "deployed_at"]
    assert (testing.items_tested, testing.deviations, testing.sample_size) == (2, 2, 4)
    assert testing.deviations_by_attribute() == {"ticket_before_deployment": 0, "approved_before_deployment": 1,
                                                 "approver_not_author": 1, "testing_evidenced": 1}
    assert testing.untested_by_attribute() == {"testing_evidenced": 2}
    assert any("1 recorded result(s) are for items not in this selection (CHG-1059)" in n for n in testing.notes)
    exceptions = testing.sample_exceptions()
    assert exceptions[["item_key", "attribute_id"]].values.tolist() == [
        ["CHG-1020", "approved_before_deployment"], ["CHG-1010", "approver_not_author"],
        ["CHG-1010", "testing_evidenced"]]


def test_manual_only_control_without_results_is_untested(engagement):
    frame = changes(30)
    control = engagement.control("CM-02")
    plan = plan_sample(engagement, control, as_scoped(frame))
    selection = select_sample(as_scoped(frame), plan, seed=4)
    testing = test_attributes(get_procedure("change_management"), control, as_scoped(frame), selection, engagement)
    assert testing.attributes == (get_procedure("change_management").attribute("testing_evidenced"),)
    assert set(testing.to_frame()["testing_evidenced"]) == {"not tested"}
    assert (testing.items_tested, testing.sample_size) == (0, 22)
    assert testing.full_population_exceptions.empty and testing.population_results.empty
    assert not (engagement.folder / "results.sqlite").exists()  # reading never creates the store


def test_results_for_automated_attributes_are_not_used(engagement):
    frame = changes(10, planted={1005: {"approved_at": None}})
    selection = sampling.select(["CHG-1005"], 1, seed=1)
    with ResultsStore.open(engagement.folder) as store:
        store.record("CM-01", "CHG-1005", "approved_before_deployment", "pass", tested_by="DR", evidence_ref="EV-1")
    testing = test_attributes(get_procedure("change_management"), engagement.control("CM-01"), as_scoped(frame),
                              selection, engagement)
    assert testing.to_frame()["approved_before_deployment"].tolist() == ["fail"]
    assert any("automated attributes are computed from the population" in n for n in testing.notes)


def test_selected_key_missing_from_the_population_is_an_error(engagement):
    selection = sampling.select(["CHG-9999", "CHG-1001"], 2, seed=1)
    with pytest.raises(PopulationError, match=r"selected key\(s\) CHG-9999 are not in the population in scope"):
        test_attributes(get_procedure("change_management"), engagement.control("CM-01"), as_scoped(changes(5)), selection,
                        engagement)


def test_summary_names_the_counts(engagement):
    frame = changes(60, planted=PLANTED)
    selection = sampling.select(["CHG-1005", "CHG-1006"], 2, seed=1)
    testing = test_attributes(get_procedure("change_management"), engagement.control("CM-01"), as_scoped(frame),
                              selection, engagement)
    lines = testing.summary().splitlines()
    assert lines[0] == ("CM-01 (change_management): 2 of 2 sampled items tested, 1 with a deviation; full "
                        "population 60 changes.")
    assert lines[2] == ("  approved_before_deployment [automated]: 1 failed in the sample; 2 in the full "
                        "population (1 outside the sample)")


def test_duplicate_keys_are_refused(engagement):
    frame = pd.concat([changes(3), changes(1)], ignore_index=True)
    selection = sampling.select(["CHG-1002"], 1, seed=1)
    with pytest.raises(PopulationError, match=r"key column 'change_id' has duplicate values \(CHG-1001\)"):
        test_attributes(get_procedure("change_management"), engagement.control("CM-01"), as_scoped(frame), selection,
                        engagement)


def test_empty_population_gives_an_empty_matrix(engagement):
    frame = changes(0)
    plan = plan_sample(engagement, engagement.control("CM-01"), as_scoped(frame))
    selection = select_sample(as_scoped(frame), plan, seed=3)
    testing = test_attributes(get_procedure("change_management"), engagement.control("CM-01"), as_scoped(frame), selection,
                              engagement)
    assert testing.to_frame().empty
    assert testing.full_population_exceptions.empty
    assert testing.population_results["population"].tolist() == [0, 0, 0]
    assert (testing.items_tested, testing.deviations, testing.population_count) == (0, 0, 0)
