"""Warm kernels (a kernel template forks each notebook's kernel): the same notebook as a new kernel gives,
nothing leaking from one notebook to the next, kernel start-up races retried.

"A new kernel" is papermill's own way: ``papermill.execute_notebook`` with its default engine, which starts a
new ``python -m ipykernel_launcher`` process.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import nbformat
import papermill
import pytest

from conftest import ROOT
from workbench.kernel_template import KernelTemplate, use_template
from workbench.kernels import ENGINE_NAME, KernelObserver, WarmProvisioner
from workbook_cells import compare, workbook_cells

pytestmark = pytest.mark.slow

NOTEBOOK = ROOT / "notebooks" / "control.ipynb"


@pytest.fixture(scope="module")
def template():
    """One kernel template for this module's warm kernels."""
    started = KernelTemplate()
    previous = use_template(started)
    started.wait_ready()
    yield started
    use_template(previous)
    started.close()


def warm(notebook, output, **options):
    return papermill.execute_notebook(str(notebook), str(output), kernel_name="python3", progress_bar=False,
                                      engine_name=ENGINE_NAME, **options)


def new(notebook, output, **options):
    return papermill.execute_notebook(str(notebook), str(output), kernel_name="python3", progress_bar=False,
                                      **options)


def merged_streams(outputs: list) -> list:
    """Consecutive stream outputs of one name joined, as a front end shows them: how a kernel's writes are cut
    into messages depends on timing (``print`` writes the text and the newline separately), not on the notebook."""
    merged: list = []
    for output in outputs:
        if (output.get("output_type") == "stream" and merged and merged[-1].get("output_type") == "stream"
                and merged[-1]["name"] == output["name"]):
            merged[-1] = {**merged[-1], "text": merged[-1]["text"] + output["text"]}
        else:
            merged.append(dict(output))
    return merged


def outputs_of(notebook, replace: dict[str, str]) -> list:
    """Every code cell's execution count and outputs (paths of the run replaced), as JSON text."""
    text = json.dumps([[cell.get("execution_count"), merged_streams(cell.get("outputs"))] for cell in notebook.cells
                       if cell.cell_type == "code"], sort_keys=True)
    for old, new_text in replace.items():
        text = text.replace(old, new_text)
    return json.loads(text)


def test_a_warm_kernel_gives_the_notebook_a_new_kernel_gives(demo_run, template, tmp_path):
    folder = tmp_path / "acme-type2"
    shutil.copytree(demo_run["folder"], folder, ignore=shutil.ignore_patterns("output"))   # pins included
    results = {}
    for name, execute, where in (("new", new, {"cwd": str(NOTEBOOK.parent)}),
                                 ("warm", warm, {"resources": {"metadata": {"path": str(NOTEBOOK.parent)}}})):
        out = tmp_path / name
        parameters = {"engagement_dir": str(folder), "control_id": "CM-01", "output_dir": str(out)}
        executed = execute(NOTEBOOK, tmp_path / f"{name}.ipynb", parameters=parameters, **where)
        results[name] = {"out": out, "cells": outputs_of(executed, {os.path.relpath(out, NOTEBOOK.parent): "<out>",
                                                                 str(out): "<out>"}),
                         "record": json.loads((out / "records" / "CM-01.json").read_text())}
    assert results["warm"]["cells"] == results["new"]["cells"]          # every output, the chart's PNG included
    assert any("image/png" in output.get("data", {}) for _, outputs in results["warm"]["cells"] for output in outputs)
    for name in ("new", "warm"):
        results[name]["record"].pop("workpaper")
    assert results["warm"]["record"] == results["new"]["record"]
    assert compare(*[json.loads(json.dumps(workbook_cells(results[name]["out"] / "CM-01.xlsx"), default=str))
                     for name in ("new", "warm")]) == []


LEAK = """\
import os, sys, warnings, json
import numpy as np, pandas as pd
import workbench.files
LEAKED_GLOBAL = 1
pd.set_option("display.max_rows", 3)
workbench.files.LEAKED = True
os.environ["WORKBENCH_LEAK"] = "1"
os.chdir("/")
sys.path.append("/leaked")
warnings.simplefilter("error")
np.random.seed(1)
print(os.getpid())
"""

