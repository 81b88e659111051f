"""Reading the bytes of an export into a raw table of strings (before any column mapping).

The bytes parsed are the bytes hashed (SHA-256), so the hash is the hash of exactly what was parsed:
:func:`read_raw` parses bytes the caller read whole, :func:`read_csv_stream` parses delimited UTF-8 text
from a stream the caller hashes as it goes (the file is never held in memory whole). The container is told
from the bytes, not trusted from the extension: ``PK`` = an xlsx workbook (checked from its zip directory
before it is opened: :mod:`workbench.workbooks`), ``{``/``[`` = JSON, NUL bytes = binary (refused; UTF-16
without a byte-order mark is recognised as text), otherwise delimited text.

Delimited text
    Encoding: UTF-8, UTF-8 with a BOM, UTF-16 with a BOM (Excel "Unicode text"), and anything else as
    Windows-1252 (real ServiceNow exports carry cp1252 bytes such as 0x96). Delimiter: ``,`` ``;``
    tab or ``|``, whichever splits the header row into most fields. Parsed by pyarrow's CSV reader
    (every column as text); when the file has blank lines or ragged rows the standard ``csv`` module
    reads it instead, so row numbers stay those a spreadsheet shows (header = row 1). Fields of any
    size are read: a row longer than pyarrow's block is retried with a block as large as the file, and
    the ``csv`` module's field limit (128 KB by default) is raised to the size of the text.
    A file named ``.xlsx``/``.xlsm`` that is not a zip workbook is read as text only when its first line
    is delimited (a CSV saved under the wrong name, with a note); otherwise it is reported as "not a
    readable Excel workbook (corrupt or not an .xlsx)", not as a text problem.
Workbooks
    The first visible sheet is read. When it is empty and exactly one other sheet holds data, that sheet
    is read and a note says so (the column mapping still checks it carries the population's columns);
    when several other sheets hold data, the error names them so the client can say which one it is.
Missing values
    cells equal to one of :data:`MISSING_TOKENS` become missing values.
Rows with nothing but delimiters (Excel round-trips leave them) are dropped and counted in a note.
"""

from __future__ import annotations

import csv
import io
import itertools
import mmap
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from workbench.errors import PopulationError

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

__all__ = ["MISSING_TOKENS", "MAX_COLUMNS", "RawTable", "flatten_record", "read_raw", "records_table", "sniff_container",
           "select_records", "json_arrays", "describe_arrays", "utf16_without_bom", "decode_text", "read_csv_stream",
           "STREAM_HEAD"]


def _err(rule: str, message: str, path: Path, *, row: int | str | None = None) -> PopulationError:
    return PopulationError(message, file=path, row=row, rule=rule)

#: Cell values read as missing (formats.md: UCI ``?``, AWS ``N/A``/``no_information``/``not_supported``,
#: HR ``N/A-StillEmployed``, BPIC ``#N/B``/``#MULTIVALUE``, Okta's string ``null``, Excel ``#N/A``).
MISSING_TOKENS: tuple[str, ...] = (
    "", "?", "N/A", "n/a", "#N/A", "no_information", "not_supported", "N/A-StillEmployed",
    "#N/B", "#MULTIVALUE", "null", "NULL",
)

_DELIMITERS = (",", ";", "\t", "|")
_HEAD_SAMPLE = 262144       # bytes read for the delimiter and header (more when the first line is longer)
#: The most columns a population may have: a spreadsheet's limit (Excel, 16,384 = XFD).
MAX_COLUMNS = 16_384
_XLSX_HEADER_SCAN = 10      # rows looked at for a workbook's header row
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")


def _allow_fields_of(size: int) -> None:
    """Let the ``csv`` module read a field as long as ``size`` characters (default limit 128 KB)."""
    if size >= csv.field_size_limit():
        csv.field_size_limit(min(size + 1, 2**31 - 1))


