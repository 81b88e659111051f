"""Vendor management (CC9.2): critical and high-risk vendors reviewed within the year, their assurance reports
obtained and covering the period (or a bridge letter), their CUECs considered; a DPA with every vendor that
has access to customer data.

Population: ``vendors`` (the vendor register, a listing as of a date, taken whole: canonical columns vendor_id,
name, risk_tier, customer_data_access, report_type, report_period_start, report_period_end, bridge_letter,
last_review_at, dpa, ...). Every vendor of the register is tested; the review and report attributes apply to the
tiers the policy names (``review_tiers``), the DPA attribute to every vendor with access to customer data.

Attributes (workflow.md §1.12 and §2.4 "Vendors", after the Chiaro public library VND-01 and VND-02):

============================ ========= ==============================================================
id                           kind      passes when
============================ ========= ==============================================================
reviewed_within_year         automated (review tiers) last_review_at on or before the end of the window
                                       and no more than ``review_days`` before it
report_covers_period         automated (review tiers) an assurance report is on file whose period ends on
                                       or after the end of the window, or a bridge letter covers the gap
dpa_in_place                 automated (customer data access = yes) the contract has a DPA
report_reviewed              manual    (review tiers) the report's opinion, exceptions and CUECs were
                                       considered and the CUECs mapped to the company's controls
agreed_to_source             manual    (accuracy) the register agrees with the review memo, the report,
                                       the bridge letter and the contract
============================ ========= ==============================================================

Yes/no columns read ``Y``, ``yes``, ``true``, ``1`` (case-insensitive) as yes, anything else as no. The end
of the window is the period end (Type 2) or the as-of date (Type 1): the register is a listing, so a Type 1
and a Type 2 test the same vendors against their own date.
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

__all__ = ["PROCEDURE", "in_review_tiers", "yes"]

YES_VALUES: frozenset[str] = frozenset({"y", "yes", "true", "1", "x"})


def yes(values: pd.Series) -> pd.Series:
    """Boolean: the flag reads yes (``Y``, ``yes``, ``true``, ``1``, ``x``)."""
    return normalised_text(values, casefold=True).isin(YES_VALUES).fillna(False).astype(bool)


def in_review_tiers(frame: pd.DataFrame, context: CheckContext) -> pd.Series:
    """Boolean: the vendor's risk tier is one the policy's ``review_tiers`` names (comma-separated)."""
    tiers = {t.strip().lower() for t in context.text("review_tiers").split(",") if t.strip()}
    return normalised_text(frame["risk_tier"], casefold=True).isin(tiers).fillna(False).astype(bool)


def _window_last_day(context: CheckContext) -> np.datetime64 | None:
    """The last day of the window (the period end or the as-of date), local."""
    if context.window_end is None:
        return None
    end: np.datetime64 = local_days(pd.Series([context.window_end]), context.timezone)[0]
    return end - np.timedelta64(1, "D")


def _text_days(days: np.ndarray) -> np.ndarray:
    return np.where(np.isnat(days), "", np.datetime_as_string(days, unit="D"))


def _tier_not_applicable(frame: pd.DataFrame, context: CheckContext) -> tuple[pd.Series, pd.Series]:
    applies = in_review_tiers(frame, context)
    tier = frame["risk_tier"].astype(object).where(frame["risk_tier"].notna(), "no")
    na_reason = (tier.astype(str) + " risk tier: outside the review tiers (" + context.text("review_tiers") + ")")
    return ~applies, na_reason


def _reviewed_within_year(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    not_applicable, na_reason = _tier_not_applicable(frame, context)
    last = _window_last_day(context)
    limit = context.integer("review_days")
    reviewed = local_days(frame["last_review_at"], context.timezone)
    missing = np.isnat(reviewed)
    reason = np.full(len(frame), "", dtype=object)
    reason[missing] = "no review date recorded"
    fail = missing.copy()
    if last is not None:
        age = (last - reviewed) / np.timedelta64(1, "D")
        stale = ~missing & (age > limit)
        later = ~missing & (age < 0)
        text = _text_days(reviewed)
        reason[stale] = np.char.add(np.char.add("last review ", text[stale].astype(str)),
                                    f", more than {limit} days before {_text_days(np.array([last]))[0]}")
        reason[later] = np.char.add(np.char.add("last review ", text[later].astype(str)),
                                    " is after the end of the window: no review within it is recorded")
        fail |= stale | later
    return outcome_frame(frame.index, fail=pd.Series(fail, index=frame.index),
                         fail_reason=pd.Series(reason, index=frame.index), not_applicable=not_applicable,
                         na_reason=na_reason)


def _report_covers_period(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    not_applicable, na_reason = _tier_not_applicable(frame, context)
    last = _window_last_day(context)
    report = normalised_text(frame["report_type"]).fillna("")
    no_report = (report == "") | report.str.lower().isin({"none", "n/a", "na", "no"})
    ends = local_days(frame["report_period_end"], context.timezone)
    no_end = np.isnat(ends) & ~no_report.to_numpy()
    bridge = yes(frame["bridge_letter"]).to_numpy()
    reason = np.full(len(frame), "", dtype=object)
    reason[no_report.to_numpy()] = "no assurance report on file"
    reason[no_end] = "the report's period is not recorded"
    fail = no_report.to_numpy() | no_end
    if last is not None:
        short = ~fail & (ends < last) & ~bridge
        text = _text_days(ends)
        reason[short] = [f"{kind} period ends {end}, before {_text_days(np.array([last]))[0]}, and no bridge letter"
                         for kind, end in zip(report.to_numpy()[short], text[short])]
        fail |= short
    return outcome_frame(frame.index, fail=pd.Series(fail, index=frame.index),
                         fail_reason=pd.Series(reason, index=frame.index), not_applicable=not_applicable,
                         na_reason=na_reason)


def _dpa_in_place(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    access_text = normalised_text(frame["customer_data_access"]).fillna("")
    unknown = access_text == ""
    access = yes(frame["customer_data_access"])
    not_applicable = ~access & ~unknown
    no_dpa = access & ~yes(frame["dpa"])
    reason = pd.Series("", index=frame.index, dtype=object)
    reason[no_dpa.to_numpy()] = "access to customer data, and no DPA in the contract"
    reason[unknown.to_numpy()] = "customer data access not recorded in the register"
    return outcome_frame(frame.index, fail=no_dpa | unknown, fail_reason=reason, not_applicable=not_applicable,
                         na_reason="no access to customer data")


PROCEDURE = Procedure(
    name="vendor_management",
    sample_per_record=True,    # a periodic control acting on every record: sized over the records
    title="Vendor management",
    criteria=("CC9.2",),
    population_kind="vendors",
    key_column="vendor_id",
    date_column="",
    item_noun="vendor",
    item_noun_plural="vendors",
    item_description="vendor",
    item_description_plural="vendors",
    occurred="listed in the vendor register",
    inspection="Inspected the vendor review file (review memo, assurance report, bridge letter, contract) for",
    matrix_columns=("name", "risk_tier", "last_review_at", "report_period_end", "bridge_letter",
                    "customer_data_access", "dpa"),
    description=(
        "Vendors are tiered by risk; critical and high-risk vendors are reviewed at least annually, their SOC "
        "reports (or bridge letters) cover the period and are reviewed, including the complementary user entity "
        "controls they list; vendors with access to customer data have a data processing agreement. The review "
        "date, report coverage and DPA are recomputed for every vendor of the register; the sampled vendors' "
        "review files are inspected."
    ),
    policy=(
        PolicyParameter("review_tiers", "Risk tiers (comma-separated) whose vendors are reviewed annually and must "
                        "have an assurance report covering the period.", "critical, high", kind="text"),
        PolicyParameter("review_days", "Days a vendor review stays current: the last review is at most this many "
                        "days before the end of the period (the as-of date for a Type 1).", 365, minimum=1,
                        unit="days"),
    ),
    attributes=(
        Attribute(
            id="reviewed_within_year",
            label="Reviewed within the year",
            description="The vendor was reviewed within the year before the end of the period.",
            kind=AUTOMATED,
            pass_criterion="For a vendor in the review tiers: last_review_at is recorded, not after the end of "
                           "the window and no more than review_days before it. Not applicable to other tiers.",
            deviation_wording="the vendor was not reviewed within the year",
            objective="critical and high-risk vendors were reviewed within the year",
            population_wording="not reviewed within the year",
            census_test="the last review date of each vendor in the review tiers with the end of the period",
            columns=("risk_tier", "last_review_at"),
            check=_reviewed_within_year,
        ),
        Attribute(
            id="report_covers_period",
            label="Report covers the period",
            description="An assurance report (SOC 1 or SOC 2) of the vendor is on file and its period reaches the "
                        "end of the period, or a bridge letter covers the gap.",
            kind=AUTOMATED,
            pass_criterion="For a vendor in the review tiers: a report is on file (report_type not blank or "
                           "\"None\") and report_period_end is on or after the end of the window, or "
                           "bridge_letter is yes. Not applicable to other tiers.",
            deviation_wording="the vendor's assurance report did not cover the period and no bridge letter was "
                              "obtained",
            objective="their assurance reports covered the period or a bridge letter covered the gap",
            population_wording="without a report or bridge letter covering the period",
            census_test="the assurance report period (or bridge letter) of each vendor in the review tiers with the "
                        "period",
            columns=("risk_tier", "report_type", "report_period_end", "bridge_letter"),
            check=_report_covers_period,
        ),
        Attribute(
            id="dpa_in_place",
            label="DPA in place",
            description="A vendor with access to customer data has a data processing agreement in its contract.",
            kind=AUTOMATED,
            pass_criterion="Where customer_data_access is yes, dpa is yes. Not applicable when the vendor has no "
                           "access to customer data; a blank customer_data_access fails (the register must say).",
            deviation_wording="the vendor had access to customer data without a data processing agreement",
            objective="vendors with access to customer data had a data processing agreement",
            population_wording="with access to customer data and no DPA",
            census_test="the customer data access of each vendor with its contract's DPA",
            columns=("customer_data_access", "dpa"),
            check=_dpa_in_place,
        ),
        Attribute(
            id="report_reviewed",
            label="Report reviewed, CUECs considered",
            description="The review of the vendor's assurance report is documented: the opinion, the exceptions "
                        "and the subservice organizations were considered, and the complementary user entity "
                        "controls (CUECs) the report lists were mapped to the company's own controls.",
            kind=MANUAL,
            pass_criterion="For a vendor in the review tiers, the tester inspected the review memo and recorded a "
                           "pass when it addresses the opinion, the exceptions and every CUEC; other tiers are "
                           "recorded as not applicable.",
            deviation_wording="the review of the vendor's assurance report and its CUECs was not documented",
            objective="the assurance reports were reviewed and their complementary user entity controls "
                      "considered",
        ),
        Attribute(
            id="agreed_to_source",
            label="Agreed to source",
            description="The register's values for the vendor (risk tier, last review date, report period, bridge "
                        "letter, customer data access, DPA) agree with the review memo, the report, the bridge "
                        "letter and the contract.",
            kind=MANUAL,
            role=ACCURACY,
            pass_criterion="The tester inspected the source documents and every register value agrees; any "
                           "difference is a fail, with what differs in the comment.",
            deviation_wording="the vendor register did not agree with the vendor's review file",
            objective="the vendor register agreed with the review memo, the report and the contract",
        ),
    ),
)
