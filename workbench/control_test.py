"""One tested control as one typed object: what each stage produced, in flow order.

The stages of a control's test each return a frozen result (the engagement, the control, its procedure and
policy, the populations of each round and their receipts, the validation reports, the scope, the sample
plan, the selection, the testing matrix and the evaluation). :class:`ControlTest` holds them together once
the evaluation is done; the workpaper (:func:`workbench.workpaper.write_workpaper`) and the outcome record
(:func:`workbench.outcome.save_outcome`) are written from it alone, so adding a stage or a sheet touches this
one type rather than every call site.

The **inputs fingerprint** (:class:`InputsFingerprint`) is one SHA-256 over everything the control's
conclusion rests on, kept per component so that a change can be named:

==================== =============================================================================
component            what it covers
==================== =============================================================================
``populations``      the SHA-256 of every population file the test read (tested, then second sources), and
                     of the list of occurrences of a control with no client export (derived populations)
``control``          the control's row of the control matrix (not its row number)
``policy``           the engagement's report type, period, rounds, time zone and sampling policy, and the
                     control's policy settings with their values
``procedure``        the procedure's name and attribute ids (and a firm procedure file's SHA-256, when
                     a firm defines one)
``selection``        the sample, its seeds (and who chose them), methods, population sizes, key-set
                     SHA-256s, the selected keys in order and any extension
``results``          every recorded manual result of the control, and every override of an automated one
                     (outcome, evidence, comment, who, when)
``evaluations``      the recorded evaluation of every exception, and the walkthrough
``evidence``         every evidence file a recorded result cited, with its SHA-256 now (None when deleted):
                     a file changed after a result cited it changes the fingerprint (:mod:`workbench.evidence`)
==================== =============================================================================

The sign-off hash uses it as is; the "stale, run again" mark and ``workbench run --changed`` add the
notebook's hash and the package version. A recorded conclusion keeps the fingerprint it was recorded on:
:attr:`ControlTest.conclusion` says whether it still stands.

Public API::

    ControlTest(engagement=..., control=..., ...)    .summary(), .fingerprint, .conclusion
    InputsFingerprint                                .sha256, .components, .changed_since(other)
    Conclusion                                       .status, .text, .recorded, .stale, .changed
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Mapping

from workbench.engagement import Control, Engagement
from workbench.evaluation import STATUS_TEXT, ControlEvaluation
from workbench.evidence import EvidenceIndex, index_evidence
from workbench.files import JsonRecord, JsonValue
from workbench.judgements import RecordedConclusion
from workbench.policy import ControlPolicy
from workbench.population import Population
from workbench.procedures import Procedure
from workbench.receipt import Receipt
from workbench.sample import ControlSelection, SamplePlan
from workbench.scope import ControlScope, ScopedPopulation
from workbench.testing import AttributeTesting
from workbench.validation import ValidationReport

__all__ = ["ControlTest", "InputsFingerprint", "Conclusion", "FINGERPRINT_COMPONENTS"]

#: The parts of the inputs fingerprint, in the order they are hashed.
FINGERPRINT_COMPONENTS: tuple[str, ...] = (
    "populations", "control", "policy", "procedure", "selection", "results", "evaluations", "evidence",
)


def _sha256_json(value: JsonValue) -> str:
    """SHA-256 of a value's canonical JSON (sorted keys, no spaces): the same value, the same hash."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class InputsFingerprint:
    """One SHA-256 over everything a control's conclusion rests on, with the hash of each component.

    Attributes
    ----------
    components : Mapping[str, str]
        Component name (:data:`FINGERPRINT_COMPONENTS`) -> SHA-256 of its canonical JSON.
    sha256 : str
        SHA-256 over the components, in order.
    """

    components: Mapping[str, str]
    sha256: str

    @classmethod
    def of(cls, values: Mapping[str, JsonValue]) -> InputsFingerprint:
        """Hash each component's value, then the components in :data:`FINGERPRINT_COMPONENTS` order."""
        components = {name: _sha256_json(values[name]) for name in FINGERPRINT_COMPONENTS}
        combined = hashlib.sha256("".join(f"{name}={components[name]}\n" for name in FINGERPRINT_COMPONENTS)
                                  .encode("ascii")).hexdigest()
        return cls(components=components, sha256=combined)

    def changed_since(self, other: InputsFingerprint | Mapping[str, str]) -> tuple[str, ...]:
        """The components whose hash differs from ``other``'s (empty when nothing changed)."""
        theirs = other.components if isinstance(other, InputsFingerprint) else other
        return tuple(name for name in FINGERPRINT_COMPONENTS if self.components.get(name) != theirs.get(name))

    def to_record(self) -> JsonRecord:
        """A JSON-safe dict: the combined hash and each component's."""
        return {"sha256": self.sha256, "components": dict(self.components)}


