"""Evidence files: kept in the engagement folder, hashed, linked to their item or population, pinned when cited.

Layout (inside the engagement folder; docs/recording.md)::

    evidence/<owner>/<item>/...              the evidence of one sampled item; <owner> is the control id, or the
                                             id of the sample the control shares with others (either is read)
    evidence/populations/<population id>/... completeness and accuracy evidence of an export: the query, a
                                             record-count screenshot, the observed run

``<owner>``, ``<item>`` and ``<population id>`` are encoded with :func:`encode_key`: every byte of the UTF-8 text
outside ``A-Z a-z 0-9 . _ -`` is written ``%XX`` (upper-case hexadecimal), and a name that would be ``.`` or
``..`` has its dots encoded (``%2E``), so a key such as ``CHG/1042|a#b c`` is one safe folder name
(``CHG%2F1042%7Ca%23b%20c``) and :func:`decode_key` gives the key back. Files anywhere below such a folder
belong to it.

Every file is hashed (SHA-256). When a result cites an item (:mod:`workbench.recording` records it), the
files of the item's folders, and those of the control's populations, are pinned in the results store as
``evidence`` entries (path, SHA-256, size) in the same transaction: a file changed (or deleted) after a result
cited it is then flagged on the workpaper and by ``workbench verify``. Recording a result for the item again
pins the files as they are then (the trail keeps both hashes).

Paths never leave the engagement folder: a file or folder reached through a symbolic link whose real path is
outside it is refused (listed with the reason, never read), and recording a result that would cite one is refused.

Public API::

    encode_key(key) -> str                    decode_key(name) -> str
    item_folder(folder, owner, item_key) -> Path
    population_folder(folder, population_id) -> Path
    scan_evidence(folder, path, *, hashed=True) -> tuple[ScannedFile, ...]
    index_evidence(folder, *, owners, item_keys, population_ids, engagement_id=None) -> EvidenceIndex
    pin_evidence(store, folder, *, owners, item_keys, population_ids, who) -> tuple[ScannedFile, ...]
    check_evidence(store, folder) -> tuple[str, ...]
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import ResultsError
from workbench.files import JsonRecord, real_path_outside
from workbench.results import (
    RESULTS_FILE,
    TESTER_ROLES,
    ZERO_SHA256,
    Entry,
    EntryKind,
    ResultsStore,
    WriteContext,
    check_file_digest,
    register_kind,
)

__all__ = [
    "EVIDENCE_DIR",
    "POPULATIONS_FOLDER",
    "EVIDENCE_KIND",
    "STATUSES",
    "encode_key",
    "decode_key",
    "item_folder",
    "population_folder",
    "ScannedFile",
    "EvidenceFile",
    "EvidenceIndex",
    "scan_evidence",
    "index_evidence",
    "pin_evidence",
    "check_evidence",
]

#: The evidence folder inside the engagement folder.
EVIDENCE_DIR = "evidence"
#: ``evidence/populations/<population id>/``: the completeness and accuracy evidence of an export.
POPULATIONS_FOLDER = "populations"
#: What the workpaper says of a file.
STATUSES: tuple[str, ...] = ("not cited", "cited, unchanged", "CHANGED after a result cited it",
                             "MISSING: deleted after a result cited it", "refused: outside the engagement folder")

_SAFE = re.compile(r"[A-Za-z0-9._-]")
_CHUNK = 1 << 20


# ------------------------------------------------------------------------------------------------
# Folder names
# ------------------------------------------------------------------------------------------------

def encode_key(key: str) -> str:
    """A key as one safe folder name: bytes outside ``[A-Za-z0-9._-]`` as ``%XX``; never ``.`` or ``..``.

    Raises
    ------
    ValueError
        The key is empty.
    """
    if not isinstance(key, str) or key == "":
        raise ValueError(f"an evidence folder needs a non-empty key, got {key!r}")
    out = []
    for char in key:
        if _SAFE.fullmatch(char):
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8"))
    name = "".join(out)
    if name in (".", ".."):
        name = name.replace(".", "%2E")
    return name


def decode_key(name: str) -> str:
    """The key a folder name encodes (the inverse of :func:`encode_key`).

    Raises
    ------
    ValueError
        The name is not what :func:`encode_key` writes (a bad escape, an unsafe character, bytes that are not
        UTF-8).
    """
    data = bytearray()
    i = 0
    while i < len(name):
        char = name[i]
        if char == "%":
            pair = name[i + 1:i + 3]
            if len(pair) != 2 or not re.fullmatch(r"[0-9A-F]{2}", pair):
                raise ValueError(f"{name!r} is not an encoded key: '%' must be followed by two upper-case "
                                 f"hexadecimal digits")
            data.append(int(pair, 16))
            i += 3
        elif _SAFE.fullmatch(char):
            data.extend(char.encode("ascii"))
            i += 1
        else:
            raise ValueError(f"{name!r} is not an encoded key: {char!r} is written %XX")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{name!r} is not an encoded key: its bytes are not UTF-8") from None


def item_folder(folder: str | os.PathLike[str], owner: str, item_key: str) -> Path:
    """``<folder>/evidence/<owner>/<item>/`` (both encoded): where an item's evidence goes."""
    return Path(folder) / EVIDENCE_DIR / encode_key(owner) / encode_key(item_key)


