"""The testing stage: the control's attributes, automated over the full population, manual per sampled item.

::

    testing = test_attributes(procedure, control, scope, selection, engagement) -> AttributeTesting

Automated attributes run once over the *full* population in scope (census analytics: every exception is
listed with its id) and the sample reads its rows of that result; manual attributes come from the results store
(:mod:`workbench.results`), and a sampled item without a recorded manual result is "not tested". A manual
attribute that relies on other controls (``Attribute.relies_on``: an automated control's reliance on the IT
general controls) reads their recorded conclusions instead (:mod:`workbench.reliance`; source
``recorded conclusions``).

A control attribute that fails is a deviation of the control. An *accuracy* attribute (the sampled item's
data agreed to the source system; :data:`workbench.procedures.base.ACCURACY`) that fails is a finding on
the population instead: the export cannot be relied on as produced, so the full-population results that
rest on it are not relied on (:attr:`AttributeTesting.census_relied_on`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workbench.display import SummaryText, escape, html_card, html_details, html_table, short_date, stale_note
from workbench.engagement import Control, Engagement
from workbench.errors import PopulationError
from workbench.freshness import StoreMark, mark_store
from workbench.procedures import Attribute, Procedure
from workbench.formats.schemas import SCHEMAS
from workbench.policy import resolve_policy
from workbench.procedures.base import (
    FAIL,
    CheckContext,
    RelatedFrame,
    NOT_APPLICABLE,
    NOT_PERFORMED,
    NOT_TESTED,
    PASS,
)
from workbench.reliance import Reliance, reliance_of
from workbench.results import read_results
from workbench.sample import ControlSelection
from workbench.scope import ControlScope, scope_window

__all__ = [
    "MATRIX_OUTCOMES",
    "OVERRIDE_SOURCE",
    "AttributeTesting",
    "test_attributes",
]

#: ``source`` of a sampled item's automated attribute whose computed outcome the tester overrode (with a reason).
OVERRIDE_SOURCE = "override"
#: What a cell of the testing matrix can read.
MATRIX_OUTCOMES: tuple[str, ...] = (PASS, FAIL, NOT_APPLICABLE, NOT_PERFORMED, NOT_TESTED)


# ------------------------------------------------------------------------------------------------
# Test
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class AttributeTesting(SummaryText):
    """The attributes tested for one control: sample matrix and full-population analytics.

    Attributes
    ----------
    procedure : Procedure
    control_id : str
    attributes : tuple of Attribute
        The attributes the control tests, in matrix order.
    key_column, date_column : str
    population_count : int
        Items in scope (the full population the automated attributes ran over).
    sample_keys : tuple of str
        The selected keys in selection order.
    items : pandas.DataFrame
        One row per selected item in selection order: ``sample_no``, the key column, the date column and the
        procedure's ``matrix_columns`` (the data automated attributes were computed from), as in the population;
        ``round`` when the control is tested in several rounds and ``stage`` once the sample was extended.
    item_results : pandas.DataFrame
        Tidy: one row per (sampled item, attribute): ``sample_no, item_key, item_date, attribute_id, label,
        kind, outcome, reason, evidence_ref, comment, tested_by, tested_at, source`` where outcome is one of
        :data:`MATRIX_OUTCOMES` and source is ``automated`` (computed), ``results store``, ``override`` (an
        automated outcome the tester replaced, with the reason; :data:`OVERRIDE_SOURCE`) or ``""`` (not tested).
    population_results : pandas.DataFrame
        One row per automated attribute over the full population: ``attribute_id, label, population, pass,
        fail, n/a, not performed, fail_in_sample, fail_outside_sample``.
    full_population_exceptions : pandas.DataFrame
        One row per (record, failed automated attribute) in the full population: ``item_key, item_date,
        source_row, attribute_id, label, deviation, reason, in_sample, sample_no``.
    notes : tuple of str
    record_outcomes : pandas.DataFrame or None
        The census itself: one row per record in scope, in the population's order: the key column, the date
        column (when the population has it), ``source_row``, ``round`` (several rounds), ``sample_no`` (blank
        outside the sample), then one column per automated attribute computed record by record (named by
        the attribute id) holding its outcome, and ``failed`` (the ids of the attributes that failed, joined
        with "; "). The workpaper's "Population listing" sheet lays it out.
    """

    procedure: Procedure
    control_id: str
    attributes: tuple[Attribute, ...]
    key_column: str
    date_column: str
    population_count: int
    sample_keys: tuple[str, ...]
    items: pd.DataFrame = field(repr=False)
    item_results: pd.DataFrame = field(repr=False)
    population_results: pd.DataFrame = field(repr=False)
    full_population_exceptions: pd.DataFrame = field(repr=False)
    notes: tuple[str, ...] = ()
    #: the results store's last entry about the control when the manual results were read (stale display)
    store_mark: StoreMark | None = field(default=None, repr=False)
    record_outcomes: pd.DataFrame | None = field(default=None, repr=False)

    # -- per item --------------------------------------------------------------------------------
    @property
    def sample_size(self) -> int:
        """Items selected."""
        return len(self.sample_keys)

    @property
    def control_attributes(self) -> tuple[Attribute, ...]:
        """The attributes that test the control (a failure is a deviation)."""
        return tuple(a for a in self.attributes if not a.accuracy)

    @property
    def accuracy_attributes(self) -> tuple[Attribute, ...]:
        """The accuracy checks (a failure is a finding on the population)."""
        return tuple(a for a in self.attributes if a.accuracy)

    def _by_item(self) -> pd.DataFrame:
        r = self.item_results
        control_ids = {a.id for a in self.control_attributes}
        is_control = r["attribute_id"].isin(control_ids)
        grouped = pd.DataFrame({
            "sample_no": r["sample_no"],
            "fail": (r["outcome"] == FAIL) & is_control,
            "mismatch": (r["outcome"] == FAIL) & ~is_control,
            "untested": r["outcome"] == NOT_TESTED,
        }).groupby("sample_no", sort=True)[["fail", "mismatch", "untested"]].any()
        return grouped.reindex(range(1, self.sample_size + 1), fill_value=False)

    @property
    def items_tested(self) -> int:
        """Selected items with every attribute concluded (no "not tested" cell)."""
        return int((~self._by_item()["untested"]).sum())

    @property
    def complete(self) -> bool:
        """Every selected item is tested on every attribute."""
        return self.items_tested == self.sample_size

    @property
    def deviations(self) -> int:
        """Selected items with at least one failed control attribute (an item is one deviation however many
        fail; an accuracy mismatch is a population finding, not a deviation)."""
        return int(self._by_item()["fail"].sum())

    def deviations_in_stage(self, stage: int, *, sample_only: bool = False) -> int:
        """Deviating selected items of one stage (1, or 2 once extended); with ``sample_only`` only the failures
        of manual control attributes count (what only the sample tested: a census exception that happens to
        be sampled is a known deviation, evaluated on its own, not a sampling result)."""
        r = self.item_results
        ids = {a.id for a in self.control_attributes if not sample_only or not a.automated}
        failed = (r["outcome"] == FAIL) & r["attribute_id"].isin(ids)
        per_item = failed.groupby(r["sample_no"]).any().reindex(range(1, self.sample_size + 1), fill_value=False)
        by_item = per_item.to_numpy(dtype=bool)
        if "stage" not in self.items.columns:
            return int(by_item.sum()) if stage == 1 else 0
        return int((by_item & (self.items["stage"].to_numpy() == stage)).sum())

    def deviations_by_attribute(self) -> dict[str, int]:
        """Failed sampled items per control attribute id (every control attribute present, zero when none)."""
        r = self.item_results
        counts = r.loc[r["outcome"] == FAIL, "attribute_id"].value_counts()
        return {a.id: int(counts.get(a.id, 0)) for a in self.control_attributes}

    def untested_by_attribute(self) -> dict[str, int]:
        """Sampled items without a recorded result, per manual attribute id."""
        r = self.item_results
        counts = r.loc[r["outcome"] == NOT_TESTED, "attribute_id"].value_counts()
        return {a.id: int(counts.get(a.id, 0)) for a in self.attributes if not a.automated}

    def accuracy_failures(self) -> pd.DataFrame:
        """Sampled items whose data did not agree to the source: ``sample_no, item_key, attribute_id, label,
        reason, evidence_ref, tested_by`` (population findings)."""
        r = self.item_results
        ids = {a.id for a in self.accuracy_attributes}
        failed = r.loc[(r["outcome"] == FAIL) & r["attribute_id"].isin(ids)]
        return failed[["sample_no", "item_key", "attribute_id", "label", "reason", "evidence_ref",
                       "tested_by"]].reset_index(drop=True)

    @property
    def census_relied_on(self) -> bool:
        """Whether the full-population results can be relied on: every sampled item agreed to source (or the
        control tests no automated attribute). False once any sampled item's data differs from the source."""
        return not bool(self._by_item()["mismatch"].any())

    def sample_exceptions(self) -> pd.DataFrame:
        """Failed control-attribute cells of the sample: ``sample_no, item_key, item_date, attribute_id, label,
        deviation, reason, evidence_ref``."""
        r = self.item_results
        control_ids = {a.id for a in self.control_attributes}
        failed = r.loc[(r["outcome"] == FAIL) & r["attribute_id"].isin(control_ids)].copy()
        wording = {a.id: a.deviation_wording for a in self.attributes}
        failed["deviation"] = failed["attribute_id"].map(wording)
        return failed[["sample_no", "item_key", "item_date", "attribute_id", "label", "deviation", "reason",
                       "evidence_ref"]].reset_index(drop=True)

    def to_frame(self) -> pd.DataFrame:
        """The testing matrix: one row per selected item in selection order, one column per attribute.

        Columns: ``sample_no``, the key column, the date column, the procedure's ``matrix_columns``, one column
        per attribute id (pass | fail | n/a | not performed | not tested), ``deviation`` (yes | no | pending),
        ``reason`` (every failing or not-performed attribute with its reason, ``; ``-separated),
        ``evidence_ref``, ``comment``, ``tested_by``.
        """
        r = self.item_results
        columns = list(self.items.columns) + [a.id for a in self.attributes] + [
            "deviation", "reason", "evidence_ref", "comment", "tested_by"]
        if self.sample_size == 0:
            return pd.DataFrame(columns=columns)
        wide = r.pivot(index="sample_no", columns="attribute_id", values="outcome")
        by_item = self._by_item()
        out = self.items.reset_index(drop=True).copy()
        for a in self.attributes:
            out[a.id] = wide[a.id].to_numpy()
        deviation = np.where(by_item["fail"].to_numpy(), "yes",
                             np.where(by_item["mismatch"].to_numpy(), "source mismatch",
                                      np.where(by_item["untested"].to_numpy(), "pending", "no")))
        out["deviation"] = deviation
        out["reason"] = _joined(r, "reason", with_attribute=True)
        out["evidence_ref"] = _joined(r, "evidence_ref")
        out["comment"] = _joined(r, "comment", with_attribute=True)
        out["tested_by"] = _joined(r, "tested_by")
        return out[columns]

    def summary(self) -> str:
        """Counts in a few lines: items tested, deviations, full-population exceptions."""
        lines = [f"{self.control_id} ({self.procedure.name}): {self.items_tested} of {self.sample_size} "
                 f"sampled items tested, {self.deviations} with a deviation; full population "
                 f"{self.population_count:,} {self.procedure.item_noun_plural}."]
        dev = self.deviations_by_attribute()
        untested = self.untested_by_attribute()
        mismatches = self.accuracy_failures()
        for a in self.attributes:
            failed = dev[a.id] if a.id in dev else int((mismatches["attribute_id"] == a.id).sum())
            role = " (accuracy: a failure is a population finding)" if a.accuracy else ""
            line = f"  {a.id} [{a.kind}]{role}: {failed} failed in the sample"
            if a.automated:
                row = self.population_results.loc[self.population_results["attribute_id"] == a.id]
                if len(row):
                    line += (f"; {int(row['fail'].iloc[0])} in the full population "
                             f"({int(row['fail_outside_sample'].iloc[0])} outside the sample)")
            else:
                line += f"; {untested[a.id]} not tested yet"
            lines.append(line)
        lines += [f"  - {note}" for note in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The testing matrix fitting a laptop: item, each attribute, deviation and reason first; short dates; no
        index; the item's other fields folded below; what is still untested; stale when results were recorded
        since it was computed."""
        matrix = self.to_frame()
        colours = {PASS: "#2e7d32", FAIL: "#c62828", NOT_TESTED: "#9e9e9e", NOT_PERFORMED: "#ef6c00"}
        names = list(matrix.columns)
        width = len(self.items.columns)      # the item's own columns come first (a name may recur after them)

        def last(name: str) -> int:
            return len(names) - 1 - names[::-1].index(name)

        attribute_ids = [a.id for a in self.attributes]
        cells = matrix.to_numpy()
        recorded = [(last(name), label) for name, label in (("evidence_ref", "evidence"), ("comment", "comment"),
                                                           ("tested_by", "tested by"))
                    if any(str(value or "").strip() for value in cells[:, last(name)])]
        key_at = names.index(self.key_column)
        rest = [i for i in range(width) if names[i] not in ("sample_no", self.key_column)]
        columns = ["#", "item", *(a.label for a in self.attributes), "deviation", "reason",
                   *(label for _, label in recorded)]
        rows, fields = [], []
        for row in cells:
            outcomes = [f"<span style='color:{colours.get(str(row[last(a)]), '#333')};white-space:nowrap'>"
                        f"{escape(row[last(a)])}</span>" for a in attribute_ids]
            deviation = str(row[last("deviation")])
            flagged = (f"<b style='color:#c62828'>{escape(deviation)}</b>" if deviation == "yes"
                       else escape(deviation))
            rows.append([str(row[names.index("sample_no")]), escape(row[key_at]), *outcomes, flagged,
                         escape(row[last("reason")]), *(escape(row[i]) for i, _ in recorded)])
            fields.append([str(row[names.index("sample_no")]), str(row[key_at]), *(short_date(row[i]) for i in rest)])
        rest_names = [names[i] for i in rest]
        table = html_table(rows, columns, html_cells=range(len(columns)),
                           nowrap=(0, 1, 2 + len(attribute_ids)), css_class="wb-matrix")
        more = html_details(f"The items' fields ({', '.join(rest_names)})",
                            html_table(fields, ["#", "item", *rest_names], nowrap=range(len(rest) + 2))) if rest else ""
        untested = {a: n for a, n in self.untested_by_attribute().items() if n}
        pending = ("; ".join(f"{self.procedure.attribute(a).label}: {n} item(s)" for a, n in untested.items())
                   if untested else "nothing: every sampled item is tested")
        head = [("Tested", f"{self.items_tested} of {self.sample_size} sampled items; {self.deviations} with a "
                           f"deviation; full population {self.population_count:,} "
                           f"{escape(self.procedure.item_noun_plural)}"),
                ("Still untested", escape(pending))]
        notes = "".join(f"<div style='color:#555'>{escape(note)}</div>" for note in self.notes)
        return html_card(f"{self.control_id}: testing matrix", head, body=f"{table}{more}{notes}",
                         note=stale_note(self.store_mark, "testing matrix"), css_class="wb-testing")


def _joined(results: pd.DataFrame, column: str, *, with_attribute: bool = False) -> np.ndarray:
    """Per sample_no, the non-empty values of ``column`` joined with '; ' (prefixed with the attribute id)."""
    out: dict[int, list[str]] = {}
    for sample_no, attribute_id, value in zip(results["sample_no"], results["attribute_id"], results[column]):
        parts = out.setdefault(int(sample_no), [])
        if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
            continue
        text = f"{attribute_id}: {value}" if with_attribute else str(value)
        if text not in parts:
            parts.append(text)
    return np.array(["; ".join(out[k]) for k in sorted(out)], dtype=object)


def test_attributes(procedure: Procedure, control: Control, scope: ControlScope, selection: ControlSelection,
                    engagement: Engagement, *, since: AttributeTesting | None = None) -> AttributeTesting:
    """Test the control's attributes: automated ones over the full population, all of them for the sample.

    Parameters
    ----------
    procedure : Procedure
    control : Control
        Its ``attributes`` (blank = all of the procedure's) and ``id`` (the results store's control id).
    scope : ControlScope
        The records in scope in every round (``frame``).
    selection : ControlSelection
        The selected keys in selection order, round by round.
    engagement : Engagement
        Its folder holds the results store (read, never created here).
    since : AttributeTesting, optional
        An earlier result of the same test: returned as it is when nothing about the control was recorded since
        it was computed (a notebook's evaluation cell passes the testing above it, so that running the cell
        again after recording shows the results recorded since).

    Returns
    -------
    AttributeTesting

    Raises
    ------
    PopulationError
        A column an automated attribute needs is missing, or a selected key is not in the population.
    EngagementError
        The control names an attribute the procedure does not have.
    """
    if (since is not None and since.store_mark is not None and since.control_id == control.id
            and since.sample_keys == tuple(str(k) for k in selection.keys) and not since.store_mark.entries_since()):
        return since
    frame = scope.frame
    attributes = procedure.select_attributes(control.attributes)
    key_column, date_column = procedure.key_column, procedure.date_column
    if key_column not in frame.columns:
        raise PopulationError(f"the population has no key column {key_column!r}, which procedure "
                              f"{procedure.name!r} needs.")
    keys = frame[key_column].astype(str)
    duplicated = keys[keys.duplicated()]
    if len(duplicated):
        raise PopulationError(f"key column {key_column!r} has duplicate values ({', '.join(duplicated.iloc[:5])}); "
                              f"resolve them with the client before testing (validate() lists every duplicate).")
    sample_keys = tuple(str(k) for k in selection.keys)
    position = pd.Series(np.arange(len(frame)), index=keys.to_numpy())
    missing = [k for k in sample_keys if k not in position.index]
    if missing:
        raise PopulationError(f"selected key(s) {', '.join(missing[:5])} are not in the population in scope; "
                              f"the selection was drawn from another population. Select again.")
    rows = position.loc[list(sample_keys)].to_numpy() if sample_keys else np.array([], dtype=int)
    sample_no_of = {k: i for i, k in enumerate(sample_keys, start=1)}
    notes: list[str] = []

    # automated attributes over the full population (census analytics)
    policy = resolve_policy(engagement, control, procedure)
    first, last = scope.parts[0], scope.parts[-1]
    window = _engagement_window(engagement)     # a listing is taken whole: its checks still need the window
    context = CheckContext(
        policy=policy.values,
        related=tuple(RelatedFrame(p.population.name, p.population.kind, p.population.frame, p.in_scope,
                                   p.population.source_relative) for p in scope.related),
        timezone=engagement.timezone,
        window_start=first.start if isinstance(first.start, pd.Timestamp) else window[0],
        window_end=last.end if isinstance(last.end, pd.Timestamp) else window[1],
        population=_whole_population(scope))
    checks = procedure.run_checks(frame, attributes, context)
    population_rows, exception_frames = [], []
    in_sample = keys.isin(set(sample_keys)).to_numpy()
    dates = frame[date_column] if date_column in frame.columns else pd.Series(pd.NaT, index=frame.index)
    key_values = keys.to_numpy()
    source_rows = (frame["source_row"].to_numpy() if "source_row" in frame.columns
                   else np.arange(2, len(frame) + 2))
    for attribute_id, check in checks.items():
        counts = check.counts()
        failed = check.failed.to_numpy()
        attribute = procedure.attribute(attribute_id)
        population_rows.append({
            "attribute_id": attribute_id, "label": attribute.label, "population": len(frame),
            "pass": counts[PASS], "fail": counts[FAIL], "n/a": counts[NOT_APPLICABLE],
            "not performed": counts[NOT_PERFORMED],
            "fail_in_sample": int((failed & in_sample).sum()),
            "fail_outside_sample": int((failed & ~in_sample).sum()),
        })
        if failed.any():
            exception_frames.append(pd.DataFrame({
                "item_key": key_values[failed],
                "item_date": dates[failed].to_numpy(),  # only the failing rows: converting every date is slow
                "source_row": source_rows[failed],
                "attribute_id": attribute_id,
                "label": attribute.label,
                "deviation": attribute.deviation_wording,
                "reason": check.reason.to_numpy()[failed],
                "in_sample": in_sample[failed],
                "round": frame["round"].to_numpy()[failed] if "round" in frame.columns else None,
            }))
    # automated attributes over a related population (every deployed change has a deployment, ...)
    for attribute_id, (others, check) in procedure.run_related_checks(frame, attributes, context).items():
        attribute = procedure.attribute(attribute_id)
        counts = check.counts()
        failed = check.failed.to_numpy()
        population_rows.append({
            "attribute_id": attribute_id, "label": attribute.label, "population": len(others),
            "pass": counts[PASS], "fail": counts[FAIL], "n/a": counts[NOT_APPLICABLE],
            "not performed": counts[NOT_PERFORMED], "fail_in_sample": 0, "fail_outside_sample": int(failed.sum()),
        })
        if failed.any():
            related_key = SCHEMAS[attribute.over].key
            related_date = SCHEMAS[attribute.over].date_column
            exception_frames.append(pd.DataFrame({
                "item_key": others[related_key].astype(str).to_numpy()[failed],
                "item_date": (others[related_date].to_numpy()[failed] if related_date in others.columns
                              else np.full(int(failed.sum()), None)),
                "source_row": others["source_row"].to_numpy()[failed] if "source_row" in others.columns else None,
                "attribute_id": attribute_id,
                "label": attribute.label,
                "deviation": attribute.deviation_wording,
                "reason": check.reason.to_numpy()[failed],
                "in_sample": np.zeros(int(failed.sum()), dtype=bool),
                "round": None,
            }))
    exception_columns = ["item_key", "item_date", "source_row", "attribute_id", "label", "deviation", "reason",
                         "in_sample", "sample_no", "round"]
    if exception_frames:
        exceptions = pd.concat(exception_frames, ignore_index=True)
        exceptions["sample_no"] = exceptions["item_key"].map(sample_no_of).astype("Int64")
        order = {a.id: i for i, a in enumerate(attributes)}
        exceptions = exceptions.assign(_o=exceptions["attribute_id"].map(order))
        exceptions = exceptions.sort_values(["_o", "item_key"], kind="stable").drop(columns="_o")
        exceptions = exceptions[exception_columns].reset_index(drop=True)
    else:
        exceptions = pd.DataFrame(columns=exception_columns)
    record_outcomes = _record_outcomes(frame, keys, key_column, date_column, source_rows, sample_no_of,
                                       {attribute_id: check.outcome for attribute_id, check in checks.items()})
    population_results = pd.DataFrame(population_rows, columns=[
        "attribute_id", "label", "population", "pass", "fail", "n/a", "not performed", "fail_in_sample",
        "fail_outside_sample"])

    # manual results from the results store
    store_mark = mark_store(engagement.folder, str(control.id))   # before reading: later entries make it stale
    recorded = read_results(engagement, control.id)
    manual_ids = {a.id for a in attributes if not a.automated}
    automated_ids = {a.id for a in attributes if a.automated}
    if len(recorded):
        overrides = recorded["override_reason"].notna() if "override_reason" in recorded.columns \
            else pd.Series(False, index=recorded.index)
        on_automated = recorded["attribute_id"].isin(automated_ids) & ~overrides
        if on_automated.any():
            notes.append(f"{int(on_automated.sum())} recorded result(s) for automated attributes are not used: "
                         f"automated attributes are computed from the population.")
        unknown = ~recorded["attribute_id"].isin(manual_ids | automated_ids)
        if unknown.any():
            notes.append(f"{int(unknown.sum())} recorded result(s) for attributes this control does not test "
                         f"({', '.join(sorted(set(recorded.loc[unknown, 'attribute_id'])))}) are not used.")
        outside = recorded["attribute_id"].isin(manual_ids) & ~recorded["item_key"].isin(set(sample_keys))
        if outside.any():
            notes.append(f"{int(outside.sum())} recorded result(s) are for items not in this selection "
                         f"({', '.join(sorted(set(recorded.loc[outside, 'item_key']))[:5])}); they are kept in "
                         f"the results store but not used.")
    lookup: dict[tuple[str, str], dict[str, Any]] = {}
    overridden_by: dict[tuple[str, str], dict[str, Any]] = {}   # automated outcomes the tester overrode, with why
    for record in recorded.to_dict("records"):
        if record["attribute_id"] in manual_ids:
            lookup[(str(record["item_key"]), str(record["attribute_id"]))] = {str(k): v for k, v in record.items()}
        elif record["attribute_id"] in automated_ids and isinstance(record.get("override_reason"), str):
            overridden_by[(str(record["item_key"]), str(record["attribute_id"]))] = \
                {str(k): v for k, v in record.items()}

    # manual attributes decided by the recorded conclusions of the controls they rely on (once per control)
    reliance: dict[str, Reliance] = {a.id: reliance_of(engagement, control, policy.text(a.relies_on))
                                     for a in attributes if a.relies_on}
    if reliance and len(recorded):
        overridden = recorded["attribute_id"].isin(set(reliance))
        if overridden.any():
            notes.append(f"{int(overridden.sum())} recorded result(s) for {', '.join(sorted(reliance))} are not used: "
                         f"the recorded conclusions of the controls relied on decide it.")

    # the per-item matrix, tidy
    item_dates = dates.iloc[rows].to_numpy()
    records: list[dict[str, Any]] = []
    for index, key in enumerate(sample_keys):
        row = rows[index]
        outcome_of: dict[str, str] = {}
        for attribute in attributes:
            entry = {"sample_no": index + 1, "item_key": key, "item_date": item_dates[index],
                     "attribute_id": attribute.id, "label": attribute.label, "kind": attribute.kind,
                     "outcome": NOT_TESTED, "reason": "", "evidence_ref": None, "comment": None,
                     "tested_by": None, "tested_at": None, "source": ""}
            if attribute.automated and attribute.over:  # computed over a related population, not per item
                entry["outcome"] = NOT_APPLICABLE   # its result is in the full-population analysis
                entry["reason"] = f"computed over the {attribute.over_noun or attribute.over}"
                entry["source"] = "automated"
            elif attribute.automated:  # dependencies already applied by run_checks
                check = checks[attribute.id]
                entry["outcome"] = check.outcome.iloc[row]
                entry["reason"] = check.reason.iloc[row]
                entry["source"] = "automated"
                stored = overridden_by.get((key, attribute.id))
                if stored is not None:   # the tester's override, with the computed outcome kept in the reason
                    computed = f"computed {entry['outcome']}" + (f" ({entry['reason']})" if entry["reason"] else "")
                    entry.update(outcome=stored["outcome"], evidence_ref=stored["evidence_ref"],
                                 comment=stored["comment"], tested_by=stored["tested_by"],
                                 tested_at=stored["tested_at"], source=OVERRIDE_SOURCE,
                                 reason=f"overridden by {stored['tested_by']}: {stored['override_reason']}; "
                                        f"{computed}")
            elif attribute.id in reliance:
                relied = reliance[attribute.id]
                entry.update(outcome=relied.outcome, reason=relied.reason)
                if relied.outcome == NOT_TESTED:
                    entry["comment"] = relied.evidence or None
                else:
                    entry.update(evidence_ref=relied.evidence or None, tested_by="recorded conclusions",
                                 tested_at=relied.at, source="recorded conclusions")
            else:
                stored = lookup.get((key, attribute.id))
                if stored is not None:
                    entry.update(outcome=stored["outcome"], evidence_ref=stored["evidence_ref"],
                                 comment=stored["comment"], tested_by=stored["tested_by"],
                                 tested_at=stored["tested_at"], source="results store")
                    if stored["outcome"] == FAIL:
                        entry["reason"] = stored["comment"] or "failed (no comment recorded)"
                blocked = [p for p in attribute.depends_on if outcome_of.get(p) == FAIL]
                if blocked:
                    entry["outcome"] = NOT_PERFORMED
                    entry["reason"] = f"prerequisite {', '.join(blocked)} failed"
            outcome_of[attribute.id] = entry["outcome"]
            records.append(entry)
    shown = [key_column] + [c for c in (date_column, *procedure.matrix_columns)
                            if c in frame.columns and c != key_column]
    items = frame.iloc[rows][shown].reset_index(drop=True)
    items[key_column] = items[key_column].astype(str)
    items.insert(0, "sample_no", np.arange(1, len(items) + 1))
    if scope.multiple_rounds:
        items.insert(1, "round", frame["round"].to_numpy()[rows] if len(rows) else [])
    if selection.extended:
        stages = selection.stages
        items.insert(1, "stage", [stages[k] for k in sample_keys])
    item_columns = ["sample_no", "item_key", "item_date", "attribute_id", "label", "kind", "outcome", "reason",
                    "evidence_ref", "comment", "tested_by", "tested_at", "source"]
    item_results = pd.DataFrame(records, columns=item_columns)
    if not len(frame):
        notes.append("The population in scope is empty: the control is not occurring.")
    return AttributeTesting(procedure=procedure, control_id=str(control.id), attributes=attributes,
                            key_column=key_column, date_column=date_column, population_count=int(len(frame)),
                            sample_keys=sample_keys, items=items, item_results=item_results,
                            population_results=population_results, full_population_exceptions=exceptions,
                            notes=tuple(notes), store_mark=store_mark, record_outcomes=record_outcomes)


def _record_outcomes(frame: pd.DataFrame, keys: pd.Series, key_column: str, date_column: str,
                     source_rows: np.ndarray, sample_no_of: dict[str, int],
                     outcomes: dict[str, pd.Series]) -> pd.DataFrame:
    """The census, one row per record in scope: key, date, source row, round, sample number, each outcome."""
    columns: dict[str, Any] = {key_column: keys.to_numpy()}
    if date_column in frame.columns and date_column != key_column:
        columns[date_column] = frame[date_column].to_numpy()
    columns["source_row"] = source_rows
    if "round" in frame.columns:
        columns["round"] = frame["round"].to_numpy()
    columns["sample_no"] = keys.map(sample_no_of).astype("Int64").to_numpy()
    failed = np.full(len(frame), "", dtype=object)
    for attribute_id, outcome in outcomes.items():
        values = outcome.to_numpy()
        columns[attribute_id] = values
        failed = np.where(values == FAIL, failed + np.where(failed == "", "", "; ") + attribute_id, failed)
    columns["failed"] = failed
    return pd.DataFrame(columns)


def _engagement_window(engagement: Engagement) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """The engagement's window [start, end) in its zone: the period, or the Type 1 look-back (None, None when
    the engagement gives neither)."""
    try:
        if engagement.as_of is not None:
            _, start, end = scope_window(engagement.timezone, as_of=engagement.as_of)
        elif engagement.period_start is not None and engagement.period_end is not None:
            _, start, end = scope_window(engagement.timezone, period_start=engagement.period_start,
                                         period_end=engagement.period_end)
        else:
            return None, None
    except PopulationError:
        return None, None
    return start, end


def _whole_population(scope: ControlScope) -> RelatedFrame:
    """The tested population as checks see it: every record received in every round, with the in-scope mask."""
    parts = scope.parts
    first = parts[0].population
    if len(parts) == 1:
        return RelatedFrame(first.name, first.kind, first.frame, parts[0].in_scope, first.source_relative)
    return RelatedFrame(first.name, first.kind,
                        pd.concat([p.population.frame for p in parts], ignore_index=True),
                        np.concatenate([p.in_scope for p in parts]), first.source_relative)


# ``test_attributes`` is a stage function, not a pytest test; keep pytest from collecting it where imported.
test_attributes.__test__ = False  # type: ignore[attr-defined]
