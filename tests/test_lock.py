"""The engagement lock: every writer refused after it, additions recorded with who and why, the run never over
the locked workpapers, the archive with every file's SHA-256, and the documentation completion deadline."""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
import stat
import zipfile
from pathlib import Path

import openpyxl
import pytest

from conftest import agree_to_source, record_walkthrough_of
from workbench import cli
from workbench.engagement import load_engagement
from workbench.errors import EngagementLocked, ParameterError, ResultsError
from workbench.files import shared_file_mode
from workbench.judgements import choose_seed, evaluate_exception
from workbench.pipeline import run_control_test
from workbench.receipt import deliver_population
from workbench.results import ResultsStore, recording_addition
from workbench.sample import sample_id
from workbench.signoff import MANIFEST_NAME, lock_engagement, raise_note, read_signoffs, sign_off
from workbench.workpaper import write_summary, write_workpaper

CONTROL = "BK-01"
RELEASED = dt.date.today() - dt.timedelta(days=3)
DEADLINE = (RELEASED + dt.timedelta(days=60)).isoformat()
LOCKED = r"engagement ACME-SOC2-T2-FY26 is locked: the report was released on .* --addition --reason TEXT"


@pytest.fixture
def locked(type2_copy):
    """The demo Type 2 engagement, BK-01 tested and signed off by its preparer, then locked by the manager."""
    engagement = load_engagement(type2_copy)
    test = run_control_test(engagement, CONTROL)
    sign_off(test, "preparer", by="DR")
    lock_engagement(engagement, release_date=RELEASED, by="SW")
    return {"folder": type2_copy, "engagement": engagement, "test": test}


def test_the_lock_records_the_release_date_and_the_deadline(locked):
    lock = read_signoffs(locked["engagement"]).lock
    assert lock is not None
    assert (lock.release_date, lock.documentation_deadline, lock.by) == (RELEASED.isoformat(), DEADLINE, "SW")
    assert lock.archive == f"archive/ACME-SOC2-T2-FY26-locked-{dt.date.today().isoformat()}.zip"
    assert lock.text().startswith(f"Locked by SW on {dt.date.today().isoformat()}: report released "
                                  f"{RELEASED.isoformat()}; documentation completion deadline {DEADLINE} (release "
                                  f"date + 60 days, AU-C 230 / AT-C 205); archive {lock.archive} (SHA-256 ")


def _writers(folder: Path, test):
    engagement = load_engagement(folder)
    key = test.selection.keys[0]
    new = folder.parent / "backups_v2.csv"
    lines = (folder / "populations" / "aws_backup_jobs_FY26.csv").read_text(encoding="utf-8").splitlines(True)
    fields = lines[-1].split(",")
    fields[11] = "1"
    new.write_text("".join(lines[:-1]) + ",".join(fields), encoding="utf-8")

    def conclusion():
        with ResultsStore.open(engagement) as store:
            store.append("conclusion", {"control_id": CONTROL},
                         {"conclusion": "exceptions_noted", "proposed": "exceptions_noted",
                          "fingerprint": test.fingerprint.sha256, "components": {}}, who="DR")

    def result():
        with ResultsStore.open(engagement) as store:
            store.record(CONTROL, key, "agreed_to_source", "pass", tested_by="DR", evidence_ref="console export")

    return {
            "result": result,
            "conclusion": conclusion,
            "seed": lambda: choose_seed(engagement, sample_id(engagement, engagement.control(CONTROL)), 7, by="DR",
                                        reason="redrawn"),
            "walkthrough": lambda: record_walkthrough_of(engagement, CONTROL),
            "exception evaluation": lambda: evaluate_exception(
                engagement, CONTROL, key, by="DR", type="operating", extent="isolated", why="one night",
                root_cause="storage full", effect_on_criteria="none"),
            "reviewer sign-off": lambda: sign_off(test, "reviewer", by="ME"),
            "review note": lambda: raise_note(engagement, CONTROL, by="ME", text="late note"),
            "receipt": lambda: deliver_population(engagement, "backups", new, reason="re-run", delivered_by="DR"),
        }


@pytest.mark.parametrize("writer", ["result", "conclusion", "seed", "walkthrough", "exception evaluation",
                                    "reviewer sign-off", "review note", "receipt"])
