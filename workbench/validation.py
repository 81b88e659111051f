"""Completeness and accuracy (IPE) checks on a population: one finding per row of a report.

::

    validate(population, engagement=None, *, period_start=None, period_end=None, as_of=None,
             expected_count=None, second_sources=None) -> ValidationReport
    check_population(path=None, *, kind=None, format=None, engagement=None, population_id=None, columns=None,
                     records=None, history=None, timezone=None, period_start=None, period_end=None, as_of=None,
                     expected_count=None) -> (Population | None, ValidationReport)

Errors (the population cannot be sampled until they are resolved):

=================== =================================================================================
rule                meaning
=================== =================================================================================
file, not_a_table,  the file cannot be read as an export (missing, a directory, empty, binary, HTML,
no_header, format,  no header row, not the format named, a corrupt workbook, a ragged row)
required_column     a canonical column the kind needs is not in the file (and not mapped), or is empty on
                    every record
duplicate_key       the key occurs more than once (every duplicate record listed)
event_log           the keys repeat as in an event log (every key repeated, or a modification counter or
                    update time): read it with ``history = "latest"`` / ``--latest-per-key``
unread_value        a value the export holds could not be read (a GitHub person field of an unknown
                    shape), or a typed column (``values_lost``) is empty on every record though the export
                    holds values there
stated_count        the record count differs from the count the client stated, and the engagement records
                    no explanation (``stated_count_note``; with one, the difference is a warning)
required_value      a record lacks a value the kind requires (its key, its occurrence date ...)
date_parse          a date/time that does not parse
key_characters      a key holds a control character (a carriage return, a NUL ...), row by row
=================== =================================================================================

Warnings (carried into the workpaper; the population stays usable): ``date_order`` (resolved before
opened, deployed before created, disabled before created, terminated before hired),
``out_of_period`` (records outside the period or as-of window: counted and excluded, never
silently), ``stated_count`` (a difference the engagement explains), ``month_gap``
(a month of the period with no records), ``export_cap`` (exactly 1,000 or 10,000 rows: the default
caps of Jira and ServiceNow exports, so the file may be truncated), ``reconciliation`` (a second
source does not reconcile: a deployment with no change ticket, a change with no deployment, a
terminated person in no user listing, a disabled account with no termination), ``date_order_ambiguous``,
``change_type``, ``listing_filter`` (an Okta listing without DEPROVISIONED users), ``excel_rewrite`` (keys in
scientific notation). Info: ``zero_records`` (a recorded zero), ``timezone``, ``load_note``, ``second_source``.

Second sources (with an engagement, found automatically): changes <-> deployments, terminations <->
users. Reconciliation runs both ways: each in-scope record of one must have its counterpart anywhere
in the other. Deployments are restricted to production when the log names environments.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from workbench.display import SEVERITY_COLOURS, SummaryText, escape, html_badge, html_card, html_details, html_table
from workbench.engagement import Control, Engagement, Round
from workbench.errors import ParameterError, PopulationError
from workbench.formats.spec import normalize_header
from workbench.population import (
    FINDING_COLUMNS,
    UPDATE_TIMES,
    VERSION_COUNTERS,
    Finding,
    Population,
    load_population,
    load_population_file,
)
from workbench.scope import NAT_MICROSECONDS, DateLike, ScopedPopulation, scope_population, utc_microseconds

__all__ = ["ValidationReport", "validate", "validate_populations", "check_population", "ensure_usable", "CHECKS",
           "EXPORT_CAPS", "RECONCILIATION_PROCEDURES", "covering_procedure", "covering_controls", "populations_read"]

#: Row counts that are the default export caps (Jira UI 1,000; ServiceNow CSV/Excel 10,000).
EXPORT_CAPS = (1_000, 10_000)

#: Every check the report lists, in order: (rule, what it checks, severity when it fails).
CHECKS: tuple[tuple[str, str, str], ...] = (
    ("file", "the file exists, is readable, and is a table with a header row in the format named", "error"),
    ("required_column", "every column the kind requires is present (directly or mapped)", "error"),
    ("duplicate_key", "the key identifies one record", "error"),
    ("unread_value", "every value the export holds is read (none dropped silently)", "error"),
    ("required_value", "required values are present on every record", "error"),
    ("date_parse", "every date/time parses", "error"),
    ("key_characters", "no key holds a control character (a carriage return, a tab ...)", "error"),
    ("date_order", "dates are in a possible order on every record", "warning"),
    ("out_of_period", "records outside the period / as-of window are counted and excluded", "warning"),
    ("month_gap", "every month of the period has records", "warning"),
    ("stated_count", "the record count agrees with the count the client stated (or the difference is explained)",
     "error"),
    ("export_cap", "the row count is not an export cap (1,000 / 10,000)", "warning"),
    ("reconciliation", "an independent second source reconciles both ways", "warning"),
)
_LOAD_RULES = {"file", "empty", "not_a_table", "no_header", "ragged_row", "format", "kind", "column_map", "timezone",
               "records", "history"}

_PRODUCTION = {"prod", "production", "prd", "live"}
#: Kinds that occur continuously, so a month of the period without records is a completeness red flag.
_MONTHLY_KINDS = {"changes", "deployments", "incidents", "tickets", "access_requests", "backups"}
#: Kinds whose occurrence date is legitimately blank (not an export problem): what a blank means.
_OPTIONAL_DATE = {"terminations": "still employed"}


@dataclass(frozen=True, eq=False)
class ValidationReport(SummaryText):
    """The completeness and accuracy checks of one population.

    Attributes
    ----------
    population : str
        The population's name.
    source : str
        The file (relative to the engagement folder when known).
    sha256 : str or None
    rows_received : int or None
    findings : pandas.DataFrame
        One row per finding: rule, column, row, value, severity (error | warning | info), message.
    checks : pandas.DataFrame
        One row per check in :data:`CHECKS`: rule, check, outcome (passed | n errors | n warnings |
        not applicable), severity.
    scoped : ScopedPopulation or None
        The period/as-of scoping the checks used (None without a period).
    second_sources : tuple of Population
        The populations reconciled against (loaded read-only; the receipt stage pins them with the
        population itself).
    """

    population: str
    source: str
    sha256: str | None
    rows_received: int | None
    findings: pd.DataFrame
    checks: pd.DataFrame
    scoped: ScopedPopulation | None = None
    second_sources: tuple[Population, ...] = ()

    @property
    def second_source_names(self) -> tuple[str, ...]:
        """The ids of the populations reconciled against."""
        return tuple(source.name for source in self.second_sources)

    @property
    def errors(self) -> pd.DataFrame:
        """Findings of severity error."""
        return self.findings[self.findings["severity"] == "error"]

    @property
    def warnings(self) -> pd.DataFrame:
        """Findings of severity warning."""
        return self.findings[self.findings["severity"] == "warning"]

    @property
    def usable(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not (self.findings["severity"] == "error").any()

    def to_frame(self) -> pd.DataFrame:
        """The findings, one row each (a copy)."""
        return self.findings.copy()

    def to_table(self) -> list[tuple[str, str]]:
        """(check, outcome) rows for the workpaper's population sheet."""
        return [(str(check), str(outcome)) for check, outcome in zip(self.checks["check"], self.checks["outcome"])]

    def summary(self) -> str:
        """A few lines for people: the verdict, then each check's outcome."""
        n_err, n_warn = len(self.errors), len(self.warnings)
        received = "the file could not be loaded" if self.rows_received is None else (
            "0 records (a recorded zero)" if self.rows_received == 0 else f"{self.rows_received:,} records")
        verdict = "USABLE" if self.usable else "NOT USABLE"
        head = f"{self.population} ({self.source}): {received}; {verdict}: {n_err:,} error(s), {n_warn:,} warning(s)"
        lines = [head]
        if self.sha256:
            lines.append(f"  SHA-256 {self.sha256}")
        if self.scoped is not None:
            c = self.scoped.counts
            lines.append(f"  in scope {c['in_scope']:,}; excluded {c['received'] - c['in_scope']:,} "
                         f"({c['before']:,} before, {c['after']:,} after, {c['no_date']:,} without "
                         f"{self.scoped.date_column})")
        for check, outcome in zip(self.checks["check"], self.checks["outcome"]):
            lines.append(f"  [{outcome}] {check}")
        notable = self.findings[self.findings["severity"] != "info"]
        shown = notable.head(_SHOWN)
        for severity, rule, message in zip(shown["severity"], shown["rule"], shown["message"]):
            lines.append(f"  {str(severity).upper()} {rule}: {message}")
        if len(notable) > _SHOWN:
            lines.append(f"  ... and {len(notable) - _SHOWN:,} more of the {len(notable):,} errors and warnings: the "
                         f"findings table (findings_by_rule(), to_frame()) holds every one")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The verdict, then every error and warning once, in full, coloured by severity; the checks folded."""
        n_err, n_warn = len(self.errors), len(self.warnings)
        received = "could not be loaded" if self.rows_received is None else f"{self.rows_received:,} records"
        badge = html_badge("usable" if self.usable else "NOT USABLE", "#2e7d32" if self.usable else "#c62828")
        rows = [("File", escape(f"{self.source} ({received})")),
                ("Findings", f"{n_err:,} error(s), {n_warn:,} warning(s)")]
        if self.scoped is not None:
            c = self.scoped.counts
            rows.append(("In scope", escape(f"{c['in_scope']:,}; excluded {c['received'] - c['in_scope']:,} "
                                            f"({c['before']:,} before, {c['after']:,} after, {c['no_date']:,} "
                                            f"without {self.scoped.date_column})")))
        notable = self.findings[self.findings["severity"] != "info"]
        table = html_table([(str(sev), str(rule), "" if not _present(row) else str(row),
                             "" if not _present(col) else str(col), str(msg))
                            for sev, rule, row, col, msg in zip(notable["severity"], notable["rule"], notable["row"],
                                                                notable["column"], notable["message"])],
                           ["severity", "rule", "row", "column", "message"],
                           row_colours=[SEVERITY_COLOURS.get(str(s), "") for s in notable["severity"]],
                           nowrap=(0, 1, 2), css_class="wb-findings") if len(notable) else ""
        info = self.findings[self.findings["severity"] == "info"]
        checks = html_table([(str(check), str(outcome)) for check, outcome in zip(self.checks["check"],
                                                                                 self.checks["outcome"])],
                            ["check", "outcome"],
                            row_colours=[SEVERITY_COLOURS["passed"] if str(o) == "passed" else "" for o in
                                         self.checks["outcome"]])
        notes = "".join(f"<div>{escape(m)}</div>" for m in info["message"])
        body = table + html_details(f"The {len(self.checks)} checks" + (f" and {len(info)} note(s)" if len(info) else ""),
                                    checks + notes)
        return html_card(f"Completeness and accuracy: {self.population}", rows, badge=badge, body=body,
                         css_class="wb-validation")

    def findings_by_rule(self) -> pd.DataFrame:
        """The findings counted by severity, rule and column, with the first rows each concerns (exact counts).

        Columns: severity, rule, column, findings, rows (the first rows, then "... (n in all)").
        """
        order = {"error": 0, "warning": 1, "info": 2}
        counts: dict[tuple[str, str, str], list[int]] = {}       # findings, rows
        shown: dict[tuple[str, str, str], list[str]] = {}
        for severity, rule, column, row in zip(self.findings["severity"], self.findings["rule"],
                                               self.findings["column"], self.findings["row"]):
            group = (str(severity), str(rule), str(column) if _present(column) else "")
            tally = counts.setdefault(group, [0, 0])
            tally[0] += 1
            if _present(row):
                tally[1] += 1
                first = shown.setdefault(group, [])
                if len(first) < 5:
                    first.append(str(row))
        records = []
        for group, (findings, with_rows) in counts.items():
            first = shown.get(group, [])
            text = ", ".join(first) + (f" ... ({with_rows:,} in all)" if with_rows > len(first) else "")
            records.append((*group, findings, text))
        table = pd.DataFrame(records, columns=["severity", "rule", "column", "findings", "rows"])
        return table.sort_values("severity", key=lambda c: c.map(order), kind="stable").reset_index(drop=True)

    def __repr__(self) -> str:
        return (f"ValidationReport({self.population!r}, usable={self.usable}, errors={len(self.errors)}, "
                f"warnings={len(self.warnings)})")


class _Findings:
    def __init__(self, source: str = "") -> None:
        self.rows: list[Finding] = []
        self.source = source

    def add(self, rule: str, column: str | None, row: object, value: object, severity: str, message: str,
            *, where: bool = True) -> None:
        """Record a finding; a record-level message, and every error, is prefixed with the file (row, column)."""
        place_row = _plain(row)
        if where and (place_row is not None or severity == "error") and self.source \
                and not message.startswith(self.source):
            place = self.source + (f", row {place_row}" if place_row is not None else "") + \
                (f", column {column!r}" if column else "")
            message = f"{place}: {message}"
        self.rows.append((rule, column, place_row, None if value is None else str(value), severity, message))

    def listed(self, rule: str, column: str | None, rows: Iterable[object], values: Iterable[object],
               severity: str, message: Callable[[Any, Any], str]) -> None:
        """One finding per record, every one of them (the counts are exact; nothing is capped)."""
        for r, v in zip(rows, values):
            self.add(rule, column, r, v, severity, message(r, v))

    def frame(self) -> pd.DataFrame:
        columns = list(zip(*self.rows)) if self.rows else [()] * len(FINDING_COLUMNS)
        data = {}
        for name, values in zip(FINDING_COLUMNS, columns):
            data[name] = pd.Series(list(values), dtype=object if name == "row" else "str")
        return pd.DataFrame(data, columns=list(FINDING_COLUMNS))


def _unique(keys: pd.Series) -> bool:
    """True when no key repeats (nulls aside). Exports are usually sorted by key: a strictly increasing
    column is unique without hashing; otherwise the distinct values are counted."""
    if len(keys) < 2:
        return True
    arrow = pa.array(keys.astype("str"))
    arrow = arrow.combine_chunks() if isinstance(arrow, pa.ChunkedArray) else arrow
    if arrow.null_count == 0 and pc.all(pc.greater(arrow[1:], arrow[:-1])).as_py():
        return True
    valid = arrow.drop_null() if arrow.null_count else arrow
    return len(pc.unique(valid)) == len(valid)


def _plain(value: object) -> int | str | None:
    """A row reference as a finding holds it: a spreadsheet row number or a JSON path."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    return str(value)


