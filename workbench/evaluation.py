"""Control evaluation: deviations, the statistical evaluation, and the Section 4 result text.

``evaluate_control(engagement, control, sample_plan, selection, testing) -> ControlEvaluation``

* An item is a deviation when any of its attributes failed (workflow.md §1.7); an item counts once however
  many attributes failed.
* Statistical plans are evaluated with :func:`sampling.evaluate` (upper deviation limit against the
  tolerable rate, with the engagement's model). Frequency-table plans are non-statistical: the
  confidence their size achieves is shown instead of a statistical conclusion. When every item was
  tested there is no sampling risk; Type 1 walkthroughs have no statistical evaluation at all.
* Status: ``not_occurring`` (no item in scope), ``in_progress`` (a sampled item still lacks a manual
  result), ``exceptions`` (a sampled item deviated, or the full-population analysis found exceptions
  outside the sample), ``no_exceptions``. The result text never says "No exceptions noted." while anything
  is untested or any exception is known.
* Result text in the style of SOC 2 Section 4 (AICPA illustrative report; workflow.md §1.14): "No exceptions
  noted." or one sentence per failing attribute, "For 2 of 25 sampled changes, approval was not documented
  before deployment.", then, when automated attributes found exceptions outside the sample,
  "Full-population analysis of 1,512 changes: 5 deployed without approval documented before deployment
  (CHG-1, ...)."
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

import sampling
from sampling import Evaluation, Selection, format_percent
from workbench.engagement import Control, Engagement
from workbench.files import JsonRecord, JsonValue
from workbench.sample import TRANSACTION_FREQUENCIES, SamplePlan
from workbench.testing import AttributeTesting

__all__ = [
    "STATUSES",
    "NO_EXCEPTIONS_TEXT",
    "NOT_OCCURRING_TEXT",
    "ControlEvaluation",
    "evaluate_control",
]

#: Statuses a control evaluation can have.
STATUSES: tuple[str, ...] = ("no_exceptions", "exceptions", "in_progress", "not_occurring")
NO_EXCEPTIONS_TEXT = "No exceptions noted."
#: Section 4 wording for a control whose circumstances did not occur in the period.
NOT_OCCURRING_TEXT = ("The circumstances that warrant the operation of the control did not occur during the "
                      "period; therefore, no testing of operating effectiveness was performed.")
#: How many ids the full-population sentence names per attribute before "and N more".
IDS_IN_SENTENCE = 10

EXCEPTION_COLUMNS: tuple[str, ...] = ("item", "sample_no", "item_date", "attribute_id", "attribute", "description",
                                      "reason", "evidence_ref", "found_by")


@dataclass(frozen=True, eq=False)
class ControlEvaluation:
    """The evaluated result of one control's test: what the workpaper's conclusion and the summary show.

    Attributes
    ----------
    control_id : str
    criteria : tuple of str
    description : str
        The control activity as the control matrix states it.
    procedure : str
    test_performed : str
        Section 4 wording of the test (method and extent).
    status : str
        One of :data:`STATUSES`.
    result_text : str
        Section 4 result ("No exceptions noted.", "For 2 of 25 sampled changes, ...",
        "Testing in progress (3 of 25 items tested).").
    sample_size : int
        Items selected.
    items_tested : int
        Selected items concluded on every attribute.
    deviations : int
        Selected items with at least one failed attribute.
    deviations_by_attribute : tuple of (str, str, int)
        (attribute id, label, failed sampled items), every tested attribute.
    population_count : int
        Items in scope.
    population_exceptions : int
        Distinct records failing an automated attribute in the full population.
    population_exceptions_outside_sample : int
        Of those, records not in the sample.
    plan_kind : str
        ``statistical`` | ``frequency`` | ``two_stage`` | ``type1`` | ``not_occurring``.
    statistical, test_all : bool
    model : str or None
    confidence, tolerable_rate : float or None
        The engagement's policy values used for the evaluation.
    evaluation : sampling.Evaluation or None
        The statistical evaluation (statistical plans that are complete and not test-all).
    upper_limit : float or None
        The upper deviation limit (from ``evaluation``), or the exact rate when every item was tested.
    supports_reliance : bool or None
    conclusion : str
        The evaluation in words (statistical conclusion, achieved-confidence note, census, walkthrough...).
    exceptions : pandas.DataFrame
        One row per exception for the workpaper: ``item, sample_no, item_date, attribute_id, attribute,
        description, reason, evidence_ref, found_by`` (``sample`` or ``full-population analysis``).
    notes : tuple of str
    """

    control_id: str
    criteria: tuple[str, ...]
    description: str
    procedure: str
    test_performed: str
    status: str
    result_text: str
    sample_size: int
    items_tested: int
    deviations: int
    deviations_by_attribute: tuple[tuple[str, str, int], ...]
    population_count: int
    population_exceptions: int
    population_exceptions_outside_sample: int
    plan_kind: str
    statistical: bool
    test_all: bool
    model: str | None
    confidence: float | None
    tolerable_rate: float | None
    evaluation: Evaluation | None
    upper_limit: float | None
    supports_reliance: bool | None
    conclusion: str
    exceptions: pd.DataFrame = field(repr=False)
    notes: tuple[str, ...] = ()

    def to_record(self) -> JsonRecord:
        """A JSON-safe dict for the batch summary and the outcome record (no pandas, no numpy, no NaN)."""
        return {
            "control_id": self.control_id,
            "criteria": list(self.criteria),
            "description": self.description,
            "procedure": self.procedure,
            "test_performed": self.test_performed,
            "status": self.status,
            "result_text": self.result_text,
            "sample_size": self.sample_size,
            "items_tested": self.items_tested,
            "deviations": self.deviations,
            "deviations_by_attribute": {a: n for a, _, n in self.deviations_by_attribute},
            "population_count": self.population_count,
            "population_exceptions": self.population_exceptions,
            "population_exceptions_outside_sample": self.population_exceptions_outside_sample,
            "plan_kind": self.plan_kind,
            "statistical": self.statistical,
            "test_all": self.test_all,
            "model": self.model,
            "confidence": self.confidence,
            "tolerable_rate": self.tolerable_rate,
            "upper_limit": _finite(self.upper_limit),
            "supports_reliance": self.supports_reliance,
            "conclusion": self.conclusion,
            "exceptions": [
                {str(k): _json_value(v) for k, v in row.items()} for row in self.exceptions.to_dict("records")
            ],
            "notes": list(self.notes),
        }

    def to_table(self) -> list[tuple[str, str]]:
        """Label/value rows for the workpaper's conclusion block."""
        rows = [("Control", self.control_id), ("Criteria", ", ".join(self.criteria)),
                ("Test performed", self.test_performed), ("Population in scope", f"{self.population_count:,}"),
                ("Sample size", f"{self.sample_size:,}"), ("Items tested", f"{self.items_tested:,}"),
                ("Deviations in the sample", str(self.deviations))]
        for _, label, count in self.deviations_by_attribute:
            rows.append((f"  {label}", str(count)))
        rows.append(("Full-population exceptions", f"{self.population_exceptions} "
                     f"({self.population_exceptions_outside_sample} outside the sample)"))
        if self.upper_limit is not None:
            rows.append(("Upper deviation limit", f"{self.upper_limit:.2%}"))
        rows += [("Status", self.status), ("Result", self.result_text), ("Conclusion", self.conclusion)]
        rows += [(f"Note {i}", note) for i, note in enumerate(self.notes, start=1)]
        return rows

    def summary(self) -> str:
        """The result in a few lines."""
        lines = [f"{self.control_id} ({', '.join(self.criteria)}) [{self.status}]: {self.result_text}",
                 f"  {self.deviations} deviation(s) in {self.items_tested} of {self.sample_size} sampled items "
                 f"tested; population {self.population_count:,}.",
                 f"  {self.conclusion}"]
        lines += [f"  - {note}" for note in self.notes]
        return "\n".join(lines)


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value)


