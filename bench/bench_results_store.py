"""The results store (issue 10): recording N results one transaction each, and opening (= verifying) the store.

    .venv/bin/python bench/bench_results_store.py [--records 100000] [--repeat 5] [--folder DIR]

Prints timings; asserts nothing. The store is written in a temporary engagement folder (or ``--folder``, to
measure another disk: a network share, say). Baseline for the writes: the same number of bare SQLite
``BEGIN IMMEDIATE; INSERT; COMMIT`` transactions with the same pragmas (WAL, synchronous=FULL) on the same
disk, so the ratio shows what validation, hashing and verifying the appends of others cost on top of the
fsync every committed transaction needs.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from workbench.results import ResultsStore

TOML = """\
[engagement]
client = "Bench, Inc."
report_type = "type2"
period_start = 2025-07-01
period_end = 2026-06-30
timezone = "UTC"
criteria = ["security"]
engagement_id = "BENCH"
"""


def bare_sqlite(folder: Path, count: int) -> float:
    path = folder / "bare.sqlite"
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY, value TEXT)")
    started = time.perf_counter()
    for i in range(count):
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO t (value) VALUES (?)", (f"CHG-{i} pass EV-{i}",))
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.folder) as temporary:
        folder = Path(temporary)
        (folder / "engagement.toml").write_text(TOML, encoding="utf-8")
        baseline = bare_sqlite(folder, args.records)
        started, cpu = time.perf_counter(), time.process_time()
        with ResultsStore.open(folder) as store:
            for i in range(args.records):
                store.record("CM-02", f"CHG-{i}", "testing_evidenced", "pass", tested_by="DR",
                             evidence_ref=f"EV-{i}")
        written, written_cpu = time.perf_counter() - started, time.process_time() - cpu
        size = os.path.getsize(folder / "results.sqlite")
        opens, open_cpus, verifies, reads = [], [], [], []
        for _ in range(args.repeat):
            started, cpu = time.perf_counter(), time.process_time()
            store = ResultsStore.open(folder)
            opens.append(time.perf_counter() - started)
            open_cpus.append(time.process_time() - cpu)
            started = time.perf_counter()
            status = store.verify()
            verifies.append(time.perf_counter() - started)
            started = time.perf_counter()
            rows = len(store.results_for("CM-02"))
            reads.append(time.perf_counter() - started)
            store.close()
        n = args.records
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"record() x {n:,}, one transaction each   {written:8.1f} s  ({written / n * 1e3:.2f} ms per record; "
              f"CPU {written_cpu:.1f} s)")
        print(f"bare SQLite x {n:,} (same pragmas)       {baseline:8.1f} s  ({baseline / n * 1e3:.2f} ms per "
              f"transaction; ratio {written / baseline:.2f}x)")
        print(f"open (verifies the whole chain)          {statistics.median(opens):8.3f} s  (median of {args.repeat}; "
              f"CPU {statistics.median(open_cpus):.3f} s; {status.entries:,} entries, {size / 1e6:.1f} MB)")
        print(f"verify() again                           {statistics.median(verifies):8.3f} s")
        print(f"results_for(control) -> {rows:,} rows      {statistics.median(reads):8.3f} s")


if __name__ == "__main__":
    main()
