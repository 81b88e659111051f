"""Re-performable selection of sample items: random, systematic and stratified, with extension.

Everything here can be redone by a reviewer outside Python (another language, or a spreadsheet
with a SHA-256 function), on any machine, years later: the result depends only on the set of keys,
the dates or stratum labels, the seed, the method and the sample size — never on the order of the
rows in the file, and never on numpy's random Generator (whose method streams may change between
releases).

The random stream
-----------------
Each draw uses a *purpose* text (``random``, ``systematic``, ``systematic:round2``,
``stratified:2025-07`` ...). The stream values for a purpose are

    u_t = SHA-256 of the UTF-8 text "{seed}:{purpose}:{t}", read as a 256-bit big-endian unsigned
          integer, for t = 0, 1, 2, ...   (the seed is written in decimal, e.g. "20260630:random:0").

A whole number U in [0, m) is made from the next stream value u: if u < 2^256 - (2^256 mod m), U is
u mod m; otherwise u is discarded and the next value is taken (rejection sampling, so every U is
exactly equally likely; for m below 2^64 a rejection has probability under 2^-192 and does not happen
in practice). Draws of one purpose use t = 0, 1, 2, ... in turn. The seed is a whole number (int),
written in decimal; n (and ``additional`` in ``extend``) must be at least 1 — an empty selection is
refused as a likely mistake.

Dates
-----
"Order by date" uses the whole value: timestamps with a zone by their instant, dates and timestamps
without a zone as given (a date counts as its midnight); Python datetime objects at microsecond
resolution, arrays at their own. Ties are broken by key. Missing dates are refused, naming the key.

The key set and its fingerprint
-------------------------------
Keys are text, used exactly as given (no trimming or case folding), compared by Unicode code point
(the same as comparing their UTF-8 bytes). Whole numbers given as keys are converted to their decimal
text (``42`` -> ``"42"``, so ``"10"`` sorts before ``"9"``) with a note; other types are refused.
Keys must be distinct, non-empty and free of line breaks.
``key_set_sha256`` is the SHA-256 (hex) of the UTF-8 bytes of every key followed by a line feed
("\\n"), keys in code point order: for keys ``b, a`` it is SHA-256 of ``"a\\nb\\n"``. It identifies
the population a sample was drawn from.

random
------
Number the N keys 0 .. N-1 in code point order. Start with the list L = [0, 1, ..., N-1]. For draw
j = 0, 1, 2, ...: take r = j + U with U the next whole number in [0, N - j) from purpose ``random``;
swap L[j] and L[r]; the j-th selected item is L[j] (after the swap). The first n draws are the sample,
in draw order (a partial Fisher-Yates shuffle), so the sample of n + m begins with the sample of n.

systematic
----------
Order the items by occurrence date, then key. With interval N/n (an exact fraction, fractional when
n does not divide N) and start = U/n where U is the first whole number in [0, N) from purpose
``systematic``, select the items at 0-based positions floor(start + i * N/n) = floor((U + i * N) / n)
for i = 0 .. n-1 (computed with whole numbers, so there is no rounding). Every item has probability
exactly n/N. The sample is in position (chronological) order.

stratified
----------
Strata are the ``strata`` labels when given, otherwise the calendar months (``YYYY-MM``) of the
dates. Dates are used as given: a date or naive timestamp is its own local date; a timestamp with a
zone uses the date in its own zone (an export stored in UTC therefore stratifies by UTC months;
convert it to the engagement's zone first). Strata are taken in code point order of their labels
(``YYYY-MM`` labels are chronological). Allocation of n over strata of sizes N_s (proportional,
largest remainder): when n >= number of strata S, every stratum receives at least one item: strata
whose proportional share is below one receive exactly one, repeated until no share of the others is
below one; the items left are shared in proportion to size: a stratum receives the whole part of its
share q_s = n' * N_s / N' (n' items left over the strata of total size N'), and the items still
unallocated go one each to the strata with the largest fractional part of q_s (ties: earlier stratum
first). When n < S the same largest-remainder rule runs without the minimum and some strata get no
item (a note names them); ties then go in the order of a Fisher-Yates shuffle of the S strata (in label
order) with purpose ``stratified:ties:round{r}``, so that equal strata are drawn, not the earliest. Within each stratum the items are ordered by date, then key (by key alone
when no dates are given), and drawn like ``random`` with purpose ``stratified:{label}``. The sample
lists stratum by stratum, each in draw order.

extend
------
Every earlier key stays, first and in its order. Round r (the original selection is round 1) adds
items not yet selected: ``random`` continues the same Fisher-Yates draws over the (new) key set and
skips keys already selected, so extending an unchanged population by m gives exactly
``select(keys, n + m)``; ``stratified`` does the same in each stratum's own stream, after allocating
the extra items over the not-yet-selected items of each stratum by the rule above; ``systematic`` runs
a new systematic pass over the not-yet-selected items with purpose ``systematic:round{r}``. The
population may have grown (roll-forward) as long as it still contains every key selected earlier.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from dataclasses import dataclass
from fractions import Fraction
from numbers import Integral
from typing import Any, TypeAlias, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from sampling.errors import DatesError, KeysError, ModelError, SamplingError, SeedError, SizeError, StrataError

__all__ = ["Selection", "select", "extend", "METHODS", "key_set_sha256", "stream_integer"]

METHODS = ("random", "systematic", "stratified")
"""The selection methods :func:`select` accepts."""
_TWO_256 = 1 << 256
_EXAMPLES = 3

_AnyArray: TypeAlias = "pa.Array[Any]"
"""An Arrow array of whatever type the caller's values had (checked before use)."""
_TextArray: TypeAlias = "pa.StringArray | pa.LargeStringArray"
"""Keys or stratum labels as Arrow text, without nulls."""


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Selection:
    """A re-performable sample selection.

    Attributes
    ----------
    keys : tuple of str
        The selected keys, in selection order (earlier rounds first).
    seed : int
        The seed of the random stream.
    method : str
        ``"random"``, ``"systematic"`` or ``"stratified"``.
    population_size : int
        Number of keys in the population of the latest round.
    key_set_sha256 : str
        SHA-256 (hex) of the sorted distinct keys of the latest round's population, each key's
        UTF-8 bytes followed by ``"\\n"``.
    start, interval : float or None
        Systematic only: the random start U/n and the interval N/n of round 1 (exact values and U in
        ``notes``). None for the other methods.
    strata : tuple of (str, int, int)
        Stratified only: (label, population count, items selected over all rounds) per stratum.
    algorithm : str
        The method in words, enough to re-perform it.
    notes : tuple of str
        Conventions applied and anything unusual (converted keys, uncovered strata, roll-forward).
    rounds : tuple of int
        Keys added by each round (round 1 is the original selection).
    strata_basis : str or None
        Stratified only: ``"month"`` (months of the dates) or ``"labels"`` (the given labels).
    """

    keys: tuple[str, ...]
    seed: int
    method: str
    population_size: int
    key_set_sha256: str
    start: float | None
    interval: float | None
    strata: tuple[tuple[str, int, int], ...]
    algorithm: str
    notes: tuple[str, ...]
    rounds: tuple[int, ...]
    strata_basis: str | None = None

    @property
    def sample_size(self) -> int:
        """Number of selected keys over all rounds."""
        return len(self.keys)

    def summary(self) -> str:
        """Plain-text description: method, seed, population, rounds, keys and the algorithm."""
        lines = [
            f"{self.method.capitalize()} selection of {len(self.keys)} of {self.population_size} items "
            f"(seed {self.seed}).",
            f"Population: {self.population_size} distinct keys, SHA-256 {self.key_set_sha256}.",
        ]
        if len(self.rounds) > 1:
            lines.append("Rounds: " + ", ".join(f"round {i + 1}: {k}" for i, k in enumerate(self.rounds)) + ".")
        if self.start is not None:
            lines.append(f"Random start {_fmt_float(self.start)}, interval {_fmt_float(self.interval)}.")
        for label, count, allocated in self.strata:
            lines.append(f"Stratum {label}: {allocated} of {count}.")
        lines.append("Selected keys: " + ", ".join(self.keys) + ".")
        lines.append("Algorithm: " + self.algorithm)
        lines.extend("Note: " + n for n in self.notes)
        return "\n".join(lines)

    def to_table(self) -> list[tuple[str, str]]:
        """(label, value) rows for a workpaper's parameters sheet; every value is text."""
        rows = [
            ("Selection method", self.method),
            ("Seed", str(self.seed)),
            ("Population size (distinct keys)", str(self.population_size)),
            ("Population key-set SHA-256", self.key_set_sha256),
            ("Sample size", str(len(self.keys))),
        ]
        if len(self.rounds) > 1:
            rows.append(("Rounds (keys added)", ", ".join(str(k) for k in self.rounds)))
        if self.start is not None:
            rows.append(("Random start", _fmt_float(self.start)))
            rows.append(("Interval", _fmt_float(self.interval)))
        if self.strata_basis is not None:
            rows.append(("Strata", "calendar months of the dates" if self.strata_basis == "month" else "given labels"))
        for label, count, allocated in self.strata:
            rows.append((f"Stratum {label}", f"{allocated} of {count}"))
        rows.append(("Selected keys (in selection order)", ", ".join(self.keys)))
        rows.append(("Algorithm", self.algorithm))
        for i, note in enumerate(self.notes, 1):
            rows.append((f"Note {i}", note))
        return rows


