"""Whether a stage's result still rests on what the results store holds: the store mark of a computation.

A stage that reads recorded work (the testing matrix reads manual results, the evaluation reads exception
evaluations, the walkthrough and the conclusion) keeps a :class:`StoreMark`: the last entry of the results
store about its control when it ran. A result recorded afterwards (by the testing form, a code cell, the
command line) makes the mark behind the store: the stage's display then says it is stale and how many entries
came after it. Reading never creates the store.

Public API::

    mark_store(folder, control_id) -> StoreMark
    StoreMark.entries_since() -> int
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from workbench.engagement import RESULTS_FILE
from workbench.results import ResultsStore

__all__ = ["StoreMark", "mark_store"]


def _entries_about(folder: Path, control_id: str) -> list[int]:
    """Sequence numbers of the store's entries whose key names ``control_id`` (empty when there is no store)."""
    if not (folder / RESULTS_FILE).exists():
        return []
    with ResultsStore.open(folder) as store:
        return [entry.seq for entry in store.history(control_id=control_id)]


@dataclass(frozen=True)
class StoreMark:
    """The last results-store entry about a control when a stage read the store.

    Attributes
    ----------
    folder : str
        The engagement folder (its ``results.sqlite``).
    control_id : str
    seq : int
        The sequence number of the last entry whose key names the control (0: none).
    """

    folder: str
    control_id: str
    seq: int

    def entries_since(self) -> int:
        """Entries about the control recorded after the mark (0: the stage is current)."""
        return sum(1 for seq in _entries_about(Path(self.folder), self.control_id) if seq > self.seq)


def mark_store(folder: str | os.PathLike[str], control_id: str) -> StoreMark:
    """The store mark of ``control_id`` now: read it when a stage reads recorded work.

    Parameters
    ----------
    folder : path-like
        The engagement folder.
    control_id : str
    """
    seqs = _entries_about(Path(folder), control_id)
    return StoreMark(str(folder), control_id, max(seqs, default=0))
