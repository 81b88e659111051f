"""Every cell of a workbook as plain values, for comparing two runs cell by cell.

Cells that state *when* something happened (a run's start and end, a pin time) differ between two runs
of the same inputs; :func:`workbook_cells` blanks the value beside a label in :data:`VOLATILE_LABELS`
and every cell of the summary's Run sheet that holds a time, so that what remains must be identical.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from openpyxl import load_workbook

#: Sheets listing every record of a population: only their first rows are kept cell by cell (a reference of
#: every record of every demo control would be megabytes); the rest is kept as a SHA-256 of the cells and a count.
LISTING_SHEETS = frozenset({"Population listing"})
LISTING_ROWS_KEPT = 40

#: Labels (column A) whose value (column B) records when something happened, not what (the results store's chain
#: head hashes the times its entries were written, and the inputs fingerprint the times results were recorded).
VOLATILE_LABELS = frozenset({"Pinned at (UTC)", "Pinned by", "started", "finished", "Started", "Finished",
                             "Results store chain head (SHA-256)", "Generated (UTC)",
                             "Inputs fingerprint now"})


def workbook_cells(path: Path, *, folder: Path | None = None) -> dict[str, list[tuple[str, object]]]:
    """``{sheet: [(coordinate, value), ...]}`` of every non-empty cell; volatile values replaced by ``"<time>"``.

    Number formats other than General, merged ranges and images (size and anchor) are listed too, so a
    layout change shows up as well as a value change. ``folder`` (the engagement folder of the run) is
    written ``<engagement>`` and its parent ``<run>``, so runs in two folders compare equal.
    """
    book = load_workbook(path)
    out: dict[str, list[tuple[str, object]]] = {}
    for sheet in book.worksheets:
        cells: list[tuple[str, object]] = []
        for row in sheet.iter_rows():
            label = row[0].value if row else None
            for cell in row:
                if cell.value is None:
                    continue
                value: object = cell.value
                if cell.column == 2 and label in VOLATILE_LABELS:
                    value = "<time>"
                elif sheet.title == "Run" and isinstance(value, (dt.datetime, str)) and _looks_like_time(value):
                    value = "<time>"
                if isinstance(value, str) and _RECORDED_ON.search(value):
                    value = _RECORDED_ON.sub(r"\1 on <date>", value)   # when a result was recorded: the run's day
                if folder is not None and isinstance(value, str):
                    value = value.replace(str(folder), "<engagement>").replace(str(folder.parent), "<run>")
                cells.append((cell.coordinate, value))
                if cell.number_format != "General":
                    cells.append((f"{cell.coordinate}:format", cell.number_format))
        if sheet.title in LISTING_SHEETS:
            import hashlib
            import json

            digest = hashlib.sha256(json.dumps(cells, default=str, ensure_ascii=False).encode("utf-8")).hexdigest()
            cells = [(key, value) for key, value in cells if _row_of(key) <= LISTING_ROWS_KEPT]
            cells += [("listing:rows", sheet.max_row), ("listing:sha256", digest)]
        cells.extend((f"merged:{i}", str(rng)) for i, rng in enumerate(sorted(map(str, sheet.merged_cells.ranges))))
        for i, image in enumerate(getattr(sheet, "_images", [])):
            data = image._data()
            cells.append((f"image:{i}", (len(data), str(image.anchor._from.row if hasattr(image.anchor, "_from")
                                                         else image.anchor))))
        out[sheet.title] = cells
    return out


def _row_of(key: str) -> int:
    """The row of a cell key (``B12``, ``B12:format``)."""
    digits = re.search(r"\d+", key.split(":")[0])
    return int(digits.group()) if digits else 0


_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
#: "DR on 2026-07-20": who recorded a result, evaluation or walkthrough and the day (the demo imports its filled
#: templates during the run, so the day is the run's).
_RECORDED_ON = re.compile(r"\b([A-Z]{2,3}) on \d{4}-\d{2}-\d{2}\b")


def _looks_like_time(value: object) -> bool:
    return isinstance(value, dt.datetime) or bool(_TIME.match(str(value)))


def as_json(cells: dict[str, list[tuple[str, object]]]) -> dict[str, list[list[object]]]:
    """The cells as JSON-ready lists (dates as ISO text), for a reference file."""
    return {sheet: [[key, value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value]
                    for key, value in rows] for sheet, rows in cells.items()}


def compare(expected: dict[str, list[list[object]]], actual: dict[str, list[list[object]]],
            limit: int = 20) -> list[str]:
    """Human-readable differences between two cell dumps (empty when cell-identical)."""
    found: list[str] = []
    if list(expected) != list(actual):
        found.append(f"sheets differ: {list(expected)} != {list(actual)}")
    for sheet in expected:
        if sheet not in actual:
            continue
        left = {str(k): v for k, v in expected[sheet]}
        right = {str(k): v for k, v in actual[sheet]}
        for key in sorted(set(left) | set(right)):
            if left.get(key) != right.get(key):
                found.append(f"{sheet}!{key}: expected {left.get(key)!r}, got {right.get(key)!r}")
                if len(found) >= limit:
                    return found
    return found


def differences(before: Path, after: Path, limit: int = 20) -> list[str]:
    """Human-readable differences between two workbooks (empty when cell-identical)."""
    a, b = workbook_cells(before), workbook_cells(after)
    found: list[str] = []
    if list(a) != list(b):
        found.append(f"sheets differ: {list(a)} != {list(b)}")
    for sheet in a:
        if sheet not in b:
            continue
        left, right = dict(a[sheet]), dict(b[sheet])
        for key in sorted(set(left) | set(right)):
            if left.get(key) != right.get(key):
                found.append(f"{sheet}!{key}: {left.get(key)!r} != {right.get(key)!r}")
                if len(found) >= limit:
                    return found
    return found


def write_reference(out: Path, folder: Path, reference: Path) -> None:
    """Write the cell dump of every workbook of a run's output folder ``out`` into ``reference``."""
    import json

    reference.mkdir(parents=True, exist_ok=True)
    for book in sorted(out.glob("*.xlsx")):
        dump = as_json(workbook_cells(book, folder=folder))
        (reference / f"{book.stem}.json").write_text(json.dumps(dump, indent=0, ensure_ascii=False, default=str)
                                                     + "\n", encoding="utf-8")


if __name__ == "__main__":  # refresh a reference after a deliberate change of the workpapers
    import sys

    if len(sys.argv) != 4:
        sys.exit("usage: python tests/workbook_cells.py OUTPUT_DIR ENGAGEMENT_DIR REFERENCE_DIR")
    write_reference(Path(sys.argv[1]), Path(sys.argv[2]).resolve(), Path(sys.argv[3]))
