"""Charts for the workpaper and the notebook: how the sample covers the period.

Public API::

    coverage_by_month(scoped, selection)                 -> PeriodCoverage   # the numbers the chart draws
    coverage_chart(scoped, selection, *, title=None)     -> matplotlib.figure.Figure
    chart_png(figure)                                    -> bytes            # PNG, fixed dpi, no metadata

The chart lays out what the stage results hold; it recomputes nothing they already carry:

* **records in scope per month** are the :class:`~workbench.population.ScopedPopulation`'s own
  ``months`` (Type 2). Only when it holds none (Type 1: the as-of look-back window) are the records in
  scope counted by the local month (engagement zone) of the scope's date column, with the same month
  edges :func:`~workbench.population.month_counts` uses for ``months``.
* **sampled items per month**: ``selection.keys`` joined to the scoped frame's key column, counted by
  the local month of the same date column (each selected key once).

Figures are built with :class:`matplotlib.figure.Figure` on an Agg canvas, never through ``pyplot``:
no global figure registry, no GUI backend, so it is safe in batch (papermill) workers and threads.
The figure returned also renders itself in Jupyter (``_repr_png_``) even when ``pyplot`` was never imported.

Drawn once: a notebook shows the chart, then writes the workpaper, which needs the same chart. Drawing it
(constrained layout, every tick label measured) is about a third of a small control's notebook, so a
:class:`CoverageFigure` keeps the PNG of its last drawing until something in it changes (matplotlib tells
the figure of every change to its artists), and :func:`coverage_chart` called again with the very same scoped population and selection
objects, the same title and the same ``rcParams`` returns the figure it built last, if that was drawn and
nothing in it changed since it was built. The bytes are the same as a new drawing's
(``tests/test_charts_drawn_once.py``).
"""

from __future__ import annotations

import io
import weakref
from dataclasses import dataclass
from typing import Any

import matplotlib
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sampling import Selection
from workbench.sample import ControlSelection
from workbench.scope import ControlScope, ScopedPopulation, month_counts

__all__ = ["PeriodCoverage", "CoverageFigure", "coverage_by_month", "coverage_chart", "chart_png",
           "CHART_DPI", "CHART_SIZE_INCHES", "RECORDS_LABEL", "SAMPLED_LABEL", "NO_RECORDS_TEXT"]

#: Resolution of :func:`chart_png` (pixels per inch); with :data:`CHART_SIZE_INCHES` a 900 x 450 px image.
CHART_DPI = 100
#: Figure size (width, height) in inches.
CHART_SIZE_INCHES = (9.0, 4.5)
#: Legend label of the bars.
RECORDS_LABEL = "records in scope"
#: Legend label of the markers.
SAMPLED_LABEL = "sampled items"
#: Text drawn on a chart whose population in scope is empty.
NO_RECORDS_TEXT = "No records in scope"

_BAR_COLOR = "#9fb6d3"
_MARK_COLOR = "#c0392b"


