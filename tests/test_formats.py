"""Export formats: detection, column mapping and the quirks of real exports (formats.md)."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest

from workbench.errors import PopulationError
from workbench.formats.dates import parse_timestamps
from workbench.population import load_population_file

NY = "America/New_York"


def ts(text: str, tz: str = NY) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert(tz) if pd.Timestamp(text).tzinfo else pd.Timestamp(text).tz_localize(tz)


# ---- dates -------------------------------------------------------------------------------------

def test_iso_with_zone_is_converted_not_assumed():
    parsed = parse_timestamps(pa.array(["2025-01-28T23:09:18Z", "2022-05-27T10:25:43+00:00", None]), NY)
    assert list(parsed.values[:2]) == [ts("2025-01-28T18:09:18-05:00"), ts("2022-05-27T06:25:43-04:00")]
    assert pd.isna(parsed.values[2])
    assert parsed.zone_assumed is False
    assert parsed.formats == ("ISO 8601",)


def test_naive_times_take_the_zone_and_say_so():
    parsed = parse_timestamps(pa.array(["2020-11-13 15:22:31"]), NY)
    assert parsed.values[0] == pd.Timestamp("2020-11-13 15:22:31", tz=NY)
    assert parsed.zone_assumed is True


@pytest.mark.parametrize("text, expected", [
    ("16/Feb/26 3:29 PM", "2026-02-16 15:29"),       # Jira default
    ("16/02/2017 15:26", "2017-02-16 15:26"),        # Jira after Excel
    ("6/21/2025 16:14", "2025-06-21 16:14"),         # US month first
    ("03-12-2025 15:21:08", "2025-03-12 15:21:08"),  # ServiceNow MM-dd-yyyy preference
    ("29/2/2016 01:16", "2016-02-29 01:16"),         # UCI ServiceNow, day first, no padding
])
def test_locale_formats(text, expected):
    parsed = parse_timestamps(pa.array([text]), NY)
    assert parsed.values[0] == pd.Timestamp(expected, tz=NY)
    assert len(parsed.unparsed) == 0


def test_ambiguous_day_month_order_is_reported():
    parsed = parse_timestamps(pa.array(["01/02/2025 10:00", "03/04/2025 11:00"]), NY)
    assert parsed.values[0] == pd.Timestamp("2025-01-02 10:00", tz=NY)
    assert "cannot be told" in parsed.ambiguous_order


def test_one_column_is_never_read_in_both_day_month_orders():
    parsed = parse_timestamps(pa.array(["6/21/2025 16:14", "21/6/2025 16:14", "7/22/2025 10:00"]), NY)
    assert list(parsed.unparsed) == [1]


def test_mixed_zones_in_one_column():
    parsed = parse_timestamps(pa.array(["2025-12-20T17:07:58Z", "2025-12-20 17:07:58", "2025-12-20T17:07:58.123"]), NY)
    assert list(parsed.values) == [pd.Timestamp("2025-12-20 12:07:58", tz=NY), pd.Timestamp("2025-12-20 17:07:58", tz=NY),
                                   pd.Timestamp("2025-12-20 17:07:58.123", tz=NY)]


def test_unparseable_values_are_positions_not_guesses():
    parsed = parse_timestamps(pa.array(["2025-01-01", "soon", None, "2025-13-45"]), NY)
    assert list(parsed.unparsed) == [1, 3]
    assert parsed.values.isna().tolist() == [False, True, True, True]


def test_autumn_hour_takes_the_earlier_instant():
    parsed = parse_timestamps(pa.array(["2025-11-02 01:30:00"]), NY)
    assert parsed.values[0].utcoffset() == pd.Timedelta(hours=-4)


# ---- jira --------------------------------------------------------------------------------------

JIRA = (
    "Summary,Issue key,Issue id,Issue Type,Status,Assignee,Assignee Id,Created,Labels,Labels,Labels,Description,"
    "Custom field (Change type),Custom field (Approver),Custom field (Approved),Custom field (Deployed),"
    "Custom field (System)\r\n"
    'Fix login,CHG-1,10001,Change,Done,Maya Lam,712020:aaa,16/Feb/26 3:29 PM,infra,hotfix,,"line one\r\n\r\n'
    'line ""two""",Normal,5f0c,17/Feb/26 9:00 AM,18/Feb/26 10:15 PM,web-app\r\n'
    "Tune pool,CHG-2,10002,Change,Done,Uma Walsh,5f0d,1/Mar/26 11:00 AM,,,,plain,Emergency,,,2/Mar/26 1:05 AM,api\r\n"
)


