"""Deployment reconciliation (CC8.1): every production deployment traced to an approved change, and every
change recorded as deployed traced to a production deployment, both ways over the full population.

Populations: the tested one is ``deployments`` (canonical columns deployment_id, change_id, deployed_at,
deployed_by, service, environment), dated by ``deployed_at``; the control names ``changes`` as its second
population (control matrix ``Populations``: ``deployments;changes``), which the checks join with.

Attributes (workflow.md §2.1 C7, after the Chiaro public library CHG-06 A4 and "Population
reconciliation: change tickets vs deployment history"):

========================== ========= ================================================================
id                         kind      passes when
========================== ========= ================================================================
traced_to_change           automated the deployment names a change key (change_id) found among the
                                     change tickets (any record of the change population, whatever
                                     its deployment date)
change_approved            automated the change ticket it names has an approval recorded: an approval
                                     time (approved_at) and an approver (after traced_to_change)
change_has_deployment      automated over the changes recorded as deployed in the window: a production
                                     deployment in the window tested names the change
deployment_matches_change  manual    the release deployed (commit, pull request, image) is the one the
                                     change ticket describes and approved
agreed_to_source           manual    (accuracy) the sampled deployment's record in the release tooling
                                     agrees with the export the full-population analysis used
========================== ========= ================================================================

**What "approved" means here.** A change is approved when its ticket records an approval (an approval time
and an approver), whenever it was given: an emergency change approved retroactively counts, and so does a
change approved after its deployment. Whether the approval came in time, and from someone other than the
author, is what the change-management and emergency-change controls test (CM-01, CM-03 in the demo); this
control tests that nothing reaches production outside the change process, and that the change population
is complete against the release tooling.

**Production.** Deployments whose ``environment`` is not a production name (production, prod, prd, live;
case-insensitive) are not applicable, as long as the file holds production names at all; when no record
says production (or the column is blank), every deployment is taken as a production deployment, as the
validation's reconciliation does.

Keys are compared case-insensitively with surrounding spaces ignored. A deployment that names no change is
a deviation (missing evidence), not "not applicable". The reverse direction looks up the deployments of the
window tested (the tested records): a change whose only deployment record falls outside the window is
reported with that reason, for the tester to judge.
"""

from __future__ import annotations

import pandas as pd

from workbench.errors import PopulationError
from workbench.procedures.base import (
    ACCURACY,
    AUTOMATED,
    MANUAL,
    Attribute,
    CheckContext,
    Procedure,
    normalised_text,
    outcome_frame,
)

__all__ = ["PROCEDURE", "PRODUCTION_ENVIRONMENTS", "production_mask"]

#: Environment names that mean production (compared case-insensitively).
PRODUCTION_ENVIRONMENTS: frozenset[str] = frozenset({"production", "prod", "prd", "live"})


def production_mask(environment: pd.Series) -> pd.Series:
    """Which deployments went to production: those with a production name, when any record has one;
    every deployment when none does (a log of production deployments only, or no environment column)."""
    names = normalised_text(environment, casefold=True)
    production = names.isin(PRODUCTION_ENVIRONMENTS).fillna(False).astype(bool)
    if not production.any():
        return pd.Series(True, index=environment.index)
    return production


def _changes(context: CheckContext) -> pd.DataFrame:
    """Every record of the control's change populations (whatever their date)."""
    related = context.related_of("changes")
    if not related:
        raise PopulationError(
            "deployment_reconciliation traces each deployment to its change ticket, and the control names no "
            "population of kind 'changes': add it after the deployments in the control matrix's populations "
            "column (e.g. deployments;changes).")
    frames = [r.frame for r in related]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _keys(values: pd.Series) -> pd.Series:
    return normalised_text(values, casefold=True)


def _not_production(frame: pd.DataFrame) -> pd.Series:
    if "environment" not in frame.columns:
        return pd.Series(False, index=frame.index)
    return ~production_mask(frame["environment"])


