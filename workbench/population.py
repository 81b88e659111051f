"""Populations: a client's export loaded into its kind's canonical schema. Loading reads only.

::

    load_population(engagement, population_id, *, timezone=None) -> Population
    load_populations(engagement, control) -> tuple[Population, ...]     one per testing round
    load_related(engagement, control) -> tuple[Population, ...]         the control's other populations
    load_population_file(path, *, kind, format="auto", timezone=None, columns=None, name=None,
                         base_folder=None, declared=None, records=None, history="all") -> Population

A control with no client export (a procedure of kind ``occurrences``: inspection, automated_control) has a
*derived* population instead of a file: its occurrences, derived from its frequency over the period or listed
in engagement.toml (:mod:`workbench.occurrences`). :func:`load_population` builds it; its SHA-256 is over the
canonical list of occurrences (JSON), it has no receipt (nothing was received) and ``Population.derived`` says
where it came from.

Loading hashes exactly the bytes it parses: delimited UTF-8 text is streamed through the CSV parser and
hashed as it is read (never held in memory whole); anything else is read once whole and hashed in a
second thread while it is parsed (and a streamed file the fast parser cannot read is read again that way).
The container and format are detected (:mod:`workbench.formats`), the
columns are mapped onto the kind's canonical schema (:mod:`workbench.formats.schemas`), timestamps are
parsed vectorised into tz-aware datetimes in the engagement's zone (times without a zone take that
zone and the assumption is recorded), and every record keeps ``source_row`` (the row a spreadsheet
shows, header = 1, or the JSON path). A value the export holds is never dropped silently (an unreadable
one is an error finding on its record); an event log can be read as its records' latest states
(``history="latest"``, :class:`PopulationHistory`). Problems that make the file unreadable raise
:class:`~workbench.errors.PopulationError` naming the file (and row/column); problems with values
(a date that does not parse) become findings that :func:`workbench.validation.validate` reports.

Nothing is written: pinning the file's SHA-256 in the engagement's results store is its own stage
(:func:`workbench.receipt.pin_populations`), and scoping to the period is :mod:`workbench.scope`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import mmap
import os
import threading
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from workbench.display import SummaryText, summary_card
from workbench.engagement.model import HISTORY_MODES, OCCURRENCE_SOURCES, Control, Engagement, PopulationSource
from workbench.errors import EngagementError, PopulationError
from workbench.files import real_path_outside
from workbench.formats import FORMAT_NAMES, FORMATS, Mapped, detect_format, map_columns
from workbench.formats.spec import format_error, normalize_header, to_boolean
from workbench.formats.dates import parse_timestamp_columns, parse_timestamps
from workbench.formats.table import STREAM_HEAD, RawTable, read_csv_stream, read_raw, select_records, sniff_container
from workbench.formats.schemas import KINDS, SCHEMAS, KindSchema
from workbench.occurrences import derive_occurrences, occurrence_window

__all__ = [
    "Population",
    "PopulationHistory",
    "VERSION_COUNTERS",
    "UPDATE_TIMES",
    "load_population",
    "load_populations",
    "load_related",
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

_CHANGE_TYPES = {"standard": "standard", "normal": "normal", "emergency": "emergency",
                 "pre-approved": "standard", "preapproved": "standard", "pre approved": "standard",
                 "expedited": "emergency", "urgent": "emergency", "comprehensive": "normal", "minor": "standard",
                 "major": "normal", "significant": "normal"}


#: Headers (compared loosely) of a modification counter: a row per update of a record (ServiceNow audit trail).
VERSION_COUNTERS: tuple[str, ...] = ("sys_mod_count", "mod_count", "modification_count", "update_count")
#: Headers (compared loosely) of an update time.
UPDATE_TIMES: tuple[str, ...] = ("sys_updated_on", "sys_updated_at", "updated_at", "updated", "last_updated",
                                 "lastupdated", "last_modified", "modified_at", "modified")


@dataclass(frozen=True, eq=False)
class PopulationHistory:
    """An event log read as its records' latest states (``history = "latest"``, ``--latest-per-key``).

    Attributes
    ----------
    key : str
        The canonical key whose repeats are states of one record.
    ordered_by : tuple of str
        The file's headers that ordered the states, most significant first (a modification counter,
        then an update time); empty when the file has neither and the order of the rows was used.
    rows : int
        Rows in the file: every state of every record.
    records : int
        Records: the latest states, tested as the population.
    states : pandas.DataFrame
        One row per record with more than one state: ``key``, ``states``, ``first_row``, ``last_row``
        (source rows of its first and latest state) and, for each ordering header, its first and last value.
    earlier : pandas.DataFrame
        The earlier states (every state but the latest of each record): canonical columns and ``source_row``.
    ties : int
        Records whose two latest states share their counter and time (the later row in the file was taken).
    """

    key: str
    ordered_by: tuple[str, ...]
    rows: int
    records: int
    states: pd.DataFrame
    earlier: pd.DataFrame
    ties: int = 0

    def note(self) -> str:
        """One line for the population's notes."""
        by = " then ".join(repr(h) for h in self.ordered_by) or "the order of the rows in the file"
        return (f"event log read as its latest states (history = latest): {self.rows:,} rows for {self.records:,} "
                f"records; the latest state of each {self.key} by {by} is tested, {len(self.earlier):,} earlier "
                f"state(s) of {len(self.states):,} record(s) are kept for the workpaper")

    def to_table(self) -> list[tuple[str, str]]:
        """(label, value) rows for the workpaper's population sheet."""
        return [("History", "latest state of each record (event log)"),
                ("States ordered by", " then ".join(self.ordered_by) or "the order of the rows in the file"),
                ("Rows in the file (states)", f"{self.rows:,}"),
                ("Records (latest states tested)", f"{self.records:,}"),
                ("Records with earlier states", f"{len(self.states):,}"),
                ("Earlier states kept", f"{len(self.earlier):,}")]


