"""The procedure model: a test of one type of control, declared as data.

A :class:`Procedure` says which population it samples (``population_kind``), which column identifies an
item (``key_column``) and which date places it in the period (``date_column``), how the test reads in
Section 4 of the SOC 2 report, and its :class:`Attribute` s. An attribute is one pass/fail condition
tested on every item (AuditServe, "Attribute sampling"; workflow.md §1.7):

* ``automated`` attributes are computed from the population by a vectorised ``check`` over the
  canonical frame. They run once over the *full* population in scope (census analytics); the sampled
  items read their rows of that result.
* ``manual`` attributes are judged by the tester from evidence and recorded in the results store.

An item passes only if every applicable attribute passes. An attribute whose prerequisite
(``depends_on``) failed for an item cannot be performed for that item ("not performed"): it is neither a
pass nor a second deviation. Missing evidence is a deviation (workflow.md §1.9), so a check that cannot
find the data it needs (no approver, no approval time) fails rather than skipping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from workbench.errors import EngagementError, PopulationError

__all__ = [
    "CheckContext",
    "RelatedFrame",
    "RecordSelector",
    "local_days",
    "business_days_between",
    "AUTOMATED",
    "CONTROL",
    "ACCURACY",
    "PolicyParameter",
    "PolicyValue",
    "COMMON_POLICY",
    "MANUAL",
    "ON_OR_BEFORE",
    "ON_OR_AFTER",
    "PASS",
    "FAIL",
    "NOT_APPLICABLE",
    "NOT_PERFORMED",
    "NOT_TESTED",
    "CHECK_OUTCOMES",
    "OUTCOME_DTYPE",
    "Attribute",
    "AttributeCheck",
    "Procedure",
]

AUTOMATED = "automated"
MANUAL = "manual"

#: Where a manual attribute's evidence date must lie, relative to the item's compared date, for a pass.
ON_OR_BEFORE = "on_or_before"
ON_OR_AFTER = "on_or_after"

#: Roles of an attribute. A ``control`` attribute tests the control: a failure is a deviation of the control.
#: An ``accuracy`` attribute agrees a sampled item's data to the source system (the sample as evidence of
#: the population the full-population analysis relied on): a failure is a finding on the population, whose
#: information then cannot be relied on as produced, not a deviation of the control (AT-C 205.36; IPE).
CONTROL = "control"
ACCURACY = "accuracy"

#: A policy value as engagement.toml gives it.
PolicyValue = int | str | bool


@dataclass(frozen=True)
class PolicyParameter:
    """A setting of a procedure the firm's policy decides (a window, an SLA, a minimum sample size).

    Defaults are the procedure's; ``[policy.<procedure>]`` of engagement.toml sets them for the engagement
    and ``[controls.<id>.policy]`` for one control. The workpaper lists every value used and where it came
    from.

    Attributes
    ----------
    name : str
        lower_snake_case, as written in engagement.toml.
    description : str
        What it decides, for messages and the workpaper.
    default : int, str or bool
    kind : str
        ``int`` (a whole number >= ``minimum``), ``choice`` (one of ``choices``), ``bool`` or ``text``.
    minimum : int
    choices : tuple of str
    unit : str
        How a value reads in a sentence: ``business days``, ``hours``, ``items`` ("" for none).
    """

    name: str
    description: str
    default: PolicyValue
    kind: str = "int"
    minimum: int = 0
    choices: tuple[str, ...] = ()
    unit: str = ""

    def check(self, value: object) -> PolicyValue:
        """``value`` if it is a valid setting, else ValueError with the fix (caller adds file and line)."""
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int) or value < self.minimum:
                raise ValueError(f"must be a whole number >= {self.minimum}, written without quotes, got {value!r}.")
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"must be true or false (no quotes), got {value!r}.")
            return value
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"must be text in quotes, got {value!r}.")
        if self.kind == "choice" and value.strip() not in self.choices:
            raise ValueError(f"{value!r} is not allowed; use one of: {', '.join(self.choices)}.")
        return value.strip()

    def describe(self, value: PolicyValue) -> str:
        """A value with its unit: ``5 business days``, ``two_stage``."""
        if isinstance(value, bool):
            return "yes" if value else "no"
        if not self.unit:
            return str(value)
        unit = self.unit[:-1] if value == 1 and self.unit.endswith("s") else self.unit   # "1 business day"
        return f"{value} {unit}"


#: Policy parameters every procedure has (DESIGN.md §4; sampling.md §4.5; workflow.md §1.10).
COMMON_POLICY: tuple[PolicyParameter, ...] = (
    PolicyParameter(
        "min_sample_size",
        "The smallest sample the firm accepts for controls tested with this procedure (0: no minimum); a "
        "planned size below it is raised to it, and the sampling sheet says so.", 0, unit="items"),
    PolicyParameter(
        "extension",
        "What a deviation found in the sample leads to: none (it is reported and evaluated); two_stage (the "
        "sample is planned in two stages: n, then n more after exactly one deviation, the control accepted "
        "only if the second stage has none); extend (after a deviation the preparer judges isolated, the "
        "sample may be extended by extension_items and evaluated as one sample).",
        "none", kind="choice", choices=("none", "two_stage", "extend")),
    PolicyParameter(
        "extension_items",
        "Items an extension adds when extension = \"extend\" (0: as many again as the first sample).", 0,
        unit="items"),
)

#: Outcomes of an attribute for one item. A check or a tester records one of the first three;
#: the last two are derived: a prerequisite failed, or a manual attribute has no recorded result yet.
PASS = "pass"
FAIL = "fail"
NOT_APPLICABLE = "n/a"
NOT_PERFORMED = "not performed"
NOT_TESTED = "not tested"
CHECK_OUTCOMES: tuple[str, ...] = (PASS, FAIL, NOT_APPLICABLE)
#: The dtype of :attr:`AttributeCheck.outcome` (categorical, so a census over millions of rows stays small).
OUTCOME_DTYPE = pd.CategoricalDtype([PASS, FAIL, NOT_APPLICABLE, NOT_PERFORMED])

@dataclass(frozen=True, eq=False)
class RelatedFrame:
    """Another population a control names (a user listing, the HR roster, the change tickets), as checks see it.

    Attributes
    ----------
    name : str
        The population id.
    kind : str
    frame : pandas.DataFrame
        Every record received (canonical columns and ``source_row``).
    in_scope : numpy.ndarray of bool
        Records in the control's window by the kind's own date (every record for a listing).
    source : str
        The file, relative to the engagement folder.
    """

    name: str
    kind: str
    frame: pd.DataFrame
    in_scope: np.ndarray
    source: str

    @property
    def scoped(self) -> pd.DataFrame:
        """The records in the window."""
        return self.frame if self.in_scope.all() else self.frame[self.in_scope]


@dataclass(frozen=True, eq=False)
class CheckContext:
    """What an automated check may use besides the records it tests: the control's policy settings, the
    other populations it names, and the window.

    Attributes
    ----------
    policy : Mapping[str, PolicyValue]
        The control's policy settings (a window, an SLA), resolved: procedure default < engagement < control.
    related : tuple of RelatedFrame
        The control's other populations (its ``populations`` cell after the one tested).
    timezone : str
        The engagement's zone (for calendar and business days).
    window_start, window_end : pandas.Timestamp or None
        The window tested: [start, end), in the engagement's zone (None when unknown).
    population : RelatedFrame or None
        The tested population itself: every record received (``frame``) with the in-scope mask, for checks
        that need the records outside the window too (the whole HR roster when its terminations are tested).
        None when the caller did not give it.
    """

    policy: Mapping[str, PolicyValue] = field(default_factory=dict)
    related: tuple[RelatedFrame, ...] = ()
    timezone: str = "UTC"
    window_start: pd.Timestamp | None = None
    window_end: pd.Timestamp | None = None
    population: RelatedFrame | None = None

    def integer(self, name: str) -> int:
        """A whole-number policy setting."""
        value = self.policy.get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise KeyError(f"no whole-number policy setting {name!r} (settings: {', '.join(self.policy)})")
        return value

    def text(self, name: str) -> str:
        """A text or choice policy setting."""
        if name not in self.policy:
            raise KeyError(f"no policy setting {name!r} (settings: {', '.join(self.policy)})")
        return str(self.policy[name])

    def related_of(self, kind: str) -> tuple[RelatedFrame, ...]:
        """The related populations of a kind, in the order the control names them."""
        return tuple(r for r in self.related if r.kind == kind)


def local_days(values: pd.Series, timezone: str) -> NDArray[np.datetime64]:
    """Calendar days (``datetime64[D]``) of tz-aware timestamps in ``timezone`` (NaT stays NaT)."""
    if not pd.api.types.is_datetime64_any_dtype(values):
        values = pd.to_datetime(values, errors="coerce", utc=True)
    if getattr(values.dt, "tz", None) is None:
        local = values
    else:
        local = values.dt.tz_convert(timezone)
    return np.asarray(local.dt.tz_localize(None).dt.floor("D").to_numpy(dtype="datetime64[D]"))


def business_days_between(start: pd.Series, end: pd.Series, timezone: str) -> pd.Series:
    """Business days (Monday to Friday, no holidays) from the local day of ``start`` to that of ``end``:
    ``numpy.busday_count`` (0 for the same day, 1 for the next business day). Missing on either side: NA."""
    first, last = local_days(start, timezone), local_days(end, timezone)
    valid = ~(np.isnat(first) | np.isnat(last))
    counts = np.zeros(len(first), dtype=np.int64)
    if valid.any():
        counts[valid] = np.busday_count(first[valid], last[valid])
    return pd.Series(pd.array(np.where(valid, counts, 0), dtype="Int64"), index=start.index).mask(~valid)


#: The signature of an automated check: the canonical frame it tests and the :class:`CheckContext` in, a frame
#: with the same index and the columns ``outcome`` (pass | fail | n/a) and ``reason`` (why it failed or is n/a;
#: "" when it passed) out. An attribute computed over a related population (``over``) gets that population's
#: records in the window instead, and returns one row per record of it.
CheckFunction = Callable[[pd.DataFrame, CheckContext], pd.DataFrame]

#: The records of a related population an attribute ``over`` it is computed over, when not the records in the
#: window: the population's full frame (every record received) and the :class:`CheckContext` in, a boolean mask
#: over that frame out (e.g. the people on an HR roster employed at the end of the window, whom a training
#: control must cover, where the roster's own date, the termination date, would keep only the leavers).
RecordSelector = Callable[[pd.DataFrame, CheckContext], pd.Series]


@dataclass(frozen=True, eq=False)
class AttributeCheck:
    """One automated attribute evaluated over a frame, row by row.

    Attributes
    ----------
    attribute_id : str
    outcome : pandas.Series
        ``pass`` | ``fail`` | ``n/a`` per row (``not performed`` once dependencies are applied), indexed like
        the frame that was checked.
    reason : pandas.Series
        Why the row failed or is not applicable, e.g. ``"approved 2026-03-02 14:10 after deployment
        2026-03-01 09:00"``; empty for a pass.
    """

    attribute_id: str
    outcome: pd.Series
    reason: pd.Series

    @property
    def failed(self) -> pd.Series:
        """Boolean mask of the failing rows."""
        return self.outcome == FAIL

    def counts(self) -> dict[str, int]:
        """Number of rows per outcome, every outcome present (zero when none)."""
        values = self.outcome.value_counts()
        return {name: int(values.get(name, 0)) for name in (PASS, FAIL, NOT_APPLICABLE, NOT_PERFORMED)}

    def summary(self) -> str:
        """One line: the counts per outcome."""
        c = self.counts()
        return (f"{self.attribute_id}: {c[PASS]} pass, {c[FAIL]} fail, {c[NOT_APPLICABLE]} n/a, "
                f"{c[NOT_PERFORMED]} not performed")


@dataclass(frozen=True)
class Attribute:
    """One test attribute of a procedure.

    Parameters
    ----------
    id : str
        Stable identifier used in the control matrix, the results store and the workpaper,
        e.g. ``"approved_before_deployment"``.
    label : str
        Short column heading for the testing matrix, e.g. ``"Approved before deployment"``.
    description : str
        What the attribute tests, in the auditor's words.
    kind : {"automated", "manual"}
        ``automated``: computed from the population by ``check``; ``manual``: judged from evidence.
    pass_criterion : str
        When the attribute passes (and when it is not applicable), as text for the workpaper.
    deviation_wording : str
        The nature of a deviation as Section 4 states it after "For 2 of 25 sampled changes, ",
        e.g. ``"approval was not documented before deployment"``.
    objective : str
        What the test determines, as it follows "to determine that" in the test-performed text,
        e.g. ``"the change was approved before deployment"``.
    population_wording : str
        How a failing record is counted in the full-population sentence, after the count:
        ``"5 not approved before deployment"``. Automated attributes only; defaults to ``deviation_wording``.
    role : {"control", "accuracy"}
        ``accuracy``: a manual check that agrees a sampled item's data to the source system; its failure is
        a population finding, not a control deviation (see :data:`ACCURACY`).
    census_test : str
        Automated attributes: the full-population test in Section 4 words, completing "Compared ... for all
        1,500 production changes": e.g. ``"the approval time of each change with its deployment time"``.
    over : str
        Automated attributes computed over a *related* population instead of the tested one: its kind (e.g.
        the deployment-reconciliation attribute "every deployed change has a deployment" runs over the
        ``changes`` the control names). The check receives those records (in the window) and the tested
        records are in the context; its failures are exceptions counted over the related population.
    over_noun : str
        How the related records are named in the result ("changes deployed during the period").
    over_records : callable, optional
        Which records of the related population the attribute is computed over (see :data:`RecordSelector`);
        default the records in the window by the population's own date.
    depends_on : tuple of str
        Ids of attributes that must pass first; when one of them failed for an item this attribute is
        "not performed" for it.
    columns : tuple of str
        Canonical columns the check reads (automated attributes).
    check : callable, optional
        The vectorised check (automated attributes only); see :data:`CheckFunction`.
    relies_on : str
        Manual attributes only: the name of a text policy parameter listing controls (ids, or procedure names
        standing for every control tested with them) whose *recorded conclusions* decide this attribute
        instead of a tester's result (:mod:`workbench.reliance`): pass when every one is concluded effective,
        fail when one is not, not tested while one is not concluded yet. E.g. an automated control's reliance
        on the IT general controls.
    evidence_request : str
        Manual attributes: what the client is asked for in the request list (``workbench request-list``), e.g.
        ``"the committee's minutes for the meeting"``; default "evidence that <objective>".
    compared_date_column : str
        Manual attributes whose evidence is compared with a date of the item: the canonical column holding that
        date (``"deployed_at"`` for "testing evidenced before deployment"). A pass or a fail then needs an
        evidence date, and a pass whose evidence date is on the wrong side of the item's date is refused
        (:mod:`workbench.recording`).
    compared_date_relation : {"on_or_before", "on_or_after"}
        Where the evidence date must lie for a pass, relative to the item's ``compared_date_column`` (compared
        as calendar dates in the engagement's zone): ``on_or_before`` (tested before deployment) or
        ``on_or_after`` (a review after deployment).
    """

    id: str
    label: str
    description: str
    kind: str
    pass_criterion: str
    deviation_wording: str
    objective: str
    population_wording: str = ""
    role: str = CONTROL
    census_test: str = ""
    over: str = ""
    over_noun: str = ""
    over_records: RecordSelector | None = field(default=None, repr=False, compare=False)
    depends_on: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    check: CheckFunction | None = field(default=None, repr=False, compare=False)
    relies_on: str = ""
    evidence_request: str = ""
    compared_date_column: str = ""
    compared_date_relation: str = ON_OR_BEFORE

    def __post_init__(self) -> None:
        if not self.id or not self.id.replace("_", "").isalnum() or self.id != self.id.lower():
            raise ValueError(f"attribute id must be lower_snake_case, got {self.id!r}.")
        if self.kind not in (AUTOMATED, MANUAL):
            raise ValueError(f"attribute {self.id!r}: kind must be 'automated' or 'manual', got {self.kind!r}.")
        if self.kind == AUTOMATED and self.check is None:
            raise ValueError(f"attribute {self.id!r} is automated and needs a check function.")
        if self.kind == MANUAL and self.check is not None:
            raise ValueError(f"attribute {self.id!r} is manual and must not have a check function.")
        object.__setattr__(self, "depends_on", tuple(self.depends_on))
        object.__setattr__(self, "columns", tuple(self.columns))
        if not self.population_wording:
            object.__setattr__(self, "population_wording", self.deviation_wording)
        if self.id in self.depends_on:
            raise ValueError(f"attribute {self.id!r} cannot depend on itself.")
        if self.role not in (CONTROL, ACCURACY):
            raise ValueError(f"attribute {self.id!r}: role must be 'control' or 'accuracy', got {self.role!r}.")
        if self.role == ACCURACY and self.kind != MANUAL:
            raise ValueError(f"attribute {self.id!r}: an accuracy check is manual (agreed to source evidence).")
        if self.kind == AUTOMATED and not self.census_test:
            object.__setattr__(self, "census_test", self.objective)
        if self.over_records is not None and not self.over:
            raise ValueError(f"attribute {self.id!r}: over_records selects records of a related population; "
                             f"name its kind in over.")
        if self.relies_on and self.kind != MANUAL:
            raise ValueError(f"attribute {self.id!r}: an attribute decided by recorded conclusions (relies_on) is "
                             f"manual.")
        if self.compared_date_relation not in (ON_OR_BEFORE, ON_OR_AFTER):
            raise ValueError(f"attribute {self.id!r}: compared_date_relation must be {ON_OR_BEFORE!r} or "
                             f"{ON_OR_AFTER!r}, got {self.compared_date_relation!r}.")
        if self.compared_date_column and self.kind != MANUAL:
            raise ValueError(f"attribute {self.id!r}: compared_date_column compares a tester's evidence date with "
                             f"the item's; an automated attribute has no evidence date.")
        if not self.evidence_request and self.kind == MANUAL:
            object.__setattr__(self, "evidence_request", f"evidence that {self.objective}")

    @property
    def automated(self) -> bool:
        """Whether the attribute is computed from data."""
        return self.kind == AUTOMATED

    @property
    def accuracy(self) -> bool:
        """Whether the attribute agrees the item's data to the source (a failure is a population finding)."""
        return self.role == ACCURACY

    def run(self, frame: pd.DataFrame, context: CheckContext | None = None) -> AttributeCheck:
        """Evaluate the automated check over every row of ``frame`` (the tested records, or for an attribute
        ``over`` a related population, that population's records in the window).

        Raises
        ------
        PopulationError
            A column the check needs is missing from the frame.
        """
        if not self.automated:
            raise TypeError(f"attribute {self.id!r} is manual; its results come from the results store.")
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise PopulationError(
                f"attribute {self.id!r} needs the column(s) {', '.join(missing)} in the population; "
                f"map them in engagement.toml ([populations.<id>.columns]) or use a format that provides them."
            )
        result = self.check(frame, context or CheckContext())  # type: ignore[misc]
        raw = pd.Series(result["outcome"], index=frame.index)
        bad = ~raw.isin(CHECK_OUTCOMES)
        if bad.any():  # a bug in the check, not user input
            raise ValueError(f"check of {self.id!r} returned outcomes outside {CHECK_OUTCOMES}: "
                             f"{sorted(set(raw[bad].astype(str)))}")
        # categorical: one byte per row, fast comparisons over millions of records
        outcome = raw.astype(OUTCOME_DTYPE)
        reason = pd.Series(result["reason"], index=frame.index).astype(object).fillna("")
        reason = reason.where(outcome != PASS, "")
        return AttributeCheck(self.id, outcome, reason)

    def to_row(self) -> dict[str, str]:
        """The attribute as one row of the workpaper's attribute table."""
        return {
            "attribute": self.id,
            "label": self.label,
            "kind": self.kind,
            "description": self.description,
            "pass_criterion": self.pass_criterion,
            "deviation": self.deviation_wording,
            "depends_on": "; ".join(self.depends_on),
            "role": "accuracy (a failure is a population finding)" if self.accuracy else "control",
        }


