"""The deployment-reconciliation procedure (workbench.procedures.deployment_reconciliation) and the demo's CM-04.

The demo's expected figures are recomputed here from the raw deployment log and Jira export with the
README's rules, never from the engine.
"""

from __future__ import annotations

import csv
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import openpyxl
import pandas as pd
import pytest

from conftest import SAMPLE_DATA
from workbench.errors import PopulationError
from workbench.procedures import get_procedure
from workbench.procedures.base import CheckContext, RelatedFrame
from workbench.procedures.deployment_reconciliation import production_mask

TZ = "America/New_York"
NY = ZoneInfo(TZ)
PROCEDURE = get_procedure("deployment_reconciliation")


def ts(text: str | None) -> pd.Timestamp:
    return pd.Timestamp(text, tz=TZ) if text else pd.NaT


def deployments(rows: list[dict]) -> pd.DataFrame:
    base = dict(change_id="CHG-1", deployed_at="2026-03-02 09:00", deployed_by="svc-deploy", service="app",
                environment="production")
    frame = pd.DataFrame([{"deployment_id": f"dep-{i}", **base, **row} for i, row in enumerate(rows, start=1)])
    frame["deployed_at"] = pd.Series([ts(v) if isinstance(v, str) else pd.NaT for v in frame["deployed_at"]],
                                     dtype=f"datetime64[ns, {TZ}]")
    return frame


def changes(rows: list[dict]) -> pd.DataFrame:
    base = dict(title="Change", change_type="normal", status="Done", author="alice", approver="bob",
                created_at="2026-03-01 09:00", approved_at="2026-03-01 10:00", deployed_at="2026-03-02 09:00",
                system="app")
    frame = pd.DataFrame([{"change_id": f"CHG-{i}", **base, **row} for i, row in enumerate(rows, start=1)])
    for column in ("created_at", "approved_at", "deployed_at"):
        frame[column] = pd.Series([ts(v) if isinstance(v, str) else pd.NaT for v in frame[column]],
                                  dtype=f"datetime64[ns, {TZ}]")
    return frame


def context(change_frame: pd.DataFrame, in_scope: np.ndarray | None = None) -> CheckContext:
    scope = np.ones(len(change_frame), dtype=bool) if in_scope is None else in_scope
    return CheckContext(related=(RelatedFrame("changes", "changes", change_frame, scope, "changes.csv"),),
                        timezone=TZ)


def run(attribute_id: str, frame: pd.DataFrame, change_frame: pd.DataFrame) -> pd.DataFrame:
    checks = PROCEDURE.run_checks(frame, [PROCEDURE.attribute(attribute_id)], context(change_frame))
    check = checks[attribute_id]
    return pd.DataFrame({"outcome": check.outcome.astype(str), "reason": check.reason})


def run_reverse(frame: pd.DataFrame, change_frame: pd.DataFrame, in_scope: np.ndarray | None = None) -> pd.DataFrame:
    out = PROCEDURE.run_related_checks(frame, None, context(change_frame, in_scope))
    records, check = out["change_has_deployment"]
    return pd.DataFrame({"key": records["change_id"].to_numpy(), "outcome": check.outcome.astype(str).to_numpy(),
                         "reason": check.reason.to_numpy()})


# -- declaration -------------------------------------------------------------------------------------------

def test_declaration():
    assert (PROCEDURE.population_kind, PROCEDURE.key_column, PROCEDURE.date_column) == (
        "deployments", "deployment_id", "deployed_at")
    assert [(a.id, a.kind, a.over) for a in PROCEDURE.attributes] == [
        ("traced_to_change", "automated", ""), ("change_approved", "automated", ""),
        ("change_has_deployment", "automated", "changes"), ("deployment_matches_change", "manual", ""),
        ("agreed_to_source", "manual", "")]
    assert PROCEDURE.attribute("change_approved").depends_on == ("traced_to_change",)
    assert PROCEDURE.attribute("agreed_to_source").accuracy


def test_production_mask():
    assert production_mask(pd.Series(["production", "staging", " PROD ", None])).tolist() == [True, False, True, False]
    # a log that never says production: every deployment is taken as production
    assert production_mask(pd.Series(["", None])).tolist() == [True, True]


# -- traced to a change ------------------------------------------------------------------------------------