@dataclass(frozen=True, eq=False)
class Population(SummaryText):
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
    history : PopulationHistory or None
        Set when an event log was read as its latest states; ``frame`` then holds one row per record.
    versioned_by : tuple of str
        Headers of the file that look like a modification counter or an update time (an event log's
        signature when keys repeat; see :data:`VERSION_COUNTERS`, :data:`UPDATE_TIMES`).
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
    history: PopulationHistory | None = None
    versioned_by: tuple[str, ...] = ()

    @property
    def schema(self) -> KindSchema:
        """The kind's canonical schema."""
        return SCHEMAS[self.kind]

    @property
    def derived(self) -> str | None:
        """None for a client file; for the occurrences of a control with no client export, how they are known:
        ``frequency``, ``period_end`` or ``listed`` (:data:`workbench.engagement.OCCURRENCE_SOURCES`)."""
        return getattr(self.declared, "derived", None) if self.declared is not None else None

    def header_of(self, column: str) -> str:
        """The file's header that fed canonical ``column`` (or the canonical name)."""
        for canonical, header in self.column_sources:
            if canonical == column and header not in ("derived", "(not in the export)"):
                return header
        return column

    def to_table(self, receipt_rows: Sequence[tuple[str, str]] = ()) -> list[tuple[str, str]]:
        """(label, value) rows for a workpaper's population sheet; ``receipt_rows`` (the pinned receipt's
        ``to_table()``) come after the client's declaration."""
        if self.derived is not None:
            rows = [("Population", self.name), ("Kind", self.kind), ("Source", self.source_relative),
                    ("SHA-256 (of the list of occurrences)", self.sha256),
                    ("Occurrences", f"{self.rows_received:,}"), ("Time zone", self.timezone)]
            rows.extend(receipt_rows)
            rows += [("Note", note) for note in self.notes]
            return rows
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
        if self.history is not None:
            rows.extend(self.history.to_table())
        for canonical, header in self.column_sources:
            rows.append((f"Column {canonical}", header))
        for note in self.notes:
            rows.append(("Note", note))
        return rows

    def summary(self) -> str:
        """A few lines for people."""
        zone = f"{self.timezone}, assumed for times without a zone" if self.timezone_assumed else self.timezone
        received = (f"  {self.rows_received:,} record(s) received" if self.rows_received
                    else "  0 records received (a recorded zero)")
        if self.history is not None:
            received = (f"  {self.history.rows:,} rows received: the states of {self.history.records:,} record(s), "
                        f"the latest of each tested (event log)")
        lines = [f"Population {self.name!r} ({self.kind}, format {self.format}): {self.source_relative}",
                 f"  SHA-256 {self.sha256}",
                 received,
                 f"  times in {zone}"]
        lines += [f"  note: {n}" for n in self.notes]
        errors = sum(1 for f in self.findings if f[4] == "error")
        if errors:
            lines.append(f"  {errors} problem(s) found while loading; run validate() for the report")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The summary as a compact card (the SHA-256 and notes included)."""
        return summary_card(self.summary(), css_class="wb-population")

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


def _check_file(path: Path) -> None:
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


class _HashingReader(io.RawIOBase):
    """A file read once, front to back, hashed as it is read: the SHA-256 is of exactly the bytes parsed."""

    def __init__(self, handle: io.BufferedReader) -> None:
        super().__init__()
        self.handle, self.digest = handle, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.handle.readinto(buffer)
        if n:
            self.digest.update(memoryview(buffer)[:n])
        return n or 0

    def hexdigest(self) -> str:
        """The SHA-256 of the whole file (what the parser left unread, if anything, is read and hashed too)."""
        while chunk := self.handle.read(1 << 20):
            self.digest.update(chunk)
        return self.digest.hexdigest()


def _read_and_hash(path: Path) -> tuple[RawTable, Callable[[], str]]:
    """Read the export once and hash the same bytes: (raw table, a call that waits for the SHA-256).

    Delimited UTF-8 text is streamed through the CSV parser and hashed as it is read, so the file is never
    held in memory whole (:func:`~workbench.formats.table.read_csv_stream`); anything else (workbooks,
    JSON, other encodings, files the fast parser cannot read) is read whole: bytes, or a read-only memory
    map for a large file, hashed in a second thread while it is parsed.
    """
    _check_file(path)
    try:
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            head = handle.read(STREAM_HEAD)
            if sniff_container(head) == "text":
                handle.seek(0)
                reader = _HashingReader(handle)
                streamed = read_csv_stream(path, head, reader)
                if streamed is not None:
                    streamed_digest = reader.hexdigest()

                    def checked() -> str:
                        _unchanged(path, stat)
                        return streamed_digest
                    return streamed, checked
            handle.seek(0)
            data: bytes | mmap.mmap = (mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
                                       if stat.st_size >= _HASH_IN_THREAD else handle.read())
    except OSError as err:
        raise format_error("file", f"the file cannot be read ({err.strerror or err}); check its permissions",
                     path) from None
    hashed, thread = _hash(data)

    def finish() -> str:
        if thread is not None:       # hashing ran alongside parsing
            thread.join()
            _unchanged(path, stat)
        return hashed[0]

    try:
        return read_raw(path, data), finish
    except BaseException:
        if thread is not None:
            thread.join()
        raise


def _settle(finish: Callable[[], str] | None) -> None:
    """Wait for a hashing thread before an error leaves the loader (the file's problem is reported, not this)."""
    if finish is not None:
        try:
            finish()
        except PopulationError:
            pass


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
                         declared: PopulationSource | None = None, records: str | None = None,
                         history: str = "all") -> Population:
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
    records : str, optional
        A JSON document holding several arrays: the key (or dotted path) of the array of records.
    history : {"all", "latest"}, default "all"
        ``"latest"`` for an event log (one row per update of a record): each key's latest state is the
        record, by its modification counter, else its update time, else its position in the file; the
        earlier states are kept in :attr:`Population.history`.

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
    if history not in HISTORY_MODES:
        raise format_error("history", f"unknown history {history!r}; use one of: {', '.join(HISTORY_MODES)}", path)
    zone, zone_defaulted = _check_timezone(timezone, path)
    finish_hash: Callable[[], str] | None = None
    try:
        raw, finish_hash = _read_and_hash(path)
        if records is not None:
            raw = select_records(raw, records, path)
        fmt, raw = _resolve_format(raw, format, path)
        mapped = map_columns(raw, fmt, kind, columns, path)
    except PopulationError:
        _settle(finish_hash)
        raise
    except (csv.Error, UnicodeError, pa.ArrowException, ValueError, OverflowError, RecursionError) as err:
        # a malformed export the readers above did not anticipate: still one clear message, no traceback
        _settle(finish_hash)
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
                values = array.take(pa.array(bad)).to_pylist()       # every one: counts are exact
                for pos, value in zip(bad, values):
                    findings.append(_finding(
                        "date_parse", header, _row(rows[pos]), value, "error",
                        f"{column}: {value!r} is not a date/time this loader can read "
                        f"(formats seen in this column: {', '.join(parsed.formats) or 'none'}); fix the "
                        f"export or give a column map to the right column"))
        elif column in schema.integers:
            texts = pd.Series(array.to_pandas())
            numbers = pd.to_numeric(texts, errors="coerce")
            bad = numbers.isna().to_numpy() & texts.notna().to_numpy()
            positions = np.flatnonzero(bad)
            for pos, value in zip(positions, array.take(pa.array(positions)).to_pylist()):
                findings.append(_finding("number_parse", header, _row(rows[pos]), value, "warning",
                                         f"{column}: {value!r} is not a whole number; read as missing"))
            data_cols[column] = numbers.round().astype("Int64")
        elif column in schema.booleans:
            flags = to_boolean(array)
            if pa.types.is_string(array.type):
                unreadable = np.flatnonzero(np.asarray(pc.and_(pc.is_valid(array), pc.is_null(flags))
                                                       .to_numpy(zero_copy_only=False), dtype=bool))
                for pos, value in zip(unreadable, array.take(pa.array(unreadable)).to_pylist()):
                    findings.append(_finding("unread_value", header, _row(rows[pos]), value, "warning",
                                             f"{column}: {value!r} is not a yes/no value (true/false, yes/no, 1/0, "
                                             f"enabled/disabled, active/inactive); read as missing"))
            data_cols[column] = pd.Series(flags.to_pandas(
                types_mapper={pa.bool_(): pd.BooleanDtype()}.get), dtype="boolean")
        else:
            if column == "change_type" and kind == "changes":
                array = _normalize_change_type(array, header, rows, findings)
            if not pa.types.is_string(array.type):
                array = array.cast(pa.string())
            data_cols[column] = array.to_pandas()
    _control_characters(mapped.columns[schema.key], schema.key, mapped.sources.get(schema.key, schema.key), rows,
                        findings)
    _unread_values(raw, mapped, schema, data_cols, findings)
    sha256 = finish_hash()          # hashing ran alongside parsing; it is needed from here on
    if zone_defaulted and zone_assumed:
        notes.append("no time zone given: times without a zone were read as UTC")
    frame = pd.DataFrame(data_cols, copy=False)
    frame["source_row"] = rows if rows.dtype != object else pd.array(rows, dtype="str")
    if raw.table.num_rows == 0:
        notes.append("the file has a header and no records: a recorded zero")
    versioned_by = _versioning_headers(raw)
    states = None
    if history == "latest":
        frame, states = _latest_states(frame, schema.key, mapped.sources.get(schema.key, schema.key), raw,
                                       versioned_by, zone, findings)
        notes.append(states.note())
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
        sha256=sha256, frame=frame, key=schema.key, rows_received=len(frame), timezone=zone,
        timezone_assumed=zone_assumed, notes=tuple(notes), findings=tuple(findings),
        column_sources=tuple((c, mapped.sources.get(c, c)) for c in schema.columns),
        encoding=raw.encoding, delimiter=raw.delimiter, declared=declared, history=states,
        versioned_by=versioned_by)


