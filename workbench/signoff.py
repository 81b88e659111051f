"""Sign-offs, review notes and the engagement lock, recorded in the results store's hash chain.

A control's workpaper is signed off by a **preparer**, then by a **reviewer** (AU-C 230 / AT-C 205: who performed
the work and when, who reviewed it and when). Each sign-off records the control's inputs fingerprint at that
moment (:class:`workbench.control_test.InputsFingerprint`: populations, matrix row, policy, procedure, selection,
results, evaluations, evidence; not the package version), the staff member's initials, and beside them the
operating-system account and host that ran the command. Whenever the fingerprint of the control differs from the
one signed, the control reads **"changed after sign-off"** (workpaper and summary) until it is signed again.

Rules (each refusal is a :class:`~workbench.errors.ParameterError` or :class:`~workbench.errors.ResultsError`
naming the control, the person and what to do):

* ``--by`` names a member of the engagement's ``[[staff]]`` (initials or name); the OS account is never used
  instead. A preparer sign-off is given by a preparer, manager or partner; a reviewer sign-off by a reviewer,
  manager or partner (:data:`PREPARER_ROLES`, :data:`REVIEWER_ROLES`).
* The preparer signs first; the reviewer signs only while the preparer's sign-off is current (same fingerprint).
* One person is never both preparer and reviewer of one control.

**Review notes** (:func:`raise_note`, :func:`answer_note`, :func:`clear_note`): numbered per control (1, 2, ...),
raised and cleared by a reviewing role, answered by any member of the staff; every step keeps who and when.

**Lock** (:func:`lock_engagement`, after the report is released): records the release date and the documentation
completion deadline (release date + :data:`DOCUMENTATION_COMPLETION_DAYS` days, AU-C 230 / AT-C 205), writes a
zip archive of the engagement folder with a list of every file's SHA-256 inside it (:data:`MANIFEST_NAME`), and
from then on the store refuses every write that is not a dated addition (:mod:`workbench.results`); ``workbench
run`` writes a locked engagement's workpapers into ``output/addition-YYYY-MM-DD``, never over the locked ones.

Entry kinds (key fields -> value fields)::

    signoff      (control_id, role)    -> fingerprint, components, staff_role, os_account, host
    review_note  (control_id, number)  -> action (raise | answer | clear), text
    lock, addition, archive            (declared in workbench.results: the store enforces the lock)

Public API::

    sign_off(test, role, *, by, addition=False, reason=None) -> SignOff
    raise_note(engagement, control_id, *, by, text, addition=False, reason=None) -> ReviewNote
    answer_note(engagement, control_id, number, *, by, text, addition=False, reason=None) -> ReviewNote
    clear_note(engagement, control_id, number, *, by, addition=False, reason=None) -> ReviewNote
    lock_engagement(engagement, *, release_date, by) -> Lock
    read_signoffs(engagement) -> EngagementSignoffs          .of(control_id, fingerprint) -> ControlSignoffs
    signoffs_of(test) -> ControlSignoffs
    documentation_deadline(release_date) -> date
    addition_folder(output, today=None) -> Path
    write_archive(engagement, store) -> Archive
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import os
import re
import sqlite3
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from workbench.control_test import FINGERPRINT_COMPONENTS, ControlTest, InputsFingerprint
from workbench.engagement import RESULTS_FILE, STAFF_ROLES, Engagement
from workbench.errors import EngagementLocked, ParameterError, ResultsError
from workbench.files import JsonRecord, shared_file_mode
from workbench.results import (ARCHIVE_KIND, LOCK_KIND, EntryKey, EntryKind, ResultsStore, WriteContext,
                               recording_addition, register_kind)
from workbench.staff import os_account, staff_member

__all__ = [
    "SIGNOFF_ROLES",
    "PREPARER_ROLES",
    "REVIEWER_ROLES",
    "LOCK_ROLES",
    "DOCUMENTATION_COMPLETION_DAYS",
    "ARCHIVE_FOLDER",
    "MANIFEST_NAME",
    "NOT_SIGNED",
    "CHANGED_AFTER_SIGNOFF",
    "NOTE_COLUMNS",
    "SIGNOFF_KIND",
    "REVIEW_NOTE_KIND",
    "SignOff",
    "ReviewNote",
    "Lock",
    "Addition",
    "Archive",
    "ControlSignoffs",
    "EngagementSignoffs",
    "sign_off",
    "raise_note",
    "answer_note",
    "clear_note",
    "lock_engagement",
    "read_signoffs",
    "signoffs_of",
    "documentation_deadline",
    "addition_folder",
    "write_archive",
]

#: The two sign-offs of a control, in the order they are given.
SIGNOFF_ROLES: tuple[str, ...] = ("preparer", "reviewer")
#: Staff roles that may sign off as preparer (who performed the work).
PREPARER_ROLES: frozenset[str] = frozenset({"preparer", "manager", "partner"})
#: Staff roles that may review: sign off as reviewer, raise and clear review notes.
REVIEWER_ROLES: frozenset[str] = frozenset({"reviewer", "manager", "partner"})
#: Staff roles that may lock the engagement once the report is released.
LOCK_ROLES: frozenset[str] = frozenset(LOCK_KIND.staff_roles or ())
#: AU-C 230 (and AT-C 205 for an examination): the final engagement file is assembled no later than 60 days
#: after the report release date (the documentation completion date).
DOCUMENTATION_COMPLETION_DAYS = 60
#: The folder (inside the engagement folder) where the lock's archive is written.
ARCHIVE_FOLDER = "archive"
#: The list of every archived file's SHA-256, inside the archive (``sha256sum -c`` reads it).
MANIFEST_NAME = "MANIFEST.sha256"
#: What a header shows for a sign-off not given.
NOT_SIGNED = "not signed"
#: The state of a control whose inputs changed after a sign-off.
CHANGED_AFTER_SIGNOFF = "changed after sign-off"

#: The columns of a list of review notes (:meth:`ReviewNote.to_row`).
NOTE_COLUMNS: tuple[str, ...] = ("Control", "No.", "Status", "Review note", "Raised (by, UTC)", "Answer",
                                 "Answered (by, UTC)", "Cleared (by, UTC)")

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_NOTE_ACTIONS = ("raise", "answer", "clear")


def _check_signoff(key: EntryKey, value: JsonRecord, reason: str | None, context: WriteContext) -> JsonRecord:
    described = f"{key.get('role')} sign-off of {key.get('control_id')}"
    if key.get("role") not in SIGNOFF_ROLES:
        raise ResultsError(f"{described}: role must be one of {', '.join(SIGNOFF_ROLES)}.")
    if not isinstance(value.get("fingerprint"), str) or not _HEX64.match(str(value.get("fingerprint"))):
        raise ResultsError(f"{described}: fingerprint must be the control's inputs fingerprint (64 hex digits).")
    if not isinstance(value.get("components"), dict):
        raise ResultsError(f"{described}: components must map each fingerprint component to its SHA-256.")
    return value


def _check_note(key: EntryKey, value: JsonRecord, reason: str | None, context: WriteContext) -> JsonRecord:
    described = f"review note {key.get('number')} of {key.get('control_id')}"
    if int(key.get("number", 0)) < 1:
        raise ResultsError(f"{described}: the number must be 1 or more.")
    action = value.get("action")
    if action not in _NOTE_ACTIONS:
        raise ResultsError(f"{described}: action must be one of {', '.join(_NOTE_ACTIONS)}, got {action!r}.")
    text = value.get("text")
    if action in ("raise", "answer") and (not isinstance(text, str) or not text.strip()):
        raise ResultsError(f"{described}: the {action} needs a text (--text).")
    return {"action": action, "text": text.strip() if isinstance(text, str) and text.strip() else None}


SIGNOFF_KIND = register_kind(EntryKind(
    "signoff", ("control_id", "role"),
    value_fields=("fingerprint", "components", "staff_role", "os_account", "host"), validate=_check_signoff,
    staff_roles=frozenset(STAFF_ROLES)))
REVIEW_NOTE_KIND = register_kind(EntryKind(
    "review_note", ("control_id", "number"), int_key_fields=frozenset({"number"}), value_fields=("action", "text"),
    validate=_check_note, staff_roles=frozenset(STAFF_ROLES)))


# ------------------------------------------------------------------------------------------------
# What was recorded
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SignOff:
    """One sign-off as recorded.

    Attributes
    ----------
    control_id, role : str
        The control and ``"preparer"`` or ``"reviewer"``.
    by : str
        The staff member's initials; ``name`` their name and ``staff_role`` their role on the staff.
    at : str
        When (ISO 8601, UTC).
    fingerprint : str
        The control's inputs fingerprint signed; ``components`` each component's SHA-256.
    os_account : str
        ``user@host`` that ran the command (beside the initials, never instead).
    addition : str or None
        Why, when given after the lock (a dated addition).
    """

    control_id: str
    role: str
    by: str
    name: str
    staff_role: str
    at: str
    fingerprint: str
    components: Mapping[str, str]
    os_account: str
    addition: str | None = None

    @property
    def date(self) -> str:
        """The sign-off date (UTC), ``YYYY-MM-DD``."""
        return self.at[:10]

    def changed(self, current: InputsFingerprint | None) -> tuple[str, ...]:
        """The fingerprint components that changed since this sign-off (``("inputs",)`` when only the combined
        hash tells), or empty when ``current`` is what was signed (or unknown)."""
        if current is None or current.sha256 == self.fingerprint:
            return ()
        return current.changed_since(self.components) or ("inputs",)


@dataclass(frozen=True)
class ReviewNote:
    """A review note on a control, with who raised, answered and cleared it and when."""

    control_id: str
    number: int
    text: str
    raised_by: str
    raised_at: str
    answer: str | None = None
    answered_by: str | None = None
    answered_at: str | None = None
    cleared_by: str | None = None
    cleared_at: str | None = None

    @property
    def status(self) -> str:
        """``open``, ``answered`` (waiting for the reviewer to clear it) or ``cleared``."""
        if self.cleared_by is not None:
            return "cleared"
        return "answered" if self.answer is not None else "open"

    @property
    def is_open(self) -> bool:
        """Not cleared yet (open or answered)."""
        return self.cleared_by is None

    def to_row(self) -> tuple[object, ...]:
        """The note as a row of the Sign-off sheet and of the summary's Review notes sheet."""
        return (self.control_id, self.number, self.status, self.text, f"{self.raised_by} {self.raised_at[:16]}",
                self.answer or "", f"{self.answered_by} {(self.answered_at or '')[:16]}" if self.answered_by else "",
                f"{self.cleared_by} {(self.cleared_at or '')[:16]}" if self.cleared_by else "")


