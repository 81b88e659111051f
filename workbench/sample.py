"""The sampling stage: how many items a control's test takes, and which (planning and selection).

::

    sample_plan = plan_sample(engagement, control, scope, policy)          -> SamplePlan
    selection   = select_sample(engagement, control, scope, sample_plan)   -> ControlSelection

How the size is chosen (DESIGN.md §4; sampling.md §4; workflow.md §1.4, §1.6):

* Type 1: one instance of the control, a walkthrough (:func:`sampling.plan_type1`).
* Type 2, manual control operating periodically (annual ... many_times_a_day): the firm's frequency
  table from the engagement (:func:`sampling.plan_frequency`), labelled non-statistical with the
  confidence it achieves.
* A procedure that tests every item and says why (:attr:`~workbench.procedures.base.Procedure.sample_basis`: an
  automated control, tested on one instance of its configuration): every item in scope, Type 1 and Type 2.
* Type 2, transaction-driven population (frequency ``as_needed``), a periodic control whose procedure acts on
  each record (:attr:`~workbench.procedures.base.Procedure.sample_per_record`: each person's annual training)
  or an automated control: a statistical
  attribute sample (:func:`sampling.plan`) at the engagement's confidence, tolerable and expected rates,
  with its model and the population size; planned in two stages when the control's policy says
  ``extension = "two_stage"`` (:func:`sampling.plan_two_stage`).
* The firm's minimum (policy ``min_sample_size``) raises a smaller size, and says so.
* No item in scope: the control is *not occurring* (a recorded zero; nothing sampled). A plan that needs
  at least the population tests every item.

**One sample per population.** Controls that test the same population with the same record filter (in the
same rounds) share one selection, unless the control matrix opts a control out (``Shared sample`` = no):
the sample's size is the largest of the sharing controls' plans, every sharing control tests the whole
selection, and its seed is derived from the sample, not from a control:
``SHA-256("<engagement_id>|<sample id>|<population SHA-256>|<round>")``, first 8 hex digits. A seed the
tester chose instead is recorded in the results store with who, when and why, and labelled as chosen
(:mod:`workbench.judgements`).

**Rounds.** With ``[[rounds]]`` the sample is allocated to the rounds by their days (largest remainder;
at least one item per round that has records), and each round gets its own selection over its own
export; together they are the control's selection.

**Extension.** When the sample found a deviation and the policy allows it (a two-stage plan, or
``extension = "extend"``), the preparer records the extension (:func:`workbench.judgements.extend_sample`);
the selection then adds the items through :func:`sampling.extend`, keeping every earlier item first.

The selection itself is :func:`sampling.select` (re-performable: documented algorithm, seed and key-set
SHA-256 recorded; DESIGN.md §5).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

import sampling
from sampling import Plan, Selection, format_percent
from workbench.display import SummaryText, escape, html_card, html_details, summary_card
from workbench.engagement import Control, Engagement, Round
from workbench.errors import ParameterError, PopulationError
from workbench.formats.schemas import SCHEMAS
from workbench.judgements import SampleDecisions, SeedChoice, sample_decisions
from workbench.policy import ControlPolicy, resolve_policy
from workbench.library import is_testable, procedure_of
from workbench.scope import ControlScope

__all__ = [
    "PERIODIC_FREQUENCIES",
    "TRANSACTION_FREQUENCIES",
    "NOT_OCCURRING",
    "SamplePlan",
    "ControlSelection",
    "plan_sample",
    "select_sample",
    "sample_id",
    "sharing_controls",
    "derive_seed",
]

#: Control frequencies looked up in the firm's frequency table (manual controls).
PERIODIC_FREQUENCIES: tuple[str, ...] = ("annual", "quarterly", "monthly", "weekly", "daily", "many_times_a_day")
#: Frequencies of transaction-driven controls: the population decides, sampled statistically.
TRANSACTION_FREQUENCIES: tuple[str, ...] = ("as_needed",)
#: The plan kind of a control with no item in scope.
NOT_OCCURRING = "not_occurring"


# ------------------------------------------------------------------------------------------------
# Which controls share a sample
# ------------------------------------------------------------------------------------------------

def sample_id(engagement: Engagement, control: Control) -> str:
    """The id of the sample a control tests: its populations (one per round), the date that places an item in
    the period when it is not the population kind's own, its record filter, and the control itself when it has a
    sample of its own: ``changes[change_type in standard, normal]``, ``hr_roster@hired_at``, ``changes/CM-05``.

    Two controls share a sample only when their ids are equal, so that they scope the very same records: the
    new hires of an HR roster (``hired_at``) are never one sample with its leavers (``terminated_at``)."""
    populations = "+".join(dict.fromkeys(pid for _, pid in engagement.tested_populations(control)))
    text = populations
    if control.procedure is not None and is_testable(engagement, control):
        procedure = procedure_of(engagement, control)
        schema = SCHEMAS.get(procedure.population_kind)
        if schema is not None and procedure.date_column and procedure.date_column != schema.date_column:
            text += f"@{procedure.date_column}"
    text += f"[{control.record_filter.text}]" if control.record_filter is not None else ""
    return text if control.shared_sample else f"{text}/{control.id}"


def sharing_controls(engagement: Engagement, control: Control) -> tuple[Control, ...]:
    """The controls that test the same sample as ``control`` (itself included), in matrix order."""
    if not control.shared_sample:
        return (control,)
    wanted = sample_id(engagement, control)
    return tuple(c for c in engagement.controls
                 if c.procedure is not None and is_testable(engagement, c) and c.populations and c.shared_sample
                 and sample_id(engagement, c) == wanted)


# ------------------------------------------------------------------------------------------------
# Plan
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SamplePlan(SummaryText):
    """How many items a control's test takes, and why.

    Attributes
    ----------
    control_id : str
    sample_id : str
        The sample (population, record filter) the control tests (:func:`sample_id`).
    shared_with : tuple of str
        The other controls that test the same sample, in matrix order.
    plan : sampling.Plan or None
        This control's own plan; ``None`` when the control is not occurring (no item in scope).
    sample_size : int
        Items drawn (the first stage of a two-stage plan): the largest of the sharing controls' sizes,
        raised to the firm's minimum, at most the population.
    basis : str
        Why this size, in words for the workpaper's sampling sheet.
    report_type : str
    frequency, nature : str
        The control's frequency and nature from the control matrix.
    population_count : int
        Items in scope (N), every round together.
    method : str
        Selection method from the engagement's policy (``random`` for Type 1).
    key_column, date_column : str
    item_noun_plural : str
    allocation : tuple of (str, int, int)
        (round, days, items) for each testing round.
    extension : str
        The policy's ``extension``: ``none``, ``two_stage`` or ``extend``.
    extension_items : int
        Items an extension adds (the second stage of a two-stage plan, or the policy's ``extension_items``).
    min_sample_size : int
    notes : tuple of str
    """

    control_id: str
    sample_id: str
    shared_with: tuple[str, ...]
    plan: Plan | None
    sample_size: int
    basis: str
    report_type: str
    frequency: str
    nature: str
    population_count: int
    method: str
    key_column: str
    date_column: str
    item_noun_plural: str = "items"
    allocation: tuple[tuple[str, int, int], ...] = ()
    extension: str = "none"
    extension_items: int = 0
    min_sample_size: int = 0
    notes: tuple[str, ...] = ()

    @property
    def not_occurring(self) -> bool:
        """No item in scope: nothing to sample."""
        return self.plan is None

    @property
    def test_all(self) -> bool:
        """Every item in scope is tested."""
        return self.plan is not None and self.sample_size >= self.population_count

    @property
    def statistical(self) -> bool:
        """Whether the size rests on a statistical model."""
        return self.plan is not None and bool(self.plan.statistical)

    @property
    def kind(self) -> str:
        """``statistical`` | ``frequency`` | ``two_stage`` | ``type1`` | ``one_instance`` | ``not_occurring``."""
        return NOT_OCCURRING if self.plan is None else str(self.plan.kind)

    @property
    def shared(self) -> bool:
        """Whether other controls test the same selection."""
        return bool(self.shared_with)

    def to_table(self) -> list[tuple[str, str]]:
        """Label/value rows for the workpaper's sampling block (the plan's own rows follow the basis)."""
        rows = [("Control", self.control_id), ("Sample", self.sample_id),
                ("Shared with", ", ".join(self.shared_with) if self.shared_with else "none (this control only)"),
                ("Report type", self.report_type), ("Control frequency", self.frequency), ("Nature", self.nature),
                ("Population in scope", f"{self.population_count:,} {self.item_noun_plural}"),
                ("Sample size", f"{self.sample_size:,}"), ("Why this size", self.basis),
                ("Selection method", self.method if self.plan is not None else "none (not occurring)")]
        if len(self.allocation) > 1:
            rows += [(f"Round {name}", f"{items:,} items ({days} days)") for name, days, items in self.allocation]
        rows.append(("Extension after a deviation", {
            "none": "none: a deviation is reported and evaluated",
            "two_stage": f"two-stage plan: {self.extension_items:,} more items after exactly one deviation",
            "extend": f"permitted: {self.extension_items:,} more items, recorded by the preparer",
        }.get(self.extension, self.extension)))
        if self.plan is not None:
            rows += [(label, value) for label, value in self.plan.to_table() if label != "Sample size"]
        rows += [(f"Planning note {i}", note) for i, note in enumerate(self.notes, start=1)]
        return rows

    def summary(self) -> str:
        """The size and why, in a few lines."""
        head = (f"{self.control_id}: not occurring (0 {self.item_noun_plural} in scope)." if self.plan is None
                else f"{self.control_id}: test {self.sample_size:,} of {self.population_count:,} "
                     f"{self.item_noun_plural} ({self.kind}, {self.method} selection; sample {self.sample_id}"
                     + (f", shared with {', '.join(self.shared_with)}" if self.shared_with else "") + ").")
        return "\n".join([head, f"  {self.basis}"] + [f"  - {note}" for note in self.notes])


    def _repr_html_(self) -> str:
        """The size and why, with the plan's statistics folded away."""
        rows = self.to_table()
        main = ("Sample", "Shared with", "Population in scope", "Sample size", "Why this size", "Selection method")
        shown = [(label, escape(value)) for label, value in rows if label in main]
        rest = "".join(f"<div><b>{escape(label)}</b>: {escape(value)}</div>" for label, value in rows
                       if label not in main)
        return html_card(f"{self.control_id}: test {self.sample_size:,} of {self.population_count:,} "
                         f"{self.item_noun_plural}", shown, body=html_details("The plan in full", rest),
                         css_class="wb-plan")

