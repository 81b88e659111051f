"""The tester's judgements, recorded in the results store with who and when: the tool proposes, the tester records.

A control's test leaves decisions no data can make: which seed, if not the derived one; whether a sample
found a deviation that justifies an extension; what each exception is (design or operating, isolated or
systematic, why); how the walkthrough went and whether the control is suitably designed; and the
conclusion itself. Each is recorded here through one validated function, with ``by=`` the staff member's
initials (or name), checked against the engagement's staff list, into the hash-chained results store
(:mod:`workbench.results`). The recording issue adds the form, the Excel template and the command line on
top of these same functions.

Entry kinds (key fields -> value fields)::

    seed                  (sample_id, round)    -> seed
    extension             (sample_id)           -> items
    exception_evaluation  (control_id, item_key)-> type, extent, why, root_cause, compensating_control,
                                                   effect_on_criteria, management_response
    walkthrough           (control_id)          -> instance, inquiry_of, inquiry_date, inspected, observed,
                                                   design, notes
    conclusion            (control_id)          -> conclusion, proposed, fingerprint   (workbench.conclusion)

Reading never creates the store (an engagement without ``results.sqlite`` has recorded nothing).

Public API::

    choose_seed(engagement, sample_id, seed, *, by, reason=None, round_name=None) -> SeedChoice
    extend_sample(engagement, sample_id, *, items, by, reason) -> Extension
    evaluate_exception(engagement, control_id, item_key, *, by, type, extent, why, root_cause,
                       effect_on_criteria, compensating_control=None, management_response=None) -> ExceptionEvaluation
    record_walkthrough(engagement, control_id, *, by, instance, inquiry_of, inquiry_date, inspected,
                       observed, design, notes=None) -> Walkthrough
    sample_decisions(engagement, sample_id) -> SampleDecisions
    exception_evaluations(engagement, control_id) -> dict[str, ExceptionEvaluation]
    walkthrough_of(engagement, control_id) -> Walkthrough | None
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Mapping

from workbench.engagement import RESULTS_FILE, Engagement
from workbench.errors import ResultsError
from workbench.files import JsonRecord
from workbench.results import EntryKind, ResultsStore, WriteContext, register_kind

__all__ = [
    "EXCEPTION_TYPES",
    "EXCEPTION_EXTENTS",
    "DESIGN_CONCLUSIONS",
    "TESTER_ROLES",
    "SeedChoice",
    "Extension",
    "SampleDecisions",
    "ExceptionEvaluation",
    "Walkthrough",
    "RecordedConclusion",
    "recorded_conclusion",
    "choose_seed",
    "extend_sample",
    "evaluate_exception",
    "record_walkthrough",
    "sample_decisions",
    "exception_evaluations",
    "walkthrough_of",
]

#: The nature of an exception (workflow.md §1.9): the control's design, its operation, missing evidence, timing.
EXCEPTION_TYPES: tuple[str, ...] = ("design", "operating", "missing_evidence", "timing")
#: Isolated (the control still meets its objective) or systematic (it does not).
EXCEPTION_EXTENTS: tuple[str, ...] = ("isolated", "systematic")
#: The design evaluation a walkthrough records.
DESIGN_CONCLUSIONS: tuple[str, ...] = ("suitably designed", "not suitably designed")
#: Staff roles that record test work and judgements (a reviewer reviews and signs off: workbench.signoff).
TESTER_ROLES = frozenset({"preparer", "manager", "partner"})


def _required_text(value: object, name: str, described: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ResultsError(f"{described}: {name} is required; give it as text.")
    return value.strip()


def _choice(value: object, name: str, choices: tuple[str, ...], described: str) -> str:
    if not isinstance(value, str) or value.strip().lower().replace(" ", "_") not in \
            {c.replace(" ", "_") for c in choices}:
        raise ResultsError(f"{described}: {name} must be one of {', '.join(choices)}, got {value!r}.")
    wanted = value.strip().lower().replace(" ", "_")
    return next(c for c in choices if c.replace(" ", "_") == wanted)


def _iso_date(value: object, name: str, described: str, today: _dt.date) -> str:
    if isinstance(value, _dt.datetime):
        value = value.date()
    if isinstance(value, _dt.date):
        day = value
    else:
        try:
            day = _dt.date.fromisoformat(str(value).strip())
        except ValueError:
            raise ResultsError(f"{described}: {name} {value!r} is not a date; write it as YYYY-MM-DD.") from None
    if day > today:
        raise ResultsError(f"{described}: {name} {day.isoformat()} is in the future.")
    return day.isoformat()


def _check_seed(key: Mapping[str, object], value: JsonRecord, reason: str | None,
                context: WriteContext) -> JsonRecord:
    seed = value.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ResultsError(f"seed of sample {key.get('sample_id')!r}: must be a whole number >= 0, got {seed!r}.")
    return value


def _check_extension(key: Mapping[str, object], value: JsonRecord, reason: str | None,
                     context: WriteContext) -> JsonRecord:
    items = value.get("items")
    if isinstance(items, bool) or not isinstance(items, int) or items < 1:
        raise ResultsError(f"extension of sample {key.get('sample_id')!r}: items must be a whole number >= 1, "
                           f"got {items!r}.")
    if not reason:
        raise ResultsError(f"extension of sample {key.get('sample_id')!r}: a reason is required (why the deviation "
                           f"is judged isolated, so that testing more items is the right response).")
    return value


def _check_evaluation(key: Mapping[str, object], value: JsonRecord, reason: str | None,
                      context: WriteContext) -> JsonRecord:
    described = f"evaluation of exception {key.get('item_key')!r} of {key.get('control_id')}"
    checked: JsonRecord = dict(value)
    checked["type"] = _choice(value.get("type"), "type", EXCEPTION_TYPES, described)
    checked["extent"] = _choice(value.get("extent"), "extent", EXCEPTION_EXTENTS, described)
    for name in ("why", "root_cause", "effect_on_criteria"):
        checked[name] = _required_text(value.get(name), name, described)
    for name in ("compensating_control", "management_response"):
        text = value.get(name)
        checked[name] = text.strip() if isinstance(text, str) and text.strip() else None
    return checked


def _check_walkthrough(key: Mapping[str, object], value: JsonRecord, reason: str | None,
                       context: WriteContext) -> JsonRecord:
    described = f"walkthrough of {key.get('control_id')}"
    checked: JsonRecord = dict(value)
    for name in ("instance", "inquiry_of", "inspected", "observed"):
        checked[name] = _required_text(value.get(name), name, described)
    checked["inquiry_date"] = _iso_date(value.get("inquiry_date"), "inquiry_date", described, context.today)
    checked["design"] = _choice(value.get("design"), "design", DESIGN_CONCLUSIONS, described)
    notes = value.get("notes")
    checked["notes"] = notes.strip() if isinstance(notes, str) and notes.strip() else None
    return checked


SEED = register_kind(EntryKind("seed", ("sample_id", "round"), value_fields=("seed",), validate=_check_seed,
                               staff_roles=TESTER_ROLES))
EXTENSION = register_kind(EntryKind("extension", ("sample_id",), value_fields=("items",), validate=_check_extension,
                                    staff_roles=TESTER_ROLES))
EXCEPTION_EVALUATION = register_kind(EntryKind(
    "exception_evaluation", ("control_id", "item_key"),
    value_fields=("type", "extent", "why", "root_cause", "compensating_control", "effect_on_criteria",
                  "management_response"),
    validate=_check_evaluation, staff_roles=TESTER_ROLES))
def _check_conclusion(key: Mapping[str, object], value: JsonRecord, reason: str | None,
                      context: WriteContext) -> JsonRecord:
    for name in ("conclusion", "proposed", "fingerprint"):
        if not isinstance(value.get(name), str) or not str(value.get(name)).strip():
            raise ResultsError(f"conclusion of {key.get('control_id')}: {name} is required.")
    return value


CONCLUSION = register_kind(EntryKind("conclusion", ("control_id",),
                                     value_fields=("conclusion", "proposed", "fingerprint", "components"),
                                     validate=_check_conclusion, staff_roles=TESTER_ROLES))
WALKTHROUGH = register_kind(EntryKind(
    "walkthrough", ("control_id",),
    value_fields=("instance", "inquiry_of", "inquiry_date", "inspected", "observed", "design", "notes"),
    validate=_check_walkthrough, staff_roles=TESTER_ROLES))


# ------------------------------------------------------------------------------------------------
# What was recorded
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SeedChoice:
    """How a selection's seed was set: derived (nobody chose it) or chosen by a staff member."""

    seed: int
    chosen_by: str | None = None
    chosen_at: str | None = None
    reason: str | None = None

    @property
    def chosen(self) -> bool:
        return self.chosen_by is not None

    def describe(self) -> str:
        """``derived from the engagement, the sample and the population SHA-256`` or who chose it, when, why."""
        if not self.chosen:
            return "derived from the engagement, the sample and the population's SHA-256"
        why = f": {self.reason}" if self.reason else ""
        return f"chosen by {self.chosen_by} on {(self.chosen_at or '')[:10]}{why}"


