"""Load + hash + validate a change export: time against a bare ``pandas.read_csv``, peak memory against its size.

Issue 4's budget, restated by issue 12: loading, hashing and validating take at most 3x a bare
``pandas.read_csv(path)`` of the same file (aim: 1.5x), and the peak memory of a load is at most 4x the file's
size plus the interpreter. The file (UTF-8, ISO 8601 timestamps with ``Z``, the canonical change columns) is
generated in a temporary folder.

Time: each side best of ``repeat`` runs in this process, the two interleaved so that load on the machine hits
them alike. Memory: each measurement runs in a fresh interpreter that imports what it needs, takes its own
peak resident set size as the baseline (``VmHWM`` of ``/proc/self/status``: ``resource.getrusage``'s
``ru_maxrss`` would include the parent's memory, which Linux carries across ``exec``), then loads and
validates the file and takes the peak again; the figure is the difference, beside the file's size (and, for
reference, the same measurement of ``pandas.read_csv``).

Run: ``.venv/bin/python bench/bench_population.py [--rows N] [--quick]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from harness import PYTHON, ROOT, Line, table

#: The child that measures one peak: baseline after the imports, then after the work.
_CHILD = """
import json, resource, sys
import pandas as pd
from workbench.population import load_population_file
from workbench.validation import validate

def peak_kib():
    # VmHWM is this process's own high-water mark; ru_maxrss would also count the parent's memory at fork,
    # which Linux carries across exec
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

path, what = sys.argv[1], sys.argv[2]
before = peak_kib()
if what == "workbench":
    population = load_population_file(path, kind="changes", format="generic", timezone="America/New_York")
    report = validate(population, period_start="2025-07-01", period_end="2026-06-30")
    assert report.usable
else:
    pd.read_csv(path)
print(json.dumps({"baseline_kib": before, "peak_kib": peak_kib()}))
"""


def make_file(path: Path, rows: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    base = np.datetime64("2025-07-01T00:00:00")
    created = base + rng.integers(0, 364 * 86400, rows).astype("timedelta64[s]")
    approved = created + rng.integers(0, 3 * 86400, rows).astype("timedelta64[s]")
    deployed = approved + rng.integers(0, 3 * 86400, rows).astype("timedelta64[s]")
    people = np.array([f"user{i:03d}@acme.example" for i in range(300)])
    iso = "%Y-%m-%dT%H:%M:%SZ"
    frame = pd.DataFrame({
        "change_id": [f"CHG-{i:07d}" for i in range(rows)],
        "title": np.char.add("Update service configuration ", rng.integers(0, 5000, rows).astype(str)),
        "change_type": rng.choice(["standard", "normal", "emergency"], rows, p=[0.5, 0.45, 0.05]),
        "status": "Done",
        "author": rng.choice(people, rows),
        "approver": rng.choice(people, rows),
        "created_at": pd.Series(created).dt.strftime(iso),
        "approved_at": pd.Series(approved).dt.strftime(iso),
        "deployed_at": pd.Series(deployed).dt.strftime(iso),
        "system": rng.choice(["web-app", "api", "data-pipeline", "mobile-backend"], rows),
    })
    frame.to_csv(path, index=False)


def peak_mib(path: Path, what: str) -> float:
    """Peak resident memory added by loading ``path`` (``what``: workbench or pandas), in a fresh interpreter."""
    done = subprocess.run([PYTHON, "-c", _CHILD, str(path), what], capture_output=True, text=True, check=True,
                          cwd=ROOT)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return (figures["peak_kib"] - figures["baseline_kib"]) / 1024


def measure(quick: bool = False, rows: int | None = None) -> list[Line]:
    from workbench.population import load_population_file
    from workbench.validation import validate

    rows = rows or (100_000 if quick else 1_000_000)
    repeat = 2 if quick else 3
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "changes.csv"
        make_file(path, rows)
        size_mib = path.stat().st_size / 2**20

        def ours() -> None:
            population = load_population_file(path, kind="changes", format="generic", timezone="America/New_York")
            report = validate(population, period_start="2025-07-01", period_end="2026-06-30", expected_count=rows)
            assert report.usable and population.rows_received == rows

        best = {"ours": float("inf"), "pandas": float("inf")}
        for _ in range(repeat):
            for name, action in (("pandas", lambda: pd.read_csv(path)), ("ours", ours)):
                start = time.perf_counter()
                action()
                best[name] = min(best[name], time.perf_counter() - start)
        label = f"{rows:,} rows, {size_mib:,.0f} MiB"
        lines.append(Line(f"load + hash + validate ({label})", best["ours"], f"pandas.read_csv, best of {repeat}",
                          best["pandas"], 3.0))
        lines.append(Line(f"peak memory, load + validate ({label})", peak_mib(path, "workbench"),
                          "the file's size", size_mib, 4.0, unit="MiB"))
        lines.append(Line(f"peak memory, pandas.read_csv ({label})", peak_mib(path, "pandas"),
                          "the file's size", size_mib, None, unit="MiB"))
    return lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="rows of the generated export (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="100,000 rows, fewer repetitions")
    arguments = parser.parse_args()
    print(table(measure(arguments.quick, arguments.rows)))
