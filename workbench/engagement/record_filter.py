"""Record filters: which records of a population a control's procedure tests (routing by type).

A control may restrict its procedure to records of a type: the change-approval control tests standard and
normal changes, the emergency-change control the emergency ones. The filter is written in the control
matrix's ``Record filter`` column (or declared by a procedure as its default) in one of four forms::

    change_type in standard, normal
    change_type not in emergency
    change_type = emergency
    change_type != emergency

The column is a canonical column of the population's kind; values are compared as text, case-insensitively,
surrounding spaces ignored; a record whose value is blank matches ``not in`` / ``!=`` and never ``in`` /
``=``. Records a filter leaves out are kept in the scope's excluded records with the reason, never dropped.

Public API::

    RecordFilter.parse(text) -> RecordFilter          (FilterSyntaxError naming the form expected)
    RecordFilter.mask(values) -> numpy bool array      (one flag per record: tested by this control)
    RecordFilter.describe(noun_plural) -> "standard and normal changes"
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["RecordFilter", "FilterSyntaxError", "OPERATORS"]

#: The operators a filter may use, longest first (so "not in" is not read as "in").
OPERATORS: tuple[str, ...] = ("not in", "in", "!=", "=")

_FORM = re.compile(r"^\s*(?P<column>[A-Za-z_][A-Za-z0-9_]*)\s+(?P<op>not\s+in|in)\s+(?P<values>.+?)\s*$|"
                   r"^\s*(?P<column2>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op2>!=|=)\s*(?P<values2>.+?)\s*$",
                   re.IGNORECASE)


class FilterSyntaxError(ValueError):
    """A record filter that is not in one of the four forms; the message shows them."""


@dataclass(frozen=True)
class RecordFilter:
    """Records whose ``column`` is (``in``, ``=``) or is not (``not in``, ``!=``) one of ``values``.

    Attributes
    ----------
    column : str
        A canonical column of the population's kind, e.g. ``change_type``.
    operator : str
        One of :data:`OPERATORS`.
    values : tuple of str
        Lower-case, stripped, in the order written.
    """

    column: str
    operator: str
    values: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> RecordFilter:
        """Read a filter as written in the control matrix.

        Raises
        ------
        FilterSyntaxError
            When ``text`` is none of the four forms.
        """
        match = _FORM.match(text or "")
        if match is None:
            raise FilterSyntaxError(
                f"{text!r} is not a record filter; write it as \"column in value, value\", \"column not in "
                f"value\", \"column = value\" or \"column != value\" (e.g. change_type in standard, normal).")
        column = match.group("column") or match.group("column2")
        operator = re.sub(r"\s+", " ", (match.group("op") or match.group("op2")).lower())
        raw = match.group("values") if match.group("values") is not None else match.group("values2")
        values = tuple(dict.fromkeys(v.strip().lower() for v in raw.split(",") if v.strip()))
        if not values:
            raise FilterSyntaxError(f"{text!r} names no value after {operator!r}; e.g. change_type in standard.")
        if operator in ("=", "!=") and len(values) > 1:
            operator = "in" if operator == "=" else "not in"
        return cls(column=column.lower(), operator=operator, values=values)

    @property
    def text(self) -> str:
        """The filter as it reads in a workpaper: ``change_type in standard, normal``."""
        return f"{self.column} {self.operator} {', '.join(self.values)}"

    @property
    def includes(self) -> bool:
        """True for ``in`` and ``=`` (the listed values are tested), False for ``not in`` and ``!=``."""
        return self.operator in ("in", "=")

    def mask(self, values: list[object] | NDArray[np.object_]) -> NDArray[np.bool_]:
        """One flag per record: True when the record is tested by the control (blank never matches a value)."""
        wanted = set(self.values)
        hits = np.fromiter((isinstance(v, str) and v.strip().lower() in wanted for v in values), dtype=bool,
                           count=len(values))
        return hits if self.includes else ~hits

    def describe(self, noun_plural: str) -> str:
        """The records tested, in words: ``standard and normal changes``, ``changes other than emergency ones``."""
        listed = _join(list(self.values))
        if self.includes:
            return f"{listed} {noun_plural}"
        return f"{noun_plural} other than {listed} ones"

    def excluded_reason(self) -> str:
        """Why a record outside the filter is not tested: ``change_type not standard or normal``."""
        if self.includes:
            return f"{self.column} not {' or '.join(self.values)}"
        return f"{self.column} {' or '.join(self.values)}"


def _join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} and {parts[-1]}"
