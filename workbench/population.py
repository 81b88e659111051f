"""Populations: a client's export loaded into its kind's canonical schema. Loading reads only.

::

    load_population(engagement, population_id, *, timezone=None) -> Population
    load_population_file(path, *, kind, format="auto", timezone=None, columns=None, name=None,
                         base_folder=None, declared=None) -> Population

Loading reads the file's bytes once: the SHA-256 is computed over exactly the bytes parsed (in a
second thread for large files), the container and format are detected (:mod:`workbench.formats`), the
columns are mapped onto the kind's canonical schema (:mod:`workbench.formats.schemas`), timestamps are
parsed vectorised into tz-aware datetimes in the engagement's zone (times without a zone take that
zone and the assumption is recorded), and every record keeps ``source_row`` (the row a spreadsheet
shows, header = 1, or the JSON path). Problems that make the file unreadable raise
:class:`~workbench.errors.PopulationError` naming the file (and row/column); problems with values
(a date that does not parse) become findings that :func:`workbench.validation.validate` reports.

Nothing is written: pinning the file's SHA-256 in the engagement's results store is its own stage
(:func:`workbench.receipt.pin_populations`), and scoping to the period is :mod:`workbench.scope`.
"""

from __future__ import annotations

import csv
import hashlib
import mmap
import os
import threading
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from workbench.engagement.model import Engagement, PopulationSource
from workbench.errors import PopulationError
from workbench.files import real_path_outside
from workbench.formats import FORMAT_NAMES, FORMATS, detect_format, map_columns
from workbench.formats.spec import format_error, normalize_header, to_boolean
from workbench.formats.dates import parse_timestamp_columns
from workbench.formats.table import RawTable, read_raw
from workbench.formats.schemas import KINDS, SCHEMAS, KindSchema

__all__ = [
    "Population",
    "load_population",
    "load_population_file",
    "FINDING_COLUMNS",
    "Finding",
]

#: Columns of every findings table (load findings here, validation findings in workbench.validation).
FINDING_COLUMNS = ("rule", "column", "row", "value", "severity", "message")
#: One finding: rule, column (as in the file), row (as a spreadsheet shows it, or a JSON path), value,
#: severity (error | warning | info), message.
Finding = tuple[str, str | None, int | str | None, str | None, str, str]

_HASH_IN_THREAD = 8 << 20   # bytes; below this hashing inline is cheaper than starting a thread
_MAX_LISTED = 100           # findings listed one by one per rule and column; the rest are counted

_CHANGE_TYPES = {"standard": "standard", "normal": "normal", "emergency": "emergency",
                 "pre-approved": "standard", "preapproved": "standard", "pre approved": "standard",
                 "expedited": "emergency", "urgent": "emergency", "comprehensive": "normal", "minor": "standard",
                 "major": "normal", "significant": "normal"}


