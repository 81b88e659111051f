"""The testing template: the control's testing matrix as an Excel workbook, filled offline, imported back validated.

A tester who works away from JupyterLab exports the control's selected items with
``workbench template ENGAGEMENT --control ID [--round R] --out FILE.xlsx``, fills the white cells in Excel,
and imports them with ``workbench import-results ENGAGEMENT FILE.xlsx --tester INITIALS``. The import checks
every cell and records nothing unless every cell is valid (docs/recording-excel.md)::

    write_template(test, path, *, round_name=None, fill=None) -> Path
    import_results(engagement, path, *, tester=None) -> ImportReport     raises TemplateRejected (every problem)
    read_template_tester(path) -> str | None

The workbook:

``Testing``
    One row per selected item in sample order: sample no, item key and the item's key fields (grey, locked), then
    per manual attribute (:func:`workbench.recording.manual_attributes`) four cells: ``<attribute>: Result``
    (drop-down Pass, Fail, N/A), ``Evidence reference``, ``Evidence date`` (a date cell, date validation) and
    ``Comment``. Cell B4 holds the initials of the tester who filled it.
``Exception evaluations``
    One row per exception of the control (full-population analysis and sample), with the evaluation fields of
    :func:`workbench.judgements.evaluate_exception` (type and extent as drop-downs), and blank rows where the
    tester adds an item the template's results fail.
``Walkthrough``
    The walkthrough of one instance and the design evaluation (:func:`workbench.judgements.record_walkthrough`).
``Instructions``
    How to fill it and import it.
``Binding`` (very hidden, protected)
    What the template was exported for: engagement, control, rounds, seeds, population SHA-256s, the selection's
    key-set SHA-256, the selected keys' SHA-256, which attribute each column holds, and the workbench version,
    with a SHA-256 over all of it (an edited binding is detected).

Results already recorded in the store are written into the template (a template exported after partial work is
prefilled); a row left blank is "not yet tested". Client text is written as text, never as a formula.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from workbench.control_test import ControlTest
from workbench.engagement import Engagement
from workbench.evidence import item_folder, pin_evidence, scan_evidence
from workbench.errors import EngagementError, ParameterError, ResultsError
from workbench.judgements import DESIGN_CONCLUSIONS, EXCEPTION_EXTENTS, EXCEPTION_TYPES
from workbench.procedures import Attribute
from workbench.recording import ProposedResult, check_result, items_to_test, manual_attributes
from workbench.results import ResultsStore, read_results
from workbench.workpaper.cells import DATE_FORMAT, write_text
from workbench.workpaper.layout import save_atomically

__all__ = [
    "TEMPLATE_FORMAT",
    "TESTING_SHEET",
    "EVALUATIONS_SHEET",
    "WALKTHROUGH_SHEET",
    "INSTRUCTIONS_SHEET",
    "BINDING_SHEET",
    "RESULT_CHOICES",
    "TESTER_CELL",
    "TESTING_HEADER_ROW",
    "EVALUATION_HEADER_ROW",
    "FilledResult",
    "TemplateFill",
    "TemplateProblem",
    "TemplateRejected",
    "ImportReport",
    "template_binding",
    "write_template",
    "import_results",
    "read_template_tester",
]

#: The binding's first value: which layout the template has (a template of another layout is refused).
TEMPLATE_FORMAT = "workbench testing template 1"
TESTING_SHEET = "Testing"
EVALUATIONS_SHEET = "Exception evaluations"
WALKTHROUGH_SHEET = "Walkthrough"
INSTRUCTIONS_SHEET = "Instructions"
BINDING_SHEET = "Binding"
#: The Result drop-down (any case is accepted on import).
RESULT_CHOICES: tuple[str, ...] = ("Pass", "Fail", "N/A")
#: Where the tester writes their initials.
TESTER_CELL = "B4"
#: The Testing sheet's header row; items start on the next row.
TESTING_HEADER_ROW = 6
#: The Exception evaluations sheet's header row; exceptions start on the next row.
EVALUATION_HEADER_ROW = 4
#: Blank rows left on the Exception evaluations sheet for exceptions the template's own results find.
EXTRA_EVALUATION_ROWS = 10
#: The four cells of a manual attribute, in order.
ATTRIBUTE_CELLS: tuple[str, ...] = ("Result", "Evidence reference", "Evidence date", "Comment")
#: The evaluation fields: (header, field of evaluate_exception, required).
EVALUATION_FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("Type", "type", True), ("Isolated or systematic", "extent", True), ("Why isolated or systematic", "why", True),
    ("Root cause", "root_cause", True), ("Effect on the criteria", "effect_on_criteria", True),
    ("Compensating control", "compensating_control", False),
    ("Management's response (Section 5, unaudited)", "management_response", False))
#: The described columns of an exception row (grey): item key, found by, attribute, what is wrong.
EXCEPTION_COLUMNS: tuple[str, ...] = ("Item key", "Found by", "Attribute(s)", "What is wrong")
#: The walkthrough fields: (label, field of record_walkthrough, required).
WALKTHROUGH_FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("Instance walked through", "instance", True), ("Inquiry of", "inquiry_of", True),
    ("Inquiry date", "inquiry_date", True), ("Inspected", "inspected", True), ("Observed", "observed", True),
    ("Design evaluation", "design", True), ("Notes", "notes", False))
WALKTHROUGH_FIRST_ROW = 4

_GREY = PatternFill("solid", fgColor="D9D9D9")
_HEADER = PatternFill("solid", fgColor="BDD7EE")
_INPUT = PatternFill("solid", fgColor="FFFFFF")
_UNLOCKED = Protection(locked=False)
_WRAP = Alignment(wrap_text=True, vertical="top")


# ------------------------------------------------------------------------------------------------
# What a template holds
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FilledResult:
    """A result written into a template's cells (the demo's filled templates; tests)."""

    outcome: str
    evidence_ref: str | None = None
    evidence_date: _dt.date | None = None
    comment: str | None = None


@dataclass(frozen=True)
class TemplateFill:
    """Values written into the white cells of a template, over what the store holds.

    Attributes
    ----------
    tested_by : str or None
        The tester's initials (cell B4).
    results : Mapping[tuple[str, str], FilledResult]
        (item key, attribute id) -> the result.
    evaluations : Mapping[str, Mapping[str, str]]
        Item key -> evaluation fields (``type``, ``extent``, ``why``, ...). An item that is not listed on the
        sheet as an exception goes into the blank rows below.
    walkthrough : Mapping[str, str | date] or None
        The walkthrough fields (``instance``, ``inquiry_of``, ``inquiry_date``, ...).
    """

    tested_by: str | None = None
    results: Mapping[tuple[str, str], FilledResult] = field(default_factory=dict)
    evaluations: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    walkthrough: Mapping[str, str | _dt.date] | None = None


@dataclass(frozen=True)
class TemplateProblem:
    """One reason a template cannot be imported, at its cell.

    Attributes
    ----------
    sheet : str
    row : int or None
        The Excel row number (None: the whole sheet or file).
    column : str or None
        The Excel column letter.
    header : str or None
        The column's header (with its attribute for the four cells of an attribute).
    message : str
    """

    sheet: str
    row: int | None
    column: str | None
    header: str | None
    message: str

    @property
    def location(self) -> str:
        """``Testing!F12 (Testing evidenced: Result)``, ``Binding``, or the file."""
        if not self.sheet:
            return "file"
        where = self.sheet
        if self.column is not None or self.row is not None:
            where += f"!{self.column or ''}{self.row or ''}"
        return where + (f" ({self.header})" if self.header else "")

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class TemplateRejected(ResultsError):
    """A testing template with problems: nothing was imported. ``problems`` lists every one, at its cell."""

    def __init__(self, path: str | os.PathLike[str], problems: Sequence[TemplateProblem]) -> None:
        self.path = Path(path)
        self.problems = tuple(problems)
        count = len(self.problems)
        super().__init__(f"{self.path.name}: {count} problem{'s' if count != 1 else ''}; nothing was imported. "
                         f"Correct {'them' if count != 1 else 'it'} and import again:\n"
                         + "\n".join(f"  {problem}" for problem in self.problems))


@dataclass(frozen=True)
class ImportReport:
    """What an import recorded.

    Attributes
    ----------
    control_id, tester : str
    recorded : int
        Results written (new, or changed from what the store held).
    unchanged : int
        Results equal to what the store already held (nothing written).
    blank : int
        Attribute cells of items left blank: not yet tested.
    evaluations : int
        Exception evaluations written or confirmed.
    walkthrough : bool
        Whether the walkthrough sheet was filled (and recorded).
    """

    path: Path
    control_id: str
    tester: str
    recorded: int
    unchanged: int
    blank: int
    evaluations: int
    walkthrough: bool

    def summary(self) -> str:
        """One line with the counts."""
        extra = f", {self.evaluations} exception evaluation(s)" if self.evaluations else ""
        extra += ", the walkthrough" if self.walkthrough else ""
        return (f"{self.path.name}: {self.control_id}: {self.recorded} result(s) recorded, {self.unchanged} unchanged, "
                f"{self.blank} blank (not yet tested){extra}; tester {self.tester}.")


# ------------------------------------------------------------------------------------------------
# The binding
# ------------------------------------------------------------------------------------------------

def _version() -> str:
    from importlib import metadata
    try:
        return metadata.version("control-testing-workbench")
    except metadata.PackageNotFoundError:  # pragma: no cover - a bare checkout
        return "unknown"


def _rounds(test: ControlTest, round_name: str | None) -> tuple[int, ...]:
    """Indexes of the selection's parts the template covers."""
    rounds = test.selection.rounds
    if round_name is None:
        return tuple(range(len(rounds)))
    if round_name not in rounds:
        raise ParameterError(f"--round {round_name!r}: control {test.control.id} is tested in round(s) "
                             f"{', '.join(rounds)}; give one of them, or leave --round out for all.")
    return (rounds.index(round_name),)


