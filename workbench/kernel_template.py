"""The kernel template: a process that has imported the workbench and forks a new kernel per notebook.

A new Jupyter kernel spends most of a control notebook's time importing things (pandas, scipy.stats,
matplotlib, openpyxl, the workbench's stages, ipykernel itself) before the first stage runs. So every
process that executes notebooks keeps one **kernel template**: a Python process that imports those
modules once and does nothing else. For each notebook it forks, and the child becomes an ordinary
ipykernel, with the connection file, environment, working directory and arguments that jupyter_client
would have given a new process. The child exits when its notebook is done; the next notebook gets a new
child. (:mod:`workbench.kernels` plugs this into jupyter_client and papermill.)

Why a fork per notebook rather than reusing one kernel: a kernel that has run a notebook keeps what the
notebook did (globals, module attributes, pandas options, warnings already shown, the working
directory). A child of the template starts from the template's state, and the template never runs
notebook code, only imports. Two things make that start identical to a new kernel's:

* the template imports in the conditions a kernel's own imports meet: ``MPLBACKEND`` set as ipykernel
  sets it before any cell runs, and ``get_ipython()`` answering like a kernel's shell while the modules
  are imported (pandas, for one, picks its notebook display defaults by asking);
* each child gets the environment, working directory, ``sys.argv``, signal dispositions and standard
  streams of a new kernel process, and fresh random seeds.

``tests/test_batch_kernels.py`` proves it: the executed notebook (every output) and the workpaper from a
warm kernel equal a new kernel's, and nothing a notebook changes is seen by the next one.

Processes: the template is started in a process group of its own and its children stay in it, so the
batch runner stops them all with one ``killpg``. The template exits, killing its children, as soon as
the process that started it goes away (its end of the socket closes), and each child is killed when the
template dies (``PR_SET_PDEATHSIG``). Parents watch and signal children through pidfds, never by a pid
that could have been reused. This needs Linux 5.3 or later (``os.pidfd_open``); elsewhere kernels start
the usual way. The module uses the standard library only: the template imports nothing it does not need.

Public API::

    KernelTemplate(modules=WARM_MODULES, *, log=None, new_process_group=True)
        .fork_kernel(argv, env=..., cwd=..., output=fd) -> ForkedProcess
        .fork_call("module:function", arguments, result_path, output=fd) -> ForkedProcess
        .wait_ready(), .close(), .pid, .process_group, .alive
    shared_template(start=True) -> KernelTemplate | None     this process's template, started on first use
    processes_of_run(run_id) -> list[int]                   processes left by a run's template (Linux)
    use_template(template)                                  install one started earlier
    warm_kernels_available() -> bool
    ForkedProcess                                           Popen-like handle of a child (pidfd)
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import importlib
import importlib.util
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

__all__ = ["KernelTemplate", "ForkedProcess", "TemplateError", "shared_template", "use_template",
           "warm_kernels_available", "serve_template", "processes_of_run", "WARM_MODULES", "RUN_ID_VARIABLE"]

#: What the template imports: the kernel's own start-up modules, then what the notebooks' stages use.
#: A module that fails to import is left out (the notebook that needs it then fails as it would anyway).
WARM_MODULES: tuple[str, ...] = (
    "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel.debugger",
    "IPython.core.debugger", "IPython.core.completerlib", "IPython.core.oinspect", "IPython.extensions.storemagic",
    "psutil", "tornado.platform.asyncio",
    "numpy", "pandas", "pandas.io.formats.html", "pandas.io.formats.string", "pyarrow", "scipy.stats",
    "openpyxl", "openpyxl.drawing.image", "PIL.Image", "PIL.PngImagePlugin", "matplotlib.figure",
    "matplotlib.backends.backend_agg", "matplotlib_inline.backend_inline",
    "sampling", "sampling.planning", "sampling.selection", "sampling.evaluation",
    "workbench.engagement", "workbench.population", "workbench.validation", "workbench.receipt",
    "workbench.scope", "workbench.sample", "workbench.procedures", "workbench.testing", "workbench.evaluation",
    "workbench.control_test", "workbench.outcome", "workbench.workpaper", "workbench.workpaper.charts",
    "workbench.library", "workbench.policy", "workbench.judgements", "workbench.occurrences", "workbench.reliance",
    "workbench.request_list", "workbench.results", "workbench.recording", "workbench.evidence", "workbench.freshness",
    "workbench.pipeline", "workbench.display", "workbench.widgets", "workbench.signoff", "workbench.staff",
    # the control library (imported by name when a control first needs its procedure)
    "workbench.procedures.change_management", "workbench.procedures.emergency_change",
    "workbench.procedures.deployment_reconciliation", "workbench.procedures.user_provisioning",
    "workbench.procedures.user_deprovisioning", "workbench.procedures.access_review",
    "workbench.procedures.privileged_access", "workbench.procedures.incident_management",
    "workbench.procedures.backup_monitoring", "workbench.procedures.vendor_management",
    "workbench.procedures.security_training", "workbench.procedures.new_hire_onboarding",
    "workbench.procedures.inspection", "workbench.procedures.automated_control",
)

#: Environment variable of a template (and so of every process forked from it) naming the batch run that
#: started it: a run that takes over a dead run's lock finds leftover processes by it (:func:`processes_of_run`).
RUN_ID_VARIABLE = "WORKBENCH_RUN_ID"

_PR_SET_PDEATHSIG = 1
_ENTRY = "from workbench.kernel_template import serve_template; serve_template()"


class TemplateError(RuntimeError):
    """The kernel template could not start, or stopped answering."""


def warm_kernels_available() -> bool:
    """True where the template can hand out kernels (Linux with ``pidfd_open``)."""
    return hasattr(os, "pidfd_open") and hasattr(socket, "send_fds") and hasattr(signal, "pidfd_send_signal")


# ----------------------------------------------------------------------------------------------------------
# The template process (runs `serve_template`) and its children


class _KernelShellStub:
    """What ``get_ipython()`` returns while the template imports: like a kernel's shell, it has a kernel."""

    kernel = None


