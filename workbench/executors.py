"""Where a batch's notebooks run: on this machine, or on a Dask cluster.

The batch runner (``workbench/batch.py``) turns each control to test into a :class:`NotebookJob` (and, for
``--changed``, each control to check into a :class:`FingerprintJob`) and hands them to an executor, which
yields each result as it finishes:

:class:`LocalExecutor`
    ``--workers`` threads of this process, each driving one notebook at a time through papermill's API
    (engine ``"workbench"``, :mod:`workbench.kernels`). The kernels are forked from one kernel template
    started in a process group of its own (:mod:`workbench.kernel_template`); :meth:`LocalExecutor.stop`
    kills that group, so no kernel outlives the run.
:class:`DaskExecutor`
    The same jobs as tasks on a Dask distributed cluster: the cluster at ``--scheduler ADDRESS``, or a
    local one (``--workers`` worker processes on this machine, one thread each) when no address is given.
    Each Dask worker process keeps its own kernel template. Every notebook of one engagement runs on one
    host, since the engagement's results store (SQLite in WAL mode) must not be shared between hosts.

Both run the very same function per job (:func:`execute_notebook_job`, :func:`compute_fingerprint`), so
their results are identical. The functions never raise: a failure is a result with ``error`` set.

Public API::

    NotebookJob, NotebookResult, execute_notebook_job(job) -> NotebookResult
    FingerprintJob, FingerprintResult, compute_fingerprint(job) -> FingerprintResult
    LocalExecutor(workers, *, warm=True, run_id=""), DaskExecutor(workers, *, scheduler=None, warm=True)
        .start(), .run(jobs, function, placement=None) -> iterator of results, .stop(kill=False), .describe()
    cancel_running_notebooks()
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import hashlib
import os
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from workbench.errors import ParameterError
from workbench.files import JsonRecord, JsonValue

__all__ = ["NotebookJob", "NotebookResult", "execute_notebook_job", "FingerprintJob", "FingerprintResult",
           "compute_fingerprint", "LocalExecutor", "DaskExecutor", "Executor", "cancel_running_notebooks",
           "workbench_version"]

Job = TypeVar("Job", "NotebookJob", "FingerprintJob")
Result = TypeVar("Result", "NotebookResult", "FingerprintResult")


def workbench_version() -> str:
    """The installed workbench's version (recorded in manifests, compared with Dask workers')."""
    try:
        return metadata.version("control-testing-workbench")
    except metadata.PackageNotFoundError:  # pragma: no cover - a bare checkout
        return "unknown"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def first_line(text: str, limit: int = 1200) -> str:
    """``text`` on one line (blank lines dropped), cut at ``limit`` characters."""
    text = " ".join(line.strip() for line in str(text).splitlines() if line.strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ----------------------------------------------------------------------------------------------------------
# Jobs and what they return


@dataclass(frozen=True)
class NotebookJob:
    """One notebook to execute (plain data: it travels to Dask workers).

    ``notebook_text`` is the notebook as the run read it: a worker whose installed copy differs (or that
    has none at ``notebook``) executes this text, so that every worker runs the notebook the manifest
    names by its SHA-256.
    """

    key: str                             # "<engagement folder name>/<control id>", unique in a batch
    control_id: str
    notebook: str                        # the notebook's path where the run was started
    notebook_sha256: str
    notebook_text: str
    parameters: Mapping[str, JsonValue]
    output_notebook: str                 # OUT/notebooks/<control_id>.ipynb
    log: str                             # OUT/notebooks/<control_id>.log: the kernel's own output
    cwd: str                             # the kernel's working directory (the notebook's folder)
    fallback_cwd: str                    # used where ``cwd`` does not exist (the engagement folder)
    timeout: float | None = None         # seconds for the whole notebook (--timeout)
    warm: bool = True                    # a kernel from the template (False: a new process)


@dataclass(frozen=True)
class NotebookResult:
    """What happened to one :class:`NotebookJob`."""

    key: str
    started: str
    finished: str
    seconds: float
    error: str | None = None             # "cell [5] `population = ...`: PopulationError: ..."
    timed_out: bool = False
    kernel_starts: int = 0               # more than 1 after a kernel start-up race
    host: str = ""
    workbench_version: str = ""


@dataclass(frozen=True)
class FingerprintJob:
    """Compute a control's inputs fingerprint as a run would record it now (``--changed``)."""

    key: str
    engagement_dir: str
    control_id: str
    warm: bool = True


@dataclass(frozen=True)
class FingerprintResult:
    key: str
    fingerprint: JsonRecord | None = None
    error: str | None = None
    host: str = ""
    workbench_version: str = ""


