"""Firm-defined procedures: TOML files that declare a procedure without touching the package.

A firm adds a procedure (or a variant of one, with its own attributes and thresholds) by writing a TOML file
in the engagement's ``procedures/`` folder, or in a firm library folder that engagement.toml names
(``[engagement] procedure_library = "../firm-procedures"``, relative to the engagement folder). Every
``*.toml`` file of those folders is one procedure; a file in the engagement's folder replaces a library file
of the same procedure name (and says so in the engagement's notes). The format, with a worked example, is
in docs/procedures-library.md; in short::

    name = "weekend_deployment_approval"          # lower_snake_case; default the file name
    title = "Weekend deployment approval"
    criteria = ["CC8.1"]
    population_kind = "changes"                   # key_column, date_column: the kind's unless given
    item_noun = "change"                          # Section 4 wording
    item_noun_plural = "changes"
    inspection = "Inspected the change ticket for"

    [policy.approval_window]                      # a policy parameter, with its default
    default = 1
    description = "Business days after deployment by which a change must be approved."
    unit = "business days"

    [[attributes]]                                # automated: a rule
    id = "approved_in_window"
    rule = "before"                               # present | before | differ | in_list | exists_in
    column = "approved_at"
    reference = "deployed_at"
    within_business_days = "approval_window"      # a number, or a policy parameter's name
    objective = "the change was approved no later than the policy window after deployment"
    deviation = "the change was not approved within the policy window"

    [[attributes]]                                # manual: judged from evidence
    id = "testing_evidenced"
    kind = "manual"
    objective = "testing was evidenced before deployment"
    deviation = "testing before deployment was not evidenced"

Rules are :mod:`workbench.procedures.rules`. A procedure with an automated attribute and no accuracy
attribute gets the standard ``agreed_to_source`` check (noted). Every problem names the file, the line and
the fix, and goes to the engagement's problem list (:func:`workbench.engagement.load_engagement` raises them
together).

Public API::

    read_firm_procedures(folder, label, library, problems, notes) -> dict[str, Procedure]
    FIRM_PROCEDURES_FOLDER
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from workbench.engagement.criteria import normalize_criterion_id
from workbench.engagement.problems import Problems, criterion_hint, describe_value, did_you_mean
from workbench.engagement.record_filter import FilterSyntaxError, RecordFilter
from workbench.engagement.toml import TomlLines
from workbench.formats.schemas import SCHEMAS
from workbench.procedures import KNOWN_PROCEDURES
from workbench.procedures.base import (
    ACCURACY,
    AUTOMATED,
    COMMON_POLICY,
    CONTROL,
    MANUAL,
    ON_OR_AFTER,
    ON_OR_BEFORE,
    Attribute,
    PolicyParameter,
    Procedure,
)
from workbench.procedures.rules import RULE_TYPES, Before, Condition, Differ, ExistsIn, InList, Present, Rule

__all__ = ["read_firm_procedures", "FIRM_PROCEDURES_FOLDER"]

#: The engagement's own folder of firm procedures.
FIRM_PROCEDURES_FOLDER = "procedures"

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TOP_KEYS = ("name", "title", "criteria", "population_kind", "key_column", "date_column", "item_noun",
             "item_noun_plural", "item_description", "item_description_plural", "occurred", "inspection",
             "description", "matrix_columns", "record_filter", "derived_occurrences", "sample_per_record", "policy",
             "attributes")
_REQUIRED_TOP = ("title", "population_kind", "item_noun", "item_noun_plural", "inspection")
_RULE_KEYS: dict[str, tuple[str, ...]] = {
    "present": ("column",), "before": ("column", "reference", "within_business_days"),
    "differ": ("column", "other"), "in_list": ("column", "values"),
    "exists_in": ("related_kind", "on", "in_window"),
}
_REQUIRED_RULE_KEYS: dict[str, tuple[str, ...]] = {
    "present": ("column",), "before": ("column", "reference"), "differ": ("column", "other"),
    "in_list": ("column", "values"), "exists_in": ("related_kind", "on"),
}
_ATTRIBUTE_KEYS = ("id", "label", "kind", "role", "rule", "description", "pass_criterion", "deviation", "objective",
                   "population_wording", "census_test", "depends_on", "evidence_request", "when",
                   "compared_date_column", "compared_date_relation") + tuple(
    dict.fromkeys(k for keys in _RULE_KEYS.values() for k in keys))
_POLICY_KEYS = ("default", "description", "unit", "minimum", "choices")
#: The verb of each kind's date, for the population description ("changes deployed during the period").
_OCCURRED = {"changes": "deployed", "deployments": "deployed", "incidents": "opened", "tickets": "opened",
             "users": "listed", "access_requests": "requested", "terminations": "terminated",
             "access_reviews": "due", "backups": "run", "vendors": "listed", "training": "due",
             "occurrences": "due"}
_EXAMPLE = {
    "title": 'title = "Weekend deployment approval"',
    "population_kind": 'population_kind = "changes"',
    "item_noun": 'item_noun = "change"',
    "item_noun_plural": 'item_noun_plural = "changes"',
    "inspection": 'inspection = "Inspected the change ticket for"',
    "id": 'id = "approved_in_window"',
    "objective": 'objective = "the change was approved before deployment"',
    "deviation": 'deviation = "approval was not documented before deployment"',
    "column": 'column = "approved_at"',
    "reference": 'reference = "deployed_at"',
    "other": 'other = "author"',
    "values": 'values = ["Y", "Yes"]',
    "related_kind": 'related_kind = "deployments"',
    "on": 'on = { change_id = "change_id" }',
    "default": "default = 1",
    "description": 'description = "What the setting decides"',
}


class _File:
    """One procedure file being read: its values, and its problems with file and line."""

    def __init__(self, label: str, text: str, problems: Problems) -> None:
        self.label, self.lines, self.problems = label, TomlLines(text), problems
        self.ok = True

    def problem(self, table: str, index: int | None, key: str | None, where: str, message: str) -> None:
        line = self.lines.line(table, index, key)
        at = f", line {line}" if line else ""
        self.problems.add(f"{self.label}{at}, {where}: {message}")
        self.ok = False


class _Table:
    """One table of the file (the top level, an ``[[attributes]]`` entry, a ``[policy.<name>]``)."""

    def __init__(self, file: _File, data: dict[str, Any], table: str, index: int | None, display: str,
                 allowed: tuple[str, ...]) -> None:
        self.file, self.data, self.table, self.index, self.display = file, data, table, index, display
        self.misspelt: set[str] = set()    # keys written misspelt: reported once, as the unknown key
        for key in data:
            if key not in allowed:
                self.problem(key, f"unknown key.{did_you_mean(key, allowed)} Valid keys here: {', '.join(allowed)}.")
                self.misspelt.update(difflib.get_close_matches(key, allowed, n=1))

    def where(self, key: str | None) -> str:
        return f"{self.display} {key}".strip() if key else self.display.strip() or "(top level)"

    def problem(self, key: str | None, message: str) -> None:
        self.file.problem(self.table, self.index, key, self.where(key), message)

    def has(self, key: str) -> bool:
        return key in self.data

    def text(self, key: str, *, required: bool = False, default: str = "") -> str:
        if key not in self.data:
            if required and key not in self.misspelt:
                self.problem(key, f"required key missing; add {_EXAMPLE.get(key, key + ' = ...')}.")
            elif required:
                self.file.ok = False
            return default
        value = self.data[key]
        if not isinstance(value, str) or not value.strip():
            example = _EXAMPLE.get(key, f'{key} = "..."')
            self.problem(key, f"must be text in quotes, got {describe_value(value)}; write {example}.")
            return default
        return value.strip()

    def flag(self, key: str) -> bool:
        if key not in self.data:
            return False
        value = self.data[key]
        if not isinstance(value, bool):
            self.problem(key, f"must be true or false (no quotes), got {describe_value(value)}; write {key} = true.")
            return False
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        if key not in self.data:
            return ()
        value = self.data[key]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.problem(key, f"must be an array of text like {key} = [\"a\", \"b\"], got {describe_value(value)}.")
            return ()
        return tuple(v.strip() for v in value)


def _file_label(path: Path, folder: Path) -> str:
    """How messages name a file: relative to the engagement folder's parent (``acme/procedures/x.toml``)."""
    try:
        return Path(os.path.relpath(path, folder.parent)).as_posix()
    except ValueError:  # another drive on Windows
        return path.as_posix()


