"""The packages are typed: both ship ``py.typed``, and mypy passes with the project's configuration.

``[tool.mypy]`` in pyproject.toml: ``sampling/`` strict; ``workbench/`` with a type on every function
(``disallow_untyped_defs``). tests/test_architecture.py keeps ``Any`` out of the stage boundaries.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("package", ["sampling", "workbench"])
def test_package_ships_py_typed(package: str) -> None:
    assert (ROOT / package / "py.typed").is_file()


@pytest.mark.slow
def test_mypy_passes() -> None:
    done = subprocess.run([sys.executable, "-m", "mypy"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found" in done.stdout
