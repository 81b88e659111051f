"""The control-testing workpaper: one workbook per control, laid out from the stage results.

Sheets, in order (the number is the sheet's index in the workpaper reference ``<engagement>/<control>.<n>``):

1. **Lead** — the control, the test objective and the test performed, population and sample in brief,
   deviations, conclusion, the proposed Section 4 result text, sign-off fields.
2. **Population** — the source file as received (path relative to the engagement folder, provider, date
   received, request, query, SHA-256), rows received, excluded and why, in scope, period covered, months
   without records, and every validation (IPE) finding.
3. **Sampling** — the plan (model, conventions, confidence, rates, size and why), the selection
   (seed, method, algorithm in words, start/interval or strata, key-set SHA-256), the coverage chart
   (records in scope and sampled items per month, :mod:`workbench.workpaper.charts`) and the selected
   items in selection order.
4. **Testing** — the testing matrix: one row per sampled item, one column per attribute, tickmarks.
5. **Exceptions** — the sample's deviations, then the full-population analytics exceptions.
6. **Evaluation** — the statistical evaluation (or the non-statistical note) and the conclusion.
7. **Legend** — every tickmark used in the workbook, defined; conventions (time zones, dates).

The workpaper lays out, never recomputes: every number and sentence comes from the result objects
(their ``to_table()``, ``to_frame()`` and fields). Client text goes through
:func:`~workbench.workpaper.cells.write_text`, so it is never a formula.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import re
from collections.abc import Iterable, Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment

from workbench.control_test import ControlTest
from workbench.engagement import Control, Engagement
from workbench.validation import ValidationReport
from workbench.workpaper.cells import display_text
from workbench.workpaper.layout import SheetWriter, header_from_engagement, save_atomically

__all__ = ["SHEETS", "TICKMARKS", "write_workpaper", "workpaper_reference"]

#: Sheet names in workbook order (their 1-based position is the sheet number in the reference).
SHEETS: tuple[str, ...] = ("Lead", "Population", "Sampling", "Testing", "Exceptions", "Evaluation", "Legend")

#: Tickmark per attribute outcome (workbench.procedures.base outcomes), with its definition.
TICKMARKS: dict[str, tuple[str, str]] = {
    "pass": ("✓", "Attribute tested and met: agreed to the evidence or recomputed from the population data "
                  "without exception."),
    "fail": ("X", "Exception: the attribute was not met (or its evidence was missing); see the Exceptions sheet."),
    "n/a": ("N/A", "Not applicable to this item; the reason column says why."),
    "not performed": ("–", "Not performed: a prerequisite attribute failed for this item, so this attribute "
                           "could not be performed; not counted as a second deviation."),
    "not tested": ("NT", "Not yet tested: a manual attribute with no result recorded in the results store."),
}


def workpaper_reference(engagement: Engagement, control: Control) -> str:
    """The workpaper reference of a control: ``<engagement_id>/<control_id>`` (sheet n adds ``.n``)."""
    return f"{engagement.engagement_id}/{control.id}"


def _ref(base: str, sheet: str) -> str:
    return f"{base}.{SHEETS.index(sheet) + 1}"


def _rows(frame: pd.DataFrame) -> list[list[Any]]:
    """The rows of a DataFrame, as plain lists (values unchanged)."""
    return [list(r) for r in frame.itertuples(index=False, name=None)]


# ---------------------------------------------------------------------------------------------------
# The sheets
# ---------------------------------------------------------------------------------------------------

class _Workpaper:
    """Holds the tested control while the sheets are written (one instance per workbook)."""

    def __init__(self, test: ControlTest) -> None:
        self.test = test
        self.engagement = test.engagement
        self.control = test.control
        self.population = test.population
        self.report = test.report
        self.scoped = test.scoped
        self.sample_plan = test.sample_plan
        self.selection = test.selection
        self.testing = test.testing
        self.evaluation = test.evaluation
        self.reference = workpaper_reference(self.engagement, self.control)
        self.header = header_from_engagement(self.engagement, self.reference)
        self.used_tickmarks: set[str] = set()
        self.book = Workbook()
        self.book.remove(self.book.worksheets[0])

    def sheet(self, name: str, title: str) -> SheetWriter:
        ws = self.book.create_sheet(name)
        return SheetWriter(ws, self.header, f"{self.control.id} — {title}", SHEETS.index(name) + 1)

    def write(self) -> Workbook:
        self.lead()
        self.population_sheet()
        self.sampling_sheet()
        self.testing_sheet()
        self.exceptions_sheet()
        self.evaluation_sheet()
        self.legend_sheet()
        return self.book

    # -- helpers ----------------------------------------------------------------------------------
    def ref(self, sheet: str) -> str:
        return _ref(self.reference, sheet)

    # -- 1. Lead ---------------------------------------------------------------------------------
    def lead(self) -> None:
        c, e, t = self.control, self.evaluation, self.testing
        s = self.sheet("Lead", "Lead sheet")
        s.section("Control")
        s.pairs([
            ("Control ID", c.id),
            ("Control activity", c.description),
            ("Criteria", "; ".join(c.criteria)),
            ("Control owner", c.owner),
            ("Frequency", c.frequency),
            ("Nature", c.nature),
            ("Procedure", f"{t.procedure.title} ({t.procedure.name})"),
        ])
        s.section("Test")
        s.pairs([
            ("Test objective", f"To determine that {t.procedure.objectives_text(t.attributes)}."),
            ("Test performed", e.test_performed),
        ])
        s.section("Attributes tested")
        table = t.procedure.attribute_table(t.attributes)
        s.table(["Attribute", "Label", "Kind", "Description", "Pass criterion", "Deviation (Section 4 wording)",
                 "Depends on"], _rows(table), wrap_columns=(3, 4, 5))
        s.section("Population and sample")
        counts = self.scoped.counts
        s.pairs([
            ("Population file", self.population.source_relative, f"see {self.ref('Population')}"),
            ("Records received", counts["received"]),
            ("In scope", counts["in_scope"]),
            ("Excluded", len(self.scoped.excluded)),
            ("Sample size", e.sample_size, f"see {self.ref('Sampling')}"),
            ("Items tested", e.items_tested, f"see {self.ref('Testing')}"),
            ("Deviations", e.deviations, f"see {self.ref('Exceptions')}"),
            ("Full-population exceptions", e.population_exceptions),
            ("  of which outside the sample", e.population_exceptions_outside_sample),
        ])
        s.section("Conclusion")
        rows: list[tuple[str, Any]] = [
            ("Status", e.status),
            ("Conclusion", e.conclusion),
            ("Proposed Section 4 result", e.result_text),
        ]
        rows += [(f"Note {i}", note) for i, note in enumerate(e.notes, start=1)]
        s.pairs(rows)
        s.section("Sign-off")
        staff = [(m.role, m.name, m.initials, None) for m in self.engagement.staff]
        s.text("Sign-off dates are left blank: the preparer and the reviewer complete them when they sign.")
        s.table(["Role", "Name", "Initials", "Signed off (date)"], staff)
        s.section("Workpaper sheets")
        s.table(["Reference", "Sheet"], [(self.ref(name), name) for name in SHEETS])
        s.finish(fixed={1: 28, 2: 70, 4: 40, 5: 40, 6: 40})

    # -- 2. Population ---------------------------------------------------------------------------
    def population_sheet(self) -> None:
        p, sc = self.population, self.scoped
        s = self.sheet("Population", "Population and completeness and accuracy (IPE)")
        s.section("Source (as received from the client)")
        s.pairs(_typed_pairs(p.to_table(receipt_rows=self.test.receipt.to_table())))
        if p.history is not None:       # an event log read as its latest states: every record's states
            s.section("States per record (event log; the latest state of each record is tested)")
            states = p.history.states
            s.table([str(c).replace("_", " ").capitalize() for c in states.columns],
                    states.itertuples(index=False), empty="Every record has one state.")
        s.section("Scope")
        rows = _typed_pairs(sc.to_table())
        if sc.mode == "period" and not sc.months_without_records:
            rows.append(("Months with no records", "none"))
        s.pairs(rows)
        period_rows = [(month, count) for month, count in sc.months]
        if period_rows:
            s.section("Records in scope per month")
            s.table(["Month", "Records in scope"], period_rows)
        s.section("Completeness and accuracy (IPE) checks")
        rows = [("Usable for sampling", "yes" if self.report.usable else "no")]
        if self.report.second_sources:
            rows.append(("Reconciled to", "; ".join(self.report.second_source_names)))
        s.pairs(rows)
        checks = self.report.checks
        if len(checks):
            cols = [c for c in ("rule", "check", "outcome", "severity") if c in checks.columns]
            s.table([_heading(c) for c in cols], _rows(checks[cols]), wrap_columns=(1,))
            s.row += 1
            s.text("Findings (one row each):", bold=True)
        findings = _findings_frame(self.report)
        s.table(["Rule", "Column", "Row", "Value", "Severity", "Message"],
                [[r.get(k) for k in ("rule", "column", "row", "value", "severity", "message")]
                 for r in findings], empty="No findings: every check passed.", wrap_columns=(5,))
        s.section("Excluded records")
        key, date = p.key, sc.date_column
        excluded = sc.excluded
        cols = [c for c in (key, date, "source_row", "reason") if c is not None and c in excluded.columns]
        s.table([_heading(c) for c in cols], _rows(excluded[cols]), empty="None: every record received is in scope.")
        s.finish(fixed={1: 34, 2: 70, 6: 80})

    # -- 3. Sampling -----------------------------------------------------------------------------
    def sampling_sheet(self) -> None:
        sel = self.selection
        s = self.sheet("Sampling", "Sample size and selection")
        s.section("Sampling policy (engagement)")
        s.pairs(_typed_pairs(self.engagement.sampling.to_table()))
        s.section("Sample size and why")
        s.pairs(_typed_pairs(self.sample_plan.to_table()))
        s.section("Selection (re-performable)")
        rows = [(label, value) for label, value in sel.to_table()
                if not label.startswith("Selected keys")]  # listed one per row below
        s.pairs(_typed_pairs(rows))
        self.coverage_chart(s)
        s.section("Selected items (in selection order)")
        frame = self.scoped.frame
        key, date = self.population.key, self.sample_plan.date_column
        keys = frame[key].astype(str)
        selected = keys.isin(set(sel.keys)).to_numpy()  # index only the selected records, not the population
        by_key = frame.loc[selected].set_index(keys[selected])
        items = []
        for number, item in enumerate(sel.keys, start=1):
            found = by_key.loc[item] if item in by_key.index else None
            items.append([number, item,
                          None if found is None or date not in by_key.columns else found[date],
                          None if found is None or "source_row" not in by_key.columns else found["source_row"]])
        s.table(["Sample #", _heading(key), _heading(date), "Source row"], items,
                empty="No items selected.")
        s.finish(fixed={1: 34, 2: 70})

    def coverage_chart(self, s: SheetWriter) -> None:
        """The coverage chart (records in scope and sampled items per month) as an image, rows reserved."""
        from openpyxl.drawing.image import Image  # needs Pillow (a dependency of matplotlib)

        from workbench.workpaper.charts import chart_png, coverage_chart

        s.section("Coverage of the period")
        date = self.scoped.date_column
        if date:
            where = f" (as on {self.ref('Population')})" if self.scoped.mode == "period" else ""
            s.text(f"Bars: records in scope per month of {date} in {self.population.timezone}{where}; "
                   f"markers: the selected items below, per month.")
        else:
            s.text("Bars: records in scope (a listing taken whole); markers: the selected items below.")
        figure = coverage_chart(self.scoped, self.selection,
                                title=f"{self.control.id}: population and sample by month")
        image = Image(BytesIO(chart_png(figure)))
        image.anchor = f"A{s.row}"
        s.ws.add_image(image)
        s.row += math.ceil(image.height / _ROW_PIXELS) + 1  # default rows (15 pt = 20 px) under the image

    # -- 4. Testing ------------------------------------------------------------------------------
    def testing_sheet(self) -> None:
        t = self.testing
        s = self.sheet("Testing", "Testing matrix")
        s.text(f"Tickmarks are defined on the Legend ({self.ref('Legend')}). Automated attributes are computed "
               f"from the population data; manual attributes come from the results store.")
        matrix = t.to_frame()
        attribute_ids = [a.id for a in t.attributes]
        labels = {a.id: f"{a.label} ({a.kind})" for a in t.attributes}
        headings = {"sample_no": "Sample #", t.key_column: _heading(t.key_column),
                    t.date_column: _heading(t.date_column), "deviation": "Deviation", "reason": "Reason",
                    "evidence_ref": "Evidence ref", "comment": "Comment", "tested_by": "Tested by"}
        columns = list(matrix.columns)
        marked = [j for j, c in enumerate(columns) if c in attribute_ids]  # 0-based positions of attributes
        rows = _rows(matrix)
        for row in rows:
            for j in marked:
                text = display_text(row[j])
                self.used_tickmarks.add(text)
                row[j] = TICKMARKS[text][0] if text in TICKMARKS else text
        header_row, _ = s.table([labels.get(c, headings.get(c, _heading(c))) for c in columns], rows,
                                empty="No items selected.",
                                wrap_columns=tuple(i for i, c in enumerate(columns) if c in ("reason", "comment")))
        s.ws.freeze_panes = f"C{header_row + 1}"
        for j in marked:
            for r in range(header_row + 1, header_row + 1 + len(rows)):
                s.ws.cell(row=r, column=j + 1).alignment = _CENTER
        s.section("Full-population analytics (automated attributes over every record in scope)")
        pr = t.population_results
        s.table(["Attribute", "Label", "Records", "Pass", "Fail", "N/A", "Not performed", "Fail in sample",
                 "Fail outside sample"], _rows(pr), empty="No automated attributes.")
        if t.notes:
            s.section("Notes")
            for note in t.notes:
                s.text(note)
        widths: dict[int, float] = {j + 1: 14 for j in marked}
        widths.update({j: 60 for j, c in enumerate(columns, start=1) if c in ("reason", "comment")})
        s.finish(fixed=widths)

    # -- 5. Exceptions ---------------------------------------------------------------------------
    def exceptions_sheet(self) -> None:
        e, t = self.evaluation, self.testing
        s = self.sheet("Exceptions", "Exceptions")
        s.section("Exceptions in the sample")
        ex = e.exceptions
        sample = ex.loc[ex["found_by"] == "sample"] if len(ex) else ex
        s.table(["Sample #", "Item", "Date", "Attribute", "Description", "Reason", "Evidence ref",
                 "Root cause (preparer)", "Isolated or systematic (preparer)"],
                [[r["sample_no"], r["item"], r["item_date"], f"{r['attribute']} ({r['attribute_id']})",
                  r["description"], r["reason"], r["evidence_ref"], None, None]
                 for r in sample.to_dict("records")],
                empty="None: no sampled item deviated.", wrap_columns=(4, 5))
        s.section("Full-population analytics exceptions (automated attributes, every record in scope)")
        fp = t.full_population_exceptions
        s.table(["Item", "Date", "Source row", "Attribute", "Description", "Reason", "In sample", "Sample #"],
                [[r["item_key"], r["item_date"], r["source_row"], f"{r['label']} ({r['attribute_id']})",
                  r["deviation"], r["reason"], "yes" if bool(r["in_sample"]) else "no", r["sample_no"]]
                 for r in fp.to_dict("records")],
                empty="None: no record in scope failed an automated attribute.", wrap_columns=(4, 5))
        s.finish(fixed={4: 34, 5: 50, 6: 50})

    # -- 6. Evaluation ---------------------------------------------------------------------------
    def evaluation_sheet(self) -> None:
        e = self.evaluation
        s = self.sheet("Evaluation", "Evaluation and conclusion")
        s.section("Statistical evaluation")
        if e.evaluation is not None:
            s.pairs([("Statistical evaluation performed", "yes")] + _typed_pairs(e.evaluation.to_table()))
        else:
            s.pairs([("Statistical evaluation performed", "no"), ("Why", e.conclusion)])
        s.section("Conclusion")
        s.pairs(_typed_pairs(e.to_table()))
        s.finish(fixed={1: 40, 2: 90})

    # -- 7. Legend -------------------------------------------------------------------------------
    def legend_sheet(self) -> None:
        s = self.sheet("Legend", "Tickmark legend and conventions")
        s.section("Tickmarks used in this workpaper")
        used = [TICKMARKS[o] for o in TICKMARKS if o in self.used_tickmarks]
        used += [(o, "Outcome as recorded (no tickmark defined for it).")
                 for o in sorted(self.used_tickmarks - set(TICKMARKS))]
        s.table(["Tickmark", "Meaning"], used, empty="No tickmarks used (no items tested).", wrap_columns=(1,))
        s.section("Conventions")
        s.pairs([
            ("Timestamps", "ISO 8601 text with the UTC offset of the engagement's zone "
                           f"({self.engagement.timezone}), e.g. 2025-07-03T14:05:00-04:00, so the zone is "
                           "explicit; Excel itself has no time zones."),
            ("Dates", "Calendar dates (period, date received) are Excel dates shown as yyyy-mm-dd."),
            ("Client text", "Written as literal text, never as a formula: text beginning with =, +, -, @, tab "
                            "or carriage return carries the quote prefix (OWASP CSV injection guidance)."),
            ("Workpaper reference", f"{self.reference}.n, n = sheet number (Lead = 1 ... Legend = 7)."),
            ("Source of every figure", "Laid out from the stage results (population, validation, plan, "
                                       "selection, testing, evaluation); nothing is recomputed here."),
        ])
        s.finish(fixed={1: 22, 2: 100})


#: Height in pixels of a row of default height (15 points), for reserving rows under an image.
_ROW_PIXELS = 20
_CENTER = Alignment(horizontal="center", vertical="top")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INTEGER = re.compile(r"^-?(?:[1-9]\d{0,2}(?:,\d{3})+|[1-9]\d{0,14}|0)$")


def _typed(value: Any) -> Any:
    """Integers and dates a ``to_table()`` rendered as text ("1,512", "2026-07-10") as numbers and real dates."""
    if isinstance(value, str):
        if _INTEGER.match(value):
            return int(value.replace(",", ""))
        if _ISO_DATE.match(value):
            try:
                return _dt.date.fromisoformat(value)
            except ValueError:
                return value
    return value


def _typed_pairs(rows: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
    return [(label, *(_typed(v) for v in values)) for label, *values in rows]


def _heading(column: str) -> str:
    """A canonical column name as a heading: ``deployed_at`` -> ``Deployed at``."""
    text = str(column).replace("_", " ")
    return text[:1].upper() + text[1:]


def _findings_frame(report: ValidationReport) -> list[dict[str, Any]]:
    """The validation findings as records (rule, column, row, value, severity, message)."""
    return [{str(k): v for k, v in row.items()} for row in report.findings.to_dict("records")]


def write_workpaper(output_dir: str | os.PathLike[str], test: ControlTest) -> Path:
    """Write the control's workpaper ``<output_dir>/<control_id>.xlsx`` and return its path.

    Parameters
    ----------
    output_dir : path-like
        Folder for the workbook (created if missing).
    test : ControlTest
        Every stage's result for the control: engagement, control, procedure, population and receipts,
        validation report, scope, sample plan, selection, testing matrix and evaluation. The workbook lays
        them out; it never recomputes a number.

    Returns
    -------
    pathlib.Path
        The workbook written.

    Notes
    -----
    The file is written atomically: to a temporary file in the same folder, then moved over the target
    with ``os.replace``, so a reader never sees a half-written workbook and a failure leaves the previous
    workbook (if any) in place.
    """
    book = _Workpaper(test).write()
    return save_atomically(book, Path(output_dir) / f"{test.control.id}.xlsx")