def read_firm_procedures(folder: Path, label: str, library: Path | None, problems: Problems,
                         notes: list[str]) -> dict[str, Procedure]:
    """Read every firm procedure file of the library folder and of the engagement's ``procedures/`` folder.

    Parameters
    ----------
    folder : pathlib.Path
        The engagement folder (absolute).
    label : str
        How messages name the folder.
    library : pathlib.Path or None
        The firm library folder (``[engagement] procedure_library``), already checked to exist.
    problems : Problems
        Every problem goes here (file, line, fix); nothing is raised.
    notes : list of str
        The engagement's notes (a file that replaces a library file; an accuracy check added).

    Returns
    -------
    dict
        Procedure name -> Procedure (only meaningful when no problem was reported).
    """
    found: dict[str, Procedure] = {}
    origin: dict[str, str] = {}
    for source_folder, where in ((library, "library"), (folder / FIRM_PROCEDURES_FOLDER, "engagement")):
        if source_folder is None or not source_folder.is_dir():
            continue
        in_folder: dict[str, str] = {}
        for path in sorted(source_folder.glob("*.toml")):
            if not path.is_file() or path.name.startswith((".", "~$")):
                continue
            file_label = _file_label(path, folder)
            procedure = _read_file(path, file_label, problems, notes)
            if procedure is None:
                continue
            if procedure.name in in_folder:
                problems.add(f"{file_label}: procedure {procedure.name!r} is also declared by "
                             f"{in_folder[procedure.name]}; give each procedure its own name (one file each).")
                continue
            in_folder[procedure.name] = file_label
            if procedure.name in found and where == "engagement":
                notes.append(f"firm procedure {procedure.name!r}: {file_label} replaces the library's "
                             f"{origin[procedure.name]} for this engagement.")
            found[procedure.name] = procedure
            origin[procedure.name] = file_label
    return found


