"""Scoping: the records of a population that fall in the period (Type 2) or the as-of window (Type 1).

::

    scope_population(population, engagement=None, *, date_column, period_start=None, period_end=None,
                     as_of=None) -> ScopedPopulation

Type 2: records whose ``date_column`` falls from ``period_start`` 00:00 to ``period_end`` 24:00 in the
engagement's zone are in scope. Type 1 (``as_of``): records on or before the as-of date (24:00) within a
look-back of :data:`TYPE1_LOOKBACK_DAYS` days (a walkthrough picks one recent instance; the window
documents what "recent" meant). Every excluded record is kept in ``ScopedPopulation.excluded`` with its
reason: nothing is dropped silently.

Timestamps are compared as microseconds since the epoch (UTC) in int64, with NaT as the int64 minimum
(:func:`utc_microseconds`, :data:`NAT_MICROSECONDS`), which is exact and vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Mapping

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pandas.api.typing import NaTType

from workbench.errors import PopulationError
from workbench.population import Population

if TYPE_CHECKING:
    from workbench.engagement import Engagement

__all__ = [
    "DateLike",
    "ScopedPopulation",
    "scope_population",
    "scope_window",
    "month_counts",
    "utc_microseconds",
    "NAT_MICROSECONDS",
    "TYPE1_LOOKBACK_DAYS",
]

#: A calendar date as the stages accept it: a date (or date-time, whose day is used) or ``"YYYY-MM-DD"``.
DateLike = date | str

#: Type 1 scoping window: records in the last 90 days up to the as-of date are "recent instances".
TYPE1_LOOKBACK_DAYS = 90

@dataclass(frozen=True, eq=False)
class ScopedPopulation:
    """The records of a population that fall in the period (Type 2) or the as-of window (Type 1).

    Attributes
    ----------
    population : Population
    in_scope : numpy.ndarray of bool
        One flag per record of ``population.frame``.
    status : numpy.ndarray of int8
        Per record: 0 in scope, 1 before the window, 2 after it, 3 no date (see :attr:`reasons`).
    date_column : str or None
        The occurrence date the scope was applied to (None for a listing, taken whole).
    start, end : pandas.Timestamp
        Bounds in the engagement's zone: from ``start`` (included) to ``end`` (excluded), i.e.
        period_start 00:00 to period_end 24:00 (Type 1: as_of minus the look-back, to as_of 24:00).
    mode : str
        ``"period"``, ``"as_of"`` or ``"listing"`` (users, vendors: no occurrence date; every record in scope).
    counts : Mapping[str, int]
        received, in_scope, before, after, no_date.
    months : tuple of (str, int)
        Each month of the period ("2025-07") with its count of in-scope records (Type 2).
    months_without_records : tuple of str
    lookback_days : int or None
        Type 1: the look-back window in days.

    ``frame`` (records in scope, in file order) and ``excluded`` (records out of scope with a
    ``reason`` column) are built on first use.
    """

    population: Population
    in_scope: NDArray[np.bool_]
    status: NDArray[np.int8]
    date_column: str | None
    start: pd.Timestamp | NaTType
    end: pd.Timestamp | NaTType
    mode: str
    counts: Mapping[str, int]
    months: tuple[tuple[str, int], ...]
    months_without_records: tuple[str, ...]
    lookback_days: int | None = None

    @cached_property
    def frame(self) -> pd.DataFrame:
        """Records in scope (canonical columns + ``source_row``), in file order."""
        if self.in_scope.all():
            return self.population.frame
        return self.population.frame[self.in_scope]

    @cached_property
    def excluded(self) -> pd.DataFrame:
        """Records out of scope, with a ``reason`` column."""
        mask = ~self.in_scope
        if not mask.any():
            empty = self.population.frame.iloc[:0].copy()
            empty["reason"] = pd.array([], dtype="str")
            return empty
        excluded = self.population.frame[mask].copy()
        excluded["reason"] = pd.array(self.reasons[mask], dtype="str")
        return excluded

    @property
    def reasons(self) -> NDArray[np.object_]:
        """Per record: ``""`` in scope, else why it is excluded."""
        labels = np.array(["", f"{self.date_column} before {self.start.date()}",
                           f"{self.date_column} after {(self.end - pd.Timedelta(days=1)).date()}",
                           f"no {self.date_column}"], dtype=object)
        return labels[self.status]

    @property
    def key(self) -> str:
        """The population's key column."""
        return self.population.key

    @property
    def keys(self) -> pd.Series:
        """The in-scope records' keys."""
        return self.frame[self.population.key]

    @property
    def months_covered(self) -> tuple[str, ...]:
        """Months of the period with at least one record."""
        return tuple(m for m, n in self.months if n)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def window_text(self) -> str:
        """The window in words: ``2025-07-01 00:00 to 2026-06-30 24:00 America/New_York``."""
        if self.mode == "listing":
            return "a listing as of a date, taken whole"
        end_day = (self.end - pd.Timedelta(days=1)).date()
        if self.mode == "as_of":
            return (f"as of {end_day} (look-back {self.lookback_days} days: "
                    f"{self.start.date()} 00:00 to {end_day} 24:00 {self.population.timezone})")
        return f"{self.start.date()} 00:00 to {end_day} 24:00 {self.population.timezone}"

    def to_table(self) -> list[tuple[str, str]]:
        """(label, value) rows for the workpaper's population sheet."""
        c = self.counts
        rows = [("Scope", self.window_text), ("Date used", self.date_column or "(none: a listing)"),
                ("Records received", f"{c['received']:,}"), ("In scope", f"{c['in_scope']:,}"),
                ("Excluded: before the window", f"{c['before']:,}"), ("Excluded: after the window", f"{c['after']:,}"),
                (f"Excluded: no {self.date_column}", f"{c['no_date']:,}")]
        if self.mode == "period":
            rows.append(("Months covered", f"{len(self.months_covered)} of {len(self.months)}"))
            if self.months_without_records:
                rows.append(("Months with no records", ", ".join(self.months_without_records)))
        return rows

    def summary(self) -> str:
        """A few lines for people."""
        c = self.counts
        lines = [f"{self.population.name}: {c['in_scope']:,} of {c['received']:,} record(s) in scope "
                 f"({self.window_text}, by {self.date_column})",
                 f"  excluded: {c['before']:,} before, {c['after']:,} after, {c['no_date']:,} without {self.date_column}"]
        if self.mode == "period":
            lines.append(f"  months with records: {len(self.months_covered)} of {len(self.months)}"
                         + (f"; none in {', '.join(self.months_without_records)}" if self.months_without_records else ""))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"ScopedPopulation({self.population.name!r}, in_scope={self.counts['in_scope']}, "
                f"excluded={len(self.excluded)}, {self.window_text})")


