"""The errors of the sampling package (standard library only).

Every error is a :class:`SamplingError`, itself a :class:`ValueError`: a bad argument, with a
message that names the parameter, the rule and the value given. Importing this module loads
nothing but the standard library, so a caller can catch the errors (``from sampling.errors import
SamplingError``) without paying for numpy, scipy or pyarrow.
"""

from __future__ import annotations

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


class SamplingError(ValueError):
    """Base of every error the sampling package raises for a bad argument."""


class ConfidenceError(SamplingError):
    """A confidence level outside (0, 1)."""


class RateError(SamplingError):
    """A tolerable or expected rate outside its range, or not in the right order."""


class SizeError(SamplingError):
    """A sample size, deviation count or population size that is not possible."""


class ModelError(SamplingError):
    """An unknown model or method, or a model without what it needs."""


class KeysError(SamplingError):
    """Population keys that cannot be sampled (empty, duplicated, too few)."""


class DatesError(SamplingError):
    """Occurrence dates that cannot order or stratify a selection (missing, wrong length or type)."""


class StrataError(SamplingError):
    """Stratum labels that cannot be used (missing, wrong length or type)."""


class SeedError(SamplingError):
    """A selection seed that is not a whole number."""
