"""The control matrix of an engagement folder: ``controls.xlsx`` (sheet "Controls") or ``controls.csv``,
read and checked row by row into :class:`Control` objects.

:func:`read_control_matrix` finds the matrix in the folder (exactly one of :data:`MATRIX_FILES`), reads
it (the workbook's "Controls" sheet, or the CSV as UTF-8, falling back to Windows-1252 with a note),
finds the header row, normalises the headers and checks every row: the control id, criteria (each in a
category in scope), frequency, nature, procedure, the populations (each declared in engagement.toml, the
first of the procedure's kind) and the attributes (each an attribute of the procedure). Every problem
names the file with the row and column and goes to the caller's problem list;
:func:`workbench.engagement.load_engagement` calls it after parsing engagement.toml and raises all the
folder's problems together.

Decisions (documented in docs/engagement.md):

- Control-matrix headers are matched case-insensitively with spaces and hyphens read as underscores
  (``Control ID`` is ``control_id``); extra columns are kept in :attr:`Control.extra` and otherwise
  ignored. The header row is the first row (of the first ten) that has a ``control_id`` header, so a
  title row above the table is allowed. Blank rows are skipped.
- Lists in a cell (criteria, populations, attributes) are separated by ``;`` or ``,`` (or line breaks).
- Criterion ids, frequencies, natures and procedure names are read case-insensitively (``cc8.1``,
  ``Many times a day``, ``Automated``, ``Change management``) and stored in their canonical spelling.

Public API::

    read_control_matrix(folder, label, problems, *, scope, population_ids, populations, notes)
        -> (matrix path or None, raw bytes, controls)
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from pathlib import Path
from typing import Callable, Mapping, Sequence

from workbench.engagement.criteria import CATEGORY_LABELS, CRITERIA, normalize_criterion_id
from workbench.engagement.model import (
    FREQUENCIES,
    MATRIX_COLUMNS,
    MATRIX_FILES,
    MATRIX_SHEET,
    NATURES,
    REQUIRED_MATRIX_COLUMNS,
    Control,
    FrozenMapping,
    PopulationSource,
    occurrences_population_id,
)
from workbench.engagement.problems import ID_PATTERN, Problems, criteria_ranges, criterion_hint, did_you_mean
from workbench.engagement.record_filter import FilterSyntaxError, RecordFilter
from workbench.errors import EngagementError
from workbench.formats.schemas import SCHEMAS
from workbench.library import resolve_procedure
from workbench.procedures import KNOWN_PROCEDURES, Procedure, is_implemented
from workbench.procedures.inspection import split_lines

__all__ = ["read_control_matrix"]

_LIST_SPLIT = re.compile(r"[;,\n\r]+")
_HEADER_ROWS_SEARCHED = 10


# --------------------------------------------------------------------------------------------------
# Reading the matrix
# --------------------------------------------------------------------------------------------------
def _normalize_name(text: str) -> str:
    """A header or a cell word as a canonical name: ``"Control ID"`` -> ``control_id``, ``Many times a day``
    -> ``many_times_a_day``."""
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _split_list(text: str) -> list[str]:
    return [item.strip() for item in _LIST_SPLIT.split(text) if item.strip()]


def _find_matrix(folder: Path, problems: Problems) -> Path | None:
    entries = {entry.name: entry for entry in folder.iterdir() if not entry.name.startswith("~$")}
    found = [entries[name] for name in sorted(entries) if name.lower() in MATRIX_FILES and entries[name].is_file()]
    if len(found) > 1:
        names = " and ".join(f"{folder.name}/{p.name}" for p in found)
        problems.add(f"{names}: both present; keep exactly one control matrix (controls.xlsx or controls.csv) "
                     f"and move the other out of the engagement folder.")
        return None
    if not found:
        near = [name for name in sorted(entries)
                if name.lower().startswith("controls.") or name.lower().endswith((".xls", ".xlsm"))]
        hint = (f" Found {', '.join(near)}: save the matrix as controls.xlsx (Excel workbook) or controls.csv."
                if near else "")
        problems.add(f"{folder.name}: no control matrix; put the controls in {folder.name}/controls.xlsx "
                     f"(sheet \"{MATRIX_SHEET}\") or {folder.name}/controls.csv.{hint}")
        return None
    return found[0]


def _read_xlsx(path: Path, raw: bytes, label: str, problems: Problems) -> list[tuple[int, list[str]]] | None:
    from openpyxl.utils.exceptions import InvalidFileException

    from workbench.workbooks import DAMAGED_WORKBOOK_ERRORS, archive_problem, damage_text

    damaged: tuple[type[BaseException], ...] = (InvalidFileException, *DAMAGED_WORKBOOK_ERRORS)

    problem = archive_problem(raw)
    if problem is not None:
        what = "cannot be read as an Excel workbook" if problem.damaged else "refused before it is opened"
        problems.add(f"{label}: {what}: {problem.what}; {problem.fix} (or save the matrix as controls.csv).")
        return None
    try:
        return _read_sheet_rows(raw, label, problems)
    except damaged as error:
        problems.add(f"{label}: cannot be read as an Excel workbook (damaged): {damage_text(error)}; save it "
                     f"from Excel as an .xlsx workbook, or as controls.csv.")
        return None


def _read_sheet_rows(raw: bytes, label: str, problems: Problems) -> list[tuple[int, list[str]]] | None:
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(raw), data_only=True)  # a matrix is small; full mode needs no dimensions
    try:
        names = workbook.sheetnames
        sheet = next((n for n in names if n == MATRIX_SHEET), None) or \
            next((n for n in names if n.strip().lower() == MATRIX_SHEET.lower()), None)
        if sheet is None:
            if len(names) == 1:
                sheet = names[0]
            else:
                problems.add(f"{label}: no sheet named \"{MATRIX_SHEET}\" among {', '.join(map(repr, names))}; "
                             f"name the sheet that holds the control matrix \"{MATRIX_SHEET}\".")
                return None
        rows = [(number, [_cell_text(v) for v in values])
                for number, values in enumerate(workbook[sheet].iter_rows(values_only=True), start=1)]
    finally:
        workbook.close()
    return rows


def _read_csv(raw: bytes, label: str, problems: Problems, notes: list[str]) -> list[tuple[int, list[str]]] | None:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
        notes.append(f"{label} is not UTF-8; read as Windows-1252 (cp1252). Save it as CSV UTF-8 to be sure.")
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as error:
        problems.add(f"{label}: cannot be read as CSV ({error}); save it from Excel as CSV UTF-8.")
        return None
    return [(number, [cell.strip() for cell in record]) for number, record in enumerate(records, start=1)]


def _parse_matrix(rows: list[tuple[int, list[str]]], label: str, problems: Problems, *,
                  scope: tuple[str, ...] | None, population_ids: set[str] | None,
                  populations: dict[str, PopulationSource | None] | None,
                  procedures: Mapping[str, Procedure]) -> list[Control]:
    """Check every row; report every problem; return the controls (only meaningful without problems)."""
    header_at = None
    for index, (_, cells) in enumerate(rows[:_HEADER_ROWS_SEARCHED]):
        if "control_id" in {_normalize_name(c) for c in cells}:
            header_at = index
            break
    if header_at is None:
        first = next((cells for _, cells in rows if any(cells)), [])
        problems.add(f"{label}: required column 'control_id' missing (no header row with a control_id column in "
                     f"the first {_HEADER_ROWS_SEARCHED} rows; headers found: "
                     f"{', '.join(repr(c) for c in first if c) or 'none'}); the header row must name the columns "
                     f"{', '.join(MATRIX_COLUMNS)}.")
        return []
    header_number, header_cells = rows[header_at]
    columns: dict[str, int] = {}
    extra: dict[int, str] = {}
    for position, header in enumerate(header_cells):
        if not header:
            continue
        name = _normalize_name(header)
        if name in columns:
            problems.add(f"{label}, row {header_number}: column {header!r} appears twice (as "
                         f"{header_cells[columns[name]]!r} too); keep one.")
            continue
        if name in MATRIX_COLUMNS:
            columns[name] = position
        else:
            extra[position] = header
    missing = [name for name in REQUIRED_MATRIX_COLUMNS if name not in columns]
    if missing:
        for name in missing:
            hint = did_you_mean(name, [_normalize_name(h) for h in header_cells if h])
            problems.add(f"{label}, row {header_number}: required column {name!r} missing.{hint} Headers found: "
                         f"{', '.join(repr(h) for h in header_cells if h)}; add a {name!r} column.")
        return []

    data_rows = [(n, cells) for n, cells in rows[header_at + 1:] if any(cells)]
    if not data_rows:
        problems.add(f"{label}: the control matrix has a header but no controls; add one row per control "
                     f"below the header.")
        return []

    seen_ids: dict[str, int] = {}
    controls: list[Control] = []
    for number, cells in data_rows:
        row = _Row(number, cells, columns, label, problems)
        control = _parse_row(row, extra, seen_ids, scope=scope, population_ids=population_ids,
                             populations=populations, procedures=procedures)
        if control is not None:
            controls.append(control)
    return controls


class _Row:
    """One data row of the matrix: its cells by column name, and its problems (file, row and column)."""

    def __init__(self, number: int, cells: list[str], columns: dict[str, int], label: str,
                 problems: Problems) -> None:
        self.number, self.cells, self.columns, self.label, self.problems = number, cells, columns, label, problems

    def cell(self, name: str) -> str:
        position = self.columns.get(name)
        return self.cells[position] if position is not None and position < len(self.cells) else ""

    def problem(self, column: str, message: str) -> None:
        self.problems.add(f"{self.label}, row {self.number}, column {column!r}: {message}")


def _listed_once(row: _Row, column: str, noun: str,
                 check: Callable[[str], bool] | None = None) -> tuple[list[str], bool]:
    """The items of a list cell, each once (a repeat is a problem); ``check(item)`` is False for a bad item."""
    items: list[str] = []
    ok = True
    for item in _split_list(row.cell(column)):
        if item in items:
            row.problem(column, f"{item!r} is listed twice; list each {noun} once.")
            ok = False
            continue
        if check is not None and not check(item):
            ok = False
        items.append(item)
    return items, ok


def _parse_row(row: _Row, extra: dict[int, str], seen_ids: dict[str, int], *, scope: tuple[str, ...] | None,
               population_ids: set[str] | None,
               populations: dict[str, PopulationSource | None] | None,
               procedures: Mapping[str, Procedure]) -> Control | None:
    """Check one data row, reporting every problem; the Control, or None when the row has a problem."""
    cell, problem, number = row.cell, row.problem, row.number
    ok = True
    control_id = cell("control_id")
    if not control_id:
        problem("control_id", "is blank; every control needs an id (e.g. CM-01).")
        ok = False
    elif not ID_PATTERN.match(control_id):
        problem("control_id", f"{control_id!r} may hold only letters, digits, '.', '_' and '-' (it names "
                              f"the control's workpaper file); e.g. \"CM-01\".")
        ok = False
    elif control_id.lower() in seen_ids:
        other = seen_ids[control_id.lower()]
        problem("control_id", f"{control_id!r} is used by rows {other} and {number}; control ids must be "
                              f"unique: renumber one of them.")
        ok = False
    else:
        seen_ids[control_id.lower()] = number

    description = cell("description")
    if not description:
        problem("description", "is blank; give the control activity as the service organization "
                               "describes it.")
        ok = False

    criteria, criteria_ok = _criteria_of(row, scope)
    ok = criteria_ok and ok

    owner = cell("owner") or None

    frequency = _normalize_name(cell("frequency"))
    if not frequency:
        problem("frequency", f"is blank; use one of: {', '.join(FREQUENCIES)}.")
        ok = False
    elif frequency not in FREQUENCIES:
        hint = did_you_mean(frequency, FREQUENCIES)
        problem("frequency", f"{cell('frequency')!r} is not a frequency.{hint} Use one of: "
                             f"{', '.join(FREQUENCIES)}.")
        ok = False

    nature = _normalize_name(cell("nature"))
    if not nature:
        problem("nature", "is blank; use manual or automated.")
        ok = False
    elif nature not in NATURES:
        hint = did_you_mean(nature, NATURES)
        problem("nature", f"{cell('nature')!r} is not a nature.{hint} Use manual or automated.")
        ok = False

    procedure = _normalize_name(cell("procedure")) or None
    names = KNOWN_PROCEDURES + tuple(procedures)
    procedure_known = procedure in names
    if procedure is not None and not procedure_known:
        hint = did_you_mean(procedure, names)
        firm = f" (the firm's: {', '.join(procedures)})" if procedures else ""
        problem("procedure", f"{cell('procedure')!r} is not a known procedure.{hint} Use one of: "
                             f"{', '.join(names)}{firm}; or leave it blank (the control reads "
                             f"\"not yet tested\"). A firm procedure is a TOML file in the engagement's "
                             f"procedures/ folder or the firm library.")
        ok = False
    manual_lines = split_lines(cell("manual_attributes"))
    resolved: Procedure | None = None
    if procedure is not None and procedure_known and (procedure in procedures or is_implemented(procedure)):
        try:
            resolved = resolve_procedure(procedure, procedures=procedures, manual_attributes=manual_lines,
                                         frequency=frequency)
        except EngagementError as error:
            problem("manual_attributes", f"{error}".removeprefix("Manual attributes: "))
            ok = False
    if manual_lines and procedure != "inspection":
        problem("manual_attributes", "Manual attributes are the attributes of a control tested with procedure "
                                     "inspection; set its procedure to inspection, or clear the cell.")
        ok = False
    derived = resolved is not None and resolved.population_kind == "occurrences"

    def defined(item: str) -> bool:
        if population_ids is None or item in population_ids:
            return True
        hint = did_you_mean(item, sorted(population_ids))
        problem("populations", f"population {item!r} is not defined in engagement.toml.{hint} Defined: "
                               f"{', '.join(sorted(population_ids)) or 'none'}; add a [populations.{item}] "
                               f"table with file and kind, or fix the id.")
        return False

    pop_ids, populations_ok = _listed_once(row, "populations", "population", defined)
    ok = populations_ok and ok
    if derived:
        # no client export: the control's occurrences are its population (derived, or listed in engagement.toml);
        # populations the matrix names are related populations its checks may read
        pop_ids = [occurrences_population_id(control_id)] + pop_ids
    elif procedure_known and not pop_ids:
        defined_ids = ", ".join(sorted(population_ids or ())) or "none defined yet"
        problem("populations", f"is blank, but procedure {procedure!r} tests a population; give the id of a "
                               f"[populations.<id>] table of engagement.toml ({defined_ids}).")
        ok = False

    attributes, attributes_ok = _listed_once(row, "attributes", "attribute")
    ok = attributes_ok and ok
    if attributes and procedure is None:
        problem("attributes", "attributes are given but the procedure is blank; name the procedure whose "
                              "attributes these are, or clear the attributes.")
        ok = False

    if resolved is not None:
        ok = _check_against_procedure(resolved, attributes, pop_ids[1:] if derived else pop_ids, populations,
                                      problem, derived=derived) and ok

    record_filter, filter_ok = _record_filter_of(row, procedure if procedure_known else None, resolved)
    ok = filter_ok and ok
    shared_text = _normalize_name(cell("shared_sample"))
    shared = shared_text in ("", "yes", "y", "true", "1", "shared")
    if not shared and shared_text not in ("no", "n", "false", "0", "own"):
        problem("shared_sample", f"{cell('shared_sample')!r} is not yes or no; leave it blank or write yes to "
                                 f"share the sample of the population with other controls, no for a sample of "
                                 f"this control's own.")
        ok = False

    if not ok:
        return None
    return Control(
        id=control_id, description=description, criteria=tuple(criteria), owner=owner,
        frequency=frequency, nature=nature, procedure=procedure, populations=tuple(pop_ids),
        attributes=tuple(attributes), row=number,
        extra=FrozenMapping({header: (row.cells[pos] if pos < len(row.cells) else "")
                             for pos, header in extra.items()}),
        record_filter=record_filter, shared_sample=shared, manual_attributes=manual_lines,
    )


def _record_filter_of(row: _Row, procedure: str | None,
                      resolved: Procedure | None) -> tuple[RecordFilter | None, bool]:
    """The row's record filter (its ``record_filter`` cell, else the procedure's default), checked."""
    text = row.cell("record_filter")
    written = bool(text)
    if not text and resolved is not None:
        text = resolved.record_filter
    if not text:
        return None, True
    if procedure is None:
        row.problem("record_filter", "a record filter needs a procedure (it selects the records the procedure "
                                     "tests); name the procedure or clear the filter.")
        return None, False
    try:
        record_filter = RecordFilter.parse(text)
    except FilterSyntaxError as error:
        row.problem("record_filter", str(error))
        return None, False
    if resolved is not None:
        kind = resolved.population_kind
        columns = SCHEMAS[kind].columns
        if record_filter.column not in columns:
            where = "" if written else f" (the default of procedure {procedure!r})"
            row.problem("record_filter", f"{record_filter.column!r}{where} is not a column of {kind} "
                                         f"populations.{did_you_mean(record_filter.column, columns)} Columns: "
                                         f"{', '.join(columns)}.")
            return None, False
    return record_filter, True


def _criteria_of(row: _Row, scope: tuple[str, ...] | None) -> tuple[list[str], bool]:
    """The row's criterion ids in canonical spelling, each once and in a category in scope."""
    criteria: list[str] = []
    ok = True
    text = row.cell("criteria")
    if not text:
        row.problem("criteria", f"is blank; give one or more criterion ids separated by ';' (e.g. CC8.1). "
                                f"Valid ids: {criteria_ranges()}.")
        ok = False
    for item in _split_list(text):
        canonical = normalize_criterion_id(item)
        if canonical is None:
            hint = criterion_hint(item)
            row.problem("criteria", f"{item!r} is not a 2017 Trust Services Criterion{hint}. Valid ids: "
                                    f"{criteria_ranges()}.")
            ok = False
            continue
        if canonical in criteria:
            row.problem("criteria", f"{canonical} is listed twice; list each criterion once.")
            ok = False
            continue
        category = CRITERIA[canonical].category
        if scope is not None and category not in scope:
            row.problem("criteria", f"{canonical} is a {CATEGORY_LABELS[category]} criterion, and {category} is "
                                    f"not in scope (engagement.toml [engagement] criteria = {list(scope)}); "
                                    f"add \"{category}\" there or remove {canonical} from this control.")
            ok = False
        criteria.append(canonical)
    return criteria, ok