def _read_file(path: Path, label: str, problems: Problems, notes: list[str]) -> Procedure | None:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        problems.add(f"{label}: not UTF-8 text ({error}); save the procedure file as UTF-8.")
        return None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        problems.add(f"{label}: TOML syntax error: {error}. Check that line: text needs quotes (title = \"...\"), "
                     f"numbers do not (default = 1), and each [[attributes]] entry starts with its own header.")
        return None
    file = _File(label, text, problems)
    top = _Table(file, data, "", None, "", _TOP_KEYS)
    name = top.text("name", default=path.stem)
    if not _NAME.match(name):
        top.problem("name" if top.has("name") else None,
                    f"procedure name {name!r} must be lower_snake_case (letters, digits and '_', starting with a "
                    f"letter), as the control matrix's Procedure column names it; e.g. name = \"firm_{re.sub(r'[^a-z0-9]+', '_', name.lower()).strip('_') or 'procedure'}\".")
        return None
    if name in KNOWN_PROCEDURES:
        top.problem("name" if top.has("name") else None,
                    f"{name!r} is a procedure of the package; give the firm's procedure a name of its own (e.g. "
                    f"name = \"firm_{name}\") and name that in the control matrix. A built-in procedure's thresholds "
                    f"are set in engagement.toml ([policy.{name}]).")
        return None
    for key in _REQUIRED_TOP:
        top.text(key, required=True)
    title = top.text("title")
    kind = top.text("population_kind")
    schema = SCHEMAS.get(kind) if kind else None
    if kind and schema is None:
        top.problem("population_kind", f"{kind!r} is not a population kind.{did_you_mean(kind, SCHEMAS)} Use one "
                                       f"of: {', '.join(SCHEMAS)}.")
    if schema is None:
        return None
    columns = schema.columns
    key_column = top.text("key_column", default=schema.key)
    if key_column not in columns:
        top.problem("key_column", f"{key_column!r} is not a column of {kind} populations."
                                  f"{did_you_mean(key_column, columns)} Columns: {', '.join(columns)}.")
    date_column = top.text("date_column", default=schema.date_column or "")
    if date_column and date_column not in schema.timestamps:
        top.problem("date_column", f"{date_column!r} is not a date column of {kind} populations."
                                   f"{did_you_mean(date_column, schema.timestamps)} Date columns: "
                                   f"{', '.join(schema.timestamps)}.")
    criteria = []
    for item in top.texts("criteria"):
        canonical = normalize_criterion_id(item)
        if canonical is None:
            top.problem("criteria", f"{item!r} is not a 2017 Trust Services Criterion{criterion_hint(item)}.")
        else:
            criteria.append(canonical)
    matrix_columns = top.texts("matrix_columns")
    for column in matrix_columns:
        if column not in columns:
            top.problem("matrix_columns", f"{column!r} is not a column of {kind} populations."
                                          f"{did_you_mean(column, columns)} Columns: {', '.join(columns)}.")
    record_filter = top.text("record_filter")
    if record_filter:
        try:
            parsed = RecordFilter.parse(record_filter)
            if parsed.column not in columns:
                top.problem("record_filter", f"{parsed.column!r} is not a column of {kind} populations."
                                             f"{did_you_mean(parsed.column, columns)}")
        except FilterSyntaxError as error:
            top.problem("record_filter", str(error))
    derived = top.text("derived_occurrences", default="frequency")
    if derived not in ("frequency", "period_end"):
        top.problem("derived_occurrences", f"{derived!r} is not allowed; use \"frequency\" (one occurrence per "
                                           f"interval of the control's frequency) or \"period_end\" (one: as of the "
                                           f"end of the period).")
    elif top.has("derived_occurrences") and kind != "occurrences":
        top.problem("derived_occurrences", "only a procedure of population_kind \"occurrences\" has derived "
                                           "occurrences; remove the key.")
    per_record = top.flag("sample_per_record")
    declared = _policy(file, data, name)
    policy = {n: p for n, p in declared.items() if p is not None}
    attributes = _attributes(file, data, schema.kind, columns, schema.timestamps, declared)
    if not file.ok:
        return None
    if any(a.automated for a in attributes) and not any(a.accuracy for a in attributes):
        attributes.append(_agreed_to_source(top.text("item_noun")))
        notes.append(f"firm procedure {name!r} ({label}): no accuracy attribute declared, so the standard "
                     f"agreed_to_source check was added (the sampled items are agreed to the source system whenever "
                     f"the full-population analysis relies on the export).")
    noun, plural = top.text("item_noun"), top.text("item_noun_plural")
    try:
        return Procedure(
            name=name, title=title, criteria=tuple(criteria), population_kind=kind, key_column=key_column,
            date_column=date_column, item_noun=noun, item_noun_plural=plural,
            item_description=top.text("item_description", default=noun),
            item_description_plural=top.text("item_description_plural", default=plural),
            occurred=top.text("occurred", default=_OCCURRED.get(kind, "recorded")),
            inspection=top.text("inspection"), attributes=tuple(attributes),
            description=top.text("description"), matrix_columns=matrix_columns, policy=tuple(policy.values()),
            record_filter=record_filter, derived_occurrences=derived, sample_per_record=per_record,
            source=label,
            source_sha256=hashlib.sha256(raw).hexdigest())
    except ValueError as error:
        top.problem(None, f"{error} Fix the file.")
        return None