_CONTROL_NAMES = {"\r": "a carriage return", "\n": "a line feed", "\t": "a tab", "\x00": "a NUL byte"}


def _has_control_bytes(chunk: pa.Array) -> bool:
    """True when the chunk's character data holds a byte below 0x20 or 0x7F (UTF-8 never uses them otherwise)."""
    data = chunk.buffers()[2]
    if data is None or chunk.offset or len(chunk) == 0:
        return chunk.offset > 0 and len(chunk) > 0      # a sliced chunk: let the regex decide
    offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32, count=len(chunk) + 1)
    text = np.frombuffer(data, dtype=np.uint8, count=int(offsets[-1]) - int(offsets[0]), offset=int(offsets[0]))
    return bool((text < 0x20).any() or (text == 0x7F).any())


def _control_characters(keys: pa.Array | pa.ChunkedArray, key: str, header: str, rows: np.ndarray,
                        findings: list[Finding]) -> None:
    """Keys holding control characters (a carriage return, a NUL ...) are errors at load, row by row: nobody
    sees them, yet ``'CHG-1\\r'`` is another record than ``'CHG-1'`` wherever keys are compared."""
    if not pa.types.is_string(keys.type) or len(keys) == 0:
        return
    chunks = keys.chunks if isinstance(keys, pa.ChunkedArray) else [keys]
    if not any(_has_control_bytes(chunk) for chunk in chunks):
        return                  # one pass over the bytes; the regex below only runs when there is one
    hits = pc.fill_null(pc.match_substring_regex(keys, r"[\x00-\x1f\x7f]"), False)
    if not pc.any(hits).as_py():
        return
    positions = np.flatnonzero(np.asarray(hits.to_numpy(zero_copy_only=False) if isinstance(hits, pa.Array)
                                          else hits.combine_chunks().to_numpy(zero_copy_only=False), dtype=bool))
    for pos, value in zip(positions, keys.take(pa.array(positions)).to_pylist()):
        found = sorted({c for c in value if ord(c) < 32 or ord(c) == 127})
        names = ", ".join(_CONTROL_NAMES.get(c, f"the control character U+{ord(c):04X}") for c in found)
        findings.append(_finding(
            "key_characters", header, _row(rows[pos]), value, "error",
            f"{key} {value!r} holds {names}, which nobody sees but which makes it another key than "
            f"{value.strip()!r} wherever keys are compared; ask the client to export the file again, or remove "
            f"the character and deliver the file as a new version"))


