"""The emergency-change procedure (workbench.procedures.emergency_change) and the demo's CM-03.

The demo's expected figures are recomputed here from the raw Jira export with the README's rule, never
from the engine.
"""

from __future__ import annotations

import csv
import json
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from conftest import SAMPLE_DATA
from workbench.errors import PopulationError
from workbench.procedures import get_procedure
from workbench.procedures.base import CheckContext
from workbench.procedures.emergency_change import business_days_after

TZ = "America/New_York"
PROCEDURE = get_procedure("emergency_change")


def ts(text: str | None) -> pd.Timestamp:
    return pd.Timestamp(text, tz=TZ) if text else pd.NaT


def changes(rows: list[dict]) -> pd.DataFrame:
    """A canonical change frame, tz-aware timestamps (defaults: an emergency change approved before deploying)."""
    base = dict(title="Hotfix", change_type="emergency", status="Done", author="alice", approver="bob",
                created_at="2026-03-02 08:00", approved_at="2026-03-02 08:30", deployed_at="2026-03-02 09:00",
                system="app")
    frame = pd.DataFrame([{"change_id": f"CHG-{i}", **base, **row} for i, row in enumerate(rows, start=1)])
    for column in ("created_at", "approved_at", "deployed_at"):
        frame[column] = pd.Series([ts(v) if isinstance(v, str) else pd.NaT for v in frame[column]],
                                  dtype=f"datetime64[ns, {TZ}]")
    return frame


def run(attribute_id: str, frame: pd.DataFrame, **policy) -> pd.DataFrame:
    context = CheckContext(policy=policy, timezone=TZ)
    check = PROCEDURE.attribute(attribute_id).run(frame, context)
    return pd.DataFrame({"outcome": check.outcome.astype(str), "reason": check.reason})


# -- declaration -------------------------------------------------------------------------------------------

def test_declaration():
    assert PROCEDURE.population_kind == "changes" and PROCEDURE.date_column == "deployed_at"
    assert PROCEDURE.record_filter == "change_type = emergency"
    assert [(a.id, a.kind) for a in PROCEDURE.attributes] == [
        ("approved_within_window", "automated"), ("approver_not_author", "automated"),
        ("emergency_justified", "manual"), ("post_implementation_review", "manual"),
        ("agreed_to_source", "manual")]
    assert PROCEDURE.attribute("agreed_to_source").accuracy
    window = PROCEDURE.policy_parameter("retroactive_approval_business_days")
    assert window is not None and window.default == 1 and window.unit == "business days"


def test_section4_wording_reads_in_a_sentence():
    wording = PROCEDURE.attribute("approved_within_window").deviation_wording
    assert f"For 1 of 33 emergency changes deployed during the period, {wording}." == (
        "For 1 of 33 emergency changes deployed during the period, approval was not documented within the "
        "emergency approval window.")


# -- the window, in business days after the deployment day -------------------------------------------------

def test_business_days_after_counts_days_after_the_deployment_day():
    start = pd.Series([ts("2026-02-27 14:00"), ts("2026-02-28 10:00"), ts("2026-02-25 14:19"),
                       ts("2026-03-02 09:00"), ts("2026-03-02 09:00")])                       # Fri, Sat, Wed
    end = pd.Series([ts("2026-03-02 23:00"), ts("2026-03-03 09:00"), ts("2026-03-03 10:30"),
                     ts("2026-03-02 08:00"), pd.NaT], dtype=f"datetime64[ns, {TZ}]")
    counts = business_days_after(start, end, TZ)
    assert counts.iloc[:4].tolist() == [1, 2, 4, 0]
    assert pd.isna(counts.iloc[4])


def test_approval_before_deployment_passes():
    out = run("approved_within_window", changes([{}]))
    assert out["outcome"].tolist() == ["pass"]


def test_retroactive_approval_by_the_next_business_day_passes():
    frame = changes([
        {"deployed_at": "2026-03-02 09:00", "approved_at": "2026-03-03 23:30"},   # Mon -> Tue night
        {"deployed_at": "2026-02-27 18:00", "approved_at": "2026-03-02 17:00"},   # Fri -> Mon
        {"deployed_at": "2026-02-28 10:00", "approved_at": "2026-03-02 12:00"},   # Sat -> Mon
        {"deployed_at": "2026-03-02 09:00", "approved_at": "2026-03-02 22:00"},   # same day, later
    ])
    assert run("approved_within_window", frame)["outcome"].tolist() == ["pass"] * 4


