"""The testing form: record a control's manual results in JupyterLab, one sampled item at a time.

::

    form = testing_form(test, tester="DR")      an ipywidgets VBox (:class:`TestingForm`)
    show_testing_form(test)                     the form in JupyterLab; one line of text in a batch run

The form shows the item's key fields (and what the automated attributes found for it), a link to its evidence
folder, and per manual attribute (:func:`workbench.recording.manual_attributes`) its wording, Pass / Fail / N/A,
the evidence reference, the evidence date and a comment; who tested (the engagement's preparers); Save, Next and
Previous; and the progress ("12 of 25 tested"). Save goes through the one validated recording function
(:func:`workbench.recording.record_results`: every result of the item in one transaction, written at once); a
refused result shows each problem beside its field, never a traceback. A Fail opens the exception evaluation
fields (:func:`workbench.recording.record_evaluation`, the parameters of
:func:`workbench.judgements.evaluate_exception`) in the same form. After a save the testing and
evaluation displays of the notebook (shown with :func:`workbench.display.show`) are computed again and
redrawn in place.

**Batch runs.** The form only makes sense with a person at a browser. :func:`show_testing_form` shows it when the
kernel belongs to a Jupyter server's notebook session (the server sets ``JPY_SESSION_NAME`` for its kernels;
papermill, and so ``workbench run``, does not); otherwise it prints one line and returns at once, and the notebook
goes on with what the store holds. ``WORKBENCH_INTERACTIVE=1`` (or ``0``) overrides the detection, e.g. for
another front end.

Public API::

    testing_form(test, *, tester=None) -> TestingForm
    show_testing_form(test, *, tester=None) -> TestingForm | None
    interactive_session() -> bool
    OUTCOME_LABELS
"""

from __future__ import annotations

import datetime as _dt
import html
import os
from pathlib import Path
from typing import Any, Callable

import ipywidgets as widgets
import pandas as pd

from workbench.control_test import ControlTest
from workbench.display import refresh_displays
from workbench.errors import WorkbenchError
from workbench.evidence import item_folder
from workbench.judgements import EXCEPTION_EXTENTS, EXCEPTION_TYPES, exception_evaluations
from workbench.pipeline import retest
from workbench.procedures import Attribute
from workbench.recording import (
    ProposedResult,
    RecordRefused,
    ResultProblem,
    check_result,
    items_to_test,
    manual_attributes,
    record_evaluation,
    record_results,
)
from workbench.results import TESTER_ROLES, read_results

__all__ = ["OUTCOME_LABELS", "TestingForm", "testing_form", "show_testing_form", "interactive_session"]

#: The toggle's labels and the outcome each records.
OUTCOME_LABELS: dict[str, str] = {"Pass": "pass", "Fail": "fail", "N/A": "n/a"}
_LABEL_OF = {outcome: label for label, outcome in OUTCOME_LABELS.items()}

#: The exception evaluation's text fields (evaluate_exception's parameters), with their labels; required first.
_EVALUATION_TEXTS: tuple[tuple[str, str, bool], ...] = (
    ("why", "Why isolated or systematic", True),
    ("root_cause", "Root cause", True),
    ("effect_on_criteria", "Effect on the criteria", True),
    ("compensating_control", "Compensating control", False),
    ("management_response", "Management's response", False),
)

_WIDE = widgets.Layout(width="100%")
_MESSAGE_STYLE = "color:#b00020;font-size:0.9em;margin:0 0 4px 0"


def interactive_session() -> bool:
    """Whether a person is at the notebook: its kernel was started by a Jupyter server for a notebook session.

    ``WORKBENCH_INTERACTIVE`` set to ``1``/``0`` decides instead (another front end, or a test).
    """
    forced = os.environ.get("WORKBENCH_INTERACTIVE", "").strip()
    if forced:
        return forced not in ("0", "false", "no")
    return bool(os.environ.get("JPY_SESSION_NAME"))


def _message(text: str = "") -> str:
    return f'<div style="{_MESSAGE_STYLE}">{html.escape(text)}</div>' if text else ""


