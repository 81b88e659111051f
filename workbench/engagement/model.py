"""The engagement model: the frozen, validated objects an engagement folder is loaded into.

Nothing here reads a file (:mod:`workbench.engagement.toml` reads ``engagement.toml``,
:mod:`workbench.engagement.matrix` the control matrix); these are the values every stage reads.

Public API::

    Engagement, SamplingPolicy, StaffMember, SubserviceOrganization, CUEC, PopulationSource, Control,
    FrozenMapping, and the vocabularies (REPORT_TYPES, STAFF_ROLES, POPULATION_KINDS, FREQUENCIES, ...)
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Mapping, TypeVar

from sampling import DEFAULT_FREQUENCY_TABLE as SAMPLING_FREQUENCY_TABLE
from sampling import MODELS, format_percent
from sampling import SELECTION_METHODS as METHODS
from workbench.engagement.criteria import CATEGORY_LABELS, criteria_for
from workbench.engagement.problems import did_you_mean
from workbench.engagement.record_filter import RecordFilter
from workbench.procedures.base import PolicyValue
from workbench.errors import EngagementError
from workbench.display import SummaryText, escape, html_badge, html_card, html_details, html_table, STATUS_COLOURS

if TYPE_CHECKING:
    import pandas as pd

    from workbench.procedures.base import Procedure

__all__ = [
    "Engagement",
    "SamplingPolicy",
    "StaffMember",
    "SubserviceOrganization",
    "CUEC",
    "PopulationSource",
    "Occurrence",
    "OCCURRENCE_SOURCES",
    "occurrences_population_id",
    "Control",
    "Round",
    "PolicyValue",
    "FrozenMapping",
    "ENGAGEMENT_FILE",
    "RESULTS_FILE",
    "REPORT_TYPES",
    "SAMPLING_MODELS",
    "SELECTION_METHODS",
    "STAFF_ROLES",
    "SUBSERVICE_METHODS",
    "POPULATION_KINDS",
    "POPULATION_FORMATS",
    "HISTORY_MODES",
    "DEFAULT_FREQUENCY_TABLE",
    "MATRIX_FILES",
    "MATRIX_SHEET",
    "FREQUENCIES",
    "NATURES",
    "MATRIX_COLUMNS",
    "REQUIRED_MATRIX_COLUMNS",
]

K = TypeVar("K")
V = TypeVar("V")


class FrozenMapping(Mapping[K, V]):
    """A read-only, hashable, picklable mapping (insertion order kept).

    Used for :attr:`Engagement.populations`, :attr:`SamplingPolicy.frequency_table`,
    :attr:`PopulationSource.columns` and :attr:`Control.extra`: they read like a ``dict``
    (``[key]``, ``get``, ``items``, ``in``, ``dict(m)``) but cannot be changed, so a frozen
    :class:`Engagement` is frozen all the way down (and still pickles).
    """

    __slots__ = ("_data",)
    _data: dict[K, V]

    def __init__(self, data: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        object.__setattr__(self, "_data", dict(data))

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(tuple(self._data.items()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("FrozenMapping is read-only")

    def __repr__(self) -> str:
        return f"FrozenMapping({self._data!r})"

    def __reduce__(self) -> tuple[type[FrozenMapping[K, V]], tuple[dict[K, V]]]:
        return (FrozenMapping, (self._data,))


#: The engagement file and the results store inside an engagement folder.
ENGAGEMENT_FILE = "engagement.toml"
RESULTS_FILE = "results.sqlite"

REPORT_TYPES: tuple[str, ...] = ("type1", "type2")
#: The sampling package's models and selection methods (one list each, owned by ``sampling``).
SAMPLING_MODELS: tuple[str, ...] = tuple(MODELS)
SELECTION_METHODS: tuple[str, ...] = tuple(METHODS)
STAFF_ROLES: tuple[str, ...] = ("preparer", "reviewer", "manager", "partner")
SUBSERVICE_METHODS: tuple[str, ...] = ("carve-out", "inclusive")
POPULATION_KINDS: tuple[str, ...] = (
    "changes", "deployments", "incidents", "tickets", "users", "access_requests", "terminations",
    "access_reviews", "backups", "vendors", "training",
)
POPULATION_FORMATS: tuple[str, ...] = (
    "auto", "generic", "jira", "servicenow", "github", "aws-iam", "okta", "entra",
)
#: ``history`` of a population: every row a record, or the latest state of each record (an event log).
HISTORY_MODES: tuple[str, ...] = ("all", "latest")

#: The default non-statistical sizes per control frequency: ``sampling.DEFAULT_FREQUENCY_TABLE``
#: (annual 1, quarterly 2, monthly 2, weekly 5, daily 25, many_times_a_day 40; DESIGN.md §4).
DEFAULT_FREQUENCY_TABLE: Mapping[str, int] = FrozenMapping(SAMPLING_FREQUENCY_TABLE)

MATRIX_FILES: tuple[str, ...] = ("controls.xlsx", "controls.csv")
#: The sheet of controls.xlsx that holds the matrix (the first sheet is used when there is only one).
MATRIX_SHEET = "Controls"
#: Control frequencies; all but ``as_needed`` have a size in the frequency table.
FREQUENCIES: tuple[str, ...] = (
    "annual", "quarterly", "monthly", "weekly", "daily", "many_times_a_day", "as_needed",
)
NATURES: tuple[str, ...] = ("manual", "automated")
#: Control-matrix columns (canonical names), in the order a matrix usually has them.
MATRIX_COLUMNS: tuple[str, ...] = (
    "control_id", "description", "criteria", "owner", "frequency", "nature", "procedure",
    "populations", "attributes", "record_filter", "shared_sample", "manual_attributes",
)
#: Columns that must be present (``procedure`` may be blank in a row: the control is not yet tested).
REQUIRED_MATRIX_COLUMNS: tuple[str, ...] = (
    "control_id", "description", "criteria", "frequency", "nature", "procedure",
)


@dataclass(frozen=True)
class SamplingPolicy:
    """The firm's sampling policy for the engagement (``[sampling]`` of engagement.toml).

    Attributes
    ----------
    model : str
        ``"binomial"`` (default; the AICPA *Audit Sampling* tables), ``"hypergeometric"`` or ``"poisson"``.
    confidence : Decimal
        Confidence level, 1 − risk of overreliance, in (0, 1), e.g. ``Decimal("0.90")``.
    tolerable_rate : Decimal
        Tolerable deviation rate in (0, 1).
    expected_rate : Decimal
        Expected deviation rate in [0, tolerable_rate); default 0.
    method : str
        Selection method: ``"random"``, ``"systematic"`` or ``"stratified"`` (default stratified for a
        Type 2, random for a Type 1).
    frequency_table : Mapping[str, int]
        Non-statistical sample size per control frequency (annual … many_times_a_day), for periodic
        manual controls. Keys missing from engagement.toml take :data:`DEFAULT_FREQUENCY_TABLE`'s size.
    """

    model: str
    confidence: Decimal
    tolerable_rate: Decimal
    expected_rate: Decimal
    method: str
    frequency_table: Mapping[str, int] = DEFAULT_FREQUENCY_TABLE

    def to_table(self) -> list[tuple[str, str]]:
        """(label, value) rows for a workpaper."""
        return [
            ("Sampling model", self.model),
            ("Confidence level", format_percent(self.confidence)),
            ("Tolerable deviation rate", format_percent(self.tolerable_rate)),
            ("Expected deviation rate", format_percent(self.expected_rate)),
            ("Selection method", self.method),
            ("Frequency table (non-statistical sizes)",
             ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in self.frequency_table.items())),
        ]

    def summary(self) -> str:
        """One line for people."""
        return (f"{self.model} model, confidence {format_percent(self.confidence)}, tolerable rate "
                f"{format_percent(self.tolerable_rate)}, expected rate {format_percent(self.expected_rate)}, "
                f"{self.method} selection; frequency table "
                + ", ".join(f"{k} {v}" for k, v in self.frequency_table.items()))


@dataclass(frozen=True)
class StaffMember:
    """A person on the engagement team (``[[staff]]``).

    Attributes
    ----------
    name : str
    initials : str
        Unique within the engagement; what a sign-off shows.
    role : str
        ``"preparer"``, ``"reviewer"``, ``"manager"`` or ``"partner"``.
    """

    name: str
    initials: str
    role: str

    def summary(self) -> str:
        return f"{self.name} ({self.initials}, {self.role})"


@dataclass(frozen=True)
class SubserviceOrganization:
    """A subservice organization (``[[subservice_organizations]]``; workflow.md §1.12).

    Attributes
    ----------
    name : str
    services : str or None
        What it provides (e.g. cloud infrastructure hosting).
    method : str
        ``"carve-out"`` (its controls excluded; the CSOCs are the controls assumed of it) or ``"inclusive"``.
    csocs : tuple of str
        Complementary subservice organization controls.
    criteria : tuple of str
        Criterion ids the CSOCs address (each in scope): a criterion no control of the matrix addresses is
        pointed to them in the summary's Section 4 sheet rather than flagged as uncovered.
    """

    name: str
    services: str | None
    method: str
    csocs: tuple[str, ...] = ()
    criteria: tuple[str, ...] = ()

    def summary(self) -> str:
        services = f", {self.services}" if self.services else ""
        return f"{self.name} ({self.method}{services}; {len(self.csocs)} CSOC(s))"


@dataclass(frozen=True)
class CUEC:
    """A complementary user entity control (``[[cuecs]]``).

    Attributes
    ----------
    id : str
    description : str
    criteria : tuple of str
        Criterion ids it relates to (canonical spelling; each in scope).
    """

    id: str
    description: str
    criteria: tuple[str, ...] = ()

    def summary(self) -> str:
        crit = f" [{'; '.join(self.criteria)}]" if self.criteria else ""
        return f"{self.id}{crit}: {self.description}"


#: How the occurrences of a control without a client export are known (a population of kind ``occurrences``,
#: no file): its ``derived`` value -> how the workpaper's Population sheet names the source.
OCCURRENCE_SOURCES: Mapping[str, str] = FrozenMapping({
    "frequency": "derived from the frequency over the period",
    "period_end": "derived: one instance, the configuration as of the end of the period",
    "listed": "listed in engagement.toml",
})


def occurrences_population_id(control_id: str) -> str:
    """The id of the derived population of a control with no client export: ``<control id>-occurrences``."""
    return f"{control_id}-occurrences"


@dataclass(frozen=True)
class Occurrence:
    """An occurrence of a control the tester lists in engagement.toml (``[[controls.<id>.occurrences]]``).

    Attributes
    ----------
    id : str
        The occurrence's key (the DR test ``DR-2026-03``, the meeting ``2025-Q3``).
    date : datetime.date
        The day it was performed (or was due).
    description : str or None
    """

    id: str
    date: date
    description: str | None = None


@dataclass(frozen=True)
class PopulationSource:
    """One client population file as declared in ``[populations.<id>]`` (not yet read), or the occurrences of a
    control with no client export (``derived`` set: no file; see :data:`OCCURRENCE_SOURCES`).

    Attributes
    ----------
    id : str
        The table name; what the control matrix's ``populations`` column refers to.
    file : str
        The path as written, relative to the engagement folder, with ``/`` separators
        (``populations/jira_changes_FY26.csv``); what a workpaper shows.
    path : pathlib.Path
        The absolute path of the file (checked to exist when the engagement was loaded).
    kind : str
        One of :data:`POPULATION_KINDS`.
    format : str
        One of :data:`POPULATION_FORMATS` (default ``"auto"``).
    stated_count : int or None
        The record count the client stated, for the completeness check: a file that holds another count
        is an error for the controls that use it, unless ``stated_count_note`` explains the difference.
    stated_count_note : str or None
        Why the file's count may differ from ``stated_count`` (e.g. "the client's count includes 12 drafts
        the export leaves out"); the difference is then a warning that quotes the note.
    system, provided_by, request, query : str or None
        Source system, who provided it, PBC request id, and the query or report that produced it.
    received : datetime.date or None
        When it was received.
    columns : Mapping[str, str]
        Column map: canonical column name -> header in the file (for the generic format).
    derived : str or None
        None for a client file. For the occurrences of a control with no client export (kind ``occurrences``):
        ``frequency`` (one per interval of its frequency over the period), ``period_end`` (one: the
        configuration as of the period end) or ``listed`` (``occurrences`` from engagement.toml). Such a
        population has no file: ``file`` says where it comes from, ``path`` is engagement.toml.
    control_id : str or None
        The control whose occurrences these are (derived populations).
    occurrences : tuple of Occurrence
        The occurrences listed in engagement.toml (``derived == "listed"``).
    history : str
        ``"all"`` (default: every row is a record) or ``"latest"`` (an event log or audit trail, one row per
        update: the latest state of each record is tested, by its modification counter or update time, and
        the earlier states are kept for the workpaper).
    records : str or None
        A JSON document holding several arrays: the key (or dotted path) of the array of records.
    """

    id: str
    file: str
    path: Path
    kind: str
    format: str = "auto"
    stated_count: int | None = None
    system: str | None = None
    provided_by: str | None = None
    received: date | None = None
    request: str | None = None
    query: str | None = None
    columns: Mapping[str, str] = field(default_factory=FrozenMapping)
    derived: str | None = None
    control_id: str | None = None
    occurrences: tuple[Occurrence, ...] = ()
    stated_count_note: str | None = None
    history: str = "all"
    records: str | None = None

    def to_table(self) -> list[tuple[str, str]]:
        """(label, value) rows for a workpaper's population block."""
        def text(value: object) -> str:
            return "" if value is None else str(value)
        if self.derived is not None:
            return [("Population", self.id), ("Source", OCCURRENCE_SOURCES.get(self.derived, self.derived)),
                    ("Kind", self.kind), ("Control", text(self.control_id))]
        return [
            ("Population", self.id),
            ("Source file", self.file),
            ("Kind", self.kind),
            ("Format", self.format),
            ("Record count stated by the client", "" if self.stated_count is None else f"{self.stated_count:,}"),
            ("Source system", text(self.system)),
            ("Provided by", text(self.provided_by)),
            ("Received", text(self.received)),
            ("PBC request", text(self.request)),
            ("Query / report", text(self.query)),
        ]

    def summary(self) -> str:
        if self.derived is not None:
            return f"{self.id}: {OCCURRENCE_SOURCES.get(self.derived, self.derived)} ({self.kind} of {self.control_id})"
        stated = "" if self.stated_count is None else f", stated {self.stated_count:,} records"
        return f"{self.id}: {self.file} ({self.kind}, format {self.format}{stated})"


