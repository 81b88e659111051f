"""Microsoft Entra ID (Azure AD) "Download users" CSV, as ``users``.

Column sets drift between portal releases (camelCase field names or display labels): both are
matched by name. user_id = ``userPrincipalName``; active = ``accountEnabled`` (or the negation of
``Block sign in``); guests keep user_type ``Guest``. The download has no last sign-in and no disable
date, and leaves out deleted users.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from workbench.formats.spec import FormatSpec, Lookup, constant, to_boolean

__all__ = ["FORMAT"]


def _finish(columns: dict[str, pa.Array], lookup: Lookup, n: int) -> dict[str, pa.Array]:
    out: dict[str, pa.Array] = {}
    if "active" in columns:
        out["active"] = to_boolean(columns["active"])
    else:
        blocked = lookup("Block sign in")
        blocked = blocked if blocked is not None else lookup("blockSignIn")
        if blocked is not None:
            out["active"] = pc.invert(to_boolean(blocked))
    out["system"] = constant("Entra ID", n)
    return out


FORMAT = FormatSpec(
    name="entra",
    description="Microsoft Entra ID user download (CSV)",
    containers=("csv",),
    columns={"users": {
        "user_id": ("userPrincipalName", "User principal name"),
        "account_id": ("objectId", "id", "Object ID", "Object Id"),
        "name": ("displayName", "Display name"),
        "email": ("mail", "Email", "Mail"),
        "active": ("accountEnabled", "Account enabled"),
        "user_type": ("userType", "User type"),
        "department": ("department", "Department"),
        "manager": ("manager", "Manager"),
        "created_at": ("createdDateTime", "Creation date", "Created date time"),
        "last_login_at": ("lastSignInDateTime", "Last sign-in"),
    }},
    signature=lambda h: bool(h & {"userprincipalname", "user_principal_name"})
    and bool(h & {"accountenabled", "account_enabled", "objectid", "usertype", "user_type", "object_id",
                  "block_sign_in"}),
    finish={"users": _finish},
)
