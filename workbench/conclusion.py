"""The tester's conclusion on a tested control: recorded with who and when, on the inputs it rests on.

The tool proposes a conclusion (:attr:`workbench.evaluation.ControlEvaluation.status`); the tester records
one with :func:`record_conclusion`. It is refused while anything is pending (manual results, the walkthrough,
exception evaluations, an extension), when it says "no exceptions noted" of a control with exceptions, or
when it is softer than the proposal without a reason (workflow.md §1.9: "the CPA may conclude harsher than
the rule; softer needs a recorded reason"). It is stored with the inputs fingerprint of the tested control,
so a change of anything it rests on (a population, a result, an evaluation, the selection) makes it stale
until recorded again (:class:`Conclusion`).

Public API::

    record_conclusion(test, conclusion, *, by, reason=None) -> RecordedConclusion
    allowed_conclusions(report_type) -> tuple[str, ...]

Whether a recorded conclusion still stands is :attr:`workbench.control_test.ControlTest.conclusion`.
"""

from __future__ import annotations

from workbench.control_test import ControlTest
from workbench.errors import ResultsError
from workbench.evaluation import STATUS_TEXT, TYPE1_CONCLUSIONS, TYPE2_CONCLUSIONS
from workbench.judgements import RecordedConclusion, recorded_conclusion
from workbench.results import ResultsStore

__all__ = ["record_conclusion", "allowed_conclusions"]


def allowed_conclusions(report_type: str) -> tuple[str, ...]:
    """The conclusions a tester may record for a control of a Type 1 or Type 2 report."""
    return (TYPE1_CONCLUSIONS if report_type == "type1" else TYPE2_CONCLUSIONS) + ("not_occurring",)


def _severity(conclusion: str) -> int:
    """0 for the mildest conclusion, higher for harsher ones (Type 1's two negative ones are equally harsh)."""
    if conclusion in TYPE2_CONCLUSIONS:
        return TYPE2_CONCLUSIONS.index(conclusion)
    if conclusion in TYPE1_CONCLUSIONS:
        return min(TYPE1_CONCLUSIONS.index(conclusion), 1)
    return 0


def record_conclusion(test: ControlTest, conclusion: str, *, by: str, reason: str | None = None) -> RecordedConclusion:
    """Record the tester's conclusion on a tested control.

    Parameters
    ----------
    test : ControlTest
        The tested control as it stands (its proposal and its inputs fingerprint are recorded with it).
    conclusion : str
        One of :func:`allowed_conclusions` (``no_exceptions_noted``, ``exceptions_noted``,
        ``not_operating_effectively``; Type 1 ``suitably_designed_and_implemented``, ``not_suitably_designed``,
        ``not_implemented``; ``not_occurring``).
    by : str
        The tester's initials or name (on the engagement's staff list).
    reason : str, optional
        Required when the conclusion is softer than the proposal.

    Raises
    ------
    ResultsError
        A conclusion not allowed for the report type; anything still pending; "no exceptions noted" with
        exceptions; a softer conclusion without a reason; a tester not on the staff.
    """
    evaluation = test.evaluation
    control_id = test.control.id
    allowed = allowed_conclusions(test.engagement.report_type)
    wanted = conclusion.strip().lower().replace(" ", "_") if isinstance(conclusion, str) else ""
    if wanted not in allowed:
        raise ResultsError(f"conclusion of {control_id}: {conclusion!r} is not a conclusion of a "
                           f"{test.engagement.report_label} control; use one of: {', '.join(allowed)}.")
    if not evaluation.final:
        raise ResultsError(f"conclusion of {control_id}: not yet: the control reads "
                           f"\"{evaluation.status_text}\". Still to do: " + "; ".join(evaluation.pending or
                                                                                   (evaluation.conclusion,)))
    if wanted == "not_occurring" and evaluation.status != "not_occurring":
        raise ResultsError(f"conclusion of {control_id}: the control is not \"not occurring\": "
                           f"{evaluation.population_count:,} item(s) are in scope.")
    if wanted in ("no_exceptions_noted",) and evaluation.exception_items:
        raise ResultsError(f"conclusion of {control_id}: {len(evaluation.exception_items):,} exception(s) were "
                           f"found, so \"no exceptions noted\" cannot be recorded; record exceptions_noted (every "
                           f"exception evaluated isolated) or not_operating_effectively.")
    softer = _severity(wanted) < _severity(evaluation.status)
    if softer and not (reason and reason.strip()):
        raise ResultsError(f"conclusion of {control_id}: \"{STATUS_TEXT[wanted]}\" is softer than the proposal "
                           f"\"{evaluation.status_text}\"; give reason= (why), which the trail keeps.")
    with ResultsStore.open(test.engagement) as store:
        store.append("conclusion", {"control_id": control_id},
                     {"conclusion": wanted, "proposed": evaluation.status, "fingerprint": test.fingerprint.sha256,
                      "components": dict(test.fingerprint.components)}, who=by, reason=reason)
    recorded = recorded_conclusion(test.engagement, control_id)
    if recorded is None:   # pragma: no cover - the append above either wrote it or raised
        raise ResultsError(f"conclusion of {control_id}: not found after recording it.")
    return recorded
