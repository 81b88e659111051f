"""Privileged access (CC6.1, CC6.3): privileged accounts reviewed, MFA enforced, the root account locked away, keys
rotated.

Population tested: a listing of privileged accounts (kind ``users``, key ``user_id``), taken whole as of its
date: the AWS IAM credential report in the demo (every IAM user of the production account is privileged; a
listing that mixes privileged and ordinary accounts is narrowed with the control matrix's record filter, e.g.
``user_type = admin``). The credential report's own columns are canonical ``users`` columns:
``password_enabled`` (console sign-in), ``mfa_enabled`` (``mfa_active``), ``access_key_1_active`` /
``access_key_1_last_rotated`` and the same for key 2; ``last_login_at`` is the latest use of the password or a
key; ``user_type`` is ``root`` for ``<root_account>``.

Attributes (workflow.md §2.2, privileged access; Chiaro IAM-07; CIS AWS Foundations 1.4-1.6, 1.10, 1.14):

======================= ========= ===========================================================================
id                      kind      passes when
======================= ========= ===========================================================================
mfa_enforced            automated every active account that signs in interactively (a console password, or the
                                  root account; an account of a listing without password data is taken to sign
                                  in interactively) has MFA enabled
root_account_secured    automated the root account has MFA, no active access key and no use from the start of
                                  the window on (n/a for every other account)
access_keys_rotated     automated every active access key was rotated no more than ``key_max_age_days`` days
                                  before the end of the window
access_reviewed         manual    the account was on the periodic access review of every period of the window
                                  in which it existed, with a decision by someone other than its holder
access_authorized       manual    the privileged access is authorized: the holder's role needs it (the control
                                  restricts it to SRE and platform engineers) or an approval is documented
agreed_to_source        manual    (accuracy) the account's MFA, password, keys and last use in the system (IAM
                                  console, a credential report the tester generated) agree with the export
======================= ========= ===========================================================================

A listing is a point-in-time state: a key older than the policy earlier in the period and rotated since, or a
root use followed by a later one, cannot be seen in it. The root account's *last* use is what the credential
report keeps: a last use after the window means a use during it cannot be excluded (a fail, to be cleared from
CloudTrail). Type 1 and Type 2 read the same: the window is the period, or the 90-day look-back of a Type 1; the
end of the window is the period end or the as-of date.
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

__all__ = ["PROCEDURE", "is_root"]


def _flag(frame: pd.DataFrame, column: str) -> pd.Series:
    """A nullable boolean column (all missing when the listing does not carry it)."""
    if column not in frame.columns:
        return pd.Series(pd.NA, index=frame.index, dtype="boolean")
    return frame[column].astype("boolean")


def _timestamps(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")
    return frame[column]


def is_root(frame: pd.DataFrame) -> pd.Series:
    """Boolean mask of the root account rows: user type ``root`` or the credential report's ``<root_account>``."""
    user_type = normalised_text(frame["user_type"], casefold=True) if "user_type" in frame.columns else \
        pd.Series(pd.NA, index=frame.index, dtype="str")
    user_id = normalised_text(frame["user_id"], casefold=True) if "user_id" in frame.columns else \
        pd.Series(pd.NA, index=frame.index, dtype="str")
    return (user_type.eq("root").fillna(False) | user_id.eq("<root_account>").fillna(False)).astype(bool)


