"""Sample size plans for tests of controls (attribute sampling).

Every plan is a frozen :class:`Plan` that states its model, its inputs, the size, the number of
deviations it tolerates and the risk it actually achieves, with the conventions spelled out in
``notes`` so that a reviewer can re-perform the number.

Conventions (see ``shared/domain/sampling.md``, anchors 1, 3, 5 and 8):

* **binomial** (default; the AICPA *Audit Sampling* guide, Appendix A, Tables A-1 and A-2): the
  smallest n with ``P(X <= k | n, TDR) <= 1 - confidence`` where ``k = ceil(n x EDR)``.
* **hypergeometric** (finite population of N items): ``K = ceil(TDR x N)`` deviations in the
  population; the smallest n with ``P(X <= k | N, K, n) <= 1 - confidence``, same k.
* **poisson** (the ACL convention): the smallest n with
  ``PoissonCDF(ceil(n x EDR); n x TDR) <= 1 - confidence``; the population size is ignored.

``n x EDR`` and ``TDR x N`` are computed exactly (decimal / integer arithmetic) before rounding
up, so ``400 x 0.035`` is 14, not 14.000000000000002. The search scans every candidate n in
increasing order (vectorised in blocks), so the *smallest* n is found even where
``ceil(n x EDR)`` steps make the probability rise again as n grows.

The probabilities come from ``scipy.stats``, imported inside the functions that compute them
(it takes about 0.6 s to import): importing this module loads numpy only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from sampling.errors import ModelError, RateError, SizeError
from sampling.inputs import (
    ceil_decimal,
    check_model,
    format_percent,
    require_population,
    summary_lines,
    to_confidence,
    to_count,
    to_population_size,
    to_probability,
)

__all__ = [
    "Plan",
    "plan",
    "plan_frequency",
    "plan_two_stage",
    "plan_type1",
    "two_stage_risk",
    "DEFAULT_FREQUENCY_TABLE",
    "MODELS",
    "MAX_SAMPLE_SIZE",
]

MODELS: tuple[str, ...] = ("binomial", "hypergeometric", "poisson")
"""The statistical models a plan or an evaluation can use."""

MAX_SAMPLE_SIZE: int = 1_000_000
"""The largest sample size the planning search considers (without a population size)."""

DEFAULT_FREQUENCY_TABLE: Mapping[str, int] = MappingProxyType({
    "annual": 1,
    "quarterly": 2,
    "monthly": 2,
    "weekly": 5,
    "daily": 25,
    "many_times_a_day": 40,
})
"""The default firm frequency table: non-statistical sizes for periodic manual controls.

