"""GitHub pull requests with their reviews (JSON as the REST or GraphQL API returns it), as ``changes``.

Accepted shapes:

* REST: a JSON array of pull-request objects (``number``, ``title``, ``state`` open/closed,
  ``created_at``, ``merged_at``, ``user.login``, ``base.repo.full_name``), each with its reviews under
  ``reviews`` (the ``/pulls/{n}/reviews`` response), or an object ``{"pulls": [...], "reviews":
  {"<number>": [...]}}``;
* GraphQL: ``{"data": {"repository": {"pullRequests": {"nodes": [...]}}}}`` (or ``edges[].node``), or
  an archive with a top-level ``pulls`` array, with ``state`` MERGED/CLOSED/OPEN, ``createdAt``,
  ``mergedAt``, ``author.login`` and ``reviews`` (``nodes`` or a list; review time ``submittedAt`` or
  ``createdAt``).

Mapping: change_id = ``<repo>#<number>`` (or the number when no repository is named); deployed_at =
merged time (a closed, unmerged or open PR has none and falls outside any period); author = the PR
author's login; deployed_by = who merged it (``merged_by``/``mergedBy``; REST list endpoints leave it
out); approver / approved_at = the last APPROVED review by someone other than the author
submitted at or before the merge (any later approval does not count; without one both are missing);
status = merged | closed | open; change_type = ``normal``. ``source_row`` is the JSON path of the PR.

People are read from every shape GitHub exports use: a plain login string (archive tools, some GraphQL
exports), an object with ``login`` (REST ``user``, GraphQL ``author``), under ``user``, ``author``,
``merged_by`` or ``mergedBy``. Deleted accounts (``user: null``, GitHub's ``ghost``) have no login. A
person field that holds something else is never dropped silently: each one is an ``unread_value`` error
naming the PR's JSON path and the raw value.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any  # JSON documents: any shape until checked

import numpy as np
import pyarrow as pa

from workbench.formats.spec import FormatSpec, format_error
from workbench.formats.table import RawTable

__all__ = ["FORMAT"]

_HEADERS = ["change_id", "title", "change_type", "status", "author", "approver", "created_at", "approved_at",
            "deployed_at", "deployed_by", "system"]
#: Where a PR's people are, in the order tried: (header, fields).
_PEOPLE = (("author", ("user", "author")), ("deployed_by", ("merged_by", "mergedBy")))


def _pull_list(document: object) -> tuple[list[Any], str, object]:
    """(list of PR objects, JSON path prefix, the object holding them, for its ``reviews`` and ``repo``)."""
    if isinstance(document, list):
        return document, "$", None
    if isinstance(document, dict):
        for key in ("pulls", "pull_requests", "pullRequests"):
            value = document.get(key)
            if isinstance(value, list):
                return value, f"$.{key}", document
            if isinstance(value, dict) and isinstance(value.get("nodes"), list):
                return value["nodes"], f"$.{key}.nodes", document
        repo = (document.get("data") or {}).get("repository") if isinstance(document.get("data"), dict) else None
        if isinstance(repo, dict) and isinstance(repo.get("pullRequests"), dict):
            prs = repo["pullRequests"]
            if isinstance(prs.get("nodes"), list):
                return prs["nodes"], "$.data.repository.pullRequests.nodes", None
            if isinstance(prs.get("edges"), list):
                return [e.get("node", {}) for e in prs["edges"]], "$.data.repository.pullRequests.edges[*].node", None
    return [], "$", None


def _json_signature(document: object) -> bool:
    pulls, _, _ = _pull_list(document)
    return bool(pulls) and isinstance(pulls[0], dict) and "number" in pulls[0] and "title" in pulls[0] and (
        "merged_at" in pulls[0] or "mergedAt" in pulls[0] or "state" in pulls[0])


_UNREAD = object()   # a person field that holds a value that is not a login


def _login(obj: object) -> object:
    """The login in a person field: a string, or an object's ``login``; None when empty or a deleted account;
    :data:`_UNREAD` when the field holds something else (never dropped silently)."""
    if obj is None:
        return None
    if isinstance(obj, str):
        return obj.strip() or None
    if isinstance(obj, dict):
        login = obj.get("login")
        if isinstance(login, str) and login.strip():
            return login.strip()
        if login is None and not obj:
            return None
        nested = obj.get("user")              # {"user": {"login": ...}}, as some exports nest it
        if isinstance(nested, (dict, str)):
            return _login(nested)
    return _UNREAD


def _person(pr: dict[str, Any], fields: tuple[str, ...]) -> tuple[str | None, object]:
    """(login, or None; the raw value when a field held something that is not a login)."""
    unread = None
    for name in fields:
        if name not in pr:
            continue
        found = _login(pr[name])
        if isinstance(found, str):
            return found, None
        if found is _UNREAD and unread is None:
            unread = pr[name]
    return None, unread


def _raw_text(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 120 else text[:119] + "…"


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _reviews(pr: dict[str, Any], separate: object) -> list[dict[str, Any]]:
    reviews = pr.get("reviews")
    if isinstance(reviews, dict):
        reviews = reviews.get("nodes") or [e.get("node", {}) for e in reviews.get("edges", [])]
    if reviews is None and isinstance(separate, dict):
        reviews = separate.get(str(pr.get("number")))
    return [r for r in (reviews or []) if isinstance(r, dict)]


def _to_table(raw: RawTable, path: Path) -> RawTable:
    if raw.json_records is not None:       # the records array the user named: PRs, with the object holding them
        pulls, prefix, holder = raw.json_data, raw.json_prefix, raw.json_context
        pulls = pulls if isinstance(pulls, list) else []
    else:
        pulls, prefix, holder = _pull_list(raw.json_data)
    if not all(isinstance(p, dict) for p in pulls):
        raise format_error("format", "not a list of GitHub pull requests: expected JSON objects with number, title "
                     "and merged_at (REST) or mergedAt (GraphQL)", path)
    separate = holder.get("reviews") if isinstance(holder, dict) else None
    repo_default = None
    if isinstance(holder, dict):
        for key in ("repo", "repository"):
            if isinstance(holder.get(key), str):
                repo_default = holder[key]
    cols: dict[str, list[object]] = {h: [] for h in _HEADERS}
    rows = []
    unread: list[tuple[str, int | str, str]] = []
    for i, pr in enumerate(pulls):
        row = f"{prefix}[{i}]" if "[*]" not in prefix else prefix.replace("[*]", f"[{i}]")
        rows.append(row)
        repo = None
        base = pr.get("base")
        if isinstance(base, dict) and isinstance(base.get("repo"), dict):
            repo = base["repo"].get("full_name")
        if repo is None and isinstance(pr.get("repository"), dict):
            repo = pr["repository"].get("nameWithOwner")
        repo = repo or repo_default
        number = pr.get("number")
        merged = pr.get("merged_at", pr.get("mergedAt"))
        created = pr.get("created_at", pr.get("createdAt"))
        state = str(pr.get("state") or "").lower()
        status = "merged" if merged or state == "merged" else state or None
        people: dict[str, str | None] = {}
        for header, fields in _PEOPLE:
            people[header], raw_value = _person(pr, fields)
            if raw_value is not None:
                unread.append((header, row, _raw_text(raw_value)))
        author = people["author"]
        merged_time = _time(merged)
        approver = approved_at = None
        best = None
        for j, review in enumerate(_reviews(pr, separate)):
            if str(review.get("state", "")).upper() != "APPROVED":
                continue
            who, raw_value = _person(review, ("user", "author"))
            if raw_value is not None:
                unread.append(("approver", f"{row}.reviews[{j}]", _raw_text(raw_value)))
            when_text = review.get("submitted_at") or review.get("submittedAt") or review.get("createdAt")
            when = _time(when_text)
            if who is None or when is None or (author and who.lower() == author.lower()):
                continue
            if merged_time is not None and when > merged_time:
                continue
            if best is None or when > best:
                best, approver, approved_at = when, who, when_text
        cols["change_id"].append(None if number is None else (f"{repo}#{number}" if repo else str(number)))
        cols["title"].append(pr.get("title"))
        cols["change_type"].append("normal")
        cols["status"].append(status)
        cols["author"].append(author)
        cols["approver"].append(approver)
        cols["created_at"].append(created)
        cols["approved_at"].append(approved_at)
        cols["deployed_at"].append(merged)
        cols["deployed_by"].append(people["deployed_by"])
        cols["system"].append(repo)
    table = pa.table([pa.array([None if v is None else str(v) for v in cols[h]], pa.string()) for h in _HEADERS],
                     names=[str(i) for i in range(len(_HEADERS))])
    return RawTable(list(_HEADERS), table, np.array(rows, dtype=object), "json", encoding=raw.encoding,
                    notes=list(raw.notes), unread=unread)


FORMAT = FormatSpec(
    name="github",
    description="GitHub pull requests with reviews (REST or GraphQL JSON)",
    containers=("json",),
    columns={"changes": {h: (h,) for h in _HEADERS}},
    signature=lambda h: False,
    json_signature=_json_signature,
    to_table=_to_table,
)
