"""Sign-offs and review notes: order, independence, staff roles, "changed after sign-off" raised by each input the
inputs fingerprint covers and cleared by a new sign-off, notes raised, answered and cleared with who and when,
and the workpaper header and Sign-off sheet that show them (read back with openpyxl)."""

from __future__ import annotations

import getpass
import platform
import re
from pathlib import Path

import openpyxl
import pytest

from conftest import agree_to_source, record_walkthrough_of
from workbench import cli
from workbench.engagement import load_engagement
from workbench.errors import ParameterError
from workbench.judgements import choose_seed
from workbench.pipeline import run_control_test
from workbench.receipt import deliver_population
from workbench.results import ResultsStore
from workbench.sample import sample_id
from workbench.signoff import (CHANGED_AFTER_SIGNOFF, answer_note, clear_note, raise_note, read_signoffs, sign_off,
                               signoffs_of)
from workbench.workpaper import write_workpaper
from workbench.workpaper.layout import REGENERATED_NOTE

CONTROL = "BK-01"
ACCOUNT = f"{getpass.getuser()}@{platform.node()}"
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$")


def control_test_of(folder: Path, control_id: str = CONTROL):
    return run_control_test(load_engagement(folder), control_id)


# ---- order, independence, staff ------------------------------------------------------------------------------

def test_preparer_then_reviewer_with_fingerprint_initials_and_os_account(type2_copy):
    test = control_test_of(type2_copy)
    prepared = sign_off(test, "preparer", by="dana reyes")
    assert (prepared.control_id, prepared.role, prepared.by, prepared.name) == (CONTROL, "preparer", "DR", "Dana Reyes")
    assert prepared.staff_role == "preparer" and prepared.os_account == ACCOUNT
    assert prepared.fingerprint == test.fingerprint.sha256 and ISO.match(prepared.at)
    assert dict(prepared.components) == dict(test.fingerprint.components)
    reviewed = sign_off(test, "reviewer", by="ME")
    assert (reviewed.by, reviewed.name, reviewed.staff_role) == ("ME", "Morgan Ellis", "reviewer")
    state = signoffs_of(test)
    assert state.state_text() == f"prepared DR {prepared.date}; reviewed ME {reviewed.date}"
    assert not state.changed_after_signoff
    assert state.header("preparer") == ("Dana Reyes (DR)", prepared.date)


def test_the_reviewer_cannot_sign_before_the_preparer(type2_copy):
    test = control_test_of(type2_copy)
    with pytest.raises(ParameterError, match=rf"reviewer sign-off of {CONTROL}: the preparer has not signed off "
                                             rf"{CONTROL} yet; the preparer signs first"):
        sign_off(test, "reviewer", by="ME")
    assert read_signoffs(test.engagement).signoffs == ()


def test_one_person_cannot_be_both_preparer_and_reviewer(type2_copy):
    test = control_test_of(type2_copy)
    sign_off(test, "preparer", by="SW")            # a manager may prepare ...
    with pytest.raises(ParameterError, match=r"Sam Whitaker \(SW\) signed this control off as preparer on "
                                             r"\d{4}-\d{2}-\d{2}; one person cannot be both preparer and reviewer"):
        sign_off(test, "reviewer", by="SW")        # ... but not review what they prepared
    sign_off(test, "reviewer", by="AC")
    with pytest.raises(ParameterError, match=r"Alex Chen \(AC\) signed this control off as reviewer"):
        sign_off(test, "preparer", by="AC")


@pytest.mark.parametrize("role, by, message", [
    ("preparer", "ME", r"Morgan Ellis \(ME\) is on the staff as reviewer, and preparer sign-off of BK-01 is given "
                       r"by a manager or partner or preparer"),
    ("reviewer", "JO", r"Jamie Okoro \(JO\) is on the staff as preparer, and reviewer sign-off of BK-01 is given by "
                       r"a manager or partner or reviewer"),
    ("preparer", "root", r"preparer sign-off of BK-01: 'root' is not on the staff list of engagement "
                         r"ACME-SOC2-T2-FY26"),
])
def test_someone_not_on_the_staff_or_in_a_role_that_may_not_sign_is_refused(type2_copy, role, by, message):
    test = control_test_of(type2_copy)
    if role == "reviewer":
        sign_off(test, "preparer", by="DR")
    with pytest.raises(ParameterError, match=message):
        sign_off(test, role, by=by)


