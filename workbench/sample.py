"""The sampling stage: how many items a control's test takes, and which (planning and selection).

::

    sample_plan = plan_sample(engagement, control, scoped)                     -> SamplePlan
    seed        = derive_seed(engagement, control, population, seed=None)      -> int
    selection   = select_sample(scoped, sample_plan, seed=seed)                -> sampling.Selection

How the size is chosen (DESIGN.md §4; sampling.md §4; workflow.md §1.4, §1.6):

* Type 1: one instance of the control, a walkthrough (:func:`sampling.plan_type1`).
* Type 2, manual control operating periodically (annual ... many_times_a_day): the firm's frequency
  table from the engagement (:func:`sampling.plan_frequency`), labelled non-statistical with the
  confidence it achieves.
* Type 2, transaction-driven population (frequency ``as_needed``) or an automated control: a statistical
  attribute sample (:func:`sampling.plan`) at the engagement's confidence, tolerable and expected rates,
  with its model and the population size.
* No item in scope: the control is *not occurring* (a recorded zero; nothing sampled). A plan that needs
  at least the population tests every item.

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
from workbench.engagement import Control, Engagement
from workbench.errors import ParameterError, PopulationError
from workbench.population import Population
from workbench.procedures import get_procedure
from workbench.scope import ScopedPopulation

__all__ = [
    "PERIODIC_FREQUENCIES",
    "TRANSACTION_FREQUENCIES",
    "NOT_OCCURRING",
    "SamplePlan",
    "plan_sample",
    "derive_seed",
    "select_sample",
]

#: Control frequencies looked up in the firm's frequency table (manual controls).
PERIODIC_FREQUENCIES: tuple[str, ...] = ("annual", "quarterly", "monthly", "weekly", "daily", "many_times_a_day")
#: Frequencies of transaction-driven controls: the population decides, sampled statistically.
TRANSACTION_FREQUENCIES: tuple[str, ...] = ("as_needed",)
#: The plan kind of a control with no item in scope.
NOT_OCCURRING = "not_occurring"


def _period_words(engagement: Engagement) -> str:
    if engagement.period_start is not None and engagement.period_end is not None:
        return f"{engagement.period_start} to {engagement.period_end}"
    return f"as of {engagement.as_of}" if engagement.as_of is not None else "the period"


# ------------------------------------------------------------------------------------------------
# Plan
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SamplePlan:
    """How many items a control's test takes, and why.

    Attributes
    ----------
    control_id : str
    plan : sampling.Plan or None
        The sampling plan; ``None`` when the control is not occurring (no item in scope).
    basis : str
        Why this size, in words for the workpaper's sampling block ("Manual control operating weekly: ...").
    report_type : str
        ``"type1"`` or ``"type2"``.
    frequency, nature : str
        The control's frequency and nature from the control matrix.
    population_count : int
        Items in scope (N).
    method : str
        Selection method from the engagement's policy (``random`` for Type 1).
    key_column, date_column : str
        The population's key and the date that places an item in the period (from the procedure).
    item_noun_plural : str
        e.g. ``"changes"``.
    notes : tuple of str
        The plan's notes plus anything decided here.
    """

    control_id: str
    plan: Plan | None
    basis: str
    report_type: str
    frequency: str
    nature: str
    population_count: int
    method: str
    key_column: str
    date_column: str
    item_noun_plural: str = "items"
    notes: tuple[str, ...] = ()

    @property
    def not_occurring(self) -> bool:
        """No item in scope: nothing to sample."""
        return self.plan is None

    @property
    def sample_size(self) -> int:
        """Items to select (0 when not occurring)."""
        return 0 if self.plan is None else int(self.plan.sample_size)

    @property
    def test_all(self) -> bool:
        """Every item in scope is tested."""
        return self.plan is not None and bool(self.plan.test_all)

    @property
    def statistical(self) -> bool:
        """Whether the size rests on a statistical model."""
        return self.plan is not None and bool(self.plan.statistical)

    @property
    def kind(self) -> str:
        """``statistical`` | ``frequency`` | ``two_stage`` | ``type1`` | ``not_occurring``."""
        return NOT_OCCURRING if self.plan is None else str(self.plan.kind)

    def to_table(self) -> list[tuple[str, str]]:
        """Label/value rows for the workpaper's sampling block (the plan's own rows follow the basis)."""
        rows = [("Control", self.control_id), ("Report type", self.report_type),
                ("Control frequency", self.frequency), ("Nature", self.nature),
                ("Population in scope", f"{self.population_count:,} {self.item_noun_plural}"),
                ("Sample size", f"{self.sample_size:,}"), ("Why this size", self.basis),
                ("Selection method", self.method if self.plan is not None else "none (not occurring)")]
        if self.plan is not None:
            rows += [(label, value) for label, value in self.plan.to_table() if label != "Sample size"]
        rows += [(f"Planning note {i}", note) for i, note in enumerate(self.notes, start=1)]
        return rows

    def summary(self) -> str:
        """The size and why, in a few lines."""
        head = (f"{self.control_id}: not occurring (0 {self.item_noun_plural} in scope)." if self.plan is None
                else f"{self.control_id}: test {self.sample_size:,} of {self.population_count:,} "
                     f"{self.item_noun_plural} ({self.kind}, {self.method} selection).")
        return "\n".join([head, f"  {self.basis}"] + [f"  - {note}" for note in self.notes])


def plan_sample(engagement: Engagement, control: Control, scoped: ScopedPopulation) -> SamplePlan:
    """Plan the sample for one control from the engagement's sampling policy.

    Parameters
    ----------
    engagement : Engagement
        Supplies the report type and the sampling policy (model, confidence, tolerable and expected
        rates, frequency table, method).
    control : Control
        Supplies frequency, nature and the procedure.
    scoped : ScopedPopulation
        The population in scope (its ``frame``); N is its row count.

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
    count = len(scoped)
    procedure = get_procedure(control.procedure) if control.procedure else None
    key_column = procedure.key_column if procedure else scoped.key
    date_column = procedure.date_column if procedure else (scoped.date_column or "")
    plural = procedure.item_noun_plural if procedure else "items"
    report_type = engagement.report_type
    frequency, nature = control.frequency, control.nature
    policy = engagement.sampling
    method = "random" if report_type == "type1" else policy.method

    def planned(plan: Plan | None, basis: str) -> SamplePlan:
        return SamplePlan(control_id=control.id, plan=plan, basis=basis, report_type=report_type,
                          frequency=frequency, nature=nature, population_count=count, method=method,
                          key_column=key_column, date_column=date_column, item_noun_plural=plural)

    if count == 0:
        return planned(None, f"No {plural} in scope ({_period_words(engagement)}): the control did not operate, so "
                             f"there is nothing to sample. The empty population is recorded as a zero (not "
                             f"occurring).")

    if report_type == "type1":
        return planned(sampling.plan_type1(),
                       f"Type 1 report: design and implementation are tested as of {engagement.as_of} by "
                       f"inspecting one instance of the control (a walkthrough) chosen at random from the "
                       f"{count:,} {plural} in scope.")

    tolerable_rate = policy.tolerable_rate
    table = policy.frequency_table
    periodic = tuple(table) if table else PERIODIC_FREQUENCIES
    if nature == "manual" and frequency in periodic and frequency not in TRANSACTION_FREQUENCIES:
        plan = sampling.plan_frequency(frequency, tolerable_rate=tolerable_rate, population_size=count,
                                       table=dict(table) if table else None)
        if plan.test_all:
            basis = (f"Manual control operating {frequency}: the firm's frequency table gives "
                     f"{_table_size(table, frequency)}, at least the {count:,} {plural} in scope, so every item "
                     f"is tested.")
        else:
            basis = (f"Manual control operating {frequency}: {plan.sample_size} items from the firm's frequency "
                     f"table (non-statistical, judgemental size). With no deviation they give "
                     f"{plan.confidence:.1%} confidence that the deviation rate is below "
                     f"{format_percent(plan.tolerable_rate)} ({plan.model}, N = {count:,}).")
        return planned(plan, basis)

    if frequency and frequency not in TRANSACTION_FREQUENCIES and frequency not in periodic:
        raise ParameterError(
            f"control {control.id}: frequency {frequency!r} is neither in the engagement's frequency table "
            f"({', '.join(periodic)}) nor as_needed; fix the control matrix's frequency column."
        )
    confidence, expected_rate, model = policy.confidence, policy.expected_rate, policy.model
    plan = sampling.plan(confidence, tolerable_rate, expected_rate, population_size=count, model=model)
    why = ("an automated control" if nature == "automated" else "a transaction-driven control (as needed)")
    parameters = (f"{model} model, confidence {format_percent(confidence)}, tolerable deviation rate "
                  f"{format_percent(tolerable_rate)}, expected deviation rate {format_percent(expected_rate)}")
    if plan.test_all:
        basis = (f"Statistical attribute sample for {why} ({parameters}): the size needed reaches the "
                 f"{count:,} {plural} in scope, so every item is tested.")
    else:
        allowed = plan.acceptance_number or 0
        basis = (f"Statistical attribute sample for {why} over {count:,} {plural} ({parameters}): "
                 f"{plan.sample_size} items, accepting {allowed} deviation{'s' if allowed != 1 else ''}.")
    return planned(plan, basis)


