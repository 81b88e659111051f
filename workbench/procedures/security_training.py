"""Security awareness training (CC1.4, CC2.2): every person on the HR roster trained within N days of hire and
annually, coverage measured against the HR roster, not the training system's own list.

Populations: ``training`` (the LMS enrollments: record_id, user_id = the work e-mail, course, assigned_at,
due_at, completed_at), dated by ``due_at``: the enrollments due in the period (Type 2) or in the as-of window
(Type 1), every one tested; and the HR roster (kind ``terminations``: employee_id, email, hired_at,
terminated_at), named after the training export in the control's populations, joined by e-mail
(case-insensitive).

Attributes (workflow.md §2.4 "Security training", after the Chiaro public library PPL-03):

======================= ========= ===================================================================
id                      kind      passes when
======================= ========= ===================================================================
completed_by_due_date   automated the enrollment was completed on or before its due date; n/a when the
                                  HR roster shows the person left on or before the due date
enrolled_per_policy     automated over the HR roster: each person employed at the end of the window
                                  and hired at least ``new_hire_days`` before it had training due in
                                  the window: hired in the window, an enrollment due within
                                  ``new_hire_days`` of the hire date; hired before it, any enrollment
                                  due in the window (the annual training) when the window spans at
                                  least ``annual_days``
agreed_to_source        manual    (accuracy) the LMS record agrees with the export
======================= ========= ===================================================================

``enrolled_per_policy`` finds the people the training system leaves out (absent from the LMS, or enrolled
too late for a new hire); its exceptions are HR records (employee id). In a Type 1 (a 90-day window) the
annual training usually falls outside the window, so people hired before the window are not tested by it:
only new hires are, and the walkthrough covers the annual cycle.
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
    local_days,
    normalised_text,
    outcome_frame,
)

__all__ = ["PROCEDURE", "required_people"]

ONE_DAY = np.timedelta64(1, "D")


def _days_text(days: np.ndarray) -> np.ndarray:
    return np.where(np.isnat(days), "", np.datetime_as_string(days, unit="D")).astype(object)


def _roster(context: CheckContext) -> pd.DataFrame:
    """Every HR record the control names (all rosters together), with the e-mail as a join key."""
    rosters = [r.frame for r in context.related_of("terminations")]
    if not rosters:
        return pd.DataFrame(columns=["key", "hired_at", "terminated_at"])
    frame = pd.concat(rosters, ignore_index=True) if len(rosters) > 1 else rosters[0]
    email = frame["email"].fillna(frame["user_id"]) if "email" in frame.columns else frame["user_id"]
    return pd.DataFrame({"key": normalised_text(email, casefold=True), "hired_at": frame["hired_at"],
                         "terminated_at": frame["terminated_at"]})


def _window(context: CheckContext) -> tuple[np.datetime64 | None, np.datetime64 | None]:
    """First and last local day of the window (None when unknown)."""
    first = last = None
    if context.window_start is not None:
        first = local_days(pd.Series([context.window_start]), context.timezone)[0]
    if context.window_end is not None:
        last = local_days(pd.Series([context.window_end]), context.timezone)[0] - ONE_DAY
    return first, last


def _completed_by_due_date(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    due = local_days(frame["due_at"], context.timezone)
    done = local_days(frame["completed_at"], context.timezone)
    key = normalised_text(frame["user_id"], casefold=True)
    roster = _roster(context).dropna(subset=["key"]).drop_duplicates("key", keep="last")
    left_on = pd.Series(local_days(roster["terminated_at"], context.timezone), index=roster["key"].to_numpy())
    left = left_on.reindex(key.to_numpy(dtype=object)).to_numpy(dtype="datetime64[D]")
    no_due = np.isnat(due)
    not_done = np.isnat(done)
    departed = not_done & ~no_due & ~np.isnat(left) & (left <= due)
    late = ~not_done & ~no_due & (done > due)
    missing = not_done & ~departed & ~no_due
    reason = np.full(len(frame), "", dtype=object)
    due_text, done_text, left_text = _days_text(due), _days_text(done), _days_text(left)
    reason[no_due] = "no due date recorded"
    reason[missing] = "not completed (due " + due_text[missing] + ")"
    reason[late] = "completed " + done_text[late] + ", after the due date " + due_text[late]
    na_reason = pd.Series("left on " + left_text + ", on or before the due date " + due_text, index=frame.index)
    return outcome_frame(frame.index, fail=pd.Series(no_due | missing | late, index=frame.index),
                         fail_reason=pd.Series(reason, index=frame.index),
                         not_applicable=pd.Series(departed, index=frame.index), na_reason=na_reason)


def required_people(roster: pd.DataFrame, context: CheckContext) -> pd.Series:
    """The HR records the training must cover (:data:`~workbench.procedures.base.RecordSelector`): employed at
    the end of the window (no termination date, or one after it), hired at least ``new_hire_days`` before its
    last day, and, when the window spans fewer than ``annual_days`` (a Type 1), hired in the window."""
    first, last = _window(context)
    if last is None:
        return pd.Series(False, index=roster.index)
    new_hire = context.integer("new_hire_days")
    hired = local_days(roster["hired_at"], context.timezone)
    left = local_days(roster["terminated_at"], context.timezone)
    employed = np.isnat(left) | (left > last)
    settled = ~np.isnat(hired) & (hired <= last - new_hire * ONE_DAY)
    mask = employed & settled
    if first is not None and (last - first) / ONE_DAY + 1 < context.integer("annual_days"):
        mask &= hired >= first
    return pd.Series(mask, index=roster.index)


def _enrolled_per_policy(people: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    first, _ = _window(context)
    new_hire = context.integer("new_hire_days")
    tested = context.related_of("tested")
    enrollments = tested[0].frame if tested else pd.DataFrame(columns=["user_id", "due_at"])
    owner = normalised_text(enrollments["user_id"], casefold=True).to_numpy(dtype=object)
    due = local_days(enrollments["due_at"], context.timezone)
    known = ~np.isnat(due) & pd.notna(owner)
    earliest = pd.Series(due[known], index=owner[known]).groupby(level=0).min()
    email = people["email"].fillna(people["user_id"]) if "email" in people.columns else people["user_id"]
    key = normalised_text(email, casefold=True)
    hired = local_days(people["hired_at"], context.timezone)
    first_due = earliest.reindex(key.to_numpy(dtype=object)).to_numpy(dtype="datetime64[D]")
    new = ~np.isnat(hired) & (hired >= first) if first is not None else np.zeros(len(people), dtype=bool)
    none = np.isnat(first_due)
    too_late = ~none & new & (first_due > hired + new_hire * ONE_DAY)
    no_email = key.isna().to_numpy() | (key == "").fillna(True).to_numpy()
    reason = np.full(len(people), "", dtype=object)
    who = email.astype(object).where(email.notna(), "(no e-mail)").astype(str).to_numpy(dtype=object)
    hired_text, due_text = _days_text(hired), _days_text(first_due)
    absent = none & ~no_email
    reason[absent & new] = who[absent & new] + ", hired " + hired_text[absent & new] + \
        ": no training enrollment due in the window"
    reason[absent & ~new] = who[absent & ~new] + ", hired " + hired_text[absent & ~new] + \
        ": no training enrollment due in the window (absent from the training export for the period)"
    reason[too_late] = who[too_late] + ", hired " + hired_text[too_late] + ": first enrollment due " + \
        due_text[too_late] + f", more than {new_hire} days after the hire date"
    reason[no_email] = "no work e-mail on the HR record to find the person in the training export"
    fail = absent | too_late | no_email
    return outcome_frame(people.index, fail=pd.Series(fail, index=people.index),
                         fail_reason=pd.Series(reason, index=people.index))


PROCEDURE = Procedure(
    name="security_training",
    sample_per_record=True,    # a periodic control acting on every record: sized over the records
    title="Security awareness training",
    criteria=("CC1.4", "CC2.2"),
    population_kind="training",
    key_column="record_id",
    date_column="due_at",
    item_noun="training enrollment",
    item_noun_plural="training enrollments",
    item_description="security awareness training enrollment",
    item_description_plural="security awareness training enrollments",
    occurred="due",
    inspection="Inspected the completion record in the learning management system for",
    matrix_columns=("user_id", "course", "completed_at"),
    description=(
        "Personnel complete security awareness training within the policy's days of hire and annually. Every "
        "enrollment due in the window is compared with its completion, and the HR roster is compared with the "
        "training export, so that people the training system leaves out are found; the sampled enrollments are "
        "agreed to the learning management system."
    ),
    policy=(
        PolicyParameter("new_hire_days", "Days after the hire date within which a new hire completes the training "
                        "(the new-hire enrollment is due no later).", 30, minimum=1, unit="days"),
        PolicyParameter("annual_days", "The training cycle: everyone employed is trained once in this many days "
                        "(a window shorter than this, a Type 1, tests new hires only against the roster).", 365,
                        minimum=1, unit="days"),
    ),
    attributes=(
        Attribute(
            id="completed_by_due_date",
            label="Completed by the due date",
            description="The training enrollment was completed on or before its due date.",
            kind=AUTOMATED,
            pass_criterion="completed_at is recorded and not after due_at (local dates). Not applicable when the "
                           "HR roster shows the person left on or before the due date; not completed, completed "
                           "late, or no due date fails.",
            deviation_wording="the training was not completed by its due date",
            objective="the training was completed by its due date",
            population_wording="not completed by the due date",
            census_test="the completion date of each enrollment with its due date (and the HR termination date)",
            columns=("user_id", "due_at", "completed_at"),
            check=_completed_by_due_date,
        ),
        Attribute(
            id="enrolled_per_policy",
            label="Enrolled per policy (HR roster)",
            description="Each person on the HR roster employed at the end of the period was enrolled in the "
                        "training the policy requires: a new hire within the policy's days of hire, everyone "
                        "else in the annual cycle.",
            kind=AUTOMATED,
            pass_criterion="For each HR record employed at the end of the window and hired at least new_hire_days "
                           "before it: a person hired in the window has an enrollment due within new_hire_days of "
                           "the hire date; a person hired before it has an enrollment due in the window (tested "
                           "when the window spans at least annual_days). Joined by work e-mail, "
                           "case-insensitively.",
            deviation_wording="the person was not enrolled in security awareness training as the policy requires",
            objective="every person on the HR roster was enrolled in the training the policy requires",
            population_wording="not enrolled as the policy requires",
            census_test="the HR roster with the training enrollments",
            over="terminations",
            over_noun="people on the HR roster employed at the end of the period",
            over_records=required_people,
            columns=("hired_at", "terminated_at"),
            check=_enrolled_per_policy,
        ),
        Attribute(
            id="agreed_to_source",
            label="Agreed to source",
            description="The enrollment in the learning management system (person, course, due date, completion "
                        "date and certificate) agrees with the exported values the full-population analysis used.",
            kind=MANUAL,
            role=ACCURACY,
            pass_criterion="The tester inspected the person's transcript in the learning management system and "
                           "every exported value agrees; any difference is a fail, with what differs in the "
                           "comment.",
            deviation_wording="the exported training data did not agree with the learning management system",
            objective="the exported training data agreed with the learning management system",
        ),
    ),
)
