"""Emergency changes (CC8.1): approved before deployment or retroactively within the policy window, by
someone other than their author, justified as emergencies, and reviewed after implementation.

Population: ``changes`` (canonical columns change_id, title, change_type, status, author, approver,
created_at, approved_at, deployed_at, system; tz-aware timestamps), dated by ``deployed_at`` and restricted
by default to ``change_type = emergency`` (the control matrix's ``Record filter`` cell overrides it).

Attributes (workflow.md §2.1 C6, after the Chiaro public library CHG-02 and the IIA GTAG "Auditing IT
Change Management"):

============================ ========= ==============================================================
id                           kind      passes when
============================ ========= ==============================================================
approved_within_window       automated approved_at present, and at most ``retroactive_approval_business_days``
                                       business days after the deployment day (an approval before the
                                       deployment passes)
approver_not_author          automated approver present and not the author (user ids compared
                                       case-insensitively, surrounding spaces ignored)
emergency_justified          manual    the ticket states why the change could not wait for the normal
                                       approval, and the reason meets the policy's emergency criteria
post_implementation_review   manual    a post-implementation review of the change is evidenced
agreed_to_source             manual    (accuracy) the sampled change's ticket history and deployment record
                                       agree with the export the full-population analysis used
============================ ========= ==============================================================

The window is counted in business days (Monday to Friday, no holidays) **after the deployment day**, on
local dates in the engagement's zone: with the default of 1, a change deployed on Friday (or on Saturday)
must be approved by the end of the following Monday. In numbers: ``numpy.busday_count(deployed day + 1,
approved day + 1) <= retroactive_approval_business_days``; with 0 the approval must be recorded on the
deployment day at the latest.

Missing evidence is a deviation (workflow.md §1.9): no approval time, no approver or no author fails the
attribute. A change without a deployment time is not applicable (it was not deployed).
"""

from __future__ import annotations

import numpy as np
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
    local_days,
    normalised_text,
    outcome_frame,
)
from workbench.procedures.change_management import approver_not_author

__all__ = ["PROCEDURE", "WINDOW_PARAMETER", "business_days_after"]

#: The policy setting of the retroactive-approval window.
WINDOW_PARAMETER = "retroactive_approval_business_days"
_DEFAULT_WINDOW = 1


def business_days_after(start: pd.Series, end: pd.Series, timezone: str) -> pd.Series:
    """Business days (Monday to Friday) after the local day of ``start`` up to and including the local day of
    ``end``: 0 for the same day (or an earlier one, negative then), 1 for the next business day; a weekend day
    after ``start`` counts nothing. Missing on either side: NA."""
    first, last = local_days(start, timezone), local_days(end, timezone)
    valid = ~(np.isnat(first) | np.isnat(last))
    counts = np.zeros(len(first), dtype=np.int64)
    if valid.any():
        one = np.timedelta64(1, "D")
        counts[valid] = np.busday_count(first[valid] + one, last[valid] + one)
    return pd.Series(pd.array(np.where(valid, counts, 0), dtype="Int64"), index=start.index).mask(~valid)