@dataclass
class RawTable:
    """An export as read: original headers (duplicates kept), text columns, and source rows.

    ``table`` has one column per header position, named ``"0"``, ``"1"``, ... so duplicate headers
    survive; ``source_rows`` holds the spreadsheet row (int) or JSON path (str) of every record.
    """

    headers: list[str]
    table: pa.Table
    source_rows: np.ndarray
    container: str                      # csv | xlsx | json
    encoding: str | None = None
    delimiter: str | None = None
    notes: list[str] = field(default_factory=list)
    json_data: object = None           # the parsed document (JSON formats map it themselves)
    json_records: str | None = None    # the records array the user named (--records / records =), if any
    json_prefix: str = "$"             # JSON path of ``json_data`` when it is the named records array
    json_context: object = None        # the object that holds the named array (its siblings: reviews, repo)
    #: values present in the source that the format could not read: (header, row or JSON path, raw value)
    unread: list[tuple[str, int | str, str]] = field(default_factory=list)

    def column(self, position: int) -> pa.ChunkedArray:
        col = self.table.column(position)
        return col if isinstance(col, pa.ChunkedArray) else pa.chunked_array([col])


def utf16_without_bom(head: bytes) -> str | None:
    """``"utf-16-le"``/``"utf-16-be"`` when ``head`` looks like UTF-16 text written without a byte-order mark
    (mostly Latin text: every other byte NUL), else None. Such a file is text, not "binary"."""
    sample = head[:4096]
    sample = sample[: len(sample) - len(sample) % 2]
    half = len(sample) // 2
    if half < 2:
        return None
    odd_nul = sample[1::2].count(0)
    even_nul = sample[0::2].count(0)
    if odd_nul >= 0.6 * half and even_nul <= 0.05 * half:
        return "utf-16-le"
    if even_nul >= 0.6 * half and odd_nul <= 0.05 * half:
        return "utf-16-be"
    return None


def sniff_container(data: bytes | mmap.mmap) -> str:
    """``"xlsx"``, ``"xls"``, ``"json"``, ``"binary"``, ``"html"``, ``"empty"`` or ``"text"``."""
    if data[:4] == b"PK\x03\x04":
        return "xlsx"
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return "xls"
    head = data[:65536]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "text"
    codec = utf16_without_bom(head) if b"\x00" in head[:4096] else None
    if codec is not None:       # what it holds decides (JSON, HTML or delimited text)
        return sniff_container(head[: len(head) - len(head) % 2].decode(codec, errors="replace").encode("utf-8"))
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        return "empty"
    if b"\x00" in head:
        return "binary"
    lowered = stripped[:64].lower()
    if lowered.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")):
        return "html"
    if stripped[:1] in (b"{", b"["):
        return "json"
    # mostly control bytes = not text
    sample = head[:4096]
    controls = sum(1 for b in sample if b < 9 or 13 < b < 32)
    if controls > len(sample) // 20:
        return "binary"
    return "text"


def decode_text(data: bytes | mmap.mmap, *, lazy: bool = False) -> tuple[str | None, bytes | mmap.mmap, str]:
    """Return (text, or None when the bytes are used as UTF-8 directly; UTF-8 bytes; encoding name).

    With ``lazy`` the bytes are not validated here (pyarrow validates UTF-8 while parsing, and the
    caller retries with :func:`transcode` when it fails).
    """
    if data[:3] == b"\xef\xbb\xbf":
        if lazy:
            return None, data, "UTF-8 with BOM"     # pyarrow and the csv module skip the BOM themselves
        body = bytes(data[3:])
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            text = _decode_cp1252(body)
            return text, text.encode("utf-8"), "UTF-8 with BOM (invalid bytes read as Windows-1252)"
        return None, body, "UTF-8 with BOM"
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        text = bytes(data).decode("utf-16")
        return text, text.encode("utf-8"), "UTF-16"
    codec = utf16_without_bom(bytes(data[:4096])) if data.find(b"\x00", 0, 4096) != -1 else None
    if codec is not None:
        text = bytes(data[: len(data) - len(data) % 2]).decode(codec, errors="replace")
        return text, text.encode("utf-8"), f"UTF-16 {codec[-2:].upper()} without a byte-order mark (detected)"
    if lazy:
        return None, data, "UTF-8"
    whole = data if isinstance(data, bytes) else bytes(data)
    try:
        whole.decode("utf-8")
        return None, whole, "UTF-8"
    except UnicodeDecodeError:
        pass
    # Windows-1252 leaves five bytes undefined; those are read as Latin-1 rather than fail
    text = _decode_cp1252(whole)
    return text, text.encode("utf-8"), "Windows-1252"


def _decode_cp1252(data: bytes) -> str:
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return "".join(chr(b) if b in (0x81, 0x8D, 0x8F, 0x90, 0x9D) else bytes([b]).decode("cp1252")
                       for b in data)


def _first_record(text: str, delimiter: str) -> list[str]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for row in reader:
            if row:
                return row
    except csv.Error:
        return []
    return []


