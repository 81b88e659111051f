"""Backup monitoring (A1.2, CC9.1): scheduled backups ran for every resource on every scheduled day, failed jobs
were followed up within the policy, copies went to another region; the restore test where the control has one.

Population: ``backups`` (canonical columns job_id, system = the resource backed up, status, scheduled_at,
started_at, completed_at, destination_region, followup_ticket, ...), dated by ``started_at``: the jobs of the
period (Type 2) or of the as-of window (Type 1), every job tested (full population).

Attributes (workflow.md §2.4 "Backups", after the Chiaro public library BCP-02):

========================== ========= ==================================================================
id                         kind      passes when
========================== ========= ==================================================================
ran_on_schedule            automated the resource had a job on every scheduled day: no more than
                                     ``backup_interval_days`` between a job's day and the resource's
                                     previous job day; a resource whose jobs start later or stop earlier
                                     than the export's first and last day fails at its first or last job
failure_followed_up        automated a job that did not succeed has a follow-up ticket and the resource was
                                     backed up successfully within ``followup_hours`` of the failure;
                                     n/a for successful and still-running jobs
copied_to_other_region     automated a successful job records the region its copy was stored in (and, when
                                     ``primary_region`` is set, another region); n/a otherwise
restore_tested             manual    where the control includes restore tests: a restore of the resource
                                     was tested within the control's frequency and documented
agreed_to_source           manual    (accuracy) the job in the backup console agrees with the export
========================== ========= ==================================================================

Days are local days in the engagement's zone (the scheduled time, else the start time). Jobs of any status
count for the schedule (a failure is judged by ``failure_followed_up``), so a failed day is one exception,
not two. Status values: ``success``, ``succeeded``, ``completed`` (and ``complete``, ``ok``) succeed;
``created``, ``pending``, ``running`` are still in progress; anything else, blank included, is a failure.
The days before the export's first job and after its last are the export's coverage, shown on the
Population sheet (months without records), not an exception of a resource.

``restore_tested`` is for controls whose description includes restore tests: a control without one (the demo's
BK-01; its restore test is BK-02's own control) lists the other attributes in the matrix's Attributes cell.
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

__all__ = ["PROCEDURE", "job_states", "SUCCEEDED", "IN_PROGRESS"]

#: Status values (case-insensitive) of a job that succeeded.
SUCCEEDED: frozenset[str] = frozenset({"success", "succeeded", "successful", "completed", "complete", "ok"})
#: Status values of a job still running when the export was taken.
IN_PROGRESS: frozenset[str] = frozenset({"created", "pending", "running", "in progress", "in_progress", "started"})


def job_states(status: pd.Series) -> pd.Series:
    """``succeeded`` | ``in progress`` | ``failed`` per job, from its status (blank: failed)."""
    text = normalised_text(status, casefold=True).fillna("")
    out = pd.Series("failed", index=status.index, dtype=object)
    out[text.isin(SUCCEEDED).to_numpy()] = "succeeded"
    out[text.isin(IN_PROGRESS).to_numpy()] = "in progress"
    return out


def _job_time(frame: pd.DataFrame) -> pd.Series:
    """When the job was due: its scheduled time, else its start."""
    return frame["scheduled_at"].fillna(frame["started_at"])


def _day_text(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(days, unit="D")


def _ran_on_schedule(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    interval = context.integer("backup_interval_days")
    day = local_days(_job_time(frame), context.timezone)
    resource = normalised_text(frame["system"], casefold=True).fillna("")
    no_resource = (resource == "").to_numpy()
    no_day = np.isnat(day)
    reason = np.full(len(frame), "", dtype=object)
    fail = np.zeros(len(frame), dtype=bool)
    reason[no_resource] = "no resource recorded for the job"
    reason[no_day & ~no_resource] = "no scheduled or start time recorded"
    fail |= no_resource | no_day
    usable = ~(no_resource | no_day)
    if usable.any():
        first_day, last_day = day[usable].min(), day[usable].max()
        one = np.timedelta64(1, "D")
        work = pd.DataFrame({"resource": resource.to_numpy()[usable], "day": day[usable],
                             "name": frame["system"].astype(str).to_numpy()[usable],
                             "row": np.flatnonzero(usable)})
        work = work.sort_values(["resource", "day", "row"], kind="stable")
        first_of_day = ~work.duplicated(["resource", "day"]).to_numpy()
        previous = work.groupby("resource", sort=False)["day"].shift(1).to_numpy(dtype="datetime64[D]")
        starts = np.isnat(previous)
        previous = np.where(starts, first_day - one, previous)
        gap = (work["day"].to_numpy(dtype="datetime64[D]") - previous) / one
        late = first_of_day & (gap > interval)
        rows = work["row"].to_numpy()
        names = work["name"].to_numpy()
        days_ = work["day"].to_numpy(dtype="datetime64[D]")
        for i in np.flatnonzero(late):
            missing_from, missing_to = previous[i] + one, days_[i] - one
            span = (f"on {_day_text(np.array([missing_from]))[0]}" if missing_from == missing_to else
                    f"from {_day_text(np.array([missing_from]))[0]} to {_day_text(np.array([missing_to]))[0]}")
            reason[rows[i]] = f"no backup job of {names[i]} {span}"
            fail[rows[i]] = True
        last_rows = ~work.duplicated(["resource"], keep="last").to_numpy()
        stops = last_rows & ((last_day - days_) / one >= interval)
        for i in np.flatnonzero(stops):
            text = (f"no backup job of {names[i]} after {_day_text(days_[i:i + 1])[0]} (the export runs to "
                    f"{_day_text(np.array([last_day]))[0]})")
            reason[rows[i]] = f"{reason[rows[i]]}; {text}" if reason[rows[i]] else text
            fail[rows[i]] = True
    return outcome_frame(frame.index, fail=pd.Series(fail, index=frame.index),
                         fail_reason=pd.Series(reason, index=frame.index))


def _failure_followed_up(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    hours = context.integer("followup_hours")
    state = job_states(frame["status"])
    failed = (state == "failed").to_numpy()
    not_applicable = pd.Series(~failed, index=frame.index)
    na_reason = pd.Series(np.where(state == "succeeded", "succeeded", "still in progress"), index=frame.index,
                          dtype=object)
    reason = pd.Series("", index=frame.index, dtype=object)
    fail = np.zeros(len(frame), dtype=bool)
    if failed.any():
        resource = normalised_text(frame["system"], casefold=True).fillna("")
        ended = frame["completed_at"].fillna(frame["started_at"]).fillna(frame["scheduled_at"])
        began = frame["started_at"].fillna(frame["scheduled_at"])
        good = (state == "succeeded").to_numpy() & frame["completed_at"].notna().to_numpy()
        successes = pd.DataFrame({"resource": resource[good].to_numpy(),
                                  "done": frame.loc[good, "completed_at"].to_numpy()})
        ticket = ~normalised_text(frame["followup_ticket"]).fillna("").eq("").to_numpy()
        limit = pd.Timedelta(hours=hours)
        for i in np.flatnonzero(failed):
            start, end = began.iloc[i], ended.iloc[i]
            mine = successes.loc[successes["resource"] == resource.iloc[i], "done"]
            after = mine[mine > start] if pd.notna(start) else mine.iloc[:0]
            next_success = after.min() if len(after) else pd.NaT
            backed_up = pd.notna(next_success) and pd.notna(end) and next_success - end <= limit
            problems = []
            if not ticket[i]:
                problems.append("no follow-up ticket")
            if not backed_up:
                if pd.isna(next_success):
                    problems.append("no successful backup of the resource afterwards in the export")
                else:
                    delay = (next_success - end).total_seconds() / 3600.0 if pd.notna(end) else float("nan")
                    problems.append(f"next successful backup {format_timestamps(pd.Series([next_success])).iloc[0]}"
                                    f", {delay:,.1f} hours later (policy: within {hours} hours)")
            if problems:
                fail[i] = True
                when = format_timestamps(pd.Series([start])).iloc[0] if pd.notna(start) else "(no time)"
                message = normalised_text(frame["message"]).fillna("").iloc[i] if "message" in frame.columns else ""
                head = f"{frame['system'].iloc[i]} job {frame['status'].iloc[i] or 'without status'} {when}"
                reason.iloc[int(i)] = head + (f" ({message})" if message else "") + ": " + "; ".join(problems)
    return outcome_frame(frame.index, fail=pd.Series(fail, index=frame.index), fail_reason=reason,
                         not_applicable=not_applicable, na_reason=na_reason)


def _copied_to_other_region(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    primary = context.text("primary_region").strip().lower()
    primary = "" if primary == "any" else primary
    state = job_states(frame["status"])
    region = normalised_text(frame["destination_region"], casefold=True).fillna("")
    not_applicable = state != "succeeded"
    no_copy = (region == "") & ~not_applicable
    same = (region != "") & (region == primary) & bool(primary) & ~not_applicable
    reason = pd.Series("", index=frame.index, dtype=object)
    reason[no_copy.to_numpy()] = "no copy region recorded"
    reason[same.to_numpy()] = f"copy stored in the primary region {primary}"
    return outcome_frame(frame.index, fail=no_copy | same, fail_reason=reason, not_applicable=not_applicable,
                         na_reason="the job did not succeed (see failure_followed_up)")


PROCEDURE = Procedure(
    name="backup_monitoring",
    title="Backup monitoring",
    criteria=("A1.2", "CC9.1"),
    population_kind="backups",
    key_column="job_id",
    date_column="started_at",
    item_noun="backup job",
    item_noun_plural="backup jobs",
    item_description="backup job",
    item_description_plural="backup jobs",
    occurred="run",
    inspection="Inspected the backup job in the backup console, and its follow-up ticket, for",
    matrix_columns=("system", "status", "completed_at", "destination_region", "followup_ticket"),
    description=(
        "Production resources are backed up on schedule (daily in the demo) to a separate region, and failed "
        "jobs are followed up and re-run. The schedule, the follow-up of every failure and the copy region are "
        "recomputed for every job in the window; the sampled jobs are agreed to the backup console, and the "
        "restore test is inspected where the control includes one."
    ),
    policy=(
        PolicyParameter("backup_interval_days", "Days between scheduled backups of a resource (1: daily); a longer "
                        "gap between a resource's jobs is an exception.", 1, minimum=1, unit="days"),
        PolicyParameter("followup_hours", "Hours after a failed job within which the resource must have been "
                        "backed up successfully (a re-run); the failure also needs a follow-up ticket.", 24,
                        minimum=1, unit="hours"),
        PolicyParameter("primary_region", "The region of the production resources: a copy stored there is an "
                        "exception (\"any\": every recorded copy region passes).", "any", kind="text"),
    ),
    attributes=(
        Attribute(
            id="ran_on_schedule",
            label="Ran on schedule",
            description="A backup job ran for the resource on every scheduled day.",
            kind=AUTOMATED,
            pass_criterion="No more than backup_interval_days calendar days (local) between the day of a job and "
                           "the previous job day of the same resource; a resource whose jobs start after the "
                           "export's first day or stop before its last day fails at its first or last job. Jobs of "
                           "any status count (failures are judged by failure_followed_up).",
            deviation_wording="a scheduled backup of the resource did not run",
            objective="a backup of each resource ran on every scheduled day",
            population_wording="after a day without a scheduled backup of their resource",
            census_test="the days of the backup jobs of each resource with the backup schedule",
            columns=("system", "scheduled_at", "started_at"),
            check=_ran_on_schedule,
        ),
        Attribute(
            id="failure_followed_up",
            label="Failure followed up",
            description="A failed backup job was followed up (a ticket) and the resource was backed up "
                        "successfully within the policy window.",
            kind=AUTOMATED,
            pass_criterion="For a job that did not succeed: a follow-up ticket is recorded and a successful job "
                           "of the same resource completed within followup_hours of the failed job. Not "
                           "applicable to successful jobs and jobs still in progress.",
            deviation_wording="the failed backup was not followed up within the policy",
            objective="failed backups were followed up and re-run within the policy",
            population_wording="failed without a follow-up and a successful re-run within the policy",
            census_test="each failed backup job with its follow-up ticket and the next successful job of the "
                        "resource",
            columns=("system", "status", "scheduled_at", "started_at", "completed_at", "followup_ticket"),
            check=_failure_followed_up,
        ),
        Attribute(
            id="copied_to_other_region",
            label="Copied to another region",
            description="The successful backup was copied to a separate region.",
            kind=AUTOMATED,
            pass_criterion="A successful job records the region of its copy (destination_region), other than "
                           "primary_region when the policy names it. Not applicable to jobs that did not succeed.",
            deviation_wording="the backup was not copied to a separate region",
            objective="the backup was copied to a separate region",
            population_wording="without a copy in a separate region",
            census_test="the copy region of each successful job",
            columns=("status", "destination_region"),
            check=_copied_to_other_region,
        ),
        Attribute(
            id="restore_tested",
            label="Restore tested",
            description="Where the control includes restore tests: a restore of the resource the job backs up "
                        "was tested within the restore frequency the control states (restore completed, data "
                        "checked), and the test is documented.",
            kind=MANUAL,
            pass_criterion="The tester inspected the restore test record of the resource (date, backup restored, "
                           "outcome, sign-off) within the control's restore frequency and recorded a pass.",
            deviation_wording="a restore of the backup was not tested as the control requires",
            objective="restores of the backups were tested as the control requires",
        ),
        Attribute(
            id="agreed_to_source",
            label="Agreed to source",
            description="The job in the backup console (resource, status, times, copy) and its follow-up ticket "
                        "agree with the exported values the full-population analysis used.",
            kind=MANUAL,
            role=ACCURACY,
            pass_criterion="The tester inspected the job in the backup console (and the ticket of a failure) and "
                           "every exported value agrees; any difference is a fail, with what differs in the "
                           "comment.",
            deviation_wording="the exported backup job data did not agree with the backup console",
            objective="the exported backup job data agreed with the backup console",
        ),
    ),
)