def _item_keys(test: ControlTest, parts: tuple[int, ...]) -> tuple[str, ...]:
    chosen = {key for index in parts for key in test.selection.parts[index].keys}
    return tuple(key for key in items_to_test(test) if key in chosen)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def template_binding(test: ControlTest, round_name: str | None = None) -> dict[str, str]:
    """What a template of ``test`` (one round, or all) is bound to, name -> value, as the Binding sheet holds it
    (without the attribute columns and the checksum).

    Raises
    ------
    ParameterError
        ``round_name`` is not a round of the control.
    """
    parts = _rounds(test, round_name)
    selection = test.selection
    populations = {p.name: p.sha256 for index in parts for p in test.populations[index:index + 1]}
    return {
        "format": TEMPLATE_FORMAT,
        "engagement_id": test.engagement.engagement_id,
        "control_id": test.control.id,
        "sample_id": selection.sample_id,
        "rounds": ", ".join(selection.rounds[i] for i in parts),
        "seeds": ", ".join(f"{selection.rounds[i]}={selection.parts[i].seed}" for i in parts),
        "population_sha256": ", ".join(f"{name}={sha}" for name, sha in populations.items()),
        "key_set_sha256": ", ".join(f"{selection.rounds[i]}={selection.parts[i].key_set_sha256}" for i in parts),
        "selected_keys_sha256": _sha256("\n".join(_item_keys(test, parts))),
        "items": str(len(_item_keys(test, parts))),
    }


def _checksum(values: Mapping[str, str]) -> str:
    return _sha256(json.dumps(dict(values), sort_keys=True, ensure_ascii=False))


# ------------------------------------------------------------------------------------------------
# Writing
# ------------------------------------------------------------------------------------------------

def _shown(value: Any) -> str:
    """A key field as the template shows it (and compares it on import)."""
    if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M") if (value.hour, value.minute) != (0, 0) else value.strftime("%Y-%m-%d")
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    return str(value).strip()


def _heading(name: str) -> str:
    return name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class _Layout:
    """Where everything is on the Testing sheet."""

    key_headers: tuple[str, ...]           # sample no, item key, key fields
    key_columns: tuple[str, ...]           # the item frame's columns behind them
    attributes: tuple[Attribute, ...]

    def first_column(self, index: int) -> int:
        """1-based column of the Result cell of the index-th attribute."""
        return len(self.key_headers) + 1 + 4 * index

    def headers(self) -> list[str]:
        out = list(self.key_headers)
        for attribute in self.attributes:
            out += [f"{attribute.label}: Result", "Evidence reference", "Evidence date", "Comment"]
        return out

    def full_header(self, column: int) -> str:
        """The header of a column, with its attribute for the four cells of an attribute."""
        if column <= len(self.key_headers):
            return self.key_headers[column - 1]
        index, cell = divmod(column - len(self.key_headers) - 1, 4)
        return f"{self.attributes[index].label}: {ATTRIBUTE_CELLS[cell]}"


def _layout(test: ControlTest) -> _Layout:
    items = test.testing.items
    key = test.testing.key_column
    columns = [c for c in dict.fromkeys(items.columns) if c not in ("sample_no", key)]
    headers = ["Sample no", f"Item key ({key})"] + [_heading(c) for c in columns]
    return _Layout(tuple(headers), ("sample_no", key, *columns), manual_attributes(test))


