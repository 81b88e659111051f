"""The results store (workbench.results): validated writes, WAL, append-only audit trail."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from workbench.engagement import load_engagement
from workbench.errors import ResultsError
from workbench.results import RESULT_COLUMNS, TRAIL_COLUMNS, ResultsStore, read_results

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


def test_open_creates_the_store_in_wal_mode(folder):
    with ResultsStore.open(folder) as store:
        assert store.engagement_id == "TEST-T2"  # read from engagement.toml
        assert store.path == folder / "results.sqlite"
    assert (folder / "results.sqlite").exists()
    connection = sqlite3.connect(folder / "results.sqlite")
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "1"
    connection.close()


def test_record_and_read_back(folder):
    with ResultsStore.open(folder) as store:
        result = store.record("CM-02", "CHG-1042", "testing_evidenced", "pass", tested_by="DR",
                              evidence_ref="EV-12 CI run 8812", comment="  CI green before deploy ")
        assert (result.outcome, result.tested_by, result.evidence_ref, result.comment) == (
            "pass", "DR", "EV-12 CI run 8812", "CI green before deploy")
        assert result.tested_at.endswith("+00:00")
        store.record("CM-02", "CHG-1050", "testing_evidenced", "fail", tested_by="DR",
                     comment="No test evidence")
        frame = store.results_for("CM-02")
        assert list(frame.columns) == list(RESULT_COLUMNS)
        assert frame[["item_key", "outcome", "comment"]].values.tolist() == [
            ["CHG-1042", "pass", "CI green before deploy"], ["CHG-1050", "fail", "No test evidence"]]
        assert store.results_for("CM-01").empty
        assert store.get("CM-02", "CHG-1042", "testing_evidenced") == result
        assert store.get("CM-02", "CHG-9", "testing_evidenced") is None


def test_changing_a_result_keeps_the_old_value_in_the_trail(folder):
    with ResultsStore.open(folder) as store:
        first = store.record("CM-02", "CHG-1", "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-1")
        second = store.record("CM-02", "CHG-1", "testing_evidenced", "fail", tested_by="SL", comment="wrong build")
        assert store.results_for("CM-02")["outcome"].tolist() == ["fail"]
        trail = store.trail("CM-02")
    assert list(trail.columns) == list(TRAIL_COLUMNS)
    assert trail["who"].tolist() == ["DR", "SL"]
    assert trail["action"].tolist() == ["record", "record"]
    assert trail["old_value"].iloc[0] is None
    assert json.loads(trail["new_value"].iloc[0]) == {"outcome": "pass", "evidence_ref": "EV-1", "comment": None,
                                                      "tested_by": "DR", "tested_at": first.tested_at}
    assert json.loads(trail["old_value"].iloc[1])["outcome"] == "pass"
    assert json.loads(trail["new_value"].iloc[1]) == {"outcome": "fail", "evidence_ref": None,
                                                      "comment": "wrong build", "tested_by": "SL",
                                                      "tested_at": second.tested_at}


def test_trail_refuses_update_and_delete(folder):
    with ResultsStore.open(folder) as store:
        store.record("CM-02", "CHG-1", "testing_evidenced", "pass", tested_by="DR")
    connection = sqlite3.connect(folder / "results.sqlite")
    with pytest.raises(sqlite3.IntegrityError, match="append-only: entries cannot be changed"):
        connection.execute("UPDATE trail SET who = 'X'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only: entries cannot be deleted"):
        connection.execute("DELETE FROM trail")
    assert connection.execute("SELECT who FROM trail").fetchall() == [("DR",)]
    connection.close()


def test_outcome_must_be_pass_fail_or_na(folder):
    with ResultsStore.open(folder) as store:
        with pytest.raises(ResultsError, match=r"result \('CM-02', 'CHG-1', 'testing_evidenced'\): outcome must be "
                                               r"one of pass, fail, n/a, got 'ok'"):
            store.record("CM-02", "CHG-1", "testing_evidenced", "ok", tested_by="DR")
        with pytest.raises(ResultsError, match="outcome must be one of"):
            store.record("CM-02", "CHG-1", "testing_evidenced", "PASS", tested_by="DR")
        assert store.results_for("CM-02").empty
        assert store.trail().empty


def test_ids_and_tester_are_validated(folder):
    with ResultsStore.open(folder) as store:
        with pytest.raises(ResultsError, match=r"item_key is required and was empty"):
            store.record("CM-02", " ", "testing_evidenced", "pass", tested_by="DR")
        with pytest.raises(ResultsError, match=r"tested_by is required and was empty"):
            store.record("CM-02", "CHG-1", "testing_evidenced", "pass", tested_by="")
        with pytest.raises(ResultsError, match=r"attribute_id must be a lower_snake_case attribute id .*"
                                               r"got 'Testing Evidenced'"):
            store.record("CM-02", "CHG-1", "Testing Evidenced", "pass", tested_by="DR")
        with pytest.raises(ResultsError, match=r"item_key must be text, got 1042 \(int\)"):
            store.record("CM-02", 1042, "testing_evidenced", "pass", tested_by="DR")


def test_store_opened_from_an_engagement_checks_control_and_attribute(folder):
    engagement = load_engagement(folder)
    with ResultsStore.open(engagement) as store:
        assert store.engagement_id == "TEST-T2"
        with pytest.raises(ResultsError, match=r"control 'CM-99' is not in the control matrix of TEST-T2; "
                                               r"known controls: CM-01, CM-02"):
            store.record("CM-99", "CHG-1", "testing_evidenced", "pass", tested_by="DR")
        with pytest.raises(ResultsError, match=r"attribute 'testing_evidenced' is not tested by control 'CM-01'; "
                                               r"its attributes are approved_before_deployment"):
            store.record("CM-01", "CHG-1", "testing_evidenced", "pass", tested_by="DR")
        store.record("CM-02", "CHG-1", "testing_evidenced", "n/a", tested_by="DR", comment="config-only change")
        assert store.results_for("CM-02")["outcome"].tolist() == ["n/a"]


def test_results_are_filed_per_engagement(folder):
    with ResultsStore.open(folder, engagement_id="OTHER") as other:
        other.record("CM-02", "CHG-1", "testing_evidenced", "fail", tested_by="DR")
    with ResultsStore.open(folder) as store:
        assert store.results_for("CM-02").empty
        assert store.trail().empty


def test_read_results_does_not_create_the_store(folder):
    frame = read_results(folder, "CM-02")
    assert frame.empty and list(frame.columns) == list(RESULT_COLUMNS)
    assert not (folder / "results.sqlite").exists()
    with ResultsStore.open(folder) as store:
        store.record("CM-02", "CHG-1", "testing_evidenced", "pass", tested_by="DR")
    assert read_results(load_engagement(folder), "CM-02")["item_key"].tolist() == ["CHG-1"]


def test_open_errors_name_the_folder(tmp_path):
    with pytest.raises(ResultsError, match="the engagement folder does not exist"):
        ResultsStore.open(tmp_path / "missing")
    with pytest.raises(ResultsError, match="no engagement.toml, so this is not an engagement folder"):
        ResultsStore.open(tmp_path)
    (tmp_path / "engagement.toml").write_text("[engagement]\nclient = 'x'\n", encoding="utf-8")
    with pytest.raises(ResultsError, match=r"key engagement\.engagement_id is missing"):
        ResultsStore.open(tmp_path)


def test_newer_schema_is_refused(folder):
    ResultsStore.open(folder).close()
    connection = sqlite3.connect(folder / "results.sqlite")
    connection.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    connection.commit()
    connection.close()
    with pytest.raises(ResultsError, match="schema version 99 is newer than this workbench understands"):
        ResultsStore.open(folder)


def _writer(folder: str, worker: int, count: int) -> None:
    with ResultsStore.open(folder) as store:
        for i in range(count):
            store.record("CM-02", f"CHG-{worker}-{i}", "testing_evidenced", "pass", tested_by=f"W{worker}")


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