def _unread_values(raw: RawTable, mapped: Mapped, schema: KindSchema, data_cols: dict[str, Any],
                   findings: list[Finding]) -> None:
    """Values the export holds that could not be read are never dropped silently.

    Each value a format could not read (a GitHub person field that is neither a login nor ``{"login": ...}``)
    is an error on its record; a typed column (dates, numbers, flags) whose source holds values but that
    comes out empty on every record is an error naming the column and a raw value.
    """
    by_header = {header: canonical for canonical, header in mapped.sources.items()}
    for header, row, value in raw.unread:
        column = by_header.get(header, header)
        findings.append(_finding(
            "unread_value", header, row, value, "error",
            f"{column}: the export holds {value} here, which is not a value this loader can read, so {column} "
            f"would be empty on this record; nothing is dropped silently: ask for the export in a documented "
            f"shape, or report the shape so it can be read"))
    n = raw.table.num_rows
    for column in (*schema.timestamps, *schema.integers, *schema.booleans):
        source = mapped.columns.get(column)
        result = data_cols.get(column)
        if n == 0 or source is None or result is None or not pa.types.is_string(source.type):
            continue
        present = len(source) - source.null_count
        if present and not result.notna().any():
            first = int(np.flatnonzero(np.asarray(pc.is_valid(source).to_numpy(zero_copy_only=False),
                                                  dtype=bool))[0])
            header = mapped.sources.get(column, column)
            findings.append(_finding(
                "values_lost", header, _row(raw.source_rows[first]), source[first].as_py(), "error",
                f"{column} ({header!r}) comes out empty on every record, yet the export holds {present:,} "
                f"value(s) there, such as {source[first].as_py()!r}: none could be read. Map {column} to the "
                f"right column (a column map), or ask the client for the export in a readable form"))


