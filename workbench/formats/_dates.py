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

Day/month order: when both ``%d/%m`` and ``%m/%d`` readings parse every value (all days <= 12), the
order is ambiguous; the month-first reading is taken and the ambiguity is reported so that a person
confirms it with the client (it is a warning finding in the validation report).

Times without a zone are taken to be wall-clock times in the given IANA zone (``assume_timezone``;
in the autumn hour that occurs twice the earlier instant is taken, in the spring gap the time is
moved forward); times with a zone are converted. Every result is a tz-aware column in that zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["CANDIDATE_FORMATS", "ParsedTimestamps", "parse_timestamps"]

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


def _swap_day_month(fmt: str) -> str | None:
    for a, b in (("%m/%d", "%d/%m"), ("%d/%m", "%m/%d"), ("%m-%d", "%d-%m"), ("%d-%m", "%m-%d")):
        if fmt.startswith(a):
            return b + fmt[len(a):]
    return None


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
        Positions (0-based, into the column) of non-missing values that did not parse.
    ambiguous_order : str or None
        Set when the day/month order could not be told from the data; names the reading taken.
    """

    values: pd.Series
    formats: tuple[str, ...]
    zone_assumed: bool
    unparsed: np.ndarray
    ambiguous_order: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def _to_utc_us(arr: pa.Array, timezone: str) -> pa.Array:
    """A timestamp array (naive = wall clock in ``timezone``) as timestamp[us, UTC]."""
    if arr.type.tz is None:
        arr = pc.assume_timezone(arr.cast(pa.timestamp("us")), timezone,
                                 ambiguous="earliest", nonexistent="latest")
    return arr.cast(pa.timestamp("us", tz="UTC"))


def _finish(utc: pa.Array | pa.ChunkedArray, timezone: str) -> pd.Series:
    return pd.Series(utc.to_pandas()).dt.tz_convert(timezone)


def parse_timestamps(strings: pa.Array | pa.ChunkedArray, timezone: str) -> ParsedTimestamps:
    """Parse a column of strings into tz-aware timestamps.

    Parameters
    ----------
    strings : pyarrow.Array or ChunkedArray of str
        Values as they appear in the export; nulls are missing values.
    timezone : str
        IANA zone for times without a zone, and the zone of the result.

    Returns
    -------
    ParsedTimestamps
    """
    if isinstance(strings, pa.Array):
        strings = pa.chunked_array([strings])
    if not pa.types.is_string(strings.type) and not pa.types.is_large_string(strings.type):
        if pa.types.is_timestamp(strings.type):
            utc = _to_utc_us(strings, timezone)
            return ParsedTimestamps(_finish(utc, timezone), ("native",), strings.type.tz is None,
                                    np.empty(0, dtype=np.int64))
        strings = strings.cast(pa.string())
    n = len(strings)
    whole = strings
    nonnull = n - strings.null_count
    if nonnull == 0:
        empty = pa.chunked_array([pa.nulls(n, pa.timestamp("us", tz="UTC"))])
        return ParsedTimestamps(_finish(empty, timezone), (), False, np.empty(0, dtype=np.int64))
    # 1. fast path: ISO 8601 in one pass
    for target, assumed in ((pa.timestamp("us", tz="UTC"), False), (pa.timestamp("us"), True)):
        try:
            arr = strings.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        return ParsedTimestamps(_finish(_to_utc_us(arr, timezone), timezone), ("ISO 8601",), assumed,
                                np.empty(0, dtype=np.int64))
    # 2. explicit formats, chosen on a sample
    strings = whole.combine_chunks()
    trimmed = pc.utf8_trim_whitespace(strings)
    valid = pc.is_valid(trimmed)
    idx_valid = np.flatnonzero(valid.to_numpy(zero_copy_only=False))
    step = max(1, len(idx_valid) // _SAMPLE)
    sample = trimmed.take(pa.array(idx_valid[::step][:_SAMPLE]))
    scores = []
    for rank, fmt in enumerate(CANDIDATE_FORMATS):
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
    if scores:
        best = scores[0][2]
        swapped = _swap_day_month(best)
        everything = len(sample)
        if swapped and -scores[0][0] == everything and any(
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
        used.append(fmt)
        if "%z" not in fmt:
            assumed = True
        utc = _to_utc_us(parsed.filter(pa.array(good)), timezone)
        result[pending[good]] = utc.cast(pa.int64()).to_numpy(zero_copy_only=False)
        pending = pending[~good]
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
    values = pd.Series(pd.DatetimeIndex(result.view("M8[us]"), tz=None).tz_localize("UTC")).dt.tz_convert(timezone)
    return ParsedTimestamps(values, tuple(used), assumed, pending, ambiguous)