@dataclass(frozen=True)
class Round:
    """A testing round (``[[rounds]]``): its part of the period and the population files delivered for it.

    An interim round and a roll-forward round each get their own selection over their part of the period;
    the rounds together cover the period with no gap or overlap. A population named by no round belongs
    to every round (a listing as of a date, say); one named by a round belongs to that round only.

    Attributes
    ----------
    name : str
    start, end : datetime.date
        Both included.
    populations : tuple of str
        Population ids delivered for the round.
    """

    name: str
    start: date
    end: date
    populations: tuple[str, ...] = ()

    @property
    def days(self) -> int:
        """Calendar days in the round (both ends included)."""
        return (self.end - self.start).days + 1

    def summary(self) -> str:
        listed = f"; populations {', '.join(self.populations)}" if self.populations else ""
        return f"round {self.name}: {self.start.isoformat()} to {self.end.isoformat()} ({self.days} days{listed})"


@dataclass(frozen=True)
class Engagement(SummaryText):
    """A loaded, validated engagement folder. Build it with :func:`load_engagement`.

    Attributes
    ----------
    folder : pathlib.Path
        The engagement folder (absolute).
    client, engagement_id : str
        The service organization; the stable id that is part of every workpaper reference.
    report_type : str
        ``"type1"`` or ``"type2"``.
    period_start, period_end : datetime.date or None
        The examination period (Type 2; both ends included); ``None`` for a Type 1.
    as_of : datetime.date or None
        The as-of date (Type 1); ``None`` for a Type 2.
    timezone : str
        IANA zone name; the zone of export timestamps that carry no offset (see :attr:`zone`).
    criteria : tuple of str
        Categories in scope, in TSP 100 order; always includes ``"security"``.
    firm : str or None
    sampling : SamplingPolicy
    staff : tuple of StaffMember
    subservice_organizations : tuple of SubserviceOrganization
    cuecs : tuple of CUEC
    populations : Mapping[str, PopulationSource]
        By population id, in the order of engagement.toml.
    controls : tuple of Control
        In control-matrix order.
    matrix_file : str
        The control matrix's file name (``controls.xlsx`` or ``controls.csv``).
    engagement_sha256, matrix_sha256 : str
        SHA-256 of engagement.toml and of the control matrix as read (for the run manifest).
    notes : tuple of str
        Defaults applied and other things a reviewer should know (no silent adjustments).
    policies : Mapping[str, Mapping[str, PolicyValue]]
        ``[policy.<procedure>]``: procedure name -> policy parameter -> value the engagement sets.
    control_policies : Mapping[str, Mapping[str, PolicyValue]]
        ``[controls.<id>.policy]``: control id -> policy parameter -> value for that control.
    rounds : tuple of Round
        ``[[rounds]]`` in date order; empty when the period is tested in one round (see :meth:`test_rounds`).
    procedures : Mapping[str, Procedure]
        The firm's procedures (TOML files in the engagement's ``procedures/`` folder or the firm library named
        by ``[engagement] procedure_library``), by name; the built-in catalogue is
        :data:`workbench.procedures.KNOWN_PROCEDURES`. Resolve a control's procedure with
        :func:`workbench.library.procedure_of`.
    procedure_library : pathlib.Path or None
        The firm library folder (``[engagement] procedure_library``), when named.
    derived_populations : Mapping[str, PopulationSource]
        The occurrences of each control tested with a procedure of kind ``occurrences`` (no client file),
        by population id (``<control id>-occurrences``); :meth:`population` finds them too.
    """

    folder: Path
    client: str
    engagement_id: str
    report_type: str
    period_start: date | None
    period_end: date | None
    as_of: date | None
    timezone: str
    criteria: tuple[str, ...]
    firm: str | None
    sampling: SamplingPolicy
    staff: tuple[StaffMember, ...]
    subservice_organizations: tuple[SubserviceOrganization, ...]
    cuecs: tuple[CUEC, ...]
    populations: Mapping[str, PopulationSource]
    controls: tuple[Control, ...]
    matrix_file: str
    engagement_sha256: str
    matrix_sha256: str
    notes: tuple[str, ...] = ()
    policies: Mapping[str, Mapping[str, PolicyValue]] = field(default_factory=FrozenMapping)
    control_policies: Mapping[str, Mapping[str, PolicyValue]] = field(default_factory=FrozenMapping)
    rounds: tuple[Round, ...] = ()
    procedures: Mapping[str, Procedure] = field(default_factory=FrozenMapping)
    procedure_library: Path | None = None
    derived_populations: Mapping[str, PopulationSource] = field(default_factory=FrozenMapping)

    # ---- look-ups ----------------------------------------------------------------------------
    def control(self, control_id: str) -> Control:
        """Return the control with this id.

        Raises
        ------
        EngagementError
            If there is no such control; the message lists the valid ids.
        """
        for control in self.controls:
            if control.id == control_id:
                return control
        ids = [c.id for c in self.controls]
        hint = did_you_mean(str(control_id), ids)
        raise EngagementError(
            f"{self.folder.name}/{self.matrix_file}: no control {control_id!r}.{hint} "
            f"Valid control ids: {', '.join(ids) or '(none)'}."
        )

    def population(self, population_id: str) -> PopulationSource:
        """Return the population source declared as ``[populations.<population_id>]``.

        Raises
        ------
        EngagementError
            If there is no such population; the message lists the defined ids.
        """
        if population_id in self.derived_populations:
            return self.derived_populations[population_id]
        try:
            return self.populations[population_id]
        except KeyError:
            hint = did_you_mean(str(population_id), list(self.populations))
            raise EngagementError(
                f"{self.folder.name}/{ENGAGEMENT_FILE}: no population {population_id!r}.{hint} "
                f"Defined populations: {', '.join(self.populations) or '(none)'}."
            ) from None

    # ---- derived -----------------------------------------------------------------------------
    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The engagement's time zone as a :class:`zoneinfo.ZoneInfo`."""
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def in_scope_criteria(self) -> tuple[str, ...]:
        """Every criterion id of the categories in scope, in TSP 100 order."""
        return criteria_for(self.criteria)

    @property
    def period_label(self) -> str:
        """``"2025-07-01 to 2026-06-30"`` (Type 2) or ``"as of 2026-06-30"`` (Type 1)."""
        if self.period_start is not None and self.period_end is not None:
            return f"{self.period_start.isoformat()} to {self.period_end.isoformat()}"
        return f"as of {self.as_of.isoformat() if self.as_of is not None else '(no date)'}"

    @property
    def report_label(self) -> str:
        """``"SOC 2 Type 2"`` or ``"SOC 2 Type 1"``."""
        return "SOC 2 Type 2" if self.report_type == "type2" else "SOC 2 Type 1"

    @property
    def results_path(self) -> Path:
        """Where the results store lives: ``<folder>/results.sqlite``."""
        return self.folder / RESULTS_FILE

    @property
    def output_dir(self) -> Path:
        """The default output folder: ``<folder>/output``."""
        return self.folder / "output"

    def test_rounds(self) -> tuple[Round, ...]:
        """The rounds a control is tested in: the declared ``[[rounds]]``, else one round over the period
        (Type 2, named ``period``) or ending on the as-of date (Type 1, named ``as of``)."""
        if self.rounds:
            return self.rounds
        if self.period_start is not None and self.period_end is not None:
            return (Round("period", self.period_start, self.period_end),)
        as_of = self.as_of if self.as_of is not None else date.min
        return (Round("as of", as_of, as_of),)

    def round_populations(self, round_: Round) -> tuple[str, ...]:
        """The population ids usable in ``round_``: those it names, and those no round names (the derived
        occurrences of a control belong to every round)."""
        named = {pid for r in self.rounds for pid in r.populations}
        return tuple(pid for pid in self.populations if pid in round_.populations or pid not in named) + \
            tuple(self.derived_populations)

    def tested_populations(self, control: Control) -> tuple[tuple[Round, str], ...]:
        """(round, population id) the control's procedure tests in each round.

        The population tested is the first of the control's populations (matrix column ``populations``) of
        the kind of the first one listed that the round delivers (:meth:`round_populations`).

        Raises
        ------
        EngagementError
            A round delivers none of the control's populations of that kind.
        """
        if not control.populations:
            raise EngagementError(f"control {control.id} names no population; give one in the control matrix.")
        kind = self.population(control.populations[0]).kind
        found = []
        for round_ in self.test_rounds():
            usable = self.round_populations(round_)
            candidates = [pid for pid in control.populations if pid in usable and self.population(pid).kind == kind]
            if not candidates:
                raise EngagementError(
                    f"{self.folder.name}/{ENGAGEMENT_FILE}: control {control.id} tests {kind} populations, but "
                    f"round {round_.name!r} delivers none of its populations ({', '.join(control.populations)}); "
                    f"add the round's {kind} export as a population, name it in the round's populations and in "
                    f"the control's populations column.")
            found.append((round_, candidates[0]))
        return tuple(found)

    def related_populations(self, control: Control) -> tuple[str, ...]:
        """The control's other populations (its ``populations`` cell, less the ones it tests in each round):
        the listings, rosters and logs its checks join with the tested records."""
        tested = {pid for _, pid in self.tested_populations(control)} if control.populations else set()
        return tuple(pid for pid in control.populations if pid not in tested)

    def staff_with_role(self, role: str) -> tuple[StaffMember, ...]:
        """The staff members with ``role`` (preparer, reviewer, manager, partner), in file order."""
        return tuple(member for member in self.staff if member.role == role)

    # ---- presentation ------------------------------------------------------------------------
    def to_table(self) -> list[tuple[str, str]]:
        """(label, value) rows for a workpaper header / lead sheet."""
        rows = [
            ("Client", self.client),
            ("Engagement", self.engagement_id),
            ("Report", self.report_label),
            ("Period" if self.report_type == "type2" else "As of", self.period_label),
            ("Time zone", self.timezone),
            ("Criteria in scope", ", ".join(CATEGORY_LABELS[c] for c in self.criteria)),
        ]
        if self.firm:
            rows.insert(0, ("Firm", self.firm))
        rows.extend(self.sampling.to_table())
        return rows

    def controls_frame(self) -> pd.DataFrame:
        """The control matrix as a tidy pandas DataFrame (one row per control; lists joined by ``"; "``)."""
        import pandas as pd  # imported here: loading an engagement does not need pandas

        return pd.DataFrame(
            [{
                "control_id": c.id,
                "description": c.description,
                "criteria": "; ".join(c.criteria),
                "owner": c.owner,
                "frequency": c.frequency,
                "nature": c.nature,
                "procedure": c.procedure,
                "populations": "; ".join(c.populations),
                "attributes": "; ".join(c.attributes),
                "row": c.row,
            } for c in self.controls],
            columns=["control_id", "description", "criteria", "owner", "frequency", "nature",
                     "procedure", "populations", "attributes", "row"],
        )

    def summary(self) -> str:
        """A few lines for people: who, what, when, policy, populations and controls."""
        lines = [
            f"Engagement {self.engagement_id}: {self.client}, {self.report_label}, {self.period_label} "
            f"(time zone {self.timezone})",
        ]
        if self.firm:
            lines.append(f"Firm: {self.firm}")
        lines.append(
            f"Criteria in scope: {', '.join(CATEGORY_LABELS[c] for c in self.criteria)} "
            f"({len(self.in_scope_criteria)} criteria)"
        )
        lines.append(f"Sampling: {self.sampling.summary()}")
        lines.append("Staff: " + "; ".join(m.summary() for m in self.staff))
        if self.subservice_organizations:
            lines.append("Subservice organizations: "
                         + "; ".join(s.summary() for s in self.subservice_organizations))
        if self.cuecs:
            lines.append(f"CUECs: {len(self.cuecs)} ({', '.join(c.id for c in self.cuecs)})")
        lines.append(f"Populations ({len(self.populations)}):")
        lines.extend(f"  {p.summary()}" for p in self.populations.values())
        lines.append(f"Controls ({len(self.controls)}, from {self.matrix_file}):")
        lines.extend(f"  {c.summary()}" for c in self.controls)
        if self.notes:
            lines.append("Notes:")
            lines.extend(f"  - {note}" for note in self.notes)
        return "\n".join(lines)

    def control_statuses(self) -> dict[str, str]:
        """Control id -> the status of its last run (``output/records/<id>.json``, an interactive run's
        ``output/interactive/records/`` when newer), or ``not run yet``."""
        import json

        statuses = {}
        for control in self.controls:
            found: tuple[float, str] | None = None
            for folder in (self.folder / "output" / "records", self.folder / "output" / "interactive" / "records"):
                path = folder / f"{control.id}.json"
                try:
                    stamp = path.stat().st_mtime
                    status = str(json.loads(path.read_text(encoding="utf-8")).get("conclusion_status")
                                 or "not run yet")
                except (OSError, ValueError, AttributeError):
                    continue
                if found is None or stamp > found[0]:
                    found = (stamp, status)
            statuses[control.id] = found[1] if found else ("not tested by the workbench" if control.procedure is None
                                                           else "not run yet")
        return statuses

    def _repr_html_(self) -> str:
        """One screen: who, what, when, and the controls counted by the status of their last run."""
        statuses = self.control_statuses()
        counts: dict[str, int] = {}
        for status in statuses.values():
            counts[status] = counts.get(status, 0) + 1
        badges = " ".join(html_badge(f"{status.replace('_', ' ')}: {n}", STATUS_COLOURS.get(status, "#757575"))
                          for status, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        staff = "; ".join(f"{escape(m.name)} ({escape(m.initials)}, {escape(m.role)})" for m in self.staff)
        rows = [("Client", escape(f"{self.client}, {self.report_label}, {self.period_label} ({self.timezone})")),
                ("Criteria", escape(", ".join(CATEGORY_LABELS[c] for c in self.criteria))
                 + f" ({len(self.in_scope_criteria)} criteria)"),
                ("Sampling", escape(self.sampling.summary())),
                ("Staff", staff),
                ("Populations", f"{len(self.populations)}"),
                ("Controls", f"{len(self.controls)}: {badges}")]
        table = html_table([(c.id, "; ".join(c.criteria), c.frequency.replace("_", " "), c.nature,
                             statuses[c.id].replace("_", " "), c.description) for c in self.controls],
                           ["control", "criteria", "frequency", "nature", "last run", "control activity"],
                           nowrap=(0, 2, 4))
        body = html_details(f"Every control ({len(self.controls)}) and population ({len(self.populations)})",
                            table + html_table([(p.summary(),) for p in self.populations.values()], ["population"]))
        return html_card(f"Engagement {self.engagement_id}", rows, body=body, css_class="wb-engagement")



@dataclass(frozen=True)
class Control(SummaryText):
    """One row of the control matrix.

    Attributes
    ----------
    id : str
        The control id (unique; letters, digits, ``.``, ``_``, ``-``: it names the workpaper file).
    description : str
        The control activity as the service organization specifies it.
    criteria : tuple of str
        Criterion ids (canonical spelling, e.g. ``("CC8.1",)``), each in a category in scope.
    owner : str or None
    frequency : str
        One of :data:`FREQUENCIES`.
    nature : str
        ``"manual"`` or ``"automated"``.
    procedure : str or None
        A name from ``workbench.procedures.KNOWN_PROCEDURES``; ``None`` when blank ("not yet tested").
    populations : tuple of str
        Population ids (``[populations.<id>]`` of engagement.toml); the first is the one sampled.
    attributes : tuple of str
        Attribute ids of the procedure to test; empty means all of the procedure's attributes.
    row : int
        The row in the control matrix as a spreadsheet shows it (header row = 1 when it is the first row).
    extra : Mapping[str, str]
        Other columns of the matrix (original header -> cell text), kept but not used.
    record_filter : RecordFilter or None
        The records the control's procedure tests (matrix column ``Record filter``, else the procedure's
        default), e.g. ``change_type in standard, normal``; None for every record.
    shared_sample : bool
        Matrix column ``Shared sample`` (default yes): controls that test the same population with the same
        record filter in the same round share one selection; ``no`` gives this control its own.
    manual_attributes : tuple of str
        Matrix column ``Manual attributes`` (one attribute per line): the manual attributes of a control
        tested with the ``inspection`` procedure, in its own words (docs/procedures-library.md).
    """

    id: str
    description: str
    criteria: tuple[str, ...]
    owner: str | None
    frequency: str
    nature: str
    procedure: str | None
    populations: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()
    row: int = 0
    extra: Mapping[str, str] = field(default_factory=FrozenMapping)
    record_filter: RecordFilter | None = None
    shared_sample: bool = True
    manual_attributes: tuple[str, ...] = ()

    def to_table(self) -> list[tuple[str, str]]:
        """(label, value) rows for a workpaper's lead sheet."""
        return [
            ("Control", self.id),
            ("Control activity", self.description),
            ("Criteria", "; ".join(self.criteria)),
            ("Control owner", self.owner or ""),
            ("Frequency", self.frequency.replace("_", " ")),
            ("Nature", self.nature),
            ("Procedure", self.procedure or "none (not yet tested)"),
            ("Populations", "; ".join(self.populations)),
            ("Attributes", "; ".join(self.attributes) if self.attributes else "all of the procedure's"),
            ("Record filter", self.record_filter.text if self.record_filter else "none (every record)"),
            ("Shared sample", "yes" if self.shared_sample else "no (its own selection)"),
        ]

    def summary(self) -> str:
        """One line for people."""
        parts = [f"{self.frequency}, {self.nature}",
                 f"procedure {self.procedure}" if self.procedure else "no procedure (not yet tested)"]
        if self.populations:
            noun = "population" if len(self.populations) == 1 else "populations"
            parts.append(f"{noun} {', '.join(self.populations)}")
        return f"{self.id} [{'; '.join(self.criteria)}] ({'; '.join(parts)}): {self.description}"

    def _repr_html_(self) -> str:
        """A compact card of the control under test."""
        rows = [(label, escape(value)) for label, value in self.to_table()[1:] if value]
        return html_card(f"Control {self.id}", rows, css_class="wb-control")

