"""Problems found while reading an engagement folder, collected and raised together, and the helpers
that word them.

:class:`Problems` collects one display line per problem (file, line or row, key or column, value and
fix) while ``engagement.toml`` and the control matrix are read, and raises them as one
:class:`~workbench.errors.EngagementError`, so a user fixes the folder in one pass.

Public API::

    Problems(folder_label)          .add(line), .raise_if_any()
    did_you_mean(value, choices)    -> " Did you mean 'x'?" or ""
    describe_value(value)           -> "'abc' (a string)", "2026-06-30 (a date)", ...
    criteria_ranges()               -> "CC1.1–CC9.2, A1.1–A1.3, ..."
    criterion_hint(text)            -> " (CC8 has only CC8.1)" or ""
    ID_PATTERN                      ids that name files and references
"""

from __future__ import annotations

import difflib
import re
from datetime import date, datetime, time
from typing import Iterable

from workbench.engagement.criteria import CRITERIA, CRITERION_IDS
from workbench.errors import EngagementError

__all__ = ["Problems", "did_you_mean", "describe_value", "criteria_ranges", "criterion_hint", "ID_PATTERN"]

#: Ids that name files and references (engagement_id, control ids): letters, digits, ``.``, ``_``, ``-``.
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# --------------------------------------------------------------------------------------------------
# Problem collection
# --------------------------------------------------------------------------------------------------
def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """``" Did you mean 'x'?"`` for the closest of ``choices`` (case-insensitive as a fallback), else ``""``."""
    options = list(choices)
    close = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in options}
        close = [lowered[c] for c in difflib.get_close_matches(value.lower(), list(lowered), n=1, cutoff=0.6)]
    return f" Did you mean {close[0]!r}?" if close else ""


def describe_value(value: object) -> str:
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


class Problems:
    """Collects problems as display lines; :meth:`raise_if_any` raises them together.

    Parameters
    ----------
    folder_label : str
        How the message names the engagement folder (its name), e.g. ``acme-type2``.
    """

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
        raise EngagementError(message, problems=tuple(self.lines))


# --------------------------------------------------------------------------------------------------
# Criterion ids in messages (engagement.toml's [[cuecs]] and the control matrix's criteria column)
# --------------------------------------------------------------------------------------------------
def criteria_ranges() -> str:
    groups: dict[str, list[str]] = {}
    for cid in CRITERION_IDS:
        groups.setdefault(CRITERIA[cid].category, []).append(cid)
    return ", ".join(f"{ids[0]}–{ids[-1]}" for ids in groups.values())


def criterion_hint(text: str) -> str:
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
