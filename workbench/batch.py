"""``workbench run``: execute every control's notebook with papermill, in parallel, for one engagement or many.

For each control in an engagement's matrix the runner decides what happens:

* its procedure has a notebook: the notebook is executed through papermill's API with the parameters
  ``engagement_dir``, ``control_id`` and ``output_dir``, validated against the notebook's
  parameters cell first;
* it has no procedure, or one the control library does not implement yet: "Not yet tested." —
  never a made-up "No exceptions noted.".

A failing notebook does not stop the others: its failure is reported with the control id, the cell and
the error. Each engagement's run leaves behind::

    OUT/<control_id>.xlsx             workpaper (written by the notebook)
    OUT/requests/<control_id>.xlsx    the request list of its sample, for the client (written by the notebook)
    OUT/notebooks/<control_id>.ipynb  executed notebook, with outputs
    OUT/notebooks/<control_id>.log    what the kernel process itself printed
    OUT/records/<control_id>.json     outcome record (written by the notebook)
    OUT/summary.xlsx                  one row per control, Section 4 wording
    OUT/manifest.json                 parameters, input SHA-256s, versions, timings, outcomes
    OUT/run.lock                      the run's lock (empty when no run holds it)

**Filled testing templates.** Under the lock, before any notebook runs, each ``ENGAGEMENT/testing/<control
id>.xlsx`` (a template of :mod:`workbench.template`, filled) is imported when the results store holds no result of
that control yet, as the tester written in it (its Testing!B4); the run says so on standard error. A template
that does not import fails that control (with every problem), not the run. The demo engagements ship their
manual results so (docs/recording-excel.md).

**Kill-safe.** A run takes ``OUT/run.lock`` first (:mod:`workbench.runlock`): a second run on the same
folder is refused, naming the holder; a lock left by a killed run is taken over, and said so. Before a
notebook runs, ``manifest.json`` says ``"state": "in_progress"`` and ``summary.xlsx`` is replaced by one
whose rows read "Run in progress", so a killed run never leaves an earlier summary looking current; the
manifest is rewritten as each notebook finishes, so it always says which finished. The notebooks' kernels
live in one process group of their own, killed when the run ends, fails or gets SIGINT/SIGTERM/SIGHUP (the
interrupted controls are then marked "interrupted"), and dying with it when it is killed outright.

**Resumable.** ``rerun_failed`` re-executes only the controls without a good result in the last manifest
(failed, interrupted, never reached); ``changed`` only those whose inputs fingerprint
(:mod:`workbench.control_test`), notebook SHA-256 or workbench version differ from the last run's. The
other controls keep their workpapers and outcome records (checked against the SHA-256s the last manifest
recorded), and their rows in the new summary; the manifest says ``"reused_from"``. ``timeout`` limits
each notebook's cells to that many seconds in all; the cell running then is stopped and the control fails.

**Many engagements.** :func:`run_batch` takes several engagement folders, or folders of them: one pool of
workers and one progress bar for all; each engagement its own output folder, lock, summary and manifest,
finished (and unlocked) as soon as its last notebook is; a batch manifest lists them all.

**Executors.** The notebooks run on this machine (threads driving warm kernels) or on a Dask cluster
(:mod:`workbench.executors`); the results are identical.

Public API::

    run_batch(paths, *, output_dir=None, workers=None, control_ids=None, progress=True, rerun_failed=False,
              changed=False, timeout=None, executor="local", scheduler=None, warm_kernels=True,
              batch_manifest=None, notify=None) -> Batch
    run_engagement(engagement_dir, **same options) -> BatchRun
    find_engagements(paths) -> list[Path]
    notebook_for(procedure) -> Path | None, check_parameters(notebook, parameters)
    Batch, BatchRun, ControlRun, RunInterrupted, NOTEBOOK_PARAMETERS
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from workbench.changes import fingerprint_changes
from workbench.errors import ParameterError
from workbench.files import real_path_outside, sha256_file, write_json_atomic
from workbench.outcome import load_outcome, outcome_path

__all__ = ["ControlRun", "BatchRun", "Batch", "RunInterrupted", "run_batch", "run_engagement", "find_engagements",
           "notebook_for", "check_parameters", "NOTEBOOK_PARAMETERS", "EXECUTORS",
           "BATCH_MANIFEST", "TEMPLATES_FOLDER"]

#: The folder of an engagement holding filled testing templates that ``workbench run`` imports (``<control id>.xlsx``).
TEMPLATES_FOLDER = "testing"
#: The parameters every procedure notebook declares, with the types ``workbench run`` accepts.
NOTEBOOK_PARAMETERS: dict[str, tuple[type, ...]] = {
    "engagement_dir": (str,),
    "control_id": (str,),
    "output_dir": (str,),
}

#: Where the notebooks can run (``--executor``).
EXECUTORS = ("local", "dask")

#: The batch manifest's file name (a run of several engagements).
BATCH_MANIFEST = "batch-manifest.json"

#: Packages whose versions the manifest records (what produced the numbers).
_RECORDED_PACKAGES = ("control-testing-workbench", "numpy", "scipy", "pandas", "pyarrow", "openpyxl",
                      "matplotlib", "papermill", "nbclient", "ipykernel")

#: Statuses of a control in a run: what its summary row and manifest record say.
_DONE = ("ran", "failed", "not_yet_tested", "interrupted")


class RunInterrupted(Exception):
    """The run got SIGTERM or SIGHUP (SIGINT is KeyboardInterrupt); it stopped its notebooks first."""

    def __init__(self, signal_number: int) -> None:
        self.signal_number = signal_number
        super().__init__(f"stopped by {signal.Signals(signal_number).name}")


@dataclass(frozen=True)
class ControlRun:
    """What happened to one control in a batch run."""

    control_id: str
    status: str                     # ran | failed | not_yet_tested | pending | interrupted
    procedure: str | None
    parameters: dict[str, Any] = field(default_factory=dict)
    notebook: str | None = None     # executed notebook, relative to the output folder
    started: str | None = None
    finished: str | None = None
    seconds: float | None = None
    error: str | None = None        # "cell [5] `population = ...`: PopulationError: ..."
    outcome: dict[str, Any] | None = None
    notebook_sha256: str | None = None
    timed_out: bool = False
    kernel_starts: int | None = None
    host: str | None = None
    reused_from: str | None = None  # the start of the run whose result this is (--rerun-failed, --changed)
    reasons: tuple[str, ...] = ()   # why --rerun-failed or --changed ran it
    outputs_sha256: dict[str, str] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        record = {
            "control_id": self.control_id, "status": self.status, "procedure": self.procedure,
            "parameters": self.parameters, "notebook": self.notebook, "started": self.started,
            "finished": self.finished, "seconds": self.seconds, "error": self.error,
            "result_status": None if self.outcome is None else self.outcome.get("status"),
            "result_text": None if self.outcome is None else self.outcome.get("result_text"),
            "workpaper": None if self.outcome is None else self.outcome.get("workpaper"),
        }
        if self.procedure is not None and self.status != "not_yet_tested":
            record.update(notebook_sha256=self.notebook_sha256, timed_out=self.timed_out,
                          kernel_starts=self.kernel_starts, host=self.host,
                          inputs_fingerprint=None if self.outcome is None else self.outcome.get("inputs_fingerprint"),
                          outputs_sha256=dict(self.outputs_sha256))
            if self.reused_from:
                record["reused_from"] = self.reused_from
            if self.reasons:
                record["reasons"] = list(self.reasons)
        return record


@dataclass(frozen=True)
class BatchRun:
    """The result of one engagement's run: one :class:`ControlRun` per control, and the files left."""

    engagement_dir: Path
    output_dir: Path
    controls: tuple[ControlRun, ...]
    started: str
    finished: str
    summary_path: Path
    manifest_path: Path
    state: str = "complete"                     # complete | interrupted
    took_over: str | None = None                # the killed run whose lock this run took over
    kept: tuple[str, ...] = ()                  # controls of the matrix this run did not test (--controls)
    stale: tuple[str, ...] = ()                 # of those, the ones whose inputs changed since their outcome

    @property
    def failures(self) -> tuple[ControlRun, ...]:
        return tuple(run for run in self.controls if run.status in ("failed", "interrupted"))

    @property
    def ok(self) -> bool:
        """True when every notebook ran (exceptions found are results, not failures)."""
        return not self.failures and self.state == "complete"

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for run in self.controls:
            counts[run.status] = counts.get(run.status, 0) + 1
        tally = ", ".join(f"{count} {status.replace('_', ' ')}" for status, count in sorted(counts.items()))
        reused = sum(1 for run in self.controls if run.reused_from)
        lines = [f"Batch run of {self.engagement_dir}: {len(self.controls)} controls ({tally})."
                 + (f" {reused} kept from the run of {_reused_from(self.controls)} (not run again)." if reused
                    else "")]
        for run in self.controls:
            text = run.error if run.status in ("failed", "interrupted") else (
                run.outcome.get("result_text") if run.outcome else "Not yet tested.")
            lines.append(f"  {run.control_id:<10} {run.status:<15} {text}")
        if self.kept:
            lines.append(f"The summary keeps the latest outcome of the {len(self.kept)} other controls of the matrix"
                         + (f"; stale, run again: {', '.join(self.stale)}." if self.stale else "."))
        lines += [f"Workpapers: {self.output_dir}", f"Summary:    {self.summary_path}",
                  f"Manifest:   {self.manifest_path}"]
        return "\n".join(lines)


