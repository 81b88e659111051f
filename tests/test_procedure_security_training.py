"""security_training: completion by the due date and coverage against the HR roster on hand-made frames; ENT-03
on both demos, its exceptions recomputed from the raw LMS and HR CSVs with the README's rules; its workpaper."""

from __future__ import annotations

import csv
import json
import tomllib
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from conftest import run_stages
from workbench.procedures import get_procedure
from workbench.procedures.base import CheckContext, RelatedFrame
from workbench.procedures.security_training import required_people

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
PROCEDURE = get_procedure("security_training")
TZ = "America/New_York"
DEFAULTS = {"new_hire_days": 30, "annual_days": 365}
DT = f"datetime64[us, {TZ}]"


def stamps(values) -> pd.Series:
    return pd.Series([pd.Timestamp(v, tz=TZ) if v else pd.NaT for v in values], dtype=DT)


def roster(*rows: tuple[str, str, str | None, str | None]) -> pd.DataFrame:
    """(employee id, e-mail, hired, terminated) rows of an HR roster."""
    return pd.DataFrame({"employee_id": [r[0] for r in rows], "user_id": [r[1] for r in rows],
                         "email": [r[1] for r in rows], "hired_at": stamps([r[2] for r in rows]),
                         "terminated_at": stamps([r[3] for r in rows])})


def enrollments(*rows: tuple[str, str, str | None, str | None]) -> pd.DataFrame:
    """(record id, e-mail, due, completed) rows of an LMS export."""
    return pd.DataFrame({"record_id": [r[0] for r in rows], "user_id": [r[1] for r in rows],
                         "course": ["Security Awareness"] * len(rows), "due_at": stamps([r[2] for r in rows]),
                         "completed_at": stamps([r[3] for r in rows])})


def context(hr: pd.DataFrame | None = None, start: str = "2025-07-01", end: str = "2026-07-01",
            **policy: object) -> CheckContext:
    related = () if hr is None else (RelatedFrame("hr_roster", "terminations", hr, np.ones(len(hr), dtype=bool),
                                                  "hr.csv"),)
    return CheckContext(policy={**DEFAULTS, **policy}, related=related, timezone=TZ,
                        window_start=pd.Timestamp(start, tz=TZ), window_end=pd.Timestamp(end, tz=TZ))


HR = roster(("E1", "ann@x.example", "2019-01-07", None),
            ("E2", "Bob@X.example", "2019-01-07", "2025-10-15"),
            ("E3", "cy@x.example", "2025-08-04", None),
            ("E4", "dee@x.example", "2025-08-04", None),
            ("E5", "eve@x.example", "2026-06-10", None),
            ("E6", "fay@x.example", "2018-05-01", None),
            ("E7", "gus@x.example", "2020-02-03", "2026-03-01"))


def test_procedure_declares_its_attributes_and_policy():
    assert PROCEDURE.attribute_ids == ("completed_by_due_date", "enrolled_per_policy", "agreed_to_source")
    over = PROCEDURE.attribute("enrolled_per_policy")
    assert over.over == "terminations" and over.over_records is required_people
    assert {p.name: p.default for p in PROCEDURE.policy} == DEFAULTS


# ---- completed_by_due_date -------------------------------------------------------------------------------

def test_completed_by_due_date():
    frame = enrollments(("on-time", "ann@x.example", "2025-10-31", "2025-10-31"),
                        ("late", "ann@x.example", "2025-10-31", "2025-11-03"),
                        ("missing", "ann@x.example", "2025-10-31", None),
                        ("left", "bob@x.example", "2025-10-31", None),
                        ("left-after", "gus@x.example", "2025-10-31", None),
                        ("no-due", "ann@x.example", None, "2025-10-01"),
                        ("not-on-roster", "zed@x.example", "2025-10-31", None))
    check = PROCEDURE.attribute("completed_by_due_date").run(frame, context(HR))
    outcome = dict(zip(frame["record_id"], check.outcome.astype(str)))
    reason = dict(zip(frame["record_id"], check.reason))
    assert outcome == {"on-time": "pass", "late": "fail", "missing": "fail", "left": "n/a", "left-after": "fail",
                       "no-due": "fail", "not-on-roster": "fail"}
    assert reason["late"] == "completed 2025-11-03, after the due date 2025-10-31"
    assert reason["missing"] == "not completed (due 2025-10-31)"
    assert reason["left"] == "left on 2025-10-15, on or before the due date 2025-10-31"
    assert reason["no-due"] == "no due date recorded"


def test_without_an_hr_roster_nobody_is_excused():
    frame = enrollments(("left", "bob@x.example", "2025-10-31", None))
    check = PROCEDURE.attribute("completed_by_due_date").run(frame, context())
    assert check.outcome.astype(str).tolist() == ["fail"]


# ---- enrolled_per_policy (over the HR roster) ------------------------------------------------------------