# ---- changed after sign-off ------------------------------------------------------------------------------------

def _new_population_version(folder: Path) -> None:
    engagement = load_engagement(folder)
    path = folder / "populations" / "aws_backup_jobs_FY26.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    new = folder.parent / "aws_backup_jobs_FY26_v2.csv"
    fields = lines[-1].split(",")
    fields[11] = "1"                                            # the client's re-run: one size corrected
    new.write_text("".join(lines[:-1]) + ",".join(fields), encoding="utf-8")
    deliver_population(engagement, "backups", new, reason="PBC re-run", delivered_by="DR")


def _edit_matrix_row(folder: Path) -> None:
    book = openpyxl.load_workbook(folder / "controls.xlsx")
    sheet = book["Controls"] if "Controls" in book.sheetnames else book.worksheets[0]
    header = [c.value for c in sheet[1]]
    column = next(i for i, name in enumerate(header, start=1) if str(name).strip().lower() in
                  ("description", "control activity", "control description"))
    row = next(r for r in range(2, sheet.max_row + 1) if sheet.cell(r, 1).value == CONTROL)
    sheet.cell(row, column).value = str(sheet.cell(row, column).value) + " (edited)"
    book.save(folder / "controls.xlsx")


def _edit_policy(folder: Path) -> None:
    toml = folder / "engagement.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("confidence = 0.90", "confidence = 0.95", 1),
                    encoding="utf-8")


def _choose_seed(folder: Path) -> None:
    engagement = load_engagement(folder)
    choose_seed(engagement, sample_id(engagement, engagement.control(CONTROL)), 4242, by="DR", reason="redrawn")


def _record_result(folder: Path) -> None:
    engagement = load_engagement(folder)
    key = control_test_of(folder).selection.keys[0]
    agree_to_source(engagement, CONTROL, [key])


def _record_evaluation(folder: Path) -> None:
    record_walkthrough_of(load_engagement(folder), CONTROL, instance="the first backup job of July")


@pytest.mark.parametrize("change, component", [
    (_new_population_version, "populations"),
    (_edit_matrix_row, "control"),
    (_edit_policy, "policy"),
    (_choose_seed, "selection"),
    (_record_result, "results"),
    (_record_evaluation, "evaluations"),
])
def test_a_change_after_sign_off_shows_until_signed_again(type2_copy, tmp_path, change, component):
    before = control_test_of(type2_copy)
    prepared = sign_off(before, "preparer", by="DR")
    sign_off(before, "reviewer", by="ME")
    change(type2_copy)
    after = control_test_of(type2_copy)
    state = signoffs_of(after)
    assert state.changed_after_signoff
    assert component in state.changed("preparer") and component in state.changed("reviewer")
    assert f"{CHANGED_AFTER_SIGNOFF} (" in state.state_text() and component in state.state_text()
    assert state.header("preparer")[0].startswith(f"Dana Reyes (DR) — {CHANGED_AFTER_SIGNOFF} (")
    with pytest.raises(ParameterError, match=r"the control changed after the preparer's sign-off .*the preparer "
                                             r"signs again first"):
        sign_off(after, "reviewer", by="ME")
    path = write_workpaper(tmp_path / "out", after)
    sheet = openpyxl.load_workbook(path)["Sign-off"]
    assert sheet["B11"].value.startswith(f"prepared DR {prepared.date}; reviewed ME")
    assert CHANGED_AFTER_SIGNOFF in sheet["B11"].value

    sign_off(after, "preparer", by="DR")
    assert signoffs_of(after).changed("preparer") == () and signoffs_of(after).changed("reviewer")
    sign_off(after, "reviewer", by="ME")
    cleared = signoffs_of(after)
    assert not cleared.changed_after_signoff and CHANGED_AFTER_SIGNOFF not in cleared.state_text()
    assert len(cleared.history) == 4


