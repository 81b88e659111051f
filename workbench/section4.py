"""Section 4 of the report by criterion, and the manager's judgement of whether each criterion was achieved.

Section 4 ("Trust Services Criteria, Related Controls, and Tests of Controls"; workflow.md §1.14) is a table
grouped by criterion: control number, control activity, the test performed (method and extent) and its result.
A control that addresses several criteria appears under each. :func:`section4` builds it from the engagement
(criteria in scope, control matrix, subservice organizations and their CSOCs, CUECs) and the outcome record of
every control (what ``workbench run`` collected), with nothing recomputed: the result texts are the records'.

Per criterion the tool **proposes** whether its controls achieved it given the exceptions (:data:`PROPOSALS`):

* ``achieved``: every control addressing it reached a conclusion, none "not operating effectively" (Type 2) or
  "not suitably designed" / "not implemented" (Type 1); exceptions judged isolated leave it achieved;
* ``achieved with the subservice organization's CSOCs``: no control of the matrix addresses it, and a
  carve-out subservice organization's CSOCs do (``criteria`` of ``[[subservice_organizations]]``);
* ``not achieved``: a control addressing it failed as above;
* ``no control``: nothing addresses it (flagged: the description must address every applicable criterion);
* ``pending``: a control addressing it has no conclusion yet (testing in progress, not tested, stale, failed).

The manager (or partner) **records** the judgement with who and when (:func:`record_criterion_judgement`, the
store's entry kind ``criterion_judgement``); the summary shows both, and the opinion the recorded judgements
make: unmodified, or modified for the criteria not achieved.

Public API::

    record_criterion_judgement(engagement, criterion, *, achieved, by, proposed=None, reason=None)
        -> CriterionJudgement
    criterion_judgements(engagement) -> dict[str, CriterionJudgement]
    section4(engagement, rows, *, judgements=None, review_notes=None) -> Section4
    CRITERION_JUDGEMENT, JUDGE_ROLES, PROPOSALS, Section4, CriterionLine, ControlLine
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workbench.engagement import RESULTS_FILE, Engagement
from workbench.errors import ResultsError
from workbench.evaluation import STATUS_TEXT, TYPE1_CONCLUSIONS
from workbench.files import JsonRecord
from workbench.results import EntryKind, ResultsStore, WriteContext, register_kind
from workbench.signoff import ReviewNote, read_signoffs

__all__ = ["CRITERION_JUDGEMENT", "JUDGE_ROLES", "PROPOSALS", "CriterionJudgement", "ControlLine",
           "CriterionLine", "Section4", "record_criterion_judgement", "criterion_judgements",
           "section4"]

#: Who judges whether a criterion was achieved: the engagement's manager or partner.
JUDGE_ROLES = frozenset({"manager", "partner"})

#: What the tool can propose for a criterion, and how it reads.
PROPOSALS: dict[str, str] = {
    "achieved": "Achieved",
    "achieved_with_csocs": "Achieved, with the subservice organization's CSOCs",
    "not_achieved": "Not achieved",
    "no_control": "No control addresses it",
    "pending": "Pending",
}

#: Conclusions that mean the control did not achieve its objective.
_FAILED = frozenset({"not_operating_effectively", "not_suitably_designed", "not_implemented"})
#: Conclusions that leave the criterion achieved (exceptions judged isolated included).
_ACHIEVED = frozenset({"no_exceptions_noted", "exceptions_noted", "not_occurring",
                       "suitably_designed_and_implemented"})


def _check_judgement(key: Mapping[str, object], value: JsonRecord, reason: str | None,
                     context: WriteContext) -> JsonRecord:
    described = f"judgement of criterion {key.get('criterion')}"
    if not isinstance(value.get("achieved"), bool):
        raise ResultsError(f"{described}: achieved must be yes or no, got {value.get('achieved')!r}.")
    proposed = value.get("proposed")
    if proposed is not None and proposed not in PROPOSALS:
        raise ResultsError(f"{described}: proposed must be one of {', '.join(PROPOSALS)}, got {proposed!r}.")
    if value["achieved"] is False and not (reason and reason.strip()):
        raise ResultsError(f"{described}: \"not achieved\" modifies the opinion; give --reason (which controls "
                           f"and exceptions, and why), which the trail keeps.")
    if proposed in ("not_achieved", "no_control") and value["achieved"] is True and not (reason and reason.strip()):
        raise ResultsError(f"{described}: the tool proposes \"{PROPOSALS[str(proposed)].lower()}\"; recording it "
                           f"achieved needs --reason (why), which the trail keeps.")
    return value


CRITERION_JUDGEMENT = register_kind(EntryKind("criterion_judgement", ("criterion",),
                                              value_fields=("achieved", "proposed"), validate=_check_judgement,
                                              staff_roles=JUDGE_ROLES))


@dataclass(frozen=True)
class CriterionJudgement:
    """Whether a criterion was achieved, as the manager recorded it (with the tool's proposal at the time)."""

    criterion: str
    achieved: bool
    proposed: str | None
    by: str
    at: str
    reason: str | None

    @property
    def text(self) -> str:
        return f"{'Achieved' if self.achieved else 'Not achieved'} (recorded by {self.by} on {self.at[:10]})"


def criterion_judgements(engagement: Engagement) -> dict[str, CriterionJudgement]:
    """The current judgement of every criterion judged, by criterion id (none when nothing was recorded)."""
    if not (engagement.folder / RESULTS_FILE).is_file():
        return {}
    with ResultsStore.open(engagement) as store:
        entries = store.current("criterion_judgement")
    return {str(e.key["criterion"]): CriterionJudgement(
        criterion=str(e.key["criterion"]), achieved=bool(e.value["achieved"]),
        proposed=str(e.value["proposed"]) if e.value.get("proposed") else None, by=e.who, at=e.at,
        reason=e.reason) for e in entries}


def record_criterion_judgement(engagement: Engagement, criterion: str, *, achieved: bool, by: str,
                               proposed: str | None = None, reason: str | None = None) -> CriterionJudgement:
    """Record whether the controls achieved a criterion, given their exceptions (the manager's judgement).

    Parameters
    ----------
    criterion : str
        A criterion in scope (``CC6.1``; any spelling :func:`workbench.engagement.normalize_criterion_id` takes).
    achieved : bool
    by : str
        Initials or name of a manager or partner on the engagement's staff.
    proposed : str, optional
        What the tool proposed when it was recorded (a key of :data:`PROPOSALS`).
    reason : str, optional
        Required for "not achieved", and for "achieved" against a proposal of not achieved or no control.

    Raises
    ------
    ResultsError
        A criterion not in scope, a missing reason, ``by`` not a manager or partner on the staff.
    """
    from workbench.engagement.criteria import normalize_criterion_id

    canonical = normalize_criterion_id(criterion) if isinstance(criterion, str) else None
    if canonical is None or canonical not in engagement.in_scope_criteria:
        raise ResultsError(f"criterion {criterion!r} is not in scope of {engagement.engagement_id} "
                           f"(in scope: {', '.join(engagement.in_scope_criteria)}).")
    with ResultsStore.open(engagement) as store:
        store.append("criterion_judgement", {"criterion": canonical}, {"achieved": bool(achieved),
                                                                        "proposed": proposed}, who=by, reason=reason)
    return criterion_judgements(engagement)[canonical]


@dataclass(frozen=True)
class ControlLine:
    """One control under one criterion: what Section 4 prints for it."""

    control_id: str
    activity: str
    test_performed: str
    result: str
    conclusion: str
    status: str
    deviations: int | None


@dataclass(frozen=True)
class CriterionLine:
    """One criterion in scope: its controls, the CSOCs pointed to, the CUECs, the proposal and the judgement."""

    criterion: str
    title: str
    controls: tuple[ControlLine, ...]
    subservice: tuple[str, ...]
    cuecs: tuple[str, ...]
    proposed: str
    why: str
    judgement: CriterionJudgement | None
    deviations: int

    @property
    def flagged(self) -> bool:
        """No control of the matrix and no CSOC addresses the criterion."""
        return not self.controls and not self.subservice


@dataclass(frozen=True)
class Section4:
    """Section 4 by criterion, and everything the summary lists beside it."""

    report_type: str
    criteria: tuple[CriterionLine, ...]
    not_tested: tuple[tuple[str, str], ...]              # (control id, why)
    review_notes: tuple[ReviewNote, ...]              # not cleared yet (open or answered)

    @property
    def uncovered(self) -> tuple[str, ...]:
        """Criteria in scope that no control addresses and no CSOC covers."""
        return tuple(line.criterion for line in self.criteria if line.flagged)

    @property
    def opinion(self) -> str:
        """The opinion the manager's recorded judgements make (what is still to judge, until all are)."""
        waiting = [line.criterion for line in self.criteria if line.judgement is None]
        failed = [line.criterion for line in self.criteria if line.judgement is not None
                  and not line.judgement.achieved]
        if waiting:
            return (f"Not yet proposed: {len(waiting)} of {len(self.criteria)} criteria await the manager's "
                    f"judgement (workbench criterion ENGAGEMENT --criterion ID --achieved yes|no --by INITIALS)"
                    + (f"; recorded not achieved so far: {', '.join(failed)}" if failed else "") + ".")
        if failed:
            return f"Modified: the controls did not achieve criteria {', '.join(failed)} (as the manager recorded)."
        return "Unmodified: the controls achieved every criterion in scope (as the manager recorded)."


def _natural(text: str) -> tuple[tuple[int, Any], ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", text))


def _as_list(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [part.strip() for part in str(value or "").split(";") if part.strip()]


def section4(engagement: Engagement, rows: Sequence[Mapping[str, Any]], *,
             judgements: Mapping[str, CriterionJudgement] | None = None,
             review_notes: Sequence[ReviewNote] | None = None) -> Section4:
    """Section 4 by criterion from the engagement and one outcome record (summary row) per control.

    Parameters
    ----------
    engagement : Engagement
    rows : sequence of dict
        The summary's rows: ``control_id``, ``criteria``, ``description``, ``test_performed``, ``result_text``,
        ``status``, ``conclusion_status``, ``conclusion_text``, ``deviations``, ``exceptions_distinct``.
    judgements : mapping, optional
        The recorded judgements by criterion; default read from the results store.
    review_notes : sequence of ReviewNote, optional
        The review notes not cleared yet; default read from the results store (the summary passes the ones it
        has read already).
    """
    from workbench.engagement.criteria import get_criterion

    recorded = criterion_judgements(engagement) if judgements is None else dict(judgements)
    by_id = {str(row.get("control_id")): row for row in rows}
    type1 = engagement.report_type == "type1"
    lines = []
    for criterion in engagement.in_scope_criteria:
        controls = []
        for control in engagement.controls:
            if criterion not in control.criteria:
                continue
            row = by_id.get(control.id, {})
            status = str(row.get("conclusion_status") or row.get("status") or "not_yet_tested")
            if row.get("status") in ("stale", "failed", "interrupted", "not_run", "run_in_progress"):
                status = str(row["status"])
            distinct = row.get("exceptions_distinct")
            conclusion = str(row.get("conclusion_text") or row.get("status_text") or "")
            if type1 and status in TYPE1_CONCLUSIONS:     # as the Type 1 report words it (the Lead sheet too)
                conclusion = f"{STATUS_TEXT[status]} as of {engagement.as_of}."
            controls.append(ControlLine(
                control_id=control.id, activity=control.description,
                test_performed=str(row.get("test_performed") or ""),
                result=str(row.get("result_text") or "Not yet tested."),
                conclusion=conclusion,
                status=status, deviations=int(distinct) if isinstance(distinct, int) else None))
        subservice = tuple(org.name for org in engagement.subservice_organizations if criterion in org.criteria)
        cuecs = tuple(c.id for c in engagement.cuecs if criterion in c.criteria)
        proposed, why = _propose(controls, subservice, type1)
        lines.append(CriterionLine(
            criterion=criterion, title=_title(get_criterion, criterion), controls=tuple(controls),
            subservice=subservice, cuecs=cuecs, proposed=proposed, why=why, judgement=recorded.get(criterion),
            deviations=sum(c.deviations or 0 for c in controls)))
    not_tested = []
    for control in sorted(engagement.controls, key=lambda c: _natural(c.id)):
        row = by_id.get(control.id, {})
        status = str(row.get("status") or "not_yet_tested")
        if status in ("not_yet_tested", "not_run", "failed", "interrupted", "stale", "run_in_progress"):
            why = {"not_yet_tested": "no procedure of the control library tests it yet"
                   if not control.procedure else f"procedure {control.procedure} is not implemented yet",
                   "not_run": "not run yet in this output folder",
                   "stale": "its inputs changed since its outcome: run it again",
                   "run_in_progress": "the run is in progress"}.get(status, str(row.get("result_text") or status))
            not_tested.append((control.id, why))
    return Section4(report_type=engagement.report_type, criteria=tuple(lines), not_tested=tuple(not_tested),
                    review_notes=tuple(read_signoffs(engagement).open_notes if review_notes is None
                                       else review_notes))


def _title(get_criterion: Any, criterion: str) -> str:
    try:
        found = get_criterion(criterion)
    except Exception:  # noqa: BLE001 - a criterion id the catalogue does not describe has no title to show
        return ""
    return str(getattr(found, "title", "") or getattr(found, "text", "") or "")


def _propose(controls: Sequence[ControlLine], subservice: Sequence[str], type1: bool) -> tuple[str, str]:
    """The tool's proposal for one criterion, and why."""
    if not controls:
        if subservice:
            return "achieved_with_csocs", (f"no control of the matrix addresses it; the CSOCs of "
                                           f"{', '.join(subservice)} do (carve-out: the user entity relies on them)")
        return "no_control", "no control of the matrix addresses it and no subservice organization's CSOCs do"
    failed = [c.control_id for c in controls if c.status in _FAILED]
    if failed:
        return "not_achieved", f"{', '.join(failed)} {'did not meet its' if len(failed) == 1 else 'did not meet their'} " \
                               f"control objective ({'design and implementation' if type1 else 'operating effectiveness'})"
    open_ = [c.control_id for c in controls if c.status not in _ACHIEVED]
    if open_:
        return "pending", f"no conclusion yet for {', '.join(open_)}"
    with_exceptions = [c.control_id for c in controls if c.status == "exceptions_noted"]
    if with_exceptions:
        return "achieved", (f"exceptions noted for {', '.join(with_exceptions)}, each evaluated isolated: the "
                            f"controls still achieved the criterion")
    return "achieved", "every control addressing it reached a conclusion without exceptions"