@dataclass(frozen=True)
class Lock:
    """The engagement's lock: when the report was released, the documentation completion deadline, who locked it."""

    release_date: str
    documentation_deadline: str
    by: str
    at: str
    os_account: str
    archive: str | None = None
    archive_sha256: str | None = None

    def text(self) -> str:
        """One sentence for the summary and the workpapers."""
        archive = f"; archive {self.archive} (SHA-256 {self.archive_sha256})" if self.archive else ""
        return (f"Locked by {self.by} on {self.at[:10]}: report released {self.release_date}; documentation "
                f"completion deadline {self.documentation_deadline} (release date + "
                f"{DOCUMENTATION_COMPLETION_DAYS} days, AU-C 230 / AT-C 205){archive}. Anything recorded since is "
                f"a dated addition with who and why.")


@dataclass(frozen=True)
class Addition:
    """An entry written after the lock: which (kind and key), who, when and why."""

    seq: int
    kind: str
    key: Mapping[str, object]
    by: str
    at: str
    reason: str

    @property
    def control_id(self) -> str | None:
        value = self.key.get("control_id")
        return None if value is None else str(value)

    def to_row(self) -> tuple[object, ...]:
        return (self.at[:16], self.by, self.kind, ", ".join(f"{k} {v}" for k, v in self.key.items()), self.reason)