def _policy(file: _File, data: dict[str, Any], procedure: str) -> dict[str, PolicyParameter | None]:
    """The file's policy settings by name; None for one declared with a problem (reported once, here)."""
    raw = data.get("policy", {})
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        file.problem("", None, "policy", "policy", "must hold one table per setting: [policy.approval_window] with "
                                                   "default = 1 and description = \"...\".")
        return {}
    common = {p.name for p in COMMON_POLICY}
    out: dict[str, PolicyParameter | None] = {}
    for name, entry in raw.items():
        out[name] = None
        t = _Table(file, entry, f"policy.{name}", None, f"[policy.{name}]", _POLICY_KEYS)
        if not _NAME.match(name):
            t.problem(None, f"setting name {name!r} must be lower_snake_case, as engagement.toml writes it.")
            continue
        if name in common:
            t.problem(None, f"{name} is a setting of every procedure (default "
                            f"{next(p.default for p in COMMON_POLICY if p.name == name)!r}); remove this table and "
                            f"set it for the engagement in engagement.toml: [policy.{procedure}] {name} = ...")
            continue
        description = t.text("description", required=True)
        unit = t.text("unit")
        if "default" not in entry:
            t.problem("default", "required key missing; add default = ... (a number, true/false or text).")
            continue
        default = entry["default"]
        choices = t.texts("choices")
        minimum = entry.get("minimum", 0)
        if isinstance(minimum, bool) or not isinstance(minimum, int):
            t.problem("minimum", f"must be a whole number, got {describe_value(minimum)}.")
            continue
        kind = ("choice" if choices else "bool" if isinstance(default, bool) else "int" if isinstance(default, int)
                else "text" if isinstance(default, str) else "")
        if not kind:
            t.problem("default", f"must be a whole number, true/false or text, got {describe_value(default)}.")
            continue
        parameter = PolicyParameter(name, description, default, kind=kind, minimum=minimum, choices=choices,
                                    unit=unit)
        try:
            parameter.check(default)
        except ValueError as error:
            t.problem("default", str(error))
            continue
        out[name] = parameter
    return out