class _AttributeRow:
    """The widgets of one manual attribute: outcome, evidence reference and date, comment, and their messages."""

    def __init__(self, attribute: Attribute) -> None:
        self.attribute = attribute
        self.outcome = widgets.ToggleButtons(options=list(OUTCOME_LABELS), value=None, description="",
                                             style={"button_width": "5.5em"})
        self.evidence_ref = widgets.Text(placeholder="evidence reference (document, screenshot, link)",
                                         layout=widgets.Layout(width="24em"))
        self.evidence_date = widgets.DatePicker(description="", layout=widgets.Layout(width="11em"))
        self.comment = widgets.Textarea(placeholder="comment (what you saw; why a fail or N/A)",
                                        layout=widgets.Layout(width="100%", height="3.2em"))
        self.messages: dict[str, widgets.HTML] = {name: widgets.HTML() for name in
                                                  ("outcome", "evidence_ref", "evidence_date", "comment")}
        wording = (f"<b>{html.escape(attribute.label)}</b> <code>{html.escape(attribute.id)}</code><br>"
                   f"<span style='font-size:0.9em'>{html.escape(attribute.description)}</span>")
        self.box = widgets.VBox([
            widgets.HTML(wording),
            widgets.HBox([self.outcome, self.messages["outcome"]]),
            widgets.HBox([widgets.Label("Evidence", layout=widgets.Layout(width="5em")), self.evidence_ref,
                          widgets.Label("dated"), self.evidence_date]),
            widgets.HBox([self.messages["evidence_ref"], self.messages["evidence_date"]]),
            self.comment, self.messages["comment"],
        ], layout=widgets.Layout(border="1px solid #ddd", padding="4px 8px", margin="4px 0"))

    def clear_messages(self) -> None:
        for message in self.messages.values():
            message.value = ""

    def load(self, stored: dict[str, Any] | None) -> None:
        """Show the stored result (or empty fields)."""
        self.clear_messages()
        stored = stored or {}
        self.outcome.value = _LABEL_OF.get(str(stored.get("outcome") or ""))
        self.evidence_ref.value = str(stored.get("evidence_ref") or "")
        day = stored.get("evidence_date")
        self.evidence_date.value = _dt.date.fromisoformat(str(day)) if day else None
        self.comment.value = str(stored.get("comment") or "")

    def touched(self) -> bool:
        """Something typed beside the outcome."""
        return bool(self.evidence_ref.value.strip() or self.comment.value.strip() or self.evidence_date.value)

    def proposed(self, item_key: str) -> ProposedResult | None:
        if self.outcome.value is None:
            return None
        return ProposedResult(item_key=item_key, attribute_id=self.attribute.id,
                              outcome=OUTCOME_LABELS[self.outcome.value],
                              evidence_ref=self.evidence_ref.value.strip() or None,
                              evidence_date=self.evidence_date.value,
                              comment=self.comment.value.strip() or None)


