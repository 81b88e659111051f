"""User provisioning (CC6.2): access is requested and approved before it is granted, by someone independent
of the person receiving it, and the access granted is the access requested.

Population: ``access_requests`` (canonical columns request_id, user_id = the person receiving the access,
access = the role or entitlement, system, requested_by, approver, status, requested_at, approved_at,
provisioned_at = when the access was granted; tz-aware timestamps), dated by ``requested_at``.

Attributes (workflow.md §2.2 P1-P3, after the Chiaro public library IAM-03 A3-A5):

======================= ========= ====================================================================
id                      kind      passes when
======================= ========= ====================================================================
requested_before_grant  automated requested_at present and not after provisioned_at
approved_before_grant   automated approved_at and an approver present, approved_at not after
                                  provisioned_at
approver_independent    automated approver present and not the person receiving the access (user_id);
                                  with ``approver_not_requester = true``, not the requester either
                                  (requested_by); names compared case-insensitively
access_matches_request  manual    the access granted in the system (system, role) is the access the
                                  request asked for and the approver approved, nothing more
agreed_to_source        manual    (accuracy) the sampled request's record in the ticketing system agrees
                                  with the export the full-population analysis used
======================= ========= ====================================================================

A request that was not granted is not applicable to every automated attribute: no grant time
(provisioned_at blank), or a status the policy lists in ``not_granted_statuses`` (a ServiceNow item
"Closed Incomplete" or "Closed Skipped" has a closing time but granted nothing). Missing evidence is a
deviation (workflow.md §1.9): a granted request with no approval time or no approver fails.

Whether the requester may approve is the firm's policy: the default (``approver_not_requester = false``)
accepts a manager who requests access for a new starter and approves it as the system owner; set it to
``true`` to require an approver other than the requester too.

Whether the access granted matches the request cannot be recomputed from a request export alone (it holds
what was asked, not what the system granted): the tester inspects the grant in the system for the sampled
requests.
"""

from __future__ import annotations

import pandas as pd

from workbench.procedures.base import (
    ACCURACY,
    AUTOMATED,
    MANUAL,
    Attribute,
    CheckContext,
    PolicyParameter,
    Procedure,
    format_timestamps,
    normalised_text,
    outcome_frame,
)

__all__ = ["PROCEDURE", "NOT_GRANTED_STATUSES", "not_granted"]

#: Request statuses that mean nothing was granted (ServiceNow, Jira Service Management, generic words).
NOT_GRANTED_STATUSES = "Closed Incomplete; Closed Skipped; Cancelled; Canceled; Rejected; Withdrawn; Declined"


def _statuses(context: CheckContext) -> set[str]:
    text = str(context.policy.get("not_granted_statuses", NOT_GRANTED_STATUSES))
    return {part.strip().lower() for part in text.replace(",", ";").split(";") if part.strip()}


def not_granted(frame: pd.DataFrame, context: CheckContext) -> pd.Series:
    """Requests that granted nothing: no grant time, or a status of ``not_granted_statuses``."""
    no_grant = frame["provisioned_at"].isna()
    if "status" in frame.columns:
        status = normalised_text(frame["status"], casefold=True)
        no_grant = no_grant | status.isin(_statuses(context)).fillna(False).astype(bool)
    return no_grant.astype(bool)


def _na_reason(frame: pd.DataFrame) -> pd.Series:
    reason = pd.Series("not granted (no grant time)", index=frame.index, dtype=object)
    if "status" in frame.columns:
        status = normalised_text(frame["status"]).astype(object)
        granted_time = frame["provisioned_at"].notna()
        reason[granted_time.to_numpy()] = ("not granted (status " + status[granted_time] + ")").to_numpy()
    return reason


