"""The results store (workbench.results): typed entries, validated writes, WAL, the derived results and trail.

Tampering, verification, migration, network file systems and crash/concurrency tests are in
tests/test_results_chain.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from workbench.engagement import load_engagement
from workbench.errors import ResultsError
from workbench.results import (
    RESULT_COLUMNS,
    TRAIL_COLUMNS,
    ZERO_SHA256,
    EntryKind,
    ResultsStore,
    read_results,
    register_kind,
)

TOML = """\
[engagement]
client = "Test Client, Inc."
report_type = "type2"
period_start = 2025-07-01
period_end = 2026-06-30
timezone = "America/New_York"
criteria = ["security"]
engagement_id = "TEST-T2"

[sampling]
confidence = 0.90
tolerable_rate = 0.10

[[staff]]
name = "Dana Reyes"
initials = "DR"
role = "preparer"

[[staff]]
name = "Sam Lee"
initials = "SL"
role = "reviewer"

[[staff]]
name = "Pat Kim"
initials = "PK"
role = "manager"

[populations.changes]
file = "populations/changes.csv"
kind = "changes"
"""

CONTROLS = """\
control_id,description,criteria,owner,frequency,nature,procedure,populations,attributes
CM-01,Changes are approved,CC8.1,Ops,as_needed,manual,change_management,changes,approved_before_deployment
CM-02,Changes are tested,CC8.1,Ops,as_needed,manual,change_management,changes,testing_evidenced
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "populations").mkdir()
    (tmp_path / "populations" / "changes.csv").write_text("change_id\n", encoding="utf-8")
    (tmp_path / "engagement.toml").write_text(TOML, encoding="utf-8")
    (tmp_path / "controls.csv").write_text(CONTROLS, encoding="utf-8")
    return tmp_path


def canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def rows_of(folder: Path) -> list[tuple]:
    connection = sqlite3.connect(folder / "results.sqlite")
    try:
        return connection.execute("SELECT seq, at, who, kind, key, value, reason, prev_sha256, sha256 FROM entries "
                                  "ORDER BY seq").fetchall()
    finally:
        connection.close()


# ---- the store and its layout -------------------------------------------------------------------

def test_open_creates_the_store_in_wal_mode(folder):
    with ResultsStore.open(folder) as store:
        assert store.engagement_id == "TEST-T2"  # read from engagement.toml
        assert store.path == folder / "results.sqlite"
        assert store.journal_mode == "wal" and store.warnings == ()
        assert store.chain_head() == ZERO_SHA256 and store.history() == []
    connection = sqlite3.connect(folder / "results.sqlite")
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert dict(connection.execute("SELECT key, value FROM meta")) == {
        "schema_version": "2", "engagement_id": "TEST-T2", "receipts_schema_version": "2"}
    tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"meta", "entries"}
    connection.close()


def test_every_entry_hashes_its_canonical_json_and_links_to_the_previous(folder):
    """The hash is recomputed here from its definition, independently of the code under test."""
    with ResultsStore.open(folder) as store:
        store.record("CM-02", "CHG-1042", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-12 CI run",
                     evidence_date="2026-03-14", comment="grün: CI green")
        store.record("CM-02", "CHG-1050", "testing_evidenced", "fail", tested_by="DR", evidence_ref="EV-13")
        store.append("receipt", {"population_id": "changes", "version": 1},
                     {"file": "populations/changes.csv", "sha256": "a" * 64, "size_bytes": 10}, who="dana")
        head = store.chain_head()
    previous = ZERO_SHA256
    rows = rows_of(folder)
    assert [row[0] for row in rows] == [1, 2, 3]
    for seq, at, who, kind, key, value, reason, prev, digest in rows:
        assert key == canonical(json.loads(key)) and value == canonical(json.loads(value))   # stored canonically
        document = {"seq": seq, "at": at, "who": who, "kind": kind, "key": json.loads(key),
                    "value": json.loads(value), "reason": reason, "prev_sha256": prev}
        assert digest == hashlib.sha256(canonical(document).encode("utf-8")).hexdigest()
        assert prev == previous
        previous = digest
    assert head == previous
    assert json.loads(rows[0][5]) == {"outcome": "pass", "evidence_ref": "EV-12 CI run",
                                      "evidence_date": "2026-03-14", "comment": "grün: CI green"}
    assert rows[0][4] == '{"attribute_id":"testing_evidenced","control_id":"CM-02","item_key":"CHG-1042"}'


