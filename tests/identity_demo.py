"""The identity and access controls of the demo (AC-02, AC-03, AC-04), expected from the raw files.

Each ``expected_*`` function reads the client files with the csv module and openpyxl only (never the workbench
loaders) and applies sample_data/README.md's rules, returning attribute id -> the exception keys the control
must report. ``found`` reads the same from a tested control, for comparison.
"""

from __future__ import annotations

import csv
import io
import tomllib
from datetime import date, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import openpyxl

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
NY = ZoneInfo("America/New_York")
DOMAIN = "@acmecloud.example"
OKTA_ACTIVE = {"ACTIVE", "PASSWORD_EXPIRED", "LOCKED_OUT", "RECOVERY"}
MISSING = {"", "N/A", "no_information", "not_supported"}


def engagement(eng: str) -> dict:
    return tomllib.loads((SAMPLE / eng / "engagement.toml").read_text(encoding="utf-8"))


def window(eng: str) -> tuple[date, date]:
    """First and last day tested: the period, or the 90 days up to the as-of date."""
    e = engagement(eng)["engagement"]
    if "as_of" in e:
        return e["as_of"] - timedelta(days=89), e["as_of"]
    return e["period_start"], e["period_end"]


def path(eng: str, pid: str) -> Path:
    return SAMPLE / eng / engagement(eng)["populations"][pid]["file"]


def records(file: Path) -> list[dict[str, str]]:
    text = file.read_bytes().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def sheet(file: Path, name: str) -> list[dict[str, object]]:
    ws = openpyxl.load_workbook(file, read_only=True)[name]
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def local_day(text: str) -> date | None:
    """An ISO UTC time (``Z``) as the New York calendar day; None for the report's sentinels."""
    if text in MISSING:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(NY).date()


def busdays(start: date, end: date) -> int:
    return int(np.busday_count(np.datetime64(start), np.datetime64(end)))


# ------------------------------------------------------------------------------------------ AC-02
def expected_ac02(eng: str, window_days: int = 5) -> dict[str, set[str]]:
    first, last = window(eng)
    policy = engagement(eng).get("policy", {}).get("user_deprovisioning", {})
    services = [p.strip() for p in policy.get("non_person_accounts", "").split(",") if p.strip()]
    hr = records(path(eng, "hr_roster"))
    by_email = {r["Work Email"].lower(): r for r in hr}
    term = {r["Employee ID"]: (None if r["Termination Date"] == "N/A-StillEmployed"
                               else date.fromisoformat(r["Termination Date"])) for r in hr}
    tested = {e for e, d in term.items() if d is not None and first <= d <= last}
    okta = records(path(eng, "okta_users"))
    iam = records(path(eng, "aws_iam_users"))
    out: dict[str, set[str]] = {"removed_within_window": set(), "no_active_account": set(),
                                "no_sign_in_after_term": set(), "account_has_current_owner": set()}

    def owner_check(key: str, person: dict[str, str] | None) -> None:
        if person is None:
            out["account_has_current_owner"].add(key)
            return
        ended = term[person["Employee ID"]]
        if ended is not None and ended < first:
            out["account_has_current_owner"].add(key)

    for u in okta:
        person = by_email.get(u["profile.login"].lower())
        active = u["status"] in OKTA_ACTIVE
        if active:
            owner_check(u["profile.login"], person)
        if person is None or person["Employee ID"] not in tested:
            continue
        emp, ended = person["Employee ID"], term[person["Employee ID"]]
        assert ended is not None
        if active:
            out["no_active_account"].add(emp)
        elif u["status"] == "DEPROVISIONED" and busdays(ended, local_day(u["statusChanged"])) > window_days:
            out["removed_within_window"].add(emp)
        used = local_day(u["lastLogin"])
        if used is not None and used > ended:
            out["no_sign_in_after_term"].add(emp)
    for u in iam:
        if u["user"] == "<root_account>" or any(fnmatchcase(u["user"], s) for s in services):
            continue
        person = by_email.get(u["user"].lower() + DOMAIN)
        active = "true" in (u["password_enabled"], u["access_key_1_active"], u["access_key_2_active"])
        if active:
            owner_check(u["user"], person)
        if person is None or person["Employee ID"] not in tested:
            continue
        emp, ended = person["Employee ID"], term[person["Employee ID"]]
        assert ended is not None
        if active:
            out["no_active_account"].add(emp)
        used = [d for d in (local_day(u[c]) for c in ("password_last_used", "access_key_1_last_used_date",
                                                        "access_key_2_last_used_date")) if d is not None]
        if used and max(used) > ended:
            out["no_sign_in_after_term"].add(emp)
    return {k: v for k, v in out.items() if v}