def _json_value(value: object) -> JsonValue:
    """A cell of a pandas frame as JSON: missing values None, timestamps ISO text, numpy scalars plain."""
    if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):  # numpy scalar
        return _json_value(value.item())
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _extent(testing: AttributeTesting, sample_plan: SamplePlan, engagement: Engagement) -> str:
    procedure = testing.procedure
    n = sample_plan.sample_size
    if engagement.report_type == "type1":
        return f"one {procedure.item_description} {procedure.occurred} on or before {engagement.as_of} (walkthrough)"
    during = f"{procedure.occurred} during the period"
    if sample_plan.test_all:
        noun = procedure.item_description if n == 1 else procedure.item_description_plural
        return f"all {n:,} {noun} {during}"
    return f"a sample of {n:,} {procedure.item_description_plural} {during}"


def _test_performed(testing: AttributeTesting, sample_plan: SamplePlan, engagement: Engagement) -> str:
    procedure = testing.procedure
    if sample_plan.not_occurring:
        return (f"Inspected the population of {procedure.item_description_plural} {procedure.occurred} during "
                f"the period to determine whether the control operated; no {procedure.item_noun_plural} "
                f"occurred.")
    return procedure.test_performed(extent=_extent(testing, sample_plan, engagement), attributes=testing.attributes,
                                    population_count=testing.population_count)