def _period_words(engagement: Engagement) -> str:
    if engagement.period_start is not None and engagement.period_end is not None:
        return f"{engagement.period_start} to {engagement.period_end}"
    return f"as of {engagement.as_of}" if engagement.as_of is not None else "the period"


@dataclass(frozen=True)
class _OwnPlan:
    """One control's own plan and why, before sharing."""

    plan: Plan
    size: int
    basis: str


_ADVERBS = {"annual": "annually", "many_times_a_day": "many times a day"}


def _adverb(frequency: str) -> str:
    """How a frequency reads in a sentence: "operating annually", "operating many times a day"."""
    return _ADVERBS.get(frequency, frequency.replace("_", " "))


def _items(count: int) -> str:
    return f"{count:,} item" if count == 1 else f"{count:,} items"


def _own_plan(engagement: Engagement, control: Control, policy: ControlPolicy, count: int,
              plural: str) -> _OwnPlan:
    """The plan a control would need on its own for ``count`` items in scope (count > 0)."""
    sampling_policy = engagement.sampling
    frequency, nature = control.frequency, control.nature
    if engagement.report_type == "type1":
        return _OwnPlan(sampling.plan_type1(), 1,
                        f"Type 1 report: design and implementation are tested as of {engagement.as_of} by "
                        f"inspecting one instance of the control (a walkthrough) chosen at random from the "
                        f"{count:,} {plural} in scope.")
    procedure = procedure_of(engagement, control) if control.procedure else None
    basis = procedure.sample_basis if procedure is not None else ""
    per_record = procedure is not None and procedure.sample_per_record
    if basis:
        one = Plan(sample_size=count, acceptance_number=0, model="none", achieved_risk=None, confidence=None,
                   tolerable_rate=None, expected_rate=None, expected_deviations=None, population_size=count,
                   kind="one_instance", statistical=False, test_all=True, notes=(basis,))
        return _OwnPlan(one, count, f"{basis} In scope: {count:,} {plural}, every one tested.")
    tolerable_rate = sampling_policy.tolerable_rate
    table = sampling_policy.frequency_table
    periodic = tuple(table) if table else PERIODIC_FREQUENCIES
    if nature == "manual" and frequency in periodic and frequency not in TRANSACTION_FREQUENCIES and not per_record:
        plan = sampling.plan_frequency(frequency, tolerable_rate=tolerable_rate, population_size=count,
                                       table=dict(table) if table else None)
        if plan.test_all:
            basis = (f"Manual control operating {_adverb(frequency)}: the firm's frequency table gives "
                     f"{_table_size(table, frequency)}, at least the {count:,} {plural} in scope, so every item "
                     f"is tested.")
        else:
            basis = (f"Manual control operating {_adverb(frequency)}: {_items(plan.sample_size)} from the firm's frequency "
                     f"table (non-statistical, judgemental size). With no deviation they give "
                     f"{plan.confidence:.1%} confidence that the deviation rate is below "
                     f"{format_percent(plan.tolerable_rate)} ({plan.model}, N = {count:,}).")
        return _OwnPlan(plan, min(plan.sample_size, count), basis)
    if frequency and frequency not in TRANSACTION_FREQUENCIES and frequency not in periodic:
        raise ParameterError(
            f"control {control.id}: frequency {frequency!r} is neither in the engagement's frequency table "
            f"({', '.join(periodic)}) nor as_needed; fix the control matrix's frequency column."
        )
    confidence, expected_rate, model = sampling_policy.confidence, sampling_policy.expected_rate, sampling_policy.model
    why = ("an automated control" if nature == "automated" else
           f"a control operating {_adverb(frequency)} on each of its {plural} (sized over the records it "
           f"acts on, not from the frequency table)" if per_record and frequency in periodic else
           "a transaction-driven control (as needed)")
    parameters = (f"{model} model, confidence {format_percent(confidence)}, tolerable deviation rate "
                  f"{format_percent(tolerable_rate)}, expected deviation rate {format_percent(expected_rate)}")
    if policy.text("extension") == "two_stage":
        plan = sampling.plan_two_stage(confidence, tolerable_rate, population_size=count, model=model)
        basis = (f"Two-stage statistical sample for {why} over {count:,} {plural} ({parameters}): "
                 f"{plan.sample_size} items; after exactly one deviation {plan.second_stage_size} more, the "
                 f"control supported only if they hold none (policy extension = two_stage).")
    else:
        plan = sampling.plan(confidence, tolerable_rate, expected_rate, population_size=count, model=model)
        allowed = plan.acceptance_number or 0
        basis = (f"Statistical attribute sample for {why} over {count:,} {plural} ({parameters}): "
                 f"{plan.sample_size} items, accepting {allowed} deviation{'s' if allowed != 1 else ''}.")
    if plan.test_all:
        basis = (f"Statistical attribute sample for {why} ({parameters}): the size needed reaches the "
                 f"{count:,} {plural} in scope, so every item is tested.")
    return _OwnPlan(plan, min(plan.sample_size, count), basis)


