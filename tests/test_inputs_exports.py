"""Client exports as they really come (issue 12): each file of the corpus with the exact result or message.

GitHub archives whose people are plain login strings, a GitHub list export without reviews, person fields
of an unknown shape, flags no one can read, a ServiceNow audit trail (an event log: one row per update),
JSON holding several arrays, and HR exports with the headers HR systems write. The full-size audit trail
(141,712 rows for 24,918 incidents, as the public UCI export) is generated here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from event_logs import write_event_log
from workbench.population import load_population_file
from workbench.procedures import get_procedure
from workbench.procedures.base import CheckContext
from workbench.validation import check_population, validate

BAD = Path(__file__).resolve().parent / "bad_inputs"


def messages(report, severity=None):
    found = report.findings if severity is None else report.findings[report.findings["severity"] == severity]
    return found["message"].tolist()


def outcome(report, rule):
    return report.checks.set_index("rule").loc[rule, "outcome"]


# --------------------------------------------------------------------------------------------------
# GitHub
# --------------------------------------------------------------------------------------------------
def test_a_github_archive_with_login_strings_loses_nobody():
    path = BAD / "github_archive_author_strings.json"
    population, report = check_population(path, kind="changes", timezone="UTC")
    assert report.usable and population.format == "github" and len(report.errors) == 0
    frame = population.frame.set_index("change_id")
    assert frame["author"].to_dict() == {
        "example-org/payments-api#1": "ana", "example-org/payments-api#2": "ana",
        "example-org/payments-api#3": "ben", "example-org/payments-api#4": "carla",
        "example-org/payments-api#5": "dependabot", "example-org/payments-api#6": "dana"}
    # the approval must precede the merge: #3's only approval came the day after
    assert frame["approver"].dropna().to_dict() == {"example-org/payments-api#1": "ben",
                                                     "example-org/payments-api#5": "ben"}
    assert frame["deployed_by"].dropna().to_dict() == {
        "example-org/payments-api#1": "ana", "example-org/payments-api#2": "ana", "example-org/payments-api#3": "ben",
        "example-org/payments-api#5": "ben"}
    assert dict(population.column_sources)["deployed_by"] == "deployed_by"


def test_an_author_merging_their_own_pr_without_review_is_seen():
    population = load_population_file(BAD / "github_archive_author_strings.json", kind="changes", timezone="UTC")
    attribute = next(a for a in get_procedure("change_management").attributes if a.id == "approver_not_author")
    result = attribute.check(population.frame, CheckContext())
    reasons = dict(zip(population.frame["change_id"], result["reason"]))
    assert reasons["example-org/payments-api#2"] == ("no approver recorded: deployed (merged) by its author (ana) "
                                                      "without an independent approval")
    assert reasons["example-org/payments-api#3"] == ("no approver recorded: deployed (merged) by its author (ben) "
                                                      "without an independent approval")
    assert reasons["example-org/payments-api#1"] == ""


def test_person_fields_of_an_unknown_shape_are_errors_never_silence():
    path = BAD / "github_author_unreadable.json"
    population, report = check_population(path, kind="changes", timezone="UTC")
    assert not report.usable
    tail = ("here, which is not a value this loader can read, so {0} would be empty on this record; nothing is "
            "dropped silently: ask for the export in a documented shape, or report the shape so it can be read")
    assert messages(report, "error") == [
        f"{path}, row $.pulls[0], column 'author': author: the export holds {{\"email\": \"ana@example.org\"}} "
        + tail.format("author"),
        f"{path}, row $.pulls[1], column 'author': author: the export holds 4242 " + tail.format("author"),
        f"{path}, row $.pulls[2], column 'author': author: the export holds {{\"email\": \"ben@example.org\"}} "
        + tail.format("author"),
        f"{path}, row $.pulls[2].reviews[1], column 'approver': approver: the export holds "
        f"{{\"email\": \"carla@example.org\"}} " + tail.format("approver"),
        f"{path}, column 'author': author is empty on every one of the 3 records (source: author); the changes checks "
        f"need it, so the export is incomplete or the wrong column feeds it: map the right column (a column map), "
        f"or ask the client for an export that carries it",
    ]
    assert outcome(report, "unread_value") == "4 error(s)"


def test_a_github_list_export_without_reviews_is_not_a_clean_population():
    path = BAD / "github_rest_list_without_reviews.json"
    population, report = check_population(path, kind="changes", timezone="UTC")
    assert population.frame["author"].tolist() == ["ana", "ben", "carla"]
    tail = ("the changes checks need it, so the export is incomplete or the wrong column feeds it: GitHub list "
            "exports leave reviews out, so no approval can be read; export the reviews with the pull requests")
    assert messages(report, "error") == [
        f"{path}, column 'approved_at': approved_at is empty on every one of the 3 records (source: approved_at); "
        + tail,
        f"{path}, column 'approver': approver is empty on every one of the 3 records (source: approver); " + tail]
    assert outcome(report, "required_column") == "2 error(s)"


def test_flags_nobody_can_read_are_not_read_as_missing_in_silence():
    path = BAD / "users_flags_unreadable.csv"
    population, report = check_population(path, kind="users", timezone="UTC")
    assert messages(report, "warning") == [
        f"{path}, row {row}, column 'active': active: {value!r} is not a yes/no value (true/false, yes/no, 1/0, "
        f"enabled/disabled, active/inactive); read as missing" for row, value in ((2, "X"), (3, "X"), (4, "-"))]
    assert messages(report, "error") == [
        f"{path}, row 2, column 'active': active ('active') comes out empty on every record, yet the export holds 3 "
        f"value(s) there, such as 'X': none could be read. Map active to the right column (a column map), or ask "
        f"the client for the export in a readable form"]
    assert population.frame["mfa_enabled"].tolist() == [True, False, True]


# --------------------------------------------------------------------------------------------------
# Event logs
# --------------------------------------------------------------------------------------------------
EVENT_LOG = ("{path} looks like an event log (an audit trail: one row per update of a record), not one row per "
             "record: {rows} rows for {records} distinct incident_id values, every one repeated, with a "
             "modification counter 'sys_mod_count' and an update time 'sys_updated_at'. To test the latest state "
             "of each record, load it with --latest-per-key (check-population) or history = \"latest\" in its "
             "[populations.<id>] table of engagement.toml (the earlier states are kept for the workpaper); "
             "otherwise ask the client for a list with one row per record")


def test_an_audit_trail_is_named_for_what_it_is_with_exact_counts():
    path = BAD / "servicenow_audit_trail.csv"
    population, report = check_population(path, kind="incidents")
    assert population.format == "servicenow" and population.versioned_by == ("sys_mod_count", "sys_updated_at")
    errors = report.errors
    assert errors["message"].iloc[0] == EVENT_LOG.format(path=path, rows=30, records=10)
    assert (errors["rule"] == "duplicate_key").sum() == 30          # every row, none capped
    assert outcome(report, "duplicate_key") == "30 error(s)"
    assert errors["message"].iloc[1] == (
        f"{path}, row 2, column 'number': incident_id 'INC0000045' occurs 2 times (this is one of them); the key must "
        f"identify one record: ask the client why, or deliver a corrected export")


def test_the_latest_state_of_each_record_and_the_earlier_states_kept():
    path = BAD / "servicenow_audit_trail.csv"
    population, report = check_population(path, kind="incidents", history="latest")
    assert report.usable and population.rows_received == 10
    history = population.history
    assert (history.rows, history.records, len(history.earlier), len(history.states)) == (30, 10, 20, 10)
    assert history.ordered_by == ("sys_mod_count", "sys_updated_at")
    assert population.frame["status"].tolist() == ["Closed"] * 10
    first = history.states.iloc[1].to_dict()
    assert {k: first[k] for k in ("key", "states", "first_row", "last_row", "first sys_mod_count",
                                  "last sys_mod_count")} == {
        "key": "INC0000046", "states": 5, "first_row": 4, "last_row": 8, "first sys_mod_count": 0,
        "last sys_mod_count": 4}
    assert ("event log read as its latest states (history = latest): 30 rows for 10 records; the latest state of "
            "each incident_id by 'sys_mod_count' then 'sys_updated_at' is tested, 20 earlier state(s) of 10 "
            "record(s) are kept for the workpaper") in population.notes
    assert ("Rows in the file (states)", "30") in population.to_table()


def test_states_out_of_file_order_are_ordered_by_the_counter(tmp_path):
    lines = (BAD / "servicenow_audit_trail.csv").read_text(encoding="utf-8").splitlines()
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text("\n".join([lines[0]] + lines[1:][::-1]) + "\n", encoding="utf-8")
    population = load_population_file(shuffled, kind="incidents", history="latest")
    assert population.frame["status"].tolist() == ["Closed"] * 10
    assert sorted(population.frame["incident_id"]) == [f"INC{i:07d}" for i in range(45, 55)]


@pytest.mark.slow
def test_the_full_size_audit_trail(tmp_path):
    """The public UCI export's shape and size: 141,712 rows for 24,918 incidents."""
    path = tmp_path / "incident_event_log.csv"
    write_event_log(path, incidents=24_918, rows=141_712)
    population, report = check_population(path, kind="incidents")
    assert report.errors["message"].iloc[0] == EVENT_LOG.format(path=path, rows="141,712", records="24,918")
    assert outcome(report, "duplicate_key") == "141,712 error(s)"
    assert len(report.errors) == 141_713 and f"NOT USABLE: 141,713 error(s)" in report.summary()
    table = report.findings_by_rule().set_index("rule")
    assert table.loc["duplicate_key", "findings"] == 141_712
    assert table.loc["duplicate_key", "rows"] == "2, 3, 4, 5, 6 ... (141,712 in all)"
    latest, report = check_population(path, kind="incidents", history="latest")
    assert report.usable and latest.rows_received == 24_918
    assert (latest.history.rows, len(latest.history.earlier)) == (141_712, 141_712 - 24_918)
    assert int(latest.history.states["states"].sum()) == 141_712


