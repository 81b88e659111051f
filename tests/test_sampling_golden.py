"""Golden selections: exact keys pinned for a fixed input, for every method.

The expected keys were derived once by the independent re-implementation below, written from the
algorithm as documented in words (``sampling/selection.py`` module docstring and
``Selection.algorithm``) with nothing but ``hashlib`` and plain Python — no ``sampling`` internals —
and are also pinned as literal lists, so a change in either the engine or the documented algorithm
fails here. Input: keys CHG-0001 .. CHG-0500, item i (0-based) dated 2025-07-01 + (i * 7919 mod 365)
days (many items share a date, so the key tie-break matters), seed 20260630, n = 25.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from fractions import Fraction

import pytest

import sampling

SEED = 20260630
N_SAMPLE = 25
KEYS = [f"CHG-{i:04d}" for i in range(1, 501)]
DATES = [dt.date(2025, 7, 1) + dt.timedelta(days=(i * 7919) % 365) for i in range(500)]


# ---------------------------------------------------------------------------------------------
# Independent re-implementation from the documented words
# ---------------------------------------------------------------------------------------------
class RefStream:
    """Value t of a purpose: SHA-256 of "{seed}:{purpose}:{t}" as a big-endian integer."""

    def __init__(self, seed, purpose):
        self.seed, self.purpose, self.t = seed, purpose, 0

    def whole_number_below(self, m):
        while True:
            text = f"{self.seed}:{self.purpose}:{self.t}"
            self.t += 1
            u = int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16)
            if u < 2**256 - (2**256 % m):
                return u % m


def ref_fisher_yates(items, count, seed, purpose):
    stream = RefStream(seed, purpose)
    big_l = list(range(len(items)))
    drawn = []
    for j in range(count):
        r = j + stream.whole_number_below(len(items) - j)
        big_l[j], big_l[r] = big_l[r], big_l[j]
        drawn.append(items[big_l[j]])
    return drawn


def ref_random(keys, n, seed):
    return ref_fisher_yates(sorted(keys), n, seed, "random")


def ref_systematic(keys, dates, n, seed):
    items = [k for _, k in sorted(zip(dates, keys))]
    big_n = len(items)
    u = RefStream(seed, "systematic").whole_number_below(big_n)
    start, interval = Fraction(u, n), Fraction(big_n, n)
    positions = [int(start + i * interval) for i in range(n)]  # floor: all non-negative
    return [items[p] for p in positions], start, interval


def ref_allocate(n, sizes, tie_rank=None):
    """Proportional, largest remainder, >= 1 per stratum when n >= number of strata (as documented); ties of the
    fraction go to the lower tie_rank (default the earlier stratum)."""
    tie_rank = tie_rank or list(range(len(sizes)))
    alloc = [0] * len(sizes)
    others = list(range(len(sizes)))
    items = n
    if n >= len(sizes):
        while True:
            total = sum(sizes[i] for i in others)
            below_one = [i for i in others if Fraction(items * sizes[i], total) < 1]
            if not below_one:
                break
            for i in below_one:
                alloc[i] = 1
                others.remove(i)
                items -= 1
    total = sum(sizes[i] for i in others)
    quotas = {i: Fraction(items * sizes[i], total) for i in others}
    for i in others:
        alloc[i] += quotas[i].numerator // quotas[i].denominator
    left = items - sum(q.numerator // q.denominator for q in quotas.values())
    by_fraction = sorted(others, key=lambda i: (-(quotas[i] - quotas[i].numerator // quotas[i].denominator), tie_rank[i]))
    for i in by_fraction[:left]:
        alloc[i] += 1
    return alloc


def ref_stratified(keys, dates, n, seed):
    months = [f"{d.year:04d}-{d.month:02d}" for d in dates]
    labels = sorted(set(months))
    members = {lab: sorted((d, k) for k, d, m in zip(keys, dates, months) if m == lab) for lab in labels}
    tie_rank = None
    if n < len(labels):   # fewer items than strata: the order of equal strata is a shuffle of the strata
        shuffled = ref_fisher_yates(list(range(len(labels))), len(labels), seed, "stratified:ties:round1")
        tie_rank = [shuffled.index(i) for i in range(len(labels))]
    alloc = ref_allocate(n, [len(members[lab]) for lab in labels], tie_rank)
    out = []
    for lab, a in zip(labels, alloc):
        items = [k for _, k in members[lab]]
        out.extend(ref_fisher_yates(items, a, seed, f"stratified:{lab}"))
    return out, dict(zip(labels, alloc))


# ---------------------------------------------------------------------------------------------
# Pinned values (derived once with the functions above)
# ---------------------------------------------------------------------------------------------
GOLDEN_SHA256 = "a235188afba63b63101cbffba6b0dc621dc770c781473f5a7980e2783c05227c"
GOLDEN_RANDOM = [
    "CHG-0236", "CHG-0172", "CHG-0044", "CHG-0296", "CHG-0020",
    "CHG-0359", "CHG-0407", "CHG-0466", "CHG-0198", "CHG-0173",
    "CHG-0375", "CHG-0166", "CHG-0224", "CHG-0164", "CHG-0494",
    "CHG-0184", "CHG-0202", "CHG-0273", "CHG-0366", "CHG-0079",
    "CHG-0373", "CHG-0266", "CHG-0469", "CHG-0358", "CHG-0107",
]
GOLDEN_SYSTEMATIC = [
    "CHG-0435", "CHG-0425", "CHG-0050", "CHG-0040", "CHG-0201",
    "CHG-0191", "CHG-0352", "CHG-0148", "CHG-0138", "CHG-0128",
    "CHG-0289", "CHG-0279", "CHG-0440", "CHG-0430", "CHG-0055",
    "CHG-0045", "CHG-0035", "CHG-0196", "CHG-0186", "CHG-0347",
    "CHG-0143", "CHG-0133", "CHG-0294", "CHG-0284", "CHG-0274",
]
GOLDEN_SYSTEMATIC_U = 250  # start = U/n = 10, interval = 500/25 = 20
GOLDEN_STRATIFIED = [
    "CHG-0129", "CHG-0070", "CHG-0185", "CHG-0326", "CHG-0359",
    "CHG-0122", "CHG-0464", "CHG-0033", "CHG-0296", "CHG-0138",
    "CHG-0414", "CHG-0381", "CHG-0450", "CHG-0259", "CHG-0019",
    "CHG-0147", "CHG-0170", "CHG-0436", "CHG-0117", "CHG-0028",
    "CHG-0416", "CHG-0123", "CHG-0110", "CHG-0182", "CHG-0238",
]


def test_population_fingerprint_is_sha256_of_sorted_keys_with_line_feeds():
    text = "".join(k + "\n" for k in sorted(KEYS))
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == GOLDEN_SHA256
    assert sampling.select(KEYS, 1, seed=SEED).key_set_sha256 == GOLDEN_SHA256


def test_reference_reproduces_the_pinned_lists():
    assert ref_random(KEYS, N_SAMPLE, SEED) == GOLDEN_RANDOM
    keys, start, interval = ref_systematic(KEYS, DATES, N_SAMPLE, SEED)
    assert keys == GOLDEN_SYSTEMATIC
    assert start == Fraction(GOLDEN_SYSTEMATIC_U, N_SAMPLE) and interval == 20
    assert ref_stratified(KEYS, DATES, N_SAMPLE, SEED)[0] == GOLDEN_STRATIFIED


def test_golden_random():
    selection = sampling.select(KEYS, N_SAMPLE, seed=SEED)
    assert list(selection.keys) == GOLDEN_RANDOM
    assert selection.method == "random" and selection.seed == SEED and selection.population_size == 500
    assert selection.start is None and selection.interval is None and selection.strata == ()


def test_golden_random_does_not_depend_on_row_order():
    shuffled = KEYS[::7] + [k for i, k in enumerate(KEYS) if i % 7]
    assert list(sampling.select(shuffled, N_SAMPLE, seed=SEED).keys) == GOLDEN_RANDOM


def test_golden_systematic():
    selection = sampling.select(KEYS, N_SAMPLE, seed=SEED, method="systematic", dates=DATES)
    assert list(selection.keys) == GOLDEN_SYSTEMATIC
    assert selection.start == GOLDEN_SYSTEMATIC_U / N_SAMPLE
    assert selection.interval == 20.0


def test_golden_stratified():
    selection = sampling.select(KEYS, N_SAMPLE, seed=SEED, method="stratified", dates=DATES)
    assert list(selection.keys) == GOLDEN_STRATIFIED
    _, alloc = ref_stratified(KEYS, DATES, N_SAMPLE, SEED)
    assert [(label, a) for label, _, a in selection.strata] == list(alloc.items())
    assert [label for label, _, _ in selection.strata] == [f"2025-{m:02d}" for m in range(7, 13)] + [
        f"2026-{m:02d}" for m in range(1, 7)]
    assert sum(count for _, count, _ in selection.strata) == 500


@pytest.mark.parametrize("n", [1, 7, 12, 60, 499, 500])
def test_engine_matches_reference_at_other_sizes(n):
    assert list(sampling.select(KEYS, n, seed=SEED).keys) == ref_random(KEYS, n, SEED)
    assert list(sampling.select(KEYS, n, seed=SEED, method="systematic", dates=DATES).keys) == \
        ref_systematic(KEYS, DATES, n, SEED)[0]
    assert list(sampling.select(KEYS, n, seed=SEED, method="stratified", dates=DATES).keys) == \
        ref_stratified(KEYS, DATES, n, SEED)[0]


@pytest.mark.parametrize("n,sizes,expected", [
    (4, [1, 1, 1, 100], [1, 1, 1, 1]),
    (10, [1, 1, 1, 100], [1, 1, 1, 7]),
    (25, [43, 43, 42, 42, 41, 43, 42, 37, 43, 41, 42, 41], [3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]),
    (5, [10, 20, 30], [1, 2, 2]),          # quotas 0.83, 1.67, 2.5 -> floors 0,1,2 -> min 1 for the first
    (2, [10, 20, 30], [0, 1, 1]),          # n < strata: largest remainder without the minimum
    (6, [1, 2, 3], [1, 2, 3]),             # everything
])
def test_reference_allocation_examples(n, sizes, expected):
    assert ref_allocate(n, sizes) == expected