def _with_minimum(engagement: Engagement, size: int, minimum: int, count: int) -> int:
    """A Type 2 size raised to the firm's minimum (never beyond the population)."""
    if engagement.report_type == "type2" and minimum and size < minimum:
        return min(minimum, count)
    return size


def _table_size(table: Mapping[str, int] | None, frequency: str) -> int:
    source = table if table else sampling.DEFAULT_FREQUENCY_TABLE
    return int(source[frequency])


def _allocate(size: int, rounds: tuple[Round, ...], available: tuple[int, ...]) -> tuple[int, ...]:
    """Split ``size`` items over the rounds by their days (largest remainder), at most each round's records,
    at least one item in each round with records when the size allows."""
    if len(rounds) == 1:
        return (min(size, available[0]),)
    total_days = sum(r.days for r in rounds)
    exact = [size * r.days / total_days for r in rounds]
    shares = [int(x) for x in exact]
    for i in sorted(range(len(rounds)), key=lambda i: exact[i] - shares[i], reverse=True)[: size - sum(shares)]:
        shares[i] += 1
    if size >= sum(1 for a in available if a):
        for i, a in enumerate(available):   # every round with records is sampled
            if a and not shares[i]:
                donor = max(range(len(shares)), key=lambda j: shares[j])
                shares[donor] -= 1
                shares[i] += 1
    # a round with fewer records than its share gives the rest to the rounds with room, in round order
    spare = 0
    for i, a in enumerate(available):
        if shares[i] > a:
            spare += shares[i] - a
            shares[i] = a
    for i, a in enumerate(available):
        room = min(spare, a - shares[i])
        shares[i] += room
        spare -= room
    return tuple(shares)