@dataclass(frozen=True)
class Procedure:
    """A test procedure for one type of control, declared as data.

    Parameters
    ----------
    name : str
        Catalogue name (:data:`workbench.procedures.KNOWN_PROCEDURES`), e.g. ``"change_management"``.
    title : str
        e.g. ``"Change management"``.
    criteria : tuple of str
        The criteria this procedure usually addresses (the control matrix says which a control maps to).
    population_kind : str
        The canonical population kind sampled, e.g. ``"changes"``.
    key_column : str
        The canonical column identifying an item, e.g. ``"change_id"``.
    date_column : str
        The canonical date that places an item in the period, e.g. ``"deployed_at"``.
    item_noun, item_noun_plural : str
        How Section 4 names one item and several in result sentences ("change", "changes").
    item_description, item_description_plural : str
        How the test-performed text names the items ("production change", "production changes").
    occurred : str
        The verb of ``date_column`` in the past tense, e.g. ``"deployed"``.
    inspection : str
        The method and object of the test, e.g. ``"Inspected the change ticket for"``.
    attributes : tuple of Attribute
        In testing-matrix order. Ids unique; ``depends_on`` refers to earlier attributes.
    description : str
        A paragraph for the workpaper's procedures block.
    matrix_columns : tuple of str
        Population columns shown beside the key and date in the testing matrix, so that a reviewer sees
        the data an automated attribute was computed from (e.g. created_at, approved_at, author, approver).
    policy : tuple of PolicyParameter
        The procedure's own policy settings (windows, SLAs), besides :data:`COMMON_POLICY`.
    record_filter : str
        The records the procedure tests by default (``change_type = emergency``); "" for all. A control
        matrix's ``Record filter`` cell overrides it.
    derived_occurrences : str
        For a procedure of population kind ``occurrences`` (no client export): how the occurrences are derived
        when engagement.toml does not list them: ``frequency`` (one per interval of the control's frequency
        over the period) or ``period_end`` (one: the configuration as of the period end).
    sample_basis : str
        When set, every item in scope is tested (no sample is drawn) and this says why on the sampling sheet
        (an automated control: one instance of the configuration, with reliance on the IT general controls).
    sample_per_record : bool
        The population's records are what a periodic control acts on, many per occurrence (each person's
        annual training, each privileged account): the sample is sized over the records as for a
        transaction-driven control, never from the frequency table (which sizes occurrences: "annual" -> 1).
    source : str
        A firm procedure: the TOML file it was read from (relative to the engagement folder, or the library's
        path); "" for the package's own.
    source_sha256 : str
        A firm procedure: the SHA-256 of that file (part of the inputs fingerprint).
    """

    name: str
    title: str
    criteria: tuple[str, ...]
    population_kind: str
    key_column: str
    date_column: str
    item_noun: str
    item_noun_plural: str
    item_description: str
    item_description_plural: str
    occurred: str
    inspection: str
    attributes: tuple[Attribute, ...]
    description: str = ""
    matrix_columns: tuple[str, ...] = ()
    policy: tuple[PolicyParameter, ...] = ()
    record_filter: str = ""
    derived_occurrences: str = "frequency"
    sample_basis: str = ""
    sample_per_record: bool = False
    source: str = ""
    source_sha256: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "policy", tuple(self.policy))
        if self.derived_occurrences not in ("frequency", "period_end"):
            raise ValueError(f"procedure {self.name!r}: derived_occurrences must be 'frequency' or 'period_end', got "
                             f"{self.derived_occurrences!r}.")
        names = [p.name for p in self.policy_parameters]
        if len(names) != len(set(names)):
            raise ValueError(f"procedure {self.name!r}: a policy parameter is declared twice: {names}.")
        object.__setattr__(self, "attributes", tuple(self.attributes))
        object.__setattr__(self, "matrix_columns", tuple(self.matrix_columns))
        object.__setattr__(self, "criteria", tuple(self.criteria))
        if not self.attributes:
            raise ValueError(f"procedure {self.name!r} needs at least one attribute.")
        seen: set[str] = set()
        for attribute in self.attributes:
            if attribute.id in seen:
                raise ValueError(f"procedure {self.name!r}: attribute id {attribute.id!r} appears twice.")
            for prerequisite in attribute.depends_on:
                if prerequisite not in seen:
                    raise ValueError(
                        f"procedure {self.name!r}: attribute {attribute.id!r} depends on {prerequisite!r}, "
                        f"which must be an attribute listed before it."
                    )
            if attribute.relies_on and attribute.relies_on not in names:
                raise ValueError(f"procedure {self.name!r}: attribute {attribute.id!r} relies on the controls named by "
                                 f"policy setting {attribute.relies_on!r}, which the procedure does not declare.")
            seen.add(attribute.id)

    # -- lookups ----------------------------------------------------------------------------------
    @property
    def attribute_ids(self) -> tuple[str, ...]:
        """All attribute ids in matrix order."""
        return tuple(a.id for a in self.attributes)

    @property
    def policy_parameters(self) -> tuple[PolicyParameter, ...]:
        """:data:`COMMON_POLICY` and the procedure's own parameters."""
        return COMMON_POLICY + self.policy

    def policy_parameter(self, name: str) -> PolicyParameter | None:
        """The policy parameter called ``name``, or None."""
        return next((p for p in self.policy_parameters if p.name == name), None)

    def attribute(self, attribute_id: str) -> Attribute:
        """The attribute with this id.

        Raises
        ------
        EngagementError
            No attribute has this id; the message lists the procedure's attribute ids.
        """
        for attribute in self.attributes:
            if attribute.id == attribute_id:
                return attribute
        raise EngagementError(
            f"attribute {attribute_id!r} is not an attribute of procedure {self.name!r}; "
            f"use one of: {', '.join(self.attribute_ids)} (control matrix column 'attributes')."
        )

    def select_attributes(self, ids: Iterable[str] | None = None) -> tuple[Attribute, ...]:
        """The attributes a control tests: ``ids`` (blank = all), in the procedure's order.

        A prerequisite of a selected attribute is not added silently: the dependency only applies
        when the prerequisite is tested too.

        Raises
        ------
        EngagementError
            An id that is not one of this procedure's attributes.
        """
        wanted = [i for i in (ids or ()) if i]
        if not wanted:
            return self.attributes
        for attribute_id in wanted:
            self.attribute(attribute_id)  # raises for the first unknown id
        wanted_ids = set(wanted)
        if any(self.attribute(i).automated for i in wanted_ids):
            # the sampled items are agreed to source whenever the full-population analysis relies on the data
            wanted_ids |= {a.id for a in self.attributes if a.accuracy}
        return tuple(a for a in self.attributes if a.id in wanted_ids)

    def _chosen(self, attributes: Sequence[Attribute] | None) -> tuple[Attribute, ...]:
        """``attributes`` as a tuple; all of the procedure's when None."""
        return tuple(attributes) if attributes is not None else self.attributes

    @property
    def required_columns(self) -> tuple[str, ...]:
        """The key, the date and every column an automated attribute reads."""
        columns = [self.key_column, self.date_column]
        for attribute in self.attributes:
            columns.extend(c for c in attribute.columns if c not in columns)
        return tuple(columns)

    # -- checks -----------------------------------------------------------------------------------
    def run_checks(self, frame: pd.DataFrame, attributes: Sequence[Attribute] | None = None,
                   context: CheckContext | None = None) -> dict[str, AttributeCheck]:
        """Run the automated attributes over every row of ``frame``, dependencies applied (attributes computed
        over a related population are run by :meth:`run_related_checks`).

        Returns
        -------
        dict
            attribute id -> :class:`AttributeCheck`, in matrix order, automated attributes only. A row whose
            prerequisite failed reads ``not performed`` with the prerequisite named as the reason.
        """
        chosen = self._chosen(attributes)
        checks: dict[str, AttributeCheck] = {}
        for attribute in chosen:
            if not attribute.automated or attribute.over:
                continue
            check = attribute.run(frame, context)
            blocked = pd.Series(False, index=frame.index)
            blocker = pd.Series("", index=frame.index, dtype=object)
            for prerequisite in attribute.depends_on:
                if prerequisite in checks:  # an automated prerequisite that is tested too
                    failed = checks[prerequisite].failed & ~blocked
                    blocker = blocker.mask(failed, f"prerequisite {prerequisite} failed")
                    blocked = blocked | failed
            if blocked.any():
                check = AttributeCheck(attribute.id, check.outcome.mask(blocked, NOT_PERFORMED),
                                       check.reason.mask(blocked, blocker))
            checks[attribute.id] = check
        return checks

    def run_related_checks(self, frame: pd.DataFrame, attributes: Sequence[Attribute] | None,
                           context: CheckContext) -> dict[str, tuple[pd.DataFrame, AttributeCheck]]:
        """Run the attributes computed over a related population: attribute id -> (that population's records in
        the window, their check). The tested records are ``context``'s ``tested`` frame."""
        out: dict[str, tuple[pd.DataFrame, AttributeCheck]] = {}
        for attribute in self._chosen(attributes):
            if not attribute.automated or not attribute.over:
                continue
            related = context.related_of(attribute.over)
            if not related:
                raise PopulationError(
                    f"attribute {attribute.id!r} is computed over the {attribute.over} population, and the control "
                    f"names none: add one to its populations column in the control matrix.")
            tested = CheckContext(policy=context.policy, related=context.related + (
                RelatedFrame("(tested)", "tested", frame, np.ones(len(frame), dtype=bool), ""),),
                timezone=context.timezone, window_start=context.window_start, window_end=context.window_end,
                population=context.population)
            if attribute.over_records is not None:
                select = attribute.over_records
                parts = [r.frame[np.asarray(select(r.frame, tested), dtype=bool)] for r in related]
            else:
                parts = [r.scoped for r in related]
            records = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
            out[attribute.id] = (records, attribute.run(records, tested))
        return out

    # -- wording ----------------------------------------------------------------------------------
    def objectives_text(self, attributes: Sequence[Attribute] | None = None) -> str:
        """The objectives joined for "to determine that ...": "a, b and c"."""
        chosen = self._chosen(attributes)
        return _join([a.objective for a in chosen])

    def test_performed(self, *, extent: str, attributes: Sequence[Attribute] | None = None,
                       population_count: int | None = None) -> str:
        """Section 4 wording of the test (workflow.md §1.14).

        Parameters
        ----------
        extent : str
            The items inspected, e.g. ``"a sample of 25 production changes deployed during the period"``.
        attributes : sequence of Attribute, optional
            The attributes the control tests (default all).
        population_count : int, optional
            When given and an automated attribute is tested, a second sentence states the
            full-population analysis.

        Examples
        --------
        "Inspected the change ticket for a sample of 25 production changes deployed during the period to
        determine that the change was documented before deployment and the change was approved before
        deployment."
        """
        chosen = self._chosen(attributes)
        text = f"{self.inspection} {extent} to determine that {self.objectives_text(chosen)}."
        automated = [a for a in chosen if a.automated]
        if population_count and automated:
            noun = self.item_noun if population_count == 1 else self.item_noun_plural
            word = "attribute" if len(automated) == 1 else "attributes"
            text += (f" Recomputed the {word} {_join([a.label[0].lower() + a.label[1:] for a in automated])} "
                     f"for all {population_count:,} {noun} in scope (full-population analysis).")
        return text

    def attribute_table(self, attributes: Sequence[Attribute] | None = None) -> pd.DataFrame:
        """The attributes as a tidy table (one row each) for the workpaper's procedures block."""
        chosen = self._chosen(attributes)
        return pd.DataFrame([a.to_row() for a in chosen],
                            columns=["attribute", "label", "kind", "description", "pass_criterion",
                                     "deviation", "depends_on", "role"])

    def summary(self) -> str:
        """The procedure in a few lines: name, population, attributes."""
        lines = [f"{self.title} ({self.name}; {', '.join(self.criteria)}): population kind "
                 f"{self.population_kind!r}, key {self.key_column!r}, dated by {self.date_column!r}."]
        for a in self.attributes:
            dep = f" (after {', '.join(a.depends_on)})" if a.depends_on else ""
            lines.append(f"  - {a.id} [{a.kind}]{dep}: {a.pass_criterion}")
        return "\n".join(lines)


