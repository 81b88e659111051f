"""The testing form driven as a tester would: widget values set, Save pressed, the row in the store at once.

One control's test (CM-01 of a private copy of the demo) is shared by the tests of this module; each test that
records works on its own copy of the engagement.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from workbench.engagement import load_engagement
from workbench.pipeline import run_control_test
from workbench.recording import items_to_test, manual_attributes
from workbench.results import ResultsStore
import workbench.widgets as forms   # not imported by name: pytest would collect testing_form and TestingForm

from conftest import SAMPLE_DATA, copy_engagement

EVIDENCE_DAY = dt.date(2026, 7, 15)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """CM-01 run once (receipts pinned), to copy for each test."""
    folder = copy_engagement(SAMPLE_DATA / "acme-type2", tmp_path_factory.mktemp("widgets") / "acme-type2")
    run_control_test(load_engagement(folder), "CM-01")
    return folder


@pytest.fixture
def form(pristine, tmp_path) -> forms.TestingForm:
    folder = tmp_path / "acme-type2"
    shutil.copytree(pristine, folder)
    test = run_control_test(load_engagement(folder), "CM-01")
    made = forms.testing_form(test, tester="DR")
    made.on_save.clear()   # no notebook displays to redraw here
    return made


def fill(form: forms.TestingForm, outcome: str, *, ref: str = "JIRA export CHG", day: dt.date | None = EVIDENCE_DAY,
         comment: str = "") -> None:
    for row in form.rows.values():
        row.outcome.value = outcome
        row.evidence_ref.value = ref
        row.evidence_date.value = day
        row.comment.value = comment


def results_of(form: forms.TestingForm):
    with ResultsStore.open(form.test.engagement) as store:
        return store.results_for("CM-01")


def test_the_form_shows_the_first_sampled_item_and_each_manual_attribute(form):
    items = items_to_test(form.test)
    assert form.items == items and form.item == items[0]
    assert [a.id for a in form.attributes] == [a.id for a in manual_attributes(form.test)] == ["agreed_to_source"]
    assert f"item 1 of {len(items)}" in form.header.value and items[0] in form.header.value
    assert "evidence/CM-01/" + items[0] in form.header.value
    assert "0 of 22 tested" in form.progress.value
    assert form.tester.value == "DR"
    assert [label for label, _ in form.tester.options] == ["(choose who tested)", "Dana Reyes (DR)", "Jamie Okoro (JO)"]
    assert form.previous_button.disabled and not form.next_button.disabled
    assert form.evaluation_box.layout.display == "none"


def test_save_records_at_once_and_progress_counts_up(form):
    first = form.item
    fill(form, "Pass", ref="Jira CHG screenshot 1")
    form.save_button.click()
    assert "Saved 1 result(s) for " + first in form.status.value
    frame = results_of(form)
    assert frame[["item_key", "attribute_id", "outcome", "evidence_ref", "evidence_date", "tested_by"]].values.tolist() \
        == [[first, "agreed_to_source", "pass", "Jira CHG screenshot 1", "2026-07-15", "DR"]]
    assert "1 of 22 tested" in form.progress.value
    assert form.test.testing.items_tested == 1   # the form's test is read again after the save

    form.next_button.click()
    assert form.index == 1 and form.item == form.items[1]
    assert form.rows["agreed_to_source"].outcome.value is None      # the next item is untested
    fill(form, "N/A", ref="", day=None, comment="not in the system of record")
    form.save_button.click()
    assert "2 of 22 tested" in form.progress.value
    form.previous_button.click()
    row = form.rows["agreed_to_source"]
    assert (row.outcome.value, row.evidence_ref.value, row.evidence_date.value) == ("Pass", "Jira CHG screenshot 1",
                                                                                  EVIDENCE_DAY)


def test_a_bad_value_shows_its_message_beside_the_field_and_writes_nothing(form):
    fill(form, "Pass", ref="", day=None)
    form.save_button.click()
    messages = form.rows["agreed_to_source"].messages
    assert "evidence" in messages["evidence_ref"].value.lower()
    assert "Not saved" in form.status.value
    assert len(results_of(form)) == 0

    fill(form, "Pass", day=dt.date.today() + dt.timedelta(days=3))
    form.save_button.click()
    assert "future" in form.rows["agreed_to_source"].messages["evidence_date"].value
    assert len(results_of(form)) == 0

    form.tester.value = None
    fill(form, "Pass")
    form.save_button.click()
    assert "Choose who tested" in form.tester_message.value
    assert len(results_of(form)) == 0


def test_a_failure_opens_the_exception_evaluation_and_saves_it(form):
    row = form.rows["agreed_to_source"]
    row.outcome.value = "Fail"
    assert form.evaluation_box.layout.display == "flex"
    row.evidence_ref.value = "Jira CHG-1130 vs export"
    row.evidence_date.value = EVIDENCE_DAY
    row.comment.value = "approver differs from the export"
    fields = form.evaluation_fields
    fields["type"].value = "operating"
    fields["extent"].value = "isolated"
    fields["why"].value = "one ticket edited after export"
    fields["root_cause"].value = "manual edit"
    fields["effect_on_criteria"].value = "none on CC8.1"
    form.save_button.click()
    assert "Exception evaluation saved." in form.status.value, form.status.value + form.evaluation_message.value
    from workbench.judgements import exception_evaluations
    assert exception_evaluations(form.test.engagement, "CM-01")[form.item].root_cause == "manual edit"
    row.outcome.value = "Pass"
    assert form.evaluation_box.layout.display == "none"


def test_saving_the_same_result_again_changes_nothing(form):
    fill(form, "Pass", ref="same")
    form.save_button.click()
    with ResultsStore.open(form.test.engagement) as store:
        before = len(store.trail("CM-01")), store.chain_head()
    form.save_button.click()
    assert "Saved" in form.status.value
    with ResultsStore.open(form.test.engagement) as store:
        assert (len(store.trail("CM-01")), store.chain_head()) == before


def test_batch_runs_do_not_show_the_form(form, monkeypatch, capsys):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delenv("WORKBENCH_INTERACTIVE", raising=False)
    assert not forms.interactive_session()
    assert forms.show_testing_form(form.test) is None
    assert "not shown in a batch run" in capsys.readouterr().out
    monkeypatch.setenv("JPY_SESSION_NAME", "/notebooks/control.ipynb")
    assert forms.interactive_session()
    monkeypatch.setenv("WORKBENCH_INTERACTIVE", "0")
    assert not forms.interactive_session()