def plan_sample(engagement: Engagement, control: Control, scope: ControlScope,
                policy: ControlPolicy | None = None) -> SamplePlan:
    """Plan the sample for one control: its own plan, then the sample it shares with other controls.

    Parameters
    ----------
    engagement : Engagement
        The report type and the sampling policy (model, confidence, tolerable and expected rates, frequency
        table, method); the other controls of the matrix (for a shared sample).
    control : Control
        Frequency, nature, procedure.
    scope : ControlScope
        The records in scope in each round; N is their count.
    policy : ControlPolicy, optional
        The control's policy (:func:`workbench.policy.resolve_policy`); resolved here when not given.

    Returns
    -------
    SamplePlan

    Raises
    ------
    ParameterError
        A frequency the policy cannot size (neither in the frequency table nor ``as_needed``).
    sampling.SamplingError
        A policy value the sampling engine refuses (its message names the parameter).
    """
    policy = policy or resolve_policy(engagement, control)
    count = len(scope)
    procedure = procedure_of(engagement, control) if control.procedure else None
    key_column = procedure.key_column if procedure else scope.key
    date_column = procedure.date_column if procedure else (scope.date_column or "")
    plural = procedure.item_noun_plural if procedure else "items"
    method = "random" if engagement.report_type == "type1" else engagement.sampling.method
    sharing = sharing_controls(engagement, control)
    others = tuple(c.id for c in sharing if c.id != control.id)
    minimum = policy.integer("min_sample_size")
    extension = policy.text("extension")

    def planned(plan: Plan | None, size: int, basis: str, allocation: tuple[tuple[str, int, int], ...],
                extension_items: int = 0, notes: tuple[str, ...] = ()) -> SamplePlan:
        return SamplePlan(control_id=control.id, sample_id=sample_id(engagement, control), shared_with=others,
                          plan=plan, sample_size=size, basis=basis, report_type=engagement.report_type,
                          frequency=control.frequency, nature=control.nature, population_count=count,
                          method=method, key_column=key_column, date_column=date_column, item_noun_plural=plural,
                          allocation=allocation, extension=extension, extension_items=extension_items,
                          min_sample_size=minimum, notes=notes)

    if count == 0:
        return planned(None, 0, f"No {plural} in scope ({_period_words(engagement)}): the control did not operate, "
                                f"so there is nothing to sample. The empty population is recorded as a zero.",
                       tuple((r.name, r.days, 0) for r in scope.rounds))
    own = _own_plan(engagement, control, policy, count, plural)
    basis, notes = own.basis, []
    size = _with_minimum(engagement, own.size, minimum, count)
    if size > own.size:
        notes.append(f"Raised from {own.size:,} to {size:,} items: the firm's minimum for this procedure "
                     f"(min_sample_size = {minimum}, {policy.sources['min_sample_size']}).")
    for other in sharing:
        if other.id == control.id:
            continue
        their_policy = resolve_policy(engagement, other)
        theirs = _own_plan(engagement, other, their_policy, count, plural)
        their_size = _with_minimum(engagement, theirs.size, their_policy.integer("min_sample_size"), count)
        if their_size > size:
            size = their_size
            notes.append(f"The sample is shared with {other.id}, whose plan needs {their_size:,} items: the larger "
                         f"size is drawn, and every control sharing the sample tests all of it.")
    if others and not any(note.startswith("The sample is shared") for note in notes):
        notes.append(f"The sample is shared with {', '.join(others)}: one selection, tested by every control that "
                     f"shares it (the largest of their plans: {size:,} items).")
    size = min(size, count)
    if size >= count and not own.plan.test_all:
        notes.append(f"The size reaches the {count:,} {plural} in scope: every item is tested.")
    if extension == "two_stage" and own.plan.second_stage_size:
        extension_items = int(own.plan.second_stage_size)
    elif extension == "extend":
        extension_items = policy.integer("extension_items") or size
    else:
        extension_items = 0
    if extension == "two_stage" and own.plan.kind != "two_stage":
        source = {"frequency": "the frequency table", "one_instance": "the test of one instance"}.get(
            str(own.plan.kind), "a Type 1 walkthrough")
        notes.append(f"extension = two_stage applies to statistical samples; this size comes from {source}, so "
                     f"there is no second stage.")
    months = sum(1 for _, n in scope.months if n)
    if method == "stratified" and procedure is not None and procedure.population_kind == "occurrences" \
            and size < months:
        method = "random"
        notes.append(f"Random selection over the {count:,} {plural}: they fall in {months} months, more than the "
                     f"{size:,} to select, and a selection stratified by month gives the months of equal size to the "
                     f"earliest (ties go to the earlier stratum); every occurrence has the same chance instead.")
    available = tuple(len(part) for part in scope.parts)
    shares = _allocate(size, scope.rounds, available)
    allocation = tuple((r.name, r.days, n) for r, n in zip(scope.rounds, shares))
    if len(scope.rounds) > 1:
        notes.append("Allocated to the rounds by their days: "
                     + "; ".join(f"{name} {n:,} ({days} days)" for name, days, n in allocation) + ".")
    return planned(own.plan, size, basis, allocation, extension_items, tuple(notes))


