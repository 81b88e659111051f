"""vendor_management: reviews, report coverage and DPAs on hand-made registers; VM-01 on both demos, its
exceptions recomputed from the raw register workbook with the README's rules; its workpaper."""

from __future__ import annotations

import json
import tomllib
from datetime import date, timedelta
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from workbench.engagement import load_engagement
from workbench.pipeline import run_control_test
from workbench.procedures import get_procedure
from workbench.procedures.base import CheckContext
from workbench.workpaper import write_workpaper

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
PROCEDURE = get_procedure("vendor_management")
TZ = "America/New_York"
DEFAULTS = {"review_tiers": "critical, high", "review_days": 365}
DT = f"datetime64[us, {TZ}]"


def context(end: str | None = "2026-07-01", **policy: object) -> CheckContext:
    return CheckContext(policy={**DEFAULTS, **policy}, timezone=TZ,
                        window_end=pd.Timestamp(end, tz=TZ) if end else None)


def register(*rows: dict) -> pd.DataFrame:
    base = {"vendor_id": "", "name": "", "risk_tier": "High", "customer_data_access": "N",
            "report_type": "SOC 2 Type 2", "report_period_end": "2026-06-30", "bridge_letter": "N/A", "last_review_at": "2026-03-01", "dpa": "Y"}
    frame = pd.DataFrame([{**base, **row} for row in rows])
    for column in ("report_period_end", "last_review_at"):
        frame[column] = pd.Series([pd.Timestamp(v, tz=TZ) if v else pd.NaT for v in frame[column]], dtype=DT)
    return frame


def run(attribute_id: str, frame: pd.DataFrame, ctx: CheckContext | None = None) -> tuple[dict, dict]:
    check = PROCEDURE.attribute(attribute_id).run(frame, ctx or context())
    return (dict(zip(frame["vendor_id"], check.outcome.astype(str))), dict(zip(frame["vendor_id"], check.reason)))


def test_procedure_declares_its_attributes_and_policy():
    assert PROCEDURE.attribute_ids == ("reviewed_within_year", "report_covers_period", "dpa_in_place",
                                       "report_reviewed", "agreed_to_source")
    assert [a.kind for a in PROCEDURE.attributes] == ["automated"] * 3 + ["manual"] * 2
    assert PROCEDURE.attribute("agreed_to_source").accuracy
    assert {p.name: p.default for p in PROCEDURE.policy} == DEFAULTS
    assert PROCEDURE.date_column == ""    # the register is a listing, taken whole


def test_reviewed_within_year():
    frame = register({"vendor_id": "ok", "last_review_at": "2025-06-30"},
                     {"vendor_id": "stale", "last_review_at": "2025-06-29"},
                     {"vendor_id": "none", "last_review_at": None},
                     {"vendor_id": "later", "last_review_at": "2026-07-15"},
                     {"vendor_id": "medium", "risk_tier": "Medium", "last_review_at": "2020-01-01"},
                     {"vendor_id": "critical", "risk_tier": " CRITICAL ", "last_review_at": "2024-01-01"})
    outcome, reason = run("reviewed_within_year", frame)
    assert outcome == {"ok": "pass", "stale": "fail", "none": "fail", "later": "fail", "medium": "n/a",
                       "critical": "fail"}
    assert reason["stale"] == "last review 2025-06-29, more than 365 days before 2026-06-30"
    assert reason["none"] == "no review date recorded"
    assert reason["later"].endswith("is after the end of the window: no review within it is recorded")
    assert reason["medium"] == "Medium risk tier: outside the review tiers (critical, high)"


def test_review_policy():
    frame = register({"vendor_id": "a", "last_review_at": "2025-12-01"},
                     {"vendor_id": "m", "risk_tier": "Medium", "last_review_at": "2020-01-01"})
    assert run("reviewed_within_year", frame, context(review_days=180))[0] == {"a": "fail", "m": "n/a"}
    assert run("reviewed_within_year", frame, context(review_tiers="critical, high, medium"))[0] == {
        "a": "pass", "m": "fail"}


def test_as_of_date_is_the_reference_of_a_type1():
    frame = register({"vendor_id": "a", "last_review_at": "2025-02-14"})
    assert run("reviewed_within_year", frame, context(end="2026-01-01"))[0] == {"a": "pass"}
    assert run("reviewed_within_year", frame, context(end="2026-07-01"))[0] == {"a": "fail"}


def test_report_covers_period():
    frame = register({"vendor_id": "covers", "report_period_end": "2026-06-30"},
                     {"vendor_id": "bridged", "report_period_end": "2025-12-31", "bridge_letter": "Y"},
                     {"vendor_id": "short", "report_period_end": "2025-09-30", "bridge_letter": "N"},
                     {"vendor_id": "none", "report_type": "None", "report_period_end": None},
                     {"vendor_id": "blank", "report_type": "", "report_period_end": None, "bridge_letter": "Y"},
                     {"vendor_id": "undated", "report_period_end": None},
                     {"vendor_id": "low", "risk_tier": "Low", "report_type": "None", "report_period_end": None})
    outcome, reason = run("report_covers_period", frame)
    assert outcome == {"covers": "pass", "bridged": "pass", "short": "fail", "none": "fail", "blank": "fail",
                       "undated": "fail", "low": "n/a"}
    assert reason["short"] == "SOC 2 Type 2 period ends 2025-09-30, before 2026-06-30, and no bridge letter"
    assert reason["none"] == reason["blank"] == "no assurance report on file"
    assert reason["undated"] == "the report's period is not recorded"


