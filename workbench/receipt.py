"""The population receipt: who provided each client file, when, for which request, and the SHA-256 pinned
when it was first used (issue 4, "Receipt").

Every sample is drawn from a population, and every recorded result refers to an item of it. If the file
changed under the same name after testing started, the results would silently refer to a population
nobody can reproduce. So:

* the first time a population is used (the receipt stage, :func:`pin_populations`, which the notebooks and
  ``workbench run`` call right after loading and validating it), its SHA-256 and size are pinned as **version 1**, together with who
  provided it, when it was received, the PBC request it answers and the query or report that produced it
  (copied from the engagement's ``[populations.<id>]`` table at that moment), who pinned it and when;
* loading it again with the same bytes returns the same receipt; a file whose bytes differ is refused
  with a :class:`~workbench.errors.PopulationError` that names the file, the pinned SHA-256 (with its
  version and pin date) and the new one, and says how to deliver a new version;
* delivering a new version is an explicit act (:func:`deliver_population`, or
  ``workbench deliver-population ENGAGEMENT_DIR POPULATION_ID NEW_FILE --reason TEXT``): the pinned file
  is kept, byte for byte, under ``populations/superseded/<stem>.v<version>.<sha256[:12]><suffix>``, the
  new file takes the population's path, and version ``n + 1`` is recorded with the reason. Results
  recorded before (``results.sqlite``) are not touched.

The receipts live in the engagement's results store (``results.sqlite``) as entries of kind ``receipt``
(:data:`workbench.results.RECEIPT_KIND`: key ``population_id`` and ``version``; value ``file``, ``sha256``,
``size_bytes``, ``provided_by``, ``received``, ``request``, ``query``, ``superseded_file``; ``who`` is who
pinned or delivered it, ``at`` when, ``reason`` why a new version), so they are part of the store's hash
chain: a receipt edited or removed outside the workbench breaks the chain, and the store refuses to report
(DESIGN.md §6). Every write is one ``BEGIN IMMEDIATE`` transaction: the check of the pinned hash and the
append of a first pin happen in the same transaction, so two notebooks pinning the same file at once agree
on one version 1. A store made before this layout (table ``population_receipts``) is migrated when opened.

Times are ISO 8601 in UTC with microseconds; ``received`` is the ISO date from ``engagement.toml``.

Public API::

    pin_populations(engagement, *populations, pinned_by=None) -> tuple[Receipt, ...]
    pin_population(engagement, population, *, pinned_by=None) -> Receipt
    receipts(engagement, population_id=None) -> list[Receipt]
    current_receipt(engagement, population_id) -> Receipt | None
    deliver_population(engagement, population_id, new_file, *, reason, delivered_by=None) -> Receipt
"""

from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from workbench.display import SummaryText, summary_card
from workbench.engagement import RESULTS_FILE, Engagement, PopulationSource
from workbench.errors import ParameterError, PopulationError
from workbench.files import JsonRecord, real_path_outside, shared_file_mode
from workbench.population import Population, load_population_file
from workbench.results import RECEIPT_KIND, Entry, ResultsStore
from workbench.staff import os_account, staff_member

__all__ = [
    "Receipt",
    "pin_populations",
    "pin_population",
    "receipts",
    "current_receipt",
    "deliver_population",
    "deliver_command",
    "RECEIPT_KIND",
    "RECEIPT_COLUMNS",
    "SUPERSEDED_FOLDER",
]

#: Fields of a receipt (``seq`` is the insertion order and is not part of a Receipt).
RECEIPT_COLUMNS: tuple[str, ...] = (
    "population_id", "version", "file", "sha256", "size_bytes", "pinned_at", "pinned_by", "provided_by",
    "received", "request", "query", "superseded_file", "reason", "os_account",
)
#: Where superseded versions are kept, relative to the engagement folder.
SUPERSEDED_FOLDER = "populations/superseded"

_CHUNK = 1 << 20


