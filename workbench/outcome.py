"""What one control's test leaves for the batch run: the seed it used and its outcome record.

A notebook ends by saving an outcome record (``OUT/records/<control_id>.json``): the evaluation's
``to_record()`` plus the workpaper path, the population file and its SHA-256, and the selection's
seed and keys. ``workbench run`` reads these records to write ``summary.xlsx`` and ``manifest.json``;
it never re-derives a number a notebook computed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.errors import ParameterError, PopulationError

__all__ = ["derive_seed", "ensure_usable", "save_outcome", "load_outcome", "outcome_path", "write_json_atomic",
           "replace_atomically", "sha256_file", "shared_file_mode"]


def derive_seed(engagement: Any, control: Any, population: Any, seed: int | None = None) -> int:
    """Return the selection seed: the one given, or one derived from what is being tested.

    A derived seed is the first 8 hex digits (32 bits) of
    ``SHA-256("<engagement_id>|<control_id>|<population SHA-256>")``. Binding the seed to the
    engagement, the control and the exact population file means nobody can re-roll the draw
    until a sample they like appears, and anyone can re-derive it (DESIGN.md §5; workflow.md §1.6).

    Raises
    ------
    ParameterError
        If ``seed`` is given and is not a whole number >= 0.
    """
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ParameterError(f"seed must be a whole number >= 0 or None (derive it), got {seed!r}.")
        return seed
    text = f"{engagement.engagement_id}|{control.id}|{population.sha256}"
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16)


def ensure_usable(report: Any) -> None:
    """Stop when the validation report has errors: the population cannot be sampled.

    Raises
    ------
    PopulationError
        Naming every error finding (rule, column, row, message), so the user knows what to ask
        the client for.
    """
    if report.usable:
        return
    errors = report.errors
    shown = [f"  - {row['rule']}"
             + (f", column {row['column']!r}" if _present(row["column"]) else "")
             + (f", row {row['row']}" if _present(row["row"]) else "")
             + f": {row['message']}"
             for row in errors.head(_ERRORS_SHOWN).to_dict("records")]
    more = len(errors) - len(shown)
    if more > 0:
        shown.append(f"  - and {more} more (the validation report lists them all)")
    raise PopulationError(
        f"{report.source}: {len(errors)} error(s) in the completeness and accuracy checks; the population "
        "cannot be sampled until they are resolved (ask the client for a corrected export, then deliver it "
        "as a new version):\n" + "\n".join(shown))


_ERRORS_SHOWN = 5


def _present(value: Any) -> bool:
    return value is not None and str(value) not in {"", "nan", "<NA>", "None"}


def outcome_path(output_dir: str | os.PathLike[str], control_id: str) -> Path:
    """Where the outcome record of ``control_id`` lives under ``output_dir``."""
    return Path(output_dir) / "records" / f"{control_id}.json"


def save_outcome(output_dir: str | os.PathLike[str], evaluation: Any, *, workpaper: str | os.PathLike[str],
                 population: Any, selection: Any) -> Path:
    """Write the outcome record of one control atomically and return its path."""
    record = dict(evaluation.to_record())
    record.update(
        workpaper=str(workpaper),
        population_file=str(population.source_relative),
        population_sha256=population.sha256,
        population_version=getattr(getattr(population, "receipt", None), "version", None),
        seed=selection.seed,
        selected_keys=list(selection.keys),
    )
    path = outcome_path(output_dir, record["control_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, record)
    return path


def shared_file_mode() -> int:
    """The mode a newly created file would get from the user's umask (0644 under the usual 022)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def replace_atomically(path: Path, write: Callable[[str], None]) -> Path:
    """Write ``path`` through a temporary file beside it, then move it into place: never half written.

    ``write(temporary_name)`` fills the temporary file; it gets the mode any new file would get (not
    mkstemp's 0600: others on a shared drive must read it) and replaces ``path`` with ``os.replace``.
    On any failure the temporary file is removed and the previous ``path`` (if any) is left as it was.
    """
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(temporary)
        os.chmod(temporary, shared_file_mode())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write JSON to a temporary file beside ``path``, then move it into place: never half written."""
    text = json.dumps(payload, indent=2, ensure_ascii=False, default=str)
    replace_atomically(path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def load_outcome(output_dir: str | os.PathLike[str], control_id: str) -> dict[str, Any] | None:
    """Read the outcome record of ``control_id``, or None when the notebook did not write one."""
    path = outcome_path(output_dir, control_id)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