def _traced_to_change(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    changes = _changes(context)
    known = set(_keys(changes["change_id"]).dropna())
    named = _keys(frame["change_id"])
    blank = (named.isna() | (named == "")).fillna(True).astype(bool)
    unknown = ~blank & ~named.isin(known).fillna(False).astype(bool)
    reason = pd.Series("", index=frame.index, dtype=object)
    reason[blank.to_numpy()] = "the deployment names no change ticket"
    if unknown.any():
        reason[unknown.to_numpy()] = ("names change " + normalised_text(frame["change_id"])[unknown].astype(object)
                                      + ", which is not among the change tickets").to_numpy()
    return outcome_frame(frame.index, fail=blank | unknown, fail_reason=reason,
                         not_applicable=_not_production(frame), na_reason="not a production deployment")


def _change_approved(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    changes = _changes(context)
    keys = _keys(changes["change_id"])
    approver = normalised_text(changes["approver"])
    has_time = changes["approved_at"].notna()
    has_approver = (approver.notna() & (approver != "")).fillna(False).astype(bool)
    status = pd.DataFrame({"key": keys, "time": has_time.to_numpy(), "approver": has_approver.to_numpy()})
    status = status[status["key"].notna()].groupby("key")[["time", "approver"]].any()
    named = _keys(frame["change_id"])
    found = named.isin(status.index).fillna(False).astype(bool)
    time = pd.Series(named.map(status["time"]).fillna(False).astype(bool), index=frame.index) & found
    by = pd.Series(named.map(status["approver"]).fillna(False).astype(bool), index=frame.index) & found
    reason = pd.Series("", index=frame.index, dtype=object)
    reason[(~found).to_numpy()] = "no change ticket to show an approval"
    shown = normalised_text(frame["change_id"]).astype(object)
    none = found & ~time & ~by
    reason[none.to_numpy()] = ("change " + shown[none] + " has no approval recorded").to_numpy()
    no_time = found & ~time & by
    reason[no_time.to_numpy()] = ("change " + shown[no_time] + " has an approver but no approval time").to_numpy()
    no_by = found & time & ~by
    reason[no_by.to_numpy()] = ("change " + shown[no_by] + " has an approval time but no approver").to_numpy()
    return outcome_frame(frame.index, fail=~(found & time & by), fail_reason=reason,
                         not_applicable=_not_production(frame), na_reason="not a production deployment")


def _change_has_deployment(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    tested = context.related_of("tested")
    deployments = tested[0].frame if tested else pd.DataFrame(columns=["change_id", "environment"])
    production = ~_not_production(deployments)
    deployed = set(_keys(deployments.loc[production, "change_id"]).dropna())
    keys = _keys(frame["change_id"])
    missing = ~keys.isin(deployed).fillna(False).astype(bool)
    reason = pd.Series("", index=frame.index, dtype=object)
    reason[missing.to_numpy()] = "no production deployment in the window names this change"
    return outcome_frame(frame.index, fail=missing, fail_reason=reason)


PROCEDURE = Procedure(
    name="deployment_reconciliation",
    title="Deployment reconciliation",
    criteria=("CC8.1",),
    population_kind="deployments",
    key_column="deployment_id",
    date_column="deployed_at",
    item_noun="deployment",
    item_noun_plural="deployments",
    item_description="production deployment",
    item_description_plural="production deployments",
    occurred="made",
    inspection="Inspected the deployment record in the release tooling and its change ticket for",
    matrix_columns=("change_id", "deployed_by", "service", "environment"),
    description=(
        "Every production deployment is traced to an approved change ticket, and every change ticket "
        "recorded as deployed is traced to a production deployment: the deployment log and the change "
        "population are reconciled both ways over the full population. A change is approved when its "
        "ticket records an approval time and an approver, whenever given (emergency changes approved "
        "retroactively count; timeliness is tested by the change-management controls). The sampled "
        "deployments are inspected in the release tooling: the release deployed is the one the change "
        "approved, and the exported record agrees with the source."
    ),
    attributes=(
        Attribute(
            id="traced_to_change",
            label="Traced to a change",
            description="The production deployment names a change ticket that exists in the change population.",
            kind=AUTOMATED,
            pass_criterion="The deployment's change key (change_id) is present and matches a change ticket of "
                           "the change population (keys compared case-insensitively). No key, or a key matching "
                           "no ticket, fails. Not applicable for a deployment to a non-production environment.",
            deviation_wording="the deployment was not traced to a change ticket",
            objective="the deployment was traced to a change ticket",
            population_wording="not traced to a change ticket",
            census_test="the change key named by each deployment with the keys of the change tickets",
            columns=("change_id", "environment"),
            check=_traced_to_change,
        ),
        Attribute(
            id="change_approved",
            label="Change approved",
            description="The change ticket the deployment names records an approval (approval time and "
                        "approver), whenever given.",
            kind=AUTOMATED,
            pass_criterion="The change ticket named has an approval time (approved_at) and an approver; "
                           "an approval given after the deployment (e.g. an emergency change approved "
                           "retroactively) counts here, its timeliness being tested by the change-management "
                           "controls. Not performed when the deployment is not traced to a change.",
            deviation_wording="the change deployed had no recorded approval",
            objective="the change deployed was approved",
            population_wording="deploying a change with no recorded approval",
            census_test="the change ticket of each deployment with its approval record (approval time and "
                        "approver)",
            depends_on=("traced_to_change",),
            columns=("change_id", "environment"),
            check=_change_approved,
        ),
        Attribute(
            id="change_has_deployment",
            label="Change has a deployment",
            description="Every change ticket recorded as deployed in the window is named by a production "
                        "deployment of the deployment log (the change population reconciled to the log).",
            kind=AUTOMATED,
            pass_criterion="A production deployment in the window tested names the change's key (compared "
                           "case-insensitively); a change no deployment names fails.",
            deviation_wording="no production deployment was recorded for the change",
            objective="every change recorded as deployed was traced to a production deployment",
            population_wording="with no production deployment recorded",
            census_test="the key of each change ticket with the change keys named by the production deployments",
            over="changes",
            over_noun="changes recorded as deployed in the same window",
            columns=("change_id",),
            check=_change_has_deployment,
        ),
        Attribute(
            id="deployment_matches_change",
            label="Deployment matches the change",
            description="The release the deployment shipped (commit, pull request or image tag in the release "
                        "tooling) is the one the change ticket describes and was approved for.",
            kind=MANUAL,
            pass_criterion="The tester inspected the deployment run in the release tooling and the change "
                           "ticket and the release deployed is the one the ticket links; recorded as a pass "
                           "with an evidence reference. A different or unlinked release fails.",
            deviation_wording="the release deployed did not match the approved change",
            objective="the release deployed matched the approved change",
        ),
        Attribute(
            id="agreed_to_source",
            label="Agreed to source",
            description="The deployment's record in the release tooling (run, time, environment, change key) "
                        "agrees with the exported values the full-population analysis used.",
            kind=MANUAL,
            role=ACCURACY,
            pass_criterion="The tester inspected the deployment run in the release tooling and every exported "
                           "value agrees; any difference is a fail, with what differs in the comment.",
            deviation_wording="the exported deployment data did not agree with the release tooling",
            objective="the exported deployment data agreed with the release tooling",
        ),
    ),
)
