"""One tested control as one typed object: what each stage produced, in flow order.

The stages of a control's test each return a frozen result (the engagement, the control, its procedure,
the population and its receipts, the validation report, the scope, the sample plan, the selection, the
testing matrix and the evaluation). :class:`ControlTest` holds them together once the evaluation is done;
the workpaper (:func:`workbench.workpaper.write_workpaper`) and the outcome record
(:func:`workbench.outcome.save_outcome`) are written from it alone, so adding a stage or a sheet touches
this one type rather than every call site.

The **inputs fingerprint** (:class:`InputsFingerprint`) is one SHA-256 over everything the control's
conclusion rests on, kept per component so that a change can be named:

==================== =============================================================================
component            what it covers
==================== =============================================================================
``populations``      the SHA-256 of every population file the test read (tested, then second sources)
``control``          the control's row of the control matrix (not its row number)
``policy``           the engagement's report type, period or as-of date, time zone and sampling policy
``procedure``        the procedure's name and attribute ids (and a firm procedure file's SHA-256, when
                     a firm defines one)
``selection``        seed, method, population size, key-set SHA-256 and the selected keys in order
``results``          every recorded manual result of the control (outcome, evidence, comment, who)
``evaluations``      recorded evaluations of exceptions (none recorded yet: an empty list)
``evidence``         SHA-256 of evidence files cited (none yet: an empty list)
==================== =============================================================================

The sign-off hash uses it as is; the "stale, run again" mark and ``workbench run --changed`` add the
notebook's hash and the package version.

Public API::

    ControlTest(engagement=..., control=..., ...)    .summary(), .fingerprint, .receipt
    InputsFingerprint                                .sha256, .components, .changed_since(other)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Mapping

from sampling import Selection
from workbench.engagement import Control, Engagement
from workbench.evaluation import ControlEvaluation
from workbench.files import JsonRecord, JsonValue
from workbench.population import Population
from workbench.procedures import Procedure
from workbench.receipt import Receipt
from workbench.sample import SamplePlan
from workbench.scope import ScopedPopulation
from workbench.testing import AttributeTesting
from workbench.validation import ValidationReport

__all__ = ["ControlTest", "InputsFingerprint", "FINGERPRINT_COMPONENTS"]

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

    def changed_since(self, other: InputsFingerprint) -> tuple[str, ...]:
        """The components whose hash differs from ``other``'s (empty when nothing changed)."""
        return tuple(name for name in FINGERPRINT_COMPONENTS
                     if self.components.get(name) != other.components.get(name))

    def to_record(self) -> JsonRecord:
        """A JSON-safe dict: the combined hash and each component's."""
        return {"sha256": self.sha256, "components": dict(self.components)}


@dataclass(frozen=True, eq=False)
class ControlTest:
    """A control's test, every stage's result in flow order.

    Attributes
    ----------
    engagement : Engagement
    control : Control
    procedure : Procedure
    population : Population
        The population sampled, as loaded (read only).
    receipts : tuple of Receipt
        The receipt stage's pins: the population first, then each second source the validation reconciled.
    report : ValidationReport
        Completeness and accuracy (IPE) findings.
    scoped : ScopedPopulation
        The records in the period (or the as-of window) and what was excluded.
    sample_plan : SamplePlan
    selection : sampling.Selection
    testing : AttributeTesting
    evaluation : ControlEvaluation
    """

    engagement: Engagement
    control: Control
    procedure: Procedure
    population: Population
    receipts: tuple[Receipt, ...]
    report: ValidationReport
    scoped: ScopedPopulation
    sample_plan: SamplePlan
    selection: Selection
    testing: AttributeTesting
    evaluation: ControlEvaluation

    def __post_init__(self) -> None:
        # the stages must belong together: a selection tested is the selection evaluated, and so on
        if tuple(self.selection.keys) != self.testing.sample_keys:
            raise ValueError(f"control {self.control.id}: the testing results are for another selection.")
        if self.evaluation.control_id != self.control.id or self.testing.control_id != self.control.id:
            raise ValueError(f"control {self.control.id}: the testing or evaluation is of another control.")
        if not self.receipts or self.receipts[0].population_id != self.population.name:
            raise ValueError(f"control {self.control.id}: the first receipt must be the population's "
                             f"({self.population.name}).")

    @property
    def receipt(self) -> Receipt:
        """The receipt of the population sampled."""
        return self.receipts[0]

    @cached_property
    def fingerprint(self) -> InputsFingerprint:
        """The inputs fingerprint (see the module docstring for what it covers)."""
        engagement, control, policy = self.engagement, self.control, self.engagement.sampling
        selection = self.selection
        results = self.testing.item_results
        manual = results.loc[results["source"] == "results store"]
        recorded = sorted(
            [str(r["item_key"]), str(r["attribute_id"]), str(r["outcome"]), _text(r["evidence_ref"]),
             _text(r["comment"]), _text(r["tested_by"]), _text(r["tested_at"])]
            for r in manual.to_dict("records"))
        return InputsFingerprint.of({
            "populations": {receipt.population_id: receipt.sha256 for receipt in self.receipts},
            "control": {
                "id": control.id, "description": control.description, "criteria": list(control.criteria),
                "owner": control.owner, "frequency": control.frequency, "nature": control.nature,
                "procedure": control.procedure, "populations": list(control.populations),
                "attributes": list(control.attributes), "extra": dict(control.extra),
            },
            "policy": {
                "report_type": engagement.report_type,
                "period_start": _text(engagement.period_start), "period_end": _text(engagement.period_end),
                "as_of": _text(engagement.as_of), "timezone": engagement.timezone,
                "model": policy.model, "confidence": str(policy.confidence),
                "tolerable_rate": str(policy.tolerable_rate), "expected_rate": str(policy.expected_rate),
                "method": policy.method, "frequency_table": dict(policy.frequency_table),
            },
            "procedure": {"name": self.procedure.name,
                          "attributes": [attribute.id for attribute in self.testing.attributes]},
            "selection": {"seed": selection.seed, "method": selection.method,
                          "population_size": selection.population_size,
                          "key_set_sha256": selection.key_set_sha256, "keys": list(selection.keys)},
            "results": [list(row) for row in recorded],
            "evaluations": [],
            "evidence": [],
        })

    def summary(self) -> str:
        """The control's test in a few lines: what was tested, how many, the result."""
        plan, evaluation = self.sample_plan, self.evaluation
        return "\n".join([
            f"{self.control.id} ({self.procedure.title}) — {self.engagement.client}, "
            f"{self.engagement.report_label} {self.engagement.period_label}",
            f"  population {self.population.name}: {self.population.source_relative} "
            f"(SHA-256 {self.population.sha256[:12]}..., receipt version {self.receipt.version}); "
            f"{len(self.scoped):,} in scope",
            f"  sample {plan.sample_size:,} ({plan.kind}, {plan.method}, seed {self.selection.seed}); "
            f"{evaluation.items_tested} tested, {evaluation.deviations} deviation(s)",
            f"  [{evaluation.status}] {evaluation.result_text}",
            f"  inputs fingerprint {self.fingerprint.sha256}",
        ])

    def __repr__(self) -> str:
        return (f"ControlTest({self.control.id!r}, population={self.population.name!r}, "
                f"status={self.evaluation.status!r})")


def _text(value: object) -> str | None:
    """A value as text for hashing (dates ISO, missing as None)."""
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN from a pandas frame
        return None
    isoformat = getattr(value, "isoformat", None)
    return str(isoformat()) if callable(isoformat) else str(value)
