"""Sheet layout helpers: the header block every sheet carries, label/value blocks, tables, widths.

The layout functions only place values the result objects already hold; every cell goes through
:mod:`workbench.workpaper.cells`, so client text is never a formula.

Every sheet starts with the same header block (rows 1-9), then a blank row; content starts on row 11::

    row 1  <title>                                   (bold, larger)
    row 2  Client               | <client>
    row 3  Engagement           | <engagement id> — SOC 2 Type 1|2
    row 4  Period | As of       | 2025-07-01 to 2026-06-30 | 2026-06-30
    row 5  Workpaper reference  | <engagement id>/<control id>.<sheet number>
    row 6  Prepared by          | <name (initials)> or "not signed" | Date | <sign-off date>
    row 7  Reviewed by          | <name (initials)> or "not signed" | Date | <sign-off date>
    row 8  Generated (UTC)      | <when this workbook was written>   | Workbench version | <version>
    row 9  <the workbook is regenerated from the results store: never edit it>

The sign-offs come from the results store (:mod:`workbench.signoff`); nothing in the header is typed by a person.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.cell.cell import Cell
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from workbench.files import replace_atomically
from workbench.workpaper.cells import write_text, write_value

__all__ = [
    "HEADER_ROWS",
    "CONTENT_START_ROW",
    "REGENERATED_NOTE",
    "NOT_SIGNED",
    "SheetHeader",
    "SheetWriter",
    "header_from_engagement",
    "staff_label",
    "save_atomically",
]

#: Rows taken by the header block on every sheet.
HEADER_ROWS = 9
#: The header's last line: a workbook is an output, never an input.
REGENERATED_NOTE = ("Results and judgements are entered through the form, the template and the commands, never by "
                    "editing this workbook: it is regenerated from the results store.")
#: A sign-off not given (:data:`workbench.signoff.NOT_SIGNED` says the same).
NOT_SIGNED = "not signed"
#: First row after the header block and its blank separator row.
CONTENT_START_ROW = HEADER_ROWS + 2

_BOLD = Font(bold=True)
_TITLE = Font(bold=True, size=14)
_SECTION = Font(bold=True, size=12)
_HEAD_FILL = PatternFill("solid", fgColor="DDE4EE")
_THIN = Side(style="thin", color="A0A0A0")
_HEAD_BORDER = Border(bottom=_THIN)
_WRAP_TOP = Alignment(wrap_text=True, vertical="top", horizontal="left")
_LEFT_TOP = Alignment(vertical="top", horizontal="left")
_TOP = Alignment(vertical="top")


@dataclass(frozen=True)
class SheetHeader:
    """What the header block of every sheet shows.

    Attributes
    ----------
    client, engagement_id, report_label, period_label, period_text : str
        Client name; engagement id; "SOC 2 Type 2"; "Period" or "As of"; the period or date as text.
    reference : str
        Workpaper reference without the sheet number (``<engagement id>/<control id>``).
    preparer, reviewer : str
        Who signed off, from the results store (``Dana Reyes (DR)``), or ``"not signed"``.
    prepared_on, reviewed_on : str or None
        The sign-off dates (``YYYY-MM-DD``).
    generated : str
        When the workbook was written (UTC, ``YYYY-MM-DD HH:MM``).
    version : str
        The workbench version that wrote it.
    """

    client: str
    engagement_id: str
    report_label: str
    period_label: str
    period_text: str
    reference: str
    preparer: str = NOT_SIGNED
    reviewer: str = NOT_SIGNED
    prepared_on: str | None = None
    reviewed_on: str | None = None
    generated: str = ""
    version: str = ""


def staff_label(engagement: Any, role: str) -> str:
    """Return "Name (INITIALS)" of every staff member with ``role``, joined by "; " ("" if none)."""
    names = []
    for member in getattr(engagement, "staff", ()) or ():
        member_role = member.get("role") if isinstance(member, dict) else getattr(member, "role", None)
        if str(member_role) != role:
            continue
        name = member.get("name") if isinstance(member, dict) else getattr(member, "name", "")
        initials = member.get("initials") if isinstance(member, dict) else getattr(member, "initials", "")
        names.append(f"{name} ({initials})" if initials else str(name))
    return "; ".join(names)


def workbench_version() -> str:
    """The installed workbench's version (``unknown`` in a bare checkout)."""
    from importlib import metadata
    try:
        return metadata.version("control-testing-workbench")
    except metadata.PackageNotFoundError:  # pragma: no cover - a bare checkout
        return "unknown"