def _check_against_procedure(procedure: Procedure, attributes: list[str], pop_ids: list[str],
                             populations: dict[str, PopulationSource | None] | None,
                             problem: Callable[[str, str], None], *, derived: bool = False) -> bool:
    """For an implemented (or firm) procedure: attribute ids exist, and the first population is of its kind (a
    procedure with ``derived`` occurrences has no client population to check)."""
    name = procedure.name
    ok = True
    valid = procedure.attribute_ids
    for item in attributes:
        if item not in valid:
            hint = did_you_mean(item, valid)
            problem("attributes", f"{item!r} is not an attribute of procedure {name!r}.{hint} Its attributes: "
                                  f"{', '.join(valid)} (leave the cell blank to test all of them).")
            ok = False
    kind = procedure.population_kind
    if kind and pop_ids and populations is not None and not derived:
        source = populations.get(pop_ids[0])
        if source is not None and source.kind != kind:
            problem("populations", f"procedure {name!r} samples a {kind!r} population, but the first population "
                                   f"listed, {pop_ids[0]!r}, is of kind {source.kind!r}; list a {kind} population "
                                   f"first.")
            ok = False
    return ok


# --------------------------------------------------------------------------------------------------
# The reader
# --------------------------------------------------------------------------------------------------
def read_control_matrix(folder: Path, label: str, problems: Problems, *,
                        scope: tuple[str, ...] | None, population_ids: Sequence[str] | None,
                        populations: dict[str, PopulationSource | None] | None,
                        notes: list[str],
                        procedures: Mapping[str, Procedure] | None = None) -> tuple[Path | None, bytes, list[Control]]:
    """Find, read and check the control matrix of an engagement folder.

    Parameters
    ----------
    folder : pathlib.Path
        The engagement folder (absolute).
    label : str
        How messages name the folder (its name), e.g. ``acme-type2``.
    problems : Problems
        Where every problem is reported (file, row, column, value and fix); nothing is raised here.
    scope : tuple of str or None
        The categories in scope (``[engagement] criteria``); ``None`` when that could not be read.
    population_ids : sequence of str or None
        The ``[populations.<id>]`` ids of engagement.toml in file order; ``None`` when ``populations`` is
        not a table.
    populations : dict or None
        The parsed population sources by id (``None`` for one with problems), for the procedure's kind.
    notes : list of str
        The engagement's notes; appended to (a CSV read as Windows-1252, populations no control names,
        controls without a procedure).
    procedures : mapping, optional
        The firm's procedures by name (:func:`workbench.engagement.firm.read_firm_procedures`): the matrix may
        name them as well as the catalogue's.

    Returns
    -------
    (path, raw, controls)
        The matrix file (``None`` when there is none, or two, after reporting it), its bytes as read
        (``b""`` without a file) and the controls (only meaningful when no problem was reported).
    """
    matrix_path = _find_matrix(folder, problems)
    if matrix_path is None:
        return None, b"", []
    matrix_label = f"{label}/{matrix_path.name}"
    raw_matrix = matrix_path.read_bytes()
    if matrix_path.suffix.lower() == ".xlsx":
        rows = _read_xlsx(matrix_path, raw_matrix, matrix_label, problems)
    else:
        rows = _read_csv(raw_matrix, matrix_label, problems, notes)
    if rows is None:
        return matrix_path, raw_matrix, []
    declared = set(population_ids) if population_ids is not None else None
    controls = _parse_matrix(rows, matrix_label, problems, scope=scope,
                             population_ids=declared, populations=populations, procedures=procedures or {})
    if population_ids and not problems.lines:
        used = {pid for control in controls for pid in control.populations}
        unused = [pid for pid in population_ids if pid not in used]
        if unused:
            notes.append(f"populations not named in any control's populations column: {', '.join(unused)}.")
    untested = [c.id for c in controls if c.procedure is None]
    if untested:
        notes.append(f"controls without a procedure (read \"not yet tested\"): {', '.join(untested)}.")
    return matrix_path, raw_matrix, controls
