"""The demo client in sample_data/: reproducible, usable, and wrong exactly where the README says.

The raw files are read here with the csv module and openpyxl, independently of the workbench loaders and of
sample_data/generate.py (which is only used to regenerate the files into a temporary folder).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import re
import sys
import tomllib
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import openpyxl
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
ENGAGEMENTS = ("acme-type2", "acme-type1")
NY = ZoneInfo("America/New_York")
MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                      "Nov", "Dec"), start=1)}
PROCEDURES = {"change_management", "emergency_change", "deployment_reconciliation", "user_provisioning",
              "user_deprovisioning", "access_review", "privileged_access", "incident_management",
              "backup_monitoring", "vendor_management", "security_training", "new_hire_onboarding"}
#: Procedures of controls with no client export: their population is derived (the Populations cell may be blank).
DERIVED_PROCEDURES = {"inspection", "automated_control"}
POPULATION_KEYS = {"file", "kind", "format", "stated_count", "system", "provided_by", "received", "request",
                   "query", "columns"}


# ------------------------------------------------------------------------------------------ readers
def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        text = raw[3:].decode("utf-8")
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("cp1252")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return rows[0], rows[1:]


def records(path: Path) -> list[dict[str, str]]:
    """Rows as dicts keyed by the first occurrence of each header (Jira repeats header names)."""
    header, rows = read_csv(path)
    first: dict[str, int] = {}
    for i, name in enumerate(header):
        first.setdefault(name, i)
    return [{name: row[i] for name, i in first.items()} for row in rows]


def sheet_records(path: Path, sheet: str | None = None) -> list[dict[str, object]]:
    wb = openpyxl.load_workbook(path, read_only=True)
    ws = wb[sheet] if sheet else wb.worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    wb.close()
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def jira_time(text: str) -> datetime:
    """``16/Feb/26 3:29 PM`` (locale-independent)."""
    m = re.fullmatch(r"(\d{2})/([A-Z][a-z]{2})/(\d{2}) (\d{1,2}):(\d{2}) (AM|PM)", text)
    assert m, text
    hour = int(m[4]) % 12 + (12 if m[6] == "PM" else 0)
    return datetime(2000 + int(m[3]), MONTHS[m[2]], int(m[1]), hour, int(m[5]))


def sn_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S")


def utc_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def busdays(start: date, end: date) -> int:
    return int(np.busday_count(start, end))


# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    spec = importlib.util.spec_from_file_location("acme_demo_generate", SAMPLE / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module      # dataclasses resolve string annotations through sys.modules
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    out = tmp_path_factory.mktemp("demo")
    module.generate(out)
    return out


def toml(eng: str) -> dict:
    return tomllib.loads((SAMPLE / eng / "engagement.toml").read_text(encoding="utf-8"))


def pop_path(eng: str, pid: str) -> Path:
    return SAMPLE / eng / toml(eng)["populations"][pid]["file"]


def period_end(eng: str) -> date:
    e = toml(eng)["engagement"]
    return e.get("period_end") or e["as_of"]


def window_start(eng: str) -> date:
    """The first day tested: the period start, or for a Type 1 the first of the 90 days up to the as-of date."""
    e = toml(eng)["engagement"]
    return e.get("period_start") or e["as_of"] - timedelta(days=89)


def readme_planted() -> dict[tuple[str, str, str], set[str]]:
    """Parse the README tables: (engagement, population id, check) -> record ids."""
    out: dict[tuple[str, str, str], set[str]] = {}
    section = None
    text = (SAMPLE / "README.md").read_text(encoding="utf-8")
    planted = text.split("## Planted exceptions (exact record ids)", 1)[1]
    for line in planted.splitlines():
        head = re.fullmatch(r"#### (acme-type[12]) / (\w+)", line.strip())
        if head:
            section = (head[1], head[2])
            continue
        row = re.match(r"\| `([^`]+)` \| `(\w+)` \|", line)
        if row:
            assert section is not None, line
            out.setdefault((section[0], section[1], row[2]), set()).add(row[1])
    return out


# ------------------------------------------------------------------------------------------ recomputation
def hr_by_email(eng: str) -> dict[str, dict[str, str]]:
    return {r["Work Email"].lower(): r for r in records(pop_path(eng, "hr_roster"))}


def term_date(hr_row: dict[str, str]) -> date | None:
    value = hr_row["Termination Date"]
    return None if value == "N/A-StillEmployed" else date.fromisoformat(value)


def recompute(eng: str) -> dict[tuple[str, str], set[str]]:
    """Every planted-exception check, recomputed from the raw files of one engagement."""
    found: dict[tuple[str, str], set[str]] = {}

    def hit(pop: str, check: str, rid: str) -> None:
        found.setdefault((pop, check), set()).add(rid)

    end = period_end(eng)
    # changes and deployments
    changes = records(pop_path(eng, "changes"))
    deploys = records(pop_path(eng, "deployments"))
    deployed_keys = {d["jira_key"] for d in deploys}
    for c in changes:
        key, deployed = c["Issue key"], jira_time(c["Custom field (Deployed)"])
        if not jira_time(c["Created"]) < deployed:
            hit("changes", "ticket_before_deployment", key)
        approved = c["Custom field (Approved)"]
        emergency = c["Custom field (Change type)"] == "Emergency"   # judged by its retroactive window instead
        if not emergency and (not approved or jira_time(approved) > deployed):
            hit("changes", "approved_before_deployment", key)
        approver = c["Custom field (Approver)"]
        if not approver or approver.lower() == c["Assignee Id"].lower():
            hit("changes", "approver_not_author", key)
        if c["Custom field (Change type)"] == "Emergency" and approved:
            deadline = np.busday_offset(deployed.date() + timedelta(days=1), 0, roll="forward")
            if np.datetime64(jira_time(approved).date()) > deadline:
                hit("changes", "emergency_approval_late", key)
        if key not in deployed_keys:
            hit("changes", "no_deployment_record", key)
    unapproved = {c["Issue key"] for c in changes
                  if not c["Custom field (Approved)"] or not c["Custom field (Approver)"]}
    for d in deploys:
        if d["jira_key"] == "":
            hit("deployments", "no_change_ticket", d["deploy_id"])
        elif d["jira_key"] in unapproved:
            hit("deployments", "change_not_approved", d["deploy_id"])
    # incidents
    sla = {"1 - Critical": timedelta(hours=4), "2 - High": timedelta(hours=8), "4 - Low": timedelta(days=10)}
    for inc in records(pop_path(eng, "incidents")):
        if not inc["resolved_at"]:
            continue
        opened, resolved = sn_time(inc["opened_at"]), sn_time(inc["resolved_at"])
        if inc["priority"] == "3 - Moderate":
            late = busdays(opened.date(), resolved.date()) > 3
        else:
            late = resolved - opened > sla[inc["priority"]]
        if late:
            hit("incidents", "resolved_outside_sla", inc["number"])
    # identity listings vs HR
    hr = hr_by_email(eng)
    for u in records(pop_path(eng, "okta_users")):
        person = hr.get(u["profile.login"].lower())
        if person is None:
            hit("okta_users", "not_in_hr_roster", u["id"])
            continue
        term = term_date(person)
        if term is None:
            continue
        if u["status"] != "DEPROVISIONED":
            hit("okta_users", "terminated_still_active", u["id"])
        elif busdays(term, utc_time(u["statusChanged"]).astimezone(NY).date()) > 5 and term >= window_start(eng):
            hit("okta_users", "disabled_late", u["id"])
    for u in records(pop_path(eng, "aws_iam_users")):
        person = hr.get(f"{u['user']}@acmecloud.example")
        if person is not None and term_date(person) is not None and "true" in (
                u["password_enabled"], u["access_key_1_active"], u["access_key_2_active"]):
            hit("aws_iam_users", "terminated_still_active", u["user"])
        if u["user"] == "<root_account>":
            used = [utc_time(u[c]).astimezone(NY).date() for c in (
                "password_last_used", "access_key_1_last_used_date", "access_key_2_last_used_date")
                if u[c] not in ("N/A", "no_information", "not_supported")]
            if any(d >= window_start(eng) for d in used):
                hit("aws_iam_users", "root_account_used", u["user"])
        for slot in ("1", "2"):
            if u[f"access_key_{slot}_active"] == "true" and (
                    end - utc_time(u[f"access_key_{slot}_last_rotated"]).astimezone(NY).date()).days > 90:
                hit("aws_iam_users", "key_not_rotated", u["user"])
    # access requests
    for r in records(pop_path(eng, "access_requests")):
        if not r["u_approver"] or not r["approval_set"]:
            hit("access_requests", "no_approval", r["number"])
        else:
            if sn_time(r["closed_at"]) < sn_time(r["approval_set"]):
                hit("access_requests", "granted_before_approval", r["number"])
            if r["u_approver"] == r["requested_for"]:
                hit("access_requests", "self_approved", r["number"])
    # access reviews
    path = pop_path(eng, "access_reviews")
    for r in sheet_records(path, "Reviews"):
        if r["Completed"] > r["Due Date"]:
            hit("access_reviews", "late_review", r["Review ID"])
    for item in sheet_records(path, "Review items"):
        if item["User"] == item["Decided By"]:
            hit("access_reviews", "self_review", item["Review ID"])
    # backups
    for b in records(pop_path(eng, "backups")):
        if b["status"] == "Failed" and b["followup_ticket"] == "":
            hit("backups", "failed_no_followup", b["job_id"])
    # vendors
    for v in sheet_records(pop_path(eng, "vendors")):
        if v["Risk Tier"] in ("Critical", "High"):
            report_end = v["Report Period End"]
            if (report_end is None or report_end.date() < end) and v["Bridge Letter"] != "Y":
                hit("vendors", "soc_not_covering_period", v["Vendor ID"])
            if v["Last Review Date"].date() < end - timedelta(days=365):
                hit("vendors", "review_overdue", v["Vendor ID"])
        if v["Customer Data Access"] == "Y" and v["Contract DPA"] != "Y":
            hit("vendors", "no_dpa", v["Vendor ID"])
    # training (coverage measured against the HR roster)
    enrolled = set()
    for t in records(pop_path(eng, "training")):
        email = t["User Email"].lower()
        enrolled.add(email)
        due = date.fromisoformat(t["Due Date"])
        term = term_date(hr[email])
        if t["Completion Date"] == "" and due <= end and (term is None or term > due):
            hit("training", "not_completed", t["Enrollment ID"])
    for email, person in hr.items():
        if (term_date(person) is None and date.fromisoformat(person["Hire Date"]) <= end - timedelta(days=30)
                and email not in enrolled):
            hit("training", "not_enrolled", person["Employee ID"])
    return found


# ------------------------------------------------------------------------------------------ tests
def committed_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()
                  and "output" not in p.relative_to(folder).parts and not p.name.startswith("results.sqlite"))


@pytest.mark.parametrize("eng", ENGAGEMENTS)
def test_regeneration_reproduces_committed_files(regenerated, eng):
    committed, fresh = SAMPLE / eng, regenerated / eng
    names = committed_files(committed)
    assert names == committed_files(fresh)
    assert "engagement.toml" in names and "controls.xlsx" in names
    for name in names:
        if name.endswith(".xlsx"):
            a = openpyxl.load_workbook(committed / name)
            b = openpyxl.load_workbook(fresh / name)
            assert a.sheetnames == b.sheetnames, name
            for sa, sb in zip(a.worksheets, b.worksheets):
                assert list(sa.iter_rows(values_only=True)) == list(sb.iter_rows(values_only=True)), name
        else:
            assert (committed / name).read_bytes() == (fresh / name).read_bytes(), name


@pytest.mark.parametrize("eng", ENGAGEMENTS)
def test_planted_exceptions_are_exactly_the_readme_ids(eng):
    listed = {(pop, check): ids for (e, pop, check), ids in readme_planted().items() if e == eng}
    computed = recompute(eng)
    for key in sorted(set(listed) | set(computed)):
        assert listed.get(key, set()) == computed.get(key, set()), key


def test_type2_plants_every_kind_of_exception():
    listed = {(pop, check): ids for (e, pop, check), ids in readme_planted().items() if e == "acme-type2"}
    counts = {key: len(ids) for key, ids in listed.items()}
    assert counts == {
        ("changes", "approved_before_deployment"): 8, ("changes", "approver_not_author"): 4,
        ("changes", "ticket_before_deployment"): 2, ("changes", "emergency_approval_late"): 1,
        ("changes", "no_deployment_record"): 1, ("deployments", "no_change_ticket"): 2,
        ("deployments", "change_not_approved"): 1, ("incidents", "resolved_outside_sla"): 8, ("okta_users", "disabled_late"): 2,
        ("okta_users", "terminated_still_active"): 1, ("okta_users", "not_in_hr_roster"): 1,
        ("aws_iam_users", "terminated_still_active"): 1, ("aws_iam_users", "root_account_used"): 1,
        ("aws_iam_users", "key_not_rotated"): 1, ("access_requests", "granted_before_approval"): 2,
        ("access_requests", "self_approved"): 1, ("access_requests", "no_approval"): 1,
        ("access_reviews", "late_review"): 1, ("access_reviews", "self_review"): 1,
        ("backups", "failed_no_followup"): 3, ("vendors", "soc_not_covering_period"): 1,
        ("vendors", "review_overdue"): 1, ("vendors", "no_dpa"): 1, ("training", "not_completed"): 5,
        ("training", "not_enrolled"): 1,
    }
    cm01 = set().union(*(listed[("changes", a)] for a in
                         ("ticket_before_deployment", "approved_before_deployment", "approver_not_author")))
    assert len(cm01) == 11


def count_records(path: Path) -> int:
    if path.suffix == ".xlsx":
        return len(sheet_records(path))
    return len(read_csv(path)[1])


@pytest.mark.parametrize("eng", ENGAGEMENTS)
def test_stated_counts_match_files(eng):
    pops = toml(eng)["populations"]
    assert len(pops) == 11
    for pid, entry in pops.items():
        assert set(entry) <= POPULATION_KEYS, pid
        assert count_records(SAMPLE / eng / entry["file"]) == entry["stated_count"], pid


def test_change_population_shape():
    changes = records(pop_path("acme-type2", "changes"))
    deployed = [jira_time(c["Custom field (Deployed)"]).date() for c in changes]
    inside = sum(date(2025, 7, 1) <= d <= date(2026, 6, 30) for d in deployed)
    assert (inside, len(deployed) - inside) == (1500, 60)
    header, _ = read_csv(pop_path("acme-type2", "changes"))
    assert header.count("Labels") == 4 and header.count("Watchers") == 3
    assert {c["Custom field (Change type)"] for c in changes} == {"Standard", "Normal", "Emergency"}
    # the boundary change: in the period in New York time, on 2026-07-01 in UTC
    boundary = next(c for c in changes if c["Issue key"] == "CHG-2562")
    assert boundary["Custom field (Deployed)"] == "30/Jun/26 10:47 PM"
    log = {d["jira_key"]: d["finished_at"] for d in records(pop_path("acme-type2", "deployments"))}
    assert log["CHG-2562"].startswith("2026-07-01T02:47:")
    # every logged deploy of a ticket is within the same minute as the ticket's Deployed time
    by_key = {c["Issue key"]: c for c in changes}
    for key, at in log.items():
        if key:
            local = utc_time(at).astimezone(NY).replace(tzinfo=None, second=0)
            assert local == jira_time(by_key[key]["Custom field (Deployed)"]), key


KEYS = {"changes": "Issue key", "deployments": "deploy_id", "incidents": "number", "okta_users": "id",
        "aws_iam_users": "user", "hr_roster": "Employee ID", "access_requests": "number", "backups": "job_id",
        "training": "Enrollment ID"}


@pytest.mark.parametrize("eng", ENGAGEMENTS)
def test_demo_files_are_usable(eng):
    for pid, column in KEYS.items():
        path = pop_path(eng, pid)
        header, rows = read_csv(path)
        assert all(len(r) == len(header) for r in rows), pid
        keys = [r[header.index(column)] for r in rows]
        assert len(set(keys)) == len(keys) and "" not in keys, pid
    for c in records(pop_path(eng, "changes")):
        for col in ("Created", "Updated", "Resolved", "Custom field (Deployed)"):
            jira_time(c[col])
    for inc in records(pop_path(eng, "incidents")):
        for col in ("opened_at", "resolved_at", "closed_at", "sys_updated_on"):
            if inc[col]:
                sn_time(inc[col])
    for u in records(pop_path(eng, "okta_users")):
        for col in ("created", "activated", "statusChanged", "lastLogin", "lastUpdated", "passwordChanged"):
            if u[col]:
                assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z", u[col]), (col, u[col])
    for p in hr_by_email(eng).values():
        date.fromisoformat(p["Hire Date"])
        term_date(p)
    reviews = sheet_records(pop_path(eng, "access_reviews"), "Reviews")
    items = sheet_records(pop_path(eng, "access_reviews"), "Review items")
    assert len({r["Review ID"] for r in reviews}) == len(reviews)
    for r in reviews:   # the summary agrees with the item rows
        mine = [i for i in items if i["Review ID"] == r["Review ID"]]
        assert r["Users in Scope"] == len(mine)
        assert r["Users Removed"] == sum(i["Decision"] == "Remove" for i in mine)


def test_export_quirks_are_present():
    incidents = pop_path("acme-type2", "incidents").read_bytes()
    assert b"\x96" in incidents and incidents.startswith(b'"number","opened_at"')
    iam = pop_path("acme-type2", "aws_iam_users").read_bytes()
    assert not iam.endswith(b"\n") and iam.split(b"\n")[1].startswith(b"<root_account>,")
    assert pop_path("acme-type2", "hr_roster").read_bytes().startswith(b"\xef\xbb\xbfEmployee ID,")
    statuses = {u["status"] for u in records(pop_path("acme-type2", "okta_users"))}
    assert {"ACTIVE", "DEPROVISIONED"} <= statuses


CRITERION = re.compile(r"(CC[1-9]\.\d|A1\.[1-3]|C1\.[12])")


@pytest.mark.parametrize("eng", ENGAGEMENTS)
def test_control_matrix(eng):
    rows = sheet_records(SAMPLE / eng / "controls.xlsx", "Controls")
    pops = set(toml(eng)["populations"])
    ids = [r["Control ID"] for r in rows]
    assert len(ids) == len(set(ids)) >= 20
    covered = set()
    for r in rows:
        criteria = [c.strip() for c in r["Criteria"].split(";")]
        assert all(CRITERION.fullmatch(c) for c in criteria), r["Control ID"]
        covered |= {c.split(".")[0] for c in criteria}
        assert r["Frequency"] in ("annual", "quarterly", "monthly", "weekly", "daily", "many_times_a_day",
                                  "as_needed")
        assert r["Nature"] in ("manual", "automated")
        if r["Procedure"] in DERIVED_PROCEDURES:
            assert not r["Populations"] or {p.strip() for p in r["Populations"].split(";")} <= pops
        elif r["Procedure"]:
            assert r["Procedure"] in PROCEDURES
            assert {p.strip() for p in r["Populations"].split(";")} <= pops
    assert covered == {"CC1", "CC2", "CC3", "CC4", "CC5", "CC6", "CC7", "CC8", "CC9", "A1", "C1"}
    by_id = {r["Control ID"]: r for r in rows}
    cm01, cm02 = by_id["CM-01"], by_id["CM-02"]
    assert (cm01["Criteria"], cm01["Procedure"], cm01["Populations"], cm01["Attributes"]) == (
        "CC8.1", "change_management", "changes",
        "ticket_before_deployment;approved_before_deployment;approver_not_author")
    assert (cm02["Criteria"], cm02["Procedure"], cm02["Populations"], cm02["Attributes"]) == (
        "CC8.1", "change_management", "changes", "testing_evidenced")


def test_engagement_toml_schema():
    t2, t1 = toml("acme-type2"), toml("acme-type1")
    assert t2["engagement"]["report_type"] == "type2" and "as_of" not in t2["engagement"]
    assert (t2["engagement"]["period_start"], t2["engagement"]["period_end"]) == (date(2025, 7, 1),
                                                                                  date(2026, 6, 30))
    assert t1["engagement"]["report_type"] == "type1" and "period_start" not in t1["engagement"]
    assert t1["engagement"]["as_of"] == date(2026, 6, 30)
    for t in (t2, t1):
        assert set(t) == {"engagement", "sampling", "staff", "subservice_organizations", "cuecs", "populations",
                          "policy"}
        assert {s["role"] for s in t["staff"]} >= {"preparer", "reviewer"}
        assert t["subservice_organizations"][0]["method"] == "carve-out"
        assert t["populations"]["deployments"]["columns"] == {
            "deployment_id": "deploy_id", "change_id": "jira_key", "deployed_at": "finished_at",
            "deployed_by": "actor", "service": "app", "environment": "target_env"}