def population_folder(folder: str | os.PathLike[str], population_id: str) -> Path:
    """``<folder>/evidence/populations/<population id>/``: the completeness and accuracy evidence of an export."""
    return Path(folder) / EVIDENCE_DIR / POPULATIONS_FOLDER / encode_key(population_id)


# ------------------------------------------------------------------------------------------------
# Scanning and hashing
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScannedFile:
    """A file found under an evidence folder, as it is now.

    Attributes
    ----------
    path : str
        Relative to the engagement folder, with ``/``.
    sha256 : str or None
        None when refused.
    size_bytes : int or None
    refused : str or None
        Why it was not read (a symbolic link leading out of the engagement folder).
    """

    path: str
    sha256: str | None
    size_bytes: int | None
    refused: str | None = None


def _sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def scan_evidence(folder: str | os.PathLike[str], path: str | os.PathLike[str], *,
                  hashed: bool = True) -> tuple[ScannedFile, ...]:
    """Every file below ``path`` (an evidence folder inside the engagement ``folder``), hashed, by path.

    Symbolic links are followed only while they stay inside the engagement folder; one that leads out is
    listed as refused (with where it leads) and never read. A folder that does not exist has no files.
    ``hashed=False`` lists the files without reading them (``sha256`` and ``size_bytes`` None).
    """
    root = Path(folder)
    top = Path(path)
    if not top.exists() and not top.is_symlink():
        return ()
    found: list[ScannedFile] = []
    seen: set[str] = set()

    def visit(current: Path) -> None:
        escaped = real_path_outside(root, current)
        if escaped is not None:
            found.append(ScannedFile(_relative(root, current), None, None,
                                     f"a symbolic link leads outside the engagement folder (to {escaped}); it is not "
                                     f"read. Put the evidence itself inside {root.name}."))
            return
        if current.is_dir():
            real = os.path.realpath(current)
            if real in seen:      # a link back to a folder already read
                return
            seen.add(real)
            for child in sorted(current.iterdir(), key=lambda p: p.name):
                visit(child)
        elif current.is_file():
            digest, size = _sha256(current) if hashed else (None, None)
            found.append(ScannedFile(_relative(root, current), digest, size))
        # a dangling link or a special file holds no evidence to hash

    visit(top)
    return tuple(sorted(found, key=lambda f: f.path))


# ------------------------------------------------------------------------------------------------
# The store: an evidence entry per file cited
# ------------------------------------------------------------------------------------------------

def _check_evidence_entry(key: Mapping[str, object], value: JsonRecord, reason: str | None,
                          context: WriteContext) -> JsonRecord:
    described = f"evidence file {key.get('path')!r}"
    path = str(key.get("path"))
    if path.startswith("/") or ".." in path.split("/") or not path.startswith(f"{EVIDENCE_DIR}/"):
        raise ResultsError(f"{described}: the path must be relative to the engagement folder, under {EVIDENCE_DIR}/.")
    check_file_digest(value, described)
    return value


