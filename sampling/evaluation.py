"""Evaluation of an attribute sample: upper deviation limit and the conclusion on reliance.

Conventions (``shared/domain/sampling.md``, anchors 2, 4 and 5):

* **binomial** (the AICPA *Audit Sampling* guide, Appendix A, Tables A-3 and A-4): the exact
  one-sided Clopper-Pearson limit ``BetaQuantile(confidence; k + 1, n - k)`` (1 when k = n).
* **hypergeometric** (finite population of N): the largest K with
  ``P(X <= k | N, K, n) > 1 - confidence``, divided by N (a multiple of 1/N).
* **poisson** (the ACL convention): ``GammaQuantile(confidence; k + 1) / n``.

The limit is kept exact (to float precision); ``table_upper_limit`` rounds it **up** to 0.1 %, as
the printed AICPA tables do, so a reviewer can compare it with the book.

The quantiles and probabilities come from ``scipy.stats``, imported when :func:`evaluate` first
needs them (it takes about 0.6 s to import): importing this module loads numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from sampling.errors import SizeError
from sampling.inputs import (
    check_model,
    format_percent,
    require_population,
    summary_lines,
    to_confidence,
    to_count,
    to_population_size,
    to_probability,
)
from sampling.planning import MODELS

__all__ = ["Evaluation", "evaluate", "table_rounding"]


def table_rounding(upper_limit: float) -> float:
    """Round a limit **up** to 0.1 %, as the AICPA tables print it: ``ceil(ul x 1000) / 1000``.

    ``ul x 1000`` is first rounded to 9 decimals so that float noise (0.0490000000000001 x 1000)
    does not push an exact 4.9 % up to 5.0 %.
    """
    return _round_up(upper_limit, 1000)


def _round_up(value: float, scale: int) -> float:
    """``ceil(value x scale) / scale``, with ``value x scale`` first rounded to 9 decimals (float noise)."""
    return math.ceil(round(value * scale, 9)) / scale


@dataclass(frozen=True)
class Evaluation:
    """The evaluation of a sample for a test of controls.

    Attributes
    ----------
    sample_size, deviations : int
        n items tested and the k deviations found.
    confidence : float
        Confidence level of the upper limit.
    model : str
        ``"binomial"``, ``"hypergeometric"`` or ``"poisson"``.
    population_size : int or None
        N, when known.
    upper_limit : float
        The exact upper deviation limit (to float precision).
    sample_rate : float
        k / n.
    table_upper_limit : float
        ``upper_limit`` rounded up to 0.1 %, as the AICPA Appendix A tables print it.
    allowance_for_sampling_risk : float
        ``upper_limit - sample_rate``.
    tolerable_rate : float or None
        The tolerable deviation rate the conclusion is drawn against.
    conclusion : str or None
        One sentence for the workpaper, with a tolerable rate.
    supports_reliance : bool or None
        Binomial and Poisson: ``upper_limit <= tolerable_rate`` (a limit equal to the tolerable
        rate supports reliance: then ``P(X <= k)`` at the tolerable rate is exactly
        ``1 - confidence``). Hypergeometric: ``upper_limit < tolerable_rate``, because the limit
        ``K_U / N`` is itself a deviation count the population may hold; this is the planning
        rule ``P(X <= k | N, ceil(TDR x N), n) <= 1 - confidence`` restated.
    notes : tuple of str
        The conventions used, in words.
    """

    sample_size: int
    deviations: int
    confidence: float
    model: str
    population_size: int | None
    upper_limit: float
    sample_rate: float
    table_upper_limit: float
    allowance_for_sampling_risk: float
    tolerable_rate: float | None
    conclusion: str | None
    supports_reliance: bool | None
    notes: tuple[str, ...] = ()

    def to_table(self) -> list[tuple[str, str]]:
        """Label/value rows for a workpaper's evaluation section."""
        rows = [
            ("Model", self.model),
            ("Sample size", f"{self.sample_size:,}"),
            ("Deviations found", str(self.deviations)),
            ("Sample deviation rate", format_percent(self.sample_rate, 2)),
            ("Confidence", format_percent(self.confidence)),
            ("Population size", "not used" if self.population_size is None else f"{self.population_size:,}"),
            ("Upper deviation limit (exact)", format_percent(self.upper_limit, 2)),
            ("Upper deviation limit (rounded up to 0.1 %, as the AICPA tables)",
             format_percent(self.table_upper_limit, 1, strip=False)),
            ("Allowance for sampling risk", format_percent(self.allowance_for_sampling_risk, 2)),
        ]
        if self.tolerable_rate is not None:
            rows.append(("Tolerable deviation rate", format_percent(self.tolerable_rate)))
            rows.append(("Supports reliance", "yes" if self.supports_reliance else "no"))
            rows.append(("Conclusion", self.conclusion or ""))
        rows.extend((f"Note {i}", note) for i, note in enumerate(self.notes, start=1))
        return rows

    def summary(self) -> str:
        """A few lines for people: the result, the limit, the conclusion and the conventions."""
        dev = "deviation" if self.deviations == 1 else "deviations"
        lines = [f"Evaluation ({self.model} model): {self.deviations} {dev} in {self.sample_size:,} items"]
        lines.extend(summary_lines(self.to_table(), ("Model", "Sample size", "Deviations found"), self.notes))
        return "\n".join(lines)


