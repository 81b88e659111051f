"""The sampling package stays pure statistics: it never imports workbench, pandas or openpyxl."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

FORBIDDEN = ("workbench", "pandas", "openpyxl")
PACKAGE = Path(__file__).resolve().parent.parent / "sampling"


def test_importing_sampling_loads_no_forbidden_module() -> None:
    code = (
        "import sys, sampling, sampling.planning, sampling.evaluation\n"
        "import importlib.util\n"
        "if importlib.util.find_spec('sampling.selection'):\n"
        "    import sampling.selection\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=PACKAGE.parent)
    assert done.stdout.strip() == ""


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_source_has_no_forbidden_import(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] in FORBIDDEN]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in FORBIDDEN:
                found.append(node.module)
    assert found == [], f"{path.name} imports {found}"


def _private(dotted: str) -> bool:
    return any(part.startswith("_") for part in dotted.split(".")) and dotted != "__future__"


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_source_imports_no_private_module_or_name(path: Path) -> None:
    """Modules share only public names: no ``from x import _name`` and no ``_module`` (besides ``__future__``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if _private(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if _private(module.lstrip(".")):
                found.append(module)
            found += [f"{module}.{alias.name}" for alias in node.names
                      if alias.name.startswith("_") and module != "__future__"]
    assert found == [], f"{path.name} imports private {found}"
