"""The results store: a tamper-evident, hash-chained, append-only log of typed entries (``ENGAGEMENT/results.sqlite``).

Recorded results, population receipts, exception evaluations, conclusions and sign-offs are audit
evidence (DESIGN.md §6; AU-C 230 / PCAOB AS 1215.06: who performed the work and when). The store keeps
them as one append-only log of **entries**; every current value (the current result of an attribute of an
item, the current version of a population) is derived from the log, never kept beside it.

* An entry has a ``kind`` (``result``, ``receipt``, ...), a ``key`` (the fields that name what it is
  about, declared by its kind: a result's ``control_id``, ``item_key`` and ``attribute_id``), a ``value``
  (a JSON object), who wrote it and when (UTC), an optional reason, and two SHA-256 hashes: that of the
  previous entry and its own. The current value of ``(kind, key)`` is its latest entry.
* Every write is one ``BEGIN IMMEDIATE`` transaction (writers queue instead of failing half-way; WAL and
  ``synchronous=FULL``: a committed entry survives a crash) that reads the chain head and appends.
  Appending the current value again (same value, same reason) writes nothing.
* Triggers refuse ``UPDATE`` and ``DELETE``. Each entry's ``sha256`` covers its content and the previous
  entry's hash, so an edit made outside the workbench (a dropped trigger, an edited or deleted row) breaks
  the chain. The whole chain is verified on every open (and by ``workbench verify ENGAGEMENT_DIR``); a
  broken store refuses to report, with a message naming the first bad entry. docs/results-store.md says
  what this does and does not protect against.
* What the store itself can know is validated on write: the kind's key fields and value; a result's
  outcome, evidence reference and evidence date; and, when the store is opened from an
  :class:`~workbench.engagement.Engagement`, the control and attribute and that the tester is on the
  engagement's staff in a role allowed to test.

Schema (version 2)::

    entries(seq INTEGER PRIMARY KEY, at, who, kind, key, value, reason, prev_sha256, sha256 UNIQUE)
    meta(key, value)              -- schema_version, engagement_id (not part of the chain)

``key`` and ``value`` are canonical JSON (:func:`canonical_json`: sorted keys, no spaces, UTF-8).
``sha256`` is the SHA-256 of the canonical JSON of ``{seq, at, who, kind, key, value, reason,
prev_sha256}`` (``key`` and ``value`` as the JSON objects they are); ``prev_sha256`` of the first entry is
64 zeros. A schema-1 store (tables ``results``, ``trail``, ``population_receipts``) is migrated on open.

Public API::

    ResultsStore.open(engagement_or_folder, *, engagement_id=None, roles=None) -> ResultsStore
    store.append(kind, key, value, *, who, reason=None, addition=None) -> Entry
    store.lock() -> Entry | None                              the engagement's lock, when locked
    store.ensure_writable(described)                          refuse early what a locked store would refuse
    store.latest(kind, key) -> Entry | None
    store.current(kind, **key_match) -> list[Entry]
    store.history(kind=None, **key_match) -> list[Entry]
    store.chain_head() -> str
    store.verify(*, known_heads=()) -> ChainStatus
    store.transaction()                                       several reads and appends, one transaction
    store.record(control_id, item_key, attribute_id, outcome, *, tested_by, evidence_ref=None,
                 evidence_date=None, comment=None) -> Result
    store.get(control_id, item_key, attribute_id) -> Result | None
    store.results_for(control_id) -> DataFrame                  columns RESULT_COLUMNS
    store.trail(control_id=None) -> DataFrame                   columns TRAIL_COLUMNS
    read_results(engagement_or_folder, control_id) -> DataFrame  never creates the store
    register_kind(EntryKind(name, key_fields, ...)) -> EntryKind  declare a new kind of entry
    recording_addition(reason)                                 context: writes after a lock are dated additions

**Lock.** Once an entry of kind ``lock`` is in the chain (``workbench lock``: the report was released), every
append of another kind is refused (:class:`~workbench.errors.EngagementLocked`) unless it is made as an
**addition**: ``append(..., addition="why")``, or inside ``with recording_addition("why"):`` (which is how the
functions of :mod:`workbench.judgements`, :mod:`workbench.conclusion`, :mod:`workbench.receipt` and
:mod:`workbench.signoff` are reached from ``--addition --reason``). The entry is then written followed, in the
same transaction, by an ``addition`` entry (key: the entry's ``seq``; value: its kind, key and the reason;
``who``: the same person), so the chain itself dates every addition with who and why (AU-C 230 and, for an
examination, AT-C 205: documentation added after the documentation completion date). Appending the current value again
still writes nothing (no addition is needed for that).
    network_file_system(path) -> str | None
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as _dt
import hashlib
import heapq
import json
import json.encoder
import os
import random
import re
import sqlite3
import subprocess
import sys
import time
import tomllib
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import pandas as pd

from workbench.engagement import Engagement, StaffMember
from workbench.library import is_testable, procedure_of
from workbench.errors import EngagementLocked, ResultsError, StoreIntegrityError
from workbench.files import JsonRecord, JsonValue, real_path_outside

__all__ = [
    "RESULTS_FILE",
    "check_file_digest",
    "SCHEMA_VERSION",
    "ZERO_SHA256",
    "OUTCOMES",
    "RESULT_COLUMNS",
    "TRAIL_COLUMNS",
    "TESTER_ROLES",
    "SYSTEM_WHO",
    "EntryKey",
    "Entry",
    "EntryKind",
    "WriteContext",
    "ChainStatus",
    "RESULT_KIND",
    "RECEIPT_KIND",
    "MIGRATION_KIND",
    "LOCK_KIND",
    "ADDITION_KIND",
    "ARCHIVE_KIND",
    "LOCK_EXEMPT_KINDS",
    "recording_addition",
    "register_kind",
    "entry_kind",
    "entry_kinds",
    "canonical_json",
    "entry_sha256",
    "Result",
    "ResultsStore",
    "Transaction",
    "read_results",
    "split_statements",
    "NETWORK_FILE_SYSTEMS",
    "MOUNT_TABLE",
    "NetworkFileSystemWarning",
    "network_file_system",
    "parse_mount_table",
]

#: The store's file name inside the engagement folder.
RESULTS_FILE = "results.sqlite"
#: The layout this workbench writes; a store with a higher ``meta.schema_version`` is refused.
SCHEMA_VERSION = 2
#: ``prev_sha256`` of the first entry, and the chain head of an empty store.
ZERO_SHA256 = "0" * 64
#: Outcomes a tester may record for an attribute of an item.
OUTCOMES: tuple[str, ...] = ("pass", "fail", "n/a")
RESULT_COLUMNS: tuple[str, ...] = ("engagement", "control_id", "item_key", "attribute_id", "outcome",
                                   "evidence_ref", "evidence_date", "comment", "tested_by", "tested_at",
                                   "override_reason")
TRAIL_COLUMNS: tuple[str, ...] = ("seq", "engagement", "control_id", "item_key", "attribute_id", "action",
                                  "old_value", "new_value", "who", "at", "sha256")
#: Staff roles allowed to record a result unless the store is opened with other ``roles``.
TESTER_ROLES: frozenset[str] = frozenset({"preparer"})
#: ``who`` of the entries the workbench writes itself (the record of a migration).
SYSTEM_WHO = "workbench"

_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_FIELD = re.compile(r"^[a-z][a-z0-9_]*$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

#: A key as stored: field -> text or whole number.
EntryKey = dict[str, str | int]


# --------------------------------------------------------------------------------------------------
# Canonical JSON and the entry hash
# --------------------------------------------------------------------------------------------------
def canonical_json(value: JsonValue) -> str:
    """The canonical JSON text of a value: keys sorted, no spaces, non-ASCII kept (UTF-8), no NaN.

    Raises
    ------
    ValueError
        The value holds something JSON cannot (NaN, infinity, a non-text key, a lone surrogate).
    """
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError) as err:
        raise ValueError(f"not storable as JSON ({err})") from None
    return text


_quote = json.encoder.encode_basestring   # the C string encoder json.dumps(ensure_ascii=False) uses


def entry_sha256(seq: int, at: str, who: str, kind: str, key: str, value: str, reason: str | None,
                 prev_sha256: str) -> str:
    """The SHA-256 of an entry, from its columns as stored (``key`` and ``value`` as canonical JSON text).

    It is the SHA-256 of the UTF-8 of ``canonical_json({"seq": seq, "at": at, "who": who, "kind": kind,
    "key": <key object>, "value": <value object>, "reason": reason, "prev_sha256": prev_sha256})``; the
    stored ``key`` and ``value`` are already canonical, so they are spliced in as they are (this is what
    keeps verifying 100,000 entries well under a second).
    """
    text = (f'{{"at":{_quote(at)},"key":{key},"kind":{_quote(kind)},"prev_sha256":{_quote(prev_sha256)},'
            f'"reason":{"null" if reason is None else _quote(reason)},"seq":{int(seq)},"value":{value},'
            f'"who":{_quote(who)}}}')
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------------
# Kinds of entries
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WriteContext:
    """What a kind's validator may consult about the store being written.

    Attributes
    ----------
    engagement_id : str
    controls : Mapping[str, tuple[str, ...]] or None
        control id -> attribute ids it tests (empty: any), when the store was opened from an Engagement.
    today : datetime.date
        The writer's date (an evidence date after it is in the future).
    """

    engagement_id: str
    controls: Mapping[str, tuple[str, ...]] | None
    today: _dt.date


#: ``validate(key, value, reason, context) -> value``: check a proposed entry, return its value as stored
#: (every declared field present), or raise ResultsError naming the entry and the fix.
Validator = Callable[[EntryKey, JsonRecord, str | None, WriteContext], JsonRecord]


@dataclass(frozen=True)
class EntryKind:
    """A kind of entry: the fields of its key and, optionally, of its value and a validator.

    Declaring a kind is all it takes to store a new sort of evidence (:func:`register_kind`); the storage,
    the hash chain and the verification do not change.

    Attributes
    ----------
    name : str
        ``lower_snake_case`` (``result``, ``receipt``, ``signoff``, ...).
    key_fields : tuple of str
        The fields that name what an entry is about, in the order entries are listed. Each holds non-empty
        text, or a whole number for the fields in ``int_key_fields``.
    int_key_fields : frozenset of str
        Key fields that hold whole numbers (a receipt's ``version``).
    value_fields : tuple of str, optional
        The value's fields: others are refused and missing ones stored as null. None: any JSON object.
    validate : callable, optional
        ``validate(key, value, reason, context) -> value``, run on every append (not on reading).
    staff_roles : frozenset of str, optional
        When the store is opened from an Engagement: the staff roles allowed to write this kind (``who``
        must be on the staff list and is stored as the member's initials). None: anyone, stored as given.
    """

    name: str
    key_fields: tuple[str, ...]
    int_key_fields: frozenset[str] = frozenset()
    value_fields: tuple[str, ...] | None = None
    validate: Validator | None = field(default=None, compare=False)
    staff_roles: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if not _FIELD.match(self.name):
            raise ValueError(f"entry kind name {self.name!r} must be lower_snake_case")
        for name in (*self.key_fields, *(self.value_fields or ())):
            if not _FIELD.match(name):
                raise ValueError(f"entry kind {self.name}: field {name!r} must be lower_snake_case")
        if not self.key_fields or len(set(self.key_fields)) != len(self.key_fields):
            raise ValueError(f"entry kind {self.name}: key_fields must be distinct and not empty")
        if not self.int_key_fields <= set(self.key_fields):
            raise ValueError(f"entry kind {self.name}: int_key_fields must be key fields")

    def describe(self, key: Mapping[str, JsonValue]) -> str:
        """``result ('CM-02', 'CHG-1042', 'testing_evidenced')``: the kind and its key, for messages."""
        return f"{self.name} ({', '.join(repr(key.get(f)) for f in self.key_fields)})"

    def make_key(self, key: Mapping[str, object]) -> EntryKey:
        """The key as stored (texts stripped), in field order, or ResultsError naming the field and the fix."""
        if not isinstance(key, Mapping):
            raise ResultsError(f"{self.name}: the key must be a mapping of {', '.join(self.key_fields)}, "
                               f"got {key!r}.")
        described = self.describe({k: v for k, v in key.items() if isinstance(v, (str, int))})
        extra = sorted(set(key) - set(self.key_fields), key=str)
        if extra:
            raise ResultsError(f"{described}: unknown key field(s) {', '.join(map(repr, extra))}; a {self.name} "
                               f"is named by {', '.join(self.key_fields)}.")
        made: EntryKey = {}
        for name in self.key_fields:
            raw = key.get(name)
            if name in self.int_key_fields:
                if isinstance(raw, bool) or not isinstance(raw, int):
                    raise ResultsError(f"{described}: {name} must be a whole number, got {raw!r}.")
                made[name] = raw
                continue
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                raise ResultsError(f"{described}: {name} is required and was empty; give {name} as text.")
            if not isinstance(raw, str):
                raise ResultsError(f"{described}: {name} must be text, got {raw!r} ({type(raw).__name__}).")
            made[name] = raw.strip()
        return made

    def make_value(self, key: EntryKey, value: Mapping[str, JsonValue], reason: str | None,
                   context: WriteContext) -> JsonRecord:
        """The value as stored: declared fields only (missing ones null), then the kind's validator."""
        described = self.describe(key)
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise ResultsError(f"{described}: the value must be a mapping of field names to JSON values, "
                               f"got {value!r}.")
        made: JsonRecord = dict(value)
        if self.value_fields is not None:
            extra = sorted(set(made) - set(self.value_fields))
            if extra:
                raise ResultsError(f"{described}: unknown value field(s) {', '.join(map(repr, extra))}; a "
                                   f"{self.name} holds {', '.join(self.value_fields)}.")
            made = {name: made.get(name) for name in self.value_fields}
        if self.validate is not None:
            made = self.validate(key, made, reason, context)
        try:
            canonical_json(made)
        except ValueError as err:
            raise ResultsError(f"{described}: the value is {err}; give text, numbers, true/false or null.") from None
        return made


_KINDS: dict[str, EntryKind] = {}


def register_kind(kind: EntryKind) -> EntryKind:
    """Declare a kind of entry (once per name; declaring the same definition again is harmless).

    Raises
    ------
    ValueError
        Another definition is already registered under this name.
    """
    known = _KINDS.get(kind.name)
    if known is not None and known != kind:
        raise ValueError(f"entry kind {kind.name!r} is already declared differently: {known}")
    if known is None:
        _KINDS[kind.name] = kind
    return _KINDS[kind.name]


def entry_kind(name: str) -> EntryKind:
    """The declared kind ``name``, or ResultsError listing the kinds declared."""
    try:
        return _KINDS[name]
    except (KeyError, TypeError):
        raise ResultsError(f"unknown kind of entry {name!r}; declared kinds: {', '.join(sorted(_KINDS))}. Declare "
                           f"a new kind with register_kind(EntryKind(...)).") from None


def entry_kinds() -> tuple[EntryKind, ...]:
    """Every declared kind, by name."""
    return tuple(_KINDS[name] for name in sorted(_KINDS))


def _text(value: object, name: str, described: str, *, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ResultsError(f"{described}: {name} is required and was empty; give {name} as text.")
        return None
    if not isinstance(value, str):
        raise ResultsError(f"{described}: {name} must be text, got {value!r} ({type(value).__name__}).")
    return value.strip()


def _validate_result(key: EntryKey, value: JsonRecord, reason: str | None, context: WriteContext) -> JsonRecord:
    described = RESULT_KIND.describe(key)
    control_id, attribute_id = str(key["control_id"]), str(key["attribute_id"])
    if not _ID.match(attribute_id):
        raise ResultsError(f"{described}: attribute_id must be a lower_snake_case attribute id such as "
                           f"'testing_evidenced', got {attribute_id!r}.")
    if context.controls is not None:
        if control_id not in context.controls:
            raise ResultsError(f"{described}: control {control_id!r} is not in the control matrix of "
                               f"{context.engagement_id}; known controls: {', '.join(sorted(context.controls))}.")
        allowed = context.controls[control_id]
        if allowed and attribute_id not in allowed:
            raise ResultsError(f"{described}: attribute {attribute_id!r} is not tested by control "
                               f"{control_id!r}; its attributes are {', '.join(allowed)}.")
    outcome = value.get("outcome")
    if outcome not in OUTCOMES:
        raise ResultsError(f"{described}: outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}.")
    evidence_ref = _text(value.get("evidence_ref"), "evidence_ref", described, required=False)
    if outcome in ("pass", "fail") and evidence_ref is None:
        raise ResultsError(
            f"{described}: a {outcome} needs an evidence reference; give evidence_ref: where the evidence "
            f"of this item is (the ticket, document, screenshot or link the workpaper cites, e.g. "
            f"'CHG-1042 approval screenshot'). An attribute that does not apply to the item is recorded as "
            f"n/a with a comment.")
    evidence_date = value.get("evidence_date")
    if evidence_date is not None:
        if not isinstance(evidence_date, str) or not _ISO_DATE.match(evidence_date.strip()):
            raise ResultsError(f"{described}: evidence_date must be a date written YYYY-MM-DD (the date the "
                               f"evidence shows, e.g. 2026-03-14), got {evidence_date!r}.")
        try:
            day = _dt.date.fromisoformat(evidence_date.strip())
        except ValueError:
            raise ResultsError(f"{described}: evidence_date {evidence_date.strip()!r} is not a calendar date; "
                               f"write the date the evidence shows as YYYY-MM-DD.") from None
        if day > context.today:
            raise ResultsError(f"{described}: evidence_date {day.isoformat()} is in the future (today is "
                               f"{context.today.isoformat()}); give the date the evidence shows.")
        evidence_date = day.isoformat()
    comment = _text(value.get("comment"), "comment", described, required=False)
    return {"outcome": outcome, "evidence_ref": evidence_ref, "evidence_date": evidence_date, "comment": comment}


def check_file_digest(value: Mapping[str, JsonValue], described: str) -> None:
    """Check the ``sha256`` and ``size_bytes`` of a file's entry (a population receipt, an evidence pin).

    Raises
    ------
    ResultsError
        Naming the entry (``described``) and the field that is malformed.
    """
    sha256 = value.get("sha256")
    if not isinstance(sha256, str) or not _HEX64.match(sha256):
        raise ResultsError(f"{described}: sha256 must be 64 lower-case hexadecimal digits, got {sha256!r}.")
    size = value.get("size_bytes")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ResultsError(f"{described}: size_bytes must be a whole number >= 0, got {size!r}.")


def _validate_receipt(key: EntryKey, value: JsonRecord, reason: str | None, context: WriteContext) -> JsonRecord:
    described = RECEIPT_KIND.describe(key)
    version = int(key["version"])
    if version < 1:
        raise ResultsError(f"{described}: version must be 1 or more, got {version}.")
    if not isinstance(value.get("file"), str) or not str(value["file"]).strip():
        raise ResultsError(f"{described}: file (the population file, relative to the engagement folder) is "
                           f"required.")
    check_file_digest(value, described)
    superseded = value.get("superseded_file")
    if version == 1 and (superseded is not None or reason is not None):
        raise ResultsError(f"{described}: version 1 is the file as first used; it has no superseded_file and "
                           f"no reason.")
    if version > 1 and (not superseded or not reason):
        raise ResultsError(f"{described}: version {version} replaces an earlier one: superseded_file (where the "
                           f"previous version is kept) and a reason are required.")
    for name in ("provided_by", "received", "request", "query", "superseded_file", "os_account"):
        if value.get(name) is not None and not isinstance(value.get(name), str):
            raise ResultsError(f"{described}: {name} must be text, got {value.get(name)!r}.")
    return value


#: A recorded result: the outcome of one attribute of one item of one control.
RESULT_KIND = register_kind(EntryKind(
    "result", key_fields=("control_id", "item_key", "attribute_id"),
    value_fields=("outcome", "evidence_ref", "evidence_date", "comment"), validate=_validate_result,
    staff_roles=TESTER_ROLES))
#: A pinned version of a population file (workbench.receipt); ``who`` is who pinned or delivered it.
RECEIPT_KIND = register_kind(EntryKind(
    "receipt", key_fields=("population_id", "version"), int_key_fields=frozenset({"version"}),
    value_fields=("file", "sha256", "size_bytes", "provided_by", "received", "request", "query",
                  "superseded_file", "os_account"), validate=_validate_receipt))
#: The record of a schema migration, written by the workbench itself.
MIGRATION_KIND = register_kind(EntryKind(
    "migration", key_fields=("schema_version",), int_key_fields=frozenset({"schema_version"})))


def _validate_lock(key: EntryKey, value: JsonRecord, reason: str | None, context: WriteContext) -> JsonRecord:
    described = f"lock of engagement {key.get('engagement_id')!r}"
    for name in ("release_date", "documentation_deadline"):
        text = value.get(name)
        try:
            day = _dt.date.fromisoformat(str(text))
        except ValueError:
            raise ResultsError(f"{described}: {name} must be a date written YYYY-MM-DD, got {text!r}.") from None
        if name == "release_date" and day > context.today:
            raise ResultsError(f"{described}: the report release date {day.isoformat()} is in the future (today is "
                               f"{context.today.isoformat()}); lock the engagement once the report is released.")
    return value


#: The engagement's lock (:func:`workbench.signoff.lock_engagement`): the report release date, the documentation
#: completion deadline and who locked it. After it, other kinds are written only as additions.
LOCK_KIND = register_kind(EntryKind(
    "lock", key_fields=("engagement_id",),
    value_fields=("release_date", "documentation_deadline", "os_account", "host"), validate=_validate_lock,
    staff_roles=frozenset({"manager", "partner"})))
#: A write made after the lock: the entry (by its ``seq``), its kind and key, and why; written by the store.
ADDITION_KIND = register_kind(EntryKind(
    "addition", key_fields=("seq",), int_key_fields=frozenset({"seq"}), value_fields=("kind", "key", "reason")))
#: The archive written when the engagement was locked: its file (relative to the engagement folder), SHA-256,
#: size and the number of files it holds.
ARCHIVE_KIND = register_kind(EntryKind(
    "archive", key_fields=("file",), value_fields=("sha256", "size_bytes", "files", "manifest_sha256")))
#: Kinds written after a lock without being additions: the lock itself, the additions and the lock's archive.
LOCK_EXEMPT_KINDS: frozenset[str] = frozenset({"lock", "addition", "archive"})

_ADDITION: contextvars.ContextVar[str | None] = contextvars.ContextVar("workbench_addition", default=None)


@contextlib.contextmanager
def recording_addition(reason: str) -> Iterator[str]:
    """Within the block, every append to a locked store is a dated addition with this reason.

    The command line's ``--addition --reason TEXT`` wraps the command in it, so every writer (results,
    judgements, conclusions, receipts, sign-offs, review notes) records its entries as additions without a
    parameter of its own. An append to a store that is not locked is refused inside the block (an addition
    is only made to a locked engagement).

    Raises
    ------
    ResultsError
        The reason is empty.
    """
    if not isinstance(reason, str) or not reason.strip():
        raise ResultsError("an addition after the lock needs a reason: say why the documentation is added to "
                           "(--reason TEXT); it is recorded with who and when.")
    token = _ADDITION.set(reason.strip())
    try:
        yield reason.strip()
    finally:
        _ADDITION.reset(token)


# --------------------------------------------------------------------------------------------------
# Entries
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """One entry of the log, as stored.

    Attributes
    ----------
    seq : int
        Its position in the chain (1, 2, ... without gaps).
    at : str
        When it was written (ISO 8601, UTC, microseconds).
    who : str
        Who wrote it (a staff member's initials for kinds that require staff).
    kind : str
    key : dict
        The key fields, in the kind's order.
    value : dict
    reason : str or None
    prev_sha256, sha256 : str
        The previous entry's hash and its own (hex).
    """

    seq: int
    at: str
    who: str
    kind: str
    key: EntryKey
    value: JsonRecord
    reason: str | None
    prev_sha256: str
    sha256: str

    def describe(self) -> str:
        """``entry 17, result ('CM-02', 'CHG-1042', 'testing_evidenced')``."""
        return f"entry {self.seq}, {_describe(self.kind, self.key)}"

    def to_record(self) -> JsonRecord:
        """The entry as a JSON-safe dict."""
        return {"seq": self.seq, "at": self.at, "who": self.who, "kind": self.kind, "key": dict(self.key),
                "value": self.value, "reason": self.reason, "prev_sha256": self.prev_sha256,
                "sha256": self.sha256}


def _describe(kind: str, key: Mapping[str, JsonValue]) -> str:
    spec = _KINDS.get(kind)
    if spec is not None and set(key) == set(spec.key_fields):
        return spec.describe(key)
    return f"{kind} ({', '.join(f'{k}={v!r}' for k, v in key.items())})"


_COLUMNS = "seq, at, who, kind, key, value, reason, prev_sha256, sha256"
#: A row of entries as the schema types it (the verification does not trust this: see _diagnose).
_Row = tuple[int, str, str, str, str, str, str | None, str, str]


def _entry(row: Sequence[object]) -> Entry:
    seq, at, who, kind, key_text, value_text, reason, prev, sha = row
    key = json.loads(str(key_text))
    spec = _KINDS.get(str(kind))
    if spec is not None and set(key) == set(spec.key_fields):
        key = {name: key[name] for name in spec.key_fields}
    return Entry(int(str(seq)), str(at), str(who), str(kind), key, json.loads(str(value_text)),
                 None if reason is None else str(reason), str(prev), str(sha))


@dataclass(frozen=True)
class ChainStatus:
    """The outcome of verifying a store whose chain is intact.

    Attributes
    ----------
    path : Path
    entries : int
        How many entries the chain holds.
    head : str
        The last entry's SHA-256 (64 zeros for an empty store): print it where the work is issued.
    known_heads : tuple of (str, int)
        Each chain head checked with ``known_heads=`` and the entry it is (its ``seq``).
    """

    path: Path
    entries: int
    head: str
    known_heads: tuple[tuple[str, int], ...] = ()

    def summary(self) -> str:
        """The one-line report of ``workbench verify``."""
        found = "".join(f"; contains head {h} (entry {seq})" for h, seq in self.known_heads)
        return (f"OK {self.path}: {self.entries:,} entries, hash chain intact, chain head {self.head}{found}")


# --------------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------------
_ENTRIES_SQL = """CREATE TABLE entries (
    seq         INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    who         TEXT NOT NULL,
    kind        TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    reason      TEXT,
    prev_sha256 TEXT NOT NULL,
    sha256      TEXT NOT NULL UNIQUE
)"""
_NO_UPDATE_SQL = ("CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries\n"
                  "BEGIN SELECT RAISE(ABORT, 'the results store is append-only: an entry cannot be changed'); END")
_NO_DELETE_SQL = ("CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries\n"
                  "BEGIN SELECT RAISE(ABORT, 'the results store is append-only: an entry cannot be deleted'); END")
#: What sqlite_master must hold for the entries table, exactly: (type, name) -> sql.
_EXPECTED_SCHEMA: dict[tuple[str, str], str] = {
    ("table", "entries"): _ENTRIES_SQL,
    ("trigger", "entries_no_update"): _NO_UPDATE_SQL,
    ("trigger", "entries_no_delete"): _NO_DELETE_SQL,
}
_ROLE_OF_OBJECT = {
    "entries": "the table of entries",
    "entries_no_update": "the trigger that refuses changes to entries",
    "entries_no_delete": "the trigger that refuses deletions of entries",
}
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
{_ENTRIES_SQL};
CREATE INDEX entries_by_kind_key ON entries (kind, key, seq);
{_NO_UPDATE_SQL};
{_NO_DELETE_SQL};
"""
#: Schema-1 tables kept, renamed, by the migration.
_V1_TABLES = ("results", "trail", "population_receipts")
_V1_RESULT_FIELDS = ("outcome", "evidence_ref", "comment", "tested_by", "tested_at")
_V1_RECEIPT_COLUMNS = ("population_id", "version", "file", "sha256", "size_bytes", "pinned_at", "pinned_by",
                       "provided_by", "received", "request", "query", "superseded_file", "reason")


def split_statements(script: str) -> list[str]:
    """Split a schema script into statements (triggers contain ';' inside BEGIN ... END)."""
    statements, current = [], []
    for line in script.strip().splitlines():
        current.append(line)
        text = "\n".join(current).strip()
        if text.endswith(";") and (not text.upper().startswith("CREATE TRIGGER") or text.upper().endswith("END;")):
            statements.append(text)
            current = []
    return statements


# --------------------------------------------------------------------------------------------------
# Network file systems
# --------------------------------------------------------------------------------------------------
#: File system types on which SQLite's WAL is unsafe (its shared memory needs one host): a rollback
#: journal is used there instead.
NETWORK_FILE_SYSTEMS: frozenset[str] = frozenset({
    "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "9p", "v9fs", "fuse.sshfs", "sshfs", "afpfs",
    "webdav", "davfs", "fuse.davfs2", "ncpfs", "coda", "afs", "ceph", "fuse.ceph", "glusterfs",
    "fuse.glusterfs", "lustre", "gpfs", "ocfs2", "gfs2", "fuse.rclone", "fuse.s3fs", "fuse.gcsfuse",
    "fuse.juicefs", "beegfs", "orangefs", "pvfs2",
})
#: The Linux mount table read by :func:`network_file_system` (tests point it elsewhere).
MOUNT_TABLE = Path("/proc/self/mounts")


class NetworkFileSystemWarning(UserWarning):
    """The results store is on a network file system: a rollback journal is used instead of WAL."""


def _unescape_mount(text: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def parse_mount_table(text: str) -> list[tuple[str, str]]:
    """(mount point, file system type) of each line of a Linux mount table (``/proc/self/mounts``).

    macOS's ``mount`` output (``//user@server/share on /Volumes/share (smbfs, nodev, ...)``) is read too.
    """
    mounts: list[tuple[str, str]] = []
    for line in text.splitlines():
        mac = re.match(r"^\S.* on (/.*) \(([^,)]+)[,)]", line)
        if mac:
            mounts.append((mac.group(1), mac.group(2).strip()))
            continue
        fields = line.split()
        if len(fields) >= 3:
            mounts.append((_unescape_mount(fields[1]), fields[2]))
    return mounts


def _mount_table_text() -> str | None:
    try:
        return MOUNT_TABLE.read_text(encoding="utf-8", errors="replace")
    except OSError:
        pass
    if sys.platform == "darwin":  # pragma: no cover - macOS
        try:
            return subprocess.run(["/sbin/mount"], capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.SubprocessError):
            return None
    return None


def network_file_system(path: str | os.PathLike[str], *, mount_table: str | None = None) -> str | None:
    """The type of the network file system that holds ``path`` (``"nfs4"``, ``"cifs"``, ...), or None.

    Linux: the longest mount point of ``/proc/self/mounts`` (:data:`MOUNT_TABLE`) that contains the path;
    macOS: the ``mount`` command's table; Windows: a UNC path (``\\\\server\\share``) is ``"smb"``. None
    when the file system is local or cannot be told.

    Parameters
    ----------
    path : path-like
        A file or folder (it need not exist yet; its nearest existing parent is used).
    mount_table : str, optional
        The text of a mount table, instead of reading the system's (for tests).
    """
    resolved = os.path.realpath(os.fspath(path))
    if sys.platform == "win32":  # pragma: no cover - Windows
        return "smb" if resolved.startswith("\\\\") else None
    text = mount_table if mount_table is not None else _mount_table_text()
    if not text:
        return None
    best, best_type = "", ""
    for point, fs_type in parse_mount_table(text):
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, best_type = point, fs_type
    return best_type if best and best_type.lower() in NETWORK_FILE_SYSTEMS else None


# --------------------------------------------------------------------------------------------------
# Results (the view of `result` entries that callers used before)
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Result:
    """One recorded result: the outcome of one attribute for one item of one control."""

    engagement: str
    control_id: str
    item_key: str
    attribute_id: str
    outcome: str
    evidence_ref: str | None
    evidence_date: str | None
    comment: str | None
    tested_by: str
    tested_at: str
    override_reason: str | None = None

    def summary(self) -> str:
        """One line: control / item / attribute = outcome, by whom and when."""
        evidence = f", evidence {self.evidence_ref}" if self.evidence_ref else ""
        dated = f" dated {self.evidence_date}" if self.evidence_date else ""
        override = f", overriding the computed outcome: {self.override_reason}" if self.override_reason else ""
        return (f"{self.control_id} / {self.item_key} / {self.attribute_id} = {self.outcome} "
                f"(by {self.tested_by} at {self.tested_at}{evidence}{dated}{override})")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


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


def _controls_of(engagement: Engagement) -> dict[str, tuple[str, ...]]:
    """Control id -> the attribute ids it tests (its procedure's selection, accuracy checks included)."""
    controls: dict[str, tuple[str, ...]] = {}
    for control in engagement.controls:
        allowed: tuple[str, ...] = tuple(control.attributes or ())
        if is_testable(engagement, control):
            allowed = tuple(a.id for a in procedure_of(engagement, control).select_attributes(control.attributes))
        controls[control.id] = allowed
    return controls


def _diagnose(row: Sequence[object], seq: int, head: str) -> str:
    """What is wrong with a row that does not follow ``(seq, head)`` in the chain, in words."""
    row_seq, at, who, kind, key, value, reason, prev, digest = row
    try:
        where = f"entry {row_seq}, {_describe(str(kind), json.loads(str(key)))}"
    except (ValueError, TypeError, AttributeError):
        where = f"entry {row_seq}, {kind} (key {key!r})"
    if type(row_seq) is not int or row_seq <= seq:
        return f"{where}: out of sequence after entry {seq}"
    if row_seq > seq + 1:
        missing = (f"entry {seq + 1} is missing" if row_seq == seq + 2
                   else f"entries {seq + 1} to {row_seq - 1} are missing")
        return f"{where}: the sequence jumps from {seq} to {row_seq}: {missing} (deleted outside the workbench)"
    if prev != head:
        before = "the start of the chain (64 zeros)" if seq == 0 else f"entry {seq}'s hash {head}"
        return (f"{where}: its link to the previous entry is broken: it records prev_sha256 {prev}, but {before} "
                f"precedes it; an entry before it was replaced, removed or inserted outside the workbench")
    columns = (at, who, kind, key, value, prev, digest)
    if not all(isinstance(v, str) for v in columns) or not (reason is None or isinstance(reason, str)):
        return f"{where}: a column holds a value that is not text (changed outside the workbench)"
    try:
        actual = entry_sha256(row_seq, str(at), str(who), str(kind), str(key), str(value),
                              None if reason is None else str(reason), str(prev))
    except (TypeError, ValueError, UnicodeEncodeError) as err:
        return f"{where}: the row cannot be read ({err})"
    return (f"{where}: its content does not match its SHA-256 (stored {digest}, computed {actual}): the row was "
            f"changed after it was written, outside the workbench")


def _busy(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return code in (5, 6) or "locked" in str(error) or "busy" in str(error)   # SQLITE_BUSY, SQLITE_LOCKED


class Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error); sqlite errors become ResultsError.

    While another process holds the write lock, ``BEGIN IMMEDIATE`` is retried after short random pauses
    (0.1 to 5 ms) for up to ``timeout`` seconds: SQLite's own busy handler sleeps up to 100 ms at a time,
    which made four concurrent writers several times slower than one.
    """

    def __init__(self, connection: sqlite3.Connection, path: Path, timeout: float = 30.0) -> None:
        self._connection = connection
        self._path = path
        self._timeout = timeout

    def __enter__(self) -> sqlite3.Cursor:
        deadline = time.monotonic() + self._timeout
        pause = 0.0002
        self._connection.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    self._connection.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as err:
                    if not _busy(err) or time.monotonic() >= deadline:
                        raise ResultsError(f"{self._path}: the results store is busy or locked ({err}); another "
                                           f"process is writing. Try again.") from None
                    time.sleep(random.uniform(pause / 2, pause))
                    pause = min(pause * 2, 0.005)
        finally:
            self._connection.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
        return self._connection.cursor()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            try:
                self._connection.execute("COMMIT")
                return
            except sqlite3.Error as err:
                exc = err
        if self._connection.in_transaction:
            self._connection.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise ResultsError(f"{self._path}: the results store refused the write ({exc}).") from None


class ResultsStore:
    """The results store of one engagement (``ENGAGEMENT/results.sqlite``).

    Open it with :meth:`open`; use it as a context manager or call :meth:`close`. Each instance holds one
    SQLite connection; several processes may open the same store at once (WAL; writers queue on
    ``BEGIN IMMEDIATE`` for up to ``timeout`` seconds). Opening verifies the whole chain; every later read
    or write first verifies what other processes appended since.

    Parameters
    ----------
    path : path-like
        The SQLite file.
    engagement_id : str
        The engagement the store belongs to (``engagement.toml``'s ``engagement_id``); a store created for
        another engagement is refused.
    controls : mapping, optional
        control id -> allowed attribute ids. When given (opened from an :class:`Engagement`), a result
        for an unknown control or an attribute the control does not test is refused.
    staff : sequence of StaffMember, optional
        When given (opened from an Engagement), kinds with ``staff_roles`` (results) are written only by a
        staff member in an allowed role, named by initials or name, stored as initials.
    roles : mapping, optional
        kind -> the staff roles allowed to write it, overriding the kind's ``staff_roles`` (default for
        results: :data:`TESTER_ROLES`, the preparers).
    timeout : float, default 30
        Seconds a writer waits for another's transaction.

    Attributes
    ----------
    journal_mode : str
        ``"wal"``, or ``"delete"`` on a network file system.
    warnings : tuple of str
        What the caller should show: a network file system, a migration and what it found.
    """

    def __init__(self, path: str | os.PathLike[str], engagement_id: str, *,
                 controls: Mapping[str, tuple[str, ...]] | None = None, staff: Sequence[StaffMember] | None = None,
                 roles: Mapping[str, Collection[str]] | None = None, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.engagement_id = engagement_id
        self._controls = None if controls is None else dict(controls)
        self._staff = None if staff is None else tuple(staff)
        self._roles: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in (roles or {}).items()}
        self._verified: tuple[int, str] = (0, ZERO_SHA256)
        self._depth = 0
        self._timeout = timeout
        notes: list[str] = []
        try:
            self._connection = sqlite3.connect(self.path, isolation_level=None, timeout=timeout)
        except sqlite3.Error as err:
            raise ResultsError(f"{self.path}: cannot open the results store ({err}).") from None
        try:
            self.journal_mode = self._set_journal_mode(notes)
            self._connection.execute("PRAGMA synchronous=FULL")
            self._prepare(notes)
            self.warnings: tuple[str, ...] = tuple(notes)
            self.verify()
        except sqlite3.Error as err:  # e.g. not a database at all
            self._connection.close()
            raise ResultsError(f"{self.path}: cannot open the results store ({err}).") from None
        except BaseException:
            self._connection.close()
            raise

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def open(cls, folder: Engagement | str | os.PathLike[str], *, engagement_id: str | None = None,
             roles: Mapping[str, Collection[str]] | None = None, timeout: float = 30.0) -> ResultsStore:
        """Open (creating on first use, migrating an older layout) the results store of an engagement.

        Parameters
        ----------
        folder : Engagement or path-like
            A loaded ``Engagement`` (then its control matrix and staff list validate what is written), or
            the engagement folder (only the engagement id is read from ``engagement.toml``).
        engagement_id : str, optional
            Overrides the engagement's id.
        roles : mapping, optional
            kind -> staff roles allowed to write it, e.g. ``{"result": {"preparer", "manager"}}``.

        Raises
        ------
        ResultsError
            The folder does not exist or has no engagement id; the store belongs to another engagement or
            was written by a newer workbench.
        StoreIntegrityError
            The chain is broken, or a trigger was dropped or altered: the store refuses to report.
        """
        controls: dict[str, tuple[str, ...]] | None = None
        staff: tuple[StaffMember, ...] | None = None
        if isinstance(folder, Engagement):
            engagement_id = engagement_id or folder.engagement_id
            controls = _controls_of(folder)
            staff = folder.staff
            folder = folder.folder
        folder = Path(folder)
        if not folder.is_dir():
            raise ResultsError(f"{folder}: the engagement folder does not exist; give the folder that holds "
                               f"engagement.toml.")
        escaped = real_path_outside(folder, folder / RESULTS_FILE)
        if escaped is not None:   # recorded judgements never land outside the engagement folder
            raise ResultsError(f"{folder / RESULTS_FILE}: the results store leads outside the engagement folder "
                               f"through a symbolic link (its real path is {escaped}); nothing is read or written "
                               f"there. Replace the link with the real file inside {folder.name}.")
        if engagement_id is None:
            engagement_id = _engagement_id_of(folder)
        return cls(folder / RESULTS_FILE, engagement_id, controls=controls, staff=staff, roles=roles,
                   timeout=timeout)

    def close(self) -> None:
        """Close the connection (every write is already committed)."""
        self._connection.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.path)!r}, engagement_id={self.engagement_id!r})"

    # -- opening ----------------------------------------------------------------------------------
    def _set_journal_mode(self, notes: list[str]) -> str:
        fs_type = network_file_system(self.path.parent)
        wanted = "DELETE" if fs_type else "WAL"
        mode = str(self._connection.execute(f"PRAGMA journal_mode={wanted}").fetchone()[0]).lower()
        if fs_type:
            note = (f"{self.path}: the engagement folder is on a network file system ({fs_type}), where SQLite's "
                    f"write-ahead log is unsafe; the results store uses a rollback journal (journal_mode="
                    f"{mode}) instead. Writes are slower and readers wait for writers; keep the engagement on a "
                    f"local disk where you can.")
            notes.append(note)
            warnings.warn(note, NetworkFileSystemWarning, stacklevel=4)
        return mode

    def _layout(self) -> tuple[set[str], dict[str, str]]:
        tables = {str(name) for (name,) in self._connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        meta: dict[str, str] = {}
        if "meta" in tables:
            meta = {str(k): str(v) for k, v in self._connection.execute("SELECT key, value FROM meta")}
        return tables, meta

    def _prepare(self, notes: list[str]) -> None:
        """Create, migrate or accept the layout; refuse a newer, foreign or damaged one."""
        tables, meta = self._layout()
        if not self._ready(tables, meta):
            with Transaction(self._connection, self.path, self._timeout):
                tables, meta = self._layout()          # another process may have done it meanwhile
                if not self._ready(tables, meta):
                    if tables & set(_V1_TABLES) and "entries" not in tables:
                        self._migrate_v1(tables, meta, notes)
                    else:
                        for statement in split_statements(_SCHEMA):
                            self._connection.execute(statement)
                        self._write_meta()
        tables, meta = self._layout()
        owner = meta.get("engagement_id")
        if owner is not None and owner != self.engagement_id:
            raise ResultsError(
                f"{self.path}: this results store belongs to engagement {owner!r}, not {self.engagement_id!r}. "
                f"It was copied from another engagement folder, or engagement.toml's engagement_id was changed. "
                f"Put the engagement_id back, or move results.sqlite aside to start this engagement's own store.")

    def _ready(self, tables: set[str], meta: dict[str, str]) -> bool:
        """True for a usable schema-2 store; False when one must be created or migrated; else refused."""
        for name in ("schema_version", "receipts_schema_version"):
            text = meta.get(name)
            if text is None:
                continue
            try:
                version = int(text)
            except ValueError:
                raise ResultsError(f"{self.path}: meta.{name} is {text!r}, not a version number; the store was "
                                   f"edited outside the workbench.") from None
            newest = SCHEMA_VERSION if name == "schema_version" else 2
            if version > newest:
                what = "results store schema" if name == "schema_version" else "population receipts schema"
                raise ResultsError(f"{self.path}: {what} version {version} is newer than this workbench "
                                   f"understands ({newest}); it was written by a newer workbench. Upgrade the "
                                   f"workbench (uv sync / pip install -U control-testing-workbench) to open it.")
        version_text = meta.get("schema_version")
        if version_text == str(SCHEMA_VERSION):
            if "entries" not in tables:
                raise StoreIntegrityError(
                    f"{self.path}: the results store fails its integrity check, so it does not report anything: "
                    f"its table of entries is missing (dropped outside the workbench). It is not recreated: "
                    f"restore results.sqlite from a backup whose chain head matches the one printed in the "
                    f"workpapers, and find out who changed the file.")
            return True
        if not tables or tables == {"meta"}:
            return False
        if tables & set(_V1_TABLES) and "entries" not in tables and (version_text in (None, "1")):
            return False
        raise ResultsError(f"{self.path}: not a results store this workbench knows (tables "
                           f"{', '.join(sorted(tables))}; schema_version {version_text!r}). Move it aside.")

    def _write_meta(self) -> None:
        for key, value in (("schema_version", str(SCHEMA_VERSION)), ("engagement_id", self.engagement_id),
                           ("receipts_schema_version", "2")):  # an older workbench refuses to pin into it
            self._connection.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- migration --------------------------------------------------------------------------------
    def _migrate_v1(self, tables: set[str], meta: dict[str, str], notes: list[str]) -> None:
        """Schema 1 -> 2 inside the caller's transaction: every trail row and receipt becomes an entry."""
        c = self._connection
        trail_rows: list[tuple[str, int, tuple[object, ...]]] = []
        other_engagements: dict[str, int] = {}
        skipped_actions = 0
        if "trail" in tables:
            for row in c.execute("SELECT seq, engagement, control_id, item_key, attribute_id, action, new_value, "
                                 "who, at FROM trail ORDER BY seq"):
                seq, engagement, control_id, item_key, attribute_id, action, new_value, who, at = row
                if engagement != self.engagement_id:
                    other_engagements[str(engagement)] = other_engagements.get(str(engagement), 0) + 1
                    continue
                if action != "record":
                    skipped_actions += 1
                    continue
                trail_rows.append((str(at), 0, row))
        receipt_rows: list[tuple[str, int, tuple[object, ...]]] = []
        if "population_receipts" in tables:
            for row in c.execute(f"SELECT {', '.join(_V1_RECEIPT_COLUMNS)} FROM population_receipts ORDER BY seq"):
                receipt_rows.append((str(row[5]), 1, row))
        latest: dict[tuple[str, str, str], JsonRecord] = {}
        seq, head = 0, ZERO_SHA256
        for statement in split_statements(_SCHEMA):
            c.execute(statement)

        def insert(at: str, who: str, kind: str, key: JsonRecord, value: JsonRecord, reason: str | None) -> None:
            nonlocal seq, head
            seq += 1
            key_text, value_text = canonical_json(key), canonical_json(value)
            digest = entry_sha256(seq, at, who, kind, key_text, value_text, reason, head)
            c.execute(f"INSERT INTO entries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (seq, at, who, kind, key_text, value_text, reason, head, digest))
            head = digest

        # one log, oldest first; each table keeps its own order (heapq.merge is stable)
        for at, source, row in heapq.merge(trail_rows, receipt_rows, key=lambda item: item[0]):
            if source == 0:
                _, _, control_id, item_key, attribute_id, _, new_value, who, _ = row
                try:
                    new = json.loads(str(new_value)) if new_value is not None else {}
                except ValueError:
                    new = {}
                new = new if isinstance(new, dict) else {}
                value: JsonRecord = {"outcome": new.get("outcome"), "evidence_ref": new.get("evidence_ref"),
                                     "evidence_date": None, "comment": new.get("comment")}
                key: JsonRecord = {"control_id": str(control_id), "item_key": str(item_key),
                                   "attribute_id": str(attribute_id)}
                latest[(str(control_id), str(item_key), str(attribute_id))] = {**value, "tested_by": str(who),
                                                                              "tested_at": at}
                insert(at, str(who), "result", key, value, None)
            else:
                record = dict(zip(_V1_RECEIPT_COLUMNS, row))
                insert(at, str(record["pinned_by"]), "receipt",
                       {"population_id": str(record["population_id"]), "version": int(str(record["version"]))},
                       {name: _json(record[name]) for name in RECEIPT_KIND.value_fields or () if name in record},
                       None if record["reason"] is None else str(record["reason"]))

        # the results table was editable in schema 1 (no trigger): compare it with the trail
        disagreements: list[JsonValue] = []
        if "results" in tables:
            found: set[tuple[str, str, str]] = set()
            for row in c.execute(f"SELECT control_id, item_key, attribute_id, {', '.join(_V1_RESULT_FIELDS)} "
                                 f"FROM results WHERE engagement = ? ORDER BY control_id, item_key, attribute_id",
                                 (self.engagement_id,)):
                name = (str(row[0]), str(row[1]), str(row[2]))
                found.add(name)
                in_table: JsonRecord = {**{k: _json(v) for k, v in zip(_V1_RESULT_FIELDS, row[3:])},
                                        "evidence_date": None}
                in_trail = latest.get(name)
                if in_trail != in_table:
                    disagreements.append({"control_id": name[0], "item_key": name[1], "attribute_id": name[2],
                                          "results_table": in_table, "trail": in_trail})
            for name in sorted(set(latest) - found):
                disagreements.append({"control_id": name[0], "item_key": name[1], "attribute_id": name[2],
                                      "results_table": None, "trail": latest[name]})
        kept: list[JsonValue] = [f"v1_{name}" for name in _V1_TABLES if name in tables]
        for old in _V1_TABLES:
            if old in tables:
                c.execute(f"ALTER TABLE {old} RENAME TO v1_{old}")
        summary: JsonRecord = {
            "from_schema_version": 1, "result_entries": len(trail_rows), "receipt_entries": len(receipt_rows),
            "tables_kept": kept, "other_engagements_rows": dict(other_engagements),
            "other_actions_rows": skipped_actions, "results_table_disagreements": disagreements,
        }
        insert(_now(), SYSTEM_WHO, "migration", {"schema_version": SCHEMA_VERSION}, summary, None)
        self._write_meta()
        note = (f"{self.path}: migrated from schema version 1 to {SCHEMA_VERSION}: {len(trail_rows)} trail row(s) "
                f"and {len(receipt_rows)} receipt(s) are now entries of the hash chain; the old tables are kept as "
                f"{', '.join(map(str, kept))}.")
        if other_engagements:
            note += (f" Trail rows of other engagements were not migrated (kept in v1_trail): "
                     f"{', '.join(f'{k}: {v}' for k, v in sorted(other_engagements.items()))}.")
        if disagreements:
            note += (f" The old results table disagreed with its trail for {len(disagreements)} result(s) (edited "
                     f"outside the workbench?); the trail's values are kept and the disagreements are recorded in "
                     f"the migration entry.")
        notes.append(note)

    # -- verification -----------------------------------------------------------------------------
    def _schema_problems(self) -> list[str]:
        found = {(str(t), str(n)): str(s) for t, n, s in self._connection.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'entries' AND type IN ('table', 'trigger')")}
        problems = []
        for (kind, name), sql in _EXPECTED_SCHEMA.items():
            if (kind, name) not in found:
                problems.append(f"{_ROLE_OF_OBJECT[name]} ({kind} {name}) is missing: it was dropped outside the "
                                f"workbench, so entries may have been changed or deleted; it is not recreated")
            elif found[(kind, name)] != sql:
                problems.append(f"{_ROLE_OF_OBJECT[name]} ({kind} {name}) was altered outside the workbench: its "
                                f"SQL is {found[(kind, name)]!r}")
        for (kind, name), sql in sorted(found.items()):
            if (kind, name) not in _EXPECTED_SCHEMA:
                problems.append(f"an unexpected {kind} {name} was added to the table of entries outside the "
                                f"workbench ({sql!r}); it could hide, change or add entries")
        return problems

    def _broken(self, problems: list[str], first: tuple[int | None, str | None, str | None] = (None, None, None)
                ) -> StoreIntegrityError:
        text = "; ".join(problems)
        return StoreIntegrityError(
            f"{self.path}: the results store fails its integrity check, so it does not report anything: {text}. "
            f"Nothing in it can be relied on until this is explained: restore results.sqlite from a backup whose "
            f"chain head matches the one printed in the issued workpapers (check it with workbench verify "
            f"ENGAGEMENT_DIR --head HEAD), and find out who changed the file. The workbench does not repair it.",
            seq=first[0], kind=first[1], key=first[2])

    def _check_rows(self, rows: Iterable[_Row], seq: int, head: str
                    ) -> tuple[int, str, int, str | None, tuple[int | None, str | None, str | None]]:
        """Walk rows after ``(seq, head)``: (last seq, last hash, count, first problem, (seq, kind, key)).

        The loop is :func:`entry_sha256` written out (this runs on every open: 100,000 entries in a few tenths
        of a second); any row it does not accept is diagnosed by :func:`_diagnose`.
        """
        quote, sha256 = _quote, hashlib.sha256
        count = 0
        for row in rows:
            row_seq, at, who, kind, key, value, reason, prev, digest = row
            try:
                if type(row_seq) is not int or row_seq != seq + 1 or prev != head:
                    raise ValueError
                if type(key) is not str or type(value) is not str:
                    raise TypeError
                text = (f'{{"at":{quote(at)},"key":{key},"kind":{quote(kind)},"prev_sha256":{quote(prev)},'
                        f'"reason":{"null" if reason is None else quote(reason)},"seq":{row_seq},"value":{value},'
                        f'"who":{quote(who)}}}')
                if sha256(text.encode("utf-8")).hexdigest() != digest:
                    raise ValueError
            except (ValueError, TypeError, UnicodeEncodeError):
                problem = _diagnose(row, seq, head)
                first = (row_seq if isinstance(row_seq, int) else None, None if kind is None else str(kind),
                         None if key is None else str(key))
                return seq, head, count, problem, first
            seq, head, count = row_seq, digest, count + 1
        return seq, head, count, None, (None, None, None)

    def _catch_up(self) -> None:
        """Verify what was appended since the last check (and that the last entry checked is unchanged)."""
        problems = self._schema_problems()
        if any("(table entries)" in problem for problem in problems):
            raise self._broken(problems)
        seq, head = self._verified
        if seq:
            row = self._connection.execute("SELECT sha256 FROM entries WHERE seq = ?", (seq,)).fetchone()
            if row is None or row[0] != head:
                problems.append(f"entry {seq}, verified earlier, was {'removed' if row is None else 'replaced'} "
                                f"since, outside the workbench")
                raise self._broken(problems, (seq, None, None))
        rows = self._connection.execute(f"SELECT {_COLUMNS} FROM entries WHERE seq > ? ORDER BY seq", (seq,))
        last, last_head, _, problem, first = self._check_rows(rows, seq, head)
        if problem is not None:
            problems.append(problem)
        if problems:
            raise self._broken(problems, first)
        self._verified = (last, last_head)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot, checked up to date, for reads outside a write transaction."""
        if self._depth:
            yield self._connection
            return
        self._connection.execute("BEGIN")
        try:
            self._catch_up()
            yield self._connection
        finally:
            if self._connection.in_transaction:
                self._connection.execute("COMMIT")

    def verify(self, *, known_heads: Iterable[str] = ()) -> ChainStatus:
        """Verify the whole store: every entry's hash and link, gapless sequence, the triggers' exact SQL.

        Parameters
        ----------
        known_heads : iterable of str
            Chain heads printed earlier (in workpapers, a manifest): each must be an entry of this chain,
            else the store was truncated, rewritten or replaced after it was printed.

        Returns
        -------
        ChainStatus
            The number of entries and the chain head.

        Raises
        ------
        StoreIntegrityError
            The first problem found: which entry (seq, kind and key) and what is wrong with it.
        """
        if self._depth:
            raise ResultsError("verify() cannot run inside a transaction; call it outside store.transaction().")
        self._verified = (0, ZERO_SHA256)
        with self._reading() as connection:
            count = int(connection.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
            found: list[tuple[str, int]] = []
            for head in known_heads:
                head = head.strip().lower()
                row = connection.execute("SELECT seq FROM entries WHERE sha256 = ?", (head,)).fetchone()
                if row is None:
                    raise self._broken([f"the chain head {head} printed earlier (in a workpaper or manifest) is "
                                        f"not in this store, whose {count:,} entries end at {self._verified[1]}: "
                                        f"entries were removed, or the store was rewritten or replaced, after it "
                                        f"was printed"])
                found.append((head, int(row[0])))
        return ChainStatus(self.path, self._verified[0], self._verified[1], tuple(found))

    def chain_head(self) -> str:
        """The SHA-256 of the last entry (64 zeros for an empty store): what workpapers print."""
        with self._reading():
            return self._verified[1]

    # -- the log ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[ResultsStore]:
        """One ``BEGIN IMMEDIATE`` transaction for several reads and appends (nested uses join it).

        Everything appended inside is committed together at the end, or not at all if an exception leaves
        the block. Use it to check a current value and append in one step::

            with store.transaction():
                if store.latest("receipt", {"population_id": "changes", "version": 1}) is None:
                    store.append("receipt", ...)
        """
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        verified = self._verified
        try:
            with Transaction(self._connection, self.path, self._timeout):
                self._depth = 1
                try:
                    self._catch_up()
                    yield self
                finally:
                    self._depth = 0
        except BaseException:
            self._verified = verified
            raise

    def _who(self, kind: EntryKind, who: object, described: str) -> str:
        name = _text(who, "who", described, required=True)
        assert name is not None
        roles = self._roles.get(kind.name, kind.staff_roles)
        if roles is None or self._staff is None:
            return name
        folded = name.casefold()
        member = next((m for m in self._staff if folded in (m.initials.casefold(), m.name.casefold())), None)
        allowed = [m for m in self._staff if m.role in roles]
        listing = ", ".join(f"{m.initials} {m.name}" for m in allowed) or "none on the staff list"
        wanted = " or ".join(sorted(roles))
        if member is None:
            raise ResultsError(
                f"{described}: {name!r} is not on the staff list of engagement {self.engagement_id}; a {kind.name} "
                f"is written by a {wanted} ({listing}). Give their initials or name, or add the person to "
                f"[[staff]] in engagement.toml.")
        if member.role not in roles:
            raise ResultsError(
                f"{described}: {member.name} ({member.initials}) is on the staff as {member.role}; a {kind.name} is "
                f"written by a {wanted} ({listing}). Record it as the {wanted} who did the work, or open the store "
                f"with roles={{{kind.name!r}: {{...}}}} if the engagement lets a {member.role} do it.")
        return member.initials

    def append(self, kind: str, key: Mapping[str, str | int], value: Mapping[str, JsonValue], *, who: str,
               reason: str | None = None, addition: str | None = None) -> Entry:
        """Append an entry (one committed transaction), unless ``value`` is already the current value.

        Parameters
        ----------
        kind : str
            A declared kind (:func:`register_kind`).
        key : mapping
            The kind's key fields.
        value : mapping
            A JSON object; the kind's validator checks it.
        who : str
            Who writes it. For kinds with staff roles, when the store was opened from an Engagement: a staff
            member in an allowed role (initials or name, any case); stored as initials.
        reason : str, optional
            Why (a new version, an override); stored with the entry.
        addition : str, optional
            Why this is written after the engagement was locked (default: the reason of an enclosing
            :func:`recording_addition`). Required once the store holds a ``lock`` entry (other than for the
            kinds in :data:`LOCK_EXEMPT_KINDS`); refused when it does not.

        Returns
        -------
        Entry
            The new entry; or, when ``value`` and ``reason`` equal those of the current entry of ``(kind, key)``,
            the current entry unchanged (nothing is written: no new row, no new time).

        Raises
        ------
        ResultsError
            An unknown kind, a bad key or value, a tester not allowed (the message names the entry and the
            fix). StoreIntegrityError when the chain is broken. EngagementLocked: the engagement is locked
            and this is not made as an addition, or an addition is made to a store that is not locked.
        """
        spec = entry_kind(kind)
        if addition is None:
            addition = _ADDITION.get()
        elif not isinstance(addition, str) or not addition.strip():
            raise ResultsError(f"{spec.name}: an addition after the lock needs a reason; give addition= (why).")
        made_key = spec.make_key(key)
        described = spec.describe(made_key)
        made_who = self._who(spec, who, described)
        made_reason = _text(reason, "reason", described, required=False)
        context = WriteContext(self.engagement_id, self._controls, _dt.date.today())
        made_value = spec.make_value(made_key, value, made_reason, context)
        key_text, value_text = canonical_json(dict(made_key)), canonical_json(made_value)
        with self.transaction():
            row = self._connection.execute(
                f"SELECT {_COLUMNS} FROM entries WHERE kind = ? AND key = ? ORDER BY seq DESC LIMIT 1",
                (spec.name, key_text)).fetchone()
            if row is not None and row[5] == value_text and row[6] == made_reason:
                return _entry(row)
            locked = None if spec.name in LOCK_EXEMPT_KINDS else self._lock_row()
            if locked is not None and addition is None:
                raise EngagementLocked(
                    f"{described}: engagement {self.engagement_id} is locked: {_lock_words(locked)}. Nothing more is "
                    f"recorded in it, except a dated addition with who and why (AT-C 205 / AU-C 230): run the "
                    f"same command again with --addition --reason TEXT.")
            if addition is not None and locked is None and spec.name not in LOCK_EXEMPT_KINDS:
                raise EngagementLocked(
                    f"{described}: engagement {self.engagement_id} is not locked, so this is not an addition; "
                    f"record it without --addition.")
            seq, head = self._verified
            seq += 1
            at = _now()
            digest = entry_sha256(seq, at, made_who, spec.name, key_text, value_text, made_reason, head)
            self._connection.execute(f"INSERT INTO entries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                     (seq, at, made_who, spec.name, key_text, value_text, made_reason, head, digest))
            self._verified = (seq, digest)
            if locked is not None and addition is not None:
                note_key, note_value = (canonical_json({"seq": seq}), canonical_json(
                    {"kind": spec.name, "key": dict(made_key), "reason": addition.strip()}))
                note_digest = entry_sha256(seq + 1, at, made_who, ADDITION_KIND.name, note_key, note_value, None,
                                           digest)
                self._connection.execute(
                    f"INSERT INTO entries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (seq + 1, at, made_who, ADDITION_KIND.name, note_key, note_value, None, digest, note_digest))
                self._verified = (seq + 1, note_digest)
        return Entry(seq, at, made_who, spec.name, made_key, made_value, made_reason, head, digest)

    def _lock_row(self) -> tuple[str, str, JsonRecord] | None:
        """(at, who, value) of the engagement's lock entry, or None (inside a transaction)."""
        row = self._connection.execute(
            "SELECT at, who, value FROM entries WHERE kind = 'lock' ORDER BY seq LIMIT 1").fetchone()
        return None if row is None else (str(row[0]), str(row[1]), json.loads(str(row[2])))

    def ensure_writable(self, described: str) -> None:
        """Refuse early (before files are touched) what :meth:`append` would refuse: a write to a locked
        engagement outside an addition (:func:`recording_addition`)."""
        with self._reading():
            locked = self._lock_row()
        if locked is not None and _ADDITION.get() is None:
            raise EngagementLocked(
                f"{described}: engagement {self.engagement_id} is locked: {_lock_words(locked)}. Nothing more is "
                f"recorded in it, except a dated addition with who and why (AT-C 205 / AU-C 230): run the same "
                f"command again with --addition --reason TEXT.")

    def lock(self) -> Entry | None:
        """The engagement's lock entry (the first; an engagement is locked once), or None when not locked."""
        with self._reading() as connection:
            row = connection.execute(f"SELECT {_COLUMNS} FROM entries WHERE kind = 'lock' ORDER BY seq LIMIT 1"
                                     ).fetchone()
        return None if row is None else _entry(row)

    def latest(self, kind: str, key: Mapping[str, str | int]) -> Entry | None:
        """The current entry of ``(kind, key)`` (its latest), or None when there is none."""
        spec = entry_kind(kind)
        key_text = canonical_json(dict(spec.make_key(key)))
        with self._reading() as connection:
            row = connection.execute(
                f"SELECT {_COLUMNS} FROM entries WHERE kind = ? AND key = ? ORDER BY seq DESC LIMIT 1",
                (spec.name, key_text)).fetchone()
        return None if row is None else _entry(row)

    @staticmethod
    def _match(key_match: Mapping[str, str | int]) -> tuple[str, list[str | int]]:
        sql, params = "", list[str | int]()
        for name, wanted in key_match.items():
            if not _FIELD.match(name) or isinstance(wanted, bool) or not isinstance(wanted, (str, int)):
                raise ResultsError(f"key match {name}={wanted!r}: give a key field name and its text or number.")
            sql += " AND json_extract(key, ?) = ?"
            params += [f"$.{name}", wanted]
        return sql, params

    def current(self, kind: str, **key_match: str | int) -> list[Entry]:
        """The current entry of every key of ``kind`` (matching ``key_match``), in key order.

        Example: ``store.current("result", control_id="CM-02")``.
        """
        spec = entry_kind(kind)
        unknown = sorted(set(key_match) - set(spec.key_fields))
        if unknown:
            raise ResultsError(f"{kind}: no key field(s) {', '.join(unknown)}; its key fields are "
                               f"{', '.join(spec.key_fields)}.")
        where, params = self._match(key_match)
        with self._reading() as connection:
            rows = connection.execute(
                f"SELECT {_COLUMNS} FROM entries WHERE seq IN (SELECT MAX(seq) FROM entries WHERE kind = ?{where} "
                f"GROUP BY key)", [spec.name, *params]).fetchall()
        entries = [_entry(row) for row in rows]
        entries.sort(key=lambda entry: _sort_key(entry, spec.key_fields))
        return entries

    def history(self, kind: str | None = None, **key_match: str | int) -> list[Entry]:
        """Every entry (of ``kind``, matching ``key_match``), oldest first."""
        where, params = self._match(key_match)
        if kind is not None:
            where, params = " AND kind = ?" + where, [kind, *params]
        with self._reading() as connection:
            rows = connection.execute(f"SELECT {_COLUMNS} FROM entries WHERE 1 = 1{where} ORDER BY seq",
                                      params).fetchall()
        return [_entry(row) for row in rows]

    # -- results ----------------------------------------------------------------------------------
    def record(self, control_id: str, item_key: str, attribute_id: str, outcome: str, *, tested_by: str,
               evidence_ref: str | None = None, evidence_date: str | _dt.date | None = None,
               comment: str | None = None, override_reason: str | None = None) -> Result:
        """Record (or change) the outcome of one attribute for one item, in one committed transaction.

        This is the low-level write: it checks what the store itself knows. Testers, notebooks, the command
        line and the Excel import record through :mod:`workbench.recording`, which also checks the item
        against the control's current selection, the attribute's kind and the evidence date's comparison.

        Parameters
        ----------
        control_id, item_key, attribute_id : str
            Which result: the control, the sampled item's key (e.g. ``"CHG-1042"``) and the attribute id.
        outcome : {"pass", "fail", "n/a"}
        tested_by : str
            Who performed the test. When the store was opened from an Engagement: a preparer on its staff
            list (initials or name, any case), stored as initials.
        evidence_ref : str, optional
            Where the evidence is (document, screenshot, link): required for a pass or a fail.
        evidence_date : str (YYYY-MM-DD) or date, optional
            The date the evidence shows; not in the future.
        comment : str, optional
            What the tester noted.
        override_reason : str, optional
            Why an automated attribute's computed outcome is replaced by this one (stored as the entry's reason).

        Returns
        -------
        Result
            The current result, with who recorded it and when (UTC). Recording the current value again
            writes nothing and returns it as first recorded.

        Raises
        ------
        ResultsError
            An outcome outside pass | fail | n/a, an empty id, a malformed attribute id, a pass or fail with
            no evidence reference, an evidence date that is not a date or is in the future, and (store
            opened from an Engagement) a control or attribute the engagement does not have or a tester not
            on its staff as a preparer. The message names the control, item and attribute and the fix.
        """
        described = RESULT_KIND.describe({"control_id": control_id, "item_key": item_key,
                                          "attribute_id": attribute_id})
        _text(tested_by, "tested_by", described, required=True)
        if isinstance(evidence_date, _dt.datetime):
            raise ResultsError(f"{described}: evidence_date must be a date (YYYY-MM-DD), not a date and time, "
                               f"got {evidence_date!r}.")
        day = evidence_date.isoformat() if isinstance(evidence_date, _dt.date) else evidence_date
        entry = self.append("result", {"control_id": control_id, "item_key": item_key, "attribute_id": attribute_id},
                            {"outcome": outcome, "evidence_ref": evidence_ref, "evidence_date": day,
                             "comment": comment}, who=tested_by, reason=override_reason)
        return self._result(entry)

    def _result(self, entry: Entry) -> Result:
        key, value = entry.key, entry.value

        def text(name: str) -> str | None:
            found = value.get(name)
            return None if found is None else str(found)

        return Result(self.engagement_id, str(key["control_id"]), str(key["item_key"]), str(key["attribute_id"]),
                      str(value.get("outcome")), text("evidence_ref"), text("evidence_date"), text("comment"),
                      entry.who, entry.at, entry.reason)

    def get(self, control_id: str, item_key: str, attribute_id: str) -> Result | None:
        """The current result for one key, or None when nothing is recorded."""
        entry = self.latest("result", {"control_id": control_id, "item_key": item_key, "attribute_id": attribute_id})
        return None if entry is None else self._result(entry)

    def results_for(self, control_id: str) -> pd.DataFrame:
        """Current results of one control: one row per (item_key, attribute_id), columns :data:`RESULT_COLUMNS`."""
        rows = [(self.engagement_id, e.key["control_id"], e.key["item_key"], e.key["attribute_id"],
                 e.value.get("outcome"), e.value.get("evidence_ref"), e.value.get("evidence_date"),
                 e.value.get("comment"), e.who, e.at, e.reason)
                for e in self.current("result", control_id=control_id)]
        return _frame(rows, RESULT_COLUMNS)

    def trail(self, control_id: str | None = None) -> pd.DataFrame:
        """The results' audit trail (of one control, or all), oldest first, columns :data:`TRAIL_COLUMNS`.

        ``old_value``/``new_value`` are JSON objects as text (outcome, evidence_ref, evidence_date, comment,
        tested_by, tested_at); ``old_value`` is empty for a first record.
        """
        entries = self.history("result") if control_id is None else self.history("result", control_id=control_id)
        before: dict[tuple[str | int, ...], str] = {}
        rows = []
        for entry in entries:
            name = tuple(entry.key.values())
            new = json.dumps({**entry.value, "tested_by": entry.who, "tested_at": entry.at}, ensure_ascii=False)
            rows.append((entry.seq, self.engagement_id, *name, "record", before.get(name), new, entry.who, entry.at,
                         entry.sha256))
            before[name] = new
        return _frame(rows, TRAIL_COLUMNS)

    def summary(self) -> str:
        """Counts of entries, results and failures per control, and the chain head."""
        counts: dict[str, list[int]] = {}
        for entry in self.current("result"):
            count = counts.setdefault(str(entry.key["control_id"]), [0, 0])
            count[0] += 1
            count[1] += entry.value.get("outcome") == "fail"
        status = self.verify()
        lines = [f"Results store {self.path} ({self.engagement_id}): {status.entries} entries, chain head "
                 f"{status.head}."]
        lines += [f"  {c}: {n} results, {f} fail" for c, (n, f) in sorted(counts.items())]
        return "\n".join(lines)


def _lock_words(locked: tuple[str, str, JsonRecord]) -> str:
    at, who, value = locked
    return (f"the report was released on {value.get('release_date')} and {who} locked the engagement on {at[:10]} "
            f"(documentation completion deadline {value.get('documentation_deadline')})")


def _json(value: object) -> JsonValue:
    """A value read from SQLite, as JSON holds it."""
    if value is None or isinstance(value, (str, int, float)):
        return value
    return str(value)


def _sort_key(entry: Entry, fields: tuple[str, ...]) -> tuple[tuple[int, int, str], ...]:
    """Key order: whole numbers numerically, before texts."""
    parts = []
    for name in fields:
        value = entry.key.get(name)
        parts.append((0, value, "") if isinstance(value, int) else (1, 0, str(value)))
    return tuple(parts)


def _frame(rows: Sequence[tuple[object, ...]], columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(columns), dtype=object)


def read_results(folder: Engagement | str | os.PathLike[str], control_id: str, *,
                 engagement_id: str | None = None) -> pd.DataFrame:
    """Current results of a control without creating the store: empty when ``results.sqlite`` does not exist.

    Parameters
    ----------
    folder : Engagement or path-like
    control_id : str
    engagement_id : str, optional
        Defaults to the engagement's id (or ``engagement.toml``'s).

    Raises
    ------
    StoreIntegrityError
        The store fails its integrity check: nothing is reported from it.
    """
    path = Path(folder.folder if isinstance(folder, Engagement) else folder) / RESULTS_FILE
    if not path.exists():
        return _frame([], RESULT_COLUMNS)
    with ResultsStore.open(folder, engagement_id=engagement_id) as store:
        return store.results_for(control_id)
