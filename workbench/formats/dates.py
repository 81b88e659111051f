"""Vectorised timestamp parsing for client exports.

Exports write times in many shapes (see ``shared/domain/formats.md``): ISO 8601 with ``Z`` or an
offset (AWS, Okta, GitHub), ISO without a zone (ServiceNow ``2020-11-13 15:22:31``), the exporting
user's locale (Jira ``16/Feb/26 3:29 PM``; after Excel ``16/02/2017 15:26``; ``6/21/2025 16:14``;
ServiceNow ``03-12-2025 15:21:08`` and ``29/2/2016 01:16``). :func:`parse_timestamps` parses a whole
column with pyarrow's compute kernels (no Python loop per value):

1. the ISO 8601 cast with a zone, then without one (the fast path: one C pass);
2. otherwise each explicit format in :data:`CANDIDATE_FORMATS` is tried on a sample of the column and
   the one that parses most values is applied to the whole column; values it leaves unparsed are tried
   with the next best formats (a column mixing two shapes, e.g. partly rewritten by Excel);
3. values still unparsed are reported by position; they are never guessed.

Impossible dates (``2025-02-29``, ``31/06/2025``, ``Jun 31, 2025``) are unparsed values, never moved to
the next month: pyarrow's ``strptime`` rolls an overflowing day into the next month, so every value a
format parsed is checked against the calendar on its *distinct* date parts (few, however many rows), and
a value whose day does not exist in its month is reported as unparsed. (The ISO 8601 cast is strict.)

Day/month order: a numeric date whose first field is above 12 (``13/02/2026``) proves day first, one
whose second field is above 12 (``02/13/2026``) proves month first. :func:`parse_timestamp_columns`
decides the order ONCE per file from the evidence of every date column and reads all columns that way
(a column holding only days <= 12 is read in the order another column proves); evidence for both orders
is a contradiction, reported in ``order_conflict``. When no value of any column shows the order, the
month-first reading is taken (or the one given by ``assume``) and the ambiguity is reported so that a
person confirms it with the client (a warning finding in the validation report).
:func:`parse_timestamps` applies the same rule to a single column.

Times without a zone are taken to be wall-clock times in the given IANA zone (``assume_timezone``;
in the autumn hour that occurs twice the earlier instant is taken, in the spring gap the time is
moved forward); times with a zone are converted. Every result is a tz-aware column in that zone.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Mapping, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

Result = TypeVar("Result")

__all__ = ["CANDIDATE_FORMATS", "DAY_FIRST", "MONTH_FIRST", "OrderEvidence", "ParsedTimestamps",
           "day_month_evidence", "parse_timestamp_columns", "parse_timestamps"]

#: Explicit formats tried, in order of preference (ties go to the earlier one).
CANDIDATE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    # Jira's default export format and its 24-hour variant
    "%d/%b/%y %I:%M %p",
    "%d/%b/%Y %I:%M %p",
    "%d/%b/%y %H:%M",
    "%d/%b/%Y %H:%M",
    "%d/%b/%y",
    "%d-%b-%Y %H:%M:%S",
    "%d-%b-%Y %H:%M",
    "%d-%b-%Y",
    "%d %b %Y %H:%M",
    "%d %b %Y",
    "%b %d, %Y %I:%M %p",
    "%b %d, %Y",
    # numeric, month first (US) before day first: see the module docstring on ambiguity
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y",
    "%m/%d/%y %H:%M",
    "%m/%d/%y %I:%M %p",
    "%m/%d/%y",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%d/%m/%y %H:%M",
    "%d/%m/%y",
    "%m-%d-%Y %H:%M:%S",
    "%m-%d-%Y %H:%M",
    "%m-%d-%Y",
    "%d-%m-%Y %H:%M:%S",
    "%d-%m-%Y %H:%M",
    "%d-%m-%Y",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
)

_SAMPLE = 2000
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")
_PARALLEL_ROWS = 100_000
_EXAMPLES = 3
DAY_FIRST = "day_first"
MONTH_FIRST = "month_first"
_ORDER_WORDS = {DAY_FIRST: "day first (dd/mm)", MONTH_FIRST: "month first (mm/dd)"}
#: numeric dates whose first two fields could be day and month in either order
_NUMERIC_DATE = r"^(?P<first>\d{1,2})[/-](?P<second>\d{1,2})[/-]\d{2,4}(?:$|[ T])"


def _swap_day_month(fmt: str) -> str | None:
    for a, b in (("%m/%d", "%d/%m"), ("%d/%m", "%m/%d"), ("%m-%d", "%d-%m"), ("%d-%m", "%m-%d")):
        if fmt.startswith(a):
            return b + fmt[len(a):]
    return None


def _format_order(fmt: str) -> str | None:
    """``day_first``/``month_first`` for a numeric format that has a swapped twin, else None."""
    if _swap_day_month(fmt) is None:
        return None
    return MONTH_FIRST if fmt.startswith("%m") else DAY_FIRST


#: regex and the longest text of each date directive
_DIRECTIVE_RE = {"%Y": (r"\d{4}", 4), "%y": (r"\d{2}", 2), "%m": (r"\s?\d{1,2}", 3), "%d": (r"\s?\d{1,2}", 3),
                 "%b": (r"[A-Za-z]{3,9}", 9)}


def _date_part(fmt: str) -> tuple[str, str, int] | None:
    """The date-only prefix of ``fmt``, an anchored regex capturing it (group ``date``), its longest text."""
    tokens = re.findall(r"%.|[^%]", fmt)
    last = max((i for i, t in enumerate(tokens) if t in _DIRECTIVE_RE), default=None)
    if last is None:
        return None
    date_tokens = tokens[:last + 1]
    pattern = "".join(_DIRECTIVE_RE[t][0] if t in _DIRECTIVE_RE else re.escape(t) for t in date_tokens)
    width = sum(_DIRECTIVE_RE[t][1] if t in _DIRECTIVE_RE else len(t) for t in date_tokens)
    return "".join(date_tokens), f"^(?P<date>{pattern})", width


def _prefixes(texts: pa.Array, width: int) -> tuple[pa.Array, pa.Array]:
    """The first ``width`` characters of every text, and their distinct values (few: dates repeat)."""
    prefix = pc.utf8_slice_codeunits(texts, 0, width)
    return prefix, pc.unique(prefix)


def _calendar_ok(text: str, date_fmt: str) -> bool:
    try:
        datetime.strptime(text, date_fmt)
    except ValueError:
        return False
    return True


def _impossible_dates(texts: pa.Array, fmt: str) -> np.ndarray | None:
    """Mask of ``texts`` (all parsed by ``fmt``) whose date does not exist (31 June, 29 Feb 2025).

    pyarrow's strptime rolls such days into the next month; the check runs on the distinct date
    parts only (a few hundred or thousand values however long the column), with Python's strict
    :func:`datetime.strptime`.
    """
    part = _date_part(fmt)
    if part is None or len(texts) == 0:
        return None
    date_fmt, pattern, width = part
    # the date part lies within the first ``width + 1`` characters: check each distinct prefix once
    prefix, distinct = _prefixes(texts, width + 1)
    dates = pc.struct_field(pc.extract_regex(distinct, pattern), [0]).to_pylist()
    verdict = {d: _calendar_ok(d, date_fmt) for d in set(dates) if d is not None}
    bad = [p for p, d in zip(distinct.to_pylist(), dates) if d is not None and not verdict[d]]
    if not bad:
        return None
    hit = pc.fill_null(pc.is_in(prefix, value_set=pa.array(bad, type=pa.string())), False)
    return np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool)


@dataclass(frozen=True)
class OrderEvidence:
    """What a column's numeric dates show about the day/month order.

    Attributes
    ----------
    numeric : bool
        True when the column holds numeric dates that could be read in either order (``01/02/2025``).
    day_first : tuple of str
        Example values whose first field is 13-31 and second 1-12 (so the first field is the day).
    month_first : tuple of str
        Example values whose second field is 13-31 and first 1-12 (so the first field is the month).
        A value such as ``31/31/2025`` proves nothing (it is no date in either order).
    """

    numeric: bool = False
    day_first: tuple[str, ...] = ()
    month_first: tuple[str, ...] = ()

    @property
    def order(self) -> str | None:
        """The order the column proves (None when it proves none, or both)."""
        if self.day_first and not self.month_first:
            return DAY_FIRST
        if self.month_first and not self.day_first:
            return MONTH_FIRST
        return None


def day_month_evidence(strings: pa.Array | pa.ChunkedArray) -> OrderEvidence:
    """Scan a text column for values that prove the day/month order (vectorised, whole column)."""
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    if len(strings) == 0 or strings.null_count == len(strings):
        return OrderEvidence()
    trimmed = pc.utf8_trim_whitespace(strings)
    # dd/mm/yyyy and a separator fit in 11 characters: the regex runs on the distinct prefixes only
    prefix, distinct = _prefixes(trimmed, 11)
    fields = pc.extract_regex(distinct, _NUMERIC_DATE)
    first = pc.cast(pc.struct_field(fields, [0]), pa.int16())
    second = pc.cast(pc.struct_field(fields, [1]), pa.int16())
    if first.null_count == len(first):
        return OrderEvidence()

    def examples(mask: pa.Array) -> tuple[str, ...]:
        hits = pc.filter(distinct, pc.fill_null(mask, False))
        found = []
        for value in hits.slice(0, _EXAMPLES):        # the first full value with each prefix
            found.append(str(trimmed[pc.index(prefix, value).as_py()].as_py()))
        return tuple(found)

    def proves(day: pa.Array, month: pa.Array) -> pa.Array:   # a possible day above 12, a possible month
        return pc.and_(pc.and_(pc.greater(day, 12), pc.less_equal(day, 31)),
                       pc.and_(pc.greater_equal(month, 1), pc.less_equal(month, 12)))

    return OrderEvidence(True, examples(proves(first, second)), examples(proves(second, first)))


@dataclass(frozen=True)
class ParsedTimestamps:
    """One parsed column.

    Attributes
    ----------
    values : pandas.Series
        tz-aware datetimes in the target zone (``NaT`` where missing or unparseable).
    formats : tuple of str
        The formats that parsed the values (``"ISO 8601"`` for the fast path).
    zone_assumed : bool
        True when some values carried no zone and the target zone was assumed.
    unparsed : numpy.ndarray
        Positions (0-based, into the column) of non-missing values that did not parse, including
        impossible dates (``2025-02-29``, ``31/06/2025``).
    ambiguous_order : str or None
        Set when the day/month order could not be told from the data (of the column, or with
        :func:`parse_timestamp_columns` of the whole file); names the reading taken and why.
    notes : tuple of str
        How the day/month order was decided, when it was.
    order_conflict : str or None
        Set (by :func:`parse_timestamp_columns`) when the file's date columns prove both orders; names
        the columns and example values. An error: the population cannot be read reliably.
    """

    values: pd.Series
    formats: tuple[str, ...]
    zone_assumed: bool
    unparsed: np.ndarray
    ambiguous_order: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    order_conflict: str | None = None


def _to_utc_us(arr: pa.Array, timezone: str) -> pa.Array:
    """A timestamp array (naive = wall clock in ``timezone``) as timestamp[us, UTC]."""
    if arr.type.tz is None:
        arr = pc.assume_timezone(arr.cast(pa.timestamp("us")), timezone,
                                 ambiguous="earliest", nonexistent="latest")
    return arr.cast(pa.timestamp("us", tz="UTC"))


def _finish(utc: pa.Array | pa.ChunkedArray, timezone: str) -> pd.Series:
    return pd.Series(utc.to_pandas()).dt.tz_convert(timezone)


def _fast(strings: pa.Array | pa.ChunkedArray, timezone: str) -> tuple[ParsedTimestamps | None, pa.ChunkedArray]:
    """Native timestamps, an all-missing column or ISO 8601 (one C pass); else (None, text column)."""
    if isinstance(strings, pa.Array):
        strings = pa.chunked_array([strings])
    if not pa.types.is_string(strings.type) and not pa.types.is_large_string(strings.type):
        if pa.types.is_timestamp(strings.type):
            utc = _to_utc_us(strings, timezone)
            return ParsedTimestamps(_finish(utc, timezone), ("native",), strings.type.tz is None,
                                    np.empty(0, dtype=np.int64)), strings
        strings = strings.cast(pa.string())
    n = len(strings)
    if n - strings.null_count == 0:
        empty = pa.chunked_array([pa.nulls(n, pa.timestamp("us", tz="UTC"))])
        return ParsedTimestamps(_finish(empty, timezone), (), False, np.empty(0, dtype=np.int64)), strings
    # the ISO 8601 cast is strict (it refuses 2025-02-30), unlike strptime. A failing cast of a long
    # column is slow, so the first values are tried first
    head = strings.slice(0, 256).drop_null()
    for target, assumed in ((pa.timestamp("us", tz="UTC"), False), (pa.timestamp("us"), True)):
        try:
            if len(head) and len(head) < n:
                head.cast(target)
            arr = strings.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        return ParsedTimestamps(_finish(_to_utc_us(arr, timezone), timezone), ("ISO 8601",), assumed,
                                np.empty(0, dtype=np.int64)), strings
    return None, strings


def parse_timestamps(strings: pa.Array | pa.ChunkedArray, timezone: str, *,
                     order: str | None = None) -> ParsedTimestamps:
    """Parse a column of strings into tz-aware timestamps.

    Parameters
    ----------
    strings : pyarrow.Array or ChunkedArray of str
        Values as they appear in the export; nulls are missing values.
    timezone : str
        IANA zone for times without a zone, and the zone of the result.
    order : {"day_first", "month_first"}, optional
        The day/month order of numeric dates, when it is known (from the whole file: see
        :func:`parse_timestamp_columns`). Without it the column's own values decide it.

    Returns
    -------
    ParsedTimestamps
    """
    if order not in (None, DAY_FIRST, MONTH_FIRST):
        raise ValueError(f"order must be {DAY_FIRST!r}, {MONTH_FIRST!r} or None, not {order!r}")
    done, strings = _fast(strings, timezone)
    if done is not None:
        return done
    return _parse_explicit(strings, timezone, order, None)


def _parse_explicit(whole: pa.ChunkedArray, timezone: str, order: str | None,
                    evidence: OrderEvidence | None) -> ParsedTimestamps:
    n = len(whole)
    strings = whole.combine_chunks()
    trimmed = pc.utf8_trim_whitespace(strings)
    notes: list[str] = []
    decided_here = False
    if order is None:
        evidence = evidence if evidence is not None else day_month_evidence(trimmed)
        order = evidence.order
        decided_here = order is not None
        if order is not None:
            shown = evidence.day_first if order == DAY_FIRST else evidence.month_first
            notes.append(f"day/month order: {_ORDER_WORDS[order]}, shown by {shown[0]!r}")
    candidates = CANDIDATE_FORMATS
    if order is not None:
        # the other order's formats are never tried: one column is never read both ways
        candidates = tuple(f for f in CANDIDATE_FORMATS if _format_order(f) in (None, order))
    # 2. explicit formats, chosen on a sample
    valid = pc.is_valid(trimmed)
    idx_valid = np.flatnonzero(valid.to_numpy(zero_copy_only=False))
    step = max(1, len(idx_valid) // _SAMPLE)
    sample = trimmed.take(pa.array(idx_valid[::step][:_SAMPLE]))
    scores = []
    for rank, fmt in enumerate(candidates):
        parsed = pc.strptime(sample, format=fmt, unit="us", error_is_null=True)
        ok = len(parsed) - parsed.null_count
        if ok:
            scores.append((-ok, rank, fmt))
    scores.sort()
    result = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)  # NaT
    pending = idx_valid
    used: list[str] = []
    assumed = False
    ambiguous = None
    impossible_all: list[np.ndarray] = []
    if scores:
        best = scores[0][2]
        swapped = _swap_day_month(best)
        everything = len(sample)
        if order is None and swapped and -scores[0][0] == everything and any(
                f == swapped and -s == everything for s, _, f in scores):
            ambiguous = (f"the day/month order cannot be told from the values (every day is 12 or less); "
                         f"read as {best!r}, not {swapped!r}")
        # never read one column in both day/month orders: the later order's values stay unparsed
        chosen: list[tuple[int, int, str]] = []
        for item in scores:
            if _swap_day_month(item[2]) not in {f for _, _, f in chosen} or _swap_day_month(item[2]) is None:
                chosen.append(item)
        scores = chosen
    for _, _, fmt in scores:
        if len(pending) == 0:
            break
        subset = trimmed.take(pa.array(pending))
        parsed = pc.strptime(subset, format=fmt, unit="us", error_is_null=True)
        good = pc.is_valid(parsed).to_numpy(zero_copy_only=False)
        if not good.any():
            continue
        # strptime rolls 31 June into 1 July: such values stay unparsed (and no other format takes them)
        impossible = _impossible_dates(subset.filter(pa.array(good)), fmt)
        keep = ~good
        if impossible is not None:
            where = np.flatnonzero(good)[impossible]
            good = good.copy()
            good[where] = False
            impossible_all.append(pending[where])
        if good.any():
            used.append(fmt)
            if "%z" not in fmt:
                assumed = True
            utc = _to_utc_us(parsed.filter(pa.array(good)), timezone)
            result[pending[good]] = utc.cast(pa.int64()).to_numpy(zero_copy_only=False)
        pending = pending[keep]
    # 3. leftovers: ISO 8601 variants strptime cannot read (fractions of a second), value by value
    if len(pending):
        left = trimmed.take(pa.array(pending)).to_pylist()
        good = np.zeros(len(pending), dtype=bool)
        for j, text in enumerate(left):
            if not text or not text[0].isdigit() or len(text) < 10:
                continue
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                continue
            ts = pd.Timestamp(moment)
            if ts.tzinfo is None:
                assumed = True
                ts = ts.tz_localize(timezone, ambiguous=True, nonexistent="shift_forward")
            result[pending[j]] = (ts - _EPOCH) // pd.Timedelta(1, "us")
            good[j] = True
        if good.any():
            used.append("ISO 8601")
        pending = pending[~good]
    if impossible_all:
        pending = np.sort(np.concatenate([pending, *impossible_all]))
    values = pd.Series(pd.DatetimeIndex(result.view("M8[us]"), tz=None).tz_localize("UTC")).dt.tz_convert(timezone)
    return ParsedTimestamps(values, tuple(used), assumed, pending, ambiguous, tuple(notes))


def parse_timestamp_columns(columns: Mapping[str, pa.Array | pa.ChunkedArray], timezone: str, *,
                            labels: Mapping[str, str] | None = None,
                            assume: str = MONTH_FIRST,
                            assume_reason: str = "the US order, which exports use when nothing else is set"
                            ) -> dict[str, ParsedTimestamps]:
    """Parse all the date columns of one file, deciding the day/month order once for the file.

    Parameters
    ----------
    columns : mapping of str to pyarrow.Array or ChunkedArray
        The file's timestamp columns (canonical name -> text values).
    timezone : str
        IANA zone for times without a zone, and the zone of the results.
    labels : mapping of str to str, optional
        How to name each column in messages (e.g. ``"created_at ('Created')"``); default the key.
    assume : {"day_first", "month_first"}
        The order taken when no value of any column shows it (reported as ``ambiguous_order``).
    assume_reason : str
        Why that order is taken (the format's locale convention), for the message.

    Returns
    -------
    dict of str to ParsedTimestamps
        One per column, in the order given. A value whose first field is above 12 anywhere in the file
        makes every column day first; a second field above 12 makes every column month first. When the
        file shows both, each column is read as its own values show and every column with evidence
        carries ``order_conflict`` (an error: name the columns and values to the client). When the file
        shows neither, ``assume`` is taken and each numeric column carries ``ambiguous_order``.
    """
    if assume not in (DAY_FIRST, MONTH_FIRST):
        raise ValueError(f"assume must be {DAY_FIRST!r} or {MONTH_FIRST!r}, not {assume!r}")
    labels = dict(labels or {})
    names = list(columns)
    rows = max((len(columns[c]) for c in names), default=0)
    workers = min(len(names), os.cpu_count() or 1) if rows >= _PARALLEL_ROWS and len(names) > 1 else 1

    def run(fn: Callable[[str], Result], items: list[str]) -> list[Result]:
        if workers > 1:     # pyarrow's kernels release the GIL
            with ThreadPoolExecutor(max_workers=workers) as pool:
                return list(pool.map(fn, items))
        return [fn(item) for item in items]

    # 1. the fast paths (ISO 8601 needs no order); the evidence of every other column
    def first_pass(name: str) -> tuple[ParsedTimestamps | None, pa.ChunkedArray, OrderEvidence | None]:
        done, strings = _fast(columns[name], timezone)
        return (done, strings, None) if done is not None else (None, strings, day_month_evidence(strings))

    passes = dict(zip(names, run(first_pass, names)))
    evidence = {c: ev for c, (_, _, ev) in passes.items() if ev is not None}
    day = {c: ev.day_first for c, ev in evidence.items() if ev.day_first}
    month = {c: ev.month_first for c, ev in evidence.items() if ev.month_first}

    def label(c: str) -> str:
        return labels.get(c, c)

    def shown(proof: Mapping[str, tuple[str, ...]]) -> str:
        return "; ".join(f"{label(c)}: {', '.join(repr(v) for v in vs)}" for c, vs in proof.items())

    conflict = None
    orders: dict[str, str | None] = {}
    note = None
    if day and month:
        conflict = (f"the file's dates show both day/month orders: values with a first field above 12 "
                    f"(day first) in {shown(day)}; values with a second field above 12 (month first) in "
                    f"{shown(month)}. The other dates cannot be read reliably; ask the client for an export "
                    f"with one date format (ISO 8601, e.g. 2026-02-13 14:30, is best)")
        orders = {c: ev.order for c, ev in evidence.items()}      # each column as its own values show
    elif day or month:
        order = DAY_FIRST if day else MONTH_FIRST
        proof = day or month
        column, values = next(iter(proof.items()))
        note = (f"day/month order: {_ORDER_WORDS[order]} for every date column of the file, shown by "
                f"{values[0]!r} in {label(column)}")
        orders = {c: order for c in evidence}
    else:
        orders = {c: assume for c in evidence}

    # 2. the other columns, all in the file's order
    def second_pass(name: str) -> ParsedTimestamps:
        done, strings, ev = passes[name]
        if done is not None:
            return done
        return _parse_explicit(strings, timezone, orders.get(name), ev)

    parsed = dict(zip(names, run(second_pass, names)))
    out: dict[str, ParsedTimestamps] = {}
    for name in names:
        result = parsed[name]
        ev = evidence.get(name)
        ambiguous = result.ambiguous_order
        notes = result.notes
        numeric_used = [f for f in result.formats if _format_order(f) is not None]
        if conflict is None and ev is not None and not day and not month and numeric_used:
            fmt = numeric_used[0]
            ambiguous = (f"the day/month order cannot be told from the values: no date in any date column "
                         f"of the file has a day above 12; read {_ORDER_WORDS[assume]} ({fmt!r}, not "
                         f"{_swap_day_month(fmt)!r}), {assume_reason}")
        elif note is not None and numeric_used:
            notes = (note,)
        out[name] = ParsedTimestamps(
            result.values, result.formats, result.zone_assumed, result.unparsed, ambiguous, notes,
            conflict if conflict is not None and (name in day or name in month) else None)
    return out