def _ids_text(ids: list[str]) -> str:
    shown = ", ".join(ids[:IDS_IN_SENTENCE])
    if len(ids) > IDS_IN_SENTENCE:
        shown += f" and {len(ids) - IDS_IN_SENTENCE} more"
    return shown


def _sample_sentences(testing: AttributeTesting, sample_plan: SamplePlan, report_type: str) -> list[str]:
    procedure = testing.procedure
    n = testing.sample_size
    counts = testing.deviations_by_attribute()
    sentences = []
    for attribute in testing.attributes:
        k = counts[attribute.id]
        if not k:
            continue
        if report_type == "type1" and n == 1:
            lead = f"For the {procedure.item_noun} inspected"
        elif sample_plan.test_all:
            lead = f"For {k} of {n:,} {procedure.item_noun_plural} tested"
        else:
            lead = f"For {k} of {n:,} sampled {procedure.item_noun_plural}"
        sentences.append(f"{lead}, {attribute.deviation_wording}.")
    return sentences


def _population_sentence(testing: AttributeTesting) -> str | None:
    exceptions = testing.full_population_exceptions
    if not len(exceptions) or not (~exceptions["in_sample"].astype(bool)).any():
        return None
    procedure = testing.procedure
    parts = []
    for attribute in testing.attributes:
        ids = exceptions.loc[exceptions["attribute_id"] == attribute.id, "item_key"].astype(str).tolist()
        if ids:
            parts.append(f"{len(ids):,} {attribute.population_wording} ({_ids_text(ids)})")
    noun = procedure.item_noun if testing.population_count == 1 else procedure.item_noun_plural
    return f"Full-population analysis of {testing.population_count:,} {noun}: {'; '.join(parts)}."


def _exceptions_table(testing: AttributeTesting) -> pd.DataFrame:
    rows = []
    for row in testing.sample_exceptions().to_dict("records"):
        rows.append({"item": row["item_key"], "sample_no": row["sample_no"], "item_date": row["item_date"],
                     "attribute_id": row["attribute_id"], "attribute": row["label"],
                     "description": row["deviation"], "reason": row["reason"],
                     "evidence_ref": row["evidence_ref"], "found_by": "sample"})
    population = testing.full_population_exceptions
    outside = population.loc[~population["in_sample"].astype(bool)]
    for row in outside.to_dict("records"):
        rows.append({"item": row["item_key"], "sample_no": None, "item_date": row["item_date"],
                     "attribute_id": row["attribute_id"], "attribute": row["label"],
                     "description": row["deviation"], "reason": row["reason"], "evidence_ref": None,
                     "found_by": "full-population analysis"})
    table = pd.DataFrame(rows, columns=list(EXCEPTION_COLUMNS))
    table["sample_no"] = table["sample_no"].astype("Int64")
    return table