@dataclass(frozen=True, eq=False)
class Population:
    """A client population loaded into its kind's canonical schema.

    Attributes
    ----------
    name : str
        The population id in the engagement (``changes``), or the file name.
    kind : str
        One of :data:`workbench.formats.schemas.KINDS`.
    format : str
        The export format used (detected or named).
    source : pathlib.Path
        The file read (absolute).
    source_relative : str
        The path relative to the engagement folder (``populations/jira_changes_FY26.csv``) when known,
        else the path as given.
    sha256 : str
        SHA-256 of the file's bytes, exactly as parsed.
    frame : pandas.DataFrame
        One row per record: the canonical columns, then ``source_row``.
    key : str
        The canonical key column.
    rows_received : int
        Records in the file (blank rows not counted).
    timezone : str
        IANA zone of every timestamp in ``frame``.
    timezone_assumed : bool
        True when some times had no zone and were read as ``timezone`` wall-clock times.
    notes : tuple of str
        What the loader did that a reviewer should know (encoding, delimiter, headers used, ...).
    findings : tuple of tuple
        Problems found while loading (rule, column, row, value, severity, message), e.g. unparseable dates.
    column_sources : tuple of (str, str)
        Canonical column -> the header (or derivation) it came from.
    encoding, delimiter : str or None
    declared : PopulationSource or None
        The engagement's declaration (who provided it, when, request, query, stated count); None for a
        file loaded on its own.
    """

    name: str
    kind: str
    format: str
    source: Path
    source_relative: str
    sha256: str
    frame: pd.DataFrame
    key: str
    rows_received: int
    timezone: str
    timezone_assumed: bool
    notes: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()
    column_sources: tuple[tuple[str, str], ...] = ()
    encoding: str | None = None
    delimiter: str | None = None
    declared: PopulationSource | None = None

    @property
    def schema(self) -> KindSchema:
        """The kind's canonical schema."""
        return SCHEMAS[self.kind]

    def header_of(self, column: str) -> str:
        """The file's header that fed canonical ``column`` (or the canonical name)."""
        for canonical, header in self.column_sources:
            if canonical == column and header not in ("derived", "(not in the export)"):
                return header
        return column

    def to_table(self, receipt_rows: Sequence[tuple[str, str]] = ()) -> list[tuple[str, str]]:
        """(label, value) rows for a workpaper's population sheet; ``receipt_rows`` (the pinned receipt's
        ``to_table()``) come after the client's declaration."""
        rows = [("Population", self.name), ("Kind", self.kind), ("Format", self.format),
                ("Source file", self.source_relative), ("SHA-256", self.sha256),
                ("Records received", f"{self.rows_received:,}"),
                ("Time zone", f"{self.timezone}" + (" (assumed for times without a zone)"
                                                   if self.timezone_assumed else ""))]
        if self.encoding:
            rows.append(("Encoding", self.encoding))
        declared = self.declared
        if declared is not None:
            for label, value in (("Source system", declared.system), ("Provided by", declared.provided_by),
                                 ("Received", declared.received), ("Request", declared.request),
                                 ("Query / report", declared.query),
                                 ("Count stated by the client", declared.stated_count),
                                 ("Why the count differs (engagement)", declared.stated_count_note)):
                if value is not None:
                    rows.append((label, str(value)))
        rows.extend(receipt_rows)
        for canonical, header in self.column_sources:
            rows.append((f"Column {canonical}", header))
        for note in self.notes:
            rows.append(("Note", note))
        return rows

    def summary(self) -> str:
        """A few lines for people."""
        zone = f"{self.timezone}, assumed for times without a zone" if self.timezone_assumed else self.timezone
        lines = [f"Population {self.name!r} ({self.kind}, format {self.format}): {self.source_relative}",
                 f"  SHA-256 {self.sha256}",
                 f"  {self.rows_received:,} record(s) received" if self.rows_received
                 else "  0 records received (a recorded zero)",
                 f"  times in {zone}"]
        lines += [f"  note: {n}" for n in self.notes]
        errors = sum(1 for f in self.findings if f[4] == "error")
        if errors:
            lines.append(f"  {errors} problem(s) found while loading; run validate() for the report")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"Population(name={self.name!r}, kind={self.kind!r}, format={self.format!r}, "
                f"rows_received={self.rows_received}, sha256={self.sha256[:12]}...)")


