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
8. **Population listing** — every record in scope with the outcome of every automated attribute (the
   census), under filter buttons; past :data:`MAX_LISTING_ROWS` records it goes to a CSV file beside the
   workbook (``<control_id>.population.csv``), whose name and SHA-256 the sheet states.

The workbook is saved in openpyxl's write-only mode (:mod:`workbench.workpaper.streaming`): the listing is
streamed row by row from columns converted once, the other sheets transcribed from their layout.

9. **Sign-off** — the sign-offs (role, who, OS account@host, when, fingerprint signed, current or "changed after
   sign-off"), the review notes (raised, answered, cleared: who and when), the lock and any later additions,
   all read from the results store (:mod:`workbench.signoff`).

Every sheet's header shows the preparer's and the reviewer's sign-off with its date, or "not signed".

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
from workbench.evaluation import STATUS_TEXT, TYPE1_CONCLUSIONS
from workbench.library import is_testable
from workbench.signoff import NOTE_COLUMNS, SIGNOFF_ROLES, ControlSignoffs, signoffs_of
from workbench.validation import ValidationReport, covering_controls, covering_procedure
from workbench.workpaper.cells import display_text
from workbench.workpaper.layout import SheetWriter, header_from_engagement
from workbench.workpaper.streaming import StreamedTable, save_streamed

__all__ = ["SHEETS", "TICKMARKS", "CHAIN_HEAD_LABEL", "MAX_LISTING_ROWS", "LISTING_CSV", "write_workpaper", "workpaper_reference"]

#: Sheet names in workbook order (their 1-based position is the sheet number in the reference).
SHEETS: tuple[str, ...] = ("Lead", "Population", "Sampling", "Testing", "Exceptions", "Evaluation", "Legend",
                          "Population listing", "Sign-off")

#: The most records the "Population listing" sheet holds; more go to a CSV file beside the workbook. Excel's
#: limit is 1,048,576 rows; the cap keeps a margin for the header block and makes the rule a round number.
MAX_LISTING_ROWS = 1_000_000

#: The CSV file a listing over the cap goes to, beside the workbook (``{control}`` is the control id).
LISTING_CSV = "{control}.population.csv"

#: The label of the results store's chain head on the Lead sheet (``workbench verify --head`` checks it).
CHAIN_HEAD_LABEL = "Results store chain head (SHA-256)"

#: Tickmarks, each defined on the Legend. A met attribute is marked by how it was tested: recomputed from the
#: population data (an automated attribute) or agreed to source evidence (a manual one, with its reference).
TICKMARKS: dict[str, tuple[str, str]] = {
    "recomputed": ("R", "Recomputed from the population data: the automated attribute was computed for every record "
                        "in scope from the client's export and was met for this item."),
    "agreed": ("✓", "Agreed to source evidence: the tester inspected the evidence named in the evidence reference "
                    "and the attribute was met."),
    "fail": ("X", "Exception: the attribute was not met (or its evidence was missing); see the Exceptions sheet. "
                  "For an accuracy check (agreed to source), a finding on the population: see the Population sheet."),
    "n/a": ("N/A", "Not applicable to this item; the reason column says why."),
    "not performed": ("–", "Not performed: a prerequisite attribute failed for this item, so this attribute could "
                           "not be performed; not counted as a second deviation."),
    "not tested": ("NT", "Not yet tested: a manual attribute with no result recorded in the results store."),
    "override": ("O", "Override: the tester replaced the outcome computed for this automated attribute, with the "
                      "reason in the Reason column (which keeps the computed outcome); the mark after the O is the "
                      "outcome recorded (O✓ met, OX exception, ON/A not applicable)."),
}


def tickmark_of(outcome: str, source: str) -> str:
    """The :data:`TICKMARKS` key of a testing-matrix cell: how a pass was established, else the outcome."""
    if source == "override":
        return "override"
    if outcome == "pass":
        return "recomputed" if source == "automated" else "agreed"
    return outcome


def _mark(outcome: str, source: str) -> str:
    """The text of a testing-matrix cell: the tickmark, an override's O followed by the outcome's mark."""
    mark = tickmark_of(outcome, source)
    if mark == "override":
        inner = tickmark_of(outcome, "results store")
        return TICKMARKS[mark][0] + (TICKMARKS[inner][0] if inner in TICKMARKS else outcome)
    return TICKMARKS[mark][0] if mark in TICKMARKS else outcome


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

    def __init__(self, test: ControlTest, output_dir: Path | None = None, listing_cap: int = MAX_LISTING_ROWS,
                 signoffs: ControlSignoffs | None = None) -> None:
        self.test = test
        self.signoffs = signoffs if signoffs is not None else signoffs_of(test)
        self.output_dir = output_dir
        self.listing_cap = listing_cap
        self.streamed: list[StreamedTable] = []
        self.engagement = test.engagement
        self.control = test.control
        self.sample_plan = test.sample_plan
        self.selection = test.selection
        self.testing = test.testing
        self.evaluation = test.evaluation
        self.reference = workpaper_reference(self.engagement, self.control)
        self.header = header_from_engagement(self.engagement, self.reference,
                                             preparer=self.signoffs.header("preparer"),
                                             reviewer=self.signoffs.header("reviewer"))
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
        self.listing_sheet()
        self.signoff_sheet()
        return self.book

    # -- helpers ----------------------------------------------------------------------------------
    def ref(self, sheet: str) -> str:
        return _ref(self.reference, sheet)

    # -- 1. Lead ---------------------------------------------------------------------------------
    def lead(self) -> None:
        c, e, t, test = self.control, self.evaluation, self.testing, self.test
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
            ("Records tested", e.population_description
             + (f" (record filter {c.record_filter.text})" if c.record_filter else "")),
        ])
        s.section("Test")
        s.pairs([
            ("Test objective", f"To determine that {t.procedure.objectives_text(t.control_attributes)}."),
            ("Test performed", e.test_performed),
        ])
        s.section("Attributes tested")
        table = t.procedure.attribute_table(t.attributes)
        s.table(["Attribute", "Label", "Kind", "Description", "Pass criterion", "Deviation (Section 4 wording)",
                 "Depends on", "Role"], _rows(table), wrap_columns=(3, 4, 5))
        s.section("Population and sample")
        counts = test.scope.counts
        rows: list[tuple[Any, ...]] = [
            ("Population file" + ("s" if len(test.populations) > 1 else ""),
             "; ".join(p.source_relative for p in test.populations), f"see {self.ref('Population')}"),
            ("Records received", counts["received"]),
            ("In scope", counts["in_scope"]),
            ("Excluded", counts["received"] - counts["in_scope"]),
            ("Sample", f"{test.sample_plan.sample_id}" + (f" (shared with {', '.join(test.sample_plan.shared_with)})"
                                                           if test.sample_plan.shared_with else "")),
            ("Sample size", e.sample_size, f"see {self.ref('Sampling')}"),
            ("Items tested", e.items_tested, f"see {self.ref('Testing')}"),
            ("Deviations in the sample", e.deviations, f"see {self.ref('Exceptions')}"),
            ("Full-population exceptions", e.population_exceptions),
            ("Items with a deviation (distinct)", e.distinct_exceptions),
            ("Exceptions evaluated", f"{e.distinct_exceptions - len(e.unevaluated)} of {e.distinct_exceptions}"),
        ]
        s.pairs(rows)
        s.section("Conclusion")
        conclusion = test.conclusion
        rows = [
            ("Conclusion", conclusion.text),
            ("Proposed by the tool", e.status_text),
            ("Why", e.conclusion),
        ]
        if self.engagement.report_type == "type2":
            rows.append(("Proposed Section 4 result", e.result_text))
        else:
            rows.append(("Section 4", "A Type 1 report gives no results of tests: the control is reported as "
                                      f"{conclusion_words(conclusion.status, self.engagement)}."
                          if conclusion.status in TYPE1_CONCLUSIONS else
                          "A Type 1 report gives no results of tests; the design and implementation conclusion "
                          "is pending."))
        rows += [(f"Pending {i}", item) for i, item in enumerate(e.pending, start=1)]
        rows += [(f"Note {i}", note) for i, note in enumerate(e.notes, start=1)]
        s.pairs(rows)
        s.section("Results store")
        s.pairs([(CHAIN_HEAD_LABEL, test.evidence.chain_head),
                  ("Evidence files flagged", f"{len(test.evidence.flagged)} of {len(test.evidence.files)}"
                   + (f": changed or deleted after a result cited them, see {self.ref('Testing')}"
                      if test.evidence.flagged else f" (listed on {self.ref('Testing')})"))])
        s.text("The chain head is the SHA-256 of the store's last entry when this workpaper was written: "
               "workbench verify ENGAGEMENT --head <it> fails if the store was rewritten or replaced since.")
        s.section("Sign-off")
        signoffs = self.signoffs
        s.pairs([("Sign-off", signoffs.state_text(), f"see {self.ref('Sign-off')}"),
                 ("Open review notes", len(signoffs.open_notes))])
        s.section("Workpaper sheets")
        s.table(["Reference", "Sheet"], [(self.ref(name), name) for name in SHEETS])
        s.finish(fixed={1: 28, 2: 70, 4: 40, 5: 40, 6: 40})

    # -- 2. Population ---------------------------------------------------------------------------
    def population_sheet(self) -> None:
        test = self.test
        s = self.sheet("Population", "Population and completeness and accuracy (IPE)")
        many = len(test.populations) > 1
        for population, report, part, round_ in zip(test.populations, test.reports, test.scope.parts,
                                                    test.scope.rounds):
            prefix = f"Round {round_.name}: " if many else ""
            s.section(f"{prefix}Source (as received from the client)")
            s.pairs(_typed_pairs(population.to_table(receipt_rows=test.receipt_rows(population))))
            if population.history is not None:   # an event log read as its latest states: every record's states
                s.section(f"{prefix}States per record (event log; the latest state of each record is tested)")
                states = population.history.states
                s.table([str(c).replace("_", " ").capitalize() for c in states.columns],
                        states.itertuples(index=False), empty="Every record has one state.")
            s.section(f"{prefix}Scope")
            rows = _typed_pairs(part.to_table())
            if part.mode == "period" and not part.months_without_records:
                rows.append(("Months with no records", "none"))
            s.pairs(rows)
            if part.months:
                s.section(f"{prefix}Records in scope per month")
                s.table(["Month", "Records in scope"], [(month, count) for month, count in part.months])
            self.checks_section(s, report, prefix)
            s.section(f"{prefix}Excluded records")
            key, date = population.key, part.date_column
            excluded = part.excluded
            cols = [c for c in (key, date, "source_row", "reason") if c is not None and c in excluded.columns]
            s.table([_heading(c) for c in cols], _rows(excluded[cols]),
                    empty="None: every record received is in scope.")
        self.accuracy_section(s)
        s.finish(fixed={1: 34, 2: 70, 6: 80})

    def checks_section(self, s: SheetWriter, report: ValidationReport, prefix: str) -> None:
        s.section(f"{prefix}Completeness and accuracy (IPE) checks")
        rows = [("Usable for sampling", "yes" if report.usable else "no")]
        if report.second_sources:
            rows.append(("Reconciled to", "; ".join(report.second_source_names)))
        s.pairs(rows)
        checks = report.checks
        if len(checks):
            cols = [c for c in ("rule", "check", "outcome", "severity") if c in checks.columns]
            s.table([_heading(c) for c in cols], _rows(checks[cols]), wrap_columns=(1,))
            s.row += 1
            s.text("Findings (one row each):", bold=True)
        findings = _findings_frame(report)
        s.table(["Rule", "Column", "Row", "Value", "Severity", "Message"],
                [[r.get(k) for k in ("rule", "column", "row", "value", "severity", "message")]
                 for r in findings], empty="No findings: every check passed.", wrap_columns=(5,))
        differences = [r for r in findings if r.get("rule") == "reconciliation"]
        if differences:
            s.row += 1
            s.text(reconciliation_note(self.engagement, report, len(differences)), bold=True)

    def accuracy_section(self, s: SheetWriter) -> None:
        t = self.testing
        if not t.accuracy_attributes:
            return
        s.section("Accuracy: sampled items agreed to the source system")
        failures = t.accuracy_failures()
        tested = int((t.item_results["attribute_id"].isin([a.id for a in t.accuracy_attributes])
                      & (t.item_results["outcome"] != "not tested")).sum())
        s.pairs([
            ("Check", "; ".join(a.description for a in t.accuracy_attributes)),
            ("Sampled items agreed", f"{tested - len(failures)} of {tested} tested ({t.sample_size} selected)"),
            ("Population data relied on", "yes" if t.census_relied_on else
             "no: the export did not agree with the source for the items below, so the full-population results "
             "resting on it are not relied on (obtain a corrected export, or test the attributes for the sample "
             "from the source evidence)"),
        ])
        s.table(["Sample #", "Item", "Check", "What differs", "Evidence ref", "Tested by"],
                [[r["sample_no"], r["item_key"], r["label"], r["reason"], r["evidence_ref"], r["tested_by"]]
                 for r in failures.to_dict("records")],
                empty="No difference found (or not tested yet: see the Testing sheet).", wrap_columns=(3,))

    # -- 3. Sampling -----------------------------------------------------------------------------
    def sampling_sheet(self) -> None:
        sel, test = self.selection, self.test
        s = self.sheet("Sampling", "Sample size and selection")
        s.section("Sampling policy (engagement)")
        s.pairs(_typed_pairs(self.engagement.sampling.to_table()))
        s.section("Policy for this control (value, and where it came from)")
        s.table(["Setting", "Value", "Source", "What it decides"], test.policy.to_rows(), wrap_columns=(3,))
        s.section("Sample size and why")
        s.pairs(_typed_pairs(self.sample_plan.to_table()))
        s.section("Selection (re-performable)")
        s.pairs(_typed_pairs(sel.to_table()))
        self.coverage_chart(s)
        s.section("Selected items (in selection order)")
        frame = test.scope.frame
        key, date = test.scope.key, self.sample_plan.date_column
        keys = frame[key].astype(str)
        selected = keys.isin(set(sel.keys)).to_numpy()  # index only the selected records, not the population
        by_key = frame.loc[selected].set_index(keys[selected])
        stages = sel.stages if sel.extended else {}
        rounds = dict(zip(self.testing.items[self.testing.key_column], self.testing.items["round"])) \
            if "round" in self.testing.items.columns else {}
        items = []
        for number, item in enumerate(sel.keys, start=1):
            found = by_key.loc[item] if item in by_key.index else None
            row: list[Any] = [number, item,
                              None if found is None or date not in by_key.columns else found[date],
                              None if found is None or "source_row" not in by_key.columns else found["source_row"]]
            if rounds:
                row.append(rounds.get(item))
            if stages:
                row.append(stages.get(item))
            items.append(row)
        headings = ["Sample #", _heading(key), _heading(date), "Source row"] + (["Round"] if rounds else []) + \
            (["Stage"] if stages else [])
        s.table(headings, items, empty="No items selected.")
        s.finish(fixed={1: 34, 2: 70})

    def coverage_chart(self, s: SheetWriter) -> None:
        """The coverage chart (records in scope and sampled items per month) as an image, rows reserved."""
        from openpyxl.drawing.image import Image  # needs Pillow (a dependency of matplotlib)

        from workbench.workpaper.charts import chart_png, coverage_chart

        s.section("Coverage of the period")
        scope = self.test.scope
        date = scope.date_column
        timezone = self.test.population.timezone
        if date:
            where = f" (as on {self.ref('Population')})" if scope.parts[0].mode == "period" else ""
            s.text(f"Bars: records in scope per month of {date} in {timezone}{where}; "
                   f"markers: the selected items below, per month.")
        else:
            s.text("Bars: records in scope (a listing taken whole); markers: the selected items below.")
        figure = coverage_chart(scope, self.selection, title=f"{self.control.id}: population and sample by month")
        image = Image(BytesIO(chart_png(figure)))
        image.anchor = f"A{s.row}"
        s.ws.add_image(image)
        s.row += math.ceil(image.height / _ROW_PIXELS) + 1  # default rows (15 pt = 20 px) under the image

    # -- 4. Testing ------------------------------------------------------------------------------
    def testing_sheet(self) -> None:
        t = self.testing
        s = self.sheet("Testing", "Testing matrix")
        s.text(f"Tickmarks are defined on the Legend ({self.ref('Legend')}): automated attributes are recomputed from "
               f"the population data (R); manual attributes are agreed to source evidence (✓) and recorded in the "
               f"results store.")
        matrix = t.to_frame()
        attribute_ids = [a.id for a in t.attributes]
        labels = {a.id: f"{a.label} ({a.kind}{', accuracy' if a.accuracy else ''})" for a in t.attributes}
        headings = {"sample_no": "Sample #", t.key_column: _heading(t.key_column),
                    t.date_column: _heading(t.date_column), "deviation": "Deviation", "reason": "Reason",
                    "evidence_ref": "Evidence ref", "comment": "Comment", "tested_by": "Tested by",
                    "round": "Round", "stage": "Stage"}
        columns = list(matrix.columns)
        marked = [j for j, c in enumerate(columns) if c in attribute_ids]  # 0-based positions of attributes
        sources = {(int(r["sample_no"]), str(r["attribute_id"])): str(r["source"])
                   for r in t.item_results.to_dict("records")}
        rows = _rows(matrix)
        for row in rows:
            for j in marked:
                text = display_text(row[j])
                source = sources.get((int(row[0]), columns[j]), "")
                mark = tickmark_of(text, source)
                self.used_tickmarks.add(mark)
                if mark == "override":
                    self.used_tickmarks.add(tickmark_of(text, "results store"))
                row[j] = _mark(text, source)
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
        if not t.census_relied_on:
            s.text("Not relied on: sampled items did not agree with the source system (Population sheet).", bold=True)
        s.section("Evidence files (SHA-256; evidence/<control or sample>/<item>/ and evidence/populations/<id>/)")
        s.table(["File", "Linked to", "SHA-256", "Bytes", "Status"], self.test.evidence.to_rows(),
                empty="No evidence files in the engagement folder for these items and populations.",
                wrap_columns=(4,))
        if t.notes:
            s.section("Notes")
            for note in t.notes:
                s.text(note)
        widths: dict[int, float] = {j + 1: 14 for j in marked}
        widths.update({j: 60 for j, c in enumerate(columns, start=1) if c in ("reason", "comment")})
        s.finish(fixed=widths)

    # -- 5. Exceptions ---------------------------------------------------------------------------
    def exceptions_sheet(self) -> None:
        e = self.evaluation
        s = self.sheet("Exceptions", "Exceptions and their evaluation")
        s.pairs([
            ("Items with a deviation", e.exception_extent()),
            ("Evaluated", f"{e.distinct_exceptions - len(e.unevaluated):,}; pending {len(e.unevaluated):,}"),
        ])
        s.text("Every exception is listed, one row per item and attribute; the evaluation is the preparer's, recorded "
               "in the results store (workbench.judgements.evaluate_exception) with who and when.")
        evaluation_columns = ["Type", "Isolated or systematic", "Root cause", "Compensating control",
                              "Effect on the criteria", "Management's response (Section 5, unaudited)",
                              "Evaluated by"]
        rows = []
        for r in e.exceptions.to_dict("records"):
            evaluated = e.evaluations.get(str(r["item"]))
            row_eval = evaluated.to_row() if evaluated is not None else {}
            rows.append([r["item"], r["found_by"], r["sample_no"], r["item_date"],
                         f"{r['attribute']} ({r['attribute_id']})", r["description"], r["reason"], r["evidence_ref"]]
                        + [row_eval.get(column, "pending" if column == "Type" else None)
                           for column in evaluation_columns])
        s.table(["Item", "Found by", "Sample #", "Date", "Attribute", "Description", "Reason", "Evidence ref"]
                + evaluation_columns, rows, empty="None: no item deviated.", wrap_columns=(5, 6, 9, 10, 11, 12, 13))
        s.finish(fixed={5: 34, 6: 40, 7: 40, 10: 40, 11: 30, 12: 30, 13: 30, 14: 30})

    # -- 6. Evaluation ---------------------------------------------------------------------------
    def evaluation_sheet(self) -> None:
        e, test = self.evaluation, self.test
        s = self.sheet("Evaluation", "Evaluation and conclusion")
        s.section("Walkthrough and design evaluation")
        if e.walkthrough is not None:
            s.pairs(e.walkthrough.to_table())
        else:
            s.pairs([("Walkthrough", "not recorded yet (workbench.judgements.record_walkthrough): inquiry of whom "
                                     "and when, inspection of what, observation, and the design evaluation")])
        s.section("Statistical evaluation (what only the sample tested)")
        if e.evaluation is not None:
            s.pairs([("Statistical evaluation performed", "yes")] + _typed_pairs(e.evaluation.to_table()))
        else:
            s.pairs([("Statistical evaluation performed", "no"),
                     ("Why", "the attributes were computed for the full population, or the sample is not "
                             "statistical, or it is not tested yet; known deviations are evaluated one by one "
                             "(Exceptions sheet), not against the tolerable rate")])
        s.section("Conclusion")
        conclusion = test.conclusion
        rows: list[tuple[Any, ...]] = [("Conclusion", conclusion.text)]
        if conclusion.recorded is not None:
            rows += [("Recorded by", f"{conclusion.recorded.by} on {conclusion.recorded.at}"),
                     ("Proposed when recorded", STATUS_TEXT.get(conclusion.recorded.proposed,
                                                                conclusion.recorded.proposed)),
                     ("Reason given", conclusion.recorded.reason or "")]
        s.pairs(rows)
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
            ("Workpaper reference", f"{self.reference}.n, n = sheet number (Lead = 1 ... {SHEETS[-1]} = "
                                    f"{len(SHEETS)})."),
            ("Source of every figure", "Laid out from the stage results (population, validation, plan, "
                                       "selection, testing, evaluation); nothing is recomputed here."),
            ("Judgements", "Exception evaluations, the walkthrough and the conclusion are recorded by the tester "
                           "in the results store, never typed into this workbook: it is regenerated from the store."),
        ])
        s.finish(fixed={1: 22, 2: 100})

    # -- 8. Sign-off -----------------------------------------------------------------------------
    def signoff_sheet(self) -> None:
        signoffs = self.signoffs
        s = self.sheet("Sign-off", "Sign-off and review notes")
        s.pairs([("State", signoffs.state_text()),
                 ("Inputs fingerprint now", self.test.fingerprint.sha256)])
        s.text("Sign-offs are recorded with workbench signoff ENGAGEMENT --control ID --role preparer|reviewer --by "
               "INITIALS: the preparer first, then a reviewer who is not the preparer. Each covers the inputs "
               "fingerprint at that moment; a later change marks it \"changed after sign-off\" until signed again.")
        s.section("Sign-offs")
        rows = []
        for signoff in reversed(signoffs.history):
            latest = signoffs.signed(signoff.role) is signoff
            changed = signoff.changed(signoffs.fingerprint)
            state = ("current" if not changed else f"changed after sign-off ({', '.join(changed)})") if latest \
                else "superseded by a later sign-off"
            rows.append((signoff.role, f"{signoff.name} ({signoff.by})", signoff.staff_role, signoff.os_account,
                         signoff.at, signoff.fingerprint, state, signoff.addition or ""))
        s.table(["Role", "Signed by", "Staff role", "OS account@host", "When (UTC)", "Inputs fingerprint signed",
                 "State", "Addition after the lock (why)"], rows,
                empty=f"Not signed: no {' or '.join(SIGNOFF_ROLES)} sign-off recorded.", wrap_columns=(6, 7))
        s.section("Review notes")
        s.table(list(NOTE_COLUMNS), [note.to_row() for note in signoffs.notes], empty="No review notes.",
                wrap_columns=(3, 5))
        s.section("Lock")
        lock = signoffs.lock
        s.text(lock.text() if lock is not None else "Not locked: the engagement is locked with workbench lock "
               "ENGAGEMENT --release-date D --by INITIALS once the report is released; the documentation completion "
               "deadline is then the release date + 60 days (AU-C 230 / AT-C 205).")
        if signoffs.additions:
            s.section("Additions after the lock")
            s.table(["When (UTC)", "By", "Kind", "Of", "Why"], [a.to_row() for a in signoffs.additions],
                    wrap_columns=(4,))
        s.finish(fixed={4: 50, 6: 50, 7: 30})


    # -- 8. Population listing ------------------------------------------------------------------------------
    def listing_sheet(self) -> None:
        """Every record in scope with each automated attribute's outcome: streamed, or a CSV past the cap."""
        t, test = self.testing, self.test
        s = self.sheet("Population listing", "Population listing (every record in scope)")
        frame = t.record_outcomes if t.record_outcomes is not None else pd.DataFrame()
        automated = [a for a in t.attributes if a.id in frame.columns]
        headings = {t.key_column: _heading(t.key_column), t.date_column: _heading(t.date_column),
                    "source_row": "Source row", "round": "Round", "sample_no": "Sample #",
                    "failed": "Failed attributes"}
        headings.update({a.id: f"{a.label} ({a.id})" for a in automated})
        titles = tuple(headings.get(str(c), _heading(str(c))) for c in frame.columns)
        rows: list[tuple[Any, ...]] = [
            ("Records in scope", len(frame)),
            ("Automated attributes", "; ".join(f"{a.id} {a.label}" for a in automated) or
             "none: this control's attributes are all judged from evidence for the sampled items"),
            ("Outcomes", "pass, fail, n/a (not applicable to the record), not performed (a prerequisite failed); "
                         "the same outcomes the Testing sheet marks R, X, N/A and –"),
        ]
        csv_name = LISTING_CSV.format(control=self.control.id)
        csv_path = self.output_dir / csv_name if self.output_dir is not None else None
        if len(frame) > self.listing_cap:
            if csv_path is None:
                raise ValueError("a listing over the cap needs the output folder for its CSV file")
            digest = _write_listing_csv(csv_path, frame, titles)
            rows += [("Listing", f"{len(frame):,} records are more than a sheet holds here (at most "
                                 f"{self.listing_cap:,}): every record is in the CSV file beside this workbook"),
                     ("CSV file", csv_name), ("CSV SHA-256", digest)]
            s.section("Census (every record in scope)")
            s.pairs(rows)
            s.finish(fixed={1: 28, 2: 90})
            return
        if csv_path is not None:
            csv_path.unlink(missing_ok=True)   # a CSV left by an earlier, larger population is not this listing
        rows.append(("Filter", "The header row below has filter buttons: filter on a column to see, e.g., every "
                               "record an attribute failed for, or the sampled records."))
        s.section("Census (every record in scope)")
        s.pairs(rows)
        s.row += 1
        self.streamed.append(StreamedTable("Population listing", s.row, titles,
                                           tuple(frame[c] for c in frame.columns)))
        s.finish(fixed={1: 28, 2: 40})