def evaluate_control(engagement: Engagement, control: Control, sample_plan: SamplePlan, selection: Selection,
                     testing: AttributeTesting) -> ControlEvaluation:
    """Evaluate one control's test: deviations, statistics, status and the Section 4 result text.

    Parameters
    ----------
    engagement : Engagement
        Its sampling policy (model, confidence, tolerable rate) and report type.
    control : Control
        Id, criteria, description.
    sample_plan : SamplePlan
    selection : sampling.Selection
        The selection tested (its size must match ``testing``).
    testing : AttributeTesting

    Returns
    -------
    ControlEvaluation
    """
    if tuple(str(k) for k in selection.keys) != testing.sample_keys:
        raise ValueError(f"control {control.id}: the selection and the testing results hold different items; "
                         f"test the attributes of this selection before evaluating it.")
    report_type = engagement.report_type
    procedure = testing.procedure
    attributes = testing.attributes
    n = testing.sample_size
    tested = testing.items_tested
    k = testing.deviations
    by_attribute = testing.deviations_by_attribute()
    population = testing.full_population_exceptions
    population_ids = set(population["item_key"].astype(str)) if len(population) else set()
    outside_ids = (set(population.loc[~population["in_sample"].astype(bool), "item_key"].astype(str))
                   if len(population) else set())
    confidence = engagement.sampling.confidence
    tolerable_rate = engagement.sampling.tolerable_rate
    # the model the plan actually used (a frequency plan computes its achieved confidence hypergeometrically)
    model = sample_plan.plan.model if sample_plan.plan is not None else engagement.sampling.model
    notes: list[str] = list(testing.notes)

    test_performed = _test_performed(testing, sample_plan, engagement)
    sample_sentences = _sample_sentences(testing, sample_plan, report_type)
    population_sentence = _population_sentence(testing)
    evaluation = None
    upper_limit = None
    supports = None

    if sample_plan.not_occurring:
        frequency = control.frequency
        if frequency in TRANSACTION_FREQUENCIES:
            status, result_text = "not_occurring", NOT_OCCURRING_TEXT
            conclusion = (f"Not occurring: no {procedure.item_noun_plural} in scope, so the operating "
                          f"effectiveness of the control could not be tested; this is neither effective nor failed.")
        else:  # a periodic control must leave an instance every period (workflow.md 1.9: a missing one fails)
            status = "exceptions"
            result_text = (f"No {procedure.item_noun_plural} were found for the period, although the control is "
                           f"performed {frequency.replace('_', ' ')}: the control did not operate as described.")
            conclusion = (f"A {frequency.replace('_', ' ')} control with no instance in the period did not operate; "
                          f"this is a deviation unless other evidence shows it operated (record it on the "
                          f"Exceptions sheet).")
            supports = False
    elif tested < n:
        status = "in_progress"
        result_text = f"Testing in progress ({tested} of {n} {'item' if n == 1 else 'items'} tested)."
        if sample_sentences or population_sentence:
            so_far = " ".join(sample_sentences + ([population_sentence] if population_sentence else []))
            result_text += f" Exceptions noted so far: {so_far}"
        untested = {a: c for a, c in testing.untested_by_attribute().items() if c}
        conclusion = ("Testing in progress: no conclusion until every sampled item is tested "
                      f"(not tested yet: {', '.join(f'{a} {c}' for a, c in untested.items())}).")
    else:
        if sample_sentences or population_sentence:
            status = "exceptions"
            texts = list(sample_sentences)
            if not sample_sentences:
                if n == 1 and report_type == "type1":
                    texts.append(f"No exceptions noted for the {procedure.item_noun} inspected.")
                else:
                    noun = procedure.item_noun if n == 1 else procedure.item_noun_plural
                    texts.append(f"No exceptions noted for the {n:,} sampled {noun}.")
            if population_sentence:
                texts.append(population_sentence)
            result_text = " ".join(texts)
        else:
            status, result_text = "no_exceptions", NO_EXCEPTIONS_TEXT
        conclusion, evaluation, upper_limit, supports = _statistics(
            sample_plan, n, k, confidence, tolerable_rate, model, report_type, procedure.item_noun_plural)
        if outside_ids and report_type == "type1":  # a clean walkthrough cannot confirm what the data contradicts
            conclusion = (f"Type 1 walkthrough: the instance inspected operated as designed, but the "
                          f"full-population analysis of the {testing.population_count:,} "
                          f"{procedure.item_noun_plural} in the window found {len(outside_ids):,} that did not. "
                          f"Design and implementation are not confirmed until the preparer has evaluated them "
                          f"(Exceptions sheet).")
            supports = False
        elif outside_ids:  # the sample alone does not see these
            conclusion, supports = _with_population_analysis(
                conclusion, supports, len(population_ids), testing.population_count, tolerable_rate,
                procedure.item_noun_plural)
    if population_ids:
        notes.append(f"The full-population analysis found {len(population_ids):,} record(s) failing an automated "
                     f"attribute, {len(outside_ids):,} of them outside the sample; each is listed in the "
                     f"exceptions table.")
    return ControlEvaluation(
        control_id=str(control.id),
        criteria=control.criteria,
        description=control.description,
        procedure=procedure.name,
        test_performed=test_performed,
        status=status,
        result_text=result_text,
        sample_size=n,
        items_tested=tested,
        deviations=k,
        deviations_by_attribute=tuple((a.id, a.label, by_attribute[a.id]) for a in attributes),
        population_count=testing.population_count,
        population_exceptions=len(population_ids),
        population_exceptions_outside_sample=len(outside_ids),
        plan_kind=sample_plan.kind,
        statistical=sample_plan.statistical,
        test_all=sample_plan.test_all,
        model=None if model is None else str(model),
        confidence=None if confidence is None else float(confidence),
        tolerable_rate=None if tolerable_rate is None else float(tolerable_rate),
        evaluation=evaluation,
        upper_limit=upper_limit,
        supports_reliance=supports,
        conclusion=conclusion,
        exceptions=_exceptions_table(testing),
        notes=tuple(notes),
    )


