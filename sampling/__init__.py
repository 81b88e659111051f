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

from sampling._inputs import (
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

__all__ = [
    "SamplingError",
    "ConfidenceError",
    "RateError",
    "SizeError",
    "ModelError",
    "KeysError",
    "DatesError",
    "StrataError",
    "SeedError",
]

from sampling.evaluation import Evaluation, evaluate  # noqa: E402
from sampling.planning import (  # noqa: E402
    DEFAULT_FREQUENCY_TABLE,
    Plan,
    plan,
    plan_frequency,
    plan_two_stage,
    plan_type1,
    two_stage_risk,
)

__all__ += ["Plan", "plan", "plan_frequency", "plan_two_stage", "plan_type1", "two_stage_risk",
            "DEFAULT_FREQUENCY_TABLE", "Evaluation", "evaluate"]

try:  # the module below is written by its owner; import it once it exists
    from sampling.selection import Selection, extend, select  # noqa: F401
    __all__ += ["Selection", "select", "extend"]
except ImportError:  # pragma: no cover
    pass
