"""user_deprovisioning: the join of HR terminations to the user listings, each attribute on hand-made frames, the
policy, and the demo's AC-02 (Type 2 and Type 1) against the raw files."""

from __future__ import annotations

import openpyxl
import pandas as pd
import pytest

from identity_demo import expected_ac02, found, listing_accounts, terminations_in_window
from workbench.engagement import load_engagement
from workbench.errors import EngagementError
from workbench.pipeline import run_control_test
from workbench.procedures import get_procedure
from workbench.procedures.base import CheckContext, RelatedFrame
from workbench.procedures.user_deprovisioning import IdentityRules, identity_rules, match_accounts

from conftest import copy_engagement, SAMPLE_DATA

TZ = "America/New_York"
PROCEDURE = get_procedure("user_deprovisioning")
START, END = pd.Timestamp("2025-07-01", tz=TZ), pd.Timestamp("2026-07-01", tz=TZ)


def t(text: str | None) -> pd.Timestamp:
    return pd.Timestamp(text, tz=TZ) if text else pd.NaT


def roster(*rows: tuple[str, str, str | None]) -> pd.DataFrame:
    """HR records: (employee id, e-mail, termination date or None)."""
    return pd.DataFrame({
        "employee_id": [r[0] for r in rows], "user_id": [r[1] for r in rows], "email": [r[1] for r in rows],
        "name": [r[1].split("@")[0].replace(".", " ").title() for r in rows],
        "terminated_at": pd.Series([t(r[2]) for r in rows], dtype=f"datetime64[us, {TZ}]")})


def listing(system: str, *rows: dict) -> pd.DataFrame:
    columns = {"user_id": None, "email": None, "employee_id": None, "active": None, "status": None,
               "user_type": None, "disabled_at": None, "last_login_at": None, "created_at": None,
               "password_enabled": None, "access_key_1_active": None, "access_key_2_active": None}
    frame = pd.DataFrame([{**columns, **r} for r in rows], columns=list(columns))
    for c in ("disabled_at", "last_login_at", "created_at"):
        frame[c] = pd.Series([t(v) for v in frame[c]], dtype=f"datetime64[us, {TZ}]")
    for c in ("active", "password_enabled", "access_key_1_active", "access_key_2_active"):
        frame[c] = frame[c].astype("boolean")
    frame["system"] = system
    return frame


def context(hr: pd.DataFrame, *listings: pd.DataFrame, **policy) -> tuple[pd.DataFrame, CheckContext]:
    """The tested frame (terminations in the window) and its check context."""
    in_scope = (hr["terminated_at"].notna() & (hr["terminated_at"] >= START) & (hr["terminated_at"] < END)).to_numpy()
    values = {p.name: p.default for p in PROCEDURE.policy_parameters} | policy
    related = tuple(RelatedFrame(f"listing{i}", "users", f, pd.Series(True, index=f.index).to_numpy(), "")
                    for i, f in enumerate(listings))
    ctx = CheckContext(policy=values, related=related, timezone=TZ, window_start=START, window_end=END,
                       population=RelatedFrame("hr", "terminations", hr, in_scope, ""))
    return hr[in_scope], ctx


def outcomes(attribute_id: str, frame: pd.DataFrame, ctx: CheckContext) -> dict[str, tuple[str, str]]:
    check = PROCEDURE.attribute(attribute_id).run(frame, ctx)
    key = "employee_id" if "employee_id" in frame.columns and attribute_id != "account_has_current_owner" \
        else "user_id"
    return {str(k): (str(o), str(r)) for k, o, r in zip(frame[key], check.outcome, check.reason)}


def over(frame: pd.DataFrame, ctx: CheckContext) -> dict[str, tuple[str, str]]:
    """The other direction, as the framework runs it: over every account of the listings."""
    attribute = PROCEDURE.attribute("account_has_current_owner")
    (records, check), = PROCEDURE.run_related_checks(frame, [attribute], ctx).values()
    return {str(k): (str(o), str(r)) for k, o, r in zip(records["user_id"], check.outcome, check.reason)}