@dataclass(frozen=True)
class Extension:
    """An extension of a sample after a deviation, as the preparer recorded it."""

    items: int
    by: str
    at: str
    reason: str

    def describe(self) -> str:
        return f"{self.items:,} items added by {self.by} on {self.at[:10]}: {self.reason}"


@dataclass(frozen=True)
class SampleDecisions:
    """The seeds chosen for a sample (by round) and its recorded extension."""

    seeds: Mapping[str, SeedChoice] = field(default_factory=dict)
    extension: Extension | None = None

    def seed_for(self, round_name: str, derived: int) -> SeedChoice:
        """The chosen seed of a round, or the derived one."""
        return self.seeds.get(round_name) or SeedChoice(derived)


@dataclass(frozen=True)
class ExceptionEvaluation:
    """The preparer's evaluation of one exception (workflow.md §1.9), with who and when."""

    control_id: str
    item_key: str
    type: str
    extent: str
    why: str
    root_cause: str
    effect_on_criteria: str
    compensating_control: str | None
    management_response: str | None
    by: str
    at: str

    @property
    def systematic(self) -> bool:
        return self.extent == "systematic"

    def to_row(self) -> dict[str, str]:
        """The evaluation as columns of the Exceptions sheet."""
        return {"Type": self.type.replace("_", " "), "Isolated or systematic": f"{self.extent}: {self.why}",
                "Root cause": self.root_cause,
                "Compensating control": self.compensating_control or "none recorded",
                "Effect on the criteria": self.effect_on_criteria,
                "Management's response (Section 5, unaudited)": self.management_response or "not provided",
                "Evaluated by": f"{self.by} on {self.at[:10]}"}