def _fmt_float(x: float | None) -> str:
    return "" if x is None else f"{x:.6f}".rstrip("0").rstrip(".")


# --------------------------------------------------------------------------------------------
# The documented stream
# --------------------------------------------------------------------------------------------
class _Stream:
    """u_t = int(SHA-256("{seed}:{purpose}:{t}"), big-endian); unbiased integers by rejection."""

    __slots__ = ("_prefix", "t")

    def __init__(self, seed: int, purpose: str) -> None:
        self._prefix = f"{seed}:{purpose}:".encode("utf-8")
        self.t = 0

    def value(self, t: int) -> int:
        """u_t, the stream value ``t`` as a 256-bit whole number."""
        return int.from_bytes(hashlib.sha256(self._prefix + str(t).encode("ascii")).digest(), "big")

    def below(self, m: int) -> int:
        """Next whole number in [0, m) (rejection sampling over 256-bit values)."""
        if m < 1:
            raise ValueError(f"m must be >= 1, got {m}")
        limit = _TWO_256 - (_TWO_256 % m)
        while True:
            u = self.value(self.t)
            self.t += 1
            if u < limit:
                return u % m


def stream_integer(seed: int, purpose: str, index: int, m: int) -> int | None:
    """The documented stream value ``index`` for ``purpose`` reduced to [0, m), or None if rejected.

    A helper for reviewers: ``u = int(SHA-256(f"{seed}:{purpose}:{index}"), big-endian)``; returns
    ``u mod m`` when ``u < 2**256 - 2**256 mod m``, else None (the value is skipped).
    """
    u = _Stream(seed, purpose).value(index)
    return u % m if u < _TWO_256 - (_TWO_256 % m) else None


