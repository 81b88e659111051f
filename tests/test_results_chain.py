"""The results store's tamper evidence, verification, migration from schema 1, network file systems, and
what holds under SIGKILL and concurrent writers.

The probes of issue 10 ("What probing the store showed") are each reproduced here with plain ``sqlite3``, as
an attacker with the file would, and each must be detected. Expected hashes are computed here from the
documented definition, never by the code under test.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from workbench import results
from workbench.errors import ResultsError, StoreIntegrityError
from workbench.results import (
    ZERO_SHA256,
    NetworkFileSystemWarning,
    ResultsStore,
    network_file_system,
    parse_mount_table,
    read_results,
)

from test_results import CONTROLS, TOML  # the same engagement folder

WORKBENCH = str(Path(sys.executable).parent / "workbench")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    engagement = tmp_path / "eng"
    (engagement / "populations").mkdir(parents=True)
    (engagement / "populations" / "changes.csv").write_text("change_id\n", encoding="utf-8")
    (engagement / "engagement.toml").write_text(TOML, encoding="utf-8")
    (engagement / "controls.csv").write_text(CONTROLS, encoding="utf-8")
    return engagement


def canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_of(seq, at, who, kind, key, value, reason, prev) -> str:
    document = {"seq": seq, "at": at, "who": who, "kind": kind, "key": json.loads(key), "value": json.loads(value),
                "reason": reason, "prev_sha256": prev}
    return hashlib.sha256(canonical(document).encode("utf-8")).hexdigest()


def sql(folder: Path, *statements: str, params: tuple = ()) -> list[tuple]:
    """Run statements on the store as an attacker with the file would, outside the workbench."""
    connection = sqlite3.connect(folder / "results.sqlite")
    try:
        out: list[tuple] = []
        for statement in statements:
            out = connection.execute(statement, params if "?" in statement else ()).fetchall()
        connection.commit()
        return out
    finally:
        connection.close()


def three_results(folder: Path) -> str:
    """CHG-1 pass, CHG-2 fail, CHG-3 pass; returns the chain head."""
    with ResultsStore.open(folder) as store:
        store.record("CM-02", "CHG-1", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-1")
        store.record("CM-02", "CHG-2", "testing_evidenced", "fail", tested_by="DR", evidence_ref="EV-2",
                     comment="no CI run")
        store.record("CM-02", "CHG-3", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-3")
        return store.chain_head()


def cli(*arguments) -> subprocess.CompletedProcess:
    return subprocess.run([WORKBENCH, *map(str, arguments)], capture_output=True, text=True, timeout=120)


TRIGGER_UPDATE = ("CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries\n"
                  "BEGIN SELECT RAISE(ABORT, 'the results store is append-only: an entry cannot be changed'); END")
TRIGGER_DELETE = ("CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries\n"
                  "BEGIN SELECT RAISE(ABORT, 'the results store is append-only: an entry cannot be deleted'); END")
FAIL_TO_PASS = "UPDATE entries SET value = replace(value, '\"outcome\":\"fail\"', '\"outcome\":\"pass\"')"


# ---- the probes of issue 10 ---------------------------------------------------------------------

def test_probe_update_of_an_outcome_is_refused(folder):
    three_results(folder)
    with pytest.raises(sqlite3.IntegrityError, match="append-only: an entry cannot be changed"):
        sql(folder, FAIL_TO_PASS)
    assert read_results(folder, "CM-02")["outcome"].tolist() == ["pass", "fail", "pass"]


def test_probe_drop_trigger_then_update_is_detected_and_the_trigger_not_recreated(folder):
    three_results(folder)
    sql(folder, "DROP TRIGGER entries_no_update", FAIL_TO_PASS)
    with pytest.raises(StoreIntegrityError) as caught:
        ResultsStore.open(folder)
    message = str(caught.value)
    assert "the results store fails its integrity check, so it does not report anything" in message
    assert ("the trigger that refuses changes to entries (trigger entries_no_update) is missing: it was dropped "
            "outside the workbench") in message
    assert ("entry 2, result ('CM-02', 'CHG-2', 'testing_evidenced'): its content does not match its SHA-256"
            in message)
    assert (caught.value.seq, caught.value.kind) == (2, "result")
    assert json.loads(caught.value.key) == {"control_id": "CM-02", "item_key": "CHG-2",
                                            "attribute_id": "testing_evidenced"}
    with pytest.raises(StoreIntegrityError, match="entry 2"):
        read_results(folder, "CM-02")                      # the notebooks' read: nothing reported
    assert sql(folder, "SELECT name FROM sqlite_master WHERE type = 'trigger'") == [("entries_no_delete",)]
    done = cli("verify", folder)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("FAILED ") and "entry 2, result ('CM-02', 'CHG-2'" in done.stdout
    assert "Traceback" not in done.stderr


def test_an_edit_with_the_trigger_put_back_is_detected_by_its_hash(folder):
    three_results(folder)
    sql(folder, "DROP TRIGGER entries_no_update", FAIL_TO_PASS, TRIGGER_UPDATE)
    with pytest.raises(StoreIntegrityError) as caught:
        ResultsStore.open(folder)
    assert "is missing" not in str(caught.value) and "altered" not in str(caught.value)
    assert "entry 2, result ('CM-02', 'CHG-2', 'testing_evidenced'): its content does not match" in str(caught.value)


def test_an_edit_with_its_hash_recomputed_breaks_the_next_link(folder):
    three_results(folder)
    seq, at, who, kind, key, value, reason, prev = sql(
        folder, "SELECT seq, at, who, kind, key, value, reason, prev_sha256 FROM entries WHERE seq = 2")[0]
    forged = value.replace('"outcome":"fail"', '"outcome":"pass"')
    sql(folder, "DROP TRIGGER entries_no_update")
    sql(folder, "UPDATE entries SET value = ?, sha256 = ? WHERE seq = 2",
        params=(forged, sha256_of(seq, at, who, kind, key, forged, reason, prev)))
    sql(folder, TRIGGER_UPDATE)
    with pytest.raises(StoreIntegrityError, match=r"entry 3, result \('CM-02', 'CHG-3', 'testing_evidenced'\): its "
                                                  r"link to the previous entry is broken: it records prev_sha256 "):
        ResultsStore.open(folder)


def test_an_altered_or_added_trigger_is_detected(folder):
    three_results(folder)
    sql(folder, "DROP TRIGGER entries_no_delete",
        "CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries BEGIN SELECT 1; END")
    with pytest.raises(StoreIntegrityError, match=r"the trigger that refuses deletions of entries \(trigger "
                                                  r"entries_no_delete\) was altered outside the workbench: its SQL is"):
        ResultsStore.open(folder)
    sql(folder, "DROP TRIGGER entries_no_delete", TRIGGER_DELETE,
        "CREATE TRIGGER hide BEFORE INSERT ON entries WHEN NEW.kind = 'result' BEGIN SELECT RAISE(IGNORE); END")
    with pytest.raises(StoreIntegrityError, match=r"an unexpected trigger hide was added to the table of entries "
                                                  r"outside the workbench .*it could hide, change or add entries"):
        ResultsStore.open(folder)
    sql(folder, "DROP TRIGGER hide")
    assert ResultsStore.open(folder).verify().entries == 3   # put back exactly: intact again


def test_a_deleted_entry_is_detected(folder):
    three_results(folder)
    sql(folder, "DROP TRIGGER entries_no_delete", "DELETE FROM entries WHERE seq = 2", TRIGGER_DELETE)
    with pytest.raises(StoreIntegrityError, match=r"entry 3, result \('CM-02', 'CHG-3', 'testing_evidenced'\): the "
                                                  r"sequence jumps from 1 to 3: entry 2 is missing \(deleted outside "
                                                  r"the workbench\)") as caught:
        ResultsStore.open(folder)
    assert caught.value.seq == 3


def test_dropping_the_table_of_entries_is_detected_not_recreated(folder):
    three_results(folder)
    sql(folder, "DROP TABLE entries")
    with pytest.raises(StoreIntegrityError, match="its table of entries is missing .* It is not recreated"):
        ResultsStore.open(folder)
    with pytest.raises(StoreIntegrityError):
        read_results(folder, "CM-02")
    assert sql(folder, "SELECT name FROM sqlite_master WHERE name = 'entries'") == []


def test_probe_a_changed_population_cannot_be_pinned_again_as_version_1(type2_copy):
    from workbench.engagement import load_engagement
    from workbench.population import load_population
    from workbench.receipt import pin_population, receipts

    engagement = load_engagement(type2_copy)
    pin_population(engagement, load_population(engagement, "changes"))
    with ResultsStore.open(engagement) as store:
        store.record("CM-02", "CHG-1043", "testing_evidenced", "pass", tested_by="DR", evidence_ref="PR-1")
    with pytest.raises(sqlite3.OperationalError, match="no such table: population_receipts"):
        sql(type2_copy, "DROP TABLE population_receipts")     # the old probe: there is no such table any more
    with (type2_copy / "populations/jira_changes_FY26.csv").open("ab") as handle:
        handle.write(b"\r\n")
    sql(type2_copy, "DROP TRIGGER entries_no_delete", "DELETE FROM entries WHERE kind = 'receipt'", TRIGGER_DELETE)
    with pytest.raises(StoreIntegrityError, match=r"entry 2, result \('CM-02', 'CHG-1043', 'testing_evidenced'\): "
                                                  r"the sequence jumps from 0 to 2: entry 1 is missing"):
        pin_population(engagement, load_population(engagement, "changes"))
    sql(type2_copy, "DROP TABLE entries")
    with pytest.raises(StoreIntegrityError, match="its table of entries is missing"):
        pin_population(engagement, load_population(engagement, "changes"))
    with pytest.raises(StoreIntegrityError):
        receipts(engagement)


def test_a_store_rewritten_from_scratch_is_detected_only_against_a_printed_head(folder):
    printed = three_results(folder)                         # the head printed in the issued workpapers
    (folder / "results.sqlite").unlink()
    for leftover in folder.glob("results.sqlite-*"):
        leftover.unlink()
    with ResultsStore.open(folder) as store:                # rebuilt with the workbench: a consistent chain
        store.record("CM-02", "CHG-1", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-1")
        store.record("CM-02", "CHG-2", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-2")
        store.record("CM-02", "CHG-3", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-3")
        assert store.verify().entries == 3                  # on its own it cannot tell
        with pytest.raises(StoreIntegrityError, match=rf"the chain head {printed} printed earlier \(in a workpaper "
                                                      rf"or manifest\) is not in this store, whose 3 entries end at"):
            store.verify(known_heads=[printed])
    assert cli("verify", folder).returncode == 0
    done = cli("verify", folder, "--head", printed)
    assert done.returncode == 1 and f"the chain head {printed} printed earlier" in done.stdout


def test_removing_the_newest_entries_is_detected_only_against_a_printed_head(folder):
    printed = three_results(folder)
    sql(folder, "DROP TRIGGER entries_no_delete", "DELETE FROM entries WHERE seq = 3", TRIGGER_DELETE)
    with ResultsStore.open(folder) as store:
        assert store.verify().entries == 2
        with pytest.raises(StoreIntegrityError, match="entries were removed, or the store was rewritten"):
            store.verify(known_heads=[printed])


def test_tampering_while_a_store_is_open_is_caught_before_the_next_read_or_write(folder):
    three_results(folder)
    with ResultsStore.open(folder) as store:
        assert len(store.results_for("CM-02")) == 3
        sql(folder, "DROP TRIGGER entries_no_update", FAIL_TO_PASS)
        with pytest.raises(StoreIntegrityError, match="trigger entries_no_update\\) is missing"):
            store.results_for("CM-02")
        with pytest.raises(StoreIntegrityError):
            store.record("CM-02", "CHG-4", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-4")
    assert sql(folder, "SELECT COUNT(*) FROM entries") == [(3,)]


def test_dropping_the_table_while_a_store_is_open_is_caught(folder):
    three_results(folder)
    with ResultsStore.open(folder) as store:
        sql(folder, "DROP TABLE entries")
        with pytest.raises(StoreIntegrityError, match=r"the table of entries \(table entries\) is missing"):
            store.chain_head()


def test_an_entry_appended_by_another_process_with_a_wrong_hash_is_caught(folder):
    three_results(folder)
    with ResultsStore.open(folder) as store:
        head = store.chain_head()
        sql(folder, "INSERT INTO entries VALUES (4, '2026-01-01T00:00:00.000000+00:00', 'DR', 'result', "
                    "'{\"attribute_id\":\"testing_evidenced\",\"control_id\":\"CM-02\",\"item_key\":\"CHG-9\"}', "
                    "'{\"outcome\":\"pass\"}', NULL, ?, ?)", params=(head, "f" * 64))
        with pytest.raises(StoreIntegrityError, match=r"entry 4, result \('CM-02', 'CHG-9', 'testing_evidenced'\): "
                                                      r"its content does not match its SHA-256"):
            store.get("CM-02", "CHG-9", "testing_evidenced")


# ---- workbench verify ---------------------------------------------------------------------------

def test_cli_verify_prints_one_line_with_the_count_and_the_head(folder):
    done = cli("verify", folder)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (f"OK {folder / 'results.sqlite'}: no results store yet (nothing recorded): 0 entries, "
                           f"chain head {ZERO_SHA256}\n")
    assert not (folder / "results.sqlite").exists()
    head = three_results(folder)
    done = cli("verify", folder)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"OK {folder / 'results.sqlite'}: 3 entries, hash chain intact, chain head {head}\n"
    done = cli("verify", folder, "--head", head.upper())
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith(f"chain head {head}; contains head {head} (entry 3)\n")


@pytest.mark.parametrize("arguments, message", [
    (["{folder}", "--head", "abc"], "'abc' is not a SHA-256 (64 hexadecimal digits)"),
    (["{missing}"], "the engagement folder does not exist"),
])
def test_cli_verify_bad_input_exits_2(folder, tmp_path, arguments, message):
    done = cli("verify", *[a.format(folder=folder, missing=tmp_path / "nowhere") for a in arguments])
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_cli_verify_of_a_deleted_store_with_a_printed_head_fails(folder):
    head = three_results(folder)
    for path in folder.glob("results.sqlite*"):
        path.unlink()
    done = cli("verify", folder, "--head", head)
    assert done.returncode == 1 and "it was deleted or moved" in done.stdout


# ---- migration from schema 1 --------------------------------------------------------------------

V1_RESULTS_SQL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    engagement TEXT NOT NULL, control_id TEXT NOT NULL, item_key TEXT NOT NULL, attribute_id TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('pass', 'fail', 'n/a')), evidence_ref TEXT, comment TEXT,
    tested_by TEXT NOT NULL, tested_at TEXT NOT NULL,
    PRIMARY KEY (engagement, control_id, item_key, attribute_id));
CREATE TABLE IF NOT EXISTS trail (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, engagement TEXT NOT NULL, control_id TEXT NOT NULL, item_key TEXT,
    attribute_id TEXT, action TEXT NOT NULL, old_value TEXT, new_value TEXT, who TEXT NOT NULL, at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS trail_by_control ON trail (engagement, control_id, seq);
CREATE TRIGGER IF NOT EXISTS trail_is_append_only_update BEFORE UPDATE ON trail
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: entries cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS trail_is_append_only_delete BEFORE DELETE ON trail
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: entries cannot be deleted'); END;
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1');
"""
V1_RECEIPTS_SQL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS population_receipts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, population_id TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1), file TEXT NOT NULL,
    sha256 TEXT NOT NULL CHECK (length(sha256) = 64), size_bytes INTEGER NOT NULL CHECK (size_bytes >= 0),
    pinned_at TEXT NOT NULL, pinned_by TEXT NOT NULL, provided_by TEXT, received TEXT, request TEXT, query TEXT,
    superseded_file TEXT, reason TEXT, UNIQUE (population_id, version),
    CHECK ((version = 1 AND superseded_file IS NULL AND reason IS NULL)
           OR (version > 1 AND superseded_file IS NOT NULL AND reason IS NOT NULL)));
