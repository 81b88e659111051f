"""The engagement summary workbook ``summary.xlsx``: one row per control, the draft of Section 4.

Each row lays out an outcome record as the batch run collected it: a tested control's
``ControlEvaluation.to_record()``, or for a control that was not tested
``{"control_id", "criteria", "description", "status": "not_yet_tested", "result_text": "Not yet tested."}``,
or for a notebook that failed ``{"control_id", ..., "status": "failed", "result_text": "Notebook failed: ..."}``.
Nothing is recomputed: the result text is the record's own. The "Sign-off" column and the "Review notes" sheet
are read from the results store when the summary is written (:mod:`workbench.signoff`): each control's sign-offs,
compared with the inputs fingerprint of its outcome record ("changed after sign-off" when they differ), and every
review note not cleared yet. Once the engagement is locked, the Summary sheet opens with the lock and the
documentation completion deadline (report release date + 60 days).

Sheets: **Summary** (one row per control of the matrix: a partial run keeps the others' latest outcomes,
"Stale, run again" when their inputs changed), **Section 4** (the report's table grouped by criterion, the
tool's proposal and the manager's recorded judgement per criterion, the opinion they make), **Criteria**
(each criterion in scope with its controls, CSOCs and CUECs, deviations, the uncovered ones flagged;
subservice organizations; CUECs; controls not tested and why; open review notes) and **Run** (paths relative
to the engagement folder).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openpyxl import Workbook, load_workbook

from workbench.engagement import Engagement
from workbench.workpaper.layout import SheetWriter, SheetHeader, header_from_engagement, save_atomically

if TYPE_CHECKING:   # the batch runner writes the summary without importing the stages up front
    from workbench.signoff import EngagementSignoffs

__all__ = ["SUMMARY_COLUMNS", "SUMMARY_FILENAME", "write_summary", "read_summary"]

SUMMARY_FILENAME = "summary.xlsx"

#: Columns of the "Summary" sheet: (header, record key).
SUMMARY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Control ID", "control_id"),
    ("Criteria", "criteria"),
    ("Control activity", "description"),
    ("Test performed", "test_performed"),
    ("Population", "population_count"),
    ("Sample size", "sample_size"),
    ("Deviations in the sample", "deviations"),
    ("Items with a deviation", "exceptions_distinct"),
    ("Exceptions not evaluated", "unevaluated"),
    ("Result", "result_text"),
    ("Conclusion", "conclusion_text"),
    ("Status", "status"),
    ("Pending", "pending"),
    ("Notes", "notes"),
    ("Sign-off", "signoff"),
)
#: Columns that hold results of tests: blank in the summary of a Type 1 report, which gives none.
TEST_RESULT_COLUMNS: frozenset[str] = frozenset({"deviations", "exceptions_distinct", "unevaluated", "result_text"})


def _natural_key(control_id: object) -> tuple[tuple[int, int | str], ...]:
    """Sort "CM-2" before "CM-10": digit runs compare as numbers."""
    parts = re.split(r"(\d+)", str(control_id))
    return tuple((0, int(p)) if p.isdigit() else (1, p.lower()) for p in parts)


def _joined(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    return value


def _cell(row: Mapping[str, Any], key: str, engagement: Engagement) -> Any:
    if key == "description":
        return _joined(_description(row, engagement))
    if key == "unevaluated":
        value = row.get(key)
        return len(value) if isinstance(value, list) else value
    if key == "conclusion_text" and not row.get(key):
        return row.get("result_text") if row.get("status") in ("not_yet_tested", "failed") else None
    return _joined(row.get(key))


def _description(row: Mapping[str, Any], engagement: Any) -> Any:
    if row.get("description"):
        return row["description"]
    try:  # tested controls' records may not repeat the description: take it from the control matrix
        return engagement.control(row["control_id"]).description
    except Exception:  # noqa: BLE001 - an id not in the matrix simply has no description to show
        return None


def _flatten(prefix: str, value: Any, out: list[tuple[str, Any]]) -> None:
    if isinstance(value, Mapping):
        if not value and prefix:
            out.append((prefix, "(none)"))
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append((prefix, "(none)"))
        elif all(not isinstance(v, (Mapping, list, tuple)) for v in value):
            out.append((prefix, _joined(value)))
        else:
            out.append((prefix, json.dumps(value, default=str, ensure_ascii=False)))
    elif isinstance(value, Path):
        out.append((prefix, str(value)))
    else:
        out.append((prefix, value))


def write_summary(output_path: str | Path, engagement: Any, rows: Sequence[Mapping[str, Any]],
                  run_info: Mapping[str, Any], *, section: Any = None) -> Path:
    """Write ``summary.xlsx``: "Summary" (one row per control), "Section 4", "Criteria" and "Run" sheets.

    Parameters
    ----------
    output_path : path-like
        The workbook to write (a name ending in ``.xlsx``), or a folder, in which ``summary.xlsx`` is
        written. Written atomically (temporary file in the same folder, then ``os.replace``).
    engagement : Engagement
        For the header block (client, engagement id, period) and the description of controls whose
        record does not carry one.
    rows : sequence of dict
        One outcome record per control (see the module docstring). Keys used: ``control_id``,
        ``criteria`` (list or text), ``description``, ``test_performed``, ``population_count``,
        ``sample_size``, ``deviations``, ``result_text``, ``status``, ``notes`` (list or text); missing keys
        leave the cell blank.
    run_info : dict
        Run metadata (parameters, versions, start and end, ...); nested dicts become dotted keys, lists are
        joined with "; " (lists of dicts as JSON), an empty list or dict reads "(none)".
    section : workbench.section4.Section4, optional
        Section 4 by criterion; default built from ``engagement`` and ``rows`` (:func:`workbench.section4.section4`,
        which reads the manager's recorded judgements from the results store).

    Returns
    -------
    pathlib.Path
        The workbook written.

    Notes
    -----
    Rows are sorted by control id in natural order ("CM-2" before "CM-10"). The table header is on row 9
    of the "Summary" sheet (rows 1-7 are the header block); :func:`read_summary` reads it back.
    """
    path = Path(output_path)
    if path.suffix.lower() != ".xlsx":
        path = path / SUMMARY_FILENAME
    reference = f"{engagement.engagement_id}/summary"
    per_control = ("per control: see the Sign-off column", None)
    header = header_from_engagement(engagement, reference, preparer=per_control, reviewer=per_control)

    wb = Workbook()
    ws = wb.worksheets[0]
    ws.title = "Summary"
    sheet = SheetWriter(ws, header, "Summary of tests of controls and results (draft Section 4)", None)
    signoffs = _signoffs(engagement)
    ordered = sorted(rows, key=lambda r: _natural_key(r.get("control_id", "")))
    if signoffs is not None:
        ordered = [{**row, "signoff": signoffs.of(str(row.get("control_id")), row.get("inputs_fingerprint"))
                    .state_text()} for row in ordered]
    hidden = TEST_RESULT_COLUMNS if engagement.report_type == "type1" else frozenset()
    table_rows = [[None if key in hidden else _cell(row, key, engagement) for _, key in SUMMARY_COLUMNS]
                  for row in ordered]
    if signoffs is not None and signoffs.lock is not None:
        sheet.text(signoffs.lock.text(), bold=True)
    if hidden:
        sheet.text("Type 1 report: design and implementation as of a date; no results of tests are reported.")
    sheet.table([name for name, _ in SUMMARY_COLUMNS], table_rows, freeze=True,
                empty="No controls in this run.", wrap_columns=(2, 3, 9, 10, 12, 13, 14))
    sheet.finish(fixed={3: 50, 4: 50, 10: 50, 11: 40, 13: 40, 14: 30, 15: 40})

    notes = SheetWriter(wb.create_sheet("Review notes"), header, "Open review notes", None)
    from workbench.signoff import NOTE_COLUMNS
    notes.table(list(NOTE_COLUMNS), [note.to_row() for note in (signoffs.open_notes if signoffs else ())],
                empty="No open review notes.", wrap_columns=(3, 5))
    notes.finish(fixed={4: 60, 6: 60})

    if section is None:
        from workbench.section4 import section4

        section = section4(engagement, ordered, review_notes=signoffs.open_notes if signoffs is not None else None)
    _section4_sheet(wb.create_sheet("Section 4"), header, section)
    _criteria_sheet(wb.create_sheet("Criteria"), header, engagement, section)

    run = SheetWriter(wb.create_sheet("Run"), header, "Run", None)
    flat: list[tuple[str, Any]] = []
    _flatten("", dict(run_info), flat)
    run.table(["Item", "Value"], flat, freeze=True, empty="No run information.", wrap_columns=(1,))
    run.finish(fixed={2: 80})
    return save_atomically(wb, path)


def _signoffs(engagement: Any) -> EngagementSignoffs | None:
    """The engagement's sign-offs, notes and lock from its results store (None for a stand-in engagement)."""
    from workbench.signoff import read_signoffs

    return read_signoffs(engagement) if isinstance(engagement, Engagement) else None


def _section4_sheet(ws: Any, header: SheetHeader, section: Any) -> None:
    """The report's Section 4: grouped by criterion, a control under each criterion it addresses."""
    s = SheetWriter(ws, header, "Trust services criteria, related controls, and tests of controls (draft Section 4)",
                    None)
    type1 = section.report_type == "type1"
    s.pairs([("Opinion (as the manager recorded the criteria)", section.opinion),
             ("Criteria in scope", len(section.criteria)),
             ("Criteria no control addresses", f"{len(section.uncovered)}: {', '.join(section.uncovered)}"
              if section.uncovered else "none")])
    if type1:
        s.text("Type 1 report: the controls are reported as designed and implemented as of the date; no tests of "
               "operating effectiveness and no results of tests are reported.")
    last = "Design and implementation" if type1 else "Results of tests"
    rows: list[list[Any]] = []
    for line in section.criteria:
        if not line.controls:
            where = (f"No control of the matrix; addressed by the CSOCs of {', '.join(line.subservice)} "
                     f"(see Criteria)") if line.subservice else "NO CONTROL ADDRESSES THIS CRITERION"
            rows.append([line.criterion, None, where, None, None])
        for control in line.controls:
            rows.append([line.criterion, control.control_id, control.activity,
                         None if type1 else control.test_performed,
                         control.conclusion if type1 else control.result])
    s.section("Controls and tests, by criterion")
    s.table(["Criterion", "Control number", "Control activity specified by the service organization",
             "Test performed by the service auditor" if not type1 else "Test performed (none in a Type 1 report)",
             last], rows, freeze=True, wrap_columns=(2, 3, 4))
    s.section("Did the controls achieve each criterion, given the exceptions?")
    s.text("Proposed by the tool; recorded by the manager or partner with workbench criterion ENGAGEMENT "
           "--criterion ID --achieved yes|no --by INITIALS [--reason TEXT].")
    judged = []
    for line in section.criteria:
        j = line.judgement
        judged.append([line.criterion, line.deviations, _proposal_text(line.proposed), line.why,
                       None if j is None else ("achieved" if j.achieved else "not achieved"),
                       None if j is None else j.by, None if j is None else j.at, None if j is None else j.reason,
                       "changed since recorded" if j is not None and j.proposed and j.proposed != line.proposed
                       else None])
    s.table(["Criterion", "Items with a deviation", "Proposed by the tool", "Why", "Recorded", "By", "When (UTC)",
             "Reason", "Proposal"], judged, wrap_columns=(3, 7))
    s.finish(fixed={1: 12, 2: 14, 3: 50, 4: 50, 5: 50})


def _proposal_text(key: str) -> str:
    from workbench.section4 import PROPOSALS

    return PROPOSALS.get(key, key)


def _criteria_sheet(ws: Any, header: SheetHeader, engagement: Any, section: Any) -> None:
    """Coverage: each criterion in scope, subservice organizations and CSOCs, CUECs, not tested, review notes."""
    s = SheetWriter(ws, header, "Criteria in scope, subservice organizations, CUECs", None)
    s.section("Each criterion in scope")
    s.table(["Criterion", "Title", "Controls", "Subservice organization (CSOCs)", "CUECs", "Items with a deviation",
             "Coverage"],
            [[line.criterion, line.title, "; ".join(c.control_id for c in line.controls) or None,
              "; ".join(line.subservice) or None, "; ".join(line.cuecs) or None, line.deviations,
              "FLAGGED: no control addresses it" if line.flagged else
              ("CSOCs of the subservice organization" if not line.controls else f"{len(line.controls)} control(s)")]
             for line in section.criteria], freeze=True, wrap_columns=(1,))
    s.section("Subservice organizations")
    s.table(["Name", "Services", "Method", "CSOCs", "Criteria"],
            [[org.name, org.services, org.method, "\n".join(org.csocs) or None, "; ".join(org.criteria) or None]
             for org in engagement.subservice_organizations], empty="None.", wrap_columns=(1, 3))
    s.section("Complementary user entity controls (CUECs)")
    s.table(["ID", "Description", "Criteria"], [[c.id, c.description, "; ".join(c.criteria) or None]
                                                for c in engagement.cuecs], empty="None.", wrap_columns=(1,))
    s.section("Controls not tested, and why")
    s.table(["Control", "Why"], list(section.not_tested), empty="None: every control was tested.", wrap_columns=(1,))
    s.section("Open review notes")
    s.table(["Control", "Note", "Raised by", "Raised at (UTC)", "Text"],
            [[n.control_id, n.number, n.raised_by, n.raised_at, n.text] for n in section.review_notes],
            empty="None recorded.", wrap_columns=(4,))
    s.finish(fixed={2: 50, 4: 50, 5: 30, 7: 30})


def read_summary(path: str | Path) -> list[dict[str, Any]]:
    """Read the "Summary" sheet of a workbook written by :func:`write_summary` back into records.

    Returns
    -------
    list of dict
        One dict per control, keyed by the record keys of :data:`SUMMARY_COLUMNS`, in sheet order.
    """
    wb = load_workbook(path, read_only=True)
    try:
        ws = wb["Summary"]
        rows = list(ws.iter_rows(values_only=True))
    finally:
        wb.close()
    names = tuple(name for name, _ in SUMMARY_COLUMNS)
    keys = [key for _, key in SUMMARY_COLUMNS]
    header = next((index for index, row in enumerate(rows) if tuple(row[: len(names)]) == names), None)
    if header is not None:
        return [dict(zip(keys, data)) for data in rows[header + 1:]
                if not (data[0] is None or (data[1:] and all(v is None for v in data[1:])
                                            and str(data[0]).startswith("No controls")))]
    raise ValueError(f"{path}: no 'Summary' table header ({', '.join(names)}) found; "
                     "was the file written by write_summary?")