@dataclass(frozen=True)
class Conclusion:
    """Where the control's conclusion stands: proposed by the tool, recorded by the tester, still current or not.

    Attributes
    ----------
    proposed : str
        The tool's proposal (:data:`workbench.evaluation.STATUSES`).
    recorded : RecordedConclusion or None
        The tester's conclusion, when recorded.
    changed : tuple of str
        The inputs fingerprint components that changed since the conclusion was recorded.
    """

    proposed: str
    recorded: RecordedConclusion | None
    changed: tuple[str, ...] = ()

    @property
    def stale(self) -> bool:
        """A conclusion was recorded, and something it rests on changed since."""
        return self.recorded is not None and bool(self.changed)

    @property
    def status(self) -> str:
        """The recorded conclusion while it stands, else the proposal."""
        return self.recorded.conclusion if self.recorded is not None and not self.stale else self.proposed

    @property
    def text(self) -> str:
        """``Exceptions noted (recorded by DR on 2026-07-20)``, ``Testing in progress (proposed)``, or the stale
        mark naming what changed."""
        if self.recorded is None:
            return f"{STATUS_TEXT.get(self.proposed, self.proposed)} (proposed; not recorded yet)"
        when = f"recorded by {self.recorded.by} on {self.recorded.at[:10]}"
        if self.stale:
            return (f"{STATUS_TEXT.get(self.recorded.conclusion, self.recorded.conclusion)} ({when}) is stale: "
                    f"{', '.join(self.changed)} changed since; now proposed: "
                    f"{STATUS_TEXT.get(self.proposed, self.proposed)}. Record the conclusion again.")
        return f"{STATUS_TEXT.get(self.recorded.conclusion, self.recorded.conclusion)} ({when})"


