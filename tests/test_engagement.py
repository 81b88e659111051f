"""Tests of workbench.engagement (engagement.toml + control matrix) and workbench.engagement.criteria.

Engagement folders are built in tmp_path: the TOML text is written as a user would, the control matrix as
an .xlsx (openpyxl) or a .csv. Each bad input must give an EngagementError naming the file and the key
(or row and column), the value and the fix.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import pickle
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from workbench.engagement.criteria import (
    CATEGORIES,
    CRITERIA,
    CRITERION_IDS,
    criteria_for,
    get_criterion,
    normalize_criterion_id,
)
from workbench.engagement import (
    DEFAULT_FREQUENCY_TABLE,
    CUEC,
    Control,
    Engagement,
    FrozenMapping,
    PopulationSource,
    SamplingPolicy,
    StaffMember,
    SubserviceOrganization,
    load_engagement,
)
from workbench.errors import EngagementError, InputError

REPO = Path(__file__).resolve().parents[1]

GOOD_TOML = """\
# Demo engagement for the tests
[engagement]
client = "Acme Cloud, Inc."
report_type = "type2"
period_start = 2025-07-01
period_end = 2026-06-30
timezone = "America/New_York"
criteria = ["security", "confidentiality", "availability"]
firm = "Example & Partners LLP"
engagement_id = "ACME-SOC2-T2-FY26"

[sampling]
model = "binomial"
confidence = 0.90
tolerable_rate = 0.10
expected_rate = 0.0
method = "stratified"

[sampling.frequency_table]
annual = 1
quarterly = 2
monthly = 2
weekly = 5
daily = 25
many_times_a_day = 40

[[staff]]
name = "Dana Reyes"
initials = "DR"
role = "preparer"

[[staff]]
name = "Sam Okafor"
initials = "SO"
role = "reviewer"

[[subservice_organizations]]
name = "Amazon Web Services"
services = "Cloud infrastructure hosting"
method = "carve-out"
csocs = ["Physical access to data centers is restricted to authorized personnel."]

[[cuecs]]
id = "CUEC-01"
description = "User entities maintain accurate lists of their authorized users."
criteria = ["CC6.2"]

[populations.changes]
file = "populations/jira_changes_FY26.csv"
kind = "changes"
format = "jira"
stated_count = 1512
system = "Jira Software Cloud"
provided_by = "Priya Shah, Release Manager"
received = 2026-07-08
request = "PBC-07"
query = "project = CHG AND resolved >= 2025-07-01"

[populations.deploys]
file = "populations/deploy_log.csv"
kind = "deployments"