def _fisher_yates(stream: _Stream, size: int, count: int, skip: set[int] | None = None) -> list[int]:
    """Positions (0-based) of a partial Fisher-Yates shuffle of ``size`` items, in draw order.

    Draw j: r = j + U[0, size - j); swap L[j], L[r]; L[j] is drawn. Positions in ``skip`` are drawn
    but not returned (extension). Stops after ``count`` returned positions.
    """
    swapped: dict[int, int] = {}
    out: list[int] = []
    j = 0
    while len(out) < count:
        r = j + stream.below(size - j)
        value_j = swapped.get(j, j)
        value_r = swapped.get(r, r)
        swapped[r] = value_j
        swapped.pop(j, None)
        if skip is None or value_r not in skip:
            out.append(value_r)
        j += 1
    return out


# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Keys:
    array: _TextArray           # keys in input order (string or large_string)
    order: NDArray[np.int64]    # indices that sort the keys by code point
    sha256: str
    notes: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.array)


def _as_arrow(values: Any, name: str, error: type[SamplingError]) -> _AnyArray:
    """Convert list/tuple/numpy/pyarrow/pandas input to one pyarrow Array (no pandas import).

    ``values`` is typed ``Any``: it is whatever the caller passed as keys, dates or strata (a list,
    tuple or other iterable, a numpy array, a pyarrow (chunked) array or a pandas Series).
    """
    if isinstance(values, pa.ChunkedArray):
        if values.num_chunks != 1:
            return values.combine_chunks()
        return cast(_AnyArray, values.chunk(0))  # pyarrow-stubs type chunk() as a ChunkedArray
    if isinstance(values, pa.Array):
        return values
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise error(f"{name} must be a sequence (list, numpy array, pyarrow array or pandas Series), "
                    f"got {type(values).__name__} {values!r:.60}.")
    if not isinstance(values, (list, tuple, np.ndarray)) and not hasattr(values, "dtype"):
        values = list(values)  # other iterables, e.g. a generator
    try:
        arr: _AnyArray | pa.ChunkedArray[Any] = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
        raise error(f"{name} must hold values of one type (text, or whole numbers); pyarrow could not "
                    f"read them: {exc}.") from None
    if isinstance(arr, pa.ChunkedArray):
        return arr.combine_chunks()
    return arr


def _text_array(values: Any, name: str, error: type[SamplingError], what: str) -> tuple[_TextArray, list[str]]:
    """Text (string/large_string) array of keys or labels; whole numbers converted with a note.

    ``values`` is typed ``Any``: the keys or labels as the caller passed them (see :func:`_as_arrow`).
    """
    arr = _as_arrow(values, name, error)
    notes: list[str] = []
    if isinstance(arr, pa.DictionaryArray):
        arr = arr.dictionary_decode()
    t = arr.type
    text: _TextArray
    if isinstance(arr, (pa.StringArray, pa.LargeStringArray)):  # the string and large_string types
        text = arr
    elif pa.types.is_string_view(t):
        text = cast(pa.LargeStringArray, arr.cast(pa.large_string()))
    elif pa.types.is_integer(t):
        text = cast(pa.StringArray, arr.cast(pa.string()))
        notes.append(f"{name} were whole numbers; they were converted to their decimal text (e.g. 42 -> '42') "
                     "and compared as text in code point order ('10' sorts before '9').")
    elif pa.types.is_null(t) and len(arr) > 0:
        raise error(f"{name}[0] is missing (None/null); every {what} needs a value.")
    elif len(arr) == 0:
        text = pa.array([], pa.string())
    else:
        raise error(f"{name} must be text (or whole numbers, converted to their decimal text), got values "
                    f"of type {t}; convert them to text first (e.g. series.astype(str)).")
    if text.null_count:
        where = _true_positions(text.is_null())
        shown = ", ".join(f"{name}[{i}]" for i in where[:_EXAMPLES])
        raise error(f"{name} must not contain missing values (None/NaN/null): {len(where)} missing, at {shown}; "
                    f"every {what} needs a value.")
    return text, notes


def _true_positions(mask: pa.BooleanArray) -> list[int]:
    """The positions (0-based) where ``mask`` is true (``indices_nonzero`` never returns a null)."""
    return cast(list[int], pc.indices_nonzero(mask).to_pylist())


def _offsets(arr: _TextArray) -> NDArray[np.int32] | NDArray[np.int64]:
    buffer = arr.buffers()[1]
    assert buffer is not None  # a string array always has its offsets buffer
    start, stop = arr.offset, arr.offset + len(arr) + 1
    if pa.types.is_large_string(arr.type):
        return np.frombuffer(memoryview(buffer), dtype=np.int64)[start:stop]
    return np.frombuffer(memoryview(buffer), dtype=np.int32)[start:stop]


def _data_bytes(arr: _TextArray) -> memoryview:
    off = _offsets(arr)
    data = arr.buffers()[2]
    if data is None:
        return memoryview(b"")
    return memoryview(data)[int(off[0]): int(off[-1])]


def key_set_sha256(keys: Any) -> str:
    """SHA-256 (hex) of the distinct keys in code point order, each key's UTF-8 followed by "\\n".

    Duplicates are counted once here (``select`` refuses them). Same conventions as ``select``;
    ``keys`` is typed ``Any`` for the same reason (a list, numpy array, pyarrow array or pandas Series).
    """
    arr, _ = _text_array(keys, "keys", KeysError, "population item")
    distinct = pc.unique(arr)
    return _sha_of_sorted(distinct.take(pc.sort_indices(distinct)))


