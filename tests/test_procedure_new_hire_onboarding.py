"""new_hire_onboarding: the HR roster's new hires as the population, ENT-01 and ENT-02 on the demo (one shared
sample of new hires, manual attributes recorded from evidence), and the Type 1 walkthrough."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest

from workbench.engagement import load_engagement
from workbench.judgements import record_walkthrough
from workbench.pipeline import run_control_test
from workbench.procedures import get_procedure
from workbench.results import ResultsStore

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
PROCEDURE = get_procedure("new_hire_onboarding")


def test_procedure_is_manual_on_the_hr_roster_dated_by_hire():
    assert (PROCEDURE.population_kind, PROCEDURE.key_column, PROCEDURE.date_column) == ("terminations",
                                                                                        "employee_id", "hired_at")
    assert PROCEDURE.attribute_ids == ("background_check_before_start", "code_of_conduct_acknowledged")
    assert all(not a.automated and not a.accuracy for a in PROCEDURE.attributes)
    assert {p.name: p.default for p in PROCEDURE.policy} == {"acknowledgement_days": 30}


def hires_in(engagement: str, start: date, end: date) -> set[str]:
    path = SAMPLE / engagement / "populations" / "hr_roster_2026-07-02.csv"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return {r["Employee ID"] for r in csv.DictReader(handle) if start <= date.fromisoformat(r["Hire Date"]) <= end}


def record(run: dict, control_id: str) -> dict:
    return json.loads((run["out"] / "records" / f"{control_id}.json").read_text())


def test_ent01_and_ent02_test_one_shared_sample_of_the_period_new_hires(demo_run):
    new_hires = hires_in("acme-type2", date(2025, 7, 1), date(2026, 6, 30))
    one, two = record(demo_run, "ENT-01"), record(demo_run, "ENT-02")
    assert one["population_count"] == two["population_count"] == len(new_hires) == 80
    assert one["selected_keys"] == two["selected_keys"] and set(one["selected_keys"]) <= new_hires
    assert len(one["selected_keys"]) == 22 and "ENT-02" in one["shared_with"]
    for found, wording in ((one, "the code of conduct and acceptable use policy were acknowledged at hire"),
                           (two, "a background check was completed before the start date")):
        # the demo's filled templates record the manual results: ENT-01 with its planted failure (E10422)
        planted = {"ENT-01": {("E10422", "code_of_conduct_acknowledged")}, "ENT-02": set()}[found["control_id"]]
        assert {(e["item"], e["attribute_id"]) for e in found["exceptions"]} == planted
        assert found["status"] == ("not_operating_effectively" if planted else "no_exceptions_noted")
        assert found["test_performed"] == (
            "Inspected the onboarding file (background check report, signed acknowledgements) for a sample of 22 "
            f"people hired during the period to determine that {wording}.")
        assert demo_run["rows"][found["control_id"]]["status"] != "not_yet_tested"


def test_ent01_and_ent02_type1_walk_through_one_new_hire_of_the_window(demo_type1_run):
    new_hires = hires_in("acme-type1", date(2026, 4, 2), date(2026, 6, 30))
    for control_id in ("ENT-01", "ENT-02"):
        found = record(demo_type1_run, control_id)
        assert found["population_count"] == len(new_hires) and found["sample_size"] == 1
        assert set(found["selected_keys"]) <= new_hires and found["result_text"] == ""
        assert "for one person hired on or before 2026-06-30 (walkthrough)" in found["test_performed"]


def test_a_recorded_background_check_failure_is_a_sample_deviation(type2_copy):
    engagement = load_engagement(type2_copy)
    keys = run_control_test(engagement, "ENT-02").selection.keys
    with ResultsStore.open(engagement) as store:
        for number, key in enumerate(keys):
            store.record("ENT-02", key, "background_check_before_start", "fail" if number == 3 else "pass",
                         tested_by="DR", evidence_ref=f"Sterling report {key}", evidence_date="2026-07-20",
                         comment="report completed 2 days after the start date" if number == 3 else None)
    record_walkthrough(engagement, "ENT-02", by="DR", instance=keys[0], inquiry_of="Grace Whitfield, Head of People",
                       inquiry_date="2026-07-15", inspected="the background check report and the offer letter",
                       observed="a cleared report dated before the start date", design="suitably designed")
    test = run_control_test(engagement, "ENT-02")
    evaluation = test.evaluation
    assert evaluation.result_text == ("For 1 of 22 sampled new hires, a background check was not completed before "
                                      "the start date.")
    assert evaluation.status == "evaluation_pending"
    assert evaluation.exceptions["item"].tolist() == [keys[3]]
    # ENT-01 shares the sample but tests its own attribute: still in progress
    assert run_control_test(engagement, "ENT-01").evaluation.status == "testing_in_progress"


@pytest.mark.parametrize("control_id", ["ENT-01", "ENT-02"])
def test_matrix_rows(control_id, demo_type2):
    engagement = load_engagement(demo_type2)
    control = engagement.control(control_id)
    assert (control.procedure, control.populations, control.frequency) == ("new_hire_onboarding", ("hr_roster",),
                                                                           "as_needed")
    assert control.attributes == (("code_of_conduct_acknowledged",) if control_id == "ENT-01"
                                  else ("background_check_before_start",))
