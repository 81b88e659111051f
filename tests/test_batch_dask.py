"""``workbench run --executor dask``: the same batch on a real Dask cluster (a scheduler and two worker processes
on loopback) gives the outcomes of the local executor, cell for cell."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from workbench import cli
from workbench.workpaper import read_summary
from workbook_cells import compare, workbook_cells

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    started = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=":0")
    yield started
    started.close()


def cells(path: Path, folder: Path) -> dict:
    return json.loads(json.dumps(workbook_cells(path, folder=folder), default=str))


def without_paths(record: dict) -> dict:
    return {key: value for key, value in record.items() if key != "workpaper"}


def test_dask_gives_the_outcomes_of_the_local_executor(demo_run, cluster, tmp_path):
    # the demo run's folder with its results store (pins and the results its templates imported): the same inputs
    folder = tmp_path / "acme-type2"
    shutil.copytree(demo_run["folder"], folder, ignore=shutil.ignore_patterns("output"))
    code = cli.main(["run", str(folder), "--executor", "dask", "--scheduler", cluster.scheduler_address,
                     "--no-progress"])
    assert code == 0
    out = folder / "output"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["run"]["executor"] == "dask" and manifest["run"]["scheduler"] == cluster.scheduler_address
    assert manifest["run"]["hosts"] == ["127.0.0.1"]
    local = {record["control_id"]: record for record in demo_run["manifest"]["controls"]}
    for record in manifest["controls"]:
        assert record["status"] == local[record["control_id"]]["status"]
        assert record["result_text"] == local[record["control_id"]]["result_text"]
    for control_id in ("CM-01", "CM-02"):
        ours = json.loads((out / "records" / f"{control_id}.json").read_text())
        theirs = json.loads((demo_run["out"] / "records" / f"{control_id}.json").read_text())
        assert without_paths(ours) == without_paths(theirs)          # inputs fingerprint, seed, keys, numbers
        assert compare(cells(demo_run["out"] / f"{control_id}.xlsx", demo_run["folder"]),
                       cells(out / f"{control_id}.xlsx", folder)) == []
    assert read_summary(out / "summary.xlsx") == list(demo_run["rows"].values())


def test_dask_without_a_scheduler_starts_a_local_cluster(type2_copy, capsys):
    code = cli.main(["run", str(type2_copy), "--executor", "dask", "--workers", "1", "--controls", "CM-01",
                     "--no-progress"])
    assert code == 0, capsys.readouterr().err
    manifest = json.loads((type2_copy / "output" / "manifest.json").read_text())
    assert manifest["run"]["scheduler"] == "local cluster" and manifest["run"]["workers"] == 1
    assert manifest["controls"][0]["status"] == "ran" and manifest["controls"][0]["result_status"] == "testing_in_progress"


def test_a_scheduler_without_the_dask_executor_is_a_usage_error(type2_copy, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", str(type2_copy), "--scheduler", "tcp://127.0.0.1:1"])
    assert exit_.value.code == 2 and "--scheduler goes with --executor dask" in capsys.readouterr().err


def test_a_cancelled_task_stops_its_kernel(cluster, tmp_path):
    """The run that submitted a notebook is gone (stopped, killed): the scheduler cancels its tasks, and the
    worker's watch stops the kernel instead of letting it write on into the output folder."""
    import hashlib
    import os
    import time

    import nbformat
    from distributed import Client

    from workbench.executors import NotebookJob, execute_notebook_job

    pid_file = tmp_path / "kernel.pid"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(120)")]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    text = nbformat.writes(notebook)
    path = tmp_path / "sleepy.ipynb"
    path.write_text(text)
    job = NotebookJob(key="sleepy/X-1", control_id="X-1", notebook=str(path),
                      notebook_sha256=hashlib.sha256(text.encode()).hexdigest(), notebook_text=text, parameters={},
                      output_notebook=str(tmp_path / "out.ipynb"), log=str(tmp_path / "out.log"), cwd=str(tmp_path),
                      fallback_cwd=str(tmp_path))
    with Client(cluster.scheduler_address) as client:
        future = client.submit(execute_notebook_job, job, pure=False)
        deadline = time.monotonic() + 120
        while not (pid_file.is_file() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        kernel = int(pid_file.read_text())
        os.kill(kernel, 0)                                   # running
        future.cancel()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(kernel, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"kernel {kernel} still running 20 s after its task was cancelled")
