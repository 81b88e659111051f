"""Hostile files (issue 12): damaged and oversized workbooks, symbolic links out of the engagement folder.

Each case gives one message naming the file and what to do, never a traceback: through the library, through
``workbench check-population`` and through ``workbench run`` (exit 2 when the engagement folder itself is bad).
The small files are in ``tests/bad_inputs/`` (``tests/damaged_workbooks.py`` wrote the damaged ones); the large ones
are made here.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from workbench.engagement import load_engagement
from workbench.errors import EngagementError, ParameterError, PopulationError, ResultsError
from workbench.population import load_population, load_population_file
from workbench.receipt import deliver_population, pin_populations
from workbench.workbooks import (
    EXPANSION_ALLOWANCE_BYTES,
    MAX_EXPANSION_RATIO,
    MAX_UNCOMPRESSED_BYTES,
    archive_problem,
)

ROOT = Path(__file__).resolve().parents[1]
BAD = ROOT / "tests" / "bad_inputs"
WORKBENCH = str(Path(sys.executable).parent / "workbench")


def workbench(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([WORKBENCH, *arguments], capture_output=True, text=True, timeout=300)


# --------------------------------------------------------------------------------------------------
# Damaged workbooks
# --------------------------------------------------------------------------------------------------
DAMAGED = {
    "damaged_truncated_sheet.xlsx":
        "not a readable Excel workbook (damaged): a part of it is truncated or malformed XML (unclosed token: line 1, "
        "column 1009); open it in Excel and save it again as .xlsx or CSV, or ask the client to export it again",
    "damaged_encrypted_entry.xlsx":
        "the workbook is refused before it is opened: its part 'docProps/app.xml' is flagged as encrypted (a "
        "password-protected or damaged workbook); remove the password in Excel and save it again, or ask for the "
        "data as CSV",
    "damaged_unknown_compression.xlsx":
        "not a readable Excel workbook (corrupt or not an .xlsx): its part 'docProps/app.xml' uses compression "
        "method 99, which an .xlsx never uses (only stored or deflate): the file is damaged or not a real "
        "workbook; ask for it to be exported again, or for the data as CSV",
    "zip_not_workbook.xlsx":
        "not a readable Excel workbook (damaged): a part every workbook has is missing: There is no item named "
        "'[Content_Types].xml' in the archive; open it in Excel and save it again as .xlsx or CSV, or ask the "
        "client to export it again",
}


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_a_damaged_population_workbook_is_one_message(name):
    path = BAD / name
    with pytest.raises(PopulationError) as caught:
        load_population_file(path, kind="changes")
    assert str(caught.value) == f"{path}: {DAMAGED[name]}"
    done = workbench("check-population", str(path), "--kind", "changes")
    assert done.returncode == 1
    assert f"ERROR file: {path}: {DAMAGED[name]}" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


MATRIX_DAMAGE = {
    "damaged_truncated_sheet.xlsx":
        "cannot be read as an Excel workbook (damaged): a part of it is truncated or malformed XML (unclosed token: "
        "line 1, column 1009); save it from Excel as an .xlsx workbook, or as controls.csv.",
    "damaged_encrypted_entry.xlsx":
        "refused before it is opened: its part 'docProps/app.xml' is flagged as encrypted (a password-protected "
        "or damaged workbook); remove the password in Excel and save it again, or ask for the data as CSV (or "
        "save the matrix as controls.csv).",
    "damaged_unknown_compression.xlsx":
        "cannot be read as an Excel workbook: its part 'docProps/app.xml' uses compression method 99, which an "
        ".xlsx never uses (only stored or deflate): the file is damaged or not a real workbook; ask for it to be "
        "exported again, or for the data as CSV (or save the matrix as controls.csv).",
}


@pytest.mark.parametrize("name", sorted(MATRIX_DAMAGE))
def test_a_damaged_control_matrix_is_an_engagement_error_and_run_exits_2(type2_copy, name):
    shutil.copyfile(BAD / name, type2_copy / "controls.xlsx")
    with pytest.raises(EngagementError) as caught:
        load_engagement(type2_copy)
    assert caught.value.problems == (f"acme-type2/controls.xlsx: {MATRIX_DAMAGE[name]}",)
    for arguments in (["run", str(type2_copy), "--no-progress"],
                      ["check-population", str(type2_copy / "populations" / "jira_changes_FY26.csv"),
                       "--kind", "changes", "--engagement", str(type2_copy)]):
        done = workbench(*arguments)
        assert done.returncode == 2, done.stderr
        assert f"acme-type2/controls.xlsx: {MATRIX_DAMAGE[name]}" in done.stderr
        assert "Traceback" not in done.stdout + done.stderr


# --------------------------------------------------------------------------------------------------
# Zip bombs
# --------------------------------------------------------------------------------------------------
def bomb(uncompressed: int) -> bytes:
    """A workbook whose sheet XML is ``uncompressed`` bytes of padding (deflate shrinks it ~1,000 times)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            block = b" " * (1 << 20)
            for _ in range(uncompressed // len(block)):
                sheet.write(block)
    return out.getvalue()


def declared_size(data: bytes, size: int) -> bytes:
    """The archive with its last central-directory entry declaring ``size`` uncompressed bytes (a lie)."""
    patched = bytearray(data)
    at = patched.rfind(b"PK\x01\x02")
    struct.pack_into("<I", patched, at + 24, size)
    return bytes(patched)


def test_limits_are_the_documented_ones():
    assert (MAX_UNCOMPRESSED_BYTES, MAX_EXPANSION_RATIO, EXPANSION_ALLOWANCE_BYTES) == (1 << 30, 100, 16 << 20)
    assert "1 GiB" in (ROOT / "docs" / "inputs.md").read_text(encoding="utf-8")


def test_a_zip_bomb_is_refused_before_it_is_opened(tmp_path):
    data = bomb(40 << 20)
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(data)
    ratio = (40 << 20) / len(data)
    expected = (f"{path}: the workbook is refused before it is opened: it would expand to 40.0 MiB from "
                f"{len(data):,} bytes on disk, {ratio:,.0f} times its size (the limit is 100 times; real exports "
                f"expand 5 to 20 times): a \"zip bomb\" or a damaged file; ask for the data as CSV")
    with pytest.raises(PopulationError) as caught:
        load_population_file(path, kind="changes")
    assert str(caught.value) == expected
    done = workbench("check-population", str(path), "--kind", "changes")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert expected in done.stdout


def test_the_absolute_cap_applies_whatever_the_ratio(tmp_path):
    data = declared_size(bomb(1 << 20), (1 << 30) + 1)
    assert str(archive_problem(data)) == (
        "it would expand to 1,024.0 MiB (1,073,741,833 bytes), over the limit of 1,024.0 MiB for any workbook (a "
        "\"zip bomb\", or far more data than a workbook should carry); ask for the data as CSV")


def test_a_small_repetitive_workbook_is_not_a_bomb():
    assert archive_problem(bomb(8 << 20)) is None          # 8 MiB from a few KB: under the allowance


def test_a_control_matrix_bomb_is_refused(type2_copy):
    (type2_copy / "controls.xlsx").write_bytes(bomb(40 << 20))
    done = workbench("run", str(type2_copy), "--no-progress")
    assert done.returncode == 2
    assert "acme-type2/controls.xlsx: refused before it is opened: it would expand to 40.0 MiB from" in done.stderr
    assert "Traceback" not in done.stderr


# --------------------------------------------------------------------------------------------------
# Symbolic links out of the engagement folder
# --------------------------------------------------------------------------------------------------
def relink(link: Path, target: Path) -> None:
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)
    else:
        link.unlink()
    link.symlink_to(target)


