"""Shared fixtures and helpers: the demo engagements, private copies of them, the stages of one control."""

from __future__ import annotations

import os
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


def _batch_run(name: str, tmp_path_factory) -> dict:
    """The one batch run of a demo engagement per test session, shared by every pytest-xdist worker.

    The first worker to ask copies the engagement and runs it (``workbench run``, default output folder, as
    ``./dev demo`` leaves it) under a lock in the session's shared temporary folder; the others wait for
    it and read the same output. Tests only read it: a test that changes files works on its own copy.
    """
    import fcntl
    import json

    from workbench import cli
    from workbench.workpaper import read_summary

    # common to all workers of one session (under xdist each worker's basetemp is a child of the session's),
    # never to later sessions: a folder outside the session would hand a stale or half-written run to the next
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "demo-runs"
    shared.mkdir(exist_ok=True)
    folder = shared / name
    out = folder / "output"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / f"{name}.exit-code"
        if not done.exists():
            copy_engagement(SAMPLE_DATA / name, folder, templates=True)   # the demo as shipped: results imported
            code = cli.main(["run", str(folder), "--workers", "2", "--no-progress"])
            done.write_text(str(code))
        code = int(done.read_text())
    return {"folder": folder, "out": out, "code": code,
            "rows": {row["control_id"]: row for row in read_summary(out / "summary.xlsx")},
            "manifest": json.loads((out / "manifest.json").read_text())}


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> dict:
    """The one batch run of the demo Type 2 engagement that every test of its outputs shares."""
    return _batch_run("acme-type2", tmp_path_factory)


@pytest.fixture(scope="session")
def demo_type1_run(tmp_path_factory) -> dict:
    """The one batch run of the demo Type 1 engagement that every test of its outputs shares."""
    return _batch_run("acme-type1", tmp_path_factory)


def copy_engagement(source: Path, target: Path, *, templates: bool = False) -> Path:
    """Copy an engagement folder without its outputs or results store, and without its filled testing templates
    (``testing/``, which ``workbench run`` imports: nothing is recorded in the copy) unless ``templates``."""
    ignored = ("output", "results.sqlite*") + (() if templates else ("testing",))
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*ignored))
    return target


@pytest.fixture
def type2_copy(tmp_path) -> Path:
    """A private, writable copy of the demo Type 2 engagement."""
    return copy_engagement(SAMPLE_DATA / "acme-type2", tmp_path / "acme-type2")


def run_stages(folder: Path, control_id: str = "CM-01", seed: int | None = None) -> dict:
    """Run one control's stages on an engagement folder, as the notebook does, up to the tested control.

    ``seed`` is recorded as a seed chosen by DR (a preparer of the demo) before the selection is drawn.
    """
    from workbench.control_test import ControlTest
    from workbench.engagement import load_engagement
    from workbench.evaluation import evaluate_control
    from workbench.judgements import choose_seed
    from workbench.policy import resolve_policy
    from workbench.population import load_populations, load_related
    from workbench.library import procedure_of
    from workbench.receipt import pin_populations
    from workbench.sample import plan_sample, sample_id, select_sample
    from workbench.scope import scope_control
    from workbench.testing import test_attributes
    from workbench.validation import populations_read, validate_populations

    engagement = load_engagement(folder)
    control = engagement.control(control_id)
    procedure = procedure_of(engagement, control)
    policy = resolve_policy(engagement, control, procedure)
    populations = load_populations(engagement, control)
    related = load_related(engagement, control)
    reports = validate_populations(populations, engagement)
    receipts = pin_populations(engagement, *populations_read(populations, reports), *related)
    scope = scope_control(engagement, control, populations, related, date_column=procedure.date_column)
    sample_plan = plan_sample(engagement, control, scope, policy)
    if seed is not None:
        choose_seed(engagement, sample_id(engagement, control), seed, by="DR", reason="chosen by the test")
    selection = select_sample(engagement, control, scope, sample_plan)
    testing = test_attributes(procedure, control, scope, selection, engagement)
    evaluation = evaluate_control(engagement, control, sample_plan, selection, testing)
    test = ControlTest(engagement=engagement, control=control, procedure=procedure, policy=policy,
                       populations=populations, receipts=receipts, reports=reports, scope=scope,
                       sample_plan=sample_plan, selection=selection, testing=testing, evaluation=evaluation)
    return dict(engagement=engagement, control=control, procedure=procedure, policy=policy,
                population=populations[0], populations=populations, receipts=receipts, report=reports[0],
                reports=reports, scoped=scope, scope=scope, sample_plan=sample_plan, selection=selection,
                testing=testing, evaluation=evaluation, test=test)


def write_stages(stages: dict, output_dir: Path) -> Path:
    """Write the workpaper of stages from :func:`run_stages` into ``output_dir``."""
    from workbench.workpaper import write_workpaper

    return write_workpaper(output_dir, stages["test"])


