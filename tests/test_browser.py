"""The interactive workbench in a real browser: ``workbench lab``'s JupyterLab driven through Debian's chromium.

One flow, as a tester works: open CM-03's notebook (prepared by :func:`workbench.lab.prepare_lab`), Run All,
see the compact displays and the coverage chart, record the first sampled item in the testing form (Pass /
N/A / Pass with evidence), Next, record a Fail (the exception evaluation opens and is filled in), run the
evaluation cell again, export the workpaper from the notebook and read it. What the page shows is asserted,
and what the results store holds is read from the test at once. Screenshots go to ``test-artifacts/browser/``
(ignored by git).

The server is ``python -m jupyterlab`` (the server itself, not the ``jupyter lab`` wrapper) on a free loopback
port with a token, stopped by its process id.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from workbench.engagement import load_engagement
from workbench.pipeline import run_control_test
from workbench.results import ResultsStore

from conftest import ROOT, SAMPLE_DATA, copy_engagement

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CONTROL = "CM-03"
TIMEOUT_MS = 180_000   # generous: two cores shared with other work

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed (./dev test installs it)")]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on a copy of the demo engagement; yields (folder, base url, token); stopped by its pid."""
    from workbench.lab import prepare_lab

    folder = copy_engagement(SAMPLE_DATA / "acme-type2", tmp_path / "acme-type2")
    port, token = _free_port(), secrets.token_hex(16)
    setup = prepare_lab(folder, port=port, open_browser=False)
    log = open(tmp_path / "jupyterlab.log", "wb")
    server = subprocess.Popen([*setup.command, f"--IdentityProvider.token={token}"],
                              env={**setup.environment, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}, cwd=folder, stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail("JupyterLab did not start:\n" + (tmp_path / "jupyterlab.log").read_text()[-3000:])
            time.sleep(0.25)
        yield folder, base, token
    finally:
        if server.poll() is None:
            os.kill(server.pid, signal.SIGTERM)   # the server by its pid: it shuts its kernels down
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.kill(server.pid, signal.SIGKILL)
                server.wait()
        log.close()


def _results(folder: Path):
    with ResultsStore.open(folder) as store:
        return store.results_for(CONTROL)


def _attribute_box(form, label: str):
    """The box of one manual attribute in the form (its wording is in the box's first line)."""
    return form.locator(".widget-vbox", has=form.page.locator(f"b:text-is('{label}')")).last


def _button(form, text: str):
    """A form button by its text (its icon is part of the accessible name, so not by role and name)."""
    return form.locator("button.widget-button", has_text=text).first


def test_a_tester_records_results_in_jupyterlab(lab):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)

    folder, base, token = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    expected = run_control_test(load_engagement(folder), CONTROL)   # what the notebook will show
    first, second = expected.testing.sample_keys[:2]
    labels = {a.id: a.label for a in expected.testing.attributes}

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        try:
            # `workbench lab` opens on the working copies' folder: open the control's notebook from there
            page.goto(f"{base}/lab?token={token}")
            listed = page.locator(".jp-DirListing-item", has_text=f"{CONTROL}.ipynb").first
            listed.dblclick()
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
            dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
            try:   # JupyterLab asks when the kernel list was not loaded yet; the preferred kernel is selected
                dialog.wait_for(timeout=3_000)
                dialog.get_by_role("button", name="Select Kernel").click()
            except PlaywrightTimeout:
                pass
            expect(page.locator(".jp-Toolbar-kernelStatus, .jp-Notebook-ExecutionIndicator").first).to_be_attached()
            page.wait_for_function("() => document.body.innerText.includes('Python 3 (ipykernel) | Idle')")

            # Run All, from the menu
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
            form = page.locator(".workbench-testing-form")
            expect(form).to_be_visible()
            expect(page.locator(".wb-path")).to_be_visible()           # the last stage ran: workpaper written
            page.screenshot(path=str(ARTIFACTS / "01-run-all.png"), full_page=False)

            # the compact displays (issue 15) and the chart
            expect(page.locator(".wb-control").first).to_contain_text(f"Control {CONTROL}")
            expect(page.locator(".wb-engagement").first).to_contain_text("Engagement ACME-SOC2-T2-FY26")
            expect(page.locator(".wb-population").first).to_contain_text("1,560 record(s) received")
            expect(page.locator(".wb-validation").first).to_contain_text("Completeness and accuracy: changes")
            expect(page.locator(".wb-selection details").first).to_be_attached()
            expect(page.locator(".jp-RenderedImage img").first).to_be_visible()      # the coverage chart
            matrix = page.locator(".wb-testing").first
            expect(matrix).to_contain_text(f"0 of {expected.testing.sample_size} sampled items")
            pane = page.locator(".jp-NotebookPanel .jp-WindowedPanel-outer, .jp-NotebookPanel .jp-Notebook").first
            assert matrix.bounding_box()["width"] <= pane.bounding_box()["width"]   # fits the pane: no scrolling
            evaluation = page.locator(".wb-evaluation").first
            expect(evaluation).to_contain_text("Testing in progress")

            # the form on the first sampled item
            expect(form.locator("h4")).to_contain_text(f"item 1 of {expected.testing.sample_size}: {first}")
            expect(form).to_contain_text("evidence/CM-03/" + first)
            expect(form.locator(".workbench-progress")).to_contain_text(f"0 of {expected.testing.sample_size} tested")
            form.locator("select").first.select_option(label="Dana Reyes (DR)")
            choices = {"emergency_justified": "Pass", "post_implementation_review": "N/A", "agreed_to_source": "Pass"}
            for attribute_id, choice in choices.items():
                box = _attribute_box(form, labels[attribute_id])
                box.get_by_role("button", name=choice, exact=True).click()
                box.get_by_placeholder("evidence reference (document, screenshot, link)").fill(f"EV-{first}")
                box.locator("input[type=date]").fill("2025-07-08")
                box.locator("textarea").fill("seen in Jira" if choice == "Pass" else "no review due for this change")
            _button(form, "Save").click()
            expect(form.locator(".workbench-saved")).to_contain_text(f"Saved 3 result(s) for {first}")
            stored = _results(folder)      # in the store at once
            assert sorted(stored.loc[stored["item_key"] == first, ["attribute_id", "outcome"]].values.tolist()) == [
                ["agreed_to_source", "pass"], ["emergency_justified", "pass"], ["post_implementation_review", "n/a"]]
            expect(form.locator(".workbench-progress")).to_contain_text(f"1 of {expected.testing.sample_size} tested")
            expect(matrix).to_contain_text(f"1 of {expected.testing.sample_size} sampled items")   # redrawn
            page.screenshot(path=str(ARTIFACTS / "02-saved.png"))

            # Next, and a failure opens the exception evaluation
            _button(form, "Next").click()
            expect(form.locator("h4")).to_contain_text(f"item 2 of {expected.testing.sample_size}: {second}")
            evaluation_fields = form.locator(".widget-vbox", has_text="Exception evaluation").last
            expect(evaluation_fields).to_be_hidden()
            for attribute_id, choice in (("emergency_justified", "Fail"), ("post_implementation_review", "Pass"),
                                         ("agreed_to_source", "Pass")):
                box = _attribute_box(form, labels[attribute_id])
                box.get_by_role("button", name=choice, exact=True).click()
                box.get_by_placeholder("evidence reference (document, screenshot, link)").fill(f"EV-{second}")
                box.locator("input[type=date]").fill("2025-07-16")
            _attribute_box(form, labels["emergency_justified"]).locator("textarea").fill("no justification recorded")
            expect(evaluation_fields).to_be_visible()
            selects = evaluation_fields.locator("select")
            selects.nth(0).select_option(label="operating")
            selects.nth(1).select_option(label="isolated")
            texts = evaluation_fields.locator("textarea")
            for index, text in enumerate(("one change in the sample", "ticket template skipped",
                                          "none: the change was reviewed afterwards")):
                texts.nth(index).fill(text)
            page.screenshot(path=str(ARTIFACTS / "03-failure.png"))
            _button(form, "Save").click()
            expect(form.locator(".workbench-saved")).to_contain_text("Exception evaluation saved.")
            stored = _results(folder)
            assert stored.loc[(stored["item_key"] == second) & (stored["attribute_id"] == "emergency_justified"),
                              "outcome"].tolist() == ["fail"]
            expect(form.locator(".workbench-progress")).to_contain_text(f"2 of {expected.testing.sample_size} tested")

            # run the evaluation cell again: the updated deviations and conclusion
            from workbench.pipeline import retest
            now = retest(expected).evaluation
            cell = page.locator(".jp-CodeCell", has_text="evaluation = evaluate_control(engagement").first
            cell.locator(".jp-InputArea-editor").click()
            page.keyboard.press("Shift+Enter")
            shown = cell.locator(".wb-evaluation")
            noun = "deviation" if now.deviations == 1 else "deviations"
            expect(shown).to_contain_text(f"{now.deviations} {noun} in 2 of {now.sample_size} sampled items tested")
            expect(shown).not_to_contain_text("Stale")
            assert now.deviations == expected.evaluation.deviations + 1

            # export the workpaper from the notebook and read it
            cell = page.locator(".jp-CodeCell", has_text="workpaper_path = write_workpaper(").first
            cell.locator(".jp-InputArea-editor").click()
            page.keyboard.press("Shift+Enter")
            expect(cell.locator(".wb-path a")).to_have_text(f"{CONTROL}.xlsx")
            page.screenshot(path=str(ARTIFACTS / "04-workpaper.png"))
            expect(page.get_by_text("official Jupyter news")).to_have_count(0)   # no news pop-up
        finally:
            page.screenshot(path=str(ARTIFACTS / "99-last.png"))
            browser.close()

    import openpyxl
    workbook = openpyxl.load_workbook(folder / "output" / "interactive" / f"{CONTROL}.xlsx", read_only=True)
    cells = {str(value) for sheet in workbook.worksheets for row in sheet.iter_rows(values_only=True)
             for value in row if value is not None}
    workbook.close()
    assert f"EV-{first}" in cells and f"EV-{second}" in cells
    assert any("no justification recorded" in value for value in cells)