@dataclass(frozen=True)
class ControlSignoffs:
    """A control's sign-offs and review notes, and whether its inputs changed after a sign-off.

    Attributes
    ----------
    control_id : str
    preparer, reviewer : SignOff or None
        The latest sign-off of each role.
    fingerprint : InputsFingerprint or None
        The control's fingerprint now (None when not known: the control was not tested).
    history : tuple of SignOff
        Every sign-off of the control, oldest first.
    notes : tuple of ReviewNote
    lock : Lock or None
    additions : tuple of Addition
        Additions made to this control after the lock.
    """

    control_id: str
    preparer: SignOff | None
    reviewer: SignOff | None
    fingerprint: InputsFingerprint | None
    history: tuple[SignOff, ...] = ()
    notes: tuple[ReviewNote, ...] = ()
    lock: Lock | None = None
    additions: tuple[Addition, ...] = ()

    def signed(self, role: str) -> SignOff | None:
        """The latest sign-off of ``role``."""
        return self.preparer if role == "preparer" else self.reviewer

    def changed(self, role: str) -> tuple[str, ...]:
        """What changed since ``role`` signed (empty when not signed, or signed on the current inputs)."""
        signoff = self.signed(role)
        return () if signoff is None else signoff.changed(self.fingerprint)

    @property
    def changed_after_signoff(self) -> bool:
        """Signed, and the inputs differ from what a sign-off covered."""
        return any(self.changed(role) for role in SIGNOFF_ROLES)

    @property
    def open_notes(self) -> tuple[ReviewNote, ...]:
        return tuple(note for note in self.notes if note.is_open)

    def header(self, role: str) -> tuple[str, str | None]:
        """(who, date) for a workpaper header: ``("Dana Reyes (DR)", "2026-11-27")`` or ``("not signed", None)``;
        a sign-off the inputs changed after reads ``"... — changed after sign-off"``."""
        signoff = self.signed(role)
        if signoff is None:
            return NOT_SIGNED, None
        text = f"{signoff.name} ({signoff.by})"
        if self.changed(role):
            text += f" — {CHANGED_AFTER_SIGNOFF} ({', '.join(self.changed(role))}): sign again"
        return text, signoff.date

    def state_text(self) -> str:
        """``prepared DR 2026-11-27; reviewed —`` and, when it applies, ``; changed after sign-off (results)``."""
        parts = []
        for role, verb in (("preparer", "prepared"), ("reviewer", "reviewed")):
            signoff = self.signed(role)
            parts.append(f"{verb} {signoff.by} {signoff.date}" if signoff else f"{verb} —")
        text = "; ".join(parts)
        changed = sorted({name for role in SIGNOFF_ROLES for name in self.changed(role)},
                         key=lambda name: (FINGERPRINT_COMPONENTS + ("inputs",)).index(name))
        if changed:
            text += f"; {CHANGED_AFTER_SIGNOFF} ({', '.join(changed)})"
        return text

    def is_current(self, signoff: SignOff) -> bool:
        """True when ``signoff`` covers the control's inputs as they are now."""
        return not signoff.changed(self.fingerprint)