def header_from_engagement(engagement: Any, reference: str, *, preparer: tuple[str, str | None] | None = None,
                           reviewer: tuple[str, str | None] | None = None) -> SheetHeader:
    """Build the :class:`SheetHeader` from an ``Engagement`` and the sign-offs given (``(who, date)`` each;
    None: ``"not signed"``); the time of writing and the workbench version are added."""
    report_type = str(getattr(engagement, "report_type", ""))
    report_label = {"type1": "SOC 2 Type 1", "type2": "SOC 2 Type 2"}.get(report_type, f"SOC 2 {report_type}")
    as_of = getattr(engagement, "as_of", None)
    if report_type == "type1" or (as_of is not None and getattr(engagement, "period_start", None) is None):
        period_label, period_text = "As of", f"{as_of.isoformat() if as_of else ''}"
    else:
        start, end = engagement.period_start, engagement.period_end
        period_label, period_text = "Period", f"{start.isoformat()} to {end.isoformat()}"
    return SheetHeader(
        client=str(engagement.client),
        engagement_id=str(engagement.engagement_id),
        report_label=report_label,
        period_label=period_label,
        period_text=period_text,
        reference=reference,
        preparer=(preparer or (NOT_SIGNED, None))[0],
        prepared_on=(preparer or (NOT_SIGNED, None))[1],
        reviewer=(reviewer or (NOT_SIGNED, None))[0],
        reviewed_on=(reviewer or (NOT_SIGNED, None))[1],
        generated=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        version=workbench_version(),
    )


