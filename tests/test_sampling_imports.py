"""The sampling package stays pure statistics: it never imports workbench, pandas or openpyxl.

Its top level is lazy: ``import sampling``, the errors and the input helpers load no numpy, scipy
or pyarrow; selection never loads scipy.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

FORBIDDEN = ("workbench", "pandas", "openpyxl")
HEAVY = ("numpy", "scipy", "pyarrow")
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


def _fresh(code: str) -> str:
    """Run ``code`` in a new interpreter (nothing imported yet) and return what it prints."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=PACKAGE.parent)
    return done.stdout.strip()


def _loaded(roots: tuple[str, ...]) -> str:
    return f"print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & {set(roots)!r})))"


def test_top_level_errors_and_inputs_load_no_numpy_scipy_or_pyarrow() -> None:
    code = ("import sys\n"
            "import sampling\n"
            "from sampling import SamplingError, format_percent, to_probability, to_decimal, ModelError\n"
            "from sampling.errors import SamplingError as Same, SizeError\n"
            "from sampling.inputs import check_model, to_confidence\n"
            "assert Same is SamplingError and issubclass(SizeError, SamplingError)\n"
            "assert format_percent(to_probability('0.035', 'rate')) == '3.5 %'\n"
            "dir(sampling)\n"
            + _loaded(HEAVY))
    assert _fresh(code) == ""


def test_selection_loads_no_scipy() -> None:
    code = ("import sys\n"
            "import sampling.selection\n"
            "import sampling\n"
            "sampling.select(['a', 'b', 'c'], 2, seed=1)\n"
            "assert sampling.SELECTION_METHODS is sampling.selection.METHODS\n"
            + _loaded(("scipy",)))
    assert _fresh(code) == ""


def test_planning_and_evaluation_load_scipy_only_to_compute() -> None:
    code = ("import sys\n"
            "import sampling.planning, sampling.evaluation\n"
            "sampling.planning.plan_type1()\n"
            + _loaded(("scipy", "pyarrow")))
    assert _fresh(code) == ""


def test_lazy_names_work_in_a_fresh_interpreter() -> None:
    code = ("import sampling\n"
            "p = sampling.plan(0.9, 0.1)\n"
            "e = sampling.evaluate(22, 0, 0.9, tolerable_rate=0.1)\n"
            "s = sampling.select(['a', 'b', 'c'], 2, seed=1)\n"
            "assert isinstance(p, sampling.Plan) and isinstance(e, sampling.Evaluation)\n"
            "assert isinstance(s, sampling.Selection) and sampling.planning.MODELS is sampling.MODELS\n"
            "print(p.sample_size, e.supports_reliance, sampling.plan_type1().sample_size)\n")
    assert _fresh(code) == "22 True 1"


def test_every_public_name_resolves_and_is_declared_for_type_checkers() -> None:
    import sampling

    for name in sampling.__all__:
        assert getattr(sampling, name) is not None, name
    assert set(dir(sampling)) >= set(sampling.__all__)
    assert sampling.SELECTION_METHODS is sampling.selection.METHODS
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        sampling.nope  # noqa: B018
    # the TYPE_CHECKING block declares exactly the public names (plus the submodules)
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    block = next(node for node in tree.body
                 if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING")
    declared = {alias.asname or alias.name for node in block.body if isinstance(node, ast.ImportFrom)
                for alias in node.names}
    assert declared == set(sampling.__all__) | {"errors", "inputs", "planning", "selection", "evaluation"}
