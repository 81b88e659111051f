"""The request list: ``workbench request-list ENGAGEMENT [--control ID] --out FILE.xlsx``.

One request per sample (a shared sample once, with every control that uses it), each sampled item with its
identifying fields and the evidence needed per manual attribute; client text as text; exit codes as the other
commands."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from conftest import SAMPLE_DATA, copy_engagement
from workbench import cli
from workbench.engagement import load_engagement
from workbench.pipeline import run_control_test
from workbench.request_list import Request, RequestItem, build_requests, tests_for_requests, write_requests


def sheet_rows(path: Path, name: str) -> list[tuple]:
    """The rows of a sheet below its header block, from the table's header row on."""
    rows = list(openpyxl.load_workbook(path)[name].iter_rows(values_only=True))
    start = next(i for i, r in enumerate(rows) if r and r[0] == "Request ID")
    return [r for r in rows[start:] if r and r[0]]


def test_cm02_request_lists_the_shared_sample_once_with_both_controls(type2_copy, tmp_path, capsys):
    out = tmp_path / "requests.xlsx"
    assert cli.main(["request-list", str(type2_copy), "--control", "CM-02", "--out", str(out)]) == 0
    assert "Request list:" in capsys.readouterr().out
    requests = sheet_rows(out, "Requests")
    header, body = requests[0], requests[1:]
    assert list(header) == ["Request ID", "Sample", "Population", "Records", "Controls", "Items",
                            "Evidence needed for each item", "Due date", "Status"]
    assert len(body) == 1                                   # CM-01 and CM-02 share one sample: one request
    request = dict(zip(header, body[0]))
    assert request["Controls"] == "CM-01, CM-02"
    assert request["Sample"] == "changes[change_type in standard, normal]"
    assert request["Due date"] is None and request["Status"] == "Open"
    evidence = request["Evidence needed for each item"]
    assert "Evidence that testing was evidenced before deployment (CM-02)" in evidence
    assert "Evidence that the exported change data agreed with the ticket history and deployment record (CM-01)" \
        in evidence                                         # the accuracy check of CM-01's automated attributes
    selection = run_control_test(load_engagement(type2_copy), "CM-02").selection
    items = sheet_rows(out, "Items")
    assert [r[2] for r in items[1:]] == list(selection.keys)
    assert request["Items"] == len(selection.keys)
    first = dict(zip(items[0], items[1]))
    assert first["Request ID"] == "REQ-01-001" and first["Status"] == "Open" and first["Due date"] is None
    assert "title: " in first["Identifying fields"] and "author: " in first["Identifying fields"]
    book = openpyxl.load_workbook(out)
    assert all(cell.data_type != "f" for sheet in book for row in sheet.iter_rows() for cell in row)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]       # no temporary file left


def test_every_control_one_request_per_sample(tmp_path):
    folder = copy_engagement(SAMPLE_DATA / "acme-type2", tmp_path / "acme-type2")
    engagement = load_engagement(folder)
    tests, failures = tests_for_requests(engagement)
    assert failures == ()
    requests = build_requests(tests)
    samples = {t.selection.sample_id for t in tests}
    assert len(requests) == len(samples)
    by_sample = {r.sample_id: r for r in requests}
    gov = by_sample["GOV-02-occurrences"]
    assert gov.controls == ("GOV-02",) and len(gov.items) == 2
    assert gov.evidence == ("Evidence that the security committee met in the quarter and minutes were kept (GOV-02)",
                            "Evidence that the minutes showed review of security metrics, open risks and the status "
                            "of remediation (GOV-02)")
    automated = by_sample["AC-05-occurrences"]
    assert [i.key for i in automated.items] == ["configuration-as-of-2026-06-30"]
    assert not any("conclusions" in line for line in automated.evidence)   # the ITGC reliance asks nothing of the client
    assert len(automated.evidence) == 2


def test_client_text_is_written_as_text_never_a_formula(type2_copy, tmp_path):
    engagement = load_engagement(type2_copy)
    requests = [Request("REQ-01", "changes", "changes", "changes deployed during the period", ("CM-01",),
                        ("=HYPERLINK(\"http://evil\", \"click\")",),
                        (RequestItem("REQ-01-001", 1, "@SUM(A1)", None, "title: +1 month; author: -cmd"),))]
    path = write_requests(tmp_path / "r.xlsx", engagement, requests)
    book = openpyxl.load_workbook(path)
    cells = {cell.value: cell for sheet in book for row in sheet.iter_rows() for cell in row if cell.value}
    assert cells["@SUM(A1)"].data_type == "s" and cells["@SUM(A1)"].quotePrefix
    assert cells["title: +1 month; author: -cmd"].data_type == "s"
    assert any(str(v).startswith("1. =HYPERLINK") for v in cells)


@pytest.mark.parametrize("args, message", [
    (["--control", "NOPE-1"], "no control 'NOPE-1'"),
    (["--control", "GOV-09"], "control GOV-09 has no procedure the workbench implements"),
    (["--out-name"], None),
])
def test_bad_input_is_one_message_and_exit_2(type2_copy, tmp_path, capsys, args, message):
    out = tmp_path / "r.xlsx"
    book = openpyxl.load_workbook(type2_copy / "controls.xlsx")     # a control the matrix leaves untested
    book["Controls"].append(["GOV-09", "Board oversight of security.", "CC1.2", "Grace Whitfield", "annual", "manual"])
    book.save(type2_copy / "controls.xlsx")
    argv = ["request-list", str(type2_copy)] + [a for a in args if a != "--out-name"] + ["--out", str(out)]
    if "--out-name" in args:
        argv[-1] = str(tmp_path / "r.csv")
        message = "give an .xlsx file name"
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("workbench request-list: ") and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_missing_engagement_folder_is_exit_2(tmp_path, capsys):
    assert cli.main(["request-list", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r.xlsx")]) == 2
    assert "engagement folder not found" in capsys.readouterr().err