# --------------------------------------------------------------------------------------------------
# The receipt
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Receipt(SummaryText):
    """One pinned version of a population file.

    Attributes
    ----------
    population_id : str
        The population's id in the engagement (``changes``).
    version : int
        1 for the file as first used; 2, 3, ... for each version delivered with :func:`deliver_population`.
    file : str
        The file, relative to the engagement folder (``populations/jira_changes_FY26.csv``).
    sha256 : str
        SHA-256 of the file's bytes (hex).
    size_bytes : int
        The file's size in bytes.
    pinned_at : str
        When it was pinned (ISO 8601, UTC).
    pinned_by : str
        Who pinned it: the initials of the staff member who first loaded it (``pinned_by``, or the engagement's
        default, its first preparer) or who delivered the new version.
    provided_by, received, request, query : str or None
        Copied from the engagement's ``[populations.<id>]`` at pin time: who provided the file, the date
        it was received (ISO), the PBC request it answers and the query or report that produced it.
    superseded_file : str or None
        Version 2 and later: where the previous version was kept (relative to the engagement folder).
    reason : str or None
        Version 2 and later: why a new version was delivered.
    os_account : str or None
        The operating-system account and host (``user@host``) that pinned it, recorded beside the initials
        (None for receipts pinned before it was recorded).
    """

    population_id: str
    version: int
    file: str
    sha256: str
    size_bytes: int
    pinned_at: str
    pinned_by: str
    provided_by: str | None = None
    received: str | None = None
    request: str | None = None
    query: str | None = None
    superseded_file: str | None = None
    reason: str | None = None
    os_account: str | None = None

    @property
    def pinned_on(self) -> str:
        """The pin date and time, shortened for messages (``2026-07-12 14:03 UTC``)."""
        text = self.pinned_at.replace("T", " ")
        return f"{text[:16]} UTC" if len(text) >= 16 else text

    def to_table(self) -> list[tuple[str, str]]:
        """(label, value) rows for a workpaper's population sheet."""
        rows = [("Receipt version", str(self.version)),
                ("Pinned at (UTC)", self.pinned_at),
                ("Pinned by", self.pinned_by + (f" (OS account {self.os_account})" if self.os_account else "")),
                ("SHA-256 pinned", self.sha256),
                ("Size pinned (bytes)", f"{self.size_bytes:,}")]
        if self.superseded_file is not None:
            rows.append(("Previous version kept at", self.superseded_file))
        if self.reason is not None:
            rows.append(("Reason for new version", self.reason))
        return rows

    def to_record(self) -> JsonRecord:
        """The receipt as a JSON-safe dict (keys :data:`RECEIPT_COLUMNS`)."""
        return {column: getattr(self, column) for column in RECEIPT_COLUMNS}

    def summary(self) -> str:
        """A few lines for people."""
        lines = [f"Population {self.population_id!r} version {self.version}: {self.file}",
                 f"  SHA-256 {self.sha256} ({self.size_bytes:,} bytes)",
                 f"  pinned {self.pinned_at} by {self.pinned_by}"
                 + (f" (OS account {self.os_account})" if self.os_account else "")]
        received = ", ".join(part for part in (
            f"provided by {self.provided_by}" if self.provided_by else "",
            f"received {self.received}" if self.received else "",
            f"request {self.request}" if self.request else "") if part)
        if received:
            lines.append(f"  {received}")
        if self.query:
            lines.append(f"  query: {self.query}")
        if self.superseded_file:
            lines.append(f"  previous version kept at {self.superseded_file}")
        if self.reason:
            lines.append(f"  reason: {self.reason}")
        return "\n".join(lines)


    def _repr_html_(self) -> str:
        """The summary as a compact card."""
        return summary_card(self.summary(), css_class="wb-receipt")

# --------------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------------
def _store_path(engagement: Engagement) -> Path:
    return engagement.folder / RESULTS_FILE   # ResultsStore.open refuses a store linked out of the folder


def _inside(engagement: Engagement, path: Path, what: str) -> Path:
    """``path``, after checking that its real path stays in the engagement folder (no symbolic link out)."""
    escaped = real_path_outside(engagement.folder, path)
    if escaped is not None:
        relative = path.relative_to(engagement.folder).as_posix() if path.is_relative_to(engagement.folder) \
            else str(path)
        raise PopulationError(f"{what} leads outside the engagement folder through a symbolic link (its real "
                              f"path is {escaped}); nothing is written outside the folder. Replace the link "
                              f"with a real file or folder inside {engagement.folder.name}", file=relative)
    return path


