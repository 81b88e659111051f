"""Notebooks are committed thin: no outputs, one parameters cell, no logic of their own."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import papermill
import pytest

from workbench.batch import NOTEBOOK_PARAMETERS, notebook_for

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert [path.name for path in NOTEBOOKS] == ["control.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_no_stored_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {index} of {path.name} has stored outputs"
            assert cell.execution_count is None, f"cell {index} of {path.name} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_exactly_one_parameters_cell_first_code_cell(path):
    notebook = nbformat.read(path, as_version=4)
    tagged = [index for index, cell in enumerate(notebook.cells)
              if "parameters" in cell.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    code_cells = [index for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    assert tagged[0] == code_cells[0]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_parameters_are_the_batch_runners(path):
    declared = papermill.inspect_notebook(str(path))
    assert set(declared) == set(NOTEBOOK_PARAMETERS)
    for name, parameter in declared.items():
        assert parameter["help"], f"parameter {name} of {path.name} has no comment"
        assert parameter["inferred_type_name"] != "None", f"parameter {name} of {path.name} has no type"


def code_cell_trees(path: Path):
    """(index, syntax tree) of every code cell of the notebook at ``path``."""
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            yield index, ast.parse(cell.source)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_no_function_or_class_definitions(path):
    for index, tree in code_cell_trees(path):
        definitions = [node for node in ast.walk(tree)
                       if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))]
        assert not definitions, f"cell {index} of {path.name} defines {type(definitions[0]).__name__}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_code_cells_stay_thin(path):
    for index, tree in code_cell_trees(path):
        loops = [node for node in ast.walk(tree) if isinstance(node, (ast.For, ast.While, ast.If, ast.Try))]
        assert not loops, f"cell {index} of {path.name} has control flow; move it into the package"


def test_notebook_found_from_checkout():
    assert notebook_for("change_management") == NOTEBOOKS[0]
    assert notebook_for("no_such_procedure") is None
