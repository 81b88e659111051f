"""The notebook as an auditor's workspace (issue 15): compact HTML displays, one-message errors, stale marks,
idempotent recording, and interactive output kept apart from a batch run's.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import nbformat
import papermill
import pytest

from workbench.display import error_lines, short_date
from workbench.engagement import load_engagement
from workbench.files import sha256_file
from workbench.pipeline import retest, run_control_test
from workbench.recording import ProposedResult, RecordRefused, items_to_test, record_result
from workbench.results import ResultsStore

from conftest import ROOT, SAMPLE_DATA, copy_engagement

NOTEBOOK = ROOT / "notebooks" / "control.ipynb"


@pytest.fixture(scope="module")
def cm01(tmp_path_factory):
    """CM-01 of a private copy of the demo, tested once (nothing recorded yet)."""
    folder = copy_engagement(SAMPLE_DATA / "acme-type2", tmp_path_factory.mktemp("workspace") / "acme-type2")
    return run_control_test(load_engagement(folder), "CM-01")


def cells_of(html: str, tag: str = "th") -> list[str]:
    """The text of every ``<tag>`` cell, tags inside stripped."""
    return [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(rf"<{tag}[^>]*>(.*?)</{tag}>", html, re.S)]


def test_every_stage_has_an_html_display_limited_to_a_laptop_width(cm01):
    objects = [cm01.engagement, cm01.control, cm01.policy, *cm01.populations, *cm01.reports, *cm01.receipts,
               cm01.scope, cm01.sample_plan, cm01.selection, cm01.testing, cm01.evaluation, cm01]
    for obj in objects:
        html = obj._repr_html_()
        assert "max-width:72em" in html, type(obj).__name__
        assert "<th></th>" not in html and "Unnamed" not in html     # no pandas index


def test_the_text_form_is_the_summary(cm01):
    from IPython.lib.pretty import pretty
    assert pretty(cm01.testing) == cm01.testing.summary()
    assert pretty(cm01.engagement) == cm01.engagement.summary()


def test_the_engagement_is_one_screen_with_a_count_per_status(cm01):
    html = cm01.engagement._repr_html_()
    assert "Engagement ACME-SOC2-T2-FY26" in html
    assert "not run yet: 24" in html      # nothing run in this copy: every control counted under one status
    assert "<details>" in html            # the 24 controls and 11 populations folded away
    card = cm01.control._repr_html_()
    assert "Control CM-01" in card and "change_management" in card and "ENT-01" not in card


def test_validation_lists_each_finding_once_in_full_with_its_colour(cm01):
    html = cm01.report._repr_html_()
    assert cells_of(html)[-5:] == ["severity", "rule", "row", "column", "message"] or "severity" in cells_of(html)
    messages = [m for m in cm01.report.findings.loc[cm01.report.findings["severity"] != "info", "message"]]
    assert len(messages) == 7
    for message in messages:
        assert html.count(re.sub(r"[<>&'\"]", "", message)[:60]) <= 1 or message[:40] in html
    assert "…" not in html and "#fff4e5" in html      # warnings in their colour, nothing cut


def test_the_selection_folds_its_algorithm_away(cm01):
    html = cm01.selection._repr_html_()
    visible, _, folded = html.partition("<details>")
    assert "3104253646" in visible and "CHG-1130" in visible
    assert "How it was selected" in folded and "SHA-256" in folded


def test_the_testing_matrix_puts_key_columns_first(cm01):
    html = cm01.testing._repr_html_()
    heads = cells_of(html.partition("<details>")[0])
    labels = [a.label for a in cm01.testing.attributes]
    assert heads[heads.index("#"):heads.index("#") + 4 + len(labels)] == ["#", "item", *labels, "deviation", "reason"]
    assert "Still untested" in html and "Agreed to source: 22 item(s)" in html
    fields = html.partition("<details>")[2]
    assert "2025-07-14 09:04" in fields and "2025-07-14 09:04:00-04:00" not in html   # short dates


def test_the_evaluation_shows_the_proposal_its_status_and_what_is_pending(cm01):
    html = cm01.evaluation._repr_html_()
    assert "Testing in progress" in html and "Pending" in html
    assert "record the manual results: agreed to source for 22 items" in html


def test_short_dates():
    import pandas as pd
    assert short_date(pd.Timestamp("2026-03-27 15:23:00-04:00")) == "2026-03-27 15:23"
    assert short_date(pd.Timestamp("2026-03-27")) == "2026-03-27"
    assert short_date("2026-03-27T15:23:09.123+00:00") == "2026-03-27 15:23"
    assert short_date(None) == "" and short_date(pd.NaT) == ""


def test_stale_is_visible_and_retest_reads_the_results_again(cm01, tmp_path):
    folder = tmp_path / "acme-type2"
    shutil.copytree(cm01.engagement.folder, folder)
    test = run_control_test(load_engagement(folder), "CM-01")
    assert "Stale" not in test.testing._repr_html_() and "Stale" not in test.evaluation._repr_html_()
    item = items_to_test(test)[0]
    record_result(test, ProposedResult(item, "agreed_to_source", "pass", evidence_ref="export vs Jira",
                                       evidence_date="2026-07-15"), tester="DR")
    assert "Stale:</b> 1 entry about CM-01" in test.testing._repr_html_()
    assert "Stale" in test.evaluation._repr_html_()
    fresh = retest(test)
    assert fresh.testing.items_tested == 1 and "Stale" not in fresh.evaluation._repr_html_()
    assert retest(fresh) is fresh    # nothing recorded since: the same test


def test_recording_the_same_result_again_changes_nothing(cm01, tmp_path):
    folder = tmp_path / "acme-type2"
    shutil.copytree(cm01.engagement.folder, folder)
    test = run_control_test(load_engagement(folder), "CM-01")
    proposed = ProposedResult(items_to_test(test)[0], "agreed_to_source", "fail", evidence_ref="Jira vs export",
                              evidence_date=dt.date(2026, 7, 15), comment="approver differs")
    first = record_result(test, proposed, tester="DR")
    with ResultsStore.open(folder) as store:
        trail, head = len(store.trail("CM-01")), store.chain_head()
    again = record_result(test, proposed, tester="dana reyes")
    assert again.tested_at == first.tested_at
    with ResultsStore.open(folder) as store:
        assert (len(store.trail("CM-01")), store.chain_head()) == (trail, head)


def test_a_refused_result_is_one_message_without_source(cm01):
    with pytest.raises(RecordRefused) as refused:
        record_result(cm01, ProposedResult(items_to_test(cm01)[0], "agreed_to_source", "passed"), tester="DR")
    lines = error_lines(refused.value)
    assert "RecordRefused" in lines[0] and "passed" in "\n".join(lines)
    assert not any("File " in line or ".py" in line for line in lines)


def _executed(tmp_path: Path, name: str, *sources: str) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
    path, out = tmp_path / f"{name}.ipynb", tmp_path / f"{name}-out.ipynb"
    nbformat.write(notebook, path)
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        papermill.execute_notebook(str(path), str(out), kernel_name="python3", progress_bar=False, cwd=str(tmp_path))
    executed = nbformat.read(out, as_version=4)
    executed.metadata["failure"] = {"ename": failure.value.ename, "evalue": failure.value.evalue}
    executed.cells = [cell for cell in executed.cells if cell.cell_type == "code"]   # papermill adds a banner
    return executed


@pytest.mark.slow
def test_a_workbench_error_in_a_kernel_is_one_message_and_a_bug_keeps_its_traceback(tmp_path):
    bad = tmp_path / "no-such-engagement"
    executed = _executed(tmp_path, "error", "from workbench.display import install\ninstall()",
                         f"from workbench.engagement import load_engagement\nload_engagement({str(bad)!r})")
    outputs = executed.cells[1].outputs
    assert [o.output_type for o in outputs] == ["error"]
    text = "\n".join(outputs[0].traceback)
    assert "EngagementError" in text and str(bad) in text and "fix what the message names" in text
    assert "File " not in text and "workbench/engagement" not in text and "Traceback" not in text
    assert executed.metadata["failure"]["ename"] == "EngagementError"     # a batch run still sees the cell fail

    bug = _executed(tmp_path, "bug", "from workbench.display import install\ninstall()", "def f():\n    return 1 / 0\nf()")
    text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(bug.cells[1].outputs[0].traceback))
    assert "ZeroDivisionError" in text and "return 1 / 0" in text     # a bug keeps its frames


@pytest.mark.slow
def test_an_interactive_run_leaves_the_batch_output_and_its_manifest_as_they_were(demo_run, tmp_path):
    folder = tmp_path / "acme-type2"
    shutil.copytree(demo_run["folder"], folder)
    out = folder / "output"
    manifest = json.loads((out / "manifest.json").read_text())
    before = {path: path.read_bytes() for path in out.rglob("*") if path.is_file()}
    interactive = out / "interactive"
    papermill.execute_notebook(str(NOTEBOOK), str(tmp_path / "run.ipynb"), progress_bar=False,
                               parameters={"engagement_dir": str(folder), "control_id": "CM-01",
                                           "output_dir": str(interactive)}, cwd=str(NOTEBOOK.parent))
    assert (interactive / "CM-01.xlsx").is_file() and (interactive / "records" / "CM-01.json").is_file()
    after = {path: path.read_bytes() for path in out.rglob("*") if path.is_file() and interactive not in path.parents}
    assert after == before
    for name, digest in manifest["outputs_sha256"].items():
        assert sha256_file(out / name) == digest, name