#: A file of an evidence folder as it was when a result cited its item (or population).
EVIDENCE_KIND = register_kind(EntryKind(
    "evidence", key_fields=("path",), value_fields=("sha256", "size_bytes"), validate=_check_evidence_entry,
    staff_roles=TESTER_ROLES))


def _folders(folder: Path, owners: Iterable[str], item_keys: Iterable[str],
             population_ids: Iterable[str]) -> list[tuple[Path, str, str | None, str | None]]:
    """(folder, owner, item key, population id) of every evidence folder in question."""
    owners = list(dict.fromkeys(owners))
    out: list[tuple[Path, str, str | None, str | None]] = []
    for key in item_keys:
        for owner in owners:
            out.append((item_folder(folder, owner, key), owner, key, None))
    for population_id in dict.fromkeys(population_ids):
        out.append((population_folder(folder, population_id), POPULATIONS_FOLDER, None, population_id))
    return out


def pin_evidence(store: ResultsStore, folder: str | os.PathLike[str], *, owners: Iterable[str],
                 item_keys: Iterable[str], population_ids: Iterable[str] = (), who: str) -> tuple[ScannedFile, ...]:
    """Pin the files of the given evidence folders in the store (an entry per file whose hash is new).

    Call it inside the transaction that records the results citing the items, so both are written or neither.

    Raises
    ------
    ResultsError
        A file is reached through a symbolic link that leads outside the engagement folder (nothing is pinned).
    """
    root = Path(folder)
    scanned = [f for path, *_ in _folders(root, owners, item_keys, population_ids) for f in scan_evidence(root, path)]
    refused = [f for f in scanned if f.refused]
    if refused:
        raise ResultsError("; ".join(f"{f.path}: {f.refused}" for f in refused))
    with store.transaction():
        for file in scanned:
            store.append(EVIDENCE_KIND.name, {"path": file.path},
                         {"sha256": file.sha256, "size_bytes": file.size_bytes}, who=who)
    return tuple(scanned)


@dataclass(frozen=True)
class EvidenceFile:
    """An evidence file of a control's items or populations, as it is now and as a result cited it.

    Attributes
    ----------
    path : str
        Relative to the engagement folder.
    linked_to : str
        ``item CHG-1042`` or ``population changes``.
    sha256 : str or None
        Its SHA-256 now (None when missing or refused).
    size_bytes : int or None
    cited_sha256 : str or None
        Its SHA-256 when a result last cited it (None when never cited).
    cited_by, cited_at : str or None
    status : str
        One of :data:`STATUSES`.
    """

    path: str
    linked_to: str
    sha256: str | None
    size_bytes: int | None
    cited_sha256: str | None
    cited_by: str | None
    cited_at: str | None
    status: str

    @property
    def flagged(self) -> bool:
        """Changed or deleted after a result cited it, or refused."""
        return self.status not in STATUSES[:2]


@dataclass(frozen=True)
class EvidenceIndex:
    """The evidence files of a control's test and the results store's chain head, as the workpaper prints them.

    Attributes
    ----------
    files : tuple of EvidenceFile
        By path.
    chain_head : str
        The results store's chain head when the index was made (64 zeros when nothing is recorded): printed in
        the workpaper, so a store rewritten from scratch no longer matches it (``workbench verify --head``).
    """

    files: tuple[EvidenceFile, ...]
    chain_head: str

    @property
    def flagged(self) -> tuple[EvidenceFile, ...]:
        """The files changed or deleted after a result cited them, or refused."""
        return tuple(f for f in self.files if f.flagged)

    def to_rows(self) -> list[tuple[str, str, str, int | None, str]]:
        """(file, linked to, SHA-256, bytes, status) per file, for the workpaper."""
        rows = []
        for f in self.files:
            status = f.status
            if f.cited_sha256 is not None:   # who, not when: a workpaper regenerated from the same store reads the same
                status += f" (cited by {f.cited_by}"
                status += f", SHA-256 then {f.cited_sha256})" if f.cited_sha256 != f.sha256 else ")"
            rows.append((f.path, f.linked_to, f.sha256 or "", f.size_bytes, status))
        return rows

    def summary(self) -> str:
        flagged = self.flagged
        text = f"{len(self.files)} evidence file(s), {len(flagged)} flagged; results store chain head {self.chain_head}"
        return "\n".join([text] + [f"  {f.path}: {f.status}" for f in flagged])


