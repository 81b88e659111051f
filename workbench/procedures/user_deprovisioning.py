"""User deprovisioning (CC6.2, CC6.3): access of terminated personnel removed on time from every in-scope system.

Population tested: the HR roster (kind ``terminations``, key ``employee_id``), dated by ``terminated_at``: the
people terminated in the window (the period for a Type 2, the as-of look-back for a Type 1). Related
populations: every user listing the control names (kind ``users``: the identity provider, cloud consoles,
code repositories, ...), taken whole as of their export date. Everything is computed over the **full
population** (workflow.md §2.2 T1-T5, after Chiaro IAM-04 and AuditBoard Analytics "Terminated User Access
Testing"): the sample only agrees the data to its sources.

Identity keys (how an account is joined to a person)
----------------------------------------------------
Clients rarely have one key across systems, so an account belongs to a person on the HR roster when any of
these agree (text compared case-insensitively, surrounding spaces ignored):

1. the listing's ``employee_id`` and the HR ``employee_id`` (when the listing carries one);
2. the listing's ``email`` or ``user_id`` and the HR ``email`` or ``user_id`` (Okta and Entra logins are work
   e-mails);
3. policy ``match_user_name_to_email`` (default true): a listing ``user_id`` without ``@`` and the local part
   of the HR e-mail (AWS IAM user ``first.last`` for ``first.last@example.com``), when exactly one person on
   the roster has that local part;
4. policy ``identity_map``, the mapping table for the rest: ``account = person`` pairs (the person's e-mail
   or employee id, or ``none`` for an account that belongs to no person), separated by ``;`` or new lines.
   An account in the map is joined by the map only.

Display names are never identity keys (two people may share one). Accounts that belong to no person (the AWS
root account, user type ``root``, always; the names or ``fnmatch`` patterns of policy
``non_person_accounts``, e.g. ``svc-*``) are left out of the reconciliation.

Attributes
----------
========================== ========= ========================================================================
id                         kind      passes when
========================== ========= ========================================================================
removed_within_window      automated every deactivated account of the person was deactivated no later than
                                     ``window_business_days`` business days after the termination date
no_active_account          automated no account of the person is active on the listings
no_sign_in_after_term      automated no account of the person was used after the termination date
account_has_current_owner  automated (over the listings' accounts) every active account belongs to a
                                     person on the HR roster who is still employed, or whose termination
                                     this control tests
agreed_to_source           manual    (accuracy) the sampled person's termination date agrees with the HR
                                     system and their accounts' status and deactivation times with the
                                     systems (Okta system log, CloudTrail, ...)
========================== ========= ========================================================================

Rules, Type 1 and Type 2 alike (the window is the period, or the 90-day look-back of a Type 1): business days
are Monday to Friday without holidays, ``numpy.busday_count`` between local dates (the demo's rule). A
listing that records deactivation times (Okta's ``statusChanged`` for DEPROVISIONED users) times each
removal; a deactivated account without one there fails (missing evidence). A listing that records none (the
AWS IAM credential report) cannot time a removal: its accounts are tested by status and last use, and the
timing is agreed to the system's log for the sampled people. An account still active on the listing fails;
when the listing's latest recorded event falls within the window after the termination, the reason says that
the removal may not have been due when the listing was taken (the listing's own date is not in it), for the
tester to clear against the export's date. A terminated person with no account on any listing is not
applicable (no access to remove, or deleted).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from workbench.errors import EngagementError
from workbench.procedures.base import (
    ACCURACY,
    AUTOMATED,
    MANUAL,
    Attribute,
    CheckContext,
    PolicyParameter,
    PolicyValue,
    Procedure,
    RelatedFrame,
    business_days_between,
    format_timestamps,
    local_days,
    normalised_text,
    outcome_frame,
)

__all__ = ["PROCEDURE", "IdentityRules", "identity_rules", "match_accounts", "people_of", "accounts_of",
           "listing_as_of"]

_SPLIT = re.compile(r"[;\n]+")


# ------------------------------------------------------------------------------------------------
# Identity rules and the join
# ------------------------------------------------------------------------------------------------

class IdentityRules:
    """How accounts are joined to people: the local-part rule, the mapping table and the non-person accounts.

    Parameters
    ----------
    local_part : bool
        Match a user name without ``@`` to the local part of a unique work e-mail.
    identity_map : Mapping[str, str]
        Account user id (case-folded) -> person's e-mail or employee id (case-folded), or ``none``.
    non_person : tuple of str
        Case-folded account names or ``fnmatch`` patterns of accounts that belong to no person.
    """

    def __init__(self, *, local_part: bool = True, identity_map: Mapping[str, str] | None = None,
                 non_person: tuple[str, ...] = ()) -> None:
        self.local_part = local_part
        self.identity_map = dict(identity_map or {})
        self.non_person = non_person

    def is_non_person(self, user_ids: pd.Series, user_types: pd.Series) -> pd.Series:
        """Boolean mask of the accounts that belong to no person (root, listed patterns, mapped to ``none``)."""
        ids = normalised_text(user_ids, casefold=True).fillna("")
        root = normalised_text(user_types, casefold=True).fillna("").eq("root")
        mapped_none = ids.map(lambda v: self.identity_map.get(v) == "none").astype(bool)
        listed = pd.Series(False, index=user_ids.index)
        for pattern in self.non_person:
            listed |= ids.map(lambda v, p=pattern: bool(v) and fnmatch.fnmatchcase(v, p)).astype(bool)
        return (root | mapped_none | listed).astype(bool)


def _entries(text: str) -> list[str]:
    return [part.strip() for part in _SPLIT.split(text or "") if part.strip()]


def identity_rules(policy: Mapping[str, PolicyValue]) -> IdentityRules:
    """The identity rules of a control's policy settings.

    Raises
    ------
    EngagementError
        An ``identity_map`` entry that is not ``account = person``.
    """
    mapping: dict[str, str] = {}
    for entry in _entries(str(policy.get("identity_map", "") or "")):
        account, sep, person = entry.partition("=")
        if not sep or not account.strip() or not person.strip():
            raise EngagementError(
                f"policy setting identity_map: {entry!r} is not 'account = person'; write each pair as "
                f"'<account user id> = <person's work e-mail or employee id, or none>', separated by ';'.")
        mapping[account.strip().casefold()] = person.strip().casefold()
    patterns = tuple(p.casefold() for part in _entries(str(policy.get("non_person_accounts", "") or ""))
                     for p in (q.strip() for q in part.split(",")) if p)
    return IdentityRules(local_part=bool(policy.get("match_user_name_to_email", True)), identity_map=mapping,
                         non_person=patterns)


def people_of(context: CheckContext) -> tuple[pd.DataFrame, np.ndarray]:
    """The HR records the join can use and which of them are tested (terminated in the window).

    The whole tested roster when the context carries it (:attr:`CheckContext.population`), else the tested
    records and any HR roster the control names as a related population.
    """
    frames: list[pd.DataFrame] = []
    masks: list[np.ndarray] = []
    population = context.population
    if population is not None and population.kind == "terminations":
        frames.append(population.frame)
        masks.append(np.asarray(population.in_scope, dtype=bool))
    else:
        for tested in context.related_of("tested"):
            frames.append(tested.frame)
            masks.append(np.ones(len(tested.frame), dtype=bool))
    for other in context.related_of("terminations"):
        frames.append(other.frame)
        masks.append(np.zeros(len(other.frame), dtype=bool))
    if not frames:
        return pd.DataFrame(columns=["employee_id", "email", "user_id", "name", "terminated_at"]), \
            np.zeros(0, dtype=bool)
    people = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    return people, np.concatenate(masks) if len(masks) > 1 else masks[0]


def accounts_of(related: tuple[RelatedFrame, ...]) -> pd.DataFrame:
    """Every account of the user listings, one frame: the canonical columns the join and the checks use,
    ``listing`` (population id), ``system`` (as the listing names it, else the population id) and
    ``listing_as_of`` (the listing's latest recorded event) and ``listing_times_removals`` (whether the
    listing records deactivation times)."""
    columns = ["user_id", "email", "employee_id", "active", "status", "user_type", "disabled_at", "last_login_at",
               "password_enabled", "access_key_1_active", "access_key_2_active"]
    parts = []
    for listing in related:
        frame = listing.scoped
        part = pd.DataFrame({c: (frame[c] if c in frame.columns else pd.Series(pd.NA, index=frame.index))
                             for c in columns})
        system = normalised_text(frame["system"]) if "system" in frame.columns else \
            pd.Series(pd.NA, index=frame.index, dtype="str")
        part["system"] = system.fillna(listing.name).replace("", listing.name)
        part["listing"] = listing.name
        part["listing_as_of"] = listing_as_of(frame)
        part["listing_times_removals"] = bool("disabled_at" in frame.columns and frame["disabled_at"].notna().any())
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=columns + ["system", "listing", "listing_as_of", "listing_times_removals"])
    return pd.concat(parts, ignore_index=True)


def listing_as_of(frame: pd.DataFrame) -> pd.Timestamp | None:
    """The latest event a listing records (creation, sign-in, deactivation): the listing is at least that recent."""
    latest = [frame[c].max() for c in ("created_at", "last_login_at", "disabled_at")
              if c in frame.columns and frame[c].notna().any()]
    return max(latest) if latest else None


def _keys(frame: pd.DataFrame, columns: tuple[tuple[str, str], ...]) -> pd.DataFrame:
    """(row, key) pairs: each column's case-folded value with its prefix; blanks dropped."""
    out = []
    for column, prefix in columns:
        if column not in frame.columns:
            continue
        values = normalised_text(frame[column], casefold=True)
        keep = values.notna() & (values != "")
        out.append(pd.DataFrame({"row": np.flatnonzero(keep.to_numpy()), "key": prefix + values[keep].astype(str)}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame({"row": [], "key": []})


def match_accounts(accounts: pd.DataFrame, people: pd.DataFrame, rules: IdentityRules) -> pd.DataFrame:
    """Join accounts to people: one row per (account row, person row) that belong together.

    Parameters
    ----------
    accounts : pandas.DataFrame
        ``user_id``, ``email``, ``employee_id`` (positions are the account rows).
    people : pandas.DataFrame
        The HR records: ``employee_id``, ``email``, ``user_id`` (positions are the person rows).
    rules : IdentityRules

    Returns
    -------
    pandas.DataFrame
        ``account`` and ``person`` (row positions), unique pairs, sorted.
    """
    person_keys = _keys(people, (("employee_id", "emp:"), ("email", "id:"), ("user_id", "id:")))
    if rules.local_part and "email" in people.columns:
        local = normalised_text(people["email"], casefold=True).str.split("@").str[0]
        local = local.where(normalised_text(people["email"]).str.contains("@", regex=False).fillna(False))
        counts = local.value_counts()
        unique = local.where(local.map(counts).eq(1))
        keep = unique.notna().to_numpy()
        person_keys = pd.concat([person_keys, pd.DataFrame({"row": np.flatnonzero(keep),
                                                            "key": "local:" + unique[keep].astype(str)})],
                                ignore_index=True)
    ids = normalised_text(accounts["user_id"], casefold=True) if "user_id" in accounts.columns else \
        pd.Series(pd.NA, index=accounts.index, dtype="str")
    mapped = ids.isin(list(rules.identity_map)).fillna(False).to_numpy(dtype=bool)
    automatic = accounts.reset_index(drop=True)[~mapped]
    account_keys = _keys(automatic, (("employee_id", "emp:"), ("email", "id:"), ("user_id", "id:")))
    account_keys["row"] = np.flatnonzero(~mapped)[account_keys["row"].to_numpy(dtype=int)] \
        if len(account_keys) else account_keys["row"]
    if rules.local_part:
        plain = ids.reset_index(drop=True)
        no_at = (~mapped) & plain.notna().to_numpy() & ~plain.str.contains("@", regex=False).fillna(True).to_numpy()
        account_keys = pd.concat([account_keys, pd.DataFrame({"row": np.flatnonzero(no_at),
                                                              "key": "local:" + plain[no_at].astype(str)})],
                                 ignore_index=True)
    if mapped.any():
        targets = ids.reset_index(drop=True)[mapped].map(rules.identity_map)
        rows = np.flatnonzero(mapped)
        keep = (targets != "none").to_numpy()
        for prefix in ("emp:", "id:"):
            account_keys = pd.concat([account_keys, pd.DataFrame({"row": rows[keep],
                                                                  "key": prefix + targets[keep].astype(str)})],
                                     ignore_index=True)
    pairs = account_keys.merge(person_keys, on="key", suffixes=("_account", "_person"))
    out = pd.DataFrame({"account": pairs["row_account"].astype(int), "person": pairs["row_person"].astype(int)})
    return out.drop_duplicates().sort_values(["person", "account"], kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------------------------------------
# Per terminated person
# ------------------------------------------------------------------------------------------------

class _Join:
    """The tested people (rows of the frame checked) with their accounts, as (frame row, account) pairs."""

    def __init__(self, frame: pd.DataFrame, context: CheckContext) -> None:
        self.frame = frame
        self.context = context
        self.rules = identity_rules(context.policy)
        self.window = int(context.policy.get("window_business_days", 5) or 0)
        self.timezone = context.timezone
        self.accounts = accounts_of(context.related_of("users"))
        people, _ = people_of(context)
        if not len(people) or "employee_id" not in frame.columns:
            people = frame.reset_index(drop=True)
        pairs = match_accounts(self.accounts, people, self.rules)
        # the rows of the checked frame, by employee id (the key), against the people the join used
        person_ids = normalised_text(people["employee_id"], casefold=True).reset_index(drop=True) \
            if "employee_id" in people.columns else pd.Series(dtype="str")
        frame_ids = normalised_text(frame["employee_id"], casefold=True) if "employee_id" in frame.columns else \
            pd.Series(pd.NA, index=frame.index, dtype="str")
        position = pd.Series(np.arange(len(frame)), index=frame_ids.fillna("").to_numpy())
        position = position[~position.index.duplicated()]
        pairs["row"] = person_ids.iloc[pairs["person"].to_numpy()].fillna("").map(position).to_numpy() \
            if len(pairs) else pd.Series(dtype=float)
        pairs = pairs.dropna(subset=["row"])
        pairs["row"] = pairs["row"].astype(int)
        account = self.accounts.iloc[pairs["account"].to_numpy()].reset_index(drop=True)
        self.pairs = pd.concat([pairs[["row"]].reset_index(drop=True), account], axis=1)
        term = frame["terminated_at"] if "terminated_at" in frame.columns else \
            pd.Series(pd.NaT, index=frame.index)
        self.pairs["terminated_at"] = term.iloc[self.pairs["row"].to_numpy(dtype=int)].reset_index(drop=True)
        self.has_account = np.zeros(len(frame), dtype=bool)
        self.has_account[self.pairs["row"].to_numpy(dtype=int)] = True

    def label(self, pairs: pd.DataFrame) -> pd.Series:
        """``Okta account alicia.nunez@example.com`` per pair."""
        return (pairs["system"].astype(str) + " account " + pairs["user_id"].fillna("").astype(str)).astype(object)

    def result(self, failing: pd.DataFrame, reasons: pd.Series, considered: np.ndarray, *,
               na_reason: str) -> pd.DataFrame:
        """Per frame row: fail with the failing pairs' reasons joined; n/a where ``considered`` is False."""
        index = self.frame.index
        fail = np.zeros(len(index), dtype=bool)
        text = np.full(len(index), "", dtype=object)
        if len(failing):
            grouped = pd.Series(reasons.to_numpy(), index=failing["row"].to_numpy()).groupby(level=0).agg("; ".join)
            fail[grouped.index.to_numpy(dtype=int)] = True
            text[grouped.index.to_numpy(dtype=int)] = grouped.to_numpy()
        not_applicable = ~considered & ~fail
        return outcome_frame(index, fail=pd.Series(fail, index=index), fail_reason=pd.Series(text, index=index),
                             not_applicable=pd.Series(not_applicable, index=index), na_reason=na_reason)


#: The last join computed: the three per-person attributes of one run share it (same frame, same context).
_LAST_JOIN: list[_Join] = []


def _join_of(frame: pd.DataFrame, context: CheckContext) -> _Join:
    """The join of ``frame`` and the context's listings, computed once per (frame, context)."""
    if _LAST_JOIN and _LAST_JOIN[0].frame is frame and _LAST_JOIN[0].context is context:
        return _LAST_JOIN[0]
    join = _Join(frame, context)
    _LAST_JOIN[:] = [join]
    return join


def _no_active_account(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    join = _join_of(frame, context)
    pairs = join.pairs
    if not len(pairs):
        return join.result(pairs, pd.Series(dtype=object), join.has_account,
                           na_reason="no account on the user listings matched this person")
    active = pairs["active"].astype("boolean")
    unknown = active.isna().to_numpy()
    on = active.fillna(False).to_numpy(dtype=bool)
    failing_mask = on | unknown
    failing = pairs[failing_mask]
    status = failing["status"].fillna("").astype(str)
    status = status.where(status == "", "status " + status)
    for column, what in (("password_enabled", "password enabled"), ("access_key_1_active", "access key 1 active"),
                         ("access_key_2_active", "access key 2 active")):
        on_flag = failing[column].astype("boolean").fillna(False).to_numpy(dtype=bool)
        status = status.where(~on_flag, status + ", " + what)
    status = status.str.removeprefix(", ")
    shown = status.where(status == "", " (" + status + ")")
    # the listing's latest event within the window of the termination: the removal may not have been due yet when
    # the listing was taken (its own date is not in the listing); still a fail, for the tester to clear
    days = business_days_between(failing["terminated_at"], failing["listing_as_of"], join.timezone)
    early = days.notna().to_numpy() & (days.fillna(0).to_numpy() <= join.window)
    note = pd.Series("", index=failing.index, dtype=object)
    if early.any():
        note[early] = ("; the listing's latest event (" + format_timestamps(failing["listing_as_of"][early])
                       .str.slice(0, 10) + f") is within {join.window} business days of the termination: "
                       "confirm the listing's date before concluding").to_numpy()
    reasons = join.label(failing) + (" is still active" + shown + " on the listing" + note).where(
        ~pd.Series(unknown[failing_mask], index=failing.index), " has no recorded status (active or not)")
    return join.result(failing, reasons, join.has_account,
                       na_reason="no account on the user listings matched this person")


def _removed_within_window(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    join = _join_of(frame, context)
    pairs = join.pairs
    if not len(pairs):
        return join.result(pairs, pd.Series(dtype=object), join.has_account,
                           na_reason="no account on the user listings matched this person")
    removed = pairs["active"].astype("boolean").eq(False).fillna(False).to_numpy(dtype=bool)
    timed = removed & pairs["disabled_at"].notna().to_numpy()
    untimed = removed & ~timed & pairs["listing_times_removals"].astype(bool).to_numpy()
    days = business_days_between(pairs["terminated_at"], pairs["disabled_at"], join.timezone)
    late = timed & (days.fillna(0).to_numpy() > join.window)
    failing_mask = late | untimed
    failing = pairs[failing_mask]
    term = format_timestamps(failing["terminated_at"]).str.slice(0, 10)
    when = format_timestamps(failing["disabled_at"])
    counted = days[failing_mask].astype("Int64").astype(str)
    reasons = join.label(failing) + np.where(
        late[failing_mask],
        (" deactivated " + when + " (" + counted + " business days after the termination date " + term
         + "; policy " + str(join.window) + ")"),
        " deactivated with no deactivation time recorded (status " + failing["status"].fillna("").astype(str)
        + ")").astype(object)
    considered = np.zeros(len(frame), dtype=bool)
    considered[pairs.loc[removed, "row"].to_numpy(dtype=int)] = True
    return join.result(failing, reasons, considered,
                       na_reason="no deactivated account on the user listings (no account matched, or every "
                                 "matched account is still active: see no_active_account)")


def _no_sign_in_after_termination(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    join = _join_of(frame, context)
    pairs = join.pairs
    if not len(pairs):
        return join.result(pairs, pd.Series(dtype=object), join.has_account,
                           na_reason="no account on the user listings matched this person")
    used = local_days(pairs["last_login_at"], join.timezone)
    term = local_days(pairs["terminated_at"], join.timezone)
    valid = ~(np.isnat(used) | np.isnat(term))
    after = np.zeros(len(pairs), dtype=bool)
    after[valid] = used[valid] > term[valid]
    failing = pairs[after]
    reasons = join.label(failing) + " last used " + format_timestamps(failing["last_login_at"]) + \
        ", after the termination date " + format_timestamps(failing["terminated_at"]).str.slice(0, 10)
    return join.result(failing, reasons.astype(object), join.has_account,
                       na_reason="no account on the user listings matched this person")


# ------------------------------------------------------------------------------------------------
# The other direction: every active account has a current owner
# ------------------------------------------------------------------------------------------------

def _account_has_current_owner(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    rules = identity_rules(context.policy)
    people, tested = people_of(context)
    accounts = frame.reset_index(drop=True)
    index = frame.index
    user_ids = accounts["user_id"] if "user_id" in accounts.columns else pd.Series(pd.NA, index=accounts.index)
    user_types = accounts["user_type"] if "user_type" in accounts.columns else \
        pd.Series(pd.NA, index=accounts.index)
    non_person = rules.is_non_person(user_ids, user_types).to_numpy(dtype=bool)
    active = accounts["active"].astype("boolean") if "active" in accounts.columns else \
        pd.Series(pd.NA, index=accounts.index, dtype="boolean")
    inactive = active.eq(False).fillna(False).to_numpy(dtype=bool)
    pairs = match_accounts(accounts, people, rules) if len(people) else pd.DataFrame({"account": [], "person": []})
    term = people["terminated_at"] if "terminated_at" in people.columns else pd.Series(pd.NaT, index=people.index)
    term = term.reset_index(drop=True)
    start, end = context.window_start, context.window_end
    before_window = term.notna().to_numpy() & (
        (term < start).fillna(False).to_numpy(dtype=bool) if start is not None else np.zeros(len(term), dtype=bool))
    # an owner who is employed, terminated after the window, or whose termination the control tests is fine
    good_person = ~before_window | tested
    matched = np.zeros(len(accounts), dtype=bool)
    owned = np.zeros(len(accounts), dtype=bool)
    if len(pairs):
        acc = pairs["account"].to_numpy(dtype=int)
        matched[acc] = True
        owned_by = pd.Series(good_person[pairs["person"].to_numpy(dtype=int)]).groupby(acc).any()
        owned[owned_by.index.to_numpy(dtype=int)] = owned_by.to_numpy(dtype=bool)
    considered = ~inactive & ~non_person
    unmatched = considered & ~matched
    departed = considered & matched & ~owned
    reason = np.full(len(accounts), "", dtype=object)
    system = normalised_text(accounts["system"]).fillna("").astype(str) if "system" in accounts.columns else \
        pd.Series("", index=accounts.index)
    label = (system.where(system == "", system + " ") + "account " + user_ids.fillna("").astype(str)).to_numpy(
        dtype=object)
    if unmatched.any():
        emails = accounts["email"].fillna("").astype(str) if "email" in accounts.columns else \
            pd.Series("", index=accounts.index)
        other = (emails != "") & (emails.str.casefold() != user_ids.fillna("").astype(str).str.casefold())
        shown = emails.where(~other, " (e-mail " + emails + ")").where(other, "").to_numpy(dtype=object)
        reason[unmatched] = (label + shown + " is active and matches no one on the HR roster")[unmatched]
    if departed.any():
        names = people["name"].fillna("").astype(str).reset_index(drop=True) if "name" in people.columns else \
            pd.Series("", index=people.index)
        ids = people["employee_id"].fillna("").astype(str).reset_index(drop=True)
        dates = format_timestamps(term).str.slice(0, 10)
        owner = (names + " (" + ids + "), terminated " + dates + ", before the window").to_numpy(dtype=object)
        first = pairs.drop_duplicates("account").set_index("account")["person"]
        rows = np.flatnonzero(departed)
        owners = first.reindex(pd.Index(rows)).to_numpy(dtype=int)
        reason[rows] = label[rows] + " is active and belongs to " + owner[owners]
    na_reason = np.where(inactive, "not active", np.where(non_person, "not a person's account (service or root "
                                                                      "account: policy non_person_accounts)", ""))
    na_reason = np.where(considered & matched & owned, "", na_reason)
    return outcome_frame(index, fail=pd.Series(unmatched | departed, index=index),
                         fail_reason=pd.Series(reason, index=index),
                         not_applicable=pd.Series(~considered, index=index),
                         na_reason=pd.Series(na_reason, index=index))


PROCEDURE = Procedure(
    name="user_deprovisioning",
    title="User deprovisioning",
    criteria=("CC6.2", "CC6.3"),
    population_kind="terminations",
    key_column="employee_id",
    date_column="terminated_at",
    item_noun="terminated user",
    item_noun_plural="terminated users",
    item_description="user",
    item_description_plural="users",
    occurred="terminated",
    inspection="Inspected the HR termination record and the user accounts in the source systems for",
    matrix_columns=("name", "email", "terminated_at"),
    description=(
        "Access of terminated personnel is removed from every in-scope system within the window the control "
        "states. Every termination of the window in the HR roster is joined to every account on the user "
        "listings the control names (by employee id, e-mail, user name, or the engagement's mapping table) "
        "and tested over the full population: accounts deactivated within the window, none still active, none "
        "used after the termination date; the other direction, every active account belongs to someone on "
        "the HR roster who is still employed (an account without an HR record is a finding on the population "
        "the control relies on). The sampled terminations are agreed to the HR system and the systems' logs."
    ),
    policy=(
        PolicyParameter(
            "window_business_days",
            "Business days after the termination date by which access must be removed (0: the same day).",
            5, unit="business days"),
        PolicyParameter(
            "match_user_name_to_email",
            "Join an account whose user name has no @ (an AWS IAM user first.last) to the person whose work "
            "e-mail has that local part, when exactly one person does.", True, kind="bool"),
        PolicyParameter(
            "identity_map",
            "The mapping table for accounts no key joins: 'account = person' pairs (the person's work e-mail "
            "or employee id, or none for an account of no person), separated by ';'.", "", kind="text"),
        PolicyParameter(
            "non_person_accounts",
            "Accounts that belong to no person (service accounts), by name or fnmatch pattern (svc-*), "
            "separated by ',' or ';'; the AWS root account always is one.", "", kind="text"),
    ),
    attributes=(
        Attribute(
            id="removed_within_window",
            label="Removed within the window",
            description="Every deactivated account of the terminated user was deactivated within the policy "
                        "window (window_business_days) of the HR termination date.",
            kind=AUTOMATED,
            pass_criterion="For each account of the person that is no longer active and whose listing records "
                           "deactivation times, busday_count(termination date, local deactivation date) <= "
                           "window_business_days; a deactivated account without a time on such a listing fails. "
                           "Not applicable when the person has no deactivated account. Type 1 and Type 2 alike, "
                           "over the terminations of the window tested.",
            deviation_wording="access was not removed within the window the control allows after the "
                              "termination date",
            objective="access was removed within the window the control allows after the termination date",
            population_wording="with access removed after the window",
            census_test="the deactivation time of each account matched to the user on the user listings with "
                        "the HR termination date",
            columns=("employee_id", "terminated_at"),
            check=_removed_within_window,
        ),
        Attribute(
            id="no_active_account",
            label="No active account",
            description="No account of the terminated user is still active on the user listings.",
            kind=AUTOMATED,
            pass_criterion="Every account matched to the person is inactive on its listing (an account with no "
                           "status fails). Not applicable when no account matched. An account still active on a "
                           "listing whose latest event falls within the window after the termination fails with a "
                           "note: the removal may not have been due when the listing was taken.",
            deviation_wording="an account remained active after the termination",
            objective="no account remained active after the termination",
            population_wording="with an account still active",
            census_test="the status of every account matched to the user on the user listings",
            columns=("employee_id", "terminated_at"),
            check=_no_active_account,
        ),
        Attribute(
            id="no_sign_in_after_term",
            label="No use after termination",
            description="No account of the terminated user was signed in to or used after the termination date.",
            kind=AUTOMATED,
            pass_criterion="For each account matched to the person, the local date of its last sign-in or use "
                           "(last_login_at) is not after the termination date; an account never used passes. Not "
                           "applicable when no account matched.",
            deviation_wording="an account was used after the termination date",
            objective="no account was used after the termination date",
            population_wording="with an account used after termination",
            census_test="the last sign-in of every account matched to the user with the termination date",
            columns=("employee_id", "terminated_at"),
            check=_no_sign_in_after_termination,
        ),
        Attribute(
            id="account_has_current_owner",
            label="Active account has a current owner",
            description="Every active account on the user listings belongs to a person on the HR roster who is "
                        "still employed or whose termination this control tests (the other direction of the "
                        "reconciliation: an account without an HR record escapes the control).",
            kind=AUTOMATED,
            pass_criterion="The active account joins a person on the HR roster (employee id, e-mail, user name, "
                           "mapping table) who was not terminated before the window. Not applicable to inactive "
                           "accounts and to accounts of no person (root, non_person_accounts).",
            deviation_wording="the active account did not belong to a current worker on the HR roster",
            objective="every active account belonged to a current worker on the HR roster",
            population_wording="active without a current owner on the HR roster",
            census_test="each active account on the user listings with the HR roster (employee id, e-mail or user "
                        "name)",
            over="users",
            over_noun="accounts on the user listings",
            columns=("user_id",),
            check=_account_has_current_owner,
        ),
        Attribute(
            id="agreed_to_source",
            label="Agreed to source",
            description="The terminated user's HR record (termination date) and their accounts' status, "
                        "deactivation time and last use in the source systems agree with the exported values the "
                        "full-population analysis used.",
            kind=MANUAL,
            role=ACCURACY,
            pass_criterion="The tester inspected the HR system's termination record and each system's account "
                           "record or log (Okta system log, AWS CloudTrail) and every exported value agrees; any "
                           "difference is a fail, with what differs in the comment.",
            deviation_wording="the exported termination or account data did not agree with the source systems",
            objective="the exported termination and account data agreed with the HR system and the systems' logs",
        ),
    ),
)