def test_dpa_in_place():
    frame = register({"vendor_id": "ok", "customer_data_access": "Y", "dpa": "yes"},
                     {"vendor_id": "missing", "customer_data_access": "y", "dpa": "N"},
                     {"vendor_id": "blank", "customer_data_access": "Yes", "dpa": None},
                     {"vendor_id": "no-data", "customer_data_access": "N", "dpa": "N"},
                     {"vendor_id": "unknown", "customer_data_access": "", "dpa": "N"},
                     {"vendor_id": "low", "risk_tier": "Low", "customer_data_access": "Y", "dpa": "N"})
    outcome, reason = run("dpa_in_place", frame)
    assert outcome == {"ok": "pass", "missing": "fail", "blank": "fail", "no-data": "n/a", "unknown": "fail",
                       "low": "fail"}
    assert reason["missing"] == "access to customer data, and no DPA in the contract"
    assert reason["unknown"] == "customer data access not recorded in the register"


def test_without_a_window_nothing_is_compared_with_a_date():
    frame = register({"vendor_id": "stale", "last_review_at": "2010-01-01", "report_period_end": "2010-12-31"})
    assert run("reviewed_within_year", frame, context(end=None))[0] == {"stale": "pass"}
    assert run("report_covers_period", frame, context(end=None))[0] == {"stale": "pass"}


# ---- the demo: VM-01 -------------------------------------------------------------------------------------

def raw_vendor_exceptions(engagement: str) -> dict[str, set[str]]:
    """The README rules over the raw register (sheet Vendors), keyed by Vendor ID."""
    book = openpyxl.load_workbook(SAMPLE / engagement / "populations" / "vendor_register_2026.xlsx", read_only=True)
    rows = list(book["Vendors"].iter_rows(values_only=True))
    header = list(rows[0])
    settings = tomllib.loads((SAMPLE / engagement / "engagement.toml").read_text(encoding="utf-8"))["engagement"]
    end = settings.get("period_end") or settings["as_of"]
    found: dict[str, set[str]] = {"soc_not_covering_period": set(), "review_overdue": set(), "no_dpa": set()}
    for values in rows[1:]:
        v = dict(zip(header, values))
        if v["Risk Tier"] in ("Critical", "High"):
            report_end = v["Report Period End"]
            if (report_end is None or report_end.date() < end) and v["Bridge Letter"] != "Y":
                found["soc_not_covering_period"].add(v["Vendor ID"])
            if v["Last Review Date"].date() < end - timedelta(days=365):
                found["review_overdue"].add(v["Vendor ID"])
        if v["Customer Data Access"] == "Y" and v["Contract DPA"] != "Y":
            found["no_dpa"].add(v["Vendor ID"])
    return found


def readme_ids(engagement: str, population: str, check: str) -> set[str]:
    text = (SAMPLE / "README.md").read_text(encoding="utf-8").split("## Planted exceptions", 1)[1]
    body = text.split(f"#### {engagement} / {population}\n", 1)[1].split("####", 1)[0]
    return {line.split("`")[1] for line in body.splitlines() if line.startswith("| `") and f"`{check}`" in line}


ATTRIBUTE_OF = {"soc_not_covering_period": "report_covers_period", "review_overdue": "reviewed_within_year",
                "no_dpa": "dpa_in_place"}


@pytest.mark.parametrize("fixture", ["demo_run", "demo_type1_run"])
def test_vm01_finds_exactly_the_planted_vendor_exceptions(fixture, request):
    run_ = request.getfixturevalue(fixture)
    engagement = "acme-type2" if fixture == "demo_run" else "acme-type1"
    expected = raw_vendor_exceptions(engagement)
    assert expected == {check: readme_ids(engagement, "vendors", check) for check in expected}
    assert expected == {"soc_not_covering_period": {"VND-007"}, "review_overdue": {"VND-005"}, "no_dpa": {"VND-012"}}
    found = json.loads((run_["out"] / "records" / "VM-01.json").read_text())
    pairs = {(e["item"], e["attribute_id"]) for e in found["exceptions"]}
    assert pairs == {(vid, ATTRIBUTE_OF[check]) for check, ids in expected.items() for vid in ids}
    assert found["population_count"] == 17 and run_["rows"]["VM-01"]["status"] != "not_yet_tested"
    if engagement == "acme-type2":
        assert ("For 3 of 17 vendors listed in the vendor register during the period, a deviation was noted: the "
                "vendor was not reviewed within the year (1), the vendor's assurance report did not cover the "
                "period and no bridge letter was obtained (1) and the vendor had access to customer data without a "
                "data processing agreement (1)." in found["result_text"])
        assert found["sample_size"] == 17        # as needed: the statistical size reaches the 17 vendors
    else:
        assert found["result_text"] == "" and found["sample_size"] == 1


def test_vm01_workpaper_opens_and_lists_the_exceptions(demo_type2, tmp_path):
    test = run_control_test(load_engagement(demo_type2), "VM-01")
    path = write_workpaper(tmp_path, test)
    book = openpyxl.load_workbook(path, read_only=True)
    sheet = list(book["Exceptions"].iter_rows(values_only=True))
    header = next(i for i, row in enumerate(sheet) if row and row[0] == "Item")
    items = {row[0]: " ".join(str(v) for v in row if v is not None) for row in sheet[header + 1:] if row and row[0]}
    assert set(items) == {"VND-005", "VND-007", "VND-012"}
    assert "last review 2025-02-14, more than 365 days before 2026-06-30" in items["VND-005"]
    assert "no DPA in the contract" in items["VND-012"]
    policy = [row for row in book["Sampling"].iter_rows(values_only=True) if row and row[0] == "review_days"]
    assert policy and "365 days" in " ".join(str(v) for v in policy[0] if v is not None)