def test_traced_to_change_pass_fail_na_and_missing():
    frame = deployments([{"change_id": "CHG-1"}, {"change_id": " chg-1 "}, {"change_id": None},
                         {"change_id": "CHG-99"}, {"change_id": None, "environment": "staging"}])
    out = run("traced_to_change", frame, changes([{}]))
    assert out["outcome"].tolist() == ["pass", "pass", "fail", "fail", "n/a"]
    assert out["reason"].tolist() == ["", "", "the deployment names no change ticket",
                                      "names change CHG-99, which is not among the change tickets",
                                      "not a production deployment"]


def test_a_change_outside_the_window_still_traces_a_deployment():
    # the change's own deployment date is outside the window: the ticket exists, so the deployment is traced
    change_frame = changes([{"deployed_at": "2025-06-01 09:00"}])
    out = run("traced_to_change", deployments([{}]), change_frame)
    assert out["outcome"].tolist() == ["pass"]


def test_no_change_population_named_is_an_error_with_the_fix():
    with pytest.raises(PopulationError, match="deployments;changes"):
        PROCEDURE.attribute("traced_to_change").run(deployments([{}]), CheckContext(timezone=TZ))


# -- change approved ---------------------------------------------------------------------------------------

def test_change_approved_counts_any_recorded_approval_including_retroactive():
    change_frame = changes([
        {},                                                                      # approved before deploying
        {"change_type": "emergency", "approved_at": "2026-03-03 09:00"},       # retroactive: counts here
        {"approved_at": None, "approver": None},                                 # never approved
        {"approved_at": None},                                                   # approver, no time
        {"approver": " "},                                                       # time, no approver
    ])
    frame = deployments([{"change_id": f"CHG-{i}"} for i in range(1, 6)] + [{"change_id": None}])
    out = run("change_approved", frame, change_frame)
    assert out["outcome"].tolist() == ["pass", "pass", "fail", "fail", "fail", "fail"]
    assert out["reason"].tolist()[2:] == ["change CHG-3 has no approval recorded",
                                          "change CHG-4 has an approver but no approval time",
                                          "change CHG-5 has an approval time but no approver",
                                          "no change ticket to show an approval"]


def test_change_approved_is_not_performed_when_the_deployment_is_not_traced():
    frame = deployments([{"change_id": None}, {"change_id": "CHG-1"}])
    checks = PROCEDURE.run_checks(frame, None, context(changes([{}])))
    assert checks["traced_to_change"].outcome.astype(str).tolist() == ["fail", "pass"]
    assert checks["change_approved"].outcome.astype(str).tolist() == ["not performed", "pass"]


# -- the other direction: every change deployed in the window has a deployment -----------------------------

def test_change_has_deployment_over_the_changes_in_the_window():
    change_frame = changes([{}, {}, {}, {}])
    in_scope = np.array([True, True, True, False])       # CHG-4 is outside the window: not examined
    frame = deployments([{"change_id": "chg-1"}, {"change_id": "CHG-3", "environment": "staging"}])
    out = run_reverse(frame, change_frame, in_scope)
    assert out["key"].tolist() == ["CHG-1", "CHG-2", "CHG-3"]
    assert out["outcome"].tolist() == ["pass", "fail", "fail"]      # a staging deploy is not a production one
    assert out["reason"].tolist()[1] == "no production deployment in the window names this change"


def test_over_attribute_is_not_run_per_tested_record():
    checks = PROCEDURE.run_checks(deployments([{}]), None, context(changes([{}])))
    assert "change_has_deployment" not in checks


# -- the demo: CM-04, recomputed from the raw deployment log and Jira export --------------------------------

