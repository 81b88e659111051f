"""Start-up: the command line and the notebooks' import cell, against ``python -c "import pandas"``.

Issue "stage boundaries": ``workbench --version`` at most 1.3x ``import pandas`` (it needs neither pandas nor
scipy), ``workbench check-population`` on a 5-row file at most 1.6x (nearly all of it is start-up), and the
import cell of the change-management notebook timed beside them. Each command runs in a fresh interpreter,
the commands in turn, median of the runs.

Run: ``.venv/bin/python bench/bench_startup.py [--repeat 9]``
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import nbformat

from harness import PYTHON, ROOT, WORKBENCH, Line, interleaved, table

FIVE_ROWS = """change_id,title,author,approver,created_at,approved_at,deployed_at
CHG-1,Patch,ana,ben,2026-01-05T10:00:00Z,2026-01-05T11:00:00Z,2026-01-05T12:00:00Z
CHG-2,Patch,ana,ben,2026-01-06T10:00:00Z,2026-01-06T11:00:00Z,2026-01-06T12:00:00Z
CHG-3,Patch,ana,ben,2026-01-07T10:00:00Z,2026-01-07T11:00:00Z,2026-01-07T12:00:00Z
CHG-4,Patch,ana,ben,2026-01-08T10:00:00Z,2026-01-08T11:00:00Z,2026-01-08T12:00:00Z
CHG-5,Patch,ana,ben,2026-01-09T10:00:00Z,2026-01-09T11:00:00Z,2026-01-09T12:00:00Z
"""


def import_cell(notebook: Path) -> str:
    """The code of the notebook's import cell (the first code cell after the parameters)."""
    cells = [c for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"]
    return next(c.source for c in cells[1:] if "import" in c.source)


def measure(quick: bool = False) -> list[Line]:
    repeat = 5 if quick else 9
    with tempfile.TemporaryDirectory() as tmp:
        five = Path(tmp) / "five.csv"
        five.write_text(FIVE_ROWS, encoding="utf-8")
        times = interleaved({
            "pandas": [PYTHON, "-c", "import pandas"],
            "version": [WORKBENCH, "--version"],
            "check": [WORKBENCH, "check-population", str(five), "--kind", "changes"],
            "notebook": [PYTHON, "-c", import_cell(ROOT / "notebooks" / "control.ipynb")],
        }, repeat=repeat)
    baseline = 'python -c "import pandas"'
    return [
        Line("workbench --version", times["version"], baseline, times["pandas"], 1.3),
        Line("workbench check-population (5-row file)", times["check"], baseline, times["pandas"], 1.6),
        Line("control.ipynb import cell", times["notebook"], baseline, times["pandas"]),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    print(table(measure(parser.parse_args().quick)))
