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

from sampling.errors import ConfidenceError, ModelError, RateError, SamplingError, SizeError

__all__ = [
    "to_decimal",
    "to_probability",
    "to_confidence",
    "to_count",
    "to_population_size",
    "ceil_decimal",
    "check_model",
    "require_population",
    "format_percent",
    "summary_lines",
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


def to_confidence(value: object) -> Decimal:
    """Convert a confidence level to Decimal and require ``0 < value < 1``.

    Raises
    ------
    ConfidenceError
        If the value is outside (0, 1) or not a number at all.
    """
    try:
        return to_probability(value, "confidence", error=ConfidenceError)
    except RateError as err:  # not a number at all: still a confidence problem
        raise ConfidenceError(str(err)) from None


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


def to_population_size(value: object) -> int | None:
    """A population size N: ``None`` (unknown) stays ``None``, otherwise a whole number >= 1.

    Raises
    ------
    SizeError
        If the value is not a whole number >= 1.
    """
    return None if value is None else to_count(value, "population_size", minimum=1)


def ceil_decimal(value: Decimal) -> int:
    """Round an exact Decimal up to the next whole number (``ceil(14.000) == 14``)."""
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def check_model(value: object, allowed: tuple[str, ...], name: str = "model") -> str:
    """Normalise a model name (case and surrounding spaces ignored) and require it to be ``allowed``.

    Returns the lower-case name, e.g. ``check_model(" Binomial", ("binomial",)) == "binomial"``.

    Raises
    ------
    ModelError
        If the value is not text or not one of ``allowed``; the message lists them under ``name``.
    """
    if not isinstance(value, str) or value.strip().lower() not in allowed:
        raise ModelError(f"{name} must be one of {', '.join(allowed)}; got {value!r}.")
    return value.strip().lower()


def require_population(model: str, population_size: int | None) -> None:
    """The hypergeometric model counts deviations in a population of N items: refuse it without N.

    Raises
    ------
    ModelError
        If ``model == "hypergeometric"`` and ``population_size`` is None.
    """
    if model == "hypergeometric" and population_size is None:
        raise ModelError("model='hypergeometric' needs population_size (the number of items N); got "
                         "population_size=None. Give N or use model='binomial'.")


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


def summary_lines(rows: list[tuple[str, str]], skip: tuple[str, ...], notes: tuple[str, ...]) -> list[str]:
    """The indented lines a ``summary()`` shows: the table rows (but ``skip`` and the notes), then the notes.

    ``rows`` are the (label, value) rows of a ``to_table()``; rows whose label is in ``skip`` or
    starts with ``"Note"`` are left out, and ``notes`` follow under "Conventions and notes".
    """
    lines = [f"  {label}: {value}" for label, value in rows if not (label.startswith("Note") or label in skip)]
    if notes:
        lines.append("  Conventions and notes:")
        lines.extend(f"    - {note}" for note in notes)
    return lines
