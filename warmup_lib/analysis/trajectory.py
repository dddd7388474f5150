"""Reading a training trajectory: catapults, the early sharpness regime, and collisions with 2/eta_t.

All functions take per-step arrays indexed by step t = 0, 1, ... (the rows of
:func:`warmup_lib.runs.train.run`'s records): the training loss L_t, the sharpness lambda_t (NaN on steps
where it was not measured, e.g. with ``RunConfig.sharpness_every`` > 1) and the learning rate eta_t.

**Catapult** (paper section 3; Lewkowycz et al. 2020).  A catapult is a loss spike *followed by a
sharpness drop*:

1. a loss excursion starts at step s when L_s > ``rise`` x m_s, with m_s = min_{t < s} L_t the lowest
   loss so far; it ends at the first step e > s with L_e <= ``rise`` x m_s (the loss is back);
   its peak p is the step of its largest loss.  An excursion that never comes back (the run diverged
   or ended while the loss was still high) is not a catapult;
2. the sharpness drops: the smallest sharpness measured in [s, e + ``window``] is at most
   (1 - ``drop``) x lambda_before, lambda_before being the last sharpness measured before s (before
   the loss began to rise).

An excursion without a measured drop is a plain loss spike (minibatch noise, momentum oscillation)
and is not reported.

**Early regime** (paper section 4: C1 progressive sharpening, C2 sharpness reduction, C3 roughly
constant).  The natural evolution of the sharpness is read while training is stable: over the
measured steps t <= ``window`` before the first one with eta_t lambda_t >= ``threshold`` (2 for GD:
from there on the instability, not the landscape, drives the sharpness).  With lambda_start the first
measurement and lambda_end the median of the last ``tail`` measurements of that stable stretch,
r = lambda_end / lambda_start and

    r >= 1 + tol           -> 'progressive sharpening'
    r <= 1 / (1 + tol)     -> 'sharpness reduction'
    otherwise              -> 'constant'

and 'undetermined' when the stable stretch holds fewer than two measurements (the run was unstable
from its first steps: there is no natural evolution to read).

**Collision** with the threshold (paper section 4).  The first measured step at which
eta_t lambda_t >= ``threshold`` is a *head-on* collision when the sharpness was rising towards the
falling 2/eta_t (muP: progressive sharpening), a *rear-end* collision when both were falling and
2/eta_t caught up from above (SP: sharpness reduction); 'at start' when the run is past the
threshold at its first measurement (no warmup at a learning rate above 2/lambda_0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np

REGIMES = ("progressive sharpening", "sharpness reduction", "constant", "undetermined")
COLLISIONS = ("head-on", "rear-end", "at start", "none")

ArrayLike = Sequence[float] | np.ndarray


@dataclass(frozen=True)
class Catapult:
    """One catapult: loss excursion [start, end) with its peak, and the sharpness drop that confirms it."""

    start: int
    peak: int
    end: int
    loss_ratio: float  # L_peak / (lowest loss before start)
    sharpness_before: float  # last sharpness measured before start
    sharpness_after: float  # smallest sharpness measured in [start, end + window]

    @property
    def sharpness_ratio(self) -> float:
        """lambda_after / lambda_before (< 1 - drop for every reported catapult)."""
        return self.sharpness_after / self.sharpness_before


@dataclass(frozen=True)
class EarlyRegime:
    """The early regime of one run: ``label`` (one of REGIMES), the ratio r = lambda_end / lambda_start,
    and the last step of the stable stretch it was read from (-1 when there is none)."""

    label: str
    ratio: float
    stable_until: int


@dataclass(frozen=True)
class Collision:
    """The first measured step with eta_t lambda_t >= threshold (-1 if none) and its kind (COLLISIONS)."""

    step: int
    kind: str


def _validated(name: str, values: ArrayLike, length: int | None = None) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name}: got an array of shape {array.shape}; must be one value per step (1-D)")
    if length is not None and array.shape[0] != length:
        raise ValueError(f"{name}: got {array.shape[0]} values; must have one per step ({length}, as the loss)")
    return array


def _check_positive(name: str, value: float, upper: float = math.inf) -> None:
    if not (isinstance(value, (int, float)) and 0 < value < upper):
        raise ValueError(f"{name}: got {value!r}; must be a number in (0, {upper})")


class Excursion(NamedTuple):
    """One loss excursion: steps [start, end) above rise x the lowest loss before it, the step of its
    largest loss (peak) and L_peak / that lowest loss (loss_ratio)."""

    start: int
    peak: int
    end: int
    loss_ratio: float


def loss_excursions(loss: ArrayLike, rise: float = 1.5, floor: float = 0.0,
                    include_open: bool = False) -> list[Excursion]:
    """The loss excursions of one run (rule 1 of the module docstring), in order.

    With m_s the lowest loss before step s, an excursion starts at s when L_s > rise max(m_s, f) and
    ends at the first step e > s with L_e <= rise max(m_s, f), where f = ``floor`` x L_0: losses
    below f are round-off (a converged solvable model), not the start of a spike.  The lowest loss
    so far is only updated outside excursions, so a spike is measured against the loss before it
    began.  The scan stops at the first non-finite loss (divergence).

    Args:
        loss: the training loss L_t of each step t = 0, 1, ...
        rise: the factor over the lowest loss so far that starts an excursion, > 0.
        floor: the round-off level as a fraction of L_0, >= 0 (0: none).
        include_open: also return an excursion that has not come back when the scan stops (the run
            diverged or ended during it), with end = the step where the scan stopped.

    Returns:
        :class:`Excursion` tuples (start, peak, end, loss_ratio).

    Raises:
        ValueError: if ``rise`` or ``floor`` is out of range or ``loss`` is not 1-D.
    """
    _check_positive("rise", rise)
    if not (isinstance(floor, (int, float)) and floor >= 0):
        raise ValueError(f"floor: got {floor!r}; must be a number >= 0")
    loss = _validated("loss", loss)
    noise_level = floor * loss[0] if floor > 0 and len(loss) else -math.inf
    excursions: list[Excursion] = []
    lowest, start, peak, stop = math.inf, -1, -1, len(loss)
    for t, value in enumerate(loss):
        if not math.isfinite(value):
            stop = t
            break
        level = rise * max(lowest, noise_level)
        if start < 0:
            if value > level:
                start, peak = t, t
            else:
                lowest = min(lowest, value)
            continue
        if value > loss[peak]:
            peak = t
        if value <= level:
            excursions.append(Excursion(start, peak, t, float(loss[peak] / lowest)))
            start, lowest = -1, min(lowest, value)
    if include_open and start >= 0:
        excursions.append(Excursion(start, peak, stop, float(loss[peak] / lowest)))
    return excursions


def detect_catapults(loss: ArrayLike, sharpness: ArrayLike, rise: float = 1.5, drop: float = 0.2,
                     window: int = 10) -> list[Catapult]:
    """The catapults of one run: loss spikes that come back, each confirmed by a sharpness drop.

    With m_s the lowest loss before step s, a loss excursion starts at s when L_s > rise m_s and
    ends at the first step e > s with L_e <= rise m_s.  It is a catapult (paper section 3) when the
    sharpness falls::

        min of lambda_t measured in [s, e + window]  <=  (1 - drop) lambda_before

    with lambda_before the last sharpness measured before s.  An excursion that never comes back
    (divergence) and a spike without a sharpness drop are not catapults (module docstring).

    Args:
        loss: the training loss L_t of each step t = 0, 1, ...
        sharpness: lambda_t of each step, NaN where it was not measured (as long as ``loss``).
        rise: the factor over the lowest loss so far that starts an excursion, > 0.
        drop: the fraction by which the sharpness must fall, in (0, 1).
        window: the steps after the excursion's end in which the drop may show, an int >= 0.

    Returns:
        The :class:`~warmup_lib.analysis.trajectory.Catapult` list in order (start, peak and end
        steps, loss ratio, sharpness before and after).

    Raises:
        ValueError: if an argument is out of range or the arrays are not 1-D of equal length.
    """
    _check_positive("drop", drop, upper=1.0)
    if not (isinstance(window, int) and window >= 0):
        raise ValueError(f"window: got {window!r}; must be an int >= 0")
    loss = _validated("loss", loss)
    sharpness = _validated("sharpness", sharpness, len(loss))
    measured = np.flatnonzero(np.isfinite(sharpness))
    catapults = []
    for start, peak, end, ratio in loss_excursions(loss, rise):
        before = measured[measured < start]
        during = measured[(measured >= start) & (measured <= end + window)]
        if before.size == 0 or during.size == 0:
            continue
        sharpness_before, sharpness_after = sharpness[before[-1]], sharpness[during].min()
        if sharpness_after <= (1.0 - drop) * sharpness_before:
            catapults.append(Catapult(start, peak, end, ratio, float(sharpness_before), float(sharpness_after)))
    return catapults


def _stable_measurements(sharpness: np.ndarray, eta: np.ndarray, threshold: float) -> np.ndarray:
    """Measured steps before the first measured one with eta_t lambda_t >= threshold."""
    measured = np.flatnonzero(np.isfinite(sharpness))
    unstable = measured[eta[measured] * sharpness[measured] >= threshold]
    return measured[measured < unstable[0]] if unstable.size else measured


def early_regime(sharpness: ArrayLike, eta: ArrayLike, window: int, tol: float = 0.2, threshold: float = 2.0,
                 tail: int = 3) -> EarlyRegime:
    """Classify the natural early evolution of the sharpness (paper section 4: C1, C2, C3).

    The sharpness is read while training is stable: over the measured steps t <= ``window`` before
    the first one with eta_t lambda_t >= ``threshold`` (from there on the instability, not the
    landscape, drives the sharpness).  With lambda_start the first of those measurements and
    lambda_end the median of the last ``tail``, r = lambda_end / lambda_start and::

        r >= 1 + tol          'progressive sharpening'
        r <= 1 / (1 + tol)    'sharpness reduction'
        otherwise             'constant'

    or 'undetermined' when fewer than two measurements are stable (the run was unstable from its
    first steps).

    Args:
        sharpness: lambda_t of each step, NaN where it was not measured.
        eta: the learning rate eta_t of each step (as long as ``sharpness``).
        window: the last step considered, an int >= 1.
        tol: the relative change that counts as a trend, > 0.
        threshold: the stability limit of eta_t lambda_t (2 for GD and SGD), > 0.
        tail: the measurements whose median is lambda_end (robust to minibatch noise), >= 1.

    Returns:
        The :class:`~warmup_lib.analysis.trajectory.EarlyRegime` with the label, r and the last
        step of the stable stretch (-1 when there is none).

    Raises:
        ValueError: if an argument is out of range or the arrays are not 1-D of equal length.
    """
    _check_positive("tol", tol)
    _check_positive("threshold", threshold)
    if not (isinstance(window, int) and window >= 1):
        raise ValueError(f"window: got {window!r}; must be an int >= 1")
    if not (isinstance(tail, int) and tail >= 1):
        raise ValueError(f"tail: got {tail!r}; must be an int >= 1")
    sharpness = _validated("sharpness", sharpness)
    eta = _validated("eta", eta, len(sharpness))
    stable = _stable_measurements(sharpness[: window + 1], eta[: window + 1], threshold)
    if stable.size < 2:
        return EarlyRegime("undetermined", math.nan, int(stable[-1]) if stable.size else -1)
    ratio = float(np.median(sharpness[stable[-tail:]]) / sharpness[stable[0]])
    if ratio >= 1.0 + tol:
        label = "progressive sharpening"
    elif ratio <= 1.0 / (1.0 + tol):
        label = "sharpness reduction"
    else:
        label = "constant"
    return EarlyRegime(label, ratio, int(stable[-1]))


def first_collision(sharpness: ArrayLike, eta: ArrayLike, threshold: float = 2.0) -> Collision:
    """The first measured step with eta_t lambda_t >= ``threshold``, and how the sharpness met it.

    The kind is 'head-on' when lambda rose since the previous measurement (it met the falling
    threshold/eta_t: muP, progressive sharpening), 'rear-end' when lambda fell or stayed flat and
    threshold/eta_t caught up from above (SP, sharpness reduction), 'at start' when the first
    measurement is already past the threshold, and 'none' when no measured step reaches it.

    Args:
        sharpness: lambda_t of each step, NaN where it was not measured.
        eta: the learning rate eta_t of each step (as long as ``sharpness``).
        threshold: the stability limit of eta_t lambda_t (2 for GD and SGD), > 0.

    Returns:
        The :class:`~warmup_lib.analysis.trajectory.Collision` with the step (-1 if none) and the
        kind.

    Raises:
        ValueError: if ``threshold`` is out of range or the arrays are not 1-D of equal length.
    """
    _check_positive("threshold", threshold)
    sharpness = _validated("sharpness", sharpness)
    eta = _validated("eta", eta, len(sharpness))
    measured = np.flatnonzero(np.isfinite(sharpness))
    hits = np.flatnonzero(eta[measured] * sharpness[measured] >= threshold)
    if hits.size == 0:
        return Collision(-1, "none")
    index = int(hits[0])
    step = int(measured[index])
    if index == 0:
        return Collision(step, "at start")
    rising = sharpness[step] > sharpness[measured[index - 1]]
    return Collision(step, "head-on" if rising else "rear-end")
