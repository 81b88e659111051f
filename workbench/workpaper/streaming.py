"""Saving a workbook in openpyxl's write-only (streaming) mode, with large tables appended row by row.

A workpaper's small sheets are laid out cell by cell (:class:`~workbench.workpaper.layout.SheetWriter`
needs random access: it sets widths and row heights once the content is known). A sheet listing every
record of a population can hold a million rows: written cell by cell it takes openpyxl's normal mode
twice as long as a write-only workbook with ``lxml``. openpyxl cannot mix the two modes in one workbook, so
:func:`save_streamed` builds the whole file in write-only mode: each laid-out sheet is transcribed (values,
their type and style, column widths, row heights, frozen panes, page set-up, footer, images, merged cells,
data validations, autofilter), and a :class:`StreamedTable` is then appended under a sheet's laid-out rows
as plain values, converted column by column beforehand (:func:`safe_column`).

Public API::

    StreamedTable(sheet, start_row, headings, columns, widths)
    safe_column(values, sheet) -> list            values a write-only sheet can take as they are
    save_streamed(book, path, tables) -> Path     write-only copy of ``book`` plus the tables, atomically
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from copy import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import Cell, WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from workbench.files import replace_atomically
from workbench.workpaper.cells import FORMULA_TRIGGERS, write_value

__all__ = ["StreamedTable", "safe_column", "save_streamed"]

_HEAD_FONT = Font(bold=True)
_HEAD_FILL = PatternFill("solid", fgColor="DDE4EE")
_HEAD_BORDER = Border(bottom=Side(style="thin", color="A0A0A0"))
_HEAD_ALIGN = Alignment(wrap_text=True, vertical="top", horizontal="left")
_NEEDS_CLEANING = re.compile(r"[\x00-\x08\x0b-\x1f]")


@dataclass(frozen=True)
class StreamedTable:
    """A table appended to a sheet in write-only mode, under its laid-out rows.

    Attributes
    ----------
    sheet : str
        The sheet's name in the laid-out workbook.
    start_row : int
        Row of the table's header (1-based), after the sheet's laid-out rows.
    headings : tuple of str
        Column headings.
    columns : tuple of sequences
        The values, column by column (equal lengths), as the stage results hold them: each is converted once
        by :func:`safe_column` while the workbook is written.
    autofilter : bool
        Filter buttons on the header row, over every row of the table.
    """

    sheet: str
    start_row: int
    headings: tuple[str, ...]
    columns: tuple[Any, ...] = field(repr=False)
    autofilter: bool = True

    @property
    def rows(self) -> int:
        return len(self.columns[0]) if self.columns else 0


def safe_column(values: Any, sheet: Any) -> list[Any]:
    """A column's values as a write-only sheet takes them, converted once for the whole column.

    Numbers stay numbers and missing values become empty cells; timestamps become ISO 8601 text with their
    UTC offset and dates stay dates (as :func:`~workbench.workpaper.cells.write_value` writes them); text is
    cleaned (XML-illegal characters escaped, Excel's cell limit) and text a spreadsheet could take for a
    formula becomes a string cell with the quote prefix, never a formula. Only the few values that need it
    become cell objects; the rest are plain values, which is what makes streaming fast.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    kind = series.dtype
    if pd.api.types.is_bool_dtype(kind) or (pd.api.types.is_integer_dtype(kind) and not hasattr(kind, "na_value")):
        return series.tolist()
    if pd.api.types.is_numeric_dtype(kind):           # nullable integers and floats: NA -> empty cell
        out: list[Any] = series.astype(object).where(series.notna(), None).tolist()
        return [_special(sheet, value) if isinstance(value, float) and (value != value or abs(value) == float("inf"))
                else value for value in out]
    if isinstance(kind, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(kind):
        present = series.notna().to_numpy()
        stamps = np.asarray(series.dt.to_pydatetime(), dtype=object)  # one conversion, then isoformat each
        return [value.isoformat(timespec="microseconds" if value.microsecond else "seconds") if keep else None
                for value, keep in zip(stamps, present)]
    out = []
    for value in series.tolist():       # object or string columns: check every value, convert the odd ones
        if value is None or isinstance(value, str) and not value:
            out.append(value or None)
        elif isinstance(value, str):
            if value.startswith(FORMULA_TRIGGERS) or _NEEDS_CLEANING.search(value) or len(value) > 32_767:
                out.append(_special(sheet, value))
            else:
                out.append(value)
        elif isinstance(value, (bool, int)) and not isinstance(value, np.generic):
            out.append(value)
        else:
            out.append(_special(sheet, value))
    return out


def _special(sheet: Any, value: Any) -> Any:
    """A value written through :func:`write_value` into a write-only cell (formula-like text, dates, ...)."""
    cell = WriteOnlyCell(sheet)
    write_value(cell, value)
    if cell.value is None:
        return None
    if cell.data_type == "s" and not cell.has_style and isinstance(cell.value, str) \
            and not cell.value.startswith(FORMULA_TRIGGERS):
        return cell.value
    return cell


#: The workbook-level style tables a cell's style array indexes (fonts, fills, borders, alignments, protections,
#: number formats, named and cell styles).
_STYLE_TABLES = ("_fonts", "_fills", "_borders", "_alignments", "_protections", "_number_formats", "_named_styles",
                 "_cell_styles")


def save_streamed(book: Workbook, path: Path, tables: Iterable[StreamedTable] = ()) -> Path:
    """Write ``book`` in write-only mode to ``path`` (atomically), with ``tables`` appended to their sheets.

    Parameters
    ----------
    book : openpyxl.Workbook
        The laid-out workbook (normal mode). Left unchanged.
    path : pathlib.Path
        The target; written to a temporary file beside it, then moved into place
        (:func:`workbench.files.replace_atomically`).
    tables : iterable of StreamedTable
        At most one per sheet, each starting below the sheet's last laid-out row.

    Returns
    -------
    pathlib.Path
    """
    by_sheet = {table.sheet: table for table in tables}

    def write(temporary: str) -> None:
        out = Workbook(write_only=True)
        # the laid-out book's style tables, in their order: a cell's style indices stay valid in the copy, so
        # a cell is transcribed with its style array instead of five style objects copied and looked up again
        for table_name in _STYLE_TABLES:
            table = getattr(book, table_name)
            setattr(out, table_name, type(table)(table))   # a copy: the laid-out book is left unchanged
        for ws in book.worksheets:
            target = out.create_sheet(ws.title)
            _transcribe(ws, target, by_sheet.get(ws.title))
        out.save(temporary)

    path.parent.mkdir(parents=True, exist_ok=True)
    return replace_atomically(path, write)


def _transcribe(ws: Worksheet, target: Any, table: StreamedTable | None) -> None:
    """Copy one laid-out sheet into a write-only sheet (settings first: rows are streamed), then the table."""
    for key, dimension in ws.column_dimensions.items():
        if dimension.width:
            target.column_dimensions[key].width = dimension.width
    for index, row_dimension in ws.row_dimensions.items():
        if row_dimension.height:
            target.row_dimensions[index].height = row_dimension.height
    if table is not None:
        for j, heading in enumerate(table.headings, start=1):
            letter = get_column_letter(j)
            if letter not in ws.column_dimensions or not ws.column_dimensions[letter].width:
                target.column_dimensions[letter].width = max(10, min(40, len(heading) + 2))
    target.freeze_panes = ws.freeze_panes
    if table is not None and table.rows and ws.freeze_panes is None:
        target.freeze_panes = f"A{table.start_row + 1}"
    target.sheet_properties = copy(ws.sheet_properties)
    target.page_setup = copy(ws.page_setup)
    target.page_setup.worksheet = target
    target.print_options = copy(ws.print_options)
    target.page_margins = copy(ws.page_margins)
    target.HeaderFooter = copy(ws.HeaderFooter)
    for image in getattr(ws, "_images", []):
        target.add_image(image)
    for merged in ws.merged_cells.ranges:
        target.merged_cells.add(str(merged))
    for validation in ws.data_validations.dataValidation:
        target.data_validations.append(validation)
    if ws.auto_filter.ref:
        target.auto_filter.ref = ws.auto_filter.ref

    last = ws.max_row if ws.max_row > 1 or ws.cell(1, 1).value is not None else 0
    if table is not None:
        last = min(last, table.start_row - 1)
    # the sheet's used range, which a write-only sheet cannot know before its rows: readers that stream a
    # sheet (openpyxl's read-only mode, among others) size its rows by it
    rows = table.start_row + table.rows if table is not None else max(last, 1)
    columns = max(ws.max_column, len(table.headings) if table is not None else 1)
    target.calculate_dimension = lambda: f"A1:{get_column_letter(columns)}{rows}"
    for row in ws.iter_rows(min_row=1, max_row=last) if last else ():
        target.append([_copy_cell(target, cell) for cell in row])
    if table is None:
        return
    for _ in range(last + 1, table.start_row):
        target.append([])
    header = []
    for heading in table.headings:
        cell: Any = WriteOnlyCell(target)
        write_value(cell, heading)
        cell.font, cell.fill, cell.border, cell.alignment = _HEAD_FONT, _HEAD_FILL, _HEAD_BORDER, _HEAD_ALIGN
        header.append(cell)
    if table.rows and table.autofilter:
        target.auto_filter.ref = (f"A{table.start_row}:{get_column_letter(len(table.headings))}"
                                  f"{table.start_row + table.rows}")
    target.append(header)
    for row in zip(*(safe_column(column, target) for column in table.columns)):
        target.append(row)


def _copy_cell(target: Any, cell: Any) -> Any:
    """A laid-out cell as a write-only cell: its value, type and style (None for an empty, plain cell)."""
    if not isinstance(cell, Cell):
        return None                     # inside a merged range: the range's first cell holds the value
    if not cell.has_style:
        if cell.value is None:
            return None
        if cell.data_type == "n" or (cell.data_type == "s" and not str(cell.value).startswith("=")):
            return cell.value
    out: Any = WriteOnlyCell(target)
    out.value = cell.value
    out.data_type = cell.data_type
    if cell.has_style:
        # indices into the style tables copied from the laid-out book (openpyxl's stubs do not declare _style)
        out._style = copy(cell._style)  # type: ignore[attr-defined]
    return out

