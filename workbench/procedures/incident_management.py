"""Incident management (CC7.3-CC7.5): incidents logged, prioritised, resolved within the SLA of their priority,
reviewed after the fact when severe, customers told when they must be.

Population: ``incidents`` (canonical columns incident_id, title, priority, status, ..., opened_at, resolved_at,
closed_at; tz-aware timestamps), dated by ``opened_at``: the incidents opened in the period (Type 2) or in the
as-of window (Type 1). The export is the ticketing system's own record, so an incident in it was logged.

Attributes (workflow.md §2.3, after the Chiaro public library INC-02 and INC-04):

======================== ========= ====================================================================
id                       kind      passes when
======================== ========= ====================================================================
prioritised              automated the priority names one of the four levels of the SLA table (a
                                   digit 1-4 as in ``1 - Critical``, ``P2``, or critical / high /
                                   moderate or medium / low)
resolved_within_sla      automated resolved within the SLA of its priority (policy ``sla_p1`` ...
                                   ``sla_p4``); an incident still open at the end of the window fails
                                   once its SLA has run out, and is n/a before; canceled: n/a
root_cause_review        manual    highest severities (the demo: P1 and P2): root cause analysis and a
                                   post-incident review documented; n/a for the others
customers_notified       manual    where the incident affected customers, they were notified as the
                                   policy requires; n/a otherwise
agreed_to_source         manual    (accuracy) the ticket in the source system agrees with the export
======================== ========= ====================================================================

An SLA is written ``4 hours``, ``3 business days`` or ``10 days`` (``h``, ``bd`` and ``d`` also read):
hours and days are elapsed time from ``opened_at`` to ``resolved_at`` (10 days = 240 hours); business days
are ``numpy.busday_count`` between the local dates (Monday to Friday, no holidays), as the demo's rules say.
A resolved incident without a resolution time but with a closing time is measured to its closing time.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from workbench.errors import ParameterError
from workbench.procedures.base import (
    ACCURACY,
    AUTOMATED,
    MANUAL,
    Attribute,
    CheckContext,
    PolicyParameter,
    Procedure,
    business_days_between,
    format_timestamps,
    normalised_text,
    outcome_frame,
)

__all__ = ["PROCEDURE", "priority_levels", "parse_sla"]

#: Priority words and the level they stand for (after the level's digit, which wins).
PRIORITY_WORDS: dict[str, int] = {"critical": 1, "urgent": 1, "high": 2, "moderate": 3, "medium": 3, "low": 4}
#: The levels the SLA table covers.
LEVELS: tuple[int, ...] = (1, 2, 3, 4)

_SLA = re.compile(r"^\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>hours?|hrs?|h|business\s+days?|bd|days?|d)\s*$",
                  re.IGNORECASE)


def parse_sla(text: str, *, setting: str = "sla") -> tuple[float, str]:
    """``"4 hours"`` -> ``(4.0, "hours")``; ``"3 business days"`` -> ``(3.0, "business days")``; ``"10 days"`` ->
    ``(10.0, "days")``.

    Raises
    ------
    ParameterError
        Text in none of these forms; the message names the setting and shows the forms.
    """
    match = _SLA.match(str(text))
    if match is None:
        raise ParameterError(
            f"incident_management policy setting {setting} = {text!r} is not an SLA; write it as \"4 hours\", "
            f"\"3 business days\" or \"10 days\" in [policy.incident_management] or [controls.<id>.policy] of "
            f"engagement.toml.")
    unit = match.group("unit").lower()
    kind = "business days" if unit.startswith("b") else "hours" if unit.startswith("h") else "days"
    return float(match.group("n")), kind


def priority_levels(values: pd.Series) -> pd.Series:
    """The level (1 = highest) each priority names: its first digit (``1 - Critical``, ``P2``), else a word
    (critical, high, moderate or medium, low); missing when neither (Int64)."""
    text = normalised_text(values, casefold=True)
    digit = pd.to_numeric(text.str.extract(r"(\d)", expand=False), errors="coerce")
    word = pd.Series(np.nan, index=values.index, dtype=float)
    for name, level in PRIORITY_WORDS.items():
        word = word.mask(word.isna() & text.str.contains(rf"\b{name}\b", regex=True, na=False), float(level))
    return digit.fillna(word).astype("Int64")


def _prioritised(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    levels = priority_levels(frame["priority"])
    known = levels.isin(list(LEVELS)).fillna(False).astype(bool)
    missing = normalised_text(frame["priority"]).fillna("").eq("")
    reason = pd.Series("", index=frame.index, dtype=object)
    reason[missing.to_numpy()] = "no priority recorded"
    other = ~known & ~missing
    if other.any():
        reason[other.to_numpy()] = ("priority " + frame.loc[other, "priority"].astype(str)
                                    + " is not one of the four levels of the SLA table").to_numpy()
    return outcome_frame(frame.index, fail=~known, fail_reason=reason)


def _resolved_within_sla(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    levels = priority_levels(frame["priority"])
    has_level = levels.isin(list(LEVELS)).fillna(False).astype(bool)
    canceled = normalised_text(frame["status"], casefold=True).fillna("").str.contains("cancel", regex=False)
    canceled = canceled.astype(bool)
    opened = frame["opened_at"]
    resolved = frame["resolved_at"].fillna(frame["closed_at"])
    still_open = resolved.isna()
    measured_to = resolved
    as_at = context.window_end
    if as_at is not None and still_open.any():
        zone = opened.dt.tz
        measured_to = resolved.mask(still_open, as_at.tz_convert(zone) if zone is not None else as_at)
    hours = (measured_to - opened).dt.total_seconds() / 3600.0
    busdays = business_days_between(opened, measured_to, context.timezone)
    over = pd.Series(False, index=frame.index)
    sla_text = pd.Series("", index=frame.index, dtype=object)
    elapsed = pd.Series("", index=frame.index, dtype=object)
    for level in LEVELS:
        setting = f"sla_p{level}"
        limit, unit = parse_sla(context.text(setting), setting=setting)
        rows = (levels == level).fillna(False).astype(bool)
        if not rows.any():
            continue
        if unit == "business days":
            late = (busdays > limit).fillna(False).astype(bool)
            spent = busdays.astype("Int64").astype(str) + " business days"
        else:
            late = (hours > limit * (24.0 if unit == "days" else 1.0)).fillna(False).astype(bool)
            spent = hours.map(lambda h: f"{h:,.1f} hours")
        over = over | (rows & late)
        sla_text[rows.to_numpy()] = f"{limit:g} {unit}"
        elapsed[rows.to_numpy()] = spent[rows].to_numpy()
    not_applicable = canceled | opened.isna() | ~has_level
    na_reason = pd.Series("", index=frame.index, dtype=object)
    na_reason[(~has_level).to_numpy()] = "no priority level with an SLA (see prioritised)"
    na_reason[opened.isna().to_numpy()] = "no opening time recorded"
    na_reason[canceled.to_numpy()] = "canceled"
    pending = still_open & ~not_applicable & (~over | (as_at is None))
    na_reason[pending.to_numpy()] = "still open at the end of the window, within its SLA"
    not_applicable = not_applicable | pending
    fail = over & ~not_applicable
    reason = pd.Series("", index=frame.index, dtype=object)
    if fail.any():
        head = frame["priority"].astype(str) + " (SLA " + sla_text + "): opened " + format_timestamps(opened)
        done = fail & ~still_open
        reason[done.to_numpy()] = (head + ", resolved " + format_timestamps(resolved) + " (" + elapsed
                                   + ")")[done].to_numpy()
        waiting = fail & still_open
        reason[waiting.to_numpy()] = (head + ", not resolved at the end of the window (" + elapsed
                                      + ")")[waiting].to_numpy()
    return outcome_frame(frame.index, fail=fail, fail_reason=reason, not_applicable=not_applicable,
                         na_reason=na_reason)


PROCEDURE = Procedure(
    name="incident_management",
    title="Incident management",
    criteria=("CC7.3", "CC7.4", "CC7.5"),
    population_kind="incidents",
    key_column="incident_id",
    date_column="opened_at",
    item_noun="incident",
    item_noun_plural="incidents",
    item_description="incident",
    item_description_plural="incidents",
    occurred="opened",
    inspection="Inspected the incident ticket and its post-incident documentation for",
    matrix_columns=("priority", "status", "resolved_at"),
    description=(
        "Incidents are logged in the ticketing system, given a priority, and resolved within the SLA of their "
        "priority; the highest severities receive a root cause analysis and a post-incident review, and "
        "affected customers are notified where required. The priority and the resolution time are recomputed "
        "for every incident opened in the window; the sampled incidents are inspected for the review, the "
        "notification and agreement with the source system."
    ),
    policy=(
        PolicyParameter("sla_p1", "Resolution SLA of priority 1 (critical) incidents: \"4 hours\", \"3 business "
                        "days\" or \"10 days\".", "4 hours", kind="text"),
        PolicyParameter("sla_p2", "Resolution SLA of priority 2 (high) incidents.", "8 hours", kind="text"),
        PolicyParameter("sla_p3", "Resolution SLA of priority 3 (moderate) incidents.", "3 business days",
                        kind="text"),
        PolicyParameter("sla_p4", "Resolution SLA of priority 4 (low) incidents.", "10 days", kind="text"),
    ),
    attributes=(
        Attribute(
            id="prioritised",
            label="Prioritised",
            description="The incident was given a priority that the incident policy defines an SLA for.",
            kind=AUTOMATED,
            pass_criterion="The priority names one of the four levels of the SLA table: its first digit 1-4 "
                           "(\"1 - Critical\", \"P2\") or the words critical, high, moderate or medium, low. A "
                           "blank priority or another level fails.",
            deviation_wording="the incident was not given a priority with a defined SLA",
            objective="the incident was prioritised according to the incident policy",
            population_wording="without a priority level of the incident policy",
            census_test="the priority of each incident with the priority levels of the incident policy",
            columns=("priority",),
            check=_prioritised,
        ),
        Attribute(
            id="resolved_within_sla",
            label="Resolved within SLA",
            description="The incident was resolved within the SLA of its priority.",
            kind=AUTOMATED,
            pass_criterion="The time from opened_at to resolved_at (closed_at when no resolution time is "
                           "recorded) is within the SLA of the priority (policy sla_p1 ... sla_p4; business days "
                           "counted between local dates). An incident still open at the end of the window fails "
                           "once its SLA has run out and is not applicable before; a canceled incident is not "
                           "applicable.",
            deviation_wording="the incident was not resolved within the SLA for its priority",
            objective="the incident was resolved within the SLA for its priority",
            population_wording="resolved outside the SLA of their priority",
            census_test="the resolution time of each incident with the SLA of its priority",
            depends_on=("prioritised",),
            columns=("priority", "status", "opened_at", "resolved_at", "closed_at"),
            check=_resolved_within_sla,
        ),
        Attribute(
            id="root_cause_review",
            label="Root cause and review",
            description="For an incident of the highest severities the control names (the demo's IM-01: P1 and "
                        "P2), a root cause analysis and a post-incident review (impact, corrective actions and "
                        "their tracking) were documented.",
            kind=MANUAL,
            pass_criterion="The tester inspected the root cause analysis and the post-incident review of a P1 or "
                           "P2 incident and recorded a pass with the evidence reference; lower priorities are "
                           "recorded as not applicable.",
            deviation_wording="a root cause analysis and post-incident review were not documented",
            objective="a root cause analysis and post-incident review were documented for the highest "
                      "severities",
        ),
        Attribute(
            id="customers_notified",
            label="Customers notified",
            description="Where the incident affected customers (their data or the service commitments), the "
                        "affected customers were notified as the incident policy requires.",
            kind=MANUAL,
            pass_criterion="For an incident that affected customers, the tester inspected the notification (date, "
                           "recipients, content) and recorded a pass; an incident that affected no customer is "
                           "recorded as not applicable, with why in the comment.",
            deviation_wording="affected customers were not notified as required",
            objective="affected customers were notified where required",
        ),
        Attribute(
            id="agreed_to_source",
            label="Agreed to source",
            description="The incident's ticket in the source system (priority, state, opened and resolved times, "
                        "history) agrees with the exported values the full-population analysis used.",
            kind=MANUAL,
            role=ACCURACY,
            pass_criterion="The tester inspected the ticket and its history in the ticketing system and every "
                           "exported value agrees; any difference is a fail, with what differs in the comment.",
            deviation_wording="the exported incident data did not agree with the ticket in the source system",
            objective="the exported incident data agreed with the ticket in the ticketing system",
        ),
    ),
)