HR = roster(("E1", "ann.lee@x.example", "2026-02-25"),      # Wednesday
            ("E2", "bob.ray@x.example", "2025-11-20"),
            ("E3", "cy.dow@x.example", None),
            ("E4", "dee.fox@x.example", "2024-03-01"),       # left before the period
            ("E5", "eve.kim@x.example", "2026-03-02"))


# ------------------------------------------------------------------------------------------ the join
def test_match_accounts_by_email_user_name_employee_id_and_map():
    accounts = listing("x", {"user_id": "ANN.LEE@X.EXAMPLE"}, {"user_id": "bob.ray"}, {"user_id": "zz",
                                                                                      "employee_id": "E3"},
                       {"user_id": "svc-eve"}, {"user_id": "nobody"})
    rules = IdentityRules(identity_map={"svc-eve": "eve.kim@x.example"})
    pairs = match_accounts(accounts, HR, rules)
    assert set(zip(pairs["account"], pairs["person"])) == {(0, 0), (1, 1), (2, 2), (3, 4)}
    no_local = match_accounts(accounts, HR, IdentityRules(local_part=False))
    assert 1 not in set(no_local["account"])


def test_local_part_must_be_unique_on_the_roster():
    hr = roster(("E1", "sam.o@a.example", None), ("E2", "sam.o@b.example", None))
    pairs = match_accounts(listing("x", {"user_id": "sam.o"}), hr, IdentityRules())
    assert pairs.empty


def test_identity_rules_from_policy_and_a_bad_map():
    rules = identity_rules({"identity_map": "jdoe-admin = E3; svc-x = none",
                            "non_person_accounts": "svc-*, ci-deployer", "match_user_name_to_email": False})
    assert rules.identity_map == {"jdoe-admin": "e3", "svc-x": "none"} and not rules.local_part
    assert rules.non_person == ("svc-*", "ci-deployer")
    with pytest.raises(EngagementError, match="identity_map"):
        identity_rules({"identity_map": "just-a-name"})


# ------------------------------------------------------------------------------------------ per person
OKTA = listing("Okta",
               {"user_id": "ann.lee@x.example", "active": False, "status": "DEPROVISIONED",
                "disabled_at": "2026-03-10 10:46", "last_login_at": "2026-02-23 09:00"},       # 9 business days
               {"user_id": "bob.ray@x.example", "active": False, "status": "DEPROVISIONED",
                "disabled_at": "2025-11-21 09:00", "last_login_at": "2025-11-25 08:00"},       # used after
               {"user_id": "eve.kim@x.example", "active": True, "status": "ACTIVE",
                "last_login_at": "2026-03-01 12:00"},
               {"user_id": "cy.dow@x.example", "active": True, "status": "ACTIVE", "last_login_at": "2026-06-30"})


def test_removed_within_window_pass_fail_and_not_applicable():
    frame, ctx = context(HR, OKTA)
    got = outcomes("removed_within_window", frame, ctx)
    assert got["E1"][0] == "fail" and "9 business days after the termination date 2026-02-25" in got["E1"][1]
    assert got["E2"] == ("pass", "")
    assert got["E5"][0] == "n/a"           # only an active account: no_active_account reports it


def test_removed_within_window_follows_the_policy():
    frame, ctx = context(HR, OKTA, window_business_days=10)
    assert outcomes("removed_within_window", frame, ctx)["E1"] == ("pass", "")


