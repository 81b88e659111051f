"""A batch: 24 control notebooks with ``workbench run --workers 2`` against the same notebooks one at a time.

Issue 13: executing a batch's control notebooks with 2 workers may take at most 0.6x executing the same notebooks
one at a time through papermill's Python API in one process. The batch here is two controls (CM-01 and CM-02,
change management, ``--controls``) of 12 copies of the demo engagement in one folder (``clients/acme-01`` ...
``acme-12``): 24 notebooks, as many as a client has, run by one
``workbench run clients --controls CM-01,CM-02 --workers 2 --no-progress`` (a new process: its start-up, the kernel template's imports,
every summary and manifest are in its time). The baseline executes the same 24 notebooks on another 12 fresh
copies with ``papermill.execute_notebook`` (papermill's engine, a new kernel each), one after the other, in this
process. Both start from copies without a results store, so both pin every population on first use.

Beside them, in the same run, the same batch with ``--executor dask`` (a local Dask cluster of 2 worker
processes, started by the run and included in its time) against the local executor: the two run in turn,
twice each (once with ``--quick``), on fresh copies, and the median of each is taken.

Run: ``.venv/bin/python bench/bench_batch.py [--quick] [--copies 12]`` (``--quick``: 2 copies, 4 notebooks)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import papermill

from bench_notebooks import NOTEBOOK, copy_demo
from harness import WORKBENCH, Line, stderr_to, table

CONTROLS = ("CM-01", "CM-02")


def clients(folder: Path, copies: int) -> list[Path]:
    return [copy_demo(folder / f"acme-{number:02d}") for number in range(1, copies + 1)]


def one_at_a_time(engagements: list[Path]) -> float:
    """The baseline: every control notebook through papermill's API, one after the other, in this process."""
    start = time.perf_counter()
    for folder in engagements:
        for control in CONTROLS:
            parameters = {"engagement_dir": str(folder), "control_id": control,
                          "output_dir": str(folder / "output")}
            (folder / "output" / "notebooks").mkdir(parents=True, exist_ok=True)
            papermill.execute_notebook(str(NOTEBOOK), str(folder / "output" / "notebooks" / f"{control}.ipynb"),
                                       parameters=parameters, kernel_name="python3", progress_bar=False,
                                       cwd=str(NOTEBOOK.parent))
    return time.perf_counter() - start


def workbench_run(folder: Path, *options: str) -> float:
    start = time.perf_counter()
    done = subprocess.run([WORKBENCH, "run", str(folder), "--controls", ",".join(CONTROLS), "--workers", "2",
                           "--no-progress", *options],
                          capture_output=True, text=True)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"workbench run failed ({done.returncode}): {done.stderr[-2000:]}")
    return took


def measure(quick: bool = False, copies: int | None = None) -> list[Line]:
    copies = copies or (2 if quick else 12)
    notebooks = copies * len(CONTROLS)
    runs: dict[str, list[float]] = {"local": [], "dask": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with stderr_to(root / "stderr.log"):
            baseline = one_at_a_time(clients(root / "baseline", copies))
        for turn in range(1 if quick else 2):          # in turn, so that load on the machine hits both alike
            for name, options in (("local", ()), ("dask", ("--executor", "dask"))):
                clients(root / f"{name}-{turn}", copies)
                runs[name].append(workbench_run(root / f"{name}-{turn}", *options))
    local, dask = statistics.median(runs["local"]), statistics.median(runs["dask"])
    return [
        Line(f"{notebooks} control notebooks, workbench run --workers 2", local,
             f"the same {notebooks}, one at a time, papermill API, one process", baseline, 0.6),
        Line(f"{notebooks} control notebooks, --executor dask (local cluster, 2)", dask,
             "workbench run --workers 2 (local executor)", local),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 copies of the demo engagement (4 notebooks)")
    parser.add_argument("--copies", type=int, default=None, help="copies of the demo engagement (default 12)")
    arguments = parser.parse_args()
    print(table(measure(arguments.quick, arguments.copies)))
