"""User access reviews (CC6.2, CC6.3): performed every period, complete, timely, independent, removals made.

Population tested: the register of reviews (kind ``access_reviews``, key ``review_id``: one review per system and
period, e.g. ``UAR-2025Q3-AWS``), dated by ``due_at``: the reviews due in the window (the period for a Type 2;
for a Type 1, the reviews due in the 90-day look-back before the as-of date, i.e. the latest performed by then).
``review_period`` names the period covered (``2025-Q3``, ``2025-H1``, ``2025-07`` or ``2025``).

The item rows of a review (one per account: decision, who decided) live on the review workbook's own sheet,
which the loader does not read as a population (it reads a workbook's first sheet). The register therefore
carries, per review, what the full-population analysis needs from them: the number of accounts reviewed and
removed, the removal ticket, and ``reviewer_access_decided_by``, who decided on the reviewer's own account
(``no account`` when the reviewer holds none). The sampled reviews are agreed to their item sheets
(``agreed_to_source``), so the register values the analysis relied on are tested.

Attributes (workflow.md §2.2 R1-R6; Chiaro IAM-05; AuditBoard Analytics "User Access Review"):

========================== ========= ======================================================================
id                         kind      passes when
========================== ========= ======================================================================
performed_each_period      automated the system's reviews cover consecutive periods: no period between two
                                     reviews, before the first or after the last is missing while its
                                     review would have been due in the window
completed_timely           automated completed no later than ``grace_days`` after the due date
reviewer_not_own_access    automated the reviewer's own account was decided by someone else
removal_ticket_recorded    automated a review that decided removals records the removal ticket
complete_against_listing   manual    the review covered every account of the system listing of its date
removals_verified          manual    every removal decided was made (absent or disabled in a later listing)
agreed_to_source           manual    (accuracy) the register row agrees with the review workbook
========================== ========= ======================================================================

A missing review (a quarter in which a system was not reviewed) has no row of its own: it is reported on the
review that follows the gap (or on the system's last review when the gap is at the end of the window, or its
first when at the start). A system never reviewed at all is not visible in the register: the walkthrough and
the design evaluation establish the systems in scope.
"""

from __future__ import annotations

import re

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

__all__ = ["PROCEDURE", "ReviewPeriod", "parse_review_period", "NO_ACCOUNT"]

#: Values of ``reviewer_access_decided_by`` that say the reviewer holds no account in the system (case-folded).
NO_ACCOUNT: tuple[str, ...] = ("no account", "none", "no access", "n/a - no account", "not applicable")

_PATTERNS = (
    (re.compile(r"^(?:fy)?(\d{4})\s*[-/ ]?\s*q([1-4])$"), "Q"),
    (re.compile(r"^q([1-4])\s*[-/ ]?\s*(?:fy)?(\d{4})$"), "Q'"),
    (re.compile(r"^(\d{4})\s*[-/ ]?\s*h([12])$"), "H"),
    (re.compile(r"^h([12])\s*[-/ ]?\s*(\d{4})$"), "H'"),
    (re.compile(r"^(\d{4})-(\d{2})$"), "M"),
    (re.compile(r"^(\d{4})$"), "Y"),
)


class ReviewPeriod:
    """A period a review covers: its first month (as a month number since year 0) and length in months."""

    def __init__(self, start: int, months: int) -> None:
        self.start = start
        self.months = months

    @property
    def end(self) -> int:
        """The first month after the period."""
        return self.start + self.months

    def label(self, start: int | None = None) -> str:
        """The label of this kind of period starting at ``start`` (default this one): 2025-Q3, 2025-H1, ..."""
        first = self.start if start is None else start
        year, month = divmod(first, 12)
        if self.months == 3:
            return f"{year}-Q{month // 3 + 1}"
        if self.months == 6:
            return f"{year}-H{month // 6 + 1}"
        if self.months == 1:
            return f"{year}-{month + 1:02d}"
        return f"{year}"