def _check_timezone(timezone: str | None, path: Path | None) -> tuple[str, bool]:
    if timezone is None:
        return "UTC", True
    try:
        zoneinfo.ZoneInfo(str(timezone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise format_error("timezone", f"{timezone!r} is not an IANA time zone name (e.g. America/New_York, "
                     f"Europe/Berlin, UTC)", path or Path("?")) from None
    return str(timezone), False


def _read_bytes(path: Path) -> tuple[bytes | mmap.mmap, os.stat_result]:
    """The file's content, read once: bytes, or a read-only memory map for a large file (no copy)."""
    if not path.exists():
        parent = path.parent
        hint = ""
        if parent.is_dir():
            near = sorted(p.name for p in parent.iterdir() if p.suffix.lower() == path.suffix.lower())[:5]
            if near:
                hint = f" Files of that type in {parent}: {', '.join(near)}."
        raise format_error("file", f"no such file.{hint} Check the path (paths in engagement.toml are relative "
                     f"to the engagement folder)", path)
    if path.is_dir():
        raise format_error("file", "this is a directory, not a file; give the export file itself", path)
    try:
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            if stat.st_size >= _HASH_IN_THREAD:
                return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ), stat
            return handle.read(), stat
    except OSError as err:
        raise format_error("file", f"the file cannot be read ({err.strerror or err}); check its permissions",
                     path) from None


def _unchanged(path: Path, stat: os.stat_result) -> None:
    """A large file is read through a memory map: refuse it if it changed while being read."""
    now = os.stat(path)
    if (now.st_size, now.st_mtime_ns) != (stat.st_size, stat.st_mtime_ns):
        raise format_error("file", "the file changed while it was being read; load it again once it is no longer "
                     "being written", path)


def _hash(data: bytes | mmap.mmap) -> tuple[list[str], threading.Thread | None]:
    out: list[str] = []
    if len(data) < _HASH_IN_THREAD:
        out.append(hashlib.sha256(data).hexdigest())
        return out, None
    thread = threading.Thread(target=lambda: out.append(hashlib.sha256(data).hexdigest()), daemon=True)
    thread.start()
    return out, thread


def _resolve_format(raw: RawTable, requested: str, path: Path) -> tuple[str, RawTable]:
    formats = FORMATS
    detected = detect_format(raw)
    name = detected if requested == "auto" else requested
    spec = formats[name]
    if raw.container not in spec.containers:
        raise format_error("format", f"format {name!r} was named, but the file is {raw.container.upper()} "
                     f"({spec.name} exports are {' or '.join(c.upper() for c in spec.containers)}); it looks like "
                     f"a {detected!r} export. Fix the format (or use format \"auto\")", path)
    if requested != "auto" and name != "generic":
        ok = (spec.json_signature(raw.json_data) if raw.container == "json" and spec.json_signature
              else raw.container != "json" and spec.signature({normalize_header(h) for h in raw.headers}))
        if not ok:
            raise format_error("format", f"format {name!r} was named, but the file does not look like a {spec.description} "
                         f"export (its header signature is missing); it looks like a {detected!r} export. "
                         f"Fix the format in engagement.toml (or use \"auto\"), or check this is the right file", path)
    if raw.container == "json" and spec.to_table is not None:
        raw = spec.to_table(raw, path)      # every format that reads JSON turns it into a table itself
    return name, raw


def _finding(rule: str, column: str | None, row: int | str | None, value: object, severity: str,
             message: str) -> Finding:
    return (rule, column, row, None if value is None else str(value), severity, message)


def load_population_file(path: str | os.PathLike[str], *, kind: str, format: str = "auto",
                         timezone: str | None = None, columns: Mapping[str, str] | None = None,
                         name: str | None = None, base_folder: str | os.PathLike[str] | None = None,
                         declared: PopulationSource | None = None) -> Population:
    """Load a population file without an engagement (the command line, tests).

    Parameters
    ----------
    path : path-like
        The export.
    kind : str
        One of ``changes``, ``deployments``, ``incidents``, ``tickets``, ``users``, ``access_requests``,
        ``terminations``, ``access_reviews``, ``backups``, ``vendors``, ``training``.
    format : str, default "auto"
        ``auto`` (detected from the bytes and headers) or one of ``generic``, ``jira``, ``servicenow``,
        ``github``, ``aws-iam``, ``okta``, ``entra``.
    timezone : str, optional
        IANA zone for times without a zone. Default: UTC, and the assumption is recorded.
    columns : mapping, optional
        Column map, canonical column -> header in the file; wins over the format's defaults.
    name : str, optional
        Population name (default: the file name).
    base_folder : path-like, optional
        The engagement folder, to record ``source_relative``.
    declared : PopulationSource, optional
        The engagement's declaration, kept for the workpaper.

    Returns
    -------
    Population

    Raises
    ------
    PopulationError
        When the file cannot be used at all: missing, a directory, empty (no header), binary, not a
        table, not the format named, a corrupt workbook, a required column missing, no header row.
        The message names the file (and row and column where there is one) and what to do.
    """
    path = Path(path)
    if kind not in SCHEMAS:
        raise format_error("kind", f"unknown population kind {kind!r}; use one of: {', '.join(KINDS)}", path)
    if format not in ("auto",) + FORMAT_NAMES:
        raise format_error("format", f"unknown format {format!r}; use auto or one of: {', '.join(FORMAT_NAMES)}", path)
    zone, zone_defaulted = _check_timezone(timezone, path)
    data, stat = _read_bytes(path)
    digest, thread = _hash(data)
    try:
        raw = read_raw(path, data)
        fmt, raw = _resolve_format(raw, format, path)
        mapped = map_columns(raw, fmt, kind, columns, path)
    except PopulationError:
        if thread is not None:
            thread.join()
        raise
    except (csv.Error, UnicodeError, pa.ArrowException, ValueError, OverflowError, RecursionError) as err:
        # a malformed export the readers above did not anticipate: still one clear message, no traceback
        if thread is not None:
            thread.join()
        raise format_error("file", f"the file cannot be read as a {kind} export ({type(err).__name__}: {err}); "
                     f"ask the client to export it again as CSV or .xlsx", path) from None
    schema = SCHEMAS[kind]
    notes = list(raw.notes) + list(mapped.notes)
    if raw.encoding and raw.encoding not in ("ASCII", "UTF-8"):
        notes.append(f"encoding: {raw.encoding}")
    findings: list[Finding] = []
    data_cols: dict[str, Any] = {}
    zone_assumed = False
    rows = raw.source_rows
    stamps = [c for c in schema.timestamps if c in mapped.columns]
    # one day/month order for the whole file, from every date column (parsed side by side when large)
    parsed_columns = parse_timestamp_columns(
        {c: mapped.columns[c] for c in stamps}, zone,
        labels={c: f"{c} ({mapped.sources.get(c, c)!r})" for c in stamps})
    for column in schema.columns:
        array = mapped.columns[column]
        header = mapped.sources.get(column, column)
        if column in schema.timestamps:
            parsed = parsed_columns[column]
            data_cols[column] = parsed.values
            zone_assumed |= parsed.zone_assumed
            if parsed.formats and parsed.formats != ("ISO 8601",):
                notes.append(f"{column} ({header!r}) read with format(s) {', '.join(parsed.formats)}")
            if parsed.ambiguous_order:
                findings.append(_finding("date_order_ambiguous", header, None, None, "warning",
                                         f"{column} ({header!r}): {parsed.ambiguous_order}; confirm the "
                                         f"export's date format with the client"))
            if parsed.order_conflict:
                findings.append(_finding("date_parse", header, None, None, "error",
                                         f"{column} ({header!r}): {parsed.order_conflict}"))
            for note in parsed.notes:
                if note not in notes:
                    notes.append(note)
            bad = parsed.unparsed
            if len(bad):
                values = array.take(pa.array(bad[:_MAX_LISTED])).to_pylist()
                for pos, value in zip(bad[:_MAX_LISTED], values):
                    findings.append(_finding(
                        "date_parse", header, _row(rows[pos]), value, "error",
                        f"{column}: {value!r} is not a date/time this loader can read "
                        f"(formats seen in this column: {', '.join(parsed.formats) or 'none'}); fix the "
                        f"export or give a column map to the right column"))
                if len(bad) > _MAX_LISTED:
                    findings.append(_finding("date_parse", header, None, None, "error",
                                             f"{column}: {len(bad) - _MAX_LISTED:,} more value(s) do not parse"))
        elif column in schema.integers:
            texts = pd.Series(array.to_pandas())
            numbers = pd.to_numeric(texts, errors="coerce")
            bad = numbers.isna().to_numpy() & texts.notna().to_numpy()
            for pos in np.flatnonzero(bad)[:_MAX_LISTED]:
                value = array[int(pos)].as_py()
                findings.append(_finding("number_parse", header, _row(rows[pos]), value, "warning",
                                         f"{column}: {value!r} is not a whole number; read as missing"))
            data_cols[column] = numbers.round().astype("Int64")
        elif column in schema.booleans:
            data_cols[column] = pd.Series(to_boolean(array).to_pandas(
                types_mapper={pa.bool_(): pd.BooleanDtype()}.get), dtype="boolean")
        else:
            if column == "change_type" and kind == "changes":
                array = _normalize_change_type(array, header, rows, findings)
            if not pa.types.is_string(array.type):
                array = array.cast(pa.string())
            data_cols[column] = array.to_pandas()
    if thread is not None:       # hashing ran alongside parsing; it is needed from here on
        thread.join()
        _unchanged(path, stat)
    del data
    if zone_defaulted and zone_assumed:
        notes.append("no time zone given: times without a zone were read as UTC")
    frame = pd.DataFrame(data_cols, copy=False)
    frame["source_row"] = rows if rows.dtype != object else pd.array(rows, dtype="str")
    if raw.table.num_rows == 0:
        notes.append("the file has a header and no records: a recorded zero")
    folder = Path(base_folder).resolve() if base_folder is not None else None
    resolved = path.resolve()
    relative = os.fspath(path)          # as the user gave it (the command line)
    if folder is not None:
        try:
            relative = resolved.relative_to(folder).as_posix()
        except ValueError:
            relative = resolved.as_posix()
    return Population(
        name=name or path.name, kind=kind, format=fmt, source=resolved, source_relative=relative,
        sha256=digest[0], frame=frame, key=schema.key, rows_received=len(frame), timezone=zone,
        timezone_assumed=zone_assumed, notes=tuple(notes), findings=tuple(findings),
        column_sources=tuple((c, mapped.sources.get(c, c)) for c in schema.columns),
        encoding=raw.encoding, delimiter=raw.delimiter, declared=declared)


def _row(value: object) -> int | str:
    return int(value) if isinstance(value, (np.integer, int)) else str(value)


def _normalize_change_type(array: pa.ChunkedArray, header: str, rows: np.ndarray,
                           findings: list[Finding]) -> pa.ChunkedArray:
    distinct = [v for v in pc.unique(array).to_pylist() if v is not None]
    mapping = {}
    for value in distinct:
        low = value.strip().lower()
        mapping[value] = _CHANGE_TYPES.get(low, _CHANGE_TYPES.get(low.replace(" change", "").strip()))
    for value in sorted({v.strip().lower() for v, m in mapping.items() if m is None}):
        findings.append(_finding("change_type", header, None, value, "warning",
                                 f"change_type {value!r} is not standard, normal or emergency; kept as "
                                 f"written: confirm with the client which it is"))
    if all(mapping[v] == v for v in distinct):
        return array
    keys = pa.array(distinct, pa.string())
    values = pa.array([mapping[v] or v.strip().lower() for v in distinct], pa.string())
    return pc.take(values, pc.index_in(array, value_set=keys))


def load_population(engagement: Engagement, population_id: str, *, timezone: str | None = None) -> Population:
    """Load the population declared as ``[populations.<population_id>]`` in the engagement. Reads only.

    Parameters
    ----------
    engagement : Engagement
        A loaded engagement (:func:`workbench.engagement.load_engagement`).
    population_id : str
        The population's id (what the control matrix's ``populations`` column names).
    timezone : str, optional
        Overrides the engagement's zone for times without a zone.

    Returns
    -------
    Population
        With ``name`` = the id, ``source_relative`` relative to the engagement folder and ``declared`` the
        engagement's declaration (provider, date received, request, query, stated count). Its SHA-256 is
        pinned by the next stage, :func:`workbench.receipt.pin_populations`.

    Raises
    ------
    PopulationError
        The file cannot be read as the population.
    """
    source = engagement.population(population_id)
    escaped = real_path_outside(engagement.folder, source.path)
    if escaped is not None:    # checked when the engagement was loaded; a link may have changed since
        raise format_error("file", f"leads outside the engagement folder through a symbolic link (its real path "
                           f"is {escaped}); client files must be inside the folder: copy the file itself into "
                           f"{engagement.folder.name}/populations/", Path(source.file))
    return load_population_file(
        source.path, kind=source.kind, format=source.format or "auto",
        timezone=timezone or engagement.timezone, columns=dict(source.columns or {}), name=source.id,
        base_folder=engagement.folder, declared=source)
