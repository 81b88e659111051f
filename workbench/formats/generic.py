"""Generic CSV/xlsx exports: headers matched to the canonical names (loosely), to a few common aliases,
or through the engagement's column map (``[populations.<id>.columns]``, canonical name = header).

A JSON file is read as a list of records: an array of objects, or an object holding exactly one such
array (``{"jobs": [...]}``); nested keys become dotted headers (:func:`~workbench.formats.table.records_table`).
A document holding several arrays of records is an error naming them, unless the user names one
(``--records pulls``, ``records = "pulls"``).
"""

from __future__ import annotations

from pathlib import Path

from workbench.formats.spec import FormatSpec, format_error
from workbench.formats.table import RawTable, describe_arrays, json_arrays, records_table

__all__ = ["FORMAT", "ALIASES"]

#: Common header spellings accepted without a column map (compared loosely, after the canonical name).
ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "changes": {"change_id": ("change", "change_number", "ticket", "id", "key"), "title": ("summary",),
                "change_type": ("type",), "author": ("requested_by", "developer", "assignee"),
                "approver": ("approved_by",), "deployed_by": ("merged_by", "implemented_by"),
                "created_at": ("created", "opened_at"),
                "approved_at": ("approved",), "deployed_at": ("deployed", "implemented_at")},
    "deployments": {"deployment_id": ("deploy_id", "id", "run_id"), "change_id": ("change", "ticket"),
                    "deployed_at": ("deployed", "timestamp", "finished_at"),
                    "deployed_by": ("actor", "user"), "service": ("application", "app"),
                    "environment": ("env", "target_env")},
    "incidents": {"incident_id": ("number", "incident", "id"), "title": ("short_description", "summary"),
                  "status": ("state",), "opened_at": ("opened", "created", "created_at"),
                  "resolved_at": ("resolved",), "closed_at": ("closed",)},
    "tickets": {"ticket_id": ("number", "id", "key"), "title": ("summary", "short_description"),
                "status": ("state",), "opened_at": ("opened", "created", "created_at"),
                "resolved_at": ("resolved",), "closed_at": ("closed",)},
    "users": {"user_id": ("username", "user_name", "login", "user"), "name": ("display_name", "full_name"),
              "email": ("mail", "email_address"), "active": ("enabled",),
              "created_at": ("created",), "last_login_at": ("last_login",), "disabled_at": ("disabled",)},
    "access_requests": {"request_id": ("number", "id", "ticket"), "user_id": ("requested_for", "user"),
                        "access": ("role", "group"), "requested_at": ("requested", "created", "opened_at"),
                        "approved_at": ("approved", "approval_set"),
                        "provisioned_at": ("provisioned", "granted_at", "fulfilled_at")},
    # HR systems and the widely used HR sample dataset (EmpID, Employee ID, DateofHire, DateofTermination)
    "terminations": {"employee_id": ("employee_number", "employee_no", "empid", "emp_id", "employeeid",
                                     "worker_id", "id"),
                     "name": ("employee_name", "worker_name"), "email": ("work_email",),
                     "title": ("job_title", "position"), "status": ("employmentstatus", "employment_status",
                                                                    "worker_status"),
                     "manager": ("managername", "manager_name"),
                     "terminated_at": ("termination_date", "dateoftermination", "date_of_termination", "term_date",
                                       "terminated", "last_day"),
                     "hired_at": ("hire_date", "dateofhire", "date_of_hire", "start_date", "hired")},
    "access_reviews": {"review_id": ("id",), "review_period": ("quarter", "period"), "due_at": ("due_date", "due"),
                       "completed_at": ("completed", "completion_date", "signed_off_at"),
                       "started_at": ("started",), "accounts_reviewed": ("users_in_scope",),
                       "accounts_removed": ("users_removed",)},
    "backups": {"job_id": ("id", "run_id"), "system": ("resource_name", "resource"),
                "scheduled_at": ("scheduled_start",), "started_at": ("start", "start_time"),
                "completed_at": ("end", "end_time", "finished_at"), "size_bytes": ("backup_size_bytes",),
                "message": ("status_message",)},
    "vendors": {"vendor_id": ("id", "vendor_number"), "name": ("vendor", "vendor_name"), "risk_tier": ("tier",),
                "last_review_at": ("last_review_date",), "report_type": ("assurance_report",),
                "dpa": ("contract_dpa",)},
    "training": {"record_id": ("id", "enrollment_id"), "user_id": ("user_email", "email"),
                 "assigned_at": ("enrollment_date", "enrolled"), "due_at": ("due_date",),
                 "completed_at": ("completion_date", "completed")},
}


def _to_table(raw: RawTable, path: Path) -> RawTable:
    document = raw.json_data
    prefix = raw.json_prefix
    if isinstance(document, dict) and raw.json_records is None:
        arrays = json_arrays(document)
        if len(arrays) > 1:
            raise format_error("records", f"JSON holding several arrays of records: {describe_arrays(arrays)}; name "
                               f"the one that is the population: --records {arrays[0][0]} on the command line, or "
                               f"records = \"{arrays[0][0]}\" in [populations.<id>] of engagement.toml", path)
        lists = [(k, v) for k, v in document.items() if isinstance(v, list)]
        if len(lists) != 1:
            raise format_error("not_a_table", "JSON, but not a list of records (expected an array of objects, or an "
                         "object holding one such array)", path)
        key, document = lists[0]
        prefix = f"$.{key}"
    if not isinstance(document, list) or not all(isinstance(o, dict) for o in document):
        raise format_error("not_a_table", "JSON, but not a list of records (expected an array of objects)", path)
    return records_table(document, prefix, encoding=raw.encoding, notes=raw.notes)


FORMAT = FormatSpec(
    name="generic",
    description="a CSV or xlsx file with one record per row; columns by canonical name or column map",
    containers=("csv", "xlsx", "json"),
    columns={kind: {c: (c,) + alias for c, alias in cols.items()} for kind, cols in ALIASES.items()},
    signature=lambda headers: True,
    to_table=_to_table,
)
