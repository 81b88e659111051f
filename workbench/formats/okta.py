"""Okta user export (admin CSV, or the List Users API's JSON with ``profile`` nested), as ``users``.

user_id = ``login`` (the comparable login, usually the e-mail address); active = status in ACTIVE,
PASSWORD_EXPIRED, LOCKED_OUT, RECOVERY (PROVISIONED and STAGED have never signed in: not active;
SUSPENDED and DEPROVISIONED: not active); disabled_at = ``statusChanged`` when the status is
DEPROVISIONED (Okta keeps no other deactivation time; SUSPENDED is a temporary hold, not a removal). The List Users API leaves out
DEPROVISIONED users unless asked: a listing with none is noted.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.formats import FormatSpec
from workbench.formats._table import RawTable

__all__ = ["FORMAT"]

_ACTIVE = ("ACTIVE", "PASSWORD_EXPIRED", "LOCKED_OUT", "RECOVERY")
_DISABLED = ("DEPROVISIONED",)


def _either(lookup, name):
    """A header with or without the ``profile.`` prefix of the API's nesting."""
    found = lookup(name)
    return found if found is not None else lookup(f"profile.{name}")


def _finish(columns, lookup, n):
    out: dict[str, pa.Array] = {}
    status = pc.utf8_upper(columns["status"]) if "status" in columns else pa.nulls(n, pa.string())
    out["status"] = status
    out["active"] = pc.if_else(pc.is_null(status), pa.scalar(None, pa.bool_()),
                               pc.is_in(status, value_set=pa.array(_ACTIVE)))
    changed = _either(lookup, "statusChanged")
    if changed is not None:
        disabled = pc.fill_null(pc.is_in(status, value_set=pa.array(_DISABLED)), False)
        out["disabled_at"] = pc.if_else(disabled, changed, pa.scalar(None, pa.string()))
    if "name" not in columns:
        first, last = _either(lookup, "firstName"), _either(lookup, "lastName")
        if first is not None and last is not None:
            out["name"] = pc.binary_join_element_wise(first, last, " ", null_handling="skip")
    out["system"] = pa.array(["Okta"] * n, pa.string())
    return out


def _flatten(obj: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        elif isinstance(value, list):
            flat[name] = "; ".join(str(v) for v in value)
        else:
            flat[name] = value
    return flat


def _json_signature(document: object) -> bool:
    return (isinstance(document, list) and bool(document) and isinstance(document[0], dict)
            and "profile" in document[0] and "status" in document[0])


def _to_table(raw: RawTable, path) -> RawTable:
    from workbench.formats import _error
    document = raw.json_data
    if not isinstance(document, list) or not all(isinstance(o, dict) for o in document):
        raise _error("format", "not an Okta user list: expected a JSON array of user objects", path)
    flats = [_flatten(o) for o in document]
    headers: list[str] = []
    for f in flats:
        for k in f:
            if k not in headers:
                headers.append(k)
    cols = []
    for h in headers:
        values = []
        for f in flats:
            v = f.get(h)
            values.append(None if v is None or v == "null" else ("true" if v is True else "false" if v is False
                                                                 else str(v)))
        cols.append(pa.array(values, pa.string()))
    table = pa.table(cols, names=[str(i) for i in range(len(headers))]) if headers else pa.table({})
    rows = np.array([f"$[{i}]" for i in range(len(flats))], dtype=object)
    return RawTable(headers, table, rows, "json", encoding=raw.encoding, notes=list(raw.notes))


FORMAT = FormatSpec(
    name="okta",
    description="Okta user export (CSV or the List Users API's JSON)",
    containers=("csv", "json"),
    columns={"users": {
        "user_id": ("login", "profile.login", "Username"),
        "account_id": ("id", "Id"),
        "email": ("email", "profile.email", "Primary email"),
        "name": ("displayName", "profile.displayName", "Display name"),
        "status": ("status", "Status"),
        "department": ("department", "profile.department"),
        "manager": ("manager", "profile.manager"),
        "user_type": ("userType", "profile.userType"),
        "created_at": ("created", "Created"),
        "last_login_at": ("lastLogin", "Last login"),
    }},
    signature=lambda h: bool(h & {"login", "profile_login"}) and "status" in h
    and bool(h & {"statuschanged", "lastlogin", "profile_statuschanged"}),
    finish={"users": _finish},
    json_signature=_json_signature,
    to_table=_to_table,
)
