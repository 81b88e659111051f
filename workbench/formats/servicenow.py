"""ServiceNow list export (incident, change_request, sys_user, sc_req_item).

CSV exports default to field-name headers (``number``, ``opened_at``) and display values; Excel exports
default to labels (``Number``, ``Opened``): both are accepted. Times carry no zone (the exporting user's
zone and format: ``2020-11-13 15:22:31``, ``03-12-2025 15:21:08``, ``29/2/2016 01:16``). Bytes are often
Windows-1252. References export as display names such as ``Michael X (mxu)``: the id in the trailing
parentheses is taken for person columns, so people are matched on user id, not name.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from workbench.formats.spec import FormatSpec, Lookup, constant, to_boolean

__all__ = ["FORMAT"]

_PEOPLE = ("author", "approver", "opened_by", "assigned_to", "requester", "assignee", "requested_by",
           "user_id", "manager")


def _user_ids(columns: dict[str, pa.Array], lookup: Lookup, n: int) -> dict[str, pa.Array]:
    out: dict[str, pa.Array] = {}
    for name in _PEOPLE:
        array = columns.get(name)
        if array is None or not pa.types.is_string(array.type):
            continue
        inner = pc.extract_regex(array, r"\((?P<id>[^()\s]+)\)\s*$")
        ids = pc.struct_field(inner, "id") if inner.null_count < len(inner) else None
        if ids is not None:
            out[name] = pc.if_else(pc.is_valid(ids), ids, array)
    return out


def _users(columns: dict[str, pa.Array], lookup: Lookup, n: int) -> dict[str, pa.Array]:
    out = _user_ids(columns, lookup, n)
    if "active" in columns:
        out["active"] = to_boolean(columns["active"])
    out.setdefault("system", constant("ServiceNow", n))
    return out


_COMMON_TASK = {
    "title": ("short_description", "Short description"),
    "priority": ("priority", "Priority"),
    "status": ("state", "State", "incident_state", "Incident state"),
}

FORMAT = FormatSpec(
    name="servicenow",
    description="ServiceNow list export (field-name or label headers, display values, no zone)",
    containers=("csv", "xlsx"),
    columns={
        "incidents": {
            "incident_id": ("number", "Number"), **_COMMON_TASK,
            "category": ("category", "Category"),
            "service": ("business_service", "Service", "cmdb_ci", "Configuration item"),
            "opened_by": ("opened_by", "Opened by", "caller_id", "Caller"),
            "assignment_group": ("assignment_group", "Assignment group"),
            "assigned_to": ("assigned_to", "Assigned to"),
            "opened_at": ("opened_at", "Opened", "sys_created_on", "Created"),
            "resolved_at": ("resolved_at", "Resolved"),
            "closed_at": ("closed_at", "Closed"),
        },
        "changes": {
            "change_id": ("number", "Number"), "title": _COMMON_TASK["title"],
            "change_type": ("type", "Type"), "status": _COMMON_TASK["status"],
            "author": ("requested_by", "Requested by", "opened_by", "Opened by"),
            "approver": ("approver", "Approver", "approved_by", "Approved by"),
            "created_at": ("opened_at", "Opened", "sys_created_on", "Created"),
            "approved_at": ("approval_set", "Approval set", "approved_at", "Approved"),
            "deployed_at": ("work_end", "Actual end", "Actual end date", "work_start", "Actual start"),
            "system": ("cmdb_ci", "Configuration item", "business_service", "Service"),
        },
        "tickets": {
            "ticket_id": ("number", "Number"), **_COMMON_TASK,
            "ticket_type": ("sys_class_name", "Task type", "Class"),
            "requester": ("requested_for", "Requested for", "opened_by", "Opened by"),
            "assignee": ("assigned_to", "Assigned to"),
            "opened_at": ("opened_at", "Opened", "sys_created_on", "Created"),
            "resolved_at": ("resolved_at", "Resolved"), "closed_at": ("closed_at", "Closed"),
        },
        "access_requests": {
            "request_id": ("number", "Number"), "user_id": ("requested_for", "Requested for"),
            "requested_by": ("opened_by", "Opened by"), "system": ("u_system", "cat_item", "Item"),
            "access": ("u_role", "short_description", "Short description"),
            "approver": ("u_approver", "approver", "Approver"), "status": _COMMON_TASK["status"],
            "requested_at": ("opened_at", "Opened", "sys_created_on", "Created"),
            "approved_at": ("approval_set", "Approval set"), "provisioned_at": ("closed_at", "Closed"),
        },
        "users": {
            "user_id": ("user_name", "User ID"), "account_id": ("sys_id", "Sys ID"), "name": ("name", "Name"), "email": ("email", "Email"),
            "active": ("active", "Active"), "department": ("department", "Department"),
            "manager": ("manager", "Manager"), "created_at": ("sys_created_on", "Created"),
            "last_login_at": ("last_login_time", "Last login time"),
        },
    },
    signature=lambda h: ("number" in h and bool(h & {"sys_id", "opened_at", "sys_created_on",
                                                     "short_description", "opened", "state", "sys_class_name"}))
    or ("user_name" in h and bool(h & {"sys_id", "sys_created_on", "last_login_time"})),
    finish={"incidents": _user_ids, "changes": _user_ids, "tickets": _user_ids, "access_requests": _user_ids,
            "users": _users},
)