def test_a_population_linked_to_a_file_outside_is_refused(type2_copy):
    relink(type2_copy / "populations" / "jira_changes_FY26.csv", Path("/etc/passwd"))
    lines = (type2_copy / "engagement.toml").read_text(encoding="utf-8").splitlines()
    table = lines.index("[populations.changes]")
    line = next(n for n, text in enumerate(lines[table:], start=table + 1) if text.startswith("file ="))
    expected = (f"acme-type2/engagement.toml, line {line}, [populations.changes] file: population 'changes': "
                "'populations/jira_changes_FY26.csv' leads outside the engagement folder through a symbolic link "
                "(its real path is /etc/passwd); client files must be inside the folder: copy the file itself into "
                "acme-type2/populations/ (not a link to it) and give its path.")
    with pytest.raises(EngagementError) as caught:
        load_engagement(type2_copy)
    assert caught.value.problems == (expected,)
    done = workbench("run", str(type2_copy), "--no-progress")
    assert done.returncode == 2 and expected in done.stderr and "Traceback" not in done.stderr


def test_a_populations_folder_linked_outside_is_refused(type2_copy, tmp_path):
    outside = tmp_path / "elsewhere"
    shutil.copytree(type2_copy / "populations", outside)
    relink(type2_copy / "populations", outside)
    with pytest.raises(EngagementError) as caught:
        load_engagement(type2_copy)
    assert len(caught.value.problems) == 11          # every population of the demo
    assert (f"'populations/jira_changes_FY26.csv' leads outside the engagement folder through a symbolic link "
            f"(its real path is {outside / 'jira_changes_FY26.csv'})") in caught.value.problems[0]


def test_a_link_inside_the_folder_is_fine(type2_copy):
    populations = type2_copy / "populations"
    (populations / "received").mkdir()
    (populations / "jira_changes_FY26.csv").rename(populations / "received" / "jira.csv")
    (populations / "jira_changes_FY26.csv").symlink_to(populations / "received" / "jira.csv")
    engagement = load_engagement(type2_copy)
    assert load_population(engagement, "changes").rows_received == 1560


