"""privileged_access: each attribute on hand-made listings, the policy, and the demo's AC-04 (Type 2 and Type 1)
against the raw IAM credential report."""

from __future__ import annotations

import openpyxl
import pandas as pd
import pytest

from conftest import SAMPLE_DATA, copy_engagement
from identity_demo import expected_ac04, found
from workbench.engagement import load_engagement
from workbench.pipeline import run_control_test
from workbench.procedures import get_procedure
from workbench.procedures.base import CheckContext

TZ = "America/New_York"
PROCEDURE = get_procedure("privileged_access")
START, END = pd.Timestamp("2025-07-01", tz=TZ), pd.Timestamp("2026-07-01", tz=TZ)


def accounts(*rows: dict) -> pd.DataFrame:
    base = {"user_id": None, "user_type": "iam_user", "active": True, "password_enabled": True, "mfa_enabled": True,
            "access_key_1_active": False, "access_key_1_last_rotated": None, "access_key_2_active": False,
            "access_key_2_last_rotated": None, "last_login_at": None}
    frame = pd.DataFrame([{**base, **r} for r in rows])
    for c in ("access_key_1_last_rotated", "access_key_2_last_rotated", "last_login_at"):
        frame[c] = pd.Series([pd.Timestamp(v, tz=TZ) if v else pd.NaT for v in frame[c]],
                             dtype=f"datetime64[us, {TZ}]")
    for c in ("active", "password_enabled", "mfa_enabled", "access_key_1_active", "access_key_2_active"):
        frame[c] = frame[c].astype("boolean")
    return frame


def outcomes(attribute_id: str, frame: pd.DataFrame, *, window: bool = True, **policy) -> dict[str, tuple[str, str]]:
    values = {p.name: p.default for p in PROCEDURE.policy_parameters} | policy
    ctx = CheckContext(policy=values, timezone=TZ, window_start=START if window else None,
                       window_end=END if window else None)
    check = PROCEDURE.attribute(attribute_id).run(frame, ctx)
    return {str(k): (str(o), str(r)) for k, o, r in zip(frame["user_id"], check.outcome, check.reason)}


def test_mfa_enforced():
    frame = accounts({"user_id": "ok"}, {"user_id": "no-mfa", "mfa_enabled": False},
                     {"user_id": "unknown", "mfa_enabled": None},
                     {"user_id": "api-only", "password_enabled": False, "mfa_enabled": False},
                     {"user_id": "gone", "active": False, "mfa_enabled": False},
                     {"user_id": "<root_account>", "user_type": "root", "password_enabled": None, "mfa_enabled": False},
                     {"user_id": "okta-user", "password_enabled": None, "mfa_enabled": False})
    got = outcomes("mfa_enforced", frame)
    assert got["ok"] == ("pass", "")
    assert got["no-mfa"] == ("fail", "console password enabled without MFA")
    assert got["unknown"][0] == "fail" and "no MFA status" in got["unknown"][1]
    assert got["api-only"] == ("n/a", "no console password (API access only)")
    assert got["gone"] == ("n/a", "not active")
    assert got["<root_account>"] == ("fail", "root account without MFA")
    assert got["okta-user"][0] == "fail"          # no password data: taken to sign in interactively


def test_root_account_secured():
    frame = accounts({"user_id": "<root_account>", "user_type": "root", "last_login_at": "2026-02-11 12:40"},
                     {"user_id": "alice"})
    got = outcomes("root_account_secured", frame)
    assert got["<root_account>"] == ("fail", "root account used 2026-02-11 12:40 during the window")
    assert got["alice"] == ("n/a", "not the root account")
    clean = accounts({"user_id": "<root_account>", "user_type": "root", "last_login_at": "2024-05-01"})
    assert outcomes("root_account_secured", clean)["<root_account>"] == ("pass", "")
    bad = accounts({"user_id": "<root_account>", "user_type": "root", "mfa_enabled": False,
                    "access_key_2_active": True, "last_login_at": "2026-07-02 09:00"})
    reason = outcomes("root_account_secured", bad)["<root_account>"][1]
    assert "no MFA on the root account" in reason and "root access key 2 is active" in reason
    assert "after the window: a use during the window cannot be excluded" in reason