[populations.deploys.columns]
deployment_id = "Deploy ID"
deployed_at = "Finished"
"""

HEADER = ["Control ID", "Description", "Criteria", "Owner", "Frequency", "Nature", "Procedure",
          "Populations", "Attributes", "Key control"]
GOOD_ROWS = [
    ["CM-01", "Production changes are approved before deployment.", "CC8.1", "Release Manager",
     "many_times_a_day", "manual", "change_management", "changes",
     "ticket_before_deployment;approved_before_deployment;approver_not_author", "Yes"],
    ["CM-02", "Changes are tested before deployment.", "CC8.1", "QA Lead", "Many times a day", "Manual",
     "change_management", "changes", "testing_evidenced", "Yes"],
    ["AC-01", "Access is reviewed quarterly.", "CC6.2; CC6.3, C1.1", "", "quarterly", "manual", "", "", "",
     "No"],
]


def write_xlsx(path: Path, rows: list[list], sheet: str = "Controls", extra_sheets: tuple[str, ...] = (),
               title_row: str | None = None) -> None:
    workbook = openpyxl.Workbook()
    worksheet = workbook.active
    worksheet.title = sheet
    if title_row is not None:
        worksheet.append([title_row])
        worksheet.append([])
    for row in rows:
        worksheet.append(row)
    for name in extra_sheets:
        workbook.create_sheet(name).append(["notes"])
    workbook.save(path)


def write_csv(path: Path, rows: list[list]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)


def make_folder(tmp_path: Path, toml: str = GOOD_TOML, rows: list[list] | None = None, *,
                matrix: str = "xlsx", name: str = "acme-type2",
                files: tuple[str, ...] = ("populations/jira_changes_FY26.csv", "populations/deploy_log.csv"),
                **xlsx_options) -> Path:
    folder = tmp_path / name
    folder.mkdir(parents=True)
    (folder / "engagement.toml").write_text(toml, encoding="utf-8")
    rows = [HEADER, *GOOD_ROWS] if rows is None else rows
    if matrix == "xlsx":
        write_xlsx(folder / "controls.xlsx", rows, **xlsx_options)
    elif matrix == "csv":
        write_csv(folder / "controls.csv", rows)
    for file in files:
        target = folder / file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("id\n1\n", encoding="utf-8")
    return folder


def replaced(old: str, new: str, text: str = GOOD_TOML) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def load_error(folder: Path) -> EngagementError:
    with pytest.raises(EngagementError) as info:
        load_engagement(folder)
    return info.value


# ------------------------------------------------------------------------------------------------
# The criteria
# ------------------------------------------------------------------------------------------------
def test_criteria_counts_match_tsp_100():
    assert len(CRITERION_IDS) == 61
    counts = {category: sum(1 for c in CRITERIA.values() if c.category == category) for category in CATEGORIES}
    assert counts == {"security": 33, "availability": 3, "processing_integrity": 5, "confidentiality": 2,
                      "privacy": 18}
    assert CRITERION_IDS[:5] == ("CC1.1", "CC1.2", "CC1.3", "CC1.4", "CC1.5")
    assert [c for c in CRITERION_IDS if c.startswith("CC6")] == [f"CC6.{i}" for i in range(1, 9)]
    assert [c for c in CRITERION_IDS if c.startswith("CC7")] == [f"CC7.{i}" for i in range(1, 6)]
    assert [c for c in CRITERION_IDS if c.startswith("P") and not c.startswith("PI")] == [
        "P1.1", "P2.1", "P3.1", "P3.2", "P4.1", "P4.2", "P4.3", "P5.1", "P5.2",
        "P6.1", "P6.2", "P6.3", "P6.4", "P6.5", "P6.6", "P6.7", "P7.1", "P8.1"]
    assert all(CRITERIA[c].title for c in CRITERION_IDS)


def test_criterion_lookup_and_categories():
    assert normalize_criterion_id(" cc8.1 ") == "CC8.1"
    assert normalize_criterion_id("pi1.5") == "PI1.5"
    assert normalize_criterion_id("CC8.2") is None
    assert normalize_criterion_id("P9.1") is None
    assert get_criterion("a1.2").category == "availability"
    assert get_criterion("C1.1").category == "confidentiality"
    assert get_criterion("PI1.1").category == "processing_integrity"
    assert get_criterion("CC9.2").summary() == "CC9.2 (Security): Vendor and business partner risk management"
    with pytest.raises(KeyError, match="'CC8.2' is not a 2017 Trust Services Criterion"):
        get_criterion("CC8.2")
    assert criteria_for(["availability", "confidentiality"]) == ("A1.1", "A1.2", "A1.3", "C1.1", "C1.2")
    assert len(criteria_for(["security"])) == 33
    with pytest.raises(ValueError, match="'integrity' is not a category"):
        criteria_for(["integrity"])


# ------------------------------------------------------------------------------------------------
# A good engagement
# ------------------------------------------------------------------------------------------------
def test_good_engagement_loads_with_exact_values(tmp_path):
    folder = make_folder(tmp_path)
    engagement = load_engagement(folder)

    assert isinstance(engagement, Engagement)
    assert engagement.folder == folder.resolve()
    assert engagement.client == "Acme Cloud, Inc."
    assert engagement.engagement_id == "ACME-SOC2-T2-FY26"
    assert engagement.report_type == "type2"
    assert engagement.period_start == date(2025, 7, 1)
    assert engagement.period_end == date(2026, 6, 30)
    assert engagement.as_of is None
    assert engagement.timezone == "America/New_York"
    assert engagement.zone.key == "America/New_York"
    assert engagement.criteria == ("security", "availability", "confidentiality")  # TSP 100 order
    assert engagement.firm == "Example & Partners LLP"
    assert engagement.period_label == "2025-07-01 to 2026-06-30"
    assert engagement.report_label == "SOC 2 Type 2"
    assert len(engagement.in_scope_criteria) == 33 + 3 + 2

    assert engagement.sampling == SamplingPolicy(
        model="binomial", confidence=Decimal("0.9"), tolerable_rate=Decimal("0.1"),
        expected_rate=Decimal("0.0"), method="stratified",
        frequency_table=FrozenMapping({"annual": 1, "quarterly": 2, "monthly": 2, "weekly": 5, "daily": 25,
                                       "many_times_a_day": 40}))
    assert isinstance(engagement.sampling.confidence, Decimal)
    assert str(engagement.sampling.confidence) == "0.9"  # Decimal(str(0.90)), not the binary float

    assert engagement.staff == (StaffMember("Dana Reyes", "DR", "preparer"),
                                StaffMember("Sam Okafor", "SO", "reviewer"))
    assert engagement.staff_with_role("reviewer") == (StaffMember("Sam Okafor", "SO", "reviewer"),)
    assert engagement.subservice_organizations == (SubserviceOrganization(
        name="Amazon Web Services", services="Cloud infrastructure hosting", method="carve-out",
        csocs=("Physical access to data centers is restricted to authorized personnel.",)),)
    assert engagement.cuecs == (CUEC("CUEC-01", "User entities maintain accurate lists of their authorized "
                                                "users.", ("CC6.2",)),)

    assert list(engagement.populations) == ["changes", "deploys"]
    changes = engagement.populations["changes"]
    assert changes == PopulationSource(
        id="changes", file="populations/jira_changes_FY26.csv",
        path=folder.resolve() / "populations" / "jira_changes_FY26.csv", kind="changes", format="jira",
        stated_count=1512, system="Jira Software Cloud", provided_by="Priya Shah, Release Manager",
        received=date(2026, 7, 8), request="PBC-07", query="project = CHG AND resolved >= 2025-07-01",
        columns=FrozenMapping())
    deploys = engagement.population("deploys")
    assert (deploys.kind, deploys.format, deploys.stated_count, deploys.received) == ("deployments", "auto",
                                                                                       None, None)
    assert dict(deploys.columns) == {"deployment_id": "Deploy ID", "deployed_at": "Finished"}

    assert [c.id for c in engagement.controls] == ["CM-01", "CM-02", "AC-01"]
    cm01 = engagement.control("CM-01")
    assert cm01 == Control(
        id="CM-01", description="Production changes are approved before deployment.", criteria=("CC8.1",),
        owner="Release Manager", frequency="many_times_a_day", nature="manual", procedure="change_management",
        populations=("changes",),
        attributes=("ticket_before_deployment", "approved_before_deployment", "approver_not_author"),
        row=2, extra=FrozenMapping({"Key control": "Yes"}))
    cm02 = engagement.control("CM-02")
    assert (cm02.frequency, cm02.nature, cm02.attributes, cm02.row) == ("many_times_a_day", "manual",
                                                                         ("testing_evidenced",), 3)
    ac01 = engagement.control("AC-01")
    assert ac01.criteria == ("CC6.2", "CC6.3", "C1.1")
    assert (ac01.owner, ac01.procedure, ac01.populations, ac01.attributes) == (None, None, (), ())

    assert engagement.matrix_file == "controls.xlsx"
    assert re.fullmatch(r"[0-9a-f]{64}", engagement.engagement_sha256)
    assert re.fullmatch(r"[0-9a-f]{64}", engagement.matrix_sha256)
    assert engagement.notes == ("populations not named in any control's populations column: deploys.",
                                'controls without a procedure (read "not yet tested"): AC-01.')


def test_engagement_is_frozen_and_pickles(tmp_path):
    engagement = load_engagement(make_folder(tmp_path))
    with pytest.raises(dataclasses.FrozenInstanceError):
        engagement.client = "Other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        engagement.populations["x"] = None  # type: ignore[index]
    with pytest.raises(TypeError):
        engagement.sampling.frequency_table["daily"] = 60  # type: ignore[index]
    again = pickle.loads(pickle.dumps(engagement))
    assert again == engagement
    assert hash(again) == hash(engagement)


def test_summary_and_tables(tmp_path):
    engagement = load_engagement(make_folder(tmp_path))
    summary = engagement.summary()
    assert summary.splitlines()[0] == ("Engagement ACME-SOC2-T2-FY26: Acme Cloud, Inc., SOC 2 Type 2, "
                                       "2025-07-01 to 2026-06-30 (time zone America/New_York)")
    assert "Criteria in scope: Security, Availability, Confidentiality (38 criteria)" in summary
    assert ("Sampling: binomial model, confidence 90 %, tolerable rate 10 %, expected rate 0 %, stratified "
            "selection") in summary
    assert "  CM-01 [CC8.1] (many_times_a_day, manual; procedure change_management; population changes): " \
           "Production changes are approved before deployment." in summary
    table = dict(engagement.to_table())
    assert table["Period"] == "2025-07-01 to 2026-06-30"
    assert table["Confidence level"] == "90 %"
    assert table["Frequency table (non-statistical sizes)"] == (
        "annual 1, quarterly 2, monthly 2, weekly 5, daily 25, many times a day 40")
    assert dict(engagement.control("AC-01").to_table())["Procedure"] == "none (not yet tested)"
    assert dict(engagement.population("changes").to_table())["Record count stated by the client"] == "1,512"
    frame = engagement.controls_frame()
    assert list(frame["control_id"]) == ["CM-01", "CM-02", "AC-01"]
    assert frame.loc[2, "criteria"] == "CC6.2; CC6.3; C1.1"


def test_csv_matrix_loads_the_same_controls(tmp_path):
    xlsx = load_engagement(make_folder(tmp_path / "a"))
    csv_engagement = load_engagement(make_folder(tmp_path / "b", matrix="csv"))
    assert csv_engagement.matrix_file == "controls.csv"
    assert csv_engagement.controls == xlsx.controls


def test_semicolon_csv_and_title_row_and_single_sheet(tmp_path):
    folder = make_folder(tmp_path / "a", matrix="none")
    text = "\n".join(";".join(f'"{cell}"' for cell in row) for row in [HEADER, *GOOD_ROWS])
    (folder / "controls.csv").write_text(text, encoding="utf-8-sig")
    assert [c.id for c in load_engagement(folder).controls] == ["CM-01", "CM-02", "AC-01"]

    folder = make_folder(tmp_path / "b", sheet="Matrix FY26", title_row="Acme control matrix FY26")
    engagement = load_engagement(folder)
    assert [(c.id, c.row) for c in engagement.controls] == [("CM-01", 4), ("CM-02", 5), ("AC-01", 6)]


def test_type1_engagement_and_defaults(tmp_path):
    toml = replaced("report_type = \"type2\"\nperiod_start = 2025-07-01\nperiod_end = 2026-06-30\n",
                    "report_type = \"type1\"\nas_of = 2026-06-30\n")
    toml = replaced('model = "binomial"\n', "", toml)
    toml = replaced('method = "stratified"\n', "", toml)
    toml = replaced("expected_rate = 0.0\n", "", toml)
    toml = replaced("annual = 1\nquarterly = 2\n", "quarterly = 3\n", toml)
    engagement = load_engagement(make_folder(tmp_path, toml))
    assert (engagement.report_type, engagement.as_of, engagement.period_start, engagement.period_end) == (
        "type1", date(2026, 6, 30), None, None)
    assert engagement.period_label == "as of 2026-06-30"
    assert engagement.sampling.model == "binomial"
    assert engagement.sampling.method == "random"
    assert engagement.sampling.expected_rate == Decimal(0)
    assert dict(engagement.sampling.frequency_table) == {"annual": 1, "quarterly": 3, "monthly": 2,
                                                         "weekly": 5, "daily": 25, "many_times_a_day": 40}
    assert engagement.notes == (
        "[sampling] model not given: binomial (the default).",
        "[sampling] method not given: random (the default for a type1 report).",
        "[sampling.frequency_table] sizes not given, from the default table: annual 1.",
        "populations not named in any control's populations column: deploys.",
        'controls without a procedure (read "not yet tested"): AC-01.',
    )


def test_minimal_engagement(tmp_path):
    toml = """\
