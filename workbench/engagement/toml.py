"""Reading ``engagement.toml``: every key checked, every problem placed on its line.

:func:`read_engagement_toml` parses the file's text into a :class:`ParsedToml` and reports each
problem (unknown or missing key, wrong type, bad value) to a :class:`~workbench.engagement.problems.Problems`
list with the file, the line where the key can be found, the table and key, the value and the fix.
tomllib does not report positions, so :class:`TomlLines` finds them with a light scanner.

Decisions (documented in docs/engagement.md):

- Dates are TOML dates, written without quotes (``period_start = 2025-07-01``). A quoted date is a string
  and is refused with that fix; a date-time is refused too (a period is made of whole days).
- Rates and the confidence level are TOML numbers and are kept as :class:`~decimal.Decimal` via
  ``Decimal(str(x))`` (:func:`sampling.inputs.to_probability`), so ``0.035`` means exactly 35/1000.
- File paths are relative to the engagement folder (``/`` or ``\\`` as separator) and may not leave it
  (``..`` escapes and absolute paths are refused).
- Criterion ids are read case-insensitively (``cc8.1``) and stored in their canonical spelling.

Public API::

    read_engagement_toml(folder, text, problems) -> ParsedToml
    read_policies(folder, text, data, problems, procedures) -> {procedure: {setting: value}}
    read_control_policies(folder, text, data, controls, problems, procedures) -> {control id: {setting: value}}
    read_control_occurrences(folder, text, data, controls, problems, occurrence_controls)
        -> {control id: (Occurrence, ...)}
    ParsedToml, TomlLines
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from sampling.errors import SamplingError
from sampling.inputs import to_probability
from workbench.engagement.criteria import CATEGORIES, CRITERIA, normalize_criterion_id
from workbench.engagement.model import (
    CUEC,
    Control,
    Occurrence,
    Round,
    DEFAULT_FREQUENCY_TABLE,
    ENGAGEMENT_FILE,
    HISTORY_MODES,
    POPULATION_FORMATS,
    POPULATION_KINDS,
    REPORT_TYPES,
    SAMPLING_MODELS,
    SELECTION_METHODS,
    STAFF_ROLES,
    SUBSERVICE_METHODS,
    FrozenMapping,
    PopulationSource,
    SamplingPolicy,
    StaffMember,
    SubserviceOrganization,
)
from workbench.engagement.problems import (
    ID_PATTERN,
    Problems,
    criteria_ranges,
    criterion_hint,
    describe_value,
    did_you_mean,
)
from workbench.procedures import KNOWN_PROCEDURES, get_procedure, is_implemented
from workbench.procedures.base import COMMON_POLICY, PolicyParameter, PolicyValue, Procedure
from workbench.files import real_path_outside

__all__ = ["read_engagement_toml", "read_policies", "read_control_policies", "read_control_occurrences",
           "policy_parameters_of", "ParsedToml", "TomlLines"]

_POPULATION_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")


# --------------------------------------------------------------------------------------------------
# Where a key is: line numbers for messages
# --------------------------------------------------------------------------------------------------
class TomlLines:
    """Finds the line of a key or table header in engagement.toml, for messages.

    A light scanner (tomllib does not report positions): it follows ``[table]`` and ``[[array]]`` headers
    and ``key =`` lines and skips multi-line strings. When it cannot place a key the message has no line.
    """

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    _KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_-]+(?:\s*\.\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+))*)\s*=""")

    def __init__(self, text: str) -> None:
        self.keys: dict[tuple[str, int | None, str | None], int] = {}
        counters: dict[str, int] = {}
        table, index = "", None
        in_multiline: str | None = None
        for lineno, line in enumerate(text.splitlines(), start=1):
            if in_multiline is not None:
                if line.count(in_multiline) % 2 == 1:
                    in_multiline = None
                continue
            header = self._HEADER.match(line)
            if header:
                table = self._normal(header.group(2))
                if header.group(1) == "[[":
                    counters[table] = counters.get(table, -1) + 1
                    index = counters[table]
                else:
                    index = None
                self.keys.setdefault((table, index, None), lineno)
                continue
            key = self._KEY.match(line)
            if key:
                name = self._normal(key.group(1))
                full = f"{table}.{name}" if table else name
                # dotted keys: record under the innermost table, too
                parent, _, last = full.rpartition(".")
                self.keys.setdefault((parent, index if parent == table else None, last), lineno)
                rest = line[key.end():]
                for quote in ('"""', "'''"):
                    if rest.count(quote) % 2 == 1:
                        in_multiline = quote
                        break

    @staticmethod
    def _normal(key: str) -> str:
        parts = re.findall(r'"[^"]*"|\'[^\']*\'|[^.\s]+', key)
        return ".".join(p.strip("\"'") for p in parts)

    def line(self, table: str, index: int | None, key: str | None) -> int | None:
        found = self.keys.get((table, index, key))
        if found is None and key is not None:  # a sub-table's header, e.g. [sampeling]
            found = self.keys.get((f"{table}.{key}" if table else key, None, None))
        if found is None and key is not None:  # the table's own header
            found = self.keys.get((table, index, None))
        return found


