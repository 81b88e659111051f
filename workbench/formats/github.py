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
author's login; approver / approved_at = the last APPROVED review by someone other than the author
submitted at or before the merge (any later approval does not count; without one both are missing);
status = merged | closed | open; change_type = ``normal``. ``source_row`` is the JSON path of the PR.
Deleted accounts (``user: null``) have no login.
"""

from __future__ import annotations

from pathlib import Path

from datetime import datetime
from typing import Any  # JSON documents: any shape until checked

import numpy as np
import pyarrow as pa

from workbench.formats.spec import FormatSpec, format_error
from workbench.formats.table import RawTable

__all__ = ["FORMAT"]

_HEADERS = ["change_id", "title", "change_type", "status", "author", "approver", "created_at", "approved_at",
            "deployed_at", "system"]


def _pull_list(document: object) -> tuple[list[Any], str, object]:
    """(list of PR objects, JSON path prefix, separate reviews mapping or None)."""
    if isinstance(document, list):
        return document, "$", None
    if isinstance(document, dict):
        for key in ("pulls", "pull_requests", "pullRequests"):
            value = document.get(key)
            if isinstance(value, list):
                return value, f"$.{key}", document.get("reviews")
            if isinstance(value, dict) and isinstance(value.get("nodes"), list):
                return value["nodes"], f"$.{key}.nodes", None
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


def _login(obj: object) -> str | None:
    if isinstance(obj, dict):
        login = obj.get("login")
        return str(login) if login else None
    return None


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
    pulls, prefix, separate = _pull_list(raw.json_data)
    if not all(isinstance(p, dict) for p in pulls):
        raise format_error("format", "not a list of GitHub pull requests: expected JSON objects with number, title "
                     "and merged_at (REST) or mergedAt (GraphQL)", path)
    repo_default = None
    if isinstance(raw.json_data, dict):
        for key in ("repo", "repository"):
            if isinstance(raw.json_data.get(key), str):
                repo_default = raw.json_data[key]
    cols: dict[str, list[object]] = {h: [] for h in _HEADERS}
    rows = []
    for i, pr in enumerate(pulls):
        rows.append(f"{prefix}[{i}]" if "[*]" not in prefix else prefix.replace("[*]", f"[{i}]"))
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
        author = _login(pr.get("user")) or _login(pr.get("author"))
        merged_time = _time(merged)
        approver = approved_at = None
        best = None
        for review in _reviews(pr, separate):
            if str(review.get("state", "")).upper() != "APPROVED":
                continue
            who = _login(review.get("user")) or _login(review.get("author"))
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
        cols["system"].append(repo)
    table = pa.table([pa.array([None if v is None else str(v) for v in cols[h]], pa.string()) for h in _HEADERS],
                     names=[str(i) for i in range(len(_HEADERS))])
    return RawTable(list(_HEADERS), table, np.array(rows, dtype=object), "json", encoding=raw.encoding)


FORMAT = FormatSpec(
    name="github",
    description="GitHub pull requests with reviews (REST or GraphQL JSON)",
    containers=("json",),
    columns={"changes": {h: (h,) for h in _HEADERS}},
    signature=lambda h: False,
    json_signature=_json_signature,
    to_table=_to_table,
)