def test_every_writer_is_refused_after_the_lock(locked, writer):
    folder = locked["folder"]
    with ResultsStore.open(folder) as store:
        before = store.verify().entries
    with pytest.raises(EngagementLocked, match=LOCKED):
        _writers(folder, locked["test"])[writer]()
    with ResultsStore.open(folder) as store:
        assert store.verify().entries == before


def test_an_addition_is_recorded_with_who_when_and_why(locked, tmp_path):
    engagement, test = locked["engagement"], locked["test"]
    signed = sign_off(test, "reviewer", by="ME", addition=True, reason="review finished after release: AU-C 230.18")
    assert signed.addition == "review finished after release: AU-C 230.18"
    with recording_addition("evidence received late"):
        agree_to_source(engagement, CONTROL, [test.selection.keys[0]])
    additions = read_signoffs(engagement).additions
    assert [(a.kind, dict(a.key), a.by, a.reason) for a in additions] == [
        ("signoff", {"control_id": CONTROL, "role": "reviewer"}, "ME", "review finished after release: AU-C 230.18"),
        ("result", {"control_id": CONTROL, "item_key": test.selection.keys[0], "attribute_id": "agreed_to_source"},
         "DR", "evidence received late"),
    ]
    with ResultsStore.open(engagement) as store:
        entries = store.history()
    assert [e.kind for e in entries[-4:]] == ["signoff", "addition", "result", "addition"]
    assert entries[-3].key == {"seq": entries[-4].seq} and entries[-3].at == entries[-4].at
    book = openpyxl.load_workbook(write_workpaper(tmp_path, run_control_test(engagement, CONTROL)))
    values = [[c.value for c in row] for row in book["Sign-off"].iter_rows()]
    assert any(row[0] == "Additions after the lock" for row in values)
    assert any(row[1] == "ME" and row[2] == "signoff" and row[4] == "review finished after release: AU-C 230.18"
               for row in values)


def test_an_addition_needs_a_reason_and_a_locked_engagement(type2_copy, locked):
    with pytest.raises(ParameterError, match=r"an addition after the lock needs --reason TEXT"):
        sign_off(locked["test"], "reviewer", by="ME", addition=True)
    assert read_signoffs(locked["engagement"]).additions == ()


def test_an_addition_to_an_engagement_not_locked_is_refused(type2_copy):
    engagement = load_engagement(type2_copy)
    with pytest.raises(EngagementLocked, match=r"is not locked, so this is not an addition; record it without "
                                               r"--addition"):
        raise_note(engagement, CONTROL, by="ME", text="x", addition=True, reason="why")


def test_lock_rules(type2_copy, locked):
    engagement = locked["engagement"]
    with pytest.raises(EngagementLocked, match=r"is locked already: SW locked it on"):
        lock_engagement(engagement, release_date=RELEASED, by="AC")


def test_only_a_manager_or_partner_locks_and_not_before_the_release(type2_copy):
    engagement = load_engagement(type2_copy)
    with pytest.raises(ParameterError, match=r"Morgan Ellis \(ME\) is on the staff as reviewer, and locking the "
                                             r"engagement is given by a manager or partner"):
        lock_engagement(engagement, release_date=RELEASED, by="ME")
    with pytest.raises(ResultsError, match=r"the report release date .* is in the future"):
        lock_engagement(engagement, release_date=dt.date.today() + dt.timedelta(days=1), by="AC")
    assert read_signoffs(engagement).lock is None
    assert not (type2_copy / "archive").exists()


def test_the_archive_holds_every_file_with_its_sha256(locked):
    folder = locked["folder"]
    lock = read_signoffs(locked["engagement"]).lock
    assert lock is not None and lock.archive is not None
    path = folder / lock.archive
    assert hashlib.sha256(path.read_bytes()).hexdigest() == lock.archive_sha256
    assert stat.S_IMODE(path.stat().st_mode) == shared_file_mode()     # not mkstemp's 0600: the team reads it
    on_disk = {f"acme-type2/{p.relative_to(folder).as_posix()}": hashlib.sha256(p.read_bytes()).hexdigest()
               for p in folder.rglob("*") if p.is_file() and p.relative_to(folder).parts[0] != "archive"
               and not p.name.startswith("results.sqlite")}
    with zipfile.ZipFile(path) as archive:
        manifest = archive.read(MANIFEST_NAME).decode("utf-8")
        listed = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in manifest.splitlines()}
        names = set(archive.namelist()) - {MANIFEST_NAME}
        for name, digest in listed.items():
            assert hashlib.sha256(archive.read(name)).hexdigest() == digest, name
        store = archive.read("acme-type2/results.sqlite")
    assert names == set(listed)
    assert {k: v for k, v in listed.items() if k != "acme-type2/results.sqlite"} == on_disk
    assert "acme-type2/engagement.toml" in listed and "acme-type2/populations/aws_backup_jobs_FY26.csv" in listed
    copy = folder.parent / "archived.sqlite"
    copy.write_bytes(store)
    with sqlite3.connect(copy) as connection:
        kinds = [row[0] for row in connection.execute("SELECT kind FROM entries ORDER BY seq")]
    assert kinds[-1] == "lock" and "signoff" in kinds      # the store as it was locked, lock entry included


