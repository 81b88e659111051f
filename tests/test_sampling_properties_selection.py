"""Property tests (hypothesis) of sampling.select / sampling.extend."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

import sampling

METHODS = ("random", "systematic", "stratified")
SETTINGS = settings(max_examples=50, deadline=None)

key_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), min_size=1, max_size=8)


@st.composite
def populations(draw, min_size=1, max_size=60):
    """Distinct keys with dates (several per day) over about a year, in an arbitrary row order."""
    keys = draw(st.lists(key_text, min_size=min_size, max_size=max_size, unique=True))
    days = draw(st.lists(st.integers(0, 400), min_size=len(keys), max_size=len(keys)))
    dates = [dt.date(2025, 7, 1) + dt.timedelta(days=d) for d in days]
    return keys, dates


@st.composite
def population_and_n(draw, min_size=1):
    keys, dates = draw(populations(min_size=min_size))
    n = draw(st.integers(1, len(keys)))
    return keys, dates, n


def _select(keys, dates, n, seed, method):
    return sampling.select(keys, n, seed=seed, method=method, dates=None if method == "random" else dates)


@SETTINGS
@given(population_and_n(), st.integers(0, 2**40), st.sampled_from(METHODS))
def test_never_repeats_a_key_and_selects_from_the_population(data, seed, method):
    keys, dates, n = data
    selection = _select(keys, dates, n, seed, method)
    assert len(selection.keys) == n
    assert len(set(selection.keys)) == n
    assert set(selection.keys) <= set(keys)
    assert selection.population_size == len(keys)


@SETTINGS
@given(population_and_n(), st.integers(0, 2**40), st.sampled_from(METHODS), st.randoms(use_true_random=False))
def test_does_not_depend_on_input_order(data, seed, method, rnd):
    keys, dates, n = data
    rows = list(zip(keys, dates))
    rnd.shuffle(rows)
    shuffled_keys = [k for k, _ in rows]
    shuffled_dates = [d for _, d in rows]
    first = _select(keys, dates, n, seed, method)
    second = _select(shuffled_keys, shuffled_dates, n, seed, method)
    assert first.keys == second.keys
    assert first.key_set_sha256 == second.key_set_sha256
    assert (first.start, first.interval, first.strata) == (second.start, second.interval, second.strata)


@SETTINGS
@given(populations(min_size=2), st.integers(0, 2**40), st.data())
def test_random_n_plus_m_starts_with_n_and_equals_extension(pop, seed, data):
    keys, _ = pop
    n = data.draw(st.integers(1, len(keys) - 1))
    m = data.draw(st.integers(1, len(keys) - n))
    small = sampling.select(keys, n, seed=seed)
    large = sampling.select(keys, n + m, seed=seed)
    assert large.keys[:n] == small.keys
    extended = sampling.extend(small, m, keys=keys)
    assert extended.keys == large.keys
    assert extended.rounds == (n, m)


@SETTINGS
@given(populations(min_size=2), st.integers(0, 2**40), st.sampled_from(METHODS), st.data())
def test_extend_keeps_every_earlier_key_first(pop, seed, method, data):
    keys, dates = pop
    n = data.draw(st.integers(1, len(keys) - 1))
    m = data.draw(st.integers(1, len(keys) - n))
    first = _select(keys, dates, n, seed, method)
    extended = sampling.extend(first, m, keys=keys, dates=None if method == "random" else dates)
    assert extended.keys[:n] == first.keys
    assert len(extended.keys) == n + m == len(set(extended.keys))
    assert set(extended.keys) <= set(keys)
    assert extended.method == method and extended.seed == seed


@SETTINGS
@given(populations(min_size=2), st.integers(0, 2**40), st.sampled_from(METHODS), st.data())
def test_roll_forward_keeps_earlier_keys_and_draws_only_new_population(pop, seed, method, data):
    keys, dates = pop
    cut = data.draw(st.integers(1, len(keys) - 1))
    interim_keys, interim_dates = keys[:cut], dates[:cut]
    n = data.draw(st.integers(1, cut))
    m = data.draw(st.integers(1, len(keys) - n))
    first = _select(interim_keys, interim_dates, n, seed, method)
    extended = sampling.extend(first, m, keys=keys, dates=None if method == "random" else dates)
    assert extended.keys[:n] == first.keys
    assert len(set(extended.keys)) == n + m
    assert extended.population_size == len(keys)


@SETTINGS
@given(population_and_n(), st.integers(0, 2**40))
def test_stratified_covers_every_month_when_n_allows(data, seed):
    keys, dates, n = data
    months = {f"{d.year:04d}-{d.month:02d}" for d in dates}
    selection = sampling.select(keys, n, seed=seed, method="stratified", dates=dates)
    month_of = dict(zip(keys, (f"{d.year:04d}-{d.month:02d}" for d in dates)))
    covered = {month_of[k] for k in selection.keys}
    assert [label for label, _, _ in selection.strata] == sorted(months)
    assert sum(a for _, _, a in selection.strata) == n
    assert all(0 <= a <= count for _, count, a in selection.strata)
    if n >= len(months):
        assert covered == months
    else:  # proportional (largest remainder) without the minimum; the shortfall is noted
        assert len(covered) <= n
        assert any("smaller than the number of strata" in note for note in selection.notes)
    # proportional allocation is monotone: a larger stratum never gets fewer items; equal sizes differ by <= 1
    for _, count_a, alloc_a in selection.strata:
        for _, count_b, alloc_b in selection.strata:
            if count_a > count_b:
                assert alloc_a >= alloc_b
            elif count_a == count_b:
                assert abs(alloc_a - alloc_b) <= 1

@SETTINGS
@given(population_and_n(), st.integers(0, 2**40))
def test_systematic_positions_are_evenly_spread(data, seed):
    keys, dates, n = data
    selection = sampling.select(keys, n, seed=seed, method="systematic", dates=dates)
    ordered = [k for _, k in sorted(zip(dates, keys))]
    positions = [ordered.index(k) for k in selection.keys]
    assert positions == sorted(positions)
    assert selection.interval == len(keys) / n
    assert 0 <= selection.start < selection.interval
    gaps = [b - a for a, b in zip(positions, positions[1:])]
    assert all(int(selection.interval) <= g <= int(selection.interval) + 1 for g in gaps)