@dataclass(frozen=True)
class PeriodCoverage:
    """Records in scope and sampled items per month of the period (or of the as-of window).

    Attributes
    ----------
    labels : tuple of str
        One label per bar: the months ``"2025-07"`` ... in order (every month of the window, including
        months with no records), or a single ``"listing"`` for a population taken whole.
    records : tuple of int
        Records in scope per label.
    sampled : tuple of int
        Selected items per label.
    mode : str
        The scope's mode: ``"period"`` (Type 2), ``"as_of"`` (Type 1) or ``"listing"``.
    date_column : str or None
        The occurrence date the months are taken from (None for a listing).
    timezone : str
        The zone whose calendar months are used (the engagement's).
    records_source : str
        Where the records per month come from, in words.
    method : str
        The selection method (``random``, ``systematic``, ``stratified``).
    unmatched_keys : tuple of str
        Selected keys not found in the scoped frame (none in a consistent run; shown if any).
    """

    labels: tuple[str, ...]
    records: tuple[int, ...]
    sampled: tuple[int, ...]
    mode: str
    date_column: str | None
    timezone: str
    records_source: str
    method: str
    unmatched_keys: tuple[str, ...] = ()

    @property
    def records_total(self) -> int:
        """Records in scope over all labels."""
        return sum(self.records)

    @property
    def sampled_total(self) -> int:
        """Sampled items over all labels."""
        return sum(self.sampled)

    @property
    def months_without_sample(self) -> tuple[str, ...]:
        """Months with records in scope but no sampled item."""
        return tuple(m for m, r, s in zip(self.labels, self.records, self.sampled) if r and not s)

    def to_table(self) -> list[tuple[str, int, int]]:
        """Tidy rows (month, records in scope, sampled items)."""
        return list(zip(self.labels, self.records, self.sampled))

    def to_frame(self) -> pd.DataFrame:
        """The rows of :meth:`to_table` as a DataFrame (month, records_in_scope, sampled_items)."""
        return pd.DataFrame(self.to_table(), columns=["month", "records_in_scope", "sampled_items"])

    def summary(self) -> str:
        """A few lines for people."""
        months = [m for m, r in zip(self.labels, self.records) if r]
        lines = [f"{self.sampled_total:,} sampled item(s) of {self.records_total:,} record(s) in scope "
                 f"({self.method} selection), by month of {self.date_column or 'the listing'} ({self.timezone})."]
        if self.mode != "listing":
            sampled_months = sum(1 for r, s in zip(self.records, self.sampled) if r and s)
            lines.append(f"  months with records: {len(months)} of {len(self.labels)}; "
                         f"with a sampled item: {sampled_months} of {len(months)}")
        if self.unmatched_keys:
            lines.append(f"  selected keys not in the population in scope: {', '.join(self.unmatched_keys)}")
        return "\n".join(lines)


def coverage_by_month(scope: ControlScope | ScopedPopulation, selection: ControlSelection | Selection) -> PeriodCoverage:
    """Records in scope and sampled items per month, for :func:`coverage_chart`.

    Parameters
    ----------
    scope : ControlScope or ScopedPopulation
        The records in scope (every round of a control, or one population): ``months`` (records per month of a
        Type 2 period), ``frame``, ``key``, ``date_column``, the window and its mode.
    selection : ControlSelection or sampling.Selection
        The items selected (``keys``).

    Returns
    -------
    PeriodCoverage
    """
    parts = scope.parts if isinstance(scope, ControlScope) else (scope,)
    first, last = parts[0], parts[-1]
    frame = scope.frame
    key = scope.key
    date_column = scope.date_column
    timezone = str(first.population.timezone)
    selected = [str(k) for k in selection.keys]
    keys = frame[key].astype(str)
    known = set(keys)
    # each selected key once (a duplicated key is a validation error, reported on the Population sheet)
    mask = keys.isin(set(selected)).to_numpy()
    chosen = frame.loc[mask].loc[~keys[mask].duplicated().to_numpy()]
    unmatched = tuple(k for k in selected if k not in known)
    method = str(getattr(selection, "method", ""))

    start, end = first.start, last.end
    if first.mode == "listing" or date_column is None or not isinstance(start, pd.Timestamp) \
            or not isinstance(end, pd.Timestamp):
        return PeriodCoverage(("listing",), (int(scope.counts["in_scope"]),), (len(chosen),), "listing", None,
                              timezone, "ScopedPopulation.counts (a listing taken whole)", method, unmatched)
    if scope.months:
        months = list(scope.months)
        source = "ScopedPopulation.months (records in scope per month of the period)"
    else:
        months = month_counts(frame[date_column], start, end)
        source = f"records in scope counted by the month of {date_column} in {timezone}"
    sampled = dict(month_counts(chosen[date_column], start, end))  # the scope's month edges
    labels = tuple(m for m, _ in months)
    return PeriodCoverage(labels, tuple(int(n) for _, n in months), tuple(int(sampled.get(m, 0)) for m in labels),
                          str(first.mode), date_column, timezone, source, method, unmatched)


