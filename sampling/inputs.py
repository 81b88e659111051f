"""Input conversion, argument checks and text formatting shared by the sampling modules.

Standard library only: importing it (or :mod:`sampling.errors`) loads neither numpy, scipy nor
pyarrow, so callers can convert and check their inputs, and format rates, without them.

Rates and confidence levels arrive as float, str or Decimal. They are converted with
``Decimal(str(x))`` so that ``0.035`` means exactly 35/1000 (``Decimal(0.035)`` would be
0.035000000000000003330...). Products such as ``n × expected_rate`` and ``tolerable_rate × N``
are computed in Decimal and only then rounded up, because in binary floats ``400 × 0.035`` is
14.000000000000002 and would ceil to 15 (AICPA Table A-2, TDR 5 %, EDR 3.5 %).
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal, InvalidOperation
from numbers import Integral

from sampling.errors import RateError, SamplingError, SizeError

__all__ = [
    "to_decimal",
    "to_probability",
    "to_count",
    "ceil_decimal",
    "format_percent",
]


def to_decimal(value: object, name: str) -> Decimal:
    """Convert a float, int, str or Decimal to an exact Decimal (``Decimal(str(x))``).

    Raises
    ------
    RateError
        If the value is not a finite number; the message names the parameter.
    """
    if isinstance(value, bool):
        raise RateError(f"{name} must be a number such as 0.05 or '0.05', got {value!r}.")
    if isinstance(value, Decimal):
        result = value
    else:
        try:
            result = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            raise RateError(f"{name} must be a number such as 0.05 or '0.05', got {value!r}.") from None
    if not result.is_finite():
        raise RateError(f"{name} must be a finite number, got {value!r}.")
    return result


def to_probability(value: object, name: str, *, error: type[SamplingError] = RateError,
                   allow_zero: bool = False) -> Decimal:
    """Convert to Decimal and require ``0 < value < 1`` (or ``0 <= value < 1`` with ``allow_zero``)."""
    result = to_decimal(value, name)
    low_ok = result >= 0 if allow_zero else result > 0
    if not (low_ok and result < 1):
        interval = "[0, 1)" if allow_zero else "(0, 1)"
        raise error(f"{name} must lie in {interval}, got {value!r}; give it as a fraction, e.g. 0.95 for 95 %.")
    return result


def to_count(value: object, name: str, *, minimum: int = 0) -> int:
    """Require a whole number ``>= minimum`` (bools and non-integral floats are refused)."""
    if isinstance(value, bool):
        raise SizeError(f"{name} must be a whole number >= {minimum}, got {value!r}.")
    if isinstance(value, Integral):
        result = int(value)
    elif isinstance(value, float) and value.is_integer():
        result = int(value)
    elif isinstance(value, Decimal) and value == value.to_integral_value():
        result = int(value)
    else:
        raise SizeError(f"{name} must be a whole number >= {minimum}, got {value!r}.")
    if result < minimum:
        raise SizeError(f"{name} must be a whole number >= {minimum}, got {value!r}.")
    return result


def ceil_decimal(value: Decimal) -> int:
    """Round an exact Decimal up to the next whole number (``ceil(14.000) == 14``)."""
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def format_percent(value: object, places: int | None = None, *, strip: bool = True) -> str:
    """Format a fraction as a percentage for people: ``0.1 -> '10 %'``, ``0.0325 -> '3.25 %'``.

    With ``places=None`` the value is shown exactly as its decimal form (for rates the user
    gave); otherwise it is rounded half-even to ``places`` decimals and, unless ``strip=False``,
    trailing zeros are dropped (``format_percent(0.05, 1, strip=False) == '5.0 %'``).
    """
    number = Decimal(str(value)) * 100
    if places is not None:
        number = number.quantize(Decimal(1).scaleb(-places))
    if places is not None and not strip:
        text = format(number, "f")
    else:
        text = format(number.normalize(), "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    if text in {"-0", ""}:
        text = "0"
    return f"{text} %"
