"""The occurrences of a periodic control with no client export, derived from its frequency over the period.

A control such as "the security committee meets quarterly" has no export to sample from: its population is
the list of times it should have operated. :func:`derive_occurrences` cuts the window tested into the
control's intervals:

============== ======================================================================================
frequency      occurrences
============== ======================================================================================
annual         one per year of the window (a 12-month period: 1)
quarterly      one per three months (4), ``2025-Q3`` when the quarter is a calendar quarter
monthly        one per month (12), ``2025-07`` when it is a calendar month
weekly         one per seven days (52 in a 365-day period)
daily          one per business day (Monday to Friday; no holidays)
============== ======================================================================================

Type 2: intervals run forward from the period start; a trailing part of an interval counts as an occurrence
when it is at least half an interval long, else it is added to the last one (the 365th day of a year of
weeks belongs to week 52). Type 1: the intervals that end in the look-back window, counted back from the
as-of date (annual: the year ending on the as-of date; monthly: the last three months), so the one instance
walked through is the most recent. ``many_times_a_day`` and ``as_needed`` cannot be derived: the tester lists
the occurrences in engagement.toml.

``due_at`` of an occurrence is the last day of its interval; ``starts_at`` the first.

Public API::

    derive_occurrences(frequency, start, end, *, backwards=False) -> tuple[DerivedOccurrence, ...]
    occurrence_window(engagement) -> (date, date)
    DERIVABLE_FREQUENCIES, TYPE1_WINDOW_DAYS
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from workbench.engagement.model import Engagement
from workbench.errors import EngagementError

__all__ = ["DerivedOccurrence", "derive_occurrences", "occurrence_window", "DERIVABLE_FREQUENCIES",
           "TYPE1_WINDOW_DAYS"]

#: Frequencies whose occurrences can be derived; the others are listed by the tester.
DERIVABLE_FREQUENCIES: tuple[str, ...] = ("annual", "quarterly", "monthly", "weekly", "daily")
#: The Type 1 look-back window in days (the same as :data:`workbench.scope.TYPE1_LOOKBACK_DAYS`).
TYPE1_WINDOW_DAYS = 90

_MONTHS = {"annual": 12, "quarterly": 3, "monthly": 1}
_NOUNS = {"annual": "Year", "quarterly": "Quarter", "monthly": "Month", "weekly": "Week", "daily": "Business day"}


@dataclass(frozen=True)
class DerivedOccurrence:
    """One interval of a control's frequency: its id, first and last day, and a description."""

    id: str
    starts: date
    due: date
    description: str


def _add_months(day: date, months: int) -> date:
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _step(start: date, frequency: str, k: int) -> date:
    """The first day of interval ``k`` counted from ``start`` (negative ``k``: backwards)."""
    if frequency in _MONTHS:
        return _add_months(start, _MONTHS[frequency] * k)
    return start + timedelta(days=7 * k)


def _interval_days(frequency: str) -> float:
    return _MONTHS[frequency] * 30.4375 if frequency in _MONTHS else 7.0


def _label(frequency: str, starts: date, due: date) -> str:
    month_end = calendar.monthrange(due.year, due.month)[1] == due.day
    if frequency == "monthly" and starts.day == 1 and month_end and (starts.year, starts.month) == (due.year, due.month):
        return f"{starts.year}-{starts.month:02d}"
    if frequency == "quarterly" and starts.day == 1 and starts.month in (1, 4, 7, 10) and month_end \
            and _add_months(starts, 3) - timedelta(days=1) == due:
        return f"{starts.year}-Q{(starts.month - 1) // 3 + 1}"
    if frequency == "annual" and (starts.month, starts.day, due.month, due.day) == (1, 1, 12, 31) \
            and starts.year == due.year:
        return str(starts.year)
    return f"{starts.isoformat()}..{due.isoformat()}"


def derive_occurrences(frequency: str, start: date, end: date, *, backwards: bool = False
                       ) -> tuple[DerivedOccurrence, ...]:
    """The occurrences of a control operating at ``frequency`` over ``start`` to ``end`` (both included).

    Parameters
    ----------
    frequency : str
        One of :data:`DERIVABLE_FREQUENCIES`.
    start, end : datetime.date
        The window (a Type 2 period; a Type 1 look-back window).
    backwards : bool
        Count the intervals back from ``end`` and keep those that end in the window (Type 1); else forward
        from ``start`` (Type 2).

    Raises
    ------
    EngagementError
        A frequency whose occurrences cannot be derived (``many_times_a_day``, ``as_needed``).
    """
    if frequency not in DERIVABLE_FREQUENCIES:
        raise EngagementError(f"the occurrences of a control operating {frequency.replace('_', ' ')} cannot be derived "
                              f"from its frequency; list them in engagement.toml ([[controls.<id>.occurrences]] with "
                              f"id and date).")
    if end < start:
        raise EngagementError(f"the window {start} to {end} ends before it starts.")
    noun = _NOUNS[frequency]
    if frequency == "daily":
        days = np.arange(np.datetime64(start, "D"), np.datetime64(end + timedelta(days=1), "D"))
        business = [d.astype(date) for d in days[np.is_busday(days)]]
        return tuple(DerivedOccurrence(d.isoformat(), d, d, f"{noun} {i} of {len(business)}: {d.isoformat()}")
                     for i, d in enumerate(business, start=1))
    intervals: list[tuple[date, date]] = []
    if backwards:
        k = 0
        while True:
            due = end if k == 0 else _step(end + timedelta(days=1), frequency, -k) - timedelta(days=1)
            starts = _step(end + timedelta(days=1), frequency, -(k + 1))
            if due < start:
                break
            intervals.append((starts, due))
            k += 1
        intervals.reverse()
    else:
        k = 0
        while _step(start, frequency, k + 1) - timedelta(days=1) <= end:
            intervals.append((_step(start, frequency, k), _step(start, frequency, k + 1) - timedelta(days=1)))
            k += 1
        rest_start = _step(start, frequency, k)
        if rest_start <= end:
            rest = (end - rest_start).days + 1
            if not intervals or 2 * rest >= _interval_days(frequency):
                intervals.append((rest_start, end))
            else:
                intervals[-1] = (intervals[-1][0], end)
    n = len(intervals)
    return tuple(DerivedOccurrence(_label(frequency, s, d), s, d, f"{noun} {i} of {n}: {s.isoformat()} to {d.isoformat()}")
                 for i, (s, d) in enumerate(intervals, start=1))


def occurrence_window(engagement: Engagement) -> tuple[date, date]:
    """The window the occurrences are derived over: the period (Type 2), or the look-back window ending on the
    as-of date (Type 1)."""
    if engagement.period_start is not None and engagement.period_end is not None:
        return engagement.period_start, engagement.period_end
    if engagement.as_of is None:
        raise EngagementError("the engagement has neither a period nor an as-of date.")
    return engagement.as_of - timedelta(days=TYPE1_WINDOW_DAYS - 1), engagement.as_of