def _import_warm_modules(modules: Sequence[str]) -> list[str]:
    """Import ``modules`` as a kernel's cells would meet them; return the ones that failed, with why."""
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")  # as ipykernel sets it
    stub = _KernelShellStub()
    setattr(builtins, "get_ipython", lambda: stub)
    failed = []
    try:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception as error:  # noqa: BLE001 - a notebook needing it will fail with its own message
                failed.append(f"{name}: {type(error).__name__}: {error}")
    finally:
        delattr(builtins, "get_ipython")
    return failed


def serve_template() -> None:
    """Main loop of the template process: import, then fork a kernel (or a call) per request.

    Requests come on the socket passed as file descriptor ``WORKBENCH_TEMPLATE_FD``: a JSON object and
    one file descriptor, the child's standard output and error. Each answer is ``{"pid": ...}`` with a
    pidfd of the child, so that the parent can watch and signal exactly that process. The loop ends when
    the parent's end of the socket closes (the parent exited or was killed): the children are killed.
    """
    fd = int(os.environ.pop("WORKBENCH_TEMPLATE_FD"))
    modules = json.loads(os.environ.pop("WORKBENCH_TEMPLATE_MODULES"))
    channel = socket.socket(fileno=fd)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)          # a stray print during an import goes to the template's log, nowhere else
    failed = _import_warm_modules(modules)
    template = os.getpid()
    children: set[int] = set()

    def reap(*_: object) -> None:
        while True:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            children.discard(pid)

    def stop(*_: object) -> None:
        _kill_all(children)
        os._exit(0)

    signal.signal(signal.SIGCHLD, reap)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # the batch runner decides what an interrupt stops
    channel.send(json.dumps({"ready": os.getpid(), "failed": failed}).encode())
    while True:
        try:
            data, fds, _flags, _address = socket.recv_fds(channel, 1 << 20, 4)
        except OSError:
            break
        if not data:
            break                                   # the parent is gone
        request = json.loads(data)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})   # reap nothing before the pidfd is open
        try:
            pid = os.fork()
            if pid == 0:
                _child(request, fds, channel, template)
            pidfd = os.pidfd_open(pid)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        children.add(pid)
        for descriptor in fds:
            os.close(descriptor)
        try:
            socket.send_fds(channel, [json.dumps({"pid": pid}).encode()], [pidfd])
        except OSError:
            break
        finally:
            os.close(pidfd)
    _kill_all(children)
    os._exit(0)


def _kill_all(children: set[int]) -> None:
    for pid in list(children):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _die_with_parent(parent: int) -> None:
    """Linux: get SIGKILL when the template dies; and exit now if it already has."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    if os.getppid() != parent:
        os._exit(1)


def _child(request: dict[str, Any], fds: list[int], channel: socket.socket, parent: int) -> NoReturn:
    """In a forked child of the template (``parent``): become a kernel, or run a call; never returns."""
    code: int = 1
    try:
        for number in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        _die_with_parent(parent)
        channel.close()
        output = fds[0] if fds else os.open(os.devnull, os.O_WRONLY)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        for descriptor in fds[1:]:
            os.close(descriptor)
        _fresh_random_state()
        if request["op"] == "kernel":
            code = _run_kernel(request, parent)
        else:
            code = _run_call(request)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:  # noqa: BLE001 - the child must end here, whatever happened
        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(BaseException):
            atexit._run_exitfuncs()    # what a process's normal exit runs (the kernel's history, logging)
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _fresh_random_state() -> None:
    """New seeds, as a new process would have: ``random`` reseeds itself after fork, numpy's legacy global does not."""
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


