"""How the workbench shows itself in JupyterLab: shared HTML pieces, live displays and one-message errors.

The stage results carry ``_repr_html_`` (a compact card or table, built from the helpers here) beside
``summary()``, which stays the plain text of the console and of executed notebooks read as text
(``_repr_pretty_`` returns it). Everything is inline-styled and width-limited so that it fits a laptop's
notebook pane, and has no pandas index.

* :func:`show` displays stage results with a display id per control and stage, so that :func:`refresh_displays`
  (the testing form's Save) redraws them in place with the results read again.
* :func:`install`, called in a notebook's first cell, makes the workbench's own errors (bad input, a refused
  result, an unusable population: :class:`~workbench.errors.WorkbenchError`, and the statistics package's
  ``SamplingError``) show as one message, styled as an error, without library source; any other exception is a
  bug and keeps its traceback. A batch run (papermill) still sees the cell fail, with the error's name and message.
* A stage that rests on recorded work says when it is stale (:func:`stale_note`).

Public API::

    install() -> None
    show(*objects) -> None
    show_path(path, label) -> None              a written file as a link that opens it
    refresh_displays(*objects) -> None
    display_id_of(obj) -> str | None
    html_card, html_table, html_details, html_badge, stale_note, short_date, escape
"""

from __future__ import annotations

import datetime as _dt
import html
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from sampling.errors import SamplingError

from workbench.errors import WorkbenchError

__all__ = ["Mark", "SummaryText", "summary_card", "install", "show", "show_path", "refresh_displays", "display_id_of", "html_card", "html_table", "html_details",
           "html_badge", "stale_note", "short_date", "escape", "MAX_WIDTH", "SEVERITY_COLOURS", "STATUS_COLOURS"]

#: The widest a display gets: a laptop's notebook pane (about 1,150 px) without horizontal scrolling.
MAX_WIDTH = "72em"
#: Background colour of a finding's row by severity.
SEVERITY_COLOURS: dict[str, str] = {"error": "#fdecea", "warning": "#fff4e5", "info": "#eef4fb", "passed": "#edf7ed"}
#: Badge colour by conclusion status (others grey).
STATUS_COLOURS: dict[str, str] = {
    "no_exceptions_noted": "#2e7d32", "suitably_designed_and_implemented": "#2e7d32", "not_occurring": "#546e7a",
    "exceptions_noted": "#c62828", "qualified": "#c62828", "not_suitably_designed": "#c62828",
    "testing_in_progress": "#ef6c00", "evaluation_pending": "#ef6c00", "not_yet_tested": "#757575",
}
_CELL = "padding:2px 6px;border-bottom:1px solid #e5e5e5;text-align:left;vertical-align:top"
_BOX = (f"max-width:{MAX_WIDTH};font-size:13px;line-height:1.35;border:1px solid #d0d7de;border-radius:4px;"
        f"padding:6px 10px;margin:4px 0;overflow-wrap:break-word")


def escape(value: object) -> str:
    """Text for HTML (None as empty)."""
    return "" if value is None else html.escape(str(value))


def short_date(value: object) -> str:
    """A date or time as short text: ``2026-03-27`` or ``2026-03-27 15:23`` (no seconds, no zone); others as text."""
    if value is None:
        return ""
    try:
        import pandas as pd
        if value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
            return ""
        if isinstance(value, pd.Timestamp):
            value = value.to_pydatetime()
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    if isinstance(value, _dt.datetime):
        return value.strftime("%Y-%m-%d") if (value.hour, value.minute) == (0, 0) else value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, _dt.date):
        return value.isoformat()
    text = str(value)
    if len(text) >= 16 and text[4] == "-" and text[10] in "T ":   # ISO text from the store: to the minute
        return text[:10] + " " + text[11:16]
    return text


def html_badge(text: str, colour: str = "#757575") -> str:
    """A small coloured label."""
    return (f"<span class='wb-badge' style='background:{colour};color:#fff;border-radius:3px;padding:0 6px;"
            f"font-size:12px;white-space:nowrap'>{escape(text)}</span>")