def _item_rows(test: ControlTest, keys: tuple[str, ...], layout: _Layout) -> list[list[str]]:
    items = test.testing.items.loc[:, ~test.testing.items.columns.duplicated()]
    key = test.testing.key_column
    by_key = {str(row[key]): row for row in items.to_dict("records")}
    return [[_shown(by_key[k].get(column)) for column in layout.key_columns] for k in keys]


def _recorded(test: ControlTest) -> dict[tuple[str, str], dict[str, Any]]:
    frame = read_results(test.engagement, test.control.id)
    return {(str(r["item_key"]), str(r["attribute_id"])): {str(k): v for k, v in r.items()}
            for r in frame.to_dict("records")}


def _at(ws: Worksheet, row: int | str, column: int = 0) -> Cell:
    """The cell at (row, column) or at a reference such as "B4"; the template never merges cells."""
    cell = ws[row] if isinstance(row, str) else ws.cell(row=row, column=column)
    assert isinstance(cell, Cell)
    return cell


def _input(cell: Cell, value: Any = None, *, date: bool = False) -> None:
    """An input cell: unlocked, white; a date cell keeps a real date."""
    cell.protection = _UNLOCKED
    cell.fill = _INPUT
    if date:
        cell.number_format = DATE_FORMAT
        if isinstance(value, str) and value:
            value = _dt.date.fromisoformat(value)
        cell.value = value if isinstance(value, _dt.date) else None
    elif value is not None:
        write_text(cell, value)


def _locked(cell: Cell, value: Any, *, fill: PatternFill = _GREY) -> None:
    write_text(cell, value)
    cell.fill = fill


def _protect(ws: Worksheet) -> None:
    ws.protection.sheet = True
    ws.protection.formatColumns = False     # the tester may widen columns and rows
    ws.protection.formatRows = False


def _outcome_shown(outcome: str | None) -> str | None:
    return {"pass": "Pass", "fail": "Fail", "n/a": "N/A"}.get((outcome or "").lower())


def write_template(test: ControlTest, path: str | os.PathLike[str], *, round_name: str | None = None,
                   fill: TemplateFill | None = None) -> Path:
    """Write the testing template of a tested control to ``path`` (.xlsx), atomically.

    Parameters
    ----------
    test : ControlTest
        The control as it stands (its current selection; results already recorded are prefilled).
    path : path-like
        The workbook to write.
    round_name : str, optional
        Only the items of this round (default: every round of the selection).
    fill : TemplateFill, optional
        Values to write into the white cells over what the store holds (the demo's filled templates, tests).

    Returns
    -------
    Path

    Raises
    ------
    ParameterError
        Not an .xlsx name, a folder, a round the control is not tested in, or a control with no manual attribute
        (nothing to record).
    """
    target = Path(path)
    if target.suffix.lower() != ".xlsx":
        raise ParameterError(f"--out {target}: give an .xlsx file name, e.g. --out {test.control.id}.xlsx.")
    if target.is_dir():
        raise ParameterError(f"--out {target} is a folder; give the file to write, e.g. "
                             f"{target / (test.control.id + '.xlsx')}.")
    layout = _layout(test)
    if not layout.attributes:
        raise ParameterError(f"control {test.control.id} has no manual attribute: every attribute is computed from "
                             f"the population (or decided by other controls' conclusions), so there is nothing to "
                             f"record in a template.")
    binding = template_binding(test, round_name)
    keys = _item_keys(test, _rounds(test, round_name))
    fill = fill or TemplateFill()
    recorded = _recorded(test)
    engagement, control = test.engagement, test.control

    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = TESTING_SHEET
    _at(ws, "A1").value = f"Testing template: {control.id}"
    _at(ws, "A1").font = Font(bold=True, size=14)
    write_text(_at(ws, "A2"), f"{engagement.client}, {engagement.report_label} {engagement.period_label} "
                         f"(engagement {engagement.engagement_id}). {control.description}")
    write_text(_at(ws, "A3"), f"Sample {binding['sample_id']}: {binding['items']} item(s); round(s) {binding['rounds']}; "
                         f"seed(s) {binding['seeds']}. Fill the white cells; the grey cells are the selection.")
    _at(ws, "A4").value = "Tested by (initials)"
    _at(ws, "A4").font = Font(bold=True)
    _input(_at(ws, TESTER_CELL), fill.tested_by)
    for index, attribute in enumerate(layout.attributes):
        cell = _at(ws, TESTING_HEADER_ROW - 1, layout.first_column(index))
        write_text(cell, f"{attribute.label}: {attribute.description}")
        cell.font = Font(bold=True)
    for column, header in enumerate(layout.headers(), start=1):
        cell = _at(ws, TESTING_HEADER_ROW, column)
        write_text(cell, header)
        cell.font = Font(bold=True)
        cell.fill = _HEADER
        cell.alignment = _WRAP
    first = TESTING_HEADER_ROW + 1
    last = first + len(keys) - 1
    for offset, (key, values) in enumerate(zip(keys, _item_rows(test, keys, layout))):
        row = first + offset
        for column, value in enumerate(values, start=1):
            _locked(_at(ws, row, column), value)
        for index, attribute in enumerate(layout.attributes):
            start = layout.first_column(index)
            stored = recorded.get((key, attribute.id), {})
            given = fill.results.get((key, attribute.id))
            outcome = given.outcome if given else _outcome_shown(stored.get("outcome"))
            ref = given.evidence_ref if given else stored.get("evidence_ref")
            day = given.evidence_date if given else stored.get("evidence_date")
            comment = given.comment if given else stored.get("comment")
            _input(_at(ws, row, start), _outcome_shown(outcome) or outcome)
            _input(_at(ws, row, start + 1), ref)
            _input(_at(ws, row, start + 2), day, date=True)
            _input(_at(ws, row, start + 3), comment)
    if keys:
        results = DataValidation(type="list", formula1='"' + ",".join(RESULT_CHOICES) + '"', allow_blank=True,
                                 showErrorMessage=True, errorTitle="Result",
                                 error="Choose Pass, Fail or N/A (or leave it blank: not yet tested).")
        dates = DataValidation(type="date", operator="between", formula1="DATE(2000,1,1)",
                               formula2="DATE(2100,12,31)", allow_blank=True, showErrorMessage=True,
                               errorTitle="Evidence date", error="Enter the date the evidence shows, as a date.")
        for index in range(len(layout.attributes)):
            start = layout.first_column(index)
            results.add(f"{get_column_letter(start)}{first}:{get_column_letter(start)}{last}")
            dates.add(f"{get_column_letter(start + 2)}{first}:{get_column_letter(start + 2)}{last}")
        ws.add_data_validation(results)
        ws.add_data_validation(dates)
    for column in range(1, len(layout.headers()) + 1):
        ws.column_dimensions[get_column_letter(column)].width = 12 if column == 1 else 22
    ws.freeze_panes = _at(ws, first, 3)
    _protect(ws)

    _write_evaluations(book, test, fill)
    _write_walkthrough(book, test, fill)
    _write_instructions(book, test, layout)
    _write_binding(book, binding, layout)
    book.active = 0
    return save_atomically(book, target)