@dataclass(frozen=True)
class Walkthrough:
    """A walkthrough of one instance of the control and the design evaluation, with who and when."""

    control_id: str
    instance: str
    inquiry_of: str
    inquiry_date: str
    inspected: str
    observed: str
    design: str
    notes: str | None
    by: str
    at: str

    @property
    def suitably_designed(self) -> bool:
        return self.design == "suitably designed"

    def to_table(self) -> list[tuple[str, str]]:
        return [("Instance walked through", self.instance),
                ("Inquiry of", f"{self.inquiry_of} on {self.inquiry_date}"),
                ("Inspected", self.inspected), ("Observed", self.observed),
                ("Design evaluation", self.design), ("Notes", self.notes or ""),
                ("Recorded by", f"{self.by} on {self.at[:10]}")]


@dataclass(frozen=True)
class RecordedConclusion:
    """The conclusion a tester recorded for a control, with what the tool proposed and the inputs fingerprint
    it was recorded on (so that a later change of the inputs shows)."""

    control_id: str
    conclusion: str
    proposed: str
    fingerprint: str
    components: Mapping[str, str]
    by: str
    at: str
    reason: str | None


def _store(engagement: Engagement) -> ResultsStore | None:
    """The engagement's store for reading, or None when nothing was ever recorded (reading creates nothing)."""
    if not (engagement.folder / RESULTS_FILE).is_file():
        return None
    return ResultsStore.open(engagement)


