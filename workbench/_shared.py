"""Helpers shared by :mod:`workbench.engagement` and :mod:`workbench.control_matrix`, kept here because
engagement.py imports control_matrix.py (so control_matrix.py cannot import engagement.py): problem
collection (:class:`_Problems`), the message helpers (:func:`_did_you_mean`, :func:`_describe`,
:func:`_criteria_ranges`, :func:`_criterion_hint`), the id rule both files check (:data:`_ID_RE`) and
:class:`FrozenMapping`.

Private: import the public names from :mod:`workbench.engagement` (``FrozenMapping`` is re-exported there).
"""

from __future__ import annotations

import difflib
import re
from datetime import date, datetime, time
from typing import Any, Iterable, Iterator, Mapping

from workbench.criteria import CRITERIA, CRITERION_IDS
from workbench.errors import EngagementError

#: Ids that name files and references (engagement_id, control ids): letters, digits, ``.``, ``_``, ``-``.
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# --------------------------------------------------------------------------------------------------
# An immutable mapping, so that a frozen Engagement is frozen all the way down (and still pickles).
# --------------------------------------------------------------------------------------------------
class FrozenMapping(Mapping):
    """A read-only, hashable, picklable mapping (insertion order kept).

    Used for :attr:`Engagement.populations`, :attr:`SamplingPolicy.frequency_table`,
    :attr:`PopulationSource.columns` and :attr:`Control.extra`: they read like a ``dict``
    (``[key]``, ``get``, ``items``, ``in``, ``dict(m)``) but cannot be changed.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping | Iterable[tuple[Any, Any]] = ()) -> None:
        object.__setattr__(self, "_data", dict(data))

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(tuple(self._data.items()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("FrozenMapping is read-only")

    def __repr__(self) -> str:
        return f"FrozenMapping({self._data!r})"

    def __reduce__(self):
        return (FrozenMapping, (self._data,))


# --------------------------------------------------------------------------------------------------
# Problem collection
# --------------------------------------------------------------------------------------------------
def _did_you_mean(value: str, choices: Iterable[str]) -> str:
    choices = list(choices)
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in choices}
        close = difflib.get_close_matches(value.lower(), list(lowered), n=1, cutoff=0.6)
        close = [lowered[c] for c in close]
    return f" Did you mean {close[0]!r}?" if close else ""


def _describe(value: object) -> str:
    """A value as TOML shows it, with its type, for messages."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return f"{value!r} (a string)"
    if isinstance(value, (int, float)):
        return f"{value!r} (a number)"
    if isinstance(value, datetime):
        return f"{value.isoformat()} (a date-time)"
    if isinstance(value, date):
        return f"{value.isoformat()} (a date)"
    if isinstance(value, time):
        return f"{value.isoformat()} (a time)"
    if isinstance(value, list):
        return "an array" if value else "an empty array"
    if isinstance(value, dict):
        return "a table"
    return repr(value)  # pragma: no cover - tomllib yields only the types above


class _Problems:
    """Collects problems as display lines; raises them together."""

    def __init__(self, folder_label: str) -> None:
        self.folder_label = folder_label
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        self.lines.append(line)

    def raise_if_any(self) -> None:
        if not self.lines:
            return
        if len(self.lines) == 1:
            message = self.lines[0]
        else:
            message = (f"{self.folder_label}: {len(self.lines)} problems in the engagement folder; "
                       f"fix them all and load it again:\n" + "\n".join(f"  - {line}" for line in self.lines))
        error = EngagementError(message)
        error.problems = tuple(self.lines)
        raise error


# --------------------------------------------------------------------------------------------------
# Criterion ids in messages (engagement.toml's [[cuecs]] and the control matrix's criteria column)
# --------------------------------------------------------------------------------------------------
def _criteria_ranges() -> str:
    groups: dict[str, list[str]] = {}
    for cid in CRITERION_IDS:
        groups.setdefault(CRITERIA[cid].category, []).append(cid)
    return ", ".join(f"{ids[0]}–{ids[-1]}" for ids in groups.values())


def _criterion_hint(text: str) -> str:
    """`` (CC8 has only CC8.1)`` for an id whose group exists; difflib would guess between CC8.1 and CC9.2."""
    group = re.match(r"^\s*([A-Za-z]+\d)\.", text)
    if group is None:
        return ""
    prefix = group.group(1).upper() + "."
    members = [cid for cid in CRITERION_IDS if cid.startswith(prefix)]
    if not members:
        return ""
    if len(members) == 1:
        return f" ({prefix[:-1]} has only {members[0]})"
    return f" ({prefix[:-1]} has {members[0]}–{members[-1]})"
