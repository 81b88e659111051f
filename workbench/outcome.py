"""What one control's test leaves for the batch run: its outcome record.

A notebook ends by saving an outcome record (``OUT/records/<control_id>.json``): the evaluation's
``to_record()`` plus the workpaper path, the population file and its SHA-256 and receipt version, the
selection's seed and keys, and the inputs fingerprint. ``workbench run`` reads these records to write
``summary.xlsx`` and ``manifest.json``; it never re-derives a number a notebook computed.

Public API::

    save_outcome(output_dir, test, *, workpaper) -> Path
    load_outcome(output_dir, control_id) -> dict | None
    outcome_path(output_dir, control_id) -> Path
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.files import JsonRecord, write_json_atomic

if TYPE_CHECKING:  # the batch runner reads records without importing the stages
    from workbench.control_test import ControlTest

__all__ = ["save_outcome", "load_outcome", "outcome_path"]


def outcome_path(output_dir: str | os.PathLike[str], control_id: str) -> Path:
    """Where the outcome record of ``control_id`` lives under ``output_dir``."""
    return Path(output_dir) / "records" / f"{control_id}.json"


def save_outcome(output_dir: str | os.PathLike[str], test: ControlTest, *,
                 workpaper: str | os.PathLike[str]) -> Path:
    """Write the outcome record of one tested control atomically and return its path."""
    record = dict(test.evaluation.to_record())
    conclusion = test.conclusion
    record.update(
        workpaper=str(workpaper),
        population_file=test.population.source_relative,
        population_sha256=test.population.sha256,
        population_version=test.receipt.version if test.population.derived is None else None,
        populations={p.name: {"file": p.source_relative, "sha256": p.sha256,
                              "version": test.receipt_of(p.name).version if p.derived is None else None}
                     for p in test.populations},
        sample_id=test.selection.sample_id,
        shared_with=list(test.sample_plan.shared_with),
        seed=test.selection.seed,
        selected_keys=list(test.selection.keys),
        conclusion_status=conclusion.status,
        conclusion_text=conclusion.text,
        conclusion_recorded=conclusion.recorded is not None and not conclusion.stale,
        conclusion_stale=conclusion.stale,
        inputs_fingerprint=test.fingerprint.to_record(),
    )
    path = outcome_path(output_dir, test.control.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, record)
    return path


def load_outcome(output_dir: str | os.PathLike[str], control_id: str) -> JsonRecord | None:
    """Read the outcome record of ``control_id``, or None when the notebook did not write one."""
    path = outcome_path(output_dir, control_id)
    if not path.is_file():
        return None
    record: JsonRecord = json.loads(path.read_text(encoding="utf-8"))
    return record