def test_record_and_read_back(folder):
    with ResultsStore.open(folder) as store:
        result = store.record("CM-02", "CHG-1042", "testing_evidenced", "pass", tested_by="DR",
                              evidence_ref="EV-12 CI run 8812", comment="  CI green before deploy ",
                              evidence_date=dt.date(2026, 3, 14))
        assert (result.outcome, result.tested_by, result.evidence_ref, result.evidence_date, result.comment) == (
            "pass", "DR", "EV-12 CI run 8812", "2026-03-14", "CI green before deploy")
        assert result.tested_at.endswith("+00:00")
        store.record("CM-02", "CHG-1050", "testing_evidenced", "fail", tested_by="DR", evidence_ref="EV-13",
                     comment="No test evidence")
        frame = store.results_for("CM-02")
        assert list(frame.columns) == list(RESULT_COLUMNS)
        assert "evidence_date" in RESULT_COLUMNS
        assert frame[["item_key", "outcome", "evidence_date", "comment"]].values.tolist() == [
            ["CHG-1042", "pass", "2026-03-14", "CI green before deploy"], ["CHG-1050", "fail", None,
                                                                          "No test evidence"]]
        assert store.results_for("CM-01").empty
        assert store.get("CM-02", "CHG-1042", "testing_evidenced") == result
        assert store.get("CM-02", "CHG-9", "testing_evidenced") is None
        assert "CM-02 / CHG-1042 / testing_evidenced = pass (by DR" in result.summary()


