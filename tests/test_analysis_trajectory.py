"""Catapult detector, early-regime classifier and collision kind (warmup_lib.analysis.trajectory).

Oracles: synthetic trajectories whose catapults / regimes are known by construction, the uv model
(exact sharpness; a catapult exactly when 2/lambda_0 < eta < 4/lambda_0), and real FCN runs through
warmup_lib.runs.train with the sharpness tracker, trained below and past 2/lambda_0.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from warmup_lib import solvable
from warmup_lib.analysis import trajectory as dynamics
from warmup_lib.config import DataConfig, ModelConfig, RunConfig
from warmup_lib.runs.measure import measure_lambda0
from warmup_lib.runs.train import run


def decaying_loss(steps: int = 60, rate: float = 0.03) -> np.ndarray:
    return np.exp(-rate * np.arange(steps))


def every(values: np.ndarray, k: int) -> np.ndarray:
    """Keep every k-th value, NaN elsewhere (a sharpness measured every k steps)."""
    kept = np.full_like(values, np.nan)
    kept[::k] = values[::k]
    return kept


# ------------------------------------------------------------------------------------- catapults

def test_a_smooth_run_has_no_catapult() -> None:
    loss = decaying_loss()
    assert dynamics.detect_catapults(loss, np.full(60, 5.0)) == []


def test_a_spike_with_a_sharpness_drop_is_one_catapult_with_known_numbers() -> None:
    loss = decaying_loss()
    loss[20:25] = loss[19] * np.array([2.0, 6.0, 9.0, 4.0, 1.6])  # back below 1.5 x min at step 25
    sharpness = np.where(np.arange(60) < 23, 10.0, 3.0)
    catapults = dynamics.detect_catapults(loss, every(sharpness, 2), rise=1.5, drop=0.2, window=4)
    assert catapults == [dynamics.Catapult(start=20, peak=22, end=25, loss_ratio=pytest.approx(9.0),
                                           sharpness_before=10.0, sharpness_after=3.0)]
    assert catapults[0].sharpness_ratio == pytest.approx(0.3)


def test_the_drop_may_come_within_the_window_after_the_loss_is_back() -> None:
    loss = decaying_loss()
    loss[30:33] = loss[29] * 5.0
    sharpness = np.where(np.arange(60) < 38, 8.0, 4.0)  # drops 5 steps after the excursion ends (33)
    assert dynamics.detect_catapults(loss, sharpness, window=4) == []
    assert [c.peak for c in dynamics.detect_catapults(loss, sharpness, window=5)] == [30]


def test_a_spike_without_a_sharpness_drop_is_not_a_catapult() -> None:
    loss = decaying_loss()
    loss[20:23] = loss[19] * 4.0
    assert dynamics.detect_catapults(loss, np.full(60, 10.0)) == []
    assert dynamics.detect_catapults(loss, np.full(60, 8.5), drop=0.2) == []  # 15 % is less than 20 %


def test_small_spikes_are_below_the_rise_threshold() -> None:
    loss = decaying_loss()
    loss[20] = loss[19] * 1.3
    sharpness = np.where(np.arange(60) < 21, 10.0, 2.0)
    assert dynamics.detect_catapults(loss, sharpness, rise=1.5) == []
    assert len(dynamics.detect_catapults(loss, sharpness, rise=1.2)) == 1


def test_divergence_is_not_a_catapult() -> None:
    loss = np.array([1.0, 0.8, 5.0, 50.0, 1e6, math.inf])
    sharpness = np.array([10.0, 10.0, 2.0, 1.0, 1.0, math.nan])
    assert dynamics.detect_catapults(loss, sharpness) == []


def test_later_catapults_are_measured_against_the_loss_before_them() -> None:
    loss = decaying_loss(100)
    loss[20:23] = loss[19] * 10.0
    loss[60:62] = loss[59] * 3.0
    sharpness = np.where(np.arange(100) < 22, 10.0, np.where(np.arange(100) < 61, 6.0, 4.0))
    catapults = dynamics.detect_catapults(loss, sharpness)
    assert [c.peak for c in catapults] == [20, 60]
    assert [round(c.loss_ratio, 6) for c in catapults] == [10.0, 3.0]
    assert [c.sharpness_after for c in catapults] == [6.0, 4.0]


def test_excursions_by_hand_with_the_round_off_floor_and_the_open_end() -> None:
    loss = [1.0, 0.5, 0.4, 3.0, 9.0, 2.0, 0.3, 0.2, 0.25, 0.1, 1e-12, 1e-11, 5.0, math.inf]
    # rise 2 x the lowest loss so far: steps 3-5 above 0.8 (peak 9 at step 4, back at step 6 with 0.3)
    first = dynamics.Excursion(start=3, peak=4, end=6, loss_ratio=9.0 / 0.4)
    # 1e-11 > 2 x 1e-12 is round-off: with floor 1e-8 the level is 2 x 1e-8 until step 12 (5.0) starts an
    # excursion that is still open when the loss turns infinite at step 13
    assert dynamics.loss_excursions(loss, rise=2.0, floor=1e-8) == [first]
    assert dynamics.loss_excursions(loss, rise=2.0, floor=1e-8, include_open=True) == [
        first, dynamics.Excursion(12, 12, 13, 5.0 / 1e-12)]
    # without the floor, 1e-11 starts an excursion that lasts to the divergence
    assert dynamics.loss_excursions(loss, rise=2.0, include_open=True)[1:] == [dynamics.Excursion(11, 12, 13, 5e12)]
    with pytest.raises(ValueError, match="floor"):
        dynamics.loss_excursions(loss, floor=-1.0)


def test_catapult_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="sharpness: got 3 values"):
        dynamics.detect_catapults([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="drop"):
        dynamics.detect_catapults([1.0], [1.0], drop=1.5)
    with pytest.raises(ValueError, match="rise"):
        dynamics.detect_catapults([1.0], [1.0], rise=0.0)
    with pytest.raises(ValueError, match="window"):
        dynamics.detect_catapults([1.0], [1.0], window=-1)


# ---------------------------------------------------------------------------------- early regime

@pytest.mark.parametrize("end, label", [(2.0, "progressive sharpening"), (0.5, "sharpness reduction"),
                                        (1.1, "constant"), (0.9, "constant")])
def test_early_regime_from_the_relative_change(end: float, label: str) -> None:
    sharpness = every(np.linspace(1.0, end, 101), 4)
    regime = dynamics.early_regime(sharpness, np.full(101, 0.01), window=100, tol=0.2, tail=1)
    assert regime.label == label
    assert regime.ratio == pytest.approx(end)
    assert regime.stable_until == 100


def test_early_regime_stops_reading_where_the_run_meets_its_threshold() -> None:
    # The sharpness doubles until step 40, where eta lambda reaches 2; the catapult that follows
    # (sharpness falling to 0.1) is not the natural evolution and must be ignored.
    sharpness = np.concatenate([np.linspace(1.0, 2.0, 41), np.full(60, 0.1)])
    regime = dynamics.early_regime(sharpness, np.full(101, 1.0), window=100, tail=1)
    assert regime.label == "progressive sharpening" and regime.stable_until == 39
    assert regime.ratio == pytest.approx(sharpness[39])


def test_early_regime_median_tail_ignores_one_noisy_measurement() -> None:
    sharpness = np.full(50, 1.0)
    sharpness[-1] = 3.0
    assert dynamics.early_regime(sharpness, np.full(50, 0.1), window=49, tail=3).label == "constant"


def test_a_run_unstable_from_its_first_step_is_undetermined() -> None:
    regime = dynamics.early_regime(np.full(10, 10.0), np.full(10, 1.0), window=9)
    assert regime.label == "undetermined" and math.isnan(regime.ratio) and regime.stable_until == -1


def test_early_regime_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="eta: got 2 values"):
        dynamics.early_regime([1.0, 1.0, 1.0], [0.1, 0.1], window=2)
    with pytest.raises(ValueError, match="window"):
        dynamics.early_regime([1.0], [0.1], window=0)
    with pytest.raises(ValueError, match="tol"):
        dynamics.early_regime([1.0], [0.1], window=1, tol=-1.0)


# ------------------------------------------------------------------------------------ collisions

def test_head_on_rear_end_at_start_and_none() -> None:
    steps = np.arange(100)
    falling_eta_inverse = 20.0 - 0.18 * steps  # 2/eta_t falls from 20 to 2
    eta = 2.0 / falling_eta_inverse
    head_on = dynamics.first_collision(1.0 + 0.05 * steps, eta)
    rear_end = dynamics.first_collision(10.0 - 0.05 * steps, eta)
    assert head_on.kind == "head-on" and rear_end.kind == "rear-end"
    # oracle: first t with 1 + 0.05 t >= 20 - 0.18 t, i.e. t >= 19 / 0.23
    assert head_on.step == math.ceil(19 / 0.23)
    assert rear_end.step == math.ceil(10 / 0.13)
    assert dynamics.first_collision(np.full(100, 30.0), eta) == dynamics.Collision(0, "at start")
    assert dynamics.first_collision(np.full(100, 0.5), eta) == dynamics.Collision(-1, "none")


# --------------------------------------------------------------------------------- real models

def test_uv_model_catapults_exactly_past_two_over_lambda0() -> None:
    data = solvable.UVData.single_example()
    u0, v0 = solvable.uv_init(512, seed=0)
    lambda_0 = solvable.uv_ntk_eigenvalue(u0, v0, data).item()
    etas = torch.tensor([1.5, 3.0], dtype=torch.float64)[:, None].expand(-1, 200) / lambda_0
    trajectory = solvable.uv_gd(u0, v0, data, etas)
    below = dynamics.detect_catapults(trajectory.loss[0].numpy(), trajectory.sharpness[0].numpy())
    past = dynamics.detect_catapults(trajectory.loss[1].numpy(), trajectory.sharpness[1].numpy())
    assert below == []
    assert len(past) == 1
    # The catapult leaves the sharpness below 2/eta (stable), from above 2/eta before it.
    eta = etas[1, 0].item()
    assert past[0].sharpness_before * eta > 2.0 > past[0].sharpness_after * eta
    assert past[0].loss_ratio > 10


TINY_FCN = RunConfig(data=DataConfig(name="mnist1d", n_train=128, n_test=64),
                     model=ModelConfig(arch="fcn", width=32, depth=3, param="sp"), loss="mse", batch_size=None,
                     steps=20, eval_every=0, sharpness_every=1)


@pytest.fixture(scope="module")
def tiny_lambda_0() -> float:
    return measure_lambda0(TINY_FCN)["lambda_0"]


def tiny_fcn_run(multiple: float, lambda_0: float, steps: int = 20):
    """A width-32 SP FCN on 128 MNIST-1D examples, full batch, sharpness every step, eta = multiple / lambda_0."""
    return run(TINY_FCN.replace(steps=steps, **{"schedule.eta_trgt": multiple / lambda_0}))


def test_a_real_fcn_catapults_past_two_over_lambda0_and_not_below(tiny_lambda_0: float) -> None:
    lambda_0 = tiny_lambda_0
    below = tiny_fcn_run(1.0, lambda_0)
    past = tiny_fcn_run(6.0, lambda_0)  # the one-step loss rise needs ~1.5 x 2/lambda_0 for MSE (DESIGN section 7)
    records_below, records_past = below.records, past.records
    assert records_below["sharpness"].iloc[0] == pytest.approx(lambda_0, rel=1e-3)
    assert dynamics.detect_catapults(records_below["loss"], records_below["sharpness"]) == []
    catapults = dynamics.detect_catapults(records_past["loss"], records_past["sharpness"])
    assert past.summary["outcome"] == "converged" and len(catapults) >= 1
    first = catapults[0]
    assert first.sharpness_before == pytest.approx(lambda_0, rel=1e-3)
    assert first.sharpness_after * 6.0 / lambda_0 < 2.0  # the catapult brought eta lambda below 2


def test_a_diverging_run_with_sharpness_tracking_is_an_outcome_not_a_crash(tiny_lambda_0: float) -> None:
    result = tiny_fcn_run(200.0, tiny_lambda_0, steps=30)  # the loss overflows at step 23
    assert result.summary["outcome"] == "diverged"
    assert dynamics.detect_catapults(result.records["loss"], result.records["sharpness"]) == []


# ------------------------------------------------------------------------------------ figures

def test_trajectory_panels_draw_every_threshold_and_the_detected_catapult() -> None:
    import matplotlib

    matplotlib.use("Agg")
    from warmup_lib import plots

    loss = decaying_loss()
    loss[20:23] = loss[19] * 5.0
    sharpness = every(np.where(np.arange(60) < 22, 10.0, 2.0), 2)
    peaks = [c.peak for c in dynamics.detect_catapults(loss, sharpness)]
    run = plots.Trajectory("run", np.arange(60), loss, sharpness, np.full(60, 0.1), catapults=peaks)
    fig, axes = plots.figure(ncols=2)
    plots.plot_trajectory_panels(axes[0], axes[1], [run], ((2.0, "2/eta"), (3.8, "3.8/eta")))
    threshold_levels = sorted({float(line.get_ydata()[0]) for line in axes[1].lines
                               if line.get_linestyle() in ("--", ":") and len(line.get_ydata())})
    assert threshold_levels == pytest.approx([20.0, 38.0])
    marker = [line for line in axes[0].lines if line.get_marker() == "v" and len(line.get_xdata())]
    assert [list(m.get_xdata()) for m in marker] == [[20]]
    assert axes[0].get_yscale() == "log" and axes[1].get_xscale() == "symlog"
    matplotlib.pyplot.close(fig)