def _sniff_delimiter(head: str) -> str:
    best, best_n = ",", 1
    for d in _DELIMITERS:
        n = len(_first_record(head, d))
        if n > best_n:
            best, best_n = d, n
    return best


def _null_mask_tokens(arr: pa.Array) -> pa.Array:
    """Replace missing-value tokens by nulls (exact match, as pyarrow's reader does)."""
    missing = pc.fill_null(pc.is_in(arr, value_set=pa.array(MISSING_TOKENS)), False)
    return pc.if_else(missing, pa.scalar(None, pa.string()), arr)


def _csv_layout(path: Path, head_text: str) -> tuple[str, list[str]]:
    """The delimiter and the header row, from the start of the text (which holds the whole first line)."""
    delimiter = _sniff_delimiter(head_text)
    headers = [h.strip() for h in _first_record(head_text, delimiter)]
    if len(headers) > MAX_COLUMNS:
        raise _err("not_a_table", f"the header row has {len(headers):,} columns ({_DELIMITER_NAMES[delimiter]}-"
                   f"separated); no export of records has that many (a spreadsheet holds at most {MAX_COLUMNS:,}): "
                   f"is it the right file? Ask the client for the population export as CSV or .xlsx", path, row=1)
    if path.suffix.lower() in _WORKBOOK_SUFFIXES and len(headers) <= 1:
        raise _not_a_workbook(path, "its bytes are not a zip workbook and not delimited text")
    if not headers:
        raise PopulationError("the file has no rows at all, not even a header; ask the client for the "
                              "export again (an empty population still has its header row)", file=path)
    return delimiter, headers


def _csv_pool() -> pa.MemoryPool:
    """The pool pyarrow's CSV reader allocates from: jemalloc where the build has it (its parse buffers are
    returned to the system as the read goes on, which halves the peak on small and mid-sized files), else
    the default pool."""
    global _POOL
    if _POOL is None:
        try:
            _POOL = pa.jemalloc_memory_pool()
        except (NotImplementedError, pa.ArrowException):
            _POOL = pa.default_memory_pool()
    return _POOL


_POOL: pa.MemoryPool | None = None


def _pyarrow_csv(source: object, width: int, delimiter: str, quoted: bool, block_size: int | None) -> pa.Table:
    """Every column as text, missing-value tokens as nulls; raises pyarrow's errors (the caller decides)."""
    names = [str(i) for i in range(width)]
    # With ignore_empty_lines=False a blank line is a ragged row, so a file with blank lines or ragged rows
    # fails here and is read by the csv module, which numbers rows exactly.
    return pacsv.read_csv(
        source,
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=1,
                                       **({"block_size": block_size} if block_size else {})),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=quoted, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, null_values=list(MISSING_TOKENS),
            strings_can_be_null=True, quoted_strings_can_be_null=True),
        memory_pool=_csv_pool())


def _csv_table(path: Path, headers: list[str], table: pa.Table, rows: np.ndarray, encoding: str,
               delimiter: str) -> RawTable:
    raw = RawTable(headers, table, rows, "csv", encoding=encoding, delimiter=delimiter)
    if path.suffix.lower() in _WORKBOOK_SUFFIXES:
        raw.notes.append(f"the file is named {path.suffix} but holds delimited text; read as CSV")
    if delimiter != ",":
        raw.notes.append(f"delimiter detected: {_DELIMITER_NAMES[delimiter]}")
    return _finish_rows(path, raw)


#: Bytes read before a streamed file is parsed: enough to tell its container, encoding, delimiter and header.
STREAM_HEAD = 4 << 20


