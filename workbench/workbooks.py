"""Opening an Excel workbook someone sent us, safely: checked before openpyxl expands it.

An ``.xlsx`` file is a zip archive of XML parts. openpyxl trusts it: a small file can expand to gigabytes
(a "zip bomb": a 3 MB workbook took 3.4 GB of memory), and a damaged one raises whatever the zip or XML
layer raises (``ParseError`` for truncated sheet XML, ``RuntimeError`` for an entry flagged as encrypted,
``NotImplementedError`` for an unknown compression method), which a user would see as a traceback.

So every workbook read from a client or a user (a population workbook, ``controls.xlsx``) is first checked
from its zip directory alone (nothing is decompressed): :func:`archive_problem` says what is wrong, or
None. The sizes in the zip directory bound what can come out: Python's ``zipfile`` never returns more
bytes for an entry than its declared size, and fails the CRC check when the data does not match it.

Limits (the total uncompressed size of all the workbook's parts):

* at most :data:`MAX_UNCOMPRESSED_BYTES` (1 GiB) in any case, and
* at most :data:`MAX_EXPANSION_RATIO` (100) times the workbook's size on disk, once the total passes
  :data:`EXPANSION_ALLOWANCE_BYTES` (16 MiB; smaller totals are harmless whatever their ratio).

Real exports compress 5 to 20 times; a repetitive sheet can reach 50. A workbook over a limit is refused
with both figures named: ask the client for the data as CSV.

Then reading errors that mean "damaged" are caught as :data:`DAMAGED_WORKBOOK_ERRORS` and described by
:func:`damage_text`; callers raise their own input error naming the file and what to do.

Public API::

    archive_problem(data) -> ArchiveProblem | None      (what, fix, damaged)
    DAMAGED_WORKBOOK_ERRORS, damage_text(error) -> str
    MAX_UNCOMPRESSED_BYTES, MAX_EXPANSION_RATIO, EXPANSION_ALLOWANCE_BYTES
"""

from __future__ import annotations

import io
import mmap
import struct
import zipfile
import zlib
from dataclasses import dataclass
from xml.etree.ElementTree import ParseError

__all__ = ["archive_problem", "ArchiveProblem", "damage_text", "DAMAGED_WORKBOOK_ERRORS", "MAX_UNCOMPRESSED_BYTES",
           "MAX_EXPANSION_RATIO", "EXPANSION_ALLOWANCE_BYTES"]

#: The most a workbook may expand to (all parts, uncompressed), whatever its size.
MAX_UNCOMPRESSED_BYTES = 1 << 30
#: The most a workbook may expand to, as a multiple of its size on disk (beyond the allowance below).
MAX_EXPANSION_RATIO = 100
#: Below this total (uncompressed) the ratio is not applied: a small workbook cannot exhaust memory.
EXPANSION_ALLOWANCE_BYTES = 16 << 20

#: Compression methods an .xlsx may use (stored, deflate) and Python can read.
_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}

#: What the zip and XML layers raise for a damaged workbook (read as "damaged", never a traceback).
DAMAGED_WORKBOOK_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile, zlib.error, ParseError, RuntimeError, NotImplementedError, EOFError, OSError,
    KeyError, IndexError, ValueError, TypeError, AttributeError, UnicodeError, struct.error, RecursionError,
)


def _mib(size: int) -> str:
    return f"{size / (1 << 20):,.1f} MiB"


@dataclass(frozen=True)
class ArchiveProblem:
    """Why a workbook is not opened: ``what`` was found, the ``fix``, and whether the file is ``damaged``
    (not a workbook at all) rather than refused for safety (encrypted, oversized)."""

    what: str
    fix: str
    damaged: bool = False

    def __str__(self) -> str:
        return f"{self.what}; {self.fix}"


def archive_problem(data: bytes | mmap.mmap) -> ArchiveProblem | None:
    """What makes ``data`` (a workbook's bytes) unsafe or impossible to open, or None.

    Checked from the zip directory only: not a zip, an encrypted entry (a password-protected or damaged
    file), a compression method other than stored/deflate, or an uncompressed size over the limits.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data) as archive:  # type: ignore[arg-type]
            entries = archive.infolist()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, struct.error, IndexError) as error:
        return ArchiveProblem(f"it is not a zip archive, as every .xlsx is ({error})",
                              "open it in Excel and save it again as .xlsx or CSV, or ask for it again", True)
    encrypted = [e.filename for e in entries if e.flag_bits & 0x1]
    if encrypted:
        return ArchiveProblem(f"its part {encrypted[0]!r} is flagged as encrypted (a password-protected or damaged "
                              f"workbook)", "remove the password in Excel and save it again, or ask for the data "
                              "as CSV")
    odd = [e for e in entries if e.compress_type not in _METHODS]
    if odd:
        return ArchiveProblem(f"its part {odd[0].filename!r} uses compression method {odd[0].compress_type}, which "
                              f"an .xlsx never uses (only stored or deflate): the file is damaged or not a real "
                              f"workbook", "ask for it to be exported again, or for the data as CSV", True)
    total = sum(e.file_size for e in entries)
    size = len(data)
    if total > MAX_UNCOMPRESSED_BYTES:
        return ArchiveProblem(f"it would expand to {_mib(total)} ({total:,} bytes), over the limit of "
                              f"{_mib(MAX_UNCOMPRESSED_BYTES)} for any workbook (a \"zip bomb\", or far more data "
                              f"than a workbook should carry)", "ask for the data as CSV")
    if total > EXPANSION_ALLOWANCE_BYTES and total > MAX_EXPANSION_RATIO * max(size, 1):
        return ArchiveProblem(f"it would expand to {_mib(total)} from {size:,} bytes on disk, "
                              f"{total / max(size, 1):,.0f} times its size (the limit is {MAX_EXPANSION_RATIO} "
                              f"times; real exports expand 5 to 20 times): a \"zip bomb\" or a damaged file",
                              "ask for the data as CSV")
    return None


def damage_text(error: BaseException) -> str:
    """A damaged workbook's error as a short phrase (``"truncated or malformed XML (unclosed token ...)"``)."""
    if isinstance(error, ParseError):
        return f"a part of it is truncated or malformed XML ({error})"
    if isinstance(error, (zipfile.BadZipFile, zlib.error, EOFError)):
        return f"its zip data is damaged ({error})"
    if isinstance(error, RuntimeError) and "encrypted" in str(error):
        return f"a part of it is encrypted ({error})"
    if isinstance(error, KeyError):
        return f"a part every workbook has is missing: {error.args[0] if error.args else error}"
    if isinstance(error, NotImplementedError):
        return f"it uses a feature this reader does not support ({error})"
    return f"{type(error).__name__}: {error}"
