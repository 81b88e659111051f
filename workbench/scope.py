"""Scoping: the records of a population that fall in the period (Type 2) or the as-of window (Type 1).

::

    scope_control(engagement, control, populations, related=(), *, date_column=None) -> ControlScope
    scope_population(population, engagement=None, *, date_column=None, period_start=None, period_end=None,
                     as_of=None, record_filter=None, round_=None) -> ScopedPopulation

:func:`scope_control` is the stage of a control's test: each round's population scoped to the round's dates
and to the control's record filter, its related populations to the whole period. Type 2: records whose
``date_column`` falls from ``period_start`` 00:00 to ``period_end`` 24:00 (a round's ``start`` to ``end``) in
the engagement's zone are in scope. Type 1 (``as_of``): records on or before the as-of date (24:00) within a
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

from workbench.engagement.model import Control, Round
from workbench.engagement.record_filter import RecordFilter
from workbench.errors import PopulationError
from workbench.population import Population

if TYPE_CHECKING:
    from workbench.engagement import Engagement

__all__ = [
    "DateLike",
    "ScopedPopulation",
    "ControlScope",
    "scope_control",
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
        Per record: 0 in scope, 1 before the window, 2 after it, 3 no date, 4 left out by the control's
        record filter (see :attr:`reasons`).
    date_column : str or None
        The occurrence date the scope was applied to (None for a listing, taken whole).
    start, end : pandas.Timestamp
        Bounds in the engagement's zone: from ``start`` (included) to ``end`` (excluded), i.e.
        period_start 00:00 to period_end 24:00 (Type 1: as_of minus the look-back, to as_of 24:00).
    mode : str
        ``"period"``, ``"as_of"`` or ``"listing"`` (users, vendors: no occurrence date; every record in scope).
    counts : Mapping[str, int]
        received, in_scope, before, after, no_date, filtered.
    months : tuple of (str, int)
        Each month of the period ("2025-07") with its count of in-scope records (Type 2).
    months_without_records : tuple of str
    lookback_days : int or None
        Type 1: the look-back window in days.
    record_filter : RecordFilter or None
        The control's record filter (records in the window that it leaves out are excluded, with why).
    round_name : str or None
        The testing round whose part of the period this is (None: the whole period, or a Type 1 window).
    first_record, last_record : pandas.Timestamp or NaT
        The earliest and latest occurrence in the file (any record), to show what the export covers.

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
    record_filter: RecordFilter | None = None
    round_name: str | None = None
    first_record: pd.Timestamp | NaTType = pd.NaT
    last_record: pd.Timestamp | NaTType = pd.NaT

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
        filtered = (f"{self.record_filter.excluded_reason()}: not tested by this control"
                    if self.record_filter is not None else "")
        labels = np.array(["", f"{self.date_column} before {self.start.date()}",
                           f"{self.date_column} after {(self.end - pd.Timedelta(days=1)).date()}",
                           f"no {self.date_column}", filtered], dtype=object)
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

    @property
    def coverage_text(self) -> str | None:
        """What the export covers when it covers less than the window (Type 1: the look-back), else None."""
        start, end, first_record = self.start, self.end, self.first_record
        if self.mode != "as_of" or not isinstance(first_record, pd.Timestamp) or \
                not isinstance(start, pd.Timestamp) or not isinstance(end, pd.Timestamp):
            return None
        first = first_record.tz_convert(start.tz).normalize()
        if first <= start:
            return None
        covered = (end - first).days
        return (f"the export holds records from {first.date()} only: it covers {covered} of the "
                f"{self.lookback_days} days of the window used to choose the as-of instance")

    def to_table(self) -> list[tuple[str, str]]:
        """(label, value) rows for the workpaper's population sheet."""
        c = self.counts
        rows = [("Scope", self.window_text), ("Date used", self.date_column or "(none: a listing)")]
        if self.round_name is not None:
            rows.insert(0, ("Round", self.round_name))
        if self.coverage_text:
            rows.append(("Export covers", self.coverage_text))
        rows += [("Records received", f"{c['received']:,}"), ("In scope", f"{c['in_scope']:,}"),
                 ("Excluded: before the window", f"{c['before']:,}"), ("Excluded: after the window", f"{c['after']:,}"),
                 (f"Excluded: no {self.date_column}", f"{c['no_date']:,}")]
        if self.record_filter is not None:
            rows.insert(2, ("Record filter", f"{self.record_filter.text} (the records this control tests)"))
            rows.append((f"Excluded: {self.record_filter.excluded_reason()}", f"{c['filtered']:,}"))
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
                     period_end: DateLike | None = None, as_of: DateLike | None = None,
                     record_filter: RecordFilter | None = None, round_: Round | None = None) -> ScopedPopulation:
    """Restrict a population to the period (Type 2), a round of it, or the as-of window (Type 1), and to the
    records a control's filter selects.

    Parameters
    ----------
    population : Population
    engagement : Engagement, optional
        Supplies period_start/period_end or as_of when they are not given.
    date_column : str, optional
        The occurrence date (a procedure's ``date_column``); default the kind's (changes: deployed_at).
    period_start, period_end, as_of : date or "YYYY-MM-DD", optional
    record_filter : RecordFilter, optional
        The control's record filter: records in the window it leaves out are excluded with the reason.
    round_ : Round, optional
        A testing round of a Type 2 engagement: its start and end are the window (unless a period is given).

    Returns
    -------
    ScopedPopulation
        In-scope records, excluded records with their reason, bounds, counts and month coverage.
    """
    schema = population.schema
    date_column = date_column or schema.date_column
    frame = population.frame
    filtered = np.zeros(len(frame), dtype=bool)
    if record_filter is not None:
        if record_filter.column not in frame.columns:
            raise PopulationError(f"record filter {record_filter.text!r}: {population.kind} populations have no "
                                  f"column {record_filter.column!r}")
        filtered = ~record_filter.mask(frame[record_filter.column].to_numpy(dtype=object))
    round_name = round_.name if round_ is not None and engagement is not None and engagement.rounds else None
    if date_column is None:
        # a listing as of a date (users, vendors): taken whole; a window given is checked and recorded
        start: pd.Timestamp | NaTType = pd.NaT
        end: pd.Timestamp | NaTType = pd.NaT
        if engagement is not None and not (as_of or period_start or period_end):
            # the engagement's window is recorded (checks compare a listing's dates with the period end)
            period_start, period_end, as_of = engagement.period_start, engagement.period_end, engagement.as_of
        if as_of or (period_start and period_end):
            _, start, end = scope_window(population.timezone, period_start=period_start, period_end=period_end,
                                         as_of=as_of)
        n = len(frame)
        status = np.where(filtered, 4, 0).astype(np.int8)
        kept = ~filtered
        return ScopedPopulation(population, kept, status, None, start, end, "listing",
                                {"received": n, "in_scope": int(kept.sum()), "before": 0, "after": 0, "no_date": 0,
                                 "filtered": int(filtered.sum())}, (), (), record_filter=record_filter,
                                round_name=round_name)
    if date_column not in schema.timestamps:
        raise PopulationError(f"date_column {date_column!r} is not a timestamp column of kind {population.kind!r}; "
                              f"use one of: {', '.join(schema.timestamps)}")
    if round_ is not None and period_start is None and period_end is None and as_of is None and \
            engagement is not None and engagement.report_type == "type2":
        period_start, period_end = round_.start, round_.end
    if engagement is not None and period_start is None and period_end is None and as_of is None:
        period_start, period_end, as_of = engagement.period_start, engagement.period_end, engagement.as_of
    mode, window_start, window_end = scope_window(population.timezone, period_start=period_start,
                                                  period_end=period_end, as_of=as_of)
    raw = utc_microseconds(frame[date_column])
    no_date = raw == NAT_MICROSECONDS
    before = ~no_date & (raw < _bound_us(window_start))
    after = ~no_date & (raw >= _bound_us(window_end))
    in_window = ~(no_date | before | after)
    filtered &= in_window          # a record outside the window is excluded for that reason first
    inside = in_window & ~filtered
    status = np.zeros(len(frame), dtype=np.int8)
    status[before] = 1
    status[after] = 2
    status[no_date] = 3
    status[filtered] = 4
    months = month_counts(raw[inside], window_start, window_end) if mode == "period" else []
    counts = {"received": len(frame), "in_scope": int(inside.sum()), "before": int(before.sum()),
              "after": int(after.sum()), "no_date": int(no_date.sum()), "filtered": int(filtered.sum())}
    dated = raw[~no_date]
    first = pd.Timestamp(int(dated.min()), unit="us", tz="UTC") if len(dated) else pd.NaT
    last = pd.Timestamp(int(dated.max()), unit="us", tz="UTC") if len(dated) else pd.NaT
    return ScopedPopulation(population, inside, status, date_column, window_start, window_end, mode, counts,
                            tuple(months), tuple(m for m, n in months if n == 0),
                            TYPE1_LOOKBACK_DAYS if mode == "as_of" else None, record_filter=record_filter,
                            round_name=round_name, first_record=first, last_record=last)