def _write_evaluations(book: Workbook, test: ControlTest, fill: TemplateFill) -> None:
    ws = book.create_sheet(EVALUATIONS_SHEET)
    _at(ws, "A1").value = f"Exception evaluations: {test.control.id}"
    _at(ws, "A1").font = Font(bold=True, size=14)
    write_text(_at(ws, "A2"), "Evaluate each exception (workflow: type, isolated or systematic and why, root cause, effect "
                         "on the criteria, compensating control, management's response). Leave a row blank to "
                         "evaluate it later. An item your results on the Testing sheet fail goes into a blank row "
                         "below the listed exceptions (its item key in column A).")
    headers = list(EXCEPTION_COLUMNS) + [header for header, _, _ in EVALUATION_FIELDS]
    for column, header in enumerate(headers, start=1):
        cell = _at(ws, EVALUATION_HEADER_ROW, column)
        write_text(cell, header)
        cell.font = Font(bold=True)
        cell.fill = _HEADER
        cell.alignment = _WRAP
    exceptions = test.evaluation.exceptions
    listed: dict[str, list[dict[str, Any]]] = {}
    for record in exceptions.to_dict("records"):
        listed.setdefault(str(record["item"]), []).append({str(k): v for k, v in record.items()})
    recorded = test.evaluation.evaluations
    extra = [item for item in fill.evaluations if item not in listed]
    row = EVALUATION_HEADER_ROW + 1
    for item, records in listed.items():
        _locked(_at(ws, row, 1), item)
        _locked(_at(ws, row, 2), "; ".join(dict.fromkeys(str(r["found_by"]) for r in records)))
        _locked(_at(ws, row, 3), "; ".join(dict.fromkeys(str(r["attribute"]) for r in records)))
        _locked(_at(ws, row, 4), "; ".join(dict.fromkeys(
            f"{r['description']}" + (f" ({r['reason']})" if r.get("reason") else "") for r in records)))
        _evaluation_inputs(ws, row, fill.evaluations.get(item) or _evaluation_values(recorded.get(item)))
        row += 1
    for offset in range(max(EXTRA_EVALUATION_ROWS, len(extra) + 3)):
        added = extra[offset] if offset < len(extra) else None
        _input(_at(ws, row, 1), added)
        for column in (2, 3, 4):
            _locked(_at(ws, row, column), None)
        _evaluation_inputs(ws, row, fill.evaluations.get(added) if added else None)
        row += 1
    last = row - 1
    types = DataValidation(type="list", formula1='"' + ",".join(t.replace("_", " ") for t in EXCEPTION_TYPES) + '"',
                           allow_blank=True, showErrorMessage=True, error="Choose a type from the list.")
    extents = DataValidation(type="list", formula1='"' + ",".join(EXCEPTION_EXTENTS) + '"', allow_blank=True,
                             showErrorMessage=True, error="Choose isolated or systematic.")
    first = EVALUATION_HEADER_ROW + 1
    types.add(f"E{first}:E{last}")
    extents.add(f"F{first}:F{last}")
    ws.add_data_validation(types)
    ws.add_data_validation(extents)
    for column in range(1, len(headers) + 1):
        ws.column_dimensions[get_column_letter(column)].width = 30 if column > 3 else 18
    ws.freeze_panes = _at(ws, first, 2)
    _protect(ws)


def _evaluation_values(evaluation: Any) -> dict[str, str] | None:
    if evaluation is None:
        return None
    return {name: getattr(evaluation, name) for _, name, _ in EVALUATION_FIELDS}


def _evaluation_inputs(ws: Worksheet, row: int, values: Mapping[str, str | None] | None) -> None:
    for offset, (_, name, _) in enumerate(EVALUATION_FIELDS):
        value = (values or {}).get(name)
        if name == "type" and value:
            value = value.replace("_", " ")
        _input(_at(ws, row, len(EXCEPTION_COLUMNS) + 1 + offset), value)


def _write_walkthrough(book: Workbook, test: ControlTest, fill: TemplateFill) -> None:
    ws = book.create_sheet(WALKTHROUGH_SHEET)
    _at(ws, "A1").value = f"Walkthrough: {test.control.id}"
    _at(ws, "A1").font = Font(bold=True, size=14)
    write_text(_at(ws, "A2"), "The walkthrough of one instance of the control and the design evaluation. Leave every cell "
                         "blank to record it later.")
    stored = test.evaluation.walkthrough
    values: Mapping[str, Any] = fill.walkthrough or (
        {name: getattr(stored, name) for _, name, _ in WALKTHROUGH_FIELDS} if stored is not None else {})
    for offset, (label, name, required) in enumerate(WALKTHROUGH_FIELDS):
        row = WALKTHROUGH_FIRST_ROW + offset
        _locked(_at(ws, row, 1), label + ("" if required else " (optional)"), fill=_HEADER)
        _input(_at(ws, row, 2), values.get(name), date=name == "inquiry_date")
        _at(ws, row, 2).alignment = _WRAP
    design = DataValidation(type="list", formula1='"' + ",".join(DESIGN_CONCLUSIONS) + '"', allow_blank=True,
                            showErrorMessage=True, error="Choose suitably designed or not suitably designed.")
    design.add(f"B{WALKTHROUGH_FIRST_ROW + 5}")
    ws.add_data_validation(design)
    ws.column_dimensions["A"].width = 30
    ws.column_dimensions["B"].width = 80
    _protect(ws)


