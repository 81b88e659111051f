"""Writing a validation report's findings to a file: every finding, none left out (``check-population --report``).

::

    write_findings(report, path, population=None) -> Path      # path ends in .csv or .xlsx

``.csv``: one row per finding (rule, column, row, value, severity, message), UTF-8 with a byte-order mark
so that Excel reads the encoding right. A CSV is read by spreadsheets, which run a cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a formula (CSV injection): such a cell is written
with a leading apostrophe, as OWASP recommends; the ``.xlsx`` report keeps every text exactly as it was.

``.xlsx``: sheet *Findings* (every finding), sheet *By rule* (the findings counted by severity, rule and
column), sheet *Checks* (each check and its outcome) and sheet *Source* (the file, its SHA-256, the records,
the columns used). Client text goes through :func:`workbench.workpaper.cells.write_text`: never a formula.

The file is written atomically (a temporary file beside it, then moved into place).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Iterable, Sequence

from workbench.errors import ParameterError
from workbench.files import replace_atomically
from workbench.population import FINDING_COLUMNS, Population
from workbench.validation import ValidationReport

__all__ = ["write_findings", "REPORT_SUFFIXES"]

#: The report formats, by file suffix.
REPORT_SUFFIXES: tuple[str, ...] = (".csv", ".xlsx")

_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_TRIGGERS) else text


def _finding_rows(report: ValidationReport) -> Iterable[Sequence[object]]:
    findings = report.findings
    return zip(*(findings[column].tolist() for column in FINDING_COLUMNS))


def write_findings(report: ValidationReport, path: str | os.PathLike[str],
                   population: Population | None = None) -> Path:
    """Write every finding of ``report`` to ``path`` (``.csv`` or ``.xlsx``) and return the path.

    Raises
    ------
    ParameterError
        ``path`` does not end in ``.csv`` or ``.xlsx``, or cannot be written (its folder is missing, no
        permission); the message names it.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in REPORT_SUFFIXES:
        raise ParameterError(f"--report {target}: the report is written as .csv or .xlsx; name a file ending in "
                             f"one of them, e.g. --report findings.xlsx")
    if not target.parent.is_dir():
        raise ParameterError(f"--report {target}: the folder {target.parent} does not exist; create it or name "
                             f"another file")
    try:
        if suffix == ".csv":
            return replace_atomically(target, lambda temporary: _write_csv(report, temporary))
        return replace_atomically(target, lambda temporary: _write_xlsx(report, population, temporary))
    except OSError as error:
        raise ParameterError(f"--report {target}: cannot be written ({error.strerror or error}); name a file you "
                             f"can write") from None


def _write_csv(report: ValidationReport, name: str) -> None:
    with open(name, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(FINDING_COLUMNS)
        for row in _finding_rows(report):
            writer.writerow([_csv_cell(value) for value in row])


def _write_xlsx(report: ValidationReport, population: Population | None, name: str) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    from workbench.workpaper.cells import clean_text, is_formula_like, write_value

    book = Workbook(write_only=True)

    def sheet(title: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        ws = book.create_sheet(title)
        ws.append(list(header))
        for row in rows:
            cells: list[object] = []
            for value in row:
                if isinstance(value, float) and value != value:
                    value = None                   # a missing value in the findings table (NaN)
                if value is None or isinstance(value, int) and not isinstance(value, bool) or (
                        isinstance(value, str) and not is_formula_like(value) and clean_text(value) == value):
                    cells.append(value)            # plain text or a row number: nothing to guard against
                else:                              # a formula look-alike, control characters, NaN ...
                    cell = WriteOnlyCell(ws)
                    write_value(cell, value)
                    cells.append(cell)
            ws.append(cells)

    sheet("Findings", [c.capitalize() for c in FINDING_COLUMNS], _finding_rows(report))
    by_rule = report.findings_by_rule()
    sheet("By rule", ["Severity", "Rule", "Column", "Findings", "Rows"], by_rule.itertuples(index=False))
    checks = report.checks
    sheet("Checks", ["Rule", "Check", "Outcome", "Severity"],
          zip(checks["rule"], checks["check"], checks["outcome"], checks["severity"]))
    source: list[tuple[str, object]] = [("Population", report.population), ("Source file", report.source),
                                        ("SHA-256", report.sha256),
                                        ("Records", report.rows_received), ("Usable", "yes" if report.usable else "no"),
                                        ("Errors", len(report.errors)), ("Warnings", len(report.warnings)),
                                        ("Findings", len(report.findings))]
    if population is not None:
        source += [(f"Column {canonical}", header) for canonical, header in population.column_sources]
        source += [("Note", note) for note in population.notes]
    sheet("Source", ["Item", "Value"], source)
    book.save(name)