def test_jira_export(tmp_path):
    path = tmp_path / "jira.csv"
    path.write_bytes(JIRA.encode("utf-8"))
    population = load_population_file(path, kind="changes", timezone=NY)
    assert population.format == "jira"
    frame = population.frame
    assert frame["change_id"].tolist() == ["CHG-1", "CHG-2"]
    assert frame["author"].tolist() == ["712020:aaa", "5f0d"]          # Assignee Id, the comparable id
    assert frame["change_type"].tolist() == ["normal", "emergency"]
    assert frame.loc[0, "created_at"] == pd.Timestamp("2026-02-16 15:29", tz=NY)
    assert frame.loc[0, "deployed_at"] == pd.Timestamp("2026-02-18 22:15", tz=NY)
    assert pd.isna(frame.loc[1, "approver"]) and pd.isna(frame.loc[1, "approved_at"])
    assert frame["source_row"].tolist() == [2, 3]                       # multi-line cell = one spreadsheet row
    assert population.timezone_assumed is True


def test_jira_repeated_columns_are_joined_not_dropped(tmp_path):
    path = tmp_path / "jira.csv"
    path.write_bytes(JIRA.encode("utf-8"))
    population = load_population_file(path, kind="changes", timezone=NY,
                                      columns={"system": "Labels"})
    assert population.frame["system"].tolist()[0] == "infra; hotfix"


def test_jira_tickets_kind(tmp_path):
    path = tmp_path / "jira.csv"
    path.write_bytes(JIRA.encode("utf-8"))
    population = load_population_file(path, kind="tickets", timezone=NY)
    assert population.frame["ticket_type"].tolist() == ["Change", "Change"]
    assert population.key == "ticket_id"


# ---- servicenow --------------------------------------------------------------------------------

def test_servicenow_field_names_cp1252_and_user_ids(tmp_path):
    text = ('"number","opened_at","short_description","caller_id","priority","state","assigned_to","resolved_at","closed_at"\n'
            '"INC001","2025-11-13 15:22:31","VPN \u2013 drops","Farah Vance (fvance)","1 - Critical","Closed",'
            '"Michael X (mxu)","2025-11-13 17:00:00","2025-11-14 09:00:00"\n'
            '"INC002","2025-11-14 08:00:00","Printer","?","4 - Low","New","","",""\n')
    path = tmp_path / "incidents.csv"
    path.write_bytes(text.encode("cp1252"))
    population = load_population_file(path, kind="incidents", timezone=NY)
    frame = population.frame
    assert population.format == "servicenow"
    assert population.encoding == "Windows-1252"
    assert frame.loc[0, "title"] == "VPN \u2013 drops"
    assert frame["opened_by"].tolist()[0] == "fvance"
    assert pd.isna(frame.loc[1, "opened_by"])                            # "?" is a missing value
    assert frame.loc[0, "assigned_to"] == "mxu"
    assert frame.loc[0, "opened_at"] == pd.Timestamp("2025-11-13 15:22:31", tz=NY)


def test_servicenow_label_headers_xlsx(tmp_path):
    import openpyxl
    from datetime import datetime
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Number", "Opened", "Short description", "Priority", "State", "Resolved"])
    ws.append(["INC9", datetime(2025, 8, 1, 9, 30), "Disk full", "2 - High", "Resolved", datetime(2025, 8, 1, 12, 0)])
    path = tmp_path / "incidents.xlsx"
    wb.save(path)
    population = load_population_file(path, kind="incidents", timezone=NY)
    assert population.format == "servicenow"
    assert population.frame.loc[0, "incident_id"] == "INC9"
    assert population.frame.loc[0, "resolved_at"] == pd.Timestamp("2025-08-01 12:00", tz=NY)
    assert population.frame.loc[0, "source_row"] == 2


def test_servicenow_day_first_dates(tmp_path):
    path = tmp_path / "inc.csv"
    path.write_text('"number","opened_at","state"\n"INC1","29/2/2016 01:16","Closed"\n"INC2","13/3/2016 22:05","Closed"\n')
    population = load_population_file(path, kind="incidents", timezone="UTC")
    assert population.frame["opened_at"].tolist() == [pd.Timestamp("2016-02-29 01:16", tz="UTC"),
                                                     pd.Timestamp("2016-03-13 22:05", tz="UTC")]


