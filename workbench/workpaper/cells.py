"""Safe cell writing: client text is always text, never a formula.

Client files are untrusted. A change title such as ``=HYPERLINK("http://evil", "click")`` or
``@SUM(A1)`` must appear in the workpaper exactly as the client wrote it and must never be evaluated.
openpyxl turns any string that starts with ``=`` into a formula cell, and Excel re-evaluates a cell that
starts with ``=``, ``+``, ``-`` or ``@`` when a user edits it. Following the OWASP guidance on CSV (formula)
injection (https://owasp.org/www-community/attacks/CSV_Injection), a string that starts with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return is written as a string cell (``data_type = "s"``) carrying the
*quote prefix* style (``quotePrefix = 1``, the apostrophe Excel shows in the formula bar), so that Excel and
LibreOffice display it literally and keep it literal after an edit. The stored value is the original string,
unchanged: no apostrophe is added to the text.

Three more things about text are not silent:

* A carriage return (alone or in CR LF) becomes a line feed: XML readers turn a stored CR into LF anyway
  (XML 1.0 §2.11), and LF is the line break Excel uses inside a cell.
* Characters that XML 1.0 cannot carry (control characters other than tab, line feed and carriage return)
  cannot be stored in an .xlsx file at all. Each is written as a visible escape ``\\x07`` so the reader can
  see what the client file held.
* Excel holds at most 32,767 characters in a cell. Longer text is cut there and ends with a marker that
  says how many characters were left out.

Timestamps: Excel has no time zones. A timezone-aware timestamp is written as ISO 8601 text *with its
UTC offset* (``2025-07-03T14:05:00-04:00``) so the zone is explicit and nothing is converted silently; a
calendar date (``datetime.date``) is written as a real Excel date shown as ``yyyy-mm-dd``.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from decimal import Decimal
from typing import Any

from openpyxl.cell.cell import Cell

__all__ = [
    "FORMULA_TRIGGERS",
    "MAX_CELL_CHARS",
    "DATE_FORMAT",
    "is_formula_like",
    "clean_text",
    "format_timestamp",
    "display_text",
    "write_text",
    "write_value",
]

#: First characters that make a spreadsheet treat text as a formula (OWASP CSV injection guidance).
FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")

#: Excel's limit on the characters in one cell (Excel specifications and limits).
MAX_CELL_CHARS = 32_767

#: Number format for calendar dates written as real Excel dates.
DATE_FORMAT = "yyyy-mm-dd"

# XML 1.0 forbids these code points; openpyxl raises IllegalCharacterError for them.
_CUT_MARKER = " … [{} characters not shown: Excel holds at most 32,767 per cell]"
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def is_formula_like(text: str) -> bool:
    """Return True when a spreadsheet could take ``text`` for a formula.

    Parameters
    ----------
    text : str
        Text as it will be stored.

    Returns
    -------
    bool
        True if ``text`` starts with one of :data:`FORMULA_TRIGGERS`.

    Examples
    --------
    >>> is_formula_like("=1+1"), is_formula_like("-x"), is_formula_like("ok")
    (True, True, False)
    """
    return text.startswith(FORMULA_TRIGGERS)


def clean_text(text: str) -> str:
    """Make ``text`` storable in a cell: escape XML-illegal characters, cut at Excel's limit.

    Parameters
    ----------
    text : str
        Any text, typically from a client file.

    Returns
    -------
    str
        ``text`` with each XML-illegal control character replaced by a visible ``\\xNN`` escape and, when
        longer than :data:`MAX_CELL_CHARS`, cut with a marker naming the characters left out.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _ILLEGAL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    if len(text) > MAX_CELL_CHARS:
        keep = MAX_CELL_CHARS - len(_CUT_MARKER.format(len(text)))
        while keep + len(_CUT_MARKER.format(len(text) - keep)) < MAX_CELL_CHARS:
            keep += 1  # the count of dropped characters may have fewer digits than the length
        text = text[:keep] + _CUT_MARKER.format(len(text) - keep)
    return text