def _run_kernel(request: dict[str, Any], parent: int) -> int:
    """Start an ipykernel as ``python -m ipykernel_launcher ARGV`` would, in this process."""
    cwd = request["cwd"]
    os.chdir(cwd)
    environment = dict(request["env"])
    environment["JPY_PARENT_PID"] = str(parent)   # ipykernel watches its parent: the template
    os.environ.clear()
    os.environ.update(environment)
    from ipykernel import kernelapp

    launcher = importlib.util.find_spec("ipykernel_launcher")
    sys.argv = [str(launcher.origin if launcher else "ipykernel_launcher"), *request["argv"]]
    # traits whose defaults ipykernel reads from the environment when it is imported (in the template)
    kernelapp.IPKernelApp.parent_handle.default_value = int(environment["JPY_PARENT_PID"])
    kernelapp.IPKernelApp.interrupt.default_value = int(environment.get("JPY_INTERRUPT_EVENT") or 0)
    if sys.path and sys.path[0] in ("", "."):
        sys.path[0] = cwd                             # `python -m` puts the working directory first
    kernelapp.launch_new_instance(argv=request["argv"])
    return 0


def _run_call(request: dict[str, Any]) -> int:
    """Run ``module:function(**arguments)`` and write its JSON result atomically to ``result``."""
    module_name, _, function_name = request["function"].partition(":")
    function = getattr(importlib.import_module(module_name), function_name)
    result = function(**request["arguments"])
    path = Path(request["result"])
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(result), encoding="utf-8")
    os.replace(temporary, path)
    return 0


# ----------------------------------------------------------------------------------------------------------
# The parent's side: the template, and its children as processes


class ForkedProcess:
    """A child of the template, watched and signalled through a pidfd (immune to pid reuse).

    It offers what jupyter_client's provisioner uses of a ``subprocess.Popen``: ``pid``, ``poll()``,
    ``wait()``, ``send_signal()``, ``kill()``, ``terminate()`` and ``stdin``/``stdout``/``stderr``
    (None). The exit status belongs to the template, which reaps it; ``returncode`` is 0 once it ended.
    """

    stdin = stdout = stderr = None

    def __init__(self, pid: int, pidfd: int) -> None:
        self.pid = pid
        self._pidfd: int | None = pidfd
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and self._pidfd is not None:
            readable, _, _ = select.select([self._pidfd], [], [], 0)
            if readable:
                self._finish()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None and self._pidfd is not None:
            readable, _, _ = select.select([self._pidfd], [], [], timeout)
            if not readable:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout or 0)
            self._finish()
        return self.returncode if self.returncode is not None else 0

    def send_signal(self, number: int) -> None:
        if self.returncode is None and self._pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, number)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def _finish(self) -> None:
        self.returncode = 0
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def __del__(self) -> None:
        if getattr(self, "_pidfd", None) is not None:
            with contextlib.suppress(OSError):
                os.close(self._pidfd)  # type: ignore[arg-type]