class CoverageFigure(Figure):
    """A :class:`matplotlib.figure.Figure` on an Agg canvas that shows itself in Jupyter.

    ``coverage`` holds the :class:`PeriodCoverage` drawn.
    """

    coverage: PeriodCoverage | None = None
    #: The PNG of its last drawing (valid until something in the figure changes).
    drawn_png: bytes | None = None
    #: Something changed after :func:`coverage_chart` built it (it is no longer the chart of its inputs alone).
    changed: bool = False
    _changed_since_drawn: bool = True
    _drawing: bool = False

    def _repr_png_(self) -> bytes:
        return chart_png(self)


def _note_change(figure: Any, stale: bool) -> None:
    """matplotlib's stale callback (every artist's change reaches the figure): a change, unless it is
    :func:`chart_png`'s own drawing moving things (constrained layout, the dpi set and restored)."""
    if stale and not figure._drawing:
        figure.changed = figure._changed_since_drawn = True


#: The last chart :func:`coverage_chart` built: what it was built from, and the figure.
_last_chart: tuple[weakref.ref[Any], weakref.ref[Any], str, dict[str, Any], CoverageFigure] | None = None


def _drawn_before(scoped: Any, selection: Any, title: str) -> CoverageFigure | None:
    """The last chart, when built from these very objects, title and ``rcParams``, drawn and unchanged since."""
    last = _last_chart
    if last is None:
        return None
    scoped_ref, selection_ref, last_title, params, figure = last
    if (scoped_ref() is scoped and selection_ref() is selection and last_title == title and not figure.changed
            and figure.drawn_png is not None and params == dict(matplotlib.rcParams.items())):
        return figure
    return None


def _month_tick(label: str) -> str:
    """``"2025-07"`` -> ``"Jul\\n2025"`` (other labels unchanged)."""
    try:
        month = pd.Period(label, freq="M")
    except (ValueError, TypeError):
        return label
    return f"{month.strftime('%b')}\n{month.year}"


