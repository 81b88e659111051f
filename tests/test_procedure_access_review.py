"""access_review: the period labels, each attribute on hand-made frames, the policy, and the demo's AC-03
(Type 2 and Type 1) against the raw files."""

from __future__ import annotations

import openpyxl
import pandas as pd
import pytest

from identity_demo import expected_ac03, found, reviews_due
from workbench.engagement import load_engagement
from workbench.pipeline import run_control_test
from workbench.procedures import get_procedure
from workbench.procedures.access_review import parse_review_period
from workbench.procedures.base import CheckContext

TZ = "America/New_York"
PROCEDURE = get_procedure("access_review")
START, END = pd.Timestamp("2025-07-01", tz=TZ), pd.Timestamp("2026-07-01", tz=TZ)


def reviews(*rows: dict) -> pd.DataFrame:
    base = {"review_id": None, "system": "AWS", "review_period": None, "reviewer": "Ivan Petrov",
            "due_at": None, "completed_at": None, "accounts_reviewed": 10, "accounts_removed": 0,
            "removal_ticket": None, "reviewer_access_decided_by": "Marcus Lindqvist"}
    frame = pd.DataFrame([{**base, **r} for r in rows])
    for c in ("due_at", "completed_at"):
        frame[c] = pd.Series([pd.Timestamp(v, tz=TZ) if v else pd.NaT for v in frame[c]],
                             dtype=f"datetime64[us, {TZ}]")
    frame["accounts_removed"] = frame["accounts_removed"].astype("Int64")
    return frame


def quarterly(system: str, *quarters: str, **extra) -> list[dict]:
    due = {"2025-Q2": "2025-07-30", "2025-Q3": "2025-10-30", "2025-Q4": "2026-01-30", "2026-Q1": "2026-04-30"}
    return [{"review_id": f"UAR-{q}-{system}", "system": system, "review_period": q, "due_at": due[q],
             "completed_at": due[q], **extra} for q in quarters]


def outcomes(attribute_id: str, frame: pd.DataFrame, **policy) -> dict[str, tuple[str, str]]:
    values = {p.name: p.default for p in PROCEDURE.policy_parameters} | policy
    ctx = CheckContext(policy=values, timezone=TZ, window_start=START, window_end=END)
    check = PROCEDURE.attribute(attribute_id).run(frame, ctx)
    return {str(k): (str(o), str(r)) for k, o, r in zip(frame["review_id"], check.outcome, check.reason)}


def test_review_period_labels():
    assert parse_review_period("2025-Q3").label() == "2025-Q3"
    assert parse_review_period("Q4 2025").start == parse_review_period("2025-Q4").start
    assert parse_review_period("2025-H2").label() == "2025-H2" and parse_review_period("2025-H2").months == 6
    assert parse_review_period("2025-07").label() == "2025-07" and parse_review_period("2025").months == 12
    assert parse_review_period("third quarter") is None and parse_review_period(None) is None


def test_performed_each_period_passes_four_consecutive_quarters():
    frame = reviews(*quarterly("AWS", "2025-Q2", "2025-Q3", "2025-Q4", "2026-Q1"))
    assert {v[0] for v in outcomes("performed_each_period", frame).values()} == {"pass"}


def test_performed_each_period_reports_a_gap_on_the_next_review():
    frame = reviews(*quarterly("AWS", "2025-Q2", "2025-Q4", "2026-Q1"))
    got = outcomes("performed_each_period", frame)
    assert got["UAR-2025-Q4-AWS"] == ("fail", "no review of AWS for 2025-Q3 (the period(s) before this one)")
    assert got["UAR-2025-Q2-AWS"] == ("pass", "")


def test_performed_each_period_reports_missing_periods_at_the_edges_of_the_window():
    frame = reviews(*quarterly("GH", "2025-Q3", "2025-Q4"))
    got = outcomes("performed_each_period", frame)
    assert got["UAR-2025-Q3-GH"][0] == "fail" and "for 2025-Q2, which would have been due about 2025-07-30" in \
        got["UAR-2025-Q3-GH"][1]
    assert got["UAR-2025-Q4-GH"][0] == "fail" and "for 2026-Q1" in got["UAR-2025-Q4-GH"][1]


def test_performed_each_period_fails_an_unreadable_period():
    frame = reviews({"review_id": "R1", "review_period": "spring review", "due_at": "2026-04-30"})
    assert outcomes("performed_each_period", frame)["R1"][0] == "fail"