def _hypergeometric_limit(n: int, k: int, population_size: int, alpha: float) -> int:
    """Largest K with ``P(X <= k | N, K, n) > alpha`` (the CDF falls as K grows: bisection)."""
    from scipy import stats  # imported on first use: about 0.6 s, not needed to import the module

    def above(big_k: int) -> bool:
        return float(stats.hypergeom.cdf(k, population_size, big_k, n)) > alpha

    low = k                                  # P(X <= k) = 1 when the population holds only k
    high = population_size - n + k           # beyond this, X > k for sure
    if above(high):
        return high
    while high - low > 1:                    # invariant: above(low) and not above(high)
        mid = (low + high) // 2
        if above(mid):
            low = mid
        else:
            high = mid
    return low


def _exact_text(upper_limit: float) -> str:
    """The limit rounded up to 0.01 %, as the conclusion shows the exact value."""
    return format_percent(_round_up(upper_limit, 10000), 2, strip=False)


def _display_limit(upper_limit: float, tolerable_rate: Decimal) -> str:
    """The limit as the conclusion shows it: rounded up, to 0.1 % (0.01 % for finer rates)."""
    if (tolerable_rate * 1000) == (tolerable_rate * 1000).to_integral_value():
        return format_percent(table_rounding(upper_limit), 1, strip=False)
    return _exact_text(upper_limit)


