"""workbench.evidence: folder names for keys, hashes, pins when cited, changed files flagged, links refused;
the results store's chain head in workpapers and the manifest."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import pytest
from openpyxl import load_workbook

from workbench import cli
from workbench.engagement import load_engagement
from workbench.evidence import (
    decode_key,
    encode_key,
    index_evidence,
    item_folder,
    population_folder,
    scan_evidence,
)
from workbench.pipeline import run_control_test
from workbench.recording import ProposedResult, RecordRefused, items_to_test, record_result
from workbench.results import ResultsStore
from workbench.workpaper import CHAIN_HEAD_LABEL, write_workpaper


# ------------------------------------------------------------------------------------------------
# Folder names
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("key, name", [
    ("CHG-1042", "CHG-1042"),
    ("CHG/1042", "CHG%2F1042"),
    ("a|b#c d", "a%7Cb%23c%20d"),
    ("arn:aws:iam::123:user/ops admin", "arn%3Aaws%3Aiam%3A%3A123%3Auser%2Fops%20admin"),
    ("50%", "50%25"),
    (".", "%2E"),
    ("..", "%2E%2E"),
    ("...", "..."),
    ("Zoë", "Zo%C3%AB"),
    ("changes[change_type in standard, normal]", "changes%5Bchange_type%20in%20standard%2C%20normal%5D"),
])
def test_keys_are_encoded_into_one_safe_folder_name_and_back(key, name):
    assert encode_key(key) == name
    assert decode_key(name) == key
    assert "/" not in name and name not in (".", "..")


@pytest.mark.parametrize("name", ["a b", "a%2", "a%2f", "a/b", "%FF"])
def test_a_name_encode_key_never_writes_is_not_decoded(name):
    with pytest.raises(ValueError):
        decode_key(name)


def test_an_empty_key_has_no_folder():
    with pytest.raises(ValueError):
        encode_key("")


def test_folders_of_items_and_populations(tmp_path):
    assert item_folder(tmp_path, "CM-02", "CHG/1|2") == tmp_path / "evidence" / "CM-02" / "CHG%2F1%7C2"
    assert population_folder(tmp_path, "changes") == tmp_path / "evidence" / "populations" / "changes"


# ------------------------------------------------------------------------------------------------
# Hashing, pinning, flagging
# ------------------------------------------------------------------------------------------------

def test_files_are_hashed_by_relative_path(tmp_path):
    folder = item_folder(tmp_path, "CM-02", "CHG 1")
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_bytes(b"approved")
    (folder / "sub" / "b.png").write_bytes(b"\x89PNG")
    found = scan_evidence(tmp_path, folder)
    assert [(f.path, f.sha256, f.size_bytes, f.refused) for f in found] == [
        ("evidence/CM-02/CHG%201/a.txt", hashlib.sha256(b"approved").hexdigest(), 8, None),
        ("evidence/CM-02/CHG%201/sub/b.png", hashlib.sha256(b"\x89PNG").hexdigest(), 4, None)]
    assert scan_evidence(tmp_path, tmp_path / "evidence" / "nothing") == ()


@pytest.fixture
def cited(type2_copy):
    """CM-02 with an evidence file for its first item and one for its population, and a result citing the item."""
    shutil.rmtree(type2_copy / "evidence")   # the demo's own files are tested below
    engagement = load_engagement(type2_copy)
    test = run_control_test(engagement, "CM-02")
    key = items_to_test(test)[0]
    item = item_folder(type2_copy, "CM-02", key)
    item.mkdir(parents=True)
    (item / "ci-run.txt").write_text("CI run 4411: all tests passed\n", encoding="utf-8")
    population = population_folder(type2_copy, "changes")
    population.mkdir(parents=True)
    (population / "query.txt").write_text("project = CHG AND status = Done\n", encoding="utf-8")
    stamp = test.scope.frame.loc[test.scope.frame["change_id"] == key, "deployed_at"].iloc[0]
    record_result(test, ProposedResult(key, "testing_evidenced", "pass", "ci-run.txt",
                                       stamp.tz_convert(engagement.timezone).date()), tester="DR")
    return {"folder": type2_copy, "engagement": engagement, "key": key, "file": item / "ci-run.txt",
            "path": f"evidence/CM-02/{encode_key(key)}/ci-run.txt"}


def test_a_result_pins_the_files_of_its_item_and_population(cited):
    with ResultsStore.open(cited["folder"]) as store:
        pinned = {e.key["path"]: e.value["sha256"] for e in store.current("evidence")}
    assert pinned == {
        cited["path"]: hashlib.sha256(b"CI run 4411: all tests passed\n").hexdigest(),
        "evidence/populations/changes/query.txt": hashlib.sha256(b"project = CHG AND status = Done\n").hexdigest()}
    test = run_control_test(cited["engagement"], "CM-02")
    assert [(f.path, f.linked_to, f.status) for f in test.evidence.files] == [
        (cited["path"], f"item {cited['key']}", "cited, unchanged"),
        ("evidence/populations/changes/query.txt", "population changes", "cited, unchanged")]
    assert test.evidence.flagged == ()


def test_a_file_changed_after_a_result_cited_it_is_flagged_by_verify_and_on_the_workpaper(cited, capsys, tmp_path):
    before = hashlib.sha256(cited["file"].read_bytes()).hexdigest()
    cited["file"].write_text("CI run 4411: 2 tests failed\n", encoding="utf-8")
    now = hashlib.sha256(cited["file"].read_bytes()).hexdigest()
    assert cli.main(["verify", str(cited["folder"])]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("FAILED ") and out[0].endswith("the hash chain is intact, but 1 evidence file(s) are not "
                                                            "as the results citing them recorded:")
    assert out[1].startswith(f"  {cited['path']}: changed after a result cited it (DR on ")
    assert out[1].endswith(f"): SHA-256 then {before}, now {now}.")
    test = run_control_test(cited["engagement"], "CM-02")
    book = load_workbook(write_workpaper(tmp_path, test))
    rows = [[c.value for c in r] for r in book["Testing"].iter_rows()]
    row = next(r for r in rows if r[0] == cited["path"])
    assert row[1:4] == [f"item {cited['key']}", now, len(cited["file"].read_bytes())]
    assert row[4] == f"CHANGED after a result cited it (cited by DR, SHA-256 then {before})"
    lead = {r[0]: r[1] for r in ([c.value for c in r] for r in book["Lead"].iter_rows()) if r[0]}
    assert lead["Evidence files flagged"] == ("1 of 2: changed or deleted after a result cited them, see "
                                              "ACME-SOC2-T2-FY26/CM-02.4")


def test_a_deleted_file_is_flagged(cited, capsys):
    cited["file"].unlink()
    assert cli.main(["verify", str(cited["folder"])]) == 1
    assert f"  {cited['path']}: deleted after a result cited it (DR on " in capsys.readouterr().out
    test = run_control_test(cited["engagement"], "CM-02")
    assert [f.status for f in test.evidence.flagged] == ["MISSING: deleted after a result cited it"]


def test_recording_again_pins_the_file_as_it_is_then(cited):
    cited["file"].write_text("CI run 4412: all tests passed\n", encoding="utf-8")
    test = run_control_test(cited["engagement"], "CM-02")
    key = cited["key"]
    record_result(test, ProposedResult(key, "testing_evidenced", "n/a", comment="re-checked"), tester="DR")
    assert cli.main(["verify", str(cited["folder"])]) == 0
    with ResultsStore.open(cited["folder"]) as store:   # the trail keeps both hashes
        assert len(store.history("evidence", path=cited["path"])) == 2


def test_the_demo_ships_evidence_files_listed_on_the_workpaper(type2_copy, tmp_path):
    test = run_control_test(load_engagement(type2_copy), "CM-02")
    assert [(f.path, f.linked_to, f.status) for f in test.evidence.files] == [
        ("evidence/CM-02/CHG-1124/ci-run.txt", "item CHG-1124", "not cited"),
        ("evidence/CM-02/CHG-1130/ci-run.txt", "item CHG-1130", "not cited"),
        ("evidence/populations/changes/export-query.txt", "population changes", "not cited")]
    assert {"CHG-1124", "CHG-1130"} <= set(items_to_test(test))
    rows = [[c.value for c in r][:5] for r in load_workbook(write_workpaper(tmp_path, test))["Testing"].iter_rows()]
    query = type2_copy / "evidence" / "populations" / "changes" / "export-query.txt"
    assert ["evidence/populations/changes/export-query.txt", "population changes",
            hashlib.sha256(query.read_bytes()).hexdigest(), query.stat().st_size, "not cited"] in rows


def test_a_symbolic_link_out_of_the_engagement_folder_is_refused(type2_copy, tmp_path, capsys):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret", encoding="utf-8")
    engagement = load_engagement(type2_copy)
    test = run_control_test(engagement, "CM-02")
    key = items_to_test(test)[2]   # an item without the demo's evidence files
    folder = item_folder(type2_copy, "CM-02", key)
    folder.mkdir(parents=True)
    os.symlink(outside, folder / "link.txt")
    [found] = scan_evidence(type2_copy, folder)
    assert (found.sha256, found.refused) == (None, f"a symbolic link leads outside the engagement folder (to "
                                                   f"{outside.resolve()}); it is not read. Put the evidence itself "
                                                   f"inside acme-type2.")
    with pytest.raises(RecordRefused) as refused:
        record_result(test, ProposedResult(key, "testing_evidenced", "n/a"), tester="DR")
    assert [(p.field, p.message) for p in refused.value.problems] == [
        ("evidence_ref", f"CM-02 / {key}: evidence file evidence/CM-02/{encode_key(key)}/link.txt: {found.refused}")]
    assert cli.main(["verify", str(type2_copy)]) == 1
    assert f"  evidence/CM-02/{encode_key(key)}/link.txt: a symbolic link leads outside" in capsys.readouterr().out
    index = index_evidence(type2_copy, owners=["CM-02"], item_keys=[key])
    assert [f.status for f in index.files] == ["refused: outside the engagement folder"]


def test_a_link_inside_the_engagement_folder_is_followed(type2_copy):
    folder = item_folder(type2_copy, "CM-02", "CHG-1")
    folder.mkdir(parents=True)
    os.symlink(type2_copy / "engagement.toml", folder / "copy.toml")
    [found] = scan_evidence(type2_copy, folder)
    assert found.refused is None
    assert found.sha256 == hashlib.sha256((type2_copy / "engagement.toml").read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------------------
# The chain head in workpapers and the manifest
# ------------------------------------------------------------------------------------------------

def test_the_workpaper_prints_the_chain_head(cited, tmp_path, capsys):
    test = run_control_test(cited["engagement"], "CM-02")
    book = load_workbook(write_workpaper(tmp_path, test))
    lead = {r[0]: r[1] for r in ([c.value for c in r] for r in book["Lead"].iter_rows()) if r[0]}
    with ResultsStore.open(cited["folder"]) as store:
        head = store.chain_head()
    assert lead[CHAIN_HEAD_LABEL] == head
    assert cli.main(["verify", str(cited["folder"]), "--head", head]) == 0
    assert f"contains head {head}" in capsys.readouterr().out


@pytest.mark.slow
def test_the_manifest_and_every_workpaper_of_the_demo_run_print_heads_the_store_holds(demo_run, capsys):
    folder, out = demo_run["folder"], demo_run["out"]
    with ResultsStore.open(folder) as store:
        status = store.verify()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["results_store"] == {"chain_head": status.head, "entries": status.entries}
    heads = set()
    for path in sorted(out.glob("*.xlsx")):
        if path.name == "summary.xlsx":
            continue
        rows = load_workbook(path, read_only=True)["Lead"].iter_rows(values_only=True)
        heads |= {r[1] for r in rows if r and r[0] == CHAIN_HEAD_LABEL}
    assert heads and all(len(h) == 64 for h in heads)
    arguments = ["verify", str(folder)] + [a for h in sorted(heads) for a in ("--head", h)]
    assert cli.main(arguments) == 0, capsys.readouterr().out