def test_a_removal_without_a_time_fails_only_on_a_listing_that_records_times():
    no_time = listing("Okta", {"user_id": "ann.lee@x.example", "active": False, "status": "SUSPENDED"},
                      {"user_id": "bob.ray@x.example", "active": False, "status": "DEPROVISIONED",
                       "disabled_at": "2025-11-21 09:00"})
    frame, ctx = context(HR, no_time)
    got = outcomes("removed_within_window", frame, ctx)
    assert got["E1"][0] == "fail" and "no deactivation time recorded" in got["E1"][1]
    iam = listing("AWS IAM", {"user_id": "ann.lee", "active": False, "password_enabled": False})
    frame, ctx = context(HR, iam)
    assert outcomes("removed_within_window", frame, ctx)["E1"] == ("pass", "")


def test_no_active_account():
    iam = listing("AWS IAM", {"user_id": "ann.lee", "active": True, "password_enabled": True,
                              "access_key_1_active": True, "last_login_at": "2026-02-20"},
                  {"user_id": "bob.ray", "active": None})
    frame, ctx = context(HR, OKTA, iam)
    got = outcomes("no_active_account", frame, ctx)
    assert got["E1"][0] == "fail" and "AWS IAM account ann.lee is still active (password enabled, access key 1 " \
                                      "active)" in got["E1"][1]
    assert got["E2"][0] == "fail" and "no recorded status" in got["E2"][1]
    assert got["E5"][0] == "fail" and "(status ACTIVE)" in got["E5"][1]


def test_no_active_account_not_applicable_without_accounts_and_a_note_near_the_deadline():
    frame, ctx = context(HR, listing("Okta", {"user_id": "cy.dow@x.example", "active": True}))
    assert {k: v[0] for k, v in outcomes("no_active_account", frame, ctx).items()} == {
        "E1": "n/a", "E2": "n/a", "E5": "n/a"}
    # the listing's latest event is 3 business days after the termination: the removal may not have been due
    recent = listing("Okta", {"user_id": "eve.kim@x.example", "active": True, "last_login_at": "2026-03-05 08:00"})
    frame, ctx = context(HR, recent)
    outcome, reason = outcomes("no_active_account", frame, ctx)["E5"]
    assert outcome == "fail" and "latest event (2026-03-05) is within 5 business days" in reason


def test_no_sign_in_after_termination():
    frame, ctx = context(HR, OKTA)
    got = outcomes("no_sign_in_after_term", frame, ctx)
    assert got["E2"][0] == "fail" and "last used 2025-11-25 08:00, after the termination date 2025-11-20" in \
        got["E2"][1]
    assert got["E1"] == ("pass", "") and got["E5"] == ("pass", "")
    frame, ctx = context(HR)
    assert {v[0] for v in outcomes("no_sign_in_after_term", frame, ctx).values()} == {"n/a"}


# ------------------------------------------------------------------------------------------ the other direction
def test_every_active_account_has_a_current_owner():
    accounts = listing("Okta",
                       {"user_id": "cy.dow@x.example", "active": True},                 # employed
                       {"user_id": "eve.kim@x.example", "active": True},                # tested termination
                       {"user_id": "dee.fox@x.example", "active": True},                # left in 2024
                       {"user_id": "pat.ext@x.example", "active": True},                # no HR record
                       {"user_id": "old.one@x.example", "active": False},               # inactive
                       {"user_id": "svc-backup", "active": True},                       # service account
                       {"user_id": "<root_account>", "user_type": "root", "active": True})
    frame, ctx = context(HR, accounts, non_person_accounts="svc-*")
    got = over(frame, ctx)
    assert got["cy.dow@x.example"] == ("pass", "") and got["eve.kim@x.example"] == ("pass", "")
    assert got["dee.fox@x.example"][0] == "fail" and "terminated 2024-03-01, before the window" in \
        got["dee.fox@x.example"][1]
    assert got["pat.ext@x.example"][0] == "fail" and "matches no one on the HR roster" in got["pat.ext@x.example"][1]
    assert got["old.one@x.example"] == ("n/a", "not active")
    assert got["svc-backup"][0] == "n/a" and got["<root_account>"][0] == "n/a"
    frame, ctx = context(HR, accounts)          # no non-person list: the service account has no owner
    assert over(frame, ctx)["svc-backup"][0] == "fail"


