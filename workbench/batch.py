"""``workbench run``: execute every control's notebook with papermill, in parallel, per engagement.

For each control in the engagement's matrix the runner decides what happens:

* its procedure has a notebook: the notebook is executed by papermill (Python API, one worker
  process per notebook at a time) with the parameters ``engagement_dir``, ``control_id``,
  ``seed`` and ``output_dir``, validated against the notebook's parameters cell first;
* it has no procedure, or one the control library does not implement yet: "Not yet tested." —
  never a made-up "No exceptions noted.".

A failing notebook does not stop the others: its failure is reported with the control id, the
cell and the error. The run leaves behind::

    OUT/<control_id>.xlsx             workpaper (written by the notebook)
    OUT/notebooks/<control_id>.ipynb  executed notebook, with outputs
    OUT/notebooks/<control_id>.log    what the kernel printed on standard error
    OUT/records/<control_id>.json     outcome record (written by the notebook)
    OUT/summary.xlsx                  one row per control, Section 4 wording
    OUT/manifest.json                 parameters, input SHA-256s, versions, timings, outcomes
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import multiprocessing
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

from workbench.errors import ParameterError
from workbench.files import real_path_outside, sha256_file, write_json_atomic
from workbench.outcome import load_outcome, outcome_path

__all__ = ["ControlRun", "BatchRun", "run_engagement", "notebook_for", "check_parameters", "NOTEBOOK_PARAMETERS"]

#: The parameters every procedure notebook declares, with the types ``workbench run`` accepts.
NOTEBOOK_PARAMETERS: dict[str, tuple[type, ...]] = {
    "engagement_dir": (str,),
    "control_id": (str,),
    "output_dir": (str,),
}

#: Packages whose versions the manifest records (what produced the numbers).
_RECORDED_PACKAGES = ("control-testing-workbench", "numpy", "scipy", "pandas", "pyarrow", "openpyxl",
                      "matplotlib", "papermill", "nbclient", "ipykernel")


@dataclass(frozen=True)
class ControlRun:
    """What happened to one control in a batch run."""

    control_id: str
    status: str                     # ran | failed | not_yet_tested
    procedure: str | None
    parameters: dict[str, Any] = field(default_factory=dict)
    notebook: str | None = None     # executed notebook, relative to the output folder
    started: str | None = None
    finished: str | None = None
    seconds: float | None = None
    error: str | None = None        # "cell [5] `population = ...`: PopulationError: ..."
    outcome: dict[str, Any] | None = None

    def to_record(self) -> dict[str, Any]:
        return {
            "control_id": self.control_id, "status": self.status, "procedure": self.procedure,
            "parameters": self.parameters, "notebook": self.notebook, "started": self.started,
            "finished": self.finished, "seconds": self.seconds, "error": self.error,
            "result_status": None if self.outcome is None else self.outcome.get("status"),
            "result_text": None if self.outcome is None else self.outcome.get("result_text"),
            "workpaper": None if self.outcome is None else self.outcome.get("workpaper"),
        }


@dataclass(frozen=True)
class BatchRun:
    """The result of ``workbench run``: one :class:`ControlRun` per control, and the files left."""

    engagement_dir: Path
    output_dir: Path
    controls: tuple[ControlRun, ...]
    started: str
    finished: str
    summary_path: Path
    manifest_path: Path

    @property
    def failures(self) -> tuple[ControlRun, ...]:
        return tuple(run for run in self.controls if run.status == "failed")

    @property
    def ok(self) -> bool:
        """True when every notebook ran (exceptions found are results, not failures)."""
        return not self.failures

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for run in self.controls:
            counts[run.status] = counts.get(run.status, 0) + 1
        tally = ", ".join(f"{count} {status.replace('_', ' ')}" for status, count in sorted(counts.items()))
        lines = [f"Batch run of {self.engagement_dir}: {len(self.controls)} controls ({tally})."]
        for run in self.controls:
            text = run.error if run.status == "failed" else (
                run.outcome.get("result_text") if run.outcome else "Not yet tested.")
            lines.append(f"  {run.control_id:<10} {run.status:<15} {text}")
        lines += [f"Workpapers: {self.output_dir}", f"Summary:    {self.summary_path}",
                  f"Manifest:   {self.manifest_path}"]
        return "\n".join(lines)


#: The notebook every control is tested with: its stages are the same for every procedure (what differs,
#: the attributes, lives in the procedure), so one notebook serves the whole control library.
CONTROL_NOTEBOOK = "control.ipynb"


def notebook_for(procedure: str, *, implemented: bool | None = None) -> Path | None:
    """The notebook a control tested with ``procedure`` runs, from the checkout (``notebooks/``) or an installed
    wheel: ``notebooks/<procedure>.ipynb`` when a procedure has a notebook of its own, else the shared
    ``notebooks/control.ipynb``; None for a procedure the library does not implement (``implemented``: whether it
    is, for a firm procedure the catalogue does not know; default the catalogue's answer).

    A wheel carries the notebooks inside the package as ``workbench/_notebooks`` (see
    ``pyproject.toml``); a checkout or editable install keeps them at the top level.
    """
    from workbench.procedures import is_implemented

    testable = is_implemented(procedure) if implemented is None else implemented
    package = Path(__file__).resolve().parent
    for name in (f"{procedure}.ipynb", CONTROL_NOTEBOOK):
        for folder in (package / "_notebooks", package.parent / "notebooks"):
            candidate = folder / name
            if candidate.is_file() and (name != CONTROL_NOTEBOOK or testable):
                return candidate
    return None


def check_parameters(notebook: Path, parameters: dict[str, Any]) -> None:
    """Refuse parameters the notebook does not declare, or of the wrong type.

    papermill only warns about unknown parameters and never checks types; a typo would silently
    run the notebook on its defaults (the demo engagement), so this is an error here.

    Raises
    ------
    ParameterError
        Naming the notebook, the parameter, what it got and what it accepts.
    """
    import papermill

    declared = papermill.inspect_notebook(str(notebook))
    for name, value in parameters.items():
        if name not in declared:
            raise ParameterError(
                f"{notebook.name}: unknown parameter {name!r}; the notebook declares "
                f"{', '.join(sorted(declared))}.")
        accepted = NOTEBOOK_PARAMETERS.get(name)
        if accepted is not None and (isinstance(value, bool) or not isinstance(value, accepted)):
            names = " or ".join("None" if kind is type(None) else kind.__name__ for kind in accepted)
            raise ParameterError(
                f"{notebook.name}: parameter {name!r} must be {names}, got {value!r}.")
    missing = [name for name in NOTEBOOK_PARAMETERS if name in declared and name not in parameters]
    if missing:
        raise ParameterError(f"{notebook.name}: parameters {', '.join(missing)} must be given.")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _execute_notebook(job: dict[str, Any]) -> dict[str, Any]:
    """Run one notebook in a worker process; never raises (failures are returned)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    started, clock = _now(), time.perf_counter()
    error = None
    # The kernel inherits this worker's stderr: send its chatter to the control's log, not the terminal.
    with open(job["log"], "wb") as log:
        os.dup2(log.fileno(), 2)
    try:
        papermill.execute_notebook(
            job["input"], job["output"], parameters=job["parameters"], kernel_name="python3",
            progress_bar=False, log_output=False, cwd=job["cwd"],
        )
    except PapermillExecutionError as failure:
        first_line = next((line for line in failure.source.splitlines() if line.strip()
                           and not line.lstrip().startswith("#")), "").strip()
        first_line = first_line.split("  #")[0].strip()
        error = (f"cell [{failure.exec_count}] `{first_line}`: "
                 f"{failure.ename}: {_first_line(failure.evalue)}")
    except Exception as failure:  # the kernel died or the notebook could not be read
        error = f"{type(failure).__name__}: {_first_line(str(failure))}"
    return {"started": started, "finished": _now(), "seconds": round(time.perf_counter() - clock, 2),
            "error": error}


def _first_line(text: str, limit: int = 1200) -> str:
    text = " ".join(line.strip() for line in str(text).splitlines() if line.strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _inputs(engagement: Any, recorded: dict[str, str]) -> dict[str, str]:
    """SHA-256 of every input the run read: engagement.toml, the control matrix, each population.

    ``recorded`` holds the population hashes the notebooks already took when they loaded the files
    (outcome records' ``population_file`` -> ``population_sha256``); only the other files are read here.
    """
    folder = Path(engagement.folder)
    files = [folder / "engagement.toml"]
    files += [path for path in (folder / "controls.xlsx", folder / "controls.csv") if path.is_file()]
    files += [folder / source.file for source in engagement.populations.values()]
    hashes = {}
    for path in files:
        if path.is_file():
            name = path.relative_to(folder).as_posix()
            hashes[name] = recorded.get(name) or sha256_file(path)
    return hashes


def _resolve_controls(engagement: Any, control_ids: Iterable[str] | None) -> list[Any]:
    if control_ids is None:
        return list(engagement.controls)
    wanted = [identifier.strip() for identifier in control_ids if identifier.strip()]
    if not wanted:
        raise ParameterError("--controls names no control; give comma-separated control ids, e.g. "
                             "--controls CM-01,CM-02, or leave it out to test every control.")
    known = {control.id: control for control in engagement.controls}
    unknown = [identifier for identifier in wanted if identifier not in known]
    if unknown:
        raise ParameterError(
            f"--controls: {', '.join(unknown)} not in the control matrix of {engagement.folder}; "
            f"known controls: {', '.join(known)}.")
    return [known[identifier] for identifier in dict.fromkeys(wanted)]


def run_engagement(engagement_dir: str | os.PathLike[str], *, output_dir: str | os.PathLike[str] | None = None,
                   workers: int | None = None, control_ids: Iterable[str] | None = None,
                   progress: bool = True) -> BatchRun:
    """Test every control of an engagement (or the ones named) and write the run's outputs.

    Parameters
    ----------
    engagement_dir : path-like
        The engagement folder (``engagement.toml``, control matrix, ``populations/``).
    output_dir : path-like, optional
        Where outputs go; default ``ENGAGEMENT_DIR/output``.
    workers : int, optional
        Notebooks executed at once; default the number of cores.
    control_ids : iterable of str, optional
        Only these controls (in this order); default every control in the matrix.
    progress : bool
        Show a progress bar on standard error.

    Raises
    ------
    EngagementError, ParameterError
        Before anything runs, for a bad engagement folder or bad options.
    """
    from workbench.engagement import load_engagement
    from workbench.library import is_testable
    from workbench.workpaper import write_summary

    engagement = load_engagement(engagement_dir)
    folder = Path(engagement.folder).resolve()
    if output_dir is None:
        escaped = real_path_outside(folder, folder / "output")
        if escaped is not None:
            raise ParameterError(f"{folder.name}/output leads outside the engagement folder through a symbolic "
                                 f"link (its real path is {escaped}); the workbench writes nothing outside the "
                                 f"folder unless told: remove the link, or name the folder with --out.")
    out = (Path(output_dir) if output_dir is not None else folder / "output").resolve()
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ParameterError(f"--workers must be a whole number >= 1, got {workers!r}.")
    controls = _resolve_controls(engagement, control_ids)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"--out {out} exists and is not a folder; name a folder.")
    try:
        (out / "notebooks").mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ParameterError(f"--out {out}: the output folder cannot be created ({error.strerror}); "
                             f"name a folder you can write to.") from None

    started = _now()
    jobs: dict[str, dict[str, Any]] = {}
    runs: dict[str, ControlRun] = {}
    for control in controls:
        testable = is_testable(engagement, control)
        notebook = notebook_for(control.procedure, implemented=testable) if control.procedure else None
        if not control.procedure or not testable or notebook is None:
            runs[control.id] = ControlRun(control.id, "not_yet_tested", control.procedure)
            continue
        parameters = {"engagement_dir": str(folder), "control_id": control.id, "output_dir": str(out)}
        check_parameters(notebook, parameters)
        # A stale record or workpaper from an earlier run must never pass for this run's result.
        outcome_path(out, control.id).unlink(missing_ok=True)
        (out / f"{control.id}.xlsx").unlink(missing_ok=True)
        jobs[control.id] = {"input": str(notebook), "output": str(out / "notebooks" / f"{control.id}.ipynb"),
                            "parameters": parameters, "cwd": str(notebook.parent),
                            "log": str(out / "notebooks" / f"{control.id}.log"),
                            "procedure": control.procedure}

    if jobs:
        runs.update(_run_jobs(jobs, out, min(workers, len(jobs)), progress))
    ordered = tuple(runs[control.id] for control in controls)

    rows = []
    for control, run in zip(controls, ordered):
        base = {"control_id": control.id, "criteria": list(control.criteria), "description": control.description}
        if run.status == "ran" and run.outcome is not None:
            rows.append({**base, **run.outcome})
        elif run.status == "failed":
            rows.append({**base, "status": "failed", "result_text": f"Not tested: the notebook failed ({run.error})."})
        else:
            rows.append({**base, "status": "not_yet_tested", "result_text": "Not yet tested."})
    # the notebooks hashed their populations on loading them; the manifest reuses those hashes
    recorded = {run.outcome["population_file"]: run.outcome["population_sha256"]
                for run in ordered if run.outcome and run.outcome.get("population_sha256")}
    finished = _now()
    run_info = {"engagement": str(folder), "output": str(out), "started": started, "finished": finished,
                "workers": workers, "controls": len(ordered), "failed": sum(r.status == "failed" for r in ordered)}
    summary_path = write_summary(out / "summary.xlsx", engagement, rows, run_info)
    manifest_path = out / "manifest.json"
    write_json_atomic(manifest_path, {
        "command": "workbench run", "argv": sys.argv, **run_info,
        "engagement_id": engagement.engagement_id, "client": engagement.client,
        "versions": _versions(), "inputs_sha256": _inputs(engagement, recorded),
        "controls": [run.to_record() for run in ordered],
        # only what this run wrote: a workpaper left by an earlier run is not this run's evidence
        "outputs_sha256": {path.relative_to(out).as_posix(): sha256_file(path) for path in
                           [out / name for run in ordered if run.status == "ran"
                            for name in (f"{run.control_id}.xlsx", f"requests/{run.control_id}.xlsx")]
                           + [summary_path] if path.is_file()},
    })
    return BatchRun(folder, out, ordered, started, finished, summary_path, manifest_path)


def _run_jobs(jobs: dict[str, dict[str, Any]], out: Path, workers: int, progress: bool) -> dict[str, ControlRun]:
    from tqdm import tqdm

    runs: dict[str, ControlRun] = {}
    # spawn: a clean interpreter per worker; forking a process that holds threads is unsafe.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool, \
            tqdm(total=len(jobs), desc="Testing controls", unit="control", disable=not progress,
                 file=sys.stderr) as bar:
        futures = {pool.submit(_execute_notebook, job): control_id for control_id, job in jobs.items()}
        for future in concurrent.futures.as_completed(futures):
            control_id = futures[future]
            job = jobs[control_id]
            try:
                result = future.result()
            except Exception as failure:  # the worker process itself died
                result = {"started": None, "finished": _now(), "seconds": None,
                          "error": f"worker process failed: {type(failure).__name__}: {failure}"}
            outcome = load_outcome(out, control_id) if result["error"] is None else None
            error = result["error"]
            if error is None and outcome is None:
                error = "the notebook finished without writing its outcome record (records/" \
                        f"{control_id}.json); its last cell did not run."
            runs[control_id] = ControlRun(
                control_id, "failed" if error else "ran", job["procedure"], job["parameters"],
                Path(job["output"]).relative_to(out).as_posix(), result["started"], result["finished"],
                result["seconds"], f"{control_id}: {error}" if error else None, outcome)
            bar.set_postfix_str(control_id)
            bar.update()
            if error:
                tqdm.write(f"FAILED {control_id}: {error}", file=sys.stderr)
    return runs
