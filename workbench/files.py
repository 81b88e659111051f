"""Writing files so that nobody ever reads a half-written one, and hashing them.

Public API::

    replace_atomically(path, write) -> Path      write through a temporary file beside ``path``, then move it
    lock_file_of(path) -> Path | None            a spreadsheet application's lock file beside ``path``, if any
    write_json_atomic(path, payload)             JSON, the same way
    sha256_file(path) -> str                     SHA-256 of a file's bytes, streamed
    shared_file_mode() -> int                    the mode a new file gets from the user's umask
    real_path_outside(folder, path) -> Path | None   where ``path`` really is, when that leaves ``folder``
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["replace_atomically", "lock_file_of", "LOCK_FILE_PATTERNS", "write_json_atomic", "sha256_file", "shared_file_mode", "real_path_outside",
           "JsonValue", "JsonRecord"]

#: A value as JSON holds it, and a JSON object (what ``to_record()`` methods return).
JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]
JsonRecord = dict[str, JsonValue]


def shared_file_mode() -> int:
    """The mode a newly created file would get from the user's umask (0644 under the usual 022)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


#: The lock files spreadsheet applications leave beside a file they have open: LibreOffice's and Excel's.
LOCK_FILE_PATTERNS: tuple[str, ...] = (".~lock.{name}#", "~${name}")


def lock_file_of(path: Path) -> Path | None:
    """The lock file a spreadsheet application keeps beside ``path`` while it has it open, or None."""
    for pattern in LOCK_FILE_PATTERNS:
        candidate = path.parent / pattern.format(name=path.name)
        if candidate.exists():
            return candidate
    return None


def _in_use(path: Path, why: str) -> Exception:
    from workbench.errors import FileInUseError

    return FileInUseError(f"{path}: not replaced, {why}: close it there and run again (if no one has it open, "
                          f"the application ended without removing its lock: delete the lock file). Nothing was "
                          f"written.", path=path)


def replace_atomically(path: Path, write: Callable[[str], object]) -> Path:
    """Write ``path`` through a temporary file beside it, then move it into place: never half written.

    ``write(temporary_name)`` fills the temporary file; it gets the mode any new file would get (not
    mkstemp's 0600: others on a shared drive must read it) and replaces ``path`` with ``os.replace``.
    On any failure the temporary file is removed and the previous ``path`` (if any) is left as it was.

    Raises
    ------
    workbench.errors.FileInUseError
        ``path`` is open in a spreadsheet application: its lock file (:data:`LOCK_FILE_PATTERNS`) is beside
        it (checked before anything is written), or the system refused to replace it (``PermissionError``,
        as Windows does for a file Excel has open).
    """
    lock = lock_file_of(path)
    if lock is not None:
        raise _in_use(path, f"it is open in a spreadsheet application (its lock file {lock.name} is beside it)")
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(temporary)
        os.chmod(temporary, shared_file_mode())
        try:
            os.replace(temporary, path)
        except PermissionError as error:
            raise _in_use(path, f"the system refused to replace it ({error.strerror}): it is probably open in a "
                                f"spreadsheet application") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: Path, payload: object) -> None:
    """Write JSON to a temporary file beside ``path``, then move it into place: never half written."""
    text = json.dumps(payload, indent=2, ensure_ascii=False, default=str)
    replace_atomically(path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def real_path_outside(folder: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path | None:
    """``path``'s real path (symbolic links followed) when it is not inside ``folder``'s real path, else None.

    A client file or an output reached through a symbolic link that leads out of the engagement folder
    is refused wherever the workbench reads or writes it; this says where the link leads.
    """
    real = Path(os.path.realpath(path))
    root = Path(os.path.realpath(folder))
    return None if real == root or root in real.parents else real