def test_a_few_repeated_keys_are_duplicates_not_a_log(tmp_path):
    path = BAD / "duplicate_keys_changes.csv"
    _, report = check_population(path, kind="changes", timezone="UTC")
    assert "event_log" not in set(report.findings["rule"])


# --------------------------------------------------------------------------------------------------
# JSON with several arrays
# --------------------------------------------------------------------------------------------------
def test_json_with_several_arrays_asks_which_one():
    path = BAD / "json_several_arrays.json"
    _, report = check_population(path, kind="backups", timezone="UTC")
    assert messages(report) == [
        f"{path}: JSON holding several arrays of records: 'jobs' (3 objects), 'runs' (2 objects); name the one that "
        f"is the population: --records jobs on the command line, or records = \"jobs\" in [populations.<id>] of "
        f"engagement.toml"]
    population, report = check_population(path, kind="backups", timezone="UTC", records="jobs")
    assert report.usable and population.frame["job_id"].tolist() == ["job-1", "job-2", "job-3"]
    assert population.frame["source_row"].tolist() == ["$.jobs[0]", "$.jobs[1]", "$.jobs[2]"]
    assert "records read from the JSON array $.jobs (the document also holds 'runs' (2 objects))" in population.notes
    _, report = check_population(path, kind="backups", timezone="UTC", records="job")
    assert messages(report) == [
        f"{path}: the JSON has no 'job' at the top level. Did you mean 'jobs'? Its arrays of records: 'jobs' "
        f"(3 objects), 'runs' (2 objects); name one with --records NAME (or records = \"NAME\" in "
        f"[populations.<id>])"]


