"""Jira CSV export ("Export > CSV (all fields)").

Multi-valued fields repeat their column (``Labels`` x4, ``Watchers`` x10, ``Comment`` x13): the values
are joined with ``"; "``, never dropped. Dates come in the exporting user's format with no zone
(``16/Feb/26 3:29 PM``; after Excel ``16/02/2017 15:26``); they are parsed by format detection and
take the engagement's zone. Jira Cloud's ``Assignee Id``/``Reporter Id`` hold account ids, the names
may be blank for deleted users; approvals and deployment times live in custom fields named by the
client (``Custom field (Approver)``, ``Custom field (Approved)``, ``Custom field (Deployed)``).
"""

from __future__ import annotations

from workbench.formats.spec import FormatSpec

__all__ = ["FORMAT"]

FORMAT = FormatSpec(
    name="jira",
    description="Jira CSV export (repeated columns for multi-valued fields, locale dates, no zone)",
    containers=("csv",),
    columns={
        "changes": {
            "change_id": ("Issue key",),
            "title": ("Summary",),
            "change_type": ("Custom field (Change type)", "Custom field (Change Type)", "Change type"),
            "status": ("Status",),
            "author": ("Assignee Id", "Assignee"),
            "approver": ("Custom field (Approver)", "Custom field (Approvers)", "Approver"),
            "created_at": ("Created",),
            "approved_at": ("Custom field (Approved)", "Custom field (Approved at)", "Approved"),
            "deployed_at": ("Custom field (Deployed)", "Custom field (Deployed at)", "Deployed"),
            "system": ("Custom field (System)", "Component/s", "Project name"),
        },
        "tickets": {
            "ticket_id": ("Issue key",), "title": ("Summary",), "ticket_type": ("Issue Type",),
            "priority": ("Priority",), "status": ("Status",), "requester": ("Reporter Id", "Reporter"),
            "assignee": ("Assignee Id", "Assignee"), "opened_at": ("Created",), "resolved_at": ("Resolved",),
        },
        "incidents": {
            "incident_id": ("Issue key",), "title": ("Summary",), "priority": ("Priority",),
            "status": ("Status",), "category": ("Issue Type",), "service": ("Component/s",),
            "opened_by": ("Reporter Id", "Reporter"), "assigned_to": ("Assignee Id", "Assignee"),
            "opened_at": ("Created",), "resolved_at": ("Resolved",),
        },
        "access_requests": {
            "request_id": ("Issue key",), "access": ("Summary",), "status": ("Status",),
            "user_id": ("Custom field (User)", "Custom field (Employee)"),
            "requested_by": ("Reporter Id", "Reporter"), "approver": ("Custom field (Approver)",),
            "requested_at": ("Created",), "approved_at": ("Custom field (Approved)",),
            "provisioned_at": ("Custom field (Provisioned)", "Resolved"),
        },
    },
    signature=lambda h: "issue_key" in h and "summary" in h,
)
