"""backup_monitoring: the schedule, the follow-up of failures and the copy region on hand-made frames; BK-01 on
the demo, its exceptions recomputed from the raw AWS Backup CSV with the README's rule; its workpaper."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from workbench.procedures import get_procedure
from workbench.procedures.backup_monitoring import job_states
from workbench.procedures.base import CheckContext

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
PROCEDURE = get_procedure("backup_monitoring")
TZ = "America/New_York"
DEFAULTS = {"backup_interval_days": 1, "followup_hours": 24, "primary_region": "any"}
DT = f"datetime64[us, {TZ}]"


def context(**policy: object) -> CheckContext:
    return CheckContext(policy={**DEFAULTS, **policy}, timezone=TZ)


def jobs(*rows: tuple) -> pd.DataFrame:
    """(id, resource, status, started, completed[, ticket[, region]]) rows as a canonical frame."""
    def stamp(text: str | None) -> pd.Timestamp:
        return pd.Timestamp(text, tz=TZ) if text else pd.NaT
    return pd.DataFrame({
        "job_id": [r[0] for r in rows], "system": [r[1] for r in rows], "status": [r[2] for r in rows],
        "scheduled_at": pd.Series([pd.NaT] * len(rows), dtype=DT),
        "started_at": pd.Series([stamp(r[3]) for r in rows], dtype=DT),
        "completed_at": pd.Series([stamp(r[4]) for r in rows], dtype=DT),
        "followup_ticket": [r[5] if len(r) > 5 else None for r in rows],
        "destination_region": [r[6] if len(r) > 6 else "us-west-2" for r in rows],
        "message": [None] * len(rows),
    })


def run(attribute_id: str, frame: pd.DataFrame, ctx: CheckContext | None = None) -> tuple[dict, dict]:
    check = PROCEDURE.attribute(attribute_id).run(frame, ctx or context())
    return (dict(zip(frame["job_id"], check.outcome.astype(str))), dict(zip(frame["job_id"], check.reason)))


def daily(resource: str, first: str, days: int, prefix: str = "") -> list[tuple]:
    start = datetime.fromisoformat(first)
    return [(f"{prefix or resource}-{i}", resource, "Success", str(start + timedelta(days=i)),
             str(start + timedelta(days=i, minutes=30))) for i in range(days)]


def test_procedure_declares_its_attributes_and_policy():
    assert PROCEDURE.attribute_ids == ("ran_on_schedule", "failure_followed_up", "copied_to_other_region",
                                       "restore_tested", "agreed_to_source")
    assert [a.kind for a in PROCEDURE.attributes] == ["automated"] * 3 + ["manual"] * 2
    assert PROCEDURE.attribute("agreed_to_source").accuracy
    assert {p.name: p.default for p in PROCEDURE.policy} == DEFAULTS


def test_job_states():
    status = pd.Series(["Success", "COMPLETED", "Failed", "ABORTED", "RUNNING", "", None, "partial"])
    assert job_states(status).tolist() == ["succeeded", "succeeded", "failed", "failed", "in progress", "failed",
                                           "failed", "failed"]


# ---- ran_on_schedule -------------------------------------------------------------------------------------

def test_every_day_covered_passes_and_a_rerun_on_the_same_day_is_not_a_gap():
    frame = jobs(*daily("db", "2025-08-01 01:00", 5), ("rerun", "db", "Success", "2025-08-03 05:00",
                                                         "2025-08-03 05:40"), *daily("docs", "2025-08-01 01:00", 5))
    outcome, _ = run("ran_on_schedule", frame)
    assert set(outcome.values()) == {"pass"}


def test_a_missing_day_fails_the_next_job_of_the_resource_once():
    rows = [r for r in daily("db", "2025-08-01 01:00", 6) if r[0] not in ("db-2", "db-3")]
    frame = jobs(*rows, *daily("docs", "2025-08-01 01:00", 6))
    outcome, reason = run("ran_on_schedule", frame)
    assert [k for k, v in outcome.items() if v == "fail"] == ["db-4"]
    assert reason["db-4"] == "no backup job of db from 2025-08-03 to 2025-08-04"


def test_a_resource_that_starts_late_or_stops_early_fails_at_its_first_or_last_job():
    frame = jobs(*daily("db", "2025-08-01 01:00", 6), *daily("late", "2025-08-03 01:00", 4),
                 *daily("stopped", "2025-08-01 01:00", 4))
    outcome, reason = run("ran_on_schedule", frame)
    assert sorted(k for k, v in outcome.items() if v == "fail") == ["late-0", "stopped-3"]
    assert reason["late-0"] == "no backup job of late from 2025-08-01 to 2025-08-02"
    assert reason["stopped-3"] == "no backup job of stopped after 2025-08-04 (the export runs to 2025-08-06)"


def test_a_failed_job_keeps_the_day_covered():
    rows = daily("db", "2025-08-01 01:00", 4)
    rows[2] = ("db-2", "db", "Failed", "2025-08-03 01:00", "2025-08-03 01:10")
    outcome, _ = run("ran_on_schedule", jobs(*rows))
    assert set(outcome.values()) == {"pass"}


def test_the_interval_comes_from_the_policy():
    weekly = [r for i, r in enumerate(daily("db", "2025-08-01 01:00", 22)) if i % 7 == 0]
    frame = jobs(*weekly)
    outcome, reason = run("ran_on_schedule", frame)
    assert outcome == {"db-0": "pass", "db-7": "fail", "db-14": "fail", "db-21": "fail"}
    assert reason["db-7"] == "no backup job of db from 2025-08-02 to 2025-08-07"
    assert set(run("ran_on_schedule", frame, context(backup_interval_days=7))[0].values()) == {"pass"}


def test_missing_resource_or_time_fails():
    frame = jobs(("a", "", "Success", "2025-08-01 01:00", "2025-08-01 01:30"),
                 ("b", "db", "Success", None, None))
    outcome, reason = run("ran_on_schedule", frame)
    assert outcome == {"a": "fail", "b": "fail"}
    assert reason == {"a": "no resource recorded for the job", "b": "no scheduled or start time recorded"}


# ---- failure_followed_up ---------------------------------------------------------------------------------

def failures() -> pd.DataFrame:
    return jobs(
        ("ok", "db", "Success", "2025-08-01 01:00", "2025-08-01 01:30"),
        ("running", "db", "Running", "2025-08-05 01:00", None),
        ("fixed", "db", "Failed", "2025-08-02 01:00", "2025-08-02 01:10", "OPS-1"),
        ("rerun", "db", "Success", "2025-08-02 04:00", "2025-08-02 04:40", "OPS-1"),
        ("lost", "docs", "Failed", "2025-08-02 01:00", "2025-08-02 01:10", None),
        ("docs-next", "docs", "Success", "2025-08-03 01:00", "2025-08-03 01:30"),
        ("ticket-only", "logs", "Failed", "2025-08-02 01:00", "2025-08-02 01:10", "OPS-2"),
        ("logs-next", "logs", "Success", "2025-08-03 01:00", "2025-08-03 01:30"),
        ("never", "cache", "Aborted", "2025-08-02 01:00", "2025-08-02 01:10", "OPS-3"),
    )


def test_failures_need_a_ticket_and_a_successful_rerun_within_the_policy():
    outcome, reason = run("failure_followed_up", failures())
    assert outcome == {"ok": "n/a", "running": "n/a", "fixed": "pass", "rerun": "n/a", "lost": "fail",
                       "docs-next": "n/a", "ticket-only": "fail", "logs-next": "n/a", "never": "fail"}
    assert reason["lost"] == ("docs job Failed 2025-08-02 01:00: no follow-up ticket; next successful backup "
                              "2025-08-03 01:30, 24.3 hours later (policy: within 24 hours)")
    assert reason["ticket-only"].endswith("24.3 hours later (policy: within 24 hours)")
    assert reason["never"].endswith("no successful backup of the resource afterwards in the export")


def test_followup_hours_come_from_the_policy():
    outcome, _ = run("failure_followed_up", failures(), context(followup_hours=36))
    assert (outcome["lost"], outcome["ticket-only"], outcome["fixed"]) == ("fail", "pass", "pass")
    outcome, _ = run("failure_followed_up", failures(), context(followup_hours=2))
    assert outcome["fixed"] == "fail"


# ---- copied_to_other_region ------------------------------------------------------------------------------

def test_copy_region_recorded_and_not_the_primary_region():
    frame = jobs(("a", "db", "Success", "2025-08-01 01:00", "2025-08-01 01:30", None, "us-west-2"),
                 ("b", "db", "Success", "2025-08-02 01:00", "2025-08-02 01:30", None, ""),
                 ("c", "db", "Failed", "2025-08-03 01:00", "2025-08-03 01:30", None, ""),
                 ("d", "db", "Success", "2025-08-04 01:00", "2025-08-04 01:30", None, "us-east-1"))
    outcome, reason = run("copied_to_other_region", frame)
    assert outcome == {"a": "pass", "b": "fail", "c": "n/a", "d": "pass"}
    assert reason["b"] == "no copy region recorded"
    outcome, reason = run("copied_to_other_region", frame, context(primary_region="US-East-1"))
    assert outcome == {"a": "pass", "b": "fail", "c": "n/a", "d": "fail"}
    assert reason["d"] == "copy stored in the primary region us-east-1"


# ---- the demo: BK-01 -------------------------------------------------------------------------------------

def raw_jobs(engagement: str) -> list[dict[str, str]]:
    path = next((SAMPLE / engagement / "populations").glob("aws_backup_jobs_*.csv"))
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def readme_ids(engagement: str, population: str, check: str) -> set[str]:
    text = (SAMPLE / "README.md").read_text(encoding="utf-8").split("## Planted exceptions", 1)[1]
    section = text.split(f"#### {engagement} / {population}\n", 1)
    if len(section) < 2:
        return set()
    body = section[1].split("####", 1)[0]
    return {line.split("`")[1] for line in body.splitlines() if line.startswith("| `") and f"`{check}`" in line}


@pytest.mark.parametrize("engagement", ["acme-type2", "acme-type1"])
def test_demo_backups_match_the_readme_rules(engagement):
    rows = raw_jobs(engagement)
    unfollowed = {r["job_id"] for r in rows if r["status"] == "Failed" and r["followup_ticket"] == ""}
    assert unfollowed == readme_ids(engagement, "backups", "failed_no_followup")
    # the README's promises: a failure with a ticket has a successful job of its resource within 24 hours,
    # and no resource misses a day
    for failed in (r for r in rows if r["status"] == "Failed" and r["followup_ticket"]):
        done = [utc(r["completed_at"]) for r in rows if r["resource_name"] == failed["resource_name"]
                and r["status"] == "Success" and utc(r["completed_at"]) > utc(failed["started_at"])]
        assert min(done) - utc(failed["completed_at"]) <= timedelta(hours=24), failed["job_id"]
    by_resource: dict[str, set] = {}
    for r in rows:
        by_resource.setdefault(r["resource_name"], set()).add(utc(r["scheduled_start"]).date())
    days = set().union(*by_resource.values())
    assert all(got == days for got in by_resource.values())
    assert (max(days) - min(days)).days + 1 == len(days)


def record(run: dict, control_id: str) -> dict:
    return json.loads((run["out"] / "records" / f"{control_id}.json").read_text())


def test_bk01_finds_exactly_the_planted_failures(demo_run):
    expected = readme_ids("acme-type2", "backups", "failed_no_followup")
    found = record(demo_run, "BK-01")
    assert len(expected) == 3
    assert {e["item"] for e in found["exceptions"]} == expected
    assert {e["attribute_id"] for e in found["exceptions"]} == {"failure_followed_up"}
    assert found["population_count"] == len(raw_jobs("acme-type2")) == 1102
    assert demo_run["rows"]["BK-01"]["status"] != "not_yet_tested"
    assert ("For 3 of 1,102 backup jobs run during the period, the failed backup was not followed up within the "
            "policy." in found["result_text"])
    # BK-01 has no restore test (BK-02 is its own control): the attribute is left out of its matrix row
    assert "restore" not in found["test_performed"]


def test_bk01_workpaper_lists_the_exceptions(demo_run):
    book = openpyxl.load_workbook(demo_run["out"] / "BK-01.xlsx", read_only=True)
    sheet = list(book["Exceptions"].iter_rows(values_only=True))
    header = next(i for i, row in enumerate(sheet) if row and row[0] == "Item")
    items = {row[0]: row for row in sheet[header + 1:] if row and row[0]}
    assert set(items) == readme_ids("acme-type2", "backups", "failed_no_followup")
    assert all("no follow-up ticket" in " ".join(str(v) for v in row) for row in items.values())


def test_bk01_type1(demo_type1_run):
    found = record(demo_type1_run, "BK-01")
    assert found["exceptions"] == [] and found["result_text"] == ""
    assert found["population_count"] == len(raw_jobs("acme-type1"))