def as_scoped(frame, *, kind: str = "changes", date_column: str | None = "deployed_at", timezone: str = "UTC"):
    """A canonical frame as a population wholly in scope: for unit tests of the stages after scoping.

    The stages take a :class:`~workbench.scope.ScopedPopulation`; tests that build a frame of changes by
    hand wrap it here (every record in scope, its window from the first to the last occurrence).
    """
    import hashlib

    import numpy as np
    import pandas as pd

    from workbench.formats.schemas import SCHEMAS
    from workbench.population import Population
    from workbench.scope import ScopedPopulation, month_counts

    frame = frame.copy()
    if "source_row" not in frame.columns:
        frame["source_row"] = np.arange(2, len(frame) + 2)
    digest = hashlib.sha256(frame.to_csv(index=False).encode("utf-8")).hexdigest()
    population = Population(name=kind, kind=kind, format="generic", source=Path(f"{kind}.csv"),
                            source_relative=f"{kind}.csv", sha256=digest, frame=frame, key=SCHEMAS[kind].key,
                            rows_received=len(frame), timezone=timezone, timezone_assumed=False)
    n = len(frame)
    dates = frame[date_column] if date_column and n else None
    if dates is not None and dates.notna().any():
        start = dates.min().floor("D")
        end = dates.max().floor("D") + pd.Timedelta(days=1)
        months = tuple(month_counts(dates, start, end))
    else:
        start = end = pd.NaT
        months = ()
    return ScopedPopulation(population, np.ones(n, dtype=bool), np.zeros(n, dtype=np.int8), date_column, start, end,
                            "period", {"received": n, "in_scope": n, "before": 0, "after": 0, "no_date": 0, "filtered": 0},
                            months, tuple(m for m, c in months if c == 0))


def scope_of(frame, engagement, control_id: str, **kwargs):
    """A hand-made canonical frame as the :class:`~workbench.scope.ControlScope` the stages take.

    One part (:func:`as_scoped`, every record in scope) for the engagement's single testing round
    (``period`` for a Type 2, ``as of`` for a Type 1); ``kwargs`` go to :func:`as_scoped`.
    """
    from workbench.scope import ControlScope

    rounds = engagement.test_rounds()
    assert len(rounds) == 1, "scope_of builds a one-round scope; give each round its own part for more"
    return ControlScope(control_id=control_id, parts=(as_scoped(frame, **kwargs),), rounds=rounds)


#: When the seeds and selections a test makes up itself were "chosen" (a fixed time, so tests repeat).
CHOSEN_AT = "2026-07-20T09:00:00+00:00"


def chosen_seed(seed: int, round_name: str = "period", *, by: str = "DR"):
    """Sample decisions with ``seed`` chosen by ``by`` for ``round_name``, for ``select_sample(decisions=...)``.

    The same as a seed recorded with :func:`workbench.judgements.choose_seed`, without writing a results store.
    """
    from workbench.judgements import SampleDecisions, SeedChoice

    return SampleDecisions(seeds={round_name: SeedChoice(seed, by, CHOSEN_AT, "chosen by the test")})


def as_selection(selection, sample: str = "changes", round_name: str = "period"):
    """A selection a test draws itself (:func:`sampling.select`) as the ControlSelection the stages take:
    one round, its seed labelled as chosen by DR."""
    from workbench.judgements import SeedChoice
    from workbench.sample import ControlSelection

    return ControlSelection(sample_id=sample, parts=(selection,), rounds=(round_name,),
                            seeds=(SeedChoice(selection.seed, "DR", CHOSEN_AT, "drawn by the test"),),
                            stage_sizes=(len(selection.keys),))


def record_walkthrough_of(engagement, control_id: str, *, design: str = "suitably designed", by: str = "DR",
                          instance: str = "CHG-1001"):
    """Record a walkthrough of one instance of the control and its design evaluation (as a preparer would)."""
    from workbench.judgements import record_walkthrough

    return record_walkthrough(engagement, control_id, by=by, instance=instance,
                              inquiry_of="Priya Shah, Release Manager", inquiry_date="2026-07-14",
                              inspected=f"the ticket history and the deployment record of {instance}",
                              observed="the approval step of the release pipeline", design=design)


def agree_to_source(engagement, control_id: str, keys, *, failing: dict[str, str] | None = None, by: str = "DR"):
    """Record the accuracy check ``agreed_to_source`` for ``keys``: a pass, or a fail with what differs for a key
    in ``failing`` (key -> comment)."""
    from workbench.results import ResultsStore

    failing = failing or {}
    with ResultsStore.open(engagement) as store:
        for key in keys:
            if key in failing:
                store.record(control_id, key, "agreed_to_source", "fail", tested_by=by, evidence_ref=f"SRC-{key}",
                             comment=failing[key])
            else:
                store.record(control_id, key, "agreed_to_source", "pass", tested_by=by, evidence_ref=f"SRC-{key}")


#: The change types CM-01 and CM-02 test in the demo (its control matrix's Record filter column).
CM01_TYPES = ("Standard", "Normal")


def raw_changes(folder: Path) -> list[dict]:
    """The demo's Jira change export read with the csv module, independently of the workbench loaders:
    ``key``, ``type`` (Custom field (Change type)) and ``deployed`` (naive New York wall time, as exported)."""
    import tomllib

    from test_sample_data import jira_time, records

    file = tomllib.loads((folder / "engagement.toml").read_text(encoding="utf-8"))["populations"]["changes"]["file"]
    return [{"key": r["Issue key"], "type": r["Custom field (Change type)"],
             "deployed": jira_time(r["Custom field (Deployed)"])} for r in records(folder / file)]


def raw_in_scope(folder: Path, start: str, end: str, types: tuple[str, ...] = CM01_TYPES) -> set[str]:
    """Keys of the changes of ``types`` deployed from ``start`` 00:00 to ``end`` 24:00 New York time (the
    demo's zone; Jira times carry no offset), from the raw export."""
    import datetime as _dt

    first = _dt.datetime.fromisoformat(start)
    after = _dt.datetime.fromisoformat(end) + _dt.timedelta(days=1)
    return {c["key"] for c in raw_changes(folder) if c["type"] in types and first <= c["deployed"] < after}