Source: the fixed SOC 2 table of the Chiaro CPA-firm methodology (``method/type2-testing.md``,
https://github.com/Chiaro-HQ/methodology), as recorded in ``shared/domain/workflow.md`` §1.6.
Neither the AICPA nor the PCAOB prescribes these sizes (``sampling.md`` §4.1); firms set their
own, so the table is a parameter of :func:`plan_frequency` and of the engagement.
"""

_BLOCK_FIRST = 512
_BLOCK_MAX = 262_144


# --------------------------------------------------------------------------------------------
# The Plan
# --------------------------------------------------------------------------------------------

_KIND_TITLES = {
    "statistical": "Statistical attribute sample",
    "frequency": "Non-statistical sample from the firm's frequency table",
    "two_stage": "Two-stage (sequential) statistical sample",
    "type1": "Type 1 walkthrough (design and implementation)",
}


@dataclass(frozen=True)
class Plan:
    """A sample plan for a test of controls.

    Attributes
    ----------
    sample_size : int
        Items to test (for a two-stage plan: the first stage; for ``test_all``: every item).
    acceptance_number : int or None
        Deviations the plan tolerates and still supports reliance (for a rate plan
        ``ceil(n x expected_rate)``; for a two-stage plan 0, see ``notes``).
    model : str
        ``"binomial"``, ``"hypergeometric"``, ``"poisson"`` or ``"none"`` (Type 1).
    achieved_risk : float or None
        Probability of accepting the control (at most ``acceptance_number`` deviations) when the
        true deviation rate equals the tolerable rate: the risk of overreliance the plan
        actually achieves. 0 when every item is tested.
    confidence : float or None
        The confidence asked for; for a frequency plan, the confidence the size achieves.
    tolerable_rate, expected_rate : float or None
        The tolerable deviation rate and the expected deviation rate (``None`` when the
        expectation was given as a count).
    expected_deviations : int or None
        Deviations expected in the sample (``ceil(n x expected_rate)`` or the count given).
    population_size : int or None
        N, when known.
    kind : str
        ``"statistical"``, ``"frequency"``, ``"two_stage"`` or ``"type1"``.
    statistical : bool
        Whether the size rests on a statistical model (frequency and Type 1 plans do not).
    test_all : bool
        The plan tests every item of the population (the size it needs is at least N).
    notes : tuple of str
        The conventions used and anything a reviewer should know, in words.
    second_stage_size : int or None
        Two-stage plans: items added after exactly one deviation in the first stage.
    frequency : str or None
        Frequency plans: the control frequency looked up in the table.
    """

    sample_size: int
    acceptance_number: int | None
    model: str
    achieved_risk: float | None
    confidence: float | None
    tolerable_rate: float | None
    expected_rate: float | None
    expected_deviations: int | None
    population_size: int | None
    kind: str
    statistical: bool
    test_all: bool
    notes: tuple[str, ...] = ()
    second_stage_size: int | None = None
    frequency: str | None = None

    @property
    def achieved_confidence(self) -> float | None:
        """``1 - achieved_risk`` (``None`` when the plan has no risk, as a Type 1 walkthrough)."""
        return None if self.achieved_risk is None else 1.0 - self.achieved_risk

    def _headline(self) -> str:
        title = _KIND_TITLES.get(self.kind, self.kind)
        if self.kind in ("statistical", "two_stage"):
            title += f" ({self.model} model)"
        elif self.kind == "frequency":
            title += f" ({self.frequency})"
        return title

    def to_table(self) -> list[tuple[str, str]]:
        """Label/value rows for a workpaper's parameters section.

        Returns
        -------
        list of (str, str)
        """
        rows: list[tuple[str, str]] = [
            ("Plan", self._headline()),
            ("Statistical", "yes" if self.statistical else "no (judgemental size)"),
            ("Model", self.model),
            ("Sample size", f"{self.sample_size:,}"),
        ]
        if self.second_stage_size is not None:
            rows.append(("Second-stage size (after exactly one deviation)", f"{self.second_stage_size:,}"))
        if self.acceptance_number is not None:
            rows.append(("Deviations allowed (acceptance number)", str(self.acceptance_number)))
        if self.frequency is not None:
            rows.append(("Control frequency", self.frequency))
        if self.confidence is not None:
            label = "Confidence achieved" if self.kind == "frequency" else "Confidence"
            places = 2 if self.kind == "frequency" else None
            rows.append((label, format_percent(self.confidence, places)))
        if self.tolerable_rate is not None:
            rows.append(("Tolerable deviation rate", format_percent(self.tolerable_rate)))
        if self.kind == "statistical":
            if self.expected_rate is not None:
                rows.append(("Expected deviation rate", format_percent(self.expected_rate)))
            if self.expected_deviations is not None:
                rows.append(("Expected deviations in the sample", str(self.expected_deviations)))
        rows.append(("Population size", "not used" if self.population_size is None
                     else f"{self.population_size:,}"))
        if self.achieved_risk is not None:
            rows.append(("Risk of overreliance achieved", format_percent(self.achieved_risk, 3)))
        rows.append(("Test every item", "yes" if self.test_all else "no"))
        rows.extend((f"Note {i}", note) for i, note in enumerate(self.notes, start=1))
        return rows

    def summary(self) -> str:
        """A few lines for people: the plan, its numbers, and the conventions behind them."""
        lines = [self._headline()]
        if self.test_all:
            lines.append(f"  Test all {self.sample_size:,} items of the population.")
        elif self.kind == "two_stage":
            lines.append(f"  Test {self.sample_size:,} items; if exactly one deviates, test "
                         f"{self.second_stage_size:,} more and accept only if none of them deviates.")
        else:
            noun = "item" if self.sample_size == 1 else "items"
            text = f"  Test {self.sample_size:,} {noun}"
            if self.acceptance_number == 0 and self.kind != "type1":
                text += ", accepting no deviation"
            elif self.acceptance_number is not None and self.kind != "type1":
                dev = "deviation" if self.acceptance_number == 1 else "deviations"
                text += f", accepting up to {self.acceptance_number} {dev}"
            lines.append(text + ".")
        lines.extend(summary_lines(self.to_table()[1:], ("Sample size",), self.notes))
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

def _ceil_times(ns: NDArray[np.int64], rate: Decimal) -> NDArray[np.int64]:
    """Exact ``ceil(n x rate)`` for every n in ``ns`` (integer arithmetic on rate's ratio)."""
    p, q = rate.as_integer_ratio()
    if p == 0:
        return np.zeros_like(ns)
    if p < 2**31 and q < 2**31 and int(ns[-1]) < 2**31:
        return -((-ns * p) // q)
    return np.array([-((-int(n) * p) // q) for n in ns], dtype=np.int64)


def _population_deviations(tolerable_rate: Decimal, population_size: int) -> int:
    """``K = ceil(TDR x N)`` in exact decimal arithmetic (``0.06 x 100`` is 6, not 7)."""
    return ceil_decimal(tolerable_rate * population_size)


def _smallest(accepts: Callable[[NDArray[np.int64]], NDArray[np.bool_]], start: int, stop: int) -> int | None:
    """The smallest n in ``[start, stop]`` where ``accepts`` is True, scanning every n.

    ``accepts`` maps an int64 array of candidate sizes to a boolean array. Candidates are
    examined in increasing blocks (512, 2048, ... up to 262,144 at a time), so the cost grows
    with the answer, and no monotonicity in n is assumed.
    """
    block = _BLOCK_FIRST
    low = start
    while low <= stop:
        high = min(stop, low + block - 1)
        ns = np.arange(low, high + 1, dtype=np.int64)
        hits = np.flatnonzero(accepts(ns))
        if hits.size:
            return int(ns[hits[0]])
        low = high + 1
        block = min(block * 4, _BLOCK_MAX)
    return None


def _acceptance(ns: NDArray[np.int64], expected_rate: Decimal | None, fixed: int | None) -> NDArray[np.int64]:
    if fixed is not None:
        return np.full_like(ns, fixed)
    assert expected_rate is not None
    return _ceil_times(ns, expected_rate)


def _accept_probability(model: str, ns: NDArray[np.int64], ks: NDArray[np.int64], tolerable_rate: Decimal,
                        population_size: int | None) -> NDArray[np.float64]:
    """P(at most k deviations in n items) when the population deviation rate is the TDR."""
    from scipy import stats  # imported on first use: about 0.6 s, not needed to import the module

    tdr = float(tolerable_rate)
    if model == "binomial":
        return _float_array(stats.binom.cdf(ks, ns, tdr))
    if model == "poisson":
        return _float_array(stats.poisson.cdf(ks, ns * tdr))
    assert population_size is not None
    big_k = _population_deviations(tolerable_rate, population_size)
    return _float_array(stats.hypergeom.cdf(ks, population_size, big_k, ns))


def _float_array(probabilities: float | NDArray[np.float64]) -> NDArray[np.float64]:
    """scipy's result as the float64 array it is for array arguments (the same array, no copy)."""
    return np.asarray(probabilities, dtype=np.float64)


def _zero_and_one(probabilities: float | NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The P(0) and P(1) rows of a probability array computed for ``[[0], [1]]`` deviations."""
    rows = _float_array(probabilities)
    return rows[0], rows[1]


_MODEL_NOTES = {
    "binomial": ("Binomial model (AICPA Audit Sampling guide, Appendix A, Tables A-1/A-2): "
                 "n is the smallest size with P(X <= k | n, TDR) <= 1 - confidence, a non-strict "
                 "inequality as in the published tables."),
    "hypergeometric": ("Hypergeometric model (finite population): the population is assumed to hold "
                       "K = ceil(TDR x N) deviations, computed exactly; n is the smallest size with "
                       "P(X <= k | N, K, n) <= 1 - confidence (non-strict inequality)."),
    "poisson": ("Poisson model (ACL convention): n is the smallest size with "
                "PoissonCDF(k; n x TDR) <= 1 - confidence (non-strict inequality); the population "
                "size does not enter the size."),
}


# --------------------------------------------------------------------------------------------
# Statistical plan
# --------------------------------------------------------------------------------------------

def plan(confidence: object, tolerable_rate: object, expected_rate: object = 0, *,
         expected_deviations: int | None = None, population_size: int | None = None,
         model: str = "binomial") -> Plan:
    """Plan a statistical attribute sample for a test of controls.

    Parameters
    ----------
    confidence : float, str or Decimal
        Confidence level in (0, 1); the risk of overreliance is ``1 - confidence``.
    tolerable_rate : float, str or Decimal
        Tolerable deviation rate (TDR) in (0, 1).
    expected_rate : float, str or Decimal, default 0
        Expected population deviation rate (EDR), ``0 <= EDR < TDR``. The deviations the plan
        tolerates are ``k = ceil(n x EDR)``, computed exactly and always rounded **up**.
    expected_deviations : int, optional
        Alternative to ``expected_rate``: a fixed number of deviations the plan tolerates
        (the acceptance number), e.g. 1. Giving both is an error.
    population_size : int, optional
        N. Required for ``model="hypergeometric"``. For the other models it is only used to
        switch to testing every item when the size reaches N.
    model : {"binomial", "hypergeometric", "poisson"}
        ``binomial`` reproduces the AICPA *Audit Sampling* guide, Appendix A, Tables A-1 and A-2
        (``sampling.md`` anchor 1); ``hypergeometric`` uses ``K = ceil(TDR x N)`` (anchor 3,
        DCAA EZ-Quant); ``poisson`` follows ACL (anchor 5) and ignores N.

    Returns
    -------
    Plan
        ``sample_size`` is the smallest n with ``P(X <= k) <= 1 - confidence`` under the model,
        ``acceptance_number`` is k at that n, ``achieved_risk`` the probability at that n. When
        n would reach or exceed N, the plan tests all N items (``test_all=True``, with a note).

    Raises
    ------
    ConfidenceError, RateError, SizeError, ModelError
        For inputs outside their range; the message names the parameter, rule and value.

    Examples
    --------
    >>> plan(0.95, 0.05).sample_size          # AICPA Table A-1, TDR 5 %, EDR 0
    59
    >>> p = plan(0.90, 0.05, "0.035")         # Table A-2: 400 (14)
    >>> (p.sample_size, p.acceptance_number)
    (400, 14)
    """
    model = check_model(model, MODELS)
    conf = to_confidence(confidence)
    tdr = to_probability(tolerable_rate, "tolerable_rate")
    size_n = to_population_size(population_size)
    fixed: int | None = None
    edr: Decimal | None
    if expected_deviations is not None:
        fixed = to_count(expected_deviations, "expected_deviations")
        if to_probability(expected_rate, "expected_rate", allow_zero=True) != 0:
            raise RateError(f"give either expected_rate or expected_deviations, not both; got "
                            f"expected_rate={expected_rate!r} and expected_deviations={expected_deviations!r}.")
        edr = None
    else:
        edr = to_probability(expected_rate, "expected_rate", allow_zero=True)
        if edr >= tdr:
            raise RateError(f"expected_rate must be below tolerable_rate; got expected_rate={expected_rate!r} "
                            f">= tolerable_rate={tolerable_rate!r}. Lower the expected rate or raise the "
                            "tolerable rate.")
    require_population(model, size_n)
    risk = float(1 - conf)

    notes = [_MODEL_NOTES[model]]
    if fixed is not None:
        notes.append(f"The plan tolerates a fixed {fixed} deviation(s) (expected_deviations given as a count).")
    else:
        notes.append("Expected deviations k = ceil(n x expected rate): rounded up, computed in exact decimal "
                     "arithmetic (400 x 0.035 = 14, not 14.000000000000002).")

    big_k = None
    if model == "hypergeometric":
        assert size_n is not None
        big_k = _population_deviations(tdr, size_n)
        if fixed is not None and fixed >= big_k:
            raise RateError(f"expected_deviations must be below the deviations the population may hold at the "
                            f"tolerable rate, K = ceil(tolerable_rate x population_size) = {big_k}; got "
                            f"expected_deviations={fixed}. Lower it or raise the tolerable rate.")
        notes.append(f"K = ceil({format_percent(tdr)} x {size_n:,}) = {big_k} deviations in the population.")
    if model == "poisson" and size_n is not None:
        notes.append(f"The Poisson model ignores the population size ({size_n:,}); it is used only to test "
                     "every item if the size reaches it.")

    def accepts(ns: NDArray[np.int64]) -> NDArray[np.bool_]:
        ks = _acceptance(ns, edr, fixed)
        return _accept_probability(model, ns, ks, tdr, size_n) <= risk

    stop = MAX_SAMPLE_SIZE if size_n is None else min(MAX_SAMPLE_SIZE, size_n)
    start = 1 if fixed is None else fixed + 1
    n = _smallest(accepts, start, stop) if start <= stop else None

    def k_at(n_: int) -> int:
        return int(_acceptance(np.array([n_], dtype=np.int64), edr, fixed)[0])

    make_plan = partial(Plan, model=model, confidence=float(conf), tolerable_rate=float(tdr),
                        expected_rate=None if edr is None else float(edr), population_size=size_n,
                        kind="statistical", statistical=True)
    if n is None and size_n is None:
        raise SizeError(f"no sample size up to {MAX_SAMPLE_SIZE:,} meets confidence={confidence!r} at "
                        f"tolerable_rate={tolerable_rate!r} with "
                        + (f"expected_deviations={fixed}" if fixed is not None else f"expected_rate={expected_rate!r}")
                        + "; the expected deviations are too close to the tolerable rate. Lower the expected "
                        "rate, raise the tolerable rate or lower the confidence.")
    if n is None or (size_n is not None and n >= size_n):
        assert size_n is not None
        needed = (f"needs {n:,} items" if n is not None
                  else f"needs more than the {size_n:,} items in the population")
        notes.append(f"The {model} plan {needed}; every item is tested instead (all {size_n:,}), "
                     "so there is no sampling risk.")
        k_all = k_at(size_n)
        return make_plan(sample_size=size_n, acceptance_number=k_all, achieved_risk=0.0,
                         expected_deviations=k_all, test_all=True, notes=tuple(notes))
    k = k_at(n)
    achieved = float(_accept_probability(model, np.array([n], dtype=np.int64), np.array([k], dtype=np.int64),
                                         tdr, size_n)[0])
    if model == "binomial" and size_n is not None:
        notes.append(f"The binomial model ignores the population size ({size_n:,}) and is conservative "
                     "for a finite population; model='hypergeometric' would need fewer items.")
    return make_plan(sample_size=n, acceptance_number=k, achieved_risk=achieved, expected_deviations=k,
                     test_all=False, notes=tuple(notes))


# --------------------------------------------------------------------------------------------
# Frequency table (non-statistical)
# --------------------------------------------------------------------------------------------

def _normalise_frequency(value: object) -> str:
    return str(value).strip().lower().replace("-", "_").replace(" ", "_")


def plan_frequency(frequency: str, *, tolerable_rate: object, population_size: int | None = None,
                   table: Mapping[str, int] | None = None,
                   confidence_model: str = "hypergeometric") -> Plan:
    """Look a control's frequency up in the firm's table: a judgemental, non-statistical size.

    The size is the firm's convention (``sampling.md`` §4.2; neither the AICPA nor the PCAOB
    prescribes sizes). The plan is labelled non-statistical and shows the confidence the size
    actually achieves at the tolerable rate if no deviation is found (§4.3):
    ``1 - P(0 deviations)``, hypergeometric with ``K = ceil(TDR x N)`` when N is known, else
    binomial ``1 - (1 - TDR)^n``.

    Parameters
    ----------
    frequency : str
        A key of the table, e.g. ``"weekly"`` (case, spaces and hyphens are ignored:
        ``"Many times a day"`` is ``many_times_a_day``).
    tolerable_rate : float, str or Decimal
        The engagement's tolerable deviation rate, in (0, 1).
    population_size : int, optional
        Occurrences of the control in the period. At or below the table size, every item is
        tested.
    table : mapping of str to int, optional
        The firm's table; default :data:`DEFAULT_FREQUENCY_TABLE` (annual 1, quarterly 2,
        monthly 2, weekly 5, daily 25, many_times_a_day 40).
    confidence_model : {"hypergeometric", "binomial"}
        How the achieved confidence is computed; the hypergeometric needs ``population_size``
        and falls back to the binomial without it.

    Returns
    -------
    Plan
        ``kind="frequency"``, ``statistical=False``, ``acceptance_number=0``; ``confidence``
        is the confidence achieved, ``achieved_risk`` its complement.

    Raises
    ------
    ModelError
        Unknown frequency (the message lists the valid ones) or confidence model.
    RateError, SizeError
        Tolerable rate outside (0, 1); a table size or population size that is not a whole
        number >= 1.
    """
    confidence_model = check_model(confidence_model, ("hypergeometric", "binomial"), "confidence_model")
    tdr = to_probability(tolerable_rate, "tolerable_rate")
    size_n = to_population_size(population_size)
    source = DEFAULT_FREQUENCY_TABLE if table is None else table
    sizes: dict[str, int] = {}
    for key, value in source.items():
        name = _normalise_frequency(key)
        sizes[name] = to_count(value, f"table[{key!r}]", minimum=1)
    wanted = _normalise_frequency(frequency)
    if wanted not in sizes:
        raise ModelError(f"frequency must be one of {', '.join(sizes)}; got {frequency!r}. Add it to the "
                         "frequency table or plan a statistical sample with plan().")
    size = sizes[wanted]
    notes = [
        f"Non-statistical (judgemental) size from the firm's frequency table: {wanted} -> {size}. "
        + ("Default table: the Chiaro SOC 2 table (workflow.md section 1.6)." if table is None
           else "Table supplied by the engagement."),
    ]
    make_plan = partial(Plan, acceptance_number=0, tolerable_rate=float(tdr), expected_rate=0.0,
                        expected_deviations=0, population_size=size_n, kind="frequency", statistical=False,
                        frequency=wanted)
    if size_n is not None and size_n <= size:
        notes.append(f"The population ({size_n:,}) is not larger than the table size ({size}): every item is tested.")
        return make_plan(sample_size=size_n, model=confidence_model, achieved_risk=0.0, confidence=1.0,
                         test_all=True, notes=tuple(notes))
    from scipy import stats  # imported on first use: about 0.6 s, not needed to import the module

    if confidence_model == "hypergeometric" and size_n is not None:
        big_k = _population_deviations(tdr, size_n)
        p0 = float(stats.hypergeom.pmf(0, size_n, big_k, size))
        used = "hypergeometric"
        how = f"hypergeometric, N = {size_n:,}, K = ceil(TDR x N) = {big_k}"
    else:
        p0 = float(stats.binom.pmf(0, size, float(tdr)))
        used = "binomial"
        how = "binomial, population size unknown" if size_n is None and confidence_model == "hypergeometric" \
            else "binomial"
    notes.append(f"With no deviation in {size} items, the confidence that the deviation rate is below "
                 f"{format_percent(tdr)} is {format_percent(1 - p0, 1)} ({how}). The size is not a statistical "
                 "sample; it rests on judgement and other evidence.")
    return make_plan(sample_size=size, model=used, achieved_risk=p0, confidence=1.0 - p0, test_all=False,
                     notes=tuple(notes))


# --------------------------------------------------------------------------------------------
# Two-stage (1,0) plan
# --------------------------------------------------------------------------------------------

def _two_stage_risks(ns: NDArray[np.int64], tolerable_rate: Decimal, population_size: int | None,
                     model: str) -> NDArray[np.float64]:
    from scipy import stats  # imported on first use: about 0.6 s, not needed to import the module

    tdr = float(tolerable_rate)
    zero_one = np.array([[0], [1]])      # P(0) and P(1) in one vectorised call
    if model == "binomial":
        p0, p1 = _zero_and_one(stats.binom.pmf(zero_one, ns, tdr))
        return p0 + p1 * p0
    if model == "poisson":
        p0, p1 = _zero_and_one(stats.poisson.pmf(zero_one, ns * tdr))
        return p0 + p1 * p0
    assert population_size is not None
    big_k = _population_deviations(tolerable_rate, population_size)
    p0, p1 = _zero_and_one(stats.hypergeom.pmf(zero_one, population_size, big_k, ns))
    # second stage: n more from the N - n items left, which hold K - 1 deviations
    p0_second = _float_array(stats.hypergeom.pmf(0, population_size - ns, big_k - 1, ns))
    return p0 + p1 * p0_second


def two_stage_risk(sample_size: int, tolerable_rate: object, *, population_size: int | None = None,
                   model: str = "binomial") -> float:
    """Risk of overreliance of the (1,0) two-stage plan with ``sample_size`` items per stage.

    The plan: test n items; accept with 0 deviations; with exactly 1, test n more and accept
    only if they hold none. At the tolerable rate the risk is ``P0 + P1 x P0'`` (``sampling.md``
    anchor 8, Touw & Hoogduin p. 129), with P0, P1 the probabilities of 0 and 1 deviations in n
    items, and P0' that of 0 in the second n (hypergeometric: drawn from the N - n items left,
    holding K - 1 deviations).

    Examples
    --------
    >>> round(two_stage_risk(25, 0.10), 4)    # "25, then 25 more": valid at 90 %
    0.0861
    >>> round(two_stage_risk(22, 0.10), 4)    # on the 22-item discovery size: not valid at 90 %
    0.1222
    """
    model = check_model(model, MODELS)
    tdr = to_probability(tolerable_rate, "tolerable_rate")
    n = to_count(sample_size, "sample_size", minimum=1)
    size_n = to_population_size(population_size)
    require_population(model, size_n)
    if model == "hypergeometric":
        assert size_n is not None
        if 2 * n > size_n:
            raise SizeError(f"sample_size must be at most half the population for two stages of it; got "
                            f"sample_size={n} with population_size={size_n}.")
    return float(_two_stage_risks(np.array([n], dtype=np.int64), tdr, size_n, model)[0])


def plan_two_stage(confidence: object, tolerable_rate: object, *, population_size: int | None = None,
                   model: str = "binomial") -> Plan:
    """Plan a two-stage (1,0) sequential sample.

    Test n items. With no deviation, stop and accept. With exactly one, test n more and accept
    only if none of them deviates. With two or more, do not rely on the control. The per-stage n
    is the smallest with ``P0 + P1 x P0' < 1 - confidence`` (strict inequality), where the
    probabilities are taken at the tolerable rate (``sampling.md`` anchor 8: 49 at TDR 5 % / 90 %,
    61 at 5 % / 95 %, 24 at 10 % / 90 %, 30 at 10 % / 95 %; Touw & Hoogduin p. 129 and jfa).

    Parameters
    ----------
    confidence, tolerable_rate : float, str or Decimal
        In (0, 1).
    population_size : int, optional
        N; required for the hypergeometric model. When two stages would need more than N
        items, the plan tests every item.
    model : {"binomial", "hypergeometric", "poisson"}

    Returns
    -------
    Plan
        ``kind="two_stage"``, ``sample_size`` and ``second_stage_size`` both n,
        ``acceptance_number=0`` (for the first stage), ``achieved_risk`` the plan's risk.
    """
    model = check_model(model, MODELS)
    conf = to_confidence(confidence)
    tdr = to_probability(tolerable_rate, "tolerable_rate")
    size_n = to_population_size(population_size)
    require_population(model, size_n)
    risk = float(1 - conf)
    notes = [
        "Two-stage (1,0) plan: test n items; 0 deviations -> rely on the control; exactly 1 -> test n more "
        "and rely only if none of them deviates; 2 or more -> do not rely.",
        "Risk of overreliance at the tolerable rate = P(0 in n) + P(1 in n) x P(0 in the next n); n is the "
        "smallest size with a risk strictly below 1 - confidence.",
    ]
    if model == "hypergeometric":
        assert size_n is not None
        notes.append(f"Hypergeometric: K = ceil(TDR x N) = {_population_deviations(tdr, size_n)}; the second "
                     "stage is drawn from the items left, holding K - 1 deviations.")
        stop = size_n // 2
    else:
        stop = MAX_SAMPLE_SIZE if size_n is None else min(MAX_SAMPLE_SIZE, size_n // 2)

    def accepts(ns: NDArray[np.int64]) -> NDArray[np.bool_]:
        return _two_stage_risks(ns, tdr, size_n, model) < risk

    n = _smallest(accepts, 1, stop) if stop >= 1 else None
    make_plan = partial(Plan, acceptance_number=0, model=model, confidence=float(conf),
                        tolerable_rate=float(tdr), expected_rate=0.0, expected_deviations=0,
                        population_size=size_n, kind="two_stage", statistical=True)
    if n is None:
        if size_n is None:  # pragma: no cover - the risk falls below any level long before the cap
            raise SizeError(f"no two-stage size up to {MAX_SAMPLE_SIZE:,} meets confidence={confidence!r} "
                            f"at tolerable_rate={tolerable_rate!r}.")
        notes.append(f"Two stages would need more than the {size_n:,} items in the population: every item is "
                     "tested instead, so there is no sampling risk.")
        return make_plan(sample_size=size_n, achieved_risk=0.0, test_all=True, notes=tuple(notes),
                         second_stage_size=None)
    achieved = float(_two_stage_risks(np.array([n], dtype=np.int64), tdr, size_n, model)[0])
    return make_plan(sample_size=n, achieved_risk=achieved, test_all=False, notes=tuple(notes),
                     second_stage_size=n)


# --------------------------------------------------------------------------------------------
# Type 1
# --------------------------------------------------------------------------------------------

def plan_type1() -> Plan:
    """The Type 1 plan: one instance of the control (a walkthrough) for design and implementation.

    A Type 1 report covers the design of controls and their implementation as of a date, not
    their operating effectiveness over a period, so no sample is drawn: one instance is
    inspected (DESIGN.md §4). Non-statistical; no confidence or risk applies.
    """
    return Plan(sample_size=1, acceptance_number=0, model="none", achieved_risk=None, confidence=None,
                tolerable_rate=None, expected_rate=None, expected_deviations=None, population_size=None,
                kind="type1", statistical=False, test_all=False,
                notes=("Type 1: design and implementation are tested as of a date with one instance of the "
                       "control (a walkthrough); operating effectiveness over a period is not tested, so no "
                       "statistical sample is drawn.",))