def _reused_from(controls: Iterable[ControlRun]) -> str:
    return ", ".join(sorted({run.reused_from for run in controls if run.reused_from}))


@dataclass(frozen=True)
class Batch:
    """The result of :func:`run_batch`: one :class:`BatchRun` per engagement run, and the ones not run."""

    runs: tuple[BatchRun, ...]
    not_run: tuple[tuple[Path, str], ...] = ()   # (engagement folder, why: refused, bad folder)
    manifest_path: Path | None = None            # the batch manifest (several engagements)

    @property
    def ok(self) -> bool:
        return not self.not_run and all(run.ok for run in self.runs)

    def summary(self) -> str:
        parts = [run.summary() for run in self.runs]
        if self.not_run or len(self.runs) > 1 or self.manifest_path:
            done = sum(run.ok for run in self.runs)
            lines = [f"Batch of {len(self.runs) + len(self.not_run)} engagements: {done} ran without failures, "
                     f"{len(self.runs) - done} with failures, {len(self.not_run)} not run."]
            lines += [f"  NOT RUN {folder}: {why}" for folder, why in self.not_run]
            if self.manifest_path:
                lines.append(f"Batch manifest: {self.manifest_path}")
            parts.append("\n".join(lines))
        return "\n\n".join(parts)


# ----------------------------------------------------------------------------------------------------------
# Notebooks and their parameters


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


# ----------------------------------------------------------------------------------------------------------
# Small helpers


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


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


def _output_after_lock(engagement: Any, folder: Path, out: Path, *, explicit: bool,
                       say: Callable[[str], None]) -> Path:
    """A locked engagement's run never writes over its locked workpapers: the default output folder becomes
    ``output/addition-YYYY-MM-DD``; ``--out`` naming the engagement's output folder itself is refused."""
    from workbench.results import RESULTS_FILE, ResultsStore
    from workbench.signoff import addition_folder

    if not (folder / RESULTS_FILE).is_file():
        return out
    with ResultsStore.open(folder, engagement_id=engagement.engagement_id) as store:
        lock = store.lock()
    if lock is None:
        return out
    locked = folder / "output"
    when = (f"{lock.who} locked it on {lock.at[:10]} (report released {lock.value.get('release_date')}, documentation "
            f"completion deadline {lock.value.get('documentation_deadline')})")
    if out.resolve() != locked.resolve():
        return out
    if explicit:
        raise ParameterError(f"--out {out}: engagement {engagement.engagement_id} is locked: {when}. Its workpapers "
                             f"in {locked} are never written over; leave --out out (the run then writes to "
                             f"{addition_folder(locked)}) or name another folder.")
    target = addition_folder(locked)
    say(f"workbench run: engagement {engagement.engagement_id} is locked: {when}. This run writes to {target}, never "
        f"over the locked workpapers; record any new result as an addition (--addition --reason).")
    return target