def _receipt(entry: Entry) -> Receipt:
    """A receipt entry as a Receipt."""
    value = entry.value

    def text(name: str) -> str | None:
        found = value.get(name)
        return None if found is None else str(found)

    size = value.get("size_bytes")
    return Receipt(population_id=str(entry.key["population_id"]), version=int(entry.key["version"]),
                   file=str(value.get("file")), sha256=str(value.get("sha256")),
                   size_bytes=size if isinstance(size, int) else 0, pinned_at=entry.at, pinned_by=entry.who,
                   provided_by=text("provided_by"), received=text("received"), request=text("request"),
                   query=text("query"), superseded_file=text("superseded_file"), reason=entry.reason,
                   os_account=text("os_account"))


def _latest(store: ResultsStore, population_id: str) -> Receipt | None:
    found = store.current(RECEIPT_KIND.name, population_id=population_id)
    return _receipt(found[-1]) if found else None


def _append(store: ResultsStore, population_id: str, version: int, *, file: str, sha256: str, size_bytes: int,
            who: str, source: PopulationSource, superseded_file: str | None = None,
            reason: str | None = None) -> Receipt:
    value: JsonRecord = {"file": file, "sha256": sha256, "size_bytes": size_bytes,
                         "provided_by": _text(source.provided_by), "received": _text(source.received),
                         "request": _text(source.request), "query": _text(source.query),
                         "superseded_file": superseded_file, "os_account": os_account().text}
    entry = store.append(RECEIPT_KIND.name, {"population_id": population_id, "version": version}, value, who=who,
                         reason=reason)
    return _receipt(entry)


def receipts(engagement: Engagement, population_id: str | None = None) -> list[Receipt]:
    """Every receipt recorded in the engagement (or of one population), by population id then version.

    Reading never creates anything: an engagement whose ``results.sqlite`` does not exist yet has no
    receipts (an empty list).

    Parameters
    ----------
    engagement : Engagement
    population_id : str, optional
        Only this population's receipts. It need not be declared in the engagement any more.

    Raises
    ------
    StoreIntegrityError
        The results store fails its integrity check (it reports nothing, receipts included).
    """
    if not _store_path(engagement).is_file():
        return []
    match = {} if population_id is None else {"population_id": population_id}
    with ResultsStore.open(engagement) as store:
        return [_receipt(entry) for entry in store.current(RECEIPT_KIND.name, **match)]


def current_receipt(engagement: Engagement, population_id: str) -> Receipt | None:
    """The population's latest receipt (the version in use), or None when it has not been pinned yet."""
    found = receipts(engagement, population_id)
    return found[-1] if found else None


# --------------------------------------------------------------------------------------------------
# Pinning
# --------------------------------------------------------------------------------------------------
def _who(engagement: Engagement, name: str | None, option: str) -> str:
    """The initials of the staff member who does it (``name``, or the engagement's default: its first preparer);
    never the operating-system account, which is recorded beside them."""
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ParameterError(f"{option} must name who does this (initials or name of a member of the staff), "
                             f"got {name!r}.")
    return staff_member(engagement, name, what=option).initials


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def deliver_command(engagement: Engagement, population_id: str) -> str:
    """The command that delivers a new version of a population (quoted in messages)."""
    folder = engagement.folder
    return (f'workbench deliver-population {_shell(str(folder))} {_shell(population_id)} NEW_FILE '
            f'--reason "why the client sent a new version"')


