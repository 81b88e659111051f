"""`workbench check-population` as a user runs it: exit codes, messages, never a traceback."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKBENCH = str(Path(sys.executable).parent / "workbench")
DEMO = ROOT / "sample_data" / "acme-type2"
BAD = ROOT / "tests" / "bad_inputs"


def check(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([WORKBENCH, "check-population", *arguments], capture_output=True, text=True,
                          timeout=120)


def test_usable_export_exits_0_and_prints_its_hash():
    path = DEMO / "populations" / "deployments_FY26.csv"
    done = check(str(path), "--kind", "deployments")
    assert done.returncode == 0, done.stderr
    assert hashlib.sha256(path.read_bytes()).hexdigest() in done.stdout
    assert "1,561 records; USABLE: 0 error(s)" in done.stdout


def test_with_the_engagement_the_period_and_second_source_apply(demo_type2):
    path = demo_type2 / "populations" / "jira_changes_FY26.csv"
    done = check(str(path), "--kind", "changes", "--engagement", str(demo_type2))
    assert done.returncode == 0, done.stderr
    # sample_data/README.md: 30 changes before and 30 after the period; dep-200484 and dep-201102 have no
    # change key and CHG-1675 has no deployment
    assert "1,560 records; USABLE" in done.stdout
    assert "CHG-1675" in done.stdout and "dep-200484" in done.stdout and "dep-201102" in done.stdout


def test_period_given_on_the_command_line_counts_exclusions():
    path = DEMO / "populations" / "jira_changes_FY26.csv"
    done = check(str(path), "--kind", "changes", "--timezone", "America/New_York",
                 "--period-start", "2025-07-01", "--period-end", "2026-06-30", "--expected-count", "1500")
    # a count that disagrees with the file is an error (issue 12): the client counted the period, not the file
    assert done.returncode == 1, done.stderr
    # sample_data/README.md: 1,500 changes in the period, 30 before it and 30 after it
    assert "in scope 1,500; excluded 60 (30 before, 30 after, 0 without deployed_at)" in done.stdout
    assert "the file holds 1,560 record(s) but the client stated 1,500 (+60): the population may be" in done.stdout
    done = check(str(path), "--kind", "changes", "--timezone", "America/New_York", "--expected-count", "1560")
    assert done.returncode == 0, done.stderr


def test_header_only_is_a_recorded_zero():
    done = check(str(BAD / "header_only_changes.csv"), "--kind", "changes")
    assert done.returncode == 0, done.stderr
    assert "0 records" in done.stdout


@pytest.mark.parametrize("name, kind, expected", [
    ("duplicate_keys_changes.csv", "changes", "change_id 'CHG-1' occurs 2 times"),
    ("missing_required_column_changes.csv", "changes", "missing_required_column_changes.csv"),
    ("no_header_changes.csv", "changes", "no_header_changes.csv"),
    ("binary_garbage.csv", "changes", "binary_garbage.csv"),
    ("corrupt_truncated.xlsx", "changes", "corrupt_truncated.xlsx"),
    ("unparseable_dates_changes.csv", "changes", "unparseable_dates_changes.csv"),
    ("a_directory", "changes", "a_directory"),
    ("does_not_exist.csv", "changes", "does_not_exist.csv: no such file"),
])
def test_unusable_input_exits_1_naming_the_file(name, kind, expected):
    done = check(str(BAD / name), "--kind", kind)
    assert done.returncode == 1
    assert expected in done.stdout + done.stderr
    assert "NOT USABLE" in done.stdout or "workbench check-population:" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize("arguments, message", [
    (["x.csv"], "--kind"),
    (["x.csv", "--kind", "changes", "--period-start", "2025-13-01", "--period-end", "2026-06-30"],
     "is not a date; write it as YYYY-MM-DD"),
    (["x.csv", "--kind", "changes", "--as-of", "2026-06-30", "--period-start", "2025-07-01",
      "--period-end", "2026-06-30"], "either --period-start/--period-end or --as-of"),
    (["x.csv", "--kind", "changes", "--period-start", "2025-07-01"], "go together"),
    (["x.csv", "--kind", "changes", "--expected-count", "-3"], "not a whole number >= 0"),
    (["x.csv", "--kind", "changes", "--timezone", "Mars/Base"], "'Mars/Base' is not an IANA time zone"),
])
def test_usage_errors_exit_2(arguments, message):
    done = check(*arguments)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file of a folder (recursively) with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_checking_an_engagement_population_leaves_the_folder_byte_identical(type2_copy):
    """Inspecting a file is not using it: check-population reads only (no results store, no pin, no output)."""
    before = folder_bytes(type2_copy)
    for population in ("jira_changes_FY26.csv", "okta_users_2026-07-02.csv"):
        kind = "changes" if population.startswith("jira") else "users"
        done = check(str(type2_copy / "populations" / population), "--kind", kind, "--engagement", str(type2_copy))
        assert done.returncode == 0, done.stderr
    assert folder_bytes(type2_copy) == before
    assert not (type2_copy / "results.sqlite").exists()


# ---- issue 12: column maps, declarations, the findings table and the report ----------------------------------

@pytest.mark.parametrize("arguments, message", [
    (["x.csv", "--kind", "change"], "--kind 'change' is not known. Did you mean 'changes'? Use one of: changes, "),
    (["x.csv", "--kind", "changes", "--format", "service-now"],
     "--format 'service-now' is not known. Did you mean 'servicenow'? Use one of: auto, generic, jira, "),
    (["x.csv", "--kind", "changes", "--map", "approver"], "'approver' is not CANONICAL=SOURCE"),
    (["x.csv", "--kind", "changes", "--report", "out.json"], "--report out.json: write the report as .csv or .xlsx"),
    (["x.csv", "--kind", "changes", "--population", "changes"], "--population ID names a population of an engagement"),
    (["--kind", "changes"], "give the FILE to check"),
])
def test_unknown_names_and_bad_options_are_usage_errors(arguments, message):
    done = check(*arguments)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_population_id_lists_the_declared_ones():
    done = check("--engagement", str(DEMO), "--population", "change")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "change" in done.stderr and "changes" in done.stderr


def test_a_column_map_on_the_command_line_and_the_columns_used():
    done = check(str(BAD / "servicenow_audit_trail.csv"), "--kind", "incidents", "--latest-per-key",
                 "--map", "opened_by=caller_id", "--map", "title=category")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "    opened_by        <- caller_id\n" in done.stdout
    assert "    title            <- category\n" in done.stdout
    assert "    service          <- (not in the export)\n" in done.stdout
    assert "  30 rows received: the states of 10 record(s), the latest of each tested (event log)" in done.stdout


def test_an_event_log_prints_the_findings_table_with_exact_counts(tmp_path):
    report = tmp_path / "findings.csv"
    done = check(str(BAD / "servicenow_audit_trail.csv"), "--kind", "incidents", "--report", str(report))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "[30 error(s)] the key identifies one record" in done.stdout
    assert "NOT USABLE: 31 error(s), 0 warning(s)" in done.stdout
    assert "Findings: 37 (31 error(s), 0 warning(s), 6 info), by rule:" in done.stdout
    assert "  error    duplicate_key number        30  2, 3, 4, 5, 6 ... (30 in all)\n" in done.stdout
    assert "... and 11 more of the 31 errors and warnings" in done.stdout
    assert f"Every finding (37) written to {report}" in done.stdout
    import csv
    rows = list(csv.DictReader(report.open(encoding="utf-8-sig")))
    assert len(rows) == 37 and sum(r["rule"] == "duplicate_key" for r in rows) == 30
    assert list(rows[0]) == ["rule", "column", "row", "value", "severity", "message"]


def test_the_report_never_turns_client_text_into_a_formula(tmp_path):
    source = tmp_path / "changes.csv"
    source.write_text("change_id,title,author,approver,created_at,approved_at,deployed_at\n"
                      "CHG-1,Patch,ana,ben,=HYPERLINK(\"http://x\"),2026-01-05T11:00:00Z,2026-01-05T12:00:00Z\n"
                      "CHG-2,Patch,ana,ben,2026-01-06T10:00:00Z,2026-01-06T11:00:00Z,2026-01-06T12:00:00Z\n",
                      encoding="utf-8")
    xlsx, csv_path = tmp_path / "findings.xlsx", tmp_path / "findings.csv"
    for report in (xlsx, csv_path):
        done = check(str(source), "--kind", "changes", "--report", str(report))
        assert done.returncode == 1, done.stderr
    from openpyxl import load_workbook
    sheet = load_workbook(xlsx)["Findings"]
    values = [[c for c in row] for row in sheet.iter_rows(min_row=2)]
    cell = next(row[3] for row in values if row[0].value == "date_parse")
    assert cell.value == '=HYPERLINK("http://x")' and cell.data_type == "s" and cell.quotePrefix
    assert load_workbook(xlsx).sheetnames == ["Findings", "By rule", "Checks", "Source"]
    text = csv_path.read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK(\"\"http://x\"\")" in text and ",=HYPERLINK" not in text


def test_a_file_outside_the_engagement_checked_as_one_of_its_populations(tmp_path):
    """A new version received by e-mail: its population's column map, stated count and partner apply."""
    new = tmp_path / "deployments_resent.csv"
    new.write_bytes((DEMO / "populations" / "deployments_FY26.csv").read_bytes())
    done = check(str(new), "--engagement", str(DEMO), "--population", "deployments")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "    change_id     <- jira_key\n" in done.stdout
    assert f"Population 'deployments' (deployments, format generic): {new}" in done.stdout
    assert "[passed] the record count agrees with the count the client stated" in done.stdout
    # without --population the file is nobody's: the declaration (and its map) does not apply, and it says so
    done = check(str(new), "--kind", "deployments", "--engagement", str(DEMO))
    assert "    change_id     <- (not in the export)\n" in done.stdout
    assert (f"is not one of the engagement's populations, so no declaration applies (column map, stated count); "
            f"name one with --population ID to check the file as that population") in done.stdout


def test_a_population_of_the_engagement_by_its_id(type2_copy):
    done = check("--engagement", str(type2_copy), "--population", "changes")
    assert done.returncode == 0, done.stderr
    assert "1,560 records; USABLE" in done.stdout and "    change_id   <- Issue key\n" in done.stdout
    done = check("--engagement", str(type2_copy), "--population", "changes", "--kind", "users")
    assert done.returncode == 2
    assert "--kind users contradicts population 'changes', which engagement.toml declares as kind 'changes'" \
        in done.stderr
    assert not (type2_copy / "results.sqlite").exists()


def test_records_on_the_command_line():
    done = check(str(BAD / "json_several_arrays.json"), "--kind", "backups", "--records", "jobs")
    assert done.returncode == 0, done.stdout
    assert "note: records read from the JSON array $.jobs" in done.stdout