def sample_decisions(engagement: Engagement, sample_id: str) -> SampleDecisions:
    """The seeds chosen for a sample and its recorded extension (none when nothing was recorded)."""
    store = _store(engagement)
    if store is None:
        return SampleDecisions()
    with store:
        seeds = {str(e.key["round"]): SeedChoice(int(e.value["seed"]),  # type: ignore[arg-type]
                                                 e.who, e.at, e.reason)
                 for e in store.current("seed", sample_id=sample_id)}
        entry = store.latest("extension", {"sample_id": sample_id})
    extension = None
    if entry is not None:
        extension = Extension(int(entry.value["items"]), entry.who, entry.at, entry.reason or "")  # type: ignore[arg-type]
    return SampleDecisions(seeds=seeds, extension=extension)


def exception_evaluations(engagement: Engagement, control_id: str) -> dict[str, ExceptionEvaluation]:
    """The current evaluation of each exception of a control, by item key."""
    store = _store(engagement)
    if store is None:
        return {}
    with store:
        entries = store.current("exception_evaluation", control_id=control_id)
    return {str(e.key["item_key"]): ExceptionEvaluation(
        control_id=control_id, item_key=str(e.key["item_key"]), type=str(e.value["type"]),
        extent=str(e.value["extent"]), why=str(e.value["why"]), root_cause=str(e.value["root_cause"]),
        effect_on_criteria=str(e.value["effect_on_criteria"]),
        compensating_control=_optional(e.value.get("compensating_control")),
        management_response=_optional(e.value.get("management_response")), by=e.who, at=e.at) for e in entries}


def walkthrough_of(engagement: Engagement, control_id: str) -> Walkthrough | None:
    """The control's recorded walkthrough and design evaluation, or None."""
    store = _store(engagement)
    if store is None:
        return None
    with store:
        entry = store.latest("walkthrough", {"control_id": control_id})
    if entry is None:
        return None
    v = entry.value
    return Walkthrough(control_id=control_id, instance=str(v["instance"]), inquiry_of=str(v["inquiry_of"]),
                       inquiry_date=str(v["inquiry_date"]), inspected=str(v["inspected"]),
                       observed=str(v["observed"]), design=str(v["design"]), notes=_optional(v.get("notes")),
                       by=entry.who, at=entry.at)


def recorded_conclusion(engagement: Engagement, control_id: str) -> RecordedConclusion | None:
    """The conclusion recorded for a control (:func:`workbench.conclusion.record_conclusion`), or None."""
    store = _store(engagement)
    if store is None:
        return None
    with store:
        entry = store.latest("conclusion", {"control_id": control_id})
    if entry is None:
        return None
    components = entry.value.get("components")
    return RecordedConclusion(control_id=control_id, conclusion=str(entry.value["conclusion"]),
                              proposed=str(entry.value["proposed"]), fingerprint=str(entry.value["fingerprint"]),
                              components={str(k): str(v) for k, v in components.items()}
                              if isinstance(components, dict) else {},
                              by=entry.who, at=entry.at, reason=entry.reason)