# ---- aws, okta, entra --------------------------------------------------------------------------

AWS = ("user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,"
       "mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,"
       "access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
       "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,"
       "cert_2_last_rotated\n"
       "<root_account>,arn:aws:iam::1:root,2019-06-01T16:02:11Z,not_supported,2026-02-11T17:40:02Z,not_supported,"
       "not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
       "ana,arn:aws:iam::1:user/ana,2022-08-16T21:37:22+00:00,false,no_information,N/A,N/A,false,true,2024-01-01T00:00:00+00:00,"
       "2026-06-01T10:00:00+00:00,us-east-1,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
       "old,arn:aws:iam::1:user/old,2020-01-01T00:00:00Z,false,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,"
       "false,N/A,false,N/A")     # no trailing newline, as AWS writes it


def test_aws_iam_credential_report(tmp_path):
    path = tmp_path / "report.csv"
    path.write_text(AWS)
    population = load_population_file(path, kind="users", timezone="UTC")
    frame = population.frame.set_index("user_id")
    assert population.format == "aws-iam"
    assert frame["user_type"].tolist() == ["root", "iam_user", "iam_user"]
    assert frame["active"].tolist() == [True, True, False]
    assert frame.loc["<root_account>", "mfa_enabled"] is True or frame.loc["<root_account>", "mfa_enabled"] == True  # noqa: E712
    assert frame.loc["ana", "last_login_at"] == pd.Timestamp("2026-06-01 10:00", tz="UTC")
    assert pd.isna(frame.loc["old", "last_login_at"])
    assert frame.loc["ana", "account_id"] == "arn:aws:iam::1:user/ana"


OKTA = ("id,status,created,activated,statusChanged,lastLogin,lastUpdated,passwordChanged,profile.login,profile.email,"
        "profile.firstName,profile.lastName\n"
        "00u1,ACTIVE,2019-06-03T15:13:00.000Z,2019-06-03T19:30:00.000Z,2019-06-03T19:30:00.000Z,2026-06-30T04:15:00.000Z,,,"
        "olivia.khan@acme.example,olivia.khan@acme.example,Olivia,Khan\n"
        "00u2,DEPROVISIONED,2019-06-03T15:13:00.000Z,,2021-07-22T21:33:53.000Z,,,,bianca@acme.example,bianca@acme.example,"
        "Bianca,Morrow\n")


def test_okta_csv(tmp_path):
    path = tmp_path / "okta.csv"
    path.write_text(OKTA)
    population = load_population_file(path, kind="users", timezone="UTC")
    frame = population.frame
    assert population.format == "okta"
    assert frame["user_id"].tolist() == ["olivia.khan@acme.example", "bianca@acme.example"]
    assert frame["account_id"].tolist() == ["00u1", "00u2"]
    assert frame["active"].tolist() == [True, False]
    assert pd.isna(frame.loc[0, "disabled_at"])
    assert frame.loc[1, "disabled_at"] == pd.Timestamp("2021-07-22 21:33:53", tz="UTC")
    assert frame["name"].tolist() == ["Olivia Khan", "Bianca Morrow"]


def test_okta_api_json(tmp_path):
    users = [{"id": "00u1", "status": "DEPROVISIONED", "created": "2020-01-01T00:00:00.000Z",
              "statusChanged": "2026-01-05T10:00:00.000Z", "lastLogin": None,
              "profile": {"login": "a@x.example", "email": "a@x.example", "firstName": "A", "lastName": "B"}},
             {"id": "00u2", "status": "SUSPENDED", "created": "2020-01-01T00:00:00.000Z",
              "statusChanged": "2026-02-05T10:00:00.000Z", "lastLogin": "2026-02-01T10:00:00.000Z",
              "profile": {"login": "c@x.example", "email": "c@x.example", "firstName": "C", "lastName": "D"}}]
    path = tmp_path / "users.json"
    path.write_text(json.dumps(users))
    population = load_population_file(path, kind="users", timezone="UTC")
    frame = population.frame
    assert population.format == "okta"
    assert frame.loc[0, "disabled_at"] == pd.Timestamp("2026-01-05 10:00", tz="UTC")
    assert pd.isna(frame.loc[1, "disabled_at"])          # suspended is a hold, not a removal
    assert frame["active"].tolist() == [False, False]
    assert frame["name"].tolist() == ["A B", "C D"]
    assert frame["source_row"].tolist() == ["$[0]", "$[1]"]