@dataclass(frozen=True)
class EngagementSignoffs:
    """Every sign-off, review note, addition and the lock of an engagement, as read from its store."""

    signoffs: tuple[SignOff, ...] = ()
    notes: tuple[ReviewNote, ...] = ()
    lock: Lock | None = None
    additions: tuple[Addition, ...] = ()

    def of(self, control_id: str, fingerprint: InputsFingerprint | Mapping[str, object] | None = None
           ) -> ControlSignoffs:
        """One control's sign-offs, compared with its fingerprint now (an :class:`InputsFingerprint`, or the
        ``inputs_fingerprint`` of an outcome record: ``{"sha256": ..., "components": {...}}``)."""
        history = tuple(s for s in self.signoffs if s.control_id == control_id)
        latest = {s.role: s for s in history}
        return ControlSignoffs(
            control_id=control_id, preparer=latest.get("preparer"), reviewer=latest.get("reviewer"),
            fingerprint=_fingerprint(fingerprint), history=history,
            notes=tuple(n for n in self.notes if n.control_id == control_id), lock=self.lock,
            additions=tuple(a for a in self.additions if a.control_id == control_id))

    @property
    def open_notes(self) -> tuple[ReviewNote, ...]:
        return tuple(note for note in self.notes if note.is_open)


def _fingerprint(value: InputsFingerprint | Mapping[str, object] | None) -> InputsFingerprint | None:
    if value is None or isinstance(value, InputsFingerprint):
        return value
    sha256, components = value.get("sha256"), value.get("components")
    if not isinstance(sha256, str) or not isinstance(components, Mapping):
        return None
    return InputsFingerprint(components={str(k): str(v) for k, v in components.items()}, sha256=sha256)


# ------------------------------------------------------------------------------------------------
# Reading
# ------------------------------------------------------------------------------------------------

