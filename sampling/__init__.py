"""Statistical sampling for tests of controls: plans, re-performable selection, evaluation.

Pure statistics (numpy, scipy, pyarrow); this package never imports ``workbench``, pandas or
openpyxl, so a reviewer can re-perform any number it prints with nothing but the package.

Public API::

    plan(confidence, tolerable_rate, expected_rate=0, *, expected_deviations=None,
         population_size=None, model="binomial")                        -> Plan
    plan_frequency(frequency, *, tolerable_rate, population_size=None, table=None,
                   confidence_model="hypergeometric")                  -> Plan
    plan_two_stage(confidence, tolerable_rate, *, population_size=None, model="binomial") -> Plan
    plan_type1()                                                          -> Plan
    two_stage_risk(sample_size, tolerable_rate, *, population_size=None, model="binomial") -> float
    evaluate(sample_size, deviations, confidence, *, population_size=None,
             model="binomial", tolerable_rate=None)                       -> Evaluation
    select(keys, n, *, seed, method="random", dates=None, strata=None)    -> Selection
    extend(selection, additional, *, keys, dates=None, strata=None)       -> Selection
"""

from sampling.errors import (
    ConfidenceError,
    DatesError,
    KeysError,
    ModelError,
    RateError,
    SamplingError,
    SeedError,
    SizeError,
    StrataError,
)
from sampling.inputs import format_percent
from sampling.evaluation import Evaluation, evaluate
from sampling.planning import (
    DEFAULT_FREQUENCY_TABLE,
    MODELS,
    Plan,
    plan,
    plan_frequency,
    plan_two_stage,
    plan_type1,
    two_stage_risk,
)
from sampling.selection import METHODS as SELECTION_METHODS
from sampling.selection import Selection, extend, key_set_sha256, select

__all__ = [
    # planning
    "Plan", "plan", "plan_frequency", "plan_two_stage", "plan_type1", "two_stage_risk", "DEFAULT_FREQUENCY_TABLE",
    "MODELS",
    # selection
    "Selection", "select", "extend", "key_set_sha256", "SELECTION_METHODS",
    # evaluation
    "Evaluation", "evaluate",
    # presentation
    "format_percent",
    # errors
    "SamplingError", "ConfidenceError", "RateError", "SizeError", "ModelError", "KeysError", "DatesError",
    "StrataError", "SeedError",
]
