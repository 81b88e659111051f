"""The corpus of issue 12 through ``workbench run``: one engagement whose controls each test a bad export.

Every control's notebook either runs (the export is read as it should be) or fails with one message naming
the file and what to do: never a traceback on the terminal, and the run exits 1 (a population rejected).
Engagement-level problems (a damaged control matrix, a symbolic link out of the folder) exit 2 before anything
runs: see ``tests/test_inputs_hostile.py``. A second source that changed after it was pinned is refused
here, with both hashes named.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from workbench.engagement import load_engagement
from workbench.population import load_population
from workbench.receipt import pin_populations
from workbench.validation import validate

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BAD = ROOT / "tests" / "bad_inputs"
WORKBENCH = str(Path(sys.executable).parent / "workbench")

ENGAGEMENT = """\
[engagement]
client = "Corpus Client, Inc."
report_type = "type2"
period_start = 2025-07-01
period_end = 2026-06-30
timezone = "UTC"
criteria = ["security"]
engagement_id = "CORPUS-T2"

[sampling]
confidence = 0.90
tolerable_rate = 0.10

[[staff]]
name = "Dana Reyes"
initials = "DR"
role = "preparer"

[[staff]]
name = "Morgan Ellis"
initials = "ME"
role = "reviewer"
"""

CHANGE_LOG = """\
number,short_description,type,state,requested_by,approver,opened_at,approval_set,work_end,sys_mod_count,sys_updated_on
CHG0001,Patch web,Normal,New,ana,,2026-01-05 10:00:00,,,0,2026-01-05 10:00:00
CHG0001,Patch web,Normal,Implement,ana,ben,2026-01-05 10:00:00,2026-01-05 11:00:00,,1,2026-01-05 11:00:00
CHG0001,Patch web,Normal,Closed,ana,ben,2026-01-05 10:00:00,2026-01-05 11:00:00,2026-01-05 12:00:00,2,2026-01-05 12:00:00
CHG0002,Rotate keys,Normal,New,ben,,2026-02-05 10:00:00,,,0,2026-02-05 10:00:00
CHG0002,Rotate keys,Normal,Closed,ben,carla,2026-02-05 10:00:00,2026-02-05 11:00:00,2026-02-05 12:00:00,1,2026-02-05 12:00:00
CHG0003,Resize disks,Normal,New,carla,,2026-03-05 10:00:00,,,0,2026-03-05 10:00:00
CHG0003,Resize disks,Normal,Closed,carla,ana,2026-03-05 10:00:00,2026-03-05 11:00:00,2026-03-05 12:00:00,1,2026-03-05 12:00:00
"""

#: control id -> (population id, file written under populations/, [populations.<id>] keys)
CONTROLS = {
    "GH-01": ("github_prs", "github_archive.json", 'format = "github"\nrecords = "pulls"\nstated_count = 6'),
    "GH-02": ("github_odd", "github_author_unreadable.json", ""),
    "ZR-01": ("zero", "header_only_changes.csv", "stated_count = 1560"),
    "ZR-02": ("zero_explained", "header_only_again.csv",
              'stated_count = 1560\nstated_count_note = "PBC-07: the client counted last year\'s changes; none this period"'),
    "DM-01": ("damaged", "damaged_truncated_sheet.xlsx", ""),
    "DM-02": ("encrypted", "damaged_encrypted_entry.xlsx", ""),
    "BOMB-01": ("bomb", "bomb.xlsx", ""),
    "CR-01": ("carriage_return", "key_carriage_return.csv", ""),
    "U16-01": ("utf16", "utf16_without_bom.csv", ""),
    "WIDE-01": ("wide", "wide.csv", ""),
    "EV-01": ("change_log", "change_log.csv", 'history = "latest"'),
    "EV-02": ("change_log_as_list", "change_log_again.csv", ""),
}


def bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b" " * (40 << 20))
    return out.getvalue()


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus") / "corpus-t2"
    populations = folder / "populations"
    populations.mkdir(parents=True)
    sources = {
        "github_archive.json": (BAD / "github_archive_author_strings.json").read_bytes(),
        "header_only_again.csv": (BAD / "header_only_changes.csv").read_bytes(),
        "bomb.xlsx": bomb(),
        "wide.csv": (",".join(f"c{i}" for i in range(1_000_000)) + "\n").encode(),
        "change_log.csv": CHANGE_LOG.encode(), "change_log_again.csv": CHANGE_LOG.encode(),
    }
    toml = [ENGAGEMENT]
    matrix = ["control_id,description,criteria,frequency,nature,procedure,populations,attributes"]
    for control, (pid, name, keys) in CONTROLS.items():
        (populations / name).write_bytes(sources.get(name) or (BAD / name).read_bytes())
        toml.append(f'\n[populations.{pid}]\nfile = "populations/{name}"\nkind = "changes"\n{keys}\n')
        matrix.append(f"{control},Changes are approved.,CC8.1,many_times_a_day,automated,change_management,{pid},"
                      f"ticket_before_deployment;approved_before_deployment;approver_not_author")
    (folder / "engagement.toml").write_text("".join(toml), encoding="utf-8")
    (folder / "controls.csv").write_text("\n".join(matrix) + "\n", encoding="utf-8")
    done = subprocess.run([WORKBENCH, "run", str(folder), "--workers", "2", "--no-progress"], capture_output=True,
                          text=True, timeout=900)
    manifest = json.loads((folder / "output" / "manifest.json").read_text(encoding="utf-8"))
    return {"done": done, "folder": folder, "runs": {c["control_id"]: c for c in manifest["controls"]}}


def test_the_run_exits_1_and_never_shows_a_traceback(corpus_run):
    done = corpus_run["done"]
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert {c: r["status"] for c, r in corpus_run["runs"].items()} == {
        "GH-01": "ran", "GH-02": "failed", "ZR-01": "failed", "ZR-02": "ran", "DM-01": "failed", "DM-02": "failed",
        "BOMB-01": "failed", "CR-01": "failed", "U16-01": "ran", "WIDE-01": "failed", "EV-01": "ran",
        "EV-02": "failed"}


FAILURES = {
    "GH-02": ["PopulationError: populations/github_author_unreadable.json: 5 error(s) in the completeness and accuracy",
              "unread_value, column 'author', row $.pulls[0]: populations/github_author_unreadable.json, row $.pulls[0], "
              "column 'author': author: the export holds {\"email\": \"ana@example.org\"} here, which is not a value "
              "this loader can read"],
    "ZR-01": ["stated_count: populations/header_only_changes.csv: the file holds 0 record(s) but the client stated "
              "1,560 (-1,560): the population may be incomplete, or not the file the count describes, so it cannot be "
              "tested as complete. Ask the client to explain the difference or to re-run the report; once explained, "
              "record the explanation beside the count (stated_count_note in [populations.zero] of engagement.toml)"],
    "DM-01": ["damaged_truncated_sheet.xlsx: not a readable Excel workbook (damaged): a part of it is truncated or "
              "malformed XML (unclosed token: line 1, column 1009); open it in Excel and save it again as .xlsx or "
              "CSV, or ask the client to export it again"],
    "DM-02": ["damaged_encrypted_entry.xlsx: the workbook is refused before it is opened: its part 'docProps/app.xml' "
              "is flagged as encrypted"],
    "BOMB-01": ["bomb.xlsx: the workbook is refused before it is opened: it would expand to 40.0 MiB from"],
    "CR-01": ["key_characters, column 'change_id', row 3: populations/key_carriage_return.csv, row 3, column "
              "'change_id': change_id 'CHG-2\\r' holds a carriage return"],
    "WIDE-01": ["wide.csv, row 1: the header row has 1,000,000 columns (comma-separated)"],
    "EV-02": ["populations/change_log_again.csv looks like an event log (an audit trail: one row per update of a "
              "record), not one row per record: 7 rows for 3 distinct change_id values, every one repeated, with a "
              "modification counter 'sys_mod_count' and an update time 'sys_updated_on'"],
}


@pytest.mark.parametrize("control", sorted(FAILURES))
def test_each_rejected_population_is_one_message_naming_the_file(corpus_run, control):
    error = corpus_run["runs"][control]["error"]
    for part in FAILURES[control]:
        assert part in error, error


def test_a_github_archive_read_through_the_engagement(corpus_run):
    from openpyxl import load_workbook

    book = load_workbook(corpus_run["folder"] / "output" / "GH-01.xlsx")
    text = [str(c.value) for ws in book.worksheets for row in ws.iter_rows() for c in row if c.value is not None]
    assert "records read from the JSON array $.pulls (the document also holds 'labels' (1 object), 'issues' " \
           "(1 object))" in text
    assert "no approver recorded: deployed (merged) by its author (ana) without an independent approval" in text


def test_an_explained_count_difference_is_a_warning(corpus_run):
    from openpyxl import load_workbook

    book = load_workbook(corpus_run["folder"] / "output" / "ZR-02.xlsx")
    text = [str(c.value) for row in book["Population"].iter_rows() for c in row if c.value is not None]
    assert ("the file holds 0 record(s) but the client stated 1,560 (-1,560); the engagement records why: PBC-07: the "
            "client counted last year's changes; none this period") in text


def test_an_event_log_tests_the_latest_states_and_keeps_the_others(corpus_run):
    from openpyxl import load_workbook

    sheet = load_workbook(corpus_run["folder"] / "output" / "EV-01.xlsx")["Population"]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    labels = {row[0]: row[1] for row in rows if row and row[0]}
    assert labels["Rows in the file (states)"] == 7 and labels["Records (latest states tested)"] == 3
    assert labels["Earlier states kept"] == 4
    header = next(i for i, row in enumerate(rows) if row[:4] == ["Key", "States", "First row", "Last row"])
    assert rows[header + 1][:4] == ["CHG0001", 3, 2, 4]
    record = json.loads((corpus_run["folder"] / "output" / "records" / "EV-01.json").read_text(encoding="utf-8"))
    assert record["status"] != "failed"


def test_a_second_source_changed_after_it_was_pinned_is_refused(type2_copy):
    engagement = load_engagement(type2_copy)
    population = load_population(engagement, "changes")
    report = validate(population, engagement)
    pinned = {r.population_id: r.sha256 for r in pin_populations(engagement, population, *report.second_sources,
                                                                  pinned_by="DR")}
    assert set(pinned) == {"changes", "deployments"}
    deployments = type2_copy / "populations" / "deployments_FY26.csv"
    deployments.write_bytes(deployments.read_bytes() + b"dep-999999,,2026-06-01T10:00:00Z,ci-bot,web-app,production\n")
    import hashlib
    now = hashlib.sha256(deployments.read_bytes()).hexdigest()
    done = subprocess.run([WORKBENCH, "run", str(type2_copy), "--controls", "CM-01", "--no-progress"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    error = json.loads((type2_copy / "output" / "manifest.json").read_text())["controls"][0]["error"]
    assert "PopulationError: populations/deployments_FY26.csv: population 'deployments' has changed since it was " \
           "pinned" in error
    assert f"SHA-256 {pinned['deployments']}" in error and f"has SHA-256 {now}" in error