def test_completed_timely():
    frame = reviews({"review_id": "on-time", "due_at": "2026-01-30", "completed_at": "2026-01-30 18:00"},
                    {"review_id": "late", "due_at": "2026-01-30", "completed_at": "2026-02-20"},
                    {"review_id": "open", "due_at": "2026-01-30", "completed_at": None})
    got = outcomes("completed_timely", frame)
    assert got["on-time"] == ("pass", "")
    assert got["late"] == ("fail", "completed 2026-02-20, 21 days after the due date 2026-01-30")
    assert got["open"] == ("fail", "not completed (no completion date recorded)")
    assert outcomes("completed_timely", frame, grace_days=30)["late"] == ("pass", "")


def test_reviewer_not_own_access():
    frame = reviews({"review_id": "ok"}, {"review_id": "self", "reviewer_access_decided_by": "ivan petrov"},
                    {"review_id": "blank", "reviewer_access_decided_by": None},
                    {"review_id": "none", "reviewer_access_decided_by": "No account"},
                    {"review_id": "nobody", "reviewer": None})
    got = outcomes("reviewer_not_own_access", frame)
    assert got["ok"] == ("pass", "")
    assert got["self"] == ("fail", "the reviewer, Ivan Petrov, decided on their own account")
    assert got["blank"] == ("fail", "who decided on the reviewer's own account is not recorded")
    assert got["none"][0] == "n/a" and got["nobody"] == ("fail", "no reviewer recorded")


def test_removal_ticket_recorded():
    frame = reviews({"review_id": "none"}, {"review_id": "ticket", "accounts_removed": 2, "removal_ticket": "RITM1"},
                    {"review_id": "no-ticket", "accounts_removed": 1},
                    {"review_id": "unknown", "accounts_removed": None})
    got = outcomes("removal_ticket_recorded", frame)
    assert got["none"] == ("n/a", "no removal decided") and got["ticket"] == ("pass", "")
    assert got["no-ticket"] == ("fail", "1 removal(s) decided and no removal ticket recorded")
    assert got["unknown"] == ("fail", "the number of accounts removed is not recorded")


def test_wording_and_manual_attributes():
    a = PROCEDURE.attribute("reviewer_not_own_access")
    assert f"For 1 of 16 user access reviews due during the period, {a.deviation_wording}." == (
        "For 1 of 16 user access reviews due during the period, the reviewer approved their own access.")
    assert [a.id for a in PROCEDURE.attributes if not a.automated] == [
        "complete_against_listing", "removals_verified", "agreed_to_source"]
    assert PROCEDURE.attribute("agreed_to_source").accuracy


# ------------------------------------------------------------------------------------------ the demo
@pytest.fixture(scope="module")
def ac03(demo_type2, demo_type1):
    return {eng: run_control_test(load_engagement(folder), "AC-03")
            for eng, folder in (("acme-type2", demo_type2), ("acme-type1", demo_type1))}


@pytest.mark.parametrize("eng", ["acme-type2", "acme-type1"])
def test_demo_ac03_finds_exactly_the_planted_exceptions(ac03, eng):
    assert found(ac03[eng]) == expected_ac03(eng)
    assert ac03[eng].testing.population_count == len(reviews_due(eng))


def test_demo_ac03_type2(ac03):
    test = ac03["acme-type2"]
    assert found(test) == {"completed_timely": {"UAR-2025Q4-GITHUB"}, "reviewer_not_own_access": {"UAR-2026Q1-PGPROD"}}
    assert test.testing.population_count == 16        # 4 systems x 4 quarters due in the period
    assert test.scope.parts[0].counts["after"] == 4   # the 2026-Q2 reviews, due 2026-07-30
    assert test.evaluation.result_text.startswith(
        "Testing in progress") and "For 2 of 16 user access reviews due during the period" in \
        test.evaluation.result_text


def test_demo_ac03_type1(ac03):
    test = ac03["acme-type1"]
    assert found(test) == {"reviewer_not_own_access": {"UAR-2026Q1-PGPROD"}}
    assert test.testing.population_count == 4 and test.evaluation.result_text == ""


def test_demo_ac03_workpaper_lists_the_exceptions(demo_run):
    assert demo_run["rows"]["AC-03"]["status"] != "not_yet_tested"
    wb = openpyxl.load_workbook(demo_run["out"] / "AC-03.xlsx", read_only=True)
    cells = {str(v) for row in wb["Exceptions"].iter_rows(values_only=True) for v in row if v is not None}
    assert {"UAR-2025Q4-GITHUB", "UAR-2026Q1-PGPROD"} <= cells