[engagement]
client = "Beta"
report_type = "type2"
period_start = 2026-01-01
period_end = 2026-06-30
timezone = "UTC"
criteria = ["security"]
engagement_id = "BETA-1"

[sampling]
confidence = 0.95
tolerable_rate = 0.05

[[staff]]
name = "A"
initials = "A"
role = "preparer"

[[staff]]
name = "B"
initials = "B"
role = "reviewer"
"""
    rows = [["control_id", "description", "criteria", "frequency", "nature", "procedure"],
            ["X-1", "Something", "CC1.1", "annual", "manual", ""]]
    engagement = load_engagement(make_folder(tmp_path, toml, rows, files=()))
    assert engagement.sampling.frequency_table == DEFAULT_FREQUENCY_TABLE
    assert engagement.sampling.method == "stratified"
    assert (engagement.subservice_organizations, engagement.cuecs, dict(engagement.populations)) == ((), (), {})
    assert engagement.firm is None
    assert "[sampling.frequency_table] not given: the default table" in engagement.notes[2]


def test_default_frequency_table_is_the_contract_table():
    assert dict(DEFAULT_FREQUENCY_TABLE) == {"annual": 1, "quarterly": 2, "monthly": 2, "weekly": 5, "daily": 25,
                                             "many_times_a_day": 40}


def test_matrix_cells_are_read_leniently_but_exactly(tmp_path):
    rows = [["CONTROL-ID", "description", "Criteria", "owner", "FREQUENCY", "nature", "procedure", "populations",
             "attributes", "", "Test notes"],
            ["CM-01", "  Approved changes  ", "cc8.1\nCC7.1", 7, "Many-Times-A-Day", "AUTOMATED",
             "Change Management", "changes ; ", "approver_not_author", None, "see walkthrough"],
            [None] * 11,
            ["CM-09", "Another", "CC8.1", None, "as needed", "manual", None, None, None, None, None]]
    engagement = load_engagement(make_folder(tmp_path, rows=rows))
    cm01, cm09 = engagement.controls
    assert cm01 == Control(id="CM-01", description="Approved changes", criteria=("CC8.1", "CC7.1"), owner="7",
                           frequency="many_times_a_day", nature="automated", procedure="change_management",
                           populations=("changes",), attributes=("approver_not_author",), row=2,
                           extra=FrozenMapping({"Test notes": "see walkthrough"}))
    assert (cm09.id, cm09.row, cm09.frequency, cm09.procedure, cm09.extra["Test notes"]) == (
        "CM-09", 4, "as_needed", None, "")


def test_inline_population_table_and_backslash_path(tmp_path):
    toml = replaced('[populations.deploys]\nfile = "populations/deploy_log.csv"\nkind = "deployments"\n\n'
                    '[populations.deploys.columns]\ndeployment_id = "Deploy ID"\ndeployed_at = "Finished"\n',
                    '[populations]\ndeploys = { file = \'populations\\deploy_log.csv\', kind = "deployments" }\n')
    engagement = load_engagement(make_folder(tmp_path, toml))
    assert engagement.population("deploys").file == "populations/deploy_log.csv"
    assert engagement.population("deploys").path.is_file()


def test_encodings(tmp_path):
    folder = make_folder(tmp_path / "a", matrix="none")
    buffer = io.StringIO()
    csv.writer(buffer).writerows([HEADER, *GOOD_ROWS])
    text = buffer.getvalue()
    (folder / "controls.csv").write_bytes(text.replace("Release Manager", "Release \u2013 Manager").encode("cp1252"))
    engagement = load_engagement(folder)
    assert engagement.control("CM-01").owner == "Release \u2013 Manager"
    assert "acme-type2/controls.csv is not UTF-8; read as Windows-1252 (cp1252)." in engagement.notes[0]

    folder = make_folder(tmp_path / "b")
    (folder / "engagement.toml").write_bytes(GOOD_TOML.replace("Acme", "\u00c4cme").encode("latin-1"))
    with pytest.raises(EngagementError, match=r"^acme-type2/engagement\.toml: not UTF-8 text .*save it as UTF-8"):
        load_engagement(folder)


def test_unknown_control_lists_valid_ids(tmp_path):
    engagement = load_engagement(make_folder(tmp_path))
    with pytest.raises(EngagementError, match=r"acme-type2/controls.xlsx: no control 'CM-1'\. Did you mean "
                                              r"'CM-01'\? Valid control ids: CM-01, CM-02, AC-01\."):
        engagement.control("CM-1")
    with pytest.raises(EngagementError, match=r"no population 'change'\. Did you mean 'changes'\? Defined "
                                              r"populations: changes, deploys\."):
        engagement.population("change")


# ------------------------------------------------------------------------------------------------
# The folder and the TOML file
# ------------------------------------------------------------------------------------------------
def test_folder_missing_or_not_a_folder(tmp_path):
    with pytest.raises(EngagementError, match=r"nowhere: engagement folder not found"):
        load_engagement(tmp_path / "nowhere")
    (tmp_path / "file.toml").write_text("x = 1")
    with pytest.raises(EngagementError, match=r"file\.toml: not a folder"):
        load_engagement(tmp_path / "file.toml")
    assert issubclass(EngagementError, InputError)


def test_engagement_toml_missing(tmp_path):
    folder = make_folder(tmp_path)
    (folder / "engagement.toml").unlink()
    with pytest.raises(EngagementError, match=r"^acme-type2/engagement\.toml: not found"):
        load_engagement(folder)


def test_toml_syntax_error_names_the_line(tmp_path):
    folder = make_folder(tmp_path, replaced('client = "Acme Cloud, Inc."', "client = Acme Cloud"))
    with pytest.raises(EngagementError, match=r"^acme-type2/engagement\.toml: TOML syntax error: .*line 3"):
        load_engagement(folder)


BAD_TOML = [
    # (id, old, new, pattern)
    ("unknown top-level key", "[sampling]\n", "[sampeling]\n",
     r"acme-type2/engagement\.toml, line 12, sampeling: unknown key or table\. Did you mean 'sampling'\?"),
    ("unknown key in table", "firm = ", "frim = ",
     r"acme-type2/engagement\.toml, line 9, \[engagement\] frim: unknown key\. Did you mean 'firm'\? "
     r"Valid keys of \[engagement\]: client, report_type"),
    ("unknown key in nested table", "daily = 25", "dayly = 25",
     r"line 24, \[sampling\.frequency_table\] dayly: unknown key\. Did you mean 'daily'\?"),
    ("unknown key in array of tables", 'initials = "SO"', 'initals = "SO"',
     r"line 34, \[\[staff\]\] #2 initals: unknown key\. Did you mean 'initials'\?"),
    ("unknown key in population", 'stated_count = 1512', 'stated_cont = 1512',
     r"\[populations\.changes\] stated_cont: unknown key\. Did you mean 'stated_count'\?"),
    ("missing required key", 'timezone = "America/New_York"\n', "",
     r"acme-type2/engagement\.toml, line 2, \[engagement\] timezone: required key missing; add "
     r"timezone = \"America/New_York\" under \[engagement\]\."),
    ("missing engagement_id", 'engagement_id = "ACME-SOC2-T2-FY26"\n', "",
     r"\[engagement\] engagement_id: required key missing"),
    ("bad engagement_id", 'engagement_id = "ACME-SOC2-T2-FY26"', 'engagement_id = "ACME SOC2/FY26"',
     r"\[engagement\] engagement_id: 'ACME SOC2/FY26' may hold only letters, digits"),
    ("confidence as words", "confidence = 0.90", 'confidence = "high"',
     r"line 14, \[sampling\] confidence: must be a number \(a fraction, without quotes\), got 'high' "
     r"\(a string\); e\.g\. confidence = 0\.90\."),
    ("confidence as percent", "confidence = 0.90", "confidence = 90",
     r"\[sampling\] confidence: confidence must lie in \(0, 1\), got 90; give it as a fraction"),
    ("tolerable rate zero", "tolerable_rate = 0.10", "tolerable_rate = 0",
     r"\[sampling\] tolerable_rate: tolerable_rate must lie in \(0, 1\), got 0"),
    ("expected rate negative", "expected_rate = 0.0", "expected_rate = -0.01",
     r"\[sampling\] expected_rate: expected_rate must lie in \[0, 1\)"),
    ("expected not below tolerable", "expected_rate = 0.0", "expected_rate = 0.10",
     r"\[sampling\] expected_rate: 0\.1 must be below tolerable_rate 0\.1"),
    ("missing confidence", "confidence = 0.90\n", "",
     r"\[sampling\] confidence: required key missing; add confidence = 0\.90 under \[sampling\]"),
    ("unknown model", 'model = "binomial"', 'model = "binominal"',
     r"\[sampling\] model: 'binominal' is not allowed\. Did you mean 'binomial'\? Use one of: binomial, "
     r"hypergeometric, poisson\."),
    ("unknown method", 'method = "stratified"', 'method = "stratify"',
     r"\[sampling\] method: 'stratify' is not allowed\. Did you mean 'stratified'\?"),
    ("frequency table unknown frequency", "weekly = 5", "fortnightly = 5",
     r"\[sampling\.frequency_table\] fortnightly: unknown key\..* Valid keys of \[sampling\.frequency_table\]: "
     r"annual, quarterly, monthly, weekly, daily, many_times_a_day\."),
    ("frequency table zero size", "daily = 25", "daily = 0",
     r"line 24, \[sampling\.frequency_table\] daily: must be a whole number >= 1, got 0\."),
    ("frequency table fractional size", "daily = 25", "daily = 2.5",
     r"\[sampling\.frequency_table\] daily: must be a whole number >= 1 written without quotes, got 2\.5"),
    ("report type", 'report_type = "type2"', 'report_type = "Type II"',
     r"line 4, \[engagement\] report_type: 'Type II' is not allowed\. Did you mean 'type2'\? Use one of: type1, type2\."),
    ("type2 without period", "period_end = 2026-06-30\n", "",
     r"\[engagement\] period_end: required for a type2 report \(the period tested\); add "
     r"period_end = 2026-06-30 under \[engagement\]"),
    ("type2 with as_of", "period_end = 2026-06-30\n", "period_end = 2026-06-30\nas_of = 2026-06-30\n",
     r"line 7, \[engagement\] as_of: not allowed for a type2 report"),
    ("period end before start", "period_end = 2026-06-30", "period_end = 2025-06-30",
     r"\[engagement\] period_end: 2025-06-30 is before period_start 2025-07-01"),
    ("quoted date", "period_start = 2025-07-01", 'period_start = "2025-07-01"',
     r"\[engagement\] period_start: must be a TOML date, got '2025-07-01' \(a string\); write it without "
     r"quotes: period_start = 2025-07-01\."),
    ("date-time", "period_start = 2025-07-01", "period_start = 2025-07-01T00:00:00",
     r"\[engagement\] period_start: must be a date, got 2025-07-01T00:00:00 \(a date-time\)"),
    ("unknown timezone", 'timezone = "America/New_York"', 'timezone = "America/NewYork"',
     r"line 7, \[engagement\] timezone: 'America/NewYork' is not an IANA time zone name\. Did you mean "
     r"'America/New_York'\?"),
    ("unknown category", '"confidentiality", ', '"confidentality", ',
     r"\[engagement\] criteria: 'confidentality' is not a trust services category\. Did you mean "
     r"'confidentiality'\?"),
    ("security missing", 'criteria = ["security", "confidentiality", "availability"]',
     'criteria = ["confidentiality", "availability"]',
     r"\[engagement\] criteria: must include \"security\""),
    ("criteria not an array", 'criteria = ["security", "confidentiality", "availability"]',
     'criteria = "security"', r"\[engagement\] criteria: must be an array of non-empty strings"),
    ("client empty", 'client = "Acme Cloud, Inc."', 'client = "  "',
     r"line 3, \[engagement\] client: is empty; give a value, e\.g\. client = \"Acme Cloud, Inc\.\"\."),
    ("criteria empty", 'criteria = ["security", "confidentiality", "availability"]', "criteria = []",
     r"line 8, \[engagement\] criteria: is empty; security is always in scope"),
    ("criteria twice", '"confidentiality", ', '"confidentiality", "confidentiality", ',
     r"\[engagement\] criteria: 'confidentiality' is listed twice"),
    ("client wrong type", 'client = "Acme Cloud, Inc."', "client = 42",
     r"\[engagement\] client: must be a string \(text in quotes\), got 42 \(a number\)"),
    ("staff without reviewer", 'role = "reviewer"', 'role = "manager"',
     r"\[\[staff\]\]: no reviewer: every engagement needs at least one preparer and one reviewer"),
    ("unknown role", 'role = "reviewer"', 'role = "senior"',
     r"\[\[staff\]\] #2 role: 'senior' is not allowed\. Use one of: preparer, reviewer, manager, partner\."),
    ("duplicate initials", 'initials = "SO"', 'initials = "dr"',
     r"\[\[staff\]\] #2 initials: 'dr' is also the initials of \[\[staff\]\] #1"),
    ("staff as a single table", "[[staff]]\nname = \"Dana Reyes\"\ninitials = \"DR\"\nrole = \"preparer\"\n\n"
     "[[staff]]\nname = \"Sam Okafor\"\ninitials = \"SO\"\nrole = \"reviewer\"\n",
     "[staff]\nname = \"Dana Reyes\"\ninitials = \"DR\"\nrole = \"preparer\"\n",
     r"\[staff\]: must be an array of tables: write \[\[staff\]\] \(double brackets\)"),
    ("subservice method", 'method = "carve-out"', 'method = "carve out"',
     r"\[\[subservice_organizations\]\] #1 method: 'carve out' is not allowed\. Did you mean 'carve-out'\? "
     r"Use one of: carve-out, inclusive\."),
    ("cuec criterion unknown", 'criteria = ["CC6.2"]', 'criteria = ["CC6.9"]',
     r"\[\[cuecs\]\] #1 criteria: 'CC6.9' is not a 2017 Trust Services Criterion"),
    ("population file missing", 'file = "populations/deploy_log.csv"', 'file = "populations/deploys.csv"',
     r"\[populations\.deploys\] file: population 'deploys': file 'populations/deploys\.csv' not found "
     r"\(looked for acme-type2/populations/deploys\.csv\); put the client's file under "
     r"acme-type2/populations/"),
    ("population file escapes", 'file = "populations/deploy_log.csv"', 'file = "../deploy_log.csv"',
     r"\[populations\.deploys\] file: '\.\./deploy_log\.csv' leads outside the engagement folder"),
    ("population file escapes deeper", 'file = "populations/deploy_log.csv"',
     'file = "populations/../../deploy_log.csv"', r"leads outside the engagement folder"),
    ("population file absolute", 'file = "populations/deploy_log.csv"', 'file = "/etc/passwd"',
     r"\[populations\.deploys\] file: '/etc/passwd' is an absolute path"),
    ("population file is a folder", 'file = "populations/deploy_log.csv"', 'file = "populations"',
     r"\[populations\.deploys\] file: population 'deploys': 'populations' is a folder, not a file"),
    ("population kind unknown", 'kind = "deployments"', 'kind = "deployment"',
     r"\[populations\.deploys\] kind: 'deployment' is not allowed\. Did you mean 'deployments'\?"),
    ("population kind missing", 'kind = "deployments"\n', "",
     r"\[populations\.deploys\] kind: required key missing; add kind = \"changes\" under "
     r"\[populations\.deploys\]"),
    ("population format unknown", 'format = "jira"', 'format = "aws_iam"',
     r"\[populations\.changes\] format: 'aws_iam' is not allowed\. Did you mean 'aws-iam'\?"),
    ("stated count negative", "stated_count = 1512", "stated_count = -1",
     r"\[populations\.changes\] stated_count: must be a whole number >= 0, got -1\."),
    ("received quoted", "received = 2026-07-08", 'received = "2026-07-08"',
     r"\[populations\.changes\] received: must be a TOML date.*write it without quotes"),
    ("column map not a string", 'deployed_at = "Finished"', "deployed_at = 3",
     r"\[populations\.deploys\.columns\] deployed_at: must be the column header in the file, as a string"),
    ("population id with a space", "[populations.deploys]\n", '[populations."deploy log"]\n',
     r"\[populations\.deploy log\]: population id 'deploy log' may hold only letters, digits"),
]


@pytest.mark.parametrize("old,new,pattern", [case[1:] for case in BAD_TOML], ids=[c[0] for c in BAD_TOML])
def test_bad_engagement_toml(tmp_path, old, new, pattern):
    toml = replaced(old, new)
    if "deploy log" in new:  # keep the columns table attached to the renamed population
        toml = toml.replace("[populations.deploys.columns]", '[populations."deploy log".columns]')
    error = load_error(make_folder(tmp_path, toml))
    assert re.search(pattern, str(error)), str(error)
    assert "acme-type2/engagement.toml" in str(error)


def test_type1_without_as_of_and_with_period(tmp_path):
    toml = replaced('report_type = "type2"', 'report_type = "type1"')
    error = load_error(make_folder(tmp_path, toml))
    lines = error.problems
    assert lines == (
        "acme-type2/engagement.toml, line 2, [engagement] as_of: required for a type1 report (the date of "
        "design and implementation); add as_of = 2026-06-30 under [engagement].",
        "acme-type2/engagement.toml, line 5, [engagement] period_start: not allowed for a type1 report, which "
        "is as of one date; remove period_start (or set report_type = \"type2\").",
        "acme-type2/engagement.toml, line 6, [engagement] period_end: not allowed for a type1 report, which "
        "is as of one date; remove period_end (or set report_type = \"type2\").",
    )
    assert str(error).startswith("acme-type2: 3 problems in the engagement folder; fix them all and load it "
                                 "again:\n  - acme-type2/engagement.toml, line 2, [engagement] as_of:")


def test_all_toml_problems_are_collected(tmp_path):
    toml = replaced("confidence = 0.90", 'confidence = "high"')
    toml = replaced('timezone = "America/New_York"', 'timezone = "Mars/Olympus"', toml)
    toml = replaced('role = "reviewer"', 'role = "boss"', toml)
    error = load_error(make_folder(tmp_path, toml))
    assert str(error).startswith("acme-type2: 3 problems in the engagement folder")
    assert [line.split(": ", 1)[0] for line in error.problems] == [
        "acme-type2/engagement.toml, line 7, [engagement] timezone",
        "acme-type2/engagement.toml, line 14, [sampling] confidence",
        "acme-type2/engagement.toml, line 35, [[staff]] #2 role",
    ]


def test_missing_tables(tmp_path):
    toml = GOOD_TOML.split("[sampling]")[0]  # [engagement] only
    error = load_error(make_folder(tmp_path, toml))
    assert error.problems[:2] == (
        "acme-type2/engagement.toml, [sampling]: required table missing; add [sampling] with at least "
        "confidence = 0.90 and tolerable_rate = 0.10.",
        "acme-type2/engagement.toml, [[staff]]: required; add at least one [[staff]] table (see the README).",
    )
    # the matrix is still checked: its populations are not defined now
    assert any("controls.xlsx, row 2, column 'populations': population 'changes' is not defined in "
               "engagement.toml" in line for line in error.problems)


# ------------------------------------------------------------------------------------------------
# The control matrix
# ------------------------------------------------------------------------------------------------
def test_matrix_missing(tmp_path):
    error = load_error(make_folder(tmp_path, matrix="none"))
    assert str(error) == ("acme-type2: no control matrix; put the controls in acme-type2/controls.xlsx "
                          "(sheet \"Controls\") or acme-type2/controls.csv.")


def test_matrix_old_excel_format_hint(tmp_path):
    folder = make_folder(tmp_path, matrix="none")
    (folder / "controls.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(EngagementError, match=r"Found controls\.xls: save the matrix as controls\.xlsx"):
        load_engagement(folder)


def test_matrix_both_present(tmp_path):
    folder = make_folder(tmp_path)
    write_csv(folder / "controls.csv", [HEADER, *GOOD_ROWS])
    with pytest.raises(EngagementError, match=r"^acme-type2/controls\.csv and acme-type2/controls\.xlsx: both "
                                              r"present; keep exactly one control matrix"):
        load_engagement(folder)


def test_matrix_empty(tmp_path):
    with pytest.raises(EngagementError, match=r"^acme-type2/controls\.xlsx: the control matrix has a header but "
                                              r"no controls"):
        load_engagement(make_folder(tmp_path, rows=[HEADER, [None] * len(HEADER)]))


def test_matrix_without_any_header(tmp_path):
    with pytest.raises(EngagementError, match=r"acme-type2/controls\.csv: required column 'control_id' missing"):
        load_engagement(make_folder(tmp_path, rows=[["id", "text"], ["CM-01", "x"]], matrix="csv"))


def test_matrix_required_column_missing(tmp_path):
    rows = [[cell for i, cell in enumerate(row) if i != 5] for row in [HEADER, *GOOD_ROWS]]  # drop Nature
    with pytest.raises(EngagementError, match=r"^acme-type2/controls\.xlsx, row 1: required column 'nature' "
                                              r"missing\. Headers found: 'Control ID', 'Description'"):
        load_engagement(make_folder(tmp_path, rows=rows))


def test_matrix_sheet_not_found(tmp_path):
    folder = make_folder(tmp_path, sheet="Sheet1", extra_sheets=("Sheet2",))
    with pytest.raises(EngagementError, match=r"acme-type2/controls\.xlsx: no sheet named \"Controls\" among "
                                              r"'Sheet1', 'Sheet2'"):
        load_engagement(folder)


def test_matrix_not_a_workbook(tmp_path):
    folder = make_folder(tmp_path, matrix="none")
    (folder / "controls.xlsx").write_text("control_id,description\n")
    with pytest.raises(EngagementError, match=r"acme-type2/controls\.xlsx: cannot be read as an Excel workbook"):
        load_engagement(folder)


def _row(**changes) -> list:
    row = dict(zip(HEADER, GOOD_ROWS[0]))
    row.update({key.replace("_", " ").title().replace("Id", "ID"): value for key, value in changes.items()})
    return [row[h] for h in HEADER]


BAD_ROWS = [
    ("unknown criterion", {"criteria": "CC8.1; CC8.2"},
     r"row 3, column 'criteria': 'CC8\.2' is not a 2017 Trust Services Criterion \(CC8 has only CC8\.1\)\. "
     r"Valid ids: CC1\.1–CC9\.2, A1\.1–A1\.3, PI1\.1–PI1\.5, C1\.1–C1\.2, P1\.1–P8\.1\."),
    ("criterion out of scope", {"criteria": "CC8.1, PI1.3"},
     r"row 3, column 'criteria': PI1\.3 is a Processing Integrity criterion, and processing_integrity is not in "
     r"scope \(engagement\.toml \[engagement\] criteria = \['security', 'availability', 'confidentiality'\]\); "
     r"add \"processing_integrity\" there or remove PI1\.3"),
    ("criteria blank", {"criteria": ""}, r"row 3, column 'criteria': is blank"),
    ("unknown frequency", {"frequency": "Annually"},
     r"row 3, column 'frequency': 'Annually' is not a frequency\. Did you mean 'annual'\? Use one of: annual, "
     r"quarterly, monthly, weekly, daily, many_times_a_day, as_needed\."),
    ("unknown nature", {"nature": "IT dependent manual"},
     r"row 3, column 'nature': 'IT dependent manual' is not a nature\. Use manual or automated\."),
    ("unknown procedure", {"procedure": "change_managment"},
     r"row 3, column 'procedure': 'change_managment' is not a known procedure\. Did you mean "
     r"'change_management'\? Use one of: change_management, emergency_change"),
    ("population not defined", {"populations": "chnages"},
     r"row 3, column 'populations': population 'chnages' is not defined in engagement\.toml\. Did you mean "
     r"'changes'\? Defined: changes, deploys; add a \[populations\.chnages\] table"),
    ("procedure without population", {"populations": ""},
     r"row 3, column 'populations': is blank, but procedure 'change_management' tests a population; give the id "
     r"of a \[populations\.<id>\] table of engagement\.toml \(changes, deploys\)\."),
    ("population of the wrong kind first", {"populations": "deploys; changes"},
     r"row 3, column 'populations': procedure 'change_management' samples a 'changes' population, but the first "
     r"population listed, 'deploys', is of kind 'deployments'"),
    ("attribute not of the procedure", {"attributes": "approved_before_deployment; approver_is_not_author"},
     r"row 3, column 'attributes': 'approver_is_not_author' is not an attribute of procedure "
     r"'change_management'\. Did you mean 'approver_not_author'\?"),
    ("attributes without procedure", {"procedure": "", "populations": ""},
     r"row 3, column 'attributes': attributes are given but the procedure is blank"),
    ("control id blank", {"control_id": ""}, r"row 3, column 'control_id': is blank"),
    ("control id with a slash", {"control_id": "CM/03"},
     r"row 3, column 'control_id': 'CM/03' may hold only letters, digits, '\.', '_' and '-'"),
    ("description blank", {"description": None}, r"row 3, column 'description': is blank"),
]


@pytest.mark.parametrize("changes,pattern", [case[1:] for case in BAD_ROWS], ids=[c[0] for c in BAD_ROWS])
def test_bad_matrix_row(tmp_path, changes, pattern):
    rows = [HEADER, GOOD_ROWS[0], _row(**{"control_id": "CM-03", **changes})]
    error = load_error(make_folder(tmp_path, rows=rows))
    assert str(error).startswith("acme-type2/controls.xlsx, row 3, column"), str(error)
    assert re.search(pattern, str(error)), str(error)


def test_duplicate_control_id_names_both_rows(tmp_path):
    rows = [HEADER, *GOOD_ROWS, _row(control_id="cm-02")]
    with pytest.raises(EngagementError, match=r"^acme-type2/controls\.xlsx, row 5, column 'control_id': 'cm-02' is "
                                              r"used by rows 3 and 5; control ids must be unique"):
        load_engagement(make_folder(tmp_path, rows=rows))


def test_all_matrix_problems_are_collected_with_toml_problems(tmp_path):
    rows = [HEADER,
            _row(criteria="CC8.2"),
            _row(control_id="CM-02", frequency="hourly", procedure="change_managment"),
            _row(control_id="CM-03", populations="nope")]
    toml = replaced("tolerable_rate = 0.10", "tolerable_rate = 10")
    error = load_error(make_folder(tmp_path, toml, rows=rows, matrix="csv"))
    assert str(error).startswith("acme-type2: 5 problems in the engagement folder; fix them all and load it "
                                 "again:\n  - acme-type2/engagement.toml, line 15, [sampling] tolerable_rate:")
    assert [line.split(": ", 1)[0] for line in error.problems] == [
        "acme-type2/engagement.toml, line 15, [sampling] tolerable_rate",
        "acme-type2/controls.csv, row 2, column 'criteria'",
        "acme-type2/controls.csv, row 3, column 'frequency'",
        "acme-type2/controls.csv, row 3, column 'procedure'",
        "acme-type2/controls.csv, row 4, column 'populations'",
    ]
    assert len(str(error).splitlines()) == 6


def test_duplicate_header_is_reported(tmp_path):
    rows = [[*HEADER, "control-id"], [*GOOD_ROWS[0], "x"]]
    with pytest.raises(EngagementError, match=r"acme-type2/controls\.xlsx, row 1: column 'control-id' appears "
                                              r"twice \(as 'Control ID' too\); keep one\."):
        load_engagement(make_folder(tmp_path, rows=rows))


# ------------------------------------------------------------------------------------------------
# The demo engagement (sample_data, written to the same schema)
# ------------------------------------------------------------------------------------------------
DEMO = REPO / "sample_data" / "acme-type2"
DEMO_TYPE1 = REPO / "sample_data" / "acme-type1"


def test_demo_engagement_loads():
    engagement = load_engagement(DEMO)
    assert (engagement.client, engagement.engagement_id, engagement.report_type) == (
        "Acme Cloud, Inc.", "ACME-SOC2-T2-FY26", "type2")
    assert (engagement.period_start, engagement.period_end, engagement.as_of) == (
        date(2025, 7, 1), date(2026, 6, 30), None)
    assert engagement.timezone == "America/New_York"
    assert engagement.criteria[0] == "security"
    assert engagement.staff_with_role("preparer") and engagement.staff_with_role("reviewer")
    cm01 = engagement.control("CM-01")
    assert cm01.criteria == ("CC8.1",)
    assert cm01.procedure == "change_management"
    assert cm01.attributes == ("ticket_before_deployment", "approved_before_deployment", "approver_not_author")
    changes = engagement.population(cm01.populations[0])
    assert changes.kind == "changes"
    assert changes.file.startswith("populations/") and changes.path.is_file()
    cm02 = engagement.control("CM-02")
    assert cm02.procedure == "change_management"
    assert cm02.attributes == ("testing_evidenced",)
    assert cm02.populations[0] == cm01.populations[0]
    assert engagement.matrix_file == "controls.xlsx"


def test_demo_type1_engagement_loads():
    engagement = load_engagement(DEMO_TYPE1)
    assert (engagement.report_type, engagement.as_of, engagement.period_start, engagement.period_end) == (
        "type1", date(2026, 6, 30), None, None)
    assert engagement.sampling.method == "random"
    assert engagement.control("CM-01").procedure == "change_management"