def find_engagements(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The engagement folders named by ``paths``: each is one (it has ``engagement.toml``) or a folder of them.

    Raises
    ------
    ParameterError
        For a path that is neither (naming it), or for no path at all.
    """
    from workbench.engagement.model import ENGAGEMENT_FILE

    found: list[Path] = []
    given = list(paths)
    if not given:
        raise ParameterError("workbench run needs an engagement folder (or a folder of engagement folders).")
    for path in given:
        folder = Path(path)
        if (folder / ENGAGEMENT_FILE).is_file() or not folder.is_dir():
            found.append(folder)      # a missing folder is reported by load_engagement, with its wording
            continue
        inside = sorted(child for child in folder.iterdir() if (child / ENGAGEMENT_FILE).is_file())
        if not inside:
            raise ParameterError(f"{folder}: neither an engagement folder (no {ENGAGEMENT_FILE}) nor a folder of "
                                 f"engagement folders (none of its folders has one).")
        found.extend(inside)
    unique: dict[Path, Path] = {}
    for folder in found:
        unique.setdefault(folder.resolve(), folder)
    return list(unique.values())


# ----------------------------------------------------------------------------------------------------------
# One engagement within a batch


@dataclass
class _Engagement:
    """The state of one engagement while the batch runs (internal)."""

    folder: Path
    name: str
    out: Path
    engagement: Any
    controls: list[Any]
    lock: Any = None
    previous: dict[str, Any] | None = None      # the last manifest, when there is one
    runs: dict[str, ControlRun] = field(default_factory=dict)
    jobs: dict[str, Any] = field(default_factory=dict)
    to_check: dict[str, Any] = field(default_factory=dict)   # control id -> FingerprintJob (--changed)
    # the controls of the matrix this run does not test (--controls): their latest records, kept
    kept: dict[str, dict[str, Any]] = field(default_factory=dict)
    kept_outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    kept_check: dict[str, Any] = field(default_factory=dict)  # control id -> FingerprintJob (stale or not)
    started: str = ""
    took_over: str | None = None
    marked: bool = False                         # its manifest and summary say "in progress"
    finished: BatchRun | None = None

    @property
    def pending(self) -> list[str]:
        return [control_id for control_id, run in self.runs.items() if run.status == "pending"]


class _Run:
    """One ``workbench run`` (internal): options, engagements, executor, progress and messages."""

    def __init__(self, *, workers: int, progress: bool, rerun_failed: bool, changed: bool, timeout: float | None,
                 executor: str, scheduler: str | None, warm_kernels: bool,
                 notify: Callable[[str], None]) -> None:
        self.workers = workers
        self.progress = progress
        self.rerun_failed = rerun_failed
        self.changed = changed
        self.timeout = timeout
        self.executor_kind = executor
        self.scheduler = scheduler
        self.warm = warm_kernels
        self.notify = notify
        self.run_id = uuid.uuid4().hex[:16]
        self.started = _now()
        self.versions = _versions()
        self.version = self.versions["control-testing-workbench"]
        self.executor: Any = None
        self.engagements: list[_Engagement] = []
        self._parameters_checked: set[tuple[str, str]] = set()
        self._notebooks: dict[str, tuple[str, str]] = {}

    # -- the executor ----------------------------------------------------------------------------------------
    def start_executor(self) -> Any:
        if self.executor is None:
            from workbench.executors import DaskExecutor, LocalExecutor

            if self.executor_kind == "dask":
                self.executor = DaskExecutor(self.workers, scheduler=self.scheduler, warm=self.warm)
            else:
                self.executor = LocalExecutor(self.workers, warm=self.warm, run_id=self.run_id)
            self.executor.start()
        return self.executor

    def describe_executor(self) -> dict[str, Any]:
        if self.executor is not None:
            return dict(self.executor.describe())
        return {"executor": self.executor_kind, "workers": self.workers}

    def placement(self) -> Callable[[Any], str | None] | None:
        from workbench.executors import engagement_hosts

        hosts = getattr(self.executor, "hosts", [])
        where = engagement_hosts([e.name for e in self.engagements], hosts)
        return lambda job: where.get(job.key.rpartition("/")[0])

    # -- notebooks -------------------------------------------------------------------------------------------
    def notebook(self, path: Path) -> tuple[str, str]:
        """(text, SHA-256) of a notebook, read once per run."""
        key = str(path)
        if key not in self._notebooks:
            data = path.read_bytes()
            self._notebooks[key] = (data.decode("utf-8"), hashlib.sha256(data).hexdigest())
        return self._notebooks[key]

    def check(self, notebook: Path, parameters: dict[str, Any]) -> None:
        key = (str(notebook), json.dumps(sorted((name, type(value).__name__) for name, value in parameters.items())))
        if key not in self._parameters_checked:
            check_parameters(notebook, parameters)
            self._parameters_checked.add(key)


def _plan(run: _Run, e: _Engagement) -> None:
    """Decide, control by control, what this run does: run the notebook, keep the last result, not tested."""
    from workbench.executors import FingerprintJob
    from workbench.library import is_testable

    previous = _previous_records(e.previous)
    previous_version = ((e.previous or {}).get("versions") or {}).get("control-testing-workbench")
    chosen = {control.id for control in e.controls}
    for control in e.engagement.controls:
        if control.id not in chosen:
            _keep_other(run, e, control, previous.get(control.id), previous_version)
    for control in e.controls:
        testable = is_testable(e.engagement, control)
        notebook = notebook_for(control.procedure, implemented=testable) if control.procedure else None
        if not control.procedure or not testable or notebook is None:
            e.runs[control.id] = ControlRun(control.id, "not_yet_tested", control.procedure)
            continue
        parameters = {"engagement_dir": str(e.folder), "control_id": control.id, "output_dir": str(e.out)}
        run.check(notebook, parameters)
        text, digest = run.notebook(notebook)
        pending = ControlRun(control.id, "pending", control.procedure, parameters,
                             f"notebooks/{control.id}.ipynb", notebook_sha256=digest)
        reasons: list[str] = []
        keep: ControlRun | None = None
        if run.rerun_failed or run.changed:
            keep, reasons = _keep(run, e, previous.get(control.id), digest, previous_version, parameters)
        if keep is None:
            e.runs[control.id] = replace(pending, reasons=tuple(reasons))
            e.jobs[control.id] = _job(run, e, control.id, notebook, text, digest, parameters)
        elif run.changed:
            # kept so far; the inputs fingerprint decides (computed before anything is written)
            e.runs[control.id] = keep
            e.to_check[control.id] = FingerprintJob(key=f"{e.name}/{control.id}", engagement_dir=str(e.folder),
                                                    control_id=control.id, warm=run.warm)
            e.jobs[control.id] = _job(run, e, control.id, notebook, text, digest, parameters)
        else:
            e.runs[control.id] = keep


def _import_templates(run: _Run, e: _Engagement) -> dict[str, str]:
    """Import each filled testing template ``ENGAGEMENT/testing/<control id>.xlsx`` of a control whose results the
    store does not hold yet (the demo ships its manual results so), before any notebook runs, under the run's
    lock; returns control id -> why its template was not imported (that control fails, the others run)."""
    folder = e.folder / TEMPLATES_FOLDER
    if not folder.is_dir():
        return {}
    from workbench.errors import USER_ERRORS
    from workbench.results import read_results
    from workbench.template import import_results

    failures: dict[str, str] = {}
    for control in e.controls:
        path = folder / f"{control.id}.xlsx"
        if not path.is_file() or len(read_results(e.engagement, control.id)):
            continue
        where = f"{TEMPLATES_FOLDER}/{path.name}"
        try:
            report = import_results(e.engagement, path, control_id=control.id)
        except USER_ERRORS as error:
            failures[control.id] = f"the testing template {where} was not imported: {error}"
            run.notify(f"workbench run: {e.name}: {control.id}: {failures[control.id]}")
            continue
        run.notify(f"workbench run: {e.name}: imported {where}: {report.summary()}")
    return failures


def _previous_records(manifest: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The last manifest's record of every control: those it ran, and those it kept from earlier runs."""
    records: dict[str, dict[str, Any]] = {}
    for key in ("kept_controls", "controls"):
        for record in (manifest or {}).get(key, []):
            if isinstance(record, dict) and "control_id" in record:
                records[str(record["control_id"])] = record
    return records


def _keep_other(run: _Run, e: _Engagement, control: Any, record: dict[str, Any] | None,
                previous_version: str | None) -> None:
    """A control of the matrix this run does not test (``--controls``): keep its latest record, and say whether
    it is stale (its inputs fingerprint, notebook, workbench version or outputs changed since)."""
    from workbench.executors import FingerprintJob
    from workbench.library import is_testable

    testable = is_testable(e.engagement, control)
    notebook = notebook_for(control.procedure, implemented=testable) if control.procedure else None
    if not control.procedure or not testable or notebook is None:
        e.kept[control.id] = {"control_id": control.id, "status": "not_yet_tested", "procedure": control.procedure}
        return
    if record is None or record.get("status") == "not_yet_tested":
        e.kept[control.id] = {"control_id": control.id, "status": "not_run", "procedure": control.procedure}
        return
    kept = {key: value for key, value in record.items() if key not in ("stale", "reasons")}
    kept["reused_from"] = record.get("reused_from") or (e.previous or {}).get("started")
    e.kept[control.id] = kept
    if record.get("status") != "ran":
        return
    parameters = {"engagement_dir": str(e.folder), "control_id": control.id, "output_dir": str(e.out)}
    _, digest = run.notebook(notebook)
    reasons = run_reasons(record, e.out, parameters=parameters, notebook_sha256=digest,
                          previous_version=previous_version, version=run.version, changed=True)
    outcome = load_outcome(e.out, control.id) if not reasons else None
    if not reasons and outcome is None:
        reasons = ["its outcome record is missing"]
    if reasons:
        kept["stale"] = reasons
        return
    assert outcome is not None
    e.kept_outcomes[control.id] = dict(outcome)
    e.kept_check[control.id] = FingerprintJob(key=f"{e.name}/{control.id}", engagement_dir=str(e.folder),
                                              control_id=control.id, warm=run.warm)


def _keep(run: _Run, e: _Engagement, record: dict[str, Any] | None, digest: str,
          previous_version: str | None, parameters: dict[str, Any]) -> tuple[ControlRun | None, list[str]]:
    """The last run's result of a control when it can stand (and no reasons), or None and why it cannot."""
    reasons = run_reasons(record, e.out, parameters=parameters, notebook_sha256=digest,
                          previous_version=previous_version, version=run.version, changed=run.changed)
    outcome = load_outcome(e.out, str(record["control_id"])) if record is not None and not reasons else None
    if record is None or reasons or outcome is None:
        return None, reasons or ["its outcome record is missing"]
    keep = ControlRun(
        record["control_id"], "ran", record.get("procedure"), dict(record.get("parameters") or {}),
        record.get("notebook"), record.get("started"), record.get("finished"), record.get("seconds"), None,
        outcome, record.get("notebook_sha256"), bool(record.get("timed_out")), record.get("kernel_starts"),
        record.get("host"), record.get("reused_from") or (e.previous or {}).get("started"), (),
        dict(record.get("outputs_sha256") or {}))
    return keep, []


def run_reasons(record: dict[str, Any] | None, out: Path, *, parameters: dict[str, Any], notebook_sha256: str,
                previous_version: str | None, version: str, changed: bool) -> list[str]:
    """Why ``--rerun-failed`` (and ``--changed``, when ``changed``) must run a control again; empty when its
    result in the last manifest (``record``) can stand, as far as files and versions tell (``--changed``
    then compares inputs fingerprints).

    A result stands when the control ran, with the same parameters (engagement and output folder), and its
    workpaper and outcome record still have the SHA-256s the manifest recorded; with ``changed``, also when
    the notebook and the workbench version are the same.
    """
    if record is None:
        return ["not in the last run"]
    if record.get("status") != "ran":
        return [f"{str(record.get('status') or 'no result').replace('_', ' ')} in the last run"]
    if dict(record.get("parameters") or {}) != parameters:
        return ["the last run tested it with other parameters (another engagement or output folder)"]
    outputs = record.get("outputs_sha256") or {}
    if not outputs:
        return ["the last run recorded no SHA-256 of its workpaper"]
    altered = [name for name, expected in sorted(outputs.items())
               if not (out / name).is_file() or sha256_file(out / name) != expected]
    if altered:
        return [f"{', '.join(altered)} changed or missing since the last run"]
    reasons = []
    if changed:
        if record.get("notebook_sha256") != notebook_sha256:
            reasons.append("the notebook changed")
        if previous_version != version:
            reasons.append(f"workbench {previous_version} -> {version}")
    return reasons


def _job(run: _Run, e: _Engagement, control_id: str, notebook: Path, text: str, digest: str,
         parameters: dict[str, Any]) -> Any:
    from workbench.executors import NotebookJob

    return NotebookJob(key=f"{e.name}/{control_id}", control_id=control_id, notebook=str(notebook),
                       notebook_sha256=digest, notebook_text=text, parameters=parameters,
                       output_notebook=str(e.out / "notebooks" / f"{control_id}.ipynb"),
                       log=str(e.out / "notebooks" / f"{control_id}.log"), cwd=str(notebook.parent),
                       fallback_cwd=str(e.folder), timeout=run.timeout, warm=run.warm)


# ----------------------------------------------------------------------------------------------------------
# Writing an engagement's manifest and summary


def _rows(e: _Engagement, state: str) -> list[dict[str, Any]]:
    rows = []
    for control in e.controls:
        run = e.runs[control.id]
        base = {"control_id": control.id, "criteria": list(control.criteria), "description": control.description}
        if run.status == "ran" and run.outcome is not None:
            rows.append({**base, **run.outcome})
        elif run.status == "failed":
            rows.append({**base, "status": "failed",
                         "result_text": f"Not tested: {run.error}." if run.notebook is None else
                         f"Not tested: the notebook failed ({run.error})."})
        elif run.status == "pending":
            rows.append({**base, "status": "run_in_progress" if state == "in_progress" else "interrupted",
                         "result_text": f"Run in progress (started {e.started}, process {os.getpid()}): no result "
                                        f"yet." if state == "in_progress" else
                                        "Not tested: the run was interrupted before this control's notebook "
                                        "finished."})
        elif run.status == "interrupted":
            rows.append({**base, "status": "interrupted",
                         "result_text": "Not tested: the run was interrupted before this control's notebook "
                                        "finished."})
        else:
            rows.append({**base, "status": "not_yet_tested", "result_text": "Not yet tested."})
    for control in e.engagement.controls:
        if control.id in e.kept:
            rows.append(_kept_row(e, control))
    return rows


def _store_head(engagement: Any) -> dict[str, Any]:
    """The results store's chain head and entry count for the manifest (a store rewritten from scratch after it
    no longer holds this head: ``workbench verify --head``); a broken store is named, not hidden."""
    from workbench.errors import ResultsError
    from workbench.results import RESULTS_FILE, ZERO_SHA256, ResultsStore

    if not (engagement.folder / RESULTS_FILE).is_file():
        return {"chain_head": ZERO_SHA256, "entries": 0}
    try:
        with ResultsStore.open(engagement.folder, engagement_id=engagement.engagement_id) as store:
            status = store.verify()
    except ResultsError as error:   # a broken chain, a store of another engagement: named in the manifest
        return {"chain_head": None, "entries": None, "problem": str(error)}
    return {"chain_head": status.head, "entries": status.entries}


#: What a summary row says of a control whose inputs changed since its outcome.
STALE_TEXT = "Stale, run again"


def _kept_row(e: _Engagement, control: Any) -> dict[str, Any]:
    """The summary row of a control this run does not test: its latest outcome, marked stale when it is."""
    record = e.kept[control.id]
    base = {"control_id": control.id, "criteria": list(control.criteria), "description": control.description}
    status = record.get("status")
    if status == "not_yet_tested":
        return {**base, "status": "not_yet_tested", "result_text": "Not yet tested."}
    if status == "not_run":
        return {**base, "status": "not_run", "result_text": "Not run yet: no result in this output folder "
                                                            "(workbench run --controls " + control.id + ")."}
    when = record.get("reused_from") or record.get("started")   # the start of the run that tested it
    stale = list(record.get("stale") or [])
    outcome = (e.kept_outcomes.get(control.id) or load_outcome(e.out, control.id)) if status == "ran" else None
    if outcome is None:
        row = {**base, "status": str(status or "failed"),
               "result_text": f"Not tested: {status} in the run of {when} ({record.get('error') or 'no result'})."}
    else:
        row = {**base, **outcome}
    notes = row.get("notes") or []
    notes = [notes] if isinstance(notes, str) else list(notes)
    if stale:
        row["status"] = "stale"
        row["conclusion_text"] = f"{STALE_TEXT}: {'; '.join(stale)} since the run of {when}."
        notes.insert(0, f"{STALE_TEXT}: the outcome shown is the run of {when}'s.")
    else:
        notes.insert(0, f"Kept from the run of {when}: this run did not test it, and its inputs are unchanged.")
    row["notes"] = notes
    return row


def _write_manifest(run: _Run, e: _Engagement, state: str, finished: str | None) -> Path:
    ordered = [e.runs[control.id] for control in e.controls]
    recorded = {r.outcome["population_file"]: r.outcome["population_sha256"]
                for r in ordered if r.outcome and r.outcome.get("population_sha256")}
    written = {name: digest for r in ordered if r.status == "ran" and not r.reused_from
               for name, digest in r.outputs_sha256.items() if name.endswith(".xlsx")}
    reused = {name: digest for r in ordered if r.reused_from
              for name, digest in r.outputs_sha256.items() if name.endswith(".xlsx")}
    summary = e.out / "summary.xlsx"
    if state != "in_progress" and summary.is_file():
        written["summary.xlsx"] = sha256_file(summary)
    manifest: dict[str, Any] = {
        "command": "workbench run", "argv": sys.argv, "state": state, "engagement": str(e.folder),
        "output": str(e.out), "started": e.started, "finished": finished, "workers": run.workers,
        "failed": sum(r.status in ("failed", "interrupted") for r in ordered),
        "engagement_id": e.engagement.engagement_id, "client": e.engagement.client,
        "versions": run.versions, "inputs_sha256": _inputs(e.engagement, recorded),
        "controls": [r.to_record() for r in ordered],
        # only what this run wrote: a workpaper left by an earlier run is not this run's evidence
        "outputs_sha256": written,
        "run": {"id": run.run_id, "pid": os.getpid(), "host": platform.node(), **run.describe_executor(),
                "rerun_failed": run.rerun_failed, "changed": run.changed, "timeout": run.timeout,
                "previous_run": (e.previous or {}).get("started"), "took_over_lock_of": e.took_over},
    }
    if reused:
        manifest["reused_outputs_sha256"] = reused
    manifest["results_store"] = _store_head(e.engagement)
    if e.kept:   # the controls this run did not test (--controls): their latest records, stale or not
        manifest["kept_controls"] = [e.kept[control.id] for control in e.engagement.controls
                                     if control.id in e.kept]
    path = e.out / "manifest.json"
    write_json_atomic(path, manifest)
    return path


def _write_summary(run: _Run, e: _Engagement, state: str, finished: str | None) -> Path:
    from workbench.workpaper.summary import write_summary

    ordered = [e.runs[control.id] for control in e.controls]
    run_info: dict[str, Any] = {}
    if state == "in_progress":
        run_info["state"] = ("IN PROGRESS: this summary is replaced when the run finishes. If no run holds "
                             "run.lock in this folder, the run was stopped: run workbench run again.")
    elif state == "interrupted":
        run_info["state"] = "INTERRUPTED: controls marked interrupted were not tested."
    # paths relative to the engagement folder: the same engagement run in another folder gives the same workbook
    run_info.update({"engagement": e.engagement.engagement_id, "output": _relative(e.out, e.folder),
                     "started": e.started,
                     "finished": finished,
                     "workers": run.workers, "controls": len(ordered),
                     "failed": sum(r.status in ("failed", "interrupted") for r in ordered)})
    if e.kept:
        stale = [control_id for control_id, record in e.kept.items() if record.get("stale")]
        run_info["kept"] = (f"{len(e.kept)} controls not tested in this run (--controls) show their latest outcome"
                            + (f"; {STALE_TEXT.lower()}: {', '.join(stale)}" if stale else ""))
    reused = [r for r in ordered if r.reused_from]
    if reused:
        run_info["reused"] = (f"{len(reused)} controls kept from the run of {_reused_from(reused)} "
                              f"({', '.join(r.control_id for r in reused)})")
    return write_summary(e.out / "summary.xlsx", e.engagement, _rows(e, state), run_info)


def _relative(path: Path, folder: Path) -> str:
    """``path`` relative to ``folder`` (``output``, ``../runs/output``), as a workbook shows it."""
    return Path(os.path.relpath(path, folder)).as_posix()


def _outputs_of(out: Path, control_id: str) -> tuple[Path, ...]:
    """The files a control's notebook writes besides its outcome record: the workpaper, the request list and the
    population listing's CSV (when the population is over the sheet's cap)."""
    return (out / f"{control_id}.xlsx", out / "requests" / f"{control_id}.xlsx",
            out / f"{control_id}.population.csv")


def _mark_in_progress(run: _Run, e: _Engagement) -> None:
    """Before a notebook runs: stale outputs of the controls to run go; manifest and summary say "in progress"."""
    for control_id in e.pending:
        # a stale record or workpaper from an earlier run must never pass for this run's result
        outcome_path(e.out, control_id).unlink(missing_ok=True)
        for path in _outputs_of(e.out, control_id):
            path.unlink(missing_ok=True)
    _write_manifest(run, e, "in_progress", None)
    e.marked = True
    _write_summary(run, e, "in_progress", None)


def _finish(run: _Run, e: _Engagement, state: str) -> BatchRun:
    """Write the final summary and manifest (``state``: complete or interrupted), release the lock."""
    if state == "interrupted":
        for control_id in e.pending:
            run_ = e.runs[control_id]
            e.runs[control_id] = replace(run_, status="interrupted",
                                         error=f"{control_id}: interrupted: the run was stopped before its notebook "
                                               f"finished")
    finished = _now()
    try:
        summary_path = _write_summary(run, e, state, finished)
        manifest_path = _write_manifest(run, e, state, finished)
    finally:
        if e.lock is not None:
            e.lock.release()
    e.finished = BatchRun(e.folder, e.out, tuple(e.runs[c.id] for c in e.controls), e.started, finished,
                          summary_path, manifest_path, state, e.took_over, tuple(e.kept),
                          tuple(control_id for control_id, record in e.kept.items() if record.get("stale")))
    return e.finished


def _record_result(e: _Engagement, result: Any) -> None:
    control_id = result.key.rpartition("/")[2]
    before = e.runs[control_id]
    outcome = load_outcome(e.out, control_id) if result.error is None else None
    error = result.error
    if error is None and outcome is None:
        error = ("the notebook finished without writing its outcome record (records/"
                 f"{control_id}.json); its last cell did not run.")
    outputs = {}
    if outcome is not None:
        for path in (*_outputs_of(e.out, control_id), outcome_path(e.out, control_id)):
            if path.is_file():
                outputs[path.relative_to(e.out).as_posix()] = sha256_file(path)
    e.runs[control_id] = replace(
        before, status="failed" if error else "ran", started=result.started, finished=result.finished,
        seconds=result.seconds, error=f"{control_id}: {error}" if error else None, outcome=outcome,
        timed_out=result.timed_out, kernel_starts=result.kernel_starts, host=result.host or None,
        outputs_sha256=outputs)


# ----------------------------------------------------------------------------------------------------------
# The batch


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`RunInterrupted` in the main thread while the run is on."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(number: int, _frame: object) -> None:
        raise RunInterrupted(number)

    previous = {number: signal.signal(number, interrupt) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _progress(run: _Run, total: int, description: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit="control", disable=not run.progress or total == 0,
                file=sys.stderr)


def _clean_up_after(run: _Run, e: _Engagement, stale: Any) -> None:
    """A killed run's lock was taken over: say so, and stop whatever of that run is still running."""
    from workbench.kernel_template import processes_of_run

    e.took_over = f"process {stale.pid} on {stale.host}, started {stale.started}"
    left = processes_of_run(stale.run_id) if stale.host == platform.node() else []
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    state = (e.previous or {}).get("state")
    run.notify(f"workbench run: {e.out}: took over the lock of an earlier run that ended without releasing it "
               f"({stale.describe()}, {'no longer running' if stale.alive() is False else 'not holding it'})"
               + (f"; its manifest says {state!r}" if state and state != "complete" else "")
               + (f"; stopped {len(left)} of its processes still running" if left else "")
               + (". Its finished controls keep their results; this run tests the rest." if run.rerun_failed else
                  ". Its finished controls keep their results unless their inputs changed." if run.changed else
                  ". This run tests every control again (--rerun-failed would test only what it did not finish)."))


@contextlib.contextmanager
def _not_interactive() -> Iterator[None]:
    """A batch never shows the testing form, even when started from a notebook's kernel (whose environment names a
    Jupyter session): its workers and kernels inherit this variable; the caller's environment is restored after."""
    before = os.environ.get("WORKBENCH_INTERACTIVE")
    os.environ["WORKBENCH_INTERACTIVE"] = "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("WORKBENCH_INTERACTIVE", None)
        else:
            os.environ["WORKBENCH_INTERACTIVE"] = before


def run_batch(paths: Sequence[str | os.PathLike[str]], *, output_dir: str | os.PathLike[str] | None = None,
              workers: int | None = None, control_ids: Iterable[str] | None = None, progress: bool = True,
              rerun_failed: bool = False, changed: bool = False, timeout: float | None = None,
              executor: str = "local", scheduler: str | None = None, warm_kernels: bool = True,
              batch_manifest: str | os.PathLike[str] | None = None,
              notify: Callable[[str], None] | None = None) -> Batch:
    """Test every control of one or more engagements (or the ones named) and write each run's outputs.

    Parameters
    ----------
    paths : sequence of path-like
        Engagement folders (``engagement.toml``, control matrix, ``populations/``), or folders of them.
    output_dir : path-like, optional
        Where outputs go; default ``ENGAGEMENT_DIR/output``. With several engagements, each gets
        ``OUTPUT_DIR/<engagement folder name>``.
    workers : int, optional
        Notebooks executed at once; default the number of cores (for Dask without a scheduler: the local
        cluster's worker processes).
    control_ids : iterable of str, optional
        Only these controls (in this order, in every engagement); default every control in the matrix.
    progress : bool
        Show one progress bar on standard error.
    rerun_failed, changed : bool
        Run only the controls without a good result in the last manifest / whose inputs fingerprint,
        notebook or workbench version changed since it (both: either); keep the others' results.
    timeout : float, optional
        Seconds each notebook's cells may take in all; the cell running then is stopped (a failure).
    executor : {"local", "dask"}
    scheduler : str, optional
        The Dask scheduler's address; default a local cluster (``executor="dask"`` only).
    warm_kernels : bool, default True
        Kernels forked from a kernel template (False: each a new process, as papermill starts them).
    batch_manifest : path-like, optional
        Where the batch manifest of several engagements goes; default ``OUTPUT_DIR/batch-manifest.json``,
        or beside the engagement folders (their common parent folder).
    notify : callable, optional
        Called with messages for the user (a lock taken over); default print to standard error.

    Raises
    ------
    EngagementError, ParameterError, OutputFolderInUse
        For one engagement: before anything runs. With several, a bad or busy engagement folder is left
        out and listed in :attr:`Batch.not_run` (and the batch manifest); the others run.
    KeyboardInterrupt, RunInterrupted
        After stopping every notebook and writing each unfinished engagement's summary and manifest
        ("interrupted").
    """
    from workbench.engagement import load_engagement
    from workbench.errors import USER_ERRORS
    from workbench.runlock import LockHolder, OutputLock

    say = notify or (lambda message: print(message, file=sys.stderr))
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ParameterError(f"--workers must be a whole number >= 1, got {workers!r}.")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not timeout > 0):
        raise ParameterError(f"--timeout must be a number of seconds > 0, got {timeout!r}.")
    if executor not in EXECUTORS:
        raise ParameterError(f"--executor must be one of {', '.join(EXECUTORS)}, got {executor!r}.")
    if scheduler and executor != "dask":
        raise ParameterError("--scheduler goes with --executor dask; add --executor dask or leave --scheduler out.")
    wanted = list(control_ids) if control_ids is not None else None

    folders = find_engagements(paths)
    several = len(folders) > 1 or any(not (Path(p) / "engagement.toml").is_file() and Path(p).is_dir()
                                      for p in paths)
    run = _Run(workers=workers, progress=progress, rerun_failed=rerun_failed, changed=changed,
               timeout=float(timeout) if timeout is not None else None, executor=executor, scheduler=scheduler,
               warm_kernels=warm_kernels, notify=say)
    not_run: list[tuple[Path, str]] = []
    names: dict[str, Path] = {}
    for folder in folders:
        try:
            engagement = load_engagement(folder)
            resolved = Path(engagement.folder).resolve()
            if output_dir is None:
                escaped = real_path_outside(resolved, resolved / "output")
                if escaped is not None:
                    raise ParameterError(f"{resolved.name}/output leads outside the engagement folder through a "
                                         f"symbolic link (its real path is {escaped}); the workbench writes nothing "
                                         f"outside the folder unless told: remove the link, or name the folder with "
                                         f"--out.")
                out = resolved / "output"
            else:
                out = Path(output_dir).resolve() / (resolved.name if several else "")
            out = _output_after_lock(engagement, resolved, out, explicit=output_dir is not None, say=say)
            if several and resolved.name in names and output_dir is not None:
                raise ParameterError(f"--out: {names[resolved.name]} and {resolved} would share the output folder "
                                     f"{out}; rename one, or run them without --out.")
            names[resolved.name] = resolved
            controls = _resolve_controls(engagement, wanted)
            if out.exists() and not out.is_dir():
                raise ParameterError(f"--out {out} exists and is not a folder; name a folder.")
            run.engagements.append(_Engagement(resolved, resolved.name, out, engagement, controls))
        except USER_ERRORS as error:
            if not several:
                raise
            not_run.append((folder, str(error)))

    batch_path: Path | None = None
    batch_lock: Any = None
    batch_written = False
    if several:
        batch_path = Path(batch_manifest) if batch_manifest else (
            Path(output_dir).resolve() / BATCH_MANIFEST if output_dir is not None else
            Path(os.path.commonpath([str(f.resolve().parent) for f in folders])) / BATCH_MANIFEST)

    try:
        if batch_path is not None:       # a second run of the same batch is refused before anything else
            batch_path.parent.mkdir(parents=True, exist_ok=True)
            batch_lock = OutputLock(batch_path.parent).acquire(LockHolder.current(run.run_id, run.started)) \
                if batch_path.parent.resolve() not in {e.out for e in run.engagements} else None
        # output folders and their locks (nothing is written in a folder before it is locked)
        for e in list(run.engagements):
            try:
                try:
                    (e.out / "notebooks").mkdir(parents=True, exist_ok=True)
                except OSError as error:
                    raise ParameterError(f"--out {e.out}: the output folder cannot be created ({error.strerror}); "
                                         f"name a folder you can write to.") from None
                e.lock = OutputLock(e.out).acquire(LockHolder.current(run.run_id, run.started))
            except USER_ERRORS as error:
                if not several:
                    raise
                not_run.append((e.folder, str(error)))
                run.engagements.remove(e)
                continue
            e.previous = _read_manifest(e.out / "manifest.json")
            if e.lock.stale is not None:
                _clean_up_after(run, e, e.lock.stale)
        if batch_path is not None:
            _write_batch_manifest(run, batch_path, not_run, "in_progress")
            batch_written = True

        with _signals_interrupt(), _not_interactive():
            for e in run.engagements:
                e.started = run.started
                not_imported = _import_templates(run, e)
                _plan(run, e)
                for control_id, why in not_imported.items():    # that control fails, not the run
                    e.jobs.pop(control_id, None)
                    e.runs[control_id] = ControlRun(control_id, "failed", e.runs[control_id].procedure,
                                                    started=run.started, finished=_now(), error=why)
            if any(e.jobs for e in run.engagements):
                run.start_executor()     # the kernel template imports while the summaries are written
            _check_fingerprints(run)
            for e in run.engagements:
                _mark_in_progress(run, e)
            _execute(run)
            results = [e.finished or _finish(run, e, "complete") for e in run.engagements]
    except BaseException:
        if run.executor is not None:
            with contextlib.suppress(Exception):
                run.executor.stop(kill=True)
            run.executor = None
        for e in run.engagements:
            if e.finished is None and e.lock is not None and e.lock.held:
                if e.marked:          # before that, nothing of this run was written: the folder is as it was
                    with contextlib.suppress(Exception):
                        _finish(run, e, "interrupted")
                e.lock.release()
        if batch_path is not None and batch_lock is not None:
            if batch_written:
                with contextlib.suppress(Exception):
                    _write_batch_manifest(run, batch_path, not_run, "interrupted")
            batch_lock.release()
        raise
    finally:
        if run.executor is not None:
            run.executor.stop()
    if batch_path is not None:
        _write_batch_manifest(run, batch_path, not_run, "complete")
        if batch_lock is not None:
            batch_lock.release()
    return Batch(tuple(results), tuple(not_run), batch_path)


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _check_fingerprints(run: _Run) -> None:
    """``--changed``: compute the inputs fingerprints of the controls the last run tested; keep the unchanged."""
    from workbench.executors import compute_fingerprint

    jobs = [job for e in run.engagements for job in (*e.to_check.values(), *e.kept_check.values())]
    if not jobs:
        return
    by_key = {f"{e.name}/{control_id}": (e, control_id) for e in run.engagements
              for control_id in (*e.to_check, *e.kept_check)}
    executor = run.start_executor()
    with _progress(run, len(jobs), "Checking for changes") as bar:
        for result in executor.run(jobs, compute_fingerprint, run.placement()):
            e, control_id = by_key[result.key]
            if control_id in e.kept_check:     # a control this run does not test: stale, or its outcome stands
                reasons = fingerprint_changes(e.kept_outcomes[control_id].get("inputs_fingerprint"),
                                              result.fingerprint, result.error)
                if reasons:
                    e.kept[control_id]["stale"] = reasons
                bar.update()
                continue
            kept = e.runs[control_id]
            recorded = kept.outcome.get("inputs_fingerprint") if kept.outcome else None
            reasons = fingerprint_changes(recorded, result.fingerprint, result.error)
            if reasons:
                e.runs[control_id] = ControlRun(
                    control_id, "pending", kept.procedure, e.jobs[control_id].parameters,
                    f"notebooks/{control_id}.ipynb", notebook_sha256=e.jobs[control_id].notebook_sha256,
                    reasons=tuple(reasons))
            else:
                del e.jobs[control_id]
            bar.update()
    for e in run.engagements:
        e.to_check.clear()
        e.kept_check.clear()


def _execute(run: _Run) -> None:
    """Run every pending notebook of every engagement; finish each engagement as its last one is done."""
    from tqdm import tqdm

    from workbench.executors import execute_notebook_job

    jobs = [e.jobs[control_id] for e in run.engagements for control_id in e.pending]
    by_name = {e.name: e for e in run.engagements}
    for e in run.engagements:
        if not e.pending:
            _finish(run, e, "complete")
    if not jobs:
        return
    executor = run.start_executor()
    several = len(run.engagements) > 1
    with _progress(run, len(jobs), "Testing controls") as bar:
        for result in executor.run(jobs, execute_notebook_job, run.placement()):
            engagement_name, _, control_id = result.key.rpartition("/")
            e = by_name[engagement_name]
            _record_result(e, result)
            failure = e.runs[control_id].error
            if failure:
                tqdm.write(f"FAILED {f'{e.name}: ' if several else ''}{failure}", file=sys.stderr)
            if e.pending:
                _write_manifest(run, e, "in_progress", None)
            else:
                _finish(run, e, "complete")
            bar.set_postfix_str(result.key if several else control_id)
            bar.update()


def _write_batch_manifest(run: _Run, path: Path, not_run: list[tuple[Path, str]], state: str) -> None:
    entries: list[dict[str, Any]] = []
    for e in run.engagements:
        finished = e.finished
        entries.append({
            "engagement": str(e.folder), "output": str(e.out), "manifest": str(e.out / "manifest.json"),
            "summary": str(e.out / "summary.xlsx"),
            "state": finished.state if finished else ("in_progress" if state == "in_progress" else "interrupted"),
            "controls": len(e.controls),
            "failed": len(finished.failures) if finished else None,
            "took_over_lock_of": e.took_over})
    entries += [{"engagement": str(folder), "state": "not_run", "error": why} for folder, why in not_run]
    write_json_atomic(path, {
        "command": "workbench run", "argv": sys.argv, "state": state, "started": run.started,
        "finished": None if state == "in_progress" else _now(), "run": {"id": run.run_id, "pid": os.getpid(),
                                                                          "host": platform.node(),
                                                                          **run.describe_executor()},
        "workbench": run.version, "engagements": entries})


def run_engagement(engagement_dir: str | os.PathLike[str], *, output_dir: str | os.PathLike[str] | None = None,
                   workers: int | None = None, control_ids: Iterable[str] | None = None,
                   progress: bool = True, **options: Any) -> BatchRun:
    """Test every control of one engagement (or the ones named): :func:`run_batch` of one folder.

    Raises
    ------
    EngagementError, ParameterError, OutputFolderInUse
        Before anything runs, for a bad engagement folder, bad options or a folder another run writes.
    """
    batch = run_batch([engagement_dir], output_dir=output_dir, workers=workers, control_ids=control_ids,
                      progress=progress, **options)
    return batch.runs[0]