def test_a_link_changed_after_the_engagement_was_loaded_is_refused_at_load(type2_copy):
    engagement = load_engagement(type2_copy)
    relink(type2_copy / "populations" / "jira_changes_FY26.csv", Path("/etc/passwd"))
    with pytest.raises(PopulationError) as caught:
        load_population(engagement, "changes")
    assert str(caught.value) == (
        "populations/jira_changes_FY26.csv: leads outside the engagement folder through a symbolic link (its real "
        "path is /etc/passwd); client files must be inside the folder: copy the file itself into "
        "acme-type2/populations/")


def test_deliver_population_never_writes_outside_the_folder(type2_copy, tmp_path):
    engagement = load_engagement(type2_copy)
    population = load_population(engagement, "deployments")
    pin_populations(engagement, population, pinned_by="DR")
    outside = tmp_path / "outside"
    outside.mkdir()
    (type2_copy / "populations" / "superseded").symlink_to(outside)
    new = tmp_path / "new.csv"
    new.write_bytes(population.source.read_bytes() + b"dep-999999,,2026-06-01T10:00:00Z,ci-bot,web-app,production\n")
    with pytest.raises(PopulationError) as caught:
        deliver_population(engagement, "deployments", new, reason="re-run", delivered_by="DR")
    assert str(caught.value) == (
        f"populations/superseded/deployments_FY26.v1.{population.sha256[:12]}.csv: the folder of superseded "
        f"versions leads outside the engagement folder through a symbolic link (its real path is "
        f"{outside}/deployments_FY26.v1.{population.sha256[:12]}.csv); nothing is written outside the folder. "
        f"Replace the link with a real file or folder inside acme-type2")
    assert list(outside.iterdir()) == []
    done = workbench("deliver-population", str(type2_copy), "deployments", str(new), "--reason", "re-run",
                     "--by", "DR")
    assert done.returncode == 2 and "nothing is written outside the folder" in done.stderr
    assert "Traceback" not in done.stderr and list(outside.iterdir()) == []


def test_a_results_store_linked_outside_is_refused(type2_copy, tmp_path):
    outside = tmp_path / "results.sqlite"
    outside.write_bytes(b"")
    (type2_copy / "results.sqlite").symlink_to(outside)
    engagement = load_engagement(type2_copy)
    with pytest.raises(ResultsError, match="the results store leads outside the engagement folder"):
        pin_populations(engagement, load_population(engagement, "deployments"), pinned_by="DR")
    assert outside.read_bytes() == b""


def test_an_output_folder_linked_outside_is_refused_unless_named(type2_copy, tmp_path):
    from workbench.batch import run_engagement

    outside = tmp_path / "outside"
    outside.mkdir()
    (type2_copy / "output").symlink_to(outside)
    with pytest.raises(ParameterError) as caught:
        run_engagement(type2_copy, progress=False)
    assert str(caught.value) == (
        f"acme-type2/output leads outside the engagement folder through a symbolic link (its real path is "
        f"{outside}); the workbench writes nothing outside the folder unless told: remove the link, or name the "
        f"folder with --out.")
    assert list(outside.iterdir()) == []


# --------------------------------------------------------------------------------------------------
# Every file of the corpus through the command line: a report or one message, never a traceback
# --------------------------------------------------------------------------------------------------
KINDS = {"servicenow_audit_trail.csv": "incidents", "users_flags_unreadable.csv": "users",
         "hr_terminations_empid.csv": "terminations", "hr_terminations_spaced.csv": "terminations",
         "json_several_arrays.json": "backups"}


@pytest.mark.parametrize("name", sorted(p.name for p in BAD.iterdir() if p.name != "README.md"))
def test_no_file_of_the_corpus_gives_a_traceback(name):
    done = workbench("check-population", str(BAD / name), "--kind", KINDS.get(name, "changes"))
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert name in done.stdout + done.stderr


# --------------------------------------------------------------------------------------------------
# Fuzzing workbooks: any damage gives a Population or one PopulationError, never anything else
# --------------------------------------------------------------------------------------------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from damaged_workbooks import valid_workbook  # noqa: E402

from workbench.population import Population  # noqa: E402

VALID = valid_workbook()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8),
       st.one_of(st.none(), st.integers(30, len(VALID))))
def test_damaged_workbooks_never_raise_anything_else(tmp_path_factory, flips, cut):
    data = bytearray(VALID)
    for at, byte in flips:
        data[at] = byte
    path = tmp_path_factory.mktemp("fuzz") / "changes.xlsx"
    path.write_bytes(bytes(data[:cut]))
    try:
        population = load_population_file(path, kind="changes", timezone="UTC")
    except PopulationError as error:
        assert str(path) in str(error)
        return
    assert isinstance(population, Population)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), min_size=1, max_size=6))
def test_a_damaged_control_matrix_never_raises_anything_else(tmp_path_factory, flips):
    from test_engagement import make_folder

    folder = make_folder(tmp_path_factory.mktemp("matrix"))
    data = bytearray((folder / "controls.xlsx").read_bytes())
    for at, byte in flips:
        data[at % len(data)] = byte
    (folder / "controls.xlsx").write_bytes(bytes(data))
    try:
        load_engagement(folder)
    except EngagementError as error:
        assert "acme-type2/controls.xlsx" in str(error) or "acme-type2" in str(error)