class KernelTemplate:
    """The template process: imports :data:`WARM_MODULES` once, then forks a kernel per notebook.

    Parameters
    ----------
    modules : sequence of str
        What to import before the first fork.
    log : path-like, optional
        The template's own standard error (import warnings, a crash); default discarded.
    new_process_group : bool, default True
        Start it in a process group of its own (its kernels join it): the batch runner stops the whole
        group with one ``killpg(template.process_group, ...)``.
    environment : mapping, optional
        Extra environment variables of the template process (the kernels get the environment their
        kernel manager gives them, not these).

    Starting returns at once; the imports take a second or two, and the first fork waits for them.
    """

    def __init__(self, modules: Sequence[str] = WARM_MODULES, *, log: str | os.PathLike[str] | None = None,
                 new_process_group: bool = True, environment: dict[str, str] | None = None) -> None:
        if not warm_kernels_available():
            raise TemplateError("warm kernels need Linux 5.3 or later (os.pidfd_open)")
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {**os.environ, **(environment or {}), "WORKBENCH_TEMPLATE_FD": str(theirs.fileno()),
               "WORKBENCH_TEMPLATE_MODULES": json.dumps(list(modules))}
        stream: IO[bytes] | int = subprocess.DEVNULL
        if log is not None:
            stream = open(log, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _ENTRY], stdin=subprocess.DEVNULL, stdout=stream, stderr=stream, env=env,
                pass_fds=[theirs.fileno()], close_fds=True, process_group=0 if new_process_group else None)
        finally:
            theirs.close()
            if not isinstance(stream, int):
                stream.close()
        self._channel = mine
        self._lock = threading.Lock()
        self._ready: dict[str, Any] | None = None
        self.process_group: int | None = self.process.pid if new_process_group else None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None and self._channel.fileno() != -1

    def wait_ready(self, timeout: float = 300.0) -> dict[str, Any]:
        """Wait until the imports are done; returns ``{"ready": pid, "failed": [...]}``."""
        with self._lock:
            return self._await_ready(timeout)

    def _await_ready(self, timeout: float) -> dict[str, Any]:
        if self._ready is None:
            self._channel.settimeout(timeout)
            try:
                data = self._channel.recv(1 << 16)
            except OSError as error:
                raise TemplateError(f"the kernel template did not start: {error}") from None
            finally:
                self._channel.settimeout(None)
            if not data:
                raise TemplateError(f"the kernel template exited at start (exit code {self.process.poll()})")
            self._ready = json.loads(data)
        return self._ready

    def _fork(self, request: dict[str, Any], output: int | None) -> ForkedProcess:
        null = None
        if output is None:
            null = output = os.open(os.devnull, os.O_WRONLY)
        try:
            with self._lock:
                self._await_ready(300.0)
                try:
                    socket.send_fds(self._channel, [json.dumps(request).encode()], [output])
                    self._channel.settimeout(60.0)
                    data, fds, _flags, _address = socket.recv_fds(self._channel, 1 << 16, 1)
                except OSError as error:
                    raise TemplateError(f"the kernel template stopped answering: {error}") from None
                finally:
                    with contextlib.suppress(OSError):
                        self._channel.settimeout(None)
        finally:
            if null is not None:
                os.close(null)
        if not data or not fds:
            raise TemplateError(f"the kernel template exited (exit code {self.process.poll()})")
        return ForkedProcess(int(json.loads(data)["pid"]), fds[0])

    def fork_kernel(self, argv: Sequence[str], *, env: dict[str, str], cwd: str,
                    output: int | None = None) -> ForkedProcess:
        """A new kernel: ``python -m ipykernel_launcher ARGV`` in ``cwd`` with ``env``, its stdout and
        stderr on file descriptor ``output`` (default discarded)."""
        return self._fork({"op": "kernel", "argv": list(argv), "env": dict(env), "cwd": cwd}, output)

    def fork_call(self, function: str, arguments: dict[str, Any], result: str | os.PathLike[str], *,
                  output: int | None = None) -> ForkedProcess:
        """A child that runs ``module:function(**arguments)`` and writes its JSON result to ``result``."""
        return self._fork({"op": "call", "function": function, "arguments": arguments, "result": str(result)},
                          output)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the template and its children (closing the socket is the signal)."""
        with contextlib.suppress(OSError):
            self._channel.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __repr__(self) -> str:
        return f"KernelTemplate(pid={self.pid}, alive={self.alive})"


_shared: KernelTemplate | None = None
_shared_lock = threading.Lock()


def use_template(template: KernelTemplate | None) -> KernelTemplate | None:
    """Make ``template`` this process's shared template (None: none); returns the one it replaces."""
    global _shared
    with _shared_lock:
        previous, _shared = _shared, template
    return previous


def shared_template(*, start: bool = True) -> KernelTemplate | None:
    """This process's template, started on first use (None where warm kernels are not available)."""
    global _shared
    with _shared_lock:
        if _shared is not None and not _shared.alive:
            _shared.close()
            _shared = None
        if _shared is None and start and warm_kernels_available():
            _shared = KernelTemplate()
            atexit.register(_shared.close)
        return _shared


def processes_of_run(run_id: str) -> list[int]:
    """Process ids whose start-up environment names batch run ``run_id`` (:data:`RUN_ID_VARIABLE`).

    Reads ``/proc/<pid>/environ`` (Linux; elsewhere an empty list): a template and its children keep the
    environment the template was started with, whatever the children's ``os.environ`` says.
    """
    wanted = f"{RUN_ID_VARIABLE}={run_id}".encode()
    found: list[int] = []
    proc = Path("/proc")
    if not run_id or not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environment = (entry / "environ").read_bytes()
        except OSError:
            continue
        if wanted in environment.split(b"\0"):
            found.append(int(entry.name))
    return sorted(found)
