"""Evaluation: upper deviation limits under the three models, the conclusion, rounding and errors.

Expected values come from ``shared/domain/sampling.md`` (published anchors), closed forms, or a
small exact oracle written here with ``fractions``/``math.comb``; never from the engine.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from math import comb

import pytest

from sampling import ConfidenceError, Evaluation, ModelError, RateError, SamplingError, SizeError, evaluate, plan
from sampling.evaluation import table_rounding


def hyper_cdf(k: int, population: int, deviations: int, n: int) -> Fraction:
    total = comb(population, n)
    return sum(Fraction(comb(deviations, i) * comb(population - deviations, n - i), total) for i in range(k + 1))


def hyper_limit_oracle(n: int, k: int, population: int, confidence: str) -> int:
    alpha = 1 - Fraction(confidence)
    return max(big_k for big_k in range(k, population - n + k + 1) if hyper_cdf(k, population, big_k, n) > alpha)


# ---- binomial anchors ----------------------------------------------------------------------------

def test_fifty_items_one_deviation() -> None:
    # sampling.md 4.5: 50 items with 1 deviation: UDL 7.56 % (90 %) and 9.14 % (95 %)
    assert round(evaluate(50, 1, 0.90).upper_limit, 4) == 0.0756
    assert round(evaluate(50, 1, 0.95).upper_limit, 4) == 0.0914


def test_twenty_five_items_one_deviation_conclusion() -> None:
    # sampling.md 4.5 and AICPA Table A-4 (n = 25, 1 deviation): 14.7 %
    result = evaluate(25, 1, 0.90, tolerable_rate=0.10)
    assert result.table_upper_limit == 0.147
    assert 0.146 < result.upper_limit < 0.147
    assert result.sample_rate == 0.04
    assert result.allowance_for_sampling_risk == pytest.approx(result.upper_limit - 0.04)
    assert result.supports_reliance is False
    assert result.conclusion == ("The upper deviation limit of 14.69 % (14.7 % in the AICPA tables' rounding) exceeds the tolerable rate of 10 %: "
                                 "the sample does not support reliance on the control.")


def test_zero_deviations_closed_form_and_supporting_conclusion() -> None:
    # k = 0: the Clopper-Pearson limit is 1 - (1 - conf)^(1/n); 59 items at 95 % -> 4.95 % < 5 %
    result = evaluate(59, 0, 0.95, tolerable_rate=0.05)
    assert result.upper_limit == pytest.approx(1 - 0.05 ** (1 / 59), rel=1e-12)
    assert result.supports_reliance is True
    assert result.conclusion == ("The upper deviation limit of 4.96 % (5.0 % in the AICPA tables' rounding) does not exceed "
                                 "the tolerable rate of 5 %: "
                                 "the sample supports reliance on the control.")


def test_conclusion_uses_finer_rounding_for_finer_tolerable_rates() -> None:
    result = evaluate(59, 0, 0.95, tolerable_rate="0.0525")
    assert result.conclusion.startswith("The upper deviation limit of 4.96 % does not exceed the tolerable rate "
                                        "of 5.25 %")


def test_all_items_deviate() -> None:
    result = evaluate(10, 10, 0.90)
    assert (result.upper_limit, result.sample_rate, result.allowance_for_sampling_risk) == (1.0, 1.0, 0.0)


def test_binomial_records_population_with_a_note() -> None:
    result = evaluate(50, 1, 0.90, population_size=200)
    assert result.population_size == 200
    assert round(result.upper_limit, 4) == 0.0756
    assert any("ignores the population size" in note for note in result.notes)


# ---- hypergeometric ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("n", "k", "population", "confidence"), [
    (50, 1, 200, "0.90"), (25, 0, 60, "0.95"), (30, 2, 100, "0.90"), (12, 1, 12, "0.90"), (5, 0, 52, "0.90"),
])
def test_hypergeometric_limit_matches_exact_oracle(n: int, k: int, population: int, confidence: str) -> None:
    result = evaluate(n, k, confidence, population_size=population, model="hypergeometric")
    big_k = hyper_limit_oracle(n, k, population, confidence)
    assert result.upper_limit == big_k / population
    assert any(f"K = {big_k}" in note for note in result.notes)


def test_hypergeometric_whole_population_limit_is_the_rate() -> None:
    result = evaluate(40, 3, 0.95, population_size=40, model="hypergeometric")
    assert result.upper_limit == 3 / 40 and result.allowance_for_sampling_risk == 0


def test_hypergeometric_limit_equal_to_tolerable_rate_does_not_support() -> None:
    # N = 100, TDR 5 %: K_T = 5. With 0 deviations in 32 items K = 5 is still plausible
    # (P(0 | N=100, K=5, n=32) > 0.10), so the limit is 5 % and reliance is not supported; the
    # hypergeometric plan for these inputs needs 37 items, and 37 clean items do support it.
    assert hyper_cdf(0, 100, 5, 32) > Fraction(1, 10) >= hyper_cdf(0, 100, 5, 37)
    at_32 = evaluate(32, 0, 0.90, population_size=100, model="hypergeometric", tolerable_rate=0.05)
    assert at_32.upper_limit == 0.05 and at_32.supports_reliance is False
    assert at_32.conclusion == ("The upper deviation limit of 5 % (5 of 100 items) reaches the tolerable rate of 5 %: "
                                "the sample does not support reliance on the control.")
    at_37 = evaluate(37, 0, 0.90, population_size=100, model="hypergeometric", tolerable_rate=0.05)
    assert at_37.supports_reliance is True and "is below the tolerable rate" in at_37.conclusion
    assert plan(0.90, 0.05, population_size=100, model="hypergeometric").sample_size == 37


# ---- Poisson ----------------------------------------------------------------------------------------

def test_poisson_limit_closed_form() -> None:
    # k = 0: GammaQuantile(conf; 1) = -ln(1 - conf); limit = -ln(0.05) / 100 at 95 %
    result = evaluate(100, 0, 0.95, model="poisson")
    assert result.upper_limit == pytest.approx(-math.log(0.05) / 100, rel=1e-12)
    # k = 1: P(Poisson(m) <= 1) = e^-m (1 + m) = 0.10 at the limit m
    one = evaluate(50, 1, 0.90, model="poisson")
    m = one.upper_limit * 50
    assert math.exp(-m) * (1 + m) == pytest.approx(0.10, rel=1e-9)


def test_poisson_limit_is_capped_at_one_with_a_note() -> None:
    result = evaluate(5, 5, 0.90, model="poisson")
    assert result.upper_limit == 1.0
    assert any("exceeds 100 %" in note for note in result.notes)


# ---- rounding, object, text -------------------------------------------------------------------------

def test_table_rounding_rounds_up_and_ignores_float_noise() -> None:
    assert table_rounding(0.147) == 0.147
    assert table_rounding(0.1470000000001) == 0.147
    assert table_rounding(0.14701) == 0.148
    assert table_rounding(0.14665) == 0.147
    assert table_rounding(0.0) == 0.0 and table_rounding(1.0) == 1.0


def test_evaluation_object() -> None:
    result = evaluate(60, 2, "0.95", tolerable_rate="0.10")
    names = {f.name for f in dataclasses.fields(Evaluation)}
    assert {"sample_size", "deviations", "confidence", "model", "population_size", "upper_limit", "sample_rate",
            "table_upper_limit", "allowance_for_sampling_risk", "tolerable_rate", "conclusion",
            "supports_reliance", "notes"} <= names
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.deviations = 0  # type: ignore[misc]
    rows = dict(result.to_table())
    assert rows["Sample size"] == "60" and rows["Deviations found"] == "2"
    assert rows["Upper deviation limit (rounded up to 0.1 %, as the AICPA tables)"] == "10.2 %"  # Table A-3
    assert rows["Supports reliance"] == "no"
    text = result.summary()
    assert text.startswith("Evaluation (binomial model): 2 deviations in 60 items")
    assert "Clopper-Pearson" in text and "rounds it up to 0.1 %" in text
    assert result.tolerable_rate == 0.10 and result.confidence == 0.95


def test_no_conclusion_without_tolerable_rate() -> None:
    result = evaluate(25, 0, 0.90)
    assert result.conclusion is None and result.supports_reliance is None
    assert "Supports reliance" not in dict(result.to_table())


# ---- errors -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "kwargs", "error", "match"), [
    ((25, 26, 0.9), {}, SizeError, r"deviations must not exceed sample_size; got deviations=26 > sample_size=25"),
    ((0, 0, 0.9), {}, SizeError, r"sample_size must be a whole number >= 1, got 0"),
    ((25.5, 0, 0.9), {}, SizeError, r"sample_size must be a whole number >= 1, got 25.5"),
    ((25, -1, 0.9), {}, SizeError, r"deviations must be a whole number >= 0, got -1"),
    ((25, 1, 0.9), dict(population_size=20), SizeError,
     r"sample_size must not exceed population_size; got sample_size=25 > population_size=20"),
    ((25, 1, 0.9), dict(population_size=0), SizeError, r"population_size must be a whole number >= 1, got 0"),
    ((25, 1, 1.0), {}, ConfidenceError, r"confidence must lie in \(0, 1\), got 1.0"),
    ((25, 1, "90%"), {}, ConfidenceError, r"confidence must be a number .*got '90%'"),
    ((25, 1, 0.9), dict(tolerable_rate=0), RateError, r"tolerable_rate must lie in \(0, 1\), got 0"),
    ((25, 1, 0.9), dict(model="hypergeometric"), ModelError,
     r"model='hypergeometric' needs population_size.*got population_size=None"),
    ((25, 1, 0.9), dict(model="beta"), ModelError, r"model must be one of binomial, hypergeometric, poisson; "
                                                   r"got 'beta'"),
])
def test_evaluate_errors(args: tuple, kwargs: dict, error: type[SamplingError], match: str) -> None:
    with pytest.raises(error, match=match):
        evaluate(*args, **kwargs)


def test_docstring_examples_run() -> None:
    import doctest

    import sampling.evaluation

    failures, attempted = doctest.testmod(sampling.evaluation)
    assert (failures, attempted > 0) == (0, True)
