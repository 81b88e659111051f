"""Warm kernels in jupyter_client and papermill: the papermill engine ``"workbench"``.

:mod:`workbench.kernel_template` keeps a process that has imported the workbench and forks a new kernel
per notebook. Here that kernel is handed to jupyter_client (:class:`WarmProvisioner`, whose "process" is
the forked child, and :class:`WarmKernelManager`, which uses it) and to papermill (:class:`WarmEngine`,
registered as ``engine_name="workbench"``), so a notebook runs through ``papermill.execute_notebook`` as
any other. The engine adds two things the batch runner needs:

* kernel start-up retries: a port taken between jupyter_client choosing it and the kernel binding it
  ("Address already in use") makes the kernel die at start; another start gets new ports
  (:data:`KERNEL_START_ATTEMPTS` in all, then :class:`KernelStartError`);
* a time limit for the whole notebook: the cell running when it is up is stopped, and
  :class:`NotebookTimeout` names it;
* fewer saves of the executed notebook while it runs (:class:`ThrottledExecutionManager`).

Where warm kernels are not available, or ``warm=False``, kernels start the usual way (a new process)
with the same retries and deadline.

Public API::

    papermill.execute_notebook(..., engine_name="workbench", time_limit=..., kernel_output=..., observer=...,
                               warm=True)
    WarmEngine, WarmNotebookClient, WarmKernelManager, FreshKernelManager, WarmProvisioner, KernelObserver
    KernelStartError, NotebookTimeout, ENGINE_NAME, KERNEL_START_ATTEMPTS
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning.local_provisioner import LocalProvisioner
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines
from papermill.utils import merge_kwargs, remove_args

from workbench.kernel_template import TemplateError, shared_template

__all__ = ["WarmProvisioner", "WarmKernelManager", "FreshKernelManager", "WarmNotebookClient", "WarmEngine",
           "ThrottledExecutionManager", "KernelObserver", "KernelStartError", "NotebookTimeout", "ENGINE_NAME",
           "KERNEL_START_ATTEMPTS", "SAVE_EVERY"]

#: The papermill engine name under which :class:`WarmEngine` is registered.
ENGINE_NAME = "workbench"

#: While its cells run, the executed notebook is saved at most this often (seconds); always at its start and end.
SAVE_EVERY = 10.0

#: Kernel start-ups tried per notebook: a port taken between jupyter_client choosing it and the kernel
#: binding it ("Address already in use") makes the kernel die at start; a new start gets new ports.
KERNEL_START_ATTEMPTS = 3


class KernelStartError(RuntimeError):
    """No kernel could be started for a notebook, after :data:`KERNEL_START_ATTEMPTS` tries."""


class NotebookTimeout(TimeoutError):
    """A notebook ran past its deadline; names the cell that was running."""

    def __init__(self, message: str, *, cell_index: int, execution_count: int, source: str) -> None:
        super().__init__(message)
        self.cell_index = cell_index
        self.execution_count = execution_count
        self.source = source


# ----------------------------------------------------------------------------------------------------------
# jupyter_client and papermill: kernels from the template


def _is_this_ipykernel(cmd: Sequence[str]) -> bool:
    """``cmd`` starts this interpreter's ipykernel (only such a kernel can come from the template)."""
    if len(cmd) < 3 or list(cmd[1:3]) != ["-m", "ipykernel_launcher"]:
        return False
    try:
        return os.path.samefile(cmd[0], sys.executable)
    except OSError:
        return False


class KernelObserver:
    """What the batch runner learns about a notebook's kernel while it runs (one per notebook).

    Attributes
    ----------
    kernel_starts : int
        Kernel start-ups tried (more than 1 after a start-up race).
    process : object or None
        The kernel's process once started (``kill()`` stops it); None before and after.
    cancelled : bool
        Set by :meth:`cancel`: the kernel is killed and no other is started.
    """

    def __init__(self) -> None:
        self.kernel_starts = 0
        self.process: Any = None
        self.cancelled = False

    def cancel(self) -> None:
        """The run is being stopped: kill the kernel, and start none after this."""
        self.cancelled = True
        self.kill()

    def kill(self) -> None:
        """Stop the kernel now (the notebook then fails with a dead kernel)."""
        process = self.process
        if process is not None:
            with contextlib.suppress(OSError):
                process.kill()


class WarmProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, except that the kernel process is a child of the template.

    When the kernel manager's ``warm`` is False, or the kernel is not this interpreter's ipykernel, or the
    template is unavailable, the kernel is started the usual way (a new process).
    """

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        warm = bool(getattr(self.parent, "warm", True))
        template = shared_template() if warm and _is_this_ipykernel(cmd) else None
        if template is None:
            return await super().launch_kernel(cmd, **kwargs)
        output = kwargs.get("stderr")
        descriptor = output if isinstance(output, int) or output is None else output.fileno()
        cwd = str(kwargs.get("cwd") or os.getcwd())
        try:
            process = template.fork_kernel(cmd[3:], env=dict(kwargs.get("env") or os.environ), cwd=cwd,
                                           output=descriptor)
        except TemplateError as error:
            self.log.warning("kernel template unavailable (%s); starting a new kernel process", error)
            return await super().launch_kernel(cmd, **kwargs)
        self.process = process  # type: ignore[assignment]  # Popen-like: what the provisioner uses of Popen
        self.pid = process.pid
        self.pgid = None        # signals go to the kernel alone, never to the template's whole group
        self.cwd = cwd
        return self.connection_info


class WarmKernelManager(AsyncKernelManager):
    """An async kernel manager whose kernels are children of the template (see :class:`WarmProvisioner`)."""

    #: False: start kernels the usual way (a new process each).
    warm: bool = True

    async def _async_pre_start_kernel(self, **kw: Any) -> Any:
        if self.provisioner is None:
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
            self.provisioner = WarmProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
        return await super()._async_pre_start_kernel(**kw)


class FreshKernelManager(WarmKernelManager):
    """The same kernel manager starting every kernel as a new process (``warm=False``)."""

    warm = False


class WarmNotebookClient(PapermillNotebookClient):  # type: ignore[misc]
    """papermill's notebook client with kernel start-up retries and a time limit for the whole notebook.

    Parameters (besides papermill's)
    ----------
    time_limit : float, optional
        Seconds the notebook's cells may take in all, counted from the moment its kernel is ready; the
        cell running when they are up is stopped, marked in the executed notebook, and
        :class:`NotebookTimeout` raised naming it.
    kernel_output : file, optional
        Where the kernel process's own standard output and error go (not the cells' outputs).
    observer : KernelObserver, optional
        Told the kernel start-ups and the kernel process.
    """

    def __init__(self, nb_man: Any, *, time_limit: float | None = None, kernel_output: Any = None,
                 observer: KernelObserver | None = None, **kw: Any) -> None:
        if time_limit is not None:
            kw["timeout_func"] = self._remaining
        super().__init__(nb_man, **kw)
        self.time_limit = time_limit
        self.deadline: float | None = None
        self.kernel_output = kernel_output
        self.observer = observer or KernelObserver()

    def _remaining(self, cell: Any) -> float:
        if self.deadline is None:
            return self.time_limit or 0.001
        return max(self.deadline - time.monotonic(), 0.001)

    @contextlib.contextmanager
    def setup_kernel(self, **kwargs: Any) -> Iterator[None]:
        cleanup = kwargs.pop("cleanup_kc", self.owns_km)
        if self.kernel_output is not None:
            kwargs.setdefault("stdout", self.kernel_output)
            kwargs.setdefault("stderr", self.kernel_output)
        self._start_kernel(**kwargs)
        if self.time_limit is not None:
            self.deadline = time.monotonic() + self.time_limit
        try:
            yield
        finally:
            self.observer.process = None
            if cleanup and self.km is not None:
                if self.deadline is not None and time.monotonic() >= self.deadline:
                    self.shutdown_kernel = "immediate"   # a busy kernel would not answer a shutdown request
                self._cleanup_kernel()

    def _start_kernel(self, **kwargs: Any) -> None:
        import zmq

        for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
            if self.observer.cancelled:
                raise KernelStartError("no kernel started: the run was interrupted")
            self.observer.kernel_starts = attempt
            self.km = self.create_kernel_manager()
            try:
                self.start_new_kernel(**kwargs)
                self.start_new_kernel_client()
            except (RuntimeError, TimeoutError, zmq.ZMQError) as error:
                if self.km is not None:
                    with contextlib.suppress(Exception):
                        self._cleanup_kernel()
                self.km = self.kc = None
                if attempt == KERNEL_START_ATTEMPTS:
                    raise KernelStartError(f"the kernel did not start ({attempt} attempts; last: "
                                           f"{type(error).__name__}: {error})") from error
                self.log.warning("kernel start-up failed (%s: %s); starting another (attempt %d of %d)",
                                 type(error).__name__, error, attempt + 1, KERNEL_START_ATTEMPTS)
                if self.kernel_output is not None:
                    with contextlib.suppress(Exception):
                        self.kernel_output.write(f"[workbench] kernel start-up {attempt} failed "
                                                 f"({type(error).__name__}: {error}); starting another\n".encode())
                        self.kernel_output.flush()
                continue
            provisioner = getattr(self.km, "provisioner", None)
            self.observer.process = getattr(provisioner, "process", None)
            if self.observer.cancelled:       # stopped while this kernel was starting
                self.observer.kill()
            return

    def execute_cell(self, cell: Any, cell_index: int, execution_count: int | None = None,
                     store_history: bool = True) -> Any:
        from nbclient.exceptions import CellTimeoutError

        try:
            return super().execute_cell(cell, cell_index, execution_count, store_history)
        except CellTimeoutError:
            _cancel_pending_tasks()     # nbclient leaves the cell's output poller waiting on a dead kernel
            if self.time_limit is None:
                raise
            timeout = NotebookTimeout(
                f"the notebook ran past its time limit of {self.time_limit:g} s", cell_index=cell_index,
                execution_count=self.code_cells_executed, source=cell.source)
            # the executed notebook shows where the time ran out
            cell.outputs.append(_error_output("TimeoutError", f"stopped: {timeout}"))
            self.nb_man.cell_exception(cell, cell_index=cell_index, exception=timeout)
            raise timeout from None


def _cancel_pending_tasks() -> None:
    """Cancel what is left on this thread's event loop (nbclient's; it is not running between cells)."""
    import asyncio

    from jupyter_core.utils import ensure_event_loop

    loop = ensure_event_loop()
    if loop.is_running():
        return
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


def _error_output(name: str, value: str) -> Any:
    """An ``error`` output, as a kernel would send it."""
    from nbformat import v4

    new_output: Any = v4.new_output      # nbformat is not annotated
    return new_output("error", ename=name, evalue=value, traceback=[f"{name}: {value}"])


class ThrottledExecutionManager(NotebookExecutionManager):  # type: ignore[misc]
    """papermill's execution manager, saving the executed notebook at its start and end, and in between at
    most every :data:`SAVE_EVERY` seconds.

    papermill saves the whole notebook (serialized and validated) when each cell starts and when it ends:
    about 40 writes for a control notebook, a tenth of its time. The notebook saved at the end is the same.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._force_save = True           # the notebook's first save, at its start
        self._last_written = 0.0

    def save(self, **kwargs: Any) -> None:
        if self._force_save or time.monotonic() - self._last_written >= SAVE_EVERY:
            super().save(**kwargs)
            self._last_written = time.monotonic()
            self._force_save = False

    def cell_exception(self, cell: Any, cell_index: Any = None, **kwargs: Any) -> None:
        super().cell_exception(cell, cell_index=cell_index, **kwargs)
        self._force_save = True           # a failure is written at once

    def notebook_complete(self, **kwargs: Any) -> None:
        self._force_save = True
        super().notebook_complete(**kwargs)