CREATE TRIGGER IF NOT EXISTS population_receipts_append_only_update BEFORE UPDATE ON population_receipts
BEGIN SELECT RAISE(ABORT, 'population receipts are append-only: a receipt cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS population_receipts_append_only_delete BEFORE DELETE ON population_receipts
BEGIN SELECT RAISE(ABORT, 'population receipts are append-only: a receipt cannot be deleted'); END;
INSERT OR IGNORE INTO meta (key, value) VALUES ('receipts_schema_version', '1');
"""
V1_VALUE = ("outcome", "evidence_ref", "comment", "tested_by", "tested_at")


def v1_record(connection, engagement, control_id, item_key, attribute_id, outcome, who, at, evidence_ref=None,
              comment=None):
    """What schema-1 ResultsStore.record wrote: the result replaced, and a trail row with old and new value."""
    key = (engagement, control_id, item_key, attribute_id)
    old = connection.execute(f"SELECT {', '.join(V1_VALUE)} FROM results WHERE engagement = ? AND control_id = ? "
                             f"AND item_key = ? AND attribute_id = ?", key).fetchone()
    new = dict(zip(V1_VALUE, (outcome, evidence_ref, comment, who, at)))
    connection.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (*key, outcome, evidence_ref, comment, who, at))
    connection.execute("INSERT INTO trail (engagement, control_id, item_key, attribute_id, action, old_value, "
                       "new_value, who, at) VALUES (?, ?, ?, ?, 'record', ?, ?, ?, ?)",
                       (*key, None if old is None else json.dumps(dict(zip(V1_VALUE, old))), json.dumps(new), who, at))


def v1_pin(connection, population_id, version, sha, at, who, superseded=None, reason=None):
    connection.execute("INSERT INTO population_receipts (population_id, version, file, sha256, size_bytes, "
                       "pinned_at, pinned_by, provided_by, received, request, query, superseded_file, reason) "
                       "VALUES (?, ?, 'populations/changes.csv', ?, 120, ?, ?, 'Priya Shah', '2026-07-10', "
                       "'PBC-07', 'project = CHG', ?, ?)", (population_id, version, sha, at, who, superseded, reason))


def v1_store(folder: Path, *, results: bool = True, receipts: bool = True) -> Path:
    path = folder / "results.sqlite"
    connection = sqlite3.connect(path)
    if results:
        connection.executescript(V1_RESULTS_SQL)
    if receipts:
        connection.executescript(V1_RECEIPTS_SQL)
    t = "2026-03-0{}T10:00:00.000000+00:00".format
    if receipts:
        v1_pin(connection, "changes", 1, "a" * 64, t(1), "dreyes")
    if results:
        v1_record(connection, "TEST-T2", "CM-02", "CHG-1", "testing_evidenced", "pass", "DR", t(2), "EV-1")
        v1_record(connection, "TEST-T2", "CM-02", "CHG-2", "testing_evidenced", "fail", "DR", t(3), "EV-2", "no CI")
    if receipts:
        v1_pin(connection, "changes", 2, "b" * 64, t(4), "jokoro", "populations/superseded/changes.v1.csv", "re-run")
    if results:
        v1_record(connection, "TEST-T2", "CM-02", "CHG-1", "testing_evidenced", "fail", "SL", t(5), "EV-1b", "redo")
        v1_record(connection, "OTHER-ENG", "CM-02", "CHG-1", "testing_evidenced", "pass", "XY", t(6), "EV-9")
    connection.commit()
    connection.close()
    return path


def test_a_schema_1_store_is_migrated_keeping_every_trail_row_and_receipt(folder):
    v1_store(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                      # a migration is reported in store.warnings only
        store = ResultsStore.open(folder)
    with store:
        entries = store.history()
        assert [(e.seq, e.kind, e.who, e.at[:10]) for e in entries] == [
            (1, "receipt", "dreyes", "2026-03-01"), (2, "result", "DR", "2026-03-02"),
            (3, "result", "DR", "2026-03-03"), (4, "receipt", "jokoro", "2026-03-04"),
            (5, "result", "SL", "2026-03-05"), (6, "migration", "workbench", entries[-1].at[:10])]
        assert entries[1].at == "2026-03-02T10:00:00.000000+00:00"          # the original time, to the digit
        assert entries[4].value == {"outcome": "fail", "evidence_ref": "EV-1b", "evidence_date": None,
                                    "comment": "redo"}
        assert entries[3].key == {"population_id": "changes", "version": 2}
        assert entries[3].value == {"file": "populations/changes.csv", "sha256": "b" * 64, "size_bytes": 120,
                                    "provided_by": "Priya Shah", "received": "2026-07-10", "request": "PBC-07",
                                    "query": "project = CHG",
                                    "superseded_file": "populations/superseded/changes.v1.csv"}
        assert entries[3].reason == "re-run" and entries[0].reason is None
        migration = entries[-1].value
        assert (migration["from_schema_version"], migration["result_entries"], migration["receipt_entries"]) == (
            1, 3, 2)
        assert migration["tables_kept"] == ["v1_results", "v1_trail", "v1_population_receipts"]
        assert migration["other_engagements_rows"] == {"OTHER-ENG": 1}
        assert migration["results_table_disagreements"] == []
        assert any("migrated from schema version 1 to 2: 3 trail row(s) and 2 receipt(s)" in w for w in store.warnings)
        assert any("Trail rows of other engagements were not migrated (kept in v1_trail): OTHER-ENG: 1" in w
                   for w in store.warnings)
        frame = store.results_for("CM-02")
        assert frame[["item_key", "outcome", "tested_by", "evidence_ref"]].values.tolist() == [
            ["CHG-1", "fail", "SL", "EV-1b"], ["CHG-2", "fail", "DR", "EV-2"]]
        assert store.trail("CM-02")["who"].tolist() == ["DR", "DR", "SL"]
        assert [e.key["version"] for e in store.current("receipt", population_id="changes")] == [1, 2]
        head = store.verify().head
    # every entry hashed as documented
    previous = ZERO_SHA256
    for row in sql(folder, "SELECT seq, at, who, kind, key, value, reason, prev_sha256, sha256 FROM entries "
                           "ORDER BY seq"):
        assert row[7] == previous and row[8] == sha256_of(*row[:8])
        previous = row[8]
    assert previous == head
    # the old tables are kept, renamed, with every row
    assert sql(folder, "SELECT COUNT(*) FROM v1_trail") == [(4,)]
    assert sql(folder, "SELECT COUNT(*) FROM v1_population_receipts") == [(2,)]
    assert sql(folder, "SELECT COUNT(*) FROM v1_results") == [(3,)]
    assert dict(sql(folder, "SELECT key, value FROM meta")) == {
        "schema_version": "2", "receipts_schema_version": "2", "engagement_id": "TEST-T2"}
    with ResultsStore.open(folder) as again:                 # migrated once
        assert again.warnings == () and len(again.history()) == 6 and again.chain_head() == head


def test_probe_an_edited_schema_1_results_table_is_caught_by_the_migration(folder):
    v1_store(folder, receipts=False)
    sql(folder, "UPDATE results SET outcome = 'pass' WHERE outcome = 'fail'")   # the probe: worked in schema 1
    with ResultsStore.open(folder) as store:
        assert store.results_for("CM-02")["outcome"].tolist() == ["fail", "fail"]   # the trail's values
        disagreements = store.current("migration")[0].value["results_table_disagreements"]
        assert [(d["item_key"], d["results_table"]["outcome"], d["trail"]["outcome"]) for d in disagreements] == [
            ("CHG-1", "pass", "fail"), ("CHG-2", "pass", "fail")]
        assert any("The old results table disagreed with its trail for 2 result(s)" in w for w in store.warnings)


def test_a_schema_1_store_with_receipts_only_is_migrated(folder):
    v1_store(folder, results=False)
    with ResultsStore.open(folder) as store:
        assert [e.kind for e in store.history()] == ["receipt", "receipt", "migration"]
        assert store.current("migration")[0].value["tables_kept"] == ["v1_population_receipts"]


def test_a_failed_migration_changes_nothing(folder, monkeypatch):
    v1_store(folder)
    calls = []
    real = results.entry_sha256

    def failing(*args):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return real(*args)

    monkeypatch.setattr(results, "entry_sha256", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        ResultsStore.open(folder)
    tables = {name for (name,) in sql(folder, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables >= {"results", "trail", "population_receipts", "meta"} and "entries" not in tables
    assert dict(sql(folder, "SELECT key, value FROM meta"))["schema_version"] == "1"
    monkeypatch.setattr(results, "entry_sha256", real)
    assert len(ResultsStore.open(folder).history()) == 6


def test_a_store_of_a_newer_layout_is_refused(folder):
    v1_store(folder)
    sql(folder, "UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    with pytest.raises(ResultsError, match=r"results store schema version 3 is newer than this workbench understands "
                                           r"\(2\)"):
        ResultsStore.open(folder)
    assert sql(folder, "SELECT COUNT(*) FROM trail") == [(4,)]        # untouched


def test_an_older_workbench_cannot_pin_into_a_schema_2_store(folder):
    """Schema-1 receipt code refused a receipts_schema_version above 1: schema 2 sets it to 2."""
    ResultsStore.open(folder).close()
    assert dict(sql(folder, "SELECT key, value FROM meta"))["receipts_schema_version"] == "2"


# ---- network file systems -----------------------------------------------------------------------

MOUNTS = """\
/dev/vda / ext4 rw,relatime 0 0
proc /proc proc rw,nosuid 0 0
server:/export /mnt/share nfs4 rw,relatime,vers=4.2 0 0
/dev/vdb /mnt/share/local ext4 rw 0 0
//nas/audit /mnt/audit\\040files cifs rw,vers=3.0 0 0
me@host:/srv /home/me/remote fuse.sshfs rw,nosuid 0 0
C:\\134 /mnt/c 9p rw,dirsync 0 0
"""


@pytest.mark.parametrize("path, expected", [
    ("/mnt/share/acme-type2", "nfs4"),
    ("/mnt/share", "nfs4"),
    ("/mnt/shared/acme", None),                  # a prefix of the name is not a mount point
    ("/mnt/share/local/acme", None),             # a local disk mounted inside the share
    ("/mnt/audit files/acme", "cifs"),           # \040 is a space in the mount table
    ("/home/me/remote/acme", "fuse.sshfs"),
    ("/mnt/c/Users/dana/acme", "9p"),            # WSL's Windows drives
    ("/home/me/acme", None),
])
def test_network_file_system_reads_the_mount_table(path, expected):
    assert network_file_system(path, mount_table=MOUNTS) == expected


def test_mount_table_of_macos_is_read():
    text = ("/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)\n"
            "//dana@nas._smb._tcp.local/audit on /Volumes/audit (smbfs, nodev, nosuid, mounted by dana)\n")
    assert parse_mount_table(text) == [("/", "apfs"), ("/Volumes/audit", "smbfs")]
    assert network_file_system("/Volumes/audit/acme", mount_table=text) == "smbfs"


def test_a_store_on_a_network_file_system_uses_a_rollback_journal_with_a_warning(folder, tmp_path, monkeypatch):
    table = tmp_path / "mounts"
    table.write_text(f"/dev/vda / ext4 rw 0 0\nserver:/export {os.path.realpath(folder)} nfs4 rw 0 0\n")
    monkeypatch.setattr(results, "MOUNT_TABLE", table)
    with pytest.warns(NetworkFileSystemWarning, match=r"is on a network file system \(nfs4\), where SQLite's "
                                                      r"write-ahead log is unsafe; .*rollback journal"):
        store = ResultsStore.open(folder)
    with store:
        assert store.journal_mode == "delete"
        assert len(store.warnings) == 1 and "rollback journal (journal_mode=delete)" in store.warnings[0]
        store.record("CM-02", "CHG-1", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-1")
    assert sql(folder, "PRAGMA journal_mode") == [("delete",)]
    assert not (folder / "results.sqlite-wal").exists()
    monkeypatch.setattr(results, "MOUNT_TABLE", tmp_path / "no-such-table")
    with ResultsStore.open(folder) as store:                 # back on a local disk: WAL again
        assert store.journal_mode == "wal" and store.warnings == ()


# ---- crashes, concurrency, speed ----------------------------------------------------------------

WRITER = """
import sys
from workbench.results import ResultsStore
with ResultsStore.open(sys.argv[1]) as store:
    for i in range(int(sys.argv[2])):
        store.record("CM-02", f"CHG-{i}", "testing_evidenced", "pass", tested_by="DR", evidence_ref=f"EV-{i}")
        print(i + 1, flush=True)
"""


def test_sigkill_during_100000_records_keeps_every_committed_entry(folder):
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(folder), "100000"], stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout is not None
    reported = 0
    deadline = time.monotonic() + 120
    for line in process.stdout:                               # each line: one more committed record
        reported = int(line)
        if reported >= 2500 or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    process.stdout.close()
    assert process.returncode == -signal.SIGKILL and reported >= 1
    assert sql(folder, "PRAGMA integrity_check") == [("ok",)]
    with ResultsStore.open(folder) as store:
        status = store.verify()
        assert status.entries >= reported                      # every committed record kept
        keys = set(store.results_for("CM-02")["item_key"])
        assert {f"CHG-{i}" for i in range(reported)} <= keys
        assert len(keys) == status.entries
        store.record("CM-02", "CHG-after", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV")
        assert store.verify().entries == status.entries + 1


def _many(folder: str, worker: int, count: int) -> None:
    with ResultsStore.open(folder) as store:
        for i in range(count):
            store.record("CM-02", f"CHG-{worker}-{i}", "testing_evidenced", "pass", tested_by=f"W{worker}",
                         evidence_ref=f"EV-{worker}-{i}")


@pytest.mark.slow
def test_four_processes_recording_20000_each_lose_nothing(folder):
    ResultsStore.open(folder).close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_many, args=(str(folder), w, 20_000)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(1800)                  # fsync-bound: minutes on a busy shared disk
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    with ResultsStore.open(folder) as store:
        status = store.verify()
        assert status.entries == 80_000
        frame = store.results_for("CM-02")
        assert len(frame) == 80_000
        assert sorted(frame["tested_by"].value_counts().tolist()) == [20_000] * 4
    assert sql(folder, "SELECT MIN(seq), MAX(seq), COUNT(*) FROM entries") == [(1, 80_000, 80_000)]


def build_store(folder: Path, count: int) -> str:
    """A store of ``count`` result entries, written in one transaction with the documented hash."""
    ResultsStore.open(folder).close()
    connection = sqlite3.connect(folder / "results.sqlite")
    head = ZERO_SHA256
    rows = []
    for seq in range(1, count + 1):
        at = f"2026-03-14T10:00:00.{seq % 1_000_000:06d}+00:00"
        key = canonical({"control_id": "CM-02", "item_key": f"CHG-{seq}", "attribute_id": "testing_evidenced"})
        value = canonical({"outcome": "pass", "evidence_ref": f"EV-{seq}", "evidence_date": None, "comment": None})
        digest = sha256_of(seq, at, "DR", "result", key, value, None, head)
        rows.append((seq, at, "DR", "result", key, value, None, head, digest))
        head = digest
    connection.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    connection.commit()
    connection.close()
    return head


def test_opening_a_store_of_100000_entries_verifies_them_all(folder):
    """Verification runs on every open: it must stay fast (about 0.3 s for 100,000 entries on a quiet 2-core
    machine, see docs/results-store.md). The bound here only catches a pathological slowdown on a busy one."""
    head = build_store(folder, 100_000)
    started = time.perf_counter()
    with ResultsStore.open(folder) as store:
        elapsed = time.perf_counter() - started
        assert store.chain_head() == head
        assert store.verify().entries == 100_000
        assert store.get("CM-02", "CHG-99999", "testing_evidenced").evidence_ref == "EV-99999"
    assert elapsed < 15.0, f"opening (and verifying) 100,000 entries took {elapsed:.2f} s"
    sql(folder, "DROP TRIGGER entries_no_update",
        "UPDATE entries SET value = replace(value, 'EV-77777', 'EV-7777X') WHERE seq = 77777")
    with pytest.raises(StoreIntegrityError, match=r"trigger entries_no_update\) is missing.*entry 77777, result "
                                                  r"\('CM-02', 'CHG-77777', 'testing_evidenced'\): its content"):
        ResultsStore.open(folder)
    shutil.rmtree(folder)
