"""``workbench lab ENGAGEMENT``: JupyterLab opened on an engagement, its control notebooks ready to run.

What it prepares (nothing an inputs fingerprint covers is touched: populations, the control matrix,
engagement.toml and the results store stay as they are)::

    ENGAGEMENT/output/interactive/notebooks/<control>.ipynb   working copy of the control's notebook, its
                                                              parameters cell set to this engagement and control
    ENGAGEMENT/output/interactive/                            what those notebooks write (workpapers, records):
                                                              apart from a batch run's output/ and its manifest
    ENGAGEMENT/output/interactive/.lab/settings/              JupyterLab's settings for this server only: news
                                                              and update checks off

A working copy is written when it is missing, or when the package's notebook changed since it was written
(the notebook's SHA-256 is kept in the copy's metadata); a copy the tester ran or edited is otherwise left
alone. The server is ``python -m jupyterlab`` on 127.0.0.1, its root the engagement folder, opened on the
working copies' folder.

Public API::

    prepare_lab(engagement_dir, *, port=None, open_browser=True) -> LabSetup
    LabSetup.command, .environment, .notebooks, .url_path
    NOTIFICATION_SETTINGS
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from workbench.batch import notebook_for
from workbench.engagement import load_engagement
from workbench.library import is_testable

__all__ = ["LabSetup", "prepare_lab", "working_copy", "NOTIFICATION_SETTINGS", "INTERACTIVE_FOLDER"]

#: Where interactive work goes, under the engagement folder.
INTERACTIVE_FOLDER = Path("output") / "interactive"
#: JupyterLab's notification settings for the workbench's server: no news pop-up, no update check
#: (``--LabApp.news_url=None`` alone still asks whether to fetch news).
NOTIFICATION_SETTINGS: dict[str, object] = {"fetchNews": "false", "checkForUpdates": False}
_SETTINGS_FILE = Path("@jupyterlab") / "apputils-extension" / "notification.jupyterlab-settings"


@dataclass(frozen=True)
class LabSetup:
    """How to start JupyterLab on an engagement.

    Attributes
    ----------
    engagement_dir : Path
    command : tuple of str
        ``python -m jupyterlab ...`` (stop it by its process id: it is the server itself).
    environment : dict
        The environment to start it with (``JUPYTERLAB_SETTINGS_DIR`` set to the private settings).
    notebooks : tuple of Path
        The working copies, one per control with a notebook, in control-matrix order.
    url_path : str
        The page it opens, relative to the server's root URL.
    """

    engagement_dir: Path
    command: tuple[str, ...]
    environment: dict[str, str]
    notebooks: tuple[Path, ...]
    url_path: str


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _set_parameter(source: str, name: str, value: str) -> str:
    """The parameters cell with ``name``'s value replaced (its type annotation and comment kept)."""
    pattern = re.compile(rf"^({re.escape(name)}\s*(?::\s*[^=]+)?=\s*)(\"[^\"]*\"|'[^']*')", re.M)
    replaced, count = pattern.subn(lambda m: m.group(1) + json.dumps(value), source, count=1)
    if not count:
        replaced = source.rstrip("\n") + f"\n{name} = {json.dumps(value)}\n"
    return replaced


def working_copy(source: Path, target: Path, parameters: dict[str, str]) -> bool:
    """Write ``source`` to ``target`` with its parameters cell set, unless ``target`` is current; True if written.

    A target is current when it was written from the same source notebook (its SHA-256 in the metadata) and
    for the same parameters: then it may hold the tester's own outputs or notes, and is kept.
    """
    digest = _sha256(source)
    if target.is_file():
        try:
            mark = json.loads(target.read_text(encoding="utf-8")).get("metadata", {}).get("workbench", {})
            if mark.get("source_sha256") == digest and mark.get("parameters") == parameters:
                return False
        except (OSError, ValueError, AttributeError):   # unreadable: written again
            pass
    notebook = json.loads(source.read_text(encoding="utf-8"))   # the .ipynb JSON as is (nbformat 4)
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            for name, value in parameters.items():
                text = _set_parameter(text, name, value)
            cell["source"] = text.splitlines(keepends=True)
            break
    metadata = notebook.setdefault("metadata", {})
    # the package notebook names no kernel (papermill is told); JupyterLab would ask for one
    metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"})
    metadata["workbench"] = {
        "source_sha256": digest, "parameters": parameters,
        "note": "working copy written by `workbench lab`; the package notebook is the original"}
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(temporary, target)
    return True


def prepare_lab(engagement_dir: str | os.PathLike[str], *, port: int | None = None,
                open_browser: bool = True) -> LabSetup:
    """Write the working copies and the private settings, and say how to start JupyterLab on the engagement.

    Parameters
    ----------
    engagement_dir : path-like
    port : int, optional
        The server's port (default JupyterLab's: 8888, or the next free one).
    open_browser : bool, default True

    Raises
    ------
    EngagementError
        The engagement folder cannot be loaded (the message names the file and key).
    """
    engagement = load_engagement(engagement_dir)
    folder = Path(engagement.folder).resolve()
    interactive = folder / INTERACTIVE_FOLDER
    notebooks_dir = interactive / "notebooks"
    notebooks = []
    for control in engagement.controls:
        if control.procedure is None or not is_testable(engagement, control):
            continue
        source = notebook_for(control.procedure)
        if source is None:
            continue
        target = notebooks_dir / f"{control.id}.ipynb"
        # relative to the working copy (the kernel's folder): the engagement folder can be moved or shared
        working_copy(source, target, {"engagement_dir": os.path.relpath(folder, notebooks_dir),
                                      "control_id": control.id,
                                      "output_dir": os.path.relpath(interactive, notebooks_dir)})
        notebooks.append(target)
    settings = interactive / ".lab" / "settings"
    settings_file = settings / _SETTINGS_FILE
    settings_file.parent.mkdir(parents=True, exist_ok=True)
    settings_file.write_text(json.dumps(NOTIFICATION_SETTINGS, indent=2) + "\n", encoding="utf-8")
    url_path = "lab/tree/" + (notebooks_dir.relative_to(folder)).as_posix()
    command = [sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", f"--ServerApp.root_dir={folder}",
               f"--LabApp.default_url=/{url_path}", "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               f"--LabApp.user_settings_dir={settings}"]
    if port is not None:
        command.append(f"--port={port}")
    if not open_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:   # containers and CI run as root; the server is loopback-only
        command.append("--allow-root")
    environment = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings)}
    return LabSetup(engagement_dir=folder, command=tuple(command), environment=environment,
                    notebooks=tuple(notebooks), url_path=url_path)