def read_signoffs(engagement: Engagement) -> EngagementSignoffs:
    """Every sign-off, review note, addition and the lock recorded in the engagement (nothing is created)."""
    if not (engagement.folder / RESULTS_FILE).is_file():
        return EngagementSignoffs()
    names = {m.initials: m for m in engagement.staff}
    with ResultsStore.open(engagement.folder, engagement_id=engagement.engagement_id) as store:
        # only these kinds (by the kind index): an engagement's results may be 100,000 entries
        entries = sorted((e for kind in ("signoff", "review_note", "lock", "archive", "addition")
                          for e in store.history(kind)), key=lambda e: e.seq)
    additions = {int(str(e.key["seq"])): e for e in entries if e.kind == "addition"}
    signoffs: list[SignOff] = []
    notes: dict[tuple[str, int], dict[str, object]] = {}
    lock: Lock | None = None
    archive: tuple[str, str] | None = None
    for e in entries:
        if e.kind == "signoff":
            member = names.get(e.who)
            note = additions.get(e.seq)
            components = e.value.get("components")
            signoffs.append(SignOff(
                control_id=str(e.key["control_id"]), role=str(e.key["role"]), by=e.who,
                name=member.name if member else e.who, staff_role=str(e.value.get("staff_role") or ""), at=e.at,
                fingerprint=str(e.value["fingerprint"]),
                components={str(k): str(v) for k, v in components.items()} if isinstance(components, dict) else {},
                os_account=f"{e.value.get('os_account')}@{e.value.get('host')}",
                addition=None if note is None else str(note.value.get("reason"))))
        elif e.kind == "review_note":
            name = (str(e.key["control_id"]), int(str(e.key["number"])))
            action, text = e.value.get("action"), e.value.get("text")
            state = notes.setdefault(name, {})
            if action == "raise":
                state.update(text=text, raised_by=e.who, raised_at=e.at)
            elif action == "answer":
                state.update(answer=text, answered_by=e.who, answered_at=e.at)
            elif action == "clear":
                state.update(cleared_by=e.who, cleared_at=e.at)
        elif e.kind == "lock" and lock is None:
            lock = Lock(release_date=str(e.value["release_date"]),
                        documentation_deadline=str(e.value["documentation_deadline"]), by=e.who, at=e.at,
                        os_account=f"{e.value.get('os_account')}@{e.value.get('host')}")
        elif e.kind == "archive" and archive is None:
            archive = (str(e.key["file"]), str(e.value.get("sha256")))
    if lock is not None and archive is not None:
        lock = Lock(**{**lock.__dict__, "archive": archive[0], "archive_sha256": archive[1]})
    found = tuple(ReviewNote(control_id=c, number=n, **state)  # type: ignore[arg-type]
                  for (c, n), state in sorted(notes.items()) if "raised_by" in state)
    listed = tuple(Addition(seq=seq, kind=str(e.value.get("kind")), key=_mapping(e.value.get("key")),
                            by=e.who, at=e.at, reason=str(e.value.get("reason")))
                   for seq, e in sorted(additions.items()))
    return EngagementSignoffs(signoffs=tuple(signoffs), notes=found, lock=lock, additions=listed)


def _mapping(value: object) -> dict[str, object]:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


def signoffs_of(test: ControlTest) -> ControlSignoffs:
    """The tested control's sign-offs and notes, compared with its inputs fingerprint now."""
    return read_signoffs(test.engagement).of(test.control.id, test.fingerprint)


# ------------------------------------------------------------------------------------------------
# Recording
# ------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _as_addition(addition: bool, reason: str | None, what: str) -> Iterator[None]:
    """Inside: appends are dated additions with ``reason`` (``addition=True``), or plain appends."""
    if not addition:
        if reason is not None:
            raise ParameterError(f"{what}: --reason goes with --addition (a record made after the lock).")
        yield
        return
    if not isinstance(reason, str) or not reason.strip():
        raise ParameterError(f"{what}: an addition after the lock needs --reason TEXT: why the documentation is "
                             f"added to; it is recorded with who and when.")
    with recording_addition(reason):
        yield