@dataclass(frozen=True, eq=False)
class ControlTest:
    """A control's test, every stage's result in flow order.

    Attributes
    ----------
    engagement : Engagement
    control : Control
    procedure : Procedure
    policy : ControlPolicy
        The settings the control is tested under, and where each came from.
    populations : tuple of Population
        The population tested in each round, as loaded (read only).
    receipts : tuple of Receipt
        The receipt stage's pins: each round's population first, then each second source reconciled.
    reports : tuple of ValidationReport
        Completeness and accuracy (IPE) findings, one report per round.
    scope : ControlScope
        The records in scope in each round, the record filter applied, and what was excluded.
    sample_plan : SamplePlan
    selection : ControlSelection
    testing : AttributeTesting
    evaluation : ControlEvaluation
    """

    engagement: Engagement
    control: Control
    procedure: Procedure
    policy: ControlPolicy
    populations: tuple[Population, ...]
    receipts: tuple[Receipt, ...]
    reports: tuple[ValidationReport, ...]
    scope: ControlScope
    sample_plan: SamplePlan
    selection: ControlSelection
    testing: AttributeTesting
    evaluation: ControlEvaluation

    def __post_init__(self) -> None:
        # the stages must belong together: a selection tested is the selection evaluated, and so on
        if tuple(self.selection.keys) != self.testing.sample_keys:
            raise ValueError(f"control {self.control.id}: the testing results are for another selection.")
        if self.evaluation.control_id != self.control.id or self.testing.control_id != self.control.id:
            raise ValueError(f"control {self.control.id}: the testing or evaluation is of another control.")
        pinned = {receipt.population_id for receipt in self.receipts}
        missing = [p.name for p in self.populations if p.name not in pinned and p.derived is None]
        if missing:
            raise ValueError(f"control {self.control.id}: no receipt for population(s) {', '.join(missing)}; run "
                             f"the receipt stage (pin_populations) on every population tested.")
        if len(self.reports) != len(self.populations) or len(self.scope.parts) != len(self.populations):
            raise ValueError(f"control {self.control.id}: one report and one scoped population per round.")

    # ---- the single-round view (most engagements are tested in one round) -------------------------
    @property
    def population(self) -> Population:
        """The population tested in the first round."""
        return self.populations[0]

    @property
    def report(self) -> ValidationReport:
        """The validation report of the first round."""
        return self.reports[0]

    @property
    def scoped(self) -> ScopedPopulation:
        """The first round's population in scope."""
        return self.scope.parts[0]

    @property
    def receipt(self) -> Receipt:
        """The receipt of the population tested in the first round."""
        return self.receipt_of(self.population.name)

    def receipt_of(self, population_id: str) -> Receipt:
        """The receipt of a population the test read (a derived population has none: StopIteration)."""
        return next(r for r in self.receipts if r.population_id == population_id)

    def receipt_rows(self, population: Population) -> list[tuple[str, str]]:
        """The receipt's rows for the Population sheet; for a derived population (no file received), where its
        occurrences came from."""
        if population.derived is not None:
            return [("Receipt", f"none: no file was received; the occurrences are {population.source_relative} and "
                                f"their SHA-256 is part of the inputs fingerprint")]
        return self.receipt_of(population.name).to_table()

    @cached_property
    def fingerprint(self) -> InputsFingerprint:
        """The inputs fingerprint (see the module docstring for what it covers)."""
        engagement, control, policy = self.engagement, self.control, self.engagement.sampling
        selection, evaluation = self.selection, self.evaluation
        results = self.testing.item_results
        manual = results.loc[results["source"].isin(("results store", "recorded conclusions", "override"))]
        recorded = sorted(
            [str(r["item_key"]), str(r["attribute_id"]), str(r["outcome"]), _text(r["evidence_ref"]),
             _text(r["comment"]), _text(r["tested_by"]), _text(r["tested_at"])]
            for r in manual.to_dict("records"))
        evaluations: list[JsonValue] = [
            [e.item_key, e.type, e.extent, e.why, e.root_cause, e.effect_on_criteria, e.compensating_control,
             e.management_response, e.by, e.at] for e in sorted(evaluation.evaluations.values(),
                                                                key=lambda e: e.item_key)]
        walkthrough = evaluation.walkthrough
        if walkthrough is not None:
            evaluations.append(["walkthrough", walkthrough.instance, walkthrough.inquiry_of, walkthrough.inquiry_date,
                                walkthrough.inspected, walkthrough.observed, walkthrough.design, walkthrough.notes,
                                walkthrough.by, walkthrough.at])
        return InputsFingerprint.of({
            "populations": {**{receipt.population_id: receipt.sha256 for receipt in self.receipts},
                            **{p.name: p.sha256 for p in self.populations if p.derived is not None}},
            "control": {
                "id": control.id, "description": control.description, "criteria": list(control.criteria),
                "owner": control.owner, "frequency": control.frequency, "nature": control.nature,
                "procedure": control.procedure, "populations": list(control.populations),
                "attributes": list(control.attributes), "extra": dict(control.extra),
                "record_filter": control.record_filter.text if control.record_filter else None,
                "shared_sample": control.shared_sample,
                **({"manual_attributes": list(control.manual_attributes)} if control.manual_attributes else {}),
            },
            "policy": {
                "report_type": engagement.report_type,
                "period_start": _text(engagement.period_start), "period_end": _text(engagement.period_end),
                "as_of": _text(engagement.as_of), "timezone": engagement.timezone,
                "rounds": [[r.name, r.start.isoformat(), r.end.isoformat(), list(r.populations)]
                           for r in engagement.rounds],
                "model": policy.model, "confidence": str(policy.confidence),
                "tolerable_rate": str(policy.tolerable_rate), "expected_rate": str(policy.expected_rate),
                "method": policy.method, "frequency_table": dict(policy.frequency_table),
                "control_policy": dict(self.policy.values),
            },
            "procedure": {"name": self.procedure.name,
                          "attributes": [attribute.id for attribute in self.testing.attributes],
                          **({"source": self.procedure.source, "source_sha256": self.procedure.source_sha256}
                             if self.procedure.source_sha256 else {})},
            "selection": {"sample": selection.sample_id, "stages": list(selection.stage_sizes),
                          "extension": selection.extension,
                          "parts": [{"round": round_, "seed": part.seed, "seed_set": seed.describe(),
                                     "method": part.method, "population_size": part.population_size,
                                     "key_set_sha256": part.key_set_sha256, "keys": list(part.keys)}
                                    for part, round_, seed in zip(selection.parts, selection.rounds,
                                                                  selection.seeds)]},
            "results": [list(row) for row in recorded],
            "evaluations": evaluations,
            # a cited file as it is now: changed after a result cited it, the recorded conclusion no longer stands
            "evidence": [[f.path, f.sha256] for f in self.evidence.files if f.cited_sha256 is not None],
        })

    @cached_property
    def evidence(self) -> EvidenceIndex:
        """The evidence files of the selected items and the populations (hashed, compared with what results cited)
        and the results store's chain head, as the workpaper prints them (:mod:`workbench.evidence`)."""
        return index_evidence(self.engagement.folder, owners=(self.control.id, self.selection.sample_id),
                              item_keys=self.selection.keys, population_ids=[p.name for p in self.populations],
                              engagement_id=self.engagement.engagement_id)

    @cached_property
    def conclusion(self) -> Conclusion:
        """Where the conclusion stands: proposed, recorded, and whether the recorded one is stale."""
        recorded = self.evaluation.recorded
        changed = () if recorded is None else self.fingerprint.changed_since(recorded.components)
        if recorded is not None and not changed and recorded.fingerprint != self.fingerprint.sha256:
            changed = ("inputs",)
        return Conclusion(proposed=self.evaluation.status, recorded=recorded, changed=changed)

    def summary(self) -> str:
        """The control's test in a few lines: what was tested, how many, the result."""
        plan, evaluation = self.sample_plan, self.evaluation
        populations = "; ".join(f"{p.name}: {p.source_relative} (SHA-256 {p.sha256[:12]}..., "
                                + (f"receipt version {self.receipt_of(p.name).version})" if p.derived is None
                                   else "no receipt: derived)") for p in self.populations)
        lines = [
            f"{self.control.id} ({self.procedure.title}) — {self.engagement.client}, "
            f"{self.engagement.report_label} {self.engagement.period_label}",
            f"  population {populations}; {len(self.scope):,} in scope",
            f"  sample {plan.sample_size:,} ({plan.kind}, {plan.method}, seed {self.selection.seed}); "
            f"{evaluation.items_tested} tested, {evaluation.deviations} deviation(s) in the sample, "
            f"{evaluation.distinct_exceptions} item(s) with a deviation in all",
            f"  conclusion: {self.conclusion.text}",
        ]
        if evaluation.result_text:
            lines.append(f"  result: {evaluation.result_text}")
        lines.append(f"  inputs fingerprint {self.fingerprint.sha256}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"ControlTest({self.control.id!r}, populations={[p.name for p in self.populations]}, "
                f"status={self.conclusion.status!r})")


def _text(value: object) -> str | None:
    """A value as text for hashing (dates ISO, missing as None)."""
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN from a pandas frame
        return None
    isoformat = getattr(value, "isoformat", None)
    return str(isoformat()) if callable(isoformat) else str(value)
