"""The request list: the sampled items and the evidence the client is asked for, in the form sent to a client.

Auditors send the client one request per sample: "for each of the 25 changes listed, provide the change ticket
with its approval and the CI run that tested it". :func:`build_requests` turns tested controls
(:class:`~workbench.control_test.ControlTest`) into those requests: one per sample (a sample shared by several
controls is listed once, naming every control that uses it), each item with its key and the fields that
identify it in the client's system, and for each item the evidence needed per manual attribute (its
:attr:`~workbench.procedures.base.Attribute.evidence_request`). Automated attributes need no evidence (they
are recomputed from the export); an attribute decided by other controls' conclusions needs none from the
client either.

The workbook has two sheets: ``Requests`` (one row per request: id, sample, population, controls, items,
evidence needed for each item, due date blank, status) and ``Items`` (one row per item: request id, item key,
date, identifying fields, evidence needed, due date blank, status, client response). Client text is written as
text, never a formula (:func:`workbench.workpaper.cells.write_text`), and the file is written atomically.

Selections are computed without running notebooks: :func:`tests_for_requests` runs each control's stages with
:func:`workbench.pipeline.run_control_test` (which pins populations, as a run does).

Public API::

    tests_for_requests(engagement, control_id=None) -> (tests, failures)
    build_requests(tests) -> tuple[Request, ...]
    write_request_list(path, tests) -> Path
    write_requests(path, engagement, requests) -> Path
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook

from workbench.control_test import ControlTest
from workbench.engagement import Engagement
from workbench.errors import USER_ERRORS, ParameterError
from workbench.evaluation import population_description
from workbench.library import is_testable
from workbench.pipeline import run_control_test
from workbench.workpaper.layout import SheetWriter, header_from_engagement, save_atomically

__all__ = ["Request", "RequestItem", "tests_for_requests", "build_requests", "write_request_list", "write_requests",
           "REQUEST_STATUS", "IDENTIFYING_COLUMNS"]

#: The status every request starts with.
REQUEST_STATUS = "Open"
#: Columns that help a client find a record, shown beside the key when the population has them.
IDENTIFYING_COLUMNS: tuple[str, ...] = ("title", "name", "description", "system", "service", "user_id", "email",
                                        "course", "vendor_id", "priority", "change_type", "review_period")


@dataclass(frozen=True)
class RequestItem:
    """One sampled item of a request."""

    request_id: str
    item_no: int
    key: str
    date: object
    fields: str


@dataclass(frozen=True)
class Request:
    """One request: a sample, the controls that test it, its items and the evidence needed for each item."""

    request_id: str
    sample_id: str
    population: str
    description: str
    controls: tuple[str, ...]
    evidence: tuple[str, ...]
    items: tuple[RequestItem, ...]

    @property
    def evidence_text(self) -> str:
        """The evidence needed for each item, one numbered line each."""
        if not self.evidence:
            return "No evidence needed from the client: every attribute is recomputed from the export."
        return "\n".join(f"{i}. {line}" for i, line in enumerate(self.evidence, start=1))


def _cell_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT or value is pd.NA:
        return ""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M") if (value.hour, value.minute) != (0, 0) else value.strftime("%Y-%m-%d")
    return str(value).strip()


def tests_for_requests(engagement: Engagement, control_id: str | None = None
                       ) -> tuple[tuple[ControlTest, ...], tuple[tuple[str, str], ...]]:
    """Run the stages of every testable control (or of ``control_id`` and the controls sharing its sample), as a
    run does, without notebooks.

    Returns
    -------
    (tests, failures)
        The tested controls in matrix order, and (control id, message) for each control whose test stopped on
        bad input (an unusable population, say).

    Raises
    ------
    EngagementError, ParameterError
        ``control_id`` is not a control of the matrix, or the workbench does not test it; its own test stopping
        on bad input raises too.
    """
    if control_id is not None:
        control = engagement.control(control_id)
        if not is_testable(engagement, control):
            raise ParameterError(f"control {control.id} has no procedure the workbench implements "
                                 f"({control.procedure or 'none'}): it has no sample to request evidence for.")
        first = run_control_test(engagement, control.id)
        wanted = [c for c in engagement.controls if c.id in first.sample_plan.shared_with]
        tests = [first]
    else:
        wanted = [c for c in engagement.controls if is_testable(engagement, c)]
        tests = []
    failures: list[tuple[str, str]] = []
    for control in wanted:
        try:
            tests.append(run_control_test(engagement, control.id))
        except USER_ERRORS as error:
            failures.append((control.id, str(error)))
    order = {c.id: i for i, c in enumerate(engagement.controls)}
    tests.sort(key=lambda t: order[t.control.id])
    return tuple(tests), tuple(failures)


def build_requests(tests: Sequence[ControlTest]) -> tuple[Request, ...]:
    """One request per sample of ``tests`` (a shared sample once, with every control that uses it), in the order
    the samples first appear."""
    by_sample: dict[str, list[ControlTest]] = {}
    for test in tests:
        by_sample.setdefault(test.selection.sample_id, []).append(test)
    requests = []
    for number, (sample, group) in enumerate(by_sample.items(), start=1):
        first = group[0]
        request_id = f"REQ-{number:02d}"
        controls = tuple(dict.fromkeys([t.control.id for t in group] + list(first.sample_plan.shared_with)))
        evidence: dict[str, list[str]] = {}
        for test in group:
            for attribute in test.testing.attributes:
                if attribute.automated or attribute.relies_on:
                    continue
                evidence.setdefault(attribute.evidence_request, []).append(test.control.id)
        lines = tuple(f"{text[0].upper()}{text[1:]} ({', '.join(dict.fromkeys(ids))})"
                      for text, ids in evidence.items())
        frame = first.scope.frame
        key, date = first.scope.key, first.sample_plan.date_column
        shown = [c for c in dict.fromkeys(list(first.procedure.matrix_columns) + list(IDENTIFYING_COLUMNS))
                 if c in frame.columns and c not in (key, date, "source_row", "source", "control_id")]
        keys = frame[key].astype(str)
        chosen = keys.isin(set(first.selection.keys)).to_numpy()
        rows = frame.loc[chosen].set_index(keys[chosen])
        items = []
        for item_no, item in enumerate(first.selection.keys, start=1):
            record = rows.loc[item] if item in rows.index else None
            fields = "" if record is None else "; ".join(
                f"{c}: {_cell_text(record[c])}" for c in shown if _cell_text(record[c]))
            when = None if record is None or not date or date not in rows.columns else record[date]
            items.append(RequestItem(f"{request_id}-{item_no:03d}", item_no, item, when, fields))
        populations = "; ".join(dict.fromkeys(p.name for p in first.populations))
        requests.append(Request(request_id=request_id, sample_id=sample, population=populations,
                                description=population_description(first.procedure, first.control, first.engagement),
                                controls=controls, evidence=lines, items=tuple(items)))
    return tuple(requests)


def write_request_list(path: str | os.PathLike[str], tests: Sequence[ControlTest]) -> Path:
    """Write the request list of ``tests`` to ``path`` (.xlsx), atomically; returns the path.

    Raises
    ------
    ParameterError
        No tested control, a path that is not an .xlsx file name, or a folder.
    """
    if not tests:
        raise ParameterError("no tested control: there is no sample to request evidence for.")
    return write_requests(path, tests[0].engagement, build_requests(tests))


def write_requests(path: str | os.PathLike[str], engagement: Engagement, requests: Sequence[Request]) -> Path:
    """Write ``requests`` to ``path`` (.xlsx), atomically: sheets ``Requests`` and ``Items``; client text as text.

    Raises
    ------
    ParameterError
        A path that is not an .xlsx file name, or a folder.
    """
    target = Path(path)
    if target.suffix.lower() != ".xlsx":
        raise ParameterError(f"--out {target}: give an .xlsx file name, e.g. --out requests.xlsx.")
    if target.is_dir():
        raise ParameterError(f"--out {target} is a folder; give the file to write, e.g. {target / 'requests.xlsx'}.")
    target.parent.mkdir(parents=True, exist_ok=True)
    book = Workbook()
    book.remove(book.worksheets[0])
    header = header_from_engagement(engagement, f"{engagement.engagement_id}/requests")
    prepared = _dt.date.today().isoformat()

    s = SheetWriter(book.create_sheet("Requests"), header, "Request list: evidence for the sampled items", 1)
    s.pairs([("Prepared on", prepared),
             ("How to answer", "For each request, provide the evidence listed for every item on the Items sheet; "
                               "name each file with the item's request id. Due dates are agreed with the client.")])
    s.row += 1
    s.table(["Request ID", "Sample", "Population", "Records", "Controls", "Items", "Evidence needed for each item",
             "Due date", "Status"],
            [(r.request_id, r.sample_id, r.population, r.description, ", ".join(r.controls), len(r.items),
              r.evidence_text, None, REQUEST_STATUS) for r in requests],
            freeze=True, wrap_columns=(3, 6), empty="No sample.")
    s.finish(fixed={7: 70, 4: 40})

    s = SheetWriter(book.create_sheet("Items"), header, "Request list: sampled items", 2)
    rows: list[tuple[Any, ...]] = []
    for request in requests:
        if not request.items:
            rows.append((request.request_id, None, None, None, "No item in scope: nothing to provide.", None,
                         None, "Closed", None))
        for item in request.items:
            rows.append((item.request_id, item.item_no, item.key, _cell_text(item.date), item.fields,
                         request.evidence_text, None, REQUEST_STATUS, None))
    s.table(["Request ID", "Item #", "Item", "Date", "Identifying fields", "Evidence needed", "Due date", "Status",
             "Client response"], rows, freeze=True, wrap_columns=(4, 5, 8), empty="No item.")
    s.finish(fixed={5: 50, 6: 70, 9: 40})
    return save_atomically(book, target)


# ``tests_for_requests`` is not a pytest test; keep pytest from collecting it where it is imported.
tests_for_requests.__test__ = False  # type: ignore[attr-defined]