def _optional(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


# ------------------------------------------------------------------------------------------------
# Recording
# ------------------------------------------------------------------------------------------------

def _control_exists(engagement: Engagement, control_id: str) -> None:
    engagement.control(control_id)   # raises EngagementError naming the valid ids


def choose_seed(engagement: Engagement, sample_id: str, seed: int, *, by: str, reason: str | None = None,
                round_name: str | None = None) -> SeedChoice:
    """Record a seed chosen by the tester for a sample's selection (instead of the derived one).

    A chosen seed is labelled as chosen on the workpaper, with who and when. Drawing again with a different
    seed once results are recorded for the sample's items is refused unless ``reason`` says why; the reason
    is kept in the trail.

    Raises
    ------
    ResultsError
        ``by`` not on the staff list in a role that tests, a seed that is not a whole number >= 0, or a
        change of seed after results were recorded, without a reason.
    """
    rounds = [r.name for r in engagement.test_rounds()]
    round_name = round_name or rounds[0]
    if round_name not in rounds:
        raise ResultsError(f"seed of sample {sample_id!r}: no round {round_name!r}; rounds: {', '.join(rounds)}.")
    with ResultsStore.open(engagement) as store:
        current = store.latest("seed", {"sample_id": sample_id, "round": round_name})
        results = [e for e in store.current("result")]
        if results and (current is None or current.value.get("seed") != seed) and not (reason and reason.strip()):
            raise ResultsError(
                f"seed of sample {sample_id!r}: results are already recorded in this engagement, and a new seed "
                f"draws other items; give reason= (why the sample is drawn again), which the trail keeps.")
        entry = store.append("seed", {"sample_id": sample_id, "round": round_name}, {"seed": seed}, who=by,
                             reason=reason)
    return SeedChoice(seed, entry.who, entry.at, entry.reason)


def extend_sample(engagement: Engagement, sample_id: str, *, items: int, by: str, reason: str) -> Extension:
    """Record the extension of a sample after a deviation: ``items`` more, added through :func:`sampling.extend`.

    The control's policy must allow it (``extension = "two_stage"`` or ``"extend"``); the evaluation proposes
    it when the first stage found a deviation. ``reason`` says why the deviation is judged isolated.

    Raises
    ------
    ResultsError
        No reason, ``items`` < 1, or ``by`` not allowed.
    """
    with ResultsStore.open(engagement) as store:
        entry = store.append("extension", {"sample_id": sample_id}, {"items": items}, who=by, reason=reason)
    return Extension(items, entry.who, entry.at, entry.reason or "")


def evaluate_exception(engagement: Engagement, control_id: str, item_key: str, *, by: str, type: str,
                       extent: str, why: str, root_cause: str, effect_on_criteria: str,
                       compensating_control: str | None = None,
                       management_response: str | None = None) -> ExceptionEvaluation:
    """Record the evaluation of one exception of a control (any item of the population in scope: a census
    exception as well as a sampled one).

    Parameters
    ----------
    type : {"design", "operating", "missing_evidence", "timing"}
    extent : {"isolated", "systematic"}
    why : str
        Why isolated or systematic (recurring cause? concentrated in one person? persisting?).
    root_cause, effect_on_criteria : str
    compensating_control, management_response : str, optional
        Management's response is for Section 5 (other information, unaudited).

    Raises
    ------
    ResultsError
        A missing or invalid field, ``by`` not allowed; EngagementError for an unknown control.
    """
    _control_exists(engagement, control_id)
    value: JsonRecord = {"type": type, "extent": extent, "why": why, "root_cause": root_cause,
                         "compensating_control": compensating_control, "effect_on_criteria": effect_on_criteria,
                         "management_response": management_response}
    with ResultsStore.open(engagement) as store:
        store.append("exception_evaluation", {"control_id": control_id, "item_key": item_key}, value, who=by)
    return exception_evaluations(engagement, control_id)[item_key.strip()]


def record_walkthrough(engagement: Engagement, control_id: str, *, by: str, instance: str, inquiry_of: str,
                       inquiry_date: str | _dt.date, inspected: str, observed: str, design: str,
                       notes: str | None = None) -> Walkthrough:
    """Record the walkthrough of one instance of a control and its design evaluation.

    Every control gets one, Type 1 and Type 2 (a Type 2 opinion covers design too): inquiry of whom and when,
    inspection of what, observation of what, and whether the control is suitably designed.

    Raises
    ------
    ResultsError
        A missing field, a date in the future or not a date, a design other than "suitably designed" /
        "not suitably designed", ``by`` not allowed; EngagementError for an unknown control.
    """
    _control_exists(engagement, control_id)
    when = inquiry_date.isoformat() if isinstance(inquiry_date, _dt.date) else inquiry_date
    value: JsonRecord = {"instance": instance, "inquiry_of": inquiry_of, "inquiry_date": when,
                         "inspected": inspected, "observed": observed, "design": design, "notes": notes}
    with ResultsStore.open(engagement) as store:
        store.append("walkthrough", {"control_id": control_id}, value, who=by)
    found = walkthrough_of(engagement, control_id)
    assert found is not None
    return found
