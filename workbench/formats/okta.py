"""Okta user export (admin CSV, or the List Users API's JSON with ``profile`` nested), as ``users``.

user_id = ``login`` (the comparable login, usually the e-mail address); active = status in ACTIVE,
PASSWORD_EXPIRED, LOCKED_OUT, RECOVERY (PROVISIONED and STAGED have never signed in: not active;
SUSPENDED and DEPROVISIONED: not active); disabled_at = ``statusChanged`` when the status is
DEPROVISIONED (Okta keeps no other deactivation time; SUSPENDED is a temporary hold, not a removal). The List Users API leaves out
DEPROVISIONED users unless asked: a listing with none is noted.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from workbench.formats.spec import FormatSpec, Lookup, constant, format_error
from workbench.formats.table import RawTable, records_table

__all__ = ["FORMAT"]

_ACTIVE = ("ACTIVE", "PASSWORD_EXPIRED", "LOCKED_OUT", "RECOVERY")
_DISABLED = ("DEPROVISIONED",)


def _either(lookup: Lookup, name: str) -> pa.Array | None:
    """A header with or without the ``profile.`` prefix of the API's nesting."""
    found = lookup(name)
    return found if found is not None else lookup(f"profile.{name}")


def _finish(columns: dict[str, pa.Array], lookup: Lookup, n: int) -> dict[str, pa.Array]:
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
    out["system"] = constant("Okta", n)
    return out


def _json_signature(document: object) -> bool:
    return (isinstance(document, list) and bool(document) and isinstance(document[0], dict)
            and "profile" in document[0] and "status" in document[0])


def _cell(value: object) -> str | None:
    """The API's JSON: JSON booleans as ``true``/``false``, the string ``null`` as missing."""
    if value is None or value == "null":
        return None
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def _to_table(raw: RawTable, path: Path) -> RawTable:
    document = raw.json_data
    if not isinstance(document, list) or not all(isinstance(o, dict) for o in document):
        raise format_error("format", "not an Okta user list: expected a JSON array of user objects", path)
    return records_table(document, raw.json_prefix, encoding=raw.encoding, notes=raw.notes, cell=_cell)


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
