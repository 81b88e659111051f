"""Section 4 by criterion, the criteria no control addresses, and the manager's judgement per criterion.

Expected values: the demo's control matrix (``sample_data/acme-type2/controls.xlsx``) leaves ten of the 38
criteria of security, availability and confidentiality without a control; its engagement.toml points CC6.4 and
CC6.5 to the CSOCs of Amazon Web Services (carve-out), so eight remain flagged.
"""

from __future__ import annotations

import pytest
from openpyxl import load_workbook

from workbench import cli
from workbench.engagement import load_engagement
from workbench.errors import ResultsError
from workbench.section4 import criterion_judgements, record_criterion_judgement, section4
from workbench.workpaper import write_summary

UNCOVERED = ("CC1.3", "CC1.5", "CC2.1", "CC2.3", "CC5.1", "CC5.2", "CC6.6", "CC6.8")
WITH_CSOCS = ("CC6.4", "CC6.5")


def _rows(engagement, **statuses):
    rows = []
    for control in engagement.controls:
        status = statuses.get(control.id.replace("-", "_"), "no_exceptions_noted")
        rows.append({"control_id": control.id, "criteria": list(control.criteria), "status": status,
                     "conclusion_status": status, "test_performed": f"Inspected {control.id}.",
                     "result_text": "No exceptions noted." if status == "no_exceptions_noted" else
                     f"For 1 of 25 items of {control.id}, a deviation was noted.",
                     "exceptions_distinct": 0 if status == "no_exceptions_noted" else 1})
    return rows


def test_criteria_are_grouped_and_the_uncovered_flagged(demo_type2):
    engagement = load_engagement(demo_type2)
    section = section4(engagement, _rows(engagement), judgements={})
    assert len(section.criteria) == 38
    assert section.uncovered == UNCOVERED
    lines = {line.criterion: line for line in section.criteria}
    for criterion in WITH_CSOCS:
        assert lines[criterion].subservice == ("Amazon Web Services",)
        assert lines[criterion].proposed == "achieved_with_csocs"
    assert lines["CC1.3"].proposed == "no_control"
    # a control addressing several criteria appears under each
    several = next(c for c in engagement.controls if len(c.criteria) > 1)
    for criterion in several.criteria:
        assert several.id in [c.control_id for c in lines[criterion].controls]
    assert lines["CC6.1"].cuecs == ("CUEC-02",)
    assert lines["CC8.1"].proposed == "achieved"


def test_a_failed_control_proposes_not_achieved_and_open_ones_pending(demo_type2):
    engagement = load_engagement(demo_type2)
    section = section4(engagement, _rows(engagement, CM_01="not_operating_effectively", AC_01="testing_in_progress"),
                       judgements={})
    lines = {line.criterion: line for line in section.criteria}
    assert lines["CC8.1"].proposed == "not_achieved"
    assert lines["CC8.1"].why.startswith("CM-01 did not meet its control objective (operating effectiveness)")
    assert lines["CC8.1"].deviations == 1
    ac01 = engagement.control("AC-01").criteria[0]
    assert lines[ac01].proposed in ("pending", "not_achieved")
    assert section.opinion.startswith("Not yet proposed: 38 of 38 criteria await the manager's judgement")


