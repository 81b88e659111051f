"""Export formats: detection, and mapping an export's columns onto a kind's canonical schema.

One module per format; each declares a :class:`FormatSpec` (which headers identify it, and for every
kind it supports, which of its headers feed each canonical column). ``auto`` detection reads the
container from the bytes (xlsx, JSON or delimited text) and then the header signature:

========== ========================= ===================================================================
format     container                 signature
========== ========================= ===================================================================
jira       CSV                       ``Issue key`` and ``Summary``
servicenow CSV / xlsx                ``number`` with ``sys_id``/``opened_at``/``sys_created_on``/``short_description``/``user_name``
                                     (field names) or ``Number`` with ``Opened``/``Short description`` (labels)
aws-iam    CSV                       ``user``, ``arn`` and ``user_creation_time``
okta       CSV / JSON                ``login`` (or ``profile.login``) with ``status`` and ``statusChanged``/``lastLogin``
entra      CSV                       ``userPrincipalName`` (or ``User principal name``) with ``accountEnabled``/``objectId``/``userType``
github     JSON                      pull requests: objects with ``number``, ``title`` and ``merged_at``/``mergedAt``
generic    CSV / xlsx                anything else; headers matched to canonical names, or a column map
========== ========================= ===================================================================
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import PopulationError
from workbench.formats import aws_iam, entra, generic, github, jira, okta, servicenow
from workbench.formats.generic import ALIASES
from workbench.formats.schemas import SCHEMAS, KindSchema
from workbench.formats.spec import FormatSpec, Mapped, format_error, normalize_header
from workbench.formats.table import RawTable

__all__ = ["FORMATS", "FORMAT_NAMES", "FormatSpec", "Mapped", "detect_format", "map_columns", "normalize_header"]

#: Every export format by name, in the order auto-detection tries them (``generic`` last: it fits anything).
FORMATS: Mapping[str, FormatSpec] = {spec.name: spec for spec in (
    jira.FORMAT, servicenow.FORMAT, aws_iam.FORMAT, okta.FORMAT, entra.FORMAT, github.FORMAT, generic.FORMAT)}
#: Names accepted for ``format`` (besides ``auto``).
FORMAT_NAMES: tuple[str, ...] = ("generic", "jira", "servicenow", "github", "aws-iam", "okta", "entra")

def detect_format(raw: RawTable) -> str:
    """The format whose signature the file carries (``generic`` when none does)."""
    formats = FORMATS
    if raw.container == "json":
        for name in ("github", "okta"):
            spec = formats[name]
            if spec.json_signature is not None and spec.json_signature(raw.json_data):
                return name
        return "generic"
    normalized = {normalize_header(h) for h in raw.headers}
    for name in ("jira", "servicenow", "aws-iam", "okta", "entra"):
        spec = formats[name]
        if raw.container in spec.containers and spec.signature(normalized):
            return name
    return "generic"


def _looks_like_data(headers: list[str]) -> bool:
    """True when the 'header' row holds values (dates, numbers, e-mail addresses), not names."""
    cells = [h for h in headers if h]
    if not cells:
        return True
    datelike = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|^\d{1,2}/[A-Za-z]{3}/\d{2}")
    number = re.compile(r"^[-+]?\d+([.,]\d+)?$")
    hits = sum(1 for h in cells if datelike.match(h) or number.match(h) or "@" in h)
    return hits >= max(1, len(cells) // 4)


def _join_duplicates(arrays: list[pa.Array]) -> pa.Array:
    """Jira writes one column per value of a multi-valued field: join the values with '; '."""
    if len(arrays) == 1:
        return arrays[0]
    joined = pc.binary_join_element_wise(*arrays, "; ", null_handling="skip")
    return pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), joined)


def map_columns(raw: RawTable, format_name: str, kind: str, column_map: Mapping[str, str] | None,
                path: Path) -> Mapped:
    """Map the raw table's headers onto ``kind``'s canonical columns.

    ``column_map`` (canonical -> header, from the engagement) wins over the format's own candidates.
    Raises :class:`PopulationError` (``rule`` attribute set) for a missing required column, an
    unknown canonical name in the map, or a file with no header row.
    """
    schema: KindSchema = SCHEMAS[kind]
    spec = FORMATS[format_name]
    column_map = dict(column_map or {})
    notes: list[str] = []
    # a map key may use a documented alias of a canonical name (hire_date for hired_at, ...)
    synonyms = {normalize_header(alias): canonical
                for canonical, aliases in ALIASES.get(kind, {}).items() for alias in aliases}
    for name in list(column_map):
        if name in schema.columns:
            continue
        canonical = synonyms.get(normalize_header(name))
        if canonical is not None and canonical not in column_map:
            column_map[canonical] = column_map.pop(name)
            notes.append(f"column map key {name!r} read as the canonical column {canonical!r}")
    unknown = sorted(set(column_map) - set(schema.columns))
    if unknown:
        raise format_error("column_map", f"the column map names {', '.join(map(repr, unknown))}, which "
                     f"{'is' if len(unknown) == 1 else 'are'} not canonical column(s) of kind {kind!r}; "
                     f"the canonical columns are: {', '.join(schema.columns)}", path)
    positions: dict[str, list[int]] = {}
    exact: dict[str, list[int]] = {}
    for i, h in enumerate(raw.headers):
        if h == "":
            continue
        positions.setdefault(normalize_header(h), []).append(i)
        exact.setdefault(h, []).append(i)
    if format_name != "generic" and kind not in spec.columns:
        raise format_error("format", f"format {format_name!r} does not carry populations of kind {kind!r} "
                     f"(it maps: {', '.join(spec.columns)}); use format = \"generic\" with a column map",
                     path)
    candidates = spec.columns.get(kind, {})

    def lookup(header: str) -> pa.Array | None:
        found = exact.get(header) or positions.get(normalize_header(header))
        if not found:
            return None
        return _join_duplicates([raw.column(p) for p in found])

    def as_written(header: str) -> str:
        """The header as the file writes it (``EmpID`` for the alias ``empid``), for "canonical <- header"."""
        found = exact.get(header) or positions.get(normalize_header(header)) or []
        if not found:
            return header
        written = raw.headers[found[0]]
        return written if len(found) == 1 else f"{written} ({len(found)} columns joined)"

    columns: dict[str, pa.Array] = {}
    sources: dict[str, str] = {}
    for canonical in schema.columns:
        if canonical in column_map:
            header = column_map[canonical]
            array = lookup(header)
            if array is None:
                if _looks_like_data(raw.headers):
                    raise _no_header(raw, path)
                raise format_error("required_column" if canonical in schema.required_columns else "column_map",
                             f"the column map says {canonical} = {header!r}, but the file has no such "
                             f"header; its headers are: {_show_headers(raw.headers)}. Fix the column map "
                             f"in engagement.toml", path, column=header)
            columns[canonical] = array
            sources[canonical] = as_written(header)
            continue
        names = tuple(candidates.get(canonical, ())) + ((canonical,) if format_name == "generic" or
                                                        canonical not in candidates else ())
        for header in names:
            array = lookup(header)
            if array is not None:
                columns[canonical] = array
                sources[canonical] = as_written(header)
                break
    hook = spec.finish.get(kind)
    n = raw.table.num_rows
    if hook is not None:
        derived = hook(dict(columns), lookup, n)
        for name, array in derived.items():
            if name not in columns or columns[name] is not array:
                sources.setdefault(name, "derived")
            columns[name] = array
    if schema.key not in columns and schema.derived_key and all(c in columns for c in schema.derived_key):
        columns[schema.key] = pc.binary_join_element_wise(*[columns[c] for c in schema.derived_key], "|",
                                                          null_handling="replace", null_replacement="")
        sources[schema.key] = "derived: " + " | ".join(sources[c] for c in schema.derived_key)
    missing = [c for c in schema.required_columns if c not in columns]
    if missing:
        if _looks_like_data(raw.headers) or (len(columns) == 0 and raw.container == "csv"
                                             and len(raw.headers) == 1 and raw.table.num_rows > 0
                                             and _looks_like_data([raw.column(0)[0].as_py() or ""])):
            raise _no_header(raw, path)
        if len(raw.headers) == 1 and len(schema.required_columns) > 1 and raw.container == "csv":
            raise format_error("not_a_table", f"not a table: the first line has no delimiter (comma, semicolon, tab "
                         f"or pipe), so the file has a single column {raw.headers[0][:60]!r}; ask the client "
                         f"for the export as CSV or .xlsx", path)
        wanted = "; ".join(
            f"{c} (looked for {', '.join(repr(h) for h in (tuple(candidates.get(c, ())) or (c,)))})"
            for c in missing)
        raise format_error("required_column", f"required column(s) missing for kind {kind!r} (format "
                     f"{format_name!r}): {wanted}. The file's headers are: {_show_headers(raw.headers)}. "
                     f"Add a column map in engagement.toml ([populations.<id>.columns], canonical name = "
                     f"header) or ask the client for an export with these fields", path,
                     column=missing[0])
    for canonical in schema.columns:
        if canonical not in columns:
            columns[canonical] = pa.nulls(n, pa.string())
            sources[canonical] = "(not in the export)"
    return Mapped(columns, sources, notes)


def _show_headers(headers: list[str]) -> str:
    shown = [repr(h) for h in headers[:25]]
    return ", ".join(shown) + (f" ... ({len(headers)} in all)" if len(headers) > 25 else "")


def _no_header(raw: RawTable, path: Path) -> PopulationError:
    first = ", ".join(repr(h) for h in raw.headers[:6])
    return format_error("no_header", f"the file has no header row: its first row holds values ({first}), not "
                  f"column names; ask the client to export again with column headers", path, row=1)