def read_csv_stream(path: Path, head: bytes, stream: io.RawIOBase) -> RawTable | None:
    """Read delimited UTF-8 text by streaming it through pyarrow, without holding the file in memory.

    ``head`` is the file's first bytes (up to :data:`STREAM_HEAD`); ``stream`` gives the whole file from its
    first byte (the caller hashes what it gives). Returns None when the fast path does not apply or fails
    (not UTF-8, a first line longer than the head, quoted line breaks beyond the head, ragged rows, rows
    longer than a block ...): the caller then reads the whole file with :func:`read_raw`, which handles all of
    them. Raises :class:`PopulationError` for a header it refuses (too many columns, none at all).
    """
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or head.find(b"\x00", 0, 4096) != -1:
        return None
    first_line_end = head.find(b"\n")
    if first_line_end < 0:
        return None
    text_head = head[3:] if head[:3] == b"\xef\xbb\xbf" else head
    try:
        head_text = text_head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(text_head) - 4:
            return None                                   # not UTF-8: read whole (Windows-1252 ...)
        head_text = text_head[: err.start].decode("utf-8")
    delimiter, headers = _csv_layout(path, head_text[:max(_HEAD_SAMPLE, first_line_end + 1)])
    width = len(headers)
    if width == 1:
        return None
    quoted = head.find(b'"') != -1
    try:
        table = _pyarrow_csv(pa.PythonFile(stream, mode="r"), width, delimiter, quoted, None)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowException):
        return None
    rows = np.arange(2, table.num_rows + 2, dtype=np.int64)
    encoding = "UTF-8 with BOM" if head[:3] == b"\xef\xbb\xbf" else "UTF-8"
    return _csv_table(path, headers, table, rows, encoding, delimiter)


def _read_csv(path: Path, data: bytes | mmap.mmap) -> RawTable:
    text, utf8, encoding = decode_text(data, lazy=True)
    # the sample read for the delimiter and the header: 256 KB, or the whole first line when it is longer
    # (a header of a million columns is counted, not cut at the sample's end)
    first_line_end = utf8.find(b"\n")
    sample = max(_HEAD_SAMPLE, first_line_end + 1 if first_line_end >= 0 else len(utf8))
    head = utf8[:sample]
    if head[:3] == b"\xef\xbb\xbf":
        head = head[3:]
    try:
        head_text = head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 4:          # not just a character cut at the end of the sample
            text, utf8, encoding = decode_text(data)
            head_text = (text or "")[:sample]
        else:
            head_text = head.decode("utf-8", errors="ignore")
    _allow_fields_of(len(utf8))
    delimiter, headers = _csv_layout(path, head_text)
    width = len(headers)
    table = None
    # quoted line breaks need pyarrow's slower newlines_in_values mode: look for quotes in the first 4 MB
    # (a quoted line break further on makes the fast mode fail, and the next attempt uses the slow one)
    quoted = utf8.find(b'"', 0, 4 << 20) != -1 or (width == 1 and utf8.find(b'"') != -1)
    block_size = None         # pyarrow's default (1 MB); a longer row is retried with a larger block
    for _attempt in range(4):
        try:
            table = _pyarrow_csv(pa.BufferReader(pa.py_buffer(utf8)), width, delimiter, quoted, block_size)
            rows = np.arange(2, table.num_rows + 2, dtype=np.int64)
            break
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowException) as err:
            table = None
            if text is None and "utf8" in str(err).lower().replace("-", ""):
                text, utf8, encoding = decode_text(data)
                continue
            if not quoted and utf8.find(b'"') != -1:
                quoted = True
                continue
            if block_size is None and "straddl" in str(err).lower():
                block_size = min(len(utf8) + 1, 2**31 - 1)     # a row longer than a block
                continue
            break
    if table is None:
        if text is None:
            try:
                text = bytes(utf8).decode("utf-8-sig")
            except UnicodeDecodeError:
                text, utf8, encoding = decode_text(data)
        table, rows = _read_csv_python(path, text if text is not None else bytes(utf8).decode("utf-8"),
                                       delimiter, width)
    return _csv_table(path, headers, table, rows, encoding, delimiter)


def _read_csv_python(path: Path, text: str, delimiter: str, width: int) -> tuple[pa.Table, np.ndarray]:
    _allow_fields_of(len(text))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    cols: list[list[str | None]] = [[] for _ in range(width)]
    rows: list[int] = []
    ordinal = 0
    header_seen = False
    try:
        for record in reader:
            ordinal += 1
            if not header_seen:
                if not record:
                    continue
                header_seen = True
                continue
            if not record or all(not c.strip() for c in record):
                continue   # blank line or bare delimiters
            if len(record) != width:
                if len(record) > width and all(not c.strip() for c in record[width:]):
                    record = record[:width]
                else:
                    if _mostly_inconsistent(text, delimiter, width):
                        raise _err("not_a_table", f"not a table: its lines do not share one number of fields "
                                   f"(the header has {width} with delimiter {_DELIMITER_NAMES[delimiter]}, most "
                                   f"lines differ); is this a report or a note rather than an export? Ask the "
                                   f"client for the list as CSV or .xlsx", path)
                    raise _err("ragged_row",
                               f"this row has {len(record)} fields but the header has {width} "
                               f"(delimiter {_DELIMITER_NAMES[delimiter]}); a value with an unquoted delimiter or "
                               f"a broken line? Re-export the file, or fix the row and deliver it as a new version",
                               path, row=ordinal)
            for i, value in enumerate(record):
                cols[i].append(value)
            rows.append(ordinal)
    except csv.Error as err:
        raise _err("not_a_table", f"not a readable delimited text file ({err}); re-export it as CSV",
                   path, row=ordinal + 1) from None
    arrays = [_null_mask_tokens(pa.array(c, type=pa.string())) for c in cols]
    table = pa.table(arrays, names=[str(i) for i in range(width)])
    return table, np.asarray(rows, dtype=np.int64)