def _rows_text(rows: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(str(r) for r in rows[:limit])
    return shown + (f" ... ({len(rows):,} in all)" if len(rows) > limit else "")


#: Findings of these rules count toward the check named (the check's own rule counts too).
_COUNTED_WITH = {"file": _LOAD_RULES, "duplicate_key": {"history_order"},
                 "unread_value": {"values_lost"}}


def _checks_frame(findings: pd.DataFrame, applicable: Mapping[str, str]) -> pd.DataFrame:
    rows = []
    for rule, text, severity in CHECKS:
        if rule in applicable:
            outcome = applicable[rule]
        else:
            rules = {rule} | _COUNTED_WITH.get(rule, set())
            hits = findings[findings["rule"].isin(rules)]
            errors = int((hits["severity"] == "error").sum())
            warnings = int((hits["severity"] == "warning").sum())
            if errors:
                outcome = f"{errors:,} error(s)"
            elif warnings:
                outcome = f"{warnings:,} warning(s)"
            else:
                outcome = "passed"
        rows.append((rule, text, outcome, severity))
    return pd.DataFrame(rows, columns=["rule", "check", "outcome", "severity"])


def _failed_report(name: str, source: str, error: PopulationError) -> ValidationReport:
    f = _Findings()
    rule = error.rule
    f.add(rule, error.column, error.row, None, "error", str(error))
    findings = f.frame()
    skipped = {r: "not run (the file could not be loaded)" for r, _, _ in CHECKS if r not in ("file",)}
    if rule == "required_column":
        skipped.pop("required_column")
        skipped["file"] = "passed"
    return ValidationReport(name, source, None, None, findings, _checks_frame(findings, skipped))


def validate(population: Population, engagement: Engagement | None = None, *, period_start: DateLike | None = None,
             period_end: DateLike | None = None, as_of: DateLike | None = None, expected_count: int | None = None,
             second_sources: Mapping[str, Population] | Iterable[Population] | None = None,
             round_: Round | None = None) -> ValidationReport:
    """Check a population's completeness and accuracy.

    Parameters
    ----------
    population : Population
    engagement : Engagement, optional
        Supplies the period (or as-of date), the client's stated count (the population's declaration)
        and the second sources (other populations of the engagement: deployments for changes and back,
        user listings for terminations and back), which are loaded and reconciled.
    period_start, period_end, as_of : date or "YYYY-MM-DD", optional
        Override the engagement's period / as-of date.
    expected_count : int, optional
        The record count the client stated (overrides the declaration's ``stated_count``).
    second_sources : populations, optional
        Second sources given directly (then none are looked up in the engagement).
    round_ : Round, optional
        A testing round: its part of the period is the window, and its second sources are the populations
        delivered for it.

    Returns
    -------
    ValidationReport
    """
    f = _Findings(population.source_relative)
    schema = population.schema
    frame = population.frame
    key = population.key
    applicable: dict[str, str] = {}
    for finding in population.findings:
        f.add(*finding)
    n = len(frame)
    if n == 0:
        f.add("zero_records", None, None, 0, "info",
              f"0 records: {population.source_relative} has a header and no records; a recorded zero "
              f"(if the control operated, it did not occur in this population)")
    if population.timezone_assumed:
        f.add("timezone", None, None, population.timezone, "info",
              f"times without a zone were read as {population.timezone} wall-clock times")
    for note in population.notes:
        f.add("load_note", None, None, None, "info", note)

    # duplicate keys -------------------------------------------------------------------------
    keys = frame[key]
    if not _unique(keys):
        dup = keys.duplicated(keep=False).to_numpy() & keys.notna().to_numpy()
    else:
        dup = np.zeros(len(keys), dtype=bool)
    if dup.any():
        header = population.header_of(key)
        _event_log(population, keys, dup, f)
        rows = frame["source_row"].to_numpy()[dup]
        values = keys.to_numpy()[dup]
        counts = keys[dup].value_counts().to_dict()
        f.listed("duplicate_key", header, rows, values, "error",
                 lambda r, v: f"{key} {v!r} occurs {counts[v]} times (this is one of them); the key must "
                              f"identify one record: ask the client why, or deliver a corrected export")
    # required values ------------------------------------------------------------------------
    # an unparseable date is reported as date_parse, not again as missing
    bad_rows = {r for (rule, _, r, *_rest) in population.findings if rule == "date_parse"}
    for column in schema.required_values:
        column_values = frame[column]
        missing = column_values.isna().to_numpy()
        if column_values.dtype == "str" or column_values.dtype == object:
            blank = pc.utf8_is_space(pa.array(column_values.astype("str")))   # "" is already missing
            missing = missing | np.asarray(pc.fill_null(blank, False).to_numpy(zero_copy_only=False), dtype=bool)
        if column in schema.timestamps and bad_rows:
            missing = missing & ~frame["source_row"].isin(bad_rows).to_numpy()
        if missing.any():
            header = population.header_of(column)
            rows = frame["source_row"].to_numpy()[missing]
            ids = keys.to_numpy()[missing]
            f.listed("required_value", header, rows, ids, "error",
                     lambda r, v: (f"{column} is missing on the record {key} {v!r}" if column != key and
                                   not pd.isna(v) else f"the record has no {column}") +
                                  f"; every {schema.kind} record needs it: ask the client to complete the export")
    # required columns empty on every record ------------------------------------------------
    if n:
        for column in schema.required_columns:
            if column in schema.required_values or frame[column].notna().any():
                continue     # (a required value missing is reported record by record above)
            header = population.header_of(column)
            source = dict(population.column_sources).get(column, column)
            f.add("required_column", header, None, None, "error",
                  f"{column} is empty on every one of the {n:,} records (source: {source}); the {schema.kind} "
                  f"checks need it, so the export is incomplete or the wrong column feeds it"
                  + (": GitHub list exports leave reviews out, so no approval can be read; export the reviews "
                     "with the pull requests" if population.format == "github" and column in ("approver", "approved_at")
                     else ": map the right column (a column map), or ask the client for an export that carries it"))
    # date order -----------------------------------------------------------------------------
    for earlier, later, meaning in schema.order:
        a, b = frame[earlier], frame[later]
        a_us, b_us = utc_microseconds(a), utc_microseconds(b)
        wrong = (a_us != NAT_MICROSECONDS) & (b_us != NAT_MICROSECONDS) & (b_us < a_us)
        if wrong.any():
            rows = frame["source_row"].to_numpy()[wrong]
            ids = keys.to_numpy()[wrong]
            a_v, b_v = a.to_numpy()[wrong], b.to_numpy()[wrong]
            lookup = {r: (x, y) for r, x, y in zip(rows, a_v, b_v)}
            f.listed("date_order", population.header_of(later), rows, ids, "warning",
                     lambda r, v: f"{key} {v!r} {meaning}: {later} {lookup[r][1]} is before {earlier} "
                                  f"{lookup[r][0]}; confirm with the client")
    # scope: period / as-of ------------------------------------------------------------------
    if engagement is not None and round_ is not None and engagement.rounds and period_start is None \
            and period_end is None and as_of is None:
        period_start, period_end = round_.start, round_.end
    if engagement is not None and period_start is None and period_end is None and as_of is None:
        period_start, period_end, as_of = engagement.period_start, engagement.period_end, engagement.as_of
    scoped = None
    date_column = schema.date_column
    if date_column is None:
        applicable["out_of_period"] = "not applicable (a listing as of a date, taken whole)"
        applicable["month_gap"] = "not applicable (a listing)"
    elif as_of is not None or (period_start is not None and period_end is not None):
        scoped = scope_population(population, date_column=date_column, period_start=period_start,
                                  period_end=period_end, as_of=as_of)
        window = scoped.window_text
        for label, code in (("before", 1), ("after", 2), ("no_date", 3)):
            count = scoped.counts[label]
            if not count:
                continue
            rows = frame["source_row"].to_numpy()[scoped.status == code]
            what = {"before": "before the start of", "after": "after the end of",
                    "no_date": f"without {scoped.date_column}, so outside"}[label]
            severity = "warning"
            if label == "no_date" and population.kind in _OPTIONAL_DATE:
                what = f"{_OPTIONAL_DATE[population.kind]} (no {scoped.date_column}), so outside"
                severity = "info"
            f.add("out_of_period", population.header_of(date_column), None, count, severity,
                  f"{count:,} record(s) {what} the window ({window}) are excluded from the population "
                  f"(rows {_rows_text(rows)})")
        if scoped.mode == "period" and population.kind not in _MONTHLY_KINDS:
            applicable["month_gap"] = f"not applicable ({population.kind} need not occur every month)"
        elif scoped.mode == "period" and n:
            for month in scoped.months_without_records:
                f.add("month_gap", population.header_of(date_column), None, month, "warning",
                      f"no records with {scoped.date_column} in {month}: is the export complete for that month? "
                      f"(gaps in timing are a completeness red flag)")
        if scoped.mode != "period":
            applicable["month_gap"] = "not applicable (Type 1)"
    else:
        applicable["out_of_period"] = "not applicable (no period or as-of date given)"
        applicable["month_gap"] = "not applicable (no period given)"
    if scoped is not None and n == 0:
        applicable["month_gap"] = "not applicable (0 records)"
    # stated count ---------------------------------------------------------------------------
    stated: int | None = expected_count
    explained: str | None = None
    where: str | None = None
    if stated is None and population.declared is not None:
        stated = getattr(population.declared, "stated_count", None)
        explained = getattr(population.declared, "stated_count_note", None)
        where = f"[populations.{getattr(population.declared, 'id', population.name)}] of engagement.toml"
    if stated is not None:
        if int(stated) != n:
            what = (f"the file holds {n:,} record(s) but the client stated {int(stated):,} "
                    f"({n - int(stated):+,})")
            if explained:
                f.add("stated_count", None, None, n, "warning",
                      f"{what}; the engagement records why: {explained}")
            else:
                f.add("stated_count", None, None, n, "error",
                      f"{what}: the population may be incomplete, or not the file the count describes, so it "
                      f"cannot be tested as complete. Ask the client to explain the difference or to re-run the "
                      f"report" + (f"; once explained, record the explanation beside the count (stated_count_note "
                                   f"in {where})" if where else ""))
    else:
        applicable["stated_count"] = "not applicable (no stated count)"
    if n in EXPORT_CAPS:
        f.add("export_cap", None, None, n, "warning",
              f"exactly {n:,} records: the default export cap of "
              f"{'Jira (1,000 issues)' if n == 1000 else 'ServiceNow (10,000 rows)'}; the export may be "
              f"truncated: confirm the count in the source system")
    # exports known to leave records out ---------------------------------------------------
    _silent_filters(population, f)
    # Excel rewrites long numeric ids as 1.23457E+11: such keys no longer identify the record
    key_arrow = pa.array(frame[key]) if n and frame[key].dtype == "str" else None
    if key_arrow is not None and pc.any(pc.match_substring(key_arrow, "+")).as_py():
        sci = pc.match_substring_regex(key_arrow, r"^\s*[0-9](\.[0-9]+)?[eE]\+[0-9]+\s*$")
        sci = np.asarray(pc.fill_null(sci, False).to_numpy(zero_copy_only=False), dtype=bool)
        if sci.any():
            f.listed("excel_rewrite", population.header_of(key), frame["source_row"].to_numpy()[sci],
                     keys.to_numpy()[sci], "warning",
                     lambda r, v: f"{key} {v!r} looks like a number Excel rewrote in scientific notation; the "
                                  f"original id is lost: ask for the export as the system wrote it, not re-saved "
                                  f"in Excel")
    # second sources -------------------------------------------------------------------------
    others = _second_sources(population, engagement, second_sources, f, round_)
    if others:
        if population.kind == "terminations":
            _reconcile_terminations(population, others, _in_window(population, scoped), period_start, period_end,
                                    as_of, f)
        elif population.kind == "users":
            for other in others:   # each HR list against this listing: disabled accounts without a termination
                _reconcile_terminations(other, [population], _window(other, period_start, period_end, as_of),
                                        period_start, period_end, as_of, f, both_ways=False)
        else:
            for other in others:
                _reconcile(population, other, scoped, period_start, period_end, as_of, f)
    else:
        applicable["reconciliation"] = ("not applicable (no second source for this kind)"
                                        if population.kind not in _PARTNERS else "not run (no second source given)")
    findings = f.frame()
    return ValidationReport(population.name, population.source_relative, population.sha256, n, findings,
                            _checks_frame(findings, applicable), scoped, tuple(others))


def _event_log(population: Population, keys: pd.Series, dup: np.ndarray, f: _Findings) -> None:
    """Repeated keys in an event log (every key repeated, or a modification counter or update time): say so,
    and how to read it (the latest state of each record)."""
    repeated = int(dup.sum())
    every = repeated == int(keys.notna().sum())
    distinct = int(keys.nunique())
    if not ((every and distinct >= _EVENT_LOG_KEYS) or population.versioned_by):
        return   # a few records repeated by mistake are duplicates, not a log
    counters = [h for h in population.versioned_by if normalize_header(h) in VERSION_COUNTERS]
    times = [h for h in population.versioned_by if normalize_header(h) in UPDATE_TIMES]
    signs = ([f"a modification counter {counters[0]!r}"] if counters else []) + \
        ([f"an update time {times[0]!r}"] if times else [])
    f.add("event_log", population.header_of(population.key), None, repeated, "error",
          f"{population.source_relative} looks like an event log (an audit trail: one row per update of a "
          f"record), not one row per record: {len(keys):,} rows for {distinct:,} distinct {population.key} values, "
          + ("every one repeated" if every else f"{repeated:,} rows with a repeated {population.key}")
          + (f", with {' and '.join(signs)}" if signs else "")
          + ". To test the latest state of each record, load it with --latest-per-key (check-population) or "
            "history = \"latest\" in its [populations.<id>] table of engagement.toml (the earlier states are kept "
            "for the workpaper); otherwise ask the client for a list with one row per record")


def _silent_filters(population: Population, f: _Findings) -> None:
    """Exports that look complete but leave records out by default (formats.md)."""
    frame = population.frame
    if population.format == "okta" and len(frame):
        if not (frame["status"] == "DEPROVISIONED").fillna(False).any():
            f.add("listing_filter", population.header_of("status"), None, "DEPROVISIONED", "warning",
                  "the Okta listing holds no DEPROVISIONED user: Okta's List Users API leaves them out unless "
                  "asked, so terminated users may be missing; confirm the export included every status")
    elif population.format == "entra":
        f.add("listing_filter", None, None, None, "info",
              "an Entra ID download leaves out deleted users (kept 30 days under Deleted users) and follows the "
              "portal's filter at the time: confirm no filter was applied")
    elif population.format == "aws-iam":
        f.add("listing_filter", None, None, None, "info",
              "the IAM credential report lists IAM users only: people who sign in through IAM Identity "
              "Center (SSO) are not in it")


_PARTNERS = {"changes": ("deployments",), "deployments": ("changes",), "terminations": ("users",),
             "users": ("terminations",)}


def _second_sources(population: Population, engagement: Engagement | None,
                    given: Mapping[str, Population] | Iterable[Population] | None, f: _Findings,
                    round_: Round | None = None) -> list[Population]:
    if given is not None:
        items = list(given.values()) if isinstance(given, Mapping) else list(given)
        return [p for p in items if p.kind in _PARTNERS.get(population.kind, ())]
    if engagement is None or population.kind not in _PARTNERS:
        return []
    loaded = []
    usable = set(engagement.round_populations(round_)) if round_ is not None else set(engagement.populations)
    for pid, source in engagement.populations.items():
        if source.kind not in _PARTNERS[population.kind] or pid == population.name or pid not in usable:
            continue
        try:
            loaded.append(load_population(engagement, pid))
        except PopulationError as err:
            f.add("second_source", None, None, pid, "warning",
                  f"second source {pid!r} could not be loaded, so it was not reconciled: {err}")
    return loaded


def _norm(values: pd.Series) -> pd.Series:
    return values.astype("str").str.strip().str.lower()


def _in_window(population: Population, scoped: ScopedPopulation | None) -> np.ndarray:
    return np.ones(len(population.frame), dtype=bool) if scoped is None else scoped.in_scope


def _window(other: Population, period_start: DateLike | None, period_end: DateLike | None, as_of: DateLike | None,
            date_column: str | None = None) -> np.ndarray:
    """Records of ``other`` in the window by ``date_column`` (default its kind's); all without a window."""
    if as_of is None and (period_start is None or period_end is None):
        return np.ones(len(other.frame), dtype=bool)
    return scope_population(other, date_column=date_column, period_start=period_start, period_end=period_end,
                            as_of=as_of).in_scope


def _reconcile(population: Population, other: Population, scoped: ScopedPopulation | None,
               period_start: DateLike | None, period_end: DateLike | None, as_of: DateLike | None,
               f: _Findings) -> None:
    mine_in = _in_window(population, scoped)
    theirs_in = _window(other, period_start, period_end, as_of)
    kinds = {population.kind, other.kind}
    if kinds == {"changes", "deployments"}:
        changes, deployments = (population, other) if population.kind == "changes" else (other, population)
        ch_in, dep_in = (mine_in, theirs_in) if population.kind == "changes" else (theirs_in, mine_in)
        _reconcile_changes(changes, deployments, ch_in, dep_in, f)


def _reconcile_changes(changes: Population, deployments: Population, ch_in: np.ndarray, dep_in: np.ndarray,
                       f: _Findings) -> None:
    dep = deployments.frame
    env = dep["environment"]
    production = np.ones(len(dep), dtype=bool)
    if env.notna().any():
        low = _norm(env)
        if low.isin(_PRODUCTION).any():
            production = low.isin(_PRODUCTION).to_numpy()
    change_ids = set(_norm(changes.frame["change_id"]).dropna())
    dep_change = _norm(dep["change_id"])
    deployed_ids = set(dep_change[production].dropna())
    # deployments without a ticket
    dep_sel = dep_in & production
    no_ticket = dep_sel & ~dep_change.isin(change_ids).to_numpy()
    for row, dep_id, chg in zip(dep["source_row"].to_numpy()[no_ticket], dep["deployment_id"].to_numpy()[no_ticket],
                                dep["change_id"].to_numpy()[no_ticket]):
        what = "names no change ticket" if pd.isna(chg) else f"names change {chg!r}, which is not in {changes.source_relative}"
        f.add("reconciliation", deployments.header_of("change_id"), row, dep_id, "warning",
              f"deployment {dep_id!r} ({deployments.source_relative} row {row}) {what}: a deploy without a "
              f"ticket; the change population may be incomplete: ask the client", where=False)
    # tickets without a deployment
    ch = changes.frame
    ch_ids = _norm(ch["change_id"])
    no_deploy = ch_in & ~ch_ids.isin(deployed_ids).to_numpy()
    for row, cid in zip(ch["source_row"].to_numpy()[no_deploy], ch["change_id"].to_numpy()[no_deploy]):
        f.add("reconciliation", changes.header_of("change_id"), row, cid, "warning",
              f"change {cid!r} ({changes.source_relative} row {row}) has no deployment in "
              f"{deployments.source_relative}: a ticket without a deploy; confirm it reached production", where=False)
    f.add("second_source", None, None, deployments.name, "info",
          f"changes reconciled with deployments: {int(dep_sel.sum()):,} production deployment(s) in the window, "
          f"{int(no_ticket.sum()):,} without a change; {int(ch_in.sum()):,} change(s) in the window, "
          f"{int(no_deploy.sum()):,} without a deployment")


def _identifiers(frame: pd.DataFrame, columns: tuple[str, ...]) -> list[set[str]]:
    ids: list[set[str]] = [set() for _ in range(len(frame))]
    for column in columns:
        if column not in frame:
            continue
        values = _norm(frame[column]).to_numpy()
        for i, v in enumerate(values):
            if isinstance(v, str) and v:
                ids[i].add(v)
    return ids


def _unmatched(candidates: np.ndarray, ids: list[set[str]], known: set[str]) -> list[int]:
    """Positions flagged in ``candidates`` whose identifiers match none of ``known``."""
    return [int(i) for i in np.flatnonzero(candidates) if not ids[i] & known]


def _reconcile_terminations(terms: Population, listings: list[Population], t_in: np.ndarray,
                            period_start: DateLike | None, period_end: DateLike | None, as_of: DateLike | None,
                            f: _Findings, *, both_ways: bool = True) -> None:
    """Terminations vs user listings.

    HR -> listings: a person terminated in the window must have an account in at least one listing
    (matched on user id, e-mail or employee id, case-insensitively); listings -> HR: an account
    deprovisioned in the window (``disabled_at``) must match a termination (any date).
    """
    t = terms.frame
    term_ids = _identifiers(t, ("user_id", "email", "employee_id"))
    has_date = t["terminated_at"].notna().to_numpy()
    all_terminated = set().union(*(ids for ids, flag in zip(term_ids, has_date) if flag)) if len(t) else set()
    terminated = has_date & t_in
    listing_ids = [_identifiers(users.frame, ("user_id", "email")) for users in listings]
    if both_ways:
        known: set[str] = set().union(*(ids for user_ids in listing_ids for ids in user_ids))
        names = ", ".join(u.source_relative for u in listings)
        missing = _unmatched(terminated, term_ids, known)
        for i in missing:
            row, emp = t["source_row"].iloc[i], t["employee_id"].iloc[i]
            f.add("reconciliation", terms.header_of("employee_id"), row, emp, "warning",
                  f"terminated person {emp!r} ({terms.source_relative} row {row}) has no account in any user "
                  f"listing ({names}): deleted, never had one, or a listing is incomplete (downloads that omit "
                  f"deleted or deprovisioned users); confirm", where=False)
        f.add("second_source", None, None, names, "info",
              f"terminations reconciled with {names}: {int(terminated.sum()):,} termination(s) in the window, "
              f"{len(missing):,} with no account in any listing")
    for users, user_ids in zip(listings, listing_ids):
        u = users.frame
        dated = u["disabled_at"].notna().to_numpy()
        if not dated.any():
            disabled = int((u["active"] == False).fillna(False).sum())  # noqa: E712
            f.add("second_source", None, None, users.name, "info",
                  f"{users.source_relative} has no disable dates, so its {disabled:,} inactive account(s) could not "
                  f"be matched to terminations in the window")
            continue
        candidates = dated & _window(users, period_start, period_end, as_of, "disabled_at")
        orphans = _unmatched(candidates, user_ids, all_terminated)
        for i in orphans:
            row, uid = u["source_row"].iloc[i], u["user_id"].iloc[i]
            f.add("reconciliation", users.header_of("user_id"), row, uid, "warning",
                  f"account {uid!r} ({users.source_relative} row {row}) was deprovisioned in the window but has no "
                  f"termination in {terms.source_relative}: a transfer, a contractor, or an incomplete HR list; "
                  f"confirm", where=False)
        f.add("second_source", None, None, users.name, "info",
              f"{users.source_relative}: {int(candidates.sum()):,} account(s) deprovisioned in the window, "
              f"{len(orphans):,} with no termination in {terms.source_relative}")


def check_population(path: str | os.PathLike[str] | None = None, *, kind: str | None = None,
                     format: str | None = None, engagement: Engagement | None = None,
                     population_id: str | None = None, columns: Mapping[str, str] | None = None,
                     records: str | None = None, history: str | None = None, timezone: str | None = None,
                     period_start: DateLike | None = None, period_end: DateLike | None = None,
                     as_of: DateLike | None = None,
                     expected_count: int | None = None) -> tuple[Population | None, ValidationReport]:
    """Load and validate one file, for ``workbench check-population``: never raises for a bad file.

    Parameters
    ----------
    path : path-like, optional
        The file; default the file of ``population_id`` in the engagement.
    kind, format, timezone, records, history
        As :func:`workbench.population.load_population_file` (the zone defaults to the engagement's). Default:
        the engagement's declaration of the population (named, or the one whose file ``path`` is), else
        ``format="auto"``, ``history="all"``. ``kind`` is required without a declaration.
    engagement : Engagement, optional
        Supplies zone, period, stated count (when the file is one of its populations) and second sources.
    population_id : str, optional
        With ``engagement``: check ``path`` as this population (its kind, format, column map, records,
        history and stated count), e.g. a new version received outside the folder.
    columns : mapping, optional
        Column map, canonical column -> header; wins over the declaration's map, column by column.
    period_start, period_end, as_of, expected_count
        As :func:`validate`.

    Returns
    -------
    (Population or None, ValidationReport)
        The population is None when the file could not be loaded; the report then holds one error
        finding naming the file (and row/column) and what to do.

    Raises
    ------
    EngagementError
        ``population_id`` is not declared in the engagement (the message lists the ids).
    ParameterError
        No file and no population to check; ``kind`` missing or not the declared population's kind.
    """
    declared = None
    name = None
    base = None
    notes: list[str] = []
    if engagement is not None:
        base = engagement.folder
        if population_id is not None:
            declared = engagement.population(population_id)
        elif path is not None:
            for source in engagement.populations.values():
                try:
                    same = Path(source.path).resolve() == Path(path).resolve()
                except OSError:
                    same = False
                if same:
                    declared = source
                    break
            else:
                notes.append(f"{path} is not one of the engagement's populations, so no declaration applies (column "
                             f"map, stated count); name one with --population ID to check the file as that population")
        timezone = timezone or engagement.timezone
    elif population_id is not None:
        raise ParameterError(f"population {population_id!r} names a population of an engagement; give the engagement "
                             f"folder too (--engagement DIR)")
    if path is None:
        if declared is None:
            raise ParameterError("no file to check: give the export's path, or --engagement DIR with --population ID")
        path = declared.path
    path = Path(path)
    if declared is not None:
        name = declared.id
        if kind is not None and kind != declared.kind:
            raise ParameterError(f"--kind {kind} contradicts population {declared.id!r}, which engagement.toml declares "
                                 f"as kind {declared.kind!r}; leave --kind out to use the declaration")
        kind = declared.kind
        format = format or declared.format
        records = records or declared.records
        history = history or declared.history
        columns = {**dict(declared.columns or {}), **dict(columns or {})}
    if kind is None:
        raise ParameterError("the population's kind is needed: give --kind KIND (or --engagement DIR --population ID)")
    try:
        population = load_population_file(path, kind=kind, format=format or "auto", timezone=timezone,
                                          columns=columns or None, name=name, base_folder=base, declared=declared,
                                          records=records, history=history or "all")
    except PopulationError as err:
        return None, _failed_report(name or path.name, str(path), err)
    if notes:
        population = replace(population, notes=population.notes + tuple(notes))
    report = validate(population, engagement, period_start=period_start, period_end=period_end, as_of=as_of,
                      expected_count=expected_count)
    return population, report


def validate_populations(populations: Iterable[Population], engagement: Engagement) -> tuple[ValidationReport, ...]:
    """Validate the population of each testing round (:func:`workbench.population.load_populations`)."""
    loaded = tuple(populations)
    rounds = engagement.test_rounds()
    if len(loaded) != len(rounds):
        raise ValueError(f"{len(loaded)} population(s) for {len(rounds)} round(s); load them with load_populations.")
    return tuple(validate(population, engagement, round_=round_) for population, round_ in zip(loaded, rounds))


def populations_read(populations: Iterable[Population], reports: Iterable[ValidationReport]) -> tuple[Population, ...]:
    """Every population a test reads: the one tested in each round, then the second sources its validation
    reconciled (each once), for the receipt stage (:func:`workbench.receipt.pin_populations`)."""
    read = list(populations) + [source for report in reports for source in report.second_sources]
    return tuple({population.name: population for population in reversed(read)}[name]
                 for name in dict.fromkeys(p.name for p in read))


def ensure_usable(*reports: ValidationReport) -> None:
    """Stop when a validation report has errors: the population cannot be sampled.

    Raises
    ------
    PopulationError
        Naming every error finding (rule, column, row, message) of the first unusable report, so the user
        knows what to ask the client for.
    """
    report = next((r for r in reports if not r.usable), None)
    if report is None:
        return
    errors = report.errors
    shown = [f"  - {row['rule']}"
             + (f", column {row['column']!r}" if _present(row["column"]) else "")
             + (f", row {row['row']}" if _present(row["row"]) else "")
             + f": {row['message']}"
             for row in errors.head(_ERRORS_SHOWN).to_dict("records")]
    more = len(errors) - len(shown)
    if more > 0:
        shown.append(f"  - and {more} more (the validation report lists them all)")
    raise PopulationError(
        f"{report.source}: {len(errors)} error(s) in the completeness and accuracy checks; the population "
        "cannot be sampled until they are resolved (ask the client for a corrected export, then deliver it "
        "as a new version):\n" + "\n".join(shown))


_ERRORS_SHOWN = 5
_SHOWN = 20          # errors and warnings a summary shows one by one
_EVENT_LOG_KEYS = 10  # distinct keys, every one repeated, that make a file look like an event log


def _present(value: object) -> bool:
    return value is not None and str(value) not in {"", "nan", "<NA>", "None"}


#: The procedure that tests each reconciliation over the full population: a difference found while validating
#: a population is an exception of the control tested with it, never a bare warning.
RECONCILIATION_PROCEDURES: dict[str, str] = {
    "changes": "deployment_reconciliation", "deployments": "deployment_reconciliation",
    "terminations": "user_deprovisioning", "users": "user_deprovisioning",
}


def covering_procedure(report: ValidationReport) -> str | None:
    """The procedure that answers the report's reconciliation differences (by the population's kind)."""
    kinds = {source.kind for source in report.second_sources}
    for kind in sorted(kinds):
        if kind in RECONCILIATION_PROCEDURES:
            return RECONCILIATION_PROCEDURES[kind]
    return None


def covering_controls(engagement: Engagement, report: ValidationReport) -> tuple[Control, ...]:
    """The controls of the matrix tested with the procedure that answers the report's reconciliation."""
    procedure = covering_procedure(report)
    return tuple(c for c in engagement.controls if procedure is not None and c.procedure == procedure)