# ----------------------------------------------------------------------------------------------------------
# Running one job (in a thread here, or in a Dask worker's thread)

_running: set[Any] = set()
_running_lock = threading.Lock()
_cancelled = threading.Event()


def cancel_running_notebooks() -> None:
    """Stop every notebook this process is executing, and refuse to start kernels from now on."""
    _cancelled.set()
    with _running_lock:
        observers = list(_running)
    for observer in observers:
        observer.cancel()


@contextlib.contextmanager
def _watched(observer: Any) -> Iterator[None]:
    """Register the notebook's observer (for :func:`cancel_running_notebooks`) and, in a Dask worker,
    stop the kernel when the task is cancelled (the run that submitted it was stopped or killed)."""
    with _running_lock:
        _running.add(observer)
    if _cancelled.is_set():
        observer.cancel()
    stop = threading.Event()
    watcher = None
    task = _dask_task()
    if task is not None:
        watcher = threading.Thread(target=_watch_dask_task, args=(task, observer, stop), daemon=True,
                                   name="workbench-dask-watch")
        watcher.start()
    try:
        yield
    finally:
        stop.set()
        with _running_lock:
            _running.discard(observer)
        if watcher is not None:
            watcher.join(timeout=2)


def _dask_task() -> tuple[Any, Any] | None:
    """(worker, task key) when running inside a Dask task, else None."""
    try:
        from distributed import get_worker
        from distributed.worker import thread_state
    except ImportError:
        return None
    try:
        return get_worker(), thread_state.key
    except (ValueError, AttributeError):
        return None


def _watch_dask_task(task: tuple[Any, Any], observer: Any, stop: threading.Event) -> None:
    worker, key = task
    while not stop.wait(1.0):
        try:
            state = worker.state.tasks.get(key)
            gone = state is None or state.state in ("cancelled", "released", "forgotten")
        except Exception:  # noqa: BLE001 - the worker's internals moved: stop watching, never stop the task
            return
        if gone:
            observer.cancel()
            return


def _notebook_here(job: NotebookJob) -> tuple[str, str | None]:
    """The notebook path to execute on this machine, and a temporary copy to remove afterwards (or None)."""
    path = Path(job.notebook)
    with contextlib.suppress(OSError):
        if hashlib.sha256(path.read_bytes()).hexdigest() == job.notebook_sha256:
            return str(path), None
    handle, temporary = tempfile.mkstemp(prefix=f"{path.stem}-", suffix=".ipynb")
    with os.fdopen(handle, "wb") as stream:
        stream.write(job.notebook_text.encode("utf-8"))
    return temporary, temporary