def test_approval_after_the_window_fails_with_the_count_and_the_policy():
    frame = changes([
        {"deployed_at": "2026-02-25 14:19", "approved_at": "2026-03-03 10:30"},   # Wed -> next Tue: 4
        {"deployed_at": "2026-02-28 10:00", "approved_at": "2026-03-03 09:00"},   # Sat -> Tue: 2
    ])
    out = run("approved_within_window", frame)
    assert out["outcome"].tolist() == ["fail", "fail"]
    assert out["reason"].iloc[0] == ("approved 2026-03-03 10:30, 4 business days after the deployment on "
                                     "2026-02-25 14:19 (policy: within 1 business day)")
    assert "2 business days after" in out["reason"].iloc[1]


def test_the_window_is_a_policy_setting():
    frame = changes([{"deployed_at": "2026-02-25 14:19", "approved_at": "2026-03-03 10:30"}])
    assert run("approved_within_window", frame, retroactive_approval_business_days=4)["outcome"].tolist() == ["pass"]
    assert run("approved_within_window", frame, retroactive_approval_business_days=3)["outcome"].tolist() == ["fail"]
    # 0: the approval must be recorded on the deployment day at the latest
    same_day = changes([{"deployed_at": "2026-03-02 09:00", "approved_at": "2026-03-02 20:00"},
                        {"deployed_at": "2026-03-02 09:00", "approved_at": "2026-03-03 08:00"}])
    out = run("approved_within_window", same_day, retroactive_approval_business_days=0)
    assert out["outcome"].tolist() == ["pass", "fail"]
    assert out["reason"].iloc[1].endswith("1 business day after the deployment on 2026-03-02 09:00 "
                                          "(policy: within 0 business days)")


def test_missing_approval_is_a_deviation_and_undeployed_is_not_applicable():
    frame = changes([{"approved_at": None}, {"deployed_at": None}, {"approved_at": None, "deployed_at": None}])
    out = run("approved_within_window", frame)
    assert out["outcome"].tolist() == ["fail", "n/a", "n/a"]
    assert out["reason"].tolist() == ["no approval recorded", "not deployed", "not deployed"]


def test_approver_not_author():
    frame = changes([{}, {"approver": " ALICE "}, {"approver": None}, {"author": ""}])
    out = run("approver_not_author", frame)
    assert out["outcome"].tolist() == ["pass", "fail", "fail", "fail"]
    assert out["reason"].tolist()[1:] == ["approved by its author (ALICE)", "no approver recorded",
                                          "no author recorded, so independence cannot be evidenced"]


def test_missing_column_is_a_population_error():
    with pytest.raises(PopulationError, match="approved_at"):
        run("approved_within_window", changes([{}]).drop(columns="approved_at"))


def test_vectorised_rows_keep_their_alignment():
    rows = [{"approved_at": "2026-03-09 09:00"} if i % 7 == 0 else {} for i in range(500)]
    frame = changes(rows).set_index(pd.Index(range(1000, 1500)))
    out = run("approved_within_window", frame)
    assert (out["outcome"] == "fail").sum() == len(range(0, 500, 7))
    assert out.index.equals(frame.index)
    assert out.loc[1000, "outcome"] == "fail" and out.loc[1001, "outcome"] == "pass"


# -- the demo: CM-03, recomputed from the raw Jira export ---------------------------------------------------

def jira_time(text: str) -> datetime:
    return datetime.strptime(text, "%d/%b/%y %I:%M %p")