def _write_listing_csv(path: Path, frame: pd.DataFrame, titles: Sequence[str]) -> str:
    """The listing as CSV (UTF-8 with BOM, for Excel), written atomically; returns its SHA-256.

    Text a spreadsheet could take for a formula starts with an apostrophe here (OWASP CSV injection guidance):
    a CSV has no quote-prefix style, and the file is opened in Excel.
    """
    from workbench.files import replace_atomically, sha256_file
    from workbench.workpaper.cells import FORMULA_TRIGGERS, display_text

    out = pd.DataFrame({title: frame[column] for title, column in zip(titles, frame.columns)})
    for title in out.columns:
        column = out[title]
        if pd.api.types.is_datetime64_any_dtype(column.dtype) or column.dtype == object:
            text = column.map(display_text)
            out[title] = text.where(~text.str.startswith(FORMULA_TRIGGERS), "'" + text)
    replace_atomically(path, lambda temporary: out.to_csv(temporary, index=False, encoding="utf-8-sig",
                                                           lineterminator="\n"))
    return sha256_file(path)


def conclusion_words(status: str, engagement: Engagement) -> str:
    """A conclusion as a sentence completes it: ``suitably designed and implemented as of 2026-06-30``."""
    text = STATUS_TEXT.get(status, status).lower()
    if engagement.report_type == "type1" and status in TYPE1_CONCLUSIONS:
        return f"{text} as of {engagement.as_of}"
    return text