def _write_instructions(book: Workbook, test: ControlTest, layout: _Layout) -> None:
    ws = book.create_sheet(INSTRUCTIONS_SHEET)
    engagement = test.engagement
    lines = [
        f"Testing template of control {test.control.id}, engagement {engagement.engagement_id}",
        "",
        f"1. Write your initials in {TESTING_SHEET}!{TESTER_CELL}.",
        f"2. For each item on the {TESTING_SHEET} sheet and each attribute, choose the Result (Pass, Fail or N/A), "
        f"give the Evidence reference (required for a pass or a fail: the ticket, document or screenshot), the "
        f"Evidence date (the date the evidence shows; required where the attribute compares it with a date of the "
        f"item) and a Comment (what was wrong, for a fail; why, for an N/A).",
        "3. Leave an attribute's cells blank for an item not tested yet: it is imported as not yet tested.",
        f"4. Evaluate each exception on the {EVALUATIONS_SHEET} sheet (an item you fail goes into a blank row there), "
        f"and record the walkthrough on the {WALKTHROUGH_SHEET} sheet when it is done.",
        f"5. Import: workbench import-results {engagement.folder.name} FILE.xlsx --tester INITIALS",
        "",
        "The import checks every cell and records nothing unless every cell is valid; it lists every problem with "
        "its sheet, row and column. Do not add, remove, reorder or edit the grey cells or the columns: the "
        "template is bound to this control's current selection (seed, population SHA-256), and a template of "
        "another selection, round, engagement or control is refused: export a new one with workbench template.",
        "",
        "Attributes:",
    ]
    lines += [f"- {a.label}: {a.description} Evidence: {a.evidence_request}." for a in layout.attributes]
    for row, line in enumerate(lines, start=1):
        write_text(_at(ws, row, 1), line)
        _at(ws, row, 1).alignment = Alignment(wrap_text=True, vertical="top")
    _at(ws, "A1").font = Font(bold=True, size=14)
    ws.column_dimensions["A"].width = 120
    _protect(ws)


def _binding_rows(binding: Mapping[str, str], layout: _Layout) -> dict[str, str]:
    rows = dict(binding)
    rows["key_columns"] = " | ".join(layout.key_headers)
    for index, attribute in enumerate(layout.attributes):
        start = layout.first_column(index)
        rows[f"attribute:{attribute.id}"] = ":".join(get_column_letter(start + i) for i in range(4))
    rows["workbench_version"] = _version()
    return rows


def _write_binding(book: Workbook, binding: Mapping[str, str], layout: _Layout) -> None:
    ws = book.create_sheet(BINDING_SHEET)
    rows = _binding_rows(binding, layout)
    rows["checksum"] = _checksum(rows)
    for row, (name, value) in enumerate(rows.items(), start=1):
        write_text(_at(ws, row, 1), name)
        write_text(_at(ws, row, 2), value)
    ws.sheet_state = "veryHidden"
    ws.protection.sheet = True


# ------------------------------------------------------------------------------------------------
# Reading and importing
# ------------------------------------------------------------------------------------------------

def _open(path: Path) -> Workbook:
    """The workbook, or TemplateRejected with one problem saying why it cannot be read."""
    def refuse(message: str) -> TemplateRejected:
        return TemplateRejected(path, [TemplateProblem("", None, None, None, message)])

    if not path.is_file():
        raise refuse(f"{path} does not exist (or is a folder); give the template's .xlsx file.")
    lock = path.with_name("~$" + path.name)
    if lock.exists():
        raise refuse(f"the workbook is open in Excel (its lock file {lock.name} is beside it): save it, close it, and "
                     f"import again (delete {lock.name} if Excel is not running).")
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError as error:
        raise refuse(f"{path.name} cannot be read ({error.strerror}): is it open or locked by another program? "
                     f"Close it and import again.") from None
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise refuse(f"{path.name} is password-protected (encrypted) or an old .xls workbook: save it from Excel as "
                     f"an .xlsx workbook without a password, and import again.")
    if not head.startswith(b"PK"):
        raise refuse(f"{path.name} is not an Excel workbook (.xlsx); import the template written by "
                     f"workbench template.")
    try:
        return load_workbook(path)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise refuse(f"{path.name} cannot be read as an .xlsx workbook ({error}); import the template written by "
                     f"workbench template, saved as .xlsx.") from None


def _cell_value(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _text_of(value: Any) -> str | None:
    value = _cell_value(value)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, _dt.datetime):
        return value.date().isoformat() if value.time() == _dt.time() else value.isoformat(sep=" ")
    return str(value)


def _date_of(value: Any) -> _dt.date | None | str:
    """A date cell as a date; None when blank; the text itself when it is not a date."""
    value = _cell_value(value)
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return value.date() if value.time() == _dt.time() else str(value)
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value)
        except ValueError:
            return value
    return str(value)


def _read_binding(book: Workbook) -> tuple[dict[str, str] | None, list[TemplateProblem]]:
    if BINDING_SHEET not in book.sheetnames:
        return None, [TemplateProblem(BINDING_SHEET, None, None, None,
                                      "the Binding sheet was removed, so the template cannot be matched to a control's "
                                      "selection; export a new template with workbench template and copy your entries "
                                      "into it.")]
    ws = book[BINDING_SHEET]
    rows: dict[str, str] = {}
    for name, value in ws.iter_rows(min_row=1, max_col=2, values_only=True):
        if name is not None:
            rows[str(name)] = "" if value is None else str(value)
    checksum = rows.pop("checksum", None)
    if rows.get("format") != TEMPLATE_FORMAT:
        return None, [TemplateProblem(BINDING_SHEET, 1, "B", "format",
                                      f"not a testing template of this workbench (format {rows.get('format')!r}); "
                                      f"export one with workbench template.")]
    if checksum != _checksum(rows):
        return None, [TemplateProblem(BINDING_SHEET, None, None, None,
                                      "the Binding sheet was edited (its checksum does not match its values), so the "
                                      "template cannot be trusted to match a selection; export a new template with "
                                      "workbench template and copy your entries into it.")]
    return rows, []


def _binding_row(rows: Mapping[str, str], name: str) -> int:
    return list(rows).index(name) + 1


_BINDING_WORDS = {
    "engagement_id": "engagement", "control_id": "control", "sample_id": "sample", "rounds": "round(s)",
    "seeds": "seed(s)", "population_sha256": "population SHA-256(s)", "key_set_sha256": "population key-set SHA-256",
    "selected_keys_sha256": "selected items", "items": "number of items",
}


def _compare_binding(rows: Mapping[str, str], expected: Mapping[str, str]) -> list[TemplateProblem]:
    problems = []
    for name, words in _BINDING_WORDS.items():
        if rows.get(name) != expected[name]:
            problems.append(TemplateProblem(
                BINDING_SHEET, _binding_row(rows, name) if name in rows else None, "B", name,
                f"the template was exported for {words} {rows.get(name)!r}; the control's current selection has "
                f"{expected[name]!r}. It is a template of another selection: export a new one with workbench "
                f"template {rows.get('control_id', '')} and copy your entries into it."))
    return problems


def read_template_tester(path: str | os.PathLike[str]) -> str | None:
    """The initials written in a template's Testing!B4 (None when blank or unreadable)."""
    try:
        book = load_workbook(Path(path), read_only=True)
    except Exception:   # noqa: BLE001 - the import reports why; here a tester is only looked up
        return None
    try:
        if TESTING_SHEET not in book.sheetnames:
            return None
        return _text_of(book[TESTING_SHEET][TESTER_CELL].value)
    finally:
        book.close()