def coverage_chart(scope: ControlScope | ScopedPopulation, selection: ControlSelection | Selection, *,
                   title: str | None = None) -> Figure:
    """Bar chart of records in scope per month with the sampled items per month as markers.

    Parameters
    ----------
    scope : ControlScope or ScopedPopulation
    selection : ControlSelection or sampling.Selection
    title : str, optional
        Figure title; default ``"<population id>: population and sample by month"`` (the workpaper passes
        ``"<control id>: population and sample by month"``).

    Returns
    -------
    matplotlib.figure.Figure
        A :class:`CoverageFigure` (Agg canvas). Bars (left axis, ``"records in scope"``) are the records in
        scope per month, every month of the window shown, a month with none reading 0; markers (right axis,
        ``"sampled items"``, each labelled with its count) are the selected items per month. When every
        record is sampled (test all) both axes share one scale. An empty population reads
        "No records in scope". ``figure.coverage`` holds the numbers (:class:`PeriodCoverage`).
    """
    global _last_chart
    name = scope.populations[0].name if isinstance(scope, ControlScope) else scope.population.name
    title = title or f"{name}: population and sample by month"
    drawn = _drawn_before(scope, selection, title)
    if drawn is not None:
        return drawn
    coverage = coverage_by_month(scope, selection)
    figure = CoverageFigure(figsize=CHART_SIZE_INCHES, dpi=CHART_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    figure.coverage = coverage
    figure.suptitle(title, fontweight="bold")

    ax = figure.add_subplot()
    x = list(range(len(coverage.labels)))
    bars = ax.bar(x, coverage.records, color=_BAR_COLOR, edgecolor="#5b7aa0", linewidth=0.6, width=0.7,
                  label=RECORDS_LABEL, zorder=2)
    ax.bar_label(bars, labels=[f"{n:,}" for n in coverage.records], fontsize=8, padding=2, color="#33475b")
    ax.set_xticks(x, [_month_tick(m) for m in coverage.labels], fontsize=8)
    for tick, records in zip(ax.get_xticklabels(), coverage.records):
        if records == 0:
            tick.set_color(_MARK_COLOR)  # a month without records stands out
    ax.set_xlim(-0.6, len(x) - 0.4)
    top = max(coverage.records, default=0)
    ax.set_ylim(0, max(1, top) * 1.18)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(RECORDS_LABEL)
    ax.grid(axis="y", color="#e5e5e5", zorder=0)
    if coverage.mode == "listing":
        ax.set_xlabel("listing taken whole (no occurrence date)")
    else:
        ax.set_xlabel(f"month of {coverage.date_column} ({coverage.timezone})")

    axs = ax.twinx()
    (line,) = axs.plot(x, coverage.sampled, linestyle="none", marker="o", markersize=7, color=_MARK_COLOR,
                       label=SAMPLED_LABEL, zorder=3)
    for xi, n in zip(x, coverage.sampled):
        axs.annotate(f"{n:,}", (xi, n), textcoords="offset points", xytext=(7, 0), ha="left", va="center",
                     fontsize=8, fontweight="bold", color=_MARK_COLOR)
    test_all = coverage.records_total > 0 and coverage.sampled == coverage.records
    if test_all:
        axs.set_ylim(ax.get_ylim())  # every record sampled: one scale, markers sit on the bar tops
    else:
        # markers in the lower half, clear of the bar labels
        axs.set_ylim(0, max(1, max(coverage.sampled, default=0)) * 2.2)
    axs.yaxis.set_major_locator(MaxNLocator(integer=True))
    axs.set_ylabel(SAMPLED_LABEL, color=_MARK_COLOR)
    axs.tick_params(axis="y", colors=_MARK_COLOR)

    window = {"period": "period", "as_of": "as-of window", "listing": "listing"}.get(coverage.mode, coverage.mode)
    detail = (f"{coverage.records_total:,} records in scope ({window}), {coverage.sampled_total:,} sampled"
              + (f", {coverage.method} selection" if coverage.method else "")
              + ("; every record in scope is tested" if test_all else ""))
    ax.set_title(detail, fontsize=9, color="#444444")
    if coverage.records_total == 0:
        ax.text(0.5, 0.5, NO_RECORDS_TEXT, transform=ax.transAxes, ha="center", va="center", fontsize=16,
                color="#555555", zorder=4)
    figure.legend(handles=[bars, line], labels=[RECORDS_LABEL, SAMPLED_LABEL], loc="outside lower center",
                  ncols=2, fontsize=8, frameon=False)
    figure.stale_callback = _note_change
    _last_chart = (weakref.ref(scope), weakref.ref(selection), title, dict(matplotlib.rcParams.items()), figure)
    return figure


def chart_png(figure: Figure) -> bytes:
    """The figure as PNG bytes at :data:`CHART_DPI`, without the ``Software`` text chunk.

    matplotlib writes no timestamp into a PNG; with the software chunk removed, the same figure drawn
    by the same matplotlib and fonts gives the same bytes.
    """
    if isinstance(figure, CoverageFigure) and figure.drawn_png is not None and not figure._changed_since_drawn:
        return figure.drawn_png             # drawn before and unchanged since: the same bytes
    if not isinstance(figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    if isinstance(figure, CoverageFigure):
        figure._drawing = True          # drawing moves things (constrained layout): not a change
    try:
        figure.savefig(buffer, format="png", dpi=CHART_DPI, metadata={"Software": None})
    finally:
        if isinstance(figure, CoverageFigure):
            figure._drawing = False
    data = buffer.getvalue()
    if isinstance(figure, CoverageFigure):
        figure.drawn_png, figure._changed_since_drawn = data, False
    return data