def _join(parts: Sequence[str]) -> str:
    """English list: "a", "a and b", "a, b and c"."""
    parts = [p for p in parts if p]
    if len(parts) <= 1:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} and {parts[-1]}"


def format_timestamps(values: pd.Series) -> pd.Series:
    """Timestamps as ``YYYY-MM-DD HH:MM`` strings (missing -> ``""``), vectorised, for failure reasons."""
    if not pd.api.types.is_datetime64_any_dtype(values):
        values = pd.to_datetime(values, errors="coerce")
    text: pd.Series = values.dt.strftime("%Y-%m-%d %H:%M").astype(object)
    return text.where(values.notna(), "")


def blank(values: pd.Series) -> pd.Series:
    """Boolean mask of missing or whitespace-only text values."""
    stripped = normalised_text(values)
    return (stripped.isna() | (stripped == "")).astype(bool)


def normalised_text(values: pd.Series, *, casefold: bool = False) -> pd.Series:
    """Text with surrounding whitespace removed (optionally case-folded), vectorised; missing stays missing."""
    text = values if isinstance(values.dtype, pd.StringDtype) else values.astype("str")
    text = text.where(values.notna()).str.strip()
    return text.str.lower() if casefold else text


def outcome_frame(index: pd.Index, *, fail: pd.Series, fail_reason: pd.Series,
                  not_applicable: pd.Series | None = None, na_reason: str | pd.Series = "") -> pd.DataFrame:
    """Assemble a check result: ``fail`` rows fail with their reason, ``not_applicable`` rows are n/a."""
    codes = np.zeros(len(index), dtype=np.int8)  # 0 = pass, 1 = fail, 2 = n/a (OUTCOME_DTYPE order)
    reason = np.full(len(index), "", dtype=object)
    fail_mask = fail.to_numpy(dtype=bool)
    codes[fail_mask] = 1
    reason[fail_mask] = fail_reason.astype(object).to_numpy()[fail_mask]
    if not_applicable is not None:
        na_mask = not_applicable.to_numpy(dtype=bool)
        codes[na_mask] = 2
        if isinstance(na_reason, pd.Series):
            reason[na_mask] = na_reason.astype(object).to_numpy()[na_mask]
        else:
            reason[na_mask] = na_reason
    outcome = pd.Categorical.from_codes(codes, dtype=OUTCOME_DTYPE)
    return pd.DataFrame({"outcome": outcome, "reason": pd.Series(reason, index=index, dtype=object)}, index=index)