class TestingForm(widgets.VBox):  # type: ignore[misc]  # ipywidgets has no type information
    """The testing form of one control (an ipywidgets ``VBox``): see the module docstring.

    Attributes
    ----------
    test : ControlTest
        The test as of the last save (its testing and evaluation read again after each save).
    items : tuple of str
        The sampled items to test, in sample order.
    index : int
        The item shown (0-based).
    rows : dict
        Attribute id -> its widgets (``outcome``, ``evidence_ref``, ``evidence_date``, ``comment``, ``messages``).
    tester, save_button, next_button, previous_button, progress, status, item_message, tester_message
        The other widgets (tests drive them).
    evaluation_box, evaluation_fields, evaluation_message
        The exception evaluation: shown when an attribute of the item is a Fail.
    """

    def __init__(self, test: ControlTest, *, tester: str | None = None) -> None:
        self.test = test
        self.items: tuple[str, ...] = items_to_test(test)
        self.attributes: tuple[Attribute, ...] = manual_attributes(test)
        self.index = 0
        self.on_save: list[Callable[[ControlTest], None]] = [_redraw]
        engagement = test.engagement
        preparers = [m for m in engagement.staff if m.role in TESTER_ROLES]
        self.tester = widgets.Dropdown(
            options=[("(choose who tested)", None)] + [(f"{m.name} ({m.initials})", m.initials) for m in preparers],
            value=_initials_of(tester, preparers), description="Tester",
            layout=widgets.Layout(width="24em"))
        self.tester_message = widgets.HTML()
        self.header = widgets.HTML()
        self.item_message = widgets.HTML()
        self.progress = widgets.HTML()
        self.status = widgets.HTML()
        self.rows = {a.id: _AttributeRow(a) for a in self.attributes}
        for row in self.rows.values():
            row.outcome.observe(self._outcome_changed, names="value")
        self.evaluation_fields: dict[str, Any] = {
            "type": widgets.Dropdown(options=[("(choose)", None)] + [(t.replace("_", " "), t) for t in EXCEPTION_TYPES],
                                     value=None, description="Type"),
            "extent": widgets.Dropdown(options=[("(choose)", None)] + [(e, e) for e in EXCEPTION_EXTENTS], value=None,
                                       description="Extent"),
        }
        for name, label, _required in _EVALUATION_TEXTS:
            self.evaluation_fields[name] = widgets.Textarea(placeholder=label, layout=widgets.Layout(
                width="100%", height="3.2em"))
        self.evaluation_message = widgets.HTML()
        self.evaluation_box = widgets.VBox(
            [widgets.HTML("<b>Exception evaluation</b> (a Fail is an exception: evaluate it; saved with the results "
                          "when its required fields are filled)"),
             widgets.HBox([self.evaluation_fields["type"], self.evaluation_fields["extent"]])]
            + [widgets.VBox([widgets.Label(label + ("" if required else " (optional)")), self.evaluation_fields[name]])
               for name, label, required in _EVALUATION_TEXTS]
            + [self.evaluation_message],
            layout=widgets.Layout(display="none", border="1px solid #e0b4b4", padding="4px 8px", margin="4px 0"))
        self.save_button = widgets.Button(description="Save", button_style="primary", icon="check",
                                          tooltip="Record this item's results (written at once)")
        self.previous_button = widgets.Button(description="Previous", icon="arrow-left")
        self.next_button = widgets.Button(description="Next", icon="arrow-right")
        self.save_button.on_click(self._save)
        self.previous_button.on_click(lambda _button: self.go(self.index - 1))
        self.next_button.on_click(lambda _button: self.go(self.index + 1))
        no_attribute = [] if self.attributes else [widgets.HTML(
            f"<p>{html.escape(test.control.id)} has no manual attribute: nothing to record here.</p>")]
        super().__init__([
            self.header, self.item_message,
            widgets.HBox([self.tester, self.tester_message]),
            *no_attribute, *(row.box for row in self.rows.values()),
            self.evaluation_box,
            widgets.HBox([self.previous_button, self.save_button, self.next_button, self.progress]),
            self.status,
        ], layout=widgets.Layout(max_width="60em"))
        self.add_class("workbench-testing-form")
        self._stored = self._read_stored()
        self.go(0)

    # -- what the store holds ------------------------------------------------------------------
    def _read_stored(self) -> pd.DataFrame:
        return read_results(self.test.engagement, self.test.control.id)

    def _stored_of(self, item: str) -> dict[str, dict[str, Any]]:
        rows = self._stored.loc[self._stored["item_key"].astype(str) == item] if len(self._stored) else self._stored
        return {str(r["attribute_id"]): {str(k): v for k, v in r.items()} for r in rows.to_dict("records")}

    def tested_items(self) -> int:
        """Items with a recorded result for every manual attribute."""
        wanted = {a.id for a in self.attributes}
        return sum(1 for item in self.items if wanted and wanted <= set(self._stored_of(item)))

    @property
    def item(self) -> str | None:
        """The item shown (None when the sample is empty)."""
        return self.items[self.index] if self.items else None

    # -- navigation -----------------------------------------------------------------------------
    def go(self, index: int) -> None:
        """Show item ``index`` (kept within the sample) with what the store holds for it."""
        self.index = max(0, min(index, len(self.items) - 1)) if self.items else 0
        self.item_message.value = self.tester_message.value = self.evaluation_message.value = ""
        self.status.value = ""
        self.previous_button.disabled = self.index == 0
        self.next_button.disabled = not self.items or self.index >= len(self.items) - 1
        self.save_button.disabled = not self.items or not self.attributes
        item = self.item
        stored = self._stored_of(item) if item is not None else {}
        for row in self.rows.values():
            row.load(stored.get(row.attribute.id))
        self._load_evaluation(item)
        self._show_header()
        self._show_progress()
        self._outcome_changed()

    def _load_evaluation(self, item: str | None) -> None:
        found = exception_evaluations(self.test.engagement, self.test.control.id).get(item or "")
        for name, field in self.evaluation_fields.items():
            value = getattr(found, name, None) if found is not None else None
            field.value = value if name in ("type", "extent") else (value or "")

    def _show_header(self) -> None:
        test, item = self.test, self.item
        title = f"{html.escape(test.control.id)}: testing form"
        if item is None:
            self.header.value = f"<h4>{title}</h4><p>No item is selected for this control: nothing to test.</p>"
            return
        items = test.testing.items
        key_column = test.testing.key_column
        row = items.loc[items[key_column].astype(str) == item]
        fields = [] if not len(row) else [
            (column, _short(row.iloc[0][column])) for column in items.columns if column != "sample_no"]
        automated = test.testing.item_results
        automated = automated.loc[(automated["item_key"].astype(str) == item) & (automated["kind"] == "automated")]
        found = [(str(r["label"]), str(r["outcome"]) + (f": {r['reason']}" if r["reason"] else ""))
                 for r in automated.to_dict("records")]
        cells = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(name)}</th>"
                        f"<td>{html.escape(value)}</td></tr>" for name, value in fields + found)
        folders = [item_folder(test.engagement.folder, test.control.id, item)]
        shared = item_folder(test.engagement.folder, test.selection.sample_id, item)
        if shared.exists() and shared != folders[0]:   # a shared sample's evidence folder is read too
            folders.append(shared)
        link = " or ".join(_link(folder) for folder in folders)
        self.header.value = (
            f"<h4 style='margin:4px 0'>{title} — item {self.index + 1} of {len(self.items)}: "
            f"<code>{html.escape(item)}</code></h4>"
            f"<table style='font-size:0.9em'>{cells}</table>"
            f"<div style='font-size:0.9em'>Evidence folder: {link}</div>")

    def _show_progress(self) -> None:
        tested = self.tested_items()
        untested = [item for item in self.items if not self._complete(item)]
        rest = ""
        if untested:
            shown = ", ".join(untested[:5]) + (f" and {len(untested) - 5} more" if len(untested) > 5 else "")
            rest = f" <span style='color:#666'>(still untested: {html.escape(shown)})</span>"
        self.progress.value = (f"<span class='workbench-progress' style='margin-left:1em'><b>{tested} of "
                               f"{len(self.items)} tested</b></span>{rest}")

    def _complete(self, item: str) -> bool:
        return {a.id for a in self.attributes} <= set(self._stored_of(item))

    def _outcome_changed(self, _change: object = None) -> None:
        failing = any(row.outcome.value == "Fail" for row in self.rows.values())
        self.evaluation_box.layout.display = "flex" if failing else "none"

    # -- saving ---------------------------------------------------------------------------------
    def _clear_messages(self) -> None:
        for row in self.rows.values():
            row.clear_messages()
        self.item_message.value = self.tester_message.value = self.evaluation_message.value = ""
        self.status.value = ""

    def _show_problem(self, attribute_id: str | None, problem: ResultProblem) -> None:
        if problem.field == "tester":
            self.tester_message.value = _message(problem.message)
        elif problem.field == "item_key" or attribute_id not in self.rows:
            self.item_message.value += _message(problem.message)
        else:
            row = self.rows[attribute_id]
            name = problem.field if problem.field in row.messages else "outcome"
            row.messages[name].value += _message(problem.message)

    def save(self) -> bool:
        """Record the item's results (and its exception evaluation); True when everything was written."""
        self._clear_messages()
        item = self.item
        if item is None:
            return False
        proposed: list[tuple[str, ProposedResult]] = []
        for attribute_id, row in self.rows.items():
            result = row.proposed(item)
            if result is not None:
                proposed.append((attribute_id, result))
            elif row.touched():
                row.messages["outcome"].value = _message(
                    f"{item} / {attribute_id}: choose Pass, Fail or N/A, or clear the evidence and comment.")
        tester = self.tester.value
        if tester is None:
            self.tester_message.value = _message("Choose who tested this item (a preparer on the engagement's staff).")
        if not proposed and not any(r.messages["outcome"].value for r in self.rows.values()):
            self.status.value = _message("Nothing to save: choose Pass, Fail or N/A for an attribute.")
            return False
        if tester is None or any(r.messages["outcome"].value for r in self.rows.values()):
            self.status.value = _message("Not saved: see the messages beside the fields.")
            return False
        refused = False
        for attribute_id, result in proposed:
            for problem in check_result(self.test, result, tester=tester):
                self._show_problem(attribute_id, problem)
                refused = True
        if refused:
            self.status.value = _message("Not saved: see the messages beside the fields.")
            return False
        try:
            record_results(self.test, [result for _, result in proposed], tester=tester)
        except RecordRefused as error:   # changed since the check (another writer): show every problem
            for problem in error.problems:
                self._show_problem(None, problem)
            self.status.value = _message("Not saved: see the messages above.")
            return False
        except WorkbenchError as error:
            self.status.value = _message(f"Not saved: {error}")
            return False
        saved = f"Saved {len(proposed)} result(s) for {item}."
        evaluated = self._save_evaluation(item, tester, any(r.outcome == "fail" for _, r in proposed))
        self._after_save()
        self.status.value = (f"<span class='workbench-saved' style='color:#1b5e20'>{html.escape(saved)}"
                             f"{html.escape(evaluated)}</span>")
        return True

    def _save_evaluation(self, item: str, tester: str, failing: bool) -> str:
        """Record the exception evaluation when a fail was saved and its fields are filled; the outcome in words."""
        values = {name: field.value for name, field in self.evaluation_fields.items()}
        given = {name: (value.strip() if isinstance(value, str) else value) for name, value in values.items()}
        if not failing or not any(given.values()):
            return " The exception evaluation is still to be recorded." if failing else ""
        try:
            record_evaluation(self.test, item, by=tester,
                              type=given["type"] or "", extent=given["extent"] or "", why=given["why"] or "",
                              root_cause=given["root_cause"] or "",
                              effect_on_criteria=given["effect_on_criteria"] or "",
                              compensating_control=given["compensating_control"] or None,
                              management_response=given["management_response"] or None)
        except RecordRefused as refused:
            self.evaluation_message.value = "".join(_message(f"Exception evaluation not saved: {problem.message}")
                                                    for problem in refused.problems)
            return " The exception evaluation was not saved (see its message)."
        except WorkbenchError as error:
            self.evaluation_message.value = _message(f"Exception evaluation not saved: {error}")
            return " The exception evaluation was not saved (see its message)."
        return " Exception evaluation saved."

    def _after_save(self) -> None:
        self._stored = self._read_stored()
        self.test = retest(self.test)
        self._show_header()
        self._show_progress()
        for callback in self.on_save:
            callback(self.test)

    def _save(self, _button: object) -> None:
        try:
            self.save()
        except WorkbenchError as error:   # a store that refuses to report, a changed population: one message
            self.status.value = _message(str(error))