def _pinned(folder: Path, engagement_id: str | None) -> tuple[dict[str, Entry], str]:
    """The current evidence entries by path, and the chain head (nothing is created when there is no store)."""
    if not (folder / RESULTS_FILE).is_file():
        return {}, ZERO_SHA256
    with ResultsStore.open(folder, engagement_id=engagement_id) as store:
        entries = {str(e.key["path"]): e for e in store.current(EVIDENCE_KIND.name)}
        return entries, store.chain_head()


def index_evidence(folder: str | os.PathLike[str], *, owners: Iterable[str], item_keys: Iterable[str],
                   population_ids: Iterable[str] = (), engagement_id: str | None = None) -> EvidenceIndex:
    """The evidence files of the given items and populations, hashed and compared with what results cited.

    Parameters
    ----------
    folder : path-like
        The engagement folder.
    owners : iterable of str
        The control id and the id of the sample it shares (their folders are both read).
    item_keys : iterable of str
        The selected items.
    population_ids : iterable of str
    engagement_id : str, optional
        Defaults to engagement.toml's.
    """
    root = Path(folder)
    pinned, head = _pinned(root, engagement_id)
    files: list[EvidenceFile] = []
    for path, _owner, key, population_id in _folders(root, owners, item_keys, population_ids):
        linked = f"item {key}" if key is not None else f"population {population_id}"
        prefix = _relative(root, path) + "/"
        present = {f.path: f for f in scan_evidence(root, path)}
        cited_paths = {p for p in pinned if p.startswith(prefix)}
        for name in sorted(set(present) | cited_paths):
            now, entry = present.get(name), pinned.get(name)
            cited = None if entry is None else str(entry.value.get("sha256"))
            if now is not None and now.refused:
                status = STATUSES[4]
            elif now is None:
                status = STATUSES[3]
            elif cited is None:
                status = STATUSES[0]
            else:
                status = STATUSES[1] if cited == now.sha256 else STATUSES[2]
            files.append(EvidenceFile(name, linked, now.sha256 if now else None, now.size_bytes if now else None,
                                      cited, entry.who if entry else None, entry.at if entry else None, status))
    return EvidenceIndex(tuple(sorted(files, key=lambda f: f.path)), head)


def check_evidence(store: ResultsStore, folder: str | os.PathLike[str]) -> tuple[str, ...]:
    """Every evidence file a result cited that has changed or gone since, and every link leading out of the
    engagement folder under ``evidence/``: one message each (empty: all as cited)."""
    root = Path(folder)
    problems: list[str] = []
    for entry in store.current(EVIDENCE_KIND.name):
        path = str(entry.key["path"])
        file = root / path
        cited = str(entry.value.get("sha256"))
        escaped = real_path_outside(root, file)
        if escaped is not None:
            problems.append(f"{path}: leads outside the engagement folder (to {escaped}); a result cited it with "
                            f"SHA-256 {cited}.")
        elif not file.is_file():
            problems.append(f"{path}: deleted after a result cited it ({entry.who} on {entry.at[:10]}, SHA-256 "
                            f"{cited}).")
        else:
            digest, _ = _sha256(file)
            if digest != cited:
                problems.append(f"{path}: changed after a result cited it ({entry.who} on {entry.at[:10]}): SHA-256 "
                                f"then {cited}, now {digest}.")
    reported = {p.split(":", 1)[0] for p in problems}
    for scanned in scan_evidence(root, root / EVIDENCE_DIR, hashed=False):
        if scanned.refused and scanned.path not in reported:
            problems.append(f"{scanned.path}: {scanned.refused}")
    return tuple(problems)
