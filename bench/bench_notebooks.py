"""Per notebook: a control notebook against an empty notebook, both through papermill's Python API.

Issue 13: a control notebook may cost at most 2.5x an empty notebook (aim 1.5x). The control notebook is
``notebooks/control.ipynb`` on control CM-01 of a copy of the demo engagement (1,500 changes,
22 sampled, a workpaper written), executed by ``papermill.execute_notebook(..., engine_name="workbench")``:
its kernel is forked from a kernel template that has imported the workbench (what ``workbench run`` does).
The baseline is an empty notebook (one cell, ``x = 1``) through ``papermill.execute_notebook`` with papermill's
own engine: a new kernel process, as papermill starts it. Beside them, in the same run: the control notebook
through papermill's own engine (a new kernel, as ``workbench run`` ran notebooks before issue 13) and the
empty notebook through the workbench engine.

Each notebook is run once first (the populations' first use pins them; the template imports), then the four
are timed in turn, median of the runs. The template is started once, as in a batch, and not timed.

Run: ``.venv/bin/python bench/bench_notebooks.py [--quick]``
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import nbformat
import papermill

from harness import ROOT, Line, interleaved_calls, stderr_to, table

NOTEBOOK = ROOT / "notebooks" / "control.ipynb"


def copy_demo(target: Path) -> Path:
    """A copy of the demo Type 2 engagement without outputs or results store."""
    shutil.copytree(ROOT / "sample_data" / "acme-type2", target,
                    ignore=shutil.ignore_patterns("output", "results.sqlite*"))
    return target


def empty_notebook(path: Path) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("x = 1")]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)
    return path


def measure(quick: bool = False) -> list[Line]:
    from workbench.kernel_template import KernelTemplate, use_template
    from workbench.kernels import ENGINE_NAME

    repeat = 2 if quick else 7
    with tempfile.TemporaryDirectory() as tmp:
        folder = copy_demo(Path(tmp) / "acme-type2")
        empty = empty_notebook(Path(tmp) / "empty.ipynb")
        out = Path(tmp) / "out"
        log = open(Path(tmp) / "kernels.log", "wb")  # noqa: SIM115 - closed below
        parameters = {"engagement_dir": str(folder), "control_id": "CM-01", "output_dir": str(out)}
        warm = {"engine_name": ENGINE_NAME, "kernel_output": log,
                "resources": {"metadata": {"path": str(NOTEBOOK.parent)}}}

        def run(notebook: Path, engine: dict, **options: object) -> None:
            papermill.execute_notebook(str(notebook), str(Path(tmp) / "executed.ipynb"), kernel_name="python3",
                                       progress_bar=False, **engine, **options)

        template = KernelTemplate()
        previous = use_template(template)
        try:
            template.wait_ready()
            actions = {
                "empty": lambda: run(empty, {}),
                "empty_warm": lambda: run(empty, warm),
                "control_new": lambda: run(NOTEBOOK, {}, parameters=parameters, cwd=str(NOTEBOOK.parent)),
                "control_warm": lambda: run(NOTEBOOK, warm, parameters=parameters),
            }
            with stderr_to(Path(tmp) / "stderr.log"):
                for action in actions.values():
                    action()                                         # first use: pins, caches, the template
                times = interleaved_calls(actions, repeat=repeat)
        finally:
            use_template(previous)
            template.close()
            log.close()
    baseline = "empty notebook, papermill's engine (new kernel)"
    return [
        Line("control notebook, workbench engine (warm kernel)", times["control_warm"], baseline, times["empty"], 2.5),
        Line("control notebook, papermill's engine (new kernel)", times["control_new"], baseline, times["empty"]),
        Line("empty notebook, workbench engine (warm kernel)", times["empty_warm"], baseline, times["empty"]),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    print(table(measure(parser.parse_args().quick)))