def html_details(summary: str, body: str, *, open_: bool = False) -> str:
    """A folded block (``<details>``): ``summary`` is text, ``body`` HTML."""
    return (f"<details{' open' if open_ else ''}><summary style='cursor:pointer'>{escape(summary)}</summary>"
            f"<div style='margin:4px 0 4px 1em'>{body}</div></details>")


def html_table(rows: Sequence[Sequence[object]], columns: Sequence[str], *, row_colours: Sequence[str] | None = None,
               nowrap: Iterable[int] = (), html_cells: Iterable[int] = (), css_class: str = "wb-table") -> str:
    """A table without an index: ``rows`` of cells (text, escaped unless their column is in ``html_cells``).

    Parameters
    ----------
    nowrap : columns (positions) kept on one line (ids, dates)
    row_colours : a background per row ("" for none)
    """
    keep, raw = set(nowrap), set(html_cells)
    head = "".join(f"<th style='{_CELL};background:#f6f8fa'>{escape(c)}</th>" for c in columns)
    body = []
    for index, row in enumerate(rows):
        colour = row_colours[index] if row_colours else ""
        style = f" style='background:{colour}'" if colour else ""
        cells = "".join(
            f"<td style='{_CELL}{';white-space:nowrap' if i in keep else ''}'>"
            f"{cell if i in raw else escape(cell)}</td>" for i, cell in enumerate(row))
        body.append(f"<tr{style}>{cells}</tr>")
    return (f"<table class='{css_class}' style='border-collapse:collapse;max-width:100%;margin:4px 0'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def html_card(title: str, rows: Sequence[tuple[str, str]], *, badge: str = "", body: str = "", note: str = "",
              css_class: str = "wb-card") -> str:
    """A compact card: a title (text) with an optional badge (HTML), label/value rows (values HTML), more HTML."""
    cells = "".join(f"<tr><th style='{_CELL};white-space:nowrap;width:1%;color:#444'>{escape(label)}</th>"
                    f"<td style='{_CELL}'>{value}</td></tr>" for label, value in rows)
    table = f"<table style='border-collapse:collapse;width:100%'>{cells}</table>" if rows else ""
    return (f"<div class='{css_class}' style='{_BOX}'>{note}<div style='font-weight:600;margin-bottom:4px'>"
            f"{escape(title)} {badge}</div>{table}{body}</div>")


def stale_note(mark: Mark | None, what: str) -> str:
    """A warning line when entries about the control were recorded after ``mark`` (empty otherwise).

    Parameters
    ----------
    what : str
        The stage, as the line names it ("testing matrix", "evaluation").
    """
    if mark is None:
        return ""
    try:
        since = mark.entries_since()
    except WorkbenchError as error:   # a store that refuses to report: say so rather than fail the display
        return (f"<div class='wb-stale' style='background:#fdecea;padding:2px 6px;margin-bottom:4px'>"
                f"The results store cannot be read: {escape(error)}</div>")
    if not since:
        return ""
    return (f"<div class='wb-stale' style='background:#fff4e5;border-left:4px solid #ef6c00;padding:2px 6px;"
            f"margin-bottom:4px'><b>Stale:</b> {since} entr{'y' if since == 1 else 'ies'} about {escape(mark.control_id)} "
            f"recorded since this {escape(what)} was computed; run its cell again (the testing form redraws it "
            f"after each save).</div>")


class Mark(Protocol):
    """What :func:`stale_note` needs of a store mark (:class:`workbench.freshness.StoreMark`)."""

    @property
    def control_id(self) -> str: ...

    def entries_since(self) -> int: ...


class SummaryText:
    """Mixin: a stage result's plain text in IPython (console, executed notebooks read as text) is its summary()."""

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(getattr(self, "summary")())

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # IPython's printer takes the first class in the MRO with its own _repr_pretty_ or __repr__, and a
        # dataclass has its own __repr__: the subclass gets _repr_pretty_ in its own namespace
        super().__init_subclass__(**kwargs)
        cls._repr_pretty_ = SummaryText._repr_pretty_  # type: ignore[method-assign]


