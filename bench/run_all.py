"""Every benchmark in ``bench/``, one table: what, the workbench's figure, the baseline's in the same run, the ratio,
the target.

Each ``bench_*.py`` module exposes ``measure(quick) -> list[Line]``; this runs them in turn (in this process;
the notebook and batch benchmarks start their own kernels and ``workbench run`` processes) and prints their lines
together, with the date and the machine. Nothing here asserts a time: a line over its target says ``OVER``.

Run: ``.venv/bin/python bench/run_all.py [--quick] [--only NAME ...]``

``--quick`` keeps the whole run to a few minutes for smoke-testing (fewer rows, copies and repetitions: its
figures are not the ones to quote). The full run takes about 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Line, table  # noqa: E402

#: The benchmark modules, in the order of the table.
MODULES = ("bench_startup", "bench_selection", "bench_population", "bench_population_sheet", "bench_notebooks",
           "bench_batch")

#: Lines other issues own, listed so that the table shows what is not measured here yet (none now).
PENDING: tuple[tuple[str, str], ...] = ()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (smaller inputs, fewer repetitions)")
    parser.add_argument("--only", nargs="+", choices=MODULES, default=None, help="run only these modules")
    arguments = parser.parse_args(argv)
    lines: list[Line] = []
    took: dict[str, float] = {}
    for name in arguments.only or MODULES:
        start = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        lines.extend(importlib.import_module(name).measure(quick=arguments.quick))
        took[name] = time.perf_counter() - start
    print(f"Benchmarks{' (--quick: smoke run, not figures to quote)' if arguments.quick else ''}, "
          f"{dt.date.today().isoformat()}, {platform.node()}: {os.cpu_count()} cores, {platform.machine()}, "
          f"Python {platform.python_version()}")
    print(table(lines))
    for what, why in PENDING:
        print(f"{what:<58} {'-':>11} {'-':>11} {'':>7} {'':>7}  not measured here: {why}")
    print("module seconds: " + ", ".join(f"{name} {seconds:.0f}" for name, seconds in took.items()),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
