"""The testing template round trip: ``workbench template`` -> filled with openpyxl -> ``workbench import-results``.

Every kind of bad template is refused with every problem at its sheet, row and column, and nothing is written
(the results store's entries are counted before and after). The demo engagements ship filled templates that
``workbench run`` imports before the notebooks run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import openpyxl
import pytest

from conftest import SAMPLE_DATA, copy_engagement
from workbench import cli
from workbench.engagement import load_engagement
from workbench.pipeline import run_control_test
from workbench.results import ResultsStore, read_results

CONTROL = "CM-02"
FIRST = 7                  # the first item's row on the Testing sheet
RESULT, REF, DATE, COMMENT = "H", "I", "J", "K"     # CM-02's one manual attribute, testing_evidenced
HEADER = "Testing evidenced"


@pytest.fixture
def engagement_dir(tmp_path) -> Path:
    """A private copy of the demo Type 2 engagement, without its filled templates (nothing is imported)."""
    return copy_engagement(SAMPLE_DATA / "acme-type2", tmp_path / "acme-type2")


def export(folder: Path, out: Path, control: str = CONTROL, *extra: str) -> Path:
    code = cli.main(["template", str(folder), "--control", control, "--out", str(out), *extra])
    assert code == 0
    return out


def entries(folder: Path) -> int:
    """Entries in the results store (every write appends one)."""
    with ResultsStore.open(folder) as store:
        return len(store.history())


def deployed(ws, row: int) -> dt.date:
    return dt.date.fromisoformat(str(ws[f"C{row}"].value)[:10])


def fill_all(path: Path, *, tester: str | None = "DR", fail_row: int | None = 9) -> dict[str, tuple]:
    """Fill every item of a CM-02 template as a tester would; return key -> (outcome, ref, date, comment)."""
    book = openpyxl.load_workbook(path)
    ws = book["Testing"]
    ws["B4"] = tester
    expected = {}
    for row in range(FIRST, ws.max_row + 1):
        key = ws[f"B{row}"].value
        day = deployed(ws, row) - dt.timedelta(days=1)
        outcome = "Fail" if row == fail_row else ("pass" if row % 2 else "PASS")
        ws[f"{RESULT}{row}"] = outcome
        ws[f"{REF}{row}"] = f"CI run {row} for {key}"
        ws[f"{DATE}{row}"] = dt.datetime.combine(day, dt.time())
        comment = "no test stage in the pipeline run" if row == fail_row else None
        ws[f"{COMMENT}{row}"] = comment
        expected[key] = (outcome.lower(), f"CI run {row} for {key}", day.isoformat(), comment)
    book.save(path)
    return expected


def edit(path: Path, **cells) -> None:
    """Set cells of the Testing sheet (``H7="Passed"``)."""
    book = openpyxl.load_workbook(path)
    for ref, value in cells.items():
        book["Testing"][ref] = value
    book.save(path)


def import_(folder: Path, path: Path, capsys, tester: str = "DR", *extra: str) -> tuple[int, str, str]:
    capsys.readouterr()     # what came before (the export's line)
    code = cli.main(["import-results", str(folder), str(path), "--tester", tester, *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def refused(folder: Path, path: Path, capsys, tester: str = "DR", *extra: str) -> str:
    """Import a bad template: exit 1, nothing written; the problem list."""
    before = entries(folder)
    code, out, err = import_(folder, path, capsys, tester, *extra)
    assert code == 1, out + err
    assert "Traceback" not in err
    assert entries(folder) == before
    return err


def rebind(path: Path, **values: str) -> None:
    """Change binding values and recompute its checksum: a template bound to another selection."""
    book = openpyxl.load_workbook(path)
    ws = book["Binding"]
    rows = {str(a.value): b for a, b in ws.iter_rows(max_col=2)}
    for name, value in values.items():
        rows[name].value = value
    plain = {name: "" if cell.value is None else str(cell.value) for name, cell in rows.items() if name != "checksum"}
    rows["checksum"].value = hashlib.sha256(json.dumps(plain, sort_keys=True, ensure_ascii=False)
                                            .encode("utf-8")).hexdigest()
    book.save(path)


# ---------------------------------------------------------------------------------------------- the layout
def test_the_template_lays_out_the_selection_and_binds_it(engagement_dir, tmp_path):
    path = export(engagement_dir, tmp_path / "CM-02.xlsx")
    test = run_control_test(load_engagement(engagement_dir), CONTROL)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Testing", "Exception evaluations", "Walkthrough", "Instructions", "Binding"]
    ws = book["Testing"]
    assert [c.value for c in ws[6]] == ["Sample no", "Item key (change_id)", "Deployed at", "Created at",
                                        "Approved at", "Author", "Approver", "Testing evidenced: Result",
                                        "Evidence reference", "Evidence date", "Comment"]
    assert [ws[f"B{r}"].value for r in range(FIRST, ws.max_row + 1)] == list(test.selection.keys)
    assert ws["A7"].value == "1" and ws["B7"].protection.locked and not ws["H7"].protection.locked
    assert ws.protection.sheet and ws["B7"].fill.fgColor.rgb.endswith("D9D9D9")
    validations = {str(v.sqref): (v.type, v.formula1) for v in ws.data_validations.dataValidation}
    assert validations == {"H7:H28": ("list", '"Pass,Fail,N/A"'), "J7:J28": ("date", "DATE(2000,1,1)")}
    binding = {a: b for a, b in book["Binding"].iter_rows(values_only=True)}
    assert book["Binding"].sheet_state == "veryHidden" and book["Binding"].protection.sheet
    part = test.selection.parts[0]
    assert {k: binding[k] for k in ("engagement_id", "control_id", "rounds", "seeds", "key_set_sha256", "items",
                                    "attribute:testing_evidenced")} == {
        "engagement_id": "ACME-SOC2-T2-FY26", "control_id": "CM-02", "rounds": "period",
        "seeds": f"period={part.seed}", "key_set_sha256": f"period={part.key_set_sha256}", "items": "22",
        "attribute:testing_evidenced": "H:I:J:K"}
    assert binding["population_sha256"] == f"changes={test.population.sha256}"
    assert binding["selected_keys_sha256"] == hashlib.sha256("\n".join(test.selection.keys).encode()).hexdigest()
    assert binding["workbench_version"] == cli._version()


def test_client_text_is_written_as_text_never_as_a_formula(engagement_dir, tmp_path):
    from workbench.template import TemplateFill, write_template

    test = run_control_test(load_engagement(engagement_dir), CONTROL)
    key = test.selection.keys[0]
    from workbench.template import FilledResult
    path = write_template(test, tmp_path / "t.xlsx", fill=TemplateFill(
        results={(key, "testing_evidenced"): FilledResult("Pass", "=HYPERLINK(\"http://x\")", None, "+1 ok")}))
    ws = openpyxl.load_workbook(path)["Testing"]
    assert ws["I7"].value == '=HYPERLINK("http://x")' and ws["I7"].data_type == "s"
    assert ws["K7"].data_type == "s"


# ---------------------------------------------------------------------------------------------- round trip
def test_round_trip_records_exactly_the_filled_results(engagement_dir, tmp_path, capsys):
    path = export(engagement_dir, tmp_path / "CM-02.xlsx")
    expected = fill_all(path)
    code, out, err = import_(engagement_dir, path, capsys)
    assert (code, err) == (0, "")
    assert out.strip() == "CM-02.xlsx: CM-02: 22 result(s) recorded, 0 unchanged, 0 blank (not yet tested); tester DR."
    stored = read_results(engagement_dir, CONTROL)
    assert {r["item_key"]: (r["outcome"], r["evidence_ref"], r["evidence_date"], r["comment"])
            for r in stored.to_dict("records")} == expected
    assert set(stored["tested_by"]) == {"DR"} and set(stored["attribute_id"]) == {"testing_evidenced"}
    # importing the same file again writes nothing
    before = entries(engagement_dir)
    code, out, _ = import_(engagement_dir, path, capsys)
    assert code == 0 and "0 result(s) recorded, 22 unchanged, 0 blank" in out
    assert entries(engagement_dir) == before


def test_blank_rows_are_not_yet_tested_and_a_re_export_is_prefilled(engagement_dir, tmp_path, capsys):
    path = export(engagement_dir, tmp_path / "CM-02.xlsx")
    book = openpyxl.load_workbook(path)
    ws = book["Testing"]
    ws["B4"] = "jo"
    for row in (FIRST, FIRST + 1):
        ws[f"H{row}"], ws[f"I{row}"] = "Pass", f"CI run {row}"
        ws[f"J{row}"] = deployed(ws, row) - dt.timedelta(days=2)
    keys = [ws[f"B{r}"].value for r in (FIRST, FIRST + 1)]
    book.save(path)
    code, out, _ = import_(engagement_dir, path, capsys, "JO")
    assert code == 0 and "2 result(s) recorded, 0 unchanged, 20 blank (not yet tested); tester JO" in out
    again = export(engagement_dir, tmp_path / "again.xlsx")
    ws = openpyxl.load_workbook(again)["Testing"]
    assert [(ws[f"B{r}"].value, ws[f"H{r}"].value, ws[f"I{r}"].value, ws[f"J{r}"].value.date()) for r in (7, 8)] == [
        (keys[0], "Pass", "CI run 7", deployed(ws, 7) - dt.timedelta(days=2)),
        (keys[1], "Pass", "CI run 8", deployed(ws, 8) - dt.timedelta(days=2))]
    assert ws["H9"].value is None and ws["I9"].value is None
    # the re-exported template, filled further, imports the rest
    fill_all(again, tester="JO", fail_row=None)
    code, out, _ = import_(engagement_dir, again, capsys, "JO")
    assert code == 0 and "22 result(s) recorded" in out    # the first two changed (other references and dates)


def test_evaluations_and_walkthrough_are_recorded_in_the_same_import(engagement_dir, tmp_path, capsys):
    path = export(engagement_dir, tmp_path / "CM-02.xlsx")
    fill_all(path)
    book = openpyxl.load_workbook(path)
    failed = book["Testing"]["B9"].value
    ev = book["Exception evaluations"]
    assert [c.value for c in ev[4]][:6] == ["Item key", "Found by", "Attribute(s)", "What is wrong", "Type",
                                            "Isolated or systematic"]
    assert ev["A5"].value is None      # CM-02 has no census exception: the rows are for what the template fails
    for ref, value in {"A5": failed, "E5": "Operating", "F5": "isolated", "G5": "one run skipped",
                       "H5": "pipeline override", "I5": "none: CC8.1 still met"}.items():
        ev[ref] = value
    wt = book["Walkthrough"]
    for row, value in zip(range(4, 10), ["CHG-1130", "Priya Shah", dt.datetime(2026, 7, 14), "the ticket",
                                         "the pipeline", "suitably designed"]):
        wt[f"B{row}"] = value
    book.save(path)
    code, out, _ = import_(engagement_dir, path, capsys)
    assert code == 0 and "1 exception evaluation(s), the walkthrough" in out
    engagement = load_engagement(engagement_dir)
    test = run_control_test(engagement, CONTROL)
    assert test.evaluation.exception_items == (failed,)
    evaluation = test.evaluation.evaluations[failed]
    assert (evaluation.type, evaluation.extent, evaluation.why, evaluation.by) == (
        "operating", "isolated", "one run skipped", "DR")
    assert test.evaluation.walkthrough is not None and test.evaluation.walkthrough.inquiry_date == "2026-07-14"
    assert test.evaluation.pending == ()


# ---------------------------------------------------------------------------------------------- bad templates
@pytest.fixture
def filled(engagement_dir, tmp_path) -> Path:
    path = export(engagement_dir, tmp_path / "CM-02.xlsx")
    fill_all(path)
    entries(engagement_dir)      # the store exists (populations pinned by the export)
    return path


def test_a_value_outside_the_list_is_refused_any_case_of_pass_is_not(engagement_dir, filled, capsys):
    edit(filled, H7="Passed", H8="pAsS")
    err = refused(engagement_dir, filled, capsys)
    key = openpyxl.load_workbook(filled)["Testing"]["B7"].value
    assert err.splitlines()[1:] == [
        f"  Testing!H7 ({HEADER}: Result): item {key}: 'Passed' is not a result; choose Pass, Fail or N/A."]
    assert err.startswith("workbench import-results: CM-02.xlsx: 1 problem; nothing was imported.")


def test_a_missing_item_row_is_refused(engagement_dir, filled, capsys):
    book = openpyxl.load_workbook(filled)
    key = book["Testing"]["B9"].value
    book["Testing"].delete_rows(9)
    book.save(filled)
    err = refused(engagement_dir, filled, capsys)
    assert f"  Testing!B9 (Item key (change_id)): item {key} (sample no 3) is missing: its row was deleted or its " \
           f"key changed." in err


def test_an_extra_item_is_refused(engagement_dir, filled, capsys):
    edit(filled, B29="CHG-9999", H29="Pass", I29="CI run")
    err = refused(engagement_dir, filled, capsys)
    assert err.splitlines()[1:] == ["  Testing!B29 (Item key (change_id)): item key 'CHG-9999' is not in the "
                                    "selection: an extra row or a changed key cell. Keep the rows as exported (one "
                                    "per selected item) and delete added rows."]


def test_a_changed_key_cell_and_a_changed_key_field_are_refused(engagement_dir, filled, capsys):
    book = openpyxl.load_workbook(filled)
    ws = book["Testing"]
    key, author = ws["B7"].value, ws["F8"].value
    ws["B7"], ws["F8"] = "CHG-0001", "someone else"
    book.save(filled)
    err = refused(engagement_dir, filled, capsys)
    lines = err.splitlines()[1:]
    assert lines[0].startswith("  Testing!B7 (Item key (change_id)): item key 'CHG-0001' is not in the selection")
    assert lines[1] == (f"  Testing!F8 (Author): item {ws['B8'].value}: the cell reads 'someone else', but the "
                        f"selection has {author!r}; the grey cells are the selection and must not be edited.")
    assert lines[2].startswith(f"  Testing!B7 (Item key (change_id)): item {key} (sample no 1) is missing")
    assert len(lines) == 3


def test_a_template_of_another_seed_is_refused(engagement_dir, filled, capsys):
    from workbench.judgements import choose_seed

    engagement = load_engagement(engagement_dir)
    old = run_control_test(engagement, CONTROL).selection.seed
    choose_seed(engagement, run_control_test(engagement, CONTROL).selection.sample_id, 424242, by="DR",
                reason="drawn again for the test")
    err = refused(engagement_dir, filled, capsys)
    lines = err.splitlines()[1:]
    assert lines[0] == (f"  Binding!B6 (seeds): the template was exported for seed(s) 'period={old}'; the control's "
                        f"current selection has 'period=424242'. It is a template of another selection: export a new "
                        f"one with workbench template CM-02 and copy your entries into it.")
    assert lines[1].startswith("  Binding!B9 (selected_keys_sha256): the template was exported for selected items")


def test_a_template_of_another_round_engagement_or_control_is_refused(engagement_dir, filled, capsys, demo_type1):
    rebind(filled, rounds="2026-H1")
    err = refused(engagement_dir, filled, capsys)
    assert err.splitlines()[1:] == ["  Binding!B5 (rounds): the template was exported for round(s) '2026-H1'; "
                                    "control CM-02 is tested in period: export a new template."]
    rebind(filled, rounds="period")
    # the Type 2 template imported into the Type 1 engagement (nothing is read from it but the binding)
    code, out, err = import_(demo_type1, filled, capsys)
    assert code == 1 and err.splitlines()[1:] == [
        "  Binding!B2 (engagement_id): the template belongs to engagement 'ACME-SOC2-T2-FY26', not "
        "'ACME-SOC2-T1-FY26'; import it into its own engagement, or export a template of this one."]
    err = refused(engagement_dir, filled, capsys, "DR", "--control", "CM-01")
    assert err.splitlines()[1:] == ["  Binding!B3 (control_id): the template is of control 'CM-02', not 'CM-01'; "
                                    "import the template of CM-01 (workbench template ... --control CM-01)."]


def test_a_deleted_or_edited_binding_sheet_is_refused(engagement_dir, filled, capsys):
    book = openpyxl.load_workbook(filled)
    book["Binding"]["B6"] = "period=1"
    book.save(filled)
    err = refused(engagement_dir, filled, capsys)
    assert err.splitlines()[1].startswith("  Binding: the Binding sheet was edited (its checksum does not match its "
                                          "values)")
    del book["Binding"]
    book.save(filled)
    err = refused(engagement_dir, filled, capsys)
    assert err.splitlines()[1].startswith("  Binding: the Binding sheet was removed")


def test_a_tester_not_on_the_staff_or_the_reviewer_is_refused(engagement_dir, filled, capsys):
    err = refused(engagement_dir, filled, capsys, "ZZ")
    lines = err.splitlines()[1:]
    assert len(lines) == 1 and lines[0].startswith("  Testing!B4 (Tested by (initials)): 'ZZ' is not on the staff "
                                                   "list of engagement ACME-SOC2-T2-FY26")
    edit(filled, B4="ME")
    err = refused(engagement_dir, filled, capsys, "ME")
    lines = err.splitlines()[1:]
    assert len(lines) == 1 and lines[0].startswith("  Testing!B4 (Tested by (initials)): ")
    assert "Morgan Ellis (ME) is the engagement's reviewer" in lines[0]


def test_evidence_missing_for_a_pass_and_a_date_that_is_not_a_date_are_refused(engagement_dir, filled, capsys):
    edit(filled, I7=None, J8="last Tuesday")
    ws = openpyxl.load_workbook(filled)["Testing"]
    err = refused(engagement_dir, filled, capsys)
    lines = err.splitlines()[1:]
    assert lines[0].startswith(f"  Testing!I7 ({HEADER}: Evidence reference): item {ws['B7'].value}: ")
    assert "a pass needs an evidence reference" in lines[0]
    assert lines[1] == (f"  Testing!J8 ({HEADER}: Evidence date): item {ws['B8'].value}: 'last Tuesday' is not a "
                        f"date; enter the date the evidence shows as a date (YYYY-MM-DD).")
    assert len(lines) == 2


def test_every_problem_is_reported_at_once(engagement_dir, filled, capsys):
    edit(filled, H7="maybe", I8=None, J9="soon", H10=None, B29="CHG-9999")
    book = openpyxl.load_workbook(filled)
    book["Exception evaluations"]["A5"] = "CHG-0000"
    book["Exception evaluations"]["E5"] = "bad luck"
    book["Walkthrough"]["B4"] = "CHG-1130"
    book.save(filled)
    err = refused(engagement_dir, filled, capsys)
    locations = [line.split(":")[0].strip() for line in err.splitlines()[1:]]
    assert locations == ["Testing!B29 (Item key (change_id))", f"Testing!H7 ({HEADER}", f"Testing!I8 ({HEADER}",
                         f"Testing!J9 ({HEADER}", f"Testing!H10 ({HEADER}", "Exception evaluations!A5 (Item key)",
                         "Walkthrough!B5 (Inquiry of)", "Walkthrough!B6 (Inquiry date)", "Walkthrough!B7 (Inspected)",
                         "Walkthrough!B8 (Observed)", "Walkthrough!B9 (Design evaluation)"]
    assert err.startswith("workbench import-results: CM-02.xlsx: 11 problems; nothing was imported.")


def test_an_evaluation_with_a_bad_choice_is_refused_at_its_cell(engagement_dir, filled, capsys):
    book = openpyxl.load_workbook(filled)
    ev = book["Exception evaluations"]
    ev["A5"], ev["E5"], ev["F5"] = book["Testing"]["B9"].value, "bad luck", "isolated"
    book.save(filled)
    err = refused(engagement_dir, filled, capsys)
    lines = err.splitlines()[1:]
    assert lines[0] == (f"  Exception evaluations!E5 (Type): item {ev['A5'].value}: 'bad luck' is not one of design, "
                        f"operating, missing evidence, timing.")
    assert [line.split(":")[0] for line in lines[1:]] == [
        "  Exception evaluations!G5 (Why isolated or systematic)", "  Exception evaluations!H5 (Root cause)",
        "  Exception evaluations!I5 (Effect on the criteria)"]


@pytest.mark.parametrize("kind", ["text", "encrypted", "open in Excel", "missing"])
def test_a_file_that_is_not_a_readable_template_is_refused(engagement_dir, tmp_path, capsys, kind):
    path = tmp_path / "results.xlsx"
    if kind == "text":
        path.write_text("item,result\nCHG-1,pass\n")
    elif kind == "encrypted":
        path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    elif kind == "open in Excel":
        export(engagement_dir, path)
        (tmp_path / "~$results.xlsx").write_bytes(b"DR")
    code, out, err = import_(engagement_dir, path, capsys)
    assert code == 1 and "Traceback" not in err
    message = err.splitlines()[1]
    assert message == {
        "text": "  file: results.xlsx is not an Excel workbook (.xlsx); import the template written by workbench "
                "template.",
        "encrypted": "  file: results.xlsx is password-protected (encrypted) or an old .xls workbook: save it from "
                     "Excel as an .xlsx workbook without a password, and import again.",
        "open in Excel": "  file: the workbook is open in Excel (its lock file ~$results.xlsx is beside it): save it, "
                         "close it, and import again (delete ~$results.xlsx if Excel is not running).",
        "missing": f"  file: {path} does not exist (or is a folder); give the template's .xlsx file.",
    }[kind]


def test_template_refuses_a_bad_round_and_a_bad_file_name(engagement_dir, tmp_path, capsys):
    assert cli.main(["template", str(engagement_dir), "--control", CONTROL, "--round", "q9", "--out",
                     str(tmp_path / "t.xlsx")]) == 2
    assert "--round 'q9': control CM-02 is tested in round(s) period" in capsys.readouterr().err
    assert cli.main(["template", str(engagement_dir), "--control", CONTROL, "--out", str(tmp_path / "t.csv")]) == 2
    assert not (tmp_path / "t.xlsx").exists()


# ---------------------------------------------------------------------------------------------- workbench run
def test_an_invalid_template_fails_its_control_not_the_run(type2_copy, capsys):
    from workbench.workpaper import read_summary

    path = type2_copy / "testing" / "CM-02.xlsx"
    path.parent.mkdir()
    book = openpyxl.load_workbook(SAMPLE_DATA / "acme-type2" / "testing" / "CM-02.xlsx")
    book["Testing"]["H7"] = "Passed"
    book.save(path)
    code = cli.main(["run", str(type2_copy), "--controls", "CM-02", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert "workbench run: acme-type2: CM-02: the testing template testing/CM-02.xlsx was not imported: CM-02.xlsx: " \
           "1 problem; nothing was imported." in err
    assert "Testing!H7 (Testing evidenced: Result)" in err
    row = {r["control_id"]: r for r in read_summary(type2_copy / "output" / "summary.xlsx")}["CM-02"]
    assert row["status"] == "failed"
    assert row["result_text"].startswith("Not tested: the testing template testing/CM-02.xlsx was not imported")
    assert len(read_results(type2_copy, "CM-02")) == 0


@pytest.mark.slow
def test_the_demo_run_imported_the_filled_templates(demo_run):
    stored = read_results(demo_run["folder"], "CM-02")
    assert len(stored) == 22 and set(stored["tested_by"]) == {"JO"}
    failed = stored.loc[stored["outcome"] == "fail"]
    assert list(failed["item_key"]) == ["CHG-1406"]
    rows = demo_run["rows"]
    assert {c: rows[c]["status"] for c in ("CM-01", "CM-02", "ENT-01", "GOV-01", "AC-05")} == {
        "CM-01": "exceptions_noted", "CM-02": "not_operating_effectively", "ENT-01": "not_operating_effectively",
        "GOV-01": "no_exceptions_noted", "AC-05": "testing_in_progress"}
    statuses = {row["status"] for row in rows.values()}
    assert statuses <= {"exceptions_noted", "no_exceptions_noted", "not_operating_effectively", "testing_in_progress"}
    assert sorted(c for c, row in rows.items() if row["status"] == "testing_in_progress") == ["AC-05", "AC-06",
                                                                                             "OPS-01"]


def test_a_round_template_holds_that_round_s_items_and_imports_them(engagement_dir, tmp_path, capsys):
    from test_conclusions import with_rounds

    with_rounds(engagement_dir)
    test = run_control_test(load_engagement(engagement_dir), CONTROL)
    assert test.selection.rounds == ("interim", "roll-forward")
    path = export(engagement_dir, tmp_path / "rf.xlsx", CONTROL, "--round", "roll-forward")
    book = openpyxl.load_workbook(path)
    ws = book["Testing"]
    assert [c.value for c in ws[6]][:3] == ["Sample no", "Item key (change_id)", "Round"]
    assert [ws[f"B{r}"].value for r in range(FIRST, ws.max_row + 1)] == list(test.selection.parts[1].keys)
    assert {ws[f"C{r}"].value for r in range(FIRST, ws.max_row + 1)} == {"roll-forward"}
    binding = {a: b for a, b in book["Binding"].iter_rows(values_only=True)}
    assert (binding["rounds"], binding["seeds"], binding["items"]) == (
        "roll-forward", f"roll-forward={test.selection.parts[1].seed}", "11")
    assert binding["attribute:testing_evidenced"] == "I:J:K:L"     # the Round column comes first
    ws["B4"] = "DR"
    for row in range(FIRST, ws.max_row + 1):
        ws[f"I{row}"], ws[f"J{row}"] = "N/A", None
        ws[f"L{row}"] = "no code change: configuration only"
    book.save(path)
    code, out, _ = import_(engagement_dir, path, capsys)
    assert code == 0 and "11 result(s) recorded, 0 unchanged, 0 blank" in out
    stored = read_results(engagement_dir, CONTROL)
    assert set(stored["item_key"]) == set(test.selection.parts[1].keys) and set(stored["outcome"]) == {"n/a"}


def test_the_import_pins_the_evidence_files_of_the_items_and_refuses_one_outside_the_folder(engagement_dir, filled,
                                                                                            capsys, tmp_path):
    from workbench.evidence import EVIDENCE_KIND

    outside = tmp_path / "elsewhere.txt"
    outside.write_text("not the engagement's")
    ws = openpyxl.load_workbook(filled)["Testing"]
    key = ws["B8"].value
    link = engagement_dir / "evidence" / "CM-02" / key / "screenshot.txt"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside)
    err = refused(engagement_dir, filled, capsys)
    lines = err.splitlines()[1:]
    assert len(lines) == 1 and lines[0].startswith(f"  Testing!I8 ({HEADER}: Evidence reference): item {key}: evidence "
                                                   f"file evidence/CM-02/{key}/screenshot.txt: ")
    link.unlink()
    code, out, _ = import_(engagement_dir, filled, capsys)
    assert code == 0
    with ResultsStore.open(engagement_dir) as store:
        pinned = {str(e.key["path"]): e.who for e in store.current(EVIDENCE_KIND.name)}
    assert pinned == {"evidence/CM-02/CHG-1124/ci-run.txt": "DR", "evidence/CM-02/CHG-1130/ci-run.txt": "DR",
                      "evidence/populations/changes/export-query.txt": "DR"}