def _mfa_enforced(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    root = is_root(frame).to_numpy()
    active = _flag(frame, "active")
    password = _flag(frame, "password_enabled")
    mfa = _flag(frame, "mfa_enabled")
    inactive = active.eq(False).fillna(False).to_numpy(dtype=bool)
    interactive = password.fillna(True).to_numpy(dtype=bool) | root   # no password data: signs in interactively
    applies = ~inactive & interactive
    missing = applies & mfa.isna().to_numpy()
    off = applies & mfa.eq(False).fillna(False).to_numpy(dtype=bool)
    reason = np.where(missing, "no MFA status recorded for an account that signs in interactively",
                      np.where(root, "root account without MFA", "console password enabled without MFA"))
    na_reason = np.where(inactive, "not active", "no console password (API access only)")
    return outcome_frame(frame.index, fail=pd.Series(missing | off, index=frame.index),
                         fail_reason=pd.Series(reason, index=frame.index),
                         not_applicable=pd.Series(~applies, index=frame.index),
                         na_reason=pd.Series(na_reason, index=frame.index))


def _root_account_secured(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    root = is_root(frame).to_numpy()
    reasons = pd.Series("", index=frame.index, dtype=object)

    def add(mask: np.ndarray, text: pd.Series | str) -> None:
        nonlocal reasons
        if not mask.any():
            return
        value = text if isinstance(text, pd.Series) else pd.Series(text, index=frame.index, dtype=object)
        joined = reasons.where(reasons == "", reasons + "; ") + value
        reasons = reasons.where(~pd.Series(mask, index=frame.index), joined)

    mfa = _flag(frame, "mfa_enabled")
    add(root & ~mfa.eq(True).fillna(False).to_numpy(dtype=bool), "no MFA on the root account")
    for slot in (1, 2):
        key = _flag(frame, f"access_key_{slot}_active").fillna(False).to_numpy(dtype=bool)
        add(root & key, f"root access key {slot} is active")
    used = _timestamps(frame, "last_login_at")
    start, end = context.window_start, context.window_end
    if start is not None:
        after_start = (used >= start).fillna(False).to_numpy(dtype=bool)
        after_end = (used >= end).fillna(False).to_numpy(dtype=bool) if end is not None else \
            np.zeros(len(frame), dtype=bool)
        when = format_timestamps(used)
        add(root & after_start & ~after_end, "root account used " + when + " during the window")
        add(root & after_end, "root account last used " + when + ", after the window: a use during the "
                                                              "window cannot be excluded from the listing")
    failed = (reasons != "").to_numpy()
    return outcome_frame(frame.index, fail=pd.Series(failed, index=frame.index), fail_reason=reasons,
                         not_applicable=pd.Series(~root, index=frame.index), na_reason="not the root account")


def _reference_day(frame: pd.DataFrame, context: CheckContext) -> np.datetime64 | None:
    """The last day of the window (local), else the listing's latest recorded day."""
    if context.window_end is not None:
        last = pd.Series([context.window_end - pd.Timedelta(microseconds=1)])
        return np.datetime64(local_days(last, context.timezone)[0], "D")
    stamps = [frame[c] for c in ("created_at", "last_login_at", "disabled_at", "access_key_1_last_rotated",
                                 "access_key_2_last_rotated") if c in frame.columns and frame[c].notna().any()]
    if not stamps:
        return None
    latest = max(s.max() for s in stamps)
    return np.datetime64(local_days(pd.Series([latest]), context.timezone)[0], "D")


def _access_keys_rotated(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    limit = context.integer("key_max_age_days")
    reference = _reference_day(frame, context)
    reasons = pd.Series("", index=frame.index, dtype=object)
    any_key = np.zeros(len(frame), dtype=bool)
    for slot in (1, 2):
        key = _flag(frame, f"access_key_{slot}_active").fillna(False).to_numpy(dtype=bool)
        any_key |= key
        rotated = _timestamps(frame, f"access_key_{slot}_last_rotated")
        days = local_days(rotated, context.timezone)
        missing = key & np.isnat(days)
        age = np.zeros(len(frame), dtype=np.int64)
        if reference is not None:
            valid = ~np.isnat(days)
            age[valid] = (reference - days[valid]).astype("timedelta64[D]").astype(np.int64)
        old = key & ~missing & (age > limit)
        text = pd.Series("", index=frame.index, dtype=object)
        text[missing] = f"access key {slot} active with no rotation date recorded"
        if old.any():
            text[old] = (f"access key {slot} active, last rotated " + format_timestamps(rotated[old]).str.slice(0, 10)
                         + ": " + pd.Series(age[old], index=frame.index[old]).astype(str)
                         + f" days before {str(reference)} (policy {limit} days)").to_numpy()
        bad = missing | old
        reasons = reasons.where(~bad, reasons.where(reasons == "", reasons + "; ") + text)
    failed = (reasons != "").to_numpy()
    return outcome_frame(frame.index, fail=pd.Series(failed, index=frame.index), fail_reason=reasons,
                         not_applicable=pd.Series(~any_key, index=frame.index), na_reason="no active access key")


PROCEDURE = Procedure(
    name="privileged_access",
    sample_per_record=True,    # a periodic control acting on every record: sized over the records
    title="Privileged access",
    criteria=("CC6.1", "CC6.3"),
    population_kind="users",
    key_column="user_id",
    date_column="",          # a listing as of a date, taken whole
    item_noun="account",
    item_noun_plural="accounts",
    item_description="privileged account",
    item_description_plural="privileged accounts",
    occurred="holding access",
    inspection="Inspected the access approval, the periodic access reviews and the account's record in the system "
               "for",
    matrix_columns=("user_type", "password_enabled", "mfa_enabled", "access_key_1_active",
                    "access_key_1_last_rotated", "access_key_2_active", "access_key_2_last_rotated", "last_login_at"),
    description=(
        "Privileged access is restricted, reviewed periodically and protected by multi-factor authentication; the "
        "root account is not used and API access keys are rotated. MFA, the root account and key rotation are "
        "recomputed from the listing of privileged accounts for every account; the sampled accounts are traced "
        "to their approval and to the access reviews of the period, and their data agreed to the system."
    ),
    policy=(
        PolicyParameter(
            "key_max_age_days",
            "Days an active API access key may go without rotation, counted to the end of the window.", 90,
            minimum=1, unit="days"),
    ),
    attributes=(
        Attribute(
            id="mfa_enforced",
            label="MFA enforced",
            description="Every active account that signs in interactively (console password, or the root account) "
                        "has multi-factor authentication enabled.",
            kind=AUTOMATED,
            pass_criterion="mfa_enabled is true for every active account with password_enabled true (or unknown: a "
                           "listing without password data) and for the root account; a missing MFA status fails. "
                           "Not applicable to inactive accounts and to accounts without a console password (API "
                           "access only). Type 1: as of the listing; Type 2: the state at the listing date.",
            deviation_wording="multi-factor authentication was not enabled for interactive sign-in",
            objective="multi-factor authentication was enabled for interactive sign-in",
            population_wording="without MFA for interactive sign-in",
            census_test="the MFA status of every account that signs in interactively",
            columns=("user_id",),
            check=_mfa_enforced,
        ),
        Attribute(
            id="root_account_secured",
            label="Root account secured",
            description="The root account has MFA enabled, no active access key, and was not used during the window.",
            kind=AUTOMATED,
            pass_criterion="For the root account (user_type root): mfa_enabled true, no access key active, and its "
                           "last use (last_login_at) before the start of the window (the period, or the Type 1 "
                           "look-back). A last use after the window fails too (a use during it cannot be excluded). "
                           "Not applicable to every other account.",
            deviation_wording="the root account was used, lacked MFA or held an active access key",
            objective="the root account was not used, had MFA enabled and held no active access key",
            population_wording="root account used, without MFA or with an active key",
            census_test="the root account's MFA status, access keys and last use with the window",
            columns=("user_id",),
            check=_root_account_secured,
        ),
        Attribute(
            id="access_keys_rotated",
            label="Access keys rotated",
            description="Every active API access key was rotated within the policy (key_max_age_days) before the end "
                        "of the window.",
            kind=AUTOMATED,
            pass_criterion="For each active access key, (last day of the window - local date of last rotation) <= "
                           "key_max_age_days; an active key without a rotation date fails. Not applicable to "
                           "accounts without an active key.",
            deviation_wording="an active access key was older than the rotation policy allows",
            objective="every active access key was rotated within the policy",
            population_wording="with an active key older than the policy",
            census_test="the last rotation of every active access key with the rotation policy",
            columns=("user_id",),
            check=_access_keys_rotated,
        ),
        Attribute(
            id="access_reviewed",
            label="Access reviewed",
            description="The account was included in the periodic access review of each period of the window in "
                        "which it existed (quarterly in the demo), with a keep or remove decision by someone other "
                        "than its holder.",
            kind=MANUAL,
            pass_criterion="The tester traced the account to the review workbooks of the periods in which it existed "
                           "and found a decision by someone other than the holder in each (Type 1: the latest "
                           "review before the as-of date).",
            deviation_wording="the account was not included in the periodic access review",
            objective="the account was included in the periodic access review of each period",
        ),
        Attribute(
            id="access_authorized",
            label="Access authorized",
            description="The privileged access is authorized: the holder's role needs it (the control restricts it to "
                        "SRE and platform engineers) or a documented approval with a business need exists; a "
                        "service account has an owner and a documented purpose.",
            kind=MANUAL,
            pass_criterion="The tester inspected the holder's role (HR title) or the approved access request and "
                           "found the access authorized.",
            deviation_wording="the privileged access was not authorized",
            objective="the privileged access was authorized",
        ),
        Attribute(
            id="agreed_to_source",
            label="Agreed to source",
            description="The account's MFA, console password, access keys (status and rotation) and last use in the "
                        "system agree with the exported listing the full-population analysis used.",
            kind=MANUAL,
            role=ACCURACY,
            pass_criterion="The tester inspected the account in the system (console, or a credential report the "
                           "tester generated) and every exported value agrees; any difference is a fail, with what "
                           "differs in the comment.",
            deviation_wording="the exported account data did not agree with the system",
            objective="the exported account data agreed with the system",
        ),
    ),
)
