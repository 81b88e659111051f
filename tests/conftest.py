"""Shared fixtures and helpers: the demo engagements, private copies of them, the stages of one control."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = ROOT / "sample_data"


@pytest.fixture(scope="session")
def demo_type2(tmp_path_factory) -> Path:
    """A session copy of the demo Type 2 engagement, shared by tests that only read it.

    Loading a population pins its SHA-256 in the engagement's results.sqlite, so tests never load
    the committed folder itself (a regenerated demo would then meet stale pins).
    """
    return copy_engagement(SAMPLE_DATA / "acme-type2", tmp_path_factory.mktemp("demo") / "acme-type2")


@pytest.fixture(scope="session")
def demo_type1(tmp_path_factory) -> Path:
    """A session copy of the demo Type 1 engagement, shared by tests that only read it."""
    return copy_engagement(SAMPLE_DATA / "acme-type1", tmp_path_factory.mktemp("demo") / "acme-type1")


def copy_engagement(source: Path, target: Path) -> Path:
    """Copy an engagement folder without its outputs or results store."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("output", "results.sqlite*"))
    return target


@pytest.fixture
def type2_copy(tmp_path) -> Path:
    """A private, writable copy of the demo Type 2 engagement."""
    return copy_engagement(SAMPLE_DATA / "acme-type2", tmp_path / "acme-type2")


def run_stages(folder: Path, control_id: str = "CM-01", seed: int | None = None) -> dict:
    """Run one control's stages on an engagement folder, as the notebook does, up to the evaluation."""
    from workbench.engagement import load_engagement
    from workbench.evaluation import evaluate_control
    from workbench.outcome import derive_seed
    from workbench.population import load_population, scope_population
    from workbench.procedures import get_procedure
    from workbench.testing import plan_sample, select_sample, test_attributes
    from workbench.validation import validate

    engagement = load_engagement(folder)
    control = engagement.control(control_id)
    procedure = get_procedure(control.procedure)
    population = load_population(engagement, control.populations[0])
    report = validate(population, engagement)
    scoped = scope_population(population, engagement, date_column=procedure.date_column)
    sample_plan = plan_sample(engagement, control, scoped)
    selection = select_sample(scoped, sample_plan, seed=derive_seed(engagement, control, population, seed))
    testing = test_attributes(procedure, control, scoped, selection, engagement)
    evaluation = evaluate_control(engagement, control, sample_plan, selection, testing)
    return dict(engagement=engagement, control=control, procedure=procedure, population=population, report=report,
                scoped=scoped, sample_plan=sample_plan, selection=selection, testing=testing, evaluation=evaluation)


def write_stages(stages: dict, output_dir: Path) -> Path:
    """Write the workpaper of stages from :func:`run_stages` into ``output_dir``."""
    from workbench.workpaper import write_workpaper

    s = stages
    return write_workpaper(output_dir, s["engagement"], s["control"], s["population"], s["report"], s["scoped"],
                           s["sample_plan"], s["selection"], s["testing"], s["evaluation"])
