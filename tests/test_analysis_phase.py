"""warmup_lib.analysis.phase against hand-computed tables: the largest trainable eta (per run series
and per T_wrm over seeds), the warmup gain, cell means and counts, variance shares, best-to-boundary."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from warmup_lib.analysis import phase


def _table(cells: dict[tuple[int, float], list[tuple[str, float]]], variant: str = "sgd") -> pd.DataFrame:
    """A sweep table from {(T_wrm, c): [(outcome, accuracy) per seed]}."""
    rows = [{"variant": variant, "seed": seed, "warmup_steps": warmup, "c": c, "eta_trgt": c / 2.0,
             "outcome": outcome, "best_test_accuracy": accuracy}
            for (warmup, c), runs in cells.items() for seed, (outcome, accuracy) in enumerate(runs)]
    return pd.DataFrame(rows)


OK, DIV, FAIL = "converged", "diverged", "failed"
# T_wrm = 1 trains up to c = 2 (seed 0) / 4 (seed 1); T_wrm = 8 up to c = 16 (both seeds).
GRID = _table({
    (1, 1.0): [(OK, 0.50), (OK, 0.52)], (1, 2.0): [(OK, 0.60), (OK, 0.62)], (1, 4.0): [(DIV, 0.1), (OK, 0.64)],
    (8, 1.0): [(OK, 0.48), (OK, 0.50)], (8, 2.0): [(OK, 0.60), (OK, 0.60)], (8, 4.0): [(OK, 0.66), (OK, 0.66)],
    (8, 8.0): [(OK, 0.70), (OK, 0.72)], (8, 16.0): [(OK, 0.68), (OK, 0.68)], (8, 32.0): [(DIV, 0.1), (DIV, 0.1)],
})


def test_largest_trainable_of_a_run_series() -> None:
    etas, outcomes = [1, 2, 3, 4], [OK, OK, DIV, OK]
    assert phase.largest_trainable(etas, outcomes) == 4  # converged again beyond a divergence
    assert phase.largest_trainable(etas, outcomes, contiguous=True) == 2  # every run below it converged
    assert phase.largest_trainable([4, 1, 2], [OK, OK, DIV]) == 4  # any order without contiguous
    assert math.isnan(phase.largest_trainable([1, 2], ["unstable", OK], contiguous=True))
    assert math.isnan(phase.largest_trainable([], []))


def test_eta_axis_is_c_only_when_every_run_has_one() -> None:
    assert phase.eta_axis(GRID) == "c"
    assert phase.eta_axis(GRID.assign(c=np.where(GRID["seed"] == 0, np.nan, GRID["c"]))) == "eta_trgt"
    assert phase.eta_axis(GRID.drop(columns="c")) == "eta_trgt"


def test_largest_trainable_eta_and_warmup_gain_by_hand() -> None:
    largest = phase.largest_trainable_eta(GRID).set_index("warmup_steps")
    assert largest.loc[1, "eta_max"] == pytest.approx(math.sqrt(2.0 * 4.0))  # geometric mean of the seeds
    assert (largest.loc[1, "eta_max_min"], largest.loc[1, "eta_max_max"]) == (2.0, 4.0)
    assert largest.loc[8, "eta_max"] == pytest.approx(16.0)
    assert phase.warmup_gain(GRID, "sgd") == pytest.approx(16.0 / math.sqrt(8.0))
    assert math.isnan(phase.warmup_gain(GRID, "momentum"))


def test_variance_shares_by_hand() -> None:
    # interior: c <= min over rows of the seeds' smallest eta_max (2) / 2 = 1, a single column: no shares
    assert phase.variance_shares(GRID, "sgd")["columns"] == 1
    assert math.isnan(phase.variance_shares(GRID, "sgd")["eta_share"])
    # with margin 0 the columns c = 1, 2 (all seeds converged in both rows) form the grid
    # a = [[0.51, 0.49], [0.61, 0.60]] (rows: c, columns: T_wrm)
    shares = phase.variance_shares(GRID, "sgd", margin=0)
    values = np.array([[0.51, 0.49], [0.61, 0.60]])
    total = ((values - values.mean()) ** 2).sum()
    assert shares["columns"] == 2
    assert shares["eta_share"] == pytest.approx(2 * ((values.mean(1) - values.mean()) ** 2).sum() / total)
    assert shares["warmup_share"] == pytest.approx(2 * ((values.mean(0) - values.mean()) ** 2).sum() / total)


def test_best_to_boundary_by_hand() -> None:
    # T_wrm = 1: best seed mean at c = 4 (0.64, one seed) with eta_max_max 4 -> 0 doublings;
    # T_wrm = 8: best at c = 8 (0.71), boundary 16 -> 1 doubling.  Mean 0.5.
    assert phase.best_to_boundary(GRID, "sgd") == pytest.approx(0.5)


def test_cell_means_pool_the_converged_seeds_and_count_outcomes() -> None:
    table = _table({(1, 1.0): [(OK, 0.5), (OK, 0.7)], (1, 2.0): [(OK, 0.6), (DIV, 0.1)],
                    (1, 4.0): [(DIV, 0.1), (DIV, 0.1)], (1, 8.0): [(FAIL, 0.1), (DIV, 0.1)]})
    cells = phase.cell_means(table).set_index("eta")
    assert cells.loc[1.0, ["mean", "std", "min", "max"]].tolist() == pytest.approx([0.6, 0.1, 0.5, 0.7])
    assert cells.loc[2.0, ["mean", "std", "converged", "diverged", "seeds"]].tolist() == pytest.approx([0.6, 0, 1, 1, 2])
    assert cells["status"].tolist() == ["converged", "converged", "diverged", "failed"]
    assert math.isnan(cells.loc[4.0, "mean"])
    with pytest.raises(ValueError, match="table"):  # two runs of one seed in a cell
        phase.cell_means(pd.concat([table, table]))


def test_geometric_mean_over_seeds_is_exact_when_the_seeds_agree() -> None:
    # exp(mean(log v)) would give 127.99999999999996 for three seeds at c = 128, below the seeds' minimum
    table = _table({(1, 128.0): [(OK, 0.5)] * 3, (1, 256.0): [(DIV, 0.1)] * 3,
                    (4, 0.064): [(OK, 0.5)] * 3, (4, 0.128): [(OK, 0.5), (DIV, 0.1), (DIV, 0.1)]})
    largest = phase.largest_trainable_eta(table).set_index("warmup_steps")
    assert largest.loc[1, "eta_max"] == 128.0
    assert largest.loc[4, "eta_max_min"] <= largest.loc[4, "eta_max"] <= largest.loc[4, "eta_max_max"]
    assert largest.loc[4, "eta_max"] == pytest.approx((0.128 * 0.064 * 0.064) ** (1 / 3), rel=1e-14)