def test_wording_reads_in_section_4():
    a = PROCEDURE.attribute("removed_within_window")
    assert f"For 3 of 60 users terminated during the period, {a.deviation_wording}." == (
        "For 3 of 60 users terminated during the period, access was not removed within the window the control "
        "allows after the termination date.")
    assert {p.name: p.default for p in PROCEDURE.policy} == {
        "window_business_days": 5, "match_user_name_to_email": True, "identity_map": "", "non_person_accounts": ""}


# ------------------------------------------------------------------------------------------ the demo
@pytest.fixture(scope="module")
def ac02(demo_type2, demo_type1):
    return {eng: run_control_test(load_engagement(folder), "AC-02")
            for eng, folder in (("acme-type2", demo_type2), ("acme-type1", demo_type1))}


@pytest.mark.parametrize("eng", ["acme-type2", "acme-type1"])
def test_demo_ac02_finds_exactly_the_planted_exceptions(ac02, eng):
    test = ac02[eng]
    assert found(test) == expected_ac02(eng)
    assert test.testing.population_count == terminations_in_window(eng)


def test_demo_ac02_type2_result_text(ac02):
    test = ac02["acme-type2"]
    assert found(test) == {"removed_within_window": {"E10230", "E10308"}, "no_active_account": {"E10076", "E10335"},
                           "account_has_current_owner": {"jordan.blake.ext@acmecloud.example"}}
    assert test.testing.population_count == 60 and listing_accounts("acme-type2") == 525
    text = test.evaluation.result_text
    assert "For 4 of 60 users terminated during the period, a deviation was noted" in text
    assert "For 1 of 525 accounts on the user listings, the active account did not belong to a current worker" in text
    assert not text.startswith("No exceptions noted")
    assert test.evaluation.test_performed.startswith("Compared the deactivation time of each account")
    assert "for all 60 users terminated during the period (full-population analysis)" in test.evaluation.test_performed
    # an account is not a terminated user: each population's share of the distinct items is stated apart
    assert test.evaluation.exception_extent() == ("5: 4 of 60 users terminated during the period; "
                                                  "1 of 525 accounts on the user listings")
    # the other direction is computed over the listings' accounts: the sampled terminations read n/a for it
    assert set(test.testing.to_frame()["account_has_current_owner"]) == {"n/a"}


def test_demo_ac02_type1(ac02):
    test = ac02["acme-type1"]
    assert found(test) == {"no_active_account": {"E10335"},
                           "account_has_current_owner": {"jordan.blake.ext@acmecloud.example", "quinn.serrano"}}
    assert test.testing.population_count == 12
    assert test.evaluation.result_text == ""       # a Type 1 summary holds no test results


def test_demo_ac02_policy_from_the_engagement(tmp_path):
    folder = copy_engagement(SAMPLE_DATA / "acme-type2", tmp_path / "acme-type2")
    toml = folder / "engagement.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + "\n[controls.AC-02.policy]\nwindow_business_days = 10\n",
                    encoding="utf-8")
    test = run_control_test(load_engagement(folder), "AC-02")
    assert "removed_within_window" not in found(test)
    assert found(test) == expected_ac02("acme-type2", window_days=10)
    assert dict(test.policy.to_table())["window_business_days"].startswith("10 business days (engagement.toml")


def test_demo_ac02_workpaper_lists_the_exceptions(demo_run):
    assert demo_run["rows"]["AC-02"]["status"] != "not_yet_tested"
    wb = openpyxl.load_workbook(demo_run["out"] / "AC-02.xlsx", read_only=True)
    cells = {str(v) for row in wb["Exceptions"].iter_rows(values_only=True) for v in row if v is not None}
    assert {"E10230", "E10308", "E10076", "E10335", "jordan.blake.ext@acmecloud.example"} <= cells
    assert ("5: 4 of 60 users terminated during the period; 1 of 525 accounts on the user listings") in cells