def _mostly_inconsistent(text: str, delimiter: str, width: int, sample: int = 50) -> bool:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    counts = []
    try:
        for record in reader:
            if record:
                counts.append(len(record))
            if len(counts) > sample:
                break
    except csv.Error:
        return True
    body = counts[1:]
    return bool(body) and sum(1 for c in body if c == width) < len(body) / 2


def _finish_rows(path: Path, raw: RawTable) -> RawTable:
    """Drop rows that hold nothing (bare delimiters), with a note."""
    table = raw.table
    if table.num_rows and table.num_columns:
        # fast: a row is empty only if every column is null
        all_null = None
        for col in table.columns:
            isn = pc.is_null(col)
            all_null = isn if all_null is None else pc.and_(all_null, isn)
            if not pc.any(all_null).as_py():
                all_null = None
                break
        if all_null is not None:
            mask = np.asarray(all_null.to_numpy(zero_copy_only=False)
                              if not isinstance(all_null, pa.ChunkedArray)
                              else all_null.combine_chunks().to_numpy(zero_copy_only=False), dtype=bool)
            dropped = raw.source_rows[mask]
            raw.table = table.filter(pa.array(~mask))
            raw.source_rows = raw.source_rows[~mask]
            shown = ", ".join(str(r) for r in dropped[:10]) + (" ..." if len(dropped) > 10 else "")
            raw.notes.append(f"{len(dropped)} empty row(s) (only delimiters) ignored: row(s) {shown}")
    return raw


def _cell_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    text = str(value)
    return None if text in MISSING_TOKENS else text


def _not_a_workbook(path: Path, why: str) -> PopulationError:
    return _err("file", f"not a readable Excel workbook (corrupt or not an .xlsx): {why}. Open it "
                f"in Excel and save it again as .xlsx or CSV, or ask the client to re-export", path)


def _first_cells(ws: Worksheet) -> bool:
    """True when the sheet holds any value (stops at the first one)."""
    for values in ws.iter_rows(values_only=True):
        if any(_cell_text(v) is not None for v in values):
            return True
    return False


def _read_xlsx(path: Path, data: bytes | mmap.mmap) -> RawTable:
    from workbench.workbooks import DAMAGED_WORKBOOK_ERRORS, archive_problem, damage_text  # workbooks only

    problem = archive_problem(data)
    if problem is not None:
        what = "not a readable Excel workbook (corrupt or not an .xlsx)" if problem.damaged else \
            "the workbook is refused before it is opened"
        raise _err("file", f"{what}: {problem}", path)
    from openpyxl.utils.exceptions import InvalidFileException

    damaged: tuple[type[BaseException], ...] = (InvalidFileException, *DAMAGED_WORKBOOK_ERRORS)
    try:
        return _read_sheet(path, bytes(data))
    except PopulationError:
        raise
    except damaged as err:
        raise _err("file", f"not a readable Excel workbook (damaged): {damage_text(err)}; open it in Excel and "
                   f"save it again as .xlsx or CSV, or ask the client to export it again", path) from None


