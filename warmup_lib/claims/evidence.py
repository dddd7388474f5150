"""Criteria written before the runs are read, and the verdict of several seeds.

A claim's criterion is a comparison of one number per seed with a threshold (``>= 2``, ``< 1``,
``in [19, 45]``): a :class:`Criterion`.  Each seed either passes or fails it, and the verdict
of a claim over its seeds is

* HOLDS when every seed passes,
* DOES NOT HOLD when no seed passes,
* INCONCLUSIVE when the seeds straddle the threshold (some pass, some do not).

So a margin smaller than the spread between seeds can never produce HOLDS or DOES NOT HOLD.  A
seed whose value is NaN (the quantity could not be measured, e.g. the run diverged before it)
fails the criterion; a chapter that means "diverged counts as passing" maps it to +-inf first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

HOLDS = "HOLDS"
DOES_NOT_HOLD = "DOES NOT HOLD"
INCONCLUSIVE = "INCONCLUSIVE"
VERDICTS = (HOLDS, DOES_NOT_HOLD, INCONCLUSIVE)

OPERATORS = (">=", ">", "<=", "<", "in")


def _number_text(value: float) -> str:
    """A threshold as written in a criterion: integers without decimals, else up to 3 significant digits."""
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"


@dataclass(frozen=True)
class Criterion:
    """One seed's test: ``value op threshold``, or ``low <= value <= high`` for ``op == "in"``.

    Args:
        op: one of ``>=``, ``>``, ``<=``, ``<``, ``in``.
        threshold: a number, or a (low, high) pair with low < high for ``in``.

    Raises:
        ValueError: naming ``op`` or ``threshold`` when they do not fit together.
    """

    op: str
    threshold: float | tuple[float, float]

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise ValueError(f"op: got {self.op!r}; must be one of {', '.join(OPERATORS)}")
        if self.op == "in":
            if not (isinstance(self.threshold, tuple) and len(self.threshold) == 2
                    and all(isinstance(v, (int, float)) and math.isfinite(v) for v in self.threshold)
                    and self.threshold[0] < self.threshold[1]):
                raise ValueError(f"threshold: got {self.threshold!r}; 'in' takes a (low, high) pair of "
                                 "finite numbers with low < high")
        elif isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)) \
                or math.isnan(self.threshold):
            raise ValueError(f"threshold: got {self.threshold!r}; {self.op!r} takes one number")

    def passes(self, value: float) -> bool:
        """Whether one seed's ``value`` meets the criterion (NaN never does).

        Args:
            value: the seed's measured number.

        Returns:
            True when the comparison holds.
        """
        value = float(value)
        if math.isnan(value):
            return False
        if self.op == "in":
            low, high = self.threshold  # type: ignore[misc]
            return low <= value <= high
        return {">=": value >= self.threshold, ">": value > self.threshold,  # type: ignore[operator]
                "<=": value <= self.threshold, "<": value < self.threshold}[self.op]  # type: ignore[operator]

    @property
    def text(self) -> str:
        """The criterion as printed, e.g. ``>= 2`` or ``in [19, 45]``."""
        if self.op == "in":
            low, high = self.threshold  # type: ignore[misc]
            return f"in [{_number_text(low)}, {_number_text(high)}]"
        return f"{self.op} {_number_text(self.threshold)}"  # type: ignore[arg-type]


def verdict(values: Sequence[float], criterion: Criterion) -> str:
    """The verdict of a claim over its seeds: HOLDS if all pass, DOES NOT HOLD if none, else INCONCLUSIVE.

    Args:
        values: one measured number per seed, at least one.
        criterion: the claim's criterion.

    Returns:
        One of :data:`VERDICTS`.

    Raises:
        ValueError: when ``values`` is empty.
    """
    if len(values) == 0:
        raise ValueError("values: got none; a verdict needs at least one seed's value")
    passed = [criterion.passes(value) for value in values]
    if all(passed):
        return HOLDS
    return DOES_NOT_HOLD if not any(passed) else INCONCLUSIVE


def _format(value: float, digits: int) -> str:
    """``value`` with ``digits`` decimals, -0.00 as 0.00, inf as 'inf', NaN as 'nan'."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0.0 else text


def spread_text(values: Sequence[float], digits: int = 2) -> str:
    """Mean and spread of the seeds' values as printed: ``mean (min..max, n=k)``, or ``value (n=1)``.

    The mean is over the finite values; the spread is the smallest and largest value (NaN seeds
    are counted in n and shown as 'nan' when no value is finite).

    Args:
        values: one number per seed, at least one.
        digits: decimals.

    Returns:
        The text, e.g. ``2.28 (2.21..2.35, n=3)``.

    Raises:
        ValueError: when ``values`` is empty.
    """
    if len(values) == 0:
        raise ValueError("values: got none; a spread needs at least one seed's value")
    numbers = [float(value) for value in values]
    finite = [value for value in numbers if not math.isnan(value)]
    if len(numbers) == 1 or not finite:
        return f"{_format(numbers[0] if len(numbers) == 1 else math.nan, digits)} (n={len(numbers)})"
    # fsum for finite values (exact); with an infinity, plain sum gives +-inf, or NaN for inf - inf
    mean = (math.fsum(finite) if all(math.isfinite(v) for v in finite) else sum(finite)) / len(finite)
    return (f"{_format(mean, digits)} ({_format(min(finite), digits)}..{_format(max(finite), digits)}, "
            f"n={len(numbers)})")


def parse_spread(text: str) -> tuple[float, float, float, int] | None:
    """Read back :func:`spread_text`: (mean, min, max, n); a single seed's value gives min = max = mean.

    Args:
        text: a printed spread, e.g. ``2.28 (2.21..2.35, n=3)`` or ``0.50 (n=1)``.

    Returns:
        The four numbers, or None when ``text`` is not a printed spread.
    """
    match = re.fullmatch(r"(\S+) \((?:(\S+)\.\.(\S+), )?n=(\d+)\)", text.strip())
    if match is None:
        return None
    try:
        mean = float(match.group(1))
        low = float(match.group(2)) if match.group(2) is not None else mean
        high = float(match.group(3)) if match.group(3) is not None else mean
    except ValueError:
        return None
    return mean, low, high, int(match.group(4))
