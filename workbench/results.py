"""The results store: recorded test results and their append-only audit trail (``ENGAGEMENT/results.sqlite``).

Recorded results are audit evidence (DESIGN.md §6; AU-C 230 / PCAOB AS 1215.06: who performed the work and
when). So:

* every write is one committed transaction opened with ``BEGIN IMMEDIATE`` (the write lock is taken at the
  start, so two testers writing at once queue instead of failing half-way), in WAL mode with
  ``synchronous=FULL`` so that a committed result survives a crash;
* every change of a result is also appended to the ``trail`` table with who, when, the old value and the
  new value; triggers refuse any ``UPDATE`` or ``DELETE`` on the trail, so history cannot be rewritten
  through SQL either;
* a result is identified by ``(engagement, control_id, item_key, attribute_id)``; recording it again
  replaces the current value and keeps the old one in the trail.

Schema (version 1)::

    results(engagement, control_id, item_key, attribute_id,      -- primary key
            outcome CHECK IN ('pass','fail','n/a'), evidence_ref, comment, tested_by, tested_at)
    trail(seq, engagement, control_id, item_key, attribute_id, action, old_value, new_value, who, at)
    meta(key, value)                                              -- schema_version

``trail.action`` is ``"record"`` today; sign-offs (a later issue) add their own actions and tables, and
``old_value``/``new_value`` are JSON objects so that new kinds of entries fit without a migration.
Times are ISO 8601 in UTC with microseconds.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import sqlite3
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd

from workbench.errors import ResultsError

__all__ = [
    "RESULTS_FILE",
    "OUTCOMES",
    "RESULT_COLUMNS",
    "TRAIL_COLUMNS",
    "Result",
    "ResultsStore",
    "Transaction",
    "read_results",
    "split_statements",
]

#: The store's file name inside the engagement folder.
RESULTS_FILE = "results.sqlite"
#: Outcomes a tester may record for an attribute of an item.
OUTCOMES: tuple[str, ...] = ("pass", "fail", "n/a")
RESULT_COLUMNS: tuple[str, ...] = ("engagement", "control_id", "item_key", "attribute_id", "outcome",
                                   "evidence_ref", "comment", "tested_by", "tested_at")
TRAIL_COLUMNS: tuple[str, ...] = ("seq", "engagement", "control_id", "item_key", "attribute_id", "action",
                                  "old_value", "new_value", "who", "at")
SCHEMA_VERSION = 1
#: The columns of a result that recording replaces (the rest are its key); the trail keeps them as JSON.
_VALUE_COLUMNS: tuple[str, ...] = RESULT_COLUMNS[4:]

_ID = re.compile(r"^[a-z][a-z0-9_]*$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    engagement   TEXT NOT NULL,
    control_id   TEXT NOT NULL,
    item_key     TEXT NOT NULL,
    attribute_id TEXT NOT NULL,
    outcome      TEXT NOT NULL CHECK (outcome IN ('pass', 'fail', 'n/a')),
    evidence_ref TEXT,
    comment      TEXT,
    tested_by    TEXT NOT NULL,
    tested_at    TEXT NOT NULL,
    PRIMARY KEY (engagement, control_id, item_key, attribute_id)
);
CREATE TABLE IF NOT EXISTS trail (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    engagement   TEXT NOT NULL,
    control_id   TEXT NOT NULL,
    item_key     TEXT,
    attribute_id TEXT,
    action       TEXT NOT NULL,
    old_value    TEXT,
    new_value    TEXT,
    who          TEXT NOT NULL,
    at           TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS trail_by_control ON trail (engagement, control_id, seq);
CREATE TRIGGER IF NOT EXISTS trail_is_append_only_update BEFORE UPDATE ON trail
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: entries cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS trail_is_append_only_delete BEFORE DELETE ON trail
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: entries cannot be deleted'); END;
"""


@dataclass(frozen=True)
class Result:
    """One recorded result: the outcome of one attribute for one item of one control."""

    engagement: str
    control_id: str
    item_key: str
    attribute_id: str
    outcome: str
    evidence_ref: str | None
    comment: str | None
    tested_by: str
    tested_at: str

    def summary(self) -> str:
        """One line: control / item / attribute = outcome, by whom and when."""
        evidence = f", evidence {self.evidence_ref}" if self.evidence_ref else ""
        return (f"{self.control_id} / {self.item_key} / {self.attribute_id} = {self.outcome} "
                f"(by {self.tested_by} at {self.tested_at}{evidence})")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