def _is_missing(value: Any) -> bool:
    """None, NaN, ``pd.NA`` and ``NaT`` (anything pandas calls missing, for scalars)."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, (str, int, Decimal, _dt.date)) and not hasattr(value, "to_pydatetime"):
        return False
    import pandas as pd  # pandas is a dependency of the workbench (not of ``sampling``)

    try:
        return bool(pd.isna(value)) if pd.api.types.is_scalar(value) else False
    except (TypeError, ValueError):
        return False


def format_timestamp(value: _dt.datetime) -> str:
    """Return a timestamp as ISO 8601 text, with its UTC offset when it has a zone.

    Parameters
    ----------
    value : datetime.datetime or pandas.Timestamp
        The timestamp. A timezone-aware value keeps its own offset (no conversion).

    Returns
    -------
    str
        ``YYYY-MM-DDTHH:MM:SS±HH:MM`` (fractional seconds only when present); a naive value has no offset.

    Examples
    --------
    >>> import datetime as dt
    >>> tz = dt.timezone(dt.timedelta(hours=-4))
    >>> format_timestamp(dt.datetime(2025, 7, 3, 14, 5, tzinfo=tz))
    '2025-07-03T14:05:00-04:00'
    """
    if hasattr(value, "to_pydatetime"):  # pandas.Timestamp; nanoseconds beyond µs are not audit-relevant
        value = value.to_pydatetime()
    spec = "microseconds" if value.microsecond else "seconds"
    return value.isoformat(timespec=spec)


def display_text(value: Any) -> str:
    """Return the text a workpaper shows for ``value`` (used for keys and cells written as text).

    Missing values give ``""``; timestamps give ISO 8601 with offset; dates ``YYYY-MM-DD``; everything else
    ``str(value)``.
    """
    if _is_missing(value):
        return ""
    if isinstance(value, _dt.datetime):
        return format_timestamp(value)
    if isinstance(value, _dt.date):
        return value.isoformat()
    return str(value)


def write_text(cell: Cell, value: Any) -> Cell:
    """Write ``value`` into ``cell`` as literal text that is never a formula.

    Parameters
    ----------
    cell : openpyxl.cell.cell.Cell
        The target cell.
    value : object
        Text, or anything else (converted with :func:`display_text`). ``None`` and missing values
        leave the cell empty.

    Returns
    -------
    openpyxl.cell.cell.Cell
        The cell, for chaining.

    Notes
    -----
    A text starting with one of :data:`FORMULA_TRIGGERS` is stored as a string cell with the quote-prefix
    style; reading the file back with openpyxl gives the original string with ``data_type == "s"``.
    """
    if _is_missing(value):
        cell.value = None
        return cell
    raw = value if isinstance(value, str) else display_text(value)
    text = clean_text(raw)
    cell.value = text  # openpyxl marks "=..." as a formula here; the next line undoes that
    cell.data_type = "s"
    if is_formula_like(raw) or is_formula_like(text):
        cell.quotePrefix = True
    return cell


def write_value(cell: Cell, value: Any) -> Cell:
    """Write a value of any type the workbench produces, safely.

    Strings go through :func:`write_text`; ``bool``, ``int``, ``float`` and ``Decimal`` (and numpy scalars)
    are written as numbers; a timestamp (``datetime``/``pandas.Timestamp``) as ISO 8601 text with offset;
    a calendar ``date`` as a real Excel date formatted :data:`DATE_FORMAT`; missing values (``None``, NaN,
    ``pd.NA``, ``NaT``) as an empty cell; anything else as its ``str()`` text.

    Parameters
    ----------
    cell : openpyxl.cell.cell.Cell
        The target cell.
    value : object
        The value.

    Returns
    -------
    openpyxl.cell.cell.Cell
        The cell.
    """
    if type(value).__module__ == "numpy":
        if type(value).__name__ in ("datetime64", "timedelta64"):  # .item() would give nanoseconds as int
            import pandas as pd

            value = pd.Timestamp(value) if type(value).__name__ == "datetime64" else pd.Timedelta(value)
        elif hasattr(value, "item"):  # numpy scalar -> Python scalar
            value = value.item()
    if _is_missing(value):
        cell.value = None
        return cell
    if isinstance(value, str):
        return write_text(cell, value)
    if isinstance(value, bool):
        cell.value = value
        return cell
    if isinstance(value, (int, Decimal)):
        cell.value = value
        return cell
    if isinstance(value, float):
        if math.isinf(value):
            return write_text(cell, "inf" if value > 0 else "-inf")
        cell.value = value
        return cell
    if isinstance(value, _dt.datetime):
        return write_text(cell, format_timestamp(value))
    if isinstance(value, _dt.date):
        cell.value = value
        cell.number_format = DATE_FORMAT
        return cell
    return write_text(cell, display_text(value))
