"""The coverage chart (records in scope and sampled items per month), drawn from the real stages.

Expected values come from outside the code under test: the demo's documented numbers in
``sample_data/README.md`` (acme-type2 / changes: of the 1,500 changes deployed in the period 2025-07-01 to
2026-06-30, 1,467 are standard or normal, the records CM-01 tests), the AICPA Audit Sampling guide's Table
A-1 size (10 % risk, 10 % tolerable rate, no expected deviation: 22 items), the PNG signature (ISO/IEC
15948), and per-month counts re-derived here from the raw export (csv module, New York wall time) and with
plain pandas (calendar month of ``deployed_at`` in America/New_York).
"""

from __future__ import annotations

import datetime as dt
import struct
from collections import Counter
from pathlib import Path

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from openpyxl import load_workbook

from conftest import CM01_TYPES, copy_engagement, raw_changes, run_stages
from conftest import write_stages as write
from workbench.workpaper import SHEETS
from workbench.workpaper.charts import (NO_RECORDS_TEXT, RECORDS_LABEL, SAMPLED_LABEL, chart_png,
                                        coverage_by_month, coverage_chart)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: sample_data/README.md, acme-type2 / changes: "Of the 1,500 changes deployed in the period, 1,467 are standard
#: or normal" (CM-01's record filter: change_type in standard, normal).
IN_SCOPE = 1467
#: AICPA Audit Sampling guide, Table A-1: 10 % risk of overreliance, TDR 10 %, EDR 0 -> 22.
AICPA_SIZE = 22
PERIOD_MONTHS = ["2025-07", "2025-08", "2025-09", "2025-10", "2025-11", "2025-12",
                 "2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]
ZONE = "America/New_York"
TITLE = "CM-01: population and sample by month"


def with_period(folder: Path, start: str, end: str) -> Path:
    toml = folder / "engagement.toml"
    text = toml.read_text(encoding="utf-8")
    assert "period_start = 2025-07-01" in text and "period_end = 2026-06-30" in text
    text = text.replace("period_start = 2025-07-01", f"period_start = {start}")
    toml.write_text(text.replace("period_end = 2026-06-30", f"period_end = {end}"), encoding="utf-8")
    return folder


def drawn(figure: Figure) -> dict:
    """What the figure shows: tick labels, bar heights, marker heights, legend, title, all texts."""
    bars_axes, marker_axes = figure.axes
    bars = bars_axes.containers[0]
    texts = [t.get_text() for ax in figure.axes for t in ax.texts]
    return dict(ticks=[t.get_text().replace("\n", " ") for t in bars_axes.get_xticklabels()],
                bars=[p.get_height() for p in bars],
                markers=[float(y) for y in marker_axes.lines[0].get_ydata()],
                legend=[t.get_text() for t in figure.legends[0].get_texts()],
                title=figure.get_suptitle(), texts=texts,
                ylabels=(bars_axes.get_ylabel(), marker_axes.get_ylabel()),
                ylims=(bars_axes.get_ylim(), marker_axes.get_ylim()))


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk."""
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def raw_months(folder: Path, start: str, end: str) -> dict[str, int]:
    """CM-01's records (standard and normal changes) per month of their deployment, from the raw export."""
    first, last = dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end) + dt.timedelta(days=1)
    return dict(Counter(c["deployed"].strftime("%Y-%m") for c in raw_changes(folder)
                        if c["type"] in CM01_TYPES and first <= c["deployed"] < last))


def local_months(frame, column: str) -> dict[str, int]:
    """Records per calendar month of ``column`` in the engagement's zone, counted with plain pandas."""
    labels = frame[column].dt.tz_convert(ZONE).dt.strftime("%Y-%m")
    return {str(k): int(v) for k, v in labels.value_counts().items()}


@pytest.fixture(scope="module")
def cm01(tmp_path_factory, demo_type2) -> dict:
    folder = copy_engagement(demo_type2, tmp_path_factory.mktemp("charts") / "acme-type2")
    stages = run_stages(folder)
    stages["figure"] = coverage_chart(stages["scoped"], stages["selection"], title=TITLE)
    stages["folder"] = folder
    return stages