# --------------------------------------------------------------------------------------------------
# engagement.toml
# --------------------------------------------------------------------------------------------------
# Example values used in "add ..." fixes.
_EXAMPLES: dict[str, str] = {
    "client": 'client = "Acme Cloud, Inc."',
    "report_type": 'report_type = "type2"',
    "period_start": "period_start = 2025-07-01",
    "period_end": "period_end = 2026-06-30",
    "as_of": "as_of = 2026-06-30",
    "timezone": 'timezone = "America/New_York"',
    "criteria": 'criteria = ["security"]',
    "engagement_id": 'engagement_id = "ACME-SOC2-T2-FY26"',
    "confidence": "confidence = 0.90",
    "tolerable_rate": "tolerable_rate = 0.10",
    "name": 'name = "Dana Reyes"',
    "initials": 'initials = "DR"',
    "role": 'role = "preparer"',
    "method": 'method = "carve-out"',
    "id": 'id = "CUEC-01"',
    "description": 'description = "User entities maintain ..."',
    "file": 'file = "populations/<file as received>"',
    "kind": 'kind = "changes"',
}

_TOP_KEYS = ("engagement", "sampling", "staff", "subservice_organizations", "cuecs", "populations", "rounds",
             "policy", "controls")
_ROUND_KEYS = ("name", "start", "end", "populations")
_ENGAGEMENT_KEYS = ("client", "report_type", "period_start", "period_end", "as_of", "timezone",
                    "criteria", "firm", "engagement_id", "procedure_library")
_SAMPLING_KEYS = ("model", "confidence", "tolerable_rate", "expected_rate", "method", "frequency_table")
_STAFF_KEYS = ("name", "initials", "role")
_SUBSERVICE_KEYS = ("name", "services", "method", "csocs", "criteria")
_CUEC_KEYS = ("id", "description", "criteria")
_POPULATION_KEYS = ("file", "kind", "format", "stated_count", "stated_count_note", "system", "provided_by",
                    "received", "request", "query", "history", "records", "columns")


class _Table:
    """Checks one TOML table: reports unknown and missing keys and wrong types, naming file, line and key."""

    def __init__(self, ctx: "_TomlContext", data: dict[str, Any], path: str, display: str,
                 allowed: tuple[str, ...], index: int | None = None) -> None:
        self.ctx, self.data, self.path, self.display, self.index = ctx, data, path, display, index
        for key in data:
            if key not in allowed:
                hint = did_you_mean(key, allowed)
                self.problem(key, f"unknown key.{hint} Valid keys of {display}: {', '.join(allowed)}.")

    def problem(self, key: str | None, message: str) -> None:
        self.ctx.problem(self.path, self.index, key, f"{self.display} {key}" if key else self.display, message)

    def missing(self, key: str, why: str = "required key missing") -> None:
        example = _EXAMPLES.get(key, f"{key} = ...")
        self.problem(key, f"{why}; add {example} under {self.display}.")

    def has(self, key: str) -> bool:
        return key in self.data

    def string(self, key: str, *, required: bool = False) -> str | None:
        if key not in self.data:
            if required:
                self.missing(key)
            return None
        value = self.data[key]
        if not isinstance(value, str):
            self.problem(key, f"must be a string (text in quotes), got {describe_value(value)}; "
                              f"write {key} = \"...\".")
            return None
        if not value.strip():
            self.problem(key, "is empty; give a value or remove the key."
                         if not required else f"is empty; give a value, e.g. {_EXAMPLES.get(key, key)}.")
            return None
        return value.strip()

    def choice(self, key: str, choices: tuple[str, ...], *, required: bool = False) -> str | None:
        value = self.string(key, required=required)
        if value is None:
            return None
        if value not in choices:
            hint = did_you_mean(value, choices)
            self.problem(key, f"{value!r} is not allowed.{hint} Use one of: {', '.join(choices)}.")
            return None
        return value

    def day(self, key: str) -> date | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if isinstance(value, datetime):
            self.problem(key, f"must be a date, got {describe_value(value)}; write the day only, "
                              f"{key} = {value.date().isoformat()}.")
            return None
        if isinstance(value, date):
            return value
        if isinstance(value, str) and re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", value):
            self.problem(key, f"must be a TOML date, got {describe_value(value)}; write it without quotes: "
                              f"{key} = {value.strip()}.")
            return None
        self.problem(key, f"must be a date written without quotes like {key} = 2026-06-30, "
                          f"got {describe_value(value)}.")
        return None

    def integer(self, key: str, *, minimum: int) -> int | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key, f"must be a whole number >= {minimum} written without quotes, "
                              f"got {describe_value(value)}.")
            return None
        if value < minimum:
            self.problem(key, f"must be a whole number >= {minimum}, got {value}.")
            return None
        return value

    def probability(self, key: str, *, required: bool, allow_zero: bool = False) -> Decimal | None:
        if key not in self.data:
            if required:
                self.missing(key)
            return None
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            example = _EXAMPLES.get(key, f"{key} = 0.05")
            self.problem(key, f"must be a number (a fraction, without quotes), got {describe_value(value)}; "
                              f"e.g. {example}.")
            return None
        try:
            return to_probability(value, key, allow_zero=allow_zero)
        except SamplingError as error:
            self.problem(key, str(error))
            return None

    def strings(self, key: str, *, required: bool = False) -> tuple[str, ...] | None:
        if key not in self.data:
            if required:
                self.missing(key)
            return None
        value = self.data[key]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.problem(key, f"must be an array of non-empty strings like {key} = [\"...\", \"...\"], "
                              f"got {describe_value(value)}"
                         + ("" if not isinstance(value, list) else
                            " with an item that is not a non-empty string") + ".")
            return None
        return tuple(v.strip() for v in value)

    def table(self, key: str) -> dict[str, Any] | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if not isinstance(value, dict):
            self.problem(key, f"must be a table ([{self.path}.{key}]), got {describe_value(value)}.")
            return None
        return value


