"""Recording the tester's results: the one validated way a result reaches the results store.

Every way of recording (the ipywidgets form, the Excel template import, ``workbench record``, a script)
goes through :func:`record_result` or :func:`record_results`. They check a proposed result against the
control's test as it stands (its :class:`~workbench.control_test.ControlTest`) and the engagement's staff
list, report *every* problem at once (:class:`ResultProblem`, one per field), and write nothing unless all is
valid; then they record in one committed transaction of the hash-chained store (:mod:`workbench.results`).

Rules (docs/recording.md):

* the tester is on the engagement's staff in a role that tests (a preparer); the engagement's reviewer, who
  signs off the control's workpaper, may not be its tester;
* the outcome is ``pass``, ``fail`` or ``n/a`` (any case; nothing else, not "passed");
* a pass or a fail names its evidence (``evidence_ref``);
* an evidence date, when given, is a calendar date (YYYY-MM-DD) and not in the future; an attribute that
  compares its evidence with a date of the item (:attr:`~workbench.procedures.base.Attribute.compared_date_column`:
  "tested before deployment") needs one for a pass or a fail, and a pass whose evidence is dated on the wrong
  side of the item's date is refused, with the reason: the tester records a fail instead;
* the item is in the control's current selection (its rounds, seeds and population SHA-256s); otherwise the
  message says which selection it belongs to (a superseded seed), or that it was not selected;
* automated attributes are computed, not recorded; a tester may override one item's computed outcome only
  with an ``override_reason``, which is stored and shown on the workpaper with its own tickmark;
* an attribute decided by the recorded conclusions of other controls (``relies_on``) is not recorded.

Public API::

    check_result(test, proposed, *, tester) -> tuple[ResultProblem, ...]
    record_result(test, proposed, *, tester) -> Result
    record_results(test, proposed, *, tester) -> tuple[Result, ...]
    manual_attributes(test) -> tuple[Attribute, ...]
    items_to_test(test) -> tuple[str, ...]
    record_evaluation(test, item_key, *, by, type, extent, why, root_cause, effect_on_criteria,
                      compensating_control=None, management_response=None) -> ExceptionEvaluation
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from workbench.control_test import ControlTest
from workbench.errors import ResultsError, StoreIntegrityError
from workbench.evidence import item_folder, pin_evidence, scan_evidence
from workbench.procedures.base import ON_OR_AFTER, Attribute
from workbench.engagement import RESULTS_FILE
from workbench.judgements import ExceptionEvaluation, SampleDecisions, SeedChoice, evaluate_exception
from workbench.results import OUTCOMES, TESTER_ROLES, Result, ResultsStore
from workbench.sample import derive_seed, select_sample

__all__ = [
    "FIELDS",
    "ResultProblem",
    "RecordRefused",
    "ProposedResult",
    "check_result",
    "record_result",
    "record_results",
    "manual_attributes",
    "items_to_test",
    "record_evaluation",
]

#: The fields of a proposed result a problem can concern (and ``tester``), in the order they are checked.
FIELDS: tuple[str, ...] = ("item_key", "attribute_id", "outcome", "evidence_ref", "evidence_date", "comment",
                           "tester", "override_reason")

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class ResultProblem:
    """One reason a proposed result cannot be recorded.

    Attributes
    ----------
    field : str
        One of :data:`FIELDS`: the field to correct (a form shows the message beside it).
    message : str
        What is wrong and what to do, naming the control, the item and the attribute.
    """

    field: str
    message: str


class RecordRefused(ResultsError):
    """Proposed result(s) not recorded: ``problems`` lists every problem; ``str(error)`` joins their messages."""

    def __init__(self, problems: Sequence[ResultProblem]) -> None:
        self.problems: tuple[ResultProblem, ...] = tuple(problems)
        super().__init__("\n".join(problem.message for problem in self.problems))


@dataclass(frozen=True)
class ProposedResult:
    """A result as the tester proposes it (not yet validated).

    Attributes
    ----------
    item_key : str
        The sampled item's key, e.g. ``"CHG-1042"``.
    attribute_id : str
        The attribute's id, e.g. ``"testing_evidenced"``.
    outcome : str
        ``pass``, ``fail`` or ``n/a`` (any case).
    evidence_ref : str, optional
        Where the evidence is (ticket, document, screenshot, link, or a file under the item's evidence folder);
        required for a pass or a fail.
    evidence_date : str (YYYY-MM-DD) or datetime.date, optional
        The date the evidence shows.
    comment : str, optional
    override_reason : str, optional
        Required for, and only allowed for, an automated attribute: why the computed outcome is replaced.
    """

    item_key: str
    attribute_id: str
    outcome: str
    evidence_ref: str | None = None
    evidence_date: str | _dt.date | None = None
    comment: str | None = None
    override_reason: str | None = None


# ------------------------------------------------------------------------------------------------
# What the tester records
# ------------------------------------------------------------------------------------------------

def manual_attributes(test: ControlTest) -> tuple[Attribute, ...]:
    """The attributes a tester records for this control (manual ones), in workpaper order.

    Manual attributes decided by the recorded conclusions of other controls (``relies_on``) are left out:
    nobody records them.
    """
    return tuple(a for a in test.testing.attributes if not a.automated and not a.relies_on)


def items_to_test(test: ControlTest) -> tuple[str, ...]:
    """The item keys of the control's current selection (round, seed, population SHA-256), in sample order."""
    return tuple(str(key) for key in test.selection.keys)


def _evidence_owners(test: ControlTest) -> tuple[str, ...]:
    """The evidence folders of the control's items: ``evidence/<control id>/`` and its shared sample's."""
    return tuple(dict.fromkeys((test.control.id, test.selection.sample_id)))


def _selection_words(test: ControlTest) -> str:
    """``sample CM-02 (round period: seed 1234, population changes SHA-256 1a2b3c4d5e6f...)``."""
    selection, parts = test.selection, []
    for part, round_, scoped in zip(selection.parts, selection.rounds, test.scope.parts):
        parts.append(f"round {round_}: seed {part.seed}, population {scoped.population.name} SHA-256 "
                     f"{scoped.population.sha256[:12]}...")
    return f"sample {selection.sample_id} ({'; '.join(parts)})"


def _belongs_to(test: ControlTest, key: str) -> str:
    """Where an item that is not in the current selection comes from, in words."""
    # drawn with a seed that a later seed replaced: draw again with each earlier seed of the trail
    selection = test.selection
    for round_, current in zip(selection.rounds, selection.seeds):
        for earlier in _earlier_seeds(test, round_, current.seed):
            decisions = SampleDecisions(seeds={round_: earlier}, extension=None)
            try:
                again = select_sample(test.engagement, test.control, test.scope, test.sample_plan, decisions)
            except Exception:   # a draw that cannot be repeated only loses the hint, never the refusal
                continue
            if key in again.keys:
                return (f"it belongs to the selection drawn with seed {earlier.seed} ({earlier.describe()}) in round "
                        f"{round_}, which seed {current.seed} ({current.describe()}) superseded")
    key_column = test.testing.key_column
    for scoped, round_ in zip(test.scope.parts, selection.rounds):
        if key_column in scoped.frame.columns and (scoped.frame[key_column].astype(str) == key).any():
            return f"it is in the population in scope in round {round_} but was not selected"
    for population in test.populations:
        if key_column in population.frame.columns and (population.frame[key_column].astype(str) == key).any():
            return (f"it is in population {population.name} but outside the records tested (the period or the "
                    f"record filter), so it was not selected")
    superseded = [r for r in test.receipts if r.version > 1]
    if superseded:
        return (f"it is not in the population tested; population {superseded[0].population_id} was replaced "
                f"(version {superseded[0].version}), so it may belong to a selection drawn from an earlier version")
    return f"no item with this key is in the population tested ({test.population.name})"


def _earlier_seeds(test: ControlTest, round_: str, current: int) -> list[SeedChoice]:
    """The seeds a round's selection was drawn with before the current one: the derived seed, then chosen ones."""
    seeds: list[SeedChoice] = []
    index = list(test.selection.rounds).index(round_)
    derived = derive_seed(test.engagement, test.selection.sample_id, test.scope.parts[index].population.sha256,
                          round_)
    if derived != current:
        seeds.append(SeedChoice(derived))
    if (test.engagement.folder / RESULTS_FILE).is_file():
        with ResultsStore.open(test.engagement.folder, engagement_id=test.engagement.engagement_id) as store:
            for entry in store.history("seed", sample_id=test.selection.sample_id, round=round_):
                seed = entry.value.get("seed")
                if isinstance(seed, int) and seed != current and all(s.seed != seed for s in seeds):
                    seeds.append(SeedChoice(seed, entry.who, entry.at, entry.reason))
    return seeds


# ------------------------------------------------------------------------------------------------
# Checks
# ------------------------------------------------------------------------------------------------

def _text(value: object) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value.strip() if isinstance(value, str) else None


def _day(value: object) -> _dt.date | str:
    """The evidence date as a date, or the reason it is not one."""
    if isinstance(value, _dt.datetime):
        return f"{value!r} is a date and time; give the date only (YYYY-MM-DD)"
    if isinstance(value, _dt.date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value.strip()):
        return f"{value!r} is not a date written YYYY-MM-DD (e.g. 2026-03-14)"
    try:
        return _dt.date.fromisoformat(value.strip())
    except ValueError:
        return f"{value.strip()!r} is not a calendar date; write the date the evidence shows as YYYY-MM-DD"


def _compared_day(test: ControlTest, key: str, column: str) -> _dt.date | None:
    """The item's date in ``column`` as a calendar date in the engagement's zone (None when it has none)."""
    key_column = test.testing.key_column
    frame = test.testing.items     # the selected items (small), else every record in scope
    if column not in frame.columns or key_column not in frame.columns:
        frame = test.scope.frame
    if column not in frame.columns or key_column not in frame.columns:
        return None
    found = frame.loc[frame[key_column].astype(str) == key, column]
    if not len(found):
        return None
    value = found.iloc[0]
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert(test.engagement.timezone)
    day: _dt.date = stamp.date()
    return day


def _check_tester(test: ControlTest, tester: object, described: str) -> list[ResultProblem]:
    name = _text(tester)
    if name is None:
        return [ResultProblem("tester", f"{described}: the tester is required; give the initials (or name) of the "
                                        f"preparer who performed the test.")]
    staff = test.engagement.staff
    preparers = ", ".join(f"{m.initials} {m.name}" for m in staff if m.role in TESTER_ROLES) or "none"
    folded = name.casefold()
    member = next((m for m in staff if folded in (m.initials.casefold(), m.name.casefold())), None)
    if member is None:
        return [ResultProblem("tester", f"{described}: {name!r} is not on the staff list of engagement "
                                        f"{test.engagement.engagement_id}; a result is recorded by a preparer "
                                        f"({preparers}). Give their initials or name, or add the person to [[staff]] "
                                        f"in engagement.toml.")]
    if member.role == "reviewer":
        return [ResultProblem("tester", f"{described}: {member.name} ({member.initials}) is the engagement's "
                                        f"reviewer, who signs off the workpaper of {test.control.id}, and may not be "
                                        f"its tester. Record the result as the preparer who did the work "
                                        f"({preparers}).")]
    if member.role not in TESTER_ROLES:
        return [ResultProblem("tester", f"{described}: {member.name} ({member.initials}) is on the staff as "
                                        f"{member.role}; a result is recorded by a preparer ({preparers}). Record it "
                                        f"as the preparer who did the work.")]
    return []


def check_result(test: ControlTest, proposed: ProposedResult, *, tester: str) -> tuple[ResultProblem, ...]:
    """Every problem with a proposed result, without writing anything (empty: it would be recorded).

    Parameters
    ----------
    test : ControlTest
        The control's test as it stands (``workbench.pipeline.run_control_test``, or the notebook's).
    proposed : ProposedResult
    tester : str
        Initials or name of the staff member recording it.

    Returns
    -------
    tuple of ResultProblem
        In the order of :data:`FIELDS`; each message names the control, the item and the attribute.
    """
    control_id = test.control.id
    key = _text(proposed.item_key) or ""
    attribute_id = _text(proposed.attribute_id) or ""
    described = f"{control_id} / {key or '(no item)'} / {attribute_id or '(no attribute)'}"
    problems: list[ResultProblem] = []

    # the item: in the control's current selection
    if not key:
        problems.append(ResultProblem("item_key", f"{described}: the item key is empty; give the key of a sampled "
                                                  f"item, as the testing matrix shows it."))
    elif key not in set(items_to_test(test)):
        problems.append(ResultProblem(
            "item_key", f"{described}: item {key!r} is not in the current selection of {control_id}, "
                        f"{_selection_words(test)}: {_belongs_to(test, key)}. Record results only for the items of "
                        f"the current selection."))

    # the attribute: tested by the control; recorded when manual, overridden (with a reason) when automated
    attributes = {a.id: a for a in test.testing.attributes}
    attribute = attributes.get(attribute_id)
    override = _text(proposed.override_reason)
    if attribute is None:
        recordable = ", ".join(a.id for a in manual_attributes(test)) or "none"
        problems.append(ResultProblem(
            "attribute_id", f"{described}: control {control_id} does not test an attribute {attribute_id!r}; the "
                            f"attributes a tester records for it are: {recordable}."))
    elif attribute.relies_on:
        problems.append(ResultProblem(
            "attribute_id", f"{described}: {attribute.label} ({attribute.id}) is decided by the recorded "
                            f"conclusions of the controls it relies on (policy {attribute.relies_on}), not by a "
                            f"tester's result; record those controls' conclusions instead."))
    elif attribute.automated and override is None:
        problems.append(ResultProblem(
            "override_reason", f"{described}: {attribute.label} ({attribute.id}) is an automated attribute, computed "
                               f"from the population for every record; it is not recorded by a tester. To override "
                               f"the computed outcome for this item, give an override reason (why the computed "
                               f"outcome is wrong for it); it is shown on the workpaper with its own tickmark."))
    elif not attribute.automated and override is not None:
        problems.append(ResultProblem(
            "override_reason", f"{described}: an override reason is only for an automated attribute; "
                               f"{attribute.label} ({attribute.id}) is manual: record its result without one and "
                               f"put any remark in the comment."))

    # the outcome
    outcome = proposed.outcome.strip().lower() if isinstance(proposed.outcome, str) else ""
    if outcome not in OUTCOMES:
        problems.append(ResultProblem(
            "outcome", f"{described}: outcome {proposed.outcome!r} is not allowed; write pass, fail or n/a (any "
                       f"case)."))

    # the evidence
    evidence_ref = _text(proposed.evidence_ref)
    if proposed.evidence_ref is not None and not isinstance(proposed.evidence_ref, str):
        problems.append(ResultProblem("evidence_ref", f"{described}: the evidence reference must be text, got "
                                                      f"{proposed.evidence_ref!r}."))
    elif outcome in ("pass", "fail") and evidence_ref is None:
        problems.append(ResultProblem(
            "evidence_ref", f"{described}: a {outcome} needs an evidence reference: where the evidence of this item "
                            f"is (the ticket, document, screenshot or link the workpaper cites, e.g. "
                            f"'{key or 'CHG-1042'} approval screenshot'). An attribute that does not apply to the "
                            f"item is recorded as n/a with a comment."))
    day: _dt.date | None = None
    if not (proposed.evidence_date is None or (isinstance(proposed.evidence_date, str)
                                               and not proposed.evidence_date.strip())):
        parsed = _day(proposed.evidence_date)
        if isinstance(parsed, str):
            problems.append(ResultProblem("evidence_date", f"{described}: evidence date {parsed}."))
        elif parsed > _dt.date.today():
            problems.append(ResultProblem(
                "evidence_date", f"{described}: evidence date {parsed.isoformat()} is in the future (today is "
                                 f"{_dt.date.today().isoformat()}); give the date the evidence shows."))
        else:
            day = parsed
    compared_column = attribute.compared_date_column if attribute is not None else ""
    no_date = proposed.evidence_date is None or (isinstance(proposed.evidence_date, str)
                                                 and not proposed.evidence_date.strip())
    if attribute is not None and compared_column and outcome in ("pass", "fail") and no_date:
        problems.append(ResultProblem(
            "evidence_date", f"{described}: {attribute.label} compares the evidence with the item's "
                             f"{compared_column}, so a {outcome} needs the evidence date (YYYY-MM-DD: the date the "
                             f"evidence shows)."))
    if attribute is not None and compared_column and outcome == "pass" and day is not None and key:
        compared = _compared_day(test, key, compared_column)
        after = attribute.compared_date_relation == ON_OR_AFTER
        if compared is not None and (day < compared if after else day > compared):
            side = "before" if after else "after"
            problems.append(ResultProblem(
                "evidence_date", f"{described}: a pass is refused: the evidence is dated {day.isoformat()}, {side} "
                                 f"the item's {compared_column} {compared.isoformat()}, so it does not show that "
                                 f"{attribute.objective}. Record a fail instead (with this evidence reference and "
                                 f"date), or cite evidence dated {'on or after' if after else 'on or before'} "
                                 f"{compared.isoformat()}."))

    if proposed.comment is not None and not isinstance(proposed.comment, str):
        problems.append(ResultProblem("comment", f"{described}: the comment must be text, got {proposed.comment!r}."))
    problems += _check_tester(test, tester, described)
    order = {name: i for i, name in enumerate(FIELDS)}
    return tuple(sorted(problems, key=lambda p: order.get(p.field, len(order))))


# ------------------------------------------------------------------------------------------------
# Recording
# ------------------------------------------------------------------------------------------------

def record_result(test: ControlTest, proposed: ProposedResult, *, tester: str) -> Result:
    """Validate (:func:`check_result`) and record one result in one committed transaction.

    Recording the current value again writes nothing (idempotent) and returns the result as first recorded.

    Raises
    ------
    RecordRefused
        With every problem; nothing is written.
    StoreIntegrityError
        The results store's chain is broken: it refuses to record.
    """
    return record_results(test, [proposed], tester=tester)[0]


def record_results(test: ControlTest, proposed: Sequence[ProposedResult], *, tester: str) -> tuple[Result, ...]:
    """All or nothing: check every proposed result, then record them all in ONE transaction.

    Parameters
    ----------
    test : ControlTest
    proposed : sequence of ProposedResult
    tester : str
        Initials or name of the preparer who performed the tests.

    Returns
    -------
    tuple of Result
        The current result of each proposed one, in order.

    Raises
    ------
    RecordRefused
        Every problem of every proposed result (each message names its item and attribute); nothing is written.
    StoreIntegrityError
        The results store's chain is broken: it refuses to record.
    """
    problems: list[ResultProblem] = []
    seen: dict[tuple[str, str], ProposedResult] = {}
    for one in proposed:
        problems += check_result(test, one, tester=tester)
        name = (_text(one.item_key) or "", _text(one.attribute_id) or "")
        if name in seen and seen[name] != one:   # which one holds? the tester says, not the order of rows
            problems.append(ResultProblem("item_key", f"{test.control.id} / {name[0]} / {name[1]}: proposed twice with "
                                                      f"different values; keep one."))
        seen.setdefault(name, one)
    folder = test.engagement.folder
    owners = _evidence_owners(test)
    items = list(dict.fromkeys(_text(one.item_key) or "" for one in proposed))
    populations = [p.name for p in test.populations]
    for key in [k for k in items if k]:   # evidence a result would cite must stay inside the engagement folder
        for owner in owners:
            for file in scan_evidence(folder, item_folder(folder, owner, key)):
                if file.refused:
                    problems.append(ResultProblem("evidence_ref", f"{test.control.id} / {key}: evidence file "
                                                                  f"{file.path}: {file.refused}"))
    if problems:
        raise RecordRefused(problems)
    if not proposed:
        return ()
    written: list[Result] = []
    try:
        with ResultsStore.open(test.engagement) as store, store.transaction():
            for one in proposed:
                day = one.evidence_date
                written.append(store.record(
                    test.control.id, one.item_key.strip(), one.attribute_id.strip(), one.outcome.strip().lower(),
                    tested_by=tester, evidence_ref=_text(one.evidence_ref),
                    evidence_date=day if isinstance(day, _dt.date) else _text(day), comment=_text(one.comment),
                    override_reason=_text(one.override_reason)))
            # the files the results cite, as they are now: a later change is flagged (workpaper, verify)
            pin_evidence(store, folder, owners=owners, item_keys=items, population_ids=populations, who=tester)
    except StoreIntegrityError:
        raise
    except RecordRefused:
        raise
    except ResultsError as error:   # what only the store can know (e.g. a control the store was not opened for)
        raise RecordRefused([ResultProblem("item_key", str(error))]) from None
    return tuple(written)


# ------------------------------------------------------------------------------------------------
# Exception evaluations
# ------------------------------------------------------------------------------------------------

def record_evaluation(test: ControlTest, item_key: str, *, by: str, type: str, extent: str, why: str,
                      root_cause: str, effect_on_criteria: str, compensating_control: str | None = None,
                      management_response: str | None = None) -> ExceptionEvaluation:
    """Record the evaluation of one exception of the control, checked against its test first.

    An evaluation may concern any item of the population in scope (a census exception as well as a sampled
    one), not only the selection; the fields are checked by :func:`workbench.judgements.evaluate_exception`.

    Raises
    ------
    RecordRefused
        The item is not in the population in scope (``item_key``), or a field is missing or not allowed (its
        message names the field); nothing is written.
    """
    key = _text(item_key) or ""
    described = f"{test.control.id} / {key or '(no item)'} / exception evaluation"
    key_column = test.testing.key_column
    in_scope = any(key_column in part.frame.columns and (part.frame[key_column].astype(str) == key).any()
                   for part in test.scope.parts)
    exceptions = set(test.evaluation.exceptions["item"].astype(str)) if len(test.evaluation.exceptions) else set()
    if not key or not (in_scope or key in exceptions):
        raise RecordRefused([ResultProblem("item_key", f"{described}: item {key!r} is not in the population in scope "
                                                       f"of {test.control.id}; an evaluation concerns one of its "
                                                       f"exceptions (the Exceptions sheet lists them).")])
    try:
        return evaluate_exception(test.engagement, test.control.id, key, by=by, type=type, extent=extent, why=why,
                                  root_cause=root_cause, effect_on_criteria=effect_on_criteria,
                                  compensating_control=compensating_control, management_response=management_response)
    except StoreIntegrityError:
        raise
    except ResultsError as error:
        text = str(error)
        detail = f" {text.split(':', 1)[-1]} "
        named = [f for f in ("type", "extent", "why", "root_cause", "effect_on_criteria") if f" {f} " in detail]
        field = "tester" if "staff" in detail else (named[0] if named else "item_key")
        raise RecordRefused([ResultProblem(field, f"{described}: {text}")]) from None