def test_a_github_archive_read_through_a_named_array(tmp_path):
    import json

    document = json.loads((BAD / "github_archive_author_strings.json").read_text(encoding="utf-8"))
    renamed = {"repo": document["repo"], "merged_requests": document["pulls"], "issues": document["issues"]}
    path = tmp_path / "archive.json"
    path.write_text(json.dumps(renamed), encoding="utf-8")
    population, report = check_population(path, kind="changes", format="github", records="merged_requests",
                                          timezone="UTC")
    assert report.usable and population.rows_received == 6
    assert population.frame["change_id"].iloc[0] == "example-org/payments-api#1"      # the repo beside the array
    assert population.frame["source_row"].iloc[0] == "$.merged_requests[0]"


# --------------------------------------------------------------------------------------------------
# HR headers
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, sources, terminated", [
    ("hr_terminations_empid.csv", {"employee_id": "EmpID", "name": "Employee_Name", "hired_at": "DateofHire",
                                   "terminated_at": "DateofTermination", "status": "EmploymentStatus",
                                   "manager": "ManagerName", "title": "Position"}, 3),
    ("hr_terminations_spaced.csv", {"employee_id": "Employee ID", "hired_at": "Hire Date",
                                    "terminated_at": "Termination Date", "title": "Job Title"}, 2),
])
def test_common_hr_headers_are_recognised(name, sources, terminated):
    population, report = check_population(BAD / name, kind="terminations", timezone="America/New_York")
    assert report.usable, report.summary()
    used = dict(population.column_sources)
    assert {k: used[k] for k in sources} == sources
    assert int(population.frame["terminated_at"].notna().sum()) == terminated


