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

The package is imported lazily (PEP 562): ``import sampling`` loads nothing, and each name is
imported from the module that owns it on first use. The errors (:mod:`sampling.errors`) and the
input helpers (:mod:`sampling.inputs`, e.g. ``format_percent``) need only the standard library;
planning and selection load numpy (selection also pyarrow), and scipy is loaded by the first
computation that needs a probability.
"""

from __future__ import annotations

import importlib

# ``typing.TYPE_CHECKING`` without importing typing (about 10 ms, most of ``import sampling``):
# type checkers treat any constant of that name as true, the interpreter never runs the block.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from sampling import errors, evaluation, inputs, planning, selection
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
    from sampling.evaluation import Evaluation, evaluate
    from sampling.inputs import format_percent, to_decimal, to_probability
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
    # inputs and presentation
    "format_percent", "to_probability", "to_decimal",
    # errors
    "SamplingError", "ConfidenceError", "RateError", "SizeError", "ModelError", "KeysError", "DatesError",
    "StrataError", "SeedError",
]

# public name -> (submodule that owns it, its name there)
_OWNERS: dict[str, tuple[str, str]] = {
    **{name: ("errors", name) for name in (
        "SamplingError", "ConfidenceError", "RateError", "SizeError", "ModelError", "KeysError", "DatesError",
        "StrataError", "SeedError")},
    **{name: ("inputs", name) for name in ("format_percent", "to_probability", "to_decimal")},
    **{name: ("planning", name) for name in (
        "Plan", "plan", "plan_frequency", "plan_two_stage", "plan_type1", "two_stage_risk",
        "DEFAULT_FREQUENCY_TABLE", "MODELS")},
    **{name: ("selection", name) for name in ("Selection", "select", "extend", "key_set_sha256")},
    "SELECTION_METHODS": ("selection", "METHODS"),
    **{name: ("evaluation", name) for name in ("Evaluation", "evaluate")},
}
_SUBMODULES = ("errors", "inputs", "planning", "selection", "evaluation")


# Hidden from type checkers, which see the real imports above: a module __getattr__ they can see
# would let any misspelt ``sampling.<name>`` pass unchecked.
if not TYPE_CHECKING:
    def __getattr__(name: str) -> object:
        """Import a public name (or a submodule) on first access and keep it in the package namespace."""
        if name in _OWNERS:
            module_name, attribute = _OWNERS[name]
            value = getattr(importlib.import_module(f"{__name__}.{module_name}"), attribute)
        elif name in _SUBMODULES:
            value = importlib.import_module(f"{__name__}.{name}")
        else:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    """The public names (loaded or not) and the submodules, with what is already in the namespace."""
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))