def _text(value: object, name: str, key: str, *, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ResultsError(f"result {key}: {name} is required and was empty; give {name} as text.")
        return None
    if not isinstance(value, str):
        raise ResultsError(f"result {key}: {name} must be text, got {value!r} ({type(value).__name__}).")
    return value.strip()


def _engagement_id_of(folder: Path) -> str:
    toml = folder / "engagement.toml"
    try:
        with toml.open("rb") as stream:
            data = tomllib.load(stream)
    except FileNotFoundError:
        raise ResultsError(f"{folder}: no engagement.toml, so this is not an engagement folder; open the results "
                           f"store of an engagement folder, or pass engagement_id=.") from None
    except (tomllib.TOMLDecodeError, OSError) as err:
        raise ResultsError(f"{toml}: cannot read engagement_id ({err}).") from None
    value = data.get("engagement", {}).get("engagement_id")
    if not isinstance(value, str) or not value.strip():
        raise ResultsError(f"{toml}: key engagement.engagement_id is missing; the results store files results "
                           f"under it. Add engagement_id = \"...\" to [engagement].")
    return value.strip()


class ResultsStore:
    """The results store of one engagement (``ENGAGEMENT/results.sqlite``).

    Open it with :meth:`open`; use it as a context manager or call :meth:`close`. Each instance holds one
    SQLite connection; several processes may open the same store at once (WAL; writers queue on
    ``BEGIN IMMEDIATE`` for up to ``timeout`` seconds).

    Parameters
    ----------
    path : path-like
        The SQLite file.
    engagement_id : str
        The engagement whose results this store files (``engagement.toml``'s ``engagement_id``).
    controls : dict, optional
        control id -> allowed attribute ids. When given (opened from an :class:`Engagement`), a result
        for an unknown control or an attribute the control does not test is refused.
    """

    def __init__(self, path: str | os.PathLike[str], engagement_id: str, *,
                 controls: dict[str, tuple[str, ...]] | None = None, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.engagement_id = engagement_id
        self._controls = controls
        try:
            self._connection = sqlite3.connect(self.path, isolation_level=None, timeout=timeout)
        except sqlite3.Error as err:
            raise ResultsError(f"{self.path}: cannot open the results store ({err}).") from None
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=FULL")
        with self._transaction() as cursor:
            for statement in split_statements(_SCHEMA):
                cursor.execute(statement)
            cursor.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                           (str(SCHEMA_VERSION),))
            version = cursor.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        if int(version) > SCHEMA_VERSION:
            self.close()
            raise ResultsError(f"{self.path}: results store schema version {version} is newer than this "
                               f"workbench understands ({SCHEMA_VERSION}); upgrade the workbench.")

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def open(cls, folder: Any, *, engagement_id: str | None = None) -> "ResultsStore":
        """Open (creating on first use) the results store of an engagement.

        Parameters
        ----------
        folder : path-like or Engagement
            The engagement folder, or a loaded ``Engagement`` (then its engagement id and control matrix
            are used to validate what is recorded).
        engagement_id : str, optional
            Overrides the id read from ``engagement.toml``.

        Raises
        ------
        ResultsError
            The folder does not exist or has no engagement id.
        """
        controls = None
        if hasattr(folder, "folder") and hasattr(folder, "controls"):
            engagement = folder
            folder = Path(engagement.folder)
            engagement_id = engagement_id or engagement.engagement_id
            controls = {}
            for control in engagement.controls:
                allowed: tuple[str, ...] = tuple(getattr(control, "attributes", ()) or ())
                if not allowed and getattr(control, "procedure", None):
                    from workbench.procedures import get_procedure, is_implemented
                    if is_implemented(control.procedure):
                        allowed = get_procedure(control.procedure).attribute_ids
                controls[control.id] = allowed
        folder = Path(folder)
        if not folder.is_dir():
            raise ResultsError(f"{folder}: the engagement folder does not exist; give the folder that holds "
                               f"engagement.toml.")
        if engagement_id is None:
            engagement_id = _engagement_id_of(folder)
        return cls(folder / RESULTS_FILE, engagement_id, controls=controls)

    def close(self) -> None:
        """Close the connection (every write is already committed)."""
        self._connection.close()

    def __enter__(self) -> "ResultsStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.path)!r}, engagement_id={self.engagement_id!r})"

    # -- writing ----------------------------------------------------------------------------------
    def record(self, control_id: str, item_key: str, attribute_id: str, outcome: str, *, tested_by: str,
               evidence_ref: str | None = None, comment: str | None = None) -> Result:
        """Record (or replace) the outcome of one attribute for one item, in one committed transaction.

        Parameters
        ----------
        control_id, item_key, attribute_id : str
            Which result: the control, the sampled item's key (e.g. ``"CHG-1042"``) and the attribute id.
        outcome : {"pass", "fail", "n/a"}
        tested_by : str
            Who performed the test (name or initials).
        evidence_ref, comment : str, optional
            Where the evidence is (document, screenshot, link) and what the tester noted.

        Returns
        -------
        Result
            The stored result, with its ``tested_at`` time (UTC).

        Raises
        ------
        ResultsError
            An outcome outside pass | fail | n/a, an empty id, a malformed attribute id, or (store opened from
            an Engagement) a control or attribute the engagement does not have. The message names the key.
        """
        key = f"({control_id!r}, {item_key!r}, {attribute_id!r})"
        control_id = _text(control_id, "control_id", key, required=True)  # type: ignore[assignment]
        item_key = _text(item_key, "item_key", key, required=True)  # type: ignore[assignment]
        attribute_id = _text(attribute_id, "attribute_id", key, required=True)  # type: ignore[assignment]
        if not _ID.match(attribute_id):
            raise ResultsError(f"result {key}: attribute_id must be a lower_snake_case attribute id such as "
                               f"'testing_evidenced', got {attribute_id!r}.")
        if outcome not in OUTCOMES:
            raise ResultsError(f"result {key}: outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}.")
        tested_by = _text(tested_by, "tested_by", key, required=True)  # type: ignore[assignment]
        evidence_ref = _text(evidence_ref, "evidence_ref", key, required=False)
        comment = _text(comment, "comment", key, required=False)
        if self._controls is not None:
            if control_id not in self._controls:
                raise ResultsError(f"result {key}: control {control_id!r} is not in the control matrix of "
                                   f"{self.engagement_id}; known controls: {', '.join(sorted(self._controls))}.")
            allowed = self._controls[control_id]
            if allowed and attribute_id not in allowed:
                raise ResultsError(f"result {key}: attribute {attribute_id!r} is not tested by control "
                                   f"{control_id!r}; its attributes are {', '.join(allowed)}.")
        result = Result(self.engagement_id, control_id, item_key, attribute_id, outcome, evidence_ref,
                        comment, tested_by, _now())
        new_value = {k: getattr(result, k) for k in _VALUE_COLUMNS}
        with self._transaction() as cursor:
            old = cursor.execute(
                f"SELECT {', '.join(_VALUE_COLUMNS)} FROM results "
                "WHERE engagement = ? AND control_id = ? AND item_key = ? AND attribute_id = ?",
                (self.engagement_id, control_id, item_key, attribute_id)).fetchone()
            old_value = None if old is None else dict(zip(_VALUE_COLUMNS, old))
            cursor.execute(
                "INSERT INTO results (engagement, control_id, item_key, attribute_id, outcome, evidence_ref, "
                "comment, tested_by, tested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (engagement, control_id, item_key, attribute_id) DO UPDATE SET "
                "outcome = excluded.outcome, evidence_ref = excluded.evidence_ref, comment = excluded.comment, "
                "tested_by = excluded.tested_by, tested_at = excluded.tested_at",
                tuple(asdict(result).values()))
            cursor.execute(
                "INSERT INTO trail (engagement, control_id, item_key, attribute_id, action, old_value, "
                "new_value, who, at) VALUES (?, ?, ?, ?, 'record', ?, ?, ?, ?)",
                (self.engagement_id, control_id, item_key, attribute_id,
                 None if old_value is None else json.dumps(old_value, ensure_ascii=False),
                 json.dumps(new_value, ensure_ascii=False), tested_by, result.tested_at))
        return result

    # -- reading ----------------------------------------------------------------------------------
    def get(self, control_id: str, item_key: str, attribute_id: str) -> Result | None:
        """The current result for one key, or None when nothing is recorded."""
        row = self._connection.execute(
            f"SELECT {', '.join(RESULT_COLUMNS)} FROM results WHERE engagement = ? AND control_id = ? "
            "AND item_key = ? AND attribute_id = ?",
            (self.engagement_id, control_id, item_key, attribute_id)).fetchone()
        return None if row is None else Result(*row)

    def results_for(self, control_id: str) -> pd.DataFrame:
        """Current results of one control: one row per (item_key, attribute_id), columns :data:`RESULT_COLUMNS`."""
        rows = self._connection.execute(
            f"SELECT {', '.join(RESULT_COLUMNS)} FROM results WHERE engagement = ? AND control_id = ? "
            "ORDER BY item_key, attribute_id", (self.engagement_id, control_id)).fetchall()
        return _frame(rows, RESULT_COLUMNS)

    def trail(self, control_id: str | None = None) -> pd.DataFrame:
        """The audit trail (of one control, or all), oldest first, columns :data:`TRAIL_COLUMNS`.

        ``old_value``/``new_value`` are JSON objects as text (``old_value`` is empty for a first record).
        """
        sql = f"SELECT {', '.join(TRAIL_COLUMNS)} FROM trail WHERE engagement = ?"
        params: tuple[Any, ...] = (self.engagement_id,)
        if control_id is not None:
            sql += " AND control_id = ?"
            params += (control_id,)
        rows = self._connection.execute(sql + " ORDER BY seq", params).fetchall()
        return _frame(rows, TRAIL_COLUMNS)

    def summary(self) -> str:
        """Counts of results and trail entries per control."""
        rows = self._connection.execute(
            "SELECT control_id, COUNT(*), SUM(outcome = 'fail') FROM results WHERE engagement = ? "
            "GROUP BY control_id ORDER BY control_id", (self.engagement_id,)).fetchall()
        entries = self._connection.execute("SELECT COUNT(*) FROM trail WHERE engagement = ?",
                                           (self.engagement_id,)).fetchone()[0]
        lines = [f"Results store {self.path} ({self.engagement_id}): {entries} trail entries."]
        lines += [f"  {c}: {n} results, {f or 0} fail" for c, n, f in rows]
        return "\n".join(lines)

    # -- internals --------------------------------------------------------------------------------
    def _transaction(self) -> Transaction:
        return Transaction(self._connection, self.path)


class Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error); sqlite errors become ResultsError."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._connection = connection
        self._path = path

    def __enter__(self) -> sqlite3.Cursor:
        try:
            self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            raise ResultsError(f"{self._path}: the results store is busy or locked ({err}); another process "
                               f"is writing. Try again.") from None
        return self._connection.cursor()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self._connection.execute("COMMIT")
            return
        self._connection.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise ResultsError(f"{self._path}: the results store refused the write ({exc}).") from None


def split_statements(script: str) -> list[str]:
    """Split the schema into statements (triggers contain ';' inside BEGIN ... END)."""
    statements, current = [], []
    for line in script.strip().splitlines():
        current.append(line)
        text = "\n".join(current).strip()
        if text.endswith(";") and (not text.upper().startswith("CREATE TRIGGER") or text.upper().endswith("END;")):
            statements.append(text)
            current = []
    return statements


def _frame(rows: list[tuple[object, ...]], columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns), dtype=object)


def read_results(folder: Any, control_id: str, *, engagement_id: str | None = None) -> pd.DataFrame:
    """Current results of a control without creating the store: empty when ``results.sqlite`` does not exist.

    Parameters
    ----------
    folder : path-like or Engagement
    control_id : str
    engagement_id : str, optional
        Defaults to the engagement's id (or ``engagement.toml``'s).
    """
    if hasattr(folder, "folder") and hasattr(folder, "engagement_id"):
        engagement_id = engagement_id or folder.engagement_id
        folder = folder.folder
    path = Path(folder) / RESULTS_FILE
    if not path.exists():
        return _frame([], RESULT_COLUMNS)
    with ResultsStore.open(folder, engagement_id=engagement_id) as store:
        return store.results_for(control_id)