def reconciliation_note(engagement: Engagement, report: ValidationReport, count: int) -> str:
    """Who answers a reconciliation difference: the control that covers it, never a bare warning."""
    covering = covering_controls(engagement, report)
    if covering:
        ids = ", ".join(f"{c.id} ({c.procedure}{'' if is_testable(engagement, c) else ', not yet tested'})"
                        for c in covering)
        return (f"{count} reconciliation difference(s) above are exceptions of {ids}, which tests this "
                f"reconciliation over the full population: see its workpaper for their evaluation.")
    return (f"{count} reconciliation difference(s) above: no control of the matrix tests this reconciliation "
            f"(procedure {covering_procedure(report)}); add one, or evaluate them as exceptions of this control.")


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


def write_workpaper(output_dir: str | os.PathLike[str], test: ControlTest,
                    signoffs: ControlSignoffs | None = None, *, listing_cap: int = MAX_LISTING_ROWS) -> Path:
    """Write the control's workpaper ``<output_dir>/<control_id>.xlsx`` and return its path.

    Parameters
    ----------
    output_dir : path-like
        Folder for the workbook (created if missing).
    test : ControlTest
        Every stage's result for the control: engagement, control, procedure, population and receipts,
        validation report, scope, sample plan, selection, testing matrix and evaluation. The workbook lays
        them out; it never recomputes a number.
    signoffs : ControlSignoffs, optional
        The control's sign-offs and review notes; default read from the results store
        (:func:`workbench.signoff.signoffs_of`).
    listing_cap : int
        The most records the "Population listing" sheet holds (default :data:`MAX_LISTING_ROWS`); a larger
        population is listed in ``<output_dir>/<control_id>.population.csv``, named with its SHA-256 on the
        sheet.

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
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paper = _Workpaper(test, folder, listing_cap, signoffs)
    book = paper.write()
    return save_streamed(book, folder / f"{test.control.id}.xlsx", paper.streamed)
