"""The keys issue 12 adds to ``[populations.<id>]``: stated_count_note, history, records."""

from __future__ import annotations

import pytest

from test_engagement import GOOD_TOML, load_error, make_folder, replaced
from workbench.engagement import HISTORY_MODES, load_engagement

CHANGES = 'query = "project = CHG AND resolved >= 2025-07-01"\n'


def test_the_new_keys_are_read(tmp_path):
    toml = replaced(CHANGES, CHANGES + 'stated_count_note = "12 drafts are not exported"\nhistory = "latest"\n'
                                       'records = "pulls"\n')
    source = load_engagement(make_folder(tmp_path, toml)).population("changes")
    assert (source.stated_count_note, source.history, source.records) == ("12 drafts are not exported", "latest",
                                                                          "pulls")
    deploys = load_engagement(make_folder(tmp_path / "plain")).population("deploys")
    assert (deploys.stated_count_note, deploys.history, deploys.records) == (None, "all", None)
    assert HISTORY_MODES == ("all", "latest")


@pytest.mark.parametrize("added, problem", [
    ('history = "last"\n',
     "acme-type2/engagement.toml, line 58, [populations.changes] history: 'last' is not allowed. Did you mean "
     "'latest'? Use one of: all, latest."),
    ("records = 3\n",
     "acme-type2/engagement.toml, line 58, [populations.changes] records: must be a string (text in quotes), got "
     "3 (a number); write records = \"...\"."),
    ('histroy = "latest"\n',
     "acme-type2/engagement.toml, line 58, [populations.changes] histroy: unknown key. Did you mean 'history'? "
     "Valid keys of [populations.changes]: file, kind, format, stated_count, stated_count_note, system, "
     "provided_by, received, request, query, history, records, columns."),
])
def test_bad_values_name_the_key_and_the_fix(tmp_path, added, problem):
    error = load_error(make_folder(tmp_path, replaced(CHANGES, CHANGES + added)))
    assert error.problems == (problem,)


def test_a_note_without_a_stated_count_is_refused(tmp_path):
    toml = replaced("stated_count = 1512\n", 'stated_count_note = "drafts"\n')
    error = load_error(make_folder(tmp_path, toml))
    assert error.problems == (
        "acme-type2/engagement.toml, line 52, [populations.changes] stated_count_note: explains a difference from "
        "stated_count, which is not given; add stated_count = <the count the client stated> or remove the note.",)
