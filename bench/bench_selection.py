"""Benchmark: sampling.select on many string keys against pandas ``Series.sort_values()``.

Issue 2 requires selecting 60 from 10 million string keys (a pandas >= 3 Series of strings) to take
at most 3 times as long as ``Series.sort_values()`` on the same keys. This script builds realistic
keys, times the baseline and ``sampling.select`` in the same run (best of ``--repeat``), and prints
both times and the ratio for the random and the stratified (monthly strata from tz-aware dates)
methods. A benchmark, not a test: nothing here asserts a time.

Usage::

    python bench/bench_selection.py [--rows 10000000] [--n 60] [--repeat 3]

``measure(quick)`` gives the same two lines to ``bench/run_all.py`` (``quick``: 1,000,000 keys, one run each).
"""

from __future__ import annotations

import argparse
import functools
import time

import numpy as np
import pandas as pd

import sampling
from harness import Line


def make_keys(rows: int, seed: int = 7) -> pd.Series:
    """Shuffled ticket keys: mostly ``CHG-00001234``, with some ``INC-``/``REQ-`` keys and suffixes."""
    rng = np.random.default_rng(seed)
    numbers = rng.permutation(rows).astype(np.int64)
    prefixes = np.array(["CHG-", "INC-", "REQ-", "PRB-"])[rng.choice(4, size=rows, p=[0.85, 0.08, 0.05, 0.02])]
    text = np.char.add(prefixes, np.char.zfill(numbers.astype(str), 8))
    suffix = rng.random(rows) < 0.03
    text = np.where(suffix, np.char.add(text, "-R1"), text)
    return pd.Series(text, dtype="str", name="change_id")


def make_dates(rows: int, seed: int = 8) -> pd.Series:
    """One timestamp (whole seconds) per key over a 12-month Type 2 period, in New York time."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2025-07-01", tz="America/New_York").value // 10**9
    end = pd.Timestamp("2026-07-01", tz="America/New_York").value // 10**9
    seconds = rng.integers(start, end, size=rows)
    return pd.Series(pd.to_datetime(seconds, unit="s", utc=True).tz_convert("America/New_York"), name="deployed_at")


def best_of(repeat: int, func) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - t0)
    return best, result


def measure(quick: bool = False, rows: int | None = None, n: int = 60, seed: int = 20260630) -> list[Line]:
    """Random and stratified selection of ``n`` from ``rows`` keys against ``Series.sort_values()`` (best of 3)."""
    rows = rows or (1_000_000 if quick else 10_000_000)
    repeat = 1 if quick else 3
    keys, dates = make_keys(rows), make_dates(rows)
    baseline, _ = best_of(repeat, keys.sort_values)
    lines = []
    for method, kwargs in (("random", {}), ("stratified", {"dates": dates})):
        took, _ = best_of(repeat, functools.partial(sampling.select, keys, n, seed=seed, method=method, **kwargs))
        lines.append(Line(f"select {n} of {rows:,} keys, {method}", took, "Series.sort_values() on the keys",
                          baseline, 3.0))
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20260630)
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    keys = make_keys(args.rows)
    dates = make_dates(args.rows)
    print(f"built {args.rows:,} keys ({keys.dtype}) and dates ({dates.dtype}) in {time.perf_counter() - t0:.1f} s")

    baseline, _ = best_of(args.repeat, keys.sort_values)
    print(f"baseline  Series.sort_values()            {baseline:8.3f} s")
    for method, kwargs in (("random", {}), ("stratified", {"dates": dates})):
        took, sel = best_of(args.repeat, functools.partial(sampling.select, keys, args.n, seed=args.seed,
                                                             method=method, **kwargs))
        print(f"select    n={args.n} method={method:<11}      {took:8.3f} s   ratio {took / baseline:5.2f}x   "
              f"first keys {', '.join(sel.keys[:3])}")


if __name__ == "__main__":
    main()