def summary_card(summary: str, *, css_class: str = "wb-card", stale: str = "") -> str:
    """A card from a plain summary: its first line the title, each further line a row (``label: value`` split).

    For the stages whose summary is already short (a population, a receipt, a scope, a plan, a policy).
    """
    lines = [line.strip() for line in summary.splitlines() if line.strip()]
    title, rest = (lines[0], lines[1:]) if lines else ("", [])
    rows = []
    for line in rest:
        label, sep, value = line.lstrip("- ").partition(": ")
        rows.append((label, escape(value)) if sep and len(label) < 40 else ("", escape(line)))
    return html_card(title, rows, css_class=css_class, note=stale)


# --------------------------------------------------------------------------------------------------
# Live displays
# --------------------------------------------------------------------------------------------------

def display_id_of(obj: object) -> str | None:
    """``workbench-<Type>-<control id>`` for a stage result that names its control (None otherwise)."""
    control_id = getattr(obj, "control_id", None)
    if control_id is None:
        control = getattr(obj, "control", None)
        control_id = getattr(control, "id", None)
    return None if control_id is None else f"workbench-{type(obj).__name__}-{control_id}"


def show(*objects: object) -> None:
    """Display each object (its HTML in JupyterLab, its summary as text) so that it can be redrawn in place."""
    from IPython.display import display

    for obj in objects:
        display_id = display_id_of(obj)
        if display_id is None:
            display(obj)  # type: ignore[no-untyped-call]
        else:
            display(obj, display_id=display_id)  # type: ignore[no-untyped-call]


def show_path(path: str | os.PathLike[str], label: str = "File") -> None:
    """Display a file written by the notebook as a link that opens it (its full path as the text form).

    The link is relative to the kernel's folder (the notebook's, in JupyterLab), which resolves it.
    """
    from IPython.display import display

    target = Path(path).resolve()
    try:
        href = Path(os.path.relpath(target, Path.cwd())).as_posix()
    except ValueError:   # another drive (Windows)
        href = target.as_uri()
    text = f"{label}: {target}"
    link = (f"<div class='wb-path'>{escape(label)}: <a href='{escape(href)}' target='_blank' download>"
            f"{escape(target.name)}</a> <code style='color:#555'>{escape(target)}</code></div>")
    display({"text/plain": text, "text/html": link}, raw=True)  # type: ignore[no-untyped-call]


def refresh_displays(*objects: object) -> None:
    """Redraw the displays :func:`show` made of the same stage of the same control with these objects."""
    from IPython.display import update_display

    for obj in objects:
        display_id = display_id_of(obj)
        if display_id is not None:
            update_display(obj, display_id=display_id)  # type: ignore[no-untyped-call]


# --------------------------------------------------------------------------------------------------
# One message for the workbench's own errors
# --------------------------------------------------------------------------------------------------

#: The errors shown as one message (anything else keeps its traceback).
SHOWN_AS_MESSAGE: tuple[type[BaseException], ...] = (WorkbenchError, SamplingError)


def error_lines(error: BaseException) -> list[str]:
    """The lines shown for a workbench error: its kind and message in red, then what it is (no source)."""
    red, bold, reset = "\x1b[0;31m", "\x1b[1m", "\x1b[0m"
    lines = str(error).splitlines() or [""]
    return ([f"{red}{bold}{type(error).__name__}{reset}{red}: {lines[0]}{reset}"] + lines[1:]
            + ["", "(The workbench stopped on its input, not on a bug: fix what the message names and run the cell "
                   "again.)"])


def _handler(shell: Any, etype: type[BaseException], value: BaseException, tb: Any,
             tb_offset: int | None = None) -> list[str]:
    stb = error_lines(value)
    shell._showtraceback(etype, value, stb)   # the kernel's error message: the cell fails, with no frames
    return stb


def install() -> None:
    """Show the workbench's own errors as one message in this IPython kernel (nothing outside IPython).

    Call it in a notebook's first cell. A bug (any other exception) keeps its full traceback.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return
    shell = get_ipython()
    if shell is None:
        return
    shell.set_custom_exc(SHOWN_AS_MESSAGE, _handler)
