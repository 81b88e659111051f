"""The lock of an output folder: one ``workbench run`` writes a folder at a time.

``workbench run`` takes ``OUT/run.lock`` before it writes anything in ``OUT`` and keeps it to the end. The
lock is an exclusive ``flock`` on that file, held through an open file descriptor, so the operating system
releases it when the run's process ends in any way (a normal exit, an exception, ``kill -9``, a crash). The
file also says who holds it: process id, host, start time, command and run id (JSON), so that

* a second run on the same folder is refused with :class:`OutputFolderInUse`, naming the holder's process
  id, host and start time, instead of both runs overwriting each other's workpapers;
* a run that finds the lock free but the file still naming a holder knows that the holder ended without
  releasing it (it was killed): it takes the lock over and says so (:attr:`OutputLock.stale`), and the
  batch runner recovers the folder (see ``workbench/batch.py``).

Releasing empties the file and unlocks it; the file stays (deleting a lock file that another process may
have just opened would let two runs lock two different files). On a network file system the lock works
where the file system supports ``flock`` (NFS v4 does, as a POSIX lock; see ``docs/batch.md``).

Public API::

    OutputLock(folder).acquire(holder) -> OutputLock      holder: LockHolder.current(run_id)
    .stale -> LockHolder | None, .release(), with-statement
    LockHolder(pid, host, started, command, run_id)
    OutputFolderInUse, LOCK_FILENAME
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench.errors import InputError
from workbench.files import shared_file_mode

__all__ = ["OutputLock", "LockHolder", "OutputFolderInUse", "LOCK_FILENAME"]

#: The lock file, in the output folder.
LOCK_FILENAME = "run.lock"


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or held) an output folder's lock."""

    pid: int
    host: str
    started: str                 # ISO 8601, UTC, seconds
    command: str
    run_id: str

    @classmethod
    def current(cls, run_id: str, started: str | None = None) -> LockHolder:
        """This process, now (or at ``started``)."""
        return cls(pid=os.getpid(), host=socket.gethostname(),
                   started=started or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                   command=" ".join(["workbench", *sys.argv[1:]]) if sys.argv else "workbench",
                   run_id=run_id)

    @classmethod
    def from_text(cls, text: str) -> LockHolder | None:
        """The holder a lock file names, or None when it names none (empty, or cut short)."""
        try:
            data = json.loads(text)
            return cls(pid=int(data["pid"]), host=str(data["host"]), started=str(data["started"]),
                       command=str(data.get("command", "")), run_id=str(data.get("run_id", "")))
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        return f"process {self.pid}{where}, started {self.started}"

    def alive(self) -> bool | None:
        """Whether the process still exists (None when it ran on another host: cannot tell)."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class OutputFolderInUse(InputError):
    """Another ``workbench run`` holds the output folder's lock.

    Attributes
    ----------
    folder : Path
    holder : LockHolder or None
        Who holds it (None when its lock file could not be read yet).
    """

    def __init__(self, folder: Path, holder: LockHolder | None) -> None:
        self.folder = folder
        self.holder = holder
        who = holder.describe() if holder else "a process that has not written its name yet"
        super().__init__(
            f"{folder} is in use by another `workbench run` ({who}); two runs writing one output folder would "
            f"overwrite each other's workpapers. Wait for it to finish, stop it"
            f"{f' (kill {holder.pid})' if holder else ''}, or give this run another --out.")


class OutputLock:
    """The exclusive lock of one output folder (see the module docstring).

    Parameters
    ----------
    folder : path-like
        The output folder; it must exist.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILENAME
        self.holder: LockHolder | None = None
        self.stale: LockHolder | None = None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, holder: LockHolder) -> OutputLock:
        """Take the lock for ``holder``, or raise :class:`OutputFolderInUse` naming the process that has it.

        When the lock is free but its file still names a holder, that holder ended without releasing it:
        :attr:`stale` names it afterwards (the caller reports the take-over).
        """
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, shared_file_mode())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputFolderInUse(self.folder, self._read_holder()) from None
        except BaseException:
            os.close(fd)
            raise
        self.stale = LockHolder.from_text(_read_all(fd))
        data = json.dumps(asdict(holder), ensure_ascii=False).encode("utf-8")
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        os.fsync(fd)
        self._fd, self.holder = fd, holder
        return self

    def _read_holder(self) -> LockHolder | None:
        # the holder writes its name right after locking: give it a moment before saying "unknown"
        for _ in range(20):
            with contextlib.suppress(OSError):
                holder = LockHolder.from_text(self.path.read_text(encoding="utf-8"))
                if holder is not None:
                    return holder
            time.sleep(0.05)
        return None

    def release(self) -> None:
        """Empty the lock file and unlock it (nothing happens when the lock is not held)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> OutputLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"OutputLock({str(self.folder)!r}, held={self.held})"


def _read_all(fd: int) -> str:
    chunks = []
    offset = 0
    while chunk := os.pread(fd, 1 << 16, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks).decode("utf-8", errors="replace")