# ---------------------------------------------------------------------------------------------------
# Type 2: the demo period
# ---------------------------------------------------------------------------------------------------

def test_bars_are_the_records_in_scope_per_month_of_the_period(cm01):
    shown = drawn(cm01["figure"])
    assert shown["ticks"] == ["Jul 2025", "Aug 2025", "Sep 2025", "Oct 2025", "Nov 2025", "Dec 2025",
                              "Jan 2026", "Feb 2026", "Mar 2026", "Apr 2026", "May 2026", "Jun 2026"]
    assert len(shown["bars"]) == 12
    assert sum(shown["bars"]) == IN_SCOPE
    # the scoped population's own per-month counts, and the same counted independently here
    assert shown["bars"] == [n for _, n in cm01["scoped"].months]
    independent = local_months(cm01["scoped"].frame, "deployed_at")
    assert shown["bars"] == [independent.get(m, 0) for m in PERIOD_MONTHS]
    raw = raw_months(cm01["folder"], "2025-07-01", "2026-06-30")
    assert shown["bars"] == [raw.get(m, 0) for m in PERIOD_MONTHS] and sum(raw.values()) == IN_SCOPE


def test_markers_are_the_sampled_items_per_month_and_cover_every_month(cm01):
    shown = drawn(cm01["figure"])
    selection, frame = cm01["selection"], cm01["scoped"].frame
    assert selection.method == "stratified"
    assert sum(shown["markers"]) == AICPA_SIZE == len(selection.keys)
    assert all(n >= 1 for n in shown["markers"])  # the stratified sample covers the whole period
    chosen = frame[frame["change_id"].astype(str).isin(set(selection.keys))]
    independent = local_months(chosen, "deployed_at")
    assert shown["markers"] == [independent.get(m, 0) for m in PERIOD_MONTHS]
    # the selection's own strata (months of the dates) allocated the same numbers
    assert shown["markers"] == [allocated for _, _, allocated in selection.parts[0].strata]


def test_labels_legend_and_title(cm01):
    shown = drawn(cm01["figure"])
    assert shown["title"] == TITLE
    assert shown["legend"] == [RECORDS_LABEL, SAMPLED_LABEL] == ["records in scope", "sampled items"]
    assert shown["ylabels"] == ("records in scope", "sampled items")
    assert cm01["figure"].axes[0].get_xlabel() == "month of deployed_at (America/New_York)"
    assert cm01["figure"].axes[0].get_title() == "1,467 records in scope (period), 22 sampled, stratified selection"
    default = coverage_chart(cm01["scoped"], cm01["selection"])
    assert default.get_suptitle() == "changes: population and sample by month"


def test_coverage_table_and_summary(cm01):
    coverage = coverage_by_month(cm01["scoped"], cm01["selection"])
    assert [m for m, _, _ in coverage.to_table()] == PERIOD_MONTHS
    assert coverage.records_total == IN_SCOPE and coverage.sampled_total == AICPA_SIZE
    assert coverage.months_without_sample == ()
    assert coverage.unmatched_keys == ()
    assert list(coverage.to_frame().columns) == ["month", "records_in_scope", "sampled_items"]
    assert coverage.summary().splitlines()[0] == (
        "22 sampled item(s) of 1,467 record(s) in scope (stratified selection), by month of deployed_at "
        "(America/New_York).")


def test_png_is_a_fixed_size_png_without_software_chunk_and_repeatable(cm01):
    data = chart_png(cm01["figure"])
    assert data.startswith(PNG_SIGNATURE)
    assert png_size(data) == (900, 450)
    assert b"Software" not in data and b"matplotlib" not in data
    again = chart_png(coverage_chart(cm01["scoped"], cm01["selection"], title=TITLE))
    assert again == data
    assert cm01["figure"]._repr_png_() == data  # what Jupyter shows


def test_figure_uses_an_agg_canvas_not_pyplot(cm01):
    assert isinstance(cm01["figure"], Figure)
    assert isinstance(cm01["figure"].canvas, FigureCanvasAgg)
    assert cm01["figure"].canvas.manager is None  # not registered with pyplot's figure manager