def _read_sheet(path: Path, data: bytes) -> RawTable:
    import openpyxl
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheets = [ws for ws in book.worksheets if getattr(ws, "sheet_state", "visible") == "visible"] \
            or list(book.worksheets)
        if not sheets:
            raise PopulationError("the workbook has no worksheets", file=path)
        ws = sheets[0]
        notes = []
        if len(sheets) > 1 and not _first_cells(ws):
            # the first sheet is empty: read the only sheet with data, or name the candidates
            filled = [other for other in sheets[1:] if _first_cells(other)]
            if len(filled) == 1:
                notes.append(f"the first sheet, {ws.title!r}, is empty; read the only sheet with data, "
                             f"{filled[0].title!r}")
                ws = filled[0]
            elif filled:
                raise _err("file", f"the first sheet, {ws.title!r}, is empty and {len(filled)} other "
                           f"sheets hold data ({', '.join(repr(o.title) for o in filled)}); ask the client "
                           f"which one is the population, or save that sheet alone as .xlsx or CSV", path)
        if len(sheets) > 1 and not notes:
            notes.append(f"workbook has {len(sheets)} sheets; read the first, {ws.title!r}")
        headers: list[str] | None = None
        cols: list[list[str | None]] = []
        rows: list[int] = []
        records = ((number, [_cell_text(v) for v in values])
                   for number, values in enumerate(ws.iter_rows(values_only=True), start=1))
        # the header is the first row about as full as the fullest of the first rows (a title row
        # above the table is allowed)
        head: list[tuple[int, list[str | None]]] = []
        for number, cells in records:
            if any(c is not None for c in cells):
                head.append((number, cells))
            if len(head) >= _XLSX_HEADER_SCAN:
                break
        if head:
            widths = [sum(c is not None for c in cells) for _, cells in head]
            # first row nearly as full as the fullest: a header may leave a column unnamed
            enough = max(1, -(-max(widths) * 4 // 5))
            at = next(i for i, k in enumerate(widths) if k >= enough)
            number, cells = head[at]
            while cells and cells[-1] is None:
                cells.pop()
            headers = ["" if c is None else c.strip() for c in cells]
            if number != 1:
                notes.append(f"header found on row {number} of sheet {ws.title!r}")
            cols = [[] for _ in headers]
            width = len(headers)
            for number, cells in itertools.chain(head[at + 1:], records):
                if all(c is None for c in cells):
                    continue
                if len(cells) > width and any(c is not None for c in cells[width:]):
                    raise _err("ragged_row", f"this row has values beyond the last header column "
                               f"({width} headers)", path, row=number)
                cells = (cells + [None] * width)[:width]
                for i, c in enumerate(cells):
                    cols[i].append(c)
                rows.append(number)
    finally:
        book.close()
    if headers is None:
        raise PopulationError(f"the sheet {ws.title!r} is empty: no header row and no records; an empty "
                              f"population still needs its header row", file=path)
    table = pa.table([pa.array(c, type=pa.string()) for c in cols], names=[str(i) for i in range(len(headers))])
    raw = RawTable(headers, table, np.asarray(rows, dtype=np.int64), "xlsx", notes=notes)
    return raw


def _read_json(path: Path, data: bytes | mmap.mmap) -> RawTable:
    text, utf8, encoding = decode_text(bytes(data))
    body = text if text is not None else bytes(utf8).decode("utf-8")
    try:
        document = json.loads(body)
    except json.JSONDecodeError as err:
        # newline-delimited JSON (one object per line), as log exports write it
        records = []
        for line in body.splitlines():
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise PopulationError(f"not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}); "
                                      f"ask the client for the file as the API returned it", file=path,
                                      row=err.lineno) from None
        document = records
    raw = RawTable([], pa.table({}), np.empty(0, dtype=object), "json", encoding=encoding)
    raw.json_data = document
    return raw


def flatten_record(obj: dict[str, object], prefix: str = "") -> dict[str, object]:
    """A JSON object as one level: nested keys joined with ``.``, a list's items joined with ``"; "``."""
    flat = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_record(value, name + "."))
        elif isinstance(value, list):
            flat[name] = "; ".join(str(v) for v in value)
        else:
            flat[name] = value
    return flat


def _json_value_text(value: object) -> str | None:
    return None if value is None else str(value)


def records_table(records: list[dict[str, object]], prefix: str, *, encoding: str | None = None,
                  notes: list[str] | None = None,
                  cell: Callable[[object], str | None] = _json_value_text) -> RawTable:
    """A :class:`RawTable` of JSON objects: each flattened (:func:`flatten_record`), one text column per key
    in the order keys first appear, ``cell`` turning every value into text (None = missing), and
    ``source_rows`` the JSON path of each object (``<prefix>[i]``)."""
    flats = [flatten_record(o) for o in records]
    headers = list(dict.fromkeys(k for f in flats for k in f))
    cols = [pa.array([cell(f.get(h)) for f in flats], pa.string()) for h in headers]
    table = pa.table(cols, names=[str(i) for i in range(len(headers))]) if headers else pa.table({})
    rows = np.array([f"{prefix}[{i}]" for i in range(len(flats))], dtype=object)
    return RawTable(headers, table, rows, "json", encoding=encoding, notes=list(notes or ()))


def json_arrays(document: object) -> list[tuple[str, int]]:
    """(key, length) of every array of objects directly under a JSON object, for messages."""
    if not isinstance(document, dict):
        return []
    return [(str(k), len(v)) for k, v in document.items()
            if isinstance(v, list) and v and all(isinstance(o, dict) for o in v)]


def describe_arrays(arrays: list[tuple[str, int]]) -> str:
    """``'pulls' (120 objects), 'issues' (80 objects)``."""
    return ", ".join(f"{k!r} ({n:,} object{'s' if n != 1 else ''})" for k, n in arrays) or "none"


def select_records(raw: RawTable, records: str, path: Path) -> RawTable:
    """Point a JSON document's table at the array of records the user named (a key, or a dotted path).

    ``--records pulls`` / ``records = "pulls"``: ``raw.json_data`` becomes that array, ``json_prefix`` its JSON
    path (``$.pulls``) and ``json_context`` the object holding it (formats read its siblings, e.g. GitHub's
    separate ``reviews``). A name that is not there is an error listing the arrays that are.
    """
    if raw.container != "json":
        raise _err("records", f"records = {records!r} names an array of a JSON document, but the file is "
                   f"{raw.container.upper()}; remove it (or --records) for this file", path)
    holder: object = None
    node: object = raw.json_data
    walked: list[str] = []
    for part in records.split("."):
        if not isinstance(node, dict) or part not in node:
            arrays = json_arrays(node if isinstance(node, dict) else None)
            where = "the top level" if not walked else "$." + ".".join(walked)
            from difflib import get_close_matches
            close = get_close_matches(part, [k for k, _ in arrays], n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise _err("records", f"the JSON has no {part!r} at {where}.{hint} Its arrays of records: "
                       f"{describe_arrays(arrays)}; name one with --records NAME (or records = \"NAME\" in "
                       f"[populations.<id>])", path)
        holder, node = node, node[part]
        walked.append(part)
    if not isinstance(node, list) or not all(isinstance(o, dict) for o in node):
        raise _err("records", f"$.{records} is not an array of objects (records), so it cannot be the population; "
                   f"name an array of records with --records (or records = in [populations.<id>])", path)
    raw.json_data, raw.json_prefix, raw.json_context, raw.json_records = node, f"$.{records}", holder, records
    raw.notes.append(f"records read from the JSON array $.{records}"
                     + (f" (the document also holds {describe_arrays([a for a in json_arrays(holder) if a[0] != walked[-1]])})"
                        if len(json_arrays(holder)) > 1 else ""))
    return raw


def read_raw(path: Path, data: bytes | mmap.mmap) -> RawTable:
    """Read ``data`` (the bytes of ``path``) into a :class:`RawTable`, or raise :class:`PopulationError`."""
    container = sniff_container(data)
    if container == "empty":
        raise _err("empty", "the file is empty (no header row, no records); ask the client for the export "
                              "again. A population with no records still has its header row", path)
    if path.suffix.lower() in _WORKBOOK_SUFFIXES and container in ("binary", "xls", "json"):
        if container == "xls":
            raise _not_a_workbook(path, "it is an OLE2 compound file, as Excel writes a password-protected "
                                  "workbook or a legacy .xls; remove the password or save it as .xlsx")
        raise _not_a_workbook(path, "its bytes are not a zip workbook")
    if container == "binary":
        raise PopulationError("the file is binary, not a text export or a workbook (is it the right file? "
                              "a PDF, an image or a zip?); ask the client for the export as CSV or .xlsx",
                              file=path)
    if container == "html":
        raise PopulationError("the file is a web page (HTML/XML), not an export: often a login or error page "
                              "saved by mistake; ask the client to export the list again as CSV or .xlsx",
                              file=path)
    if container == "xls":
        raise PopulationError("the file is a legacy Excel 97-2003 workbook (.xls), which is not read; open it "
                              "in Excel and save it as .xlsx or CSV", file=path)
    if container == "xlsx":
        return _read_xlsx(path, data)
    if container == "json":
        return _read_json(path, data)
    return _read_csv(path, data)
