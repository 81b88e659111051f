"""What every benchmark shares: timing, and one table of lines (what, ours, baseline, ratio, target).

Each ``bench_*.py`` defines ``measure(quick: bool) -> list[Line]`` and prints its own lines when run alone;
``bench/run_all.py`` runs them all and prints one table. Times are medians (or bests, as a line says) of
repeated runs in the *same* process run, so the ratio against the named baseline holds on a noisy machine;
nothing here asserts a time.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
WORKBENCH = str(Path(sys.executable).parent / "workbench")


@dataclass(frozen=True)
class Line:
    """One measured line: the workbench's figure, the baseline's in the same run, their ratio, the target."""

    what: str
    ours: float
    baseline_what: str
    baseline: float
    target: float | None = None       # the ratio the issue asks for at most
    unit: str = "s"

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else float("inf")

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        return "ok" if self.ratio <= self.target else "OVER"


def median_seconds(action: Callable[[], object], repeat: int = 5) -> float:
    """Median wall time of ``action`` over ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def command_seconds(argv: Sequence[str], repeat: int = 7) -> float:
    """Median wall time of a command (a fresh interpreter each time), output discarded."""
    return median_seconds(lambda: subprocess.run(list(argv), capture_output=True, check=False), repeat)


def interleaved(commands: dict[str, Sequence[str]], repeat: int = 7) -> dict[str, float]:
    """Median time of each command, the commands run in turn so that load on the machine hits them alike."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, argv in commands.items():
            start = time.perf_counter()
            subprocess.run(list(argv), capture_output=True, check=False)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def interleaved_calls(actions: dict[str, Callable[[], object]], repeat: int = 5) -> dict[str, float]:
    """Median time of each action (in this process), the actions run in turn so that load hits them alike."""
    times: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(repeat):
        for name, action in actions.items():
            start = time.perf_counter()
            action()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def best_of(action: Callable[[], object], repeat: int = 3) -> float:
    """Shortest wall time of ``action`` over ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


@contextlib.contextmanager
def stderr_to(path: Path) -> Iterator[None]:
    """Send this process's standard error (file descriptor 2, so the kernels papermill starts too) to ``path``:
    new kernels print a warning each on start-up, which would bury the benchmark's own output."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def table(lines: Sequence[Line]) -> str:
    """The lines as a fixed-width table."""
    head = f"{'what':<58} {'workbench':>11} {'baseline':>11} {'ratio':>7} {'target':>7}  baseline"
    out = [head, "-" * len(head)]
    for line in lines:
        target = f"<={line.target:g}" if line.target is not None else ""
        out.append(f"{line.what:<58} {line.ours:>9.3f} {line.unit} {line.baseline:>9.3f} {line.unit} "
                   f"{line.ratio:>6.2f}x {target:>7}  {line.baseline_what} {line.verdict}")
    return "\n".join(out)
