r"""Reading a phase diagram: the statistics of a sweep table over (eta_trgt, T_wrm, seed, variant).

A sweep table (:func:`warmup_lib.runs.sweep.sweep_table`) has one row per run with columns
``variant``, ``seed``, ``warmup_steps``, ``eta_trgt``, ``c`` (= eta_trgt lambda_0, NaN when
lambda_0 was not measured), ``outcome`` ('converged', 'diverged' or 'failed') and metrics such as
``best_test_accuracy``.  The eta axis of every statistic is c when every run has one, else the
absolute eta_trgt (:func:`eta_axis`).

* **Largest trainable eta** of a run series: the largest eta at which a run converged
  (:func:`largest_trainable`); per (variant, T_wrm) the geometric mean over seeds,
  eta_max = 2^(mean_s log2 eta_max,s), with the seeds' min and max (:func:`largest_trainable_eta`).
* **Warmup gain**: eta_max at the longest T_wrm / eta_max at the shortest (:func:`warmup_gain`).
* **Cell means**: per (variant, T_wrm, eta) the mean, spread and counts of a metric over the seeds
  whose run converged, and the cell's status (:func:`cell_means`).
* **Variance shares** of eta_trgt and T_wrm away from the boundary (:func:`variance_shares`) and
  the distance, in doublings, from the best cell to the boundary (:func:`best_to_boundary`).

Nothing here trains or draws; :mod:`warmup_lib.plots` draws these tables.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = ["eta_axis", "largest_trainable", "largest_trainable_eta", "warmup_gain", "cell_means",
           "variance_shares", "best_to_boundary"]

CELL_KEYS = ["variant", "warmup_steps"]  # with the eta axis: one cell of a phase diagram


def eta_axis(table: pd.DataFrame) -> str:
    """The eta column of a sweep table: 'c' (eta_trgt lambda_0) when every run has one, else 'eta_trgt'.

    Args:
        table: a sweep table (:func:`warmup_lib.runs.sweep.sweep_table`).

    Returns:
        'c' when the table has a ``c`` column without NaN, else 'eta_trgt'.
    """
    return "c" if "c" in table and table["c"].notna().all() else "eta_trgt"


def largest_trainable(etas: Iterable[float], outcomes: Iterable[str], contiguous: bool = False) -> float:
    """The largest eta whose run converged, NaN if none did.

    With ``contiguous`` the grid ``etas`` must be increasing and the scan stops at the first run that
    did not converge: the largest eta *below which every run converged* (a run that converges again
    beyond a failure does not count).

    Args:
        etas: learning rates, one per run.
        outcomes: each run's outcome ('converged' or anything else).
        contiguous: count only the converged runs before the first other outcome.

    Returns:
        The largest such eta (one of ``etas``), or NaN.
    """
    largest = math.nan
    for eta, outcome in zip(etas, outcomes):
        if outcome == "converged":
            largest = eta if math.isnan(largest) else max(largest, eta)
        elif contiguous:
            break
    return largest


def largest_trainable_eta(table: pd.DataFrame) -> pd.DataFrame:
    """Per (variant, warmup_steps): the largest trainable eta of each seed (:func:`largest_trainable`
    over its runs), their geometric mean eta_max (a seed with no converged run is left out) and the
    seeds' min and max.

    Args:
        table: a sweep table.

    Returns:
        Columns variant, warmup_steps, eta_max, eta_max_min, eta_max_max.
    """
    eta = eta_axis(table)
    per_seed = table.groupby([*CELL_KEYS, "seed"]).apply(
        lambda runs: largest_trainable(runs[eta], runs["outcome"]), include_groups=False)
    per_seed = per_seed.dropna().rename(eta).reset_index()
    stats = per_seed.groupby(CELL_KEYS)[eta].agg(eta_max=_geometric_mean, eta_max_min="min", eta_max_max="max")
    return stats.reset_index()


def _geometric_mean(values: pd.Series) -> float:
    """2^(mean of log2 v), clipped to [min v, max v] where rounding would carry it out: exact when the
    seeds agree (on a power-of-two grid of c, e.g. three seeds at c = 128 give 128, not 127.99999999999996)."""
    return float(np.clip(2 ** np.log2(values).mean(), values.min(), values.max()))


def warmup_gain(table: pd.DataFrame, variant: str) -> float:
    """eta_max at the longest warmup / eta_max at the shortest T_wrm (no warmup), for ``variant``:
    how much larger a target learning rate warmup makes trainable (seeds: geometric means).

    gain = eta_max(T_wrm = max) / eta_max(T_wrm = min), eta_max from :func:`largest_trainable_eta`
    over the T_wrm rows where some seed converged.

    Args:
        table: a sweep table.
        variant: the variant whose rows are compared.

    Returns:
        The ratio, NaN when ``variant`` never converged.
    """
    rows = largest_trainable_eta(table)
    rows = rows[rows["variant"] == variant].sort_values("warmup_steps")
    return float(rows["eta_max"].iloc[-1] / rows["eta_max"].iloc[0]) if len(rows) else math.nan


def cell_means(table: pd.DataFrame, metric: str = "best_test_accuracy") -> pd.DataFrame:
    """Seeds pooled per (variant, warmup_steps, eta) cell, over the runs that converged.

    Args:
        table: a sweep table with at most one run per (variant, eta, warmup_steps, seed).
        metric: the column to pool.

    Returns:
        Columns variant, warmup_steps, eta (c or eta_trgt), mean, std (ddof 0), min and max of
        ``metric`` over the converged seeds (NaN when none converged); counts converged, diverged,
        failed and seeds; status 'converged' when some seed converged, else 'diverged' when every
        seed diverged, else 'failed'.

    Raises:
        ValueError: a cell holds two runs of one seed (select one value of every extra axis first).
    """
    eta = eta_axis(table)
    if table.duplicated([*CELL_KEYS, eta, "seed"]).any():
        raise ValueError("table: more than one run per (variant, eta, warmup_steps, seed); select one value "
                         "of every extra axis first")
    converged = table["outcome"] == "converged"
    grouped = table.assign(value=table[metric].where(converged), ok=converged,
                           diverged=table["outcome"] == "diverged", failed=table["outcome"] == "failed")
    cells = grouped.groupby(["variant", eta, "warmup_steps"]).agg(
        mean=("value", "mean"), std=("value", lambda v: v.dropna().std(ddof=0)), min=("value", "min"),
        max=("value", "max"), converged=("ok", "sum"), diverged=("diverged", "sum"), failed=("failed", "sum"),
        seeds=("ok", "size"))
    cells = cells.reset_index().rename(columns={eta: "eta"})[["variant", "warmup_steps", "eta", *cells.columns]]
    cells["status"] = np.where(cells["converged"] > 0, "converged",
                               np.where(cells["diverged"] == cells["seeds"], "diverged", "failed"))
    return cells


def variance_shares(table: pd.DataFrame, variant: str, margin: int = 1,
                    metric: str = "best_test_accuracy") -> dict[str, float]:
    r"""How much of the metric's variation *away from the boundary* eta_trgt and T_wrm explain.

    Interior cells: the eta columns at least ``margin`` doublings below the smallest per-row
    eta_max (so every row, every seed converged there).  On the interior's complete grid of seed
    means a_{ij} (eta i, T_wrm j) the two-way decomposition SS_total = SS_eta + SS_T + SS_resid,
    with SS_eta = n_T sum_i (abar_i. - abar)^2 and SS_T = n_eta sum_j (abar_.j - abar)^2, gives the
    shares SS_eta / SS_total and SS_T / SS_total.

    Args:
        table: a sweep table with at most one run per (variant, eta, warmup_steps, seed).
        variant: the variant analysed.
        margin: the doublings below the boundary an interior column must sit, an int.
        metric: the column whose seed means a_{ij} are decomposed.

    Returns:
        {"eta_share", "warmup_share", "columns"}: NaN shares with fewer than 2 interior columns
        (or when SS_total = 0); ``columns`` counts the interior eta columns.

    Raises:
        ValueError: from :func:`cell_means`, when a cell holds two runs of one seed.
    """
    cells = cell_means(table, metric)
    cells = cells[cells["variant"] == variant]
    bound = largest_trainable_eta(table)
    bound = bound.loc[bound["variant"] == variant, "eta_max_min"].min() if len(bound) else math.nan
    interior = cells[(cells["eta"] <= bound / 2**margin * (1 + 1e-9)) & (cells["converged"] == cells["seeds"])]
    grid = interior.pivot(index="eta", columns="warmup_steps", values="mean").dropna()
    if grid.shape[0] < 2 or grid.shape[1] < 1:
        return {"eta_share": math.nan, "warmup_share": math.nan, "columns": int(grid.shape[0])}
    values = grid.to_numpy()
    centre = values.mean()
    total = ((values - centre) ** 2).sum()
    by_eta = values.shape[1] * ((values.mean(axis=1) - centre) ** 2).sum()
    by_warmup = values.shape[0] * ((values.mean(axis=0) - centre) ** 2).sum()
    return {"eta_share": float(by_eta / total) if total > 0 else math.nan,
            "warmup_share": float(by_warmup / total) if total > 0 else math.nan, "columns": int(values.shape[0])}


def best_to_boundary(table: pd.DataFrame, variant: str, metric: str = "best_test_accuracy") -> float:
    """Mean over T_wrm rows of log2(eta_max / eta_best): how many doublings below the row's
    trainability boundary (the largest eta any seed trained at) its best seed-mean ``metric`` sits.

    Args:
        table: a sweep table with at most one run per (variant, eta, warmup_steps, seed).
        variant: the variant analysed.
        metric: the column whose seed mean picks eta_best in each row.

    Returns:
        0 when the best eta is the last one that trains (as the paper finds for SGD); NaN without
        a converged cell.

    Raises:
        ValueError: from :func:`cell_means`, when a cell holds two runs of one seed.
    """
    cells = cell_means(table, metric)
    cells = cells[(cells["variant"] == variant) & cells["mean"].notna()]
    bound = largest_trainable_eta(table)
    bound = bound[bound["variant"] == variant].set_index("warmup_steps")["eta_max_max"]
    gaps = [math.log2(bound[warmup] / row.loc[row["mean"].idxmax(), "eta"])
            for warmup, row in cells.groupby("warmup_steps")]
    return float(np.mean(gaps)) if gaps else math.nan
