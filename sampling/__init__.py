"""Statistical sampling for tests of controls: plans, re-performable selection, evaluation.

Pure statistics (numpy, scipy, pyarrow); this package never imports ``workbench``, pandas or
openpyxl, so a reviewer can re-perform any number it prints with nothing but the package.

Public API::

    plan(confidence, tolerable_rate, expected_rate=0, *, expected_deviations=None,
         population_size=None, model="binomial")                        -> Plan
    plan_frequency(frequency, *, tolerable_rate, population_size=None, table=None) -> Plan
    plan_two_stage(confidence, tolerable_rate, *, population_size=None, model="binomial") -> Plan
    plan_type1()                                                          -> Plan
    evaluate(sample_size, deviations, confidence, *, population_size=None,
             model="binomial", tolerable_rate=None)                       -> Evaluation
    select(keys, n, *, seed, method="random", dates=None, strata=None)    -> Selection
    extend(selection, additional, *, keys, dates=None)                    -> Selection
"""

from sampling._inputs import (
    ConfidenceError,
    KeysError,
    ModelError,
    RateError,
    SamplingError,
    SizeError,
)

__all__ = [
    "SamplingError",
    "ConfidenceError",
    "RateError",
    "SizeError",
    "ModelError",
    "KeysError",
]

try:  # the modules below are written by their owners; import what exists
    from sampling.planning import (  # noqa: F401
        DEFAULT_FREQUENCY_TABLE,
        Plan,
        plan,
        plan_frequency,
        plan_two_stage,
        plan_type1,
    )
    __all__ += ["Plan", "plan", "plan_frequency", "plan_two_stage", "plan_type1", "DEFAULT_FREQUENCY_TABLE"]
except ImportError:  # pragma: no cover - removed once planning.py lands
    pass
try:
    from sampling.evaluation import Evaluation, evaluate  # noqa: F401
    __all__ += ["Evaluation", "evaluate"]
except ImportError:  # pragma: no cover
    pass
try:
    from sampling.selection import Selection, extend, select  # noqa: F401
    __all__ += ["Selection", "select", "extend"]
except ImportError:  # pragma: no cover
    pass
