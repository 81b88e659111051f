"""Benchmark: load + hash + validate a 1-million-row change export vs a bare ``pandas.read_csv``.

Issue 4's budget: loading, hashing and validating must take at most 3x a bare ``pandas.read_csv(path)``
of the same file. The file (UTF-8, ISO 8601 timestamps with ``Z``, the canonical change columns) is
generated in a temporary folder; each side is timed best of 3 and the ratio printed.

Memory: the same two loads, each in a process of its own, report the growth of their peak resident memory
over what the process held once its imports were done (``measure`` only).

Run: ``.venv/bin/python bench/bench_population.py [--rows N]``; ``measure(quick)`` gives ``bench/run_all.py``
its lines (``quick``: 100,000 rows).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from harness import PYTHON, Line
from workbench.population import load_population_file
from workbench.validation import validate

#: Peak resident memory of a process above its resident memory once imports are done (kB), printed last.
#: (VmHWM, not getrusage's ru_maxrss: a child's ru_maxrss starts at its parent's size when it was forked.)
_MEMORY = """
import sys
def status(key):
    return int(next(l for l in open("/proc/self/status") if l.startswith(key + ":")).split()[1])
{imports}
before = status("VmRSS")
{work}
print(status("VmHWM") - before)
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


def best_of(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def ours(path: Path, rows: int) -> None:
    population = load_population_file(path, kind="changes", format="generic", timezone="America/New_York")
    report = validate(population, period_start="2025-07-01", period_end="2026-06-30", expected_count=rows)
    assert report.usable and population.rows_received == rows


def memory_mb(imports: str, work: str) -> float:
    """Growth of peak resident memory over the post-import level of a new process doing ``work`` (MB)."""
    done = subprocess.run([PYTHON, "-c", _MEMORY.format(imports=imports, work=work)], capture_output=True, text=True,
                          check=True)
    return int(done.stdout.split()[-1]) / 1024


def measure(quick: bool = False, rows: int | None = None) -> list[Line]:
    rows = rows or (100_000 if quick else 1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "changes.csv"
        make_file(path, rows)
        baseline = best_of(lambda: pd.read_csv(path))
        took = best_of(lambda: ours(path, rows))
        base_memory = memory_mb("import pandas as pd", f"pd.read_csv({str(path)!r})")
        our_memory = memory_mb(f"sys.path.insert(0, {str(Path(__file__).parent)!r})\nfrom bench_population import ours",
                               f"ours(__import__('pathlib').Path({str(path)!r}), {rows})")
    what = f"population load of {rows:,} rows (load, hash, validate)"
    return [Line(what, took, "pandas.read_csv(path)", baseline, 3.0),
            Line(f"population load of {rows:,} rows: peak memory", our_memory, "pandas.read_csv(path)", base_memory,
                 unit="MB")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "changes.csv"
        make_file(path, args.rows)
        size = path.stat().st_size / 1e6

        baseline = best_of(lambda: pd.read_csv(path))
        ours_t = best_of(lambda: ours(path, args.rows))
    print(f"file: {args.rows:,} rows, {size:.0f} MB")
    print(f"baseline pandas.read_csv(path): {baseline:.3f} s")
    print(f"load + hash + validate:         {ours_t:.3f} s")
    print(f"ratio: {ours_t / baseline:.2f}x (budget 3x)")


if __name__ == "__main__":
    main()
