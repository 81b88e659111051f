"""The Excel workpapers: one workbook per control, and the engagement summary.

Public API::

    write_workpaper(output_dir, test)                                  -> Path   # <output_dir>/<control_id>.xlsx
    write_summary(output_path, engagement, rows, run_info)             -> Path   # summary.xlsx
    read_summary(path)                                                 -> list[dict]
    write_text(cell, value), write_value(cell, value)                  # safe cells (never a formula)

The workpaper lays out what the result objects hold (their ``to_table()``/``to_frame()`` and fields); it never
recomputes a number. Client text is written through :func:`write_text`, so it is never a formula.
"""

from workbench.workpaper.cells import write_text, write_value
from workbench.workpaper.sheets import CHAIN_HEAD_LABEL, SHEETS, TICKMARKS, workpaper_reference, write_workpaper
from workbench.workpaper.summary import SUMMARY_COLUMNS, read_summary, write_summary

__all__ = ["write_workpaper", "write_summary", "read_summary", "workpaper_reference", "write_text", "write_value",
           "SHEETS", "TICKMARKS", "SUMMARY_COLUMNS", "CHAIN_HEAD_LABEL"]