# ------------------------------------------------------------------------------------------------
# Select
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ControlSelection(SummaryText):
    """The items a control tests: one :class:`sampling.Selection` per round, together the control's sample.

    Attributes
    ----------
    sample_id : str
    parts : tuple of sampling.Selection
        In round order; a part extended after a deviation holds the earlier items first.
    rounds : tuple of str
        The round of each part.
    seeds : tuple of SeedChoice
        How each part's seed was set: derived from the sample and the population, or chosen (by whom,
        when, why).
    stage_sizes : tuple of int
        Items per stage across the rounds: ``(n,)``, or ``(n, m)`` once extended by ``m``.
    extension : str or None
        Who recorded the extension, when, and why (None when the sample was not extended).
    """

    sample_id: str
    parts: tuple[Selection, ...]
    rounds: tuple[str, ...]
    seeds: tuple[SeedChoice, ...]
    stage_sizes: tuple[int, ...]
    extension: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        """Every selected key, round by round, each round in selection order."""
        return tuple(key for part in self.parts for key in part.keys)

    @property
    def seed(self) -> int:
        """The seed of the first round's selection."""
        return self.parts[0].seed

    @property
    def method(self) -> str:
        return self.parts[0].method

    @property
    def population_size(self) -> int:
        """Records the selection was drawn from, every round together."""
        return sum(part.population_size for part in self.parts)

    @property
    def key_set_sha256(self) -> str:
        """The population key-set SHA-256 of each round, joined (one round: its own)."""
        return "+".join(part.key_set_sha256 for part in self.parts)

    @property
    def extended(self) -> bool:
        return len(self.stage_sizes) > 1

    @property
    def stages(self) -> dict[str, int]:
        """Key -> 1 for the first stage, 2 for an item added by the extension."""
        stage: dict[str, int] = {}
        for part in self.parts:
            first = part.rounds[0] if part.rounds else len(part.keys)
            stage.update({key: 1 if i < first else 2 for i, key in enumerate(part.keys)})
        return stage

    def to_table(self) -> list[tuple[str, str]]:
        """Label/value rows for the workpaper: the sample, each round's selection, seed and algorithm."""
        rows: list[tuple[str, str]] = [("Sample", self.sample_id), ("Items selected", f"{len(self.keys):,}")]
        if self.extended:
            rows.append(("Stages", " + ".join(f"{n:,}" for n in self.stage_sizes)
                         + f" items (extended: {self.extension})"))
        for part, round_, seed in zip(self.parts, self.rounds, self.seeds):
            prefix = f"{round_}: " if len(self.parts) > 1 else ""
            rows.append((f"{prefix}Seed", f"{part.seed} ({seed.describe()})"))
            rows += [(f"{prefix}{label}", value) for label, value in part.to_table()
                     if not label.startswith("Selected keys") and label != "Seed"]
        return rows

    def summary(self) -> str:
        lines = [f"Sample {self.sample_id}: {len(self.keys):,} item(s)"
                 + (f" in {len(self.stage_sizes)} stages ({self.extension})" if self.extended else "")]
        for part, round_, seed in zip(self.parts, self.rounds, self.seeds):
            lines.append(f"  {round_}: {len(part.keys):,} of {part.population_size:,}, {part.method}, seed "
                         f"{part.seed} ({seed.describe()})")
            shown = ", ".join(part.keys[:8]) + (" ..." if len(part.keys) > 8 else "")
            if shown:
                lines.append(f"    {shown}")
        return "\n".join(lines)


    def _repr_html_(self) -> str:
        """The items selected and the seed; the algorithm (re-performance) folded in a details block."""
        rows: list[tuple[str, str]] = []
        algorithm: list[tuple[str, str]] = []
        for label, value in self.to_table():
            plain = label.split(": ")[-1]
            if plain in ("Sample", "Items selected", "Stages", "Seed", "Method", "Population size", "Selected"):
                rows.append((label, escape(value)))
            else:
                algorithm.append((label, value))
        keys = ", ".join(self.keys[:12]) + (f" ... ({len(self.keys):,} in all)" if len(self.keys) > 12 else "")
        rows.append(("Items", f"<code>{escape(keys)}</code>"))
        folded = "".join(f"<div><b>{escape(label)}</b>: {escape(value)}</div>" for label, value in algorithm)
        return html_card(f"Selection {self.sample_id}", rows,
                         body=html_details("How it was selected (algorithm, key-set SHA-256: re-performance)", folded),
                         css_class="wb-selection")

