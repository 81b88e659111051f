"""Every stage of a control's test in one call, for the command line, request lists and tests.

The notebooks call the stages one by one, so that a reader sees each stage's result; :func:`run_control_test`
calls the same functions in the same order (a test asserts that both give the same workpaper)::

    engagement -> control -> procedure, policy -> populations (read only) -> validation -> receipts (pinned)
    -> scope -> sample plan -> selection -> testing -> evaluation -> ControlTest

Public API::

    run_control_test(engagement, control_id) -> ControlTest
"""

from __future__ import annotations

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

__all__ = ["run_control_test"]


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
