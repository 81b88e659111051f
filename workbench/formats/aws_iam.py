"""AWS IAM credential report (``GetCredentialReport``), as ``users``.

One row per IAM user, the first ``<root_account>``. Sentinels ``N/A``, ``no_information`` and
``not_supported`` are missing values; times are ISO 8601 with ``Z`` or ``+00:00``. Mapping: user_id and
name = ``user``; created_at = ``user_creation_time``; mfa_enabled = ``mfa_active``; last_login_at = the
latest of ``password_last_used`` and the two access keys' ``last_used_date``; active = the user can
still authenticate (password enabled or an access key active; the root account always);
user_type = ``root`` or ``iam_user``. SSO / Identity Center users are not in this report.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from workbench.formats.spec import FormatSpec, Lookup, constant, to_boolean

__all__ = ["FORMAT"]


def _finish(columns: dict[str, pa.Array], lookup: Lookup, n: int) -> dict[str, pa.Array]:
    out: dict[str, pa.Array] = {}
    user = columns["user_id"]
    is_root = pc.fill_null(pc.equal(user, "<root_account>"), False)
    flags = [to_boolean(a) for a in (lookup("password_enabled"), lookup("access_key_1_active"),
                                     lookup("access_key_2_active")) if a is not None]
    active = None
    for f in flags:
        f = pc.fill_null(f, False)
        active = f if active is None else pc.or_(active, f)
    if active is None:
        active = pa.nulls(n, pa.bool_())
    out["active"] = pc.or_(active, is_root) if len(active) else active
    out["mfa_enabled"] = to_boolean(columns["mfa_enabled"]) if "mfa_enabled" in columns else pa.nulls(n, pa.bool_())
    out["user_type"] = pc.if_else(is_root, "root", "iam_user")
    out["system"] = constant("AWS IAM", n)
    used = [a for a in (lookup("password_last_used"), lookup("access_key_1_last_used_date"),
                        lookup("access_key_2_last_used_date")) if a is not None]
    if used:
        # ISO strings in one style compare in time order; the latest wins
        latest = used[0]
        for other in used[1:]:
            latest = pc.max_element_wise(latest, other, skip_nulls=True)
        out["last_login_at"] = latest
    return out


FORMAT = FormatSpec(
    name="aws-iam",
    description="AWS IAM credential report (CSV)",
    containers=("csv",),
    columns={"users": {"user_id": ("user",), "name": ("user",), "account_id": ("arn",), "created_at": ("user_creation_time",),
                       "mfa_enabled": ("mfa_active",)}},
    signature=lambda h: {"user", "arn", "user_creation_time"} <= h,
    finish={"users": _finish},
)