def raw_emergency(folder: Path, first: date, last: date) -> list[dict[str, str]]:
    """Emergency changes of the raw Jira export deployed (New York time) from ``first`` to ``last``."""
    toml = (folder / "engagement.toml").read_text(encoding="utf-8")
    name = next(line.split('"')[1] for line in toml.splitlines() if line.startswith("file = ") and "jira" in line)
    with open(folder / name, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [r for r in rows if r["Custom field (Change type)"] == "Emergency"
            and first <= jira_time(r["Custom field (Deployed)"]).date() <= last]


def late(row: dict[str, str], window: int = 1) -> bool:
    """The README's rule: approved more than ``window`` business days after the deployment date."""
    if not row["Custom field (Approved)"]:
        return True
    deployed = jira_time(row["Custom field (Deployed)"]).date()
    approved = jira_time(row["Custom field (Approved)"]).date()
    return int(np.busday_count(deployed + timedelta(days=1), approved + timedelta(days=1))) > window


def self_approved(row: dict[str, str]) -> bool:
    approver = row["Custom field (Approver)"].strip().lower()
    return not approver or approver == row["Assignee Id"].strip().lower()


def test_cm03_finds_exactly_the_planted_late_emergency_approval(demo_run):
    emergency = raw_emergency(SAMPLE_DATA / "acme-type2", date(2025, 7, 1), date(2026, 6, 30))
    expected = {r["Issue key"] for r in emergency if late(r) or self_approved(r)}
    assert len(emergency) == 33 and expected == {"CHG-2060"}
    record = json.loads((demo_run["out"] / "records" / "CM-03.json").read_text())
    assert record["procedure"] == "emergency_change" and record["population_count"] == 33
    assert set(record["exception_items"]) == expected
    assert {(e["item"], e["attribute_id"]) for e in record["exceptions"]} == {("CHG-2060", "approved_within_window")}
    # CHG-1705 and CHG-2538 were approved retroactively by the next business day: they meet CM-03
    keys = {r["Issue key"] for r in emergency}
    assert {"CHG-1705", "CHG-2538"} <= keys and not {"CHG-1705", "CHG-2538"} & set(record["exception_items"])
    assert ("For 1 of 33 emergency changes deployed during the period, approval was not documented within the "
            "emergency approval window.") in record["result_text"]
    assert "No exceptions noted" not in record["result_text"]
    assert demo_run["rows"]["CM-03"]["status"] != "not_yet_tested"
    assert record["test_performed"].startswith(
        "Compared the approval date of each change with its deployment date and the retroactive approval window "
        "and the approver of each change with its author for all 33 emergency changes deployed during the period "
        "(full-population analysis).")


def test_cm03_workpaper_lists_the_exception(demo_run):
    book = openpyxl.load_workbook(demo_run["out"] / "CM-03.xlsx", read_only=True)
    sheet = list(book["Exceptions"].iter_rows(values_only=True))
    header = next(i for i, row in enumerate(sheet) if row and row[0] == "Item")
    items = {row[0] for row in sheet[header + 1:] if row and row[0] and str(row[0]).startswith("CHG-")}
    assert items == {"CHG-2060"}


def test_cm03_type1_walks_through_one_emergency_change_and_reports_no_results(demo_type1_run):
    as_of = date(2026, 6, 30)
    emergency = raw_emergency(SAMPLE_DATA / "acme-type1", as_of - timedelta(days=89), as_of)
    record = json.loads((demo_type1_run["out"] / "records" / "CM-03.json").read_text())
    assert record["population_count"] == len(emergency) == 3
    assert not any(late(r) or self_approved(r) for r in emergency)     # CHG-2538: approved by the next day
    assert record["exception_items"] == [] and record["result_text"] == ""
    assert record["sample_size"] == 1
    assert "for one emergency change deployed on or before 2026-06-30 (walkthrough)" in record["test_performed"]


def test_cm03_window_set_in_the_engagement_changes_the_result(type2_copy):
    from workbench.engagement import load_engagement
    from workbench.pipeline import run_control_test

    with open(type2_copy / "engagement.toml", "a", encoding="utf-8") as handle:
        handle.write("\n[controls.CM-03.policy]\nretroactive_approval_business_days = 4\n")
    test = run_control_test(load_engagement(type2_copy), "CM-03")
    assert test.policy.value("retroactive_approval_business_days") == 4
    emergency = raw_emergency(SAMPLE_DATA / "acme-type2", date(2025, 7, 1), date(2026, 6, 30))
    assert not any(late(r, 4) for r in emergency)
    assert len(test.testing.full_population_exceptions) == 0
