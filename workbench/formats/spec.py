"""What every export format module declares, and the helpers they share.

A format module (``jira.py``, ``okta.py``, ...) defines ``FORMAT = FormatSpec(...)``: which headers identify
it and, per kind, which of its headers feed each canonical column; optional hooks derive columns the export
does not hold directly. :mod:`workbench.formats` collects them into its registry.

Public API::

    FormatSpec, Mapped, FinishHook
    normalize_header(header) -> str
    format_error(rule, message, path, *, row=None, column=None) -> PopulationError
    to_boolean(array) -> pyarrow.Array
    constant(value, n, type_) -> pyarrow.Array
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import PopulationError
from workbench.formats.table import RawTable

__all__ = ["FormatSpec", "Mapped", "FinishHook", "Lookup", "normalize_header", "format_error", "to_boolean", "constant"]


def normalize_header(header: str) -> str:
    """Compare headers loosely: lower case, runs of other characters as one underscore."""
    return re.sub(r"[^0-9a-z]+", "_", str(header).lower()).strip("_")


#: Finds a column by its header (exactly, else loosely): the array, or None when the export lacks it.
Lookup = Callable[[str], "pa.Array | None"]
#: (canonical columns, header lookup, row count) -> replacement/extra canonical columns
FinishHook = Callable[[dict[str, pa.Array], Lookup, int], dict[str, pa.Array]]


@dataclass(frozen=True)
class FormatSpec:
    """How one export format is recognised and mapped.

    Attributes
    ----------
    name : str
        The name an engagement or ``--format`` uses.
    description : str
        What the format is, for messages and the README.
    containers : tuple of str
        ``csv``, ``xlsx``, ``json``.
    columns : mapping
        ``kind -> canonical column -> candidate headers`` (first present wins, compared loosely).
    signature : callable
        ``set of normalised headers -> bool``.
    to_table : callable or None
        JSON formats: turns the parsed document into a :class:`RawTable` (headers + rows + JSON paths).
    finish : mapping of kind -> hook, optional
        Derives canonical columns the export does not hold directly (Okta's disable time, AWS's
        ``active``), given the mapped columns and a lookup of any header.
    """

    name: str
    description: str
    containers: tuple[str, ...]
    columns: Mapping[str, Mapping[str, tuple[str, ...]]]
    signature: Callable[[set[str]], bool]
    to_table: Callable[[RawTable, Path], RawTable] | None = None
    finish: Mapping[str, FinishHook] = field(default_factory=dict)
    json_signature: Callable[[object], bool] | None = None


@dataclass
class Mapped:
    """The canonical columns (still text, except what a finish hook typed) and how each was found."""

    columns: dict[str, pa.Array]
    sources: dict[str, str]      # canonical -> header used (or a description)
    notes: list[str]


def format_error(rule: str, message: str, path: Path, *, row: int | str | None = None,
           column: str | None = None) -> PopulationError:
    """A :class:`PopulationError` naming the file (and row/column) and the check it fails (``rule``)."""
    return PopulationError(message, file=path, row=row, column=column, rule=rule)


# shared helpers for finish hooks ------------------------------------------------------------------

_TRUE = ("true", "yes", "y", "1", "enabled", "active", "t")
_FALSE = ("false", "no", "n", "0", "disabled", "inactive", "f")


def to_boolean(array: pa.Array) -> pa.Array:
    """Text flags as a boolean array (true/false, yes/no, 1/0, enabled/disabled; others null)."""
    if pa.types.is_boolean(array.type):
        return array
    low = pc.utf8_lower(pc.utf8_trim_whitespace(array.cast(pa.string())))
    is_true = pc.is_in(low, value_set=pa.array(_TRUE))
    is_false = pc.is_in(low, value_set=pa.array(_FALSE))
    return pc.if_else(is_true, True, pc.if_else(is_false, False, pa.scalar(None, pa.bool_())))


def constant(value: object, n: int, type_: pa.DataType = pa.string()) -> pa.Array:
    """An array of ``n`` copies of ``value``."""
    return pa.array(np.full(n, value, dtype=object) if n else [], type=type_)