def test_recording_the_current_value_again_writes_nothing(folder):
    with ResultsStore.open(folder) as store:
        first = store.record("CM-02", "CHG-1", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-1")
        head = store.chain_head()
        again = store.record("CM-02", "CHG-1", "testing_evidenced", "pass", tested_by=" DR ", evidence_ref=" EV-1 ")
        assert again == first                                   # same time, same tester: nothing written
        assert store.chain_head() == head and len(store.history()) == 1
        changed = store.record("CM-02", "CHG-1", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-2")
        assert changed.tested_at > first.tested_at and len(store.history()) == 2


def test_changing_a_result_keeps_the_old_value_in_the_trail(folder):
    with ResultsStore.open(folder) as store:
        first = store.record("CM-02", "CHG-1", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-1")
        second = store.record("CM-02", "CHG-1", "testing_evidenced", "fail", tested_by="SL", evidence_ref="EV-1",
                              comment="wrong build")
        assert store.results_for("CM-02")["outcome"].tolist() == ["fail"]
        trail = store.trail("CM-02")
        entries = store.history("result")
    assert list(trail.columns) == list(TRAIL_COLUMNS)
    assert trail["who"].tolist() == ["DR", "SL"]
    assert trail["action"].tolist() == ["record", "record"]
    assert trail["sha256"].tolist() == [e.sha256 for e in entries]
    assert trail["old_value"].iloc[0] is None
    assert json.loads(trail["new_value"].iloc[0]) == {"outcome": "pass", "evidence_ref": "EV-1", "comment": None,
                                                      "evidence_date": None, "tested_by": "DR",
                                                      "tested_at": first.tested_at}
    assert json.loads(trail["old_value"].iloc[1])["outcome"] == "pass"
    assert json.loads(trail["new_value"].iloc[1]) == {"outcome": "fail", "evidence_ref": "EV-1",
                                                      "evidence_date": None, "comment": "wrong build",
                                                      "tested_by": "SL", "tested_at": second.tested_at}


def test_entries_refuse_update_and_delete(folder):
    with ResultsStore.open(folder) as store:
        store.record("CM-02", "CHG-1", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-1")
    connection = sqlite3.connect(folder / "results.sqlite")
    with pytest.raises(sqlite3.IntegrityError, match="append-only: an entry cannot be changed"):
        connection.execute("UPDATE entries SET who = 'X'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only: an entry cannot be deleted"):
        connection.execute("DELETE FROM entries")
    assert connection.execute("SELECT who FROM entries").fetchall() == [("DR",)]
    connection.close()


# ---- validation on write ------------------------------------------------------------------------

def test_outcome_must_be_pass_fail_or_na(folder):
    with ResultsStore.open(folder) as store:
        with pytest.raises(ResultsError, match=r"result \('CM-02', 'CHG-1', 'testing_evidenced'\): outcome must be "
                                               r"one of pass, fail, n/a, got 'ok'"):
            store.record("CM-02", "CHG-1", "testing_evidenced", "ok", tested_by="DR", evidence_ref="EV-1")
        with pytest.raises(ResultsError, match="outcome must be one of"):
            store.record("CM-02", "CHG-1", "testing_evidenced", "PASS", tested_by="DR", evidence_ref="EV-1")
        assert store.results_for("CM-02").empty
        assert store.trail().empty


def test_ids_and_tester_are_validated(folder):
    with ResultsStore.open(folder) as store:
        with pytest.raises(ResultsError, match=r"item_key is required and was empty"):
            store.record("CM-02", " ", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-1")
        with pytest.raises(ResultsError, match=r"tested_by is required and was empty"):
            store.record("CM-02", "CHG-1", "testing_evidenced", "pass", tested_by="", evidence_ref="EV-1")
        with pytest.raises(ResultsError, match=r"attribute_id must be a lower_snake_case attribute id .*"
                                               r"got 'Testing Evidenced'"):
            store.record("CM-02", "CHG-1", "Testing Evidenced", "pass", tested_by="DR", evidence_ref="EV-1")
        with pytest.raises(ResultsError, match=r"item_key must be text, got 1042 \(int\)"):
            store.record("CM-02", 1042, "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-1")
        assert store.history() == []


@pytest.mark.parametrize("outcome", ["pass", "fail"])
def test_a_pass_or_a_fail_needs_an_evidence_reference(folder, outcome):
    with ResultsStore.open(folder) as store:
        with pytest.raises(ResultsError, match=rf"result \('CM-02', 'CHG-1', 'testing_evidenced'\): a {outcome} needs "
                                               rf"an evidence reference; give evidence_ref: where the evidence"):
            store.record("CM-02", "CHG-1", "testing_evidenced", outcome, tested_by="DR", evidence_ref="  ",
                         comment="looked at it")
        store.record("CM-02", "CHG-1", "testing_evidenced", "n/a", tested_by="DR", comment="config-only change")
        assert store.get("CM-02", "CHG-1", "testing_evidenced").evidence_ref is None


@pytest.mark.parametrize("evidence_date, message", [
    ("14/03/2026", r"evidence_date must be a date written YYYY-MM-DD \(the date the evidence shows, e\.g\. "
                   r"2026-03-14\), got '14/03/2026'"),
    ("20260314", r"evidence_date must be a date written YYYY-MM-DD"),
    ("2026-02-30", r"evidence_date '2026-02-30' is not a calendar date; write the date the evidence shows"),
    (dt.datetime(2026, 3, 14, 9, 30), r"evidence_date must be a date \(YYYY-MM-DD\), not a date and time"),
    (20260314, r"evidence_date must be a date written YYYY-MM-DD"),
])
def test_evidence_date_must_be_an_iso_date(folder, evidence_date, message):
    with ResultsStore.open(folder) as store:
        with pytest.raises(ResultsError, match=r"result \('CM-02', 'CHG-1', 'testing_evidenced'\): " + message):
            store.record("CM-02", "CHG-1", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-1",
                         evidence_date=evidence_date)
        assert store.history() == []


def test_evidence_date_in_the_future_is_refused(folder):
    tomorrow = dt.date.today() + dt.timedelta(days=2)
    with ResultsStore.open(folder) as store:
        with pytest.raises(ResultsError, match=rf"evidence_date {tomorrow.isoformat()} is in the future \(today is "
                                               rf"{dt.date.today().isoformat()}\); give the date the evidence shows"):
            store.record("CM-02", "CHG-1", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-1",
                         evidence_date=tomorrow)
        today = store.record("CM-02", "CHG-1", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-1",
                             evidence_date=f" {dt.date.today().isoformat()} ")
        assert today.evidence_date == dt.date.today().isoformat()


def test_store_opened_from_an_engagement_checks_control_and_attribute(folder):
    engagement = load_engagement(folder)
    with ResultsStore.open(engagement) as store:
        assert store.engagement_id == "TEST-T2"
        with pytest.raises(ResultsError, match=r"control 'CM-99' is not in the control matrix of TEST-T2; "
                                               r"known controls: CM-01, CM-02"):
            store.record("CM-99", "CHG-1", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-1")
        with pytest.raises(ResultsError, match=r"attribute 'testing_evidenced' is not tested by control 'CM-01'; "
                                               r"its attributes are approved_before_deployment"):
            store.record("CM-01", "CHG-1", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-1")
        store.record("CM-02", "CHG-1", "testing_evidenced", "n/a", tested_by="DR", comment="config-only change")
        assert store.results_for("CM-02")["outcome"].tolist() == ["n/a"]


def test_tester_must_be_a_preparer_on_the_staff_list(folder):
    engagement = load_engagement(folder)
    with ResultsStore.open(engagement) as store:
        with pytest.raises(ResultsError, match=r"result \('CM-02', 'CHG-1', 'testing_evidenced'\): 'XY' is not on "
                                               r"the staff list of engagement TEST-T2; a result is written by a "
                                               r"preparer \(DR Dana Reyes\)\. Give their initials or name, or add "
                                               r"the person to \[\[staff\]\] in engagement\.toml\."):
            store.record("CM-02", "CHG-1", "testing_evidenced", "pass", tested_by="XY", evidence_ref="EV-1")
        with pytest.raises(ResultsError, match=r"result \('CM-02', 'CHG-1', 'testing_evidenced'\): Sam Lee \(SL\) is "
                                               r"on the staff as reviewer; a result is written by a preparer "
                                               r"\(DR Dana Reyes\)\. Record it as the preparer who did the work"):
            store.record("CM-02", "CHG-1", "testing_evidenced", "pass", tested_by="Sam Lee", evidence_ref="EV-1")
        by_name = store.record("CM-02", "CHG-1", "testing_evidenced", "pass", tested_by="  dana REYES ",
                               evidence_ref="EV-1")
        by_initials = store.record("CM-02", "CHG-2", "testing_evidenced", "pass", tested_by="dr", evidence_ref="EV-2")
    assert by_name.tested_by == by_initials.tested_by == "DR"        # stored as the staff member's initials
    with ResultsStore.open(engagement, roles={"result": {"preparer", "manager"}}) as store:
        assert store.record("CM-02", "CHG-3", "testing_evidenced", "pass", tested_by="pk",
                            evidence_ref="EV-3").tested_by == "PK"
    with ResultsStore.open(folder) as store:                          # from a folder: no staff list to check
        assert store.record("CM-02", "CHG-4", "testing_evidenced", "pass", tested_by="XY",
                            evidence_ref="EV-4").tested_by == "XY"


def test_a_store_belongs_to_one_engagement(folder):
    ResultsStore.open(folder).close()
    with pytest.raises(ResultsError, match=r"this results store belongs to engagement 'TEST-T2', not 'OTHER'\. It "
                                           r"was copied from another engagement folder"):
        ResultsStore.open(folder, engagement_id="OTHER")


def test_read_results_does_not_create_the_store(folder):
    frame = read_results(folder, "CM-02")
    assert frame.empty and list(frame.columns) == list(RESULT_COLUMNS)
    assert not (folder / "results.sqlite").exists()
    with ResultsStore.open(folder) as store:
        store.record("CM-02", "CHG-1", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-1")
    assert read_results(load_engagement(folder), "CM-02")["item_key"].tolist() == ["CHG-1"]


def test_open_errors_name_the_folder(tmp_path):
    with pytest.raises(ResultsError, match="the engagement folder does not exist"):
        ResultsStore.open(tmp_path / "missing")
    with pytest.raises(ResultsError, match="no engagement.toml, so this is not an engagement folder"):
        ResultsStore.open(tmp_path)
    (tmp_path / "engagement.toml").write_text("[engagement]\nclient = 'x'\n", encoding="utf-8")
    with pytest.raises(ResultsError, match=r"key engagement\.engagement_id is missing"):
        ResultsStore.open(tmp_path)


def test_a_file_that_is_not_a_database_is_refused(folder):
    (folder / "results.sqlite").write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(ResultsError, match="cannot open the results store"):
        ResultsStore.open(folder)


def test_newer_schema_is_refused(folder):
    ResultsStore.open(folder).close()
    connection = sqlite3.connect(folder / "results.sqlite")
    connection.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    connection.commit()
    connection.close()
    with pytest.raises(ResultsError, match=r"results store schema version 99 is newer than this workbench "
                                           r"understands \(2\); it was written by a newer workbench\. Upgrade"):
        ResultsStore.open(folder)


# ---- the log of entries -------------------------------------------------------------------------

def test_append_current_latest_and_history(folder):
    with ResultsStore.open(folder) as store:
        a = store.append("receipt", {"population_id": "users", "version": 1},
                         {"file": "populations/users.csv", "sha256": "b" * 64, "size_bytes": 5}, who="dana")
        b = store.append("receipt", {"population_id": "changes", "version": 1},
                         {"file": "populations/changes.csv", "sha256": "c" * 64, "size_bytes": 7}, who="dana")
        c = store.append("receipt", {"population_id": "changes", "version": 10},
                         {"file": "populations/changes.csv", "sha256": "e" * 64, "size_bytes": 8,
                          "superseded_file": "populations/superseded/changes.v9.csv"}, who="dana", reason="re-run")
        d = store.append("receipt", {"population_id": "changes", "version": 2},
                         {"file": "populations/changes.csv", "sha256": "d" * 64, "size_bytes": 8,
                          "superseded_file": "populations/superseded/changes.v1.csv"}, who="dana", reason="re-run")
        assert [e.seq for e in (a, b, c, d)] == [1, 2, 3, 4]
        assert b.prev_sha256 == a.sha256 and store.chain_head() == d.sha256
        # key order: population_id, then version as a number
        assert [(e.key["population_id"], e.key["version"]) for e in store.current("receipt")] == [
            ("changes", 1), ("changes", 2), ("changes", 10), ("users", 1)]
        assert [e.seq for e in store.current("receipt", population_id="changes")] == [2, 4, 3]
        assert store.current("receipt", population_id="changes", version=2) == [d]
        assert store.latest("receipt", {"population_id": "changes", "version": 2}) == d
        assert store.latest("receipt", {"population_id": "nope", "version": 1}) is None
        assert store.history() == [a, b, c, d]
        assert store.history("receipt", population_id="users") == [a]
        assert d.value["provided_by"] is None and d.reason == "re-run"      # undeclared fields stored as null
        assert d.describe() == "entry 4, receipt ('changes', 2)"


def test_kinds_are_declared_by_their_key_fields(folder):
    def no_blank_note(key, value, reason, context):
        if not str(value.get("note") or "").strip():
            raise ResultsError(f"review_note {key}: the note is empty; write what the reviewer asks.")
        return value

    kind = register_kind(EntryKind("test_review_note", key_fields=("control_id", "note_id"),
                                   value_fields=("note", "status"), validate=no_blank_note,
                                   staff_roles=frozenset({"reviewer"})))
    assert register_kind(EntryKind("test_review_note", key_fields=("control_id", "note_id"),
                                   value_fields=("note", "status"), validate=no_blank_note,
                                   staff_roles=frozenset({"reviewer"}))) is kind
    with pytest.raises(ValueError, match="already declared differently"):
        register_kind(EntryKind("test_review_note", key_fields=("control_id",)))
    with ResultsStore.open(load_engagement(folder)) as store:
        entry = store.append("test_review_note", {"control_id": "CM-02", "note_id": "N1"},
                             {"note": "Tie CHG-1042 to the CAB minutes", "status": "open"}, who="sam lee")
        assert entry.who == "SL" and store.current("test_review_note") == [entry]
        with pytest.raises(ResultsError, match="the note is empty"):
            store.append("test_review_note", {"control_id": "CM-02", "note_id": "N2"}, {"note": " "}, who="SL")
        with pytest.raises(ResultsError, match=r"Dana Reyes \(DR\) is on the staff as preparer; a test_review_note "
                                               r"is written by a reviewer \(SL Sam Lee\)"):
            store.append("test_review_note", {"control_id": "CM-02", "note_id": "N3"}, {"note": "x"}, who="DR")
        with pytest.raises(ResultsError, match=r"unknown value field\(s\) 'colour'; a test_review_note holds note, "
                                               r"status"):
            store.append("test_review_note", {"control_id": "CM-02", "note_id": "N4"}, {"colour": "red"}, who="SL")
        with pytest.raises(ResultsError, match=r"unknown key field\(s\) 'item'; a test_review_note is named by "
                                               r"control_id, note_id"):
            store.append("test_review_note", {"control_id": "CM-02", "note_id": "N5", "item": "x"}, {}, who="SL")
        with pytest.raises(ResultsError, match=r"note_id is required and was empty"):
            store.append("test_review_note", {"control_id": "CM-02"}, {"note": "x"}, who="SL")
        with pytest.raises(ResultsError, match=r"unknown kind of entry 'signof'; declared kinds: .*receipt, result"):
            store.append("signof", {"control_id": "CM-02"}, {}, who="SL")
        with pytest.raises(ResultsError, match=r"version must be a whole number, got '1'"):
            store.append("receipt", {"population_id": "changes", "version": "1"}, {}, who="SL")
        with pytest.raises(ResultsError, match=r"no key field\(s\) item_key; its key fields are population_id"):
            store.current("receipt", item_key="x")
        with pytest.raises(ResultsError, match=r"the value is not storable as JSON"):
            store.append("migration", {"schema_version": 9}, {"x": float("nan")}, who="SL")
        assert len(store.history()) == 1


def test_a_transaction_commits_its_appends_together_or_not_at_all(folder):
    with ResultsStore.open(folder) as store:
        with pytest.raises(RuntimeError):
            with store.transaction():
                store.record("CM-02", "CHG-1", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-1")
                store.record("CM-02", "CHG-2", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-2")
                assert len(store.history()) == 2                 # visible inside the transaction
                raise RuntimeError("stop")
        assert store.history() == [] and store.chain_head() == ZERO_SHA256
        with store.transaction():
            first = store.record("CM-02", "CHG-1", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-1")
            second = store.record("CM-02", "CHG-2", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-2")
        assert [e.seq for e in store.history()] == [1, 2]
        assert second.tested_at > first.tested_at
        assert store.verify().entries == 2


def _writer(folder: str, worker: int, count: int) -> None:
    with ResultsStore.open(folder) as store:
        for i in range(count):
            store.record("CM-02", f"CHG-{worker}-{i}", "testing_evidenced", "pass", tested_by=f"W{worker}",
                         evidence_ref=f"EV-{worker}-{i}")


def test_concurrent_writers_from_two_processes_lose_nothing(folder):
    ResultsStore.open(folder).close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(str(folder), w, 40)) for w in (1, 2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
    assert [p.exitcode for p in workers] == [0, 0]
    with ResultsStore.open(folder) as store:
        assert len(store.results_for("CM-02")) == 80
        assert len(store.trail("CM-02")) == 80
        assert store.trail("CM-02")["seq"].tolist() == list(range(1, 81))
        assert store.verify().entries == 80