def derive_seed(engagement: Engagement, sample: str, population_sha256: str, round_name: str) -> int:
    """The derived seed of a sample's selection in a round.

    The first 8 hex digits (32 bits) of ``SHA-256("<engagement_id>|<sample id>|<population SHA-256>|<round>")``:
    bound to the engagement, the sample (population, record filter, or the control when it has its own) and the
    exact population file, so nobody can re-roll the draw until a sample they like appears, and anyone can
    re-derive it (DESIGN.md §5; workflow.md §1.6).
    """
    text = f"{engagement.engagement_id}|{sample}|{population_sha256}|{round_name}"
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16)


def select_sample(engagement: Engagement, control: Control, scope: ControlScope, sample_plan: SamplePlan,
                  decisions: SampleDecisions | None = None) -> ControlSelection:
    """Select the planned items, round by round, through :func:`sampling.select` (re-performable, seeded).

    Seeds are derived (:func:`derive_seed`) unless the preparer chose one (recorded in the results store);
    a recorded extension adds its items through :func:`sampling.extend`, keeping the earlier items first.

    Parameters
    ----------
    engagement, control, scope, sample_plan
    decisions : SampleDecisions, optional
        Seeds chosen and extensions recorded for the sample; read from the results store when not given.

    Returns
    -------
    ControlSelection
        In selection order. For a plan that tests every item, every key. For a control that is not occurring,
        empty selections.
    """
    frame = scope.frame
    if sample_plan.key_column not in frame.columns:
        raise PopulationError(f"the population has no key column {sample_plan.key_column!r}; it cannot be sampled.")
    decisions = decisions if decisions is not None else sample_decisions(engagement, sample_plan.sample_id)
    parts: list[Selection] = []
    seeds: list[SeedChoice] = []
    extension = decisions.extension
    added_total = 0
    for part, (round_name, _, n) in zip(scope.parts, sample_plan.allocation):
        derived = derive_seed(engagement, sample_plan.sample_id, part.population.sha256, round_name)
        seed = decisions.seed_for(round_name, derived)
        seeds.append(seed)
        part_frame = part.frame
        keys = part_frame[sample_plan.key_column].astype(str).tolist()
        dates = None
        if sample_plan.method in ("systematic", "stratified") and sample_plan.date_column in part_frame.columns:
            dates = _dates_for_selection(part_frame[sample_plan.date_column])
        if sample_plan.not_occurring or n == 0:
            parts.append(_empty_selection(seed.seed, sample_plan.method))
            continue
        method = sample_plan.method if dates is not None or sample_plan.method == "random" else "random"
        selection = sampling.select(keys, min(n, len(keys)), seed=seed.seed, method=method, dates=dates)
        if extension is not None:
            more = min(_share(extension.items, n, sample_plan.sample_size), len(keys) - len(selection.keys))
            if more > 0:
                selection = sampling.extend(selection, more, keys=keys, dates=dates)
                added_total += more
        parts.append(selection)
    first = sum(n for _, _, n in sample_plan.allocation)
    stages = (first, added_total) if extension is not None and added_total else (first,)
    return ControlSelection(sample_id=sample_plan.sample_id, parts=tuple(parts),
                            rounds=tuple(name for name, _, _ in sample_plan.allocation), seeds=tuple(seeds),
                            stage_sizes=stages, extension=extension.describe() if extension is not None else None)


def _share(total: int, part: int, whole: int) -> int:
    """A round's share of the extension: in proportion to its share of the first stage (rounded up)."""
    if whole <= 0:
        return 0
    return -(-total * part // whole)


def _dates_for_selection(values: pd.Series) -> pa.Array | list[object]:
    """Occurrence timestamps as an Arrow array (keeps the zone; sampling never sees pandas)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return pa.Array.from_pandas(values)
    return list(values)


def _empty_selection(seed: int, method: str) -> Selection:
    return Selection(keys=(), seed=seed, method=method, population_size=0,
                     key_set_sha256=sampling.key_set_sha256([]), start=None, interval=None, strata=(),
                     algorithm="No item in scope: nothing was selected.",
                     notes=("Not occurring: the population in scope is empty.",), rounds=())