def parse_review_period(text: object) -> ReviewPeriod | None:
    """``2025-Q3``, ``Q3 2025``, ``FY2025 Q3``, ``2025-H1``, ``2025-07``, ``2025`` -> ReviewPeriod; else None."""
    if text is None or (isinstance(text, float) and np.isnan(text)) or text is pd.NA:
        return None
    value = str(text).strip().casefold()
    for pattern, kind in _PATTERNS:
        found = pattern.match(value)
        if not found:
            continue
        if kind in ("Q", "Q'"):
            year, part = (found[1], found[2]) if kind == "Q" else (found[2], found[1])
            return ReviewPeriod(int(year) * 12 + (int(part) - 1) * 3, 3)
        if kind in ("H", "H'"):
            year, part = (found[1], found[2]) if kind == "H" else (found[2], found[1])
            return ReviewPeriod(int(year) * 12 + (int(part) - 1) * 6, 6)
        if kind == "M":
            month = int(found[2])
            return ReviewPeriod(int(found[1]) * 12 + month - 1, 1) if 1 <= month <= 12 else None
        return ReviewPeriod(int(found[1]) * 12, 12)
    return None


def _performed_each_period(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    periods = [parse_review_period(v) for v in frame["review_period"]]
    systems = normalised_text(frame["system"], casefold=True).fillna("") if "system" in frame.columns else \
        pd.Series("", index=frame.index)
    shown = normalised_text(frame["system"]).fillna("") if "system" in frame.columns else \
        pd.Series("", index=frame.index)
    due = frame["due_at"]
    reasons: list[list[str]] = [[] for _ in range(len(frame))]
    for position, period in enumerate(periods):
        if period is None:
            reasons[position].append(
                f"review period {frame['review_period'].iloc[position]!r} not recognised (expected e.g. 2025-Q3, "
                f"2025-H1, 2025-07 or 2025): the period covered cannot be established")
    known = pd.DataFrame({"position": np.arange(len(frame)), "system": systems.to_numpy(),
                          "start": [p.start if p else -1 for p in periods]})
    known = known[known["start"] >= 0].sort_values(["system", "start", "position"], kind="stable")
    start_window, end_window = context.window_start, context.window_end
    for system, group in known.groupby("system", sort=False):
        rows = group["position"].to_list()
        name = shown.iloc[rows[0]] or "the system"
        for previous, current in zip(rows, rows[1:]):
            before, this = periods[previous], periods[current]
            assert before is not None and this is not None
            if this.start > before.end:
                missing = [before.label(m) for m in range(before.end, this.start, before.months)]
                reasons[current].append(f"no review of {name} for {', '.join(missing)} (the period(s) before this "
                                        f"one)")
        first, last = periods[rows[0]], periods[rows[-1]]
        assert first is not None and last is not None
        first_due, last_due = due.iloc[rows[0]], due.iloc[rows[-1]]
        if start_window is not None and pd.notna(first_due):
            expected = first_due - pd.DateOffset(months=first.months)
            if expected >= start_window:
                reasons[rows[0]].append(f"no review of {name} for {first.label(first.start - first.months)}, which "
                                        f"would have been due about {format_timestamps(pd.Series([expected]))[0][:10]}"
                                        f", in the window")
        if end_window is not None and pd.notna(last_due):
            expected = last_due + pd.DateOffset(months=last.months)
            if expected < end_window:
                reasons[rows[-1]].append(f"no review of {name} for {last.label(last.end)}, which would have been "
                                         f"due about {format_timestamps(pd.Series([expected]))[0][:10]}, in the "
                                         f"window")
    text = pd.Series(["; ".join(r) for r in reasons], index=frame.index, dtype=object)
    return outcome_frame(frame.index, fail=text != "", fail_reason=text)


def _completed_timely(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    grace = int(context.policy.get("grace_days", 0) or 0)
    completed = local_days(frame["completed_at"], context.timezone)
    due = local_days(frame["due_at"], context.timezone)
    no_completion = np.isnat(completed)
    no_due = np.isnat(due) & ~no_completion
    late = np.zeros(len(frame), dtype=bool)
    valid = ~(no_completion | np.isnat(due))
    late[valid] = (completed[valid] - due[valid]).astype("timedelta64[D]").astype(np.int64) > grace
    reason = pd.Series("", index=frame.index, dtype=object)
    reason[no_completion] = "not completed (no completion date recorded)"
    reason[no_due] = "no due date recorded"
    if late.any():
        rows = frame.loc[late]
        days = (completed[late] - due[late]).astype("timedelta64[D]").astype(np.int64)
        reason[late] = ("completed " + format_timestamps(rows["completed_at"]).str.slice(0, 10) + ", "
                        + pd.Series(days, index=rows.index).astype(str) + " days after the due date "
                        + format_timestamps(rows["due_at"]).str.slice(0, 10)).to_numpy()
    return outcome_frame(frame.index, fail=pd.Series(no_completion | no_due | late, index=frame.index),
                         fail_reason=reason)


def _reviewer_not_own_access(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    reviewer = normalised_text(frame["reviewer"])
    decided = normalised_text(frame["reviewer_access_decided_by"])
    no_reviewer = (reviewer.isna() | (reviewer == "")).fillna(True).to_numpy(dtype=bool)
    not_recorded = (decided.isna() | (decided == "")).fillna(True).to_numpy(dtype=bool) & ~no_reviewer
    no_account = decided.str.casefold().isin(NO_ACCOUNT).fillna(False).to_numpy(dtype=bool) & ~no_reviewer
    same = (~no_reviewer & ~not_recorded & ~no_account
            & (decided.str.casefold() == reviewer.str.casefold()).fillna(False).to_numpy(dtype=bool))
    reason = pd.Series("", index=frame.index, dtype=object)
    reason[no_reviewer] = "no reviewer recorded"
    reason[not_recorded] = "who decided on the reviewer's own account is not recorded"
    if same.any():
        reason[same] = ("the reviewer, " + reviewer[same].astype(str) + ", decided on their own account").to_numpy()
    return outcome_frame(frame.index, fail=pd.Series(no_reviewer | not_recorded | same, index=frame.index),
                         fail_reason=reason, not_applicable=pd.Series(no_account, index=frame.index),
                         na_reason="the reviewer holds no account in the system reviewed")


def _removal_ticket_recorded(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    removed = pd.to_numeric(frame["accounts_removed"], errors="coerce")
    ticket = normalised_text(frame["removal_ticket"])
    unknown = removed.isna().to_numpy()
    none = removed.eq(0).fillna(False).to_numpy(dtype=bool)
    no_ticket = ~unknown & ~none & (ticket.isna() | (ticket == "")).fillna(True).to_numpy(dtype=bool)
    reason = pd.Series("", index=frame.index, dtype=object)
    reason[unknown] = "the number of accounts removed is not recorded"
    if no_ticket.any():
        reason[no_ticket] = (removed[no_ticket].astype("Int64").astype(str)
                             + " removal(s) decided and no removal ticket recorded").to_numpy()
    return outcome_frame(frame.index, fail=pd.Series(unknown | no_ticket, index=frame.index), fail_reason=reason,
                         not_applicable=pd.Series(none, index=frame.index), na_reason="no removal decided")


PROCEDURE = Procedure(
    name="access_review",
    title="User access review",
    criteria=("CC6.2", "CC6.3"),
    population_kind="access_reviews",
    key_column="review_id",
    date_column="due_at",
    item_noun="review",
    item_noun_plural="reviews",
    item_description="user access review",
    item_description_plural="user access reviews",
    occurred="due",
    inspection="Inspected the review workbook (the listing reviewed, the decisions and the sign-off) and the "
               "listings after it for",
    matrix_columns=("system", "review_period", "reviewer", "completed_at", "accounts_reviewed", "accounts_removed",
                    "removal_ticket", "reviewer_access_decided_by"),
    description=(
        "System owners review user access to the in-scope systems at the control's frequency; the review covers "
        "the complete listing of its date, is completed on time by someone independent of the access reviewed, "
        "and the removals it decides are made. Performance in every period, timeliness, independence and the "
        "removal tickets are recomputed from the register for every review due in the window; the sampled "
        "reviews are inspected for completeness against the listing and the removals verified against a later "
        "listing, and their register rows agreed to the review workbooks."
    ),
    policy=(
        PolicyParameter(
            "grace_days",
            "Calendar days after a review's due date within which its completion still counts as on time.", 0,
            unit="days"),
    ),
    attributes=(
        Attribute(
            id="performed_each_period",
            label="Performed every period",
            description="The system was reviewed in every period of the window at the control's frequency (four "
                        "quarterly reviews of each system in a year).",
            kind=AUTOMATED,
            pass_criterion="The reviews of the system cover consecutive periods (review_period): no period is "
                           "missing between two reviews, and none before the first or after the last whose review "
                           "would have been due in the window (the due date shifted by one period). An unreadable "
                           "period fails. Type 1: the reviews due in the look-back.",
            deviation_wording="a review of the same system for an adjacent period was not performed",
            objective="the system was reviewed in every period",
            population_wording="next to a period without a review",
            census_test="the periods covered by each system's reviews with the control's frequency",
            columns=("review_period", "system", "due_at"),
            check=_performed_each_period,
        ),
        Attribute(
            id="completed_timely",
            label="Completed on time",
            description="The review was completed (signed off) by its due date.",
            kind=AUTOMATED,
            pass_criterion="completed_at is present and its local date is no more than grace_days after the local "
                           "date of due_at; a review without a completion date fails.",
            deviation_wording="the review was not completed by its due date",
            objective="the review was completed by its due date",
            population_wording="completed late or not at all",
            census_test="the completion date of each review with its due date",
            columns=("completed_at", "due_at"),
            check=_completed_timely,
        ),
        Attribute(
            id="reviewer_not_own_access",
            label="Reviewer independent",
            description="The reviewer did not decide on their own account: someone else (their manager, the "
                        "escalation reviewer) did.",
            kind=AUTOMATED,
            pass_criterion="reviewer_access_decided_by is recorded and is not the reviewer (names compared "
                           "case-insensitively); a blank value or no reviewer fails. Not applicable when it records "
                           "that the reviewer holds no account in the system (\"no account\").",
            deviation_wording="the reviewer approved their own access",
            objective="the reviewer did not approve their own access",
            population_wording="where the reviewer decided on their own account",
            census_test="the reviewer of each review with who decided on the reviewer's own account",
            columns=("reviewer", "reviewer_access_decided_by"),
            check=_reviewer_not_own_access,
        ),
        Attribute(
            id="removal_ticket_recorded",
            label="Removal ticket recorded",
            description="A review that decided to remove access records the ticket that asked for the removals.",
            kind=AUTOMATED,
            pass_criterion="When accounts_removed > 0, removal_ticket is present; a missing accounts_removed fails. "
                           "Not applicable when no removal was decided.",
            deviation_wording="removals decided in the review were not requested in a removal ticket",
            objective="the removals decided were requested in a removal ticket",
            population_wording="with removals decided and no removal ticket",
            census_test="the removals decided in each review with its removal ticket",
            columns=("accounts_removed", "removal_ticket"),
            check=_removal_ticket_recorded,
        ),
        Attribute(
            id="complete_against_listing",
            label="Complete against the listing",
            description="The accounts reviewed are the complete system listing of the review's date: the listing's "
                        "source, query and timestamp are retained and its accounts agree with the review's items.",
            kind=MANUAL,
            pass_criterion="The tester agreed the review's items to the system listing of its date (or one the "
                           "tester obtained) and found no account missing from the review.",
            deviation_wording="the review did not cover every account on the system listing of its date",
            objective="the review covered every account on the system listing of its date",
        ),
        Attribute(
            id="removals_verified",
            label="Removals made",
            description="Every removal the review decided was made: the account is absent or disabled in a listing "
                        "dated after the removal ticket (a closed ticket alone is not evidence of removal).",
            kind=MANUAL,
            pass_criterion="The tester inspected a listing dated after the removal and found each removed account "
                           "absent or disabled; pass when the review decided no removal.",
            deviation_wording="access the review decided to remove was not removed",
            objective="the access the review decided to remove was removed",
        ),
        Attribute(
            id="agreed_to_source",
            label="Agreed to source",
            description="The register row (reviewer, dates, accounts reviewed and removed, removal ticket, who "
                        "decided on the reviewer's own account) agrees with the review workbook: its item sheet and "
                        "sign-off.",
            kind=MANUAL,
            role=ACCURACY,
            pass_criterion="The tester inspected the review workbook and every register value agrees; any "
                           "difference is a fail, with what differs in the comment.",
            deviation_wording="the review register did not agree with the review workbook",
            objective="the review register agreed with the review workbook",
        ),
    ),
)