def _with_population_analysis(conclusion: str, supports: bool | None, deviating: int, population_count: int,
                              tolerable_rate: Decimal | None, plural: str) -> tuple[str, bool | None]:
    """Add what the full-population analysis proves to the sample's conclusion.

    The automated attributes were computed for every item in scope, so their deviation rate is
    known without sampling risk; a conclusion drawn from the sample alone must not ignore it.
    """
    rate = deviating / population_count
    text = (f" The full-population analysis found {deviating:,} of {population_count:,} {plural} deviating "
            f"({rate:.2%}), known without sampling risk")
    if tolerable_rate is None:
        return conclusion + text + ".", supports
    within = rate <= float(tolerable_rate)
    text += (f"; this {'does not exceed' if within else 'exceeds'} the tolerable rate of "
             f"{format_percent(tolerable_rate)}. Whether the deviations are isolated or systematic is the preparer's "
             f"judgement, recorded on the Exceptions sheet.")
    return conclusion + text, (within if supports is None else supports and within)


def _statistics(sample_plan: SamplePlan, n: int, k: int, confidence: Decimal, tolerable_rate: Decimal,
                model: str, report_type: str, plural: str) -> tuple[str, Evaluation | None, float | None, bool | None]:
    """(conclusion, evaluation, upper limit, supports reliance) for a completed test (a plan exists)."""
    plan = sample_plan.plan
    if plan is None:
        raise AssertionError("a completed test has a sample plan")
    if report_type == "type1" or sample_plan.kind == "type1":
        if k:
            return ("Type 1 walkthrough: the instance inspected did not operate as designed; the design and "
                    "implementation of the control are not confirmed.", None, None, False)
        return ("Type 1 walkthrough: the instance inspected operated as designed; design and implementation "
                "are confirmed. Operating effectiveness is not tested in a Type 1 report.", None, None, None)
    if sample_plan.test_all:
        rate = k / n
        supports = None if tolerable_rate is None else rate <= float(tolerable_rate)
        text = (f"Every item in scope was tested ({n:,} {plural}), so there is no sampling risk: {k} "
                f"deviation(s), a rate of {rate:.2%}.")
        return text, None, rate, supports
    if sample_plan.statistical:
        evaluation = sampling.evaluate(n, k, confidence, population_size=sample_plan.population_count,
                                       model=str(plan.model), tolerable_rate=tolerable_rate)
        return str(evaluation.conclusion), evaluation, float(evaluation.upper_limit), evaluation.supports_reliance
    # frequency-table plan: non-statistical; state what the size achieves instead of a statistical conclusion
    achieved = plan.confidence
    text = (f"Non-statistical sample from the firm's frequency table: {k} deviation(s) in {n} items. "
            "The size is judgemental, so no statistical upper limit is concluded")
    if achieved is not None and plan.tolerable_rate is not None:
        text += (f"; with no deviation it gives {achieved:.1%} confidence that the deviation rate is below "
                 f"{format_percent(plan.tolerable_rate)}")
    return text + ".", None, None, None