def sign_off(test: ControlTest, role: str, *, by: str, addition: bool = False,
             reason: str | None = None) -> SignOff:
    """Record the preparer's or the reviewer's sign-off of a tested control, on its inputs fingerprint now.

    Parameters
    ----------
    test : ControlTest
        The control as it stands (``workbench.pipeline.run_control_test``): its fingerprint is what is signed.
    role : {"preparer", "reviewer"}
    by : str
        Initials or name of a member of the staff (:data:`PREPARER_ROLES` or :data:`REVIEWER_ROLES`).
    addition, reason : bool, str
        After the lock: record it as a dated addition, with why.

    Raises
    ------
    ParameterError
        An unknown role; ``by`` not on the staff or in a role that may not sign as ``role``; a reviewer
        sign-off before the preparer's, or after the inputs changed since the preparer's; the same person as
        preparer and reviewer of the control.
    EngagementLocked
        The engagement is locked and this is not an addition.
    """
    engagement, control_id = test.engagement, test.control.id
    if role not in SIGNOFF_ROLES:
        raise ParameterError(f"sign-off of {control_id}: --role must be preparer or reviewer, got {role!r}.")
    what = f"{role} sign-off of {control_id}"
    member = staff_member(engagement, by, roles=PREPARER_ROLES if role == "preparer" else REVIEWER_ROLES, what=what)
    current = signoffs_of(test)
    other = current.reviewer if role == "preparer" else current.preparer
    if other is not None and other.by == member.initials:
        raise ParameterError(
            f"{what}: {member.name} ({member.initials}) signed this control off as {other.role} on {other.date}; one "
            f"person cannot be both preparer and reviewer of a control. Another member of the staff signs as {role}.")
    if role == "reviewer":
        preparer = current.preparer
        if preparer is None:
            raise ParameterError(f"{what}: the preparer has not signed off {control_id} yet; the preparer signs "
                                 f"first (workbench signoff ... --role preparer), then the reviewer.")
        if preparer.changed(test.fingerprint):
            raise ParameterError(
                f"{what}: the control changed after the preparer's sign-off ({preparer.by} on {preparer.date}: "
                f"{', '.join(preparer.changed(test.fingerprint))} changed); the preparer signs again first.")
    account = os_account()
    value: JsonRecord = {"fingerprint": test.fingerprint.sha256, "components": dict(test.fingerprint.components),
                         "staff_role": member.role, "os_account": account.user, "host": account.host}
    with _as_addition(addition, reason, what), ResultsStore.open(engagement) as store:
        store.append("signoff", {"control_id": control_id, "role": role}, value, who=member.initials)
    found = signoffs_of(test).signed(role)
    assert found is not None
    return found


def _note(engagement: Engagement, control_id: str, number: int) -> ReviewNote:
    found = next((n for n in read_signoffs(engagement).notes if (n.control_id, n.number) == (control_id, number)),
                 None)
    if found is None:
        known = [n.number for n in read_signoffs(engagement).notes if n.control_id == control_id]
        raise ParameterError(f"review note {number} of {control_id}: there is no such note; the notes of "
                             f"{control_id} are {', '.join(map(str, known)) or 'none yet'}.")
    return found


def raise_note(engagement: Engagement, control_id: str, *, by: str, text: str, addition: bool = False,
               reason: str | None = None) -> ReviewNote:
    """Raise a review note on a control (numbered 1, 2, ... per control); by a reviewer, manager or partner.

    Raises
    ------
    ParameterError
        ``by`` not on the staff or not in a reviewing role; an empty text. EngagementError: an unknown control.
    """
    engagement.control(control_id)
    what = f"review note on {control_id}"
    member = staff_member(engagement, by, roles=REVIEWER_ROLES, what=what)
    if not isinstance(text, str) or not text.strip():
        raise ParameterError(f"{what}: --text is required: what the preparer should look at or do.")
    with _as_addition(addition, reason, what), ResultsStore.open(engagement) as store, store.transaction():
        numbers = [int(str(e.key["number"])) for e in store.current("review_note", control_id=control_id)]
        number = max(numbers, default=0) + 1
        store.append("review_note", {"control_id": control_id, "number": number},
                     {"action": "raise", "text": text}, who=member.initials)
    return _note(engagement, control_id, number)


def answer_note(engagement: Engagement, control_id: str, number: int, *, by: str, text: str,
                addition: bool = False, reason: str | None = None) -> ReviewNote:
    """Answer a review note (any member of the staff; usually the preparer).

    Raises
    ------
    ParameterError
        No such note, a note already cleared, an empty text, ``by`` not on the staff.
    """
    what = f"answer to review note {number} of {control_id}"
    member = staff_member(engagement, by, what=what)
    note = _note(engagement, control_id, number)
    if not note.is_open:
        raise ParameterError(f"{what}: the note was cleared by {note.cleared_by} on {(note.cleared_at or '')[:10]}; "
                             f"raise a new note instead.")
    if not isinstance(text, str) or not text.strip():
        raise ParameterError(f"{what}: --text is required: the answer (what was done, where it is documented).")
    with _as_addition(addition, reason, what), ResultsStore.open(engagement) as store:
        store.append("review_note", {"control_id": control_id, "number": number},
                     {"action": "answer", "text": text}, who=member.initials)
    return _note(engagement, control_id, number)