def _sha_of_sorted(sorted_keys: _TextArray) -> str:
    if len(sorted_keys) == 0:
        return hashlib.sha256(b"").hexdigest()
    sep = pa.scalar("\n", sorted_keys.type)
    empty = pa.scalar("", sorted_keys.type)
    joined: _TextArray = pc.binary_join_element_wise(sorted_keys, sep, empty)
    return hashlib.sha256(_data_bytes(joined)).hexdigest()


def _prepare_keys(keys: Any) -> _Keys:
    arr, notes = _text_array(keys, "keys", KeysError, "population item")
    n = len(arr)
    if n == 0:
        raise KeysError("keys must hold at least one key (the population is empty); check the population "
                        "file and the period filter.")
    data = np.frombuffer(_data_bytes(arr), dtype=np.uint8)
    if data.size and ((data == 10).any() or (data == 13).any()):
        where = _true_positions(pc.match_substring_regex(arr, "[\\n\\r]"))
        raise KeysError(f"keys must not contain line breaks (they separate keys in the population SHA-256): "
                        f"keys[{where[0]}] is {arr[where[0]].as_py()!r} ({len(where)} such keys); clean the "
                        "key column first.")
    order = pc.sort_indices(arr)
    sorted_keys = arr.take(order)
    if sorted_keys[0].as_py() == "":
        empty_at = _true_positions(pc.equal(arr, pa.scalar("", arr.type)))
        raise KeysError(f"keys must not be empty text: {len(empty_at)} empty key(s), first at keys[{empty_at[0]}]; "
                        "every population item needs its identifier.")
    if n > 1:
        same = pc.equal(sorted_keys[1:], sorted_keys[:-1])
        if pc.any(same).as_py():
            repeated = pc.filter(sorted_keys[1:], same)
            distinct = pc.unique(repeated)
            examples = ", ".join(repr(k) for k in distinct[:_EXAMPLES].to_pylist())
            raise KeysError(f"keys must be distinct (one row per population item), but {len(distinct)} key(s) occur "
                            f"more than once ({len(repeated)} extra row(s)), e.g. {examples}; remove or "
                            "investigate the duplicated rows before sampling.")
    order_np = order.to_numpy().astype(np.int64, copy=False)
    return _Keys(arr, order_np, _sha_of_sorted(sorted_keys), tuple(notes))


def _take_keys(keys: _Keys, indices: list[int]) -> list[str]:
    if not indices:
        return []
    return cast(list[str], keys.array.take(pa.array(indices, pa.int64())).to_pylist())  # keys hold no nulls


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Dates:
    ticks: NDArray[np.int64]    # ordering value (instant for zoned values; wall clock otherwise)
    months: NDArray[np.int64]   # months since 1970-01 of the local date
    description: str


_EPOCH = _dt.datetime(1970, 1, 1)
_EPOCH_UTC = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_US = _dt.timedelta(microseconds=1)
_UNIT_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}


def _missing_dates_error(where: list[int], keys: _Keys) -> DatesError:
    named = _take_keys(keys, where[:_EXAMPLES])
    shown = ", ".join(f"dates[{i}] (key {k!r})" for i, k in zip(where[:_EXAMPLES], named, strict=True))
    return DatesError(f"dates must have a value for every key: {len(where)} missing (None/NaT), at {shown}; "
                      "the occurrence date orders systematic and stratified selection — fix or remove those rows.")


def _months_from_days(days: NDArray[np.int64]) -> NDArray[np.int64]:
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _prepare_dates(dates: Any, keys: _Keys) -> _Dates:
    n = keys.size
    try:
        length = len(dates)
    except TypeError:
        raise DatesError(f"dates must be a sequence with one date per key, got {type(dates).__name__}.") from None
    if length != n:
        raise DatesError(f"dates must have one value per key: {length} dates for {n} keys; pass the date column "
                         "of the same rows as the keys.")
    is_object = isinstance(dates, (list, tuple)) or getattr(dates, "dtype", None) == np.dtype(object)
    if is_object:
        return _dates_from_objects(list(dates), keys)
    arr = _as_arrow(dates, "dates", DatesError)
    t = arr.type
    if arr.null_count:
        raise _missing_dates_error(_true_positions(arr.is_null()), keys)
    if isinstance(arr, pa.TimestampArray):  # the timestamp types
        ticks = arr.cast(pa.int64()).to_numpy()
        if t.tz:
            local = pc.local_timestamp(arr).cast(pa.int64()).to_numpy()
            desc = (f"timestamps with zone {t.tz}: ordered by instant; months from the local date in {t.tz}")
        else:
            local = ticks
            desc = "timestamps without zone: ordered and stratified as given (wall clock)"
        days = np.floor_divide(local, _UNIT_PER_DAY[t.unit])
    elif pa.types.is_date32(t):
        ticks = arr.cast(pa.int32()).to_numpy().astype(np.int64)
        days = ticks
        desc = "calendar dates"
    elif pa.types.is_date64(t):
        ticks = arr.cast(pa.int64()).to_numpy()
        days = np.floor_divide(ticks, 86_400_000)
        desc = "calendar dates"
    else:
        raise DatesError(f"dates must be dates or timestamps (datetime, date, numpy datetime64, pandas datetime "
                         f"Series), got values of type {t}; parse text dates first (e.g. pandas.to_datetime).")
    return _Dates(np.ascontiguousarray(ticks, dtype=np.int64), _months_from_days(days), desc)


