"""Firm-defined procedures: TOML files that add a procedure without touching the package.

The rules on small hand-made frames (pass, fail, n/a, missing data, policy settings); reading files (every
problem names the file, the line and the fix; the firm library folder); and the worked example of
docs/procedures-library.md run end to end by ``workbench run`` on a copy of the demo whose matrix names it,
with the exceptions computed from the raw Jira export.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from conftest import ROOT, SAMPLE_DATA, copy_engagement
from workbench import cli
from workbench.engagement import load_engagement
from workbench.errors import EngagementError, PopulationError
from workbench.library import is_testable, procedure_of
from workbench.pipeline import run_control_test
from workbench.procedures.base import CheckContext, RelatedFrame
from workbench.procedures.rules import Before, Condition, Differ, ExistsIn, InList, Present

DOC = ROOT / "docs" / "procedures-library.md"
NAME = "firm_emergency_approval"


def example_toml() -> str:
    """The worked example of docs/procedures-library.md (the ```toml block that starts with its file name)."""
    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    return next(b for b in blocks if b.startswith(f"# procedures/{NAME}.toml"))


def outcomes(result: pd.DataFrame) -> list[str]:
    return [str(v) for v in result["outcome"]]


def stamp(text: str | None) -> pd.Timestamp:
    return pd.Timestamp(text, tz="America/New_York") if text else pd.NaT


# --------------------------------------------------------------------------------------------------
# Rules on hand-made frames
# --------------------------------------------------------------------------------------------------
def test_present():
    frame = pd.DataFrame({"approver": ["amy", None, "  ", "bob"]})
    result = Present(column="approver")(frame, CheckContext())
    assert outcomes(result) == ["pass", "fail", "fail", "pass"]
    assert result["reason"].iloc[1] == "no approver recorded"


def test_before_with_and_without_a_window():
    frame = pd.DataFrame({
        "approved_at": [stamp("2026-02-25 09:00"), stamp("2026-02-25 22:00"), stamp("2026-02-26 10:00"),
                        stamp("2026-03-03 10:30"), None, stamp("2026-02-25 09:00")],
        "deployed_at": [stamp("2026-02-25 14:00")] * 5 + [None],
    })
    strict = Before(column="approved_at", reference="deployed_at")(frame, CheckContext(timezone="America/New_York"))
    assert outcomes(strict) == ["pass", "fail", "fail", "fail", "fail", "n/a"]
    assert strict["reason"].iloc[4] == "no approved_at recorded" and strict["reason"].iloc[5] == "no deployed_at"
    assert strict["reason"].iloc[1] == "approved_at 2026-02-25 22:00 after deployed_at 2026-02-25 14:00"
    window = Before(column="approved_at", reference="deployed_at", within_business_days="approval_window")
    context = CheckContext(policy={"approval_window": 1}, timezone="America/New_York")
    result = window(frame, context)
    assert outcomes(result) == ["pass", "pass", "pass", "fail", "fail", "n/a"]
    assert result["reason"].iloc[3] == ("approved_at 2026-03-03 10:30 after deployed_at 2026-02-25 14:00 (4 business "
                                        "days; at most 1 allowed)")
    assert outcomes(Before(column="approved_at", reference="deployed_at", within_business_days=4)(frame, context)) \
        == ["pass", "pass", "pass", "pass", "fail", "n/a"]


def test_differ():
    frame = pd.DataFrame({"approver": ["amy", "Bob ", None, "carl"], "author": ["bob", "bob", "dan", None]})
    result = Differ(column="approver", other="author")(frame, CheckContext())
    assert outcomes(result) == ["pass", "fail", "fail", "fail"]
    assert list(result["reason"])[1:] == ["approver is the author (Bob)", "no approver recorded",
                                          "no author recorded, so the two cannot be shown to differ"]


def test_in_list_literal_and_from_policy():
    frame = pd.DataFrame({"dpa": ["Y", "yes", "N", None]})
    assert outcomes(InList(column="dpa", values=("Y", "Yes"))(frame, CheckContext())) == ["pass", "pass", "fail", "fail"]
    from_policy = InList(column="dpa", values="accepted")(frame, CheckContext(policy={"accepted": "Y; true"}))
    assert outcomes(from_policy) == ["pass", "fail", "fail", "fail"]
    assert from_policy["reason"].iloc[2] == "dpa 'N' is not one of: Y, true"


def test_when_makes_other_records_not_applicable():
    frame = pd.DataFrame({"customer_data_access": ["Y", "N", "Y", None], "dpa": ["Y", None, None, None]})
    rule = Present(when=Condition("customer_data_access", ("y",)), column="dpa")
    result = rule(frame, CheckContext())
    assert outcomes(result) == ["pass", "n/a", "fail", "n/a"]
    assert result["reason"].iloc[1] == "customer_data_access is not 'y'"
    assert rule.columns == ("dpa", "customer_data_access")


def test_exists_in_matches_a_related_population():
    changes = pd.DataFrame({"change_id": ["CHG-1", "chg-2", "CHG-3", None]})
    deployments = pd.DataFrame({"change_id": ["CHG-1", "CHG-2", "CHG-3"], "deployed_at": [1, 2, 3]})
    related = RelatedFrame("deployments", "deployments", deployments, np.array([True, True, False]), "d.csv")
    anywhere = ExistsIn(kind="deployments", on=(("change_id", "change_id"),))
    assert outcomes(anywhere(changes, CheckContext(related=(related,)))) == ["pass", "pass", "pass", "fail"]
    window = ExistsIn(kind="deployments", on=(("change_id", "change_id"),), in_window=True)
    result = window(changes, CheckContext(related=(related,)))
    assert outcomes(result) == ["pass", "pass", "fail", "fail"]
    assert result["reason"].iloc[2] == "no deployments record in the window with change_id 'chg-3'"
    with pytest.raises(PopulationError, match="the control names no deployments population"):
        anywhere(changes, CheckContext())


# --------------------------------------------------------------------------------------------------
# Reading procedure files
# --------------------------------------------------------------------------------------------------
def with_procedure(folder: Path, text: str, name: str = NAME, where: str = "procedures") -> Path:
    target = folder / where
    target.mkdir(parents=True, exist_ok=True)
    (target / f"{name}.toml").write_text(text, encoding="utf-8")
    return folder


def add_matrix_row(folder: Path, control_id: str = "FIRM-01", procedure: str = NAME, populations: str = "changes",
                   frequency: str = "as_needed") -> None:
    book = openpyxl.load_workbook(folder / "controls.xlsx")
    sheet = book["Controls"]
    header = [c.value for c in sheet[1]]
    values = {"Control ID": control_id, "Description": "Emergency changes are approved within one business day of "
                                                      "deployment by someone other than the author.",
              "Criteria": "CC8.1", "Owner": "Priya Shah", "Frequency": frequency, "Nature": "manual",
              "Procedure": procedure, "Populations": populations}
    sheet.append([values.get(h, None) for h in header])
    book.save(folder / "controls.xlsx")


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if fragment in line)


def test_the_worked_example_loads(type2_copy):
    text = example_toml()
    with_procedure(type2_copy, text)
    add_matrix_row(type2_copy)
    engagement = load_engagement(type2_copy)
    procedure = engagement.procedures[NAME]
    assert procedure.source == f"acme-type2/procedures/{NAME}.toml"
    assert [a.id for a in procedure.attributes] == ["approved_in_window", "approver_not_author", "review_evidenced",
                                                    "agreed_to_source"]
    assert [a.kind for a in procedure.attributes] == ["automated", "automated", "manual", "manual"]
    assert procedure.attributes[-1].accuracy
    assert (procedure.attributes[2].compared_date_column, procedure.attributes[2].compared_date_relation) == \
        ("deployed_at", "on_or_after")
    assert any(f"firm procedure '{NAME}'" in note and "agreed_to_source check was added" in note
               for note in engagement.notes)
    control = engagement.control("FIRM-01")
    assert is_testable(engagement, control) and procedure_of(engagement, control) is procedure
    assert control.record_filter is not None and control.record_filter.text == "change_type = emergency"
    assert procedure.policy_parameter("approval_window").default == 1


@pytest.mark.parametrize("change, fragment, message", [
    (('column = "approved_at"', 'column = "approved"'), 'column = "approved"',
     "[[attributes]] #1 column: 'approved' is not a date column of changes populations. Did you mean 'approved_at'?"),
    (('rule = "before"', 'rule = "after"'), 'rule = "after"',
     "[[attributes]] #1 rule: 'after' is not a rule type."),
    (('objective = "a post-implementation review', 'objectiv = "a post-implementation review'), "objectiv =",
     "[[attributes]] #3 objectiv: unknown key. Did you mean 'objective'?"),
    (('within_business_days = "approval_window"', 'within_business_days = "window"'), 'within_business_days =',
     "[[attributes]] #1 within_business_days: must be a whole number >= 0 or the name of a whole-number "
     "[policy.<name>] of this file (approval_window)"),
    (('population_kind = "changes"', 'population_kind = "change"'), "population_kind =",
     "population_kind: 'change' is not a population kind. Did you mean 'changes'?"),
    (('default = 1', 'default = -1'), "default = -1", "[policy.approval_window] default: must be a whole number >= 0"),
    (('name = "firm_emergency_approval"', 'name = "emergency_change"'), 'name = "emergency_change"',
     "name: 'emergency_change' is a procedure of the package; give the firm's procedure a name of its own"),
    (('kind = "manual"', 'kind = "manual"\nrule = "present"'), 'rule = "present"',
     "[[attributes]] #3 rule: a manual attribute has no rule"),
    (('compared_date_column = "deployed_at"', 'compared_date_column = "deployed"'), 'compared_date_column = "deployed"',
     "[[attributes]] #3 compared_date_column: 'deployed': a manual attribute compares its evidence date with one of "
     "the date columns of kind changes: created_at, approved_at, deployed_at."),
    (('compared_date_relation = "on_or_after"', 'compared_date_relation = "after"'), 'compared_date_relation = "after"',
     "[[attributes]] #3 compared_date_relation: 'after' is not allowed; use \"on_or_before\" or \"on_or_after\"."),
])
def test_a_bad_file_gets_one_message_with_file_line_and_fix(type2_copy, change, fragment, message):
    text = example_toml().replace(*change)
    with_procedure(type2_copy, text)
    with pytest.raises(EngagementError) as raised:
        load_engagement(type2_copy)
    expected = f"acme-type2/procedures/{NAME}.toml, line {line_of(text, fragment)}, {message}"
    lines = [line for line in str(raised.value).splitlines() if f"{NAME}.toml" in line]
    assert len(lines) == 1, lines
    assert expected in lines[0], lines[0]


def test_a_toml_syntax_error_is_named_with_its_line(type2_copy):
    with_procedure(type2_copy, example_toml().replace('title = "Emergency', 'title = Emergency'))
    with pytest.raises(EngagementError, match=rf"acme-type2/procedures/{NAME}.toml: TOML syntax error: .*line 3"):
        load_engagement(type2_copy)


def test_the_matrix_accepts_firm_names_only_when_the_file_exists(type2_copy):
    add_matrix_row(type2_copy)
    with pytest.raises(EngagementError, match=rf"'{NAME}' is not a known procedure.*A firm procedure is a TOML file"):
        load_engagement(type2_copy)


def test_the_firm_library_folder(type2_copy):
    library = type2_copy.parent / "firm-procedures"
    with_procedure(library, example_toml(), where=".")
    toml = type2_copy / "engagement.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text.replace("[engagement]\n", "[engagement]\nprocedure_library = \"../firm-procedures\"\n", 1),
                    encoding="utf-8")
    add_matrix_row(type2_copy)
    engagement = load_engagement(type2_copy)
    assert engagement.procedure_library == library.resolve()
    assert engagement.procedures[NAME].source == f"firm-procedures/{NAME}.toml"
    # the engagement's own file replaces the library's, and says so
    with_procedure(type2_copy, example_toml().replace("default = 1", "default = 2"))
    engagement = load_engagement(type2_copy)
    assert engagement.procedures[NAME].policy_parameter("approval_window").default == 2
    assert any("replaces the library's" in note for note in engagement.notes)
    for written, message in (("../no-such-folder", "folder '../no-such-folder' not found"),
                             ("/abs/firm", "'/abs/firm' is an absolute path; give the firm library's path relative "
                                           "to the engagement folder")):
        toml.write_text(text.replace("[engagement]\n", f"[engagement]\nprocedure_library = \"{written}\"\n", 1),
                        encoding="utf-8")
        with pytest.raises(EngagementError, match=rf"engagement.toml, line 3, \[engagement\] procedure_library: "
                                                  rf"{re.escape(message)}"):
            load_engagement(type2_copy)


def test_policy_thresholds_and_the_fingerprint(type2_copy):
    with_procedure(type2_copy, example_toml())
    add_matrix_row(type2_copy)
    engagement = load_engagement(type2_copy)
    default = run_control_test(engagement, "FIRM-01")
    assert set(default.evaluation.exception_items) == {"CHG-2060"}
    toml = type2_copy / "engagement.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + f"\n[policy.{NAME}]\napproval_window = 5\n", encoding="utf-8")
    wider = run_control_test(load_engagement(type2_copy), "FIRM-01")
    assert wider.policy.sources["approval_window"] == f"engagement.toml [policy.{NAME}]"
    assert wider.evaluation.exception_items == ()
    # the procedure file is an input: editing it changes the fingerprint's procedure component
    with_procedure(type2_copy, example_toml() + "\n# reviewed by the methodology group\n")
    edited = run_control_test(load_engagement(type2_copy), "FIRM-01")
    assert edited.fingerprint.components["procedure"] != wider.fingerprint.components["procedure"]
    assert wider.fingerprint.components["procedure"] == default.fingerprint.components["procedure"]


# --------------------------------------------------------------------------------------------------
# End to end: a procedure added through a TOML file alone, run by `workbench run`
# --------------------------------------------------------------------------------------------------
def raw_emergency_exceptions(folder: Path) -> set[str]:
    """From the raw Jira export (sample_data/README.md's rules): emergency changes deployed in the period whose
    approval is blank or more than one business day after the deployment date (local dates), or whose approver is
    blank or the author."""
    text = (folder / "populations/jira_changes_FY26.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    first = {name: rows[0].index(name) for name in rows[0]}
    found = set()
    for raw in rows[1:]:
        row = {name: raw[i] for name, i in first.items()}
        if row["Custom field (Change type)"].strip().lower() != "emergency":
            continue
        deployed = dt.datetime.strptime(row["Custom field (Deployed)"], "%d/%b/%y %I:%M %p")
        if not dt.datetime(2025, 7, 1) <= deployed < dt.datetime(2026, 7, 1):
            continue
        approved = row["Custom field (Approved)"]
        late = not approved or np.busday_count(
            deployed.date(), dt.datetime.strptime(approved, "%d/%b/%y %I:%M %p").date()) > 1
        approver, author = row["Custom field (Approver)"].strip(), row["Assignee Id"].strip()
        if late or not approver or approver.lower() == author.lower():
            found.add(row["Issue key"])
    return found


def test_a_procedure_added_through_a_toml_file_alone_runs_end_to_end(tmp_path):
    folder = copy_engagement(SAMPLE_DATA / "acme-type2", tmp_path / "acme-type2")
    with_procedure(folder, example_toml())
    add_matrix_row(folder)
    assert cli.main(["run", str(folder), "--controls", "FIRM-01", "--workers", "1", "--no-progress"]) == 0
    record = json.loads((folder / "output" / "records" / "FIRM-01.json").read_text(encoding="utf-8"))
    expected = raw_emergency_exceptions(folder)
    assert expected == {"CHG-2060"}
    assert set(record["exception_items"]) == expected
    assert record["procedure"] == NAME
    assert record["population_count"] == 33
    # the manual review is not recorded yet: testing in progress, with the census exception already stated
    assert record["status"] == "testing_in_progress"
    assert "For 1 of 33 emergency changes deployed during the period, the emergency change was not approved within " \
           "the policy window after deployment." in record["result_text"]
    book = openpyxl.load_workbook(folder / "output" / "FIRM-01.xlsx", read_only=True)
    exceptions = [r for r in book["Exceptions"].iter_rows(values_only=True) if r and "CHG-2060" in r]
    assert exceptions
    lead = [str(c) for r in book["Lead"].iter_rows(values_only=True) for c in r if c]
    assert f"Emergency change approval (firm procedure) ({NAME})" in lead


def test_a_periodic_control_acting_on_every_record_is_sized_over_the_records(type2_copy):
    # the same firm procedure for a "weekly" control: the frequency table gives 5; flagged sample_per_record, the
    # 33 emergency changes are sized as a transaction population (binomial, 90 %, 10 %, 0 %: 22)
    with_procedure(type2_copy, example_toml())
    add_matrix_row(type2_copy, frequency="weekly")
    assert run_control_test(load_engagement(type2_copy), "FIRM-01").sample_plan.plan.sample_size == 5
    with_procedure(type2_copy, example_toml().replace('population_kind = "changes"',
                                                      'population_kind = "changes"\nsample_per_record = true'))
    plan = run_control_test(load_engagement(type2_copy), "FIRM-01").sample_plan
    assert plan.plan is not None and plan.plan.sample_size == 22
    assert "operating weekly on each of its" in dict(plan.to_table())["Why this size"]
    with_procedure(type2_copy, example_toml().replace('population_kind = "changes"',
                                                      'population_kind = "changes"\nsample_per_record = "yes"'))
    with pytest.raises(EngagementError, match=r"sample_per_record: must be true or false \(no quotes\), got "):
        load_engagement(type2_copy)