class SheetWriter:
    """Write one sheet top to bottom: header block, sections, label/value pairs, tables.

    Parameters
    ----------
    ws : Worksheet
        The sheet.
    header : SheetHeader
        The header block contents.
    title : str
        Title on row 1 (e.g. "CM-01 — Lead sheet").
    sheet_number : int or None
        Appended to the workpaper reference (``.../CM-01.3``); None shows the reference as is.
    """

    def __init__(self, ws: Worksheet, header: SheetHeader, title: str, sheet_number: int | None) -> None:
        self.ws = ws
        self.header = header
        self.reference = header.reference if sheet_number is None else f"{header.reference}.{sheet_number}"
        self._widths: dict[int, float] = {}
        self._wrapped: list[tuple[int, int, str]] = []
        self._write_header(title)
        self.row = CONTENT_START_ROW

    # -- primitives -------------------------------------------------------------------------------
    def cell(self, row: int, column: int, value: Any, *, bold: bool = False, wrap: bool = False,
             measure: bool = True) -> Cell:
        """Write one value safely at (row, column); track the column width it needs."""
        c = _plain_cell(self.ws, row, column)
        write_value(c, value)
        if bold:
            c.font = _BOLD
        if wrap:
            c.alignment = _WRAP_TOP
            if isinstance(c.value, str):
                self._wrapped.append((row, column, c.value))
        else:
            c.alignment = _TOP
        if measure and c.value is not None:
            longest = max((len(part) for part in str(c.value).split("\n")), default=0)
            self._widths[column] = max(self._widths.get(column, 0), min(longest, 60))
        return c

    def _write_header(self, title: str) -> None:
        ws, h = self.ws, self.header
        c = _plain_cell(ws, 1, 1)
        write_text(c, title)
        c.font = _TITLE
        rows = [
            ("Client", h.client),
            ("Engagement", f"{h.engagement_id} — {h.report_label}"),
            (h.period_label, h.period_text),
            ("Workpaper reference", self.reference),
        ]
        for offset, (label, value) in enumerate(rows, start=2):
            self.cell(offset, 1, label, bold=True)
            self.cell(offset, 2, value)
        for row, label, name, day in ((6, "Prepared by", h.preparer, h.prepared_on),
                                      (7, "Reviewed by", h.reviewer, h.reviewed_on)):
            self.cell(row, 1, label, bold=True)
            self.cell(row, 2, name)
            self.cell(row, 3, "Date", bold=True)
            self.cell(row, 4, day)     # from the sign-off recorded in the results store, never typed here
        self.cell(8, 1, "Generated (UTC)", bold=True)
        self.cell(8, 2, h.generated)
        self.cell(8, 3, "Workbench version", bold=True)
        self.cell(8, 4, h.version)
        self.cell(9, 1, REGENERATED_NOTE, measure=False).font = Font(italic=True)

    # -- blocks -----------------------------------------------------------------------------------
    def section(self, title: str) -> None:
        """A bold section title, with a blank row before it unless at the top of the content."""
        if self.row > CONTENT_START_ROW:
            self.row += 1
        c = _plain_cell(self.ws, self.row, 1)
        write_text(c, title)
        c.font = _SECTION
        self.row += 1

    def pairs(self, rows: Iterable[Sequence[Any]]) -> dict[str, int]:
        """Label/value rows (label bold in column A, value in B, extra values in C, D ...).

        Returns
        -------
        dict
            Row number of each label, for tests and cross-references.
        """
        where: dict[str, int] = {}
        for label, *values in rows:
            self.cell(self.row, 1, label, bold=True)
            for offset, value in enumerate(values):
                c = self.cell(self.row, 2 + offset, value, wrap=isinstance(value, str) and len(value) > 40)
                if not c.alignment.wrap_text:
                    c.alignment = _LEFT_TOP
            where[str(label)] = self.row
            self.row += 1
        return where

    def text(self, value: Any, *, bold: bool = False) -> None:
        """One line of text in column A (wrapped when long)."""
        self.cell(self.row, 1, value, bold=bold, measure=False)
        self.row += 1

    def table(self, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, freeze: bool = False,
              empty: str | None = None, wrap_columns: Sequence[int] = ()) -> tuple[int, int]:
        """A table: bold, shaded header row, then one row per record.

        Parameters
        ----------
        columns : sequence of str
            Column headers.
        rows : iterable of sequences
            Records, in order; values written with :func:`~workbench.workpaper.cells.write_value`.
        freeze : bool
            Freeze the panes below the header row (one table per sheet can have this).
        empty : str, optional
            Line written under the header when there are no rows (e.g. "None.").
        wrap_columns : sequence of int
            0-based column positions whose cells wrap.

        Returns
        -------
        (int, int)
            Header row number and number of data rows written.
        """
        header_row = self.row
        for j, name in enumerate(columns, start=1):
            c = self.cell(header_row, j, name, bold=True)
            c.fill = _HEAD_FILL
            c.border = _HEAD_BORDER
            c.alignment = _WRAP_TOP
        self.row += 1
        count = 0
        wrap = set(wrap_columns)
        for record in rows:
            for j, value in enumerate(record, start=1):
                self.cell(self.row, j, value, wrap=(j - 1) in wrap)
            self.row += 1
            count += 1
        if count == 0 and empty:
            self.cell(self.row, 1, empty)
            self.row += 1
        if freeze:
            self.ws.freeze_panes = f"A{header_row + 1}"
        return header_row, count

    def finish(self, *, min_width: float = 10, fixed: dict[int, float] | None = None) -> None:
        """Set column widths from the content written (capped), with ``fixed`` overrides (1-based)."""
        widths = dict(self._widths)
        widths.update(fixed or {})
        final: dict[int, float] = {}
        for column, width in widths.items():
            final[column] = max(min_width, width + 2)
            self.ws.column_dimensions[get_column_letter(column)].width = final[column]
        # Row heights for wrapped text: not every spreadsheet program grows rows on opening the file.
        lines_needed: dict[int, int] = {}
        for row, column, text in self._wrapped:
            chars = max(1, int(final.get(column, min_width) * 1.1) - 1)
            lines = sum(max(1, math.ceil(len(part) / chars)) for part in text.split("\n"))
            lines_needed[row] = max(lines_needed.get(row, 1), lines)
        for row, lines in lines_needed.items():
            if lines > 1:
                self.ws.row_dimensions[row].height = min(409, 15 * lines)  # 409 points: Excel's maximum
        # print and PDF: landscape, every column on one page width, as many pages down as needed
        self.ws.page_setup.orientation = "landscape"
        setup = self.ws.sheet_properties.pageSetUpPr
        if setup is None:
            setup = self.ws.sheet_properties.pageSetUpPr = PageSetupProperties()
        setup.fitToPage = True
        self.ws.page_setup.fitToWidth = 1
        self.ws.page_setup.fitToHeight = 0
        footer = self.ws.oddFooter
        if footer is not None and footer.left is not None and footer.right is not None:
            footer.left.text = self.reference.replace("&", "&&")  # "&" starts a footer code
            footer.right.text = "Page &P of &N"


def save_atomically(workbook: Workbook, path: Path) -> Path:
    """Save ``workbook`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    A reader never sees a half-written workbook: either the old file or the complete new one. The
    temporary file is removed when saving fails (:func:`workbench.files.replace_atomically`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return replace_atomically(path, workbook.save)


def _plain_cell(ws: Worksheet, row: int, column: int) -> Cell:
    """The cell at (row, column); the layout never writes into a merged range, so it is a plain cell."""
    cell = ws.cell(row=row, column=column)
    if not isinstance(cell, Cell):
        raise AssertionError(f"{ws.title}!{get_column_letter(column)}{row} is inside a merged range")
    return cell