def evaluate(sample_size: int, deviations: int, confidence: object, *, population_size: int | None = None,
             model: str = "binomial", tolerable_rate: object | None = None) -> Evaluation:
    """Evaluate an attribute sample: upper deviation limit and, with a tolerable rate, the conclusion.

    Parameters
    ----------
    sample_size : int
        n, items tested (>= 1).
    deviations : int
        k, deviations found (0 <= k <= n).
    confidence : float, str or Decimal
        Confidence level in (0, 1).
    population_size : int, optional
        N (>= n). Required for ``model="hypergeometric"``; otherwise recorded only.
    model : {"binomial", "hypergeometric", "poisson"}
        ``binomial``: ``beta.ppf(confidence, k + 1, n - k)``, the exact Clopper-Pearson limit of the
        AICPA *Audit Sampling* guide, Appendix A, Tables A-3/A-4 (``sampling.md`` anchor 2).
        ``hypergeometric``: largest K with ``P(X <= k | N, K, n) > 1 - confidence``, over N
        (anchor 4). ``poisson``: ``gamma.ppf(confidence, k + 1) / n`` (ACL, anchor 5), capped at 1.
    tolerable_rate : float, str or Decimal, optional
        With it, ``supports_reliance`` (``upper_limit <= tolerable_rate``; strictly below for the
        hypergeometric, see :class:`Evaluation`) and a conclusion sentence.

    Returns
    -------
    Evaluation

    Raises
    ------
    SizeError, ConfidenceError, RateError, ModelError
        Impossible counts, values outside their range, or a hypergeometric evaluation without N.

    Examples
    --------
    >>> e = evaluate(25, 1, 0.90, tolerable_rate=0.10)
    >>> e.table_upper_limit
    0.147
    >>> e.conclusion
    "The upper deviation limit of 14.69 % (14.7 % in the AICPA tables' rounding) exceeds the tolerable rate of 10 %: the sample does not support reliance on the control."
    """
    model = check_model(model, MODELS)
    n = to_count(sample_size, "sample_size", minimum=1)
    k = to_count(deviations, "deviations")
    if k > n:
        raise SizeError(f"deviations must not exceed sample_size; got deviations={deviations!r} > "
                        f"sample_size={sample_size!r}.")
    conf = to_confidence(confidence)
    size_n = to_population_size(population_size)
    if size_n is not None and n > size_n:
        raise SizeError(f"sample_size must not exceed population_size; got sample_size={sample_size!r} > "
                        f"population_size={population_size!r}.")
    require_population(model, size_n)
    tdr = None if tolerable_rate is None else to_probability(tolerable_rate, "tolerable_rate")
    alpha = float(1 - conf)
    conf_f = float(conf)
    notes: list[str] = []
    from scipy import stats  # imported on first use: about 0.6 s, not needed to import the module

    if model == "binomial":
        upper = 1.0 if k == n else float(stats.beta.ppf(conf_f, k + 1, n - k))
        notes.append("Binomial model (AICPA Audit Sampling guide, Appendix A, Tables A-3/A-4): exact one-sided "
                     f"Clopper-Pearson limit BetaQuantile({format_percent(conf)}; k + 1, n - k).")
        if size_n is not None:
            notes.append(f"The binomial limit ignores the population size ({size_n:,}); it is conservative for a "
                         "finite population.")
    elif model == "poisson":
        upper = float(stats.gamma.ppf(conf_f, k + 1)) / n
        notes.append(f"Poisson model (ACL convention): limit = GammaQuantile({format_percent(conf)}; k + 1) / n; "
                     "the population size is ignored.")
        if upper > 1.0:
            notes.append(f"The Poisson limit ({format_percent(upper, 2)}) exceeds 100 % and is shown as 100 %.")
            upper = 1.0
    else:
        assert size_n is not None
        big_k = _hypergeometric_limit(n, k, size_n, alpha)
        upper = big_k / size_n
        notes.append(f"Hypergeometric model: K = {big_k} is the largest number of deviations in the population of "
                     f"{size_n:,} with P(X <= {k} | N, K, n) > 1 - confidence; limit = K / N.")
    notes.append("The limit is exact; the table value rounds it up to 0.1 %, as the printed AICPA tables do.")
    rate = k / n
    table = table_rounding(upper)
    conclusion = None
    supports = None
    if tdr is not None:
        exact_upper = Decimal(repr(upper))
        if model == "hypergeometric":
            # K_U deviations are still plausible, so the limit must stay below the tolerable rate:
            # K_U < ceil(TDR x N) is exactly the planning rule P(X <= k | N, ceil(TDR x N), n) <= 1 - conf.
            supports = exact_upper < tdr
            notes.append("Reliance is supported when the limit is below the tolerable rate: the limit is itself a "
                         "number of deviations the population may hold (the same rule as the hypergeometric plan).")
            # a whole number of deviations in the population: show it
            assert size_n is not None  # require_population: the hypergeometric model has N
            limit_text = f"{format_percent(upper, 2)} ({round(upper * size_n)} of {size_n:,} items)"
        else:
            supports = exact_upper <= tdr
            notes.append("Reliance is supported when the exact limit is at or below the tolerable rate, i.e. when "
                         "P(X <= k) at the tolerable rate is at most 1 - confidence (the planning rule).")
            # exact (rounded up to 0.01 %), then the value the printed AICPA tables would show
            exact_text, shown = _exact_text(upper), _display_limit(upper, tdr)
            limit_text = exact_text if exact_text == shown else f"{exact_text} ({shown} in the AICPA tables' rounding)"
        if supports:
            verb = "is below" if model == "hypergeometric" else "does not exceed"
            outcome = "supports"
        else:
            verb = "reaches" if exact_upper == tdr else "exceeds"
            outcome = "does not support"
        conclusion = (f"The upper deviation limit of {limit_text} {verb} the tolerable rate of "
                      f"{format_percent(tdr)}: the sample {outcome} reliance on the control.")
    return Evaluation(sample_size=n, deviations=k, confidence=conf_f, model=model, population_size=size_n,
                      upper_limit=upper, sample_rate=rate, table_upper_limit=table,
                      allowance_for_sampling_risk=upper - rate, tolerable_rate=None if tdr is None else float(tdr),
                      conclusion=conclusion, supports_reliance=supports, notes=tuple(notes))