def terminations_in_window(eng: str) -> int:
    first, last = window(eng)
    return sum(1 for r in records(path(eng, "hr_roster")) if r["Termination Date"] != "N/A-StillEmployed"
               and first <= date.fromisoformat(r["Termination Date"]) <= last)


def listing_accounts(eng: str) -> int:
    return len(records(path(eng, "okta_users"))) + len(records(path(eng, "aws_iam_users")))


# ------------------------------------------------------------------------------------------ AC-03
def reviews_due(eng: str) -> list[dict[str, object]]:
    first, last = window(eng)
    return [r for r in sheet(path(eng, "access_reviews"), "Reviews")
            if first <= r["Due Date"].date() <= last]   # type: ignore[union-attr]


def expected_ac03(eng: str) -> dict[str, set[str]]:
    due = reviews_due(eng)
    ids = {r["Review ID"] for r in due}
    out: dict[str, set[str]] = {"completed_timely": set(), "reviewer_not_own_access": set(),
                                "removal_ticket_recorded": set(), "performed_each_period": set()}
    for r in due:
        if r["Completed"] is None or r["Completed"] > r["Due Date"]:   # type: ignore[operator]
            out["completed_timely"].add(str(r["Review ID"]))
        if (r["Users Removed"] or 0) > 0 and not r["Removal Ticket"]:   # type: ignore[operator]
            out["removal_ticket_recorded"].add(str(r["Review ID"]))
    for item in sheet(path(eng, "access_reviews"), "Review items"):
        if item["Review ID"] in ids and item["User"] == item["Decided By"]:
            out["reviewer_not_own_access"].add(str(item["Review ID"]))
    # every system reviewed in consecutive quarters (labels 2025-Q3)
    by_system: dict[object, list[tuple[int, str]]] = {}
    for r in due:
        year, quarter = str(r["Quarter"]).split("-Q")
        by_system.setdefault(r["System"], []).append((int(year) * 4 + int(quarter), str(r["Review ID"])))
    for quarters in by_system.values():
        quarters.sort()
        for (a, _), (b, review) in zip(quarters, quarters[1:]):
            if b - a > 1:
                out["performed_each_period"].add(review)
    return {k: v for k, v in out.items() if v}


# ------------------------------------------------------------------------------------------ AC-04
def expected_ac04(eng: str, max_age: int = 90) -> dict[str, set[str]]:
    first, last = window(eng)
    out: dict[str, set[str]] = {"mfa_enforced": set(), "root_account_secured": set(), "access_keys_rotated": set()}
    for u in records(path(eng, "aws_iam_users")):
        root = u["user"] == "<root_account>"
        if (u["password_enabled"] == "true" or root) and u["mfa_active"] != "true":
            out["mfa_enforced"].add(u["user"])
        if root:
            used = [d for d in (local_day(u[c]) for c in ("password_last_used", "access_key_1_last_used_date",
                                                            "access_key_2_last_used_date")) if d is not None]
            if any(d >= first for d in used) or u["mfa_active"] != "true" or "true" in (
                    u["access_key_1_active"], u["access_key_2_active"]):
                out["root_account_secured"].add(u["user"])
        for slot in ("1", "2"):
            if u[f"access_key_{slot}_active"] == "true":
                rotated = local_day(u[f"access_key_{slot}_last_rotated"])
                if rotated is None or (last - rotated).days > max_age:
                    out["access_keys_rotated"].add(u["user"])
    return {k: v for k, v in out.items() if v}


# ------------------------------------------------------------------------------------------ the engine's view
def found(test) -> dict[str, set[str]]:
    """Attribute id -> keys of the full-population exceptions of a tested control."""
    out: dict[str, set[str]] = {}
    for row in test.testing.full_population_exceptions.to_dict("records"):
        out.setdefault(str(row["attribute_id"]), set()).add(str(row["item_key"]))
    return out