def test_required_people_type2_and_type1():
    type2 = required_people(HR, context(HR))
    assert HR.loc[type2, "employee_id"].tolist() == ["E1", "E3", "E4", "E6"]      # E5 hired < 30 days before end
    type1 = required_people(HR, context(HR, start="2026-04-02"))                   # a 90-day window: new hires only
    assert HR.loc[type1, "employee_id"].tolist() == []
    type1 = required_people(HR, context(HR, start="2026-04-02", new_hire_days=10))
    assert HR.loc[type1, "employee_id"].tolist() == ["E5"]


def test_enrolled_per_policy_finds_people_left_out_of_the_training_system():
    lms = enrollments(("r1", "ANN@x.example", "2025-10-31", "2025-10-01"),
                      ("r2", "cy@x.example", "2025-09-03", "2025-08-20"),       # new hire: due hire + 30
                      ("r3", "dee@x.example", "2025-10-31", "2025-10-02"))      # new hire: only the annual course
    results = PROCEDURE.run_related_checks(lms, None, context(HR))
    people, check = results["enrolled_per_policy"]
    outcome = dict(zip(people["employee_id"], check.outcome.astype(str)))
    reason = dict(zip(people["employee_id"], check.reason))
    assert outcome == {"E1": "pass", "E3": "pass", "E4": "fail", "E6": "fail"}
    assert reason["E4"] == ("dee@x.example, hired 2025-08-04: first enrollment due 2025-10-31, more than 30 days "
                            "after the hire date")
    assert reason["E6"] == ("fay@x.example, hired 2018-05-01: no training enrollment due in the window (absent from "
                            "the training export for the period)")
    results = PROCEDURE.run_related_checks(lms, None, context(HR, new_hire_days=90))
    people, check = results["enrolled_per_policy"]
    assert dict(zip(people["employee_id"], check.outcome.astype(str)))["E4"] == "pass"


def test_a_person_without_an_email_fails_and_a_roster_is_required():
    hr = roster(("E9", None, "2019-01-07", None))
    people, check = PROCEDURE.run_related_checks(enrollments(), None, context(hr))["enrolled_per_policy"]
    assert check.outcome.astype(str).tolist() == ["fail"]
    assert check.reason.tolist() == ["no work e-mail on the HR record to find the person in the training export"]
    with pytest.raises(Exception, match="terminations population"):
        PROCEDURE.run_related_checks(enrollments(), None, context())


# ---- the demo: ENT-03 ------------------------------------------------------------------------------------

def raw(engagement: str, pattern: str, encoding: str = "utf-8") -> list[dict[str, str]]:
    path = next((SAMPLE / engagement / "populations").glob(pattern))
    with path.open(encoding=encoding, newline="") as handle:
        return list(csv.DictReader(handle))


def raw_training_exceptions(engagement: str) -> dict[str, set[str]]:
    """The README rules over the raw LMS and HR exports."""
    hr = {r["Work Email"].lower(): r for r in raw(engagement, "hr_roster_*.csv", "utf-8-sig")}
    settings = tomllib.loads((SAMPLE / engagement / "engagement.toml").read_text(encoding="utf-8"))["engagement"]
    end = settings.get("period_end") or settings["as_of"]

    def left(person: dict[str, str]) -> date | None:
        value = person["Termination Date"]
        return None if value == "N/A-StillEmployed" else date.fromisoformat(value)

    found: dict[str, set[str]] = {"not_completed": set(), "not_enrolled": set()}
    enrolled = set()
    for t in raw(engagement, "lms_security_training_*.csv"):
        email = t["User Email"].lower()
        enrolled.add(email)
        due, term = date.fromisoformat(t["Due Date"]), left(hr[email])
        if t["Completion Date"] == "" and due <= end and (term is None or term > due):
            found["not_completed"].add(t["Enrollment ID"])
    for email, person in hr.items():
        if left(person) is None and date.fromisoformat(person["Hire Date"]) <= end - timedelta(days=30) \
                and email not in enrolled:
            found["not_enrolled"].add(person["Employee ID"])
    return found


def readme_ids(engagement: str, population: str, check: str) -> set[str]:
    text = (SAMPLE / "README.md").read_text(encoding="utf-8").split("## Planted exceptions", 1)[1]
    body = text.split(f"#### {engagement} / {population}\n", 1)[1].split("####", 1)[0]
    return {line.split("`")[1] for line in body.splitlines() if line.startswith("| `") and f"`{check}`" in line}


def test_every_new_hire_of_the_period_has_a_new_hire_enrollment_due_within_30_days():
    """The README's promise behind enrolled_per_policy: only the planted person is left out."""
    hr = raw("acme-type2", "hr_roster_*.csv", "utf-8-sig")
    first_due: dict[str, date] = {}
    for t in raw("acme-type2", "lms_security_training_*.csv"):
        email, due = t["User Email"].lower(), date.fromisoformat(t["Due Date"])
        first_due[email] = min(due, first_due.get(email, due))
    for person in hr:
        hired = date.fromisoformat(person["Hire Date"])
        if date(2025, 7, 1) <= hired <= date(2026, 6, 30) - timedelta(days=30):
            assert first_due[person["Work Email"].lower()] <= hired + timedelta(days=30), person["Employee ID"]


