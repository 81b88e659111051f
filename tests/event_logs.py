"""ServiceNow incident audit trails shaped like the public UCI "Incident management process enriched event log"
(141,712 rows for 24,918 incidents: one row per update, ``sys_mod_count`` and ``sys_updated_at``, ``?`` for
missing values, day-first dates without zero padding such as ``29/2/2016 01:16``).

:func:`write_event_log` writes such a file: the committed small one (``bad_inputs/servicenow_audit_trail.csv``,
written by ``python tests/event_logs.py``) and the full-size one the tests generate.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np

HEADER = ["number", "incident_state", "active", "reassignment_count", "reopen_count", "sys_mod_count", "made_sla",
          "caller_id", "opened_by", "opened_at", "sys_created_by", "sys_created_at", "sys_updated_by",
          "sys_updated_at", "contact_type", "location", "category", "impact", "urgency", "priority",
          "assignment_group", "assigned_to", "closed_code", "resolved_by", "resolved_at", "closed_at"]
STATES = ["New", "Active", "Awaiting User Info", "Resolved", "Closed"]


def _when(moment: dt.datetime) -> str:
    return f"{moment.day}/{moment.month}/{moment.year} {moment:%H:%M}"


def write_event_log(path: Path, incidents: int, rows: int, seed: int = 12) -> None:
    """``rows`` updates of ``incidents`` incidents (every incident at least twice), in time order per incident."""
    assert rows >= 2 * incidents
    rng = np.random.default_rng(seed)
    states = np.full(incidents, 2)
    extra = rng.multinomial(rows - 2 * incidents, np.full(incidents, 1 / incidents))
    states += extra
    start = dt.datetime(2016, 2, 29, 1, 16)
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL)
        writer.writerow(HEADER)
        for i in range(incidents):
            opened = start + dt.timedelta(minutes=int(i * 37))
            caller = f"Caller {1 + i % 5000}"
            for k in range(int(states[i])):
                updated = opened + dt.timedelta(minutes=7 + 53 * k)
                last = k == states[i] - 1
                state = "Closed" if last else STATES[min(k, 3)]
                resolved = _when(opened + dt.timedelta(hours=20)) if last or state == "Resolved" else "?"
                writer.writerow([
                    f"INC{i + 45:07d}", state, "false" if last else "true", "0", "0", str(k),
                    "true", caller, f"Opened by  {i % 300}", _when(opened), f"Created by {i % 200}", _when(opened),
                    f"Updated by {k % 50}", _when(updated), "Phone", f"Location {i % 200}", f"Category {i % 60}",
                    "2 - Medium", "2 - Medium", "3 - Moderate", f"Group {i % 70}",
                    f"Resolver {i % 230}" if k else "?", "code 5" if last else "?",
                    f"Resolved by {i % 220}" if resolved != "?" else "?", resolved,
                    _when(opened + dt.timedelta(days=5)) if last else "?"])


if __name__ == "__main__":
    write_event_log(Path(__file__).resolve().parent / "bad_inputs" / "servicenow_audit_trail.csv", incidents=10, rows=30)