def clear_note(engagement: Engagement, control_id: str, number: int, *, by: str, addition: bool = False,
               reason: str | None = None) -> ReviewNote:
    """Clear a review note (a reviewer, manager or partner), answered or not.

    Raises
    ------
    ParameterError
        No such note, a note already cleared, ``by`` not on the staff or not in a reviewing role.
    """
    what = f"clearing review note {number} of {control_id}"
    member = staff_member(engagement, by, roles=REVIEWER_ROLES, what=what)
    note = _note(engagement, control_id, number)
    if not note.is_open:
        raise ParameterError(f"{what}: already cleared by {note.cleared_by} on {(note.cleared_at or '')[:10]}.")
    with _as_addition(addition, reason, what), ResultsStore.open(engagement) as store:
        store.append("review_note", {"control_id": control_id, "number": number}, {"action": "clear", "text": None},
                     who=member.initials)
    return _note(engagement, control_id, number)


# ------------------------------------------------------------------------------------------------
# Lock and archive
# ------------------------------------------------------------------------------------------------

def documentation_deadline(release_date: _dt.date) -> _dt.date:
    """The documentation completion deadline: the report release date + 60 days (AU-C 230 / AT-C 205)."""
    return release_date + _dt.timedelta(days=DOCUMENTATION_COMPLETION_DAYS)


def addition_folder(output: Path, today: _dt.date | None = None) -> Path:
    """Where ``workbench run`` writes a locked engagement's workpapers: ``OUTPUT/addition-YYYY-MM-DD``."""
    return Path(output) / f"addition-{(today or _dt.date.today()).isoformat()}"


@dataclass(frozen=True)
class Archive:
    """The archive written at the lock.

    Attributes
    ----------
    path : Path
        The zip file; ``relative`` its path relative to the engagement folder.
    sha256 : str
        The zip file's SHA-256; ``manifest_sha256`` that of the list inside it.
    files : tuple of (str, str)
        (path inside the archive, SHA-256) of every file archived, as :data:`MANIFEST_NAME` lists them.
    skipped : tuple of str
        Symbolic links left out (their targets may lie outside the engagement folder).
    """

    path: Path
    relative: str
    sha256: str
    manifest_sha256: str
    files: tuple[tuple[str, str], ...]
    skipped: tuple[str, ...] = field(default=())


_STORE_FILES = {RESULTS_FILE, f"{RESULTS_FILE}-wal", f"{RESULTS_FILE}-shm", f"{RESULTS_FILE}-journal"}


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_archive(engagement: Engagement, store: ResultsStore) -> Archive:
    """Write ``ENGAGEMENT/archive/<engagement id>-locked-YYYY-MM-DD.zip``: every file of the engagement folder
    (but the archive folder), the results store as a consistent snapshot, and :data:`MANIFEST_NAME` listing
    every file's SHA-256 (``sha256  <folder>/<path>``, as ``sha256sum -c`` reads it once extracted).

    Written to a temporary file and moved into place; symbolic links are left out (listed in ``skipped``).

    Raises
    ------
    ParameterError
        An archive of that name exists already.
    """
    folder = engagement.folder
    root = folder.name
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", engagement.engagement_id)
    target_dir = folder / ARCHIVE_FOLDER
    target = target_dir / f"{safe}-locked-{_dt.date.today().isoformat()}.zip"
    if target.exists():
        raise ParameterError(f"{target}: an archive of this name exists already; move it aside first.")
    target_dir.mkdir(parents=True, exist_ok=True)
    files: list[tuple[str, str]] = []
    skipped: list[str] = []
    handle, temp_name = tempfile.mkstemp(prefix=".archive-", suffix=".zip.tmp", dir=target_dir)
    os.close(handle)
    temp = Path(temp_name)
    snapshot = Path(tempfile.mkstemp(prefix=".results-", suffix=".sqlite", dir=target_dir)[1])
    try:
        # the store as one consistent snapshot (its write-ahead log folded in), never the live files
        with contextlib.closing(sqlite3.connect(snapshot)) as copy:
            with contextlib.closing(sqlite3.connect(store.path)) as live:
                live.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")
        with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for dirpath, dirnames, filenames in os.walk(folder):
                here = Path(dirpath)
                relative_dir = here.relative_to(folder)
                if relative_dir == Path("."):
                    dirnames[:] = [d for d in dirnames if d != ARCHIVE_FOLDER]
                dirnames.sort()
                for name in [d for d in dirnames if (here / d).is_symlink()]:   # os.walk does not follow them
                    skipped.append((relative_dir / name).as_posix())
                for name in sorted(filenames):
                    path = here / name
                    relative = (relative_dir / name).as_posix()
                    if relative_dir == Path(".") and name in _STORE_FILES:
                        continue
                    if path.is_symlink():
                        skipped.append(relative)
                        continue
                    archive.write(path, f"{root}/{relative}")
                    files.append((f"{root}/{relative}", _sha256_file(path)))
            archive.write(snapshot, f"{root}/{RESULTS_FILE}")
            files.append((f"{root}/{RESULTS_FILE}", _sha256_file(snapshot)))
            files.sort()
            manifest = "".join(f"{digest}  {name}\n" for name, digest in files)
            archive.writestr(MANIFEST_NAME, manifest)
        os.chmod(temp, shared_file_mode())   # mkstemp makes 0600; the archive stays readable to the team
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
        snapshot.unlink(missing_ok=True)
    return Archive(path=target, relative=target.relative_to(folder).as_posix(), sha256=_sha256_file(target),
                   manifest_sha256=hashlib.sha256(manifest.encode("utf-8")).hexdigest(), files=tuple(files),
                   skipped=tuple(skipped))


