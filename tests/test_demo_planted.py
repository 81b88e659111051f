"""The demo run finds exactly what was planted: every exception a control reports in ``acme-type2`` is listed in
sample_data/README.md, and every planted exception is reported by the control that tests it.

The README table names the record of the client file the rule fails on (an Okta user id, an IAM user name); a
control may key the same exception by the record it tests (a terminated person's HR employee id). The translation
goes through the raw files, never through the engine.
"""

from __future__ import annotations

import json

import pytest

from test_sample_data import pop_path, readme_planted, records

pytestmark = pytest.mark.slow

ENGAGEMENT = "acme-type2"

#: (population, planted check) -> (control, attributes that report it). A planted record with no approval at all
#: (``no_approval``) fails both approval attributes of AC-01.
REPORTED_BY: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("changes", "ticket_before_deployment"): ("CM-01", ("ticket_before_deployment",)),
    ("changes", "approved_before_deployment"): ("CM-01", ("approved_before_deployment",)),
    ("changes", "approver_not_author"): ("CM-01", ("approver_not_author",)),
    ("changes", "emergency_approval_late"): ("CM-03", ("approved_within_window",)),
    ("changes", "no_deployment_record"): ("CM-04", ("change_has_deployment",)),
    ("deployments", "no_change_ticket"): ("CM-04", ("traced_to_change",)),
    ("deployments", "change_not_approved"): ("CM-04", ("change_approved",)),
    ("incidents", "resolved_outside_sla"): ("IM-01", ("resolved_within_sla",)),
    ("okta_users", "disabled_late"): ("AC-02", ("removed_within_window",)),
    ("okta_users", "terminated_still_active"): ("AC-02", ("no_active_account",)),
    ("okta_users", "not_in_hr_roster"): ("AC-02", ("account_has_current_owner",)),
    ("aws_iam_users", "terminated_still_active"): ("AC-02", ("no_active_account",)),
    ("aws_iam_users", "root_account_used"): ("AC-04", ("root_account_secured",)),
    ("aws_iam_users", "key_not_rotated"): ("AC-04", ("access_keys_rotated",)),
    ("access_requests", "granted_before_approval"): ("AC-01", ("approved_before_grant",)),
    ("access_requests", "self_approved"): ("AC-01", ("approver_independent",)),
    ("access_requests", "no_approval"): ("AC-01", ("approved_before_grant", "approver_independent")),
    ("access_reviews", "late_review"): ("AC-03", ("completed_timely",)),
    ("access_reviews", "self_review"): ("AC-03", ("reviewer_not_own_access",)),
    ("backups", "failed_no_followup"): ("BK-01", ("failure_followed_up",)),
    ("vendors", "soc_not_covering_period"): ("VM-01", ("report_covers_period",)),
    ("vendors", "review_overdue"): ("VM-01", ("reviewed_within_year",)),
    ("vendors", "no_dpa"): ("VM-01", ("dpa_in_place",)),
    ("training", "not_completed"): ("ENT-03", ("completed_by_due_date",)),
    ("training", "not_enrolled"): ("ENT-03", ("enrolled_per_policy",)),
}


def readme_manual_failures() -> dict[str, set[tuple[str, str, str]]]:
    """The README's planted manual failures (recorded as a Fail in the demo's filled templates):
    engagement -> {(control, item, attribute)}."""
    import re

    from test_sample_data import SAMPLE

    text = (SAMPLE / "README.md").read_text(encoding="utf-8")
    section = text.split("## The tester's work", 1)[1].split("\n## ", 1)[0]
    out: dict[str, set[tuple[str, str, str]]] = {}
    for row in re.finditer(r"^\| `(acme-type[12])` \| `([\w-]+)` \| `([^`]+)` \| `(\w+)` \|", section, re.M):
        out.setdefault(row[1], set()).add((row[2], row[3], row[4]))
    return out


def _employee_of_email() -> dict[str, str]:
    return {row["Work Email"].lower(): row["Employee ID"] for row in records(pop_path(ENGAGEMENT, "hr_roster"))}


def _reported_key(population: str, check: str, record_id: str) -> str:
    """The key under which a control reports the planted record: terminated people by their HR employee id, an
    account nobody on the roster owns by its login; everything else by its own record id."""
    if check not in ("disabled_late", "terminated_still_active", "not_in_hr_roster"):
        return record_id
    if population == "okta_users":
        login = next(row["profile.login"] for row in records(pop_path(ENGAGEMENT, "okta_users"))
                     if row["id"] == record_id)
    else:
        login = f"{record_id}@acmecloud.example"
    return login if check == "not_in_hr_roster" else _employee_of_email()[login.lower()]


