"""Resumable runs: ``--rerun-failed`` and ``--changed`` select exactly what they should; ``--timeout``.

Each run here is ``workbench run`` in this process (``cli.main``), on a private copy of the demo engagement.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import nbformat
import openpyxl
import pytest

from conftest import ROOT
from workbench import batch, cli
from workbench.batch import run_reasons
from workbench.changes import current_fingerprint, fingerprint_changes
from workbench.results import ResultsStore
from workbench.workpaper import read_summary

NOTEBOOK = ROOT / "notebooks" / "control.ipynb"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(folder: Path, *options: str) -> tuple[int, dict]:
    code = cli.main(["run", str(folder), "--workers", "2", "--no-progress", *options])
    return code, json.loads((folder / "output" / "manifest.json").read_text())


def by_control(manifest: dict) -> dict[str, dict]:
    return {record["control_id"]: record for record in manifest["controls"]}


# -- what the last manifest says, control by control (no notebook runs) ---------------------------------------

@pytest.fixture
def last_run(tmp_path) -> dict:
    """A finished control as the last manifest records it, with its workpaper and outcome record."""
    out = tmp_path / "out"
    (out / "records").mkdir(parents=True)
    (out / "CM-01.xlsx").write_bytes(b"workpaper")
    (out / "records" / "CM-01.json").write_text("{}")
    parameters = {"engagement_dir": "/e", "control_id": "CM-01", "output_dir": str(out)}
    record = {"control_id": "CM-01", "status": "ran", "parameters": parameters, "notebook_sha256": "n1",
              "outputs_sha256": {"CM-01.xlsx": sha256(out / "CM-01.xlsx"),
                                 "records/CM-01.json": sha256(out / "records" / "CM-01.json")}}
    return {"out": out, "record": record, "parameters": parameters}


def reasons(last_run: dict, record: dict | None = None, *, notebook: str = "n1", previous: str = "0.1.0",
            changed: bool = True, **parameters) -> list[str]:
    return run_reasons(last_run["record"] if record is None else record, last_run["out"],
                       parameters={**last_run["parameters"], **parameters}, notebook_sha256=notebook,
                       previous_version=previous, version="0.1.0", changed=changed)


def test_a_result_stands_when_nothing_it_rests_on_changed(last_run):
    assert reasons(last_run) == []          # --changed then compares the inputs fingerprints


@pytest.mark.parametrize("status, expected", [("failed", "failed in the last run"),
                                              ("pending", "pending in the last run"),
                                              ("interrupted", "interrupted in the last run")])
def test_no_good_result_is_run_again(last_run, status, expected):
    assert reasons(last_run, {**last_run["record"], "status": status}) == [expected]
    assert run_reasons(None, last_run["out"], parameters={}, notebook_sha256="n1", previous_version="0.1.0",
                       version="0.1.0", changed=False) == ["not in the last run"]


def test_a_changed_or_missing_workpaper_is_run_again(last_run):
    (last_run["out"] / "CM-01.xlsx").write_bytes(b"edited by hand")
    assert reasons(last_run, changed=False) == ["CM-01.xlsx changed or missing since the last run"]
    (last_run["out"] / "records" / "CM-01.json").unlink()
    assert reasons(last_run, changed=False) == [
        "CM-01.xlsx, records/CM-01.json changed or missing since the last run"]


def test_notebook_version_and_folder_changes_count_for_changed_only(last_run):
    assert reasons(last_run, notebook="n2") == ["the notebook changed"]
    assert reasons(last_run, previous="0.0.9") == ["workbench 0.0.9 -> 0.1.0"]
    assert reasons(last_run, notebook="n2", previous="0.0.9", changed=False) == []     # --rerun-failed alone
    assert reasons(last_run, engagement_dir="/moved") == [
        "the last run tested it with other parameters (another engagement or output folder)"]


def test_fingerprint_changes_name_the_components():
    before = {"sha256": "a", "components": {"populations": "p", "results": "r1", "policy": "x"}}
    assert fingerprint_changes(before, dict(before), None) == []
    now = {"sha256": "b", "components": {"populations": "p", "results": "r2", "policy": "y"}}
    assert fingerprint_changes(before, now, None) == ["inputs changed: results, policy"]
    assert fingerprint_changes(before, None, "PopulationError: changed") == [
        "its inputs fingerprint could not be computed (PopulationError: changed)"]


# -- real runs ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_changed_runs_only_the_control_whose_inputs_changed(type2_copy, capsys):
    code, first = run(type2_copy, "--controls", "CM-01,CM-02")
    assert code == 0
    out = type2_copy / "output"
    record = json.loads((out / "records" / "CM-01.json").read_text())
    # what --changed computes is what the notebook recorded
    assert current_fingerprint(str(type2_copy), "CM-01") == {"fingerprint": record["inputs_fingerprint"]}
    workpaper = sha256(out / "CM-01.xlsx")

    # a tester records a result for a sampled item of CM-02: its inputs fingerprint changes, CM-01's does not
    item = json.loads((out / "records" / "CM-02.json").read_text())["selected_keys"][0]
    with ResultsStore.open(type2_copy) as store:
        store.record("CM-02", item, "testing_evidenced", "pass", tested_by="DR", evidence_ref="EV-7")
    capsys.readouterr()
    code, second = run(type2_copy, "--controls", "CM-01,CM-02", "--changed")
    assert code == 0
    records = by_control(second)
    assert records["CM-01"]["reused_from"] == first["started"]
    assert records["CM-01"]["started"] == by_control(first)["CM-01"]["started"]      # not run again
    assert sha256(out / "CM-01.xlsx") == workpaper
    assert "reused_from" not in records["CM-02"] and records["CM-02"]["status"] == "ran"
    assert records["CM-02"]["reasons"] == ["inputs changed: results"]
    assert second["reused_outputs_sha256"] == {"CM-01.xlsx": workpaper,
                                               "requests/CM-01.xlsx": sha256(out / "requests" / "CM-01.xlsx")}
    assert set(second["outputs_sha256"]) == {"CM-02.xlsx", "requests/CM-02.xlsx", "summary.xlsx"}
    assert "1 kept from the run of" in capsys.readouterr().out
    rows = {row["control_id"]: row for row in read_summary(out / "summary.xlsx")}
    assert rows["CM-01"]["status"] == "testing_in_progress"                   # the kept result is in the summary
    assert rows["CM-02"]["result_text"] == "Testing in progress (1 of 22 items tested)."


@pytest.fixture
def engagement_with_broken_control(type2_copy):
    """The demo plus control CM-99, whose change export has a duplicated key (the population is rejected)."""
    populations = type2_copy / "populations"
    with open(populations / "jira_changes_FY26.csv", newline="", encoding="utf-8") as stream:
        records = list(csv.reader(stream))
    with open(populations / "jira_changes_broken.csv", "w", newline="", encoding="utf-8") as stream:
        csv.writer(stream).writerows(records + [records[1]])
    toml = (type2_copy / "engagement.toml").read_text()
    toml += ('\n[populations.changes_broken]\nfile = "populations/jira_changes_broken.csv"\n'
             'kind = "changes"\nformat = "jira"\n')
    (type2_copy / "engagement.toml").write_text(toml)
    book = openpyxl.load_workbook(type2_copy / "controls.xlsx")
    book["Controls"].append(["CM-99", "Changes are approved (second system).", "CC8.1", "Priya Shah", "as_needed",
                             "manual", "change_management", "changes_broken", "approved_before_deployment", None])
    book.save(type2_copy / "controls.xlsx")
    return type2_copy


@pytest.mark.slow
def test_rerun_failed_runs_only_what_failed(engagement_with_broken_control):
    folder = engagement_with_broken_control
    code, first = run(folder, "--controls", "CM-99,CM-01,ENT-01")
    assert code == 1 and {r["control_id"]: r["status"] for r in first["controls"]} == {
        "CM-99": "failed", "CM-01": "ran", "ENT-01": "ran"}
    # the client delivers a corrected export (the rejected one was pinned: a new version is delivered)
    assert cli.main(["deliver-population", str(folder), "changes_broken",
                     str(folder / "populations" / "jira_changes_FY26.csv"), "--reason", "PBC-07 duplicate removed",
                     "--by", "DR"]) == 0
    workpaper = sha256(folder / "output" / "CM-01.xlsx")
    code, second = run(folder, "--controls", "CM-99,CM-01,ENT-01", "--rerun-failed")
    assert code == 0
    records = by_control(second)
    assert records["CM-99"]["status"] == "ran" and records["CM-99"]["reasons"] == ["failed in the last run"]
    assert records["CM-99"]["result_status"] == "testing_in_progress"
    assert records["CM-01"]["reused_from"] == first["started"] and records["CM-01"]["started"] == \
        by_control(first)["CM-01"]["started"]
    assert sha256(folder / "output" / "CM-01.xlsx") == workpaper
    assert records["ENT-01"]["status"] == "ran" and records["ENT-01"]["reused_from"] == first["started"]
    assert second["failed"] == 0 and second["state"] == "complete"
    rows = {row["control_id"]: row["status"] for row in read_summary(folder / "output" / "summary.xlsx")
            if row["control_id"] in ("CM-99", "CM-01", "ENT-01")}     # the others: kept, never run here
    assert rows == {"CM-99": "testing_in_progress", "CM-01": "testing_in_progress", "ENT-01": "testing_in_progress"}

    # nothing failed now: a second --rerun-failed runs no notebook at all
    code, third = run(folder, "--controls", "CM-99,CM-01,ENT-01", "--rerun-failed")
    assert code == 0 and all(r.get("reused_from") for r in third["controls"] if r["status"] == "ran")


@pytest.fixture
def sleepy_notebook(tmp_path, monkeypatch) -> Path:
    """The change-management notebook with a cell that sleeps a minute after the parameters."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.insert(2, nbformat.v4.new_code_cell("import time\ntime.sleep(60)  # longer than any --timeout here"))
    path = tmp_path / "change_management.ipynb"
    nbformat.write(notebook, path)
    monkeypatch.setattr(batch, "notebook_for", lambda procedure, implemented=None: path if procedure == "change_management" else None)
    return path