def _cell_error(execution_count: object, source: str, message: str) -> str:
    first = next((line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")), "")
    first = first.strip().split("  #")[0].strip()
    return f"cell [{execution_count}] `{first}`: {message}"


def execute_notebook_job(job: NotebookJob) -> NotebookResult:
    """Execute one notebook through papermill (engine ``"workbench"``); never raises.

    The kernel's own output (not the cells') goes to ``job.log``; the executed notebook, with every
    output, to ``job.output_notebook``. A failing cell, a notebook past ``job.timeout`` and a kernel that
    would not start are all results with ``error`` set.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from workbench.kernels import ENGINE_NAME, KernelObserver, NotebookTimeout

    started, clock = _now(), time.perf_counter()
    observer = KernelObserver()
    error: str | None = None
    timed_out = False
    cwd = job.cwd if Path(job.cwd).is_dir() else job.fallback_cwd
    notebook, temporary = _notebook_here(job)
    try:
        Path(job.log).parent.mkdir(parents=True, exist_ok=True)
        with open(job.log, "wb") as log, _watched(observer):
            try:
                papermill.execute_notebook(
                    notebook, job.output_notebook, parameters=dict(job.parameters), kernel_name="python3",
                    engine_name=ENGINE_NAME, progress_bar=False, log_output=False,
                    resources={"metadata": {"path": cwd}}, kernel_output=log, observer=observer,
                    time_limit=job.timeout, warm=job.warm)
            except PapermillExecutionError as failure:
                error = _cell_error(failure.exec_count, failure.source,
                                    f"{failure.ename}: {first_line(failure.evalue)}")
            except NotebookTimeout as failure:
                timed_out = True
                error = _cell_error(failure.execution_count, failure.source,
                                    f"timed out: the notebook ran longer than its limit of {job.timeout:g} s "
                                    f"(--timeout); this cell was stopped")
            except Exception as failure:  # noqa: BLE001 - the kernel died, would not start, or the file is bad
                error = f"{type(failure).__name__}: {first_line(str(failure))}"
                if observer.cancelled:
                    error = f"stopped: the run was interrupted ({error})"
    except OSError as failure:                      # the log or the output folder cannot be written
        error = f"{type(failure).__name__}: {first_line(str(failure))}"
    finally:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
    return NotebookResult(key=job.key, started=started, finished=_now(),
                          seconds=round(time.perf_counter() - clock, 2), error=error, timed_out=timed_out,
                          kernel_starts=observer.kernel_starts, host=socket.gethostname(),
                          workbench_version=workbench_version())


def compute_fingerprint(job: FingerprintJob) -> FingerprintResult:
    """The control's inputs fingerprint now (:func:`workbench.changes.current_fingerprint`), in a child
    forked from the kernel template (warm, and nothing it does stays behind); never raises."""
    from workbench.kernel_template import TemplateError, shared_template

    arguments: dict[str, Any] = {"engagement_dir": job.engagement_dir, "control_id": job.control_id}
    outcome: JsonRecord
    template = shared_template() if job.warm and not _cancelled.is_set() else None
    if template is None:
        from workbench.changes import current_fingerprint

        outcome = current_fingerprint(**arguments)
    else:
        with tempfile.TemporaryDirectory(prefix="workbench-fingerprint-") as folder:
            result = Path(folder) / "result.json"
            try:
                process = template.fork_call("workbench.changes:current_fingerprint", arguments, result)
                process.wait()
                import json

                outcome = json.loads(result.read_text(encoding="utf-8")) if result.is_file() else {
                    "error": "the fingerprint could not be computed (the process computing it ended without "
                             "a result)"}
            except (TemplateError, OSError) as failure:
                outcome = {"error": f"{type(failure).__name__}: {failure}"}
    fingerprint = outcome.get("fingerprint")
    error = outcome.get("error")
    return FingerprintResult(key=job.key, fingerprint=fingerprint if isinstance(fingerprint, dict) else None,
                             error=str(error) if error else None, host=socket.gethostname(),
                             workbench_version=workbench_version())


# ----------------------------------------------------------------------------------------------------------
# Executors


class Executor:
    """What the batch runner needs of an executor."""

    kind = "executor"

    def start(self) -> None:
        raise NotImplementedError

    def run(self, jobs: Sequence[Job], function: Callable[[Job], Result],
            placement: Callable[[Job], str | None] | None = None) -> Iterator[Result]:
        raise NotImplementedError

    def stop(self, *, kill: bool = False) -> None:
        raise NotImplementedError

    def describe(self) -> dict[str, JsonValue]:
        raise NotImplementedError


class LocalExecutor(Executor):
    """Notebooks on this machine: ``workers`` at a time, kernels forked from one template.

    Parameters
    ----------
    workers : int
        Notebooks executed at once.
    warm : bool, default True
        Kernels from the kernel template (False: every kernel a new process, as papermill starts them).
    run_id : str
        Written into the template's environment (see :func:`workbench.kernel_template.processes_of_run`).
    template_log : path-like, optional
        The template's own standard error.
    """

    kind = "local"

    def __init__(self, workers: int, *, warm: bool = True, run_id: str = "",
                 template_log: str | os.PathLike[str] | None = None) -> None:
        self.workers = workers
        self.warm = warm
        self.run_id = run_id
        self.template_log = template_log
        self.template: Any = None
        self._previous: Any = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def start(self) -> None:
        from workbench.kernel_template import (RUN_ID_VARIABLE, KernelTemplate, use_template,
                                               warm_kernels_available)

        _cancelled.clear()
        if self.warm and warm_kernels_available() and self.template is None:
            self.template = KernelTemplate(log=self.template_log, environment={RUN_ID_VARIABLE: self.run_id})
            self._previous = use_template(self.template)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=self.workers,
                                                           thread_name_prefix="workbench-notebook")

    @property
    def process_group(self) -> int | None:
        """The process group of the template and its kernels (None without warm kernels)."""
        return None if self.template is None else self.template.process_group

    def run(self, jobs: Sequence[Job], function: Callable[[Job], Result],
            placement: Callable[[Job], str | None] | None = None) -> Iterator[Result]:
        if self._pool is None:
            self.start()
        assert self._pool is not None
        futures = [self._pool.submit(function, job) for job in jobs]
        for future in concurrent.futures.as_completed(futures):
            yield future.result()

    def stop(self, *, kill: bool = False) -> None:
        """Stop the threads and the template. ``kill``: the run is being interrupted, so kill every kernel
        now (the threads driving them then end within a second or so)."""
        from workbench.kernel_template import use_template

        if kill:
            cancel_running_notebooks()
            if self.process_group is not None:
                with contextlib.suppress(OSError):
                    os.killpg(self.process_group, signal.SIGKILL)
        if self._pool is not None:
            self._pool.shutdown(wait=not kill, cancel_futures=True)
            self._pool = None
        if self.template is not None:
            self.template.close()
            use_template(self._previous)
            self.template = None

    def describe(self) -> dict[str, JsonValue]:
        return {"executor": "local", "workers": self.workers,
                "kernels": "warm (forked from a kernel template)" if self.template is not None else "new process each"}


class DaskExecutor(Executor):
    """The same jobs on a Dask distributed cluster.

    Parameters
    ----------
    workers : int
        Worker processes of the local cluster started when no ``scheduler`` is given (one thread each).
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``); default a local cluster.
    warm : bool, default True
        Kernels from each Dask worker's kernel template.

    Every Dask worker must run the same workbench version as this process (checked at start) and see the
    engagement and output folders at the same paths (a shared file system).
    """

    kind = "dask"

    def __init__(self, workers: int, *, scheduler: str | None = None, warm: bool = True) -> None:
        self.workers = workers
        self.scheduler = scheduler
        self.warm = warm
        self.client: Any = None
        self.cluster: Any = None
        self._futures: list[Any] = []
        self._hosts: list[str] = []

    def start(self) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - a dependency
            raise ParameterError("--executor dask needs the dask[distributed] package; install it") from None
        if self.scheduler:
            try:
                self.client = Client(self.scheduler, timeout="30s")
            except (OSError, TimeoutError) as error:
                raise ParameterError(f"--scheduler {self.scheduler}: no Dask scheduler answers there ({error}); "
                                     f"start one (dask scheduler) or leave --scheduler out for a local "
                                     f"cluster.") from None
        else:
            self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                        host="127.0.0.1", dashboard_address=":0")
            self.client = Client(self.cluster)
        versions = self.client.run(workbench_version)
        mine = workbench_version()
        other = {address: version for address, version in versions.items() if version != mine}
        if not versions:
            raise ParameterError(f"the Dask cluster at {self.scheduler} has no workers; start some (dask worker "
                                 f"{self.scheduler}).")
        if other:
            listed = ", ".join(f"{address} has {version}" for address, version in sorted(other.items()))
            raise ParameterError(f"the Dask workers must run workbench {mine}, as this run does: {listed}. "
                                 f"Install the same version on every worker and restart them.")
        self._hosts = sorted({info["host"] for info in self.client.scheduler_info()["workers"].values()})

    @property
    def hosts(self) -> list[str]:
        return list(self._hosts)

    def run(self, jobs: Sequence[Job], function: Callable[[Job], Result],
            placement: Callable[[Job], str | None] | None = None) -> Iterator[Result]:
        from distributed import as_completed

        if self.client is None:
            self.start()
        futures = []
        for job in jobs:
            host = placement(job) if placement is not None else None
            where: dict[str, Any] = {"workers": [host], "allow_other_workers": False} if host else {}
            futures.append(self.client.submit(function, job, pure=False, **where,
                                              key=f"{function.__name__}-{job.key}-{os.urandom(4).hex()}"))
        self._futures.extend(futures)
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as failure:  # noqa: BLE001 - the worker running it died: a failed job
                yield _failed(function, jobs[futures.index(future)], f"the Dask task failed: "
                                                                      f"{type(failure).__name__}: {failure}")

    def stop(self, *, kill: bool = False) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                if self._futures:
                    self.client.cancel(self._futures, force=True)
            with contextlib.suppress(Exception):
                self.client.close()
            self.client = None
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()
            self.cluster = None

    def describe(self) -> dict[str, JsonValue]:
        workers: JsonValue = self.workers if self.scheduler is None else None
        return {"executor": "dask", "scheduler": self.scheduler or "local cluster", "workers": workers,
                "hosts": list(self._hosts)}


def _failed(function: Callable[..., Any], job: Any, message: str) -> Any:
    if isinstance(job, NotebookJob):
        return NotebookResult(key=job.key, started=_now(), finished=_now(), seconds=0.0, error=message)
    return FingerprintResult(key=job.key, error=message)


def engagement_hosts(engagements: Iterable[str], hosts: Sequence[str]) -> dict[str, str | None]:
    """Engagement -> the one host its notebooks run on (None: anywhere, when the cluster has one host).

    An engagement's results store is an SQLite database in WAL mode, which processes on different hosts
    must not share; so each engagement goes to one host, the engagements spread over the hosts in turn.
    """
    names = list(engagements)
    if len(hosts) < 2:
        return {name: None for name in names}
    return {name: hosts[index % len(hosts)] for index, name in enumerate(names)}