def _dates_from_objects(values: list[object], keys: _Keys) -> _Dates:
    ticks = np.empty(len(values), dtype=np.int64)
    months = np.empty(len(values), dtype=np.int64)
    missing: list[int] = []
    aware_seen = naive_seen = False
    for i, v in enumerate(values):
        if v is None or (v != v):  # None, NaT, NaN
            missing.append(i)
            continue
        if isinstance(v, np.datetime64):
            v = v.astype("datetime64[us]").item()
        if isinstance(v, _dt.datetime):
            if v.tzinfo is not None and v.tzinfo.utcoffset(v) is not None:
                aware_seen = True
                ticks[i] = (v - _EPOCH_UTC) // _US
            else:
                naive_seen = True
                ticks[i] = (v.replace(tzinfo=None) - _EPOCH) // _US
            local = v.date()
        elif isinstance(v, _dt.date):
            naive_seen = True
            local = v
            ticks[i] = (local - _EPOCH.date()).days * 86_400_000_000
        else:
            raise DatesError(f"dates must be dates or timestamps, but dates[{i}] is {type(v).__name__} {v!r:.40} "
                             f"(key {_take_keys(keys, [i])[0]!r}); parse text dates first (e.g. pandas.to_datetime).")
        months[i] = (local.year - 1970) * 12 + local.month - 1
        if aware_seen and naive_seen:
            raise DatesError(f"dates must be all with a time zone or all without one; dates[{i}] "
                             f"(key {_take_keys(keys, [i])[0]!r}) mixes the two kinds; localise them first.")
    if missing:
        raise _missing_dates_error(missing, keys)
    desc = ("timestamps with zones: ordered by instant; months from each value's local date" if aware_seen
            else "dates/timestamps without zone: ordered and stratified as given")
    return _Dates(ticks, months, desc)


def _month_label(code: int) -> str:
    year, month0 = divmod(int(code), 12)
    return f"{1970 + year:04d}-{month0 + 1:02d}"


# --------------------------------------------------------------------------------------------
# Orders and strata
# --------------------------------------------------------------------------------------------
def _date_key_order(keys: _Keys, dates: _Dates | None) -> NDArray[np.int64]:
    """Indices ordering the items by date, then key (by key alone without dates)."""
    if dates is None:
        return keys.order
    by_date = np.argsort(dates.ticks[keys.order], kind="stable")  # stable: ties stay in key order
    return keys.order[by_date]


@dataclass(frozen=True)
class _Strata:
    labels: tuple[str, ...]      # in stratum order
    codes: NDArray[np.int64]     # stratum number (0..S-1, stratum order) of each item, input order
    basis: str                   # "month" | "labels"


def _prepare_strata(strata: Any, dates: _Dates | None, keys: _Keys) -> _Strata:
    if strata is not None:
        try:
            length = len(strata)
        except TypeError:
            raise StrataError(f"strata must be a sequence with one label per key, got {type(strata).__name__}.") \
                from None
        if length != keys.size:
            raise StrataError(f"strata must have one label per key: {length} labels for {keys.size} keys; pass the "
                              "stratum column of the same rows as the keys.")
        arr, _ = _text_array(strata, "strata", StrataError, "population item")
        encoded = arr.dictionary_encode()
        dictionary = encoded.dictionary
        indices = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        rank_order = pc.sort_indices(dictionary).to_numpy()
        rank = np.empty(len(dictionary), dtype=np.int64)
        rank[rank_order] = np.arange(len(dictionary))
        labels = cast(list[str], dictionary.take(pa.array(rank_order)).to_pylist())  # labels hold no nulls
        return _Strata(tuple(labels), rank[indices], "labels")
    assert dates is not None
    low = int(dates.months.min())
    counts = np.bincount(dates.months - low)
    present = np.flatnonzero(counts)
    mapping = np.full(counts.size, -1, dtype=np.int64)
    mapping[present] = np.arange(present.size)
    months = tuple(_month_label(low + int(p)) for p in present)
    return _Strata(months, mapping[dates.months - low], "month")


def _stratum_order(order: NDArray[np.int64], codes: NDArray[np.int64],
                   count: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Reorder ``order`` stratum by stratum (stable) and return it with each stratum's start offset."""
    codes_in_order = codes[order]
    small = codes_in_order.astype(np.int16 if count < 32_000 else np.int64)
    by_stratum = np.argsort(small, kind="stable")
    counts = np.bincount(codes, minlength=count)
    starts = np.concatenate([[0], np.cumsum(counts)])
    return order[by_stratum], starts


def _allocate(n: int, sizes: list[int], tie_rank: list[int] | None = None) -> tuple[list[int], bool]:
    """Largest-remainder proportional allocation of n over sizes; >= 1 each when n >= len(sizes).

    Ties of the fractional part go to the lower ``tie_rank`` (default: the earlier stratum).
    Returns (allocation, minimum_applied).
    """
    count = len(sizes)
    alloc = [0] * count
    active = [i for i in range(count) if sizes[i] > 0]
    left = n
    minimum = n >= len(active)
    if minimum:
        fixed: set[int] = set()
        while True:
            others = [i for i in active if i not in fixed]
            total = sum(sizes[i] for i in others)
            items = n - len(fixed)
            newly = {i for i in others if Fraction(items * sizes[i], total) < 1} if total else set()
            if not newly:
                break
            fixed |= newly
        for i in fixed:
            alloc[i] = 1
        active = [i for i in active if i not in fixed]
        left = n - len(fixed)
    total = sum(sizes[i] for i in active)
    if left and total:
        quotas = {i: Fraction(left * sizes[i], total) for i in active}
        for i in active:
            alloc[i] += int(quotas[i])  # floor: quotas are non-negative
        rest = left - sum(int(q) for q in quotas.values())
        rank = tie_rank if tie_rank is not None else list(range(count))
        by_remainder = sorted(active, key=lambda i: (-(quotas[i] - int(quotas[i])), rank[i]))
        for i in by_remainder[:rest]:
            alloc[i] += 1
    return alloc, minimum


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------
def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, Integral):
        raise SeedError(f"seed must be a whole number (int) such as 20260630, got {seed!r} "
                        f"({type(seed).__name__}); choose one, record it in the workpaper and reuse it to re-perform.")
    return int(seed)