def _as_date(value: DateLike | None, label: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise PopulationError(f"{label} {value!r} is not a date (YYYY-MM-DD)") from None


def scope_window(timezone: str, *, period_start: DateLike | None = None, period_end: DateLike | None = None,
                 as_of: DateLike | None = None,
                 lookback_days: int = TYPE1_LOOKBACK_DAYS) -> tuple[str, pd.Timestamp, pd.Timestamp]:
    """(mode, start, end) bounds in ``timezone``: [start, end)."""
    start_d, end_d, as_of_d = (_as_date(period_start, "period_start"), _as_date(period_end, "period_end"),
                               _as_date(as_of, "as_of"))
    if as_of_d is not None and (start_d or end_d):
        raise PopulationError("give either a period (period_start and period_end) or an as-of date, not both")
    if as_of_d is not None:
        end = pd.Timestamp(datetime.combine(as_of_d + timedelta(days=1), time())).tz_localize(timezone)
        start = pd.Timestamp(datetime.combine(as_of_d - timedelta(days=lookback_days - 1), time())).tz_localize(timezone)
        return "as_of", start, end
    if start_d is None or end_d is None:
        raise PopulationError("a period needs both period_start and period_end (or give as_of for a Type 1)")
    if end_d < start_d:
        raise PopulationError(f"period_end {end_d} is before period_start {start_d}")
    start = pd.Timestamp(datetime.combine(start_d, time())).tz_localize(timezone)
    end = pd.Timestamp(datetime.combine(end_d + timedelta(days=1), time())).tz_localize(timezone)
    return "period", start, end


def _month_labels(start: pd.Timestamp, end: pd.Timestamp) -> list[str]:
    first = start.tz_localize(None).to_period("M")
    last = (end - pd.Timedelta(microseconds=1)).tz_localize(None).to_period("M")
    return [str(p) for p in pd.period_range(first, last, freq="M")]


def month_counts(values: pd.Series | NDArray[np.int64], start: pd.Timestamp,
                 end: pd.Timestamp) -> list[tuple[str, int]]:
    """Records per calendar month (in the bounds' zone) from ``start`` to ``end``.

    ``values`` is a tz-aware series or its microseconds since the epoch (int64, NaT = int64 minimum).
    """
    labels = _month_labels(start, end)
    first = start.tz_localize(None).to_period("M").to_timestamp()
    edges = [pd.Timestamp(first + pd.DateOffset(months=i)).tz_localize(start.tz) for i in range(len(labels) + 1)]
    edge_us = np.array([_bound_us(e) for e in edges], dtype=np.int64)
    raw = values if isinstance(values, np.ndarray) else utc_microseconds(values)
    # records before each month edge (NaT, the int64 minimum, is before every edge and cancels out)
    below = np.array([np.count_nonzero(raw < edge) for edge in edge_us], dtype=np.int64)
    counts = np.diff(below)
    return [(label, int(n)) for label, n in zip(labels, counts)]


_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")
#: NaT in :func:`utc_microseconds` (the int64 minimum, before every real time).
NAT_MICROSECONDS = np.iinfo(np.int64).min


def utc_microseconds(values: pd.Series) -> NDArray[np.int64]:
    """Microseconds since the epoch (UTC) of a tz-aware series; NaT = int64 minimum."""
    array = values.array
    if getattr(array, "unit", "us") != "us":
        array = values.dt.as_unit("us").array
    return np.asarray(array.asi8)


def _bound_us(ts: pd.Timestamp) -> int:
    return int((ts - _EPOCH) // pd.Timedelta(1, "us"))


def scope_population(population: Population, engagement: Engagement | None = None, *,
                     date_column: str | None = None, period_start: DateLike | None = None,
                     period_end: DateLike | None = None, as_of: DateLike | None = None) -> ScopedPopulation:
    """Restrict a population to the period (Type 2) or the as-of window (Type 1).

    Parameters
    ----------
    population : Population
    engagement : Engagement, optional
        Supplies period_start/period_end or as_of when they are not given.
    date_column : str, optional
        The occurrence date (a procedure's ``date_column``); default the kind's (changes: deployed_at).
    period_start, period_end, as_of : date or "YYYY-MM-DD", optional

    Returns
    -------
    ScopedPopulation
        In-scope records, excluded records with their reason, bounds, counts and month coverage.
    """
    schema = population.schema
    date_column = date_column or schema.date_column
    frame = population.frame
    if date_column is None:
        # a listing as of a date (users, vendors): taken whole; a window given is checked and recorded
        start: pd.Timestamp | NaTType = pd.NaT
        end: pd.Timestamp | NaTType = pd.NaT
        if as_of or (period_start and period_end):
            _, start, end = scope_window(population.timezone, period_start=period_start, period_end=period_end,
                                         as_of=as_of)
        n = len(frame)
        return ScopedPopulation(population, np.ones(n, dtype=bool), np.zeros(n, dtype=np.int8), None, start, end,
                                "listing", {"received": n, "in_scope": n, "before": 0, "after": 0, "no_date": 0},
                                (), ())
    if date_column not in schema.timestamps:
        raise PopulationError(f"date_column {date_column!r} is not a timestamp column of kind {population.kind!r}; "
                              f"use one of: {', '.join(schema.timestamps)}")
    if engagement is not None and period_start is None and period_end is None and as_of is None:
        period_start, period_end, as_of = engagement.period_start, engagement.period_end, engagement.as_of
    mode, window_start, window_end = scope_window(population.timezone, period_start=period_start,
                                                  period_end=period_end, as_of=as_of)
    raw = utc_microseconds(frame[date_column])
    no_date = raw == NAT_MICROSECONDS
    before = ~no_date & (raw < _bound_us(window_start))
    after = ~no_date & (raw >= _bound_us(window_end))
    inside = ~(no_date | before | after)
    status = np.zeros(len(frame), dtype=np.int8)
    status[before] = 1
    status[after] = 2
    status[no_date] = 3
    months = month_counts(raw[inside], window_start, window_end) if mode == "period" else []
    counts = {"received": len(frame), "in_scope": int(inside.sum()), "before": int(before.sum()),
              "after": int(after.sum()), "no_date": int(no_date.sum())}
    return ScopedPopulation(population, inside, status, date_column, window_start, window_end, mode, counts,
                            tuple(months), tuple(m for m, n in months if n == 0),
                            TYPE1_LOOKBACK_DAYS if mode == "as_of" else None)