# ---- review notes --------------------------------------------------------------------------------------------

def test_notes_are_raised_answered_and_cleared_with_who_and_when(type2_copy):
    engagement = load_engagement(type2_copy)
    first = raise_note(engagement, CONTROL, by="ME", text="Tie the sample to the backup console export.")
    second = raise_note(engagement, CONTROL, by="SW", text="Say why the failed job of 2026-02-03 is isolated.")
    other = raise_note(engagement, "CM-01", by="ME", text="Reference the CAB minutes.")
    assert (first.number, second.number, other.number) == (1, 2, 1)
    assert (first.status, first.raised_by, first.answer) == ("open", "ME", None) and ISO.match(first.raised_at)
    answered = answer_note(engagement, CONTROL, 1, by="DR", text="Tied: see BK-01.4, column Evidence.")
    assert (answered.status, answered.answer, answered.answered_by) == ("answered", "Tied: see BK-01.4, column "
                                                                                    "Evidence.", "DR")
    cleared = clear_note(engagement, CONTROL, 1, by="ME")
    assert (cleared.status, cleared.cleared_by, cleared.raised_by, cleared.answered_by) == ("cleared", "ME", "ME",
                                                                                           "DR")
    assert ISO.match(cleared.cleared_at or "") and cleared.answered_at <= cleared.cleared_at
    state = read_signoffs(engagement)
    assert [(n.control_id, n.number, n.status) for n in state.open_notes] == [(CONTROL, 2, "open"), ("CM-01", 1, "open")]
    with ResultsStore.open(engagement) as store:
        trail = [(e.who, e.value["action"]) for e in store.history("review_note", control_id=CONTROL, number=1)]
    assert trail == [("ME", "raise"), ("DR", "answer"), ("ME", "clear")]


def test_note_rules(type2_copy):
    engagement = load_engagement(type2_copy)
    with pytest.raises(ParameterError, match=r"Dana Reyes \(DR\) is on the staff as preparer, and review note on "
                                             r"BK-01 is given by a manager or partner or reviewer"):
        raise_note(engagement, CONTROL, by="DR", text="a preparer does not raise review notes")
    with pytest.raises(ParameterError, match=r"review note 3 of BK-01: there is no such note; the notes of BK-01 are "
                                             r"none yet"):
        answer_note(engagement, CONTROL, 3, by="DR", text="?")
    raise_note(engagement, CONTROL, by="ME", text="Check the retention setting.")
    clear_note(engagement, CONTROL, 1, by="ME")
    with pytest.raises(ParameterError, match=r"clearing review note 1 of BK-01: already cleared by ME on"):
        clear_note(engagement, CONTROL, 1, by="ME")
    with pytest.raises(ParameterError, match=r"the note was cleared by ME on .*raise a new note instead"):
        answer_note(engagement, CONTROL, 1, by="DR", text="late answer")


# ---- the workbooks --------------------------------------------------------------------------------------------

