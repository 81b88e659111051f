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
from workbench.errors import EngagementError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Engagement",
    "SamplingPolicy",
    "StaffMember",
    "SubserviceOrganization",
    "CUEC",
    "PopulationSource",
    "Control",
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
    "populations", "attributes",
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
    """

    name: str
    services: str | None
    method: str
    csocs: tuple[str, ...] = ()

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


@dataclass(frozen=True)
class PopulationSource:
    """One client population file as declared in ``[populations.<id>]`` (not yet read).

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
    stated_count_note: str | None = None
    history: str = "all"
    records: str | None = None

    def to_table(self) -> list[tuple[str, str]]:
        """(label, value) rows for a workpaper's population block."""
        def text(value: object) -> str:
            return "" if value is None else str(value)
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
        stated = "" if self.stated_count is None else f", stated {self.stated_count:,} records"
        return f"{self.id}: {self.file} ({self.kind}, format {self.format}{stated})"


@dataclass(frozen=True)
class Engagement:
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



@dataclass(frozen=True)
class Control:
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
        ]

    def summary(self) -> str:
        """One line for people."""
        parts = [f"{self.frequency}, {self.nature}",
                 f"procedure {self.procedure}" if self.procedure else "no procedure (not yet tested)"]
        if self.populations:
            noun = "population" if len(self.populations) == 1 else "populations"
            parts.append(f"{noun} {', '.join(self.populations)}")
        return f"{self.id} [{'; '.join(self.criteria)}] ({'; '.join(parts)}): {self.description}"