@dataclass
class _Parsed:
    proposals: list[tuple[ProposedResult, int, int]] = field(default_factory=list)   # result, row, Result column
    blank: int = 0
    evaluations: list[tuple[str, dict[str, str | None], int]] = field(default_factory=list)
    walkthrough: dict[str, str | None] | None = None
    tester: str | None = None                 # the tester's initials, once resolved
    problems: list[TemplateProblem] = field(default_factory=list)


def _resolve_tester(engagement: Engagement, given: str | None, written: str | None) -> tuple[str | None, str | None]:
    """(initials, problem) for the tester given on the command line and the one written in B4."""
    def member(name: str) -> Any:
        folded = name.casefold()
        return next((m for m in engagement.staff if folded in (m.initials.casefold(), m.name.casefold())), None)

    listing = ", ".join(f"{m.initials} ({m.name}, {m.role})" for m in engagement.staff)
    name = given or written
    if not name:
        return None, (f"no tester: write your initials in {TESTING_SHEET}!{TESTER_CELL}, or give --tester INITIALS "
                      f"(the staff: {listing}).")
    found = member(name)
    if found is None:
        return None, (f"{name!r} is not on the staff list of engagement {engagement.engagement_id} ({listing}); give "
                      f"the initials of the preparer who did the tests, or add them to [[staff]] in engagement.toml.")
    if given and written and member(written) is not found:
        return None, (f"the template says it was filled by {written!r}, but --tester is {given!r}: import it as the "
                      f"tester who did the work (--tester {written}), or correct {TESTING_SHEET}!{TESTER_CELL}.")
    return found.initials, None


def _parse(test: ControlTest, book: Workbook, binding: Mapping[str, str], tester: str | None) -> _Parsed:
    parsed = _Parsed()
    problems = parsed.problems
    layout = _layout(test)
    if TESTING_SHEET not in book.sheetnames:
        problems.append(TemplateProblem(TESTING_SHEET, None, None, None, "the Testing sheet was removed or renamed; "
                                        "export a new template with workbench template."))
        return parsed
    ws = book[TESTING_SHEET]
    # columns: the binding says which attribute each column holds; the headers must still be there
    expected_columns = {name[len("attribute:"):]: value for name, value in binding.items()
                        if name.startswith("attribute:")}
    current = {a.id: ":".join(get_column_letter(layout.first_column(i) + k) for k in range(4))
               for i, a in enumerate(layout.attributes)}
    if expected_columns != current or binding.get("key_columns") != " | ".join(layout.key_headers):
        problems.append(TemplateProblem(BINDING_SHEET, None, None, None,
                                        f"the template's columns (attributes {', '.join(expected_columns)}) are not "
                                        f"the control's manual attributes now ({', '.join(current)}); export a new "
                                        f"template with workbench template."))
        return parsed
    for column, header in enumerate(layout.headers(), start=1):
        found = _text_of(ws.cell(row=TESTING_HEADER_ROW, column=column).value)
        if found != header:
            problems.append(TemplateProblem(TESTING_SHEET, TESTING_HEADER_ROW, get_column_letter(column), header,
                                            f"the header reads {found!r}, expected {header!r}: columns were moved, "
                                            f"inserted or deleted; use the columns as exported."))
    if problems:
        return parsed
    # rows: identified by their item key (the tester may sort them); every selected item exactly once
    keys = _item_keys(test, tuple(test.selection.rounds.index(r) for r in binding["rounds"].split(", ")))
    expected = {k: values for k, values in zip(keys, _item_rows(test, keys, layout))}
    position = {k: i for i, k in enumerate(keys)}
    width = len(layout.headers())
    seen: dict[str, int] = {}
    rows: list[tuple[int, str, tuple[Any, ...]]] = []
    for row_number, values in enumerate(ws.iter_rows(min_row=TESTING_HEADER_ROW + 1, max_col=max(width, 1),
                                                     values_only=True), start=TESTING_HEADER_ROW + 1):
        cells = tuple(values) + (None,) * (width - len(values))
        if all(_cell_value(v) is None for v in cells):
            continue
        key = _text_of(cells[1])
        key_header = layout.key_headers[1]
        if key is None or key not in expected:
            what = "no item key" if key is None else f"item key {key!r} is not in the selection"
            problems.append(TemplateProblem(TESTING_SHEET, row_number, "B", key_header,
                                            f"{what}: an extra row or a changed key cell. Keep the rows as exported "
                                            f"(one per selected item) and delete added rows."))
            continue
        if key in seen:
            problems.append(TemplateProblem(TESTING_SHEET, row_number, "B", key_header,
                                            f"item {key} appears twice (rows {seen[key]} and {row_number}); keep one "
                                            f"row per item."))
            continue
        seen[key] = row_number
        for column, want in enumerate(expected[key], start=1):
            if column == 2:
                continue
            got = _text_of(cells[column - 1]) or ""
            if got != want:
                problems.append(TemplateProblem(TESTING_SHEET, row_number, get_column_letter(column),
                                                layout.key_headers[column - 1],
                                                f"item {key}: the cell reads {got!r}, but the selection has {want!r}; "
                                                f"the grey cells are the selection and must not be edited."))
        rows.append((row_number, key, cells))
    for key in keys:
        if key not in seen:
            problems.append(TemplateProblem(TESTING_SHEET, TESTING_HEADER_ROW + 1 + position[key], "B",
                                            layout.key_headers[1],
                                            f"item {key} (sample no {expected[key][0]}) is missing: its row was "
                                            f"deleted or its key changed. Every selected item keeps its row; leave "
                                            f"its cells blank if it is not tested yet."))
    # the tester
    initials, tester_problem = _resolve_tester(test.engagement, tester, _text_of(ws[TESTER_CELL].value))
    parsed.tester = initials
    if tester_problem:
        problems.append(TemplateProblem(TESTING_SHEET, 4, "B", "Tested by (initials)", tester_problem))
    # the cells of each attribute
    for row_number, key, cells in rows:
        for index, attribute in enumerate(layout.attributes):
            start = layout.first_column(index)
            outcome_cell, ref_cell, date_cell, comment_cell = cells[start - 1:start + 3]

            def problem(offset: int, message: str) -> None:
                problems.append(TemplateProblem(TESTING_SHEET, row_number, get_column_letter(start + offset),
                                                layout.full_header(start + offset), f"item {key}: {message}"))

            if all(_cell_value(v) is None for v in (outcome_cell, ref_cell, date_cell, comment_cell)):
                parsed.blank += 1
                continue
            outcome = _text_of(outcome_cell)
            if outcome is None:
                problem(0, "evidence or a comment is given but no Result; choose Pass, Fail or N/A, or clear the "
                           "row's cells of this attribute (not yet tested).")
                continue
            if outcome.lower() not in ("pass", "fail", "n/a"):
                problem(0, f"{outcome!r} is not a result; choose Pass, Fail or N/A.")
                continue
            day = _date_of(date_cell)
            if isinstance(day, str):
                problem(2, f"{day!r} is not a date; enter the date the evidence shows as a date (YYYY-MM-DD).")
                continue
            for offset, value in ((1, ref_cell), (3, comment_cell)):
                if isinstance(value, str) and value.startswith("="):
                    problem(offset, "the cell holds a formula; type the text itself.")
            proposed = ProposedResult(item_key=key, attribute_id=attribute.id, outcome=outcome.lower(),
                                      evidence_ref=_text_of(ref_cell), evidence_date=day,
                                      comment=_text_of(comment_cell))
            if initials is not None:
                for issue in check_result(test, proposed, tester=initials):
                    offset = {"outcome": 0, "evidence_ref": 1, "evidence_date": 2, "comment": 3}.get(issue.field, 0)
                    if issue.field == "tester":
                        continue    # the tester is one problem, at B4, not one per cell
                    problem(offset, issue.message)
            parsed.proposals.append((proposed, row_number, start))
    if initials is not None:
        for proposed, _, _ in parsed.proposals[:1]:
            for issue in check_result(test, proposed, tester=initials):
                if issue.field == "tester":
                    problems.append(TemplateProblem(TESTING_SHEET, 4, "B", "Tested by (initials)", issue.message))
    # evidence files a result would cite must stay inside the engagement folder (as record_results checks)
    folder = test.engagement.folder
    reported: set[str] = set()
    for proposed, row_number, start in parsed.proposals:
        if proposed.item_key in reported:
            continue
        reported.add(proposed.item_key)
        for owner in _evidence_owners(test):
            for file in scan_evidence(folder, item_folder(folder, owner, proposed.item_key)):
                if file.refused:
                    problems.append(TemplateProblem(TESTING_SHEET, row_number, get_column_letter(start + 1),
                                                    layout.full_header(start + 1),
                                                    f"item {proposed.item_key}: evidence file {file.path}: "
                                                    f"{file.refused}"))
    failing = {p.item_key for p, _, _ in parsed.proposals if p.outcome == "fail"}
    _parse_evaluations(test, book, parsed, failing)
    _parse_walkthrough(book, parsed)
    return parsed


