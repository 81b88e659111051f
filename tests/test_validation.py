"""Completeness and accuracy checks: each rule, its severity, and the report."""

from __future__ import annotations

from pathlib import Path


from workbench.population import load_population_file
from workbench.validation import CHECKS, check_population, validate

NY = "America/New_York"
CH_HEADER = "change_id,title,change_type,status,author,approver,created_at,approved_at,deployed_at,system"


def changes_file(tmp_path: Path, rows: list[str], name: str = "changes.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([CH_HEADER, *rows]) + "\n")
    return path


def change(i: int, month: int = 8, *, created: str | None = None, deployed: str | None = None,
           key: str | None = None, year: int = 2025) -> str:
    created = f"{year}-{month:02d}-01T10:00:00Z" if created is None else created
    deployed = f"{year}-{month:02d}-02T10:00:00Z" if deployed is None else deployed
    return f"{key or f'CHG-{i}'},Change {i},normal,Done,dev{i},lead,{created},{created},{deployed},web"


def rules(report, severity=None):
    f = report.findings
    if severity:
        f = f[f["severity"] == severity]
    return f["rule"].tolist()


def test_clean_population_passes_every_check(tmp_path):
    rows = [change(i, month=(i % 12) + 1, year=2025 if (i % 12) + 1 >= 7 else 2026) for i in range(24)]
    population = load_population_file(changes_file(tmp_path, rows), kind="changes", timezone=NY)
    report = validate(population, period_start="2025-07-01", period_end="2026-06-30", expected_count=24)
    assert report.usable
    assert report.errors.empty and report.warnings.empty
    outcomes = report.checks.set_index("rule")["outcome"]
    assert outcomes["duplicate_key"] == "passed" and outcomes["month_gap"] == "passed"
    assert outcomes["reconciliation"] == "not run (no second source given)"
    assert list(report.checks["rule"]) == [c[0] for c in CHECKS]
    assert list(report.findings.columns) == ["rule", "column", "row", "value", "severity", "message"]
    assert "USABLE: 0 error(s), 0 warning(s)" in report.summary()


def test_duplicate_keys_each_listed(tmp_path):
    rows = [change(1), change(2), change(3, key="CHG-1"), change(4, key="CHG-1")]
    report = validate(load_population_file(changes_file(tmp_path, rows), kind="changes", timezone=NY))
    dups = report.errors[report.errors["rule"] == "duplicate_key"]
    assert dups["row"].tolist() == [2, 4, 5]
    assert set(dups["value"]) == {"CHG-1"}
    assert "occurs 3 times" in dups["message"].iloc[0]
    assert not report.usable


def test_required_value_missing(tmp_path):
    rows = [change(1), change(2, created="")]
    report = validate(load_population_file(changes_file(tmp_path, rows), kind="changes", timezone=NY))
    missing = report.errors[report.errors["rule"] == "required_value"]
    assert missing[["row", "column", "value"]].values.tolist() == [[3, "created_at", "CHG-2"]]
    assert "created_at is missing on the record change_id 'CHG-2'" in missing["message"].iloc[0]


def test_unparseable_date_is_an_error_not_a_missing_value(tmp_path):
    rows = [change(1), change(2, deployed="31/31/2025 10:00")]
    report = validate(load_population_file(changes_file(tmp_path, rows), kind="changes", timezone=NY))
    assert rules(report, "error") == ["date_parse"]
    hit = report.errors.iloc[0]
    assert (hit["row"], hit["column"], hit["value"]) == (3, "deployed_at", "31/31/2025 10:00")


def test_dates_out_of_order_are_warnings(tmp_path):
    rows = [change(1), change(2, created="2025-08-05T10:00:00Z", deployed="2025-08-01T10:00:00Z")]
    report = validate(load_population_file(changes_file(tmp_path, rows), kind="changes", timezone=NY))
    hit = report.warnings[report.warnings["rule"] == "date_order"]
    assert hit[["row", "value"]].values.tolist() == [[3, "CHG-2"]]
    assert "deployed before it was created" in hit["message"].iloc[0]
    assert report.usable


def test_out_of_period_counted_and_month_gaps(tmp_path):
    rows = [change(1, 6), change(2, 8), change(3, 9, year=2025), change(4, 7, year=2026)]
    population = load_population_file(changes_file(tmp_path, rows), kind="changes", timezone=NY)
    report = validate(population, period_start="2025-08-01", period_end="2025-10-31")
    out = report.warnings[report.warnings["rule"] == "out_of_period"]
    assert out["value"].tolist() == ["1", "1"]
    assert "rows 2)" in out["message"].iloc[0] and "rows 5)" in out["message"].iloc[1]
    assert report.warnings[report.warnings["rule"] == "month_gap"]["value"].tolist() == ["2025-10"]
    assert report.scoped.counts["in_scope"] == 2
    assert report.usable


def test_stated_count_and_export_caps(tmp_path):
    rows = [change(i) for i in range(1000)]
    population = load_population_file(changes_file(tmp_path, rows), kind="changes", timezone=NY)
    report = validate(population, expected_count=1200)
    stated = report.errors[report.errors["rule"] == "stated_count"]
    assert stated["message"].tolist() == [
        f"{population.source_relative}: the file holds 1,000 record(s) but the client stated 1,200 (-200): the population may be incomplete, or "
        "not the file the count describes, so it cannot be tested as complete. Ask the client to explain the "
        "difference or to re-run the report"]
    cap = report.warnings[report.warnings["rule"] == "export_cap"]
    assert "Jira (1,000 issues)" in cap["message"].iloc[0]


def test_zero_records_is_usable_and_said_plainly(tmp_path):
    population = load_population_file(changes_file(tmp_path, []), kind="changes", timezone=NY)
    report = validate(population, period_start="2025-07-01", period_end="2026-06-30", expected_count=0)
    assert report.usable and report.rows_received == 0
    assert rules(report, "info")[0] == "zero_records"
    assert report.checks.set_index("rule").loc["month_gap", "outcome"] == "not applicable (0 records)"


def deployments_file(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "deploys.csv"
    path.write_text("deployment_id,change_id,deployed_at,deployed_by,service,environment\n" + "\n".join(rows) + "\n")
    return path


def test_changes_reconcile_with_deployments_both_ways(tmp_path):
    changes = load_population_file(changes_file(tmp_path, [change(1), change(2), change(3)]), kind="changes",
                                   timezone=NY)
    deployments = load_population_file(deployments_file(tmp_path, [
        "d1,CHG-1,2025-08-02T10:00:30Z,ci,web,production",
        "d2,chg-2,2025-08-02T10:00:40Z,ci,web,production",        # ids compared case-insensitively
        "d3,,2025-08-03T10:00:00Z,bob,web,production",            # deploy without a ticket
        "d4,CHG-9,2025-08-04T10:00:00Z,ci,web,production",        # names a change not in the list
        "d5,,2025-08-04T10:00:00Z,ci,web,staging",                # not production: ignored
    ]), kind="deployments", timezone=NY)
    report = validate(changes, second_sources=[deployments], period_start="2025-07-01", period_end="2026-06-30")
    rec = report.warnings[report.warnings["rule"] == "reconciliation"]
    assert rec["value"].tolist() == ["d3", "d4", "CHG-3"]
    assert "names no change ticket" in rec["message"].iloc[0]
    assert f"names change 'CHG-9', which is not in {tmp_path / 'changes.csv'}" in rec["message"].iloc[1]
    assert "a ticket without a deploy" in rec["message"].iloc[2]
    assert report.usable and report.second_source_names == ("deploys.csv",)
    back = validate(deployments, second_sources=[changes])
    assert back.warnings[back.warnings["rule"] == "reconciliation"]["value"].tolist() == ["d3", "d4", "CHG-3"]


def test_terminations_reconcile_with_user_listings(tmp_path):
    hr = tmp_path / "hr.csv"
    hr.write_text("\ufeffEmployee ID,Worker Name,Work Email,Hire Date,Termination Date\n"
                  "E1,Ann,ann@x.example,2020-01-01,2025-09-01\n"
                  "E2,Bob,bob@x.example,2020-01-01,N/A-StillEmployed\n"
                  "E3,Cy,cy@x.example,2020-01-01,2025-10-01\n", encoding="utf-8")
    okta = tmp_path / "okta.csv"
    okta.write_text("id,status,created,statusChanged,lastLogin,profile.login,profile.email\n"
                    "1,DEPROVISIONED,2020-01-01T00:00:00Z,2025-09-02T00:00:00Z,,ann@x.example,ann@x.example\n"
                    "2,ACTIVE,2020-01-01T00:00:00Z,2020-01-01T00:00:00Z,,bob@x.example,bob@x.example\n"
                    "3,DEPROVISIONED,2020-01-01T00:00:00Z,2025-11-02T00:00:00Z,,dee@x.example,dee@x.example\n")
    terms = load_population_file(hr, kind="terminations", timezone=NY,
                                 columns={"hired_at": "Hire Date", "terminated_at": "Termination Date",
                                          "email": "Work Email"})
    users = load_population_file(okta, kind="users", timezone=NY)
    report = validate(terms, second_sources=[users], period_start="2025-07-01", period_end="2026-06-30")
    rec = report.warnings[report.warnings["rule"] == "reconciliation"]
    assert rec["value"].tolist() == ["E3", "dee@x.example"]
    assert "has no account in any user listing" in rec["message"].iloc[0]
    assert "deprovisioned in the window but has no termination" in rec["message"].iloc[1]
    still = report.findings[(report.findings["rule"] == "out_of_period")]
    assert still["severity"].tolist() == ["info"] and "still employed" in still["message"].iloc[0]
    listing = validate(users, second_sources=[terms], period_start="2025-07-01", period_end="2026-06-30")
    assert listing.warnings[listing.warnings["rule"] == "reconciliation"]["value"].tolist() == ["dee@x.example"]


def test_check_population_with_engagement_finds_the_declaration(demo_type2):
    root = demo_type2
    from workbench.engagement import load_engagement
    engagement = load_engagement(root)
    population, report = check_population(root / "populations" / "deployments_FY26.csv", kind="deployments",
                                          engagement=engagement)
    assert population.name == "deployments" and population.declared.stated_count == 1561
    assert report.usable
    assert set(report.warnings[report.warnings["rule"] == "reconciliation"]["value"]) == {
        "dep-200484", "dep-201102", "CHG-1675"}
    assert report.checks.set_index("rule").loc["stated_count", "outcome"] == "passed"


def test_second_source_that_fails_to_load_is_a_warning(tmp_path):
    class Source:
        def __init__(self, pid, path, kind, columns=None):
            self.id, self.path, self.kind, self.format, self.columns = pid, path, kind, "auto", columns or {}
            self.stated_count = None
            self.records, self.history, self.file = None, "all", str(path)

    class Engagement:
        folder = tmp_path
        timezone = NY
        period_start = period_end = as_of = None

        def __init__(self):
            self.populations = {"changes": Source("changes", changes_file(tmp_path, [change(1)]), "changes"),
                                "deployments": Source("deployments", tmp_path / "gone.csv", "deployments")}

        def population(self, pid):
            return self.populations[pid]

    from workbench.population import load_population
    engagement = Engagement()
    report = validate(load_population(engagement, "changes"), engagement)
    hit = report.warnings[report.warnings["rule"] == "second_source"]
    assert "second source 'deployments' could not be loaded" in hit["message"].iloc[0]
    assert "no such file" in hit["message"].iloc[0]


def test_report_frames_and_text(tmp_path):
    rows = [change(1), change(2, key="CHG-1")]
    population, report = check_population(changes_file(tmp_path, rows), kind="changes", timezone=NY)
    frame = report.to_frame()
    assert frame is not report.findings and frame.equals(report.findings)
    assert "NOT USABLE: 2 error(s)" in report.summary()
    assert ("the key identifies one record", "2 error(s)") in report.to_table()
    assert repr(report).startswith("ValidationReport('changes.csv', usable=False")
    assert report.source == str(tmp_path / "changes.csv")


def test_okta_listing_without_deprovisioned_users_is_suspect(tmp_path):
    path = tmp_path / "okta.csv"
    path.write_text("id,status,created,statusChanged,lastLogin,profile.login\n"
                    "1,ACTIVE,2020-01-01T00:00:00Z,2020-01-01T00:00:00Z,,a@x.example\n")
    report = validate(load_population_file(path, kind="users", timezone=NY))
    hit = report.warnings[report.warnings["rule"] == "listing_filter"]
    assert "holds no DEPROVISIONED user" in hit["message"].iloc[0]


def test_keys_rewritten_by_excel_in_scientific_notation(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("deployment_id,deployed_at\n1.23457E+11,2025-08-01T10:00:00Z\n123456789012,2025-08-01T11:00:00Z\n")
    report = validate(load_population_file(path, kind="deployments", timezone=NY))
    hit = report.warnings[report.warnings["rule"] == "excel_rewrite"]
    assert hit[["row", "value"]].values.tolist() == [[2, "1.23457E+11"]]
    assert report.usable