def _requested_before_grant(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    requested, granted = frame["requested_at"], frame["provisioned_at"]
    skip = not_granted(frame, context)
    missing = requested.isna() & ~skip
    late = (requested > granted).fillna(False).astype(bool) & requested.notna() & ~skip
    reason = pd.Series("", index=frame.index, dtype=object)
    reason[missing.to_numpy()] = "no request time recorded"
    if late.any():
        rows = frame.loc[late.to_numpy()]
        reason[late.to_numpy()] = ("requested " + format_timestamps(rows["requested_at"]) + ", after the access "
                                   "was granted " + format_timestamps(rows["provisioned_at"])).to_numpy()
    return outcome_frame(frame.index, fail=missing | late, fail_reason=reason, not_applicable=skip,
                         na_reason=_na_reason(frame))


def _approved_before_grant(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    approved, granted = frame["approved_at"], frame["provisioned_at"]
    approver = normalised_text(frame["approver"])
    no_approver = (approver.isna() | (approver == "")).fillna(True).astype(bool)
    skip = not_granted(frame, context)
    missing = (approved.isna() | no_approver) & ~skip
    late = (approved > granted).fillna(False).astype(bool) & approved.notna() & ~no_approver & ~skip
    reason = pd.Series("", index=frame.index, dtype=object)
    reason[(missing & approved.isna() & no_approver).to_numpy()] = "no approval recorded"
    reason[(missing & approved.isna() & ~no_approver).to_numpy()] = "no approval time recorded"
    reason[(missing & approved.notna() & no_approver).to_numpy()] = "no approver recorded"
    if late.any():
        rows = frame.loc[late.to_numpy()]
        reason[late.to_numpy()] = ("granted " + format_timestamps(rows["provisioned_at"]) + ", before the approval "
                                   + format_timestamps(rows["approved_at"])).to_numpy()
    return outcome_frame(frame.index, fail=missing | late, fail_reason=reason, not_applicable=skip,
                         na_reason=_na_reason(frame))


def _approver_independent(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    approver = normalised_text(frame["approver"])
    recipient = normalised_text(frame["user_id"])
    requester = normalised_text(frame["requested_by"])
    skip = not_granted(frame, context)
    no_approver = (approver.isna() | (approver == "")).fillna(True).astype(bool) & ~skip
    low = approver.str.lower()
    self_approved = ~no_approver & ~skip & (low == recipient.str.lower()).fillna(False).astype(bool)
    by_requester = pd.Series(False, index=frame.index)
    if context.policy.get("approver_not_requester") is True:
        by_requester = (~no_approver & ~skip & ~self_approved
                        & (low == requester.str.lower()).fillna(False).astype(bool))
    reason = pd.Series("", index=frame.index, dtype=object)
    reason[no_approver.to_numpy()] = "no approver recorded"
    shown = approver.astype(object)
    if self_approved.any():
        reason[self_approved.to_numpy()] = ("approved by the person receiving the access ("
                                            + shown[self_approved] + ")").to_numpy()
    if by_requester.any():
        reason[by_requester.to_numpy()] = ("approved by its requester (" + shown[by_requester]
                                           + "; policy: approver_not_requester)").to_numpy()
    return outcome_frame(frame.index, fail=no_approver | self_approved | by_requester, fail_reason=reason,
                         not_applicable=skip, na_reason=_na_reason(frame))


PROCEDURE = Procedure(
    name="user_provisioning",
    title="User provisioning",
    criteria=("CC6.2",),
    population_kind="access_requests",
    key_column="request_id",
    date_column="requested_at",
    item_noun="access request",
    item_noun_plural="access requests",
    item_description="access request",
    item_description_plural="access requests",
    occurred="opened",
    inspection="Inspected the access request and the access granted in the system for",
    matrix_columns=("user_id", "system", "access", "requested_by", "approver", "approved_at", "provisioned_at"),
    description=(
        "Access to in-scope systems is requested in a ticket and approved, by someone independent of the "
        "person receiving it, before it is granted; the access granted is the access requested. The request, "
        "approval and grant times and the approver's independence are recomputed from the request population "
        "for every request in scope; the sampled requests are inspected, including the access actually "
        "granted in the system."
    ),
    policy=(
        PolicyParameter(
            "approver_not_requester",
            "Whether the approver must also be someone other than the requester (requested_by), besides the "
            "person receiving the access. false accepts a manager who requests access for a starter and "
            "approves it as the system owner.", False, kind="bool"),
        PolicyParameter(
            "not_granted_statuses",
            "Request statuses that mean no access was granted (separated by ';'); such requests are not "
            "applicable to the automated attributes.", NOT_GRANTED_STATUSES, kind="text"),
    ),
    attributes=(
        Attribute(
            id="requested_before_grant",
            label="Requested before grant",
            description="The access was requested in a ticket before it was granted.",
            kind=AUTOMATED,
            pass_criterion="A request time (requested_at) is present and not after the grant time "
                           "(provisioned_at). Not applicable when the request was not granted.",
            deviation_wording="the access was not requested before it was granted",
            objective="the access was requested before it was granted",
            population_wording="requested after the access was granted",
            census_test="the request time of each request with its grant time",
            columns=("requested_at", "provisioned_at", "status"),
            check=_requested_before_grant,
        ),
        Attribute(
            id="approved_before_grant",
            label="Approved before grant",
            description="The request was approved before the access was granted.",
            kind=AUTOMATED,
            pass_criterion="An approval time (approved_at) and an approver are present and the approval is not "
                           "after the grant time (provisioned_at); a granted request without an approval "
                           "fails. Not applicable when the request was not granted.",
            deviation_wording="approval was not documented before the access was granted",
            objective="approval was documented before the access was granted",
            population_wording="granted without an approval documented before the grant",
            census_test="the approval time of each request with its grant time",
            columns=("approver", "approved_at", "provisioned_at", "status"),
            check=_approved_before_grant,
        ),
        Attribute(
            id="approver_independent",
            label="Approver independent",
            description="The request was approved by someone other than the person receiving the access (and "
                        "other than its requester, where the firm's policy requires it).",
            kind=AUTOMATED,
            pass_criterion="An approver is recorded and is not the person receiving the access (user_id); when "
                           "the policy approver_not_requester is true, not the requester (requested_by) either. "
                           "Names compared case-insensitively; a missing approver fails. Not applicable when "
                           "the request was not granted.",
            deviation_wording="the request was not approved by someone independent of the person receiving the "
                              "access",
            objective="the approver was independent of the person receiving the access",
            population_wording="without an approver independent of the person receiving the access",
            census_test="the approver of each request with the person receiving the access",
            columns=("user_id", "requested_by", "approver", "provisioned_at", "status"),
            check=_approver_independent,
        ),
        Attribute(
            id="access_matches_request",
            label="Access matches request",
            description="The access granted in the system (system and role or group) is the access the request "
                        "asked for and the approver approved, with no additional roles or systems.",
            kind=MANUAL,
            pass_criterion="The tester inspected the user's access in the system (user listing, group or role "
                           "membership, or the provisioning log) after the grant and it matches the system and "
                           "role requested; recorded as a pass with an evidence reference. Extra or different "
                           "access fails.",
            deviation_wording="the access granted did not match the access requested and approved",
            objective="the access granted matched the access requested and approved",
        ),
        Attribute(
            id="agreed_to_source",
            label="Agreed to source",
            description="The request's record in the ticketing system (its history: requester, person "
                        "receiving the access, approval time and approver, fulfilment time, system and role) "
                        "agrees with the exported values the full-population analysis used.",
            kind=MANUAL,
            role=ACCURACY,
            pass_criterion="The tester inspected the request's history in the ticketing system and every "
                           "exported value agrees; any difference is a fail, with what differs in the comment.",
            deviation_wording="the exported request data did not agree with the ticket in the source system",
            objective="the exported request data agreed with the ticket history",
        ),
    ),
)
