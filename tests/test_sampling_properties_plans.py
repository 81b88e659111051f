"""Property tests (hypothesis) of the planning rules (sampling.md section 5, item 10).

* n does not rise as the tolerable rate rises; it does not fall as the expected rate or the
  confidence rises (binomial, Poisson and hypergeometric);
* the hypergeometric n never exceeds the binomial n for the same inputs;
* a plan's own sample, evaluated with its acceptance number, supports reliance, and one item
  fewer does not (the size is the smallest that works).
"""

from __future__ import annotations

from decimal import Decimal
from math import ceil

from hypothesis import given, settings
from hypothesis import strategies as st

from sampling import evaluate, plan

SETTINGS = settings(max_examples=50, deadline=None)

# rates on a grid of 0.25 %, as the published tables use; TDR up to 30 %, EDR below it
tdr_steps = st.integers(min_value=4, max_value=120)        # x 0.25 % -> 1 % .. 30 %
confidences = st.sampled_from(["0.80", "0.85", "0.90", "0.95", "0.975", "0.99"])
models = st.sampled_from(["binomial", "poisson"])
populations = st.integers(min_value=2, max_value=3000)


def rate(step: int) -> Decimal:
    return Decimal(step) / 400


@st.composite
def rate_pairs(draw: st.DrawFn) -> tuple[Decimal, Decimal]:
    tdr = draw(tdr_steps)
    # keep EDR at most 60 % of TDR so sizes stay in the thousands at worst
    edr = draw(st.integers(min_value=0, max_value=max(0, (tdr * 3) // 5)))
    return rate(edr), rate(tdr)


@SETTINGS
@given(pair=rate_pairs(), bump=st.integers(min_value=1, max_value=40), confidence=confidences, model=models)
def test_n_does_not_rise_with_the_tolerable_rate(pair, bump, confidence, model) -> None:
    edr, tdr = pair
    higher = min(tdr + rate(bump), Decimal("0.5"))
    assert plan(confidence, higher, edr, model=model).sample_size <= plan(confidence, tdr, edr, model=model).sample_size


@SETTINGS
@given(pair=rate_pairs(), confidence=confidences, model=models, data=st.data())
def test_n_does_not_fall_with_the_expected_rate(pair, confidence, model, data) -> None:
    edr, tdr = pair
    lower = rate(data.draw(st.integers(min_value=0, max_value=int(edr * 400))))
    assert plan(confidence, tdr, lower, model=model).sample_size <= plan(confidence, tdr, edr, model=model).sample_size


@SETTINGS
@given(pair=rate_pairs(), low=confidences, high=confidences, model=models)
def test_n_does_not_fall_with_the_confidence(pair, low, high, model) -> None:
    edr, tdr = pair
    low, high = sorted((low, high), key=Decimal)
    assert plan(low, tdr, edr, model=model).sample_size <= plan(high, tdr, edr, model=model).sample_size


@SETTINGS
@given(pair=rate_pairs(), confidence=confidences, population=populations)
def test_hypergeometric_n_never_exceeds_binomial_n(pair, confidence, population) -> None:
    edr, tdr = pair
    hyper = plan(confidence, tdr, edr, population_size=population, model="hypergeometric")
    binomial = plan(confidence, tdr, edr, population_size=population)
    assert hyper.sample_size <= binomial.sample_size <= population
    assert hyper.sample_size <= plan(confidence, tdr, edr).sample_size


@SETTINGS
@given(pair=rate_pairs(), confidence=confidences, model=st.sampled_from(["binomial", "poisson", "hypergeometric"]),
       population=populations)
def test_plan_is_the_smallest_size_its_evaluation_accepts(pair, confidence, model, population) -> None:
    edr, tdr = pair
    size_n = population if model == "hypergeometric" else None
    result = plan(confidence, tdr, edr, population_size=size_n, model=model)
    if result.test_all:
        return
    n, k = result.sample_size, result.acceptance_number
    assert k == ceil(Decimal(n) * edr)
    assert evaluate(n, k, confidence, population_size=size_n, model=model, tolerable_rate=tdr).supports_reliance
    if n > 1:
        k_before = ceil(Decimal(n - 1) * edr)
        before = evaluate(n - 1, k_before, confidence, population_size=size_n, model=model, tolerable_rate=tdr)
        assert not before.supports_reliance
