"""What ``workbench run --changed`` compares: a control's inputs fingerprint now, and the last run's.

A control's conclusion rests on what its inputs fingerprint covers (:class:`workbench.control_test.
InputsFingerprint`: populations, control, policy, procedure, selection, recorded results, evaluations,
evidence). The last run's outcome record keeps that fingerprint; :func:`current_fingerprint` computes what a
run would record now by running the control's stages up to the tested control, which costs a fraction of the
notebook (no chart, workpaper or outcome record is made). :func:`fingerprint_changes` names the components
that differ. The batch runner adds the notebook's SHA-256 and the workbench version (``workbench/batch.py``).

Public API::

    current_fingerprint(engagement_dir, control_id) -> {"fingerprint": {...}} or {"error": "..."}
    fingerprint_changes(recorded, current, error) -> list of reasons (empty: unchanged)
"""

from __future__ import annotations

from typing import Any

from workbench.files import JsonRecord

__all__ = ["current_fingerprint", "fingerprint_changes"]


def current_fingerprint(engagement_dir: str, control_id: str) -> JsonRecord:
    """The inputs fingerprint a run of the control's notebook would record now: ``{"fingerprint": ...}``,
    or ``{"error": ...}`` when the stages cannot get that far (the notebook would then fail too).

    The notebook's stages up to the tested control (:func:`workbench.pipeline.run_control_test`), without its
    chart, workpaper or outcome record: what ``--changed`` compares with the fingerprint of the last run's
    outcome record. ``tests/test_batch_resume.py`` checks that it equals the notebook's.
    """
    try:
        from workbench.engagement import load_engagement
        from workbench.pipeline import run_control_test

        test = run_control_test(load_engagement(engagement_dir), control_id)
        return {"fingerprint": test.fingerprint.to_record()}
    except Exception as error:  # noqa: BLE001 - the notebook will meet (and report) the same error
        return {"error": f"{type(error).__name__}: {_first_line(str(error))}"}


def fingerprint_changes(recorded: Any, current: dict[str, Any] | None, error: str | None) -> list[str]:
    """Why a control's inputs differ from its last run's (empty when they are the same)."""
    if error or current is None:
        return [f"its inputs fingerprint could not be computed ({error})"]
    if not isinstance(recorded, dict):
        return ["the last run recorded no inputs fingerprint"]
    if recorded.get("sha256") == current.get("sha256"):
        return []
    before, now = recorded.get("components") or {}, current.get("components") or {}
    names = [name for name in now if before.get(name) != now.get(name)] or ["inputs"]
    return [f"inputs changed: {', '.join(names)}"]


def _first_line(text: str, limit: int = 600) -> str:
    text = " ".join(line.strip() for line in str(text).splitlines() if line.strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"