PROBE = """\
import os, sys, warnings, json
import numpy as np, pandas as pd
import workbench.files
print(json.dumps({
    "global": "LEAKED_GLOBAL" in globals(), "module": hasattr(workbench.files, "LEAKED"),
    "environment": "WORKBENCH_LEAK" in os.environ, "cwd": os.getcwd(), "path": "/leaked" in sys.path,
    "warnings_error": any(f[0] == "error" for f in warnings.filters),
    "max_rows": pd.get_option("display.max_rows"), "max_columns": pd.get_option("display.max_columns"),
    "numpy_seeded_like_the_last": float(np.random.random()) == float(np.random.RandomState(1).random()),
    "mpl_backend": os.environ.get("MPLBACKEND"), "parent_watched": bool(os.environ.get("JPY_PARENT_PID")),
    "argv0": os.path.basename(sys.argv[0]), "main": type(sys.modules["__main__"]).__name__,
}))
print(os.getpid(), "pandas" in sys.modules and "scipy.stats" in sys.modules)
"""


def notebook_of(tmp_path: Path, name: str, source: str) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("import sys\nimported_at_start = 'scipy.stats' in sys.modules"),
                      nbformat.v4.new_code_cell(source)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path


def test_nothing_a_notebook_does_is_seen_by_the_next(template, tmp_path):
    leak, probe = notebook_of(tmp_path, "leak", LEAK), notebook_of(tmp_path, "probe", PROBE)
    where = str(tmp_path)
    leaked = warm(leak, tmp_path / "leak-out.ipynb", resources={"metadata": {"path": where}})
    after = warm(probe, tmp_path / "probe-out.ipynb", resources={"metadata": {"path": where}})
    fresh = new(probe, tmp_path / "probe-new.ipynb", cwd=where)
    state, (pid, warm_start) = _probe(after)
    state_new, (pid_new, warm_new) = _probe(fresh)
    assert state == state_new                                   # as a new kernel: nothing of `leak` is seen
    assert state["cwd"] == where and state["max_columns"] == 20 and not state["numpy_seeded_like_the_last"]
    leak_pid = int(leaked.cells[1].outputs[0]["text"])
    assert len({leak_pid, pid, pid_new}) == 3                   # a process of its own each time
    assert warm_start == "True" and warm_new == "False"         # ... that started with the stages imported


def _probe(executed) -> tuple[dict, list[str]]:
    lines = executed.cells[1].outputs[0]["text"].splitlines()
    return json.loads(lines[0]), lines[1].split()


def test_a_kernel_start_up_race_is_retried(template, tmp_path, monkeypatch):
    """The shell port jupyter_client chose is taken before the kernel binds it: that kernel dies, another starts."""
    original = WarmProvisioner.launch_kernel
    taken: list[socket.socket] = []

    async def launch_with_the_port_taken(self, cmd, **kwargs):
        if not taken:
            blocker = socket.socket()
            blocker.bind((self.connection_info["ip"], self.connection_info["shell_port"]))
            blocker.listen()
            taken.append(blocker)
        return await original(self, cmd, **kwargs)

    monkeypatch.setattr(WarmProvisioner, "launch_kernel", launch_with_the_port_taken)
    observer = KernelObserver()
    log = tmp_path / "kernel.log"
    with open(log, "wb") as stream:
        executed = warm(notebook_of(tmp_path, "tiny", "print(6 * 7)"), tmp_path / "tiny-out.ipynb",
                        resources={"metadata": {"path": str(tmp_path)}}, observer=observer, kernel_output=stream)
    taken[0].close()
    assert executed.cells[1].outputs[0]["text"] == "42\n"
    assert observer.kernel_starts == 2
    text = log.read_text()
    assert "Address already in use" in text and "[workbench] kernel start-up 1 failed" in text


def test_the_template_imports_what_the_notebook_and_every_procedure_import():
    # a module left out is imported again by every notebook (the cost the template exists to save)
    import ast

    from workbench.kernel_template import WARM_MODULES
    from workbench.procedures import KNOWN_PROCEDURES

    notebook = nbformat.read(ROOT / "notebooks" / "control.ipynb", as_version=4)
    imported = {node.module for cell in notebook.cells if cell.cell_type == "code"
                for node in ast.walk(ast.parse("\n".join(line for line in cell.source.splitlines()
                                                          if not line.lstrip().startswith(("%", "!")))))
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("workbench")}
    assert imported and imported <= set(WARM_MODULES)
    assert {f"workbench.procedures.{name}" for name in KNOWN_PROCEDURES} <= set(WARM_MODULES)
