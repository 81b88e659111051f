"""The workbench's exception tree.

Every error a user can cause by what they give the workbench (an engagement file, a client export, a
parameter, a results sheet) is an :class:`InputError`. The command line prints its message and exits
non-zero without a traceback; notebooks show the message. Anything else is a bug and keeps its traceback.

::

    WorkbenchError
    └── InputError                 the user can fix it; the message says how
        ├── EngagementError        engagement.toml or the control matrix
        ├── PopulationError        a client export (file, row, column)
        ├── ParameterError         a notebook or command-line parameter
        ├── ResultsError           recorded results or an imported testing template
        │   ├── StoreIntegrityError  the results store's hash chain or triggers are broken: it does not report
        │   └── EngagementLocked     the engagement is locked (report released): only a dated addition is recorded
        └── FileInUseError         an output to replace is open in a spreadsheet application (locked)

The statistics package raises its own ``sampling.SamplingError`` (a ``ValueError``); callers that face
users catch both (see :data:`USER_ERRORS`).
"""

from __future__ import annotations

from pathlib import Path

from sampling.errors import SamplingError

__all__ = [
    "WorkbenchError",
    "InputError",
    "EngagementError",
    "PopulationError",
    "ParameterError",
    "ResultsError",
    "StoreIntegrityError",
    "EngagementLocked",
    "FileInUseError",
    "USER_ERRORS",
]


class WorkbenchError(Exception):
    """Base of every error the workbench raises on purpose."""


class InputError(WorkbenchError):
    """Bad input the user can fix; ``str(error)`` is the whole message to show."""


class EngagementError(InputError):
    """``engagement.toml`` or the control matrix is missing, malformed or inconsistent.

    Parameters
    ----------
    message : str
        The whole message (every problem, one a line, when there are several).
    problems : tuple of str, optional
        Each problem on its own (file, line or row, key, value and fix), for programs.
    """

    def __init__(self, message: str, *, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[str, ...] = problems or (message,)


class PopulationError(InputError):
    """A client population file cannot be used.

    Parameters
    ----------
    message : str
        What is wrong and what to do about it.
    file : path-like, optional
        The file, named in the message.
    row : int or str, optional
        The row as a spreadsheet shows it (header = row 1), or a JSON path.
    column : str, optional
        The column header as it appears in the file.
    rule : str, default "file"
        The completeness and accuracy check it fails (``file``, ``format``, ``required_column``, ...), so
        a validation report can list it as a finding of that rule.
    """

    def __init__(self, message: str, *, file: str | Path | None = None,
                 row: int | str | None = None, column: str | None = None, rule: str = "file") -> None:
        self.file = None if file is None else str(file)
        self.row = row
        self.column = column
        self.rule = rule
        where = []
        if self.file is not None:
            where.append(self.file)
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ParameterError(InputError):
    """A notebook or command-line parameter has a wrong name, type or value."""


class ResultsError(InputError):
    """Recorded results or an imported testing template do not match what is expected."""


class StoreIntegrityError(ResultsError):
    """The results store fails its integrity check (a broken hash chain, a dropped or altered trigger): it
    refuses to report anything until the cause is found.

    Attributes
    ----------
    seq : int or None
        The first bad entry's position in the chain, when the problem is an entry.
    kind, key : str or None
        Its kind and its key as stored (JSON text).
    """

    def __init__(self, message: str, *, seq: int | None = None, kind: str | None = None,
                 key: str | None = None) -> None:
        super().__init__(message)
        self.seq = seq
        self.kind = kind
        self.key = key


class EngagementLocked(ResultsError):
    """The engagement is locked (``workbench lock``): nothing more is written into it or over its workpapers,
    except an addition made explicitly, with who and why (AT-C 205 / AU-C 230 documentation rules)."""


class FileInUseError(InputError):
    """A file the workbench would replace (a workpaper, the summary) is open in a spreadsheet application:
    its lock file is beside it, or the system refused the replacement. Nothing was written.

    Attributes
    ----------
    path : pathlib.Path
        The file that was not replaced.
    """

    def __init__(self, message: str, *, path: Path) -> None:
        super().__init__(message)
        self.path = path


#: What a user-facing entry point catches and reports without a traceback.
USER_ERRORS: tuple[type[Exception], ...] = (InputError, SamplingError)