def lock_engagement(engagement: Engagement, *, release_date: _dt.date | str, by: str) -> Lock:
    """Lock the engagement after its report is released, and archive its folder.

    Records the release date and the documentation completion deadline (release date + 60 days), then writes
    the archive (:func:`write_archive`) and records its SHA-256. From then on every write to the results store
    is refused unless it is a dated addition (``--addition --reason``), and ``workbench run`` writes to
    ``output/addition-YYYY-MM-DD``.

    Parameters
    ----------
    release_date : date or str (YYYY-MM-DD)
        The date the report was released (not in the future).
    by : str
        A manager or partner of the staff.

    Raises
    ------
    ParameterError
        ``by`` not on the staff or not a manager or partner; a release date that is not a date.
    EngagementLocked
        The engagement is locked already (and archived: a lock whose archive failed is completed by locking
        again, the first release date kept).
    ResultsError
        A release date in the future.
    """
    member = staff_member(engagement, by, roles=LOCK_ROLES, what="locking the engagement")
    if isinstance(release_date, str):
        try:
            release_date = _dt.date.fromisoformat(release_date.strip())
        except ValueError:
            raise ParameterError(f"--release-date {release_date!r} is not a date; write it as YYYY-MM-DD.") from None
    account = os_account()
    with ResultsStore.open(engagement) as store:
        existing = store.lock()
        if existing is not None and store.history(ARCHIVE_KIND.name):
            raise EngagementLocked(
                f"engagement {engagement.engagement_id} is locked already: {existing.who} locked it on "
                f"{existing.at[:10]} (report released {existing.value.get('release_date')}).")
        if existing is None:
            store.append("lock", {"engagement_id": engagement.engagement_id},
                         {"release_date": release_date.isoformat(),
                          "documentation_deadline": documentation_deadline(release_date).isoformat(),
                          "os_account": account.user, "host": account.host}, who=member.initials)
        # a lock whose archive could not be written (a full disk) gets it now: locking again completes it
        try:
            archive = write_archive(engagement, store)
        except OSError as error:
            raise ParameterError(
                f"engagement {engagement.engagement_id} is locked, but its archive could not be written under "
                f"{engagement.folder / ARCHIVE_FOLDER} ({error.strerror or error}); make room or fix the folder's "
                f"permissions, then run workbench lock again to write it.") from None
        store.append(ARCHIVE_KIND.name, {"file": archive.relative},
                     {"sha256": archive.sha256, "size_bytes": archive.path.stat().st_size,
                      "files": len(archive.files), "manifest_sha256": archive.manifest_sha256}, who=member.initials)
    lock = read_signoffs(engagement).lock
    assert lock is not None
    return lock

