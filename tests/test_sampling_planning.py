"""Sample size plans: published anchors, conventions, test-all, frequency/two-stage/Type 1, errors.

Expected values come from published sources named beside each test (``shared/domain/sampling.md``
gathers them) or from a tiny exact oracle written here with ``fractions`` and ``math.comb``
(independent of scipy and of the engine).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from fractions import Fraction
from math import ceil, comb

import pytest

import sampling
from sampling import (
    DEFAULT_FREQUENCY_TABLE,
    ConfidenceError,
    ModelError,
    Plan,
    RateError,
    SamplingError,
    SizeError,
    plan,
    plan_frequency,
    plan_two_stage,
    plan_type1,
    two_stage_risk,
)


# ---- exact oracles (no scipy) ------------------------------------------------------------------

def hyper_cdf(k: int, population: int, deviations: int, n: int) -> Fraction:
    total = comb(population, n)
    return sum(Fraction(comb(deviations, i) * comb(population - deviations, n - i), total) for i in range(k + 1))


def binom_pmf(i: int, n: int, p: Fraction) -> Fraction:
    return comb(n, i) * p**i * (1 - p) ** (n - i)


def smallest_hyper_zero(population: int, tdr: str, confidence: str) -> int:
    big_k = ceil(Fraction(tdr) * population)
    risk = 1 - Fraction(confidence)
    return next(n for n in range(1, population + 1) if hyper_cdf(0, population, big_k, n) <= risk)


# ---- binomial anchors ----------------------------------------------------------------------------

@pytest.mark.parametrize(("confidence", "tdr", "expected"), [
    ("0.95", "0.05", 59), ("0.90", "0.10", 22), ("0.95", "0.10", 29),
])
def test_discovery_sizes(confidence: str, tdr: str, expected: int) -> None:
    # sampling.md section 0: zero-deviation sizes 59 (95 %, 5 %), 22 (90 %, 10 %), 29 (95 %, 10 %)
    result = plan(confidence, tdr)
    assert (result.sample_size, result.acceptance_number) == (expected, 0)
    assert result.kind == "statistical" and result.statistical and not result.test_all


def test_float_trap_400_times_0_035_uses_exact_decimal() -> None:
    # AICPA Table A-2, TDR 5 %, EDR 3.5 %: 400 (14). In floats 400 * 0.035 = 14.000000000000002.
    assert 400 * 0.035 != 14
    for edr in (0.035, "0.035", Decimal("0.035")):
        result = plan(0.90, 0.05, edr)
        assert (result.sample_size, result.acceptance_number, result.expected_deviations) == (400, 14, 14)


def test_float_trap_1300_times_0_07() -> None:
    # AICPA Table A-2, TDR 8 %, EDR 7 %: 1300 (91); 1300 * 0.07 = 91.00000000000001 in floats.
    assert 1300 * 0.07 != 91
    result = plan(0.90, 0.08, 0.07)
    assert (result.sample_size, result.acceptance_number) == (1300, 91)


def test_messier_idea_cases() -> None:
    # Messier textbook / IDEA (four cases quoted with "sample size using tables" and "using IDEA"):
    # 5 % risk: TDR 4 %, EDR 1 % -> 156; TDR 5 %, EDR 2 % -> 181. 10 % risk: 7 %/3 % -> 94; 8 %/4 % -> 98.
    assert plan(0.95, 0.04, 0.01).sample_size == 156
    assert plan(0.95, 0.05, 0.02).sample_size == 181
    assert plan(0.90, 0.07, 0.03).sample_size == 94
    assert plan(0.90, 0.08, 0.04).sample_size == 98


def test_large_sizes_are_the_smallest_passing_size() -> None:
    # TDR 2 %, EDR 1.75 %: thousands of items. Brute force with scipy over every smaller m (the
    # probability is not monotonic in m because k = ceil(m x EDR) steps), k computed with fractions.
    from scipy.stats import binom

    result = plan(0.90, 0.02, 0.0175)
    n, k = result.sample_size, result.acceptance_number
    assert n > 1000 and k == ceil(Fraction(n) * Fraction("0.0175"))
    ks = [ceil(Fraction(m) * Fraction("0.0175")) for m in range(1, n + 1)]
    probabilities = binom.cdf(ks, list(range(1, n + 1)), 0.02)
    assert probabilities[-1] <= 0.10 and result.achieved_risk == pytest.approx(probabilities[-1], rel=1e-12)
    assert (probabilities[:-1] > 0.10).all()


def test_expected_deviations_as_a_count() -> None:
    # sampling.md 4.5: allow one deviation from the start: 38 (90 %/10 %), 46 (95 %/10 %).
    r90 = plan(0.90, 0.10, expected_deviations=1)
    r95 = plan(0.95, 0.10, expected_deviations=1)
    assert (r90.sample_size, r90.acceptance_number, r90.expected_rate) == (38, 1, None)
    assert (r95.sample_size, r95.acceptance_number) == (46, 1)
    assert r90.expected_deviations == 1
    assert any("fixed 1 deviation" in note for note in r90.notes)


def test_achieved_risk_is_the_binomial_probability() -> None:
    result = plan(0.95, 0.05)  # 59 items, no deviation: risk = 0.95^59
    assert result.achieved_risk == pytest.approx(float(Fraction(95, 100) ** 59), rel=1e-12)
    assert result.achieved_confidence == pytest.approx(1 - float(Fraction(95, 100) ** 59), rel=1e-12)


# ---- hypergeometric and Poisson -----------------------------------------------------------------

def test_hypergeometric_k_uses_exact_decimal() -> None:
    # sampling.md 2.3: N = 100, TDR 6 %: K = 6 and n = 32 (90 %). jfa's seq() gives 6.000000000000001 -> K = 7, 28.
    result = plan(0.90, 0.06, population_size=100, model="hypergeometric")
    assert result.sample_size == 32 == smallest_hyper_zero(100, "0.06", "0.90")
    assert any("K = ceil(6 % x 100) = 6" in note for note in result.notes)
    assert plan(0.90, "0.07", population_size=100, model="hypergeometric").sample_size == 28


@pytest.mark.parametrize(("population", "n90_10", "n95_10", "n90_20"), [
    (12, 8, 9, 6), (24, 13, 15, 9), (52, 16, 20, 9), (63, 17, 21, 10), (126, 20, 25, 10), (250, 21, 27, 11),
])
def test_hypergeometric_frequency_picture(population: int, n90_10: int, n95_10: int, n90_20: int) -> None:
    # sampling.md 4.3: zero-deviation hypergeometric plans, K = ceil(TDR x N)
    def size(conf: str, tdr: str) -> int:
        return plan(conf, tdr, population_size=population, model="hypergeometric").sample_size

    assert (size("0.90", "0.10"), size("0.95", "0.10"), size("0.90", "0.20")) == (n90_10, n95_10, n90_20)
    assert size("0.95", "0.10") == smallest_hyper_zero(population, "0.10", "0.95")


def test_hypergeometric_tiny_population_tests_everything() -> None:
    # sampling.md 4.3: N = 4 (quarterly) -> 4 (all)
    result = plan(0.90, 0.10, population_size=4, model="hypergeometric")
    assert (result.sample_size, result.test_all, result.achieved_risk) == (4, True, 0.0)
    assert any("every item is tested" in note for note in result.notes)


def test_hypergeometric_with_expected_rate() -> None:
    result = plan(0.95, 0.05, 0.01, population_size=1000, model="hypergeometric")
    n, k = result.sample_size, result.acceptance_number
    assert k == ceil(Fraction(n, 100))
    big_k = 50
    assert hyper_cdf(k, 1000, big_k, n) <= Fraction(5, 100)
    assert n <= plan(0.95, 0.05, 0.01).sample_size  # 93 under the binomial


def test_poisson_acl_convention() -> None:
    # sampling.md anchor 5/6: TDR 4 %, EDR 1 %, 95 %: 158 (ACL Poisson) vs 156 (binomial)
    result = plan(0.95, 0.04, 0.01, model="poisson")
    assert (result.sample_size, result.acceptance_number, result.model) == (158, 2, "poisson")
    assert plan(0.95, 0.04, 0.01).sample_size == 156


def test_poisson_ignores_population_size_with_a_note() -> None:
    result = plan(0.95, 0.04, 0.01, model="poisson", population_size=5000)
    assert result.sample_size == 158
    assert any("ignores the population size" in note for note in result.notes)


# ---- test all -------------------------------------------------------------------------------------

def test_plan_larger_than_population_becomes_test_all() -> None:
    result = plan(0.95, 0.05, population_size=40)  # binomial needs 59
    assert (result.sample_size, result.test_all, result.achieved_risk) == (40, True, 0.0)
    assert result.population_size == 40
    assert any("needs more than the 40 items" in note and "every item is tested" in note for note in result.notes)
    assert "Test all 40 items" in result.summary()


def test_binomial_with_population_notes_that_it_is_conservative() -> None:
    result = plan(0.95, 0.05, population_size=1000)
    assert (result.sample_size, result.test_all) == (59, False)
    assert any("conservative" in note for note in result.notes)


def test_population_equal_to_size_is_test_all() -> None:
    result = plan(0.95, 0.05, population_size=59)
    assert result.test_all and result.sample_size == 59


# ---- Plan object ------------------------------------------------------------------------------------

def test_plan_is_frozen_and_has_the_contract_fields() -> None:
    result = plan(0.90, 0.05, 0.01)
    names = {f.name for f in dataclasses.fields(Plan)}
    assert {"sample_size", "acceptance_number", "model", "achieved_risk", "confidence", "tolerable_rate",
            "expected_rate", "expected_deviations", "population_size", "kind", "statistical", "test_all",
            "notes"} <= names
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.sample_size = 1  # type: ignore[misc]
    assert (result.confidence, result.tolerable_rate, result.expected_rate) == (0.90, 0.05, 0.01)


def test_summary_and_table_state_the_conventions() -> None:
    result = plan(0.90, 0.05, "0.035")
    text = result.summary()
    assert "Test 400 items, accepting up to 14 deviations." in text
    assert "AICPA Audit Sampling guide" in text and "<=" in text and "rounded up" in text
    rows = dict(result.to_table())
    assert rows["Sample size"] == "400"
    assert rows["Deviations allowed (acceptance number)"] == "14"
    assert rows["Expected deviation rate"] == "3.5 %"
    assert rows["Confidence"] == "90 %"
    assert rows["Tolerable deviation rate"] == "5 %"
    assert rows["Model"] == "binomial"
    assert rows["Population size"] == "not used"
    assert all(isinstance(label, str) and isinstance(value, str) for label, value in result.to_table())


# ---- frequency table ----------------------------------------------------------------------------

def test_default_frequency_table() -> None:
    assert dict(DEFAULT_FREQUENCY_TABLE) == {"annual": 1, "quarterly": 2, "monthly": 2, "weekly": 5,
                                             "daily": 25, "many_times_a_day": 40}
    with pytest.raises(TypeError):
        DEFAULT_FREQUENCY_TABLE["daily"] = 60  # type: ignore[index]


def test_frequency_plan_shows_hypergeometric_confidence() -> None:
    result = plan_frequency("weekly", tolerable_rate=0.10, population_size=52)
    expected_p0 = Fraction(comb(46, 5), comb(52, 5))  # K = ceil(0.10 x 52) = 6
    assert (result.sample_size, result.kind, result.statistical, result.model) == (5, "frequency", False,
                                                                                   "hypergeometric")
    assert result.achieved_risk == pytest.approx(float(expected_p0), rel=1e-12)
    assert result.confidence == pytest.approx(1 - float(expected_p0), rel=1e-12)
    assert result.acceptance_number == 0 and result.frequency == "weekly"
    assert "Non-statistical" in result.summary() and "judgemental" in result.summary()


def test_daily_25_is_between_90_and_95_percent_confidence() -> None:
    # sampling.md 4.3: daily 25 is defensible: ~90-95 % confidence at TDR 10 % (21 and 27 items for N = 250)
    result = plan_frequency("daily", tolerable_rate="0.10", population_size=250)
    assert 0.90 < result.confidence < 0.95
    assert result.confidence == pytest.approx(1 - float(Fraction(comb(225, 25), comb(250, 25))), rel=1e-12)


def test_frequency_plan_without_population_uses_binomial() -> None:
    result = plan_frequency("Daily", tolerable_rate=0.10)
    assert result.model == "binomial"
    assert result.confidence == pytest.approx(1 - 0.9**25, rel=1e-12)
    assert any("population size unknown" in note for note in result.notes)
    forced = plan_frequency("daily", tolerable_rate=0.10, population_size=250, confidence_model="binomial")
    assert forced.model == "binomial" and forced.confidence == pytest.approx(1 - 0.9**25, rel=1e-12)


def test_frequency_small_population_is_tested_in_full() -> None:
    result = plan_frequency("quarterly", tolerable_rate=0.10, population_size=2)
    assert (result.sample_size, result.test_all, result.confidence) == (2, True, 1.0)
    assert plan_frequency("annual", tolerable_rate=0.10, population_size=1).test_all
    assert plan_frequency("quarterly", tolerable_rate=0.10, population_size=4).sample_size == 2


def test_frequency_names_are_normalised_and_custom_tables_work() -> None:
    assert plan_frequency("Many times a day", tolerable_rate=0.1).sample_size == 40
    assert plan_frequency("many-times-a-day", tolerable_rate=0.1).sample_size == 40
    custom = plan_frequency("monthly", tolerable_rate=0.1, table={"Monthly": 3, "semimonthly": 4})
    assert custom.sample_size == 3
    assert any("Table supplied by the engagement" in note for note in custom.notes)


# ---- two-stage ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("confidence", "tdr", "expected"), [
    ("0.90", "0.05", 49), ("0.95", "0.05", 61), ("0.90", "0.10", 24), ("0.95", "0.10", 30),
])
def test_two_stage_anchor_sizes(confidence: str, tdr: str, expected: int) -> None:
    # sampling.md anchor 8 and 4.5: Touw & Hoogduin p.129 (49); jfa (61); per-stage 24 and 30 at 10 %
    result = plan_two_stage(confidence, tdr)
    assert (result.sample_size, result.second_stage_size, result.kind) == (expected, expected, "two_stage")
    assert result.achieved_risk < 1 - float(confidence)
    assert "if exactly one deviates, test" in result.summary()


def test_two_stage_poisson_anchor() -> None:
    # sampling.md anchor 8: jfa, 105 (Poisson) at 3 % / 95 %
    assert plan_two_stage(0.95, 0.03, model="poisson").sample_size == 105


def test_two_stage_risk_of_common_plans() -> None:
    # sampling.md 4.5: "25 then 25 more" at TDR 10 % has risk 8.6 %; on 22 items 12.2 %
    assert two_stage_risk(25, 0.10) == pytest.approx(0.0861, abs=5e-5)
    assert two_stage_risk(22, 0.10) == pytest.approx(0.1222, abs=5e-5)
    p = Fraction(1, 10)
    exact = binom_pmf(0, 25, p) + binom_pmf(1, 25, p) * binom_pmf(0, 25, p)
    assert two_stage_risk(25, "0.1") == pytest.approx(float(exact), rel=1e-12)


def test_two_stage_hypergeometric() -> None:
    result = plan_two_stage(0.90, 0.10, population_size=100, model="hypergeometric")
    n = result.sample_size
    big_k = 10

    def risk(m: int) -> Fraction:
        p0 = hyper_cdf(0, 100, big_k, m)
        p1 = hyper_cdf(1, 100, big_k, m) - p0
        return p0 + p1 * hyper_cdf(0, 100 - m, big_k - 1, m)

    assert risk(n) < Fraction(1, 10) <= risk(n - 1)
    assert two_stage_risk(n, 0.10, population_size=100, model="hypergeometric") == pytest.approx(float(risk(n)))


def test_two_stage_small_population_tests_everything() -> None:
    result = plan_two_stage(0.90, 0.10, population_size=30, model="hypergeometric")
    assert (result.sample_size, result.test_all, result.second_stage_size) == (30, True, None)
    assert plan_two_stage(0.90, 0.10, population_size=40).test_all  # binomial: 2 x 24 > 40


# ---- Type 1 ---------------------------------------------------------------------------------------------

def test_type1_plan() -> None:
    result = plan_type1()
    assert (result.sample_size, result.kind, result.statistical, result.model) == (1, "type1", False, "none")
    assert result.achieved_risk is None and result.achieved_confidence is None
    assert "walkthrough" in result.summary()


# ---- errors -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "error", "match"), [
    (dict(confidence=0, tolerable_rate=0.1), ConfidenceError, r"confidence must lie in \(0, 1\), got 0"),
    (dict(confidence=1, tolerable_rate=0.1), ConfidenceError, r"confidence must lie in \(0, 1\), got 1"),
    (dict(confidence=95, tolerable_rate=0.1), ConfidenceError, r"confidence must lie in \(0, 1\), got 95.*0.95"),
    (dict(confidence="high", tolerable_rate=0.1), ConfidenceError, r"confidence must be a number.*'high'"),
    (dict(confidence=0.9, tolerable_rate=0), RateError, r"tolerable_rate must lie in \(0, 1\), got 0"),
    (dict(confidence=0.9, tolerable_rate=1.5), RateError, r"tolerable_rate must lie in \(0, 1\), got 1.5"),
    (dict(confidence=0.9, tolerable_rate=float("nan")), RateError, r"tolerable_rate must be a finite number"),
    (dict(confidence=0.9, tolerable_rate=0.1, expected_rate=-0.01), RateError,
     r"expected_rate must lie in \[0, 1\), got -0.01"),
    (dict(confidence=0.9, tolerable_rate=0.05, expected_rate=0.05), RateError,
     r"expected_rate must be below tolerable_rate; got expected_rate=0.05 >= tolerable_rate=0.05"),
    (dict(confidence=0.9, tolerable_rate=0.05, expected_rate=0.01, expected_deviations=1), RateError,
     r"either expected_rate or expected_deviations, not both; got expected_rate=0.01 and expected_deviations=1"),
    (dict(confidence=0.9, tolerable_rate=0.05, expected_deviations=-1), SizeError,
     r"expected_deviations must be a whole number >= 0, got -1"),
    (dict(confidence=0.9, tolerable_rate=0.05, expected_deviations=1.5), SizeError,
     r"expected_deviations must be a whole number >= 0, got 1.5"),
    (dict(confidence=0.9, tolerable_rate=0.05, model="normal"), ModelError,
     r"model must be one of binomial, hypergeometric, poisson; got 'normal'"),
    (dict(confidence=0.9, tolerable_rate=0.05, model="hypergeometric"), ModelError,
     r"model='hypergeometric' needs population_size.*got population_size=None"),
    (dict(confidence=0.9, tolerable_rate=0.05, population_size=0), SizeError,
     r"population_size must be a whole number >= 1, got 0"),
    (dict(confidence=0.9, tolerable_rate=0.05, population_size=True), SizeError,
     r"population_size must be a whole number >= 1, got True"),
    (dict(confidence=0.9, tolerable_rate=0.05, expected_deviations=5, population_size=100, model="hypergeometric"),
     RateError, r"expected_deviations must be below .* K = ceil\(tolerable_rate x population_size\) = 5; "
                r"got expected_deviations=5"),
])
def test_plan_errors(kwargs: dict, error: type[SamplingError], match: str) -> None:
    with pytest.raises(error, match=match):
        plan(**kwargs)


def test_plan_errors_are_value_errors() -> None:
    with pytest.raises(ValueError):
        plan(0.9, 0.05, 0.06)


def test_no_size_up_to_the_cap_is_an_error() -> None:
    with pytest.raises(SizeError, match=r"no sample size up to 1,000,000 meets confidence=0.99 at "
                                        r"tolerable_rate=0.02 with expected_rate='0.0199999'.*too close"):
        plan(0.99, 0.02, "0.0199999")
    # with a population, the same plan tests every item instead
    assert plan(0.99, 0.02, "0.0199999", population_size=500).test_all


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    (dict(frequency="hourly", tolerable_rate=0.1), ModelError,
     r"frequency must be one of annual, quarterly, monthly, weekly, daily, many_times_a_day; got 'hourly'"),
    (dict(frequency="as_needed", tolerable_rate=0.1), ModelError, r"frequency must be one of .*got 'as_needed'"),
    (dict(frequency="daily", tolerable_rate=0), RateError, r"tolerable_rate must lie in \(0, 1\), got 0"),
    (dict(frequency="daily", tolerable_rate=0.1, table={"daily": 0}), SizeError,
     r"table\['daily'\] must be a whole number >= 1, got 0"),
    (dict(frequency="daily", tolerable_rate=0.1, table={"daily": "many"}), SizeError,
     r"table\['daily'\] must be a whole number >= 1, got 'many'"),
    (dict(frequency="daily", tolerable_rate=0.1, confidence_model="poisson"), ModelError,
     r"confidence_model must be one of hypergeometric, binomial; got 'poisson'"),
    (dict(frequency="daily", tolerable_rate=0.1, population_size=-3), SizeError,
     r"population_size must be a whole number >= 1, got -3"),
])
def test_plan_frequency_errors(kwargs: dict, error: type[SamplingError], match: str) -> None:
    with pytest.raises(error, match=match):
        plan_frequency(**kwargs)


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: plan_two_stage(1.2, 0.1), ConfidenceError, r"confidence must lie in \(0, 1\), got 1.2"),
    (lambda: plan_two_stage(0.9, -0.1), RateError, r"tolerable_rate must lie in \(0, 1\), got -0.1"),
    (lambda: plan_two_stage(0.9, 0.1, model="hypergeometric"), ModelError,
     r"model='hypergeometric' needs population_size"),
    (lambda: plan_two_stage(0.9, 0.1, model="bayes"), ModelError, r"model must be one of .*got 'bayes'"),
    (lambda: two_stage_risk(0, 0.1), SizeError, r"sample_size must be a whole number >= 1, got 0"),
    (lambda: two_stage_risk(25, 0.1, model="hypergeometric"), ModelError,
     r"model='hypergeometric' needs population_size"),
    (lambda: two_stage_risk(30, 0.1, population_size=50, model="hypergeometric"), SizeError,
     r"sample_size must be at most half the population .* got sample_size=30 with population_size=50"),
    (lambda: two_stage_risk(25, 2), RateError, r"tolerable_rate must lie in \(0, 1\), got 2"),
])
def test_two_stage_errors(call, error: type[SamplingError], match: str) -> None:
    with pytest.raises(error, match=match):
        call()


def test_public_api_is_exported() -> None:
    for name in ("plan", "plan_frequency", "plan_two_stage", "plan_type1", "two_stage_risk", "Plan",
                 "DEFAULT_FREQUENCY_TABLE", "evaluate", "Evaluation"):
        assert name in sampling.__all__ and hasattr(sampling, name)


def test_docstring_examples_run() -> None:
    import doctest

    import sampling.planning

    failures, attempted = doctest.testmod(sampling.planning, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert (failures, attempted > 0) == (0, True)