def test_the_readme_maps_every_planted_check_to_a_control():
    planted = {(pop, check) for (eng, pop, check) in readme_planted() if eng == ENGAGEMENT}
    assert planted == set(REPORTED_BY)


def test_every_exception_found_is_planted_and_every_planted_one_is_found(demo_run):
    expected: dict[str, set[tuple[str, str]]] = {}
    for (eng, population, check), ids in readme_planted().items():
        if eng != ENGAGEMENT:
            continue
        control, attributes = REPORTED_BY[(population, check)]
        for record_id in ids:
            key = _reported_key(population, check, record_id)
            expected.setdefault(control, set()).update((key, attribute) for attribute in attributes)
    for control, item, attribute in readme_manual_failures()[ENGAGEMENT]:
        expected.setdefault(control, set()).add((item, attribute))
    found: dict[str, set[tuple[str, str]]] = {}
    for path in sorted((demo_run["out"] / "records").glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        pairs = {(e["item"], e["attribute_id"]) for e in record["exceptions"]}
        if pairs:
            found[record["control_id"]] = pairs
    assert found == expected
    # the figures a reader of the README checks first
    assert {control: len({key for key, _ in pairs}) for control, pairs in found.items()} == {
        "CM-01": 11, "CM-02": 1, "CM-03": 1, "CM-04": 4, "IM-01": 8, "AC-01": 4, "AC-02": 5, "AC-03": 2, "AC-04": 2,
        "BK-01": 3, "VM-01": 3, "ENT-01": 1, "ENT-03": 6}


def test_the_planted_manual_failures_are_the_demo_templates_fails_and_exceptions_of_the_run(demo_run,
                                                                                           demo_type1_run):
    """Each planted manual failure is the only Fail of the filled templates, and an exception of its control in the
    run (evaluated in the template: nothing is left pending but what the tester concludes)."""
    import openpyxl

    from test_sample_data import SAMPLE

    planted = readme_manual_failures()
    assert planted == {
        "acme-type2": {("CM-02", "CHG-1406", "testing_evidenced"), ("ENT-01", "E10422", "code_of_conduct_acknowledged")},
        "acme-type1": {("ENT-02", "E10491", "background_check_before_start")}}
    for run in (demo_run, demo_type1_run):
        name = run["folder"].name
        fails = set()
        for path in sorted((SAMPLE / name / "testing").glob("*.xlsx")):
            book = openpyxl.load_workbook(path)
            columns = {value.split(":")[0]: key[len("attribute:"):]
                       for key, value in book["Binding"].iter_rows(values_only=True) if key.startswith("attribute:")}
            ws = book["Testing"]
            fails |= {(path.stem, ws.cell(row=cell.row, column=2).value, columns[cell.column_letter])
                      for row in ws.iter_rows(min_row=7) for cell in row
                      if cell.column_letter in columns and str(cell.value).lower() == "fail"}
        assert fails == planted[name]
        for control, item, attribute in planted[name]:
            record = json.loads((run["out"] / "records" / f"{control}.json").read_text(encoding="utf-8"))
            assert (item, attribute) in {(e["item"], e["attribute_id"]) for e in record["exceptions"]}
            assert record["pending"] == [] and run["rows"][control]["status"] in (
                "not_operating_effectively", "suitably_designed_and_implemented")


def test_the_terminated_people_are_the_planted_accounts():
    # E10230 and E10308 were disabled late in Okta; the Okta user still active and the IAM user with a password
    # or key left are two people; the account with no owner on the roster is a contractor's login
    keys = {(pop, check): {_reported_key(pop, check, rid) for rid in ids}
            for (eng, pop, check), ids in readme_planted().items() if eng == ENGAGEMENT}
    assert keys[("okta_users", "disabled_late")] == {"E10230", "E10308"}
    assert keys[("okta_users", "terminated_still_active")] | keys[("aws_iam_users", "terminated_still_active")] == {
        "E10076", "E10335"}
    assert keys[("okta_users", "not_in_hr_roster")] == {"jordan.blake.ext@acmecloud.example"}
