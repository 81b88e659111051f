"""The sampling package is typed: it ships ``py.typed`` and passes ``mypy --strict``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sampling"


def test_package_ships_py_typed() -> None:
    assert (PACKAGE / "py.typed").is_file()


@pytest.mark.slow
def test_sampling_passes_mypy_strict() -> None:
    pytest.importorskip("mypy", reason="mypy is in the dev dependency group")
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", "sampling"], capture_output=True, text=True,
                          cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