def test_access_keys_rotated_and_the_policy():
    frame = accounts({"user_id": "fresh", "access_key_1_active": True, "access_key_1_last_rotated": "2026-05-01"},
                     {"user_id": "stale", "access_key_1_active": True, "access_key_1_last_rotated": "2025-09-20 23:16"},
                     {"user_id": "undated", "access_key_2_active": True},
                     {"user_id": "inactive-key", "access_key_1_last_rotated": "2020-01-01"},
                     {"user_id": "no-key"})
    got = outcomes("access_keys_rotated", frame)
    assert got["fresh"] == ("pass", "")
    assert got["stale"] == ("fail", "access key 1 active, last rotated 2025-09-20: 283 days before 2026-06-30 "
                                    "(policy 90 days)")
    assert got["undated"] == ("fail", "access key 2 active with no rotation date recorded")
    assert got["inactive-key"] == ("n/a", "no active access key") and got["no-key"][0] == "n/a"
    assert outcomes("access_keys_rotated", frame, key_max_age_days=300)["stale"] == ("pass", "")
    # without a window, the listing's latest event is the reference day
    assert outcomes("access_keys_rotated", frame, window=False)["stale"][1].endswith("days before 2026-05-01 "
                                                                                    "(policy 90 days)")


def test_wording_and_manual_attributes():
    a = PROCEDURE.attribute("access_keys_rotated")
    assert f"For 1 of 31 privileged accounts holding access during the period, {a.deviation_wording}." == (
        "For 1 of 31 privileged accounts holding access during the period, an active access key was older than "
        "the rotation policy allows.")
    assert [a.id for a in PROCEDURE.attributes if not a.automated] == [
        "access_reviewed", "access_authorized", "agreed_to_source"]
    assert {p.name: p.default for p in PROCEDURE.policy} == {"key_max_age_days": 90}


# ------------------------------------------------------------------------------------------ the demo
@pytest.fixture(scope="module")
def ac04(demo_type2, demo_type1):
    return {eng: run_control_test(load_engagement(folder), "AC-04")
            for eng, folder in (("acme-type2", demo_type2), ("acme-type1", demo_type1))}


@pytest.mark.parametrize("eng", ["acme-type2", "acme-type1"])
def test_demo_ac04_finds_exactly_the_planted_exceptions(ac04, eng):
    assert found(ac04[eng]) == expected_ac04(eng)
    assert ac04[eng].testing.population_count == 31


def test_demo_ac04_type2_and_type1(ac04):
    assert found(ac04["acme-type2"]) == {"root_account_secured": {"<root_account>"},
                                         "access_keys_rotated": {"quinn.serrano"}}
    text = ac04["acme-type2"].evaluation.result_text
    assert "For 2 of 31 privileged accounts holding access during the period" in text
    assert found(ac04["acme-type1"]) == {"access_keys_rotated": {"quinn.serrano"}}   # the root use predates the window
    assert ac04["acme-type1"].evaluation.result_text == ""


def test_demo_ac04_policy_from_the_engagement(tmp_path):
    folder = copy_engagement(SAMPLE_DATA / "acme-type2", tmp_path / "acme-type2")
    toml = folder / "engagement.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + "\n[policy.privileged_access]\nkey_max_age_days = 365\n",
                    encoding="utf-8")
    test = run_control_test(load_engagement(folder), "AC-04")
    assert found(test) == expected_ac04("acme-type2", max_age=365) == {"root_account_secured": {"<root_account>"}}


def test_demo_ac04_workpaper_lists_the_exceptions(demo_run):
    assert demo_run["rows"]["AC-04"]["status"] != "not_yet_tested"
    wb = openpyxl.load_workbook(demo_run["out"] / "AC-04.xlsx", read_only=True)
    cells = {str(v) for row in wb["Exceptions"].iter_rows(values_only=True) for v in row if v is not None}
    assert {"<root_account>", "quinn.serrano"} <= cells