class WarmEngine(NBClientEngine):  # type: ignore[misc]
    """papermill engine ``"workbench"``: :class:`WarmNotebookClient` with :class:`WarmKernelManager`.

    Extra keyword arguments of ``papermill.execute_notebook(..., engine_name="workbench")``:
    ``time_limit``, ``kernel_output`` and ``observer`` (see :class:`WarmNotebookClient`), and ``warm``
    (default True; False starts every kernel as a new process, still with the retries and the time limit).
    The executed notebook is saved as :class:`ThrottledExecutionManager` says.
    """

    @classmethod
    def execute_notebook(cls, nb: Any, kernel_name: str, output_path: str | None = None, progress_bar: bool = True,
                         log_output: bool = False, autosave_cell_every: int = 30, **kwargs: Any) -> Any:
        nb_man = ThrottledExecutionManager(nb, output_path=output_path, progress_bar=progress_bar,
                                           log_output=log_output, autosave_cell_every=autosave_cell_every)
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
        finally:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete()
        return nb_man.nb

    @classmethod
    def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                 stdout_file: Any = None, stderr_file: Any = None, start_timeout: int = 60,
                                 execution_timeout: int | None = None, **kwargs: Any) -> Any:
        warm = kwargs.pop("warm", True)
        time_limit = kwargs.pop("time_limit", None)
        kernel_output = kwargs.pop("kernel_output", None)
        observer = kwargs.pop("observer", None)
        kwargs = remove_args(["input_path"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(
            safe_kwargs, timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
            startup_timeout=start_timeout, kernel_name=kernel_name, log=_papermill_logger(),
            log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file)
        final_kwargs["kernel_manager_class"] = WarmKernelManager if warm else FreshKernelManager
        client = WarmNotebookClient(nb_man, time_limit=time_limit, kernel_output=kernel_output, observer=observer,
                                    **final_kwargs)
        return client.execute()


def _papermill_logger() -> Any:
    from papermill.log import logger

    return logger


papermill_engines.register(ENGINE_NAME, WarmEngine)