def _evidence_owners(test: ControlTest) -> tuple[str, ...]:
    """The evidence folders of the control's items: ``evidence/<control id>/`` and its shared sample's."""
    return tuple(dict.fromkeys((test.control.id, test.selection.sample_id)))


def _choice(value: str, choices: tuple[str, ...]) -> str | None:
    wanted = value.strip().lower().replace(" ", "_")
    return next((c for c in choices if c.replace(" ", "_") == wanted), None)


def _parse_evaluations(test: ControlTest, book: Workbook, parsed: _Parsed, failing: set[str]) -> None:
    if EVALUATIONS_SHEET not in book.sheetnames:
        parsed.problems.append(TemplateProblem(EVALUATIONS_SHEET, None, None, None,
                                               "the sheet was removed or renamed; export a new template."))
        return
    ws = book[EVALUATIONS_SHEET]
    headers = list(EXCEPTION_COLUMNS) + [header for header, _, _ in EVALUATION_FIELDS]
    for column, header in enumerate(headers, start=1):
        found = _text_of(ws.cell(row=EVALUATION_HEADER_ROW, column=column).value)
        if found != header:
            parsed.problems.append(TemplateProblem(EVALUATIONS_SHEET, EVALUATION_HEADER_ROW,
                                                   get_column_letter(column), header,
                                                   f"the header reads {found!r}, expected {header!r}: use the "
                                                   f"columns as exported."))
            return
    exceptions = set(test.evaluation.exception_items)
    # an item the store already holds as failing is an exception too (a sample exception recorded earlier)
    results = test.testing.item_results
    failing = failing | set(results.loc[results["outcome"] == "fail", "item_key"].astype(str))
    seen: dict[str, int] = {}
    for row_number, values in enumerate(ws.iter_rows(min_row=EVALUATION_HEADER_ROW + 1, max_col=len(headers),
                                                     values_only=True), start=EVALUATION_HEADER_ROW + 1):
        cells = tuple(values) + (None,) * (len(headers) - len(values))
        inputs = cells[len(EXCEPTION_COLUMNS):]
        if all(_cell_value(v) is None for v in inputs):
            continue
        item = _text_of(cells[0])

        def problem(column: int, message: str) -> None:
            parsed.problems.append(TemplateProblem(EVALUATIONS_SHEET, row_number, get_column_letter(column),
                                                   headers[column - 1], message))

        if item is None:
            problem(1, "an evaluation without an item key; give the key of the exception it evaluates.")
            continue
        if item not in exceptions and item not in failing:
            problem(1, f"item {item} is not an exception of {test.control.id} (not found by the full-population "
                       f"analysis, and no result of this template or the store fails it); evaluate exceptions only.")
            continue
        if item in seen:
            problem(1, f"item {item} is evaluated twice (rows {seen[item]} and {row_number}); keep one row.")
            continue
        seen[item] = row_number
        value: dict[str, str | None] = {}
        for offset, (header, name, required) in enumerate(EVALUATION_FIELDS):
            column = len(EXCEPTION_COLUMNS) + 1 + offset
            text = _text_of(inputs[offset])
            if text is None:
                if required:
                    problem(column, f"item {item}: {header.lower()} is required for an evaluation; fill it, or clear "
                                    f"the row's evaluation cells to evaluate it later.")
                value[name] = None
                continue
            if name in ("type", "extent"):
                choices = EXCEPTION_TYPES if name == "type" else EXCEPTION_EXTENTS
                chosen = _choice(text, choices)
                if chosen is None:
                    problem(column, f"item {item}: {text!r} is not one of "
                                    f"{', '.join(c.replace('_', ' ') for c in choices)}.")
                value[name] = chosen
                continue
            value[name] = text
        parsed.evaluations.append((item, value, row_number))


