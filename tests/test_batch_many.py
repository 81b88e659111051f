"""``workbench run`` over several engagements: a folder of them, one progress display, each engagement's own
output folder, summary and manifest, a batch manifest listing them (and the ones that could not run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SAMPLE_DATA, copy_engagement
from workbench import cli
from workbench.batch import find_engagements
from workbench.errors import ParameterError

WORKBENCH = str(Path(sys.executable).parent / "workbench")


@pytest.fixture
def clients(tmp_path) -> Path:
    """A folder of three engagement folders: two demo engagements and one whose engagement.toml is wrong."""
    folder = tmp_path / "clients"
    copy_engagement(SAMPLE_DATA / "acme-type2", folder / "acme-type2")
    copy_engagement(SAMPLE_DATA / "acme-type1", folder / "beta-type1")
    broken = copy_engagement(SAMPLE_DATA / "acme-type2", folder / "broken")
    toml = broken / "engagement.toml"
    toml.write_text(toml.read_text().replace("tolerable_rate = 0.10", "tolerable_rate = 0.10\ntolerable = 0.05"))
    (folder / "notes").mkdir()                            # not an engagement: ignored
    return folder


def test_finding_engagements(clients, tmp_path):
    assert [path.name for path in find_engagements([clients])] == ["acme-type2", "beta-type1", "broken"]
    assert find_engagements([clients / "acme-type2", clients]) == [
        clients / "acme-type2", clients / "beta-type1", clients / "broken"]   # each once
    with pytest.raises(ParameterError, match="neither an engagement folder .* nor a folder of engagement folders"):
        find_engagements([clients / "notes"])


@pytest.mark.slow
def test_a_folder_of_engagements(clients):
    done = subprocess.run([WORKBENCH, "run", str(clients), "--controls", "CM-01", "--workers", "2"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stderr          # the broken engagement was not run; the others were
    assert "Traceback" not in done.stderr
    # one progress display for the whole batch (both engagements' notebooks), not one per engagement
    assert "Testing controls" in done.stderr and "2/2" in done.stderr and "1/1" not in done.stderr
    batch = json.loads((clients / "batch-manifest.json").read_text())
    assert batch["state"] == "complete"
    entries = {Path(entry["engagement"]).name: entry for entry in batch["engagements"]}
    assert entries["broken"]["state"] == "not_run" and "tolerable" in entries["broken"]["error"]
    for name, result in (("acme-type2", "testing_in_progress"), ("beta-type1", "testing_in_progress")):
        out = clients / name / "output"
        assert entries[name]["state"] == "complete" and entries[name]["manifest"] == str(out / "manifest.json")
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["state"] == "complete" and manifest["engagement"] == str(clients / name)
        assert [(r["control_id"], r["status"], r["result_status"]) for r in manifest["controls"]] == [
            ("CM-01", "ran", result)]
        assert (out / "summary.xlsx").is_file() and (out / "CM-01.xlsx").is_file()
    assert not (clients / "broken" / "output").exists()
    assert "NOT RUN" in done.stdout and "broken" in done.stdout


@pytest.mark.slow
def test_several_engagements_into_one_output_folder(clients, tmp_path):
    out = tmp_path / "out"
    code = cli.main(["run", str(clients / "acme-type2"), str(clients / "beta-type1"), "--out", str(out),
                     "--controls", "ENT-01", "--no-progress"])
    assert code == 0
    assert sorted(path.name for path in out.iterdir()) == ["acme-type2", "batch-manifest.json", "beta-type1",
                                                           "run.lock"]
    batch = json.loads((out / "batch-manifest.json").read_text())
    assert [entry["output"] for entry in batch["engagements"]] == [str(out / "acme-type2"), str(out / "beta-type1")]
    assert all((out / name / "summary.xlsx").is_file() for name in ("acme-type2", "beta-type1"))


def test_a_bad_engagement_alone_is_still_a_usage_error(clients, capsys):
    assert cli.main(["run", str(clients / "broken"), "--no-progress"]) == 2
    assert "tolerable" in capsys.readouterr().err