def test_workpaper_sampling_sheet_holds_the_chart(cm01):
    path = write(cm01, cm01["folder"] / "output")
    book = load_workbook(path)
    assert [len(book[name]._images) for name in SHEETS] == [0, 0, 1, 0, 0, 0, 0, 0, 0]
    ws = book["Sampling"]
    image = ws._images[0]
    assert image._data() == chart_png(coverage_chart(cm01["scoped"], cm01["selection"], title=TITLE))
    rows = {ws.cell(row=r, column=1).value: r for r in range(9, ws.max_row + 1)}
    anchor_row = image.anchor._from.row + 1  # 0-based in the drawing
    assert rows["Selection (re-performable)"] < rows["Coverage of the period"] < anchor_row
    # the selected-items table starts below the image (450 px at 20 px a row)
    assert anchor_row + 450 / 20 <= rows["Sample #"]


# ---------------------------------------------------------------------------------------------------
# Type 1, an empty population, a test of every item
# ---------------------------------------------------------------------------------------------------

def test_type1_as_of_window_is_still_by_month(tmp_path, demo_type1):
    folder = copy_engagement(demo_type1, tmp_path / "acme-type1")
    stages = run_stages(folder)
    scoped = stages["scoped"]
    assert scoped.parts[0].mode == "as_of" and scoped.months == ()
    shown = drawn(coverage_chart(scoped, stages["selection"]))
    # as_of 2026-06-30 with a 90-day look-back: 2026-04-02 .. 2026-06-30
    assert shown["ticks"] == ["Apr 2026", "May 2026", "Jun 2026"]
    assert sum(shown["bars"]) == scoped.counts["in_scope"] == len(scoped.frame)
    independent = local_months(scoped.frame, "deployed_at")
    assert shown["bars"] == [independent.get(m, 0) for m in ("2026-04", "2026-05", "2026-06")]
    raw = raw_months(folder, "2026-04-02", "2026-06-30")
    assert shown["bars"] == [raw.get(m, 0) for m in ("2026-04", "2026-05", "2026-06")]
    assert sum(shown["markers"]) == 1  # Type 1: one instance (walkthrough)


def test_empty_population_reads_no_records_in_scope(tmp_path, demo_type2):
    folder = with_period(copy_engagement(demo_type2, tmp_path / "acme-type2"), "2020-01-01", "2020-06-30")
    stages = run_stages(folder)
    assert len(stages["scoped"].frame) == 0 and stages["selection"].keys == ()
    figure = coverage_chart(stages["scoped"], stages["selection"], title=TITLE)
    shown = drawn(figure)
    assert NO_RECORDS_TEXT in shown["texts"] and NO_RECORDS_TEXT == "No records in scope"
    assert shown["ticks"] == ["Jan 2020", "Feb 2020", "Mar 2020", "Apr 2020", "May 2020", "Jun 2020"]
    assert shown["bars"] == [0] * 6 and shown["markers"] == [0.0] * 6  # every month visible as zero
    assert chart_png(figure).startswith(PNG_SIGNATURE)
    book = load_workbook(write(stages, tmp_path / "out"))
    assert len(book["Sampling"]._images) == 1


def test_test_all_markers_sit_on_the_bars(tmp_path, demo_type2):
    # three days in the period: fewer changes than the 22 the plan needs, so every change is tested
    folder = with_period(copy_engagement(demo_type2, tmp_path / "acme-type2"), "2025-07-01", "2025-07-03")
    stages = run_stages(folder)
    assert stages["sample_plan"].test_all
    count = len(stages["scoped"].frame)
    assert 0 < count < AICPA_SIZE
    shown = drawn(coverage_chart(stages["scoped"], stages["selection"]))
    assert shown["ticks"] == ["Jul 2025"]
    assert shown["bars"] == [count] and shown["markers"] == [float(count)]
    assert shown["ylims"][0] == shown["ylims"][1]  # one scale for both series
    figure = coverage_chart(stages["scoped"], stages["selection"])
    assert figure.axes[0].get_title().endswith("; every record in scope is tested")