def _versioning_headers(raw: RawTable) -> tuple[str, ...]:
    """The file's headers that look like a modification counter, then those like an update time."""
    found = []
    for names in (VERSION_COUNTERS, UPDATE_TIMES):
        for name in names:
            found += [h for h in raw.headers if normalize_header(h) == name and h not in found]
    return tuple(found)


def _latest_states(frame: pd.DataFrame, key: str, header: str, raw: RawTable, versioned_by: tuple[str, ...],
                   zone: str, findings: list[Finding]) -> tuple[pd.DataFrame, PopulationHistory]:
    """Keep each key's latest state (by counter, then update time, then position in the file)."""
    n = len(frame)
    positions = np.arange(n)
    counters = [h for h in versioned_by if normalize_header(h) in VERSION_COUNTERS][:1]
    times = [h for h in versioned_by if normalize_header(h) in UPDATE_TIMES][:1]
    ordered_by = tuple(counters + times)
    order_values: dict[str, pd.Series] = {}
    sort_keys: list[np.ndarray] = []
    for h in ordered_by:
        column = raw.column(raw.headers.index(h))
        if h in counters:
            values = pd.to_numeric(pd.Series(column.to_pandas()), errors="coerce")
            sort_keys.append(values.fillna(-np.inf).to_numpy(dtype=float))
        else:
            values = parse_timestamps(column, zone).values
            stamps = values.to_numpy(dtype="datetime64[ns]") if len(values) else np.empty(0, "datetime64[ns]")
            sort_keys.append(np.where(np.isnat(stamps), np.iinfo(np.int64).min, stamps.astype(np.int64)))
        order_values[h] = values.reset_index(drop=True)
    codes, _ = pd.factorize(frame[key], use_na_sentinel=True)
    order = np.lexsort((positions, *reversed(sort_keys), codes))
    ordered_codes = codes[order]
    last = np.ones(n, dtype=bool)
    first = np.ones(n, dtype=bool)
    if n:
        last[:-1] = ordered_codes[:-1] != ordered_codes[1:]
        first[1:] = ordered_codes[1:] != ordered_codes[:-1]
    last |= ordered_codes == -1            # a record without a key stands alone (reported as missing its key)
    first |= ordered_codes == -1
    ties = 0
    if n > 1 and sort_keys:
        same = np.ones(n - 1, dtype=bool)
        for sort_key in sort_keys:
            ordered = sort_key[order]
            same &= ordered[1:] == ordered[:-1]
        ties = int((same & last[1:] & (ordered_codes[1:] == ordered_codes[:-1]) & (ordered_codes[1:] != -1)).sum())
    latest = np.sort(order[last])
    earlier_positions = np.sort(order[~last])
    counts = np.bincount(codes[codes >= 0], minlength=int(codes.max()) + 1 if n and codes.max() >= 0 else 0)
    firsts, lasts = order[first & (ordered_codes != -1)], order[last & (ordered_codes != -1)]
    repeated = counts[codes[lasts]] > 1
    firsts, lasts = firsts[repeated], lasts[repeated]
    rows = frame["source_row"].to_numpy()
    table: dict[str, object] = {"key": frame[key].to_numpy()[lasts], "states": counts[codes[lasts]],
                                "first_row": rows[firsts], "last_row": rows[lasts]}
    for h, values in order_values.items():
        table[f"first {h}"] = values.to_numpy()[firsts]
        table[f"last {h}"] = values.to_numpy()[lasts]
    states = pd.DataFrame(table)
    if not ordered_by and len(states):
        findings.append(_finding(
            "history_order", header, None, None, "warning",
            f"the file has no modification counter or update time (looked for {', '.join(VERSION_COUNTERS)}; "
            f"{', '.join(UPDATE_TIMES)}), so the last row of each {key} in the file was taken as its latest state; "
            f"confirm with the client that the export is in the order the updates happened"))
    if ties:
        findings.append(_finding(
            "history_order", header, None, ties, "warning",
            f"{ties:,} record(s) have two latest states with the same {' and '.join(ordered_by)}; the later row in "
            f"the file was taken as the latest: confirm with the client"))
    history = PopulationHistory(key=key, ordered_by=ordered_by, rows=n, records=len(latest), states=states,
                                earlier=frame.iloc[earlier_positions].reset_index(drop=True), ties=ties)
    return frame.iloc[latest].reset_index(drop=True), history


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
    if getattr(source, "derived", None) is not None:
        return _occurrences(engagement, source, timezone or engagement.timezone)
    escaped = real_path_outside(engagement.folder, source.path)
    if escaped is not None:    # checked when the engagement was loaded; a link may have changed since
        raise format_error("file", f"leads outside the engagement folder through a symbolic link (its real path "
                           f"is {escaped}); client files must be inside the folder: copy the file itself into "
                           f"{engagement.folder.name}/populations/", Path(source.file))
    return load_population_file(
        source.path, kind=source.kind, format=source.format or "auto",
        timezone=timezone or engagement.timezone, columns=dict(source.columns or {}), name=source.id,
        base_folder=engagement.folder, declared=source, records=source.records, history=source.history)


