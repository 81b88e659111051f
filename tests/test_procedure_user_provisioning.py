"""The user-provisioning procedure (workbench.procedures.user_provisioning) and the demo's AC-01.

The demo's expected figures are recomputed here from the raw ServiceNow export with the README's rules,
never from the engine.
"""

from __future__ import annotations

import csv
import json
from datetime import date, datetime, timedelta
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from conftest import SAMPLE_DATA
from workbench.errors import PopulationError
from workbench.procedures import get_procedure
from workbench.procedures.base import CheckContext

TZ = "America/New_York"
PROCEDURE = get_procedure("user_provisioning")


def ts(text: str | None) -> pd.Timestamp:
    return pd.Timestamp(text, tz=TZ) if text else pd.NaT


def requests(rows: list[dict]) -> pd.DataFrame:
    """A canonical access-request frame (defaults: requested, approved by the owner, then granted)."""
    base = dict(user_id="Ana Lee", access="Developer", system="AWS Production", requested_by="Ana Lee",
                approver="Ivan Petrov", status="Closed Complete", requested_at="2026-03-02 09:00",
                approved_at="2026-03-02 11:00", provisioned_at="2026-03-03 10:00")
    frame = pd.DataFrame([{"request_id": f"RITM{i:07d}", **base, **row} for i, row in enumerate(rows, start=1)])
    for column in ("requested_at", "approved_at", "provisioned_at"):
        frame[column] = pd.Series([ts(v) if isinstance(v, str) else pd.NaT for v in frame[column]],
                                  dtype=f"datetime64[ns, {TZ}]")
    return frame


def run(attribute_id: str, frame: pd.DataFrame, **policy) -> pd.DataFrame:
    check = PROCEDURE.attribute(attribute_id).run(frame, CheckContext(policy=policy, timezone=TZ))
    return pd.DataFrame({"outcome": check.outcome.astype(str), "reason": check.reason})


# -- declaration -------------------------------------------------------------------------------------------

def test_declaration():
    assert (PROCEDURE.population_kind, PROCEDURE.key_column, PROCEDURE.date_column) == (
        "access_requests", "request_id", "requested_at")
    assert [(a.id, a.kind) for a in PROCEDURE.attributes] == [
        ("requested_before_grant", "automated"), ("approved_before_grant", "automated"),
        ("approver_independent", "automated"), ("access_matches_request", "manual"), ("agreed_to_source", "manual")]
    assert PROCEDURE.attribute("agreed_to_source").accuracy
    requester = PROCEDURE.policy_parameter("approver_not_requester")
    assert requester is not None and requester.default is False and requester.kind == "bool"
    statuses = PROCEDURE.policy_parameter("not_granted_statuses")
    assert statuses is not None and "Closed Incomplete" in str(statuses.default)


def test_section4_wording_reads_in_a_sentence():
    natures = [PROCEDURE.attribute(i).deviation_wording for i in ("approved_before_grant", "approver_independent")]
    assert natures == ["approval was not documented before the access was granted",
                       "the request was not approved by someone independent of the person receiving the access"]


# -- requested and approved before the grant ---------------------------------------------------------------

def test_requested_before_grant():
    frame = requests([{}, {"requested_at": "2026-03-04 09:00"}, {"requested_at": None},
                      {"provisioned_at": None}, {"requested_at": "2026-03-03 10:00"}])
    out = run("requested_before_grant", frame)
    assert out["outcome"].tolist() == ["pass", "fail", "fail", "n/a", "pass"]
    assert out["reason"].tolist()[1:4] == ["requested 2026-03-04 09:00, after the access was granted 2026-03-03 10:00",
                                           "no request time recorded", "not granted (no grant time)"]


def test_approved_before_grant():
    frame = requests([
        {},                                                               # pass
        {"approved_at": "2026-03-03 10:00"},                              # at the grant minute: pass
        {"approved_at": "2026-03-05 01:24"},                              # granted before approval
        {"approved_at": None, "approver": None},                          # fulfilled with no approval
        {"approved_at": None},                                            # approver but no time
        {"approver": ""},                                                 # time but no approver
        {"approved_at": None, "approver": None, "provisioned_at": None},  # never granted
    ])
    out = run("approved_before_grant", frame)
    assert out["outcome"].tolist() == ["pass", "pass", "fail", "fail", "fail", "fail", "n/a"]
    assert out["reason"].tolist()[2:] == ["granted 2026-03-03 10:00, before the approval 2026-03-05 01:24",
                                          "no approval recorded", "no approval time recorded",
                                          "no approver recorded", "not granted (no grant time)"]


def test_not_granted_statuses_are_not_applicable_and_a_policy_setting():
    frame = requests([{"status": "Closed Incomplete", "approver": None, "approved_at": None},
                      {"status": "Rejected", "approver": None, "approved_at": None}])
    out = run("approved_before_grant", frame)
    assert out["outcome"].tolist() == ["n/a", "n/a"]
    assert out["reason"].tolist() == ["not granted (status Closed Incomplete)", "not granted (status Rejected)"]
    narrow = run("approved_before_grant", frame, not_granted_statuses="Closed Incomplete")
    assert narrow["outcome"].tolist() == ["n/a", "fail"]


# -- the approver's independence ---------------------------------------------------------------------------

def test_approver_independent_of_the_person_receiving_the_access():
    frame = requests([{}, {"approver": " ana lee "}, {"approver": None}, {"approver": None, "provisioned_at": None}])
    out = run("approver_independent", frame)
    assert out["outcome"].tolist() == ["pass", "fail", "fail", "n/a"]
    assert out["reason"].tolist()[1:3] == ["approved by the person receiving the access (ana lee)",
                                           "no approver recorded"]