def _approved_within_window(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    window = context.integer(WINDOW_PARAMETER) if WINDOW_PARAMETER in context.policy else _DEFAULT_WINDOW
    approved, deployed = frame["approved_at"], frame["deployed_at"]
    missing = (approved.isna() & deployed.notna()).to_numpy(dtype=bool)
    after = business_days_after(deployed, approved, context.timezone)
    late = (after > window).fillna(False).to_numpy(dtype=bool) & ~missing
    reason = pd.Series("", index=frame.index, dtype=object)
    reason[missing] = "no approval recorded"
    if late.any():
        rows = frame.loc[late]
        counts = after[late].astype(int)
        days = counts.astype(str).where(counts != 1, "1 business day")
        days = days.where(counts == 1, days + " business days")
        unit = "business day" if window == 1 else "business days"
        reason[late] = ("approved " + format_timestamps(rows["approved_at"]) + ", " + days
                        + " after the deployment on " + format_timestamps(rows["deployed_at"])
                        + f" (policy: within {window} {unit})").to_numpy()
    return outcome_frame(frame.index, fail=pd.Series(missing | late, index=frame.index), fail_reason=reason,
                         not_applicable=deployed.isna(), na_reason="not deployed")


PROCEDURE = Procedure(
    name="emergency_change",
    title="Emergency changes",
    criteria=("CC8.1",),
    population_kind="changes",
    key_column="change_id",
    date_column="deployed_at",
    item_noun="change",
    item_noun_plural="changes",
    item_description="emergency change",
    item_description_plural="emergency changes",
    occurred="deployed",
    inspection="Inspected the emergency change ticket and its post-implementation review for",
    matrix_columns=("change_type", "created_at", "approved_at", "author", "approver"),
    record_filter="change_type = emergency",
    description=(
        "Emergency changes may be deployed before they are approved, but must be approved by someone other "
        "than their author no later than the policy window after deployment (retroactive approval), be "
        "justified as emergencies, and be reviewed after implementation. The approval window and the "
        "independence of the approver are recomputed from the change population for every emergency change "
        "in scope; the sampled changes are inspected for the justification, the post-implementation review "
        "and agreement with the ticket history."
    ),
    policy=(
        PolicyParameter(
            WINDOW_PARAMETER,
            "Business days after the deployment day by which an emergency change must be approved "
            "retroactively (1: by the end of the next business day; 0: on the deployment day). An approval "
            "before the deployment always meets it.", _DEFAULT_WINDOW, unit="business days"),
    ),
    attributes=(
        Attribute(
            id="approved_within_window",
            label="Approved within the window",
            description="The emergency change was approved before deployment or retroactively within the "
                        "policy window after deployment.",
            kind=AUTOMATED,
            pass_criterion="An approval time (approved_at) is present and falls no later than "
                           "retroactive_approval_business_days business days after the deployment day "
                           "(deployed_at; Monday to Friday, local dates; default 1: by the end of the next "
                           "business day). A missing approval fails. Not applicable when not deployed.",
            deviation_wording="approval was not documented within the emergency approval window",
            objective="approval was documented before deployment or retroactively within the emergency "
                      "approval window",
            population_wording="not approved within the emergency approval window",
            census_test="the approval date of each change with its deployment date and the retroactive "
                        "approval window",
            columns=("approved_at", "deployed_at"),
            check=_approved_within_window,
        ),
        Attribute(
            id="approver_not_author",
            label="Approver not author",
            description="The emergency change was approved by someone other than its author.",
            kind=AUTOMATED,
            pass_criterion="An approver is recorded and differs from the author (user ids compared "
                           "case-insensitively); a missing approver or author fails.",
            deviation_wording="the change was not approved by someone other than its author",
            objective="the approver was someone other than the change's author",
            population_wording="without an approver independent of the author",
            census_test="the approver of each change with its author",
            columns=("author", "approver"),
            check=approver_not_author,
        ),
        Attribute(
            id="emergency_justified",
            label="Emergency justified",
            description="The ticket records why the change could not wait for the normal approval process, "
                        "and the reason meets the emergency criteria of the change management policy "
                        "(e.g. a production outage or a security fix).",
            kind=MANUAL,
            pass_criterion="The tester inspected the justification recorded on the ticket (or its linked "
                           "incident) and it meets the policy's emergency criteria; recorded as a pass with an "
                           "evidence reference. No justification, or one outside the criteria, fails.",
            deviation_wording="the use of the emergency change process was not justified",
            objective="the use of the emergency change process was justified",
        ),
        Attribute(
            id="post_implementation_review",
            label="Post-implementation review",
            description="A post-implementation review of the emergency change (what was changed, whether it "
                        "worked, follow-up actions) was performed and documented after deployment.",
            kind=MANUAL,
            pass_criterion="The tester inspected a post-implementation review dated after the deployment "
                           "(ticket comment, review record or meeting minutes) and recorded a pass with an "
                           "evidence reference. No review evidenced fails.",
            deviation_wording="a post-implementation review was not evidenced",
            objective="a post-implementation review was evidenced",
            compared_date_column="deployed_at",
            compared_date_relation="on_or_after",
        ),
        Attribute(
            id="agreed_to_source",
            label="Agreed to source",
            description="The change's ticket in the source system (its history: change type, approval time and "
                        "approver, author) and its deployment record agree with the exported values the "
                        "full-population analysis used.",
            kind=MANUAL,
            role=ACCURACY,
            pass_criterion="The tester inspected the ticket history and the deployment record in the source "
                           "systems and every exported value agrees; any difference is a fail, with what "
                           "differs in the comment.",
            deviation_wording="the exported change data did not agree with the ticket in the source system",
            objective="the exported change data agreed with the ticket history and deployment record",
        ),
    ),
)
