"""The canonical schema of each population kind.

Every loader, whatever the export format, produces a frame with exactly these columns (in this
order) plus ``source_row``: the key first, timestamps as tz-aware datetimes, flags as nullable
booleans, everything else as text. A column the export does not have is present and empty, unless it
is *required*, in which case the load fails with a message naming it.

``required_values`` are the columns that must be filled on every record (a missing value is an error
finding); ``date_column`` is the occurrence date a Type 2 period or a Type 1 look-back is applied to;
``order`` lists pairs of timestamps that must not run backwards (a warning finding when they do).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KindSchema", "SCHEMAS", "KINDS", "schema_for"]


@dataclass(frozen=True)
class KindSchema:
    """The canonical columns of one population kind.

    Attributes
    ----------
    kind : str
        The kind's name as an engagement writes it.
    key : str
        The column that identifies a record (unique).
    columns : tuple of str
        All canonical columns, key first.
    required_columns : tuple of str
        Columns the file must provide (directly or through a column map).
    required_values : tuple of str
        Columns that must hold a value on every record.
    timestamps : tuple of str
        Columns parsed as tz-aware datetimes (a date alone is midnight in the engagement's zone).
    booleans : tuple of str
        Columns parsed as nullable booleans (true/false, yes/no, y/n, 1/0, enabled/disabled).
    integers : tuple of str
        Columns parsed as nullable integers.
    date_column : str or None
        The occurrence date a Type 2 period or a Type 1 look-back is applied to; None for listings
        (users, vendors) that are as of a date and are taken whole.
    order : tuple of (str, str, str)
        ``(earlier, later, what it means)``: ``later`` before ``earlier`` is a warning.
    derived_key : tuple of str
        When the file has no key column, the key is these columns joined with ``|``.
    description : str
        One line on what a record is.
    """

    kind: str
    key: str
    columns: tuple[str, ...]
    required_columns: tuple[str, ...]
    required_values: tuple[str, ...]
    timestamps: tuple[str, ...]
    booleans: tuple[str, ...]
    integers: tuple[str, ...]
    date_column: str | None
    order: tuple[tuple[str, str, str], ...]
    description: str
    derived_key: tuple[str, ...] = ()


SCHEMAS: dict[str, KindSchema] = {s.kind: s for s in (
    KindSchema(
        "changes", "change_id",
        ("change_id", "title", "change_type", "status", "author", "approver", "created_at",
         "approved_at", "deployed_at", "deployed_by", "system"),
        ("change_id", "created_at", "approved_at", "deployed_at", "author", "approver"),
        ("change_id", "created_at"),
        ("created_at", "approved_at", "deployed_at"), (), (),
        "deployed_at",
        (("created_at", "deployed_at", "deployed before it was created"),
         ("created_at", "approved_at", "approved before it was created")),
        "a change ticket (request, approval, deployment to production); change_type is "
        "standard | normal | emergency; author, approver and deployed_by (who deployed or merged it) are "
        "comparable user ids"),
    KindSchema(
        "deployments", "deployment_id",
        ("deployment_id", "change_id", "deployed_at", "deployed_by", "service", "environment"),
        ("deployment_id", "deployed_at"),
        ("deployment_id", "deployed_at"),
        ("deployed_at",), (), (),
        "deployed_at", (),
        "a deployment recorded by the release tooling (the change list's second source); change_id "
        "blank when the deploy names no ticket"),
    KindSchema(
        "incidents", "incident_id",
        ("incident_id", "title", "priority", "status", "category", "service", "opened_by",
         "assignment_group", "assigned_to", "opened_at", "resolved_at", "closed_at"),
        ("incident_id", "opened_at"),
        ("incident_id", "opened_at"),
        ("opened_at", "resolved_at", "closed_at"), (), (),
        "opened_at",
        (("opened_at", "resolved_at", "resolved before it was opened"),
         ("opened_at", "closed_at", "closed before it was opened")),
        "an incident ticket"),
    KindSchema(
        "tickets", "ticket_id",
        ("ticket_id", "title", "ticket_type", "priority", "status", "requester", "assignee",
         "opened_at", "resolved_at", "closed_at"),
        ("ticket_id", "opened_at"),
        ("ticket_id", "opened_at"),
        ("opened_at", "resolved_at", "closed_at"), (), (),
        "opened_at",
        (("opened_at", "resolved_at", "resolved before it was opened"),
         ("opened_at", "closed_at", "closed before it was opened")),
        "a generic service-desk ticket"),
    KindSchema(
        "users", "user_id",
        ("user_id", "account_id", "name", "email", "status", "active", "user_type", "department",
         "manager", "mfa_enabled", "created_at", "last_login_at", "disabled_at", "system", "employee_id",
         "password_enabled", "access_key_1_active", "access_key_1_last_rotated", "access_key_2_active",
         "access_key_2_last_rotated"),
        ("user_id",),
        ("user_id",),
        ("created_at", "last_login_at", "disabled_at", "access_key_1_last_rotated", "access_key_2_last_rotated"),
        ("active", "mfa_enabled", "password_enabled", "access_key_1_active", "access_key_2_active"), (),
        None,
        (("created_at", "disabled_at", "disabled before it was created"),
         ("created_at", "last_login_at", "last login before the account was created")),
        "an account in a system or identity-provider listing as of a date; user_id is the comparable "
        "login (Okta login, Entra UPN, IAM user name), account_id the system's own id, employee_id the HR "
        "employee id where the listing carries it; password_enabled = interactive (console) sign-in with a "
        "password, access_key_1/2_* = API access keys (the AWS IAM credential report's columns)"),
    KindSchema(
        "access_requests", "request_id",
        ("request_id", "user_id", "access", "system", "requested_by", "approver", "status",
         "requested_at", "approved_at", "provisioned_at"),
        ("request_id", "user_id", "requested_at"),
        ("request_id", "requested_at"),
        ("requested_at", "approved_at", "provisioned_at"), (), (),
        "requested_at",
        (("requested_at", "approved_at", "approved before it was requested"),),
        "a request to grant access: for whom (user_id), what (access, system), approval, when provisioned"),
    KindSchema(
        "terminations", "employee_id",
        ("employee_id", "user_id", "name", "email", "department", "title", "manager", "status",
         "hired_at", "terminated_at"),
        ("employee_id", "terminated_at"),
        ("employee_id",),
        ("hired_at", "terminated_at"), (), (),
        "terminated_at",
        (("hired_at", "terminated_at", "terminated before hired"),),
        "an HR record of a person (a roster: blank terminated_at = still employed, out of scope)"),
    KindSchema(
        "access_reviews", "review_id",
        ("review_id", "system", "review_period", "reviewer", "system_owner", "status", "due_at",
         "started_at", "completed_at", "accounts_reviewed", "accounts_removed", "removal_ticket",
         "reviewer_access_decided_by"),
        ("review_id", "due_at"),
        ("review_id", "due_at"),
        ("due_at", "started_at", "completed_at"), (), ("accounts_reviewed", "accounts_removed"),
        "due_at",
        (("started_at", "completed_at", "completed before it was started"),),
        "a periodic user access review (one per system and period, e.g. 2025-Q3); "
        "reviewer_access_decided_by = who decided on the reviewer's own account in the review (\"no account\" "
        "when the reviewer holds none)"),
    KindSchema(
        "backups", "job_id",
        ("job_id", "system", "status", "scheduled_at", "started_at", "completed_at", "size_bytes",
         "message", "retention_days", "destination_region", "followup_ticket"),
        ("job_id", "started_at"),
        ("job_id", "started_at"),
        ("scheduled_at", "started_at", "completed_at"), (), ("retention_days",),
        "started_at",
        (("started_at", "completed_at", "completed before it started"),),
        "a backup job run (system = the resource backed up)"),
    KindSchema(
        "vendors", "vendor_id",
        ("vendor_id", "name", "service", "risk_tier", "owner", "reviewer", "status", "onboarded_at", "last_review_at",
         "report_received_at", "contract_end_at", "customer_data_access", "report_type",
         "report_period_start", "report_period_end", "bridge_letter", "dpa", "notes"),
        ("vendor_id", "name"),
        ("vendor_id", "name"),
        ("onboarded_at", "last_review_at", "report_received_at", "contract_end_at", "report_period_start",
         "report_period_end"), (), (),
        None,
        (("report_period_start", "report_period_end", "report period ends before it starts"),),
        "a vendor in the vendor register (a listing as of a date, taken whole); without a vendor id "
        "column the key is the vendor's name", derived_key=("name",)),
    KindSchema(
        "training", "record_id",
        ("record_id", "user_id", "name", "course", "status", "assigned_at", "due_at", "completed_at"),
        ("record_id", "user_id", "completed_at"),
        ("record_id", "user_id"),
        ("assigned_at", "due_at", "completed_at"), (), (),
        "due_at",
        (("assigned_at", "completed_at", "completed before it was assigned"),),
        "a security-training assignment (blank completed_at = not completed); without a record id "
        "column the key is user_id|course", derived_key=("user_id", "course")),
    KindSchema(
        "occurrences", "occurrence_id",
        ("occurrence_id", "control_id", "description", "starts_at", "due_at", "source"),
        ("occurrence_id", "due_at"),
        ("occurrence_id", "due_at"),
        ("starts_at", "due_at"), (), (),
        "due_at",
        (("starts_at", "due_at", "due before it starts"),),
        "an occurrence of a periodic control with no client export (a quarter of a quarterly review, the "
        "annual DR test): derived from the control's frequency over the period, or listed by the tester in "
        "engagement.toml; due_at is the last day of its interval (or the date listed)"),
)}

#: The kinds, in the order the README documents them.
KINDS: tuple[str, ...] = tuple(SCHEMAS)


def schema_for(kind: str) -> KindSchema:
    """The schema of ``kind``; ``KeyError`` if unknown (callers turn it into an input error)."""
    return SCHEMAS[kind]