class _TomlContext:
    def __init__(self, folder: Path, text: str, problems: Problems) -> None:
        self.folder = folder
        self.file_label = f"{folder.name}/{ENGAGEMENT_FILE}"
        self.lines = TomlLines(text)
        self.problems = problems

    def problem(self, path: str, index: int | None, key: str | None, where: str, message: str) -> None:
        line = self.lines.line(path, index, key)
        at = f", line {line}" if line else ""
        self.problems.add(f"{self.file_label}{at}, {where}: {message}")


def _array_of_tables(ctx: _TomlContext, data: dict[str, Any], key: str, *, required: bool) -> list[dict[str, Any]] | None:
    """The entries of ``[[key]]``; ``[]`` when absent and optional; ``None`` after reporting a problem."""
    if key not in data:
        if required:
            ctx.problem(key, None, None, f"[[{key}]]",
                        f"required; add at least one [[{key}]] table (see the README).")
            return None
        return []
    value = data[key]
    if isinstance(value, dict):
        ctx.problem(key, None, None, f"[{key}]",
                    f"must be an array of tables: write [[{key}]] (double brackets) before each entry.")
        return None
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        ctx.problem("", None, key, f"{key}",
                    f"must be an array of tables ([[{key}]] entries), got {describe_value(value)}.")
        return None
    return value