def test_every_sheet_header_shows_the_real_sign_offs(type2_copy, tmp_path):
    test = control_test_of(type2_copy)
    path = write_workpaper(tmp_path / "unsigned", test)
    book = openpyxl.load_workbook(path)
    for sheet in book.worksheets:
        assert [sheet[c].value for c in ("A6", "B6", "C6", "A7", "B7", "C7")] == \
            ["Prepared by", "not signed", "Date", "Reviewed by", "not signed", "Date"], sheet.title
        assert sheet["D6"].value is None and sheet["D7"].value is None
        assert sheet["A8"].value == "Generated (UTC)" and re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$", sheet["B8"].value)
        assert sheet["C8"].value == "Workbench version" and sheet["D8"].value
        assert sheet["A9"].value == REGENERATED_NOTE
    prepared = sign_off(test, "preparer", by="DR")
    reviewed = sign_off(test, "reviewer", by="ME")
    book = openpyxl.load_workbook(write_workpaper(tmp_path / "signed", test))
    for sheet in book.worksheets:
        assert [sheet[c].value for c in ("B6", "D6", "B7", "D7")] == \
            ["Dana Reyes (DR)", prepared.date, "Morgan Ellis (ME)", reviewed.date], sheet.title
    signoff = book["Sign-off"]
    rows = [[c.value for c in row] for row in signoff.iter_rows(min_row=11)]
    table = next(i for i, row in enumerate(rows) if row[0] == "Role")
    assert rows[table][:7] == ["Role", "Signed by", "Staff role", "OS account@host", "When (UTC)",
                               "Inputs fingerprint signed", "State"]
    assert rows[table + 1][:7] == ["reviewer", "Morgan Ellis (ME)", "reviewer", ACCOUNT, reviewed.at,
                                   test.fingerprint.sha256, "current"]
    assert rows[table + 2][:7] == ["preparer", "Dana Reyes (DR)", "preparer", ACCOUNT, prepared.at,
                                   test.fingerprint.sha256, "current"]
    lead = {row[0]: row[1] for row in ([c.value for c in r] for r in book["Lead"].iter_rows(min_row=11)) if row[0]}
    assert lead["Sign-off"] == f"prepared DR {prepared.date}; reviewed ME {reviewed.date}"
    assert lead["Open review notes"] == 0


def test_the_sign_off_sheet_lists_the_review_notes(type2_copy, tmp_path):
    engagement = load_engagement(type2_copy)
    raise_note(engagement, CONTROL, by="ME", text="=HYPERLINK(\"x\") is text, not a formula")
    answer_note(engagement, CONTROL, 1, by="JO", text="Noted.")
    book = openpyxl.load_workbook(write_workpaper(tmp_path, control_test_of(type2_copy)))
    rows = [[c.value for c in row] for row in book["Sign-off"].iter_rows(min_row=11)]
    header = next(i for i, row in enumerate(rows) if row[0] == "Control")
    assert rows[header][:8] == ["Control", "No.", "Status", "Review note", "Raised (by, UTC)", "Answer",
                                "Answered (by, UTC)", "Cleared (by, UTC)"]
    note = rows[header + 1]
    assert note[:4] == [CONTROL, 1, "answered", "=HYPERLINK(\"x\") is text, not a formula"]
    assert note[4].startswith("ME ") and note[5] == "Noted." and note[6].startswith("JO ") and note[7] is None
    cell = book["Sign-off"].cell(row=11 + header + 1, column=4)
    assert cell.data_type == "s"


# ---- the command line -----------------------------------------------------------------------------------------

def test_cli_signoff_and_notes(type2_copy, capsys):
    folder = str(type2_copy)
    assert cli.main(["signoff", folder, "--control", CONTROL, "--role", "reviewer", "--by", "ME"]) == 2
    assert "the preparer has not signed off BK-01 yet" in capsys.readouterr().err
    assert cli.main(["signoff", folder, "--control", CONTROL, "--role", "preparer", "--by", "DR"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{CONTROL}: preparer sign-off by Dana Reyes (DR) at ") and f"(OS account {ACCOUNT})" in out
    assert cli.main(["note", folder, "--control", CONTROL, "--by", "ME", "--text", "Why n = 25?"]) == 0
    assert capsys.readouterr().out.startswith(f"{CONTROL} review note 1 raised by ME at ")
    assert cli.main(["note", folder, "--control", CONTROL, "--by", "DR", "--answer", "1", "--text", "Daily."]) == 0
    assert cli.main(["note", folder, "--control", CONTROL, "--by", "ME", "--clear", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"{CONTROL} review note 1 cleared by ME at ")
    assert cli.main(["signoff", folder, "--control", CONTROL, "--role", "preparer", "--by", "DR", "--reason",
                     "x"]) == 2
    assert "--reason goes with --addition" in capsys.readouterr().err
