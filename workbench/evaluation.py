"""Control evaluation: the exceptions, the Section 4 test and result text, and the conclusion the tool proposes.

``evaluate_control(engagement, control, sample_plan, selection, testing) -> ControlEvaluation``

Rules (workflow.md §1.7-1.14; review-checklist.md "Results and conclusion"):

* **What was tested, census first.** An attribute computed for every record in scope is a full-population
  test and is described first ("Compared the approval time of each change with its deployment time ... for
  all 1,467 standard and normal changes deployed during the period"); its result is what the census found.
  The sample's upper deviation limit is reported only for what only the sample tested (manual attributes).
* **Every deviation in the result.** The result states the distinct number of items with a deviation out of
  what was tested ("For 11 of 1,467 standard and normal changes deployed during the period, ..."), then each
  nature of deviation with its count and how many items had more than one. "No exceptions noted." only when
  nothing was found anywhere and every item was tested. Ids are listed in full on the Exceptions sheet.
* **Known deviations are not compared with the tolerable rate.** The tolerable rate plans a sample; a
  census exception is a fact to evaluate, not a rate to pass.
* **The conclusion is a judgement.** The tool proposes; the tester records (:mod:`workbench.conclusion`).
  Type 2: no exceptions noted / exceptions noted (every exception evaluated, the control still meets its
  objective) / not operating effectively. Type 1: suitably designed and implemented / not suitably designed /
  not implemented. Besides: not occurring, testing in progress, exceptions noted with evaluation pending.
  Until every exception carries its evaluation (:func:`workbench.judgements.evaluate_exception`) the control
  reads "exceptions noted, evaluation pending"; a control with no recorded walkthrough and design evaluation
  is still in progress.
* **The sample is evidence.** A sampled item whose data does not agree to the source (an accuracy check) is a
  finding on the population: the full-population results are then not relied on, and the control cannot be
  concluded on them until the export is corrected or the attributes are tested another way.
* **Type 1** gives no results of tests: the proposal reads "suitably designed and implemented as of <date>";
  a clean walkthrough never confirms what the population data contradicts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd

import sampling
from sampling import Evaluation, format_percent
from workbench.display import STATUS_COLOURS, SummaryText, escape, html_badge, html_card, html_details, stale_note
from workbench.engagement import Control, Engagement
from workbench.files import JsonRecord, JsonValue
from workbench.freshness import StoreMark, mark_store
from workbench.judgements import (
    ExceptionEvaluation,
    RecordedConclusion,
    Walkthrough,
    exception_evaluations,
    recorded_conclusion,
    walkthrough_of,
)
from workbench.procedures import Attribute, Procedure
from workbench.sample import TRANSACTION_FREQUENCIES, ControlSelection, SamplePlan
from workbench.testing import OVERRIDE_SOURCE, AttributeTesting

__all__ = [
    "STATUSES",
    "TYPE2_CONCLUSIONS",
    "TYPE1_CONCLUSIONS",
    "STATUS_TEXT",
    "NO_EXCEPTIONS_TEXT",
    "NOT_OCCURRING_TEXT",
    "NO_INSTANCE_KEY",
    "ControlEvaluation",
    "evaluate_control",
]

#: Conclusions a tester records for a Type 2 control, from the mildest.
TYPE2_CONCLUSIONS: tuple[str, ...] = ("no_exceptions_noted", "exceptions_noted", "not_operating_effectively")
#: Conclusions a tester records for a Type 1 control, from the mildest.
TYPE1_CONCLUSIONS: tuple[str, ...] = ("suitably_designed_and_implemented", "not_suitably_designed",
                                      "not_implemented")
#: Every state a control's evaluation can be in (the proposal): the conclusions, and the states before one.
STATUSES: tuple[str, ...] = ("not_yet_tested", "testing_in_progress", "not_occurring", "evaluation_pending",
                             "population_not_relied_on") + TYPE2_CONCLUSIONS + TYPE1_CONCLUSIONS
#: How each state reads in a workpaper and the summary.
STATUS_TEXT: dict[str, str] = {
    "not_yet_tested": "Not yet tested",
    "testing_in_progress": "Testing in progress",
    "not_occurring": "Not occurring",
    "evaluation_pending": "Exceptions noted, evaluation pending",
    "population_not_relied_on": "Population data not relied on",
    "no_exceptions_noted": "No exceptions noted",
    "exceptions_noted": "Exceptions noted",
    "not_operating_effectively": "Not operating effectively",
    "suitably_designed_and_implemented": "Suitably designed and implemented",
    "not_suitably_designed": "Not suitably designed",
    "not_implemented": "Not implemented",
}
NO_EXCEPTIONS_TEXT = "No exceptions noted."
#: Section 4 wording for a control whose circumstances did not occur in the period.
NOT_OCCURRING_TEXT = ("The circumstances that warrant the operation of the control did not occur during the "
                      "period; therefore, no testing of operating effectiveness was performed.")
#: The exception key of a periodic control with no instance in the period (evaluated like any exception).
NO_INSTANCE_KEY = "(no instance in the period)"
#: On a console the lists of ids are cut after this many; a workbook lists them all.
IDS_ON_CONSOLE = 10

EXCEPTION_COLUMNS: tuple[str, ...] = ("item", "sample_no", "item_date", "attribute_id", "attribute", "description",
                                      "reason", "evidence_ref", "found_by", "round")


@dataclass(frozen=True)
class Nature:
    """One nature of deviation: the attribute, its Section 4 wording, and the items that show it.

    ``over`` and ``records`` are set for an attribute computed over a related population (its kind, and how
    many of its records were examined); ``noun`` names those records in the result.
    """

    attribute_id: str
    label: str
    wording: str
    items: tuple[str, ...]
    over: str = ""
    records: int = 0
    noun: str = ""


@dataclass(frozen=True, eq=False)
class ControlEvaluation(SummaryText):
    """The evaluated result of one control's test: what the workpaper's conclusion and the summary show.

    Attributes
    ----------
    control_id, report_type : str
    criteria : tuple of str
    description : str
        The control activity as the control matrix states it.
    procedure : str
    population_description : str
        The records tested, in Section 4 words: ``standard and normal changes deployed during the period``.
    test_performed : str
        Section 4 wording of the tests (method and extent), full-population analysis first.
    status : str
        The proposal, one of :data:`STATUSES`.
    result_text : str
        Section 4 result ("" for a Type 1: it gives no results of tests).
    conclusion : str
        Why the tool proposes what it proposes, in words.
    pending : tuple of str
        What remains before a conclusion can be recorded (manual results, evaluations, the walkthrough).
    sample_size, items_tested, deviations : int
        Selected items; those concluded on every attribute; those with a failed control attribute.
    deviations_by_attribute : tuple of (str, str, int)
        (attribute id, label, failed sampled items) for the control attributes.
    population_count : int
        Items in scope.
    census_natures, sample_natures : tuple of Nature
        Deviations found by the full-population analysis and by the sample (manual attributes), by nature.
    exception_items : tuple of str
        Every distinct item with a deviation (census, sample, a missing periodic instance), in order.
    population_exceptions : int
        Distinct records failing an automated attribute in the full population.
    population_exceptions_outside_sample : int
    evaluations : Mapping[str, ExceptionEvaluation]
        The recorded evaluation of each exception item (an evaluation of an item that is no longer an
        exception is kept out and noted).
    unevaluated : tuple of str
        Exception items without a recorded evaluation.
    walkthrough : Walkthrough or None
    recorded : RecordedConclusion or None
        The conclusion the tester recorded (whether it still rests on the same inputs is the ControlTest's
        to say: :attr:`workbench.control_test.ControlTest.conclusion`).
    census_relied_on : bool
        False when a sampled item's data did not agree to the source.
    accuracy_mismatches : int
        Sampled items whose data did not agree to the source.
    extension_proposed : str or None
        The extension the plan allows and the sample calls for (e.g. one deviation in the first stage).
    plan_kind : str
    statistical, test_all : bool
    model : str or None
    confidence, tolerable_rate : float or None
    evaluation : sampling.Evaluation or None
        The statistical evaluation of what only the sample tested (statistical plans).
    upper_limit : float or None
    supports_reliance : bool or None
        What the sample-only statistics say (None when nothing was left to the sample, or not statistical).
    exceptions : pandas.DataFrame
        One row per (item, failed attribute): :data:`EXCEPTION_COLUMNS`.
    notes : tuple of str
    """

    control_id: str
    report_type: str
    criteria: tuple[str, ...]
    description: str
    procedure: str
    population_description: str
    test_performed: str
    status: str
    result_text: str
    conclusion: str
    pending: tuple[str, ...]
    sample_size: int
    items_tested: int
    deviations: int
    deviations_by_attribute: tuple[tuple[str, str, int], ...]
    population_count: int
    census_natures: tuple[Nature, ...]
    sample_natures: tuple[Nature, ...]
    exception_items: tuple[str, ...]
    population_exceptions: int
    population_exceptions_outside_sample: int
    evaluations: dict[str, ExceptionEvaluation]
    unevaluated: tuple[str, ...]
    walkthrough: Walkthrough | None
    census_relied_on: bool
    accuracy_mismatches: int
    extension_proposed: str | None
    plan_kind: str
    statistical: bool
    test_all: bool
    model: str | None
    confidence: float | None
    tolerable_rate: float | None
    evaluation: Evaluation | None
    upper_limit: float | None
    supports_reliance: bool | None
    exceptions: pd.DataFrame = field(repr=False)
    recorded: RecordedConclusion | None = None
    notes: tuple[str, ...] = ()
    #: the results store's last entry about the control when the evaluation read it (stale display)
    store_mark: StoreMark | None = field(default=None, repr=False)

    @property
    def status_text(self) -> str:
        """The proposal in words: ``Exceptions noted, evaluation pending``."""
        return STATUS_TEXT.get(self.status, self.status)

    @property
    def final(self) -> bool:
        """Whether the proposal is a conclusion the tester can record (nothing pending)."""
        return self.status in TYPE2_CONCLUSIONS + TYPE1_CONCLUSIONS + ("not_occurring",)

    @property
    def distinct_exceptions(self) -> int:
        """Distinct items with a deviation, every procedure together."""
        return len(self.exception_items)

    def exception_extent(self) -> str:
        """``5 of 60 users terminated during the period``; when some items come from a related population (an
        account on a user listing beside terminated users), each population's share: ``5: 4 of 60 users ...;
        1 of 525 accounts on the user listings``."""
        whole = f"{self.distinct_exceptions:,} of {self.population_count:,} {self.population_description}"
        related = [n for n in self.census_natures if n.over and n.records]
        if not related:
            return whole
        elsewhere: dict[tuple[int, str], set[str]] = {}
        for nature in related:
            elsewhere.setdefault((nature.records, nature.noun or nature.over), set()).update(nature.items)
        outside = set().union(*elsewhere.values())
        own = [item for item in self.exception_items if item not in outside]
        parts = [f"{len(own):,} of {self.population_count:,} {self.population_description}"]
        parts += [f"{len(items):,} of {records:,} {noun}" for (records, noun), items in elsewhere.items()]
        return f"{self.distinct_exceptions:,}: " + "; ".join(parts)

    def to_record(self) -> JsonRecord:
        """A JSON-safe dict for the batch summary and the outcome record (no pandas, no numpy, no NaN)."""
        return {
            "control_id": self.control_id,
            "report_type": self.report_type,
            "criteria": list(self.criteria),
            "description": self.description,
            "procedure": self.procedure,
            "test_performed": self.test_performed,
            "status": self.status,
            "status_text": self.status_text,
            "result_text": self.result_text,
            "conclusion": self.conclusion,
            "pending": list(self.pending),
            "sample_size": self.sample_size,
            "items_tested": self.items_tested,
            "deviations": self.deviations,
            "deviations_by_attribute": {a: n for a, _, n in self.deviations_by_attribute},
            "population_count": self.population_count,
            "exceptions_distinct": self.distinct_exceptions,
            "exception_items": list(self.exception_items),
            "population_exceptions": self.population_exceptions,
            "population_exceptions_outside_sample": self.population_exceptions_outside_sample,
            "unevaluated": list(self.unevaluated),
            "census_relied_on": self.census_relied_on,
            "plan_kind": self.plan_kind,
            "statistical": self.statistical,
            "test_all": self.test_all,
            "model": self.model,
            "confidence": self.confidence,
            "tolerable_rate": self.tolerable_rate,
            "upper_limit": _finite(self.upper_limit),
            "supports_reliance": self.supports_reliance,
            "exceptions": [{str(k): _json_value(v) for k, v in row.items()}
                           for row in self.exceptions.to_dict("records")],
            "notes": list(self.notes),
        }

    def to_table(self) -> list[tuple[str, str]]:
        """Label/value rows for the workpaper's conclusion block."""
        rows = [("Control", self.control_id), ("Criteria", ", ".join(self.criteria)),
                ("Test performed", self.test_performed),
                ("Population in scope", f"{self.population_count:,} {self.population_description}"),
                ("Sample size", f"{self.sample_size:,}"), ("Items tested", f"{self.items_tested:,}")]
        for nature in self.census_natures:
            rows.append((f"Full population: {nature.label}", f"{len(nature.items):,}"))
        rows.append(("Deviations in the sample", str(self.deviations)))
        for _, label, count in self.deviations_by_attribute:
            rows.append((f"  {label}", str(count)))
        rows.append(("Distinct items with a deviation", f"{self.distinct_exceptions:,}"))
        rows.append(("Exceptions evaluated", f"{self.distinct_exceptions - len(self.unevaluated):,} of "
                                             f"{self.distinct_exceptions:,}"))
        if not self.census_relied_on:
            mismatches = _counted(self.accuracy_mismatches, "sampled item")
            rows.append(("Population data relied on", f"no: {mismatches} did not agree to the source"))
        if self.upper_limit is not None:
            rows.append(("Upper deviation limit (sample-only attributes)", f"{self.upper_limit:.2%}"))
        rows += [("Proposed conclusion", self.status_text), ("Why", self.conclusion)]
        if self.result_text:
            rows.append(("Proposed Section 4 result", self.result_text))
        rows += [(f"Pending {i}", item) for i, item in enumerate(self.pending, start=1)]
        rows += [(f"Note {i}", note) for i, note in enumerate(self.notes, start=1)]
        return rows

    def summary(self) -> str:
        """The result in a few lines (lists of ids cut on a console; the workbook lists them all)."""
        lines = [f"{self.control_id} ({', '.join(self.criteria)}) [{self.status_text}]"]
        if self.result_text:
            lines.append(f"  {self.result_text}")
        if self.exception_items:
            shown = ", ".join(self.exception_items[:IDS_ON_CONSOLE])
            more = len(self.exception_items) - IDS_ON_CONSOLE
            lines.append(f"  items with a deviation: {shown}" + (f" and {more} more (Exceptions sheet)" if more > 0
                                                                  else ""))
        lines.append(f"  {_counted(self.deviations, 'deviation')} in {self.items_tested} of {self.sample_size} sampled "
                     f"items tested; items with a deviation: {self.exception_extent()}.")
        lines.append(f"  {self.conclusion}")
        lines += [f"  pending: {item}" for item in self.pending]
        lines += [f"  - {note}" for note in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The proposed conclusion and its status, the deviations, and what is still pending; stale when recorded
        work changed since it was computed."""
        badge = html_badge(self.status_text, STATUS_COLOURS.get(self.status, "#757575"))
        items = ", ".join(self.exception_items[:IDS_ON_CONSOLE]) + (
            f" and {len(self.exception_items) - IDS_ON_CONSOLE} more" if len(self.exception_items) > IDS_ON_CONSOLE
            else "")
        rows = [("Deviations", escape(f"{_counted(self.deviations, 'deviation')} in {self.items_tested} of "
                                      f"{self.sample_size} sampled items tested; items with a deviation: "
                                      f"{self.exception_extent()}")),
                ("Proposed", escape(self.conclusion))]
        if self.exception_items:
            rows.insert(1, ("Items with a deviation", f"<code>{escape(items)}</code>"))
        if self.result_text:
            rows.append(("Section 4 result", escape(self.result_text)))
        pending = "".join(f"<li>{escape(p)}</li>" for p in self.pending)
        rows.append(("Pending", f"<ul style='margin:0;padding-left:1.2em'>{pending}</ul>" if pending else "nothing"))
        notes = "".join(f"<div>{escape(note)}</div>" for note in self.notes)
        return html_card(f"{self.control_id} ({', '.join(self.criteria)}): evaluation", rows, badge=badge,
                         body=html_details("Notes", notes) if notes else "",
                         note=stale_note(self.store_mark, "evaluation"), css_class="wb-evaluation")


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


# ------------------------------------------------------------------------------------------------
# Wording
# ------------------------------------------------------------------------------------------------

def _counted(count: int, noun: str, plural: str | None = None) -> str:
    """``1 item``, ``2 items``, ``1,500 records``: the sentence reads as written, not "1 item(s)"."""
    return f"{count:,} {noun if count == 1 else (plural or noun + 's')}"


def _join(parts: list[str]) -> str:
    parts = [p for p in parts if p]
    if len(parts) <= 1:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} and {parts[-1]}"


def population_description(procedure: Procedure, control: Control, engagement: Engagement) -> str:
    """The records tested: ``standard and normal changes deployed during the period``."""
    noun = (control.record_filter.describe(procedure.item_noun_plural) if control.record_filter is not None
            else procedure.item_description_plural)
    when = "during the period" if engagement.report_type == "type2" else f"on or before {engagement.as_of}"
    return f"{noun} {procedure.occurred} {when}"


def _test_performed(testing: AttributeTesting, sample_plan: SamplePlan, engagement: Engagement,
                    described: str) -> str:
    procedure = testing.procedure
    n, count = sample_plan.sample_size, testing.population_count
    if sample_plan.not_occurring:
        return (f"Inspected the population of {described} to determine whether the control operated; no "
                f"{procedure.item_noun_plural} occurred.")
    census = [a for a in testing.attributes if a.automated and not a.over]
    related = [a for a in testing.attributes if a.automated and a.over]
    manual = [a for a in testing.attributes if not a.automated]
    sentences = []
    if census:
        extent = f"for all {count:,} {described}" if count != 1 else \
            f"for the one {described.replace(procedure.item_noun_plural, procedure.item_noun, 1)}"
        sentences.append(f"Compared {_join([a.census_test for a in census])} {extent} (full-population analysis).")
    examined = {str(r["attribute_id"]): int(r["population"]) for r in testing.population_results.to_dict("records")}
    for attribute in related:
        sentences.append(f"Compared {attribute.census_test} for all {examined.get(attribute.id, 0):,} "
                         f"{attribute.over_noun} (full-population analysis).")
    if manual:
        if engagement.report_type == "type1":
            extent = f"one {procedure.item_description} {procedure.occurred} on or before {engagement.as_of} " \
                     f"(walkthrough)"
        elif census:
            extent = f"a sample of {n:,} of them" if not sample_plan.test_all else f"each of them"
        elif sample_plan.test_all and n == 1:
            extent = f"the one {described.replace(procedure.item_description_plural, procedure.item_description, 1)}"
        elif sample_plan.test_all:
            extent = f"all {n:,} {described}"
        else:
            extent = f"a sample of {n:,} {described}"
        sentences.append(f"{procedure.inspection} {extent} to determine that "
                         f"{_join([a.objective for a in manual])}.")
    return " ".join(sentences)


def _natures(exceptions: pd.DataFrame, attributes: tuple[Attribute, ...], found_by: str,
             records: dict[str, int] | None = None) -> tuple[Nature, ...]:
    rows = exceptions.loc[exceptions["found_by"] == found_by] if len(exceptions) else exceptions
    out = []
    for attribute in attributes:
        items = tuple(dict.fromkeys(rows.loc[rows["attribute_id"] == attribute.id, "item"].astype(str)))
        if items:
            out.append(Nature(attribute.id, attribute.label, attribute.deviation_wording, items, attribute.over,
                              (records or {}).get(attribute.id, 0), attribute.over_noun))
    return tuple(out)


def _deviation_sentence(natures: tuple[Nature, ...], lead: str) -> str:
    """``For 11 of 1,467 ..., approval was not documented before deployment.``, or with several natures
    ``For 14 of ...: a (11), b (4) and c (2); 3 of them had more than one of these deviations.``"""
    distinct = list(dict.fromkeys(item for nature in natures for item in nature.items))
    if len(natures) == 1:
        return f"{lead.format(count=len(distinct))}, {natures[0].wording}."
    overlap = sum(1 for item in distinct if sum(item in nature.items for nature in natures) > 1)
    parts = _join([f"{nature.wording} ({len(nature.items):,})" for nature in natures])
    text = f"{lead.format(count=len(distinct))}, a deviation was noted: {parts}"
    if overlap:
        text += f"; {overlap:,} of them had more than one of these deviations"
    return text + "."


def _result_text(testing: AttributeTesting, sample_plan: SamplePlan, described: str,
                 census_natures: tuple[Nature, ...], sample_natures: tuple[Nature, ...], no_instance: bool) -> str:
    procedure = testing.procedure
    texts = []
    tested = tuple(n for n in census_natures if not n.over)
    if tested:
        texts.append(_deviation_sentence(tested, "For {count:,} of " + f"{testing.population_count:,} {described}"))
    for nature in census_natures:
        if nature.over:
            texts.append(_deviation_sentence((nature,), "For {count:,} of " + f"{nature.records:,} {nature.noun}"))
    if sample_natures:
        lead = ("For {count:,} of " + f"{testing.sample_size:,} {procedure.item_noun_plural} tested"
                if sample_plan.test_all else "For {count:,} of " + f"{testing.sample_size:,} sampled "
                                                                    f"{procedure.item_noun_plural}")
        texts.append(_deviation_sentence(sample_natures, lead))
    if no_instance:
        how = {"annual": "annually", "as_needed": "as needed"}.get(sample_plan.frequency,
                                                                   sample_plan.frequency.replace("_", " "))
        texts.append(f"No {procedure.item_noun_plural} were found for the period, although the control is "
                     f"performed {how}: the control did not operate as described.")
    if not testing.census_relied_on:
        mismatches = len(testing.accuracy_failures()["item_key"].unique())
        texts.append(f"For {mismatches:,} of {testing.sample_size:,} sampled {procedure.item_noun_plural}, the data "
                     f"used in the full-population analysis did not agree with the source system, so that analysis "
                     f"was not relied on.")
    return " ".join(texts)


# ------------------------------------------------------------------------------------------------
# Exceptions
# ------------------------------------------------------------------------------------------------

def _exceptions_table(testing: AttributeTesting, selection: ControlSelection, no_instance: bool) -> pd.DataFrame:
    rows: list[dict[str, object]] = []
    rounds = dict(zip(testing.items[testing.key_column], testing.items["round"])) \
        if "round" in testing.items.columns else {}
    # a tester's override of an automated outcome (recorded with a reason) replaces the computed one for that item
    results = testing.item_results
    overridden = {(str(k), str(a)) for k, a, s in zip(results["item_key"], results["attribute_id"], results["source"])
                  if s == OVERRIDE_SOURCE}
    for row in testing.sample_exceptions().to_dict("records"):
        attribute = testing.procedure.attribute(str(row["attribute_id"]))
        override = (str(row["item_key"]), attribute.id) in overridden
        if attribute.automated and not override:
            continue    # the full-population analysis lists it, with whether it was in the sample
        rows.append({"item": row["item_key"], "sample_no": row["sample_no"], "item_date": row["item_date"],
                     "attribute_id": row["attribute_id"], "attribute": row["label"],
                     "description": row["deviation"], "reason": row["reason"], "evidence_ref": row["evidence_ref"],
                     "found_by": "sample", "round": rounds.get(row["item_key"])})
    population = testing.full_population_exceptions
    for row in population.to_dict("records"):
        if (str(row["item_key"]), str(row["attribute_id"])) in overridden:
            continue
        rows.append({"item": row["item_key"], "sample_no": row["sample_no"], "item_date": row["item_date"],
                     "attribute_id": row["attribute_id"], "attribute": row["label"],
                     "description": row["deviation"], "reason": row["reason"], "evidence_ref": None,
                     "found_by": "full-population analysis", "round": row.get("round")})
    if no_instance:
        rows.append({"item": NO_INSTANCE_KEY, "sample_no": None, "item_date": None, "attribute_id": "occurrence",
                     "attribute": "Control operated", "description": "the control did not operate in the period",
                     "reason": "no instance of the control in the period", "evidence_ref": None,
                     "found_by": "population", "round": None})
    table = pd.DataFrame(rows, columns=list(EXCEPTION_COLUMNS))
    table["sample_no"] = table["sample_no"].astype("Int64")
    return table


# ------------------------------------------------------------------------------------------------
# The evaluation
# ------------------------------------------------------------------------------------------------

def evaluate_control(engagement: Engagement, control: Control, sample_plan: SamplePlan, selection: ControlSelection,
                     testing: AttributeTesting) -> ControlEvaluation:
    """Evaluate one control's test: exceptions, statistics, the Section 4 text and the proposed conclusion.

    Recorded judgements are read from the results store (never created here): the evaluation of each
    exception and the walkthrough with its design evaluation.

    Parameters
    ----------
    engagement : Engagement
        Its sampling policy (model, confidence, tolerable rate) and report type.
    control : Control
    sample_plan : SamplePlan
    selection : ControlSelection
        The selection tested (its keys must be the testing's).
    testing : AttributeTesting

    Returns
    -------
    ControlEvaluation
    """
    if tuple(selection.keys) != testing.sample_keys:
        raise ValueError(f"control {control.id}: the selection and the testing results hold different items; "
                         f"test the attributes of this selection before evaluating it.")
    report_type = engagement.report_type
    procedure = testing.procedure
    described = population_description(procedure, control, engagement)
    frequency = control.frequency
    no_instance = sample_plan.not_occurring and frequency not in TRANSACTION_FREQUENCIES
    exceptions = _exceptions_table(testing, selection, no_instance)
    records = {str(r["attribute_id"]): int(r["population"]) for r in testing.population_results.to_dict("records")}
    census_natures = _natures(exceptions, testing.control_attributes, "full-population analysis", records)
    sample_natures = _natures(exceptions, testing.control_attributes, "sample")
    exception_items = tuple(dict.fromkeys(exceptions["item"].astype(str))) if len(exceptions) else ()
    population = testing.full_population_exceptions
    population_ids = set(population["item_key"].astype(str)) if len(population) else set()
    outside_ids = (set(population.loc[~population["in_sample"].astype(bool), "item_key"].astype(str))
                   if len(population) else set())
    # the testing's mark (it read the store first): anything recorded since it ran makes both stale
    store_mark = testing.store_mark if testing.store_mark is not None else mark_store(engagement.folder, control.id)
    recorded = exception_evaluations(engagement, control.id)
    evaluations = {item: recorded[item] for item in exception_items if item in recorded}
    unevaluated = tuple(item for item in exception_items if item not in recorded)
    walkthrough = walkthrough_of(engagement, control.id)
    notes: list[str] = list(testing.notes)
    stale = sorted(set(recorded) - set(exception_items))
    if stale:
        notes.append(f"Evaluations recorded for item(s) that are not exceptions now ({', '.join(stale)}) are kept in "
                     f"the results store but not used.")
    confidence = engagement.sampling.confidence
    tolerable_rate = engagement.sampling.tolerable_rate
    model = sample_plan.plan.model if sample_plan.plan is not None else engagement.sampling.model

    # what only the sample tested: manual control attributes
    evaluation, upper_limit, supports, statistics_text = _sample_statistics(
        testing, sample_plan, selection, confidence, tolerable_rate)
    extension = _extension_proposed(testing, sample_plan, selection)

    pending: list[str] = []
    untested = {a: c for a, c in testing.untested_by_attribute().items() if c}
    recorded_by_tester = {a: c for a, c in untested.items() if not procedure.attribute(a).relies_on}
    if recorded_by_tester:
        pending.append("record the manual results: " + "; ".join(
            f"{procedure.attribute(a).label.lower()} for {_counted(c, 'item')}" for a, c in recorded_by_tester.items()))
    for attribute_id in untested.keys() - recorded_by_tester.keys():   # decided by other controls' conclusions
        waiting = testing.item_results.loc[testing.item_results["attribute_id"] == attribute_id, "reason"]
        relied_on = f"first record the conclusions of the controls behind “{procedure.attribute(attribute_id).label}”"
        pending.append(f"{relied_on} ({waiting.iloc[0]})" if len(waiting) else relied_on)
    if extension is not None:
        pending.append(extension)
    if walkthrough is None and not sample_plan.not_occurring:
        pending.append("record the walkthrough of one instance and the design evaluation")
    if unevaluated:
        pending.append(f"evaluate {_counted(len(unevaluated), 'exception')} (type, isolated or systematic and why, root "
                       f"cause, compensating control, effect on the criteria, management's response)")

    result_text = _result_text(testing, sample_plan, described, census_natures, sample_natures, no_instance)
    status, conclusion = _propose(report_type, engagement, sample_plan, testing, exception_items, evaluations,
                                  unevaluated, walkthrough, untested, extension, supports, statistics_text,
                                  len(population_ids), testing.population_count, described)
    if status == "testing_in_progress":
        noun = "item" if testing.sample_size == 1 else "items"
        tested = f"Testing in progress ({testing.items_tested} of {testing.sample_size} {noun} tested)." \
            if testing.items_tested < testing.sample_size else \
            f"Testing in progress (all {testing.sample_size} {noun} tested; " + _join(
                [p for p in ("the walkthrough is not recorded yet" if walkthrough is None else "",
                             "an extension is proposed" if extension is not None else "") if p]) + ")."
        result_text = tested + (f" Exceptions noted so far: {result_text}" if result_text else "")
    elif status == "not_occurring":
        result_text = NOT_OCCURRING_TEXT
    elif not result_text and status in ("no_exceptions_noted", "suitably_designed_and_implemented"):
        result_text = NO_EXCEPTIONS_TEXT
    if report_type == "type1":
        result_text = ""    # a Type 1 report gives no results of tests
    if population_ids:
        notes.append(f"The full-population analysis found {_counted(len(population_ids), 'record')} failing an automated "
                     f"attribute, {len(outside_ids):,} of them outside the sample; "
                     + ("it is" if len(population_ids) == 1 else "each is") + " listed on the Exceptions sheet.")
    return ControlEvaluation(
        control_id=control.id,
        report_type=report_type,
        criteria=control.criteria,
        description=control.description,
        procedure=procedure.name,
        population_description=described,
        test_performed=_test_performed(testing, sample_plan, engagement, described),
        status=status,
        result_text=result_text,
        conclusion=conclusion,
        pending=tuple(pending),
        sample_size=testing.sample_size,
        items_tested=testing.items_tested,
        deviations=testing.deviations,
        deviations_by_attribute=tuple((a.id, a.label, testing.deviations_by_attribute()[a.id])
                                      for a in testing.control_attributes),
        population_count=testing.population_count,
        census_natures=census_natures,
        sample_natures=sample_natures,
        exception_items=exception_items,
        population_exceptions=len(population_ids),
        population_exceptions_outside_sample=len(outside_ids),
        evaluations=evaluations,
        unevaluated=unevaluated,
        walkthrough=walkthrough,
        census_relied_on=testing.census_relied_on,
        accuracy_mismatches=len(testing.accuracy_failures()["item_key"].unique()),
        extension_proposed=extension,
        plan_kind=sample_plan.kind,
        statistical=sample_plan.statistical,
        test_all=sample_plan.test_all,
        model=None if model is None else str(model),
        confidence=float(confidence),
        tolerable_rate=float(tolerable_rate),
        evaluation=evaluation,
        upper_limit=upper_limit,
        supports_reliance=supports,
        exceptions=exceptions,
        recorded=recorded_conclusion(engagement, control.id),
        notes=tuple(notes),
        store_mark=store_mark,
    )


def _sample_statistics(testing: AttributeTesting, sample_plan: SamplePlan, selection: ControlSelection,
                       confidence: Decimal, tolerable_rate: Decimal
                       ) -> tuple[Evaluation | None, float | None, bool | None, str]:
    """The statistics of what only the sample tested (manual control attributes), in words.

    (evaluation, upper limit, supports reliance, text); no statistics when the control tests nothing by
    sample alone, when the plan is not statistical, or before the sample is fully tested.
    """
    plan = sample_plan.plan
    manual = [a for a in testing.control_attributes if not a.automated]
    if plan is None or not manual:
        return None, None, None, ""
    if not testing.complete:
        return None, None, None, ""
    n = testing.sample_size
    k = testing.deviations_in_stage(1, sample_only=True) + testing.deviations_in_stage(2, sample_only=True)
    if sample_plan.report_type == "type1":
        return None, None, None, ("The instance inspected " + ("operated as designed." if not k else
                                                              "did not operate as designed."))
    if sample_plan.test_all:
        rate = k / n if n else 0.0
        return None, rate, None, (f"Every item in scope was tested ({n:,}), so there is no sampling risk: {k} "
                                  f"deviation(s).")
    if plan.kind == "two_stage":
        first = testing.deviations_in_stage(1, sample_only=True)
        second = testing.deviations_in_stage(2, sample_only=True)
        if first == 0:
            return None, None, True, "Two-stage plan: no deviation in the first stage; the control is supported."
        if first == 1 and selection.extended:
            ok = second == 0
            return None, None, ok, (f"Two-stage plan: one deviation in the first stage, {second} in the second "
                                    f"({selection.stage_sizes[-1]:,} items); the control is "
                                    f"{'supported' if ok else 'not supported'}.")
        if first == 1:
            return None, None, None, "Two-stage plan: one deviation in the first stage; the second stage is due."
        return None, None, False, (f"Two-stage plan: {first} deviations in the first stage; the sample does not "
                                   f"support reliance.")
    if plan.statistical:
        result = sampling.evaluate(n, k, confidence, population_size=sample_plan.population_count,
                                   model=str(plan.model), tolerable_rate=tolerable_rate)
        return result, float(result.upper_limit), result.supports_reliance, str(result.conclusion)
    achieved = plan.confidence
    text = (f"Non-statistical sample from the firm's frequency table: {k} deviation(s) in {n} items. The size is "
            f"judgemental, so no statistical upper limit is concluded")
    if achieved is not None and plan.tolerable_rate is not None:
        text += (f"; with no deviation it gives {achieved:.1%} confidence that the deviation rate is below "
                 f"{format_percent(plan.tolerable_rate)}")
    return None, None, None, text + "."


def _extension_proposed(testing: AttributeTesting, sample_plan: SamplePlan, selection: ControlSelection) -> str | None:
    """The extension the plan allows and the first stage calls for, or None."""
    if selection.extended or sample_plan.extension == "none" or not testing.complete:
        return None
    first = testing.deviations_in_stage(1, sample_only=True)
    if sample_plan.extension == "two_stage" and sample_plan.plan is not None and sample_plan.plan.kind == "two_stage" \
            and first == 1:
        return (f"record the second stage of the two-stage plan: {sample_plan.extension_items:,} more items "
                f"(judgements.extend_sample), or conclude on the deviation")
    if sample_plan.extension == "extend" and first >= 1:
        return (f"the firm permits extending the sample by {sample_plan.extension_items:,} items after a deviation "
                f"judged isolated (judgements.extend_sample); or conclude without extending")
    return None


def _propose(report_type: str, engagement: Engagement, sample_plan: SamplePlan, testing: AttributeTesting,
             exception_items: tuple[str, ...], evaluations: dict[str, ExceptionEvaluation],
             unevaluated: tuple[str, ...], walkthrough: Walkthrough | None, untested: dict[str, int],
             extension: str | None, supports: bool | None, statistics_text: str, census_count: int,
             population_count: int, described: str) -> tuple[str, str]:
    """(status, why) the tool proposes."""
    if sample_plan.not_occurring and not exception_items:
        return "not_occurring", (f"No {described} in scope, so the operating effectiveness of the control could not "
                                 f"be tested; this is neither effective nor failed.")
    if untested or (walkthrough is None and not sample_plan.not_occurring) or extension is not None:
        what = []
        if untested:
            what.append("manual results are not all recorded")
        if walkthrough is None and not sample_plan.not_occurring:
            what.append("the walkthrough and design evaluation are not recorded")
        if extension is not None:
            what.append("the sample found a deviation and the plan allows an extension")
        return "testing_in_progress", "No conclusion yet: " + _join(what) + "."
    if not testing.census_relied_on:
        return "population_not_relied_on", (
            "Sampled items did not agree with the source system: the export cannot be relied on as produced, so the "
            "full-population results are not relied on. Obtain a corrected export (deliver it as a new version) or "
            "test the attributes for the sample from the source evidence; no conclusion until then.")
    design_failed = walkthrough is not None and not walkthrough.suitably_designed
    if exception_items and unevaluated:
        return "evaluation_pending", (
            f"{_counted(len(exception_items), 'item')} with a deviation ({census_count:,} found by the full-population "
            f"analysis of {population_count:,}); {len(unevaluated):,} not evaluated yet. Known deviations are not "
            f"compared with the tolerable rate: each is evaluated (type, isolated or systematic and why, root cause, "
            f"compensating control, effect on the criteria) before the control is concluded.")
    systematic = [e for e in evaluations.values() if e.systematic]
    design = [e for e in evaluations.values() if e.type == "design"]
    if report_type == "type1":
        if design_failed or design:
            return "not_suitably_designed", ("The walkthrough's design evaluation or an exception of design type shows "
                                             "the control is not suitably designed.")
        if systematic:
            return "not_implemented", (f"{_counted(len(systematic), 'exception')} evaluated as systematic: the control is not "
                                       f"implemented as described.")
        as_of = engagement.as_of
        why = (f"The walkthrough found the control suitably designed and implemented as of {as_of}"
               + (f"; the {_counted(len(exception_items), 'exception')} in the window "
                  + ("was" if len(exception_items) == 1 else "were") + " evaluated as isolated."
                  if exception_items else "."))
        return "suitably_designed_and_implemented", why
    if design_failed:
        return "not_operating_effectively", ("The walkthrough's design evaluation found the control not suitably "
                                             "designed, so it cannot operate effectively.")
    if systematic or design:
        count = len(set(e.item_key for e in systematic + design))
        return "not_operating_effectively", (f"{_counted(count, 'exception')} evaluated as systematic or of design type: the "
                                             f"control did not meet its objective.")
    if supports is False:
        return "not_operating_effectively", (f"{statistics_text} What only the sample tested does not support "
                                             f"reliance.")
    if exception_items:
        return "exceptions_noted", (f"{_counted(len(exception_items), 'exception')}, " + ("evaluated" if len(exception_items) == 1 else "each evaluated") + " as isolated: the control "
                                    f"still meets its objective. " + statistics_text).strip()
    return "no_exceptions_noted", ("No deviation found by the full-population analysis or the sample. "
                                   + statistics_text).strip()
