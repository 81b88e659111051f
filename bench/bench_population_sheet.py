"""A control workpaper listing 100,000 records, against ``DataFrame.to_excel(engine="openpyxl")`` of the same rows.

Issue 11's budget: writing a workpaper whose "Population listing" sheet lists 100,000 records (12 columns) takes
at most 0.6 of the time ``pandas.DataFrame.to_excel(path, engine="openpyxl", index=False)`` takes for the same
rows (the baseline, timed in the same run).

"Ours" is the whole workpaper: the demo's CM-01 is tested (a private copy of ``sample_data/acme-type2``), and
its census (``AttributeTesting.record_outcomes``) is replaced by a synthetic one of N records in the same shape:
the change id, the deployment time (timezone-aware), the source row, the sample number, seven automated
attributes' outcomes and the failed attributes, 12 columns. :func:`workbench.workpaper.write_workpaper` then
writes all eight sheets (the chart included) to a temporary file and moves it into place, as a run does.
The baseline writes only the 12 columns of that census (the deployment time as the same ISO 8601 text, since
Excel cannot hold a timezone-aware time). Each side best of ``repeat`` runs, interleaved.

Run: ``.venv/bin/python bench/bench_population_sheet.py [--rows 100000] [--repeat 3] [--quick]``
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from harness import ROOT, Line, table


def census(rows: int, key: str, date: str, attribute_ids: list[str], seed: int = 11) -> pd.DataFrame:
    """A synthetic census of ``rows`` records: 12 columns, about 2 % failures per attribute."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2025-07-01", tz="UTC")
    minutes = np.sort(rng.integers(0, 365 * 24 * 60, rows))
    frame: dict[str, object] = {
        key: [f"CHG-{100000 + i}" for i in range(rows)],
        date: (start + pd.to_timedelta(minutes, unit="min")).tz_convert("America/New_York"),
        "source_row": np.arange(2, rows + 2),
        "sample_no": pd.array([i // (rows // 60) + 1 if i % (rows // 60) == 0 else None for i in range(rows)],
                              dtype="Int64"),
    }
    outcomes = np.array(["pass", "fail", "n/a"], dtype=object)
    failed = np.full(rows, "", dtype=object)
    for attribute_id in attribute_ids:
        values = outcomes[rng.choice(3, size=rows, p=[0.93, 0.02, 0.05])]
        frame[attribute_id] = values
        failed = np.where(values == "fail", failed + np.where(failed == "", "", "; ") + attribute_id, failed)
    frame["failed"] = failed
    return pd.DataFrame(frame)


def _demo_test(folder: Path):  # noqa: ANN202 - a ControlTest (imported late: the workbench loads lazily)
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import copy_engagement, run_stages

    engagement = copy_engagement(ROOT / "sample_data" / "acme-type2", folder / "acme-type2")
    return run_stages(engagement, "CM-01")["test"]


def measure(quick: bool = False, rows: int | None = None, repeat: int | None = None) -> list[Line]:
    from workbench.workpaper import write_workpaper

    rows = rows or (10_000 if quick else 100_000)
    repeat = repeat or (1 if quick else 3)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        test = _demo_test(folder)
        testing = test.testing
        real = [a.id for a in testing.attributes if a.id in testing.record_outcomes.columns]
        ids = (real + [f"check_{i}" for i in range(len(real) + 1, 8)])[:7]
        frame = census(rows, testing.key_column, testing.date_column, ids)
        assert frame.shape == (rows, 12), frame.shape
        big = dataclasses.replace(test, testing=dataclasses.replace(testing, record_outcomes=frame))
        baseline_frame = frame.assign(**{testing.date_column: frame[testing.date_column].map(
            lambda value: value.isoformat())})
        ours, baseline = [], []
        for attempt in range(repeat):
            start = time.perf_counter()
            written = write_workpaper(folder / "out", big)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            baseline_frame.to_excel(folder / "baseline.xlsx", engine="openpyxl", index=False)
            baseline.append(time.perf_counter() - start)
            print(f"  run {attempt + 1}: workpaper {ours[-1]:.2f} s, to_excel {baseline[-1]:.2f} s", file=sys.stderr)
        size = written.stat().st_size
        shutil.rmtree(folder / "out", ignore_errors=True)
    return [Line(f"workpaper listing {rows:,} records x 12 ({size / 1e6:.1f} MB)", min(ours),
                 f"DataFrame.to_excel(engine=openpyxl), {rows:,} x 12", min(baseline), target=0.6)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="10,000 rows, one run (a smoke run)")
    arguments = parser.parse_args()
    print(table(measure(arguments.quick, arguments.rows, arguments.repeat)))
