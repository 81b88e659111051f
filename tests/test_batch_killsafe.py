"""Kill-safe runs: the output folder's lock, a run killed with SIGKILL or stopped by SIGTERM, two runs at once.

The runs here are real ``workbench run`` processes. To kill one *in the middle* reliably, their kernels start
slowly: ``IPYTHONDIR`` points at a profile whose start-up file sleeps (every kernel, warm or new, runs it before
the notebook's first cell), which leaves seconds between one notebook finishing and the next.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import copy_engagement
from workbench.kernel_template import processes_of_run
from workbench.runlock import LOCK_FILENAME, LockHolder, OutputFolderInUse, OutputLock
from workbench.workpaper import read_summary
from workbook_cells import as_json, compare, workbook_cells

WORKBENCH = str(Path(sys.executable).parent / "workbench")
REFERENCE = Path(__file__).resolve().parent / "reference" / "workpapers" / "acme-type2"


# -- the lock -----------------------------------------------------------------------------------------------

def test_a_second_lock_is_refused_naming_the_holder(tmp_path):
    holder = LockHolder.current("run-one", "2026-11-27T01:00:00+00:00")
    with OutputLock(tmp_path).acquire(holder) as first:
        assert first.held and first.stale is None
        with pytest.raises(OutputFolderInUse) as refused:
            OutputLock(tmp_path).acquire(LockHolder.current("run-two"))
        message = str(refused.value)
        assert f"process {os.getpid()}, started 2026-11-27T01:00:00+00:00" in message
        assert "in use by another `workbench run`" in message and "--out" in message
        assert refused.value.holder == holder
    assert (tmp_path / LOCK_FILENAME).read_text() == ""          # released: empty, the file stays
    OutputLock(tmp_path).acquire(LockHolder.current("run-three")).release()


def test_a_dead_holders_lock_is_taken_over_and_named(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    stale = LockHolder(pid=pid, host=socket.gethostname(), started="2026-11-26T23:00:00+00:00",
                       command="workbench run x", run_id="gone")
    (tmp_path / LOCK_FILENAME).write_text(json.dumps(stale.__dict__))
    lock = OutputLock(tmp_path).acquire(LockHolder.current("new"))
    try:
        assert lock.stale == stale and stale.alive() is False
        assert json.loads((tmp_path / LOCK_FILENAME).read_text())["run_id"] == "new"
    finally:
        lock.release()


# -- real runs ----------------------------------------------------------------------------------------------

@pytest.fixture
def slow_kernels(tmp_path) -> dict:
    """An environment whose kernels take ``seconds`` more to start (an IPython start-up file sleeps)."""
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-slow.py").write_text("import time\ntime.sleep(2.5)\n")
    return {**os.environ, "IPYTHONDIR": str(tmp_path / "ipython")}


def start_run(arguments: list[str], env: dict | None = None) -> subprocess.Popen:
    """``workbench run ...`` in a session of its own (so that the test can kill its whole process group)."""
    return subprocess.Popen([WORKBENCH, "run", *arguments, "--no-progress"], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, what: str, timeout: float = 180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def manifest_of(out: Path) -> dict | None:
    try:
        return json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return None


def statuses(manifest: dict) -> dict[str, str]:
    return {record["control_id"]: record["status"] for record in manifest["controls"]}


def with_templates(folder: Path) -> Path:
    """The demo's filled testing templates in a copy of it: its CM-01 workpaper is then the reference's."""
    shutil.copytree(Path(__file__).resolve().parents[1] / "sample_data" / "acme-type2" / "testing", folder / "testing")
    return folder


def cells_equal_reference(out: Path, folder: Path, book: str) -> list[str]:
    expected = json.loads((REFERENCE / f"{book}.json").read_text(encoding="utf-8"))
    actual = json.loads(json.dumps(as_json(workbook_cells(out / f"{book}.xlsx", folder=folder)), default=str))
    return compare(expected, actual)


@pytest.mark.slow
def test_sigkill_in_the_middle_then_a_clean_rerun(demo_run, type2_copy, slow_kernels):
    with_templates(type2_copy)
    out = type2_copy / "output"
    shutil.copytree(demo_run["out"], out)        # an earlier, complete run: its summary must not look current
    old_summary = (out / "summary.xlsx").read_bytes()

    run = start_run([str(type2_copy), "--workers", "1", "--controls", "CM-01,CM-02"], env=slow_kernels)
    killed = wait_for(lambda: (m := manifest_of(out)) and m["state"] == "in_progress"
                      and statuses(m) == {"CM-01": "ran", "CM-02": "pending"} and m, "CM-01 done, CM-02 running")
    assert processes_of_run(killed["run"]["id"])             # its template and CM-02's kernel are running
    os.killpg(run.pid, signal.SIGKILL)                       # the whole process group the test started
    run.wait(timeout=30)

    # the worker processes die with the run (they are in a process group of their own, and watch it)
    wait_for(lambda: not processes_of_run(killed["run"]["id"]), "the killed run's processes to end", timeout=10)
    # what the killed run left: "in progress" everywhere, never the earlier run's summary looking current
    manifest = manifest_of(out)
    assert manifest["state"] == "in_progress" and manifest["finished"] is None
    assert statuses(manifest) == {"CM-01": "ran", "CM-02": "pending"}
    assert (out / "summary.xlsx").read_bytes() != old_summary
    rows = {row["control_id"]: row for row in read_summary(out / "summary.xlsx")}
    # the summary is written at the start and the end; the manifest says, notebook by notebook, what finished
    assert {rows[c]["status"] for c in ("CM-01", "CM-02")} == {"run_in_progress"}
    # the other controls keep the copied run's outcomes, stale: that run tested another engagement folder
    assert {row["status"] for c, row in rows.items() if c not in ("CM-01", "CM-02")} == {"stale"}
    assert rows["CM-02"]["result_text"].startswith("Run in progress (started ")
    assert not (out / "CM-02.xlsx").exists() and not (out / "records" / "CM-02.json").exists()
    cm01 = next(r for r in manifest["controls"] if r["control_id"] == "CM-01")
    assert cm01["outputs_sha256"]["CM-01.xlsx"] == sha256(out / "CM-01.xlsx")
    assert json.loads((out / LOCK_FILENAME).read_text())["pid"] == run.pid   # never released, but free

    # a clean re-run: takes the lock over (and says so), tests what the killed run did not finish
    done = subprocess.run([WORKBENCH, "run", str(type2_copy), "--workers", "2", "--controls", "CM-01,CM-02",
                           "--rerun-failed", "--no-progress"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"took over the lock of an earlier run that ended without releasing it (process {run.pid}" in done.stderr
    assert f"started {killed['started']}, no longer running); its manifest says 'in_progress'" in done.stderr
    manifest = manifest_of(out)
    assert manifest["state"] == "complete" and statuses(manifest) == {"CM-01": "ran", "CM-02": "ran"}
    records = {r["control_id"]: r for r in manifest["controls"]}
    assert records["CM-01"]["reused_from"] == killed["started"] and "reused_from" not in records["CM-02"]
    assert records["CM-02"]["reasons"] == ["pending in the last run"]
    assert manifest["run"]["took_over_lock_of"].startswith(f"process {run.pid} ")
    for book in ("CM-01", "CM-02"):
        assert cells_equal_reference(out, type2_copy, book) == []
    assert (out / LOCK_FILENAME).read_text() == ""


@pytest.mark.slow
def test_two_runs_at_once(type2_copy, slow_kernels, tmp_path):
    with_templates(type2_copy)
    out = tmp_path / "out"
    first = start_run([str(type2_copy), "--out", str(out), "--controls", "CM-01", "--workers", "1"],
                      env=slow_kernels)
    holder = wait_for(lambda: LockHolder.from_text(_text(out / LOCK_FILENAME)), "the first run's lock")
    second = subprocess.run([WORKBENCH, "run", str(type2_copy), "--out", str(out), "--controls", "CM-01",
                             "--no-progress"], capture_output=True, text=True, timeout=120)
    assert second.returncode == 3
    assert f"is in use by another `workbench run` (process {first.pid}, started {holder.started})" in second.stderr
    assert "Traceback" not in second.stderr
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert "without writing its outcome record" not in stdout + stderr       # no false failure
    manifest = manifest_of(out)
    assert manifest["state"] == "complete" and statuses(manifest) == {"CM-01": "ran"}
    assert cells_equal_reference(out, type2_copy, "CM-01") == []


@pytest.mark.slow
def test_sigterm_stops_the_notebooks_and_marks_them_interrupted(tmp_path, slow_kernels):
    folder = copy_engagement(Path(__file__).resolve().parents[1] / "sample_data" / "acme-type2",
                             tmp_path / "acme-type2")
    out = folder / "output"
    run = start_run([str(folder), "--controls", "CM-01,CM-02", "--workers", "2"], env=slow_kernels)
    started = wait_for(lambda: (m := manifest_of(out)) and m["state"] == "in_progress" and m, "the run to start")
    wait_for(lambda: len(processes_of_run(started["run"]["id"])) >= 3, "the template and two kernels")
    run.send_signal(signal.SIGTERM)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 128 + signal.SIGTERM, stderr
    assert "stopped by SIGTERM" in stderr and "--rerun-failed" in stderr
    wait_for(lambda: not processes_of_run(started["run"]["id"]), "the run's processes to end", timeout=10)
    manifest = manifest_of(out)
    assert manifest["state"] == "interrupted" and manifest["finished"]
    assert set(statuses(manifest).values()) == {"interrupted"}
    rows = {row["control_id"]: row for row in read_summary(out / "summary.xlsx")}
    assert rows["CM-01"]["status"] == "interrupted"
    assert rows["CM-01"]["result_text"] == ("Not tested: the run was interrupted before this control's notebook "
                                            "finished.")
    assert (out / LOCK_FILENAME).read_text() == ""                           # released on the way out


def sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