def read(folder: Path, fragment: str) -> list[dict[str, str]]:
    toml = (folder / "engagement.toml").read_text(encoding="utf-8")
    name = next(line.split('"')[1] for line in toml.splitlines() if line.startswith("file = ") and fragment in line)
    with open(folder / name, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def jira_day(text: str) -> date:
    return datetime.strptime(text, "%d/%b/%y %I:%M %p").date()


def log_day(text: str) -> date:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(NY).date()


def expected(folder: Path, first: date, last: date) -> tuple[int, int, dict[str, str]]:
    """(deployments in the window, changes in the window, {exception key: attribute}) by the README's rules."""
    changes_raw = read(folder, "jira")
    log = read(folder, "deployments")
    by_key = {c["Issue key"]: c for c in changes_raw}
    window_deploys = [d for d in log if first <= log_day(d["finished_at"]) <= last]
    window_changes = [c for c in changes_raw if first <= jira_day(c["Custom field (Deployed)"]) <= last]
    logged = {d["jira_key"] for d in window_deploys}
    found: dict[str, str] = {}
    for d in window_deploys:
        change = by_key.get(d["jira_key"])
        if change is None:
            found[d["deploy_id"]] = "traced_to_change"
        elif not change["Custom field (Approved)"] or not change["Custom field (Approver)"]:
            found[d["deploy_id"]] = "change_approved"
    for c in window_changes:
        if c["Issue key"] not in logged:
            found[c["Issue key"]] = "change_has_deployment"
    return len(window_deploys), len(window_changes), found


def test_cm04_finds_the_planted_breaks_both_ways(demo_run):
    deploys, changes_in, found = expected(SAMPLE_DATA / "acme-type2", date(2025, 7, 1), date(2026, 6, 30))
    assert found == {"dep-200484": "traced_to_change", "dep-201102": "traced_to_change",
                     "dep-201278": "change_approved", "CHG-1675": "change_has_deployment"}
    assert (deploys, changes_in) == (1501, 1500)
    record = json.loads((demo_run["out"] / "records" / "CM-04.json").read_text())
    assert record["procedure"] == "deployment_reconciliation" and record["population_count"] == deploys
    assert {e["item"]: e["attribute_id"] for e in record["exceptions"]} == found
    assert demo_run["rows"]["CM-04"]["status"] != "not_yet_tested"
    text = record["result_text"]
    assert "No exceptions noted" not in text
    assert ("For 3 of 1,501 production deployments made during the period, a deviation was noted: the deployment "
            "was not traced to a change ticket (2) and the change deployed had no recorded approval (1).") in text
    assert ("For 1 of 1,500 changes recorded as deployed in the same window, no production deployment was "
            "recorded for the change.") in text


def test_cm04_carries_the_validation_reconciliation_warnings(demo_run):
    record = json.loads((demo_run["out"] / "records" / "CM-04.json").read_text())
    items = set(record["exception_items"])
    for control_id in ("CM-01", "CM-04"):
        book = openpyxl.load_workbook(demo_run["out"] / f"{control_id}.xlsx", read_only=True)
        rows = [row for row in book["Population"].iter_rows(values_only=True) if row]
        warned = {row[3] for row in rows if row[0] == "reconciliation" and len(row) > 4 and row[4] == "warning"
                  and isinstance(row[3], str) and row[3].startswith(("dep-", "CHG-"))}
        assert warned == {"dep-200484", "dep-201102", "CHG-1675"}, control_id
        assert warned <= items
        note = next(row[0] for row in rows if isinstance(row[0], str) and "reconciliation difference(s)" in row[0])
        assert "CM-04 (deployment_reconciliation)" in note and "not yet tested" not in note


def test_cm04_workpaper_lists_every_exception(demo_run):
    book = openpyxl.load_workbook(demo_run["out"] / "CM-04.xlsx", read_only=True)
    sheet = list(book["Exceptions"].iter_rows(values_only=True))
    header = next(i for i, row in enumerate(sheet) if row and row[0] == "Item")
    items = {row[0] for row in sheet[header + 1:] if row and isinstance(row[0], str)
             and row[0].startswith(("dep-", "CHG-"))}
    assert items == {"dep-200484", "dep-201102", "dep-201278", "CHG-1675"}
    matrix = list(book["Testing"].iter_rows(values_only=True))
    assert any(row and "Change has a deployment" in str(row) for row in matrix)


def test_cm04_type1_reconciles_the_june_export(demo_type1_run):
    as_of = date(2026, 6, 30)
    deploys, changes_in, found = expected(SAMPLE_DATA / "acme-type1", as_of - timedelta(days=89), as_of)
    record = json.loads((demo_type1_run["out"] / "records" / "CM-04.json").read_text())
    assert found == {} and record["exception_items"] == [] and record["result_text"] == ""
    assert record["population_count"] == deploys and deploys == changes_in > 0
    assert record["sample_size"] == 1
    assert "(walkthrough)" in record["test_performed"]


def test_cm04_boundary_deployment_counts_in_the_engagement_zone():
    # CHG-2562: deployed 30/Jun/26 10:47 PM New York time, 2026-07-01T02:47Z in the log: inside the period
    log = {d["jira_key"]: d for d in read(SAMPLE_DATA / "acme-type2", "deployments")}
    at = datetime.fromisoformat(log["CHG-2562"]["finished_at"].replace("Z", "+00:00"))
    assert at.astimezone(timezone.utc).date() == date(2026, 7, 1) and log_day(log["CHG-2562"]["finished_at"]) == \
        date(2026, 6, 30)