def test_entra_download(tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("userPrincipalName,displayName,objectId,userType,accountEnabled,department\n"
                    "ann@acme.example,Ann,11-22,Member,True,Eng\n"
                    "guest_x.example#EXT#@acme.onmicrosoft.com,Guest,33-44,Guest,False,\n")
    population = load_population_file(path, kind="users", timezone="UTC")
    assert population.format == "entra"
    assert population.frame["active"].tolist() == [True, False]
    assert population.frame["user_type"].tolist() == ["Member", "Guest"]


# ---- github ------------------------------------------------------------------------------------

def test_github_rest_with_reviews(tmp_path):
    pulls = [
        {"number": 7, "title": "Add cache", "state": "closed", "created_at": "2025-08-01T10:00:00Z",
         "merged_at": "2025-08-02T10:00:00Z", "user": {"login": "dev1"}, "base": {"repo": {"full_name": "acme/api"}},
         "reviews": [{"state": "COMMENTED", "user": {"login": "rev0"}, "submitted_at": "2025-08-01T11:00:00Z"},
                     {"state": "APPROVED", "user": {"login": "rev1"}, "submitted_at": "2025-08-01T12:00:00Z"},
                     {"state": "APPROVED", "user": {"login": "late"}, "submitted_at": "2025-08-03T12:00:00Z"}]},
        {"number": 8, "title": "Bump dep", "state": "closed", "created_at": "2025-08-05T10:00:00Z",
         "merged_at": "2025-08-05T11:00:00Z", "user": {"login": "dependabot[bot]"},
         "base": {"repo": {"full_name": "acme/api"}}, "reviews": []},
        {"number": 9, "title": "Abandoned", "state": "closed", "created_at": "2025-08-06T10:00:00Z",
         "merged_at": None, "user": None, "base": {"repo": {"full_name": "acme/api"}}, "reviews": []},
    ]
    path = tmp_path / "pulls.json"
    path.write_text(json.dumps(pulls))
    population = load_population_file(path, kind="changes", timezone="UTC")
    frame = population.frame
    assert population.format == "github"
    assert frame["change_id"].tolist() == ["acme/api#7", "acme/api#8", "acme/api#9"]
    assert frame["approver"].tolist()[0] == "rev1"           # the late approval after merge does not count
    assert frame.loc[0, "approved_at"] == pd.Timestamp("2025-08-01 12:00", tz="UTC")
    assert pd.isna(frame.loc[1, "approver"])
    assert frame["status"].tolist() == ["merged", "merged", "closed"]
    assert pd.isna(frame.loc[2, "deployed_at"]) and pd.isna(frame.loc[2, "author"])
    assert frame["source_row"].tolist() == ["$[0]", "$[1]", "$[2]"]


def test_github_graphql(tmp_path):
    doc = {"data": {"repository": {"pullRequests": {"nodes": [
        {"number": 3, "title": "Fix", "state": "MERGED", "createdAt": "2025-09-01T08:00:00Z",
         "mergedAt": "2025-09-01T09:00:00Z", "author": {"login": "dev"}, "repository": {"nameWithOwner": "acme/web"},
         "reviews": {"nodes": [{"state": "APPROVED", "author": {"login": "dev"}, "createdAt": "2025-09-01T08:30:00Z"},
                               {"state": "APPROVED", "author": {"login": "lead"}, "createdAt": "2025-09-01T08:40:00Z"}]}},
    ]}}}}
    path = tmp_path / "archive.json"
    path.write_text(json.dumps(doc))
    population = load_population_file(path, kind="changes", timezone="UTC")
    frame = population.frame
    assert frame.loc[0, "change_id"] == "acme/web#3"
    assert frame.loc[0, "approver"] == "lead"                  # the author's own approval is not one
    assert frame.loc[0, "source_row"] == "$.data.repository.pullRequests.nodes[0]"


# ---- generic: delimiters, encodings, tokens ----------------------------------------------------

HEADER = "change_id;title;change_type;status;author;approver;created_at;approved_at;deployed_at;system\n"
ROW = "CHG-1;T;Standard;Done;a;b;2025-08-01 10:00;2025-08-01 11:00;2025-08-02 09:00;web\n"


@pytest.mark.parametrize("delimiter", [";", "\t", ",", "|"])
def test_delimiters_are_detected(tmp_path, delimiter):
    path = tmp_path / "c.csv"
    path.write_text((HEADER + ROW).replace(";", delimiter))
    population = load_population_file(path, kind="changes", timezone=NY)
    assert population.frame.loc[0, "deployed_at"] == pd.Timestamp("2025-08-02 09:00", tz=NY)
    assert population.delimiter == delimiter


@pytest.mark.parametrize("encoding, name", [("utf-8-sig", "UTF-8 with BOM"), ("utf-16", "UTF-16"),
                                            ("cp1252", "Windows-1252"), ("utf-8", "UTF-8")])
def test_encodings(tmp_path, encoding, name):
    path = tmp_path / "c.csv"
    path.write_bytes((HEADER + ROW.replace(";T;", ";Zoë – fix;")).encode(encoding))
    population = load_population_file(path, kind="changes", timezone=NY)
    assert population.frame.loc[0, "title"] == "Zoë – fix"
    assert population.encoding == name
    assert list(population.frame.columns)[0] == "change_id"


@pytest.mark.parametrize("token", ["?", "N/A", "no_information", "not_supported", "", "N/A-StillEmployed", "#N/B"])
def test_missing_value_tokens(tmp_path, token):
    path = tmp_path / "c.csv"
    path.write_text(HEADER + ROW.replace(";b;", f";{token};"))
    population = load_population_file(path, kind="changes", timezone=NY)
    assert pd.isna(population.frame.loc[0, "approver"])


def test_rows_of_bare_delimiters_are_dropped_with_a_note(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(HEADER + ROW + ";;;;;;;;;\n" + ROW.replace("CHG-1", "CHG-2"))
    population = load_population_file(path, kind="changes", timezone=NY)
    assert population.frame["source_row"].tolist() == [2, 4]
    assert any("1 empty row(s)" in n and "3" in n for n in population.notes)


def test_blank_lines_keep_spreadsheet_row_numbers(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(HEADER + ROW + "\n\n" + ROW.replace("CHG-1", "CHG-2"))
    population = load_population_file(path, kind="changes", timezone=NY)
    assert population.frame["source_row"].tolist() == [2, 5]


def test_column_map_and_unknown_canonical(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("deploy_id,jira_key,finished_at,target_env\nd1,CHG-1,2025-08-02T09:00:30Z,production\n")
    population = load_population_file(path, kind="deployments", timezone=NY,
                                      columns={"deployment_id": "deploy_id", "change_id": "jira_key",
                                               "deployed_at": "finished_at", "environment": "target_env"})
    assert population.frame.loc[0, "change_id"] == "CHG-1"
    assert ("change_id", "jira_key") in population.column_sources
    with pytest.raises(PopulationError, match=r"'deploy_time', which is not canonical.*deployment_id, change_id"):
        load_population_file(path, kind="deployments", timezone=NY, columns={"deploy_time": "finished_at"})
    with pytest.raises(PopulationError, match=r"deployed_at = 'finished'.*no such header"):
        load_population_file(path, kind="deployments", timezone=NY, columns={"deployed_at": "finished"})


def test_format_named_for_a_kind_it_does_not_carry(tmp_path):
    path = tmp_path / "okta.csv"
    path.write_text(OKTA)
    with pytest.raises(PopulationError, match="format 'okta' does not carry populations of kind 'changes'"):
        load_population_file(path, kind="changes", format="okta", timezone="UTC")


def test_wrong_container_for_format(tmp_path):
    path = tmp_path / "okta.csv"
    path.write_text(OKTA)
    with pytest.raises(PopulationError, match=r"format 'github' was named, but the file is CSV.*'okta'"):
        load_population_file(path, kind="changes", format="github", timezone="UTC")


def test_training_key_derived_from_user_and_course(tmp_path):
    path = tmp_path / "lms.csv"
    path.write_text("User Email,Course,Due Date,Completion Date\na@x,Sec 2025,2025-10-31,2025-09-06\na@x,New hire,2025-12-03,\n")
    population = load_population_file(path, kind="training", timezone=NY)
    assert population.frame["record_id"].tolist() == ["a@x|Sec 2025", "a@x|New hire"]
    assert pd.isna(population.frame.loc[1, "completed_at"])