def test_only_a_manager_or_partner_records_a_criterion_and_no_needs_a_reason(type2_copy):
    engagement = load_engagement(type2_copy)
    with pytest.raises(ResultsError, match="DR"):
        record_criterion_judgement(engagement, "CC8.1", achieved=True, by="DR")          # a preparer
    with pytest.raises(ResultsError, match="give --reason"):
        record_criterion_judgement(engagement, "CC8.1", achieved=False, by="SW")
    with pytest.raises(ResultsError, match="not in scope"):
        record_criterion_judgement(engagement, "PI1.1", achieved=True, by="SW")
    judged = record_criterion_judgement(engagement, "cc8.1", achieved=False, by="SW", proposed="not_achieved",
                                        reason="CM-01 systematic: approvals missing all year")
    assert (judged.criterion, judged.achieved, judged.by, judged.proposed) == ("CC8.1", False, "SW", "not_achieved")
    assert criterion_judgements(engagement)["CC8.1"].reason == "CM-01 systematic: approvals missing all year"
    section = section4(engagement, _rows(engagement))
    assert section.opinion.startswith("Not yet proposed: 37 of 38 criteria await the manager's judgement")
    assert section.opinion.endswith("; recorded not achieved so far: CC8.1.")
    everything = {line.criterion: record_criterion_judgement(engagement, line.criterion, achieved=True, by="AC",
                                                             reason="covered")
                  for line in section.criteria if line.criterion != "CC8.1"}
    assert len(everything) == 37
    assert section4(engagement, _rows(engagement)).opinion == (
        "Modified: the controls did not achieve criteria CC8.1 (as the manager recorded).")


def test_the_criterion_command(type2_copy, capsys):
    assert cli.main(["criterion", str(type2_copy), "--criterion", "CC6.4", "--achieved", "yes", "--by", "SW"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("Recorded CC6.4: achieved, by SW at ")
    assert ("(the tool proposed: achieved, with the subservice organization's csocs: no control of the matrix "
            "addresses it; the CSOCs of Amazon Web Services do (carve-out: the user entity relies on them))") in printed
    assert cli.main(["criterion", str(type2_copy), "--criterion", "CC6.4", "--achieved", "yes", "--by", "DR"]) == 2
    assert "DR" in capsys.readouterr().err


def test_the_summary_sheets(demo_type2, tmp_path):
    engagement = load_engagement(demo_type2)
    path = write_summary(tmp_path, engagement, _rows(engagement), {"engagement": engagement.engagement_id})
    book = load_workbook(path)
    assert book.sheetnames == ["Summary", "Review notes", "Section 4", "Criteria", "Run"]
    ws = book["Section 4"]
    values = [[c for c in row] for row in ws.iter_rows(min_row=9, values_only=True)]
    flat = {row[0]: row[1] for row in values if row[0]}
    assert flat["Criteria no control addresses"] == "8: " + ", ".join(UNCOVERED)
    assert ["CC1.3", None, "NO CONTROL ADDRESSES THIS CRITERION", None, None] in [row[:5] for row in values]
    assert ["CC6.4", None, "No control of the matrix; addressed by the CSOCs of Amazon Web Services (see Criteria)",
            None, None] in [row[:5] for row in values]
    cm01 = next(row for row in values if row[1] == "CM-01")
    assert cm01[:5] == ["CC8.1", "CM-01", engagement.control("CM-01").description, "Inspected CM-01.",
                        "No exceptions noted."]
    coverage = book["Criteria"]
    rows = [row for row in coverage.iter_rows(values_only=True)]
    cc13 = next(row for row in rows if row[0] == "CC1.3")
    assert cc13[6] == "FLAGGED: no control addresses it"
    aws = next(row for row in rows if row[0] == "Amazon Web Services")
    assert aws[2] == "carve-out" and aws[4] == "CC6.4; CC6.5; A1.2"
    assert any(row[0] == "CUEC-01" and row[2] == "CC6.2; CC6.3" for row in rows)
    assert any(row[0] == "None recorded." for row in rows)          # open review notes (none yet)


def test_a_type1_section4_reports_design_and_implementation_as_of_the_date(demo_type1):
    engagement = load_engagement(demo_type1)
    rows = _rows(engagement)
    for row in rows:
        row["status"] = row["conclusion_status"] = "suitably_designed_and_implemented"
    section = section4(engagement, rows, judgements={})
    cm01 = next(c for line in section.criteria for c in line.controls if c.control_id == "CM-01")
    assert cm01.conclusion == f"Suitably designed and implemented as of {engagement.as_of}."
    assert {line.criterion: line.proposed for line in section.criteria}["CC8.1"] == "achieved"