def _shell(text: str) -> str:
    if text and all(c.isalnum() or c in "-_./:@+=," for c in text):
        return text
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _changed_message(engagement: Engagement, current: Receipt, sha256: str, file: str) -> str:
    where = ("the file" if file == current.file
             else f"engagement.toml now names {file} for it, and that file")
    return (f"population {current.population_id!r} has changed since it was pinned. Pinned: version "
            f"{current.version} of {current.file}, SHA-256 {current.sha256}, pinned {current.pinned_on} by "
            f"{current.pinned_by}. Now: {where} has SHA-256 {sha256}. Samples and results recorded on the pinned "
            f"version would no longer match their population, so it is not used. If the change was a mistake, "
            f"put the pinned version back at {current.file}. If the client delivered a new version, put the "
            f"pinned version back, save the new file outside the engagement's population path and deliver it "
            f"explicitly (the old version and everything tested on it are kept): "
            f"{deliver_command(engagement, current.population_id)}")


def pin_population(engagement: Engagement, population: Population, *, pinned_by: str | None = None) -> Receipt:
    """Pin a loaded population's SHA-256 on first use, or check it against the pin.

    :func:`pin_populations` calls it for every population a control's test relies on.

    Parameters
    ----------
    engagement : Engagement
        The engagement the population belongs to (its folder holds ``results.sqlite``).
    population : Population
        Loaded with ``load_population(engagement, population_id)``: its ``name`` is the population id,
        ``sha256`` the hash of the bytes parsed and ``source_relative`` the file relative to the folder.
    pinned_by : str, optional
        Who pins it (recorded on a first pin): initials or name of a member of the staff; default the
        engagement's first preparer (:func:`workbench.staff.default_staff`). The operating-system account and
        host are recorded beside it.

    Returns
    -------
    Receipt
        The new version-1 receipt on first use; the current receipt when the file is unchanged.

    Raises
    ------
    PopulationError
        The file's SHA-256 differs from the pinned one: the message names the file, both hashes, the pinned
        version and date, and the ``workbench deliver-population`` command. Also when the population is not
        declared in the engagement.
    ResultsError
        The results store cannot be opened or written.
    """
    population_id = population.name
    populations = engagement.populations
    if population_id not in populations:
        raise PopulationError(
            f"population {population_id!r} is not declared in the engagement, so it cannot be pinned; load it "
            f"with load_population(engagement, population_id) using one of: {', '.join(populations) or '(none)'}.")
    source = populations[population_id]
    file = str(population.source_relative)
    sha256 = str(population.sha256)
    with ResultsStore.open(engagement) as store, store.transaction():
        current = _latest(store, population_id)
        if current is not None:
            if current.sha256 == sha256:
                return current
            raise PopulationError(_changed_message(engagement, current, sha256, file), file=file)
        who = _who(engagement, pinned_by, "pinned_by")
        try:
            size = os.stat(population.source).st_size
        except OSError as err:
            raise PopulationError(f"the file cannot be read to pin it ({err.strerror or err})", file=file) from None
        return _append(store, population_id, 1, file=file, sha256=sha256, size_bytes=int(size), who=who,
                       source=source)


def pin_populations(engagement: Engagement, *populations: Population,
                    pinned_by: str | None = None) -> tuple[Receipt, ...]:
    """The receipt stage: pin every population a control's test relies on, or check each against its pin.

    Loading and validating a population only read; this is where the engagement's results store is
    written (once per file: a first use pins version 1, later uses check the SHA-256). Give the population
    tested first, then the second sources its validation reconciled (``report.second_sources``): a second
    source that changed after it was pinned is refused like the population itself.

    Parameters
    ----------
    engagement : Engagement
    *populations : Population
        Loaded from ``engagement`` (their ``name`` is the population id).
    pinned_by : str, optional
        Who pins a first version (a member of the staff); default the engagement's first preparer.

    Returns
    -------
    tuple of Receipt
        One per population, in the order given; none for a derived population (the occurrences of a control
        with no client export: nothing was received, so nothing is pinned; its SHA-256 is over the list of
        occurrences and is part of the control's inputs fingerprint).

    Raises
    ------
    PopulationError
        A file's SHA-256 differs from its pin (both hashes and the deliver command named).
    """
    files = [population for population in populations if population.derived is None]
    unique = {population.name: population for population in reversed(files)}   # first of each id wins
    order = list(dict.fromkeys(population.name for population in files))
    return tuple(pin_population(engagement, unique[name], pinned_by=pinned_by) for name in order)