@dataclass(frozen=True, eq=False)
class ControlScope:
    """The records a control's procedure tests: its population in scope in each testing round.

    One part for an engagement tested in one round; with ``[[rounds]]``, one part per round, each the
    round's own export restricted to the round's dates (and to the control's record filter). The stages that
    follow (planning, selection, testing) work on the parts together; ``frame`` holds every record in scope,
    with a ``round`` column when there is more than one round.

    Attributes
    ----------
    control_id : str
    parts : tuple of ScopedPopulation
        In round order.
    rounds : tuple of Round
        Aligned with ``parts``.
    related : tuple of ScopedPopulation
        The control's other populations (listings, rosters, logs its checks join with), each scoped to the
        whole period (or the as-of window) by its kind's own date; a listing is taken whole.
    """

    control_id: str
    parts: tuple[ScopedPopulation, ...]
    rounds: tuple[Round, ...]
    related: tuple[ScopedPopulation, ...] = ()

    def __post_init__(self) -> None:
        if not self.parts or len(self.parts) != len(self.rounds):
            raise ValueError(f"control {self.control_id}: one scoped population per round is needed.")
        keys = {part.key for part in self.parts}
        if len(keys) != 1:
            raise ValueError(f"control {self.control_id}: the rounds' populations have different keys {keys}.")

    @property
    def key(self) -> str:
        """The populations' key column."""
        return self.parts[0].key

    @property
    def date_column(self) -> str | None:
        """The occurrence date the scope was applied to."""
        return self.parts[0].date_column

    @property
    def record_filter(self) -> RecordFilter | None:
        """The control's record filter (the same in every round)."""
        return self.parts[0].record_filter

    @property
    def populations(self) -> tuple[Population, ...]:
        """The population of each round."""
        return tuple(part.population for part in self.parts)

    @property
    def multiple_rounds(self) -> bool:
        """Whether the control is tested in more than one round."""
        return len(self.parts) > 1

    @cached_property
    def frame(self) -> pd.DataFrame:
        """Every record in scope, round by round (a ``round`` column when there are several rounds)."""
        if not self.multiple_rounds:
            return self.parts[0].frame
        frames = [part.frame.assign(round=round_.name) for part, round_ in zip(self.parts, self.rounds)]
        return pd.concat(frames, ignore_index=True)

    @property
    def counts(self) -> dict[str, int]:
        """The parts' counts added up (received, in_scope, before, after, no_date, filtered)."""
        totals: dict[str, int] = {}
        for part in self.parts:
            for name, value in part.counts.items():
                totals[name] = totals.get(name, 0) + value
        return totals

    @property
    def months(self) -> tuple[tuple[str, int], ...]:
        """Records in scope per month over every round."""
        merged: dict[str, int] = {}
        for part in self.parts:
            for month, count in part.months:
                merged[month] = merged.get(month, 0) + count
        return tuple(sorted(merged.items()))

    @property
    def months_without_records(self) -> tuple[str, ...]:
        """Months of the period with no record in scope."""
        return tuple(month for month, count in self.months if count == 0)

    def round_of(self, keys: pd.Series) -> pd.Series:
        """The round of each key (the round names, in the order of ``keys``)."""
        if not self.multiple_rounds:
            return pd.Series(self.rounds[0].name, index=keys.index, dtype=object)
        lookup = pd.Series(self.frame["round"].to_numpy(), index=self.frame[self.key].astype(str).to_numpy())
        return pd.Series(lookup.reindex(keys.astype(str).to_numpy()).to_numpy(), index=keys.index, dtype=object)

    def __len__(self) -> int:
        return sum(len(part) for part in self.parts)

    def summary(self) -> str:
        """Each round's scope, and the filter."""
        lines = [part.summary() if not self.multiple_rounds else f"round {round_.name}: {part.summary()}"
                 for part, round_ in zip(self.parts, self.rounds)]
        if self.record_filter is not None:
            lines.append(f"  record filter: {self.record_filter.text} ({self.counts['filtered']:,} record(s) in the "
                         f"window left to other controls)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"ControlScope({self.control_id!r}, rounds={[r.name for r in self.rounds]}, in_scope={len(self)})"


def scope_control(engagement: Engagement, control: Control, populations: tuple[Population, ...],
                  related: tuple[Population, ...] = (), *, date_column: str | None = None) -> ControlScope:
    """The scope stage of a control's test: each round's population restricted to the round's dates (or the
    period, or the as-of window) and to the control's record filter.

    Parameters
    ----------
    engagement, control
    populations : tuple of Population
        One per testing round (:func:`workbench.population.load_populations`).
    related : tuple of Population
        The control's other populations (:func:`workbench.population.load_related`).
    date_column : str, optional
        The occurrence date (the procedure's ``date_column``); default the population kind's.
    """
    rounds = engagement.test_rounds()
    if len(populations) != len(rounds):
        raise ValueError(f"control {control.id}: {len(populations)} population(s) for {len(rounds)} round(s); "
                         f"load them with load_populations(engagement, control).")
    parts = tuple(scope_population(population, engagement, date_column=date_column,
                                   record_filter=control.record_filter, round_=round_)
                  for population, round_ in zip(populations, rounds))
    whole = tuple(scope_population(population, engagement) for population in related)
    return ControlScope(control_id=control.id, parts=parts, rounds=rounds, related=whole)