def load_populations(engagement: Engagement, control: Control) -> tuple[Population, ...]:
    """Load the population a control's procedure tests in each testing round, in round order. Reads only.

    One population for an engagement tested in one round (the period, or the as-of window); with
    ``[[rounds]]``, each round's own export (an interim export and a roll-forward export are populations of
    their own). See :meth:`workbench.engagement.Engagement.tested_populations`.
    """
    return tuple(load_population(engagement, population_id)
                 for _, population_id in engagement.tested_populations(control))


def load_related(engagement: Engagement, control: Control) -> tuple[Population, ...]:
    """Load the control's other populations (the listings and logs its checks join with). Reads only."""
    return tuple(load_population(engagement, population_id)
                 for population_id in engagement.related_populations(control))


def _occurrences(engagement: Engagement, source: PopulationSource, timezone: str) -> Population:
    """The derived population of a control with no client export: its occurrences as a canonical frame."""
    control = engagement.control(source.control_id or "")
    window_start, window_end = occurrence_window(engagement)
    origin = OCCURRENCE_SOURCES.get(source.derived or "", str(source.derived))
    records: list[tuple[str, str, object, object]] = []   # id, description, starts, due
    if source.derived == "listed":
        records = [(o.id, o.description or "", o.date, o.date) for o in source.occurrences]
        note = (f"{len(records):,} occurrence(s) of {control.id} listed in engagement.toml "
                f"([[controls.{control.id}.occurrences]]).")
    elif source.derived == "period_end":
        starts = window_start if engagement.report_type == "type2" else window_end
        records = [(f"configuration-as-of-{window_end.isoformat()}",
                    f"The configuration of {control.id} as of {window_end.isoformat()} "
                    + ("(the end of the period)" if engagement.report_type == "type2" else "(the as-of date)"),
                    starts, window_end)]
        note = (f"One occurrence derived for {control.id}: the configuration as of {window_end.isoformat()} (an "
                f"automated control is tested on one instance).")
    else:
        try:
            derived = derive_occurrences(control.frequency, window_start, window_end,
                                         backwards=engagement.report_type == "type1")
        except EngagementError as error:  # a frequency that cannot be derived
            raise PopulationError(f"control {control.id}: {error}", file=source.file) from None
        records = [(o.id, o.description, o.starts, o.due) for o in derived]
        window = (f"the period {window_start.isoformat()} to {window_end.isoformat()}"
                  if engagement.report_type == "type2" else
                  f"the look-back window {window_start.isoformat()} to {window_end.isoformat()} (counted back from "
                  f"the as-of date)")
        note = (f"{len(records):,} occurrence(s) derived from {control.id}'s frequency "
                f"({control.frequency.replace('_', ' ')}) over {window}.")
    canonical = [{"occurrence_id": oid, "control_id": control.id, "description": text,
                  "starts_at": str(starts), "due_at": str(due), "source": origin}
                 for oid, text, starts, due in records]
    sha256 = hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                            .encode("utf-8")).hexdigest()

    def stamps(values: list[object]) -> pd.Series:
        return pd.Series(pd.to_datetime([str(v) for v in values]), dtype="datetime64[us]").dt.tz_localize(timezone)

    frame = pd.DataFrame({
        "occurrence_id": pd.array([r[0] for r in records], dtype="str"),
        "control_id": pd.array([control.id] * len(records), dtype="str"),
        "description": pd.array([r[1] or None for r in records], dtype="str"),
        "starts_at": stamps([r[2] for r in records]),
        "due_at": stamps([r[3] for r in records]),
        "source": pd.array([origin] * len(records), dtype="str"),
    })
    frame["source_row"] = np.arange(1, len(records) + 1, dtype=np.int64)
    return Population(
        name=source.id, kind=source.kind, format="derived", source=Path(source.path), source_relative=origin,
        sha256=sha256, frame=frame, key=SCHEMAS[source.kind].key, rows_received=len(frame), timezone=timezone,
        timezone_assumed=False, notes=(note,),
        column_sources=tuple((c, "derived") for c in SCHEMAS[source.kind].columns), declared=source)