def _check_timezone(table: _Table, name: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        hint = did_you_mean(name, sorted(zoneinfo.available_timezones()))
        table.problem("timezone", f"{name!r} is not an IANA time zone name.{hint} Use a name such as "
                                  f"\"America/New_York\", \"Europe/Berlin\" or \"UTC\".")
        return None
    return name


def _relative_file(table: _Table, key: str, written: str, folder: Path, what: str) -> tuple[str, Path] | None:
    """Check a path written in engagement.toml: relative, inside the folder, an existing file."""
    text = written.replace("\\", "/")
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        table.problem(key, f"{written!r} is an absolute path; give the path relative to the engagement "
                           f"folder, e.g. file = \"populations/{PurePosixPath(text).name}\", and keep the "
                           f"file inside the folder.")
        return None
    parts: list[str] = []
    for part in PurePosixPath(text).parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                table.problem(key, f"{written!r} leads outside the engagement folder; copy the file into "
                                   f"{folder.name}/populations/ and write file = "
                                   f"\"populations/{PurePosixPath(text).name}\".")
                return None
            parts.pop()
        else:
            parts.append(part)
    if not parts:
        table.problem(key, f"{written!r} is not a file name; give the file's path relative to the "
                           f"engagement folder, e.g. \"populations/changes.csv\".")
        return None
    relative = "/".join(parts)
    path = folder.joinpath(*parts)
    escaped = real_path_outside(folder, path)
    if escaped is not None:
        table.problem(key, f"{what}: {relative!r} leads outside the engagement folder through a symbolic link "
                           f"(its real path is {escaped}); client files must be inside the folder: copy the "
                           f"file itself into {folder.name}/populations/ (not a link to it) and give its path.")
        return None
    if not path.exists():
        table.problem(key, f"{what}: file {relative!r} not found (looked for {folder.name}/{relative}); put "
                           f"the client's file under {folder.name}/populations/ and give its path relative "
                           f"to the engagement folder.")
        return None
    if not path.is_file():
        table.problem(key, f"{what}: {relative!r} is a folder, not a file; name the file itself.")
        return None
    return relative, path


def _library_folder(table: _Table, written: str, folder: Path) -> Path | None:
    """``[engagement] procedure_library``: a folder, relative to the engagement folder (it may lie beside it,
    ``../firm-procedures``), that exists."""
    text = written.replace("\\", "/")
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        table.problem("procedure_library", f"{written!r} is an absolute path; give the firm library's path relative to "
                                           f"the engagement folder, e.g. procedure_library = \"../firm-procedures\".")
        return None
    path = (folder / text).resolve()
    if not path.exists():
        table.problem("procedure_library", f"folder {written!r} not found (looked for {path}); give the path of the "
                                           f"firm's procedure library relative to the engagement folder.")
        return None
    if not path.is_dir():
        table.problem("procedure_library", f"{written!r} is a file; name the folder that holds the firm's procedure "
                                           f"files (*.toml).")
        return None
    return path


@dataclass
class ParsedToml:
    """What engagement.toml gave; None where a problem was reported."""

    client: str | None = None
    engagement_id: str | None = None
    report_type: str | None = None
    period_start: date | None = None
    period_end: date | None = None
    as_of: date | None = None
    timezone: str | None = None
    criteria: tuple[str, ...] | None = None
    firm: str | None = None
    sampling: SamplingPolicy | None = None
    staff: tuple[StaffMember, ...] | None = None
    subservice: tuple[SubserviceOrganization, ...] | None = None
    cuecs: tuple[CUEC, ...] | None = None
    populations: dict[str, PopulationSource | None] | None = None
    rounds: tuple[Round, ...] | None = ()
    procedure_library: Path | None = None
    notes: list[str] = field(default_factory=list)


def _parse_engagement_table(ctx: _TomlContext, data: dict[str, Any], out: ParsedToml) -> None:
    if "engagement" not in data:
        ctx.problem("engagement", None, None, "[engagement]",
                    "required table missing; add [engagement] with client, report_type, the period or "
                    "as_of, timezone, criteria and engagement_id.")
        return
    if not isinstance(data["engagement"], dict):
        ctx.problem("", None, "engagement", "engagement",
                    f"must be a table ([engagement]), got {describe_value(data['engagement'])}.")
        return
    t = _Table(ctx, data["engagement"], "engagement", "[engagement]", _ENGAGEMENT_KEYS)
    out.client = t.string("client", required=True)
    out.firm = t.string("firm")
    engagement_id = t.string("engagement_id", required=True)
    if engagement_id is not None and not ID_PATTERN.match(engagement_id):
        t.problem("engagement_id", f"{engagement_id!r} may hold only letters, digits, '.', '_' and '-' "
                                   f"(it is part of every workpaper reference and file name), "
                                   f"e.g. \"ACME-SOC2-T2-FY26\".")
        engagement_id = None
    out.engagement_id = engagement_id
    library = t.string("procedure_library")
    if library is not None:
        out.procedure_library = _library_folder(t, library, ctx.folder)
    out.report_type = t.choice("report_type", REPORT_TYPES, required=True)
    period_start, period_end, as_of = t.day("period_start"), t.day("period_end"), t.day("as_of")
    if out.report_type == "type2":
        for key in ("period_start", "period_end"):
            if not t.has(key):
                t.missing(key, "required for a type2 report (the period tested)")
        if t.has("as_of"):
            t.problem("as_of", "not allowed for a type2 report, which covers period_start to period_end; "
                               "remove as_of (or set report_type = \"type1\").")
        if period_start and period_end and period_end < period_start:
            t.problem("period_end", f"{period_end.isoformat()} is before period_start "
                                    f"{period_start.isoformat()}; the period must end on or after its start.")
        else:
            out.period_start, out.period_end = period_start, period_end
    elif out.report_type == "type1":
        if not t.has("as_of"):
            t.missing("as_of", "required for a type1 report (the date of design and implementation)")
        for key in ("period_start", "period_end"):
            if t.has(key):
                t.problem(key, f"not allowed for a type1 report, which is as of one date; remove {key} "
                               f"(or set report_type = \"type2\").")
        out.as_of = as_of
    timezone = t.string("timezone", required=True)
    out.timezone = _check_timezone(t, timezone) if timezone is not None else None
    criteria = t.strings("criteria", required=True)
    if criteria is not None:
        ok = True
        seen: set[str] = set()
        for category in criteria:
            if category not in CATEGORIES:
                hint = did_you_mean(category, CATEGORIES)
                t.problem("criteria", f"{category!r} is not a trust services category.{hint} Use any of: "
                                      f"{', '.join(CATEGORIES)} (security is always in scope).")
                ok = False
            elif category in seen:
                t.problem("criteria", f"{category!r} is listed twice; list each category once.")
                ok = False
            seen.add(category)
        if not criteria:
            t.problem("criteria", "is empty; security is always in scope: criteria = [\"security\"].")
            ok = False
        elif "security" not in criteria:
            t.problem("criteria", "must include \"security\" (the common criteria CC1.1–CC9.2 are in every "
                                  "SOC 2 examination); add \"security\" to the list.")
            ok = False
        if ok:
            out.criteria = tuple(c for c in CATEGORIES if c in seen)


def _parse_sampling(ctx: _TomlContext, data: dict[str, Any], out: ParsedToml) -> None:
    if "sampling" not in data:
        ctx.problem("sampling", None, None, "[sampling]",
                    "required table missing; add [sampling] with at least confidence = 0.90 and "
                    "tolerable_rate = 0.10.")
        return
    if not isinstance(data["sampling"], dict):
        ctx.problem("", None, "sampling", "sampling",
                    f"must be a table ([sampling]), got {describe_value(data['sampling'])}.")
        return
    t = _Table(ctx, data["sampling"], "sampling", "[sampling]", _SAMPLING_KEYS)
    ok = True
    model = t.choice("model", SAMPLING_MODELS)
    if model is None:
        ok = ok and not t.has("model")
        model = "binomial"
        if not t.has("model"):
            out.notes.append("[sampling] model not given: binomial (the default).")
    confidence = t.probability("confidence", required=True)
    tolerable = t.probability("tolerable_rate", required=True)
    expected = t.probability("expected_rate", required=False, allow_zero=True)
    if expected is None:
        ok = ok and not t.has("expected_rate")
        expected = Decimal(0)
    if tolerable is not None and expected >= tolerable:
        t.problem("expected_rate", f"{expected} must be below tolerable_rate {tolerable}: a sample cannot "
                                   f"support reliance when as many deviations are expected as are tolerable. "
                                   f"Lower expected_rate or raise tolerable_rate.")
        ok = False
    method = t.choice("method", SELECTION_METHODS)
    if method is None:
        if t.has("method"):
            ok = False
        elif out.report_type is not None:
            method = "stratified" if out.report_type == "type2" else "random"
            out.notes.append(f"[sampling] method not given: {method} (the default for a {out.report_type} "
                             f"report).")
    table = dict(DEFAULT_FREQUENCY_TABLE)
    raw = t.table("frequency_table")
    if t.has("frequency_table") and raw is None:
        ok = False
    if raw is not None:
        allowed = tuple(DEFAULT_FREQUENCY_TABLE)
        ft = _Table(ctx, raw, "sampling.frequency_table", "[sampling.frequency_table]", allowed)
        if any(key not in allowed for key in raw):
            ok = False
        for key in allowed:
            size = ft.integer(key, minimum=1) if key in raw else None
            if key in raw and size is None:
                ok = False
            if size is not None:
                table[key] = size
        defaulted = [key for key in allowed if key not in raw]
        if defaulted:
            out.notes.append("[sampling.frequency_table] sizes not given, from the default table: "
                             + ", ".join(f"{k} {DEFAULT_FREQUENCY_TABLE[k]}" for k in defaulted) + ".")
    else:
        if not t.has("frequency_table"):
            out.notes.append("[sampling.frequency_table] not given: the default table ("
                             + ", ".join(f"{k} {v}" for k, v in DEFAULT_FREQUENCY_TABLE.items()) + ").")
    if ok and confidence is not None and tolerable is not None and method is not None:
        out.sampling = SamplingPolicy(model=model, confidence=confidence, tolerable_rate=tolerable,
                                      expected_rate=expected, method=method,
                                      frequency_table=FrozenMapping(table))


def _parse_staff(ctx: _TomlContext, data: dict[str, Any], out: ParsedToml) -> None:
    entries = _array_of_tables(ctx, data, "staff", required=True)
    if entries is None:
        return
    members: list[StaffMember] = []
    failed = False
    by_initials: dict[str, int] = {}
    for i, entry in enumerate(entries):
        t = _Table(ctx, entry, "staff", f"[[staff]] #{i + 1}", _STAFF_KEYS, index=i)
        failed = failed or any(key not in _STAFF_KEYS for key in entry)
        name = t.string("name", required=True)
        initials = t.string("initials", required=True)
        role = t.choice("role", STAFF_ROLES, required=True)
        if initials is not None:
            key = initials.upper()
            if key in by_initials:
                t.problem("initials", f"{initials!r} is also the initials of [[staff]] #{by_initials[key] + 1}; "
                                      f"initials identify who signed off, so each person needs their own "
                                      f"(e.g. add a middle initial).")
                initials = None
            else:
                by_initials[key] = i
        if name is None or initials is None or role is None:
            failed = True
        else:
            members.append(StaffMember(name=name, initials=initials, role=role))
    if not failed:
        roles = {member.role for member in members}
        for needed in ("preparer", "reviewer"):
            if needed not in roles:
                ctx.problem("staff", 0 if entries else None, None, "[[staff]]",
                            f"no {needed}: every engagement needs at least one preparer and one reviewer "
                            f"(workpapers are signed off by both); add a [[staff]] entry with "
                            f"role = \"{needed}\".")
                failed = True
    if not failed:
        out.staff = tuple(members)


def _check_criterion_list(t: _Table, key: str, values: tuple[str, ...],
                          scope: tuple[str, ...] | None) -> tuple[str, ...] | None:
    result: list[str] = []
    ok = True
    for value in values:
        canonical = normalize_criterion_id(value)
        if canonical is None:
            hint = criterion_hint(value)
            t.problem(key, f"{value!r} is not a 2017 Trust Services Criterion{hint}. Valid ids: "
                           f"{criteria_ranges()}.")
            ok = False
            continue
        category = CRITERIA[canonical].category
        if scope is not None and category not in scope:
            t.problem(key, f"{canonical} belongs to {category}, which is not in scope ([engagement] criteria = "
                           f"{list(scope)}); add \"{category}\" there or remove {canonical}.")
            ok = False
        result.append(canonical)
    return tuple(result) if ok else None


def _parse_subservice(ctx: _TomlContext, data: dict[str, Any], out: ParsedToml) -> None:
    entries = _array_of_tables(ctx, data, "subservice_organizations", required=False)
    if entries is None:
        return
    result: list[SubserviceOrganization] = []
    ok = True
    names: dict[str, int] = {}
    for i, entry in enumerate(entries):
        t = _Table(ctx, entry, "subservice_organizations", f"[[subservice_organizations]] #{i + 1}",
                   _SUBSERVICE_KEYS, index=i)
        name = t.string("name", required=True)
        services = t.string("services")
        if t.has("services") and services is None:
            ok = False
        method = t.choice("method", SUBSERVICE_METHODS, required=True)
        csocs = t.strings("csocs")
        if t.has("csocs") and csocs is None:
            ok = False
        criteria = t.strings("criteria")
        if criteria is not None:
            criteria = _check_criterion_list(t, "criteria", criteria, out.criteria)
        if t.has("criteria") and criteria is None:
            ok = False
        if name is not None:
            if name.lower() in names:
                t.problem("name", f"{name!r} is listed twice (also #{names[name.lower()] + 1}); list each "
                                  f"subservice organization once.")
                name = None
            else:
                names[name.lower()] = i
        if name is None or method is None:
            ok = False
        else:
            result.append(SubserviceOrganization(name=name, services=services, method=method,
                                                 csocs=csocs or (), criteria=criteria or ()))
    if ok:
        out.subservice = tuple(result)


def _parse_cuecs(ctx: _TomlContext, data: dict[str, Any], out: ParsedToml) -> None:
    entries = _array_of_tables(ctx, data, "cuecs", required=False)
    if entries is None:
        return
    result: list[CUEC] = []
    ok = True
    ids: dict[str, int] = {}
    for i, entry in enumerate(entries):
        t = _Table(ctx, entry, "cuecs", f"[[cuecs]] #{i + 1}", _CUEC_KEYS, index=i)
        cuec_id = t.string("id", required=True)
        description = t.string("description", required=True)
        criteria = t.strings("criteria")
        if criteria is not None:
            criteria = _check_criterion_list(t, "criteria", criteria, out.criteria)
        if cuec_id is not None:
            if cuec_id in ids:
                t.problem("id", f"{cuec_id!r} is used twice (also [[cuecs]] #{ids[cuec_id] + 1}); CUEC ids "
                                f"must be unique.")
                cuec_id = None
            else:
                ids[cuec_id] = i
        if cuec_id is None or description is None or (t.has("criteria") and criteria is None):
            ok = False
        else:
            result.append(CUEC(id=cuec_id, description=description, criteria=criteria or ()))
    if ok:
        out.cuecs = tuple(result)


def _parse_populations(ctx: _TomlContext, data: dict[str, Any], out: ParsedToml) -> None:
    if "populations" not in data:
        out.populations = {}
        return
    raw = data["populations"]
    if not isinstance(raw, dict):
        ctx.problem("", None, "populations", "populations",
                    f"must be a table of tables: one [populations.<id>] per client file, got {describe_value(raw)}.")
        return
    result: dict[str, PopulationSource | None] = {}
    for pop_id, entry in raw.items():
        display = f"[populations.{pop_id}]"
        path = f"populations.{pop_id}"
        if not _POPULATION_ID_RE.match(pop_id):
            ctx.problem(path, None, None, display,
                        f"population id {pop_id!r} may hold only letters, digits, '_' and '-' (the control "
                        f"matrix lists ids separated by ';'); rename the table, e.g. [populations.changes].")
            result[pop_id] = None
            continue
        if not isinstance(entry, dict):
            ctx.problem("populations", None, pop_id, f"[populations] {pop_id}",
                        f"must be a table with file and kind: write [populations.{pop_id}] and under it "
                        f"file = \"populations/...\" and kind = \"...\"; got {describe_value(entry)}.")
            result[pop_id] = None
            continue
        t = _Table(ctx, entry, path, display, _POPULATION_KEYS)
        bad_keys = any(key not in _POPULATION_KEYS for key in entry)
        file = t.string("file", required=True)
        located = None
        if file is not None:
            located = _relative_file(t, "file", file, ctx.folder, f"population {pop_id!r}")
        kind = t.choice("kind", POPULATION_KINDS, required=True)
        fmt = t.choice("format", POPULATION_FORMATS)
        stated = t.integer("stated_count", minimum=0)
        optional = {key: t.string(key) for key in ("system", "provided_by", "request", "query", "stated_count_note",
                                                   "records")}
        note_alone = optional["stated_count_note"] is not None and not t.has("stated_count")
        if note_alone:
            t.problem("stated_count_note", "explains a difference from stated_count, which is not given; add "
                                           "stated_count = <the count the client stated> or remove the note.")
        history = t.choice("history", HISTORY_MODES)
        received = t.day("received")
        columns_raw = t.table("columns")
        columns: dict[str, str] = {}
        columns_ok = not t.has("columns") or columns_raw is not None
        if columns_raw is not None:
            for canonical, header in columns_raw.items():
                if not isinstance(header, str) or not header.strip():
                    ctx.problem(f"{path}.columns", None, canonical, f"[{path}.columns] {canonical}",
                                f"must be the column header in the file, as a string, got {describe_value(header)}; "
                                f"write {canonical} = \"Header in the file\".")
                    columns_ok = False
                else:
                    columns[canonical] = header
        failed = (bad_keys or located is None or kind is None or (t.has("format") and fmt is None)
                  or (t.has("stated_count") and stated is None) or (t.has("received") and received is None)
                  or any(t.has(k) and v is None for k, v in optional.items()) or not columns_ok or note_alone
                  or (t.has("history") and history is None))
        if failed or located is None or kind is None:
            result[pop_id] = None
            continue
        result[pop_id] = PopulationSource(
            id=pop_id, file=located[0], path=located[1], kind=kind, format=fmt or "auto",
            stated_count=stated, received=received, columns=FrozenMapping(columns), history=history or "all",
            system=optional["system"], provided_by=optional["provided_by"], request=optional["request"],
            query=optional["query"], stated_count_note=optional["stated_count_note"], records=optional["records"],
        )
    out.populations = result


def _parse_toml(ctx: _TomlContext, data: dict[str, Any]) -> ParsedToml:
    out = ParsedToml()
    for key in data:
        if key not in _TOP_KEYS:
            hint = did_you_mean(key, _TOP_KEYS)
            ctx.problem("", None, key, key, f"unknown key or table.{hint} engagement.toml may hold: "
                                            f"{', '.join(_TOP_KEYS)}.")
    _parse_engagement_table(ctx, data, out)
    _parse_sampling(ctx, data, out)
    _parse_staff(ctx, data, out)
    _parse_subservice(ctx, data, out)
    _parse_cuecs(ctx, data, out)
    _parse_populations(ctx, data, out)
    _parse_rounds(ctx, data, out)
    return out


def _parse_rounds(ctx: _TomlContext, data: dict[str, Any], out: ParsedToml) -> None:
    """``[[rounds]]``: interim and roll-forward rounds that together cover the period exactly."""
    entries = _array_of_tables(ctx, data, "rounds", required=False)
    if entries is None:
        out.rounds = None
        return
    if not entries:
        return
    if out.report_type == "type1":
        ctx.problem("rounds", 0, None, "[[rounds]]", "a type1 report is as of one date and has no testing "
                                                      "rounds; remove the [[rounds]] tables.")
        out.rounds = None
        return
    rounds: list[Round] = []
    ok = True
    owner: dict[str, str] = {}
    for i, entry in enumerate(entries):
        t = _Table(ctx, entry, "rounds", f"[[rounds]] #{i + 1}", _ROUND_KEYS, index=i)
        ok = ok and all(key in _ROUND_KEYS for key in entry)
        name = t.string("name", required=True)
        start, end = t.day("start"), t.day("end")
        for key, value in (("start", start), ("end", end)):
            if value is None and not t.has(key):
                t.missing(key, f"required: the first day of the round ({key} = 2025-07-01)" if key == "start"
                          else "required: the last day of the round (end = 2026-01-31)")
        populations = t.strings("populations", required=True)
        if name is not None and any(r.name == name for r in rounds):
            t.problem("name", f"{name!r} is used by two rounds; name each round once.")
            name = None
        if start is not None and end is not None and end < start:
            t.problem("end", f"{end.isoformat()} is before start {start.isoformat()}; a round ends on or after "
                             f"its start.")
            end = None
        for pid in populations or ():
            if out.populations is not None and pid not in out.populations:
                t.problem("populations", f"population {pid!r} is not defined.{did_you_mean(pid, out.populations)} "
                                         f"Defined: {', '.join(out.populations) or 'none'}.")
                ok = False
            elif pid in owner and name is not None:
                t.problem("populations", f"population {pid!r} is also delivered for round {owner[pid]!r}; a "
                                         f"roll-forward export is a population of its own ([populations.<id>] "
                                         f"with its own file), so each round names its own.")
                ok = False
            elif name is not None:
                owner[pid] = name
        if name is None or start is None or end is None or populations is None:
            ok = False
        else:
            rounds.append(Round(name=name, start=start, end=end, populations=populations))
    if not ok:
        out.rounds = None
        return
    rounds.sort(key=lambda r: r.start)
    if out.period_start is not None and out.period_end is not None:
        if rounds[0].start != out.period_start:
            ctx.problem("rounds", 0, "start", f"[[rounds]] {rounds[0].name} start",
                        f"the first round starts {rounds[0].start.isoformat()}, but the period starts "
                        f"{out.period_start.isoformat()}; the rounds must cover the whole period.")
            ok = False
        if rounds[-1].end != out.period_end:
            ctx.problem("rounds", len(rounds) - 1, "end", f"[[rounds]] {rounds[-1].name} end",
                        f"the last round ends {rounds[-1].end.isoformat()}, but the period ends "
                        f"{out.period_end.isoformat()}; the rounds must cover the whole period.")
            ok = False
    for before, after in zip(rounds, rounds[1:]):
        gap = (after.start - before.end).days
        if gap > 1:
            ctx.problem("rounds", None, None, "[[rounds]]",
                        f"gap between round {before.name!r} (ends {before.end.isoformat()}) and round "
                        f"{after.name!r} (starts {after.start.isoformat()}): {gap - 1} day(s) of the period "
                        f"in no round; start {after.name!r} on {(before.end + timedelta(days=1)).isoformat()}.")
            ok = False
        elif gap < 1:
            ctx.problem("rounds", None, None, "[[rounds]]",
                        f"round {before.name!r} (ends {before.end.isoformat()}) and round {after.name!r} (starts "
                        f"{after.start.isoformat()}) overlap by {1 - gap} day(s); each day of the period belongs "
                        f"to one round: start {after.name!r} on {(before.end + timedelta(days=1)).isoformat()}.")
            ok = False
    out.rounds = tuple(rounds) if ok else None


def _policy_values(ctx: _TomlContext, raw: dict[str, Any], path: str, display: str,
                   parameters: tuple[PolicyParameter, ...], for_what: str) -> dict[str, PolicyValue] | None:
    """Check a policy table's keys and values against ``parameters``; None after reporting a problem."""
    names = tuple(p.name for p in parameters)
    t = _Table(ctx, raw, path, display, names)
    values: dict[str, PolicyValue] = {}
    ok = all(key in names for key in raw)
    for parameter in parameters:
        if parameter.name not in raw:
            continue
        try:
            values[parameter.name] = parameter.check(raw[parameter.name])
        except ValueError as error:
            t.problem(parameter.name, f"{error} ({for_what})")
            ok = False
    return values if ok else None


def read_policies(folder: Path, text: str, data: dict[str, Any], problems: Problems,
                  procedures: Mapping[str, Procedure] | None = None) -> dict[str, dict[str, PolicyValue]]:
    """``[policy.<procedure>]``: the engagement's policy for every control tested with a procedure (a procedure of
    the catalogue, or a firm procedure of ``procedures``), checked against the procedure's settings.

    Every problem goes to ``problems`` with the line; the result is only meaningful when none was reported.
    """
    if "policy" not in data:
        return {}
    ctx = _TomlContext(folder, text, problems)
    raw = data["policy"]
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        ctx.problem("", None, "policy", "policy", "must hold one table per procedure: [policy.change_management] "
                                                  "with settings such as min_sample_size = 25.")
        return {}
    firm = dict(procedures or {})
    names = KNOWN_PROCEDURES + tuple(firm)
    policies: dict[str, dict[str, PolicyValue]] = {}
    for name, table in raw.items():
        if name not in names:
            ctx.problem("policy", None, name, f"[policy.{name}]",
                        f"{name!r} is not a procedure.{did_you_mean(name, names)} Use one of: {', '.join(names)}.")
            continue
        values = _policy_values(ctx, table, f"policy.{name}", f"[policy.{name}]", policy_parameters_of(name, firm),
                                f"policy of procedure {name}")
        if values is not None:
            policies[name] = values
    return policies


def policy_parameters_of(procedure: str, procedures: Mapping[str, Procedure] | None = None
                         ) -> tuple[PolicyParameter, ...]:
    """The policy parameters of a procedure: a firm procedure's (``procedures``), the catalogue's, or the common ones
    for a procedure not implemented yet."""
    if procedures and procedure in procedures:
        return procedures[procedure].policy_parameters
    return get_procedure(procedure).policy_parameters if is_implemented(procedure) else COMMON_POLICY


def read_control_policies(folder: Path, text: str, data: dict[str, Any], controls: list[Control],
                          problems: Problems, procedures: Mapping[str, Procedure] | None = None
                          ) -> dict[str, dict[str, PolicyValue]]:
    """``[controls.<id>.policy]``: one control's policy, checked against its procedure once the matrix is read
    (``procedures``: the firm's).

    Every problem (a control not in the matrix, a control without a procedure, an unknown setting, a bad
    value) goes to ``problems`` with the line; the result is only meaningful when none was reported. A control's
    ``occurrences`` are read by :func:`read_control_occurrences`.
    """
    raw = data.get("controls")
    if raw is None:
        return {}
    ctx = _TomlContext(folder, text, problems)
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        ctx.problem("", None, "controls", "controls", "must hold one table per control: [controls.CM-01.policy] "
                                                      "with settings such as min_sample_size = 40.")
        return {}
    by_id = {c.id: c for c in controls}
    result: dict[str, dict[str, PolicyValue]] = {}
    for control_id, table in raw.items():
        display = f"[controls.{control_id}]"
        t = _Table(ctx, table, f"controls.{control_id}", display, ("policy", "occurrences"))
        control = by_id.get(control_id)
        if control is None:
            t.problem(None, f"no control {control_id!r} in the control matrix.{did_you_mean(control_id, by_id)}")
            continue
        if control.procedure is None:
            t.problem(None, f"control {control_id} has no procedure, so it has no policy to set; name its "
                            f"procedure in the control matrix or remove this table.")
            continue
        policy = t.table("policy")
        if policy is None:
            continue
        values = _policy_values(ctx, policy, f"controls.{control_id}.policy", f"[controls.{control_id}.policy]",
                                policy_parameters_of(control.procedure, procedures), f"policy of control {control_id}")
        if values is not None:
            result[control_id] = values
    return result



_OCCURRENCE_KEYS = ("id", "date", "description")


def read_control_occurrences(folder: Path, text: str, data: dict[str, Any], controls: list[Control],
                             problems: Problems, occurrence_controls: set[str]) -> dict[str, tuple[Occurrence, ...]]:
    """``[[controls.<id>.occurrences]]`` (or ``occurrences = [{ id = ..., date = ... }]``): the occurrences the tester
    lists for a control with no client export (``occurrence_controls``: the ids of the controls tested with a
    procedure of kind ``occurrences``). Each has an ``id`` (unique), a ``date`` (a TOML date, no quotes) and an
    optional ``description``. An empty list is a recorded zero.

    Problems go to ``problems`` with the line; a control not in the matrix is reported by
    :func:`read_control_policies`.
    """
    raw = data.get("controls")
    if not isinstance(raw, dict):
        return {}
    ctx = _TomlContext(folder, text, problems)
    by_id = {c.id: c for c in controls}
    result: dict[str, tuple[Occurrence, ...]] = {}
    for control_id, table in raw.items():
        if not isinstance(table, dict) or "occurrences" not in table or control_id not in by_id:
            continue
        path = f"controls.{control_id}"
        entries = table["occurrences"]
        if control_id not in occurrence_controls:
            procedure = by_id[control_id].procedure or "none"
            ctx.problem(path, None, "occurrences", f"[controls.{control_id}] occurrences",
                        f"control {control_id} is tested with procedure {procedure!r}, which samples a population of "
                        f"the client's; occurrences are listed only for a control with no client export (procedure "
                        f"inspection or automated_control, or a firm procedure of population_kind \"occurrences\"). "
                        f"Remove them, or change the control's procedure.")
            continue
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            ctx.problem(path, None, "occurrences", f"[controls.{control_id}] occurrences",
                        f"must be a list of tables, each with id and date: write [[controls.{control_id}.occurrences]] "
                        f"then id = \"DR-2026-03\" and date = 2026-03-14 on their own lines; got "
                        f"{describe_value(entries)}.")
            continue
        listed: list[Occurrence] = []
        ok = True
        seen: dict[str, int] = {}
        for i, entry in enumerate(entries):
            display = f"[[controls.{control_id}.occurrences]] #{i + 1}"
            t = _Table(ctx, entry, f"{path}.occurrences", display, _OCCURRENCE_KEYS, index=i)
            ok = ok and all(key in _OCCURRENCE_KEYS for key in entry)
            occurrence_id = t.string("id", required=True)
            day = t.day("date")
            if not t.has("date"):
                t.missing("date", "required: the day the control was performed (date = 2026-03-14, no quotes)")
            description = t.string("description")
            if occurrence_id is not None and not ID_PATTERN.match(occurrence_id):
                t.problem("id", f"{occurrence_id!r} may hold only letters, digits, '.', '_' and '-' (it is the "
                                f"occurrence's key in the results store), e.g. id = \"DR-2026-03\".")
                occurrence_id = None
            if occurrence_id is not None and occurrence_id in seen:
                t.problem("id", f"{occurrence_id!r} is also occurrence #{seen[occurrence_id] + 1}; give each "
                                f"occurrence its own id.")
                occurrence_id = None
            if occurrence_id is None or day is None or (t.has("description") and description is None):
                ok = False
                continue
            seen[occurrence_id] = i
            listed.append(Occurrence(id=occurrence_id, date=day, description=description))
        if ok:
            result[control_id] = tuple(listed)
    return result


def read_engagement_toml(folder: Path, text: str, data: dict[str, Any], problems: Problems) -> ParsedToml:
    """Check the parsed ``engagement.toml`` of ``folder``, reporting every problem to ``problems``.

    Parameters
    ----------
    folder : pathlib.Path
        The engagement folder (absolute); population paths are checked inside it.
    text : str
        The file's text (for line numbers in messages).
    data : dict
        What :func:`tomllib.loads` made of ``text``.
    problems : Problems
        Where every problem goes; nothing is raised here.

    Returns
    -------
    ParsedToml
        What the file gave; ``None`` in a field whose problem was reported.
    """
    return _parse_toml(_TomlContext(folder, text, problems), data)
