"""Reading one run's per-step records: finite values, measured columns, early and late loss spikes.

A stored run's ``records`` hold one row per update; tracked quantities (``sharpness``,
``pre_sharpness``) are measured every few steps, so their column is NaN in between, and a diverged
run's last loss is inf or NaN.  These helpers turn such columns into what a figure or a criterion
needs.  Spikes are loss excursions (:func:`warmup_lib.analysis.trajectory.loss_excursions`): the loss
rising above ``rise`` x its lowest value so far, measured as peak / that lowest value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from warmup_lib.analysis.trajectory import loss_excursions

__all__ = ["finite", "measured", "early_spike", "late_spikes"]


def finite(values: ArrayLike) -> np.ndarray:
    """``values`` as floats with every non-finite entry (inf, NaN) replaced by NaN, for plotting.

    Args:
        values: any 1-D array-like of numbers.

    Returns:
        A float array of the same length.
    """
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values), values, np.nan)


def measured(records: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The steps at which column ``name`` was measured, its values there and the rate eta_t there.

    Args:
        records: a run's per-step records (columns ``step``, ``lr`` and ``name``).
        name: a tracked column, e.g. ``"sharpness"`` or ``"pre_sharpness"``.

    Returns:
        ``(step, value, lr)`` arrays over the rows where ``name`` is not NaN.
    """
    rows = records[records[name].notna()]
    return rows["step"].to_numpy(), rows[name].to_numpy(), rows["lr"].to_numpy()


def early_spike(loss: ArrayLike, rise: float, within: int) -> float:
    """The largest loss spike that starts within the first ``within`` steps, as peak / lowest loss
    so far (1.0 when there is none).

    Args:
        loss: the per-step training loss; the scan stops at its first non-finite value (divergence).
        rise: an excursion starts when the loss exceeds ``rise`` x its lowest value so far.
        within: only excursions starting at a step < ``within`` count.

    Returns:
        The largest peak ratio, or 1.0.
    """
    excursions = loss_excursions(loss, rise=rise)
    return max((ratio for start, _, _, ratio in excursions if start < within), default=1.0)


def late_spikes(loss: ArrayLike, rise: float, after: int, min_ratio: float = 1.5) -> int:
    """How many loss spikes of at least ``min_ratio`` x the lowest loss so far start at a step
    >= ``after``.

    Args:
        loss: the per-step training loss; the scan stops at its first non-finite value (divergence).
        rise: an excursion starts when the loss exceeds ``rise`` x its lowest value so far.
        after: only excursions starting at a step >= ``after`` count.
        min_ratio: the smallest peak / lowest-so-far ratio that counts.

    Returns:
        The count.
    """
    excursions = loss_excursions(loss, rise=rise)
    return sum(1 for start, _, _, ratio in excursions if start >= after and ratio >= min_ratio)
