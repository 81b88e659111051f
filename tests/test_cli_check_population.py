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
