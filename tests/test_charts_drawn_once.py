"""The coverage chart is drawn once per control: the workpaper takes the figure the notebook showed (issue 13,
"the workpaper of a control with a small population must not cost more than its data"), and gets the bytes a
new drawing gives; a changed figure, other inputs or other rcParams are drawn anew."""

from __future__ import annotations

import matplotlib
import pytest
from matplotlib.figure import Figure
from openpyxl import load_workbook

from conftest import copy_engagement, run_stages
from workbench.workpaper import write_workpaper
from workbench.workpaper import charts
from workbench.workpaper.charts import chart_png, coverage_chart

TITLE = "CM-01: population and sample by month"


@pytest.fixture
def drawings(monkeypatch) -> list[Figure]:
    """Every figure drawn (``Figure.savefig``), in order."""
    drawn: list[Figure] = []
    original = Figure.savefig

    def savefig(self, *args, **kwargs):
        drawn.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return drawn


@pytest.fixture(scope="module")
def cm01(tmp_path_factory, demo_type2):
    return run_stages(copy_engagement(demo_type2, tmp_path_factory.mktemp("drawn-once") / "acme-type2"))


def test_the_workpaper_takes_the_chart_the_notebook_showed(cm01, drawings, tmp_path):
    shown = coverage_chart(cm01["scoped"], cm01["selection"], title=TITLE)
    png = shown._repr_png_()                             # what Jupyter shows: one drawing
    assert drawings == [shown]
    path = write_workpaper(tmp_path, cm01["test"])
    assert drawings == [shown]                           # the workpaper drew nothing
    image = load_workbook(path)["Sampling"]._images[0]
    assert image._data() == png
    charts._last_chart = None                            # a new drawing gives the very same bytes
    assert chart_png(coverage_chart(cm01["scoped"], cm01["selection"], title=TITLE)) == png


def test_a_chart_is_drawn_anew_when_anything_it_shows_may_differ(cm01, drawings):
    shown = coverage_chart(cm01["scoped"], cm01["selection"], title=TITLE)
    chart_png(shown)
    assert coverage_chart(cm01["scoped"], cm01["selection"], title="another title") is not shown
    shown = coverage_chart(cm01["scoped"], cm01["selection"], title=TITLE)
    chart_png(shown)
    shown.axes[0].set_title("changed after it was shown")
    changed = chart_png(shown)                                      # drawn again: it changed
    assert drawings[-2:] == [shown, shown]
    again = coverage_chart(cm01["scoped"], cm01["selection"], title=TITLE)
    assert again is not shown and again._repr_png_() != changed
    fresh = coverage_chart(cm01["scoped"], cm01["selection"], title=TITLE)
    chart_png(fresh)
    with matplotlib.rc_context({"font.size": 14}):
        assert coverage_chart(cm01["scoped"], cm01["selection"], title=TITLE) is not fresh
    never_shown = coverage_chart(cm01["scoped"], cm01["selection"], title="not drawn yet")
    assert coverage_chart(cm01["scoped"], cm01["selection"], title="not drawn yet") is not never_shown
