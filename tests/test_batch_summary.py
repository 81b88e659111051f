"""A partial run (``workbench run --controls``) keeps the summary and the manifest whole.

Every control of the matrix has its row: the controls run now their new outcome, the others their latest one,
marked "Stale, run again" when an input their conclusion rests on (here: a recorded result) changed since.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench import cli
from workbench.engagement import load_engagement
from workbench.results import ResultsStore
from workbench.workpaper import read_summary

pytestmark = pytest.mark.slow


def _run(folder: Path, *options: str) -> dict:
    assert cli.main(["run", str(folder), "--workers", "2", "--no-progress", *options]) == 0
    return json.loads((folder / "output" / "manifest.json").read_text(encoding="utf-8"))


def test_a_partial_run_keeps_every_control_and_marks_the_stale(type2_copy, capsys):
    matrix = [control.id for control in load_engagement(type2_copy).controls]
    first = _run(type2_copy, "--controls", "CM-01,CM-02")
    rows = {row["control_id"]: row for row in read_summary(type2_copy / "output" / "summary.xlsx")}
    assert sorted(rows) == sorted(matrix)                               # every control of the matrix, first run too
    assert rows["AC-01"]["status"] == "not_run"
    assert rows["AC-01"]["result_text"] == ("Not run yet: no result in this output folder "
                                            "(workbench run --controls AC-01).")
    assert [r["control_id"] for r in first["controls"]] == ["CM-01", "CM-02"]
    assert {r["control_id"] for r in first["kept_controls"]} == set(matrix) - {"CM-01", "CM-02"}

    # a tester records a result for a sampled item of CM-02: CM-02's outcome is stale, CM-01's stands
    out = type2_copy / "output"
    cm02 = json.loads((out / "records" / "CM-02.json").read_text(encoding="utf-8"))
    with ResultsStore.open(type2_copy) as store:
        store.record("CM-02", cm02["selected_keys"][0], "testing_evidenced", "pass", tested_by="DR",
                     evidence_ref="EV-7")
    capsys.readouterr()
    second = _run(type2_copy, "--controls", "CM-01")
    assert ("The summary keeps the latest outcome of the 23 other controls of the matrix; stale, run again: "
            "CM-02.") in capsys.readouterr().out
    rows = {row["control_id"]: row for row in read_summary(out / "summary.xlsx")}
    assert sorted(rows) == sorted(matrix)
    assert rows["CM-02"]["status"] == "stale"
    assert rows["CM-02"]["conclusion_text"] == (f"Stale, run again: inputs changed: results since the run of "
                                                f"{first['started']}.")
    assert rows["CM-02"]["result_text"] == cm02["result_text"]          # the latest outcome, shown as stale
    assert rows["CM-01"]["status"] == "testing_in_progress"
    assert rows["AC-01"]["status"] == "not_run"
    kept = {r["control_id"]: r for r in second["kept_controls"]}
    assert kept["CM-02"]["stale"] == ["inputs changed: results"]
    assert kept["CM-02"]["started"] == first["controls"][1]["started"]
    assert [r["control_id"] for r in second["controls"]] == ["CM-01"]

    # the next partial run keeps CM-01 (unchanged: not stale) from this one
    third = _run(type2_copy, "--controls", "CM-02")
    rows = {row["control_id"]: row for row in read_summary(out / "summary.xlsx")}
    assert rows["CM-02"]["result_text"] == "Testing in progress (1 of 22 items tested)."
    assert rows["CM-01"]["status"] == "testing_in_progress"
    assert rows["CM-01"]["notes"].startswith(f"Kept from the run of {second['started']}")
    assert "stale" not in {r["control_id"]: r for r in third["kept_controls"]}["CM-01"]