@pytest.mark.slow
def test_timeout_stops_the_cell_and_fails_the_control(type2_copy, sleepy_notebook, capsys):
    """With --fresh-kernels too: the time limit is the engine's, whichever way its kernel started."""
    code, manifest = run(type2_copy, "--controls", "CM-01", "--timeout", "3", "--fresh-kernels")
    assert code == 1
    record = by_control(manifest)["CM-01"]
    assert record["status"] == "failed" and record["timed_out"] is True
    assert record["error"] == ("CM-01: cell [3] `import time`: timed out: the notebook ran longer than its limit "
                               "of 3 s (--timeout); this cell was stopped")
    assert manifest["run"]["timeout"] == 3.0 and manifest["run"]["kernels"] == "new process each"
    executed = nbformat.read(type2_copy / "output" / "notebooks" / "CM-01.ipynb", as_version=4)
    sleeping = executed.cells[3]                          # after the parameters papermill injects
    assert sleeping.outputs[-1]["ename"] == "TimeoutError" and "time limit of 3 s" in sleeping.outputs[-1]["evalue"]
    assert not any(cell.get("outputs") for cell in executed.cells[4:] if cell.cell_type == "code")
    row = next(r for r in read_summary(type2_copy / "output" / "summary.xlsx") if r["control_id"] == "CM-01")
    assert row["status"] == "failed" and "timed out" in row["result_text"]
    assert "FAILED CM-01: cell [3]" in capsys.readouterr().err
