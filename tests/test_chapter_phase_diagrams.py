"""warmup_lib.chapters.phase_diagrams: sweeps from chapter parameters, the released grid, the reading of
phase diagrams (against hand-computed tables) and the Adam state probe (against the optimizer's own
state and hand-made dead layers)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from warmup_lib import config
from warmup_lib.chapters import phase_diagrams as pe
from warmup_lib.config import ModelConfig
from warmup_lib.losses import get_loss
from warmup_lib.models import build_model


def _table(cells: dict[tuple[int, float], list[tuple[str, float]]], variant: str = "sgd") -> pd.DataFrame:
    """A sweep table from {(T_wrm, c): [(outcome, accuracy) per seed]}."""
    rows = [{"variant": variant, "seed": seed, "warmup_steps": warmup, "c": c, "eta_trgt": c / 2.0,
             "outcome": outcome, "best_test_accuracy": accuracy}
            for (warmup, c), runs in cells.items() for seed, (outcome, accuracy) in enumerate(runs)]
    return pd.DataFrame(rows)


OK, DIV = "converged", "diverged"
# T_wrm = 1 trains up to c = 2 (seed 0) / 4 (seed 1); T_wrm = 8 up to c = 16 (both seeds).
GRID = _table({
    (1, 1.0): [(OK, 0.50), (OK, 0.52)], (1, 2.0): [(OK, 0.60), (OK, 0.62)], (1, 4.0): [(DIV, 0.1), (OK, 0.64)],
    (8, 1.0): [(OK, 0.48), (OK, 0.50)], (8, 2.0): [(OK, 0.60), (OK, 0.60)], (8, 4.0): [(OK, 0.66), (OK, 0.66)],
    (8, 8.0): [(OK, 0.70), (OK, 0.72)], (8, 16.0): [(OK, 0.68), (OK, 0.68)], (8, 32.0): [(DIV, 0.1), (DIV, 0.1)],
})


def test_largest_trainable_eta_and_warmup_gain_by_hand() -> None:
    largest = pe.largest_trainable_eta(GRID).set_index("warmup_steps")
    assert largest.loc[1, "eta_max"] == pytest.approx(math.sqrt(2.0 * 4.0))  # geometric mean of the seeds
    assert (largest.loc[1, "eta_max_min"], largest.loc[1, "eta_max_max"]) == (2.0, 4.0)
    assert largest.loc[8, "eta_max"] == pytest.approx(16.0)
    assert pe.warmup_gain(GRID, "sgd") == pytest.approx(16.0 / math.sqrt(8.0))
    assert math.isnan(pe.warmup_gain(GRID, "momentum"))


def test_variance_shares_by_hand() -> None:
    # interior: c <= min over rows of the seeds' smallest eta_max (2) / 2 = 1, a single column: no shares
    assert pe.variance_shares(GRID, "sgd")["columns"] == 1
    assert math.isnan(pe.variance_shares(GRID, "sgd")["eta_share"])
    # with margin 0 the columns c = 1, 2 (all seeds converged in both rows) form the grid
    # a = [[0.51, 0.49], [0.61, 0.60]] (rows: c, columns: T_wrm)
    shares = pe.variance_shares(GRID, "sgd", margin=0)
    values = np.array([[0.51, 0.49], [0.61, 0.60]])
    total = ((values - values.mean()) ** 2).sum()
    assert shares["columns"] == 2
    assert shares["eta_share"] == pytest.approx(2 * ((values.mean(1) - values.mean()) ** 2).sum() / total)
    assert shares["warmup_share"] == pytest.approx(2 * ((values.mean(0) - values.mean()) ** 2).sum() / total)


def test_best_to_boundary_by_hand() -> None:
    # T_wrm = 1: best seed mean at c = 4 (0.64, one seed) with eta_max_max 4 -> 0 doublings;
    # T_wrm = 8: best at c = 8 (0.71), boundary 16 -> 1 doubling.  Mean 0.5.
    assert pe.best_to_boundary(GRID, "sgd") == pytest.approx(0.5)


def test_released_grid_holds_the_digest_numbers() -> None:
    released = pe.released_wrn_adam()
    assert len(released) == 24
    cell = released.set_index(["variant", "warmup_steps", "eta_trgt"])
    assert cell.loc[("adam", 1024, 0.00512), "best_test_accuracy"] == 0.947
    # the digest's claim 13: without warmup GI-Adam trains up to 0.08192, Adam only up to 0.02048
    trained = released[released["outcome"] == "converged"].groupby(["variant", "warmup_steps"])["eta_trgt"].max()
    assert trained[("adam", 1)] == pytest.approx(0.02048) and trained[("gi_adam", 1)] == pytest.approx(0.08192)
    ours = pd.DataFrame([{"variant": "adam", "warmup_steps": 1, "eta_trgt": 0.00512, "seed": 0,
                          "outcome": OK, "best_test_accuracy": 0.9}])
    merged = pe.compare_with_released(ours)
    row = merged[(merged["variant"] == "adam") & (merged["warmup_steps"] == 1) & (merged["eta_trgt"] == 0.00512)]
    assert row["ours_best_test_accuracy"].item() == 0.9 and row["released_best_test_accuracy"].item() == 0.936


@pytest.mark.parametrize("preset", config.PRESET_NAMES)
def test_sweeps_from_every_preset(preset: str) -> None:
    params = config.notebook_parameters("05_phase_diagrams", preset)
    sweeps = pe.sgd_sweeps(params)
    assert set(sweeps) == {*pe.SGD_FAMILIES, "extras"}
    assert set(sweeps["extras"].warmup_steps) <= set(params["warmup_steps"])  # plain SGD rows are the baseline
    assert sweeps["extras"].base == sweeps[params["extras_family"]].base
    assert {sw.experiment for sw in sweeps.values()} | {pe.adam_sweep(params).experiment, pe.trace_experiment(params)} \
        == {f"05_{preset}_{name}" for name in ("sgd_sp_mse", "sgd_sp_xent", "sgd_mup_mse", "sgd_mup_xent",
                                                "sgd_sp_xent_extras", "adam", "adam_probe")}


def _probe_model() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="fcn", width=8, depth=3), (5,), 3).double()
    inputs = torch.randn(6, 5, dtype=torch.float64)
    targets = torch.nn.functional.one_hot(torch.arange(6) % 3, 3).double()
    return model, inputs, targets


def test_adam_state_probe_against_the_optimizer_state() -> None:
    model, inputs, targets = _probe_model()
    loss_fn = get_loss("xent")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    probe = pe.AdamStateProbe(every=2)
    assert probe(0, model, loss_fn, inputs, targets, optimizer)["v_norm"] == 0.0  # no state before the first step
    for _ in range(2):
        optimizer.zero_grad()
        loss_fn(model(inputs), targets).backward()
        optimizer.step()
    assert probe(1, model, loss_fn, inputs, targets, optimizer) is None  # every 2 steps
    measured = probe(2, model, loss_fn, inputs, targets, optimizer)
    v = torch.cat([optimizer.state[p]["exp_avg_sq"].flatten() for p in model.parameters()])
    m = torch.cat([optimizer.state[p]["exp_avg"].flatten() for p in model.parameters()])
    assert measured["v_norm"] == pytest.approx(v.norm().item()) and measured["m_norm"] == pytest.approx(m.norm().item())
    assert measured["v_hat_norm"] == pytest.approx(v.norm().item() / (1 - 0.999**2))  # two updates made
    model.zero_grad()
    loss_fn(model(inputs), targets).backward()
    grad = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert measured["grad_sq_norm"] == pytest.approx((grad**2).norm().item())
    assert measured["readout_bias_grad_share"] == pytest.approx((model.readout.bias.grad.norm() / grad.norm()).item())


def test_adam_state_probe_sees_a_dead_layer() -> None:
    model, inputs, targets = _probe_model()
    with torch.no_grad():
        model.hidden[-1].bias.fill_(-1e3)  # every unit of the last hidden layer is negative: ReLU gives 0
        model.readout.bias[0] = 1.0  # predictions away from the (uniform) class frequencies: a gradient
    measured = pe.AdamStateProbe()(0, model, get_loss("xent"), inputs, targets, torch.optim.Adam(model.parameters()))
    assert measured["dead_units_last"] == 1.0
    assert 0.5 <= measured["dead_units"] < 1.0  # the first layer is alive: mean over the two layers
    # with the last hidden layer dead, the readout sees zeros: its bias carries the whole readout gradient
    assert measured["readout_bias_grad_share"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="every"):
        pe.AdamStateProbe(every=0)


def test_load_or_run_sweep_loads_a_finished_sweep_without_writing(tmp_path: Path) -> None:
    params = config.notebook_parameters("05_phase_diagrams", "smoke")
    sweep = pe.sgd_sweeps(params)["mup_mse"]
    sweep = type(sweep)(**{**sweep.__dict__, "warmup_steps": (1,), "extend": False,
                           "base": sweep.base.replace(steps=5, eval_every=5), "lambda0_batches": 1,
                           "eta_trgt": (1.0,)})
    first = pe.load_or_run_sweep(sweep, tmp_path, executor="sequential")
    record = tmp_path / sweep.experiment / "sweep.json"
    stamp = os.stat(record).st_mtime_ns
    again = pe.load_or_run_sweep(sweep, tmp_path, executor="sequential")
    assert os.stat(record).st_mtime_ns == stamp
    pd.testing.assert_frame_equal(first.table, again.table)
