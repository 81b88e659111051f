"""The engagement folder: ``engagement.toml`` and the control matrix, loaded into a frozen, validated
:class:`Engagement`.

An engagement folder is the user's unit of work (DESIGN.md §2)::

    acme-type2/
      engagement.toml      client, report type and period, time zone, criteria in scope, sampling policy,
                           staff, subservice organizations, CUECs, one [populations.<id>] table per client file
      controls.xlsx        the control matrix (sheet "Controls"); or controls.csv, never both
      populations/         the client's files exactly as received
      results.sqlite       created on first use by workbench.results
      output/              run outputs

:func:`load_engagement` reads and checks everything before anything is tested. Every problem names the
file (``acme-type2/engagement.toml``, with the line where it can be found, or ``acme-type2/controls.xlsx``
with the row and column), the key, the value found and the fix. All problems of the folder are collected
and raised together as one :class:`~workbench.errors.EngagementError` (one problem a line, with the count),
so a user fixes them in one pass rather than one run at a time.

The package, by concern::

    model.py      the frozen objects: Engagement, Control, PopulationSource, SamplingPolicy, ...
    toml.py       reading engagement.toml, with line numbers in messages
    matrix.py     reading the control matrix (controls.xlsx or controls.csv)
    firm.py       reading the firm's procedure files (procedures/*.toml, the firm library)
    record_filter.py  the control matrix's record filters (which records a control tests)
    criteria.py   the 2017 Trust Services Criteria
    problems.py   collecting problems and wording them

Public API::

    load_engagement(folder) -> Engagement
    Engagement, SamplingPolicy, StaffMember, SubserviceOrganization, CUEC, PopulationSource, Control,
    FrozenMapping and the vocabularies of :mod:`workbench.engagement.model`
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from pathlib import Path
from typing import Any, Mapping, TypeVar

from workbench.engagement.matrix import read_control_matrix
from workbench.engagement.model import (
    CUEC,
    DEFAULT_FREQUENCY_TABLE,
    ENGAGEMENT_FILE,
    FREQUENCIES,
    HISTORY_MODES,
    MATRIX_COLUMNS,
    MATRIX_FILES,
    MATRIX_SHEET,
    NATURES,
    OCCURRENCE_SOURCES,
    POPULATION_FORMATS,
    POPULATION_KINDS,
    REPORT_TYPES,
    REQUIRED_MATRIX_COLUMNS,
    RESULTS_FILE,
    SAMPLING_MODELS,
    SELECTION_METHODS,
    STAFF_ROLES,
    SUBSERVICE_METHODS,
    Control,
    Engagement,
    FrozenMapping,
    Occurrence,
    PopulationSource,
    Round,
    SamplingPolicy,
    StaffMember,
    SubserviceOrganization,
    occurrences_population_id,
)
from workbench.engagement.firm import read_firm_procedures
from workbench.engagement.problems import Problems
from workbench.engagement.toml import (
    read_control_occurrences,
    read_control_policies,
    read_engagement_toml,
    read_policies,
)
from workbench.errors import EngagementError
from workbench.library import resolve_procedure
from workbench.occurrences import DERIVABLE_FREQUENCIES
from workbench.procedures import is_implemented
from workbench.procedures.base import Procedure

__all__ = [
    "load_engagement",
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
    "FrozenMapping",
    "ENGAGEMENT_FILE",
    "RESULTS_FILE",
    "MATRIX_FILES",
    "MATRIX_SHEET",
    "REPORT_TYPES",
    "SAMPLING_MODELS",
    "SELECTION_METHODS",
    "FREQUENCIES",
    "NATURES",
    "STAFF_ROLES",
    "SUBSERVICE_METHODS",
    "POPULATION_KINDS",
    "POPULATION_FORMATS",
    "HISTORY_MODES",
    "DEFAULT_FREQUENCY_TABLE",
    "MATRIX_COLUMNS",
    "REQUIRED_MATRIX_COLUMNS",
]


def load_engagement(folder: str | os.PathLike[str]) -> Engagement:
    """Load and validate an engagement folder.

    Parameters
    ----------
    folder : str or path-like
        The engagement folder, holding ``engagement.toml`` and ``controls.xlsx`` (or ``controls.csv``).

    Returns
    -------
    Engagement
        Frozen; every value checked.

    Raises
    ------
    EngagementError
        If the folder, engagement.toml or the control matrix is missing or invalid. The message names the
        file (relative to the folder's parent, e.g. ``acme-type2/engagement.toml``), the line or row and
        column, the key, the value and the fix; all problems found are listed together (one a line, with
        the count), and the list is also on ``error.problems``.

    Examples
    --------
    >>> engagement = load_engagement("sample_data/acme-type2")          # doctest: +SKIP
    >>> engagement.control("CM-01").criteria                           # doctest: +SKIP
    ('CC8.1',)
    """
    given = Path(folder).expanduser()
    if not given.exists():
        raise EngagementError(f"{os.fspath(folder)}: engagement folder not found; give the path of a folder "
                              f"that holds {ENGAGEMENT_FILE} and controls.xlsx (or controls.csv).")
    if not given.is_dir():
        raise EngagementError(f"{os.fspath(folder)}: not a folder; give the engagement folder (the one that "
                              f"holds {ENGAGEMENT_FILE}), not a file in it.")
    root = given.resolve()
    label = root.name or str(root)
    toml_path = root / ENGAGEMENT_FILE
    if not toml_path.is_file():
        raise EngagementError(f"{label}/{ENGAGEMENT_FILE}: not found; every engagement folder needs an "
                              f"{ENGAGEMENT_FILE} with [engagement], [sampling], [[staff]] and "
                              f"[populations.<id>] tables (see the README, \"The engagement folder\").")
    raw_toml = toml_path.read_bytes()
    try:
        text = raw_toml.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise EngagementError(f"{label}/{ENGAGEMENT_FILE}: not UTF-8 text ({error}); save it as UTF-8.") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise EngagementError(
            f"{label}/{ENGAGEMENT_FILE}: TOML syntax error: {error}. Check that line: text needs quotes "
            f"(client = \"Acme\"), dates and numbers do not (period_start = 2025-07-01, confidence = 0.90), "
            f"and each key appears once per table."
        ) from None

    problems = Problems(label)
    parsed = read_engagement_toml(root, text, data, problems)
    firm = read_firm_procedures(root, label, parsed.procedure_library, problems, parsed.notes)
    policies = read_policies(root, text, data, problems, firm)

    # parsed.populations holds every [populations.<id>] id in file order (None for a bad entry); it is
    # None only when populations is not a table
    matrix_path, raw_matrix, controls = read_control_matrix(
        root, label, problems, scope=parsed.criteria,
        population_ids=None if parsed.populations is None else list(parsed.populations),
        populations=parsed.populations, notes=parsed.notes, procedures=firm)

    control_policies = read_control_policies(root, text, data, controls, problems, firm)
    derived = _derived_populations(root, label, text, data, controls, problems, firm)
    if parsed.rounds and parsed.populations is not None and not problems.lines:
        named = {pid for r in parsed.rounds for pid in r.populations}
        for control in controls:
            if control.procedure is None or not control.populations:
                continue
            first = parsed.populations.get(control.populations[0])
            for round_ in parsed.rounds:
                if first is None:
                    break
                usable = [pid for pid in control.populations if (pid in round_.populations or pid not in named)
                          and (source := parsed.populations.get(pid)) is not None and source.kind == first.kind]
                if not usable:
                    problems.add(f"{label}/{ENGAGEMENT_FILE}, [[rounds]] {round_.name}: control {control.id} tests "
                                 f"{first.kind} populations, but the round delivers none of its populations "
                                 f"({', '.join(control.populations)}); name the round's {first.kind} export in the "
                                 f"round's populations and in the control's populations column.")

    problems.raise_if_any()
    # Without problems every part parsed (each parser leaves None only after reporting one).
    populations = {pid: present(source, f"population {pid}") for pid, source in (parsed.populations or {}).items()}
    return Engagement(
        folder=root,
        client=present(parsed.client, "client"),
        engagement_id=present(parsed.engagement_id, "engagement_id"),
        report_type=present(parsed.report_type, "report_type"),
        period_start=parsed.period_start,
        period_end=parsed.period_end,
        as_of=parsed.as_of,
        timezone=present(parsed.timezone, "timezone"),
        criteria=present(parsed.criteria, "criteria"),
        firm=parsed.firm,
        sampling=present(parsed.sampling, "sampling"),
        staff=present(parsed.staff, "staff"),
        subservice_organizations=parsed.subservice or (),
        cuecs=parsed.cuecs or (),
        populations=FrozenMapping(populations),
        controls=tuple(controls),
        matrix_file=present(matrix_path, "control matrix").name,
        engagement_sha256=hashlib.sha256(raw_toml).hexdigest(),
        matrix_sha256=hashlib.sha256(raw_matrix).hexdigest(),
        notes=tuple(parsed.notes),
        policies=FrozenMapping({name: FrozenMapping(values) for name, values in policies.items()}),
        control_policies=FrozenMapping({cid: FrozenMapping(values) for cid, values in control_policies.items()}),
        rounds=present(parsed.rounds, "rounds"),
        procedures=FrozenMapping(firm),
        procedure_library=parsed.procedure_library,
        derived_populations=FrozenMapping(derived),
    )


def _derived_populations(root: Path, label: str, text: str, data: dict[str, Any], controls: list[Control],
                         problems: Problems, procedures: Mapping[str, Procedure]) -> dict[str, PopulationSource]:
    """The population of each control with no client export (a procedure of kind ``occurrences``): derived from its
    frequency, one instance as of the period end, or listed in engagement.toml."""
    kinds: dict[str, Procedure] = {}
    for control in controls:
        name = control.procedure
        if name is None or not (name in procedures or is_implemented(name)):
            continue
        try:
            procedure = resolve_procedure(name, procedures=procedures, manual_attributes=control.manual_attributes,
                                          frequency=control.frequency)
        except EngagementError:
            continue   # reported by the matrix
        if procedure.population_kind == "occurrences":
            kinds[control.id] = procedure
    listed = read_control_occurrences(root, text, data, controls, problems, set(kinds))
    out: dict[str, PopulationSource] = {}
    by_id = {c.id: c for c in controls}
    for control_id, procedure in kinds.items():
        control = by_id[control_id]
        pid = occurrences_population_id(control_id)
        if control_id in listed:
            basis = "listed"
        elif procedure.derived_occurrences == "period_end":
            basis = "period_end"
        elif control.frequency in DERIVABLE_FREQUENCIES:
            basis = "frequency"
        else:
            problems.add(f"{label}/{ENGAGEMENT_FILE}: control {control_id} ({procedure.name}) operates "
                         f"{control.frequency.replace('_', ' ')}, so its occurrences cannot be derived from its "
                         f"frequency; list them: add [[controls.{control_id}.occurrences]] with id = \"...\" and "
                         f"date = YYYY-MM-DD for each time it operated in the period (an empty list, occurrences = "
                         f"[], records that it did not operate).")
            continue
        out[pid] = PopulationSource(id=pid, file=OCCURRENCE_SOURCES[basis], path=root / ENGAGEMENT_FILE,
                                    kind="occurrences", format="derived", derived=basis, control_id=control_id,
                                    occurrences=listed.get(control_id, ()))
    return out


T = TypeVar("T")


def present(value: T | None, what: str) -> T:
    """``value``, which a reader left set because it reported no problem; None here is a bug, not bad input."""
    if value is None:
        raise AssertionError(f"{what} was not read, yet no problem was reported")
    return value