def _table_size(table: Mapping[str, int] | None, frequency: str) -> int:
    source = table if table else sampling.DEFAULT_FREQUENCY_TABLE
    return int(source[frequency])


# ------------------------------------------------------------------------------------------------
# Select
# ------------------------------------------------------------------------------------------------

def select_sample(scoped: ScopedPopulation, sample_plan: SamplePlan, *, seed: int) -> Selection:
    """Select the planned items through :func:`sampling.select` (re-performable, seeded).

    Parameters
    ----------
    scoped : ScopedPopulation
        The population in scope; keys are ``sample_plan.key_column``, dates ``sample_plan.date_column``.
    sample_plan : SamplePlan
    seed : int
        The selection seed (see :func:`derive_seed`).

    Returns
    -------
    sampling.Selection
        In selection order. For a plan that tests every item, every key. For a control that is not
        occurring, an empty selection.
    """
    frame = scoped.frame
    if sample_plan.key_column not in frame.columns:
        raise PopulationError(f"the population has no key column {sample_plan.key_column!r}; "
                              f"it cannot be sampled.")
    if sample_plan.not_occurring:
        return _empty_selection(seed, sample_plan.method)
    keys = frame[sample_plan.key_column].astype(str).tolist()
    dates = None
    if sample_plan.method in ("systematic", "stratified"):
        dates = _dates_for_selection(frame[sample_plan.date_column])
    n = min(sample_plan.sample_size, len(keys))
    return sampling.select(keys, n, seed=seed, method=sample_plan.method, dates=dates)


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


def derive_seed(engagement: Engagement, control: Control, population: Population, seed: int | None = None) -> int:
    """Return the selection seed: the one given, or one derived from what is being tested.

    A derived seed is the first 8 hex digits (32 bits) of
    ``SHA-256("<engagement_id>|<control_id>|<population SHA-256>")``. Binding the seed to the
    engagement, the control and the exact population file means nobody can re-roll the draw
    until a sample they like appears, and anyone can re-derive it (DESIGN.md §5; workflow.md §1.6).

    Raises
    ------
    ParameterError
        If ``seed`` is given and is not a whole number >= 0.
    """
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ParameterError(f"seed must be a whole number >= 0 or None (derive it), got {seed!r}.")
        return seed
    text = f"{engagement.engagement_id}|{control.id}|{population.sha256}"
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16)
