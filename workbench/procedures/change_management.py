"""Change management (CC8.1): production changes documented, approved independently, tested, before deployment.

Population: ``changes`` (canonical columns change_id, title, change_type, status, author, approver,
created_at, approved_at, deployed_at, system; tz-aware timestamps), dated by ``deployed_at``.

Attributes (workflow.md §2.1, after the Chiaro public library CHG-01 A3–A6 and the IIA GTAG
"Auditing IT Change Management"):

========================== ========= ================================================================
id                         kind      passes when
========================== ========= ================================================================
ticket_before_deployment   automated created_at present and not after deployed_at
approved_before_deployment automated approved_at present and not after deployed_at
approver_not_author        automated approver present and not the author (user ids compared
                                     case-insensitively, surrounding spaces ignored); a change its
                                     author deployed (merged) without an approver says so
testing_evidenced          manual    the tester inspected evidence of testing before deployment
agreed_to_source           manual    (accuracy) the sampled change's ticket history and deployment record
                                     agree with the export the full-population analysis used
========================== ========= ================================================================

``agreed_to_source`` is an accuracy check (its failure is a finding on the population, not a control
deviation); it is tested whenever a control tests an automated attribute, so that the sample is evidence
of the data the full-population analysis relied on.

Missing evidence is a deviation (workflow.md §1.9): no approval time, no approver or no author fails the
attribute. A change without a deployment time is not applicable (it was not deployed).
"""

from __future__ import annotations

import pandas as pd

from workbench.procedures.base import (
    ACCURACY,
    AUTOMATED,
    MANUAL,
    Attribute,
    CheckContext,
    Procedure,
    format_timestamps,
    normalised_text,
    outcome_frame,
)

__all__ = ["PROCEDURE", "approver_not_author"]


def _recorded_before_deployment(frame: pd.DataFrame, column: str, *, missing_text: str,
                                late_word: str) -> pd.DataFrame:
    """``column`` is present and not after ``deployed_at``; n/a when not deployed."""
    recorded, deployed = frame[column], frame["deployed_at"]
    missing = recorded.isna() & deployed.notna()
    late = (recorded > deployed).fillna(False).astype(bool) & recorded.notna() & deployed.notna()
    # reasons for the failing rows only (formatting timestamps is the slow part; most rows pass)
    reason = pd.Series("", index=frame.index, dtype=object)
    reason[missing.to_numpy()] = missing_text
    if late.any():
        rows = frame.loc[late.to_numpy()]
        reason[late.to_numpy()] = (f"{late_word} " + format_timestamps(rows[column]) + " after deployment "
                                   + format_timestamps(rows["deployed_at"])).to_numpy()
    return outcome_frame(frame.index, fail=missing | late, fail_reason=reason,
                         not_applicable=deployed.isna(), na_reason="not deployed")


def _ticket_before_deployment(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    return _recorded_before_deployment(frame, "created_at", missing_text="no ticket creation time recorded",
                                       late_word="ticket created")


def _approved_before_deployment(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    return _recorded_before_deployment(frame, "approved_at", missing_text="no approval recorded",
                                       late_word="approved")


def approver_not_author(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    """The approver is recorded and is not the author (ids compared case-insensitively); with a ``deployed_by``
    column, an unapproved change its author deployed (merged) alone says so. Shared by emergency changes."""
    approver = normalised_text(frame["approver"])
    author = normalised_text(frame["author"])
    no_approver = (approver.isna() | (approver == "")).fillna(True).astype(bool)
    no_author = (author.isna() | (author == "")).fillna(True).astype(bool) & ~no_approver
    same = ~no_approver & ~no_author & (approver.str.lower() == author.str.lower()).fillna(False).astype(bool)
    reason = pd.Series("", index=frame.index, dtype=object)
    reason[no_approver.to_numpy()] = "no approver recorded"
    if "deployed_by" in frame.columns:      # who merged (GitHub) or deployed it: an author deploying alone
        deployer = normalised_text(frame["deployed_by"])
        alone = no_approver & ~(author.isna() | (author == "")).fillna(True).astype(bool) & \
            (deployer.str.lower() == author.str.lower()).fillna(False).astype(bool)
        if alone.any():
            reason[alone.to_numpy()] = ("no approver recorded: deployed (merged) by its author ("
                                        + author[alone].astype(object) + ") without an independent approval"
                                        ).to_numpy()
    reason[no_author.to_numpy()] = "no author recorded, so independence cannot be evidenced"
    if same.any():
        reason[same.to_numpy()] = ("approved by its author (" + approver[same].astype(object) + ")").to_numpy()
    return outcome_frame(frame.index, fail=no_approver | no_author | same, fail_reason=reason)


PROCEDURE = Procedure(
    name="change_management",
    title="Change management",
    criteria=("CC8.1",),
    population_kind="changes",
    key_column="change_id",
    date_column="deployed_at",
    item_noun="change",
    item_noun_plural="changes",
    item_description="production change",
    item_description_plural="production changes",
    occurred="deployed",
    inspection="Inspected the change ticket for",
    matrix_columns=("created_at", "approved_at", "author", "approver"),
    description=(
        "Changes to production are documented in a ticket, approved by someone other than their author, "
        "and tested before they are deployed. Automated attributes are recomputed from the change "
        "population for every change in scope; the sampled changes are inspected, including the manual "
        "attributes."
    ),
    attributes=(
        Attribute(
            id="ticket_before_deployment",
            label="Ticket before deployment",
            description="The change was documented in a ticket before it was deployed to production.",
            kind=AUTOMATED,
            pass_criterion="The ticket's creation time (created_at) is present and not after the deployment "
                           "time (deployed_at). Not applicable when the change was not deployed.",
            deviation_wording="the change was not documented in a ticket before deployment",
            objective="the change was documented in a ticket before deployment",
            population_wording="documented after deployment or without a creation time",
            census_test="the ticket creation time of each change with its deployment time",
            columns=("created_at", "deployed_at"),
            check=_ticket_before_deployment,
        ),
        Attribute(
            id="approved_before_deployment",
            label="Approved before deployment",
            description="The change was approved before it was deployed to production.",
            kind=AUTOMATED,
            pass_criterion="An approval time (approved_at) is present and not after the deployment time "
                           "(deployed_at); a missing approval fails. Not applicable when not deployed.",
            deviation_wording="approval was not documented before deployment",
            objective="approval was documented before deployment",
            population_wording="deployed without approval documented before deployment",
            census_test="the approval time of each change with its deployment time",
            columns=("approved_at", "deployed_at"),
            check=_approved_before_deployment,
        ),
        Attribute(
            id="approver_not_author",
            label="Approver not author",
            description="The change was approved by someone other than its author.",
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
            id="testing_evidenced",
            label="Testing evidenced",
            description="Evidence that the change was tested before deployment (test results, CI run, "
                        "sign-off) was inspected.",
            kind=MANUAL,
            pass_criterion="The tester inspected evidence of testing dated before the deployment and "
                           "recorded a pass with an evidence reference.",
            deviation_wording="testing before deployment was not evidenced",
            objective="testing was evidenced before deployment",
            compared_date_column="deployed_at",
        ),
        Attribute(
            id="agreed_to_source",
            label="Agreed to source",
            description="The change's ticket in the source system (its history: creation, approval time and "
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