def _condition(t: _Table, columns: tuple[str, ...]) -> Condition | None:
    raw = t.data.get("when")
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) != {"column", "in"} or not isinstance(raw.get("column"), str) or \
            not isinstance(raw.get("in"), list) or not all(isinstance(v, str) for v in raw["in"]) or not raw["in"]:
        t.problem("when", f"must be a table with column and in, like when = {{ column = \"customer_data_access\", in "
                          f"= [\"Y\"] }}, got {describe_value(raw)}.")
        return None
    if raw["column"] not in columns:
        t.problem("when", f"{raw['column']!r} is not a column of the population.{did_you_mean(raw['column'], columns)}")
        return None
    return Condition(raw["column"], tuple(v.strip() for v in raw["in"]))


def _rule(t: _Table, rule_type: str, kind: str, columns: tuple[str, ...], timestamps: tuple[str, ...],
          policy: dict[str, PolicyParameter | None]) -> Rule | None:
    ok = True
    for key in _REQUIRED_RULE_KEYS[rule_type]:
        if key not in t.data:
            t.problem(key, f"rule {rule_type!r} needs {key}; add {_EXAMPLE.get(key, key + ' = ...')}.")
            ok = False
    others = [k for keys in _RULE_KEYS.values() for k in keys if k not in _RULE_KEYS[rule_type] and k in t.data]
    for key in dict.fromkeys(others):
        t.problem(key, f"not a key of rule {rule_type!r} (its keys: {', '.join(_RULE_KEYS[rule_type])}); remove it.")
        ok = False
    if not ok:
        return None

    def column(key: str, *, stamp: bool = False) -> str:
        value = t.text(key, required=True)
        allowed = timestamps if stamp else columns
        if value and value not in allowed:
            what = "a date column" if stamp else "a column"
            t.problem(key, f"{value!r} is not {what} of {kind} populations.{did_you_mean(value, allowed)} "
                           f"{'Date columns' if stamp else 'Columns'}: {', '.join(allowed)}.")
            return ""
        return value

    when = _condition(t, columns)
    if t.has("when") and when is None:
        return None
    if rule_type == "present":
        name = column("column")
        return Present(when=when, column=name) if name else None
    if rule_type == "before":
        first, reference = column("column", stamp=True), column("reference", stamp=True)
        days: int | str | None = None
        if "within_business_days" in t.data:
            raw = t.data["within_business_days"]
            setting = policy.get(raw) if isinstance(raw, str) else None
            if isinstance(raw, str) and raw in policy and setting is None:
                return None     # the setting itself has a problem, reported where it is declared
            if setting is not None and setting.kind == "int":
                days = str(raw)
            elif isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
                days = raw
            else:
                whole = [n for n, p in policy.items() if p is not None and p.kind == "int"]
                t.problem("within_business_days", f"must be a whole number >= 0 or the name of a whole-number "
                                                  f"[policy.<name>] of this file ({', '.join(whole) or 'none declared'}),"
                                                  f" got {describe_value(raw)}.")
                return None
        return Before(when=when, column=first, reference=reference, within_business_days=days) \
            if first and reference else None
    if rule_type == "differ":
        first, other = column("column"), column("other")
        return Differ(when=when, column=first, other=other) if first and other else None
    if rule_type == "in_list":
        name = column("column")
        raw = t.data["values"]
        values: tuple[str, ...] | str
        setting = policy.get(raw) if isinstance(raw, str) else None
        if isinstance(raw, str) and raw in policy and setting is None:
            return None         # the setting itself has a problem, reported where it is declared
        if setting is not None and setting.kind in ("text", "choice"):
            values = str(raw)
        elif isinstance(raw, list) and raw and all(isinstance(v, str) and v.strip() for v in raw):
            values = tuple(v.strip() for v in raw)
        else:
            t.problem("values", f"must be an array of text like values = [\"Y\", \"Yes\"] or the name of a text "
                                f"[policy.<name>] of this file, got {describe_value(raw)}.")
            return None
        return InList(when=when, column=name, values=values) if name else None
    related = t.text("related_kind", required=True)
    other_schema = SCHEMAS.get(related)
    if other_schema is None:
        t.problem("related_kind", f"{related!r} is not a population kind.{did_you_mean(related, SCHEMAS)}")
        return None
    raw_on = t.data["on"]
    if not isinstance(raw_on, dict) or not raw_on or not all(isinstance(v, str) for v in raw_on.values()):
        t.problem("on", f"must be a table of tested column = related column, like on = {{ change_id = \"change_id\" }}"
                        f", got {describe_value(raw_on)}.")
        return None
    pairs = []
    for mine, theirs in raw_on.items():
        if mine not in columns:
            t.problem("on", f"{mine!r} is not a column of {kind} populations.{did_you_mean(mine, columns)}")
            return None
        if theirs not in other_schema.columns:
            t.problem("on", f"{theirs!r} is not a column of {related} populations."
                            f"{did_you_mean(theirs, other_schema.columns)} Columns: {', '.join(other_schema.columns)}.")
            return None
        pairs.append((mine, theirs))
    in_window = t.data.get("in_window", False)
    if not isinstance(in_window, bool):
        t.problem("in_window", f"must be true or false (no quotes), got {describe_value(in_window)}.")
        return None
    return ExistsIn(when=when, kind=related, on=tuple(pairs), in_window=in_window)