def _parse_walkthrough(book: Workbook, parsed: _Parsed) -> None:
    if WALKTHROUGH_SHEET not in book.sheetnames:
        parsed.problems.append(TemplateProblem(WALKTHROUGH_SHEET, None, None, None,
                                               "the sheet was removed or renamed; export a new template."))
        return
    ws = book[WALKTHROUGH_SHEET]
    cells = [ws.cell(row=WALKTHROUGH_FIRST_ROW + i, column=2).value for i in range(len(WALKTHROUGH_FIELDS))]
    if all(_cell_value(v) is None for v in cells):
        return
    value: dict[str, str | None] = {}
    for offset, ((label, name, required), cell) in enumerate(zip(WALKTHROUGH_FIELDS, cells)):
        row = WALKTHROUGH_FIRST_ROW + offset

        def problem(message: str) -> None:
            parsed.problems.append(TemplateProblem(WALKTHROUGH_SHEET, row, "B", label, message))

        if _cell_value(cell) is None:
            if required:
                problem(f"{label.lower()} is required for the walkthrough; fill it, or clear every cell of the sheet "
                        f"to record the walkthrough later.")
            value[name] = None
        elif name == "inquiry_date":
            day = _date_of(cell)
            if isinstance(day, str) or day is None:
                problem(f"{cell!r} is not a date; enter the inquiry date as a date (YYYY-MM-DD).")
            elif day > _dt.date.today():
                problem(f"{day.isoformat()} is in the future; enter the date of the inquiry.")
            else:
                value[name] = day.isoformat()
        elif name == "design":
            chosen = _choice(str(_text_of(cell)), DESIGN_CONCLUSIONS)
            if chosen is None:
                problem(f"{_text_of(cell)!r} is not one of {', '.join(DESIGN_CONCLUSIONS)}.")
            value[name] = chosen
        else:
            value[name] = _text_of(cell)
    parsed.walkthrough = value


def import_results(engagement: Engagement, path: str | os.PathLike[str], *, tester: str | None = None,
                   control_id: str | None = None, test: ControlTest | None = None) -> ImportReport:
    """Validate a filled testing template and record its results, evaluations and walkthrough, all or nothing.

    Parameters
    ----------
    engagement : Engagement
    path : path-like
        The template (.xlsx).
    tester : str, optional
        The preparer who did the tests (initials or name, on the staff list). Default: the initials written in
        the template's Testing!B4; when both are given they must name the same person.
    control_id : str, optional
        The control the template must be of (``workbench run`` gives the file name's; default: the binding's).
    test : ControlTest, optional
        The control's test as it stands, when the caller has it (default: run its stages, as a run does).

    Returns
    -------
    ImportReport

    Raises
    ------
    TemplateRejected
        Every problem, each at its sheet, row and column; nothing was recorded.
    """
    from workbench.pipeline import run_control_test

    target = Path(path)
    book = _open(target)
    binding, problems = _read_binding(book)
    if binding is None:
        raise TemplateRejected(target, problems)
    if binding.get("engagement_id") != engagement.engagement_id:
        raise TemplateRejected(target, [TemplateProblem(
            BINDING_SHEET, _binding_row(binding, "engagement_id"), "B", "engagement_id",
            f"the template belongs to engagement {binding.get('engagement_id')!r}, not {engagement.engagement_id!r}; "
            f"import it into its own engagement, or export a template of this one.")])
    bound = binding.get("control_id", "")
    if control_id is not None and bound != control_id:
        raise TemplateRejected(target, [TemplateProblem(
            BINDING_SHEET, _binding_row(binding, "control_id"), "B", "control_id",
            f"the template is of control {bound!r}, not {control_id!r}; import the template of {control_id} "
            f"(workbench template ... --control {control_id}).")])
    control_id = bound
    try:
        engagement.control(control_id)
    except EngagementError as error:
        raise TemplateRejected(target, [TemplateProblem(BINDING_SHEET, _binding_row(binding, "control_id"), "B",
                                                        "control_id", str(error))]) from None
    if test is None or test.control.id != control_id:
        test = run_control_test(engagement, control_id)
    rounds = [r for r in binding.get("rounds", "").split(", ") if r]
    if not rounds or any(r not in test.selection.rounds for r in rounds):
        raise TemplateRejected(target, [TemplateProblem(
            BINDING_SHEET, _binding_row(binding, "rounds"), "B", "rounds",
            f"the template was exported for round(s) {binding.get('rounds')!r}; control {control_id} is tested in "
            f"{', '.join(test.selection.rounds)}: export a new template.")])
    expected = template_binding(test, rounds[0] if len(rounds) == 1 and len(test.selection.rounds) > 1 else None)
    problems = _compare_binding(binding, expected)
    if problems:
        raise TemplateRejected(target, problems)
    parsed = _parse(test, book, binding, tester)
    if parsed.problems:
        raise TemplateRejected(target, parsed.problems)
    assert parsed.tester is not None     # no problem: the tester was resolved
    return _record(test, target, parsed, parsed.tester)


def _record(test: ControlTest, path: Path, parsed: _Parsed, tester: str) -> ImportReport:
    """Write every result, evaluation and the walkthrough in one transaction (all were checked)."""
    engagement, control_id = test.engagement, test.control.id
    before = _recorded(test)
    recorded = unchanged = 0
    problems: list[TemplateProblem] = []
    try:
        with ResultsStore.open(engagement) as store, store.transaction():
            for proposed, row, column in parsed.proposals:
                stored = before.get((proposed.item_key, proposed.attribute_id))
                day = proposed.evidence_date
                day_text = day.isoformat() if isinstance(day, _dt.date) else day
                if stored is not None and (stored.get("outcome"), stored.get("evidence_ref"),
                                           stored.get("evidence_date"), stored.get("comment")) == (
                        proposed.outcome, proposed.evidence_ref, day_text, proposed.comment):
                    unchanged += 1
                    continue
                store.record(control_id, proposed.item_key, proposed.attribute_id, proposed.outcome,
                             tested_by=tester, evidence_ref=proposed.evidence_ref, evidence_date=day_text,
                             comment=proposed.comment)
                recorded += 1
            if parsed.proposals:   # the files the results cite, as they are now (a later change is flagged)
                pin_evidence(store, engagement.folder, owners=_evidence_owners(test),
                             item_keys=list(dict.fromkeys(p.item_key for p, _, _ in parsed.proposals)),
                             population_ids=[p.name for p in test.populations], who=tester)
            for item, value, row in parsed.evaluations:
                store.append("exception_evaluation", {"control_id": control_id, "item_key": item}, value, who=tester)
            if parsed.walkthrough is not None:
                store.append("walkthrough", {"control_id": control_id}, parsed.walkthrough, who=tester)
    except ResultsError as error:   # what only the store can know; nothing was written (one transaction)
        problems.append(TemplateProblem("", None, None, None, str(error)))
        raise TemplateRejected(path, problems) from None
    return ImportReport(path=path, control_id=control_id, tester=tester, recorded=recorded, unchanged=unchanged,
                        blank=parsed.blank, evaluations=len(parsed.evaluations),
                        walkthrough=parsed.walkthrough is not None)