def _check_method(method: object) -> str:
    if not isinstance(method, str) or method not in METHODS:
        raise ModelError(f"method must be one of 'random', 'systematic', 'stratified', got {method!r}.")
    return method


def _check_count(value: object, name: str, available: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise SizeError(f"{name} must be a whole number >= 1, got {value!r}.")
    count = int(value)
    if count < 1:
        raise SizeError(f"{name} must be a whole number >= 1 (a selection has at least one item), got {count}.")
    if count > available:
        raise SizeError(f"{name} must not exceed the number of {what} ({available}), got {count}; "
                        f"to test every item use {name}={available}.")
    return count


# --------------------------------------------------------------------------------------------
# Algorithm texts
# --------------------------------------------------------------------------------------------
_STREAM_TEXT = ("Stream: value t (t = 0, 1, 2, ...) of a purpose is the SHA-256 of the UTF-8 text "
                "'{seed}:{purpose}:{t}' read as a 256-bit big-endian whole number u; a whole number in [0, m) is "
                "u mod m when u < 2^256 - (2^256 mod m), otherwise the value is skipped and the next one used.")
_KEYS_TEXT = ("Keys are compared by Unicode code point; the population SHA-256 is that of every key's UTF-8 "
              "followed by a line feed, keys in code point order.")
_FY_TEXT = ("Partial Fisher-Yates: number the items 0..N-1 in that order, start with L = [0..N-1]; for draw "
            "j = 0, 1, ...: r = j + (next whole number in [0, N-j)); swap L[j] and L[r]; L[j] is the j-th item drawn.")


def _algorithm(method: str, seed: int) -> str:
    stream = _STREAM_TEXT.replace("{seed}", str(seed))
    if method == "random":
        body = ("Random selection without replacement: order the keys by code point; " + _FY_TEXT +
                " with purpose 'random'; the first n drawn are the sample, in draw order.")
    elif method == "systematic":
        body = ("Systematic selection with a random start: order the items by occurrence date, then key; "
                "U = first whole number in [0, N) of purpose 'systematic'; start = U/n, interval = N/n (exact "
                "fraction); select the items at 0-based positions floor((U + i*N)/n), i = 0..n-1, in that order. "
                "Extension round r: the same over the items not yet selected with purpose 'systematic:round{r}'.")
    else:
        body = ("Stratified selection: strata are the given labels or the calendar months (YYYY-MM) of the dates, "
                "each date in its own zone, taken in code point order of the labels; n is allocated in proportion "
                "to stratum size by largest remainder (ties: earlier stratum), each stratum getting at least one "
                "item when n >= number of strata (strata whose share is below one get exactly one, then the "
                "others share the rest; when n < number of strata, ties go in the order of a Fisher-Yates "
                "shuffle of the strata with purpose 'stratified:ties:round{r}'); within a stratum order the items by date, then key (key alone "
                "without dates), and draw "
                "with purpose 'stratified:{label}' as in random selection: " + _FY_TEXT +
                " The sample lists stratum by stratum, each in draw order.")
    extension = (" Extension keeps every earlier key first; random and stratified continue the same draws, "
                 "skipping keys already selected.") if method != "systematic" else ""
    return f"{body}{extension} {stream} {_KEYS_TEXT}"


# --------------------------------------------------------------------------------------------
# select
# --------------------------------------------------------------------------------------------
def select(keys: Any, n: int, *, seed: int, method: str = "random", dates: Any = None,
           strata: Any = None) -> Selection:
    """Select ``n`` of the population's keys, re-performably.

    Parameters
    ----------
    keys : sequence of str
        One distinct key per population item: list/tuple, numpy array, pyarrow (chunked) array or
        a pandas Series of strings. Whole numbers are converted to their decimal text (noted);
        other types, missing values, empty text and line breaks are refused.
    n : int
        Sample size, 1 <= n <= number of keys.
    seed : int
        Seed of the documented SHA-256 stream (record it in the workpaper).
    method : {"random", "systematic", "stratified"}
        See the module documentation (reproduced in ``Selection.algorithm``).
    dates : sequence of dates or timestamps, optional
        Occurrence date per key (same order as ``keys``): required for ``systematic``, and for
        ``stratified`` unless ``strata`` is given. Ignored (with a note) by ``random``. A list or
        tuple of ``datetime``/``date``/``numpy.datetime64``, a numpy ``datetime64`` array, a pyarrow
        timestamp or date array, or a pandas datetime Series.
    strata : sequence of str, optional
        Stratum label per key, ``stratified`` only; without it the strata are the months of ``dates``.
        The same containers as ``keys``.

    ``keys``, ``dates`` and ``strata`` are typed ``Any``: each accepts any of the containers above
    (lists, numpy arrays, pyarrow arrays, pandas Series), which share no type this package could
    name without importing pandas; the values are checked at run time.

    Returns
    -------
    Selection

    Raises
    ------
    KeysError, SizeError, SeedError, ModelError, DatesError, StrataError
        Each message names the parameter, the rule and the offending value.

    Notes
    -----
    The result depends only on the set of (key, date, label) rows, the seed, the method and n,
    never on the order of the rows. For ``random``, ``select(keys, n + m)`` begins with
    ``select(keys, n)``.
    """
    method = _check_method(method)
    seed = _check_seed(seed)
    if strata is not None and method != "stratified":
        raise ModelError(f"strata is only used with method='stratified', got method={method!r}; drop strata= or "
                         "choose method='stratified'.")
    prepared = _prepare_keys(keys)
    n = _check_count(n, "n", prepared.size, "keys in the population")
    notes = list(prepared.notes)
    if method == "random":
        if dates is not None:
            notes.append("dates were given but random selection does not use them (it orders by key).")
        positions = _fisher_yates(_Stream(seed, "random"), prepared.size, n)
        selected = _take_keys(prepared, [int(prepared.order[p]) for p in positions])
        return _result(selected, seed, method, prepared, notes=notes, rounds=(n,))
    if dates is None and (method == "systematic" or strata is None):
        need = "dates= (the occurrence date of each key)" if method == "systematic" else \
            "dates= (months become the strata) or strata= (a label per key)"
        raise DatesError(f"method={method!r} needs {need}; dates is None.")
    prepared_dates = _prepare_dates(dates, prepared) if dates is not None else None
    if prepared_dates is not None:
        notes.append(f"dates: {prepared_dates.description}; ties in date are ordered by key.")
    order = _date_key_order(prepared, prepared_dates)
    if method == "systematic":
        selected, start, interval, text = _systematic(prepared, order, n, seed, "systematic")
        notes.append(text)
        return _result(selected, seed, method, prepared, notes=notes, rounds=(n,), start=start, interval=interval)
    prepared_strata = _prepare_strata(strata, prepared_dates, prepared)
    return _stratified_round(prepared, prepared_strata, order, n, seed, notes, earlier=(), rounds=())


def _systematic(keys: _Keys, order: NDArray[np.int64], n: int, seed: int, purpose: str,
                skip_rows: NDArray[np.int64] | None = None) -> tuple[list[str], float, float, str]:
    if skip_rows is not None and skip_rows.size:
        mask = np.ones(keys.size, dtype=bool)
        mask[skip_rows] = False
        order = order[mask[order]]
    size = len(order)
    u = _Stream(seed, purpose).below(size)
    positions = [(u + i * size) // n for i in range(n)]
    selected = _take_keys(keys, [int(order[p]) for p in positions])
    start, interval = Fraction(u, n), Fraction(size, n)
    text = (f"systematic ({purpose}): N = {size}, n = {n}, U = {u}, start = U/n = {start} "
            f"({_fmt_float(float(start))}), interval = N/n = {interval} ({_fmt_float(float(interval))})"
            + ("" if interval.denominator == 1 else ", fractional: positions are floor((U + i*N)/n) computed exactly")
            + f"; 1-based positions {', '.join(str(p + 1) for p in positions[:10])}"
            + (", ..." if n > 10 else "."))
    return selected, float(start), float(interval), text


def _stratified_round(keys: _Keys, strata: _Strata, order: NDArray[np.int64], n: int, seed: int, notes: list[str],
                      *, earlier: tuple[str, ...], rounds: tuple[int, ...],
                      earlier_rows: NDArray[np.int64] | None = None) -> Selection:
    """One stratified round; ``earlier_rows`` are the rows (input order) of the ``earlier`` keys."""
    count = len(strata.labels)
    by_stratum, starts = _stratum_order(order, strata.codes, count)
    sizes = [int(starts[s + 1] - starts[s]) for s in range(count)]
    is_earlier = None
    taken_before = [0] * count
    if earlier_rows is not None and earlier_rows.size:
        is_earlier = np.zeros(keys.size, dtype=bool)
        is_earlier[earlier_rows] = True
        taken_before = np.bincount(strata.codes[earlier_rows], minlength=count).tolist()
    remaining = [sizes[s] - taken_before[s] for s in range(count)]
    active = sum(1 for r in remaining if r > 0)
    round_no = len(rounds) + 1
    tie_rank = None
    if n < active:
        # Fewer items than strata: which equal-sized strata get an item is drawn, not "the earliest months".
        order_of_strata = _fisher_yates(_Stream(seed, f"stratified:ties:round{round_no}"), count, count)
        tie_rank = [0] * count
        for position, stratum in enumerate(order_of_strata):
            tie_rank[stratum] = position
    alloc, minimum = _allocate(n, remaining, tie_rank)
    if not minimum:
        empty = [strata.labels[s] for s in range(count) if remaining[s] > 0 and alloc[s] == 0]
        notes.append(f"n = {n} is smaller than the number of strata ({active}): not every stratum can be covered; "
                     f"allocation is proportional (largest remainder) and {len(empty)} strata get no item: "
                     f"{', '.join(empty[:12])}{' ...' if len(empty) > 12 else ''}.")
    selected: list[str] = []
    for s in range(count):
        if not alloc[s]:
            continue
        members = by_stratum[starts[s]: starts[s + 1]]
        skip_pos = None
        if is_earlier is not None and taken_before[s]:
            skip_pos = set(np.flatnonzero(is_earlier[members]).tolist())
        positions = _fisher_yates(_Stream(seed, f"stratified:{strata.labels[s]}"), sizes[s], alloc[s], skip_pos)
        selected.extend(_take_keys(keys, [int(members[p]) for p in positions]))
    allocation_text = ", ".join(f"{strata.labels[s]}: {alloc[s]} of {remaining[s]}" for s in range(count))
    notes.append(f"round {round_no} allocation (stratum: items drawn of items available): {allocation_text}.")
    totals = tuple((strata.labels[s], sizes[s], taken_before[s] + alloc[s]) for s in range(count))
    return _result(list(earlier) + selected, seed, "stratified", keys, notes=notes, rounds=rounds + (n,),
                   strata=totals, strata_basis=strata.basis)


def _result(selected: list[str], seed: int, method: str, keys: _Keys, *, notes: list[str],
            rounds: tuple[int, ...], start: float | None = None, interval: float | None = None,
            strata: tuple[tuple[str, int, int], ...] = (), strata_basis: str | None = None) -> Selection:
    return Selection(keys=tuple(selected), seed=seed, method=method, population_size=keys.size,
                     key_set_sha256=keys.sha256, start=start, interval=interval, strata=strata,
                     algorithm=_algorithm(method, seed), notes=tuple(notes), rounds=rounds,
                     strata_basis=strata_basis)


# --------------------------------------------------------------------------------------------
# extend
# --------------------------------------------------------------------------------------------
def extend(selection: Selection, additional: int, *, keys: Any, dates: Any = None,
           strata: Any = None) -> Selection:
    """Add ``additional`` items to a selection, keeping every earlier key first.

    Parameters
    ----------
    selection : Selection
        The selection to extend (any method; may itself be an extension).
    additional : int
        Items to add, 1 <= additional <= number of keys not yet selected.
    keys : sequence of str
        The population now: the same key set (sample extension), or a population that contains
        every key selected earlier (roll-forward; noted in the result).
    dates, strata
        As for ``select``: systematic needs dates; stratified needs the same basis as the
        original selection (dates for month strata, strata labels for label strata).

    ``keys``, ``dates`` and ``strata`` are typed ``Any``, as in :func:`select`.

    Returns
    -------
    Selection
        ``keys`` = earlier keys + new keys; ``rounds`` gains ``additional``; ``population_size``
        and ``key_set_sha256`` describe the population of this round.

    Raises
    ------
    KeysError
        If ``keys`` lacks any earlier selected key, or the usual key errors.
    SizeError, DatesError, StrataError, ModelError
        As for ``select``.
    """
    if not isinstance(selection, Selection):
        raise ModelError(f"selection must be a Selection returned by select() or extend(), got "
                         f"{type(selection).__name__}.")
    prepared = _prepare_keys(keys)
    earlier = selection.keys
    earlier_array = pa.array(list(earlier), prepared.array.type)
    rows = pc.index_in(earlier_array, value_set=prepared.array)  # one look-up, reused by every method
    if rows.null_count:
        missing = pc.filter(earlier_array, rows.is_null()).to_pylist()
        shown = ", ".join(repr(k) for k in missing[:_EXAMPLES])
        raise KeysError(f"keys must contain every key selected in earlier rounds, but {len(missing)} are missing, "
                        f"e.g. {shown}; extend the same population (or a roll-forward population that still "
                        "holds every earlier key).")
    earlier_rows = rows.to_numpy(zero_copy_only=False).astype(np.int64)
    available = prepared.size - len(earlier)
    if available < 1:
        raise SizeError(f"additional cannot be drawn: all {prepared.size} keys are already selected.")
    additional = _check_count(additional, "additional", available, "keys not yet selected")
    notes = list(selection.notes)
    for note in prepared.notes:
        if note not in notes:
            notes.append(note)
    round_no = len(selection.rounds) + 1
    if prepared.sha256 == selection.key_set_sha256:
        notes.append(f"round {round_no}: {additional} more from the same population (SHA-256 unchanged).")
    else:
        notes.append(f"round {round_no}: roll-forward population of {prepared.size} keys (SHA-256 "
                     f"{prepared.sha256}) replaces the earlier {selection.population_size} keys (SHA-256 "
                     f"{selection.key_set_sha256}); it contains every earlier selected key.")
    method, seed = selection.method, selection.seed
    if method == "random":
        if dates is not None:
            notes.append("dates were given but random selection does not use them (it orders by key).")
        rank = np.empty(prepared.size, dtype=np.int64)
        rank[prepared.order] = np.arange(prepared.size)
        skip = {int(r) for r in rank[earlier_rows]}
        positions = _fisher_yates(_Stream(seed, "random"), prepared.size, additional, skip)
        new = _take_keys(prepared, [int(prepared.order[p]) for p in positions])
        return _result(list(earlier) + new, seed, method, prepared, notes=notes,
                       rounds=selection.rounds + (additional,))
    if method == "systematic":
        if dates is None:
            raise DatesError("method='systematic' needs dates= (the occurrence date of each key) to extend; "
                             "dates is None.")
        if strata is not None:
            raise ModelError("strata is only used with method='stratified', got a systematic selection; drop strata=.")
        systematic_dates = _prepare_dates(dates, prepared)
        order = _date_key_order(prepared, systematic_dates)
        new, _, _, text = _systematic(prepared, order, additional, seed, f"systematic:round{round_no}", earlier_rows)
        notes.append(text)
        return _result(list(earlier) + new, seed, method, prepared, notes=notes,
                       rounds=selection.rounds + (additional,), start=selection.start, interval=selection.interval)
    # stratified
    if selection.strata_basis == "labels":
        if strata is None:
            raise StrataError("strata must be given to extend a selection stratified by labels (one label per key "
                              "of the new population); strata is None.")
    elif strata is not None:
        raise StrataError("strata must not be given: this selection was stratified by the months of its dates; "
                          "pass dates= instead.")
    elif dates is None:
        raise DatesError("method='stratified' (months of the dates) needs dates= to extend; dates is None.")
    prepared_dates = _prepare_dates(dates, prepared) if dates is not None else None
    order = _date_key_order(prepared, prepared_dates)
    prepared_strata = _prepare_strata(strata, prepared_dates, prepared)
    return _stratified_round(prepared, prepared_strata, order, additional, seed, notes,
                             earlier=earlier, rounds=selection.rounds, earlier_rows=earlier_rows)
