"""The demo's workbooks, cell by cell, against the reference kept in tests/reference/workpapers/.

The reference was written from the workbooks as they stood before the stages were joined into one
``ControlTest`` (issue "stage boundaries"): the restructuring had to leave every cell as it was (times of the
run and of the pin aside; paths relative to the run folder). A deliberate change of the workpapers refreshes
the reference in the same commit, so its diff shows what changed in the workbooks:

    python tests/workbook_cells.py OUT_DIR ENGAGEMENT_DIR tests/reference/workpapers/<engagement>
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbook_cells import as_json, compare, workbook_cells

pytestmark = pytest.mark.slow

REFERENCE = Path(__file__).resolve().parent / "reference" / "workpapers"


@pytest.mark.parametrize("book", ["CM-01", "CM-02", "summary"])
@pytest.mark.parametrize("run", ["demo_run", "demo_type1_run"])
def test_workbooks_are_cell_identical_to_the_reference(run, book, request):
    result = request.getfixturevalue(run)
    expected = json.loads((REFERENCE / result["folder"].name / f"{book}.json").read_text(encoding="utf-8"))
    actual = json.loads(json.dumps(as_json(workbook_cells(result["out"] / f"{book}.xlsx",
                                                          folder=result["folder"])), default=str))
    assert compare(expected, actual) == []


def test_the_comparison_sees_a_changed_cell(demo_run):
    expected = json.loads((REFERENCE / "acme-type2" / "CM-01.json").read_text(encoding="utf-8"))
    changed = json.loads(json.dumps(expected))
    changed["Lead"][5][1] = "something else"
    assert compare(expected, changed) == [f"Lead!{expected['Lead'][5][0]}: expected {expected['Lead'][5][1]!r}, "
                                          f"got 'something else'"]
