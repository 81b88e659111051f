"""The automated_control procedure: one instance of the configuration, reliance on the IT general controls
(their recorded conclusions), evidence that the configuration did not change (the demo's AC-05, AC-06, OPS-01)."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from conftest import SAMPLE_DATA, copy_engagement, run_stages
from workbench.engagement import load_engagement
from workbench.errors import ParameterError
from workbench.library import procedure_of
from workbench.pipeline import run_control_test
from workbench.procedures.automated_control import DEFAULT_ITGC_CONTROLS
from workbench.reliance import relied_on, reliance_of
from workbench.results import ResultsStore
from workbench.workpaper import write_workpaper

AUTOMATED = ("AC-05", "AC-06", "OPS-01")


def with_toml(folder: Path, text: str) -> Path:
    toml = folder / "engagement.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")
    return folder


def conclude(engagement, control_id: str, conclusion: str) -> None:
    """A conclusion as the tester records it (written straight to the store: these tests are about reading it)."""
    with ResultsStore.open(engagement) as store:
        store.append("conclusion", {"control_id": control_id},
                     {"conclusion": conclusion, "proposed": conclusion, "fingerprint": "0" * 64, "components": {}},
                     who="DR")


def raw_rows() -> dict[str, dict[str, str]]:
    sheet = openpyxl.load_workbook(SAMPLE_DATA / "acme-type2" / "controls.xlsx", read_only=True)["Controls"]
    rows = list(sheet.iter_rows(values_only=True))
    return {str(r[0]): {str(h): ("" if v is None else str(v)) for h, v in zip(rows[0], r)} for r in rows[1:] if r[0]}


def test_the_demo_matrix_names_automated_control():
    rows = raw_rows()
    for control_id in AUTOMATED:
        assert (rows[control_id]["Procedure"], rows[control_id]["Nature"], rows[control_id]["Frequency"],
                rows[control_id]["Populations"]) == ("automated_control", "automated", "many_times_a_day", "")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = copy_engagement(SAMPLE_DATA / "acme-type2", tmp_path_factory.mktemp("automated") / "acme-type2")
    engagement = load_engagement(folder)
    return {cid: run_control_test(engagement, cid) for cid in AUTOMATED}


def test_one_instance_as_of_the_period_end(demo, tmp_path):
    for control_id in AUTOMATED:
        test = demo[control_id]
        assert list(test.scope.frame["occurrence_id"]) == ["configuration-as-of-2026-06-30"]
        assert test.population.derived == "period_end"
        assert (test.sample_plan.sample_size, test.sample_plan.kind, test.sample_plan.test_all) == (1, "one_instance",
                                                                                                    True)
        assert test.sample_plan.basis.startswith("Automated control: it performs the same way every time")
        assert test.selection.keys == ("configuration-as-of-2026-06-30",)
        # nothing is concluded yet: the ITGC reliance is pending and the manual attributes are not recorded
        assert test.evaluation.status == "testing_in_progress"
        cells = test.testing.item_results.set_index("attribute_id")
        assert cells.loc["itgc_reliance", "outcome"] == "not tested"
        procedures = {p.strip() for p in DEFAULT_ITGC_CONTROLS.split(";")}
        itgcs = [cid for cid, row in raw_rows().items() if row["Procedure"] in procedures]
        assert cells.loc["itgc_reliance", "reason"] == f"IT general control(s) not concluded yet: {', '.join(itgcs)}"
    path = write_workpaper(tmp_path, demo["AC-05"])
    sampling = [str(c) for r in openpyxl.load_workbook(path, read_only=True)["Sampling"].iter_rows(values_only=True)
                for c in r if c]
    assert any(c.startswith("Automated control: it performs the same way every time") for c in sampling)


def test_the_default_itgc_controls_are_the_change_and_access_controls_of_the_matrix(demo):
    test = demo["AC-05"]
    assert test.policy.value("itgc_controls") == DEFAULT_ITGC_CONTROLS
    procedures = {p.strip() for p in DEFAULT_ITGC_CONTROLS.split(";")}
    expected = [cid for cid, row in raw_rows().items() if row["Procedure"] in procedures]
    found = [c.id for c in relied_on(test.engagement, test.control, DEFAULT_ITGC_CONTROLS)]
    assert found == expected and {"CM-01", "CM-02", "CM-03", "AC-01", "AC-02", "AC-03", "AC-04"} <= set(found)


def test_reliance_follows_the_recorded_conclusions(type2_copy):
    with_toml(type2_copy, "[controls.AC-05.policy]\nitgc_controls = \"CM-01; AC-02\"\n")
    engagement = load_engagement(type2_copy)
    control = engagement.control("AC-05")
    names = "CM-01; AC-02"
    assert reliance_of(engagement, control, names).outcome == "not tested"
    conclude(engagement, "CM-01", "exceptions_noted")
    pending = reliance_of(engagement, control, names)
    assert (pending.outcome, pending.reason) == ("not tested", "IT general control(s) not concluded yet: AC-02")
    conclude(engagement, "AC-02", "no_exceptions_noted")
    passed = reliance_of(engagement, control, names)
    assert passed.outcome == "pass" and "CM-01: exceptions noted (recorded by DR" in passed.evidence
    stages = run_stages(type2_copy, "AC-05")
    cell = stages["testing"].item_results.set_index("attribute_id").loc["itgc_reliance"]
    assert (cell["outcome"], cell["source"]) == ("pass", "recorded conclusions")
    before = stages["test"].fingerprint.components["results"]
    conclude(engagement, "AC-02", "not_operating_effectively")
    failed = run_stages(type2_copy, "AC-05")
    cell = failed["testing"].item_results.set_index("attribute_id").loc["itgc_reliance"]
    assert cell["outcome"] == "fail"
    assert cell["reason"] == ("IT general control(s) not effective: AC-02 (not operating effectively); the automated "
                              "control cannot be relied on without further testing")
    assert failed["test"].fingerprint.components["results"] != before   # the conclusions are inputs
    assert failed["evaluation"].deviations == 1
    assert failed["evaluation"].exception_items == ("configuration-as-of-2026-06-30",)


def test_a_reliance_result_comes_to_a_conclusion_with_the_manual_attributes(type2_copy):
    with_toml(type2_copy, "[controls.OPS-01.policy]\nitgc_controls = \"CM-01\"\n")
    engagement = load_engagement(type2_copy)
    conclude(engagement, "CM-01", "no_exceptions_noted")
    key = "configuration-as-of-2026-06-30"
    with ResultsStore.open(engagement) as store:
        store.record("OPS-01", key, "configuration_enforces", "pass", tested_by="DR", evidence_ref="Datadog export",
                     evidence_date="2026-07-20")
        store.record("OPS-01", key, "configuration_unchanged", "fail", tested_by="DR", evidence_ref="audit log",
                     evidence_date="2026-07-20", comment="routing rule edited on 2026-02-03 without a ticket")
    from workbench.judgements import record_walkthrough
    record_walkthrough(engagement, "OPS-01", by="DR", instance=key, inquiry_of="Nadia Karimi", inquiry_date="2026-07-15",
                       inspected="monitor configuration", observed="a test alert paged on-call", design="suitably designed")
    evaluation = run_stages(type2_copy, "OPS-01")["evaluation"]
    assert evaluation.status == "evaluation_pending"
    assert evaluation.result_text == ("For 1 of 1 configuration instances tested, changes to the configuration during "
                                      "the period were not evidenced as authorised.")
    assert evaluation.test_performed.startswith("Inspected the system configuration and re-performed the control for "
                                                "the one instance of the configuration in effect during the period")


def test_an_unknown_itgc_name_is_refused_with_the_fix(type2_copy):
    with_toml(type2_copy, "[controls.AC-06.policy]\nitgc_controls = \"CM-01; CM-99\"\n")
    engagement = load_engagement(type2_copy)
    with pytest.raises(ParameterError, match=r"control AC-06: policy itgc_controls names 'CM-99', which is neither a "
                                             r"control of the matrix nor a procedure"):
        run_control_test(engagement, "AC-06")


def test_no_itgc_in_the_matrix_is_a_finding(type2_copy):
    # a matrix with no onboarding control: a reliance on the new_hire_onboarding procedure has nothing to rely on
    book = openpyxl.load_workbook(type2_copy / "controls.xlsx")
    sheet = book["Controls"]
    for row in reversed(range(2, sheet.max_row + 1)):
        if sheet.cell(row, 1).value in ("ENT-01", "ENT-02"):
            sheet.delete_rows(row)
    book.save(type2_copy / "controls.xlsx")
    engagement = load_engagement(type2_copy)
    found = reliance_of(engagement, engagement.control("AC-06"), "new_hire_onboarding")
    assert found.outcome == "fail" and found.reason.startswith("no control of the matrix matches 'new_hire_onboarding'")


def test_type1_tests_the_configuration_as_of_the_date(tmp_path):
    folder = copy_engagement(SAMPLE_DATA / "acme-type1", tmp_path / "acme-type1")
    engagement = load_engagement(folder)
    test = run_control_test(engagement, "AC-05")
    assert test.selection.keys == ("configuration-as-of-2026-06-30",)
    assert test.sample_plan.kind == "type1" and test.sample_plan.sample_size == 1
    assert procedure_of(engagement, engagement.control("AC-05")).name == "automated_control"
