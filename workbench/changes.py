"""What ``workbench run --changed`` compares: a control's inputs fingerprint now, and the last run's.

A control's conclusion rests on what its inputs fingerprint covers (:class:`workbench.control_test.
InputsFingerprint`: populations, control, policy, procedure, selection, recorded results, evaluations,
evidence). The last run's outcome record keeps that fingerprint; :func:`current_fingerprint` computes what a
run would record now by running the control's stages up to the tested control, which costs a fraction of the
notebook (no chart, workpaper or outcome record is made). :func:`fingerprint_changes` names the components
that differ. The batch runner adds the notebook's SHA-256 and the workbench version (``workbench/batch.py``).

Public API::

    current_fingerprint(engagement_dir, control_id, seed=None) -> {"fingerprint": {...}} or {"error": "..."}
    fingerprint_changes(recorded, current, error) -> list of reasons (empty: unchanged)
"""

from __future__ import annotations

from typing import Any

from workbench.files import JsonRecord

__all__ = ["current_fingerprint", "fingerprint_changes"]


def current_fingerprint(engagement_dir: str, control_id: str, seed: int | None = None) -> JsonRecord:
    """The inputs fingerprint a run of the control's notebook would record now: ``{"fingerprint": ...}``,
    or ``{"error": ...}`` when the stages cannot get that far (the notebook would then fail too).

    The stages of ``notebooks/change_management.ipynb`` up to the tested control (engagement, population,
    validation, receipts, scope, plan, selection, attributes, evaluation), without its chart, workpaper or
    outcome record: what ``--changed`` compares with the fingerprint of the last run's outcome record.
    ``tests/test_batch_resume.py`` checks that it equals the notebook's.
    """
    try:
        from workbench.control_test import ControlTest
        from workbench.engagement import load_engagement
        from workbench.evaluation import evaluate_control
        from workbench.population import load_population
        from workbench.procedures import get_procedure
        from workbench.receipt import pin_populations
        from workbench.sample import derive_seed, plan_sample, select_sample
        from workbench.scope import scope_population
        from workbench.testing import test_attributes
        from workbench.validation import ensure_usable, validate

        engagement = load_engagement(engagement_dir)
        control = engagement.control(control_id)
        if control.procedure is None:
            return {"error": f"control {control_id} has no procedure"}
        procedure = get_procedure(control.procedure)
        population = load_population(engagement, control.populations[0])
        report = validate(population, engagement)
        receipts = pin_populations(engagement, population, *report.second_sources)
        ensure_usable(report)
        scoped = scope_population(population, engagement, date_column=procedure.date_column)
        sample_plan = plan_sample(engagement, control, scoped)
        selection = select_sample(scoped, sample_plan, seed=derive_seed(engagement, control, population, seed))
        testing = test_attributes(procedure, control, scoped, selection, engagement)
        evaluation = evaluate_control(engagement, control, sample_plan, selection, testing)
        test = ControlTest(engagement=engagement, control=control, procedure=procedure, population=population,
                           receipts=receipts, report=report, scoped=scoped, sample_plan=sample_plan,
                           selection=selection, testing=testing, evaluation=evaluation)
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