def test_approver_not_requester_is_the_firms_policy():
    frame = requests([{"requested_by": "Tomas Brandt", "approver": "Tomas Brandt", "user_id": "New Starter"}])
    assert run("approver_independent", frame)["outcome"].tolist() == ["pass"]          # default: false
    out = run("approver_independent", frame, approver_not_requester=True)
    assert out["outcome"].tolist() == ["fail"]
    assert out["reason"].tolist() == ["approved by its requester (Tomas Brandt; policy: approver_not_requester)"]


def test_missing_column_is_a_population_error():
    with pytest.raises(PopulationError, match="provisioned_at"):
        run("approved_before_grant", requests([{}]).drop(columns="provisioned_at"))


# -- the demo: AC-01, recomputed from the raw ServiceNow export ---------------------------------------------

def raw_requests(folder: Path, first: date, last: date) -> list[dict[str, str]]:
    toml = (folder / "engagement.toml").read_text(encoding="utf-8")
    name = next(line.split('"')[1] for line in toml.splitlines()
                if line.startswith("file = ") and "access_requests" in line)
    with open(folder / name, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [r for r in rows if first <= date.fromisoformat(r["opened_at"][:10]) <= last]


def sn(text: str) -> datetime:
    return datetime.fromisoformat(text)


def expected(rows: list[dict[str, str]], *, not_requester: bool = False) -> dict[str, set[str]]:
    """{request: failing attributes} with the README's rules (granted_before_approval, no_approval,
    self_approved; a blank approver also fails the independence attribute)."""
    found: dict[str, set[str]] = {}
    for r in rows:
        number, approver = r["number"], r["u_approver"].strip().lower()
        if not r["u_approver"] or not r["approval_set"] or sn(r["closed_at"]) < sn(r["approval_set"]):
            found.setdefault(number, set()).add("approved_before_grant")
        if (not approver or approver == r["requested_for"].strip().lower()
                or (not_requester and approver == r["opened_by"].strip().lower())):
            found.setdefault(number, set()).add("approver_independent")
        if sn(r["opened_at"]) > sn(r["closed_at"]):
            found.setdefault(number, set()).add("requested_before_grant")
    return found


def by_item(record: dict) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for e in record["exceptions"]:
        out.setdefault(e["item"], set()).add(e["attribute_id"])
    return out


def test_ac01_finds_exactly_the_planted_requests(demo_run):
    rows = raw_requests(SAMPLE_DATA / "acme-type2", date(2025, 7, 1), date(2026, 6, 30))
    found = expected(rows)
    assert found == {"RITM0010133": {"approved_before_grant"}, "RITM0010200": {"approved_before_grant"},
                     "RITM0010170": {"approved_before_grant", "approver_independent"},
                     "RITM0010073": {"approver_independent"}}
    record = json.loads((demo_run["out"] / "records" / "AC-01.json").read_text())
    assert record["procedure"] == "user_provisioning" and record["population_count"] == len(rows) == 249
    assert by_item(record) == found
    assert demo_run["rows"]["AC-01"]["status"] != "not_yet_tested"
    assert ("For 4 of 249 access requests opened during the period, a deviation was noted: approval was not "
            "documented before the access was granted (3) and the request was not approved by someone "
            "independent of the person receiving the access (2); 1 of them had more than one of these "
            "deviations.") in record["result_text"]
    assert record["test_performed"].startswith(
        "Compared the request time of each request with its grant time, the approval time of each request with "
        "its grant time and the approver of each request with the person receiving the access for all 249 "
        "access requests opened during the period (full-population analysis).")


def test_ac01_workpaper_lists_every_exception(demo_run):
    book = openpyxl.load_workbook(demo_run["out"] / "AC-01.xlsx", read_only=True)
    sheet = list(book["Exceptions"].iter_rows(values_only=True))
    header = next(i for i, row in enumerate(sheet) if row and row[0] == "Item")
    items = {row[0] for row in sheet[header + 1:] if row and isinstance(row[0], str) and row[0].startswith("RITM")}
    assert items == {"RITM0010133", "RITM0010200", "RITM0010170", "RITM0010073"}


def test_ac01_type1_has_no_results(demo_type1_run):
    as_of = date(2026, 6, 30)
    rows = raw_requests(SAMPLE_DATA / "acme-type1", as_of - timedelta(days=89), as_of)
    record = json.loads((demo_type1_run["out"] / "records" / "AC-01.json").read_text())
    assert expected(rows) == {} and record["exception_items"] == [] and record["result_text"] == ""
    assert record["population_count"] == len(rows) > 0 and record["sample_size"] == 1


def test_ac01_requester_policy_set_in_the_engagement(type2_copy):
    from workbench.engagement import load_engagement
    from workbench.pipeline import run_control_test

    with open(type2_copy / "engagement.toml", "a", encoding="utf-8") as handle:
        handle.write("\n[policy.user_provisioning]\napprover_not_requester = true\n")
    test = run_control_test(load_engagement(type2_copy), "AC-01")
    rows = raw_requests(SAMPLE_DATA / "acme-type2", date(2025, 7, 1), date(2026, 6, 30))
    found = expected(rows, not_requester=True)
    exceptions = test.testing.full_population_exceptions
    got: dict[str, set[str]] = {}
    for key, attribute in zip(exceptions["item_key"], exceptions["attribute_id"]):
        got.setdefault(key, set()).add(attribute)
    assert got == found and len(found) == 4 + 24      # managers who requested and approved as system owner
