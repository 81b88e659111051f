"""Loading populations: the demo engagement's files, scoping, and the bad-input corpus."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from workbench.errors import PopulationError
from workbench.formats.schemas import SCHEMAS
from workbench.population import Population, load_population, load_population_file
from workbench.scope import TYPE1_LOOKBACK_DAYS, scope_population
from workbench.validation import check_population, validate

ROOT = Path(__file__).resolve().parents[1]
TYPE2 = ROOT / "sample_data" / "acme-type2"
TYPE1 = ROOT / "sample_data" / "acme-type1"
BAD = Path(__file__).resolve().parent / "bad_inputs"
NY = "America/New_York"


@pytest.fixture(scope="module")
def type2(demo_type2):
    from workbench.engagement import load_engagement
    return load_engagement(demo_type2)


@pytest.fixture(scope="module")
def changes(type2) -> Population:
    return load_population(type2, "changes")


# ---- the demo engagement -----------------------------------------------------------------------

def test_demo_changes_load_in_canonical_schema(changes):
    frame = changes.frame
    assert list(frame.columns) == list(SCHEMAS["changes"].columns) + ["source_row"]
    assert changes.rows_received == 1560
    assert changes.format == "jira"
    assert changes.key == "change_id"
    assert changes.source_relative == "populations/jira_changes_FY26.csv"
    assert changes.sha256 == hashlib.sha256((TYPE2 / changes.source_relative).read_bytes()).hexdigest()
    assert changes.timezone == NY and changes.timezone_assumed
    assert all(str(frame[c].dtype) == "datetime64[us, America/New_York]" for c in SCHEMAS["changes"].timestamps)
    by_id = frame.set_index("change_id")
    assert by_id.loc["CHG-1675", "source_row"] == 637
    assert pd.isna(by_id.loc["CHG-2319", "approved_at"])                  # planted: Approved blank
    assert by_id.loc["CHG-2151", "created_at"] == pd.Timestamp("2026-03-28 22:27", tz=NY)
    assert set(frame["change_type"]) == {"standard", "normal", "emergency"}
    # the author is the assignee's account id (sample_data/README.md), not the display name
    assert frame["author"].str.match(r"^(712020:[0-9a-f-]{36}|[0-9a-f]{24})$").all()
    assert changes.declared.provided_by == "Priya Shah, Release Manager"


def test_demo_changes_scope_uses_engagement_zone(type2, changes):
    scoped = scope_population(changes, type2, date_column="deployed_at")
    assert scoped.counts == {"received": 1560, "in_scope": 1500, "before": 30, "after": 30, "no_date": 0, "filtered": 0}
    assert "CHG-2562" in set(scoped.frame["change_id"])   # 30/Jun/26 10:47 PM New York = 2026-07-01T02:47Z
    assert scoped.start == pd.Timestamp("2025-07-01 00:00", tz=NY)
    assert scoped.end == pd.Timestamp("2026-07-01 00:00", tz=NY)
    assert len(scoped.months) == 12 and scoped.months_without_records == ()
    assert sum(n for _, n in scoped.months) == 1500
    assert set(scoped.excluded["reason"]) == {"deployed_at before 2025-07-01", "deployed_at after 2026-06-30"}
    assert len(scoped.excluded) == 60
    assert ("In scope", "1,500") in scoped.to_table()


def test_every_demo_population_loads_and_is_usable(type2):
    for pid, source in type2.populations.items():
        population = load_population(type2, pid)
        report = validate(population, type2)
        assert report.usable, (pid, report.errors["message"].tolist())
        assert population.rows_received == source.stated_count, pid
        assert list(population.frame.columns)[-1] == "source_row"


def test_demo_reconciliation_breaks_are_warnings(type2, changes):
    report = validate(changes, type2)
    rec = report.findings[report.findings["rule"] == "reconciliation"]
    assert set(rec["value"]) == {"dep-200484", "dep-201102", "CHG-1675"}
    assert set(rec["severity"]) == {"warning"}
    assert report.usable
    assert report.second_source_names == ("deployments",)
    order = report.findings[report.findings["rule"] == "date_order"]
    assert set(order["value"]) == {"CHG-2151", "CHG-2359"}               # planted: ticket after deployment


def test_demo_type1_as_of_lookback(demo_type1):
    from workbench.engagement import load_engagement
    engagement = load_engagement(demo_type1)
    population = load_population(engagement, "changes")
    scoped = scope_population(population, engagement, date_column="deployed_at")
    assert scoped.mode == "as_of" and scoped.lookback_days == TYPE1_LOOKBACK_DAYS
    assert scoped.end == pd.Timestamp("2026-07-01", tz=NY)
    assert scoped.start == pd.Timestamp("2026-07-01", tz=NY) - pd.Timedelta(days=TYPE1_LOOKBACK_DAYS)
    assert scoped.frame["deployed_at"].max() < scoped.end
    assert scoped.counts["after"] == 30


def test_listing_is_taken_whole(type2):
    population = load_population(type2, "okta_users")
    scoped = scope_population(population, type2)
    assert scoped.mode == "listing" and len(scoped) == population.rows_received
    assert scoped.excluded.empty


def test_timezone_override_and_default(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("deployment_id,deployed_at\nd1,2025-08-01 10:00:00\n")
    utc = load_population_file(path, kind="deployments")
    assert utc.timezone == "UTC" and utc.timezone_assumed
    assert any("read as UTC" in n for n in utc.notes)
    tokyo = load_population_file(path, kind="deployments", timezone="Asia/Tokyo")
    assert tokyo.frame.loc[0, "deployed_at"] == pd.Timestamp("2025-08-01 01:00", tz="UTC")
    with pytest.raises(PopulationError, match="'Mars/Base' is not an IANA time zone"):
        load_population_file(path, kind="deployments", timezone="Mars/Base")


def test_unknown_kind_and_format(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a\n1\n")
    with pytest.raises(PopulationError, match="unknown population kind 'widgets'"):
        load_population_file(path, kind="widgets")
    with pytest.raises(PopulationError, match="unknown format 'sap'"):
        load_population_file(path, kind="changes", format="sap")


def test_scope_rejects_both_period_and_as_of(changes):
    with pytest.raises(PopulationError, match="either a period"):
        scope_population(changes, date_column="deployed_at", period_start="2025-07-01",
                         period_end="2026-06-30", as_of="2026-06-30")
    with pytest.raises(PopulationError, match="period_end 2025-01-01 is before period_start 2025-07-01"):
        scope_population(changes, date_column="deployed_at", period_start="2025-07-01", period_end="2025-01-01")
    with pytest.raises(PopulationError, match="'title' is not a timestamp column"):
        scope_population(changes, date_column="title", as_of="2026-06-30")


def test_period_bounds_are_whole_days(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("deployment_id,deployed_at\n"
                    "d1,2025-06-30T23:59:59-04:00\nd2,2025-07-01T00:00:00-04:00\n"
                    "d3,2026-06-30T23:59:59-04:00\nd4,2026-07-01T00:00:00-04:00\nd5,\n")
    population = load_population_file(path, kind="deployments", timezone=NY)
    scoped = scope_population(population, date_column="deployed_at", period_start="2025-07-01",
                              period_end="2026-06-30")
    assert scoped.frame["deployment_id"].tolist() == ["d2", "d3"]
    assert scoped.excluded["reason"].tolist() == ["deployed_at before 2025-07-01", "deployed_at after 2026-06-30",
                                                  "no deployed_at"]


# ---- the bad-input corpus ----------------------------------------------------------------------

# file -> (kind, format, regex the message must match)
CORPUS = {
    "empty.csv": ("changes", "auto", r"the file is empty"),
    "whitespace_only.csv": ("changes", "auto", r"the file is empty"),
    "no_header_changes.csv": ("changes", "auto", r"row 1: the file has no header row"),
    "binary_garbage.csv": ("changes", "auto", r"the file is binary"),
    "not_a_table.txt": ("changes", "auto", r"not a table"),
    "html_login_page.csv": ("changes", "auto", r"web page \(HTML/XML\), not an export"),
    "okta_export_named_jira.csv": ("changes", "jira", r"format 'jira' was named.*looks like a 'okta' export"),
    "corrupt_truncated.xlsx": ("changes", "auto", r"not a readable Excel workbook"),
    "zip_not_workbook.xlsx": ("changes", "auto", r"not a readable Excel workbook"),
    "legacy_excel.xls": ("changes", "auto", r"legacy Excel 97-2003 workbook \(\.xls\)"),
    "empty_sheet.xlsx": ("changes", "auto", r"sheet 'Empty' is empty"),
    "missing_required_column_changes.csv": ("changes", "auto",
                                            r"column 'deployed_at': required column\(s\) missing.*deployed_at"),
    "jira_without_custom_fields.csv": ("changes", "auto", r"required column\(s\) missing for kind 'changes' \(format 'jira'\)"),
    "ragged_row_changes.csv": ("changes", "auto", r"row 3: this row has 11 fields but the header has 10"),
    "json_not_records.json": ("changes", "auto", r"JSON, but not a list of records"),
    "invalid_json.json": ("changes", "auto", r"not valid JSON"),
    "a_directory": ("changes", "auto", r"this is a directory, not a file"),
    "does_not_exist.csv": ("changes", "auto", r"no such file"),
}

# files that load but whose values make the population unusable: file -> (rule, row, column)
VALUE_ERRORS = {
    "unparseable_dates_changes.csv": ("date_parse", 3, "created_at"),
    "duplicate_keys_changes.csv": ("duplicate_key", 2, "change_id"),
    "missing_key_changes.csv": ("required_value", 3, "change_id"),
}


def _snapshot(folder: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(folder)), p.stat().st_mtime_ns) for p in folder.rglob("*"))


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_bad_input_is_one_clear_error(name, capsys):
    kind, fmt, pattern = CORPUS[name]
    path = BAD / name
    before = _snapshot(BAD)
    with pytest.raises(PopulationError, match=pattern) as info:
        load_population_file(path, kind=kind, format=fmt, timezone="UTC")
    assert str(path) in str(info.value)                                  # names the file
    population, report = check_population(path, kind=kind, format=fmt, timezone="UTC")
    assert population is None and not report.usable
    errors = report.errors
    assert len(errors) == 1 and str(path) in errors["message"].iloc[0]
    checks = report.checks.set_index("rule")["outcome"]
    assert checks["duplicate_key"].startswith("not run")
    assert checks["file"] == ("passed" if "required column" in pattern else "1 error(s)")
    assert "the file could not be loaded; NOT USABLE: 1 error(s)" in report.summary()
    assert _snapshot(BAD) == before                                      # nothing written
    assert capsys.readouterr().out == ""


#: the corpus of issue 12 (real exports and hostile files), asserted in tests/test_inputs_*.py; README.md lists all
ISSUE_12 = {
    "README.md", "damaged_truncated_sheet.xlsx", "damaged_encrypted_entry.xlsx",
    "damaged_unknown_compression.xlsx", "github_archive_author_strings.json", "github_author_unreadable.json",
    "github_rest_list_without_reviews.json", "json_several_arrays.json", "servicenow_audit_trail.csv",
    "hr_terminations_empid.csv", "hr_terminations_spaced.csv", "key_carriage_return.csv", "utf16_without_bom.csv",
    "users_flags_unreadable.csv",
}


def test_corpus_is_complete():
    on_disk = {p.name for p in BAD.iterdir()}
    assert on_disk == (set(CORPUS) | set(VALUE_ERRORS) | {"header_only_changes.csv"} | ISSUE_12) - {"does_not_exist.csv"}


@pytest.mark.parametrize("name", sorted(VALUE_ERRORS))
def test_bad_values_are_error_findings_with_row_and_column(name):
    rule, row, column = VALUE_ERRORS[name]
    population, report = check_population(BAD / name, kind="changes", timezone="UTC")
    assert population is not None and not report.usable
    hit = report.errors[report.errors["rule"] == rule].iloc[0]
    assert (hit["row"], hit["column"]) == (row, column)
    assert hit["message"].startswith(f"{BAD / name}, row {row}, column {column!r}")


def test_header_only_file_is_a_recorded_zero():
    population, report = check_population(BAD / "header_only_changes.csv", kind="changes", timezone="UTC",
                                          period_start="2025-07-01", period_end="2026-06-30")
    assert population.rows_received == 0 and report.usable
    assert "0 records (a recorded zero)" in report.summary()
    assert report.findings[report.findings["rule"] == "zero_records"]["severity"].tolist() == ["info"]
    assert report.findings[report.findings["rule"] == "month_gap"].empty
    scoped = scope_population(population, date_column="deployed_at", as_of="2026-06-30")
    assert len(scoped) == 0 and scoped.excluded.empty


# ---- result objects ----------------------------------------------------------------------------

def test_population_summary_and_table(changes):
    text = changes.summary()
    assert text.splitlines()[0] == "Population 'changes' (changes, format jira): populations/jira_changes_FY26.csv"
    assert f"SHA-256 {changes.sha256}" in text and "1,560 record(s) received" in text
    assert "times in America/New_York, assumed for times without a zone" in text
    table = dict(changes.to_table())
    assert table["Records received"] == "1,560" and table["Request"] == "PBC-07"
    assert table["Column deployed_at"] == "Custom field (Deployed)"
    assert table["Column author"] == "Assignee Id"
    assert repr(changes).startswith("Population(name='changes', kind='changes', format='jira', rows_received=1560")


def test_scoped_summary_and_table(type2, changes):
    scoped = scope_population(changes, type2, date_column="deployed_at")
    assert scoped.summary().splitlines()[0] == (
        "changes: 1,500 of 1,560 record(s) in scope (2025-07-01 00:00 to 2026-06-30 24:00 America/New_York, "
        "by deployed_at)")
    table = dict(scoped.to_table())
    assert table["Excluded: before the window"] == "30" and table["Months covered"] == "12 of 12"
    assert scoped.key == "change_id" and len(scoped.keys) == 1500


def test_report_summary_lists_checks(type2, changes):
    report = validate(changes, type2)
    lines = report.summary().splitlines()
    assert lines[0] == ("changes (populations/jira_changes_FY26.csv): 1,560 records; USABLE: 0 error(s), "
                        "7 warning(s)")
    assert "  [passed] the key identifies one record" in lines
    assert "  [3 warning(s)] an independent second source reconciles both ways" in lines


# ---- more shapes -------------------------------------------------------------------------------

def test_xlsx_with_a_title_row(tmp_path):
    import openpyxl
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Reviews"
    ws.append(["User access reviews FY26"])
    ws.append([])
    ws.append(["Review ID", "System", "Due Date", "Completed", "Users in Scope"])
    ws.append(["UAR-1", "AWS", pd.Timestamp("2025-10-30").to_pydatetime(), None, 33])
    wb.create_sheet("Items")
    wb.save(tmp_path / "uar.xlsx")
    population = load_population_file(tmp_path / "uar.xlsx", kind="access_reviews", timezone=NY,
                                      columns={"accounts_reviewed": "Users in Scope"})
    frame = population.frame
    assert frame.loc[0, "source_row"] == 4
    assert frame.loc[0, "due_at"] == pd.Timestamp("2025-10-30", tz=NY)
    assert frame.loc[0, "accounts_reviewed"] == 33
    assert any("header found on row 3" in n for n in population.notes)
    assert any("read the first, 'Reviews'" in n for n in population.notes)


def test_generic_json_and_ndjson(tmp_path):
    path = tmp_path / "jobs.json"
    path.write_text('{"jobs": [{"job_id": "j1", "started_at": "2025-08-01T05:00:00Z", "status": "Failed"}]}')
    population = load_population_file(path, kind="backups", timezone="UTC")
    assert population.frame.loc[0, "source_row"] == "$.jobs[0]"
    assert population.format == "generic"
    nd = tmp_path / "jobs.ndjson"
    nd.write_text('{"job_id": "j1", "started_at": "2025-08-01T05:00:00Z"}\n\n'
                  '{"job_id": "j2", "started_at": "2025-08-02T05:00:00Z"}\n')
    population = load_population_file(nd, kind="backups", timezone="UTC")
    assert population.frame["job_id"].tolist() == ["j1", "j2"]


def test_relative_source_without_engagement(tmp_path):
    folder = tmp_path / "eng"
    (folder / "populations").mkdir(parents=True)
    path = folder / "populations" / "d.csv"
    path.write_text("deployment_id,deployed_at\nd1,2025-08-01T10:00:00Z\n")
    population = load_population_file(path, kind="deployments", base_folder=folder, name="deployments")
    assert population.source_relative == "populations/d.csv" and population.name == "deployments"
