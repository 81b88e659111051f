"""Every stage of a control's test in one call, for the command line, request lists and tests.

The notebooks call the stages one by one, so that a reader sees each stage's result; :func:`run_control_test`
calls the same functions in the same order (a test asserts that both give the same workpaper)::

    engagement -> control -> procedure, policy -> populations (read only) -> validation -> receipts (pinned)
    -> scope -> sample plan -> selection -> testing -> evaluation -> ControlTest

Public API::

    run_control_test(engagement, control_id) -> ControlTest
    retest(test) -> ControlTest          the testing and evaluation read again (results recorded since)
"""

from __future__ import annotations

import dataclasses

from workbench.control_test import ControlTest
from workbench.engagement import Engagement
from workbench.errors import ParameterError
from workbench.evaluation import evaluate_control
from workbench.policy import resolve_policy
from workbench.population import load_populations, load_related
from workbench.library import procedure_of
from workbench.receipt import pin_populations
from workbench.sample import plan_sample, select_sample
from workbench.scope import scope_control
from workbench.testing import test_attributes
from workbench.validation import ensure_usable, populations_read, validate_populations

__all__ = ["run_control_test", "retest"]


def run_control_test(engagement: Engagement, control_id: str) -> ControlTest:
    """Run every stage of one control's test, as its notebook does, and return the tested control.

    The receipt stage pins each population the test reads (first use) or checks it against its pin, so this
    writes into the engagement's results store exactly as a notebook run does.

    Raises
    ------
    EngagementError, PopulationError, ParameterError, ResultsError
        As the stages do (an unknown control, an unusable or changed population, ...).
    """
    control = engagement.control(control_id)
    if control.procedure is None:
        raise ParameterError(f"control {control_id} has no procedure: it is not tested by the workbench.")
    procedure = procedure_of(engagement, control)
    policy = resolve_policy(engagement, control, procedure)
    populations = load_populations(engagement, control)
    related = load_related(engagement, control)
    reports = validate_populations(populations, engagement)
    receipts = pin_populations(engagement, *populations_read(populations, reports), *related)
    ensure_usable(*reports)
    scope = scope_control(engagement, control, populations, related, date_column=procedure.date_column)
    sample_plan = plan_sample(engagement, control, scope, policy)
    selection = select_sample(engagement, control, scope, sample_plan)
    testing = test_attributes(procedure, control, scope, selection, engagement)
    evaluation = evaluate_control(engagement, control, sample_plan, selection, testing)
    return ControlTest(engagement=engagement, control=control, procedure=procedure, policy=policy,
                       populations=populations, receipts=receipts, reports=reports, scope=scope,
                       sample_plan=sample_plan, selection=selection, testing=testing, evaluation=evaluation)


def retest(test: ControlTest) -> ControlTest:
    """The same test with its testing and evaluation read again from the results store.

    What a recorded result changes (the testing matrix and the evaluation) is computed again over the same
    populations, scope and selection; the earlier stages are kept as they are. The testing form calls it after
    each save, and a notebook before it writes the workpaper.

    Parameters
    ----------
    test : ControlTest

    Returns
    -------
    ControlTest
        ``test`` itself when nothing about the control was recorded since its testing ran; otherwise a new one.
    """
    mark = test.testing.store_mark
    if mark is not None and not mark.entries_since():
        return test
    testing = test_attributes(test.procedure, test.control, test.scope, test.selection, test.engagement)
    evaluation = evaluate_control(test.engagement, test.control, test.sample_plan, test.selection, testing)
    return dataclasses.replace(test, testing=testing, evaluation=evaluation)
