"""The seams between modules: no import cycle, no private name used across modules, sampling stays pure.

Every ``import`` of ``workbench/`` and ``sampling/`` is read from the source (module level, inside
functions, under ``if TYPE_CHECKING``), so an import hidden in a function cannot close a circle either.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("workbench", "sampling")


def module_files() -> dict[str, Path]:
    """Module name -> file, for every module of the two packages."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


MODULES = module_files()


def imports_of(module: str, path: Path) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import statement in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, None, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                parent = package.split(".")
                parent = parent[: len(parent) - (node.level - 1)]
                base = ".".join(parent + ([base] if base else []))
            found.extend((base, alias.name, node.lineno) for alias in node.names)
    return found


def internal_edges() -> dict[str, set[str]]:
    """Module -> the modules of the two packages it imports (``from a import b`` names module a.b if it is one)."""
    edges: dict[str, set[str]] = {name: set() for name in MODULES}
    for module, path in MODULES.items():
        for base, name, _ in imports_of(module, path):
            if base.split(".")[0] not in PACKAGES:
                continue
            target = f"{base}.{name}" if name is not None and f"{base}.{name}" in MODULES else base
            if target in MODULES and target != module:
                edges[module].add(target)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first repeated at the end), or None."""
    state: dict[str, int] = {}      # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_the_packages_are_found():
    assert {"workbench.engagement", "workbench.control_test", "sampling.selection"} <= set(MODULES)


def test_no_import_cycle():
    cycle = find_cycle(internal_edges())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_cycle_finder_sees_a_cycle_through_a_function_level_import():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(edges) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_function_level_imports_are_read(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from workbench.scope import scope_population\n    import sampling.selection\n")
    assert imports_of("workbench.m", path) == [("workbench.scope", "scope_population", 2),
                                               ("sampling.selection", None, 3)]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_name_imported_across_modules(module):
    """A name used from another module is public (and documented); private modules are not imported."""
    bad = []
    for base, name, line in imports_of(module, MODULES[module]):
        if base.split(".")[0] not in PACKAGES and base != "":
            continue
        private_module = any(part.startswith("_") for part in base.split("."))
        private_name = name is not None and name.startswith("_") and not name.startswith("__")
        if private_module or private_name:
            bad.append(f"line {line}: from {base} import {name}" if name else f"line {line}: import {base}")
    assert not bad, f"{module} imports private names: " + "; ".join(bad)


def test_sampling_never_imports_the_workbench_or_pandas():
    for module, path in MODULES.items():
        if not module.startswith("sampling"):
            continue
        for base, _, line in imports_of(module, path):
            top = base.split(".")[0]
            assert top not in ("workbench", "pandas", "openpyxl"), f"{module} line {line} imports {base}"


#: The modules whose public functions and classes are the stages' boundaries.
STAGE_MODULES = (
    "workbench.engagement", "workbench.engagement.model", "workbench.population", "workbench.receipt",
    "workbench.results",
    "workbench.validation", "workbench.scope", "workbench.sample", "workbench.testing", "workbench.evaluation",
    "workbench.control_test", "workbench.outcome", "workbench.workpaper.sheets", "workbench.procedures.base",
)


def public_annotations(module: str) -> list[tuple[str, str]]:
    """(where, annotation text) of every parameter, return value and dataclass field of the module's ``__all__``."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    exported: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            exported = {elt.value for elt in node.value.elts if isinstance(elt, ast.Constant)}
    found: list[tuple[str, str]] = []

    def function(node: ast.FunctionDef, where: str) -> None:
        args = node.args
        for arg in args.posonlyargs + args.args + args.kwonlyargs + [a for a in (args.vararg, args.kwarg) if a]:
            if arg.annotation is not None:
                found.append((f"{where}({arg.arg})", ast.unparse(arg.annotation)))
        if node.returns is not None:
            found.append((f"{where} ->", ast.unparse(node.returns)))

    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in exported:
            function(node, node.name)
        elif isinstance(node, ast.ClassDef) and node.name in exported:
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    found.append((f"{node.name}.{item.target.id}", ast.unparse(item.annotation)))
                elif isinstance(item, ast.FunctionDef) and (not item.name.startswith("_") or item.name == "__init__"):
                    function(item, f"{node.name}.{item.name}")
    return found


@pytest.mark.parametrize("module", STAGE_MODULES)
def test_no_any_at_stage_boundaries(module):
    """Stage objects are typed: no ``Any`` in a public signature or field of a stage module."""
    loose = [f"{where}: {text}" for where, text in public_annotations(module) if re.search(r"\bAny\b", text)]
    assert not loose, f"{module}: " + "; ".join(loose)