# --------------------------------------------------------------------------------------------------
# Keys, encodings and headers
# --------------------------------------------------------------------------------------------------
def test_a_key_holding_a_carriage_return_is_an_error_at_load_naming_the_row():
    path = BAD / "key_carriage_return.csv"
    population = load_population_file(path, kind="changes", timezone="UTC")
    assert [f[:3] for f in population.findings] == [("key_characters", "change_id", 3)]
    report = validate(population)
    assert messages(report, "error") == [
        f"{path}, row 3, column 'change_id': change_id 'CHG-2\\r' holds a carriage return, which nobody sees but which "
        f"makes it another key than 'CHG-2' wherever keys are compared; ask the client to export the file again, or "
        f"remove the character and deliver the file as a new version"]


def test_utf16_without_a_byte_order_mark_is_text():
    population, report = check_population(BAD / "utf16_without_bom.csv", kind="changes", timezone="UTC")
    assert report.usable and population.frame["title"].tolist() == ["Café menu", "Patch"]
    assert population.encoding == "UTF-16 LE without a byte-order mark (detected)"


def test_utf16_big_endian_without_a_byte_order_mark(tmp_path):
    path = tmp_path / "be.csv"
    path.write_bytes((BAD / "utf16_without_bom.csv").read_bytes().decode("utf-16-le").encode("utf-16-be"))
    population = load_population_file(path, kind="changes", timezone="UTC")
    assert population.rows_received == 2 and population.encoding.startswith("UTF-16 BE")


def test_a_header_of_a_million_columns_is_counted_right(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(1_000_000)) + "\n" + ",".join("x" * 1_000_000) + "\n")
    _, report = check_population(path, kind="changes")
    assert messages(report) == [
        f"{path}, row 1: the header row has 1,000,000 columns (comma-separated); no export of records has that many "
        f"(a spreadsheet holds at most 16,384): is it the right file? Ask the client for the population export as "
        f"CSV or .xlsx"]


def test_a_header_longer_than_the_sample_is_read_whole(tmp_path):
    names = ["change_id", "title", "author", "approver", "created_at", "approved_at", "deployed_at"]
    padding = [f"custom_field_{i:05d}_{'x' * 30}" for i in range(8_000)]      # ~370 KB of header
    path = tmp_path / "long_header.csv"
    path.write_text(",".join(names + padding) + "\n" + ",".join(
        ["CHG-1", "t", "ana", "ben", "2026-01-05T10:00:00Z", "2026-01-05T11:00:00Z", "2026-01-05T12:00:00Z"]
        + [""] * len(padding)) + "\n")
    population = load_population_file(path, kind="changes", timezone="UTC")
    assert population.rows_received == 1 and population.frame["approver"].tolist() == ["ben"]