# --------------------------------------------------------------------------------------------------
# Delivering a new version
# --------------------------------------------------------------------------------------------------
def _sha256_of(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _copy_to_temp(source: Path, folder: Path, expected_sha256: str) -> Path:
    """Copy ``source`` into a temporary file in ``folder`` (fsynced) and check its hash; returns the temp path."""
    handle, name = tempfile.mkstemp(prefix=".deliver-", suffix=".part", dir=folder)
    temp = Path(name)
    try:
        os.chmod(temp, shared_file_mode())  # mkstemp makes 0600; the population stays readable to the team
        digest = hashlib.sha256()
        with os.fdopen(handle, "wb") as out, open(source, "rb") as src:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != expected_sha256:
            raise PopulationError(f"the file changed while it was being copied (SHA-256 {digest.hexdigest()}, "
                                  f"expected {expected_sha256}); deliver it again once it is no longer being "
                                  f"written", file=source)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _keep(old: Path, target: Path, sha256: str, relative: str) -> None:
    """Keep ``old`` at ``target`` without ever overwriting anything there."""
    if target.exists():
        if target.is_file() and _sha256_of(target)[0] == sha256:
            return  # kept already (an earlier delivery stopped before it was recorded): same bytes
        raise PopulationError(f"a different file is already at {relative}; it is never overwritten. Move it "
                              f"aside (it is not part of any receipt) and deliver again", file=relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = _copy_to_temp(old, target.parent, sha256)
    try:
        try:
            os.link(temp, target)            # atomic, and fails if the target exists
        except FileExistsError:
            raise PopulationError(f"a file appeared at {relative} while the old version was being kept; it is "
                                  f"never overwritten. Check who else is delivering and try again",
                                  file=relative) from None
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
                raise
            with open(target, "xb") as out, open(temp, "rb") as src:  # no hard links here: exclusive create
                shutil.copyfileobj(src, out, _CHUNK)
                out.flush()
                os.fsync(out.fileno())
    finally:
        temp.unlink(missing_ok=True)
    _fsync_folder(target.parent)


def deliver_population(engagement: Engagement, population_id: str, new_file: str | os.PathLike[str], *, reason: str,
                       delivered_by: str | None = None) -> Receipt:
    """Deliver a new version of a pinned population file, keeping the old one.

    The currently pinned file (checked against its pinned SHA-256) is copied to
    ``populations/superseded/<stem>.v<version>.<sha256[:12]><suffix>`` (never overwriting anything), the new
    file is copied into the population's path (a temporary file in the same folder, then
    :func:`os.replace`: a reader sees the old file or the new one, never half of one) and version
    ``n + 1`` is recorded with the reason, in one ``BEGIN IMMEDIATE`` transaction. Results recorded
    before are not touched.

    The new file is first loaded as the population's kind and format, so a file that cannot be read as
    the population is refused before anything changes. Update the population's ``provided_by``,
    ``received``, ``request`` and ``query`` in ``engagement.toml`` before delivering: the new receipt
    copies them.

    Parameters
    ----------
    engagement : Engagement
    population_id : str
        The population's id in the engagement.
    new_file : path-like
        The new version as the client sent it (anywhere; it is copied, not moved).
    reason : str
        Why a new version was delivered (recorded on the receipt).
    delivered_by : str, optional
        Who delivers it: initials or name of a member of the staff; default the engagement's first preparer.
        The operating-system account and host are recorded beside it.

    Returns
    -------
    Receipt
        The new version's receipt.

    Raises
    ------
    EngagementError
        The population id is not declared in the engagement (the message lists the ids).
    ParameterError
        The reason is empty.
    PopulationError
        ``new_file`` does not exist, is not a file or cannot be read as the population; it is identical to
        the current version (nothing to deliver); the population has not been pinned yet; the pinned version
        is no longer at its path with its pinned hash (delivering would lose it); a different file is already
        where the old version would be kept.
    """
    source = engagement.population(population_id)
    if not isinstance(reason, str) or not reason.strip():
        raise ParameterError(f"deliver-population {population_id}: a reason is required and was empty; say why "
                             f"the client sent a new version (e.g. --reason \"PBC-07 re-run: export was capped at "
                             f"1,000 rows\").")
    reason = reason.strip()
    who = _who(engagement, delivered_by, "delivered_by (--by)")
    folder = engagement.folder
    new_path = Path(new_file)
    if not new_path.exists():
        raise PopulationError("no such file; give the path of the new version the client sent", file=new_path)
    if not new_path.is_file():
        raise PopulationError("this is not a file; give the new export file itself", file=new_path)
    try:
        new_sha256, new_size = _sha256_of(new_path)
    except OSError as err:
        raise PopulationError(f"the file cannot be read ({err.strerror or err}); check its permissions",
                              file=new_path) from None

    current = current_receipt(engagement, population_id)
    if current is None:
        raise PopulationError(
            f"population {population_id!r} has not been pinned yet: nothing has been loaded or tested from "
            f"{source.file}, so there is no version to supersede. Copy the new file to {source.file} directly; "
            f"it is pinned as version 1 when it is first loaded.", file=new_path)
    if new_sha256 == current.sha256:
        raise PopulationError(
            f"identical to version {current.version} of population {population_id!r} (SHA-256 {new_sha256}, "
            f"pinned {current.pinned_on}): nothing to deliver.", file=new_path)

    with ResultsStore.open(engagement) as store:   # a locked engagement: refused before any file is kept or copied
        store.ensure_writable(f"deliver-population {population_id}")
    old_path = _inside(engagement, folder / current.file, "the pinned file")
    _inside(engagement, Path(source.path), "the population's file")
    old_state = "is missing"
    if old_path.is_file():
        old_sha256 = _sha256_of(old_path)[0]
        old_state = f"now has SHA-256 {old_sha256}"
        if old_sha256 == new_sha256:
            old_state += " (the new file's: it was overwritten in place)"
    else:
        old_sha256 = None
    if old_sha256 != current.sha256:
        raise PopulationError(
            f"the pinned version {current.version} of population {population_id!r} (SHA-256 {current.sha256}) is "
            f"no longer there: the file {old_state}. Delivering now would lose the version that was tested. Put "
            f"the pinned version back at {current.file} (from the client's original delivery or your evidence "
            f"store; its SHA-256 must be {current.sha256}), keep the new file elsewhere and deliver again.",
            file=current.file)

    # the new file must be readable as this population before anything changes
    load_population_file(new_path, kind=source.kind, format=source.format or "auto",
                         timezone=engagement.timezone, columns=dict(source.columns or {}),
                         name=source.id, records=source.records, history=source.history)

    stem, suffix = Path(current.file).stem, Path(current.file).suffix
    kept_relative = f"{SUPERSEDED_FOLDER}/{stem}.v{current.version}.{current.sha256[:12]}{suffix}"
    _keep(old_path, _inside(engagement, folder / kept_relative, "the folder of superseded versions"),
          current.sha256, kept_relative)

    target = Path(source.path)
    temp = _copy_to_temp(new_path, target.parent, new_sha256)
    replaced = False
    try:
        with ResultsStore.open(engagement) as store, store.transaction():
            latest = _latest(store, population_id)
            if latest != current:
                raise PopulationError(
                    f"population {population_id!r} changed while delivering (now version "
                    f"{getattr(latest, 'version', None)}, pinned by {getattr(latest, 'pinned_by', None)}); nothing "
                    f"was replaced. Check the receipts (workbench receipts) and deliver again if needed.",
                    file=source.file)
            receipt = _append(store, population_id, current.version + 1, file=source.file, sha256=new_sha256,
                              size_bytes=int(new_size), who=who, source=source, superseded_file=kept_relative,
                              reason=reason)
            os.replace(temp, target)   # last step before COMMIT: a failed append leaves the old file in place
            replaced = True
    except BaseException:
        if replaced:                   # the COMMIT failed after the file was replaced: put the old one back
            restore = _copy_to_temp(folder / kept_relative, target.parent, current.sha256)
            os.replace(restore, target)
        raise
    finally:
        temp.unlink(missing_ok=True)
    _fsync_folder(target.parent)
    return receipt
