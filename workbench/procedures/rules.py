"""The rule types a firm procedure file builds its automated attributes from (docs/procedures-library.md).

Each rule is a small frozen object that is the attribute's vectorised check (``check(frame, context)``, see
:data:`workbench.procedures.base.CheckFunction`): it can be pickled and compared, and it says in words what
it tests (:meth:`Rule.pass_criterion`, :meth:`Rule.census_test`).

============ ======================================================================================
rule         passes when (for each tested record)
============ ======================================================================================
present      ``column`` holds a value
before       ``column`` is present and not after ``reference`` (optionally: not more than
             ``within_business_days`` business days after it); n/a when ``reference`` is blank
differ       ``column`` and ``other`` both hold a value and differ (case-insensitively, spaces trimmed)
in_list      ``column`` is one of ``values`` (case-insensitively)
exists_in    a record of a related population of kind ``kind`` matches on the columns ``on``
             (tested column -> related column), anywhere in that population or, with
             ``in_window``, among its records in the window
============ ======================================================================================

Every rule may carry a condition (``when``: a column and the values for which the rule applies); the other
records are not applicable. A number of business days or a list of values may name a policy parameter of the
procedure instead of a literal, so the engagement can set it (``[policy.<procedure>]``).

Missing evidence is a deviation: a blank ``column`` fails.

Public API::

    Rule, Present, Before, Differ, InList, ExistsIn, Condition, RULE_TYPES
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.errors import PopulationError
from workbench.procedures.base import (
    CheckContext,
    blank,
    business_days_between,
    format_timestamps,
    normalised_text,
    outcome_frame,
)

__all__ = ["Rule", "Present", "Before", "Differ", "InList", "ExistsIn", "Condition", "RULE_TYPES", "split_values"]


def split_values(text: str) -> tuple[str, ...]:
    """A list written as text (``"Y; Yes, true"``): its items, trimmed, blanks dropped."""
    return tuple(v.strip() for v in re.split(r"[;,\n]", text) if v.strip())


@dataclass(frozen=True)
class Condition:
    """``when``: the rule applies to the records whose ``column`` is one of ``values`` (case-insensitively)."""

    column: str
    values: tuple[str, ...]

    def applies(self, frame: pd.DataFrame) -> pd.Series:
        text = normalised_text(frame[self.column], casefold=True)
        return text.isin([v.lower() for v in self.values]).fillna(False).astype(bool)

    def words(self) -> str:
        return f"{self.column} is {' or '.join(repr(v) for v in self.values)}"


@dataclass(frozen=True)
class Rule:
    """A rule's common part: its condition. Subclasses define :meth:`evaluate` and the wording."""

    when: Condition | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """The canonical columns the rule reads."""
        return self._columns() + ((self.when.column,) if self.when is not None else ())

    def _columns(self) -> tuple[str, ...]:
        raise NotImplementedError

    def evaluate(self, frame: pd.DataFrame, context: CheckContext) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
        """(fail, fail reason, not applicable, n/a reason) over ``frame``'s rows."""
        raise NotImplementedError

    def pass_criterion(self) -> str:
        raise NotImplementedError

    def census_test(self) -> str:
        raise NotImplementedError

    def condition_text(self) -> str:
        return f" Not applicable unless {self.when.words()}." if self.when is not None else ""

    def __call__(self, frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
        fail, reason, na, na_reason = self.evaluate(frame, context)
        if self.when is not None:
            applies = self.when.applies(frame)
            outside = ~applies
            na_reason = na_reason.mask(outside & ~na, f"{self.when.column} is not "
                                                      f"{' or '.join(repr(v) for v in self.when.values)}")
            na = na | outside
        fail = fail & ~na
        return outcome_frame(frame.index, fail=fail, fail_reason=reason, not_applicable=na, na_reason=na_reason)


def _empty(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    return (pd.Series(False, index=frame.index), pd.Series("", index=frame.index, dtype=object))


@dataclass(frozen=True)
class Present(Rule):
    """``column`` holds a value."""

    column: str = ""

    def _columns(self) -> tuple[str, ...]:
        return (self.column,)

    def evaluate(self, frame: pd.DataFrame, context: CheckContext) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
        fail = blank(frame[self.column])
        reason = pd.Series(np.where(fail.to_numpy(), f"no {self.column} recorded", ""), index=frame.index, dtype=object)
        na, na_reason = _empty(frame)
        return fail, reason, na, na_reason

    def pass_criterion(self) -> str:
        return f"{self.column} holds a value; a blank fails.{self.condition_text()}"

    def census_test(self) -> str:
        return f"whether each record has a {self.column}"


@dataclass(frozen=True)
class Before(Rule):
    """``column`` present and not after ``reference`` (+ ``within_business_days`` business days when given, a
    number or the name of a whole-number policy setting); n/a when ``reference`` is blank."""

    column: str = ""
    reference: str = ""
    within_business_days: int | str | None = None

    def _columns(self) -> tuple[str, ...]:
        return (self.column, self.reference)

    def _days(self, context: CheckContext) -> int | None:
        if isinstance(self.within_business_days, str):
            return context.integer(self.within_business_days)
        return self.within_business_days

    def evaluate(self, frame: pd.DataFrame, context: CheckContext) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
        value, reference = frame[self.column], frame[self.reference]
        na = reference.isna()
        missing = value.isna() & ~na
        days = self._days(context)
        if days is None:
            late = (value > reference).fillna(False).astype(bool) & value.notna() & ~na
        else:
            counts = business_days_between(reference, value, context.timezone)
            late = (counts > days).fillna(False).astype(bool) & value.notna() & ~na
        reason = pd.Series("", index=frame.index, dtype=object)
        reason[missing.to_numpy()] = f"no {self.column} recorded"
        if late.any():
            rows = frame.loc[late.to_numpy()]
            text = (f"{self.column} " + format_timestamps(rows[self.column]) + f" after {self.reference} "
                    + format_timestamps(rows[self.reference]))
            if days is not None:
                counted = business_days_between(rows[self.reference], rows[self.column], context.timezone)
                text = text + " (" + counted.astype(str) + f" business days; at most {days} allowed)"
            reason[late.to_numpy()] = text.to_numpy()
        na_reason = pd.Series(np.where(na.to_numpy(), f"no {self.reference}", ""), index=frame.index, dtype=object)
        return missing | late, reason, na, na_reason

    def _window(self) -> str:
        if self.within_business_days is None:
            return f"not after {self.reference}"
        days = (f"the number of business days of policy setting {self.within_business_days}"
                if isinstance(self.within_business_days, str) else f"{self.within_business_days} business day(s)")
        return f"not more than {days} after {self.reference}"

    def pass_criterion(self) -> str:
        return (f"{self.column} is present and {self._window()}; a blank {self.column} fails. Not applicable when "
                f"{self.reference} is blank.{self.condition_text()}")

    def census_test(self) -> str:
        return f"the {self.column} of each record with its {self.reference}"


@dataclass(frozen=True)
class Differ(Rule):
    """``column`` and ``other`` both present and different (case-insensitively, spaces trimmed)."""

    column: str = ""
    other: str = ""

    def _columns(self) -> tuple[str, ...]:
        return (self.column, self.other)

    def evaluate(self, frame: pd.DataFrame, context: CheckContext) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
        first, second = normalised_text(frame[self.column]), normalised_text(frame[self.other])
        no_first = blank(frame[self.column])
        no_second = blank(frame[self.other]) & ~no_first
        same = ~no_first & ~no_second & (first.str.lower() == second.str.lower()).fillna(False).astype(bool)
        reason = pd.Series("", index=frame.index, dtype=object)
        reason[no_first.to_numpy()] = f"no {self.column} recorded"
        reason[no_second.to_numpy()] = f"no {self.other} recorded, so the two cannot be shown to differ"
        if same.any():
            reason[same.to_numpy()] = (f"{self.column} is the {self.other} (" + first[same].astype(object)
                                       + ")").to_numpy()
        na, na_reason = _empty(frame)
        return no_first | no_second | same, reason, na, na_reason

    def pass_criterion(self) -> str:
        return (f"{self.column} and {self.other} are both recorded and differ (compared case-insensitively); a blank "
                f"either side fails.{self.condition_text()}")

    def census_test(self) -> str:
        return f"the {self.column} of each record with its {self.other}"


@dataclass(frozen=True)
class InList(Rule):
    """``column`` is one of ``values`` (a tuple, or the name of a text policy setting listing them)."""

    column: str = ""
    values: tuple[str, ...] | str = ()

    def _columns(self) -> tuple[str, ...]:
        return (self.column,)

    def _allowed(self, context: CheckContext) -> tuple[str, ...]:
        return split_values(context.text(self.values)) if isinstance(self.values, str) else self.values

    def evaluate(self, frame: pd.DataFrame, context: CheckContext) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
        allowed = self._allowed(context)
        text = normalised_text(frame[self.column])
        missing = blank(frame[self.column])
        outside = ~missing & ~text.str.lower().isin([v.lower() for v in allowed]).fillna(False).astype(bool)
        reason = pd.Series("", index=frame.index, dtype=object)
        reason[missing.to_numpy()] = f"no {self.column} recorded"
        if outside.any():
            reason[outside.to_numpy()] = (f"{self.column} " + text[outside].astype(object).map(repr)
                                          + f" is not one of: {', '.join(allowed)}").to_numpy()
        na, na_reason = _empty(frame)
        return missing | outside, reason, na, na_reason

    def pass_criterion(self) -> str:
        listed = (f"the values of policy setting {self.values}" if isinstance(self.values, str)
                  else ", ".join(repr(v) for v in self.values))
        return f"{self.column} is one of {listed} (case-insensitively); a blank fails.{self.condition_text()}"

    def census_test(self) -> str:
        return f"the {self.column} of each record with the values allowed"


@dataclass(frozen=True)
class ExistsIn(Rule):
    """A record of a related population of ``kind`` matches on ``on`` ((tested column, related column) pairs)."""

    kind: str = ""
    on: tuple[tuple[str, str], ...] = ()
    in_window: bool = False

    def _columns(self) -> tuple[str, ...]:
        return tuple(mine for mine, _ in self.on)

    def evaluate(self, frame: pd.DataFrame, context: CheckContext) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
        related = context.related_of(self.kind)
        if not related:
            raise PopulationError(f"a rule looks for a matching {self.kind} record, and the control names no {self.kind} "
                                  f"population: add one to its populations column in the control matrix.")
        theirs = [c for _, c in self.on]
        known: set[tuple[str, ...]] = set()
        for other in related:
            records = other.scoped if self.in_window else other.frame
            missing = [c for c in theirs if c not in records.columns]
            if missing:
                raise PopulationError(f"population {other.name!r} ({self.kind}) has no column {missing[0]!r}.")
            parts = [normalised_text(records[c], casefold=True).fillna("") for c in theirs]
            known.update(zip(*[p.tolist() for p in parts]))
        mine = [normalised_text(frame[c], casefold=True).fillna("") for c, _ in self.on]
        keys = list(zip(*[p.tolist() for p in mine])) if mine else []
        no_value = pd.Series([any(v == "" for v in k) for k in keys], index=frame.index, dtype=bool)
        found = pd.Series([k in known for k in keys], index=frame.index, dtype=bool)
        absent = ~no_value & ~found
        reason = pd.Series("", index=frame.index, dtype=object)
        reason[no_value.to_numpy()] = f"no {' or '.join(c for c, _ in self.on)} recorded to match on"
        if absent.any():
            shown = [", ".join(f"{c} {v!r}" for (c, _), v in zip(self.on, k))
                     for k, a in zip(keys, absent.to_numpy()) if a]
            where = " in the window" if self.in_window else ""
            reason[absent.to_numpy()] = np.array([f"no {self.kind} record{where} with {s}" for s in shown],
                                                 dtype=object)
        na, na_reason = _empty(frame)
        return no_value | absent, reason, na, na_reason

    def _matched(self) -> str:
        return ", ".join(f"{mine} = {theirs}" for mine, theirs in self.on)

    def pass_criterion(self) -> str:
        where = " among its records in the window" if self.in_window else ""
        return (f"A record of the control's {self.kind} population{where} matches on {self._matched()} (compared "
                f"case-insensitively); a blank value fails.{self.condition_text()}")

    def census_test(self) -> str:
        return f"each record with the {self.kind} population (matched on {self._matched()})"


#: Rule type name -> class, as a firm procedure file writes it.
RULE_TYPES: dict[str, type[Rule]] = {"present": Present, "before": Before, "differ": Differ, "in_list": InList,
                                     "exists_in": ExistsIn}