def test_the_summary_shows_the_lock_and_the_deadline(locked, tmp_path):
    engagement, test = locked["engagement"], locked["test"]
    row = {"control_id": CONTROL, "status": "exceptions_noted", "inputs_fingerprint": test.fingerprint.to_record()}
    sheet = openpyxl.load_workbook(write_summary(tmp_path, engagement, [row], {}))["Summary"]
    assert sheet["A11"].value.startswith(f"Locked by SW on {dt.date.today().isoformat()}: report released "
                                         f"{RELEASED.isoformat()}; documentation completion deadline {DEADLINE}")


def test_cli_lock_then_run_into_the_locked_output_is_refused(type2_copy, capsys):
    folder = str(type2_copy)
    assert cli.main(["lock", folder, "--release-date", RELEASED.isoformat(), "--by", "AC"]) == 0
    assert capsys.readouterr().out.startswith(f"Locked by AC on {dt.date.today().isoformat()}")
    assert cli.main(["run", folder, "--out", str(type2_copy / "output"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"--out {type2_copy / 'output'}: engagement ACME-SOC2-T2-FY26 is locked" in err
    assert f"leave --out out (the run then writes to {type2_copy / 'output' / 'addition-'}" in err
    assert not (type2_copy / "output").exists()
    assert cli.main(["note", folder, "--control", CONTROL, "--by", "ME", "--text", "x"]) == 2
    assert "is locked" in capsys.readouterr().err
    assert cli.main(["note", folder, "--control", CONTROL, "--by", "ME", "--text", "x", "--addition", "--reason",
                     "a question after release"]) == 0


@pytest.mark.slow
def test_a_run_after_the_lock_writes_to_an_addition_folder(locked, capsys):
    folder = locked["folder"]
    assert cli.main(["run", str(folder), "--controls", CONTROL, "--workers", "1", "--no-progress"]) == 0
    err = capsys.readouterr().err
    target = folder / "output" / f"addition-{dt.date.today().isoformat()}"
    assert f"This run writes to {target}, never over the locked workpapers" in err
    assert (target / f"{CONTROL}.xlsx").is_file() and (target / "summary.xlsx").is_file()
    assert not (folder / "output" / f"{CONTROL}.xlsx").exists()


def test_a_lock_whose_archive_failed_is_completed_by_locking_again(type2_copy, monkeypatch):
    import workbench.signoff as signoff

    engagement = load_engagement(type2_copy)
    real = signoff.write_archive

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(signoff, "write_archive", full_disk)
    with pytest.raises(ParameterError, match=r"is locked, but its archive could not be written under .*\(No space "
                                             r"left on device\); .*run workbench lock again to write it"):
        lock_engagement(engagement, release_date=RELEASED, by="SW")
    assert read_signoffs(engagement).lock is not None and read_signoffs(engagement).lock.archive is None
    monkeypatch.setattr(signoff, "write_archive", real)
    lock = lock_engagement(engagement, release_date=RELEASED + dt.timedelta(days=1), by="AC")
    assert (lock.release_date, lock.by, lock.archive is not None) == (RELEASED.isoformat(), "SW", True)


def test_cli_record_after_the_lock_needs_an_addition(locked, capsys):
    folder, key = str(locked["folder"]), locked["test"].selection.keys[0]
    command = ["record", folder, "--control", CONTROL, "--item", key, "--attribute", "agreed_to_source", "--result",
               "pass", "--evidence", "backup console export", "--tester", "DR"]
    assert cli.main(command) != 0
    assert "is locked" in capsys.readouterr().err
    assert cli.main(command + ["--addition", "--reason", "evidence received after release"]) == 0
    additions = read_signoffs(locked["engagement"]).additions
    assert [(a.kind, a.by, a.reason) for a in additions] == [("result", "DR", "evidence received after release")]