def _redraw(test: ControlTest) -> None:
    refresh_displays(test.testing, test.evaluation)


def _initials_of(tester: str | None, preparers: list[Any]) -> str | None:
    if not tester:
        return None
    folded = tester.strip().casefold()
    found = next((m for m in preparers if folded in (m.initials.casefold(), m.name.casefold())), None)
    return None if found is None else str(found.initials)


def _short(value: object) -> str:
    """A key field as text: timestamps to the minute, missing values empty."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return ""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _link(folder: Path) -> str:
    """An HTML link to the evidence folder, relative to the kernel's folder (the notebook's, in JupyterLab)."""
    try:
        href = os.path.relpath(folder, Path.cwd())
    except ValueError:
        href = str(folder)
    note = "" if folder.exists() else " <span style='color:#666'>(no files yet: put the evidence there)</span>"
    return (f"<a href='{html.escape(Path(href).as_posix())}' target='_blank'>"
            f"<code>{html.escape(str(folder))}</code></a>{note}")


def testing_form(test: ControlTest, *, tester: str | None = None) -> TestingForm:
    """The testing form of a control (an ipywidgets object), on its first sampled item.

    Parameters
    ----------
    test : ControlTest
        The tested control (the notebook's ``test``).
    tester : str, optional
        Who tests: initials or name of a preparer on the engagement's staff (chosen in the form otherwise).

    Returns
    -------
    TestingForm
    """
    return TestingForm(test, tester=tester)


def show_testing_form(test: ControlTest, *, tester: str | None = None) -> TestingForm | None:
    """Display the testing form in JupyterLab; in a batch run print one line instead, and return at once.

    Returns
    -------
    TestingForm or None
        The form shown, or None when no person is at the notebook (:func:`interactive_session`).
    """
    from IPython.display import display

    if not interactive_session():
        print(f"Testing form: not shown in a batch run; the results are those the store holds "
              f"({test.testing.items_tested} of {test.testing.sample_size} items tested).")
        return None
    form = testing_form(test, tester=tester)
    display(form)  # type: ignore[no-untyped-call]
    return form