def test_ent03_finds_exactly_the_planted_training_exceptions(demo_run):
    expected = raw_training_exceptions("acme-type2")
    assert expected == {check: readme_ids("acme-type2", "training", check) for check in expected}
    assert (len(expected["not_completed"]), expected["not_enrolled"]) == (5, {"E10114"})
    found = json.loads((demo_run["out"] / "records" / "ENT-03.json").read_text())
    pairs = {(e["item"], e["attribute_id"]) for e in found["exceptions"]}
    assert pairs == {(i, "completed_by_due_date") for i in expected["not_completed"]} | {
        ("E10114", "enrolled_per_policy")}
    assert demo_run["rows"]["ENT-03"]["status"] != "not_yet_tested"
    in_scope = sum(1 for t in raw("acme-type2", "lms_security_training_*.csv")
                   if date.fromisoformat(t["Due Date"]) <= date(2026, 6, 30))
    assert found["population_count"] == in_scope
    assert (f"For 5 of {in_scope:,} security awareness training enrollments due during the period, the training "
            f"was not completed by its due date." in found["result_text"])
    assert ("people on the HR roster employed at the end of the period, the person was not enrolled in security "
            "awareness training as the policy requires." in found["result_text"])


def test_ent03_type1_tests_the_new_hires_of_the_window(demo_type1_run):
    found = json.loads((demo_type1_run["out"] / "records" / "ENT-03.json").read_text())
    assert found["exceptions"] == [] and found["result_text"] == "" and found["sample_size"] == 1
    assert "people on the HR roster employed at the end of the period (full-population analysis)" in \
        found["test_performed"]


def test_ent03_workpaper_lists_the_enrollments_and_the_person_left_out(demo_run):
    book = openpyxl.load_workbook(demo_run["out"] / "ENT-03.xlsx", read_only=True)
    sheet = list(book["Exceptions"].iter_rows(values_only=True))
    header = next(i for i, row in enumerate(sheet) if row and row[0] == "Item")
    items = {row[0]: " ".join(str(v) for v in row if v is not None) for row in sheet[header + 1:] if row and row[0]}
    expected = raw_training_exceptions("acme-type2")
    assert set(items) == expected["not_completed"] | expected["not_enrolled"]
    assert "luis.pereira@acmecloud.example" in items["E10114"]


def test_an_enrollment_of_someone_not_on_the_roster_is_still_required():
    frame = enrollments(("x", "zed@x.example", "2025-10-31", None), ("y", "zed@x.example", "2025-10-31", "2025-10-30"))
    check = PROCEDURE.attribute("completed_by_due_date").run(frame, context(roster(("E1", "a@x.example", "2019-01-01",
                                                                                     "2025-08-01"))))
    assert check.outcome.astype(str).tolist() == ["fail", "pass"]


def test_over_records_needs_a_related_kind():
    from workbench.procedures.base import Attribute
    with pytest.raises(ValueError, match="over_records selects records of a related population"):
        Attribute(id="x", label="X", description="", kind="automated", pass_criterion="", deviation_wording="",
                  objective="", check=lambda frame, context: frame, over_records=required_people)


def test_the_roster_attribute_reads_not_applicable_per_sampled_enrollment(demo_type2):
    from workbench.engagement import load_engagement
    from workbench.pipeline import run_control_test
    testing = run_control_test(load_engagement(demo_type2), "ENT-03").testing
    cells = testing.item_results[testing.item_results["attribute_id"] == "enrolled_per_policy"]
    assert len(cells) == testing.sample_size >= 1
    assert set(cells["outcome"]) == {"n/a"} and set(cells["source"]) == {"automated"}
    related = testing.population_results.set_index("attribute_id").loc["enrolled_per_policy"]
    end = date(2026, 6, 30)
    required = [r for r in raw("acme-type2", "hr_roster_*.csv", "utf-8-sig")
                if r["Termination Date"] == "N/A-StillEmployed"
                and date.fromisoformat(r["Hire Date"]) <= end - timedelta(days=30)]
    assert (related["population"], related["fail"]) == (len(required), 1) == (350, 1)


def test_ent03_annual_training_is_sized_over_the_enrollments(type2_copy):
    # "annual" is how often each person trains, not one occurrence a year: the frequency table's 1 would test one
    # enrollment of 412; the sample is a statistical one over the enrollments (binomial, 90 %, 10 %, 0 %: 22)
    plan = run_stages(type2_copy, "ENT-03")["sample_plan"]
    assert plan.sample_size == 22
    assert dict(plan.to_table())["Why this size"].startswith(
        "Statistical attribute sample for a control operating annually on each of its training enrollments")
