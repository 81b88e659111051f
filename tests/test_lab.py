"""``workbench lab``: working copies with their parameters set, private settings with news off, the command."""

from __future__ import annotations

import json
import subprocess
import sys

import papermill

from workbench import cli
from workbench.lab import NOTIFICATION_SETTINGS, prepare_lab

from conftest import SAMPLE_DATA, copy_engagement


def test_prepare_writes_a_working_copy_per_control_and_changes_no_input(tmp_path):
    folder = copy_engagement(SAMPLE_DATA / "acme-type2", tmp_path / "acme-type2")
    inputs = {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}
    setup = prepare_lab(folder, port=8901, open_browser=False)
    assert {path: path.read_bytes() for path in inputs} == inputs    # populations, matrix, engagement.toml as they were
    assert not (folder / "results.sqlite").exists()
    notebooks = folder / "output" / "interactive" / "notebooks"
    assert [p.name for p in setup.notebooks] == sorted((p.name for p in notebooks.glob("*.ipynb")),
                                                       key=[p.name for p in setup.notebooks].index)
    assert len(setup.notebooks) == 24 and setup.notebooks[14].name == "CM-01.ipynb"
    declared = papermill.inspect_notebook(str(notebooks / "CM-01.ipynb"))
    assert {name: p["default"] for name, p in declared.items()} == {
        "engagement_dir": '"../../.."', "control_id": '"CM-01"', "output_dir": '".."'}
    assert (notebooks / "../../..").resolve() == folder.resolve()
    settings = folder / "output" / "interactive" / ".lab" / "settings"
    written = json.loads((settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings")
                         .read_text())
    assert written == NOTIFICATION_SETTINGS == {"fetchNews": "false", "checkForUpdates": False}
    assert setup.environment["JUPYTERLAB_SETTINGS_DIR"] == str(settings)
    assert setup.command[:3] == (sys.executable, "-m", "jupyterlab")
    assert {"--ip=127.0.0.1", "--port=8901", "--no-browser", "--LabApp.news_url=None",
            "--LabApp.default_url=/lab/tree/output/interactive/notebooks"} <= set(setup.command)


def test_a_working_copy_the_tester_ran_is_kept(tmp_path):
    folder = copy_engagement(SAMPLE_DATA / "acme-type2", tmp_path / "acme-type2")
    setup = prepare_lab(folder)
    copy = setup.notebooks[0]
    notebook = json.loads(copy.read_text())
    notebook["cells"].append({"cell_type": "markdown", "metadata": {}, "source": ["my notes"]})
    copy.write_text(json.dumps(notebook))
    prepare_lab(folder)
    assert "my notes" in copy.read_text()
    notebook["metadata"]["workbench"]["source_sha256"] = "0" * 64     # the package notebook changed since
    copy.write_text(json.dumps(notebook))
    prepare_lab(folder)
    assert "my notes" not in copy.read_text()


def test_bad_engagement_is_one_message_and_exit_2(tmp_path, capsys):
    assert cli.main(["lab", str(tmp_path / "nowhere"), "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("workbench lab: ") and "Traceback" not in err


def test_the_command_line_does_not_import_jupyter_to_start():
    code = ("import sys; from workbench import cli; cli.build_parser().parse_args(['lab', 'x']); "
            "print(sorted(m for m in ('jupyterlab', 'nbformat', 'workbench.lab', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
