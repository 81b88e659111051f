"""The distribution: one wheel, two import packages, the notebooks inside, the console script."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UV = ROOT / ".tools" / "bin" / "uv"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    if not UV.exists():
        pytest.skip("uv is installed by ./dev into .tools/; run the tests through ./dev test")
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([str(UV), "build", "--wheel", "--out-dir", str(out), str(ROOT)],
                   check=True, capture_output=True)
    (path,) = out.glob("*.whl")
    return path


def test_wheel_holds_both_packages_and_the_notebooks(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "sampling/__init__.py" in names
    assert "workbench/cli.py" in names
    assert "workbench/_notebooks/control.ipynb" in names
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "workbench = workbench.cli:main" in text


def test_installed_wheel_finds_its_notebooks(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from workbench.batch import notebook_for; "
            "print(notebook_for('change_management'))")
    found = subprocess.run([sys.executable, "-c", code, str(site)], check=True, capture_output=True, text=True)
    assert Path(found.stdout.strip()) == site / "workbench" / "_notebooks" / "control.ipynb"


def test_console_script_is_installed():
    script = shutil.which("workbench", path=str(Path(sys.executable).parent))
    assert script is not None
    version = subprocess.run([script, "--version"], check=True, capture_output=True, text=True)
    assert version.stdout.startswith("workbench 0.1.0")
