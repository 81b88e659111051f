"""Shared fixtures: the demo engagements and private copies of them."""

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