def _attributes(file: _File, data: dict[str, Any], kind: str, columns: tuple[str, ...], timestamps: tuple[str, ...],
                policy: dict[str, PolicyParameter | None]) -> list[Attribute]:
    raw = data.get("attributes")
    if raw is None or raw == []:
        file.problem("", None, None, "(top level)", "no attributes; add at least one [[attributes]] table with id, "
                                                    "objective and deviation (and a rule for an automated one).")
        return []
    if not isinstance(raw, list) or not all(isinstance(v, dict) for v in raw):
        file.problem("", None, "attributes", "attributes", "must be an array of tables: write [[attributes]] (double "
                                                           "brackets) before each attribute.")
        return []
    out: list[Attribute] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        t = _Table(file, entry, "attributes", i, f"[[attributes]] #{i + 1}", _ATTRIBUTE_KEYS)
        identifier = t.text("id", required=True)
        if identifier and not _NAME.match(identifier):
            t.problem("id", f"{identifier!r} must be lower_snake_case (letters, digits and '_'), e.g. "
                            f"id = \"approved_in_window\".")
            continue
        if identifier in seen:
            t.problem("id", f"{identifier!r} is the id of an earlier attribute; give each attribute its own id.")
            continue
        default_kind = AUTOMATED if "rule" in entry else MANUAL
        attribute_kind = t.text("kind", default=default_kind)
        if attribute_kind not in (AUTOMATED, MANUAL):
            t.problem("kind", f"{attribute_kind!r} is not allowed; use \"automated\" (with a rule) or \"manual\" "
                              f"(judged from evidence).")
            continue
        role = t.text("role", default=CONTROL)
        if role not in (CONTROL, ACCURACY):
            t.problem("role", f"{role!r} is not allowed; use \"control\" or \"accuracy\" (agreed to source).")
            continue
        objective = t.text("objective", required=True).rstrip(".")
        deviation = t.text("deviation", required=True).rstrip(".")
        rule: Rule | None = None
        if attribute_kind == AUTOMATED:
            rule_type = t.text("rule", required=True)
            if rule_type and rule_type not in RULE_TYPES:
                t.problem("rule", f"{rule_type!r} is not a rule type.{did_you_mean(rule_type, RULE_TYPES)} Use one "
                                  f"of: {', '.join(RULE_TYPES)}.")
                continue
            if not rule_type:
                continue
            if role == ACCURACY:
                t.problem("role", "an accuracy attribute is manual (the sampled item agreed to the source system); "
                                  "remove the rule or the role.")
                continue
            rule = _rule(t, rule_type, kind, columns, timestamps, policy)
            if rule is None:
                continue
        else:
            rule_keys = [k for keys in _RULE_KEYS.values() for k in keys if k in entry] + \
                        [k for k in ("rule", "when") if k in entry]
            if rule_keys:
                t.problem(rule_keys[0], "a manual attribute has no rule (it is judged from evidence); remove "
                                        f"{', '.join(dict.fromkeys(rule_keys))}, or set kind = \"automated\".")
                continue
        compared = t.text("compared_date_column")
        relation = t.text("compared_date_relation", default=ON_OR_BEFORE)
        if compared and (attribute_kind != MANUAL or compared not in timestamps):
            t.problem("compared_date_column",
                      f"{compared!r}: a manual attribute compares its evidence date with one of the date columns of "
                      f"kind {kind}: {', '.join(timestamps)}." if attribute_kind == MANUAL else
                      "an automated attribute has no evidence date to compare; remove compared_date_column.")
            continue
        if relation not in (ON_OR_BEFORE, ON_OR_AFTER):
            t.problem("compared_date_relation", f"{relation!r} is not allowed; use \"{ON_OR_BEFORE}\" or "
                                                f"\"{ON_OR_AFTER}\".")
            continue
        depends_on = t.texts("depends_on")
        missing = [d for d in depends_on if d not in seen]
        if missing:
            t.problem("depends_on", f"{missing[0]!r} is not an attribute listed before this one; an attribute depends "
                                    f"only on earlier ones.")
            continue
        if not objective or not deviation or not identifier:
            continue
        label = t.text("label", default=" ".join([identifier.split("_")[0].capitalize()] + identifier.split("_")[1:]))
        description = t.text("description", default=objective[0].upper() + objective[1:] + ".")
        if rule is not None:
            criterion = t.text("pass_criterion", default=rule.pass_criterion())
        else:
            criterion = t.text("pass_criterion", default=f"The tester inspected evidence that {objective} and recorded "
                                                         f"a pass with an evidence reference; missing evidence is a "
                                                         f"fail.")
        try:
            out.append(Attribute(
                id=identifier, label=label, description=description, kind=attribute_kind, pass_criterion=criterion,
                deviation_wording=deviation, objective=objective, role=role,
                population_wording=t.text("population_wording"),
                census_test=t.text("census_test", default=rule.census_test() if rule is not None else ""),
                depends_on=depends_on, columns=rule.columns if rule is not None else (), check=rule,
                evidence_request=t.text("evidence_request") if rule is None else "",
                compared_date_column=compared, compared_date_relation=relation))
        except ValueError as error:
            t.problem(None, f"{error}")
            continue
        seen.add(identifier)
    return out


def _agreed_to_source(noun: str) -> Attribute:
    return Attribute(
        id="agreed_to_source",
        label="Agreed to source",
        description=f"The sampled {noun}'s record in the source system agrees with the exported values the "
                    f"full-population analysis used.",
        kind=MANUAL,
        role=ACCURACY,
        pass_criterion="The tester inspected the record in the source system and every exported value agrees; any "
                       "difference is a fail, with what differs in the comment.",
        deviation_wording=f"the exported {noun} data did not agree with the source system",
        objective=f"the exported {noun} data agreed with the source system",
    )

