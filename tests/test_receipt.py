"""The population receipt (issue 4): pin on first use, refuse a changed file, deliver a new version explicitly.

Every test works on a private copy of the demo engagement (``type2_copy``: without ``results.sqlite``), so
pins left by other runs cannot interfere. Expected hashes are computed with :mod:`hashlib` from the files'
bytes, never by the code under test.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from workbench.engagement import load_engagement
from workbench.errors import EngagementError, ParameterError, PopulationError, ResultsError, StoreIntegrityError
from workbench.population import load_population, load_population_file
from workbench.receipt import (
    SUPERSEDED_FOLDER,
    Receipt,
    current_receipt,
    deliver_population,
    pin_population,
    receipts,
)
from workbench.results import ResultsStore

WORKBENCH = str(Path(sys.executable).parent / "workbench")
CHANGES = "populations/jira_changes_FY26.csv"
DEPLOYMENTS = "populations/deployments_FY26.csv"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def next_version(folder: Path, tmp_path: Path) -> Path:
    """A new version of the deployments file: the same export without its last record, outside the folder."""
    lines = (folder / DEPLOYMENTS).read_bytes().splitlines(keepends=True)
    path = tmp_path / "deployments_FY26_rerun.csv"
    path.write_bytes(b"".join(lines[:-1]))
    return path


@pytest.fixture
def engagement(type2_copy):
    return load_engagement(type2_copy)


def pinned(engagement, population_id: str) -> Receipt:
    """Load a population (read only) and pin it: the two stages a notebook runs."""
    return pin_population(engagement, load_population(engagement, population_id))


# ---- pinning ------------------------------------------------------------------------------------

def test_first_use_pins_version_1_with_the_engagement_receipt(engagement, type2_copy):
    assert not (type2_copy / "results.sqlite").exists()
    assert receipts(engagement) == []                      # reading creates nothing
    assert not (type2_copy / "results.sqlite").exists()
    population = load_population(engagement, "changes")
    assert not (type2_copy / "results.sqlite").exists()    # loading reads only
    data = (type2_copy / CHANGES).read_bytes()
    receipt = pin_population(engagement, population)
    assert isinstance(receipt, Receipt)
    assert (receipt.population_id, receipt.version, receipt.file) == ("changes", 1, CHANGES)
    assert receipt.sha256 == sha(data) == population.sha256
    assert receipt.size_bytes == len(data)
    assert receipt.provided_by == "Priya Shah, Release Manager"
    assert receipt.received == "2026-07-10"
    assert receipt.request == "PBC-07"
    assert receipt.query == engagement.population("changes").query
    assert receipt.query.startswith("project = CHG AND issuetype = Change")
    assert receipt.superseded_file is None and receipt.reason is None
    assert receipt.pinned_by == "DR"                       # the engagement's first preparer, not the login name
    assert receipt.os_account is not None and "@" in receipt.os_account   # the login, recorded beside it
    assert receipt.pinned_at.endswith("+00:00")            # UTC
    assert receipts(engagement) == [receipt]
    assert current_receipt(engagement, "changes") == receipt
    assert current_receipt(engagement, "deployments") is None


def test_loading_again_with_the_same_file_returns_the_same_receipt(engagement, type2_copy):
    first = pinned(engagement, "changes")
    again = pinned(load_engagement(type2_copy), "changes")
    assert again == first
    assert len(receipts(engagement, "changes")) == 1


def test_pinned_by_is_recorded(engagement):
    population = load_population(engagement, "deployments")
    receipt = pin_population(engagement, population, pinned_by="  dana reyes ")
    assert receipt.pinned_by == "DR"
    assert receipt.provided_by == "Ivan Petrov, SRE Lead" and receipt.request == "PBC-08"


def test_changed_file_is_refused_naming_both_hashes(engagement, type2_copy):
    path = type2_copy / CHANGES
    pinned_sha = sha(path.read_bytes())
    pinned(engagement, "changes")
    with path.open("ab") as handle:
        handle.write(b"\r\n")                              # one blank line: still a valid export
    changed = sha(path.read_bytes())
    assert changed != pinned_sha
    population = load_population(engagement, "changes")   # loading reads only: it succeeds
    with pytest.raises(PopulationError, match="has changed since it was pinned") as caught:
        pin_population(engagement, population)
    message = str(caught.value)
    assert message.startswith(f"{CHANGES}: ")
    assert f"Pinned: version 1 of {CHANGES}, SHA-256 {pinned_sha}, pinned " in message
    assert f"Now: the file has SHA-256 {changed}" in message
    assert f"workbench deliver-population {type2_copy} changes NEW_FILE --reason" in message
    assert len(receipts(engagement, "changes")) == 1       # nothing recorded for the changed file


def test_engagement_pointing_to_another_file_is_refused(engagement, type2_copy):
    pinned(engagement, "deployments")
    other = type2_copy / "populations" / "deployments_rerun.csv"
    other.write_bytes((type2_copy / DEPLOYMENTS).read_bytes() + b"dep-999999,,2026-06-30T10:00:00Z,x,y,production\n")
    toml = type2_copy / "engagement.toml"
    toml.write_text(toml.read_text().replace(f'file = "{DEPLOYMENTS}"', 'file = "populations/deployments_rerun.csv"'))
    moved = load_engagement(type2_copy)
    with pytest.raises(PopulationError, match="engagement.toml now names populations/deployments_rerun.csv") as caught:
        pinned(moved, "deployments")
    assert sha(other.read_bytes()) in str(caught.value)
    old_bytes, new_bytes = (type2_copy / DEPLOYMENTS).read_bytes(), other.read_bytes()
    assert sha(old_bytes) in str(caught.value)
    # delivering the file engagement.toml now names, as it is: version 1 is kept, version 2 is that file
    receipt = deliver_population(moved, "deployments", other, reason="PBC-08 re-run under a new name")
    assert (receipt.version, receipt.file, receipt.sha256) == (2, "populations/deployments_rerun.csv", sha(new_bytes))
    assert (type2_copy / receipt.superseded_file).read_bytes() == old_bytes
    assert other.read_bytes() == new_bytes and (type2_copy / DEPLOYMENTS).read_bytes() == old_bytes
    assert pinned(moved, "deployments") == receipt


def test_loading_neither_pins_nor_checks(engagement, type2_copy):
    load_population(engagement, "changes")
    assert not (type2_copy / "results.sqlite").exists()
    pinned(engagement, "changes")
    with (type2_copy / CHANGES).open("ab") as handle:
        handle.write(b"\r\n")
    assert load_population(engagement, "changes").rows_received == 1560   # inspection still works
    assert load_population_file(type2_copy / CHANGES, kind="changes").rows_received == 1560


def test_pin_populations_pins_each_in_order_and_refuses_any_changed(engagement, type2_copy):
    from workbench.receipt import pin_populations

    changes, deployments = load_population(engagement, "changes"), load_population(engagement, "deployments")
    got = pin_populations(engagement, changes, deployments)
    assert [r.population_id for r in got] == ["changes", "deployments"]
    assert [r.sha256 for r in got] == [sha((type2_copy / CHANGES).read_bytes()),
                                       sha((type2_copy / DEPLOYMENTS).read_bytes())]
    with (type2_copy / DEPLOYMENTS).open("ab") as handle:    # a second source changed after its pin
        handle.write(b"\n")
    with pytest.raises(PopulationError, match="population 'deployments' has changed since it was pinned"):
        pin_populations(engagement, changes, load_population(engagement, "deployments"))


def test_population_table_shows_the_receipt(engagement, type2_copy):
    population = load_population(engagement, "changes")
    receipt = pin_population(engagement, population)
    rows = dict(population.to_table(receipt_rows=receipt.to_table()))
    assert rows["Receipt version"] == "1"
    assert rows["SHA-256 pinned"] == sha((type2_copy / CHANGES).read_bytes())
    assert rows["Pinned by"] == f"{receipt.pinned_by} (OS account {receipt.os_account})"
    assert rows["Pinned at (UTC)"] == receipt.pinned_at
    assert "Previous version kept at" not in rows
    assert "version 1" in receipt.summary()


def test_concurrent_first_pins_agree_on_one_version(engagement):
    population = load_population(engagement, "deployments")
    got: list = []
    errors: list = []

    def pin():
        try:
            got.append(pin_population(engagement, population))
        except Exception as err:  # collected, asserted below
            errors.append(err)

    threads = [threading.Thread(target=pin) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(got) == 6 and len(set(got)) == 1
    assert len(receipts(engagement, "deployments")) == 1


# ---- the store ----------------------------------------------------------------------------------

def test_receipts_are_append_only_entries_of_the_chain(engagement, type2_copy):
    receipt = pinned(engagement, "changes")
    connection = sqlite3.connect(type2_copy / "results.sqlite")
    try:
        rows = connection.execute("SELECT seq, who, kind, key, value, reason FROM entries").fetchall()
        assert rows == [(1, receipt.pinned_by, "receipt", '{"population_id":"changes","version":1}',
                         rows[0][4], None)]
        assert f'"sha256":"{receipt.sha256}"' in rows[0][4]
        with pytest.raises(sqlite3.DatabaseError, match="append-only: an entry cannot be changed"):
            connection.execute("UPDATE entries SET value = ?", ("{}",))
        with pytest.raises(sqlite3.DatabaseError, match="append-only: an entry cannot be deleted"):
            connection.execute("DELETE FROM entries")
    finally:
        connection.close()
    assert receipts(engagement) == [receipt]


def test_a_receipt_changed_outside_the_workbench_stops_the_store_reporting(engagement, type2_copy):
    pinned(engagement, "changes")
    connection = sqlite3.connect(type2_copy / "results.sqlite")
    connection.execute("DROP TRIGGER entries_no_update")
    connection.execute("UPDATE entries SET value = replace(value, substr(value, instr(value, '\"sha256\":\"') + 10, "
                       "64), ?)", ("0" * 64,))
    connection.commit()
    connection.close()
    for read in (lambda: receipts(engagement), lambda: pinned(engagement, "changes")):
        with pytest.raises(StoreIntegrityError, match=r"entry 1, receipt \('changes', 1\): its content does not match"):
            read()


def test_existing_results_store_keeps_working(engagement, type2_copy):
    with ResultsStore.open(engagement) as store:             # results first, receipts after
        store.record("CM-02", "CHG-1043", "testing_evidenced", "pass", tested_by="DR", evidence_ref="PR-1")
    pinned(engagement, "changes")
    with ResultsStore.open(engagement) as store:
        assert store.get("CM-02", "CHG-1043", "testing_evidenced").outcome == "pass"
        assert len(store.trail()) == 1
        assert [e.kind for e in store.history()] == ["result", "receipt"]
    connection = sqlite3.connect(type2_copy / "results.sqlite")
    try:
        meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
    finally:
        connection.close()
    assert meta == {"schema_version": "2", "receipts_schema_version": "2", "engagement_id": "ACME-SOC2-T2-FY26"}


def test_newer_receipts_schema_is_refused(engagement, type2_copy):
    pinned(engagement, "changes")
    connection = sqlite3.connect(type2_copy / "results.sqlite")
    connection.execute("UPDATE meta SET value = '99' WHERE key = 'receipts_schema_version'")
    connection.commit()
    connection.close()
    with pytest.raises(ResultsError, match="receipts schema version 99 is newer than this workbench understands"):
        pinned(engagement, "changes")


# ---- delivering a new version -------------------------------------------------------------------

def test_deliver_keeps_the_old_version_and_everything_tested_on_it(engagement, type2_copy, tmp_path):
    old_bytes = (type2_copy / DEPLOYMENTS).read_bytes()
    first = pinned(engagement, "deployments")
    with ResultsStore.open(engagement) as store:
        store.record("CM-02", "CHG-1043", "testing_evidenced", "fail", tested_by="DR", evidence_ref="PR-1043",
                     comment="no test evidence")
    new_file = next_version(type2_copy, tmp_path)
    new_bytes = new_file.read_bytes()

    receipt = deliver_population(engagement, "deployments", new_file, reason=" PBC-08 re-run: one record too many ",
                                 delivered_by="ME")

    kept = f"{SUPERSEDED_FOLDER}/deployments_FY26.v1.{sha(old_bytes)[:12]}.csv"
    assert receipt.superseded_file == kept
    assert (type2_copy / kept).read_bytes() == old_bytes
    assert (type2_copy / DEPLOYMENTS).read_bytes() == new_bytes
    assert (receipt.version, receipt.file, receipt.sha256, receipt.size_bytes) == (
        2, DEPLOYMENTS, sha(new_bytes), len(new_bytes))
    assert receipt.reason == "PBC-08 re-run: one record too many" and receipt.pinned_by == "ME"
    assert receipt.provided_by == "Ivan Petrov, SRE Lead" and receipt.request == "PBC-08"
    assert receipts(engagement, "deployments") == [first, receipt]
    assert sorted(p.name for p in (type2_copy / "populations").iterdir() if p.name.startswith(".")) == []

    population = load_population(load_engagement(type2_copy), "deployments")   # loads again, as version 2
    assert pin_population(engagement, population) == receipt
    assert population.rows_received == 1560 and population.sha256 == sha(new_bytes)
    rows = dict(population.to_table(receipt_rows=receipt.to_table()))
    assert rows["Receipt version"] == "2" and rows["Previous version kept at"] == kept
    assert rows["Reason for new version"] == "PBC-08 re-run: one record too many"
    with ResultsStore.open(engagement) as store:                                # results untouched
        result = store.get("CM-02", "CHG-1043", "testing_evidenced")
        assert (result.outcome, result.comment, result.tested_by) == ("fail", "no test evidence", "DR")
        assert len(store.trail()) == 1

    third = tmp_path / "third.csv"
    third.write_bytes(new_bytes + b"dep-999999,,2026-06-30T10:00:00Z,x,y,production\n")
    receipt3 = deliver_population(engagement, "deployments", third, reason="PBC-08 third export", delivered_by="ME")
    assert receipt3.version == 3
    assert (type2_copy / receipt3.superseded_file).read_bytes() == new_bytes
    assert (type2_copy / kept).read_bytes() == old_bytes
    assert [r.version for r in receipts(engagement, "deployments")] == [1, 2, 3]


def test_deliver_refuses_an_unknown_population(engagement, tmp_path):
    with pytest.raises(EngagementError, match="no population 'deploymints'"):
        deliver_population(engagement, "deploymints", next_version(engagement.folder, tmp_path), reason="x")


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_deliver_refuses_an_empty_reason(engagement, tmp_path, reason):
    pinned(engagement, "deployments")
    with pytest.raises(ParameterError, match="a reason is required and was empty"):
        deliver_population(engagement, "deployments", next_version(engagement.folder, tmp_path), reason=reason)


def test_deliver_refuses_a_missing_file_or_a_folder(engagement, tmp_path):
    pinned(engagement, "deployments")
    with pytest.raises(PopulationError, match=r"nowhere\.csv: no such file"):
        deliver_population(engagement, "deployments", tmp_path / "nowhere.csv", reason="re-run")
    with pytest.raises(PopulationError, match="this is not a file"):
        deliver_population(engagement, "deployments", tmp_path, reason="re-run")
    assert len(receipts(engagement, "deployments")) == 1


def test_deliver_refuses_the_same_bytes(engagement, type2_copy, tmp_path):
    pinned(engagement, "deployments")
    same = tmp_path / "same.csv"
    shutil.copyfile(type2_copy / DEPLOYMENTS, same)
    digest = sha(same.read_bytes())
    with pytest.raises(PopulationError, match=f"identical to version 1 .*SHA-256 {digest}.*nothing to deliver"):
        deliver_population(engagement, "deployments", same, reason="re-run")
    assert not (type2_copy / SUPERSEDED_FOLDER).exists()


def test_deliver_refuses_a_population_never_pinned(engagement, tmp_path):
    with pytest.raises(PopulationError, match="'deployments' has not been pinned yet"):
        deliver_population(engagement, "deployments", next_version(engagement.folder, tmp_path), reason="re-run")
    assert receipts(engagement) == []


def test_deliver_refuses_when_the_pinned_version_was_overwritten(engagement, type2_copy, tmp_path):
    old = sha((type2_copy / DEPLOYMENTS).read_bytes())
    pinned(engagement, "deployments")
    new_file = next_version(type2_copy, tmp_path)
    shutil.copyfile(new_file, type2_copy / DEPLOYMENTS)      # overwritten in place: version 1's bytes are gone
    with pytest.raises(PopulationError, match=f"pinned version 1 .*SHA-256 {old}.* is no longer there: the file "
                                              f"now has SHA-256 {sha(new_file.read_bytes())} .*overwritten in place"):
        deliver_population(engagement, "deployments", new_file, reason="re-run")
    (type2_copy / DEPLOYMENTS).unlink()
    with pytest.raises(PopulationError, match="is no longer there: the file is missing"):
        deliver_population(engagement, "deployments", new_file, reason="re-run")
    assert len(receipts(engagement, "deployments")) == 1
    assert not (type2_copy / SUPERSEDED_FOLDER).exists()


def test_deliver_refuses_a_file_that_is_not_the_population(engagement, type2_copy, tmp_path):
    pinned(engagement, "deployments")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("name,email\nAda,ada@example.com\n")
    before = (type2_copy / DEPLOYMENTS).read_bytes()
    with pytest.raises(PopulationError, match="wrong.csv"):
        deliver_population(engagement, "deployments", wrong, reason="re-run")
    assert (type2_copy / DEPLOYMENTS).read_bytes() == before
    assert len(receipts(engagement, "deployments")) == 1


def test_deliver_never_overwrites_a_kept_file(engagement, type2_copy, tmp_path):
    old = sha((type2_copy / DEPLOYMENTS).read_bytes())
    pinned(engagement, "deployments")
    occupied = type2_copy / SUPERSEDED_FOLDER / f"deployments_FY26.v1.{old[:12]}.csv"
    occupied.parent.mkdir(parents=True)
    occupied.write_bytes(b"something else\n")
    with pytest.raises(PopulationError, match="a different file is already at .*it is never overwritten"):
        deliver_population(engagement, "deployments", next_version(type2_copy, tmp_path), reason="re-run")
    assert occupied.read_bytes() == b"something else\n"
    assert sha((type2_copy / DEPLOYMENTS).read_bytes()) == old


def test_pin_refuses_a_population_not_in_the_engagement(engagement, type2_copy):
    loose = load_population_file(type2_copy / DEPLOYMENTS, kind="deployments", name="loose",
                                 columns=dict(engagement.population("deployments").columns))
    with pytest.raises(PopulationError, match="population 'loose' is not declared in the engagement"):
        pin_population(engagement, loose)




# ---- the command line ---------------------------------------------------------------------------

def run(*arguments) -> subprocess.CompletedProcess:
    return subprocess.run([WORKBENCH, *map(str, arguments)], capture_output=True, text=True, timeout=120)


def test_cli_receipts_and_deliver(engagement, type2_copy, tmp_path):
    done = run("receipts", type2_copy)
    assert done.returncode == 0, done.stderr
    assert f"deployments: {DEPLOYMENTS}: not pinned yet" in done.stdout

    old = (type2_copy / DEPLOYMENTS).read_bytes()
    pinned(engagement, "deployments")
    new_file = next_version(type2_copy, tmp_path)
    done = run("deliver-population", type2_copy, "deployments", new_file, "--reason", "PBC-08 re-run", "--by", "ME")
    assert done.returncode == 0, done.stderr
    kept = f"{SUPERSEDED_FOLDER}/deployments_FY26.v1.{sha(old)[:12]}.csv"
    assert f"Delivered version 2 of population 'deployments'; version 1 is kept at {kept}." in done.stdout
    assert (type2_copy / kept).read_bytes() == old

    done = run("receipts", type2_copy)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "deployments:\n  version 1: " + DEPLOYMENTS in out
    assert f"SHA-256      {sha(old)} ({len(old):,} bytes)" in out
    assert f"SHA-256      {sha(new_file.read_bytes())}" in out
    assert "by ME" in out
    assert "provided by  Ivan Petrov, SRE Lead; received 2026-07-10; request PBC-08" in out
    assert f"previous version kept at {kept}" in out and "reason       PBC-08 re-run" in out
    assert f"changes: {CHANGES}: not pinned yet" in out


@pytest.mark.parametrize("arguments, message", [
    (["{folder}", "deployments", "{new}", "--reason", ""], "a reason is required and was empty"),
    (["{folder}", "deployments", "{missing}", "--reason", "re-run"], "nowhere.csv: no such file"),
    (["{folder}", "nope", "{new}", "--reason", "re-run"], "no population 'nope'"),
    (["{folder}", "deployments", "{same}", "--reason", "re-run"], "nothing to deliver"),
    (["{missing}", "deployments", "{new}", "--reason", "re-run"], "nowhere.csv"),
    (["{folder}", "deployments", "{new}"], "the following arguments are required: --reason"),
])
def test_cli_deliver_bad_input_exits_2_without_traceback(arguments, message, engagement, type2_copy, tmp_path):
    pinned(engagement, "deployments")
    same = tmp_path / "same.csv"
    shutil.copyfile(type2_copy / DEPLOYMENTS, same)
    values = dict(folder=type2_copy, new=next_version(type2_copy, tmp_path), missing=tmp_path / "nowhere.csv",
                  same=same)
    done = run("deliver-population", *[a.format(**values) for a in arguments])
    assert done.returncode == 2, done.stdout
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(receipts(engagement, "deployments")) == 1


def test_cli_check_population_inspects_without_pinning(engagement, type2_copy):
    first = pinned(engagement, "changes")
    with (type2_copy / CHANGES).open("ab") as handle:
        handle.write(b"\r\n")
    done = run("check-population", type2_copy / CHANGES, "--kind", "changes", "--engagement", type2_copy)
    assert done.returncode == 0, done.stderr          # inspecting a file is not using it: nothing pinned
    assert "Traceback" not in done.stderr
    assert receipts(engagement, "changes") == [first]


# ---- the workpaper ------------------------------------------------------------------------------

def test_workpaper_population_sheet_shows_the_receipt(engagement, type2_copy, tmp_path):
    from openpyxl import load_workbook

    from conftest import run_stages
    from workbench.workpaper import write_workpaper

    stages = run_stages(type2_copy, "CM-01", seed=20260630)
    receipt = stages["test"].receipt
    path = write_workpaper(tmp_path / "out", stages["test"])
    sheet = load_workbook(path)["Population"]
    values = {sheet.cell(row=r, column=1).value: sheet.cell(row=r, column=2).value
              for r in range(1, sheet.max_row + 1) if sheet.cell(row=r, column=1).value}
    data = (type2_copy / CHANGES).read_bytes()
    assert str(values["Receipt version"]) == "1"
    assert values["SHA-256 pinned"] == sha(data)
    assert values["Pinned by"] == f"{receipt.pinned_by} (OS account {receipt.os_account})"
    assert values["Pinned at (UTC)"] == receipt.pinned_at
    assert str(values["Size pinned (bytes)"]).replace(",", "") == str(len(data))


def test_cli_receipts_of_a_missing_folder_exits_2(tmp_path):
    done = run("receipts", tmp_path / "nowhere")
    assert done.returncode == 2
    assert "nowhere: engagement folder not found" in done.stderr and "Traceback" not in done.stderr


def test_batch_run_refuses_a_changed_population(engagement, type2_copy, tmp_path):
    path = type2_copy / CHANGES
    pinned_sha = sha(path.read_bytes())
    pinned(engagement, "changes")
    with path.open("ab") as handle:
        handle.write(b"\r\n")
    done = run("run", type2_copy, "--controls", "CM-01", "--out", tmp_path / "out", "--workers", "1",
               "--no-progress")
    assert done.returncode == 1
    assert "CM-01" in done.stdout and "has changed since it was pinned" in done.stdout
    assert pinned_sha in done.stdout and sha(path.read_bytes()) in done.stdout
    assert receipts(engagement, "changes")[-1].sha256 == pinned_sha


def test_a_pin_by_someone_not_on_the_staff_is_refused(engagement, type2_copy):
    population = load_population(engagement, "deployments")
    with pytest.raises(ParameterError, match=r"pinned_by: 'root' is not on the staff list of engagement "
                                             r"ACME-SOC2-T2-FY26 .*the operating-system account is never used"):
        pin_population(engagement, population, pinned_by="root")
    assert not (type2_copy / "results.sqlite").exists() or receipts(engagement) == []


def test_the_population_sheet_names_the_staff_member_and_the_os_account_beside(engagement):
    import getpass
    import platform

    receipt = pinned(engagement, "changes")
    rows = dict(receipt.to_table())
    assert rows["Pinned by"] == f"DR (OS account {getpass.getuser()}@{platform.node()})"
